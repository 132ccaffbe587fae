/* ct_read.c — compressed-tensors checkpoints as logical, dequantized weights. */
#include "model/ct_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "base/hmap.h"
#include "model/match.h"
#include "quant/pack.h"
#include "quant/scheme.h"

struct ct_group {
    char name[64];
    char format[32];
    struct qt_scheme s;
    char scheme[QT_SCHEME_STR_MAX];
    int n_targets;
    struct qt_pattern *targets;   /* (n_targets) */
};

struct ct_mod {
    int group;
    enum qt_dtype wdt;            /* scale dtype = dtype of the logical weight */
    int64_t rows, cols;
    const void *q;                /* (rows, words(cols)) I32 packed, or (rows, cols) I8 / F8 */
    enum qt_dtype qdt;
    int packed;
    const void *scale;            /* (srows, scols) in wdt */
    int64_t srows, scols;
    int8_t *zp;                   /* (srows, scols) unpacked zero points, NULL when symmetric */
    int32_t *g_idx;               /* (cols) group of each input column (GPTQ actorder group), or NULL */
    int li;                       /* index in the loader's list while attaching */
};

struct ct_model {
    char format[32];
    int n_groups;
    struct ct_group *groups;      /* (n_groups) */
    int n, cap;
    struct ct_mod *mods;          /* (n) */
};

void qt_ct_free(void *p) {
    struct ct_model *c = p;
    if (!c) return;
    for (int g = 0; g < c->n_groups; g++) {
        for (int k = 0; k < c->groups[g].n_targets; k++) qt_pattern_free(&c->groups[g].targets[k]);
        free(c->groups[g].targets);
    }
    free(c->groups);
    for (int i = 0; i < c->n; i++) {
        free(c->mods[i].zp);
        free(c->mods[i].g_idx);
    }
    free(c->mods);
    free(c);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jint(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}
static int jbool(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* QuantizationArgs (weights, input_activations) -> scheme. */
static int args_to_scheme(const cJSON *w, const cJSON *a, struct qt_scheme *s, const char *where, qt_err *err) {
    memset(s, 0, sizeof *s);
    if (!cJSON_IsObject(w)) return qt_err_set(err, "%s: no weights arguments", where);
    const char *type = jstr(w, "type") ? jstr(w, "type") : "int";
    const char *strat = jstr(w, "strategy");
    s->bits = jint(w, "num_bits", 8);
    s->sym = jbool(w, "symmetric", 1);
    int gs = jint(w, "group_size", 0);
    if (!strcmp(type, "int")) s->kind = QT_SCHEME_INT;
    else if (!strcmp(type, "float") && s->bits == 8) s->kind = QT_SCHEME_FP8;
    else return qt_err_set(err, "%s: weights of type %s with %d bits are not readable", where, type, s->bits);
    if (s->bits < 1 || s->bits > 8)   /* packing and unpacking shift by bits - 1 */
        return qt_err_set(err, "%s: weights of %d bits are not readable (1 to 8)", where, s->bits);
    if (!strat) strat = gs > 0 ? "group" : gs == -1 ? "channel" : "tensor";
    if (!strcmp(strat, "tensor")) s->strategy = QT_STRAT_TENSOR;
    else if (!strcmp(strat, "channel")) s->strategy = QT_STRAT_CHANNEL;
    else if (!strcmp(strat, "group") && gs > 0) { s->strategy = QT_STRAT_GROUP; s->group = gs; }
    else if (!strcmp(strat, "block")) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(w, "block_structure");
        if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(b, 0)) ||
            cJSON_GetArrayItem(b, 0)->valueint != cJSON_GetArrayItem(b, 1)->valueint ||
            cJSON_GetArrayItem(b, 0)->valueint < 1 || cJSON_GetArrayItem(b, 0)->valueint > (1 << 20))
            return qt_err_set(err, "%s: block strategy needs a square block_structure of 1 to 2^20", where);
        s->strategy = QT_STRAT_BLOCK;
        s->group = cJSON_GetArrayItem(b, 0)->valueint;
    } else {
        return qt_err_set(err, "%s: weight strategy \"%s\" is not readable", where, strat);
    }
    s->act = QT_ACT_NONE;
    if (cJSON_IsObject(a)) {
        const char *at = jstr(a, "type") ? jstr(a, "type") : "int";
        const char *as = jstr(a, "strategy") ? jstr(a, "strategy") : "tensor";
        int dyn = jbool(a, "dynamic", 0);
        if (!strcmp(at, "int") && !strcmp(as, "token")) s->act = QT_ACT_INT8_TOK;
        else if (!strcmp(at, "int") && !strcmp(as, "tensor") && !dyn) s->act = QT_ACT_INT8_TENSOR;
        else if (!strcmp(at, "float") && !strcmp(as, "token")) s->act = QT_ACT_FP8_TOK;
        else if (!strcmp(at, "float") && !strcmp(as, "tensor") && !dyn) s->act = QT_ACT_FP8_TENSOR;
        else if (!strcmp(at, "float") && !strcmp(as, "group")) s->act = QT_ACT_FP8_G128;
        else return qt_err_set(err, "%s: input activations %s/%s are not readable", where, at, as);
    }
    return QT_OK;
}

static int parse_groups(struct ct_model *c, const cJSON *q, const char *cfg, qt_err *err) {
    const cJSON *cg = cJSON_GetObjectItemCaseSensitive(q, "config_groups");
    const char *fmt = jstr(q, "format");
    snprintf(c->format, sizeof c->format, "%s", fmt ? fmt : "");
    if (!cJSON_IsObject(cg)) return qt_err_set(err, "%s: quantization_config has no config_groups", cfg);
    int n = cJSON_GetArraySize(cg);
    c->groups = calloc((size_t)n + 1, sizeof *c->groups);
    if (!c->groups) return qt_err_set(err, "out of memory");
    const cJSON *g;
    char where[300];
    cJSON_ArrayForEach(g, cg) {
        struct ct_group *G = &c->groups[c->n_groups++];
        snprintf(G->name, sizeof G->name, "%s", g->string);
        snprintf(where, sizeof where, "%s: config group %s", cfg, g->string);
        const char *gf = jstr(g, "format");
        snprintf(G->format, sizeof G->format, "%s", gf ? gf : fmt ? fmt : "");
        if (args_to_scheme(cJSON_GetObjectItemCaseSensitive(g, "weights"),
                           cJSON_GetObjectItemCaseSensitive(g, "input_activations"), &G->s, where, err) != QT_OK)
            return QT_ERR;
        qt_scheme_format(&G->s, G->scheme, sizeof G->scheme);
        const cJSON *tg = cJSON_GetObjectItemCaseSensitive(g, "targets");
        int nt = cJSON_IsArray(tg) ? cJSON_GetArraySize(tg) : 0;
        G->targets = calloc((size_t)nt + 1, sizeof *G->targets);
        if (!G->targets) return qt_err_set(err, "out of memory");
        const cJSON *t;
        cJSON_ArrayForEach(t, tg) {
            if (!cJSON_IsString(t)) continue;
            if (qt_pattern_compile(t->valuestring, &G->targets[G->n_targets], err) != QT_OK)
                return qt_err_prefix(err, "%s", where);
            G->n_targets++;
        }
    }
    return QT_OK;
}

/* The config group of a module: the strongest target match (exact > regex > class). */
static int group_of(const struct qt_model *m, const struct ct_model *c, const char *module, const char *wname) {
    int layer, expert;
    struct qt_mclass cls;
    qt_model_classes(m, qt_classify(wname, &layer, &expert), &cls);
    int best = -1;
    enum qt_match_kind bk = QT_MATCH_NONE;
    for (int g = 0; g < c->n_groups; g++)
        for (int k = 0; k < c->groups[g].n_targets; k++) {
            enum qt_match_kind mk = qt_pattern_match(&c->groups[g].targets[k], module, &cls, NULL);
            if (mk > bk) { bk = mk; best = g; }
        }
    if (best < 0 && c->n_groups == 1) best = 0;
    return best;
}

static void scale_grid(const struct qt_scheme *s, int64_t rows, int64_t cols, int64_t *sr, int64_t *sc) {
    switch (s->strategy) {
    case QT_STRAT_CHANNEL: *sr = rows; *sc = 1; break;
    case QT_STRAT_GROUP: *sr = rows; *sc = (cols + s->group - 1) / s->group; break;   /* [N, ceil(K/g)] */
    case QT_STRAT_BLOCK: *sr = (rows + s->group - 1) / s->group; *sc = (cols + s->group - 1) / s->group; break;
    default: *sr = 1; *sc = 1; break;
    }
}

static int64_t numel(const struct qt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

/* Builds module index mi from the list entries of module `mod`. */
static int add_module(struct qt_model *m, struct ct_model *c, struct qt_tensor_list *l, const struct qt_hmap *h,
                      const char *mod, int i_scale, char *drop, qt_err *err) {
    char nm[700];
    snprintf(nm, sizeof nm, "%s.weight_packed", mod);
    int iq = qt_hmap_get(h, nm), packed = iq >= 0;
    if (!packed) {
        snprintf(nm, sizeof nm, "%s.weight", mod);
        iq = qt_hmap_get(h, nm);
        if (iq < 0) return QT_OK;   /* a scale without a weight: leave it alone */
        if (l->v[iq].dtype != QT_DT_I8 && l->v[iq].dtype != QT_DT_F8_E4M3) return QT_OK;
    }
    snprintf(nm, sizeof nm, "%s.weight", mod);
    int g = group_of(m, c, mod, nm);
    if (g < 0) return qt_err_set(err, "%s: %s: quantized, but no config group targets it", m->path, mod);
    const struct ct_group *G = &c->groups[g];
    struct qt_tensor *q = &l->v[iq], *s = &l->v[i_scale];
    struct ct_mod cm;
    memset(&cm, 0, sizeof cm);
    cm.group = g;
    cm.wdt = s->dtype;
    cm.packed = packed;
    cm.qdt = q->dtype;
    if (cm.wdt != QT_DT_BF16 && cm.wdt != QT_DT_F16 && cm.wdt != QT_DT_F32)
        return qt_err_set(err, "%s: %s.weight_scale: dtype %s (expected BF16, F16 or F32)", m->path, mod, qt_dtype_name(cm.wdt));
    if (packed) {
        snprintf(nm, sizeof nm, "%s.weight_shape", mod);
        int ish = qt_hmap_get(h, nm);
        if (ish < 0 || l->v[ish].dtype != QT_DT_I64 || numel(&l->v[ish]) != 2 || !l->v[ish].data)
            return qt_err_set(err, "%s: %s: weight_packed without an I64 [2] weight_shape", m->path, mod);
        int64_t shp[2];
        memcpy(shp, l->v[ish].data, sizeof shp);   /* safetensors data need not be aligned */
        /* from the file: bound before any size arithmetic (2^40 elements a side) */
        if (shp[0] < 1 || shp[1] < 1 || shp[0] > ((int64_t)1 << 40) || shp[1] > ((int64_t)1 << 40))
            return qt_err_set(err, "%s: %s.weight_shape: [%lld, %lld] is not a matrix shape", m->path, mod,
                              (long long)shp[0], (long long)shp[1]);
        cm.rows = shp[0];
        cm.cols = shp[1];
        drop[ish] = 1;
        if (G->s.kind != QT_SCHEME_INT)
            return qt_err_set(err, "%s: %s: weight_packed under a %s group", m->path, mod, G->scheme);
        if (q->dtype != QT_DT_I32 || q->ndim != 2 || q->shape[0] != cm.rows || q->shape[1] != qt_pack_words(cm.cols, G->s.bits))
            return qt_err_set(err, "%s: %s.weight_packed: shape/dtype do not match weight_shape [%lld, %lld] at %d bits",
                              m->path, mod, (long long)cm.rows, (long long)cm.cols, G->s.bits);
    } else {
        if (q->ndim != 2) return qt_err_set(err, "%s: %s.weight: expected 2 dimensions", m->path, mod);
        cm.rows = q->shape[0];
        cm.cols = q->shape[1];
        if ((q->dtype == QT_DT_I8) != (G->s.kind == QT_SCHEME_INT))
            return qt_err_set(err, "%s: %s.weight: %s under a %s group", m->path, mod, qt_dtype_name(q->dtype), G->scheme);
    }
    if (cm.rows <= 0 || cm.cols <= 0 ||
        (G->s.strategy == QT_STRAT_GROUP && cm.cols % G->s.group && G->s.kind != QT_SCHEME_INT))
        return qt_err_set(err, "%s: %s: shape [%lld, %lld] does not fit %s", m->path, mod, (long long)cm.rows,
                          (long long)cm.cols, G->scheme);
    scale_grid(&G->s, cm.rows, cm.cols, &cm.srows, &cm.scols);
    if (numel(s) != cm.srows * cm.scols)
        return qt_err_set(err, "%s: %s.weight_scale: %lld values, %s needs %lld x %lld", m->path, mod,
                          (long long)numel(s), G->scheme, (long long)cm.srows, (long long)cm.scols);
    if (!q->data || !s->data) return qt_err_set(err, "%s: %s: no data", m->path, mod);
    cm.q = q->data;
    cm.scale = s->data;
    if (!G->s.sym && G->s.kind == QT_SCHEME_INT) {
        snprintf(nm, sizeof nm, "%s.weight_zero_point", mod);
        int iz = qt_hmap_get(h, nm);
        if (iz < 0) return qt_err_set(err, "%s: %s: asymmetric without weight_zero_point", m->path, mod);
        const struct qt_tensor *z = &l->v[iz];
        int64_t nz = cm.srows * cm.scols;
        cm.zp = malloc((size_t)nz);
        if (!cm.zp) return qt_err_set(err, "out of memory");
        if (z->dtype == QT_DT_I32 && packed && numel(z) == qt_pack_words(cm.srows, G->s.bits) * cm.scols) {
            /* aligned copy: the file puts the words at any offset */
            int32_t *zw = malloc((size_t)numel(z) * sizeof *zw);
            if (!zw) { free(cm.zp); return qt_err_set(err, "out of memory"); }
            memcpy(zw, z->data, (size_t)numel(z) * sizeof *zw);
            qt_unpack_cols(zw, cm.srows, cm.scols, G->s.bits, cm.zp);
            free(zw);
        } else if (z->dtype == QT_DT_I8 && numel(z) == nz) {
            memcpy(cm.zp, z->data, (size_t)nz);
        } else {
            free(cm.zp);
            return qt_err_set(err, "%s: %s.weight_zero_point: shape/dtype do not match the scales", m->path, mod);
        }
        drop[iz] = 1;
    }
    snprintf(nm, sizeof nm, "%s.weight_g_idx", mod);
    int ig = qt_hmap_get(h, nm);
    if (ig >= 0) {   /* activation-order groups: column j uses scale column g_idx[j] */
        const struct qt_tensor *gt = &l->v[ig];
        if (G->s.strategy != QT_STRAT_GROUP || gt->dtype != QT_DT_I32 || numel(gt) != cm.cols || !gt->data) {
            free(cm.zp);
            return qt_err_set(err, "%s: %s.weight_g_idx: expected I32 [%lld] under a group scheme", m->path, mod,
                              (long long)cm.cols);
        }
        cm.g_idx = malloc(sizeof(int32_t) * (size_t)cm.cols);
        if (!cm.g_idx) { free(cm.zp); return qt_err_set(err, "out of memory"); }
        memcpy(cm.g_idx, gt->data, sizeof(int32_t) * (size_t)cm.cols);
        for (int64_t j = 0; j < cm.cols; j++)
            if (cm.g_idx[j] < 0 || cm.g_idx[j] >= cm.scols) {
                free(cm.zp);
                free(cm.g_idx);
                return qt_err_set(err, "%s: %s.weight_g_idx[%lld] = %d: out of range (%lld groups)", m->path, mod,
                                  (long long)j, cm.g_idx[j], (long long)cm.scols);
            }
        drop[ig] = 1;
    }
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 256;
        struct ct_mod *nm2 = realloc(c->mods, (size_t)nc * sizeof *nm2);
        if (!nm2) { free(cm.zp); free(cm.g_idx); return qt_err_set(err, "out of memory"); }
        c->mods = nm2;
        c->cap = nc;
    }
    cm.li = iq;
    c->mods[c->n++] = cm;
    /* the packed / stored weight becomes the logical weight (renamed once
     * the name map, which borrows the names, is gone) */
    q->dtype = cm.wdt;
    q->ndim = 2;
    q->shape[0] = cm.rows;
    q->shape[1] = cm.cols;
    q->data = NULL;
    q->ct = c->n;
    drop[i_scale] = 1;
    return QT_OK;
}

int qt_ct_attach(struct qt_model *m, struct qt_tensor_list *l, const char *cfg_path, qt_err *err) {
    char *text = qt_read_file(cfg_path, NULL, err);
    if (!text) return QT_ERR;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *q = root ? cJSON_GetObjectItemCaseSensitive(root, "quantization_config") : NULL;
    const char *qm = q ? jstr(q, "quant_method") : NULL;
    if (!qm || strcmp(qm, "compressed-tensors")) { cJSON_Delete(root); return QT_OK; }
    struct ct_model *c = calloc(1, sizeof *c);
    char *drop = calloc((size_t)l->n + 1, 1);
    struct qt_hmap h;
    memset(&h, 0, sizeof h);
    int rc = QT_OK;
    if (!c || !drop || qt_hmap_init(&h, (size_t)l->n) != QT_OK) rc = qt_err_set(err, "out of memory");
    if (rc == QT_OK) rc = parse_groups(c, q, cfg_path, err);
    cJSON_Delete(root);
    for (int i = 0; i < l->n && rc == QT_OK; i++)
        if (qt_hmap_put(&h, l->v[i].name, i) != QT_OK) rc = qt_err_set(err, "out of memory");
    char mod[600];
    for (int i = 0; i < l->n && rc == QT_OK; i++) {
        const char *n = l->v[i].name;
        if (!qt_str_ends_with(n, ".weight_scale")) continue;
        snprintf(mod, sizeof mod, "%.*s", (int)(strlen(n) - strlen(".weight_scale")), n);
        rc = add_module(m, c, l, &h, mod, i, drop, err);
    }
    qt_hmap_free(&h);
    for (int i = 0; c && i < c->n && rc == QT_OK; i++) {
        struct qt_tensor *lt = &l->v[c->mods[i].li];
        if (!qt_str_ends_with(lt->name, "_packed")) continue;
        lt->name[strlen(lt->name) - strlen("_packed")] = 0;
    }
    if (rc != QT_OK) { free(drop); qt_ct_free(c); return QT_ERR; }
    int k = 0;
    for (int i = 0; i < l->n; i++) {
        if (drop[i]) { free(l->v[i].name); free(l->v[i].source); continue; }
        l->v[k++] = l->v[i];
    }
    l->n = k;
    free(drop);
    m->ct = c;
    return QT_OK;
}

static float to_w(enum qt_dtype dt, float x) {
    if (dt == QT_DT_BF16) return qt_bf16_to_f32(qt_f32_to_bf16(x));
    if (dt == QT_DT_F16) return qt_f16_to_f32(qt_f32_to_f16(x));
    return x;
}

int qt_ct_read_f32(const struct qt_model *m, const struct qt_tensor *t, int64_t row0, int64_t nrows, float *out,
                   qt_err *err) {
    const struct ct_model *c = m->ct;
    if (!c || t->ct < 1 || t->ct > c->n) return qt_err_set(err, "%s: not a compressed-tensors module", t->name);
    const struct ct_mod *cm = &c->mods[t->ct - 1];
    const struct qt_scheme *s = &c->groups[cm->group].s;
    int64_t R = cm->rows, C = cm->cols;
    if (row0 < 0 || nrows < 0 || row0 + nrows > R)
        return qt_err_set(err, "%s: rows [%lld, %lld) out of range (%lld rows)", t->name, (long long)row0,
                          (long long)(row0 + nrows), (long long)R);
    int64_t words = cm->packed ? qt_pack_words(C, s->bits) : 0;
    int8_t *codes = malloc((size_t)C);            /* (C) one row of codes */
    float *srow = malloc((size_t)cm->scols * sizeof *srow);   /* (scols) the row's scales */
    int32_t *wrow = malloc((size_t)(words ? words : 1) * sizeof *wrow);   /* (words) the row's packed words */
    if (!codes || !srow || !wrow) { free(codes); free(srow); free(wrow); return qt_err_set(err, "out of memory"); }
    size_t ss = qt_dtype_size(cm->wdt);
    for (int64_t r = row0; r < row0 + nrows; r++) {
        float *o = out + (r - row0) * C;
        /* the packed tensor sits at whatever offset the file gives it: copy
         * the row to aligned words rather than load int32 in place */
        if (cm->packed) {
            memcpy(wrow, (const uint8_t *)cm->q + (size_t)(r * words) * sizeof *wrow, (size_t)words * sizeof *wrow);
            qt_unpack_rows(wrow, 1, C, s->bits, codes);
        }
        else memcpy(codes, (const int8_t *)cm->q + r * C, (size_t)C);
        int64_t sr = s->strategy == QT_STRAT_TENSOR ? 0 : s->strategy == QT_STRAT_BLOCK ? r / s->group : r;
        qt_dtype_to_f32(cm->wdt, (const uint8_t *)cm->scale + (size_t)(sr * cm->scols) * ss, srow, (size_t)cm->scols);
        const int8_t *zrow = cm->zp ? cm->zp + sr * cm->scols : NULL;
        int64_t div = s->strategy == QT_STRAT_GROUP || s->strategy == QT_STRAT_BLOCK ? s->group : C;
        for (int64_t j = 0; j < C; j++) {
            int64_t sc = s->strategy == QT_STRAT_TENSOR || s->strategy == QT_STRAT_CHANNEL ? 0
                       : cm->g_idx ? cm->g_idx[j] : j / div;
            float q = s->kind == QT_SCHEME_FP8 ? qt_fp8e4m3_to_f32((uint8_t)codes[j]) : (float)codes[j];
            float zp = zrow ? (float)zrow[sc] : 0.0f;
            o[j] = to_w(cm->wdt, (q - zp) * srow[sc]);
        }
    }
    free(codes);
    free(srow);
    free(wrow);
    return QT_OK;
}

int qt_ct_info(const struct qt_model *m, const struct qt_tensor *t, const char **scheme, const char **format,
               const char **group) {
    const struct ct_model *c = m->ct;
    if (!c || t->ct < 1 || t->ct > c->n) return 0;
    const struct ct_group *G = &c->groups[c->mods[t->ct - 1].group];
    if (scheme) *scheme = G->scheme;
    if (format) *format = G->format;
    if (group) *group = G->name;
    return 1;
}

const char *qt_ct_format(const struct qt_model *m) {
    const struct ct_model *c = m->ct;
    return c ? c->format : NULL;
}
