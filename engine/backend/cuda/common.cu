/* common.cu — device context, probe and error lines of the CUDA backend. */
#include "backend/cuda/common.cuh"

#include <stdio.h>
#include <string.h>

static pthread_mutex_t cu_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cu_ctx ctx;
static int ctx_failed;
static qt_err ctx_err;

void cu_lock(void) { pthread_mutex_lock(&cu_mu); }
void cu_unlock(void) { pthread_mutex_unlock(&cu_mu); }

int cu_fail(qt_err *err, const char *what, cudaError_t e) {
    if (e == cudaErrorMemoryAllocation) {
        size_t fr = 0, tot = 0;
        cudaGetLastError();
        cudaMemGetInfo(&fr, &tot);
        return qt_err_set(err, "CUDA: out of GPU memory: %s (%zu MiB free of %zu MiB)", what, fr >> 20, tot >> 20);
    }
    return qt_err_set(err, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

int cu_blas_fail(qt_err *err, const char *what, cublasStatus_t s) {
    return qt_err_set(err, "CUDA: %s: cuBLAS status %d", what, (int)s);
}

/* Why the first call failed, in the words the issue asks for. */
static int open_fail(qt_err *err, cudaError_t e) {
    switch (e) {
    case cudaErrorInsufficientDriver:
        return qt_err_set(err, "CUDA: no usable driver (libcuda missing or older than the CUDA %d.%d runtime)",
                          CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    case cudaErrorNoDevice:
        return qt_err_set(err, "CUDA: no device (the driver sees no GPU)");
    default:
        return qt_err_set(err, "CUDA: the device cannot be used: %s", cudaGetErrorString(e));
    }
}

struct cu_ctx *cu_get(qt_err *err) {
    if (ctx.ready) return &ctx;
    if (ctx_failed) {
        if (err) *err = ctx_err;
        return NULL;
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n == 0) e = cudaErrorNoDevice;
    if (e == cudaSuccess) e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&ctx.prop, 0);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&ctx.st, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        open_fail(&ctx_err, e);
        ctx_failed = 1;
        if (err) *err = ctx_err;
        return NULL;
    }
    if (ctx.prop.major < 9) {
        qt_err_set(&ctx_err, "CUDA: %s has compute capability %d.%d; this build is for sm_90 and newer",
                   ctx.prop.name, ctx.prop.major, ctx.prop.minor);
        ctx_failed = 1;
        if (err) *err = ctx_err;
        return NULL;
    }
    cublasStatus_t bs = cublasCreate(&ctx.blas);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(ctx.blas, ctx.st);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cu_blas_fail(&ctx_err, "cublasCreate", bs);
        ctx_failed = 1;
        if (err) *err = ctx_err;
        return NULL;
    }
    ctx.ready = 1;
    return &ctx;
}

int cu_alloc(void **p, size_t n, const char *what, qt_err *err) {
    *p = NULL;
    if (n == 0) n = 1;
    cudaError_t e = cudaMalloc(p, n);
    if (e == cudaSuccess) return QT_OK;
    *p = NULL;
    size_t fr = 0, tot = 0;
    cudaGetLastError();
    cudaMemGetInfo(&fr, &tot);
    if (e == cudaErrorMemoryAllocation)
        return qt_err_set(err, "CUDA: out of GPU memory: %s (asked %zu MiB, %zu MiB free of %zu MiB)", what,
                          (n + (1 << 20) - 1) >> 20, fr >> 20, tot >> 20);
    return cu_fail(err, what, e);
}

int cu_buf_need(struct cu_buf *b, size_t n, const char *what, qt_err *err) {
    if (n <= b->cap && b->p) return QT_OK;
    if (b->p) cudaFree(b->p);
    b->p = NULL;
    b->cap = 0;
    if (cu_alloc(&b->p, n, what, err) != QT_OK) return QT_ERR;
    b->cap = n;
    return QT_OK;
}

void cu_buf_free(struct cu_buf *b) {
    if (b->p) cudaFree(b->p);
    b->p = NULL;
    b->cap = 0;
}

extern "C" int qt_cuda_compiled(void) { return 1; }

extern "C" int qt_cuda_probe(struct qt_cuda_info *info, qt_err *err) {
    memset(info, 0, sizeof *info);
    cu_lock();
    struct cu_ctx *c = cu_get(err);
    if (!c) {
        cu_unlock();
        return QT_ERR;
    }
    snprintf(info->name, sizeof info->name, "%s", c->prop.name);
    info->cc_major = c->prop.major;
    info->cc_minor = c->prop.minor;
    info->sms = c->prop.multiProcessorCount;
    cudaDriverGetVersion(&info->driver);
    cudaRuntimeGetVersion(&info->runtime);
    size_t fr = 0, tot = 0;
    cudaError_t e = cudaMemGetInfo(&fr, &tot);
    cu_unlock();
    if (e != cudaSuccess) return cu_fail(err, "cudaMemGetInfo", e);
    info->mem_free = (int64_t)fr;
    info->mem_total = (int64_t)tot;
    return QT_OK;
}
