/* daemon_recipe.c — the daemon's recipe ops: resolve (per-tensor schemes and
 * live pattern counts), match (what one pattern matches), recipe_edit, lint
 * and deploy (engine/recipe.h, lint.h, deploy.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_ops.h"
#include "recipe/deploy.h"
#include "recipe/lint.h"
#include "model/match.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "io/report.h"
#include "sessions/session.h"

/* ---- recipes: resolve, edit, lint, deploy */

/* The request's "text", else the current recipe (then *own is the copy to
 * free; NULL otherwise).  NULL with err when the recipe cannot be read. */
static const char *text_of(struct qt_daemon *d, const cJSON *req, char **own, qt_err *err) {
    *own = NULL;
    const char *text = qt_dop_str(req, "text");
    if (text) return text;
    return *own = qt_session_recipe(d->s, err);
}

/* 1 when text is only white space (the empty recipe: nothing quantized). */
static int blank(const char *text) {
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r') text++;
    return !*text;
}

/* Parses the request's "text" or the current recipe; *out is NULL for an
 * empty recipe (nothing quantized). */
static int recipe_of(struct qt_daemon *d, const cJSON *req, struct qt_recipe **out, qt_err *err) {
    *out = NULL;
    char *own;
    const char *text = text_of(d, req, &own, err);
    if (!text) return QT_ERR;
    int rc = blank(text) ? QT_OK : qt_recipe_parse(text, strlen(text), "recipe", out, err);
    free(own);
    return rc;
}

/* Index in qt_patterns_json's list of the pattern that decides x's scheme:
 * its winning target when quantized, else the ignore entry that kept it;
 * -1 when none. */
static int pattern_index(const struct qt_recipe *r, const struct qt_resolved *x) {
    int k = 0;
    for (int i = 0; i < r->n_mods; i++) {
        const struct qt_modifier *md = &r->mods[i];
        for (int g = md->first_group; g < md->first_group + md->n_groups; g++) {
            if (x->quantized && x->group == g && x->target >= 0) return k + x->target;
            k += r->groups[g].n_targets;
        }
        if (!x->quantized && x->ignored_by_mod == i && x->ignored_by >= 0) return k + x->ignored_by;
        k += md->n_ignore;
    }
    return -1;
}

/* A growing text buffer for the compact form's number lists. */
struct numlist {
    char *b;
    size_t n, cap;
    int err;
};

static void numlist_add(struct numlist *l, long long v) {
    if (l->err) return;
    if (l->n + 24 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        char *b = realloc(l->b, cap);
        if (!b) { l->err = 1; return; }
        l->b = b;
        l->cap = cap;
    }
    if (!l->n) l->b[l->n++] = '[';
    else l->b[l->n++] = ',';
    l->n += (size_t)snprintf(l->b + l->n, l->cap - l->n, "%lld", v);
}

/* Closes the list and adds it to o as key (raw JSON, printed as is); frees
 * the buffer either way. */
static int numlist_put(cJSON *o, const char *key, struct numlist *l) {
    int ok = 0;
    if (!l->err && !l->n) {
        ok = cJSON_AddRawToObject(o, key, "[]") != NULL;
    } else if (!l->err) {   /* numlist_add left room for "]" */
        l->b[l->n++] = ']';
        l->b[l->n] = 0;
        ok = cJSON_AddRawToObject(o, key, l->b) != NULL;
    }
    free(l->b);
    memset(l, 0, sizeof *l);
    return ok ? QT_OK : QT_ERR;
}

/* The last few texts resolved on the session's model.  The TUI asks one
 * text page by page (6 pages on GLM-4.6) and keeps variants A and B beside
 * the current recipe: parsing and resolving 45k tensors is ~60 ms, a page of
 * the answer a fraction of that. */
#define RESCACHE_N 4
struct resolved {
    char *text;                  /* NULL: a free slot */
    const struct qt_model *m;    /* resolved on */
    struct qt_recipe *r;         /* NULL: the empty recipe */
    struct qt_resolution rs;
    const char **schemes;        /* (n_tensors) canonical scheme or "bf16" (point into r) */
    double *bytes;               /* (n_tensors) after quantization */
    int64_t params, total;       /* quantizable weights and their bytes after (qt_dop_size) */
    uint64_t used;
};
struct qt_dop_rescache {
    struct resolved e[RESCACHE_N];
    uint64_t tick;
};

static void resolved_clear(struct resolved *x) {
    free(x->text);
    qt_resolution_free(&x->rs);
    qt_recipe_free(x->r);
    free(x->schemes);
    free(x->bytes);
    memset(x, 0, sizeof *x);
}

void qt_dop_rescache_free(struct qt_daemon *d) {
    if (!d->rescache) return;
    for (int i = 0; i < RESCACHE_N; i++) resolved_clear(&d->rescache->e[i]);
    free(d->rescache);
    d->rescache = NULL;
}

/* The resolution of the request's "text" (else the current recipe) on m,
 * from the cache or made and cached.  Owned by the cache: valid until the
 * next call. */
static const struct resolved *resolved_of(struct qt_daemon *d, const struct qt_model *m, const cJSON *req,
                                          qt_err *err) {
    if (!d->rescache && !(d->rescache = calloc(1, sizeof *d->rescache)))
        return qt_err_set(err, "resolve: out of memory"), NULL;
    struct qt_dop_rescache *c = d->rescache;
    char *cur;
    const char *text = text_of(d, req, &cur, err);
    if (!text) return NULL;
    struct resolved *x = NULL;
    for (int i = 0; i < RESCACHE_N && !x; i++)
        if (c->e[i].text && c->e[i].m == m && !strcmp(c->e[i].text, text)) x = &c->e[i];
    if (x) {
        free(cur);
        x->used = ++c->tick;
        return x;
    }
    x = &c->e[0];   /* the least recently used slot (a free one first) */
    for (int i = 1; i < RESCACHE_N; i++)
        if (x->text && (!c->e[i].text || c->e[i].used < x->used)) x = &c->e[i];
    resolved_clear(x);
    int empty = blank(text);
    size_t n = (size_t)(m->n_tensors ? m->n_tensors : 1);
    x->schemes = calloc(n, sizeof *x->schemes);
    x->bytes = calloc(n, sizeof *x->bytes);
    x->text = qt_strdup(text);
    free(cur);
    if (!x->schemes || !x->bytes || !x->text) {
        resolved_clear(x);
        return qt_err_set(err, "resolve: out of memory"), NULL;
    }
    if (!empty && (qt_recipe_parse(x->text, strlen(x->text), "recipe", &x->r, err) ||
               qt_recipe_resolve(x->r, m, &x->rs, err))) {
        resolved_clear(x);
        return NULL;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_resolved *t = x->r ? &x->rs.t[i] : NULL;
        int q = t && t->quantized;
        x->schemes[i] = q && t->scheme ? t->scheme : "bf16";
        x->bytes[i] = qt_deploy_tensor_bytes(&m->tensors[i], q ? t->s : NULL, q ? t->actorder : NULL);
    }
    qt_dop_size(m, x->schemes, &x->params, &x->total);
    x->m = m;
    x->used = ++c->tick;
    return x;
}

int qt_dop_resolve(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const struct resolved *rv = resolved_of(d, m, req, err);
    if (!rv) return QT_ERR;
    const struct qt_recipe *r = rv->r;
    struct qt_name_filter *f;
    if (qt_name_filter_open(qt_dop_str(req, "filter"), &f, err)) return qt_err_prefix(err, "resolve: filter");
    int compact = cJSON_IsTrue(cJSON_GetObjectItem(req, "compact"));
    struct qt_dop_page pg;
    qt_dop_page_init(req, &pg);
    cJSON *arr = cJSON_CreateArray();
    /* compact form: the page's distinct schemes and one list per field */
    const char **names = compact ? calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *names) : NULL;   /* (n_names) */
    int n_names = 0;
    struct numlist li = {0}, ls = {0}, lp = {0}, lb = {0}, lq = {0};
    if (compact && !names) {
        cJSON_Delete(arr);
        qt_name_filter_free(f);
        return qt_err_set(err, "resolve: out of memory");
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        const struct qt_resolved *x = r ? &rv->rs.t[i] : NULL;
        const char *scheme = rv->schemes[i];
        if (!qt_name_filter_match(f, t->name) || !qt_dop_page_take(&pg)) continue;
        int q = x && x->quantized;
        int pi = x ? pattern_index(r, x) : -1;
        double bytes = rv->bytes[i];
        if (compact) {
            int si = 0;
            while (si < n_names && strcmp(names[si], scheme)) si++;
            if (si == n_names) names[n_names++] = scheme;
            if (f) numlist_add(&li, i);
            numlist_add(&ls, si);
            numlist_add(&lp, pi);
            numlist_add(&lb, (long long)bytes);
            numlist_add(&lq, q);
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "scheme", scheme);
        if (q) {
            cJSON_AddStringToObject(o, "algo", qt_algo_name(x->algo));
            cJSON_AddStringToObject(o, "preview_algo", qt_algo_name(x->preview_algo));
        } else {
            cJSON_AddNullToObject(o, "algo");
            cJSON_AddNullToObject(o, "preview_algo");
        }
        if (q && x->group >= 0) cJSON_AddStringToObject(o, "group", r->groups[x->group].name);
        else cJSON_AddNullToObject(o, "group");
        if (x && x->ignored_by_mod >= 0 && x->ignored_by >= 0)
            cJSON_AddStringToObject(o, "ignored_by", r->mods[x->ignored_by_mod].ignore[x->ignored_by].text);
        else cJSON_AddNullToObject(o, "ignored_by");
        if (pi >= 0) cJSON_AddNumberToObject(o, "pattern", pi);
        else cJSON_AddNullToObject(o, "pattern");
        cJSON_AddNumberToObject(o, "bytes", bytes);
        cJSON_AddItemToArray(arr, o);
    }
    qt_name_filter_free(f);
    qt_dop_page_put(&pg, res);
    int rc = QT_OK;
    if (compact) {
        cJSON_Delete(arr);
        cJSON *sa = cJSON_AddArrayToObject(res, "schemes");
        for (int k = 0; k < n_names; k++) cJSON_AddItemToArray(sa, cJSON_CreateString(names[k]));
        if ((f && numlist_put(res, "i", &li)) || numlist_put(res, "s", &ls) || numlist_put(res, "p", &lp) ||
            numlist_put(res, "b", &lb) || numlist_put(res, "q", &lq))
            rc = qt_err_set(err, "resolve: out of memory");
    } else {
        cJSON_AddItemToObject(res, "tensors", arr);
    }
    free(li.b), free(ls.b), free(lp.b), free(lb.b), free(lq.b);
    free(names);
    cJSON_AddItemToObject(res, "patterns", qt_patterns_json(r, 1));
    cJSON_AddNumberToObject(res, "n_quantized", r ? rv->rs.n_quantized : 0);
    cJSON *tot = cJSON_AddObjectToObject(res, "total");
    cJSON_AddNumberToObject(tot, "params", (double)rv->params);
    cJSON_AddNumberToObject(tot, "bytes", (double)rv->total);
    cJSON_AddNumberToObject(tot, "bpw", rv->params ? 8.0 * (double)rv->total / (double)rv->params : 0);
    return rc;
}

int qt_dop_match(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const char *text = qt_dop_str(req, "pattern");
    if (!text) return qt_err_set(err, "match: no \"pattern\"");
    int limit = qt_dop_int(req, "limit", 8);
    if (limit < 0) limit = 0;
    if (limit > 1024) limit = 1024;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    struct qt_pattern p;
    if (qt_pattern_compile(text, &p, err) != QT_OK) return QT_ERR;
    int n = 0;
    char mod[512];
    cJSON *names = cJSON_CreateArray();
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!qt_recipe_quantizable(t)) continue;
        qt_match_module(t, mod, sizeof mod);
        if (qt_pattern_match(&p, mod, t->role, NULL) == QT_MATCH_NONE) continue;
        if (n++ < limit) cJSON_AddItemToArray(names, cJSON_CreateString(mod));
    }
    qt_pattern_free(&p);
    cJSON_AddNumberToObject(res, "modules", n);
    cJSON_AddItemToObject(res, "names", names);
    return QT_OK;
}

int qt_dop_recipe_edit(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const char *action = qt_dop_str(req, "action");
    if (!action) return qt_err_set(err, "recipe_edit: no \"action\" (set_scheme, add_ignore, remove_ignore)");
    struct qt_recipe *r;
    cJSON *noreq = cJSON_CreateObject();   /* the current recipe, never a "text" */
    int rc = recipe_of(d, noreq, &r, err);
    cJSON_Delete(noreq);
    if (rc) return QT_ERR;
    if (!r && qt_recipe_new(&r, err)) return QT_ERR;
    if (!strcmp(action, "set_scheme")) {
        const char *target = qt_dop_str(req, "target"), *scheme = qt_dop_str(req, "scheme");
        if (!target || !scheme) rc = qt_err_set(err, "recipe_edit: set_scheme needs \"target\" and \"scheme\"");
        else rc = qt_recipe_set_scheme(r, target, scheme, err);
    } else if (!strcmp(action, "add_ignore") || !strcmp(action, "remove_ignore")) {
        const char *pat = qt_dop_str(req, "pattern");
        if (!pat) rc = qt_err_set(err, "recipe_edit: %s needs \"pattern\"", action);
        else if (action[0] == 'a') rc = qt_recipe_add_ignore(r, pat, err);
        else rc = qt_recipe_remove_ignore(r, pat, err);
    } else {
        rc = qt_err_set(err, "recipe_edit: %s: unknown action (set_scheme, add_ignore, remove_ignore)", action);
    }
    size_t len = 0;
    char *text = rc == QT_OK ? qt_recipe_dump(r, &len, err) : NULL;
    qt_recipe_free(r);
    if (!text) return QT_ERR;
    rc = qt_session_recipe_set(d->s, text, err);
    free(text);
    if (rc) return QT_ERR;
    qt_dop_recipe_event(d);
    qt_dop_recipe_state(d, res, 1, err);
    return QT_OK;
}

int qt_dop_lint(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    struct qt_recipe *r;
    if (recipe_of(d, req, &r, err)) return QT_ERR;
    if (!r) {   /* nothing quantized: nothing to find */
        qt_lint_json(res, m, NULL);
        return QT_OK;
    }
    struct qt_resolution rs = {0};
    struct qt_lint L = {0};
    struct qt_lint_opts o = {.tp = qt_dop_int(req, "tp", 1)};
    if (o.tp < 1) o.tp = 1;
    int rc = qt_recipe_resolve(r, m, &rs, err);
    if (rc == QT_OK) rc = qt_lint_run(r, m, &rs, &o, &L, err);
    if (rc == QT_OK) {
        qt_lint_json(res, m, &L);
        qt_lint_free(&L);
    }
    qt_resolution_free(&rs);
    qt_recipe_free(r);
    return rc;
}

int qt_dop_deploy(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const char *gname = qt_dop_str(req, "gpu") ? qt_dop_str(req, "gpu") : "H100-80G";
    int tp = qt_dop_int(req, "tp", 0), batch = qt_dop_int(req, "batch", 1);
    /* no ctx: the engine's default (8192, or the model's limit when smaller) */
    double ctx = cJSON_IsNumber(cJSON_GetObjectItem(req, "ctx")) ? cJSON_GetObjectItem(req, "ctx")->valuedouble : 0;
    const cJSON *u = cJSON_GetObjectItem(req, "util");
    double util = cJSON_IsNumber(u) ? u->valuedouble : 0.9;
    if (tp != 0 && tp != 1 && tp != 2 && tp != 4 && tp != 8) return qt_err_set(err, "deploy: tp must be 1, 2, 4 or 8");
    /* ctx is cast to int64 below: refuse what does not fit (1e300) first;
     * absent (0) means the engine's default */
    if (batch < 1 || (cJSON_GetObjectItem(req, "ctx") && !(ctx >= 1 && ctx <= 1e12)) || !(util > 0 && util <= 1))
        return qt_err_set(err, "deploy: bad ctx, batch or util");
    int kvb = 0;
    const char *kv = qt_dop_str(req, "kv_dtype");
    if (kv && strcmp(kv, "auto")) {
        if (!strcmp(kv, "bf16") || !strcmp(kv, "fp16")) kvb = 2;
        else if (!strcmp(kv, "fp8") || !strcmp(kv, "int8")) kvb = 1;
        else if (!strcmp(kv, "fp32")) kvb = 4;
        else return qt_err_set(err, "deploy: kv_dtype %s: unknown (auto, bf16, fp16, fp8)", kv);
    }
    struct qt_gpu_catalog cat;
    if (qt_gpu_catalog_load_default(NULL, &cat, err)) return QT_ERR;
    const struct qt_gpu *g = qt_gpu_find(&cat, gname);
    if (!g) { qt_gpu_catalog_free(&cat); return qt_err_set(err, "deploy: gpu %s: not in the catalog", gname); }
    struct qt_recipe *r = NULL;
    struct qt_resolution rs = {0};
    int rc = recipe_of(d, req, &r, err);
    if (rc == QT_OK && r) rc = qt_recipe_resolve(r, m, &rs, err);
    struct qt_deploy dp;
    struct qt_deploy_opts o = {.gpu = g, .tp = tp, .ctx = (int64_t)ctx, .batch = batch, .util = util, .kv_bytes = kvb};
    if (rc == QT_OK) rc = qt_deploy_estimate(m, r, r ? &rs : NULL, &o, &dp, err);
    if (rc == QT_OK) {
        qt_deploy_json(res, &dp, g);
    }
    qt_resolution_free(&rs);
    qt_recipe_free(r);
    qt_gpu_catalog_free(&cat);
    return rc;
}

