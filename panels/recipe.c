/* recipe.c — the recipe as it will be saved (the YAML text the engine
 * holds), then every target and ignore pattern with the number of modules it
 * matches on this model, then lint findings when the engine lints.  Enter on
 * a pattern jumps to the first tensor it decides. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define MAXL 4096

struct rline {
    char text[256];
    enum tui_style st;
    int jump;     /* tensor to jump to on Enter, -1 */
};

/* Builds the panel's lines; returns how many (at most max). */
static int build(struct app *a, struct rline *L, int max) {
    const struct src *s = a->src;
    int n = 0;
    const char *p = s->recipe.text ? s->recipe.text : "";
    while (*p && n < max) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        snprintf(L[n].text, sizeof L[n].text, "%.*s", len, p);
        L[n].st = p[0] == '#' ? TS_DIM : TS_NORMAL;
        L[n].jump = -1;
        n++;
        p += len + (e ? 1 : 0);
    }
    if (n < max) { L[n].text[0] = 0; L[n].st = TS_NORMAL; L[n++].jump = -1; }
    const struct src_res *rs = &s->resol.cur;
    if (rs->state == RS_ERROR) {
        if (n < max) { snprintf(L[n].text, sizeof L[n].text, "error: %.240s", rs->err); L[n].st = TS_ERROR; L[n++].jump = -1; }
        return n;
    }
    if (n < max) { snprintf(L[n].text, sizeof L[n].text, "matches"); L[n].st = TS_TITLE; L[n++].jump = -1; }
    /* the engine's counts: targets first, then ignore entries */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < rs->n_pats && n < max; k++) {
            const struct src_pat *P = &rs->pats[k];
            if (P->ignore != pass) continue;
            if (pass) {
                snprintf(L[n].text, sizeof L[n].text, "%5d  ignore %.200s", P->matches, P->text);
                L[n].st = P->matches ? TS_DIM : TS_WARN;
            } else {
                snprintf(L[n].text, sizeof L[n].text, "%5d  %.180s -> %.47s", P->matches, P->text, P->scheme);
                L[n].st = P->matches ? TS_NORMAL : TS_WARN;
            }
            L[n++].jump = P->first;
        }
    if (s->caps & SRC_CAP_LINT) {
        if (n < max) { L[n].text[0] = 0; L[n].st = TS_NORMAL; L[n++].jump = -1; }
        if (n < max) { snprintf(L[n].text, sizeof L[n].text, "lint (%d)", s->lint.n_findings); L[n].st = TS_TITLE; L[n++].jump = -1; }
        for (int f = 0; f < s->lint.n_findings && n < max; f++) {
            const struct src_finding *F = &s->lint.findings[f];
            snprintf(L[n].text, sizeof L[n].text, "%s %s %s", F->code, F->severity, F->message);
            L[n].st = !strcmp(F->severity, "error") ? TS_ERROR : TS_WARN;
            L[n].jump = F->first;
            n++;
        }
    }
    return n;
}

static struct rline lines[MAXL];
static int hx;   /* horizontal scroll (cells) when focused: Right / Left */

/* Line text from cell hx on, in w cells, with the ellipsis at an edge that
 * hides text. */
static void hline_draw(struct app *a, const struct tui_rect *r, int y, const struct rline *L, int off) {
    wchar_t wt[300];
    int len = (int)mbstowcs(wt, L->text, 299);
    if (len < 0) { tui_puts(&a->scr, r, r->x + 1, y, r->w - 1, L->st, L->text); return; }
    int w = r->w - 1, x = r->x + 1;
    if (off > len) off = len;
    for (int i = 0; i < w && off + i < len; i++) tui_putc(&a->scr, r, x + i, y, L->st, wt[off + i]);
    wchar_t ell[4];
    if ((int)mbstowcs(ell, a->g->ellipsis, 3) < 1) ell[0] = L'~';
    if (off > 0) tui_putc(&a->scr, r, x, y, TS_DIM, ell[0]);
    if (len - off > w) tui_putc(&a->scr, r, x + w - 1, y, TS_DIM, ell[0]);
}

static void recipe_draw(struct app *a, const struct tui_rect *r, int focused) {
    struct tui_screen *s = &a->scr;
    int n = build(a, lines, MAXL);
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    tui_printf(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "recipe v%d%s", a->src->recipe.version,
               focused ? " (Enter jump, h/l)" : "  (Tab to scroll)");
    if (!focused) hx = 0;
    int h = r->h - 1;
    wg_list_fix(&a->recipe_l, n, h);
    for (int row = 0; row < h; row++) {
        int k = a->recipe_l.top + row;
        if (k >= n) break;
        int y = r->y + 1 + row;
        hline_draw(a, r, y, &lines[k], hx);
        if (focused && k == a->recipe_l.cur) tui_restyle(s, r->x, y, r->w, TS_CURSOR);
    }
}

static int recipe_key(struct app *a, enum tui_action act, int key) {
    int n = build(a, lines, MAXL), h = a->lay.side.h - 1;
    switch (act) {
    case TA_DOWN: wg_list_move(&a->recipe_l, 1, n, h); return 1;
    case TA_UP: wg_list_move(&a->recipe_l, -1, n, h); return 1;
    case TA_PGDN: wg_list_move(&a->recipe_l, h - 1, n, h); return 1;
    case TA_PGUP: wg_list_move(&a->recipe_l, -(h - 1), n, h); return 1;
    case TA_HOME: wg_list_move(&a->recipe_l, INT_MIN, n, h); return 1;
    case TA_END: wg_list_move(&a->recipe_l, INT_MAX, n, h); return 1;
    case TA_COLLAPSE:
        hx = hx > 8 ? hx - 8 : 0;
        return 1;
    case TA_EXPAND: {
        if (key != TK_ENTER) {   /* Right / l: scroll the long lines */
            int longest = 0;
            for (int k = 0; k < n; k++) {
                int len = (int)mbstowcs(NULL, lines[k].text, 0);
                if (len > longest) longest = len;
            }
            if (hx + a->lay.side.w - 1 < longest) hx += 8;
            return 1;
        }
        int t = a->recipe_l.cur < n ? lines[a->recipe_l.cur].jump : -1;
        if (t < 0) { app_msg(a, TS_DIM, "nothing to jump to on this line"); return 1; }
        int node = mt_leaf_of(&a->tree, t);
        if (node > 0) {
            app_select(a, node);
            a->focus_side = 0;
            app_msg(a, TS_INFO, "%s", a->tree.nodes[node].target);
        }
        return 1;
    }
    default:
        return 0;
    }
}

static int recipe_search(struct app *a, const char *text, int dir) {
    int n = build(a, lines, MAXL);
    int step = dir < 0 ? -1 : 1;
    for (int k = dir == 0 ? 0 : 1; k <= n; k++) {
        int i = ((a->recipe_l.cur + step * k) % n + n) % n;
        if (strcasestr(lines[i].text, text)) {
            a->recipe_l.cur = i;
            wg_list_fix(&a->recipe_l, n, a->lay.side.h - 1);
            return 1;
        }
    }
    return 0;
}

const struct panel_ops panel_recipe = {
    .name = "recipe", .title = "recipe", .draw = recipe_draw, .key = recipe_key,
    .search = recipe_search,
};
