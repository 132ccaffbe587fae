/* plan.c — the plan panel (issue 16): the target (a size or a scheme's
 * uniform size, bits per weight, or N GPUs of the catalog), the planner's
 * size side for it (the plan_size op: no weights needed), the plan job's
 * progress, and its Pareto curve of predicted KL against bits per weight as
 * a braille plot (ASCII with the ASCII glyphs) with the uniform recipes (o),
 * the current recipe (+) and the selected point (*) marked.  h/l move along
 * the curve, g switches the next job's candidates between round to nearest
 * and GPTQ, Enter applies the selected point as the recipe — one history
 * step, so u undoes it — and keeps the recipe before as variant A and the
 * point as B for the compare panel (C, E).  Everything shown comes from the
 * engine: the panel computes nothing. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "plot.h"

static double num(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
    return s ? s : "";
}

/* One point one can stand on: a curve point or the plan for the target. */
struct ppt {
    const cJSON *o;
    double bytes, bpw, pred, sum;
    int is_plan;
};

#define PLAN_MAX_PTS 512

/* The curve's points and the plan, by size (pts holds PLAN_MAX_PTS). */
static int points(const cJSON *rep, struct ppt *pts) {
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(rep, "curve")) {
        if (n == PLAN_MAX_PTS - 1) break;
        pts[n++] = (struct ppt){c, num(c, "bytes", 0), num(c, "bpw", 0), num(c, "predicted_kl", 0), num(c, "sum_dkl", 0), 0};
    }
    const cJSON *pl = cJSON_GetObjectItem(rep, "plan");
    if (cJSON_IsObject(pl)) {
        struct ppt p = {pl, num(pl, "bytes", 0), num(pl, "bpw", 0), num(pl, "predicted_kl", 0), num(pl, "sum_dkl", 0), 1};
        int k = n;
        while (k > 0 && pts[k - 1].bytes > p.bytes) {
            pts[k] = pts[k - 1];
            k--;
        }
        pts[k] = p;
        n++;
    }
    return n;
}

/* The point selected by default: the plan, else the one nearest the
 * current recipe's size. */
static int default_sel(const struct ppt *pts, int n, double cur_bytes) {
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (pts[i].is_plan) return i;
        if (fabs(pts[i].bytes - cur_bytes) < fabs(pts[best].bytes - cur_bytes)) best = i;
    }
    return best;
}

static int sel_index(struct app *a, const struct ppt *pts, int n) {
    const cJSON *rc = cJSON_GetObjectItem(a->src->plan.size, "recipe");
    if (a->plan_gen != a->src->plan.gen || a->plan_sel < 0 || a->plan_sel >= n) {
        a->plan_gen = a->src->plan.gen;
        a->plan_sel = n ? default_sel(pts, n, num(rc, "bytes", 0)) : 0;
    }
    return a->plan_sel;
}

/* "int4-g128-sym 12 · int8-ch-sym 5 · bf16 2": units per scheme of a point. */
static void scheme_counts(const cJSON *rep, const cJSON *pt, char *buf, size_t n, const char *sep) {
    const cJSON *cands = cJSON_GetObjectItem(rep, "candidates");
    int nc = cJSON_GetArraySize(cands);
    int cnt[64] = {0};
    if (nc > 64) nc = 64;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(pt, "choice"))
        if (cJSON_IsNumber(x) && x->valueint >= 0 && x->valueint < nc) cnt[x->valueint]++;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(pt, "units"))   /* the plan: a scheme per unit */
        for (int c = 0; c < nc; c++)
            if (cJSON_IsString(cJSON_GetArrayItem(cands, c)) &&
                !strcmp(str(x, "scheme"), cJSON_GetArrayItem(cands, c)->valuestring))
                cnt[c]++;
    size_t len = 0;
    buf[0] = 0;
    for (int pass = 0; pass < nc; pass++) {   /* most units first */
        int best = -1;
        for (int c = 0; c < nc; c++)
            if (cnt[c] > 0 && (best < 0 || cnt[c] > cnt[best])) best = c;
        if (best < 0) break;
        const char *nm = cJSON_GetStringValue(cJSON_GetArrayItem(cands, best));
        if (len + 64 < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s %d", len ? sep : "", nm ? nm : "?", cnt[best]);
        cnt[best] = 0;
    }
}

/* The size side (plan_size): units, fixed part, range, the target. */
static int draw_size(struct app *a, const struct tui_rect *r, int x, int y) {
    struct tui_screen *s = &a->scr;
    const struct src_plan *P = &a->src->plan;
    const cJSON *z = P->size;
    char b1[32], b2[32], b3[32], b4[32];
    if (!z) {
        if (P->size_err[0]) tui_puts(s, r, x, y, r->w - 2, TS_ERROR, P->size_err);
        else tui_puts(s, r, x, y, r->w - 2, TS_DIM, "asking the engine...");
        return y + 2;
    }
    tui_printf(s, r, x, y++, r->w - 2, TS_NORMAL, "%d units, %s weights planned, fixed part %s", (int)num(z, "units", 0),
               wg_count((int64_t)num(z, "planned_params", 0), b1, sizeof b1), wg_bytes((int64_t)num(z, "fixed_bytes", 0), b2, sizeof b2));
    tui_printf(s, r, x, y++, r->w - 2, TS_NORMAL, "sizes from %s (%.2f bpw) to %s (%.2f bpw)",
               wg_bytes((int64_t)num(z, "min_bytes", 0), b3, sizeof b3), num(z, "min_bpw", 0),
               wg_bytes((int64_t)num(z, "max_bytes", 0), b4, sizeof b4), num(z, "max_bpw", 0));
    if (cJSON_GetObjectItem(z, "target_bytes")) {
        int fits = cJSON_IsTrue(cJSON_GetObjectItem(z, "fits"));
        tui_printf(s, r, x, y++, r->w - 2, fits ? TS_NORMAL : TS_WARN, "target %s = %s, %.2f bpw%s", str(z, "target"),
                   wg_bytes((int64_t)num(z, "target_bytes", 0), b1, sizeof b1), num(z, "target_bpw", 0),
                   fits ? "" : ": below the smallest allocation");
    } else {
        tui_puts(s, r, x, y++, r->w - 2, TS_DIM, "no target: the curve only (t sets one)");
    }
    if (P->size_err[0]) tui_puts(s, r, x, y++, r->w - 2, TS_ERROR, P->size_err);
    return y;
}

/* The plan job's state: running with its progress, failed, or what the
 * report shown was measured on. */
static int draw_job(struct app *a, const struct tui_rect *r, int x, int y) {
    struct tui_screen *s = &a->scr;
    const struct src *src = a->src;
    const struct src_plan *P = &src->plan;
    const cJSON *z = P->size;
    /* the engine says why there is no ΔKL (a config.json alone) */
    if (src->model->metadata_only || cJSON_IsString(cJSON_GetObjectItem(z, "dkl"))) {
        tui_puts(s, r, x, y++, r->w - 2, TS_WARN, "dKL needs the weights: a config.json alone has none (sizes need none)");
        return y;
    }
    const struct src_job *j = NULL;
    for (int i = 0; i < src->jobs.n; i++)
        if (src->jobs.list[i].id == P->job) j = &src->jobs.list[i];
    if (j && (!strcmp(j->state, "running") || !strcmp(j->state, "queued"))) {
        int bx = x + tui_printf(s, r, x, y, -1, TS_INFO, "plan job %d: %s %s ", j->id, j->state, j->stage);
        double frac = j->total > 0 ? j->done / j->total : 0;
        wg_bar(s, r, a->g, bx, y, 20, frac);
        char eta[32] = "";
        if (j->eta >= 0) snprintf(eta, sizeof eta, "  ETA %.0f s", j->eta);
        tui_printf(s, r, bx + 21, y++, -1, TS_INFO, "%3.0f%%%s", 100 * frac, eta);
        return y;
    }
    if (j && (!strcmp(j->state, "failed") || !strcmp(j->state, "cancelled"))) {
        tui_printf(s, r, x, y++, r->w - 2, TS_ERROR, "plan job %d: %s%s%s", j->id, j->state, j->error[0] ? ": " : "", j->error);
        return y;
    }
    const cJSON *rep = P->report;
    if (!rep) {
        tui_printf(s, r, x, y++, r->w - 2, TS_DIM, "no plan yet: R runs the plan job (dKL of each unit and scheme on %s)",
                   P->dkl_path[0] ? "the table of QTUNE_PLAN_DKL" : "the calibration text");
        return y;
    }
    const cJSON *d = cJSON_GetObjectItem(rep, "dkl");
    const char *data = str(d, "data"), *base = strrchr(data, '/');
    char tg[96] = "";
    if (cJSON_GetObjectItem(rep, "target")) snprintf(tg, sizeof tg, " (%.80s)", str(rep, "target"));
    tui_printf(s, r, x, y++, r->w - 2, TS_DIM, "plan job %d%s: %d points, dKL on %s %dx%d, additivity %.2f", P->report_job, tg,
               cJSON_GetArraySize(cJSON_GetObjectItem(rep, "curve")), base ? base + 1 : data, (int)num(d, "chunks", 0),
               (int)num(d, "ctx", 0), num(rep, "kappa", 1));
    return y;
}

/* The candidates' uniform sizes, while there is no curve (a config.json
 * alone: what fits where). */
static void draw_uniform_sizes(struct app *a, const struct tui_rect *r, int x, int y, int y_end) {
    struct tui_screen *s = &a->scr;
    const cJSON *z = a->src->plan.size, *c;
    if (!z || y >= y_end) return;
    char b1[32];
    int has_t = cJSON_GetObjectItem(z, "target_bytes") != NULL;
    double tb = num(z, "target_bytes", 0);
    tui_printf(s, r, x, y++, r->w - 2, TS_HEADER, "%-16s %12s %8s%s", "uniform", "size", "bpw", has_t ? "  within the target" : "");
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(z, "candidates")) {
        if (y >= y_end) break;
        const cJSON *ub = cJSON_GetObjectItem(c, "uniform_bytes");
        if (!cJSON_IsNumber(ub)) {
            tui_printf(s, r, x, y++, r->w - 2, TS_DIM, "%-16s %12s", str(c, "scheme"), "not every unit");
            continue;
        }
        int in = has_t && ub->valuedouble <= tb;
        tui_printf(s, r, x, y++, r->w - 2, in ? TS_QUANT : TS_NORMAL, "%-16s %12s %8.2f%s", str(c, "scheme"),
                   wg_bytes((int64_t)ub->valuedouble, b1, sizeof b1), num(c, "uniform_bpw", 0),
                   has_t ? (in ? "  yes" : "  no") : "");
    }
}

/* The curve: the line through the optimal allocations, o uniform recipes,
 * + the current recipe, * the selected point; y labels on the left. */
static void draw_curve(struct app *a, const struct tui_rect *r, const struct ppt *pts, int n, int sel, int y, int h) {
    struct tui_screen *s = &a->scr;
    const cJSON *rep = a->src->plan.report;
    const cJSON *cur = cJSON_GetObjectItem(a->src->plan.size, "recipe");
    int lab = 9, W = r->w - lab - 3;
    if (W < 10 || h < 3 || n < 1) return;
    double x0 = pts[0].bpw, x1 = pts[n - 1].bpw, ymax = pts[0].pred;
    /* past the point within 1% of the start the curve is flat: cut there,
     * but keep the selected point in view (the current recipe shows when
     * it falls inside; its line below gives its figures either way) */
    for (int i = 0; i < n; i++)
        if (!pts[i].is_plan && pts[i].pred <= 0.01 * ymax) {
            x1 = pts[i].bpw;
            break;
        }
    if (pts[sel].bpw > x1) x1 = pts[sel].bpw;
    int cur_on = cJSON_IsNumber(cJSON_GetObjectItem(cur, "predicted_kl"));
    double cx = num(cur, "bpw", 0), cy = num(cur, "predicted_kl", 0);
    if (!(x1 > x0)) x1 = x0 + 1;
    double ux[64], uy[64], lx[PLAN_MAX_PTS], ly[PLAN_MAX_PTS];
    int nu = 0, nl = 0;
    const cJSON *u;
    cJSON_ArrayForEach(u, cJSON_GetObjectItem(rep, "uniform")) {
        if (nu == 64) break;
        ux[nu] = num(u, "bpw", 0);
        uy[nu] = num(u, "predicted_kl", 0);
        if (ux[nu] <= x1 && uy[nu] > ymax) ymax = uy[nu];
        nu++;
    }
    for (int i = 0; i < n; i++)
        if (!pts[i].is_plan) {
            lx[nl] = pts[i].bpw;
            ly[nl++] = pts[i].pred;
        }
    if (cur_on && cx >= x0 && cx <= x1 && cy > ymax) ymax = cy;
    if (!(ymax > 0)) ymax = 1;
    int ascii = !strcmp(a->g->name, "ascii");
    struct plot pl = {W, h, ascii, x0, x1, 0, ymax * 1.02};
    double sx = pts[sel].bpw, sy = pts[sel].pred;
    struct plot_series ser[4] = {{lx, ly, nl, 0}, {ux, uy, nu, 'o'}, {&cx, &cy, cur_on, '+'}, {&sx, &sy, 1, '*'}};
    char *buf = malloc((size_t)h * PLOT_ROW_MAX(W));
    char **rows = malloc(sizeof(char *) * (size_t)h);
    if (buf && rows) {
        for (int i = 0; i < h; i++) rows[i] = buf + (size_t)i * PLOT_ROW_MAX(W);
        plot_render(&pl, ser, 4, rows);
        for (int i = 0; i < h; i++) {
            char yl[16] = "";
            if (i == 0) snprintf(yl, sizeof yl, "%8.4f", pl.y1);
            else if (i == h - 1) snprintf(yl, sizeof yl, "%8.4f", 0.0);
            else if (i == h / 2) snprintf(yl, sizeof yl, "%8s", "KL");
            tui_printf(s, r, r->x + 1, y + i, -1, TS_DIM, "%s", yl);
            tui_putc(s, r, r->x + lab, y + i, TS_DIM, ascii ? L'|' : a->g->vline);
            tui_puts(s, r, r->x + lab + 1, y + i, W, TS_NORMAL, rows[i]);
        }
        int col, row;   /* the selected point stands out */
        if (plot_cell(&pl, sx, sy, &col, &row) == 0) tui_restyle(s, r->x + lab + 1 + col, y + row, 1, TS_CURSOR);
        if (cur_on && plot_cell(&pl, cx, cy, &col, &row) == 0) tui_restyle(s, r->x + lab + 1 + col, y + row, 1, TS_MATCH);
        for (int i = 0; i < W + 1; i++) tui_putc(s, r, r->x + lab + i, y + h, TS_DIM, i ? (ascii ? L'-' : a->g->hline) : L'+');
        tui_printf(s, r, r->x + lab + 1, y + h + 1, -1, TS_DIM, "%-8.2f", x0);
        tui_printf(s, r, r->x + lab + 1 + W - 12, y + h + 1, -1, TS_DIM, "%8.2f bpw", x1);
    }
    free(buf);
    free(rows);
}

static void plan_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    struct src *src = a->src;
    src->plan.want = 1;   /* the size side is asked while the panel shows */
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    tui_printf(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "plan for %s, %s   t target  g GPTQ/RTN  R run  Enter apply",
               src->plan.target[0] ? src->plan.target : "(no target)", src->plan.gptq ? "GPTQ" : "RTN");
    int x = r->x + 2, y = r->y + 1;
    y = draw_size(a, r, x, y);
    y = draw_job(a, r, x, y);
    const cJSON *rep = src->plan.report;
    static struct ppt pts[PLAN_MAX_PTS];
    int n = rep ? points(rep, pts) : 0;
    int y_end = r->y + r->h;
    if (!n) {
        draw_uniform_sizes(a, r, x, y + 1, y_end);
        return;
    }
    int sel = sel_index(a, pts, n);
    int info = 4, h = y_end - y - 1 - 2 - info;
    if (h > 16) h = 16;
    draw_curve(a, r, pts, n, sel, y + 1, h);
    y += 1 + h + 2;
    char b1[32], counts[512];
    const struct ppt *p = &pts[sel];
    tui_printf(s, r, x, y++, r->w - 2, TS_TITLE, "* point %d of %d: %s  %.2f bpw  predicted KL %.4f  (sum of dKL %.4f)%s", sel + 1, n,
               wg_bytes((int64_t)p->bytes, b1, sizeof b1), p->bpw, p->pred, p->sum, p->is_plan ? "  the plan for the target" : "");
    scheme_counts(rep, p->o, counts, sizeof counts, a->g->sep);
    tui_printf(s, r, x + 2, y++, r->w - 4, TS_NORMAL, "units: %s", counts);
    const cJSON *cur = cJSON_GetObjectItem(src->plan.size, "recipe");
    if (!cur) tui_puts(s, r, x, y++, r->w - 2, TS_DIM, "+ current recipe: ...");
    else if (cJSON_IsNumber(cJSON_GetObjectItem(cur, "predicted_kl")))
        tui_printf(s, r, x, y++, r->w - 2, TS_NORMAL, "+ current recipe: %s  %.2f bpw  predicted KL %.4f",
                   wg_bytes((int64_t)num(cur, "bytes", 0), b1, sizeof b1), num(cur, "bpw", 0), num(cur, "predicted_kl", 0));
    else
        tui_printf(s, r, x, y++, r->w - 2, TS_DIM, "+ current recipe: %s  %.2f bpw  (not on the plan: %d unit%s without a measured scheme)",
                   wg_bytes((int64_t)num(cur, "bytes", 0), b1, sizeof b1), num(cur, "bpw", 0), (int)num(cur, "units_off", 0),
                   num(cur, "units_off", 0) == 1 ? "" : "s");
    tui_puts(s, r, x, y, r->w - 2, TS_DIM, "o uniform   Enter: the point as the recipe (u undoes; A before, B it: C)");
}

/* Enter: the selected point as the recipe (one history step), the recipe
 * before as variant A, the point as B. */
static void apply_point(struct app *a) {
    struct src *s = a->src;
    static struct ppt pts[PLAN_MAX_PTS];
    int n = s->plan.report ? points(s->plan.report, pts) : 0;
    if (!n) {
        app_msg(a, TS_WARN, "no curve yet: R runs the plan job");
        return;
    }
    int sel = sel_index(a, pts, n);
    const char *text = str(pts[sel].o, "recipe");
    if (!*text) {
        app_msg(a, TS_ERROR, "plan: point %d has no recipe", sel + 1);
        return;
    }
    if (s->recipe.text && !strcmp(s->recipe.text, text)) {
        app_msg(a, TS_INFO, "point %d is the recipe already", sel + 1);
        return;
    }
    qt_err err = {{0}};
    char b1[32];
    if (s->ops->variant_store(s, 0, s->recipe.text ? s->recipe.text : "", &err) != QT_OK ||
        s->ops->recipe_set(s, text, &err) != QT_OK || s->ops->variant_store(s, 1, text, &err) != QT_OK) {
        app_msg(a, TS_ERROR, "%s", err.msg);
        return;
    }
    app_msg(a, TS_INFO, "applied point %d (%s, %.2f bpw): u undoes; variants A before, B after", sel + 1,
            wg_bytes((int64_t)pts[sel].bytes, b1, sizeof b1), pts[sel].bpw);
}

static int plan_key(struct app *a, enum tui_action act, int key) {
    struct src *s = a->src;
    static struct ppt pts[PLAN_MAX_PTS];
    if (act == TA_TYPE) {
        app_plan_target_prompt(a);
        return 1;
    }
    if (act == TA_GROUP) {   /* the next plan job's candidates: GPTQ's weights or round to nearest */
        s->plan.gptq = !s->plan.gptq;
        app_msg(a, TS_INFO, "%s", s->plan.gptq ? "plan: GPTQ candidates (R: minutes; a GPTQModifier recipe)"
                                                : "plan: round-to-nearest candidates");
        return 1;
    }
    if (act == TA_EXPAND && key == TK_ENTER) {
        apply_point(a);
        return 1;
    }
    int dir = act == TA_EXPAND ? 1 : act == TA_COLLAPSE ? -1 : act == TA_END ? 100000 : act == TA_HOME ? -100000 : 0;
    if (!dir) return 0;
    int n = s->plan.report ? points(s->plan.report, pts) : 0;
    if (!n) return 1;
    int sel = sel_index(a, pts, n) + dir;
    a->plan_sel = sel < 0 ? 0 : sel >= n ? n - 1 : sel;
    return 1;
}

const struct panel_ops panel_plan = {
    .name = "plan", .title = "plan", .draw = plan_draw, .key = plan_key,
};
