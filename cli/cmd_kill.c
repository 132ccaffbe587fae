/* cmd_kill.c — `qtune kill SESSION [--force]`: stops a session's daemon,
 * asking first when jobs run (on a terminal; elsewhere --force is needed). */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "daemon/client.h"

static const char usage[] = "kill SESSION [--force]";
static const char help[] =
    "usage: qtune kill SESSION [--force]\n"
    "  Stops a session's engine daemon; the session (recipe, history, variants, jobs)\n"
    "  stays on disk for the next qtune attach.  With jobs running or queued it asks\n"
    "  first on a terminal and refuses elsewhere.\n"
    "  --force, -f   cancel running and queued jobs without asking\n";

int qt_cmd_kill(int argc, char **argv) {
    const char *name = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(help, stdout); return 0; }
        if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) force = 1;
        else if (argv[i][0] != '-' && !name) name = argv[i];
        else return cli_usage("kill", usage);
    }
    if (!name) return cli_usage("kill", usage);
    qt_err err;
    struct qt_client *c;
    if (qt_client_connect(name, 0, -1, &c, &err)) return cli_fail(&err);
    int active = 0;
    const cJSON *jobs = cJSON_GetObjectItem(qt_client_hello(c), "jobs"), *j;
    cJSON_ArrayForEach(j, jobs) {
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "state"));
        active += st && (!strcmp(st, "running") || !strcmp(st, "queued"));
    }
    if (active && !force) {
        if (!isatty(0) || !isatty(2)) {
            qt_client_close(c);
            return cli_failf("session %s: %d job%s running or queued (use --force to cancel them)",
                             name, active, active == 1 ? "" : "s");
        }
        fprintf(stderr, "session %s has %d job%s running or queued; cancel and stop the engine? [y/N] ",
                name, active, active == 1 ? "" : "s");
        char ans[16] = "";
        if (!fgets(ans, sizeof ans, stdin) || (ans[0] != 'y' && ans[0] != 'Y')) {
            qt_client_close(c);
            fprintf(stderr, "not stopped\n");
            return 1;
        }
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "shutdown");
    cJSON_AddBoolToObject(req, "force", 1);
    cJSON *res = qt_client_call(c, req, 10000, &err);
    if (!res) { qt_client_close(c); return cli_fail(&err); }
    cJSON_Delete(res);
    /* wait until the daemon has closed the connection (jobs cancelled, socket gone) */
    double t0 = qt_now();
    while (qt_now() - t0 < 30) {
        qt_err e2;
        if (qt_client_pump(c, &e2)) break;
        cJSON *m;
        while ((m = qt_client_next(c))) cJSON_Delete(m);
        struct pollfd p = {.fd = qt_client_fd(c), .events = POLLIN};
        poll(&p, 1, 100);
    }
    qt_client_close(c);
    printf("stopped session %s\n", name);
    return 0;
}
