/* source.c — the TUI's view of the engine: resolutions as the daemon sends
 * them (and their sums), the preview cache and what a frame
 * wishes to be asked (source_daemon.c sends it). */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "screen.h"

/* ---- resolutions ---- */

struct src_res *src_res_of(struct src *s, int slot) {
    return slot <= 0 ? &s->resol.cur : &s->resol.variant[slot - 1 < SRC_NVAR ? slot - 1 : SRC_NVAR - 1];
}

void src_res_free(struct src_res *r) {
    free(r->t);
    free(r->pats);
    memset(r, 0, sizeof *r);
}

void src_res_finish(const struct src *s, struct src_res *r) {
    const struct qt_model *m = s->model;
    struct src_summary *sum = &r->sum;
    memset(sum, 0, sizeof *sum);
    for (int p = 0; p < r->n_pats; p++) r->pats[p].first = -1;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        const struct src_tres *x = &r->t[i];
        if (x->pattern >= 0 && x->pattern < r->n_pats && r->pats[x->pattern].first < 0)
            r->pats[x->pattern].first = i;
        sum->params += qt_tensor_numel(t);
        sum->bytes_before += (int64_t)t->nbytes;
        sum->bytes_after += x->bytes;
        sum->n_quantized += x->quantized;
    }
    /* bits per weight over the quantizable weights as the engine counts
     * them (resolve's total: Linear weights but lm_head, as qtune preview) */
    sum->q_params = r->total_params;
    sum->q_bytes_after = r->total_bytes;
    sum->bpw = sum->q_params ? 8.0 * (double)sum->q_bytes_after / (double)sum->q_params : 0;
}

void src_recipe_changed(struct src *s) {
    qt_err err = {{0}};
    s->lint.stale = s->deploy.stale = s->plan.size_stale = 1;
    s->changed = 1;
    if (!s->ops->resolve_send) return;
    if (s->ops->resolve_send(s, 0, s->recipe.text ? s->recipe.text : "", &err) == QT_OK) {
        s->resol.stale = 1;
    } else {
        s->resol.cur.state = RS_ERROR;
        tui_strcpy(s->resol.cur.err, sizeof s->resol.cur.err, err.msg);
    }
}

/* ---- edits ---- */

const struct src_match *src_match_want(struct src *s, const char *pattern) {
    struct src_match *mt = &s->match;
    if (mt->state == MT_NONE || strcmp(mt->text, pattern)) {
        tui_strcpy(mt->text, sizeof mt->text, pattern);
        mt->gen++;
        mt->state = MT_PENDING;
        s->changed = 1;
    }
    return mt;
}

int src_write_recipe(struct src *s, const char *path, qt_err *err) {
    if (!s->ops->write_send) return qt_err_set(err, "write: not offered by this engine");
    char abs[4096];
    if (path[0] == '/') {
        tui_strcpy(abs, sizeof abs, path);
    } else {   /* the daemon's working directory is not ours */
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd)) return qt_err_set(err, "write: %s: %s", path, strerror(errno));
        snprintf(abs, sizeof abs, "%s/%s", cwd, path);
    }
    return s->ops->write_send(s, abs, err);
}

const struct src_detail *src_detail_get(struct src *s, int tensor) {
    if (!(s->caps & SRC_CAP_HIST)) return NULL;
    if (s->detail.tensor == tensor && s->detail.state != DT_PENDING) return &s->detail;
    s->detail_want = tensor;
    return NULL;
}

int src_quantize_done(const struct src *s) {
    int n = 0;
    for (int i = 0; i < s->jobs.n; i++)
        n += !strcmp(s->jobs.list[i].kind, "quantize") && !strcmp(s->jobs.list[i].state, "done");
    return n;
}

/* Whether tcalib answers for tensor as things are now (the recipe, the done
 * quantize jobs); else the frame wishes for it. */
const struct src_tcalib *src_tcalib_get(struct src *s, int tensor) {
    if (!(s->caps & SRC_CAP_TCALIB) || tensor < 0) return NULL;
    const struct src_tcalib *t = &s->tcalib;
    int fresh = t->tensor == tensor && t->version == s->recipe.version && t->jobs_done == src_quantize_done(s);
    if (!fresh || t->state == TC_PENDING) s->tcalib_want = tensor;
    return t->tensor == tensor && (t->state == TC_OK || t->state == TC_ERROR) ? t : NULL;
}

/* ---- previews, lint, deploy ---- */

static uint64_t prev_hash(int tensor, const char *scheme) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)tensor;
    for (const char *p = scheme; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h * 1099511628211ull;
}

static struct src_prev *prev_find(const struct src *s, int tensor, const char *scheme) {
    if (!s->preview.cap) return NULL;
    for (uint64_t k = prev_hash(tensor, scheme) & (uint64_t)(s->preview.cap - 1);;
         k = (k + 1) & (uint64_t)(s->preview.cap - 1)) {
        struct src_prev *e = &s->preview.slots[k];
        if (e->tensor < 0) return NULL;
        if (e->tensor == tensor && !strcmp(e->scheme, scheme)) return e;
    }
}

/* The slot of (tensor, scheme), created empty (PV_NONE) when missing. */
struct src_prev *src_prev_slot(struct src *s, int tensor, const char *scheme);
struct src_prev *src_prev_slot(struct src *s, int tensor, const char *scheme) {
    struct src_prev *e = prev_find(s, tensor, scheme);
    if (e) return e;
    if ((s->preview.n + 1) * 10 > s->preview.cap * 7) {   /* grow at 70% */
        int cap = s->preview.cap ? s->preview.cap * 2 : 1024;
        struct src_prev *old = s->preview.slots, *nw = malloc(sizeof *nw * (size_t)cap);
        if (!nw) return NULL;
        for (int i = 0; i < cap; i++) nw[i].tensor = -1;
        int oldcap = s->preview.cap;
        s->preview.slots = nw;
        s->preview.cap = cap;
        for (int i = 0; i < oldcap; i++) {
            if (old[i].tensor < 0) continue;
            uint64_t k = prev_hash(old[i].tensor, old[i].scheme) & (uint64_t)(cap - 1);
            while (nw[k].tensor >= 0) k = (k + 1) & (uint64_t)(cap - 1);
            nw[k] = old[i];
        }
        free(old);
    }
    uint64_t k = prev_hash(tensor, scheme) & (uint64_t)(s->preview.cap - 1);
    while (s->preview.slots[k].tensor >= 0) k = (k + 1) & (uint64_t)(s->preview.cap - 1);
    e = &s->preview.slots[k];
    memset(e, 0, sizeof *e);
    e->tensor = tensor;
    tui_strcpy(e->scheme, sizeof e->scheme, scheme);
    s->preview.n++;
    return e;
}

void src_preview_clear(struct src *s) {
    for (int i = 0; i < s->preview.cap; i++) s->preview.slots[i].tensor = -1;
    s->preview.n = 0;
    s->changed = 1;
}

const struct src_prev *src_preview_get(const struct src *s, int tensor, const char *scheme) {
    return prev_find(s, tensor, scheme);
}

void src_preview_want(struct src *s, int tensor, const char *scheme) {
    if (!(s->caps & SRC_CAP_PREVIEW) || s->preview.want_n >= 256 || !strcmp(scheme, "bf16")) return;
    const struct src_prev *e = prev_find(s, tensor, scheme);
    if (e && e->state != PV_NONE) return;
    for (int i = 0; i < s->preview.want_n; i++)
        if (s->preview.want_t[i] == tensor && !strcmp(s->preview.want_s[i], scheme)) return;
    s->preview.want_t[s->preview.want_n] = tensor;
    tui_strcpy(s->preview.want_s[s->preview.want_n], sizeof s->preview.want_s[0], scheme);
    s->preview.want_n++;
}

void src_tick(struct src *s) {
    qt_err err = {{0}};
    if ((s->caps & SRC_CAP_PREVIEW) && !s->preview.inflight && s->preview.want_n && s->ops->preview_send) {
        int n = s->preview.want_n < 64 ? s->preview.want_n : 64;
        if (s->ops->preview_send(s, n, s->preview.want_t, s->preview.want_s, &err) == QT_OK) {
            for (int i = 0; i < n; i++) {
                struct src_prev *e = src_prev_slot(s, s->preview.want_t[i], s->preview.want_s[i]);
                if (e) e->state = PV_PENDING;
            }
            s->preview.inflight = 1;
        }
    }
    s->preview.want_n = 0;
    if ((s->caps & SRC_CAP_HIST) && s->detail_want >= 0 && !s->detail_inflight && s->ops->detail_send &&
        s->detail_want != s->detail.tensor) {
        if (s->ops->detail_send(s, s->detail_want, &err) == QT_OK) {
            s->detail.tensor = s->detail_want;
            s->detail.state = DT_PENDING;
            s->detail_inflight = 1;
        }
    }
    s->detail_want = -1;
    if ((s->caps & SRC_CAP_TCALIB) && s->tcalib_want >= 0 && !s->tcalib_inflight && s->ops->tcalib_send) {
        struct src_tcalib *t = &s->tcalib;
        int q = src_quantize_done(s);
        if (t->tensor != s->tcalib_want || t->version != s->recipe.version || t->jobs_done != q) {
            if (s->ops->tcalib_send(s, s->tcalib_want, &err) == QT_OK) {
                if (t->tensor != s->tcalib_want) t->state = TC_PENDING;   /* another tensor: nothing to show meanwhile */
                t->tensor = s->tcalib_want;
                t->version = s->recipe.version;
                t->jobs_done = q;
                s->tcalib_inflight = 1;
            }
        }
    }
    s->tcalib_want = -1;
    struct src_match *mt = &s->match;
    if (mt->state == MT_PENDING && !mt->sent) {
        if (s->ops->match_send && s->ops->match_send(s, mt->text, mt->gen, &err) == QT_OK) {
            mt->sent = mt->gen;
        } else {
            mt->state = MT_ERROR;
            tui_strcpy(mt->err, sizeof mt->err, s->ops->match_send ? err.msg : "match: not offered by this engine");
        }
    }
    if ((s->caps & SRC_CAP_LINT) && s->lint.stale && !s->lint.inflight && s->ops->lint_send) {
        s->lint.stale = 0;
        if (s->ops->lint_send(s, &err) == QT_OK) s->lint.inflight = 1;
    }
    if ((s->caps & SRC_CAP_DEPLOY) && s->deploy.stale && !s->deploy.inflight && s->ops->deploy_send) {
        s->deploy.stale = 0;
        if (s->ops->deploy_send(s, s->deploy.gpu, &err) == QT_OK) s->deploy.inflight = 1;
    }
    /* the plan panel's size side, while it is shown */
    if (s->plan.want && s->plan.can_size && s->plan.size_stale && !s->plan.size_inflight && s->ops->plan_size_send) {
        s->plan.size_stale = 0;
        if (s->ops->plan_size_send(s, &err) == QT_OK) s->plan.size_inflight = 1;
        else tui_strcpy(s->plan.size_err, sizeof s->plan.size_err, err.msg);
    }
    s->plan.want = 0;
}

void src_close(struct src *s) {
    if (!s) return;
    if (s->ops && s->ops->close) s->ops->close(s);
    src_res_free(&s->resol.cur);
    for (int k = 0; k < SRC_NVAR; k++) src_res_free(&s->resol.variant[k]);
    qt_model_free(s->model);
    free(s->recipe.text);
    free(s->recipe.path);
    for (int k = 0; k < SRC_NVAR; k++) free(s->recipe.variant[k]);
    free(s->jobs.list);
    for (int i = 0; i < s->lint.n_findings; i++) free(s->lint.findings[i].message);
    free(s->lint.findings);
    free(s->lint.flag);
    free(s->preview.slots);
    cJSON_Delete(s->deploy.result);
    cJSON_Delete(s->plan.size);
    cJSON_Delete(s->plan.report);
    for (int i = 0; i < s->deploy.n_gpus; i++) free(s->deploy.gpus[i]);
    free(s->deploy.gpus);
    for (int i = 0; i < s->jobs.n_dkl; i++) free(s->jobs.dkl_name[i]);
    free(s->jobs.dkl_name);
    free(s->jobs.dkl);
    free(s);
}
