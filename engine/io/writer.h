/* writer.h — writing a quantized checkpoint in compressed-tensors form, the
 * layout vLLM loads (DESIGN §7).
 *
 * Per quantized module P (weight N x K, weight dtype D, usually BF16):
 *   int, 16-bit activations   "pack-quantized":  P.weight_packed I32 [N, ceil(K·b/32)],
 *                              P.weight_scale D [N, ceil(K/g)] ([N, 1] channel, [1] tensor;
 *                              a partial last group has its own scale, as compressed-tensors),
 *                              P.weight_shape I64 [2], asym: P.weight_zero_point I32
 *                              [ceil(N·b/32), ceil(K/g)] (packed along the output dimension)
 *   int with activations      "int-quantized":   P.weight I8 [N, K] + P.weight_scale D
 *                              (W8A8, W4A8, W4AFP8: one int8 a weight whatever the bits)
 *   fp8                        "float-quantized": P.weight F8_E4M3 [N, K] + P.weight_scale D
 * Everything else is copied byte for byte (the MTP layer included).  The
 * list is qt_scheme_layout's (quant/scheme.h): the bytes preview, deploy
 * and the TUI show are the bytes written.
 *
 * The checkpoint is built in OUT.partial-XXXXXX next to OUT and renamed to
 * OUT only when complete; on any failure or cancellation the partial
 * directory is removed and OUT is untouched. */
/* Folder io/ (docs/architecture.md): what leaves the engine as files — the
 * output-path module every writer shares (outdir.h), the compressed-tensors
 * writer, the GGUF writer, recipe writing and the JSON reports.  Includes
 * every folder below it (base … algo). */
#ifndef QT_WRITER_H
#define QT_WRITER_H
#include <stdint.h>

#include "algo/pipeline.h"
#include "model/model.h"
#include "base/qt.h"

#define QT_WRITE_DEFAULT_SHARD (5000ull * 1000 * 1000)   /* 5 GB, as transformers */

/* One compressed-tensors config group: the targets written into config.json
 * (recipe patterns: "Linear", "re:...", module names; none: the modules of
 * the group by name) and the scheme of the modules assigned to it, as a
 * canonical scheme string or preset name (engine/scheme.h). */
struct qt_ct_group {
    const char *name;             /* "group_0" */
    int n_targets;
    const char *const *targets;   /* (n_targets) borrowed */
    const char *scheme;           /* "int4-g128-sym", "W8A8", ... */
    const char *actorder;         /* weights' actorder as written ("static", "group"), NULL: null */
};

/* Called after each tensor: done / total in bytes of source weights. */
typedef void (*qt_write_progress_fn)(void *ud, int64_t done, int64_t total, const char *tensor);

struct qt_backend;

struct qt_write_params {
    const char *out;              /* final directory */
    uint64_t max_shard_bytes;     /* 0: QT_WRITE_DEFAULT_SHARD */
    int force;                    /* replace an existing OUT */
    int n_groups;
    const struct qt_ct_group *groups;   /* (n_groups) */
    const int *tensor_group;      /* (model->n_tensors) group index, -1 = kept */
    const char *recipe_yaml;      /* written as recipe.yaml when not NULL */
    const char *recipe_path;      /* recorded in the report, may be NULL */
    const char *calib;            /* recorded in the report, may be NULL */
    const char *kv_cache_json;    /* kv_cache_scheme object text, NULL: null */
    qt_write_progress_fn progress;
    void *progress_ud;
    const volatile int *cancel;   /* non-zero: stop, clean up, fail with "cancelled" */
    struct qt_backend *be;        /* computes the quantization; NULL: qt_backend_default() */
    int64_t chunk_elems;          /* elements a worker quantizes at a time (whole scale
                                     bands); 0: the default (2M).  Tests force small ones. */
    const struct qt_pipe *pipe;   /* calibrated results (codes, scales, g_idx, smoothed tensors);
                                     NULL: round to nearest */
    const char *algorithm;        /* recorded in the report ("GPTQ"); NULL: "RTN" */
    /* qt_write_ct_recipe only: the calibration pipeline's sample count and
     * length (0: 128 x 512) and its per-layer progress */
    int calib_samples, calib_len;
    qt_pipe_progress_fn layer_progress;
    void *layer_progress_ud;
    /* the pipeline's resumable state (pipeline.h): NULL, or the directory
     * and the key of what it must have been made from */
    const char *pipe_state_dir, *pipe_state_key;
};

struct qt_write_result {
    int n_quantized;              /* modules written quantized */
    int n_kept;                   /* tensors copied unchanged */
    int n_shards;
    int64_t bytes_source;         /* bytes of all source tensors read */
    int64_t bytes_written;        /* bytes of tensor data written */
    double seconds;
};

/* Writes model m under the schemes p->tensor_group assigns into p->out as a
 * compressed-tensors checkpoint: sharded safetensors + model.safetensors.
 * index.json, config.json with quantization_config, every other top-level
 * file of the model directory except weights (tokenizer, generation config
 * ...), recipe.yaml and qtune-report.json.  Refuses an existing p->out unless
 * p->force, schemes it cannot write (nvfp4, mxfp4, static fp8 activations,
 * which need calibrated input scales) and metadata-only models.  res may be
 * NULL.  On error nothing is left behind and err says why. */
int qt_write_ct(const struct qt_model *m, const struct qt_write_params *p,
                struct qt_write_result *res, qt_err *err);

/* The same from a recipe (what `qtune quantize` and the daemon's quantize job
 * call): runs the calibration pipeline first when a modifier needs it
 * (GPTQModifier; p->calib is the text, checked before any work), refuses
 * modifiers qtune does not run yet (the message names the modifier) and
 * kv_cache_scheme, builds one config group per recipe group that quantizes
 * something (its targets written as the recipe has them), and writes the
 * recipe as recipe.yaml.  res is r resolved against m.  p supplies out,
 * max_shard_bytes, force, recipe_path, calib, progress and cancel; its
 * groups / tensor_group / recipe_yaml are ignored. */
struct qt_recipe;
struct qt_resolution;
int qt_write_ct_recipe(const struct qt_model *m, const struct qt_recipe *r, const struct qt_resolution *res,
                       const struct qt_write_params *p, struct qt_write_result *out, qt_err *err);

/* Parses a size such as "5GB", "500MB", "2GiB", "1000" (bytes) into *out. */
int qt_write_parse_size(const char *s, uint64_t *out, qt_err *err);

#endif
