/* qarith.cuh — quant.c's per-cell and per-element arithmetic in device
 * code (quant.h states it), shared by the quantization kernels and the
 * forward's activation fake-quant.  Translation units that include it are
 * built with -fmad=false: no product may be fused into a sum that the CPU
 * rounds separately. */
#ifndef QT_BACKEND_CUDA_QARITH_CUH
#define QT_BACKEND_CUDA_QARITH_CUH
#include <float.h>
#include <stdint.h>

#include "backend/cuda/common.cuh"

enum { EK_INT, EK_FP8, EK_FP4 };

/* What a cell's parameters depend on besides its min and max. */
struct qc {
    int kind;                   /* enum qt_scheme_kind */
    int bits, sym, dt;          /* dt: enum qt_dtype of the work dtype */
    float gs;                   /* nvfp4 global scale */
};

struct kp {
    int kind, round_t, dt;
    float s, zp, lo, hi, stored;
    int zpi, code;
};

static __device__ __forceinline__ float d_rnd_bf16(float x) {
    uint32_t u = __float_as_uint(x);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    return __uint_as_float(u);
}

static __device__ float d_f16_to_f32(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16, ex = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (ex == 0) {
        if (man == 0) u = sign;
        else u = __float_as_uint((float)man * 5.9604644775390625e-08f) | sign;
    } else if (ex == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((ex + 112) << 23) | (man << 13);
    }
    return __uint_as_float(u);
}

static __device__ uint32_t d_f32_to_f16(float f) {
    uint32_t u = __float_as_uint(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    float a = fabsf(f);
    if (isnan(f)) return sign | 0x7e00u;
    if (a >= 65520.0f) return sign | 0x7c00u;
    if (a < 6.103515625e-05f) return sign | (uint32_t)rintf(a * 16777216.0f);
    uint32_t au = __float_as_uint(a);
    uint32_t ex = (au >> 23) - 112, man = au & 0x7fffff;
    uint32_t r = (ex << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return sign | r;
}

static __device__ __forceinline__ float d_rnd_w(int dt, float x) {
    if (dt == QT_DT_BF16) return d_rnd_bf16(x);
    if (dt == QT_DT_F16) return d_f16_to_f32(d_f32_to_f16(x));
    return x;
}

static __device__ float d_eps_w(int dt) {
    if (dt == QT_DT_BF16) return 0.0078125f;
    if (dt == QT_DT_F16) return 0.0009765625f;
    return FLT_EPSILON;
}

static __device__ __forceinline__ float d_fp8_round(float t) {
    float a = fabsf(t), r;
    if (a < 0.015625f) {
        r = rintf(a * 512.0f) * (1.0f / 512.0f);
    } else {
        uint32_t u = __float_as_uint(a);
        r = __uint_as_float((u + 0x7ffffu + ((u >> 20) & 1u)) & 0xfff00000u);
    }
    return copysignf(r, t);
}

static __device__ __forceinline__ float d_fp4_round(float t) {
    float a = fabsf(t), r;
    if (a < 2.0f) r = rintf(a * 2.0f) * 0.5f;
    else if (a < 4.0f) r = rintf(a);
    else r = rintf(a * 0.5f) * 2.0f;
    return copysignf(r, t);
}

static __device__ __forceinline__ int d_fp4_code(float q) {
    float a = fabsf(q);
    /* e2m1 magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6 */
    int i = a < 2.0f ? (int)(a * 2.0f) : a < 4.0f ? 2 + (int)a : a < 6.0f ? 6 : 7;
    return (signbit(q) ? 8 : 0) | i;
}

static __device__ float d_fp8e4m3_to_f32(uint32_t b) {
    int s = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
    float v;
    if (e == 0xf && m == 7) return __int_as_float(0x7fc00000);
    if (e == 0) v = ldexpf((float)m, -9);
    else v = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

static __device__ uint32_t d_f32_to_fp8e4m3(float f) {
    if (isnan(f)) return 0x7f;
    uint32_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a >= 448.0f) return sign | 0x7e;
    if (a < 0.015625f) return sign | (uint32_t)rintf(a * 512.0f);
    int e;
    float fr = frexpf(a, &e);
    int ex = e - 1;
    float mant = (2.0f * fr - 1.0f) * 8.0f;
    float mq = rintf(mant);
    if (mq >= 8.0f) { mq = 0; ex++; }
    int be = ex + 7;
    if (be > 15 || (be == 15 && mq > 6)) return sign | 0x7e;
    return sign | (uint32_t)(be << 3) | (uint32_t)mq;
}

static __device__ float d_mx_pow2(int dt, float amax) {
    if (dt == QT_DT_BF16) {
        uint32_t u = __float_as_uint(amax) >> 16;
        u = ((u + (1u << 5)) & 0xff80u) & 0xffffu;
        return __uint_as_float(u << 16);
    }
    if (dt == QT_DT_F16) {
        uint32_t u = d_f32_to_f16(amax);
        u = ((u + (1u << 8)) & 0xfc00u) & 0xffffu;
        return d_f16_to_f32(u);
    }
    uint32_t u = __float_as_uint(amax);
    return __uint_as_float((u + (1u << 21)) & 0xff800000u);
}

/* quant.c's cell_params. */
static __device__ __forceinline__ void d_cell_params(const qc &c, float mn, float mx, kp *p) {
    int dt = c.dt;
    p->dt = dt;
    p->round_t = 1;
    p->zp = 0.0f;
    p->zpi = 0;
    p->code = 0;
    mn = mn < 0.0f ? mn : 0.0f;
    mx = mx > 0.0f ? mx : 0.0f;
    float amax = -mn > mx ? -mn : mx;
    switch (c.kind) {
    case QT_SCHEME_INT: {
        int qmin = -(1 << (c.bits - 1)), qmax = (1 << (c.bits - 1)) - 1;
        p->kind = EK_INT;
        p->lo = (float)qmin;
        p->hi = (float)qmax;
        float s;
        if (c.sym) {
            s = d_rnd_w(dt, amax / ((float)(qmax - qmin) / 2.0f));
        } else {
            s = d_rnd_w(dt, d_rnd_w(dt, mx - mn) / (float)(qmax - qmin));
            /* 0/0 (an all-zero cell) is NaN, which torch's int8 cast makes 0.
             * Tested on the quotient itself: the GPU's NaN is 0x7fffffff,
             * which the BF16 rounding's carry turns into -0 (the CPU's
             * 0xffc00000 stays NaN), and the clamps below may become
             * fminf / fmaxf, which pick a bound instead of keeping NaN. */
            float r = mn / s;
            float z = isnan(r) ? r : d_rnd_w(dt, (float)qmin - d_rnd_w(dt, r));
            if (isnan(z)) {
                p->zpi = 0;
            } else {
                if (z < (float)qmin) z = (float)qmin;
                if (z > (float)qmax) z = (float)qmax;
                p->zpi = (int)rintf(z);
            }
            p->zp = (float)p->zpi;
        }
        if (s == 0.0f) s = d_eps_w(dt);
        p->s = p->stored = s;
        break;
    }
    case QT_SCHEME_FP8: {
        p->kind = EK_FP8;
        p->lo = -448.0f;
        p->hi = 448.0f;
        float s = d_rnd_w(dt, amax / 448.0f);
        if (s == 0.0f) s = d_eps_w(dt);
        p->s = p->stored = s;
        break;
    }
    case QT_SCHEME_NVFP4: {
        p->kind = EK_FP4;
        p->round_t = 0;
        p->lo = -6.0f;
        p->hi = 6.0f;
        float s1 = c.gs * d_rnd_w(dt, amax / 6.0f);
        if (s1 > 448.0f) s1 = 448.0f;
        uint32_t code = d_f32_to_fp8e4m3(s1);
        float sc = d_fp8e4m3_to_f32(code);
        if (sc == 0.0f) { sc = 0.125f; code = d_f32_to_fp8e4m3(sc); }
        p->code = (int)code;
        p->stored = sc;
        p->s = sc / c.gs;
        break;
    }
    default: {  /* MXFP4 */
        p->kind = EK_FP4;
        p->lo = -6.0f;
        p->hi = 6.0f;
        float p2 = d_mx_pow2(dt, amax);
        int code;
        if (p2 == 0.0f) code = 0;
        else if (isinf(p2)) code = 255;
        else {
            int e;
            frexpf(p2, &e);
            code = 127 + (e - 1) - 2;
            code = code < 0 ? 0 : code > 255 ? 255 : code;
        }
        p->code = code;
        p->s = p->stored = d_rnd_w(dt, ldexpf(1.0f, code - 127));
        break;
    }
    }
}

/* quant.c's elem_deq: w' of x, the code's value in *q. */
static __device__ __forceinline__ float d_elem(const kp &p, float x, float *q_out) {
    float t = __fdiv_rn(x, p.s);
    if (p.round_t) t = d_rnd_w(p.dt, t);
    if (p.zp != 0.0f) t = d_rnd_w(p.dt, t + p.zp);
    t = t < p.lo ? p.lo : t;
    t = t > p.hi ? p.hi : t;
    float q = p.kind == EK_INT ? rintf(t) : p.kind == EK_FP8 ? d_fp8_round(t) : d_fp4_round(t);
    *q_out = q;
    return d_rnd_w(p.dt, (q - p.zp) * p.s);
}

static __device__ __forceinline__ int8_t d_code(const kp &p, float q) {
    if (p.kind == EK_INT) return (int8_t)(int)q;
    if (p.kind == EK_FP8) return (int8_t)d_f32_to_fp8e4m3(q);
    return (int8_t)d_fp4_code(q);
}

#endif
