/* compare.c — variants A and B side by side: size, bits per weight, tensors
 * quantized, weight error (previews), KL (the eval job whose frozen recipe
 * is the variant's text; E submits them) and the tensors whose scheme
 * differs. */
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

/* The tensors whose schemes differ, once per change (cleared by app when
 * the source changes). */
static void compute(struct app *a) {
    if (a->cmp_valid) return;
    struct src *s = a->src;
    a->n_cmp_diff = 0;
    if (have(s, 0) && have(s, 1)) {
        a->cmp_diff = malloc(sizeof(int) * (size_t)s->model->n_tensors);
        for (int i = 0; a->cmp_diff && i < s->model->n_tensors; i++)
            if (strcmp(s->resol.variant[0].t[i].scheme, s->resol.variant[1].t[i].scheme)) a->cmp_diff[a->n_cmp_diff++] = i;
    }
    a->cmp_valid = 1;
}

/* What to say instead of variant k's figures ("" when they are in). */
static const char *variant_note(const struct src *s, int k) {
    if (!s->recipe.variant[k]) return k ? "(empty: press b)" : "(empty: press a)";
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

static void compare_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    compute(a);
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    int can_eval = app_action_available(a, TA_EVAL_AB);
    tui_puts(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER,
             can_eval ? "compare variants (a / b store them, E measures KL, Esc close)"
                      : "compare variants (a / b store them, Esc close)");
    int y = r->y + 2;
    char b1[32], b2[32];
    tui_printf(s, r, r->x + 2, y++, -1, TS_TITLE, "%-14s %-22s %-22s", "", "A", "B");
    const struct src_summary *A = &a->src->resol.variant[0].sum, *B = &a->src->resol.variant[1].sum;
    const char *sa = variant_note(a->src, 0), *sb = variant_note(a->src, 1);
    int aok = !*sa, bok = !*sb;
    if (*sa || *sb) tui_printf(s, r, r->x + 2, y++, -1, TS_WARN, "%-14s %-22.22s %-22.22s", "", sa, sb);
    tui_printf(s, r, r->x + 2, y++, -1, TS_NORMAL, "%-14s %-22s %-22s", "size",
               aok ? wg_bytes(A->bytes_after, b1, sizeof b1) : "-", bok ? wg_bytes(B->bytes_after, b2, sizeof b2) : "-");
    snprintf(b1, sizeof b1, "%.3f", A->bpw);
    snprintf(b2, sizeof b2, "%.3f", B->bpw);
    tui_printf(s, r, r->x + 2, y++, -1, TS_NORMAL, "%-14s %-22s %-22s", "bpw", aok ? b1 : "-", bok ? b2 : "-");
    snprintf(b1, sizeof b1, "%d", A->n_quantized);
    snprintf(b2, sizeof b2, "%d", B->n_quantized);
    tui_printf(s, r, r->x + 2, y++, -1, TS_NORMAL, "%-14s %-22s %-22s", "quantized", aok ? b1 : "-", bok ? b2 : "-");
    if ((a->src->caps & SRC_CAP_PREVIEW) && aok && bok) {
        double ea = variant_error(a, 0), eb = variant_error(a, 1);
        if (ea >= 0) snprintf(b1, sizeof b1, "%.3f%%", 100 * ea); else snprintf(b1, sizeof b1, "...");
        if (eb >= 0) snprintf(b2, sizeof b2, "%.3f%%", 100 * eb); else snprintf(b2, sizeof b2, "...");
        tui_printf(s, r, r->x + 2, y++, -1, TS_NORMAL, "%-14s %-22s %-22s", "weight error", b1, b2);
    }
    if (can_eval) {
        char k1[48], k2[48], t1[48], t2[48], p1[48], p2[48];
        variant_kl(a, 0, k1, t1, p1, sizeof k1);
        variant_kl(a, 1, k2, t2, p2, sizeof k2);
        /* by column, not printf widths: "running…" is wider in bytes than on screen */
        const char *rows[3][3] = {{"KL", k1, k2}, {"same top", t1, t2}, {"PPL ratio", p1, p2}};
        for (int i = 0; i < 3; i++, y++)
            for (int c = 0; c < 3; c++)
                tui_puts(s, r, r->x + 2 + (c ? 15 + 23 * (c - 1) : 0), y, c ? 22 : 14, TS_NORMAL, rows[i][c]);
    }
    y++;
    if (!aok || !bok) return;
    tui_printf(s, r, r->x + 2, y++, -1, TS_TITLE, "%d tensors differ", a->n_cmp_diff);
    int h = r->y + r->h - y;
    wg_list_fix(&a->compare_l, a->n_cmp_diff, h);
    int nw = r->w - 2 - 2 * 17;
    if (nw < 10) nw = 10;
    char mod[512];
    for (int row = 0; row < h; row++) {
        int k = a->compare_l.top + row;
        if (k >= a->n_cmp_diff) break;
        int ti = a->cmp_diff[k];
        qt_tensor_module(&a->src->model->tensors[ti], mod, sizeof mod);
        int len = (int)strlen(mod);
        const char *shown = len > nw ? mod + len - nw : mod;   /* keep the informative tail */
        tui_printf(s, r, r->x + 2, y + row, -1, TS_NORMAL, "%-*s %-16s %-16s", nw, shown,
                   a->src->resol.variant[0].t[ti].scheme, a->src->resol.variant[1].t[ti].scheme);
    }
}

static int compare_key(struct app *a, enum tui_action act, int key) {
    (void)key;
    int n = a->n_cmp_diff, h = a->lay.body.h - 13;
    switch (act) {
    case TA_DOWN: a->compare_l.top++; a->compare_l.cur = a->compare_l.top + h - 1; break;
    case TA_UP: a->compare_l.cur = --a->compare_l.top; break;
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
