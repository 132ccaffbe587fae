/* test_backend.c — every compiled backend against the CPU reference on the
 * tiny GLM-MoE fixture, plus the registry and the one thread pool.  A
 * backend that leaves an entry NULL is checked through the qt_be_*
 * dispatchers (the CPU stands in, backend.h); its own coarse entries
 * (tensor_quant, whole layers) are checked against the CPU directly.  A
 * backend compiled in but without a device here (CUDA on a machine without
 * a GPU) is reported skipped.
 *
 * Element kernels: codes, scales, zero points and scale codes equal byte for
 * byte; statistics within 1e-6 relative (a device may sum in another order;
 * the CPU against itself is exact); dequantize reproduces quantize's w'.
 * Dense and forward kernels: within float32 rounding of the reference, and
 * the CPU reference itself against naive double-precision loops. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/select.h"
#include "eval/forward.h"
#include "model/model.h"
#include "quant/quant.h"
#include "tu.h"

static struct qt_model *g_m;
static struct qt_backend *g_cpu;

/* Weight of the fixture as float32 (values of bf16) and its raw bf16. */
static float *weight(const char *name, int64_t *rows, int64_t *cols, const uint16_t **bf16) {
    int ti = qt_model_find_index(g_m, name);
    if (ti < 0) return NULL;
    const struct qt_tensor *t = &g_m->tensors[ti];
    *rows = qt_tensor_rows(t);
    *cols = qt_tensor_cols(t);
    float *w = malloc(sizeof(float) * (size_t)(*rows * *cols));
    qt_err e;
    if (!w || qt_tensor_read_f32(g_m, t, 0, *rows, w, &e) != QT_OK) { free(w); return NULL; }
    if (bf16) *bf16 = t->dtype == QT_DT_BF16 ? t->data : NULL;
    return w;
}

/* Backend copy of host data (n bytes); NULL on failure. */
static void *up(struct qt_backend *be, const void *host, size_t n) {
    qt_err e;
    void *p = be->i->buf_alloc(be, n, &e);
    if (p && be->i->upload(be, p, host, n, &e) != QT_OK) { be->i->buf_free(be, p); return NULL; }
    return p;
}

static int down(struct qt_backend *be, void *host, const void *dev, size_t n) {
    qt_err e;
    return be->i->download(be, host, dev, n, &e);
}

static double rel(double a, double b) { return fabs(a - b) / (fabs(b) > 1e-30 ? fabs(b) : 1.0); }

static const char *const schemes[] = {"int4-g128-sym", "int4-g32-asym", "int8-ch-sym", "fp8-ch", "fp8-b128",
                                       "nvfp4", "mxfp4", "int4-t-sym"};
#define N_SCHEMES (int)(sizeof schemes / sizeof schemes[0])

/* Quantization of a tensor on be: statistics, then codes/scales/w'. */
static int run_scheme(struct qt_backend *be, const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                      struct qt_qstats *st, struct qt_qtensor *qt, float *deq, float *dec) {
    qt_err e;
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, QT_DT_BF16, rows, cols, NULL, &e) != QT_OK) return QT_ERR;
    size_t nb = sizeof(float) * (size_t)(rows * cols);
    float *x = up(be, w, nb);
    if (!x) return QT_ERR;
    if (c.needs_global) {
        if (qt_be_minmax(be, x, QT_DT_F32, rows * cols, &c.gmin, &c.gmax, &e) != QT_OK) return QT_ERR;
        qt_qctx_finish_observe(&c);
    }
    memset(st, 0, sizeof *st);
    if (qt_be_quant_stats(be, &c, x, QT_DT_F32, 0, rows, st, &e) != QT_OK) return QT_ERR;
    /* codes into backend buffers shaped like qt's host arrays */
    struct qt_qtensor dq = *qt;
    size_t ns = (size_t)(qt->srows * qt->scols);
    dq.q = be->i->buf_alloc(be, (size_t)(rows * cols), &e);
    dq.scale = be->i->buf_alloc(be, ns * sizeof(float), &e);
    dq.zero = qt->zero ? be->i->buf_alloc(be, ns, &e) : NULL;
    dq.scale_code = qt->scale_code ? be->i->buf_alloc(be, ns, &e) : NULL;
    float *ddeq = be->i->buf_alloc(be, nb, &e), *ddec = be->i->buf_alloc(be, nb, &e);
    int rc = QT_ERR;
    if (!dq.q || !dq.scale || !ddeq || !ddec) goto out;
    if (qt_be_quantize(be, &c, x, QT_DT_F32, 0, rows, dq.q, &dq, ddeq, &e) != QT_OK) goto out;
    dq.global_scale = s->kind == QT_SCHEME_NVFP4 ? c.gs : 0.0f;
    if (qt_be_dequantize(be, &dq, 0, rows, ddec, &e) != QT_OK) goto out;
    if (down(be, qt->q, dq.q, (size_t)(rows * cols)) || down(be, qt->scale, dq.scale, ns * sizeof(float)) ||
        (qt->zero && down(be, qt->zero, dq.zero, ns)) || (qt->scale_code && down(be, qt->scale_code, dq.scale_code, ns)) ||
        down(be, deq, ddeq, nb) || down(be, dec, ddec, nb))
        goto out;
    qt->global_scale = dq.global_scale;
    rc = QT_OK;
out:
    be->i->buf_free(be, x);
    be->i->buf_free(be, dq.q);
    be->i->buf_free(be, dq.scale);
    if (dq.zero) be->i->buf_free(be, dq.zero);
    if (dq.scale_code) be->i->buf_free(be, dq.scale_code);
    be->i->buf_free(be, ddeq);
    be->i->buf_free(be, ddec);
    return rc;
}

/* Element kernels of backend be against qt_quant_tensor / qt_quant_error
 * (the reference the writer and preview used before the seam). */
static void check_elements(struct qt_backend *be) {
    int64_t rows, cols;
    float *w = weight("model.layers.1.mlp.experts.0.gate_proj.weight", &rows, &cols, NULL);
    TU_CHECK(w != NULL);
    if (!w) return;
    size_t n = (size_t)(rows * cols);
    float *deq = malloc(n * sizeof(float)), *dec = malloc(n * sizeof(float)), *rdeq = malloc(n * sizeof(float));
    for (int k = 0; k < N_SCHEMES; k++) {
        struct qt_scheme s;
        qt_err e;
        TU_CHECK(qt_scheme_parse(schemes[k], &s, &e) == QT_OK);
        struct qt_qtensor ref, got;
        TU_CHECK(qt_quant_tensor(w, rows, cols, &s, QT_DT_BF16, 0.0f, &ref, rdeq, &e) == QT_OK);
        struct qt_qstats rst;
        TU_CHECK(qt_quant_error(w, rows, cols, &s, QT_DT_BF16, NULL, &rst, &e) == QT_OK);
        got = ref;
        size_t ns = (size_t)(ref.srows * ref.scols);
        got.q = calloc(n, 1);
        got.scale = calloc(ns, sizeof(float));
        got.zero = ref.zero ? calloc(ns, 1) : NULL;
        got.scale_code = ref.scale_code ? calloc(ns, 1) : NULL;
        struct qt_qstats st;
        TU_CHECKF(run_scheme(be, w, rows, cols, &s, &st, &got, deq, dec) == QT_OK, "%s", schemes[k]);
        TU_CHECKF(!memcmp(got.q, ref.q, n), "%s codes", schemes[k]);
        TU_CHECKF(!memcmp(got.scale, ref.scale, ns * sizeof(float)), "%s scales", schemes[k]);
        TU_CHECKF(!ref.zero || !memcmp(got.zero, ref.zero, ns), "%s zero points", schemes[k]);
        TU_CHECKF(!ref.scale_code || !memcmp(got.scale_code, ref.scale_code, ns), "%s scale codes", schemes[k]);
        TU_CHECKF(got.global_scale == ref.global_scale, "%s global scale", schemes[k]);
        TU_CHECKF(!memcmp(deq, rdeq, n * sizeof(float)), "%s w'", schemes[k]);
        /* as values: an int code cannot carry the sign of a zero w' */
        int same = 1;
        for (size_t j = 0; j < n; j++) same &= dec[j] == rdeq[j];
        TU_CHECKF(same, "%s dequantize(codes) = w'", schemes[k]);
        double tol = be == g_cpu ? 0.0 : 1e-6;
        TU_CHECKF(rel(st.err2, rst.err2) <= tol && rel(st.w2, rst.w2) <= tol && st.max_abs == rst.max_abs &&
                      st.n == rst.n,
                  "%s statistics %.17g vs %.17g", schemes[k], st.err2, rst.err2);
        qt_qtensor_free(&ref);
        qt_qtensor_free(&got);
    }
    free(w);
    free(deq);
    free(dec);
    free(rdeq);
}

/* Statistics straight from the BF16 mmap equal those of the widened rows. */
static void check_bf16_stats(struct qt_backend *be) {
    int64_t rows, cols;
    const uint16_t *h = NULL;
    float *w = weight("model.layers.0.self_attn.q_proj.weight", &rows, &cols, &h);
    TU_CHECK(w && h);
    if (!w || !h) { free(w); return; }
    struct qt_scheme s;
    qt_err e;
    qt_scheme_parse("int4-g128-sym", &s, &e);
    struct qt_qctx c;
    qt_qctx_init(&c, &s, QT_DT_BF16, rows, cols, NULL, &e);
    void *x = up(be, h, (size_t)(rows * cols) * 2);
    struct qt_qstats a = {0}, b;
    TU_CHECK(qt_be_quant_stats(be, &c, x, QT_DT_BF16, 0, rows, &a, &e) == QT_OK);
    TU_CHECK(qt_quant_error(w, rows, cols, &s, QT_DT_BF16, NULL, &b, &e) == QT_OK);
    double tol = be == g_cpu ? 0.0 : 1e-6;
    TU_CHECKF(rel(a.err2, b.err2) <= tol && a.max_abs == b.max_abs, "%.17g vs %.17g", a.err2, b.err2);
    float mn, mx, rmn, rmx;
    TU_CHECK(qt_be_minmax(be, x, QT_DT_BF16, rows * cols, &mn, &mx, &e) == QT_OK);
    qt_quant_minmax(w, rows * cols, &rmn, &rmx);
    TU_CHECK(mn == rmn && mx == rmx);
    be->i->buf_free(be, x);
    free(w);
}

/* Pseudo-random floats in [-1, 1). */
static void fill(float *x, int64_t n, uint seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

/* max |a - b| / max |b| over n. */
static double maxrel(const float *a, const float *b, int64_t n) {
    double e = 0, m = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return e / m;
}

/* Runs kernel K on be with inputs uploaded and the output downloaded. */
static void check_dense(struct qt_backend *be) {
    enum { N = 96, IN = 256, OUT = 160 };
    float *x = malloc(sizeof(float) * N * IN), *w = malloc(sizeof(float) * OUT * IN);
    float *y = malloc(sizeof(float) * N * OUT), *ref = malloc(sizeof(float) * N * OUT);
    fill(x, N * IN, 1);
    fill(w, OUT * IN, 2);
    for (int r = 0; r < N; r++)
        for (int o = 0; o < OUT; o++) {
            double s = 0;
            for (int k = 0; k < IN; k++) s += (double)x[r * IN + k] * w[o * IN + k];
            ref[r * OUT + o] = (float)s;
        }
    qt_err e;
    float *dx = up(be, x, sizeof(float) * N * IN), *dw = up(be, w, sizeof(float) * OUT * IN);
    float *dy = be->i->buf_alloc(be, sizeof(float) * N * OUT, &e);
    TU_CHECK(qt_be_gemm_nt(be, dx, dw, dy, N, OUT, IN, &e) == QT_OK);
    down(be, y, dy, sizeof(float) * N * OUT);
    TU_CHECKF(maxrel(y, ref, N * OUT) < 1e-5, "gemm %g", maxrel(y, ref, N * OUT));
    /* Gram: c = x^T x */
    float *c = malloc(sizeof(float) * IN * IN), *cref = malloc(sizeof(float) * IN * IN);
    for (int a = 0; a < IN; a++)
        for (int b = 0; b < IN; b++) {
            double s = 0;
            for (int r = 0; r < N; r++) s += (double)x[r * IN + a] * x[r * IN + b];
            cref[a * IN + b] = (float)s;
        }
    float *dc = be->i->buf_alloc(be, sizeof(float) * IN * IN, &e);
    TU_CHECK(qt_be_gram(be, dx, N, IN, 0.0f, dc, &e) == QT_OK);
    down(be, c, dc, sizeof(float) * IN * IN);
    TU_CHECKF(maxrel(c, cref, IN * IN) < 1e-5, "gram %g", maxrel(c, cref, IN * IN));
    be->i->buf_free(be, dx);
    be->i->buf_free(be, dw);
    be->i->buf_free(be, dy);
    be->i->buf_free(be, dc);
    free(x); free(w); free(y); free(ref); free(c); free(cref);
}

/* Naive causal GQA attention in double: the reference for the CPU kernel. */
static void naive_attention(const float *q, const float *k, const float *v, float *o, int nseq, int T, int nh,
                            int nkv, int hd) {
    double *p = malloc(sizeof(double) * (size_t)T);
    for (int s = 0; s < nseq; s++)
        for (int h = 0; h < nh; h++) {
            int kh = h / (nh / nkv);
            for (int i = 0; i < T; i++) {
                const float *qi = q + ((size_t)(s * T + i) * nh + h) * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) {
                    const float *kj = k + ((size_t)(s * T + j) * nkv + kh) * hd;
                    double d = 0;
                    for (int t = 0; t < hd; t++) d += (double)qi[t] * kj[t];
                    p[j] = d / sqrt((double)hd);
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j <= i; j++) sum += p[j] = exp(p[j] - mx);
                float *oi = o + ((size_t)(s * T + i) * nh + h) * hd;
                for (int t = 0; t < hd; t++) {
                    double a = 0;
                    for (int j = 0; j <= i; j++) a += p[j] / sum * v[((size_t)(s * T + j) * nkv + kh) * hd + t];
                    oi[t] = (float)a;
                }
            }
        }
    free(p);
}

/* Forward building blocks on be against the CPU reference (and the CPU
 * attention and routing against naive loops). */
static void check_forward_blocks(struct qt_backend *be) {
    enum { NSEQ = 2, T = 150, NH = 4, NKV = 2, HD = 32, ROT = 16, H = 64, E = 16, K = 4 };
    const int n = NSEQ * T;
    qt_err e;
    /* attention */
    size_t qn = (size_t)n * NH * HD, kn = (size_t)n * NKV * HD;
    float *q = malloc(qn * 4), *k = malloc(kn * 4), *v = malloc(kn * 4), *o = malloc(qn * 4), *oref = malloc(qn * 4);
    fill(q, (int64_t)qn, 3);
    fill(k, (int64_t)kn, 4);
    fill(v, (int64_t)kn, 5);
    naive_attention(q, k, v, oref, NSEQ, T, NH, NKV, HD);
    float *dq = up(be, q, qn * 4), *dk = up(be, k, kn * 4), *dv = up(be, v, kn * 4);
    float *dout = be->i->buf_alloc(be, qn * 4, &e);
    TU_CHECK(qt_be_attention(be, dq, dk, dv, dout, NSEQ, T, NH, NKV, HD, &e) == QT_OK);
    down(be, o, dout, qn * 4);
    TU_CHECKF(maxrel(o, oref, (int64_t)qn) < 1e-5, "attention %g", maxrel(o, oref, (int64_t)qn));
    /* qk norm + rope against the CPU */
    float nw[HD], inv[ROT / 2];
    fill(nw, HD, 6);
    for (int i = 0; i < ROT / 2; i++) inv[i] = 1.0f / powf(10000.0f, (float)(2 * i) / ROT);
    float *r1 = malloc(qn * 4);
    memcpy(r1, q, qn * 4);
    qt_be_qk_norm_rope(g_cpu, r1, nw, n, NH, HD, ROT, inv, T, 1e-5f, &e);
    float *dnw = up(be, nw, sizeof nw), *dinv = up(be, inv, sizeof inv), *dr = up(be, q, qn * 4);
    TU_CHECK(qt_be_qk_norm_rope(be, dr, dnw, n, NH, HD, ROT, dinv, T, 1e-5f, &e) == QT_OK);
    down(be, o, dr, qn * 4);
    TU_CHECKF(maxrel(o, r1, (int64_t)qn) < 1e-6, "rope %g", maxrel(o, r1, (int64_t)qn));
    /* rmsnorm */
    float *x = malloc(sizeof(float) * n * H), *y = malloc(sizeof(float) * n * H), *yref = malloc(sizeof(float) * n * H);
    float wn[H];
    fill(x, n * H, 7);
    fill(wn, H, 8);
    for (int r = 0; r < n; r++) {
        double ss = 0;
        for (int j = 0; j < H; j++) ss += (double)x[r * H + j] * x[r * H + j];
        double inv2 = 1.0 / sqrt(ss / H + 1e-5);
        for (int j = 0; j < H; j++) yref[r * H + j] = (float)(wn[j] * x[r * H + j] * inv2);
    }
    float *dx = up(be, x, sizeof(float) * n * H), *dwn = up(be, wn, sizeof wn);
    float *dy = be->i->buf_alloc(be, sizeof(float) * n * H, &e);
    TU_CHECK(qt_be_rmsnorm(be, dx, dy, dwn, n, H, 1e-5f, &e) == QT_OK);
    down(be, y, dy, sizeof(float) * n * H);
    TU_CHECKF(maxrel(y, yref, n * H) < 1e-6, "rmsnorm %g", maxrel(y, yref, n * H));
    /* routing: sel and weights equal the CPU's */
    float *lg = malloc(sizeof(float) * n * E), *lg2 = malloc(sizeof(float) * n * E), bias[E];
    fill(lg, n * E, 9);
    fill(bias, E, 10);
    memcpy(lg2, lg, sizeof(float) * n * E);
    struct qt_route rp = {E, K, 4, 2, 1, 2.5f};
    int *sel = malloc(sizeof(int) * n * K), *sel2 = malloc(sizeof(int) * n * K);
    float *wt = malloc(sizeof(float) * n * K), *wt2 = malloc(sizeof(float) * n * K);
    qt_be_route(g_cpu, lg, bias, n, &rp, sel, wt, &e);
    float *dlg = up(be, lg2, sizeof(float) * n * E), *db = up(be, bias, sizeof bias);
    int *dsel = be->i->buf_alloc(be, sizeof(int) * n * K, &e);
    float *dwt = be->i->buf_alloc(be, sizeof(float) * n * K, &e);
    TU_CHECK(qt_be_route(be, dlg, db, n, &rp, dsel, dwt, &e) == QT_OK);
    down(be, sel2, dsel, sizeof(int) * n * K);
    down(be, wt2, dwt, sizeof(float) * n * K);
    TU_CHECK(!memcmp(sel, sel2, sizeof(int) * n * K));
    TU_CHECKF(maxrel(wt2, wt, n * K) < 1e-6, "route weights %g", maxrel(wt2, wt, n * K));
    /* the chosen experts sit in the 2 best groups and sum to routed_scaling */
    double wsum = 0;
    for (int kk = 0; kk < K; kk++) wsum += wt[kk];
    TU_NEAR(wsum, 2.5, 1e-5);
    /* gather, scatter-add, silu_mul, add */
    int64_t tok[5] = {3, 0, 7, 3, 12};
    float wts[5] = {0.5f, 1.0f, -2.0f, 0.25f, 1.5f};
    float *xe = malloc(sizeof(float) * 5 * H), *acc = calloc((size_t)n * H, sizeof(float)), *acc2 = malloc(sizeof(float) * n * H);
    int64_t *dtok = up(be, tok, sizeof tok);
    float *dxe = be->i->buf_alloc(be, sizeof(float) * 5 * H, &e), *dwts = up(be, wts, sizeof wts);
    TU_CHECK(qt_be_gather_rows(be, dx, H, dtok, 5, dxe, &e) == QT_OK);
    down(be, xe, dxe, sizeof(float) * 5 * H);
    TU_CHECK(!memcmp(xe + 3 * H, x + 3 * H, sizeof(float) * H) && !memcmp(xe + H, x, sizeof(float) * H));
    float *dacc = up(be, acc, sizeof(float) * n * H);
    TU_CHECK(qt_be_scatter_add_rows(be, dacc, H, dtok, dwts, 5, dxe, &e) == QT_OK);
    down(be, acc2, dacc, sizeof(float) * n * H);
    TU_NEAR(acc2[3 * H + 1], 0.75 * x[3 * H + 1], 1e-6);
    TU_NEAR(acc2[12 * H + 2], 1.5 * x[12 * H + 2], 1e-6);
    float a[8] = {-3, -1, -0.5f, 0, 0.5f, 1, 2, 8}, b[8] = {1, 2, 3, 4, 5, 6, 7, 8}, a2[8];
    float *da = up(be, a, sizeof a), *dbb = up(be, b, sizeof b);
    TU_CHECK(qt_be_silu_mul(be, da, dbb, 8, &e) == QT_OK);
    down(be, a2, da, sizeof a2);
    for (int i = 0; i < 8; i++) TU_NEAR(a2[i], a[i] / (1.0 + exp(-a[i])) * b[i], 1e-6 * fabs(b[i] * a[i]) + 1e-7);
    TU_CHECK(qt_be_add(be, da, dbb, 8, &e) == QT_OK);
    down(be, a2, da, sizeof a2);
    TU_NEAR(a2[7], 8.0 / (1.0 + exp(-8.0)) * 8 + 8, 1e-4);
    /* act quant: int8 per token keeps at most 256 levels a row */
    float *aq = malloc(sizeof(float) * n * H), *aq2 = malloc(sizeof(float) * n * H);
    memcpy(aq, x, sizeof(float) * n * H);
    qt_be_act_quant(g_cpu, QT_AQ_FP8_TOK, aq, n, H, &e);
    float *daq = up(be, x, sizeof(float) * n * H);
    TU_CHECK(qt_be_act_quant(be, QT_AQ_FP8_TOK, daq, n, H, &e) == QT_OK);
    down(be, aq2, daq, sizeof(float) * n * H);
    TU_CHECKF(maxrel(aq2, aq, n * H) < 1e-6, "act quant %g", maxrel(aq2, aq, n * H));
    void *bufs[] = {dq, dk, dv, dout, dnw, dinv, dr, dx, dwn, dy, dlg, db, dsel, dwt, dtok, dxe, dwts, dacc, da, dbb, daq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->i->buf_free(be, bufs[i]);
    free(q); free(k); free(v); free(o); free(oref); free(r1); free(x); free(y); free(yref);
    free(lg); free(lg2); free(sel); free(sel2); free(wt); free(wt2); free(xe); free(acc); free(acc2);
    free(aq); free(aq2);
}

/* The whole-tensor entry (a backend's own, or the helper over its bands)
 * against qt_quant_tensor: codes, scales and w' equal; from BF16 rows the
 * statistics agree with qt_quant_error's. */
static void check_tensor_quant(struct qt_backend *be) {
    int64_t rows, cols;
    const uint16_t *h = NULL;
    float *w = weight("model.layers.0.self_attn.q_proj.weight", &rows, &cols, &h);
    TU_CHECK(w != NULL);
    if (!w) return;
    size_t n = (size_t)(rows * cols);
    float *deq = malloc(n * sizeof(float)), *rdeq = malloc(n * sizeof(float)), *fq = malloc(n * sizeof(float));
    for (int k = 0; k < N_SCHEMES; k++) {
        struct qt_scheme s;
        qt_err e;
        TU_CHECK(qt_scheme_parse(schemes[k], &s, &e) == QT_OK);
        struct qt_qtensor ref, got;
        TU_CHECK(qt_quant_tensor(w, rows, cols, &s, QT_DT_BF16, 0.0f, &ref, rdeq, &e) == QT_OK);
        TU_CHECKF(qt_backend_quant_tensor(be, w, rows, cols, &s, QT_DT_BF16, 0.0f, &got, deq, &e) == QT_OK, "%s: %s",
                  schemes[k], e.msg);
        size_t ns = (size_t)(ref.srows * ref.scols);
        TU_CHECKF(got.srows == ref.srows && got.scols == ref.scols, "%s scale grid", schemes[k]);
        TU_CHECKF(!memcmp(got.q, ref.q, n) && !memcmp(got.scale, ref.scale, ns * sizeof(float)), "%s codes/scales",
                  schemes[k]);
        TU_CHECKF(!ref.zero || !memcmp(got.zero, ref.zero, ns), "%s zero points", schemes[k]);
        TU_CHECKF(!ref.scale_code || !memcmp(got.scale_code, ref.scale_code, ns), "%s scale codes", schemes[k]);
        TU_CHECKF(!memcmp(deq, rdeq, n * sizeof(float)), "%s w'", schemes[k]);
        /* fake quantization in place equals w' */
        memcpy(fq, w, n * sizeof(float));
        TU_CHECK(qt_backend_quant_dequant(be, fq, rows, cols, &s, QT_DT_BF16, fq, &e) == QT_OK);
        TU_CHECKF(!memcmp(fq, rdeq, n * sizeof(float)), "%s in-place w'", schemes[k]);
        if (be->i->tensor_quant && h) {
            struct qt_qstats a, b;
            TU_CHECK(be->i->tensor_quant(be, h, QT_DT_BF16, rows, cols, &s, QT_DT_BF16, 0.0f, NULL, &a, NULL, NULL,
                                         &e) == QT_OK);
            TU_CHECK(qt_quant_error(w, rows, cols, &s, QT_DT_BF16, NULL, &b, &e) == QT_OK);
            TU_CHECKF(rel(a.err2, b.err2) <= 1e-6 && rel(a.w2, b.w2) <= 1e-6 && a.max_abs == b.max_abs,
                      "%s statistics %.17g vs %.17g", schemes[k], a.err2, b.err2);
        }
        qt_qtensor_free(&ref);
        qt_qtensor_free(&got);
    }
    free(w);
    free(deq);
    free(rdeq);
    free(fq);
}

/* The forward on be (its whole layers when it has them) against the forward
 * on the CPU: logits within float32 rounding of a GPU's summation order;
 * bit for bit on the CPU itself. */
static void check_layers(struct qt_backend *be) {
    enum { NSEQ = 2, T = 24 };
    qt_err e;
    struct qt_fwd *fc = NULL, *fb = NULL;
    TU_CHECK(qt_fwd_open(g_cpu, g_m, NULL, &fc, &e) == QT_OK);
    TU_CHECKF(qt_fwd_open(be, g_m, NULL, &fb, &e) == QT_OK, "%s", e.msg);
    if (!fc || !fb) { qt_fwd_free(fc); qt_fwd_free(fb); return; }
    TU_CHECK(!strcmp(qt_fwd_backend(fb), be->i->name) && qt_fwd_backend_of(fb) == be);
    int32_t tok[NSEQ * T];
    for (int i = 0; i < NSEQ * T; i++) tok[i] = (int32_t)((i * 7919 + 13) % g_m->cfg.vocab);
    size_t nl = (size_t)NSEQ * T * (size_t)g_m->cfg.vocab;
    float *a = malloc(nl * sizeof(float)), *b = malloc(nl * sizeof(float));
    TU_CHECK(qt_fwd_run(fc, tok, NSEQ, T, a, &e) == QT_OK);
    TU_CHECK(qt_fwd_run(fb, tok, NSEQ, T, b, &e) == QT_OK);
    double tol = be == g_cpu ? 0.0 : 1e-4;
    TU_CHECKF(maxrel(b, a, (int64_t)nl) <= tol, "%s logits %g", be->i->name, maxrel(b, a, (int64_t)nl));
    free(a);
    free(b);
    qt_fwd_free(fc);
    qt_fwd_free(fb);
}

TU_TEST(every_backend_matches_cpu) {
    for (int i = 0; i < qt_backend_count(); i++) {
        struct qt_backend *be = NULL;
        qt_err e;
        if (qt_backend_open(qt_backend_name(i), &be, &e) != QT_OK) {
            /* compiled but no device here: say so, the CPU still runs */
            printf("  %s: %s (skipped)\n", qt_backend_name(i), e.msg);
            continue;
        }
        struct qt_backend_info in;
        TU_CHECK(be->i->info(be, &in, &e) == QT_OK);
        printf("  %s: %s\n", in.name, in.device);
        check_elements(be);
        check_bf16_stats(be);
        check_dense(be);
        check_forward_blocks(be);
        check_tensor_quant(be);
        check_layers(be);
        TU_CHECK(be->i->sync(be, &e) == QT_OK);
    }
}

TU_TEST(registry) {
    struct qt_backend *be = NULL;
    qt_err e;
    TU_CHECK(qt_backend_count() >= 1 && !strcmp(qt_backend_name(0), "cpu"));
    TU_CHECK(qt_backend_open("cpu", &be, &e) == QT_OK && be == qt_backend_cpu());
    TU_CHECK(qt_backend_open("tpu", &be, &e) == QT_ERR && be == NULL && strstr(e.msg, "compiled: cpu"));
    /* the CUDA row is listed exactly when it is compiled in */
    int listed = 0;
    for (int i = 0; i < qt_backend_count(); i++) listed |= !strcmp(qt_backend_name(i), "cuda");
    TU_CHECK(listed == qt_backend_cuda_compiled());
    TU_CHECK(qt_backend_name(qt_backend_count()) == NULL);
    /* the CPU table is complete: nothing of it falls back */
    const struct qt_backend_i *t = qt_backend_cpu()->i;
    TU_CHECK(t->to_f32 && t->minmax && t->quant_stats && t->quantize && t->dequantize && t->gemm_nt && t->gram &&
             t->rmsnorm && t->qk_norm_rope && t->attention && t->route && t->gather_rows && t->scatter_add_rows &&
             t->silu_mul && t->add && t->act_quant && !t->fwd_init);
    struct qt_backend_info in;
    TU_CHECK(qt_backend_cpu()->i->info(qt_backend_cpu(), &in, &e) == QT_OK);
    TU_CHECK((in.caps & QT_BE_HOST_MEMORY) && in.threads >= 1 && in.mem_total > 0);
    TU_CHECK(qt_backend_default() != NULL);
}

/* The pool: every index once, blocks as stated, nested submissions finish. */
struct pool_arg {
    int *hits;
    int64_t (*bounds)[2];
    int nested;
};

static void pool_inner(void *p, int64_t i0, int64_t i1) {
    int *hits = p;
    for (int64_t i = i0; i < i1; i++) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

static void pool_block(void *p, int64_t i0, int64_t i1) {
    struct pool_arg *A = p;
    for (int64_t i = i0; i < i1; i++) __atomic_fetch_add(&A->hits[i], 1, __ATOMIC_RELAXED);
    if (A->nested) {
        int inner[100] = {0};
        qt_pool_run(100, 7, pool_inner, inner);
        int ok = 1;
        for (int i = 0; i < 100; i++) ok &= inner[i] == 1;
        if (!ok) __atomic_fetch_add(&A->hits[0], 1000, __ATOMIC_RELAXED);
    }
}

static void pool_bounds(void *p, int64_t i0, int64_t i1) {
    struct pool_arg *A = p;
    /* block k of 5 over 1003 is [1003k/5, 1003(k+1)/5) */
    int64_t k = (i0 * 5 + 1002) / 1003;
    A->bounds[k][0] = i0;
    A->bounds[k][1] = i1;
}

TU_TEST(pool) {
    int hits[1003] = {0};
    struct pool_arg A = {hits, NULL, 0};
    qt_pool_run(1003, 13, pool_block, &A);
    int ok = 1;
    for (int i = 0; i < 1003; i++) ok &= hits[i] == 1;
    TU_CHECK(ok);
    int64_t b[5][2];
    struct pool_arg B = {NULL, b, 0};
    qt_pool_run(1003, 5, pool_bounds, &B);
    for (int k = 0; k < 5; k++) TU_CHECK(b[k][0] == 1003 * k / 5 && b[k][1] == 1003 * (k + 1) / 5);
    memset(hits, 0, sizeof hits);
    A.nested = 1;
    qt_pool_run(64, 64, pool_block, &A);
    ok = 1;
    for (int i = 0; i < 64; i++) ok &= hits[i] == 1;
    TU_CHECK(ok);
    TU_CHECK(qt_pool_threads() >= 1);
}

/* The device hello reports: the CPU's fields, its summary line, and the
 * forked probe's round trip (QTUNE_BACKEND=cpu: the CPU, whatever is
 * built). */
TU_TEST(device) {
    struct qt_backend_device dv;
    qt_backend_device_cpu(&dv);
    TU_CHECK(!strcmp(dv.backend, "cpu"));
    TU_CHECK(dv.name[0] != 0);
    TU_CHECK(dv.cores >= 1 && dv.threads >= 1);
    TU_CHECKF(dv.mem_total > 0 && dv.mem_free > 0 && dv.mem_free <= dv.mem_total, "%lld of %lld",
              (long long)dv.mem_free, (long long)dv.mem_total);
    char line[200];
    qt_backend_device_text(&dv, line, sizeof line);
    char want[64];
    snprintf(want, sizeof want, "cpu %d cores ", dv.cores);
    TU_CHECKF(!strncmp(line, want, strlen(want)) && strstr(line, " GiB free"), "%s", line);
    struct qt_backend_device cu = {"cuda", "NVIDIA H200", 132, 0, 9, 0, 149496004608LL, 150754820096LL};
    qt_backend_device_text(&cu, line, sizeof line);
    TU_CHECKF(!strcmp(line, "NVIDIA H200 139.2/140.4 GiB free"), "%s", line);
    setenv("QTUNE_BACKEND", "cpu", 1);
    int pid;
    int fd = qt_backend_probe_start(&pid);
    TU_CHECK(fd >= 0 && pid > 0);
    struct qt_backend_device got;
    memset(&got, 0, sizeof got);
    int r = 0;
    /* the probe's answer, waited for under a generous deadline (a loaded
     * machine), not a count of sleeps */
    for (double t0 = qt_now(); (r = qt_backend_probe_poll(fd, pid, &got)) == 0 && qt_now() - t0 < 300.0;)
        usleep(2000);
    unsetenv("QTUNE_BACKEND");
    TU_CHECKF(r == 1, "probe answered %d", r);
    TU_CHECK(!strcmp(got.backend, "cpu") && got.cores == dv.cores && !strcmp(got.name, dv.name));
}

int main(void) {
    qt_err e;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &e) != QT_OK) {
        printf("  %s\nFAIL open_fixture\n", e.msg);
        return 1;
    }
    g_cpu = qt_backend_cpu();
    TU_RUN(registry);
    TU_RUN(pool);
    TU_RUN(every_backend_matches_cpu);
    TU_RUN(device);
    qt_model_free(g_m);
    return TU_END();
}
