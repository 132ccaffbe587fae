/* bench_ui.c — `qtune bench ui`: replays 1,000 navigation keys (moves, pages,
 * expanding layers and the 160-expert groups, home/end) on the GLM-4.6
 * metadata model (~45,000 tensors) at 120x40 and times each frame: key
 * handling, drawing the virtual screen, and the curses flush (erase, copy,
 * one doupdate) to /dev/null as TERM=xterm-256color.  Baseline, measured in
 * the same run: a bare frame (erase + doupdate of an empty screen).  The
 * engine runs in-process (--no-daemon) in a scratch QTUNE_HOME, removed
 * afterwards; opening includes resolving the (empty) recipe there. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "app.h"
#include "cli.h"
#include "io/writer.h"
#include "io/outdir.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_ui(const char *path, void **json_out, qt_err *err);

int qt_bench_ui(void **json_out, qt_err *err) {
    const char *root = getenv("QTUNE_ROOT");
    char path[4096], home[] = "/tmp/qtune-bench-ui-XXXXXX";
    snprintf(path, sizeof path, "%s/share/models/meta/GLM-4.6.config.json", root ? root : ".");
    if (!mkdtemp(home)) return qt_err_set(err, "bench ui: %s: cannot create", home);
    const char *old = getenv("QTUNE_HOME");
    char *saved = old ? qt_strdup(old) : NULL;
    setenv("QTUNE_HOME", home, 1);
    int rc = bench_ui(path, json_out, err);
    if (saved) setenv("QTUNE_HOME", saved, 1);
    else unsetenv("QTUNE_HOME");
    free(saved);
    qt_err e2;
    qt_outdir_rmtree(home, &e2);
    return rc;
}

static int bench_ui(const char *path, void **json_out, qt_err *err) {
    const int W = 120, H = 40, N = 1000;
    static const char *cycle[] = {
        "j", "j", "j", "<Enter>", "j", "j", "j", "j", "<Enter>", "j", "<PgDn>", "<PgDn>", "k",
        "<PgUp>", "<Right>", "<Left>", "<End>", "<Home>", "l", "h", "j", "<Enter>", "<PgDn>", "k",
    };
    const int ncyc = (int)(sizeof cycle / sizeof cycle[0]);
    double t0 = qt_now();
    struct src *s;
    if (src_open_daemon(path, NULL, "bench-ui", 1, &s, err) != QT_OK) return QT_ERR;
    double t_open = qt_now() - t0;
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    char why[256];
    struct tui_term *t = out && in ? tui_term_open("xterm-256color", out, in, 0, why, sizeof why) : NULL;
    if (!t) {
        if (out) fclose(out);
        if (in) fclose(in);
        src_close(s);
        return qt_err_set(err, "bench ui: terminal: %s", out && in ? why : "/dev/null");
    }
    tui_term_set_size(t, W, H);
    double t_tree0 = qt_now();
    struct app a;
    if (app_init(&a, s, W, H, 0, err) != QT_OK) {
        tui_term_close(t);
        fclose(out);
        fclose(in);
        src_close(s);
        return QT_ERR;
    }
    double t_tree = qt_now() - t_tree0;
    app_draw(&a);
    tui_term_flush(t, &a.scr, 0);
    double first = qt_now() - t0;
    double *ft = malloc(sizeof(double) * N);      /* (N) full frame times */
    double draw_sum = 0, base_sum = 0;
    int max_vis = 0;
    for (int i = 0; i < N; i++) {
        int k = tui_key_parse(cycle[i % ncyc]);
        double a0 = qt_now();
        app_key(&a, k);
        app_draw(&a);
        double a1 = qt_now();
        tui_term_flush(t, &a.scr, 0);
        double a2 = qt_now();
        ft[i] = a2 - a0;
        draw_sum += a1 - a0;
        if (a.tree.n_vis > max_vis) max_vis = a.tree.n_vis;
    }
    for (int i = 0; i < N; i++) {   /* baseline: bare frames */
        double b0 = qt_now();
        tui_term_flush_bare(t);
        base_sum += qt_now() - b0;
    }
    /* edit keys: '-' and '+' on layer 3's routed experts, each timed from
     * the key to the frame showing the engine's answer (every request
     * answered, then draw and flush) */
    const int NE = 20;
    double ed_sum = 0, ed_max = 0;
    int ed_n = 0, grp = 0;
    for (int i = 1; i < a.tree.n && !grp; i++)
        if (!strcmp(a.tree.nodes[i].target, "re:model\\.layers\\.3\\.mlp\\.experts\\.")) grp = i;
    if (grp) app_select(&a, grp);
    for (int i = 0; grp && i < NE; i++) {
        double e0 = qt_now();
        app_key(&a, i % 2 ? '+' : '-');
        while (s->ops->pending(s) && qt_now() - e0 < 60) {
            int fd = s->ops->fd(s);
            if (fd >= 0) {
                struct pollfd p = {fd, (short)(POLLIN | s->ops->events(s)), 0};
                poll(&p, 1, 100);
            }
            if (s->ops->pump(s) || s->changed) app_source_changed(&a);
        }
        app_draw(&a);
        tui_term_flush(t, &a.scr, 0);
        double e = qt_now() - e0;
        ed_sum += e;
        if (e > ed_max) ed_max = e;
        ed_n++;
        src_tick(s);   /* what the frame wished for goes out after it, as in the loop */
    }
    double sum = 0;
    for (int i = 0; i < N; i++) sum += ft[i];
    qsort(ft, N, sizeof *ft, cmp_double);
    double mean = sum / N * 1e3, base = base_sum / N * 1e3;
    cJSON *d;
    cJSON *j = cli_bench_result("ui", "time per frame, 1,000 navigation keys on GLM-4.6 (120x40)", mean, base, base > 0 ? mean / base : 0, "ms", &d);
    cJSON_AddNumberToObject(d, "frames", N);
    cJSON_AddNumberToObject(d, "p50_ms", ft[N / 2] * 1e3);
    cJSON_AddNumberToObject(d, "p99_ms", ft[N * 99 / 100] * 1e3);
    cJSON_AddNumberToObject(d, "max_ms", ft[N - 1] * 1e3);
    cJSON_AddNumberToObject(d, "draw_only_ms", draw_sum / N * 1e3);
    cJSON_AddNumberToObject(d, "first_frame_ms", first * 1e3);
    cJSON_AddNumberToObject(d, "open_and_resolve_ms", t_open * 1e3);
    cJSON_AddNumberToObject(d, "tree_build_ms", t_tree * 1e3);
    cJSON_AddNumberToObject(d, "edit_keys", ed_n);
    cJSON_AddNumberToObject(d, "edit_key_frame_ms", ed_n ? ed_sum / ed_n * 1e3 : 0);
    cJSON_AddNumberToObject(d, "edit_key_frame_max_ms", ed_max * 1e3);
    cJSON_AddNumberToObject(d, "tensors", s->model->n_tensors);
    cJSON_AddNumberToObject(d, "tree_nodes", a.tree.n);
    cJSON_AddNumberToObject(d, "max_visible_rows", max_vis);
    cJSON_AddNumberToObject(d, "budget_ms", 16);
    cJSON_AddStringToObject(d, "within_budget", ft[N * 99 / 100] * 1e3 < 16 ? "yes (p99)" : "no");
    cJSON_AddStringToObject(d, "baseline_is", "bare erase + doupdate frame");
    free(ft);
    app_free(&a);
    tui_term_close(t);
    fclose(out);
    fclose(in);
    src_close(s);
    *json_out = j;
    return QT_OK;
}
