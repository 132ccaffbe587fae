/* deploy.h — what serving a recipe costs: bytes of the quantized weights,
 * their share per GPU at tensor parallel 1/2/4/8, the KV cache per token, the
 * context that fits a GPU, GPUs needed, price, and a decode speed bound.
 *
 * Formulas (DESIGN §5):
 *   weights     Σ bytes after quantization (packed weights, scales, zero
 *               points, g_idx; kept tensors at their stored size).  MTP
 *               tensors are included and also reported apart (mtp_bytes).
 *   per GPU     split / tp + replicated, where norms, routers, MLA down
 *               projections (q_a, kv_a), eh_proj and the indexer are
 *               replicated and everything else is tensor-parallel.
 *   KV / token  GQA: 2·layers·kv_heads·head_dim·bytes, per GPU divided by
 *               min(tp, kv_heads); MLA: layers·(kv_lora_rank +
 *               qk_rope_head_dim)·bytes, replicated on every GPU.  MTP layers
 *               are not counted.
 *   fit         usable = memory · utilization − weights per GPU; tokens =
 *               usable / KV per token per GPU (the KV capacity, vLLM's "GPU
 *               KV cache size"); max_ctx = min(tokens / batch, the model's
 *               max_position_embeddings) — vLLM refuses a longer
 *               --max-model-len; concurrency = tokens / ctx (vLLM's "maximum
 *               concurrency" for ctx tokens per request).  No allowance for
 *               activations or CUDA graphs: an upper bound.
 *   GPUs needed the smallest tp of qt_deploy_tps where ctx·batch tokens fit.
 *   decode      tok_s_bound = tp · bandwidth / bytes read per token at batch
 *               1: every non-MTP weight except the embedding table, with
 *               routed experts counted for top_k of n_experts (active experts
 *               only).  tok_s_bound_ctx also reads the KV of ctx tokens.
 *   cost        cost_per_hour = GPUs · price; cost_per_mtok = cost_per_hour /
 *               (tok_s_bound · batch · 3600) · 1e6 — memory-bound decode,
 *               every sequence of the batch sharing one read of the weights. */
#ifndef QT_DEPLOY_H
#define QT_DEPLOY_H
#include <stdint.h>

#include "model/model.h"
#include "base/qt.h"
#include "recipe/recipe.h"
#include "quant/scheme.h"

struct qt_gpu {
    char *name;               /* "H100-80G" */
    double mem_bytes;         /* usable device memory as the driver reports it */
    double bw_bytes;          /* memory bandwidth, bytes/s */
    double price_hour;        /* default $/hour per GPU */
};

struct qt_gpu_catalog {
    int n;
    struct qt_gpu *g;         /* (n) in file order */
};

/* Loads a catalog: `gpus:` a list of {name, memory_gib, bandwidth_gbs
 * (GB/s, 1e9), price_hour}.  Errors name the file, line and column. */
int qt_gpu_catalog_load(const char *path, struct qt_gpu_catalog *out, qt_err *err);
/* The catalog qtune uses (qtune deploy, the daemon's deploy): file when not
 * NULL, else $QTUNE_GPUS, else share/gpus.yaml beside the running binary
 * (../share/qtune/gpus.yaml or ../share/gpus.yaml for an install), else
 * ./share/gpus.yaml.  Free with qt_gpu_catalog_free. */
int qt_gpu_catalog_load_default(const char *file, struct qt_gpu_catalog *out, qt_err *err);
void qt_gpu_catalog_free(struct qt_gpu_catalog *c);
/* Lookup ignoring case and ' '/'_'/'-' differences, else a unique prefix
 * ("h100" -> H100-80G); NULL when absent or ambiguous. */
const struct qt_gpu *qt_gpu_find(const struct qt_gpu_catalog *c, const char *name);

/* Bytes of tensor t stored under scheme s (NULL or bf16: as stored):
 * qt_scheme_bytes' compressed-tensors layout, plus weight_g_idx (int32 per
 * input column) when actorder is "group". */
double qt_deploy_tensor_bytes(const struct qt_tensor *t, const struct qt_scheme *s, const char *actorder);

/* Bytes per KV-cache element of a dtype name as vLLM's --kv-cache-dtype
 * and qtune deploy --kv-dtype write it: 0 for "auto" (the recipe's
 * kv_cache_scheme, else the model dtype), 2 bf16/fp16/f16/half, 1
 * fp8/fp8_e4m3/fp8_e5m2/int8, 4 fp32/float32; -1 when unknown.  One list
 * for the CLI, the daemon's deploy op and its settings. */
int qt_deploy_kv_dtype_bytes(const char *name);
#define QT_DEPLOY_KV_DTYPES "auto, bf16, fp16, fp8, fp32"

struct qt_deploy_opts {
    const struct qt_gpu *gpu; /* required */
    int tp;                   /* 0: the smallest that fits */
    int64_t ctx;              /* tokens per sequence (default 8192, at most
                                 the model's max_position_embeddings; more is
                                 capped there, ctx_over_limit set) */
    int batch;                /* sequences (default 1) */
    double util;              /* memory utilization (default 0.9) */
    int kv_bytes;             /* bytes per KV element, 0: from the recipe's
                                 kv_cache_scheme, else the model dtype */
};

struct qt_deploy_tp {
    int tp;
    double weights_bytes;     /* per GPU */
    double kv_bytes_per_token;/* per GPU */
    int64_t max_tokens;       /* KV tokens that fit per GPU group */
    int64_t max_ctx;          /* max_tokens / batch, capped at the model's limit */
    double concurrency;       /* max_tokens / ctx: requests of ctx tokens served at once */
    int fits;                 /* ctx·batch tokens fit */
};

/* The tensor-parallel sizes vLLM's deployments take (per_gpu's rows,
 * --tp, the planner's --gpus): the one table of them. */
#define QT_DEPLOY_NTP 4
extern const int qt_deploy_tps[QT_DEPLOY_NTP];   /* 1, 2, 4, 8 */
#define QT_DEPLOY_TPS_TEXT "1, 2, 4 or 8"
/* The row of qt_deploy_tps holding tp, or -1. */
int qt_deploy_tp_index(int tp);

struct qt_deploy {
    double weights_bytes;     /* all tensors after quantization, MTP included */
    double mtp_bytes;         /* the MTP part of weights_bytes */
    double replicated_bytes;  /* the part every GPU holds whole */
    double active_bytes;      /* read per decoded token (non-MTP, active experts) */
    double kv_bytes_per_token;/* whole model, one token */
    int kv_bytes;             /* per element */
    int kv_mla;               /* 1: MLA latent cache */
    struct qt_deploy_tp per_gpu[QT_DEPLOY_NTP];   /* by qt_deploy_tps */
    int gpus_needed;          /* 0 when it does not fit on 8 */
    int tp;                   /* the tp the figures below use */
    double tok_s_bound, tok_s_bound_ctx;
    double cost_per_hour, cost_per_mtok;
    int64_t ctx;
    int batch;
    double util;
    int64_t ctx_limit;        /* the model's max_position_embeddings, 0 unknown */
    int ctx_over_limit;       /* 1: the ctx asked for is beyond ctx_limit (vLLM refuses it):
                                 ctx is then capped at ctx_limit */
    int64_t ctx_asked;        /* the ctx asked for (the default's when none) */
};

/* Estimates serving r on m (res from qt_recipe_resolve; r/res may be NULL for
 * the unquantized model). */
int qt_deploy_estimate(const struct qt_model *m, const struct qt_recipe *r,
                       const struct qt_resolution *res, const struct qt_deploy_opts *o,
                       struct qt_deploy *out, qt_err *err);

#endif
