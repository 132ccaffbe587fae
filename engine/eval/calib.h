/* calib.h — calibration statistics: one forward of the base model over a
 * calibration text records, for every Linear the forward runs, the inputs'
 * Σ x_j² per input channel (importance E[x_j²] = the diagonal of the GPTQ
 * Hessian, llama.cpp's imatrix) and, on request, the full XᵀX.  A routed
 * expert sees only the tokens routed to it; experts that got none are
 * listed.  lm_head is not observed (it is kept by every preset).
 *
 * Results are saved to and reused from $cache_dir/calib-<key>.bin, the key
 * covering the model files, the text, ctx, chunks and whether XᵀX was kept. */
#ifndef QT_CALIB_H
#define QT_CALIB_H
#include <stdint.h>

#include "model/model.h"
#include "base/qt.h"

struct qt_backend;

struct qt_calib_params {
    const char *calib_path;     /* calibration text */
    int ctx;                    /* tokens per sequence (default 512 when 0) */
    int chunks;                 /* sequences at most (default 16 when 0) */
    int xtx;                    /* also accumulate XᵀX (float32, cols x cols per tensor) */
    const char *cache_dir;      /* NULL: neither load nor save */
    int cache_only;             /* only load from cache_dir: fail when not cached */
    void (*progress)(void *progress_ctx, int64_t done, int64_t total);
    void *progress_ctx;
    volatile int *cancel;       /* non-zero: stop, fail "cancelled" */
    struct qt_backend *be;      /* where the forward runs (backend.h); NULL: qt_backend_default() */
};

struct qt_calib {
    int n;                      /* model->n_tensors */
    int64_t *count;             /* (n) rows seen by tensor i */
    double **sumsq;             /* (n) NULL, or (cols) Σ x_j² over those rows */
    float **xtx;                /* (n) NULL, or (cols, cols) Σ x xᵀ (when requested) */
    int64_t tokens;             /* tokens run through the model */
    int n_linear;               /* Linears the forward ran (observed or not) */
    int n_unseen;               /* of those, how many saw no token (unrouted experts) */
    int *unseen;                /* (n_unseen) tensor indices */
    int from_cache;             /* 1 when loaded from the cache */
    char *cache_path;           /* file loaded or written, or NULL */
};

/* Runs (or loads from the cache) the statistics of m over p->calib_path.
 * Free with qt_calib_free. */
int qt_calib_run(const struct qt_model *m, const struct qt_calib_params *p, struct qt_calib **out,
                 qt_err *err);
void qt_calib_free(struct qt_calib *c);

/* d (cols of tensor ti) = E[x_j²]; returns 0 when the tensor has statistics,
 * -1 when it has none (not observed, or no token routed to it). */
int qt_calib_importance(const struct qt_calib *c, const struct qt_model *m, int ti, float *d);

/* Importance vectors of every tensor: (m->n_tensors) pointers, NULL where
 * there are no statistics — the `d` argument of qt_preview_run.  Free with
 * qt_calib_importance_free. */
float **qt_calib_importance_all(const struct qt_calib *c, const struct qt_model *m);
void qt_calib_importance_free(float **d, int n);

/* Saves to / loads from a file (tensors matched by name and width). */
int qt_calib_save(const struct qt_calib *c, const struct qt_model *m, const char *path, qt_err *err);
int qt_calib_load(const struct qt_model *m, const char *path, struct qt_calib **out, qt_err *err);

#endif
