/* client.c — connect (or start) a session daemon, say hello, exchange JSON
 * lines without blocking. */
#include "daemon/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/hmap.h"
#include "daemon/daemon.h"
#include "model/model.h"
#include "daemon/proto.h"
#include "sessions/session.h"

struct qt_client {
    struct qt_conn conn;
    int trace_fd;              /* QTUNE_CLIENT_TRACE: every request sent is appended, -1 */
    int next_id;
    cJSON **q;                 /* (q_cap) ring of received, not yet handed out */
    int q_head, q_len, q_cap;
    cJSON *hello;
    int64_t last_seq;
    int gone;
    /* in-process daemon */
    struct qt_daemon *d;
    pthread_t thread;
    int has_thread;
};

static int q_push(struct qt_client *c, cJSON *m) {
    if (c->q_len == c->q_cap) {
        int nc = c->q_cap ? c->q_cap * 2 : 64;
        cJSON **p = malloc((size_t)nc * sizeof *p);
        if (!p) return QT_ERR;
        for (int i = 0; i < c->q_len; i++) p[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = p;
        c->q_cap = nc;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_len) % c->q_cap] = m;
    c->q_len++;
    return QT_OK;
}

static cJSON *q_pop_at(struct qt_client *c, int k) {
    /* removes the k-th queued message, keeping the order of the rest */
    cJSON *m = c->q[(c->q_head + k) % c->q_cap];
    for (int i = k; i > 0; i--) c->q[(c->q_head + i) % c->q_cap] = c->q[(c->q_head + i - 1) % c->q_cap];
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_len--;
    return m;
}

/* Moves complete lines from the connection into the queue. */
static void parse_lines(struct qt_client *c) {
    char *line;
    size_t len;
    int r;
    while ((r = qt_conn_line(&c->conn, &line, &len)) != 0) {
        if (r == 2) continue;
        cJSON *m = cJSON_ParseWithLength(line, len);
        if (!cJSON_IsObject(m)) {
            cJSON_Delete(m);
            m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "raw", line);
        }
        if (q_push(c, m)) cJSON_Delete(m);
    }
}

int qt_client_pump(struct qt_client *c, qt_err *err) {
    if (c->gone) return qt_err_set(err, "engine: connection closed");
    if (qt_conn_flush(&c->conn, err) || qt_conn_fill(&c->conn, err)) {
        c->gone = 1;
        parse_lines(c);
        return qt_err_prefix(err, "engine");
    }
    parse_lines(c);
    if (c->conn.eof) { c->gone = 1; return qt_err_set(err, "engine: connection closed"); }
    return QT_OK;
}

cJSON *qt_client_next(struct qt_client *c) {
    if (!c->q_len) return NULL;
    cJSON *m = q_pop_at(c, 0);
    const cJSON *s = cJSON_GetObjectItem(m, "seq");
    int64_t sv = qt_json_i64(s, 0, INT64_MAX / 2, -1);
    if (cJSON_GetObjectItem(m, "event") && sv > c->last_seq) c->last_seq = sv;
    return m;
}

int64_t qt_client_last_seq(const struct qt_client *c) { return c->last_seq; }
int qt_client_fd(const struct qt_client *c) { return c->conn.fd; }
const cJSON *qt_client_hello(const struct qt_client *c) { return c->hello; }

short qt_client_poll_events(const struct qt_client *c) {
    return (short)(POLLIN | (qt_conn_pending(&c->conn) ? POLLOUT : 0));
}

/* Appends req's line to the trace (one write: lines of several writers
 * on O_APPEND stay whole). */
static void qt_client_trace(struct qt_client *c, const cJSON *req) {
    char *line = cJSON_PrintUnformatted(req);
    if (!line) return;
    size_t n = strlen(line);
    char *b = realloc(line, n + 2);
    if (b) {
        b[n] = '\n';
        ssize_t w = write(c->trace_fd, b, n + 1);
        (void)w;   /* a diagnostic: a short write loses a trace line only */
        line = b;
    }
    free(line);
}

int qt_client_send(struct qt_client *c, cJSON *req, qt_err *err) {
    if (!cJSON_IsObject(req)) { cJSON_Delete(req); qt_err_set(err, "request: not an object"); return -1; }
    int id;
    const cJSON *v = cJSON_GetObjectItem(req, "id");
    if (cJSON_IsNumber(v)) id = v->valueint;
    else { id = ++c->next_id; cJSON_AddNumberToObject(req, "id", id); }
    if (c->trace_fd >= 0) qt_client_trace(c, req);
    int rc = qt_conn_send(&c->conn, req);
    cJSON_Delete(req);
    if (rc) { qt_err_set(err, "engine: out of memory"); return -1; }
    if (qt_conn_flush(&c->conn, err)) { c->gone = 1; qt_err_prefix(err, "engine"); return -1; }
    return id;
}

int qt_client_send_raw(struct qt_client *c, const char *data, size_t len, qt_err *err) {
    if (qt_conn_queue(&c->conn, data, len)) return qt_err_set(err, "engine: out of memory");
    if (qt_conn_flush(&c->conn, err)) { c->gone = 1; return qt_err_prefix(err, "engine"); }
    return QT_OK;
}

/* Waits up to timeout_ms for the reply to request id (messages meanwhile
 * stay queued); its result (caller frees) or NULL with err. */
static cJSON *wait_reply(struct qt_client *c, int id, int timeout_ms, qt_err *err) {
    double deadline = qt_now() + timeout_ms / 1000.0;
    for (;;) {
        for (int k = 0; k < c->q_len; k++) {
            cJSON *m = c->q[(c->q_head + k) % c->q_cap];
            const cJSON *mid = cJSON_GetObjectItem(m, "id");
            if (!cJSON_IsNumber(mid) || mid->valueint != id || cJSON_GetObjectItem(m, "event")) continue;
            m = q_pop_at(c, k);
            cJSON *res = NULL;
            if (cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"))) {
                res = cJSON_DetachItemFromObject(m, "result");
                if (!res) res = cJSON_CreateObject();
            } else {
                const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(m, "error"));
                qt_err_set(err, "%s", e ? e : "engine: request failed");
            }
            cJSON_Delete(m);
            return res;
        }
        if (c->gone) { qt_err_set(err, "engine: connection closed"); return NULL; }
        double left = deadline - qt_now();
        if (left <= 0) { qt_err_set(err, "engine: no reply in %d ms", timeout_ms); return NULL; }
        struct pollfd p = {.fd = c->conn.fd, .events = qt_client_poll_events(c)};
        int ms = (int)(left * 1000) + 1;
        if (poll(&p, 1, ms > 100 ? 100 : ms) < 0 && errno != EINTR) {
            qt_err_set(err, "engine: poll: %s", strerror(errno));
            return NULL;
        }
        qt_err e2;
        if (qt_client_pump(c, &e2)) { /* keep what arrived; report next turn */ }
    }
}

cJSON *qt_client_call(struct qt_client *c, cJSON *req, int timeout_ms, qt_err *err) {
    int id = qt_client_send(c, req, err);
    return id < 0 ? NULL : wait_reply(c, id, timeout_ms, err);
}

static int say_hello(struct qt_client *c, const char *session, int64_t since, qt_err *err) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "hello");
    cJSON_AddNumberToObject(req, "version", QT_PROTO_VERSION);
    if (since >= 0) cJSON_AddNumberToObject(req, "since", (double)since);
    qt_err e2 = {{0}};
    c->hello = qt_client_call(c, req, 10000, &e2);
    /* a peer that is not a qtune daemon (another program on the socket)
     * answers garbage, echoes, closes or says nothing: say so, not "failed" */
    const cJSON *ver = cJSON_GetObjectItem(c->hello, "version");
    const char *who = cJSON_GetStringValue(cJSON_GetObjectItem(c->hello, "session"));
    if (!c->hello && strncmp(e2.msg, "hello:", 6)) {
        return qt_err_set(err, "session %s: what serves the socket is not a qtune engine daemon (%s)", session,
                          e2.msg);
    }
    if (!c->hello) return qt_err_set(err, "%s", e2.msg);
    if (!cJSON_IsNumber(ver) || !who || strcmp(who, session)) {
        return qt_err_set(err, "session %s: what serves the socket is not a qtune engine daemon (its hello reply "
                          "lacks the protocol version and session)", session);
    }
    const cJSON *s = cJSON_GetObjectItem(c->hello, "seq");
    c->last_seq = since >= 0 ? since : qt_json_i64(s, 0, INT64_MAX / 2, 0);
    return QT_OK;
}

static int try_connect(const char *sock, int *fd, qt_err *err) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) return qt_err_set(err, "socket: %s", strerror(errno));
    if (connect(*fd, (struct sockaddr *)&a, sizeof a) == 0) return QT_OK;
    int e = errno;
    close(*fd);
    *fd = -1;
    errno = e;
    return qt_err_set(err, "%s: %s", sock, strerror(e));
}

int qt_client_probe(const char *session, char *sock, size_t n, qt_err *err) {
    if (qt_session_socket_path(session, 1, sock, n, err)) return QT_ERR;
    int fd;
    if (try_connect(sock, &fd, err)) return 0;
    close(fd);
    return 1;
}

/* Runs `qtune engine --session NAME`, which returns once the daemon listens;
 * its stderr becomes the error message when it fails. */
static int start_daemon(const char *session, qt_err *err) {
    const char *exe = getenv("QTUNE_ENGINE_BIN");
    char self[PATH_MAX];
    if (!exe || !*exe) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return qt_err_set(err, "engine: cannot find the qtune binary (set QTUNE_ENGINE_BIN)");
        self[n] = 0;
        exe = self;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return qt_err_set(err, "engine: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(p[0]); close(p[1]); return qt_err_set(err, "engine: fork: %s", strerror(errno)); }
    if (pid == 0) {
        dup2(p[1], 2);
        int nfd = open("/dev/null", O_RDWR);
        if (nfd >= 0) { dup2(nfd, 0); dup2(nfd, 1); }
        execl(exe, "qtune", "engine", "--session", session, (char *)NULL);
        dprintf(2, "qtune: %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    char msg[900];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(p[0], msg + got, sizeof msg - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof msg - 1) break;
    }
    msg[got] = 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return QT_OK;
    msg[strcspn(msg, "\n")] = 0;
    const char *m = strncmp(msg, "qtune: ", 7) == 0 ? msg + 7 : msg;
    return qt_err_set(err, "%s", *m ? m : "engine: the daemon did not start");
}

static void *inproc_main(void *arg) {
    struct qt_client *c = arg;
    qt_err err;
    qt_daemon_run(c->d, 0, &err);
    return NULL;
}

int qt_client_connect(const char *session, int flags, int64_t since,
                      struct qt_client **out, qt_err *err) {
    *out = NULL;
    struct qt_client *c = calloc(1, sizeof *c);
    if (!c) return qt_err_set(err, "engine: out of memory");
    c->conn.fd = -1;
    c->trace_fd = -1;
    int fd = -1;
    if (flags & QT_CLIENT_INPROC) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            free(c);
            return qt_err_set(err, "socketpair: %s", strerror(errno));
        }
        if (qt_daemon_new(session, 0, &c->d, err)) { close(sv[0]); close(sv[1]); free(c); return QT_ERR; }
        if (qt_daemon_add_client(c->d, sv[1], err)) { close(sv[0]); qt_daemon_free(c->d); free(c); return QT_ERR; }
        if (pthread_create(&c->thread, NULL, inproc_main, c) != 0) {
            close(sv[0]);
            qt_daemon_free(c->d);
            free(c);
            return qt_err_set(err, "engine: cannot start a thread");
        }
        c->has_thread = 1;
        fd = sv[0];
    } else {
        char sock[PATH_MAX];
        if (qt_session_socket_path(session, 1, sock, sizeof sock, err)) { free(c); return QT_ERR; }
        if (try_connect(sock, &fd, err)) {
            int e = errno;
            if (!(flags & QT_CLIENT_START) || (e != ECONNREFUSED && e != ENOENT)) {
                free(c);
                if (e == ECONNREFUSED || e == ENOENT)
                    return qt_err_set(err, "session %s: no engine daemon runs", session);
                return QT_ERR;
            }
            qt_err serr;
            if (start_daemon(session, &serr)) {
                /* another client may have started it just now */
                if (try_connect(sock, &fd, err)) { *err = serr; free(c); return QT_ERR; }
            } else if (try_connect(sock, &fd, err)) {
                free(c);
                return QT_ERR;
            }
        }
    }
    qt_conn_init(&c->conn, fd);
    const char *tr = getenv("QTUNE_CLIENT_TRACE");
    if (tr && *tr) c->trace_fd = open(tr, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (!(flags & QT_CLIENT_RAW) && say_hello(c, session, since, err)) { qt_client_close(c); return QT_ERR; }
    *out = c;
    return QT_OK;
}

void qt_client_close(struct qt_client *c) {
    if (!c) return;
    if (c->conn.fd >= 0) {
        qt_err e;
        qt_conn_flush_wait(&c->conn, 200, &e);
    }
    qt_conn_close(&c->conn);
    if (c->trace_fd >= 0) close(c->trace_fd);
    if (c->has_thread) {
        pthread_join(c->thread, NULL);
        qt_daemon_free(c->d);
    }
    while (c->q_len) cJSON_Delete(q_pop_at(c, 0));
    free(c->q);
    cJSON_Delete(c->hello);
    free(c);
}

/* ---- the model as the daemon describes it */

/* Index of a page's name in table (n entries), -1 when none. */
static int enum_of(const char *name, const char *(*fn)(int), int n) {
    for (int e = 0; name && e < n; e++)
        if (!strcmp(fn(e), name)) return e;
    return -1;
}
static const char *role_at(int e) { return qt_role_name((enum qt_role)e); }
static const char *dtype_at(int e) { return qt_dtype_name((enum qt_dtype)e); }

/* One compact `tensors` page into m->tensors from offset; group names into
 * gnames (the model's groups, by name). */
static int take_page(struct qt_model *m, const cJSON *res, struct qt_hmap *gidx, char ***gnames, int *n_groups,
                     int *cap_groups, qt_err *err) {
    const cJSON *names = cJSON_GetObjectItem(res, "names"), *v;
    const cJSON *ndim = cJSON_GetObjectItem(res, "ndim"), *dims = cJSON_GetObjectItem(res, "dims");
    const cJSON *dtypes = cJSON_GetObjectItem(res, "dtypes");
    const cJSON *roles = cJSON_GetObjectItem(res, "roles"), *groups = cJSON_GetObjectItem(res, "groups");
    const cJSON *ld = cJSON_GetObjectItem(res, "dtype"), *lr = cJSON_GetObjectItem(res, "role");
    const cJSON *ll = cJSON_GetObjectItem(res, "layer"), *le = cJSON_GetObjectItem(res, "expert");
    const cJSON *lm = cJSON_GetObjectItem(res, "mtp"), *lg = cJSON_GetObjectItem(res, "group");
    int off = cJSON_IsNumber(cJSON_GetObjectItem(res, "offset")) ? cJSON_GetObjectItem(res, "offset")->valueint : -1;
    int n = cJSON_GetArraySize(names);
    if (off < 0 || off + n > m->n_tensors) return qt_err_set(err, "engine: model description: a page out of range");
    /* the page's name lists as the engine's enums and the model's groups */
    int nd = cJSON_GetArraySize(dtypes), nr = cJSON_GetArraySize(roles), ng = cJSON_GetArraySize(groups);
    int *dmap = calloc((size_t)nd + 1, sizeof *dmap), *rmap = calloc((size_t)nr + 1, sizeof *rmap);   /* (nd), (nr) */
    int *gmap = calloc((size_t)ng + 1, sizeof *gmap);                                                 /* (ng) */
    int rc = QT_OK;
    if (!dmap || !rmap || !gmap) { rc = qt_err_set(err, "engine: out of memory"); goto out; }
    for (int k = 0; k < nd; k++)
        if ((dmap[k] = enum_of(cJSON_GetStringValue(cJSON_GetArrayItem(dtypes, k)), dtype_at, QT_DT_COUNT)) < 0)
            dmap[k] = QT_DT_BF16;
    for (int k = 0; k < nr; k++)
        if ((rmap[k] = enum_of(cJSON_GetStringValue(cJSON_GetArrayItem(roles, k)), role_at, QT_ROLE_COUNT)) < 0)
            rmap[k] = QT_ROLE_OTHER;
    for (int k = 0; k < ng; k++) {
        const char *gn = cJSON_GetStringValue(cJSON_GetArrayItem(groups, k));
        if (!gn) { gmap[k] = -1; continue; }
        int g = qt_hmap_get(gidx, gn);
        if (g < 0) {
            if (*n_groups == *cap_groups) {
                int cap = *cap_groups ? *cap_groups * 2 : 256;
                char **ng2 = realloc(*gnames, sizeof *ng2 * (size_t)cap);
                if (!ng2) { rc = qt_err_set(err, "engine: out of memory"); goto out; }
                *gnames = ng2;
                *cap_groups = cap;
            }
            g = *n_groups;
            if (!((*gnames)[g] = qt_strdup(gn)) || qt_hmap_put(gidx, (*gnames)[g], g) != QT_OK) {
                free((*gnames)[g]);
                rc = qt_err_set(err, "engine: out of memory");
                goto out;
            }
            (*n_groups)++;
        }
        gmap[k] = g;
    }
    /* the lists walked side by side (cJSON arrays are linked lists) */
    const cJSON *sh = ndim ? ndim->child : NULL, *xs = dims ? dims->child : NULL;
    const cJSON *xd = ld ? ld->child : NULL, *xr = lr ? lr->child : NULL;
    const cJSON *xl = ll ? ll->child : NULL, *xe = le ? le->child : NULL, *xm = lm ? lm->child : NULL;
    const cJSON *xg = lg ? lg->child : NULL;
    int k = 0;
    cJSON_ArrayForEach(v, names) {
        struct qt_tensor *t = &m->tensors[off + k];
        if (!sh || !xd || !xr || !xl || !xe || !xm || !xg) { rc = qt_err_set(err, "engine: model description: lists of different lengths"); goto out; }
        if (!cJSON_IsString(v) || !(t->name = qt_strdup(v->valuestring))) { rc = qt_err_set(err, "engine: model description: a tensor without a name"); goto out; }
        int nd_t = (int)sh->valuedouble;
        if (nd_t < 0 || nd_t > 4) { rc = qt_err_set(err, "engine: model description: %d dimensions", nd_t); goto out; }
        for (t->ndim = 0; t->ndim < nd_t; t->ndim++, xs = xs->next) {
            if (!xs) { rc = qt_err_set(err, "engine: model description: shapes cut short"); goto out; }
            t->shape[t->ndim] = (int64_t)xs->valuedouble;
        }
        int di = (int)xd->valuedouble, ri = (int)xr->valuedouble, gi = (int)xg->valuedouble;
        t->dtype = di >= 0 && di < nd ? (enum qt_dtype)dmap[di] : QT_DT_BF16;
        t->role = ri >= 0 && ri < nr ? (enum qt_role)rmap[ri] : QT_ROLE_OTHER;
        t->layer = (int)xl->valuedouble;
        t->expert = (int)xe->valuedouble;
        t->mtp = xm->valuedouble > 0;
        t->group = gi >= 0 && gi < ng ? gmap[gi] : -1;
        t->nbytes = (uint64_t)qt_tensor_numel(t) * qt_dtype_size(t->dtype);   /* as the engine counts it */
        t->file = t->scale = -1;
        sh = sh->next, xd = xd->next, xr = xr->next, xl = xl->next, xe = xe->next, xm = xm->next, xg = xg->next;
        k++;
    }
out:
    free(dmap);
    free(rmap);
    free(gmap);
    return rc;
}

int qt_client_model(struct qt_client *c, struct qt_model **out, qt_err *err) {
    *out = NULL;
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "model");
    cJSON *sum = qt_client_call(c, q, 60000, err);
    if (!sum) return QT_ERR;
    struct qt_model *m = calloc(1, sizeof *m);
    struct qt_hmap gidx = {0};
    char **gnames = NULL;
    int n_groups = 0, cap_groups = 0, rc = QT_OK;
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "tensors"));
    if (!m || n < 0 || qt_hmap_init(&gidx, 1024) != QT_OK || !(m->tensors = calloc((size_t)n + 1, sizeof *m->tensors))) {
        rc = qt_err_set(err, "engine: out of memory");
        goto out;
    }
    m->n_tensors = n;
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(sum, "model"));
    const char *arch = cJSON_GetStringValue(cJSON_GetObjectItem(sum, "arch"));
    m->path = qt_strdup(path ? path : "");
    snprintf(m->cfg.model_type, sizeof m->cfg.model_type, "%s", arch ? arch : "");
    m->cfg.n_layers = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "layers"));
    m->cfg.n_mtp = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "mtp_layers"));
    m->cfg.n_experts = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "experts"));
    m->metadata_only = cJSON_IsTrue(cJSON_GetObjectItem(sum, "metadata_only"));
    m->known_arch = 1;
    /* pages of 8192 (a reply line stays under 1 MiB), four asked ahead so
     * that the daemon builds one while this side reads another */
    const int page = 8192;
    int next = 0, got = 0, inflight = 0, ids[64], offs[64];
    while (rc == QT_OK && got < n) {
        while (inflight < 4 && next < n) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "op", "tensors");
            cJSON_AddNumberToObject(r, "offset", next);
            cJSON_AddNumberToObject(r, "limit", page);
            cJSON_AddTrueToObject(r, "compact");
            int id = qt_client_send(c, r, err);
            if (id < 0) { rc = QT_ERR; break; }
            ids[inflight] = id;
            offs[inflight++] = next;
            next += page;
        }
        if (rc != QT_OK || !inflight) break;
        /* the oldest page's reply (replies come in request order) */
        cJSON *res = wait_reply(c, ids[0], 60000, err);
        if (!res) { rc = QT_ERR; break; }
        rc = take_page(m, res, &gidx, &gnames, &n_groups, &cap_groups, err);
        got += cJSON_GetArraySize(cJSON_GetObjectItem(res, "names"));
        cJSON_Delete(res);
        if (got <= offs[0]) { rc = qt_err_set(err, "engine: model description: an empty page"); break; }
        memmove(ids, ids + 1, sizeof ids[0] * (size_t)(inflight - 1));
        memmove(offs, offs + 1, sizeof offs[0] * (size_t)(inflight - 1));
        inflight--;
    }
    for (int i = 0; rc == QT_OK && i < n; i++)
        if (!m->tensors[i].name) rc = qt_err_set(err, "engine: model description: tensor %d missing", i);
    if (rc == QT_OK && n_groups) {   /* the fused groups, members from the tensors' indices */
        if (!(m->groups = calloc((size_t)n_groups, sizeof *m->groups))) rc = qt_err_set(err, "engine: out of memory");
        for (int g = 0; rc == QT_OK && g < n_groups; g++) {
            m->groups[g].name = gnames[g];
            gnames[g] = NULL;
            m->groups[g].layer = -1;
            m->n_groups++;
        }
        for (int i = 0; rc == QT_OK && i < n; i++)
            if (m->tensors[i].group >= 0) m->groups[m->tensors[i].group].n_members++;
        for (int g = 0; rc == QT_OK && g < n_groups; g++) {
            m->groups[g].members = calloc((size_t)m->groups[g].n_members + 1, sizeof(int));
            if (!m->groups[g].members) rc = qt_err_set(err, "engine: out of memory");
            m->groups[g].n_members = 0;
        }
        for (int i = 0; rc == QT_OK && i < n; i++) {
            struct qt_group *G = m->tensors[i].group >= 0 ? &m->groups[m->tensors[i].group] : NULL;
            if (G) {
                G->members[G->n_members++] = i;
                if (G->layer < 0) G->layer = m->tensors[i].layer;
            }
        }
    }
    if (rc == QT_OK) rc = qt_model_index(m, err);
out:
    for (int g = 0; g < n_groups; g++) free(gnames ? gnames[g] : NULL);
    free(gnames);
    qt_hmap_free(&gidx);
    cJSON_Delete(sum);
    if (rc != QT_OK) {
        qt_model_free(m);
        return QT_ERR;
    }
    *out = m;
    return QT_OK;
}
