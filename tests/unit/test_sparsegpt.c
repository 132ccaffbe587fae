/* test_sparsegpt.c — SparseGPT on small matrices: the optimal-brain-surgeon
 * update by hand, the N:M structure, magnitude pruning under an identity
 * Hessian, the unstructured threshold, a lower output error than magnitude
 * pruning on correlated inputs, GPTQ on the pruned weight keeping its zeros,
 * and mask_structure parsing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/gptq.h"
#include "algo/sparsegpt.h"
#include "tu.h"

static uint64_t rs = 777;
static double urand(void) { rs = rs * 6364136223846793005ull + 1442695040888963407ull; return (double)(rs >> 11) / 9007199254740992.0; }

/* H (C, C) = Xᵀ X of T = 4C correlated rows; w (R, C) uniform. */
static void random_case(float *w, double *h, int R, int C, double corr) {
    for (int i = 0; i < R * C; i++) w[i] = (float)(urand() - 0.5);
    int T = 4 * C;
    double *x = malloc(sizeof(double) * (size_t)(T * C));
    for (int t = 0; t < T; t++) {
        double common = urand() - 0.5;
        for (int j = 0; j < C; j++) x[t * C + j] = (urand() - 0.5) * (1 + j % 3) + corr * common;
    }
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            double s = 0;
            for (int t = 0; t < T; t++) s += x[t * C + i] * x[t * C + j];
            h[i * C + j] = s;
        }
    free(x);
}

/* 1:2 on one row of 2 columns, H = [[2,1],[1,2]], no damping: U = chol(H⁻¹)
 * has U00² = 2/3, U11² = 1/2; w = (0.3, 1): scores 0.135 and 2, so column 0
 * goes and column 1 absorbs -H01/H11 of its removal: 1 + 0.3/2 = 1.15. */
TU_TEST(sgpt_obs_update_by_hand) {
    float w[2] = {0.3f, 1.0f};
    double h[4] = {2, 1, 1, 2};
    struct qt_sgpt_args a;
    qt_sgpt_args_default(&a);
    a.dampening_frac = 0;
    a.prune_n = 1;
    a.prune_m = 2;
    a.block_size = 2;
    uint8_t keep[2];
    double loss;
    qt_err err;
    TU_CHECKF(qt_sgpt_prune(w, 1, 2, h, &a, keep, &loss, &err) == QT_OK, "%s", err.msg);
    TU_NEAR(w[0], 0, 0);
    TU_NEAR(w[1], 1.15, 1e-6);
    TU_CHECK(keep[0] == 0 && keep[1] == 1);
    TU_NEAR(loss, 0.3 * 0.3 / (2.0 / 3) / 2, 1e-7);   /* (w/U00)² / 2 */
}

/* 2:4: every row prunes exactly 2 of each 4 consecutive inputs; with an
 * identity Hessian and no damping no error is spread, so it is magnitude
 * pruning: the two smallest |w| go and the others are unchanged. */
TU_TEST(sgpt_2of4_identity_is_magnitude) {
    enum { R = 8, C = 32 };
    static float w[R * C], w0[R * C];
    static uint8_t keep[R * C];
    for (int i = 0; i < R * C; i++) w0[i] = w[i] = (float)(urand() - 0.5);
    struct qt_sgpt_args a;
    qt_sgpt_args_default(&a);
    a.dampening_frac = 0;
    qt_err err;
    TU_CHECK(qt_sgpt_parse_mask("2:4", &a.prune_n, &a.prune_m, &err) == QT_OK && a.prune_n == 2 && a.prune_m == 4);
    TU_CHECKF(qt_sgpt_prune(w, R, C, NULL, &a, keep, NULL, &err) == QT_OK, "%s", err.msg);
    int bad = 0;
    for (int r = 0; r < R; r++)
        for (int g = 0; g < C; g += 4) {
            int z = 0;
            for (int k = 0; k < 4; k++) {
                int i = r * C + g + k;
                z += w[i] == 0;
                bad += keep[i] != (w[i] != 0);
                if (w[i] != 0) bad += w[i] != w0[i];
                /* a kept value is at least as large as every pruned one */
                for (int k2 = 0; k2 < 4; k2++)
                    if (w[i] != 0 && w[r * C + g + k2] == 0) bad += fabsf(w0[i]) < fabsf(w0[r * C + g + k2]);
            }
            bad += z != 2;
        }
    TU_CHECK(bad == 0);
    /* the full algorithm under an explicit identity Hessian: the same */
    static float w2[R * C];
    static double eye[C * C];
    for (int j = 0; j < C; j++) eye[j * C + j] = 1;
    memcpy(w2, w0, sizeof w2);
    a.dampening_frac = 0.01;
    TU_CHECK(qt_sgpt_prune(w2, R, C, eye, &a, NULL, NULL, &err) == QT_OK);
    TU_CHECK(memcmp(w, w2, sizeof w2) == 0);
}

/* unstructured 0.5 under the identity: per block the scores up to the
 * floor(numel/2)-th smallest go (llm-compressor's `<=` threshold: one more
 * than half when scores are distinct) */
TU_TEST(sgpt_unstructured_threshold) {
    enum { R = 4, C = 64 };
    static float w[R * C];
    for (int i = 0; i < R * C; i++) w[i] = (float)(urand() - 0.5);
    struct qt_sgpt_args a;
    qt_sgpt_args_default(&a);
    a.sparsity = 0.5;
    a.block_size = 32;
    qt_err err;
    TU_CHECK(qt_sgpt_prune(w, R, C, NULL, &a, NULL, NULL, &err) == QT_OK);
    for (int b = 0; b < C; b += 32) {
        int z = 0;
        for (int r = 0; r < R; r++)
            for (int j = b; j < b + 32; j++) z += w[r * C + j] == 0;
        TU_CHECKF(z == R * 32 / 2 + 1, "block %d: %d zeros", b, z);
    }
    a.sparsity = 1.0;
    TU_CHECK(qt_sgpt_prune(w, R, C, NULL, &a, NULL, NULL, &err) == QT_ERR && strstr(err.msg, "sparsity"));
}

static double out_err(const float *w, const float *wq, int R, int C, const double *h) {
    return qt_gptq_out_err(w, wq, R, C, h);
}

/* correlated inputs: the Hessian's update beats pruning by magnitude;
 * then GPTQ int8 on the pruned weight keeps every zero (the composition the
 * pipeline runs) and adds little to the pruning's error */
TU_TEST(sgpt_beats_magnitude_then_gptq_keeps_zeros) {
    enum { R = 16, C = 128 };
    static float w0[R * C], ws[R * C], wm[R * C], deq[R * C];
    static double h[C * C];
    static uint8_t keep[R * C];
    random_case(w0, h, R, C, 2.0);
    memcpy(ws, w0, sizeof ws);
    memcpy(wm, w0, sizeof wm);
    struct qt_sgpt_args a;
    qt_sgpt_args_default(&a);
    a.prune_n = 2;
    a.prune_m = 4;
    qt_err err;
    TU_CHECK(qt_sgpt_prune(ws, R, C, h, &a, keep, NULL, &err) == QT_OK);
    a.dampening_frac = 0;
    TU_CHECK(qt_sgpt_prune(wm, R, C, NULL, &a, NULL, NULL, &err) == QT_OK);
    double es = out_err(w0, ws, R, C, h), em = out_err(w0, wm, R, C, h);
    printf("  2:4 output error: SparseGPT %.4f, magnitude %.4f\n", es, em);
    TU_CHECK(es < 0.8 * em);
    struct qt_scheme s;
    TU_CHECK(qt_scheme_parse("int8-ch-sym", &s, &err) == QT_OK);
    struct qt_gptq_args g;
    qt_gptq_args_default(&g);
    struct qt_qtensor q;
    TU_CHECK(qt_gptq_quantize(ws, R, C, h, &s, QT_DT_F32, &g, keep, &q, NULL, deq, NULL, &err) == QT_OK);
    int bad = 0;
    for (int i = 0; i < R * C; i++) bad += !keep[i] && (deq[i] != 0 || q.q[i] != 0);
    TU_CHECK(bad == 0);
    double eq = out_err(w0, deq, R, C, h);
    printf("  pruned + GPTQ int8: %.4f\n", eq);
    TU_CHECK(eq < 1.05 * es);
    qt_qtensor_free(&q);
}

TU_TEST(sgpt_parse_mask) {
    int n, m;
    qt_err err;
    TU_CHECK(qt_sgpt_parse_mask("", &n, &m, &err) == QT_OK && n == 0 && m == 0);
    TU_CHECK(qt_sgpt_parse_mask("0:0", &n, &m, &err) == QT_OK && n == 0 && m == 0);
    TU_CHECK(qt_sgpt_parse_mask("4:8", &n, &m, &err) == QT_OK && n == 4 && m == 8);
    TU_CHECK(qt_sgpt_parse_mask("4:4", &n, &m, &err) == QT_ERR);
    TU_CHECK(qt_sgpt_parse_mask("2-4", &n, &m, &err) == QT_ERR && strstr(err.msg, "N:M"));
    TU_CHECK(qt_sgpt_parse_mask("2:4x", &n, &m, &err) == QT_ERR);
    /* N:M needs the input width and block size to be multiples of M */
    float w[6] = {1, 2, 3, 4, 5, 6};
    struct qt_sgpt_args a;
    qt_sgpt_args_default(&a);
    a.prune_n = 2;
    a.prune_m = 4;
    TU_CHECK(qt_sgpt_prune(w, 1, 6, NULL, &a, NULL, NULL, &err) == QT_ERR && strstr(err.msg, "multiples of 4"));
}

int main(void) {
    TU_RUN(sgpt_obs_update_by_hand);
    TU_RUN(sgpt_2of4_identity_is_magnitude);
    TU_RUN(sgpt_unstructured_threshold);
    TU_RUN(sgpt_beats_magnitude_then_gptq_keeps_zeros);
    TU_RUN(sgpt_parse_mask);
    return TU_END();
}
