/* quant.c — round-to-nearest quantization, bit for bit as compressed-tensors
 * 0.20 computes it on a BF16 weight (see quant.h for the arithmetic), and the
 * fused error statistics behind the preview.
 *
 * One element kernel exists three times: portable C, AVX2/FMA and AVX-512
 * (the widest the CPU has, chosen at run time; QTUNE_SIMD or
 * qt_quant_set_isa force one).  All compute every element the same way and
 * accumulate in the same order (struct lanes), so they give the same codes,
 * scales and figures to the last bit. */
#include "quant/quant.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QT_HAVE_X86 1
#endif

/* ---- scalar helpers ---------------------------------------------------- */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* float32 -> bf16 -> float32, round to nearest even (finite inputs). */
static inline float rnd_bf16(float x) {
    uint32_t u = f2u(x);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    return u2f(u);
}

/* Rounds a float32 result to the work dtype, as torch does after each op. */
static inline float rnd_w(enum qt_dtype dt, float x) {
    if (dt == QT_DT_BF16) return rnd_bf16(x);
    if (dt == QT_DT_F16) return qt_f16_to_f32(qt_f32_to_f16(x));
    return x;
}

/* torch.finfo(dtype).eps: the value a zero scale is replaced with. */
static float eps_w(enum qt_dtype dt) {
    if (dt == QT_DT_BF16) return 0.0078125f;
    if (dt == QT_DT_F16) return 0.0009765625f;
    return FLT_EPSILON;
}

/* Nearest e4m3 value of t, |t| <= 448, ties to even. */
static inline float fp8_round(float t) {
    float a = fabsf(t), r;
    if (a < 0.015625f) {
        r = nearbyintf(a * 512.0f) * (1.0f / 512.0f);   /* subnormal quantum 2^-9 */
    } else {
        uint32_t u = f2u(a);
        r = u2f((u + 0x7ffffu + ((u >> 20) & 1u)) & 0xfff00000u);
    }
    return copysignf(r, t);
}

/* Nearest e2m1 value of t, |t| <= 6, ties to even (compressed-tensors'
 * cast_to_fp4 thresholds). */
static inline float fp4_round(float t) {
    float a = fabsf(t), r;
    if (a < 2.0f) r = nearbyintf(a * 2.0f) * 0.5f;
    else if (a < 4.0f) r = nearbyintf(a);
    else r = nearbyintf(a * 0.5f) * 2.0f;
    return copysignf(r, t);
}

static const float fp4_values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

static int8_t fp4_code(float q) {
    float a = fabsf(q);
    int i = 0;
    while (i < 7 && fp4_values[i] != a) i++;
    return (int8_t)((signbit(q) ? 8 : 0) | i);
}

/* ---- per-cell parameters ----------------------------------------------- */

enum ek { EK_INT, EK_FP8, EK_FP4 };

/* What the element kernel needs for one scale cell. */
struct kparams {
    enum ek kind;
    int round_t;            /* t = rnd(w / s), rnd(t + zp): the bf16 arithmetic (never nvfp4) */
    int rnd_bf16;           /* work dtype: 1 bf16, 0 f32 (f16 runs scalar with dt) */
    enum qt_dtype dt;
    float s;                /* effective scale: w / s, q * s */
    float zp;               /* 0 unless asym int */
    float lo, hi;           /* clamp range */
    /* as stored, for qt_quant_tensor */
    float stored;
    int8_t zpi;
    uint8_t code;
};

static void int_range(int bits, int *qmin, int *qmax) {
    *qmin = -(1 << (bits - 1));
    *qmax = (1 << (bits - 1)) - 1;
}

/* Power of two compressed-tensors' round_to_power_2 gives amax (in the bit
 * layout of dt): add half of the element mantissa's last step and keep sign +
 * exponent. */
static float mx_pow2(enum qt_dtype dt, float amax) {
    if (dt == QT_DT_BF16) {
        uint32_t u = f2u(amax) >> 16;
        u = ((u + (1u << 5)) & 0xff80u) & 0xffffu;
        return u2f(u << 16);
    }
    if (dt == QT_DT_F16) {
        uint32_t u = qt_f32_to_f16(amax);
        u = ((u + (1u << 8)) & 0xfc00u) & 0xffffu;
        return qt_f16_to_f32((uint16_t)u);
    }
    uint32_t u = f2u(amax);
    return u2f((u + (1u << 21)) & 0xff800000u);
}

/* Fills p from a cell's observed min and max (values of dt). */
static void cell_params(const struct qt_qctx *c, float mn, float mx, struct kparams *p) {
    enum qt_dtype dt = c->wdtype;
    memset(p, 0, sizeof *p);
    p->dt = dt;
    p->rnd_bf16 = dt == QT_DT_BF16;
    p->round_t = c->arith == QT_ARITH_BF16;
    mn = mn < 0.0f ? mn : 0.0f;
    mx = mx > 0.0f ? mx : 0.0f;
    float amax = -mn > mx ? -mn : mx;
    switch (c->s.kind) {
    case QT_SCHEME_INT: {
        int qmin, qmax;
        int_range(c->s.bits, &qmin, &qmax);
        p->kind = EK_INT;
        p->lo = (float)qmin;
        p->hi = (float)qmax;
        float s;
        if (c->s.sym) {
            s = rnd_w(dt, amax / ((float)(qmax - qmin) / 2.0f));
        } else {
            s = rnd_w(dt, rnd_w(dt, mx - mn) / (float)(qmax - qmin));
            /* zp before the zero-scale fix, as calculate_qparams orders it;
             * 0/0 gives NaN, which torch's int8 cast turns into 0. */
            float z = rnd_w(dt, (float)qmin - rnd_w(dt, mn / s));
            if (z < (float)qmin) z = (float)qmin;
            if (z > (float)qmax) z = (float)qmax;
            p->zpi = isnan(z) ? 0 : (int8_t)nearbyintf(z);
            p->zp = (float)p->zpi;
        }
        if (s == 0.0f) s = eps_w(dt);
        p->s = p->stored = s;
        break;
    }
    case QT_SCHEME_FP8: {
        p->kind = EK_FP8;
        p->lo = -448.0f;
        p->hi = 448.0f;
        float s = rnd_w(dt, amax / 448.0f);
        if (s == 0.0f) s = eps_w(dt);
        p->s = p->stored = s;
        break;
    }
    case QT_SCHEME_NVFP4: {
        p->kind = EK_FP4;
        p->round_t = 0;
        p->lo = -6.0f;
        p->hi = 6.0f;
        float s1 = c->gs * rnd_w(dt, amax / 6.0f);
        if (s1 > 448.0f) s1 = 448.0f;
        uint8_t code = qt_f32_to_fp8e4m3(s1);
        float sc = qt_fp8e4m3_to_f32(code);
        if (sc == 0.0f) { sc = 0.125f; code = qt_f32_to_fp8e4m3(sc); }
        p->code = code;
        p->stored = sc;
        p->s = sc / c->gs;
        break;
    }
    case QT_SCHEME_MXFP4: {
        p->kind = EK_FP4;
        p->lo = -6.0f;
        p->hi = 6.0f;
        float p2 = mx_pow2(dt, amax);
        int code;
        if (p2 == 0.0f) code = 0;
        else if (isinf(p2)) code = 255;
        else {
            int e;
            frexpf(p2, &e);                     /* p2 = 0.5 * 2^e */
            code = 127 + (e - 1) - 2;
            code = code < 0 ? 0 : code > 255 ? 255 : code;
        }
        p->code = (uint8_t)code;
        p->s = p->stored = rnd_w(dt, ldexpf(1.0f, code - 127));
        break;
    }
    default:
        break;
    }
}

/* ---- element kernels --------------------------------------------------- */

/* Accumulator of one row: the element in column c goes to float lane c % 16
 * (two AVX2 registers, so that two FMA chains overlap); float lanes are
 * spilled into double lanes after every 128 columns, and the double lanes are
 * summed in order at the end of the row.  Both kernels follow this order, so
 * they give the same sums. */
#define NLANES 16
struct lanes {
    float e2[NLANES], w2[NLANES], mx[NLANES];
    double de[NLANES], dw[NLANES];
};

static inline void lanes_spill(struct lanes *l) {
    for (int k = 0; k < NLANES; k++) {
        l->de[k] += (double)l->e2[k];
        l->dw[k] += (double)l->w2[k];
        l->e2[k] = l->w2[k] = 0.0f;
    }
}

static inline void lanes_done(struct lanes *l, struct qt_qstats *st) {
    lanes_spill(l);
    double e = 0, w = 0;
    for (int k = 0; k < NLANES; k++) {
        e += l->de[k];
        w += l->dw[k];
        if (l->mx[k] > st->max_abs) st->max_abs = l->mx[k];
    }
    st->err2 += e;
    st->w2 += w;
    memset(l, 0, sizeof *l);
}

/* w' of one element. */
static inline float elem_deq(const struct kparams *p, float x, float *q_out) {
    float t = x / p->s;
    if (p->round_t) t = rnd_w(p->dt, t);
    if (p->zp != 0.0f) {
        t += p->zp;
        if (p->round_t) t = rnd_w(p->dt, t);
    }
    t = t < p->lo ? p->lo : t;
    t = t > p->hi ? p->hi : t;
    float q = p->kind == EK_INT ? nearbyintf(t) : p->kind == EK_FP8 ? fp8_round(t) : fp4_round(t);
    if (q_out) *q_out = q;
    return rnd_w(p->dt, (q - p->zp) * p->s);
}

/* Element j of a row given as float32 or as BF16 (bf16src). */
static inline float ld1(const void *x, int bf16src, int64_t j) {
    if (bf16src) {
        uint16_t h;
        memcpy(&h, (const uint16_t *)x + j, 2);
        return qt_bf16_to_f32(h);
    }
    return ((const float *)x)[j];
}

/* x advanced by off elements of its kind. */
static inline const void *adv(const void *x, int bf16src, int64_t off) {
    return bf16src ? (const void *)((const uint16_t *)x + off) : (const void *)((const float *)x + off);
}

/* The stored code of a quantized value q. */
static inline int8_t code_of(const struct kparams *p, float q) {
    if (p->kind == EK_INT) return (int8_t)q;
    if (p->kind == EK_FP8) return (int8_t)qt_f32_to_fp8e4m3(q);
    return fp4_code(q);
}

/* Portable kernel over one segment x (n) starting at column col0 of its row:
 * statistics into the row accumulator l (may be NULL), w' into out (may be
 * NULL), codes into codes (may be NULL). */
static void seg_scalar(const void *x, int bf16src, int64_t n, const struct kparams *p, float *out,
                       int8_t *codes, struct lanes *l, int64_t col0) {
    for (int64_t j = 0; j < n; j++) {
        float q, xj = ld1(x, bf16src, j);
        float wq = elem_deq(p, xj, &q);
        if (out) out[j] = wq;
        if (codes) codes[j] = code_of(p, q);
        if (l) {
            int64_t c = col0 + j;
            float e = xj - wq;
            int k = (int)(c & (NLANES - 1));
            l->e2[k] = fmaf(e, e, l->e2[k]);
            l->w2[k] = fmaf(xj, xj, l->w2[k]);
            float a = fabsf(e);
            if (a > l->mx[k]) l->mx[k] = a;
            if ((c & 127) == 127) lanes_spill(l);
        }
    }
}

static void minmax_scalar(const void *x, int bf16src, int64_t n, float *mn, float *mx) {
    float a = INFINITY, b = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        float f = ld1(x, bf16src, j);
        if (f < a) a = f;
        if (f > b) b = f;
    }
    *mn = a;
    *mx = b;
}

#ifdef QT_HAVE_X86
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE __attribute__((always_inline)) inline

/* ---- AVX2/FMA: 8 lanes --------------------------------------------------- */

/* Round to bf16, ties to even, by Veltkamp splitting: p = x * (2^16 + 1),
 * p - (p - x) is x rounded to 8 significant bits.  Checked
 * exhaustively against the bit-pattern rounding for every normal float up
 * to 1e30; subnormals pass through unrounded, which changes no result here
 * (a subnormal w/s quantizes to 0 whichever way it is rounded). */
AVX2 static inline __m256 v_rnd_bf16(__m256 x) {
    __m256 p = _mm256_mul_ps(x, _mm256_set1_ps(65537.0f));
    __asm__("" : "+x"(p));      /* keep p rounded: no fused p - x */
    return _mm256_sub_ps(p, _mm256_sub_ps(p, x));
}

AVX2 static inline __m256 v_rne(__m256 x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

AVX2 static inline __m256 v_fp8_round(__m256 t) {
    /* normal range: round to 4 significant bits by Veltkamp splitting with
     * 2^20 + 1 (checked exhaustively like v_rnd_bf16; |t| <= 448 after the
     * clamp, so nothing overflows) */
    __m256 p = _mm256_mul_ps(t, _mm256_set1_ps(1048577.0f));
    __asm__("" : "+x"(p));
    __m256 r = _mm256_sub_ps(p, _mm256_sub_ps(p, t));
    /* subnormals (|t| < 2^-6, rare): quantum 2^-9 */
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), t);
    __m256 small = _mm256_cmp_ps(a, _mm256_set1_ps(0.015625f), _CMP_LT_OQ);
    if (_mm256_movemask_ps(small)) {
        __m256 sub = _mm256_mul_ps(v_rne(_mm256_mul_ps(t, _mm256_set1_ps(512.0f))), _mm256_set1_ps(1.0f / 512.0f));
        r = _mm256_blendv_ps(r, sub, small);
    }
    return r;
}

/* e2m1 rounding: the quantum is 0.5 below 2, 1 below 4, 2 above; one
 * round-half-even of |t| scaled by the inverse quantum m (a power of two,
 * so both products are exact) gives what rounding each range would. */
AVX2 static inline __m256 v_fp4_round(__m256 t) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, t);
    __m256 lt2 = _mm256_cmp_ps(a, _mm256_set1_ps(2.0f), _CMP_LT_OQ);
    __m256 lt4 = _mm256_cmp_ps(a, _mm256_set1_ps(4.0f), _CMP_LT_OQ);
    __m256 m = _mm256_blendv_ps(_mm256_blendv_ps(_mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f), lt4),
                                _mm256_set1_ps(2.0f), lt2);
    __m256 im = _mm256_blendv_ps(_mm256_blendv_ps(_mm256_set1_ps(2.0f), _mm256_set1_ps(1.0f), lt4),
                                 _mm256_set1_ps(0.5f), lt2);
    __m256 r = _mm256_mul_ps(v_rne(_mm256_mul_ps(a, m)), im);
    return _mm256_or_ps(r, _mm256_and_ps(sign, t));
}

/* Codes of 8 quantized values q, as int32 lanes 0..255 or -128..127 (what
 * code_of gives): int q itself; e4m3 bits (q is an e4m3 value: normal
 * exponent and top 3 mantissa bits rebased, subnormal q * 2^9); e2m1 sign
 * and magnitude index (0, .5, 1, 1.5 -> 2q; 2, 3 -> q + 2; 4, 6 -> q/2 + 4). */
AVX2 static INLINE __m256i v_codes(__m256 q, int kind) {
    if (kind == EK_INT) return _mm256_cvtps_epi32(q);
    __m256i u = _mm256_castps_si256(q);
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), q);
    if (kind == EK_FP8) {
        __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80));
        __m256i norm = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(a), 20), _mm256_set1_epi32(960));
        __m256i sub = _mm256_cvtps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(512.0f)));
        __m256 small = _mm256_cmp_ps(a, _mm256_set1_ps(0.015625f), _CMP_LT_OQ);
        __m256i m = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(norm), _mm256_castsi256_ps(sub), small));
        return _mm256_or_si256(m, sign);
    }
    __m256 i1 = _mm256_mul_ps(a, _mm256_set1_ps(2.0f));
    __m256 i2 = _mm256_add_ps(a, _mm256_set1_ps(2.0f));
    __m256 i4 = _mm256_add_ps(_mm256_mul_ps(a, _mm256_set1_ps(0.5f)), _mm256_set1_ps(4.0f));
    __m256 i = _mm256_blendv_ps(i4, i2, _mm256_cmp_ps(a, _mm256_set1_ps(4.0f), _CMP_LT_OQ));
    i = _mm256_blendv_ps(i, i1, _mm256_cmp_ps(a, _mm256_set1_ps(2.0f), _CMP_LT_OQ));
    __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(u, 31), 3);
    return _mm256_or_si256(_mm256_cvtps_epi32(i), sign);
}

/* Stores the low bytes of the 8 int32 lanes of v at dst (m <= 8 of them). */
AVX2 static INLINE void v_store_codes(int8_t *dst, __m256i v, int64_t m) {
    v = _mm256_and_si256(v, _mm256_set1_epi32(0xff));
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    __m128i b = _mm_packus_epi16(w, w);
    if (m >= 8) {
        _mm_storel_epi64((__m128i *)dst, b);
    } else {
        int8_t t[16];
        _mm_storeu_si128((__m128i *)t, b);
        memcpy(dst, t, (size_t)m);
    }
}

/* 8 elements from x at j: float32, or BF16 widened (bf16src). */
AVX2 static INLINE __m256 v_load(const void *x, int bf16src, int64_t j) {
    if (bf16src) {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)x + j));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    return _mm256_loadu_ps((const float *)x + j);
}

/* The last m < 8 elements, zero padded (zeros leave every sum unchanged). */
AVX2 static INLINE __m256 v_load_tail(const void *x, int bf16src, int64_t j, int64_t m) {
    if (bf16src) {
        uint16_t t[8] = {0};
        memcpy(t, (const uint16_t *)x + j, (size_t)m * 2);
        return v_load(t, 1, 0);
    }
    float t[8] = {0};
    memcpy(t, (const float *)x + j, (size_t)m * 4);
    return _mm256_loadu_ps(t);
}

/* Division the fast way: q0 = x*y, r = x - q0*s (exact), q = q0 + r*y with
 * y = RN(1/s) is RN(x/s) (Markstein) unless the quotient underflows; tiny
 * quotients round to 0 in every element format anyway, and the callers keep
 * s in [2^-90, 2^90] so that r cannot underflow for quotients that matter.
 * Checked exhaustively against division for all bf16 pairs.  s > 0. */
AVX2 static INLINE __m256 v_div(__m256 x, __m256 s, __m256 y, int exact) {
    if (exact) return _mm256_div_ps(x, s);
    __m256 q0 = _mm256_mul_ps(x, y);
    __asm__("" : "+x"(q0));     /* no fusing of q0 into the residual */
    __m256 r = _mm256_fnmadd_ps(q0, s, x);
    /* s > 0: the quotient has x's sign, which the correction loses when it
     * is zero (-0 / s is -0, and an fp8/fp4 code keeps that sign) */
    return _mm256_or_ps(_mm256_fmadd_ps(r, y, q0), _mm256_and_ps(x, _mm256_set1_ps(-0.0f)));
}

/* w' of 8 elements; *qout gets q. */
AVX2 static INLINE __m256 v_deq(__m256 vx, __m256 vs, __m256 vy, __m256 vzp, __m256 vlo, __m256 vhi,
                                int exact, int kind, int bf, int rt, int zp, __m256 *qout) {
    /* With x and s both bf16 and t rounded to bf16, x * RN(1/s) rounds like
     * x / s: a quotient of two 8-bit significands lies at least 2^-17
     * (relative) from any bf16 midpoint, beyond the product's 2^-23 error
     * (and checked exhaustively over all bf16 pairs). */
    __m256 t = rt && !exact ? _mm256_mul_ps(vx, vy) : v_div(vx, vs, vy, exact);
    if (rt) t = v_rnd_bf16(t);
    if (zp) {
        t = _mm256_add_ps(t, vzp);
        if (rt) t = v_rnd_bf16(t);
    }
    t = _mm256_min_ps(_mm256_max_ps(t, vlo), vhi);
    __m256 q = kind == EK_INT ? v_rne(t) : kind == EK_FP8 ? v_fp8_round(t) : v_fp4_round(t);
    *qout = q;
    __m256 wq = _mm256_mul_ps(zp ? _mm256_sub_ps(q, vzp) : q, vs);
    return bf ? v_rnd_bf16(wq) : wq;
}

/* d[0..7] += (double)v, lane by lane. */
AVX2 static INLINE void v_spill(double *d, __m256 v) {
    _mm256_storeu_pd(d, _mm256_add_pd(_mm256_loadu_pd(d), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(d + 4, _mm256_add_pd(_mm256_loadu_pd(d + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

/* The AVX2 twin of seg_scalar.  kind, bf (work dtype bf16), rt (round w/s
 * to bf16), zp, exact and which outputs exist are constants in the
 * specialized callers.  col0 is a multiple of 8; the vector at column c
 * feeds accumulator A when c % 16 == 0, B when c % 16 == 8. */
AVX2 static INLINE void seg_avx2_t(const void *x, int bf16src, int64_t n, const struct kparams *p,
                                   float *out, int8_t *codes, struct lanes *l, int64_t col0,
                                   int kind, int bf, int rt, int zp, int exact) {
    const __m256 vs = _mm256_set1_ps(p->s), vzp = _mm256_set1_ps(p->zp);
    const __m256 vy = _mm256_set1_ps(1.0f / p->s);
    const __m256 vlo = _mm256_set1_ps(p->lo), vhi = _mm256_set1_ps(p->hi);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 ea = _mm256_setzero_ps(), eb = ea, wa = ea, wb = ea, ma = ea, mb = ea;
    if (l) {
        ea = _mm256_loadu_ps(l->e2);
        eb = _mm256_loadu_ps(l->e2 + 8);
        wa = _mm256_loadu_ps(l->w2);
        wb = _mm256_loadu_ps(l->w2 + 8);
        ma = _mm256_loadu_ps(l->mx);
        mb = _mm256_loadu_ps(l->mx + 8);
    }
    int64_t j = 0;
    /* Statistics only, whole pairs of vectors from an even column: the hot
     * loop, without branches on the accumulator. */
    if (!out && !codes && l && !(col0 & 8)) {
        for (; j + 16 <= n; j += 16) {
            __m256 xa = v_load(x, bf16src, j), xb = v_load(x, bf16src, j + 8), q;
            __m256 qa = v_deq(xa, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp, &q);
            __m256 qb = v_deq(xb, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp, &q);
            __m256 e = _mm256_sub_ps(xa, qa), f = _mm256_sub_ps(xb, qb);
            ea = _mm256_fmadd_ps(e, e, ea);
            wa = _mm256_fmadd_ps(xa, xa, wa);
            ma = _mm256_max_ps(ma, _mm256_and_ps(e, absmask));
            eb = _mm256_fmadd_ps(f, f, eb);
            wb = _mm256_fmadd_ps(xb, xb, wb);
            mb = _mm256_max_ps(mb, _mm256_and_ps(f, absmask));
            if (((col0 + j) & 127) == 112) {
                v_spill(l->de, ea);
                v_spill(l->de + 8, eb);
                v_spill(l->dw, wa);
                v_spill(l->dw + 8, wb);
                ea = eb = wa = wb = _mm256_setzero_ps();
            }
        }
    }
    for (; j < n; j += 8) {
        __m256 vx = j + 8 <= n ? v_load(x, bf16src, j) : v_load_tail(x, bf16src, j, n - j), q;
        __m256 wq = v_deq(vx, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp, &q);
        if (codes) v_store_codes(codes + j, v_codes(q, kind), n - j);
        if (out) {
            if (j + 8 <= n) _mm256_storeu_ps(out + j, wq);
            else {
                float tmp[8];
                _mm256_storeu_ps(tmp, wq);
                memcpy(out + j, tmp, (size_t)(n - j) * sizeof(float));
            }
        }
        if (!l) continue;
        int64_t c = col0 + j;
        __m256 e = _mm256_sub_ps(vx, wq);
        if (c & 8) {
            eb = _mm256_fmadd_ps(e, e, eb);
            wb = _mm256_fmadd_ps(vx, vx, wb);
            mb = _mm256_max_ps(mb, _mm256_and_ps(e, absmask));
            if ((c & 127) == 120) {      /* spill, as lanes_spill does */
                v_spill(l->de, ea);
                v_spill(l->de + 8, eb);
                v_spill(l->dw, wa);
                v_spill(l->dw + 8, wb);
                ea = eb = wa = wb = _mm256_setzero_ps();
            }
        } else {
            ea = _mm256_fmadd_ps(e, e, ea);
            wa = _mm256_fmadd_ps(vx, vx, wa);
            ma = _mm256_max_ps(ma, _mm256_and_ps(e, absmask));
        }
    }
    if (l) {
        _mm256_storeu_ps(l->e2, ea);
        _mm256_storeu_ps(l->e2 + 8, eb);
        _mm256_storeu_ps(l->w2, wa);
        _mm256_storeu_ps(l->w2 + 8, wb);
        _mm256_storeu_ps(l->mx, ma);
        _mm256_storeu_ps(l->mx + 8, mb);
    }
}

AVX2 static INLINE float v_hmin(__m256 v) {
    __m128 a = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_min_ps(a, _mm_movehl_ps(a, a));
    a = _mm_min_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

AVX2 static INLINE float v_hmax(__m256 v) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

AVX2 static void minmax_avx2(const void *x, int bf16src, int64_t n, float *mn, float *mx) {
    __m256 a = _mm256_set1_ps(INFINITY), b = _mm256_set1_ps(-INFINITY);
    __m256 a2 = a, b2 = b;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 v = v_load(x, bf16src, j), w = v_load(x, bf16src, j + 8);
        a = _mm256_min_ps(a, v);
        b = _mm256_max_ps(b, v);
        a2 = _mm256_min_ps(a2, w);
        b2 = _mm256_max_ps(b2, w);
    }
    float r = v_hmin(_mm256_min_ps(a, a2)), s = v_hmax(_mm256_max_ps(b, b2));
    for (; j < n; j++) {
        float f = ld1(x, bf16src, j);
        if (f < r) r = f;
        if (f > s) s = f;
    }
    *mn = r;
    *mx = s;
}

/* ---- AVX-512 (F, BW, VL, DQ): 16 lanes ---------------------------------- */

/* The same arithmetic as the AVX2 kernels, operation for operation, on
 * vectors of 16: one register holds the whole row accumulator (lane k =
 * column % 16), so the sums come out in the same order. */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

AVX512 static INLINE __m512 w_rnd_bf16(__m512 x) {
    __m512 p = _mm512_mul_ps(x, _mm512_set1_ps(65537.0f));
    __asm__("" : "+v"(p));
    return _mm512_sub_ps(p, _mm512_sub_ps(p, x));
}

AVX512 static INLINE __m512 w_rne(__m512 x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

AVX512 static INLINE __m512 w_fp8_round(__m512 t) {
    __m512 p = _mm512_mul_ps(t, _mm512_set1_ps(1048577.0f));
    __asm__("" : "+v"(p));
    __m512 r = _mm512_sub_ps(p, _mm512_sub_ps(p, t));
    __m512 a = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), t);
    __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.015625f), _CMP_LT_OQ);
    if (small) {
        __m512 sub = _mm512_mul_ps(w_rne(_mm512_mul_ps(t, _mm512_set1_ps(512.0f))), _mm512_set1_ps(1.0f / 512.0f));
        r = _mm512_mask_blend_ps(small, r, sub);
    }
    return r;
}

AVX512 static INLINE __m512 w_fp4_round(__m512 t) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 a = _mm512_andnot_ps(sign, t);
    __mmask16 lt2 = _mm512_cmp_ps_mask(a, _mm512_set1_ps(2.0f), _CMP_LT_OQ);
    __mmask16 lt4 = _mm512_cmp_ps_mask(a, _mm512_set1_ps(4.0f), _CMP_LT_OQ);
    __m512 m = _mm512_mask_blend_ps(lt2, _mm512_mask_blend_ps(lt4, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)),
                                    _mm512_set1_ps(2.0f));
    __m512 im = _mm512_mask_blend_ps(lt2, _mm512_mask_blend_ps(lt4, _mm512_set1_ps(2.0f), _mm512_set1_ps(1.0f)),
                                     _mm512_set1_ps(0.5f));
    __m512 r = _mm512_mul_ps(w_rne(_mm512_mul_ps(a, m)), im);
    return _mm512_or_ps(r, _mm512_and_ps(sign, t));
}

/* v_codes on 16 lanes. */
AVX512 static INLINE __m512i w_codes(__m512 q, int kind) {
    if (kind == EK_INT) return _mm512_cvtps_epi32(q);
    __m512i u = _mm512_castps_si512(q);
    __m512 a = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), q);
    if (kind == EK_FP8) {
        __m512i sign = _mm512_and_si512(_mm512_srli_epi32(u, 24), _mm512_set1_epi32(0x80));
        __m512i norm = _mm512_sub_epi32(_mm512_srli_epi32(_mm512_castps_si512(a), 20), _mm512_set1_epi32(960));
        __m512i sub = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(512.0f)));
        __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.015625f), _CMP_LT_OQ);
        return _mm512_or_si512(_mm512_mask_blend_epi32(small, norm, sub), sign);
    }
    __m512 i1 = _mm512_mul_ps(a, _mm512_set1_ps(2.0f));
    __m512 i2 = _mm512_add_ps(a, _mm512_set1_ps(2.0f));
    __m512 i4 = _mm512_add_ps(_mm512_mul_ps(a, _mm512_set1_ps(0.5f)), _mm512_set1_ps(4.0f));
    __m512 i = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(4.0f), _CMP_LT_OQ), i4, i2);
    i = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(2.0f), _CMP_LT_OQ), i, i1);
    __m512i sign = _mm512_slli_epi32(_mm512_srli_epi32(u, 31), 3);
    return _mm512_or_si512(_mm512_cvtps_epi32(i), sign);
}

/* 16 elements from x at j (lanes outside k read as 0, never touched). */
AVX512 static INLINE __m512 w_load(const void *x, int bf16src, int64_t j, __mmask16 k) {
    if (bf16src) {
        const uint16_t *s = (const uint16_t *)x + j;
        __m256i h = k == 0xffff ? _mm256_loadu_si256((const __m256i *)s) : _mm256_maskz_loadu_epi16(k, s);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    const float *s = (const float *)x + j;
    return k == 0xffff ? _mm512_loadu_ps(s) : _mm512_maskz_loadu_ps(k, s);
}

AVX512 static INLINE __m512 w_div(__m512 x, __m512 s, __m512 y, int exact) {
    if (exact) return _mm512_div_ps(x, s);
    __m512 q0 = _mm512_mul_ps(x, y);
    __asm__("" : "+v"(q0));
    __m512 r = _mm512_fnmadd_ps(q0, s, x);
    return _mm512_or_ps(_mm512_fmadd_ps(r, y, q0), _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));
}

AVX512 static INLINE __m512 w_deq(__m512 vx, __m512 vs, __m512 vy, __m512 vzp, __m512 vlo, __m512 vhi,
                                  int exact, int kind, int bf, int rt, int zp, __m512 *qout) {
    __m512 t = rt && !exact ? _mm512_mul_ps(vx, vy) : w_div(vx, vs, vy, exact);
    if (rt) t = w_rnd_bf16(t);
    if (zp) {
        t = _mm512_add_ps(t, vzp);
        if (rt) t = w_rnd_bf16(t);
    }
    t = _mm512_min_ps(_mm512_max_ps(t, vlo), vhi);
    __m512 q = kind == EK_INT ? w_rne(t) : kind == EK_FP8 ? w_fp8_round(t) : w_fp4_round(t);
    *qout = q;
    __m512 wq = _mm512_mul_ps(zp ? _mm512_sub_ps(q, vzp) : q, vs);
    return bf ? w_rnd_bf16(wq) : wq;
}

/* d[0..15] += (double)v, lane by lane. */
AVX512 static INLINE void w_spill(double *d, __m512 v) {
    _mm512_storeu_pd(d, _mm512_add_pd(_mm512_loadu_pd(d), _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
    _mm512_storeu_pd(d + 8, _mm512_add_pd(_mm512_loadu_pd(d + 8), _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1))));
}

/* seg_avx2_t on 16 lanes: col0 is a multiple of 16, and every vector but
 * the row's last is whole. */
AVX512 static INLINE void seg_avx512_t(const void *x, int bf16src, int64_t n, const struct kparams *p,
                                       float *out, int8_t *codes, struct lanes *l, int64_t col0,
                                       int kind, int bf, int rt, int zp, int exact) {
    const __m512 vs = _mm512_set1_ps(p->s), vzp = _mm512_set1_ps(p->zp);
    const __m512 vy = _mm512_set1_ps(1.0f / p->s);
    const __m512 vlo = _mm512_set1_ps(p->lo), vhi = _mm512_set1_ps(p->hi);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 e2 = _mm512_setzero_ps(), w2 = e2, mx = e2;
    if (l) {
        e2 = _mm512_loadu_ps(l->e2);
        w2 = _mm512_loadu_ps(l->w2);
        mx = _mm512_loadu_ps(l->mx);
    }
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 k = j + 16 <= n ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 vx = w_load(x, bf16src, j, k), q;
        __m512 wq = w_deq(vx, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp, &q);
        if (codes) {
            __m128i b = _mm512_cvtepi32_epi8(w_codes(q, kind));
            if (k == 0xffff) _mm_storeu_si128((__m128i *)(codes + j), b);
            else _mm_mask_storeu_epi8(codes + j, k, b);
        }
        if (out) {
            if (k == 0xffff) _mm512_storeu_ps(out + j, wq);
            else _mm512_mask_storeu_ps(out + j, k, wq);
        }
        if (!l) continue;
        __m512 e = _mm512_sub_ps(vx, wq);
        e2 = _mm512_mask3_fmadd_ps(e, e, e2, k);
        w2 = _mm512_mask3_fmadd_ps(vx, vx, w2, k);
        mx = _mm512_mask_max_ps(mx, k, mx, _mm512_and_ps(e, absmask));
        if (k == 0xffff && ((col0 + j) & 127) == 112) {     /* spill, as lanes_spill does */
            w_spill(l->de, e2);
            w_spill(l->dw, w2);
            e2 = w2 = _mm512_setzero_ps();
        }
    }
    if (l) {
        _mm512_storeu_ps(l->e2, e2);
        _mm512_storeu_ps(l->w2, w2);
        _mm512_storeu_ps(l->mx, mx);
    }
}

AVX512 static void minmax_avx512(const void *x, int bf16src, int64_t n, float *mn, float *mx) {
    __m512 a = _mm512_set1_ps(INFINITY), b = _mm512_set1_ps(-INFINITY);
    __m512 a2 = a, b2 = b;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 v = w_load(x, bf16src, j, 0xffff), w = w_load(x, bf16src, j + 16, 0xffff);
        a = _mm512_min_ps(a, v);
        b = _mm512_max_ps(b, v);
        a2 = _mm512_min_ps(a2, w);
        b2 = _mm512_max_ps(b2, w);
    }
    for (; j < n; j += 16) {
        __mmask16 k = j + 16 <= n ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = w_load(x, bf16src, j, k);
        a = _mm512_mask_min_ps(a, k, a, v);
        b = _mm512_mask_max_ps(b, k, b, v);
    }
    *mn = _mm512_reduce_min_ps(_mm512_min_ps(a, a2));
    *mx = _mm512_reduce_max_ps(_mm512_max_ps(b, b2));
}

/* max |x| of n BF16 values, what a symmetric cell's parameters need: the
 * magnitude bits (x & 0x7fff) of non-NaN BF16 order as unsigned integers
 * the way |x| orders, so 32 values take one AND and one unsigned 16-bit
 * max, with no widening to float. */
AVX512 static float amax_bf16_avx512(const uint16_t *x, int64_t n) {
    const __m512i mag = _mm512_set1_epi16(0x7fff);
    __m512i m = _mm512_setzero_si512(), m2 = m;
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) {
        m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_loadu_si512((const void *)(x + j)), mag));
        m2 = _mm512_max_epu16(m2, _mm512_and_si512(_mm512_loadu_si512((const void *)(x + j + 32)), mag));
    }
    for (; j < n; j += 32) {
        __mmask32 k = j + 32 <= n ? (__mmask32)0xffffffffu : (__mmask32)((1ull << (n - j)) - 1);
        m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_maskz_loadu_epi16(k, x + j), mag));
    }
    m = _mm512_max_epu16(m, m2);
    __m512i w = _mm512_max_epu32(_mm512_and_si512(m, _mm512_set1_epi32(0xffff)), _mm512_srli_epi32(m, 16));
    return u2f((uint32_t)_mm512_reduce_max_epu32(w) << 16);
}

/* ---- specializations ----------------------------------------------------- */

/* The hot cases (bf16 work dtype, scale in the fast division's range), one
 * function each per ISA: statistics only (the preview) and codes only (the
 * checkpoint writer), from float32 (_f) or BF16 (_h) rows, in the bf16
 * arithmetic and (…32) the f32 one. */
typedef void (*seg_fn)(const void *x, int64_t n, const struct kparams *p, struct lanes *l, int8_t *codes,
                       int64_t col0);
#define SEG_SPEC(isa, tmpl, name, src, kind, rt, zp, stats)                                       \
    isa static void name(const void *x, int64_t n, const struct kparams *p, struct lanes *l,      \
                         int8_t *codes, int64_t col0) {                                           \
        if (stats) tmpl(x, src, n, p, NULL, NULL, l, col0, kind, 1, rt, zp, 0);                   \
        else tmpl(x, src, n, p, NULL, codes, NULL, col0, kind, 1, rt, zp, 0);                     \
    }
#define SEG_SET(isa, tmpl, pre, stats)                              \
    SEG_SPEC(isa, tmpl, pre##_int_f, 0, EK_INT, 1, 0, stats)        \
    SEG_SPEC(isa, tmpl, pre##_int_h, 1, EK_INT, 1, 0, stats)        \
    SEG_SPEC(isa, tmpl, pre##_intz_f, 0, EK_INT, 1, 1, stats)       \
    SEG_SPEC(isa, tmpl, pre##_intz_h, 1, EK_INT, 1, 1, stats)       \
    SEG_SPEC(isa, tmpl, pre##_fp8_f, 0, EK_FP8, 1, 0, stats)        \
    SEG_SPEC(isa, tmpl, pre##_fp8_h, 1, EK_FP8, 1, 0, stats)        \
    SEG_SPEC(isa, tmpl, pre##_mx_f, 0, EK_FP4, 1, 0, stats)         \
    SEG_SPEC(isa, tmpl, pre##_mx_h, 1, EK_FP4, 1, 0, stats)         \
    SEG_SPEC(isa, tmpl, pre##_nv_f, 0, EK_FP4, 0, 0, stats)         \
    SEG_SPEC(isa, tmpl, pre##_nv_h, 1, EK_FP4, 0, 0, stats)         \
    SEG_SPEC(isa, tmpl, pre##_int32_f, 0, EK_INT, 0, 0, stats)      \
    SEG_SPEC(isa, tmpl, pre##_int32_h, 1, EK_INT, 0, 0, stats)      \
    SEG_SPEC(isa, tmpl, pre##_intz32_f, 0, EK_INT, 0, 1, stats)     \
    SEG_SPEC(isa, tmpl, pre##_intz32_h, 1, EK_INT, 0, 1, stats)     \
    SEG_SPEC(isa, tmpl, pre##_fp832_f, 0, EK_FP8, 0, 0, stats)      \
    SEG_SPEC(isa, tmpl, pre##_fp832_h, 1, EK_FP8, 0, 0, stats)      \
    static const seg_fn pre##_table[16] = {pre##_int_f, pre##_int_h, pre##_intz_f, pre##_intz_h,   \
                                           pre##_fp8_f, pre##_fp8_h, pre##_mx_f, pre##_mx_h,       \
                                           pre##_nv_f, pre##_nv_h, pre##_int32_f, pre##_int32_h,   \
                                           pre##_intz32_f, pre##_intz32_h, pre##_fp832_f, pre##_fp832_h};
SEG_SET(AVX2, seg_avx2_t, s2, 1)
SEG_SET(AVX2, seg_avx2_t, c2, 0)
SEG_SET(AVX512, seg_avx512_t, s5, 1)
SEG_SET(AVX512, seg_avx512_t, c5, 0)

/* Index into a specialization table, or -1 for the general kernel. */
static int spec_index(const struct kparams *p, int bf16src, const float *out, const int8_t *codes,
                      const struct lanes *l) {
    if (out || !p->rnd_bf16 || !(p->s >= 0x1p-90f && p->s <= 0x1p90f)) return -1;
    if (!!l == !!codes) return -1;              /* statistics or codes, not both */
    int k;
    if (p->kind == EK_INT) k = (p->zp != 0.0f ? 2 : 0) + (p->round_t ? 0 : 10);
    else if (p->kind == EK_FP8) k = p->round_t ? 4 : 14;
    else k = p->round_t ? 6 : 8;     /* fp4 without rounding: nvfp4's kernel */
    return k + !!bf16src;
}

AVX2 static void seg_avx2_any(const void *x, int bf16src, int64_t n, const struct kparams *p,
                              float *out, int8_t *codes, struct lanes *l, int64_t col0) {
    seg_avx2_t(x, bf16src, n, p, out, codes, l, col0, p->kind, p->rnd_bf16, p->round_t && p->rnd_bf16,
               p->zp != 0.0f, !(p->s >= 0x1p-90f && p->s <= 0x1p90f));
}

AVX512 static void seg_avx512_any(const void *x, int bf16src, int64_t n, const struct kparams *p,
                                  float *out, int8_t *codes, struct lanes *l, int64_t col0) {
    seg_avx512_t(x, bf16src, n, p, out, codes, l, col0, p->kind, p->rnd_bf16, p->round_t && p->rnd_bf16,
                 p->zp != 0.0f, !(p->s >= 0x1p-90f && p->s <= 0x1p90f));
}
#endif

/* ---- arithmetic mode --------------------------------------------------- */

static int arith_wanted = -1;   /* QT_ARITH_*, -1: from QTUNE_ARITH on first use */

int qt_arith_parse(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "f32") || !strcmp(name, "fp32") || !strcmp(name, "float32")) return QT_ARITH_F32;
    if (!strcmp(name, "bf16") || !strcmp(name, "bfloat16")) return QT_ARITH_BF16;
    return -1;
}

const char *qt_arith_name(int mode) { return mode == QT_ARITH_BF16 ? "bf16" : "f32"; }

int qt_quant_arith(void) {
    int a = __atomic_load_n(&arith_wanted, __ATOMIC_RELAXED);
    if (a < 0) {
        a = qt_arith_parse(getenv("QTUNE_ARITH"));
        if (a < 0) a = QT_ARITH_F32;
        __atomic_store_n(&arith_wanted, a, __ATOMIC_RELAXED);
    }
    return a;
}

int qt_quant_set_arith(int mode) {
    int old = qt_quant_arith();
    __atomic_store_n(&arith_wanted, mode == QT_ARITH_BF16 ? QT_ARITH_BF16 : QT_ARITH_F32, __ATOMIC_RELAXED);
    return old;
}

/* ---- dispatch ---------------------------------------------------------- */

static int isa_wanted = -1;     /* QT_ISA_*, -1: from QTUNE_SIMD on first use */

/* The best kernels this CPU runs. */
static int isa_have(void) {
#ifdef QT_HAVE_X86
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        int h = QT_ISA_PORTABLE;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            h = QT_ISA_AVX2;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
                h = QT_ISA_AVX512;
        }
        have = h;
    }
    return have;
#else
    return QT_ISA_PORTABLE;
#endif
}

int qt_quant_isa_parse(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "portable") || !strcmp(name, "scalar") || !strcmp(name, "c")) return QT_ISA_PORTABLE;
    if (!strcmp(name, "avx2")) return QT_ISA_AVX2;
    if (!strcmp(name, "avx512")) return QT_ISA_AVX512;
    return -1;
}

const char *qt_quant_isa_name(int isa) {
    return isa == QT_ISA_AVX512 ? "avx512" : isa == QT_ISA_AVX2 ? "avx2" : "portable";
}

static int isa_request(void) {
    int w = __atomic_load_n(&isa_wanted, __ATOMIC_RELAXED);
    if (w < 0) {
        w = qt_quant_isa_parse(getenv("QTUNE_SIMD"));
        if (w < 0) w = QT_ISA_AVX512;
        __atomic_store_n(&isa_wanted, w, __ATOMIC_RELAXED);
    }
    return w;
}

int qt_quant_set_isa(int isa) {
    int old = isa_request();
    __atomic_store_n(&isa_wanted, isa < QT_ISA_PORTABLE ? QT_ISA_PORTABLE : isa > QT_ISA_AVX512 ? QT_ISA_AVX512 : isa,
                     __ATOMIC_RELAXED);
    return old;
}

int qt_quant_isa(void) {
    int w = isa_request(), h = isa_have();
    return w < h ? w : h;
}

int qt_quant_isa_best(void) { return isa_have(); }

int qt_quant_set_simd(int on) {
    return qt_quant_set_isa(on ? QT_ISA_AVX512 : QT_ISA_PORTABLE) != QT_ISA_PORTABLE;
}

int qt_quant_simd_active(void) { return qt_quant_isa() >= QT_ISA_AVX2; }

static void minmax_any(const void *x, int bf16src, int64_t n, float *mn, float *mx, int isa) {
#ifdef QT_HAVE_X86
    if (isa >= QT_ISA_AVX512) { minmax_avx512(x, bf16src, n, mn, mx); return; }
    if (isa >= QT_ISA_AVX2) { minmax_avx2(x, bf16src, n, mn, mx); return; }
#endif
    (void)isa;
    minmax_scalar(x, bf16src, n, mn, mx);
}

void qt_quant_minmax(const float *x, int64_t n, float *mn, float *mx) {
    minmax_any(x, 0, n, mn, mx, qt_quant_isa());
}

void qt_quant_minmax_bf16(const uint16_t *x, int64_t n, float *mn, float *mx) {
    minmax_any(x, 1, n, mn, mx, qt_quant_isa());
}

/* One segment on the widest kernel its position allows: AVX-512 needs a
 * segment starting on a multiple of 16 columns, AVX2 of 8, each filling
 * whole vectors unless it ends the row (every kernel keeps the lanes the
 * others keep, so they mix within a row).  F16 work runs portable. */
static void seg_run(const void *x, int bf16src, int64_t n, const struct kparams *p, float *out, int8_t *codes,
                    struct lanes *l, int64_t col0, int64_t cols, int isa) {
#ifdef QT_HAVE_X86
    if (p->dt != QT_DT_F16 && isa >= QT_ISA_AVX512 && (col0 & 15) == 0 && ((n & 15) == 0 || col0 + n == cols)) {
        int k = spec_index(p, bf16src, out, codes, l);
        if (k >= 0) (l ? s5_table : c5_table)[k](x, n, p, l, codes, col0);
        else seg_avx512_any(x, bf16src, n, p, out, codes, l, col0);
        return;
    }
    if (p->dt != QT_DT_F16 && isa >= QT_ISA_AVX2 && (col0 & 7) == 0 && ((n & 7) == 0 || col0 + n == cols)) {
        int k = spec_index(p, bf16src, out, codes, l);
        if (k >= 0) (l ? s2_table : c2_table)[k](x, n, p, l, codes, col0);
        else seg_avx2_any(x, bf16src, n, p, out, codes, l, col0);
        return;
    }
#endif
    (void)isa;
    (void)cols;
    seg_scalar(x, bf16src, n, p, out, codes, l, col0);
}

/* ---- tensor driver ----------------------------------------------------- */

int qt_qctx_init(struct qt_qctx *c, const struct qt_scheme *s, enum qt_dtype wdtype,
                 int64_t rows, int64_t cols, const float *d, qt_err *err) {
    memset(c, 0, sizeof *c);
    if (wdtype != QT_DT_BF16 && wdtype != QT_DT_F16 && wdtype != QT_DT_F32)
        return qt_err_set(err, "quantize: weight dtype %s is not BF16, F16 or F32", qt_dtype_name(wdtype));
    if (s->kind == QT_SCHEME_BF16) return qt_err_set(err, "quantize: bf16 keeps the tensor");
    if (qt_scheme_check_shape(s, rows, cols, err) != QT_OK) return QT_ERR;
    c->s = *s;
    c->wdtype = wdtype;
    c->arith = qt_quant_arith();
    c->rows = rows;
    c->cols = cols;
    c->d = d;
    c->band = s->strategy == QT_STRAT_BLOCK ? s->group : 1;
    c->needs_global = s->strategy == QT_STRAT_TENSOR || s->kind == QT_SCHEME_NVFP4;
    c->gmin = INFINITY;
    c->gmax = -INFINITY;
    return QT_OK;
}

void qt_qctx_finish_observe(struct qt_qctx *c) {
    if (c->s.kind != QT_SCHEME_NVFP4) return;
    /* generate_gparam: 448 * 6 / amax with amax a D tensor; torch evaluates
     * scalar / tensor as tensor.reciprocal() * scalar, each step in D, then
     * widens to float32. */
    float mn = c->gmin < 0.0f ? c->gmin : 0.0f, mx = c->gmax > 0.0f ? c->gmax : 0.0f;
    float amax = c->global_amax > 0.0f ? c->global_amax : (-mn > mx ? -mn : mx);
    float tiny = c->wdtype == QT_DT_F16 ? 6.103515625e-05f : FLT_MIN;
    if (amax < tiny) amax = tiny;
    float gs = rnd_w(c->wdtype, rnd_w(c->wdtype, 1.0f / amax) * 2688.0f);
    if (!isfinite(gs)) gs = 1.0f;
    c->gs = gs;
}

#define PIECE 1024

/* Hints the cache to fetch columns [c0, c0 + n) of the row after xr (L2:
 * this row's own lines stay in L1).  A hint past the buffer's end is
 * harmless: prefetches never fault. */
static inline void prefetch_next_row(const void *xr, int bf16src, int64_t cols, int64_t c0, int64_t n) {
    size_t es = bf16src ? 2 : 4;
    uintptr_t a = (uintptr_t)xr + (size_t)(cols + c0) * es, e = a + (size_t)n * es;
    for (a &= ~(uintptr_t)63; a < e; a += 64) __builtin_prefetch((const void *)a, 0, 2);
}

/* Runs a band of rows x (nrows, cols), float32 or BF16 (bf16src):
 * statistics into st (may be NULL), w' rows into deq (nrows, cols) (may be
 * NULL), codes into codes (nrows, cols) (may be NULL), scales into qt (may
 * be NULL).  scratch (cols) is needed with importance only. */
static void band_run(const struct qt_qctx *c, const void *x, int bf16src, int64_t row0, int64_t nrows,
                     float *scratch, struct qt_qstats *st, float *deq, int8_t *codes, struct qt_qtensor *qt) {
    const int64_t cols = c->cols;
    const int isa = qt_quant_isa();
    int64_t seg;                         /* columns per cell segment */
    switch (c->s.strategy) {
    case QT_STRAT_GROUP: seg = c->s.group; break;
    case QT_STRAT_BLOCK: seg = c->s.group; break;
    default: seg = cols; break;
    }
    int64_t nseg = (cols + seg - 1) / seg;
    struct kparams stackp[256], *gp = nseg <= 256 ? stackp : malloc((size_t)nseg * sizeof *gp);   /* (nseg) */
    if (!gp) return;
    if (c->s.strategy == QT_STRAT_TENSOR) cell_params(c, c->gmin, c->gmax, &gp[0]);
    if (c->s.strategy == QT_STRAT_BLOCK)
        for (int64_t b = 0; b < nseg; b++) {
            int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
            float mn = INFINITY, mx = -INFINITY;
            for (int64_t r = 0; r < nrows; r++) {
                float a, z;
                minmax_any(adv(x, bf16src, r * cols + c0), bf16src, n, &a, &z, isa);
                if (a < mn) mn = a;
                if (z > mx) mx = z;
            }
            cell_params(c, mn, mx, &gp[b]);
        }
    struct lanes l;
    memset(&l, 0, sizeof l);
#ifdef QT_HAVE_X86
    const int sym_amax = isa >= QT_ISA_AVX512 && bf16src && !(c->s.kind == QT_SCHEME_INT && !c->s.sym);
#endif
    for (int64_t r = 0; r < nrows; r++) {
        const void *xr = adv(x, bf16src, r * cols);
        float *out = deq ? deq + r * cols : (st && c->d ? scratch : NULL);
        /* every cell's parameters first (independent, so their reductions
         * and divisions overlap), then the kernels */
        if (c->s.strategy == QT_STRAT_GROUP || c->s.strategy == QT_STRAT_CHANNEL)
            for (int64_t b = 0; b < nseg; b++) {
                int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
                float mn, mx;
#ifdef QT_HAVE_X86
                if (sym_amax) {     /* a symmetric cell needs max(-min(w, 0), max(w, 0)) = max |w| only */
                    float a = amax_bf16_avx512((const uint16_t *)xr + c0, n);
                    cell_params(c, -a, a, &gp[b]);
                    continue;
                }
#endif
                minmax_any(adv(xr, bf16src, c0), bf16src, n, &mn, &mx, isa);
                cell_params(c, mn, mx, &gp[b]);
            }
        for (int64_t b = 0; b < nseg; b++) {
            int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
            const struct kparams *p = c->s.strategy == QT_STRAT_TENSOR ? &gp[0] : &gp[b];
            /* In pieces of at most PIECE columns (a multiple of 128: every
             * kernel's alignment holds, the lanes carry over), each after
             * asking for the same columns of the next row, so that memory
             * streams in while this row computes (its first pass over the
             * cells runs faster than the hardware prefetcher reads ahead). */
            for (int64_t k0 = 0; k0 < n; k0 += PIECE) {
                int64_t m = n - k0 < PIECE ? n - k0 : PIECE;
                prefetch_next_row(xr, bf16src, cols, c0 + k0, m);
                seg_run(adv(xr, bf16src, c0 + k0), bf16src, m, p, out ? out + c0 + k0 : NULL,
                        codes ? codes + r * cols + c0 + k0 : NULL, st ? &l : NULL, c0 + k0, cols, isa);
            }
            if (qt && (r == 0 || c->s.strategy != QT_STRAT_BLOCK) &&
                (c->s.strategy != QT_STRAT_TENSOR || row0 + r == 0)) {
                int64_t si = c->s.strategy == QT_STRAT_TENSOR ? 0
                           : c->s.strategy == QT_STRAT_BLOCK ? (row0 / c->band) * qt->scols + b
                           : (row0 + r) * qt->scols + b;
                qt->scale[si] = p->stored;
                if (qt->zero) qt->zero[si] = p->zpi;
                if (qt->scale_code) qt->scale_code[si] = p->code;
            }
        }
        if (st) lanes_done(&l, st);
        if (st && c->d) {
            double de = 0, dw = 0;
            for (int64_t j = 0; j < cols; j++) {
                double xj = (double)ld1(xr, bf16src, j);
                double e = xj - (double)out[j];
                de += (double)c->d[j] * e * e;
                dw += (double)c->d[j] * xj * xj;
            }
            st->derr2 += de;
            st->dw2 += dw;
        }
    }
    if (st) st->n += nrows * cols;
    if (gp != stackp) free(gp);
}

void qt_quant_band_stats(const struct qt_qctx *c, const float *x, int64_t row0, int64_t nrows,
                         float *scratch, struct qt_qstats *st) {
    band_run(c, x, 0, row0, nrows, scratch, st, NULL, NULL, NULL);
}

void qt_quant_band(const struct qt_qctx *c, const void *x, int x_bf16, int64_t row0, int64_t nrows, float *scratch,
                   struct qt_qstats *st, float *deq, int8_t *codes, struct qt_qtensor *qt) {
    band_run(c, x, x_bf16, row0, nrows, scratch, st, deq, codes, qt);
}

void qt_quant_decode(const struct qt_qtensor *q, int64_t row0, int64_t nrows, float *out) {
    const struct qt_scheme *s = &q->scheme;
    enum qt_dtype dt = q->wdtype;
    int64_t cols = q->cols, g = s->group > 0 ? s->group : cols;
    for (int64_t r = 0; r < nrows; r++) {
        int64_t row = row0 + r;
        for (int64_t j = 0; j < cols; j++) {
            int64_t si;
            switch (s->strategy) {
            case QT_STRAT_CHANNEL: si = row; break;
            case QT_STRAT_GROUP: si = row * q->scols + j / g; break;
            case QT_STRAT_BLOCK: si = (row / g) * q->scols + j / g; break;
            default: si = 0; break;        /* tensor */
            }
            int8_t code = q->q[row * cols + j];
            float sc = q->scale[si], v, zp = 0.0f;
            switch (s->kind) {
            case QT_SCHEME_INT:
                v = (float)code;
                if (q->zero) zp = (float)q->zero[si];
                break;
            case QT_SCHEME_FP8: v = qt_fp8e4m3_to_f32((uint8_t)code); break;
            default:    /* e2m1: sign << 3 | magnitude index */
                v = fp4_values[code & 7];
                if (code & 8) v = -v;
                if (s->kind == QT_SCHEME_NVFP4) sc = sc / q->global_scale;
                break;
            }
            out[r * cols + j] = rnd_w(dt, (v - zp) * sc);
        }
    }
}

void qt_quant_band_stats_bf16(const struct qt_qctx *c, const uint16_t *x, int64_t row0, int64_t nrows,
                              float *buf, float *scratch, struct qt_qstats *st) {
    (void)buf;      /* every kernel reads BF16 itself now */
    band_run(c, x, 1, row0, nrows, scratch, st, NULL, NULL, NULL);
}

void qt_quant_rows_codes(const struct qt_qctx *c, const void *x, int x_bf16, int64_t row0, int64_t nrows,
                         int8_t *codes, struct qt_qtensor *qt) {
    for (int64_t r = 0; r < nrows; r += c->band) {
        int64_t n = r + c->band > nrows ? nrows - r : c->band;
        band_run(c, adv(x, x_bf16, r * c->cols), x_bf16, row0 + r, n, NULL, NULL, NULL,
                 codes + r * c->cols, qt);
    }
    if (row0 == 0) qt->global_scale = c->s.kind == QT_SCHEME_NVFP4 ? c->gs : 0.0f;
}

int qt_qtensor_init(struct qt_qtensor *out, const struct qt_scheme *s, enum qt_dtype wdtype, int64_t rows,
                    int64_t cols, int with_codes, qt_err *err) {
    memset(out, 0, sizeof *out);
    if (s->kind == QT_SCHEME_BF16) return qt_err_set(err, "quantize: bf16 keeps the tensor");
    if (qt_scheme_check_shape(s, rows, cols, err) != QT_OK) return QT_ERR;
    out->scheme = *s;
    out->wdtype = wdtype;
    out->rows = rows;
    out->cols = cols;
    switch (s->strategy) {
    case QT_STRAT_TENSOR: out->srows = out->scols = 1; break;
    case QT_STRAT_CHANNEL: out->srows = rows; out->scols = 1; break;
    case QT_STRAT_GROUP: out->srows = rows; out->scols = (cols + s->group - 1) / s->group; break;   /* last may be partial */
    case QT_STRAT_BLOCK:
        out->srows = (rows + s->group - 1) / s->group;
        out->scols = (cols + s->group - 1) / s->group;
        break;
    default: return qt_err_set(err, "quantize: no strategy");
    }
    size_t ns = (size_t)(out->srows * out->scols);
    size_t nq = (size_t)(rows * cols);
    if (with_codes) out->q = malloc(nq ? nq : 1);
    out->scale = calloc(ns, sizeof(float));
    if (s->kind == QT_SCHEME_INT && !s->sym) out->zero = calloc(ns, 1);
    if (s->kind == QT_SCHEME_NVFP4 || s->kind == QT_SCHEME_MXFP4) out->scale_code = calloc(ns, 1);
    if ((with_codes && !out->q) || !out->scale || (s->kind == QT_SCHEME_INT && !s->sym && !out->zero) ||
        ((s->kind == QT_SCHEME_NVFP4 || s->kind == QT_SCHEME_MXFP4) && !out->scale_code)) {
        qt_qtensor_free(out);
        return qt_err_set(err, "quantize: out of memory");
    }
    return QT_OK;
}

/* Whole-tensor run behind the public entry points. */
static int run_tensor(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                      enum qt_dtype wdtype, float global_amax, const float *d,
                      struct qt_qstats *st, float *deq, struct qt_qtensor *qt, qt_err *err) {
    struct qt_qctx c;
    if (qt_qctx_init(&c, s, wdtype, rows, cols, d, err) != QT_OK) return QT_ERR;
    c.global_amax = global_amax;
    if (c.needs_global) {
        qt_quant_minmax(w, rows * cols, &c.gmin, &c.gmax);
        qt_qctx_finish_observe(&c);
    }
    float *scratch = malloc((size_t)cols * sizeof(float));
    if (!scratch) return qt_err_set(err, "quantize: out of memory");
    if (st) memset(st, 0, sizeof *st);
    for (int64_t r = 0; r < rows; r += c.band) {
        int64_t n = r + c.band > rows ? rows - r : c.band;
        band_run(&c, w + r * cols, 0, r, n, scratch, st, deq ? deq + r * cols : NULL, qt ? qt->q + r * cols : NULL, qt);
    }
    free(scratch);
    if (qt) qt->global_scale = s->kind == QT_SCHEME_NVFP4 ? c.gs : 0.0f;
    return QT_OK;
}

int qt_quant_tensor(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                    enum qt_dtype wdtype, float global_amax, struct qt_qtensor *out,
                    float *deq, qt_err *err) {
    if (qt_qtensor_init(out, s, wdtype, rows, cols, 1, err) != QT_OK) return QT_ERR;
    if (run_tensor(w, rows, cols, s, wdtype, global_amax, NULL, NULL, deq, out, err) != QT_OK) {
        qt_qtensor_free(out);
        return QT_ERR;
    }
    return QT_OK;
}

void qt_qtensor_free(struct qt_qtensor *q) {
    if (!q) return;
    free(q->q);
    free(q->scale);
    free(q->zero);
    free(q->scale_code);
    q->q = NULL;
    q->scale = NULL;
    q->zero = NULL;
    q->scale_code = NULL;
}

int qt_quant_dequant(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                     enum qt_dtype wdtype, float *out, qt_err *err) {
    if (s->kind == QT_SCHEME_BF16) {
        if (out != w) memmove(out, w, (size_t)(rows * cols) * sizeof(float));
        return QT_OK;
    }
    if (out == w) {     /* bands read rows they have not written yet, except blocks */
        float *tmp = malloc((size_t)(rows * cols) * sizeof(float));
        if (!tmp) return qt_err_set(err, "quantize: out of memory");
        int rc = run_tensor(w, rows, cols, s, wdtype, 0.0f, NULL, NULL, tmp, NULL, err);
        if (rc == QT_OK) memcpy(out, tmp, (size_t)(rows * cols) * sizeof(float));
        free(tmp);
        return rc;
    }
    return run_tensor(w, rows, cols, s, wdtype, 0.0f, NULL, NULL, out, NULL, err);
}

int qt_quant_error(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                   enum qt_dtype wdtype, const float *d, struct qt_qstats *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    if (s->kind == QT_SCHEME_BF16) {
        for (int64_t i = 0; i < rows * cols; i++) out->w2 += (double)w[i] * w[i];
        if (d)
            for (int64_t i = 0; i < rows * cols; i++) out->dw2 += (double)d[i % cols] * w[i] * w[i];
        out->n = rows * cols;
        return QT_OK;
    }
    return run_tensor(w, rows, cols, s, wdtype, 0.0f, d, out, NULL, NULL, err);
}

/* ---- statistics -------------------------------------------------------- */

void qt_qstats_add(struct qt_qstats *acc, const struct qt_qstats *b) {
    acc->err2 += b->err2;
    acc->w2 += b->w2;
    if (b->max_abs > acc->max_abs) acc->max_abs = b->max_abs;
    acc->derr2 += b->derr2;
    acc->dw2 += b->dw2;
    acc->n += b->n;
}

double qt_qstats_rel_rmse(const struct qt_qstats *st) {
    return st->w2 > 0 ? sqrt(st->err2 / st->w2) : 0.0;
}

double qt_qstats_sqnr_db(const struct qt_qstats *st) {
    double r = qt_qstats_rel_rmse(st);
    return r > 0 ? -20.0 * log10(r) : INFINITY;
}

double qt_qstats_rel_out(const struct qt_qstats *st) {
    return st->dw2 > 0 ? sqrt(st->derr2 / st->dw2) : NAN;
}

/* ---- histograms -------------------------------------------------------- */

void qt_hist_free(struct qt_hist *h) {
    if (!h) return;
    free(h->counts);
    h->counts = NULL;
}

static int hist_init(struct qt_hist *h, int nbins, double lo, double hi) {
    h->nbins = nbins;
    h->lo = lo;
    h->hi = hi > lo ? hi : lo + 1e-30;
    h->counts = calloc((size_t)nbins, sizeof *h->counts);
    return h->counts ? QT_OK : QT_ERR;
}

static void hist_put(struct qt_hist *h, double v) {
    int b = (int)((v - h->lo) / (h->hi - h->lo) * h->nbins);
    b = b < 0 ? 0 : b >= h->nbins ? h->nbins - 1 : b;
    h->counts[b]++;
}

int qt_quant_histograms(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                        enum qt_dtype wdtype, int nbins, struct qt_hist *weights,
                        struct qt_hist *cell_err, qt_err *err) {
    if (nbins <= 0) return qt_err_set(err, "histogram: %d bins", nbins);
    int64_t n = rows * cols;
    if (weights) {
        float mn, mx;
        qt_quant_minmax(w, n, &mn, &mx);
        double a = fmax(fabs(mn), fabs(mx));
        if (hist_init(weights, nbins, -a, a) != QT_OK) return qt_err_set(err, "histogram: out of memory");
        for (int64_t i = 0; i < n; i++) hist_put(weights, w[i]);
    }
    if (!cell_err) return QT_OK;
    int64_t seg = s->strategy == QT_STRAT_GROUP || s->strategy == QT_STRAT_BLOCK ? s->group : cols;
    if (s->kind == QT_SCHEME_BF16) seg = cols;
    int64_t nseg = (cols + seg - 1) / seg;
    float *deq = malloc((size_t)n * sizeof(float));
    double *rms = malloc((size_t)(rows * nseg) * sizeof(double));
    if (!deq || !rms) {
        free(deq); free(rms);
        if (weights) qt_hist_free(weights);
        return qt_err_set(err, "histogram: out of memory");
    }
    if (qt_quant_dequant(w, rows, cols, s, wdtype, deq, err) != QT_OK) {
        free(deq); free(rms);
        if (weights) qt_hist_free(weights);
        return QT_ERR;
    }
    double top = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < nseg; b++) {
            int64_t c0 = b * seg, m = c0 + seg > cols ? cols - c0 : seg;
            double e2 = 0;
            for (int64_t j = c0; j < c0 + m; j++) {
                double e = (double)w[r * cols + j] - deq[r * cols + j];
                e2 += e * e;
            }
            double v = sqrt(e2 / (double)m);
            rms[r * nseg + b] = v;
            if (v > top) top = v;
        }
    if (hist_init(cell_err, nbins, 0.0, top) != QT_OK) {
        free(deq); free(rms);
        if (weights) qt_hist_free(weights);
        return qt_err_set(err, "histogram: out of memory");
    }
    for (int64_t i = 0; i < rows * nseg; i++) hist_put(cell_err, rms[i]);
    free(deq);
    free(rms);
    return QT_OK;
}
