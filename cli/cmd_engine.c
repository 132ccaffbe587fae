/* cmd_engine.c — `qtune engine --session NAME [--foreground]`: runs the
 * session's engine daemon (docs/protocol.md).  Without --foreground it
 * detaches and returns once the socket accepts connections. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "backend/select.h"
#include "daemon/daemon.h"

static const char usage[] = "engine --session NAME [--foreground]";

int qt_cmd_engine(int argc, char **argv) {
    const char *name = NULL;
    int fg = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_help(usage);
        if ((!strcmp(argv[i], "--session") || !strcmp(argv[i], "-s")) && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--foreground") || !strcmp(argv[i], "-f")) fg = 1;
        else return cli_usage("engine", usage);
    }
    if (!name) return cli_usage("engine", usage);
    qt_err err;
    struct qt_daemon *d;
    if (qt_daemon_new(name, 1, &d, &err)) return cli_fail(&err);
    if (!fg) {
        int parent = 0;
        if (qt_daemon_detach(d, &parent, &err)) {
            if (parent) qt_daemon_forget(d);
            else qt_daemon_free(d);
            return cli_fail(&err);
        }
        if (parent) { qt_daemon_forget(d); return 0; }
    } else {
        qt_daemon_log_to_stderr(d, 1);
        fprintf(stderr, "qtune: engine for session %s on %s\n", name, qt_daemon_socket_path(d));
    }
    /* jobs run in forked workers: they, not the daemon, open the GPU */
    qt_backend_gpu_in_children_only();
    int rc = qt_daemon_run(d, 1, &err);
    qt_daemon_free(d);
    return rc ? cli_fail(&err) : 0;
}
