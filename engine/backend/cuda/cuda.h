/* cuda.h — the CUDA backend's C entry points (the .cu files beside it,
 * built with nvcc when it is found; engine/backend/cuda/none.c stands in when
 * it is not, answering every call with "built without CUDA").
 *
 * What runs on the GPU, each against the CPU code as its reference:
 *   - quantization (quant.cu): error statistics, codes, scales and zero
 *     points of every scheme, bit for bit what engine/quant/quant.c computes
 *     (the per-cell and per-element arithmetic is the same function, ported
 *     to device code; sums differ only in their order);
 *   - the glm4_moe decoder layer (fwd.cu): cuBLAS sgemm for every Linear,
 *     RMSNorm, partial NeoX RoPE, causal GQA attention without a score
 *     matrix (flash-style online softmax), sigmoid router with correction
 *     bias and top-k, the routed experts as grouped GEMMs over the tokens
 *     each received (bucketed on the GPU), shared expert; hidden states
 *     that stay on the GPU between layers, and the KL evaluation's
 *     log-softmax statistics over the full vocabulary.  Float32 throughout
 *     (cuBLAS default math: no TF32).
 *
 * Device memory comes from plain cudaMalloc (never managed memory).  One
 * device (0), one stream, one cuBLAS handle per process, created on first
 * use under a lock; the entry points are serialized by that lock, so callers
 * on several threads take turns.  Every failure is one line in err: "CUDA:
 * no driver …", "CUDA: no device …", "CUDA: out of GPU memory: … (asked N MiB,
 * M MiB free of T MiB)". */
#ifndef QT_BACKEND_CUDA_H
#define QT_BACKEND_CUDA_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "base/dtype.h"
#include "base/qt.h"
#include "model/model.h"
#include "quant/quant.h"
#include "quant/scheme.h"
#include "backend/fwdtypes.h"
#include "backend/gptqtypes.h"

/* 1 when this binary was built with the CUDA backend (nvcc found). */
int qt_cuda_compiled(void);

struct qt_cuda_info {
    char name[256];             /* "NVIDIA H200" */
    int cc_major, cc_minor;     /* compute capability */
    int sms;                    /* multiprocessors */
    int driver, runtime;        /* versions as CUDA encodes them (13000 = 13.0) */
    int64_t mem_free, mem_total;/* bytes, at the time of the call */
};

/* Opens device 0 (first call) and fills info.  QT_ERR with the reason when
 * there is no driver, no device, or the device cannot be used. */
int qt_cuda_probe(struct qt_cuda_info *info, qt_err *err);

/* One quantization on the GPU, the twin of quant.c's run over a whole
 * tensor.  w (rows, cols) is host memory: BF16 bits when w_bf16, else
 * float32 holding values of wdtype.  d (cols) importance or NULL;
 * global_amax as qt_quant_tensor.  Outputs, each optional (NULL):
 *   st   statistics (as qt_quant_error),
 *   deq  (rows, cols) w' as float32,
 *   qt   codes/scales/zero points/scale codes: the caller has laid it out
 *        as qt_quant_tensor does (arrays allocated, sizes set).
 * The scheme must not be bf16. */
int qt_cuda_quant(const void *w, int w_bf16, int64_t rows, int64_t cols, const struct qt_scheme *s,
                  enum qt_dtype wdtype, float global_amax, const float *d, struct qt_qstats *st,
                  float *deq, struct qt_qtensor *qt, qt_err *err);

/* The benchmark's kernels on device-resident data: a rows x cols BF16 buffer
 * (gaussian-like, made on the GPU) is previewed under s (statistics only)
 * and copied device to device; reps timed runs of each, interleaved, with
 * CUDA events.  *t_preview and *t_copy get the median seconds; *rel the
 * preview's rel_rmse. */
int qt_cuda_bench_preview(int64_t rows, int64_t cols, const struct qt_scheme *s, int reps,
                          double *t_preview, double *t_copy, double *rel, qt_err *err);

/* ---- forward (fwd.cu) ------------------------------------------------------ */

/* The layer, config, callback and timing types are the backend table's
 * (backend/fwdtypes.h): the table's CUDA row passes them through. */

struct qt_cuda_fwd;

/* A GPU forward over model m (which must outlive it). */
int qt_cuda_fwd_init(const struct qt_model *m, const struct qt_be_fwd_cfg *cfg,
                     const struct qt_be_fwd_cb *cb, struct qt_cuda_fwd **out, qt_err *err);
void qt_cuda_fwd_free(struct qt_cuda_fwd *g);
void qt_cuda_fwd_set_cb(struct qt_cuda_fwd *g, const struct qt_be_fwd_cb *cb);

/* One decoder layer in place on host h (nseq * seqlen, hidden), as
 * qt_fwd_layer (h goes up and comes back each call); h == NULL: on the
 * resident hidden states (qt_cuda_fwd_embed / qt_cuda_fwd_h), which stay
 * on the GPU. */
int qt_cuda_fwd_layer(struct qt_cuda_fwd *g, const struct qt_be_layer *L, float *h, int nseq,
                      int seqlen, qt_err *err);

/* logits (ntok, vocab) = x W^T for the normed h: final RMSNorm with weight
 * tensor norm_ti, then Linear head_ti; h and logits host memory. */
int qt_cuda_fwd_final(struct qt_cuda_fwd *g, int norm_ti, int head_ti, const float *h, int64_t ntok,
                      float *logits, qt_err *err);

/* Resident hidden states (ntok, hidden) = rows tokens (ntok) of embedding
 * tensor emb_ti (ids checked by the caller). */
int qt_cuda_fwd_embed(struct qt_cuda_fwd *g, int emb_ti, const int32_t *tokens, int64_t ntok, qt_err *err);

/* to_host 0: resident hidden states = host h (ntok, hidden); 1: the other
 * way. */
int qt_cuda_fwd_h(struct qt_cuda_fwd *g, float *h, int64_t ntok, int to_host, qt_err *err);

/* Logits (ntok, vocab) of resident rows [tok0, tok0 + ntok), kept on the GPU
 * for qt_cuda_fwd_kl (until the next final on g) and copied to host logits
 * when it is not NULL. */
int qt_cuda_fwd_final_at(struct qt_cuda_fwd *g, int norm_ti, int head_ti, int64_t tok0, int64_t ntok,
                         float *logits, qt_err *err);

/* KL(base || quant) and next-token terms per position, from the logits
 * kept in gq (quant) and gb (base), each nseq * ctx rows of the same
 * vocabulary: positions first..ctx-1 of each sequence, in double precision
 * as eval.c's kl_rows (argmax: the first index of the maximum).  tokens
 * (nseq * ctx) host. */
int qt_cuda_fwd_kl(struct qt_cuda_fwd *gq, struct qt_cuda_fwd *gb, const int32_t *tokens, int nseq, int ctx,
                   int first, const struct qt_be_kl_out *out, qt_err *err);

void qt_cuda_fwd_stats(struct qt_cuda_fwd *g, struct qt_be_fwd_timing *t);

/* The forward's per-token activation fake-quant (mode: enum qt_fwd_act,
 * 1 int8, 2 fp8, 3..6 llama.cpp's Q8_0, Q8_K, BF16, F16) on
 * host rows x (n, cols), in place, through the GPU kernel (for tests). */
int qt_cuda_act_quant(int mode, float *x, int64_t n, int64_t cols, qt_err *err);

/* ---- GPTQ (gptq.cu) -------------------------------------------------------- */

/* One batch of GPTQ (backend/gptqtypes.h): host memory in and out, the
 * Hessians and weights uploaded, every matrix of a set done at once (one
 * column kernel and one strided batched GEMM per block of columns over all
 * of them), the factorizations on gq_streams() streams. */
int qt_cuda_gptq_batch(const struct qt_be_gptq *b, qt_err *err);

/* Hessian accumulators on the device (backend.h's hacc entries): a
 * (cols, cols) array of doubles, zeroed; add sums the upper triangle of
 * x^T x (x host (n, cols): uploaded, cublasSsyrk in float32, added in
 * double), or src (x NULL); read copies the upper triangle into h (cols,
 * cols) and/or the diagonal into diag, each optional. */
void *qt_cuda_hacc_new(int64_t cols, qt_err *err);
int qt_cuda_hacc_add(void *acc, int64_t cols, const float *x, int64_t n, const void *src, qt_err *err);
int qt_cuda_hacc_read(const void *acc, int64_t cols, double *h, double *diag, qt_err *err);
void qt_cuda_hacc_free(void *acc);

struct qt_cuda_gptq_times {
    double hessian;             /* accumulating every expert's Hessians */
    double cholesky;            /* dampening, chol(H^-1) (gate/up share one) */
    double columns;             /* scale grid, column loop and block updates */
    double total;
};

/* The GPTQ of one MoE layer on data made on the GPU: E experts of gate and
 * up (inter, hidden) and down (hidden, inter), ntok calibration tokens
 * routed top_k each with a skewed expert load; Hessians accumulated from
 * the routed rows.  *gptq_err and *rtn_err: expert 0's gate output error
 * Σ e H eᵀ / Σ w H wᵀ after GPTQ and after round-to-nearest. */
int qt_cuda_bench_gptq(int E, int64_t hidden, int64_t inter, int64_t ntok, int top_k,
                       const struct qt_scheme *s, struct qt_cuda_gptq_times *t, double *gptq_err,
                       double *rtn_err, qt_err *err);

#ifdef __cplusplus
}
#endif
#endif
