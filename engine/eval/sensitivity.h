/* sensitivity.h — how much each part of the model contributes to the KL of
 * a quantization: ΔKL when one unit alone is quantized under its plan's
 * scheme, all else kept (DESIGN §6).  The baseline's hidden states entering
 * every layer are computed once; a unit of layer l restarts from the state
 * entering l, so layers below it are never recomputed.  Since the unquantized
 * model has KL 0 against itself, ΔKL is the unit's KL mean.
 *
 * Units (--by group): per decoder layer, the natural unit of each fused group:
 *   attention  q/k/v (the qkv_proj group) with o_proj (MLA: q_a/q_b/kv_a/kv_b)
 *   dense      gate/up (gate_up_proj) with down_proj, layers < first_k_dense
 *   shared     the shared expert's gate/up with its down_proj
 *   experts    every routed expert of the layer (one vLLM group: gate, up, down)
 * (--by layer): everything the plan quantizes in one decoder layer.
 * (QT_SENS_FUSED, the planner's units): each fused group alone (qkv_proj,
 * gate_up_proj, the shared expert's gate_up_proj, MLA's fused_qkv_a_proj,
 * every routed expert of a layer) and each other Linear alone (o_proj,
 * down_proj, the shared down_proj, q_b / kv_b): the finest split vLLM can
 * give different schemes.
 * Units with no tensor quantized by the plan are left out.  The result also
 * gives the KL of quantizing every unit together beside the sum of the
 * single-unit ΔKL (they differ where errors interact). */
#ifndef QT_SENSITIVITY_H
#define QT_SENSITIVITY_H
#include "eval/eval.h"
#include "model/model.h"
#include "eval/qplan.h"
#include "base/qt.h"

enum qt_sens_by { QT_SENS_GROUP, QT_SENS_LAYER, QT_SENS_FUSED };

struct qt_sens_unit {
    char name[128];             /* e.g. "model.layers.1.self_attn", "model.layers.1.mlp.experts" */
    const char *kind;           /* "attention", "dense", "shared", "experts", "layer" */
    int layer;
    int n_tensors;              /* tensors of the unit the plan quantizes */
    int64_t params;
    struct qt_kl_stats st;      /* this unit alone quantized */
};

struct qt_sens_result {
    int n_units;
    struct qt_sens_unit *units; /* (n_units) ranked by ΔKL, largest first */
    double sum_dkl;             /* Σ of the units' KL means */
    struct qt_kl_stats all;     /* every unit quantized together */
    int nseq, ctx;
};

struct qt_sens_params {
    struct qt_eval_params eval; /* data, ctx, chunks, cache, progress (over all units), cancel */
    enum qt_sens_by by;
};

/* Runs the scan for plan (its `only` mask is used and restored).  Free the
 * result with qt_sens_result_free. */
int qt_sensitivity_run(const struct qt_model *m, struct qt_qplan *plan, const struct qt_sens_params *p,
                       struct qt_sens_result *out, qt_err *err);
void qt_sens_result_free(struct qt_sens_result *r);

/* The same scan on a base already computed with keep_states (several scans
 * of one text share it: the planner's candidates).  p->eval's progress runs
 * over this scan only. */
int qt_sensitivity_scan(const struct qt_model *m, const struct qt_eval_base *base, struct qt_qplan *plan,
                        const struct qt_sens_params *p, struct qt_sens_result *out, qt_err *err);

/* The unit tensor t belongs to under `by` (its name into name, size n) and
 * its kind, or NULL when t is in none (not a decoder Linear, MTP). */
const char *qt_sens_unit_of(const struct qt_model *m, const struct qt_tensor *t, enum qt_sens_by by, char *name,
                            size_t n);

#endif
