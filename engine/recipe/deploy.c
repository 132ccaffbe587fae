/* deploy.c — serving estimate of a recipe and the GPU catalog. */
#include "recipe/deploy.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "quant/quant.h"
#include "base/yamltree.h"

const int qt_deploy_tps[QT_DEPLOY_NTP] = {1, 2, 4, 8};

int qt_deploy_tp_index(int tp) {
    for (int k = 0; k < QT_DEPLOY_NTP; k++)
        if (qt_deploy_tps[k] == tp) return k;
    return -1;
}

/* ---- catalog ---- */

void qt_gpu_catalog_free(struct qt_gpu_catalog *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->g[i].name);
    free(c->g);
    memset(c, 0, sizeof *c);
}

static int field(const char *path, const struct qt_yaml *e, const char *key, double *v, qt_err *err) {
    const struct qt_yaml *n = qt_yaml_get(e, key);
    if (!n) return qt_err_set(err, "%s:%d:%d: GPU entry lacks %s", path, e->line, e->col, key);
    if (!qt_yaml_num(n, v) || *v <= 0)
        return qt_err_set(err, "%s:%d:%d: %s must be a positive number", path, n->line, n->col, key);
    return QT_OK;
}

int qt_gpu_catalog_load(const char *path, struct qt_gpu_catalog *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    struct qt_yaml *root;
    if (qt_yaml_load_file(path, &root, err) != QT_OK) return QT_ERR;
    const struct qt_yaml *list = qt_yaml_get(root, "gpus");
    int rc = QT_OK;
    if (!list || list->kind != QT_YAML_SEQ) {
        rc = qt_err_set(err, "%s: expected `gpus:` with a list of {name, memory_gib, bandwidth_gbs, price_hour}", path);
        goto done;
    }
    out->g = calloc((size_t)list->n + 1, sizeof *out->g);
    if (!out->g) { rc = qt_err_set(err, "out of memory"); goto done; }
    for (int i = 0; i < list->n; i++) {
        const struct qt_yaml *e = list->items[i];
        const char *name = qt_yaml_str(qt_yaml_get(e, "name"));
        double mem, bw, price;
        if (e->kind != QT_YAML_MAP || !name || !*name) {
            rc = qt_err_set(err, "%s:%d:%d: GPU entry needs a name", path, e->line, e->col);
            goto done;
        }
        if ((rc = field(path, e, "memory_gib", &mem, err)) || (rc = field(path, e, "bandwidth_gbs", &bw, err)) ||
            (rc = field(path, e, "price_hour", &price, err)))
            goto done;
        struct qt_gpu *g = &out->g[out->n++];
        g->name = strdup(name);
        g->mem_bytes = mem * 1024.0 * 1024.0 * 1024.0;
        g->bw_bytes = bw * 1e9;
        g->price_hour = price;
    }
done:
    qt_yaml_free(root);
    if (rc != QT_OK) qt_gpu_catalog_free(out);
    return rc;
}

int qt_gpu_catalog_load_default(const char *file, struct qt_gpu_catalog *out, qt_err *err) {
    if (file) return qt_gpu_catalog_load(file, out, err);
    const char *env = getenv("QTUNE_GPUS");
    if (env && *env) return qt_gpu_catalog_load(env, out, err);
    char path[PATH_MAX];
    if (qt_share_find("gpus.yaml", path, sizeof path)) return qt_gpu_catalog_load(path, out, err);
    return qt_gpu_catalog_load("share/gpus.yaml", out, err);
}

/* Compares names ignoring case and treating ' ', '_' and '-' alike; with
 * prefix=1, a matching prefix of b is enough. */
static int name_eq(const char *a, const char *b, int prefix) {
    for (;; a++, b++) {
        char x = *a, y = *b;
        if (x == ' ' || x == '_') x = '-';
        if (y == ' ' || y == '_') y = '-';
        if (!x) return prefix || !y;
        if (tolower((unsigned char)x) != tolower((unsigned char)y)) return 0;
    }
}

const struct qt_gpu *qt_gpu_find(const struct qt_gpu_catalog *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (name_eq(name, c->g[i].name, 0)) return &c->g[i];
    const struct qt_gpu *hit = NULL;
    for (int i = 0; i < c->n; i++)
        if (name_eq(name, c->g[i].name, 1)) {
            if (hit) return NULL; /* ambiguous prefix */
            hit = &c->g[i];
        }
    return hit;
}

/* ---- bytes ---- */

double qt_deploy_tensor_bytes(const struct qt_tensor *t, const struct qt_scheme *s, const char *actorder) {
    if (!s || qt_scheme_is_kept(s)) return (double)t->nbytes;
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    double b = (double)qt_scheme_bytes(s, rows, cols, t->dtype == QT_DT_F32 ? QT_DT_F32 : QT_DT_BF16);
    if (actorder && !strcmp(actorder, "group")) b += (double)cols * 4; /* weight_g_idx I32 [cols] */
    return b;
}

int qt_deploy_kv_dtype_bytes(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "auto")) return 0;
    if (!strcmp(s, "bf16") || !strcmp(s, "fp16") || !strcmp(s, "f16") || !strcmp(s, "half")) return 2;
    if (!strcmp(s, "fp8") || !strcmp(s, "fp8_e4m3") || !strcmp(s, "fp8_e5m2") || !strcmp(s, "int8")) return 1;
    if (!strcmp(s, "fp32") || !strcmp(s, "float32")) return 4;
    return -1;
}

/* Held whole on every GPU under tensor parallelism, a routed expert: the
 * role table's columns (model/model.h). */
static int replicated(enum qt_role r) { return qt_role_has(r, QT_RF_REPL); }
static int is_expert(enum qt_role r) { return qt_role_has(r, QT_RF_EXPERT); }

int qt_deploy_estimate(const struct qt_model *m, const struct qt_recipe *r,
                       const struct qt_resolution *res, const struct qt_deploy_opts *o,
                       struct qt_deploy *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    if (!o || !o->gpu) return qt_err_set(err, "deploy: no GPU given");
    if (res && res->n != m->n_tensors) return qt_err_set(err, "deploy: resolution does not belong to this model");
    const struct qt_config *c = &m->cfg;
    out->ctx_limit = c->max_pos > 0 ? c->max_pos : 0;
    out->ctx = o->ctx > 0 ? o->ctx : out->ctx_limit > 0 && out->ctx_limit < 8192 ? out->ctx_limit : 8192;
    out->ctx_over_limit = out->ctx_limit > 0 && out->ctx > out->ctx_limit;
    /* vLLM refuses a --max-model-len beyond the model's limit: the figures
     * are of the limit (the caller warns, naming ctx_asked) */
    out->ctx_asked = out->ctx;
    if (out->ctx_over_limit) out->ctx = out->ctx_limit;
    out->batch = o->batch > 0 ? o->batch : 1;
    out->util = o->util > 0 && o->util <= 1 ? o->util : 0.9;

    double expert_bytes = 0, other_active = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        const struct qt_resolved *rt = res ? &res->t[i] : NULL;
        double b = qt_deploy_tensor_bytes(t, rt && rt->quantized ? rt->s : NULL, rt ? rt->actorder : NULL);
        out->weights_bytes += b;
        if (t->mtp) { out->mtp_bytes += b; continue; }
        if (replicated(t->role)) out->replicated_bytes += b;
        if (is_expert(t->role)) expert_bytes += b;
        else if (t->role != QT_ROLE_EMBED) other_active += b;
    }
    /* MTP tensors follow the same split rules */
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!t->mtp || !replicated(t->role)) continue;
        const struct qt_resolved *rt = res ? &res->t[i] : NULL;
        out->replicated_bytes += qt_deploy_tensor_bytes(t, rt && rt->quantized ? rt->s : NULL, rt ? rt->actorder : NULL);
    }
    double frac = c->n_experts > 0 && c->top_k > 0 ? (double)c->top_k / c->n_experts : 1.0;
    if (frac > 1) frac = 1;
    out->active_bytes = other_active + expert_bytes * frac;

    /* KV cache element size */
    int kvb = o->kv_bytes;
    if (kvb <= 0 && r)
        for (int i = 0; i < r->n_mods; i++)
            if (r->mods[i].kv_bits > 0) kvb = (r->mods[i].kv_bits + 7) / 8;
    if (kvb <= 0) kvb = (int)qt_dtype_size(c->dtype == QT_DT_F32 ? QT_DT_F32 : c->dtype == QT_DT_F16 ? QT_DT_F16 : QT_DT_BF16);
    out->kv_bytes = kvb;
    out->kv_mla = c->kv_lora_rank > 0;
    if (out->kv_mla)
        out->kv_bytes_per_token = (double)c->n_layers * (c->kv_lora_rank + c->qk_rope_head_dim) * kvb;
    else
        out->kv_bytes_per_token = 2.0 * c->n_layers * c->n_kv_heads * c->head_dim * kvb;

    double need = (double)out->ctx * out->batch;
    for (int k = 0; k < QT_DEPLOY_NTP; k++) {
        struct qt_deploy_tp *p = &out->per_gpu[k];
        int tp = qt_deploy_tps[k];
        p->tp = tp;
        p->weights_bytes = (out->weights_bytes - out->replicated_bytes) / tp + out->replicated_bytes;
        int split = out->kv_mla ? 1 : (c->n_kv_heads > 0 && c->n_kv_heads < tp ? c->n_kv_heads : tp);
        p->kv_bytes_per_token = out->kv_bytes_per_token / split;
        double usable = o->gpu->mem_bytes * out->util - p->weights_bytes;
        if (usable > 0 && p->kv_bytes_per_token > 0) {
            p->max_tokens = (int64_t)floor(usable / p->kv_bytes_per_token);
            p->max_ctx = p->max_tokens / out->batch;
            if (out->ctx_limit > 0 && p->max_ctx > out->ctx_limit) p->max_ctx = out->ctx_limit;
            p->concurrency = (double)p->max_tokens / (double)out->ctx;
        }
        p->fits = usable > 0 && (double)p->max_tokens >= need;
        if (p->fits && !out->gpus_needed) out->gpus_needed = tp;
    }
    out->tp = o->tp > 0 ? o->tp : out->gpus_needed ? out->gpus_needed : 8;
    double agg = out->tp * o->gpu->bw_bytes;
    out->tok_s_bound = out->active_bytes > 0 ? agg / out->active_bytes : 0;
    double with_kv = out->active_bytes + out->kv_bytes_per_token * (double)out->ctx;
    out->tok_s_bound_ctx = with_kv > 0 ? agg / with_kv : 0;
    out->cost_per_hour = out->tp * o->gpu->price_hour;
    double tok_h = out->tok_s_bound * out->batch * 3600.0;
    out->cost_per_mtok = tok_h > 0 ? out->cost_per_hour / tok_h * 1e6 : 0;
    return QT_OK;
}
