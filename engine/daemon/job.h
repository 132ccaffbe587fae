/* job.h — background job kinds.  A job runs in a forked worker process of
 * the engine daemon: the kind's run function gets a context with the model,
 * the frozen recipe, its parameters, a progress callback and a cancel flag.
 * Adding a kind is one row in the table in job.c. */
#ifndef QT_JOB_H
#define QT_JOB_H
#include <signal.h>
#include <stdint.h>

#include "base/qt.h"

struct qt_model;

struct qt_job_ctx {
    int id;
    const char *kind;
    const char *dir;                 /* jobs/ID: write outputs here */
    const char *model_path;          /* session model, NULL when none */
    const struct qt_model *model;    /* opened by the daemon, NULL when none */
    const char *recipe;              /* frozen recipe text ("" when none) */
    const void *params;              /* cJSON object, never NULL */
    volatile sig_atomic_t *cancel;   /* becomes 1 when the job is cancelled */
    void *report;                    /* cJSON object the run may fill; saved as report.json */
    /* private */
    int fd;                          /* pipe to the daemon */
    double last_progress;
    int64_t last_done, last_total;   /* the latest progress, throttled or not */
    char last_stage[64];
};

/* Reports progress: done of total units, stage a short label (may be NULL).
 * Cheap to call often: throttled to a few messages a second. */
void qt_job_progress(struct qt_job_ctx *ctx, int64_t done, int64_t total, const char *stage);

/* Appends a line to the job's log and shows it to attached clients. */
void qt_job_log(struct qt_job_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct qt_job_kind {
    const char *name;
    /* Checks params (cJSON object) at submit time; NULL when any are fine. */
    int (*check)(const void *params, qt_err *err);
    /* Runs in the worker; QT_OK when done, QT_ERR with err on failure.  Polls
     * *ctx->cancel and returns (any code) soon after it becomes 1.  NULL while
     * the kind's engine call is not built in. */
    int (*run)(struct qt_job_ctx *ctx, qt_err *err);
    int needs_model;
    int needs_weights;               /* a metadata-only model cannot run it */
    const char *summary;             /* one line for `hello` (docs/protocol.md) */
};

/* The kinds (engine/job_eval.c, ...): params checks at submit time and
 * runs in the worker.  params are documented in docs/protocol.md. */
int qt_job_eval_check(const void *params, qt_err *err);
int qt_job_eval_run(struct qt_job_ctx *ctx, qt_err *err);
int qt_job_sensitivity_check(const void *params, qt_err *err);
int qt_job_sensitivity_run(struct qt_job_ctx *ctx, qt_err *err);
int qt_job_calib_check(const void *params, qt_err *err);
int qt_job_calib_run(struct qt_job_ctx *ctx, qt_err *err);
int qt_job_plan_check(const void *params, qt_err *err);
int qt_job_plan_run(struct qt_job_ctx *ctx, qt_err *err);
int qt_job_quantize_check(const void *params, qt_err *err);
int qt_job_quantize_run(struct qt_job_ctx *ctx, qt_err *err);

/* The kind named name, or NULL.  The test kind "test" exists only when the
 * environment has QTUNE_TEST_JOBS=1. */
const struct qt_job_kind *qt_job_kind_find(const char *name);

/* The i-th kind (0, 1, ... until NULL), the test kind last when enabled:
 * `hello` lists them. */
const struct qt_job_kind *qt_job_kind_at(int i);

/* Names of the kinds users can submit, NULL-terminated. */
const char *const *qt_job_kind_names(void);

#endif
