/* ggml_quants.h — ggml's tensor element types (the GGUF on-disk formats):
 * one table row per type (name, block size, bytes per block), and for the
 * types qtune writes a quantizer and a dequantizer that produce the same
 * bytes as ggml's reference quantizer for the same input and importance
 * weights (known-answer tests in tests/unit/test_ggml_quants.c).
 *
 * Rows are quantized independently: a row of ncols values is ncols/block
 * blocks of `bytes` bytes each, written back to back.  With an importance
 * vector (llama.cpp's imatrix: per input column, the mean of x² over the
 * calibration tokens) the K, legacy and IQ4 types take the weighted search
 * llama-quantize runs with --imatrix; Q8_0, F16, BF16 and F32 ignore it. */
#ifndef QT_GGML_QUANTS_H
#define QT_GGML_QUANTS_H
#include <stddef.h>
#include <stdint.h>

/* X-macro: ggml type id, name, block size, bytes per block, qtune writes it.
 * Ids and sizes are ggml's (ggml.h, ggml-common.h); rows with write = 0 are
 * known so that other people's GGUF files can be listed and sized. */
#define QT_GGML_TYPES(X)                                    \
    X(F32, 0, "F32", 1, 4, 1)       X(F16, 1, "F16", 1, 2, 1)        \
    X(Q4_0, 2, "Q4_0", 32, 18, 1)   X(Q4_1, 3, "Q4_1", 32, 20, 1)    \
    X(Q5_0, 6, "Q5_0", 32, 22, 1)   X(Q5_1, 7, "Q5_1", 32, 24, 1)    \
    X(Q8_0, 8, "Q8_0", 32, 34, 1)   X(Q8_1, 9, "Q8_1", 32, 36, 0)    \
    X(Q2_K, 10, "Q2_K", 256, 84, 1) X(Q3_K, 11, "Q3_K", 256, 110, 1) \
    X(Q4_K, 12, "Q4_K", 256, 144, 1) X(Q5_K, 13, "Q5_K", 256, 176, 1) \
    X(Q6_K, 14, "Q6_K", 256, 210, 1) X(Q8_K, 15, "Q8_K", 256, 292, 0) \
    X(IQ2_XXS, 16, "IQ2_XXS", 256, 66, 0) X(IQ2_XS, 17, "IQ2_XS", 256, 74, 0) \
    X(IQ3_XXS, 18, "IQ3_XXS", 256, 98, 0) X(IQ1_S, 19, "IQ1_S", 256, 50, 0) \
    X(IQ4_NL, 20, "IQ4_NL", 32, 18, 1) X(IQ3_S, 21, "IQ3_S", 256, 110, 0) \
    X(IQ2_S, 22, "IQ2_S", 256, 82, 0) X(IQ4_XS, 23, "IQ4_XS", 256, 136, 1) \
    X(I8, 24, "I8", 1, 1, 0)        X(I16, 25, "I16", 1, 2, 0)       \
    X(I32, 26, "I32", 1, 4, 0)      X(I64, 27, "I64", 1, 8, 0)       \
    X(F64, 28, "F64", 1, 8, 0)      X(IQ1_M, 29, "IQ1_M", 256, 56, 0) \
    X(BF16, 30, "BF16", 1, 2, 1)    X(TQ1_0, 34, "TQ1_0", 256, 54, 0) \
    X(TQ2_0, 35, "TQ2_0", 256, 66, 0) X(MXFP4, 39, "MXFP4", 32, 17, 0) \
    X(NVFP4, 40, "NVFP4", 64, 36, 0) X(Q1_0, 41, "Q1_0", 128, 18, 0) \
    X(Q2_0, 42, "Q2_0", 64, 18, 0)

enum qt_ggml_type {
#define QT_GGML_ENUM(id, num, name, blk, bytes, w) QT_GGML_##id = num,
    QT_GGML_TYPES(QT_GGML_ENUM)
#undef QT_GGML_ENUM
    QT_GGML_TYPE_COUNT = 43,
    QT_GGML_NONE = -1
};

struct qt_ggml_type_info {
    int id;                 /* ggml type id as stored in GGUF */
    const char *name;       /* "Q4_K" (ggml_type_name, upper case) */
    int block;              /* elements per block */
    int bytes;              /* bytes per block */
    int write;              /* 1: qtune quantizes and dequantizes it */
};

/* The row for a ggml type id, NULL for ids ggml does not define. */
const struct qt_ggml_type_info *qt_ggml_type_info(int id);
/* "q4_k", "Q4_K", "bf16" -> id; QT_GGML_NONE for anything else. */
int qt_ggml_type_parse(const char *name);
/* Name of a type id ("?" when unknown). */
const char *qt_ggml_type_name(int id);
/* Bytes of one row of ncols elements (ncols a multiple of the block);
 * 0 for unknown types or a ncols that is not a multiple. */
size_t qt_ggml_row_size(int id, int64_t ncols);
/* Bits per weight of a type (bytes·8/block). */
double qt_ggml_bpw(int id);

/* Quantizes nrows rows of ncols float32 values (x: nrows x ncols) into dst
 * (nrows x row_size bytes).  imatrix: NULL or ncols importance weights
 * (one per input column, shared by all rows).  Returns the bytes written,
 * 0 when the type is not writable or ncols is not a multiple of its block
 * (the caller checks shapes first: qt_gguf lint says which). */
size_t qt_ggml_quantize(int id, const float *x, void *dst, int64_t nrows, int64_t ncols, const float *imatrix);

/* 1 when qtune dequantizes type id: the types it writes, and Q1_0, Q2_0,
 * TQ1_0, TQ2_0, MXFP4 and NVFP4, which it only reads (llama-quantize's
 * Q1_0, Q2_0, TQ1_0, TQ2_0 and MXFP4_MOE files).  The grid types (IQ1_*,
 * IQ2_*, IQ3_*) are listed and sized but not dequantized. */
int qt_ggml_can_dequantize(int id);

/* Converts n elements (a multiple of the block) of type id at src into
 * float32 at y.  Returns 0, or -1 when the type has no dequantizer here. */
int qt_ggml_dequantize(int id, const void *src, float *y, int64_t n);

#endif
