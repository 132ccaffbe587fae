/* job.c — the job kind table and the worker-side helpers. */
#include "daemon/job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

static void write_line(int fd, cJSON *msg) {
    char *s = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!s) return;
    size_t n = strlen(s);
    s[n] = '\n';   /* replaces the NUL; write n+1 bytes */
    const char *p = s;
    size_t left = n + 1;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
    free(s);
}

void qt_job_progress(struct qt_job_ctx *ctx, int64_t done, int64_t total, const char *stage) {
    double now = qt_now();
    /* a new stage is never throttled: the daemon's rate and ETA count from its first report */
    int same = !strcmp(ctx->last_stage, stage ? stage : "");
    ctx->last_done = done;
    ctx->last_total = total;
    snprintf(ctx->last_stage, sizeof ctx->last_stage, "%s", stage ? stage : "");
    if (same && done < total && now - ctx->last_progress < 0.2) return;
    ctx->last_progress = now;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "done", (double)done);
    cJSON_AddNumberToObject(m, "total", (double)total);
    if (stage) cJSON_AddStringToObject(m, "stage", stage);
    write_line(ctx->fd, m);
}

void qt_job_log(struct qt_job_ctx *ctx, const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);   /* stderr is the job's log file */
    fflush(stderr);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "log", line);
    write_line(ctx->fd, m);
}

/* ---- test kind (QTUNE_TEST_JOBS=1 only) ----
 * params: steps (10), step_ms (20), crash_at (-1: abort() at that step),
 * fail_at (-1: return an error at that step). */
static int param_int(const cJSON *p, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItem(p, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static int test_run(struct qt_job_ctx *ctx, qt_err *err) {
    const cJSON *p = ctx->params;
    int steps = param_int(p, "steps", 10), ms = param_int(p, "step_ms", 20);
    int crash_at = param_int(p, "crash_at", -1), fail_at = param_int(p, "fail_at", -1);
    qt_job_log(ctx, "test job %d: %d steps of %d ms", ctx->id, steps, ms);
    for (int i = 0; i < steps; i++) {
        if (*ctx->cancel) return qt_err_set(err, "cancelled");
        if (i == crash_at) { qt_job_log(ctx, "crashing at step %d", i); abort(); }
        if (i == fail_at) return qt_err_set(err, "test: failing at step %d as asked", i);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        qt_job_progress(ctx, i + 1, steps, "stepping");
        qt_job_log(ctx, "step %d/%d", i + 1, steps);
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "steps", steps);
    cJSON_AddStringToObject(r, "recipe", ctx->recipe);
    ctx->report = r;
    return QT_OK;
}

static const struct qt_job_kind kinds[] = {
    /* name, check, run, needs_model, needs_weights, summary */
    {"quantize", qt_job_quantize_check, qt_job_quantize_run, 1, 1, "write the compressed-tensors checkpoint of the recipe"},
    {"eval", qt_job_eval_check, qt_job_eval_run, 1, 1, "KL of the quantized model against the original on a text"},
    {"sensitivity", qt_job_sensitivity_check, qt_job_sensitivity_run, 1, 1, "dKL of each unit quantized alone"},
    {"calib", qt_job_calib_check, qt_job_calib_run, 1, 1, "calibration statistics (input importance) over a text"},
    {"plan", qt_job_plan_check, qt_job_plan_run, 1, 1, "a bit-allocation plan: dKL of each (unit, scheme), then the Pareto curve"},
};
static const struct qt_job_kind test_kind = {"test", NULL, test_run, 0, 0, "a job that only steps (QTUNE_TEST_JOBS=1)"};

const struct qt_job_kind *qt_job_kind_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].name, name)) return &kinds[i];
    const char *t = getenv("QTUNE_TEST_JOBS");
    if (t && !strcmp(t, "1") && !strcmp(name, test_kind.name)) return &test_kind;
    return NULL;
}

const struct qt_job_kind *qt_job_kind_at(int i) {
    int n = (int)(sizeof kinds / sizeof kinds[0]);
    if (i >= 0 && i < n) return &kinds[i];
    return i == n ? qt_job_kind_find(test_kind.name) : NULL;
}

const char *const *qt_job_kind_names(void) {
    static const char *names[sizeof kinds / sizeof kinds[0] + 1];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) names[i] = kinds[i].name;
    return names;
}
