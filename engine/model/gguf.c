/* gguf.c — GGUF reading, llama.cpp's glm4moe tensor names, and a GGUF file
 * as a qt_model. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "model/arch.h"
#include "model/model.h"
#include "quant/ggml_quants.h"

/* ---- names --------------------------------------------------------------- */

/* Per-layer tensors: Hugging Face suffix after "model.layers.N." and
 * llama.cpp's after "blk.N." (llama-arch.cpp LLM_TENSOR_NAMES, the glm4moe
 * list of gguf-py's constants.py).  Experts ("mlp.experts.E.") are handled
 * apart. */
static const struct { const char *hf, *gg; } layer_names[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    /* the MTP (next-n) layer's own tensors */
    {"eh_proj.weight", "nextn.eh_proj.weight"},
    {"embed_tokens.weight", "nextn.embed_tokens.weight"},
    {"enorm.weight", "nextn.enorm.weight"},
    {"hnorm.weight", "nextn.hnorm.weight"},
    {"shared_head.head.weight", "nextn.shared_head_head.weight"},
    {"shared_head.norm.weight", "nextn.shared_head_norm.weight"},
};
static const struct { const char *hf, *gg; } top_names[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
static const char *const expert_proj[3] = {"gate_proj", "up_proj", "down_proj"};
static const char *const expert_gg[3] = {"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"};

int qt_gguf_name_from_hf(const char *hf, char *out, size_t n, int *expert) {
    *expert = -1;
    for (size_t i = 0; i < sizeof top_names / sizeof top_names[0]; i++)
        if (!strcmp(hf, top_names[i].hf)) return snprintf(out, n, "%s", top_names[i].gg) < (int)n ? 0 : -1;
    int layer, used = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &used) != 1 || !used || layer < 0) return -1;
    const char *rest = hf + used;
    int e, u2 = 0;
    char proj[16];
    if (sscanf(rest, "mlp.experts.%d.%15[a-z_].weight%n", &e, proj, &u2) == 2 && u2 && !rest[u2] && e >= 0) {
        for (int k = 0; k < 3; k++)
            if (!strcmp(proj, expert_proj[k])) {
                *expert = e;
                return snprintf(out, n, "blk.%d.%s", layer, expert_gg[k]) < (int)n ? 0 : -1;
            }
        return -1;
    }
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++)
        if (!strcmp(rest, layer_names[i].hf)) return snprintf(out, n, "blk.%d.%s", layer, layer_names[i].gg) < (int)n ? 0 : -1;
    return -1;
}

int qt_gguf_name_is_stacked(const char *gg) {
    const char *d = strrchr(gg, '.');
    if (!d) return 0;
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(expert_gg[k]);
        size_t gl = strlen(gg);
        if (gl > l && !strcmp(gg + gl - l, expert_gg[k]) && gg[gl - l - 1] == '.') return 1;
    }
    return 0;
}

int qt_gguf_name_to_hf(const char *gg, int expert, char *out, size_t n) {
    for (size_t i = 0; i < sizeof top_names / sizeof top_names[0]; i++)
        if (!strcmp(gg, top_names[i].gg)) return snprintf(out, n, "%s", top_names[i].hf) < (int)n ? 0 : -1;
    int layer, used = 0;
    if (sscanf(gg, "blk.%d.%n", &layer, &used) != 1 || !used || layer < 0) return -1;
    const char *rest = gg + used;
    for (int k = 0; k < 3; k++)
        if (!strcmp(rest, expert_gg[k]))
            return expert >= 0 && snprintf(out, n, "model.layers.%d.mlp.experts.%d.%s.weight", layer, expert, expert_proj[k]) < (int)n ? 0 : -1;
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++)
        if (!strcmp(rest, layer_names[i].gg)) return snprintf(out, n, "model.layers.%d.%s", layer, layer_names[i].hf) < (int)n ? 0 : -1;
    return -1;
}

/* ---- reading ------------------------------------------------------------- */

size_t qt_gguf_vtype_size(int t) {
    static const size_t sz[QT_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t >= 0 && t < QT_GGUF_VTYPE_COUNT ? sz[t] : 0;
}

const char *qt_gguf_vtype_name(int t) {
    static const char *const nm[QT_GGUF_VTYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                         "bool", "str", "arr", "u64", "i64", "f64"};
    return t >= 0 && t < QT_GGUF_VTYPE_COUNT ? nm[t] : "?";
}

struct rd { const uint8_t *p; size_t n, at; const char *path; qt_err *err; };

static int need(struct rd *r, size_t k) {
    if (k > r->n - r->at) return qt_err_set(r->err, "%s: truncated GGUF header (at byte %zu)", r->path, r->at);
    return QT_OK;
}
static int get_u32(struct rd *r, uint32_t *v) {
    if (need(r, 4)) return QT_ERR;
    memcpy(v, r->p + r->at, 4);
    r->at += 4;
    return QT_OK;
}
static int get_u64(struct rd *r, uint64_t *v) {
    if (need(r, 8)) return QT_ERR;
    memcpy(v, r->p + r->at, 8);
    r->at += 8;
    return QT_OK;
}
/* A string: returns a pointer into the map and its length. */
static int get_str(struct rd *r, const char **s, uint64_t *len) {
    if (get_u64(r, len) || need(r, (size_t)*len) || *len > (1u << 30))
        return qt_err_set(r->err, "%s: bad string in GGUF header (at byte %zu)", r->path, r->at);
    *s = (const char *)r->p + r->at;
    r->at += (size_t)*len;
    return QT_OK;
}
static char *dup_n(const char *s, uint64_t n) {
    char *d = malloc((size_t)n + 1);
    if (d) { memcpy(d, s, (size_t)n); d[n] = 0; }
    return d;
}

/* Skips one value of type t (validating bounds). */
static int skip_value(struct rd *r, int t, int depth) {
    if (t == QT_GGUF_STR) {
        const char *s;
        uint64_t l;
        return get_str(r, &s, &l);
    }
    if (t == QT_GGUF_ARR) {
        uint32_t et;
        uint64_t cnt;
        if (depth > 2 || get_u32(r, &et) || get_u64(r, &cnt)) return qt_err_set(r->err, "%s: bad array in GGUF header", r->path);
        if (et >= QT_GGUF_VTYPE_COUNT) return qt_err_set(r->err, "%s: bad array element type %u", r->path, et);
        size_t es = qt_gguf_vtype_size((int)et);
        if (es) {
            if (cnt > (r->n - r->at) / es) return qt_err_set(r->err, "%s: truncated GGUF array", r->path);
            r->at += (size_t)(cnt * es);
            return QT_OK;
        }
        for (uint64_t i = 0; i < cnt; i++)
            if (skip_value(r, (int)et, depth + 1)) return QT_ERR;
        return QT_OK;
    }
    size_t s = qt_gguf_vtype_size(t);
    if (!s) return qt_err_set(r->err, "%s: bad value type %d in GGUF header", r->path, t);
    if (need(r, s)) return QT_ERR;
    r->at += s;
    return QT_OK;
}

struct onefile {
    void *map;
    size_t len;
    int64_t n_kv, n_t;
    struct qt_gguf_kv *kv;
    struct qt_gguf_tensor *t;
    uint32_t align;
    int version;
};

static void onefile_free(struct onefile *f, int keep_maps) {
    for (int64_t i = 0; i < f->n_kv; i++) free(f->kv[i].key);
    free(f->kv);
    for (int64_t i = 0; i < f->n_t; i++) free(f->t[i].name);
    free(f->t);
    if (!keep_maps && f->map) munmap(f->map, f->len);
    memset(f, 0, sizeof *f);
}

static int parse_one(const char *path, struct onefile *f, qt_err *err) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qt_err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return qt_err_set(err, "%s: not a regular file", path); }
    if (st.st_size < 24) { close(fd); return qt_err_set(err, "%s: not a GGUF file (too short)", path); }
    f->len = (size_t)st.st_size;
    f->map = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) { f->map = NULL; return qt_err_set(err, "%s: cannot map: %s", path, strerror(errno)); }
    struct rd r = {f->map, f->len, 0, path, err};
    if (memcmp(r.p, "GGUF", 4)) return qt_err_set(err, "%s: not a GGUF file (bad magic)", path);
    r.at = 4;
    uint32_t ver;
    uint64_t nt, nkv;
    get_u32(&r, &ver);
    if (ver == 0x02000000u || ver == 0x03000000u)   /* gguf-py writes these with --bigendian */
        return qt_err_set(err, "%s: a big-endian GGUF file: qtune reads little-endian ones (llama.cpp's default)", path);
    if (ver != 3 && ver != 2) return qt_err_set(err, "%s: GGUF version %u is not supported (2 or 3)", path, ver);
    f->version = (int)ver;
    if (get_u64(&r, &nt) || get_u64(&r, &nkv)) return QT_ERR;
    if (nt > (1u << 24) || nkv > (1u << 24)) return qt_err_set(err, "%s: implausible GGUF counts (%llu tensors, %llu keys)", path,
                                                               (unsigned long long)nt, (unsigned long long)nkv);
    f->kv = calloc(nkv ? (size_t)nkv : 1, sizeof *f->kv);
    f->t = calloc(nt ? (size_t)nt : 1, sizeof *f->t);
    if (!f->kv || !f->t) return qt_err_set(err, "out of memory");
    f->align = QT_GGUF_ALIGN;
    for (uint64_t i = 0; i < nkv; i++) {
        const char *k;
        uint64_t kl;
        uint32_t ty;
        if (get_str(&r, &k, &kl) || get_u32(&r, &ty)) return QT_ERR;
        if (ty >= QT_GGUF_VTYPE_COUNT) return qt_err_set(err, "%s: key %.*s: bad value type %u", path, (int)(kl > 200 ? 200 : kl), k, ty);
        struct qt_gguf_kv *e = &f->kv[f->n_kv++];
        if (!(e->key = dup_n(k, kl))) return qt_err_set(err, "out of memory");
        e->type = (int)ty;
        e->n = 1;
        if (ty == QT_GGUF_ARR) {
            uint32_t et;
            uint64_t cnt;
            size_t at0 = r.at;
            if (get_u32(&r, &et) || get_u64(&r, &cnt) || et >= QT_GGUF_VTYPE_COUNT || et == QT_GGUF_ARR)
                return qt_err_set(err, "%s: key %s: bad array", path, e->key);
            e->arr_type = (int)et;
            e->n = cnt;
            e->val = r.p + r.at;
            r.at = at0;
        } else {
            e->val = r.p + r.at;
        }
        if (skip_value(&r, (int)ty, 0)) return qt_err_prefix(err, "key %s", e->key);
        if (!strcmp(e->key, "general.alignment") && (ty == QT_GGUF_U32 || ty == QT_GGUF_I32)) {
            uint32_t a;
            memcpy(&a, e->val, 4);
            if (a == 0 || (a & (a - 1)) || a > 65536) return qt_err_set(err, "%s: bad general.alignment %u", path, a);
            f->align = a;
        }
    }
    for (uint64_t i = 0; i < nt; i++) {
        const char *nm;
        uint64_t nl;
        uint32_t nd, ty;
        uint64_t off;
        struct qt_gguf_tensor *t = &f->t[f->n_t++];
        if (get_str(&r, &nm, &nl)) return QT_ERR;
        if (!(t->name = dup_n(nm, nl))) return qt_err_set(err, "out of memory");
        if (get_u32(&r, &nd)) return QT_ERR;
        if (nd < 1 || nd > 4) return qt_err_set(err, "%s: tensor %s: %u dimensions (1 to 4)", path, t->name, nd);
        t->ndim = (int)nd;
        uint64_t numel = 1;
        for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            if (get_u64(&r, &v)) return QT_ERR;
            if (v > (1ull << 40) || (v && numel > (1ull << 42) / v)) return qt_err_set(err, "%s: tensor %s: bad shape", path, t->name);
            t->ne[d] = (int64_t)v;
            numel *= v;
        }
        if (get_u32(&r, &ty) || get_u64(&r, &off)) return QT_ERR;
        t->type = (int)ty;
        const struct qt_ggml_type_info *ti = qt_ggml_type_info((int)ty);
        if (!ti) return qt_err_set(err, "%s: tensor %s: unknown ggml type %u", path, t->name, ty);
        if (t->ne[0] % ti->block) return qt_err_set(err, "%s: tensor %s: row length %lld is not a multiple of %s's block %d", path,
                                                    t->name, (long long)t->ne[0], ti->name, ti->block);
        t->nbytes = numel / (uint64_t)ti->block * (uint64_t)ti->bytes;
        t->data = (const uint8_t *)(uintptr_t)off;   /* relative for now */
    }
    size_t data0 = (r.at + f->align - 1) / f->align * f->align;
    if (data0 > f->len && nt) return qt_err_set(err, "%s: truncated: no tensor data", path);
    for (int64_t i = 0; i < f->n_t; i++) {
        struct qt_gguf_tensor *t = &f->t[i];
        uint64_t off = (uint64_t)(uintptr_t)t->data;
        if (off % f->align) return qt_err_set(err, "%s: tensor %s: offset %llu not aligned to %u", path, t->name,
                                              (unsigned long long)off, f->align);
        if (off > f->len - data0 || t->nbytes > f->len - data0 - off)
            return qt_err_set(err, "%s: tensor %s: data beyond the end of the file (truncated?)", path, t->name);
        t->data = (const uint8_t *)f->map + data0 + off;
    }
    return QT_OK;
}

static int kv_index(const struct qt_gguf_kv *kv, int64_t n, const char *key) {
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(kv[i].key, key)) return (int)i;
    return -1;
}

static int kv_int(const struct qt_gguf_kv *e, int64_t *v) {
    switch (e->type) {
    case QT_GGUF_U8: *v = e->val[0]; return 0;
    case QT_GGUF_I8: *v = (int8_t)e->val[0]; return 0;
    case QT_GGUF_BOOL: *v = e->val[0] != 0; return 0;
    case QT_GGUF_U16: { uint16_t x; memcpy(&x, e->val, 2); *v = x; return 0; }
    case QT_GGUF_I16: { int16_t x; memcpy(&x, e->val, 2); *v = x; return 0; }
    case QT_GGUF_U32: { uint32_t x; memcpy(&x, e->val, 4); *v = x; return 0; }
    case QT_GGUF_I32: { int32_t x; memcpy(&x, e->val, 4); *v = x; return 0; }
    case QT_GGUF_U64: { uint64_t x; memcpy(&x, e->val, 8); *v = (int64_t)x; return 0; }
    case QT_GGUF_I64: { int64_t x; memcpy(&x, e->val, 8); *v = x; return 0; }
    default: return -1;
    }
}

void qt_gguf_close(struct qt_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].key);
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->t[i].name);
    free(g->t);
    for (int i = 0; i < g->n_files; i++)
        if (g->maps[i]) munmap(g->maps[i], g->map_len[i]);
    free(g->maps);
    free(g->map_len);
    free(g->path);
    free(g);
}

/* "x-00002-of-00003.gguf" -> prefix "x", part 2, count 3; 0 when not a
 * split name. */
static int split_name(const char *path, char *prefix, size_t n, int *part, int *count) {
    size_t l = strlen(path);
    const char *suf = "-00001-of-00000.gguf";
    size_t sl = strlen(suf);
    if (l <= sl) return 0;
    const char *s = path + l - sl;
    int a, b, used = 0;
    if (sscanf(s, "-%5d-of-%5d.gguf%n", &a, &b, &used) != 2 || (size_t)used != sl || a < 1 || b < a) return 0;
    if (l - sl >= n) return 0;
    memcpy(prefix, path, l - sl);
    prefix[l - sl] = 0;
    *part = a;
    *count = b;
    return 1;
}

/* split.KEY of a parsed file: its value, or dflt when absent; -1 when it is
 * not an integer. */
static int64_t split_key(const struct onefile *f, const char *key, int64_t dflt) {
    int k = kv_index(f->kv, f->n_kv, key);
    int64_t v;
    if (k < 0) return dflt;
    return kv_int(&f->kv[k], &v) ? -1 : v;
}

/* A file is one part of a split set when its split.count says so (as
 * llama.cpp decides: the keys, not the name); the name must then be
 * NAME-00001-of-0000N.gguf, the other parts are found by it. */
int qt_gguf_open(const char *path, struct qt_gguf **out, qt_err *err) {
    *out = NULL;
    struct onefile f;
    if (parse_one(path, &f, err) != QT_OK) { onefile_free(&f, 0); return QT_ERR; }
    int64_t count = split_key(&f, "split.count", 1), no = split_key(&f, "split.no", 0);
    char prefix[4096] = "";
    int part = 0, ncount = 0;
    int named = split_name(path, prefix, sizeof prefix, &part, &ncount);
    int rc = QT_OK;
    if (count < 1 || count > 99999 || no < 0 || no >= count)
        rc = qt_err_set(err, "%s: bad split keys (split.no %lld, split.count %lld)", path, (long long)no, (long long)count);
    else if (no != 0 && named)
        rc = qt_err_set(err, "%s: part %lld of a %lld-file split set: open its first part, %s-00001-of-%05lld.gguf", path,
                        (long long)no + 1, (long long)count, prefix, (long long)count);
    else if (no != 0)
        rc = qt_err_set(err, "%s: part %lld of a %lld-file split set (split.no): open its first part", path, (long long)no + 1,
                        (long long)count);
    else if (count > 1 && (!named || part != 1 || ncount != count))
        rc = qt_err_set(err, "%s: first part of a %lld-file split set (split.count), but not named NAME-00001-of-%05lld.gguf: "
                        "its other parts cannot be found", path, (long long)count, (long long)count);
    struct qt_gguf *g = rc == QT_OK ? calloc(1, sizeof *g) : NULL;
    if (rc == QT_OK && !g) rc = qt_err_set(err, "out of memory");
    if (g) {
        g->path = qt_strdup(path);
        g->maps = calloc((size_t)count, sizeof *g->maps);
        g->map_len = calloc((size_t)count, sizeof *g->map_len);
        if (!g->path || !g->maps || !g->map_len) rc = qt_err_set(err, "out of memory");
    }
    if (rc != QT_OK) {
        onefile_free(&f, 0);
        qt_gguf_close(g);
        return QT_ERR;
    }
    for (int s = 0; s < count; s++) {
        char p[4200] = "";
        if (s > 0) snprintf(p, sizeof p, "%s-%05d-of-%05d.gguf", prefix, s + 1, (int)count);
        if (s > 0 && parse_one(p, &f, err) != QT_OK) {
            onefile_free(&f, 0);
            qt_gguf_close(g);
            if (err) {   /* the message names the part; say which set it belongs to */
                size_t l = strlen(err->msg);
                snprintf(err->msg + l, sizeof err->msg - l, " (part %d of the %d-file split set)", s + 1, (int)count);
            }
            return QT_ERR;
        }
        g->maps[s] = f.map;
        g->map_len[s] = f.len;
        g->n_files = s + 1;
        if (s > 0 && split_key(&f, "split.count", -1) != count) {
            onefile_free(&f, 1);
            qt_gguf_close(g);
            return qt_err_set(err, "%s: split.count does not say %d", p, (int)count);
        }
        if (s > 0 && split_key(&f, "split.no", -1) != s) {
            onefile_free(&f, 1);
            qt_gguf_close(g);
            return qt_err_set(err, "%s: split.no is not %d", p, s);
        }
        struct qt_gguf_tensor *nt = realloc(g->t, (size_t)(g->n_tensors + f.n_t + 1) * sizeof *nt);
        if (!nt) { onefile_free(&f, 1); qt_gguf_close(g); return qt_err_set(err, "out of memory"); }
        g->t = nt;
        for (int64_t i = 0; i < f.n_t; i++) {
            g->t[g->n_tensors] = f.t[i];
            g->t[g->n_tensors].file = s;
            g->n_tensors++;
        }
        f.n_t = 0;
        if (s == 0) {
            g->kv = f.kv;
            g->n_kv = f.n_kv;
            g->version = f.version;
            g->alignment = f.align;
            f.kv = NULL;
            f.n_kv = 0;
        }
        onefile_free(&f, 1);
    }
    int k = qt_gguf_find(g, "split.tensors.count");
    int64_t v;
    if (count > 1 && k >= 0 && !kv_int(&g->kv[k], &v) && v != g->n_tensors) {
        qt_err_set(err, "%s: split.tensors.count is %lld, the files hold %lld", path, (long long)v, (long long)g->n_tensors);
        qt_gguf_close(g);
        return QT_ERR;
    }
    *out = g;
    return QT_OK;
}

int qt_gguf_find(const struct qt_gguf *g, const char *key) { return kv_index(g->kv, g->n_kv, key); }

int qt_gguf_get_i64(const struct qt_gguf *g, const char *key, int64_t *v) {
    int k = qt_gguf_find(g, key);
    return k < 0 ? -1 : kv_int(&g->kv[k], v);
}

int qt_gguf_get_f64(const struct qt_gguf *g, const char *key, double *v) {
    int k = qt_gguf_find(g, key);
    if (k < 0) return -1;
    const struct qt_gguf_kv *e = &g->kv[k];
    if (e->type == QT_GGUF_F32) { float f; memcpy(&f, e->val, 4); *v = f; return 0; }
    if (e->type == QT_GGUF_F64) { memcpy(v, e->val, 8); return 0; }
    int64_t i;
    if (kv_int(e, &i)) return -1;
    *v = (double)i;
    return 0;
}

const char *qt_gguf_get_str(const struct qt_gguf *g, const char *key, char *buf, size_t n) {
    int k = qt_gguf_find(g, key);
    if (k < 0 || g->kv[k].type != QT_GGUF_STR || !n) return NULL;
    uint64_t l;
    memcpy(&l, g->kv[k].val, 8);
    size_t c = l < n - 1 ? (size_t)l : n - 1;
    memcpy(buf, g->kv[k].val + 8, c);
    buf[c] = 0;
    return buf;
}

const char *qt_gguf_arr_str(const struct qt_gguf *g, int kv, uint64_t i, uint64_t *len) {
    if (kv < 0 || kv >= g->n_kv) return NULL;
    const struct qt_gguf_kv *e = &g->kv[kv];
    if (e->type != QT_GGUF_ARR || e->arr_type != QT_GGUF_STR || i >= e->n) return NULL;
    const uint8_t *p = e->val;   /* validated by the parse: every element is in bounds */
    for (uint64_t j = 0; j < i; j++) {
        uint64_t l;
        memcpy(&l, p, 8);
        p += 8 + l;
    }
    memcpy(len, p, 8);
    return (const char *)p + 8;
}

const struct qt_gguf_tensor *qt_gguf_tensor(const struct qt_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

/* ---- a GGUF file as a model ---------------------------------------------- */

/* The config.json the file's glm4moe keys describe, as text for
 * qt_config_parse (one parser for both sources). */
static char *config_text(const struct qt_gguf *g, char *arch, size_t an, qt_err *err) {
    if (!qt_gguf_get_str(g, "general.architecture", arch, an))
        return qt_err_set(err, "%s: no general.architecture", g->path), NULL;
    if (strcmp(arch, "glm4moe"))
        return qt_err_set(err, "%s: architecture %s: qtune reads glm4moe GGUF files", g->path, arch), NULL;
    char k[160];
    int64_t v;
    double d;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "model_type", "glm4_moe");
    cJSON *a = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString("Glm4MoeForCausalLM"));
    static const struct { const char *gg, *hf; } ints[] = {
        {"embedding_length", "hidden_size"}, {"feed_forward_length", "intermediate_size"},
        {"attention.head_count", "num_attention_heads"}, {"attention.head_count_kv", "num_key_value_heads"},
        {"attention.key_length", "head_dim"}, {"expert_count", "n_routed_experts"},
        {"expert_used_count", "num_experts_per_tok"}, {"expert_shared_count", "n_shared_experts"},
        {"expert_feed_forward_length", "moe_intermediate_size"}, {"leading_dense_block_count", "first_k_dense_replace"},
        {"expert_group_count", "n_group"}, {"expert_group_used_count", "topk_group"},
        {"context_length", "max_position_embeddings"},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(k, sizeof k, "glm4moe.%s", ints[i].gg);
        if (!qt_gguf_get_i64(g, k, &v)) cJSON_AddNumberToObject(c, ints[i].hf, (double)v);
    }
    int64_t blocks = 0, nextn = 0;
    qt_gguf_get_i64(g, "glm4moe.block_count", &blocks);
    qt_gguf_get_i64(g, "glm4moe.nextn_predict_layers", &nextn);
    cJSON_AddNumberToObject(c, "num_hidden_layers", (double)(blocks - nextn));
    cJSON_AddNumberToObject(c, "num_nextn_predict_layers", (double)nextn);
    if (!qt_gguf_get_f64(g, "glm4moe.rope.freq_base", &d)) cJSON_AddNumberToObject(c, "rope_theta", d);
    if (!qt_gguf_get_f64(g, "glm4moe.attention.layer_norm_rms_epsilon", &d)) cJSON_AddNumberToObject(c, "rms_norm_eps", d);
    if (!qt_gguf_get_f64(g, "glm4moe.expert_weights_scale", &d)) cJSON_AddNumberToObject(c, "routed_scaling_factor", d);
    if (!qt_gguf_get_i64(g, "glm4moe.expert_weights_norm", &v)) cJSON_AddBoolToObject(c, "norm_topk_prob", v != 0);
    int64_t hd = 0, rd = 0;
    qt_gguf_get_i64(g, "glm4moe.attention.key_length", &hd);
    if (!hd) {
        int64_t h = 0, nh = 1;
        qt_gguf_get_i64(g, "glm4moe.embedding_length", &h);
        qt_gguf_get_i64(g, "glm4moe.attention.head_count", &nh);
        hd = nh ? h / nh : 0;
        cJSON_AddNumberToObject(c, "head_dim", (double)hd);
    }
    if (!qt_gguf_get_i64(g, "glm4moe.rope.dimension_count", &rd) && hd) cJSON_AddNumberToObject(c, "partial_rotary_factor", (double)rd / (double)hd);
    int tok = qt_gguf_find(g, "tokenizer.ggml.tokens");
    const struct qt_gguf_tensor *emb = qt_gguf_tensor(g, "token_embd.weight");
    cJSON_AddNumberToObject(c, "vocab_size", tok >= 0 ? (double)g->kv[tok].n : emb ? (double)emb->ne[1] : 0);
    cJSON_AddBoolToObject(c, "attention_bias", qt_gguf_tensor(g, "blk.0.attn_q.bias") != NULL);
    cJSON_AddBoolToObject(c, "use_qk_norm", qt_gguf_tensor(g, "blk.0.attn_q_norm.weight") != NULL);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", qt_gguf_tensor(g, "output.weight") == NULL);
    cJSON_AddStringToObject(c, "torch_dtype", "bfloat16");
    char *s = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    if (!s) qt_err_set(err, "out of memory");
    return s;
}

int qt_model_open_gguf(const char *path, struct qt_model **out, qt_err *err) {
    *out = NULL;
    struct qt_gguf *g;
    if (qt_gguf_open(path, &g, err) != QT_OK) return QT_ERR;
    char arch[64];
    char *cfg = config_text(g, arch, sizeof arch, err);
    if (!cfg) { qt_gguf_close(g); return QT_ERR; }
    struct qt_model *m = calloc(1, sizeof *m);
    if (!m) { free(cfg); qt_gguf_close(g); return qt_err_set(err, "out of memory"); }
    m->path = qt_strdup(path);
    m->gguf = g;
    const struct qt_arch *a = NULL;
    int rc = qt_config_parse(path, cfg, &m->cfg, &a, err);
    free(cfg);
    m->known_arch = a != NULL;
    struct qt_tensor_list l = {0};
    for (int64_t i = 0; rc == QT_OK && i < g->n_tensors; i++) {
        const struct qt_gguf_tensor *gt = &g->t[i];
        int stacked = qt_gguf_name_is_stacked(gt->name);
        int n_e = stacked ? (int)gt->ne[gt->ndim - 1] : 1;
        if (stacked && gt->ndim != 3) { rc = qt_err_set(err, "%s: tensor %s: expected 3 dimensions", path, gt->name); break; }
        size_t per = (size_t)(gt->nbytes / (uint64_t)n_e);
        for (int e = 0; e < n_e; e++) {
            char hf[256];
            if (qt_gguf_name_to_hf(gt->name, stacked ? e : -1, hf, sizeof hf) != 0)
                snprintf(hf, sizeof hf, "gguf.%s", gt->name);   /* kept under its own name */
            int nd = stacked ? 2 : gt->ndim;
            int64_t d0 = nd >= 2 ? gt->ne[1] : gt->ne[0], d1 = nd >= 2 ? gt->ne[0] : 0;
            if (nd > 2) { rc = qt_err_set(err, "%s: tensor %s: %d dimensions", path, gt->name, nd); break; }
            if (qt_tensor_list_add(&l, hf, QT_DT_BF16, nd, d0, d1, 0) != QT_OK) { rc = qt_err_set(err, "out of memory"); break; }
            struct qt_tensor *t = &l.v[l.n - 1];
            t->data = gt->data + per * (size_t)e;
            t->file = gt->file;
            t->gg = 1 + gt->type;
            if (gt->type == QT_GGML_F32) t->dtype = QT_DT_F32;
            else if (gt->type == QT_GGML_F16) t->dtype = QT_DT_F16;
        }
    }
    if (rc == QT_OK) {
        m->tensors = l.v;
        m->n_tensors = l.n;
        l.v = NULL;
        l.n = 0;
        rc = qt_model_finish(m, err);
    }
    if (rc == QT_OK) {
        /* bytes as stored, and the duplicate check of qt_model_open */
        for (int i = 0; i < m->n_tensors; i++) {
            struct qt_tensor *t = &m->tensors[i];
            t->nbytes = (uint64_t)qt_tensor_rows(t) * qt_ggml_row_size(t->gg - 1, qt_tensor_cols(t));
            if (i && !strcmp(t->name, m->tensors[i - 1].name)) {
                rc = qt_err_set(err, "%s: tensor \"%s\" appears twice", path, t->name);
                break;
            }
        }
    }
    if (rc != QT_OK) {
        for (int i = 0; i < l.n; i++) free(l.v[i].name);
        free(l.v);
        qt_model_free(m);
        return QT_ERR;
    }
    *out = m;
    return QT_OK;
}
