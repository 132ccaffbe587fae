/* job_plan.c — the `plan` job kind and the `plan_size` op: the planner
 * (engine/eval/plan.h) on the session's model.
 *
 * The job measures ΔKL of every (unit, candidate) on params.data (or takes
 * the table params.dkl), then writes the Pareto curve with the recipe YAML
 * of every point (the TUI applies one as the recipe), the uniform recipes,
 * and — with a target — the plan for it (its recipe too), saved as
 * jobs/ID/plan.yaml.  params (docs/protocol.md):
 *   {"data":FILE, "dkl":FILE?, "ctx":N?, "chunks":N?, "candidates":"LIST"?, "points":N?,
 *    "target_bytes":B|"SCHEME"|"SIZE"? | "target_bpw":X? | "gpus":N?, "gpu":NAME?, "kv_ctx":N?, "batch":N?,
 *    "base":bool? (plan over the frozen recipe: what it keeps stays kept),
 *    "gptq":bool? (GPTQ candidates, calibrated on "calib", else "data"),
 *    "format":"ct"|"gguf"? (gguf: GGUF tensors and ggml types; "target_bytes" may be a
 *    file type, "Q4_K_M": its size and ftype; "gguf_ftype":T?; "calib": importance weights)}
 *
 * The op answers the size side at once (no weights needed: a config.json
 * alone works) and places a recipe text on a finished plan job's table. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "algo/plan_gptq.h"
#include "daemon/daemon_ops.h"
#include "daemon/job.h"
#include "eval/eval.h"
#include "eval/plan.h"
#include "io/report.h"
#include "io/writer.h"
#include "model/model.h"
#include "eval/calib.h"
#include "recipe/deploy.h"
#include "recipe/gguf_plan.h"
#include "recipe/recipe.h"

/* Room for a comma-separated candidate list (QT_PLAN_MAX_CAND schemes). */
#define QT_PLAN_LIST_MAX (QT_PLAN_MAX_CAND * QT_SCHEME_STR_MAX)

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

/* params.target_bytes as a string: a scheme (its uniform size) or a size
 * ("22GiB", "180GB", "5000000000"); 1 = scheme, 0 = size, QT_ERR. */
static int target_text(const char *t, struct qt_scheme *s, uint64_t *bytes, qt_err *err) {
    if (qt_scheme_parse(t, s, NULL) == QT_OK) return 1;
    if (qt_gguf_ftype_find(t)) return 2;   /* a GGUF file type: that file's size (format gguf) */
    if (qt_write_parse_size(t, bytes, NULL) == QT_OK && *bytes > 0) return 0;
    return qt_err_set(err, "plan: target %s: expected a size (22GiB), a scheme (W4A16: its uniform size), "
                      "a bits per weight or GPUs", t);
}

/* Checks the target params (shared by the job and the op). */
static int check_target(const void *params, qt_err *err) {
    double x;
    const cJSON *tb = item(params, "target_bytes");
    const char *fmt = cJSON_GetStringValue(item(params, "format"));
    if (item(params, "format") && (!fmt || (strcmp(fmt, "ct") && strcmp(fmt, "gguf"))))
        return qt_err_set(err, "plan: params.format: \"ct\" or \"gguf\"");
    int gguf = fmt && !strcmp(fmt, "gguf");
    if (cJSON_IsString(tb)) {
        struct qt_scheme s;
        uint64_t b;
        int k = target_text(tb->valuestring, &s, &b, err);
        if (k == QT_ERR) return QT_ERR;
        if (k == 2 && !gguf)
            return qt_err_set(err, "plan: target %s: a GGUF file type needs \"format\":\"gguf\"", tb->valuestring);
        if (k == 1 && gguf)
            return qt_err_set(err, "plan: target %s: a compressed-tensors scheme; for gguf give a size or a file type (Q4_K_M)",
                              tb->valuestring);
    } else if (num(params, "target_bytes", 1, 0, &x, err)) {
        return QT_ERR;
    }
    if (num(params, "target_bpw", 0.01, 0, &x, err) || num(params, "gpus", 1, 0, &x, err) ||
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

int qt_job_plan_check(const void *params, qt_err *err) {
    const char *data = cJSON_GetStringValue(item(params, "data"));
    const char *dkl = cJSON_GetStringValue(item(params, "dkl"));
    if (!data && !dkl)
        return qt_err_set(err, "plan: params.data (the text to measure ΔKL on) or params.dkl (a ΔKL table) is required");
    if (data && access(data, R_OK) != 0) return qt_err_set(err, "plan: %s: cannot read it", data);
    if (dkl && access(dkl, R_OK) != 0) return qt_err_set(err, "plan: %s: cannot read it", dkl);
    const char *cal = cJSON_GetStringValue(item(params, "calib"));
    if (cal && access(cal, R_OK) != 0) return qt_err_set(err, "plan: %s: cannot read it", cal);
    if (cJSON_IsTrue(item(params, "gptq")) && !cal && !data)
        return qt_err_set(err, "plan: params.gptq needs a calibration text (params.calib or params.data)");
    double x;
    if (num(params, "ctx", 2, 512, &x, err) || num(params, "chunks", 1, 4, &x, err) ||
        num(params, "points", 2, 24, &x, err))
        return QT_ERR;
    return check_target(params, err);
}

/* The budget the target params give, in bytes of the whole model (0: no
 * target); desc says what it is ("W4A16 size", "2xH100-80G, ctx 8192 x 1"). */
static int plan_budget(const struct qt_plan *p, const void *P, struct qt_recipe *base, const struct qt_resolution *bres,
                       double *budget, char *desc, size_t dn, qt_err *err) {
    double v_bytes = 0, v_bpw = 0, v_gpus = 0, v_kvctx = 8192, v_batch = 1;
    *budget = 0;
    desc[0] = 0;
    const cJSON *tb = item(P, "target_bytes");
    num(P, "target_bpw", 0.01, 0, &v_bpw, NULL);
    num(P, "gpus", 1, 0, &v_gpus, NULL);
    num(P, "kv_ctx", 1, 8192, &v_kvctx, NULL);
    num(P, "batch", 1, 1, &v_batch, NULL);
    if (cJSON_IsString(tb)) {
        struct qt_scheme s;
        uint64_t b = 0;
        int k = target_text(tb->valuestring, &s, &b, err);
        if (k == QT_ERR) return QT_ERR;
        if (k == 2) {
            if (qt_plan_budget_gguf(p, tb->valuestring, budget, err) != QT_OK) return QT_ERR;
            snprintf(desc, dn, "%s size", tb->valuestring);
        } else if (k == 1) {
            if (qt_plan_budget_uniform(p, &s, budget, err) != QT_OK) return QT_ERR;
            snprintf(desc, dn, "%s size", tb->valuestring);
        } else {
            *budget = (double)b;
            snprintf(desc, dn, "%s", tb->valuestring);
        }
    } else if (num(P, "target_bytes", 1, 0, &v_bytes, NULL) == QT_OK && v_bytes > 0) {
        *budget = v_bytes;
        snprintf(desc, dn, "%.0f bytes", v_bytes);
    } else if (v_bpw > 0) {
        *budget = qt_plan_budget_bpw(p, v_bpw);
        snprintf(desc, dn, "%g bpw", v_bpw);
    } else if (v_gpus > 0) {
        struct qt_gpu_catalog cat = {0};
        if (qt_gpu_catalog_load_default(NULL, &cat, err) != QT_OK) return QT_ERR;
        const char *name = cJSON_GetStringValue(item(P, "gpu"));
        const struct qt_gpu *gpu = qt_gpu_find(&cat, name);
        int rc = QT_OK;
        if (!gpu) rc = qt_err_set(err, "plan: params.gpu %s: not in the GPU catalog", name ? name : "?");
        struct qt_deploy_opts d = {.gpu = gpu, .tp = (int)v_gpus, .ctx = (int64_t)v_kvctx, .batch = (int)v_batch};
        if (rc == QT_OK) rc = qt_plan_budget_gpus(p, base, base ? bres : NULL, &d, budget, err);
        if (rc == QT_OK)
            snprintf(desc, dn, "%dx%s, ctx %.0f x %.0f", (int)v_gpus, gpu->name, v_kvctx, v_batch);
        qt_gpu_catalog_free(&cat);
        return rc;
    }
    return QT_OK;
}

/* The default candidates a ΔKL table measured (bf16 always): a table
 * reused without a list plans over what it has.  Into buf; the table's
 * JSON text (a plan report or the table alone). */
static void table_candidates(const char *json, size_t len, char *buf, size_t n) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *d = cJSON_GetObjectItem(root, "dkl");
    if (!cJSON_IsObject(d)) d = root;
    const cJSON *cands = cJSON_GetObjectItem(d, "candidates");
    char list[QT_PLAN_LIST_MAX];
    snprintf(list, sizeof list, "%s", qt_plan_ct_candidates);
    size_t len2 = 0;
    buf[0] = 0;
    for (char *sv, *t = strtok_r(list, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
        struct qt_scheme s, o;
        int have = qt_scheme_parse(t, &s, NULL) == QT_OK && qt_scheme_is_kept(&s);
        const cJSON *c;
        cJSON_ArrayForEach(c, cands)
            if (!have && cJSON_IsString(c) && qt_scheme_parse(c->valuestring, &o, NULL) == QT_OK && qt_scheme_equal(&s, &o))
                have = 1;
        if (have && len2 + strlen(t) + 2 < n) len2 += (size_t)snprintf(buf + len2, n - len2, "%s%s", len2 ? "," : "", t);
    }
    cJSON_Delete(root);
}

struct prog {
    struct qt_job_ctx *job;
};

static void on_progress(void *p, int64_t done, int64_t total) {
    struct prog *g = p;
    qt_job_progress(g->job, done, total, "measuring");
}

/* The recipe YAML of choice (caller frees), NULL with err. */
static char *choice_yaml(const struct qt_plan *p, const int *choice, const char *base_path, qt_err *err) {
    struct qt_recipe *rec = NULL;
    if (qt_plan_recipe(p, choice, base_path, "# Planned by qtune (plan job)\n", &rec, err) != QT_OK) return NULL;
    size_t len;
    char *y = qt_recipe_dump(rec, &len, err);
    qt_recipe_free(rec);
    return y;
}

int qt_job_plan_run(struct qt_job_ctx *ctx, qt_err *err) {
    const void *P = ctx->params;
    double v_ctx = 512, v_chunks = 4, v_points = 24;
    num(P, "ctx", 2, 512, &v_ctx, NULL);
    num(P, "chunks", 1, 4, &v_chunks, NULL);
    num(P, "points", 2, 24, &v_points, NULL);
    int use_base = cJSON_IsTrue(item(P, "base"));
    const char *dkl_path = cJSON_GetStringValue(item(P, "dkl"));
    char base_path[PATH_MAX], cands[QT_PLAN_LIST_MAX], desc[160];
    snprintf(base_path, sizeof base_path, "%s/recipe.yaml", ctx->dir);
    struct qt_recipe *base = NULL;
    struct qt_resolution bres = {0};
    struct qt_plan p = {0};
    struct qt_plan_solution sol = {0};
    struct qt_plan_curve cv = {0};
    struct qt_plan_gptq gq = {0};
    char *table = NULL;
    size_t table_len = 0;
    int rc = QT_ERR;
    if (use_base && (qt_recipe_load(base_path, &base, err) != QT_OK ||
                     qt_recipe_resolve(base, ctx->model, &bres, err) != QT_OK))
        goto out;
    const char *cand_list = cJSON_GetStringValue(item(P, "candidates"));
    const char *fmt = cJSON_GetStringValue(item(P, "format"));
    int gguf = fmt && !strcmp(fmt, "gguf");
    const char *calib = cJSON_GetStringValue(item(P, "calib"));
    if (dkl_path) {
        if (!(table = qt_read_file(dkl_path, &table_len, err))) goto out;
        if (!cand_list && gguf) {   /* the types the table measured */
            cJSON *root = cJSON_ParseWithLength(table, table_len), *x;
            const cJSON *d = cJSON_GetObjectItem(root, "dkl");
            size_t n = 0;
            cands[0] = 0;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(cJSON_IsObject(d) ? d : root, "candidates"))
                if (cJSON_IsString(x) && n + strlen(x->valuestring) + 2 < sizeof cands)
                    n += (size_t)snprintf(cands + n, sizeof cands - n, "%s%s", n ? "," : "", x->valuestring);
            cJSON_Delete(root);
            if (cands[0]) cand_list = cands;
        } else if (!cand_list) {   /* the default candidates the table measured */
            table_candidates(table, table_len, cands, sizeof cands);
            cand_list = cands;
        }
    }
    int gptq = cJSON_IsTrue(item(P, "gptq"));
    struct qt_plan_opts po = {.candidates = cand_list, .tp = cJSON_IsNumber(item(P, "gpus")) ? item(P, "gpus")->valueint : 0,
                              .algo = gptq ? QT_ALGO_GPTQ : QT_ALGO_RTN, .base = base, .base_res = base ? &bres : NULL};
    if (gguf) {
        const cJSON *tb = item(P, "target_bytes");
        po.format = QT_PLAN_GGUF;
        po.gguf_ftype = cJSON_GetStringValue(item(P, "gguf_ftype"));
        if (!po.gguf_ftype && cJSON_IsString(tb) && qt_gguf_ftype_find(tb->valuestring)) po.gguf_ftype = tb->valuestring;
        po.gguf_imatrix = calib != NULL;
    }
    if (qt_plan_init(ctx->model, &po, &p, err) != QT_OK) goto out;
    if (gguf && calib) {   /* importance weights as the gguf quantize job takes them from "calib" */
        char cache[PATH_MAX];
        struct qt_calib_params cp = {.calib_path = calib, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache),
                                     .cancel = (volatile int *)ctx->cancel};
        struct qt_calib *cs = NULL;
        qt_job_log(ctx, "plan: importance weights from %s", calib);
        if (qt_calib_run(ctx->model, &cp, &cs, err) != QT_OK) goto out;
        int irc = qt_plan_set_importance(&p, cs, calib, err);
        qt_calib_free(cs);
        if (irc != QT_OK) goto out;
    }
    if (gptq) {
        const char *cal = cJSON_GetStringValue(item(P, "calib"));
        struct qt_pipe_params pp = {.calib_path = cal ? cal : cJSON_GetStringValue(item(P, "data")),
                                    .cancel = (volatile int *)ctx->cancel};
        qt_plan_gptq_attach(&p, &gq, &pp);
    }
    if (table) {
        qt_job_log(ctx, "plan: %d units x %d candidates, ΔKL from %s", p.n_units, p.n_cand, dkl_path);
        if (qt_plan_load_dkl(&p, table, table_len, dkl_path, err) != QT_OK) goto out;
        qt_job_progress(ctx, 1, 1, "table");
    } else {
        qt_job_log(ctx, "plan: %d units x %d candidates, ΔKL on %s", p.n_units, p.n_cand,
                   cJSON_GetStringValue(item(P, "data")));
        char cache[PATH_MAX];
        struct prog g = {ctx};
        struct qt_eval_params ep = {.data_path = cJSON_GetStringValue(item(P, "data")), .ctx = (int)v_ctx,
                                    .chunks = (int)v_chunks, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache),
                                    .progress = on_progress, .progress_ctx = &g, .cancel = (volatile int *)ctx->cancel};
        if (qt_plan_measure(&p, &ep, err) != QT_OK) goto out;
    }
    double budget = 0;
    if (plan_budget(&p, P, base, base ? &bres : NULL, &budget, desc, sizeof desc, err) != QT_OK) goto out;
    if (budget > 0 && qt_plan_solve(&p, budget, 0, &sol, err) != QT_OK) goto out;
    qt_job_progress(ctx, 1, 1, "curve");
    if (qt_plan_curve(&p, (int)v_points, &cv, err) != QT_OK) goto out;
    cJSON *r = cJSON_CreateObject();
    if (budget > 0) {
        cJSON_AddNumberToObject(r, "target_bytes", budget);
        cJSON_AddStringToObject(r, "target", desc);
    }
    qt_plan_json(r, &p, budget > 0 ? &sol : NULL, &cv, 1);
    ctx->report = r;
    /* every point's recipe, for the client to apply without re-planning */
    cJSON *curve = cJSON_GetObjectItem(r, "curve"), *uni = cJSON_GetObjectItem(r, "uniform");
    for (int i = 0; i < cv.n + cv.n_uniform; i++) {
        const struct qt_plan_point *pt = i < cv.n ? &cv.pt[i] : &cv.uni[i - cv.n];
        if (*ctx->cancel) {
            qt_err_set(err, "cancelled");
            goto out;
        }
        char *y = choice_yaml(&p, pt->choice, base ? base_path : NULL, err);
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
        size_t len;
        char *y = qt_recipe_dump(rec, &len, err);
        int src = y ? qt_recipe_save(rec, out_path, err) : QT_ERR;
        qt_recipe_free(rec);
        if (src != QT_OK) {
            free(y);
            goto out;
        }
        cJSON *pl = cJSON_GetObjectItem(r, "plan");
        cJSON_AddStringToObject(pl, "recipe_path", out_path);
        cJSON_AddStringToObject(pl, "recipe", y);
        free(y);
        qt_job_log(ctx, "plan: %.0f bytes, %.3f bpw, predicted KL %.5f (Σ ΔKL %.5f; median additivity %.3f)", sol.bytes, sol.bpw,
                   qt_plan_predict(&p, sol.sum_dkl), sol.sum_dkl, p.kappa);
    }
    qt_job_log(ctx, "curve: %d points, %d uniform recipes; additivity %.3f", cv.n, cv.n_uniform, p.kappa);
    rc = QT_OK;
out:
    qt_plan_gptq_release(&gq);
    free(table);
    qt_plan_curve_free(&cv);
    qt_plan_solution_free(&sol);
    qt_plan_free(&p);
    if (base) qt_resolution_free(&bres);
    qt_recipe_free(base);
    return rc;
}

/* A recipe text on the plan p: its bytes (the planner's accounting: every
 * tensor as the recipe resolves it), bits per planned weight and — when p
 * has ΔKL and every unit resolves to one measured candidate — Σ ΔKL and the
 * predicted KL; units_off counts the units that do not. */
static int place_recipe(const struct qt_plan *p, const char *text, cJSON *o, qt_err *err) {
    const struct qt_model *m = p->m;
    struct qt_recipe *r = NULL;
    struct qt_resolution res = {0};
    const char *t = text;
    while (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r') t++;
    int rc = *t ? qt_recipe_parse(text, strlen(text), "recipe", &r, err) : qt_recipe_new(&r, err);
    if (rc == QT_OK) rc = qt_recipe_resolve(r, m, &res, err);
    if (rc != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    double bytes = 0, sum = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_resolved *rv = &res.t[i];
        bytes += qt_deploy_tensor_bytes(&m->tensors[i], rv->quantized ? rv->s : NULL, rv->quantized ? rv->actorder : NULL);
    }
    int off = 0;
    for (int u = 0; u < p->n_units; u++) {
        const struct qt_plan_unit *un = &p->units[u];
        int c = -1;
        for (int j = 0; j < un->n_tensors; j++) {
            const struct qt_resolved *rv = &res.t[un->tensors[j]];
            int cj = -1;
            for (int k = 0; k < p->n_cand && cj < 0; k++)
                if (rv->quantized && rv->s ? qt_scheme_equal(rv->s, &p->cand[k]) : qt_scheme_is_kept(&p->cand[k])) cj = k;
            if (j == 0) c = cj;
            else if (cj != c) c = -1;
            if (c < 0) break;
        }
        if (c >= 0 && isfinite(un->dkl[c])) sum += un->dkl[c];
        else off++;
    }
    cJSON_AddNumberToObject(o, "bytes", bytes);
    cJSON_AddNumberToObject(o, "bpw", p->unit_params ? (bytes - p->fixed_bytes) * 8 / (double)p->unit_params : 0);
    if (p->measured && !off) {
        cJSON_AddNumberToObject(o, "sum_dkl", sum);
        cJSON_AddNumberToObject(o, "predicted_kl", qt_plan_predict(p, sum));
    } else {
        cJSON_AddNullToObject(o, "sum_dkl");
        cJSON_AddNullToObject(o, "predicted_kl");
    }
    cJSON_AddNumberToObject(o, "units_off", off);
    qt_resolution_free(&res);
    qt_recipe_free(r);
    return QT_OK;
}

/* plan_size {target_bytes|target_bpw|gpus+gpu, kv_ctx?, batch?, candidates?, job?, text?} ->
 *   {units, candidates[{scheme, uniform_bytes, uniform_bpw}], fixed_bytes, planned_params,
 *    min_bytes, max_bytes, min_bpw, max_bpw, target?, target_bytes?, target_bpw?, fits?,
 *    dkl: null | why there is none, job?, recipe{bytes, bpw, sum_dkl, predicted_kl, units_off}}
 * The planner's size side for the target, at once and without weights (a
 * config.json alone answers it): what the plan job would allocate over.
 * With job (a finished plan job) its candidates and ΔKL table are used, so
 * that the recipe (text, else the current one) is placed on that job's
 * curve: Σ ΔKL and predicted KL when every unit has a measured candidate. */
int qt_dop_plan_size(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    if (check_target(req, err) != QT_OK) return QT_ERR;
    char *table = NULL, *own = NULL, cands[QT_PLAN_LIST_MAX], desc[160];
    size_t tlen = 0;
    int gptq_table = 0;
    const char *cand_list = cJSON_GetStringValue(item(req, "candidates"));
    const cJSON *jv = item(req, "job");
    if (cJSON_IsNumber(jv)) {
        struct qt_job *j = qt_daemon_job_find(d, jv->valueint);
        if (!j || strcmp(j->kind, "plan") || j->state != JOB_DONE)
            return qt_err_set(err, "plan_size: job %d: not a finished plan job", jv->valueint);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/report.json", j->dir);
        if (!(table = qt_read_file(path, &tlen, err))) return QT_ERR;
        cJSON *rep = cJSON_ParseWithLength(table, tlen);
        const char *al = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "dkl"), "algo"));
        gptq_table = al && !strcmp(al, "GPTQ");
        const cJSON *ca = cJSON_GetObjectItem(rep, "candidates"), *x;
        size_t n = 0;
        cands[0] = 0;
        cJSON_ArrayForEach(x, ca)
            if (cJSON_IsString(x) && n + strlen(x->valuestring) + 2 < sizeof cands)
                n += (size_t)snprintf(cands + n, sizeof cands - n, "%s%s", n ? "," : "", x->valuestring);
        cJSON_Delete(rep);
        if (cands[0]) cand_list = cands;
    }
    struct qt_plan p = {0};
    struct qt_plan_opts po = {.candidates = cand_list, .tp = cJSON_IsNumber(item(req, "gpus")) ? item(req, "gpus")->valueint : 0,
                              .algo = gptq_table ? QT_ALGO_GPTQ : QT_ALGO_RTN};
    const char *fmt = cJSON_GetStringValue(item(req, "format"));
    int gguf = fmt && !strcmp(fmt, "gguf");
    if (gguf) {
        const cJSON *tb = item(req, "target_bytes");
        po.format = QT_PLAN_GGUF;
        po.gguf_ftype = cJSON_GetStringValue(item(req, "gguf_ftype"));
        if (!po.gguf_ftype && cJSON_IsString(tb) && qt_gguf_ftype_find(tb->valuestring)) po.gguf_ftype = tb->valuestring;
    }
    int rc = qt_plan_init(m, &po, &p, err);
    if (rc == QT_OK && table) rc = qt_plan_load_dkl(&p, table, tlen, "plan job report", err);
    double budget = 0;
    if (rc == QT_OK) rc = plan_budget(&p, req, NULL, NULL, &budget, desc, sizeof desc, err);
    if (rc == QT_OK) {
        double w = p.unit_params ? 8.0 / (double)p.unit_params : 0;
        cJSON_AddNumberToObject(res, "units", p.n_units);
        cJSON_AddNumberToObject(res, "fixed_bytes", p.fixed_bytes);
        cJSON_AddNumberToObject(res, "planned_params", (double)p.unit_params);
        cJSON_AddNumberToObject(res, "min_bytes", p.min_bytes);
        cJSON_AddNumberToObject(res, "max_bytes", p.max_bytes);
        cJSON_AddNumberToObject(res, "min_bpw", (p.min_bytes - p.fixed_bytes) * w);
        cJSON_AddNumberToObject(res, "max_bpw", (p.max_bytes - p.fixed_bytes) * w);
        cJSON *ca = cJSON_AddArrayToObject(res, "candidates");
        for (int k = 0; k < p.n_cand; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "scheme", p.cand_name[k]);
            double b = gguf ? qt_plan_uniform_bytes(&p, k) : -1;
            if (gguf ? b >= 0 : qt_plan_uniform_ok(&p, k) && qt_plan_budget_uniform(&p, &p.cand[k], &b, NULL) == QT_OK) {
                cJSON_AddNumberToObject(o, "uniform_bytes", b);
                cJSON_AddNumberToObject(o, "uniform_bpw", (b - p.fixed_bytes) * w);
            } else {
                cJSON_AddNullToObject(o, "uniform_bytes");
                cJSON_AddNullToObject(o, "uniform_bpw");
            }
            cJSON_AddItemToArray(ca, o);
        }
        if (budget > 0) {
            cJSON_AddStringToObject(res, "target", desc);
            cJSON_AddNumberToObject(res, "target_bytes", budget);
            cJSON_AddNumberToObject(res, "target_bpw", (budget - p.fixed_bytes) * w);
            cJSON_AddBoolToObject(res, "fits", budget >= p.min_bytes);
        }
        if (m->metadata_only)
            cJSON_AddStringToObject(res, "dkl", "ΔKL needs the weights: a config.json alone has none (sizes need none)");
        else
            cJSON_AddNullToObject(res, "dkl");
        if (table) cJSON_AddNumberToObject(res, "job", jv->valueint);
        /* a recipe placed on the curve: compressed-tensors accounting (GGUF: not yet, null) */
        const char *text = gguf ? NULL : qt_dop_text(d, req, &own, err);
        cJSON *o = gguf ? NULL : cJSON_AddObjectToObject(res, "recipe");
        if (gguf) cJSON_AddNullToObject(res, "recipe");
        else if (!text || place_recipe(&p, text, o, err) != QT_OK) rc = QT_ERR;
    }
    free(own);
    free(table);
    qt_plan_free(&p);
    return rc;
}
