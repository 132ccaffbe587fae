/* job_quantize.c — the quantize job kind: the frozen recipe resolved on the
 * session's model and written as a compressed-tensors checkpoint
 * (engine/writer.h), with progress in bytes of source weights, cancellable
 * (the writer removes its partial output). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/hmap.h"

#include "daemon/job.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "io/report.h"
#include "io/outdir.h"
#include "io/writer.h"
#include "io/gguf_write.h"
#include "eval/calib.h"
#include "eval/eval.h"
#include "quant/quant.h"
#include "recipe/gguf_plan.h"
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
    if (qt_outdir_check(out, cJSON_IsTrue(f), "params.force replaces it", err) != QT_OK)
        return qt_err_prefix(err, "quantize");
    const char *calib = pstr(params, "calib");
    if (calib && access(calib, R_OK) != 0) return qt_err_set(err, "quantize: %s: cannot read calibration file", calib);
    const char *ik[] = {"calib_samples", "calib_len"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItem((const cJSON *)params, ik[k]);
        if (v && !pint(params, ik[k]))
            return qt_err_set(err, "quantize: params.%s: expected a number from 1 to 1048576", ik[k]);
    }
    const char *fmt = pstr(params, "format");
    if (fmt && strcmp(fmt, "ct") && strcmp(fmt, "gguf"))
        return qt_err_set(err, "quantize: params.format %s: expected ct or gguf", fmt);
    const char *shard = pstr(params, "max_shard_size");
    uint64_t sz;
    if (shard && qt_write_parse_size(shard, &sz, err)) return qt_err_prefix(err, "quantize: params.max_shard_size");
    return QT_OK;
}


/* Calibrated recipes: layer by layer first (the job's ETA comes from it).
 * The first report is where the pipeline starts: 0, or the layer a resumed
 * run continues at.  Test builds (QTUNE_TEST_JOBS=1) may hold the job after
 * each finished layer while the file $QTUNE_TEST_QUANTIZE_HOLD exists, so
 * that a test interrupts it at a known layer (cancel still ends it). */
static void on_layer(void *ud, int done, int total, double secs) {
    (void)secs;
    struct qt_job_ctx *ctx = ud;
    int first = strcmp(ctx->last_stage, "calibrating") != 0;   /* the pipeline's first report: where it starts */
    if (first && done > 0)
        qt_job_log(ctx, "quantize: resuming the calibration after layer %d of %d (the finished layers are kept)", done,
                   total);
    const char *hold = getenv("QTUNE_TEST_QUANTIZE_HOLD"), *tj = getenv("QTUNE_TEST_JOBS");
    int holding = !first && hold && *hold && tj && !strcmp(tj, "1") && access(hold, F_OK) == 0;
    if (holding) ctx->last_progress = 0;   /* the held layer is on record, not throttled away */
    qt_job_progress(ctx, done, total, "calibrating");
    while (holding && access(hold, F_OK) == 0 && !*ctx->cancel) usleep(20000);
}

/* The pipeline's resumable state lives in the job's directory
 * (jobs/ID/pipeline); its key covers what the state is made of: the frozen
 * recipe, the model, the calibration text (path, size, mtime), the
 * sample count and length, and the arithmetic mode. */
static void state_key(const struct qt_job_ctx *ctx, char *out, size_t n) {
    const char *calib = pstr(ctx->params, "calib");
    struct stat st;
    memset(&st, 0, sizeof st);
    if (calib) stat(calib, &st);
    char nums[160];
    snprintf(nums, sizeof nums, "|%lld|%lld|%d|%d|%s", (long long)st.st_size, (long long)st.st_mtime,
             pint(ctx->params, "calib_samples"), pint(ctx->params, "calib_len"), qt_arith_name(qt_quant_arith()));
    uint64_t h = qt_hash_bytes(ctx->recipe, strlen(ctx->recipe));
    h = qt_hash_more(h, ctx->model_path ? ctx->model_path : "", ctx->model_path ? strlen(ctx->model_path) : 0);
    h = qt_hash_more(h, calib ? calib : "", calib ? strlen(calib) : 0);
    h = qt_hash_more(h, nums, strlen(nums));
    snprintf(out, n, "%016llx", (unsigned long long)h);
}

/* rm -r of a state directory (plain files only, one level). */
static void remove_state(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
    closedir(d);
    rmdir(dir);
}

static void on_progress(void *ud, int64_t done, int64_t total, const char *tensor) {
    (void)tensor;
    qt_job_progress(ud, done, total, "writing");
}

/* params.format "gguf": the GGUF file of the frozen recipe's qtune_gguf
 * section (docs/gguf.md), as `qtune quantize --format gguf`; importance
 * from params.calib's statistics when given. */
static int quantize_gguf(struct qt_job_ctx *ctx, const struct qt_recipe *r, const char *out, qt_err *err) {
    const struct qt_model *m = ctx->model;
    struct qt_gguf_spec spec;
    struct qt_gguf_plan plan = {0};
    struct qt_imatrix im = {0};
    const char *calib = pstr(ctx->params, "calib");
    if (qt_gguf_spec_from_yaml(r->root, "recipe.yaml", &spec, err)) return QT_ERR;
    int rc = qt_gguf_plan_build(m, &spec, calib != NULL, &plan, err);
    if (rc == QT_OK && calib) {
        char cache[PATH_MAX];
        struct qt_calib_params cp = {.calib_path = calib, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
        struct qt_calib *cs = NULL;
        rc = qt_calib_run(m, &cp, &cs, err);
        if (rc == QT_OK) rc = qt_imatrix_from_calib(m, cs, &plan, &im, err);
        qt_calib_free(cs);
    }
    uint64_t max_shard = 0;
    const char *shard = pstr(ctx->params, "max_shard_size");
    if (rc == QT_OK && shard) rc = qt_write_parse_size(shard, &max_shard, err);
    char rpath[PATH_MAX];
    snprintf(rpath, sizeof rpath, "%s/recipe.yaml", ctx->dir);
    struct qt_gguf_write_params wp = {
        .out = out, .max_split_bytes = max_shard, .force = cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "force")),
        .imatrix = calib ? &im : NULL, .recipe_path = rpath, .progress = on_progress, .progress_ud = ctx,
        .cancel = (const volatile int *)ctx->cancel,
    };
    struct qt_write_result wr;
    if (rc == QT_OK) rc = qt_outdir_parents(out, err);
    if (rc == QT_OK) {
        qt_job_log(ctx, "quantize: GGUF %s, %d tensors (%d fall back) -> %s", spec.ftype ? spec.ftype->name : "source types",
                   plan.n, plan.n_fallback, out);
        rc = qt_gguf_write(m, &plan, &wp, &wr, err);
    }
    if (rc == QT_OK) {
        char first[PATH_MAX + 32];
        qt_gguf_split_path(out, 0, wr.n_shards, first, sizeof first);
        ctx->report = qt_gguf_result_json(first, spec.ftype ? spec.ftype->name : NULL, &plan, &wr);
        qt_job_log(ctx, "wrote %s: %d tensors (%d quantized), %d file%s", first, plan.n, wr.n_quantized, wr.n_shards,
                   wr.n_shards == 1 ? "" : "s");
    }
    qt_imatrix_free(&im);
    qt_gguf_plan_free(&plan);
    qt_gguf_spec_free(&spec);
    return rc;
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
    const char *fmt = pstr(ctx->params, "format");
    if (fmt && !strcmp(fmt, "gguf")) {
        rc = quantize_gguf(ctx, r, out, err);
        goto done;
    }
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
    char rpath[PATH_MAX], sdir[PATH_MAX], key[32];
    snprintf(rpath, sizeof rpath, "%s/recipe.yaml", ctx->dir);
    snprintf(sdir, sizeof sdir, "%s/pipeline", ctx->dir);
    state_key(ctx, key, sizeof key);
    {   /* resume: the per-layer state of the job this one continues moves here */
        const cJSON *rf = cJSON_GetObjectItem((const cJSON *)ctx->params, "resume_from");
        const char *slash = strrchr(ctx->dir, '/');
        if (cJSON_IsNumber(rf) && slash) {
            char old[PATH_MAX];
            snprintf(old, sizeof old, "%.*s/%d/pipeline", (int)(slash - ctx->dir), ctx->dir, (int)rf->valuedouble);
            if (rename(old, sdir) == 0) qt_job_log(ctx, "quantize: continuing job %d's calibration", (int)rf->valuedouble);
            else qt_job_log(ctx, "quantize: job %d left no calibration state (%s): starting over", (int)rf->valuedouble,
                            strerror(errno));
        }
    }
    struct qt_write_params wp = {
        .out = out, .max_shard_bytes = max_shard,
        .force = cJSON_IsTrue(cJSON_GetObjectItem((const cJSON *)ctx->params, "force")),
        .recipe_path = rpath,
        .calib = pstr(ctx->params, "calib"), .progress = on_progress, .progress_ud = ctx,
        .cancel = (const volatile int *)ctx->cancel,
        .calib_samples = pint(ctx->params, "calib_samples"), .calib_len = pint(ctx->params, "calib_len"),
        .layer_progress = on_layer, .layer_progress_ud = ctx,
        .pipe_state_dir = sdir, .pipe_state_key = key,
    };
    if (qt_outdir_parents(out, err)) goto done;   /* the writer creates out itself, atomically */
    qt_job_log(ctx, "quantize: %d tensors -> %s", res.n_quantized, out);
    struct qt_write_result wr;
    /* refuses what qtune does not run (SparseGPT, kv_cache_scheme), maps recipe groups to config groups */
    if (qt_write_ct_recipe(m, r, &res, &wp, &wr, err)) goto done;   /* on failure the state stays for a resume */
    remove_state(sdir);   /* written: nothing to resume */
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
