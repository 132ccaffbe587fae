/* qplan.h — which weights a quantized evaluation replaces, and with what:
 * one scheme per tensor, built from a uniform scheme or a recipe, and the
 * forward hooks that serve dequantized weights (RTN, compressed-tensors
 * arithmetic via qt_quant_dequant) and per-token activation fake-quant. */
#ifndef QT_QPLAN_H
#define QT_QPLAN_H
#include "eval/forward.h"
#include "model/model.h"
#include "base/qt.h"
#include "quant/scheme.h"

struct qt_qplan {
    const struct qt_model *m;
    int n;                      /* model->n_tensors */
    unsigned char *quant;       /* (n) 1 when tensor i is replaced */
    struct qt_scheme *s;        /* (n) its scheme (meaningful when quant[i]) */
    unsigned char *only;        /* (n) or NULL: when set, only tensors with only[i] are replaced */
    int n_quantized;            /* tensors the forward will replace (MTP excluded) */
    /* 0: dequantize exactly as compressed-tensors does on a model of the
     * weight dtype (bf16 arithmetic: what the written checkpoint holds).
     * 1: fp32 arithmetic with the scales rounded to the weight dtype, the
     * protocol of tests/refs/eval_kl.json (integer schemes; others as 0). */
    int f32_arith;
    /* When set, the replaced weight of tensor i comes from here instead of
     * rounding to nearest under s[i]: a calibrated algorithm's result (the
     * planner's GPTQ candidates, algo/plan_gptq.h).  Fills out (rows, cols)
     * and returns QT_OK, QT_ERR with err, or 1: round to nearest after all. */
    int (*wsrc)(void *ctx, int ti, float *out, qt_err *err);
    void *wctx;
};

/* A plan giving scheme s to every Linear of the decoder layers the forward
 * runs: attention q/k/v/o, dense MLP, routed and shared experts.  Never the
 * router, norms, embeddings, lm_head or the MTP layer.  Refuses activation
 * quantization the forward does not model (only +aint8-tok / +afp8-tok). */
int qt_qplan_uniform(const struct qt_model *m, const char *scheme, struct qt_qplan *out, qt_err *err);

/* A plan from an llm-compressor recipe resolved against m (qt_recipe_resolve):
 * every tensor the recipe quantizes and the forward uses (MTP excluded;
 * embeddings are read unquantized). */
int qt_qplan_from_recipe(const struct qt_model *m, const char *recipe_path, struct qt_qplan *out,
                         qt_err *err);

void qt_qplan_free(struct qt_qplan *p);

/* Forward hooks serving p (p must outlive their use). */
struct qt_fwd_hooks qt_qplan_hooks(struct qt_qplan *p);

/* 1 when tensor i is quantized by the plan (honouring `only`). */
int qt_qplan_active(const struct qt_qplan *p, int i);

/* Sets p->quant[i] = 1 with scheme s after checking s fits the tensor and
 * that its activation part is modelled (used by the builders). */
int qt_qplan_set(struct qt_qplan *p, int i, const struct qt_scheme *s, qt_err *err);

/* Allocates an empty plan for m. */
int qt_qplan_init(const struct qt_model *m, struct qt_qplan *out, qt_err *err);

#endif
