/* test_guards.c — the guards of issue 18 that are functions: clamped JSON
 * numbers, UTF-8 validation and sanitizing, terminal escaping, the NUL
 * check of requests, the TUI's cell guard, non-regular files refused
 * without waiting, and `qtune attach` to a socket that some other program
 * serves.  (tui/ is not part of libqtengine: screen.c is included.) */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/unicode.h"
#include "base/yamltree.h"
#include "daemon/proto.h"
#include "tu.h"

#include "screen.c"

static int64_t i64_of(const char *json, int64_t lo, int64_t hi) {
    cJSON *v = cJSON_Parse(json);
    int64_t r = qt_json_i64(v, lo, hi, -7);
    cJSON_Delete(v);
    return r;
}

TU_TEST(test_json_i64_clamps) {
    /* 18.8: (int64_t)1e300 is undefined behaviour; the clamp never casts it */
    TU_CHECK(i64_of("12", 0, 100) == 12);
    TU_CHECK(i64_of("1e300", 0, INT64_MAX) == INT64_MAX);
    TU_CHECK(i64_of("-1e300", 0, INT64_MAX) == 0);
    TU_CHECK(i64_of("9223372036854775807", 0, INT64_MAX) == INT64_MAX);   /* 2^63 as a double */
    TU_CHECK(i64_of("-5", -3, 3) == -3);
    TU_CHECK(i64_of("\"7\"", 0, 9) == -7);   /* not a number: the default */
    TU_CHECK(qt_json_i64(NULL, 0, 9, 4) == 4);
}

TU_TEST(test_utf8) {
    TU_CHECK(qt_utf8_valid("plain \xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80", 17));
    TU_CHECK(!qt_utf8_valid("\xff", 1));
    TU_CHECK(!qt_utf8_valid("\xc0\xaf", 2));           /* overlong '/' */
    TU_CHECK(!qt_utf8_valid("\xed\xa0\x80", 3));       /* a surrogate */
    TU_CHECK(!qt_utf8_valid("\xf4\x90\x80\x80", 4));   /* past U+10FFFF */
    TU_CHECK(!qt_utf8_valid("\xe2\x80", 2));           /* cut short */
    TU_CHECK(qt_utf8_char_len("\xe2\x80", 2) == (size_t)-1);
    size_t n;
    char *s = qt_utf8_sanitize("a\xffz\xc3\xa9", 5, &n);
    TU_CHECK(s && n == 7 && !memcmp(s, "a\xef\xbf\xbdz\xc3\xa9", 7));
    free(s);
}

TU_TEST(test_text_escape) {
    /* 18.7: an OSC title change, a fake "qtune:" line, C1 CSI, a bad byte */
    char out[256];
    qt_text_escape("x\033]0;owned\007\nqtune: fake\xc2\x9b\xff\xc3\xa9", out, sizeof out, 0);
    TU_CHECKF(!strcmp(out, "x\\x1b]0;owned\\x07\\x0aqtune: fake\\u009b\\xff\xc3\xa9"), "%s", out);
    qt_text_escape("a\tb\nc\rd", out, sizeof out, 1);
    TU_CHECK(!strcmp(out, "a\tb\nc\\x0dd"));
    /* truncation never cuts an escape or a character */
    qt_text_escape("ab\033", out, 5, 0);
    TU_CHECK(!strcmp(out, "ab"));
    qt_text_escape("a\xc3\xa9", out, 3, 0);
    TU_CHECK(!strcmp(out, "a"));
}

TU_TEST(test_request_nul) {
    /* 18.7: a \u0000 in a string would cut a recipe short inside cJSON */
    const char *bad = "{\"op\":\"recipe_set\",\"text\":\"a: 1\\u0000b: 2\"}";
    const char *ok1 = "{\"op\":\"recipe_set\",\"text\":\"a\\\\u0000 is text\"}";   /* escaped backslash */
    const char *ok2 = "{\"op\":\"recipe_set\",\"text\":\"\\u00e9\"}";
    TU_CHECK(qt_json_has_nul(bad, strlen(bad)));
    TU_CHECK(!qt_json_has_nul(ok1, strlen(ok1)));
    TU_CHECK(!qt_json_has_nul(ok2, strlen(ok2)));
    TU_CHECK(qt_json_has_nul("{\"a\":\"x\0y\"}", 11));
    /* and what the daemon prints is UTF-8 whatever a name holds */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "bad\xff.weight");
    char *p = qt_json_print(o);
    TU_CHECK(p && qt_utf8_valid(p, strlen(p)) && strstr(p, "bad\xef\xbf\xbd.weight"));
    free(p);
    cJSON_Delete(o);
}

TU_TEST(test_yaml_bounds) {
    /* 18.4: the alias bomb, deep nesting, a NUL scalar, the size bound */
    char bomb[1024] = "a: &a [x,x,x,x,x,x,x,x,x]\n";
    const char *prev = "a";
    static const char *names[] = {"b", "c", "d", "e", "f", "g", "h", "i"};
    for (int i = 0; i < 8; i++) {
        size_t l = strlen(bomb);
        snprintf(bomb + l, sizeof bomb - l, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", names[i], names[i],
                 prev, prev, prev, prev, prev, prev, prev, prev, prev);
        prev = names[i];
    }
    struct qt_yaml *y = NULL;
    qt_err err;
    TU_CHECK(qt_yaml_load(bomb, strlen(bomb), "bomb.yaml", &y, &err) == QT_ERR);
    TU_CHECKF(strstr(err.msg, "aliases expand to more than"), "%s", err.msg);
    char deep[2100];
    for (int i = 0; i < 1000; i++) { deep[i] = '['; deep[1000 + i] = ']'; }
    deep[2000] = 0;
    TU_CHECK(qt_yaml_load(deep, 2000, "deep.yaml", &y, &err) == QT_ERR && strstr(err.msg, "nested deeper"));
    const char *nul = "a: \"x\\0y\"\n";
    TU_CHECK(qt_yaml_load(nul, strlen(nul), "nul.yaml", &y, &err) == QT_ERR && strstr(err.msg, "NUL"));
    const char *nulkey = "\"k\\0\": 1\n";
    TU_CHECK(qt_yaml_load(nulkey, strlen(nulkey), "nul.yaml", &y, &err) == QT_ERR && strstr(err.msg, "NUL"));
    TU_CHECK(qt_yaml_load("a: 1", QT_YAML_MAX_BYTES + 1, "big.yaml", &y, &err) == QT_ERR &&
             strstr(err.msg, "more than"));
    /* a modest use of aliases still works */
    const char *ok = "base: &b {scheme: W4A16}\nuse: *b\n";
    TU_CHECK(qt_yaml_load(ok, strlen(ok), "ok.yaml", &y, &err) == QT_OK);
    qt_yaml_free(y);
}

TU_TEST(test_fifo_refused) {
    /* 18.6: opening a FIFO for reading would wait for a writer forever */
    const char *dir = tu_tmpdir("test_guards");
    char p[4200];
    snprintf(p, sizeof p, "%s/fifo", dir);
    TU_CHECK(mkfifo(p, 0600) == 0);
    qt_err err;
    size_t len;
    TU_CHECK(qt_read_file(p, &len, &err) == NULL && strstr(err.msg, "not a regular file (a FIFO)"));
    TU_CHECK(qt_open_regular(dir, 0, NULL, &err) < 0 && strstr(err.msg, "a directory"));
    char l[4200];
    snprintf(l, sizeof l, "%s/link", dir);
    TU_CHECK(symlink(p, l) == 0);
    TU_CHECK(qt_open_regular(l, O_NOFOLLOW, NULL, &err) < 0 && strstr(err.msg, "symbolic link"));
    TU_CHECK(qt_read_file_ex("/etc/passwd", &len, 4, 0, &err) == NULL && strstr(err.msg, "more than the 4"));
}

TU_TEST(test_write_past_ulimit) {
    /* 18.6: past ulimit -f a save is an error message, not SIGXFSZ */
    const char *dir = tu_tmpdir("test_guards_fsz");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        char p[4200], *big = calloc(1, 100000);
        snprintf(p, sizeof p, "%s/big", dir);
        qt_err err;
        int rc = qt_write_file_atomic(p, big, 100000, &err);
        _exit(rc == QT_ERR && strstr(err.msg, "File too large") && access(p, F_OK) != 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    TU_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q tmp-", dir);
    TU_CHECK(system(cmd) != 0);   /* the temp file is gone too */
}

TU_TEST(test_tui_cells_guarded) {
    /* 18.7: the TUI draws cells, never bytes: controls become '?' */
    setlocale(LC_ALL, "C.UTF-8");
    struct tui_screen s;
    TU_CHECK(tui_screen_init(&s, 40, 2, 0) == 0);
    tui_puts(&s, NULL, 0, 0, -1, TS_NORMAL, "a\033]0;x\007\n\xc2\x9b\xff" "b");
    for (int x = 0; x < 40; x++) {
        wchar_t c = s.cells[x].ch;
        TU_CHECK(c >= 32 && c != 127 && !(c >= 0x80 && c < 0xa0));
    }
    TU_CHECK(s.cells[0].ch == L'a' && s.cells[1].ch == L'?' && s.cells[2].ch == L']');
    tui_screen_free(&s);
}

/* A server on the session's socket that is not a qtune daemon: it answers
 * mode 0 garbage, 1 an echo of the request, 2 nothing and closes. */
static pid_t fake_server(const char *sock, int mode) {
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%.100s", sock);
    unlink(sock);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 4) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);   /* bounded: never outlives the test */
        int fd = accept(ls, NULL, NULL);
        char buf[4096];
        ssize_t r = read(fd, buf, sizeof buf);
        if (mode == 0 && write(fd, "SSH-2.0-OpenSSH_9.2\r\n{\"id\":1}\n", 31) < 0) _exit(1);
        if (mode == 1 && r > 0 && write(fd, buf, (size_t)r) < 0) _exit(1);
        close(fd);
        _exit(0);
    }
    close(ls);
    return pid;
}

TU_TEST(test_attach_not_a_daemon) {
    /* 18.8: attach to a socket some other program serves: says so, exits 1 */
    const char *bin = getenv("QTUNE_BIN");
    if (!bin) bin = "build/qtune";
    char qb[4200], rt[4200], sock[4300], cmd[9000];
    snprintf(qb, sizeof qb, "%s", bin[0] == '/' ? bin : tu_path(bin));
    snprintf(rt, sizeof rt, "%s", tu_tmpdir("test_guards_rt"));
    setenv("XDG_RUNTIME_DIR", rt, 1);
    setenv("QTUNE_HOME", rt, 1);
    chmod(rt, 0700);
    snprintf(sock, sizeof sock, "%s/qtune", rt);
    mkdir(sock, 0700);
    snprintf(sock, sizeof sock, "%s/sessions", rt);   /* attach reconnects to a session that exists */
    mkdir(sock, 0700);
    snprintf(sock, sizeof sock, "%s/sessions/imp", rt);
    mkdir(sock, 0700);
    snprintf(sock, sizeof sock, "%s/qtune/imp.sock", rt);
    for (int mode = 0; mode < 3; mode++) {
        pid_t srv = fake_server(sock, mode);
        TU_CHECK(srv > 0);
        snprintf(cmd, sizeof cmd, "'%s' attach imp --no-start --no-follow >/dev/null 2>'%s/err'", qb, rt);
        int rc = system(cmd);
        TU_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "mode %d: rc %d", mode, rc);
        snprintf(cmd, sizeof cmd, "grep -q 'qtune: session imp: what serves the socket is not a qtune engine daemon' '%s/err'", rt);
        TU_CHECKF(system(cmd) == 0, "mode %d", mode);
        kill(srv, SIGKILL);
        waitpid(srv, NULL, 0);
    }
    unlink(sock);
}

int main(void) {
    TU_RUN(test_json_i64_clamps);
    TU_RUN(test_utf8);
    TU_RUN(test_text_escape);
    TU_RUN(test_request_nul);
    TU_RUN(test_yaml_bounds);
    TU_RUN(test_fifo_refused);
    TU_RUN(test_write_past_ulimit);
    TU_RUN(test_tui_cells_guarded);
    TU_RUN(test_attach_not_a_daemon);
    return TU_END();
}
