/* cmd_attach.c — `qtune attach SESSION`: reconnects to a session's engine
 * (starting it when none runs), prints its state and follows its events as
 * text until Ctrl-C.  --raw copies stdin lines to the socket and the
 * daemon's lines to stdout, like `socat - UNIX-CONNECT:SOCK`, and exits once
 * every request line has its reply. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "daemon/client.h"
#include "sessions/session.h"
#include "tuiopen.h"

static const char usage[] = "attach SESSION [--since SEQ] [--no-follow] [--no-start] [--raw]";
static const char help[] =
    "usage: qtune attach SESSION [--since SEQ] [--no-follow] [--no-start] [--raw]\n"
    "  Brings an existing session back: on a terminal the workbench; piped, the session's\n"
    "  state and then its events as text until Ctrl-C.  Starts the session's engine when\n"
    "  none runs; never creates a session (qtune ls lists them).\n"
    "  --since SEQ   replay the events after SEQ first (default: none, only new ones)\n"
    "  --no-follow   print the state (and the replay) and exit\n"
    "  --no-start    fail when no engine runs instead of starting one\n"
    "  --raw         copy stdin lines to the engine and its lines to stdout (the protocol,\n"
    "                docs/protocol.md); exits once every request has its reply\n";

static volatile sig_atomic_t stop;
static void on_int(int sig) { (void)sig; stop = 1; }

static const char *str(const cJSON *o, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
    return s ? s : "";
}
static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_job(const cJSON *j) {
    printf("job %d (%s): %s", (int)num(j, "id"), str(j, "kind"), str(j, "state"));
    if (num(j, "total") > 0) printf(" %.0f/%.0f", num(j, "done"), num(j, "total"));
    if (*str(j, "stage")) printf(" %s", str(j, "stage"));
    if (*str(j, "error")) printf(" — %s", str(j, "error"));
    printf("\n");
}

static void print_event(const cJSON *m) {
    const char *ev = str(m, "event");
    if (!strcmp(ev, "device")) {   /* a live notice: no seq */
        printf("device: %s\n", str(cJSON_GetObjectItem(m, "device"), "summary"));
        return;
    }
    printf("[%.0f] ", num(m, "seq"));
    if (!strcmp(ev, "job")) {
        print_job(cJSON_GetObjectItem(m, "job"));
    } else if (!strcmp(ev, "progress")) {
        printf("job %d: %.0f/%.0f %s  %.3g/s", (int)num(m, "job"), num(m, "done"), num(m, "total"),
               str(m, "stage"), num(m, "rate"));
        if (cJSON_IsNumber(cJSON_GetObjectItem(m, "eta"))) printf("  eta %.0fs", num(m, "eta"));
        printf("\n");
    } else if (!strcmp(ev, "log")) {
        printf("job %d: %s\n", (int)num(m, "job"), str(m, "line"));
    } else if (!strcmp(ev, "recipe")) {
        printf("recipe: version %d\n", (int)num(m, "version"));

    } else {
        char *s = cJSON_PrintUnformatted(m);
        printf("%s\n", s ? s : "");
        free(s);
    }
}

static int raw_mode(const char *name, int start) {
    qt_err err;
    struct qt_client *c;
    if (qt_client_connect(name, QT_CLIENT_RAW | (start ? QT_CLIENT_START : 0), -1, &c, &err)) return cli_fail(&err);
    long sent = 0, replies = 0;
    int in_open = 1, content = 0, rc = 0;
    double last = qt_now();
    char buf[65536];
    while (!stop) {
        struct pollfd p[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN},
                              {.fd = qt_client_fd(c), .events = qt_client_poll_events(c)}};
        if (poll(p, 2, 100) < 0 && errno != EINTR) break;
        if (p[0].revents) {
            ssize_t r = read(0, buf, sizeof buf);
            if (r <= 0) {
                in_open = 0;
                if (content) { sent++; content = 0; if (qt_client_send_raw(c, "\n", 1, &err)) break; }
            } else {
                for (ssize_t i = 0; i < r; i++) {
                    if (buf[i] == '\n') { sent += content; content = 0; }
                    else if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r') content = 1;
                }
                if (qt_client_send_raw(c, buf, (size_t)r, &err)) { rc = cli_fail(&err); break; }
            }
        }
        int gone = qt_client_pump(c, &err) != QT_OK;
        cJSON *m;
        while ((m = qt_client_next(c))) {
            char *s = cJSON_PrintUnformatted(m);
            if (s) { puts(s); free(s); }
            replies += cJSON_GetObjectItem(m, "ok") != NULL;
            cJSON_Delete(m);
            last = qt_now();
        }
        fflush(stdout);
        if (gone) break;
        if (!in_open && replies >= sent) break;
        if (!in_open && qt_now() - last > 10) break;
    }
    qt_client_close(c);
    return rc;
}

int qt_cmd_attach(int argc, char **argv) {
    const char *name = NULL;
    long long since = -1;
    int follow = 1, start = 1, raw = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(help, stdout); return 0; }
        if (!strcmp(argv[i], "--since") && i + 1 < argc) since = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--no-follow")) follow = 0;
        else if (!strcmp(argv[i], "--no-start")) start = 0;
        else if (!strcmp(argv[i], "--raw")) raw = 1;
        else if (argv[i][0] != '-' && !name) name = argv[i];
        else return cli_usage("attach", usage);
    }
    if (!name) return cli_usage("attach", usage);
    /* attach reconnects; it never creates a session (a typo would otherwise
     * start a daemon with no model and leave a phantom in `qtune ls`) */
    if (!qt_session_name_ok(name)) return cli_failf("attach %s: bad session name (qtune ls lists sessions)", name);
    {
        qt_err serr;
        struct qt_session *s;
        if (qt_session_open(name, 0, &s, &serr) != QT_OK) {
            /* a session that is missing says how to see them; one that is
             * refused (a state directory writable by others, another owner,
             * a link) says why */
            char missing[QT_SESSION_NAME_MAX + 32];
            snprintf(missing, sizeof missing, "%s: no such session", name);
            if (strcmp(serr.msg, missing)) return cli_failf("attach %s: %s", name, serr.msg);
            return cli_failf("attach %s: no such session (qtune ls lists sessions)", name);
        }
        qt_session_free(s);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_int;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (raw) return raw_mode(name, start);
    /* On a terminal (or under a key script) attach brings the workbench back;
     * piped, it prints the state and follows events as text. */
    const char *script = getenv("QTUNE_SCRIPT");
    if (qt_tui_open && follow && since < 0 && start &&
        ((isatty(0) && isatty(1)) || (script && *script))) {
        struct tui_opts o = {0};
        return qt_tui_open(NULL, NULL, name, NULL, 0, &o);
    }
    qt_err err;
    struct qt_client *c;
    if (qt_client_connect(name, start ? QT_CLIENT_START : 0, since, &c, &err)) return cli_fail(&err);
    const cJSON *h = qt_client_hello(c);
    printf("session %s  engine pid %d  model %s  recipe v%d  seq %.0f\n", str(h, "session"),
           (int)num(h, "daemon_pid"), *str(h, "model") ? str(h, "model") : "-",
           (int)num(h, "recipe_version"), num(h, "seq"));
    const cJSON *dv = cJSON_GetObjectItem(h, "device");
    if (cJSON_IsObject(dv)) printf("device: %s\n", str(dv, "summary"));
    if (cJSON_IsTrue(cJSON_GetObjectItem(h, "gap"))) printf("(some older events are no longer kept)\n");
    const cJSON *j;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(h, "jobs")) print_job(j);
    fflush(stdout);
    int rc = 0;
    if (!follow) {
        /* replies come in order: once this one is back, so is the replay */
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "op", "session");
        cJSON_Delete(qt_client_call(c, req, 10000, &err));
    }
    for (;;) {
        cJSON *m;
        while ((m = qt_client_next(c))) {
            if (cJSON_GetObjectItem(m, "event")) print_event(m);
            cJSON_Delete(m);
        }
        fflush(stdout);
        if (stop) break;
        if (!follow) break;
        struct pollfd p = {.fd = qt_client_fd(c), .events = qt_client_poll_events(c)};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR) break;
        if (qt_client_pump(c, &err)) {
            while ((m = qt_client_next(c))) {
                if (cJSON_GetObjectItem(m, "event")) print_event(m);
                cJSON_Delete(m);
            }
            printf("engine for session %s has gone\n", name);
            rc = 1;
            break;
        }
    }
    qt_client_close(c);
    return rc;
}
