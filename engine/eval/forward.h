/* forward.h — a float32 forward pass of a decoder model on a backend
 * (backend/backend.h), DESIGN §6.
 *
 * Architectures: glm4_moe (GLM-4.5/4.6/4.7); qt_fwd_init refuses others.
 *
 * Backend: the forward composes the backend's building blocks (gemm_nt,
 * rmsnorm, qk_norm_rope, attention, route, gather/scatter of expert rows,
 * silu_mul, add, act_quant); a backend that runs whole decoder layers (the
 * CUDA row: fwd_init ... fwd_final) is handed layers instead.  Threads are
 * the backend's: the CPU backend splits rows over the one pool, each block
 * calling a single-threaded sgemm (it keeps OpenBLAS at one thread: its idle
 * workers spin between calls and starve ours).
 *
 * Work is layer-major: a batch of nseq sequences of seqlen tokens goes through
 * one layer at a time, so each weight is converted from the mmap once per
 * batch.  Only the weights of the layer being computed are held as float32
 * (one projection or one routed expert at a time), never the whole model.
 *
 * Hooks let a caller
 *   - substitute weights per tensor (dequantized weights for quantized eval),
 *   - fake-quantize the input of a Linear per token (W8A8 / FP8 dynamic),
 *   - observe the rows entering every Linear (calibration statistics; a routed
 *     expert sees only the tokens routed to it),
 * and, through qt_fwd_embed / qt_fwd_layer / qt_fwd_final, capture the hidden
 * states entering any layer and restart from them (sensitivity scans). */
#ifndef QT_FORWARD_H
#define QT_FORWARD_H
#include <stdint.h>

#include "backend/backend.h"
#include "model/model.h"
#include "base/qt.h"

/* Per-token dynamic activation fake-quantization of a Linear's input. */
/* Activation fake-quant of a Linear's input.  The GGML_* values are what
 * llama.cpp's CPU backend does to the activations before a matmul with a
 * weight of a given type (its vec_dot_type): Q8_0 blocks of 32 (legacy and
 * Q8_0/IQ4_NL weights), Q8_K blocks of 256 (K types, IQ4_XS), BF16 or F16
 * rounding (BF16/F16 weights). */
enum qt_fwd_act { QT_FWD_ACT_NONE, QT_FWD_ACT_INT8_TOK, QT_FWD_ACT_FP8_TOK,
                  QT_FWD_ACT_GGML_Q8_0, QT_FWD_ACT_GGML_Q8_K, QT_FWD_ACT_GGML_BF16, QT_FWD_ACT_GGML_F16 };

struct qt_fwd_hooks {
    void *ctx;
    /* Fills out (rows, cols) with the float32 weight to use for tensor ti
     * (an index into model->tensors) and returns QT_OK; returns 1 to use the
     * model's own weight; QT_ERR (with err) aborts the forward.  NULL: always
     * the model's weights.  Asked for every tensor the forward reads except
     * the embedding and lm_head: Linears, norms, biases and the router (out
     * then holds numel floats).  May be called from one thread at a time. */
    int (*weight)(void *ctx, int ti, float *out, qt_err *err);
    /* Activation fake-quant for the input of Linear ti; NULL: none. */
    enum qt_fwd_act (*act)(void *ctx, int ti);
    /* Sees x (n, cols), the rows entering Linear ti (after activation
     * fake-quant, i.e. what the matmul consumes).  NULL: nothing. */
    void (*observe)(void *ctx, int ti, const float *x, int64_t n, int64_t cols);
    /* Static per-tensor activation fake-quant of Linear ti's input (a
     * calibrated input_scale): returns QT_FWD_STATIC_INT8 or
     * QT_FWD_STATIC_FP8 with *scale > 0, or 0 for none (act then decides).
     * NULL: none.  The CUDA backend does not run it: a forward with this
     * hook computes on the CPU. */
    int (*act_static)(void *ctx, int ti, float *scale);
    /* fp8 kv cache of decoder layer `layer`: sees the keys (after RoPE and
     * the k norm) and values, k and v (n, kv_heads*head_dim), before they
     * are cached; then returns 1 with the static scales the cache stores
     * them with (k' = fp8(k / k_scale) * k_scale), 0 for none.  NULL: none;
     * CPU only, as act_static. */
    int (*kv)(void *ctx, int layer, const float *k, const float *v, int64_t n, int64_t cols, float *k_scale,
              float *v_scale);
    /* The embedding rows of tokens (n) into h (n, cols) for embedding
     * tensor ti (a fake-quantized token embedding: the GGUF planner's
     * token_embd unit); returns QT_OK, 1 to read the model's rows, QT_ERR.
     * NULL: the model's rows.  On a backend with resident states the rows
     * are made on the host and uploaded (eval.c). */
    int (*embed)(void *ctx, int ti, const int32_t *tokens, int64_t n, int64_t cols, float *h, qt_err *err);
};

/* act_static's answers. */
enum { QT_FWD_STATIC_INT8 = 1, QT_FWD_STATIC_FP8 = 2 };

/* Static per-tensor fake quantization of x (n, cols) in place with scale:
 * int8 sym clamp(round(x / scale), -128, 127) * scale, or fp8 e4m3 (the
 * division in float32, as compressed-tensors' GPU path). */
void qt_fwd_act_quant_static(int mode, float scale, float *x, int64_t n, int64_t cols);

struct qt_fwd;

/* Prepares a forward on backend be (NULL: qt_backend_default()) for model m
 * (which must outlive it and have weights).  hooks may be NULL; it is
 * copied.  Fails for architectures or configs the forward does not
 * implement, or missing tensors.  Free with qt_fwd_free. */
int qt_fwd_open(struct qt_backend *be, const struct qt_model *m, const struct qt_fwd_hooks *hooks,
                struct qt_fwd **out, qt_err *err);
/* qt_fwd_open(NULL, m, hooks, out, err). */
int qt_fwd_init(const struct qt_model *m, const struct qt_fwd_hooks *hooks,
                struct qt_fwd **out, qt_err *err);

/* The backend the forward computes on (what calibration statistics and the
 * evaluation's own kernels should use too). */
struct qt_backend *qt_fwd_backend_of(const struct qt_fwd *f);
void qt_fwd_free(struct qt_fwd *f);

/* Replaces the hooks (NULL: none). */
void qt_fwd_set_hooks(struct qt_fwd *f, const struct qt_fwd_hooks *hooks);

/* The name of the forward's backend row: "cuda" when the layers and the
 * head run on the GPU, else "cpu". */
const char *qt_fwd_backend(const struct qt_fwd *f);

/* The GPU forward's timing split (cuda.h); returns 0 (and zeros) on the CPU. */
int qt_fwd_gpu_stats(struct qt_fwd *f, struct qt_be_fwd_timing *t);

/* Its fields into JSON object o (cJSON): layers_s, read_s, upload_s,
 * wait_s, resident_gib, streamed_gib, streaming — what bench forward, the
 * calibrated pipeline's report and eval --json print. */
struct cJSON;
void qt_fwd_timing_json(struct cJSON *o, const struct qt_be_fwd_timing *t);

/* Number of decoder layers the forward runs (MTP layers excluded). */
int qt_fwd_n_layers(const struct qt_fwd *f);

/* h (ntok, hidden) = embedding rows of tokens (ntok), through the embed
 * hook when there is one.  Fails on an id out of the vocabulary. */
int qt_fwd_embed(struct qt_fwd *f, const int32_t *tokens, int64_t ntok, float *h, qt_err *err);

/* Runs decoder layer `layer` in place on h (nseq * seqlen, hidden): nseq
 * independent sequences of seqlen tokens, positions 0..seqlen-1, causal.
 * h == NULL: on the resident hidden states (qt_fwd_resident). */
int qt_fwd_layer(struct qt_fwd *f, int layer, float *h, int nseq, int seqlen, qt_err *err);

/* One residual block of decoder layer `layer` in place on h, as
 * qt_fwd_layer: QT_FWD_ATTN h += attention(input_layernorm(h)), QT_FWD_MLP
 * h += mlp(post_attention_layernorm(h)) (the MoE block on a MoE layer),
 * QT_FWD_WHOLE both (qt_fwd_layer).  A backend that runs whole layers (the
 * CUDA row) refuses the halves: check qt_fwd_parts. */
enum { QT_FWD_ATTN = 1, QT_FWD_MLP = 2, QT_FWD_WHOLE = 3 };
int qt_fwd_layer_part(struct qt_fwd *f, int layer, int part, float *h, int nseq, int seqlen, qt_err *err);
/* 1 when f runs the halves of a layer (qt_fwd_layer_part). */
int qt_fwd_parts(const struct qt_fwd *f);

/* ---- hidden states resident on the backend's device ----------------------
 * A backend with the fwd_embed ... fwd_kl entries (the CUDA row) keeps the
 * forward's hidden states on its device: qt_fwd_layer with h == NULL runs
 * on them, and a KL evaluation moves token ids up and per-position figures
 * down, never hidden states or logits.  Each call below fails on a backend
 * without them (check qt_fwd_resident first). */

/* 1 when f's backend keeps hidden states on its device. */
int qt_fwd_resident(const struct qt_fwd *f);

/* 1 when f has an embed hook (the embedding rows are made on the host). */
int qt_fwd_has_embed_hook(const struct qt_fwd *f);

/* Resident h (ntok, hidden) = embedding rows of tokens (ntok); fails on an
 * id out of the vocabulary. */
int qt_fwd_embed_resident(struct qt_fwd *f, const int32_t *tokens, int64_t ntok, qt_err *err);

/* to_host 0: resident h = host h (ntok, hidden); 1: host h = resident h. */
int qt_fwd_h(struct qt_fwd *f, float *h, int64_t ntok, int to_host, qt_err *err);

/* Logits of resident rows [tok0, tok0 + ntok), kept on the device for
 * qt_fwd_kl and copied to logits (ntok, vocab) when it is not NULL. */
int qt_fwd_final_resident(struct qt_fwd *f, int64_t tok0, int64_t ntok, float *logits, qt_err *err);

/* KL(base || quant) figures per position from the logits fb (base) and fq
 * (quant) kept (nseq * ctx rows each): positions first..ctx-1 of each
 * sequence, as eval.c computes them on the host; tokens (nseq * ctx). */
int qt_fwd_kl(struct qt_fwd *fq, struct qt_fwd *fb, const int32_t *tokens, int nseq, int ctx, int first,
              const struct qt_be_kl_out *out, qt_err *err);

/* logits (ntok, vocab) = lm_head(final_norm(h (ntok, hidden))). */
int qt_fwd_final(struct qt_fwd *f, const float *h, int64_t ntok, float *logits, qt_err *err);

/* Whole forward: tokens (nseq, seqlen) -> logits (nseq, seqlen, vocab). */
int qt_fwd_run(struct qt_fwd *f, const int32_t *tokens, int nseq, int seqlen,
               float *logits, qt_err *err);

/* Floating-point operations of one forward over nseq x seqlen tokens
 * (2 per multiply-add, matmuls and attention only; routed experts counted at
 * top_k per token). */
double qt_fwd_flops(const struct qt_model *m, int nseq, int seqlen);

/* Per-token fake quantization of x (n, cols) in place on the CPU reference
 * (the backend's act_quant; exposed for tests). */
void qt_fwd_act_quant(enum qt_fwd_act a, float *x, int64_t n, int64_t cols);

/* qt_parallel_for (the one pool) is declared in backend/backend.h. */

#endif
