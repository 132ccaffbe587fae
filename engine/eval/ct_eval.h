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
};

/* Matches ckpt's tensors to m's by name and shape.  Fails when ckpt holds
 * no compressed-tensors modules, when a tensor's shape differs, or when a
 * module's activation scheme is not one the forward models (per-token
 * dynamic int8 / fp8 only).  Free with qt_ct_hooks_free. */
int qt_ct_hooks_init(const struct qt_model *m, const struct qt_model *ckpt, struct qt_ct_hooks *h, qt_err *err);
void qt_ct_hooks_free(struct qt_ct_hooks *h);

/* Hooks serving h (h must outlive their use). */
struct qt_fwd_hooks qt_ct_fwd_hooks(struct qt_ct_hooks *h);

#endif
