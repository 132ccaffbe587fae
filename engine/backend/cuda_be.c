/* cuda_be.c — the CUDA row of the backend table: a thin wrapper over the C
 * entry points of engine/backend/cuda/cuda.h (the kernels themselves live
 * there; this file only adapts their arguments to struct qt_backend_i).
 *
 * Those entry points take host memory and move it to the device and back
 * themselves, whole tensors at a time (qt_cuda_quant) and whole decoder
 * layers at a time (qt_cuda_fwd_*).  So the row declares QT_BE_HOST_MEMORY,
 * its buffers are host memory, and it offers the coarse entries
 * (tensor_quant, gptq, fwd_*), the Hessian accumulators (hacc_*: device
 * memory behind an opaque handle) and act_quant; the band and building-block entries
 * are NULL and the CPU reference runs them (backend.h).  When the GPU code
 * exposes device buffers and single kernels, they become entries here.
 *
 * In a build without nvcc, cuda/none.c answers every entry point with
 * "built without CUDA", qt_backend_cuda_compiled() is 0 and the registry
 * does not list the row. */
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda.h"
#include "backend/select.h"

static int cuda_info(struct qt_backend *be, struct qt_backend_info *out, qt_err *err) {
    (void)be;
    struct qt_cuda_info ci;
    memset(out, 0, sizeof *out);
    out->name = "cuda";
    out->caps = QT_BE_HOST_MEMORY;
    out->threads = qt_nthreads();
    if (qt_cuda_probe(&ci, err) != QT_OK) return QT_ERR;
    snprintf(out->device, sizeof out->device, "%.200s (sm_%d%d, %d SMs)", ci.name, ci.cc_major, ci.cc_minor, ci.sms);
    out->mem_total = ci.mem_total;
    out->mem_free = ci.mem_free;
    return QT_OK;
}

/* ---- buffers: host memory (the entry points upload it themselves) ---- */

static void *cuda_alloc(struct qt_backend *be, size_t bytes, qt_err *err) {
    (void)be;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
        qt_err_set(err, "cuda: out of host memory (%zu bytes)", bytes);
        return NULL;
    }
    return p;
}

static void cuda_buf_free(struct qt_backend *be, void *p) {
    (void)be;
    free(p);
}

static int cuda_copy(struct qt_backend *be, void *dst, const void *src, size_t bytes, qt_err *err) {
    (void)be;
    (void)err;
    if (dst != src && bytes) memmove(dst, src, bytes);
    return QT_OK;
}

/* Every entry point returns after its device work is done. */
static int cuda_sync(struct qt_backend *be, qt_err *err) {
    (void)be;
    (void)err;
    return QT_OK;
}

/* ---- whole tensors ---- */

static int cuda_tensor_quant(struct qt_backend *be, const void *w, enum qt_dtype xdt, int64_t rows, int64_t cols,
                             const struct qt_scheme *s, enum qt_dtype wdtype, float global_amax, const float *d,
                             struct qt_qstats *st, float *deq, struct qt_qtensor *q, qt_err *err) {
    (void)be;
    if (xdt != QT_DT_BF16 && xdt != QT_DT_F32) return qt_err_set(err, "cuda: quantize from %s", qt_dtype_name(xdt));
    return qt_cuda_quant(w, xdt == QT_DT_BF16, rows, cols, s, wdtype, global_amax, d, st, deq, q, err);
}

/* The GPU kernel for the compressed-tensors modes; llama.cpp's modes have
 * no GPU kernel and run on the CPU reference. */
static int cuda_act_quant(struct qt_backend *be, enum qt_act_quant a, float *x, int64_t n, int64_t cols,
                          qt_err *err) {
    (void)be;
    if (a == QT_AQ_NONE || n <= 0) return QT_OK;
    if (a == QT_AQ_INT8_TOK || a == QT_AQ_FP8_TOK) return qt_cuda_act_quant((int)a, x, n, cols, err);
    struct qt_backend *cpu = qt_backend_cpu();
    return cpu->i->act_quant(cpu, a, x, n, cols, err);
}

/* ---- GPTQ (gptq.cu): the batches of the calibrated pipeline ---- */

static int cuda_gptq(struct qt_backend *be, const struct qt_be_gptq *b, qt_err *err) {
    (void)be;
    return qt_cuda_gptq_batch(b, err);
}

static void *cuda_hacc_new(struct qt_backend *be, int64_t cols, qt_err *err) {
    (void)be;
    return qt_cuda_hacc_new(cols, err);
}

static int cuda_hacc_add(struct qt_backend *be, void *acc, int64_t cols, const float *x, int64_t n, const void *src,
                         qt_err *err) {
    (void)be;
    return qt_cuda_hacc_add(acc, cols, x, n, src, err);
}

static int cuda_hacc_read(struct qt_backend *be, const void *acc, int64_t cols, double *h, double *diag, qt_err *err) {
    (void)be;
    return qt_cuda_hacc_read(acc, cols, h, diag, err);
}

static void cuda_hacc_free(struct qt_backend *be, void *acc) {
    (void)be;
    qt_cuda_hacc_free(acc);
}

/* ---- whole decoder layers (fwd.cu) ---- */

/* backend.h and cuda.h share the forward's types (backend/fwdtypes.h):
 * the entries pass them straight through. */

static int cuda_fwd_init(struct qt_backend *be, const struct qt_model *m, const struct qt_be_fwd_cfg *cfg,
                         const struct qt_be_fwd_cb *cb, void **out, qt_err *err) {
    (void)be;
    struct qt_cuda_fwd *f = NULL;
    int rc = qt_cuda_fwd_init(m, cfg, cb, &f, err);
    *out = f;
    return rc;
}

static void cuda_fwd_free(struct qt_backend *be, void *g) {
    (void)be;
    qt_cuda_fwd_free(g);
}

static void cuda_fwd_set_cb(struct qt_backend *be, void *g, const struct qt_be_fwd_cb *cb) {
    (void)be;
    qt_cuda_fwd_set_cb(g, cb);
}

static int cuda_fwd_layer(struct qt_backend *be, void *g, const struct qt_be_layer *L, float *h, int nseq,
                          int seqlen, qt_err *err) {
    (void)be;
    return qt_cuda_fwd_layer(g, L, h, nseq, seqlen, err);
}

static int cuda_fwd_final(struct qt_backend *be, void *g, int norm_ti, int head_ti, const float *h, int64_t ntok,
                          float *logits, qt_err *err) {
    (void)be;
    return qt_cuda_fwd_final(g, norm_ti, head_ti, h, ntok, logits, err);
}

static void cuda_fwd_stats(struct qt_backend *be, void *g, struct qt_be_fwd_timing *t) {
    (void)be;
    qt_cuda_fwd_stats(g, t);
}

static int cuda_fwd_embed(struct qt_backend *be, void *g, int emb_ti, const int32_t *tokens, int64_t ntok,
                          qt_err *err) {
    (void)be;
    return qt_cuda_fwd_embed(g, emb_ti, tokens, ntok, err);
}

static int cuda_fwd_h(struct qt_backend *be, void *g, float *h, int64_t ntok, int to_host, qt_err *err) {
    (void)be;
    return qt_cuda_fwd_h(g, h, ntok, to_host, err);
}

static int cuda_fwd_final_at(struct qt_backend *be, void *g, int norm_ti, int head_ti, int64_t tok0, int64_t ntok,
                             float *logits, qt_err *err) {
    (void)be;
    return qt_cuda_fwd_final_at(g, norm_ti, head_ti, tok0, ntok, logits, err);
}

static int cuda_fwd_kl(struct qt_backend *be, void *gq, void *gb, const int32_t *tokens, int nseq, int ctx,
                       int first, const struct qt_be_kl_out *out, qt_err *err) {
    (void)be;
    return qt_cuda_fwd_kl(gq, gb, tokens, nseq, ctx, first, out, err);
}

static const struct qt_backend_i cuda_i = {
    .name = "cuda",
    .info = cuda_info,
    .buf_alloc = cuda_alloc,
    .buf_free = cuda_buf_free,
    .upload = cuda_copy,
    .download = cuda_copy,
    .sync = cuda_sync,
    .tensor_quant = cuda_tensor_quant,
    .act_quant = cuda_act_quant,
    .gptq = cuda_gptq,
    .hacc_new = cuda_hacc_new,
    .hacc_add = cuda_hacc_add,
    .hacc_read = cuda_hacc_read,
    .hacc_free = cuda_hacc_free,
    .fwd_init = cuda_fwd_init,
    .fwd_free = cuda_fwd_free,
    .fwd_set_cb = cuda_fwd_set_cb,
    .fwd_layer = cuda_fwd_layer,
    .fwd_final = cuda_fwd_final,
    .fwd_stats = cuda_fwd_stats,
    .fwd_embed = cuda_fwd_embed,
    .fwd_h = cuda_fwd_h,
    .fwd_final_at = cuda_fwd_final_at,
    .fwd_kl = cuda_fwd_kl,
};

static struct qt_backend cuda_be = {&cuda_i, NULL};

int qt_backend_cuda_compiled(void) { return qt_cuda_compiled(); }

int qt_backend_cuda_open(struct qt_backend **out, qt_err *err) {
    *out = NULL;
    if (!qt_cuda_compiled()) return qt_err_set(err, "this qtune was built without the CUDA backend (no nvcc)");
    if (qt_backend_cuda_enter(err) != QT_OK) return QT_ERR;
    *out = &cuda_be;
    return QT_OK;
}
