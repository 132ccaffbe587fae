/* test_gptq.c — GPTQ on small matrices: the optimal-brain-surgeon update by
 * hand, equality with round-to-nearest when inputs are uncorrelated, lower
 * output error than round-to-nearest on correlated inputs, activation-order
 * groups (g_idx) and the keep mask. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/gptq.h"
#include "algo/linalg.h"
#include "tu.h"

static uint64_t rs = 12345;
static double urand(void) { rs = rs * 6364136223846793005ull + 1442695040888963407ull; return (double)(rs >> 11) / 9007199254740992.0; }
static float bf(float x) { return qt_bf16_to_f32(qt_f32_to_bf16(x)); }

/* 2 columns, H = [[2,1],[1,2]], no damping: column 1 absorbs half of column
 * 0's rounding error (H10/H11), then rounds. */
TU_TEST(gptq_obs_update_by_hand) {
    struct qt_scheme s;
    qt_err err;
    TU_CHECK(qt_scheme_parse("int4-ch-sym", &s, &err) == QT_OK);
    float w[2] = {bf(1.0f), bf(0.3f)};
    double h[4] = {2, 1, 1, 2};
    struct qt_gptq_args a;
    qt_gptq_args_default(&a);
    a.dampening_frac = 0;
    a.actorder = QT_ACTORDER_NONE;
    struct qt_qtensor q;
    float deq[2];
    TU_CHECK(qt_gptq_quantize(w, 1, 2, h, &s, QT_DT_BF16, &a, NULL, &q, NULL, deq, NULL, &err) == QT_OK);
    float sc = q.scale[0];   /* amax / 7.5, bf16 */
    TU_NEAR(sc, bf(1.0f / 7.5f), 0);
    float q0 = nearbyintf(w[0] / sc);
    float d0 = bf(q0 * sc);
    float w1 = w[1] + (w[0] - d0) * 0.5f;
    float q1 = nearbyintf(w1 / sc);
    TU_NEAR(q.q[0], q0, 0);
    TU_NEAR(q.q[1], q1, 0);
    TU_NEAR(deq[0], d0, 0);
    TU_NEAR(deq[1], bf(q1 * sc), 0);
    qt_qtensor_free(&q);
}

/* U = chol(H⁻¹) upper: Uᵀ U = H⁻¹ */
TU_TEST(gptq_chol_inv_upper) {
    enum { N = 5 };
    double a[N * N], h[N * N], hi[N * N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) a[i * N + j] = urand() - 0.5;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = i == j ? 1.0 : 0;
            for (int k = 0; k < N; k++) s += a[i * N + k] * a[j * N + k];
            h[i * N + j] = s;
        }
    memcpy(hi, h, sizeof h);
    qt_err err;
    TU_CHECK(qt_linalg_chol_inv_upper(hi, N, &err) == QT_OK);
    /* (Uᵀ U) H = I */
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < N; k++) {
                double uu = 0;
                for (int l = 0; l < N; l++) uu += hi[l * N + i] * hi[l * N + k];
                s += uu * h[k * N + j];
            }
            worst = fmax(worst, fabs(s - (i == j)));
            if (i > j) TU_CHECK(hi[i * N + j] == 0);
        }
    TU_CHECK(worst < 1e-10);
    double bad[4] = {1, 2, 2, 1};
    TU_CHECK(qt_linalg_chol_inv_upper(bad, 2, &err) == QT_ERR);
}

static void random_case(float *w, double *h, int R, int C, double corr) {
    for (int i = 0; i < R * C; i++) w[i] = bf((float)(urand() - 0.5) * 0.1f);
    /* X (T, C) with correlated columns; H = Xᵀ X */
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

/* a diagonal Hessian spreads no error: the codes are round-to-nearest's */
TU_TEST(gptq_diagonal_is_rtn) {
    enum { R = 16, C = 64 };
    static float w[R * C], deq[R * C], rtn[R * C];
    static double h[C * C];
    random_case(w, h, R, C, 0);
    memset(h, 0, sizeof h);
    for (int j = 0; j < C; j++) h[j * C + j] = 1 + j;
    const char *schemes[] = {"int4-g32-sym", "int4-g32-asym", "int8-ch-sym", "fp8-ch"};
    for (int k = 0; k < 4; k++) {
        struct qt_scheme s;
        qt_err err;
        TU_CHECK(qt_scheme_parse(schemes[k], &s, &err) == QT_OK);
        struct qt_gptq_args a;
        qt_gptq_args_default(&a);
        struct qt_qtensor q, qr;
        TU_CHECK(qt_gptq_quantize(w, R, C, h, &s, QT_DT_F32, &a, NULL, &q, NULL, deq, NULL, &err) == QT_OK);
        TU_CHECK(qt_quant_tensor(w, R, C, &s, QT_DT_F32, 0, &qr, rtn, &err) == QT_OK);
        int diff = 0;
        for (int i = 0; i < R * C; i++) diff += deq[i] != rtn[i];
        TU_CHECKF(diff == 0, "%s: %d of %d differ", schemes[k], diff, R * C);
        qt_qtensor_free(&q);
        qt_qtensor_free(&qr);
    }
}

/* correlated inputs: GPTQ's output error is below round-to-nearest's, for
 * every activation order; group order writes a g_idx that the codes and
 * scales decode with */
TU_TEST(gptq_beats_rtn_and_gidx) {
    enum { R = 24, C = 128 };
    static float w[R * C], deq[R * C];
    static double h[C * C];
    random_case(w, h, R, C, 2.0);
    const char *schemes[] = {"int4-g32-sym", "int3-g32-asym", "int4-ch-sym", "int8-ch-sym", "fp8-ch"};
    for (int k = 0; k < 5; k++)
        for (int ao = 0; ao < 3; ao++) {
            struct qt_scheme s;
            qt_err err;
            TU_CHECK(qt_scheme_parse(schemes[k], &s, &err) == QT_OK);
            struct qt_gptq_args a;
            qt_gptq_args_default(&a);
            a.actorder = (enum qt_actorder)ao;
            a.block_size = 32;   /* several blocks: the lazy update between blocks */
            struct qt_qtensor q;
            struct qt_gptq_stats st;
            int32_t g_idx[C];
            for (int j = 0; j < C; j++) g_idx[j] = -1;
            TU_CHECK(qt_gptq_quantize(w, R, C, h, &s, QT_DT_BF16, &a, NULL, &q, g_idx, deq, &st, &err) == QT_OK);
            TU_CHECKF(st.out_err < st.rtn_err, "%s actorder %d: %g >= rtn %g", schemes[k], ao, st.out_err, st.rtn_err);
            if (ao == QT_ACTORDER_GROUP && s.strategy == QT_STRAT_GROUP) {
                int cnt[C / 32] = {0};
                for (int j = 0; j < C; j++) if (g_idx[j] >= 0 && g_idx[j] < C / 32) cnt[g_idx[j]]++;
                for (int g = 0; g < C / 32; g++) TU_CHECK(cnt[g] == 32);
            } else {
                TU_CHECK(g_idx[0] == -1);   /* left alone */
            }
            /* decode codes with scales (and g_idx) = deq */
            int bad = 0;
            for (int r = 0; r < R; r++)
                for (int j = 0; j < C; j++) {
                    int64_t sc = s.strategy == QT_STRAT_GROUP ? (ao == QT_ACTORDER_GROUP ? g_idx[j] : j / s.group) : 0;
                    float scale = q.scale[r * q.scols + sc];
                    float zp = q.zero ? q.zero[r * q.scols + sc] : 0;
                    float v = s.kind == QT_SCHEME_FP8 ? qt_fp8e4m3_to_f32((uint8_t)q.q[r * C + j]) : q.q[r * C + j] - zp;
                    bad += bf(v * scale) != deq[r * C + j];
                }
            TU_CHECKF(bad == 0, "%s actorder %d: %d decode differently", schemes[k], ao, bad);
            qt_qtensor_free(&q);
        }
}

/* the keep mask: masked elements are exact zeros */
TU_TEST(gptq_keep_mask) {
    enum { R = 8, C = 64 };
    static float w[R * C], deq[R * C];
    static double h[C * C];
    static uint8_t keep[R * C];
    random_case(w, h, R, C, 1.0);
    for (int i = 0; i < R * C; i++) keep[i] = (i % 4) < 2;   /* 2:4 */
    struct qt_scheme s;
    qt_err err;
    TU_CHECK(qt_scheme_parse("int4-g32-asym", &s, &err) == QT_OK);
    struct qt_gptq_args a;
    qt_gptq_args_default(&a);
    struct qt_qtensor q;
    TU_CHECK(qt_gptq_quantize(w, R, C, h, &s, QT_DT_BF16, &a, keep, &q, NULL, deq, NULL, &err) == QT_OK);
    int nz = 0;
    for (int i = 0; i < R * C; i++) if (!keep[i]) nz += deq[i] != 0;
    TU_CHECK(nz == 0);
    qt_qtensor_free(&q);
}

int main(void) {
    TU_RUN(gptq_obs_update_by_hand);
    TU_RUN(gptq_chol_inv_upper);
    TU_RUN(gptq_diagonal_is_rtn);
    TU_RUN(gptq_beats_rtn_and_gidx);
    TU_RUN(gptq_keep_mask);
    return TU_END();
}
