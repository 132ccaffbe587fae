/* detail.c — the selected node: what it is, the recipe entry that decides
 * its scheme, bytes before and after, the weight histogram (models with
 * weights), bits per weight of its parts as a sparkline. */
#include <math.h>
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
    if (p && !p->ignore) snprintf(buf, n, "%.60s: %.180s", p->group[0] ? p->group : "target", p->text);
    else if (p) snprintf(buf, n, "ignore: %.200s", p->text);
    else if (rs->gguf && rs->ftype[0]) snprintf(buf, n, "%s: llama-quantize's rules", rs->ftype);
    else if (rs->gguf) snprintf(buf, n, "the source's type");
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

/* A GGUF target's error table: the GGUF types qtune writes, by width, rel
 * RMSE in percent of ggml's quantizer; the current type highlighted. */
static int gguf_table(struct app *a, const struct tui_rect *r, int y, int ti) {
    static const char *const rows[][5] = {
        {"Q8_0", NULL}, {"Q6_K", NULL}, {"Q5_K", "Q5_0", "Q5_1", NULL},
        {"Q4_K", "Q4_0", "Q4_1", "IQ4_NL", "IQ4_XS"}, {"Q3_K", "Q2_K", NULL},
    };
    const char *cur = a->src->resol.cur.t ? a->src->resol.cur.t[ti].scheme : "BF16";
    if (y + 7 > r->y + r->h) return y;
    int x0 = r->x + 1;
    tui_puts(&a->scr, r, x0, y++, -1, TS_DIM, "err %  (GGUF, ggml's quantizer)");
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++, y++) {
        int x = x0;
        for (int j = 0; j < 5 && rows[k][j]; j++) {
            int l = (int)strlen(rows[k][j]);
            if (x + l + 7 > r->x + r->w) {   /* wraps: a figure is never cut at the edge */
                x = x0;
                y++;
            }
            x += tui_puts(&a->scr, r, x, y, -1, TS_DIM, rows[k][j]);
            err_cell(a, r, x, y, 6, ti, rows[k][j], !strcmp(rows[k][j], cur));
            x += 7;
        }
    }
    return y + 1;
}

/* The error table bits x group size (symmetric int) and the fp formats,
 * rel RMSE in percent; the current scheme's cell is highlighted.  Returns
 * the next free row. */
static int error_table(struct app *a, const struct tui_rect *r, int y, int ti) {
    if (a->src->resol.cur.gguf) return gguf_table(a, r, y, ti);
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

static void tokens_line(struct app *a, const struct tui_rect *r, int *y, int ti, int64_t tokens, int fallback,
                        const char *ran);

/* The calibration-weighted error of the tensor's current scheme (DESIGN §4
 * rel_out: the output error of the Linear on the calibration inputs), once
 * a calib job has produced statistics. */
static void calib_line(struct app *a, const struct tui_rect *r, int *y, int ti, int tokens_shown) {
    struct src *src = a->src;
    const char *cur = src->resol.cur.t ? src->resol.cur.t[ti].scheme : "bf16";
    if (!src->calib.ready) return;   /* S (help) runs the calib job */
    const struct src_prev *pt = src_preview_get(src, ti, cur);
    if (!tokens_shown && pt && pt->state == PV_OK && pt->tokens >= 0)
        tokens_line(a, r, y, ti, pt->tokens, 0, "");
    if (wg_scheme_kept(cur)) {
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

/* Tokens the calibration routed to a tensor, with the low-token rule the
 * pipeline applied when it was starved (pipeline.h): fewer tokens than its
 * input width, GPTQ on the pooled Hessian of the layer's experts; none at
 * all, round-to-nearest. */
static void tokens_line(struct app *a, const struct tui_rect *r, int *y, int ti, int64_t tokens, int fallback,
                        const char *ran) {
    int64_t cols = qt_tensor_cols(&a->src->model->tensors[ti]);
    if (tokens < 0) return;
    if (fallback && tokens == 0) line(a, r, y, TS_ERROR, "tokens", "0: no token reached it, %s", ran);
    else if (fallback) line(a, r, y, TS_MIXED, "tokens", "%lld < %lld inputs: GPTQ on the layer's pooled Hessian",
                            (long long)tokens, (long long)cols);
    else line(a, r, y, TS_NORMAL, "tokens", "%lld (calibration)", (long long)tokens);
}

/* What the recipe's calibrated algorithms do to tensor ti (the engine's
 * tensor_calib): the algorithm; once a quantize job has run it, its own
 * output error on the calibration Hessian beside round-to-nearest's,
 * labelled, the tokens it saw and, after SparseGPT, what pruning alone
 * costs beside quantization alone.  Before that the error table is RTN's
 * and says so.  Returns 1 when it showed the tensor's token count. */
static int algo_lines(struct app *a, const struct tui_rect *r, int *y, int ti) {
    struct src *src = a->src;
    const struct src_tcalib *tc = src_tcalib_get(src, ti);
    if (!tc) return 0;
    if (tc->state == TC_ERROR) { line(a, r, y, TS_DIM, "algo", "%s", tc->err); return 0; }
    const char *cur = src->resol.cur.t ? src->resol.cur.t[ti].scheme : "bf16";
    int have = tc->job && !strcmp(tc->scheme, cur) && tc->out_err >= 0;
    if (!tc->algo[0] && !tc->modifiers[0]) return 0;   /* kept, plain recipe */
    if (!have && tc->job && !strcmp(tc->scheme, cur) && (tc->modifiers[0] || strcmp(tc->algo, "RTN")))
        /* the job ran it but measured nothing for it (an AWQ clip search) */
        line(a, r, y, TS_DIM, "algo", "%s (job %d): no output figures for it", tc->modifiers[0] ? tc->modifiers : tc->algo,
             tc->job);
    else if (tc->algo[0] && strcmp(tc->algo, "RTN") && !have)
        line(a, r, y, TS_DIM, "algo", "%s: previewed as RTN until a commit runs it", tc->algo);
    else if (tc->modifiers[0] && !have)
        line(a, r, y, TS_DIM, "algo", "%s: previewed as RTN until a commit runs it", tc->modifiers);
    if (have) {
        /* the job's figures: GPTQ (or RTN after smoothing) on the calibration Hessian */
        line(a, r, y, TS_QUANT, "algo", "%s (job %d%s)", tc->modifiers[0] ? tc->modifiers : tc->algorithm, tc->job,
             strcmp(tc->job_state, "done") ? ", running" : "");
        /* the engine's ratios are of energies (Σ e H eᵀ / Σ w H wᵀ): shown
         * as relative RMS, the scale of every other err% here */
        double oe = sqrt(tc->out_err);
        char rtn[32] = "-";
        if (tc->rtn_err >= 0) snprintf(rtn, sizeof rtn, "%.2f%%", 100 * sqrt(tc->rtn_err));
        if (strcmp(tc->algorithm, "RTN"))
            line(a, r, y, (enum tui_style)(TS_HEAT0 + wg_heat(oe)), "out err", "%s %.2f%%  RTN %s (Hessian)",
                 tc->algorithm, 100 * oe, rtn);
        else if (tc->modifiers[0] && tc->rtn_err >= 0 && tc->rtn_err != tc->out_err)
            /* rounded to nearest after the recipe's smoothing (SmoothQuant,
             * AWQ): beside plain RTN of the weight as it was */
            line(a, r, y, (enum tui_style)(TS_HEAT0 + wg_heat(oe)), "out err", "%s+RTN %.2f%%  RTN %s (Hessian)",
                 tc->modifiers, 100 * oe, rtn);
        else
            line(a, r, y, (enum tui_style)(TS_HEAT0 + wg_heat(oe)), "out err", "RTN %.2f%% (Hessian)", 100 * oe);
        if (tc->sp_err >= 0) {
            /* SparseGPT: what each stage costs the Linear's output alone */
            line(a, r, y, TS_NORMAL, "stages", "2:4 alone %.2f%%  quant alone %s  both %.2f%%", 100 * sqrt(tc->sp_err),
                 rtn, 100 * oe);
            if (tc->sparsity >= 0) line(a, r, y, TS_NORMAL, "sparsity", "%.1f%% zeros (written dense)", 100 * tc->sparsity);
        }
        tokens_line(a, r, y, ti, tc->tokens, tc->fallback, tc->algorithm);
        return tc->tokens >= 0;
    }
    if (tc->job && tc->out_err >= 0 && tc->algo[0])
        line(a, r, y, TS_DIM, "", "job %d ran it at %s", tc->job, tc->scheme);
    return 0;
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
        line(a, r, &y, !wg_scheme_kept(n->scheme) ? TS_QUANT : TS_KEPT, "scheme", "%s", n->scheme);
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
        line(a, r, &y, TS_MIXED, "scheme", src->resol.cur.gguf ? "mixed (GGUF types)" : "mixed (fused groups must agree)");
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
        int tk = algo_lines(a, r, &y, n->tensor);
        calib_line(a, r, &y, n->tensor, tk);
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
