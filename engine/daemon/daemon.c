/* daemon.c — the engine daemon: socket, poll loop, clients, event log and
 * job workers.  Single-threaded: every request is served inline (they are
 * interactive and short), batch work runs in forked, niced worker processes
 * that report over a pipe, so a crashing job can only fail itself. */
#include "daemon/daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "backend/select.h"
#include "daemon/daemon_ops.h"
#include "daemon/job.h"
#include "model/model.h"
#include "daemon/proto.h"
#include "io/writer.h"
#include "io/outdir.h"
#include "sessions/session.h"

#define EVENT_RING 4096                 /* events kept for replay */
#define CLIENT_OUT_CAP (64u << 20)      /* a client this far behind is dropped ($QTUNE_CLIENT_BUFFER) */
#define LINES_PER_TURN 32               /* requests served per client per loop turn */
#define CANCEL_GRACE 5.0                /* seconds between SIGTERM and SIGKILL */
#define EXIT_CANCELLED 3

static volatile sig_atomic_t got_term;
static void on_term(int sig) { (void)sig; got_term = 1; }

/* ---------------------------------------------------------------- logging */

void qt_daemon_log(struct qt_daemon *d, const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (d->log) { fprintf(d->log, "%s [%d] %s\n", ts, (int)getpid(), line); fflush(d->log); }
    if (d->log_stderr) fprintf(stderr, "%s %s\n", ts, line);
}

void qt_daemon_log_to_stderr(struct qt_daemon *d, int on) { d->log_stderr = on; }

const char *qt_daemon_socket_path(const struct qt_daemon *d) { return d->sock; }

/* ---------------------------------------------------------------- events */

static void ring_push(struct qt_daemon *d, int64_t seq, char *line) {
    int slot = (int)(seq % EVENT_RING);
    free(d->ring[slot]);
    d->ring[slot] = line;
    if (d->n_ring < EVENT_RING) d->n_ring++;
    d->first_seq = seq - d->n_ring + 1;
}

static void events_compact(struct qt_daemon *d) {
    /* rewrite events.jsonl with only the retained events */
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) return;
    for (int64_t s = d->first_seq; s <= d->seq; s++) {
        const char *l = d->ring[s % EVENT_RING];
        size_t n = strlen(l);
        while (len + n + 2 > cap) { cap *= 2; char *p = realloc(buf, cap); if (!p) { free(buf); return; } buf = p; }
        memcpy(buf + len, l, n);
        len += n;
        buf[len++] = '\n';
    }
    char path[PATH_MAX];
    qt_err err;
    if (d->events_fd >= 0) close(d->events_fd);
    d->events_fd = -1;
    if (qt_write_file_atomic(qt_session_path(d->s, "events.jsonl", path, sizeof path), buf, len, &err))
        qt_daemon_log(d, "events: %s", err.msg);
    free(buf);
    d->events_lines = d->n_ring;
    d->events_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void events_load(struct qt_daemon *d) {
    char path[PATH_MAX];
    qt_session_path(d->s, "events.jsonl", path, sizeof path);
    char *txt = qt_read_file(path, NULL, NULL);
    if (txt) {
        char *save = NULL;
        for (char *l = strtok_r(txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            cJSON *o = cJSON_Parse(l);
            cJSON *sq = cJSON_GetObjectItem(o, "seq");
            int64_t sv = qt_json_i64(sq, 0, INT64_MAX / 2, -1);
            if (sv > d->seq) {
                d->seq = sv;
                ring_push(d, d->seq, qt_strdup(l));
            }
            cJSON_Delete(o);
            d->events_lines++;
        }
        free(txt);
    }
    d->events_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->events_lines > 2 * EVENT_RING) events_compact(d);
}

cJSON *qt_daemon_event(const char *kind) {
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", kind);
    cJSON_AddNumberToObject(ev, "seq", 0);
    return ev;
}

/* Stamps ev (from qt_daemon_event) with the next seq, logs it and queues it
 * to every client that said hello.  Takes ownership of ev. */
void qt_daemon_emit(struct qt_daemon *d, cJSON *ev) {
    d->seq++;
    cJSON_SetNumberValue(cJSON_GetObjectItem(ev, "seq"), (double)d->seq);
    char *line = qt_json_print(ev);
    cJSON_Delete(ev);
    if (!line) return;
    size_t n = strlen(line);
    for (int i = 0; i < d->n_clients; i++) {
        struct qt_client_slot *c = d->clients[i];
        if (!c->hello || c->dead) continue;
        if (qt_conn_queue(&c->conn, line, n) || qt_conn_queue(&c->conn, "\n", 1)) c->dead = 1;
    }
    if (d->events_fd >= 0) {
        line[n] = '\n';
        ssize_t w = write(d->events_fd, line, n + 1);
        (void)w;
        line[n] = 0;
        d->events_lines++;
    }
    ring_push(d, d->seq, line);
    if (d->events_lines > 2 * EVENT_RING) events_compact(d);
}

/* Queues every retained event after since to c; returns 1 when some were
 * already dropped (a gap). */
int qt_daemon_replay(struct qt_daemon *d, struct qt_client_slot *c, int64_t since) {
    if (since >= d->seq) return 0;
    int gap = d->n_ring == 0 ? since < d->seq : since < d->first_seq - 1;
    int64_t from = since + 1 < d->first_seq ? d->first_seq : since + 1;
    for (int64_t s = from; s <= d->seq && d->n_ring; s++) {
        const char *l = d->ring[s % EVENT_RING];
        if (!l) continue;
        qt_conn_queue(&c->conn, l, strlen(l));
        qt_conn_queue(&c->conn, "\n", 1);
    }
    return gap;
}

/* ---------------------------------------------------------------- jobs */

static const char *state_names[] = {"queued", "running", "done", "failed", "cancelled", "interrupted"};

const char *qt_daemon_job_state_name(int st) { return state_names[st]; }

static int state_parse(const char *s) {
    for (int i = 0; i < (int)(sizeof state_names / sizeof state_names[0]); i++)
        if (s && !strcmp(s, state_names[i])) return i;
    return JOB_FAILED;
}

static double unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_time(cJSON *o, const char *k, double t) {
    if (t > 0) cJSON_AddNumberToObject(o, k, t);
    else cJSON_AddNullToObject(o, k);
}

static void add_str(cJSON *o, const char *k, const char *v) {
    if (v && *v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

cJSON *qt_daemon_job_json(const struct qt_job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "kind", j->kind);
    cJSON_AddStringToObject(o, "state", state_names[j->state]);
    cJSON_AddItemToObject(o, "params", cJSON_Duplicate(j->params, 1));
    add_time(o, "submitted", j->submitted);
    add_time(o, "started", j->started);
    add_time(o, "finished", j->finished);
    cJSON_AddNumberToObject(o, "done", (double)j->done);
    cJSON_AddNumberToObject(o, "total", (double)j->total);
    cJSON_AddStringToObject(o, "stage", j->stage);
    cJSON_AddNumberToObject(o, "rate", j->rate);
    if (j->eta >= 0 && j->state == JOB_RUNNING) cJSON_AddNumberToObject(o, "eta", j->eta);
    else cJSON_AddNullToObject(o, "eta");
    add_str(o, "error", j->error);
    add_str(o, "exit", j->exit_desc);
    return o;
}

static void job_save(struct qt_daemon *d, struct qt_job *j) {
    cJSON *o = qt_daemon_job_json(j);
    if (j->pid > 0) cJSON_AddNumberToObject(o, "pid", j->pid);
    /* proves to the next daemon that this user's daemon made the job */
    cJSON_AddStringToObject(o, "token", d->token);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/job.json", j->dir);
    qt_err err;
    if (txt && qt_write_file_atomic(path, txt, strlen(txt), &err)) qt_daemon_log(d, "job %d: %s", j->id, err.msg);
    free(txt);
    j->last_save = qt_now();
}

static void job_event(struct qt_daemon *d, struct qt_job *j) {
    cJSON *ev = qt_daemon_event("job");
    cJSON_AddItemToObject(ev, "job", qt_daemon_job_json(j));
    qt_daemon_emit(d, ev);
}

static void job_set_state(struct qt_daemon *d, struct qt_job *j, int st) {
    j->state = st;
    if (st >= JOB_DONE && j->finished == 0) j->finished = unix_now();
    job_save(d, j);
    job_event(d, j);
    qt_daemon_log(d, "job %d (%s): %s%s%s", j->id, j->kind, state_names[st],
                  j->error ? ": " : "", j->error ? j->error : "");
}

static struct qt_job *job_alloc(struct qt_daemon *d) {
    if (d->n_jobs == d->cap_jobs) {
        int nc = d->cap_jobs ? d->cap_jobs * 2 : 16;
        struct qt_job **p = realloc(d->jobs, (size_t)nc * sizeof *p);
        if (!p) return NULL;
        d->jobs = p;
        d->cap_jobs = nc;
    }
    struct qt_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->pid = -1;
    j->pipe.fd = -1;
    j->eta = -1;
    d->jobs[d->n_jobs++] = j;
    return j;
}

struct qt_job *qt_daemon_job_find(struct qt_daemon *d, int id) {
    for (int i = 0; i < d->n_jobs; i++)
        if (d->jobs[i]->id == id) return d->jobs[i];
    return NULL;
}

static void job_free(struct qt_job *j) {
    if (j->pipe.fd >= 0) qt_conn_close(&j->pipe);
    cJSON_Delete(j->params);
    free(j->error);
    free(j);
}

/* An interrupted quantize job's OUT.partial-* directories: the worker
 * removes its own when it can; a SIGKILLed one cannot.  Only those of this
 * user created since the job started. */
static void remove_partials(struct qt_daemon *d, const struct qt_job *j) {
    const char *out = cJSON_GetStringValue(cJSON_GetObjectItem(j->params, "out"));
    if (strcmp(j->kind, "quantize") || !out || !*out) return;
    char dir[PATH_MAX], base[PATH_MAX + 16];
    if (snprintf(dir, sizeof dir, "%s", out) >= (int)sizeof dir) return;
    char *slash = strrchr(dir, '/');
    if (slash) { *slash = 0; snprintf(base, sizeof base, "%s.partial-", slash + 1); }
    else { snprintf(base, sizeof base, "%s.partial-", dir); snprintf(dir, sizeof dir, "."); }
    if (!dir[0]) snprintf(dir, sizeof dir, "/");
    DIR *dd = opendir(dir);
    if (!dd) return;
    struct dirent *e;
    size_t bl = strlen(base);
    while ((e = readdir(dd))) {
        if (strncmp(e->d_name, base, bl) || strlen(e->d_name) != bl + 6) continue;
        char p[2 * PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
        if (j->started > 0 && (double)st.st_mtime < j->started - 2) continue;
        qt_err e2;
        if (qt_outdir_rmtree(p, &e2) == QT_OK) qt_daemon_log(d, "job %d: removed %s left by a killed worker", j->id, p);
        else qt_daemon_log(d, "job %d: %s", j->id, e2.msg);
    }
    closedir(dd);
}

/* 1 when name is a temp file of qt_write_file_atomic ("X.tmp-PID-N" or the
 * older "X.tmp-PID") whose writer is gone. */
static int stale_temp(const char *name) {
    const char *t = strstr(name, ".tmp-");
    if (!t) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    if (end == t + 5 || pid <= 0) return 0;
    if (*end == '-') { strtol(end + 1, &end, 10); }
    if (*end) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void clean_temps_in(struct qt_daemon *d, const char *dir, int depth) {
    DIR *dd = opendir(dir);
    if (!dd) return;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        char p[PATH_MAX + 256];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode) && depth > 0) clean_temps_in(d, p, depth - 1);
        else if (S_ISREG(st.st_mode) && stale_temp(e->d_name) && unlink(p) == 0)
            qt_daemon_log(d, "removed %s left by a killed writer", p);
    }
    closedir(dd);
}

/* How far an interrupted job got, for its message: the last progress it
 * reported (bytes shown as such for quantize), else that it reported none. */
static void job_reached(const struct qt_job *j, char *msg, size_t n) {
    char got[160];
    if (j->total > 0 && !strcmp(j->kind, "quantize"))
        snprintf(got, sizeof got, "reached %.1f of %.1f MiB", (double)j->done / 1048576.0, (double)j->total / 1048576.0);
    else if (j->total > 0)
        snprintf(got, sizeof got, "reached %lld/%lld", (long long)j->done, (long long)j->total);
    else if (j->started > 0)
        snprintf(got, sizeof got, "after %.0f s, before its first progress report",
                 (j->finished > j->started ? j->finished : unix_now()) - j->started);
    else
        snprintf(got, sizeof got, "before its first progress report");
    snprintf(msg, n, "the engine daemon stopped while the job ran (%s%s%.64s)", got, j->stage[0] ? " in " : "",
             j->stage);
}

/* Loads jobs/ * /job.json; a job left running or starting by a dead daemon
 * becomes interrupted. */
static void jobs_load(struct qt_daemon *d) {
    int *ids, n;
    qt_err err;
    if (qt_session_job_ids(d->s, &ids, &n, &err)) { qt_daemon_log(d, "%s", err.msg); return; }
    for (int i = 0; i < n; i++) {
        char rel[64], path[PATH_MAX];
        snprintf(rel, sizeof rel, "jobs/%d/job.json", ids[i]);
        /* never through a link, only the user's own file */
        qt_err e2;
        char *txt = qt_session_read(d->s, rel, NULL, &e2);
        if (!txt && errno != ENOENT) qt_daemon_log(d, "job %d: %s", ids[i], e2.msg);
        cJSON *o = txt ? cJSON_Parse(txt) : NULL;
        free(txt);
        if (!cJSON_IsObject(o)) { cJSON_Delete(o); continue; }
        const char *tok = cJSON_GetStringValue(cJSON_GetObjectItem(o, "token"));
        int ours = tok && d->token[0] && !strcmp(tok, d->token);
        struct qt_job *j = job_alloc(d);
        if (!j) { cJSON_Delete(o); break; }
        j->id = ids[i];
        snprintf(rel, sizeof rel, "jobs/%d", ids[i]);
        qt_session_path(d->s, rel, j->dir, sizeof j->dir);
        cJSON *v;
        if (cJSON_IsString(v = cJSON_GetObjectItem(o, "kind"))) snprintf(j->kind, sizeof j->kind, "%s", v->valuestring);
        j->state = state_parse(cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")));
        v = cJSON_GetObjectItem(o, "params");
        j->params = cJSON_IsObject(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateObject();
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "submitted"))) j->submitted = v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "started"))) j->started = v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "finished"))) j->finished = v->valuedouble;
        j->done = qt_json_i64(cJSON_GetObjectItem(o, "done"), 0, INT64_MAX / 2, 0);
        j->total = qt_json_i64(cJSON_GetObjectItem(o, "total"), 0, INT64_MAX / 2, 0);
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "rate"))) j->rate = v->valuedouble;
        if (cJSON_IsString(v = cJSON_GetObjectItem(o, "stage"))) snprintf(j->stage, sizeof j->stage, "%s", v->valuestring);
        if (cJSON_IsString(v = cJSON_GetObjectItem(o, "error"))) j->error = qt_strdup(v->valuestring);
        if (cJSON_IsString(v = cJSON_GetObjectItem(o, "exit"))) snprintf(j->exit_desc, sizeof j->exit_desc, "%s", v->valuestring);
        cJSON_Delete(o);
        (void)path;
        if (j->state == JOB_QUEUED && !ours) {
            /* planted by someone else, or from before tokens: never run */
            free(j->error);
            j->error = qt_strdup("not created by this user's daemon (no valid job token): not run; submit it again");
            qt_daemon_log(d, "job %d: refusing a queued job without this session's token", j->id);
            job_set_state(d, j, JOB_FAILED);
        } else if (j->state == JOB_RUNNING) {
            snprintf(rel, sizeof rel, "jobs/%d/reached.json", ids[i]);
            char *rt = qt_session_read(d->s, rel, NULL, NULL);
            cJSON *ro = rt ? cJSON_Parse(rt) : NULL;
            free(rt);
            int64_t rd = qt_json_i64(cJSON_GetObjectItem(ro, "done"), 0, INT64_MAX / 2, -1);
            if (rd >= j->done) {
                j->done = rd;
                j->total = qt_json_i64(cJSON_GetObjectItem(ro, "total"), 0, INT64_MAX / 2, j->total);
                const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(ro, "stage"));
                if (st) snprintf(j->stage, sizeof j->stage, "%s", st);
            }
            cJSON_Delete(ro);
            remove_partials(d, j);
            free(j->error);
            char msg[384];
            job_reached(j, msg, sizeof msg);
            j->error = qt_strdup(msg);
            job_set_state(d, j, JOB_INTERRUPTED);
        }
    }
    free(ids);
}

static void close_fds_from(int lowfd) {
    if (close_range((unsigned)lowfd, ~0U, 0) == 0) return;
    long mx = sysconf(_SC_OPEN_MAX);
    if (mx < 0 || mx > 65536) mx = 65536;
    for (int fd = lowfd; fd < mx; fd++) close(fd);
}

static volatile sig_atomic_t worker_cancel;
static void on_worker_term(int sig) { (void)sig; worker_cancel = 1; }

/* The worker process: runs the job and exits 0 (done), 1 (failed) or 3
 * (cancelled).  Never returns. */
static void worker_main(struct qt_daemon *d, struct qt_job *j, const struct qt_job_kind *k,
                        int wfd, const char *recipe) {
    struct sigaction sa = {0};
    sa.sa_handler = on_worker_term;
    sigaction(SIGTERM, &sa, NULL);
    /* the daemon dying cancels the job: it stops at its next check and
     * cleans up (the writer removes its partial output); the next daemon
     * shows it as interrupted */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != d->pid) _exit(4);      /* the daemon died before we got here */
    setpgid(0, 0);
    if (setpriority(PRIO_PROCESS, 0, 10) != 0) { /* best effort: batch below interactive */ }
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);   /* a file size limit fails write() with EFBIG instead of killing */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/log", j->dir);
    int lfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600);
    int nfd = open("/dev/null", O_RDONLY);
    if (lfd < 0 || nfd < 0) _exit(1);
    /* fd 0: /dev/null, 1 and 2: the job log, 3: the pipe to the daemon */
    if (dup2(nfd, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0 || dup2(wfd, 3) < 0) _exit(1);
    close_fds_from(4);
    struct qt_job_ctx ctx = {0};
    ctx.id = j->id;
    ctx.kind = j->kind;
    ctx.dir = j->dir;
    ctx.model_path = d->s->model;
    ctx.model = d->model;
    ctx.recipe = recipe ? recipe : "";
    ctx.params = j->params;
    ctx.cancel = &worker_cancel;
    ctx.fd = 3;
    qt_err err = {{0}};
    /* the arithmetic mode the job was submitted with (job_submit records
     * the session's in the params of every job that rounds weights) */
    const cJSON *ar = cJSON_GetObjectItem(j->params, "arith");
    int am = ar ? qt_dop_arith_parse(ar, "arith", &err) : -1;
    if (am >= 0) qt_dop_arith_use(am);
    int rc = k->run(&ctx, &err);
    if (worker_cancel && getppid() != d->pid) {
        /* the daemon died: leave how far we got for the next one, which
         * says so in the interrupted job's message */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "done", (double)ctx.last_done);
        cJSON_AddNumberToObject(o, "total", (double)ctx.last_total);
        cJSON_AddStringToObject(o, "stage", ctx.last_stage);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        snprintf(path, sizeof path, "%s/reached.json", j->dir);
        if (s) qt_write_file_atomic(path, s, strlen(s), &err);
        free(s);
    }
    if (worker_cancel) {
        qt_job_log(&ctx, "cancelled");
        _exit(EXIT_CANCELLED);
    }
    if (rc != QT_OK) {
        if (!err.msg[0]) snprintf(err.msg, sizeof err.msg, "%s: failed", j->kind);
        fprintf(stderr, "error: %s\n", err.msg);
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "error", err.msg);
        char *s = cJSON_PrintUnformatted(m);
        cJSON_Delete(m);
        if (s) { dprintf(3, "%s\n", s); free(s); }
        _exit(1);
    }
    if (ctx.report) {
        char *s = cJSON_Print((cJSON *)ctx.report);
        snprintf(path, sizeof path, "%s/report.json", j->dir);
        if (!s || qt_write_file_atomic(path, s, strlen(s), &err)) {
            fprintf(stderr, "error: %s\n", s ? err.msg : "report: out of memory");
            _exit(1);
        }
        free(s);
    }
    fprintf(stderr, "done\n");
    _exit(0);
}

static void job_fail_now(struct qt_daemon *d, struct qt_job *j, const char *msg) {
    free(j->error);
    j->error = qt_strdup(msg);
    job_set_state(d, j, JOB_FAILED);
}

static void job_start(struct qt_daemon *d, struct qt_job *j) {
    const struct qt_job_kind *k = qt_job_kind_find(j->kind);
    if (!k || !k->run) { job_fail_now(d, j, "job kind not available in this daemon"); return; }
    qt_err err = {{0}};
    if (k->needs_model && qt_daemon_model(d, &err) == NULL) { job_fail_now(d, j, err.msg); return; }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/recipe.yaml", j->dir);
    char *recipe = qt_read_file(path, NULL, NULL);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) { free(recipe); job_fail_now(d, j, "pipe failed"); return; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]); close(p[1]); free(recipe);
        job_fail_now(d, j, "fork failed");
        return;
    }
    if (pid == 0) {
        close(p[0]);
        worker_main(d, j, k, p[1], recipe);
    }
    close(p[1]);
    free(recipe);
    j->pid = pid;
    qt_conn_init(&j->pipe, p[0]);
    j->pipe_open = 1;
    j->started = unix_now();
    j->t_start = j->t_stage = qt_now();
    j->done_stage = 0;
    j->done = j->total = 0;
    j->saved_progress = 0;
    j->stage[0] = 0;
    qt_daemon_log(d, "job %d (%s): worker pid %d", j->id, j->kind, (int)pid);
    job_set_state(d, j, JOB_RUNNING);
}

static void job_progress_event(struct qt_daemon *d, struct qt_job *j) {
    cJSON *ev = qt_daemon_event("progress");
    cJSON_AddNumberToObject(ev, "job", j->id);
    cJSON_AddNumberToObject(ev, "done", (double)j->done);
    cJSON_AddNumberToObject(ev, "total", (double)j->total);
    cJSON_AddStringToObject(ev, "stage", j->stage);
    cJSON_AddNumberToObject(ev, "rate", j->rate);
    if (j->eta >= 0) cJSON_AddNumberToObject(ev, "eta", j->eta);
    else cJSON_AddNullToObject(ev, "eta");
    qt_daemon_emit(d, ev);
    j->last_emit = qt_now();
}

static void job_message(struct qt_daemon *d, struct qt_job *j, const char *line) {
    cJSON *m = cJSON_Parse(line);
    if (!cJSON_IsObject(m)) { cJSON_Delete(m); return; }
    cJSON *v;
    double now = qt_now();
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(m, "done"))) {
        j->done = qt_json_i64(v, 0, INT64_MAX / 2, 0);
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(m, "total"))) j->total = qt_json_i64(v, 0, INT64_MAX / 2, 0);
        if (cJSON_IsString(v = cJSON_GetObjectItem(m, "stage"))) {
            /* a new stage (calibrating layers, then writing bytes; or a
             * resumed run starting at layer k): its rate counts from now */
            if (!j->stage[0] || strcmp(j->stage, v->valuestring)) { j->t_stage = now; j->done_stage = j->done; }
            snprintf(j->stage, sizeof j->stage, "%s", v->valuestring);
        }
        if (j->done < j->done_stage) j->done_stage = j->done;
        double el = now - j->t_stage;
        j->rate = el > 0 ? (double)(j->done - j->done_stage) / el : 0;
        j->eta = j->rate > 0 && j->total >= j->done ? (double)(j->total - j->done) / j->rate : -1;
        if (now - j->last_emit >= 0.2 || j->done >= j->total) job_progress_event(d, j);
        /* the first progress at once, then at most twice a second: what a
         * killed daemon leaves says how far the job got */
        if (now - j->last_save >= 0.5 || !j->saved_progress) { job_save(d, j); j->saved_progress = 1; }
    } else if (cJSON_IsString(v = cJSON_GetObjectItem(m, "log"))) {
        if (now - j->log_window >= 1.0) { j->log_window = now; j->log_count = 0; }
        if (j->log_count++ < 5) {
            cJSON *ev = qt_daemon_event("log");
            cJSON_AddNumberToObject(ev, "job", j->id);
            cJSON_AddStringToObject(ev, "line", v->valuestring);
            qt_daemon_emit(d, ev);
        }
    } else if (cJSON_IsString(v = cJSON_GetObjectItem(m, "error"))) {
        free(j->error);
        j->error = qt_strdup(v->valuestring);
    }
    cJSON_Delete(m);
}

/* Last non-empty line of the job's log, for crashes that said nothing. */
static char *log_last_line(const struct qt_job *j) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/log", j->dir);
    char *txt = qt_read_file(path, NULL, NULL);
    if (!txt) return NULL;
    size_t n = strlen(txt);
    while (n && (txt[n - 1] == '\n' || txt[n - 1] == ' ')) txt[--n] = 0;
    char *p = strrchr(txt, '\n');
    char *r = qt_strdup(p ? p + 1 : txt);
    free(txt);
    return r;
}

static void job_reap(struct qt_daemon *d, struct qt_job *j, int status) {
    j->pid = -1;
    if (j->pipe.fd >= 0) qt_conn_close(&j->pipe);
    j->pipe_open = 0;
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        snprintf(j->exit_desc, sizeof j->exit_desc, "exit %d", code);
        if (code == 0) {
            /* fresh calibration statistics in the cache: the preview op
             * reloads them on its next request naming a calibration text */
            if (!strcmp(j->kind, "calib")) {
                qt_dop_preview_reset(d);
            }
            job_set_state(d, j, JOB_DONE);
            return;
        }
        if (code == EXIT_CANCELLED || j->cancel_requested) { job_set_state(d, j, JOB_CANCELLED); return; }
        if (!j->error) {
            char *l = log_last_line(j);
            char msg[600];
            snprintf(msg, sizeof msg, "worker exited with status %d%s%.500s", code, l ? ": " : "", l ? l : "");
            free(l);
            j->error = qt_strdup(msg);
        }
        job_set_state(d, j, JOB_FAILED);
        return;
    }
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    snprintf(j->exit_desc, sizeof j->exit_desc, "signal %d", sig);
    if (j->cancel_requested) { job_set_state(d, j, JOB_CANCELLED); return; }
    char *l = log_last_line(j);
    char msg[700];
    snprintf(msg, sizeof msg, "worker killed by signal %d (%s)%s%.500s", sig, strsignal(sig),
             l ? "; last log line: " : "", l ? l : "");
    free(l);
    free(j->error);
    j->error = qt_strdup(msg);
    job_set_state(d, j, JOB_FAILED);
}

int qt_daemon_job_cancel(struct qt_daemon *d, struct qt_job *j, qt_err *err) {
    if (j->state == JOB_QUEUED) {
        job_set_state(d, j, JOB_CANCELLED);
        return QT_OK;
    }
    if (j->state != JOB_RUNNING) return qt_err_set(err, "job %d: already %s", j->id, state_names[j->state]);
    if (!j->cancel_requested && j->pid > 0) {
        kill(j->pid, SIGTERM);
        j->cancel_requested = 1;
        j->cancel_deadline = qt_now() + CANCEL_GRACE;
        qt_daemon_log(d, "job %d: cancel requested", j->id);
    }
    return QT_OK;
}

int qt_daemon_jobs_active(const struct qt_daemon *d) {
    int n = 0;
    for (int i = 0; i < d->n_jobs; i++)
        n += d->jobs[i]->state == JOB_QUEUED || d->jobs[i]->state == JOB_RUNNING;
    return n;
}

static void jobs_schedule(struct qt_daemon *d) {
    if (d->quitting) return;
    int running = 0;
    for (int i = 0; i < d->n_jobs; i++) running += d->jobs[i]->state == JOB_RUNNING;
    for (int i = 0; i < d->n_jobs && running < d->max_jobs; i++) {
        if (d->jobs[i]->state != JOB_QUEUED) continue;
        job_start(d, d->jobs[i]);
        running += d->jobs[i]->state == JOB_RUNNING;
    }
}

struct qt_job *qt_daemon_job_add(struct qt_daemon *d, const char *kind, cJSON *params,
                                 const char *recipe, qt_err *err) {
    int id;
    char dir[PATH_MAX - 64];
    if (qt_session_job_new(d->s, &id, dir, sizeof dir, err)) { cJSON_Delete(params); return NULL; }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/recipe.yaml", dir);
    if (qt_write_file_atomic(path, recipe, strlen(recipe), err)) { cJSON_Delete(params); return NULL; }
    struct qt_job *j = job_alloc(d);
    if (!j) { cJSON_Delete(params); qt_err_set(err, "job: out of memory"); return NULL; }
    j->id = id;
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    snprintf(j->kind, sizeof j->kind, "%s", kind);
    j->params = params;
    j->submitted = unix_now();
    job_set_state(d, j, JOB_QUEUED);
    return j;
}

/* ---------------------------------------------------------------- model */

const struct qt_model *qt_daemon_model(struct qt_daemon *d, qt_err *err) {
    if (d->model) return d->model;
    if (!d->s->model) { qt_err_set(err, "no model opened in this session (send open first)"); return NULL; }
    if (qt_model_open(d->s->model, &d->model, err)) { d->model = NULL; return NULL; }
    return d->model;
}

/* ---------------------------------------------------------------- clients */

int qt_daemon_add_client(struct qt_daemon *d, int fd, qt_err *err) {
    if (d->n_clients == d->cap_clients) {
        int nc = d->cap_clients ? d->cap_clients * 2 : 8;
        struct qt_client_slot **p = realloc(d->clients, (size_t)nc * sizeof *p);
        if (!p) { close(fd); return qt_err_set(err, "daemon: out of memory"); }
        d->clients = p;
        d->cap_clients = nc;
    }
    struct qt_client_slot *c = calloc(1, sizeof *c);
    if (!c) { close(fd); return qt_err_set(err, "daemon: out of memory"); }
    qt_conn_init(&c->conn, fd);
    c->num = ++d->client_counter;
    c->replay_since = -1;
    d->clients[d->n_clients++] = c;
    d->had_client = 1;
    return QT_OK;
}

static void client_drop(struct qt_daemon *d, int i, const char *why) {
    struct qt_client_slot *c = d->clients[i];
    qt_daemon_log(d, "client %d: %s", c->num, why);
    qt_conn_close(&c->conn);
    free(c);
    d->clients[i] = d->clients[--d->n_clients];
}

static void client_error(struct qt_client_slot *c, cJSON *id, const char *msg) {
    cJSON *r = cJSON_CreateObject();
    if (id) cJSON_AddItemToObject(r, "id", cJSON_Duplicate(id, 1));
    else cJSON_AddNullToObject(r, "id");
    cJSON_AddFalseToObject(r, "ok");
    cJSON_AddStringToObject(r, "error", msg);
    qt_conn_send(&c->conn, r);
    cJSON_Delete(r);
}

static void client_line(struct qt_daemon *d, struct qt_client_slot *c, const char *line, size_t len) {
    cJSON *req = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        client_error(c, NULL, "request: not a JSON object");
        return;
    }
    cJSON *id = cJSON_GetObjectItem(req, "id");
    if (id && !cJSON_IsNumber(id) && !cJSON_IsString(id)) {
        client_error(c, NULL, "request: id must be a number or a string");
        cJSON_Delete(req);
        return;
    }
    if (qt_json_has_nul(line, len)) {
        /* cJSON ends a string there: a recipe would be cut short, silently */
        client_error(c, id, "request: a string contains a NUL character (\\u0000); refused");
        cJSON_Delete(req);
        return;
    }
    cJSON *op = cJSON_GetObjectItem(req, "op");
    if (!cJSON_IsString(op)) {
        client_error(c, id, "request: no \"op\"");
        cJSON_Delete(req);
        return;
    }
    qt_err err = {{0}};
    cJSON *result = cJSON_CreateObject();
    int rc = qt_daemon_op(d, c, op->valuestring, req, result, &err);
    cJSON *r = cJSON_CreateObject();
    if (id) cJSON_AddItemToObject(r, "id", cJSON_Duplicate(id, 1));
    else cJSON_AddNullToObject(r, "id");
    if (rc == QT_OK) {
        cJSON_AddTrueToObject(r, "ok");
        cJSON_AddItemToObject(r, "result", result);
    } else {
        cJSON_Delete(result);
        cJSON_AddFalseToObject(r, "ok");
        cJSON_AddStringToObject(r, "error", err.msg[0] ? err.msg : "request failed");
    }
    if (rc == QT_OK && c->replay_since >= 0) {
        /* hello: the reply first, then what the client missed */
        qt_conn_send(&c->conn, r);
        qt_daemon_replay(d, c, c->replay_since);
        c->replay_since = -1;
    } else {
        qt_conn_send(&c->conn, r);
    }
    cJSON_Delete(r);
    cJSON_Delete(req);
}

static void client_read(struct qt_daemon *d, struct qt_client_slot *c) {
    qt_err err;
    if (!c->conn.eof && qt_conn_fill(&c->conn, &err)) { c->dead = 1; return; }
    for (int k = 0; k < LINES_PER_TURN; k++) {
        char *line;
        size_t len;
        int r = qt_conn_line(&c->conn, &line, &len);
        if (r == 0) break;
        if (r == 2) {
            char msg[128];
            snprintf(msg, sizeof msg, "request: line longer than %d bytes", QT_PROTO_LINE_MAX);
            client_error(c, NULL, msg);
            continue;
        }
        if (len == 0) continue;
        client_line(d, c, line, len);
    }
    c->more = memchr(c->conn.in + c->conn.in_off, '\n', c->conn.in_len - c->conn.in_off) != NULL;
}

/* ---------------------------------------------------------------- setup */

static int take_lock(struct qt_daemon *d, qt_err *err) {
    char path[PATH_MAX];
    qt_session_path(d->s, "daemon.lock", path, sizeof path);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->lock_fd < 0) return qt_err_set(err, "%s: %s", path, strerror(errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pp[PATH_MAX];
        char *pid = qt_read_file(qt_session_path(d->s, "daemon.pid", pp, sizeof pp), NULL, NULL);
        if (pid) pid[strcspn(pid, "\n")] = 0;
        qt_err_set(err, "session %s: a daemon already runs%s%s%s", d->s->name,
                   pid ? " (pid " : "", pid ? pid : "", pid ? ")" : "");
        free(pid);
        close(d->lock_fd);
        d->lock_fd = -1;
        return QT_ERR;
    }
    return QT_OK;
}

static int bind_socket(struct qt_daemon *d, qt_err *err) {
    if (qt_session_socket_path(d->s->name, 1, d->sock, sizeof d->sock, err)) return QT_ERR;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", d->sock);
    struct stat st;
    if (lstat(d->sock, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return qt_err_set(err, "%s: exists and is not a socket; refusing", d->sock);
        int t = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = connect(t, (struct sockaddr *)&a, sizeof a);
        int e = errno;
        close(t);
        if (rc == 0) return qt_err_set(err, "%s: another process serves this socket", d->sock);
        if (e != ECONNREFUSED && e != ENOENT) return qt_err_set(err, "%s: %s", d->sock, strerror(e));
        qt_daemon_log(d, "removing stale socket %s", d->sock);
        unlink(d->sock);
    }
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->listen_fd < 0) return qt_err_set(err, "socket: %s", strerror(errno));
    mode_t old = umask(077);
    int rc = bind(d->listen_fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc != 0) return qt_err_set(err, "%s: bind: %s", d->sock, strerror(errno));
    d->bound = 1;
    if (listen(d->listen_fd, 64) != 0) return qt_err_set(err, "%s: listen: %s", d->sock, strerror(errno));
    return QT_OK;
}

static void write_pid(struct qt_daemon *d) {
    char path[PATH_MAX], buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)d->pid);
    qt_err err;
    if (qt_write_file_atomic(qt_session_path(d->s, "daemon.pid", path, sizeof path), buf, (size_t)n, &err))
        qt_daemon_log(d, "%s", err.msg);
}

int qt_daemon_new(const char *session, int listen_it, struct qt_daemon **out, qt_err *err) {
    *out = NULL;
    struct qt_daemon *d = calloc(1, sizeof *d);
    if (!d) return qt_err_set(err, "daemon: out of memory");
    d->lock_fd = d->listen_fd = d->events_fd = -1;
    d->probe_fd = d->probe_pid = -1;
    d->pid = getpid();
    d->max_jobs = 1;
    qt_dop_arith_init(d);
    const char *mj = getenv("QTUNE_MAX_JOBS");
    if (mj && atoi(mj) > 0) d->max_jobs = atoi(mj);
    d->out_cap = CLIENT_OUT_CAP;
    const char *oc = getenv("QTUNE_CLIENT_BUFFER");
    if (oc && atoll(oc) >= 65536) d->out_cap = (size_t)atoll(oc);
    d->listening = listen_it;
    /* check the socket directory before creating anything */
    if (listen_it && qt_session_socket_path(session, 1, d->sock, sizeof d->sock, err)) goto fail;
    if (qt_session_open(session, 1, &d->s, err)) goto fail;
    if (take_lock(d, err)) goto fail;
    if (qt_session_token(d->s, d->token, err)) goto fail;
    char path[PATH_MAX], old[PATH_MAX + 8];
    qt_session_path(d->s, "daemon.log", path, sizeof path);
    struct stat lst;
    if (stat(path, &lst) == 0 && lst.st_size > (8 << 20)) {   /* keep one old log */
        snprintf(old, sizeof old, "%s.1", path);
        rename(path, old);
    }
    /* session files are never opened through a link */
    int lfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    d->log = lfd >= 0 ? fdopen(lfd, "a") : NULL;
    if (!d->log && lfd >= 0) close(lfd);
    if (listen_it && bind_socket(d, err)) goto fail;
    if (d->s->note[0]) qt_daemon_log(d, "%s", d->s->note);
    clean_temps_in(d, d->s->dir, 2);   /* session, history/.., jobs/ID/ */
    events_load(d);
    jobs_load(d);
    write_pid(d);
    qt_daemon_log(d, "daemon for session %s%s%s", d->s->name, listen_it ? " on " : " in-process", listen_it ? d->sock : "");
    *out = d;
    return QT_OK;
fail:
    qt_daemon_free(d);
    return QT_ERR;
}

int qt_daemon_detach(struct qt_daemon *d, int *is_parent, qt_err *err) {
    fflush(NULL);
    int ready[2];   /* the daemon writes a byte once its pid file is there */
    if (pipe2(ready, O_CLOEXEC) != 0) return qt_err_set(err, "pipe: %s", strerror(errno));
    pid_t p = fork();
    if (p < 0) { close(ready[0]); close(ready[1]); return qt_err_set(err, "fork: %s", strerror(errno)); }
    if (p > 0) {
        close(ready[1]);
        int st;
        while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
        *is_parent = 1;
        char b = 0;
        ssize_t r;
        while ((r = read(ready[0], &b, 1)) < 0 && errno == EINTR) {}
        close(ready[0]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || r != 1) return qt_err_set(err, "daemon: could not detach");
        return QT_OK;
    }
    close(ready[0]);
    if (setsid() < 0) _exit(1);
    signal(SIGHUP, SIG_IGN);
    p = fork();
    if (p < 0) _exit(1);
    if (p > 0) _exit(0);
    *is_parent = 0;
    d->pid = getpid();
    umask(077);
    int nfd = open("/dev/null", O_RDWR);
    if (nfd >= 0) { dup2(nfd, 0); dup2(nfd, 1); if (nfd > 2) close(nfd); }
    if (d->log) { dup2(fileno(d->log), 2); }
    write_pid(d);
    qt_daemon_log(d, "detached, pid %d", (int)d->pid);
    if (write(ready[1], "1", 1) != 1) { /* the parent has gone; nothing to tell */ }
    close(ready[1]);
    return QT_OK;
}

static void daemon_release(struct qt_daemon *d, int cleanup) {
    if (!d) return;
    for (int i = 0; i < d->n_clients; i++) { qt_conn_close(&d->clients[i]->conn); free(d->clients[i]); }
    free(d->clients);
    for (int i = 0; i < d->n_jobs; i++) job_free(d->jobs[i]);
    free(d->jobs);
    for (int i = 0; i < EVENT_RING; i++) free(d->ring[i]);
    if (d->listen_fd >= 0) close(d->listen_fd);
    if (cleanup && d->bound) unlink(d->sock);
    if (cleanup && d->s && d->lock_fd >= 0) {
        char path[PATH_MAX];
        unlink(qt_session_path(d->s, "daemon.pid", path, sizeof path));
    }
    if (d->lock_fd >= 0) close(d->lock_fd);
    if (d->events_fd >= 0) close(d->events_fd);
    if (d->probe_fd >= 0) close(d->probe_fd);   /* the child exits on EPIPE or its own */
    if (cleanup && d->probe_pid > 0) waitpid((pid_t)d->probe_pid, NULL, WNOHANG);
    cJSON_Delete(d->device);
    if (cleanup && d->log) qt_daemon_log(d, "exit");
    if (d->log) fclose(d->log);
    qt_dop_rescache_free(d);
    qt_dop_preview_reset(d);
    if (d->model) qt_model_free(d->model);
    qt_session_free(d->s);
    free(d);
}

void qt_daemon_free(struct qt_daemon *d) { daemon_release(d, 1); }

void qt_daemon_forget(struct qt_daemon *d) {
    if (!d) return;
    d->bound = 0;
    if (d->log) { fclose(d->log); d->log = NULL; }
    d->model = NULL;    /* not opened in the parent anyway */
    d->pcache = NULL;
    d->calib_d = NULL;   /* the parent's */
    d->calib_n = 0;
    daemon_release(d, 0);
}

/* ---------------------------------------------------------------- loop */

void qt_daemon_quit(struct qt_daemon *d) {
    if (d->quitting) return;
    d->quitting = 1;
    for (int i = 0; i < d->n_jobs; i++) {
        struct qt_job *j = d->jobs[i];
        if (j->state == JOB_QUEUED || j->state == JOB_RUNNING) qt_daemon_job_cancel(d, j, NULL);
    }
}

static void accept_clients(struct qt_daemon *d) {
    for (;;) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;
        /* only our own user may talk to us (the directory is 0700 too) */
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.uid != getuid()) {
            qt_daemon_log(d, "refusing a connection from uid %u", (unsigned)cr.uid);
            close(fd);
            continue;
        }
        qt_err err;
        if (qt_daemon_add_client(d, fd, &err)) { qt_daemon_log(d, "%s", err.msg); continue; }
        qt_daemon_log(d, "client %d connected", d->clients[d->n_clients - 1]->num);
    }
}

static void service_jobs(struct qt_daemon *d) {
    double now = qt_now();
    for (int i = 0; i < d->n_jobs; i++) {
        struct qt_job *j = d->jobs[i];
        if (j->state != JOB_RUNNING || j->pid <= 0) continue;
        if (j->cancel_requested && now > j->cancel_deadline) {
            kill(j->pid, SIGKILL);
            j->cancel_deadline = now + 3600;
        }
        if (j->pipe_open) continue;
        int st;
        pid_t r = waitpid(j->pid, &st, WNOHANG);
        if (r == j->pid) job_reap(d, j, st);
    }
}

/* ---- the device (hello's "device", a "device" event when it changes) */

#define DEVICE_PERIOD 10.0   /* seconds between probes while a job runs */

/* {backend, name, cores, threads?, cc?, mem_total, mem_free, summary} */
static cJSON *device_json(const struct qt_backend_device *dv) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backend", dv->backend);
    cJSON_AddStringToObject(o, "name", dv->name);
    cJSON_AddNumberToObject(o, "cores", dv->cores);
    if (!strcmp(dv->backend, "cpu")) {
        cJSON_AddNumberToObject(o, "threads", dv->threads);
    } else {
        char cc[24];
        snprintf(cc, sizeof cc, "%d.%d", dv->cc_major, dv->cc_minor);
        cJSON_AddStringToObject(o, "cc", cc);
    }
    cJSON_AddNumberToObject(o, "mem_total", (double)dv->mem_total);
    cJSON_AddNumberToObject(o, "mem_free", (double)dv->mem_free);
    char line[200];
    qt_backend_device_text(dv, line, sizeof line);
    cJSON_AddStringToObject(o, "summary", line);
    return o;
}

/* Starts a probe when one is due and none is in flight; a change in the
 * number of running jobs makes one due (a worker takes or gives back the
 * device's memory). */
static void device_tick(struct qt_daemon *d, int running) {
    double now = qt_now();
    if (running != d->probe_running) d->probe_next = now;
    if (d->probe_fd >= 0 || d->probe_next <= 0 || now < d->probe_next || d->quitting) return;
    d->probe_running = running;
    d->probe_next = 0;
    d->probe_fd = qt_backend_probe_start(&d->probe_pid);
    if (d->probe_fd < 0) d->probe_pid = -1;
}

/* The probe's answer: kept, and sent to every client as a "device" event
 * when its summary (memory to 0.1 GiB) changed. */
static void device_read(struct qt_daemon *d) {
    struct qt_backend_device dv;
    int r = qt_backend_probe_poll(d->probe_fd, d->probe_pid, &dv);
    if (r == 0) return;
    d->probe_fd = d->probe_pid = -1;
    if (d->probe_running > 0) d->probe_next = qt_now() + DEVICE_PERIOD;
    if (r < 0) return;
    cJSON *o = device_json(&dv);
    const char *was = d->device ? cJSON_GetStringValue(cJSON_GetObjectItem(d->device, "summary")) : NULL;
    int same = was && !strcmp(was, cJSON_GetStringValue(cJSON_GetObjectItem(o, "summary")));
    cJSON_Delete(d->device);
    d->device = o;
    if (same) return;
    if (!was) qt_daemon_log(d, "device: %s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "summary")));
    /* a live notice, not history: no seq, not logged, not replayed (hello
     * and session carry the current one) */
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "device");
    cJSON_AddItemToObject(ev, "device", cJSON_Duplicate(o, 1));
    char *line = qt_json_print(ev);
    cJSON_Delete(ev);
    if (!line) return;
    size_t n = strlen(line);
    for (int i = 0; i < d->n_clients; i++) {
        struct qt_client_slot *c = d->clients[i];
        if (!c->hello || c->dead) continue;
        if (qt_conn_queue(&c->conn, line, n) || qt_conn_queue(&c->conn, "\n", 1)) c->dead = 1;
    }
    free(line);
}

int qt_daemon_run(struct qt_daemon *d, int handle_signals, qt_err *err) {
    (void)err;
    if (handle_signals) {
        struct sigaction sa = {0};
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGXFSZ, SIG_IGN);   /* past ulimit -f a save fails with EFBIG and is reported */
    }
    jobs_schedule(d);
    struct pollfd *pf = NULL;
    int pf_cap = 0;
    d->probe_next = qt_now();   /* the first probe, at once */
    d->probe_running = 0;
    for (;;) {
        if (got_term && handle_signals && !d->quitting) {
            qt_daemon_log(d, "terminating on a signal");
            qt_daemon_quit(d);
        }
        if (!d->listening && d->had_client && d->n_clients == 0) qt_daemon_quit(d);
        if (d->quit_when_idle && !d->quitting) {   /* shutdown {when_idle}: no job, no client, for the grace */
            int viewers = 0;   /* probes (ls, attach --no-follow) come and go: not counted */
            for (int i = 0; i < d->n_clients; i++) viewers += d->clients[i]->viewer;
            if (viewers || qt_daemon_jobs_active(d)) d->idle_since = 0;
            else if (!d->idle_since) d->idle_since = qt_now();
            else if (qt_now() - d->idle_since >= d->idle_grace) {
                qt_daemon_log(d, "idle with no client for %.0f s after the last job: stopping", d->idle_grace);
                qt_daemon_quit(d);
            }
        }
        int running = 0, reaping = 0;
        for (int i = 0; i < d->n_jobs; i++) {
            running += d->jobs[i]->state == JOB_RUNNING;
            reaping += d->jobs[i]->state == JOB_RUNNING && !d->jobs[i]->pipe_open;
        }
        if (d->quitting && running == 0) break;
        device_tick(d, running);
        int need = 2 + d->n_clients + d->n_jobs;
        if (need > pf_cap) {
            pf_cap = need * 2;
            struct pollfd *p = realloc(pf, (size_t)pf_cap * sizeof *pf);
            if (!p) break;
            pf = p;
        }
        int n = 0;
        int li = -1;
        if (d->listen_fd >= 0 && !d->quitting) { li = n; pf[n++] = (struct pollfd){d->listen_fd, POLLIN, 0}; }
        int c0 = n;
        for (int i = 0; i < d->n_clients; i++) {
            struct qt_client_slot *c = d->clients[i];
            short ev = c->conn.eof ? 0 : POLLIN;   /* a half-closed peer reads only */
            if (qt_conn_pending(&c->conn)) ev |= POLLOUT;
            pf[n++] = (struct pollfd){c->conn.fd, ev, 0};
        }
        int j0 = n;
        int jmap[d->n_jobs + 1];
        int nj = 0;
        for (int i = 0; i < d->n_jobs; i++)
            if (d->jobs[i]->pipe_open) { jmap[nj++] = i; pf[n++] = (struct pollfd){d->jobs[i]->pipe.fd, POLLIN, 0}; }
        int pi = -1;
        if (d->probe_fd >= 0) { pi = n; pf[n++] = (struct pollfd){d->probe_fd, POLLIN, 0}; }
        int timeout = -1;
        if (running) timeout = reaping ? 20 : 250;
        if (d->quitting) timeout = 20;
        if (d->quit_when_idle && (timeout < 0 || timeout > 200)) timeout = 200;   /* the grace is counted */
        if (d->probe_fd < 0 && d->probe_next > 0) {   /* the next probe is counted */
            double ms = (d->probe_next - qt_now()) * 1000.0 + 1;
            int t = ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
            if (timeout < 0 || timeout > t) timeout = t;
        }
        for (int i = 0; i < d->n_clients; i++)
            if (d->clients[i]->more) timeout = 0;   /* requests left from the last turn */
        int r = poll(pf, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR) { qt_daemon_log(d, "poll: %s", strerror(errno)); break; }
        int nclients = d->n_clients;
        /* interactive first: requests, then new connections, then workers */
        for (int i = 0; i < nclients; i++)
            if ((r > 0 && (pf[c0 + i].revents & (POLLIN | POLLHUP | POLLERR))) || d->clients[i]->more)
                client_read(d, d->clients[i]);
        for (int k = 0; k < nj && r > 0; k++) {
            struct qt_job *j = d->jobs[jmap[k]];
            if (!(pf[j0 + k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            qt_err e2;
            if (qt_conn_fill(&j->pipe, &e2)) j->pipe.eof = 1;
            char *line;
            size_t len;
            int lr;
            while ((lr = qt_conn_line(&j->pipe, &line, &len)) != 0)
                if (lr == 1) job_message(d, j, line);
            if (j->pipe.eof) { j->pipe_open = 0; qt_conn_close(&j->pipe); }
        }
        if (li >= 0 && r > 0 && (pf[li].revents & POLLIN)) accept_clients(d);
        if (pi >= 0 && r > 0 && (pf[pi].revents & (POLLIN | POLLHUP | POLLERR))) device_read(d);
        service_jobs(d);
        jobs_schedule(d);
        /* flush, drop the dead, the gone and the ones that stopped reading */
        for (int i = d->n_clients - 1; i >= 0; i--) {
            struct qt_client_slot *c = d->clients[i];
            qt_err e2;
            if (!c->dead && qt_conn_flush(&c->conn, &e2)) c->dead = 1;
            /* a client that closed its side is served to the end of what it
             * sent and dropped once its replies are out (or cannot be) */
            if (c->dead) client_drop(d, i, "connection error");
            else if (c->conn.eof && !c->more && !qt_conn_pending(&c->conn)) client_drop(d, i, "disconnected");
            else if (qt_conn_pending(&c->conn) > d->out_cap) client_drop(d, i, "dropped: does not read its output");
        }
        if (d->quit_now) break;
    }
    free(pf);
    /* last words: give clients a moment to receive the final replies */
    for (int i = 0; i < d->n_clients; i++) {
        qt_err e2;
        qt_conn_flush_wait(&d->clients[i]->conn, 500, &e2);
    }
    return QT_OK;
}
