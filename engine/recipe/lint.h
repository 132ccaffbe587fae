/* lint.h — what vLLM (compressed-tensors) will refuse or what a recipe does
 * that its author probably did not mean, found before any quantization runs.
 *
 * Codes (DESIGN §5) and severities.  Errors are what makes vLLM refuse to
 * load or run the checkpoint; warnings are legal but likely mistakes:
 *   QT001 error    a fused group (qkv_proj, gate_up_proj, shared gate/up, MLA q)
 *                  split across schemes — vLLM loads one scheme per fused layer
 *   QT002 error    routed experts of one layer on different schemes — the fused
 *                  MoE kernel takes one scheme for all experts
 *   QT003 warning  a regex matching more than its text suggests
 *                  (re:model.layers.1.* hits layers 10-19; re:.*mlp.gate hits
 *                  gate_proj because re.match does not anchor the end)
 *   QT004 error    the router (mlp.gate) quantized: vLLM's MoE models build the
 *                  gate unquantized and refuse its packed weights
 *   QT005 error    int group size outside {-1 (channel), 32, 64, 128}: no
 *                  Marlin / machete kernel
 *   QT006 error    a quantized dimension not divisible by the group size, or
 *                  the tensor-parallel split (--tp) leaves a shard that is not
 *                  (column-parallel: output rows; row-parallel: input columns
 *                  per rank divisible by the group size)
 *   QT007 warning  MTP layer below 8 bits (draft acceptance collapses)
 *   QT008 warning  a target or ignore pattern that matches nothing
 *   QT009 warning  lm_head or the embeddings quantized
 *   QT010 warning  two groups matching one module at the same strength
 *                  (e.g. two regexes): which scheme wins is order-dependent
 * What vLLM's compressed-tensors loader refuses, one code per refusal:
 *   QT011 error    int weights at bits vLLM has no kernel for (weight-only:
 *                  4 and 8; with int8 activations: 8-bit channel/tensor, 4-bit group;
 *                  static int8 activations: 8-bit channel/tensor, not on routed experts),
 *                  or nvfp4 weights with activations other than nvfp4 or none
 *   QT012 error    asymmetric int weights on routed experts (fused MoE is
 *                  symmetric only)
 *   QT013 error    experts whose shape misses Marlin MoE (hidden % 128, expert
 *                  width per GPU % max(64, group)) with channel scales or
 *                  actorder group/dynamic, which the Triton fallback refuses
 *   QT014 error    dense int weight-only tensors Marlin refuses: output rows
 *                  per GPU (fused qkv/gate_up summed) % 64, input columns per
 *                  GPU % 128
 *   QT015 error    kv_cache_scheme other than fp8, per tensor, symmetric
 *   QT016 error    actorder without the group strategy (compressed-tensors)
 * And what vLLM accepts but does not run faster:
 *   QT017 warning  SparseGPT pruning: written dense (vLLM has no sparse
 *                  kernels), so no speed-up or memory saving when served */
#ifndef QT_LINT_H
#define QT_LINT_H
#include "model/model.h"
#include "base/qt.h"
#include "recipe/recipe.h"

enum qt_severity { QT_SEV_WARNING, QT_SEV_ERROR };

const char *qt_severity_name(enum qt_severity s);  /* "warning" | "error" */

struct qt_finding {
    char code[8];             /* "QT001" */
    enum qt_severity severity;
    char *message;            /* one line */
    int n_tensors;
    int *tensors;             /* (n_tensors) indices into model->tensors */
};

struct qt_lint {
    int n;
    struct qt_finding *f;     /* (n) in code order */
    int n_errors, n_warnings;
};

struct qt_lint_opts {
    int tp;                   /* tensor-parallel size for QT006/QT013/QT014 (default 1) */
    int ep;                   /* 1: experts split by expert parallelism (whole experts per GPU) */
};

/* Lints recipe r on model m given its resolution res (from
 * qt_recipe_resolve, which also fills the pattern hit counts QT008 reads).
 * opts may be NULL.  Caller frees out with qt_lint_free. */
int qt_lint_run(const struct qt_recipe *r, const struct qt_model *m, const struct qt_resolution *res,
                const struct qt_lint_opts *opts, struct qt_lint *out, qt_err *err);
void qt_lint_free(struct qt_lint *l);

/* 1 when giving tensor i scheme s raises neither QT005 (group size without a
 * kernel) nor QT006 (group or tensor-parallel split at tp) — what a planner
 * checks per candidate so that its recipe is lint-clean by construction. */
int qt_lint_scheme_fits(const struct qt_model *m, int i, const struct qt_scheme *s, int tp);

#endif
