/* session.c — the session directory: layout, session.json, recipe history
 * with undo/redo, variants, job directories, socket paths. */
#include "sessions/session.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

int qt_session_home(char *buf, size_t n, qt_err *err) {
    const char *h = getenv("QTUNE_HOME");
    int w;
    if (h && *h) w = snprintf(buf, n, "%s", h);
    else if ((h = getenv("XDG_STATE_HOME")) && *h) w = snprintf(buf, n, "%s/qtune", h);
    else if ((h = getenv("HOME")) && *h) w = snprintf(buf, n, "%s/.local/state/qtune", h);
    else return qt_err_set(err, "session: neither QTUNE_HOME, XDG_STATE_HOME nor HOME is set");
    if (w < 0 || (size_t)w >= n) return qt_err_set(err, "session: state path too long");
    return QT_OK;
}

int qt_session_name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > QT_SESSION_NAME_MAX || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

char *qt_session_path(const struct qt_session *s, const char *rel, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", s->dir, rel);
    return buf;
}

static void hist_path(const struct qt_session *s, int k, char *buf, size_t n) {
    snprintf(buf, n, "%s/history/%06d.yaml", s->dir, k);
}

static double unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int qt_session_check_dir(const char *dir, const char *what, int follow, qt_err *err) {
    struct stat st;
    if ((follow ? stat(dir, &st) : lstat(dir, &st)) != 0) return qt_err_set(err, "%s: %s", dir, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return qt_err_set(err, "%s: %s is a symbolic link; refusing (replace it with a directory)", dir, what);
    if (!S_ISDIR(st.st_mode)) return qt_err_set(err, "%s: %s is not a directory; refusing", dir, what);
    if (st.st_uid != geteuid())
        return qt_err_set(err, "%s: %s is owned by uid %u, not you (uid %u); refusing", dir, what,
                          (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 022)
        return qt_err_set(err, "%s: %s is writable by group or others (mode %04o; chmod go-w %s); refusing", dir,
                          what, (unsigned)(st.st_mode & 07777), dir);
    return QT_OK;
}

/* Reads a file of the session: never through a link, only a regular file
 * owned by the user, at most QT_SESSION_FILE_MAX bytes.  NULL with err (may be
 * NULL) filled, errno kept for a missing file. */
static char *sess_read(const char *path, size_t *len, qt_err *err) {
    struct stat st;
    int fd = qt_open_regular(path, O_NOFOLLOW, &st, err);
    if (fd < 0) return NULL;
    if (st.st_uid != geteuid()) {
        close(fd);
        qt_err_set(err, "%s: owned by uid %u, not you; refusing", path, (unsigned)st.st_uid);
        errno = EPERM;
        return NULL;
    }
    close(fd);
    return qt_read_file_ex(path, len, QT_SESSION_FILE_MAX, O_NOFOLLOW, err);
}

char *qt_session_read(const struct qt_session *s, const char *rel, size_t *len, qt_err *err) {
    char path[PATH_MAX];
    return sess_read(qt_session_path(s, rel, path, sizeof path), len, err);
}

/* Exclusive lock on the session directory for one change; -1 on failure.
 * Every writer holds it while it writes and re-reads session.json under it,
 * so two writers never interleave and a reader never writes at all. */
static int lock_dir(const struct qt_session *s, qt_err *err) {
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) { qt_err_set(err, "%s: %s", s->dir, strerror(errno)); return -1; }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        qt_err_set(err, "%s: lock: %s", s->dir, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void unlock_dir(int fd) {
    if (fd >= 0) close(fd);   /* closing the only descriptor releases the flock */
}

static int need_write(const struct qt_session *s, qt_err *err) {
    if (!s->writable) return qt_err_set(err, "session %s: opened read-only", s->name);
    return QT_OK;
}

static int save_meta(const struct qt_session *s, qt_err *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s->name);
    if (s->model) cJSON_AddStringToObject(o, "model", s->model);
    else cJSON_AddNullToObject(o, "model");
    cJSON_AddNumberToObject(o, "created", s->created);
    cJSON_AddNumberToObject(o, "updated", unix_now());
    cJSON *h = cJSON_AddObjectToObject(o, "history");
    cJSON_AddNumberToObject(h, "cur", s->hist_cur);
    cJSON_AddNumberToObject(h, "max", s->hist_max);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt) return qt_err_set(err, "%s: out of memory", s->dir);
    char path[PATH_MAX];
    int rc = qt_write_file_atomic(qt_session_path(s, "session.json", path, sizeof path),
                                  txt, strlen(txt), err);
    free(txt);
    return rc;
}

static int hist_exists(const struct qt_session *s, int k) {
    if (k == 0) return 1;
    char path[PATH_MAX];
    struct stat st;
    hist_path(s, k, path, sizeof path);
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A cursor value from session.json: an integer in [0, 10^8]. */
static int json_cursor(const cJSON *v, int *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 1e8) || d != (double)(int)d) return 0;
    *out = (int)d;
    return 1;
}

/* Reads session.json into s.  QT_OK; 1 when it is missing or malformed (why
 * says how; the caller recovers); QT_ERR when it cannot be read safely (a
 * link, another owner). */
static int load_meta(struct qt_session *s, char *why, size_t nwhy, qt_err *err) {
    char path[PATH_MAX];
    qt_session_path(s, "session.json", path, sizeof path);
    qt_err e2;
    char *txt = sess_read(path, NULL, &e2);
    if (!txt) {
        if (errno == ENOENT) { snprintf(why, nwhy, "session.json is missing"); return 1; }
        return qt_err_set(err, "%s", e2.msg);
    }
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        snprintf(why, nwhy, "session.json is not a JSON object");
        return 1;
    }
    cJSON *m = cJSON_GetObjectItem(o, "model");
    free(s->model);
    s->model = cJSON_IsString(m) ? qt_strdup(m->valuestring) : NULL;
    cJSON *c = cJSON_GetObjectItem(o, "created");
    if (cJSON_IsNumber(c)) s->created = c->valuedouble;
    cJSON *h = cJSON_GetObjectItem(o, "history");
    int cur = 0, max = 0, rc = QT_OK;
    if (!h) { snprintf(why, nwhy, "session.json has no \"history\""); rc = 1; }
    else if (!cJSON_IsObject(h)) { snprintf(why, nwhy, "session.json: \"history\" is not an object"); rc = 1; }
    else if (!json_cursor(cJSON_GetObjectItem(h, "cur"), &cur) || !json_cursor(cJSON_GetObjectItem(h, "max"), &max)) {
        snprintf(why, nwhy, "session.json: \"history\" lacks integer \"cur\" and \"max\""); rc = 1;
    } else if (max < cur) {
        snprintf(why, nwhy, "session.json: history cursor %d past its newest entry %d", cur, max); rc = 1;
    }
    cJSON_Delete(o);
    if (rc != QT_OK) return rc;
    if (!hist_exists(s, cur) || !hist_exists(s, max)) {
        snprintf(why, nwhy, "session.json names history entries %d/%d that history/ lacks", cur, max);
        return 1;
    }
    s->hist_cur = cur;
    s->hist_max = max;
    return QT_OK;
}

static char *hist_text(const struct qt_session *s, int k, qt_err *err) {
    if (k == 0) return qt_strdup("");
    char path[PATH_MAX];
    hist_path(s, k, path, sizeof path);
    return sess_read(path, NULL, err);
}

/* Rebuilds the cursor from the files when session.json cannot be trusted:
 * max is the newest entry of the unbroken run 1..N in history/, cur the
 * newest entry equal to recipe.yaml (else max).  Deletes nothing. */
static void recover_cursor(struct qt_session *s, const char *why) {
    int n = 0;
    while (n < 100000000 && hist_exists(s, n + 1)) n++;
    char path[PATH_MAX];
    char *have = sess_read(qt_session_path(s, "recipe.yaml", path, sizeof path), NULL, NULL);
    int cur = n;
    if (have) {
        for (int k = n; k >= 0; k--) {
            char *t = hist_text(s, k, NULL);
            int same = t && !strcmp(t, have);
            free(t);
            if (same) { cur = k; break; }
        }
    }
    free(have);
    s->hist_cur = cur;
    s->hist_max = n;
    snprintf(s->note, sizeof s->note, "%s: %s; recovered the history from history/ (%d entries, current %d)",
             s->dir, why, n, cur);
}

/* Makes recipe.yaml equal to history[cur]. */
static int sync_recipe(const struct qt_session *s, qt_err *err) {
    char *want = hist_text(s, s->hist_cur, err);
    if (!want) return QT_ERR;
    char path[PATH_MAX];
    qt_session_path(s, "recipe.yaml", path, sizeof path);
    char *have = sess_read(path, NULL, NULL);
    int rc = QT_OK;
    if (!have || strcmp(have, want) != 0) rc = qt_write_file_atomic(path, want, strlen(want), err);
    free(have);
    free(want);
    return rc;
}

/* Removes history entries after max (a redo tail left by a crash or dropped
 * by a new edit).  Only under the lock, with max read under it. */
static void drop_tail(const struct qt_session *s) {
    char path[PATH_MAX];
    for (int k = s->hist_max + 1; ; k++) {
        hist_path(s, k, path, sizeof path);
        if (unlink(path) != 0) break;
    }
}

/* Under the lock: the on-disk state, recovered when session.json is bad. */
static int refresh(struct qt_session *s, int *recovered, qt_err *err) {
    char why[256];
    int r = load_meta(s, why, sizeof why, err);
    if (r == QT_ERR) return QT_ERR;
    *recovered = r == 1;
    if (r == 1) recover_cursor(s, why);
    return QT_OK;
}

int qt_session_open(const char *name, int flags, struct qt_session **out, qt_err *err) {
    *out = NULL;
    if (!qt_session_name_ok(name))
        return qt_err_set(err, "%s: bad session name (use letters, digits, '.', '_', '-')", name ? name : "");
    int create = flags & QT_SESSION_CREATE, write = create || (flags & QT_SESSION_WRITE);
    char home[PATH_MAX - 200], sessions[PATH_MAX - 100], dir[PATH_MAX];
    if (qt_session_home(home, sizeof home, err)) return QT_ERR;
    snprintf(sessions, sizeof sessions, "%s/sessions", home);
    snprintf(dir, sizeof dir, "%s/%s", sessions, name);
    /* the home may be a link (a state dir moved elsewhere); what it leads to,
     * sessions/ and the session tree must be the user's alone, checked before
     * anything is created in them */
    struct stat st;
    if (stat(home, &st) == 0 && qt_session_check_dir(home, "state directory", 1, err)) return QT_ERR;
    if (create && qt_mkdirs(sessions, 0700, err)) return QT_ERR;
    if (lstat(sessions, &st) == 0 && qt_session_check_dir(sessions, "sessions directory", 0, err)) return QT_ERR;
    int exists = lstat(dir, &st) == 0;
    if (!exists && !create) return qt_err_set(err, "%s: no such session", name);
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) return qt_err_set(err, "%s: %s", dir, strerror(errno));
    if (qt_session_check_dir(dir, "session directory", 0, err)) return QT_ERR;
    struct qt_session *s = calloc(1, sizeof *s);
    if (!s) return qt_err_set(err, "session: out of memory");
    s->name = qt_strdup(name);
    s->dir = qt_strdup(dir);
    s->writable = write;
    int lk = -1;
    char sub[PATH_MAX];
    static const char *subs[] = {"history", "variants", "cache", "jobs"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        qt_session_path(s, subs[i], sub, sizeof sub);
        if (write && mkdir(sub, 0700) != 0 && errno != EEXIST) { qt_err_set(err, "%s: %s", sub, strerror(errno)); goto fail; }
        if (lstat(sub, &st) == 0 && qt_session_check_dir(sub, "session directory", 0, err)) goto fail;
    }
    if (write && (lk = lock_dir(s, err)) < 0) goto fail;
    char why[256];
    int r = load_meta(s, why, sizeof why, err);
    if (r == QT_ERR) goto fail;
    if (r == 1) {
        qt_session_path(s, "session.json", sub, sizeof sub);
        int fresh = lstat(sub, &st) != 0 && !hist_exists(s, 1);
        if (fresh) {
            s->created = unix_now();
            if (write && save_meta(s, err)) goto fail;
        } else {
            recover_cursor(s, why);
            if (write) {
                char bad[PATH_MAX + 8];
                snprintf(bad, sizeof bad, "%s.bad", sub);
                rename(sub, bad);   /* kept for a look; a missing one is fine */
                if (!s->created) s->created = unix_now();
                if (save_meta(s, err)) goto fail;
            }
        }
    }
    if (write) {
        drop_tail(s);
        if (sync_recipe(s, err)) goto fail;
        unlock_dir(lk);
        lk = -1;
    }
    *out = s;
    return QT_OK;
fail:
    unlock_dir(lk);
    qt_session_free(s);
    return QT_ERR;
}

void qt_session_free(struct qt_session *s) {
    if (!s) return;
    free(s->name);
    free(s->dir);
    free(s->model);
    free(s);
}

int qt_session_set_model(struct qt_session *s, const char *model, qt_err *err) {
    if (need_write(s, err)) return QT_ERR;
    char abs[PATH_MAX];
    if (!realpath(model, abs)) return qt_err_set(err, "%s: %s", model, strerror(errno));
    int lk = lock_dir(s, err), rec;
    if (lk < 0) return QT_ERR;
    if (refresh(s, &rec, err)) { unlock_dir(lk); return QT_ERR; }
    char *old = s->model;
    s->model = qt_strdup(abs);
    int rc = save_meta(s, err);
    if (rc) { free(s->model); s->model = old; }
    else free(old);
    unlock_dir(lk);
    return rc;
}

char *qt_session_recipe(const struct qt_session *s, qt_err *err) {
    return hist_text(s, s->hist_cur, err);
}

int qt_session_recipe_set(struct qt_session *s, const char *text, qt_err *err) {
    if (need_write(s, err)) return QT_ERR;
    int lk = lock_dir(s, err), rec;
    if (lk < 0) return QT_ERR;
    int rc = QT_ERR;
    char path[PATH_MAX];
    if (refresh(s, &rec, err)) goto out;
    int k = s->hist_cur + 1;
    hist_path(s, k, path, sizeof path);
    if (qt_write_file_atomic(path, text, strlen(text), err)) goto out;
    int oc = s->hist_cur, om = s->hist_max;
    s->hist_cur = s->hist_max = k;
    if (save_meta(s, err)) { s->hist_cur = oc; s->hist_max = om; goto out; }
    drop_tail(s);
    qt_session_path(s, "recipe.yaml", path, sizeof path);
    rc = qt_write_file_atomic(path, text, strlen(text), err);
out:
    unlock_dir(lk);
    return rc;
}

/* Moves the cursor by delta (±1) under the lock. */
static int move_cursor(struct qt_session *s, int delta, qt_err *err) {
    if (need_write(s, err)) return QT_ERR;
    int lk = lock_dir(s, err), rec;
    if (lk < 0) return QT_ERR;
    int rc = QT_ERR;
    if (refresh(s, &rec, err)) goto out;
    if (delta < 0 && !qt_session_can_undo(s)) { qt_err_set(err, "undo: nothing to undo"); goto out; }
    if (delta > 0 && !qt_session_can_redo(s)) { qt_err_set(err, "redo: nothing to redo"); goto out; }
    int old = s->hist_cur;
    s->hist_cur += delta;
    if (save_meta(s, err)) { s->hist_cur = old; goto out; }
    rc = sync_recipe(s, err);
out:
    unlock_dir(lk);
    return rc;
}

int qt_session_can_undo(const struct qt_session *s) { return s->hist_cur > 0; }
int qt_session_can_redo(const struct qt_session *s) { return s->hist_cur < s->hist_max; }

int qt_session_undo(struct qt_session *s, qt_err *err) {
    if (!qt_session_can_undo(s)) return qt_err_set(err, "undo: nothing to undo");
    return move_cursor(s, -1, err);
}

int qt_session_redo(struct qt_session *s, qt_err *err) {
    if (!qt_session_can_redo(s)) return qt_err_set(err, "redo: nothing to redo");
    return move_cursor(s, +1, err);
}

int qt_session_token(struct qt_session *s, char tok[33], qt_err *err) {
    char path[PATH_MAX];
    qt_session_path(s, "token", path, sizeof path);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct stat st;
        qt_err e2;
        int fd = qt_open_regular(path, O_NOFOLLOW, &st, &e2);
        if (fd >= 0) {
            char buf[33] = {0};
            ssize_t r = read(fd, buf, 32);
            close(fd);
            if (st.st_uid != geteuid() || (st.st_mode & 077))
                return qt_err_set(err, "%s: job token not private to you (uid %u, mode %04o); refusing", path,
                                  (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
            if (r != 32 || strspn(buf, "0123456789abcdef") != 32)
                return qt_err_set(err, "%s: not a job token; remove it", path);
            memcpy(tok, buf, 33);
            return QT_OK;
        }
        if (errno != ENOENT) return qt_err_set(err, "%s", e2.msg);
        if (need_write(s, err)) return QT_ERR;
        unsigned char rnd[16];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return qt_err_set(err, "token: getrandom: %s", strerror(errno));
        char hex[33];
        for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        /* created exclusively, 0600: a racing creator wins and is read back */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) return qt_err_set(err, "%s: %s", path, strerror(errno));
        if (fd >= 0) {
            int ok = write(fd, hex, 32) == 32 && fsync(fd) == 0;
            close(fd);
            if (!ok) { unlink(path); return qt_err_set(err, "%s: %s", path, strerror(errno)); }
        }
    }
    return qt_err_set(err, "%s: cannot create the job token", path);
}

static int slot_ok(char slot, qt_err *err) {
    if (slot < 'A' || slot > 'Z') return qt_err_set(err, "variant: slot must be a letter A..Z");
    return QT_OK;
}

int qt_session_variant_store(struct qt_session *s, char slot, const char *text, qt_err *err) {
    if (slot_ok(slot, err) || need_write(s, err)) return QT_ERR;
    char path[PATH_MAX], rel[32];
    snprintf(rel, sizeof rel, "variants/%c.yaml", slot);
    int lk = lock_dir(s, err);
    if (lk < 0) return QT_ERR;
    int rc = qt_write_file_atomic(qt_session_path(s, rel, path, sizeof path), text, strlen(text), err);
    unlock_dir(lk);
    return rc;
}

char *qt_session_variant_get(const struct qt_session *s, char slot, qt_err *err) {
    if (err) err->msg[0] = 0;
    if (slot_ok(slot, err)) return NULL;
    char path[PATH_MAX], rel[32];
    snprintf(rel, sizeof rel, "variants/%c.yaml", slot);
    qt_session_path(s, rel, path, sizeof path);
    struct stat st;
    if (lstat(path, &st) != 0) return NULL;
    return sess_read(path, NULL, err);
}

int qt_session_variant_slots(const struct qt_session *s, char *out, size_t n) {
    size_t k = 0;
    for (char c = 'A'; c <= 'Z' && k + 1 < n; c++) {
        char path[PATH_MAX], rel[32];
        struct stat st;
        snprintf(rel, sizeof rel, "variants/%c.yaml", c);
        if (lstat(qt_session_path(s, rel, path, sizeof path), &st) == 0 && S_ISREG(st.st_mode)) out[k++] = c;
    }
    if (n) out[k] = 0;
    return (int)k;
}

int qt_session_variant_drop(struct qt_session *s, char slot, qt_err *err) {
    if (slot_ok(slot, err) || need_write(s, err)) return QT_ERR;
    char path[PATH_MAX], rel[32];
    snprintf(rel, sizeof rel, "variants/%c.yaml", slot);
    int lk = lock_dir(s, err);
    if (lk < 0) return QT_ERR;
    int rc = unlink(qt_session_path(s, rel, path, sizeof path)) == 0 || errno == ENOENT
                 ? QT_OK : qt_err_set(err, "%s: %s", path, strerror(errno));
    unlock_dir(lk);
    return rc;
}

char *qt_session_settings(const struct qt_session *s, qt_err *err) {
    char path[PATH_MAX];
    struct stat st;
    if (err) err->msg[0] = 0;
    if (lstat(qt_session_path(s, "settings.json", path, sizeof path), &st) != 0) return NULL;
    return sess_read(path, NULL, err);
}

int qt_session_settings_store(struct qt_session *s, const char *text, qt_err *err) {
    if (need_write(s, err)) return QT_ERR;
    char path[PATH_MAX];
    int lk = lock_dir(s, err);
    if (lk < 0) return QT_ERR;
    int rc = qt_write_file_atomic(qt_session_path(s, "settings.json", path, sizeof path), text, strlen(text), err);
    unlock_dir(lk);
    return rc;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int qt_session_job_ids(const struct qt_session *s, int **ids, int *n, qt_err *err) {
    *ids = NULL;
    *n = 0;
    char path[PATH_MAX];
    DIR *d = opendir(qt_session_path(s, "jobs", path, sizeof path));
    if (!d) return qt_err_set(err, "%s: %s", path, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || v <= 0 || v > INT_MAX) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int *p = realloc(*ids, (size_t)cap * sizeof **ids);
            if (!p) { closedir(d); free(*ids); *ids = NULL; *n = 0; return qt_err_set(err, "jobs: out of memory"); }
            *ids = p;
        }
        (*ids)[(*n)++] = (int)v;
    }
    closedir(d);
    if (*n) qsort(*ids, (size_t)*n, sizeof **ids, cmp_int);
    return QT_OK;
}

int qt_session_job_new(struct qt_session *s, int *id, char *dir, size_t n, qt_err *err) {
    if (need_write(s, err)) return QT_ERR;
    int *ids, cnt;
    if (qt_session_job_ids(s, &ids, &cnt, err)) return QT_ERR;
    int next = cnt ? ids[cnt - 1] + 1 : 1;
    free(ids);
    for (;; next++) {
        char rel[32];
        snprintf(rel, sizeof rel, "jobs/%d", next);
        qt_session_path(s, rel, dir, n);
        if (mkdir(dir, 0700) == 0) break;
        if (errno != EEXIST) return qt_err_set(err, "%s: %s", dir, strerror(errno));
    }
    *id = next;
    return QT_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int qt_session_list(char ***names, int *n, qt_err *err) {
    *names = NULL;
    *n = 0;
    char home[PATH_MAX - 20], dir[PATH_MAX];
    if (qt_session_home(home, sizeof home, err)) return QT_ERR;
    snprintf(dir, sizeof dir, "%s/sessions", home);
    struct stat st;
    if (lstat(dir, &st) != 0) return errno == ENOENT ? QT_OK : qt_err_set(err, "%s: %s", dir, strerror(errno));
    if (stat(home, &st) == 0 && qt_session_check_dir(home, "state directory", 1, err)) return QT_ERR;
    if (qt_session_check_dir(dir, "sessions directory", 0, err)) return QT_ERR;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? QT_OK : qt_err_set(err, "%s: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!qt_session_name_ok(e->d_name)) continue;
        char sj[PATH_MAX + 300];
        snprintf(sj, sizeof sj, "%s/%s/session.json", dir, e->d_name);
        if (lstat(sj, &st) != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(*names, (size_t)cap * sizeof **names);
            if (!p) { closedir(d); qt_session_names_free(*names, *n); *names = NULL; *n = 0;
                      return qt_err_set(err, "sessions: out of memory"); }
            *names = p;
        }
        (*names)[(*n)++] = qt_strdup(e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
    return QT_OK;
}

void qt_session_names_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int qt_session_socket_path(const char *name, int mkdir_it, char *buf, size_t n, qt_err *err) {
    if (!qt_session_name_ok(name)) return qt_err_set(err, "%s: bad session name", name ? name : "");
    char dir[PATH_MAX];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt && *rt) snprintf(dir, sizeof dir, "%s/qtune", rt);
    else snprintf(dir, sizeof dir, "/tmp/qtune-%u", (unsigned)getuid());
    if (mkdir_it && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return qt_err_set(err, "%s: %s", dir, strerror(errno));
    struct stat st;
    if (lstat(dir, &st) != 0) return qt_err_set(err, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return qt_err_set(err, "%s: socket directory is not a directory (a link?); remove it", dir);
    if (st.st_uid != getuid())
        return qt_err_set(err, "%s: socket directory is owned by uid %u, not you (uid %u); refusing",
                          dir, (unsigned)st.st_uid, (unsigned)getuid());
    if ((st.st_mode & 0777) != 0700)
        return qt_err_set(err, "%s: socket directory has mode %04o, want 0700 (chmod 700 %s); refusing",
                          dir, (unsigned)(st.st_mode & 0777), dir);
    int w = snprintf(buf, n, "%s/%s.sock", dir, name);
    if (w < 0 || (size_t)w >= n || (size_t)w >= 108)
        return qt_err_set(err, "%s/%s.sock: socket path too long (max 107 bytes)", dir, name);
    return QT_OK;
}
