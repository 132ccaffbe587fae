/* pack.h — compressed-tensors `pack-quantized` bit packing (DESIGN §7), as
 * compressed_tensors 0.20 pack_to_int32 / unpack_from_int32 do it.
 *
 * Values q in [-2^(b-1), 2^(b-1)-1] are offset by 2^(b-1) (unsigned, b bits)
 * and laid out as one dense LSB-first bit stream per packed line: element j
 * occupies bits [j·b, j·b+b) of the line, word w = bits [32w, 32w+32), so a
 * line of E elements takes ceil(E·b/32) int32 words and, when 32 % b != 0,
 * an element may straddle two words (low bits in the first).  For b = 4,
 * element j sits in word j>>3 at shift 4·(j&7).  Unused high bits of the last
 * word are zero.
 *
 * weight_packed packs along the input dimension (each of the N rows is a
 * line): (N, K) -> (N, ceil(K·b/32)).  weight_zero_point packs along the
 * output dimension (packed_dim=0: each column of the (N, G) zero-point grid is
 * a line): (N, G) -> (ceil(N·b/32), G). */
#ifndef QT_PACK_H
#define QT_PACK_H
#include <stdint.h>

#include "base/qt.h"

/* Number of int32 words a line of n elements of b bits takes. */
static inline int64_t qt_pack_words(int64_t n, int bits) { return (n * bits + 31) / 32; }

/* Packs q (rows, cols) row by row: out (rows, qt_pack_words(cols, bits)).
 * Values outside [-2^(b-1), 2^(b-1)-1] are an error (nothing is clamped).
 * bits in 1..8. */
int qt_pack_rows(const int8_t *q, int64_t rows, int64_t cols, int bits, int32_t *out, qt_err *err);

/* Inverse of qt_pack_rows: packed (rows, qt_pack_words(cols, bits)) -> q
 * (rows, cols). */
void qt_unpack_rows(const int32_t *packed, int64_t rows, int64_t cols, int bits, int8_t *q);

/* Packs q (rows, cols) along dimension 0 (each column is a line):
 * out (qt_pack_words(rows, bits), cols).  As qt_pack_rows otherwise. */
int qt_pack_cols(const int8_t *q, int64_t rows, int64_t cols, int bits, int32_t *out, qt_err *err);

/* Inverse of qt_pack_cols: packed (qt_pack_words(rows, bits), cols) -> q
 * (rows, cols). */
void qt_unpack_cols(const int32_t *packed, int64_t rows, int64_t cols, int bits, int8_t *q);

#endif
