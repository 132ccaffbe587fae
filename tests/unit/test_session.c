/* test_session.c — the session store (history, undo/redo, variants, job
 * ids, crash repair, socket directory checks) and protocol framing. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "daemon/proto.h"
#include "sessions/session.h"
#include "tu.h"

static char home[3000];

static void set_home(void) {
    snprintf(home, sizeof home, "%s", tu_tmpdir("test_session"));
    setenv("QTUNE_HOME", home, 1);
}

TU_TEST(test_names) {
    TU_CHECK(qt_session_name_ok("glm-4.6_int4"));
    TU_CHECK(!qt_session_name_ok(""));
    TU_CHECK(!qt_session_name_ok(".hidden"));
    TU_CHECK(!qt_session_name_ok("a/b"));
    TU_CHECK(!qt_session_name_ok("../x"));
    char big[80];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    TU_CHECK(!qt_session_name_ok(big));
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("../evil", 1, &s, &err) == QT_ERR);
    TU_CHECK(strstr(err.msg, "bad session name") != NULL);
    TU_CHECK(qt_session_open("nosuch", 0, &s, &err) == QT_ERR);
    TU_CHECK(strstr(err.msg, "no such session") != NULL);
}

static char *recipe(struct qt_session *s) {
    qt_err err;
    return qt_session_recipe(s, &err);
}

static int file_is(const struct qt_session *s, const char *rel, const char *want) {
    char path[4200];
    char *t = qt_read_file(qt_session_path(s, rel, path, sizeof path), NULL, NULL);
    int ok = t && !strcmp(t, want);
    free(t);
    return ok;
}

TU_TEST(test_history) {
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("hist", 1, &s, &err) == QT_OK);
    if (!s) return;
    char *r = recipe(s);
    TU_CHECK(r && !strcmp(r, ""));
    free(r);
    TU_CHECK(!qt_session_can_undo(s) && !qt_session_can_redo(s));
    TU_CHECK(qt_session_undo(s, &err) == QT_ERR && strstr(err.msg, "nothing to undo"));
    TU_CHECK(qt_session_recipe_set(s, "a: 1\n", &err) == QT_OK);
    TU_CHECK(qt_session_recipe_set(s, "a: 2\n", &err) == QT_OK);
    TU_CHECK(qt_session_recipe_set(s, "a: 3\n", &err) == QT_OK);
    TU_CHECK(s->hist_cur == 3 && s->hist_max == 3);
    TU_CHECK(file_is(s, "recipe.yaml", "a: 3\n"));
    TU_CHECK(qt_session_undo(s, &err) == QT_OK);
    TU_CHECK(qt_session_undo(s, &err) == QT_OK);
    TU_CHECK(file_is(s, "recipe.yaml", "a: 1\n"));
    TU_CHECK(qt_session_can_redo(s));
    TU_CHECK(qt_session_redo(s, &err) == QT_OK);
    r = recipe(s);
    TU_CHECK(r && !strcmp(r, "a: 2\n"));
    free(r);
    /* a new edit drops the redo tail */
    TU_CHECK(qt_session_recipe_set(s, "b: 1\n", &err) == QT_OK);
    TU_CHECK(s->hist_cur == 3 && s->hist_max == 3 && !qt_session_can_redo(s));
    TU_CHECK(file_is(s, "history/000003.yaml", "b: 1\n"));
    char p4[4200];
    TU_CHECK(access(qt_session_path(s, "history/000004.yaml", p4, sizeof p4), F_OK) != 0);
    TU_CHECK(qt_session_redo(s, &err) == QT_ERR && strstr(err.msg, "nothing to redo"));
    /* undo back to the empty recipe */
    while (qt_session_can_undo(s)) TU_CHECK(qt_session_undo(s, &err) == QT_OK);
    TU_CHECK(file_is(s, "recipe.yaml", ""));
    TU_CHECK(qt_session_redo(s, &err) == QT_OK);
    qt_session_free(s);
    /* reopening keeps the cursor */
    TU_CHECK(qt_session_open("hist", 0, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECK(s->hist_cur == 1 && s->hist_max == 3);
    r = recipe(s);
    TU_CHECK(r && !strcmp(r, "a: 1\n"));
    free(r);
    qt_session_free(s);
}

TU_TEST(test_crash_repair) {
    /* a crash after the history entry and session.json were written but
     * before recipe.yaml: reopening restores recipe.yaml from history; a
     * stray entry past max (the tail of an interrupted edit) is dropped */
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("crash", 1, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECK(qt_session_recipe_set(s, "x: 1\n", &err) == QT_OK);
    TU_CHECK(qt_session_recipe_set(s, "x: 2\n", &err) == QT_OK);
    char path[4200];
    qt_session_path(s, "recipe.yaml", path, sizeof path);
    TU_CHECK(qt_write_file_atomic(path, "stale", 5, &err) == QT_OK);
    qt_session_path(s, "history/000003.yaml", path, sizeof path);
    TU_CHECK(qt_write_file_atomic(path, "x: 3\n", 5, &err) == QT_OK);
    qt_session_free(s);
    TU_CHECK(qt_session_open("crash", QT_SESSION_WRITE, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECK(file_is(s, "recipe.yaml", "x: 2\n"));
    TU_CHECK(access(path, F_OK) != 0);
    TU_CHECK(!qt_session_can_redo(s));
    /* no temp files left behind */
    char hist[4200];
    char cmd[8500];
    snprintf(cmd, sizeof cmd, "ls -a '%s' '%s' | grep -q tmp-", qt_session_path(s, "history", hist, sizeof hist), s->dir);
    TU_CHECK(system(cmd) != 0);
    qt_session_free(s);
}

TU_TEST(test_variants_jobs_list) {
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("var", 1, &s, &err) == QT_OK);
    if (!s) return;
    char *v = qt_session_variant_get(s, 'A', &err);
    TU_CHECK(v == NULL && err.msg[0] == 0);
    TU_CHECK(qt_session_variant_store(s, 'A', "default: int4\n", &err) == QT_OK);
    TU_CHECK(qt_session_variant_store(s, 'C', "x", &err) == QT_OK);   /* named variants A..Z */
    TU_CHECK(qt_session_variant_store(s, 'a', "x", &err) == QT_ERR);
    TU_CHECK(qt_session_variant_store(s, '[', "x", &err) == QT_ERR);
    v = qt_session_variant_get(s, 'A', &err);
    TU_CHECK(v && !strcmp(v, "default: int4\n"));
    free(v);
    char slots[27];
    TU_CHECK(qt_session_variant_slots(s, slots, sizeof slots) == 2 && !strcmp(slots, "AC"));
    TU_CHECK(qt_session_variant_drop(s, 'C', &err) == QT_OK && qt_session_variant_drop(s, 'C', &err) == QT_OK);
    TU_CHECK(qt_session_variant_slots(s, slots, sizeof slots) == 1 && !strcmp(slots, "A"));
    v = qt_session_settings(s, &err);
    TU_CHECK(v == NULL && err.msg[0] == 0);
    TU_CHECK(qt_session_settings_store(s, "{\"gpu\":\"H200\"}", &err) == QT_OK);
    v = qt_session_settings(s, &err);
    TU_CHECK(v && strstr(v, "H200"));
    free(v);
    int id1, id2;
    char dir[4096];
    TU_CHECK(qt_session_job_new(s, &id1, dir, sizeof dir, &err) == QT_OK);
    TU_CHECK(qt_session_job_new(s, &id2, dir, sizeof dir, &err) == QT_OK);
    TU_CHECK(id1 == 1 && id2 == 2);
    int *ids, n;
    TU_CHECK(qt_session_job_ids(s, &ids, &n, &err) == QT_OK);
    TU_CHECK(n == 2 && ids[0] == 1 && ids[1] == 2);
    free(ids);
    TU_CHECK(qt_session_set_model(s, tu_path("share/models/tiny-glm-moe"), &err) == QT_OK);
    TU_CHECK(s->model && s->model[0] == '/');
    qt_session_free(s);
    TU_CHECK(qt_session_open("var", 0, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECK(s->model && strstr(s->model, "tiny-glm-moe"));
    qt_session_free(s);
    char **names;
    TU_CHECK(qt_session_list(&names, &n, &err) == QT_OK);
    int found = 0;
    for (int i = 0; i < n; i++) found += !strcmp(names[i], "var") || !strcmp(names[i], "hist");
    TU_CHECK(found == 2);
    for (int i = 1; i < n; i++) TU_CHECK(strcmp(names[i - 1], names[i]) < 0);
    qt_session_names_free(names, n);
}

/* Writes text to the session file rel (test set-up, bypassing the store). */
static void put(const struct qt_session *s, const char *rel, const char *text) {
    char path[4200];
    qt_err err;
    TU_CHECK(qt_write_file_atomic(qt_session_path(s, rel, path, sizeof path), text, strlen(text), &err) == QT_OK);
}

TU_TEST(test_malformed_meta_recovers) {
    /* issue 18.2: a session.json whose history is missing or of the wrong
     * type made every opener (even qtune ls) delete history/ and empty
     * recipe.yaml.  Now: reported, recovered from history/ and recipe.yaml,
     * nothing deleted */
    static const char *bad[] = {
        "{\"name\":\"mal\",\"model\":null}",
        "{\"name\":\"mal\",\"history\":7}",
        "{\"name\":\"mal\",\"history\":{\"cur\":\"x\",\"max\":[]}}",
        "{\"name\":\"mal\",\"history\":{\"cur\":1e300,\"max\":-5}}",
        "not json at all",
        "{\"name\":\"mal\",\"history\":{\"cur\":9,\"max\":9}}",   /* entries that do not exist */
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        struct qt_session *s;
        qt_err err;
        char name[32];
        snprintf(name, sizeof name, "mal%zu", b);
        TU_CHECK(qt_session_open(name, QT_SESSION_CREATE, &s, &err) == QT_OK);
        if (!s) return;
        TU_CHECK(qt_session_recipe_set(s, "m: 1\n", &err) == QT_OK);
        TU_CHECK(qt_session_recipe_set(s, "m: 2\n", &err) == QT_OK);
        TU_CHECK(qt_session_recipe_set(s, "m: 3\n", &err) == QT_OK);
        TU_CHECK(qt_session_undo(s, &err) == QT_OK);   /* current: entry 2 of 3 */
        put(s, "session.json", bad[b]);
        qt_session_free(s);
        /* a reader: recovers in memory, changes nothing */
        TU_CHECK(qt_session_open(name, 0, &s, &err) == QT_OK);
        if (!s) return;
        TU_CHECKF(s->hist_cur == 2 && s->hist_max == 3, "case %zu: %d/%d", b, s->hist_cur, s->hist_max);
        TU_CHECK(strstr(s->note, "recovered") != NULL);
        TU_CHECK(file_is(s, "history/000001.yaml", "m: 1\n") && file_is(s, "history/000003.yaml", "m: 3\n"));
        TU_CHECK(file_is(s, "recipe.yaml", "m: 2\n"));
        TU_CHECK(file_is(s, "session.json", bad[b]));
        TU_CHECK(qt_session_recipe_set(s, "no: 1\n", &err) == QT_ERR && strstr(err.msg, "read-only"));
        qt_session_free(s);
        /* a writer: rewrites session.json (the bad one kept), keeps history */
        TU_CHECK(qt_session_open(name, QT_SESSION_WRITE, &s, &err) == QT_OK);
        if (!s) return;
        TU_CHECK(s->hist_cur == 2 && s->hist_max == 3);
        TU_CHECK(file_is(s, "session.json.bad", bad[b]));
        TU_CHECK(qt_session_redo(s, &err) == QT_OK);
        char *r = recipe(s);
        TU_CHECK(r && !strcmp(r, "m: 3\n"));
        free(r);
        qt_session_free(s);
    }
    /* session.json gone altogether while history/ has entries */
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("mal0", QT_SESSION_WRITE, &s, &err) == QT_OK);
    if (!s) return;
    char path[4200];
    unlink(qt_session_path(s, "session.json", path, sizeof path));
    qt_session_free(s);
    TU_CHECK(qt_session_open("mal0", QT_SESSION_WRITE, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECK(s->hist_max == 3 && s->hist_cur == 3 && file_is(s, "history/000003.yaml", "m: 3\n"));
    qt_session_free(s);
}

TU_TEST(test_reader_during_writes) {
    /* issue 18.3: qtune ls (a reader) opening the session while the daemon
     * saved edits deleted entries.  A child writes N edits while we open
     * the session read-only in a loop; every edit must survive, in order */
    enum { N = 300 };
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("race", QT_SESSION_CREATE, &s, &err) == QT_OK);
    if (!s) return;
    qt_session_free(s);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct qt_session *w;
        if (qt_session_open("race", QT_SESSION_WRITE, &w, &err)) _exit(2);
        for (int i = 1; i <= N; i++) {
            char t[32];
            snprintf(t, sizeof t, "v: %d\n", i);
            if (qt_session_recipe_set(w, t, &err)) _exit(3);
        }
        qt_session_free(w);
        _exit(0);
    }
    int st = 0, opens = 0;
    for (;;) {   /* bounded by the child, which ends after N edits */
        if (qt_session_open("race", 0, &s, &err) == QT_OK) {
            char *r = recipe(s);
            free(r);
            qt_session_free(s);
            opens++;
        }
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || r < 0) break;
    }
    TU_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    TU_CHECK(opens > 0);
    TU_CHECK(qt_session_open("race", QT_SESSION_WRITE, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECKF(s->hist_cur == N && s->hist_max == N, "%d/%d", s->hist_cur, s->hist_max);
    int lost = 0;
    for (int i = 1; i <= N; i++) {
        char rel[64], want[32];
        snprintf(rel, sizeof rel, "history/%06d.yaml", i);
        snprintf(want, sizeof want, "v: %d\n", i);
        lost += !file_is(s, rel, want);
    }
    TU_CHECKF(lost == 0, "%d of %d entries lost", lost, N);
    int undos = 0;
    while (qt_session_can_undo(s) && qt_session_undo(s, &err) == QT_OK) undos++;
    TU_CHECK(undos == N);
    qt_session_free(s);
}

TU_TEST(test_writers_serialize) {
    /* two writers at once: the lock and the re-read under it keep both
     * writers' edits (2 x 100 entries, none overwritten) */
    enum { N = 100 };
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("two", QT_SESSION_CREATE, &s, &err) == QT_OK);
    if (!s) return;
    qt_session_free(s);
    fflush(NULL);
    pid_t p[2];
    for (int c = 0; c < 2; c++) {
        p[c] = fork();
        if (p[c] == 0) {
            struct qt_session *w;
            if (qt_session_open("two", QT_SESSION_WRITE, &w, &err)) _exit(2);
            for (int i = 0; i < N; i++) {
                char t[32];
                snprintf(t, sizeof t, "w%d: %d\n", c, i);
                if (qt_session_recipe_set(w, t, &err)) _exit(3);
            }
            qt_session_free(w);
            _exit(0);
        }
    }
    for (int c = 0; c < 2; c++) {
        int st = 0;
        waitpid(p[c], &st, 0);
        TU_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    TU_CHECK(qt_session_open("two", 0, &s, &err) == QT_OK);
    if (!s) return;
    TU_CHECKF(s->hist_max == 2 * N, "%d", s->hist_max);
    qt_session_free(s);
}

TU_TEST(test_foreign_tree_refused) {
    /* issue 18.5: a world-writable home, sessions/ or session directory, a
     * sessions/ replaced by a link, or a tree owned by another user is
     * refused (tests run as root: chown to nobody simulates another user) */
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("own", QT_SESSION_CREATE, &s, &err) == QT_OK);
    if (!s) return;
    char sdir[4200], sessions[4200];
    snprintf(sdir, sizeof sdir, "%s", s->dir);
    qt_session_free(s);
    snprintf(sessions, sizeof sessions, "%s/sessions", home);
    const char *dirs[] = {home, sessions, sdir};
    for (int i = 0; i < 3; i++) {
        struct stat st0;
        stat(dirs[i], &st0);
        chmod(dirs[i], 0777);
        TU_CHECKF(qt_session_open("own", 0, &s, &err) == QT_ERR && strstr(err.msg, "writable by group or others"),
                  "%s: %s", dirs[i], err.msg);
        TU_CHECK(qt_session_open("own", QT_SESSION_CREATE, &s, &err) == QT_ERR);
        chmod(dirs[i], st0.st_mode & 07777);
    }
    char **names;
    int n;
    chmod(sessions, 0777);
    TU_CHECK(qt_session_list(&names, &n, &err) == QT_ERR && strstr(err.msg, "writable"));
    chmod(sessions, 0700);
    if (geteuid() == 0) {
        TU_CHECK(chown(sdir, 65534, 65534) == 0);
        TU_CHECK(qt_session_open("own", 0, &s, &err) == QT_ERR && strstr(err.msg, "owned by uid 65534"));
        TU_CHECK(chown(sdir, 0, 0) == 0);
        char sj[4300];
        snprintf(sj, sizeof sj, "%s/session.json", sdir);
        TU_CHECK(chown(sj, 65534, 65534) == 0);
        TU_CHECK(qt_session_open("own", 0, &s, &err) == QT_ERR && strstr(err.msg, "owned by uid 65534"));
        TU_CHECK(chown(sj, 0, 0) == 0);
    }
    /* sessions/ replaced by a link to someone else's directory */
    char moved[4300], cmd[18000];
    snprintf(moved, sizeof moved, "%s/elsewhere", home);
    TU_CHECK(rename(sessions, moved) == 0);
    TU_CHECK(symlink(moved, sessions) == 0);
    TU_CHECK(qt_session_open("own", 0, &s, &err) == QT_ERR && strstr(err.msg, "symbolic link"));
    TU_CHECK(qt_session_open("own", QT_SESSION_CREATE, &s, &err) == QT_ERR);
    unlink(sessions);
    TU_CHECK(rename(moved, sessions) == 0);
    /* a session file that is a link is not followed */
    char sj[4300], target[4300];
    snprintf(sj, sizeof sj, "%s/session.json", sdir);
    snprintf(target, sizeof target, "%s/target.json", home);
    snprintf(cmd, sizeof cmd, "mv '%s' '%s' && ln -s '%s' '%s'", sj, target, target, sj);
    TU_CHECK(system(cmd) == 0);
    TU_CHECK(qt_session_open("own", 0, &s, &err) == QT_ERR && strstr(err.msg, "symbolic link"));
    TU_CHECK(qt_session_open("own", QT_SESSION_WRITE, &s, &err) == QT_ERR);
    unlink(sj);
    TU_CHECK(rename(target, sj) == 0);
    TU_CHECK(qt_session_open("own", 0, &s, &err) == QT_OK);
    qt_session_free(s);
}

TU_TEST(test_token) {
    struct qt_session *s;
    qt_err err;
    TU_CHECK(qt_session_open("tok", QT_SESSION_CREATE, &s, &err) == QT_OK);
    if (!s) return;
    char a[33], b[33];
    TU_CHECK(qt_session_token(s, a, &err) == QT_OK && strlen(a) == 32);
    TU_CHECK(qt_session_token(s, b, &err) == QT_OK && !strcmp(a, b));
    char path[4200];
    qt_session_path(s, "token", path, sizeof path);
    struct stat st;
    TU_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    chmod(path, 0644);
    TU_CHECK(qt_session_token(s, b, &err) == QT_ERR && strstr(err.msg, "not private"));
    qt_session_free(s);
}

TU_TEST(test_socket_dir) {
    char rt[4096], sock[4096];
    qt_err err;
    snprintf(rt, sizeof rt, "%s/run", home);
    mkdir(rt, 0700);
    setenv("XDG_RUNTIME_DIR", rt, 1);
    TU_CHECK(qt_session_socket_path("s1", 1, sock, sizeof sock, &err) == QT_OK);
    TU_CHECK(strstr(sock, "/run/qtune/s1.sock") != NULL);
    char qd[4200];
    snprintf(qd, sizeof qd, "%s/qtune", rt);
    struct stat st;
    TU_CHECK(stat(qd, &st) == 0 && (st.st_mode & 0777) == 0700);
    chmod(qd, 0755);
    TU_CHECK(qt_session_socket_path("s1", 1, sock, sizeof sock, &err) == QT_ERR);
    TU_CHECK(strstr(err.msg, "0755") && strstr(err.msg, "want 0700"));
    chmod(qd, 0700);
    /* a symlink in its place is refused */
    char real[4200];
    snprintf(real, sizeof real, "%s/real", rt);
    mkdir(real, 0700);
    rmdir(qd);
    TU_CHECK(symlink(real, qd) == 0);
    TU_CHECK(qt_session_socket_path("s1", 1, sock, sizeof sock, &err) == QT_ERR);
    TU_CHECK(strstr(err.msg, "not a directory") != NULL);
    unlink(qd);
    /* too long a path */
    char longrt[300];
    memset(longrt, 'x', sizeof longrt);
    longrt[0] = '/';
    longrt[sizeof longrt - 1] = 0;
    setenv("XDG_RUNTIME_DIR", longrt, 1);
    TU_CHECK(qt_session_socket_path("s1", 0, sock, sizeof sock, &err) == QT_ERR);
    unsetenv("XDG_RUNTIME_DIR");
}

TU_TEST(test_framing) {
    int sv[2];
    TU_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct qt_conn a, b;
    qt_conn_init(&a, sv[0]);
    qt_conn_init(&b, sv[1]);
    qt_err err;
    /* two lines in one write, one split across writes, CRLF, an oversized
     * line, then a normal one: the big one is reported once and skipped */
    const char *msg = "{\"a\":1}\n{\"b\":2}\r\n{\"c\":";
    TU_CHECK(qt_conn_queue(&a, msg, strlen(msg)) == QT_OK);
    TU_CHECK(qt_conn_flush(&a, &err) == QT_OK);
    char *line;
    size_t len;
    TU_CHECK(qt_conn_fill(&b, &err) == QT_OK);
    TU_CHECK(qt_conn_line(&b, &line, &len) == 1 && !strcmp(line, "{\"a\":1}"));
    TU_CHECK(qt_conn_line(&b, &line, &len) == 1 && !strcmp(line, "{\"b\":2}") && len == 7);
    TU_CHECK(qt_conn_line(&b, &line, &len) == 0);
    TU_CHECK(qt_conn_queue(&a, "3}\n", 3) == QT_OK);
    TU_CHECK(qt_conn_flush(&a, &err) == QT_OK);
    TU_CHECK(qt_conn_fill(&b, &err) == QT_OK);
    TU_CHECK(qt_conn_line(&b, &line, &len) == 1 && !strcmp(line, "{\"c\":3}"));
    size_t big = QT_PROTO_LINE_MAX + 1000;
    char *junk = malloc(big);
    memset(junk, 'z', big);
    int reported = 0, got_after = 0;
    size_t sent = 0;
    int tail_queued = 0;
    for (int turn = 0; turn < 10000 && !got_after; turn++) {
        if (sent < big) {
            size_t k = big - sent < 65536 ? big - sent : 65536;
            qt_conn_queue(&a, junk + sent, k);
            sent += k;
        } else if (!tail_queued) {
            qt_conn_queue(&a, "\n{\"d\":4}\n", 9);
            tail_queued = 1;
        }
        qt_conn_flush(&a, &err);
        qt_conn_fill(&b, &err);
        int r;
        while ((r = qt_conn_line(&b, &line, &len)) != 0) {
            if (r == 2) reported++;
            else if (!strcmp(line, "{\"d\":4}")) got_after = 1;
        }
    }
    TU_CHECK(reported == 1);
    TU_CHECK(got_after);
    TU_CHECK(b.in_cap <= 2 * (size_t)QT_PROTO_LINE_MAX + 262144);
    free(junk);
    /* a JSON message round trip, and EOF */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", "two\nlines");
    TU_CHECK(qt_conn_send(&a, o) == QT_OK);
    cJSON_Delete(o);
    TU_CHECK(qt_conn_flush_wait(&a, 1000, &err) == QT_OK);
    qt_conn_close(&a);
    TU_CHECK(qt_conn_fill(&b, &err) == QT_OK);
    TU_CHECK(qt_conn_line(&b, &line, &len) == 1);
    cJSON *back = cJSON_Parse(line);
    TU_CHECK(back && !strcmp(cJSON_GetObjectItem(back, "text")->valuestring, "two\nlines"));
    cJSON_Delete(back);
    TU_CHECK(b.eof);
    qt_conn_close(&b);
}

int main(void) {
    set_home();
    TU_RUN(test_names);
    TU_RUN(test_history);
    TU_RUN(test_crash_repair);
    TU_RUN(test_variants_jobs_list);
    TU_RUN(test_malformed_meta_recovers);
    TU_RUN(test_reader_during_writes);
    TU_RUN(test_writers_serialize);
    TU_RUN(test_foreign_tree_refused);
    TU_RUN(test_token);
    TU_RUN(test_socket_dir);
    TU_RUN(test_framing);
    return TU_END();
}
