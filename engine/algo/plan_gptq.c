/* plan_gptq.c — the planner's GPTQ candidates (see plan_gptq.h). */
#include "algo/plan_gptq.h"

#include <stdlib.h>

#include "recipe/recipe.h"

/* qplan weight source: tensor ti as GPTQ quantized it (1: not quantized by
 * the pipeline, the plan rounds it to nearest). */
static int gptq_weight(void *ctx, int ti, float *out, qt_err *err) {
    struct qt_plan_gptq *g = ctx;
    struct qt_qtensor q;
    int rc = qt_pipe_get(g->pipe, ti, &q, NULL, err);
    if (rc != QT_OK) return rc;
    qt_quant_decode(&q, 0, q.rows, out);
    qt_qtensor_free(&q);
    return QT_OK;
}

int qt_plan_gptq_weights(struct qt_plan_gptq *g, const struct qt_plan *p, const int *choice, struct qt_qplan *qp,
                         qt_err *err) {
    qt_plan_gptq_release(g);
    struct qt_recipe *r = NULL;
    struct qt_resolution res;
    if (qt_plan_recipe(p, choice, NULL, NULL, &r, err) != QT_OK) return QT_ERR;
    int rc = qt_recipe_resolve(r, p->m, &res, err);
    if (rc == QT_OK) {
        rc = qt_pipe_run(p->m, r, &res, &g->pp, &g->pipe, err);
        qt_resolution_free(&res);
    }
    qt_recipe_free(r);
    if (rc != QT_OK) return qt_err_prefix(err, "plan: GPTQ");
    qp->wsrc = gptq_weight;
    qp->wctx = g;
    return QT_OK;
}

void qt_plan_gptq_release(struct qt_plan_gptq *g) {
    qt_pipe_free(g->pipe);
    g->pipe = NULL;
}

static int begin(void *ctx, const struct qt_plan *p, const int *choice, struct qt_qplan *qp, qt_err *err) {
    return qt_plan_gptq_weights(ctx, p, choice, qp, err);
}

static void end(void *ctx) { qt_plan_gptq_release(ctx); }

void qt_plan_gptq_attach(struct qt_plan *p, struct qt_plan_gptq *g, const struct qt_pipe_params *pp) {
    g->pp = *pp;
    g->pipe = NULL;
    p->calw = (struct qt_plan_weights){begin, end, g};
}
