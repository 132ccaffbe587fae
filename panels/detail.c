/* detail.c — the selected node: what it is, the recipe entry that decides
 * its scheme, bytes before and after, the weight histogram (models with
 * weights), bits per weight of its parts as a sparkline. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static int line(struct app *a, const struct tui_rect *r, int *y, enum tui_style st, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int line(struct app *a, const struct tui_rect *r, int *y, enum tui_style st, const char *key,
                const char *fmt, ...) {
    if (*y >= r->y + r->h) return 0;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int x = r->x + 1;
    if (key) x += tui_printf(&a->scr, r, x, *y, -1, TS_DIM, "%-8s ", key);
    /* long values (patterns, names) wrap onto up to two more lines, at a
     * blank when there is one (a number is never split) */
    int w = r->x + r->w - x, len = (int)strlen(buf), off = 0;
    for (int k = 0; k < 3 && off < len && *y < r->y + r->h && w > 0; k++) {
        int chunk = w;
        if (off + w < len && buf[off + w] != ' ')
            for (int i = off + w - 1; i > off + w / 2; i--)
                if (buf[i] == ' ') { chunk = i - off + 1; break; }
        tui_puts(&a->scr, r, x, *y, chunk, st, buf + off);
        off += chunk;
        (*y)++;
    }
    if (len == 0) (*y)++;
    return 1;
}

/* Why tensor ti has its scheme, in recipe words. */
static void why(const struct app *a, int ti, char *buf, size_t n) {
    const struct src_res *rs = &a->src->resol.cur;
    if (rs->state != RS_OK || !rs->t) { snprintf(buf, n, "-"); return; }
    const struct src_tres *rv = &rs->t[ti];
    const struct src_pat *p = rv->pattern >= 0 && rv->pattern < rs->n_pats ? &rs->pats[rv->pattern] : NULL;
    if (p && !p->ignore) snprintf(buf, n, "%.60s: %.180s", p->group, p->text);
    else if (p) snprintf(buf, n, "ignore: %.200s", p->text);
    else snprintf(buf, n, "no target matches");
}

/* One cell of the error table: rel RMSE in percent, "..." while asked. */
static void err_cell(struct app *a, const struct tui_rect *r, int x, int y, int w, int ti,
                     const char *scheme, int current) {
    const struct src_prev *e = src_preview_get(a->src, ti, scheme);
    char b[16];
    enum tui_style st = TS_NORMAL;
    if (!e || e->state == PV_NONE || e->state == PV_PENDING) {
        src_preview_want(a->src, ti, scheme);
        snprintf(b, sizeof b, "...");
        st = TS_DIM;
    } else if (e->state == PV_ERROR) {
        snprintf(b, sizeof b, "-");
        st = TS_DIM;
    } else {
        snprintf(b, sizeof b, "%.2f", 100 * e->rel_rmse);
        st = (enum tui_style)(TS_HEAT0 + wg_heat(e->rel_rmse));
    }
    int len = (int)strlen(b);
    tui_puts(&a->scr, r, x + w - len, y, len, current ? TS_MATCH : st, b);
}

/* The error table bits x group size (symmetric int) and the fp formats,
 * rel RMSE in percent; the current scheme's cell is highlighted.  Returns
 * the next free row. */
static int error_table(struct app *a, const struct tui_rect *r, int y, int ti) {
    static const int bits[] = {8, 4, 3, 2};
    static const int groups[] = {32, 64, 128, 0};
    const char *cur = a->src->resol.cur.t ? a->src->resol.cur.t[ti].scheme : "bf16";
    if (y + 7 > r->y + r->h) return y;
    int x0 = r->x + 1, cw = 6;
    tui_puts(&a->scr, r, x0, y, -1, TS_DIM, "err %");
    for (int g = 0; g < 4; g++) {
        char h[8];
        snprintf(h, sizeof h, "%s", groups[g] ? (groups[g] == 32 ? "g32" : groups[g] == 64 ? "g64" : "g128") : "ch");
        tui_puts(&a->scr, r, x0 + 5 + g * cw + cw - (int)strlen(h), y, -1, TS_DIM, h);
    }
    y++;
    for (int b = 0; b < 4; b++, y++) {
        tui_printf(&a->scr, r, x0, y, -1, TS_DIM, "int%d", bits[b]);
        for (int g = 0; g < 4; g++) {
            char sc[32];
            if (groups[g]) snprintf(sc, sizeof sc, "int%d-g%d-sym", bits[b], groups[g]);
            else snprintf(sc, sizeof sc, "int%d-ch-sym", bits[b]);
            err_cell(a, r, x0 + 5 + g * cw, y, cw, ti, sc, !strcmp(sc, cur));
        }
    }
    static const char *fp[] = {"fp8-ch", "nvfp4", "mxfp4"};
    static const char *fpl[] = {"fp8", "nvfp4", "mxfp4"};
    int x = x0;
    for (int k = 0; k < 3; k++) {
        if (x + (int)strlen(fpl[k]) + 6 > r->x + r->w) {   /* wraps: a figure is never cut at the edge */
            x = x0;
            y++;
        }
        x += tui_puts(&a->scr, r, x, y, -1, TS_DIM, fpl[k]);
        err_cell(a, r, x, y, 6, ti, fp[k], !strcmp(fp[k], cur));
        x += 7;
    }
    return y + 2;
}

/* The calibration-weighted error of the tensor's current scheme (DESIGN §4
 * rel_out: the output error of the Linear on the calibration inputs), once
 * a calib job has produced statistics. */
static void calib_line(struct app *a, const struct tui_rect *r, int *y, int ti) {
    struct src *src = a->src;
    const char *cur = src->resol.cur.t ? src->resol.cur.t[ti].scheme : "bf16";
    if (!src->calib.ready) return;   /* S (help) runs the calib job */
    if (!strcmp(cur, "bf16")) {
        line(a, r, y, TS_NORMAL, "out err", "0 (kept)");
        return;
    }
    const struct src_prev *e = src_preview_get(src, ti, cur);
    if (!e || e->state == PV_NONE || e->state == PV_PENDING) {
        src_preview_want(src, ti, cur);
        line(a, r, y, TS_DIM, "out err", "...");
    } else if (e->state == PV_ERROR) {
        line(a, r, y, TS_DIM, "out err", "-");
    } else if (!e->has_out) {
        line(a, r, y, TS_DIM, "out err", "- (no calibration token)");
    } else {
        line(a, r, y, (enum tui_style)(TS_HEAT0 + wg_heat(e->rel_out)), "out err", "%.2f%% (weights %.2f%%)", 100 * e->rel_out,
             100 * e->rel_rmse);
    }
}

static void detail_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    const struct src *src = a->src;
    int i = app_selected(a);
    int y = r->y;
    if (!i) return;
    const struct mt_node *n = &a->tree.nodes[i];
    char b1[32], b2[32], w[256];
    tui_puts(s, r, r->x + 1, y++, r->w - 1, TS_TITLE, n->label);
    line(a, r, &y, TS_NORMAL, "target", "%s", n->target);
    if (n->tensor >= 0) {
        const struct qt_tensor *t = &src->model->tensors[n->tensor];
        char shape[64] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? ", " : "",
                     (long long)t->shape[d]);
        strcat(shape, "]");
        line(a, r, &y, TS_NORMAL, "shape", "%s %s", shape, qt_dtype_name(t->dtype));
        line(a, r, &y, TS_NORMAL, "role", "%s%s%s", qt_role_name(t->role), t->group >= 0 ? "  fused " : "",
             t->group >= 0 ? strrchr(src->model->groups[t->group].name, '.') + 1 : "");
    } else {
        line(a, r, &y, TS_NORMAL, "tensors", "%d", n->n_members);
    }
    line(a, r, &y, TS_NORMAL, "params", "%s", wg_count(n->params, b1, sizeof b1));
    if (n->scheme) {
        line(a, r, &y, strcmp(n->scheme, "bf16") ? TS_QUANT : TS_KEPT, "scheme", "%s", n->scheme);
    } else {
        /* mixed: the distinct schemes and how many tensors have each */
        const char *seen[4];
        int cnt[4], ns = 0, more = 0;
        for (int k = 0; k < n->n_members; k++) {
            const char *sc = src->resol.cur.t[a->tree.members[n->first_member + k]].scheme;
            int j = 0;
            while (j < ns && strcmp(seen[j], sc)) j++;
            if (j < ns) cnt[j]++;
            else if (ns < 4) { seen[ns] = sc; cnt[ns++] = 1; }
            else more = 1;
        }
        line(a, r, &y, TS_MIXED, "scheme", "mixed (fused groups must agree)");
        for (int j = 0; j < ns; j++) line(a, r, &y, TS_NORMAL, "", "%3d x %s", cnt[j], seen[j]);
        if (more) line(a, r, &y, TS_NORMAL, "", "...");
    }
    if (n->n_members && src->resol.cur.t) {
        why(a, a->tree.members[n->first_member], w, sizeof w);
        line(a, r, &y, TS_NORMAL, "by", "%s", w);
    }
    line(a, r, &y, TS_NORMAL, "bytes", "%s -> %s", wg_bytes(n->bytes_before, b1, sizeof b1),
         wg_bytes(n->bytes_after, b2, sizeof b2));
    if (n->params)
        line(a, r, &y, TS_NORMAL, "bpw", "%.2f", 8.0 * (double)n->bytes_after / (double)n->params);
    double dkl;
    if (app_node_dkl(a, i, &dkl))
        line(a, r, &y, TS_NORMAL, "dKL", "%.4f alone at %s", dkl, src->jobs.dkl_scheme);
    y++;
    if (n->tensor < 0 && mt_has_children(&a->tree, i)) {
        /* bits per weight of the children, one cell each */
        double v[256];
        int nv = 0;
        for (int c = n->first_child; c >= 0 && nv < 256 && nv < r->w - 11; c = a->tree.nodes[c].next)
            v[nv++] = a->tree.nodes[c].params ? 8.0 * a->tree.nodes[c].bytes_after / a->tree.nodes[c].params : 0;
        if (y < r->y + r->h) {
            tui_printf(s, r, r->x + 1, y, -1, TS_DIM, "%-8s ", "parts");
            wg_sparkline(s, r, a->g, r->x + 10, y, v, nv);
            y++;
        }
    }
    if (n->tensor >= 0 && (src->caps & SRC_CAP_PREVIEW)) {   /* the tree lists quantizable weights only */
        calib_line(a, r, &y, n->tensor);
        y = error_table(a, r, y, n->tensor);
    }
    if (n->tensor >= 0 && (src->caps & SRC_CAP_HIST)) {
        /* the engine's statistics of the whole tensor (sampled rows when huge) */
        const struct src_detail *D = src_detail_get(a->src, n->tensor);
        int64_t rows = qt_tensor_rows(&src->model->tensors[n->tensor]);
        if (!D) {
            line(a, r, &y, TS_DIM, "weights", "...");
        } else if (D->state == DT_OK) {
            if (D->rows_sampled < rows)
                line(a, r, &y, TS_DIM, "weights", "%lld of %lld rows, [%.3g, %.3g]", (long long)D->rows_sampled,
                     (long long)rows, D->lo, D->hi);
            else
                line(a, r, &y, TS_DIM, "weights", "%lld rows, [%.3g, %.3g]", (long long)D->rows_sampled, D->lo, D->hi);
            int hh = r->y + r->h - y;
            if (hh > 6) hh = 6;
            if (hh > 0) {
                struct tui_rect hr = {r->x + 1, y, r->w - 2, hh};
                wg_histogram(s, &hr, a->g, D->counts, 64);
                y += hh;
            }
        } else {
            line(a, r, &y, TS_ERROR, "weights", "%s", D->err);
        }
    } else if (n->tensor >= 0 && src->model->metadata_only) {
        line(a, r, &y, TS_DIM, "weights", "metadata only: no histogram");
    }
}

const struct panel_ops panel_detail = {
    .name = "detail", .title = "detail", .draw = detail_draw,
};
