/* qplan.c — per-tensor schemes for quantized evaluation and the hooks. */
#include "eval/qplan.h"

#include <stdlib.h>
#include <string.h>

#include "backend/select.h"
#include "quant/quant.h"
#include "recipe/recipe.h"
#include <math.h>

int qt_qplan_init(const struct qt_model *m, struct qt_qplan *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    out->m = m;
    out->n = m->n_tensors;
    out->quant = calloc((size_t)m->n_tensors + 1, 1);
    out->s = calloc((size_t)m->n_tensors + 1, sizeof *out->s);
    if (!out->quant || !out->s) {
        qt_qplan_free(out);
        return qt_err_set(err, "out of memory");
    }
    return QT_OK;
}

void qt_qplan_free(struct qt_qplan *p) {
    if (!p) return;
    free(p->quant);
    free(p->s);
    free(p->only);
    memset(p, 0, sizeof *p);
}

/* A Linear the forward runs (QT_RF_FWD: the decoder layers' projections
 * and lm_head), outside the MTP layers. */
static int used_by_forward(const struct qt_tensor *t) {
    return !t->mtp && qt_role_has(t->role, QT_RF_FWD) && (t->layer >= 0 || t->role == QT_ROLE_LM_HEAD);
}

int qt_qplan_set(struct qt_qplan *p, int i, const struct qt_scheme *s, qt_err *err) {
    const struct qt_tensor *t = &p->m->tensors[i];
    if (qt_scheme_is_kept(s)) return QT_OK;
    if (qt_act_traits(s->act)->is_static) {
        char b[QT_SCHEME_STR_MAX];
        return qt_err_set(err, "%s: scheme %s: evaluation models per-token dynamic activations here; static input "
                          "activations need calibrated input scales: qtune quantize -r RECIPE --calib FILE -o OUT, "
                          "then eval --quantized OUT", t->name,
                          qt_scheme_format(s, b, sizeof b));
    }
    if (s->act != QT_ACT_NONE && s->act != QT_ACT_INT8_TOK && s->act != QT_ACT_FP8_TOK) {
        char b[QT_SCHEME_STR_MAX];
        return qt_err_set(err, "%s: scheme %s: evaluation models only per-token dynamic activations "
                          "(+aint8-tok, +afp8-tok)", t->name, qt_scheme_format(s, b, sizeof b));
    }
    if (qt_scheme_check_shape(s, qt_tensor_rows(t), qt_tensor_cols(t), err) != QT_OK)
        return qt_err_prefix(err, "%s", t->name);
    if (!used_by_forward(t)) return QT_OK;
    if (!p->quant[i]) p->n_quantized++;
    p->quant[i] = 1;
    p->s[i] = *s;
    return QT_OK;
}

int qt_qplan_uniform(const struct qt_model *m, const char *scheme, struct qt_qplan *out, qt_err *err) {
    struct qt_scheme s;
    if (qt_scheme_parse(scheme, &s, err) != QT_OK) return QT_ERR;
    if (qt_qplan_init(m, out, err) != QT_OK) return QT_ERR;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->role == QT_ROLE_LM_HEAD || !used_by_forward(t)) continue;
        if (qt_qplan_set(out, i, &s, err) != QT_OK) {
            qt_qplan_free(out);
            return QT_ERR;
        }
    }
    return QT_OK;
}

int qt_qplan_active(const struct qt_qplan *p, int i) {
    return p->quant[i] && (!p->only || p->only[i]);
}

/* fp32 arithmetic on the weight with the scales (and zero points) a
 * compressed-tensors checkpoint stores, rounded to the weight dtype: the
 * protocol of tests/refs/eval_kl.json (transformers on float32 weights).
 * Integer schemes with tensor, channel or group scales only; returns 1 for
 * any other scheme (the caller then uses qt_quant_dequant). */
static int dequant_f32_arith(float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                             enum qt_dtype wd, qt_err *err) {
    if (s->kind != QT_SCHEME_INT || s->strategy == QT_STRAT_BLOCK) return 1;
    struct qt_qtensor q;
    if (qt_be_quant_tensor(w, rows, cols, s, wd, 0, &q, NULL, err) != QT_OK) return QT_ERR;
    int qmax = (1 << (s->bits - 1)) - 1, qmin = -qmax - 1;
    for (int64_t r = 0; r < rows; r++) {
        int64_t sr = q.srows == 1 ? 0 : r;
        for (int64_t c = 0; c < cols; c++) {
            /* the scale of column c: its group (the last may be partial) */
            int64_t k = sr * q.scols + (s->strategy == QT_STRAT_GROUP ? c / s->group : c * q.scols / cols);
            float sc = q.scale[k], zp = q.zero ? (float)q.zero[k] : 0.0f;
            float t = nearbyintf(w[r * cols + c] / sc + zp);
            t = t < qmin ? (float)qmin : t > qmax ? (float)qmax : t;
            w[r * cols + c] = (t - zp) * sc;
        }
    }
    qt_qtensor_free(&q);
    return QT_OK;
}

/* Rows are quantized independently under channel and group scales (not
 * nvfp4, whose global scale spans the tensor): such tensors are cut into
 * row bands dequantized in parallel. */
struct band_arg {
    struct qt_qplan *p;
    const struct qt_scheme *s;
    float *w;                   /* (rows, cols) in place */
    int64_t cols;
    enum qt_dtype wd;
    int fail;
    qt_err err;
};

static int dequant_rows(struct qt_qplan *p, const struct qt_scheme *s, float *w, int64_t rows, int64_t cols,
                        enum qt_dtype wd, qt_err *err) {
    int rc = 1;
    if (p->f32_arith) rc = dequant_f32_arith(w, rows, cols, s, wd, err);
    if (rc == 1) rc = qt_be_quant_dequant(w, rows, cols, s, wd, w, err);
    return rc;
}

static void band_rows(void *arg, int64_t r0, int64_t r1) {
    struct band_arg *A = arg;
    qt_err e;
    if (dequant_rows(A->p, A->s, A->w + r0 * A->cols, r1 - r0, A->cols, A->wd, &e) != QT_OK && !A->fail) {
        A->fail = 1;
        A->err = e;
    }
}

static int plan_weight(void *ctx, int ti, float *out, qt_err *err) {
    struct qt_qplan *p = ctx;
    if (!qt_qplan_active(p, ti)) return 1;
    const struct qt_tensor *t = &p->m->tensors[ti];
    const struct qt_scheme *s = &p->s[ti];
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    if (p->wsrc) {
        int r = p->wsrc(p->wctx, ti, out, err);
        if (r != 1) return r;
    }
    if (qt_tensor_read_f32(p->m, t, 0, rows, out, err) != QT_OK) return QT_ERR;
    enum qt_dtype wd = t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32 ? t->dtype : QT_DT_BF16;
    int rc;
    if ((s->strategy == QT_STRAT_CHANNEL || s->strategy == QT_STRAT_GROUP) && s->kind != QT_SCHEME_NVFP4 &&
        rows * cols >= (1 << 16)) {
        struct band_arg A = {p, s, out, cols, wd, 0, {{0}}};
        qt_parallel_for(rows, band_rows, &A);
        rc = A.fail ? QT_ERR : QT_OK;
        if (A.fail && err) *err = A.err;
    } else {
        rc = dequant_rows(p, s, out, rows, cols, wd, err);
    }
    if (rc != QT_OK) return qt_err_prefix(err, "%s", t->name);
    return QT_OK;
}

static enum qt_fwd_act plan_act(void *ctx, int ti) {
    struct qt_qplan *p = ctx;
    if (!qt_qplan_active(p, ti)) return QT_FWD_ACT_NONE;
    switch (p->s[ti].act) {
    case QT_ACT_INT8_TOK: return QT_FWD_ACT_INT8_TOK;
    case QT_ACT_FP8_TOK: return QT_FWD_ACT_FP8_TOK;
    default: return QT_FWD_ACT_NONE;
    }
}

struct qt_fwd_hooks qt_qplan_hooks(struct qt_qplan *p) {
    struct qt_fwd_hooks h = {.ctx = p, .weight = plan_weight, .act = plan_act};
    return h;
}

int qt_qplan_from_recipe(const struct qt_model *m, const char *recipe_path, struct qt_qplan *out,
                         qt_err *err) {
    struct qt_recipe *r = NULL;
    if (qt_recipe_load(recipe_path, &r, err) != QT_OK) return QT_ERR;
    struct qt_resolution res;
    if (qt_recipe_resolve(r, m, &res, err) != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    int rc = qt_qplan_init(m, out, err);
    for (int i = 0; rc == QT_OK && i < m->n_tensors; i++)
        if (res.t[i].quantized && res.t[i].s) rc = qt_qplan_set(out, i, res.t[i].s, err);
    if (rc != QT_OK && out->quant) qt_qplan_free(out);
    qt_resolution_free(&res);
    qt_recipe_free(r);
    return rc;
}
