/* loop.c — the terminal event loop and the script runner. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

static int winch_pipe[2] = {-1, -1};

static void on_winch(int sig) {
    (void)sig;
    int e = errno;
    if (winch_pipe[1] >= 0) (void)!write(winch_pipe[1], "w", 1);
    errno = e;
}

/* Pumps the source until every request is answered or secs have passed. */
static void drain(struct app *a, double secs) {
    struct src *s = a->src;
    double t0 = qt_now();
    while (s->ops->pending(s) && qt_now() - t0 < secs) {
        int fd = s->ops->fd(s);
        if (fd < 0) break;
        struct pollfd p = {fd, (short)(POLLIN | s->ops->events(s)), 0};
        poll(&p, 1, 50);
        s->ops->pump(s);
    }
}

int tui_run(struct src *s, const struct tui_opts *o, qt_err *err) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return qt_err_set(err, "open: not a terminal (QTUNE_SCRIPT=FILE runs a key script; "
                               "qtune inspect prints the model)");
    if (pipe(winch_pipe) != 0) return qt_err_set(err, "open: pipe: %s", strerror(errno));
    for (int k = 0; k < 2; k++) fcntl(winch_pipe[k], F_SETFL, O_NONBLOCK | fcntl(winch_pipe[k], F_GETFL));
    char why[256];
    struct tui_term *t = tui_term_open(NULL, NULL, NULL, o->no_color, why, sizeof why);
    if (!t) {
        close(winch_pipe[0]);
        close(winch_pipe[1]);
        winch_pipe[0] = winch_pipe[1] = -1;
        return qt_err_set(err, "open: %s", why);
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, &old);
    int w, h;
    tui_term_size(t, &w, &h);
    struct app a;
    if (app_init(&a, s, w, h, o->ascii, err) != QT_OK) {
        tui_term_close(t);
        sigaction(SIGWINCH, &old, NULL);
        return QT_ERR;
    }
    app_state_load(&a);
    app_draw(&a);
    tui_term_flush(t, &a.scr, 0);
    src_tick(s);
    while (!a.quit && !a.detach) {
        struct pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0}, {winch_pipe[0], POLLIN, 0},
                                {s->ops->fd(s), (short)(POLLIN | s->ops->events(s)), 0}};
        int nf = fds[2].fd >= 0 ? 3 : 2;
        int pr = poll(fds, (nfds_t)nf, -1);
        if (pr < 0 && errno != EINTR) break;
        if (pr <= 0) continue;
        if (fds[1].revents & POLLIN) {
            char buf[64];
            while (read(winch_pipe[0], buf, sizeof buf) > 0) {}
            tui_term_resized(t);
            tui_term_size(t, &w, &h);
            app_resize(&a, w, h);
            a.repaint = 1;
        }
        if (nf == 3 && fds[2].revents) {
            if (s->ops->pump(s) || s->changed) app_source_changed(&a);
        }
        if (fds[0].revents & POLLIN) {
            int key;
            while (!a.quit && !a.detach && (key = tui_term_key(t)) != 0) app_key(&a, key);
        }
        if (fds[0].revents & (POLLHUP | POLLERR)) break;
        app_draw(&a);
        tui_term_flush(t, &a.scr, a.repaint);
        a.repaint = 0;
        src_tick(s);   /* what this frame wished for (previews of the visible rows) */
    }
    int detach = a.detach;
    app_state_save(&a);
    /* what was asked (a commit just before detaching) must reach the engine */
    drain(&a, 5);
    app_free(&a);
    tui_term_close(t);
    sigaction(SIGWINCH, &old, NULL);
    close(winch_pipe[0]);
    close(winch_pipe[1]);
    winch_pipe[0] = winch_pipe[1] = -1;
    return detach ? TUI_DETACH : TUI_QUIT;
}

static void env_size(int *w, int *h) {
    const char *c = getenv("COLUMNS"), *l = getenv("LINES");
    *w = c && atoi(c) > 0 ? atoi(c) : 80;
    *h = l && atoi(l) > 0 ? atoi(l) : 24;
}

static void pump(struct app *a) {
    struct src *s = a->src;
    if ((s->ops->pump(s) || s->changed)) app_source_changed(a);
}

/* Waits until the engine has answered every request (jobs too with
 * jobs = 1), at most 60 s. */
static int wait_idle(struct app *a, int jobs) {
    struct src *s = a->src;
    double t0 = qt_now();
    for (;;) {
        pump(a);
        app_draw(a);   /* a frame states its wishes (previews of the visible rows) */
        src_tick(s);
        if (jobs ? s->ops->idle(s) : !s->ops->pending(s)) return QT_OK;
        if (qt_now() - t0 > 300) return QT_ERR;   /* generous: script runs happen on loaded machines */
        int fd = s->ops->fd(s);
        if (fd >= 0) {
            struct pollfd p = {fd, (short)(POLLIN | s->ops->events(s)), 0};
            poll(&p, 1, 100);
        } else {
            usleep(10000);
        }
    }
}

int tui_run_script(struct src *s, const struct tui_opts *o, const char *path, qt_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return qt_err_set(err, "%s: %s", path, strerror(errno));
    int w, h;
    env_size(&w, &h);
    struct app a;
    if (app_init(&a, s, w, h, o->ascii, err) != QT_OK) { fclose(f); return QT_ERR; }
    char line[4096];
    int lineno = 0, rc = QT_OK;
    while (rc == QT_OK && !a.quit && !a.detach && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p || *p == '#') continue;
        /* like a person, each line waits for the answers to the one before:
         * screens do not depend on timing */
        if (wait_idle(&a, 0) != QT_OK) {
            rc = qt_err_set(err, "%s:%d: engine did not answer within 60 s", path, lineno);
            break;
        }
        if (!strncmp(p, ":dump ", 6)) {
            app_draw(&a);
            FILE *out = fopen(p + 6, "w");
            if (!out || tui_screen_dump(&a.scr, out) != 0)
                rc = qt_err_set(err, "%s:%d: %s: cannot write", path, lineno, p + 6);
            if (out) fclose(out);
        } else if (!strncmp(p, ":type ", 6)) {
            wchar_t wc;
            mbstate_t ms;
            memset(&ms, 0, sizeof ms);
            const char *q = p + 6;
            size_t left = strlen(q), k;
            while (left && (k = mbrtowc(&wc, q, left, &ms)) > 0 && k <= left) {
                app_key(&a, (int)wc);
                q += k;
                left -= k;
            }
        } else if (!strncmp(p, ":size ", 6)) {
            int nw, nh;
            if (sscanf(p + 6, "%dx%d", &nw, &nh) != 2 || nw < 1 || nh < 1)
                rc = qt_err_set(err, "%s:%d: :size wants WxH", path, lineno);
            else
                app_resize(&a, nw, nh);
        } else if (!strncmp(p, ":trace ", 7)) {
            /* a marker in the client's request trace (QTUNE_CLIENT_TRACE) */
            const char *tr = getenv("QTUNE_CLIENT_TRACE");
            int fd = tr && *tr ? open(tr, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
            char mark[4200];
            int len = snprintf(mark, sizeof mark, "# %s\n", p + 7);
            if (fd >= 0 && write(fd, mark, (size_t)len) != len) rc = qt_err_set(err, "%s:%d: trace: cannot write", path, lineno);
            if (fd >= 0) close(fd);
        } else if (!strcmp(p, ":wait-idle")) {
            if (wait_idle(&a, 1) != QT_OK)
                rc = qt_err_set(err, "%s:%d: engine still busy after 300 s", path, lineno);
        } else if (*p == ':') {
            rc = qt_err_set(err, "%s:%d: unknown command %s", path, lineno, p);
        } else {
            char *save = NULL;
            for (char *tok = strtok_r(p, " \t", &save); tok && !a.quit && !a.detach;
                 tok = strtok_r(NULL, " \t", &save)) {
                int k = tui_key_parse(tok);
                if (!k) { rc = qt_err_set(err, "%s:%d: unknown key %s", path, lineno, tok); break; }
                app_key(&a, k);
            }
        }
    }
    if (rc == QT_OK) wait_idle(&a, 0);
    fclose(f);
    int detach = a.detach;
    app_free(&a);
    if (rc != QT_OK) return QT_ERR;
    return detach ? TUI_DETACH : TUI_QUIT;
}
