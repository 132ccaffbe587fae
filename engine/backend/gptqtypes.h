/* gptqtypes.h — one batch of GPTQ for a backend (backend.h's optional gptq
 * entry), shared by the backend table and the CUDA backend's C face
 * (backend/cuda/cuda.h), so the two sides cannot drift apart.
 *
 * A batch is n Hessians of one width (the routed experts of a layer seen in
 * one calibration pass, or one fused set: q/k/v, gate/up) and nsets weight
 * sets: set k holds, for every Hessian m, the matrix (rows_k, cols) of the
 * module that reads that Hessian's input (gate and up of expert m share
 * Hessian m: two sets; down projections are a batch of their own).  Every
 * matrix of a set has one scheme and weight dtype; all share block_size,
 * dampening and actorder.  The semantics are engine/algo/gptq.c's
 * (qt_gptq_quantize), computed in float32 as llm-compressor's GPTQModifier
 * computes on a GPU; results come back in the original column order.
 *
 * Plain C, valid C++. */
#ifndef QT_BACKEND_GPTQTYPES_H
#define QT_BACKEND_GPTQTYPES_H
#include <stdint.h>

#include "base/dtype.h"
#include "quant/quant.h"
#include "quant/scheme.h"

/* A Hessian accumulator (backend.h's hacc entries, qt_be_hacc_*): Σ x xᵀ
 * of inputs of width cols in double, the upper triangle (row-major, j >= i)
 * kept where the backend computes.  dev is the backend's memory (the CUDA
 * row: a device array of cols * cols doubles) or NULL, and then h is the
 * host array of the CPU reference. */
struct qt_hacc {
    int64_t cols;
    double *h;                      /* host (cols, cols) upper triangle, or NULL */
    void *dev;                      /* the backend's (cols, cols) upper triangle, or NULL */
};

struct qt_be_gptq_set {
    int64_t rows;
    const struct qt_scheme *s;      /* int or fp8; tensor, channel, group or block strategy */
    enum qt_dtype wdtype;           /* BF16, F16 or F32 */
    const float *const *w;          /* (n) host (rows, cols): float32 values of wdtype */
    struct qt_qtensor *q;           /* (n) out: filled like qt_quant_tensor (free with qt_qtensor_free) */
    float *const *deq;              /* (n) out: host (rows, cols) w' */
    double *out_err, *rtn_err;      /* (n) out: Σ e H eᵀ / Σ w H wᵀ of GPTQ and of round-to-nearest (NULL: not wanted) */
};

struct qt_be_gptq {
    int n;                          /* Hessians */
    int64_t cols;
    const double *const *h;         /* (n) host (cols, cols) symmetric Σ x xᵀ (any positive multiple) */
    const struct qt_hacc *const *hacc; /* (n) in place of h (NULL there): the backend's own accumulators
                                       (only for a backend with hacc entries; the CUDA row) */
    const int64_t *const *perm;     /* (n) processing order (qt_gptq_order), or NULL: natural */
    int group_order;                /* 1: actorder group (the scale grid of the permuted weight,
                                       groups in processing order); 0: the grid of the weight as it is */
    int block_size;                 /* <= 128 */
    double damp;                    /* dampening_frac */
    int nsets;
    const struct qt_be_gptq_set *sets;
};

#endif
