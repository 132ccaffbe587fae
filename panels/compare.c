/* compare.c — the named variants (A, B, C ...) in one table: size, bits per
 * weight, tensors quantized, weight error (previews), KL (the eval job whose
 * frozen recipe is the variant's text; E submits them), and the tensors
 * whose scheme differs between them. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* 1 when variant k's resolution (the engine's answer) is in. */
static int have(const struct src *s, int k) {
    return s->recipe.variant[k] && s->resol.variant[k].state == RS_OK && s->resol.variant[k].t;
}

/* The variants the table lists: A and B always (saying how to store them
 * when empty), C .. H once stored.  Their slots into rows; returns how many. */
static int listed(const struct src *s, int *rows) {
    int n = 0;
    for (int k = 0; k < SRC_NVAR; k++)
        if (k < 2 || s->recipe.variant[k]) rows[n++] = k;
    return n;
}

/* The tensors whose schemes differ between the variants that are in, once
 * per change (cleared by app when the source changes). */
static void compute(struct app *a) {
    if (a->cmp_valid) return;
    struct src *s = a->src;
    a->n_cmp_diff = 0;
    int in[SRC_NVAR], n = 0;
    for (int k = 0; k < SRC_NVAR; k++)
        if (have(s, k)) in[n++] = k;
    if (n >= 2) {
        a->cmp_diff = malloc(sizeof(int) * (size_t)s->model->n_tensors);
        for (int i = 0; a->cmp_diff && i < s->model->n_tensors; i++)
            for (int k = 1; k < n; k++)
                if (strcmp(s->resol.variant[in[0]].t[i].scheme, s->resol.variant[in[k]].t[i].scheme)) {
                    a->cmp_diff[a->n_cmp_diff++] = i;
                    break;
                }
    }
    a->cmp_valid = 1;
}

/* What to say instead of variant k's figures ("" when they are in). */
static const char *variant_note(const struct src *s, int k) {
    if (!s->recipe.variant[k]) return k ? "(empty: press b)" : "(empty: press a)";   /* C.. are listed once stored */
    if (s->resol.variant[k].state == RS_ERROR) return s->resol.variant[k].err;
    if (!have(s, k)) return "...";
    return "";
}

/* Parameter-weighted RMS of the relative weight error over the quantizable
 * weights of variant k (kept ones count as exact), from the engine's
 * previews; -1 while some are still being computed. */
static double variant_error(struct app *a, int k) {
    struct src *s = a->src;
    double acc = 0, params = 0;
    int missing = 0;
    for (int i = 0; i < s->model->n_tensors; i++) {
        const struct qt_tensor *t = &s->model->tensors[i];
        if (!a->tree.listed[i] || !qt_role_is_linear(t->role)) continue;   /* the tree lists the quantizable */
        double p = (double)qt_tensor_numel(t);
        params += p;
        const char *sc = s->resol.variant[k].t[i].scheme;
        if (!strcmp(sc, "bf16")) continue;
        const struct src_prev *e = src_preview_get(s, i, sc);
        if (!e || e->state == PV_NONE || e->state == PV_PENDING) {
            src_preview_want(s, i, sc);
            missing = 1;
        } else if (e->state == PV_OK) {
            acc += p * e->rel_rmse * e->rel_rmse;
        }
    }
    return missing ? -1 : params > 0 ? sqrt(acc / params) : 0;
}

/* The KL cells of one variant: kld mean (or the job's state and progress),
 * same-top-p and the PPL ratio; "-" when unknown. */
static void variant_kl(struct app *a, int k, char *kl, char *top, char *ppl, size_t n) {
    const struct src_job *j = a->src->recipe.variant[k] ? src_eval_of(a->src, a->src->recipe.variant[k]) : NULL;
    snprintf(kl, n, "-");
    snprintf(top, n, "-");
    snprintf(ppl, n, "-");
    if (src_text_original(a->src->recipe.variant[k])) {   /* the model itself: nothing to measure */
        snprintf(kl, n, "0 (original)");
        snprintf(top, n, "100.0%%");
        snprintf(ppl, n, "1.0000");
        return;
    }
    if (!j) return;
    if (j->has_kl) {
        snprintf(kl, n, "%.4f", j->kl);
        snprintf(top, n, "%.1f%%", 100 * j->same_top);
        snprintf(ppl, n, "%.4f", j->ppl_ratio);
    } else if (!strcmp(j->state, "running")) {
        snprintf(kl, n, "running%s %d%%", a->g->ellipsis, j->total > 0 ? (int)(100 * j->done / j->total) : 0);
    } else {
        snprintf(kl, n, "%s (job %d)", j->state, j->id);
    }
}

/* The table: one row per variant (size, bpw, tensors quantized, weight
 * error, KL, same top-1 token, PPL ratio), then the tensors whose schemes differ
 * with one column per variant that fits. */
static void compare_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    struct src *src = a->src;
    compute(a);
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    int can_eval = app_action_available(a, TA_EVAL_AB);
    tui_puts(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER,
             can_eval ? "compare variants (a / b / v store them, E measures KL, x drops, Esc close)"
                      : "compare variants (a / b / v store them, x drops, Esc close)");
    int rows[SRC_NVAR], n = listed(src, rows);
    if (a->cmp_sel >= n) a->cmp_sel = n - 1;
    if (a->cmp_sel < 0) a->cmp_sel = 0;
    /* columns: x offset and width; KL is wide enough for "running... 100%" */
    static const char *const title[] = {"", "size", "bpw", "quant", "w.err", "KL", "top-1", "PPL ratio"};
    static const int width[] = {1, 10, 7, 5, 8, 14, 6, 9};   /* 72 columns in all: fits 80 */
    int y = r->y + 2, x0 = r->x + 2;
    for (int c = 0, x = x0 + 2; c < 8; x += width[c++] + 1) tui_puts(s, r, x, y, width[c], TS_TITLE, title[c]);
    y++;
    int show_err = (src->caps & SRC_CAP_PREVIEW) != 0;
    for (int i = 0; i < n && y < r->y + r->h; i++, y++) {
        int k = rows[i];
        char cell[8][48];
        for (int c = 0; c < 8; c++) snprintf(cell[c], sizeof cell[c], "-");
        snprintf(cell[0], sizeof cell[0], "%c", 'A' + k);
        const char *note = variant_note(src, k);
        const struct src_summary *S = &src->resol.variant[k].sum;
        if (!*note) {
            wg_bytes(S->bytes_after, cell[1], sizeof cell[1]);
            snprintf(cell[2], sizeof cell[2], "%.3f", S->bpw);
            snprintf(cell[3], sizeof cell[3], "%d", S->n_quantized);
            if (show_err) {
                double e = variant_error(a, k);
                if (e >= 0) snprintf(cell[4], sizeof cell[4], "%.3f%%", 100 * e);
                else snprintf(cell[4], sizeof cell[4], "...");
            }
            if (can_eval) variant_kl(a, k, cell[5], cell[6], cell[7], sizeof cell[5]);
        }
        if (i == a->cmp_sel) tui_putc(s, r, x0, y, TS_CURSOR, a->g->cursor);
        int x = x0 + 2;
        tui_puts(s, r, x, y, width[0], TS_TITLE, cell[0]);
        x += width[0] + 1;
        if (*note) {   /* empty, failed or on its way: say so across the row */
            tui_puts(s, r, x, y, r->x + r->w - x - 1, TS_WARN, note);
            continue;
        }
        /* by column, not printf widths: "running…" is wider in bytes than on screen */
        for (int c = 1; c < 8; x += width[c++] + 1) tui_puts(s, r, x, y, width[c], TS_NORMAL, cell[c]);
    }
    y++;
    int in[SRC_NVAR], ni = 0;
    for (int i = 0; i < n; i++)
        if (have(src, rows[i])) in[ni++] = rows[i];
    if (ni < 2 || y >= r->y + r->h) return;
    /* as many scheme columns as fit beside a name of at least 24 */
    int cols = ni;
    while (cols > 2 && r->w - 2 - cols * 17 < 24) cols--;
    int nw = r->w - 2 - cols * 17;
    if (nw < 10) nw = 10;
    tui_printf(s, r, x0, y, nw, TS_TITLE, "%d tensors differ", a->n_cmp_diff);
    for (int c = 0; c < cols; c++) {
        char t[4] = {(char)('A' + in[c]), 0};
        tui_puts(s, r, x0 + nw + 1 + 17 * c, y, 16, TS_TITLE, t);
    }
    if (cols < ni) tui_printf(s, r, x0 + nw + 1 + 17 * (cols - 1) + 2, y, 14, TS_DIM, "(+%d wider)", ni - cols);
    y++;
    int h = r->y + r->h - y;
    wg_list_fix(&a->compare_l, a->n_cmp_diff, h);
    char mod[512];
    for (int row = 0; row < h; row++) {
        int k = a->compare_l.top + row;
        if (k >= a->n_cmp_diff) break;
        int ti = a->cmp_diff[k];
        qt_tensor_module(&src->model->tensors[ti], mod, sizeof mod);
        int len = (int)strlen(mod);
        const char *shown = len > nw ? mod + len - nw : mod;   /* keep the informative tail */
        tui_puts(s, r, x0, y + row, nw, TS_NORMAL, shown);
        for (int c = 0; c < cols; c++)
            tui_puts(s, r, x0 + nw + 1 + 17 * c, y + row, 16, TS_NORMAL, src->resol.variant[in[c]].t[ti].scheme);
    }
}

/* j / k select a variant (x drops it); page keys scroll the differences. */
static int compare_key(struct app *a, enum tui_action act, int key) {
    (void)key;
    int n = a->n_cmp_diff, h = a->lay.body.h - 8 - SRC_NVAR;
    if (h < 1) h = 1;
    int rows[SRC_NVAR], nr = listed(a->src, rows);
    switch (act) {
    case TA_DOWN: if (a->cmp_sel < nr - 1) a->cmp_sel++; return 1;
    case TA_UP: if (a->cmp_sel > 0) a->cmp_sel--; return 1;
    case TA_IGNORE: {
        int k = rows[a->cmp_sel < nr ? a->cmp_sel : 0];
        qt_err err = {{0}};
        if (!a->src->recipe.variant[k]) app_msg(a, TS_WARN, "variant %c is empty", 'A' + k);
        else if (!a->src->ops->variant_drop) app_msg(a, TS_WARN, "variants cannot be dropped here");
        else if (a->src->ops->variant_drop(a->src, k, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        else app_msg(a, TS_INFO, "dropped variant %c", 'A' + k);
        return 1;
    }
    case TA_PGDN: a->compare_l.top += h; a->compare_l.cur = a->compare_l.top + h - 1; break;
    case TA_PGUP: a->compare_l.top -= h; a->compare_l.cur = a->compare_l.top; break;
    case TA_HOME: a->compare_l.cur = a->compare_l.top = 0; break;
    case TA_END: a->compare_l.cur = n - 1; break;
    default: return 0;
    }
    if (a->compare_l.top < 0) a->compare_l.top = 0;
    if (a->compare_l.cur < 0) a->compare_l.cur = 0;
    return 1;
}

const struct panel_ops panel_compare = {
    .name = "compare", .title = "compare", .draw = compare_draw, .key = compare_key,
};
