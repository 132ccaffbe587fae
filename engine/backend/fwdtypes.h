/* fwdtypes.h — the types of the whole-layer forward seam, shared by the
 * backend table (backend.h: fwd_init ... fwd_kl) and the CUDA backend's C
 * face (backend/cuda/cuda.h, whose entry points the table's CUDA row calls
 * unchanged).  One definition, so the two sides cannot drift apart.
 *
 * Plain C, valid C++ (cuda.h is included from the .cu files). */
#ifndef QT_BACKEND_FWDTYPES_H
#define QT_BACKEND_FWDTYPES_H
#include <stdint.h>

#include "base/qt.h"

/* Tensor indices of one glm4_moe decoder layer, as engine/eval/forward.c
 * resolves them (-1 when absent). */
struct qt_be_layer {
    int in_norm, post_norm;
    int q, k, v, o, qb, kb, vb, ob, qn, kn;
    int gate, up, down;
    int router, router_bias;
    int sgate, sup, sdown;
    const int *eg, *eu, *ed;        /* (n_experts) */
    int moe;
};

struct qt_be_fwd_cfg {
    int hidden, n_heads, n_kv_heads, head_dim, rot;
    int n_experts, top_k, n_group, topk_group, norm_topk_prob;
    float routed_scaling, eps;
    const float *inv_freq;          /* (rot/2) */
};

/* What only the forward's caller knows (eval/forward.h's hooks): weight
 * fills out (rows, cols) with tensor ti's float32 weight and returns QT_OK,
 * or 1 for the model's own, or QT_ERR; act gives Linear ti's input
 * fake-quant (enum qt_act_quant: 0 none, 1 int8, 2 fp8, 3..6 llama.cpp's
 * types); observe (may be NULL) sees the rows entering Linear ti (host
 * memory); cache_weights 1: weights may stay resident between calls (the
 * same tensor index always gives the same weight), 0: fetched each call.
 * weight and observe are called from one thread at a time (the streaming
 * thread while streaming) and never with a backend's lock held. */
struct qt_be_fwd_cb {
    void *ctx;
    int (*weight)(void *ctx, int ti, float *out, qt_err *err);
    int (*act)(void *ctx, int ti);
    void (*observe)(void *ctx, int ti, const float *x, int64_t n, int64_t cols);
    int cache_weights;
};

/* Where a whole-layer forward's time went (seconds, summed over calls):
 *   read      host side: the weight callback, or copying BF16 rows from the
 *             mmap into pinned memory (on the streaming thread, overlapped)
 *   upload    host-to-device copies of weights (events on the copy stream
 *             when streaming, overlapped with the GEMMs)
 *   wait      the layers waiting for a streamed weight (what overlap hid
 *             not: read + upload that the compute could not cover)
 *   layers    wall time inside the layer calls
 * resident: bytes of weights held on the device; streamed: bytes of weights
 * uploaded by the streaming path; streaming: 1 once the cache was full (or
 * QTUNE_CUDA_CACHE_MB reached) and weights began to stream. */
/* The phases QTUNE_CUDA_PROFILE=1 times (the CUDA row): per phase the
 * device time between its bounding events and the host time spent issuing
 * it, summed over the last batch a KL evaluation ended.  Development only:
 * the profile synchronizes after every layer. */
enum {
    QT_BE_PH_QKV, QT_BE_PH_ROPE, QT_BE_PH_ATTN, QT_BE_PH_OPROJ, QT_BE_PH_ROUTE, QT_BE_PH_SHARED,
    QT_BE_PH_EXPERTS, QT_BE_PH_COMBINE, QT_BE_PH_MLP, QT_BE_PH_EMBED, QT_BE_PH_HEAD, QT_BE_PH_KL,
    QT_BE_PH_GAP, QT_BE_NPHASE
};
#define QT_BE_PHASE_NAMES                                                                                   \
    {"norm_qkv", "rope", "attention", "o_proj_norm", "routing", "shared_expert", "experts", "combine_add", \
     "dense_mlp_add", "embed", "head", "kl", "between_calls"}

/* The CUDA forward's GEMM arithmetic (QTUNE_CUDA_GEMM=f32|tf32|bf16):
 * float32; tensor cores with inputs rounded to TF32; to BF16.  Float32
 * accumulation in all three. */
enum { QT_BE_GEMM_F32, QT_BE_GEMM_TF32, QT_BE_GEMM_BF16 };
#define QT_BE_GEMM_NAMES {"f32", "tf32", "bf16"}

struct qt_be_fwd_timing {
    int64_t resident, streamed;
    double read, upload, wait, layers;
    int streaming;
    int gemm_mode;                                  /* QT_BE_GEMM_* (QTUNE_CUDA_GEMM) */
    int gemm_per_expert;                            /* the grouped tensor-core GEMM was refused */
    int attn_gemm;                                  /* attention ran as batched GEMMs (tensor-core modes) */
    int profiled;                                   /* the phase figures below are set */
    double phase_dev[QT_BE_NPHASE], phase_host[QT_BE_NPHASE];   /* seconds */
};

/* Per-position results of a KL evaluation over nseq sequences of ctx
 * tokens, positions first..ctx-1 of each (n = nseq * (ctx - first) rows, in
 * sequence order): eval.c's kl_rows, field for field.  Host arrays (n). */
struct qt_be_kl_out {
    double *kl;                     /* KL(base || quant) >= 0 */
    double *nllb, *nllq, *dp;       /* next-token terms; NAN at ctx-1 */
    unsigned char *same;            /* argmax equal */
};

#endif
