/* cmd_open.c — `qtune [open] MODEL [-r RECIPE] [-s SESSION] [--ascii]
 * [--no-color] [--no-daemon]`: the workbench.  With QTUNE_SCRIPT=FILE the
 * keys come from FILE and the screen is virtual (see tui/loop.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "loop.h"
#include "source.h"
#include "tuiopen.h"

static const char usage[] =
    "[open] MODEL [-r RECIPE] [-s SESSION] [--calib FILE] [--ascii] [--no-color] [--no-daemon]\n"
    "  -r RECIPE     start from this recipe (w writes it back)\n"
    "  -s SESSION    session name\n"
    "  --calib FILE  run calibration statistics over FILE (a calib job; S runs them later):\n"
    "                the detail panel then shows the calibration-weighted error\n"
    "  --ascii       ASCII glyphs only (also chosen when the locale is not UTF-8)\n"
    "  --no-color    monochrome (also when NO_COLOR is set or the terminal has no colors)\n"
    "  --no-daemon   run the engine in this process (no detach)\n"
    "  QTUNE_SCRIPT=FILE runs a key script on a virtual screen (golden tests)";

int qt_tui_open(const char *model, const char *recipe, const char *session, const char *calib, int inproc,
                const struct tui_opts *o) {
    qt_err err = {{0}};
    struct src *s;
    cli_unfilter_output();   /* curses writes the terminal itself; cells are guarded in tui/ */
    const char *script = getenv("QTUNE_SCRIPT");
    int scripted = script && *script;
    if (!scripted && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
        return cli_failf("open: not a terminal (QTUNE_SCRIPT=FILE runs a key script; "
                         "qtune inspect prints the model)");
    if (calib && access(calib, R_OK) != 0) return cli_failf("open: --calib: %s: %s", calib, strerror(errno));
    if (src_open_daemon(model, recipe, session, inproc, &s, &err) != QT_OK) return cli_fail(&err);
    if (calib && (!s->ops->calib_submit || s->ops->calib_submit(s, calib, &err) != QT_OK)) {
        if (!s->ops->calib_submit) qt_err_set(&err, "no calib jobs in this engine");
        src_close(s);
        return cli_failf("open: --calib: %s", err.msg);
    }
    int rc = scripted ? tui_run_script(s, o, script, &err) : tui_run(s, o, &err);
    if (rc == TUI_DETACH) {
        printf("detached: session %s keeps running (qtune attach %s)\n", s->session, s->session);
    } else if (rc == TUI_QUIT && !inproc) {
        int busy = src_shutdown_idle(s);
        if (busy && s->idle_grace >= 0)
            printf("session %s keeps running %d job%s (qtune attach %s); its engine stops %.0f s after the last one "
                   "unless a client attaches\n",
                   s->session, busy, busy == 1 ? "" : "s", s->session, s->idle_grace);
        else if (busy)
            printf("session %s keeps running %d job%s (qtune attach %s; qtune kill %s stops it)\n", s->session, busy,
                   busy == 1 ? "" : "s", s->session, s->session);
    }
    src_close(s);
    if (rc == QT_ERR) return cli_fail(&err);
    return 0;
}

int qt_cmd_open(int argc, char **argv) {
    const char *model = NULL, *recipe = NULL, *session = NULL, *calib = NULL;
    struct tui_opts o = {0};
    int inproc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) { printf("usage: qtune %s\n", usage); return 0; }
        if (!strcmp(a, "-r") && i + 1 < argc) recipe = argv[++i];
        else if (!strcmp(a, "-s") && i + 1 < argc) session = argv[++i];
        else if (!strcmp(a, "--calib") && i + 1 < argc) calib = argv[++i];
        else if (!strcmp(a, "--ascii")) o.ascii = 1;
        else if (!strcmp(a, "--no-color")) o.no_color = 1;
        else if (!strcmp(a, "--no-daemon")) inproc = 1;
        else if (a[0] == '-') return cli_failf("open: unknown option %s", a);
        else if (!model) model = a;
        else return cli_failf("open: unexpected argument %s", a);
    }
    if (!model && !session) return cli_usage("open", usage);
    return qt_tui_open(model, recipe, session, calib, inproc, &o);
}
