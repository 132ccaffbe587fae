/* ct_eval.c — evaluating a checkpoint as written. */
#include "eval/ct_eval.h"

#include <stdlib.h>
#include <string.h>

#include "model/ct_read.h"
#include "quant/scheme.h"

void qt_ct_hooks_free(struct qt_ct_hooks *h) {
    if (!h) return;
    free(h->map);
    free(h->act);
    memset(h, 0, sizeof *h);
}

int qt_ct_hooks_init(const struct qt_model *m, const struct qt_model *ckpt, struct qt_ct_hooks *h, qt_err *err) {
    memset(h, 0, sizeof *h);
    if (!qt_ct_format(ckpt)) return qt_err_set(err, "%s: not a compressed-tensors checkpoint (no quantization_config)", ckpt->path);
    h->m = m;
    h->ckpt = ckpt;
    h->map = malloc(((size_t)m->n_tensors + 1) * sizeof *h->map);
    h->act = calloc((size_t)m->n_tensors + 1, 1);
    if (!h->map || !h->act) { qt_ct_hooks_free(h); return qt_err_set(err, "out of memory"); }
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        int j = qt_model_find_index(ckpt, t->name);
        h->map[i] = j;
        if (j < 0) continue;
        const struct qt_tensor *c = &ckpt->tensors[j];
        if (c->ndim != t->ndim || memcmp(c->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)) {
            qt_ct_hooks_free(h);
            return qt_err_set(err, "%s: tensor \"%s\" has another shape than in %s", ckpt->path, t->name, m->path);
        }
        const char *scheme;
        if (!qt_ct_info(ckpt, c, &scheme, NULL, NULL)) continue;
        struct qt_scheme s;
        if (qt_scheme_parse(scheme, &s, err) != QT_OK) { qt_ct_hooks_free(h); return qt_err_prefix(err, "%s", c->name); }
        if (s.act == QT_ACT_INT8_TOK) h->act[i] = QT_FWD_ACT_INT8_TOK;
        else if (s.act == QT_ACT_FP8_TOK) h->act[i] = QT_FWD_ACT_FP8_TOK;
        else if (s.act != QT_ACT_NONE) {
            qt_ct_hooks_free(h);
            return qt_err_set(err, "%s: scheme %s: evaluation models only per-token dynamic activations "
                              "(+aint8-tok, +afp8-tok)", c->name, scheme);
        }
        if (!t->mtp && (t->layer >= 0 || t->role == QT_ROLE_LM_HEAD)) h->n_quantized++;
    }
    return QT_OK;
}

static int ct_weight(void *ctx, int ti, float *out, qt_err *err) {
    struct qt_ct_hooks *h = ctx;
    int j = h->map[ti];
    if (j < 0) return qt_err_set(err, "%s: no tensor \"%s\"", h->ckpt->path, h->m->tensors[ti].name);
    const struct qt_tensor *c = &h->ckpt->tensors[j];
    return qt_tensor_read_f32(h->ckpt, c, 0, qt_tensor_rows(c), out, err);
}

static enum qt_fwd_act ct_act(void *ctx, int ti) {
    struct qt_ct_hooks *h = ctx;
    return (enum qt_fwd_act)h->act[ti];
}

struct qt_fwd_hooks qt_ct_fwd_hooks(struct qt_ct_hooks *h) {
    struct qt_fwd_hooks k = {.ctx = h, .weight = ct_weight, .act = ct_act};
    return k;
}
