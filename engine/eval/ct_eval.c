/* ct_eval.c — evaluating a checkpoint as written. */
#include "eval/ct_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ct_read.h"
#include "quant/scheme.h"

void qt_ct_hooks_free(struct qt_ct_hooks *h) {
    if (!h) return;
    free(h->map);
    free(h->act);
    free(h->smode);
    free(h->iscale);
    free(h->kscale);
    free(h->vscale);
    memset(h, 0, sizeof *h);
}

/* One float of ckpt tensor `name`: QT_OK, 1 when absent. */
static int read_scalar(const struct qt_model *ckpt, const char *name, float *v, qt_err *err) {
    int j = qt_model_find_index(ckpt, name);
    if (j < 0) return 1;
    const struct qt_tensor *t = &ckpt->tensors[j];
    if (qt_tensor_numel(t) != 1) return qt_err_set(err, "%s: %s: expected one value", ckpt->path, name);
    if (qt_tensor_read_f32(ckpt, t, 0, qt_tensor_rows(t), v, err) != QT_OK) return QT_ERR;
    if (!(*v > 0) || !isfinite(*v)) return qt_err_set(err, "%s: %s: %g is not a positive scale", ckpt->path, name, *v);
    return QT_OK;
}

/* The written input_scale of static-input module i (mode: QT_FWD_STATIC_*). */
static int read_input_scale(struct qt_ct_hooks *h, int i, int mode, qt_err *err) {
    if (!h->smode) {
        h->smode = calloc((size_t)h->m->n_tensors + 1, 1);
        h->iscale = calloc((size_t)h->m->n_tensors + 1, sizeof(float));
        if (!h->smode || !h->iscale) return qt_err_set(err, "out of memory");
    }
    char nm[1100];
    const char *w = h->m->tensors[i].name;
    size_t l = strlen(w);
    snprintf(nm, sizeof nm, "%.*sinput_scale", (int)(l > 6 && !strcmp(w + l - 6, "weight") ? l - 6 : l), w);
    int rc = read_scalar(h->ckpt, nm, &h->iscale[i], err);
    if (rc == 1) return qt_err_set(err, "%s: %s: missing (static input activations need it)", h->ckpt->path, nm);
    if (rc != QT_OK) return QT_ERR;
    h->smode[i] = (unsigned char)mode;
    return QT_OK;
}

static void vllm_max_scales(struct qt_ct_hooks *h) {
    if (!h->smode) return;
    const struct qt_model *m = h->m;
    float *mx = malloc(sizeof(float) * ((size_t)m->n_tensors + 1));
    if (!mx) return;   /* the written scales, unmerged */
    for (int i = 0; i < m->n_tensors; i++) {
        mx[i] = h->iscale[i];
        const struct qt_tensor *t = &m->tensors[i];
        int cl = qt_role_input_scale_class(t->role);
        for (int j = 0; cl && h->smode[i] && j < m->n_tensors; j++) {
            const struct qt_tensor *u = &m->tensors[j];
            if (h->smode[j] && u->layer == t->layer && u->mtp == t->mtp && qt_role_input_scale_class(u->role) == cl)
                mx[i] = fmaxf(mx[i], h->iscale[j]);
        }
    }
    memcpy(h->iscale, mx, sizeof(float) * (size_t)m->n_tensors);
    free(mx);
}

/* model.layers.L.self_attn.k_scale / v_scale of every decoder layer, when
 * the checkpoint has them. */
static int read_kv_scales(struct qt_ct_hooks *h, qt_err *err) {
    int L = h->m->cfg.n_layers;
    char nm[128];
    snprintf(nm, sizeof nm, "model.layers.0.self_attn.k_scale");
    if (L <= 0 || qt_model_find_index(h->ckpt, nm) < 0) return QT_OK;
    h->kscale = calloc((size_t)L, sizeof(float));
    h->vscale = calloc((size_t)L, sizeof(float));
    if (!h->kscale || !h->vscale) return qt_err_set(err, "out of memory");
    h->n_kv = L;
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < 2; k++) {
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.%s", l, k ? "v_scale" : "k_scale");
            int rc = read_scalar(h->ckpt, nm, k ? &h->vscale[l] : &h->kscale[l], err);
            if (rc == 1) return qt_err_set(err, "%s: %s: missing (the other layers have kv-cache scales)", h->ckpt->path, nm);
            if (rc != QT_OK) return QT_ERR;
        }
    }
    return QT_OK;
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
        else if (qt_act_traits(s.act)->is_static) {
            if (read_input_scale(h, i, s.act == QT_ACT_INT8_TENSOR ? QT_FWD_STATIC_INT8 : QT_FWD_STATIC_FP8, err)) {
                qt_ct_hooks_free(h);
                return QT_ERR;
            }
        } else if (s.act != QT_ACT_NONE) {
            qt_ct_hooks_free(h);
            return qt_err_set(err, "%s: scheme %s: evaluation models per-token dynamic activations (+aint8-tok, "
                              "+afp8-tok) and static per-tensor ones (+aint8-t, +afp8-t) only", c->name, scheme);
        }
        if (!t->mtp && (t->layer >= 0 || t->role == QT_ROLE_LM_HEAD)) h->n_quantized++;
    }
    vllm_max_scales(h);
    if (read_kv_scales(h, err)) { qt_ct_hooks_free(h); return QT_ERR; }
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

static int ct_act_static(void *ctx, int ti, float *scale) {
    struct qt_ct_hooks *h = ctx;
    if (!h->smode || !h->smode[ti]) return 0;
    *scale = h->iscale[ti];
    return h->smode[ti];
}

static int ct_kv(void *ctx, int layer, const float *k, const float *v, int64_t n, int64_t cols, float *ks, float *vs) {
    (void)k; (void)v; (void)n; (void)cols;
    struct qt_ct_hooks *h = ctx;
    if (!h->kscale || layer < 0 || layer >= h->n_kv) return 0;
    *ks = h->kscale[layer];
    *vs = h->vscale[layer];
    return 1;
}

struct qt_fwd_hooks qt_ct_fwd_hooks(struct qt_ct_hooks *h) {
    struct qt_fwd_hooks k = {.ctx = h, .weight = ct_weight, .act = ct_act};
    if (h->smode) k.act_static = ct_act_static;
    if (h->kscale) k.kv = ct_kv;
    return k;
}
