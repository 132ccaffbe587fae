/* eval.h — KL divergence and perplexity of a quantized forward against the
 * original model, llama.cpp's --kl-divergence statistics (DESIGN §6).
 *
 * Protocol (tests/refs/eval_kl.json): the text is tokenized with the model's
 * tokenizer.json (no special tokens added) and cut into consecutive chunks of
 * ctx tokens from the start (as many as `chunks`, fewer when the text is
 * short); each chunk is an independent sequence.  At every scored position
 * KL(base‖quant) over the full vocabulary in double precision; PPL over the
 * scored positions that have a next token (0..ctx-2); same_top_p = argmax
 * agreement; rms_dp = RMS of p_quant − p_base of the correct next token.
 * Percentiles by nearest rank on the sorted values, index = round(f·(n−1)).
 * --second-half scores only positions ctx/2 .. ctx-2 of each chunk, the
 * ctx - 1 - ctx/2 positions llama-perplexity --kl-divergence scores (the
 * last position, which predicts no token, is not one of them).
 *
 * The base model runs once per (model, text, ctx, chunks): what is kept is
 * the hidden state after the last layer (npos × hidden floats — small) and,
 * for sensitivity, the states entering each layer.  That is what goes to the
 * disk cache ($cache_dir/eval-base-<key>.bin): reloading it and recomputing
 * the base logits costs one lm_head matmul, whereas the base log-probs
 * themselves (npos × vocab floats: 256 MB for 8192 positions of a 8192-token
 * vocabulary, 5 GB for GLM's 151k) are too big to store and too lossy to
 * store in 16 bits for KLs of 1e-4.  The base logits are kept in memory when
 * they fit in 1 GiB, so evaluating several schemes in one process (tests,
 * the daemon, sensitivity scans) computes them once. */
/* Folder eval/ (docs/architecture.md): measuring — the forward pass, KL /
 * perplexity evaluation, calibration statistics, the preview's error
 * statistics, sensitivity scans and the bit-allocation planner.  Reads
 * weights; includes every folder below it (base … recipe). */
#ifndef QT_EVAL_H
#define QT_EVAL_H
#include <stdint.h>

#include "eval/forward.h"
#include "model/model.h"
#include "base/qt.h"

struct qt_eval_params {
    const char *data_path;      /* eval text (UTF-8) */
    int ctx;                    /* tokens per chunk (default 512 when 0) */
    int chunks;                 /* chunks to use at most (default 16 when 0) */
    int second_half;            /* score only the second half of each chunk */
    const char *cache_dir;      /* base cache directory (created), NULL: none */
    int keep_states;            /* base: also keep the states entering each layer */
    /* progress(progress_ctx, done, total) after each layer / chunk; NULL: none */
    void (*progress)(void *progress_ctx, int64_t done, int64_t total);
    void *progress_ctx;
    volatile int *cancel;       /* non-zero: stop at the next layer / chunk, fail "cancelled" */
    /* base: activation rounding of every Linear of the base forward (part of
     * the cache key); QT_FWD_ACT_GGML_BF16 is llama.cpp running a BF16 GGUF */
    enum qt_fwd_act base_act;
    /* qt_eval_run: the model whose final norm and lm_head turn the base
     * states into logits when they are not kept (NULL: the run's model).
     * Set when the run's model is another file (a GGUF of the base). */
    const struct qt_model *base_model;
    /* where the forwards run (backend.h); NULL: qt_backend_default() */
    struct qt_backend *be;
};

struct qt_eval_base {
    int nseq, ctx, n_layers, hidden, vocab;
    int64_t npos;               /* nseq * ctx */
    int32_t *tokens;            /* (nseq, ctx) */
    float *h_final;             /* (npos, hidden) after the last layer, before the final norm */
    float *states;              /* (n_layers, npos, hidden) entering each layer, or NULL */
    float *logits;              /* (npos, vocab) base logits kept in memory, or NULL */
    int from_cache;             /* 1 when loaded from the disk cache */
    char *cache_path;           /* cache file read or written; NULL without a cache dir or when writing failed */
};

struct qt_kl_stats {
    double kld_mean, kld_stderr, kld_median, kld_p90, kld_p99, kld_p999, kld_max;
    double same_top_p;          /* fraction of positions with the same argmax */
    double ppl_base, ppl_q, ln_ppl_ratio;
    double rms_dp;              /* RMS of p_q - p_base of the correct token */
    int64_t positions;          /* positions KL is scored on */
    int64_t ppl_positions;      /* positions with a next token */
    int tensors_quantized;      /* filled by the caller (the plan's count) */
    /* on_device 1: the quantized model's forward ran on a device backend,
     * fwd its time split (qt_fwd_gpu_stats) */
    int on_device;
    struct qt_be_fwd_timing fwd;
};

/* Default cache directory: $QTUNE_HOME/cache, else $XDG_STATE_HOME/qtune/cache,
 * else ~/.local/state/qtune/cache, into buf (size n); returns buf. */
char *qt_eval_default_cache_dir(char *buf, size_t n);

/* Tokenizes p->data_path with m's tokenizer, runs (or loads from the cache)
 * the base forward, and returns what later evaluations need.  Free with
 * qt_eval_base_free. */
int qt_eval_base_init(const struct qt_model *m, const struct qt_eval_params *p,
                      struct qt_eval_base **out, qt_err *err);
void qt_eval_base_free(struct qt_eval_base *b);

/* Runs the forward with hooks (the quantized model) from layer start_layer
 * (0: from the embeddings; > 0: from the base states entering that layer,
 * which needs base->states; n_layers: from h_final, only the head runs)
 * and fills st against the base.  Layers below
 * start_layer are the base's.  st->tensors_quantized is left 0. */
int qt_eval_run(const struct qt_model *m, const struct qt_eval_base *base,
                const struct qt_fwd_hooks *hooks, int start_layer,
                const struct qt_eval_params *p, struct qt_kl_stats *st, qt_err *err);

/* Statistics of per-position values (exposed for tests): mean, stderr,
 * median and percentiles by nearest rank, max.  Sorts v (n) in place. */
void qt_kl_summarize(double *v, int64_t n, struct qt_kl_stats *st);

#endif
