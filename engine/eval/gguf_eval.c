/* gguf_eval.c — a GGUF file evaluated against its original. */
#include "eval/gguf_eval.h"

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
