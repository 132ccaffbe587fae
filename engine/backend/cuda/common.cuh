/* common.cuh — what the CUDA backend's translation units share: the one
 * device context (stream, cuBLAS handle, lock), error lines, allocation
 * with the sizes in the out-of-memory message. */
#ifndef QT_BACKEND_CUDA_COMMON_CUH
#define QT_BACKEND_CUDA_COMMON_CUH
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <pthread.h>

#include "backend/cuda/cuda.h"

struct cu_ctx {
    int ready;
    cudaStream_t st;
    cublasHandle_t blas;
    cudaDeviceProp prop;
};

/* The process's context, opened on first use; NULL with err filled when the
 * device cannot be used.  Callers hold cu_lock() around their GPU work and
 * release it around callbacks into the caller (which may call back in). */
struct cu_ctx *cu_get(qt_err *err);
void cu_lock(void);
void cu_unlock(void);

/* "CUDA: <what>: <cuda message>" into err; returns QT_ERR. */
int cu_fail(qt_err *err, const char *what, cudaError_t e);
int cu_blas_fail(qt_err *err, const char *what, cublasStatus_t s);

/* cudaMalloc of n bytes; on failure the error names the sizes. */
int cu_alloc(void **p, size_t n, const char *what, qt_err *err);

/* A device buffer that grows (never shrinks) on demand. */
struct cu_buf {
    void *p;
    size_t cap;
};
int cu_buf_need(struct cu_buf *b, size_t n, const char *what, qt_err *err);
void cu_buf_free(struct cu_buf *b);

/* quant.cu on device data: the RTN quantization of float32 dw (c's shape,
 * values of c->wdtype) into device outputs, each optional (NULL).  c's
 * tensor min/max and global scale are filled when the scheme needs them. */
int cu_quant_f32_dev(struct cu_ctx *cx, const float *dw, struct qt_qctx *c, float *deq, int8_t *codes, float *scale,
                     int8_t *zero, uint8_t *scode, qt_err *err);

#define CU_TRY(call, what)                                   \
    do {                                                     \
        cudaError_t cu_e_ = (call);                          \
        if (cu_e_ != cudaSuccess) return cu_fail(err, what, cu_e_); \
    } while (0)

#endif
