/* test_quant.c — round-to-nearest quantization: known answers per family
 * (ties, all-zero groups), error bounds per scheme in the style of ggml's
 * test-quantize-fns, monotonicity in bits and group size, AVX2 against
 * portable C, sizes, histograms, and the preview of the fixture checked
 * tensor by tensor against a straightforward implementation written here. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "model/model.h"
#include "eval/preview.h"
#include "quant/quant.h"
#include "quant/scheme.h"
#include "tu.h"

static struct qt_scheme sch(const char *s) {
    struct qt_scheme x;
    qt_err err = {{0}};
    if (qt_scheme_parse(s, &x, &err) != QT_OK) printf("  %s\n", err.msg);
    return x;
}

static float bf(float x) { return qt_bf16_to_f32(qt_f32_to_bf16(x)); }

/* Deterministic gaussian-ish bf16 matrix (xorshift + Box-Muller). */
static uint64_t rng_state;
static double urand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static float *gauss(int64_t n, double sigma, uint64_t seed) {
    float *w = malloc((size_t)n * sizeof *w);
    rng_state = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        double g = sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand());
        w[i] = bf((float)(g * sigma));
    }
    return w;
}

static int deq_equals(const char *scheme, const float *w, int64_t rows, int64_t cols, const float *want) {
    struct qt_scheme s = sch(scheme);
    float *out = malloc((size_t)(rows * cols) * sizeof *out);
    qt_err err = {{0}};
    int ok = qt_quant_dequant(w, rows, cols, &s, QT_DT_BF16, out, &err) == QT_OK;
    if (!ok) printf("  %s: %s\n", scheme, err.msg);
    for (int64_t i = 0; ok && i < rows * cols; i++)
        if (out[i] != want[i]) {
            printf("  %s: element %lld: w %.9g -> %.9g, want %.9g\n", scheme, (long long)i, w[i], out[i], want[i]);
            ok = 0;
        }
    free(out);
    return ok;
}

/* ---- known answers ----------------------------------------------------- */

/* amax 0.9375 = 7.5/8: scale exactly 0.125; w/s hits ties at .5. */
TU_TEST(int4_sym_group_ties) {
    float w[8] = {0.0625f, 0.1875f, -0.3125f, 0.9375f, -0.9375f, 0.5f, 0.0f, -0.125f};
    int8_t wantq[8] = {0, 2, -2, 7, -8, 4, 0, -1};   /* 0.5->0, 1.5->2, -2.5->-2, 7.5 clamps to 7, -7.5->-8 */
    float want[8];
    for (int i = 0; i < 8; i++) want[i] = wantq[i] * 0.125f;
    TU_CHECK(deq_equals("int4-g8-sym", w, 1, 8, want));
    TU_CHECK(deq_equals("int4-ch-sym", w, 1, 8, want));
    struct qt_scheme s = sch("int4-g8-sym");
    struct qt_qtensor q;
    TU_CHECK(qt_quant_tensor(w, 1, 8, &s, QT_DT_BF16, 0, &q, NULL, NULL) == QT_OK);
    TU_CHECK(q.srows == 1 && q.scols == 1 && q.scale[0] == 0.125f && q.zero == NULL);
    for (int i = 0; i < 8; i++) TU_CHECKF(q.q[i] == wantq[i], "q[%d] = %d", i, q.q[i]);
    qt_qtensor_free(&q);
}

/* The scale is rounded to bf16: amax 1.5 gives 1.5/7.5 = 0.2 -> 0.2001953125,
 * and w/s is rounded to bf16 before round-half-even. */
TU_TEST(int4_sym_scale_rounded) {
    float w[4] = {1.5f, 0.75f, -0.1f, 0.3f};
    for (int i = 0; i < 4; i++) w[i] = bf(w[i]);
    struct qt_scheme s = sch("int4-g4-sym");
    struct qt_qtensor q;
    float d[4];
    TU_CHECK(qt_quant_tensor(w, 1, 4, &s, QT_DT_BF16, 0, &q, d, NULL) == QT_OK);
    TU_CHECK(q.scale[0] == 0.2001953125f);
    /* 0.75/0.2001953125 = 3.746 -> bf16 3.75 -> 4 (without the bf16 step it would be 4 too);
     * 1.5/s = 7.4927 -> bf16 7.5 -> 8 -> clamped 7 */
    TU_CHECK(q.q[0] == 7 && q.q[1] == 4);
    TU_CHECK(d[0] == bf(7 * 0.2001953125f) && d[1] == bf(4 * 0.2001953125f));
    qt_qtensor_free(&q);
}

/* mn -0.5, mx 1.375: scale 1.875/15 = 0.125, zp = -8 - (-4) = -4. */
TU_TEST(int4_asym_group) {
    float w[8] = {0.0f, 1.375f, -0.5f, 0.0625f, 0.1875f, 0.3125f, -0.4375f, 1.0f};
    int8_t wantq[8] = {-4, 7, -8, -4, -2, -2, -8, 4};   /* t + zp: -3.5 -> -4, -2.5 -> -2, -1.5 -> -2, -7.5 -> -8 */
    float want[8];
    for (int i = 0; i < 8; i++) want[i] = (wantq[i] + 4) * 0.125f;
    TU_CHECK(deq_equals("int4-g8-asym", w, 1, 8, want));
    struct qt_scheme s = sch("int4-g8-asym");
    struct qt_qtensor q;
    TU_CHECK(qt_quant_tensor(w, 1, 8, &s, QT_DT_BF16, 0, &q, NULL, NULL) == QT_OK);
    TU_CHECK(q.scale[0] == 0.125f && q.zero && q.zero[0] == -4);
    for (int i = 0; i < 8; i++) TU_CHECKF(q.q[i] == wantq[i], "q[%d] = %d", i, q.q[i]);
    qt_qtensor_free(&q);
}

/* Per-tensor int8: amax 127.5/128 over both rows, scale 2^-7. */
TU_TEST(int8_tensor) {
    const float u = 0.0078125f;
    float w[8] = {0.5f * u, 1.5f * u, -2.5f * u, 127.5f * u, 3 * u, -127 * u, 0, 64.5f * u};
    float want[8] = {0, 2 * u, -2 * u, 127 * u, 3 * u, -127 * u, 0, 64 * u};
    TU_CHECK(deq_equals("int8-t-sym", w, 2, 4, want));
    /* per channel the second row has its own scale: amax 127*u -> s = 127u/127.5 */
    float s2 = bf(127 * u / 127.5f);
    float want2[4];
    for (int i = 0; i < 4; i++) want2[i] = bf(nearbyintf(bf(w[4 + i] / s2)) * s2);
    float ch[8];
    struct qt_scheme s = sch("int8-ch-sym");
    TU_CHECK(qt_quant_dequant(w, 2, 4, &s, QT_DT_BF16, ch, NULL) == QT_OK);
    for (int i = 0; i < 4; i++) TU_CHECK(ch[i] == want[i] && ch[4 + i] == want2[i]);
}

/* All-zero groups: scale becomes bf16 eps (2^-7), zp 0, w' 0. */
TU_TEST(all_zero_groups) {
    float w[16] = {0};
    w[9] = 0.5f;
    const char *sc[] = {"int4-g8-sym", "int4-g8-asym", "int8-t-sym", "fp8-ch"};
    for (int k = 0; k < 4; k++) {
        struct qt_scheme s = sch(sc[k]);
        struct qt_qtensor q;
        float d[16];
        TU_CHECK(qt_quant_tensor(w, 2, 8, &s, QT_DT_BF16, 0, &q, d, NULL) == QT_OK);
        TU_CHECKF(q.scale[0] == (k == 2 ? bf(0.5f / 127.5f) : 0.0078125f), "%s scale %g", sc[k], q.scale[0]);
        if (q.zero) TU_CHECK(q.zero[0] == 0);
        for (int i = 0; i < 8; i++) TU_CHECK(d[i] == 0.0f && q.q[i] == 0);
        qt_qtensor_free(&q);
    }
    float z[32] = {0}, d[32];
    struct qt_scheme s = sch("nvfp4");
    struct qt_qtensor q;
    TU_CHECK(qt_quant_tensor(z, 1, 32, &s, QT_DT_BF16, 0, &q, d, NULL) == QT_OK);
    TU_CHECK(q.scale[0] == 0.125f && q.scale_code[0] == 0x20);   /* fp8 eps */
    for (int i = 0; i < 32; i++) TU_CHECK(d[i] == 0.0f);
    qt_qtensor_free(&q);
}

/* fp8: amax 448 * 2^-10 gives scale 2^-10; e4m3 ties go to even mantissas. */
TU_TEST(fp8_channel_ties) {
    const float u = 0.0009765625f;
    float t[8] = {448, 17, 19, -19, 0.001953125f, 0.0009765625f, 0.0029296875f, -100};
    float r[8] = {448, 16, 20, -20, 0.001953125f, 0, 0.00390625f, -96};
    float w[8], want[8];
    for (int i = 0; i < 8; i++) { w[i] = t[i] * u; want[i] = r[i] * u; }
    TU_CHECK(deq_equals("fp8-ch", w, 1, 8, want));
    TU_CHECK(deq_equals("fp8-t", w, 1, 8, want));
    struct qt_scheme s = sch("fp8-ch");
    struct qt_qtensor q;
    TU_CHECK(qt_quant_tensor(w, 1, 8, &s, QT_DT_BF16, 0, &q, NULL, NULL) == QT_OK);
    TU_CHECK(q.scale[0] == u);
    TU_CHECK((uint8_t)q.q[0] == 0x7e && (uint8_t)q.q[1] == 0x58 && (uint8_t)q.q[7] == 0xec);
    qt_qtensor_free(&q);
}

/* fp8 128x128 blocks, partial at the edges: each block has its own scale. */
TU_TEST(fp8_blocks) {
    int64_t rows = 130, cols = 260;
    float *w = gauss(rows * cols, 0.02, 7);
    w[5 * cols + 200] = 1.0f;                /* block (0, 1) gets a large amax */
    struct qt_scheme s = sch("fp8-b128");
    struct qt_qtensor q;
    float *d = malloc((size_t)(rows * cols) * sizeof *d);
    TU_CHECK(qt_quant_tensor(w, rows, cols, &s, QT_DT_BF16, 0, &q, d, NULL) == QT_OK);
    TU_CHECK(q.srows == 2 && q.scols == 3);
    for (int br = 0; br < 2; br++)
        for (int bc = 0; bc < 3; bc++) {
            float a = 0;
            for (int64_t r = br * 128; r < rows && r < br * 128 + 128; r++)
                for (int64_t c = bc * 128; c < cols && c < bc * 128 + 128; c++) a = fmaxf(a, fabsf(w[r * cols + c]));
            float sc = bf(a / 448.0f);
            TU_CHECK(q.scale[br * 3 + bc] == sc);
            int64_t r = br * 128 + 1, c = bc * 128 + 3;
            float t = bf(w[r * cols + c] / sc);
            TU_CHECK(d[r * cols + c] == bf(qt_fp8e4m3_to_f32(qt_f32_to_fp8e4m3(t)) * sc));
        }
    TU_CHECK(q.scale[1] == bf(1.0f / 448.0f));
    qt_qtensor_free(&q);
    free(w);
    free(d);
}

/* NVFP4: tensor amax 6 -> global scale bf16(bf16(1/6) * 2688) = 448, group
 * scale fp8(448 * 1) = 448, effective 1: values round on the e2m1 grid. */
TU_TEST(nvfp4_grid) {
    float w[32] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 6.0f,
                   -0.30078125f, -1.0f, 2.25f, -4.5f, 0.5f, 3.0f, 0.0f, -6.0f};
    float want[32] = {0, 1, 1, 2, 2, 4, 4, 6, -0.5f, -1, 2, -4, 0.5f, 3, 0, -6};
    TU_CHECK(deq_equals("nvfp4", w, 1, 32, want));       /* second group all zero */
    struct qt_scheme s = sch("nvfp4");
    struct qt_qtensor q;
    TU_CHECK(qt_quant_tensor(w, 1, 32, &s, QT_DT_BF16, 0, &q, NULL, NULL) == QT_OK);
    TU_CHECK(q.global_scale == 448.0f && q.scale[0] == 448.0f && q.scale_code[0] == 0x7e);
    TU_CHECK(q.q[7] == 7 && q.q[15] == (8 | 7) && q.q[8] == (8 | 1) && q.q[0] == 0);
    qt_qtensor_free(&q);
    /* a global amax override (fused q/k/v) changes the global scale */
    TU_CHECK(qt_quant_tensor(w, 1, 32, &s, QT_DT_BF16, 12.0f, &q, NULL, NULL) == QT_OK);
    TU_CHECK(q.global_scale == 224.0f);
    qt_qtensor_free(&q);
}

/* MXFP4: amax 6 (1.5 * 2^2) keeps 2^2 -> E8M0 127 (scale 1); amax 7 (1.75 *
 * 2^2) rounds up to 2^3 -> 128 (scale 2). */
TU_TEST(mxfp4_scales) {
    float w[64] = {0};
    float a[6] = {6.0f, 0.25f, 0.75f, 2.5f, 5.0f, -1.75f};
    float b[5] = {7.0f, 1.0f, 2.5f, 5.0f, -0.5f};
    for (int i = 0; i < 6; i++) w[i] = a[i];
    for (int i = 0; i < 5; i++) w[32 + i] = b[i];
    float want[64] = {0};
    float ra[6] = {6, 0, 1, 2, 4, -2}, rb[5] = {8, 1, 2, 4, 0};   /* 7/2 = 3.5 -> 4 -> 8; -0.25 -> 0 */
    for (int i = 0; i < 6; i++) want[i] = ra[i];
    for (int i = 0; i < 5; i++) want[32 + i] = rb[i];
    TU_CHECK(deq_equals("mxfp4", w, 1, 64, want));
    struct qt_scheme s = sch("mxfp4");
    struct qt_qtensor q;
    TU_CHECK(qt_quant_tensor(w, 1, 64, &s, QT_DT_BF16, 0, &q, NULL, NULL) == QT_OK);
    TU_CHECK(q.scale_code[0] == 127 && q.scale_code[1] == 128 && q.scale[1] == 2.0f);
    qt_qtensor_free(&q);
}

/* ---- error bounds and properties --------------------------------------- */

static double rel_rmse(const char *scheme, const float *w, int64_t rows, int64_t cols) {
    struct qt_scheme s = sch(scheme);
    struct qt_qstats st;
    qt_err err = {{0}};
    if (qt_quant_error(w, rows, cols, &s, QT_DT_BF16, NULL, &st, &err) != QT_OK) {
        printf("  %s: %s\n", scheme, err.msg);
        return NAN;
    }
    return qt_qstats_rel_rmse(&st);
}

/* Like ggml's test-quantize-fns: each format keeps the error of a gaussian
 * matrix under a bound (figures measured with this code, +20%). */
TU_TEST(int_partial_last_group) {
    /* K = 200, group 128: scales [N, ceil(200/128)] = [N, 2]; the last group
     * (72 columns) gets its own scale, as compressed-tensors quantizes it:
     * the same codes and scale as those 72 columns quantized per channel */
    enum { R = 3, K = 200, TAIL = 72 };
    float w[R * K], tail[R * TAIL];
    uint32_t seed = 7;
    for (int i = 0; i < R * K; i++) {
        seed = seed * 1664525u + 1013904223u;
        w[i] = qt_bf16_to_f32(qt_f32_to_bf16(((float)(seed >> 8) / 16777216.0f - 0.5f) * (float)(1 + i % 5)));
    }
    for (int r = 0; r < R; r++) memcpy(tail + r * TAIL, w + r * K + 128, TAIL * sizeof(float));
    static const char *schemes[] = {"int4-g128-sym", "int4-g128-asym", "int8-g128-sym"};
    for (int k = 0; k < 3; k++) {
        struct qt_scheme s, ch;
        qt_err err = {{0}};
        TU_CHECK(qt_scheme_parse(schemes[k], &s, &err) == QT_OK);
        ch = s;
        ch.strategy = QT_STRAT_CHANNEL;
        ch.group = 0;
        struct qt_qtensor q, t;
        TU_CHECKF(qt_quant_tensor(w, R, K, &s, QT_DT_BF16, 0, &q, NULL, &err) == QT_OK, "%s", err.msg);
        TU_CHECK(q.srows == R && q.scols == 2);
        TU_CHECK(qt_quant_tensor(tail, R, TAIL, &ch, QT_DT_BF16, 0, &t, NULL, &err) == QT_OK);
        int same = 1;
        for (int r = 0; r < R; r++) {
            same &= q.scale[r * 2 + 1] == t.scale[r];
            if (q.zero) same &= q.zero[r * 2 + 1] == t.zero[r];
            same &= !memcmp(q.q + r * K + 128, t.q + r * TAIL, TAIL);
        }
        TU_CHECKF(same, "%s", schemes[k]);
        qt_qtensor_free(&q);
        qt_qtensor_free(&t);
    }
}

TU_TEST(error_bounds) {
    int64_t rows = 256, cols = 512;
    float *w = gauss(rows * cols, 0.02, 1);
    struct { const char *s; double lo, hi; } b[] = {
        {"int8-ch-sym", 0.0055, 0.0095}, {"int8-g128-sym", 0.005, 0.0085}, {"int8-t-sym", 0.0074, 0.0127},
        {"int4-g128-sym", 0.077, 0.132}, {"int4-g128-asym", 0.070, 0.120}, {"int4-g32-sym", 0.066, 0.114},
        {"int4-ch-sym", 0.088, 0.150}, {"int3-g128-sym", 0.165, 0.283}, {"int2-g128-sym", 0.38, 0.65},
        {"fp8-ch", 0.0186, 0.032}, {"fp8-t", 0.0186, 0.032}, {"fp8-b128", 0.0186, 0.032},
        {"nvfp4", 0.067, 0.114}, {"mxfp4", 0.078, 0.134},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        double r = rel_rmse(b[i].s, w, rows, cols);
        if (getenv("QTUNE_TEST_VERBOSE")) printf("  %-16s %.5f\n", b[i].s, r);
        TU_CHECKF(r >= b[i].lo && r <= b[i].hi, "%s: rel_rmse %.5f outside [%g, %g]", b[i].s, r, b[i].lo, b[i].hi);
    }
    free(w);
}

TU_TEST(more_bits_less_error) {
    float *w = gauss(128 * 512, 0.02, 2);
    const char *g[] = {"g32", "g128", "ch", "t"};
    for (int k = 0; k < 4; k++)
        for (int sym = 0; sym < 2; sym++) {
            double prev = INFINITY;
            for (int b = 2; b <= 8; b++) {
                char s[32];
                snprintf(s, sizeof s, "int%d-%s-%s", b, g[k], sym ? "sym" : "asym");
                double r = rel_rmse(s, w, 128, 512);
                TU_CHECKF(r < prev, "%s: %.6f after %.6f", s, r, prev);
                prev = r;
            }
        }
    free(w);
}

TU_TEST(smaller_groups_less_error) {
    float *w = gauss(128 * 512, 0.02, 3);
    for (int b = 2; b <= 8; b++)
        for (int sym = 0; sym < 2; sym++) {
            const char *g[] = {"g16", "g32", "g64", "g128", "g256", "ch", "t"};
            double prev = 0;
            for (int k = 0; k < 7; k++) {
                char s[32];
                snprintf(s, sizeof s, "int%d-%s-%s", b, g[k], sym ? "sym" : "asym");
                double r = rel_rmse(s, w, 128, 512);
                TU_CHECKF(r >= prev, "%s: %.6f below %.6f", s, r, prev);
                prev = r;
            }
        }
    double c = rel_rmse("fp8-ch", w, 128, 512), t = rel_rmse("fp8-t", w, 128, 512);
    TU_CHECK(c <= t);
    free(w);
}

/* ---- AVX2 against portable C ------------------------------------------- */

TU_TEST(simd_matches_scalar) {
    if (!qt_quant_simd_active()) { printf("  (no AVX2 here: nothing to compare)\n"); return; }
    int64_t rows = 96, cols = 392;          /* cols not a multiple of 64 nor of 8 for ch/t */
    float *w = gauss(rows * cols, 0.03, 4);
    w[17] = 0.0f;
    for (int i = 0; i < 40; i++) w[5 * cols + i] = 0.0f;
    float *d = malloc((size_t)cols * sizeof *d);
    for (int64_t j = 0; j < cols; j++) d[j] = (float)(1.0 + urand());
    const char *sc[] = {"int4-g8-sym", "int4-g56-asym", "int8-ch-sym", "int3-ch-asym", "int8-t-sym",
                        "fp8-ch", "fp8-t", "fp8-b128", "int2-g392-asym"};
    float *a = malloc((size_t)(rows * cols) * sizeof *a), *b = malloc((size_t)(rows * cols) * sizeof *b);
    for (size_t k = 0; k < sizeof sc / sizeof sc[0]; k++) {
        struct qt_scheme s = sch(sc[k]);
        struct qt_qstats x, y;
        qt_quant_set_simd(0);
        TU_CHECK(qt_quant_error(w, rows, cols, &s, QT_DT_BF16, d, &x, NULL) == QT_OK);
        TU_CHECK(qt_quant_dequant(w, rows, cols, &s, QT_DT_BF16, a, NULL) == QT_OK);
        qt_quant_set_simd(1);
        TU_CHECK(qt_quant_error(w, rows, cols, &s, QT_DT_BF16, d, &y, NULL) == QT_OK);
        TU_CHECK(qt_quant_dequant(w, rows, cols, &s, QT_DT_BF16, b, NULL) == QT_OK);
        TU_CHECKF(x.err2 == y.err2 && x.w2 == y.w2 && x.max_abs == y.max_abs, "%s: %.17g/%.17g %.17g/%.17g",
                  sc[k], x.err2, y.err2, x.w2, y.w2);
        TU_CHECK(fabs(x.derr2 - y.derr2) <= 1e-12 * x.derr2 && x.dw2 == y.dw2);
        TU_CHECKF(!memcmp(a, b, (size_t)(rows * cols) * sizeof *a), "%s: w' differs", sc[k]);
    }
    /* fp4 groups need cols % 16 / % 32 */
    const char *fp4[] = {"nvfp4", "mxfp4"};
    for (int k = 0; k < 2; k++) {
        struct qt_scheme s = sch(fp4[k]);
        struct qt_qstats x, y;
        qt_quant_set_simd(0);
        TU_CHECK(qt_quant_error(w, rows, 384, &s, QT_DT_BF16, NULL, &x, NULL) == QT_OK);
        qt_quant_set_simd(1);
        TU_CHECK(qt_quant_error(w, rows, 384, &s, QT_DT_BF16, NULL, &y, NULL) == QT_OK);
        TU_CHECKF(x.err2 == y.err2 && x.max_abs == y.max_abs && x.err2 > 0, "%s", fp4[k]);
    }
    free(a);
    free(b);
    free(w);
    free(d);
}

/* ---- metrics, sizes, histograms ----------------------------------------- */

/* ---- every kernel set against portable C, codes and all ---------------- */

/* What one kernel set gives for a tensor under a scheme: codes, scales,
 * zero points, scale codes and w' of qt_quant_tensor, the codes of
 * qt_quant_rows_codes from BF16 rows in two row ranges, and the statistics
 * of qt_quant_error (with and without importance) and of the BF16 preview. */
struct isa_result {
    struct qt_qtensor q;
    int8_t *rc;                 /* (rows, cols) codes of qt_quant_rows_codes */
    struct qt_qtensor rq;       /* its scales */
    float *deq;                 /* (rows, cols) */
    struct qt_qstats st, std, pv;
    int ok;
};

static void isa_run(const float *w, const uint16_t *h, int64_t rows, int64_t cols, const struct qt_scheme *s,
                    enum qt_dtype dt, const float *d, struct isa_result *r) {
    qt_err err = {{0}};
    memset(r, 0, sizeof *r);
    r->deq = malloc((size_t)(rows * cols) * sizeof *r->deq);
    r->rc = malloc((size_t)(rows * cols));
    r->ok = qt_quant_tensor(w, rows, cols, s, dt, 0, &r->q, r->deq, &err) == QT_OK &&
            qt_quant_error(w, rows, cols, s, dt, NULL, &r->st, &err) == QT_OK &&
            qt_quant_error(w, rows, cols, s, dt, d, &r->std, &err) == QT_OK;
    if (r->ok && dt == QT_DT_BF16) {
        struct qt_qctx c;
        r->ok = qt_qctx_init(&c, s, dt, rows, cols, NULL, &err) == QT_OK &&
                qt_qtensor_init(&r->rq, s, dt, rows, cols, 0, &err) == QT_OK;
        if (r->ok && c.needs_global) {
            qt_quant_minmax_bf16(h, rows * cols, &c.gmin, &c.gmax);
            qt_qctx_finish_observe(&c);
        }
        int64_t split = (rows / 2 / c.band) * c.band;     /* two ranges, as two threads take them */
        if (r->ok) {
            qt_quant_rows_codes(&c, h + split * cols, 1, split, rows - split, r->rc + split * cols, &r->rq);
            qt_quant_rows_codes(&c, h, 1, 0, split, r->rc, &r->rq);
        }
        r->ok = r->ok && qt_preview_bf16(h, rows, cols, s, NULL, 2, &r->pv, &err) == QT_OK;
    }
    if (!r->ok) printf("  %s\n", err.msg);
}

static void isa_free(struct isa_result *r) {
    qt_qtensor_free(&r->q);
    qt_qtensor_free(&r->rq);
    free(r->rc);
    free(r->deq);
}

static int stats_equal(const struct qt_qstats *a, const struct qt_qstats *b) {
    return a->err2 == b->err2 && a->w2 == b->w2 && a->max_abs == b->max_abs && a->derr2 == b->derr2 &&
           a->dw2 == b->dw2 && a->n == b->n;
}

/* Bytes of r against the portable run p; names the first difference. */
static int isa_same(const struct isa_result *p, const struct isa_result *r, int64_t rows, int64_t cols,
                    enum qt_dtype dt, const char *what) {
    int64_t n = rows * cols, ns = p->q.srows * p->q.scols;
    const char *bad = NULL;
    if (!r->ok) bad = "failed";
    else if (memcmp(p->q.q, r->q.q, (size_t)n)) bad = "codes";
    else if (memcmp(p->q.scale, r->q.scale, (size_t)ns * sizeof(float))) bad = "scales";
    else if (p->q.zero && memcmp(p->q.zero, r->q.zero, (size_t)ns)) bad = "zero points";
    else if (p->q.scale_code && memcmp(p->q.scale_code, r->q.scale_code, (size_t)ns)) bad = "scale codes";
    else if (p->q.global_scale != r->q.global_scale) bad = "global scale";
    else if (memcmp(p->deq, r->deq, (size_t)n * sizeof(float))) bad = "w'";
    else if (!stats_equal(&p->st, &r->st)) bad = "statistics";
    else if (!stats_equal(&p->std, &r->std)) bad = "statistics with importance";
    else if (dt == QT_DT_BF16 && memcmp(p->q.q, r->rc, (size_t)n)) bad = "row-range codes from BF16";
    else if (dt == QT_DT_BF16 && memcmp(p->q.scale, r->rq.scale, (size_t)ns * sizeof(float))) bad = "row-range scales";
    else if (dt == QT_DT_BF16 && p->q.zero && memcmp(p->q.zero, r->rq.zero, (size_t)ns)) bad = "row-range zero points";
    else if (dt == QT_DT_BF16 && !stats_equal(&p->st, &r->pv)) bad = "BF16 preview statistics";
    if (bad) printf("  %s: %s differ\n", what, bad);
    for (int64_t i = 0; bad && i < n; i++)
        if (p->q.q[i] != r->q.q[i] || memcmp(&p->deq[i], &r->deq[i], 4)) {
            printf("  first at row %lld col %lld: code %d/%d w' %.9g/%.9g\n", (long long)(i / cols), (long long)(i % cols),
                   p->q.q[i], r->q.q[i], p->deq[i], r->deq[i]);
            break;
        }
    return !bad;
}

TU_TEST(isa_paths_identical) {
    int best = qt_quant_isa_best();
    printf("  kernels on this CPU: portable%s%s\n", best >= QT_ISA_AVX2 ? ", avx2" : "",
           best >= QT_ISA_AVX512 ? ", avx512" : "");
    /* random rows with the awkward cases: an all-zero row and group, signed
     * zeros, outliers, rows whose scales leave the fast division's range */
    const int64_t rows = 40, cols = 1184;   /* 9.25 groups of 128: a partial vector ends each row */
    float *w = gauss(rows * cols, 0.02, 11);
    for (int64_t j = 0; j < cols; j++) w[3 * cols + j] = 0.0f;
    for (int64_t j = 0; j < 64; j++) w[5 * cols + j] = j & 1 ? -0.0f : 0.0f;
    for (int64_t j = 0; j < cols; j++) w[7 * cols + j] = bf(w[7 * cols + j] * 1e-28f);
    for (int64_t j = 0; j < cols; j++) w[8 * cols + j] = bf(w[8 * cols + j] * 1e26f);
    for (int64_t j = 0; j < cols; j += 97) w[9 * cols + j] = bf(w[9 * cols + j] * 300.0f);
    uint16_t *h = malloc((size_t)(rows * cols) * sizeof *h);
    for (int64_t i = 0; i < rows * cols; i++) h[i] = qt_f32_to_bf16(w[i]);
    float *d = malloc((size_t)cols * sizeof *d);
    for (int64_t j = 0; j < cols; j++) d[j] = (float)(0.5 + urand());
    const char *sc[] = {"int4-g128-sym", "int4-g128-asym", "int4-g64-sym", "int4-g32-asym", "int4-g16-sym",
                        "int4-g8-asym", "int4-g56-sym", "int3-g128-asym", "int2-g64-asym", "int8-g128-sym",
                        "int8-ch-sym", "int4-ch-asym", "int8-t-sym", "int4-t-asym", "fp8-ch", "fp8-t",
                        "fp8-b128", "fp8-b64", "nvfp4", "mxfp4"};
    const enum qt_dtype dts[] = {QT_DT_BF16, QT_DT_F32};
    int prev = qt_quant_set_isa(QT_ISA_AVX512), ran = 0;
    for (size_t k = 0; k < sizeof sc / sizeof sc[0]; k++)
        for (int di = 0; di < 2; di++) {
            struct qt_scheme s = sch(sc[k]);
            struct isa_result ref, r;
            qt_quant_set_isa(QT_ISA_PORTABLE);
            isa_run(w, h, rows, cols, &s, dts[di], d, &ref);
            TU_CHECKF(ref.ok, "%s", sc[k]);
            for (int isa = QT_ISA_AVX2; isa <= best && ref.ok; isa++) {
                qt_quant_set_isa(isa);
                TU_CHECK(qt_quant_isa() == isa);
                isa_run(w, h, rows, cols, &s, dts[di], d, &r);
                char what[128];
                snprintf(what, sizeof what, "%s %s %s", sc[k], dts[di] == QT_DT_BF16 ? "bf16" : "f32",
                         qt_quant_isa_name(isa));
                TU_CHECK(isa_same(&ref, &r, rows, cols, dts[di], what));
                isa_free(&r);
                ran++;
            }
            TU_CHECK(!ref.ok || ref.st.err2 > 0);
            isa_free(&ref);
        }
    qt_quant_set_isa(prev);
    printf("  %d scheme x dtype x kernel comparisons\n", ran);
    /* QTUNE_SIMD names */
    TU_CHECK(qt_quant_isa_parse("avx512") == QT_ISA_AVX512 && qt_quant_isa_parse("avx2") == QT_ISA_AVX2 &&
             qt_quant_isa_parse("portable") == QT_ISA_PORTABLE && qt_quant_isa_parse("sse") == -1);
    free(w);
    free(h);
    free(d);
}

TU_TEST(metrics) {
    int64_t rows = 64, cols = 256;
    float *w = gauss(rows * cols, 0.02, 5);
    float *dq = malloc((size_t)(rows * cols) * sizeof *dq), *d = malloc((size_t)cols * sizeof *d);
    for (int64_t j = 0; j < cols; j++) d[j] = (float)(j % 7 + 1);
    struct qt_scheme s = sch("int4-g128-asym");
    struct qt_qstats st;
    TU_CHECK(qt_quant_error(w, rows, cols, &s, QT_DT_BF16, d, &st, NULL) == QT_OK);
    TU_CHECK(qt_quant_dequant(w, rows, cols, &s, QT_DT_BF16, dq, NULL) == QT_OK);
    double e2 = 0, w2 = 0, mx = 0, de = 0, dw = 0;
    for (int64_t i = 0; i < rows * cols; i++) {
        double e = (double)w[i] - dq[i];
        e2 += e * e;
        w2 += (double)w[i] * w[i];
        mx = fmax(mx, fabs(e));
        de += d[i % cols] * e * e;
        dw += d[i % cols] * (double)w[i] * w[i];
    }
    TU_NEAR(qt_qstats_rel_rmse(&st), sqrt(e2 / w2), 1e-7 * sqrt(e2 / w2));
    TU_NEAR(qt_qstats_sqnr_db(&st), -20 * log10(sqrt(e2 / w2)), 1e-5);
    TU_CHECK(st.max_abs == mx);
    TU_NEAR(qt_qstats_rel_out(&st), sqrt(de / dw), 1e-7 * sqrt(de / dw));
    TU_CHECK(st.n == rows * cols);
    TU_CHECK(isnan(qt_qstats_rel_out(&(struct qt_qstats){.err2 = 1, .w2 = 1})));
    free(w);
    free(dq);
    free(d);
}

TU_TEST(bytes) {
    struct qt_scheme s = sch("int4-g128-sym");
    /* 256 x 256: packed 256 * 32 words, scales 256 * 2 bf16, weight_shape 16 */
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 256 * 32 * 4 + 256 * 2 * 2 + 16);
    s = sch("int4-g128-asym");      /* + zero points packed along rows: ceil(256*4/32) words x 2 groups */
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 256 * 32 * 4 + 256 * 2 * 2 + 16 + 32 * 4 * 2);
    s = sch("int8-ch-sym+aint8-tok");
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 65536 + 256 * 2);
    s = sch("fp8-ch");
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 65536 + 256 * 2);
    s = sch("fp8-b128");
    TU_CHECK(qt_scheme_bytes(&s, 300, 256, QT_DT_BF16) == 300 * 256 + 3 * 2 * 2);
    s = sch("nvfp4");
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 32768 + 4096 + 4);
    s = sch("mxfp4");
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 32768 + 2048);
    s = sch("bf16");
    TU_CHECK(qt_scheme_bytes(&s, 256, 256, QT_DT_BF16) == 131072);
}

TU_TEST(histograms) {
    float *w = gauss(64 * 256, 0.02, 6);
    struct qt_scheme s = sch("int4-g128-sym");
    struct qt_hist hw, he;
    TU_CHECK(qt_quant_histograms(w, 64, 256, &s, QT_DT_BF16, 32, &hw, &he, NULL) == QT_OK);
    int64_t nw = 0, ne = 0;
    for (int i = 0; i < 32; i++) { nw += hw.counts[i]; ne += he.counts[i]; }
    TU_CHECK(nw == 64 * 256 && ne == 64 * 2);
    TU_CHECK(hw.lo < 0 && hw.hi == -hw.lo && he.lo == 0 && he.hi > 0);
    TU_CHECK(hw.counts[15] + hw.counts[16] > hw.counts[0] + hw.counts[31]);   /* bell shaped */
    qt_hist_free(&hw);
    qt_hist_free(&he);
    free(w);
}

/* ---- the fixture -------------------------------------------------------- */

/* The DESIGN §4 int arithmetic, written out plainly for one bf16 tensor. */
static double plain_rel_rmse(const float *w, int64_t rows, int64_t cols, int bits, int group, int sym) {
    int qmin = -(1 << (bits - 1)), qmax = (1 << (bits - 1)) - 1;
    double e2 = 0, w2 = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g0 = 0; g0 < cols; g0 += group) {
            const float *x = w + r * cols + g0;
            float mn = 0, mx = 0;
            for (int j = 0; j < group; j++) { mn = fminf(mn, x[j]); mx = fmaxf(mx, x[j]); }
            float scale, zp = 0;
            if (sym) {
                scale = bf(fmaxf(-mn, mx) / ((qmax - qmin) / 2.0f));
            } else {
                scale = bf(bf(mx - mn) / (float)(qmax - qmin));
                zp = nearbyintf(fminf(fmaxf(bf((float)qmin - bf(mn / scale)), (float)qmin), (float)qmax));
            }
            if (scale == 0) scale = 0.0078125f;
            for (int j = 0; j < group; j++) {
                float t = bf(x[j] / scale);
                if (zp != 0) t = bf(t + zp);
                float q = nearbyintf(fminf(fmaxf(t, (float)qmin), (float)qmax));
                float wq = bf((q - zp) * scale);
                e2 += ((double)x[j] - wq) * ((double)x[j] - wq);
                w2 += (double)x[j] * x[j];
            }
        }
    return sqrt(e2 / w2);
}

TU_TEST(fixture_preview_int4) {
    struct qt_model *m = NULL;
    qt_err err = {{0}};
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) {
        printf("  %s\n", err.msg);
        TU_CHECK(0);
        return;
    }
    struct qt_scheme s = sch("int4-g128-sym");
    struct qt_scheme *per = malloc((size_t)m->n_tensors * sizeof *per);
    for (int i = 0; i < m->n_tensors; i++) per[i] = s;
    struct qt_preview_cache *cache = qt_preview_cache_new();
    struct qt_preview_row *rows = NULL;
    int n = 0;
    struct qt_preview_total tot;
    TU_CHECK(qt_preview_run(m, per, NULL, NULL, cache, &rows, &n, &tot, &err) == QT_OK);
    int q03 = 0, qmtp = 0, checked = 0, kept_heads = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const struct qt_tensor *t = &m->tensors[rows[i].tensor];
        if (strstr(t->name, "shared_head.head") || !strcmp(t->name, "lm_head.weight")) {
            kept_heads++;
            TU_CHECK(qt_scheme_is_kept(&rows[i].scheme));
        }
        if (qt_scheme_is_kept(&rows[i].scheme)) continue;
        if (t->layer >= 0 && t->layer <= 3 && !t->mtp) q03++;
        if (t->mtp) qmtp++;
        int64_t r = qt_tensor_rows(t), c = qt_tensor_cols(t);
        float *w = malloc((size_t)(r * c) * sizeof *w);
        TU_CHECK(qt_tensor_read_f32(m, t, 0, r, w, &err) == QT_OK);
        double want = plain_rel_rmse(w, r, c, 4, 128, 1);
        double got = qt_qstats_rel_rmse(&rows[i].st);
        double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
        TU_CHECKF(rel <= 1e-6, "%s: %.9g vs %.9g", t->name, got, want);
        checked++;
        free(w);
    }
    printf("  %d tensors checked, worst relative difference %.3g\n", checked, worst);
    TU_CHECKF(q03 == 172, "%d quantized in layers 0-3", q03);
    TU_CHECKF(qmtp == 56, "%d quantized in the MTP layer", qmtp);   /* eh_proj, q/k/v/o, shared, 48 experts */
    TU_CHECK(kept_heads == 2);
    TU_CHECK(tot.n_quantized == 228);
    TU_CHECK(tot.bpw > 4.1 && tot.bpw < 4.2);
    /* asking again is answered from the cache */
    int64_t hits = qt_preview_cache_hits(cache);
    struct qt_preview_row *rows2 = NULL;
    int n2 = 0;
    TU_CHECK(qt_preview_run(m, per, NULL, NULL, cache, &rows2, &n2, NULL, &err) == QT_OK);
    TU_CHECK(n2 == n && qt_preview_cache_hits(cache) - hits == 228);
    for (int i = 0; i < n && n2 == n; i++) TU_CHECK(rows2[i].st.err2 == rows[i].st.err2);
    /* the portable path gives the same figures as the AVX2 one on real data */
    if (qt_quant_simd_active()) {
        const char *sc[] = {"int4-g128-sym", "int4-g128-asym", "fp8-ch", "int8-t-sym", "nvfp4", "mxfp4", "fp8-b128"};
        for (int k = 0; k < 7; k++) {
            struct qt_scheme x = sch(sc[k]);
            for (int i = 0; i < n; i += 17) {
                struct qt_qstats a, b;
                if (!rows[i].quantizable) continue;
                qt_quant_set_simd(1);
                TU_CHECK(qt_preview_tensor(m, rows[i].tensor, &x, NULL, NULL, &a, &err) == QT_OK);
                qt_quant_set_simd(0);
                TU_CHECK(qt_preview_tensor(m, rows[i].tensor, &x, NULL, NULL, &b, &err) == QT_OK);
                qt_quant_set_simd(1);
                TU_CHECKF(a.err2 == b.err2 && a.w2 == b.w2 && a.max_abs == b.max_abs, "%s %s: %.17g vs %.17g",
                          sc[k], m->tensors[rows[i].tensor].name, a.err2, b.err2);
            }
        }
    }
    /* the asym check on one tensor, through qt_preview_tensor */
    int ti = qt_model_find_index(m, "model.layers.2.mlp.experts.5.down_proj.weight");
    TU_CHECK(ti >= 0);
    if (ti >= 0) {
        struct qt_scheme a = sch("int4-g32-asym");
        struct qt_qstats st;
        const struct qt_tensor *t = &m->tensors[ti];
        int64_t r = qt_tensor_rows(t), c = qt_tensor_cols(t);
        float *w = malloc((size_t)(r * c) * sizeof *w);
        qt_tensor_read_f32(m, t, 0, r, w, &err);
        TU_CHECK(qt_preview_tensor(m, ti, &a, NULL, NULL, &st, &err) == QT_OK);
        double want = plain_rel_rmse(w, r, c, 4, 32, 0);
        TU_NEAR(qt_qstats_rel_rmse(&st), want, 1e-6 * want);
        free(w);
    }
    free(rows);
    free(rows2);
    free(per);
    qt_preview_cache_free(cache);
    qt_model_free(m);
}

int main(void) {
    /* the figures below are the bf16 arithmetic's (test_arith checks f32) */
    qt_quant_set_arith(QT_ARITH_BF16);
    TU_RUN(int4_sym_group_ties);
    TU_RUN(int4_sym_scale_rounded);
    TU_RUN(int4_asym_group);
    TU_RUN(int8_tensor);
    TU_RUN(all_zero_groups);
    TU_RUN(fp8_channel_ties);
    TU_RUN(fp8_blocks);
    TU_RUN(nvfp4_grid);
    TU_RUN(mxfp4_scales);
    TU_RUN(int_partial_last_group);
    TU_RUN(error_bounds);
    TU_RUN(more_bits_less_error);
    TU_RUN(smaller_groups_less_error);
    TU_RUN(simd_matches_scalar);
    TU_RUN(isa_paths_identical);
    TU_RUN(metrics);
    TU_RUN(bytes);
    TU_RUN(histograms);
    TU_RUN(fixture_preview_int4);
    return TU_END();
}
