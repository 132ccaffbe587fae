/* plan_gptq.h — GPTQ candidates for the planner (eval/plan.h): the
 * calibration pipeline (pipeline.h) run on a planned allocation, its
 * quantized weights served to the planner's evaluations through the qplan
 * weight source.  Lives in algo/ because the pipeline does; the planner
 * reaches it through struct qt_plan_weights. */
#ifndef QT_PLAN_GPTQ_H
#define QT_PLAN_GPTQ_H
#include "algo/pipeline.h"
#include "eval/plan.h"
#include "eval/qplan.h"

struct qt_plan_gptq {
    struct qt_pipe_params pp;   /* calibration text, samples, seqlen, cancel */
    struct qt_pipe *pipe;       /* the current allocation's result, NULL when none */
};

/* Makes p measure its candidates with GPTQ weights calibrated as pp says (g
 * must outlive p's use; pp is copied).  p must have algo QT_ALGO_GPTQ. */
void qt_plan_gptq_attach(struct qt_plan *p, struct qt_plan_gptq *g, const struct qt_pipe_params *pp);

/* Runs the pipeline on the recipe of choice (n_units candidate indices:
 * qt_plan_recipe's GPTQModifier) and points qp's weight source at its
 * weights; qt_plan_gptq_release frees them (qp must not be used after). */
int qt_plan_gptq_weights(struct qt_plan_gptq *g, const struct qt_plan *p, const int *choice, struct qt_qplan *qp,
                         qt_err *err);
void qt_plan_gptq_release(struct qt_plan_gptq *g);

#endif
