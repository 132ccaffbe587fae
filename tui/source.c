/* source.c — the TUI's view of the engine: recipe resolution, sums, edits,
 * and the in-process ("local", --no-daemon) backend. */
#include "source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "deploy.h"
#include "screen.h"

/* ---- sums ---- */

int64_t src_tensor_bytes(const struct qt_tensor *t, const struct qt_scheme *s, const char *actorder) {
    /* one obvious place: the deploy estimate's bytes (qt_quant_bytes + g_idx) */
    return (int64_t)qt_deploy_tensor_bytes(t, s, actorder);
}

static void sum_resolution(const struct qt_model *m, const struct qt_resolution *res,
                           int64_t *bytes_after, struct src_summary *sum) {
    memset(sum, 0, sizeof *sum);
    sum->ok = 1;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        const struct qt_resolved *rv = &res->t[i];
        int64_t after = src_tensor_bytes(t, rv->quantized ? rv->s : NULL, rv->actorder);
        if (bytes_after) bytes_after[i] = after;
        sum->params += qt_tensor_numel(t);
        sum->bytes_before += (int64_t)t->nbytes;
        sum->bytes_after += after;
        if (qt_recipe_quantizable(t) && qt_role_is_linear(t->role)) {
            sum->q_params += qt_tensor_numel(t);
            sum->q_bytes_after += after;
        }
        if (rv->quantized) sum->n_quantized++;
    }
    sum->bpw = sum->q_params ? 8.0 * (double)sum->q_bytes_after / (double)sum->q_params : 0;
}

void src_recipe_changed(struct src *s) {
    qt_resolution_free(&s->res);
    memset(&s->res, 0, sizeof s->res);
    qt_recipe_free(s->recipe);
    s->recipe = NULL;
    qt_err err = {{0}};
    const char *text = s->recipe_text ? s->recipe_text : "";
    struct qt_recipe *r = NULL;
    int rc = *text ? qt_recipe_parse(text, strlen(text), "recipe", &r, &err)
                   : qt_recipe_new(&r, &err);
    if (rc == QT_OK) rc = qt_recipe_resolve(r, s->model, &s->res, &err);
    if (rc != QT_OK) {
        qt_recipe_free(r);
        memset(&s->sum, 0, sizeof s->sum);
        tui_strcpy(s->sum.err, sizeof s->sum.err, err.msg);
        s->changed = 1;
        return;
    }
    s->recipe = r;
    sum_resolution(s->model, &s->res, s->bytes_after, &s->sum);
    s->lint_stale = s->deploy_stale = 1;
    s->changed = 1;
}

void src_summarize(struct src *s, const char *text, struct src_summary *sum, char ***schemes) {
    memset(sum, 0, sizeof *sum);
    if (schemes) *schemes = NULL;
    qt_err err = {{0}};
    struct qt_recipe *r = NULL;
    struct qt_resolution res = {0};
    if (qt_recipe_parse(text, strlen(text), "variant", &r, &err) != QT_OK ||
        qt_recipe_resolve(r, s->model, &res, &err) != QT_OK) {
        tui_strcpy(sum->err, sizeof sum->err, err.msg);
        qt_recipe_free(r);
        return;
    }
    sum_resolution(s->model, &res, NULL, sum);
    if (schemes) {
        char **v = calloc((size_t)s->model->n_tensors, sizeof *v);
        for (int i = 0; v && i < s->model->n_tensors; i++) v[i] = qt_strdup(res.t[i].scheme);
        *schemes = v;
    }
    qt_resolution_free(&res);
    qt_recipe_free(r);
}

/* ---- edits ---- */

/* Parses the current text into a fresh recipe to edit. */
int src_edit_begin(struct src *s, struct qt_recipe **r, qt_err *err) {
    const char *text = s->recipe_text ? s->recipe_text : "";
    if (!*text) return qt_recipe_new(r, err);
    return qt_recipe_parse(text, strlen(text), "recipe", r, err);
}

int src_edit_commit(struct src *s, struct qt_recipe *r, qt_err *err) {
    size_t len;
    char *text = qt_recipe_dump(r, &len, err);
    qt_recipe_free(r);
    if (!text) return QT_ERR;
    int rc = QT_OK;
    if (!s->recipe_text || strcmp(text, s->recipe_text)) rc = s->ops->recipe_set(s, text, err);
    free(text);
    return rc;
}

int src_add_pattern(struct src *s, const char *pattern, const char *scheme, qt_err *err) {
    struct qt_recipe *r;
    if (src_edit_begin(s, &r, err) != QT_OK) return QT_ERR;
    int rc = scheme ? qt_recipe_set_scheme(r, pattern, scheme, err)
                    : qt_recipe_add_ignore(r, pattern, err);
    if (rc != QT_OK) { qt_recipe_free(r); return QT_ERR; }
    return src_edit_commit(s, r, err);
}

int src_match_count(struct src *s, const char *pattern, qt_err *err) {
    struct qt_pattern p;
    if (qt_pattern_compile(pattern, &p, err) != QT_OK) return -1;
    int n = 0;
    char mod[512];
    for (int i = 0; i < s->model->n_tensors; i++) {
        const struct qt_tensor *t = &s->model->tensors[i];
        if (!qt_recipe_quantizable(t)) continue;
        qt_match_module(t, mod, sizeof mod);
        if (qt_pattern_match(&p, mod, t->role, NULL) != QT_MATCH_NONE) n++;
    }
    qt_pattern_free(&p);
    return n;
}

int src_write_recipe(struct src *s, const char *path, qt_err *err) {
    const char *text = s->recipe_text ? s->recipe_text : "";
    char *fresh = NULL;
    if (!*text) {   /* nothing edited yet: write the empty recipe as it would be saved */
        struct qt_recipe *r;
        size_t len;
        if (qt_recipe_new(&r, err) != QT_OK) return QT_ERR;
        fresh = qt_recipe_dump(r, &len, err);
        qt_recipe_free(r);
        if (!fresh) return QT_ERR;
        text = fresh;
    }
    int rc = qt_write_file_atomic(path, text, strlen(text), err);
    free(fresh);
    if (rc == QT_OK) s->saved_version = s->recipe_version;
    return rc;
}

int src_histogram(struct src *s, int tensor, int bins, int64_t *counts, double *lo, double *hi,
                  int *rows_used, qt_err *err) {
    if (!(s->caps & SRC_CAP_HIST)) return qt_err_set(err, "histogram: no weights in this model");
    const struct qt_tensor *t = &s->model->tensors[tensor];
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    int take = rows < 64 ? (int)rows : 64;
    float *buf = malloc(sizeof(float) * (size_t)cols * (size_t)take);   /* (take, cols) */
    if (!buf) return qt_err_set(err, "histogram: out of memory");
    for (int r = 0; r < take; r++) {
        int64_t row = take == rows ? r : (int64_t)r * rows / take;
        if (qt_tensor_read_f32(s->model, t, row, 1, buf + (size_t)r * cols, err) != QT_OK) {
            free(buf);
            return QT_ERR;
        }
    }
    size_t n = (size_t)cols * take;
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] < mn) mn = buf[i];
        if (buf[i] > mx) mx = buf[i];
    }
    double a = fmax(fabs(mn), fabs(mx));   /* symmetric range: zero sits in the middle */
    if (!(a > 0)) a = 1;
    memset(counts, 0, sizeof *counts * (size_t)bins);
    for (size_t i = 0; i < n; i++) {
        int b = (int)((buf[i] + a) / (2 * a) * bins);
        if (b < 0) b = 0;
        if (b >= bins) b = bins - 1;
        counts[b]++;
    }
    free(buf);
    *lo = -a;
    *hi = a;
    *rows_used = take;
    return QT_OK;
}

/* ---- previews, lint, deploy ---- */

static uint64_t prev_hash(int tensor, const char *scheme) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)tensor;
    for (const char *p = scheme; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h * 1099511628211ull;
}

static struct src_prev *prev_find(const struct src *s, int tensor, const char *scheme) {
    if (!s->prev_cap) return NULL;
    for (uint64_t k = prev_hash(tensor, scheme) & (uint64_t)(s->prev_cap - 1);;
         k = (k + 1) & (uint64_t)(s->prev_cap - 1)) {
        struct src_prev *e = &s->prev[k];
        if (e->tensor < 0) return NULL;
        if (e->tensor == tensor && !strcmp(e->scheme, scheme)) return e;
    }
}

/* The slot of (tensor, scheme), created empty (PV_NONE) when missing. */
struct src_prev *src_prev_slot(struct src *s, int tensor, const char *scheme);
struct src_prev *src_prev_slot(struct src *s, int tensor, const char *scheme) {
    struct src_prev *e = prev_find(s, tensor, scheme);
    if (e) return e;
    if ((s->prev_n + 1) * 10 > s->prev_cap * 7) {   /* grow at 70% */
        int cap = s->prev_cap ? s->prev_cap * 2 : 1024;
        struct src_prev *old = s->prev, *nw = malloc(sizeof *nw * (size_t)cap);
        if (!nw) return NULL;
        for (int i = 0; i < cap; i++) nw[i].tensor = -1;
        int oldcap = s->prev_cap;
        s->prev = nw;
        s->prev_cap = cap;
        for (int i = 0; i < oldcap; i++) {
            if (old[i].tensor < 0) continue;
            uint64_t k = prev_hash(old[i].tensor, old[i].scheme) & (uint64_t)(cap - 1);
            while (nw[k].tensor >= 0) k = (k + 1) & (uint64_t)(cap - 1);
            nw[k] = old[i];
        }
        free(old);
    }
    uint64_t k = prev_hash(tensor, scheme) & (uint64_t)(s->prev_cap - 1);
    while (s->prev[k].tensor >= 0) k = (k + 1) & (uint64_t)(s->prev_cap - 1);
    e = &s->prev[k];
    memset(e, 0, sizeof *e);
    e->tensor = tensor;
    tui_strcpy(e->scheme, sizeof e->scheme, scheme);
    s->prev_n++;
    return e;
}

const struct src_prev *src_preview_get(const struct src *s, int tensor, const char *scheme) {
    return prev_find(s, tensor, scheme);
}

void src_preview_want(struct src *s, int tensor, const char *scheme) {
    if (!(s->caps & SRC_CAP_PREVIEW) || s->want_n >= 256 || !strcmp(scheme, "bf16")) return;
    const struct src_prev *e = prev_find(s, tensor, scheme);
    if (e && e->state != PV_NONE) return;
    for (int i = 0; i < s->want_n; i++)
        if (s->want_t[i] == tensor && !strcmp(s->want_s[i], scheme)) return;
    s->want_t[s->want_n] = tensor;
    tui_strcpy(s->want_s[s->want_n], sizeof s->want_s[0], scheme);
    s->want_n++;
}

void src_tick(struct src *s) {
    qt_err err = {{0}};
    if ((s->caps & SRC_CAP_PREVIEW) && !s->prev_inflight && s->want_n && s->ops->preview_send) {
        int n = s->want_n < 64 ? s->want_n : 64;
        if (s->ops->preview_send(s, n, s->want_t, s->want_s, &err) == QT_OK) {
            for (int i = 0; i < n; i++) {
                struct src_prev *e = src_prev_slot(s, s->want_t[i], s->want_s[i]);
                if (e) e->state = PV_PENDING;
            }
            s->prev_inflight = 1;
        }
    }
    s->want_n = 0;
    if ((s->caps & SRC_CAP_LINT) && s->lint_stale && !s->lint_inflight && s->ops->lint_send) {
        s->lint_stale = 0;
        if (s->ops->lint_send(s, &err) == QT_OK) s->lint_inflight = 1;
    }
    if ((s->caps & SRC_CAP_DEPLOY) && s->deploy_stale && !s->deploy_inflight && s->ops->deploy_send) {
        s->deploy_stale = 0;
        if (s->ops->deploy_send(s, s->deploy_gpu, &err) == QT_OK) s->deploy_inflight = 1;
    }
}

/* ---- the local backend: history and variants in memory ---- */

struct local {
    char **hist;      /* (n_hist) recipe texts; hist[0] is the opening text */
    int n_hist, cur;
};

static int l_fd(struct src *s) { (void)s; return -1; }
static int l_pump(struct src *s) { (void)s; return 0; }
static int l_idle(struct src *s) { (void)s; return 1; }
static int l_pending(struct src *s) { (void)s; return 0; }

static void l_show(struct src *s) {
    struct local *l = s->impl;
    free(s->recipe_text);
    s->recipe_text = qt_strdup(l->hist[l->cur]);
    s->recipe_version = l->cur;
    s->can_undo = l->cur > 0;
    s->can_redo = l->cur < l->n_hist - 1;
    src_recipe_changed(s);
}

static int l_recipe_set(struct src *s, const char *text, qt_err *err) {
    struct local *l = s->impl;
    char *copy = qt_strdup(text);
    char **h = realloc(l->hist, sizeof *h * (size_t)(l->cur + 2));
    if (!copy || !h) { free(copy); return qt_err_set(err, "recipe: out of memory"); }
    l->hist = h;
    for (int i = l->cur + 1; i < l->n_hist; i++) free(l->hist[i]);   /* drop the redo tail */
    l->hist[++l->cur] = copy;
    l->n_hist = l->cur + 1;
    l_show(s);
    return QT_OK;
}

static int l_undo(struct src *s, qt_err *err) {
    struct local *l = s->impl;
    if (l->cur == 0) return qt_err_set(err, "undo: nothing to undo");
    l->cur--;
    l_show(s);
    return QT_OK;
}

static int l_redo(struct src *s, qt_err *err) {
    struct local *l = s->impl;
    if (l->cur >= l->n_hist - 1) return qt_err_set(err, "redo: nothing to redo");
    l->cur++;
    l_show(s);
    return QT_OK;
}

static int l_variant_store(struct src *s, int slot, qt_err *err) {
    char *t = qt_strdup(s->recipe_text ? s->recipe_text : "");
    if (!t) return qt_err_set(err, "variant: out of memory");
    free(s->variant[slot]);
    s->variant[slot] = t;
    s->changed = 1;
    return QT_OK;
}

static int l_job_submit(struct src *s, qt_err *err) {
    (void)s;
    return qt_err_set(err, "commit: jobs need the engine daemon");
}

static int l_job_cancel(struct src *s, int id, qt_err *err) {
    (void)s;
    return qt_err_set(err, "cancel: job %d: jobs need the engine daemon", id);
}

static void l_close(struct src *s) {
    struct local *l = s->impl;
    if (!l) return;
    for (int i = 0; i < l->n_hist; i++) free(l->hist[i]);
    free(l->hist);
    free(l);
}

static short l_events(struct src *s) { (void)s; return 0; }

static const struct src_ops local_ops = {
    .name = "local",
    .fd = l_fd, .events = l_events, .pump = l_pump, .idle = l_idle, .pending = l_pending,
    .recipe_set = l_recipe_set, .undo = l_undo, .redo = l_redo,
    .variant_store = l_variant_store,
    .job_submit = l_job_submit, .job_cancel = l_job_cancel,
    .close = l_close,
};

int src_open_local(const char *model_path, const char *recipe_path, const char *session,
                   struct src **out, qt_err *err) {
    struct src *s = calloc(1, sizeof *s);
    struct local *l = calloc(1, sizeof *l);
    if (!s || !l) { free(s); free(l); return qt_err_set(err, "out of memory"); }
    s->ops = &local_ops;
    s->impl = l;
    if (qt_model_open(model_path, &s->model, err) != QT_OK) { src_close(s); return QT_ERR; }
    /* the name a person recognizes: the directory (or file) name */
    char tmp[4096];
    tui_strcpy(tmp, sizeof tmp, model_path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    const char *base = strrchr(tmp, '/');
    tui_strcpy(s->model_name, sizeof s->model_name, base ? base + 1 : tmp);
    char *dot = strstr(s->model_name, ".config.json");
    if (dot) *dot = 0;
    tui_strcpy(s->session, sizeof s->session, session ? session : "");
    snprintf(s->engine_state, sizeof s->engine_state, "local");
    s->caps = s->model->metadata_only ? 0 : SRC_CAP_HIST;
    s->bytes_after = calloc((size_t)s->model->n_tensors + 1, sizeof *s->bytes_after);
    char *text = NULL;
    if (recipe_path) {
        size_t len;
        text = qt_read_file(recipe_path, &len, err);
        if (!text) { src_close(s); return QT_ERR; }
        struct qt_recipe *r;
        if (qt_recipe_parse(text, len, recipe_path, &r, err) != QT_OK) {
            free(text);
            src_close(s);
            return QT_ERR;
        }
        qt_recipe_free(r);
        s->recipe_path = qt_strdup(recipe_path);
    } else {
        struct qt_recipe *r;
        size_t len;
        if (qt_recipe_new(&r, err) != QT_OK) { src_close(s); return QT_ERR; }
        text = qt_recipe_dump(r, &len, err);
        qt_recipe_free(r);
        if (!text) { src_close(s); return QT_ERR; }
    }
    l->hist = malloc(sizeof *l->hist);
    if (!l->hist || !s->bytes_after) { free(text); src_close(s); return qt_err_set(err, "out of memory"); }
    l->hist[0] = text;
    l->n_hist = 1;
    l_show(s);
    if (!s->recipe) {
        qt_err_set(err, "%s", s->sum.err);
        src_close(s);
        return QT_ERR;
    }
    s->saved_version = s->recipe_version;
    *out = s;
    return QT_OK;
}

void src_close(struct src *s) {
    if (!s) return;
    if (s->ops && s->ops->close) s->ops->close(s);
    qt_resolution_free(&s->res);
    qt_recipe_free(s->recipe);
    qt_model_free(s->model);
    free(s->recipe_text);
    free(s->recipe_path);
    free(s->bytes_after);
    free(s->variant[0]);
    free(s->variant[1]);
    free(s->jobs);
    for (int i = 0; i < s->n_findings; i++) {
        free(s->findings[i].message);
        free(s->findings[i].tensors);
    }
    free(s->findings);
    free(s->prev);
    cJSON_Delete(s->deploy);
    for (int i = 0; i < s->n_gpus; i++) free(s->gpus[i]);
    free(s->gpus);
    for (int i = 0; i < s->n_dkl; i++) free(s->dkl_name[i]);
    free(s->dkl_name);
    free(s->dkl);
    free(s);
}
