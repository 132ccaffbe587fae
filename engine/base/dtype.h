/* dtype.h — element types of safetensors files and their float32 views. */
#ifndef QT_DTYPE_H
#define QT_DTYPE_H
#include <stddef.h>
#include <stdint.h>

enum qt_dtype {
    QT_DT_BF16, QT_DT_F16, QT_DT_F32, QT_DT_F8_E4M3, QT_DT_F8_E5M2,
    QT_DT_I8, QT_DT_U8, QT_DT_I32, QT_DT_I64,
    QT_DT_COUNT,
    QT_DT_UNKNOWN = -1
};

/* "BF16" -> QT_DT_BF16; QT_DT_UNKNOWN for anything else. */
enum qt_dtype qt_dtype_parse(const char *s);
const char *qt_dtype_name(enum qt_dtype t);
size_t qt_dtype_size(enum qt_dtype t);

/* Converts n elements of type t at src into float32 at dst.  Integer types
 * convert by value. */
void qt_dtype_to_f32(enum qt_dtype t, const void *src, float *dst, size_t n);

float qt_bf16_to_f32(uint16_t h);
uint16_t qt_f32_to_bf16(float f);   /* round to nearest even, NaN kept */
float qt_f16_to_f32(uint16_t h);
uint16_t qt_f32_to_f16(float f);    /* round to nearest even */
float qt_fp8e4m3_to_f32(uint8_t b);
float qt_fp8e5m2_to_f32(uint8_t b);
/* float32 -> fp8 e4m3fn, round to nearest even, saturating to ±448 as
 * torch's .to(float8_e4m3fn) does after the clamp compressed-tensors applies. */
uint8_t qt_f32_to_fp8e4m3(float f);
#endif
