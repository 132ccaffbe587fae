/* none.c — the CUDA backend's entry points in a build without nvcc: each
 * says so, so that --backend cuda fails with one clear line. */
#include "backend/cuda/cuda.h"

#include <string.h>

static int none(qt_err *err) {
    return qt_err_set(err, "CUDA: this qtune was built without the CUDA backend (no nvcc at build time)");
}

int qt_cuda_compiled(void) { return 0; }

int qt_cuda_probe(struct qt_cuda_info *info, qt_err *err) {
    memset(info, 0, sizeof *info);
    return none(err);
}

int qt_cuda_quant(const void *w, int w_bf16, int64_t rows, int64_t cols, const struct qt_scheme *s,
                  enum qt_dtype wdtype, float global_amax, const float *d, struct qt_qstats *st,
                  float *deq, struct qt_qtensor *qt, qt_err *err) {
    (void)w; (void)w_bf16; (void)rows; (void)cols; (void)s; (void)wdtype; (void)global_amax;
    (void)d; (void)st; (void)deq; (void)qt;
    return none(err);
}

int qt_cuda_bench_preview(int64_t rows, int64_t cols, const struct qt_scheme *s, int reps,
                          double *t_preview, double *t_copy, double *rel, qt_err *err) {
    (void)rows; (void)cols; (void)s; (void)reps; (void)t_preview; (void)t_copy; (void)rel;
    return none(err);
}

int qt_cuda_fwd_init(const struct qt_model *m, const struct qt_be_fwd_cfg *cfg,
                     const struct qt_be_fwd_cb *cb, struct qt_cuda_fwd **out, qt_err *err) {
    (void)m; (void)cfg; (void)cb;
    *out = NULL;
    return none(err);
}

void qt_cuda_fwd_free(struct qt_cuda_fwd *g) { (void)g; }
void qt_cuda_fwd_set_cb(struct qt_cuda_fwd *g, const struct qt_be_fwd_cb *cb) { (void)g; (void)cb; }

int qt_cuda_fwd_layer(struct qt_cuda_fwd *g, const struct qt_be_layer *L, float *h, int nseq,
                      int seqlen, qt_err *err) {
    (void)g; (void)L; (void)h; (void)nseq; (void)seqlen;
    return none(err);
}

int qt_cuda_fwd_final(struct qt_cuda_fwd *g, int norm_ti, int head_ti, const float *h, int64_t ntok,
                      float *logits, qt_err *err) {
    (void)g; (void)norm_ti; (void)head_ti; (void)h; (void)ntok; (void)logits;
    return none(err);
}

int qt_cuda_fwd_embed(struct qt_cuda_fwd *g, int emb_ti, const int32_t *tokens, int64_t ntok, qt_err *err) {
    (void)g; (void)emb_ti; (void)tokens; (void)ntok;
    return none(err);
}

int qt_cuda_fwd_h(struct qt_cuda_fwd *g, float *h, int64_t ntok, int to_host, qt_err *err) {
    (void)g; (void)h; (void)ntok; (void)to_host;
    return none(err);
}

int qt_cuda_fwd_final_at(struct qt_cuda_fwd *g, int norm_ti, int head_ti, int64_t tok0, int64_t ntok,
                         float *logits, qt_err *err) {
    (void)g; (void)norm_ti; (void)head_ti; (void)tok0; (void)ntok; (void)logits;
    return none(err);
}

int qt_cuda_fwd_kl(struct qt_cuda_fwd *gq, struct qt_cuda_fwd *gb, const int32_t *tokens, int nseq, int ctx,
                   int first, const struct qt_be_kl_out *out, qt_err *err) {
    (void)gq; (void)gb; (void)tokens; (void)nseq; (void)ctx; (void)first; (void)out;
    return none(err);
}

void qt_cuda_fwd_stats(struct qt_cuda_fwd *g, struct qt_be_fwd_timing *t) {
    (void)g;
    memset(t, 0, sizeof *t);
}

int qt_cuda_gptq_batch(const struct qt_be_gptq *b, qt_err *err) {
    (void)b;
    return none(err);
}

int qt_cuda_bench_gptq(int E, int64_t hidden, int64_t inter, int64_t ntok, int top_k,
                       const struct qt_scheme *s, struct qt_cuda_gptq_times *t, double *gptq_err,
                       double *rtn_err, qt_err *err) {
    (void)E; (void)hidden; (void)inter; (void)ntok; (void)top_k; (void)s; (void)gptq_err; (void)rtn_err;
    memset(t, 0, sizeof *t);
    return none(err);
}

int qt_cuda_act_quant(int mode, float *x, int64_t n, int64_t cols, qt_err *err) {
    (void)mode; (void)x; (void)n; (void)cols;
    return none(err);
}

void *qt_cuda_hacc_new(int64_t cols, qt_err *err) {
    (void)cols;
    none(err);
    return NULL;
}

int qt_cuda_hacc_add(void *acc, int64_t cols, const float *x, int64_t n, const void *src, qt_err *err) {
    (void)acc; (void)cols; (void)x; (void)n; (void)src;
    return none(err);
}

int qt_cuda_hacc_read(const void *acc, int64_t cols, double *h, double *diag, qt_err *err) {
    (void)acc; (void)cols; (void)h; (void)diag;
    return none(err);
}

void qt_cuda_hacc_free(void *acc) { (void)acc; }
