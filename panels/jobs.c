/* jobs.c — the engine's jobs: state, a progress bar with rate and ETA,
 * result or error; K cancels the selected one.  Offered only when the
 * source has jobs (the engine daemon). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static void jobs_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    const struct src *src = a->src;
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    tui_printf(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "jobs (%d)   K cancel%s   Esc close", src->jobs.n,
               app_action_available(a, TA_RESUME) ? "   O resume" : "");
    int h = (r->h - 1) / 2;
    wg_list_fix(&a->jobs_l, src->jobs.n, h);
    for (int row = 0; row < h; row++) {
        int k = a->jobs_l.top + row;
        if (k >= src->jobs.n) break;
        const struct src_job *j = &src->jobs.list[k];
        int y = r->y + 1 + 2 * row;
        enum tui_style st = !strcmp(j->state, "failed") ? TS_ERROR
                          : !strcmp(j->state, "done") ? TS_QUANT : TS_NORMAL;
        int x = r->x + 2;
        x += tui_printf(s, r, x, y, r->w - 2, st, "#%-3d %-9s %-11s %s", j->id, j->kind, j->state, j->stage);
        char eta[32] = "";
        if (j->eta >= 0 && !strcmp(j->state, "running")) snprintf(eta, sizeof eta, "ETA %.0fs", j->eta);
        double frac = j->total > 0 ? j->done / j->total : !strcmp(j->state, "done");
        int bw = r->w / 2;
        if (bw < 10) bw = 10;
        wg_bar(s, r, a->g, r->x + 6, y + 1, bw, frac);
        /* how far, in the job's unit: bytes (binary units, as everywhere) for a write */
        char far[96] = "";
        if (j->total > 0 && !j->error[0] && !strcmp(j->kind, "quantize") && !strcmp(j->stage, "writing")) {
            char b1[32], b2[32];
            snprintf(far, sizeof far, "%s of %s  ", wg_bytes((int64_t)j->done, b1, sizeof b1),
                     wg_bytes((int64_t)j->total, b2, sizeof b2));
        } else if (j->total > 0 && !j->error[0] && !strcmp(j->stage, "calibrating") && strcmp(j->state, "done")) {
            /* the sequential pipeline: decoder layers finished (calibrated, quantized, propagated) */
            snprintf(far, sizeof far, "layer %.0f/%.0f  ", j->done, j->total);
        } else if (j->total > 1 && !j->error[0] && strcmp(j->state, "done")) {
            snprintf(far, sizeof far, "%.0f/%.0f  ", j->done, j->total);
        }
        tui_printf(s, r, r->x + 7 + bw, y + 1, -1, j->error[0] ? TS_ERROR : TS_NORMAL, "%3.0f%% %s%s", 100 * frac, far,
                   j->error[0] ? j->error : eta);
        if (j->result[0]) tui_puts(s, r, x + 2, y, r->x + r->w - x - 2, TS_INFO, j->result);
        if (k == a->jobs_l.cur) tui_putc(s, r, r->x, y, TS_CURSOR, a->g->cursor);
    }
    if (!src->jobs.n)
        tui_puts(s, r, r->x + 2, r->y + 2, -1, TS_DIM,
                 app_action_available(a, TA_COMMIT) ? "no jobs yet (c commits the recipe)" : "no jobs yet");
}

static int jobs_key(struct app *a, enum tui_action act, int key) {
    (void)key;
    int n = a->src->jobs.n, h = (a->lay.body.h - 1) / 2;
    qt_err err = {{0}};
    switch (act) {
    case TA_DOWN: wg_list_move(&a->jobs_l, 1, n, h); return 1;
    case TA_UP: wg_list_move(&a->jobs_l, -1, n, h); return 1;
    case TA_HOME: wg_list_move(&a->jobs_l, INT_MIN, n, h); return 1;
    case TA_END: wg_list_move(&a->jobs_l, INT_MAX, n, h); return 1;
    case TA_RESUME: {
        if (!n) return 1;
        const struct src_job *j = &a->src->jobs.list[a->jobs_l.cur];
        if (a->src->ops->job_resume(a->src, j->id, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        else app_msg(a, TS_INFO, "resume requested for job %d", j->id);
        return 1;
    }
    case TA_CANCEL:
        if (!n) return 1;
        if (a->src->ops->job_cancel(a->src, a->src->jobs.list[a->jobs_l.cur].id, &err) != QT_OK)
            app_msg(a, TS_ERROR, "%s", err.msg);
        else
            app_msg(a, TS_INFO, "cancel requested for job %d", a->src->jobs.list[a->jobs_l.cur].id);
        return 1;
    default:
        return 0;
    }
}

const struct panel_ops panel_jobs = {
    .name = "jobs", .title = "jobs", .draw = jobs_draw, .key = jobs_key,
};
