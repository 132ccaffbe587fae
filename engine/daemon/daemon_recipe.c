/* daemon_recipe.c — the daemon's recipe ops: resolve (per-tensor schemes and
 * live pattern counts), match (what one pattern matches), recipe_edit, lint
 * and deploy (engine/recipe.h, lint.h, deploy.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_ops.h"
#include "recipe/deploy.h"
#include "recipe/edit.h"
#include "recipe/gguf_edit.h"
#include "recipe/gguf_plan.h"
#include "recipe/tree.h"
#include "quant/ggml_quants.h"
#include "base/hmap.h"
#include "recipe/lint.h"
#include "model/match.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "io/report.h"
#include "eval/preview.h"
#include "sessions/session.h"

/* ---- recipes: resolve, edit, lint, deploy */


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
    const char *text = qt_dop_text(d, req, &own, err);
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
    l->n += qt_dop_itoa(l->b + l->n, v);
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
    /* a GGUF target (the recipe has a qtune_gguf section, gguf_edit.h):
     * schemes are ggml type names and bytes the GGUF tensors' (a stacked
     * expert tensor's bytes shared by its experts) */
    int gguf;
    struct qt_gguf_spec spec;
    struct qt_gguf_plan plan;
    int *gmap;                   /* (n_tensors) plan index of each tensor, -1 */
    int *ghits;                  /* (spec.n_over) quantizable tensors each tensor_types entry matches */
};
struct calfig {
    int job;                     /* the job whose figures these are, 0: none */
    cJSON *mods;                 /* array of module entries (report's calibration.modules) */
    struct qt_hmap by_module;    /* module name -> index in mods (keys point into mods) */
};
struct qt_dop_rescache {
    struct resolved e[RESCACHE_N];
    struct calfig fig;           /* tensor_calib's figures of one quantize job */
    uint64_t tick;
    struct qt_tree tree;         /* the edit op's nodes, built on first use */
    const struct qt_model *tree_m;   /* tree is of this model, NULL: not built */
};

static void resolved_clear(struct resolved *x) {
    if (x->gguf) {
        qt_gguf_plan_free(&x->plan);
        qt_gguf_spec_free(&x->spec);
    }
    free(x->gmap);
    free(x->ghits);
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
    if (d->rescache->fig.job) qt_hmap_free(&d->rescache->fig.by_module);
    cJSON_Delete(d->rescache->fig.mods);
    if (d->rescache->tree_m) qt_tree_free(&d->rescache->tree);
    free(d->rescache);
    d->rescache = NULL;
}

/* The GGUF side of x (its recipe has a qtune_gguf section): the plan the
 * GGUF writer would follow, as ggml type names and GGUF bytes per tensor. */
static int gguf_resolve(struct resolved *x, const struct qt_model *m, qt_err *err) {
    if (qt_gguf_spec_from_yaml(x->r->root, "recipe", &x->spec, err)) return QT_ERR;
    if (qt_gguf_plan_build(m, &x->spec, 0, &x->plan, err)) {
        qt_gguf_spec_free(&x->spec);
        return QT_ERR;
    }
    x->gguf = 1;
    x->gmap = qt_gguf_plan_map(&x->plan, m->n_tensors);
    x->ghits = calloc((size_t)x->spec.n_over + 1, sizeof *x->ghits);
    if (!x->gmap || !x->ghits) return qt_err_set(err, "resolve: out of memory");
    for (int i = 0; i < m->n_tensors; i++) {
        int k = x->gmap[i];
        const struct qt_gguf_out *o = k >= 0 ? &x->plan.t[k] : NULL;
        x->schemes[i] = o ? qt_ggml_type_name(o->type) : "F32";
        x->bytes[i] = o ? (double)qt_gguf_out_bytes(o) / (o->n_src > 0 ? o->n_src : 1) : 0;
        if (qt_preview_scheme_target(&m->tensors[i])) {
            x->params += qt_tensor_numel(&m->tensors[i]);
            x->total += (int64_t)x->bytes[i];
        }
    }
    for (int k = 0; k < x->spec.n_over; k++)
        for (int i = 0; i < m->n_tensors; i++) {
            int g = x->gmap[i];
            if (g >= 0 && x->plan.t[g].quantizable && qt_gguf_override_match(&x->spec.over[k], x->plan.t[g].name))
                x->ghits[k]++;
        }
    return QT_OK;
}

/* Pattern index (resolve's "pattern") of tensor i under a GGUF target: the
 * tensor_types entry that chose its type, then output_tensor_type and
 * token_embedding_type; -1 when the file type's rules did. */
static int gguf_pattern_index(const struct resolved *rv, int i) {
    int k = rv->gmap[i];
    if (k < 0) return -1;
    int rule = rv->plan.t[k].rule, n = rv->spec.n_over;
    if (rule >= 0) return rule;
    if (rule == QT_GGUF_RULE_OUTPUT) return n;
    if (rule == QT_GGUF_RULE_EMBD) return n + (rv->spec.output_type >= 0);
    return -1;
}

/* 1 when tensor i is written in a quantized ggml type. */
static int gguf_quantized(const struct resolved *rv, int i) {
    int k = rv->gmap[i];
    return k >= 0 && qt_gguf_type_quantized(rv->plan.t[k].type);
}

/* The patterns of a GGUF target: its tensor_types entries, then
 * output_tensor_type / token_embedding_type when given. */
static cJSON *gguf_patterns_json(const struct resolved *rv) {
    cJSON *arr = cJSON_CreateArray();
    const struct qt_gguf_spec *s = &rv->spec;
    for (int k = 0; k < s->n_over; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pattern", s->over[k].pattern);
        cJSON_AddStringToObject(o, "kind", "target");
        cJSON_AddStringToObject(o, "modifier", "qtune_gguf");
        cJSON_AddStringToObject(o, "group", "qtune_gguf");
        cJSON_AddStringToObject(o, "scheme", qt_ggml_type_name(s->over[k].type));
        cJSON_AddNumberToObject(o, "matches", rv->ghits[k]);
        cJSON_AddItemToArray(arr, o);
    }
    const char *keys[2] = {"output_tensor_type", "token_embedding_type"};
    const int types[2] = {s->output_type, s->embd_type};
    for (int k = 0; k < 2; k++) {
        if (types[k] < 0) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pattern", keys[k]);
        cJSON_AddStringToObject(o, "kind", "target");
        cJSON_AddStringToObject(o, "modifier", "qtune_gguf");
        cJSON_AddStringToObject(o, "group", "qtune_gguf");
        cJSON_AddStringToObject(o, "scheme", qt_ggml_type_name(types[k]));
        cJSON_AddNumberToObject(o, "matches", 1);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* The resolution of text on m, from the cache or made and cached: the one
 * resolution of a text that resolve, lint, deploy and edit share.  Owned by
 * the cache: valid until the second next call (a call takes the least
 * recently used slot, never the one the call before returned). */
static const struct resolved *resolved_text(struct qt_daemon *d, const struct qt_model *m, const char *text,
                                            qt_err *err) {
    if (!d->rescache && !(d->rescache = calloc(1, sizeof *d->rescache)))
        return qt_err_set(err, "resolve: out of memory"), NULL;
    struct qt_dop_rescache *c = d->rescache;
    struct resolved *x = NULL;
    for (int i = 0; i < RESCACHE_N && !x; i++)
        if (c->e[i].text && c->e[i].m == m && !strcmp(c->e[i].text, text)) x = &c->e[i];
    if (x) {
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
    if (!x->schemes || !x->bytes || !x->text) {
        resolved_clear(x);
        return qt_err_set(err, "resolve: out of memory"), NULL;
    }
    if (!empty && (qt_recipe_parse(x->text, strlen(x->text), "recipe", &x->r, err) ||
               qt_recipe_resolve(x->r, m, &x->rs, err))) {
        resolved_clear(x);
        return NULL;
    }
    if (qt_gguf_recipe_on(x->r)) {
        if (gguf_resolve(x, m, err)) {
            resolved_clear(x);
            return NULL;
        }
        x->m = m;
        x->used = ++c->tick;
        return x;
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

/* The resolution of the request's "text", else of the current recipe. */
static const struct resolved *resolved_of(struct qt_daemon *d, const struct qt_model *m, const cJSON *req,
                                          qt_err *err) {
    char *own;
    const char *text = qt_dop_text(d, req, &own, err);
    if (!text) return NULL;
    const struct resolved *x = resolved_text(d, m, text, err);
    free(own);
    return x;
}

/* Adds the compact form of tensors idx (n of them, model indices in model
 * order) of rv to res: "schemes", "s", "p", "b", "q", and "i" when with_i. */
static int compact_put(cJSON *res, const struct resolved *rv, const int *idx, int n, int with_i, qt_err *err) {
    const char **names = calloc((size_t)n + 1, sizeof *names);   /* (n_names) distinct schemes */
    int n_names = 0;
    struct numlist li = {0}, ls = {0}, lp = {0}, lb = {0}, lq = {0};
    if (!names) return qt_err_set(err, "resolve: out of memory");
    for (int k = 0; k < n; k++) {
        int i = idx[k];
        const struct qt_resolved *x = rv->r && !rv->gguf ? &rv->rs.t[i] : NULL;
        const char *scheme = rv->schemes[i];
        int si = 0;
        while (si < n_names && strcmp(names[si], scheme)) si++;
        if (si == n_names) names[n_names++] = scheme;
        if (with_i) numlist_add(&li, i);
        numlist_add(&ls, si);
        numlist_add(&lp, rv->gguf ? gguf_pattern_index(rv, i) : x ? pattern_index(rv->r, x) : -1);
        numlist_add(&lb, (long long)rv->bytes[i]);
        numlist_add(&lq, rv->gguf ? gguf_quantized(rv, i) : x && x->quantized);
    }
    cJSON *sa = cJSON_AddArrayToObject(res, "schemes");
    for (int k = 0; k < n_names; k++) cJSON_AddItemToArray(sa, cJSON_CreateString(names[k]));
    int rc = QT_OK;
    if ((with_i && numlist_put(res, "i", &li)) || numlist_put(res, "s", &ls) || numlist_put(res, "p", &lp) ||
        numlist_put(res, "b", &lb) || numlist_put(res, "q", &lq))
        rc = qt_err_set(err, "resolve: out of memory");
    free(li.b), free(ls.b), free(lp.b), free(lb.b), free(lq.b);
    free(names);
    return rc;
}

/* What every page of a resolution carries: patterns, n_quantized, total. */
static void resolve_totals(cJSON *res, const struct resolved *rv, const struct qt_model *m) {
    if (rv->gguf) {
        int nq = 0;
        for (int i = 0; i < m->n_tensors; i++) nq += gguf_quantized(rv, i);
        cJSON_AddItemToObject(res, "patterns", gguf_patterns_json(rv));
        cJSON_AddNumberToObject(res, "n_quantized", nq);
        /* the target and the file type: the client shows GGUF mode */
        cJSON_AddStringToObject(res, "target", "gguf");
        if (rv->spec.ftype) cJSON_AddStringToObject(res, "ftype", rv->spec.ftype->name);
        else cJSON_AddNullToObject(res, "ftype");
        cJSON_AddNumberToObject(res, "gguf_bytes", (double)rv->plan.bytes);
        cJSON_AddNumberToObject(res, "gguf_fallback", rv->plan.n_fallback);
    } else {
        cJSON_AddItemToObject(res, "patterns", qt_patterns_json(rv->r, 1));
        cJSON_AddNumberToObject(res, "n_quantized", rv->r ? rv->rs.n_quantized : 0);
        cJSON_AddStringToObject(res, "target", "compressed-tensors");
    }
    cJSON *tot = cJSON_AddObjectToObject(res, "total");
    cJSON_AddNumberToObject(tot, "params", (double)rv->params);
    cJSON_AddNumberToObject(tot, "bytes", (double)rv->total);
    cJSON_AddNumberToObject(tot, "bpw", rv->params ? 8.0 * (double)rv->total / (double)rv->params : 0);
}

/* resolve {text?, filter?, offset?, limit?, compact?}
 *   -> {count, offset, tensors[{index, name, scheme, algo, preview_algo,
 *       group, ignored_by, pattern, bytes}] | compact lists, patterns,
 *       n_quantized, total{params, bytes, bpw}}
 * What a text (default: the current recipe) does to every tensor, paged. */
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
    int *idx = malloc(sizeof(int) * (size_t)(m->n_tensors + 1));   /* (n_idx) the page's tensors */
    int n_idx = 0;
    if (!idx) { qt_name_filter_free(f); return qt_err_set(err, "resolve: out of memory"); }
    for (int i = 0; i < m->n_tensors; i++)
        if (qt_name_filter_match(f, m->tensors[i].name) && qt_dop_page_take(&pg)) idx[n_idx++] = i;
    qt_dop_page_put(&pg, res);
    int rc = QT_OK;
    if (compact) {
        rc = compact_put(res, rv, idx, n_idx, f != NULL, err);
    } else {
        cJSON *arr = cJSON_AddArrayToObject(res, "tensors");
        for (int k = 0; k < n_idx; k++) {
            int i = idx[k];
            const struct qt_resolved *x = r && !rv->gguf ? &rv->rs.t[i] : NULL;
            int q = rv->gguf ? gguf_quantized(rv, i) : x && x->quantized;
            int pi = rv->gguf ? gguf_pattern_index(rv, i) : x ? pattern_index(r, x) : -1;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            cJSON_AddStringToObject(o, "name", m->tensors[i].name);
            cJSON_AddStringToObject(o, "scheme", rv->schemes[i]);
            if (q && !x) {   /* a GGUF target: ggml's quantizer */
                cJSON_AddStringToObject(o, "algo", "ggml");
                cJSON_AddStringToObject(o, "preview_algo", "ggml");
            } else if (q) {
                cJSON_AddStringToObject(o, "algo", qt_algo_name(x->algo));
                cJSON_AddStringToObject(o, "preview_algo", qt_algo_name(x->preview_algo));
            } else {
                cJSON_AddNullToObject(o, "algo");
                cJSON_AddNullToObject(o, "preview_algo");
            }
            if (q && x && x->group >= 0) cJSON_AddStringToObject(o, "group", r->groups[x->group].name);
            else cJSON_AddNullToObject(o, "group");
            if (x && x->ignored_by_mod >= 0 && x->ignored_by >= 0)
                cJSON_AddStringToObject(o, "ignored_by", r->mods[x->ignored_by_mod].ignore[x->ignored_by].text);
            else cJSON_AddNullToObject(o, "ignored_by");
            if (pi >= 0) cJSON_AddNumberToObject(o, "pattern", pi);
            else cJSON_AddNullToObject(o, "pattern");
            cJSON_AddNumberToObject(o, "bytes", rv->bytes[i]);
            cJSON_AddItemToArray(arr, o);
        }
    }
    free(idx);
    qt_name_filter_free(f);
    resolve_totals(res, rv, m);
    return rc;
}

/* match {pattern, limit?} -> {modules, names[]}
 * What one target or ignore pattern matches (the TUI's pattern prompt). */
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
        if (!qt_model_quantizable(m, t)) continue;
        qt_match_module(t, mod, sizeof mod);
        struct qt_mclass cls;
        qt_model_classes(m, t->role, &cls);
        if (qt_pattern_match(&p, mod, &cls, NULL) == QT_MATCH_NONE) continue;
        if (n++ < limit) cJSON_AddItemToArray(names, cJSON_CreateString(mod));
    }
    qt_pattern_free(&p);
    cJSON_AddNumberToObject(res, "modules", n);
    cJSON_AddItemToObject(res, "names", names);
    return QT_OK;
}

/* recipe_edit {action: set_scheme|add_ignore|remove_ignore, target?,
 *              scheme?, pattern?} -> recipe_get's fields
 * One entry-level change of the current recipe (scripts; the TUI sends
 * `edit` intents). */
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

/* Lint findings of rv (none for the empty recipe: L zeroed). */
static int lint_of(const struct qt_model *m, const struct resolved *rv, int tp, struct qt_lint *L, qt_err *err) {
    memset(L, 0, sizeof *L);
    if (!rv->r) return QT_OK;
    /* a GGUF target: llama.cpp's rules (gguf_plan.h), not vLLM's */
    if (rv->gguf) return qt_gguf_lint(m, &rv->spec, &rv->plan, L, err);
    struct qt_lint_opts o = {.tp = tp < 1 ? 1 : tp};
    return qt_lint_run(rv->r, m, &rv->rs, &o, L, err);
}

/* lint {text?, tp?} -> {findings[{code, severity, message, tensors[]}], errors, warnings} */
int qt_dop_lint(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const struct resolved *rv = resolved_of(d, m, req, err);
    if (!rv) return QT_ERR;
    struct qt_lint L;
    if (lint_of(m, rv, qt_dop_int(req, "tp", 1), &L, err)) return QT_ERR;
    qt_lint_json(res, m, rv->r ? &L : NULL);
    qt_lint_free(&L);
    return QT_OK;
}

/* The deployment estimate of rv with req's options (gpu, tp, ctx, batch,
 * util, kv_dtype) into res (qt_deploy_json's fields). */
static int deploy_put(const struct qt_model *m, const struct resolved *rv, const cJSON *req, cJSON *res,
                      qt_err *err) {
    if (rv->gguf)
        return qt_err_set(err, "deploy: a GGUF target runs in llama.cpp; the estimate is vLLM's (G: back to compressed-tensors)");
    const char *gname = qt_dop_str(req, "gpu") ? qt_dop_str(req, "gpu") : "H100-80G";
    int tp = qt_dop_int(req, "tp", 0), batch = qt_dop_int(req, "batch", 1);
    /* no ctx: the engine's default (8192, or the model's limit when smaller) */
    double ctx = cJSON_IsNumber(cJSON_GetObjectItem(req, "ctx")) ? cJSON_GetObjectItem(req, "ctx")->valuedouble : 0;
    const cJSON *u = cJSON_GetObjectItem(req, "util");
    double util = cJSON_IsNumber(u) ? u->valuedouble : 0.9;
    if (tp != 0 && qt_deploy_tp_index(tp) < 0) return qt_err_set(err, "deploy: tp must be " QT_DEPLOY_TPS_TEXT);
    /* ctx is cast to int64 below: refuse what does not fit (1e300) first;
     * absent (0) means the engine's default */
    if (batch < 1 || (cJSON_GetObjectItem(req, "ctx") && !(ctx >= 1 && ctx <= 1e12)) || !(util > 0 && util <= 1))
        return qt_err_set(err, "deploy: bad ctx, batch or util");
    const char *kv = qt_dop_str(req, "kv_dtype");
    int kvb = kv ? qt_deploy_kv_dtype_bytes(kv) : 0;
    if (kvb < 0) return qt_err_set(err, "deploy: kv_dtype %.40s: unknown (" QT_DEPLOY_KV_DTYPES ")", kv);
    struct qt_gpu_catalog cat;
    if (qt_gpu_catalog_load_default(NULL, &cat, err)) return QT_ERR;
    const struct qt_gpu *g = qt_gpu_find(&cat, gname);
    if (!g) { qt_gpu_catalog_free(&cat); return qt_err_set(err, "deploy: gpu %s: not in the catalog", gname); }
    struct qt_deploy dp;
    struct qt_deploy_opts o = {.gpu = g, .tp = tp, .ctx = (int64_t)ctx, .batch = batch, .util = util, .kv_bytes = kvb};
    int rc = qt_deploy_estimate(m, rv->r, rv->r ? &rv->rs : NULL, &o, &dp, err);
    if (rc == QT_OK) qt_deploy_json(res, &dp, g);
    qt_gpu_catalog_free(&cat);
    return rc;
}

/* The deploy options of req, each absent one from the session's settings
 * (the deploy panel's choices: gpu, deploy_tp, deploy_ctx, deploy_batch,
 * deploy_util, deploy_kv_dtype), the caller's to free. */
static cJSON *deploy_req(struct qt_daemon *d, const cJSON *req) {
    static const char *const keys[][2] = {{"gpu", "gpu"},          {"tp", "deploy_tp"},
                                          {"ctx", "deploy_ctx"},   {"batch", "deploy_batch"},
                                          {"util", "deploy_util"}, {"kv_dtype", "deploy_kv_dtype"}};
    cJSON *st = qt_dop_settings(d), *q = cJSON_CreateObject();
    for (size_t i = 0; q && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(req, keys[i][0]);
        if (!v) v = cJSON_GetObjectItem(st, keys[i][1]);
        if (v) cJSON_AddItemToObject(q, keys[i][0], cJSON_Duplicate(v, 1));
    }
    cJSON_Delete(st);
    return q;
}

/* deploy {text?, gpu?, tp?, ctx?, batch?, util?, kv_dtype?} -> qt_deploy_json's fields
 * (an option not given: the session's setting, else the engine's default) */
int qt_dop_deploy(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const struct resolved *rv = resolved_of(d, m, req, err);
    if (!rv) return QT_ERR;
    cJSON *q = deploy_req(d, req);
    if (!q) return qt_err_set(err, "deploy: out of memory");
    int rc = deploy_put(m, rv, q, res, err);
    cJSON_Delete(q);
    return rc;
}

/* gpus {} -> {gpus[NAME...], default}
 * The GPU catalog as deploy reads it (the deploy panel steps through it). */
int qt_dop_gpus(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)d; (void)c; (void)req;
    struct qt_gpu_catalog cat;
    if (qt_gpu_catalog_load_default(NULL, &cat, err)) return QT_ERR;
    cJSON *a = cJSON_AddArrayToObject(res, "gpus");
    for (int i = 0; i < cat.n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(cat.g[i].name));
    const struct qt_gpu *h = qt_gpu_find(&cat, "H100-80G");
    cJSON_AddStringToObject(res, "default", h ? h->name : cat.n ? cat.g[0].name : "");
    qt_gpu_catalog_free(&cat);
    return QT_OK;
}

int qt_dop_recipe_check(const char *text, const char *name, qt_err *err) {
    if (blank(text)) return QT_OK;
    struct qt_recipe *r;
    if (qt_recipe_parse(text, strlen(text), name, &r, err)) return QT_ERR;
    qt_recipe_free(r);
    return QT_OK;
}

/* recipe_write {path} -> {path, bytes, version}
 * Writes the current recipe to path (absolute; atomically, through a
 * temporary name).  Nothing edited yet: the empty recipe as it is saved. */
int qt_dop_recipe_write(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const char *path = qt_dop_str(req, "path");
    if (!path || !*path) return qt_err_set(err, "recipe_write: no \"path\"");
    char *text = qt_session_recipe(d->s, err);
    if (!text) return QT_ERR;
    if (blank(text)) {
        struct qt_recipe *r;
        size_t len;
        free(text);
        if (qt_recipe_new(&r, err)) return QT_ERR;
        text = qt_recipe_dump(r, &len, err);
        qt_recipe_free(r);
        if (!text) return QT_ERR;
    }
    int rc = qt_write_file_atomic(path, text, strlen(text), err);
    if (rc == QT_OK) {
        cJSON_AddStringToObject(res, "path", path);
        cJSON_AddNumberToObject(res, "bytes", (double)strlen(text));
        cJSON_AddNumberToObject(res, "version", d->s->hist_cur);
    }
    free(text);
    return rc;
}

/* ---- edit intents */

/* The tree of m the edit op's nodes name, built once per model. */
static const struct qt_tree *tree_of(struct qt_daemon *d, const struct qt_model *m, qt_err *err) {
    if (!d->rescache && !(d->rescache = calloc(1, sizeof *d->rescache)))
        return qt_err_set(err, "edit: out of memory"), NULL;
    struct qt_dop_rescache *c = d->rescache;
    if (c->tree_m == m) return &c->tree;
    if (c->tree_m) qt_tree_free(&c->tree);
    c->tree_m = NULL;
    if (qt_tree_build(&c->tree, m, err)) return NULL;
    c->tree_m = m;
    return &c->tree;
}

/* One pattern of a recipe as the client knows it: kind, text and group.
 * Fills keys in qt_patterns_json's order; returns their number. */
struct patkey {
    int ignore;
    const char *text, *group;
};
static int pattern_keys(const struct resolved *rv, struct patkey **out) {
    const struct qt_recipe *r = rv->r;
    if (rv->gguf) {   /* tensor_types entries, output_tensor_type, token_embedding_type */
        const struct qt_gguf_spec *s = &rv->spec;
        struct patkey *k = *out = calloc((size_t)s->n_over + 3, sizeof *k);
        if (!k) return -1;
        int n = 0;
        for (int i = 0; i < s->n_over; i++) k[n++] = (struct patkey){0, s->over[i].pattern, NULL};
        if (s->output_type >= 0) k[n++] = (struct patkey){0, "output_tensor_type", NULL};
        if (s->embd_type >= 0) k[n++] = (struct patkey){0, "token_embedding_type", NULL};
        return n;
    }
    int n = 0;
    for (int i = 0; r && i < r->n_mods; i++) {
        for (int g = r->mods[i].first_group; g < r->mods[i].first_group + r->mods[i].n_groups; g++)
            n += r->groups[g].n_targets;
        n += r->mods[i].n_ignore;
    }
    struct patkey *k = *out = calloc((size_t)n + 1, sizeof *k);
    if (!k) return -1;
    n = 0;
    for (int i = 0; r && i < r->n_mods; i++) {
        const struct qt_modifier *md = &r->mods[i];
        for (int g = md->first_group; g < md->first_group + md->n_groups; g++)
            for (int t = 0; t < r->groups[g].n_targets; t++)
                k[n++] = (struct patkey){0, r->groups[g].targets[t].text, r->groups[g].name};
        for (int t = 0; t < md->n_ignore; t++) k[n++] = (struct patkey){1, md->ignore[t].text, NULL};
    }
    return n;
}

/* Most tensors an edit reply lists as changed; beyond, the client pages
 * `resolve` (a line stays well under 1 MiB at ~45 bytes a tensor). */
#define EDIT_DELTA_MAX 16384

/* The resolution nv as a change of ov (the text before the edit), into res:
 * {base, remap, count, compact lists of the changed tensors with "i",
 * patterns, n_quantized, total}.  A tensor not listed keeps its scheme,
 * bytes and quantized flag, and its pattern index k becomes remap[k] (-1
 * stays -1).  Returns 0 when too many changed (res untouched), 1 when put,
 * QT_ERR when out of memory. */
static int delta_put(cJSON *res, const struct qt_model *m, const struct resolved *ov, const struct resolved *nv,
                     qt_err *err) {
    struct patkey *ok = NULL, *nk = NULL;
    int no = pattern_keys(ov, &ok), nn = pattern_keys(nv, &nk);
    int *remap = calloc((size_t)(no > 0 ? no : 0) + 1, sizeof *remap);   /* (no) old pattern -> new, -1 */
    int *idx = malloc(sizeof(int) * (size_t)(m->n_tensors + 1));        /* (n_idx) changed tensors */
    int n_idx = 0, rc = 1;
    if (no < 0 || nn < 0 || !remap || !idx) { rc = qt_err_set(err, "edit: out of memory"); goto out; }
    for (int k = 0; k < no; k++) {
        remap[k] = -1;
        for (int j = 0; j < nn && remap[k] < 0; j++)
            if (ok[k].ignore == nk[j].ignore && !strcmp(ok[k].text, nk[j].text) &&
                (!ok[k].group || (nk[j].group && !strcmp(ok[k].group, nk[j].group))))
                remap[k] = j;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_resolved *a = ov->r && !ov->gguf ? &ov->rs.t[i] : NULL;
        const struct qt_resolved *b = nv->r && !nv->gguf ? &nv->rs.t[i] : NULL;
        int pa = ov->gguf ? gguf_pattern_index(ov, i) : a ? pattern_index(ov->r, a) : -1;
        int pb = nv->gguf ? gguf_pattern_index(nv, i) : b ? pattern_index(nv->r, b) : -1;
        int qa = ov->gguf ? gguf_quantized(ov, i) : a && a->quantized;
        int qb = nv->gguf ? gguf_quantized(nv, i) : b && b->quantized;
        if (strcmp(ov->schemes[i], nv->schemes[i]) || ov->bytes[i] != nv->bytes[i] || qa != qb ||
            (pa >= 0 ? remap[pa] : -1) != pb) {
            if (n_idx == EDIT_DELTA_MAX) { rc = 0; goto out; }
            idx[n_idx++] = i;
        }
    }
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)qt_hash_bytes(ov->text, strlen(ov->text)));
    cJSON_AddStringToObject(res, "base", hex);
    cJSON_AddItemToObject(res, "remap", cJSON_CreateIntArray(remap, no));
    cJSON_AddNumberToObject(res, "count", n_idx);
    if (compact_put(res, nv, idx, n_idx, 1, err)) rc = QT_ERR;
    else resolve_totals(res, nv, m);
out:
    free(ok);
    free(nk);
    free(remap);
    free(idx);
    return rc;
}

/* edit {nodes:[TARGET...], action, scheme?, pattern?, gpu?, tp?}
 *   -> {text, version, can_undo, can_redo, changed, scheme, all_kept,
 *       why?, now, lint{findings[{code, severity, message, tensors: N,
 *       first: INDEX|-1}], errors, warnings}, deploy{...}|null, deploy_error?,
 *       resolve{base, remap, count, schemes, i, s, p, b, q, patterns,
 *       n_quantized, total}|null}
 * An edit intent (recipe/edit.h) applied to the current recipe as one
 * history step; nodes are named by their tree target.  The reply carries
 * what the client shows after a key press, so that one key is one request:
 * the new recipe, the lint counts, the deployment estimate for gpu, and the
 * resolution as a change of the one before the edit (null when more than
 * EDIT_DELTA_MAX tensors changed: page `resolve`). */
int qt_dop_edit(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const char *aname = qt_dop_str(req, "action");
    int act = qt_edit_action_parse(aname);
    if (act < 0) return qt_err_set(err, "edit: action %s: unknown (%s)", aname ? aname : "missing", qt_edit_action_list());
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const struct qt_tree *t = tree_of(d, m, err);
    if (!t) return QT_ERR;
    const cJSON *nl = cJSON_GetObjectItem(req, "nodes"), *v;
    if (nl && !cJSON_IsArray(nl)) return qt_err_set(err, "edit: \"nodes\" must be a list of node targets");
    int n = cJSON_GetArraySize(nl), k = 0;
    if (n > t->n) return qt_err_set(err, "edit: %d nodes: the tree has %d", n, t->n);
    int *nodes = malloc(sizeof(int) * (size_t)(n + 1));   /* (n) tree nodes */
    if (!nodes) return qt_err_set(err, "edit: out of memory");
    cJSON_ArrayForEach(v, nl) {
        int i = cJSON_IsString(v) ? qt_tree_find(t, v->valuestring) : -1;
        if (i < 0) {
            free(nodes);
            return qt_err_set(err, "edit: node %.200s: not a node of this model's tree",
                              cJSON_IsString(v) ? v->valuestring : "(not a string)");
        }
        nodes[k++] = i;
    }
    struct qt_edit e = {.action = act, .n_nodes = n, .nodes = nodes, .scheme = qt_dop_str(req, "scheme"),
                        .pattern = qt_dop_str(req, "pattern")};
    char *base_text = qt_session_recipe(d->s, err), *text = NULL;
    const struct resolved *ov = base_text ? resolved_text(d, m, base_text, err) : NULL;
    struct qt_recipe *r = NULL;
    struct qt_edit_outcome o;
    int rc = ov ? QT_OK : QT_ERR;
    if (rc == QT_OK)
        rc = blank(base_text) ? qt_recipe_new(&r, err) : qt_recipe_parse(base_text, strlen(base_text), "recipe", &r, err);
    /* a GGUF target's edits are entries of its qtune_gguf section */
    int gg = act == QT_EDIT_GGUF || act == QT_EDIT_FTYPE || (ov && ov->gguf);
    if (rc == QT_OK) rc = gg ? qt_gguf_edit_apply(t, r, m, &e, &o, err) : qt_edit_apply(t, r, ov->schemes, &e, &o, err);
    size_t len;
    if (rc == QT_OK && o.changed && !(text = qt_recipe_dump(r, &len, err))) rc = QT_ERR;
    qt_recipe_free(r);
    int stored = rc == QT_OK && text && strcmp(text, base_text);
    if (stored && qt_session_recipe_set(d->s, text, err)) rc = QT_ERR;
    if (rc != QT_OK) {
        free(nodes);
        free(base_text);
        free(text);
        return QT_ERR;
    }
    if (stored) qt_dop_recipe_event(d);
    qt_dop_recipe_state(d, res, 1, err);
    cJSON_AddBoolToObject(res, "changed", stored);
    cJSON_AddStringToObject(res, "scheme", o.scheme);
    cJSON_AddBoolToObject(res, "all_kept", o.all_kept);
    if (!o.changed) cJSON_AddStringToObject(res, "why", o.why);
    /* the new text's resolution: the one lint, deploy and later pages share */
    const struct resolved *nv = stored ? resolved_text(d, m, text, err) : ov;
    if (!nv) rc = QT_ERR;
    if (rc == QT_OK) {
        if (n) cJSON_AddStringToObject(res, "now", qt_tree_node_scheme(t, nv->schemes, nodes[0]));
        else cJSON_AddNullToObject(res, "now");
        struct qt_lint L;
        if (lint_of(m, nv, qt_dop_int(req, "tp", 1), &L, err) == QT_OK) {
            /* findings with their tensor count and first index, not every
             * name (a finding may name thousands of tensors) */
            cJSON *lo = cJSON_AddObjectToObject(res, "lint"), *fa = cJSON_AddArrayToObject(lo, "findings");
            for (int f = 0; nv->r && f < L.n; f++) {
                const struct qt_finding *F = &L.f[f];
                cJSON *fo = cJSON_CreateObject();
                cJSON_AddStringToObject(fo, "code", F->code);
                cJSON_AddStringToObject(fo, "severity", qt_severity_name(F->severity));
                cJSON_AddStringToObject(fo, "message", F->message);
                cJSON_AddNumberToObject(fo, "tensors", F->n_tensors);
                cJSON_AddNumberToObject(fo, "first", F->n_tensors ? F->tensors[0] : -1);
                cJSON_AddItemToArray(fa, fo);
            }
            cJSON_AddNumberToObject(lo, "errors", nv->r ? L.n_errors : 0);
            cJSON_AddNumberToObject(lo, "warnings", nv->r ? L.n_warnings : 0);
            qt_lint_free(&L);
        } else {
            cJSON_AddNullToObject(res, "lint");
        }
        cJSON *dp = cJSON_CreateObject();
        qt_err de = {{0}};
        cJSON *dq = deploy_req(d, req);
        int drc = dq ? deploy_put(m, nv, dq, dp, &de) : qt_err_set(&de, "deploy: out of memory");
        cJSON_Delete(dq);
        if (drc == QT_OK) {
            cJSON_AddItemToObject(res, "deploy", dp);
        } else {
            cJSON_Delete(dp);
            cJSON_AddNullToObject(res, "deploy");
            cJSON_AddStringToObject(res, "deploy_error", de.msg);
        }
        cJSON *rd = cJSON_CreateObject();
        int put = delta_put(rd, m, ov, nv, err);
        if (put == 1) cJSON_AddItemToObject(res, "resolve", rd);
        else cJSON_Delete(rd), cJSON_AddNullToObject(res, "resolve");
        if (put == QT_ERR) rc = QT_ERR;
    }
    free(nodes);
    free(base_text);
    free(text);
    return rc;
}

/* ---- tensor_calib: what the calibrated algorithms did to one tensor */

/* The per-module figures of quantize job j (its report's calibration
 * modules) into f; QT_OK with f->mods NULL when the job has none. */
static int calfig_load(const struct qt_job *j, struct calfig *f, qt_err *err) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.json", j->dir);
    char *txt = qt_read_file(path, NULL, NULL);
    cJSON *rep = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    cJSON *cal = cJSON_GetObjectItem(rep, "calibration");
    cJSON *mods = cJSON_IsObject(cal) ? cJSON_DetachItemFromObjectCaseSensitive(cal, "modules") : NULL;
    cJSON_Delete(rep);
    if (!cJSON_IsArray(mods)) { cJSON_Delete(mods); return QT_OK; }
    int n = cJSON_GetArraySize(mods), k = 0;
    if (qt_hmap_init(&f->by_module, (size_t)n + 1)) { cJSON_Delete(mods); return qt_err_set(err, "tensor_calib: out of memory"); }
    const cJSON *e;
    cJSON_ArrayForEach(e, mods) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "module"));
        if (name && qt_hmap_put(&f->by_module, name, k)) {
            qt_hmap_free(&f->by_module);
            cJSON_Delete(mods);
            return qt_err_set(err, "tensor_calib: out of memory");
        }
        k++;
    }
    f->mods = mods;
    f->job = j->id;
    return QT_OK;
}

/* tensor_calib {tensor} -> {tensor, algo|null, modifiers[], job|null, job_state|null, figures|null}
 * What the recipe's calibrated algorithms do to one tensor: the algorithm
 * the current recipe runs for it, and the figures the newest quantize job
 * with calibration figures measured for its module (none when that job did
 * not calibrate it) (the report's
 * calibration.modules entry: algorithm, scheme, tokens, out_err,
 * rtn_out_err, low_token_fallback ...).  Reads files only: never computes. */
int qt_dop_tensor_calib(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    const char *name = qt_dop_str(req, "tensor");
    if (!name) return qt_err_set(err, "tensor_calib: no \"tensor\"");
    int ti = qt_model_find_index(m, name);
    if (ti < 0) return qt_err_set(err, "tensor_calib: %s: no such tensor", name);
    const struct resolved *rv = resolved_of(d, m, req, err);
    if (!rv) return QT_ERR;
    cJSON_AddStringToObject(res, "tensor", m->tensors[ti].name);
    const struct qt_resolved *x = rv->r ? &rv->rs.t[ti] : NULL;
    if (x && x->quantized) cJSON_AddStringToObject(res, "algo", qt_algo_name(x->algo));
    else cJSON_AddNullToObject(res, "algo");
    /* the recipe's calibrated modifiers in order (the pipeline's stages) */
    cJSON *mods = cJSON_AddArrayToObject(res, "modifiers");
    for (int i = 0; rv->r && i < rv->r->n_mods; i++)
        if (rv->r->mods[i].algo != QT_ALGO_RTN && rv->r->mods[i].algo != QT_ALGO_NONE)
            cJSON_AddItemToArray(mods, cJSON_CreateString(qt_algo_name(rv->r->mods[i].algo)));
    struct calfig *f = &d->rescache->fig;   /* resolved_of made the cache */
    char mod[512];
    qt_tensor_module(&m->tensors[ti], mod, sizeof mod);
    const cJSON *fig = NULL;
    const struct qt_job *fj = NULL;
    for (int k = d->n_jobs - 1; k >= 0 && !fig; k--) {
        const struct qt_job *j = d->jobs[k];
        if (strcmp(j->kind, "quantize") || j->state != JOB_DONE) continue;
        if (f->job != j->id) {
            if (f->job) qt_hmap_free(&f->by_module);
            cJSON_Delete(f->mods);
            memset(f, 0, sizeof *f);
            if (calfig_load(j, f, err)) return QT_ERR;
            if (!f->mods) continue;
        }
        /* the newest job with figures decides (an older job's figures
         * would be of another recipe); a module it did not calibrate has none */
        int at = qt_hmap_get(&f->by_module, mod);
        if (at >= 0) { fig = cJSON_GetArrayItem(f->mods, at); fj = j; }
        break;
    }
    if (fj) {
        cJSON_AddNumberToObject(res, "job", fj->id);
        cJSON_AddStringToObject(res, "job_state", qt_daemon_job_state_name(fj->state));
        cJSON_AddItemToObject(res, "figures", cJSON_Duplicate(fig, 1));
    } else {
        cJSON_AddNullToObject(res, "job");
        cJSON_AddNullToObject(res, "job_state");
        cJSON_AddNullToObject(res, "figures");
    }
    return QT_OK;
}
