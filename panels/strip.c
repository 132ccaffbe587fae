/* strip.c — the layer strip: the whole model on one screen.  One row per
 * component kind (attention, router, shared expert, routed experts, dense
 * MLP), one cell per layer (several layers per cell when the screen is
 * narrower than the model is deep), the scheme of each cell as a letter and,
 * below it, a heat cell of its err% (the engine's previews) or its dKL (the
 * last sensitivity scan), so that a 92-layer model's weak layers stand out.
 * h/l move along the layers, j/k across the kinds, m switches the metric,
 * Enter shows the part in the tree. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

enum { K_ATTN, K_ROUTER, K_SHARED, K_EXPERTS, K_MLP, K_N };
static const char *kind_name[K_N] = {"attention", "router", "shared expert", "routed experts", "dense MLP"};
static const char *kind_label[K_N] = {"attention", "router", "shared expert", "routed experts", "mlp"};

#define MAX_LAYERS 512
#define LABEL_W 16

struct strip {
    int n;                        /* layers */
    int layer[MAX_LAYERS];        /* (n) layer numbers */
    int node[MAX_LAYERS][K_N];    /* (n, K_N) tree node of each part, -1 when the layer has none */
    int present[K_N];             /* 1: some layer has this part */
};

static void build(const struct app *a, struct strip *S) {
    memset(S, 0, sizeof *S);
    const struct mtree *t = &a->tree;
    for (int i = t->nodes[0].first_child; i > 0 && S->n < MAX_LAYERS; i = t->nodes[i].next) {
        if (strncmp(t->nodes[i].label, "layer ", 6)) continue;
        int L = S->n++;
        S->layer[L] = 0;
        sscanf(t->nodes[i].label + 6, "%d", &S->layer[L]);
        for (int k = 0; k < K_N; k++) S->node[L][k] = -1;
        for (int c = t->nodes[i].first_child; c > 0; c = t->nodes[c].next)
            for (int k = 0; k < K_N; k++)
                if (!strncmp(t->nodes[c].label, kind_label[k], strlen(kind_label[k])) &&
                    (k != K_MLP || !strcmp(t->nodes[c].label, "mlp"))) {
                    S->node[L][k] = c;
                    S->present[k] = 1;
                }
    }
}

/* One letter per scheme: . bf16, 2..8 int bits, F fp8, N nvfp4, M mxfp4,
 * * when the members differ; a GGUF type by its bits (Q4_K, IQ4_XS: 4). */
static char scheme_char(const char *sc) {
    if (!sc) return '*';
    if (wg_scheme_kept(sc)) return '.';
    if (sc[0] == 'Q' && sc[1] >= '1' && sc[1] <= '8') return sc[1];
    if (sc[0] == 'I' && sc[1] == 'Q' && sc[2] >= '1' && sc[2] <= '8') return sc[2];
    if (!strncmp(sc, "int", 3) && sc[3] >= '1' && sc[3] <= '8') return sc[3];
    if (!strncmp(sc, "fp8", 3)) return 'F';
    if (!strncmp(sc, "nvfp4", 5)) return 'N';
    if (!strncmp(sc, "mxfp4", 5)) return 'M';
    return '?';
}

/* The metric of a part: err (relative RMS) or dKL; NAN when unknown. */
static double metric(struct app *a, int node) {
    if (node < 0) return NAN;
    if (a->strip_metric == 1) {
        double d;
        return app_node_dkl(a, node, &d) ? d : NAN;
    }
    double e = panel_tree_error(a, node, 1);
    if (e < 0) e = panel_tree_error(a, node, 0);   /* big groups: from the previews in hand */
    return e >= 0 ? e : NAN;
}

static int per_cell(const struct strip *S, int cells) { return cells > 0 && S->n > cells ? (S->n + cells - 1) / cells : 1; }

static int first_kind(const struct strip *S, int from, int dir) {
    for (int k = from; k >= 0 && k < K_N; k += dir)
        if (S->present[k]) return k;
    return -1;
}

static struct strip S_;

static void strip_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    struct strip *S = &S_;
    build(a, S);
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    tui_printf(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "layer strip: heat = %s (m: %s)   h/l j/k move   Enter: tree   Esc close",
               a->strip_metric ? "dKL" : "err%", a->strip_metric ? "err%" : "dKL");
    if (!S->n) { tui_puts(s, r, r->x + 2, r->y + 2, -1, TS_DIM, "(no decoder layers)"); return; }
    int cells = r->w - LABEL_W - 2, per = per_cell(S, cells), nc = (S->n + per - 1) / per;
    if (a->strip_layer >= S->n) a->strip_layer = S->n - 1;
    if (a->strip_layer < 0) a->strip_layer = 0;
    if (!S->present[a->strip_kind]) a->strip_kind = first_kind(S, 0, 1) < 0 ? 0 : first_kind(S, 0, 1);
    int x0 = r->x + LABEL_W + 1, y = r->y + 2;
    /* ruler: a layer number every 10 cells */
    tui_printf(s, r, r->x + 1, y, LABEL_W - 1, TS_DIM, per > 1 ? "layer (%d/cell)" : "layer", per);
    for (int c = 0; c < nc; c += 10) {
        char b[16];
        snprintf(b, sizeof b, "%d", S->layer[c * per]);
        if (c + (int)strlen(b) <= nc + 4) tui_puts(s, r, x0 + c, y, -1, TS_DIM, b);
    }
    y++;
    /* the metric's scale: err% as the tree's heat; dKL relative to the largest */
    double vmax = 0;
    static double val[K_N][MAX_LAYERS];
    for (int k = 0; k < K_N; k++)
        for (int c = 0; c < nc; c++) {
            double worst = NAN;
            for (int L = c * per; L < (c + 1) * per && L < S->n; L++) {
                double v = metric(a, S->node[L][k]);
                if (!isnan(v) && (isnan(worst) || v > worst)) worst = v;
            }
            val[k][c] = worst;
            if (!isnan(worst) && worst > vmax) vmax = worst;
        }
    int sel_c = a->strip_layer / per;
    for (int k = 0; k < K_N; k++) {
        if (!S->present[k]) continue;
        int any = 0;
        for (int c = 0; c < nc; c++) any |= !isnan(val[k][c]);
        tui_puts(s, r, r->x + 1, y, LABEL_W - 1, k == a->strip_kind ? TS_TITLE : TS_NORMAL, kind_name[k]);
        for (int c = 0; c < nc; c++) {
            char ch = 0;
            for (int L = c * per; L < (c + 1) * per && L < S->n; L++) {
                int nd = S->node[L][k];
                if (nd < 0) continue;
                char x = scheme_char(a->tree.nodes[nd].scheme);
                ch = !ch ? x : ch == x ? ch : '*';
            }
            enum tui_style st = !ch ? TS_DIM : ch == '.' ? TS_KEPT : ch == '*' ? TS_MIXED : TS_QUANT;
            tui_putc(s, r, x0 + c, y, st, ch ? (wchar_t)ch : L' ');
            if (any && !isnan(val[k][c])) {
                double v = val[k][c];
                int lv = a->strip_metric ? (v >= 0.75 * vmax ? 4 : v >= 0.5 * vmax ? 3 : v >= 0.25 * vmax ? 2 : v >= 0.05 * vmax ? 1 : 0)
                                         : wg_heat(v);
                tui_putc(s, r, x0 + c, y + 1, (enum tui_style)(TS_HEAT0 + lv), a->g->heat_levels[lv]);
            }
        }
        if (k == a->strip_kind) {
            tui_restyle(s, x0 + sel_c, y, 1, TS_CURSOR);
            if (any) tui_restyle(s, x0 + sel_c, y + 1, 1, TS_CURSOR);
        }
        if (any) tui_puts(s, r, r->x + 3, y + 1, LABEL_W - 3, TS_DIM, a->strip_metric ? "dKL" : "err%");
        y += any ? 2 : 1;
    }
    y++;
    tui_puts(s, r, r->x + 1, y++, r->w - 1, TS_DIM,
             "scheme  . bf16  8 4 3 2 int bits  F fp8  N nvfp4  M mxfp4  * mixed");
    char legend[160];
    const wchar_t *h = a->g->heat_levels;
    if (a->strip_metric)
        snprintf(legend, sizeof legend, "heat    %lc <5%%  %lc <25%%  %lc <50%%  %lc <75%%  %lc >=75%% of the largest dKL (%.4f)",
                 (wint_t)h[0], (wint_t)h[1], (wint_t)h[2], (wint_t)h[3], (wint_t)h[4], vmax);
    else
        snprintf(legend, sizeof legend, "heat    %lc <1%%  %lc <3%%  %lc <6%%  %lc <12%%  %lc >=12%% relative RMS error",
                 (wint_t)h[0], (wint_t)h[1], (wint_t)h[2], (wint_t)h[3], (wint_t)h[4]);
    tui_puts(s, r, r->x + 1, y++, r->w - 1, TS_DIM, legend);
    y++;
    /* the selected part */
    int L = a->strip_layer, nd = S->node[L][a->strip_kind];
    char line[400], b1[32], b2[32];
    if (nd < 0) {
        snprintf(line, sizeof line, "layer %d: no %s", S->layer[L], kind_name[a->strip_kind]);
    } else {
        const struct mt_node *n = &a->tree.nodes[nd];
        int len = snprintf(line, sizeof line, "layer %d  %s  %s  %s -> %s", S->layer[L], n->label,
                           n->scheme ? n->scheme : "mixed", wg_count(n->params, b1, sizeof b1),
                           wg_bytes(n->bytes_after, b2, sizeof b2));
        double e = panel_tree_error(a, nd, 1), d;
        if (e >= 0) len += snprintf(line + len, sizeof line - (size_t)len, "  err %.2f%%", 100 * e);
        if (app_node_dkl(a, nd, &d)) snprintf(line + len, sizeof line - (size_t)len, "  dKL %.4f", d);
    }
    tui_puts(s, r, r->x + 1, y, r->w - 1, TS_NORMAL, line);
}

static void strip_show(struct app *a) {
    struct strip *S = &S_;
    build(a, S);
    if (!S->n) return;
    int nd = S->node[a->strip_layer < S->n ? a->strip_layer : 0][a->strip_kind];
    if (nd < 0) { app_msg(a, TS_WARN, "layer %d has no %s", S->layer[a->strip_layer], kind_name[a->strip_kind]); return; }
    a->full = NULL;
    a->focus_side = 0;
    app_select(a, nd);
    app_msg(a, TS_INFO, "layer %d %s", S->layer[a->strip_layer], a->tree.nodes[nd].label);
}

static int strip_key(struct app *a, enum tui_action act, int key) {
    struct strip *S = &S_;
    build(a, S);
    int cells = a->lay.body.w - LABEL_W - 2, per = per_cell(S, cells), k;
    switch (act) {
    case TA_COLLAPSE: a->strip_layer -= per; break;
    case TA_EXPAND:
        if (key == TK_ENTER) { strip_show(a); return 1; }
        a->strip_layer += per;
        break;
    case TA_PGUP: a->strip_layer -= 10 * per; break;
    case TA_PGDN: a->strip_layer += 10 * per; break;
    case TA_HOME: a->strip_layer = 0; break;
    case TA_END: a->strip_layer = S->n - 1; break;
    case TA_DOWN: if ((k = first_kind(S, a->strip_kind + 1, 1)) >= 0) a->strip_kind = k; break;
    case TA_UP: if ((k = first_kind(S, a->strip_kind - 1, -1)) >= 0) a->strip_kind = k; break;
    case TA_METRIC:
        a->strip_metric = !a->strip_metric;
        if (a->strip_metric && !a->src->jobs.n_dkl) app_msg(a, TS_WARN, "no dKL yet: e runs a sensitivity scan");
        break;
    default: return 0;
    }
    if (a->strip_layer >= S->n) a->strip_layer = S->n - 1;
    if (a->strip_layer < 0) a->strip_layer = 0;
    return 1;
}

int panel_strip_mouse(struct app *a, int kind, int x, int y) {
    if (kind != TM_CLICK) return 0;
    struct strip *S = &S_;
    build(a, S);
    const struct tui_rect *r = &a->lay.body;
    int cells = r->w - LABEL_W - 2, per = per_cell(S, cells), nc = (S->n + per - 1) / per;
    int c = x - (r->x + LABEL_W + 1);
    if (c < 0 || c >= nc) return 1;
    /* the row: walk the kinds as drawn */
    int yy = r->y + 3;
    for (int k = 0; k < K_N; k++) {
        if (!S->present[k]) continue;
        int any = 0;
        for (int L = 0; L < S->n && !any; L++) any = !isnan(metric(a, S->node[L][k]));
        int rows = any ? 2 : 1;
        if (y >= yy && y < yy + rows) {
            int same = a->strip_kind == k && a->strip_layer / per == c;
            a->strip_kind = k;
            a->strip_layer = c * per < S->n ? c * per : S->n - 1;
            if (same) strip_show(a);   /* a second click on the cell: the tree */
            return 1;
        }
        yy += rows;
    }
    return 1;
}

const struct panel_ops panel_strip = {
    .name = "strip", .title = "layer strip", .draw = strip_draw, .key = strip_key,
};
