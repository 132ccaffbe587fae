/* test_engine_daemon.c — the engine daemon through the client library, against the
 * real binary ($QTUNE_BIN engine): clients and daemons killed mid-job,
 * two clients, crashing and cancelled workers, malformed and oversized
 * lines, protocol errors, the in-process daemon.  Uses the test job kind
 * (QTUNE_TEST_JOBS=1).  Every wait is bounded; every daemon is stopped. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "daemon/client.h"
#include "eval/eval.h"
#include "model/model.h"
#include "eval/qplan.h"
#include "recipe/recipe.h"
#include "sessions/session.h"
#include "tu.h"

/* every wait is for an event, bounded by this generous limit: the suite runs
 * on loaded machines */
#define WAIT_S 300.0
#define CALL_MS 300000   /* a reply, under the same limit */

static const char *sessions[16];
static int n_sessions;

static void track(const char *s) {
    for (int i = 0; i < n_sessions; i++) if (!strcmp(sessions[i], s)) return;
    sessions[n_sessions++] = s;
}

static struct qt_client *conn(const char *s, int flags, int64_t since) {
    track(s);
    qt_err err;
    struct qt_client *c;
    if (qt_client_connect(s, flags, since, &c, &err)) {
        printf("  connect %s: %s\n", s, err.msg);
        return NULL;
    }
    return c;
}

/* Sends a request given as JSON text; returns the result or NULL (err). */
static cJSON *call(struct qt_client *c, const char *json, qt_err *err) {
    cJSON *req = cJSON_Parse(json);
    if (!req) { qt_err_set(err, "bad test json"); return NULL; }
    return qt_client_call(c, req, CALL_MS, err);
}

static cJSON *call_ok(struct qt_client *c, const char *json) {
    qt_err err;
    cJSON *r = call(c, json, &err);
    if (!r) printf("  %s: %s\n", json, err.msg);
    return r;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}
static const char *str(const cJSON *o, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
    return s ? s : "";
}

/* Moves every message the client has into events (events only). */
static int drain(struct qt_client *c, cJSON *events) {
    qt_err err;
    int rc = qt_client_pump(c, &err);
    cJSON *m;
    while ((m = qt_client_next(c))) {
        if (cJSON_GetObjectItem(m, "event")) cJSON_AddItemToArray(events, m);
        else cJSON_Delete(m);
    }
    return rc;
}

/* Waits until events holds a match; pred gets each event. */
static int wait_for(struct qt_client *c, cJSON *events, int (*pred)(const cJSON *, const void *),
                    const void *arg) {
    double t0 = qt_now();
    int seen = 0;
    while (qt_now() - t0 < WAIT_S) {
        int n = cJSON_GetArraySize(events);
        for (; seen < n; seen++)
            if (pred(cJSON_GetArrayItem(events, seen), arg)) return 1;
        struct pollfd p = {.fd = qt_client_fd(c), .events = qt_client_poll_events(c)};
        poll(&p, 1, 100);
        if (drain(c, events) && cJSON_GetArraySize(events) == seen) return 0;
    }
    return 0;
}

struct job_state { int id; const char *state; };
static int is_job_state(const cJSON *ev, const void *a) {
    const struct job_state *js = a;
    const cJSON *j = cJSON_GetObjectItem(ev, "job");
    return !strcmp(str(ev, "event"), "job") && (int)num(j, "id") == js->id && !strcmp(str(j, "state"), js->state);
}
struct progress_at { int id; int done; };
static int is_progress(const cJSON *ev, const void *a) {
    const struct progress_at *p = a;
    return !strcmp(str(ev, "event"), "progress") && (int)num(ev, "job") == p->id && num(ev, "done") >= p->done;
}

/* The job_get reply of job id (NULL after printing why). */
static cJSON *job_get(struct qt_client *c, int id) {
    char req[64];
    snprintf(req, sizeof req, "{\"op\":\"job_get\",\"job\":%d}", id);
    return call_ok(c, req);
}

static int submit(struct qt_client *c, const char *params) {
    char req[512];
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"test\",\"params\":%s}", params);
    cJSON *r = call_ok(c, req);
    int id = r ? (int)num(cJSON_GetObjectItem(r, "job"), "id") : -1;
    cJSON_Delete(r);
    return id;
}

/* 1 while pid exists and is not a zombie. */
static int alive(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int wait_dead(int pid) {
    for (double t0 = qt_now(); qt_now() - t0 < WAIT_S;) {
        if (!alive(pid)) return 1;
        usleep(20000);
    }
    return 0;
}

static int contiguous(const cJSON *events, int64_t from) {
    int64_t want = from;
    const cJSON *e;
    cJSON_ArrayForEach(e, events) {
        if ((int64_t)num(e, "seq") != want) {
            printf("  seq %.0f where %lld was due\n", num(e, "seq"), (long long)want);
            return 0;
        }
        want++;
    }
    return 1;
}

/* ---- tests */

TU_TEST(test_client_killed_mid_job) {
    struct qt_client *c0 = conn("killc", QT_CLIENT_START, -1);
    TU_CHECK(c0 != NULL);
    if (!c0) return;
    int64_t seq0 = (int64_t)num(qt_client_hello(c0), "seq");
    qt_client_close(c0);
    int p[2];
    TU_CHECK(pipe(p) == 0);
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        close(p[0]);
        struct qt_client *c = conn("killc", 0, -1);
        if (!c) _exit(1);
        int id = submit(c, "{\"steps\":15,\"step_ms\":40}");
        cJSON *ev = cJSON_CreateArray();
        struct job_state js = {id, "running"};
        if (wait_for(c, ev, is_job_state, &js)) { char b = 1; if (write(p[1], &id, sizeof id) < 0) _exit(1); (void)b; }
        for (;;) pause();
    }
    close(p[1]);
    int id = -1;
    TU_CHECK(read(p[0], &id, sizeof id) == (ssize_t)sizeof id);
    close(p[0]);
    kill(kid, SIGKILL);
    int st;
    waitpid(kid, &st, 0);
    TU_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* a new client asks for everything after seq0 */
    struct qt_client *c = conn("killc", 0, seq0);
    TU_CHECK(c != NULL);
    if (!c) return;
    cJSON *ev = cJSON_CreateArray();
    struct job_state done = {id, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &done));
    TU_CHECK(contiguous(ev, seq0 + 1));
    struct job_state q = {id, "queued"}, r = {id, "running"};
    int saw_q = 0, saw_r = 0, saw_full = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ev) {
        saw_q |= is_job_state(e, &q);
        saw_r |= is_job_state(e, &r);
        struct progress_at pa = {id, 15};
        saw_full |= is_progress(e, &pa) && num(e, "total") == 15;
    }
    TU_CHECK(saw_q && saw_r && saw_full);
    cJSON *res = job_get(c, id);
    TU_CHECK(res && num(cJSON_GetObjectItem(res, "report"), "steps") == 15);
    TU_CHECK(res && strstr(str(res, "log"), "step 15/15") != NULL);
    TU_CHECK(res && !strcmp(str(cJSON_GetObjectItem(res, "job"), "state"), "done"));
    cJSON_Delete(res);
    cJSON_Delete(ev);
    qt_client_close(c);
}

/* The events of ev that carry a seq, up to the first that matches done. */
static cJSON *seq_until(const cJSON *ev, const struct job_state *done) {
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, ev) {
        if (cJSON_GetObjectItem(e, "seq")) cJSON_AddItemToArray(out, cJSON_Duplicate(e, 1));
        if (is_job_state(e, done)) break;
    }
    return out;
}

TU_TEST(test_two_clients) {
    struct qt_client *a = conn("twoc", QT_CLIENT_START, -1), *b = conn("twoc", 0, -1);
    TU_CHECK(a && b);
    if (!a || !b) { qt_client_close(a); qt_client_close(b); return; }
    cJSON *ea = cJSON_CreateArray(), *eb = cJSON_CreateArray();
    int id = submit(a, "{\"steps\":6,\"step_ms\":30}");
    cJSON_Delete(call_ok(b, "{\"op\":\"recipe_set\",\"text\":\"default: int8\\n\"}"));
    struct job_state done = {id, "done"};
    TU_CHECK(wait_for(a, ea, is_job_state, &done));
    TU_CHECK(wait_for(b, eb, is_job_state, &done));
    /* the same stream of sequenced events up to the job's end: a device
     * event (no seq, never replayed) reaches the clients connected when
     * the probe answers, and one drain may read past the end */
    cJSON *fa = seq_until(ea, &done), *fb = seq_until(eb, &done);
    char *sa = cJSON_PrintUnformatted(fa), *sb = cJSON_PrintUnformatted(fb);
    cJSON_Delete(fa);
    cJSON_Delete(fb);
    TU_CHECK(sa && sb && !strcmp(sa, sb));
    TU_CHECK(sa && strstr(sa, "\"event\":\"recipe\"") && strstr(sa, "\"event\":\"progress\""));
    free(sa);
    free(sb);
    cJSON_Delete(ea);
    cJSON_Delete(eb);
    qt_client_close(a);
    qt_client_close(b);
}

/* The worker pid job.json records once it shows progress (done > 0). */
static int read_worker_pid(const char *session, int id) {
    struct qt_session *s;
    qt_err err;
    if (qt_session_open(session, 0, &s, &err)) return -1;
    char rel[64], path[PATH_MAX];
    snprintf(rel, sizeof rel, "jobs/%d/job.json", id);
    char *t = qt_read_file(qt_session_path(s, rel, path, sizeof path), NULL, NULL);
    qt_session_free(s);
    cJSON *o = t ? cJSON_Parse(t) : NULL;
    free(t);
    int pid = num(o, "done") > 0 ? (int)num(o, "pid") : -1;
    cJSON_Delete(o);
    return pid;
}

TU_TEST(test_daemon_killed_mid_job) {
    struct qt_client *c = conn("killd", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    int dpid = (int)num(qt_client_hello(c), "daemon_pid");
    for (int i = 1; i <= 3; i++) {
        char req[128];
        snprintf(req, sizeof req, "{\"op\":\"recipe_set\",\"text\":\"r: %d\\n\"}", i);
        cJSON_Delete(call_ok(c, req));
    }
    cJSON_Delete(call_ok(c, "{\"op\":\"undo\"}"));
    int id = submit(c, "{\"steps\":400,\"step_ms\":20}");
    cJSON *ev = cJSON_CreateArray();
    struct progress_at pa = {id, 3};
    TU_CHECK(wait_for(c, ev, is_progress, &pa));
    /* job.json is saved at most twice a second while running: wait for it */
    int wpid = -1;
    for (double t0 = qt_now(); wpid <= 0 && qt_now() - t0 < WAIT_S;) {
        wpid = read_worker_pid("killd", id);
        if (wpid <= 0) usleep(20000);
    }
    TU_CHECK(wpid > 0);
    int64_t last = qt_client_last_seq(c);
    TU_CHECK(kill(dpid, SIGKILL) == 0);
    TU_CHECK(wait_dead(dpid));
    if (wpid > 0) TU_CHECK(wait_dead(wpid));   /* the worker dies with its daemon */
    qt_client_close(c);
    cJSON_Delete(ev);
    /* a new daemon starts; the job shows as interrupted with its progress */
    c = conn("killd", QT_CLIENT_START, last);
    TU_CHECK(c != NULL);
    if (!c) return;
    const cJSON *h = qt_client_hello(c);
    TU_CHECK((int)num(h, "daemon_pid") != dpid);
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(h, "jobs"), 0);
    TU_CHECK(!strcmp(str(j, "state"), "interrupted"));
    TU_CHECK(num(j, "done") >= 1 && num(j, "total") == 400);
    TU_CHECK(strstr(str(j, "error"), "stopped") != NULL);
    ev = cJSON_CreateArray();
    struct job_state js = {id, "interrupted"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));   /* replayed: what it missed */
    cJSON_Delete(ev);
    /* recipe history intact */
    cJSON *r = call_ok(c, "{\"op\":\"recipe_get\"}");
    TU_CHECK(r && num(r, "version") == 2 && !strcmp(str(r, "text"), "r: 2\n"));
    TU_CHECK(r && cJSON_IsTrue(cJSON_GetObjectItem(r, "can_redo")));
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"redo\"}");
    TU_CHECK(r && num(r, "version") == 3 && !strcmp(str(r, "text"), "r: 3\n"));
    cJSON_Delete(r);
    qt_client_close(c);
}

TU_TEST(test_worker_crash_and_failure) {
    struct qt_client *c = conn("crash", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    cJSON *ev = cJSON_CreateArray();
    int id = submit(c, "{\"steps\":10,\"step_ms\":10,\"crash_at\":2}");
    struct job_state js = {id, "failed"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    cJSON *r = job_get(c, id);
    const cJSON *j = cJSON_GetObjectItem(r, "job");
    TU_CHECK(!strcmp(str(j, "exit"), "signal 6"));
    TU_CHECK(strstr(str(j, "error"), "signal 6") && strstr(str(j, "error"), "crashing at step 2"));
    TU_CHECK(strstr(str(r, "log"), "crashing at step 2") != NULL);
    cJSON_Delete(r);
    id = submit(c, "{\"steps\":10,\"step_ms\":10,\"fail_at\":1}");
    js.id = id;
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    r = job_get(c, id);
    j = cJSON_GetObjectItem(r, "job");
    TU_CHECK(!strcmp(str(j, "exit"), "exit 1"));
    TU_CHECK(strstr(str(j, "error"), "failing at step 1") != NULL);
    cJSON_Delete(r);
    /* the daemon keeps serving */
    r = call_ok(c, "{\"op\":\"session\"}");
    TU_CHECK(r && !strcmp(str(r, "session"), "crash"));
    cJSON_Delete(r);
    cJSON_Delete(ev);
    qt_client_close(c);
}

TU_TEST(test_cancel_and_shutdown) {
    struct qt_client *c = conn("cancel", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    cJSON *ev = cJSON_CreateArray();
    int a = submit(c, "{\"steps\":1000,\"step_ms\":20}");
    int b = submit(c, "{\"steps\":1000,\"step_ms\":20}");
    struct job_state ra = {a, "running"};
    TU_CHECK(wait_for(c, ev, is_job_state, &ra));
    char req[128];
    snprintf(req, sizeof req, "{\"op\":\"job_cancel\",\"job\":%d}", b);
    cJSON *r = call_ok(c, req);   /* queued: cancelled at once */
    TU_CHECK(r && !strcmp(str(cJSON_GetObjectItem(r, "job"), "state"), "cancelled"));
    cJSON_Delete(r);
    qt_err err;
    r = call(c, "{\"op\":\"shutdown\"}", &err);   /* refused: a job runs */
    TU_CHECK(!r && strstr(err.msg, "1 job running or queued"));
    cJSON_Delete(r);
    snprintf(req, sizeof req, "{\"op\":\"job_cancel\",\"job\":%d}", a);
    cJSON_Delete(call_ok(c, req));
    struct job_state ca = {a, "cancelled"};
    TU_CHECK(wait_for(c, ev, is_job_state, &ca));
    r = call(c, "{\"op\":\"job_cancel\",\"job\":99}", &err);
    TU_CHECK(!r && strstr(err.msg, "no job 99"));
    /* shutdown: the daemon exits and removes its socket */
    int dpid = (int)num(qt_client_hello(c), "daemon_pid");
    r = call_ok(c, "{\"op\":\"shutdown\"}");
    TU_CHECK(r != NULL);
    cJSON_Delete(r);
    TU_CHECK(wait_dead(dpid));
    char sock[PATH_MAX];
    TU_CHECK(qt_client_probe("cancel", sock, sizeof sock, &err) == 0);
    TU_CHECK(access(sock, F_OK) != 0);
    cJSON_Delete(ev);
    qt_client_close(c);
}

/* Waits for the next reply (a message with "ok"). */
static cJSON *next_reply(struct qt_client *c) {
    double t0 = qt_now();
    while (qt_now() - t0 < WAIT_S) {
        cJSON *m;
        while ((m = qt_client_next(c))) {
            if (cJSON_GetObjectItem(m, "ok")) return m;
            cJSON_Delete(m);
        }
        struct pollfd p = {.fd = qt_client_fd(c), .events = qt_client_poll_events(c)};
        poll(&p, 1, 100);
        qt_err err;
        if (qt_client_pump(c, &err) && !qt_client_next(c)) return NULL;
    }
    return NULL;
}

TU_TEST(test_malformed_and_oversized) {
    struct qt_client *c = conn("proto", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    qt_err err;
    TU_CHECK(qt_client_send_raw(c, "this is not json\n", 17, &err) == QT_OK);
    cJSON *m = next_reply(c);
    TU_CHECK(m && cJSON_IsFalse(cJSON_GetObjectItem(m, "ok")) && cJSON_IsNull(cJSON_GetObjectItem(m, "id")));
    TU_CHECK(m && strstr(str(m, "error"), "not a JSON object"));
    cJSON_Delete(m);
    TU_CHECK(qt_client_send_raw(c, "{\"id\":7}\n", 9, &err) == QT_OK);
    m = next_reply(c);
    TU_CHECK(m && num(m, "id") == 7 && strstr(str(m, "error"), "no \"op\""));
    cJSON_Delete(m);
    size_t big = (2u << 20) + 10;
    char *line = malloc(big + 1);
    memset(line, 'x', big);
    memcpy(line, "{\"id\":8,\"op\":\"session\",\"pad\":\"", 30);
    line[big - 2] = '"';
    line[big - 1] = '}';
    line[big] = '\n';
    /* send it in pieces while reading, as a real client would */
    size_t off = 0;
    while (off < big + 1) {
        size_t k = big + 1 - off < 262144 ? big + 1 - off : 262144;
        TU_CHECK(qt_client_send_raw(c, line + off, k, &err) == QT_OK);
        off += k;
        struct pollfd p = {.fd = qt_client_fd(c), .events = qt_client_poll_events(c)};
        poll(&p, 1, 50);
        qt_client_pump(c, &err);
    }
    free(line);
    m = next_reply(c);
    TU_CHECK(m && cJSON_IsFalse(cJSON_GetObjectItem(m, "ok")) && strstr(str(m, "error"), "longer than"));
    cJSON_Delete(m);
    /* the connection survived */
    cJSON *r = call_ok(c, "{\"op\":\"session\"}");
    TU_CHECK(r && !strcmp(str(r, "session"), "proto"));
    cJSON_Delete(r);
    /* errors by op */
    r = call(c, "{\"op\":\"frobnicate\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "frobnicate: unknown op"));
    r = call(c, "{\"op\":\"job_submit\",\"kind\":\"nope\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "unknown job kind") && strstr(err.msg, "quantize"));
    r = call(c, "{\"op\":\"undo\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "nothing to undo"));
    r = call(c, "{\"op\":\"variant_get\",\"slot\":\"AB\"}", &err);   /* slots are one letter A..Z */
    TU_CHECK(!r && strstr(err.msg, "slot"));
    r = call(c, "{\"op\":\"variant_get\",\"slot\":\"a\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "slot"));
    r = call_ok(c, "{\"op\":\"variant_get\",\"slot\":\"Z\"}");
    TU_CHECK(r && cJSON_IsNull(cJSON_GetObjectItem(r, "text")));
    cJSON_Delete(r);
    /* settings: checked, merged, kept; null removes a key */
    r = call(c, "{\"op\":\"settings\",\"set\":{\"colour\":\"red\"}}", &err);
    TU_CHECK(!r && strstr(err.msg, "colour: unknown"));
    r = call(c, "{\"op\":\"settings\",\"set\":{\"eval_ctx\":0}}", &err);
    TU_CHECK(!r && strstr(err.msg, "eval_ctx"));
    r = call(c, "{\"op\":\"settings\",\"set\":{\"eval_data\":\"relative.txt\"}}", &err);
    TU_CHECK(!r && strstr(err.msg, "absolute"));
    cJSON_Delete(call_ok(c, "{\"op\":\"settings\",\"set\":{\"gpu\":\"H200\",\"eval_ctx\":64}}"));
    cJSON_Delete(call_ok(c, "{\"op\":\"settings\",\"set\":{\"eval_chunks\":2,\"eval_ctx\":null}}"));
    r = call_ok(c, "{\"op\":\"settings\"}");
    const cJSON *st = r ? cJSON_GetObjectItem(r, "settings") : NULL;
    TU_CHECK(st && !strcmp(str(st, "gpu"), "H200") && !cJSON_GetObjectItem(st, "eval_ctx") &&
             cJSON_GetNumberValue(cJSON_GetObjectItem(st, "eval_chunks")) == 2);
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"session\"}");
    st = r ? cJSON_GetObjectItem(r, "settings") : NULL;
    TU_CHECK(st && !strcmp(str(st, "gpu"), "H200"));
    cJSON_Delete(r);
    /* the deploy panel's settings: each checked, one bad value changes nothing */
    r = call(c, "{\"op\":\"settings\",\"set\":{\"deploy_ctx\":2048,\"deploy_tp\":3}}", &err);
    TU_CHECK(!r && strstr(err.msg, "deploy_tp must be 1, 2, 4 or 8"));
    r = call(c, "{\"op\":\"settings\",\"set\":{\"deploy_kv_dtype\":\"int3\"}}", &err);
    TU_CHECK(!r && strstr(err.msg, "deploy_kv_dtype: int3: unknown (auto, bf16, fp16, fp8, fp32)"));
    r = call(c, "{\"op\":\"settings\",\"set\":{\"deploy_util\":1.5}}", &err);
    TU_CHECK(!r && strstr(err.msg, "deploy_util must be a fraction in (0, 1]"));
    r = call(c, "{\"op\":\"settings\",\"set\":{\"deploy_ctx\":\"32k\"}}", &err);
    TU_CHECK(!r && strstr(err.msg, "deploy_ctx must be a whole number from 1 to 100000000"));
    r = call(c, "{\"op\":\"settings\",\"set\":{\"deploy_batch\":0}}", &err);
    TU_CHECK(!r && strstr(err.msg, "deploy_batch must be a whole number from 1 to 1000000"));
    r = call_ok(c, "{\"op\":\"settings\"}");
    st = r ? cJSON_GetObjectItem(r, "settings") : NULL;
    TU_CHECK(st && !cJSON_GetObjectItem(st, "deploy_ctx"));
    cJSON_Delete(r);
    cJSON_Delete(call_ok(c, "{\"op\":\"settings\",\"set\":{\"deploy_ctx\":2048,\"deploy_batch\":2,"
                            "\"deploy_kv_dtype\":\"fp8\",\"deploy_util\":0.8,\"deploy_tp\":2}}"));
    cJSON_Delete(call_ok(c, "{\"op\":\"settings\",\"set\":{\"deploy_tp\":null}}"));
    r = call_ok(c, "{\"op\":\"session\"}");   /* kept for the next attach */
    st = r ? cJSON_GetObjectItem(r, "settings") : NULL;
    TU_CHECK(st && cJSON_GetNumberValue(cJSON_GetObjectItem(st, "deploy_ctx")) == 2048 &&
             cJSON_GetNumberValue(cJSON_GetObjectItem(st, "deploy_batch")) == 2 &&
             !strcmp(str(st, "deploy_kv_dtype"), "fp8") &&
             cJSON_GetNumberValue(cJSON_GetObjectItem(st, "deploy_util")) == 0.8 &&
             !cJSON_GetObjectItem(st, "deploy_tp") && !strcmp(str(st, "gpu"), "H200"));
    cJSON_Delete(r);
    cJSON_Delete(call_ok(c, "{\"op\":\"variant_store\",\"slot\":\"B\",\"text\":\"b\\n\"}"));
    r = call_ok(c, "{\"op\":\"variant_get\",\"slot\":\"B\"}");
    TU_CHECK(r && !strcmp(str(r, "text"), "b\n"));
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"session\"}");   /* the session lists its variants, for attach */
    const cJSON *vl = r ? cJSON_GetObjectItem(r, "variants") : NULL;
    TU_CHECK(cJSON_GetArraySize(vl) == 1 && !strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(vl, 0)), "B"));
    cJSON_Delete(r);
    cJSON_Delete(call_ok(c, "{\"op\":\"variant_drop\",\"slot\":\"B\"}"));
    r = call_ok(c, "{\"op\":\"variant_get\",\"slot\":\"B\"}");
    TU_CHECK(r && cJSON_IsNull(cJSON_GetObjectItem(r, "text")));
    cJSON_Delete(r);
    cJSON_Delete(call_ok(c, "{\"op\":\"variant_store\",\"slot\":\"B\",\"text\":\"b\\n\"}"));
    r = call(c, "{\"op\":\"open\",\"model\":\"/nonexistent/model\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "/nonexistent/model"));
    char req[PATH_MAX + 64];
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/tiny-glm-moe"));
    r = call_ok(c, req);
    TU_CHECK(r && num(r, "tensors") > 100 && !strcmp(str(r, "arch"), "glm4_moe"));
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"tensors\",\"filter\":\"layers\\\\.1\\\\.mlp\\\\.experts\\\\.3\\\\.\",\"limit\":2}");
    TU_CHECK(r && num(r, "count") == 3 && cJSON_GetArraySize(cJSON_GetObjectItem(r, "tensors")) == 2);
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"detail\",\"tensor\":\"model.layers.1.mlp.experts.3.up_proj.weight\",\"bins\":16}");
    TU_CHECK(r != NULL);
    if (r) {
        const cJSON *cnt = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "hist"), "counts"), *x;
        double total = 0;
        cJSON_ArrayForEach(x, cnt) total += x->valuedouble;
        TU_CHECK(cJSON_GetArraySize(cnt) == 16);
        TU_CHECK(total == num(r, "elements") && total > 0);
        TU_CHECK(num(r, "min") <= num(r, "mean") && num(r, "mean") <= num(r, "max") && num(r, "std") > 0);
        TU_CHECK(num(r, "absmax") >= num(r, "max") && num(r, "absmax") >= -num(r, "min"));
    }
    cJSON_Delete(r);
    r = call(c, "{\"op\":\"detail\",\"tensor\":\"nope\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "no such tensor"));
    qt_client_close(c);
    /* before hello, and a version this daemon does not speak */
    c = conn("proto", QT_CLIENT_RAW, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    r = call(c, "{\"op\":\"session\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "say hello first"));
    r = call(c, "{\"op\":\"hello\",\"version\":99}", &err);
    TU_CHECK(!r && strstr(err.msg, "version 99 not supported"));
    r = call_ok(c, "{\"op\":\"hello\",\"version\":1}");
    TU_CHECK(r != NULL);
    cJSON_Delete(r);
    qt_client_close(c);
}

TU_TEST(test_pipelined_half_close) {
    /* 100 requests in one write, then the client closes its sending side (as
     * `socat` does at the end of its input): every one gets its reply, in
     * order, before the daemon closes the connection */
    struct qt_client *c = conn("pipe", QT_CLIENT_START | QT_CLIENT_RAW, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    char *buf = malloc(100 * 64);
    size_t len = (size_t)sprintf(buf, "{\"id\":0,\"op\":\"hello\",\"version\":1}\n");
    for (int i = 1; i < 100; i++) len += (size_t)sprintf(buf + len, "{\"id\":%d,\"op\":\"recipe_get\"}\n", i);
    qt_err err;
    TU_CHECK(qt_client_send_raw(c, buf, len, &err) == QT_OK);
    free(buf);
    TU_CHECK(shutdown(qt_client_fd(c), SHUT_WR) == 0);
    int next = 0, ok = 1;
    double t0 = qt_now();
    while (qt_now() - t0 < WAIT_S) {
        struct pollfd p = {.fd = qt_client_fd(c), .events = POLLIN};
        poll(&p, 1, 100);
        int gone = qt_client_pump(c, &err) != QT_OK;
        cJSON *m;
        while ((m = qt_client_next(c))) {
            if (cJSON_GetObjectItem(m, "ok")) {
                ok &= (int)num(m, "id") == next && cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"));
                next++;
            }
            cJSON_Delete(m);
        }
        if (gone) break;
    }
    TU_CHECK(ok);
    TU_CHECK(next == 100);
    qt_client_close(c);
}

TU_TEST(test_engine_ops) {
    /* preview, resolve, recipe_edit, lint, deploy on the tiny model, in-process */
    struct qt_client *c = conn("ops", QT_CLIENT_INPROC, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    char req[PATH_MAX + 256];
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/tiny-glm-moe"));
    cJSON_Delete(call_ok(c, req));
    const char *up = "model.layers.1.mlp.experts.3.up_proj.weight";
    snprintf(req, sizeof req, "{\"op\":\"preview\",\"tensors\":[\"%s\"],\"schemes\":[\"int4-g128-sym\",\"W8A16\",\"bf16\",\"int4-g1000-sym\"]}", up);
    cJSON *r = call_ok(c, req);
    const cJSON *a = cJSON_GetObjectItem(r, "results");
    TU_CHECK(cJSON_GetArraySize(a) == 4);
    const cJSON *x0 = cJSON_GetArrayItem(a, 0), *x1 = cJSON_GetArrayItem(a, 1), *x2 = cJSON_GetArrayItem(a, 2),
                *x3 = cJSON_GetArrayItem(a, 3);
    TU_CHECK(!strcmp(str(x0, "scheme"), "int4-g128-sym") && num(x0, "rel_rmse") > 0.05 && num(x0, "rel_rmse") < 0.2);
    TU_CHECK(!strcmp(str(x1, "scheme"), "int8-g128-sym") && num(x1, "rel_rmse") < num(x0, "rel_rmse") / 8);
    TU_CHECK(num(x0, "bytes") < num(x1, "bytes") && num(x1, "bytes") < num(x2, "bytes") && num(x2, "bytes") == 65536);
    TU_CHECK(num(x2, "rel_rmse") == 0 && cJSON_IsNull(cJSON_GetObjectItem(x2, "sqnr_db")));
    /* a group wider than the row: one partial group, quantized (coarser than g128) */
    TU_CHECK(!cJSON_GetObjectItem(x3, "error") && num(x3, "rel_rmse") > num(x0, "rel_rmse"));
    cJSON_Delete(r);
    /* the same pair again comes from the cache */
    snprintf(req, sizeof req, "{\"op\":\"preview\",\"pairs\":[[\"%s\",\"int4-g128-sym\"]]}", up);
    r = call_ok(c, req);
    TU_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "results"), 0), "cached")));
    cJSON_Delete(r);
    qt_err err;
    r = call(c, "{\"op\":\"preview\",\"tensors\":[\"nope\"],\"schemes\":[\"int4\"]}", &err);
    TU_CHECK(!r && strstr(err.msg, "nope: no such tensor"));
    /* resolve before any recipe: everything kept, 16 bits a weight */
    r = call_ok(c, "{\"op\":\"resolve\",\"limit\":0}");
    TU_CHECK(r && num(r, "n_quantized") == 0 && num(cJSON_GetObjectItem(r, "total"), "bpw") == 16);
    cJSON_Delete(r);
    /* the fixture recipe: 172 tensors int4-g128 (tests/refs/eval_kl.json) */
    size_t n;
    char *rec = qt_read_file(tu_path("recipes/tiny-w4a16.yaml"), &n, &err);
    TU_CHECK(rec != NULL);
    if (!rec) { qt_client_close(c); return; }
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "recipe_set");
    cJSON_AddStringToObject(q, "text", rec);
    free(rec);
    cJSON_Delete(qt_client_call(c, q, CALL_MS, &err));
    r = call_ok(c, "{\"op\":\"resolve\",\"filter\":\"^model\\\\.layers\\\\.1\\\\.self_attn\\\\.q_proj\\\\.weight$\"}");
    TU_CHECK(r && num(r, "n_quantized") == 172 && num(r, "count") == 1);
    const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "tensors"), 0);
    TU_CHECK(!strcmp(str(t0, "scheme"), "int4-g128-sym") && !strcmp(str(t0, "algo"), "RTN"));
    double bpw = num(cJSON_GetObjectItem(r, "total"), "bpw");
    TU_CHECK(bpw > 4 && bpw < 16);
    int lm_ignored = 0;
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItem(r, "patterns"))
        lm_ignored |= !strcmp(str(pt, "pattern"), "lm_head") && !strcmp(str(pt, "kind"), "ignore") && num(pt, "matches") == 1;
    TU_CHECK(lm_ignored);
    /* each tensor: the entry deciding it (an index in patterns) and its bytes after */
    const cJSON *pat = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "patterns"), (int)num(t0, "pattern"));
    TU_CHECK(cJSON_IsNumber(cJSON_GetObjectItem(t0, "pattern")) && pat && !strcmp(str(pat, "kind"), "target"));
    TU_CHECK(num(t0, "bytes") > 0 && num(t0, "bytes") < 256 * 256 * 2 / 3);   /* [256, 256]: about 4 bits a weight, not 16 */
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"resolve\",\"filter\":\"^lm_head\\\\.weight$\"}");
    t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "tensors"), 0);
    pat = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "patterns"), (int)num(t0, "pattern"));
    TU_CHECK(t0 && pat && !strcmp(str(pat, "kind"), "ignore") && !strcmp(str(pat, "pattern"), "lm_head"));
    TU_CHECK(t0 && !strcmp(str(t0, "scheme"), "bf16"));
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"lint\"}");
    TU_CHECK(r && num(r, "errors") == 0);
    cJSON_Delete(r);
    /* an edit: attention to int8 — a new history entry, undoable */
    r = call_ok(c, "{\"op\":\"recipe_edit\",\"action\":\"set_scheme\",\"target\":\"re:.*self_attn.*\",\"scheme\":\"W8A16\"}");
    TU_CHECK(r && num(r, "version") == 2 && strstr(str(r, "text"), "num_bits: 8"));
    cJSON_Delete(r);
    r = call_ok(c, "{\"op\":\"resolve\",\"filter\":\"^model\\\\.layers\\\\.1\\\\.self_attn\\\\.q_proj\\\\.weight$\"}");
    t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "tensors"), 0);
    TU_CHECK(!strcmp(str(t0, "scheme"), "int8-g128-sym"));
    TU_CHECK(num(cJSON_GetObjectItem(r, "total"), "bpw") > bpw);
    cJSON_Delete(r);
    r = call(c, "{\"op\":\"recipe_edit\",\"action\":\"frob\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "unknown action"));
    cJSON_Delete(call_ok(c, "{\"op\":\"undo\"}"));
    /* a group split across schemes is a lint error */
    r = call_ok(c, "{\"op\":\"lint\",\"text\":\"QuantizationModifier:\\n  targets: ['re:.*q_proj$']\\n  scheme: W4A16\\n\"}");
    char *txt = r ? cJSON_PrintUnformatted(r) : NULL;
    TU_CHECK(r && num(r, "errors") >= 1 && txt && strstr(txt, "QT001") != NULL);
    free(txt);
    cJSON_Delete(r);
    r = call(c, "{\"op\":\"lint\",\"text\":\"a: [\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "recipe"));
    r = call_ok(c, "{\"op\":\"deploy\",\"gpu\":\"H100\"}");
    TU_CHECK(r && num(r, "weights_bytes") > 0 && num(r, "gpus_needed") == 1 && cJSON_GetArraySize(cJSON_GetObjectItem(r, "per_gpu")) == 4);
    cJSON_Delete(r);
    r = call(c, "{\"op\":\"deploy\",\"gpu\":\"nosuchgpu\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "not in the catalog"));
    qt_client_close(c);
}

/* KL mean of the fixture recipe computed here with the engine calls the
 * eval job makes. */
static double direct_kl(const char *recipe, int ctx, int chunks) {
    qt_err err;
    struct qt_model *m;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err)) return -1;
    struct qt_qplan plan;
    double r = -1;
    if (qt_qplan_from_recipe(m, recipe, &plan, &err) == QT_OK) {
        char cache[PATH_MAX];
        struct qt_eval_params p = {.data_path = tu_path("share/data/eval.txt"), .ctx = ctx, .chunks = chunks,
                                   .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
        struct qt_eval_base *base;
        struct qt_kl_stats st;
        if (qt_eval_base_init(m, &p, &base, &err) == QT_OK) {
            struct qt_fwd_hooks hk = qt_qplan_hooks(&plan);
            if (qt_eval_run(m, base, &hk, 0, &p, &st, &err) == QT_OK) r = st.kld_mean;
            qt_eval_base_free(base);
        }
        qt_qplan_free(&plan);
    }
    if (r < 0) printf("  direct eval: %s\n", err.msg);
    qt_model_free(m);
    return r;
}

TU_TEST(test_eval_job) {
    struct qt_client *c = conn("evaljob", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    char req[PATH_MAX + 256];
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/tiny-glm-moe"));
    cJSON_Delete(call_ok(c, req));
    qt_err err;
    /* no recipe yet: the job fails and says why */
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"eval\",\"params\":{\"data\":\"%s\",\"ctx\":128,\"chunks\":2}}",
             tu_path("share/data/eval.txt"));
    cJSON *r = call_ok(c, req);
    int id = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    cJSON *ev = cJSON_CreateArray();
    struct job_state js = {id, "failed"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    char *rec = qt_read_file(tu_path("recipes/tiny-w4a16.yaml"), NULL, &err);
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "recipe_set");
    cJSON_AddStringToObject(q, "text", rec ? rec : "");
    free(rec);
    cJSON_Delete(qt_client_call(c, q, CALL_MS, &err));
    r = call_ok(c, req);
    id = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    js = (struct job_state){id, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    r = job_get(c, id);
    const cJSON *rep = cJSON_GetObjectItem(r, "report");
    double want = direct_kl(tu_path("recipes/tiny-w4a16.yaml"), 128, 2);
    TU_CHECK(want > 0);
    TU_NEAR(num(cJSON_GetObjectItem(rep, "kld"), "mean"), want, 1e-12 * want);
    TU_CHECK(num(rep, "tensors_quantized") == 172 && num(rep, "chunks") == 2);
    cJSON_Delete(r);
    /* a long eval cancelled after its first progress report */
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"eval\",\"params\":{\"data\":\"%s\",\"ctx\":512,\"chunks\":16}}",
             tu_path("share/data/eval.txt"));
    r = call_ok(c, req);
    id = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    struct progress_at pa = {id, 1};
    TU_CHECK(wait_for(c, ev, is_progress, &pa));
    snprintf(req, sizeof req, "{\"op\":\"job_cancel\",\"job\":%d}", id);
    cJSON_Delete(call_ok(c, req));
    js = (struct job_state){id, "cancelled"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    cJSON_Delete(ev);
    qt_client_close(c);
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = qt_read_file(a, &na, NULL), *y = qt_read_file(b, &nb, NULL);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

TU_TEST(test_quantize_job) {
    /* the quantize job writes the same checkpoint as `qtune quantize` */
    const char *tmp = tu_tmpdir("test_engine_daemon_q");
    char cli_out[PATH_MAX], job_out[PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(cli_out, sizeof cli_out, "%s/cli", tmp);
    snprintf(job_out, sizeof job_out, "%s/new/dirs/job", tmp);   /* parents created */
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' -r '%s' -o '%s' >/dev/null 2>&1", getenv("QTUNE_ENGINE_BIN"),
             tu_path("share/models/tiny-glm-moe"), tu_path("recipes/tiny-w4a16.yaml"), cli_out);
    TU_CHECK(system(cmd) == 0);
    struct qt_client *c = conn("quant", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    char req[3 * PATH_MAX];
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/tiny-glm-moe"));
    cJSON_Delete(call_ok(c, req));
    qt_err err;
    char *rec = qt_read_file(tu_path("recipes/tiny-w4a16.yaml"), NULL, &err);
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "recipe_set");
    cJSON_AddStringToObject(q, "text", rec ? rec : "");
    free(rec);
    cJSON_Delete(qt_client_call(c, q, CALL_MS, &err));
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"quantize\",\"params\":{\"out\":\"%s\"}}", cli_out);
    cJSON *r = call(c, req, &err);   /* refuses an existing directory */
    TU_CHECK(!r && strstr(err.msg, "already exists"));
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"quantize\",\"params\":{\"out\":\"%s\"}}", job_out);
    r = call_ok(c, req);
    int id = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    cJSON *ev = cJSON_CreateArray();
    struct job_state js = {id, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    cJSON_Delete(ev);
    r = job_get(c, id);
    TU_CHECK(r && num(cJSON_GetObjectItem(r, "report"), "modules_quantized") == 172);
    cJSON_Delete(r);
    char a[2 * PATH_MAX], b[2 * PATH_MAX];
    static const char *files[] = {"model.safetensors", "config.json", "recipe.yaml", "tokenizer.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", cli_out, files[i]);
        snprintf(b, sizeof b, "%s/%s", job_out, files[i]);
        TU_CHECKF(same_file(a, b), "%s differs", files[i]);
    }
    /* at tp 2 the recipe has lint errors (QT006): the job fails, writes nothing */
    char lint_out[PATH_MAX + 16];
    snprintf(lint_out, sizeof lint_out, "%s/tp2", tmp);
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"quantize\",\"params\":{\"out\":\"%s\",\"tp\":2}}",
             lint_out);
    r = call_ok(c, req);
    id = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    ev = cJSON_CreateArray();
    struct job_state jf = {id, "failed"};
    TU_CHECK(wait_for(c, ev, is_job_state, &jf));
    cJSON_Delete(ev);
    r = job_get(c, id);
    const char *jerr = r ? cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "job"), "error")) : NULL;
    TU_CHECKF(jerr && strstr(jerr, "lint error") && strstr(jerr, "QT006"), "%s", jerr ? jerr : "(none)");
    cJSON_Delete(r);
    struct stat lst;
    TU_CHECK(stat(lint_out, &lst) != 0);
    qt_client_close(c);
}

TU_TEST(test_slow_client_dropped) {
    /* a client that asks and never reads is dropped once 1 MiB of replies
     * waits for it; meanwhile another client is served as usual */
    setenv("QTUNE_CLIENT_BUFFER", "1048576", 1);
    struct qt_client *good = conn("slow", QT_CLIENT_START, -1);
    unsetenv("QTUNE_CLIENT_BUFFER");
    struct qt_client *slow = conn("slow", QT_CLIENT_RAW, -1);
    TU_CHECK(good && slow);
    if (!good || !slow) { qt_client_close(good); qt_client_close(slow); return; }
    char req[PATH_MAX + 64];
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/tiny-glm-moe"));
    cJSON_Delete(call_ok(good, req));
    qt_err err;
    const char *hello = "{\"id\":0,\"op\":\"hello\",\"version\":1}\n";
    TU_CHECK(qt_client_send_raw(slow, hello, strlen(hello), &err) == QT_OK);
    const char *ask = "{\"id\":1,\"op\":\"tensors\"}\n";   /* ~70 KB a reply */
    for (int i = 0; i < 60; i++) TU_CHECK(qt_client_send_raw(slow, ask, strlen(ask), &err) == QT_OK);
    cJSON *r = call_ok(good, "{\"op\":\"session\"}");
    TU_CHECK(r != NULL);
    cJSON_Delete(r);
    /* the daemon's log says it dropped the slow one */
    struct qt_session *s;
    int dropped = 0;
    if (qt_session_open("slow", 0, &s, &err) == QT_OK) {
        char path[PATH_MAX];
        qt_session_path(s, "daemon.log", path, sizeof path);
        for (double t0 = qt_now(); !dropped && qt_now() - t0 < WAIT_S;) {
            char *log = qt_read_file(path, NULL, NULL);
            dropped = log && strstr(log, "dropped: does not read its output");
            free(log);
            if (!dropped) usleep(20000);
        }
        qt_session_free(s);
    }
    TU_CHECK(dropped);
    r = call_ok(good, "{\"op\":\"job_list\"}");
    TU_CHECK(r != NULL);
    cJSON_Delete(r);
    qt_client_close(slow);
    qt_client_close(good);
}

TU_TEST(test_inproc) {
    struct qt_client *c = conn("inproc", QT_CLIENT_INPROC, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    TU_CHECK((int)num(qt_client_hello(c), "daemon_pid") == (int)getpid());
    cJSON_Delete(call_ok(c, "{\"op\":\"recipe_set\",\"text\":\"x: 1\\n\"}"));
    int id = submit(c, "{\"steps\":3,\"step_ms\":5}");
    cJSON *ev = cJSON_CreateArray();
    struct job_state js = {id, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    cJSON_Delete(ev);
    qt_client_close(c);
    /* the session outlives the in-process daemon */
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("inproc", 0, &s, &err) == QT_OK);
    if (!s) return;
    char path[PATH_MAX];
    TU_CHECK(access(qt_session_path(s, "jobs/1/report.json", path, sizeof path), F_OK) == 0);
    char *t = qt_session_recipe(s, &err);
    TU_CHECK(t && !strcmp(t, "x: 1\n"));
    free(t);
    qt_session_free(s);
    /* a second daemon for a session that has one is refused */
    c = conn("inproc2", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    struct qt_client *c2 = NULL;
    TU_CHECK(qt_client_connect("inproc2", QT_CLIENT_INPROC, -1, &c2, &err) == QT_ERR);
    TU_CHECK(strstr(err.msg, "already runs") != NULL);
    qt_client_close(c);
}

/* Stops every daemon the tests started: shutdown, then SIGKILL by pid. */
static void cleanup(void) {
    for (int i = 0; i < n_sessions; i++) {
        qt_err err;
        struct qt_client *c;
        if (qt_client_connect(sessions[i], 0, -1, &c, &err) == QT_OK) {
            int pid = (int)num(qt_client_hello(c), "daemon_pid");
            cJSON *r = call(c, "{\"op\":\"shutdown\",\"force\":true}", &err);
            cJSON_Delete(r);
            qt_client_close(c);
            if (pid > 0 && !wait_dead(pid)) kill(pid, SIGKILL);
        }
    }
}

TU_TEST(test_plan_job) {
    struct qt_client *c = conn("planjob", QT_CLIENT_START, -1);
    TU_CHECK(c != NULL);
    if (!c) return;
    char req[PATH_MAX + 512];
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/tiny-glm-moe"));
    cJSON_Delete(call_ok(c, req));
    qt_err err;
    /* two targets: refused at submit time */
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"plan\",\"params\":{\"data\":\"%s\","
             "\"target_bpw\":5,\"target_bytes\":1000}}", tu_path("share/data/calib.txt"));
    cJSON *q = cJSON_Parse(req);
    cJSON *r = qt_client_call(c, q, 15000, &err);
    TU_CHECKF(!r && strstr(err.msg, "at most one"), "%s", r ? "accepted" : err.msg);
    cJSON_Delete(r);
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"plan\",\"params\":{\"data\":\"%s\",\"ctx\":64,"
             "\"chunks\":1,\"candidates\":\"int4-ch-sym,int8-ch-sym,bf16\",\"target_bpw\":5,\"points\":6}}",
             tu_path("share/data/calib.txt"));
    r = call_ok(c, req);
    int id = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    cJSON *ev = cJSON_CreateArray();
    struct job_state js = {id, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js));
    r = job_get(c, id);
    const cJSON *rep = cJSON_GetObjectItem(r, "report");
    const cJSON *plan = cJSON_GetObjectItem(rep, "plan");
    TU_CHECK(num(plan, "bytes") > 0 && num(plan, "bytes") <= num(rep, "target_bytes"));
    TU_CHECK(num(plan, "bpw") > 4 && num(plan, "bpw") <= 5);
    const cJSON *curve = cJSON_GetObjectItem(rep, "curve"), *pt;
    TU_CHECK(cJSON_GetArraySize(curve) >= 2 && cJSON_GetArraySize(cJSON_GetObjectItem(rep, "uniform")) == 3);
    int with_recipe = 0;
    cJSON_ArrayForEach(pt, curve) with_recipe += strstr(str(pt, "recipe"), "quant_stage") != NULL &&
                                                 cJSON_GetArraySize(cJSON_GetObjectItem(pt, "choice")) == 19;
    TU_CHECK(with_recipe == cJSON_GetArraySize(curve));
    struct qt_recipe *rec = NULL;
    TU_CHECK(qt_recipe_load(str(plan, "recipe_path"), &rec, &err) == QT_OK);
    qt_recipe_free(rec);
    cJSON_Delete(r);
    /* over a committed ΔKL table (no measuring), the target as a scheme:
     * the plan carries its recipe; the default candidates the table has */
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"plan\",\"params\":{\"dkl\":\"%s\","
             "\"target_bytes\":\"W4A16\",\"points\":8}}", tu_path("tests/refs/plan_dkl_tiny.json"));
    r = call_ok(c, req);
    int id2 = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    struct job_state js2 = {id2, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js2));
    r = job_get(c, id2);
    rep = cJSON_GetObjectItem(r, "report");
    plan = cJSON_GetObjectItem(rep, "plan");
    TU_CHECK(!strcmp(str(rep, "target"), "W4A16 size"));
    TU_CHECK(num(plan, "bytes") <= num(rep, "target_bytes") && num(plan, "predicted_kl") > 0);
    TU_CHECK(strstr(str(plan, "recipe"), "quant_stage") != NULL);
    TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "candidates")) == 10);   /* no int8-g128: not in the table */
    /* plan_size: the size side for a target, the plan's recipe placed on
     * the job's table at the plan's own prediction; the empty recipe at 0 */
    cJSON *q2 = cJSON_CreateObject();
    cJSON_AddStringToObject(q2, "op", "plan_size");
    cJSON_AddStringToObject(q2, "target_bytes", "W4A16");
    cJSON_AddNumberToObject(q2, "job", id2);
    cJSON_AddStringToObject(q2, "text", str(plan, "recipe"));
    cJSON *z = qt_client_call(c, q2, 15000, &err);
    TU_CHECKF(z != NULL, "%s", err.msg);
    const cJSON *zr = cJSON_GetObjectItem(z, "recipe");
    TU_CHECK(num(z, "units") == 19 && num(z, "target_bytes") == num(rep, "target_bytes"));
    TU_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(z, "fits")) && cJSON_IsNull(cJSON_GetObjectItem(z, "dkl")));
    TU_CHECKF(fabs(num(zr, "predicted_kl") - num(plan, "predicted_kl")) < 1e-9 && fabs(num(zr, "bytes") - num(plan, "bytes")) < 1,
              "placed %g %g, plan %g %g", num(zr, "predicted_kl"), num(zr, "bytes"), num(plan, "predicted_kl"), num(plan, "bytes"));
    cJSON_Delete(z);
    z = call_ok(c, "{\"op\":\"plan_size\",\"target_bpw\":5,\"text\":\"\"}");
    zr = cJSON_GetObjectItem(z, "recipe");
    TU_CHECK(num(z, "target_bpw") > 4.99 && num(z, "target_bpw") < 5.01);
    TU_CHECK(num(zr, "bpw") > 15.99 && cJSON_IsNull(cJSON_GetObjectItem(zr, "predicted_kl")));   /* no job: no ΔKL */
    cJSON_Delete(z);
    q2 = cJSON_Parse("{\"op\":\"plan_size\",\"target_bytes\":\"lots\"}");
    z = qt_client_call(c, q2, 15000, &err);
    TU_CHECKF(!z && strstr(err.msg, "expected a size"), "%s", z ? "accepted" : err.msg);
    cJSON_Delete(z);
    cJSON_Delete(r);
    /* GPTQ candidates over their committed table: the points are GPTQModifier
     * recipes, and plan_size places them on that (GPTQ) table */
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"plan\",\"params\":{\"dkl\":\"%s\",\"gptq\":true,"
             "\"calib\":\"%s\",\"target_bytes\":\"W4A16\",\"points\":6}}", tu_path("tests/refs/plan_dkl_tiny_gptq.json"),
             tu_path("share/data/calib.txt"));
    r = call_ok(c, req);
    int id3 = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    struct job_state js3 = {id3, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js3));
    r = job_get(c, id3);
    plan = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "report"), "plan");
    TU_CHECKF(strstr(str(plan, "recipe"), "GPTQModifier") != NULL, "%s", str(cJSON_GetObjectItem(r, "job"), "error"));
    snprintf(req, sizeof req, "{\"op\":\"plan_size\",\"job\":%d}", id3);
    z = call_ok(c, req);
    TU_CHECK(cJSON_IsObject(cJSON_GetObjectItem(z, "recipe")));
    cJSON_Delete(z);
    cJSON_Delete(r);
    /* --format gguf over its committed table (importance from calib.txt, as
     * the table was measured): a qtune_gguf recipe within the Q4_K_M file's
     * size, the file types on the curve; plan_size answers the GGUF sizes */
    snprintf(req, sizeof req, "{\"op\":\"job_submit\",\"kind\":\"plan\",\"params\":{\"dkl\":\"%s\",\"format\":\"gguf\","
             "\"calib\":\"%s\",\"target_bytes\":\"Q4_K_M\",\"points\":4}}", tu_path("tests/refs/plan_dkl_tiny_gguf.json"),
             tu_path("share/data/calib.txt"));
    r = call_ok(c, req);
    int id4 = (int)num(cJSON_GetObjectItem(r, "job"), "id");
    cJSON_Delete(r);
    struct job_state js4 = {id4, "done"};
    TU_CHECK(wait_for(c, ev, is_job_state, &js4));
    r = job_get(c, id4);
    rep = cJSON_GetObjectItem(r, "report");
    plan = cJSON_GetObjectItem(rep, "plan");
    TU_CHECKF(plan && strstr(str(plan, "recipe"), "qtune_gguf:") != NULL, "%s", str(cJSON_GetObjectItem(r, "job"), "error"));
    TU_CHECK(num(plan, "bytes") > 0 && num(plan, "bytes") <= num(rep, "target_bytes"));
    TU_CHECK(!strcmp(str(rep, "format"), "gguf") && !strcmp(str(rep, "gguf_ftype"), "Q4_K_M"));
    TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "presets")) >= 5);
    TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "units")) == 39);
    cJSON_Delete(r);
    z = call_ok(c, "{\"op\":\"plan_size\",\"format\":\"gguf\",\"target_bytes\":\"Q4_K_M\"}");
    TU_CHECK(num(z, "units") == 39 && cJSON_IsTrue(cJSON_GetObjectItem(z, "fits")) && num(z, "target_bytes") > 1e7);
    cJSON_Delete(z);
    q2 = cJSON_Parse("{\"op\":\"plan_size\",\"target_bytes\":\"Q4_K_M\"}");
    z = qt_client_call(c, q2, 15000, &err);
    TU_CHECKF(!z && strstr(err.msg, "needs \"format\":\"gguf\""), "%s", z ? "accepted" : err.msg);
    cJSON_Delete(z);
    /* a config.json alone: the size side answers, ΔKL says it needs weights */
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", tu_path("share/models/meta/GLM-4.6.config.json"));
    cJSON_Delete(call_ok(c, req));
    z = call_ok(c, "{\"op\":\"plan_size\",\"gpus\":8,\"gpu\":\"H100-80G\"}");
    TU_CHECK(num(z, "units") == 457 && num(z, "target_bytes") > num(z, "min_bytes"));
    TU_CHECK(strstr(str(z, "dkl"), "needs the weights") != NULL);
    cJSON_Delete(z);
    cJSON_Delete(ev);
    qt_client_close(c);
}

int main(void) {
    setenv("QTUNE_TEST_JOBS", "1", 1);
    const char *bin = getenv("QTUNE_BIN");
    char abs[PATH_MAX];
    if (bin && realpath(bin, abs)) setenv("QTUNE_ENGINE_BIN", abs, 1);
    else setenv("QTUNE_ENGINE_BIN", tu_path("build/qtune"), 1);
    /* a fresh home of its own each run, so the run is repeatable */
    setenv("QTUNE_HOME", tu_tmpdir("test_engine_daemon"), 1);
    signal(SIGPIPE, SIG_IGN);
    TU_RUN(test_client_killed_mid_job);
    TU_RUN(test_two_clients);
    TU_RUN(test_daemon_killed_mid_job);
    TU_RUN(test_worker_crash_and_failure);
    TU_RUN(test_cancel_and_shutdown);
    TU_RUN(test_malformed_and_oversized);
    TU_RUN(test_pipelined_half_close);
    TU_RUN(test_engine_ops);
    TU_RUN(test_eval_job);
    TU_RUN(test_quantize_job);
    TU_RUN(test_plan_job);
    TU_RUN(test_slow_client_dropped);
    TU_RUN(test_inproc);
    cleanup();
    return TU_END();
}
