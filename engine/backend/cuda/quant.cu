/* quant.cu — round-to-nearest quantization and its error statistics on the
 * GPU, bit for bit what engine/quant/quant.c computes (quant.h states the
 * arithmetic).  The per-cell parameters (d_cell_params) and the per-element
 * step (d_elem) are quant.c's cell_params and elem_deq in device code; this
 * file is built with -fmad=false so that no product is fused into a sum the
 * CPU rounds separately.  Only the order of the float sums differs: each
 * thread sums its 8 elements in float, then in double, then blocks add
 * their doubles.
 *
 * Kernels:
 *   k_minmax     tensor min / max (TENSOR strategy, NVFP4's global scale);
 *   k_group      one pass for groups of 16..256 columns (a multiple of 8):
 *                the g/8 threads of a group share min / max by shuffles;
 *   k_cells      the parameters of each cell (channel rows, blocks, other
 *                groups, the tensor) from one block per cell;
 *   k_apply      every element against its cell's parameters.
 * Statistics land in four doubles and one float (as bits) per call. */
#include "backend/cuda/common.cuh"
#include "backend/cuda/qarith.cuh"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- loads --------------------------------------------------------------- */

/* 8 consecutive elements at index i (a multiple of 8, 16-byte aligned). */
__device__ __forceinline__ void load8(const uint16_t *w, int64_t i, float *x) {
    uint4 v = *(const uint4 *)(w + i);
    uint32_t a[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
        x[2 * k] = __uint_as_float(a[k] << 16);
        x[2 * k + 1] = __uint_as_float(a[k] & 0xffff0000u);
    }
}
__device__ __forceinline__ void load8(const float *w, int64_t i, float *x) {
    float4 a = *(const float4 *)(w + i), b = *(const float4 *)(w + i + 4);
    x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w;
    x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
}
__device__ __forceinline__ float load1(const uint16_t *w, int64_t i) { return __uint_as_float((uint32_t)w[i] << 16); }
__device__ __forceinline__ float load1(const float *w, int64_t i) { return w[i]; }

/* ---- statistics ---------------------------------------------------------- */

/* acc: err2, w2, derr2, dw2 as doubles, then max |e| as float bits. */
struct stat_acc {
    double e2, w2, de, dw;
    float mx;
};

__device__ void stat_flush(stat_acc a, double *acc) {
    for (int o = 16; o > 0; o >>= 1) {
        a.e2 += __shfl_xor_sync(0xffffffffu, a.e2, o);
        a.w2 += __shfl_xor_sync(0xffffffffu, a.w2, o);
        a.de += __shfl_xor_sync(0xffffffffu, a.de, o);
        a.dw += __shfl_xor_sync(0xffffffffu, a.dw, o);
        a.mx = fmaxf(a.mx, __shfl_xor_sync(0xffffffffu, a.mx, o));
    }
    __shared__ double sh[32][4];
    __shared__ float shm[32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    if (lane == 0) {
        sh[wid][0] = a.e2; sh[wid][1] = a.w2; sh[wid][2] = a.de; sh[wid][3] = a.dw;
        shm[wid] = a.mx;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        float m = 0;
        for (int k = 0; k < nw; k++) {
            s0 += sh[k][0]; s1 += sh[k][1]; s2 += sh[k][2]; s3 += sh[k][3];
            m = fmaxf(m, shm[k]);
        }
        atomicAdd(&acc[0], s0);
        atomicAdd(&acc[1], s1);
        atomicAdd(&acc[2], s2);
        atomicAdd(&acc[3], s3);
        atomicMax((unsigned int *)&acc[4], __float_as_uint(m));   /* non-negative: bits order as values */
    }
}

/* Outputs of a kernel run. */
struct outs {
    double *acc;                /* (5) or NULL: no statistics */
    const float *d;             /* (cols) importance or NULL */
    float *deq;                 /* (rows, cols) or NULL */
    int8_t *codes;              /* (rows, cols) or NULL */
    float *scale;               /* (ncells) or NULL */
    int8_t *zero;               /* (ncells) or NULL */
    uint8_t *scode;             /* (ncells) or NULL */
};

/* Statistics and outputs of 8 (or n <= 8) elements of one row. */
__device__ __forceinline__ void put_elems(const kp &p, const float *x, int n, int64_t i, int64_t col,
                                          const outs &o, stat_acc &a) {
    float e2 = 0.0f, w2 = 0.0f;
    double de = 0, dw = 0;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        if (k >= n) break;
        float q, wq = d_elem(p, x[k], &q);
        float e = x[k] - wq;
        e2 = fmaf(e, e, e2);
        w2 = fmaf(x[k], x[k], w2);
        a.mx = fmaxf(a.mx, fabsf(e));
        if (o.d) {
            double de_ = (double)x[k] - (double)wq, dj = (double)o.d[col + k];
            de += dj * de_ * de_;
            dw += dj * (double)x[k] * (double)x[k];
        }
        if (o.deq) o.deq[i + k] = wq;
        if (o.codes) o.codes[i + k] = d_code(p, q);
    }
    a.e2 += (double)e2;
    a.w2 += (double)w2;
    a.de += de;
    a.dw += dw;
}

__device__ __forceinline__ void put_cell(const kp &p, int64_t cell, const outs &o) {
    if (o.scale) o.scale[cell] = p.stored;
    if (o.zero) o.zero[cell] = (int8_t)p.zpi;
    if (o.scode) o.scode[cell] = (uint8_t)p.code;
}

/* ---- kernels ------------------------------------------------------------- */

__device__ __forceinline__ unsigned int ord(float f) {      /* order-preserving bits */
    unsigned int u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}
__host__ __device__ __forceinline__ float unord(unsigned int u) {
    u = (u & 0x80000000u) ? u & 0x7fffffffu : ~u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

template <typename T>
__global__ void k_minmax(const T *w, int64_t n, unsigned int *mm) {
    float a = INFINITY, b = -INFINITY;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float x = load1(w, i);
        a = fminf(a, x);
        b = fmaxf(b, x);
    }
    for (int o = 16; o > 0; o >>= 1) {
        a = fminf(a, __shfl_xor_sync(0xffffffffu, a, o));
        b = fmaxf(b, __shfl_xor_sync(0xffffffffu, b, o));
    }
    if ((threadIdx.x & 31) == 0) {
        atomicMin(&mm[0], ord(a));
        atomicMax(&mm[1], ord(b));
    }
}

/* One pass for GROUP with g = G * 8 columns, G a power of two <= 32, cols a
 * multiple of 8: thread t holds elements 8t..8t+7 of the flattened tensor. */
template <typename T, int G>
__global__ void __launch_bounds__(256) k_group(const T *w, int64_t n8, int64_t cols, qc c, outs o) {
    stat_acc a = {0, 0, 0, 0, 0.0f};
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    /* whole warps iterate together so that the shuffles see every lane */
    int64_t base = (int64_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31);
    for (; base < n8; base += stride) {
        int64_t t = base + (threadIdx.x & 31);
        bool live = t < n8;
        float x[8];
        if (live) load8(w, t * 8, x);
        else
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] = 0.0f;
        float mn = x[0], mx = x[0];
#pragma unroll
        for (int k = 1; k < 8; k++) { mn = fminf(mn, x[k]); mx = fmaxf(mx, x[k]); }
#pragma unroll
        for (int off = 1; off < G; off <<= 1) {
            mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, off));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        }
        if (!live) continue;
        kp p;
        d_cell_params(c, mn, mx, &p);
        int64_t i = t * 8, row = i / cols, col = i - row * cols;
        if ((t & (G - 1)) == 0) put_cell(p, row * (cols / (G * 8)) + col / (G * 8), o);
        put_elems(p, x, 8, i, col, o, a);
    }
    if (o.acc) stat_flush(a, o.acc);
}

/* Cell geometry: strategy, group/block edge, grid of cells. */
struct geo {
    int strat;                  /* enum qt_strategy */
    int64_t rows, cols, g, scols;
};

__device__ __forceinline__ void cell_box(const geo &G, int64_t cell, int64_t *r0, int64_t *r1, int64_t *c0,
                                         int64_t *c1) {
    switch (G.strat) {
    case QT_STRAT_TENSOR: *r0 = 0; *r1 = G.rows; *c0 = 0; *c1 = G.cols; break;
    case QT_STRAT_CHANNEL: *r0 = cell; *r1 = cell + 1; *c0 = 0; *c1 = G.cols; break;
    case QT_STRAT_GROUP:    /* an int row may end in a partial group */
        *r0 = cell / G.scols; *r1 = *r0 + 1;
        *c0 = (cell % G.scols) * G.g; *c1 = *c0 + G.g < G.cols ? *c0 + G.g : G.cols;
        break;
    default: {
        int64_t br = cell / G.scols, bc = cell % G.scols;
        *r0 = br * G.g; *r1 = *r0 + G.g < G.rows ? *r0 + G.g : G.rows;
        *c0 = bc * G.g; *c1 = *c0 + G.g < G.cols ? *c0 + G.g : G.cols;
    }
    }
}

__device__ __forceinline__ int64_t cell_of(const geo &G, int64_t r, int64_t col) {
    switch (G.strat) {
    case QT_STRAT_TENSOR: return 0;
    case QT_STRAT_CHANNEL: return r;
    case QT_STRAT_GROUP: return r * G.scols + col / G.g;
    default: return (r / G.g) * G.scols + col / G.g;
    }
}

/* One block per cell: min / max (or the tensor's, given in mm), parameters. */
template <typename T>
__global__ void k_cells(const T *w, geo G, qc c, const unsigned int *mm, kp *params, outs o) {
    int64_t cell = blockIdx.x;
    float mn = INFINITY, mx = -INFINITY;
    if (mm) {
        mn = unord(mm[0]);
        mx = unord(mm[1]);
    } else {
        int64_t r0, r1, c0, c1;
        cell_box(G, cell, &r0, &r1, &c0, &c1);
        int64_t wdt = c1 - c0, n = (r1 - r0) * wdt;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
            int64_t r = r0 + k / wdt, col = c0 + k % wdt;
            float x = load1(w, r * G.cols + col);
            mn = fminf(mn, x);
            mx = fmaxf(mx, x);
        }
        for (int off = 16; off > 0; off >>= 1) {
            mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, off));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        }
        __shared__ float smn[32], smx[32];
        int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
        if (lane == 0) { smn[wid] = mn; smx[wid] = mx; }
        __syncthreads();
        if (threadIdx.x == 0)
            for (int k = 1; k < (int)(blockDim.x >> 5); k++) { mn = fminf(mn, smn[k]); mx = fmaxf(mx, smx[k]); }
    }
    if (threadIdx.x == 0) {
        kp p;
        d_cell_params(c, mn, mx, &p);
        params[cell] = p;
        put_cell(p, cell, o);
    }
}

/* Every element against its cell's parameters; thread t takes 8 consecutive
 * columns of one row (rows padded to a multiple of 8 columns). */
template <typename T>
__global__ void __launch_bounds__(256) k_apply(const T *w, geo G, const kp *params, outs o) {
    stat_acc a = {0, 0, 0, 0, 0.0f};
    int64_t cpr = (G.cols + 7) / 8, total = G.rows * cpr;
    bool vec = (G.cols & 7) == 0;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = t / cpr, col = (t - r * cpr) * 8, i = r * G.cols + col;
        int n = G.cols - col < 8 ? (int)(G.cols - col) : 8;
        float x[8];
        if (vec) load8(w, i, x);
        else
            for (int k = 0; k < 8; k++) x[k] = k < n ? load1(w, i + k) : 0.0f;
        int64_t cell = cell_of(G, r, col), last = cell_of(G, r, col + n - 1);
        if (cell == last) {
            kp p = params[cell];
            put_elems(p, x, n, i, col, o, a);
        } else {    /* a cell edge inside the 8 columns (groups not a multiple of 8) */
            for (int k = 0; k < n; k++) {
                kp p = params[cell_of(G, r, col + k)];
                put_elems(p, x + k, 1, i + k, col + k, o, a);
            }
        }
    }
    if (o.acc) stat_flush(a, o.acc);
}

static int grid_for(const struct cu_ctx *c, int64_t work) {
    int64_t g = (work + 255) / 256, cap = (int64_t)c->prop.multiProcessorCount * 8;
    return (int)(g < 1 ? 1 : g > cap ? cap : g);
}

/* ---- statistics-only fast path (the preview) ----------------------------- */

/* The element step specialized on the scheme (SK: enum qt_scheme_kind), the
 * work dtype (BF16 or F32) and, for int, a zero point, as quant.c's AVX2
 * kernels are: with BF16 values and a BF16 scale in [2^-90, 2^90], x *
 * RN(1/s) rounded to BF16 equals x / s rounded to BF16 (quant.c checked it
 * exhaustively), so the division is a multiplication there (MUL); elsewhere
 * it is exact division.  The cell parameters come from d_cell_params with
 * the scheme and dtype as constants (the switch folds away).
 *
 * Statistics only: round-to-integer is (t + 1.5 * 2^23) - 1.5 * 2^23, two
 * full-rate adds instead of the quarter-rate FRND, exact for |t| <= 2^22
 * (every caller's t is clamped far below) and equal to rintf except for the
 * sign of a zero result, which no statistic sees (e = x - w' and e*e). */
#define SK_RT(SK) ((SK) != QT_SCHEME_NVFP4)
#define SK_EK(SK) ((SK) == QT_SCHEME_INT ? EK_INT : (SK) == QT_SCHEME_FP8 ? EK_FP8 : EK_FP4)

__device__ __forceinline__ float frint(float t) { return __fsub_rn(__fadd_rn(t, 12582912.0f), 12582912.0f); }

template <int DT>
__device__ __forceinline__ float rw(float x) {
    if (DT == QT_DT_BF16) return d_rnd_bf16(x);
    return x;
}

/* d_fp8_round / d_fp4_round with frint (statistics only) */
__device__ __forceinline__ float fp8_round_s(float t) {
    float a = fabsf(t), r;
    if (a < 0.015625f) {
        r = __fsub_rn(__fadd_rn(a, 24576.0f), 24576.0f);  /* rint(a * 512) / 512: ulp of 1.5 * 2^14 is 2^-9 */
    } else {
        uint32_t u = __float_as_uint(a);
        r = __uint_as_float((u + 0x7ffffu + ((u >> 20) & 1u)) & 0xfff00000u);
    }
    return copysignf(r, t);
}
__device__ __forceinline__ float fp4_round_s(float t) {
    float a = fabsf(t), r;
    if (a < 2.0f) r = frint(a * 2.0f) * 0.5f;
    else if (a < 4.0f) r = frint(a);
    else r = frint(a * 0.5f) * 2.0f;
    return copysignf(r, t);
}

/* One cell's constants for the element step. */
struct fcell {
    float s, y, zp, lo, hi;
    bool mul;
};

template <int SK, int DT, int ZP>
__device__ __forceinline__ fcell fparams(const qc &c, float mn, float mx) {
    qc k = c;
    k.kind = SK;
    k.dt = DT;
    if (SK == QT_SCHEME_INT) k.sym = !ZP;
    kp p;
    d_cell_params(k, mn, mx, &p);
    fcell f;
    f.s = p.s;
    f.y = 1.0f / p.s;
    f.zp = p.zp;
    f.lo = p.lo;
    f.hi = p.hi;
    f.mul = SK_RT(SK) && DT == QT_DT_BF16 && p.s >= 0x1p-90f && p.s <= 0x1p90f;
    return f;
}

template <int SK, int DT, int ZP, bool MUL>
__device__ __forceinline__ float felem(float x, const fcell &f) {
    float t = MUL ? x * f.y : __fdiv_rn(x, f.s);
    if (SK_RT(SK)) t = rw<DT>(t);
    if (ZP) t = rw<DT>(t + f.zp);
    t = t < f.lo ? f.lo : t;
    t = t > f.hi ? f.hi : t;
    float q = SK == QT_SCHEME_INT ? frint(t) : SK == QT_SCHEME_FP8 ? fp8_round_s(t) : fp4_round_s(t);
    return rw<DT>((ZP ? q - f.zp : q) * f.s);
}

template <int SK, int DT, int ZP, bool MUL>
__device__ __forceinline__ void fstats8m(const float (&x)[8], const fcell &f, stat_acc &a) {
    float e2 = 0.0f, w2 = 0.0f, m = a.mx;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        float e = x[k] - felem<SK, DT, ZP, MUL>(x[k], f);
        e2 = fmaf(e, e, e2);
        w2 = fmaf(x[k], x[k], w2);
        m = fmaxf(m, fabsf(e));
    }
    a.mx = m;
    a.e2 += (double)e2;
    a.w2 += (double)w2;
}

/* Statistics of 8 elements against one cell (the multiplication where it is exact). */
template <int SK, int DT, int ZP>
__device__ __forceinline__ void fstats8(const float (&x)[8], const fcell &f, stat_acc &a) {
    if (SK_RT(SK) && DT == QT_DT_BF16 && f.mul) fstats8m<SK, DT, ZP, true>(x, f, a);
    else fstats8m<SK, DT, ZP, false>(x, f, a);
}

/* A chunk of 8 elements as loaded: BF16 stays packed (4 registers) and is
 * unpacked at each use; float is held as is. */
template <typename T> struct chunk;
template <> struct chunk<uint16_t> {
    uint4 v;
    __device__ __forceinline__ void load(const uint16_t *w, int64_t i) { v = *(const uint4 *)(w + i); }
    __device__ __forceinline__ void unpack(float (&x)[8]) const {
        uint32_t a[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            x[2 * k] = __uint_as_float(a[k] << 16);
            x[2 * k + 1] = __uint_as_float(a[k] & 0xffff0000u);
        }
    }
    __device__ __forceinline__ void zero() { v = make_uint4(0, 0, 0, 0); }
};
template <> struct chunk<float> {
    float4 a, b;
    __device__ __forceinline__ void load(const float *w, int64_t i) {
        a = *(const float4 *)(w + i);
        b = *(const float4 *)(w + i + 4);
    }
    __device__ __forceinline__ void unpack(float (&x)[8]) const {
        x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w;
        x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
    }
    __device__ __forceinline__ void zero() { a = b = make_float4(0, 0, 0, 0); }
};

template <typename T>
__device__ __forceinline__ void chunk_minmax(const chunk<T> &c, float &mn, float &mx) {
    float x[8];
    c.unpack(x);
#pragma unroll
    for (int k = 0; k < 8; k++) { mn = fminf(mn, x[k]); mx = fmaxf(mx, x[k]); }
}

/* GROUP of G chunks of 8 columns (G = 2..32, a power of two; groups tile the
 * flattened tensor), statistics only.  A team of TPG = G / CPT lanes holds
 * one group, CPT chunks each (lane s of the team takes chunks s, s + TPG,
 * ...: a warp's load instruction reads whole 32-byte sectors); the team's
 * min / max by log2(TPG) shuffles; every lane derives the cell's constants. */
template <typename T, int SK, int DT, int ZP, int G, int CPT>
__global__ void __launch_bounds__(256) k_group_fast(const T *w, int64_t ngroups, qc c, double *acc) {
    constexpr int TPG = G / CPT, GPW = 32 / TPG;
    stat_acc a = {0, 0, 0, 0, 0.0f};
    int lane = threadIdx.x & 31, s = lane % TPG;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t g0 = warp * GPW; g0 < ngroups; g0 += nwarps * GPW) {   /* warp-uniform */
        int64_t gi = g0 + lane / TPG;
        bool live = gi < ngroups;
        chunk<T> ch[CPT];
#pragma unroll
        for (int k = 0; k < CPT; k++) {
            if (live) ch[k].load(w, (gi * G + s + TPG * k) * 8);
            else ch[k].zero();
        }
        float mn = INFINITY, mx = -INFINITY;
#pragma unroll
        for (int k = 0; k < CPT; k++) chunk_minmax(ch[k], mn, mx);
#pragma unroll
        for (int off = 1; off < TPG; off <<= 1) {
            mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, off));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        }
        if (!live) continue;
        fcell f = fparams<SK, DT, ZP>(c, mn, mx);
#pragma unroll
        for (int k = 0; k < CPT; k++) {
            float x[8];
            ch[k].unpack(x);
            fstats8<SK, DT, ZP>(x, f, a);
        }
    }
    stat_flush(a, acc);
}

/* CHANNEL (or TENSOR with the tensor's min / max in mm), statistics only: a
 * block of 128 threads per row, the row in registers (CH chunks of 8 per
 * thread, cols <= 128 * 8 * CH); blocks loop over rows, loading the next
 * row (BF16: PF) while the current one is computed.  One barrier per row:
 * the warps' partial min / max alternate between two shared slots. */
template <typename T, int SK, int DT, int ZP, int CH>
__global__ void __launch_bounds__(128) k_row_fast(const T *w, int64_t rows, int64_t cols, qc c,
                                                  const unsigned int *mm, double *acc) {
    constexpr bool PF = sizeof(T) == 2;
    stat_acc a = {0, 0, 0, 0, 0.0f};
    __shared__ float smn[2][4], smx[2][4];
    int64_t nch = cols / 8;
    chunk<T> cur[CH], nxt[CH];
    int64_t r = blockIdx.x;
    if (r >= rows) return;      /* before any barrier: the whole block leaves */
#pragma unroll
    for (int k = 0; k < CH; k++) {
        int64_t chi = threadIdx.x + (int64_t)k * 128;
        if (chi < nch) cur[k].load(w, r * cols + chi * 8);
        else cur[k].zero();
    }
    for (int par = 0; r < rows; par ^= 1) {
        float mn = INFINITY, mx = -INFINITY;
#pragma unroll
        for (int k = 0; k < CH; k++)
            if (threadIdx.x + (int64_t)k * 128 < nch) chunk_minmax(cur[k], mn, mx);
        if (mm) {
            mn = unord(mm[0]);
            mx = unord(mm[1]);
        } else {
            for (int off = 16; off > 0; off >>= 1) {
                mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, off));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            }
            if ((threadIdx.x & 31) == 0) { smn[par][threadIdx.x >> 5] = mn; smx[par][threadIdx.x >> 5] = mx; }
            __syncthreads();
            mn = fminf(fminf(smn[par][0], smn[par][1]), fminf(smn[par][2], smn[par][3]));
            mx = fmaxf(fmaxf(smx[par][0], smx[par][1]), fmaxf(smx[par][2], smx[par][3]));
        }
        int64_t r2 = r + gridDim.x;
        if (PF && r2 < rows) {
#pragma unroll
            for (int k = 0; k < CH; k++) {
                int64_t chi = threadIdx.x + (int64_t)k * 128;
                if (chi < nch) nxt[k].load(w, r2 * cols + chi * 8);
            }
        }
        fcell f = fparams<SK, DT, ZP>(c, mn, mx);
#pragma unroll
        for (int k = 0; k < CH; k++) {
            if (threadIdx.x + (int64_t)k * 128 < nch) {
                float x[8];
                cur[k].unpack(x);
                fstats8<SK, DT, ZP>(x, f, a);
            }
        }
        r = r2;
        if (r >= rows) break;
#pragma unroll
        for (int k = 0; k < CH; k++) {
            if (PF) cur[k] = nxt[k];
            else {
                int64_t chi = threadIdx.x + (int64_t)k * 128;
                if (chi < nch) cur[k].load(w, r * cols + chi * 8);
            }
        }
    }
    stat_flush(a, acc);
}

/* BLOCK of 128 x 128 with whole blocks (rows and cols multiples of 128),
 * statistics only: a block of 256 threads per cell, 8 chunks each (thread t
 * takes chunks t, t + 256, ... of the cell, 16 to a row: whole 256-byte row
 * segments per warp load); blocks loop over cells. */
template <typename T, int SK, int DT>
__global__ void __launch_bounds__(256) k_block_fast(const T *w, int64_t rows, int64_t cols, qc c, double *acc) {
    stat_acc a = {0, 0, 0, 0, 0.0f};
    __shared__ float smn[2][8], smx[2][8];
    int64_t bcols = cols / 128, ncells = (rows / 128) * bcols;
    int par = 0;
    for (int64_t cell = blockIdx.x; cell < ncells; cell += gridDim.x, par ^= 1) {
        int64_t r0 = (cell / bcols) * 128, c0 = (cell % bcols) * 128;
        chunk<T> ch[8];
#pragma unroll
        for (int k = 0; k < 8; k++) {
            int q = threadIdx.x + 256 * k;
            ch[k].load(w, (r0 + (q >> 4)) * cols + c0 + (q & 15) * 8);
        }
        float mn = INFINITY, mx = -INFINITY;
#pragma unroll
        for (int k = 0; k < 8; k++) chunk_minmax(ch[k], mn, mx);
        for (int off = 16; off > 0; off >>= 1) {
            mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, off));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        }
        if ((threadIdx.x & 31) == 0) { smn[par][threadIdx.x >> 5] = mn; smx[par][threadIdx.x >> 5] = mx; }
        __syncthreads();
        mn = smn[par][0];
        mx = smx[par][0];
#pragma unroll
        for (int k = 1; k < 8; k++) { mn = fminf(mn, smn[par][k]); mx = fmaxf(mx, smx[par][k]); }
        fcell f = fparams<SK, DT, 0>(c, mn, mx);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float x[8];
            ch[k].unpack(x);
            fstats8<SK, DT, 0>(x, f, a);
        }
    }
    stat_flush(a, acc);
}

/* Resident blocks of a kernel on the whole GPU, at least 1. */
template <typename K>
static int full_grid(const struct cu_ctx *cx, K kern, int threads, int64_t work_blocks) {
    int per = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, kern, threads, 0) != cudaSuccess || per < 1) {
        cudaGetLastError();
        per = 1;
    }
    int64_t g = (int64_t)per * cx->prop.multiProcessorCount;
    if (g > work_blocks) g = work_blocks;
    return (int)(g < 1 ? 1 : g);
}

template <typename T, int SK, int DT, int ZP, int G>
static void go_group(struct cu_ctx *cx, const T *dw, int64_t ngroups, const qc &q, double *acc) {
    constexpr int CPT = G >= 16 ? 8 : G / 2 > 0 ? G / 2 : 1;
    constexpr int GPB = 256 / 32 * (32 / (G / CPT));   /* groups a block takes per step */
    auto kern = k_group_fast<T, SK, DT, ZP, G, CPT>;
    int grid = full_grid(cx, kern, 256, (ngroups + GPB - 1) / GPB);
    kern<<<grid, 256, 0, cx->st>>>(dw, ngroups, q, acc);
}

template <typename T, int SK, int DT, int ZP, int CH>
static void go_row(struct cu_ctx *cx, const T *dw, const struct qt_qctx *c, const qc &q, const unsigned int *mm,
                   double *acc) {
    auto kern = k_row_fast<T, SK, DT, ZP, CH>;
    int grid = full_grid(cx, kern, 128, c->rows);
    kern<<<grid, 128, 0, cx->st>>>(dw, c->rows, c->cols, q, mm, acc);
}

template <typename T, int SK, int DT, int ZP>
static void go_fast(struct cu_ctx *cx, const T *dw, const struct qt_qctx *c, const qc &q, const unsigned int *mm,
                    double *acc) {
    const struct qt_scheme *s = &c->s;
    if (s->strategy == QT_STRAT_GROUP) {
        int64_t ng = c->rows * c->cols / s->group;
        switch (s->group / 8) {
        case 2: go_group<T, SK, DT, ZP, 2>(cx, dw, ng, q, acc); break;
        case 4: go_group<T, SK, DT, ZP, 4>(cx, dw, ng, q, acc); break;
        case 8: go_group<T, SK, DT, ZP, 8>(cx, dw, ng, q, acc); break;
        case 16: go_group<T, SK, DT, ZP, 16>(cx, dw, ng, q, acc); break;
        default: go_group<T, SK, DT, ZP, 32>(cx, dw, ng, q, acc); break;
        }
        return;
    }
    if (s->strategy == QT_STRAT_BLOCK) {
        if (SK == QT_SCHEME_FP8 && !ZP) {
            auto kern = k_block_fast<T, QT_SCHEME_FP8, DT>;
            int grid = full_grid(cx, kern, 256, (c->rows / 128) * (c->cols / 128));
            kern<<<grid, 256, 0, cx->st>>>(dw, c->rows, c->cols, q, acc);
        }
        return;
    }
    int64_t chunks = (c->cols / 8 + 127) / 128;
    if (chunks <= 2) go_row<T, SK, DT, ZP, 2>(cx, dw, c, q, mm, acc);
    else if (chunks <= 4) go_row<T, SK, DT, ZP, 4>(cx, dw, c, q, mm, acc);
    else if (chunks <= 5) go_row<T, SK, DT, ZP, 5>(cx, dw, c, q, mm, acc);
    else if (chunks <= 8) go_row<T, SK, DT, ZP, 8>(cx, dw, c, q, mm, acc);
    else if (chunks <= 12) go_row<T, SK, DT, ZP, 12>(cx, dw, c, q, mm, acc);
    else go_row<T, SK, DT, ZP, 16>(cx, dw, c, q, mm, acc);
}

template <typename T, int DT>
static void go_fast_dt(struct cu_ctx *cx, const T *dw, const struct qt_qctx *c, const qc &q, const unsigned int *mm,
                       double *acc) {
    switch (c->s.kind) {
    case QT_SCHEME_INT:
        if (c->s.sym) go_fast<T, QT_SCHEME_INT, DT, 0>(cx, dw, c, q, mm, acc);
        else go_fast<T, QT_SCHEME_INT, DT, 1>(cx, dw, c, q, mm, acc);
        break;
    case QT_SCHEME_FP8: go_fast<T, QT_SCHEME_FP8, DT, 0>(cx, dw, c, q, mm, acc); break;
    case QT_SCHEME_NVFP4: go_fast<T, QT_SCHEME_NVFP4, DT, 0>(cx, dw, c, q, mm, acc); break;
    default: go_fast<T, QT_SCHEME_MXFP4, DT, 0>(cx, dw, c, q, mm, acc); break;
    }
}

static int cols_not_whole(const struct qt_qctx *c) { return c->cols % c->s.group != 0; }

/* QTUNE_CUDA_GENERIC_PREVIEW=1: the generic kernels for statistics too (the
 * fast path's reference in the same run: tests and bench). */
static int generic_only(void) {
    static int v = -1;
    if (v < 0) v = getenv("QTUNE_CUDA_GENERIC_PREVIEW") && atoi(getenv("QTUNE_CUDA_GENERIC_PREVIEW")) > 0;
    return v;
}

/* The fast path when it applies (statistics only, no importance, BF16 or
 * F32 work dtype, whole groups of 16..256, rows of <= 16384 columns, whole
 * 128 x 128 fp8 blocks, whole chunks of 8): returns 1 when launched. */
template <typename T>
static int try_fast(struct cu_ctx *cx, const T *dw, const struct qt_qctx *c, const outs &o, const unsigned int *mm) {
    const struct qt_scheme *s = &c->s;
    if (!o.acc || o.d || o.deq || o.codes || o.scale || o.zero || o.scode || generic_only()) return 0;
    if (c->wdtype != QT_DT_BF16 && c->wdtype != QT_DT_F32) return 0;
    if (c->cols % 8) return 0;
    if (s->kind != QT_SCHEME_INT && s->kind != QT_SCHEME_FP8 && s->kind != QT_SCHEME_NVFP4 &&
        s->kind != QT_SCHEME_MXFP4)
        return 0;
    int G = s->group / 8;
    if (s->strategy == QT_STRAT_GROUP) {
        if (s->group % 8 || cols_not_whole(c) || G < 2 || G > 32 || (G & (G - 1))) return 0;
    } else if (s->strategy == QT_STRAT_CHANNEL || s->strategy == QT_STRAT_TENSOR) {
        if (c->cols > 128 * 8 * 16) return 0;
        if (s->strategy == QT_STRAT_TENSOR && !mm) return 0;
    } else if (s->strategy == QT_STRAT_BLOCK) {
        if (s->kind != QT_SCHEME_FP8 || s->group != 128 || c->rows % 128 || c->cols % 128) return 0;
    } else {
        return 0;
    }
    qc q = {(int)s->kind, s->bits, s->sym, (int)c->wdtype, c->gs};
    if (c->wdtype == QT_DT_BF16) go_fast_dt<T, QT_DT_BF16>(cx, dw, c, q, mm, o.acc);
    else go_fast_dt<T, QT_DT_F32>(cx, dw, c, q, mm, o.acc);
    return 1;
}

/* ---- host driver --------------------------------------------------------- */

static struct cu_buf b_w, b_d, b_deq, b_codes, b_scale, b_zero, b_scode, b_params, b_acc;


/* The kernels on device data dw (rows, cols).  Host-side tensor state in c;
 * device outputs in o (o.acc zeroed by the caller). */
template <typename T>
static int launch(struct cu_ctx *cx, const T *dw, const struct qt_qctx *c, outs o, qt_err *err) {
    const struct qt_scheme *s = &c->s;
    int64_t rows = c->rows, cols = c->cols, n = rows * cols;
    qc q = {(int)s->kind, s->bits, s->sym, (int)c->wdtype, c->gs};
    if (s->strategy != QT_STRAT_TENSOR && try_fast(cx, dw, c, o, NULL)) {
        CU_TRY(cudaGetLastError(), "preview kernel");
        return QT_OK;
    }
    int G = s->strategy == QT_STRAT_GROUP ? s->group / 8 : 0;
    /* the one-pass kernel tiles the flattened tensor with whole groups */
    if (s->strategy == QT_STRAT_GROUP && s->group % 8 == 0 && cols % s->group == 0 && G >= 2 && G <= 32 &&
        (G & (G - 1)) == 0) {
        int64_t n8 = n / 8;
        int grid = grid_for(cx, n8);
        switch (G) {
        case 2: k_group<T, 2><<<grid, 256, 0, cx->st>>>(dw, n8, cols, q, o); break;
        case 4: k_group<T, 4><<<grid, 256, 0, cx->st>>>(dw, n8, cols, q, o); break;
        case 8: k_group<T, 8><<<grid, 256, 0, cx->st>>>(dw, n8, cols, q, o); break;
        case 16: k_group<T, 16><<<grid, 256, 0, cx->st>>>(dw, n8, cols, q, o); break;
        default: k_group<T, 32><<<grid, 256, 0, cx->st>>>(dw, n8, cols, q, o); break;
        }
        CU_TRY(cudaGetLastError(), "quantize kernel");
        return QT_OK;
    }
    geo g = {(int)s->strategy, rows, cols, s->group, 1};
    int64_t ncells;
    switch (s->strategy) {
    case QT_STRAT_TENSOR: ncells = 1; break;
    case QT_STRAT_CHANNEL: ncells = rows; break;
    case QT_STRAT_GROUP: g.scols = (cols + s->group - 1) / s->group; ncells = rows * g.scols; break;
    default:
        g.scols = (cols + s->group - 1) / s->group;
        ncells = ((rows + s->group - 1) / s->group) * g.scols;
        break;
    }
    if (cu_buf_need(&b_params, (size_t)ncells * sizeof(kp), "quantize: cell parameters", err)) return QT_ERR;
    kp *params = (kp *)b_params.p;
    const unsigned int *mm = NULL;
    if (s->strategy == QT_STRAT_TENSOR) {
        /* the tensor's min / max, as the host observed them */
        unsigned int h[2] = {0, 0};
        float a = c->gmin, b = c->gmax;
        uint32_t ua, ub;
        memcpy(&ua, &a, 4);
        memcpy(&ub, &b, 4);
        h[0] = (ua & 0x80000000u) ? ~ua : ua | 0x80000000u;
        h[1] = (ub & 0x80000000u) ? ~ub : ub | 0x80000000u;
        unsigned int *dm = (unsigned int *)((char *)b_acc.p + 64);
        CU_TRY(cudaMemcpyAsync(dm, h, sizeof h, cudaMemcpyHostToDevice, cx->st), "quantize: upload");
        mm = dm;
        if (try_fast(cx, dw, c, o, mm)) {
            CU_TRY(cudaGetLastError(), "preview kernel");
            return QT_OK;
        }
    }
    int threads = s->strategy == QT_STRAT_GROUP ? 32 : 256;
    outs oc = o;
    oc.acc = NULL;
    k_cells<T><<<(unsigned)ncells, threads, 0, cx->st>>>(dw, g, q, mm, params, oc);
    CU_TRY(cudaGetLastError(), "quantize: cell kernel");
    int64_t work = rows * ((cols + 7) / 8);
    k_apply<T><<<grid_for(cx, work), 256, 0, cx->st>>>(dw, g, params, o);
    CU_TRY(cudaGetLastError(), "quantize: element kernel");
    return QT_OK;
}

/* Tensor min / max of device data into c (TENSOR and NVFP4), then the
 * global scale as the host computes it. */
template <typename T>
static int observe(struct cu_ctx *cx, const T *dw, struct qt_qctx *c, qt_err *err) {
    unsigned int *mm = (unsigned int *)((char *)b_acc.p + 64), h[2] = {0xffffffffu, 0u};
    CU_TRY(cudaMemcpyAsync(mm, h, sizeof h, cudaMemcpyHostToDevice, cx->st), "quantize: upload");
    int64_t n = c->rows * c->cols;
    k_minmax<T><<<grid_for(cx, n), 256, 0, cx->st>>>(dw, n, mm);
    CU_TRY(cudaGetLastError(), "quantize: min/max kernel");
    CU_TRY(cudaMemcpyAsync(h, mm, sizeof h, cudaMemcpyDeviceToHost, cx->st), "quantize: download");
    CU_TRY(cudaStreamSynchronize(cx->st), "quantize: min/max");
    c->gmin = unord(h[0]);
    c->gmax = unord(h[1]);
    qt_qctx_finish_observe(c);
    return QT_OK;
}

static int zero_acc(struct cu_ctx *cx, qt_err *err) {
    CU_TRY(cudaMemsetAsync(b_acc.p, 0, 5 * sizeof(double), cx->st), "quantize: clear");
    return QT_OK;
}

static void read_acc(const double *h, struct qt_qstats *st, int64_t n) {
    memset(st, 0, sizeof *st);
    st->err2 = h[0];
    st->w2 = h[1];
    st->derr2 = h[2];
    st->dw2 = h[3];
    float m;
    memcpy(&m, &h[4], 4);
    st->max_abs = m;
    st->n = n;
}

static int quant_locked(struct cu_ctx *cx, const void *w, int w_bf16, int64_t rows, int64_t cols,
                        const struct qt_scheme *s, enum qt_dtype wdtype, float global_amax, const float *d,
                        struct qt_qstats *st, float *deq, struct qt_qtensor *qt, qt_err *err) {
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, wdtype, rows, cols, d, err) != QT_OK) return QT_ERR;
    c.global_amax = global_amax;
    int64_t n = rows * cols;
    size_t wbytes = (size_t)n * (w_bf16 ? 2 : 4);
    if (cu_buf_need(&b_w, wbytes, "quantize: weight", err) ||
        cu_buf_need(&b_acc, 128, "quantize: statistics", err))
        return QT_ERR;
    CU_TRY(cudaMemcpyAsync(b_w.p, w, wbytes, cudaMemcpyHostToDevice, cx->st), "quantize: upload weight");
    outs o;
    memset(&o, 0, sizeof o);
    if (st) o.acc = (double *)b_acc.p;
    if (d) {
        if (cu_buf_need(&b_d, (size_t)cols * 4, "quantize: importance", err)) return QT_ERR;
        CU_TRY(cudaMemcpyAsync(b_d.p, d, (size_t)cols * 4, cudaMemcpyHostToDevice, cx->st), "quantize: upload");
        o.d = (const float *)b_d.p;
    }
    if (deq) {
        if (cu_buf_need(&b_deq, (size_t)n * 4, "quantize: dequantized weight", err)) return QT_ERR;
        o.deq = (float *)b_deq.p;
    }
    int64_t ns = qt ? qt->srows * qt->scols : 0;
    if (qt) {
        if (cu_buf_need(&b_codes, (size_t)n, "quantize: codes", err) ||
            cu_buf_need(&b_scale, (size_t)ns * 4, "quantize: scales", err))
            return QT_ERR;
        o.codes = (int8_t *)b_codes.p;
        o.scale = (float *)b_scale.p;
        if (qt->zero) {
            if (cu_buf_need(&b_zero, (size_t)ns, "quantize: zero points", err)) return QT_ERR;
            o.zero = (int8_t *)b_zero.p;
        }
        if (qt->scale_code) {
            if (cu_buf_need(&b_scode, (size_t)ns, "quantize: scale codes", err)) return QT_ERR;
            o.scode = (uint8_t *)b_scode.p;
        }
    }
    if (zero_acc(cx, err)) return QT_ERR;
    int rc;
    if (w_bf16) {
        const uint16_t *dw = (const uint16_t *)b_w.p;
        rc = c.needs_global ? observe(cx, dw, &c, err) : QT_OK;
        if (rc == QT_OK) rc = launch(cx, dw, &c, o, err);
    } else {
        const float *dw = (const float *)b_w.p;
        rc = c.needs_global ? observe(cx, dw, &c, err) : QT_OK;
        if (rc == QT_OK) rc = launch(cx, dw, &c, o, err);
    }
    if (rc != QT_OK) return QT_ERR;
    double h[5];
    if (st) CU_TRY(cudaMemcpyAsync(h, b_acc.p, sizeof h, cudaMemcpyDeviceToHost, cx->st), "quantize: download");
    if (deq) CU_TRY(cudaMemcpyAsync(deq, o.deq, (size_t)n * 4, cudaMemcpyDeviceToHost, cx->st), "quantize: download");
    if (qt) {
        CU_TRY(cudaMemcpyAsync(qt->q, o.codes, (size_t)n, cudaMemcpyDeviceToHost, cx->st), "quantize: download");
        CU_TRY(cudaMemcpyAsync(qt->scale, o.scale, (size_t)ns * 4, cudaMemcpyDeviceToHost, cx->st),
               "quantize: download");
        if (o.zero)
            CU_TRY(cudaMemcpyAsync(qt->zero, o.zero, (size_t)ns, cudaMemcpyDeviceToHost, cx->st), "quantize: download");
        if (o.scode)
            CU_TRY(cudaMemcpyAsync(qt->scale_code, o.scode, (size_t)ns, cudaMemcpyDeviceToHost, cx->st),
                   "quantize: download");
    }
    CU_TRY(cudaStreamSynchronize(cx->st), "quantize");
    if (st) read_acc(h, st, n);
    if (qt) qt->global_scale = s->kind == QT_SCHEME_NVFP4 ? c.gs : 0.0f;
    return QT_OK;
}

extern "C" int qt_cuda_quant(const void *w, int w_bf16, int64_t rows, int64_t cols, const struct qt_scheme *s,
                             enum qt_dtype wdtype, float global_amax, const float *d, struct qt_qstats *st,
                             float *deq, struct qt_qtensor *qt, qt_err *err) {
    if (s->kind == QT_SCHEME_BF16) return qt_err_set(err, "quantize: bf16 keeps the tensor");
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? quant_locked(cx, w, w_bf16, rows, cols, s, wdtype, global_amax, d, st, deq, qt, err) : QT_ERR;
    cu_unlock();
    return rc;
}

/* ---- benchmark ----------------------------------------------------------- */

/* Weight-like BF16 values: a sum of four uniforms (about gaussian), sigma
 * about 0.02, from a per-element hash. */
__global__ void k_fill(uint16_t *w, int64_t n, uint64_t seed) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull + seed;
        float g = 0;
        for (int k = 0; k < 4; k++) {
            z ^= z >> 30; z *= 0xBF58476D1CE4E5B9ull; z ^= z >> 27; z *= 0x94D049BB133111EBull; z ^= z >> 31;
            g += (float)(z >> 40) * (1.0f / 16777216.0f);
        }
        float v = (g - 2.0f) * 0.0346f;
        uint32_t u = __float_as_uint(v);
        u = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        w[i] = (uint16_t)u;
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_locked(struct cu_ctx *cx, int64_t rows, int64_t cols, const struct qt_scheme *s, int reps,
                        double *t_preview, double *t_copy, double *rel, qt_err *err) {
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, QT_DT_BF16, rows, cols, NULL, err) != QT_OK) return QT_ERR;
    int64_t n = rows * cols;
    void *src = NULL, *dst = NULL;
    if (cu_alloc(&src, (size_t)n * 2, "bench: source", err)) return QT_ERR;
    if (cu_alloc(&dst, (size_t)n * 2, "bench: copy", err)) { cudaFree(src); return QT_ERR; }
    int rc = cu_buf_need(&b_acc, 128, "bench: statistics", err);
    double *tp = (double *)calloc((size_t)reps, sizeof(double)), *tc = (double *)calloc((size_t)reps, sizeof(double));
    cudaEvent_t e0, e1, e2;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaEventCreate(&e2);
    if (!tp || !tc) rc = qt_err_set(err, "bench: out of memory");
    if (rc == QT_OK) {
        k_fill<<<cx->prop.multiProcessorCount * 8, 256, 0, cx->st>>>((uint16_t *)src, n, 1234567u);
        if (cudaGetLastError() != cudaSuccess) rc = qt_err_set(err, "CUDA: bench fill failed");
    }
    outs o;
    memset(&o, 0, sizeof o);
    o.acc = (double *)b_acc.p;
    for (int r = -2; r < reps && rc == QT_OK; r++) {     /* two warm-up runs */
        cudaEventRecord(e0, cx->st);
        cudaMemcpyAsync(dst, src, (size_t)n * 2, cudaMemcpyDeviceToDevice, cx->st);
        cudaEventRecord(e1, cx->st);
        rc = zero_acc(cx, err);
        if (rc == QT_OK && c.needs_global) rc = observe(cx, (const uint16_t *)src, &c, err);
        if (rc == QT_OK) {
            /* the clear above is outside the timed region's start: record again */
            cudaEventRecord(e1, cx->st);
            rc = launch(cx, (const uint16_t *)src, &c, o, err);
        }
        cudaEventRecord(e2, cx->st);
        if (cudaEventSynchronize(e2) != cudaSuccess) rc = qt_err_set(err, "CUDA: bench run failed");
        float a = 0, b = 0;
        cudaEventElapsedTime(&a, e0, e1);
        cudaEventElapsedTime(&b, e1, e2);
        if (r >= 0) {
            tc[r] = a * 1e-3;
            tp[r] = b * 1e-3;
        }
    }
    /* the copy alone, timed apart from the preview (the event after the
     * memcpy above also covers the clear) */
    for (int r = 0; r < reps && rc == QT_OK; r++) {
        cudaEventRecord(e0, cx->st);
        cudaMemcpyAsync(dst, src, (size_t)n * 2, cudaMemcpyDeviceToDevice, cx->st);
        cudaEventRecord(e1, cx->st);
        cudaEventSynchronize(e1);
        float a = 0;
        cudaEventElapsedTime(&a, e0, e1);
        tc[r] = a * 1e-3;
    }
    if (rc == QT_OK) {
        double h[5];
        cudaMemcpy(h, b_acc.p, sizeof h, cudaMemcpyDeviceToHost);
        struct qt_qstats st;
        read_acc(h, &st, n);
        *rel = qt_qstats_rel_rmse(&st);
        qsort(tp, (size_t)reps, sizeof(double), cmp_d);
        qsort(tc, (size_t)reps, sizeof(double), cmp_d);
        *t_preview = tp[reps / 2];
        *t_copy = tc[reps / 2];
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaEventDestroy(e2);
    free(tp);
    free(tc);
    cudaFree(src);
    cudaFree(dst);
    return rc;
}

extern "C" int qt_cuda_bench_preview(int64_t rows, int64_t cols, const struct qt_scheme *s, int reps,
                                     double *t_preview, double *t_copy, double *rel, qt_err *err) {
    if (reps < 1) reps = 1;
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? bench_locked(cx, rows, cols, s, reps, t_preview, t_copy, rel, err) : QT_ERR;
    cu_unlock();
    return rc;
}

/* ---- device-level entry (GPTQ's scale grid) ------------------------------ */

int cu_quant_f32_dev(struct cu_ctx *cx, const float *dw, struct qt_qctx *c, float *deq, int8_t *codes, float *scale,
                     int8_t *zero, uint8_t *scode, qt_err *err) {
    if (cu_buf_need(&b_acc, 128, "quantize: statistics", err)) return QT_ERR;
    if (c->needs_global && observe(cx, dw, c, err)) return QT_ERR;
    outs o;
    memset(&o, 0, sizeof o);
    o.deq = deq;
    o.codes = codes;
    o.scale = scale;
    o.zero = zero;
    o.scode = scode;
    return launch(cx, dw, c, o, err);
}
