/* tree.c — the model tree panel: embeddings, layers and their parts, routed
 * experts as a collapsible group, lm_head; columns params, scheme, bytes
 * after, bits per weight. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

enum { C_NAME, C_PARAMS, C_HEAT, C_SCHEME, C_BYTES, C_BPW, C_ERR, C_DKL, C_N };

static const struct wg_col cols_tpl[C_N] = {
    [C_NAME] = {"name", 0, 0, 0, 0, 0, 0},
    [C_PARAMS] = {"params", 7, 1, 3, 0, 0, 0},
    [C_HEAT] = {"", 1, 0, 0, 0, 0, 0},
    [C_SCHEME] = {"scheme", 14, 0, 0, 0, 0, 0},
    [C_BYTES] = {"after", 6, 1, 2, 0, 0, 0},
    [C_BPW] = {"bpw", 5, 1, 4, 0, 0, 0},
    [C_ERR] = {"err%", 5, 1, 1, 0, 0, 0},
    [C_DKL] = {"dKL", 7, 1, 2, 0, 0, 0},
};

/* Relative RMS error of a node under the current recipe from the previews:
 * a tensor's own, or for a group the parameter-weighted RMS of its members
 * (kept members count as exact).  Wishes for what is missing; returns -1
 * while incomplete, -2 when there is nothing to show. */
static double node_error(struct app *a, const struct mt_node *n) {
    struct src *s = a->src;
    if (!n->n_quantized) return -2;
    if (n->n_members > 64) return -2;   /* big groups: ask for the rows, not the layers */
    double acc = 0, params = 0;
    int missing = 0;
    for (int k = 0; k < n->n_members; k++) {
        int ti = a->tree.members[n->first_member + k];
        double p = (double)qt_tensor_numel(&s->model->tensors[ti]);
        params += p;
        if (!s->resol.cur.t[ti].quantized) continue;
        const struct src_prev *e = src_preview_get(s, ti, s->resol.cur.t[ti].scheme);
        if (!e || e->state == PV_NONE || e->state == PV_PENDING) {
            src_preview_want(s, ti, s->resol.cur.t[ti].scheme);
            missing = 1;
            continue;
        }
        if (e->state == PV_ERROR) return -2;
        acc += p * e->rel_rmse * e->rel_rmse;
    }
    if (missing) return -1;
    return params > 0 ? sqrt(acc / params) : -2;
}

static int body_h(const struct tui_rect *r) { return r->h - 1; }   /* minus the header */

static void tree_draw(struct app *a, const struct tui_rect *r, int focused) {
    struct tui_screen *s = &a->scr;
    const struct mtree *t = &a->tree;
    struct wg_col c[C_N];
    memcpy(c, cols_tpl, sizeof c);
    int prev = (a->src->caps & SRC_CAP_PREVIEW) != 0;
    c[C_HEAT].absent = c[C_ERR].absent = !prev;
    c[C_DKL].absent = a->src->jobs.n_dkl == 0;   /* after a sensitivity scan (e) */
    wg_cols_fit(c, C_N, r->w - 2);
    for (int i = 0; i < C_N; i++) c[i].x += 2;   /* cursor and mark columns */
    wg_cols_header(s, r, r->y, c, C_N);
    wg_list_fix(&a->tree_l, t->n_vis, body_h(r));
    char b[64];
    for (int row = 0; row < body_h(r); row++) {
        int k = a->tree_l.top + row;
        if (k >= t->n_vis) break;
        int y = r->y + 1 + row;
        int i = t->vis[k];
        const struct mt_node *n = &t->nodes[i];
        int sel = k == a->tree_l.cur;
        if (sel) tui_putc(s, r, r->x, y, TS_CURSOR, a->g->cursor);
        if (n->marked) tui_putc(s, r, r->x + 1, y, TS_MARK, a->g->mark);
        /* name: indent, expander, label */
        char name[320];
        int ind = n->depth * 2;
        if (ind > 40) ind = 40;
        int x = r->x + c[C_NAME].x + ind;
        int nw = (c[C_NAME].width < 0 ? -c[C_NAME].width : c[C_NAME].width) - ind;
        wchar_t ex = mt_has_children(t, i) ? (n->expanded ? a->g->tree_open : a->g->tree_closed)
                                           : a->g->tree_leaf;
        if (nw > 2) {
            tui_putc(s, r, x, y, mt_has_children(t, i) ? TS_TITLE : TS_DIM, ex);
            tui_strcpy(name, sizeof name, n->label);
            tui_puts(s, r, x + 2, y, nw - 2, TS_NORMAL, name);
        }
        wg_cell(s, r, y, &c[C_PARAMS], TS_NORMAL, wg_count(n->params, b, sizeof b));
        const char *sc = n->scheme ? n->scheme : "mixed";
        enum tui_style st = !n->scheme ? TS_MIXED : !strcmp(sc, "bf16") ? TS_KEPT : TS_QUANT;
        wg_cell(s, r, y, &c[C_SCHEME], st, sc);
        wg_cell(s, r, y, &c[C_BYTES], TS_NORMAL, wg_bytes_short(n->bytes_after, b, sizeof b));
        if (n->params) snprintf(b, sizeof b, "%.2f", 8.0 * (double)n->bytes_after / (double)n->params);
        else snprintf(b, sizeof b, "-");
        wg_cell(s, r, y, &c[C_BPW], TS_NORMAL, b);
        if (prev) {
            double e = node_error(a, n);
            if (e >= 0) {
                int lv = wg_heat(e);
                snprintf(b, sizeof b, "%.2f", 100 * e);
                wg_cell(s, r, y, &c[C_ERR], TS_NORMAL, b);
                if (c[C_HEAT].shown)
                    tui_putc(s, r, r->x + c[C_HEAT].x, y, (enum tui_style)(TS_HEAT0 + lv), a->g->heat_levels[lv]);
            } else if (e == -1) {
                wg_cell(s, r, y, &c[C_ERR], TS_DIM, "...");
            }
        }
        double dkl;
        if (c[C_DKL].shown && app_node_dkl(a, i, &dkl)) {
            snprintf(b, sizeof b, "%.4f", dkl);
            wg_cell(s, r, y, &c[C_DKL], TS_NORMAL, b);
        }
        if (sel) tui_restyle(s, r->x + 1, y, r->w - 1, focused ? TS_CURSOR : TS_CURSOR_DIM);
    }
    if (t->n_vis == 0) tui_puts(s, r, r->x + 2, r->y + 1, r->w - 2, TS_DIM, "(no weights)");
}

static void toggle(struct app *a, int i, int open) {
    a->tree.nodes[i].expanded = open;
    mt_visible(&a->tree);
    int k = mt_vis_index(&a->tree, i);
    if (k >= 0) a->tree_l.cur = k;
}

static int tree_key(struct app *a, enum tui_action act, int key) {
    (void)key;
    struct mtree *t = &a->tree;
    int h = body_h(&a->lay.tree);
    int i = app_selected(a);
    switch (act) {
    case TA_DOWN: wg_list_move(&a->tree_l, 1, t->n_vis, h); return 1;
    case TA_UP: wg_list_move(&a->tree_l, -1, t->n_vis, h); return 1;
    case TA_PGDN: wg_list_move(&a->tree_l, h - 1, t->n_vis, h); return 1;
    case TA_PGUP: wg_list_move(&a->tree_l, -(h - 1), t->n_vis, h); return 1;
    case TA_HOME: wg_list_move(&a->tree_l, INT_MIN, t->n_vis, h); return 1;
    case TA_END: wg_list_move(&a->tree_l, INT_MAX, t->n_vis, h); return 1;
    case TA_EXPAND:
        if (!i || !mt_has_children(t, i)) return 1;
        if (key == TK_ENTER) toggle(a, i, !t->nodes[i].expanded);
        else if (!t->nodes[i].expanded) toggle(a, i, 1);
        else wg_list_move(&a->tree_l, 1, t->n_vis, h);
        return 1;
    case TA_COLLAPSE:
        if (!i) return 1;
        if (t->nodes[i].expanded) toggle(a, i, 0);
        else if (t->nodes[i].parent > 0) app_select(a, t->nodes[i].parent);
        return 1;
    case TA_MARK:
        if (!i) return 1;
        t->nodes[i].marked = !t->nodes[i].marked;
        t->n_marked += t->nodes[i].marked ? 1 : -1;
        app_msg(a, TS_INFO, "%d marked (edits apply to marked nodes; Esc clears)", t->n_marked);
        wg_list_move(&a->tree_l, 1, t->n_vis, h);
        return 1;
    default:
        return 0;
    }
}

static void tree_resize(struct app *a, const struct tui_rect *r) {
    wg_list_fix(&a->tree_l, a->tree.n_vis, body_h(r));
}

static int ci_contains(const char *hay, const char *needle) { return strcasestr(hay, needle) != NULL; }

static int tree_search(struct app *a, const char *text, int dir) {
    const struct mtree *t = &a->tree;
    int start = app_selected(a);
    if (t->n < 2) return 0;
    int step = dir < 0 ? -1 : 1;
    for (int k = dir == 0 ? 0 : 1; k < t->n; k++) {
        int i = ((start - 1 + step * k) % (t->n - 1) + (t->n - 1)) % (t->n - 1) + 1;
        const struct mt_node *n = &t->nodes[i];
        if (ci_contains(n->label, text) || (n->tensor >= 0 && ci_contains(n->target, text))) {
            app_select(a, i);
            app_msg(a, TS_INFO, "/%s: %s", text, n->tensor >= 0 ? n->target : n->label);
            return 1;
        }
    }
    return 0;
}

const struct panel_ops panel_tree = {
    .name = "tree", .title = "model",
    .draw = tree_draw, .key = tree_key, .resize = tree_resize, .search = tree_search,
};
