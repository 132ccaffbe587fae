/* app.c — frame drawing and key dispatch of the workbench. */
#include "app.h"

#include <cJSON.h>


#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int app_init(struct app *a, struct src *s, int w, int h, int ascii, qt_err *err) {
    memset(a, 0, sizeof *a);
    a->src = s;
    a->g = tui_glyphs_choose(ascii);
    if (tui_screen_init(&a->scr, w, h, a->g == &tui_glyphs_ascii) != 0)
        return qt_err_set(err, "screen: out of memory");
    if (mt_build(&a->tree, s, err) != QT_OK) { tui_screen_free(&a->scr); return QT_ERR; }
    a->side = &panel_detail;
    a->plan_sel = -1;
    app_resize(a, w, h);
    return QT_OK;
}

static void cmp_clear(struct app *a) {
    free(a->cmp_diff);
    a->cmp_diff = NULL;
    a->n_cmp_diff = 0;
    a->cmp_valid = 0;
}

void app_free(struct app *a) {
    cmp_clear(a);
    mt_free(&a->tree);
    tui_screen_free(&a->scr);
}

void app_resize(struct app *a, int w, int h) {
    if (w != a->scr.w || h != a->scr.h) tui_screen_resize(&a->scr, w, h);
    tui_layout_compute(w, h, &a->lay);
    if (a->lay.too_small) return;
    if (panel_tree.resize) panel_tree.resize(a, &a->lay.tree);
    if (a->side->resize) a->side->resize(a, &a->lay.side);
    if (a->full && a->full->resize) a->full->resize(a, &a->lay.body);
}

void app_msg(struct app *a, enum tui_style st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->msg_style = st;
    a->msg_match = 0;
    a->msg_job = 0;
}

int app_selected(const struct app *a) {
    if (a->tree.n_vis == 0) return 0;
    return a->tree.vis[a->tree_l.cur];
}

void app_select(struct app *a, int node) {
    mt_reveal(&a->tree, node);
    int k = mt_vis_index(&a->tree, node), h = a->lay.tree.h - 1;
    if (k >= 0) {
        a->tree_l.cur = k;
        if (k < a->tree_l.top || k >= a->tree_l.top + h) a->tree_l.top = k - h / 2;   /* jumps land mid-screen */
    }
    wg_list_fix(&a->tree_l, a->tree.n_vis, h);
}

int app_node_dkl(const struct app *a, int node, double *dkl) {
    const struct src *s = a->src;
    const char *t = a->tree.nodes[node].target;
    size_t n = strlen(t);
    if (!s->jobs.n_dkl || strncmp(t, "re:", 3) || n < 6 || strcmp(t + n - 2, "\\.")) return 0;
    char plain[512];
    size_t k = 0;
    for (size_t i = 3; i < n - 2 && k < sizeof plain - 2; i++)
        if (t[i] != '\\') plain[k++] = t[i];
    plain[k] = 0;
    for (int i = 0; i < s->jobs.n_dkl; i++)
        if (!strcmp(s->jobs.dkl_name[i], plain)) { *dkl = s->jobs.dkl[i]; return 1; }
    /* a node above the scan's groups (a layer): the sum of its groups' dKL,
     * the additive estimate the planner uses too */
    plain[k++] = '.';
    plain[k] = 0;
    double sum = 0;
    int found = 0;
    for (int i = 0; i < s->jobs.n_dkl; i++)
        if (!strncmp(s->jobs.dkl_name[i], plain, k)) { sum += s->jobs.dkl[i]; found = 1; }
    if (found) *dkl = sum;
    return found;
}

void app_sort(struct app *a, int key, int desc) {
    a->sort = key > 0 && key < SORT_N ? key : SORT_NONE;
    a->sort_desc = desc;
    panel_tree_order(a);
    if (a->sort) app_msg(a, TS_INFO, "sorted by %s, %s first (> next column, < reverse)", panel_tree_sort_name(a->sort),
                         desc ? "largest" : "smallest");
    else app_msg(a, TS_INFO, "tree order");
}

int app_dirty(const struct app *a) { return a->src->recipe.version != a->src->recipe.saved_version; }

int app_action_available(const struct app *a, enum tui_action act) {
    int caps = a->src->caps;
    switch (act) {
    case TA_COMMIT: return (caps & SRC_CAP_JOBS) && a->src->jobs.commit_kind[0];
    case TA_SENS: return (caps & SRC_CAP_JOBS) && a->src->jobs.can_sens && a->src->ops->sens_submit;
    case TA_EVAL_AB: return (caps & SRC_CAP_JOBS) && a->src->jobs.can_eval && a->src->ops->eval_submit;
    case TA_EVAL_SET: return (caps & SRC_CAP_JOBS) && (a->src->jobs.can_eval || a->src->jobs.can_sens) &&
                             a->src->ops->settings_send;
    case TA_CALIB: return (caps & SRC_CAP_JOBS) && a->src->calib.can && a->src->ops->calib_submit;
    case TA_JOBS: case TA_CANCEL: return (caps & SRC_CAP_JOBS) != 0;
    case TA_RESUME: return (caps & SRC_CAP_RESUME) && a->src->ops->job_resume;
    case TA_DEPLOY: return (caps & SRC_CAP_DEPLOY) != 0;
    case TA_PLAN: return a->src->plan.can_size && a->src->ops->plan_size_send;
    case TA_PLAN_RUN: return (caps & SRC_CAP_JOBS) && a->src->plan.can && a->src->ops->plan_submit;
    case TA_DETACH: return (caps & SRC_CAP_DETACH) != 0;
    default: return 1;
    }
}

static void edit_report(struct app *a);

void app_source_changed(struct app *a) {
    mt_update(&a->tree, a->src);
    cmp_clear(a);
    a->src->changed = 0;
    if (a->src->edit.seq != a->edit_seen) {   /* an edit's answer is in */
        a->edit_seen = a->src->edit.seq;
        edit_report(a);
    }
    if (a->src->note[0]) {
        app_msg(a, a->src->note_err ? TS_ERROR : TS_INFO, "%s", a->src->note);
        int id;
        if (!a->src->note_err && sscanf(a->src->note, "job %d (", &id) == 1) a->msg_job = id;   /* follows the job */
        if (a->src->note_err) a->undo_wait = 0;
        a->src->note[0] = 0;
    }
    if (a->msg_job) {   /* "job N (kind): queued" becomes running, done ... as the engine says */
        const struct src_job *j = NULL;
        for (int i = 0; i < a->src->jobs.n; i++)
            if (a->src->jobs.list[i].id == a->msg_job) j = &a->src->jobs.list[i];
        if (j) {
            int st = !strcmp(j->state, "failed") ? TS_ERROR : TS_INFO;
            app_msg(a, st, "job %d (%s): %s%s%s", j->id, j->kind, j->state, j->error[0] ? ": " : "", j->error);
            a->msg_job = j->id;
            if (strcmp(j->state, "queued") && strcmp(j->state, "running")) a->msg_job = 0;
        }
    }
    if (a->undo_wait && a->src->recipe.replies != a->undo_from) {   /* the version undo/redo restored */
        app_msg(a, TS_INFO, "%s: recipe version %d", a->undo_wait == 1 ? "undone" : "redone", a->src->recipe.version);
        a->undo_wait = 0;
    }
    const struct src_match *mt = &a->src->match;
    if (a->msg_match && (mt->gen != a->msg_match || mt->state != MT_PENDING)) {   /* an accepted pattern's count */
        size_t n = strlen(a->msg);
        if (mt->gen == a->msg_match && mt->state == MT_OK)
            snprintf(a->msg + n, sizeof a->msg - n, " (%d module%s)", mt->modules, mt->modules == 1 ? "" : "s");
        a->msg_match = 0;
    }
}

/* ---- drawing ---- */

static void draw_status(struct app *a) {
    struct tui_screen *s = &a->scr;
    const struct tui_rect *r = &a->lay.status;
    const struct src *src = a->src;
    tui_fill(s, r, L' ', TS_STATUS);
    char b1[32], line[512];
    int x = tui_printf(s, r, 0, r->y, -1, TS_STATUS_KEY, " %s", src->model_name);
    x += tui_printf(s, r, x, r->y, -1, TS_STATUS, " %s%s", src->model->cfg.model_type,
                    src->model->metadata_only ? " (metadata)" : "");
    if (src->resol.cur.state == RS_OK)
        snprintf(line, sizeof line, "%srecipe %s%s  %.2f bpw", a->g->sep,
                 wg_bytes(src->resol.cur.sum.bytes_after, b1, sizeof b1), app_dirty(a) ? " [+]" : "", src->resol.cur.sum.bpw);
    else
        snprintf(line, sizeof line, "%srecipe error", a->g->sep);
    x += tui_puts(s, r, x, r->y, -1, TS_STATUS, line);
    /* lint summary and the smallest setup the recipe fits, when the engine says */
    char extra[128] = "";
    if ((src->caps & SRC_CAP_LINT) && (src->lint.n_errors || src->lint.n_warnings))
        snprintf(extra, sizeof extra, "%slint %dE %dW", a->g->sep, src->lint.n_errors, src->lint.n_warnings);
    const cJSON *dp = src->deploy.result;
    if (src->resol.cur.state == RS_OK && src->resol.cur.gguf) {   /* llama.cpp, not vLLM: the file type instead of fits */
        size_t el = strlen(extra);
        snprintf(extra + el, sizeof extra - el, "%sGGUF %s", a->g->sep, src->resol.cur.ftype[0] ? src->resol.cur.ftype : "mixed");
    } else if (dp) {
        int need = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(dp, "gpus_needed"));
        const char *gname = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(dp, "gpu"), "name"));
        size_t el = strlen(extra);
        if (need > 0) snprintf(extra + el, sizeof extra - el, "%sfits %dx%s", a->g->sep, need, gname ? gname : "?");
        else snprintf(extra + el, sizeof extra - el, "%sover 8x%s", a->g->sep, gname ? gname : "?");
    }
    if (extra[0]) {
        int elen = (int)mbstowcs(NULL, extra, 0);
        if (x + elen + 12 < r->w) x += tui_puts(s, r, x, r->y, -1, TS_STATUS, extra);
    }
    snprintf(line, sizeof line, "%s%d quantized", a->g->sep, src->resol.cur.sum.n_quantized);
    char right[256];
    snprintf(right, sizeof right, "engine %s%s%s%s%s ", src->engine_state, src->session[0] ? " @" : "",
             src->session, src->device[0] ? a->g->sep : "", src->device);
    int len = (int)mbstowcs(NULL, line, 0), rlen = (int)mbstowcs(NULL, right, 0);
    if (x + rlen + 1 >= r->w) {   /* narrow: the state alone */
        snprintf(right, sizeof right, "%s ", src->engine_state);
        rlen = (int)mbstowcs(NULL, right, 0);
    }
    if (x + len + rlen + 1 < r->w) x += tui_puts(s, r, x, r->y, -1, TS_STATUS, line);
    if (x + rlen + 1 < r->w) tui_puts(s, r, r->w - rlen, r->y, -1, TS_STATUS, right);
}

static void draw_hints(struct app *a) {
    struct tui_screen *s = &a->scr;
    const struct tui_rect *r = &a->lay.hints;
    tui_fill(s, r, L' ', TS_HINT);
    char k[16];
    /* help first and quit last, always; the rest while they fit */
    static const enum tui_action order[] = {
        TA_HELP, TA_BITS_UP, TA_GROUP, TA_SYM, TA_TYPE, TA_IGNORE, TA_PATTERN, TA_UNDO, TA_RECIPE,
        TA_COMMIT, TA_JOBS, TA_DEPLOY, TA_DETACH, TA_SENS, TA_COMPARE, TA_MARK, TA_SEARCH, TA_WRITE,
    };
    int quit_w = 7, x = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        enum tui_action act = order[i];
        if (!app_action_available(a, act)) continue;
        const char *label = tui_keydefs[act - 1].hint;
        tui_action_key(act, k, sizeof k);
        if (act == TA_BITS_UP) { snprintf(k, sizeof k, "+-"); label = "bits"; }
        int w = (int)strlen(k) + (int)strlen(label) + 2;
        if (x + w + quit_w > r->w) break;
        x += tui_puts(s, r, x, r->y, -1, TS_HINT_KEY, k);
        x += tui_puts(s, r, x + 1, r->y, -1, TS_HINT, label) + 2;
    }
    tui_puts(s, r, r->w - 6, r->y, -1, TS_HINT_KEY, "q");
    tui_puts(s, r, r->w - 4, r->y, -1, TS_HINT, "quit");
}

static const char *prompt_label(enum prompt_kind k) {
    switch (k) {
    case PR_SEARCH: return "/";
    case PR_TARGET: return "target pattern: ";
    case PR_IGNORE: return "ignore pattern: ";
    case PR_WRITE: return "write recipe to: ";
    case PR_FILTER: return "filter: ";
    case PR_JUMP: return "go to layer: ";
    case PR_EVALSET: return "eval settings: ";
    case PR_PLAN: return "plan target: ";
    case PR_DEPLOY: return "deploy: ";
    default: return "";
    }
}

static void prompt_live(struct app *a);
static int utf8_next(const char *b, int n, int i);

static void draw_msg(struct app *a) {
    struct tui_screen *s = &a->scr;
    const struct tui_rect *r = &a->lay.msg;
    if (a->prompt) {
        prompt_live(a);   /* the engine's answer may have come since the last key */
        int x = tui_puts(s, r, 0, r->y, -1, TS_PROMPT, prompt_label(a->prompt));
        /* a line longer than the row scrolls: the cursor stays on screen,
         * an ellipsis says that the start is cut */
        int off = 0;
        while (off < a->ppos) {
            char head[sizeof a->pbuf];
            tui_strcpy(head, sizeof head, a->pbuf + off);
            head[a->ppos - off] = 0;
            if (x + (off ? 1 : 0) + (int)mbstowcs(NULL, head, 0) < r->w - 1) break;
            off = utf8_next(a->pbuf, a->plen, off);
        }
        if (off) x += tui_puts(s, r, x, r->y, -1, TS_DIM, a->g->ellipsis);
        char head[sizeof a->pbuf];
        tui_strcpy(head, sizeof head, a->pbuf + off);
        head[a->ppos - off] = 0;
        int cx = x + (int)mbstowcs(NULL, head, 0);
        x += tui_puts(s, r, x, r->y, -1, TS_NORMAL, a->pbuf + off);
        if (a->ppos == a->plen) tui_putc(s, r, x, r->y, TS_CURSOR, L' ');
        else tui_restyle(s, cx, r->y, 1, TS_CURSOR);
        if (a->pinfo[0]) {
            int len = (int)mbstowcs(NULL, a->pinfo, 0);
            int px = r->w - len - 1;
            if (px < x + 2) px = x + 2;
            tui_puts(s, r, px, r->y, -1, a->pinfo_style, a->pinfo);
        }
        return;
    }
    tui_puts(s, r, 0, r->y, -1, a->msg_style, a->msg);
}

static void draw_dialog(struct app *a) {
    if (a->dialog == DLG_OVERWRITE) {
        struct tui_rect in = wg_box(&a->scr, a->g, 60, 6, "write");
        char b[300];
        tui_printf(&a->scr, &in, in.x, in.y, in.w, TS_NORMAL, "%s exists.",
                   wg_elide(a->confirm_path, in.w - 8, a->g->ellipsis, b, sizeof b));
        tui_puts(&a->scr, &in, in.x, in.y + 1, in.w, TS_NORMAL, "Overwrite it with the session's recipe?");
        int x = in.x;
        x += tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_HINT_KEY, "y");
        x += tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_NORMAL, " yes   ");
        x += tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_CURSOR, "N");
        tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_NORMAL, " no (default)");
        return;
    }
    if (a->dialog != DLG_QUIT) return;
    struct tui_rect in = wg_box(&a->scr, a->g, 52, 6, "quit");
    int edits = a->src->recipe.version - a->src->recipe.saved_version;
    if (edits < 0) edits = -edits;
    tui_printf(&a->scr, &in, in.x, in.y, in.w, TS_NORMAL, "%d recipe edit%s not committed (c) or written (w).",
               edits, edits == 1 ? "" : "s");
    tui_puts(&a->scr, &in, in.x, in.y + 1, in.w, TS_NORMAL, "Quit anyway?");
    int x = in.x;
    x += tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_HINT_KEY, "y");
    x += tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_NORMAL, " yes   ");
    x += tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_CURSOR, "N");
    tui_puts(&a->scr, &in, x, in.y + 3, -1, TS_NORMAL, " no (default)");
}

void app_draw(struct app *a) {
    struct tui_screen *s = &a->scr;
    if (a->src->changed) app_source_changed(a);   /* never draw from a replaced recipe */
    tui_screen_erase(s);
    a->frames++;
    if (a->lay.too_small) {
        const char *l1 = "terminal too small";
        char l2[64];
        snprintf(l2, sizeof l2, "%dx%d, need %dx%d", s->w, s->h, TUI_MIN_W, TUI_MIN_H);
        int y = s->h / 2 - 1;
        if (y < 0) y = 0;
        int x1 = (s->w - (int)strlen(l1)) / 2, x2 = (s->w - (int)strlen(l2)) / 2;
        tui_puts(s, NULL, x1 < 0 ? 0 : x1, y, -1, TS_WARN, l1);
        tui_puts(s, NULL, x2 < 0 ? 0 : x2, y + 1, -1, TS_NORMAL, l2);
        return;
    }
    draw_status(a);
    if (a->full) {
        a->full->draw(a, &a->lay.body, 1);
    } else {
        panel_tree.draw(a, &a->lay.tree, !a->focus_side);
        for (int y = a->lay.sep.y; y < a->lay.sep.y + a->lay.sep.h; y++)
            tui_putc(s, NULL, a->lay.sep.x, y, TS_BORDER, a->g->vline);
        a->side->draw(a, &a->lay.side, a->focus_side);
    }
    draw_msg(a);
    draw_hints(a);
    draw_dialog(a);
}

/* ---- edits: intents the engine applies ---- */

/* Nodes an edit applies to: the marked ones, else the selected one. */
static int edit_nodes(struct app *a, int *out, int max) {
    int n = 0;
    if (a->tree.n_marked) {
        for (int i = 1; i < a->tree.n && n < max; i++)
            if (a->tree.nodes[i].marked) out[n++] = i;
    } else if (a->tree.n_vis) {
        out[n++] = app_selected(a);
    }
    return n;
}

/* The message of the last edit's answer: done, refused, or resolved to
 * something else than asked (fused groups must agree, shapes, ...). */
static void edit_report(struct app *a) {
    const struct src_edit *E = &a->src->edit;
    if (!E->ok) { app_msg(a, TS_ERROR, "%s", E->why); return; }
    if (E->pattern) {
        if (E->ignore) app_msg(a, TS_INFO, "ignore %s", E->node);
        else app_msg(a, TS_INFO, "target %s -> %s", E->node, E->scheme);
        /* the count as the engine answered it for this text; when it is
         * not in yet, the message gets it when it comes */
        const struct src_match *mt = &a->src->match;
        size_t n = strlen(a->msg);
        if (a->pat_count >= 0) snprintf(a->msg + n, sizeof a->msg - n, " (%d module%s)", a->pat_count, a->pat_count == 1 ? "" : "s");
        else if (mt->gen == a->pat_gen && mt->state == MT_PENDING) a->msg_match = a->pat_gen;
        return;
    }
    if (!E->stepped) { app_msg(a, TS_WARN, "%s", E->why); return; }
    if (E->gguf) {   /* the target or the file type */
        if (!strcmp(E->scheme, "compressed-tensors"))
            app_msg(a, TS_INFO, "target: compressed-tensors (vLLM); G: GGUF again");
        else
            app_msg(a, TS_INFO, "target: GGUF %s for llama.cpp (+/- t: GGUF types, F: next file type, c: write it)", E->scheme);
        return;
    }
    const char *now = E->now[0] ? E->now : "bf16";
    int kept = !strcmp(now, "bf16") || !strcmp(now, "BF16");
    if (E->ignore && E->all_kept)
        app_msg(a, kept ? TS_WARN : TS_INFO, "%s: not ignored (%s)", E->node, kept ? "no target matches it" : now);
    else if (strcmp(now, E->scheme))
        app_msg(a, TS_WARN, "%s -> %s, but it resolves to %s", E->node, E->scheme, now);
    else
        app_msg(a, TS_INFO, "%s -> %s%s", E->node, E->scheme, E->multi ? " (and marked nodes)" : "");
}

/* The scheme node i has in the engine's resolution (its first member's,
 * the common one when they agree), as an edit steps from it. */
static const char *node_scheme(const struct app *a, int i) {
    const struct mt_node *nd = &a->tree.nodes[i];
    if (nd->n_members && a->src->resol.cur.t) return a->src->resol.cur.t[a->tree.members[nd->first_member]].scheme;
    return "bf16";
}

static const char *edit_action(enum tui_action act) {
    switch (act) {
    case TA_BITS_UP: return "bits+";
    case TA_BITS_DOWN: return "bits-";
    case TA_GROUP: return "group";
    case TA_SYM: return "sym";
    case TA_TYPE: return "type";
    case TA_IGNORE: return "ignore";
    case TA_GGUF: return "gguf";
    case TA_FTYPE: return "ftype";
    default: return NULL;
    }
}

/* One key, one request: the nodes (by their targets) and the action; the
 * engine steps each node's scheme and answers with everything the frame
 * shows (source.h). */
static void do_edit(struct app *a, enum tui_action act) {
    int nodes[256];
    int n = act == TA_GGUF || act == TA_FTYPE ? 0 : edit_nodes(a, nodes, 256);   /* those two: the whole recipe */
    const char *action = edit_action(act);
    if ((!n && act != TA_GGUF && act != TA_FTYPE) || !action) return;
    const char *targets[256];
    for (int i = 0; i < n; i++) targets[i] = a->tree.nodes[nodes[i]].target;
    qt_err err = {{0}};
    if (a->src->ops->edit_send(a->src, action, n, targets, NULL, NULL, &err) != QT_OK) {
        app_msg(a, TS_ERROR, "%s", err.msg);
        return;
    }
    app_msg(a, TS_DIM, "%s: %s ...", n ? targets[0] : "recipe", action);
}

/* ---- prompts ---- */

static void prompt_live(struct app *a) {
    a->pinfo[0] = 0;
    if (a->prompt == PR_EVALSET) {
        snprintf(a->pinfo, sizeof a->pinfo, "data=FILE ctx=N chunks=N calib_samples=N calib_len=N arith=f32|bf16 "
                 "(default: the engine's)");
        a->pinfo_style = TS_DIM;
        return;
    }
    if (a->prompt == PR_DEPLOY) {
        snprintf(a->pinfo, sizeof a->pinfo, "ctx=N batch=N kv=auto|bf16|fp8 util=0.9 tp=auto|1|2|4|8");
        a->pinfo_style = TS_DIM;
        return;
    }
    if (a->prompt == PR_PLAN) {
        snprintf(a->pinfo, sizeof a->pinfo, "22GiB, W4A16 (its size), 4.5bpw, 2x%s",
                 a->src->deploy.gpu[0] ? a->src->deploy.gpu : "GPU");
        a->pinfo_style = TS_DIM;
        return;
    }
    if (a->prompt == PR_FILTER) {
        if (!a->plen) snprintf(a->pinfo, sizeof a->pinfo, "role:R scheme:S q lint NAME (Enter: %s)", a->filter[0] ? "clear" : "none");
        else {
            int c = panel_tree_filter_count(a, a->pbuf);
            snprintf(a->pinfo, sizeof a->pinfo, "%d tensor%s", c, c == 1 ? "" : "s");
        }
        a->pinfo_style = a->plen && !panel_tree_filter_count(a, a->pbuf) ? TS_WARN : TS_DIM;
        return;
    }
    if (a->prompt == PR_WRITE && a->plen) {
        char abs[2300];
        if (a->pbuf[0] == '/') tui_strcpy(abs, sizeof abs, a->pbuf);
        else {
            char cwd[1024];
            snprintf(abs, sizeof abs, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", a->pbuf);
        }
        if (access(abs, F_OK) == 0) {
            snprintf(a->pinfo, sizeof a->pinfo, "exists: asks before overwriting");
            a->pinfo_style = TS_WARN;
        }
        return;
    }
    if (a->prompt != PR_TARGET && a->prompt != PR_IGNORE) return;
    if (!a->plen) {
        snprintf(a->pinfo, sizeof a->pinfo, "name, class or re:REGEX");
        a->pinfo_style = TS_DIM;
        return;
    }
    /* counted by the engine (the `match` op); "..." until the answer for
     * this very text is in */
    const struct src_match *mt = src_match_want(a->src, a->pbuf);
    if (mt->state == MT_PENDING) {
        snprintf(a->pinfo, sizeof a->pinfo, "...");
        a->pinfo_style = TS_DIM;
    } else if (mt->state == MT_ERROR) {
        tui_strcpy(a->pinfo, sizeof a->pinfo, mt->err);
        a->pinfo_style = TS_ERROR;
    } else {
        int c = mt->modules;
        snprintf(a->pinfo, sizeof a->pinfo, "%d module%s", c, c == 1 ? "" : "s");
        a->pinfo_style = c ? TS_INFO : TS_WARN;
    }
}

static void prompt_open(struct app *a, enum prompt_kind k, const char *init) {
    a->prompt = k;
    tui_strcpy(a->pbuf, sizeof a->pbuf, init ? init : "");
    a->plen = a->ppos = (int)strlen(a->pbuf);
    prompt_live(a);
}

static int search_from(struct app *a, const char *text, int dir) {
    const struct panel_ops *p = a->full ? a->full : a->focus_side ? a->side : &panel_tree;
    if (!p->search) p = &panel_tree;
    if (!p->search(a, text, dir)) {
        app_msg(a, TS_WARN, "not found: %s", text);
        return 0;
    }
    return 1;
}

/* The eval settings as the prompt shows them: "data=FILE ctx=N chunks=N
 * calib_samples=N calib_len=N arith=MODE" (calib_*: the commit's
 * calibration; arith: the arithmetic of previews and of the jobs that
 * round weights, the mode the daemon names). */
static void evalset_text(const struct src *s, char *buf, size_t n) {
    char c[16] = "default", k[16] = "default", cs[16] = "default", cl[16] = "default";
    if (s->jobs.eval_ctx > 0) snprintf(c, sizeof c, "%d", s->jobs.eval_ctx);
    if (s->jobs.eval_chunks > 0) snprintf(k, sizeof k, "%d", s->jobs.eval_chunks);
    if (s->jobs.calib_samples > 0) snprintf(cs, sizeof cs, "%d", s->jobs.calib_samples);
    if (s->jobs.calib_len > 0) snprintf(cl, sizeof cl, "%d", s->jobs.calib_len);
    snprintf(buf, n, "data=%.1000s ctx=%s chunks=%s calib_samples=%s calib_len=%s arith=%s", s->jobs.eval_data, c, k,
             cs, cl, s->jobs.arith[0] ? s->jobs.arith : "default");
}

/* Sends one setting of a settings prompt: 1, or -1 with the daemon's
 * refusal shown. */
static int setting_send(struct app *a, const char *key, const char *str, double num) {
    qt_err err = {{0}};
    if (a->src->ops->settings_send(a->src, key, str, num, &err) == QT_OK) return 1;
    app_msg(a, TS_ERROR, "%s", err.msg);
    return -1;
}

/* One KEY=VALUE word of a settings prompt: 1 sent, 0 the value it has
 * already, -1 refused (said), -2 not one of the prompt's keys. */
typedef int (*setting_word_fn)(struct app *a, const char *key, char *val);

/* Accepts a settings prompt: its KEY=VALUE words one by one through word
 * (what = the prefix of its errors, keys = the keys they list, name =
 * what the last line calls the settings), stopping at the first wrong
 * one; the daemon checks and keeps what is sent. */
static void settings_accept(struct app *a, const char *what, const char *keys, const char *name, setting_word_fn word) {
    char buf[sizeof a->pbuf];
    tui_strcpy(buf, sizeof buf, a->pbuf);
    int sent = 0;
    for (char *tok = strtok(buf, " \t"); tok; tok = strtok(NULL, " \t")) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) { app_msg(a, TS_ERROR, "%s: %.60s: write KEY=VALUE (%s)", what, tok, keys); return; }
        *eq++ = 0;
        int r = word(a, tok, eq);
        if (r == -2) app_msg(a, TS_ERROR, "%s: %.40s: unknown (%s)", what, tok, keys);
        if (r < 0) return;
        sent += r;
    }
    app_msg(a, TS_INFO, sent ? "%s sent (kept in the session)" : "%s unchanged", name);
}

/* A word of the eval settings prompt. */
static int evalset_word(struct app *a, const char *tok, char *eq) {
    struct src *s = a->src;
    if (!strcmp(tok, "data")) {
        char abs[PATH_MAX];
        if (!realpath(eq, abs)) { app_msg(a, TS_ERROR, "eval settings: data: %.200s: no such file", eq); return -1; }
        return strcmp(abs, s->jobs.eval_data) ? setting_send(a, "eval_data", abs, 0) : 0;
    }
    if (!strcmp(tok, "ctx") || !strcmp(tok, "chunks") || !strcmp(tok, "calib_samples") || !strcmp(tok, "calib_len")) {
        char *end;
        long v = strcmp(eq, "default") ? strtol(eq, &end, 10) : 0;
        if (strcmp(eq, "default") && (*end || v < 1)) {
            app_msg(a, TS_ERROR, "eval settings: %s: %.40s: a whole number from 1 (or default)", tok, eq);
            return -1;
        }
        int cur = !strcmp(tok, "ctx") ? s->jobs.eval_ctx : !strcmp(tok, "chunks") ? s->jobs.eval_chunks
                : !strcmp(tok, "calib_samples") ? s->jobs.calib_samples : s->jobs.calib_len;
        if (v == cur) return 0;
        return setting_send(a, !strcmp(tok, "ctx") ? "eval_ctx" : !strcmp(tok, "chunks") ? "eval_chunks" : tok, NULL, v);
    }
    if (!strcmp(tok, "arith")) {
        /* the daemon checks the mode (its error names the choices) */
        if (!strcmp(eq, s->jobs.arith)) return 0;
        return setting_send(a, "arith", strcmp(eq, "default") ? eq : NULL, 0);
    }
    return -2;
}

/* Sends what the eval settings prompt changed to the daemon, which checks
 * and keeps it (the answer updates the shown settings). */
static void evalset_accept(struct app *a) {
    settings_accept(a, "eval settings", "data, ctx, chunks, calib_samples, calib_len, arith", "eval settings",
                    evalset_word);
}

/* The deploy panel's choices as its prompt shows them: "ctx=N batch=N
 * kv=T util=F tp=N" ("default" / "auto": the engine's). */
static void deploy_text(const struct src *s, char *buf, size_t n) {
    char c[24] = "default", b[24] = "default", u[24] = "default", t[16] = "auto";
    if (s->deploy.ctx > 0) snprintf(c, sizeof c, "%ld", s->deploy.ctx);
    if (s->deploy.batch > 0) snprintf(b, sizeof b, "%ld", s->deploy.batch);
    if (s->deploy.util > 0) snprintf(u, sizeof u, "%g", s->deploy.util);
    if (s->deploy.tp > 0) snprintf(t, sizeof t, "%d", s->deploy.tp);
    snprintf(buf, n, "ctx=%s batch=%s kv=%s util=%s tp=%s", c, b, s->deploy.kv[0] ? s->deploy.kv : "auto", u, t);
}

void app_deploy_prompt(struct app *a) {
    char buf[128];
    deploy_text(a->src, buf, sizeof buf);
    prompt_open(a, PR_DEPLOY, buf);
}

/* A word of the deploy prompt ("default" / "auto": the engine's). */
static int deploy_word(struct app *a, const char *tok, char *eq) {
    struct src *s = a->src;
    int dflt = !strcmp(eq, "default") || !strcmp(eq, "auto");
    char *end = eq;
    if (!strcmp(tok, "ctx") || !strcmp(tok, "batch")) {
        long v = dflt ? 0 : strtol(eq, &end, 10);
        if (!dflt && (!*eq || *end || v < 1)) {
            app_msg(a, TS_ERROR, "deploy: %s: %.40s: a whole number from 1 (or default)", tok, eq);
            return -1;
        }
        if (v == (!strcmp(tok, "ctx") ? s->deploy.ctx : s->deploy.batch)) return 0;
        return setting_send(a, !strcmp(tok, "ctx") ? "deploy_ctx" : "deploy_batch", NULL, (double)v);
    }
    if (!strcmp(tok, "util")) {
        double v = dflt ? 0 : strtod(eq, &end);
        if (!dflt && (!*eq || *end || !(v > 0 && v <= 1))) {
            app_msg(a, TS_ERROR, "deploy: util: %.40s: a fraction of GPU memory in (0, 1] (or default)", eq);
            return -1;
        }
        return v == s->deploy.util ? 0 : setting_send(a, "deploy_util", NULL, v);
    }
    if (!strcmp(tok, "tp")) {
        long v = dflt ? 0 : strtol(eq, &end, 10);
        if (!dflt && (!*eq || *end || (v != 1 && v != 2 && v != 4 && v != 8))) {
            app_msg(a, TS_ERROR, "deploy: tp: %.40s: 1, 2, 4 or 8 (or auto: the smallest that fits)", eq);
            return -1;
        }
        return v == s->deploy.tp ? 0 : setting_send(a, "deploy_tp", NULL, (double)v);
    }
    if (!strcmp(tok, "kv")) {
        /* the daemon knows the dtypes (its error lists them) */
        if (!strcmp(eq, s->deploy.kv[0] ? s->deploy.kv : "auto")) return 0;
        return setting_send(a, "deploy_kv_dtype", !strcmp(eq, "default") ? NULL : eq, 0);
    }
    return -2;
}

/* Sends what the deploy prompt changed to the daemon, which checks and
 * keeps it and computes the table again (the settings answer marks the
 * estimate stale).  A word that is not KEY=VALUE of the right form is
 * one line here; the daemon's refusals arrive as one line too. */
static void deploy_accept(struct app *a) {
    settings_accept(a, "deploy", "ctx, batch, kv, util, tp", "deploy settings", deploy_word);
}

static void prompt_accept(struct app *a) {
    enum prompt_kind k = a->prompt;
    a->prompt = PR_NONE;
    qt_err err = {{0}};
    if (k == PR_SEARCH) {
        if (!a->plen) return;
        tui_strcpy(a->search, sizeof a->search, a->pbuf);
        search_from(a, a->search, 0);
    } else if (k == PR_TARGET || k == PR_IGNORE) {
        if (!a->plen) return;
        /* the count as the engine answered it for this text (kept for the
         * message when the edit's answer comes).  A pattern that does not
         * compile is refused by the edit itself. */
        const struct src_match *mt = src_match_want(a->src, a->pbuf);
        a->pat_count = mt->state == MT_OK ? mt->modules : -1;
        a->pat_gen = mt->gen;
        /* a target takes the scheme of the node the person stands on */
        const char *sel = a->tree.n_vis ? a->tree.nodes[app_selected(a)].target : NULL;
        if (a->src->ops->edit_send(a->src, k == PR_TARGET ? "target" : "ignore-pattern", sel ? 1 : 0, &sel, NULL,
                                   a->pbuf, &err) != QT_OK)
            app_msg(a, TS_ERROR, "%s", err.msg);
    } else if (k == PR_WRITE) {
        if (!a->plen) return;
        char abs[2300];
        if (a->pbuf[0] == '/') tui_strcpy(abs, sizeof abs, a->pbuf);
        else {
            char cwd[1024];
            snprintf(abs, sizeof abs, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", a->pbuf);
        }
        if (access(abs, F_OK) == 0) {   /* never replace a file without asking (the shipped recipe ...) */
            tui_strcpy(a->confirm_path, sizeof a->confirm_path, a->pbuf);
            a->dialog = DLG_OVERWRITE;
            return;
        }
        if (src_write_recipe(a->src, a->pbuf, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
    } else if (k == PR_FILTER) {
        tui_strcpy(a->filter, sizeof a->filter, a->pbuf);
        panel_tree_order(a);
        if (a->filter[0]) {
            int c = panel_tree_filter_count(a, a->filter);
            app_msg(a, c ? TS_INFO : TS_WARN, "filter %s: %d tensor%s (f, Enter on empty clears)", a->filter, c, c == 1 ? "" : "s");
        } else {
            app_msg(a, TS_INFO, "filter cleared");
        }
    } else if (k == PR_JUMP) {
        char *end;
        long L = strtol(a->pbuf, &end, 10);
        while (*end == ' ') end++;
        int node = a->plen && !*end && L >= 0 && L < INT_MAX ? panel_tree_layer(a, (int)L) : -1;
        if (node < 0) {
            int last = -1;
            for (int i = a->tree.nodes[0].first_child; i > 0; i = a->tree.nodes[i].next)
                if (!strncmp(a->tree.nodes[i].label, "layer ", 6)) last = atoi(a->tree.nodes[i].label + 6);
            app_msg(a, TS_WARN, "go to layer: %s: no such layer (0..%d)", a->pbuf, last);
            return;
        }
        a->full = NULL;
        a->focus_side = 0;
        app_select(a, node);
        a->tree_l.top = a->tree_l.cur;   /* the layer at the top, its parts below */
        wg_list_fix(&a->tree_l, a->tree.n_vis, a->lay.tree.h - 1);
        app_msg(a, TS_INFO, "%s", a->tree.nodes[node].label);
    } else if (k == PR_EVALSET) {
        evalset_accept(a);
    } else if (k == PR_DEPLOY) {
        deploy_accept(a);
    } else if (k == PR_PLAN) {   /* the engine checks it: the size side answers or says why not */
        tui_strcpy(a->src->plan.target, sizeof a->src->plan.target, a->pbuf);
        a->src->plan.size_stale = 1;
        a->src->plan.size_err[0] = 0;
        app_msg(a, TS_INFO, "plan target %s%s", a->pbuf[0] ? a->pbuf : "none (the curve only)",
                app_action_available(a, TA_PLAN_RUN) ? " (R runs the plan job)" : "");
    }
}

void app_plan_target_prompt(struct app *a) { prompt_open(a, PR_PLAN, a->src->plan.target); }

/* Deletes bytes [from, to) of the prompt's text. */
static void prompt_cut(struct app *a, int from, int to) {
    memmove(a->pbuf + from, a->pbuf + to, (size_t)(a->plen - to + 1));
    a->plen -= to - from;
    a->ppos = from;
}

static int utf8_prev(const char *b, int i) {
    if (i > 0) i--;
    while (i > 0 && ((unsigned char)b[i] & 0xc0) == 0x80) i--;
    return i;
}

static int utf8_next(const char *b, int n, int i) {
    if (i < n) i++;
    while (i < n && ((unsigned char)b[i] & 0xc0) == 0x80) i++;
    return i;
}

/* Prompt editing with readline's keys: C-a / Home start, C-e / End end,
 * C-b / Left and C-f / Right move, C-u kills to the start, C-k to the end,
 * C-w the word before the cursor, BS / C-h and Del / C-d delete. */
static void prompt_key(struct app *a, int key) {
    if (tk_is_mouse(key)) return;
    if (key == TK_ESC || key == 7) { a->prompt = PR_NONE; app_msg(a, TS_NORMAL, "%s", ""); return; }
    if (key == TK_ENTER) { prompt_accept(a); return; }
    if (key == TK_BS || key == 8) {
        if (a->ppos > 0) prompt_cut(a, utf8_prev(a->pbuf, a->ppos), a->ppos);
    } else if (key == TK_DEL || key == 4) {
        if (a->ppos < a->plen) prompt_cut(a, a->ppos, utf8_next(a->pbuf, a->plen, a->ppos));
    } else if (key == 1 || key == TK_HOME) {
        a->ppos = 0;
    } else if (key == 5 || key == TK_END) {
        a->ppos = a->plen;
    } else if (key == 2 || key == TK_LEFT) {
        a->ppos = utf8_prev(a->pbuf, a->ppos);
    } else if (key == 6 || key == TK_RIGHT) {
        a->ppos = utf8_next(a->pbuf, a->plen, a->ppos);
    } else if (key == 21) {
        prompt_cut(a, 0, a->ppos);
    } else if (key == 11) {
        a->pbuf[a->ppos] = 0;
        a->plen = a->ppos;
    } else if (key == 23) {
        int i = a->ppos;
        while (i > 0 && a->pbuf[i - 1] == ' ') i--;
        while (i > 0 && a->pbuf[i - 1] != ' ' && a->pbuf[i - 1] != '/') i--;
        prompt_cut(a, i, a->ppos);
    } else if (key >= 32 && key < TK_BASE && key != 127) {
        char mb[8];
        mbstate_t ms;
        memset(&ms, 0, sizeof ms);
        size_t k = wcrtomb(mb, (wchar_t)key, &ms);
        if (k != (size_t)-1 && a->plen + (int)k < (int)sizeof a->pbuf - 1) {
            memmove(a->pbuf + a->ppos + k, a->pbuf + a->ppos, (size_t)(a->plen - a->ppos + 1));
            memcpy(a->pbuf + a->ppos, mb, k);
            a->plen += (int)k;
            a->ppos += (int)k;
        }
    } else {
        return;
    }
    prompt_live(a);
}

/* A mouse event: the pane under it takes it (the tree selects, scrolls and
 * sorts; a side or full panel scrolls with the wheel). */
static void app_mouse(struct app *a, int key) {
    int kind = tk_mouse_kind(key), x = tk_mouse_x(key), y = tk_mouse_y(key);
    if (a->lay.too_small || a->dialog) return;
    const struct tui_rect *tr = &a->lay.tree, *sr = &a->lay.side, *br = &a->lay.body;
    int wheel = kind == TM_WHEEL_UP || kind == TM_WHEEL_DOWN;
    enum tui_action step = kind == TM_WHEEL_UP ? TA_UP : TA_DOWN;
    if (a->full) {
        if (y < br->y || y >= br->y + br->h) return;
        if (a->full == &panel_strip && panel_strip_mouse(a, kind, x, y)) return;
        if (wheel && a->full->key)
            for (int i = 0; i < 3; i++) a->full->key(a, step, 0);
        return;
    }
    if (x >= tr->x && x < tr->x + tr->w && y >= tr->y && y < tr->y + tr->h) {
        a->focus_side = 0;
        panel_tree_mouse(a, kind, x, y);
    } else if (x >= sr->x && x < sr->x + sr->w && y >= sr->y && y < sr->y + sr->h) {
        if (kind == TM_CLICK) a->focus_side = 1;
        else if (a->side->key)
            for (int i = 0; i < 3; i++) a->side->key(a, step, 0);
    }
}

/* ---- dispatch ---- */

/* E: eval jobs for the variants whose KL is unknown (no eval job of their
 * text done, queued or running); opens the compare panel to watch them. */
static void eval_variants(struct app *a) {
    struct src *s = a->src;
    int any = 0;
    for (int k = 0; k < SRC_NVAR; k++) any |= s->recipe.variant[k] != NULL;
    if (!any) {
        app_msg(a, TS_WARN, "no variants yet: a / b / v store the recipe as A / B / the next letter");
        return;
    }
    char sent[2 * SRC_NVAR + 1] = "";
    qt_err err = {{0}};
    for (int k = 0; k < SRC_NVAR; k++) {
        const char *t = s->recipe.variant[k];
        if (!t) continue;
        int dup = 0;   /* the same text as an earlier variant: one job serves both */
        for (int e = 0; e < k && !dup; e++) dup = s->recipe.variant[e] && !strcmp(t, s->recipe.variant[e]);
        if (dup || src_text_original(t)) continue;   /* the original's KL is 0: no job */
        const struct src_job *j = src_eval_of(s, t);
        if (j && strcmp(j->state, "failed") && strcmp(j->state, "interrupted")) continue;
        if (s->ops->eval_submit(s, t, &err) != QT_OK) { app_msg(a, TS_ERROR, "%s", err.msg); return; }
        size_t n = strlen(sent);
        snprintf(sent + n, sizeof sent - n, "%s%c", n ? "+" : "", 'A' + k);
    }
    a->full = &panel_compare;
    if (sent[0]) app_msg(a, TS_INFO, "eval of variant %s submitted (KL against the original)", sent);
    else app_msg(a, TS_INFO, "KL of the variants: known or being measured");
}

static void open_full(struct app *a, const struct panel_ops *p) {
    a->full = a->full == p ? NULL : p;
    if (a->full && a->full->resize) a->full->resize(a, &a->lay.body);
}

void app_key(struct app *a, int key) {
    if (key == TK_RESIZE) return;
    if (a->dialog == DLG_OVERWRITE) {
        qt_err err = {{0}};
        a->dialog = DLG_NONE;
        if (key == 'y' || key == 'Y') {
            if (src_write_recipe(a->src, a->confirm_path, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        } else {
            app_msg(a, TS_INFO, "not written: %s is unchanged", a->confirm_path);
        }
        return;
    }
    if (tk_is_mouse(key) && !a->prompt) { app_mouse(a, key); return; }
    if (a->dialog == DLG_QUIT) {
        if (key == 'y' || key == 'Y') a->quit = 1;
        a->dialog = DLG_NONE;
        return;
    }
    if (a->prompt) { prompt_key(a, key); return; }
    a->msg[0] = 0;
    a->msg_job = 0;
    enum tui_action act = tui_key_action(key);
    if (act == TA_NONE) {
        char kn[16];
        app_msg(a, TS_DIM, "key %s: unbound (? for help)", tui_key_name(key, kn, sizeof kn));
        return;
    }
    if (!app_action_available(a, act)) {
        int weights = act == TA_COMMIT || act == TA_SENS || act == TA_EVAL_AB || act == TA_CALIB || act == TA_EVAL_SET ||
                      act == TA_PLAN_RUN;
        app_msg(a, TS_WARN, "%s: %s", tui_keydefs[act - 1].help,
                weights && a->src->jobs.no_jobs_why[0] ? a->src->jobs.no_jobs_why
                                                  : "needs the engine daemon (not available in this session)");
        return;
    }
    if (a->lay.too_small && act != TA_QUIT && act != TA_REPAINT) return;
    if (a->full && a->full->key && a->full->key(a, act, key)) return;
    if (!a->full && a->focus_side && a->side->key && a->side->key(a, act, key)) return;
    if (!a->full && !a->focus_side && panel_tree.key(a, act, key)) return;
    qt_err err = {{0}};
    switch (act) {
    case TA_QUIT:
        if (a->full) { a->full = NULL; break; }
        if (app_dirty(a)) a->dialog = DLG_QUIT;
        else a->quit = 1;
        break;
    case TA_BACK:
        if (a->full) a->full = NULL;
        else if (a->focus_side) a->focus_side = 0;
        else if (a->tree.n_marked) {
            for (int i = 0; i < a->tree.n; i++) a->tree.nodes[i].marked = 0;
            a->tree.n_marked = 0;
            app_msg(a, TS_INFO, "marks cleared");
        }
        break;
    case TA_HELP: open_full(a, &panel_help); break;
    case TA_JOBS: open_full(a, &panel_jobs); break;
    case TA_DEPLOY: open_full(a, &panel_deploy); break;
    case TA_COMPARE: open_full(a, &panel_compare); break;
    case TA_PLAN: open_full(a, &panel_plan); break;
    case TA_PLAN_RUN:
        if (a->src->ops->plan_submit(a->src, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        else app_msg(a, TS_INFO, "plan job for %s submitted", a->src->plan.target[0] ? a->src->plan.target : "the curve");
        a->full = &panel_plan;
        break;
    case TA_REPAINT: a->repaint = 1; break;
    case TA_RECIPE:
        a->full = NULL;
        a->side = a->side == &panel_recipe ? &panel_detail : &panel_recipe;
        if (a->side->resize) a->side->resize(a, &a->lay.side);
        break;
    case TA_NEXT_PANEL:
        if (a->full) a->full = NULL;
        else a->focus_side = !a->focus_side;
        break;
    case TA_SEARCH: prompt_open(a, PR_SEARCH, NULL); break;
    case TA_SEARCH_NEXT:
    case TA_SEARCH_PREV:
        if (!a->search[0]) app_msg(a, TS_WARN, "no search yet (/ to search)");
        else search_from(a, a->search, act == TA_SEARCH_NEXT ? 1 : -1);
        break;
    case TA_PATTERN: prompt_open(a, PR_TARGET, "re:"); break;
    case TA_PATTERN_IGN: prompt_open(a, PR_IGNORE, "re:"); break;
    case TA_WRITE: {
        /* the session's name, in the current directory: never the -r file
         * by default (it may be a shipped recipe); an existing file asks */
        char def[160];
        snprintf(def, sizeof def, "%s.yaml", a->src->session[0] ? a->src->session : "recipe");
        prompt_open(a, PR_WRITE, def);
        break;
    }
    case TA_FILTER: prompt_open(a, PR_FILTER, a->filter); break;
    case TA_JUMP: {
        char d[2] = {key >= '0' && key <= '9' ? (char)key : 0, 0};
        prompt_open(a, PR_JUMP, d);
        break;
    }
    case TA_SORT: app_sort(a, (a->sort + 1) % SORT_N, 1); break;
    case TA_SORT_REV:
        if (!a->sort) app_msg(a, TS_WARN, "not sorted (> sorts by a column)");
        else app_sort(a, a->sort, !a->sort_desc);
        break;
    case TA_STRIP: open_full(a, &panel_strip); break;
    case TA_METRIC: app_msg(a, TS_DIM, "m: the layer strip's metric (L opens the strip)"); break;
    case TA_UNDO:
    case TA_REDO:
        a->undo_from = a->src->recipe.replies;
        if ((act == TA_UNDO ? a->src->ops->undo : a->src->ops->redo)(a->src, &err) != QT_OK)
            app_msg(a, TS_WARN, "%s", err.msg);
        else {
            /* the message names the version restored, once the engine says which */
            a->undo_wait = act == TA_UNDO ? 1 : 2;
            app_msg(a, TS_DIM, "%s ...", act == TA_UNDO ? "undo" : "redo");
            app_source_changed(a);
        }
        break;
    case TA_VARIANT_A:
    case TA_VARIANT_B:
    case TA_VARIANT_NEW: {
        int k = act == TA_VARIANT_A ? 0 : 1;
        if (act == TA_VARIANT_NEW) {   /* the first empty slot after B */
            k = 2;
            while (k < SRC_NVAR && a->src->recipe.variant[k]) k++;
            if (k == SRC_NVAR) {
                app_msg(a, TS_WARN, "variants A..%c are all stored: x in the compare panel (C) drops one",
                        'A' + SRC_NVAR - 1);
                break;
            }
        }
        if (a->src->ops->variant_store(a->src, k, NULL, &err) != QT_OK)
            app_msg(a, TS_ERROR, "%s", err.msg);
        else {
            cmp_clear(a);
            app_msg(a, TS_INFO, "stored the recipe as variant %c", 'A' + k);
        }
        break;
    }
    case TA_EVAL_SET: {
        char buf[sizeof a->pbuf];
        evalset_text(a->src, buf, sizeof buf);
        prompt_open(a, PR_EVALSET, buf);
        break;
    }
    case TA_COMMIT:
        if (a->src->ops->job_submit(a->src, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        else {
            a->src->recipe.saved_version = a->src->recipe.version;
            app_msg(a, TS_INFO, "committed: %s%s job submitted (o: jobs)%s", a->src->jobs.commit_kind,
                    a->src->resol.cur.gguf && !strcmp(a->src->jobs.commit_kind, "quantize")
                        ? a->src->jobs.commit_eval ? " (GGUF) + eval" : " (GGUF)"
                    : a->src->jobs.commit_eval ? " + eval" : "",
                    !strcmp(a->src->jobs.commit_kind, "eval") ? "; quantize jobs are not in this build" : "");
        }
        break;
    case TA_SENS: {
        char sc[64];
        if (a->src->resol.cur.gguf) {   /* the scan quantizes with compressed-tensors schemes */
            app_msg(a, TS_WARN, "dKL scans run compressed-tensors schemes, not GGUF types (G: back to compressed-tensors)");
            break;
        }
        tui_strcpy(sc, sizeof sc, node_scheme(a, app_selected(a)));
        if (!strcmp(sc, "bf16")) tui_strcpy(sc, sizeof sc, "int4-g128-sym");
        if (a->src->ops->sens_submit(a->src, sc, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        else app_msg(a, TS_INFO, "dKL scan of every group at %s submitted (o: jobs)", sc);
        break;
    }
    case TA_EVAL_AB: eval_variants(a); break;
    case TA_CALIB:
        if (a->src->ops->calib_submit(a->src, NULL, &err) != QT_OK) app_msg(a, TS_ERROR, "%s", err.msg);
        else app_msg(a, TS_INFO, "calibration statistics job submitted (o: jobs)");
        break;
    case TA_DETACH: a->detach = 1; break;
    case TA_BITS_UP: case TA_BITS_DOWN: case TA_GROUP: case TA_SYM: case TA_TYPE: case TA_IGNORE:
    case TA_GGUF: case TA_FTYPE:
        do_edit(a, act);
        break;
    default:
        break;
    }
}

/* ---- the screen state kept in the session ---- */

/* tui.json in the session's directory, as the daemon names it. */
static int state_path(const struct app *a, char *buf, size_t n) {
    if (!a->src->session_dir[0]) return -1;
    snprintf(buf, n, "%s/tui.json", a->src->session_dir);
    return 0;
}

void app_state_save(const struct app *a) {
    char path[2300];
    if (state_path(a, path, sizeof path) != 0) return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "nodes", a->tree.n);
    cJSON_AddNumberToObject(j, "cursor", app_selected(a));
    cJSON_AddNumberToObject(j, "top", a->tree_l.top);
    cJSON_AddStringToObject(j, "side", a->side->name);
    cJSON *e = cJSON_AddArrayToObject(j, "expanded");
    for (int i = 1; i < a->tree.n; i++)
        if (a->tree.nodes[i].expanded) cJSON_AddItemToArray(e, cJSON_CreateNumber(i));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    qt_err err;
    if (text) qt_write_file_atomic(path, text, strlen(text), &err);
    free(text);
}

void app_state_load(struct app *a) {
    char path[2300];
    if (state_path(a, path, sizeof path) != 0) return;
    size_t len;
    qt_err err;
    char *text = qt_read_file(path, &len, &err);
    if (!text) return;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *n = cJSON_GetObjectItem(j, "nodes");
    if (cJSON_IsNumber(n) && n->valueint == a->tree.n) {   /* same model, same tree */
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "expanded"))
            if (cJSON_IsNumber(e) && e->valueint > 0 && e->valueint < a->tree.n)
                a->tree.nodes[e->valueint].expanded = 1;
        mt_visible(&a->tree);
        const cJSON *c = cJSON_GetObjectItem(j, "cursor"), *t = cJSON_GetObjectItem(j, "top");
        if (cJSON_IsNumber(t)) a->tree_l.top = t->valueint;
        if (cJSON_IsNumber(c) && c->valueint > 0 && c->valueint < a->tree.n) app_select(a, c->valueint);
        const char *side = cJSON_GetStringValue(cJSON_GetObjectItem(j, "side"));
        if (side && !strcmp(side, "recipe")) a->side = &panel_recipe;
    }
    cJSON_Delete(j);
}
