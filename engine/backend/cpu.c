/* cpu.c — the CPU reference backend: host memory, OpenBLAS sgemm, quant's
 * element kernels (AVX2/FMA with runtime dispatch, bit-identical to the
 * portable path), and the forward building blocks (moved here from
 * eval/forward.c unchanged, so the figures the suite checks stay the same),
 * threaded on the one pool (pool.c).  Every other backend is tested against
 * this one.
 *
 * Threading: kernels split rows into qt_parallel_for's static blocks and run
 * single-threaded sgemm inside each block; OpenBLAS's own threads are set to
 * one on first use (its idle workers spin between calls and starve ours on
 * small machines).  Code that wants OpenBLAS threading sets it back itself. */
#include "backend/backend.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QT_HAVE_X86 1
#endif

/* ---- device -------------------------------------------------------------- */

static int cpu_info(struct qt_backend *be, struct qt_backend_info *out, qt_err *err) {
    (void)be;
    (void)err;
    memset(out, 0, sizeof *out);
    out->name = "cpu";
    out->threads = qt_nthreads();
    out->caps = QT_BE_HOST_MEMORY;
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0) out->mem_total = (int64_t)pages * psz;
    if (avail > 0 && psz > 0) out->mem_free = (int64_t)avail * psz;
    snprintf(out->device, sizeof out->device, "%s kernels, %d threads", qt_quant_isa_name(qt_quant_isa()), out->threads);
    return QT_OK;
}

/* ---- buffers ------------------------------------------------------------- */

static void *cpu_alloc(struct qt_backend *be, size_t bytes, qt_err *err) {
    (void)be;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
        qt_err_set(err, "cpu: out of memory (%zu bytes)", bytes);
        return NULL;
    }
    return p;
}

static void cpu_free(struct qt_backend *be, void *p) {
    (void)be;
    free(p);
}

static int cpu_copy(struct qt_backend *be, void *dst, const void *src, size_t bytes, qt_err *err) {
    (void)be;
    (void)err;
    if (dst != src && bytes) memmove(dst, src, bytes);
    return QT_OK;
}

static int cpu_sync(struct qt_backend *be, qt_err *err) {
    (void)be;
    (void)err;
    return QT_OK;
}

/* ---- element kernels ----------------------------------------------------- */

#ifdef QT_HAVE_X86
__attribute__((target("avx2"))) static void bf16_to_f32_avx2(const uint16_t *s, float *d, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(s + j));
        __m256i u = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(d + j, _mm256_castsi256_ps(u));
    }
    for (; j < n; j++) { uint16_t h; memcpy(&h, s + j, 2); d[j] = qt_bf16_to_f32(h); }
}
#endif

/* BF16 widening is a shift (AVX2 when quant's kernels use it). */
static int cpu_to_f32(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *out, qt_err *err) {
    (void)be;
    const uint16_t *h = x;
    switch (xdt) {
    case QT_DT_BF16:
#ifdef QT_HAVE_X86
        if (qt_quant_simd_active()) { bf16_to_f32_avx2(h, out, n); return QT_OK; }
#endif
        for (int64_t j = 0; j < n; j++) { uint16_t v; memcpy(&v, h + j, 2); out[j] = qt_bf16_to_f32(v); }
        return QT_OK;
    case QT_DT_F16:
        for (int64_t j = 0; j < n; j++) { uint16_t v; memcpy(&v, h + j, 2); out[j] = qt_f16_to_f32(v); }
        return QT_OK;
    case QT_DT_F32:
        if ((const void *)out != x) memmove(out, x, (size_t)n * sizeof(float));
        return QT_OK;
    default: return qt_err_set(err, "cpu: widening of %s", qt_dtype_name(xdt));
    }
}

static int cpu_minmax(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *mn, float *mx,
                      qt_err *err) {
    (void)be;
    if (xdt == QT_DT_BF16) qt_quant_minmax_bf16(x, n, mn, mx);
    else if (xdt == QT_DT_F32) qt_quant_minmax(x, n, mn, mx);
    else return qt_err_set(err, "cpu: minmax of %s", qt_dtype_name(xdt));
    return QT_OK;
}

/* Bands of rows one after another, each band's sums added in order: what the
 * preview's parallel parts did before the seam existed.  quant's kernels read
 * BF16 rows themselves; scratch (cols) serves importance statistics only. */
static int cpu_quant_stats(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt,
                           int64_t row0, int64_t nrows, struct qt_qstats *st, qt_err *err) {
    (void)be;
    if (xdt != QT_DT_BF16 && xdt != QT_DT_F32) return qt_err_set(err, "cpu: statistics of %s", qt_dtype_name(xdt));
    int bf = xdt == QT_DT_BF16;
    int64_t band = c->band, cols = c->cols;
    float *scratch = c->d ? malloc((size_t)cols * sizeof(float)) : NULL;
    if (c->d && !scratch) return qt_err_set(err, "cpu: out of memory");
    for (int64_t r = 0; r < nrows; r += band) {
        int64_t n = r + band > nrows ? nrows - r : band;
        const void *xr = bf ? (const void *)((const uint16_t *)x + r * cols) : (const void *)((const float *)x + r * cols);
        qt_quant_band(c, xr, bf, row0 + r, n, scratch, st, NULL, NULL, NULL);
    }
    free(scratch);
    return QT_OK;
}

/* Band after band (no scratch: it serves only importance statistics). */
static int cpu_quantize(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt, int64_t row0,
                        int64_t nrows, int8_t *codes, struct qt_qtensor *q, float *deq, qt_err *err) {
    (void)be;
    if (xdt != QT_DT_BF16 && xdt != QT_DT_F32) return qt_err_set(err, "cpu: quantize from %s", qt_dtype_name(xdt));
    int bf = xdt == QT_DT_BF16;
    int64_t band = c->band, cols = c->cols;
    for (int64_t r = 0; r < nrows; r += band) {
        int64_t n = r + band > nrows ? nrows - r : band;
        const void *xr = bf ? (const void *)((const uint16_t *)x + r * cols) : (const void *)((const float *)x + r * cols);
        qt_quant_band(c, xr, bf, row0 + r, n, NULL, NULL, deq ? deq + r * cols : NULL, codes ? codes + r * cols : NULL,
                      q);
    }
    if (q && row0 == 0) q->global_scale = c->s.kind == QT_SCHEME_NVFP4 ? c->gs : 0.0f;
    return QT_OK;
}

static int cpu_dequantize(struct qt_backend *be, const struct qt_qtensor *q, int64_t row0, int64_t nrows,
                          float *out, qt_err *err) {
    (void)be;
    (void)err;
    qt_quant_decode(q, row0, nrows, out);
    return QT_OK;
}

/* ---- dense algebra ------------------------------------------------------- */

/* Our blocks each run a single-threaded sgemm (cheap to check every call:
 * a benchmark may have raised OpenBLAS's threads in between). */
static void blas_one_thread(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

struct mm_arg {
    const float *x, *w;
    float *y;
    int64_t out, in;
};

static void mm_rows(void *p, int64_t r0, int64_t r1) {
    struct mm_arg *A = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)A->out, (int)A->in, 1.0f,
                A->x + r0 * A->in, (int)A->in, A->w, (int)A->in, 0.0f, A->y + r0 * A->out, (int)A->out);
}

/* Rows of x split over the pool, each block one single-threaded sgemm;
 * small products run inline (a thread costs more than they do). */
static int cpu_gemm_nt(struct qt_backend *be, const float *x, const float *w, float *y, int64_t n, int64_t out,
                       int64_t in, qt_err *err) {
    (void)be;
    (void)err;
    blas_one_thread();
    struct mm_arg A = {x, w, y, out, in};
    if (n * out * in < (1 << 20)) mm_rows(&A, 0, n);
    else qt_parallel_for(n, mm_rows, &A);
    return QT_OK;
}

static int cpu_gram(struct qt_backend *be, const float *x, int64_t n, int64_t in, float beta, float *c, qt_err *err) {
    (void)be;
    (void)err;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in, (int)in, (int)n, 1.0f, x, (int)in, x, (int)in,
                beta, c, (int)in);
    return QT_OK;
}

/* Rows [i0, i1) of the upper triangle of x^T x: out[i][j] for j >= i0 (the
 * diagonal block with syrk, the rest with one gemm; half of a full gemm). */
struct syrk_arg {
    const float *x;
    int64_t n, cols;
    float *out;
};

static void xtx_rows(void *p, int64_t i0, int64_t i1) {
    struct syrk_arg *A = p;
    int64_t C = A->cols, nb = i1 - i0;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)nb, (int)A->n, 1.0f, A->x + i0, (int)C, 0.0f,
                A->out + i0 * C + i0, (int)C);
    if (i1 < C)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nb, (int)(C - i1), (int)A->n, 1.0f, A->x + i0,
                    (int)C, A->x + i1, (int)C, 0.0f, A->out + i0 * C + i1, (int)C);
}

/* Row blocks of the triangle over the pool when the product is large. */
static int cpu_gram_upper(struct qt_backend *be, const float *x, int64_t n, int64_t in, float *c, qt_err *err) {
    (void)be;
    (void)err;
    struct syrk_arg A = {x, n, in, c};
    if (in * in * n < (1 << 24)) xtx_rows(&A, 0, in);
    else qt_parallel_for(in, xtx_rows, &A);
    return QT_OK;
}

static int cpu_dgemm(struct qt_backend *be, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                     int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, qt_err *err) {
    (void)be;
    (void)err;
    if (m <= 0 || n <= 0 || k <= 0) return QT_OK;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb,
                beta, c, (int)ldc);
    return QT_OK;
}

/* LAPACK, column-major.  A symmetric row-major matrix is its own transpose,
 * so 'L' on the column-major view works on the row-major upper triangle. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

static int cpu_chol_inv_upper(struct qt_backend *be, double *a, int64_t n, qt_err *err) {
    (void)be;
    if (n <= 0) return QT_OK;
    if (n > 1 << 20) return qt_err_set(err, "matrix of %lld columns is too large", (long long)n);
    int N = (int)n, info = 0;
    /* H = L Lᵀ (column-major lower = row-major upper) */
    dpotrf_("L", &N, a, &N, &info);
    if (info != 0) return qt_err_set(err, "Cholesky factorization failed (not positive definite, minor %d)", info);
    dpotri_("L", &N, a, &N, &info);   /* H⁻¹ in the same triangle */
    if (info != 0) return qt_err_set(err, "inverting the Cholesky factor failed (%d)", info);
    /* symmetrize: row-major upper holds H⁻¹; copy it into the lower triangle */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) a[j * n + i] = a[i * n + j];
    /* H⁻¹ = L' L'ᵀ (column-major lower) = Uᵀ U with U = L'ᵀ row-major upper */
    dpotrf_("L", &N, a, &N, &info);
    if (info != 0) return qt_err_set(err, "Cholesky factorization of the inverse failed (minor %d)", info);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) a[i * n + j] = 0;
    return QT_OK;
}

/* ---- forward building blocks --------------------------------------------- */

struct norm_arg {
    const float *x;
    float *y;
    const float *w;
    int64_t dim;
    float eps;
};

static void norm_rows(void *p, int64_t r0, int64_t r1) {
    struct norm_arg *A = p;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = A->x + r * A->dim;
        float *y = A->y + r * A->dim;
        double ss = 0;
        for (int64_t j = 0; j < A->dim; j++) ss += (double)x[j] * x[j];
        float var = (float)(ss / (double)A->dim);
        float inv = 1.0f / sqrtf(var + A->eps);
        for (int64_t j = 0; j < A->dim; j++) y[j] = A->w[j] * (x[j] * inv);
    }
}

/* Normalize in fp32, then multiply by the weight (as transformers does). */
static int cpu_rmsnorm(struct qt_backend *be, const float *x, float *y, const float *w, int64_t n, int64_t dim,
                       float eps, qt_err *err) {
    (void)be;
    (void)err;
    struct norm_arg A = {x, y, w, dim, eps};
    if (n * dim < 32768) norm_rows(&A, 0, n);
    else qt_parallel_for(n, norm_rows, &A);
    return QT_OK;
}

struct qkr_arg {
    float *x;
    const float *nw;                /* (hd) or NULL */
    const float *inv_freq;          /* (rot/2) */
    int nh, hd, rot, seqlen;
    float eps;
};

static void qkr_rows(void *p, int64_t r0, int64_t r1) {
    struct qkr_arg *A = p;
    int half = A->rot / 2, hd = A->hd;
    float cs[512], sn[512];
    for (int64_t r = r0; r < r1; r++) {
        int pos = (int)(r % A->seqlen);
        for (int i = 0; i < half && i < 512; i++) {
            float fr = (float)pos * A->inv_freq[i];
            cs[i] = cosf(fr);
            sn[i] = sinf(fr);
        }
        for (int h = 0; h < A->nh; h++) {
            float *v = A->x + r * (int64_t)A->nh * hd + (int64_t)h * hd;
            if (A->nw) norm_rows(&(struct norm_arg){v, v, A->nw, hd, A->eps}, 0, 1);
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

static int cpu_qk_norm_rope(struct qt_backend *be, float *x, const float *nw, int64_t ntok, int nh, int hd, int rot,
                            const float *inv_freq, int seqlen, float eps, qt_err *err) {
    (void)be;
    if (rot / 2 > 512 || rot > hd) return qt_err_set(err, "cpu: rotary dims %d outside what the kernel supports", rot);
    struct qkr_arg A = {x, nw, inv_freq, nh, hd, rot, seqlen, eps};
    qt_parallel_for(ntok, qkr_rows, &A);
    return QT_OK;
}

/* Causal GQA attention: (sequence, head) units spread over the pool; per
 * block of queries, scores S = Q K^T over the keys up to the block's end
 * (sgemm), masked softmax in fp32, then O = P V (sgemm). */
struct sm_arg {
    float *s;                       /* (rows, ld) scores -> probabilities */
    int ld, i0;                     /* query row r is position i0 + r */
    float scale;
};

static void softmax_rows(struct sm_arg *A, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        float *row = A->s + r * A->ld;
        int n = A->i0 + (int)r + 1;   /* keys 0..i visible */
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            row[j] *= A->scale;
            if (row[j] > mx) mx = row[j];
        }
        float sum = 0;
        for (int j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
        for (int j = n; j < A->ld; j++) row[j] = 0;
    }
}

enum { ATT_BLOCK = 128 };

struct att_arg {
    const float *q, *k, *v;         /* (ntok, nh*hd), (ntok, nkv*hd), (ntok, nkv*hd) */
    float *o;                       /* (ntok, nh*hd) */
    int nh, nkv, hd, T;
    int fail;
};

static void att_units(void *p, int64_t u0, int64_t u1) {
    struct att_arg *A = p;
    int T = A->T, hd = A->hd, nh = A->nh;
    int64_t qs = (int64_t)nh * hd, ks = (int64_t)A->nkv * hd;
    int B = T < ATT_BLOCK ? T : ATT_BLOCK;
    float *S = malloc(sizeof(float) * (size_t)B * (size_t)T);   /* (B, T) scores of a query block */
    if (!S) {
        A->fail = 1;
        return;
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t u = u0; u < u1; u++) {
        int64_t s = u / nh;
        int h = (int)(u % nh), kh = h / (nh / A->nkv);
        const float *Q = A->q + s * T * qs + (int64_t)h * hd;
        const float *K = A->k + s * T * ks + (int64_t)kh * hd;
        const float *V = A->v + s * T * ks + (int64_t)kh * hd;
        float *O = A->o + s * T * qs + (int64_t)h * hd;
        for (int i0 = 0; i0 < T; i0 += B) {
            int nb = T - i0 < B ? T - i0 : B, nk = i0 + nb;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, hd, 1.0f, Q + i0 * qs, (int)qs, K, (int)ks,
                        0.0f, S, nk);
            struct sm_arg sa = {S, nk, i0, scale};
            softmax_rows(&sa, 0, nb);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, hd, nk, 1.0f, S, nk, V, (int)ks, 0.0f,
                        O + i0 * qs, (int)qs);
        }
    }
    free(S);
}

static int cpu_attention(struct qt_backend *be, const float *q, const float *k, const float *v, float *o, int nseq,
                         int T, int nh, int nkv, int hd, qt_err *err) {
    (void)be;
    blas_one_thread();
    struct att_arg A = {q, k, v, o, nh, nkv, hd, T, 0};
    qt_parallel_for((int64_t)nseq * nh, att_units, &A);
    return A.fail ? qt_err_set(err, "out of memory") : QT_OK;
}

static int cpu_route(struct qt_backend *be, float *logits, const float *bias, int64_t n, const struct qt_route *rp,
                     int *sel, float *wt, qt_err *err) {
    (void)be;
    int E = rp->n_experts, K = rp->top_k;
    int G = rp->n_group > 0 ? rp->n_group : 1, TG = rp->topk_group > 0 ? rp->topk_group : G;
    if (E > 1024 || G > 64 || K > E || E % G != 0)
        return qt_err_set(err, "cpu: routing of %d experts in %d groups, top %d, is outside the kernel", E, G, K);
    int per = E / G;
    for (int64_t t = 0; t < n; t++) {
        float *s = logits + t * E;
        float ch[1024];
        int gmask[64];
        for (int e = 0; e < E; e++) {
            s[e] = 1.0f / (1.0f + expf(-s[e]));
            ch[e] = s[e] + bias[e];
        }
        /* group-limited routing: keep the topk_group groups by sum of top-2 */
        for (int g = 0; g < G; g++) gmask[g] = 1;
        if (G > 1 && TG < G) {
            float gs[64];
            for (int g = 0; g < G; g++) {
                float a = -INFINITY, b = -INFINITY;
                for (int e = g * per; e < (g + 1) * per; e++) {
                    if (ch[e] > a) { b = a; a = ch[e]; }
                    else if (ch[e] > b) b = ch[e];
                }
                gs[g] = a + b;
                gmask[g] = 0;
            }
            for (int k = 0; k < TG; k++) {
                int best = -1;
                for (int g = 0; g < G; g++)
                    if (!gmask[g] && (best < 0 || gs[g] > gs[best])) best = g;
                gmask[best] = 1;
            }
        }
        float sum = 0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                if (!gmask[e / per]) continue;
                int used = 0;
                for (int j = 0; j < k; j++) used |= sel[t * K + j] == e;
                if (!used && (best < 0 || ch[e] > ch[best])) best = e;
            }
            sel[t * K + k] = best;
            wt[t * K + k] = s[best];
            sum += s[best];
        }
        for (int k = 0; k < K; k++) {
            if (rp->norm_topk_prob) wt[t * K + k] /= sum + 1e-20f;
            wt[t * K + k] *= rp->routed_scaling;
        }
    }
    return QT_OK;
}

static int cpu_gather_rows(struct qt_backend *be, const float *x, int64_t dim, const int64_t *tok, int64_t ne,
                           float *xe, qt_err *err) {
    (void)be;
    (void)err;
    for (int64_t i = 0; i < ne; i++) memcpy(xe + i * dim, x + tok[i] * dim, sizeof(float) * (size_t)dim);
    return QT_OK;
}

static int cpu_scatter_add_rows(struct qt_backend *be, float *y, int64_t dim, const int64_t *tok, const float *w,
                                int64_t ne, const float *ye, qt_err *err) {
    (void)be;
    (void)err;
    for (int64_t i = 0; i < ne; i++) {
        float wi = w[i], *dst = y + tok[i] * dim;
        const float *src = ye + i * dim;
        for (int64_t j = 0; j < dim; j++) dst[j] += wi * src[j];
    }
    return QT_OK;
}

static int cpu_silu_mul(struct qt_backend *be, float *a, const float *b, int64_t n, qt_err *err) {
    (void)be;
    (void)err;
    for (int64_t i = 0; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
    return QT_OK;
}

static int cpu_add(struct qt_backend *be, float *y, const float *x, int64_t n, qt_err *err) {
    (void)be;
    (void)err;
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
    return QT_OK;
}

struct aq_arg {
    enum qt_act_quant a;
    float *x;
    int64_t cols;
};

/* llama.cpp's activation types (ggml-cpu quantize_row_q8_0 / q8_K, fp32 to
 * bf16/f16), applied and undone: the values its integer dot products see. */
static void ggml_act_row(enum qt_act_quant a, float *x, int64_t cols) {
    if (a == QT_AQ_GGML_BF16) {
        for (int64_t j = 0; j < cols; j++) x[j] = qt_bf16_to_f32(qt_f32_to_bf16(x[j]));
        return;
    }
    if (a == QT_AQ_GGML_F16) {
        for (int64_t j = 0; j < cols; j++) x[j] = qt_f16_to_f32(qt_f32_to_f16(x[j]));
        return;
    }
    const int64_t bs = a == QT_AQ_GGML_Q8_0 ? 32 : 256;
    for (int64_t b = 0; b + bs <= cols; b += bs) {
        float *v = x + b;
        float amax = 0, vmax = 0;
        for (int64_t j = 0; j < bs; j++)
            if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); vmax = v[j]; }
        if (a == QT_AQ_GGML_Q8_0) {
            /* d = amax/127 stored as f16; q = round(x * 127/amax), ties to even (the AVX path) */
            const float d = qt_f16_to_f32(qt_f32_to_f16(amax / 127.f)), id = amax != 0.0f ? 127.f / amax : 0.0f;
            for (int64_t j = 0; j < bs; j++) v[j] = nearbyintf(v[j] * id) * d;
        } else {
            if (!amax) { memset(v, 0, (size_t)bs * sizeof *v); continue; }
            const float is = -127.f / vmax, d = 1 / is;
            for (int64_t j = 0; j < bs; j++) {
                float q = nearbyintf(is * v[j]);
                v[j] = (q > 127 ? 127 : q) * d;
            }
        }
    }
}

static void aq_rows(void *p, int64_t r0, int64_t r1) {
    struct aq_arg *A = p;
    for (int64_t r = r0; r < r1; r++) {
        float *x = A->x + r * A->cols;
        if (A->a >= QT_AQ_GGML_Q8_0) { ggml_act_row(A->a, x, A->cols); continue; }
        float amax = 0;
        for (int64_t j = 0; j < A->cols; j++) amax = fmaxf(amax, fabsf(x[j]));
        if (A->a == QT_AQ_INT8_TOK) {
            /* compressed-tensors sym int8: scale = amax / ((127 - -128) / 2) */
            float s = amax / 127.5f;
            if (s == 0) s = FLT_EPSILON;
            for (int64_t j = 0; j < A->cols; j++) {
                float q = nearbyintf(x[j] / s);
                q = q < -128 ? -128 : q > 127 ? 127 : q;
                x[j] = q * s;
            }
        } else if (A->a == QT_AQ_FP8_TOK) {
            float s = amax / 448.0f;
            if (s == 0) s = FLT_EPSILON;
            for (int64_t j = 0; j < A->cols; j++) {
                float t = x[j] / s;
                t = t < -448 ? -448 : t > 448 ? 448 : t;
                x[j] = qt_fp8e4m3_to_f32(qt_f32_to_fp8e4m3(t)) * s;
            }
        }
    }
}

static int cpu_act_quant(struct qt_backend *be, enum qt_act_quant a, float *x, int64_t n, int64_t cols, qt_err *err) {
    (void)be;
    (void)err;
    if (a == QT_AQ_NONE || n <= 0) return QT_OK;
    struct aq_arg A = {a, x, cols};
    if (n * cols < 65536) aq_rows(&A, 0, n);
    else qt_parallel_for(n, aq_rows, &A);
    return QT_OK;
}

/* ---- the table ----------------------------------------------------------- */

static const struct qt_backend_i cpu_i = {
    .name = "cpu",
    .info = cpu_info,
    .free = NULL,
    .buf_alloc = cpu_alloc,
    .buf_free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .sync = cpu_sync,
    .to_f32 = cpu_to_f32,
    .minmax = cpu_minmax,
    .quant_stats = cpu_quant_stats,
    .quantize = cpu_quantize,
    .dequantize = cpu_dequantize,
    .gemm_nt = cpu_gemm_nt,
    .gram = cpu_gram,
    .gram_upper = cpu_gram_upper,
    .dgemm = cpu_dgemm,
    .chol_inv_upper = cpu_chol_inv_upper,
    .rmsnorm = cpu_rmsnorm,
    .qk_norm_rope = cpu_qk_norm_rope,
    .attention = cpu_attention,
    .route = cpu_route,
    .gather_rows = cpu_gather_rows,
    .scatter_add_rows = cpu_scatter_add_rows,
    .silu_mul = cpu_silu_mul,
    .add = cpu_add,
    .act_quant = cpu_act_quant,
};

static struct qt_backend cpu_be = {&cpu_i, NULL};

struct qt_backend *qt_backend_cpu(void) { return &cpu_be; }
