/* report_doc.c — `qtune report`'s document: built from a model and a
 * recipe into cJSON (qt_rdoc_build), rendered as HTML or GitHub Markdown
 * with SVG plots (qt_rdoc_render, qt_rdoc_svg), written atomically
 * (qt_rdoc_write).  See report_doc.h. */
#include "io/report_doc.h"
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/format.h"
#include "base/hmap.h"
#include "eval/preview.h"
#include "io/report.h"
#include "model/model.h"
#include "quant/scheme.h"
#include "recipe/lint.h"
#include "recipe/recipe.h"

/* ---- a growing string ---- */

struct sb {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(struct sb *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) { sb_add(b, tmp, (size_t)k); return; }
    char *big = malloc((size_t)k + 1);
    if (!big) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)k);
    free(big);
}

/* Text into HTML (element content and attribute values alike). */
static void sb_html(struct sb *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') sb_puts(b, "?");
            else sb_add(b, s, 1);
        }
    }
}

/* Text into a GitHub Markdown table cell or line: what would start
 * markup is escaped, a pipe never splits the cell, a newline becomes a
 * space (a cell is one line). */
static void sb_md(struct sb *b, const char *s) {
    for (; s && *s; s++) {
        if (strchr("\\`*_[]<>|#~", *s)) {
            char e[3] = {'\\', *s, 0};
            sb_puts(b, e);
        } else if (*s == '\n' || *s == '\r' || *s == '\t') sb_puts(b, " ");
        else if ((unsigned char)*s < 0x20) sb_puts(b, "?");
        else sb_add(b, s, 1);
    }
}

/* A name as inline code in a Markdown cell: a backtick cannot occur in it,
 * and a pipe is escaped as GitHub's table parser wants even inside code. */
static void sb_md_code(struct sb *b, const char *s) {
    sb_puts(b, "`");
    for (; s && *s; s++) {
        if (*s == '`') sb_puts(b, "'");
        else if (*s == '|') sb_puts(b, "\\|");
        else if ((unsigned char)*s < 0x20) sb_puts(b, " ");
        else sb_add(b, s, 1);
    }
    sb_puts(b, "`");
}

/* ---- cJSON access that tolerates absent fields ---- */

static const cJSON *jget(const cJSON *o, const char *k) { return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL; }
static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = jget(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
static int jhas(const cJSON *o, const char *k) { return cJSON_IsNumber(jget(o, k)); }
static const char *jstr(const cJSON *o, const char *k) {
    const char *s = cJSON_GetStringValue(jget(o, k));
    return s ? s : "";
}

/* ---- build ---- */

/* The parts a model's weights are shown in (the sizes table). */
enum part { P_EMBED, P_ATTN, P_ROUTER, P_SHARED, P_EXPERTS, P_MLP, P_HEAD, P_MTP, P_OTHER, P_COUNT };
static const char *const part_names[P_COUNT] = {"embeddings", "attention", "router", "shared expert",
                                                "routed experts", "dense MLP", "lm_head", "MTP layer",
                                                "norms and other"};

static enum part part_of(const struct qt_tensor *t) {
    if (t->mtp) return P_MTP;
    switch (t->role) {
    case QT_ROLE_EMBED: return P_EMBED;
    case QT_ROLE_ROUTER: case QT_ROLE_ROUTER_BIAS: return P_ROUTER;
    case QT_ROLE_EXPERT_GATE: case QT_ROLE_EXPERT_UP: case QT_ROLE_EXPERT_DOWN: return P_EXPERTS;
    case QT_ROLE_SHARED_GATE: case QT_ROLE_SHARED_UP: case QT_ROLE_SHARED_DOWN: return P_SHARED;
    case QT_ROLE_MLP_GATE: case QT_ROLE_MLP_UP: case QT_ROLE_MLP_DOWN: return P_MLP;
    case QT_ROLE_LM_HEAD: return P_HEAD;
    case QT_ROLE_NORM: case QT_ROLE_FINAL_NORM: case QT_ROLE_OTHER: case QT_ROLE_WEIGHT_SCALE: return P_OTHER;
    default: break;
    }
    const char *n = qt_role_name(t->role);
    if (!strncmp(n, "attn_", 5) || !strncmp(n, "indexer_", 8)) return P_ATTN;
    return P_OTHER;
}

/* One recipe resolved on the model (the current one or a variant). */
struct rview {
    struct qt_recipe *r;          /* NULL: the model as stored */
    struct qt_resolution res;
    struct qt_preview_row *rows;  /* (n_rows) */
    int n_rows;
    struct qt_preview_total tot;
    int previewed;
    struct qt_deploy dep;
};

static void rview_free(struct rview *v) {
    qt_resolution_free(&v->res);
    qt_recipe_free(v->r);
    free(v->rows);
    memset(v, 0, sizeof *v);
}

static const char *scheme_of(const struct rview *v, int i) {
    return v->r && v->res.t && v->res.t[i].quantized ? v->res.t[i].scheme : "bf16";
}

/* Parses and resolves text (NULL or "": none), previews unless no_error or
 * the model has no weights, and estimates serving on o. */
static int rview_open(struct rview *v, const struct qt_model *m, const char *text, const char *fname,
                      struct qt_preview_cache *cache, int no_error, const struct qt_deploy_opts *o, qt_err *err) {
    memset(v, 0, sizeof *v);
    if (text && *text) {
        if (qt_recipe_parse(text, strlen(text), fname, &v->r, err) != QT_OK) return QT_ERR;
        if (qt_recipe_resolve(v->r, m, &v->res, err) != QT_OK) return QT_ERR;
    }
    if (qt_deploy_estimate(m, v->r, v->r ? &v->res : NULL, o, &v->dep, err) != QT_OK) return QT_ERR;
    if (no_error && !m->metadata_only) {
        /* sizes and bpw without statistics, as the preview counts them */
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_tensor *t = &m->tensors[i];
            if (!qt_preview_counted(t, v->r && v->res.t[i].quantized)) continue;
            int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
            v->tot.params += rows * cols;
            v->tot.bytes += v->r && v->res.t[i].quantized ? qt_scheme_bytes(v->res.t[i].s, rows, cols, t->dtype)
                                                          : (int64_t)t->nbytes;
        }
        v->tot.bpw = v->tot.params ? 8.0 * (double)v->tot.bytes / (double)v->tot.params : 0;
        v->tot.no_weights = 1;
        return QT_OK;
    }
    struct qt_scheme kept;
    if (qt_scheme_parse("bf16", &kept, err) != QT_OK) return QT_ERR;
    struct qt_scheme *per = malloc(sizeof *per * (size_t)(m->n_tensors ? m->n_tensors : 1));
    if (!per) return qt_err_set(err, "report: out of memory");
    for (int i = 0; i < m->n_tensors; i++) per[i] = v->r && v->res.t[i].quantized ? *v->res.t[i].s : kept;
    int rc = qt_preview_run(m, per, NULL, NULL, cache, &v->rows, &v->n_rows, &v->tot, err);
    free(per);
    if (rc == QT_OK) v->previewed = 1;
    return rc;
}

static double tensor_after(const struct qt_model *m, const struct rview *v, int i) {
    const struct qt_tensor *t = &m->tensors[i];
    if (v->r && v->res.t[i].quantized) return qt_deploy_tensor_bytes(t, v->res.t[i].s, v->res.t[i].actorder);
    return (double)t->nbytes;
}

static cJSON *model_json(const struct qt_model *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", m->path ? m->path : "");
    cJSON_AddStringToObject(o, "arch", m->cfg.model_type);
    cJSON_AddStringToObject(o, "architecture", m->cfg.architecture);
    cJSON_AddNumberToObject(o, "layers", m->cfg.n_layers);
    cJSON_AddNumberToObject(o, "mtp_layers", m->cfg.n_mtp);
    cJSON_AddNumberToObject(o, "experts", m->cfg.n_experts);
    cJSON_AddNumberToObject(o, "top_k", m->cfg.top_k);
    cJSON_AddNumberToObject(o, "hidden", m->cfg.hidden);
    double params = 0, mtp = 0, bytes = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        double n = (double)qt_tensor_numel(&m->tensors[i]);
        params += n;
        if (m->tensors[i].mtp) mtp += n;
        bytes += (double)m->tensors[i].nbytes;
    }
    cJSON_AddNumberToObject(o, "params", params);
    cJSON_AddNumberToObject(o, "mtp_params", mtp);
    cJSON_AddNumberToObject(o, "bytes", bytes);
    cJSON_AddStringToObject(o, "dtype", qt_dtype_name(m->cfg.dtype));
    cJSON_AddBoolToObject(o, "metadata_only", m->metadata_only);
    return o;
}

/* The sizes table: per part params, bytes as stored and after, and the
 * part's scheme (one, "bf16" when none is quantized, else "mixed"). */
static cJSON *sizes_json(const struct qt_model *m, const struct rview *v) {
    double params[P_COUNT] = {0}, before[P_COUNT] = {0}, after[P_COUNT] = {0};
    const char *scheme[P_COUNT] = {0};
    int mixed[P_COUNT] = {0}, present[P_COUNT] = {0};
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        enum part p = part_of(t);
        present[p] = 1;
        params[p] += (double)qt_tensor_numel(t);
        before[p] += (double)t->nbytes;
        after[p] += tensor_after(m, v, i);
        if (!qt_model_quantizable(m, t) && !(v->r && v->res.t[i].quantized)) continue;
        const char *s = scheme_of(v, i);
        if (!scheme[p]) scheme[p] = s;
        else if (strcmp(scheme[p], s)) mixed[p] = 1;
    }
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "parts");
    double tb = 0, ta = 0;
    for (int p = 0; p < P_COUNT; p++) {
        if (!present[p]) continue;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "part", part_names[p]);
        cJSON_AddNumberToObject(r, "params", params[p]);
        cJSON_AddNumberToObject(r, "bytes_before", before[p]);
        cJSON_AddNumberToObject(r, "bytes_after", after[p]);
        cJSON_AddStringToObject(r, "scheme", mixed[p] ? "mixed" : scheme[p] ? scheme[p] : "as stored");
        cJSON_AddItemToArray(a, r);
        tb += before[p];
        ta += after[p];
    }
    cJSON_AddNumberToObject(o, "bytes_before", tb);
    cJSON_AddNumberToObject(o, "bytes_after", ta);
    cJSON_AddNumberToObject(o, "bpw", v->tot.bpw);
    cJSON_AddNumberToObject(o, "params_quantizable", (double)v->tot.params);
    cJSON_AddNumberToObject(o, "tensors_quantized", v->r ? v->res.n_quantized : 0);
    cJSON_AddNumberToObject(o, "tensors", m->n_tensors);
    return o;
}

/* Lint findings with at most a few tensor names each (a finding on 480
 * experts lists 480 names in --json; a page shows the count). */
static cJSON *lint_json(const struct qt_model *m, const struct rview *v, int tp, qt_err *err) {
    if (!v->r) return qt_lint_json(NULL, m, NULL);
    struct qt_lint L;
    struct qt_lint_opts lo = {.tp = tp > 0 ? tp : 1};
    if (qt_lint_run(v->r, m, &v->res, &lo, &L, err) != QT_OK) return NULL;
    cJSON *j = qt_lint_json(NULL, m, &L);
    qt_lint_free(&L);
    cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(j, "findings")) {
        cJSON *ts = cJSON_GetObjectItem(f, "tensors");
        int n = cJSON_GetArraySize(ts);
        cJSON_AddNumberToObject(f, "n_tensors", n);
        while (cJSON_GetArraySize(ts) > 5) cJSON_DeleteItemFromArray(ts, 5);
    }
    return j;
}

/* Per layer: params quantized, weight error (energy-weighted: the relative
 * RMS of the layer's quantized tensors taken together) and the ΔKL of the
 * sensitivity units of that layer, summed. */
static cJSON *layers_json(const struct qt_model *m, const struct rview *v, const cJSON *sens) {
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].layer + 1 > n) n = m->tensors[i].layer + 1;
    cJSON *a = cJSON_CreateArray();
    if (n == 0) return a;
    struct qt_qstats *st = calloc((size_t)n, sizeof *st);
    double *pq = calloc((size_t)n, sizeof *pq), *dkl = calloc((size_t)n, sizeof *dkl);
    int *mtp = calloc((size_t)n, sizeof *mtp), *has_dkl = calloc((size_t)n, sizeof *has_dkl);
    if (!st || !pq || !dkl || !mtp || !has_dkl) goto done;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].layer >= 0 && m->tensors[i].mtp) mtp[m->tensors[i].layer] = 1;
    for (int k = 0; k < v->n_rows; k++) {
        const struct qt_preview_row *r = &v->rows[k];
        int l = m->tensors[r->tensor].layer;
        if (l < 0 || qt_scheme_is_kept(&r->scheme) || r->failed) continue;
        pq[l] += (double)r->params;
        if (!r->no_weights) qt_qstats_add(&st[l], &r->st);
    }
    if (!v->n_rows && v->r)   /* no preview ran: the quantized params from the resolution */
        for (int i = 0; i < m->n_tensors; i++)
            if (m->tensors[i].layer >= 0 && v->res.t[i].quantized)
                pq[m->tensors[i].layer] += (double)qt_tensor_numel(&m->tensors[i]);
    const cJSON *u;
    cJSON_ArrayForEach(u, jget(sens, "units")) {
        int l = (int)jnum(u, "layer", -1);
        if (l < 0 || l >= n || !jhas(u, "dkl")) continue;
        dkl[l] += jnum(u, "dkl", 0);
        has_dkl[l] = 1;
    }
    for (int l = 0; l < n; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", l);
        cJSON_AddBoolToObject(o, "mtp", mtp[l]);
        cJSON_AddNumberToObject(o, "params_quantized", pq[l]);
        if (v->previewed && !v->tot.no_weights && st[l].w2 > 0)
            cJSON_AddNumberToObject(o, "rel_rmse", qt_qstats_rel_rmse(&st[l]));
        else cJSON_AddNullToObject(o, "rel_rmse");
        if (has_dkl[l]) cJSON_AddNumberToObject(o, "dkl", dkl[l]);
        else cJSON_AddNullToObject(o, "dkl");
        cJSON_AddItemToArray(a, o);
    }
done:
    free(st);
    free(pq);
    free(dkl);
    free(mtp);
    free(has_dkl);
    return a;
}

/* What one recipe (a row of the comparison) amounts to. */
static cJSON *summary_json(const char *name, const struct rview *v, const cJSON *eval) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "weights_bytes", v->dep.weights_bytes);
    cJSON_AddNumberToObject(o, "bpw", v->tot.bpw);
    cJSON_AddNumberToObject(o, "tensors_quantized", v->r ? v->res.n_quantized : 0);
    if (v->previewed && !v->tot.no_weights) cJSON_AddNumberToObject(o, "rel_rmse", qt_qstats_rel_rmse(&v->tot.st));
    else cJSON_AddNullToObject(o, "rel_rmse");
    cJSON_AddNumberToObject(o, "gpus_needed", v->dep.gpus_needed);
    cJSON_AddItemToObject(o, "eval", eval ? cJSON_Duplicate(eval, 1) : cJSON_CreateNull());
    return o;
}

/* Tensors whose scheme differs between the columns, experts folded: the
 * members of one layer's expert projection that agree are one row
 * ("model.layers.1.mlp.experts.*.gate_proj", count 14).  At most max_rows
 * rows; *more gets how many were left out. */
#define DIFF_MAX_ROWS 200
struct drow {
    char *key;                    /* folded name + "\x1f" + the scheme tuple (the map's key) */
    size_t name_len;
    int count;
    int first;                    /* a tensor of the row, for its schemes */
};

static cJSON *differs_json(const struct qt_model *m, const struct rview *cols, int ncol, int *more) {
    cJSON *a = cJSON_CreateArray();
    *more = 0;
    struct qt_hmap h;
    if (qt_hmap_init(&h, 256) != QT_OK) return a;
    struct drow *rows = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        int differ = 0;
        for (int c = 1; c < ncol && !differ; c++) differ = strcmp(scheme_of(&cols[0], i), scheme_of(&cols[c], i)) != 0;
        if (!differ) continue;
        char name[512];
        snprintf(name, sizeof name, "%s", t->name);
        size_t nl = strlen(name);
        if (nl > 7 && !strcmp(name + nl - 7, ".weight")) name[nl -= 7] = 0;
        if (t->expert >= 0) {   /* experts.E. -> experts.*. */
            char pat[32];
            int k = snprintf(pat, sizeof pat, "experts.%d.", t->expert);
            char *p = strstr(name, pat);
            if (p) {
                memmove(p + 10, p + k, strlen(p + k) + 1);
                memcpy(p, "experts.*.", 10);
            }
        }
        struct sb key = {0};
        sb_puts(&key, name);
        size_t name_len = key.n;
        for (int c = 0; c < ncol; c++) {
            sb_puts(&key, "\x1f");
            sb_puts(&key, scheme_of(&cols[c], i));
        }
        if (key.oom) { free(key.p); break; }
        int at = qt_hmap_get(&h, key.p);
        if (at >= 0) { rows[at].count++; free(key.p); continue; }
        if (n == cap) {
            int nc = cap ? cap * 2 : 64;
            struct drow *nr = realloc(rows, sizeof *nr * (size_t)nc);
            if (!nr) { free(key.p); break; }
            rows = nr;
            cap = nc;
        }
        rows[n] = (struct drow){key.p, name_len, 1, i};
        if (qt_hmap_put(&h, rows[n].key, n) != QT_OK) { free(key.p); break; }
        n++;
    }
    for (int k = 0; k < n; k++) {
        if (k >= DIFF_MAX_ROWS) { (*more)++; continue; }
        cJSON *o = cJSON_CreateObject();
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)rows[k].name_len, rows[k].key);
        cJSON_AddStringToObject(o, "tensor", name);
        cJSON_AddNumberToObject(o, "count", rows[k].count);
        cJSON *s = cJSON_AddArrayToObject(o, "schemes");
        for (int c = 0; c < ncol; c++) cJSON_AddItemToArray(s, cJSON_CreateString(scheme_of(&cols[c], rows[k].first)));
        cJSON_AddItemToArray(a, o);
    }
    for (int k = 0; k < n; k++) free(rows[k].key);
    free(rows);
    qt_hmap_free(&h);
    return a;
}

int qt_rdoc_build(const struct qt_rdoc_in *in, cJSON **out, qt_err *err) {
    *out = NULL;
    if (!in->model || !in->gpu) return qt_err_set(err, "report: no model or GPU given");
    struct qt_model *m = NULL;
    if (qt_model_open(in->model, &m, err) != QT_OK) return QT_ERR;
    int nv = in->n_variants > 0 ? in->n_variants : 0;
    struct rview *vs = calloc((size_t)nv + 1, sizeof *vs);   /* [0] the recipe, [1 + k] variant k */
    struct qt_preview_cache *cache = qt_preview_cache_new();
    cJSON *doc = cJSON_CreateObject();
    int rc = QT_ERR;
    if (!vs || !cache || !doc) { qt_err_set(err, "report: out of memory"); goto done; }
    struct qt_deploy_opts o = {.gpu = in->gpu};
    if (rview_open(&vs[0], m, in->recipe_text, in->recipe_from ? in->recipe_from : "recipe", cache, in->no_error, &o,
                   err) != QT_OK)
        goto done;
    for (int k = 0; k < nv; k++) {
        char fname[64];
        snprintf(fname, sizeof fname, "variant %.20s", in->variants[k].name);
        if (rview_open(&vs[1 + k], m, in->variants[k].text, fname, cache, in->no_error, &o, err) != QT_OK) {
            qt_err_prefix(err, "variant %.20s", in->variants[k].name);
            goto done;
        }
    }
    cJSON_AddStringToObject(doc, "title", in->title ? in->title : "");
    cJSON_AddStringToObject(doc, "kind", in->kind ? in->kind : "");
    cJSON_AddStringToObject(doc, "source", in->source ? in->source : "");
    cJSON_AddStringToObject(doc, "qtune_version", QT_VERSION);
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tmv);
    cJSON_AddStringToObject(doc, "generated", when);
    cJSON_AddItemToObject(doc, "model", model_json(m));
    cJSON *rj = cJSON_AddObjectToObject(doc, "recipe");
    cJSON_AddStringToObject(rj, "text", in->recipe_text ? in->recipe_text : "");
    cJSON_AddStringToObject(rj, "from", in->recipe_from ? in->recipe_from : "");
    cJSON_AddItemToObject(doc, "sizes", sizes_json(m, &vs[0]));
    cJSON *lj = lint_json(m, &vs[0], in->tp, err);
    if (!lj) goto done;
    cJSON_AddItemToObject(doc, "lint", lj);
    cJSON_AddItemToObject(doc, "deploy", qt_deploy_json(NULL, &vs[0].dep, in->gpu));
    if (vs[0].previewed && !vs[0].tot.no_weights) cJSON_AddNumberToObject(doc, "rel_rmse", qt_qstats_rel_rmse(&vs[0].tot.st));
    else cJSON_AddNullToObject(doc, "rel_rmse");
    cJSON_AddStringToObject(doc, "error_note",
                            m->metadata_only ? "metadata only: no weights, so no weight error"
                            : in->no_error   ? (in->error_note ? in->error_note : "weight error not computed (--no-error)")
                                             : "");
    cJSON *ej = in->eval ? cJSON_Duplicate(in->eval, 1) : NULL;
    if (ej && in->eval_from) cJSON_AddStringToObject(ej, "from", in->eval_from);
    cJSON_AddItemToObject(doc, "eval", ej ? ej : cJSON_CreateNull());
    cJSON_AddItemToObject(doc, "layers", layers_json(m, &vs[0], in->sens));
    cJSON *sj = cJSON_AddObjectToObject(doc, "dkl");
    cJSON_AddStringToObject(sj, "from", in->sens ? (in->sens_from ? in->sens_from : "") : "");
    cJSON_AddStringToObject(sj, "scheme", jstr(in->sens, "scheme"));
    if (in->sens && jhas(in->sens, "sum_dkl")) cJSON_AddNumberToObject(sj, "sum_dkl", jnum(in->sens, "sum_dkl", 0));
    cJSON *va = cJSON_AddArrayToObject(doc, "variants");
    if (nv) {
        char cur[64] = "current";   /* "current = A" when it is a stored variant */
        for (int k = 0; k < nv; k++)
            if (in->variants[k].text && in->recipe_text && !strcmp(in->variants[k].text, in->recipe_text)) {
                snprintf(cur, sizeof cur, "current = %.20s", in->variants[k].name);
                break;
            }
        cJSON_AddItemToArray(va, summary_json(cur, &vs[0], in->eval));
        for (int k = 0; k < nv; k++) cJSON_AddItemToArray(va, summary_json(in->variants[k].name, &vs[1 + k], in->variants[k].eval));
        int more = 0;
        cJSON_AddItemToObject(doc, "differs", differs_json(m, vs, nv + 1, &more));
        cJSON_AddNumberToObject(doc, "differs_more", more);
    }
    if (in->written) {
        cJSON *w = cJSON_AddObjectToObject(doc, "written");
        static const char *const keep[] = {"out", "algorithm", "modules_quantized", "tensors_kept", "shards",
                                           "bytes_source", "bytes_written", "seconds", "calib", "backend"};
        for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
            const cJSON *x = jget(in->written, keep[k]);
            if (x && (cJSON_IsString(x) || cJSON_IsNumber(x))) cJSON_AddItemToObject(w, keep[k], cJSON_Duplicate(x, 0));
        }
    }
    rc = QT_OK;
done:
    for (int k = 0; vs && k <= nv; k++) rview_free(&vs[k]);
    free(vs);
    qt_preview_cache_free(cache);
    qt_model_free(m);
    if (rc == QT_OK) *out = doc;
    else cJSON_Delete(doc);
    return rc;
}

/* ---- figures ---- */

static char *fbytes(double v, char *b, size_t n) { return qt_fmt_bytes(v, b, n); }
static char *fcount(double v, char *b, size_t n) { return qt_fmt_count((int64_t)v, b, n); }
static char *fnum(double v, const char *fmt, char *b, size_t n) {
    snprintf(b, n, fmt, v);
    return b;
}

/* ---- plots ---- */

struct plot {
    const char *name, *title, *unit, *field, *color;
    double scale;                 /* value shown = field x scale */
};
static const struct plot plots[] = {
    {"err", "Weight error per layer", "err %", "rel_rmse", "#2563eb", 100},
    {"dkl", "ΔKL per layer (each layer's groups quantized alone, summed)", "ΔKL", "dkl", "#ea580c", 1},
};
#define N_PLOTS (int)(sizeof plots / sizeof plots[0])

static const struct plot *plot_find(const char *name) {
    for (int k = 0; k < N_PLOTS; k++)
        if (!strcmp(plots[k].name, name)) return &plots[k];
    return NULL;
}

static int plot_has(const cJSON *doc, const struct plot *p) {
    const cJSON *l;
    cJSON_ArrayForEach(l, jget(doc, "layers"))
        if (jhas(l, p->field)) return 1;
    return 0;
}

int qt_rdoc_plots(const cJSON *doc, const char *names[2]) {
    int n = 0;
    for (int k = 0; k < N_PLOTS && n < 2; k++)
        if (plot_has(doc, &plots[k])) names[n++] = plots[k].name;
    return n;
}

/* A step of 1, 2 or 5 x 10^k that splits top into about 4 parts. */
static double nice_step(double top) {
    double raw = top / 4, mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* A bar per layer, an axis with gridlines, a tooltip (<title>) on each bar;
 * layers with no value get no bar and a grey tick.  Plain SVG 1.1, fixed
 * size, so a browser, GitHub's image viewer and an SVG library agree. */
static void svg_plot(struct sb *b, const cJSON *doc, const struct plot *p, int standalone) {
    const cJSON *layers = jget(doc, "layers");
    int n = cJSON_GetArraySize(layers);
    const double W = 880, H = 240, L = 64, R = 16, T = 30, B = 36;
    double pw = W - L - R, ph = H - T - B, top = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
        if (jhas(l, p->field) && jnum(l, p->field, 0) * p->scale > top) top = jnum(l, p->field, 0) * p->scale;
    if (!(top > 0)) top = 1;
    double step = nice_step(top * 1.05);
    double ymax = ceil(top * 1.05 / step) * step;
    sb_printf(b, "<svg %sclass=\"plot\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
              standalone ? "xmlns=\"http://www.w3.org/2000/svg\" " : "", W, H, W, H);
    sb_puts(b, "<title>");
    sb_html(b, p->title);
    sb_puts(b, "</title>");
    sb_printf(b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>", W, H);
    sb_printf(b, "<text x=\"%.0f\" y=\"18\" font-family=\"sans-serif\" font-size=\"13\" font-weight=\"bold\" fill=\"#111827\">",
              L);
    sb_html(b, p->title);
    sb_puts(b, "</text>");
    for (double y = 0; y <= ymax * 1.0001; y += step) {
        double py = T + ph - y / ymax * ph;
        char lab[32];
        snprintf(lab, sizeof lab, step >= 1 ? "%.0f" : step >= 0.1 ? "%.1f" : step >= 0.01 ? "%.2f" : "%.3g", y);
        sb_printf(b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e5e7eb\" stroke-width=\"1\"/>", L, py,
                  L + pw, py);
        sb_printf(b, "<text x=\"%.0f\" y=\"%.1f\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"end\" fill=\"#374151\">%s</text>",
                  L - 6, py + 4, lab);
    }
    sb_printf(b, "<text x=\"14\" y=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#374151\" "
                 "transform=\"rotate(-90 14 %.0f)\" text-anchor=\"middle\">",
              T + ph / 2, T + ph / 2);
    sb_html(b, p->unit);
    sb_puts(b, "</text>");
    double slot = n ? pw / n : pw, bw = slot * 0.72 > 1 ? slot * 0.72 : 1;
    int every = n > 24 ? (n + 23) / 24 : 1;
    int i = 0;
    cJSON_ArrayForEach(l, layers) {
        double x = L + i * slot + (slot - bw) / 2;
        int layer = (int)jnum(l, "layer", i), mtp = cJSON_IsTrue(jget(l, "mtp"));
        if (jhas(l, p->field)) {
            double v = jnum(l, p->field, 0) * p->scale, hgt = v / ymax * ph;
            sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s>", x, T + ph - hgt, bw,
                      hgt, p->color, mtp ? " fill-opacity=\"0.55\"" : "");
            sb_printf(b, "<title>layer %d%s: %.4g %s</title></rect>", layer, mtp ? " (MTP)" : "", v,
                      !strcmp(p->unit, "err %") ? "%" : "");
        } else {
            sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"2\" fill=\"#d1d5db\"><title>layer %d: no value</title></rect>",
                      x, T + ph - 2, bw, layer);
        }
        if (i % every == 0 || mtp)
            sb_printf(b, "<text x=\"%.1f\" y=\"%.0f\" font-family=\"sans-serif\" font-size=\"10\" text-anchor=\"middle\" fill=\"#374151\">%d%s</text>",
                      x + bw / 2, T + ph + 14, layer, mtp ? "*" : "");
        i++;
    }
    sb_printf(b, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#6b7280\" stroke-width=\"1\"/>", L, T + ph,
              L + pw, T + ph);
    sb_printf(b, "<text x=\"%.0f\" y=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" fill=\"#374151\">"
                 "decoder layer (* MTP)</text>",
              L + pw / 2, H - 4);
    sb_puts(b, "</svg>");
}

char *qt_rdoc_svg(const cJSON *doc, const char *name) {
    const struct plot *p = plot_find(name);
    if (!p || !plot_has(doc, p)) return NULL;
    struct sb b = {0};
    sb_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    svg_plot(&b, doc, p, 1);
    sb_puts(&b, "\n");
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

/* ---- tables, one description for both formats ---- */

/* A table under construction: cells are copied strings; a cell starting
 * with "\x01" is code (a tensor or module name), "\x02" a status (its CSS
 * class follows up to a space: "\x02" "bad no"). */
struct table {
    int ncol, nrow, cap;
    const char *const *head;
    const char *align;            /* per column 'l' or 'r' */
    char **cells;                 /* (nrow * ncol) */
};

/* Appends a row of empty cells; returns its cells (ncol) to fill, NULL when
 * out of memory. */
static char **tab_add(struct table *t) {
    if (t->nrow == t->cap) {
        int nc = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, sizeof *c * (size_t)nc * (size_t)t->ncol);
        if (!c) return NULL;
        t->cells = c;
        t->cap = nc;
    }
    char **row = &t->cells[t->nrow * t->ncol];
    for (int c = 0; c < t->ncol; c++) row[c] = NULL;
    t->nrow++;
    return row;
}

/* Sets a cell (a copy of s; NULL: empty). */
static void tab_set(char **row, int c, const char *s) {
    free(row[c]);
    row[c] = qt_strdup(s ? s : "");
}

/* A row of ncol strings. */
static void tab_row(struct table *t, ...) {
    char **row = tab_add(t);
    if (!row) return;
    va_list ap;
    va_start(ap, t);
    for (int c = 0; c < t->ncol; c++) tab_set(row, c, va_arg(ap, const char *));
    va_end(ap);
}

static void tab_free(struct table *t) {
    for (int i = 0; t->cells && i < t->nrow * t->ncol; i++) free(t->cells[i]);
    free(t->cells);
}

static void cell_html(struct sb *b, const char *s) {
    if (s[0] == '\x01') { sb_puts(b, "<code>"); sb_html(b, s + 1); sb_puts(b, "</code>"); return; }
    if (s[0] == '\x02') {
        const char *sp = strchr(s, ' ');
        size_t k = sp ? (size_t)(sp - s - 1) : strlen(s + 1);
        sb_puts(b, "<span class=\"");
        sb_add(b, s + 1, k);
        sb_puts(b, "\">");
        sb_html(b, sp ? sp + 1 : "");
        sb_puts(b, "</span>");
        return;
    }
    sb_html(b, s);
}

static void cell_md(struct sb *b, const char *s) {
    if (s[0] == '\x01') { sb_md_code(b, s + 1); return; }
    if (s[0] == '\x02') {
        const char *sp = strchr(s, ' ');
        int bold = sp && !strncmp(s + 1, "bad", 3);
        if (bold) sb_puts(b, "**");
        sb_md(b, sp ? sp + 1 : "");
        if (bold) sb_puts(b, "**");
        return;
    }
    sb_md(b, s);
}

static void tab_emit(struct sb *b, const struct table *t, enum qt_rdoc_format f, const char *cls) {
    if (f == QT_RDOC_HTML) {
        sb_printf(b, "<table class=\"%s\"><thead><tr>", cls);
        for (int c = 0; c < t->ncol; c++) {
            sb_printf(b, "<th class=\"%s\">", t->align[c] == 'r' ? "r" : "l");
            sb_html(b, t->head[c]);
            sb_puts(b, "</th>");
        }
        sb_puts(b, "</tr></thead><tbody>\n");
        for (int r = 0; r < t->nrow; r++) {
            sb_puts(b, "<tr>");
            for (int c = 0; c < t->ncol; c++) {
                sb_printf(b, "<td class=\"%s\">", t->align[c] == 'r' ? "r" : "l");
                cell_html(b, t->cells[r * t->ncol + c]);
                sb_puts(b, "</td>");
            }
            sb_puts(b, "</tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
        return;
    }
    sb_puts(b, "|");
    for (int c = 0; c < t->ncol; c++) { sb_puts(b, " "); sb_md(b, t->head[c]); sb_puts(b, " |"); }
    sb_puts(b, "\n|");
    for (int c = 0; c < t->ncol; c++) sb_puts(b, t->align[c] == 'r' ? " ---: |" : " --- |");
    sb_puts(b, "\n");
    for (int r = 0; r < t->nrow; r++) {
        sb_puts(b, "|");
        for (int c = 0; c < t->ncol; c++) {
            sb_puts(b, " ");
            cell_md(b, t->cells[r * t->ncol + c]);
            sb_puts(b, " |");
        }
        sb_puts(b, "\n");
    }
    sb_puts(b, "\n");
}

/* ---- the page ---- */

struct page {
    struct sb b;
    enum qt_rdoc_format f;
};

static void h2(struct page *pg, const char *id, const char *title) {
    if (pg->f == QT_RDOC_HTML) {
        sb_printf(&pg->b, "<h2 id=\"%s\">", id);
        sb_html(&pg->b, title);
        sb_puts(&pg->b, "</h2>\n");
    } else {
        sb_puts(&pg->b, "## ");
        sb_md(&pg->b, title);
        sb_puts(&pg->b, "\n\n");
    }
}

/* A paragraph of plain text. */
static void para(struct page *pg, const char *text) {
    if (!text || !*text) return;
    if (pg->f == QT_RDOC_HTML) {
        sb_puts(&pg->b, "<p>");
        sb_html(&pg->b, text);
        sb_puts(&pg->b, "</p>\n");
    } else {
        sb_md(&pg->b, text);
        sb_puts(&pg->b, "\n\n");
    }
}

static void paraf(struct page *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void paraf(struct page *pg, const char *fmt, ...) {
    char t[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    para(pg, t);
}

static void sec_header(struct page *pg, const cJSON *doc) {
    const cJSON *m = jget(doc, "model"), *sz = jget(doc, "sizes"), *ev = jget(doc, "eval"), *li = jget(doc, "lint"),
                *dp = jget(doc, "deploy");
    char a[32], b2[32], c[32];
    char title[600];
    snprintf(title, sizeof title, "qtune report: %s", jstr(doc, "title"));
    char facts[4][2][96];
    snprintf(facts[0][0], 96, "size");
    snprintf(facts[0][1], 96, "%s (%.2f bpw)", fbytes(jnum(sz, "bytes_after", 0), a, sizeof a), jnum(sz, "bpw", 0));
    snprintf(facts[1][0], 96, "KL");
    if (cJSON_IsObject(ev))
        snprintf(facts[1][1], 96, "%.4g ± %.2g", jnum(jget(ev, "kld"), "mean", 0), jnum(jget(ev, "kld"), "stderr", 0));
    else snprintf(facts[1][1], 96, "not measured");
    snprintf(facts[2][0], 96, "lint");
    snprintf(facts[2][1], 96, "%.0f errors, %.0f warnings", jnum(li, "errors", 0), jnum(li, "warnings", 0));
    snprintf(facts[3][0], 96, "fits");
    int gn = (int)jnum(dp, "gpus_needed", 0);
    if (gn) snprintf(facts[3][1], 96, "%d x %s", gn, jstr(jget(dp, "gpu"), "name"));
    else snprintf(facts[3][1], 96, "not on 8 x %s", jstr(jget(dp, "gpu"), "name"));
    char meta[1200];
    snprintf(meta, sizeof meta, "%s %s · model %s (%s, %.0f layers%s, %s params, %s as stored) · generated %s by qtune %s",
             jstr(doc, "kind"), jstr(doc, "source"), jstr(m, "path"), jstr(m, "arch"), jnum(m, "layers", 0),
             jnum(m, "experts", 0) > 0 ? ", MoE" : "", fcount(jnum(m, "params", 0), b2, sizeof b2),
             fbytes(jnum(m, "bytes", 0), c, sizeof c), jstr(doc, "generated"), jstr(doc, "qtune_version"));
    if (pg->f == QT_RDOC_HTML) {
        sb_puts(&pg->b, "<header><h1>");
        sb_html(&pg->b, title);
        sb_puts(&pg->b, "</h1><div class=\"meta\">");
        sb_html(&pg->b, meta);
        sb_puts(&pg->b, "</div></header>\n<div class=\"cards\">");
        for (int k = 0; k < 4; k++) {
            int bad = (k == 2 && jnum(li, "errors", 0) > 0) || (k == 3 && !gn);
            sb_printf(&pg->b, "<div class=\"card%s\"><div class=\"k\">", bad ? " bad" : "");
            sb_html(&pg->b, facts[k][0]);
            sb_puts(&pg->b, "</div><div class=\"v\">");
            sb_html(&pg->b, facts[k][1]);
            sb_puts(&pg->b, "</div></div>");
        }
        sb_puts(&pg->b, "</div>\n");
    } else {
        sb_puts(&pg->b, "# ");
        sb_md(&pg->b, title);
        sb_puts(&pg->b, "\n\n");
        sb_md(&pg->b, meta);
        sb_puts(&pg->b, "\n\n");
        struct table t = {.ncol = 4, .head = (const char *const[]){facts[0][0], facts[1][0], facts[2][0], facts[3][0]},
                          .align = "llll"};
        tab_row(&t, facts[0][1], facts[1][1], facts[2][1], facts[3][1]);
        tab_emit(&pg->b, &t, pg->f, "facts");
        tab_free(&t);
    }
}

static void sec_recipe(struct page *pg, const cJSON *doc) {
    const cJSON *r = jget(doc, "recipe");
    h2(pg, "recipe", "Recipe");
    const char *text = jstr(r, "text");
    if (!*text) { para(pg, "No recipe: the model as stored."); return; }
    if (*jstr(r, "from")) paraf(pg, "From %s.", jstr(r, "from"));
    if (pg->f == QT_RDOC_HTML) {
        sb_puts(&pg->b, "<pre class=\"recipe\">");
        sb_html(&pg->b, text);
        sb_puts(&pg->b, "</pre>\n");
    } else {
        /* a fence longer than any run of backticks in the text */
        int run = 0, best = 0;
        for (const char *s = text; *s; s++) {
            run = *s == '`' ? run + 1 : 0;
            if (run > best) best = run;
        }
        char fence[64];
        int nf = best >= 3 ? (best + 1 < 60 ? best + 1 : 60) : 3;
        memset(fence, '`', (size_t)nf);
        fence[nf] = 0;
        sb_printf(&pg->b, "%syaml\n", fence);
        sb_puts(&pg->b, text);
        if (text[strlen(text) - 1] != '\n') sb_puts(&pg->b, "\n");
        sb_printf(&pg->b, "%s\n\n", fence);
    }
}

static void sec_sizes(struct page *pg, const cJSON *doc) {
    const cJSON *sz = jget(doc, "sizes"), *p;
    h2(pg, "sizes", "Sizes");
    char a[32], b2[32], c[32], d[32];
    paraf(pg, "%s as stored → %s after quantization; %.0f of %.0f tensors quantized; %.3f bits per weight over the %s "
              "quantizable Linear weights.",
          fbytes(jnum(sz, "bytes_before", 0), a, sizeof a), fbytes(jnum(sz, "bytes_after", 0), b2, sizeof b2),
          jnum(sz, "tensors_quantized", 0), jnum(sz, "tensors", 0), jnum(sz, "bpw", 0),
          fcount(jnum(sz, "params_quantizable", 0), c, sizeof c));
    struct table t = {.ncol = 5, .head = (const char *const[]){"part", "params", "as stored", "after", "scheme"},
                      .align = "lrrrl"};
    cJSON_ArrayForEach(p, jget(sz, "parts")) {
        char sc[80];
        snprintf(sc, sizeof sc, "\x01%s", jstr(p, "scheme"));
        tab_row(&t, jstr(p, "part"), fcount(jnum(p, "params", 0), a, sizeof a), fbytes(jnum(p, "bytes_before", 0), b2, sizeof b2),
                fbytes(jnum(p, "bytes_after", 0), d, sizeof d), sc);
    }
    tab_emit(&pg->b, &t, pg->f, "sizes");
    tab_free(&t);
    const cJSON *w = jget(doc, "written");
    if (w)
        paraf(pg, "Written by qtune quantize (%s): %.0f modules quantized, %.0f tensors kept, %.0f shard(s), %s of tensor "
                  "data%s%s.",
              *jstr(w, "algorithm") ? jstr(w, "algorithm") : "RTN", jnum(w, "modules_quantized", 0), jnum(w, "tensors_kept", 0),
              jnum(w, "shards", 0), fbytes(jnum(w, "bytes_written", 0), a, sizeof a), *jstr(w, "out") ? " into " : "",
              jstr(w, "out"));
}

static void sec_deploy(struct page *pg, const cJSON *doc) {
    const cJSON *dp = jget(doc, "deploy"), *g = jget(dp, "gpu"), *p;
    h2(pg, "deploy", "Deploy");
    char a[32], b2[32], c[32], d[32];
    paraf(pg, "On %s (%s, %.0f GB/s, $%.2f/h), utilization %.2f, ctx %.0f x batch %.0f. Weights %s (MTP %s); KV cache %s "
              "per token.",
          jstr(g, "name"), fbytes(jnum(g, "memory_bytes", 0), a, sizeof a), jnum(g, "bandwidth_bytes_s", 0) / 1e9,
          jnum(g, "price_hour", 0), jnum(dp, "util", 0), jnum(dp, "ctx", 0), jnum(dp, "batch", 0),
          fbytes(jnum(dp, "weights_bytes", 0), b2, sizeof b2), fbytes(jnum(dp, "mtp_bytes", 0), c, sizeof c),
          fbytes(jnum(dp, "kv_bytes_per_token", 0), d, sizeof d));
    struct table t = {.ncol = 7,
                      .head = (const char *const[]){"TP", "weights/GPU", "KV/token/GPU", "KV tokens", "max ctx", "concurrency", "fits"},
                      .align = "rrrrrrl"};
    cJSON_ArrayForEach(p, jget(dp, "per_gpu")) {
        char tp[16], kt[32], mc[32], cc[32];
        snprintf(tp, sizeof tp, "%.0f", jnum(p, "tp", 0));
        snprintf(kt, sizeof kt, "%.0f", jnum(p, "max_tokens", 0));
        snprintf(mc, sizeof mc, "%.0f", jnum(p, "max_ctx", 0));
        snprintf(cc, sizeof cc, "%.2fx", jnum(p, "max_concurrency", 0));
        int fits = cJSON_IsTrue(jget(p, "fits"));
        tab_row(&t, tp, fbytes(jnum(p, "weights_bytes", 0), a, sizeof a), fbytes(jnum(p, "kv_bytes_per_token", 0), b2, sizeof b2),
                kt, mc, cc, fits ? "\x02ok yes" : "\x02" "bad no");
    }
    tab_emit(&pg->b, &t, pg->f, "deploy");
    tab_free(&t);
    int gn = (int)jnum(dp, "gpus_needed", 0);
    if (gn)
        paraf(pg, "GPUs needed: %d. Decode ≤ %.0f tok/s at TP %.0f (weights only); cost $%.2f/hour, ≥ $%.3f per million "
                  "tokens.",
              gn, jnum(dp, "tok_s_bound", 0), jnum(dp, "tp", 0), jnum(dp, "cost_per_hour", 0), jnum(dp, "cost_per_mtok", 0));
    else paraf(pg, "Does not fit on 8 x %s.", jstr(g, "name"));
}

static void sec_lint(struct page *pg, const cJSON *doc) {
    const cJSON *li = jget(doc, "lint"), *f;
    h2(pg, "lint", "Lint");
    int n = cJSON_GetArraySize(jget(li, "findings"));
    paraf(pg, "%.0f errors, %.0f warnings (what vLLM refuses or loads wrongly; qtune lint).", jnum(li, "errors", 0),
          jnum(li, "warnings", 0));
    if (!n) return;
    struct table t = {.ncol = 4, .head = (const char *const[]){"code", "severity", "finding", "tensors"}, .align = "llll"};
    cJSON_ArrayForEach(f, jget(li, "findings")) {
        char sev[32], ts[700] = "";
        int err = !strcmp(jstr(f, "severity"), "error");
        snprintf(sev, sizeof sev, "\x02%s %s", err ? "bad" : "warn", jstr(f, "severity"));
        const cJSON *x;
        int k = 0, tot = (int)jnum(f, "n_tensors", cJSON_GetArraySize(jget(f, "tensors")));
        cJSON_ArrayForEach(x, jget(f, "tensors")) {
            size_t l = strlen(ts);
            snprintf(ts + l, sizeof ts - l, "%s%s", k++ ? ", " : "", cJSON_GetStringValue(x) ? x->valuestring : "");
        }
        if (tot > k) {
            size_t l = strlen(ts);
            snprintf(ts + l, sizeof ts - l, "%s%d more", k ? " and " : "", tot - k);
        }
        tab_row(&t, jstr(f, "code"), sev, jstr(f, "message"), ts);
    }
    tab_emit(&pg->b, &t, pg->f, "lint");
    tab_free(&t);
}

static void sec_eval(struct page *pg, const cJSON *doc) {
    const cJSON *ev = jget(doc, "eval");
    h2(pg, "eval", "Evaluation");
    if (!cJSON_IsObject(ev)) {
        para(pg, "No eval result for this recipe (qtune eval --json, an eval job of the session, or report --eval FILE).");
        return;
    }
    if (*jstr(ev, "from")) paraf(pg, "From %s; %.0f positions, %.0f tensors quantized.", jstr(ev, "from"),
                                 jnum(ev, "positions", 0), jnum(ev, "tensors_quantized", 0));
    const cJSON *k = jget(ev, "kld");
    struct table t = {.ncol = 2, .head = (const char *const[]){"statistic", "value"}, .align = "lr"};
    char v[64];
    static const char *const kf[][2] = {{"mean", "KL mean"}, {"stderr", "KL stderr"}, {"median", "KL median"},
                                        {"p90", "KL p90"},   {"p99", "KL p99"},       {"p999", "KL p99.9"},
                                        {"max", "KL max"}};
    for (size_t i = 0; i < sizeof kf / sizeof kf[0]; i++)
        if (jhas(k, kf[i][0])) tab_row(&t, kf[i][1], fnum(jnum(k, kf[i][0], 0), "%.6f", v, sizeof v));
    if (jhas(ev, "same_top_p")) tab_row(&t, "same top-1 token", fnum(100 * jnum(ev, "same_top_p", 0), "%.2f %%", v, sizeof v));
    if (jhas(ev, "ppl_base")) tab_row(&t, "PPL original", fnum(jnum(ev, "ppl_base", 0), "%.4f", v, sizeof v));
    if (jhas(ev, "ppl_q")) tab_row(&t, "PPL quantized", fnum(jnum(ev, "ppl_q", 0), "%.4f", v, sizeof v));
    if (jhas(ev, "ln_ppl_ratio")) tab_row(&t, "ln PPL ratio", fnum(jnum(ev, "ln_ppl_ratio", 0), "%+.6f", v, sizeof v));
    if (jhas(ev, "rms_dp")) tab_row(&t, "RMS Δp", fnum(jnum(ev, "rms_dp", 0), "%.6f", v, sizeof v));
    tab_emit(&pg->b, &t, pg->f, "eval");
    tab_free(&t);
}

static void sec_layers(struct page *pg, const cJSON *doc, const char *svg_stem) {
    h2(pg, "layers", "Per layer");
    const char *names[2];
    int np = qt_rdoc_plots(doc, names);
    const cJSON *dk = jget(doc, "dkl");
    if (*jstr(doc, "error_note")) para(pg, jstr(doc, "error_note"));
    if (*jstr(dk, "from"))
        paraf(pg, "ΔKL from %s%s%s%s.", jstr(dk, "from"), *jstr(dk, "scheme") ? " at " : "", jstr(dk, "scheme"),
              jhas(dk, "sum_dkl") ? "" : "");
    else para(pg, "No ΔKL scan (a sensitivity job of the session, qtune sensitivity --json, or report --dkl FILE).");
    if (!np) { para(pg, "Nothing to plot."); return; }
    if (pg->f == QT_RDOC_HTML) {
        for (int k = 0; k < np; k++) {
            sb_puts(&pg->b, "<figure>");
            svg_plot(&pg->b, doc, plot_find(names[k]), 0);
            sb_puts(&pg->b, "</figure>\n");
        }
    } else if (svg_stem) {
        for (int k = 0; k < np; k++) {
            const struct plot *p = plot_find(names[k]);
            sb_puts(&pg->b, "![");
            sb_md(&pg->b, p->title);
            sb_puts(&pg->b, "](");
            /* a relative link: GitHub shows an SVG committed beside the page */
            for (const char *s = svg_stem; *s; s++) {
                if (*s == ' ') sb_puts(&pg->b, "%20");
                else if (*s == '(' || *s == ')') sb_printf(&pg->b, "%%%02X", (unsigned char)*s);
                else sb_add(&pg->b, s, 1);
            }
            sb_printf(&pg->b, "-%s.svg)\n\n", p->name);
        }
    } else {
        para(pg, "(Plots left out: written without SVG files; the table below has the figures.)");
    }
    const cJSON *l;
    struct table t = {.ncol = 4, .head = (const char *const[]){"layer", "params quantized", "err %", "ΔKL"}, .align = "rrrr"};
    cJSON_ArrayForEach(l, jget(doc, "layers")) {
        char ly[32], pq[32], e[32], d[32];
        snprintf(ly, sizeof ly, "%.0f%s", jnum(l, "layer", 0), cJSON_IsTrue(jget(l, "mtp")) ? " (MTP)" : "");
        fcount(jnum(l, "params_quantized", 0), pq, sizeof pq);
        if (jhas(l, "rel_rmse")) snprintf(e, sizeof e, "%.2f", 100 * jnum(l, "rel_rmse", 0));
        else snprintf(e, sizeof e, "-");
        if (jhas(l, "dkl")) snprintf(d, sizeof d, "%.5f", jnum(l, "dkl", 0));
        else snprintf(d, sizeof d, "-");
        tab_row(&t, ly, pq, e, d);
    }
    if (pg->f == QT_RDOC_HTML) sb_puts(&pg->b, "<details><summary>Per-layer figures</summary>\n");
    tab_emit(&pg->b, &t, pg->f, "layers");
    if (pg->f == QT_RDOC_HTML) sb_puts(&pg->b, "</details>\n");
    tab_free(&t);
}

static void sec_variants(struct page *pg, const cJSON *doc) {
    const cJSON *va = jget(doc, "variants"), *v;
    int n = cJSON_GetArraySize(va);
    if (n < 2) return;   /* "current" alone is no comparison */
    h2(pg, "variants", "Variants");
    para(pg, "The session's stored variants beside the current recipe; KL from an eval job of each variant's exact text.");
    struct table t = {.ncol = 9,
                      .head = (const char *const[]){"variant", "size", "bpw", "quantized", "err %", "KL", "same top-1",
                                                    "PPL ratio", "GPUs"},
                      .align = "lrrrrrrrr"};
    cJSON_ArrayForEach(v, va) {
        char sz[32], bpw[32], q[32], e[32], kl[64], top[32], ppl[32], g[32];
        const cJSON *ev = jget(v, "eval");
        fbytes(jnum(v, "weights_bytes", 0), sz, sizeof sz);
        snprintf(bpw, sizeof bpw, "%.2f", jnum(v, "bpw", 0));
        snprintf(q, sizeof q, "%.0f", jnum(v, "tensors_quantized", 0));
        if (jhas(v, "rel_rmse")) snprintf(e, sizeof e, "%.2f", 100 * jnum(v, "rel_rmse", 0));
        else snprintf(e, sizeof e, "-");
        if (cJSON_IsObject(ev)) {
            snprintf(kl, sizeof kl, "%.4g ± %.2g", jnum(jget(ev, "kld"), "mean", 0), jnum(jget(ev, "kld"), "stderr", 0));
            snprintf(top, sizeof top, "%.1f %%", 100 * jnum(ev, "same_top_p", 0));
            double pb = jnum(ev, "ppl_base", 0);
            if (pb > 0) snprintf(ppl, sizeof ppl, "%.4f", jnum(ev, "ppl_q", 0) / pb);
            else snprintf(ppl, sizeof ppl, "-");
        } else {
            snprintf(kl, sizeof kl, "-");
            snprintf(top, sizeof top, "-");
            snprintf(ppl, sizeof ppl, "-");
        }
        int gn = (int)jnum(v, "gpus_needed", 0);
        if (gn) snprintf(g, sizeof g, "%d", gn);
        else snprintf(g, sizeof g, "> 8");
        tab_row(&t, jstr(v, "name"), sz, bpw, q, e, kl, top, ppl, g);
    }
    tab_emit(&pg->b, &t, pg->f, "variants");
    tab_free(&t);
    const cJSON *df = jget(doc, "differs"), *r;
    int nd = cJSON_GetArraySize(df), more = (int)jnum(doc, "differs_more", 0);
    if (!nd) { para(pg, "Every variant gives every tensor the same scheme."); return; }
    paraf(pg, "Tensors whose scheme differs (%d rows%s; the experts of a layer that agree are one row):", nd + more,
          more ? ", the first shown" : "");
    const char *head[28];
    char align[29];
    int nc = 0;
    head[nc] = "tensor";
    align[nc++] = 'l';
    head[nc] = "count";
    align[nc++] = 'r';
    cJSON_ArrayForEach(v, va) {
        if (nc >= 28) break;
        head[nc] = jstr(v, "name");
        align[nc++] = 'l';
    }
    align[nc] = 0;
    struct table t2 = {.ncol = nc, .head = head, .align = align};
    cJSON_ArrayForEach(r, df) {
        char **cells = tab_add(&t2);
        if (!cells) break;
        char nm[520], cnt[16];
        snprintf(nm, sizeof nm, "\x01%s", jstr(r, "tensor"));
        snprintf(cnt, sizeof cnt, "%.0f", jnum(r, "count", 1));
        tab_set(cells, 0, nm);
        tab_set(cells, 1, cnt);
        for (int c = 2; c < nc; c++) {
            const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(jget(r, "schemes"), c - 2));
            char sc[80];
            snprintf(sc, sizeof sc, "\x01%s", s ? s : "");
            tab_set(cells, c, sc);
        }
    }
    tab_emit(&pg->b, &t2, pg->f, "differs");
    tab_free(&t2);
    if (more) paraf(pg, "... and %d more rows.", more);
}

static const char css[] =
    "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#111827;background:#f9fafb}"
    "header{background:#1f2937;color:#f9fafb;padding:14px 24px}"
    "header h1{font-size:22px;margin:0 0 4px 0}.meta{font-size:13px;color:#d1d5db}"
    "main{padding:8px 24px 32px 24px;max-width:1100px}"
    "h2{font-size:18px;border-bottom:2px solid #d1d5db;padding-bottom:4px;margin-top:28px}"
    ".cards{display:flex;gap:12px;padding:16px 24px 0 24px;flex-wrap:wrap}"
    ".card{background:#ffffff;border:1px solid #d1d5db;border-left:6px solid #16a34a;padding:8px 14px;min-width:180px}"
    ".card.bad{border-left-color:#dc2626}.card .k{font-size:12px;color:#6b7280}.card .v{font-size:17px;font-weight:600}"
    "table{border-collapse:collapse;background:#ffffff;font-size:13px;margin:8px 0}"
    "th{background:#e5e7eb;text-align:left;padding:4px 10px;border:1px solid #d1d5db}"
    "td{padding:3px 10px;border:1px solid #e5e7eb}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}"
    "code{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}"
    "pre.recipe{background:#ffffff;border:1px solid #d1d5db;padding:10px;font-size:12px;overflow-x:auto}"
    ".bad{color:#b91c1c;font-weight:600}.warn{color:#b45309}.ok{color:#15803d}"
    "figure{margin:12px 0;background:#ffffff;border:1px solid #d1d5db;display:inline-block}"
    "summary{cursor:pointer;color:#374151}";

char *qt_rdoc_render(const cJSON *doc, enum qt_rdoc_format fmt, const char *svg_stem) {
    if (fmt == QT_RDOC_JSON) {
        char *t = cJSON_Print(doc);
        if (!t) return NULL;
        size_t n = strlen(t);
        char *r = realloc(t, n + 2);
        if (!r) { free(t); return NULL; }
        r[n] = '\n';
        r[n + 1] = 0;
        return r;
    }
    struct page pg = {.f = fmt};
    if (fmt == QT_RDOC_HTML) {
        sb_puts(&pg.b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
                       "<title>");
        sb_html(&pg.b, "qtune report: ");
        sb_html(&pg.b, jstr(doc, "title"));
        sb_printf(&pg.b, "</title>\n<style>%s</style></head>\n<body>\n", css);
    }
    sec_header(&pg, doc);
    if (fmt == QT_RDOC_HTML) sb_puts(&pg.b, "<main>\n");
    sec_recipe(&pg, doc);
    sec_sizes(&pg, doc);
    sec_deploy(&pg, doc);
    sec_lint(&pg, doc);
    sec_eval(&pg, doc);
    sec_layers(&pg, doc, svg_stem);
    sec_variants(&pg, doc);
    if (fmt == QT_RDOC_HTML) sb_puts(&pg.b, "</main>\n</body></html>\n");
    if (pg.b.oom) { free(pg.b.p); return NULL; }
    return pg.b.p;
}

int qt_rdoc_format_of(const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/')) return -1;
    if (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm")) return QT_RDOC_HTML;
    if (!strcasecmp(dot, ".md") || !strcasecmp(dot, ".markdown")) return QT_RDOC_MD;
    if (!strcasecmp(dot, ".json")) return QT_RDOC_JSON;
    return -1;
}

int qt_rdoc_write(const cJSON *doc, const char *path, int with_plots, char files[][4096], int *n_files, qt_err *err) {
    if (n_files) *n_files = 0;
    int f = qt_rdoc_format_of(path);
    if (f < 0) return qt_err_set(err, "%s: unknown report format (use .html, .md or .json)", path);
    char base[4096];   /* path without the extension: the SVGs' prefix */
    snprintf(base, sizeof base, "%s", path);
    char *dot = strrchr(base, '.');
    if (dot) *dot = 0;
    const char *slash = strrchr(base, '/'), *stem = slash ? slash + 1 : base;
    const char *names[2];
    int np = f == QT_RDOC_MD && with_plots ? qt_rdoc_plots(doc, names) : 0;
    /* the plots first: the page never links a file that is not there */
    for (int k = 0; k < np; k++) {
        char sp[4096 + 16];
        snprintf(sp, sizeof sp, "%s-%s.svg", base, names[k]);
        char *svg = qt_rdoc_svg(doc, names[k]);
        if (!svg) return qt_err_set(err, "%s: out of memory", sp);
        int rc = qt_write_file_atomic(sp, svg, strlen(svg), err);
        free(svg);
        if (rc != QT_OK) return QT_ERR;
        if (files && n_files) snprintf(files[(*n_files)++], 4096, "%.4000s", sp);
    }
    char *text = qt_rdoc_render(doc, (enum qt_rdoc_format)f, with_plots ? stem : NULL);
    if (!text) return qt_err_set(err, "%s: out of memory", path);
    int rc = qt_write_file_atomic(path, text, strlen(text), err);
    free(text);
    if (rc != QT_OK) return QT_ERR;
    if (files && n_files) snprintf(files[(*n_files)++], 4096, "%s", path);
    return QT_OK;
}
