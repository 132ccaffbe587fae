/* gguf_write.c — the GGUF writer: keys, tokenizer, tensors, splits. */
#include "io/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "backend/backend.h"
#include "eval/calib.h"
#include "io/outdir.h"
#include "model/gguf.h"
#include "quant/ggml_quants.h"

/* ---- a growing byte buffer with GGUF's encodings -------------------------- */

struct gbuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
    int64_t n_kv;             /* keys appended */
};

static void gb_put(struct gbuf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n) c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gb_u32(struct gbuf *b, uint32_t v) { gb_put(b, &v, 4); }
static void gb_u64(struct gbuf *b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_strn(struct gbuf *b, const char *s, size_t n) { gb_u64(b, n); gb_put(b, s, n); }
static void gb_str(struct gbuf *b, const char *s) { gb_strn(b, s, strlen(s)); }
static void kv_head(struct gbuf *b, const char *key, int type) { gb_str(b, key); gb_u32(b, (uint32_t)type); b->n_kv++; }
static void kv_u32(struct gbuf *b, const char *key, uint32_t v) { kv_head(b, key, QT_GGUF_U32); gb_u32(b, v); }
static void kv_i32(struct gbuf *b, const char *key, int32_t v) { kv_head(b, key, QT_GGUF_I32); gb_put(b, &v, 4); }
static void kv_u16(struct gbuf *b, const char *key, uint16_t v) { kv_head(b, key, QT_GGUF_U16); gb_put(b, &v, 2); }
static void kv_f32(struct gbuf *b, const char *key, float v) { kv_head(b, key, QT_GGUF_F32); gb_put(b, &v, 4); }
static void kv_bool(struct gbuf *b, const char *key, int v) { uint8_t c = v != 0; kv_head(b, key, QT_GGUF_BOOL); gb_put(b, &c, 1); }
static void kv_str(struct gbuf *b, const char *key, const char *v) { kv_head(b, key, QT_GGUF_STR); gb_str(b, v); }
static void kv_arr(struct gbuf *b, const char *key, int et, uint64_t n) {
    kv_head(b, key, QT_GGUF_ARR);
    gb_u32(b, (uint32_t)et);
    gb_u64(b, n);
}

/* ---- imatrix -------------------------------------------------------------- */

void qt_imatrix_free(struct qt_imatrix *im) {
    for (int i = 0; i < im->n; i++) { free(im->name[i]); free(im->v[i]); }
    free(im->name);
    free(im->len);
    free(im->v);
    free(im->source);
    memset(im, 0, sizeof *im);
}

const float *qt_imatrix_find(const struct qt_imatrix *im, const char *name, int64_t *len) {
    if (!im) return NULL;
    for (int i = 0; i < im->n; i++)
        if (!strcmp(im->name[i], name)) { *len = im->len[i]; return im->v[i]; }
    return NULL;
}

static int im_add(struct qt_imatrix *im, const char *name, size_t nl, int64_t len, float **v) {
    char **nn = realloc(im->name, (size_t)(im->n + 1) * sizeof *nn);
    if (nn) im->name = nn;
    int64_t *ll = realloc(im->len, (size_t)(im->n + 1) * sizeof *ll);
    if (ll) im->len = ll;
    float **vv = realloc(im->v, (size_t)(im->n + 1) * sizeof *vv);
    if (vv) im->v = vv;
    if (!nn || !ll || !vv) return QT_ERR;
    im->name[im->n] = malloc(nl + 1);
    im->v[im->n] = malloc((size_t)(len ? len : 1) * sizeof(float));
    if (!im->name[im->n] || !im->v[im->n]) { free(im->name[im->n]); free(im->v[im->n]); return QT_ERR; }
    memcpy(im->name[im->n], name, nl);
    im->name[im->n][nl] = 0;
    im->len[im->n] = len;
    *v = im->v[im->n];
    im->n++;
    return QT_OK;
}

int qt_imatrix_from_calib(const struct qt_model *m, const struct qt_calib *c, const struct qt_gguf_plan *p,
                          struct qt_imatrix *im, qt_err *err) {
    memset(im, 0, sizeof *im);
    for (int i = 0; i < p->n; i++) {
        const struct qt_gguf_out *o = &p->t[i];
        if (!o->quantizable) continue;
        int any = 0;
        for (int e = 0; e < o->n_src && !any; e++) {
            int ti = o->src[e];
            any = ti < c->n && c->sumsq[ti] && c->count[ti] > 0;
        }
        if (!any) continue;
        float *v;
        if (im_add(im, o->name, strlen(o->name), o->ne[0] * o->n_src, &v) != QT_OK) {
            qt_imatrix_free(im);
            return qt_err_set(err, "out of memory");
        }
        for (int e = 0; e < o->n_src; e++) {
            float *d = v + (size_t)e * (size_t)o->ne[0];
            if (qt_calib_importance(c, m, o->src[e], d) != 0)
                for (int64_t k = 0; k < o->ne[0]; k++) d[k] = 1;
        }
    }
    im->source = qt_strdup("calibration");
    return QT_OK;
}

static int im_legacy(const char *path, const uint8_t *d, size_t n, struct qt_imatrix *im, qt_err *err) {
    size_t at = 0;
#define RD(dst, k) do { if ((k) > n - at) { qt_imatrix_free(im); return qt_err_set(err, "%s: truncated imatrix file", path); } \
                        memcpy((dst), d + at, (k)); at += (k); } while (0)
    int32_t ne;
    RD(&ne, 4);
    if (ne < 1 || ne > 1000000) return qt_err_set(err, "%s: not an imatrix file (%d entries)", path, ne);
    for (int32_t i = 0; i < ne; i++) {
        int32_t l, ncall, nval;
        RD(&l, 4);
        if (l < 1 || (size_t)l > n - at || l > 4096) { qt_imatrix_free(im); return qt_err_set(err, "%s: bad entry name", path); }
        const char *nm = (const char *)d + at;
        at += (size_t)l;
        RD(&ncall, 4);
        RD(&nval, 4);
        if (nval < 1 || (size_t)nval > (n - at) / 4) { qt_imatrix_free(im); return qt_err_set(err, "%s: bad entry size", path); }
        float *v;
        if (im_add(im, nm, (size_t)l, nval, &v) != QT_OK) { qt_imatrix_free(im); return qt_err_set(err, "out of memory"); }
        memcpy(v, d + at, (size_t)nval * 4);
        at += (size_t)nval * 4;
        if (ncall > 0)
            for (int32_t j = 0; j < nval; j++) v[j] = v[j] / (float)(int64_t)ncall;
    }
#undef RD
    return QT_OK;
}

int qt_imatrix_load(const char *path, struct qt_imatrix *im, qt_err *err) {
    memset(im, 0, sizeof *im);
    size_t n;
    char *d = qt_read_file(path, &n, err);
    if (!d) return QT_ERR;
    int rc;
    if (n >= 4 && !memcmp(d, "GGUF", 4)) {
        free(d);
        struct qt_gguf *g;
        if (qt_gguf_open(path, &g, err) != QT_OK) return QT_ERR;
        rc = QT_OK;
        for (int64_t i = 0; i < g->n_tensors && rc == QT_OK; i++) {
            const struct qt_gguf_tensor *s = &g->t[i];
            size_t l = strlen(s->name);
            if (!qt_str_ends_with(s->name, ".in_sum2")) continue;
            char cn[512];
            snprintf(cn, sizeof cn, "%.*s.counts", (int)(l - 8), s->name);
            const struct qt_gguf_tensor *c = qt_gguf_tensor(g, cn);
            if (!c) { rc = qt_err_set(err, "%s: %s has no %s", path, s->name, cn); break; }
            if (s->type != QT_GGML_F32 || c->type != QT_GGML_F32) { rc = qt_err_set(err, "%s: %s: sums and counts must be F32", path, s->name); break; }
            int64_t nval = s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3], nc = c->ne[0] * c->ne[1] * c->ne[2] * c->ne[3];
            if (nc < 1 || nval % nc) { rc = qt_err_set(err, "%s: %s: %lld sums for %lld counts", path, s->name, (long long)nval, (long long)nc); break; }
            float *v;
            if (im_add(im, s->name, l - 8, nval, &v) != QT_OK) { rc = qt_err_set(err, "out of memory"); break; }
            const float *sum = (const float *)s->data, *cnt = (const float *)c->data;
            const int64_t ne0 = nval / nc;
            for (int64_t j = 0; j < nc; j++) {
                const float count = (float)lroundf(cnt[j]);
                for (int64_t k = 0; k < ne0; k++) v[j * ne0 + k] = count > 0.0f ? sum[j * ne0 + k] / count : 1;
            }
        }
        qt_gguf_close(g);
        if (rc == QT_OK && !im->n) rc = qt_err_set(err, "%s: a GGUF file without imatrix tensors (*.in_sum2)", path);
        if (rc != QT_OK) qt_imatrix_free(im);
    } else {
        rc = im_legacy(path, (const uint8_t *)d, n, im, err);
        free(d);
    }
    if (rc == QT_OK) im->source = qt_strdup(path);
    return rc;
}

/* ---- metadata ------------------------------------------------------------- */

static cJSON *read_json(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    size_t n;
    qt_err e;
    char *t = qt_read_file(p, &n, &e);
    if (!t) return NULL;
    cJSON *j = cJSON_ParseWithLength(t, n);
    free(t);
    return j;
}

static const char *cj_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) { v = cJSON_GetObjectItemCaseSensitive(v, "content"); if (cJSON_IsString(v)) return v->valuestring; }
    return NULL;
}

static int looks_special(const char *t) {
    size_t l = strlen(t);
    if (l >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + l - 2, "|>")) return 1;
    if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]")) return 1;
    if (l >= 8 && !strncmp(t, "<unused", 7) && t[l - 1] == '>') return 1;
    if (l >= 8 && !strncmp(t, "<\xef\xbd\x9c", 4) && !strcmp(t + l - 4, "\xef\xbd\x9c>")) return 1;
    return 0;
}

/* The tokenizer as convert_hf_to_gguf writes it for GLM (_set_vocab_glm):
 * gpt2 BPE, pre "glm4", tokens padded to the config's vocab_size with
 * [PADi], added special tokens CONTROL, merges as "a b" strings. */
static int tokenizer_keys(const struct qt_model *m, struct gbuf *b, qt_err *err) {
    cJSON *tj = read_json(m->path, "tokenizer.json");
    if (!tj) return qt_err_set(err, "%s/tokenizer.json: missing or not JSON (GGUF embeds the tokenizer)", m->path);
    cJSON *tc = read_json(m->path, "tokenizer_config.json");
    cJSON *cfg = read_json(m->path, "config.json");
    int rc = QT_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsString(type) || strcmp(type->valuestring, "BPE")) {
        rc = qt_err_set(err, "%s/tokenizer.json: not a BPE tokenizer (GGUF's gpt2 vocabulary needs one)", m->path);
        goto done;
    }
    int n = m->cfg.vocab;
    for (const cJSON *v = vocab->child; v; v = v->next)
        if (cJSON_IsNumber(v) && v->valueint >= n) n = v->valueint + 1;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (cJSON_IsNumber(id) && id->valueint >= n) n = id->valueint + 1;
    }
    if (n <= 0 || n > (1 << 24)) { rc = qt_err_set(err, "%s/tokenizer.json: bad vocabulary size", m->path); goto done; }
    const char **tok = calloc((size_t)n, sizeof *tok);
    int32_t *tt = calloc((size_t)n, sizeof *tt);
    if (!tok || !tt) { free(tok); free(tt); rc = qt_err_set(err, "out of memory"); goto done; }
    for (const cJSON *v = vocab->child; v; v = v->next)
        if (cJSON_IsNumber(v) && v->valueint >= 0) { tok[v->valueint] = v->string; tt[v->valueint] = 1; }
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const char *c = cj_str(a, "content");
        if (!cJSON_IsNumber(id) || id->valueint < 0 || !c) continue;
        tok[id->valueint] = c;
        tt[id->valueint] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special")) || looks_special(c) ? 3 : 4;
    }
    kv_str(b, "tokenizer.ggml.model", "gpt2");
    kv_str(b, "tokenizer.ggml.pre", "glm4");
    kv_arr(b, "tokenizer.ggml.tokens", QT_GGUF_STR, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        if (tok[i]) gb_str(b, tok[i]);
        else { char pad[32]; snprintf(pad, sizeof pad, "[PAD%d]", i); gb_str(b, pad); }
    }
    kv_arr(b, "tokenizer.ggml.token_type", QT_GGUF_I32, (uint64_t)n);
    for (int i = 0; i < n; i++) { int32_t v = tok[i] ? tt[i] : 5; gb_put(b, &v, 4); }
    int nm = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (nm) {
        kv_arr(b, "tokenizer.ggml.merges", QT_GGUF_STR, (uint64_t)nm);
        for (const cJSON *e = merges->child; e; e = e->next) {
            if (cJSON_IsString(e)) { gb_str(b, e->valuestring); continue; }
            /* a [left, right] pair: spaces inside a part become U+0120, as gguf-py does */
            char buf[1024];
            size_t k = 0;
            int part = 0;
            for (const cJSON *s = e->child; s && k < sizeof buf - 8; s = s->next, part++) {
                if (part) buf[k++] = ' ';
                for (const char *c = cJSON_IsString(s) ? s->valuestring : ""; *c && k < sizeof buf - 8; c++) {
                    if (*c == ' ') { buf[k++] = (char)0xC4; buf[k++] = (char)0xA0; }
                    else buf[k++] = *c;
                }
            }
            gb_strn(b, buf, k);
        }
    }
    /* special tokens: tokenizer_config first, then GLM's choices, then config.json ids */
    static const char *const typ[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot", "eom"};
    static const char *const key[] = {"bos", "eos", "unknown", "seperator", "padding", "cls", "mask", "eot", "eom"};
    int ids[9];
    for (int k = 0; k < 9; k++) ids[k] = -1;
#define FIND_ID(text, out) do { (out) = -1; for (int i_ = 0; i_ < n && (text); i_++) if (tok[i_] && !strcmp(tok[i_], (text))) { (out) = i_; break; } } while (0)
    for (int k = 0; k < 7 && tc; k++) {
        char kk[32];
        snprintf(kk, sizeof kk, "%s_token", typ[k]);
        FIND_ID(cj_str(tc, kk), ids[k]);
    }
    static const struct { int k; const char *text; } glm[] = {{0, "[gMASK]"}, {7, "<|user|>"}, {2, "<|endoftext|>"}, {8, "<|observation|>"}};
    for (size_t g = 0; g < sizeof glm / sizeof glm[0]; g++)
        if (ids[glm[g].k] < 0) FIND_ID(glm[g].text, ids[glm[g].k]);
    for (int k = 0; k < 7 && cfg; k++) {
        char kk[32];
        snprintf(kk, sizeof kk, "%s_token_id", typ[k]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, kk);
        if (ids[k] < 0 && cJSON_IsNumber(v) && v->valueint >= 0 && v->valueint < n) ids[k] = v->valueint;
    }
#undef FIND_ID
    for (int k = 0; k < 9; k++)
        if (ids[k] >= 0) {
            char kk[64];
            snprintf(kk, sizeof kk, "tokenizer.ggml.%s_token_id", key[k]);
            kv_u32(b, kk, (uint32_t)ids[k]);
        }
    /* add_bos / add_eos: a ByteLevel post-processor says no; tokenizer_config may say */
    int add[2] = {-1, -1};
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(tj, "post_processor");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (cJSON_IsString(t) && !strcmp(t->valuestring, "ByteLevel")) add[0] = add[1] = 0;
    for (int k = 0; k < 2 && tc; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(tc, k ? "add_eos_token" : "add_bos_token");
        if (cJSON_IsBool(v) && add[k] < 0) add[k] = cJSON_IsTrue(v);
    }
    if (add[0] >= 0) kv_bool(b, "tokenizer.ggml.add_bos_token", add[0]);
    if (add[1] >= 0) kv_bool(b, "tokenizer.ggml.add_eos_token", add[1]);
    const char *tmpl = tc ? cj_str(tc, "chat_template") : NULL;
    char *jinja = NULL;
    if (!tmpl) {
        char p[4200];
        size_t l;
        qt_err e;
        snprintf(p, sizeof p, "%s/chat_template.jinja", m->path);
        jinja = qt_read_file(p, &l, &e);
        tmpl = jinja;
    }
    if (tmpl) kv_str(b, "tokenizer.chat_template", tmpl);
    free(jinja);
    free(tok);
    free(tt);
done:
    cJSON_Delete(tj);
    cJSON_Delete(tc);
    cJSON_Delete(cfg);
    return rc;
}

/* A GGUF source: its tokenizer keys are copied as they are. */
static void copy_tokenizer_keys(const struct qt_gguf *g, struct gbuf *b) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        const struct qt_gguf_kv *e = &g->kv[i];
        if (strncmp(e->key, "tokenizer.", 10)) continue;
        /* the value runs from e->val (scalars, strings) or from the array header */
        const uint8_t *v0 = e->type == QT_GGUF_ARR ? e->val - 12 : e->val;
        const uint8_t *v1 = v0;
        if (e->type == QT_GGUF_STR) { uint64_t l; memcpy(&l, v0, 8); v1 = v0 + 8 + l; }
        else if (e->type == QT_GGUF_ARR) {
            size_t es = qt_gguf_vtype_size(e->arr_type);
            v1 = e->val;
            if (es) v1 += es * e->n;
            else for (uint64_t j = 0; j < e->n; j++) { uint64_t l; memcpy(&l, v1, 8); v1 += 8 + l; }
        } else v1 = v0 + qt_gguf_vtype_size(e->type);
        kv_head(b, e->key, e->type);
        gb_put(b, v0, (size_t)(v1 - v0));
    }
}

static int arch_keys(const struct qt_model *m, const struct qt_gguf_plan *p, const struct qt_gguf_write_params *wp,
                     struct gbuf *b, qt_err *err) {
    const struct qt_config *c = &m->cfg;
    if (strcmp(c->model_type, "glm4_moe"))
        return qt_err_set(err, "%s: GGUF output is written for glm4_moe models (this one is %s)", m->path, c->model_type);
    kv_str(b, "general.architecture", "glm4moe");
    kv_str(b, "general.type", "model");
    const char *base = strrchr(m->path, '/');
    kv_str(b, "general.name", base && base[1] ? base + 1 : m->path);
    int ft = p->ftype_id;
    if (ft < 0) ft = c->dtype == QT_DT_F32 ? 0 : c->dtype == QT_DT_F16 ? 1 : 32;
    kv_u32(b, "general.file_type", (uint32_t)ft);
    kv_u32(b, "general.quantization_version", 2);
    kv_str(b, "general.quantized_by", "qtune " QT_VERSION);
    (void)wp;
    int ctx = 0;
    int64_t v;
    if (m->gguf && !qt_gguf_get_i64(m->gguf, "glm4moe.context_length", &v)) ctx = (int)v;
    cJSON *cfg = m->gguf ? NULL : read_json(m->path, "config.json");
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(cfg, "max_position_embeddings");
    if (cJSON_IsNumber(mp)) ctx = mp->valueint;
    int has_head_dim = m->gguf || cJSON_GetObjectItemCaseSensitive(cfg, "head_dim");
    cJSON_Delete(cfg);
    kv_u32(b, "glm4moe.block_count", (uint32_t)(c->n_layers + c->n_mtp));
    if (ctx > 0) kv_u32(b, "glm4moe.context_length", (uint32_t)ctx);
    kv_u32(b, "glm4moe.embedding_length", (uint32_t)c->hidden);
    kv_u32(b, "glm4moe.feed_forward_length", (uint32_t)c->intermediate);
    kv_u32(b, "glm4moe.attention.head_count", (uint32_t)c->n_heads);
    kv_u32(b, "glm4moe.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    kv_f32(b, "glm4moe.rope.freq_base", (float)c->rope_theta);
    kv_f32(b, "glm4moe.attention.layer_norm_rms_epsilon", (float)c->rms_eps);
    kv_u32(b, "glm4moe.expert_count", (uint32_t)c->n_experts);
    kv_u32(b, "glm4moe.expert_used_count", (uint32_t)c->top_k);
    if (c->n_group > 0) kv_u32(b, "glm4moe.expert_group_count", (uint32_t)c->n_group);
    if (c->topk_group > 0) kv_u32(b, "glm4moe.expert_group_used_count", (uint32_t)c->topk_group);
    if (has_head_dim) {
        kv_u32(b, "glm4moe.attention.key_length", (uint32_t)c->head_dim);
        kv_u32(b, "glm4moe.attention.value_length", (uint32_t)c->head_dim);
    }
    double prf = c->partial_rotary > 0 ? c->partial_rotary : 0.5;
    kv_u32(b, "glm4moe.rope.dimension_count", (uint32_t)(int)(c->head_dim * prf));
    kv_u32(b, "glm4moe.expert_feed_forward_length", (uint32_t)c->moe_intermediate);
    kv_u32(b, "glm4moe.expert_shared_count", (uint32_t)c->n_shared_experts);
    kv_u32(b, "glm4moe.leading_dense_block_count", (uint32_t)c->first_k_dense);
    kv_u32(b, "glm4moe.expert_gating_func", 2);   /* sigmoid */
    if (c->routed_scaling > 0) kv_f32(b, "glm4moe.expert_weights_scale", (float)c->routed_scaling);
    kv_bool(b, "glm4moe.expert_weights_norm", c->norm_topk_prob);
    kv_u32(b, "glm4moe.nextn_predict_layers", (uint32_t)c->n_mtp);
    if (m->gguf) {
        copy_tokenizer_keys(m->gguf, b);
        return QT_OK;
    }
    return tokenizer_keys(m, b, err);
}

/* ---- tensor data ------------------------------------------------------------ */

static int is_quantized_type(int t) { return t != QT_GGML_F32 && t != QT_GGML_F16 && t != QT_GGML_BF16; }

void qt_gguf_split_path(const char *out, int i, int n, char *buf, size_t len) {
    if (n <= 1) { snprintf(buf, len, "%s", out); return; }
    size_t l = strlen(out);
    int cut = l > 5 && !strcmp(out + l - 5, ".gguf") ? (int)(l - 5) : (int)l;
    snprintf(buf, len, "%.*s-%05d-of-%05d.gguf", cut, out, i + 1, n);
}

static int pwrite_all(int fd, const void *d, size_t n, const char *path, qt_err *err) {
    const char *p = d;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return qt_err_set(err, "%s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return QT_OK;
}

struct job {
    const struct qt_model *m;
    const struct qt_tensor *t;
    int type;
    int64_t r0, r1, cols;
    const float *im;
    uint8_t *dst;             /* rows r0.. of this job */
    float *scratch;
    qt_err err;
    int rc;
};

/* Rows [r0, r1) of one job: read, quantize, into dst. */
static void run_job(struct job *j) {
    const int64_t step = 64;
    size_t rs = qt_ggml_row_size(j->type, j->cols);
    for (int64_t r = j->r0; r < j->r1; r += step) {
        int64_t k = j->r1 - r < step ? j->r1 - r : step;
        if (qt_tensor_read_f32(j->m, j->t, r, k, j->scratch, &j->err) != QT_OK) { j->rc = QT_ERR; return; }
        if (qt_ggml_quantize(j->type, j->scratch, j->dst + (size_t)(r - j->r0) * rs, k, j->cols, j->im) != rs * (size_t)k) {
            qt_err_set(&j->err, "%s: cannot write as %s", j->t->name, qt_ggml_type_name(j->type));
            j->rc = QT_ERR;
            return;
        }
    }
    j->rc = QT_OK;
}

static void run_jobs(void *arg, int64_t i0, int64_t i1) {
    struct job *jobs = arg;
    for (int64_t i = i0; i < i1; i++)
        if (jobs[i].r0 < jobs[i].r1) run_job(&jobs[i]);
}

/* 1 when the source bytes are already the target type (a plain copy). */
static int raw_copy(const struct qt_tensor *t, int type) {
    if (!t->data || t->ct || t->scale >= 0) return 0;
    if (t->gg) return t->gg - 1 == type;
    return (t->dtype == QT_DT_BF16 && type == QT_GGML_BF16) || (t->dtype == QT_DT_F16 && type == QT_GGML_F16) ||
           (t->dtype == QT_DT_F32 && type == QT_GGML_F32);
}

struct wctx {
    const struct qt_model *m;
    const struct qt_gguf_plan *p;
    const struct qt_gguf_write_params *wp;
    int threads;
    uint8_t *buf;             /* output slab */
    size_t buf_cap;
    float *scratch;           /* (threads x 64 x max cols) */
    int64_t done, total;
    int n_quant, n_kept;
};

/* Writes one planned tensor's data (padded to the alignment) to fd. */
static int write_tensor(struct wctx *w, int fd, const char *path, const struct qt_gguf_out *o, qt_err *err) {
    const int64_t cols = o->ne[0], rows = o->ne[1];
    const size_t rs = qt_ggml_row_size(o->type, cols);
    if (!rs) return qt_err_set(err, "%s: row length %lld does not fit %s", o->name, (long long)cols, qt_ggml_type_name(o->type));
    int64_t imlen = 0;
    const float *im = NULL;
    if (is_quantized_type(o->type) && w->wp->imatrix) {
        im = qt_imatrix_find(w->wp->imatrix, o->name, &imlen);
        if (im && imlen != cols * o->ne[2]) {
            if (strcmp(o->name, "token_embd.weight"))
                return qt_err_set(err, "%s: imatrix has %lld values for %s, which needs %lld", w->wp->imatrix->source,
                                  (long long)imlen, o->name, (long long)(cols * o->ne[2]));
            im = NULL;
        }
    }
    for (int e = 0; e < o->n_src; e++) {
        const struct qt_tensor *t = &w->m->tensors[o->src[e]];
        const float *ime = im ? im + (size_t)e * (size_t)cols : NULL;
        if (raw_copy(t, o->type)) {
            if (pwrite_all(fd, t->data, rs * (size_t)rows, path, err) != QT_OK) return QT_ERR;
        } else {
            /* slabs of rows, split across the threads */
            int64_t slab = (int64_t)((64u << 20) / (rs ? rs : 1));
            if (slab < 64) slab = 64;
            if (slab > rows) slab = rows;
            size_t need = rs * (size_t)slab;
            if (need > w->buf_cap) {
                uint8_t *nb = realloc(w->buf, need);
                if (!nb) return qt_err_set(err, "out of memory");
                w->buf = nb;
                w->buf_cap = need;
            }
            for (int64_t r = 0; r < rows; r += slab) {
                int64_t k = rows - r < slab ? rows - r : slab;
                int nt = w->threads;
                if (k < 64 * nt) nt = (int)((k + 63) / 64);
                if (nt < 1) nt = 1;
                struct job jobs[16];
                int64_t per = (k + nt - 1) / nt;
                for (int i = 0; i < nt; i++) {
                    struct job *j = &jobs[i];
                    memset(j, 0, sizeof *j);
                    j->m = w->m; j->t = t; j->type = o->type; j->cols = cols; j->im = ime;
                    j->r0 = r + per * i;
                    j->r1 = r + per * (i + 1) < r + k ? r + per * (i + 1) : r + k;
                    j->dst = w->buf + (size_t)(j->r0 - r) * rs;
                    j->scratch = w->scratch + (size_t)i * 64 * (size_t)cols;
                    if (j->r0 >= j->r1) j->rc = QT_OK;
                }
                qt_pool_run(nt, nt, run_jobs, jobs);   /* the one pool */
                int rc = QT_OK;
                for (int i = 0; i < nt; i++) {
                    if (jobs[i].rc != QT_OK && rc == QT_OK) { *err = jobs[i].err; rc = QT_ERR; }
                }
                if (rc != QT_OK) return QT_ERR;
                if (pwrite_all(fd, w->buf, rs * (size_t)k, path, err) != QT_OK) return QT_ERR;
                if (w->wp->cancel && *w->wp->cancel) return qt_err_set(err, "cancelled");
            }
        }
        w->done += (int64_t)t->nbytes;
        if (w->wp->progress) w->wp->progress(w->wp->progress_ud, w->done, w->total, t->name);
        if (w->wp->cancel && *w->wp->cancel) return qt_err_set(err, "cancelled");
    }
    size_t nb = rs * (size_t)rows * (size_t)o->n_src;
    static const uint8_t zeros[QT_GGUF_ALIGN];
    size_t pad = (QT_GGUF_ALIGN - nb % QT_GGUF_ALIGN) % QT_GGUF_ALIGN;
    if (pad && pwrite_all(fd, zeros, pad, path, err) != QT_OK) return QT_ERR;
    if (is_quantized_type(o->type)) w->n_quant++; else w->n_kept++;
    return QT_OK;
}

/* ---- the files ------------------------------------------------------------- */

int qt_gguf_write(const struct qt_model *m, const struct qt_gguf_plan *p, const struct qt_gguf_write_params *wp,
                  struct qt_write_result *res, qt_err *err) {
    double t0 = qt_now();
    if (res) memset(res, 0, sizeof *res);
    if (m->metadata_only) return qt_err_set(err, "%s: no weights (the model was opened from its config only)", m->path);
    if (!wp->out || !*wp->out) return qt_err_set(err, "quantize: no output file");
    if (!p->n) return qt_err_set(err, "%s: no tensors to write", m->path);
    for (int i = 0; i < p->n; i++) {
        const struct qt_gguf_out *o = &p->t[i];
        const struct qt_ggml_type_info *ti = qt_ggml_type_info(o->type);
        if (!ti || !ti->write) return qt_err_set(err, "%s: GGUF type %s is not one qtune writes", o->name, qt_ggml_type_name(o->type));
        if (o->ne[0] % ti->block)
            return qt_err_set(err, "%s: row length %lld is not a multiple of %s's block of %d", o->name, (long long)o->ne[0], ti->name, ti->block);
    }
    /* splits, as gguf-split --split-max-size: a new file when the next tensor would pass the limit */
    int *split_of = calloc((size_t)p->n, sizeof *split_of);
    if (!split_of) return qt_err_set(err, "out of memory");
    int n_split = 1;
    uint64_t cur = 0;
    for (int i = 0; i < p->n; i++) {
        uint64_t nb = ((uint64_t)qt_gguf_out_bytes(&p->t[i]) + QT_GGUF_ALIGN - 1) / QT_GGUF_ALIGN * QT_GGUF_ALIGN;
        if (wp->max_split_bytes && i > 0 && cur + nb > wp->max_split_bytes) { n_split++; cur = nb; }
        else cur += nb;
        split_of[i] = n_split - 1;
    }
    if (n_split > 99999) { free(split_of); return qt_err_set(err, "%s: more than 99999 split files", wp->out); }
    char path[4200];
    for (int s = 0; s < n_split; s++) {
        qt_gguf_split_path(wp->out, s, n_split, path, sizeof path);
        if (qt_outdir_check(path, wp->force, NULL, err) != QT_OK) { free(split_of); return QT_ERR; }
    }
    if (qt_outdir_parents(wp->out, err) != QT_OK) { free(split_of); return QT_ERR; }

    struct gbuf meta = {0};
    int rc = arch_keys(m, p, wp, &meta, err);
    char (*partial)[4232] = calloc((size_t)n_split, sizeof *partial);
    struct wctx w = {.m = m, .p = p, .wp = wp};
    int64_t maxcols = 1;
    for (int i = 0; i < p->n; i++) {
        if (p->t[i].ne[0] > maxcols) maxcols = p->t[i].ne[0];
        for (int e = 0; e < p->t[i].n_src; e++) w.total += (int64_t)m->tensors[p->t[i].src[e]].nbytes;
    }
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    w.threads = wp->threads > 0 ? wp->threads : nc > 0 ? (int)nc : 1;
    if (w.threads > 16) w.threads = 16;
    w.scratch = malloc((size_t)w.threads * 64 * (size_t)maxcols * sizeof(float));
    if (rc == QT_OK && (!partial || !w.scratch || meta.oom)) rc = qt_err_set(err, "out of memory");
    int made = 0;
    uint64_t written = 0;
    for (int s = 0; s < n_split && rc == QT_OK; s++) {
        qt_gguf_split_path(wp->out, s, n_split, path, sizeof path);
        int fd = qt_outdir_tmpfile(path, partial[s], sizeof partial[s], err);
        if (fd < 0) { rc = QT_ERR; break; }
        made = s + 1;
        struct gbuf h = {0};
        int64_t nt = 0;
        for (int i = 0; i < p->n; i++) nt += split_of[i] == s;
        struct gbuf kv = {0};
        if (s == 0) gb_put(&kv, meta.p, meta.n), kv.n_kv = meta.n_kv;
        if (n_split > 1) {
            kv_u16(&kv, "split.no", (uint16_t)s);
            kv_u16(&kv, "split.count", (uint16_t)n_split);
            kv_i32(&kv, "split.tensors.count", p->n);
        }
        gb_put(&h, "GGUF", 4);
        gb_u32(&h, 3);
        gb_u64(&h, (uint64_t)nt);
        gb_u64(&h, (uint64_t)kv.n_kv);
        gb_put(&h, kv.p, kv.n);
        uint64_t off = 0;
        for (int i = 0; i < p->n; i++) {
            if (split_of[i] != s) continue;
            const struct qt_gguf_out *o = &p->t[i];
            gb_str(&h, o->name);
            gb_u32(&h, (uint32_t)o->ndim);
            for (int d = 0; d < o->ndim; d++) gb_u64(&h, (uint64_t)o->ne[d]);
            gb_u32(&h, (uint32_t)o->type);
            gb_u64(&h, off);
            off += ((uint64_t)qt_gguf_out_bytes(o) + QT_GGUF_ALIGN - 1) / QT_GGUF_ALIGN * QT_GGUF_ALIGN;
        }
        static const uint8_t zeros[QT_GGUF_ALIGN];
        gb_put(&h, zeros, (QT_GGUF_ALIGN - h.n % QT_GGUF_ALIGN) % QT_GGUF_ALIGN);
        if (h.oom || kv.oom) rc = qt_err_set(err, "out of memory");
        if (rc == QT_OK) rc = pwrite_all(fd, h.p, h.n, partial[s], err);
        free(h.p);
        free(kv.p);
        for (int i = 0; i < p->n && rc == QT_OK; i++)
            if (split_of[i] == s) rc = write_tensor(&w, fd, partial[s], &p->t[i], err);
        written += off;
        if (rc == QT_OK && fsync(fd) != 0) rc = qt_err_set(err, "%s: fsync: %s", partial[s], strerror(errno));
        if (close(fd) != 0 && rc == QT_OK) rc = qt_err_set(err, "%s: %s", partial[s], strerror(errno));
    }
    if (rc == QT_OK && wp->cancel && *wp->cancel) rc = qt_err_set(err, "cancelled");
    for (int s = 0; s < n_split && rc == QT_OK; s++) {
        qt_gguf_split_path(wp->out, s, n_split, path, sizeof path);
        if (rename(partial[s], path) != 0) rc = qt_err_set(err, "%s: %s", path, strerror(errno));
        else partial[s][0] = 0;
    }
    if (rc == QT_OK) qt_outdir_sync_parent(wp->out);
    if (rc != QT_OK) {
        for (int s = 0; s < made; s++)
            if (partial[s][0]) unlink(partial[s]);
        if (!strstr(err->msg, wp->out)) qt_err_prefix(err, "%s", wp->out);
    }
    if (res) {
        res->n_quantized = w.n_quant;
        res->n_kept = w.n_kept;
        res->n_shards = n_split;
        res->bytes_source = w.total;
        res->bytes_written = (int64_t)written;
        res->seconds = qt_now() - t0;
    }
    free(meta.p);
    free(partial);
    free(split_of);
    free(w.buf);
    free(w.scratch);
    return rc;
}

cJSON *qt_gguf_result_json(const char *first, const char *ftype, const struct qt_gguf_plan *p,
                           const struct qt_write_result *r) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "out", first);
    cJSON_AddStringToObject(j, "format", "gguf");
    if (ftype) cJSON_AddStringToObject(j, "ftype", ftype);
    cJSON_AddNumberToObject(j, "tensors", p->n);
    cJSON_AddNumberToObject(j, "tensors_quantized", r->n_quantized);
    cJSON_AddNumberToObject(j, "tensors_fallback", p->n_fallback);
    cJSON_AddNumberToObject(j, "files", r->n_shards);
    cJSON_AddNumberToObject(j, "bytes_written", (double)r->bytes_written);
    cJSON_AddNumberToObject(j, "bytes_source", (double)r->bytes_source);
    cJSON_AddNumberToObject(j, "bpw", p->params ? 8.0 * (double)p->bytes / (double)p->params : 0);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    return j;
}
