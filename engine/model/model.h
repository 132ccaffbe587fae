/* model.h — a model as the rest of the engine sees it: the parsed config and
 * one descriptor per tensor (name, shape, dtype, role, layer, expert, fused
 * group), whatever the on-disk layout.  Weights stay in the mmap'd shards and
 * are converted to float32 rows on demand; a config-only model has every
 * descriptor and no data. */
/* Folder model/ (docs/architecture.md): a model as tensors — safetensors and
 * GGUF files, config.json and the architecture table, the role table (one row
 * of facts per role), the one definition of a quantizable tensor, name
 * matching (targets / ignore), the tokenizer, the compressed-tensors reader.
 * Includes base/ and quant/. */
#ifndef QT_MODEL_H
#define QT_MODEL_H
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"

/* ---- roles: one row per role (ggml's type_traits) ---------------------------
 * Every fact about a role that more than one module needs is a column here,
 * so a new role is one row (docs/architecture.md, "How to add a role"):
 *   name   short name (protocol, reports, inspect)
 *   cls    the module class the reference implementation gives it (what a
 *          class target such as "Linear" or "Glm4MoeRMSNorm" matches:
 *          qt_model_classes names it for the architecture; NORM is its
 *          <Prefix>RMSNorm, ROUTER its <Prefix>TopkRouter or nn.Linear)
 *   tp     how vLLM's tensor parallelism splits it: column (output rows),
 *          row (input columns) or none (replicated, or vocab-padded)
 *   in     tensors of the same kind in one layer (and expert) are fed the
 *          same input rows (q/k/v; gate/up): calibration shares the sums
 *   isc    which static input scale vLLM shares: it runs q/k/v (1), dense
 *          gate/up (2), shared gate/up (3) and a layer's routed experts'
 *          gate/up (4, w13) or down (5, w2) as one kernel with one input
 *          scale, the max of its parts'; 0 for a module on its own
 *   flags  QT_RF_QUANT   compressed-tensors quantizes it when a target names
 *                        it (the one definition of "quantizable": never the
 *                        router, norms or biases)
 *          QT_RF_REPL    held whole on every GPU under tensor parallelism
 *          QT_RF_FWD     a Linear qtune's CPU forward pass runs
 *          QT_RF_HEAD    an output projection over the vocabulary, which a
 *                        bare --scheme keeps (as ignore: [lm_head] does)
 *          QT_RF_EXPERT  a routed expert's projection */
enum qt_role_class { QT_CLS_NONE, QT_CLS_LINEAR, QT_CLS_EMBEDDING, QT_CLS_NORM, QT_CLS_LAYERNORM, QT_CLS_ROUTER };
enum qt_tp_split { QT_TP_NONE, QT_TP_COLUMN, QT_TP_ROW };
enum qt_role_input { QT_IN_NONE, QT_IN_ATTN, QT_IN_MLP, QT_IN_SHARED, QT_IN_EXPERT };
#define QT_RF_QUANT 1
#define QT_RF_REPL 2
#define QT_RF_FWD 4
#define QT_RF_HEAD 8
#define QT_RF_EXPERT 16

#define QT_RF_LIN_FWD (QT_RF_QUANT | QT_RF_FWD)
#define QT_ROLES(X) \
    /* id                    name                    cls        tp      in      isc flags */ \
    X(OTHER,                "other",                NONE,      NONE,   NONE,   0,  QT_RF_QUANT) \
    X(EMBED,                "embed",                EMBEDDING, NONE,   NONE,   0,  QT_RF_QUANT) \
    X(ATTN_Q,               "attn_q",               LINEAR,    COLUMN, ATTN,   1,  QT_RF_LIN_FWD) \
    X(ATTN_K,               "attn_k",               LINEAR,    COLUMN, ATTN,   1,  QT_RF_LIN_FWD) \
    X(ATTN_V,               "attn_v",               LINEAR,    COLUMN, ATTN,   1,  QT_RF_LIN_FWD) \
    X(ATTN_O,               "attn_o",               LINEAR,    ROW,    NONE,   0,  QT_RF_LIN_FWD) \
    X(ATTN_Q_BIAS,          "attn_q_bias",          NONE,      NONE,   NONE,   0,  0) \
    X(ATTN_K_BIAS,          "attn_k_bias",          NONE,      NONE,   NONE,   0,  0) \
    X(ATTN_V_BIAS,          "attn_v_bias",          NONE,      NONE,   NONE,   0,  0) \
    X(ATTN_O_BIAS,          "attn_o_bias",          NONE,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(ATTN_Q_NORM,          "attn_q_norm",          NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(ATTN_K_NORM,          "attn_k_norm",          NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(ATTN_Q_A,             "attn_q_a",             LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_REPL) \
    X(ATTN_Q_B,             "attn_q_b",             LINEAR,    COLUMN, NONE,   0,  QT_RF_QUANT) \
    X(ATTN_KV_A,            "attn_kv_a",            LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_REPL) \
    X(ATTN_KV_B,            "attn_kv_b",            LINEAR,    COLUMN, NONE,   0,  QT_RF_QUANT) \
    X(ATTN_Q_A_NORM,        "attn_q_a_norm",        NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(ATTN_KV_A_NORM,       "attn_kv_a_norm",       NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(ROUTER,               "router",               ROUTER,    NONE,   NONE,   0,  QT_RF_REPL) \
    X(ROUTER_BIAS,          "router_bias",          ROUTER,    NONE,   NONE,   0,  QT_RF_REPL) \
    X(EXPERT_GATE,          "expert_gate",          LINEAR,    COLUMN, EXPERT, 4,  QT_RF_LIN_FWD | QT_RF_EXPERT) \
    X(EXPERT_UP,            "expert_up",            LINEAR,    COLUMN, EXPERT, 4,  QT_RF_LIN_FWD | QT_RF_EXPERT) \
    X(EXPERT_DOWN,          "expert_down",          LINEAR,    ROW,    NONE,   5,  QT_RF_LIN_FWD | QT_RF_EXPERT) \
    X(SHARED_GATE,          "shared_gate",          LINEAR,    COLUMN, SHARED, 3,  QT_RF_LIN_FWD) \
    X(SHARED_UP,            "shared_up",            LINEAR,    COLUMN, SHARED, 3,  QT_RF_LIN_FWD) \
    X(SHARED_DOWN,          "shared_down",          LINEAR,    ROW,    NONE,   0,  QT_RF_LIN_FWD) \
    X(MLP_GATE,             "mlp_gate",             LINEAR,    COLUMN, MLP,    2,  QT_RF_LIN_FWD) \
    X(MLP_UP,               "mlp_up",               LINEAR,    COLUMN, MLP,    2,  QT_RF_LIN_FWD) \
    X(MLP_DOWN,             "mlp_down",             LINEAR,    ROW,    NONE,   0,  QT_RF_LIN_FWD) \
    X(NORM,                 "norm",                 NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(FINAL_NORM,           "final_norm",           NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(LM_HEAD,              "lm_head",              LINEAR,    NONE,   NONE,   0,  QT_RF_LIN_FWD | QT_RF_HEAD) \
    X(MTP_EH_PROJ,          "mtp_eh_proj",          LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_REPL) \
    X(MTP_ENORM,            "mtp_enorm",            NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(MTP_HNORM,            "mtp_hnorm",            NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(MTP_HEAD,             "mtp_shared_head",      LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_HEAD) \
    X(MTP_NORM,             "mtp_shared_norm",      NORM,      NONE,   NONE,   0,  QT_RF_REPL) \
    X(MTP_EMBED,            "mtp_embed",            EMBEDDING, NONE,   NONE,   0,  QT_RF_QUANT) \
    X(INDEXER_WQ_B,         "indexer_wq_b",         LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_REPL) \
    X(INDEXER_WK,           "indexer_wk",           LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_REPL) \
    X(INDEXER_K_NORM,       "indexer_k_norm",       LAYERNORM, NONE,   NONE,   0,  QT_RF_REPL) \
    X(INDEXER_WEIGHTS_PROJ, "indexer_weights_proj", LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT | QT_RF_REPL) \
    X(LINEAR,               "linear",               LINEAR,    NONE,   NONE,   0,  QT_RF_QUANT) \
    X(WEIGHT_SCALE,         "weight_scale",         NONE,      NONE,   NONE,   0,  0)

enum qt_role {
#define QT_ROLE_ENUM(id, name, cls, tp, in, isc, flags) QT_ROLE_##id,
    QT_ROLES(QT_ROLE_ENUM)
#undef QT_ROLE_ENUM
    QT_ROLE_COUNT
};

struct qt_role_traits {
    const char *name;
    enum qt_role_class cls;
    enum qt_tp_split tp;
    enum qt_role_input in;
    int isc;                  /* vLLM's input-scale class */
    int flags;                /* QT_RF_* */
};

/* The row of role r (the OTHER row for a value out of range). */
const struct qt_role_traits *qt_role_traits(enum qt_role r);
const char *qt_role_name(enum qt_role r);
/* 1 when modules of this role are nn.Linear (targets of "Linear"). */
int qt_role_is_linear(enum qt_role r);
/* 1 when r's row has all of flags (QT_RF_*). */
int qt_role_has(enum qt_role r, int flags);
/* Which input activation scale a module of this role shares in vLLM: the
 * row's isc column (0 for a module on its own). */
int qt_role_input_scale_class(enum qt_role r);

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

/* The one definition of "quantizable", shared by resolve, preview, lint,
 * deploy, the TUI's tree and the writer: a 2-D ".weight" of a role that
 * compressed-tensors quantizes when a target names it (QT_RF_QUANT).  The
 * router, norms, biases and FP8 scales never are, whatever the targets. */
int qt_tensor_quantizable(const struct qt_tensor *t);
/* The same for a tensor of m, where the architecture decides one more
 * case: the router is quantizable where transformers makes it an nn.Linear
 * (qwen3_moe, mixtral: what `Linear` targets), never as <Prefix>TopkRouter
 * (glm4_moe, deepseek_v3).  What resolve, preview, match and the planner
 * use. */
int qt_model_quantizable(const struct qt_model *m, const struct qt_tensor *t);

/* Module name: the tensor name without a trailing ".weight" / ".bias"; writes
 * into buf (size n) and returns buf. */
char *qt_tensor_module(const struct qt_tensor *t, char *buf, size_t n);

/* Read-ahead hints for passes over mmap'd shards (madvise MADV_WILLNEED on
 * the tensor's bytes): the kernel starts reading them while the caller
 * computes on what it has, instead of faulting each page in on first
 * touch.  A hint: no effect on results, nothing for a tensor without bytes
 * in a mapping (metadata only, a compressed-tensors module).
 * qt_model_prefetch_layer hints every tensor of decoder layer `layer`
 * (nothing when it is out of range).  QTUNE_READAHEAD=0 turns the hints
 * off (docs/bench.md measures them with it). */
void qt_tensor_prefetch(const struct qt_tensor *t);
void qt_model_prefetch_layer(const struct qt_model *m, int layer);

/* Reads rows [row0, row0+nrows) of t as float32 into out (nrows * cols).
 * FP8 sources are dequantized with their scales.  Fails on metadata-only
 * models with a message saying so. */
int qt_tensor_read_f32(const struct qt_model *m, const struct qt_tensor *t,
                       int64_t row0, int64_t nrows, float *out, qt_err *err);

/* The torch classes of a module, most derived first, as its type's
 * __mro__ lists them (`object` left out): what a class-name target of
 * compressed-tensors matches (any class in the list, by name). */
#define QT_MCLASS_MAX 3
struct qt_mclass {
    int n;
    char name[QT_MCLASS_MAX][64];   /* (n) e.g. "Glm4MoeTopkRouter", "Module" */
};

/* The classes of the module holding tensors of role r in m, as transformers
 * builds the model (arch.c's table: nn.Linear projections and lm_head,
 * nn.Embedding, the architecture's <Prefix>RMSNorm, its router class, or
 * nn.Linear where the router is one: qwen3_moe, mixtral).  The prefix is
 * config.json's architectures[0] without "ForCausalLM", else the table's
 * for model_type.  m NULL or a role with no known class: {"Module"}. */
void qt_model_classes(const struct qt_model *m, enum qt_role r, struct qt_mclass *out);

/* Totals over the model: parameters and bytes of all tensors, excluding
 * (mtp=0) or only (mtp=1) MTP layers; mtp=-1 counts everything. */
int64_t qt_model_params(const struct qt_model *m, int mtp);
int64_t qt_model_bytes(const struct qt_model *m, int mtp);

#endif
