/* quant.c — round-to-nearest quantization, bit for bit as compressed-tensors
 * 0.20 computes it on a BF16 weight (see quant.h for the arithmetic), and the
 * fused error statistics behind the preview.
 *
 * One element kernel exists twice: portable C and AVX2/FMA (chosen at run
 * time).  Both compute every element the same way and accumulate in the same
 * order (struct lanes), so they give the same figures to the last bit. */
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
    int round_t;            /* t = rnd(w / s) (everything but nvfp4) */
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
    p->round_t = 1;
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
    if (p->zp != 0.0f) t = rnd_w(p->dt, t + p->zp);
    t = t < p->lo ? p->lo : t;
    t = t > p->hi ? p->hi : t;
    float q = p->kind == EK_INT ? nearbyintf(t) : p->kind == EK_FP8 ? fp8_round(t) : fp4_round(t);
    if (q_out) *q_out = q;
    return rnd_w(p->dt, (q - p->zp) * p->s);
}

/* Portable kernel over one segment x (n) starting at column col0 of its row:
 * statistics into the row accumulator l (may be NULL), w' into out (may be
 * NULL), codes into codes (may be NULL). */
static void seg_scalar(const float *x, int64_t n, const struct kparams *p, float *out,
                       int8_t *codes, struct lanes *l, int64_t col0) {
    for (int64_t j = 0; j < n; j++) {
        float q;
        float wq = elem_deq(p, x[j], &q);
        if (out) out[j] = wq;
        if (codes) {
            if (p->kind == EK_INT) codes[j] = (int8_t)q;
            else if (p->kind == EK_FP8) codes[j] = (int8_t)qt_f32_to_fp8e4m3(q);
            else codes[j] = fp4_code(q);
        }
        if (l) {
            int64_t c = col0 + j;
            float e = x[j] - wq;
            int k = (int)(c & (NLANES - 1));
            l->e2[k] = fmaf(e, e, l->e2[k]);
            l->w2[k] = fmaf(x[j], x[j], l->w2[k]);
            float a = fabsf(e);
            if (a > l->mx[k]) l->mx[k] = a;
            if ((c & 127) == 127) lanes_spill(l);
        }
    }
}

static void minmax_scalar(const float *x, int64_t n, float *mn, float *mx) {
    float a = INFINITY, b = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        if (x[j] < a) a = x[j];
        if (x[j] > b) b = x[j];
    }
    *mn = a;
    *mx = b;
}

#ifdef QT_HAVE_X86
#define AVX2 __attribute__((target("avx2,fma")))

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

AVX2 static inline __m256 v_fp4_round(__m256 t) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, t);
    __m256 r1 = _mm256_mul_ps(v_rne(_mm256_mul_ps(a, _mm256_set1_ps(2.0f))), _mm256_set1_ps(0.5f));
    __m256 r2 = v_rne(a);
    __m256 r4 = _mm256_mul_ps(v_rne(_mm256_mul_ps(a, _mm256_set1_ps(0.5f))), _mm256_set1_ps(2.0f));
    __m256 r = _mm256_blendv_ps(r4, r2, _mm256_cmp_ps(a, _mm256_set1_ps(4.0f), _CMP_LT_OQ));
    r = _mm256_blendv_ps(r, r1, _mm256_cmp_ps(a, _mm256_set1_ps(2.0f), _CMP_LT_OQ));
    return _mm256_or_ps(r, _mm256_and_ps(sign, t));
}

#define INLINE __attribute__((always_inline)) inline

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
 * Checked exhaustively against division for all bf16 pairs. */
AVX2 static INLINE __m256 v_div(__m256 x, __m256 s, __m256 y, int exact) {
    if (exact) return _mm256_div_ps(x, s);
    __m256 q0 = _mm256_mul_ps(x, y);
    __asm__("" : "+x"(q0));     /* no fusing of q0 into the residual */
    __m256 r = _mm256_fnmadd_ps(q0, s, x);
    return _mm256_fmadd_ps(r, y, q0);
}

/* w' of 8 elements. */
AVX2 static INLINE __m256 v_deq(__m256 vx, __m256 vs, __m256 vy, __m256 vzp, __m256 vlo, __m256 vhi,
                                int exact, int kind, int bf, int rt, int zp) {
    /* With x and s both bf16 and t rounded to bf16, x * RN(1/s) rounds like
     * x / s: a quotient of two 8-bit significands lies at least 2^-17
     * (relative) from any bf16 midpoint, beyond the product's 2^-23 error
     * (and checked exhaustively over all bf16 pairs). */
    __m256 t = rt && !exact ? _mm256_mul_ps(vx, vy) : v_div(vx, vs, vy, exact);
    if (rt) t = v_rnd_bf16(t);
    if (zp) {
        t = _mm256_add_ps(t, vzp);
        if (bf) t = v_rnd_bf16(t);
    }
    t = _mm256_min_ps(_mm256_max_ps(t, vlo), vhi);
    __m256 q = kind == EK_INT ? v_rne(t) : kind == EK_FP8 ? v_fp8_round(t) : v_fp4_round(t);
    __m256 wq = _mm256_mul_ps(zp ? _mm256_sub_ps(q, vzp) : q, vs);
    return bf ? v_rnd_bf16(wq) : wq;
}

/* d[0..7] += (double)v, lane by lane. */
AVX2 static INLINE void v_spill(double *d, __m256 v) {
    _mm256_storeu_pd(d, _mm256_add_pd(_mm256_loadu_pd(d), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(d + 4, _mm256_add_pd(_mm256_loadu_pd(d + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

/* The AVX2 twin of seg_scalar without codes.  kind, bf (work dtype bf16),
 * rt (round w/s to bf16) and zp are constants in the specialized callers.
 * col0 is a multiple of 8; the vector at column c feeds accumulator A when
 * c % 16 == 0, B when c % 16 == 8. */
AVX2 static INLINE void seg_avx2_t(const void *x, int bf16src, int64_t n, const struct kparams *p,
                                   float *out, struct lanes *l, int64_t col0,
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
    if (!out && l && !(col0 & 8)) {
        for (; j + 16 <= n; j += 16) {
            __m256 xa = v_load(x, bf16src, j), xb = v_load(x, bf16src, j + 8);
            __m256 qa = v_deq(xa, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp);
            __m256 qb = v_deq(xb, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp);
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
        __m256 vx = j + 8 <= n ? v_load(x, bf16src, j) : v_load_tail(x, bf16src, j, n - j);
        __m256 wq = v_deq(vx, vs, vy, vzp, vlo, vhi, exact, kind, bf, rt, zp);
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

/* Specializations for the preview's hot cases (statistics only, bf16). */
#define SEG_SPEC(name, src, kind, rt, zp)                                                   \
    AVX2 static void name(const void *x, int64_t n, const struct kparams *p, struct lanes *l, \
                          int64_t col0) {                                                   \
        seg_avx2_t(x, src, n, p, NULL, l, col0, kind, 1, rt, zp, 0);                        \
    }
SEG_SPEC(seg_int_f, 0, EK_INT, 1, 0)
SEG_SPEC(seg_int_h, 1, EK_INT, 1, 0)
SEG_SPEC(seg_intz_f, 0, EK_INT, 1, 1)
SEG_SPEC(seg_intz_h, 1, EK_INT, 1, 1)
SEG_SPEC(seg_fp8_f, 0, EK_FP8, 1, 0)
SEG_SPEC(seg_fp8_h, 1, EK_FP8, 1, 0)
SEG_SPEC(seg_mx_f, 0, EK_FP4, 1, 0)
SEG_SPEC(seg_mx_h, 1, EK_FP4, 1, 0)
SEG_SPEC(seg_nv_f, 0, EK_FP4, 0, 0)
SEG_SPEC(seg_nv_h, 1, EK_FP4, 0, 0)

AVX2 static void seg_avx2_any(const void *x, int bf16src, int64_t n, const struct kparams *p,
                              float *out, struct lanes *l, int64_t col0) {
    seg_avx2_t(x, bf16src, n, p, out, l, col0, p->kind, p->rnd_bf16, p->round_t && p->rnd_bf16,
               p->zp != 0.0f, !(p->s >= 0x1p-90f && p->s <= 0x1p90f));
}

static void seg_avx2(const void *x, int bf16src, int64_t n, const struct kparams *p, float *out,
                     struct lanes *l, int64_t col0) {
    if (!out && l && p->rnd_bf16 && p->s >= 0x1p-90f && p->s <= 0x1p90f) {
        int zp = p->zp != 0.0f;
        void (*f)(const void *, int64_t, const struct kparams *, struct lanes *, int64_t);
        if (p->kind == EK_INT) f = zp ? (bf16src ? seg_intz_h : seg_intz_f) : (bf16src ? seg_int_h : seg_int_f);
        else if (p->kind == EK_FP8) f = bf16src ? seg_fp8_h : seg_fp8_f;
        else if (p->round_t) f = bf16src ? seg_mx_h : seg_mx_f;
        else f = bf16src ? seg_nv_h : seg_nv_f;
        f(x, n, p, l, col0);
        return;
    }
    seg_avx2_any(x, bf16src, n, p, out, l, col0);
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

AVX2 static void minmax_bf16_avx2(const uint16_t *x, int64_t n, float *mn, float *mx) {
    __m256 a = _mm256_set1_ps(INFINITY), b = _mm256_set1_ps(-INFINITY);
    __m256 a2 = a, b2 = b;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 v = v_load(x, 1, j), w = v_load(x, 1, j + 8);
        a = _mm256_min_ps(a, v);
        b = _mm256_max_ps(b, v);
        a2 = _mm256_min_ps(a2, w);
        b2 = _mm256_max_ps(b2, w);
    }
    float r = v_hmin(_mm256_min_ps(a, a2)), s = v_hmax(_mm256_max_ps(b, b2));
    for (; j < n; j++) {
        uint16_t h;
        memcpy(&h, x + j, 2);
        float f = qt_bf16_to_f32(h);
        if (f < r) r = f;
        if (f > s) s = f;
    }
    *mn = r;
    *mx = s;
}

AVX2 static void minmax_avx2(const float *x, int64_t n, float *mn, float *mx) {
    __m256 a = _mm256_set1_ps(INFINITY), b = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        a = _mm256_min_ps(a, v);
        b = _mm256_max_ps(b, v);
    }
    float r = v_hmin(a), s = v_hmax(b);
    for (; j < n; j++) {
        if (x[j] < r) r = x[j];
        if (x[j] > s) s = x[j];
    }
    *mn = r;
    *mx = s;
}
#endif

/* ---- dispatch ---------------------------------------------------------- */

static int simd_wanted = 1;

int qt_quant_set_simd(int on) {
    int old = simd_wanted;
    simd_wanted = on;
    return old;
}

int qt_quant_simd_active(void) {
#ifdef QT_HAVE_X86
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return simd_wanted && have;
#else
    return 0;
#endif
}

void qt_quant_minmax(const float *x, int64_t n, float *mn, float *mx) {
#ifdef QT_HAVE_X86
    if (qt_quant_simd_active()) { minmax_avx2(x, n, mn, mx); return; }
#endif
    minmax_scalar(x, n, mn, mx);
}

/* The AVX2 kernel needs segments that start on a multiple of 8 columns and
 * fill whole vectors unless they end the row. */
static void seg_run(const float *x, int64_t n, const struct kparams *p, float *out, int8_t *codes,
                    struct lanes *l, int64_t col0, int64_t cols) {
#ifdef QT_HAVE_X86
    if (!codes && p->dt != QT_DT_F16 && qt_quant_simd_active() && (col0 & 7) == 0 &&
        ((n & 7) == 0 || col0 + n == cols)) {
        seg_avx2(x, 0, n, p, out, l, col0);
        return;
    }
#endif
    seg_scalar(x, n, p, out, codes, l, col0);
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

/* Runs a band: statistics into st (may be NULL), w' rows into deq (nrows,
 * cols) (may be NULL), codes and scales into qt (may be NULL). */
static void band_run(const struct qt_qctx *c, const float *x, int64_t row0, int64_t nrows,
                     float *scratch, struct qt_qstats *st, float *deq, struct qt_qtensor *qt) {
    const int64_t cols = c->cols;
    int64_t seg;                         /* columns per cell segment */
    switch (c->s.strategy) {
    case QT_STRAT_GROUP: seg = c->s.group; break;
    case QT_STRAT_BLOCK: seg = c->s.group; break;
    default: seg = cols; break;
    }
    int64_t nseg = (cols + seg - 1) / seg;
    struct kparams tp, *bp = NULL;
    if (c->s.strategy == QT_STRAT_TENSOR) cell_params(c, c->gmin, c->gmax, &tp);
    if (c->s.strategy == QT_STRAT_BLOCK) {
        bp = malloc((size_t)nseg * sizeof *bp);
        if (!bp) return;
        for (int64_t b = 0; b < nseg; b++) {
            int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
            float mn = INFINITY, mx = -INFINITY;
            for (int64_t r = 0; r < nrows; r++) {
                float a, z;
                qt_quant_minmax(x + r * cols + c0, n, &a, &z);
                if (a < mn) mn = a;
                if (z > mx) mx = z;
            }
            cell_params(c, mn, mx, &bp[b]);
        }
    }
    struct lanes l;
    memset(&l, 0, sizeof l);
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = x + r * cols;
        float *out = deq ? deq + r * cols : (c->d ? scratch : NULL);
        for (int64_t b = 0; b < nseg; b++) {
            int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
            struct kparams gp;
            const struct kparams *p;
            if (bp) p = &bp[b];
            else if (c->s.strategy == QT_STRAT_TENSOR) p = &tp;
            else {
                float mn, mx;
                qt_quant_minmax(xr + c0, n, &mn, &mx);
                cell_params(c, mn, mx, &gp);
                p = &gp;
            }
            int8_t *codes = qt ? qt->q + (row0 + r) * cols + c0 : NULL;
            seg_run(xr + c0, n, p, out ? out + c0 : NULL, codes, st ? &l : NULL, c0, cols);
            if (qt && (r == 0 || !bp) && (c->s.strategy != QT_STRAT_TENSOR || row0 + r == 0)) {
                int64_t si = c->s.strategy == QT_STRAT_TENSOR ? 0
                           : bp ? (row0 / c->band) * qt->scols + b
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
                double e = (double)xr[j] - (double)out[j];
                de += (double)c->d[j] * e * e;
                dw += (double)c->d[j] * (double)xr[j] * (double)xr[j];
            }
            st->derr2 += de;
            st->dw2 += dw;
        }
    }
    if (st) st->n += nrows * cols;
    free(bp);
}

void qt_quant_band_stats(const struct qt_qctx *c, const float *x, int64_t row0, int64_t nrows,
                         float *scratch, struct qt_qstats *st) {
    band_run(c, x, row0, nrows, scratch, st, NULL, NULL);
}

void qt_quant_band(const struct qt_qctx *c, const float *x, int64_t row0, int64_t nrows, float *scratch,
                   struct qt_qstats *st, float *deq, struct qt_qtensor *qt) {
    band_run(c, x, row0, nrows, scratch, st, deq, qt);
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

void qt_quant_minmax_bf16(const uint16_t *x, int64_t n, float *mn, float *mx) {
#ifdef QT_HAVE_X86
    if (qt_quant_simd_active()) { minmax_bf16_avx2(x, n, mn, mx); return; }
#endif
    float a = INFINITY, b = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        uint16_t h;
        memcpy(&h, x + j, 2);
        float f = qt_bf16_to_f32(h);
        if (f < a) a = f;
        if (f > b) b = f;
    }
    *mn = a;
    *mx = b;
}

void qt_quant_band_stats_bf16(const struct qt_qctx *c, const uint16_t *x, int64_t row0, int64_t nrows,
                              float *buf, float *scratch, struct qt_qstats *st) {
    const int64_t cols = c->cols;
#ifdef QT_HAVE_X86
    /* Straight from BF16: no widened copy of the rows. */
    int64_t seg = c->s.strategy == QT_STRAT_GROUP ? c->s.group : cols;
    int64_t nseg = (cols + seg - 1) / seg;
    struct kparams stackp[256], *gp = nseg <= 256 ? stackp : malloc((size_t)nseg * sizeof *gp);
    if (gp && qt_quant_simd_active() && c->wdtype == QT_DT_BF16 && !c->d && (seg % 8 == 0 || seg == cols) &&
        (c->s.strategy == QT_STRAT_GROUP || c->s.strategy == QT_STRAT_CHANNEL ||
         c->s.strategy == QT_STRAT_TENSOR)) {
        /* Per row: first every cell's parameters (independent, so their
         * reductions and divisions overlap), then the kernels. */
        struct kparams tp;
        struct lanes l;
        memset(&l, 0, sizeof l);
        if (c->s.strategy == QT_STRAT_TENSOR) cell_params(c, c->gmin, c->gmax, &tp);
        for (int64_t r = 0; r < nrows; r++) {
            const uint16_t *xr = x + r * cols;
            if (c->s.strategy != QT_STRAT_TENSOR)
                for (int64_t b = 0; b < nseg; b++) {
                    int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
                    float mn, mx;
                    minmax_bf16_avx2(xr + c0, n, &mn, &mx);
                    cell_params(c, mn, mx, &gp[b]);
                }
            for (int64_t b = 0; b < nseg; b++) {
                int64_t c0 = b * seg, n = c0 + seg > cols ? cols - c0 : seg;
                seg_avx2(xr + c0, 1, n, c->s.strategy == QT_STRAT_TENSOR ? &tp : &gp[b], NULL, &l, c0);
            }
            lanes_done(&l, st);
        }
        if (gp != stackp) free(gp);
        st->n += nrows * cols;
        return;
    }
    if (gp != stackp) free(gp);
#endif
    for (int64_t i = 0; i < nrows * cols; i++) {
        uint16_t h;
        memcpy(&h, x + i, 2);
        buf[i] = qt_bf16_to_f32(h);
    }
    band_run(c, buf, row0, nrows, scratch, st, NULL, NULL);
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
        band_run(&c, w + r * cols, r, n, scratch, st, deq ? deq + r * cols : NULL, qt);
    }
    free(scratch);
    if (qt) qt->global_scale = s->kind == QT_SCHEME_NVFP4 ? c.gs : 0.0f;
    return QT_OK;
}

int qt_quant_tensor(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                    enum qt_dtype wdtype, float global_amax, struct qt_qtensor *out,
                    float *deq, qt_err *err) {
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
    out->q = malloc((size_t)(rows * cols));
    out->scale = calloc(ns, sizeof(float));
    if (s->kind == QT_SCHEME_INT && !s->sym) out->zero = calloc(ns, 1);
    if (s->kind == QT_SCHEME_NVFP4 || s->kind == QT_SCHEME_MXFP4) out->scale_code = calloc(ns, 1);
    if (!out->q || !out->scale || (s->kind == QT_SCHEME_INT && !s->sym && !out->zero) ||
        ((s->kind == QT_SCHEME_NVFP4 || s->kind == QT_SCHEME_MXFP4) && !out->scale_code)) {
        qt_qtensor_free(out);
        return qt_err_set(err, "quantize: out of memory");
    }
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

/* ---- sizes ------------------------------------------------------------- */

int64_t qt_quant_bytes(const struct qt_scheme *s, int64_t rows, int64_t cols, enum qt_dtype wdtype) {
    int64_t wsz = (int64_t)qt_dtype_size(wdtype), n = rows * cols;
    if (wsz == 0) wsz = 2;
    int64_t nscales;
    switch (s->strategy) {
    case QT_STRAT_TENSOR: nscales = 1; break;
    case QT_STRAT_CHANNEL: nscales = rows; break;
    case QT_STRAT_GROUP: nscales = rows * ((cols + s->group - 1) / s->group); break;
    case QT_STRAT_BLOCK:
        nscales = ((rows + s->group - 1) / s->group) * ((cols + s->group - 1) / s->group);
        break;
    default: nscales = 0; break;
    }
    switch (s->kind) {
    case QT_SCHEME_BF16: return n * wsz;
    case QT_SCHEME_INT: {
        int64_t b = s->bits, bytes;
        if (!strcmp(qt_scheme_ct_format(s), "int-quantized")) {
            bytes = n;                                   /* I8 weight */
        } else {
            bytes = rows * ((cols * b + 31) / 32) * 4;   /* I32 weight_packed */
            bytes += 2 * 8;                              /* I64 weight_shape */
        }
        bytes += nscales * wsz;
        if (!s->sym) {                                   /* I32 zero points packed along rows */
            int64_t zr = s->strategy == QT_STRAT_TENSOR ? 1 : rows;
            int64_t zc = nscales / (s->strategy == QT_STRAT_TENSOR ? 1 : rows);
            bytes += ((zr * b + 31) / 32) * 4 * zc;
        }
        return bytes;
    }
    case QT_SCHEME_FP8:
        return n + nscales * wsz + (s->act == QT_ACT_FP8_TENSOR ? wsz : 0);
    case QT_SCHEME_NVFP4:
        return n / 2 + nscales + 4 + (s->act == QT_ACT_NVFP4 ? 4 : 0);
    case QT_SCHEME_MXFP4:
        return n / 2 + nscales;
    }
    return n * wsz;
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
