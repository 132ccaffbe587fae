/* source_daemon.c — the source over the engine daemon (docs/protocol.md,
 * daemon/client.h).  Requests are sent without waiting; replies and events
 * are applied in pump(), so the keyboard never waits for the engine.  Recipe
 * edits are intents the daemon applies in order: a key pressed before the
 * last answer came builds on the edits before it there, and each answer
 * brings the recipe, lint counts, deployment and resolution it made. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/hmap.h"
#include "daemon/client.h"
#include "screen.h"
#include "source.h"

struct src_prev *src_prev_slot(struct src *s, int tensor, const char *scheme);

enum req_kind { RQ_RECIPE, RQ_VARIANT, RQ_VARIANT_GET, RQ_SUBMIT, RQ_CANCEL, RQ_PREVIEW, RQ_LINT,
                RQ_DEPLOY, RQ_JOBGET, RQ_RESOLVE, RQ_DETAIL, RQ_MATCH, RQ_EDIT, RQ_WRITE, RQ_SETTINGS, RQ_PLAN_SIZE,
                RQ_TCALIB, RQ_COMMIT, RQ_OTHER };

struct pending {
    int id;
    enum req_kind kind;
    int slot;   /* variants: 0 = A, 1 = B, ...; resolve: 0 current, 1 + k variant k; job_get: the job */
    int gen;    /* resolve, match: the text generation asked about */
};

/* Tensors per resolve page, asked in the compact form (parallel lists, no
 * names): a reply line stays well under the protocol's 1 MiB (at most ~45
 * bytes a tensor, ~15 typical); pages asked ahead, so that the daemon
 * builds one while this side reads another. */
#define RESOLVE_PAGE 8192
#define RESOLVE_AHEAD 4

/* One resolution being fetched, page by page: the text asked about and the
 * answer so far, which replaces the shown one when its last page is in.
 * Pages of an older text still on their way are dropped when they come. */
struct fetch {
    char *text;               /* the latest text to resolve */
    int gen;                  /* bumped when text changes */
    int inflight;             /* pages of this gen on their way */
    int next;                 /* offset of the next page to ask for */
    int got;                  /* tensors answered */
    struct src_res stage;
};

struct dsrc {
    struct qt_client *c;
    int inproc;
    int pv_n;                 /* the preview request in flight: its pairs */
    int pv_t[64];             /* (pv_n) tensors */
    char pv_s[64][48];        /* (pv_n) schemes */
    char sens_scheme[48];     /* the scheme of the last sensitivity scan asked for */
    char calib_want[1024];    /* the calibration text of the last calib job asked for */
    struct pending pend[64];
    int n_pend;
    int gone;
    int n_edit;               /* edit intents sent and not answered */
    struct fetch fetch[1 + SRC_NVAR];   /* resolutions: current recipe, variants A, B, ... */
};

static const char *jstr(const cJSON *o, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
    return s ? s : "";
}

static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void note(struct src *s, int is_err, const char *msg) {
    tui_strcpy(s->note, sizeof s->note, msg);
    s->note_err = is_err;
    s->changed = 1;
}

static void set_state(struct src *s) {
    struct dsrc *d = s->impl;
    int running = 0, queued = 0;
    for (int i = 0; i < s->jobs.n; i++) {
        if (!strcmp(s->jobs.list[i].state, "running")) running++;
        if (!strcmp(s->jobs.list[i].state, "queued")) queued++;
    }
    if (d->gone) snprintf(s->engine_state, sizeof s->engine_state, "gone");
    else if (running || queued) snprintf(s->engine_state, sizeof s->engine_state, "busy %d job%s", running + queued, running + queued == 1 ? "" : "s");
    else if (d->n_pend) snprintf(s->engine_state, sizeof s->engine_state, "working");
    else snprintf(s->engine_state, sizeof s->engine_state, "%s", d->inproc ? "in-process" : "idle");
}

static struct src_job *job_slot(struct src *s, int id) {
    for (int i = 0; i < s->jobs.n; i++)
        if (s->jobs.list[i].id == id) return &s->jobs.list[i];
    struct src_job *j = realloc(s->jobs.list, sizeof *j * (size_t)(s->jobs.n + 1));
    if (!j) return NULL;
    s->jobs.list = j;
    memset(&j[s->jobs.n], 0, sizeof *j);
    j[s->jobs.n].id = id;
    j[s->jobs.n].eta = -1;
    return &j[s->jobs.n++];
}

static void job_update(struct src *s, const cJSON *J) {
    struct src_job *j = job_slot(s, (int)jnum(J, "id", 0));
    if (!j) return;
    tui_strcpy(j->kind, sizeof j->kind, jstr(J, "kind"));
    tui_strcpy(j->state, sizeof j->state, jstr(J, "state"));
    tui_strcpy(j->stage, sizeof j->stage, jstr(J, "stage"));
    tui_strcpy(j->error, sizeof j->error, jstr(J, "error"));
    j->done = jnum(J, "done", 0);
    j->total = jnum(J, "total", 0);
    j->rate = jnum(J, "rate", 0);
    j->eta = jnum(J, "eta", -1);
}

/* Asks for a job's record (report, frozen recipe); the reply is RQ_JOBGET. */
static void ask_job(struct src *s, int id) {
    struct dsrc *d = s->impl;
    if (!d->c || d->n_pend >= 64) return;
    struct src_job *j = job_slot(s, id);
    if (j) j->recipe_asked = 1;
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "job_get");
    cJSON_AddNumberToObject(q, "job", id);
    qt_err e2;
    int nid = qt_client_send(d->c, q, &e2);
    if (nid > 0) d->pend[d->n_pend++] = (struct pending){nid, RQ_JOBGET, id, 0};
}

/* A recipe result or event: text (may be null: fetch it), version, undo/redo. */
static void recipe_update(struct src *s, const cJSON *r) {
    struct dsrc *d = s->impl;
    if (d->n_edit && cJSON_GetObjectItem(r, "event")) return;   /* the edit's answer has the newer state */
    const cJSON *t = cJSON_GetObjectItem(r, "text");
    s->recipe.version = (int)jnum(r, "version", s->recipe.version);
    s->recipe.can_undo = cJSON_IsTrue(cJSON_GetObjectItem(r, "can_undo"));
    s->recipe.can_redo = cJSON_IsTrue(cJSON_GetObjectItem(r, "can_redo"));
    if (cJSON_IsString(t)) {
        if (!s->recipe.text || strcmp(s->recipe.text, t->valuestring)) {
            free(s->recipe.text);
            s->recipe.text = qt_strdup(t->valuestring);
            src_recipe_changed(s);
        }
    } else if (d->c) {
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "op", "recipe_get");
        qt_err err;
        int id = qt_client_send(d->c, q, &err);
        if (id > 0 && d->n_pend < 64) d->pend[d->n_pend++] = (struct pending){id, RQ_RECIPE, 0, 0};
    }
    s->changed = 1;
}

static int send_req_gen(struct src *s, cJSON *req, enum req_kind kind, int slot, int gen, qt_err *err);
static cJSON *op(const char *name);
static int d_resolve_send(struct src *s, int slot, const char *text, qt_err *err);

/* Asks for pages of fetch slot's text until RESOLVE_AHEAD are on their
 * way or every tensor is asked for. */
static int resolve_pages(struct src *s, int slot, qt_err *err) {
    struct dsrc *d = s->impl;
    struct fetch *f = &d->fetch[slot];
    /* leave room in the request table; d_pump asks for the rest later */
    while (f->inflight < RESOLVE_AHEAD && f->next < s->model->n_tensors && d->n_pend < 48) {
        cJSON *r = op("resolve");
        cJSON_AddStringToObject(r, "text", f->text);
        cJSON_AddNumberToObject(r, "offset", f->next);
        cJSON_AddNumberToObject(r, "limit", RESOLVE_PAGE);
        cJSON_AddTrueToObject(r, "compact");
        if (send_req_gen(s, r, RQ_RESOLVE, slot, f->gen, err) != QT_OK) return QT_ERR;
        f->inflight++;
        f->next += RESOLVE_PAGE;
    }
    return QT_OK;
}

/* A fetch ended (answered whole, or failed): the shown resolution becomes
 * the staged one. */
static void resolve_done(struct src *s, int slot, int state, const char *why) {
    struct dsrc *d = s->impl;
    struct fetch *f = &d->fetch[slot];
    struct src_res *r = src_res_of(s, slot);
    if (state == RS_OK) {
        src_res_finish(s, &f->stage);
        src_res_free(r);
        *r = f->stage;
        memset(&f->stage, 0, sizeof f->stage);
        r->state = RS_OK;
    } else {   /* keep the last answer's rows, say why this text has none */
        src_res_free(&f->stage);
        r->state = RS_ERROR;
        tui_strcpy(r->err, sizeof r->err, why);
    }
    if (slot == 0) s->resol.stale = 0;
    s->changed = 1;
}

/* The fetch of slot failed: its pages still coming are dropped, none more
 * is asked for until the text changes. */
static void resolve_fail(struct src *s, int slot, const char *why) {
    struct dsrc *d = s->impl;
    struct fetch *f = &d->fetch[slot];
    f->gen++;
    f->inflight = 0;
    f->next = s->model->n_tensors;
    resolve_done(s, slot, RS_ERROR, why);
}

/* The patterns and total of a resolution answer (every resolve page
 * carries them; the first page's are taken) into r. */
static int pats_parse(struct src_res *r, const cJSON *res) {
    const cJSON *arr = cJSON_GetObjectItem(res, "patterns"), *p, *tot = cJSON_GetObjectItem(res, "total");
    r->total_params = (int64_t)jnum(tot, "params", 0);
    r->total_bytes = (int64_t)jnum(tot, "bytes", 0);
    r->gguf = !strcmp(jstr(res, "target"), "gguf");
    tui_strcpy(r->ftype, sizeof r->ftype, jstr(res, "ftype"));
    r->gguf_bytes = (int64_t)jnum(res, "gguf_bytes", 0);
    r->gguf_fallback = (int)jnum(res, "gguf_fallback", 0);
    free(r->pats);
    r->n_pats = 0;
    r->pats = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *r->pats);
    if (!r->pats) return QT_ERR;
    cJSON_ArrayForEach(p, arr) {
        struct src_pat *P = &r->pats[r->n_pats++];
        tui_strcpy(P->text, sizeof P->text, jstr(p, "pattern"));
        P->ignore = !strcmp(jstr(p, "kind"), "ignore");
        tui_strcpy(P->group, sizeof P->group, jstr(p, "group"));
        tui_strcpy(P->scheme, sizeof P->scheme, jstr(p, "scheme"));
        P->matches = (int)jnum(p, "matches", 0);
        P->first = -1;
    }
    return QT_OK;
}

/* Applies a compact answer's lists to r->t (n tensors): the k-th entry is
 * tensor i[k] when the answer lists "i", else offset + k; schemes are
 * indices into its "schemes".  Returns the entries applied, or -1 with why. */
static int compact_apply(struct src_res *r, const cJSON *res, int n, const char **why) {
    const cJSON *names = cJSON_GetObjectItem(res, "schemes");
    const cJSON *ls = cJSON_GetObjectItem(res, "s"), *lp = cJSON_GetObjectItem(res, "p");
    const cJSON *lb = cJSON_GetObjectItem(res, "b"), *lq = cJSON_GetObjectItem(res, "q");
    const cJSON *li = cJSON_GetObjectItem(res, "i");
    int n_names = cJSON_GetArraySize(names), got = cJSON_GetArraySize(ls);
    if (!cJSON_IsArray(ls) || cJSON_GetArraySize(lp) != got || cJSON_GetArraySize(lb) != got ||
        cJSON_GetArraySize(lq) != got || (li && cJSON_GetArraySize(li) != got)) {
        *why = "resolve: the engine's compact answer is malformed";
        return -1;
    }
    const char **sn = calloc((size_t)n_names + 1, sizeof *sn);   /* (n_names) */
    if (!sn) { *why = "resolve: out of memory"; return -1; }
    for (int k = 0; k < n_names; k++) sn[k] = cJSON_GetStringValue(cJSON_GetArrayItem(names, k));
    int i = (int)jnum(res, "offset", 0);
    const cJSON *ix = li ? li->child : NULL;
    for (const cJSON *a = ls->child, *b = lp->child, *c = lb->child, *e = lq->child; a && b && c && e;
         a = a->next, b = b->next, c = c->next, e = e->next, i++) {
        int ti = ix ? (int)ix->valuedouble : i;
        if (ix) ix = ix->next;
        if (ti < 0 || ti >= n) continue;
        struct src_tres *x = &r->t[ti];
        int si = (int)a->valuedouble;
        tui_strcpy(x->scheme, sizeof x->scheme, si >= 0 && si < n_names && sn[si] ? sn[si] : "bf16");
        x->quantized = e->valuedouble != 0;
        x->pattern = (int)b->valuedouble;
        x->bytes = (int64_t)c->valuedouble;
    }
    free(sn);
    return got;
}

/* A resolve page came back: stage it, ask for the next, or finish. */
static void resolve_reply(struct src *s, int slot, int gen, const cJSON *m) {
    struct dsrc *d = s->impl;
    struct fetch *f = &d->fetch[slot];
    qt_err err = {{0}};
    if (gen != f->gen || !f->text) return;   /* for a text since replaced */
    f->inflight--;
    if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"))) { resolve_fail(s, slot, jstr(m, "error")); return; }
    const cJSON *res = cJSON_GetObjectItem(m, "result");
    int n = s->model->n_tensors;
    struct src_res *st = &f->stage;
    if (!st->t) {
        st->t = calloc((size_t)n + 1, sizeof *st->t);
        if (!st->t) { resolve_fail(s, slot, "resolve: out of memory"); return; }
        for (int i = 0; i < n; i++) {
            tui_strcpy(st->t[i].scheme, sizeof st->t[i].scheme, "bf16");
            st->t[i].pattern = -1;
            st->t[i].bytes = (int64_t)s->model->tensors[i].nbytes;
        }
    }
    if (!st->pats && pats_parse(st, res) != QT_OK) { resolve_fail(s, slot, "resolve: out of memory"); return; }
    const char *why = NULL;
    int got = compact_apply(st, res, n, &why);
    if (got < 0) { resolve_fail(s, slot, why); return; }
    f->got += got;
    if (f->got < n && f->inflight + (f->next < n) > 0) {
        if (resolve_pages(s, slot, &err) != QT_OK) resolve_fail(s, slot, err.msg);
        return;
    }
    if (f->got < n) resolve_fail(s, slot, "resolve: the engine answered fewer tensors than the model has");
    else resolve_done(s, slot, RS_OK, NULL);
}

/* Weight statistics of s->detail.tensor came back. */
static void detail_reply(struct src *s, const cJSON *m) {
    struct src_detail *D = &s->detail;
    s->detail_inflight = 0;
    s->changed = 1;
    if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"))) {
        D->state = DT_ERROR;
        tui_strcpy(D->err, sizeof D->err, jstr(m, "error"));
        return;
    }
    const cJSON *res = cJSON_GetObjectItem(m, "result"), *h = cJSON_GetObjectItem(res, "hist");
    D->rows_sampled = (int64_t)jnum(res, "rows_sampled", 0);
    D->elements = (int64_t)jnum(res, "elements", 0);
    D->min = jnum(res, "min", 0);
    D->max = jnum(res, "max", 0);
    D->mean = jnum(res, "mean", 0);
    D->std = jnum(res, "std", 0);
    D->lo = jnum(h, "lo", 0);
    D->hi = jnum(h, "hi", 0);
    memset(D->counts, 0, sizeof D->counts);
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(h, "counts")) {
        if (k >= 64) break;
        D->counts[k++] = (int64_t)(cJSON_IsNumber(c) ? c->valuedouble : 0);
    }
    D->state = DT_OK;
}

/* What the calibrated algorithms did to s->tcalib.tensor came back (an
 * answer for a tensor since left is still taken: the next tick asks anew). */
static void tcalib_reply(struct src *s, const cJSON *m) {
    struct src_tcalib *t = &s->tcalib;
    s->tcalib_inflight = 0;
    s->changed = 1;
    if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"))) {
        t->state = TC_ERROR;
        tui_strcpy(t->err, sizeof t->err, jstr(m, "error"));
        return;
    }
    const cJSON *res = cJSON_GetObjectItem(m, "result"), *f = cJSON_GetObjectItem(res, "figures"), *v;
    tui_strcpy(t->algo, sizeof t->algo, jstr(res, "algo"));
    t->modifiers[0] = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(res, "modifiers"))
        if (cJSON_IsString(v))
            snprintf(t->modifiers + strlen(t->modifiers), sizeof t->modifiers - strlen(t->modifiers), "%s%s",
                     t->modifiers[0] ? " " : "", v->valuestring);
    t->job = cJSON_IsObject(f) ? (int)jnum(res, "job", 0) : 0;
    tui_strcpy(t->job_state, sizeof t->job_state, jstr(res, "job_state"));
    tui_strcpy(t->scheme, sizeof t->scheme, jstr(f, "scheme"));
    tui_strcpy(t->algorithm, sizeof t->algorithm, jstr(f, "algorithm"));
    t->tokens = (int64_t)jnum(f, "tokens", -1);
    t->out_err = jnum(f, "out_err", -1);
    t->rtn_err = jnum(f, "rtn_out_err", -1);
    t->sparsity = jnum(f, "sparsity", -1);
    t->sp_err = jnum(f, "sparsity_out_err", -1);
    t->fallback = cJSON_IsTrue(cJSON_GetObjectItem(f, "low_token_fallback"));
    t->state = TC_OK;
}

/* The match count of the pattern prompt's text of generation gen came
 * back: kept when the text is still the same, else dropped (src_tick asks
 * for the newer one). */
static void match_reply(struct src *s, int gen, const cJSON *m) {
    struct src_match *mt = &s->match;
    mt->sent = 0;
    if (gen != mt->gen) return;
    if (cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"))) {
        mt->state = MT_OK;
        mt->modules = (int)jnum(cJSON_GetObjectItem(m, "result"), "modules", 0);
    } else {
        mt->state = MT_ERROR;
        tui_strcpy(mt->err, sizeof mt->err, jstr(m, "error"));
    }
    s->changed = 1;
}

/* The statistics the previews were asked with are gone. */
static void calib_lost(struct src *s, const char *why) {
    s->calib.ready = 0;
    s->calib.gen++;
    src_preview_clear(s);
    note(s, 1, why);
}

/* A done calib job's report: the newest one decides what previews are
 * asked with (a reattach finds it among the session's jobs). */
static void calib_report(struct src *s, struct src_job *j, const cJSON *rep) {
    const char *path = jstr(rep, "calib");
    snprintf(j->result, sizeof j->result, "%lld tokens over %.160s%s", (long long)jnum(rep, "tokens", 0),
             strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
             cJSON_IsTrue(cJSON_GetObjectItem(rep, "from_cache")) ? " (cached)" : "");
    if (j->id < s->calib.job || !*path) return;
    s->calib.job = j->id;
    tui_strcpy(s->calib.path, sizeof s->calib.path, path);
    s->calib.ready = 1;
    s->calib.gen++;
    src_preview_clear(s);
}

/* Takes an edit answer's resolution, a change of the one before the edit,
 * when the shown one is that one (complete, nothing on its way, the same
 * text: the answer's base hash); returns 0 when it cannot, and the text is
 * then asked page by page. */
static int delta_take(struct src *s, const cJSON *rd, const char *text) {
    struct dsrc *d = s->impl;
    struct fetch *f = &d->fetch[0];
    struct src_res *r = &s->resol.cur;
    int n = s->model->n_tensors;
    if (!cJSON_IsObject(rd) || r->state != RS_OK || !r->t || !f->text || f->inflight || f->next < n) return 0;
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)qt_hash_bytes(f->text, strlen(f->text)));
    if (strcmp(hex, jstr(rd, "base"))) return 0;
    const cJSON *rm = cJSON_GetObjectItem(rd, "remap");
    int n_old = r->n_pats, *remap = calloc((size_t)n_old + 1, sizeof *remap);   /* (n_old) */
    char *copy = qt_strdup(text);
    if (!remap || !copy || cJSON_GetArraySize(rm) != n_old) { free(remap); free(copy); return 0; }
    for (int k = 0; k < n_old; k++) remap[k] = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(rm, k));
    struct src_res nr = {0};
    const char *why = NULL;
    nr.t = malloc(sizeof *nr.t * (size_t)(n + 1));
    if (!nr.t || pats_parse(&nr, rd) != QT_OK) { free(remap); free(copy); src_res_free(&nr); return 0; }
    memcpy(nr.t, r->t, sizeof *nr.t * (size_t)n);
    for (int i = 0; i < n; i++) {   /* unchanged tensors: their pattern's new index */
        int p = nr.t[i].pattern;
        nr.t[i].pattern = p >= 0 && p < n_old ? remap[p] : -1;
    }
    free(remap);
    if (compact_apply(&nr, rd, n, &why) < 0) { free(copy); src_res_free(&nr); return 0; }
    src_res_finish(s, &nr);
    nr.state = RS_OK;
    src_res_free(r);
    *r = nr;
    free(f->text);
    f->text = copy;
    f->gen++;
    s->resol.stale = 0;
    return 1;
}

/* Lint findings and counts: a lint answer (findings name their tensors) or
 * an edit answer's lint (each finding's count and first tensor index). */
static void lint_take(struct src *s, const cJSON *res) {
    for (int f = 0; f < s->lint.n_findings; f++) free(s->lint.findings[f].message);
    free(s->lint.findings);
    s->lint.findings = NULL;
    s->lint.n_findings = 0;
    const cJSON *arr = cJSON_GetObjectItem(res, "findings"), *f;
    int n = cJSON_GetArraySize(arr), k = 0;
    s->lint.findings = n ? calloc((size_t)n, sizeof *s->lint.findings) : NULL;
    if (!s->lint.flag && s->model->n_tensors > 0) {
        s->lint.flag = calloc((size_t)s->model->n_tensors, 1);
        s->lint.n_flag = s->lint.flag ? s->model->n_tensors : 0;
    }
    if (s->lint.flag) memset(s->lint.flag, 0, (size_t)s->lint.n_flag);
    cJSON_ArrayForEach(f, arr) {
        if (!s->lint.findings) break;
        struct src_finding *F = &s->lint.findings[k++];
        tui_strcpy(F->code, sizeof F->code, jstr(f, "code"));
        tui_strcpy(F->severity, sizeof F->severity, jstr(f, "severity"));
        F->message = qt_strdup(jstr(f, "message"));
        const cJSON *tl = cJSON_GetObjectItem(f, "tensors");
        if (cJSON_IsArray(tl)) {
            const cJSON *t0 = cJSON_GetArrayItem(tl, 0);
            F->n_tensors = cJSON_GetArraySize(tl);
            F->first = cJSON_IsString(t0) ? qt_model_find_index(s->model, t0->valuestring) : -1;
            const cJSON *tn;
            cJSON_ArrayForEach(tn, tl) {
                int ti = cJSON_IsString(tn) ? qt_model_find_index(s->model, tn->valuestring) : -1;
                if (ti >= 0 && ti < s->lint.n_flag) s->lint.flag[ti] = 1;
            }
        } else {   /* an edit's answer names the first tensor only */
            F->n_tensors = (int)jnum(f, "tensors", 0);
            F->first = (int)jnum(f, "first", -1);
        }
        if (F->first >= 0 && F->first < s->lint.n_flag) s->lint.flag[F->first] = 1;
    }
    s->lint.n_findings = k;
    s->lint.n_errors = (int)jnum(res, "errors", 0);
    s->lint.n_warnings = (int)jnum(res, "warnings", 0);
}

/* An edit intent's answer: the new recipe, what the edit asked and got,
 * lint counts, deployment and the resolution. */
static void edit_reply(struct src *s, const cJSON *m) {
    struct dsrc *d = s->impl;
    struct src_edit *E = &s->edit;
    if (d->n_edit > 0) d->n_edit--;
    E->seq++;
    s->changed = 1;
    if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "ok"))) {
        E->ok = 0;
        tui_strcpy(E->why, sizeof E->why, jstr(m, "error"));
        return;
    }
    const cJSON *res = cJSON_GetObjectItem(m, "result");
    E->ok = 1;
    E->all_kept = cJSON_IsTrue(cJSON_GetObjectItem(res, "all_kept"));
    E->stepped = !cJSON_GetObjectItem(res, "why");
    tui_strcpy(E->scheme, sizeof E->scheme, jstr(res, "scheme"));
    tui_strcpy(E->now, sizeof E->now, jstr(res, "now"));
    tui_strcpy(E->why, sizeof E->why, jstr(res, "why"));
    s->recipe.version = (int)jnum(res, "version", s->recipe.version);
    s->recipe.can_undo = cJSON_IsTrue(cJSON_GetObjectItem(res, "can_undo"));
    s->recipe.can_redo = cJSON_IsTrue(cJSON_GetObjectItem(res, "can_redo"));
    const char *text = jstr(res, "text");
    if (s->recipe.text && !strcmp(s->recipe.text, text)) return;   /* nothing changed */
    free(s->recipe.text);
    s->recipe.text = qt_strdup(text);
    const cJSON *lint = cJSON_GetObjectItem(res, "lint"), *dp = cJSON_GetObjectItem(res, "deploy");
    if (!delta_take(s, cJSON_GetObjectItem(res, "resolve"), text)) {
        src_recipe_changed(s);   /* pages, and lint and deploy as for any new text */
        return;
    }
    if (cJSON_IsObject(lint)) {
        lint_take(s, lint);
    } else {
        s->lint.stale = 1;
    }
    /* the estimate is for the GPU the deploy panel showed when the key was
     * pressed: ask again if it has changed since */
    if (cJSON_IsObject(dp) && !strcmp(jstr(cJSON_GetObjectItem(dp, "gpu"), "name"), s->deploy.gpu)) {
        cJSON_Delete(s->deploy.result);
        s->deploy.result = cJSON_Duplicate(dp, 1);
        s->deploy.err[0] = 0;
    } else {
        s->deploy.stale = 1;
    }
}

/* ---- replies: one handler per request kind (the reply table below) */

/* The reply's result when it succeeded, else NULL. */
static const cJSON *ok_result(const cJSON *m) {
    return cJSON_IsTrue(cJSON_GetObjectItem(m, "ok")) ? cJSON_GetObjectItem(m, "result") : NULL;
}

static void on_resolve(struct src *s, const struct pending *p, const cJSON *m) { resolve_reply(s, p->slot, p->gen, m); }
static void on_edit(struct src *s, const struct pending *p, const cJSON *m) { (void)p; edit_reply(s, m); }
static void on_detail(struct src *s, const struct pending *p, const cJSON *m) { (void)p; detail_reply(s, m); }
static void on_match(struct src *s, const struct pending *p, const cJSON *m) { match_reply(s, p->gen, m); }
static void on_tcalib(struct src *s, const struct pending *p, const cJSON *m) { (void)p; tcalib_reply(s, m); }

static void on_preview(struct src *s, const struct pending *p, const cJSON *m) {
    struct dsrc *d = s->impl;
    s->preview.inflight = 0;
    s->changed = 1;
    if (p->gen != s->calib.gen) return;   /* asked before the statistics changed */
    const cJSON *res = ok_result(m), *r;
    if (!res && s->calib.ready && !strncmp(jstr(m, "error"), "preview: calib:", 15)) {
        /* the statistics are gone (another model, a cleared cache):
         * previews without them, and say why */
        calib_lost(s, jstr(m, "error"));
        return;
    }
    if (!res) {   /* the whole request failed: say so per pair */
        for (int i = 0; i < d->pv_n; i++) {
            struct src_prev *e = src_prev_slot(s, d->pv_t[i], d->pv_s[i]);
            if (e) { e->state = PV_ERROR; tui_strcpy(e->err, sizeof e->err, jstr(m, "error")); }
        }
        return;
    }
    int i = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(res, "results")) {
        if (i >= d->pv_n) break;
        struct src_prev *e = src_prev_slot(s, d->pv_t[i], d->pv_s[i]);
        i++;
        if (!e) continue;
        if (cJSON_GetObjectItem(r, "error")) {
            e->state = PV_ERROR;
            tui_strcpy(e->err, sizeof e->err, jstr(r, "error"));
            continue;
        }
        e->state = PV_OK;
        e->rel_rmse = jnum(r, "rel_rmse", 0);
        e->sqnr_db = jnum(r, "sqnr_db", 1e9);   /* null: exact */
        e->max_abs = jnum(r, "max_abs", 0);
        const cJSON *ro = cJSON_GetObjectItem(r, "rel_out");
        e->tokens = (int64_t)jnum(r, "tokens", -1);
        e->has_out = cJSON_IsNumber(ro);
        e->rel_out = e->has_out ? ro->valuedouble : 0;
        e->bytes = (int64_t)jnum(r, "bytes", 0);
    }
}

static void on_lint(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    const cJSON *res = ok_result(m);
    s->lint.inflight = 0;
    if (!res) { note(s, 1, jstr(m, "error")); return; }
    lint_take(s, res);
    s->changed = 1;
}

static void on_deploy(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    const cJSON *res = ok_result(m);
    s->deploy.inflight = 0;
    cJSON_Delete(s->deploy.result);
    s->deploy.result = res ? cJSON_Duplicate(res, 1) : NULL;
    tui_strcpy(s->deploy.err, sizeof s->deploy.err, res ? "" : jstr(m, "error"));
    s->changed = 1;
}

/* A finished plan job's report: the newest is the plan panel's (its curve
 * and every point's recipe), and the size side is asked again to place the
 * current recipe on its table. */
static void plan_report(struct src *s, struct src_job *j, const cJSON *rep) {
    const cJSON *pl = cJSON_GetObjectItem(rep, "plan");
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(rep, "curve"));
    if (pl)
        snprintf(j->result, sizeof j->result, "%d points; plan %.4g bpw, predicted KL %.4g", n, jnum(pl, "bpw", 0),
                 jnum(pl, "predicted_kl", 0));
    else
        snprintf(j->result, sizeof j->result, "%d points on the curve", n);
    if (j->id < s->plan.report_job) return;
    cJSON_Delete(s->plan.report);
    s->plan.report = cJSON_Duplicate(rep, 1);
    s->plan.report_job = j->id;
    if (j->id > s->plan.job) s->plan.job = j->id;
    s->plan.gen++;
    s->plan.size_stale = 1;
}

/* The size side of the plan panel's target (plan_size). */
static void on_plan_size(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    const cJSON *res = ok_result(m);
    s->plan.size_inflight = 0;
    cJSON_Delete(s->plan.size);
    s->plan.size = res ? cJSON_Duplicate(res, 1) : NULL;
    tui_strcpy(s->plan.size_err, sizeof s->plan.size_err, res ? "" : jstr(m, "error"));
    s->changed = 1;
}

/* A finished job's report, one line for the jobs panel (and the dKL
 * column, the calibration statistics, the variants' KL). */
static void on_job_get(struct src *s, const struct pending *p, const cJSON *m) {
    struct dsrc *d = s->impl;
    const cJSON *res = ok_result(m);
    if (!res) return;
    struct src_job *j = job_slot(s, p->slot);
    const cJSON *rep = cJSON_GetObjectItem(res, "report");
    const char *rt = cJSON_GetStringValue(cJSON_GetObjectItem(res, "recipe"));
    if (j && rt) {
        j->recipe_hash = src_text_hash(rt);
        j->recipe_known = 1;
    }
    s->changed = 1;
    if (!j || !cJSON_IsObject(rep)) return;
    const cJSON *kld = cJSON_GetObjectItem(rep, "kld");
    const cJSON *units = cJSON_GetObjectItem(rep, "units");
    if (!strcmp(j->kind, "calib")) {
        calib_report(s, j, rep);
    } else if (!strcmp(j->kind, "plan")) {
        plan_report(s, j, rep);
    } else if (cJSON_IsArray(units)) {   /* sensitivity: keep dKL per unit for the tree */
        for (int i = 0; i < s->jobs.n_dkl; i++) free(s->jobs.dkl_name[i]);
        free(s->jobs.dkl_name);
        free(s->jobs.dkl);
        int n = cJSON_GetArraySize(units), k = 0;
        s->jobs.dkl_name = calloc((size_t)n + 1, sizeof *s->jobs.dkl_name);
        s->jobs.dkl = calloc((size_t)n + 1, sizeof *s->jobs.dkl);
        const cJSON *u;
        cJSON_ArrayForEach(u, units) {
            if (!s->jobs.dkl_name || !s->jobs.dkl) break;
            s->jobs.dkl_name[k] = qt_strdup(jstr(u, "name"));
            s->jobs.dkl[k++] = jnum(u, "dkl", 0);
        }
        s->jobs.n_dkl = k;
        tui_strcpy(s->jobs.dkl_scheme, sizeof s->jobs.dkl_scheme,
                   *jstr(rep, "scheme") ? jstr(rep, "scheme") : d->sens_scheme[0] ? d->sens_scheme : "the recipe");
        const cJSON *top = cJSON_GetArrayItem(units, 0);
        snprintf(j->result, sizeof j->result, "dKL of %d groups at %s; worst %s %.4g", k, s->jobs.dkl_scheme,
                 top ? jstr(top, "name") : "-", top ? jnum(top, "dkl", 0) : 0);
    } else if (kld) {
        j->has_kl = 1;
        j->kl = jnum(kld, "mean", 0);
        j->same_top = jnum(rep, "same_top_p", 0);
        double pb = jnum(rep, "ppl_base", 0);
        j->ppl_ratio = pb > 0 ? jnum(rep, "ppl_q", 0) / pb : 0;
        snprintf(j->result, sizeof j->result, "KL %.4g +- %.2g  same top %.1f%%  PPL %.3g -> %.3g",
                 jnum(kld, "mean", 0), jnum(kld, "stderr", 0), 100 * jnum(rep, "same_top_p", 0),
                 jnum(rep, "ppl_base", 0), jnum(rep, "ppl_q", 0));
    } else if (cJSON_GetObjectItem(rep, "out")) {
        const cJSON *cal = cJSON_GetObjectItem(rep, "calibration"), *sg = cJSON_GetObjectItem(cal, "sparsegpt");
        int ra = (int)jnum(cal, "resumed_at_layer", 0);
        char more[96] = "";
        if (ra > 0) snprintf(more, sizeof more, " (resumed after layer %d)", ra);
        if (cJSON_IsObject(sg) && cJSON_IsNumber(cJSON_GetObjectItem(sg, "mean_out_err_pruning_alone")))
            /* what each stage of SparseGPT + quantization costs the Linears' outputs (relative RMS) */
            snprintf(j->result, sizeof j->result, "out err: pruning alone %.1f%%, quantization alone %.1f%%, both %.1f%%; wrote %.150s%s",
                     100 * sqrt(jnum(sg, "mean_out_err_pruning_alone", 0)),
                     100 * sqrt(jnum(sg, "mean_out_err_quantized_unpruned_rtn", 0)),
                     100 * sqrt(jnum(sg, "mean_out_err_pruned_and_quantized", 0)), jstr(rep, "out"), more);
        else
            snprintf(j->result, sizeof j->result, "wrote %.200s%s", jstr(rep, "out"), more);
    }
}

/* recipe_get, undo, redo: the recipe state; a refusal says why and the
 * shown state is fetched again. */
static void on_recipe(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    struct dsrc *d = s->impl;
    s->recipe.replies++;
    s->changed = 1;
    const cJSON *res = ok_result(m);
    if (res) { recipe_update(s, res); return; }
    note(s, 1, jstr(m, "error"));
    if (d->c && d->n_pend < 64) {
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "op", "recipe_get");
        qt_err err;
        int nid = qt_client_send(d->c, q, &err);
        if (nid > 0) d->pend[d->n_pend++] = (struct pending){nid, RQ_RECIPE, 0, 0};
    }
}

static void on_write(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    const cJSON *res = ok_result(m);
    if (!res) { note(s, 1, jstr(m, "error")); return; }
    s->recipe.saved_version = (int)jnum(res, "version", s->recipe.saved_version);
    char b[300];
    snprintf(b, sizeof b, "wrote %.280s", jstr(res, "path"));
    note(s, 0, b);
}

/* Stored: the variant event that follows fetches the text the daemon
 * stored, for the compare panel (every client's, this one's too). */
static void on_variant(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    if (!ok_result(m)) note(s, 1, jstr(m, "error"));
}

static void apply_settings(struct src *s, const cJSON *st);
static void apply_device(struct src *s, const cJSON *dv);

static void on_settings(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    const cJSON *res = ok_result(m);
    if (!res) { note(s, 1, jstr(m, "error")); return; }
    apply_settings(s, cJSON_GetObjectItem(res, "settings"));
}

static void on_variant_get(struct src *s, const struct pending *p, const cJSON *m) {
    struct dsrc *d = s->impl;
    const cJSON *res = ok_result(m);
    if (!res) { note(s, 1, jstr(m, "error")); return; }
    int slot = p->slot;
    const cJSON *t = cJSON_GetObjectItem(res, "text");
    free(s->recipe.variant[slot]);
    s->recipe.variant[slot] = cJSON_IsString(t) ? qt_strdup(t->valuestring) : NULL;
    qt_err err;
    if (!s->recipe.variant[slot]) {
        d->fetch[slot + 1].gen++;   /* an answer on its way is for nothing */
        free(d->fetch[slot + 1].text);
        d->fetch[slot + 1].text = NULL;
        src_res_free(&s->resol.variant[slot]);
    } else if (d_resolve_send(s, slot + 1, s->recipe.variant[slot], &err) != QT_OK) {
        s->resol.variant[slot].state = RS_ERROR;
        tui_strcpy(s->resol.variant[slot].err, sizeof s->resol.variant[slot].err, err.msg);
    }
}

/* job_submit, job_cancel: the job as it is now. */
static void on_job(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    const cJSON *res = ok_result(m);
    if (!res) { note(s, 1, jstr(m, "error")); return; }
    const cJSON *J = cJSON_GetObjectItem(res, "job");
    job_update(s, J);
    if (!strcmp(jstr(J, "kind"), "plan") && (int)jnum(J, "id", 0) > s->plan.job) s->plan.job = (int)jnum(J, "id", 0);
    char b[128];
    snprintf(b, sizeof b, "job %d (%s): %s", (int)jnum(J, "id", 0), jstr(J, "kind"), jstr(J, "state"));
    note(s, 0, b);
}

static int send_req(struct src *s, cJSON *req, enum req_kind kind, qt_err *err);
static cJSON *submit_req(struct src *s, const char *kind);
static void eval_params(struct src *s, cJSON *p);

/* The quantize job of a commit was queued: the eval that follows measures
 * the checkpoint it writes (params.quantized_job: what the calibrated
 * algorithms produced, not the recipe rounded to nearest; for a GGUF file,
 * p->slot 1, with llama.cpp's arithmetic). */
static void on_commit(struct src *s, const struct pending *p, const cJSON *m) {
    on_job(s, p, m);
    const cJSON *res = ok_result(m);
    if (!res || !s->jobs.commit_eval) return;
    cJSON *e = submit_req(s, "eval"), *ep = cJSON_GetObjectItem(e, "params");
    eval_params(s, ep);
    cJSON_AddNumberToObject(ep, "quantized_job", jnum(cJSON_GetObjectItem(res, "job"), "id", 0));
    if (p->slot == 1) cJSON_AddTrueToObject(ep, "ggml_arith");
    qt_err err;
    if (send_req(s, e, RQ_SUBMIT, &err) != QT_OK) note(s, 1, err.msg);
}

static void on_other(struct src *s, const struct pending *p, const cJSON *m) {
    (void)p;
    if (!ok_result(m)) note(s, 1, jstr(m, "error"));
}

/* What each reply does to the source, by the kind of its request. */
static void (*const on_reply[RQ_OTHER + 1])(struct src *s, const struct pending *p, const cJSON *m) = {
    [RQ_RECIPE] = on_recipe,   [RQ_VARIANT] = on_variant, [RQ_VARIANT_GET] = on_variant_get,
    [RQ_SUBMIT] = on_job,      [RQ_CANCEL] = on_job,      [RQ_PREVIEW] = on_preview,
    [RQ_LINT] = on_lint,       [RQ_DEPLOY] = on_deploy,   [RQ_JOBGET] = on_job_get,
    [RQ_RESOLVE] = on_resolve, [RQ_DETAIL] = on_detail,   [RQ_MATCH] = on_match,
    [RQ_EDIT] = on_edit,       [RQ_WRITE] = on_write,     [RQ_SETTINGS] = on_settings,
    [RQ_PLAN_SIZE] = on_plan_size, [RQ_TCALIB] = on_tcalib, [RQ_COMMIT] = on_commit,
    [RQ_OTHER] = on_other,
};

/* An event: jobs, progress, the recipe changed (by any client). */
/* Asks for variant slot's text (k: 0 = A ...), after a variant event or at
 * attach. */
static void ask_variant(struct src *s, int k) {
    struct dsrc *d = s->impl;
    if (k < 0 || k >= SRC_NVAR || !d->c || d->n_pend >= 64) return;
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "variant_get");
    char sl[2] = {(char)('A' + k), 0};
    cJSON_AddStringToObject(q, "slot", sl);
    qt_err err;
    int nid = qt_client_send(d->c, q, &err);
    if (nid > 0) d->pend[d->n_pend++] = (struct pending){nid, RQ_VARIANT_GET, k, 0};
}

static void on_event(struct src *s, const cJSON *m, const char *ev) {
    if (!strcmp(ev, "recipe")) recipe_update(s, m);
    else if (!strcmp(ev, "variant")) {   /* stored or dropped, by any client */
        const char *sl = jstr(m, "slot");
        if (sl[0] >= 'A' && !sl[1]) ask_variant(s, sl[0] - 'A');
    }
    else if (!strcmp(ev, "settings")) apply_settings(s, cJSON_GetObjectItem(m, "settings"));
    else if (!strcmp(ev, "device")) apply_device(s, cJSON_GetObjectItem(m, "device"));
    else if (!strcmp(ev, "job")) {
        const cJSON *J = cJSON_GetObjectItem(m, "job");
        job_update(s, J);
        int jid = (int)jnum(J, "id", 0);
        struct src_job *sj = job_slot(s, jid);
        if (!strcmp(jstr(J, "kind"), "plan") && jid > s->plan.job) s->plan.job = jid;   /* any client's */
        if (!strcmp(jstr(J, "state"), "done")) ask_job(s, jid);
        else if (sj && !strcmp(sj->kind, "eval") && !sj->recipe_asked) ask_job(s, jid);   /* its recipe */
    }
    else if (!strcmp(ev, "progress")) {
        struct src_job *j = job_slot(s, (int)jnum(m, "job", 0));
        if (j) {
            j->done = jnum(m, "done", j->done);
            j->total = jnum(m, "total", j->total);
            j->rate = jnum(m, "rate", 0);
            j->eta = jnum(m, "eta", -1);
            tui_strcpy(j->stage, sizeof j->stage, jstr(m, "stage"));
        }
    }
    s->changed = 1;
}

static void handle(struct src *s, const cJSON *m) {
    struct dsrc *d = s->impl;
    const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(m, "event"));
    if (ev) { on_event(s, m, ev); return; }
    const cJSON *idv = cJSON_GetObjectItem(m, "id");
    int id = cJSON_IsNumber(idv) ? idv->valueint : -1;
    struct pending p = {id, RQ_OTHER, 0, 0};
    for (int i = 0; i < d->n_pend; i++) {
        if (d->pend[i].id != id) continue;
        p = d->pend[i];
        d->pend[i] = d->pend[--d->n_pend];
        break;
    }
    on_reply[p.kind](s, &p, m);
    s->changed = 1;
}

static int d_fd(struct src *s) {
    struct dsrc *d = s->impl;
    return d->gone ? -1 : qt_client_fd(d->c);
}

static short d_events(struct src *s) {
    struct dsrc *d = s->impl;
    return d->gone ? 0 : qt_client_poll_events(d->c);
}

/* The status line's device and free memory: the engine's "device" (hello,
 * session, and a "device" event when it changes; the engine probes it, the
 * TUI never opens the GPU).  Shown for a GPU; the CPU backend shows
 * nothing there (its cores and RAM are in hello for other clients). */
static void apply_device(struct src *s, const cJSON *dv) {
    const char *line = "";
    if (cJSON_IsObject(dv) && !strcmp(jstr(dv, "backend"), "cuda")) line = jstr(dv, "summary");
    if (strcmp(line, s->device)) {
        tui_strcpy(s->device, sizeof s->device, line);
        s->changed = 1;
    }
}

static int d_pump(struct src *s) {
    struct dsrc *d = s->impl;
    if (d->gone) return 0;
    qt_err err = {{0}};
    int gone = qt_client_pump(d->c, &err) != QT_OK;
    for (cJSON *m; (m = qt_client_next(d->c)); cJSON_Delete(m)) handle(s, m);
    for (int k = 0; k < 1 + SRC_NVAR && !gone; k++) {   /* pages not asked for while the table was full */
        struct fetch *f = &d->fetch[k];
        if (f->text && f->inflight < RESOLVE_AHEAD && f->next < s->model->n_tensors &&
            resolve_pages(s, k, &err) != QT_OK)
            resolve_fail(s, k, err.msg);
    }
    if (gone) {
        d->gone = 1;
        d->n_pend = 0;
        s->preview.inflight = s->lint.inflight = s->deploy.inflight = s->detail_inflight = s->tcalib_inflight = 0;
        if (s->tcalib.state == TC_PENDING) s->tcalib.tensor = -1;
        s->match.sent = 0;
        for (int k = 0; k < 1 + SRC_NVAR; k++) d->fetch[k].inflight = 0;
        s->resol.stale = 0;   /* no answer will come: show what there is */
        if (s->detail.state == DT_PENDING) s->detail.tensor = -1;
        note(s, 1, "engine: connection closed (the daemon has gone)");
    }
    set_state(s);
    int ch = s->changed;
    return ch;
}

static int d_pending(struct src *s) {
    struct dsrc *d = s->impl;
    return d->n_pend;
}

static int d_idle(struct src *s) {
    struct dsrc *d = s->impl;
    if (d->gone || d->n_pend) return d->gone;
    for (int i = 0; i < s->jobs.n; i++)
        if (!strcmp(s->jobs.list[i].state, "running") || !strcmp(s->jobs.list[i].state, "queued")) return 0;
    return 1;
}

/* Sends req (taken) and remembers what its reply is for. */
static int send_req_gen(struct src *s, cJSON *req, enum req_kind kind, int slot, int gen, qt_err *err) {
    struct dsrc *d = s->impl;
    if (d->gone) { cJSON_Delete(req); return qt_err_set(err, "engine: not connected"); }
    if (d->n_pend >= 64) { cJSON_Delete(req); return qt_err_set(err, "engine: too many requests in flight"); }
    int id = qt_client_send(d->c, req, err);
    if (id < 0) return QT_ERR;
    d->pend[d->n_pend++] = (struct pending){id, kind, slot, gen};
    set_state(s);
    return QT_OK;
}

static int send_req_slot(struct src *s, cJSON *req, enum req_kind kind, int slot, qt_err *err) {
    return send_req_gen(s, req, kind, slot, 0, err);
}

static int send_req(struct src *s, cJSON *req, enum req_kind kind, qt_err *err) {
    return send_req_slot(s, req, kind, 0, err);
}

static cJSON *op(const char *name) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "op", name);
    return r;
}

static int d_edit_send(struct src *s, const char *action, int n, const char *const *nodes, const char *scheme,
                       const char *pattern, qt_err *err) {
    struct dsrc *d = s->impl;
    cJSON *r = op("edit");
    cJSON_AddStringToObject(r, "action", action);
    cJSON *nl = cJSON_AddArrayToObject(r, "nodes");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(nl, cJSON_CreateString(nodes[i]));
    if (scheme) cJSON_AddStringToObject(r, "scheme", scheme);
    if (pattern) cJSON_AddStringToObject(r, "pattern", pattern);
    if (s->deploy.gpu[0]) cJSON_AddStringToObject(r, "gpu", s->deploy.gpu);
    if (send_req(s, r, RQ_EDIT, err) != QT_OK) return QT_ERR;
    d->n_edit++;
    struct src_edit *E = &s->edit;
    E->pattern = pattern != NULL;
    E->ignore = !strcmp(action, "ignore") || !strcmp(action, "ignore-pattern");
    E->multi = n > 1;
    E->gguf = !strcmp(action, "gguf") || !strcmp(action, "ftype");
    tui_strcpy(E->node, sizeof E->node, pattern ? pattern : n ? nodes[0] : "");
    return QT_OK;
}

static int d_write_send(struct src *s, const char *path, qt_err *err) {
    cJSON *r = op("recipe_write");
    cJSON_AddStringToObject(r, "path", path);
    return send_req(s, r, RQ_WRITE, err);
}

static int d_undo(struct src *s, qt_err *err) {
    if (!s->recipe.can_undo) return qt_err_set(err, "undo: nothing to undo");
    return send_req(s, op("undo"), RQ_RECIPE, err);
}

static int d_redo(struct src *s, qt_err *err) {
    if (!s->recipe.can_redo) return qt_err_set(err, "redo: nothing to redo");
    return send_req(s, op("redo"), RQ_RECIPE, err);
}

static int d_variant_store(struct src *s, int slot, const char *text, qt_err *err) {
    if (slot < 0 || slot >= SRC_NVAR) return qt_err_set(err, "variant: slot %d: out of range", slot);
    cJSON *r = op("variant_store");
    char sl[2] = {(char)('A' + slot), 0};
    cJSON_AddStringToObject(r, "slot", sl);
    if (text) cJSON_AddStringToObject(r, "text", text);
    /* no text: the daemon stores its current recipe, which (requests being
     * served in order) includes every edit and undo sent before */
    return send_req_slot(s, r, RQ_VARIANT, slot, err);
}

static int d_recipe_set(struct src *s, const char *text, qt_err *err) {
    cJSON *r = op("recipe_set");
    cJSON_AddStringToObject(r, "text", text ? text : "");
    return send_req(s, r, RQ_RECIPE, err);
}

/* The plan panel's target as params: "4.5bpw" -> target_bpw, "2xH100-80G"
 * (a count and a catalog GPU) -> gpus and gpu, anything else -> target_bytes
 * as text (a size or a scheme; the engine checks it). */
static int plan_target(struct src *s, cJSON *p, qt_err *err) {
    const char *t = s->plan.target;
    while (*t == ' ') t++;
    if (!*t) return QT_OK;
    char *end;
    double v = strtod(t, &end);
    while (*end == ' ') end++;
    if (end > t && !strcmp(end, "bpw")) {
        if (!(v > 0) || v > 32) return qt_err_set(err, "plan: target %s: bits per weight in (0, 32]", t);
        cJSON_AddNumberToObject(p, "target_bpw", v);
        return QT_OK;
    }
    if (end > t && (*end == 'x' || *end == 'X') && v == (int)v) {
        const char *g = end + 1;
        while (*g == ' ') g++;
        for (int i = 0; i < s->deploy.n_gpus; i++)
            if (!strcmp(s->deploy.gpus[i], g)) {
                cJSON_AddNumberToObject(p, "gpus", v);
                cJSON_AddStringToObject(p, "gpu", g);
                return QT_OK;
            }
        return qt_err_set(err, "plan: target %s: %s is not in the GPU catalog (D lists it)", t, g);
    }
    cJSON_AddStringToObject(p, "target_bytes", t);
    return QT_OK;
}

static cJSON *submit_req(struct src *s, const char *kind);

static int d_plan_submit(struct src *s, qt_err *err) {
    if (!s->plan.can) return qt_err_set(err, "plan: no plan jobs on this model");
    cJSON *r = submit_req(s, "plan"), *p = cJSON_GetObjectItem(r, "params");
    if (plan_target(s, p, err) != QT_OK) { cJSON_Delete(r); return QT_ERR; }
    if (s->plan.dkl_path[0]) cJSON_AddStringToObject(p, "dkl", s->plan.dkl_path);
    else cJSON_AddStringToObject(p, "data", s->calib.path[0] ? s->calib.path : s->plan.data);
    if (s->plan.gptq) {   /* calibrated on the same text (docs/plan.md) */
        const char *cal = s->calib.path[0] ? s->calib.path : s->plan.data;
        if (!cal[0]) {
            cJSON_Delete(r);
            return qt_err_set(err, "plan: GPTQ candidates need a calibration text (--calib FILE)");
        }
        cJSON_AddTrueToObject(p, "gptq");
        cJSON_AddStringToObject(p, "calib", cal);
    }
    cJSON_AddNumberToObject(p, "points", 24);
    return send_req(s, r, RQ_SUBMIT, err);
}

static int d_plan_size_send(struct src *s, qt_err *err) {
    cJSON *r = op("plan_size");
    if (plan_target(s, r, err) != QT_OK) { cJSON_Delete(r); return QT_ERR; }
    if (s->plan.report_job) cJSON_AddNumberToObject(r, "job", s->plan.report_job);
    return send_req(s, r, RQ_PLAN_SIZE, err);
}

/* The eval text, context and chunk count of the session's settings, into
 * an eval or sensitivity job's params. */
static void eval_params(struct src *s, cJSON *p) {
    cJSON_AddStringToObject(p, "data", s->jobs.eval_data);
    if (s->jobs.eval_ctx > 0) cJSON_AddNumberToObject(p, "ctx", s->jobs.eval_ctx);
    if (s->jobs.eval_chunks > 0) cJSON_AddNumberToObject(p, "chunks", s->jobs.eval_chunks);
}

static int d_variant_drop(struct src *s, int slot, qt_err *err) {
    if (slot < 0 || slot >= SRC_NVAR) return qt_err_set(err, "variant: slot %d: out of range", slot);
    cJSON *r = op("variant_drop");
    char sl[2] = {(char)('A' + slot), 0};
    cJSON_AddStringToObject(r, "slot", sl);
    return send_req_slot(s, r, RQ_VARIANT, slot, err);
}

static cJSON *submit_req(struct src *s, const char *kind) {
    cJSON *r = op("job_submit");
    cJSON_AddStringToObject(r, "kind", kind);
    cJSON_AddStringToObject(r, "text", s->recipe.text ? s->recipe.text : "");
    cJSON_AddObjectToObject(r, "params");
    return r;
}

/* Commit: the recipe, frozen, as jobs: quantize (a checkpoint in the
 * session) then eval (KL against the original on share/data/eval.txt), as
 * far as this engine has them. */
static int d_job_submit(struct src *s, qt_err *err) {
    if (!s->jobs.commit_kind[0]) return qt_err_set(err, "commit: no job kind to run in this build");
    if (!strcmp(s->jobs.commit_kind, "test")) {
        cJSON *r = submit_req(s, "test"), *p = cJSON_GetObjectItem(r, "params");
        cJSON_AddNumberToObject(p, "steps", 20);
        cJSON_AddNumberToObject(p, "step_ms", 50);
        return send_req(s, r, RQ_SUBMIT, err);
    }
    if (!strcmp(s->jobs.commit_kind, "quantize")) {   /* the daemon puts it in the session's checkpoints/ */
        cJSON *r = submit_req(s, "quantize"), *p = cJSON_GetObjectItem(r, "params");
        /* a GGUF target: the GGUF file (checkpoints/vN.gguf); its eval
         * (on_commit; pending slot 1) runs the file with llama.cpp's
         * activation arithmetic, the KL llama-perplexity reports */
        if (s->resol.cur.gguf) {
            cJSON_AddStringToObject(p, "format", "gguf");
            return send_req_gen(s, r, RQ_COMMIT, 1, 0, err);
        }
        /* calibrated modifiers (GPTQ, AWQ, SmoothQuant) run on the session's
         * calibration text, else share/data/calib.txt; round-to-nearest
         * recipes only record it */
        struct dsrc *d = s->impl;
        char found[PATH_MAX], abs[PATH_MAX];
        const char *cal = d->calib_want[0] ? d->calib_want : s->calib.path[0] ? s->calib.path : NULL;
        if (!cal && qt_share_find("data/calib.txt", found, sizeof found) && realpath(found, abs)) cal = abs;
        if (cal) cJSON_AddStringToObject(p, "calib", cal);
        if (s->jobs.calib_samples > 0) cJSON_AddNumberToObject(p, "calib_samples", s->jobs.calib_samples);
        if (s->jobs.calib_len > 0) cJSON_AddNumberToObject(p, "calib_len", s->jobs.calib_len);
        /* the eval follows once the daemon has queued this (on_commit) */
        return send_req(s, r, RQ_COMMIT, err);
    }
    cJSON *e = submit_req(s, "eval");
    eval_params(s, cJSON_GetObjectItem(e, "params"));
    return send_req(s, e, RQ_SUBMIT, err);
}

static int d_settings_send(struct src *s, const char *key, const char *str, double num, qt_err *err) {
    cJSON *r = op("settings"), *set = cJSON_AddObjectToObject(r, "set");
    if (str) cJSON_AddStringToObject(set, key, str);
    else if (num > 0) cJSON_AddNumberToObject(set, key, num);
    else cJSON_AddNullToObject(set, key);
    return send_req(s, r, RQ_SETTINGS, err);
}

static int d_sens_submit(struct src *s, const char *scheme, qt_err *err) {
    struct dsrc *d = s->impl;
    cJSON *r = submit_req(s, "sensitivity"), *p = cJSON_GetObjectItem(r, "params");
    eval_params(s, p);
    cJSON_AddStringToObject(p, "scheme", scheme);
    cJSON_AddStringToObject(p, "by", "group");
    tui_strcpy(d->sens_scheme, sizeof d->sens_scheme, scheme);
    return send_req(s, r, RQ_SUBMIT, err);
}

static int d_eval_submit(struct src *s, const char *text, qt_err *err) {
    if (!s->jobs.can_eval) return qt_err_set(err, "eval: no eval jobs in this build");
    cJSON *r = submit_req(s, "eval");
    cJSON_ReplaceItemInObject(r, "text", cJSON_CreateString(text ? text : ""));
    eval_params(s, cJSON_GetObjectItem(r, "params"));
    return send_req(s, r, RQ_SUBMIT, err);
}

static int d_calib_submit(struct src *s, const char *path, qt_err *err) {
    struct dsrc *d = s->impl;
    if (!s->calib.can) return qt_err_set(err, "calibration: needs a model with weights and an engine with calib jobs");
    char abs[PATH_MAX];
    if (!path) path = d->calib_want[0] ? d->calib_want : s->calib.path[0] ? s->calib.path : NULL;
    if (!path) {
        if (!qt_share_find("data/calib.txt", abs, sizeof abs))
            return qt_err_set(err, "calibration: no calibration text (share/data/calib.txt; qtune open --calib FILE)");
    } else if (!realpath(path, abs)) {
        return qt_err_set(err, "calibration: %s: %s", path, strerror(errno));
    }
    if (access(abs, R_OK) != 0) return qt_err_set(err, "calibration: %s: %s", abs, strerror(errno));
    cJSON *r = op("job_submit");
    cJSON_AddStringToObject(r, "kind", "calib");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "params"), "calib", abs);
    if (send_req(s, r, RQ_SUBMIT, err) != QT_OK) return QT_ERR;
    tui_strcpy(d->calib_want, sizeof d->calib_want, abs);
    return QT_OK;
}

static int d_job_cancel(struct src *s, int id, qt_err *err) {
    cJSON *r = op("job_cancel");
    cJSON_AddNumberToObject(r, "job", id);
    return send_req(s, r, RQ_CANCEL, err);
}

static int d_preview_send(struct src *s, int n, const int *tensors, char (*schemes)[48], qt_err *err) {
    struct dsrc *d = s->impl;
    if (n > 64) n = 64;
    cJSON *r = op("preview");
    cJSON *pairs = cJSON_AddArrayToObject(r, "pairs");
    for (int i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(s->model->tensors[tensors[i]].name));
        cJSON_AddItemToArray(p, cJSON_CreateString(schemes[i]));
        cJSON_AddItemToArray(pairs, p);
        d->pv_t[i] = tensors[i];
        tui_strcpy(d->pv_s[i], sizeof d->pv_s[i], schemes[i]);
    }
    d->pv_n = n;
    if (s->calib.ready && s->calib.path[0]) cJSON_AddStringToObject(r, "calib", s->calib.path);
    return send_req_gen(s, r, RQ_PREVIEW, 0, s->calib.gen, err);
}

/* Asks how text resolves into slot (0 current recipe, 1 A, 2 B): page 0
 * now unless a page of an older text is on its way (its reply starts over). */
static int d_resolve_send(struct src *s, int slot, const char *text, qt_err *err) {
    struct dsrc *d = s->impl;
    struct fetch *f = &d->fetch[slot];
    char *copy = qt_strdup(text);
    if (!copy) return qt_err_set(err, "resolve: out of memory");
    free(f->text);
    f->text = copy;
    f->gen++;
    struct src_res *r = src_res_of(s, slot);
    if (r->state == RS_NONE) r->state = RS_PENDING;
    src_res_free(&f->stage);
    f->inflight = f->next = f->got = 0;
    if (resolve_pages(s, slot, err) == QT_OK) return QT_OK;
    f->gen++;   /* nothing more of this text: drop what was asked */
    f->inflight = 0;
    f->next = s->model->n_tensors;
    return QT_ERR;
}

static int d_match_send(struct src *s, const char *pattern, int gen, qt_err *err) {
    cJSON *r = op("match");
    cJSON_AddStringToObject(r, "pattern", pattern);
    cJSON_AddNumberToObject(r, "limit", 0);
    return send_req_gen(s, r, RQ_MATCH, 0, gen, err);
}

static int d_detail_send(struct src *s, int tensor, qt_err *err) {
    cJSON *r = op("detail");
    cJSON_AddStringToObject(r, "tensor", s->model->tensors[tensor].name);
    cJSON_AddNumberToObject(r, "bins", 64);
    return send_req(s, r, RQ_DETAIL, err);
}

static int d_tcalib_send(struct src *s, int tensor, qt_err *err) {
    cJSON *r = op("tensor_calib");
    cJSON_AddStringToObject(r, "tensor", s->model->tensors[tensor].name);
    cJSON_AddStringToObject(r, "text", s->recipe.text ? s->recipe.text : "");
    return send_req(s, r, RQ_TCALIB, err);
}

static int d_job_resume(struct src *s, int id, qt_err *err) {
    cJSON *r = op("job_resume");
    cJSON_AddNumberToObject(r, "job", id);
    return send_req(s, r, RQ_SUBMIT, err);
}

static int d_lint_send(struct src *s, qt_err *err) {
    cJSON *r = op("lint");
    cJSON_AddStringToObject(r, "text", s->recipe.text ? s->recipe.text : "");
    return send_req(s, r, RQ_LINT, err);
}

static int d_deploy_send(struct src *s, const char *gpu, qt_err *err) {
    cJSON *r = op("deploy");
    cJSON_AddStringToObject(r, "text", s->recipe.text ? s->recipe.text : "");
    if (gpu && *gpu) cJSON_AddStringToObject(r, "gpu", gpu);
    return send_req(s, r, RQ_DEPLOY, err);
}

static void d_close(struct src *s) {
    struct dsrc *d = s->impl;
    if (!d) return;
    if (d->c) qt_client_close(d->c);
    for (int k = 0; k < 1 + SRC_NVAR; k++) {
        free(d->fetch[k].text);
        src_res_free(&d->fetch[k].stage);
    }
    free(d);
    s->impl = NULL;
}

static const struct src_ops daemon_ops = {
    .name = "daemon",
    .fd = d_fd, .events = d_events, .pump = d_pump, .idle = d_idle, .pending = d_pending,
    .edit_send = d_edit_send, .write_send = d_write_send, .undo = d_undo, .redo = d_redo,
    .variant_store = d_variant_store, .recipe_set = d_recipe_set, .plan_submit = d_plan_submit,
    .plan_size_send = d_plan_size_send,
    .settings_send = d_settings_send,
    .variant_drop = d_variant_drop,
    .job_submit = d_job_submit, .job_cancel = d_job_cancel,
    .preview_send = d_preview_send, .lint_send = d_lint_send, .deploy_send = d_deploy_send,
    .resolve_send = d_resolve_send, .detail_send = d_detail_send, .match_send = d_match_send,
    .tcalib_send = d_tcalib_send, .job_resume = d_job_resume,
    .sens_submit = d_sens_submit, .eval_submit = d_eval_submit, .calib_submit = d_calib_submit,
    .close = d_close,
};

int src_shutdown_idle(struct src *s) {
    s->idle_grace = -1;
    struct dsrc *d = s->impl;
    int busy = 0;
    for (int i = 0; i < s->jobs.n; i++)
        if (!strcmp(s->jobs.list[i].state, "running") || !strcmp(s->jobs.list[i].state, "queued")) busy++;
    if (!d || d->gone || d->inproc || s->ops != &daemon_ops) return busy;
    qt_err err;
    cJSON *r = op("shutdown");
    /* jobs running: the daemon stops after them, once no client is left */
    if (busy) cJSON_AddTrueToObject(r, "when_idle");
    cJSON *ans = qt_client_call(d->c, r, 5000, &err);
    const cJSON *res = ans;   /* the reply's result, NULL on an error */
    const cJSON *g = cJSON_GetObjectItem(res, "grace");
    s->idle_grace = cJSON_IsNumber(g) ? g->valuedouble : -1;
    if (busy && res && !cJSON_GetObjectItem(res, "deferred"))
        busy = 0;   /* the jobs ended meanwhile: it stopped now */
    cJSON_Delete(ans);
    if (!busy) s->quit_ok = 1;
    return busy;
}

/* Whether the daemon's hello lists op and, on a model with (weights) or
 * without weights, can answer it. */
static int has_op(const cJSON *h, const char *name, int weights) {
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(h, "ops"))
        if (!strcmp(jstr(o, "op"), name)) return weights || strcmp(jstr(o, "needs"), "weights");
    return 0;
}

/* Whether the daemon's hello lists job kind as runnable here. */
static int can_run(const cJSON *h, const char *kind, int weights) {
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(h, "job_kinds"))
        if (!strcmp(jstr(o, "kind"), kind))
            return cJSON_IsTrue(cJSON_GetObjectItem(o, "runnable")) &&
                   (weights || !cJSON_IsTrue(cJSON_GetObjectItem(o, "needs_weights")));
    return 0;
}

/* What the UI offers: the engine's capabilities as its hello lists them
 * (ops and job kinds), on a model with or without weights; the GPU
 * catalog's names for the deploy panel. */
static void capabilities(struct src *s, struct dsrc *d, const cJSON *h, int weights) {
    s->caps = (has_op(h, "job_submit", weights) ? SRC_CAP_JOBS : 0) | (d->inproc ? 0 : SRC_CAP_DETACH) |
              (has_op(h, "detail", weights) ? SRC_CAP_HIST : 0) | (has_op(h, "preview", weights) ? SRC_CAP_PREVIEW : 0);
    if (has_op(h, "lint", weights)) s->caps |= SRC_CAP_LINT, s->lint.stale = 1;
    if (has_op(h, "deploy", weights)) s->caps |= SRC_CAP_DEPLOY, s->deploy.stale = 1;
    if (has_op(h, "tensor_calib", weights)) s->caps |= SRC_CAP_TCALIB;
    if (has_op(h, "job_resume", weights)) s->caps |= SRC_CAP_RESUME;
    qt_err err;
    cJSON *g = has_op(h, "gpus", weights) ? qt_client_call(d->c, op("gpus"), 30000, &err) : NULL;
    const cJSON *names = cJSON_GetObjectItem(g, "gpus"), *v;
    s->deploy.gpus = calloc((size_t)cJSON_GetArraySize(names) + 1, sizeof *s->deploy.gpus);
    cJSON_ArrayForEach(v, names)
        if (s->deploy.gpus && cJSON_IsString(v)) s->deploy.gpus[s->deploy.n_gpus++] = qt_strdup(v->valuestring);
    tui_strcpy(s->deploy.gpu, sizeof s->deploy.gpu, jstr(g, "default"));
    cJSON_Delete(g);
    apply_settings(s, cJSON_GetObjectItem(h, "settings"));
    /* what `c` submits: quantize + eval, as far as this engine has them;
     * else the `test` job kind when the daemon offers it (QTUNE_TEST_JOBS=1) */
    int can_q = can_run(h, "quantize", weights);
    int can_e = can_run(h, "eval", weights) && qt_share_find("data/eval.txt", s->jobs.eval_data, sizeof s->jobs.eval_data);
    s->calib.can = can_run(h, "calib", weights);
    s->jobs.can_eval = can_e;
    s->jobs.can_sens = can_run(h, "sensitivity", weights) && s->jobs.eval_data[0];
    /* the plan panel: the size side on any model, plan jobs where there are
     * weights; ΔKL on the calibration text (QTUNE_PLAN_DKL: a table instead) */
    s->plan.can_size = has_op(h, "plan_size", weights);
    const char *tbl = getenv("QTUNE_PLAN_DKL");
    char tabs[PATH_MAX];
    if (tbl && *tbl && realpath(tbl, tabs)) tui_strcpy(s->plan.dkl_path, sizeof s->plan.dkl_path, tabs);
    int have_text = qt_share_find("data/calib.txt", s->plan.data, sizeof s->plan.data);
    s->plan.can = can_run(h, "plan", weights) && (s->plan.dkl_path[0] || have_text);
    if (!s->plan.target[0]) tui_strcpy(s->plan.target, sizeof s->plan.target, "W4A16");
    s->plan.size_stale = 1;
    if (can_e) apply_settings(s, cJSON_GetObjectItem(h, "settings"));   /* a chosen eval text over the default */
    if (can_q) {
        snprintf(s->jobs.commit_kind, sizeof s->jobs.commit_kind, "quantize");
        s->jobs.commit_eval = can_e;
    } else if (can_e) {
        snprintf(s->jobs.commit_kind, sizeof s->jobs.commit_kind, "eval");
    } else if (can_run(h, "test", weights)) {
        snprintf(s->jobs.commit_kind, sizeof s->jobs.commit_kind, "test");
    }
}

/* The session's settings (hello, a settings reply or event): the deploy
 * GPU when the catalog has it, the eval text, ctx and chunks, the
 * commit's calibration, the arithmetic mode. */
static void apply_settings(struct src *s, const cJSON *st) {
    if (!cJSON_IsObject(st)) return;
    const char *gpu = cJSON_GetStringValue(cJSON_GetObjectItem(st, "gpu"));
    for (int i = 0; gpu && i < s->deploy.n_gpus; i++)
        if (!strcmp(s->deploy.gpus[i], gpu) && strcmp(s->deploy.gpu, gpu)) {
            tui_strcpy(s->deploy.gpu, sizeof s->deploy.gpu, gpu);
            s->deploy.stale = 1;
        }
    /* the deploy panel's other choices: a change asks the estimate again */
    const cJSON *dc = cJSON_GetObjectItem(st, "deploy_ctx"), *db = cJSON_GetObjectItem(st, "deploy_batch"),
                *dt = cJSON_GetObjectItem(st, "deploy_tp"), *du = cJSON_GetObjectItem(st, "deploy_util");
    const char *dk = cJSON_GetStringValue(cJSON_GetObjectItem(st, "deploy_kv_dtype"));
    long nc = cJSON_IsNumber(dc) ? (long)dc->valuedouble : 0, nb = cJSON_IsNumber(db) ? (long)db->valuedouble : 0;
    int nt = cJSON_IsNumber(dt) ? dt->valueint : 0;
    double nu = cJSON_IsNumber(du) ? du->valuedouble : 0;
    if (nc != s->deploy.ctx || nb != s->deploy.batch || nt != s->deploy.tp || nu != s->deploy.util ||
        strcmp(dk ? dk : "", s->deploy.kv)) {
        s->deploy.ctx = nc;
        s->deploy.batch = nb;
        s->deploy.tp = nt;
        s->deploy.util = nu;
        tui_strcpy(s->deploy.kv, sizeof s->deploy.kv, dk ? dk : "");
        s->deploy.stale = 1;
    }
    const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(st, "eval_data"));
    if (data && *data) tui_strcpy(s->jobs.eval_data, sizeof s->jobs.eval_data, data);
    const cJSON *c = cJSON_GetObjectItem(st, "eval_ctx"), *n = cJSON_GetObjectItem(st, "eval_chunks");
    s->jobs.eval_ctx = cJSON_IsNumber(c) ? c->valueint : 0;
    s->jobs.eval_chunks = cJSON_IsNumber(n) ? n->valueint : 0;
    const cJSON *cs = cJSON_GetObjectItem(st, "calib_samples"), *cl = cJSON_GetObjectItem(st, "calib_len");
    s->jobs.calib_samples = cJSON_IsNumber(cs) ? cs->valueint : 0;
    s->jobs.calib_len = cJSON_IsNumber(cl) ? cl->valueint : 0;
    /* the arithmetic mode: previews asked in another one are for nothing */
    const char *ar = cJSON_GetStringValue(cJSON_GetObjectItem(st, "arith"));
    if (ar && strcmp(ar, s->jobs.arith)) {
        if (s->jobs.arith[0]) {
            s->calib.gen++;
            src_preview_clear(s);
        }
        tui_strcpy(s->jobs.arith, sizeof s->jobs.arith, ar);
    }
    s->changed = 1;
}

/* Synchronous call at startup (before the first frame). */
static cJSON *call(struct dsrc *d, cJSON *req, qt_err *err) {
    return qt_client_call(d->c, req, 30000, err);
}

int src_open_daemon(const char *model_path, const char *recipe_path, const char *session,
                    int inproc, struct src **out, qt_err *err) {
    struct src *s = calloc(1, sizeof *s);
    struct dsrc *d = calloc(1, sizeof *d);
    if (!s || !d) { free(s); free(d); return qt_err_set(err, "out of memory"); }
    s->ops = &daemon_ops;
    s->impl = d;
    d->inproc = inproc;
    s->detail.tensor = s->detail_want = -1;
    s->tcalib.tensor = s->tcalib_want = -1;
    char name[128];
    if (session) {
        tui_strcpy(name, sizeof name, session);
    } else {
        /* default session: the model's directory name, made a valid name */
        char tmp[PATH_MAX];
        tui_strcpy(tmp, sizeof tmp, model_path ? model_path : "qtune");
        size_t n = strlen(tmp);
        while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
        const char *b = strrchr(tmp, '/');
        tui_strcpy(name, sizeof name, b ? b + 1 : tmp);
        char *dot = strstr(name, ".config.json");
        if (dot) *dot = 0;
        for (char *p = name; *p; p++)
            if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
                  ((*p | 32) >= 'a' && (*p | 32) <= 'z')))
                *p = '_';
        if (name[0] == '.' || !name[0]) name[0] = 's';
    }
    tui_strcpy(s->session, sizeof s->session, name);
    if (qt_client_connect(name, inproc ? QT_CLIENT_INPROC : QT_CLIENT_START, -1, &d->c, err) != QT_OK)
        goto fail;
    const cJSON *h = qt_client_hello(d->c);
    tui_strcpy(s->session_dir, sizeof s->session_dir, jstr(h, "dir"));   /* session paths come from sessions/ */
    const char *have = cJSON_GetStringValue(cJSON_GetObjectItem(h, "model"));
    char abs[PATH_MAX];
    if (model_path) {
        if (!realpath(model_path, abs)) { qt_err_set(err, "%s: no such model", model_path); goto fail; }
        if (!have || strcmp(have, abs)) {
            cJSON *r = op("open");
            cJSON_AddStringToObject(r, "model", abs);
            cJSON *res = call(d, r, err);
            if (!res) goto fail;
            const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(res, "jobs_unavailable"));
            tui_strcpy(s->jobs.no_jobs_why, sizeof s->jobs.no_jobs_why, why ? why : "");
            cJSON_Delete(res);
        } else {
            const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(h, "jobs_unavailable"));
            tui_strcpy(s->jobs.no_jobs_why, sizeof s->jobs.no_jobs_why, why ? why : "");
        }
    } else {
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(h, "jobs_unavailable"));
        tui_strcpy(s->jobs.no_jobs_why, sizeof s->jobs.no_jobs_why, why ? why : "");
        if (!have) { qt_err_set(err, "session %s: no model (qtune open MODEL -s %s)", name, name); goto fail; }
        tui_strcpy(abs, sizeof abs, have);
    }
    /* the model as the daemon describes it: this process opens no files */
    if (qt_client_model(d->c, &s->model, err) != QT_OK) goto fail;
    {
        const char *b = strrchr(abs, '/');
        tui_strcpy(s->model_name, sizeof s->model_name, b ? b + 1 : abs);
        char *dot = strstr(s->model_name, ".config.json");
        if (dot) *dot = 0;
    }
    const cJSON *j;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(h, "jobs")) job_update(s, j);
    /* reports of jobs that finished while no one watched (the last 16) */
    for (int i = s->jobs.n > 16 ? s->jobs.n - 16 : 0; i < s->jobs.n; i++) {
        if (strcmp(s->jobs.list[i].state, "done") && strcmp(s->jobs.list[i].kind, "eval")) continue;
        s->jobs.list[i].recipe_asked = 1;
        cJSON *q = op("job_get");
        cJSON_AddNumberToObject(q, "job", s->jobs.list[i].id);
        if (send_req_slot(s, q, RQ_JOBGET, s->jobs.list[i].id, err) != QT_OK) goto fail;
    }
    if (recipe_path) {
        size_t len;
        char *text = qt_read_file(recipe_path, &len, err);
        if (!text) goto fail;
        cJSON *q = op("recipe_set");
        cJSON_AddStringToObject(q, "text", text);
        cJSON_AddStringToObject(q, "check", recipe_path);   /* refused with FILE:LINE:COL when it does not parse */
        free(text);
        cJSON *res = call(d, q, err);
        if (!res) goto fail;
        cJSON_Delete(res);
        s->recipe.path = qt_strdup(recipe_path);
    }
    /* the variants the session keeps (their eval jobs' KL was asked above) */
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(h, "variants")) {
        const char *sl = cJSON_GetStringValue(j);
        if (sl && sl[0] >= 'A' && !sl[1]) ask_variant(s, sl[0] - 'A');
    }
    cJSON *res = call(d, op("recipe_get"), err);
    if (!res) goto fail;
    recipe_update(s, res);
    cJSON_Delete(res);
    if (!s->recipe.text) s->recipe.text = qt_strdup("");
    if (s->resol.cur.state == RS_NONE) src_recipe_changed(s);
    /* the first frame shows the recipe resolved: wait for it here */
    for (double t0 = qt_now(); s->resol.cur.state == RS_PENDING && !d->gone && qt_now() - t0 < 60;) {
        struct pollfd p = {qt_client_fd(d->c), (short)(POLLIN | qt_client_poll_events(d->c)), 0};
        poll(&p, 1, 100);
        d_pump(s);
    }
    if (s->resol.cur.state != RS_OK) {
        qt_err_set(err, "session %s: recipe: %s", name,
                   s->resol.cur.state == RS_ERROR ? s->resol.cur.err
                   : d->gone                ? "the engine went away"
                                            : "the engine did not resolve it within 60 s");
        goto fail;
    }
    capabilities(s, d, h, !s->model->metadata_only);
    apply_device(s, cJSON_GetObjectItem(h, "device"));
    s->recipe.saved_version = s->recipe.version;
    s->changed = 0;
    set_state(s);
    *out = s;
    return QT_OK;
fail:
    src_close(s);
    return QT_ERR;
}
