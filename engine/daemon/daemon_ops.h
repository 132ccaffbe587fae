/* daemon_ops.h — the daemon's insides, shared by daemon.c (loop, clients,
 * events, jobs) and daemon_ops.c (one function per protocol op).  Not for
 * use outside the daemon. */
#ifndef QT_DAEMON_OPS_H
#define QT_DAEMON_OPS_H
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cJSON.h>

#include "daemon/daemon.h"
#include "daemon/proto.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED, JOB_INTERRUPTED };

struct qt_job {
    int id;
    char kind[32];
    int state;
    cJSON *params;             /* object */
    char dir[PATH_MAX - 64];   /* jobs/ID */
    double submitted, started, finished;   /* unix time, 0 when not yet */
    int64_t done, total;
    char stage[128];
    double rate, eta;          /* units/s; seconds, -1 unknown */
    char *error;
    char exit_desc[32];        /* "exit 1", "signal 9" */
    /* running */
    pid_t pid;
    struct qt_conn pipe;       /* reads the worker's progress lines */
    int pipe_open;
    int cancel_requested;
    double cancel_deadline, t_start, last_emit, last_save, log_window;
    double t_stage;            /* when the current stage began (t_start for the first) */
    int64_t done_stage;        /* done at that moment: rate and ETA are of the stage */
    int saved_progress;        /* job.json has the first progress of this run */
    int log_count;
};

struct qt_client_slot {
    struct qt_conn conn;
    int num;                   /* for the log */
    int hello;                 /* said hello */
    int dead;
    int more;                  /* complete requests still buffered */
    int64_t replay_since;      /* >= 0: replay after the pending reply */
    int viewer;                /* asked more than a probe does (hello, session, jobs): a workbench */
};

struct qt_session;
struct qt_model;
struct qt_preview_cache;
struct qt_dop_rescache;

struct qt_daemon {
    struct qt_session *s;
    struct qt_model *model;    /* opened lazily */
    struct qt_preview_cache *pcache;   /* per (tensor, scheme) of model */
    struct qt_dop_rescache *rescache;  /* recipe texts resolved on model (daemon_recipe.c) */
    char *calib_path;          /* calibration text of calib_d, or NULL */
    float **calib_d;           /* (calib_n) importance vectors for preview rel_out, or NULL */
    int64_t *calib_count;      /* (calib_n) rows (tokens) each tensor saw, or NULL */
    int calib_n;
    /* the arithmetic mode of w / scale (quant.h): the session's setting
     * "arith", else arith_default, the mode the daemon started with
     * (QTUNE_ARITH, --arith of `qtune engine`; f32 by default).  arith is
     * -1 until settings.json has been read (again). */
    int arith_default, arith;
    pid_t pid;
    int listening, bound;
    char sock[108];
    int listen_fd, lock_fd, events_fd;
    FILE *log;
    int log_stderr;
    struct qt_client_slot **clients;
    int n_clients, cap_clients, client_counter, had_client;
    struct qt_job **jobs;
    int n_jobs, cap_jobs, max_jobs;
    size_t out_cap;            /* bytes of unread output after which a client is dropped */
    /* event log: ring of serialized events, seq of the newest */
    char *ring[4096];
    int n_ring;
    int64_t seq, first_seq;
    int events_lines;
    int quitting, quit_now;
    /* shutdown {when_idle}: the last client quit while jobs ran; the daemon
     * stops idle_grace seconds after it has neither jobs nor clients */
    int quit_when_idle;
    double idle_since, idle_grace;
    char token[33];            /* the session's job token (qt_session_token) */
    /* the device the jobs compute on (hello's "device"), from a forked probe
     * (the daemon never opens the GPU: its job workers do): at start, when
     * a job starts or ends, and every DEVICE_PERIOD seconds while one runs */
    cJSON *device;             /* NULL until the first probe answers */
    int probe_fd, probe_pid;   /* the probe child in flight, -1 when none */
    int probe_running;         /* running jobs when the last probe was started */
    double probe_next;         /* qt_now() of the next probe; 0: none due */
};

void qt_daemon_log(struct qt_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cJSON *qt_daemon_event(const char *kind);
void qt_daemon_emit(struct qt_daemon *d, cJSON *ev);
int qt_daemon_replay(struct qt_daemon *d, struct qt_client_slot *c, int64_t since);
cJSON *qt_daemon_job_json(const struct qt_job *j);
const char *qt_daemon_job_state_name(int st);
struct qt_job *qt_daemon_job_find(struct qt_daemon *d, int id);
struct qt_job *qt_daemon_job_add(struct qt_daemon *d, const char *kind, cJSON *params,
                                 const char *recipe, qt_err *err);
int qt_daemon_job_cancel(struct qt_daemon *d, struct qt_job *j, qt_err *err);
int qt_daemon_jobs_active(const struct qt_daemon *d);
const struct qt_model *qt_daemon_model(struct qt_daemon *d, qt_err *err);
void qt_daemon_quit(struct qt_daemon *d);

/* Op helpers and ops shared by daemon_ops.c, daemon_preview.c and
 * daemon_recipe.c (split so that no file includes both scheme.h and
 * recipe.h). */
const char *qt_dop_str(const cJSON *req, const char *k);
/* The session's stored settings (settings.json; an empty object when
 * none), the caller's to free. */
cJSON *qt_dop_settings(struct qt_daemon *d);
/* The session's arithmetic mode (QT_ARITH_*): its "arith" setting, else
 * the daemon's default (qt_dop_arith_init records it at start). */
void qt_dop_arith_init(struct qt_daemon *d);
int qt_dop_arith(struct qt_daemon *d);
/* QT_ARITH_* of a job param or setting value "f32" | "bf16"; -1 with err
 * (naming what, e.g. "settings: arith") otherwise. */
int qt_dop_arith_parse(const cJSON *v, const char *what, qt_err *err);
const char *qt_dop_arith_name(int mode);
/* Makes mode the process's arithmetic (a preview; a job's worker). */
void qt_dop_arith_use(int mode);
int qt_dop_int(const cJSON *req, const char *k, int def);
/* Writes v in decimal at out (room for 21 bytes) and returns its length:
 * the long number lists of tensors and resolve (snprintf's general path
 * was a tenth of a GLM-4.6 description's time). */
size_t qt_dop_itoa(char *out, long long v);
/* The request's "text", else the current recipe (then *own is the copy to
 * free; NULL otherwise): what every op that takes a recipe reads.  NULL with
 * err when the current recipe cannot be read. */
const char *qt_dop_text(struct qt_daemon *d, const cJSON *req, char **own, qt_err *err);
void qt_dop_recipe_state(struct qt_daemon *d, cJSON *o, int with_text, qt_err *err);
void qt_dop_recipe_event(struct qt_daemon *d);
/* Paging of the tensor listings (tensors, resolve): "offset" (>= 0) and
 * "limit" (< 0: to the end) from the request; take counts one listed item
 * and returns 1 when it is on the page; put adds "count" and "offset". */
struct qt_dop_page {
    int offset, limit, count;
};
void qt_dop_page_init(const cJSON *req, struct qt_dop_page *pg);
int qt_dop_page_take(struct qt_dop_page *pg);
void qt_dop_page_put(const struct qt_dop_page *pg, cJSON *res);
void qt_dop_size(const struct qt_model *m, const char *const *schemes, int64_t *params, int64_t *bytes);
#define QT_DOP(name) int qt_dop_##name(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, \
                                       cJSON *res, qt_err *err)
QT_DOP(preview);
QT_DOP(resolve);
QT_DOP(match);
QT_DOP(recipe_edit);
QT_DOP(edit);
QT_DOP(recipe_write);
QT_DOP(gpus);
/* QT_OK when text parses as a recipe (blank is the empty recipe); else
 * QT_ERR with "name:LINE:COL: why". */
int qt_dop_recipe_check(const char *text, const char *name, qt_err *err);
QT_DOP(lint);
QT_DOP(deploy);
QT_DOP(tensor_calib);
/* job_plan.c: the planner's size side and a recipe placed on a plan job's curve */
QT_DOP(plan_size);

/* Serves one request: fills result (an empty object) and returns QT_OK, or
 * returns QT_ERR with err. */
int qt_daemon_op(struct qt_daemon *d, struct qt_client_slot *c, const char *op,
                 const cJSON *req, cJSON *result, qt_err *err);

/* Frees the resolutions the resolve op keeps (model change, exit). */
void qt_dop_rescache_free(struct qt_daemon *d);

/* Frees the preview op's cache and its calibration statistics (model
 * change, new statistics, exit). */
void qt_dop_preview_reset(struct qt_daemon *d);

#endif
