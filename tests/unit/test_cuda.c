/* test_cuda.c — the CUDA backend against the CPU reference: quantization of
 * every scheme in both arithmetic modes (codes, scales, zero points, scale
 * codes and w' bit for bit; statistics to summation order), on random shapes
 * and on GLM-4.6's real projection shapes, and the glm4_moe forward on the
 * fixture (float32 logits within 1e-5).
 *
 * Without a usable GPU (no nvcc at build time, no driver, no device) it
 * prints one "SKIP" line with the reason and no PASS/FAIL, so the CPU-only
 * suite stays green; `make test-cuda` runs it on a GPU machine. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda.h"
#include "backend/select.h"
#include "base/dtype.h"
#include "algo/gptq.h"
#include "eval/forward.h"
#include "eval/qplan.h"
#include "model/model.h"
#include "quant/quant.h"
#include "quant/scheme.h"
#include "tu.h"

static uint64_t rng = 0x243F6A8885A308D3ull;

static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Weight-like BF16 values (widened), with a few outliers and an all-zero
 * row so that zero scales and clamps are exercised. */
static void fill(float *w, uint16_t *h, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows * cols; i++) {
        double g = urand() + urand() + urand() + urand() - 2.0;
        if (urand() < 0.001) g *= 40;
        float v = (float)(g * 0.03);
        if (i / cols == 1) v = 0.0f;
        h[i] = qt_f32_to_bf16(v);
        w[i] = qt_bf16_to_f32(h[i]);
    }
}

static int near_rel(double a, double b, double tol) {
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= tol * (m > 1e-300 ? m : 1e-300);
}

static int g_fail_shown;

/* One scheme on one shape in one arithmetic mode: returns 1 when equal. */
static int check_one(const char *scheme, int64_t rows, int64_t cols, enum qt_dtype wd) {
    struct qt_scheme s;
    qt_err err;
    if (qt_scheme_parse(scheme, &s, &err) != QT_OK) {
        printf("  %s\n", err.msg);
        return 0;
    }
    if (qt_scheme_check_shape(&s, rows, cols, NULL) != QT_OK) return 1;   /* shape the scheme refuses */
    int64_t n = rows * cols;
    float *w = malloc((size_t)n * 4), *dc = malloc((size_t)n * 4), *dg = malloc((size_t)n * 4);
    uint16_t *h = malloc((size_t)n * 2);
    float *d = malloc((size_t)cols * 4);
    int ok = 0;
    if (!w || !dc || !dg || !h || !d) goto out;
    fill(w, h, rows, cols);
    for (int64_t j = 0; j < cols; j++) d[j] = (float)(urand() * 2.0);
    struct qt_qtensor qc, qg;
    memset(&qg, 0, sizeof qg);
    if (qt_quant_tensor(w, rows, cols, &s, wd, 0, &qc, dc, &err) != QT_OK) {
        printf("  cpu %s: %s\n", scheme, err.msg);
        goto out;
    }
    qt_backend_choose("cuda", NULL);
    int rc = qt_be_quant_tensor(w, rows, cols, &s, wd, 0, &qg, dg, &err);
    if (rc != QT_OK) {
        printf("  cuda %s: %s\n", scheme, err.msg);
        qt_qtensor_free(&qc);
        goto out;
    }
    int64_t ns = qc.srows * qc.scols;
    int codes = !memcmp(qc.q, qg.q, (size_t)n), scales = !memcmp(qc.scale, qg.scale, (size_t)ns * 4);
    int zeros = !qc.zero || !memcmp(qc.zero, qg.zero, (size_t)ns);
    int sc = !qc.scale_code || !memcmp(qc.scale_code, qg.scale_code, (size_t)ns);
    int gs = !memcmp(&qc.global_scale, &qg.global_scale, 4);
    int deq = !memcmp(dc, dg, (size_t)n * 4);
    /* statistics: float32 input (f32 path) and BF16 input (the preview's) */
    struct qt_qstats a, b, c2;
    int st = qt_quant_error(w, rows, cols, &s, wd, d, &a, &err) == QT_OK &&
             qt_cuda_quant(w, 0, rows, cols, &s, wd, 0, d, &b, NULL, NULL, &err) == QT_OK &&
             qt_cuda_quant(h, 1, rows, cols, &s, wd, 0, d, &c2, NULL, NULL, &err) == QT_OK;
    int stats = st && near_rel(a.err2, b.err2, 1e-6) && near_rel(a.w2, b.w2, 1e-6) && a.max_abs == b.max_abs &&
                near_rel(a.derr2, b.derr2, 1e-6) && near_rel(a.dw2, b.dw2, 1e-6) && a.n == b.n &&
                near_rel(a.err2, c2.err2, 1e-6) && a.max_abs == c2.max_abs && near_rel(a.dw2, c2.dw2, 1e-6);
    ok = codes && scales && zeros && sc && gs && deq && stats;
    if (!ok && g_fail_shown++ < 12) {
        int64_t first = -1;
        for (int64_t i = 0; i < n && first < 0; i++)
            if (qc.q[i] != qg.q[i]) first = i;
        printf("  %s %lldx%lld %s: codes %d scales %d zeros %d scale_codes %d global %d deq %d stats %d",
               scheme, (long long)rows, (long long)cols, qt_dtype_name(wd), codes, scales, zeros, sc, gs, deq, stats);
        if (first >= 0) printf(" (first code diff at %lld: w %.9g cpu %d gpu %d)", (long long)first, w[first], qc.q[first], qg.q[first]);
        if (st) printf(" err2 %.12g/%.12g max %.9g/%.9g", a.err2, b.err2, a.max_abs, b.max_abs);
        else printf(" (%s)", err.msg);
        printf("\n");
    }
    qt_backend_choose("cpu", NULL);
    qt_qtensor_free(&qc);
    qt_qtensor_free(&qg);
out:
    free(w);
    free(dc);
    free(dg);
    free(h);
    free(d);
    return ok;
}

static const char *const all_schemes[] = {
    "int2-g128-sym", "int3-g64-asym", "int4-g128-sym", "int4-g128-asym", "int4-g32-sym", "int4-g64-asym",
    "int4-ch-sym", "int4-ch-asym", "int4-t-sym", "int4-t-asym", "int5-g128-asym", "int6-g32-sym",
    "int7-ch-sym", "int8-ch-sym", "int8-ch-asym", "int8-g128-sym", "int8-t-sym", "int8-g16-asym",
    "int4-g256-sym", "int4-g24-sym", "int3-g48-asym", "fp8-t", "fp8-ch", "fp8-b128", "nvfp4", "mxfp4",
};
#define N_ALL (int)(sizeof all_schemes / sizeof all_schemes[0])

TU_TEST(cuda_quant_schemes_random_shapes) {
    static const int64_t shapes[][2] = {{64, 384}, {130, 768}, {7, 1536}, {257, 96}};
    static const enum qt_dtype modes[] = {QT_DT_BF16, QT_DT_F32};
    int bad = 0, runs = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int i = 0; i < N_ALL; i++)
            for (int md = 0; md < 2; md++) {
                runs++;
                bad += !check_one(all_schemes[i], shapes[k][0], shapes[k][1], modes[md]);
            }
    printf("  %d runs, %d differ\n", runs, bad);
    TU_CHECK(bad == 0);
}

/* GLM-4.6: hidden 5120, moe_intermediate 1536, 96 q heads x 128, 8 kv heads. */
TU_TEST(cuda_quant_glm46_shapes) {
    static const int64_t shapes[][2] = {{1536, 5120}, {5120, 1536}, {1024, 5120}};
    static const char *const some[] = {"int4-g128-sym", "int4-g32-asym", "int8-ch-sym", "fp8-b128", "fp8-ch",
                                       "nvfp4", "mxfp4", "int4-t-asym"};
    int bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
            bad += !check_one(some[i], shapes[k][0], shapes[k][1], QT_DT_BF16);
            if (i < 2) bad += !check_one(some[i], shapes[k][0], shapes[k][1], QT_DT_F32);
        }
    TU_CHECK(bad == 0);
}

/* The fixture's logits: CPU and GPU float32 forwards within 1e-5 with the
 * same argmax everywhere.  QTUNE_CUDA_GEMM=tf32 (the BF16 weights exact,
 * activations rounded to TF32, float32 accumulation): within 2e-3; bf16
 * (both inputs rounded to BF16): within 1e-2; both with the same argmax at
 * >= 99.5% of positions and not equal to float32 (the mode is in effect). */
static void forward_fixture(const char *gemm, const char *chunk) {
    int bf16 = gemm != NULL;
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) {
        printf("  %s\n", err.msg);
        TU_CHECK(0);
        return;
    }
    enum { NS = 4, SL = 128 };
    int V = m->cfg.vocab;
    int32_t *tok = malloc(sizeof(int32_t) * NS * SL);
    float *lc = malloc(sizeof(float) * (size_t)NS * SL * V), *lg = malloc(sizeof(float) * (size_t)NS * SL * V);
    TU_CHECK(tok && lc && lg);
    if (!tok || !lc || !lg) goto out;
    for (int i = 0; i < NS * SL; i++) tok[i] = (int32_t)(urand() * V);
    struct qt_fwd *f = NULL;
    qt_backend_choose("cpu", NULL);
    int rc = qt_fwd_init(m, NULL, &f, &err);
    if (rc == QT_OK) rc = qt_fwd_run(f, tok, NS, SL, lc, &err);
    qt_fwd_free(f);
    f = NULL;
    qt_backend_choose("cuda", NULL);
    if (gemm) setenv("QTUNE_CUDA_GEMM", gemm, 1);
    if (chunk) setenv("QTUNE_CUDA_ATTN_CHUNK", chunk, 1);
    if (rc == QT_OK) rc = qt_fwd_init(m, NULL, &f, &err);
    if (rc == QT_OK) {
        TU_CHECK(!strcmp(qt_fwd_backend(f), "cuda"));
        rc = qt_fwd_run(f, tok, NS, SL, lg, &err);
    }
    if (rc == QT_OK) {   /* the tensor-core modes' attention is the batched GEMMs; f32's the flash kernel */
        struct qt_be_fwd_timing gt;
        TU_CHECK(qt_fwd_gpu_stats(f, &gt));
        TU_CHECKF(gt.attn_gemm == (gemm != NULL), "attention as GEMMs: %d", gt.attn_gemm);
    }
    qt_fwd_free(f);
    unsetenv("QTUNE_CUDA_GEMM");
    unsetenv("QTUNE_CUDA_ATTN_CHUNK");
    qt_backend_choose("cpu", NULL);
    if (rc != QT_OK) printf("  %s\n", err.msg);
    TU_CHECK(rc == QT_OK);
    if (rc == QT_OK) {
        double e2 = 0, r2 = 0, worst = 0;
        int mism = 0;
        for (int t = 0; t < NS * SL; t++) {
            const float *a = lc + (size_t)t * V, *b = lg + (size_t)t * V;
            int ia = 0, ib = 0;
            double te = 0, tr = 0;
            for (int v = 0; v < V; v++) {
                double d = (double)a[v] - b[v];
                te += d * d;
                tr += (double)a[v] * a[v];
                if (a[v] > a[ia]) ia = v;
                if (b[v] > b[ib]) ib = v;
            }
            e2 += te;
            r2 += tr;
            if (sqrt(te / tr) > worst) worst = sqrt(te / tr);
            mism += ia != ib;
        }
        double rel = sqrt(e2 / r2);
        printf("  %s%slogits rel %.3g (worst position %.3g), argmax mismatches %d of %d\n", bf16 ? gemm : "",
               bf16 ? " GEMM: " : "", rel, worst, mism, NS * SL);
        if (bf16) {
            /* Both tensor-core modes are held to 1e-2 and the argmax: on the
             * fixture (H200) tf32 measured 2.3e-3 and 5.5e-3, bf16 2.6e-4,
             * 2.0e-3 and 7.6e-3 across builds that changed only the order of
             * sums; each time most of the error is one position's (5-14 %,
             * consistent with a near tie of the router's top-k flipping
             * there), so a tighter bound would test the routing's ties, not
             * the GEMMs. */
            TU_CHECKF(rel <= 1e-2 && rel > 1e-5, "rel %g", rel);
            TU_CHECKF(mism <= NS * SL / 200, "argmax mismatches %d", mism);
        } else {
            TU_CHECKF(rel <= 1e-5, "rel %g", rel);
            TU_CHECK(mism == 0);
        }
    }
out:
    free(tok);
    free(lc);
    free(lg);
    qt_model_free(m);
}

TU_TEST(cuda_forward_fixture) { forward_fixture(NULL, NULL); }
TU_TEST(cuda_forward_tf32_gemm) { forward_fixture("tf32", NULL); }
TU_TEST(cuda_forward_bf16_gemm) { forward_fixture("bf16", NULL); }
/* the attention GEMMs in chunks of 5 (sequence, head) pairs, the last one short */
TU_TEST(cuda_forward_bf16_attn_chunks) { forward_fixture("bf16", "5"); }

/* Per-token activation fake-quant: the GPU kernel against qt_fwd_act_quant. */
TU_TEST(cuda_act_quant) {
    enum { N = 37, C = 1000 };
    float *a = malloc(sizeof(float) * N * C), *b = malloc(sizeof(float) * N * C);
    TU_CHECK(a && b);
    if (!a || !b) { free(a); free(b); return; }
    for (int mode = QT_FWD_ACT_INT8_TOK; mode <= QT_FWD_ACT_GGML_F16; mode++) {
        for (int i = 0; i < N * C; i++) a[i] = b[i] = (float)((urand() - 0.5) * (i % 7 == 0 ? 40 : 3));
        for (int j = 0; j < C; j++) a[3 * C + j] = b[3 * C + j] = 0.0f;   /* an all-zero row */
        qt_fwd_act_quant((enum qt_fwd_act)mode, a, N, C);
        qt_err err;
        int rc = qt_cuda_act_quant(mode, b, N, C, &err);
        if (rc != QT_OK) printf("  %s\n", err.msg);
        TU_CHECK(rc == QT_OK);
        int diff = 0, first = -1;
        for (int i = 0; i < N * C; i++)
            if (memcmp(&a[i], &b[i], 4)) { diff++; if (first < 0) first = i; }
        if (diff) printf("  mode %d: %d of %d differ (first at %d: cpu %.9g gpu %.9g)\n", mode, diff, N * C, first, a[first], b[first]);
        TU_CHECK(diff == 0);
    }
    free(a);
    free(b);
}

/* CPU and GPU logits of the whole fixture, relative error and argmax
 * mismatches. */
static int fixture_logits(struct qt_model *m, const struct qt_fwd_hooks *hk, const int32_t *tok, int ns, int sl,
                          float *lc, float *lg, double *rel, int *mism, qt_err *err) {
    struct qt_fwd *f = NULL;
    int V = m->cfg.vocab;
    qt_backend_choose("cpu", NULL);
    int rc = qt_fwd_init(m, hk, &f, err);
    if (rc == QT_OK) rc = qt_fwd_run(f, tok, ns, sl, lc, err);
    qt_fwd_free(f);
    f = NULL;
    qt_backend_choose("cuda", NULL);
    if (rc == QT_OK) rc = qt_fwd_init(m, hk, &f, err);
    if (rc == QT_OK) rc = qt_fwd_run(f, tok, ns, sl, lg, err);
    qt_fwd_free(f);
    qt_backend_choose("cpu", NULL);
    if (rc != QT_OK) return rc;
    double e2 = 0, r2 = 0;
    *mism = 0;
    for (int t = 0; t < ns * sl; t++) {
        const float *a = lc + (size_t)t * V, *b = lg + (size_t)t * V;
        int ia = 0, ib = 0;
        for (int v = 0; v < V; v++) {
            double d = (double)a[v] - b[v];
            e2 += d * d;
            r2 += (double)a[v] * a[v];
            if (a[v] > a[ia]) ia = v;
            if (b[v] > b[ib]) ib = v;
        }
        *mism += ia != ib;
    }
    *rel = sqrt(e2 / r2);
    return QT_OK;
}

/* The quantized forward (weights through qplan's hooks, dequantized on the
 * GPU): weight-only schemes give the CPU's logits to 1e-5.  Dynamic
 * activation schemes are not stable under summation order: a last-bit
 * change of a GEMM output moves an activation across a rounding edge (one
 * fp8 / int8 step) and that difference grows through the layers.  On the
 * CPU alone, weights times 1 + u, u uniform in +-5e-7 (which moves W4A16's
 * logits by 5e-7, what cuBLAS's summation order does), move FP8_DYNAMIC's
 * logits by 1.4e-2 and single layers by up to 1.4e-3, W8A8's by 6.9e-3 and
 * 7e-4 (3 argmax changes in 128; docs/cuda-notes.md).  So these two are
 * checked one layer at a time from the same input within 5e-3, and
 * whole-model logits within 5e-2 with the same argmax at >= 90% of
 * positions; the activation kernel itself is bit for bit (cuda_act_quant). */
TU_TEST(cuda_forward_quantized) {
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) {
        TU_CHECK(0);
        return;
    }
    enum { NS = 2, SL = 64 };
    int V = m->cfg.vocab, H = m->cfg.hidden;
    int32_t tok[NS * SL];
    for (int i = 0; i < NS * SL; i++) tok[i] = (int32_t)(urand() * V);
    float *lc = malloc(sizeof(float) * (size_t)NS * SL * V), *lg = malloc(sizeof(float) * (size_t)NS * SL * V);
    float *hc = malloc(sizeof(float) * (size_t)NS * SL * H), *hg = malloc(sizeof(float) * (size_t)NS * SL * H);
    static const char *const sc[] = {"W4A16", "int4-g32-asym", "fp8-b128", "nvfp4", "fp8-ch", "FP8_DYNAMIC", "W8A8"};
    for (size_t k = 0; k < sizeof sc / sizeof sc[0] && lc && lg && hc && hg; k++) {
        struct qt_qplan plan;
        int rc = qt_qplan_uniform(m, sc[k], &plan, &err);
        TU_CHECK(rc == QT_OK);
        if (rc != QT_OK) { printf("  %s\n", err.msg); continue; }
        struct qt_fwd_hooks hk = qt_qplan_hooks(&plan);
        int act = !strcmp(sc[k], "FP8_DYNAMIC") || !strcmp(sc[k], "W8A8");
        double rel = 0;
        int mism = 0;
        rc = fixture_logits(m, &hk, tok, NS, SL, lc, lg, &rel, &mism, &err);
        if (rc != QT_OK) printf("  %s: %s\n", sc[k], err.msg);
        TU_CHECK(rc == QT_OK);
        if (rc == QT_OK) {
            printf("  %s: logits rel %.3g, argmax mismatches %d of %d\n", sc[k], rel, mism, NS * SL);
            if (!act) TU_CHECKF(rel <= 1e-5, "%s rel %g", sc[k], rel);
            else TU_CHECKF(rel <= 5e-2 && mism * 10 <= NS * SL, "%s rel %g, %d mismatches", sc[k], rel, mism);
        }
        if (act && rc == QT_OK) {
            /* layer by layer from the CPU's states */
            struct qt_fwd *fc = NULL, *fg = NULL;
            qt_backend_choose("cpu", NULL);
            rc = qt_fwd_init(m, &hk, &fc, &err);
            qt_backend_choose("cuda", NULL);
            if (rc == QT_OK) rc = qt_fwd_init(m, &hk, &fg, &err);
            qt_backend_choose("cpu", NULL);
            if (rc == QT_OK) rc = qt_fwd_embed(fc, tok, NS * SL, hc, &err);
            double tol = 5e-3, worst = 0;
            for (int l = 0; rc == QT_OK && l < qt_fwd_n_layers(fc); l++) {
                memcpy(hg, hc, sizeof(float) * (size_t)NS * SL * H);
                rc = qt_fwd_layer(fc, l, hc, NS, SL, &err);
                if (rc == QT_OK) rc = qt_fwd_layer(fg, l, hg, NS, SL, &err);
                if (rc != QT_OK) break;
                double e2 = 0, r2 = 0;
                for (size_t i = 0; i < (size_t)NS * SL * H; i++) {
                    double d = (double)hc[i] - hg[i];
                    e2 += d * d;
                    r2 += (double)hc[i] * hc[i];
                }
                double lr = sqrt(e2 / r2);
                if (lr > worst) worst = lr;
            }
            qt_fwd_free(fc);
            qt_fwd_free(fg);
            if (rc != QT_OK) printf("  %s: %s\n", sc[k], err.msg);
            TU_CHECK(rc == QT_OK);
            printf("  %s: worst layer rel %.3g (bound %g)\n", sc[k], worst, tol);
            TU_CHECKF(worst <= tol, "%s layer rel %g", sc[k], worst);
        }
        qt_qplan_free(&plan);
    }
    free(lc);
    free(lg);
    free(hc);
    free(hg);
    qt_model_free(m);
}

/* The three ways the GPU forward can run give the CPU's logits: hidden
 * states resident (qt_fwd_run), hidden states through the host each layer
 * (qt_fwd_layer with h), and the routed experts one at a time instead of
 * the grouped GEMMs (QTUNE_CUDA_NO_GROUPED). */
TU_TEST(cuda_forward_paths) {
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) {
        TU_CHECK(0);
        return;
    }
    enum { NS = 2, SL = 96 };
    int V = m->cfg.vocab, H = m->cfg.hidden, n = NS * SL;
    int32_t tok[NS * SL];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)(urand() * V);
    float *lc = malloc(sizeof(float) * (size_t)n * V), *lg = malloc(sizeof(float) * (size_t)n * V);
    float *h = malloc(sizeof(float) * (size_t)n * H);
    TU_CHECK(lc && lg && h);
    struct qt_fwd *f = NULL;
    qt_backend_choose("cpu", NULL);
    int rc = lc && lg && h ? qt_fwd_init(m, NULL, &f, &err) : QT_ERR;
    if (rc == QT_OK) rc = qt_fwd_run(f, tok, NS, SL, lc, &err);
    qt_fwd_free(f);
    for (int way = 0; way < 3 && rc == QT_OK; way++) {
        f = NULL;
        if (way == 2) setenv("QTUNE_CUDA_NO_GROUPED", "1", 1);
        qt_backend_choose("cuda", NULL);
        rc = qt_fwd_init(m, NULL, &f, &err);
        if (rc == QT_OK) TU_CHECK(qt_fwd_resident(f));
        if (rc == QT_OK && way == 1) {
            rc = qt_fwd_embed(f, tok, n, h, &err);
            for (int l = 0; rc == QT_OK && l < qt_fwd_n_layers(f); l++) rc = qt_fwd_layer(f, l, h, NS, SL, &err);
            if (rc == QT_OK) rc = qt_fwd_final(f, h, n, lg, &err);
        } else if (rc == QT_OK) {
            rc = qt_fwd_run(f, tok, NS, SL, lg, &err);
        }
        qt_fwd_free(f);
        unsetenv("QTUNE_CUDA_NO_GROUPED");
        qt_backend_choose("cpu", NULL);
        if (rc != QT_OK) break;
        double e2 = 0, r2 = 0;
        for (size_t i = 0; i < (size_t)n * V; i++) {
            double d = (double)lc[i] - lg[i];
            e2 += d * d;
            r2 += (double)lc[i] * lc[i];
        }
        printf("  way %d (%s): logits rel %.3g\n", way, way == 0 ? "resident" : way == 1 ? "host states" : "per expert",
               sqrt(e2 / r2));
        TU_CHECKF(sqrt(e2 / r2) <= 1e-5, "way %d rel %g", way, sqrt(e2 / r2));
    }
    if (rc != QT_OK) printf("  %s\n", err.msg);
    TU_CHECK(rc == QT_OK);
    free(lc);
    free(lg);
    free(h);
    qt_model_free(m);
}

/* The KL kernel against the host's double-precision formulas (eval.c's
 * kl_rows) on the very logits it read: the base forward's and a W4A16
 * forward's, kept on the GPU and copied down. */
TU_TEST(cuda_kl) {
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) {
        TU_CHECK(0);
        return;
    }
    enum { NS = 2, SL = 80, FIRST = 40, PER = SL - FIRST, NP = NS * PER };
    int V = m->cfg.vocab, n = NS * SL;
    int32_t tok[NS * SL];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)(urand() * V);
    float *lb = malloc(sizeof(float) * (size_t)n * V), *lq = malloc(sizeof(float) * (size_t)n * V);
    double kl[NP], nb[NP], nq[NP], dp[NP];
    unsigned char same[NP];
    struct qt_qplan plan;
    int rc = lb && lq ? qt_qplan_uniform(m, "W4A16", &plan, &err) : QT_ERR;
    TU_CHECK(rc == QT_OK);
    if (rc != QT_OK) {
        free(lb); free(lq); qt_model_free(m);
        return;
    }
    struct qt_fwd_hooks hk = qt_qplan_hooks(&plan);
    struct qt_fwd *fb = NULL, *fq = NULL;
    qt_backend_choose("cuda", NULL);
    rc = qt_fwd_init(m, NULL, &fb, &err);
    if (rc == QT_OK) rc = qt_fwd_init(m, &hk, &fq, &err);
    qt_backend_choose("cpu", NULL);
    if (rc == QT_OK) rc = qt_fwd_run(fb, tok, NS, SL, lb, &err);
    if (rc == QT_OK) rc = qt_fwd_run(fq, tok, NS, SL, lq, &err);
    struct qt_be_kl_out ko = {kl, nb, nq, dp, same};
    if (rc == QT_OK) rc = qt_fwd_kl(fq, fb, tok, NS, SL, FIRST, &ko, &err);
    if (rc != QT_OK) printf("  %s\n", err.msg);
    TU_CHECK(rc == QT_OK);
    double worst = 0, mean = 0;
    int bad = 0;
    for (int r = 0; rc == QT_OK && r < NP; r++) {
        int s = r / PER, pos = FIRST + r % PER;
        const float *b = lb + (size_t)(s * SL + pos) * V, *q = lq + (size_t)(s * SL + pos) * V;
        int ab = 0, aq = 0;
        for (int v = 1; v < V; v++) {
            if (b[v] > b[ab]) ab = v;
            if (q[v] > q[aq]) aq = v;
        }
        double sb = 0, sq = 0, k = 0;
        for (int v = 0; v < V; v++) {
            sb += exp((double)b[v] - b[ab]);
            sq += exp((double)q[v] - q[aq]);
        }
        double Lb = b[ab] + log(sb), Lq = q[aq] + log(sq);
        for (int v = 0; v < V; v++) k += exp((double)b[v] - b[ab]) * (((double)b[v] - Lb) - ((double)q[v] - Lq));
        k /= sb;
        if (k < 0) k = 0;
        mean += k / NP;
        double d = fabs(k - kl[r]) / (fabs(k) + 1e-4);   /* relative, absolute near 0 */
        if (d > worst) worst = d;
        bad += same[r] != (ab == aq);
        if (pos + 1 < SL) {
            int t = tok[s * SL + pos + 1];
            bad += fabs(-((double)b[t] - Lb) - nb[r]) > 1e-9 || fabs(-((double)q[t] - Lq) - nq[r]) > 1e-9;
            bad += fabs(exp((double)q[t] - Lq) - exp((double)b[t] - Lb) - dp[r]) > 1e-9;
        } else {
            bad += !isnan(nb[r]) || !isnan(nq[r]) || !isnan(dp[r]);
        }
    }
    printf("  W4A16 mean KL %.6g, worst relative difference %.3g, %d other differences\n", mean, worst, bad);
    TU_CHECK(mean > 0);
    TU_CHECKF(worst <= 1e-9, "KL rel %g", worst);
    TU_CHECK(bad == 0);
    qt_fwd_free(fb);
    qt_fwd_free(fq);
    qt_qplan_free(&plan);
    free(lb);
    free(lq);
    qt_model_free(m);
}

/* One batch of GPTQ on the GPU (float32, the experts of a layer at once)
 * against engine/algo/gptq.c (double, matrix by matrix) on the same
 * matrices and Hessians: the scale grids bit for bit (both come from
 * round-to-nearest of the same weight), codes equal but for the rounding
 * ties float32 moves (≥ 97 %), output errors within 5 %, GPTQ below RTN.
 * Two sets (gate and up of each of three experts share a Hessian), a dead
 * input column, each actorder, int sym/asym group/channel and fp8. */
static void gptq_case(const char *scheme, enum qt_actorder ao, int64_t rows, int64_t C) {
    enum { N = 3, NS = 2 };
    struct qt_scheme s;
    qt_err err;
    TU_CHECK(qt_scheme_parse(scheme, &s, &err) == QT_OK);
    int64_t ntok = 4 * C;
    float *w[NS * N], *deq[NS * N];
    double *h[N];
    int64_t *perm[N];
    struct qt_qtensor q[NS * N];
    double oe[NS * N], re[NS * N];
    uint16_t *tmp = malloc(sizeof(uint16_t) * (size_t)(rows * C));
    float *x = malloc(sizeof(float) * (size_t)(ntok * C));
    memset(q, 0, sizeof q);
    for (int m = 0; m < N; m++) {
        h[m] = calloc((size_t)(C * C), sizeof(double));
        perm[m] = malloc(sizeof(int64_t) * (size_t)C);
        /* inputs with column scales spread over two decades; column 5 dead */
        for (int64_t t = 0; t < ntok; t++)
            for (int64_t j = 0; j < C; j++)
                x[t * C + j] = j == 5 ? 0.0f : (float)((urand() - 0.5) * (0.1 + 3.0 * (double)((j * 37 + m) % 29) / 29.0));
        for (int64_t t = 0; t < ntok; t++)
            for (int64_t a = 0; a < C; a++)
                for (int64_t b = a; b < C; b++) h[m][a * C + b] += (double)x[t * C + a] * x[t * C + b];
        for (int64_t a = 0; a < C; a++)
            for (int64_t b = 0; b < a; b++) h[m][a * C + b] = h[m][b * C + a];
        qt_gptq_order(h[m], C, s.strategy == QT_STRAT_BLOCK ? QT_ACTORDER_NONE : ao, perm[m], &err);
    }
    for (int j = 0; j < NS * N; j++) {
        w[j] = malloc(sizeof(float) * (size_t)(rows * C));
        deq[j] = malloc(sizeof(float) * (size_t)(rows * C));
        fill(w[j], tmp, rows, C);
    }
    struct qt_be_gptq_set sets[NS];
    for (int k = 0; k < NS; k++)
        sets[k] = (struct qt_be_gptq_set){.rows = rows, .s = &s, .wdtype = QT_DT_BF16, .w = (const float *const *)(w + k * N),
                                          .q = q + k * N, .deq = deq + k * N, .out_err = oe + k * N, .rtn_err = re + k * N};
    struct qt_be_gptq b = {.n = N, .cols = C, .h = (const double *const *)h,
                           .perm = ao != QT_ACTORDER_NONE && s.strategy != QT_STRAT_BLOCK ? (const int64_t *const *)perm : NULL,
                           .group_order = ao == QT_ACTORDER_GROUP && s.strategy != QT_STRAT_BLOCK, .block_size = 128, .damp = 0.01, .nsets = NS,
                           .sets = sets};
    int rc = qt_cuda_gptq_batch(&b, &err);
    TU_CHECKF(rc == QT_OK, "%s: %s", scheme, rc ? err.msg : "");
    for (int j = 0; rc == QT_OK && j < NS * N; j++) {
        struct qt_gptq_args a;
        qt_gptq_args_default(&a);
        a.actorder = ao;
        struct qt_qtensor cq;
        struct qt_gptq_stats st;
        float *cd = malloc(sizeof(float) * (size_t)(rows * C));
        TU_CHECK(qt_gptq_quantize(w[j], rows, C, h[j % N], &s, QT_DT_BF16, &a, NULL, &cq, NULL, cd, &st, &err) == QT_OK);
        int64_t ns = cq.srows * cq.scols, same = 0, sc_same = 0, z_same = 0;
        for (int64_t i = 0; i < rows * C; i++) same += cq.q[i] == q[j].q[i];
        for (int64_t i = 0; i < ns; i++) sc_same += memcmp(&cq.scale[i], &q[j].scale[i], 4) == 0;
        for (int64_t i = 0; cq.zero && i < ns; i++) z_same += cq.zero[i] == q[j].zero[i];
        double frac = (double)same / (double)(rows * C);
        if (j == 0)
            printf("  gptq %s actorder %d %lldx%lld: codes equal %.4f, out_err cpu %.5g cuda %.5g, rtn cpu %.5g cuda %.5g\n",
                   scheme, (int)ao, (long long)rows, (long long)C, frac, st.out_err, oe[j], st.rtn_err, re[j]);
        TU_CHECKF(q[j].srows == cq.srows && q[j].scols == cq.scols, "%s: grid", scheme);
        TU_CHECKF(sc_same == ns, "%s ao %d: %lld of %lld scales differ", scheme, (int)ao, (long long)(ns - sc_same), (long long)ns);
        TU_CHECKF(!cq.zero || z_same == ns, "%s: zero points differ", scheme);
        TU_CHECKF(frac >= 0.97, "%s ao %d matrix %d: codes equal %.4f", scheme, (int)ao, j, frac);
        TU_CHECKF(near_rel(oe[j], st.out_err, 0.05), "%s ao %d: out_err %g vs %g", scheme, (int)ao, oe[j], st.out_err);
        TU_CHECKF(near_rel(re[j], st.rtn_err, 1e-3), "%s: rtn_err %g vs %g", scheme, re[j], st.rtn_err);
        /* below RTN in the weight's own order (group actorder regroups the
         * columns, so on random data its grid may lose: the CPU's does too) */
        if (ao != QT_ACTORDER_GROUP) TU_CHECKF(oe[j] < re[j], "%s: GPTQ %g not below RTN %g", scheme, oe[j], re[j]);
        /* dead column: w' zero */
        for (int64_t r = 0; r < rows; r++) TU_CHECK(deq[j][r * C + 5] == 0.0f);
        qt_qtensor_free(&cq);
        free(cd);
    }
    for (int j = 0; j < NS * N; j++) {
        qt_qtensor_free(&q[j]);
        free(w[j]);
        free(deq[j]);
    }
    for (int m = 0; m < N; m++) {
        free(h[m]);
        free(perm[m]);
    }
    free(tmp);
    free(x);
}

TU_TEST(cuda_gptq_batch) {
    gptq_case("int4-g128-sym", QT_ACTORDER_NONE, 96, 256);
    gptq_case("int4-g128-sym", QT_ACTORDER_STATIC, 96, 256);
    gptq_case("int4-g64-asym", QT_ACTORDER_GROUP, 64, 256);
    gptq_case("int4-g64-asym", QT_ACTORDER_STATIC, 64, 256);
    gptq_case("int8-ch-sym", QT_ACTORDER_STATIC, 80, 192);
    gptq_case("int3-g128-sym", QT_ACTORDER_GROUP, 96, 384);
    gptq_case("fp8-ch", QT_ACTORDER_STATIC, 64, 256);
    gptq_case("fp8-b128", QT_ACTORDER_STATIC, 256, 256);
}

/* The calibrated pipeline's Hessian accumulators on the device (backend.h
 * hacc entries, through the qt_be_hacc_* dispatchers) against the host
 * reference accumulator fed the same rows: every entry within float32
 * summation order, the diagonal read alone equal to the full read's, a
 * dead input exactly 0, sums of accumulators exact; and a GPTQ batch that
 * reads the device sums (b->hacc) bit-identical to one given the same sums
 * read back to the host (b->h). */
static void hacc_case(int64_t C) {
    qt_err err;
    struct qt_backend *be = NULL;
    TU_CHECKF(qt_backend_open("cuda", &be, &err) == QT_OK, "%s", err.msg);
    if (!be) return;
    TU_CHECK(qt_be_hacc_offered(be));
    struct qt_hacc d, hst, pool;
    TU_CHECKF(qt_be_hacc_new(be, 1, C, &d, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(qt_be_hacc_new(be, 0, C, &hst, &err) == QT_OK);
    TU_CHECK(qt_be_hacc_new(be, 1, C, &pool, &err) == QT_OK);
    TU_CHECK(d.dev != NULL && hst.dev == NULL && hst.h != NULL);
    const int64_t ns[] = {100, 257, 1, 640};
    float *x = malloc(sizeof(float) * (size_t)(640 * C));
    for (int k = 0; k < 4; k++) {
        for (int64_t t = 0; t < ns[k]; t++)
            for (int64_t j = 0; j < C; j++)
                x[t * C + j] = j == 7 ? 0.0f : (float)((urand() - 0.5) * (0.2 + (double)(j % 13)));
        TU_CHECKF(qt_be_hacc_add(be, &d, x, ns[k], &err) == QT_OK, "%s", err.msg);
        TU_CHECK(qt_be_hacc_add(be, &hst, x, ns[k], &err) == QT_OK);
    }
    double *hd = malloc(sizeof(double) * (size_t)(C * C)), *hh = malloc(sizeof(double) * (size_t)(C * C));
    double *dg = malloc(sizeof(double) * (size_t)C), *hp = malloc(sizeof(double) * (size_t)(C * C));
    TU_CHECKF(qt_be_hacc_read(be, &d, hd, NULL, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(qt_be_hacc_read(be, &d, NULL, dg, &err) == QT_OK);
    TU_CHECK(qt_be_hacc_read(be, &hst, hh, NULL, &err) == QT_OK);
    double worst = 0;
    int64_t sym_bad = 0, diag_bad = 0;
    for (int64_t a = 0; a < C; a++)
        for (int64_t b = 0; b < C; b++) {
            double ref = hh[a * C + b], sc = sqrt(hh[a * C + a] * hh[b * C + b]);
            double r = sc > 0 ? fabs(hd[a * C + b] - ref) / sc : fabs(hd[a * C + b] - ref);
            if (r > worst) worst = r;
            sym_bad += hd[a * C + b] != hd[b * C + a];
        }
    for (int64_t j = 0; j < C; j++) diag_bad += memcmp(&dg[j], &hd[j * C + j], 8) != 0;
    printf("  hessian accumulator %lld: worst |device - host| / sqrt(h_aa h_bb) %.3g\n", (long long)C, worst);
    TU_CHECKF(worst <= 2e-6, "C %lld: %g", (long long)C, worst);
    TU_CHECK(sym_bad == 0);
    TU_CHECK(diag_bad == 0);
    TU_CHECK(hd[7 * C + 7] == 0.0 && hd[7 * C + 3] == 0.0 && hd[3 * C + 7] == 0.0);
    TU_CHECK(qt_be_hacc_addto(be, &pool, &d, &err) == QT_OK);
    TU_CHECK(qt_be_hacc_addto(be, &pool, &d, &err) == QT_OK);
    TU_CHECK(qt_be_hacc_addto(be, &pool, &hst, &err) == QT_ERR);   /* two places: refused */
    TU_CHECK(qt_be_hacc_read(be, &pool, hp, NULL, &err) == QT_OK);
    int64_t sum_bad = 0;
    for (int64_t i = 0; i < C * C; i++) sum_bad += hp[i] != 2.0 * hd[i];
    TU_CHECK(sum_bad == 0);
    /* GPTQ on the device sums against the same sums from the host */
    struct qt_scheme s;
    TU_CHECK(qt_scheme_parse("int4-g128-sym", &s, &err) == QT_OK);
    int64_t rows = 64;
    float *w = malloc(sizeof(float) * (size_t)(rows * C)), *dq[2];
    uint16_t *tmp = malloc(sizeof(uint16_t) * (size_t)(rows * C));
    fill(w, tmp, rows, C);
    struct qt_qtensor q[2];
    double oe[2], re[2];
    memset(q, 0, sizeof q);
    int64_t perm[4096];
    TU_CHECK(C <= 4096 && qt_gptq_order_diag(dg, C, QT_ACTORDER_STATIC, perm, &err) == QT_OK);
    const int64_t *pp[1] = {perm};
    for (int v = 0; v < 2; v++) {
        dq[v] = malloc(sizeof(float) * (size_t)(rows * C));
        const float *wl[1] = {w};
        float *dl[1] = {dq[v]};
        const double *hl[1] = {hd};
        const struct qt_hacc *al[1] = {&d};
        struct qt_be_gptq_set set = {.rows = rows, .s = &s, .wdtype = QT_DT_BF16, .w = wl, .q = &q[v], .deq = dl,
                                     .out_err = &oe[v], .rtn_err = &re[v]};
        struct qt_be_gptq b = {.n = 1, .cols = C, .h = v ? NULL : hl, .hacc = v ? al : NULL, .perm = pp,
                               .block_size = 128, .damp = 0.01, .nsets = 1, .sets = &set};
        TU_CHECKF(qt_cuda_gptq_batch(&b, &err) == QT_OK, "%s", err.msg);
    }
    TU_CHECK(memcmp(q[0].q, q[1].q, (size_t)(rows * C)) == 0);
    TU_CHECK(memcmp(q[0].scale, q[1].scale, sizeof(float) * (size_t)(q[0].srows * q[0].scols)) == 0);
    TU_CHECK(memcmp(dq[0], dq[1], sizeof(float) * (size_t)(rows * C)) == 0);
    TU_CHECK(oe[0] == oe[1] && re[0] == re[1] && oe[0] < re[0]);
    for (int64_t r = 0; r < rows; r++) TU_CHECK(dq[1][r * C + 7] == 0.0f);   /* the dead input */
    for (int v = 0; v < 2; v++) {
        qt_qtensor_free(&q[v]);
        free(dq[v]);
    }
    qt_be_hacc_free(be, &d);
    qt_be_hacc_free(be, &hst);
    qt_be_hacc_free(be, &pool);
    TU_CHECK(d.dev == NULL && d.cols == 0);
    free(w);
    free(tmp);
    free(x);
    free(hd);
    free(hh);
    free(dg);
    free(hp);
}

TU_TEST(cuda_hessian_acc) {
    hacc_case(256);
    hacc_case(1408);
}

int main(void) {
    struct qt_cuda_info info;
    qt_err err;
    if (qt_cuda_probe(&info, &err) != QT_OK) {
        printf("SKIP cuda: %s\n", err.msg);
        return 0;
    }
    printf("  device %s (sm_%d%d, %d SMs, %.1f GiB free)\n", info.name, info.cc_major, info.cc_minor, info.sms,
           (double)info.mem_free / 1073741824.0);
    /* the GPU's whole-tensor kernels are the bf16 arithmetic (--arith bf16;
     * under f32 the quantizer stays on the CPU reference) */
    qt_quant_set_arith(QT_ARITH_BF16);
    TU_RUN(cuda_quant_schemes_random_shapes);
    TU_RUN(cuda_quant_glm46_shapes);
    TU_RUN(cuda_forward_fixture);
    TU_RUN(cuda_forward_tf32_gemm);
    TU_RUN(cuda_forward_bf16_gemm);
    TU_RUN(cuda_forward_bf16_attn_chunks);
    TU_RUN(cuda_act_quant);
    TU_RUN(cuda_forward_quantized);
    TU_RUN(cuda_forward_paths);
    TU_RUN(cuda_kl);
    TU_RUN(cuda_gptq_batch);
    TU_RUN(cuda_hessian_acc);
    return TU_END();
}
