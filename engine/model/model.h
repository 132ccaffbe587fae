/* model.h — a model as the rest of the engine sees it: the parsed config and
 * one descriptor per tensor (name, shape, dtype, role, layer, expert, fused
 * group), whatever the on-disk layout.  Weights stay in the mmap'd shards and
 * are converted to float32 rows on demand; a config-only model has every
 * descriptor and no data. */
#ifndef QT_MODEL_H
#define QT_MODEL_H
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"

/* X-macro: role enum, short name, quantizable as a Linear module. */
#define QT_ROLES(X)                                                     \
    X(OTHER, "other", 0)            X(EMBED, "embed", 0)                \
    X(ATTN_Q, "attn_q", 1)          X(ATTN_K, "attn_k", 1)              \
    X(ATTN_V, "attn_v", 1)          X(ATTN_O, "attn_o", 1)              \
    X(ATTN_Q_BIAS, "attn_q_bias", 0) X(ATTN_K_BIAS, "attn_k_bias", 0)   \
    X(ATTN_V_BIAS, "attn_v_bias", 0) X(ATTN_O_BIAS, "attn_o_bias", 0)   \
    X(ATTN_Q_NORM, "attn_q_norm", 0) X(ATTN_K_NORM, "attn_k_norm", 0)   \
    X(ATTN_Q_A, "attn_q_a", 1)      X(ATTN_Q_B, "attn_q_b", 1)          \
    X(ATTN_KV_A, "attn_kv_a", 1)    X(ATTN_KV_B, "attn_kv_b", 1)        \
    X(ATTN_Q_A_NORM, "attn_q_a_norm", 0) X(ATTN_KV_A_NORM, "attn_kv_a_norm", 0) \
    X(ROUTER, "router", 0)          X(ROUTER_BIAS, "router_bias", 0)    \
    X(EXPERT_GATE, "expert_gate", 1) X(EXPERT_UP, "expert_up", 1)       \
    X(EXPERT_DOWN, "expert_down", 1)                                    \
    X(SHARED_GATE, "shared_gate", 1) X(SHARED_UP, "shared_up", 1)       \
    X(SHARED_DOWN, "shared_down", 1)                                    \
    X(MLP_GATE, "mlp_gate", 1)      X(MLP_UP, "mlp_up", 1)              \
    X(MLP_DOWN, "mlp_down", 1)                                          \
    X(NORM, "norm", 0)              X(FINAL_NORM, "final_norm", 0)      \
    X(LM_HEAD, "lm_head", 1)                                            \
    X(MTP_EH_PROJ, "mtp_eh_proj", 1) X(MTP_ENORM, "mtp_enorm", 0)       \
    X(MTP_HNORM, "mtp_hnorm", 0)    X(MTP_HEAD, "mtp_shared_head", 1)   \
    X(MTP_NORM, "mtp_shared_norm", 0) X(MTP_EMBED, "mtp_embed", 0)      \
    X(INDEXER_WQ_B, "indexer_wq_b", 1) X(INDEXER_WK, "indexer_wk", 1)   \
    X(INDEXER_K_NORM, "indexer_k_norm", 0)                              \
    X(INDEXER_WEIGHTS_PROJ, "indexer_weights_proj", 1)                  \
    X(LINEAR, "linear", 1)                                              \
    X(WEIGHT_SCALE, "weight_scale", 0)

enum qt_role {
#define QT_ROLE_ENUM(id, name, lin) QT_ROLE_##id,
    QT_ROLES(QT_ROLE_ENUM)
#undef QT_ROLE_ENUM
    QT_ROLE_COUNT
};

const char *qt_role_name(enum qt_role r);
/* 1 when modules of this role are nn.Linear (targets of "Linear"). */
int qt_role_is_linear(enum qt_role r);

/* A fused group: tensors vLLM runs as one kernel, which must share a scheme. */
enum qt_group_kind { QT_GROUP_QKV, QT_GROUP_GATE_UP, QT_GROUP_SHARED_GATE_UP,
                     QT_GROUP_EXPERTS, QT_GROUP_MLA_Q, QT_GROUP_KIND_COUNT };

struct qt_group {
    char *name;               /* e.g. "model.layers.1.self_attn.qkv_proj" */
    enum qt_group_kind kind;
    int layer;
    int n_members;
    int *members;             /* (n_members) tensor indices */
};

struct qt_tensor {
    char *name;               /* full name: "model.layers.1.mlp.experts.3.up_proj.weight" */
    int ndim;
    int64_t shape[4];
    enum qt_dtype dtype;
    enum qt_role role;
    int layer;                /* decoder layer index (MTP layers continue the count), -1 if none */
    int expert;               /* routed expert index, -1 if none */
    int mtp;                  /* 1 when the tensor belongs to an MTP (next-n) layer */
    int group;                /* index into model->groups, -1 if not fused */
    /* storage */
    int file;                 /* shard index, -1 when metadata only */
    const void *data;         /* bytes in the mmap (a view into a 3-D fused tensor for
                                 fused experts), NULL when metadata only */
    uint64_t nbytes;          /* numel * dtype size */
    char *source;             /* on-disk tensor name when it differs (fused 3-D), else NULL */
    int scale;                /* index of an FP8 source's weight_scale / weight_scale_inv, -1 */
    int scale_inv;            /* 1 when scale is a 128x128 block weight_scale_inv */
    int ct;                   /* 1 + index of its compressed-tensors module (ct_read.h) when
                                 the tensor is the logical weight of a quantized module
                                 (data NULL: read it with qt_tensor_read_f32), else 0 */
    int gg;                   /* 1 + ggml type id when data holds GGUF blocks (a GGUF file
                                 opened as a model: quant/ggml_quants.h), else 0 */
};

struct qt_config {
    char model_type[64];
    char architecture[128];
    int hidden, n_layers, n_heads, n_kv_heads, head_dim;
    int intermediate, moe_intermediate, vocab;
    int n_experts, n_shared_experts, top_k, first_k_dense, n_mtp;
    int n_group, topk_group;
    int attention_bias, use_qk_norm, norm_topk_prob, tie_embeddings;
    double rms_eps, rope_theta, partial_rotary, routed_scaling;
    /* MLA (deepseek_v3, glm_moe_dsa) */
    int q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    int index_n_heads, index_head_dim, index_topk;
    /* qwen3_moe: decoder_sparse_step, mlp_only_layers is not modelled */
    int sparse_step;
    int max_pos;              /* max_position_embeddings: the context the model was built for, 0 unknown */
    enum qt_dtype dtype;      /* torch_dtype / dtype of the weights */
};

struct qt_st_file;

struct qt_model {
    char *path;               /* directory of the model */
    struct qt_config cfg;
    int known_arch;           /* 0: roles were guessed from names */
    int metadata_only;        /* 1: built from config.json alone, no data */
    int fused_experts;        /* 1: experts stored as 3-D gate_up_proj/down_proj */
    int n_tensors;
    struct qt_tensor *tensors;  /* (n_tensors) sorted: embed, layers, MTP, norm, lm_head */
    int n_groups;
    struct qt_group *groups;    /* (n_groups) */
    int n_files;
    struct qt_st_file **files;  /* (n_files) */
    void *index;                /* name -> tensor hash (private) */
    void *ct;                   /* compressed-tensors modules (ct_read.h), NULL if none */
    void *gguf;                 /* struct qt_gguf (gguf.h) when opened from a GGUF file */
};

/* Opens a model: a directory with config.json and safetensors (single file or
 * sharded with model.safetensors.index.json), a directory or file with only
 * config.json (metadata only), a single .safetensors file, or a .gguf file
 * (gguf.h: Hugging Face names, weights dequantized on read). */
int qt_model_open(const char *path, struct qt_model **out, qt_err *err);
void qt_model_free(struct qt_model *m);

/* Builds the tensor table a config implies (used for metadata-only models and
 * to assign roles); exposed for tests. */
int qt_model_from_config(const char *config_path, struct qt_model **out, qt_err *err);

/* (Re)builds the name index of a model whose tensor table the caller
 * filled: a client's description of the model its daemon opened
 * (qt_client_model), which has no files.  qt_model_free frees it. */
int qt_model_index(struct qt_model *m, qt_err *err);

const struct qt_tensor *qt_model_find(const struct qt_model *m, const char *name);
int qt_model_find_index(const struct qt_model *m, const char *name);

int64_t qt_tensor_numel(const struct qt_tensor *t);
int64_t qt_tensor_rows(const struct qt_tensor *t);  /* shape[0], 1 for scalars/vectors */
int64_t qt_tensor_cols(const struct qt_tensor *t);  /* numel / rows */

/* Module name: the tensor name without a trailing ".weight" / ".bias"; writes
 * into buf (size n) and returns buf. */
char *qt_tensor_module(const struct qt_tensor *t, char *buf, size_t n);

/* Reads rows [row0, row0+nrows) of t as float32 into out (nrows * cols).
 * FP8 sources are dequantized with their scales.  Fails on metadata-only
 * models with a message saying so. */
int qt_tensor_read_f32(const struct qt_model *m, const struct qt_tensor *t,
                       int64_t row0, int64_t nrows, float *out, qt_err *err);

/* Totals over the model: parameters and bytes of all tensors, excluding
 * (mtp=0) or only (mtp=1) MTP layers; mtp=-1 counts everything. */
int64_t qt_model_params(const struct qt_model *m, int mtp);
int64_t qt_model_bytes(const struct qt_model *m, int mtp);

#endif
