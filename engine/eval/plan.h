/* plan.h — automatic bit allocation: the recipe with the least predicted KL
 * for a byte budget (a size, a bits-per-weight or a number of GPUs).
 *
 * 1. Units follow what the target format can express.  compressed-tensors
 *    (vLLM): per decoder layer its attention (q/k/v — one fused qkv_proj —
 *    with o_proj), its routed experts as one unit (vLLM's fused MoE kernel
 *    takes one scheme for every expert of a layer), its shared expert, its
 *    dense MLP (sensitivity.h's --by group units).  Candidates are schemes
 *    vLLM runs (int4/int8 symmetric with group 32/64/128/channel, fp8 weights,
 *    bf16) unless the caller names others; a candidate whose group does not
 *    divide a unit's input dimension (or its tensor-parallel shard) is not
 *    offered to that unit, so the plan is lint-clean by construction.
 * 2. ΔKL(unit, candidate) is measured with the sensitivity machinery: the
 *    base model's states entering every layer are computed once, each unit is
 *    quantized alone and the forward restarts at its layer.  The same pass
 *    measures every unit quantized together, which gives the uniform recipes'
 *    KL and the additivity factor kappa (KL of all / Σ single-unit ΔKL).
 * 3. The allocation is a multiple-choice knapsack: one candidate per unit,
 *    minimise Σ ΔKL subject to Σ bytes ≤ budget.  It is solved by dynamic
 *    programming over a grid of the bytes above the cheapest choice, with
 *    every cost rounded UP to the grid, so the answer always fits the real
 *    budget; the same table evaluated n_units cells further is a lower bound
 *    on the true optimum (rounding adds less than one cell per unit), which
 *    bounds the gap.  Leftover real bytes are then spent greedily.
 *
 * Tensors outside every unit (embeddings, lm_head, router, norms, the MTP
 * layer, anything the base recipe keeps) are fixed: they keep the base
 * recipe's scheme (none given: unquantized) and count in every size. */
#ifndef QT_PLAN_H
#define QT_PLAN_H
#include <stdint.h>

#include "eval/eval.h"
#include "model/model.h"
#include "base/qt.h"
#include "quant/scheme.h"
#include "recipe/deploy.h"
#include "recipe/gguf_plan.h"
#include "recipe/recipe.h"

enum qt_plan_format { QT_PLAN_CT, QT_PLAN_GGUF };

#define QT_PLAN_MAX_CAND 32

/* The default compressed-tensors candidates (what vLLM's kernels run). */
extern const char qt_plan_ct_candidates[];
/* The default GGUF candidates: the K types llama.cpp's presets are made of,
 * the 8-bit and legacy 4-bit types, IQ4_XS and BF16 (docs/plan.md). */
extern const char qt_plan_gguf_candidates[];
/* llama-quantize's file types marked on a GGUF plan's curve (NULL-ended). */
extern const char *const qt_plan_gguf_presets[];

struct qt_plan_unit {
    char name[128];             /* "model.layers.3.mlp.experts" */
    const char *kind;           /* "attention", "dense", "shared", "experts" */
    int layer;
    int n_tensors;
    int *tensors;               /* (n_tensors) indices into model->tensors */
    int64_t params;
    double bytes[QT_PLAN_MAX_CAND];   /* (n_cand) bytes under candidate c; < 0: c does not fit the unit */
    double dkl[QT_PLAN_MAX_CAND];     /* (n_cand) ΔKL of the unit alone under c; NAN: not measured */
    double dkl_se[QT_PLAN_MAX_CAND];  /* (n_cand) its standard error */
    /* GGUF: the ggml type candidate c writes on this tensor (llama-quantize's
     * shape fallback applied: Q4_K on a row of 128 is Q5_0), the unit's
     * index in the plan's GGUF tensors and its kind's storage */
    int gg[QT_PLAN_MAX_CAND];
    int gout;
    char gkind[32];
};

struct qt_qplan;
struct qt_plan;

/* A calibrated algorithm's quantized weights, for candidates that are not
 * rounded to nearest (GPTQ): the algo layer sets this (algo/plan_gptq.h),
 * since the calibration pipeline sits above eval/.  begin runs the
 * algorithm for the allocation choice (n_units candidate indices) and
 * points qp's weight source (qplan.h wsrc) at its result; end releases it. */
struct qt_plan_weights {
    int (*begin)(void *ctx, const struct qt_plan *p, const int *choice, struct qt_qplan *qp, qt_err *err);
    void (*end)(void *ctx);
    void *ctx;
};

struct qt_plan {
    const struct qt_model *m;
    enum qt_plan_format format;
    /* QT_ALGO_RTN, or QT_ALGO_GPTQ: every quantizing candidate is measured
     * with GPTQ's weights (calw) and the recipe is a GPTQModifier */
    enum qt_algo algo;
    struct qt_plan_weights calw;
    int tp;                     /* tensor parallel size the candidates must split over (1) */
    int n_cand;
    struct qt_scheme cand[QT_PLAN_MAX_CAND];            /* (n_cand) */
    char cand_name[QT_PLAN_MAX_CAND][QT_SCHEME_STR_MAX];/* (n_cand) canonical strings */
    int n_units;
    struct qt_plan_unit *units; /* (n_units) in model order */
    double fixed_bytes;         /* every tensor outside the units, as the base leaves it */
    int64_t unit_params;        /* weights the plan allocates (bpw is over these) */
    double min_bytes, max_bytes;/* whole model with each unit at its cheapest / dearest choice */
    /* after qt_plan_measure (or qt_plan_load_dkl) */
    int measured;
    double uniform_kl[QT_PLAN_MAX_CAND];  /* (n_cand) KL with every unit at c on the measuring text; NAN */
    double kappa;               /* additivity factor: median over candidates of KL(all) / Σ ΔKL; 1 unknown */
    int n_fit;                  /* uniform recipes the prediction is fitted on */
    double fit_sum[QT_PLAN_MAX_CAND], fit_kl[QT_PLAN_MAX_CAND];  /* (n_fit) their Σ ΔKL and KL, by Σ */
    int nseq, ctx;              /* measuring text: chunks of ctx tokens */
    char data[256];             /* measuring text's path */
    /* GGUF (format QT_PLAN_GGUF): units are GGUF tensors (a layer's routed
     * experts are one stacked tensor per projection), candidates ggml types */
    int cand_gg[QT_PLAN_MAX_CAND];      /* (n_cand) ggml type of each candidate */
    char gguf_ftype[16];        /* the recipe's file type: the fixed part (MTP layer) follows its rules */
    int gguf_imatrix;           /* importance weights are used (llama-quantize's has_imatrix) */
    char gguf_calib[256];       /* the text the importance comes from ("" none) */
    float **imp;                /* (m->n_tensors) importance per input column, or NULL */
    struct qt_gguf_spec *gspec; /* the preset: ftype + the base recipe's qtune_gguf entries */
    struct qt_gguf_plan *gplan; /* the model's GGUF tensors under gspec (the fixed part's types) */
};

struct qt_plan_opts {
    enum qt_plan_format format;
    const char *candidates;     /* comma-separated schemes, NULL: the format's default */
    int tp;                     /* 0/1: no tensor-parallel constraint */
    enum qt_algo algo;          /* 0 / QT_ALGO_RTN: round to nearest; QT_ALGO_GPTQ (no base) */
    struct qt_recipe *base;     /* may be NULL: every decoder Linear planned, the rest kept */
    const struct qt_resolution *base_res;   /* base resolved against m (with base) */
    /* GGUF: the file type written as the recipe's ftype (NULL: the base
     * recipe's qtune_gguf ftype, else Q8_0), and whether importance weights
     * will be used (qt_plan_set_importance; some preset rules depend on it) */
    const char *gguf_ftype;
    int gguf_imatrix;
};

/* Builds the units, candidates and sizes of m (metadata-only models work:
 * the size side needs no weights).  Free with qt_plan_free. */
int qt_plan_init(const struct qt_model *m, const struct qt_plan_opts *o, struct qt_plan *out, qt_err *err);
void qt_plan_free(struct qt_plan *p);

struct qt_calib;
/* GGUF: importance weights from calibration statistics, as the GGUF writer
 * takes them from `qtune quantize --format gguf --calib FILE` (E[x²] per
 * input column; an expert that saw no token 1.0; a tensor with no
 * statistics — token_embd, output — none).  calib_path is recorded. */
int qt_plan_set_importance(struct qt_plan *p, const struct qt_calib *c, const char *calib_path, qt_err *err);

/* Name of what candidate c writes on unit u: the scheme, or for GGUF the
 * ggml type after the shape fallback. */
const char *qt_plan_choice_name(const struct qt_plan *p, int u, int c);
/* 1 when candidate c keeps the weights (bf16; GGUF: BF16, F16, F32). */
int qt_plan_cand_kept(const struct qt_plan *p, int c);
/* Bytes of the whole model with every unit at candidate c (units it does
 * not fit: -1). */
double qt_plan_uniform_bytes(const struct qt_plan *p, int c);
/* GGUF: the size of the file llama-quantize's file type name (Q4_K_M,
 * Q6_K, ...) gives the model, into out; QT_ERR with err for another name. */
int qt_plan_budget_gguf(const struct qt_plan *p, const char *ftype, double *out, qt_err *err);
/* GGUF: the allocation llama-quantize's file type ftype (Q4_K_M, Q3_K_M,
 * ...) gives the units — each unit's type mapped to the candidate that
 * writes it — into choice (n_units), and that file's tensor bytes; QT_ERR
 * when a unit's type is not among the candidates. */
int qt_plan_gguf_preset(const struct qt_plan *p, const char *ftype, int *choice, double *bytes, qt_err *err);
/* GGUF: the KL of choice on ep's text as the written file would give it
 * (every tensor of the recipe fake-quantized, as `qtune eval --quantized`
 * reads the file). */
int qt_plan_gguf_eval(const struct qt_plan *p, const int *choice, const struct qt_eval_params *ep,
                      struct qt_kl_stats *st, qt_err *err);
/* Refits the prediction (kappa, fit_*) from uniform_kl and the table. */
void qt_plan_fit(struct qt_plan *p);

/* Measures ΔKL of every (unit, candidate) on ep's text (ctx, chunks, cache,
 * progress over the whole scan, cancel).  Needs weights: a config.json alone
 * fails saying so.  With algo GPTQ, each candidate's weights are GPTQ's for
 * the uniform recipe of that candidate (p->calw; units it does not fit kept):
 * ΔKL of a unit is then measured with the weights the calibration pipeline
 * gives it when every layer before it is quantized too. */
int qt_plan_measure(struct qt_plan *p, const struct qt_eval_params *ep, qt_err *err);

/* The plan's candidates and ΔKL table as JSON text (caller frees) and back:
 * loading checks that units and candidates match p's. */
char *qt_plan_dkl_json(const struct qt_plan *p, qt_err *err);
int qt_plan_load_dkl(struct qt_plan *p, const char *json, size_t len, const char *fname, qt_err *err);

/* Predicted KL of an allocation whose Σ ΔKL is sum: sum × κ(sum), κ the
 * ratio KL(all units) / Σ ΔKL of the uniform recipes, interpolated in log Σ
 * between the two uniform recipes around sum (constant beyond them).  The
 * ratio grows with the size of the error (errors interact more as they grow:
 * 0.37 for int8, 0.77 for int4, 0.9 for int3, 1.2 for int2 on the fixture),
 * so one constant would misjudge both ends.  sum itself when nothing was fitted. */
double qt_plan_predict(const struct qt_plan *p, double sum);

/* Bytes of the whole model with choice (n_units candidate indices). */
double qt_plan_bytes(const struct qt_plan *p, const int *choice);
/* Σ ΔKL of choice (additive prediction). */
double qt_plan_sum_dkl(const struct qt_plan *p, const int *choice);
/* 1 when candidate c fits every unit (a uniform recipe exists). */
int qt_plan_uniform_ok(const struct qt_plan *p, int c);

/* Budgets in bytes of the whole model: bits per weight over the planned
 * weights (fixed part added); or the largest size whose weights and the KV
 * cache of ctx·batch tokens fit n GPUs at tensor parallel n (deploy.h's
 * formulas with the fixed part's replicated bytes; base r/res may be NULL). */
double qt_plan_budget_bpw(const struct qt_plan *p, double bpw);
/* The size of the uniform recipe giving s to every unit (s need not be a
 * candidate); fails when s does not fit some unit. */
int qt_plan_budget_uniform(const struct qt_plan *p, const struct qt_scheme *s, double *out, qt_err *err);
int qt_plan_budget_gpus(const struct qt_plan *p, const struct qt_recipe *r, const struct qt_resolution *res,
                        const struct qt_deploy_opts *o, double *out, qt_err *err);

struct qt_plan_solution {
    int *choice;                /* (n_units) candidate index per unit */
    double bytes;               /* whole model */
    double sum_dkl;             /* Σ ΔKL (additive prediction) */
    double lower_bound;         /* no allocation within the budget has Σ ΔKL below this */
    double bpw;                 /* over the planned weights */
};

/* Exact multiple-choice knapsack (see above) for budget bytes; grid cells
 * (0: 32768).  Fails when even the cheapest choice does not fit, naming the
 * smallest size.  Free with qt_plan_solution_free. */
int qt_plan_solve(const struct qt_plan *p, double budget, int grid, struct qt_plan_solution *out, qt_err *err);
void qt_plan_solution_free(struct qt_plan_solution *s);

struct qt_plan_point {
    double bytes, sum_dkl, bpw;
    int uniform;                /* candidate index when this is a uniform recipe, -1 */
    int *choice;                /* (n_units) */
};

struct qt_plan_curve {
    int n;
    struct qt_plan_point *pt;   /* (n) by increasing bytes, Pareto-optimal: Σ ΔKL decreasing */
    int n_uniform;
    struct qt_plan_point *uni;  /* (n_uniform) uniform recipes, by increasing bytes */
};

/* The Pareto curve: about npts optimal allocations from the smallest to the
 * largest size (one DP table) and the uniform recipes.  Free with
 * qt_plan_curve_free. */
int qt_plan_curve(const struct qt_plan *p, int npts, struct qt_plan_curve *out, qt_err *err);
void qt_plan_curve_free(struct qt_plan_curve *c);

/* The allocation giving candidate c to every unit it fits and the kept
 * candidate (bf16) to the rest, into choice (n_units); QT_ERR when a unit
 * takes neither. */
int qt_plan_uniform_choice(const struct qt_plan *p, int c, int *choice, qt_err *err);

/* The recipe of choice as a person writes it: one config group per scheme
 * whose targets are one regex per unit kind and layer range
 * ('re:model\.layers\.(?:[3-9]|1[0-7])\.mlp\.experts\.\d+\.(?:gate|up|down)_proj$'),
 * on a copy of the base recipe (NULL: a new QuantizationModifier recipe with
 * ignore [lm_head]; with algo GPTQ a GPTQModifier, default actorder).
 * header: comment lines put first (may be NULL).  The
 * result is resolved against m and checked to give every tensor the planned
 * scheme.  Free with qt_recipe_free. */
int qt_plan_recipe(const struct qt_plan *p, const int *choice, const char *base_path, const char *header,
                   struct qt_recipe **out, qt_err *err);

/* A regex alternation matching exactly the decimal numbers in set (n sorted,
 * distinct, >= 0), e.g. {3..17} -> "[3-9]|1[0-7]", into buf (exposed for tests). */
int qt_plan_numbers_re(const int *set, int n, char *buf, size_t size);

#endif
