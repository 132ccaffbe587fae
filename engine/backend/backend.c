/* backend.c — the registry (one row per compiled backend), the process
 * default, the dispatchers that stand the CPU reference in for a NULL entry,
 * and the whole-tensor helpers over the table. */
#include "backend/backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/select.h"

/* Rows: the CPU always; a device row is listed when its code is compiled
 * in (qt_backend_cuda_compiled: nvcc was found at build time).  A new
 * backend is one row here and one file beside this one. */
static int cpu_open(struct qt_backend **out, qt_err *err) {
    (void)err;
    *out = qt_backend_cpu();
    return QT_OK;
}

static int cpu_compiled(void) { return 1; }

struct reg {
    const char *name;
    int (*compiled)(void);
    int (*open)(struct qt_backend **out, qt_err *err);
};

static const struct reg regs[] = {
    {"cpu", cpu_compiled, cpu_open},
    {"cuda", qt_backend_cuda_compiled, qt_backend_cuda_open},
};
#define N_REGS (int)(sizeof regs / sizeof regs[0])

int qt_backend_count(void) {
    int n = 0;
    for (int i = 0; i < N_REGS; i++) n += regs[i].compiled();
    return n;
}

const char *qt_backend_name(int i) {
    for (int k = 0; k < N_REGS; k++)
        if (regs[k].compiled() && i-- == 0) return regs[k].name;
    return NULL;
}

static void names(char *buf, size_t n) {
    size_t l = 0;
    buf[0] = 0;
    for (int i = 0; i < qt_backend_count() && l < n; i++)
        l += (size_t)snprintf(buf + l, n - l, "%s%s", i ? ", " : "", qt_backend_name(i));
}

/* Every required entry present, and NULL kernels only on host memory (the
 * CPU stands in for them): a half-filled table would crash later. */
static int check_table(struct qt_backend *be, qt_err *err) {
    const struct qt_backend_i *t = be->i;
    const void *req[] = {
        (const void *)t->info, (const void *)t->buf_alloc, (const void *)t->buf_free, (const void *)t->upload,
        (const void *)t->download, (const void *)t->sync,
    };
    for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
        if (!req[k]) return qt_err_set(err, "backend %s: its table lacks buffer entry %zu", t->name, k);
    const void *kern[] = {
        (const void *)t->to_f32, (const void *)t->minmax, (const void *)t->quant_stats, (const void *)t->quantize,
        (const void *)t->dequantize, (const void *)t->gemm_nt, (const void *)t->gram, (const void *)t->gram_upper,
        (const void *)t->dgemm, (const void *)t->chol_inv_upper, (const void *)t->rmsnorm,
        (const void *)t->qk_norm_rope, (const void *)t->attention, (const void *)t->route,
        (const void *)t->gather_rows, (const void *)t->scatter_add_rows, (const void *)t->silu_mul,
        (const void *)t->add, (const void *)t->act_quant,
    };
    struct qt_backend_info in;
    if (t->info(be, &in, err) != QT_OK) return QT_ERR;
    for (size_t k = 0; k < sizeof kern / sizeof kern[0]; k++)
        if (!kern[k] && !(in.caps & QT_BE_HOST_MEMORY))
            return qt_err_set(err, "backend %s: kernel entry %zu is missing and its memory is not host memory",
                              t->name, k);
    int nf = !!t->fwd_init + !!t->fwd_free + !!t->fwd_set_cb + !!t->fwd_layer + !!t->fwd_final;
    if (nf != 0 && nf != 5) return qt_err_set(err, "backend %s: its whole-layer entries are incomplete", t->name);
    int nr = !!t->fwd_embed + !!t->fwd_h + !!t->fwd_final_at + !!t->fwd_kl;
    if (nr != 0 && (nr != 4 || nf != 5))
        return qt_err_set(err, "backend %s: its resident-state entries are incomplete", t->name);
    int nh = !!t->hacc_new + !!t->hacc_add + !!t->hacc_read + !!t->hacc_free;
    if (nh != 0 && nh != 4) return qt_err_set(err, "backend %s: its Hessian-accumulator entries are incomplete", t->name);
    return QT_OK;
}

int qt_backend_open(const char *name, struct qt_backend **out, qt_err *err) {
    *out = NULL;
    char list[256];
    names(list, sizeof list);
    for (int i = 0; i < N_REGS; i++) {
        if (!name || strcmp(name, regs[i].name) != 0 || !regs[i].compiled()) continue;
        if (regs[i].open(out, err) != QT_OK) return qt_err_prefix(err, "backend %s", regs[i].name);
        if (check_table(*out, err) != QT_OK) {
            *out = NULL;
            return QT_ERR;
        }
        return QT_OK;
    }
    return qt_err_set(err, "backend \"%s\": not compiled into this qtune (compiled: %s)", name ? name : "", list);
}

/* The CUDA row once opened and checked (the device stays open for the
 * process; a forked child is held to the CPU by select.c). */
static struct qt_backend *cuda_opened;
static pthread_mutex_t def_mu = PTHREAD_MUTEX_INITIALIZER;

struct qt_backend *qt_backend_default(void) {
    if (qt_backend_active() != QT_BACKEND_CUDA) return qt_backend_cpu();
    pthread_mutex_lock(&def_mu);
    struct qt_backend *be = cuda_opened;
    if (!be && qt_backend_open("cuda", &be, NULL) == QT_OK) cuda_opened = be;
    pthread_mutex_unlock(&def_mu);
    return be ? be : qt_backend_cpu();
}

struct qt_backend *qt_backend_or_default(struct qt_backend *be) { return be ? be : qt_backend_default(); }

void qt_backend_info_of(struct qt_backend *be, struct qt_backend_info *out) {
    if (be->i->info(be, out, NULL) != QT_OK) {
        memset(out, 0, sizeof *out);
        out->name = be->i->name;
    }
}

/* ---- dispatchers ----------------------------------------------------------- */

/* be's entry, or the CPU's when be leaves it NULL. */
#define DISPATCH(entry, ...)                                                                   \
    do {                                                                                       \
        struct qt_backend *b_ = be && be->i->entry ? be : qt_backend_cpu();                    \
        return b_->i->entry(b_, __VA_ARGS__);                                                  \
    } while (0)

int qt_be_to_f32(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *out, qt_err *err) {
    DISPATCH(to_f32, x, xdt, n, out, err);
}

int qt_be_minmax(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *mn, float *mx,
                 qt_err *err) {
    DISPATCH(minmax, x, xdt, n, mn, mx, err);
}

int qt_be_quant_stats(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt,
                      int64_t row0, int64_t nrows, struct qt_qstats *st, qt_err *err) {
    DISPATCH(quant_stats, c, x, xdt, row0, nrows, st, err);
}

int qt_be_quantize(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt, int64_t row0,
                   int64_t nrows, int8_t *codes, struct qt_qtensor *q, float *deq, qt_err *err) {
    DISPATCH(quantize, c, x, xdt, row0, nrows, codes, q, deq, err);
}

int qt_be_dequantize(struct qt_backend *be, const struct qt_qtensor *q, int64_t row0, int64_t nrows, float *out,
                     qt_err *err) {
    DISPATCH(dequantize, q, row0, nrows, out, err);
}

int qt_be_gemm_nt(struct qt_backend *be, const float *x, const float *w, float *y, int64_t n, int64_t out,
                  int64_t in, qt_err *err) {
    DISPATCH(gemm_nt, x, w, y, n, out, in, err);
}

int qt_be_gram(struct qt_backend *be, const float *x, int64_t n, int64_t in, float beta, float *c, qt_err *err) {
    DISPATCH(gram, x, n, in, beta, c, err);
}

int qt_be_gram_upper(struct qt_backend *be, const float *x, int64_t n, int64_t in, float *c, qt_err *err) {
    DISPATCH(gram_upper, x, n, in, c, err);
}

int qt_be_dgemm(struct qt_backend *be, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                const double *b, int64_t ldb, double beta, double *c, int64_t ldc, qt_err *err) {
    DISPATCH(dgemm, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, err);
}

int qt_be_chol_inv_upper(struct qt_backend *be, double *a, int64_t n, qt_err *err) {
    DISPATCH(chol_inv_upper, a, n, err);
}

int qt_be_rmsnorm(struct qt_backend *be, const float *x, float *y, const float *w, int64_t n, int64_t dim,
                  float eps, qt_err *err) {
    DISPATCH(rmsnorm, x, y, w, n, dim, eps, err);
}

int qt_be_qk_norm_rope(struct qt_backend *be, float *x, const float *nw, int64_t ntok, int nh, int hd, int rot,
                       const float *inv_freq, int seqlen, float eps, qt_err *err) {
    DISPATCH(qk_norm_rope, x, nw, ntok, nh, hd, rot, inv_freq, seqlen, eps, err);
}

int qt_be_attention(struct qt_backend *be, const float *q, const float *k, const float *v, float *o, int nseq,
                    int T, int nh, int nkv, int hd, qt_err *err) {
    DISPATCH(attention, q, k, v, o, nseq, T, nh, nkv, hd, err);
}

int qt_be_route(struct qt_backend *be, float *logits, const float *bias, int64_t n, const struct qt_route *r,
                int *sel, float *wt, qt_err *err) {
    DISPATCH(route, logits, bias, n, r, sel, wt, err);
}

int qt_be_gather_rows(struct qt_backend *be, const float *x, int64_t dim, const int64_t *tok, int64_t ne,
                      float *xe, qt_err *err) {
    DISPATCH(gather_rows, x, dim, tok, ne, xe, err);
}

int qt_be_scatter_add_rows(struct qt_backend *be, float *y, int64_t dim, const int64_t *tok, const float *w,
                           int64_t ne, const float *ye, qt_err *err) {
    DISPATCH(scatter_add_rows, y, dim, tok, w, ne, ye, err);
}

int qt_be_silu_mul(struct qt_backend *be, float *a, const float *b, int64_t n, qt_err *err) {
    DISPATCH(silu_mul, a, b, n, err);
}

int qt_be_add(struct qt_backend *be, float *y, const float *x, int64_t n, qt_err *err) { DISPATCH(add, y, x, n, err); }

int qt_be_act_quant(struct qt_backend *be, enum qt_act_quant a, float *x, int64_t n, int64_t cols, qt_err *err) {
    DISPATCH(act_quant, a, x, n, cols, err);
}

/* ---- Hessian accumulators ---- */

int qt_be_hacc_offered(const struct qt_backend *be) { return be && be->i->hacc_new; }

int qt_be_hacc_new(struct qt_backend *be, int on_backend, int64_t cols, struct qt_hacc *a, qt_err *err) {
    memset(a, 0, sizeof *a);
    if (cols < 1) return qt_err_set(err, "Hessian of %lld columns", (long long)cols);
    if (on_backend && qt_be_hacc_offered(be)) {
        a->dev = be->i->hacc_new(be, cols, err);
        if (!a->dev) return QT_ERR;
    } else {
        a->h = calloc((size_t)(cols * cols), sizeof(double));
        if (!a->h) return qt_err_set(err, "out of memory (a Hessian of %lld x %lld)", (long long)cols, (long long)cols);
    }
    a->cols = cols;
    return QT_OK;
}

struct hacc_sweep {
    double *dst;
    const double *src;
    const float *t;
    int64_t C;
};

static void hacc_upper_fn(void *arg, int64_t i0, int64_t i1) {
    const struct hacc_sweep *S = arg;
    for (int64_t i = i0; i < i1; i++) {
        const float *tr = S->t + i * S->C;
        double *hr = S->dst + i * S->C;
        for (int64_t j = i; j < S->C; j++) hr[j] += tr[j];
    }
}

int qt_be_gram_acc_upper(struct qt_backend *be, double *h, int64_t cols, const float *x, int64_t n, float *tmp,
                         qt_err *err) {
    if (n <= 0) return QT_OK;
    if (qt_be_gram_upper(be, x, n, cols, tmp, err) != QT_OK) return QT_ERR;
    struct hacc_sweep S = {.dst = h, .t = tmp, .C = cols};
    qt_parallel_for(cols, hacc_upper_fn, &S);
    return QT_OK;
}

int qt_be_hacc_add(struct qt_backend *be, struct qt_hacc *a, const float *x, int64_t n, qt_err *err) {
    int64_t C = a->cols;
    if (n <= 0) return QT_OK;
    if (a->dev) return be->i->hacc_add(be, a->dev, C, x, n, NULL, err);
    float *t = malloc(sizeof(float) * (size_t)(C * C));
    if (!t) return qt_err_set(err, "out of memory (a Hessian of %lld x %lld)", (long long)C, (long long)C);
    int rc = qt_be_gram_acc_upper(be, a->h, C, x, n, t, err);
    free(t);
    return rc;
}

static void hacc_addto_fn(void *arg, int64_t i0, int64_t i1) {
    const struct hacc_sweep *S = arg;
    for (int64_t i = i0; i < i1; i++) S->dst[i] += S->src[i];
}

static void hacc_mirror_fn(void *arg, int64_t a0, int64_t a1) {
    const struct hacc_sweep *S = arg;
    for (int64_t a = a0; a < a1; a++)
        for (int64_t b = a + 1; b < S->C; b++) S->dst[b * S->C + a] = S->dst[a * S->C + b];
}

void qt_be_mirror_upper(double *h, int64_t cols) {
    struct hacc_sweep S = {.dst = h, .C = cols};
    qt_parallel_for(cols, hacc_mirror_fn, &S);
}

int qt_be_hacc_addto(struct qt_backend *be, struct qt_hacc *dst, const struct qt_hacc *src, qt_err *err) {
    if (dst->cols != src->cols || !dst->dev != !src->dev)
        return qt_err_set(err, "Hessians of %lld and %lld columns, or in two places", (long long)dst->cols,
                          (long long)src->cols);
    if (dst->dev) return be->i->hacc_add(be, dst->dev, dst->cols, NULL, 0, src->dev, err);
    struct hacc_sweep S = {.dst = dst->h, .src = src->h};
    qt_parallel_for(dst->cols * dst->cols, hacc_addto_fn, &S);
    return QT_OK;
}

int qt_be_hacc_read(struct qt_backend *be, const struct qt_hacc *a, double *h, double *diag, qt_err *err) {
    int64_t C = a->cols;
    if (a->dev) {
        if (be->i->hacc_read(be, a->dev, C, h, diag, err) != QT_OK) return QT_ERR;
    } else {
        if (h) memcpy(h, a->h, sizeof(double) * (size_t)(C * C));
        for (int64_t j = 0; diag && j < C; j++) diag[j] = a->h[j * C + j];
    }
    if (h) qt_be_mirror_upper(h, C);
    return QT_OK;
}

void qt_be_hacc_free(struct qt_backend *be, struct qt_hacc *a) {
    if (a->dev && be && be->i->hacc_free) be->i->hacc_free(be, a->dev);
    free(a->h);
    memset(a, 0, sizeof *a);
}

/* ---- whole-tensor helpers ---------------------------------------------------- */

/* Observe (when the scheme needs it) and quantize every band of w, all in
 * be's memory; q and deq may be NULL. */
static int quant_on(struct qt_backend *be, const float *w, struct qt_qctx *c, struct qt_qtensor *q, float *deq,
                    qt_err *err) {
    if (c->needs_global) {
        if (qt_be_minmax(be, w, QT_DT_F32, c->rows * c->cols, &c->gmin, &c->gmax, err) != QT_OK) return QT_ERR;
        qt_qctx_finish_observe(c);
    }
    if (qt_be_quantize(be, c, w, QT_DT_F32, 0, c->rows, q ? q->q : NULL, q, deq, err) != QT_OK) return QT_ERR;
    if (q) q->global_scale = c->s.kind == QT_SCHEME_NVFP4 ? c->gs : 0.0f;
    return QT_OK;
}

/* The same on a backend with its own memory: w uploaded, q / deq brought
 * back (host arrays laid out by the caller). */
static int quant_device(struct qt_backend *be, const float *w, struct qt_qctx *c, struct qt_qtensor *q, float *deq,
                        qt_err *err) {
    size_t n = (size_t)(c->rows * c->cols), ns = q ? (size_t)(q->srows * q->scols) : 0;
    const struct qt_backend_i *I = be->i;
    struct qt_qtensor d;
    if (q) d = *q;
    else memset(&d, 0, sizeof d);
    float *dw = I->buf_alloc(be, n * sizeof(float), err);
    float *dd = deq ? I->buf_alloc(be, n * sizeof(float), err) : NULL;
    d.q = q ? I->buf_alloc(be, n, err) : NULL;
    d.scale = q ? I->buf_alloc(be, ns * sizeof(float), err) : NULL;
    d.zero = q && q->zero ? I->buf_alloc(be, ns, err) : NULL;
    d.scale_code = q && q->scale_code ? I->buf_alloc(be, ns, err) : NULL;
    int rc = QT_ERR;
    if (dw && (!deq || dd) && (!q || (d.q && d.scale && (!q->zero || d.zero) && (!q->scale_code || d.scale_code))) &&
        I->upload(be, dw, w, n * sizeof(float), err) == QT_OK &&
        quant_on(be, dw, c, q ? &d : NULL, dd, err) == QT_OK &&
        (!deq || I->download(be, deq, dd, n * sizeof(float), err) == QT_OK) &&
        (!q || (I->download(be, q->q, d.q, n, err) == QT_OK &&
                I->download(be, q->scale, d.scale, ns * sizeof(float), err) == QT_OK &&
                (!q->zero || I->download(be, q->zero, d.zero, ns, err) == QT_OK) &&
                (!q->scale_code || I->download(be, q->scale_code, d.scale_code, ns, err) == QT_OK)))) {
        if (q) q->global_scale = d.global_scale;
        rc = QT_OK;
    }
    void *bufs[] = {dw, dd, d.q, d.scale, d.zero, d.scale_code};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        if (bufs[k]) I->buf_free(be, bufs[k]);
    return rc;
}

static int quant_generic(struct qt_backend *be, const float *w, int64_t rows, int64_t cols,
                         const struct qt_scheme *s, enum qt_dtype wdtype, float global_amax, struct qt_qtensor *q,
                         float *deq, qt_err *err) {
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, wdtype, rows, cols, NULL, err) != QT_OK) return QT_ERR;
    c.global_amax = global_amax;
    struct qt_backend_info in;
    qt_backend_info_of(be, &in);
    if (!(in.caps & QT_BE_HOST_MEMORY)) return quant_device(be, w, &c, q, deq, err);
    if (deq != w) return quant_on(be, w, &c, q, deq, err);
    /* in place: bands read rows they have not written yet, except blocks */
    float *tmp = malloc((size_t)(rows * cols) * sizeof(float) + 1);
    if (!tmp) return qt_err_set(err, "quantize: out of memory");
    int rc = quant_on(be, w, &c, q, tmp, err);
    if (rc == QT_OK) memcpy(deq, tmp, (size_t)(rows * cols) * sizeof(float));
    free(tmp);
    return rc;
}

int qt_be_whole_quant(struct qt_backend *be) {
    be = qt_backend_or_default(be);
    return be->i->tensor_quant && qt_quant_arith() == QT_ARITH_BF16;
}

int qt_backend_quant_tensor(struct qt_backend *be, const float *w, int64_t rows, int64_t cols,
                            const struct qt_scheme *s, enum qt_dtype wdtype, float global_amax,
                            struct qt_qtensor *out, float *deq, qt_err *err) {
    be = qt_backend_or_default(be);
    if (s->kind == QT_SCHEME_BF16) return qt_quant_tensor(w, rows, cols, s, wdtype, global_amax, out, deq, err);
    if (qt_qtensor_init(out, s, wdtype, rows, cols, 1, err) != QT_OK) return QT_ERR;
    int rc = qt_be_whole_quant(be)
                 ? be->i->tensor_quant(be, w, QT_DT_F32, rows, cols, s, wdtype, global_amax, NULL, NULL, deq, out, err)
                 : quant_generic(be, w, rows, cols, s, wdtype, global_amax, out, deq, err);
    if (rc != QT_OK) qt_qtensor_free(out);
    return rc;
}

int qt_backend_quant_dequant(struct qt_backend *be, const float *w, int64_t rows, int64_t cols,
                             const struct qt_scheme *s, enum qt_dtype wdtype, float *out, qt_err *err) {
    be = qt_backend_or_default(be);
    if (s->kind == QT_SCHEME_BF16) return qt_quant_dequant(w, rows, cols, s, wdtype, out, err);
    /* a device reads its own copy of w: out may equal w */
    if (qt_be_whole_quant(be))
        return be->i->tensor_quant(be, w, QT_DT_F32, rows, cols, s, wdtype, 0.0f, NULL, NULL, out, NULL, err);
    return quant_generic(be, w, rows, cols, s, wdtype, 0.0f, NULL, out, err);
}
