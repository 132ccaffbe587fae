/* job_plan.c — the `plan` job kind: the planner (engine/eval/plan.h) on the
 * session's model.  Measures ΔKL of every (unit, candidate) on params.data,
 * then writes the Pareto curve with the recipe YAML of every point (the TUI
 * applies one as the recipe), the uniform recipes, and — with a target — the
 * plan for it, saved as jobs/ID/plan.yaml.  params (docs/protocol.md):
 *   {"data":FILE, "ctx":N?, "chunks":N?, "candidates":"LIST"?, "points":N?,
 *    "target_bytes":B? | "target_bpw":X? | "gpus":N?, "gpu":NAME?, "kv_ctx":N?, "batch":N?,
 *    "base":bool? (plan over the frozen recipe: what it keeps stays kept)} */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "daemon/job.h"
#include "eval/eval.h"
#include "eval/plan.h"
#include "io/report.h"
#include "model/model.h"
#include "recipe/deploy.h"
#include "recipe/recipe.h"

static const cJSON *item(const void *params, const char *k) { return cJSON_GetObjectItem((const cJSON *)params, k); }

static int num(const void *params, const char *k, double lo, double def, double *out, qt_err *err) {
    const cJSON *v = item(params, k);
    if (!v) {
        *out = def;
        return QT_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo))
        return qt_err_set(err, "plan: params.%s: expected a number of at least %g", k, lo);
    *out = v->valuedouble;
    return QT_OK;
}

int qt_job_plan_check(const void *params, qt_err *err) {
    const char *data = cJSON_GetStringValue(item(params, "data"));
    if (!data) return qt_err_set(err, "plan: params.data (the text to measure ΔKL on) is required");
    if (access(data, R_OK) != 0) return qt_err_set(err, "plan: %s: cannot read it", data);
    double x;
    if (num(params, "ctx", 2, 512, &x, err) || num(params, "chunks", 1, 4, &x, err) ||
        num(params, "points", 2, 24, &x, err) || num(params, "target_bytes", 1, 0, &x, err) ||
        num(params, "target_bpw", 0.01, 0, &x, err) || num(params, "gpus", 1, 0, &x, err) ||
        num(params, "kv_ctx", 1, 8192, &x, err) || num(params, "batch", 1, 1, &x, err))
        return QT_ERR;
    int targets = !!item(params, "target_bytes") + !!item(params, "target_bpw") + !!item(params, "gpus");
    if (targets > 1) return qt_err_set(err, "plan: give at most one of target_bytes, target_bpw, gpus");
    if (item(params, "gpus") && !cJSON_GetStringValue(item(params, "gpu")))
        return qt_err_set(err, "plan: params.gpus needs params.gpu (a GPU of the catalog)");
    const cJSON *c = item(params, "candidates");
    if (c && !cJSON_IsString(c)) return qt_err_set(err, "plan: params.candidates: a comma-separated string");
    return QT_OK;
}

struct prog {
    struct qt_job_ctx *job;
};

static void on_progress(void *p, int64_t done, int64_t total) {
    struct prog *g = p;
    qt_job_progress(g->job, done, total, "measuring");
}

int qt_job_plan_run(struct qt_job_ctx *ctx, qt_err *err) {
    const void *P = ctx->params;
    double v_ctx = 512, v_chunks = 4, v_points = 24, v_bytes = 0, v_bpw = 0, v_gpus = 0, v_kvctx = 8192, v_batch = 1;
    num(P, "ctx", 2, 512, &v_ctx, NULL);
    num(P, "chunks", 1, 4, &v_chunks, NULL);
    num(P, "points", 2, 24, &v_points, NULL);
    num(P, "target_bytes", 1, 0, &v_bytes, NULL);
    num(P, "target_bpw", 0.01, 0, &v_bpw, NULL);
    num(P, "gpus", 1, 0, &v_gpus, NULL);
    num(P, "kv_ctx", 1, 8192, &v_kvctx, NULL);
    num(P, "batch", 1, 1, &v_batch, NULL);
    int use_base = cJSON_IsTrue(item(P, "base"));
    char base_path[PATH_MAX];
    snprintf(base_path, sizeof base_path, "%s/recipe.yaml", ctx->dir);
    struct qt_recipe *base = NULL;
    struct qt_resolution bres = {0};
    struct qt_plan p = {0};
    struct qt_plan_solution sol = {0};
    struct qt_plan_curve cv = {0};
    struct qt_gpu_catalog cat = {0};
    int rc = QT_ERR;
    if (use_base && (qt_recipe_load(base_path, &base, err) != QT_OK ||
                     qt_recipe_resolve(base, ctx->model, &bres, err) != QT_OK))
        goto out;
    struct qt_plan_opts po = {.candidates = cJSON_GetStringValue(item(P, "candidates")), .tp = (int)v_gpus,
                              .base = base, .base_res = base ? &bres : NULL};
    if (qt_plan_init(ctx->model, &po, &p, err) != QT_OK) goto out;
    qt_job_log(ctx, "plan: %d units x %d candidates, ΔKL on %s", p.n_units, p.n_cand,
               cJSON_GetStringValue(item(P, "data")));
    char cache[PATH_MAX];
    struct prog g = {ctx};
    struct qt_eval_params ep = {.data_path = cJSON_GetStringValue(item(P, "data")), .ctx = (int)v_ctx,
                                .chunks = (int)v_chunks, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache),
                                .progress = on_progress, .progress_ctx = &g, .cancel = (volatile int *)ctx->cancel};
    if (qt_plan_measure(&p, &ep, err) != QT_OK) goto out;
    double budget = 0;
    if (v_bytes > 0) budget = v_bytes;
    else if (v_bpw > 0) budget = qt_plan_budget_bpw(&p, v_bpw);
    else if (v_gpus > 0) {
        if (qt_gpu_catalog_load_default(NULL, &cat, err) != QT_OK) goto out;
        const struct qt_gpu *gpu = qt_gpu_find(&cat, cJSON_GetStringValue(item(P, "gpu")));
        if (!gpu) {
            qt_err_set(err, "plan: params.gpu %s: not in the GPU catalog", cJSON_GetStringValue(item(P, "gpu")));
            goto out;
        }
        struct qt_deploy_opts d = {.gpu = gpu, .tp = (int)v_gpus, .ctx = (int64_t)v_kvctx, .batch = (int)v_batch};
        if (qt_plan_budget_gpus(&p, base, base ? &bres : NULL, &d, &budget, err) != QT_OK) goto out;
    }
    if (budget > 0 && qt_plan_solve(&p, budget, 0, &sol, err) != QT_OK) goto out;
    qt_job_progress(ctx, 1, 1, "curve");
    if (qt_plan_curve(&p, (int)v_points, &cv, err) != QT_OK) goto out;
    cJSON *r = cJSON_CreateObject();
    if (budget > 0) cJSON_AddNumberToObject(r, "target_bytes", budget);
    qt_plan_json(r, &p, budget > 0 ? &sol : NULL, &cv, 1);
    ctx->report = r;
    /* every point's recipe, for the client to apply without re-planning */
    cJSON *curve = cJSON_GetObjectItem(r, "curve"), *uni = cJSON_GetObjectItem(r, "uniform");
    for (int i = 0; i < cv.n + cv.n_uniform; i++) {
        const struct qt_plan_point *pt = i < cv.n ? &cv.pt[i] : &cv.uni[i - cv.n];
        struct qt_recipe *rec = NULL;
        if (*ctx->cancel) {
            qt_err_set(err, "cancelled");
            goto out;
        }
        if (qt_plan_recipe(&p, pt->choice, base ? base_path : NULL, "# Planned by qtune (plan job)\n", &rec, err) != QT_OK)
            goto out;
        size_t len;
        char *y = qt_recipe_dump(rec, &len, err);
        qt_recipe_free(rec);
        if (!y) goto out;
        cJSON_AddStringToObject(cJSON_GetArrayItem(i < cv.n ? curve : uni, i < cv.n ? i : i - cv.n), "recipe", y);
        free(y);
        qt_job_progress(ctx, i + 1, cv.n + cv.n_uniform, "recipes");
    }
    if (budget > 0) {
        struct qt_recipe *rec = NULL;
        char out_path[PATH_MAX];
        snprintf(out_path, sizeof out_path, "%s/plan.yaml", ctx->dir);
        if (qt_plan_recipe(&p, sol.choice, base ? base_path : NULL, "# Planned by qtune (plan job)\n", &rec, err) != QT_OK)
            goto out;
        int src = qt_recipe_save(rec, out_path, err);
        qt_recipe_free(rec);
        if (src != QT_OK) goto out;
        cJSON_AddStringToObject(cJSON_GetObjectItem(r, "plan"), "recipe_path", out_path);
        qt_job_log(ctx, "plan: %.0f bytes, %.3f bpw, predicted KL %.5f (Σ ΔKL %.5f; median additivity %.3f)", sol.bytes, sol.bpw,
                   qt_plan_predict(&p, sol.sum_dkl), sol.sum_dkl, p.kappa);
    }
    qt_job_log(ctx, "curve: %d points, %d uniform recipes; additivity %.3f", cv.n, cv.n_uniform, p.kappa);
    rc = QT_OK;
out:
    qt_gpu_catalog_free(&cat);
    qt_plan_curve_free(&cv);
    qt_plan_solution_free(&sol);
    qt_plan_free(&p);
    if (base) qt_resolution_free(&bres);
    qt_recipe_free(base);
    return rc;
}
