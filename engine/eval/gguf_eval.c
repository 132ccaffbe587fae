/* gguf_eval.c — a GGUF file evaluated against its original. */
#include "eval/gguf_eval.h"

#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "quant/ggml_quants.h"

int qt_gguf_eval_check(const struct qt_model *m, const struct qt_model *gguf, const char *path, qt_err *err) {
    if (!gguf->gguf) return qt_err_set(err, "%s: not a GGUF file", path);
    if (gguf->cfg.hidden != m->cfg.hidden || gguf->cfg.n_layers != m->cfg.n_layers || gguf->cfg.vocab != m->cfg.vocab)
        return qt_err_set(err, "%s: not a GGUF of %s (hidden %d, %d layers, vocab %d there; %d, %d, %d here)", path,
                          m->path, gguf->cfg.hidden, gguf->cfg.n_layers, gguf->cfg.vocab, m->cfg.hidden,
                          m->cfg.n_layers, m->cfg.vocab);
    return QT_OK;
}

enum qt_fwd_act qt_gguf_act_of_type(int gg) {
    switch (gg) {
    case QT_GGML_BF16: return QT_FWD_ACT_GGML_BF16;
    case QT_GGML_F16: return QT_FWD_ACT_GGML_F16;
    case QT_GGML_Q4_0: case QT_GGML_Q4_1: case QT_GGML_Q5_0: case QT_GGML_Q5_1: case QT_GGML_Q8_0: case QT_GGML_IQ4_NL:
    case QT_GGML_Q1_0: case QT_GGML_Q2_0: case QT_GGML_MXFP4: case QT_GGML_NVFP4:   /* read only */
        return QT_FWD_ACT_GGML_Q8_0;
    case QT_GGML_Q2_K: case QT_GGML_Q3_K: case QT_GGML_Q4_K: case QT_GGML_Q5_K: case QT_GGML_Q6_K: case QT_GGML_IQ4_XS:
    case QT_GGML_TQ1_0: case QT_GGML_TQ2_0:
        return QT_FWD_ACT_GGML_Q8_K;
    default: return QT_FWD_ACT_NONE;
    }
}

/* tensors[ti].gg is the GGML type + 1 (0: not a GGUF tensor) */
static enum qt_fwd_act gguf_act(void *ctx, int ti) {
    const struct qt_model *g = ctx;
    return g->tensors[ti].gg ? qt_gguf_act_of_type(g->tensors[ti].gg - 1) : QT_FWD_ACT_NONE;
}

struct qt_fwd_hooks qt_gguf_fwd_hooks(const struct qt_model *gguf, int ggml_arith) {
    struct qt_fwd_hooks h = {0};
    if (ggml_arith) {
        h.ctx = (void *)gguf;
        h.act = gguf_act;
    }
    return h;
}

int qt_gguf_eval_n_quantized(const struct qt_model *gguf) {
    int n = 0;
    for (int i = 0; i < gguf->n_tensors; i++) {
        int g = gguf->tensors[i].gg - 1;
        if (g >= 0 && g != QT_GGML_F32 && g != QT_GGML_F16 && g != QT_GGML_BF16) n++;
    }
    return n;
}

/* ---- fake quantization --------------------------------------------------- */

struct fq_band {
    int type;
    const float *x;
    float *y;
    int64_t cols;
    const float *imp;
    size_t rs;
    int fail;
};

static void fq_rows(void *arg, int64_t r0, int64_t r1) {
    struct fq_band *A = arg;
    uint8_t *buf = malloc(A->rs * (size_t)(r1 - r0));
    if (!buf) {
        A->fail = 1;
        return;
    }
    size_t n = qt_ggml_quantize(A->type, A->x + r0 * A->cols, buf, r1 - r0, A->cols, A->imp);
    if (n != A->rs * (size_t)(r1 - r0) || qt_ggml_dequantize(A->type, buf, A->y + r0 * A->cols, (r1 - r0) * A->cols))
        A->fail = 1;
    free(buf);
}

int qt_gguf_fake_quant(int type, const float *x, float *y, int64_t rows, int64_t cols, const float *imp, qt_err *err) {
    const struct qt_ggml_type_info *ti = qt_ggml_type_info(type);
    if (!ti || !ti->write) return qt_err_set(err, "GGUF type %s: qtune does not write it", qt_ggml_type_name(type));
    size_t rs = qt_ggml_row_size(type, cols);
    if (!rs)
        return qt_err_set(err, "row length %lld is not a multiple of %s's %d-element block", (long long)cols, ti->name,
                          ti->block);
    struct fq_band A = {type, x, y, cols, imp, rs, 0};
    if (rows * cols >= (1 << 16)) qt_parallel_for(rows, fq_rows, &A);
    else fq_rows(&A, 0, rows);
    return A.fail ? qt_err_set(err, "%s: quantizing failed (out of memory)", ti->name) : QT_OK;
}

static int fq_active(const struct qt_gguf_fq *f, int ti) {
    return f->type[ti] >= 0 && (!f->only || f->only[ti]);
}

static int fq_weight(void *ctx, int ti, float *out, qt_err *err) {
    struct qt_gguf_fq *f = ctx;
    if (!fq_active(f, ti)) return 1;
    const struct qt_tensor *t = &f->m->tensors[ti];
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    if (qt_tensor_read_f32(f->m, t, 0, rows, out, err) != QT_OK) return QT_ERR;
    if (qt_gguf_fake_quant(f->type[ti], out, out, rows, cols, f->imp ? f->imp[ti] : NULL, err) != QT_OK)
        return qt_err_prefix(err, "%s", t->name);
    return QT_OK;
}

static int fq_embed(void *ctx, int ti, const int32_t *tokens, int64_t n, int64_t cols, float *h, qt_err *err) {
    struct qt_gguf_fq *f = ctx;
    if (!fq_active(f, ti)) return 1;
    const struct qt_tensor *t = &f->m->tensors[ti];
    for (int64_t i = 0; i < n; i++)
        if (qt_tensor_read_f32(f->m, t, tokens[i], 1, h + i * cols, err) != QT_OK) return QT_ERR;
    /* rows are quantized independently: the rows of the tokens seen are
     * what the file's rows dequantize to (token_embd takes no importance) */
    if (qt_gguf_fake_quant(f->type[ti], h, h, n, cols, NULL, err) != QT_OK) return qt_err_prefix(err, "%s", t->name);
    return QT_OK;
}

struct qt_fwd_hooks qt_gguf_fq_hooks(struct qt_gguf_fq *f) {
    struct qt_fwd_hooks h = {.ctx = f, .weight = fq_weight, .embed = fq_embed};
    return h;
}
