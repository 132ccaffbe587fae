/* gguf_plan.c — llama-quantize's per-tensor type choice, for qtune's GGUF
 * writer, lint and size figures. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "recipe/gguf_plan.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "quant/ggml_quants.h"
#include "recipe/lint.h"

/* ---- file types ----------------------------------------------------------- */

/* LLAMA_FTYPE ids of llama.h; the base type is llama_ftype_get_default_type. */
static const struct qt_gguf_ftype ftypes[] = {
    {"F32", 0, QT_GGML_F32},        {"F16", 1, QT_GGML_F16},        {"BF16", 32, QT_GGML_BF16},
    {"Q8_0", 7, QT_GGML_Q8_0},      {"Q4_0", 2, QT_GGML_Q4_0},      {"Q4_1", 3, QT_GGML_Q4_1},
    {"Q5_0", 8, QT_GGML_Q5_0},      {"Q5_1", 9, QT_GGML_Q5_1},      {"Q2_K", 10, QT_GGML_Q2_K},
    {"Q3_K_S", 11, QT_GGML_Q3_K},   {"Q3_K_M", 12, QT_GGML_Q3_K},   {"Q3_K_L", 13, QT_GGML_Q3_K},
    {"Q4_K_S", 14, QT_GGML_Q4_K},   {"Q4_K_M", 15, QT_GGML_Q4_K},   {"Q5_K_S", 16, QT_GGML_Q5_K},
    {"Q5_K_M", 17, QT_GGML_Q5_K},   {"Q6_K", 18, QT_GGML_Q6_K},     {"IQ4_NL", 25, QT_GGML_IQ4_NL},
    {"IQ4_XS", 30, QT_GGML_IQ4_XS},
};
#define N_FTYPES ((int)(sizeof ftypes / sizeof ftypes[0]))

enum { F_Q2_K = 10, F_Q3_K_S = 11, F_Q3_K_M = 12, F_Q3_K_L = 13, F_Q4_K_S = 14, F_Q4_K_M = 15,
       F_Q5_K_S = 16, F_Q5_K_M = 17, F_IQ4_NL = 25, F_IQ4_XS = 30, F_Q4_0 = 2, F_Q5_0 = 8 };

static int name_eq(const char *a, const char *b) {
    while (*a && *b && toupper((unsigned char)*a) == toupper((unsigned char)*b)) a++, b++;
    return !*a && !*b;
}

const struct qt_gguf_ftype *qt_gguf_ftype_find(const char *name) {
    if (!name) return NULL;
    /* llama-quantize's aliases */
    if (name_eq(name, "Q3_K")) name = "Q3_K_M";
    else if (name_eq(name, "Q4_K")) name = "Q4_K_M";
    else if (name_eq(name, "Q5_K")) name = "Q5_K_M";
    for (int i = 0; i < N_FTYPES; i++)
        if (name_eq(name, ftypes[i].name)) return &ftypes[i];
    return NULL;
}
const struct qt_gguf_ftype *qt_gguf_ftype_by_id(int id) {
    for (int i = 0; i < N_FTYPES; i++)
        if (ftypes[i].id == id) return &ftypes[i];
    return NULL;
}
int qt_gguf_n_ftypes(void) { return N_FTYPES; }
const struct qt_gguf_ftype *qt_gguf_ftype_at(int i) { return i >= 0 && i < N_FTYPES ? &ftypes[i] : NULL; }

/* ---- spec ----------------------------------------------------------------- */

static int is_quantized(int t) { return t != QT_GGML_F32 && t != QT_GGML_F16 && t != QT_GGML_BF16; }

static int writable_type(const char *s, const char *what, int *out, qt_err *err) {
    int t = qt_ggml_type_parse(s);
    const struct qt_ggml_type_info *ti = qt_ggml_type_info(t);
    if (!ti) return qt_err_set(err, "%s: unknown GGUF type \"%s\"", what, s);
    if (!ti->write) return qt_err_set(err, "%s: GGUF type %s is not one qtune writes", what, ti->name);
    *out = t;
    return QT_OK;
}

int qt_gguf_spec_add_override(struct qt_gguf_spec *s, const char *pe, qt_err *err) {
    const char *eq = strrchr(pe, '=');
    if (!eq || eq == pe || !eq[1]) return qt_err_set(err, "tensor type \"%s\": expected PATTERN=TYPE", pe);
    int type;
    if (writable_type(eq + 1, pe, &type, err) != QT_OK) return QT_ERR;
    struct qt_gguf_override *o = realloc(s->over, (size_t)(s->n_over + 1) * sizeof *o);
    if (!o) return qt_err_set(err, "out of memory");
    s->over = o;
    o = &s->over[s->n_over];
    size_t n = (size_t)(eq - pe);
    o->pattern = malloc(n + 1);
    if (!o->pattern) return qt_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) o->pattern[i] = (char)tolower((unsigned char)pe[i]);
    o->pattern[n] = 0;
    o->type = type;
    int code;
    PCRE2_SIZE off;
    o->re = pcre2_compile((PCRE2_SPTR)o->pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!o->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        qt_err_set(err, "tensor type \"%s\": bad regular expression: %s", pe, (char *)msg);
        free(o->pattern);
        return QT_ERR;
    }
    s->n_over++;
    return QT_OK;
}

int qt_gguf_spec_from_ftype(const char *name, struct qt_gguf_spec *s, qt_err *err) {
    memset(s, 0, sizeof *s);
    s->output_type = s->embd_type = -1;
    if (!name) return QT_OK;
    s->ftype = qt_gguf_ftype_find(name);
    if (!s->ftype) {
        char list[512] = "";
        for (int i = 0; i < N_FTYPES; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? " " : "", ftypes[i].name);
        }
        return qt_err_set(err, "GGUF type \"%s\": not one of %s", name, list);
    }
    return QT_OK;
}

int qt_gguf_spec_from_yaml(const struct qt_yaml *root, const char *fname, struct qt_gguf_spec *s, qt_err *err) {
    memset(s, 0, sizeof *s);
    s->output_type = s->embd_type = -1;
    const struct qt_yaml *g = root ? qt_yaml_get(root, "qtune_gguf") : NULL;
    if (!g || qt_yaml_is_null(g)) return QT_OK;
    if (g->kind != QT_YAML_MAP) return qt_err_set(err, "%s:%d: qtune_gguf must be a mapping", fname, g->line);
    for (int i = 0; i < g->n; i++) {
        const char *k = g->keys[i];
        const struct qt_yaml *v = g->items[i];
        const char *sv = qt_yaml_str(v);
        int rc = QT_OK;
        if (!strcmp(k, "ftype")) {
            rc = sv ? qt_gguf_spec_from_ftype(sv, &(struct qt_gguf_spec){0}, err) : qt_err_set(err, "ftype must be a name");
            if (rc == QT_OK) s->ftype = qt_gguf_ftype_find(sv);
        } else if (!strcmp(k, "output_tensor_type")) {
            rc = sv ? writable_type(sv, k, &s->output_type, err) : qt_err_set(err, "%s must be a type name", k);
        } else if (!strcmp(k, "token_embedding_type")) {
            rc = sv ? writable_type(sv, k, &s->embd_type, err) : qt_err_set(err, "%s must be a type name", k);
        } else if (!strcmp(k, "pure")) {
            if (!qt_yaml_bool(v, &s->pure)) rc = qt_err_set(err, "pure must be true or false");
        } else if (!strcmp(k, "tensor_types")) {
            if (v->kind == QT_YAML_SEQ) {
                for (int j = 0; j < v->n && rc == QT_OK; j++) {
                    const char *e = qt_yaml_str(v->items[j]);
                    rc = e ? qt_gguf_spec_add_override(s, e, err) : qt_err_set(err, "tensor_types: items are PATTERN=TYPE strings");
                }
            } else if (v->kind == QT_YAML_MAP) {
                for (int j = 0; j < v->n && rc == QT_OK; j++) {
                    const char *t = qt_yaml_str(v->items[j]);
                    char buf[600];
                    if (!t || snprintf(buf, sizeof buf, "%s=%s", v->keys[j], t) >= (int)sizeof buf)
                        rc = qt_err_set(err, "tensor_types: %s: expected a type name", v->keys[j]);
                    else rc = qt_gguf_spec_add_override(s, buf, err);
                }
            } else {
                rc = qt_err_set(err, "tensor_types must be a list of PATTERN=TYPE or a mapping");
            }
        } else {
            rc = qt_err_set(err, "unknown key \"%s\" (ftype, tensor_types, output_tensor_type, token_embedding_type, pure)", k);
        }
        if (rc != QT_OK) {
            qt_gguf_spec_free(s);
            return qt_err_prefix(err, "%s:%d: qtune_gguf", fname, v->line ? v->line : g->line);
        }
    }
    return QT_OK;
}

int qt_gguf_override_match(const struct qt_gguf_override *o, const char *name) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(o->re, NULL);
    int r = md ? pcre2_match(o->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    return r >= 0;
}

int qt_gguf_type_quantized(int type) { return is_quantized(type); }

void qt_gguf_spec_free(struct qt_gguf_spec *s) {
    for (int i = 0; i < s->n_over; i++) {
        free(s->over[i].pattern);
        pcre2_code_free(s->over[i].re);
    }
    free(s->over);
    memset(s, 0, sizeof *s);
    s->output_type = s->embd_type = -1;
}

/* ---- llama-quantize's rules ----------------------------------------------- */

enum cat { C_OTHER, C_OUTPUT, C_TOKEN_EMBD, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_V, C_ATTN_K, C_ATTN_Q, C_ATTN_OUT,
           C_FFN_UP, C_FFN_GATE, C_FFN_DOWN };

/* tensor_get_category: substring tests in llama.cpp's order. */
static enum cat category(const char *n) {
    if (!strcmp(n, "output.weight")) return C_OUTPUT;
    if (!strcmp(n, "token_embd.weight") || !strcmp(n, "per_layer_token_embd.weight")) return C_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight")) return C_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight")) return C_ATTN_KV_B;
    if (strstr(n, "attn_v.weight")) return C_ATTN_V;
    if (strstr(n, "attn_k.weight")) return C_ATTN_K;
    if (strstr(n, "attn_q.weight")) return C_ATTN_Q;
    if (strstr(n, "attn_output.weight")) return C_ATTN_OUT;
    if (strstr(n, "ffn_up")) return C_FFN_UP;
    if (strstr(n, "ffn_gate")) return C_FFN_GATE;
    if (strstr(n, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}
static int cat_attn_v(enum cat c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

/* tensor_allows_quantization, for the names a glm4moe file has. */
static int allows_quantization(const struct qt_gguf_out *o) {
    int nd = o->ndim;
    while (nd > 1 && o->ne[nd - 1] == 1) nd--;     /* ggml_n_dims */
    if (nd < 2) return 0;
    if (!qt_str_ends_with(o->name, "weight")) return 0;
    if (strstr(o->name, "_norm.weight")) return 0;
    if (strstr(o->name, "ffn_gate_inp.weight")) return 0;
    return 1;
}

int qt_gguf_fallback(int type, int64_t ncols) {
    const struct qt_ggml_type_info *ti = qt_ggml_type_info(type);
    if (!ti || ncols % ti->block == 0) return type;
    int r = type;
    switch (type) {
    case QT_GGML_IQ4_XS: r = QT_GGML_IQ4_NL; break;
    case QT_GGML_Q2_K: case QT_GGML_Q3_K: r = QT_GGML_Q4_0; break;
    case QT_GGML_Q4_K: r = QT_GGML_Q5_0; break;
    case QT_GGML_Q5_K: r = QT_GGML_Q5_1; break;
    case QT_GGML_Q6_K: r = QT_GGML_Q8_0; break;
    default: r = type; break;
    }
    if (ncols % qt_ggml_type_info(r)->block) r = QT_GGML_F16;
    return r;
}

const char *qt_gguf_lint_type(int type, int64_t ncols, char *buf, size_t n) {
    const struct qt_ggml_type_info *ti = qt_ggml_type_info(type);
    if (!ti) return snprintf(buf, n, "unknown GGUF type %d", type), buf;
    if (ncols % ti->block == 0) return NULL;
    snprintf(buf, n, "row length %lld is not a multiple of %s's %d-element block: llama-quantize writes %s",
             (long long)ncols, ti->name, ti->block, qt_ggml_type_name(qt_gguf_fallback(type, ncols)));
    return buf;
}

struct counters { int n_wv, i_wv, n_layer_all, n_expert, n_gqa, has_imatrix, tied, i_down; };

static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* llama_tensor_get_type_impl for the file types qtune writes (glm4moe is not
 * Falcon and not a 70B llama; IQ1/IQ2/IQ3 and MXFP4 mixes are not written). */
static int mix_rules(struct counters *q, const struct qt_gguf_spec *s, const struct qt_gguf_out *o, enum cat c, int t) {
    const int ft = s->ftype->id;
    if (c == C_OUTPUT || (q->tied && c == C_TOKEN_EMBD)) {
        if (s->output_type >= 0) return s->output_type;
        if (o->ne[0] % qt_ggml_type_info(t)->block) return QT_GGML_Q8_0;
        return t != QT_GGML_Q8_0 ? QT_GGML_Q6_K : t;
    }
    if (c == C_TOKEN_EMBD) return s->embd_type >= 0 ? s->embd_type : t;
    if (cat_attn_v(c)) {
        if (ft == F_Q2_K) t = q->n_gqa >= 4 ? QT_GGML_Q4_K : QT_GGML_Q3_K;
        else if (ft == F_Q3_K_M) t = q->i_wv < 2 ? QT_GGML_Q5_K : QT_GGML_Q4_K;
        else if (ft == F_Q3_K_L) t = QT_GGML_Q5_K;
        else if ((ft == F_IQ4_NL || ft == F_IQ4_XS) && q->n_gqa >= 4) t = QT_GGML_Q5_K;
        else if ((ft == F_Q4_K_M || ft == F_Q5_K_M) && use_more_bits(q->i_wv, q->n_wv)) t = QT_GGML_Q6_K;
        else if (ft == F_Q4_K_S && q->i_wv < 4) t = QT_GGML_Q5_K;
        if (q->n_expert == 8) t = QT_GGML_Q8_0;
        ++q->i_wv;
        return t;
    }
    if (c == C_ATTN_K) return q->n_expert == 8 ? QT_GGML_Q8_0 : t;
    if (c == C_FFN_DOWN) {
        int il = q->n_expert > 1 ? o->layer : q->i_down, nl = q->n_layer_all;
        if (ft == F_Q2_K) t = QT_GGML_Q3_K;
        else if (ft == F_Q3_K_M) t = il < nl / 16 ? QT_GGML_Q5_K : QT_GGML_Q4_K;
        else if (ft == F_Q3_K_L) t = QT_GGML_Q5_K;
        else if (ft == F_Q4_K_M) { if (use_more_bits(il, nl)) t = QT_GGML_Q6_K; }
        else if (il < nl / 8 && (ft == F_IQ4_NL || ft == F_IQ4_XS) && !q->has_imatrix) t = QT_GGML_Q5_K;
        else if (ft == F_Q5_K_M && use_more_bits(il, nl)) t = QT_GGML_Q6_K;
        else if (ft == F_Q4_K_S && il < nl / 8) t = QT_GGML_Q5_K;
        else if ((ft == F_Q4_0 || ft == F_Q5_0) && q->has_imatrix && il < nl / 8)
            t = ft == F_Q4_0 ? QT_GGML_Q4_1 : QT_GGML_Q5_1;
        ++q->i_down;
        return t;
    }
    if (c == C_ATTN_OUT) {
        if (q->n_expert == 8) {
            if (ft == F_Q2_K || ft == F_Q3_K_S || ft == F_Q3_K_M || ft == F_IQ4_NL || ft == F_Q4_K_S ||
                ft == F_Q4_K_M || ft == F_IQ4_XS)
                t = QT_GGML_Q5_K;
        } else {
            if (ft == F_Q2_K) t = QT_GGML_Q3_K;
            else if (ft == F_Q3_K_M) t = QT_GGML_Q4_K;
            else if (ft == F_Q3_K_L) t = QT_GGML_Q5_K;
        }
        return t;
    }
    return t;
}

/* ---- the plan ------------------------------------------------------------- */

static int ggml_of_dtype(enum qt_dtype d) {
    return d == QT_DT_F32 ? QT_GGML_F32 : d == QT_DT_F16 ? QT_GGML_F16 : QT_GGML_BF16;
}

/* llama_model_loader's tensor order: by block (-1 first), then name. */
static int out_cmp(const void *a, const void *b) {
    const struct qt_gguf_out *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

int64_t qt_gguf_out_bytes(const struct qt_gguf_out *o) {
    return (int64_t)qt_ggml_row_size(o->type, o->ne[0]) * o->ne[1] * o->ne[2];
}

void qt_gguf_plan_free(struct qt_gguf_plan *p) {
    for (int i = 0; i < p->n; i++) free(p->t[i].src);
    free(p->t);
    memset(p, 0, sizeof *p);
}

int qt_gguf_plan_build(const struct qt_model *m, const struct qt_gguf_spec *s, int has_imatrix,
                       struct qt_gguf_plan *p, qt_err *err) {
    memset(p, 0, sizeof *p);
    p->t = calloc((size_t)m->n_tensors + 1, sizeof *p->t);
    if (!p->t) return qt_err_set(err, "out of memory");
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->role == QT_ROLE_WEIGHT_SCALE) continue;   /* FP8 scales are folded into the weights */
        char gg[96];
        int e;
        if (qt_gguf_name_from_hf(t->name, gg, sizeof gg, &e) != 0) {
            qt_gguf_plan_free(p);
            return qt_err_set(err, "%s: tensor %s has no llama.cpp (glm4moe) name", m->path, t->name);
        }
        struct qt_gguf_out *o = NULL;
        if (e >= 0)
            for (int k = p->n - 1; k >= 0 && !o; k--)
                if (!strcmp(p->t[k].name, gg)) o = &p->t[k];
        if (!o) {
            o = &p->t[p->n++];
            snprintf(o->name, sizeof o->name, "%s", gg);
            o->layer = -1;
            sscanf(gg, "blk.%d.", &o->layer);
            o->ndim = t->ndim >= 2 ? 2 : 1;
            o->ne[0] = t->ndim >= 2 ? qt_tensor_cols(t) : qt_tensor_numel(t);
            o->ne[1] = t->ndim >= 2 ? qt_tensor_rows(t) : 1;
            o->ne[2] = 1;
            o->src = calloc(e >= 0 ? (size_t)(m->cfg.n_experts > e ? m->cfg.n_experts : e + 1) : 1, sizeof *o->src);
            if (!o->src) { qt_gguf_plan_free(p); return qt_err_set(err, "out of memory"); }
            if (e >= 0) {
                o->ndim = 3;
                o->ne[2] = 0;
                for (int k = 0; k < (m->cfg.n_experts > e ? m->cfg.n_experts : e + 1); k++) o->src[k] = -1;
            }
            o->type = ggml_of_dtype(t->dtype);
        }
        if (e >= 0) {
            int cap = m->cfg.n_experts > 0 ? m->cfg.n_experts : 0;
            if (e >= cap || o->src[e] >= 0) {
                qt_gguf_plan_free(p);
                return qt_err_set(err, "%s: tensor %s: expert %d out of range (%d experts)", m->path, t->name, e, cap);
            }
            if (o->ne[2] && (o->ne[0] != qt_tensor_cols(t) || o->ne[1] != qt_tensor_rows(t))) {
                qt_gguf_plan_free(p);
                return qt_err_set(err, "%s: tensor %s: shape differs from the other experts", m->path, t->name);
            }
            o->src[e] = i;
            o->ne[2]++;
            o->n_src = cap;
        } else {
            o->src[0] = i;
            o->n_src = 1;
        }
    }
    for (int i = 0; i < p->n; i++) {
        struct qt_gguf_out *o = &p->t[i];
        for (int k = 0; k < o->n_src; k++)
            if (o->src[k] < 0) {
                int n = o->n_src;
                qt_gguf_plan_free(p);
                return qt_err_set(err, "%s: %s: expert %d of %d is missing", m->path, o->name, k, n);
            }
    }
    qsort(p->t, (size_t)p->n, sizeof *p->t, out_cmp);

    /* llama-quantize's state: counters over the whole file */
    struct counters q = {0};
    q.n_layer_all = m->cfg.n_layers + m->cfg.n_mtp;
    q.n_expert = m->cfg.n_experts > 1 ? m->cfg.n_experts : 1;
    q.n_gqa = m->cfg.n_kv_heads > 0 ? m->cfg.n_heads / m->cfg.n_kv_heads : 1;
    q.has_imatrix = has_imatrix;
    q.tied = 1;
    for (int i = 0; i < p->n; i++) {
        enum cat c = category(p->t[i].name);
        if (cat_attn_v(c)) q.n_wv++;
        if (c == C_OUTPUT) q.tied = 0;
    }
    const int base = s->ftype ? s->ftype->base : -1;
    p->ftype_id = s->ftype ? s->ftype->id : -1;
    for (int i = 0; i < p->n; i++) {
        struct qt_gguf_out *o = &p->t[i];
        o->quantizable = allows_quantization(o);
        o->rule = -1;
        int source = o->type;
        if (!o->quantizable) {
            /* convert_hf_to_gguf writes 1-D tensors, norms, the router and
             * biases as F32, and llama-quantize copies them */
            o->type = o->wanted = QT_GGML_F32;
            continue;
        }
        int t = base >= 0 ? base : source;
        enum cat c = category(o->name);
        /* --token-embedding-type / --output-tensor-type win outright (no fallback, as llama.cpp) */
        if (s->embd_type >= 0 && c == C_TOKEN_EMBD) { o->type = o->wanted = s->embd_type; o->rule = QT_GGUF_RULE_EMBD; continue; }
        if (s->output_type >= 0 && c == C_OUTPUT) { o->type = o->wanted = s->output_type; o->rule = QT_GGUF_RULE_OUTPUT; continue; }
        for (int k = 0; k < s->n_over; k++)
            if (qt_gguf_override_match(&s->over[k], o->name)) { t = s->over[k].type; o->manual = 1; o->rule = k; break; }
        /* llama-quantize's mix rules run only for a quantized base type; the
         * overrides above also apply to an F16/BF16/F32 base (qtune's extension) */
        if (base >= 0 && is_quantized(base) && !o->manual && !s->pure) t = mix_rules(&q, s, o, c, t);
        o->wanted = t;
        o->type = is_quantized(t) || o->manual ? qt_gguf_fallback(t, o->ne[0]) : t;
        if (o->type != t) p->n_fallback++;
    }
    for (int i = 0; i < p->n; i++) {
        p->bytes += qt_gguf_out_bytes(&p->t[i]);
        p->params += p->t[i].ne[0] * p->t[i].ne[1] * p->t[i].ne[2];
    }
    return QT_OK;
}

/* ---- lint ----------------------------------------------------------------- */

static int lint_add(struct qt_lint *L, const char *code, int *tensors, int n, const char *msg, qt_err *err) {
    struct qt_finding *f = realloc(L->f, (size_t)(L->n + 1) * sizeof *f);
    if (!f) { free(tensors); return qt_err_set(err, "out of memory"); }
    L->f = f;
    f = &L->f[L->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->code, sizeof f->code, "%s", code);
    f->severity = QT_SEV_WARNING;
    f->message = qt_strdup(msg);
    f->tensors = tensors;
    f->n_tensors = n;
    L->n_warnings++;
    return f->message ? QT_OK : qt_err_set(err, "out of memory");
}

int qt_gguf_lint(const struct qt_model *m, const struct qt_gguf_spec *s, const struct qt_gguf_plan *p,
                 struct qt_lint *L, qt_err *err) {
    (void)m;
    char *done = calloc((size_t)p->n + 1, 1);
    if (!done) return qt_err_set(err, "out of memory");
    int rc = QT_OK;
    for (int i = 0; i < p->n && rc == QT_OK; i++) {
        const struct qt_gguf_out *o = &p->t[i];
        if (done[i] || o->type == o->wanted) continue;
        int n = 0, nsrc = 0;
        for (int k = i; k < p->n; k++)
            if (p->t[k].wanted == o->wanted && p->t[k].type == o->type) nsrc += p->t[k].n_src;
        int *tl = malloc((size_t)(nsrc ? nsrc : 1) * sizeof *tl);
        if (!tl) { rc = qt_err_set(err, "out of memory"); break; }
        int nt = 0;
        for (int k = i; k < p->n; k++)
            if (p->t[k].wanted == o->wanted && p->t[k].type == o->type) {
                done[k] = 1;
                nt++;
                for (int e = 0; e < p->t[k].n_src; e++) tl[n++] = p->t[k].src[e];
            }
        char msg[600], why[300];
        qt_gguf_lint_type(o->wanted, o->ne[0], why, sizeof why);
        snprintf(msg, sizeof msg, "%d GGUF tensor%s as %s: %s (e.g. %s)", nt, nt == 1 ? "" : "s",
                 qt_ggml_type_name(o->wanted), why, o->name);
        rc = lint_add(L, "GG001", tl, n, msg, err);
    }
    for (int k = 0; k < s->n_over && rc == QT_OK; k++) {
        int hit = 0;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(s->over[k].re, NULL);
        for (int i = 0; md && i < p->n && !hit; i++)
            hit = pcre2_match(s->over[k].re, (PCRE2_SPTR)p->t[i].name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0;
        pcre2_match_data_free(md);
        if (!hit) {
            char msg[700];
            snprintf(msg, sizeof msg, "qtune_gguf tensor_types pattern '%s' matches no GGUF tensor (names are like blk.3.ffn_down_exps.weight)",
                     s->over[k].pattern);
            rc = lint_add(L, "GG002", NULL, 0, msg, err);
        }
    }
    free(done);
    return rc;
}
