/* job_quantize.c — the quantize job kind: the frozen recipe resolved on the
 * session's model and written as a compressed-tensors checkpoint
 * (engine/writer.h), with progress in bytes of source weights, cancellable
 * (the writer removes its partial output). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "daemon/job.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "io/report.h"
#include "io/writer.h"
#include "recipe/lint.h"

static const char *pstr(const void *params, const char *k) {
    return cJSON_GetStringValue(cJSON_GetObjectItem((const cJSON *)params, k));
}

/* A positive count parameter (calib_samples, calib_len); 0 when absent or bad. */
static int pint(const void *params, const char *k) {
    const cJSON *v = cJSON_GetObjectItem((const cJSON *)params, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1 << 20 ? (int)v->valuedouble : 0;
}

int qt_job_quantize_check(const void *params, qt_err *err) {
    const char *out = pstr(params, "out");
    if (!out || !*out) return qt_err_set(err, "quantize: params.out (the checkpoint directory) is required");
    const cJSON *f = cJSON_GetObjectItem((const cJSON *)params, "force");
    struct stat st;
    if (!cJSON_IsTrue(f) && stat(out, &st) == 0)
        return qt_err_set(err, "quantize: %s: already exists (params.force replaces it)", out);
    const char *calib = pstr(params, "calib");
    if (calib && access(calib, R_OK) != 0) return qt_err_set(err, "quantize: %s: cannot read calibration file", calib);
    const char *ik[] = {"calib_samples", "calib_len"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItem((const cJSON *)params, ik[k]);
        if (v && !pint(params, ik[k]))
            return qt_err_set(err, "quantize: params.%s: expected a number from 1 to 1048576", ik[k]);
    }
    const char *shard = pstr(params, "max_shard_size");
    uint64_t sz;
    if (shard && qt_write_parse_size(shard, &sz, err)) return qt_err_prefix(err, "quantize: params.max_shard_size");
    return QT_OK;
}

/* mkdir -p of out's parent (the writer creates out itself, atomically). */
static int make_parent(const char *out, qt_err *err) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", out) >= (int)sizeof dir) return qt_err_set(err, "%s: path too long", out);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return QT_OK;
    *slash = 0;
    return qt_mkdirs(dir, 0755, err);
}

/* Calibrated recipes: layer by layer first (the job's ETA comes from it). */
static void on_layer(void *ud, int done, int total, double secs) {
    (void)secs;
    qt_job_progress(ud, done, total, "calibrating");
}

static void on_progress(void *ud, int64_t done, int64_t total, const char *tensor) {
    (void)tensor;
    qt_job_progress(ud, done, total, "writing");
}

int qt_job_quantize_run(struct qt_job_ctx *ctx, qt_err *err) {
    const struct qt_model *m = ctx->model;
    const char *out = pstr(ctx->params, "out");
    const char *p = ctx->recipe;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) return qt_err_set(err, "quantize: the session has no recipe");
    struct qt_recipe *r = NULL;
    struct qt_resolution res = {0};
    if (qt_recipe_parse(ctx->recipe, strlen(ctx->recipe), "recipe.yaml", &r, err) ||
        qt_recipe_resolve(r, m, &res, err)) {
        qt_resolution_free(&res);
        qt_recipe_free(r);
        return QT_ERR;
    }
    int rc = QT_ERR;
    if (!cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "allow_lint_errors"))) {
        /* as `qtune quantize`: a checkpoint vLLM refuses or loads wrongly is not written */
        const cJSON *tpn = cJSON_GetObjectItem((const cJSON *)ctx->params, "tp");
        struct qt_lint_opts lo = {.tp = cJSON_IsNumber(tpn) ? (int)tpn->valuedouble : 1,
                                  .ep = cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "ep"))};
        struct qt_lint L;
        if (qt_lint_run(r, m, &res, &lo, &L, err)) goto done;
        for (int i = 0; i < L.n; i++)
            if (L.f[i].severity == QT_SEV_ERROR) {
                qt_err_set(err, "quantize: %d lint error%s, first %s %s (params.allow_lint_errors writes it anyway)",
                           L.n_errors, L.n_errors == 1 ? "" : "s", L.f[i].code, L.f[i].message);
                qt_lint_free(&L);
                goto done;
            }
        qt_lint_free(&L);
    }
    uint64_t max_shard = 0;
    const char *shard = pstr(ctx->params, "max_shard_size");
    if (shard && qt_write_parse_size(shard, &max_shard, err)) goto done;
    char rpath[PATH_MAX];
    snprintf(rpath, sizeof rpath, "%s/recipe.yaml", ctx->dir);
    struct qt_write_params wp = {
        .out = out, .max_shard_bytes = max_shard,
        .force = cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "force")),
        .recipe_path = rpath,
        .calib = pstr(ctx->params, "calib"), .progress = on_progress, .progress_ud = ctx,
        .cancel = (const volatile int *)ctx->cancel,
        .calib_samples = pint(ctx->params, "calib_samples"), .calib_len = pint(ctx->params, "calib_len"),
        .layer_progress = on_layer, .layer_progress_ud = ctx,
    };
    if (make_parent(out, err)) goto done;
    qt_job_log(ctx, "quantize: %d tensors -> %s", res.n_quantized, out);
    struct qt_write_result wr;
    /* refuses what qtune does not run (SparseGPT, kv_cache_scheme), maps recipe groups to config groups */
    if (qt_write_ct_recipe(m, r, &res, &wp, &wr, err)) goto done;
    ctx->report = qt_write_json(NULL, out, &wr);
    {   /* the calibration part of the checkpoint's report (per-expert tokens, errors) */
        char rp[PATH_MAX];
        snprintf(rp, sizeof rp, "%s/qtune-report.json", out);
        qt_err e2;
        char *txt = qt_read_file(rp, NULL, &e2);
        cJSON *j = txt ? cJSON_Parse(txt) : NULL;
        cJSON *cal = j ? cJSON_DetachItemFromObjectCaseSensitive(j, "calibration") : NULL;
        if (cal && ctx->report) cJSON_AddItemToObject((cJSON *)ctx->report, "calibration", cal);
        else cJSON_Delete(cal);
        cJSON_Delete(j);
        free(txt);
    }
    qt_job_log(ctx, "wrote %s: %d modules quantized, %d tensors kept, %d shard%s", out, wr.n_quantized, wr.n_kept,
               wr.n_shards, wr.n_shards == 1 ? "" : "s");
    rc = QT_OK;
done:
    qt_resolution_free(&res);
    qt_recipe_free(r);
    return rc;
}
