/* gptq.cu — GPTQ on the GPU, the matrices of one shape (the routed experts
 * of a MoE layer) batched, float32 like llm-compressor's GPTQModifier, with
 * engine/algo/gptq.c's semantics for natural column order (actorder none):
 *
 *   dead inputs (H_jj == 0): H_jj = 1, W[:, j] = 0
 *   H += dampening_frac · mean(diag H) · I;  U = chol(H⁻¹) upper
 *     (cuSOLVER potrf and trtri of the flipped H: chol_inv)
 *   the scale grid: round-to-nearest of the (dead-zeroed) W (quant.cu)
 *   per block of block_size columns (k_block, one thread per row, the block
 *   of U and the rows' block of W in shared memory):
 *     q = Q(w_j) with its cell's fixed scale;  e = (w_j - q) / U_jj
 *     W[:, j+1..block end] -= e · U[j, j+1..]
 *   then W[:, block end..] -= E_block · U[block, block end..] (one strided
 *   batched sgemm over the matrices)
 *
 * Q is gptq.c's quant1: float32 w / scale (+ zp), clamp, round half even (or
 * e4m3), w' rounded to the weight dtype.  Hessians come from the caller
 * (qt_cuda_gptq_batch, the calibrated pipeline's batches, which also runs
 * static and group actorder: the weights and Hessians permuted on the
 * device to the caller's processing order, and for static order each
 * column keeping its original group) or are accumulated here (the
 * benchmark: cublasSsyrk of the rows each expert received). */
#include "backend/cuda/common.cuh"
#include "backend/cuda/qarith.cuh"

#include <cusolverDn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { GQ_ROWS = 64 };          /* rows (threads) per block of k_block */

/* Dead columns and dampening of each matrix's H (row-major upper = the
 * column-major lower cuSOLVER reads), one block per matrix. */
__global__ void k_damp(float *H, int64_t C, double frac, unsigned char *dead) {
    float *h = H + (int64_t)blockIdx.x * C * C;
    unsigned char *dd = dead + (int64_t)blockIdx.x * C;
    double s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float d = h[j * C + j];
        dd[j] = d == 0.0f;
        if (d == 0.0f) h[j * C + j] = d = 1.0f;
        s += d;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    __shared__ double sh[32];
    __shared__ float damp;
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (int k = 0; k < (int)(blockDim.x >> 5); k++) t += sh[k];
        damp = (float)(frac * (t / (double)C));
    }
    __syncthreads();
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) h[j * C + j] += damp;
}

__global__ void k_zero_dead(float *W, int64_t rows, int64_t C, const unsigned char *dead, int64_t n_all) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_all; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t m = i / (rows * C), j = i % C;
        if (dead[m * C + j]) W[i] = 0.0f;
    }
}

/* What k_block needs of the scheme. */
struct gq {
    int fp8, qmin, qmax, dt, strat;
    int64_t g, scols, srows;
};

__device__ __forceinline__ float quant1(const gq &G, float w, float sc, float zp, int8_t *code) {
    if (G.fp8) {
        float t = __fdiv_rn(w, sc);
        t = t < -448.0f ? -448.0f : t > 448.0f ? 448.0f : t;
        uint32_t b = d_f32_to_fp8e4m3(t);
        *code = (int8_t)b;
        return d_rnd_w(G.dt, d_fp8e4m3_to_f32(b) * sc);
    }
    float t = __fdiv_rn(w, sc) + zp;
    t = t < (float)G.qmin ? (float)G.qmin : t > (float)G.qmax ? (float)G.qmax : t;
    float q = rintf(t);
    *code = (int8_t)(int)q;
    return d_rnd_w(G.dt, (q - zp) * sc);
}

__device__ __forceinline__ int64_t gq_cell(const gq &G, int64_t r, int64_t c) {
    switch (G.strat) {
    case QT_STRAT_TENSOR: return 0;
    case QT_STRAT_CHANNEL: return r;
    case QT_STRAT_GROUP: return r * G.scols + c / G.g;
    default: return (r / G.g) * G.scols + c / G.g;
    }
}

/* Columns [i1, i1 + nb) of every row of every matrix.  grid (ceil(rows /
 * GQ_ROWS), n); W (n, rows, C) updated in place (w' written over the
 * processed columns), U (n, C, C), E (n, rows, bs) the scaled errors. */
__global__ void __launch_bounds__(GQ_ROWS) k_block(float *W, const float *U, float *E, int8_t *codes, const float *scale,
                                                   const int8_t *zero, int64_t rows, int64_t C, int64_t i1, int nb,
                                                   int bs, gq G, const int32_t *gcol) {
    extern __shared__ float sm[];
    float *Ub = sm;                              /* (nb, nb) U[i1.., i1..] */
    float *Ws = Ub + nb * nb;                    /* (GQ_ROWS, nb + 1) */
    int64_t m = blockIdx.y;
    const float *Um = U + m * C * C;
    for (int e = threadIdx.x; e < nb * nb; e += blockDim.x) {
        int a = e / nb, b = e - a * nb;
        Ub[e] = b >= a ? Um[(i1 + a) * C + i1 + b] : 0.0f;
    }
    int64_t r0 = (int64_t)blockIdx.x * GQ_ROWS;
    int nr = rows - r0 < GQ_ROWS ? (int)(rows - r0) : GQ_ROWS;
    float *Wm = W + m * rows * C;
    for (int e = threadIdx.x; e < nr * nb; e += blockDim.x) {   /* coalesced along the columns */
        int a = e / nb, b = e - a * nb;
        Ws[a * (nb + 1) + b] = Wm[(r0 + a) * C + i1 + b];
    }
    __syncthreads();
    int t = threadIdx.x;
    if (t < nr) {
        int64_t r = r0 + t;
        float *wr = Ws + t * (nb + 1);
        int64_t so = m * G.srows * G.scols;
        float *er = E + (m * rows + r) * bs;
        int8_t *cr = codes + (m * rows + r) * C;
        for (int j = 0; j < nb; j++) {
            /* static actorder: processing column i1 + j keeps the group of
             * its original column (gcol); otherwise groups follow the order */
            int64_t cell = so + (gcol && G.strat == QT_STRAT_GROUP ? r * G.scols + gcol[m * C + i1 + j]
                                                                   : gq_cell(G, G.strat == QT_STRAT_TENSOR ? 0 : r, i1 + j));
            float sc = scale[cell], zp = zero ? (float)zero[cell] : 0.0f;
            float w = wr[j];
            int8_t code;
            float q = quant1(G, w, sc, zp, &code);
            float e = (w - q) / Ub[j * nb + j];
            const float *u = Ub + j * nb;
            for (int k = j + 1; k < nb; k++) wr[k] = fmaf(-e, u[k], wr[k]);
            wr[j] = q;
            er[j] = e;
            cr[i1 + j] = code;
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nr * nb; e += blockDim.x) {
        int a = e / nb, b = e - a * nb;
        Wm[(r0 + a) * C + i1 + b] = Ws[a * (nb + 1) + b];
    }
}

/* Reverses a (n) in place: with both indices of a square matrix flipped,
 * J A J, whether read row- or column-major. */
/* d = the identity (C, C). */
__global__ void k_eye(float *d, int64_t C) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < C * C; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = i / C == i % C ? 1.0f : 0.0f;
}

/* d[i] = s[n - 1 - i] (d and s distinct). */
__global__ void k_reverse_to(float *d, const float *s, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = s[n - 1 - i];
}

__global__ void k_reverse(float *a, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n / 2; i += (int64_t)gridDim.x * blockDim.x) {
        float t = a[i];
        a[i] = a[n - 1 - i];
        a[n - 1 - i] = t;
    }
}

enum { GQ_STREAMS = 8 };        /* at most this many factorizations in flight */

/* Streams the factorizations use: 8 (chol 1.43 s with 4 on an H200, 1.32
 * with 8), or QTUNE_GPTQ_STREAMS (1..8). */
static int gq_streams(void) {
    const char *v = getenv("QTUNE_GPTQ_STREAMS");
    int k = v && *v ? atoi(v) : 8;
    return k < 1 ? 1 : k > GQ_STREAMS ? GQ_STREAMS : k;
}

struct gq_ctx {
    int ready;
    cusolverDnHandle_t sol[GQ_STREAMS];
    cudaStream_t st[GQ_STREAMS];
    struct cu_buf work[GQ_STREAMS];
    void *hwork[GQ_STREAMS];
    size_t hwork_n[GQ_STREAMS];
    cudaEvent_t done[GQ_STREAMS], start;
    cublasHandle_t blas[GQ_STREAMS];    /* the trsm inverse */
    struct cu_buf eye[GQ_STREAMS];      /* (C, C) its right-hand side, then R⁻¹ */
};
static struct gq_ctx gs;

static int sol_get(qt_err *err) {
    if (gs.ready) return QT_OK;
    for (int k = 0; k < GQ_STREAMS; k++) {
        if (cusolverDnCreate(&gs.sol[k]) != CUSOLVER_STATUS_SUCCESS) return qt_err_set(err, "CUDA: cusolverDnCreate failed");
        CU_TRY(cudaStreamCreateWithFlags(&gs.st[k], cudaStreamNonBlocking), "GPTQ: stream");
        cusolverDnSetStream(gs.sol[k], gs.st[k]);
        cudaEventCreateWithFlags(&gs.done[k], cudaEventDisableTiming);
        if (cublasCreate(&gs.blas[k]) != CUBLAS_STATUS_SUCCESS) return qt_err_set(err, "CUDA: cublasCreate failed");
        cublasSetStream(gs.blas[k], gs.st[k]);
    }
    cudaEventCreateWithFlags(&gs.start, cudaEventDisableTiming);
    gs.ready = 1;
    return QT_OK;
}

/* U = chol(H⁻¹) upper of each of n matrices (C, C) in place, row-major (H
 * valid in its row-major upper triangle = column-major lower).  Without
 * forming H⁻¹: with J the exchange matrix, J H J = L Lᵀ, so H = R Rᵀ with
 * R = J L J upper and U = R⁻¹ = J L⁻¹ J.  Flipping both indices of a
 * square matrix is reversing its array, so per matrix: reverse (column-major
 * J H J, valid in its upper triangle), potrf upper (= Lᵀ), its inverse
 * (= L⁻ᵀ: trsm against I, or trtri), reverse (row-major J L⁻¹ J = U; the
 * trsm's lower triangle is zero, trtri's keeps what was there: the column
 * loop reads the upper one).  Matrices run on gq_streams()
 * streams at once. */
static int chol_inv(struct cu_ctx *cx, float *H, int n, int64_t C, qt_err *err) {
    if (sol_get(err)) return QT_ERR;
    int ns = gq_streams();
    int lw = 0;
    size_t dw = 0, hw = 0;
    if (cusolverDnSpotrf_bufferSize(gs.sol[0], CUBLAS_FILL_MODE_UPPER, (int)C, H, (int)C, &lw) != CUSOLVER_STATUS_SUCCESS ||
        cusolverDnXtrtri_bufferSize(gs.sol[0], CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, C, CUDA_R_32F, H, C, &dw,
                                    &hw) != CUSOLVER_STATUS_SUCCESS)
        return qt_err_set(err, "CUDA: cuSOLVER workspace query failed");
    size_t wbytes = (size_t)lw * 4 > dw ? (size_t)lw * 4 : dw;
    static struct cu_buf info;
    if (cu_buf_need(&info, (size_t)n * 2 * sizeof(int), "GPTQ: cuSOLVER info", err)) return QT_ERR;
    for (int k = 0; k < ns; k++) {
        if (cu_buf_need(&gs.work[k], wbytes + 16, "GPTQ: cuSOLVER workspace", err)) return QT_ERR;
        if (hw > gs.hwork_n[k]) {
            free(gs.hwork[k]);
            gs.hwork[k] = malloc(hw);
            if (!gs.hwork[k]) return qt_err_set(err, "out of memory");
            gs.hwork_n[k] = hw;
        }
    }
    /* R⁻¹ by cuBLAS trsm against the identity (C³ flops at GEMM speed):
     * the layer's factorizations 1.92 -> 1.36 s on an H200 against
     * cuSOLVER's trtri (C³/3 flops, far slower per flop; QTUNE_GPTQ_TRSM=0
     * takes it) */
    const char *tv = getenv("QTUNE_GPTQ_TRSM");
    int use_trsm = !(tv && *tv == '0');
    for (int k = 0; use_trsm && k < ns && k < n; k++)
        if (cu_buf_need(&gs.eye[k], (size_t)(C * C) * 4, "GPTQ: inverse", err)) return QT_ERR;
    int *dinfo = (int *)info.p;
    CU_TRY(cudaMemsetAsync(dinfo, 0, (size_t)n * 2 * sizeof(int), cx->st), "GPTQ: clear");
    CU_TRY(cudaEventRecord(gs.start, cx->st), "GPTQ");
    for (int k = 0; k < ns; k++) cudaStreamWaitEvent(gs.st[k], gs.start, 0);
    int64_t nn = C * C;
    int grid = cx->prop.multiProcessorCount * 4;
    for (int m = 0; m < n; m++) {
        int k = m % ns;
        float *h = H + (int64_t)m * nn;
        k_reverse<<<grid, 256, 0, gs.st[k]>>>(h, nn);
        cusolverStatus_t a = cusolverDnSpotrf(gs.sol[k], CUBLAS_FILL_MODE_UPPER, (int)C, h, (int)C,
                                              (float *)gs.work[k].p, lw, dinfo + 2 * m);
        if (use_trsm) {
            float *X = (float *)gs.eye[k].p;
            const float one = 1.0f;
            k_eye<<<grid, 256, 0, gs.st[k]>>>(X, C);
            cublasStatus_t t = cublasStrsm(gs.blas[k], CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                                           CUBLAS_DIAG_NON_UNIT, (int)C, (int)C, &one, h, (int)C, X, (int)C);
            if (t != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "GPTQ: trsm", t);
            k_reverse_to<<<grid, 256, 0, gs.st[k]>>>(h, X, nn);
            if (a) return qt_err_set(err, "CUDA: cuSOLVER call failed (matrix %d: %d)", m, (int)a);
            continue;
        }
        cusolverStatus_t b = cusolverDnXtrtri(gs.sol[k], CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, C, CUDA_R_32F, h,
                                              C, gs.work[k].p, dw, gs.hwork[k], hw, dinfo + 2 * m + 1);
        k_reverse<<<grid, 256, 0, gs.st[k]>>>(h, nn);
        if (a || b) return qt_err_set(err, "CUDA: cuSOLVER call failed (matrix %d: %d %d)", m, (int)a, (int)b);
    }
    for (int k = 0; k < ns; k++) {
        cudaEventRecord(gs.done[k], gs.st[k]);
        cudaStreamWaitEvent(cx->st, gs.done[k], 0);
    }
    CU_TRY(cudaGetLastError(), "GPTQ: factorization");
    int *hinfo = (int *)malloc((size_t)n * 2 * sizeof(int));
    if (!hinfo) return qt_err_set(err, "out of memory");
    cudaError_t e = cudaMemcpyAsync(hinfo, dinfo, (size_t)n * 2 * sizeof(int), cudaMemcpyDeviceToHost, cx->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
    if (e != cudaSuccess) {
        free(hinfo);
        return cu_fail(err, "GPTQ: Cholesky", e);
    }
    for (int m = 0; m < n; m++)
        if (hinfo[2 * m] || hinfo[2 * m + 1]) {
            int bad = hinfo[2 * m] ? hinfo[2 * m] : hinfo[2 * m + 1];
            free(hinfo);
            return qt_err_set(err, "GPTQ (raise dampening_frac): Cholesky of matrix %d failed (minor %d)", m, bad);
        }
    free(hinfo);
    return QT_OK;
}

/* The column loop over n matrices W (n, rows, C) with factors U (n, C, C):
 * codes (n, rows, C), the scale grid (n, srows, scols) from RTN of W first
 * (scale, zero: device outputs), W ends as w'. */
static int columns(struct cu_ctx *cx, int n, float *W, const float *U, int64_t rows, int64_t C,
                   const struct qt_scheme *s, enum qt_dtype wd, int bs, int8_t *codes, float *scale, int8_t *zero,
                   int make_grid, const int32_t *gcol, qt_err *err) {
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, wd, rows, C, NULL, err)) return QT_ERR;
    gq G;
    memset(&G, 0, sizeof G);
    G.fp8 = s->kind == QT_SCHEME_FP8;
    G.qmin = -(1 << (s->bits - 1));
    G.qmax = (1 << (s->bits - 1)) - 1;
    G.dt = (int)wd;
    G.strat = (int)s->strategy;
    G.g = s->group;
    int64_t sh[2];
    int snd = qt_scheme_scale_shape(s, rows, C, sh);
    G.srows = sh[0];
    G.scols = snd == 2 ? sh[1] : 1;
    int64_t ns = G.srows * G.scols;
    for (int m = 0; make_grid && m < n; m++) {
        struct qt_qctx cm = c;
        if (cu_quant_f32_dev(cx, W + (int64_t)m * rows * C, &cm, NULL, NULL, scale + m * ns, zero ? zero + m * ns : NULL,
                             NULL, err))
            return QT_ERR;
    }
    static struct cu_buf eb;
    if (cu_buf_need(&eb, (size_t)n * rows * bs * 4, "GPTQ: block errors", err)) return QT_ERR;
    float *E = (float *)eb.p;
    size_t smem = (size_t)(bs * bs + GQ_ROWS * (bs + 1)) * 4;
    static size_t smem_set;
    if (smem > smem_set) {
        CU_TRY(cudaFuncSetAttribute(k_block, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), "GPTQ: shared memory");
        smem_set = smem;
    }
    dim3 grid((unsigned)((rows + GQ_ROWS - 1) / GQ_ROWS), (unsigned)n);
    for (int64_t i1 = 0; i1 < C; i1 += bs) {
        int nb = (int)(C - i1 < bs ? C - i1 : bs);
        k_block<<<grid, GQ_ROWS, smem, cx->st>>>(W, U, E, codes, scale, zero, rows, C, i1, nb, bs, G, gcol);
        CU_TRY(cudaGetLastError(), "GPTQ: column kernel");
        int64_t i2 = i1 + nb;
        if (i2 >= C) break;
        /* W[:, i2:] -= E (rows, nb) · U[i1:i2, i2:] for every matrix; column-major:
         * W^T[i2:, :] (C-i2, rows) -= U_blk^T (C-i2, nb) · E^T (nb, rows) */
        const float alpha = -1.0f, beta = 1.0f;
        cublasStatus_t st = cublasSgemmStridedBatched(
            cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)(C - i2), (int)rows, nb, &alpha, U + i1 * C + i2, (int)C, C * C, E,
            bs, rows * bs, &beta, W + i2, (int)C, rows * C, n);
        if (st != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "GPTQ: block update", st);
    }
    return QT_OK;
}

static int gptq_dev(struct cu_ctx *cx, int n, float *W, float *H, int64_t rows, int64_t C, const struct qt_scheme *s,
                    enum qt_dtype wd, int bs, double damp, int8_t *codes, float *scale, int8_t *zero, int factor,
                    double *t_chol, double *t_cols, qt_err *err) {
    static struct cu_buf dead;
    if (cu_buf_need(&dead, (size_t)n * C, "GPTQ: dead columns", err)) return QT_ERR;
    double t0 = qt_now();
    if (factor) {
        k_damp<<<n, 256, 0, cx->st>>>(H, C, damp, (unsigned char *)dead.p);
        CU_TRY(cudaGetLastError(), "GPTQ: dampening kernel");
        if (chol_inv(cx, H, n, C, err)) return QT_ERR;
    } else {
        /* U already factored by an earlier call on the same H: the dead
         * columns are those of that call */
    }
    double t1 = qt_now();
    int64_t all = (int64_t)n * rows * C;
    k_zero_dead<<<cx->prop.multiProcessorCount * 8, 256, 0, cx->st>>>(W, rows, C, (const unsigned char *)dead.p, all);
    CU_TRY(cudaGetLastError(), "GPTQ: dead columns kernel");
    if (columns(cx, n, W, H, rows, C, s, wd, bs, codes, scale, zero, 1, NULL, err)) return QT_ERR;
    CU_TRY(cudaStreamSynchronize(cx->st), "GPTQ");
    double t2 = qt_now();
    if (t_chol) *t_chol += t1 - t0;
    if (t_cols) *t_cols += t2 - t1;
    return QT_OK;
}

static int check_scheme(const struct qt_scheme *s, int64_t rows, int64_t cols, qt_err *err) {
    if (s->kind != QT_SCHEME_INT && s->kind != QT_SCHEME_FP8)
        return qt_err_set(err, "GPTQ: scheme kind not supported (int or fp8 weights only)");
    return qt_scheme_check_shape(s, rows, cols, err);
}

/* ---- benchmark: one GLM-4.6-shaped MoE layer ----------------------------- */

__global__ void k_randn(float *x, int64_t n, uint64_t seed, float sigma) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull + seed;
        float g = 0;
        for (int k = 0; k < 4; k++) {
            z ^= z >> 30; z *= 0xBF58476D1CE4E5B9ull; z ^= z >> 27; z *= 0x94D049BB133111EBull; z ^= z >> 31;
            g += (float)(z >> 40) * (1.0f / 16777216.0f);
        }
        float v = (g - 2.0f) * 1.7320508f * sigma;
        x[i] = __uint_as_float((__float_as_uint(v) + 0x7fffu + ((__float_as_uint(v) >> 16) & 1u)) & 0xffff0000u);
    }
}

/* sum a ∘ b over n (double), into *out (zeroed by the caller). */
__global__ void k_dot(const float *a, const float *b, int64_t n, double *out) {
    double s = 0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        s += (double)a[i] * b[i];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(out, s);
}

__global__ void k_sub(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = a[i] - b[i];
}

/* Σ_r e_r H e_rᵀ for e (rows, C), H (C, C) symmetric: T = e H, then sum e∘T. */
static int quad(struct cu_ctx *cx, const float *e, const float *H, int64_t rows, int64_t C, float *T, double *dacc,
                double *out, qt_err *err) {
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t st = cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)C, (int)rows, (int)C, &one, H, (int)C, e,
                                    (int)C, &zero, T, (int)C);
    if (st != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "GPTQ: check", st);
    CU_TRY(cudaMemsetAsync(dacc, 0, 8, cx->st), "clear");
    k_dot<<<cx->prop.multiProcessorCount * 4, 256, 0, cx->st>>>(e, T, rows * C, dacc);
    CU_TRY(cudaMemcpyAsync(out, dacc, 8, cudaMemcpyDeviceToHost, cx->st), "download");
    CU_TRY(cudaStreamSynchronize(cx->st), "check");
    return QT_OK;
}

extern "C" int qt_cuda_bench_gptq(int E, int64_t hidden, int64_t inter, int64_t ntok, int top_k,
                                  const struct qt_scheme *s, struct qt_cuda_gptq_times *t, double *gptq_err,
                                  double *rtn_err, qt_err *err) {
    memset(t, 0, sizeof *t);
    if (check_scheme(s, inter, hidden, err) || check_scheme(s, hidden, inter, err)) return QT_ERR;
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    if (!cx) {
        cu_unlock();
        return QT_ERR;
    }
    /* routing: expert e gets a share ∝ 1 / (1 + e/16) of the ntok * top_k
     * slots (a realistic skew: the busiest expert sees ~6x the idlest) */
    int64_t *cnt = (int64_t *)calloc((size_t)E + 1, sizeof(int64_t));
    double wsum = 0;
    for (int e = 0; e < E; e++) wsum += 1.0 / (1.0 + e / 16.0);
    int64_t slots = ntok * top_k, given = 0;
    for (int e = 0; e < E && cnt; e++) {
        cnt[e + 1] = (int64_t)((double)slots * (1.0 / (1.0 + e / 16.0)) / wsum);
        given += cnt[e + 1];
    }
    if (cnt) cnt[1] += slots - given;
    for (int e = 0; e < E && cnt; e++) cnt[e + 1] += cnt[e];
    int rc = cnt ? QT_OK : qt_err_set(err, "out of memory");
    int64_t nwu = (int64_t)E * inter * hidden;     /* gate / up / down weights each */
    float *Xi = NULL, *Xm = NULL, *Hi = NULL, *Hm = NULL, *Wg = NULL, *Wu = NULL, *Wd = NULL, *W0 = NULL, *H0 = NULL;
    float *Sc = NULL, *T = NULL;
    int8_t *Cd = NULL, *Zp = NULL;
    double *dacc = NULL;
    int asym = s->kind == QT_SCHEME_INT && !s->sym;
    int64_t nsc = nwu;   /* enough for any grid */
    if (rc == QT_OK) rc = cu_alloc((void **)&Xi, (size_t)slots * hidden * 4, "bench: expert inputs", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Xm, (size_t)slots * inter * 4, "bench: expert activations", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Hi, (size_t)E * hidden * hidden * 4, "bench: Hessians", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Hm, (size_t)E * inter * inter * 4, "bench: Hessians", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Wg, (size_t)nwu * 4, "bench: gate", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Wu, (size_t)nwu * 4, "bench: up", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Wd, (size_t)nwu * 4, "bench: down", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&W0, (size_t)inter * hidden * 4 * 2, "bench: check copy", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&H0, (size_t)hidden * hidden * 4, "bench: check Hessian", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&T, (size_t)inter * hidden * 4, "bench: check", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Cd, (size_t)nwu, "bench: codes", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&Sc, (size_t)nsc / 16 * 4 + 4096, "bench: scales", err);
    if (rc == QT_OK && asym) rc = cu_alloc((void **)&Zp, (size_t)nsc / 16 + 4096, "bench: zero points", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&dacc, 8, "bench", err);
    int grid = cx->prop.multiProcessorCount * 8;
    if (rc == QT_OK) {
        k_randn<<<grid, 256, 0, cx->st>>>(Xi, slots * hidden, 11, 1.0f);
        k_randn<<<grid, 256, 0, cx->st>>>(Xm, slots * inter, 12, 0.5f);
        k_randn<<<grid, 256, 0, cx->st>>>(Wg, nwu, 13, 0.02f);
        k_randn<<<grid, 256, 0, cx->st>>>(Wu, nwu, 14, 0.02f);
        k_randn<<<grid, 256, 0, cx->st>>>(Wd, nwu, 15, 0.02f);
        if (cudaGetLastError() != cudaSuccess || cudaStreamSynchronize(cx->st) != cudaSuccess)
            rc = qt_err_set(err, "CUDA: bench setup failed");
    }
    /* the check: expert 0's gate, its full Hessian and weight kept aside */
    if (rc == QT_OK) {
        const float one = 1.0f, zero = 0.0f;
        int64_t n0 = cnt[1] - cnt[0];
        cublasSgemm(cx->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)hidden, (int)hidden, (int)n0, &one, Xi, (int)hidden, Xi,
                    (int)hidden, &zero, H0, (int)hidden);
        cudaMemcpyAsync(W0, Wg, (size_t)inter * hidden * 4, cudaMemcpyDeviceToDevice, cx->st);
    }
    double t0 = qt_now();
    /* Hessians: H_e = X_e^T X_e over the rows expert e received (lower
     * column-major = upper row-major, what the factorization reads) */
    for (int e = 0; e < E && rc == QT_OK; e++) {
        const float one = 1.0f, zero = 0.0f;
        int64_t ne = cnt[e + 1] - cnt[e];
        cublasStatus_t a = cublasSsyrk(cx->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, (int)hidden, (int)ne, &one,
                                       Xi + cnt[e] * hidden, (int)hidden, &zero, Hi + (int64_t)e * hidden * hidden,
                                       (int)hidden);
        cublasStatus_t b = cublasSsyrk(cx->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, (int)inter, (int)ne, &one,
                                       Xm + cnt[e] * inter, (int)inter, &zero, Hm + (int64_t)e * inter * inter, (int)inter);
        if (a || b) rc = qt_err_set(err, "CUDA: bench Hessian failed");
    }
    if (rc == QT_OK && cudaStreamSynchronize(cx->st) != cudaSuccess) rc = qt_err_set(err, "CUDA: bench Hessian failed");
    double t1 = qt_now();
    t->hessian = t1 - t0;
    /* gate and up share their input, hence H and its factor */
    if (rc == QT_OK)
        rc = gptq_dev(cx, E, Wg, Hi, inter, hidden, s, QT_DT_BF16, 128, 0.01, Cd, Sc, Zp, 1, &t->cholesky, &t->columns, err);
    if (rc == QT_OK)
        rc = gptq_dev(cx, E, Wu, Hi, inter, hidden, s, QT_DT_BF16, 128, 0.01, Cd, Sc, Zp, 0, &t->cholesky, &t->columns, err);
    if (rc == QT_OK)
        rc = gptq_dev(cx, E, Wd, Hm, hidden, inter, s, QT_DT_BF16, 128, 0.01, Cd, Sc, Zp, 1, &t->cholesky, &t->columns, err);
    t->total = qt_now() - t0;
    /* output error of expert 0's gate: GPTQ against round-to-nearest */
    if (rc == QT_OK) {
        int64_t n = inter * hidden;
        float *e = W0 + n, *rtn = T;
        double num = 0, den = 0, rn = 0;
        struct qt_qctx c;
        qt_qctx_init(&c, s, QT_DT_BF16, inter, hidden, NULL, NULL);
        rc = cu_quant_f32_dev(cx, W0, &c, rtn, NULL, NULL, NULL, NULL, err);
        if (rc == QT_OK) {
            k_sub<<<grid, 256, 0, cx->st>>>(e, W0, rtn, n);
            rc = quad(cx, e, H0, inter, hidden, rtn, dacc, &rn, err);
        }
        if (rc == QT_OK) {
            k_sub<<<grid, 256, 0, cx->st>>>(e, W0, Wg, n);
            rc = quad(cx, e, H0, inter, hidden, rtn, dacc, &num, err);
        }
        if (rc == QT_OK) rc = quad(cx, W0, H0, inter, hidden, rtn, dacc, &den, err);
        *gptq_err = den > 0 ? num / den : NAN;
        *rtn_err = den > 0 ? rn / den : NAN;
    }
    free(cnt);
    void *ps[] = {Xi, Xm, Hi, Hm, Wg, Wu, Wd, W0, H0, Sc, T, Cd, Zp, dacc};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]) cudaFree(ps[i]);
    cu_unlock();
    return rc;
}

/* ---- one batch of the calibrated pipeline (backend.h's gptq entry) ------- */

/* dst[m][r][j] = src[m][r][perm[m][j]] (to processing order). */
__global__ void k_perm_cols(float *dst, const float *src, const int32_t *perm, int64_t rows, int64_t C, int64_t n_all) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_all; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t m = i / (rows * C), j = i % C;
        dst[i] = src[i - j + perm[m * C + j]];
    }
}

/* dst[m][r][perm[m][j]] = src[m][r][j] (back to the original order). */
template <typename T>
__global__ void k_unperm_cols(T *dst, const T *src, const int32_t *perm, int64_t rows, int64_t C, int64_t n_all) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_all; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t m = i / (rows * C), j = i % C;
        dst[i - j + perm[m * C + j]] = src[i];
    }
}

/* dst[m][a][b] = src[m][perm[a]][perm[b]]. */
__global__ void k_perm_h(float *dst, const float *src, const int32_t *perm, int64_t C, int64_t n_all) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_all; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t m = i / (C * C), a = (i / C) % C, b = i % C;
        const int32_t *p = perm + m * C;
        dst[i] = src[m * C * C + (int64_t)p[a] * C + p[b]];
    }
}

/* W[m][r][j] = 0 where dead[m][j] (the inputs that never saw a non-zero). */
static int zero_dead(struct cu_ctx *cx, float *W, int64_t rows, int64_t C, const unsigned char *dead, int n, qt_err *err) {
    k_zero_dead<<<cx->prop.multiProcessorCount * 8, 256, 0, cx->st>>>(W, rows, C, dead, (int64_t)n * rows * C);
    CU_TRY(cudaGetLastError(), "GPTQ: dead columns kernel");
    return QT_OK;
}

/* H (C, C) float32 symmetric from an accumulator's upper triangle (the host
 * path's (float) of the mirrored double), dead[j] = (acc_jj == 0). */
__global__ void k_h_from_acc(float *H, unsigned char *dead, const double *acc, int64_t C) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < C * C; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / C, c = i % C;
        double v = c >= r ? acc[i] : acc[c * C + r];
        H[i] = (float)v;
        if (r == c) dead[r] = v == 0;
    }
}

struct gb_bufs {
    float *H0, *H, *W0, *Wz, *W, *D, *E, *T, *S;
    int8_t *Cp, *Co, *Z;
    unsigned char *dead, *deadp;
    int32_t *perm, *gcol;
    double *acc;
};

static void gb_free(struct gb_bufs *B) {
    void *ps[] = {B->H0, B->H, B->W0, B->Wz, B->W, B->D, B->E, B->T, B->S, B->Cp, B->Co, B->Z,
                  B->dead, B->deadp, B->perm, B->gcol, B->acc};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]) cudaFree(ps[i]);
}

/* Cells of the scale grid (qt_scheme_scale_shape, as the writer lays it out). */
static int64_t grid_cells(const struct qt_scheme *s, int64_t rows, int64_t C) {
    int64_t sh[2];
    int snd = qt_scheme_scale_shape(s, rows, C, sh);
    return sh[0] * (snd == 2 ? sh[1] : 1);
}

/* One weight set of the batch: the matrices reading each Hessian. */
static int gb_set(struct cu_ctx *cx, const struct qt_be_gptq *b, const struct qt_be_gptq_set *S, struct gb_bufs *B,
                  int permuted, int bs, qt_err *err) {
    int n = b->n;
    int64_t C = b->cols, R = S->rows, RC = R * C, all = (int64_t)n * RC;
    const struct qt_scheme *s = S->s;
    int asym = s->kind == QT_SCHEME_INT && !s->sym;
    int grid = cx->prop.multiProcessorCount * 8;
    for (int m = 0; m < n; m++)
        CU_TRY(cudaMemcpyAsync(B->W0 + m * RC, S->w[m], (size_t)RC * 4, cudaMemcpyHostToDevice, cx->st), "GPTQ: upload");
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, S->wdtype, R, C, NULL, err)) return QT_ERR;
    int64_t ns = grid_cells(s, R, C);
    CU_TRY(cudaMemcpyAsync(B->Wz, B->W0, (size_t)all * 4, cudaMemcpyDeviceToDevice, cx->st), "GPTQ: copy");
    if (zero_dead(cx, B->Wz, R, C, B->dead, n, err)) return QT_ERR;
    /* the scale grid of the weight as it is (static or no actorder) */
    for (int m = 0; !b->group_order && m < n; m++) {
        struct qt_qctx cm = c;
        if (cu_quant_f32_dev(cx, B->Wz + m * RC, &cm, NULL, NULL, B->S + m * ns, asym ? B->Z + m * ns : NULL, NULL, err))
            return QT_ERR;
    }
    float *W = B->Wz;
    if (permuted) {
        k_perm_cols<<<grid, 256, 0, cx->st>>>(B->W, B->Wz, B->perm, R, C, all);
        CU_TRY(cudaGetLastError(), "GPTQ: permute kernel");
        W = B->W;
    }
    int static_order = permuted && !b->group_order;
    if (columns(cx, n, W, B->H, R, C, s, S->wdtype, bs, permuted ? B->Cp : B->Co, B->S, asym ? B->Z : NULL,
                b->group_order, static_order ? B->gcol : NULL, err))
        return QT_ERR;
    float *deq = W;
    if (permuted) {
        k_unperm_cols<int8_t><<<grid, 256, 0, cx->st>>>(B->Co, B->Cp, B->perm, R, C, all);
        k_unperm_cols<float><<<grid, 256, 0, cx->st>>>(B->Wz, B->W, B->perm, R, C, all);
        CU_TRY(cudaGetLastError(), "GPTQ: permute kernel");
        deq = B->Wz;
    }
    /* results to the host, in the layout qt_quant_tensor gives */
    for (int m = 0; m < n; m++) {
        struct qt_qtensor *q = &S->q[m];
        if (qt_qtensor_init(q, s, S->wdtype, R, C, 1, err)) return QT_ERR;
        if (q->srows * q->scols != ns) return qt_err_set(err, "GPTQ: scale grid of %lld cells, expected %lld",
                                                        (long long)(q->srows * q->scols), (long long)ns);
        cudaError_t e = cudaMemcpyAsync(q->q, B->Co + m * RC, (size_t)RC, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaMemcpyAsync(q->scale, B->S + m * ns, (size_t)ns * 4, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess && asym && q->zero)
            e = cudaMemcpyAsync(q->zero, B->Z + m * ns, (size_t)ns, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess && S->deq && S->deq[m])
            e = cudaMemcpyAsync(S->deq[m], deq + m * RC, (size_t)RC * 4, cudaMemcpyDeviceToHost, cx->st);
        if (e != cudaSuccess) return cu_fail(err, "GPTQ: download", e);
    }
    CU_TRY(cudaStreamSynchronize(cx->st), "GPTQ: download");
    /* output errors under the undamped Hessian, against the weight as given */
    for (int m = 0; (S->out_err || S->rtn_err) && m < n; m++) {
        double den = 0, num = 0, rn = 0;
        const float *H0 = B->H0 + (int64_t)m * C * C;
        if (quad(cx, B->W0 + m * RC, H0, R, C, B->T, B->acc, &den, err)) return QT_ERR;
        k_sub<<<grid, 256, 0, cx->st>>>(B->E, B->W0 + m * RC, deq + m * RC, RC);
        if (quad(cx, B->E, H0, R, C, B->T, B->acc, &num, err)) return QT_ERR;
        if (S->rtn_err) {
            struct qt_qctx cm = c;
            if (cu_quant_f32_dev(cx, B->W0 + m * RC, &cm, B->D, NULL, NULL, NULL, NULL, err)) return QT_ERR;
            k_sub<<<grid, 256, 0, cx->st>>>(B->E, B->W0 + m * RC, B->D, RC);
            if (quad(cx, B->E, H0, R, C, B->T, B->acc, &rn, err)) return QT_ERR;
            S->rtn_err[m] = den > 0 ? rn / den : 0;
        }
        if (S->out_err) S->out_err[m] = den > 0 ? num / den : 0;
    }
    return QT_OK;
}

static int gb_run(struct cu_ctx *cx, const struct qt_be_gptq *b, struct gb_bufs *B, qt_err *err) {
    int n = b->n;
    int64_t C = b->cols, CC = C * C;
    int bs = b->block_size > 0 && b->block_size < 128 ? b->block_size : 128;
    int64_t maxr = 0;
    int any_asym = 0;
    for (int k = 0; k < b->nsets; k++) {
        const struct qt_be_gptq_set *S = &b->sets[k];
        if (check_scheme(S->s, S->rows, C, err)) return QT_ERR;
        if (b->perm && S->s->strategy == QT_STRAT_BLOCK)
            return qt_err_set(err, "GPTQ: block strategy with an activation order (gptq.c runs it in natural order)");
        if (S->rows > maxr) maxr = S->rows;
        any_asym |= S->s->kind == QT_SCHEME_INT && !S->s->sym;
    }
    int64_t wall = (int64_t)n * maxr * C, sall = 0;
    for (int k = 0; k < b->nsets; k++) {
        int64_t c = (int64_t)n * grid_cells(b->sets[k].s, b->sets[k].rows, C);
        if (c > sall) sall = c;
    }
    int rc = QT_OK;
    if (rc == QT_OK) rc = cu_alloc((void **)&B->H0, (size_t)n * CC * 4, "GPTQ: Hessians", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->H, (size_t)n * CC * 4, "GPTQ: factors", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->W0, (size_t)wall * 4, "GPTQ: weights", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->Wz, (size_t)wall * 4, "GPTQ: weights", err);
    if (rc == QT_OK && b->perm) rc = cu_alloc((void **)&B->W, (size_t)wall * 4, "GPTQ: permuted weights", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->D, (size_t)maxr * C * 4, "GPTQ: check", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->E, (size_t)maxr * C * 4, "GPTQ: check", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->T, (size_t)maxr * C * 4, "GPTQ: check", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->S, (size_t)sall * 4 + 4, "GPTQ: scales", err);
    if (rc == QT_OK && any_asym) rc = cu_alloc((void **)&B->Z, (size_t)sall + 4, "GPTQ: zero points", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->Co, (size_t)wall, "GPTQ: codes", err);
    if (rc == QT_OK && b->perm) rc = cu_alloc((void **)&B->Cp, (size_t)wall, "GPTQ: codes", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->dead, (size_t)n * C, "GPTQ: dead columns", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->deadp, (size_t)n * C, "GPTQ: dead columns", err);
    if (rc == QT_OK && b->perm) rc = cu_alloc((void **)&B->perm, (size_t)n * C * 4, "GPTQ: order", err);
    if (rc == QT_OK && b->perm) rc = cu_alloc((void **)&B->gcol, (size_t)n * C * 4, "GPTQ: order", err);
    if (rc == QT_OK) rc = cu_alloc((void **)&B->acc, 8, "GPTQ", err);
    if (rc != QT_OK) return QT_ERR;
    /* Hessians (double on the host, float32 here as llm-compressor keeps
     * them), dead inputs and the processing order */
    float *hf = b->hacc ? NULL : (float *)malloc((size_t)CC * 4);
    unsigned char *dead = (unsigned char *)malloc((size_t)n * C);
    int32_t *perm = b->perm ? (int32_t *)malloc((size_t)n * C * 4) : NULL;
    int32_t *gcol = b->perm ? (int32_t *)malloc((size_t)n * C * 4) : NULL;
    if ((!hf && !b->hacc) || !dead || (b->perm && (!perm || !gcol))) rc = qt_err_set(err, "out of memory");
    /* static order: a processing column keeps its original column's group */
    int64_t g0 = 0;
    for (int k = 0; k < b->nsets; k++) {
        const struct qt_scheme *sk = b->sets[k].s;
        if (sk->strategy != QT_STRAT_GROUP) continue;
        if (!g0) g0 = sk->group;
        else if (sk->group != g0 && b->perm && !b->group_order)
            rc = qt_err_set(err, "GPTQ: one batch's group sizes differ (static actorder)");
    }
    if (g0 < 1) g0 = 1;
    int grid = cx->prop.multiProcessorCount * 8;
    for (int m = 0; rc == QT_OK && m < n; m++) {
        for (int64_t j = 0; perm && j < C; j++) {
            int64_t p = b->perm[m][j];
            perm[(int64_t)m * C + j] = (int32_t)p;
            gcol[(int64_t)m * C + j] = (int32_t)(p / g0);
        }
        if (b->hacc) {  /* the device's own sums: converted where they are */
            const struct qt_hacc *a = b->hacc[m];
            if (!a || !a->dev || a->cols != C) { rc = qt_err_set(err, "GPTQ: Hessian %d is not a device accumulator of %lld columns", m, (long long)C); break; }
            k_h_from_acc<<<grid, 256, 0, cx->st>>>(B->H0 + (int64_t)m * CC, B->dead + (int64_t)m * C, (const double *)a->dev, C);
            cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) rc = cu_fail(err, "GPTQ: Hessian kernel", e);
            continue;
        }
        const double *h = b->h[m];
        for (int64_t i = 0; i < CC; i++) hf[i] = (float)h[i];
        for (int64_t j = 0; j < C; j++) dead[(int64_t)m * C + j] = h[j * C + j] == 0;
        cudaError_t e = cudaMemcpy(B->H0 + (int64_t)m * CC, hf, (size_t)CC * 4, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) rc = cu_fail(err, "GPTQ: upload", e);
    }
    if (rc == QT_OK && !b->hacc && cudaMemcpy(B->dead, dead, (size_t)n * C, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = qt_err_set(err, "CUDA: GPTQ upload failed");
    if (rc == QT_OK && perm &&
        (cudaMemcpy(B->perm, perm, (size_t)n * C * 4, cudaMemcpyHostToDevice) != cudaSuccess ||
         cudaMemcpy(B->gcol, gcol, (size_t)n * C * 4, cudaMemcpyHostToDevice) != cudaSuccess))
        rc = qt_err_set(err, "CUDA: GPTQ upload failed");
    free(hf);
    free(dead);
    free(perm);
    free(gcol);
    if (rc != QT_OK) return QT_ERR;
    if (b->perm) k_perm_h<<<grid, 256, 0, cx->st>>>(B->H, B->H0, B->perm, C, (int64_t)n * CC);
    else CU_TRY(cudaMemcpyAsync(B->H, B->H0, (size_t)n * CC * 4, cudaMemcpyDeviceToDevice, cx->st), "GPTQ: copy");
    CU_TRY(cudaGetLastError(), "GPTQ: permute kernel");
    /* dampening is the same in either order (the mean of the diagonal) */
    k_damp<<<n, 256, 0, cx->st>>>(B->H, C, b->damp, B->deadp);
    CU_TRY(cudaGetLastError(), "GPTQ: dampening kernel");
    if (chol_inv(cx, B->H, n, C, err)) return QT_ERR;
    for (int k = 0; k < b->nsets; k++)
        if (gb_set(cx, b, &b->sets[k], B, b->perm != NULL, bs, err)) return QT_ERR;
    return QT_OK;
}

/* ---- Hessian accumulators (the calibrated pipeline's, backend.h hacc) ---- */

/* acc[r][c] += t[r][c] for c >= r (t: cublasSsyrk lower in column-major =
 * the row-major upper triangle). */
__global__ void k_hacc_upper(double *acc, const float *t, int64_t C) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < C * C; i += (int64_t)gridDim.x * blockDim.x)
        if (i % C >= i / C) acc[i] += (double)t[i];
}

__global__ void k_hacc_sum(double *acc, const double *src, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        acc[i] += src[i];
}

__global__ void k_hacc_diag(double *d, const double *acc, int64_t C) {
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < C; j += (int64_t)gridDim.x * blockDim.x)
        d[j] = acc[j * C + j];
}

static struct cu_buf hx, ht, hd;    /* staging of hacc_add / hacc_read (under the lock) */

extern "C" void *qt_cuda_hacc_new(int64_t C, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    void *p = NULL;
    if (cx && cu_alloc(&p, (size_t)(C * C) * 8, "Hessian accumulator", err) == QT_OK &&
        cudaMemsetAsync(p, 0, (size_t)(C * C) * 8, cx->st) != cudaSuccess) {
        cudaFree(p);
        p = NULL;
        qt_err_set(err, "CUDA: clearing a Hessian accumulator failed");
    }
    cu_unlock();
    return p;
}

static int hacc_add(struct cu_ctx *cx, double *acc, int64_t C, const float *x, int64_t n, const double *src,
                    qt_err *err) {
    int grid = cx->prop.multiProcessorCount * 8;
    if (!x) {
        k_hacc_sum<<<grid, 256, 0, cx->st>>>(acc, src, C * C);
        CU_TRY(cudaGetLastError(), "Hessian sum kernel");
        return QT_OK;
    }
    if (cu_buf_need(&hx, (size_t)(n * C) * 4, "Hessian rows", err) || cu_buf_need(&ht, (size_t)(C * C) * 4, "Hessian products", err))
        return QT_ERR;
    /* from pageable memory: returns once x is staged, so the caller may reuse it */
    CU_TRY(cudaMemcpyAsync(hx.p, x, (size_t)(n * C) * 4, cudaMemcpyHostToDevice, cx->st), "Hessian rows upload");
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t bs = cublasSsyrk(cx->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, (int)C, (int)n, &one,
                                    (const float *)hx.p, (int)C, &zero, (float *)ht.p, (int)C);
    if (bs != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "Hessian products (syrk)", bs);
    k_hacc_upper<<<grid, 256, 0, cx->st>>>(acc, (const float *)ht.p, C);
    CU_TRY(cudaGetLastError(), "Hessian sum kernel");
    return QT_OK;
}

extern "C" int qt_cuda_hacc_add(void *acc, int64_t C, const float *x, int64_t n, const void *src, qt_err *err) {
    if (x && n <= 0) return QT_OK;
    if (x && (n > INT32_MAX || C > INT32_MAX)) return qt_err_set(err, "Hessian: %lld rows of %lld", (long long)n, (long long)C);
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? hacc_add(cx, (double *)acc, C, x, n, (const double *)src, err) : QT_ERR;
    cu_unlock();
    return rc;
}

extern "C" int qt_cuda_hacc_read(const void *acc, int64_t C, double *h, double *diag, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? QT_OK : QT_ERR;
    cudaError_t e = cudaSuccess;
    if (rc == QT_OK && h) e = cudaMemcpyAsync(h, acc, (size_t)(C * C) * 8, cudaMemcpyDeviceToHost, cx->st);
    if (rc == QT_OK && e == cudaSuccess && diag) {
        if (cu_buf_need(&hd, (size_t)C * 8, "Hessian diagonal", err)) rc = QT_ERR;
        else {
            k_hacc_diag<<<(unsigned)((C + 255) / 256), 256, 0, cx->st>>>((double *)hd.p, (const double *)acc, C);
            e = cudaGetLastError();
            if (e == cudaSuccess) e = cudaMemcpyAsync(diag, hd.p, (size_t)C * 8, cudaMemcpyDeviceToHost, cx->st);
        }
    }
    if (rc == QT_OK && e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
    if (rc == QT_OK && e != cudaSuccess) rc = cu_fail(err, "Hessian download", e);
    cu_unlock();
    return rc;
}

extern "C" void qt_cuda_hacc_free(void *acc) {
    if (!acc) return;
    cu_lock();
    cudaFree(acc);
    cu_unlock();
}

extern "C" int qt_cuda_gptq_batch(const struct qt_be_gptq *b, qt_err *err) {
    if (!b || b->n < 1 || b->nsets < 1 || b->cols < 1) return qt_err_set(err, "GPTQ: empty batch");
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    struct gb_bufs B;
    memset(&B, 0, sizeof B);
    int rc = cx ? gb_run(cx, b, &B, err) : QT_ERR;
    if (cx) cudaStreamSynchronize(cx->st);
    gb_free(&B);
    cu_unlock();
    if (rc != QT_OK)
        for (int k = 0; k < b->nsets; k++)
            for (int m = 0; m < b->n; m++) qt_qtensor_free(&b->sets[k].q[m]);
    return rc;
}
