/* test_pack.c — known-answer tests of compressed-tensors pack-quantized bytes.
 *
 * Every expected word below is derived by hand from the DESIGN §7 rule: a
 * value q of b bits is stored as u = q + 2^(b-1), element j of a line occupies
 * bits [j·b, j·b+b) of a dense LSB-first stream of int32 words.  (They were
 * also cross-checked during development against compressed_tensors 0.20
 * pack_to_int32; no Python runs here.) */
#include <stdint.h>

#include "quant/pack.h"
#include "tu.h"

#define U32(x) ((int32_t)(uint32_t)(x))

/* 4 bit, one row of 16 values -8..7: u = 0..15, nibble j at shift 4·(j&7) of
 * word j>>3: word 0 = 0x76543210, word 1 = 0xFEDCBA98. */
TU_TEST(pack4_row) {
    int8_t q[16];
    for (int j = 0; j < 16; j++) q[j] = (int8_t)(j - 8);
    int32_t w[2];
    qt_err e;
    TU_CHECK(qt_pack_words(16, 4) == 2);
    TU_CHECK(qt_pack_rows(q, 1, 16, 4, w, &e) == QT_OK);
    TU_CHECK(w[0] == U32(0x76543210));
    TU_CHECK(w[1] == U32(0xFEDCBA98));
    int8_t back[16];
    qt_unpack_rows(w, 1, 16, 4, back);
    TU_CHECK(memcmp(back, q, 16) == 0);
}

/* 4 bit, 2 rows of 10 (partial last word, high bits zero):
 * row 0 = 0 x10 -> u = 8: word0 = 0x88888888, word1 = 0x00000088;
 * row 1 = 7,-8,0,... -> u = 15,0,8,8,8,8,8,8 | 8,8: 0x8888880F, 0x88. */
TU_TEST(pack4_rows_partial) {
    int8_t q[20] = {0};
    q[10] = 7; q[11] = -8;
    int32_t w[4];
    qt_err e;
    TU_CHECK(qt_pack_rows(q, 2, 10, 4, w, &e) == QT_OK);
    TU_CHECK(w[0] == U32(0x88888888) && w[1] == U32(0x00000088));
    TU_CHECK(w[2] == U32(0x8888880F) && w[3] == U32(0x00000088));
}

/* 8 bit: -128,-1,0,127,5 -> u = 0x00,0x7F,0x80,0xFF,0x85:
 * word 0 = 0xFF807F00, word 1 = 0x00000085. */
TU_TEST(pack8_row) {
    int8_t q[5] = {-128, -1, 0, 127, 5};
    int32_t w[2];
    qt_err e;
    TU_CHECK(qt_pack_words(5, 8) == 2);
    TU_CHECK(qt_pack_rows(q, 1, 5, 8, w, &e) == QT_OK);
    TU_CHECK(w[0] == U32(0xFF807F00));
    TU_CHECK(w[1] == U32(0x00000085));
    int8_t back[5];
    qt_unpack_rows(w, 1, 5, 8, back);
    TU_CHECK(memcmp(back, q, 5) == 0);
}

/* 3 bit, 11 values straddling: u = 0,1,2,3,4,5,6,7,0,1,5 (q = u - 4).
 * Elements 0..9 fill bits 0..29: octal 1076543210 = 0x08FAC688; element 10
 * (u = 5 = 0b101) puts its low two bits 01 at bits 30..31 (0x40000000) and
 * its high bit 1 in bit 0 of word 1.  33 bits -> 2 words. */
TU_TEST(pack3_straddle) {
    int u[11] = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 5};
    int8_t q[11];
    for (int j = 0; j < 11; j++) q[j] = (int8_t)(u[j] - 4);
    int32_t w[2];
    qt_err e;
    TU_CHECK(qt_pack_words(11, 3) == 2);
    TU_CHECK(qt_pack_rows(q, 1, 11, 3, w, &e) == QT_OK);
    TU_CHECK(w[0] == U32(0x48FAC688));
    TU_CHECK(w[1] == U32(0x00000001));
    int8_t back[11];
    qt_unpack_rows(w, 1, 11, 3, back);
    TU_CHECK(memcmp(back, q, 11) == 0);
}

/* 3 bit, 32 values = exactly 3 words; u_j = 7 for all: every bit set. */
TU_TEST(pack3_full) {
    int8_t q[32];
    for (int j = 0; j < 32; j++) q[j] = 3;
    int32_t w[3];
    qt_err e;
    TU_CHECK(qt_pack_words(32, 3) == 3);
    TU_CHECK(qt_pack_rows(q, 1, 32, 3, w, &e) == QT_OK);
    TU_CHECK(w[0] == -1 && w[1] == -1 && w[2] == -1);
}

/* Zero points, 4 bit, packed along the output dimension: z (N=3, G=2)
 * = [[-8, 1], [7, -1], [0, 2]].  Column 0 u = 0,15,8 -> 0x8F0; column 1
 * u = 9,7,10 -> 0xA79; shape (ceil(3·4/32), 2) = (1, 2). */
TU_TEST(pack4_zero_point_cols) {
    int8_t z[6] = {-8, 1, 7, -1, 0, 2};
    int32_t w[2];
    qt_err e;
    TU_CHECK(qt_pack_cols(z, 3, 2, 4, w, &e) == QT_OK);
    TU_CHECK(w[0] == 0x8F0);
    TU_CHECK(w[1] == 0xA79);
    int8_t back[6];
    qt_unpack_cols(w, 3, 2, 4, back);
    TU_CHECK(memcmp(back, z, 6) == 0);
}

/* Zero points, 8 bit, N=5, G=2 -> (2, 2): column 0 u = 0,255,128,129,127,
 * column 1 u = 131,125,128,130,126.  Row-major words:
 * (0,0) 0x8180FF00, (0,1) 0x82807D83, (1,0) 0x7F, (1,1) 0x7E. */
TU_TEST(pack8_zero_point_cols) {
    int8_t z[10] = {-128, 3, 127, -3, 0, 0, 1, 2, -1, -2};
    int32_t w[4];
    qt_err e;
    TU_CHECK(qt_pack_cols(z, 5, 2, 8, w, &e) == QT_OK);
    TU_CHECK(w[0] == U32(0x8180FF00));
    TU_CHECK(w[1] == U32(0x82807D83));
    TU_CHECK(w[2] == 0x7F);
    TU_CHECK(w[3] == 0x7E);
    int8_t back[10];
    qt_unpack_cols(w, 5, 2, 8, back);
    TU_CHECK(memcmp(back, z, 10) == 0);
}

/* 3-bit zero points straddle along the output dimension too: N = 11 rows of
 * one group, same values as pack3_straddle -> words (2, 1) as there. */
TU_TEST(pack3_zero_point_cols) {
    int u[11] = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 5};
    int8_t z[11];
    for (int j = 0; j < 11; j++) z[j] = (int8_t)(u[j] - 4);
    int32_t w[2];
    qt_err e;
    TU_CHECK(qt_pack_cols(z, 11, 1, 3, w, &e) == QT_OK);
    TU_CHECK(w[0] == U32(0x48FAC688) && w[1] == 1);
}

TU_TEST(pack_rejects_out_of_range) {
    int8_t q[2] = {0, 8};
    int32_t w[1];
    qt_err e;
    TU_CHECK(qt_pack_rows(q, 1, 2, 4, w, &e) == QT_ERR);
    TU_CHECK(strstr(e.msg, "outside 4-bit") != NULL);
    TU_CHECK(qt_pack_rows(q, 1, 2, 9, w, &e) == QT_ERR);
}

/* Every width 1..8 round-trips a pseudo-random matrix, rows and columns. */
TU_TEST(pack_roundtrip_all_widths) {
    enum { R = 13, C = 37 };
    int8_t q[R * C], back[R * C];
    int32_t w[R * C];
    uint32_t s = 12345;
    qt_err e;
    for (int b = 1; b <= 8; b++) {
        for (int i = 0; i < R * C; i++) {
            s = s * 1103515245u + 12345u;
            q[i] = (int8_t)((int)((s >> 16) % (1u << b)) - (1 << (b - 1)));
        }
        TU_CHECK(qt_pack_rows(q, R, C, b, w, &e) == QT_OK);
        qt_unpack_rows(w, R, C, b, back);
        TU_CHECKF(memcmp(back, q, sizeof q) == 0, "rows, %d bits", b);
        TU_CHECK(qt_pack_cols(q, R, C, b, w, &e) == QT_OK);
        qt_unpack_cols(w, R, C, b, back);
        TU_CHECKF(memcmp(back, q, sizeof q) == 0, "cols, %d bits", b);
    }
}

int main(void) {
    TU_RUN(pack4_row);
    TU_RUN(pack4_rows_partial);
    TU_RUN(pack8_row);
    TU_RUN(pack3_straddle);
    TU_RUN(pack3_full);
    TU_RUN(pack4_zero_point_cols);
    TU_RUN(pack8_zero_point_cols);
    TU_RUN(pack3_zero_point_cols);
    TU_RUN(pack_rejects_out_of_range);
    TU_RUN(pack_roundtrip_all_widths);
    return TU_END();
}
