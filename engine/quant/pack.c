/* pack.c — dense LSB-first int32 bit packing of compressed-tensors. */
#include "quant/pack.h"

#include <string.h>

/* Packs n values read with stride `stride` from q into words (nw of them,
 * written with stride wstride).  Returns the index of the first value out of
 * range, or -1. */
static int64_t pack_line(const int8_t *q, int64_t n, int64_t stride, int bits, int32_t *out,
                         int64_t wstride) {
    int64_t nw = qt_pack_words(n, bits);
    int off = 1 << (bits - 1);
    uint32_t mask = (1u << bits) - 1;
    for (int64_t w = 0; w < nw; w++) out[w * wstride] = 0;
    if (bits == 4 || bits == 8 || bits == 2 || bits == 1) {
        int per = 32 / bits;
        for (int64_t w = 0; w < nw; w++) {
            uint32_t acc = 0;
            int64_t j0 = w * per;
            int64_t j1 = j0 + per < n ? j0 + per : n;
            for (int64_t j = j0; j < j1; j++) {
                int v = q[j * stride] + off;
                if ((unsigned)v > mask) return j;
                acc |= (uint32_t)v << ((j - j0) * bits);
            }
            out[w * wstride] = (int32_t)acc;
        }
        return -1;
    }
    uint64_t acc = 0;   /* bit buffer, LSB first */
    int have = 0;       /* bits in acc */
    int64_t w = 0;
    for (int64_t j = 0; j < n; j++) {
        int v = q[j * stride] + off;
        if ((unsigned)v > mask) return j;
        acc |= (uint64_t)v << have;
        have += bits;
        if (have >= 32) {
            out[w++ * wstride] = (int32_t)(uint32_t)acc;
            acc >>= 32;
            have -= 32;
        }
    }
    if (have > 0) out[w * wstride] = (int32_t)(uint32_t)acc;
    return -1;
}

static void unpack_line(const int32_t *in, int64_t wstride, int64_t n, int bits, int8_t *q,
                        int64_t stride) {
    int off = 1 << (bits - 1);
    uint32_t mask = (1u << bits) - 1;
    uint64_t acc = 0;
    int have = 0;
    int64_t w = 0;
    for (int64_t j = 0; j < n; j++) {
        if (have < bits) {
            acc |= (uint64_t)(uint32_t)in[w++ * wstride] << have;
            have += 32;
        }
        q[j * stride] = (int8_t)((int)(acc & mask) - off);
        acc >>= bits;
        have -= bits;
    }
}

/* The common widths on a contiguous row, a word at a time: 4 bits is
 * (q & 15) ^ 8 per nibble (q + 8 mod 16), gathered from 8 bytes by shifts;
 * 8 bits is q ^ 0x80 per byte (every int8 is in range).  Returns 0 when a
 * value is out of range
 * (pack_line then names it). */
static int pack_line_fast(const int8_t *q, int64_t n, int bits, int32_t *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    int off = 1 << (bits - 1);
    int64_t w = 0, j = 0;
    if (bits == 4) {
        for (; j + 8 <= n; j += 8, w++) {
            uint64_t x, lo;
            memcpy(&x, q + j, 8);
            /* in range: every byte is its low nibble sign-extended */
            lo = x & 0x0f0f0f0f0f0f0f0full;
            if (x != (lo | (((lo & 0x0808080808080808ull) >> 3) * 0xf0))) return 0;
            x = lo ^ 0x0808080808080808ull;
            x = (x | (x >> 4)) & 0x00ff00ff00ff00ffull;
            x = (x | (x >> 8)) & 0x0000ffff0000ffffull;
            out[w] = (int32_t)(uint32_t)(x | (x >> 16));
        }
    } else if (bits == 8) {
        for (; j + 4 <= n; j += 4, w++) {
            uint32_t x;
            memcpy(&x, q + j, 4);
            x ^= 0x80808080u;
            memcpy(&out[w], &x, 4);
        }
    } else {
        return 0;
    }
    if (j < n) {                    /* the partial last word */
        uint32_t acc = 0;
        for (int64_t k = j; k < n; k++) {
            if ((unsigned)(q[k] + off) > (1u << bits) - 1) return 0;
            acc |= (uint32_t)(q[k] + off) << ((k - j) * bits);
        }
        out[w] = (int32_t)acc;
    }
    return 1;
#else
    (void)q; (void)n; (void)bits; (void)out;
    return 0;
#endif
}

int qt_pack_rows(const int8_t *q, int64_t rows, int64_t cols, int bits, int32_t *out, qt_err *err) {
    if (bits < 1 || bits > 8) return qt_err_set(err, "pack: %d bits (1..8 are packable)", bits);
    int64_t nw = qt_pack_words(cols, bits);
    for (int64_t r = 0; r < rows; r++) {
        if ((bits == 4 || bits == 8) && pack_line_fast(q + r * cols, cols, bits, out + r * nw)) continue;
        int64_t bad = pack_line(q + r * cols, cols, 1, bits, out + r * nw, 1);
        if (bad >= 0)
            return qt_err_set(err, "pack: value %d at (%lld, %lld) is outside %d-bit range",
                              q[r * cols + bad], (long long)r, (long long)bad, bits);
    }
    return QT_OK;
}

void qt_unpack_rows(const int32_t *packed, int64_t rows, int64_t cols, int bits, int8_t *q) {
    int64_t nw = qt_pack_words(cols, bits);
    for (int64_t r = 0; r < rows; r++) unpack_line(packed + r * nw, 1, cols, bits, q + r * cols, 1);
}

int qt_pack_cols(const int8_t *q, int64_t rows, int64_t cols, int bits, int32_t *out, qt_err *err) {
    if (bits < 1 || bits > 8) return qt_err_set(err, "pack: %d bits (1..8 are packable)", bits);
    for (int64_t c = 0; c < cols; c++) {
        int64_t bad = pack_line(q + c, rows, cols, bits, out + c, cols);
        if (bad >= 0)
            return qt_err_set(err, "pack: value %d at (%lld, %lld) is outside %d-bit range",
                              q[bad * cols + c], (long long)bad, (long long)c, bits);
    }
    return QT_OK;
}

void qt_unpack_cols(const int32_t *packed, int64_t rows, int64_t cols, int bits, int8_t *q) {
    for (int64_t c = 0; c < cols; c++) unpack_line(packed + c, cols, rows, bits, q + c, cols);
}
