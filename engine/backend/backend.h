/* backend.h — the compute seam: every kernel the preview, the quantizer, the
 * writers, the forward pass and calibration run goes through one table of
 * function pointers, after ggml's backend interface (ggml-backend-impl.h:
 * struct ggml_backend_i).
 *
 * Layer: backend sits above base, quant and model (the CPU backend's element
 * kernels are quant's reference arithmetic) and below recipe, eval, algo, io
 * and daemon, which receive a backend (qt_fwd_open, the `be` field of their
 * params, or qt_backend_default()) instead of calling BLAS, SIMD intrinsics
 * or pthreads themselves.  The CPU backend owns the one thread pool of the
 * process (qt_pool_run / qt_parallel_for, pool.c).
 *
 * Rows: one row per backend, registered in backend.c: "cpu" (cpu.c, the
 * reference, always there) and "cuda" (cuda_be.c, a row over the C entry
 * points of engine/backend/cuda/cuda.h, listed when this qtune was built
 * with nvcc).  Which row computes is the process's choice (select.h:
 * --backend cpu|cuda|auto, QTUNE_BACKEND); qt_backend_default() returns it.
 *
 * Entries: an entry a backend does not offer is NULL, and the qt_be_*
 * dispatchers below run the CPU reference in its place (ggml's scheduler does
 * the same with supports_op).  That is only sound on host memory, so a
 * backend with a NULL kernel entry must declare QT_BE_HOST_MEMORY (the
 * registry checks it).  Two groups of entries are coarse on purpose: a
 * backend whose kernels work best on whole tensors (tensor_quant) or whole
 * decoder layers (fwd_*) offers those, and the callers hand it tensors and
 * layers instead of bands and building blocks.  The CUDA row is such a
 * backend today: its entry points take host memory and move it to the
 * device themselves.
 *
 * Memory: kernels take pointers in the backend's memory space: host memory
 * when the backend sets QT_BE_HOST_MEMORY (callers may pass mmap'd weights
 * and malloc'd buffers straight in), device pointers otherwise (buf_alloc,
 * upload, download).  Kernels may run asynchronously; sync waits for all of
 * them, and download implies it.  Scalar results (min/max, statistics) come
 * back to the host through the call itself.
 *
 * Numerics: the CPU backend is the reference.  Every other backend is tested
 * against it (tests/unit/test_backend.c): codes, scales and zero points equal
 * bit for bit, statistics within a stated tolerance (summation order may
 * differ on a GPU), forward building blocks within float32 rounding.
 *
 * Errors: entries that can fail return QT_OK or QT_ERR with err filled; they
 * never print and never exit. */
#ifndef QT_BACKEND_H
#define QT_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"
#include "model/model.h"
#include "quant/quant.h"
#include "quant/scheme.h"
#include "backend/fwdtypes.h"
#include "backend/gptqtypes.h"

struct qt_backend;

/* Capabilities a backend declares. */
enum {
    QT_BE_HOST_MEMORY = 1u << 0,    /* its memory is host memory: no upload needed */
};

struct qt_backend_info {
    const char *name;               /* "cpu", "cuda" */
    char device[256];               /* "x86-64 AVX2/FMA, 16 threads", "NVIDIA H200" */
    int64_t mem_total, mem_free;    /* bytes of the backend's memory; 0: unknown */
    int threads;                    /* host threads the backend uses */
    unsigned caps;                  /* QT_BE_* */
};

/* Per-token activation fake quantization of a Linear's input: int8 / fp8
 * dynamic (compressed-tensors), and what llama.cpp's CPU backend does to the
 * activations before a matmul with a weight of a given type (Q8_0 blocks of
 * 32, Q8_K blocks of 256, BF16 or F16 rounding).  Same values as enum
 * qt_fwd_act. */
enum qt_act_quant { QT_AQ_NONE, QT_AQ_INT8_TOK, QT_AQ_FP8_TOK, QT_AQ_GGML_Q8_0, QT_AQ_GGML_Q8_K,
                    QT_AQ_GGML_BF16, QT_AQ_GGML_F16 };

/* Routing of a sigmoid MoE router with a correction bias (DeepSeek-V3 /
 * GLM-4.5 style): scores s = sigmoid(logits); choice = s + bias; keep the
 * topk_group groups ranked by the sum of their two best choices; pick the
 * top_k experts by choice among those; weights are their s, normalized to
 * sum 1 (+1e-20) when norm_topk_prob, times routed_scaling. */
struct qt_route {
    int n_experts;                  /* E <= 1024 */
    int top_k;                      /* K <= E */
    int n_group, topk_group;        /* G <= 64 dividing E (<= 1: no grouping) */
    int norm_topk_prob;
    float routed_scaling;
};

/* ---- whole-layer forward (the coarse entries) ---------------------------- */

/* struct qt_be_layer, qt_be_fwd_cfg, qt_be_fwd_cb, qt_be_fwd_timing and
 * qt_be_kl_out: backend/fwdtypes.h (shared with the CUDA backend). */

/* ---- the table ----------------------------------------------------------- */

/* Every entry is required unless marked optional (NULL: the CPU reference
 * runs it, see the header comment). */
struct qt_backend_i {
    const char *name;

    /* ---- lifetime and device ---- */
    /* Fills out (name, device, memory, threads, caps). */
    int (*info)(struct qt_backend *be, struct qt_backend_info *out, qt_err *err);
    /* Releases what the backend holds (optional: NULL for static backends). */
    void (*free)(struct qt_backend *be);

    /* ---- buffers ---- */
    /* bytes of backend memory (aligned to 64), or NULL with err filled. */
    void *(*buf_alloc)(struct qt_backend *be, size_t bytes, qt_err *err);
    void (*buf_free)(struct qt_backend *be, void *p);
    /* Host src -> backend dst, and backend src -> host dst (bytes each). */
    int (*upload)(struct qt_backend *be, void *dst, const void *src, size_t bytes, qt_err *err);
    int (*download)(struct qt_backend *be, void *dst, const void *src, size_t bytes, qt_err *err);
    /* Waits until every kernel issued so far has finished. */
    int (*sync)(struct qt_backend *be, qt_err *err);

    /* ---- element kernels (quant.h states the arithmetic) ---- */
    /* out (n) float32 = x (n) of dtype xdt (BF16, F16 or F32), exactly. */
    int (*to_f32)(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *out, qt_err *err);
    /* Minimum and maximum of x (n), dtype xdt (F32 or BF16). */
    int (*minmax)(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *mn, float *mx,
                  qt_err *err);
    /* Error statistics of rows [row0, row0 + nrows) of c's tensor under
     * c->s, accumulated into *st band after band (st is not cleared).  x
     * (nrows, c->cols), dtype xdt (F32 or BF16), holds those rows; row0 is
     * a multiple of c->band; the tensor min/max are observed in c when
     * c->needs_global. */
    int (*quant_stats)(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt,
                       int64_t row0, int64_t nrows, struct qt_qstats *st, qt_err *err);
    /* Quantizes rows [row0, row0 + nrows) given as x (nrows, c->cols), dtype
     * xdt (F32 or BF16): codes into codes (nrows, cols) (may be NULL), their
     * scale cells (scales, zero points, scale codes) into q's whole-tensor
     * arrays (srows, scols) and q->global_scale when row0 is 0 (q may be
     * NULL), w' into deq (nrows, cols) (may be NULL).  Same row0 rule as
     * quant_stats; disjoint row ranges of one tensor may run at once. */
    int (*quantize)(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt, int64_t row0,
                    int64_t nrows, int8_t *codes, struct qt_qtensor *q, float *deq, qt_err *err);
    /* w' (nrows, q->cols) of rows [row0, row0 + nrows) from q's codes and
     * scales: equal as values to quantize's deq (an int code cannot carry
     * the sign of a zero w'). */
    int (*dequantize)(struct qt_backend *be, const struct qt_qtensor *q, int64_t row0, int64_t nrows, float *out,
                      qt_err *err);
    /* Optional, whole tensors: w (rows, cols) in host memory, BF16 bits when
     * xdt is BF16 else float32 holding values of wdtype; d (cols) or NULL;
     * global_amax as qt_quant_tensor.  Outputs, each optional: st (cleared
     * first), deq (rows, cols), q (laid out by the caller as
     * qt_quant_tensor lays it out).  Not for bf16 schemes. */
    int (*tensor_quant)(struct qt_backend *be, const void *w, enum qt_dtype xdt, int64_t rows, int64_t cols,
                        const struct qt_scheme *s, enum qt_dtype wdtype, float global_amax, const float *d,
                        struct qt_qstats *st, float *deq, struct qt_qtensor *q, qt_err *err);

    /* ---- dense algebra (float32, row-major) ---- */
    /* y (n, out) = x (n, in) W^T, W (out, in). */
    int (*gemm_nt)(struct qt_backend *be, const float *x, const float *w, float *y, int64_t n, int64_t out,
                   int64_t in, qt_err *err);
    /* c (in, in) = beta c + x^T x, x (n, in): the Gram matrix calibration
     * accumulates (GPTQ's Hessian). */
    int (*gram)(struct qt_backend *be, const float *x, int64_t n, int64_t in, float beta, float *c, qt_err *err);

    /* Upper triangle (j >= i) of c (in, in) = x^T x, x (n, in); the strictly
     * lower triangle is not written (calibrated algorithms' Hessians: half
     * the work of gram). */
    int (*gram_upper)(struct qt_backend *be, const float *x, int64_t n, int64_t in, float *c, qt_err *err);
    /* Double precision, row-major, no transposes: c (m, n) = alpha a (m, k)
     * b (k, n) + beta c, leading dimensions lda, ldb, ldc (GPTQ's updates). */
    int (*dgemm)(struct qt_backend *be, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                 const double *b, int64_t ldb, double beta, double *c, int64_t ldc, qt_err *err);
    /* a (n, n) symmetric positive definite, row-major -> a = U (n, n) upper
     * triangular with a^-1 = U^T U, strictly lower triangle zeroed (GPTQ's
     * Cholesky of the inverse Hessian).  QT_ERR saying which step failed
     * when a is not positive definite. */
    int (*chol_inv_upper)(struct qt_backend *be, double *a, int64_t n, qt_err *err);
    /* GPTQ of one batch of matrices (backend/gptqtypes.h: n Hessians, the
     * weight sets that read them), host memory in and out (optional: NULL,
     * and engine/algo/pipeline.c runs engine/algo/gptq.c matrix by matrix,
     * the reference).  A backend offers it when its batched float32 GPTQ
     * beats the reference's per-matrix double one by a wide margin (the
     * CUDA row: the experts of a layer at once). */
    int (*gptq)(struct qt_backend *be, const struct qt_be_gptq *b, qt_err *err);

    /* ---- Hessian accumulators in the backend's memory (optional, all four
     * or none; qt_be_hacc_* below keep them on the host when NULL) ----
     * The calibrated pipeline sums every observed Linear's Σ x xᵀ where its
     * GPTQ runs, so the sums never cross to the host (backend/gptqtypes.h
     * struct qt_hacc; a gptq batch takes them as b->hacc). */
    /* (cols, cols) doubles, zeroed; NULL with err filled. */
    void *(*hacc_new)(struct qt_backend *be, int64_t cols, qt_err *err);
    /* acc's upper triangle += that of x^T x, x host (n, cols) float32 (the
     * float32 products of the call summed into double, as the host path);
     * x NULL: acc += src (another accumulator of the same width). */
    int (*hacc_add)(struct qt_backend *be, void *acc, int64_t cols, const float *x, int64_t n, const void *src,
                    qt_err *err);
    /* To the host, each optional: h (cols, cols) whose upper triangle is
     * acc's (the lower is the caller's to fill), diag (cols). */
    int (*hacc_read)(struct qt_backend *be, const void *acc, int64_t cols, double *h, double *diag, qt_err *err);
    void (*hacc_free)(struct qt_backend *be, void *acc);

    /* ---- forward building blocks (float32) ---- */
    /* y (n, dim) = w (dim) * (x / sqrt(mean(x^2) + eps)), row by row (y may be x). */
    int (*rmsnorm)(struct qt_backend *be, const float *x, float *y, const float *w, int64_t n, int64_t dim,
                   float eps, qt_err *err);
    /* On x (ntok, nh * hd) in place: per-head RMSNorm with nw (hd) when nw
     * is not NULL, then NeoX rotary embedding of the first rot dims of each
     * head (pairs i, i + rot/2) at position token % seqlen with inv_freq
     * (rot/2). */
    int (*qk_norm_rope)(struct qt_backend *be, float *x, const float *nw, int64_t ntok, int nh, int hd, int rot,
                        const float *inv_freq, int seqlen, float eps, qt_err *err);
    /* Causal grouped-query attention: nseq sequences of T tokens; q, o
     * (nseq*T, nh*hd), k, v (nseq*T, nkv*hd); query head h reads kv head
     * h / (nh / nkv); softmax(q k^T / sqrt(hd)) v in float32. */
    int (*attention)(struct qt_backend *be, const float *q, const float *k, const float *v, float *o, int nseq,
                     int T, int nh, int nkv, int hd, qt_err *err);
    /* Router of n tokens: logits (n, E) (overwritten with the sigmoid
     * scores), bias (E) -> sel (n, K) expert ids, wt (n, K) weights. */
    int (*route)(struct qt_backend *be, float *logits, const float *bias, int64_t n, const struct qt_route *r,
                 int *sel, float *wt, qt_err *err);
    /* MoE expert GEMM inputs: xe (ne, dim) = rows tok (ne) of x (., dim). */
    int (*gather_rows)(struct qt_backend *be, const float *x, int64_t dim, const int64_t *tok, int64_t ne,
                       float *xe, qt_err *err);
    /* MoE expert GEMM outputs: y[tok[i]] += w[i] * ye[i] for i < ne (rows
     * of dim), in order of i. */
    int (*scatter_add_rows)(struct qt_backend *be, float *y, int64_t dim, const int64_t *tok, const float *w,
                            int64_t ne, const float *ye, qt_err *err);
    /* a (n) = silu(a) * b (SwiGLU's gate). */
    int (*silu_mul)(struct qt_backend *be, float *a, const float *b, int64_t n, qt_err *err);
    /* y (n) += x (n) (residual). */
    int (*add)(struct qt_backend *be, float *y, const float *x, int64_t n, qt_err *err);
    /* Per-token fake quantization of x (n, cols) in place. */
    int (*act_quant)(struct qt_backend *be, enum qt_act_quant a, float *x, int64_t n, int64_t cols, qt_err *err);

    /* ---- whole decoder layers (optional, all five or none) ---- */
    /* A forward state over model m (which outlives it); *out is opaque. */
    int (*fwd_init)(struct qt_backend *be, const struct qt_model *m, const struct qt_be_fwd_cfg *cfg,
                    const struct qt_be_fwd_cb *cb, void **out, qt_err *err);
    void (*fwd_free)(struct qt_backend *be, void *g);
    void (*fwd_set_cb)(struct qt_backend *be, void *g, const struct qt_be_fwd_cb *cb);
    /* One decoder layer in place on host h (nseq * seqlen, hidden). */
    int (*fwd_layer)(struct qt_backend *be, void *g, const struct qt_be_layer *L, float *h, int nseq, int seqlen,
                     qt_err *err);
    /* logits (ntok, vocab) = Linear head_ti (RMSNorm norm_ti (h (ntok, hidden))). */
    int (*fwd_final)(struct qt_backend *be, void *g, int norm_ti, int head_ti, const float *h, int64_t ntok,
                     float *logits, qt_err *err);
    /* Optional even with the above: the time split (zeros when NULL). */
    void (*fwd_stats)(struct qt_backend *be, void *g, struct qt_be_fwd_timing *t);

    /* ---- device-resident hidden states (optional, all four or none) ----
     * A backend that offers these keeps one (ntok, hidden) buffer of hidden
     * states on its device per forward state g: fwd_layer and fwd_final
     * with h == NULL work on it, so a whole forward moves only token ids up
     * and what the caller asks for down (eval's KL figures, not logits). */
    /* resident h (ntok, hidden) = embedding rows emb_ti of tokens (ntok),
     * ids already checked against the vocabulary. */
    int (*fwd_embed)(struct qt_backend *be, void *g, int emb_ti, const int32_t *tokens, int64_t ntok,
                     qt_err *err);
    /* to_host 0: resident h = host h (ntok, hidden); 1: host h = resident h. */
    int (*fwd_h)(struct qt_backend *be, void *g, float *h, int64_t ntok, int to_host, qt_err *err);
    /* logits (ntok, vocab) of resident rows [tok0, tok0 + ntok), kept on the
     * device in g (the KL's input) and copied to host logits when not NULL. */
    int (*fwd_final_at)(struct qt_backend *be, void *g, int norm_ti, int head_ti, int64_t tok0, int64_t ntok,
                        float *logits, qt_err *err);
    /* KL of the kept logits of gq against gb's (both nseq * ctx rows, vocab
     * columns), per position first..ctx-1 of each sequence; tokens (nseq *
     * ctx) for the next-token terms; results in out (host). */
    int (*fwd_kl)(struct qt_backend *be, void *gq, void *gb, const int32_t *tokens, int nseq, int ctx, int first,
                  const struct qt_be_kl_out *out, qt_err *err);
};

/* A backend instance: its table and its private state. */
struct qt_backend {
    const struct qt_backend_i *i;
    void *ctx;
};

/* ---- registry (backend.c) -------------------------------------------------- */

/* The CPU reference backend (a process-wide instance; never freed). */
struct qt_backend *qt_backend_cpu(void);

/* The CUDA row (cuda_be.c): 1 when this qtune was built with nvcc; the
 * process-wide instance after the select.h rules allow the device and it
 * opens (no driver, no device, a daemon that leaves the GPU to its children:
 * QT_ERR with the reason). */
int qt_backend_cuda_compiled(void);
int qt_backend_cuda_open(struct qt_backend **out, qt_err *err);

/* Rows of the registry: names of the backends compiled into this qtune,
 * "cpu" first (index 0); qt_backend_count() of them. */
int qt_backend_count(void);
const char *qt_backend_name(int i);

/* Opens row name ("cpu", "cuda"): the process-wide instance of that row
 * (never freed), or QT_ERR naming why (not compiled, no device, a table that
 * lacks a required entry).  Opening a device row touches the device: use the
 * select.h choice in processes that fork (it knows the daemon's rule). */
int qt_backend_open(const char *name, struct qt_backend **out, qt_err *err);

/* The backend of the process's choice (select.h: --backend, QTUNE_BACKEND,
 * auto): what engine code uses when its caller passed none.  Never NULL. */
struct qt_backend *qt_backend_default(void);

/* be, or qt_backend_default() when be is NULL. */
struct qt_backend *qt_backend_or_default(struct qt_backend *be);

/* The row's info (a zeroed info named after the table when info fails). */
void qt_backend_info_of(struct qt_backend *be, struct qt_backend_info *out);

/* ---- dispatchers ----------------------------------------------------------- */
/* Each calls be's entry, or the CPU reference's when be leaves it NULL; the
 * arguments are those of the entry of the same name. */
int qt_be_to_f32(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *out, qt_err *err);
int qt_be_minmax(struct qt_backend *be, const void *x, enum qt_dtype xdt, int64_t n, float *mn, float *mx,
                 qt_err *err);
int qt_be_quant_stats(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt,
                      int64_t row0, int64_t nrows, struct qt_qstats *st, qt_err *err);
int qt_be_quantize(struct qt_backend *be, const struct qt_qctx *c, const void *x, enum qt_dtype xdt, int64_t row0,
                   int64_t nrows, int8_t *codes, struct qt_qtensor *q, float *deq, qt_err *err);
int qt_be_dequantize(struct qt_backend *be, const struct qt_qtensor *q, int64_t row0, int64_t nrows, float *out,
                     qt_err *err);
int qt_be_gemm_nt(struct qt_backend *be, const float *x, const float *w, float *y, int64_t n, int64_t out,
                  int64_t in, qt_err *err);
int qt_be_gram(struct qt_backend *be, const float *x, int64_t n, int64_t in, float beta, float *c, qt_err *err);
int qt_be_gram_upper(struct qt_backend *be, const float *x, int64_t n, int64_t in, float *c, qt_err *err);
int qt_be_dgemm(struct qt_backend *be, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                const double *b, int64_t ldb, double beta, double *c, int64_t ldc, qt_err *err);
int qt_be_chol_inv_upper(struct qt_backend *be, double *a, int64_t n, qt_err *err);
int qt_be_rmsnorm(struct qt_backend *be, const float *x, float *y, const float *w, int64_t n, int64_t dim,
                  float eps, qt_err *err);
int qt_be_qk_norm_rope(struct qt_backend *be, float *x, const float *nw, int64_t ntok, int nh, int hd, int rot,
                       const float *inv_freq, int seqlen, float eps, qt_err *err);
int qt_be_attention(struct qt_backend *be, const float *q, const float *k, const float *v, float *o, int nseq,
                    int T, int nh, int nkv, int hd, qt_err *err);
int qt_be_route(struct qt_backend *be, float *logits, const float *bias, int64_t n, const struct qt_route *r,
                int *sel, float *wt, qt_err *err);
int qt_be_gather_rows(struct qt_backend *be, const float *x, int64_t dim, const int64_t *tok, int64_t ne,
                      float *xe, qt_err *err);
int qt_be_scatter_add_rows(struct qt_backend *be, float *y, int64_t dim, const int64_t *tok, const float *w,
                           int64_t ne, const float *ye, qt_err *err);
int qt_be_silu_mul(struct qt_backend *be, float *a, const float *b, int64_t n, qt_err *err);
int qt_be_add(struct qt_backend *be, float *y, const float *x, int64_t n, qt_err *err);
int qt_be_act_quant(struct qt_backend *be, enum qt_act_quant a, float *x, int64_t n, int64_t cols, qt_err *err);

/* Hessian accumulators: in be's memory when be offers the hacc entries and
 * on_backend is 1, else a host array (the reference: the same float32
 * products of one call summed into double).  a is zeroed by qt_be_hacc_new
 * and emptied by qt_be_hacc_free (safe on a zeroed a); the other calls take
 * the be that made a. */
int qt_be_hacc_new(struct qt_backend *be, int on_backend, int64_t cols, struct qt_hacc *a, qt_err *err);
/* The host accumulation both paths share: h (cols, cols) upper triangle +=
 * that of x^T x, x (n, cols) float32, the float32 products by be's
 * gram_upper into tmp (cols * cols floats), added in double on the pool's
 * threads. */
int qt_be_gram_acc_upper(struct qt_backend *be, double *h, int64_t cols, const float *x, int64_t n, float *tmp,
                         qt_err *err);
/* h (cols, cols): its strictly lower triangle = the upper one, on the
 * pool's threads. */
void qt_be_mirror_upper(double *h, int64_t cols);
/* 1 when be keeps accumulators in its own memory. */
int qt_be_hacc_offered(const struct qt_backend *be);
/* a += x^T x, x host (n, a->cols) float32. */
int qt_be_hacc_add(struct qt_backend *be, struct qt_hacc *a, const float *x, int64_t n, qt_err *err);
/* dst += src (same width, same place). */
int qt_be_hacc_addto(struct qt_backend *be, struct qt_hacc *dst, const struct qt_hacc *src, qt_err *err);
/* To the host, each optional: h (cols, cols) the full symmetric sum, diag (cols). */
int qt_be_hacc_read(struct qt_backend *be, const struct qt_hacc *a, double *h, double *diag, qt_err *err);
void qt_be_hacc_free(struct qt_backend *be, struct qt_hacc *a);

/* ---- whole-tensor helpers over the table ------------------------------------ */

/* 1 when be's tensor_quant is to be used now: be has one and it computes
 * the arithmetic mode in force (quant.h).  The CUDA kernels compute the
 * bf16 arithmetic only, so under f32 the CPU reference's band kernels run
 * instead (same codes as the GPU library path, CPU speed). */
int qt_be_whole_quant(struct qt_backend *be);

/* qt_quant_tensor on be (same contract; the same codes, scales and zero
 * points bit for bit): be's tensor_quant when it has one, else observe the
 * tensor min/max when the scheme needs them and quantize every band.  w and
 * out's arrays are host memory (free with qt_qtensor_free); a backend
 * without host memory gets w uploaded and its results downloaded.  A bf16
 * scheme runs qt_quant_tensor (which refuses it). */
int qt_backend_quant_tensor(struct qt_backend *be, const float *w, int64_t rows, int64_t cols,
                            const struct qt_scheme *s, enum qt_dtype wdtype, float global_amax,
                            struct qt_qtensor *out, float *deq, qt_err *err);

/* qt_quant_dequant on be: out (rows, cols) = w' (out may equal w). */
int qt_backend_quant_dequant(struct qt_backend *be, const float *w, int64_t rows, int64_t cols,
                             const struct qt_scheme *s, enum qt_dtype wdtype, float *out, qt_err *err);

/* ---- the thread pool (owned by the CPU backend, pool.c) --------------------- */

/* Runs fn(arg, i0, i1) over [0, n) split into `parts` static blocks
 * (block k is [n*k/parts, n*(k+1)/parts)), on the process's one pool of
 * qt_nthreads() threads; the caller runs blocks too and returns when all are
 * done.  Blocks run in any order on any thread; a caller that combines
 * per-block results in block order gets the same answer whatever the
 * thread count.  May be called from inside a block (nested calls never
 * deadlock: the caller works through its own blocks).  parts <= 0 means
 * qt_nthreads(); parts is capped at n. */
void qt_pool_run(int64_t n, int parts, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg);

/* qt_pool_run(n, min(qt_nthreads(), 64), fn, arg): the forward's loops. */
void qt_parallel_for(int64_t n, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg);

/* A job that runs beside its submitter: the blocks of qt_pool_run(n, parts,
 * fn, arg) start on the pool's workers and qt_pool_start returns at once
 * (the compressed-tensors writer quantizes on the pool while its own thread
 * writes).  qt_pool_wait runs any block no worker has claimed yet, waits
 * for the rest, and frees the handle.  Returns NULL, running nothing, when
 * no worker is idle to take it now (a single-threaded process, or every
 * worker busy): the caller then does the work itself, without counting on
 * concurrency. */
struct qt_pool_job;
struct qt_pool_job *qt_pool_start(int64_t n, int parts, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg);
void qt_pool_wait(struct qt_pool_job *job);

/* Workers of the pool (starts it): qt_nthreads(). */
int qt_pool_threads(void);

#endif
