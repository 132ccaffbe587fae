/* pipeline.h — llm-compressor's sequential calibration pipeline (DESIGN §7b).
 *
 * The calibration samples (nseq consecutive chunks of seqlen tokens from the
 * start of the text) run through the model one decoder layer at a time:
 *
 *   h = embed(samples)
 *   for each layer:
 *     observe:   run the layer on a copy of h, accumulating each Linear's
 *                Hessian Σ x xᵀ (fused inputs share one: q/k/v, gate/up of
 *                the dense MLP, of the shared expert and of each routed
 *                expert; a routed expert sees only its routed tokens)
 *     quantize:  each of the layer's quantized Linears (GPTQ, or
 *                round-to-nearest for QuantizationModifier groups)
 *     propagate: h = layer(h) with the quantized weights, for the next layer
 *
 * Only the current layer's weights (as float32, one projection at a time in
 * the forward) and Hessians, and the activations of the samples, are in
 * memory; results are spilled to a file as each layer finishes, so the
 * pipeline runs on checkpoints larger than RAM.  When a layer's Hessians
 * would exceed QT_PIPE_HESS_BUDGET bytes its Linears are observed in several
 * passes, a subset each time.
 *
 * Low-token experts: a routed expert whose Hessian comes from fewer tokens
 * than its input width (the Hessian is then rank-deficient, and GPTQ fits the
 * few tokens instead of the distribution — the "broken experts" users of
 * llm-compressor report) is quantized by GPTQ with the pooled Hessian of all
 * tokens routed to that layer's experts (same projection).  It is listed in
 * the report with its token count; so is an expert that saw no token. */
/* Folder algo/ (docs/architecture.md): the calibrated algorithms (GPTQ, AWQ,
 * SmoothQuant, SparseGPT, the sequential calibration pipeline),
 * each turning weights and calibration statistics into what the writer
 * stores.  Includes every folder below it (base … eval). */
#ifndef QT_PIPELINE_H
#define QT_PIPELINE_H
#include <stdint.h>

#include "model/model.h"
#include "base/qt.h"
#include "quant/quant.h"
#include "recipe/recipe.h"

#define QT_PIPE_SAMPLES 128
#define QT_PIPE_SEQLEN 512
#define QT_PIPE_HESS_BUDGET (4ull << 30)

/* Per-layer progress: layer `done` of `total` finished after `seconds`. */
typedef void (*qt_pipe_progress_fn)(void *ud, int done, int total, double seconds);

struct qt_pipe_params {
    const char *calib_path;     /* calibration text */
    int samples;                /* chunks (0: QT_PIPE_SAMPLES) */
    int seqlen;                 /* tokens per chunk (0: QT_PIPE_SEQLEN) */
    const char *spill_dir;      /* directory for the results file (NULL: $TMPDIR or /tmp) */
    qt_pipe_progress_fn progress;
    void *progress_ud;
    const volatile int *cancel; /* non-zero: stop, fail "cancelled" */
    /* Resumable runs: with state_dir (created when missing) the pipeline
     * keeps its per-layer state there — spill.bin (the quantized results
     * so far), hidden.bin (the samples' hidden states after the last
     * finished layer), layer-NNNN.bin (what each finished layer set:
     * results' places, smoothing factors, clip bounds, token counts and
     * errors) and state.json (written last, after each layer: key, layers
     * done, spill length).  A run whose state_dir holds a state.json of the
     * same state_key and shapes continues after its last finished layer; a
     * different or unreadable one is discarded and the run starts over.
     * The caller removes the directory once it no longer needs it. */
    const char *state_dir;
    const char *state_key;      /* what the state must have been made from (recipe, text, sizes) */
};

struct qt_pipe;

/* 1 when the recipe needs the pipeline (a calibrated modifier quantizes or
 * transforms something); 0 for round-to-nearest only. */
int qt_pipe_needed(const struct qt_recipe *r, const struct qt_resolution *res);

/* Checks the calibration input before any work: the model has a tokenizer,
 * the text exists, is not empty and holds at least one sample of seqlen
 * tokens.  err: "<file>: <why>". */
int qt_pipe_check(const struct qt_model *m, const struct qt_pipe_params *p, qt_err *err);

/* Runs the pipeline of recipe r (resolved against m as res) over the
 * calibration text.  Free the result with qt_pipe_free. */
int qt_pipe_run(const struct qt_model *m, const struct qt_recipe *r, const struct qt_resolution *res,
                const struct qt_pipe_params *p, struct qt_pipe **out, qt_err *err);
void qt_pipe_free(struct qt_pipe *p);

/* The quantized form of tensor ti: fills q (free with qt_qtensor_free) and,
 * when the module has one (GPTQ actorder group), g_idx (cols).  Returns 1
 * when the pipeline did not quantize ti (the caller rounds to nearest). */
int qt_pipe_get(const struct qt_pipe *p, int ti, struct qt_qtensor *q, int32_t *g_idx, qt_err *err);
/* 1 when module ti is written with a weight_g_idx. */
int qt_pipe_has_gidx(const struct qt_pipe *p, int ti);
/* The actorder GPTQ quantized ti with as config.json records it ("static",
 * "group"), NULL when not GPTQ or none. */
const char *qt_pipe_actorder(const struct qt_pipe *p, int ti);
/* Non-quantized tensors the pipeline changed (smoothed norms, compensated
 * router, biases): out (numel) gets the new float values and QT_OK; 1 when
 * unchanged. */
int qt_pipe_kept(const struct qt_pipe *p, int ti, float *out);

/* Static input activations (dynamic: false, per tensor): the input_scale of
 * module ti as written (weight dtype), QT_OK; 1 when ti has none.  The
 * observer is llm-compressor's (minmax by default: min and max moved toward
 * each sample's by 0.01; static_minmax; memoryless_minmax), run on the
 * module's input in the sequential pipeline, one sample at a time;
 * scale = max(|min|, |max|) / (int8: 127.5, fp8: 448). */
int qt_pipe_input_scale(const struct qt_pipe *p, int ti, float *scale);
/* kv_cache_scheme (fp8, per tensor): decoder layer `layer`'s scales of the
 * keys (after RoPE) and values, QT_OK; 1 when there are none. */
int qt_pipe_kv_scales(const struct qt_pipe *p, int layer, float *k_scale, float *v_scale);

/* The observer that calibrated ti's input scale / the kv cache
 * ("minmax", "static_minmax", "memoryless_minmax"), NULL when none. */
const char *qt_pipe_input_observer(const struct qt_pipe *p, int ti);
const char *qt_pipe_kv_observer(const struct qt_pipe *p);

/* The report object (algorithm per modifier, samples, per-layer seconds,
 * per-module errors beside round-to-nearest's, per-expert token counts, the
 * low-token experts and the rule applied).  Caller owns the cJSON. */
struct cJSON;
struct cJSON *qt_pipe_report(const struct qt_pipe *p);

/* Figures for tests and the TUI: tokens seen by ti (-1 when not observed),
 * GPTQ's output error on the calibration Hessian and round-to-nearest's
 * (NAN when not computed), whether ti used the low-token fallback. */
int64_t qt_pipe_tokens(const struct qt_pipe *p, int ti);
double qt_pipe_out_err(const struct qt_pipe *p, int ti, double *rtn_err);
int qt_pipe_fallback(const struct qt_pipe *p, int ti);
int qt_pipe_samples(const struct qt_pipe *p, int *seqlen);
/* The decoder layer a resumed run continued at (0: it ran from the start). */
int qt_pipe_resumed_at(const struct qt_pipe *p);

/* AWQ's mappings of decoder layer `layer`, derived from the graph (awq.h):
 * smooth (cap entries) gets each mapping's smooth tensor, nbal its number of
 * balance tensors, bal (cap) the balance tensors of all mappings in order.
 * Returns the number of mappings, -1 on error (err).  For tests. */
int qt_pipe_awq_mappings(const struct qt_model *m, int layer, int *smooth, int *nbal, int *bal, int cap, qt_err *err);

#endif
