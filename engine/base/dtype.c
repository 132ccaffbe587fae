/* dtype.c — element type names, sizes and conversions to float32. */
#include "base/dtype.h"

#include <math.h>
#include <string.h>

static const struct { const char *name; size_t size; } dt_info[QT_DT_COUNT] = {
    [QT_DT_BF16] = {"BF16", 2},    [QT_DT_F16] = {"F16", 2},
    [QT_DT_F32] = {"F32", 4},      [QT_DT_F8_E4M3] = {"F8_E4M3", 1},
    [QT_DT_F8_E5M2] = {"F8_E5M2", 1}, [QT_DT_I8] = {"I8", 1},
    [QT_DT_U8] = {"U8", 1},        [QT_DT_I32] = {"I32", 4},
    [QT_DT_I64] = {"I64", 8},
};

enum qt_dtype qt_dtype_parse(const char *s) {
    if (!s) return QT_DT_UNKNOWN;
    for (int i = 0; i < QT_DT_COUNT; i++)
        if (strcmp(s, dt_info[i].name) == 0) return (enum qt_dtype)i;
    return QT_DT_UNKNOWN;
}

const char *qt_dtype_name(enum qt_dtype t) {
    return (t >= 0 && t < QT_DT_COUNT) ? dt_info[t].name : "?";
}

size_t qt_dtype_size(enum qt_dtype t) {
    return (t >= 0 && t < QT_DT_COUNT) ? dt_info[t].size : 0;
}

float qt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t qt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float qt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: value = man * 2^-24 */
            float f = (float)man * 5.9604644775390625e-08f;
            memcpy(&u, &f, 4);
            u |= sign;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t qt_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    float a = fabsf(f);
    if (isnan(f)) return sign | 0x7e00;
    if (a >= 65520.0f) return sign | 0x7c00;
    if (a < 6.103515625e-05f) { /* subnormal range: quantum 2^-24 */
        float q = nearbyintf(a * 16777216.0f);
        return sign | (uint16_t)q;
    }
    uint32_t au;
    memcpy(&au, &a, 4);
    uint32_t exp = (au >> 23) - 112, man = au & 0x7fffff;
    uint32_t r = (exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return sign | (uint16_t)r;
}

/* e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN, max 448. */
float qt_fp8e4m3_to_f32(uint8_t b) {
    int s = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
    float v;
    if (e == 0xf && m == 7) return NAN;
    if (e == 0) v = ldexpf((float)m, -9);               /* m/8 * 2^-6 */
    else v = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

/* e5m2: bias 15, IEEE-like with infinities. */
float qt_fp8e5m2_to_f32(uint8_t b) {
    return qt_f16_to_f32((uint16_t)b << 8);
}

uint8_t qt_f32_to_fp8e4m3(float f) {
    if (isnan(f)) return 0x7f;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a >= 448.0f) return sign | 0x7e;
    if (a < ldexpf(1.0f, -6)) {                         /* subnormal, quantum 2^-9 */
        float q = nearbyintf(a * 512.0f);               /* 0..8 (8 = min normal) */
        return sign | (uint8_t)q;
    }
    int e;
    float fr = frexpf(a, &e);                           /* a = fr*2^e, fr in [0.5,1) */
    int ex = e - 1;                                     /* a = (2fr) * 2^ex */
    float mant = (2.0f * fr - 1.0f) * 8.0f;             /* 0..8 */
    float mq = nearbyintf(mant);
    if (mq >= 8.0f) { mq = 0; ex++; }
    int be = ex + 7;
    if (be > 15 || (be == 15 && mq > 6)) return sign | 0x7e;
    return sign | (uint8_t)(be << 3) | (uint8_t)mq;
}

void qt_dtype_to_f32(enum qt_dtype t, const void *src, float *dst, size_t n) {
    const uint8_t *p = src;
    switch (t) {
    case QT_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h; memcpy(&h, p + 2 * i, 2);
            dst[i] = qt_bf16_to_f32(h);
        }
        break;
    case QT_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h; memcpy(&h, p + 2 * i, 2);
            dst[i] = qt_f16_to_f32(h);
        }
        break;
    case QT_DT_F32: memcpy(dst, src, n * 4); break;
    case QT_DT_F8_E4M3: for (size_t i = 0; i < n; i++) dst[i] = qt_fp8e4m3_to_f32(p[i]); break;
    case QT_DT_F8_E5M2: for (size_t i = 0; i < n; i++) dst[i] = qt_fp8e5m2_to_f32(p[i]); break;
    case QT_DT_I8: for (size_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i]; break;
    case QT_DT_U8: for (size_t i = 0; i < n; i++) dst[i] = (float)p[i]; break;
    case QT_DT_I32:
        for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; }
        break;
    case QT_DT_I64:
        for (size_t i = 0; i < n; i++) { int64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; }
        break;
    default:
        memset(dst, 0, n * sizeof *dst);
    }
}
