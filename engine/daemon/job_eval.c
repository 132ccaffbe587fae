/* job_eval.c — the job kinds that run the forward pass: the engine's KL
 * evaluation (engine/eval.h) and sensitivity scan (engine/sensitivity.h) of
 * the job's frozen recipe, or of one uniform scheme, and the calibration
 * statistics (engine/calib.h) the preview's weighted error needs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "eval/calib.h"
#include "eval/ct_eval.h"
#include "eval/eval.h"
#include "eval/gguf_eval.h"
#include "daemon/job.h"
#include "model/model.h"
#include "eval/qplan.h"
#include "io/report.h"
#include "eval/sensitivity.h"

static const char *pstr(const void *params, const char *k) {
    return cJSON_GetStringValue(cJSON_GetObjectItem((const cJSON *)params, k));
}

static int pint(const void *params, const char *k, int def, int lo, const char *kind, int *out, qt_err *err) {
    const cJSON *v = cJSON_GetObjectItem((const cJSON *)params, k);
    if (!v) { *out = def; return QT_OK; }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint || v->valueint < lo)
        return qt_err_set(err, "%s: params.%s: expected an integer of at least %d", kind, k, lo);
    *out = v->valueint;
    return QT_OK;
}

/* Common checks: data readable, ctx/chunks sane, scheme a string. */
static int check_common(const void *params, const char *kind, qt_err *err) {
    const char *data = pstr(params, "data");
    int x;
    if (!data) return qt_err_set(err, "%s: params.data (the evaluation text) is required", kind);
    if (access(data, R_OK) != 0) return qt_err_set(err, "%s: %s: cannot read it", kind, data);
    if (pint(params, "ctx", 0, 2, kind, &x, err) || pint(params, "chunks", 0, 1, kind, &x, err)) return QT_ERR;
    const cJSON *s = cJSON_GetObjectItem((const cJSON *)params, "scheme");
    if (s && !cJSON_IsString(s)) return qt_err_set(err, "%s: params.scheme must be a string", kind);
    return QT_OK;
}

int qt_job_eval_check(const void *params, qt_err *err) {
    if (check_common(params, "eval", err)) return QT_ERR;
    const cJSON *qj = cJSON_GetObjectItem((const cJSON *)params, "quantized_job");
    if (qj && !(cJSON_IsNumber(qj) && qj->valuedouble >= 1 && qj->valuedouble < 1e9))
        return qt_err_set(err, "eval: params.quantized_job: expected a job id");
    const cJSON *q = cJSON_GetObjectItem((const cJSON *)params, "quantized");
    if (q && !cJSON_IsString(q)) return qt_err_set(err, "eval: params.quantized must be a path");
    const cJSON *ga = cJSON_GetObjectItem((const cJSON *)params, "ggml_arith");
    if (ga && !cJSON_IsBool(ga)) return qt_err_set(err, "eval: params.ggml_arith must be true or false");
    return QT_OK;
}

/* The checkpoint an eval evaluates instead of its recipe, into out (n):
 * params.quantized, or the out of the finished quantize job
 * params.quantized_job of the same session (jobs/ID/job.json beside this
 * job's directory).  1 when neither is given. */
static int eval_checkpoint(struct qt_job_ctx *ctx, char *out, size_t n, qt_err *err) {
    const char *q = pstr(ctx->params, "quantized");
    if (q) { snprintf(out, n, "%s", q); return QT_OK; }
    const cJSON *qj = cJSON_GetObjectItem((const cJSON *)ctx->params, "quantized_job");
    if (!cJSON_IsNumber(qj)) return 1;
    int id = (int)qj->valuedouble;
    char path[PATH_MAX];
    const char *slash = strrchr(ctx->dir, '/');
    int plen = slash ? (int)(slash - ctx->dir) : 0;
    snprintf(path, sizeof path, "%.*s/%d/job.json", plen, ctx->dir, id);
    char *txt = qt_read_file(path, NULL, err);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "state"));
    const char *o = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "params"), "out"));
    int rc = QT_OK;
    if (!j || !st || !o) rc = qt_err_set(err, "eval: quantize job %d: no such job with an output", id);
    else if (strcmp(st, "done")) rc = qt_err_set(err, "eval: quantize job %d is %s, not done: no checkpoint to evaluate", id, st);
    else snprintf(out, n, "%s", o);
    cJSON_Delete(j);
    return rc;
}

int qt_job_sensitivity_check(const void *params, qt_err *err) {
    if (check_common(params, "sensitivity", err)) return QT_ERR;
    const char *by = pstr(params, "by");
    if (by && strcmp(by, "group") && strcmp(by, "layer"))
        return qt_err_set(err, "sensitivity: params.by: expected group or layer, not %s", by);
    return QT_OK;
}

struct progress_ctx {
    struct qt_job_ctx *job;
    const char *stage;
};

static void on_progress(void *p, int64_t done, int64_t total) {
    struct progress_ctx *pc = p;
    qt_job_progress(pc->job, done, total, pc->stage);
}

/* The plan: params.scheme for every Linear, else the frozen recipe. */
static int make_plan(struct qt_job_ctx *ctx, const char *kind, struct qt_qplan *plan, qt_err *err) {
    const char *scheme = pstr(ctx->params, "scheme");
    const cJSON *f32 = cJSON_GetObjectItem((const cJSON *)ctx->params, "f32_arith");
    int rc;
    if (scheme) {
        rc = qt_qplan_uniform(ctx->model, scheme, plan, err);
    } else {
        const char *p = ctx->recipe;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) return qt_err_set(err, "%s: the session has no recipe (set one, or give params.scheme)", kind);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/recipe.yaml", ctx->dir);
        rc = qt_qplan_from_recipe(ctx->model, path, plan, err);
    }
    if (rc == QT_OK) plan->f32_arith = cJSON_IsTrue(f32);
    return rc;
}

static void params_eval(struct qt_job_ctx *ctx, struct qt_eval_params *p, char *cache, size_t n,
                        struct progress_ctx *pc, int ctx_def, int chunks_def) {
    qt_err e2;
    memset(p, 0, sizeof *p);
    p->data_path = pstr(ctx->params, "data");
    pint(ctx->params, "ctx", ctx_def, 2, "", &p->ctx, &e2);
    pint(ctx->params, "chunks", chunks_def, 1, "", &p->chunks, &e2);
    p->second_half = cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "second_half"));
    p->cache_dir = qt_eval_default_cache_dir(cache, n);
    p->progress = on_progress;
    p->progress_ctx = pc;
    p->cancel = (volatile int *)ctx->cancel;
}

int qt_job_eval_run(struct qt_job_ctx *ctx, qt_err *err) {
    struct qt_qplan plan;
    char ckpt[PATH_MAX];
    int has_ckpt = eval_checkpoint(ctx, ckpt, sizeof ckpt, err);
    if (has_ckpt == QT_ERR) return QT_ERR;
    has_ckpt = has_ckpt == QT_OK;
    /* a checkpoint: what the quantize job wrote (calibrated algorithms
     * included), its weights through hooks, as `qtune eval --quantized` */
    struct qt_model *cm = NULL;
    struct qt_ct_hooks ch = {0};
    int gguf = 0;   /* a GGUF file (params.format gguf's output): it runs as a model of its own */
    const int ggml_arith = cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "ggml_arith"));
    if (has_ckpt) {
        int orc = qt_model_open(ckpt, &cm, err);
        gguf = orc == QT_OK && cm->gguf;
        if (orc || (gguf ? qt_gguf_eval_check(ctx->model, cm, ckpt, err) : qt_ct_hooks_init(ctx->model, cm, &ch, err)) ||
            qt_qplan_init(ctx->model, &plan, err)) {
            qt_ct_hooks_free(&ch);
            qt_model_free(cm);
            return qt_err_prefix(err, "eval: %s", ckpt);
        }
    } else if (make_plan(ctx, "eval", &plan, err)) return QT_ERR;
    if (ggml_arith && !gguf) {
        qt_qplan_free(&plan);
        qt_ct_hooks_free(&ch);
        qt_model_free(cm);
        return qt_err_set(err, "eval: params.ggml_arith needs a GGUF checkpoint (params.quantized or quantized_job)");
    }
    struct progress_ctx pc = {ctx, "base"};
    struct qt_eval_params p;
    char cache[PATH_MAX];
    params_eval(ctx, &p, cache, sizeof cache, &pc, 0, 0);
    if (gguf) {
        if (ggml_arith) p.base_act = QT_FWD_ACT_GGML_BF16;   /* llama.cpp's base: the BF16 GGUF */
        p.base_model = ctx->model;
        qt_job_log(ctx, "eval: GGUF %s (%d tensors quantized%s), data %s", ckpt, qt_gguf_eval_n_quantized(cm),
                   ggml_arith ? ", llama.cpp's activation arithmetic" : "", p.data_path);
    } else if (has_ckpt) qt_job_log(ctx, "eval: checkpoint %s (%d modules quantized), data %s", ckpt, ch.n_quantized, p.data_path);
    else qt_job_log(ctx, "eval: %d tensors quantized, data %s", plan.n_quantized, p.data_path);
    struct qt_eval_base *base = NULL;
    struct qt_kl_stats st;
    int rc = qt_eval_base_init(ctx->model, &p, &base, err);
    if (rc == QT_OK) {
        qt_job_log(ctx, "base: %d chunks of %d tokens%s", base->nseq, base->ctx, base->from_cache ? " (cached)" : "");
        struct qt_fwd_hooks hk = gguf ? qt_gguf_fwd_hooks(cm, ggml_arith) : has_ckpt ? qt_ct_fwd_hooks(&ch) : qt_qplan_hooks(&plan);
        pc.stage = "quantized";
        if (gguf) rc = qt_eval_run(cm, base, ggml_arith ? &hk : NULL, 0, &p, &st, err);
        else rc = qt_eval_run(ctx->model, base, &hk, 0, &p, &st, err);
        st.tensors_quantized = gguf ? qt_gguf_eval_n_quantized(cm) : has_ckpt ? ch.n_quantized : plan.n_quantized;
    }
    if (rc == QT_OK) {
        cJSON *r = qt_eval_json(NULL, &st);
        cJSON_AddNumberToObject(r, "chunks", base->nseq);
        cJSON_AddNumberToObject(r, "ctx", base->ctx);
        cJSON_AddStringToObject(r, "data", p.data_path);
        const char *scheme = pstr(ctx->params, "scheme");
        if (scheme) cJSON_AddStringToObject(r, "scheme", scheme);
        if (has_ckpt) cJSON_AddStringToObject(r, "quantized", ckpt);
        qt_eval_json_arith(r, has_ckpt ? ckpt : NULL, gguf);
        if (gguf) {
            cJSON_AddStringToObject(r, "format", "gguf");
            cJSON_AddBoolToObject(r, "ggml_arith", ggml_arith);
        }
        ctx->report = r;
        qt_job_log(ctx, "KL mean %.6f ± %.6f, same top %.2f%%, ln PPL ratio %+.6f", st.kld_mean, st.kld_stderr,
                   100 * st.same_top_p, st.ln_ppl_ratio);
    }
    qt_eval_base_free(base);
    qt_qplan_free(&plan);
    qt_ct_hooks_free(&ch);
    qt_model_free(cm);
    return rc;
}

int qt_job_sensitivity_run(struct qt_job_ctx *ctx, qt_err *err) {
    struct qt_qplan plan;
    if (make_plan(ctx, "sensitivity", &plan, err)) return QT_ERR;
    struct progress_ctx pc = {ctx, "units"};
    struct qt_sens_params p = {.by = QT_SENS_GROUP};
    char cache[PATH_MAX];
    params_eval(ctx, &p.eval, cache, sizeof cache, &pc, 512, 4);   /* the CLI's defaults */
    const char *by = pstr(ctx->params, "by");
    if (by && !strcmp(by, "layer")) p.by = QT_SENS_LAYER;
    qt_job_log(ctx, "sensitivity by %s: %d tensors quantized, data %s", p.by == QT_SENS_LAYER ? "layer" : "group",
               plan.n_quantized, p.eval.data_path);
    struct qt_sens_result r;
    memset(&r, 0, sizeof r);
    int rc = qt_sensitivity_run(ctx->model, &plan, &p, &r, err);
    if (rc == QT_OK) {
        ctx->report = qt_sens_json(NULL, &r, p.by);
        /* what the units were quantized to, for whoever reads the report
         * later (a client attaching after the scan knows nothing of it) */
        const char *scheme = pstr(ctx->params, "scheme");
        if (ctx->report && !cJSON_GetObjectItem(ctx->report, "scheme"))
            cJSON_AddStringToObject(ctx->report, "scheme", scheme ? scheme : "recipe");
        qt_job_log(ctx, "%d units; sum of single-unit ΔKL %.6f, all together %.6f", r.n_units, r.sum_dkl,
                   r.all.kld_mean);
    }
    qt_sens_result_free(&r);
    qt_qplan_free(&plan);
    return rc;
}

/* ---- calib: statistics into $QTUNE_HOME/cache for the preview's rel_out */

int qt_job_calib_check(const void *params, qt_err *err) {
    const char *path = pstr(params, "calib");
    if (!path) return qt_err_set(err, "calib: params.calib (the calibration text) is required");
    if (path[0] != '/') return qt_err_set(err, "calib: params.calib: %s: give an absolute path", path);
    if (access(path, R_OK) != 0) return qt_err_set(err, "calib: %s: cannot read it", path);
    return QT_OK;
}

int qt_job_calib_run(struct qt_job_ctx *ctx, qt_err *err) {
    struct progress_ctx pc = {ctx, "layers"};
    char cache[PATH_MAX];
    struct qt_calib_params p = {.calib_path = pstr(ctx->params, "calib"),
                                .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache),
                                .progress = on_progress, .progress_ctx = &pc,
                                .cancel = (volatile int *)ctx->cancel};
    qt_job_log(ctx, "calib: %s", p.calib_path);
    struct qt_calib *c;
    if (qt_calib_run(ctx->model, &p, &c, err)) return QT_ERR;
    int rc = QT_OK;
    if (!c->cache_path) {
        rc = qt_err_set(err, "calib: could not save the statistics under %s", cache);
    } else {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "calib", p.calib_path);
        cJSON_AddNumberToObject(r, "tokens", (double)c->tokens);
        cJSON_AddNumberToObject(r, "linears", c->n_linear);
        cJSON_AddNumberToObject(r, "unseen", c->n_unseen);
        cJSON_AddBoolToObject(r, "from_cache", c->from_cache);
        cJSON_AddStringToObject(r, "cache", c->cache_path);
        ctx->report = r;
        qt_job_log(ctx, "%lld tokens, %d Linears observed (%d saw no token)%s", (long long)c->tokens,
                   c->n_linear - c->n_unseen, c->n_unseen, c->from_cache ? " (cached)" : "");
    }
    qt_calib_free(c);
    return rc;
}
