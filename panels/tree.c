/* tree.c — the model tree panel: embeddings, layers and their parts, routed
 * experts as a collapsible group, lm_head; columns params, scheme, bytes
 * after, bits per weight, err%, dKL.  Siblings can be sorted by a column
 * (figures the engine sent: previews, the sensitivity scan, the
 * resolution's bytes) and the tree filtered (role, scheme, name pattern,
 * quantized, lint findings); the mouse selects, scrolls and sorts. */
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
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
static double node_error_w(struct app *a, const struct mt_node *n, int wish) {
    struct src *s = a->src;
    if (!n->n_quantized || !s->resol.cur.t) return -2;
    if (n->n_members > 64 && wish) return -2;   /* big groups: ask for the rows, not the layers */
    double acc = 0, params = 0;
    int missing = 0;
    for (int k = 0; k < n->n_members; k++) {
        int ti = a->tree.members[n->first_member + k];
        double p = (double)qt_tensor_numel(&s->model->tensors[ti]);
        params += p;
        if (!s->resol.cur.t[ti].quantized) continue;
        const struct src_prev *e = src_preview_get(s, ti, s->resol.cur.t[ti].scheme);
        if (!e || e->state == PV_NONE || e->state == PV_PENDING) {
            if (wish) src_preview_want(s, ti, s->resol.cur.t[ti].scheme);
            missing = 1;
            continue;
        }
        if (e->state == PV_ERROR) return -2;
        acc += p * e->rel_rmse * e->rel_rmse;
    }
    if (missing) return -1;
    return params > 0 ? sqrt(acc / params) : -2;
}

static double node_error(struct app *a, const struct mt_node *n) { return node_error_w(a, n, 1); }

double panel_tree_error(struct app *a, int node, int wish) { return node_error_w(a, &a->tree.nodes[node], wish); }

/* ---- sort and filter ---- */

/* The column a sort key shows, and its figure of node i (NAN: unknown; the
 * figures are the engine's: previews, the scan's dKL, the resolution). */
static const int sort_col[SORT_N] = {[SORT_ERR] = C_ERR, [SORT_DKL] = C_DKL, [SORT_PARAMS] = C_PARAMS,
                                     [SORT_BYTES] = C_BYTES};

const char *panel_tree_sort_name(int k) {
    static const char *names[SORT_N] = {"tree order", "err%", "dKL", "params", "bytes after"};
    return k >= 0 && k < SORT_N ? names[k] : "?";
}

static double sort_figure(struct app *a, int i) {
    const struct mt_node *n = &a->tree.nodes[i];
    double v;
    switch (a->sort) {
    case SORT_ERR: v = node_error_w(a, n, 0); return v >= 0 ? v : NAN;   /* asked for by the rows drawn */
    case SORT_DKL: return app_node_dkl(a, i, &v) ? v : NAN;
    case SORT_PARAMS: return (double)n->params;
    case SORT_BYTES: return (double)n->bytes_after;
    default: return NAN;
    }
}

/* One term of the filter: role:R, scheme:S, q (quantized), lint, or a name
 * pattern (a substring, or a glob when it has * ? [). */
static int term_match(const struct app *a, const char *term, int ti) {
    const struct src *s = a->src;
    const struct qt_tensor *x = &s->model->tensors[ti];
    if (!strncmp(term, "role:", 5)) return strcasestr(qt_role_name(x->role), term + 5) != NULL;
    if (!strncmp(term, "scheme:", 7)) {
        const char *sc = s->resol.cur.t ? s->resol.cur.t[ti].scheme : "bf16";
        return strcasestr(sc, term + 7) != NULL;
    }
    if (!strcmp(term, "q") || !strcmp(term, "quantized")) return s->resol.cur.t && s->resol.cur.t[ti].quantized;
    if (!strcmp(term, "lint")) return s->lint.flag && ti < s->lint.n_flag && s->lint.flag[ti];
    if (strpbrk(term, "*?[")) {
        char pat[300];
        snprintf(pat, sizeof pat, "*%s*", term);
        return fnmatch(pat, x->name, FNM_CASEFOLD) == 0;
    }
    return strcasestr(x->name, term) != NULL;
}

static int leaf_match(const struct app *a, const char *filter, int ti) {
    char buf[256], *save = NULL;
    tui_strcpy(buf, sizeof buf, filter);
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        if (!term_match(a, t, ti)) return 0;
    return 1;
}

int panel_tree_filter_count(struct app *a, const char *filter) {
    int n = 0;
    for (int i = 1; i < a->tree.n; i++)
        if (a->tree.nodes[i].tensor >= 0 && leaf_match(a, filter, a->tree.nodes[i].tensor)) n++;
    return n;
}

/* Applies a->sort and a->filter to the visible list, keeping the selected
 * node selected (the cursor follows it when rows move). */
void panel_tree_order(struct app *a) {
    struct mtree *t = &a->tree;
    int sel = app_selected(a);
    if (a->sort && !t->sort_key) t->sort_key = malloc(sizeof(double) * (size_t)t->n);
    if (!a->sort || !t->sort_key) { free(t->sort_key); t->sort_key = NULL; }
    if (t->sort_key) {
        for (int i = 0; i < t->n; i++) t->sort_key[i] = NAN;
        for (int i = 1; i < t->n; i++)
            if (t->nodes[t->nodes[i].parent].expanded || a->filter[0]) t->sort_key[i] = sort_figure(a, i);
        t->sort_desc = a->sort_desc;
    }
    if (a->filter[0]) {
        if (!t->keep) t->keep = malloc((size_t)t->n), t->all = malloc((size_t)t->n);
        if (t->keep && t->all) {
            for (int i = 0; i < t->n; i++) {
                int ti = t->nodes[i].tensor;
                t->keep[i] = ti >= 0 && leaf_match(a, a->filter, ti);
                t->all[i] = ti >= 0 ? t->keep[i] : 1;
            }
            for (int i = t->n - 1; i >= 1; i--) {   /* children come after their parent */
                int p = t->nodes[i].parent;
                t->keep[p] |= t->keep[i];
                t->all[p] &= t->all[i];
            }
        }
    } else {
        free(t->keep);
        free(t->all);
        t->keep = t->all = NULL;
    }
    mt_visible(t);
    int k = sel ? mt_vis_index(t, sel) : -1;
    a->tree_l.cur = k >= 0 ? k : 0;
    wg_list_fix(&a->tree_l, t->n_vis, a->lay.tree.h - 1);
}

static int body_h(const struct tui_rect *r) { return r->h - 1; }   /* minus the header */

static void toggle(struct app *a, int i, int open);

/* Column layout of the last frame (mouse clicks on the header sort). */
static struct wg_col last_cols[C_N];

static void tree_draw(struct app *a, const struct tui_rect *r, int focused) {
    struct tui_screen *s = &a->scr;
    const struct mtree *t = &a->tree;
    if (a->sort || a->filter[0] || t->keep || t->sort_key) panel_tree_order(a);
    struct wg_col c[C_N];
    memcpy(c, cols_tpl, sizeof c);
    int prev = (a->src->caps & SRC_CAP_PREVIEW) != 0;
    c[C_HEAT].absent = c[C_ERR].absent = !prev;
    c[C_DKL].absent = a->src->jobs.n_dkl == 0;   /* after a sensitivity scan (e) */
    /* the sorted column says so in its title; the filter in the name's */
    char titles[C_N][64];
    if (a->sort) {
        int sc = sort_col[a->sort];
        snprintf(titles[sc], sizeof titles[sc], "%s%s", c[sc].title,
                 a->sort_desc ? (a->g == &tui_glyphs_ascii ? "v" : "▼") : (a->g == &tui_glyphs_ascii ? "^" : "▲"));
        c[sc].title = titles[sc];
    }
    if (a->filter[0]) {
        snprintf(titles[C_NAME], sizeof titles[C_NAME], "name [%.50s]", a->filter);
        c[C_NAME].title = titles[C_NAME];
    }
    wg_cols_fit(c, C_N, r->w - 2);
    for (int i = 0; i < C_N; i++) c[i].x += 2;   /* cursor and mark columns */
    memcpy(last_cols, c, sizeof c);
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
        /* name: indent, expander, label (elided in the middle, never cut) */
        char name[320];
        int ind = n->depth * 2;
        if (ind > 40) ind = 40;
        int x = r->x + c[C_NAME].x + ind;
        int nw = (c[C_NAME].width < 0 ? -c[C_NAME].width : c[C_NAME].width) - ind;
        wchar_t ex = mt_has_children(t, i) ? (n->expanded ? a->g->tree_open : a->g->tree_closed)
                                           : a->g->tree_leaf;
        if (nw > 2) {
            tui_putc(s, r, x, y, mt_has_children(t, i) ? TS_TITLE : TS_DIM, ex);
            wg_elide(n->label, nw - 2, a->g->ellipsis, name, sizeof name);
            tui_puts(s, r, x + 2, y, nw - 2, TS_NORMAL, name);
        }
        wg_num(s, r, y, &c[C_PARAMS], TS_NORMAL, wg_count(n->params, b, sizeof b), a->g->ellipsis);
        const char *sc = n->scheme ? n->scheme : "mixed";
        enum tui_style st = !n->scheme ? TS_MIXED : wg_scheme_kept(sc) ? TS_KEPT : TS_QUANT;
        wg_cell(s, r, y, &c[C_SCHEME], st, sc);
        wg_num(s, r, y, &c[C_BYTES], TS_NORMAL, wg_bytes_short(n->bytes_after, b, sizeof b), a->g->ellipsis);
        if (n->params) snprintf(b, sizeof b, "%.2f", 8.0 * (double)n->bytes_after / (double)n->params);
        else snprintf(b, sizeof b, "-");
        wg_num(s, r, y, &c[C_BPW], TS_NORMAL, b, a->g->ellipsis);
        if (prev) {
            double e = node_error(a, n);
            if (e >= 0) {
                int lv = wg_heat(e);
                snprintf(b, sizeof b, "%.2f", 100 * e);
                wg_num(s, r, y, &c[C_ERR], TS_NORMAL, b, a->g->ellipsis);
                if (c[C_HEAT].shown)
                    tui_putc(s, r, r->x + c[C_HEAT].x, y, (enum tui_style)(TS_HEAT0 + lv), a->g->heat_levels[lv]);
            } else if (e == -1) {
                wg_cell(s, r, y, &c[C_ERR], TS_DIM, "...");
            }
        }
        double dkl;
        if (c[C_DKL].shown && app_node_dkl(a, i, &dkl)) {
            snprintf(b, sizeof b, "%.4f", dkl);
            wg_num(s, r, y, &c[C_DKL], TS_NORMAL, b, a->g->ellipsis);
        }
        if (sel) tui_restyle(s, r->x + 1, y, r->w - 1, focused ? TS_CURSOR : TS_CURSOR_DIM);
    }
    if (t->n_vis == 0)
        tui_puts(s, r, r->x + 2, r->y + 1, r->w - 2, TS_DIM, a->filter[0] ? "(nothing matches the filter: f to change)" : "(no weights)");
}

int panel_tree_mouse(struct app *a, int kind, int x, int y) {
    const struct tui_rect *r = &a->lay.tree;
    int h = body_h(r);
    if (kind == TM_WHEEL_UP || kind == TM_WHEEL_DOWN) {   /* the view scrolls; the cursor stays on screen */
        int d = kind == TM_WHEEL_UP ? -3 : 3;
        struct wg_list *l = &a->tree_l;
        l->top += d;
        if (l->top > a->tree.n_vis - h) l->top = a->tree.n_vis - h;
        if (l->top < 0) l->top = 0;
        if (l->cur < l->top) l->cur = l->top;
        if (l->cur >= l->top + h) l->cur = l->top + h - 1;
        if (l->cur >= a->tree.n_vis) l->cur = a->tree.n_vis - 1;
        if (l->cur < 0) l->cur = 0;
        return 1;
    }
    if (y == r->y) {   /* the header: sort by the column clicked (again: reverse) */
        for (int k = 1; k < SORT_N; k++) {
            const struct wg_col *c = &last_cols[sort_col[k]];
            int w = c->width < 0 ? -c->width : c->width;
            if (!c->shown || x < r->x + c->x || x >= r->x + c->x + w) continue;
            app_sort(a, k, a->sort == k ? !a->sort_desc : 1);
            return 1;
        }
        const struct wg_col *c = &last_cols[C_NAME];
        int w = c->width < 0 ? -c->width : c->width;
        if (x >= r->x + c->x && x < r->x + c->x + w) app_sort(a, SORT_NONE, 1);
        return 1;
    }
    int k = a->tree_l.top + (y - r->y - 1);
    if (k < 0 || k >= a->tree.n_vis) return 1;
    a->tree_l.cur = k;
    int i = a->tree.vis[k];
    const struct mt_node *n = &a->tree.nodes[i];
    int ind = n->depth * 2;
    if (ind > 40) ind = 40;
    int ex = r->x + last_cols[C_NAME].x + ind;
    if (x == ex && mt_has_children(&a->tree, i)) toggle(a, i, !n->expanded);   /* the expander */
    return 1;
}

static void toggle(struct app *a, int i, int open) {
    a->tree.nodes[i].expanded = open;
    mt_visible(&a->tree);
    if (a->sort || a->filter[0]) panel_tree_order(a);
    int k = mt_vis_index(&a->tree, i);
    if (k < 0) return;
    a->tree_l.cur = k;
    if (open) {   /* the children come into view (the node stays on screen) */
        int h = body_h(&a->lay.tree), end = k + 1, d = a->tree.nodes[i].depth;
        while (end < a->tree.n_vis && a->tree.nodes[a->tree.vis[end]].depth > d) end++;
        int want = end - h;   /* top that shows the last child */
        if (want > k) want = k;
        if (a->tree_l.top < want) a->tree_l.top = want;
    }
    wg_list_fix(&a->tree_l, a->tree.n_vis, body_h(&a->lay.tree));
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

static int search_hit(const struct app *a, int i, const char *text) {
    const struct mt_node *n = &a->tree.nodes[i];
    if (a->tree.keep && !a->tree.keep[i]) return 0;   /* hidden by the filter */
    return ci_contains(n->label, text) || (n->tensor >= 0 && ci_contains(n->target, text));
}

static int tree_search(struct app *a, const char *text, int dir) {
    const struct mtree *t = &a->tree;
    int start = app_selected(a);
    if (t->n < 2) return 0;
    int step = dir < 0 ? -1 : 1;
    for (int k = dir == 0 ? 0 : 1; k < t->n; k++) {
        int i = ((start - 1 + step * k) % (t->n - 1) + (t->n - 1)) % (t->n - 1) + 1;
        if (!search_hit(a, i, text)) continue;
        /* hits in tree order: which one this is, of how many */
        int total = 0, nth = 0;
        for (int j = 1; j < t->n; j++)
            if (search_hit(a, j, text)) {
                total++;
                if (j == i) nth = total;
            }
        app_select(a, i);
        const struct mt_node *n = &t->nodes[i];
        app_msg(a, TS_INFO, "/%s: %s  (%d of %d)", text, n->tensor >= 0 ? n->target : n->label, nth, total);
        return 1;
    }
    return 0;
}

/* The layer node of decoder layer L (its label is "layer L  ..."), -1. */
int panel_tree_layer(const struct app *a, int L) {
    char pfx[32];
    int len = snprintf(pfx, sizeof pfx, "layer %d ", L);
    for (int i = a->tree.nodes[0].first_child; i > 0; i = a->tree.nodes[i].next)
        if (!strncmp(a->tree.nodes[i].label, pfx, (size_t)len)) return i;
    return -1;
}

const struct panel_ops panel_tree = {
    .name = "tree", .title = "model",
    .draw = tree_draw, .key = tree_key, .resize = tree_resize, .search = tree_search,
};
