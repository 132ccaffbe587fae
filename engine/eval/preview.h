/* preview.h — weight error of a model's tensors under per-tensor schemes:
 * rel_rmse, sqnr, max_abs, bytes after quantization and, with an importance
 * vector, rel_out (DESIGN §4).  Reads BF16 weights straight from the mmap,
 * runs on qt_nthreads() threads, and caches results per (tensor, scheme). */
#ifndef QT_PREVIEW_H
#define QT_PREVIEW_H
#include <stdint.h>

#include "model/model.h"
#include "quant/quant.h"
#include "quant/scheme.h"
#include "recipe/recipe.h"

/* 1 when a bare scheme (`qtune preview --scheme S`, the TUI's totals)
 * quantizes t: a quantizable (qt_tensor_quantizable) Linear weight other
 * than the output heads lm_head and the MTP shared head, which stay kept as
 * llm-compressor's presets keep lm_head (ignore: [lm_head]). */
int qt_preview_scheme_target(const struct qt_tensor *t);

/* 1 when t counts in the preview's totals ("quantizable weights": params,
 * bytes, bpw): a scheme target, or any tensor a recipe quantizes. */
int qt_preview_counted(const struct qt_tensor *t, int quantized);

/* Cache of results keyed by (tensor index, canonical scheme); owned by the
 * caller, one per model. */
struct qt_preview_cache;
struct qt_preview_cache *qt_preview_cache_new(void);
void qt_preview_cache_free(struct qt_preview_cache *c);
/* Number of entries (statistics, plus the tensor amax entries nvfp4's fused
 * global scales use) and of lookups answered from the cache so far. */
int qt_preview_cache_size(const struct qt_preview_cache *c);
int64_t qt_preview_cache_hits(const struct qt_preview_cache *c);

/* Statistics of tensor ti under s (s not bf16).  d (cols of ti) or NULL.
 * cache may be NULL. */
int qt_preview_tensor(const struct qt_model *m, int ti, const struct qt_scheme *s,
                      const float *d, struct qt_preview_cache *cache,
                      struct qt_qstats *out, qt_err *err);

/* Same on a raw BF16 buffer (rows, cols), multithreaded: what the preview does
 * for a BF16 tensor; exposed for the benchmark. */
int qt_preview_bf16(const uint16_t *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                    const float *d, int nthreads, struct qt_qstats *out, qt_err *err);

struct qt_preview_row {
    int tensor;                 /* index into m->tensors */
    struct qt_scheme scheme;    /* bf16 when kept */
    int quantizable;            /* counted in the totals (qt_preview_counted) */
    int failed;                 /* 1: the scheme does not fit (error holds why); counted as kept */
    int no_weights;             /* 1: metadata-only model: sizes only, no statistics */
    char error[200];
    struct qt_qstats st;        /* zero for kept tensors */
    int64_t params;
    int64_t bytes;              /* after quantization */
};

struct qt_preview_total {
    int64_t params, bytes;      /* over quantizable weights (bpw is over these) */
    int64_t n_quantized, n_kept;   /* listed tensors quantized / kept */
    double bpw;
    struct qt_qstats st;        /* summed over quantized tensors */
    int no_weights;             /* metadata-only model: no statistics anywhere */
};

/* Runs the preview over the model's tensors.  per_tensor (m->n_tensors)
 * gives each tensor's scheme; it applies to the scheme targets
 * (qt_preview_scheme_target), every other tensor is reported kept.  select (m->n_tensors) or NULL picks the
 * tensors to report; d (m->n_tensors) or NULL gives importance vectors.
 * *rows_out (*n_rows) lists every selected tensor, quantized or kept; the
 * caller frees it with free().  A metadata-only model gets sizes and bpw
 * without statistics (rows marked no_weights). */
int qt_preview_run(const struct qt_model *m, const struct qt_scheme *per_tensor,
                   const unsigned char *select, const float *const *d,
                   struct qt_preview_cache *cache, struct qt_preview_row **rows_out,
                   int *n_rows, struct qt_preview_total *total, qt_err *err);

/* The same as a resolved recipe says: exactly the tensors res quantizes,
 * each under its group's scheme (lm_head too when the recipe targets it),
 * so the preview agrees with lint, deploy and the writer. */
int qt_preview_run_resolved(const struct qt_model *m, const struct qt_resolution *res,
                            const unsigned char *select, const float *const *d,
                            struct qt_preview_cache *cache, struct qt_preview_row **rows_out,
                            int *n_rows, struct qt_preview_total *total, qt_err *err);

#endif
