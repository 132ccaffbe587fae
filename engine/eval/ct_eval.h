/* ct_eval.h — forward hooks that evaluate a written compressed-tensors
 * checkpoint: the base model's forward with every Linear weight taken from
 * the checkpoint (quantized modules dequantized as stored, the rest as
 * copied) and the per-token activation fake-quant its schemes declare. */
#ifndef QT_CT_EVAL_H
#define QT_CT_EVAL_H
#include "eval/forward.h"
#include "model/model.h"
#include "base/qt.h"

struct qt_ct_hooks {
    const struct qt_model *m;      /* the base model the forward runs */
    const struct qt_model *ckpt;   /* the checkpoint (same architecture, same names) */
    int *map;                      /* (m->n_tensors) checkpoint tensor index, -1 when absent */
    unsigned char *act;            /* (m->n_tensors) enum qt_fwd_act of each Linear */
    int n_quantized;               /* quantized modules the forward uses (MTP excluded) */
    unsigned char *smode;          /* (m->n_tensors) QT_FWD_STATIC_* of a static-input module, 0 none */
    float *iscale;                 /* (m->n_tensors) the input scale applied (vLLM's: the max over the
                                      fused group or the layer's routed experts of the written ones) */
    float *kscale, *vscale;        /* (n_kv) fp8 kv-cache scales per decoder layer, or NULL */
    int n_kv;
};

/* Matches ckpt's tensors to m's by name and shape.  Fails when ckpt holds
 * no compressed-tensors modules, when a tensor's shape differs, or when a
 * module's activation scheme is not one the forward models (per-token
 * dynamic int8 / fp8, static per-tensor int8 / fp8 with an input_scale).
 * Static input scales are applied as vLLM applies them: one per fused
 * group (q/k/v, gate/up) and per layer's routed experts (gate/up, down),
 * the max of the written ones.  A checkpoint with self_attn.k_scale /
 * v_scale gets its fp8 kv cache modelled.  Free with qt_ct_hooks_free. */
int qt_ct_hooks_init(const struct qt_model *m, const struct qt_model *ckpt, struct qt_ct_hooks *h, qt_err *err);
void qt_ct_hooks_free(struct qt_ct_hooks *h);

/* Hooks serving h (h must outlive their use). */
struct qt_fwd_hooks qt_ct_fwd_hooks(struct qt_ct_hooks *h);

#endif
