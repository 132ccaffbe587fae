/* daemon_ops.c — one function per protocol op (docs/protocol.md).  Each
 * fills the reply's result object or fails with a one-line error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>


#include "daemon/daemon_ops.h"
#include "daemon/job.h"
#include "model/ct_read.h"
#include "recipe/gguf_edit.h"
#include "recipe/recipe_of.h"
#include "model/match.h"
#include "base/hmap.h"
#include "io/report.h"
#include "model/model.h"
#include "recipe/deploy.h"
#include "sessions/session.h"

typedef int (*op_fn)(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req,
                     cJSON *res, qt_err *err);

/* ---- helpers */

const char *qt_dop_str(const cJSON *req, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(req, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int qt_dop_int(const cJSON *req, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItem(req, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

size_t qt_dop_itoa(char *out, long long v) {
    char tmp[24];
    size_t n = 0, k = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do tmp[n++] = (char)('0' + u % 10); while (u /= 10);
    if (v < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    out[k] = 0;
    return k;
}

const char *qt_dop_text(struct qt_daemon *d, const cJSON *req, char **own, qt_err *err) {
    *own = NULL;
    const char *text = qt_dop_str(req, "text");
    if (text) return text;
    return *own = qt_session_recipe(d->s, err);
}

void qt_dop_recipe_state(struct qt_daemon *d, cJSON *o, int with_text, qt_err *err) {
    if (with_text) {
        char *t = qt_session_recipe(d->s, err);
        cJSON_AddStringToObject(o, "text", t ? t : "");
        free(t);
    }
    cJSON_AddNumberToObject(o, "version", d->s->hist_cur);
    cJSON_AddBoolToObject(o, "can_undo", qt_session_can_undo(d->s));
    cJSON_AddBoolToObject(o, "can_redo", qt_session_can_redo(d->s));
}

void qt_dop_recipe_event(struct qt_daemon *d) {
    cJSON *ev = qt_daemon_event("recipe");
    qt_err err;
    qt_dop_recipe_state(d, ev, 0, &err);
    char *t = qt_session_recipe(d->s, &err);
    /* the event log keeps 4096 events: big recipes are fetched with recipe_get */
    if (t && strlen(t) <= 65536) cJSON_AddStringToObject(ev, "text", t);
    else cJSON_AddNullToObject(ev, "text");
    free(t);
    qt_daemon_emit(d, ev);
}

static cJSON *jobs_array(struct qt_daemon *d) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < d->n_jobs; i++) cJSON_AddItemToArray(a, qt_daemon_job_json(d->jobs[i]));
    return a;
}

/* The reason jobs that read weights are refused on a config-only model. */
#define QT_NO_WEIGHTS "metadata only: no weights"

/* The session's settings as stored (an empty object when none, or when
 * the file does not parse: settings are conveniences, never fatal). */
static cJSON *settings_json(struct qt_daemon *d) {
    qt_err err;
    char *t = qt_session_settings(d->s, &err);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = cJSON_CreateObject();
    }
    return j;
}

cJSON *qt_dop_settings(struct qt_daemon *d) { return settings_json(d); }

int qt_dop_arith(struct qt_daemon *d) {
    if (d->arith < 0) {
        cJSON *st = settings_json(d);
        qt_err e;
        const cJSON *v = cJSON_GetObjectItem(st, "arith");
        int a = v ? qt_dop_arith_parse(v, "settings: arith", &e) : -1;
        d->arith = a >= 0 ? a : d->arith_default;
        cJSON_Delete(st);
    }
    return d->arith;
}

/* The settings as clients see them (hello, settings): as stored, plus the
 * arithmetic mode in force when the session has not chosen one. */
static cJSON *settings_shown(struct qt_daemon *d, const cJSON *stored) {
    cJSON *j = stored ? cJSON_Duplicate(stored, 1) : settings_json(d);
    if (!cJSON_GetObjectItem(j, "arith")) cJSON_AddStringToObject(j, "arith", qt_dop_arith_name(qt_dop_arith(d)));
    return j;
}

static void session_state(struct qt_daemon *d, cJSON *res) {
    cJSON_AddNumberToObject(res, "version", QT_PROTO_VERSION);
    cJSON_AddStringToObject(res, "session", d->s->name);
    cJSON_AddNumberToObject(res, "daemon_pid", d->pid);
    cJSON_AddNumberToObject(res, "seq", (double)d->seq);
    cJSON_AddNumberToObject(res, "first_seq", (double)(d->n_ring ? d->first_seq : d->seq + 1));
    if (d->s->model) cJSON_AddStringToObject(res, "model", d->s->model);
    else cJSON_AddNullToObject(res, "model");
    cJSON_AddNumberToObject(res, "recipe_version", d->s->hist_cur);
    cJSON_AddStringToObject(res, "dir", d->s->dir);
    cJSON_AddItemToObject(res, "jobs", jobs_array(d));
    if (d->model && d->model->metadata_only) cJSON_AddStringToObject(res, "jobs_unavailable", QT_NO_WEIGHTS);
    char slots[27];
    qt_session_variant_slots(d->s, slots, sizeof slots);
    cJSON *v = cJSON_AddArrayToObject(res, "variants");
    for (int i = 0; slots[i]; i++) {
        char sl[2] = {slots[i], 0};
        cJSON_AddItemToArray(v, cJSON_CreateString(sl));
    }
    cJSON_AddItemToObject(res, "settings", settings_shown(d, NULL));
    cJSON_AddItemToObject(res, "device", d->device ? cJSON_Duplicate(d->device, 1) : cJSON_CreateNull());
}

/* ---- ops */

/* hello {version, since?, client?}
 *   -> {version, session, daemon_pid, seq, first_seq, model, recipe_version,
 *       jobs[], device|null, gap, ops[{op, needs, summary}], job_kinds[{kind, runnable,
 *       needs_model, needs_weights, summary}]}
 * The first request of a connection; ops and job_kinds are this engine's
 * capabilities, generated from the op and job kind tables. */
static void capabilities(cJSON *res);
static int op_hello(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    const cJSON *v = cJSON_GetObjectItem(req, "version");
    if (!cJSON_IsNumber(v))
        return qt_err_set(err, "hello: no protocol \"version\" (this daemon speaks %d)", QT_PROTO_VERSION);
    if (v->valueint != QT_PROTO_VERSION)
        return qt_err_set(err, "hello: protocol version %d not supported (this daemon speaks %d)",
                          v->valueint, QT_PROTO_VERSION);
    const cJSON *since = cJSON_GetObjectItem(req, "since");
    session_state(d, res);
    int gap = 0;
    c->replay_since = -1;
    if (cJSON_IsNumber(since)) {
        int64_t s = qt_json_i64(since, 0, INT64_MAX / 2, 0);
        /* a client ahead of us saw events of a lost log: it must refresh too */
        gap = s > d->seq || (d->n_ring ? s < d->first_seq - 1 : s < d->seq);
        c->replay_since = s;
    }
    cJSON_AddBoolToObject(res, "gap", gap);
    capabilities(res);
    const char *who = qt_dop_str(req, "client");
    qt_daemon_log(d, "client %d: hello%s%s", c->num, who ? " from " : "", who ? who : "");
    c->hello = 1;
    return QT_OK;
}

/* session {} -> hello's session fields (no replay, no ops). */
static int op_session(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c; (void)req; (void)err;
    session_state(d, res);
    return QT_OK;
}

static void model_summary(const struct qt_model *m, cJSON *res) {
    cJSON_AddStringToObject(res, "model", m->path);
    cJSON_AddStringToObject(res, "arch", m->cfg.model_type);
    cJSON_AddNumberToObject(res, "layers", m->cfg.n_layers);
    cJSON_AddNumberToObject(res, "mtp_layers", m->cfg.n_mtp);
    cJSON_AddNumberToObject(res, "experts", m->cfg.n_experts);
    cJSON_AddNumberToObject(res, "tensors", m->n_tensors);
    cJSON_AddNumberToObject(res, "params", (double)qt_model_params(m, -1));
    cJSON_AddNumberToObject(res, "bytes", (double)qt_model_bytes(m, -1));
    cJSON_AddBoolToObject(res, "metadata_only", m->metadata_only);
    /* why the jobs that read weights (quantize, eval, sensitivity, calib)
     * cannot run, for a client to show as it is */
    if (m->metadata_only) cJSON_AddStringToObject(res, "jobs_unavailable", QT_NO_WEIGHTS);
}

/* A quantized checkpoint qtune (or llm-compressor) wrote carries the recipe
 * it was made with: a session without a recipe yet starts from it, so that
 * the workbench shows the checkpoint's schemes, sizes and bpw instead of
 * its dequantized weights as bf16.  The path taken, or NULL. */
static const char *checkpoint_recipe(struct qt_daemon *d, const struct qt_model *m, char *path, size_t n) {
    if ((!qt_ct_format(m) && !m->gguf) || d->s->hist_cur != 0) return NULL;
    qt_err e;
    if (m->gguf) {   /* a GGUF file: its own types as a GGUF target (gguf_edit.h) */
        char *text = qt_gguf_recipe_of_file(m, &e);
        int ok = text && qt_dop_recipe_check(text, m->path, &e) == QT_OK && qt_session_recipe_set(d->s, text, &e) == QT_OK;
        if (!ok) qt_daemon_log(d, "open: %s: its GGUF types are not a recipe: %s", m->path, e.msg);
        free(text);
        if (!ok) return NULL;
        qt_dop_recipe_event(d);
        snprintf(path, n, "%s (its GGUF types)", m->path);
        return path;
    }
    struct stat st;
    snprintf(path, n, "%s", m->path);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {   /* opened by its config.json or a .safetensors */
        char *slash = strrchr(path, '/');
        if (!slash) return NULL;
        *slash = 0;
    }
    size_t l = strlen(path);
    snprintf(path + l, n - l, "/recipe.yaml");
    size_t len;
    char *text = access(path, F_OK) == 0 ? qt_read_file(path, &len, &e) : NULL;
    if (!text) {   /* none came with it: what its quantization_config says */
        snprintf(path + l, n - l, "/config.json");
        text = qt_recipe_of_ct(path, &e);
        len = text ? strlen(text) : 0;
        if (!text) qt_daemon_log(d, "open: no recipe.yaml, and %s", e.msg);
        if (text) snprintf(path + l, n - l, "/config.json (quantization_config)");
    }
    int ok = text && len && qt_dop_recipe_check(text, path, &e) == QT_OK && qt_session_recipe_set(d->s, text, &e) == QT_OK;
    if (text && !ok) qt_daemon_log(d, "open: %s not used: %s", path, e.msg);
    free(text);
    if (!ok) return NULL;
    qt_dop_recipe_event(d);
    return path;
}

/* open {model} -> {model, arch, layers, mtp_layers, experts, tensors,
 *                  params, bytes, metadata_only, recipe_from?}
 * Opens (or re-opens) the session's model and records it.  A
 * compressed-tensors checkpoint's recipe.yaml becomes the recipe of a
 * session that has none yet (recipe_from names it; a recipe event). */
static int op_open(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const char *path = qt_dop_str(req, "model");
    if (!path) return qt_err_set(err, "open: no \"model\" path");
    struct qt_model *m;
    if (qt_model_open(path, &m, err)) return QT_ERR;
    if (qt_session_set_model(d->s, path, err)) { qt_model_free(m); return QT_ERR; }
    if (d->model) qt_model_free(d->model);
    qt_dop_rescache_free(d);
    qt_dop_preview_reset(d);
    d->model = m;
    model_summary(m, res);
    cJSON_ReplaceItemInObject(res, "model", cJSON_CreateString(d->s->model));
    qt_daemon_log(d, "opened %s (%d tensors)", d->s->model, m->n_tensors);
    char rp[PATH_MAX + 16];
    if (checkpoint_recipe(d, m, rp, sizeof rp)) {
        cJSON_AddStringToObject(res, "recipe_from", rp);
        qt_daemon_log(d, "recipe from the checkpoint: %s", rp);
    }
    return QT_OK;
}

/* model {} -> open's fields for the session's model (opened lazily). */
static int op_model(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c; (void)req;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    model_summary(m, res);
    return QT_OK;
}

void qt_dop_page_init(const cJSON *req, struct qt_dop_page *pg) {
    pg->offset = qt_dop_int(req, "offset", 0);
    if (pg->offset < 0) pg->offset = 0;
    pg->limit = qt_dop_int(req, "limit", -1);
    pg->count = 0;
}

int qt_dop_page_take(struct qt_dop_page *pg) {
    int k = pg->count++;
    /* k - offset, never offset + limit: both come from the client (INT_MAX) */
    return k >= pg->offset && (pg->limit < 0 || k - pg->offset < pg->limit);
}

void qt_dop_page_put(const struct qt_dop_page *pg, cJSON *res) {
    cJSON_AddNumberToObject(res, "count", pg->count);
    cJSON_AddNumberToObject(res, "offset", pg->offset);
}

/* Index of name in arr (added when new): the few dtypes and roles of a page. */
static int name_index(cJSON *arr, const char *name) {
    int k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!strcmp(v->valuestring, name)) return k;
        k++;
    }
    cJSON_AddItemToArray(arr, cJSON_CreateString(name));
    return k;
}

/* A JSON list built as text (added raw): numbers with %lld, strings
 * escaped.  cJSON's own number printing (print, read back, print again) is
 * most of the time of a 45,000-tensor description. */
struct rawlist {
    char *b;
    size_t n, cap;
    int err;
};

static void raw_reserve(struct rawlist *l, size_t more) {
    if (l->err || l->n + more + 2 <= l->cap) return;
    size_t cap = l->cap ? l->cap : 4096;
    while (l->n + more + 2 > cap) cap *= 2;
    char *b = realloc(l->b, cap);
    if (!b) { l->err = 1; return; }
    l->b = b;
    l->cap = cap;
}

static void raw_sep(struct rawlist *l) {
    raw_reserve(l, 1);
    if (l->err) return;
    char ch = l->n ? ',' : '[';
    l->b[l->n++] = ch;
}

static void raw_int(struct rawlist *l, long long v) {
    raw_sep(l);
    raw_reserve(l, 24);
    if (!l->err) l->n += qt_dop_itoa(l->b + l->n, v);
}

static void raw_str(struct rawlist *l, const char *s) {
    raw_sep(l);
    raw_reserve(l, strlen(s) * 6 + 2);
    if (l->err) return;
    l->b[l->n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') l->b[l->n++] = '\\', l->b[l->n++] = (char)*p;
        else if (*p < 0x20) l->n += (size_t)snprintf(l->b + l->n, l->cap - l->n, "\\u%04x", *p);
        else l->b[l->n++] = (char)*p;
    }
    l->b[l->n++] = '"';
}

/* Adds the list to o as key and frees its buffer; 1 when out of memory. */
static int raw_put(cJSON *o, const char *key, struct rawlist *l) {
    int bad = l->err;
    if (!bad) {
        raw_reserve(l, 1);
        if (!l->n) l->b[l->n++] = '[';
        l->b[l->n++] = ']';
        l->b[l->n] = 0;
        bad = l->err || !cJSON_AddRawToObject(o, key, l->b);
    }
    free(l->b);
    memset(l, 0, sizeof *l);
    return bad;
}

/* tensors {filter?, offset?, limit?, compact?}
 *   -> {count, offset, tensors[{index, qt_tensor_json's fields}]}
 *   compact -> {count, offset, names[], ndim[], dims[] (the shapes, flat),
 *               dtypes[], dtype[], roles[], role[], layer[], expert[], mtp[],
 *               groups[], group[], i[]? (with a filter)}
 * The model's tensors, paged.  The compact form is how a client learns the
 * model it shows (the TUI opens no model of its own): parallel lists, dtype,
 * role and group as indices into the page's name lists (-1: no group);
 * bytes are the shape's elements times the dtype's size. */
static int op_tensors(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const char *filter = qt_dop_str(req, "filter");
    int compact = cJSON_IsTrue(cJSON_GetObjectItem(req, "compact"));
    struct qt_dop_page pg;
    qt_dop_page_init(req, &pg);
    struct qt_name_filter *f;
    if (qt_name_filter_open(filter, &f, err)) return qt_err_prefix(err, "tensors: filter");
    if (!compact) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < m->n_tensors; i++) {
            if (!qt_name_filter_match(f, m->tensors[i].name) || !qt_dop_page_take(&pg)) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            cJSON_AddItemToArray(arr, qt_tensor_json(o, m, i));
        }
        qt_name_filter_free(f);
        qt_dop_page_put(&pg, res);
        cJSON_AddItemToObject(res, "tensors", arr);
        return QT_OK;
    }
    enum { L_NAME, L_NDIM, L_DIMS, L_DTYPE, L_ROLE, L_LAYER, L_EXPERT, L_MTP, L_GROUP, L_GNAME, L_I, L_N };
    static const char *const keys[L_N] = {"names", "ndim", "dims", "dtype", "role", "layer", "expert", "mtp",
                                          "group", "groups", "i"};
    struct rawlist L[L_N];
    memset(L, 0, sizeof L);
    cJSON *dtypes = cJSON_CreateArray(), *roles = cJSON_CreateArray();
    struct qt_hmap gmap = {0};   /* group name -> index in the page's groups (keys borrowed from m) */
    int oom = qt_hmap_init(&gmap, 1024) != QT_OK, n_g = 0;
    for (int i = 0; i < m->n_tensors && !oom; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!qt_name_filter_match(f, t->name) || !qt_dop_page_take(&pg)) continue;
        raw_str(&L[L_NAME], t->name);
        raw_int(&L[L_NDIM], t->ndim);
        for (int a = 0; a < t->ndim; a++) raw_int(&L[L_DIMS], (long long)t->shape[a]);
        raw_int(&L[L_DTYPE], name_index(dtypes, qt_dtype_name(t->dtype)));
        raw_int(&L[L_ROLE], name_index(roles, qt_role_name(t->role)));
        raw_int(&L[L_LAYER], t->layer);
        raw_int(&L[L_EXPERT], t->expert);
        raw_int(&L[L_MTP], t->mtp);
        int g = -1;
        if (t->group >= 0 && t->group < m->n_groups) {   /* thousands on GLM-4.6: by name through a map */
            const char *gn = m->groups[t->group].name;
            if ((g = qt_hmap_get(&gmap, gn)) < 0) {
                g = n_g++;
                raw_str(&L[L_GNAME], gn);
                if (qt_hmap_put(&gmap, gn, g) != QT_OK) oom = 1;
            }
        }
        raw_int(&L[L_GROUP], g);
        if (f) raw_int(&L[L_I], i);
    }
    qt_name_filter_free(f);
    qt_hmap_free(&gmap);
    qt_dop_page_put(&pg, res);
    for (int k = 0; k < L_N; k++) {
        if (k == L_I && !L[k].n) { free(L[k].b); continue; }
        if (k == L_DTYPE) cJSON_AddItemToObject(res, "dtypes", dtypes), dtypes = NULL;
        if (k == L_ROLE) cJSON_AddItemToObject(res, "roles", roles), roles = NULL;
        oom |= raw_put(res, keys[k], &L[k]);
    }
    cJSON_Delete(dtypes);
    cJSON_Delete(roles);
    return oom ? qt_err_set(err, "tensors: out of memory") : QT_OK;
}

/* detail {tensor, bins?}
 *   -> {name, shape, dtype, role, rows_sampled, elements, min, max, mean,
 *       std, absmax, hist{lo, hi, counts[]}}
 * Summary statistics and a histogram of one tensor's weights, from at most ~4M sampled elements (whole rows, evenly
 * strided), for the detail panel. */
static int op_detail(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const char *name = qt_dop_str(req, "tensor");
    if (!name) return qt_err_set(err, "detail: no \"tensor\" name");
    const struct qt_tensor *t = qt_model_find(m, name);
    if (!t) return qt_err_set(err, "detail: %s: no such tensor", name);
    int bins = qt_dop_int(req, "bins", 64);
    if (bins < 1 || bins > 1024) return qt_err_set(err, "detail: bins must be 1..1024");
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    const int64_t budget = 4 << 20;
    int64_t stride = rows * cols > budget ? (rows * cols + budget - 1) / budget : 1;
    if (stride > rows) stride = rows;
    int64_t nrows = (rows + stride - 1) / stride;
    float *v = malloc((size_t)(nrows * cols) * sizeof *v);   /* (nrows, cols) sampled rows */
    int *hist = calloc((size_t)bins, sizeof *hist);          /* (bins) */
    if (!v || !hist) { free(v); free(hist); return qt_err_set(err, "detail: out of memory"); }
    for (int64_t r = 0; r < nrows; r++)
        if (qt_tensor_read_f32(m, t, r * stride, 1, v + r * cols, err)) { free(v); free(hist); return QT_ERR; }
    int64_t n = nrows * cols;
    double lo = n ? v[0] : 0, hi = n ? v[0] : 0, sum = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = v[i];
        if (x < lo) lo = x;
        if (x > hi) hi = x;
        sum += x;
        sum2 += x * x;
    }
    double w = hi > lo ? (hi - lo) / bins : 1;
    for (int64_t i = 0; i < n; i++) {
        int b = (int)((v[i] - lo) / w);
        hist[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
    }
    double mean = n ? sum / (double)n : 0, var = n ? sum2 / (double)n - mean * mean : 0;
    cJSON_AddStringToObject(res, "name", t->name);
    cJSON *sh = cJSON_AddArrayToObject(res, "shape");
    for (int a = 0; a < t->ndim; a++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[a]));
    cJSON_AddStringToObject(res, "dtype", qt_dtype_name(t->dtype));
    cJSON_AddStringToObject(res, "role", qt_role_name(t->role));
    cJSON_AddNumberToObject(res, "rows_sampled", (double)nrows);
    cJSON_AddNumberToObject(res, "elements", (double)n);
    cJSON_AddNumberToObject(res, "min", lo);
    cJSON_AddNumberToObject(res, "max", hi);
    cJSON_AddNumberToObject(res, "mean", mean);
    cJSON_AddNumberToObject(res, "std", var > 0 ? sqrt(var) : 0);
    cJSON_AddNumberToObject(res, "absmax", fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi));
    cJSON *h = cJSON_AddObjectToObject(res, "hist");
    cJSON_AddNumberToObject(h, "lo", lo);
    cJSON_AddNumberToObject(h, "hi", hi);
    cJSON_AddItemToObject(h, "counts", cJSON_CreateIntArray(hist, bins));
    free(v);
    free(hist);
    return QT_OK;
}

/* recipe_get {} -> {text, version, can_undo, can_redo} */
static int op_recipe_get(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c; (void)req;
    qt_dop_recipe_state(d, res, 1, err);
    return QT_OK;
}

/* A recipe change was stored: tell every client, answer with the new state. */
static int recipe_changed(struct qt_daemon *d, cJSON *res, qt_err *err) {
    qt_dop_recipe_event(d);
    qt_dop_recipe_state(d, res, 1, err);
    return QT_OK;
}

/* recipe_set {text, check?} -> {text, version, can_undo, can_redo}
 * A history step and a recipe event.  With check (a file name for the
 * message) a text that does not parse is refused: "FILE:LINE:COL: why". */
static int op_recipe_set(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const char *text = qt_dop_str(req, "text");
    if (!text) return qt_err_set(err, "recipe_set: no \"text\"");
    const char *check = qt_dop_str(req, "check");
    if (check && qt_dop_recipe_check(text, check, err)) return QT_ERR;
    if (qt_session_recipe_set(d->s, text, err)) return QT_ERR;
    return recipe_changed(d, res, err);
}

/* undo {} -> recipe_get's fields after one step back; a recipe event. */
static int op_undo(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c; (void)req;
    if (qt_session_undo(d->s, err)) return QT_ERR;
    return recipe_changed(d, res, err);
}

/* redo {} -> recipe_get's fields after one step forward; a recipe event. */
static int op_redo(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c; (void)req;
    if (qt_session_redo(d->s, err)) return QT_ERR;
    return recipe_changed(d, res, err);
}

static int slot_of(const cJSON *req, char *slot, qt_err *err) {
    const char *s = qt_dop_str(req, "slot");
    if (!s || s[0] < 'A' || s[0] > 'Z' || s[1])
        return qt_err_set(err, "variant: \"slot\" must be a letter \"A\" .. \"Z\"");
    *slot = s[0];
    return QT_OK;
}

/* A variant event: slot stored (bytes) or dropped (bytes null), for the
 * other clients' compare panels. */
static void variant_event(struct qt_daemon *d, char slot, long bytes) {
    cJSON *ev = qt_daemon_event("variant");
    char sl[2] = {slot, 0};
    cJSON_AddStringToObject(ev, "slot", sl);
    if (bytes >= 0) cJSON_AddNumberToObject(ev, "bytes", (double)bytes);
    else cJSON_AddNullToObject(ev, "bytes");
    qt_daemon_emit(d, ev);
}

/* variant_store {slot: "A".."Z", text?} -> {slot, bytes}
 * Keeps text (default: the current recipe) as variant slot; a variant
 * event. */
static int op_variant_store(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    char slot = 0;
    if (slot_of(req, &slot, err)) return QT_ERR;
    char *cur;
    const char *text = qt_dop_text(d, req, &cur, err);
    if (!text) return QT_ERR;
    int rc = qt_session_variant_store(d->s, slot, text, err);
    if (rc == QT_OK) {
        char sl[2] = {slot, 0};
        cJSON_AddStringToObject(res, "slot", sl);
        cJSON_AddNumberToObject(res, "bytes", (double)strlen(text));
        variant_event(d, slot, (long)strlen(text));
    }
    free(cur);
    return rc;
}

/* variant_drop {slot} -> {slot}: empties the slot; a variant event. */
static int op_variant_drop(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    char slot = 0;
    if (slot_of(req, &slot, err) || qt_session_variant_drop(d->s, slot, err)) return QT_ERR;
    char sl[2] = {slot, 0};
    cJSON_AddStringToObject(res, "slot", sl);
    variant_event(d, slot, -1);
    return QT_OK;
}

/* The settings a session keeps, with what each must be: a string (gpu, a
 * path, a KV dtype name, an arithmetic mode), a whole number within
 * [lo, hi], or a fraction in (0, 1].  The deploy panel's keys are the
 * deploy op's options. */
enum set_kind { SET_STR, SET_PATH, SET_KV, SET_ARITH, SET_INT, SET_TP, SET_FRAC };
static const struct setting {
    const char *key;
    enum set_kind kind;
    double lo, hi;
} settings_keys[] = {
    {"gpu", SET_STR, 0, 0},
    {"eval_data", SET_PATH, 0, 0},
    {"eval_ctx", SET_INT, 1, 1 << 20},
    {"eval_chunks", SET_INT, 1, 1 << 16},
    {"calib_samples", SET_INT, 1, 1 << 16},
    {"calib_len", SET_INT, 1, 1 << 20},
    {"arith", SET_ARITH, 0, 0},
    {"deploy_ctx", SET_INT, 1, 100000000},       /* qtune deploy --ctx's range */
    {"deploy_batch", SET_INT, 1, 1000000},
    {"deploy_kv_dtype", SET_KV, 0, 0},
    {"deploy_util", SET_FRAC, 0, 1},
    {"deploy_tp", SET_TP, 1, 8},
};

/* Checks one settings value; the error names the key and what it must be. */
static int setting_check(const struct setting *k, const cJSON *v, qt_err *err) {
    switch (k->kind) {
    case SET_ARITH:
        return qt_dop_arith_parse(v, "settings: arith", err) < 0 ? QT_ERR : QT_OK;
    case SET_STR: case SET_PATH: case SET_KV:
        if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) > 4000)
            return qt_err_set(err, "settings: %s must be a non-empty string", k->key);
        if (k->kind == SET_PATH && (v->valuestring[0] != '/' || access(v->valuestring, R_OK) != 0))
            return qt_err_set(err, "settings: %s: %.300s: not a readable file (give an absolute path)", k->key,
                              v->valuestring);
        if (k->kind == SET_KV && qt_deploy_kv_dtype_bytes(v->valuestring) < 0)
            return qt_err_set(err, "settings: %s: %.40s: unknown (" QT_DEPLOY_KV_DTYPES ")", k->key, v->valuestring);
        return QT_OK;
    case SET_INT:
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < k->lo ||
            v->valuedouble > k->hi)
            return qt_err_set(err, "settings: %s must be a whole number from %.0f to %.0f", k->key, k->lo, k->hi);
        return QT_OK;
    case SET_TP:
        if (!cJSON_IsNumber(v) || (v->valuedouble != 1 && v->valuedouble != 2 && v->valuedouble != 4 &&
                                   v->valuedouble != 8))
            return qt_err_set(err, "settings: %s must be 1, 2, 4 or 8 (null: the smallest that fits)", k->key);
        return QT_OK;
    case SET_FRAC:
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble <= 1))
            return qt_err_set(err, "settings: %s must be a fraction in (0, 1]", k->key);
        return QT_OK;
    }
    return QT_OK;
}

/* settings {set?: {gpu?, eval_data?, eval_ctx?, eval_chunks?, calib_samples?, calib_len?, arith?, deploy_ctx?,
 *                  deploy_batch?, deploy_kv_dtype?, deploy_util?, deploy_tp?}} -> {settings}
 * The workbench's choices the session keeps for the next attach: the
 * deploy panel's GPU, context, batch, KV dtype, memory utilization and
 * tensor parallel size, the eval text, context and chunk count of the
 * eval and dKL jobs it submits, the calibration samples and their length
 * of the quantize job a commit submits, the arithmetic mode (f32 | bf16)
 * of the session's previews and of every job that rounds weights.  set
 * merges the given keys (null removes one) after checking them; a
 * settings event carries the result.  The answer always names the mode
 * in force ("arith": the daemon's default when the session has none). */
static int op_settings(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const cJSON *set = cJSON_GetObjectItem(req, "set");
    cJSON *st = settings_json(d);
    if (set && !cJSON_IsObject(set)) { cJSON_Delete(st); return qt_err_set(err, "settings: \"set\" must be an object"); }
    const cJSON *v;
    cJSON_ArrayForEach(v, set) {
        const char *k = v->string;
        const struct setting *def = NULL;
        for (size_t i = 0; i < sizeof settings_keys / sizeof *settings_keys; i++)
            if (!strcmp(settings_keys[i].key, k)) def = &settings_keys[i];
        if (!def) {
            cJSON_Delete(st);
            return qt_err_set(err, "settings: %.60s: unknown (gpu, eval_data, eval_ctx, eval_chunks, calib_samples, "
                              "calib_len, arith, deploy_ctx, deploy_batch, deploy_kv_dtype, deploy_util, deploy_tp)", k);
        }
        if (cJSON_IsNull(v)) { cJSON_DeleteItemFromObject(st, k); continue; }
        if (setting_check(def, v, err) != QT_OK) { cJSON_Delete(st); return QT_ERR; }
        cJSON_DeleteItemFromObject(st, k);
        if (def->kind == SET_ARITH)   /* canonical: "fp32" is kept as "f32" */
            cJSON_AddStringToObject(st, k, qt_dop_arith_name(qt_dop_arith_parse(v, "settings: arith", err)));
        else
            cJSON_AddItemToObject(st, k, cJSON_Duplicate(v, 1));
    }
    if (set) {
        char *t = cJSON_PrintUnformatted(st);
        int rc = t ? qt_session_settings_store(d->s, t, err) : qt_err_set(err, "settings: out of memory");
        free(t);
        if (rc != QT_OK) { cJSON_Delete(st); return QT_ERR; }
        d->arith = -1;   /* read again: the mode may have changed */
        cJSON *ev = qt_daemon_event("settings");
        cJSON_AddItemToObject(ev, "settings", settings_shown(d, st));
        qt_daemon_emit(d, ev);
    }
    cJSON_AddItemToObject(res, "settings", settings_shown(d, st));
    cJSON_Delete(st);
    return QT_OK;
}

/* variant_get {slot} -> {slot, text|null} */
static int op_variant_get(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    char slot = 0;
    if (slot_of(req, &slot, err)) return QT_ERR;
    char *t = qt_session_variant_get(d->s, slot, err);
    if (!t && err->msg[0]) return QT_ERR;
    char sl[2] = {slot, 0};
    cJSON_AddStringToObject(res, "slot", sl);
    if (t) cJSON_AddStringToObject(res, "text", t);
    else cJSON_AddNullToObject(res, "text");
    free(t);
    return QT_OK;
}

/* checkpoints/v<recipe version>[-N] in the session directory, created up
 * to checkpoints/ (the writer refuses an existing output). */
static int checkpoint_dir(struct qt_daemon *d, const char *ext, char *out, size_t n, qt_err *err) {
    if (n < PATH_MAX) return qt_err_set(err, "commit: path buffer too small");
    char dir[PATH_MAX - 32];   /* room for /vN-K in out */
    qt_session_path(d->s, "checkpoints", dir, sizeof dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return qt_err_set(err, "commit: %s: %s", dir, strerror(errno));
    struct stat st;
    snprintf(out, n, "%s/v%d%s", dir, d->s->hist_cur, ext);
    for (int k = 2; stat(out, &st) == 0 && k < 1000; k++) snprintf(out, n, "%s/v%d-%d%s", dir, d->s->hist_cur, k, ext);
    return QT_OK;
}

/* Makes the path params of a job (out, data, calib, dkl) absolute against the
 * client's working directory (/proc/PID/cwd of the peer), not the
 * daemon's: "out": "q4" from a shell in ~/models lands in ~/models/q4.
 * Refuses a relative path when the peer's directory cannot be known. */
static int absolute_paths(const struct qt_client_slot *c, cJSON *p, qt_err *err) {
    static const char *const keys[] = {"out", "data", "calib", "dkl"};
    char cwd[PATH_MAX] = "";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cJSON *v = cJSON_GetObjectItem(p, keys[i]);
        if (!cJSON_IsString(v) || !v->valuestring[0] || v->valuestring[0] == '/') continue;
        if (!cwd[0]) {
            struct ucred cr;
            socklen_t cl = sizeof cr;
            char link[64];
            ssize_t n = -1;
            if (getsockopt(c->conn.fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.pid > 0) {
                snprintf(link, sizeof link, "/proc/%d/cwd", (int)cr.pid);
                n = readlink(link, cwd, sizeof cwd - 1);
            }
            if (n <= 0 || cwd[0] != '/')
                return qt_err_set(err, "job_submit: params.%s \"%s\" is relative and the client's directory is "
                                  "unknown; give an absolute path", keys[i], v->valuestring);
            cwd[n] = 0;
        }
        char abs[2 * PATH_MAX];
        if (snprintf(abs, sizeof abs, "%s/%s", strcmp(cwd, "/") ? cwd : "", v->valuestring) >= PATH_MAX)
            return qt_err_set(err, "job_submit: params.%s: path too long", keys[i]);
        cJSON_ReplaceItemInObject(p, keys[i], cJSON_CreateString(abs));
    }
    return QT_OK;
}


/* 1 when quantize job j left a pipeline state to continue from: it did
 * not finish (interrupted, failed, cancelled) and jobs/ID/pipeline/state.json
 * exists. */
static int resumable(const struct qt_job *j) {
    if (strcmp(j->kind, "quantize") || (j->state != JOB_INTERRUPTED && j->state != JOB_FAILED && j->state != JOB_CANCELLED))
        return 0;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/pipeline/state.json", j->dir);
    return access(path, R_OK) == 0;
}

/* The same calibration inputs: calib, calib_samples, calib_len, and the
 * arithmetic the finished layers were quantized in. */
static int same_calib(const cJSON *a, const cJSON *b) {
    static const char *const keys[] = {"calib", "calib_samples", "calib_len", "arith"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *x = cJSON_GetObjectItem(a, keys[i]), *y = cJSON_GetObjectItem(b, keys[i]);
        if (!x != !y || (x && !cJSON_Compare(x, y, 1))) return 0;
    }
    return 1;
}

/* The newest quantize job a new quantize of text with params p continues
 * (same frozen recipe and calibration inputs, a pipeline state left), or
 * NULL: a re-commit after an interruption picks up where it stopped. */
static const struct qt_job *resume_candidate(struct qt_daemon *d, const char *text, const cJSON *p) {
    for (int k = d->n_jobs - 1; k >= 0; k--) {
        const struct qt_job *j = d->jobs[k];
        if (!resumable(j) || !same_calib(j->params, p)) continue;
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/recipe.yaml", j->dir);
        char *t = qt_read_file(path, NULL, NULL);
        int same = t && !strcmp(t, text);
        free(t);
        if (same) return j;
    }
    return NULL;
}

/* 1 when a job of kind with params p rounds weights to a compressed-
 * tensors scheme, whose codes depend on the arithmetic mode: quantize
 * (but the GGUF writer: ggml's quantizers), eval of a recipe or a
 * scheme (a written checkpoint is read as written: its report says the
 * mode it was written in), sensitivity, plan.  A calib job measures the
 * original model only. */
static int rounds_weights(const char *kind, const cJSON *p) {
    if (!strcmp(kind, "quantize")) {
        const char *f = qt_dop_str(p, "format");
        return !f || strcmp(f, "gguf");
    }
    if (!strcmp(kind, "eval")) return !cJSON_GetObjectItem(p, "quantized") && !cJSON_GetObjectItem(p, "quantized_job");
    return !strcmp(kind, "sensitivity") || !strcmp(kind, "plan");
}

/* job_submit {kind, text?, params?} -> {job}
 * Queues a job of kind on text (default: the current recipe), frozen.  A
 * quantize job without params.out writes a checkpoint in the session
 * (checkpoints/v<recipe version>[-N]). */
static int op_job_submit(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    const char *kind = qt_dop_str(req, "kind");
    if (!kind) return qt_err_set(err, "job_submit: no \"kind\"");
    const struct qt_job_kind *k = qt_job_kind_find(kind);
    if (!k) {
        char names[256] = "";
        for (const char *const *n = qt_job_kind_names(); *n; n++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", *n);
        return qt_err_set(err, "job_submit: %s: unknown job kind (%s)", kind, names);
    }
    if (!k->run) return qt_err_set(err, "job_submit: %s: not available in this build", kind);
    if (k->needs_model && !d->s->model) return qt_err_set(err, "job_submit: no model opened in this session (send open first)");
    if (k->needs_model && d->model && d->model->metadata_only)
        return qt_err_set(err, "job_submit: %s: " QT_NO_WEIGHTS " (open a checkpoint with its safetensors)", kind);
    const cJSON *p0 = cJSON_GetObjectItem(req, "params");
    if (p0 && !cJSON_IsObject(p0)) return qt_err_set(err, "job_submit: \"params\" must be an object");
    cJSON *p = p0 ? cJSON_Duplicate(p0, 1) : cJSON_CreateObject();
    if (!p) return qt_err_set(err, "job_submit: out of memory");
    int bad = absolute_paths(c, p, err) != QT_OK;
    if (!bad && !strcmp(kind, "quantize") && !qt_dop_str(p, "out")) {
        /* a commit from the TUI: a checkpoint in the session */
        char out[PATH_MAX + 32];
        const char *fmt = qt_dop_str(p, "format");
        if (checkpoint_dir(d, fmt && !strcmp(fmt, "gguf") ? ".gguf" : "", out, sizeof out, err)) bad = 1;
        else cJSON_AddStringToObject(p, "out", out);
    }
    if (!bad && k->check && k->check(p, err) != QT_OK) bad = qt_err_prefix(err, "job_submit") != QT_OK;
    if (!bad && rounds_weights(kind, p)) {
        /* the arithmetic mode of the job: as given, else the session's (its
         * previews' mode), recorded in the params the worker reads */
        const cJSON *a = cJSON_GetObjectItem(p, "arith");
        int am = a ? qt_dop_arith_parse(a, "job_submit: params.arith", err) : qt_dop_arith(d);
        if (am < 0) bad = 1;
        else {
            cJSON_DeleteItemFromObject(p, "arith");
            cJSON_AddStringToObject(p, "arith", qt_dop_arith_name(am));
        }
    }
    if (bad) { cJSON_Delete(p); return QT_ERR; }
    char *cur;
    const char *text = qt_dop_text(d, req, &cur, err);
    if (!text) { cJSON_Delete(p); return QT_ERR; }
    if (!strcmp(kind, "quantize") && !cJSON_GetObjectItem(p, "resume_from")) {
        const struct qt_job *rj = resume_candidate(d, text, p);
        if (rj) cJSON_AddNumberToObject(p, "resume_from", rj->id);
    }
    struct qt_job *j = qt_daemon_job_add(d, kind, p, text, err);
    free(cur);
    if (!j) return QT_ERR;
    cJSON_AddItemToObject(res, "job", qt_daemon_job_json(j));
    return QT_OK;
}

/* job_list {} -> {jobs[]} */
static int op_job_list(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c; (void)req; (void)err;
    cJSON_AddItemToObject(res, "jobs", jobs_array(d));
    return QT_OK;
}

static struct qt_job *req_job(struct qt_daemon *d, const cJSON *req, const char *op, qt_err *err) {
    const cJSON *v = cJSON_GetObjectItem(req, "job");
    if (!cJSON_IsNumber(v)) { qt_err_set(err, "%s: no \"job\" id", op); return NULL; }
    struct qt_job *j = qt_daemon_job_find(d, v->valueint);
    if (!j) qt_err_set(err, "%s: no job %d", op, v->valueint);
    return j;
}

/* job_get {job} -> {job, report|null, recipe|null, log} */
static int op_job_get(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    struct qt_job *j = req_job(d, req, "job_get", err);
    if (!j) return QT_ERR;
    cJSON_AddItemToObject(res, "job", qt_daemon_job_json(j));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.json", j->dir);
    char *txt = qt_read_file(path, NULL, NULL);
    cJSON *rep = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    cJSON_AddItemToObject(res, "report", rep ? rep : cJSON_CreateNull());
    snprintf(path, sizeof path, "%s/recipe.yaml", j->dir);   /* the frozen recipe */
    txt = qt_read_file(path, NULL, NULL);
    cJSON_AddItemToObject(res, "recipe", txt ? cJSON_CreateString(txt) : cJSON_CreateNull());
    free(txt);
    snprintf(path, sizeof path, "%s/log", j->dir);
    size_t n = 0;
    txt = qt_read_file(path, &n, NULL);
    size_t keep = 64 * 1024;
    cJSON_AddStringToObject(res, "log", !txt ? "" : n > keep ? txt + n - keep : txt);
    free(txt);
    return QT_OK;
}

/* job_resume {job} -> {job}
 * A quantize job that did not finish (interrupted with its daemon,
 * failed, cancelled) and left its pipeline state continues as a new job:
 * the same frozen recipe and params plus resume_from; its worker takes the
 * state over and the pipeline goes on after the last finished layer. */
static int op_job_resume(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    struct qt_job *old = req_job(d, req, "job_resume", err);
    if (!old) return QT_ERR;
    if (strcmp(old->kind, "quantize")) return qt_err_set(err, "job_resume: job %d is %s, not quantize", old->id, old->kind);
    if (!resumable(old))
        return qt_err_set(err, "job_resume: job %d (%s) left no finished layer to resume from", old->id,
                          qt_daemon_job_state_name(old->state));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/recipe.yaml", old->dir);
    char *text = qt_read_file(path, NULL, err);
    if (!text) return qt_err_prefix(err, "job_resume");
    cJSON *p = cJSON_Duplicate(old->params, 1);
    if (!p) { free(text); return qt_err_set(err, "job_resume: out of memory"); }
    cJSON_DeleteItemFromObject(p, "resume_from");
    cJSON_AddNumberToObject(p, "resume_from", old->id);
    const struct qt_job_kind *k = qt_job_kind_find("quantize");
    if (k && k->check && k->check(p, err) != QT_OK) { cJSON_Delete(p); free(text); return qt_err_prefix(err, "job_resume"); }
    struct qt_job *j = qt_daemon_job_add(d, "quantize", p, text, err);
    free(text);
    if (!j) return QT_ERR;
    cJSON_AddItemToObject(res, "job", qt_daemon_job_json(j));
    return QT_OK;
}

/* job_cancel {job} -> {job} */
static int op_job_cancel(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    struct qt_job *j = req_job(d, req, "job_cancel", err);
    if (!j) return QT_ERR;
    if (qt_daemon_job_cancel(d, j, err)) return qt_err_prefix(err, "job_cancel");
    cJSON_AddItemToObject(res, "job", qt_daemon_job_json(j));
    return QT_OK;
}

/* shutdown {force?, when_idle?} -> {deferred?, grace?}; refused while jobs
 * run unless force; with when_idle the daemon stops once it has had no job
 * and no client for a grace period ($QTUNE_IDLE_GRACE seconds, 30 by
 * default), answering {deferred: jobs, grace: seconds}.  A client that
 * connects meanwhile cancels that. */
static int op_shutdown(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    int force = cJSON_IsTrue(cJSON_GetObjectItem(req, "force"));
    int n = qt_daemon_jobs_active(d);
    if (n && !force && cJSON_IsTrue(cJSON_GetObjectItem(req, "when_idle"))) {
        const char *g = getenv("QTUNE_IDLE_GRACE");
        char *end = NULL;
        double grace = g && *g ? strtod(g, &end) : 30;
        if (!(grace >= 0 && grace < 1e7) || (end && *end)) grace = 30;
        d->quit_when_idle = 1;
        d->idle_since = 0;
        d->idle_grace = grace;
        qt_daemon_log(d, "client %d: shutdown when idle (%d job%s, then %.0f s without clients)", c->num, n,
                      n == 1 ? "" : "s", grace);
        cJSON_AddNumberToObject(res, "deferred", n);
        cJSON_AddNumberToObject(res, "grace", grace);
        return QT_OK;
    }
    if (n && !force)
        return qt_err_set(err, "shutdown: %d job%s running or queued (force to cancel them)", n, n == 1 ? "" : "s");
    qt_daemon_log(d, "client %d: shutdown%s", c->num, force ? " (force)" : "");
    qt_daemon_quit(d);
    return QT_OK;
}

/* The ops, declaratively: hello's list is generated from this table
 * (docs/protocol.md documents each; the contract comment sits by its
 * function).  needs: what the session must have for the op to answer. */
enum { NEEDS_NONE, NEEDS_MODEL, NEEDS_WEIGHTS };
static const struct op_row {
    const char *name;
    op_fn fn;
    int needs;
    const char *summary;
} ops[] = {
    {"hello", op_hello, NEEDS_NONE, "protocol version, session state, this engine's ops and job kinds"},
    {"session", op_session, NEEDS_NONE, "session state"},
    {"open", op_open, NEEDS_NONE, "open a model in the session"},
    {"model", op_model, NEEDS_MODEL, "the session's model in numbers"},
    {"tensors", op_tensors, NEEDS_MODEL, "the model's tensors, paged"},
    {"detail", op_detail, NEEDS_WEIGHTS, "statistics and a histogram of one tensor's weights"},
    {"preview", qt_dop_preview, NEEDS_WEIGHTS, "error of (tensor, scheme) pairs"},
    {"recipe_get", op_recipe_get, NEEDS_NONE, "the current recipe"},
    {"recipe_set", op_recipe_set, NEEDS_NONE, "replace the current recipe (a history step)"},
    {"recipe_write", qt_dop_recipe_write, NEEDS_NONE, "write the current recipe to a file"},
    {"undo", op_undo, NEEDS_NONE, "one history step back"},
    {"redo", op_redo, NEEDS_NONE, "one history step forward"},
    {"variant_store", op_variant_store, NEEDS_NONE, "keep a recipe as a named variant (A..Z)"},
    {"variant_get", op_variant_get, NEEDS_NONE, "a variant's text"},
    {"variant_drop", op_variant_drop, NEEDS_NONE, "empty a variant slot"},
    {"settings", op_settings, NEEDS_NONE, "the session's deploy and eval settings, read or set"},
    {"resolve", qt_dop_resolve, NEEDS_MODEL, "what a recipe does to every tensor, paged"},
    {"match", qt_dop_match, NEEDS_MODEL, "what one pattern matches"},
    {"edit", qt_dop_edit, NEEDS_MODEL, "an edit intent on tree nodes (one key press)"},
    {"recipe_edit", qt_dop_recipe_edit, NEEDS_NONE, "one entry-level recipe change"},
    {"lint", qt_dop_lint, NEEDS_MODEL, "lint findings of a recipe"},
    {"deploy", qt_dop_deploy, NEEDS_MODEL, "deployment estimate of a recipe on a GPU"},
    {"gpus", qt_dop_gpus, NEEDS_NONE, "the GPU catalog's names"},
    {"tensor_calib", qt_dop_tensor_calib, NEEDS_MODEL, "what the calibrated algorithms did to one tensor (job figures)"},
    {"plan_size", qt_dop_plan_size, NEEDS_MODEL, "the planner's size side for a target; a recipe on a plan job's curve"},
    {"job_submit", op_job_submit, NEEDS_NONE, "queue a job"},
    {"job_list", op_job_list, NEEDS_NONE, "every job"},
    {"job_get", op_job_get, NEEDS_NONE, "one job's record, report, frozen recipe and log"},
    {"job_cancel", op_job_cancel, NEEDS_NONE, "cancel a job"},
    {"job_resume", op_job_resume, NEEDS_WEIGHTS, "continue an unfinished quantize job after its last finished layer"},
    {"shutdown", op_shutdown, NEEDS_NONE, "stop the daemon"},
};

static const char *const needs_names[] = {[NEEDS_NONE] = NULL, [NEEDS_MODEL] = "model", [NEEDS_WEIGHTS] = "weights"};

/* hello's capabilities: the op table and the job kind table. */
static void capabilities(cJSON *res) {
    cJSON *a = cJSON_AddArrayToObject(res, "ops");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "op", ops[i].name);
        if (needs_names[ops[i].needs]) cJSON_AddStringToObject(o, "needs", needs_names[ops[i].needs]);
        else cJSON_AddNullToObject(o, "needs");
        cJSON_AddStringToObject(o, "summary", ops[i].summary);
        cJSON_AddItemToArray(a, o);
    }
    cJSON *k = cJSON_AddArrayToObject(res, "job_kinds");
    for (int i = 0; qt_job_kind_at(i); i++) {
        const struct qt_job_kind *jk = qt_job_kind_at(i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", jk->name);
        cJSON_AddBoolToObject(o, "runnable", jk->run != NULL);
        cJSON_AddBoolToObject(o, "needs_model", jk->needs_model);
        cJSON_AddBoolToObject(o, "needs_weights", jk->needs_weights);
        cJSON_AddStringToObject(o, "summary", jk->summary);
        cJSON_AddItemToArray(k, o);
    }
}

int qt_daemon_op(struct qt_daemon *d, struct qt_client_slot *c, const char *op,
                 const cJSON *req, cJSON *result, qt_err *err) {
    if (!c->hello && strcmp(op, "hello") != 0)
        return qt_err_set(err, "%s: say hello first ({\"op\":\"hello\",\"version\":%d})", op, QT_PROTO_VERSION);
    /* a client working on the session again (an edit, a job) cancels a
     * shutdown {when_idle}; looking (ls, attach --raw, previews) does not */
    static const char *const work[] = {"recipe_set", "undo", "redo", "edit", "recipe_edit", "variant_store", "job_submit",
                                       "job_resume"};
    static const char *const probe[] = {"hello", "session", "job_list", "job_get", "gpus", "shutdown"};
    int probing = 0;
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) probing |= !strcmp(op, probe[i]);
    if (!probing) c->viewer = 1;   /* the idle stop waits while such a client is attached */
    for (size_t i = 0; d->quit_when_idle && i < sizeof work / sizeof work[0]; i++)
        if (!strcmp(op, work[i])) {
            qt_daemon_log(d, "client %d: %s: the shutdown when idle is off", c->num, op);
            d->quit_when_idle = 0;
        }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, op)) return ops[i].fn(d, c, req, result, err);
    return qt_err_set(err, "%s: unknown op", op);
}
