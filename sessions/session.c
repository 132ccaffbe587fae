/* session.c — the session directory: layout, session.json, recipe history
 * with undo/redo, variants, job directories, socket paths. */
#include "sessions/session.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int load_meta(struct qt_session *s, qt_err *err) {
    char path[PATH_MAX];
    qt_session_path(s, "session.json", path, sizeof path);
    size_t len;
    char *txt = qt_read_file(path, &len, err);
    if (!txt) return QT_ERR;
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return qt_err_set(err, "%s: not a JSON object", path); }
    cJSON *m = cJSON_GetObjectItem(o, "model");
    if (cJSON_IsString(m)) s->model = qt_strdup(m->valuestring);
    cJSON *c = cJSON_GetObjectItem(o, "created");
    if (cJSON_IsNumber(c)) s->created = c->valuedouble;
    cJSON *h = cJSON_GetObjectItem(o, "history");
    if (cJSON_IsObject(h)) {
        cJSON *cur = cJSON_GetObjectItem(h, "cur"), *max = cJSON_GetObjectItem(h, "max");
        if (cJSON_IsNumber(cur)) s->hist_cur = cur->valueint;
        if (cJSON_IsNumber(max)) s->hist_max = max->valueint;
    }
    cJSON_Delete(o);
    if (s->hist_cur < 0 || s->hist_max < s->hist_cur)
        return qt_err_set(err, "%s: history cursor out of range", path);
    return QT_OK;
}

static char *hist_text(const struct qt_session *s, int k, qt_err *err) {
    if (k == 0) return qt_strdup("");
    char path[PATH_MAX];
    hist_path(s, k, path, sizeof path);
    return qt_read_file(path, NULL, err);
}

/* Makes recipe.yaml equal to history[cur]. */
static int sync_recipe(const struct qt_session *s, qt_err *err) {
    char *want = hist_text(s, s->hist_cur, err);
    if (!want) return QT_ERR;
    char path[PATH_MAX];
    qt_session_path(s, "recipe.yaml", path, sizeof path);
    char *have = qt_read_file(path, NULL, NULL);
    int rc = QT_OK;
    if (!have || strcmp(have, want) != 0) rc = qt_write_file_atomic(path, want, strlen(want), err);
    free(have);
    free(want);
    return rc;
}

/* Removes history entries after max (a redo tail left by a crash or dropped
 * by a new edit). */
static void drop_tail(const struct qt_session *s) {
    char path[PATH_MAX];
    for (int k = s->hist_max + 1; ; k++) {
        hist_path(s, k, path, sizeof path);
        if (unlink(path) != 0) break;
    }
}

int qt_session_open(const char *name, int create, struct qt_session **out, qt_err *err) {
    *out = NULL;
    if (!qt_session_name_ok(name))
        return qt_err_set(err, "%s: bad session name (use letters, digits, '.', '_', '-')", name ? name : "");
    char home[PATH_MAX - 200], dir[PATH_MAX];
    if (qt_session_home(home, sizeof home, err)) return QT_ERR;
    snprintf(dir, sizeof dir, "%s/sessions/%s", home, name);
    struct stat st;
    int exists = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!exists && !create) return qt_err_set(err, "%s: no such session", name);
    struct qt_session *s = calloc(1, sizeof *s);
    if (!s) return qt_err_set(err, "session: out of memory");
    s->name = qt_strdup(name);
    s->dir = qt_strdup(dir);
    char sub[PATH_MAX];
    static const char *subs[] = {"history", "variants", "cache", "jobs"};
    if (qt_mkdirs(dir, 0700, err)) goto fail;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (qt_mkdirs(qt_session_path(s, subs[i], sub, sizeof sub), 0700, err)) goto fail;
    qt_session_path(s, "session.json", sub, sizeof sub);
    if (access(sub, F_OK) != 0) {
        s->created = unix_now();
        if (save_meta(s, err)) goto fail;
    } else if (load_meta(s, err)) {
        goto fail;
    }
    drop_tail(s);
    if (sync_recipe(s, err)) goto fail;
    *out = s;
    return QT_OK;
fail:
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
    char abs[PATH_MAX];
    if (!realpath(model, abs)) return qt_err_set(err, "%s: %s", model, strerror(errno));
    char *old = s->model;
    s->model = qt_strdup(abs);
    if (save_meta(s, err)) { free(s->model); s->model = old; return QT_ERR; }
    free(old);
    return QT_OK;
}

char *qt_session_recipe(const struct qt_session *s, qt_err *err) {
    return hist_text(s, s->hist_cur, err);
}

int qt_session_recipe_set(struct qt_session *s, const char *text, qt_err *err) {
    char path[PATH_MAX];
    int k = s->hist_cur + 1;
    hist_path(s, k, path, sizeof path);
    if (qt_write_file_atomic(path, text, strlen(text), err)) return QT_ERR;
    int oc = s->hist_cur, om = s->hist_max;
    s->hist_cur = s->hist_max = k;
    if (save_meta(s, err)) { s->hist_cur = oc; s->hist_max = om; return QT_ERR; }
    drop_tail(s);
    qt_session_path(s, "recipe.yaml", path, sizeof path);
    return qt_write_file_atomic(path, text, strlen(text), err);
}

static int move_cursor(struct qt_session *s, int to, qt_err *err) {
    int old = s->hist_cur;
    s->hist_cur = to;
    if (save_meta(s, err)) { s->hist_cur = old; return QT_ERR; }
    return sync_recipe(s, err);
}

int qt_session_can_undo(const struct qt_session *s) { return s->hist_cur > 0; }
int qt_session_can_redo(const struct qt_session *s) { return s->hist_cur < s->hist_max; }

int qt_session_undo(struct qt_session *s, qt_err *err) {
    if (!qt_session_can_undo(s)) return qt_err_set(err, "undo: nothing to undo");
    return move_cursor(s, s->hist_cur - 1, err);
}

int qt_session_redo(struct qt_session *s, qt_err *err) {
    if (!qt_session_can_redo(s)) return qt_err_set(err, "redo: nothing to redo");
    return move_cursor(s, s->hist_cur + 1, err);
}

static int slot_ok(char slot, qt_err *err) {
    if (slot != 'A' && slot != 'B') return qt_err_set(err, "variant: slot must be A or B");
    return QT_OK;
}

int qt_session_variant_store(struct qt_session *s, char slot, const char *text, qt_err *err) {
    if (slot_ok(slot, err)) return QT_ERR;
    char path[PATH_MAX], rel[32];
    snprintf(rel, sizeof rel, "variants/%c.yaml", slot);
    return qt_write_file_atomic(qt_session_path(s, rel, path, sizeof path), text, strlen(text), err);
}

char *qt_session_variant_get(const struct qt_session *s, char slot, qt_err *err) {
    if (err) err->msg[0] = 0;
    if (slot_ok(slot, err)) return NULL;
    char path[PATH_MAX], rel[32];
    snprintf(rel, sizeof rel, "variants/%c.yaml", slot);
    qt_session_path(s, rel, path, sizeof path);
    if (access(path, F_OK) != 0) return NULL;
    return qt_read_file(path, NULL, err);
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
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? QT_OK : qt_err_set(err, "%s: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!qt_session_name_ok(e->d_name)) continue;
        char sj[PATH_MAX + 300];
        snprintf(sj, sizeof sj, "%s/%s/session.json", dir, e->d_name);
        if (access(sj, F_OK) != 0) continue;
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
