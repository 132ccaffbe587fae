/* arch.c — the architecture table, config parsing, name classification and
 * the tensor names/shapes a config implies. */
#include "model/arch.h"
#include "model/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

static const struct qt_arch arch_table[] = {
    /* type          attn             bias qk  moe             experts key          width key                dense key               mtp class prefix */
    {"glm4_moe",     QT_ATTN_GQA,     1,   1,  QT_MOE_GLM,     "n_routed_experts",  "moe_intermediate_size", "first_k_dense_replace", 1, "Glm4Moe"},
    {"glm_moe_dsa",  QT_ATTN_MLA_DSA, 0,   0,  QT_MOE_GLM,     "n_routed_experts",  "moe_intermediate_size", "first_k_dense_replace", 1, "GlmMoeDsa"},
    {"deepseek_v3",  QT_ATTN_MLA,     0,   0,  QT_MOE_GLM,     "n_routed_experts",  "moe_intermediate_size", "first_k_dense_replace", 1, "DeepseekV3"},
    {"deepseek_v32", QT_ATTN_MLA_DSA, 0,   0,  QT_MOE_GLM,     "n_routed_experts",  "moe_intermediate_size", "first_k_dense_replace", 1, "DeepseekV32"},
    {"llama",        QT_ATTN_GQA,     0,   0,  QT_MOE_NONE,    NULL,                NULL,                    NULL,                    0, "Llama"},
    {"qwen2",        QT_ATTN_GQA,     1,   0,  QT_MOE_NONE,    NULL,                NULL,                    NULL,                    0, "Qwen2"},
    {"qwen3",        QT_ATTN_GQA,     0,   2,  QT_MOE_NONE,    NULL,                NULL,                    NULL,                    0, "Qwen3"},
    {"qwen3_moe",    QT_ATTN_GQA,     0,   2,  QT_MOE_QWEN,    "num_experts",       "moe_intermediate_size", NULL,                    0, "Qwen3Moe"},
    {"mixtral",      QT_ATTN_GQA,     0,   0,  QT_MOE_MIXTRAL, "num_local_experts", "intermediate_size",     NULL,                    0, "Mixtral"},
};

const struct qt_arch *qt_arch_find(const char *model_type) {
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (!strcmp(arch_table[i].model_type, model_type)) return &arch_table[i];
    return NULL;
}

/* ---- module classes -------------------------------------------------------- */

/* Bias and scale tensors belong to the module of their weight. */
static enum qt_role module_role(enum qt_role r) {
    switch (r) {
    case QT_ROLE_ATTN_Q_BIAS: return QT_ROLE_ATTN_Q;
    case QT_ROLE_ATTN_K_BIAS: return QT_ROLE_ATTN_K;
    case QT_ROLE_ATTN_V_BIAS: return QT_ROLE_ATTN_V;
    case QT_ROLE_ATTN_O_BIAS: return QT_ROLE_ATTN_O;
    case QT_ROLE_ROUTER_BIAS: return QT_ROLE_ROUTER;
    default: return r;
    }
}

static void mclass_add(struct qt_mclass *c, const char *a, const char *b) {
    if (c->n < QT_MCLASS_MAX) snprintf(c->name[c->n++], sizeof c->name[0], "%s%s", a, b);
}

/* transformers (4.57, the modeling files of each architecture):
 *   q/k/v/o, MLA and indexer projections, (shared) experts, dense MLP,
 *   lm_head, MTP eh_proj / shared_head.head   nn.Linear
 *   embed_tokens (and the MTP layer's)         nn.Embedding
 *   every RMS norm                             <Prefix>RMSNorm(nn.Module)
 *   the DSA indexer's k_norm                   nn.LayerNorm
 *   mlp.gate: glm4_moe, deepseek_v3 (MoE kind GLM)  <Prefix>TopkRouter(nn.Module);
 *             qwen3_moe, mixtral              nn.Linear
 * Every one is a torch.nn.Module. */
void qt_model_classes(const struct qt_model *m, enum qt_role r, struct qt_mclass *out) {
    memset(out, 0, sizeof *out);
    const struct qt_arch *a = m ? qt_arch_find(m->cfg.model_type) : NULL;
    char prefix[48] = "";
    const char *f = m ? strstr(m->cfg.architecture, "For") : NULL;
    if (f && f > m->cfg.architecture && f - m->cfg.architecture < (int)sizeof prefix) {
        memcpy(prefix, m->cfg.architecture, (size_t)(f - m->cfg.architecture));
        prefix[f - m->cfg.architecture] = 0;
    } else if (a) {
        snprintf(prefix, sizeof prefix, "%s", a->cls);
    }
    /* the role table's cls column names the class; the architecture names it */
    switch (qt_role_traits(module_role(r))->cls) {
    case QT_CLS_LINEAR: mclass_add(out, "Linear", ""); break;
    case QT_CLS_EMBEDDING: mclass_add(out, "Embedding", ""); break;
    case QT_CLS_LAYERNORM: mclass_add(out, "LayerNorm", ""); break;
    case QT_CLS_NORM:
        if (prefix[0]) mclass_add(out, prefix, "RMSNorm");
        break;
    case QT_CLS_ROUTER:
        if (a && (a->moe == QT_MOE_QWEN || a->moe == QT_MOE_MIXTRAL)) mclass_add(out, "Linear", "");
        else if (prefix[0]) mclass_add(out, prefix, "TopkRouter");
        break;
    case QT_CLS_NONE: break;
    }
    mclass_add(out, "Module", "");
}

int qt_model_quantizable(const struct qt_model *m, const struct qt_tensor *t) {
    if (qt_tensor_quantizable(t)) return 1;
    /* a router that is an nn.Linear (qwen3_moe, mixtral) is quantized like
     * any Linear; a <Prefix>TopkRouter never is */
    if (t->role != QT_ROLE_ROUTER || t->ndim != 2 || !qt_str_ends_with(t->name, ".weight")) return 0;
    struct qt_mclass c;
    qt_model_classes(m, t->role, &c);
    return qt_class_in("Linear", &c);
}

/* ---- config.json ---------------------------------------------------------- */

static const cJSON *cfg_get(const cJSON *root, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (j && !cJSON_IsNull(j)) return j;
    /* transformers 5 nests rope settings under rope_parameters */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (cJSON_IsObject(rp)) {
        j = cJSON_GetObjectItemCaseSensitive(rp, key);
        if (j && !cJSON_IsNull(j)) return j;
    }
    return NULL;
}

static int cfg_int(const cJSON *root, const char *key, int dflt, int required, int *out,
                   const char *path, qt_err *err) {
    const cJSON *j = key ? cfg_get(root, key) : NULL;
    if (!j) {
        if (required) return qt_err_set(err, "%s: missing required field \"%s\"", path, key);
        *out = dflt;
        return QT_OK;
    }
    if (cJSON_IsBool(j)) { *out = cJSON_IsTrue(j); return QT_OK; }
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > 1e12 ||
        j->valuedouble != (double)(long long)j->valuedouble)
        return qt_err_set(err, "%s: field \"%s\" must be a non-negative integer", path, key);
    *out = (int)j->valuedouble;
    return QT_OK;
}

static int cfg_num(const cJSON *root, const char *key, double dflt, double *out, const char *path, qt_err *err) {
    const cJSON *j = cfg_get(root, key);
    if (!j) { *out = dflt; return QT_OK; }
    if (!cJSON_IsNumber(j)) return qt_err_set(err, "%s: field \"%s\" must be a number", path, key);
    *out = j->valuedouble;
    return QT_OK;
}

int qt_config_parse(const char *path, const char *text, struct qt_config *c,
                    const struct qt_arch **arch, qt_err *err) {
    memset(c, 0, sizeof *c);
    *arch = NULL;
    cJSON *root = cJSON_Parse(text);
    if (!root) return qt_err_set(err, "%s: not valid JSON", path);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return qt_err_set(err, "%s: not a JSON object", path); }
    /* Multimodal wrappers keep the language model under text_config. */
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *r = cJSON_IsObject(tc) ? tc : root;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r, "model_type");
    if (!cJSON_IsString(mt)) mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) { cJSON_Delete(root); return qt_err_set(err, "%s: missing required field \"model_type\"", path); }
    snprintf(c->model_type, sizeof c->model_type, "%s", mt->valuestring);
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (cJSON_IsArray(ar) && cJSON_IsString(cJSON_GetArrayItem(ar, 0)))
        snprintf(c->architecture, sizeof c->architecture, "%s", cJSON_GetArrayItem(ar, 0)->valuestring);
    const struct qt_arch *a = qt_arch_find(c->model_type);
    *arch = a;
    int rc = QT_OK;
#define I(key, dflt, req, field) if (rc == QT_OK) rc = cfg_int(r, key, dflt, req, &c->field, path, err)
    I("hidden_size", 0, 1, hidden);
    I("num_hidden_layers", 0, 1, n_layers);
    I("num_attention_heads", 0, 1, n_heads);
    I("vocab_size", 0, 1, vocab);
    I("num_key_value_heads", c->n_heads, 0, n_kv_heads);
    I("intermediate_size", 0, a && a->moe != QT_MOE_GLM && a->moe != QT_MOE_QWEN ? 1 : 0, intermediate);
    I("attention_bias", a ? a->bias_default : 0, 0, attention_bias);
    I("use_qk_norm", a && a->qk_norm == 2, 0, use_qk_norm);
    I("norm_topk_prob", 0, 0, norm_topk_prob);
    I("tie_word_embeddings", 0, 0, tie_embeddings);
    I("n_group", 1, 0, n_group);
    I("topk_group", 1, 0, topk_group);
    I("decoder_sparse_step", 1, 0, sparse_step);
    I("max_position_embeddings", 0, 0, max_pos);
    if (a && a->qk_norm == 2) c->use_qk_norm = 1;
    if (a && a->moe != QT_MOE_NONE) {
        I(a->experts_key, 0, 1, n_experts);
        I("num_experts_per_tok", 0, 1, top_k);
        I(a->moe_inter_key, 0, 1, moe_intermediate);
        I("n_shared_experts", a->moe == QT_MOE_GLM ? 1 : 0, 0, n_shared_experts);
        if (a->moe != QT_MOE_GLM) c->n_shared_experts = 0;
        I(a->dense_key, 0, 0, first_k_dense);
    }
    if (a && a->has_mtp) I("num_nextn_predict_layers", 0, 0, n_mtp);
    if (a && a->attn != QT_ATTN_GQA) {
        I("q_lora_rank", 0, 0, q_lora_rank);
        I("kv_lora_rank", 0, 1, kv_lora_rank);
        I("qk_nope_head_dim", 0, 1, qk_nope_head_dim);
        I("qk_rope_head_dim", 0, 1, qk_rope_head_dim);
        I("v_head_dim", 0, 1, v_head_dim);
        if (a->attn == QT_ATTN_MLA_DSA) {
            I("index_n_heads", 0, 1, index_n_heads);
            I("index_head_dim", 0, 1, index_head_dim);
            I("index_topk", 0, 0, index_topk);
        }
    }
    /* head_dim comes from the config (GLM: 128 with 96 heads of a 4096 model);
     * only a config without it falls back to hidden / heads. */
    I("head_dim", c->n_heads ? c->hidden / (c->n_heads ? c->n_heads : 1) : 0, 0, head_dim);
#undef I
    if (rc == QT_OK) rc = cfg_num(r, "rms_norm_eps", 1e-6, &c->rms_eps, path, err);
    if (rc == QT_OK) rc = cfg_num(r, "rope_theta", 10000.0, &c->rope_theta, path, err);
    if (rc == QT_OK) rc = cfg_num(r, "partial_rotary_factor", 1.0, &c->partial_rotary, path, err);
    if (rc == QT_OK) rc = cfg_num(r, "routed_scaling_factor", 1.0, &c->routed_scaling, path, err);
    if (rc == QT_OK) {
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(r, "torch_dtype");
        if (!cJSON_IsString(dt)) dt = cJSON_GetObjectItemCaseSensitive(r, "dtype");
        if (!cJSON_IsString(dt)) dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
        const char *s = cJSON_IsString(dt) ? dt->valuestring : "bfloat16";
        c->dtype = !strcmp(s, "float32") ? QT_DT_F32 : !strcmp(s, "float16") ? QT_DT_F16 : QT_DT_BF16;
    }
    if (rc == QT_OK && (c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->vocab <= 0 ||
                        c->n_kv_heads <= 0 || c->head_dim <= 0))
        rc = qt_err_set(err, "%s: hidden_size, num_hidden_layers, num_attention_heads, "
                             "num_key_value_heads, head_dim and vocab_size must be positive", path);
    if (rc == QT_OK && a && a->moe != QT_MOE_NONE && c->n_experts > 0 && (c->top_k <= 0 || c->top_k > c->n_experts))
        rc = qt_err_set(err, "%s: num_experts_per_tok must be between 1 and the number of experts", path);
    cJSON_Delete(root);
    return rc;
}

/* ---- names -> roles ------------------------------------------------------- */

struct name_rule {
    const char *suffix;       /* matched at the end of the name, after the layer part */
    enum qt_role role;
};

/* Order matters: longer, more specific suffixes first. */
static const struct name_rule layer_rules[] = {
    {"self_attn.q_proj.weight", QT_ROLE_ATTN_Q},     {"self_attn.k_proj.weight", QT_ROLE_ATTN_K},
    {"self_attn.v_proj.weight", QT_ROLE_ATTN_V},     {"self_attn.o_proj.weight", QT_ROLE_ATTN_O},
    {"self_attn.q_proj.bias", QT_ROLE_ATTN_Q_BIAS},  {"self_attn.k_proj.bias", QT_ROLE_ATTN_K_BIAS},
    {"self_attn.v_proj.bias", QT_ROLE_ATTN_V_BIAS},  {"self_attn.o_proj.bias", QT_ROLE_ATTN_O_BIAS},
    {"self_attn.q_norm.weight", QT_ROLE_ATTN_Q_NORM}, {"self_attn.k_norm.weight", QT_ROLE_ATTN_K_NORM},
    {"self_attn.q_a_proj.weight", QT_ROLE_ATTN_Q_A}, {"self_attn.q_b_proj.weight", QT_ROLE_ATTN_Q_B},
    {"self_attn.kv_a_proj_with_mqa.weight", QT_ROLE_ATTN_KV_A},
    {"self_attn.kv_b_proj.weight", QT_ROLE_ATTN_KV_B},
    {"self_attn.q_a_layernorm.weight", QT_ROLE_ATTN_Q_A_NORM},
    {"self_attn.kv_a_layernorm.weight", QT_ROLE_ATTN_KV_A_NORM},
    {"self_attn.indexer.wq_b.weight", QT_ROLE_INDEXER_WQ_B}, {"self_attn.indexer.wk.weight", QT_ROLE_INDEXER_WK},
    {"self_attn.indexer.k_norm.weight", QT_ROLE_INDEXER_K_NORM},
    {"self_attn.indexer.k_norm.bias", QT_ROLE_INDEXER_K_NORM},
    {"self_attn.indexer.weights_proj.weight", QT_ROLE_INDEXER_WEIGHTS_PROJ},
    {"mlp.gate.weight", QT_ROLE_ROUTER},             {"mlp.gate.e_score_correction_bias", QT_ROLE_ROUTER_BIAS},
    {"block_sparse_moe.gate.weight", QT_ROLE_ROUTER},
    {"mlp.shared_experts.gate_proj.weight", QT_ROLE_SHARED_GATE},
    {"mlp.shared_experts.up_proj.weight", QT_ROLE_SHARED_UP},
    {"mlp.shared_experts.down_proj.weight", QT_ROLE_SHARED_DOWN},
    {"mlp.shared_expert.gate_proj.weight", QT_ROLE_SHARED_GATE},
    {"mlp.shared_expert.up_proj.weight", QT_ROLE_SHARED_UP},
    {"mlp.shared_expert.down_proj.weight", QT_ROLE_SHARED_DOWN},
    {"mlp.gate_proj.weight", QT_ROLE_MLP_GATE},      {"mlp.up_proj.weight", QT_ROLE_MLP_UP},
    {"mlp.down_proj.weight", QT_ROLE_MLP_DOWN},
    {"eh_proj.weight", QT_ROLE_MTP_EH_PROJ},         {"enorm.weight", QT_ROLE_MTP_ENORM},
    {"hnorm.weight", QT_ROLE_MTP_HNORM},             {"shared_head.head.weight", QT_ROLE_MTP_HEAD},
    {"shared_head.norm.weight", QT_ROLE_MTP_NORM},   {"embed_tokens.weight", QT_ROLE_MTP_EMBED},
};

static const struct name_rule expert_rules[] = {
    {"gate_proj.weight", QT_ROLE_EXPERT_GATE}, {"up_proj.weight", QT_ROLE_EXPERT_UP},
    {"down_proj.weight", QT_ROLE_EXPERT_DOWN}, {"w1.weight", QT_ROLE_EXPERT_GATE},
    {"w3.weight", QT_ROLE_EXPERT_UP},          {"w2.weight", QT_ROLE_EXPERT_DOWN},
};

/* Parses a decimal index at s; returns chars consumed (0 if none). */
static int parse_index(const char *s, int *v) {
    int k = 0;
    long x = 0;
    while (s[k] >= '0' && s[k] <= '9' && k < 9) x = x * 10 + (s[k++] - '0');
    if (k && s[k] == '.') { *v = (int)x; return k + 1; }
    return 0;
}

enum qt_role qt_classify(const char *name, int *layer, int *expert) {
    *layer = -1;
    *expert = -1;
    if (qt_str_ends_with(name, "weight_scale") || qt_str_ends_with(name, "weight_scale_inv") ||
        qt_str_ends_with(name, "input_scale") || qt_str_ends_with(name, "weight_zero_point") ||
        qt_str_ends_with(name, "weight_shape") || qt_str_ends_with(name, "weight_g_idx"))
        return QT_ROLE_WEIGHT_SCALE;
    const char *p = strstr(name, "layers.");
    if (p && (p == name || p[-1] == '.')) {
        int k = parse_index(p + 7, layer);
        if (k) {
            const char *rest = p + 7 + k;
            const char *ex = strstr(rest, "experts.");
            if (ex && !strstr(rest, "shared_expert")) {
                int e;
                int kk = parse_index(ex + 8, &e);
                if (kk) {
                    for (size_t i = 0; i < sizeof expert_rules / sizeof expert_rules[0]; i++)
                        if (!strcmp(ex + 8 + kk, expert_rules[i].suffix)) { *expert = e; return expert_rules[i].role; }
                }
            }
            for (size_t i = 0; i < sizeof layer_rules / sizeof layer_rules[0]; i++)
                if (!strcmp(rest, layer_rules[i].suffix)) return layer_rules[i].role;
            if (qt_str_ends_with(rest, "norm.weight") || qt_str_ends_with(rest, "layernorm.weight")) return QT_ROLE_NORM;
            if (qt_str_ends_with(rest, "proj.weight")) return QT_ROLE_LINEAR;
            return QT_ROLE_OTHER;
        }
        *layer = -1;
    }
    if (qt_str_ends_with(name, "embed_tokens.weight") || qt_str_ends_with(name, "wte.weight") || qt_str_ends_with(name, "tok_embeddings.weight"))
        return QT_ROLE_EMBED;
    if (!strcmp(name, "lm_head.weight") || qt_str_ends_with(name, ".lm_head.weight")) return QT_ROLE_LM_HEAD;
    if (qt_str_ends_with(name, "norm.weight")) return QT_ROLE_FINAL_NORM;
    if (qt_str_ends_with(name, "proj.weight")) return QT_ROLE_LINEAR;
    return QT_ROLE_OTHER;
}

/* ---- config -> tensors ---------------------------------------------------- */

int qt_tensor_list_add(struct qt_tensor_list *l, const char *name, enum qt_dtype dt, int ndim,
                       int64_t d0, int64_t d1, int64_t d2) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 1024;
        struct qt_tensor *v = realloc(l->v, (size_t)nc * sizeof *v);
        if (!v) return QT_ERR;
        l->v = v;
        l->cap = nc;
    }
    struct qt_tensor *t = &l->v[l->n];
    memset(t, 0, sizeof *t);
    t->name = qt_strdup(name);
    if (!t->name) return QT_ERR;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->dtype = dt;
    t->file = -1;
    t->scale = -1;
    t->group = -1;
    l->n++;
    return QT_OK;
}

#define ADD(nm, dt, nd, a0, a1)                                                   \
    do {                                                                          \
        snprintf(buf, sizeof buf, "%s%s", pre, nm);                               \
        if (qt_tensor_list_add(out, buf, dt, nd, a0, a1, 0) != QT_OK) goto oom;   \
    } while (0)

static int add_layer(const struct qt_arch *a, const struct qt_config *c, int L, int mtp,
                     struct qt_tensor_list *out) {
    char pre[64], buf[256];
    const enum qt_dtype w = c->dtype;
    int64_t H = c->hidden, nh = c->n_heads, kvh = c->n_kv_heads, hd = c->head_dim;
    snprintf(pre, sizeof pre, "model.layers.%d.", L);
    if (mtp) {
        ADD("enorm.weight", w, 1, H, 0);
        ADD("hnorm.weight", w, 1, H, 0);
        ADD("eh_proj.weight", w, 2, H, 2 * H);
        ADD("embed_tokens.weight", w, 2, c->vocab, H);
        ADD("shared_head.norm.weight", w, 1, H, 0);
        ADD("shared_head.head.weight", w, 2, c->vocab, H);
    }
    ADD("input_layernorm.weight", w, 1, H, 0);
    ADD("post_attention_layernorm.weight", w, 1, H, 0);
    if (a->attn == QT_ATTN_GQA) {
        ADD("self_attn.q_proj.weight", w, 2, nh * hd, H);
        ADD("self_attn.k_proj.weight", w, 2, kvh * hd, H);
        ADD("self_attn.v_proj.weight", w, 2, kvh * hd, H);
        ADD("self_attn.o_proj.weight", w, 2, H, nh * hd);
        if (c->attention_bias) {
            ADD("self_attn.q_proj.bias", w, 1, nh * hd, 0);
            ADD("self_attn.k_proj.bias", w, 1, kvh * hd, 0);
            ADD("self_attn.v_proj.bias", w, 1, kvh * hd, 0);
        }
        if (c->use_qk_norm) {
            ADD("self_attn.q_norm.weight", w, 1, hd, 0);
            ADD("self_attn.k_norm.weight", w, 1, hd, 0);
        }
    } else {
        int64_t qk = c->qk_nope_head_dim + c->qk_rope_head_dim;
        if (c->q_lora_rank > 0) {
            ADD("self_attn.q_a_proj.weight", w, 2, c->q_lora_rank, H);
            ADD("self_attn.q_a_layernorm.weight", w, 1, c->q_lora_rank, 0);
            ADD("self_attn.q_b_proj.weight", w, 2, nh * qk, c->q_lora_rank);
        } else {
            ADD("self_attn.q_proj.weight", w, 2, nh * qk, H);
        }
        ADD("self_attn.kv_a_proj_with_mqa.weight", w, 2, c->kv_lora_rank + c->qk_rope_head_dim, H);
        ADD("self_attn.kv_a_layernorm.weight", w, 1, c->kv_lora_rank, 0);
        ADD("self_attn.kv_b_proj.weight", w, 2, nh * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank);
        ADD("self_attn.o_proj.weight", w, 2, H, nh * c->v_head_dim);
        if (a->attn == QT_ATTN_MLA_DSA) {
            int64_t ih = c->index_n_heads, id = c->index_head_dim;
            ADD("self_attn.indexer.wq_b.weight", w, 2, ih * id, c->q_lora_rank);
            ADD("self_attn.indexer.wk.weight", w, 2, id, H);
            ADD("self_attn.indexer.k_norm.weight", w, 1, id, 0);
            ADD("self_attn.indexer.k_norm.bias", w, 1, id, 0);
            ADD("self_attn.indexer.weights_proj.weight", w, 2, ih, H);
        }
    }
    int sparse = a->moe != QT_MOE_NONE && c->n_experts > 0 && L >= c->first_k_dense &&
                 (c->sparse_step <= 1 || (L + 1) % c->sparse_step == 0);
    if (!sparse) {
        int64_t I = c->intermediate;
        ADD("mlp.gate_proj.weight", w, 2, I, H);
        ADD("mlp.up_proj.weight", w, 2, I, H);
        ADD("mlp.down_proj.weight", w, 2, H, I);
        return QT_OK;
    }
    int64_t E = c->n_experts, mI = c->moe_intermediate;
    const char *moe = a->moe == QT_MOE_MIXTRAL ? "block_sparse_moe" : "mlp";
    char nm[160];
    snprintf(nm, sizeof nm, "%s.gate.weight", moe);
    ADD(nm, w, 2, E, H);
    if (a->moe == QT_MOE_GLM) ADD("mlp.gate.e_score_correction_bias", QT_DT_F32, 1, E, 0);
    for (int e = 0; e < E; e++) {
        static const char *const names[2][3] = {{"gate_proj", "up_proj", "down_proj"}, {"w1", "w3", "w2"}};
        const char *const *n3 = names[a->moe == QT_MOE_MIXTRAL];
        snprintf(nm, sizeof nm, "%s.experts.%d.%s.weight", moe, e, n3[0]);
        ADD(nm, w, 2, mI, H);
        snprintf(nm, sizeof nm, "%s.experts.%d.%s.weight", moe, e, n3[1]);
        ADD(nm, w, 2, mI, H);
        snprintf(nm, sizeof nm, "%s.experts.%d.%s.weight", moe, e, n3[2]);
        ADD(nm, w, 2, H, mI);
    }
    if (c->n_shared_experts > 0) {
        int64_t sI = mI * c->n_shared_experts;
        ADD("mlp.shared_experts.gate_proj.weight", w, 2, sI, H);
        ADD("mlp.shared_experts.up_proj.weight", w, 2, sI, H);
        ADD("mlp.shared_experts.down_proj.weight", w, 2, H, sI);
    }
    return QT_OK;
oom:
    return QT_ERR;
}

int qt_arch_tensors(const struct qt_arch *a, const struct qt_config *c, struct qt_tensor_list *out, qt_err *err) {
    char buf[256];
    const char *pre = "";
    if (!a) return qt_err_set(err, "model type \"%s\" has no architecture table: only a checkpoint with weights can be opened", c->model_type);
    ADD("model.embed_tokens.weight", c->dtype, 2, c->vocab, c->hidden);
    for (int L = 0; L < c->n_layers + c->n_mtp; L++)
        if (add_layer(a, c, L, L >= c->n_layers, out) != QT_OK) goto oom;
    ADD("model.norm.weight", c->dtype, 1, c->hidden, 0);
    if (!c->tie_embeddings) ADD("lm_head.weight", c->dtype, 2, c->vocab, c->hidden);
    return QT_OK;
oom:
    return qt_err_set(err, "out of memory");
}
#undef ADD
