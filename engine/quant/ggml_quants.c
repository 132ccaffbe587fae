/* ggml_quants.c — ggml's block formats, quantized the way ggml's reference
 * quantizer does it so that the bytes are identical.
 *
 * Exactness is about arithmetic order: every search below evaluates its sums
 * and products in the order ggml's reference does (float32, no fused
 * multiply-add, left to right), because a changed rounding flips a level or a
 * scale and then a byte.  The structure is qtune's own: blocks are written
 * into byte buffers at the format's offsets (ggml-common.h), fp16 through
 * base/dtype, and the searches are shared by the types that use them.
 *
 * The searches (names say what they fit):
 *   fit_sym        scale s, levels l in [-nmax, nmax-1]: min Σ w (x - s l)²,
 *                  trying 19 candidate inverse scales around -nmax/max
 *   fit_sym_q3     the same for Q3_K without weights: coordinate descent
 *   fit_affine     scale s, offset m ≤ 0, levels l in [0, nmax]:
 *                  min Σ w |x - (s l + m)|^p, a sweep of inverse scales
 *   fit_pos        non-negative values (super-block scales) to [0, nmax]
 *   fit_nl         IQ4's non-linear 16-level grid
 */
#include "quant/ggml_quants.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "base/dtype.h"

#define SUPER 256             /* QK_K: super-block of the K and IQ4_XS types */
#define EPS_ALL_ZERO 1e-15f   /* a group whose largest |x| is below this is zero */

static const struct qt_ggml_type_info type_rows[] = {
#define QT_GGML_ROW(id, num, name, blk, bytes, w) {num, name, blk, bytes, w},
    QT_GGML_TYPES(QT_GGML_ROW)
#undef QT_GGML_ROW
};

const struct qt_ggml_type_info *qt_ggml_type_info(int id) {
    for (size_t i = 0; i < sizeof type_rows / sizeof type_rows[0]; i++)
        if (type_rows[i].id == id) return &type_rows[i];
    return NULL;
}

int qt_ggml_type_parse(const char *name) {
    if (!name) return QT_GGML_NONE;
    for (size_t i = 0; i < sizeof type_rows / sizeof type_rows[0]; i++) {
        const char *a = type_rows[i].name, *b = name;
        while (*a && *b && toupper((unsigned char)*a) == toupper((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return type_rows[i].id;
    }
    return QT_GGML_NONE;
}

const char *qt_ggml_type_name(int id) {
    const struct qt_ggml_type_info *t = qt_ggml_type_info(id);
    return t ? t->name : "?";
}

size_t qt_ggml_row_size(int id, int64_t ncols) {
    const struct qt_ggml_type_info *t = qt_ggml_type_info(id);
    if (!t || ncols < 0 || ncols % t->block) return 0;
    return (size_t)(ncols / t->block) * (size_t)t->bytes;
}

double qt_ggml_bpw(int id) {
    const struct qt_ggml_type_info *t = qt_ggml_type_info(id);
    return t ? 8.0 * t->bytes / t->block : 0;
}

/* ---- small helpers ------------------------------------------------------ */

/* Round to nearest, ties to even, for |v| < 2^22: ggml's nearest_int. */
static inline int rnd(float v) {
    float b = v + 12582912.f;
    int32_t i;
    memcpy(&i, &b, 4);
    return (i & 0x007fffff) - 0x00400000;
}
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline void put_h(uint8_t *p, float v) {
    uint16_t h = qt_f32_to_f16(v);
    p[0] = (uint8_t)h; p[1] = (uint8_t)(h >> 8);
}
static inline float get_h(const uint8_t *p) { return qt_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
/* fp16 round trip: the value a reader of the stored scale sees. */
static inline float via_h(const uint8_t *p) { return get_h(p); }

/* ---- the searches ------------------------------------------------------- */

/* Symmetric levels for n values: L[i] = l + nmax with l in [-nmax, nmax-1],
 * weights w (NULL: x²).  Returns the scale. */
static float fit_sym(int n, int nmax, const float *x, int8_t *L, const float *w) {
    float amax = 0, vmax = 0;
    for (int i = 0; i < n; ++i) {
        float a = fabsf(x[i]);
        if (a > amax) { amax = a; vmax = x[i]; }
    }
    if (amax < EPS_ALL_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float inv = -nmax / vmax;
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = clampi(rnd(inv * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float wi = w ? w[i] : x[i] * x[i];
        slx += wi * x[i] * l;
        sl2 += wi * l * l;
    }
    float scale = sl2 ? slx / sl2 : 0.0f;
    float best = scale * slx;
    for (int k = -9; k <= 9; ++k) {
        if (!k) continue;
        inv = -(nmax + 0.1f * k) / vmax;
        float tx = 0, t2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = clampi(rnd(inv * x[i]), -nmax, nmax - 1);
            float wi = w ? w[i] : x[i] * x[i];
            tx += wi * x[i] * l;
            t2 += wi * l * l;
        }
        if (t2 > 0 && tx * tx > best * t2) {
            for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clampi(rnd(inv * x[i]), -nmax, nmax - 1));
            scale = tx / t2;
            best = scale * tx;
        }
    }
    return scale;
}

/* Q3_K's unweighted symmetric fit: start from the max-based levels, then up
 * to five sweeps that move one level at a time while the x²-weighted fit
 * improves.  L[i] in [0, 2·nmax). */
static float fit_sym_q3(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0, vmax = 0;
    for (int i = 0; i < n; ++i) {
        float a = fabsf(x[i]);
        if (a > amax) { amax = a; vmax = x[i]; }
    }
    if (amax < EPS_ALL_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float inv = -nmax / vmax;
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = clampi(rnd(inv * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    for (int pass = 0; pass < 5; ++pass) {
        int moved = 0;
        for (int i = 0; i < n; ++i) {
            float w = x[i] * x[i];
            float tx = slx - w * x[i] * L[i];
            if (tx > 0) {
                float t2 = sl2 - w * L[i] * L[i];
                int nl = clampi(rnd(x[i] * t2 / tx), -nmax, nmax - 1);
                if (nl != L[i]) {
                    tx += w * x[i] * nl;
                    t2 += w * nl * nl;
                    if (t2 > 0 && tx * tx * sl2 > slx * slx * t2) {
                        L[i] = (int8_t)nl; slx = tx; sl2 = t2;
                        ++moved;
                    }
                }
            }
        }
        if (!moved) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return sl2 > 0.0f ? slx / sl2 : 0.0f;
}

/* Affine levels: x ≈ scale·L + offset with offset ≤ 0, L in [0, nmax].
 * w: weights (NULL: x²); the sweep tries inverse scales
 * (rmin + rdelta·k + nmax)/(max - min) for k = 0..nstep, each refit by
 * weighted least squares, keeping the lowest Σ w·|err|^p (p = 1 with
 * use_abs, else 2).  *neg_offset receives -offset; returns the scale. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_offset,
                        uint8_t *tmp, float rmin, float rdelta, int nstep, int use_abs) {
    float lo = x[0], hi = x[0];
    float sw = w ? w[0] : x[0] * x[0];
    float sx = sw * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        float wi = w ? w[i] : x[i] * x[i];
        sw += wi;
        sx += wi * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi <= lo) {
        memset(L, 0, (size_t)n);
        *neg_offset = -lo;
        return 0.f;
    }
    float inv = nmax / (hi - lo);
    float scale = 1 / inv;
    float best = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = (uint8_t)clampi(rnd(inv * (x[i] - lo)), 0, nmax);
        float e = scale * L[i] + lo - x[i];
        e = use_abs ? fabsf(e) : e * e;
        float wi = w ? w[i] : x[i] * x[i];
        best += wi * e;
    }
    if (nstep < 1) {
        *neg_offset = -lo;
        return scale;
    }
    for (int k = 0; k <= nstep; ++k) {
        inv = (rmin + rdelta * k + nmax) / (hi - lo);
        float s1 = 0, s2 = 0, sxl = 0;
        for (int i = 0; i < n; ++i) {
            int l = clampi(rnd(inv * (x[i] - lo)), 0, nmax);
            tmp[i] = (uint8_t)l;
            float wi = w ? w[i] : x[i] * x[i];
            s1 += wi * l;
            s2 += wi * l * l;
            sxl += wi * l * x[i];
        }
        float det = sw * s2 - s1 * s1;
        if (det > 0) {
            float ts = (sw * sxl - sx * s1) / det;
            float tm = (s2 * sx - s1 * sxl) / det;
            if (tm > 0) {
                tm = 0;
                ts = sxl / s2;
            }
            float err = 0;
            for (int i = 0; i < n; ++i) {
                float e = ts * tmp[i] + tm - x[i];
                e = use_abs ? fabsf(e) : e * e;
                float wi = w ? w[i] : x[i] * x[i];
                err += wi * e;
            }
            if (err < best) {
                memcpy(L, tmp, (size_t)n);
                best = err;
                scale = ts;
                lo = tm;
            }
        }
    }
    *neg_offset = -lo;
    return scale;
}

/* Non-negative values (the sub-block scales of a super-block) to levels in
 * [0, nmax] under weights w: nine trial inverse scales, then up to five
 * sweeps of single-level moves.  Returns the scale. */
static float fit_pos(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float vmax = 0;
    for (int i = 0; i < n; ++i) vmax = vmax > x[i] ? vmax : x[i];
    if (vmax < EPS_ALL_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float inv = nmax / vmax;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)rnd(inv * x[i]);
    float scale = 1 / inv;
    float best = 0;
    for (int i = 0; i < n; ++i) {
        float e = x[i] - scale * L[i];
        best += w[i] * e * e;
    }
    for (int k = -4; k <= 4; ++k) {
        if (!k) continue;
        float ik = (0.1f * k + nmax) / vmax;
        float sk = 1 / ik;
        float err = 0;
        for (int i = 0; i < n; ++i) {
            int l = rnd(ik * x[i]);
            if (l > nmax) l = nmax;
            float e = x[i] - sk * l;
            err += w[i] * e * e;
        }
        if (err < best) {
            best = err;
            inv = ik;
        }
    }
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = rnd(inv * x[i]);
        if (l > nmax) l = nmax;
        L[i] = (uint8_t)l;
        slx += w[i] * x[i] * l;
        sl2 += w[i] * l * l;
    }
    for (int pass = 0; pass < 5; ++pass) {
        int moved = 0;
        for (int i = 0; i < n; ++i) {
            float tx = slx - w[i] * x[i] * L[i];
            float t2 = sl2 - w[i] * L[i] * L[i];
            if (tx > 0 && t2 > 0) {
                int nl = rnd(x[i] * t2 / tx);
                if (nl > nmax) nl = nmax;
                if (nl != L[i]) {
                    tx += w[i] * x[i] * nl;
                    t2 += w[i] * nl * nl;
                    if (tx * tx * sl2 > slx * slx * t2) {
                        L[i] = (uint8_t)nl; slx = tx; sl2 = t2;
                        ++moved;
                    }
                }
            }
        }
        if (!moved) break;
    }
    return sl2 > 0.0f ? slx / sl2 : 0.0f;
}

/* Packs four 2-bit planes: byte l of each 32-byte group holds levels
 * l, l+32, l+64, l+96 of a 128-value half. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < SUPER; h += 128)
        for (int l = 0; l < 32; ++l)
            qs[h / 4 + l] = (uint8_t)(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
}

/* ---- legacy 32-element types ------------------------------------------- */

/* Q8_0: d = amax/127, q = round(x/d).  Block: d f16, qs int8[32]. */
static void q8_0_row(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        put_h(b, d);
        for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* Q4_0 / Q5_0 without weights: d = max/-2^(bits-1) from the signed extreme.
 * Q4_0 block: d, qs[16] (low nibble j, high nibble j+16).  Q5_0 adds the
 * fifth bits as a little-endian u32 after d. */
static void q4_0_row(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 18) {
        float amax = 0, vmax = 0;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); vmax = x[j]; }
        const float d = vmax / -8, id = d ? 1.0f / d : 0.0f;
        put_h(b, d);
        for (int j = 0; j < 16; ++j) {
            int a = (int8_t)(x[j] * id + 8.5f), c = (int8_t)(x[j + 16] * id + 8.5f);
            b[2 + j] = (uint8_t)((a < 15 ? a : 15) | (c < 15 ? c : 15) << 4);
        }
    }
}

static void put_q5(uint8_t *qh_at, uint8_t *qs, const uint8_t *L) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= ((L[j] & 0x10u) >> 4) << j;
        qh |= ((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh_at[k] = (uint8_t)(qh >> (8 * k));
}

static void q5_0_row(const float *x, uint8_t *b, int64_t nb) {
    uint8_t L[32];
    for (int64_t i = 0; i < nb; i++, x += 32, b += 22) {
        float amax = 0, vmax = 0;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); vmax = x[j]; }
        const float d = vmax / -16, id = d ? 1.0f / d : 0.0f;
        put_h(b, d);
        for (int j = 0; j < 32; ++j) {
            int a = (int8_t)(x[j] * id + 16.5f);
            L[j] = (uint8_t)(a < 31 ? a : 31);
        }
        put_q5(b + 2, b + 6, L);
    }
}

/* Q4_1 / Q5_1 without weights: min and (max-min)/(2^bits - 1). */
static void q4_1_row(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, b += 20) {
        float lo = 3.402823466e+38f, hi = -3.402823466e+38f;
        for (int j = 0; j < 32; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        const float d = (hi - lo) / 15, id = d ? 1.0f / d : 0.0f;
        put_h(b, d);
        put_h(b + 2, lo);
        for (int j = 0; j < 16; ++j) {
            int a = (int8_t)((x[j] - lo) * id + 0.5f), c = (int8_t)((x[j + 16] - lo) * id + 0.5f);
            b[4 + j] = (uint8_t)((a < 15 ? a : 15) | (c < 15 ? c : 15) << 4);
        }
    }
}

static void q5_1_row(const float *x, uint8_t *b, int64_t nb) {
    uint8_t L[32];
    for (int64_t i = 0; i < nb; i++, x += 32, b += 24) {
        float lo = 3.402823466e+38f, hi = -3.402823466e+38f;
        for (int j = 0; j < 32; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        const float d = (hi - lo) / 31, id = d ? 1.0f / d : 0.0f;
        put_h(b, d);
        put_h(b + 2, lo);
        for (int j = 0; j < 32; ++j) L[j] = (uint8_t)((x[j] - lo) * id + 0.5f);
        put_q5(b + 4, b + 8, L);
    }
}

/* With importance weights the legacy types fit each block by weighted least
 * squares; the weights are imatrix[j]·sqrt(σ² + x_j²), σ² the row's mean x². */
static float row_sigma2(const float *x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
    return s / n;
}

static void legacy_weighted_row(int id, const float *x, uint8_t *b, int64_t ncols, const float *qw) {
    const float s2 = row_sigma2(x, ncols);
    float w[32];
    int8_t Ls[32];
    uint8_t L[32], tmp[32];
    for (int64_t ib = 0; ib < ncols / 32; ++ib) {
        const float *xb = x + 32 * ib, *q = qw + 32 * ib;
        for (int j = 0; j < 32; ++j) w[j] = q[j] * sqrtf(s2 + xb[j] * xb[j]);
        if (id == QT_GGML_Q4_0) {
            uint8_t *o = b + 18 * ib;
            put_h(o, fit_sym(32, 8, xb, Ls, w));
            for (int j = 0; j < 16; ++j) o[2 + j] = (uint8_t)(Ls[j] | (Ls[j + 16] << 4));
        } else if (id == QT_GGML_Q5_0) {
            uint8_t *o = b + 22 * ib;
            put_h(o, fit_sym(32, 16, xb, Ls, w));
            for (int j = 0; j < 32; ++j) L[j] = (uint8_t)Ls[j];
            put_q5(o + 2, o + 6, L);
        } else {
            const int five = id == QT_GGML_Q5_1;
            uint8_t *o = b + (five ? 24 : 20) * ib;
            float mneg;
            float d = fit_affine(32, five ? 31 : 15, xb, w, L, &mneg, tmp, -0.9f, 0.05f, 36, 0);
            put_h(o, d);
            put_h(o + 2, -mneg);
            if (five) put_q5(o + 4, o + 8, L);
            else for (int j = 0; j < 16; ++j) o[4 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
    }
}

/* ---- K types (256-element super-blocks) --------------------------------- */

/* Q2_K block: scales[16] (low nibble scale, high nibble min), qs[64],
 * d f16, dmin f16.  16 sub-blocks of 16. */
static void q2_k_block(const float *x, uint8_t *b, const float *qw) {
    uint8_t L[SUPER], tmp[16];
    float sc[16], mn[16], w[16];
    uint8_t *scales = b, *qs = b + 16, *dd = b + 80, *dm = b + 82;
    if (!qw) {
        float max_sc = 0, max_mn = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) w[l] = fabsf(x[16 * j + l]);
            sc[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mn[j], tmp, -0.5f, 0.1f, 15, 1);
            if (sc[j] > max_sc) max_sc = sc[j];
            if (mn[j] > max_mn) max_mn = mn[j];
        }
        if (max_sc > 0) {
            float inv = 15.f / max_sc;
            for (int j = 0; j < 16; ++j) scales[j] = (uint8_t)rnd(inv * sc[j]);
            put_h(dd, max_sc / 15.f);
        } else {
            memset(scales, 0, 16);
            put_h(dd, 0.f);
        }
        if (max_mn > 0) {
            float inv = 15.f / max_mn;
            for (int j = 0; j < 16; ++j) scales[j] |= (uint8_t)(rnd(inv * mn[j]) << 4);
            put_h(dm, max_mn / 15.f);
        } else {
            put_h(dm, 0.f);
        }
    } else {
        float sw[16];
        uint8_t Ls[16], Lm[16];
        float sx2 = 0;
        for (int j = 0; j < SUPER; ++j) sx2 += x[j] * x[j];
        const float s2 = sx2 / SUPER;
        for (int j = 0; j < 16; ++j) {
            const float *q = qw + 16 * j;
            for (int l = 0; l < 16; ++l) w[l] = q[l] * sqrtf(s2 + x[16 * j + l] * x[16 * j + l]);
            sw[j] = 0;
            for (int l = 0; l < 16; ++l) sw[j] += w[l];
            sc[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mn[j], tmp, -0.9f, 0.05f, 36, 0);
        }
        put_h(dd, fit_pos(16, 15, sc, Ls, sw));
        put_h(dm, fit_pos(16, 15, mn, Lm, sw));
        for (int j = 0; j < 16; ++j) scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    }
    const float D = via_h(dd), M = via_h(dm);
    for (int j = 0; j < 16; ++j) {
        const float d = D * (scales[j] & 0xF);
        if (!d) continue;
        const float m = M * (scales[j] >> 4);
        for (int l = 0; l < 16; ++l) L[16 * j + l] = (uint8_t)clampi(rnd((x[16 * j + l] + m) / d), 0, 3);
    }
    pack_2bit(L, qs);
}

/* Q3_K block: hmask[32], qs[64], scales[12] (6-bit, offset 32), d f16. */
static void put_q3_scale(uint8_t *s, int j, int l) {
    if (j < 8) s[j] = (uint8_t)(l & 0xF);
    else s[j - 8] |= (uint8_t)((l & 0xF) << 4);
    l >>= 4;
    s[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
}
static int get_q3_scale(const uint8_t *s, int j) {
    int8_t v = (int8_t)(j < 8 ? s[j] & 0xF : s[j - 8] >> 4);
    return (int8_t)((v | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
}

static void q3_k_block(const float *x, uint8_t *b, const float *qw) {
    int8_t L[SUPER];
    float sc[16];
    uint8_t *hmask = b, *qs = b + 32, *scales = b + 96, *dd = b + 108;
    memset(scales, 0, 12);
    if (!qw) {
        float amax = 0, max_sc = 0;
        for (int j = 0; j < 16; ++j) {
            sc[j] = fit_sym_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(sc[j]) > amax) { amax = fabsf(sc[j]); max_sc = sc[j]; }
        }
        if (max_sc) {
            float inv = -32.f / max_sc;
            for (int j = 0; j < 16; ++j) {
                int8_t l = (int8_t)rnd(inv * sc[j]);
                l = (int8_t)(clampi(l, -32, 31) + 32);
                put_q3_scale(scales, j, l);
            }
            put_h(dd, 1 / inv);
        } else {
            put_h(dd, 0.f);
        }
    } else {
        float w[16], sw[16];
        int8_t Ls[16];
        float sx2 = 0;
        for (int j = 0; j < SUPER; ++j) sx2 += x[j] * x[j];
        const float s2 = 2 * sx2 / SUPER;
        for (int j = 0; j < 16; ++j) {
            const float *q = qw + 16 * j;
            for (int l = 0; l < 16; ++l) w[l] = q[l] * sqrtf(s2 + x[16 * j + l] * x[16 * j + l]);
            float s = 0;
            for (int l = 0; l < 16; ++l) s += w[l];
            sw[j] = s;
            sc[j] = fit_sym(16, 4, x + 16 * j, L + 16 * j, w);
        }
        float d = fit_sym(16, 32, sc, Ls, sw);
        for (int j = 0; j < 16; ++j) put_q3_scale(scales, j, Ls[j]);
        put_h(dd, d);
    }
    const float D = via_h(dd);
    for (int j = 0; j < 16; ++j) {
        const float d = D * get_q3_scale(scales, j);
        if (!d) continue;
        for (int l = 0; l < 16; ++l) L[16 * j + l] = (int8_t)(clampi(rnd(x[16 * j + l] / d), -4, 3) + 4);
    }
    /* the third bit: value j's bit goes to hmask[j % 32], bit j / 32 */
    memset(hmask, 0, 32);
    uint8_t U[SUPER];
    for (int j = 0; j < SUPER; ++j) {
        int v = L[j];
        if (v > 3) { hmask[j % 32] |= (uint8_t)(1 << (j / 32)); v -= 4; }
        U[j] = (uint8_t)v;
    }
    pack_2bit(U, qs);
}

/* Q4_K / Q5_K scales: 8 (scale, min) pairs of 6 bits in 12 bytes. */
static void put_k4_scales(uint8_t *s, const uint8_t *ls, const uint8_t *lm) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}
static void get_k4_scale(const uint8_t *s, int j, int *d, int *m) {
    if (j < 4) {
        *d = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *d = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* The shared part of Q4_K (nmax 15) and Q5_K (nmax 31): fit 8 sub-blocks of
 * 32, quantize their scales and mins to 6 bits, requantize with the stored
 * scales.  dd points at d, dmin, scales[12]; L receives the levels. */
static void k4_fit(const float *x, uint8_t *dd, uint8_t *L, int nmax, const float *qw) {
    float sc[8], mn[8], w[32];
    uint8_t ls[8], lm[8], tmp[32];
    uint8_t *scales = dd + 4;
    if (!qw) {
        float max_sc = 0, max_mn = 0;
        const float rmin = nmax == 15 ? -1.f : -0.5f;
        const int nstep = nmax == 15 ? 20 : 15;
        for (int j = 0; j < 8; ++j) {
            float sx2 = 0;
            for (int l = 0; l < 32; ++l) sx2 += x[32 * j + l] * x[32 * j + l];
            float av = sqrtf(sx2 / 32);
            for (int l = 0; l < 32; ++l) w[l] = av + fabsf(x[32 * j + l]);
            sc[j] = fit_affine(32, nmax, x + 32 * j, w, L + 32 * j, &mn[j], tmp, rmin, 0.1f, nstep, 0);
            if (sc[j] > max_sc) max_sc = sc[j];
            if (mn[j] > max_mn) max_mn = mn[j];
        }
        float is = max_sc > 0 ? 63.f / max_sc : 0.f;
        float im = max_mn > 0 ? 63.f / max_mn : 0.f;
        for (int j = 0; j < 8; ++j) {
            uint8_t a = (uint8_t)rnd(is * sc[j]), c = (uint8_t)rnd(im * mn[j]);
            ls[j] = a < 63 ? a : 63;
            lm[j] = c < 63 ? c : 63;
        }
        put_k4_scales(scales, ls, lm);
        put_h(dd, max_sc / 63.f);
        put_h(dd + 2, max_mn / 63.f);
    } else {
        float sw[8];
        float sx2 = 0;
        for (int l = 0; l < SUPER; ++l) sx2 += x[l] * x[l];
        const float s2 = 2 * sx2 / SUPER;
        for (int j = 0; j < 8; ++j) {
            const float *q = qw + 32 * j;
            for (int l = 0; l < 32; ++l) w[l] = q[l] * sqrtf(s2 + x[32 * j + l] * x[32 * j + l]);
            float s = 0;
            for (int l = 0; l < 32; ++l) s += w[l];
            sw[j] = s;
            sc[j] = fit_affine(32, nmax, x + 32 * j, w, L + 32 * j, &mn[j], tmp, -0.9f, 0.05f, 36, 0);
        }
        float d = fit_pos(8, 63, sc, ls, sw);
        float m = fit_pos(8, 63, mn, lm, sw);
        for (int j = 0; j < 8; ++j) {
            if (ls[j] > 63) ls[j] = 63;
            if (lm[j] > 63) lm[j] = 63;
        }
        put_k4_scales(scales, ls, lm);
        put_h(dd, d);
        put_h(dd + 2, m);
    }
    const float D = via_h(dd), M = via_h(dd + 2);
    for (int j = 0; j < 8; ++j) {
        int s, m;
        get_k4_scale(scales, j, &s, &m);
        const float d = D * s;
        if (!d) continue;
        const float dm = M * m;
        for (int l = 0; l < 32; ++l) L[32 * j + l] = (uint8_t)clampi(rnd((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

/* Q4_K block: d, dmin, scales[12], qs[128] (nibbles: value l and l+32 of
 * each 64). */
static void q4_k_block(const float *x, uint8_t *b, const float *qw) {
    uint8_t L[SUPER];
    k4_fit(x, b, L, 15, qw);
    uint8_t *q = b + 16;
    for (int j = 0; j < SUPER; j += 64, q += 32)
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

/* Q5_K block: d, dmin, scales[12], qh[32], qs[128]; the fifth bit of value
 * 64·k + l goes to qh[l] bit 2k, of 64·k + 32 + l to bit 2k+1. */
static void q5_k_block(const float *x, uint8_t *b, const float *qw) {
    uint8_t L[SUPER];
    k4_fit(x, b, L, 31, qw);
    uint8_t *qh = b + 16, *ql = b + 48;
    memset(qh, 0, 32);
    for (int k = 0; k < 4; ++k, ql += 32)
        for (int j = 0; j < 32; ++j) {
            int a = L[64 * k + j], c = L[64 * k + j + 32];
            if (a > 15) { a -= 16; qh[j] |= (uint8_t)(1 << (2 * k)); }
            if (c > 15) { c -= 16; qh[j] |= (uint8_t)(2 << (2 * k)); }
            ql[j] = (uint8_t)(a | (c << 4));
        }
}

/* Q6_K block: ql[128], qh[64], scales int8[16], d f16. */
static void q6_k_block(const float *x, uint8_t *b, const float *qw) {
    int8_t L[SUPER];
    float sc[16];
    uint8_t *ql = b, *qh = b + 128, *dd = b + 208;
    int8_t *scales = (int8_t *)(b + 192);
    float amax = 0, max_sc = 0;
    for (int j = 0; j < 16; ++j) {
        sc[j] = fit_sym(16, 32, x + 16 * j, L + 16 * j, qw ? qw + 16 * j : NULL);
        if (fabsf(sc[j]) > amax) { amax = fabsf(sc[j]); max_sc = sc[j]; }
    }
    if (amax < EPS_ALL_ZERO) {
        memset(b, 0, 210);
        return;
    }
    float inv = -128.f / max_sc;
    put_h(dd, 1 / inv);
    for (int j = 0; j < 16; ++j) {
        int v = rnd(inv * sc[j]);
        scales[j] = (int8_t)(v < 127 ? v : 127);
    }
    const float D = via_h(dd);
    for (int j = 0; j < 16; ++j) {
        const float d = D * scales[j];
        if (!d) continue;
        for (int l = 0; l < 16; ++l) L[16 * j + l] = (int8_t)(clampi(rnd(x[16 * j + l] / d), -32, 31) + 32);
    }
    for (int h = 0; h < SUPER; h += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; ++l) {
            const int a = L[h + l], c = L[h + l + 32], e = L[h + l + 64], f = L[h + l + 96];
            ql[l] = (uint8_t)((a & 0xF) | ((e & 0xF) << 4));
            ql[l + 32] = (uint8_t)((c & 0xF) | ((f & 0xF) << 4));
            qh[l] = (uint8_t)((a >> 4) | ((c >> 4) << 2) | ((e >> 4) << 4) | ((f >> 4) << 6));
        }
}

/* ---- IQ4_NL / IQ4_XS: a fixed non-linear 16-level grid ------------------ */

static const int8_t nl_grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Index of the grid value nearest v (ties to the lower one only when
 * strictly closer, as ggml's bisection). */
static int nl_nearest(float v) {
    if (v <= nl_grid[0]) return 0;
    if (v >= nl_grid[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < nl_grid[mid]) hi = mid;
        else lo = mid;
    }
    return v - nl_grid[hi - 1] < nl_grid[hi] - v ? hi - 1 : hi;
}

/* One super-block of sb values in 32-value blocks (sb = 32: IQ4_NL, one
 * block; sb = 256: IQ4_XS, 6-bit block scales).  d16: the f16 scale,
 * q4: sb/2 bytes, sh/sl: IQ4_XS's scale bits (NULL for IQ4_NL). */
static void nl_superblock(int sb, const float *x, uint8_t *d16, uint8_t *q4, uint8_t *sh, uint8_t *sl,
                          const float *qw) {
    const int ntry = 7, nblk = sb / 32;
    float sc[8], w[32];
    uint8_t L[SUPER];
    float s2 = 0;
    for (int j = 0; j < sb; ++j) s2 += x[j] * x[j];
    s2 *= 2.f / sb;
    memset(L, 0, (size_t)sb);
    float max_sc = 0, amax_sc = 0;
    for (int ib = 0; ib < nblk; ++ib) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        if (qw) for (int j = 0; j < 32; ++j) w[j] = qw[32 * ib + j] * sqrtf(s2 + xb[j] * xb[j]);
        else for (int j = 0; j < 32; ++j) w[j] = xb[j] * xb[j];
        float amax = 0, vmax = 0;
        for (int j = 0; j < 32; ++j)
            if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); vmax = xb[j]; }
        if (amax < EPS_ALL_ZERO) {
            sc[ib] = 0;
            continue;
        }
        float d = -vmax / nl_grid[0];
        float id = 1 / d;
        float sqx = 0, sq2 = 0;
        for (int j = 0; j < 32; ++j) {
            int l = nl_nearest(id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = nl_grid[l];
            sqx += w[j] * q * xb[j];
            sq2 += w[j] * q * q;
        }
        d = sq2 > 0 ? sqx / sq2 : 0.f;
        float best = d * sqx;
        for (int t = -ntry; t <= ntry; ++t) {
            id = (t + nl_grid[0]) / vmax;
            float tx = 0, t2 = 0;
            for (int j = 0; j < 32; ++j) {
                float q = nl_grid[nl_nearest(id * xb[j])];
                tx += w[j] * q * xb[j];
                t2 += w[j] * q * q;
            }
            if (t2 > 0 && tx * tx > best * t2) {
                d = tx / t2;
                best = d * tx;
            }
        }
        sc[ib] = d;
        if (fabsf(d) > amax_sc) { amax_sc = fabsf(d); max_sc = d; }
    }
    if (nblk > 1) {
        uint16_t hbits = 0;
        float d = -max_sc / 32;
        put_h(d16, d);
        float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < nblk; ++ib) {
            int l = clampi(rnd(id * sc[ib]), -32, 31);
            float dl = d * l;
            float idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; ++j) L[32 * ib + j] = (uint8_t)nl_nearest(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0) sl[ib / 2] = (uint8_t)(l & 0xf);
            else sl[ib / 2] |= (uint8_t)((l & 0xf) << 4);
            hbits |= (uint16_t)((l >> 4) << (2 * ib));
        }
        sh[0] = (uint8_t)hbits;
        sh[1] = (uint8_t)(hbits >> 8);
    } else {
        put_h(d16, sc[0]);
        float id = sc[0] ? 1 / sc[0] : 0;
        for (int j = 0; j < sb; ++j) L[j] = (uint8_t)nl_nearest(id * x[j]);
    }
    for (int i = 0; i < sb / 32; ++i)
        for (int j = 0; j < 16; ++j) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

/* ---- entry points -------------------------------------------------------- */

size_t qt_ggml_quantize(int id, const float *x, void *dst, int64_t nrows, int64_t ncols, const float *imatrix) {
    const struct qt_ggml_type_info *t = qt_ggml_type_info(id);
    if (!t || !t->write || ncols <= 0 || nrows < 0 || ncols % t->block) return 0;
    const size_t rs = qt_ggml_row_size(id, ncols);
    const int64_t nb = ncols / t->block;
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = x + r * ncols;
        uint8_t *b = (uint8_t *)dst + (size_t)r * rs;
        switch (id) {
        case QT_GGML_F32: memcpy(b, xr, (size_t)ncols * 4); break;
        case QT_GGML_F16:
            for (int64_t j = 0; j < ncols; j++) put_h(b + 2 * j, xr[j]);
            break;
        case QT_GGML_BF16:
            for (int64_t j = 0; j < ncols; j++) {
                uint16_t h = qt_f32_to_bf16(xr[j]);
                b[2 * j] = (uint8_t)h; b[2 * j + 1] = (uint8_t)(h >> 8);
            }
            break;
        case QT_GGML_Q8_0: q8_0_row(xr, b, nb); break;
        case QT_GGML_Q4_0: case QT_GGML_Q4_1: case QT_GGML_Q5_0: case QT_GGML_Q5_1:
            if (imatrix) legacy_weighted_row(id, xr, b, ncols, imatrix);
            else if (id == QT_GGML_Q4_0) q4_0_row(xr, b, nb);
            else if (id == QT_GGML_Q4_1) q4_1_row(xr, b, nb);
            else if (id == QT_GGML_Q5_0) q5_0_row(xr, b, nb);
            else q5_1_row(xr, b, nb);
            break;
        case QT_GGML_Q2_K: case QT_GGML_Q3_K: case QT_GGML_Q4_K: case QT_GGML_Q5_K: case QT_GGML_Q6_K:
            for (int64_t i = 0; i < nb; i++) {
                const float *xs = xr + SUPER * i, *qw = imatrix ? imatrix + SUPER * i : NULL;
                uint8_t *o = b + (size_t)t->bytes * (size_t)i;
                if (id == QT_GGML_Q2_K) q2_k_block(xs, o, qw);
                else if (id == QT_GGML_Q3_K) q3_k_block(xs, o, qw);
                else if (id == QT_GGML_Q4_K) q4_k_block(xs, o, qw);
                else if (id == QT_GGML_Q5_K) q5_k_block(xs, o, qw);
                else q6_k_block(xs, o, qw);
            }
            break;
        case QT_GGML_IQ4_NL:
            for (int64_t i = 0; i < nb; i++)
                nl_superblock(32, xr + 32 * i, b + 18 * i, b + 18 * i + 2, NULL, NULL, imatrix ? imatrix + 32 * i : NULL);
            break;
        case QT_GGML_IQ4_XS:
            for (int64_t i = 0; i < nb; i++) {
                uint8_t *o = b + 136 * i;
                nl_superblock(SUPER, xr + SUPER * i, o, o + 8, o + 2, o + 4, imatrix ? imatrix + SUPER * i : NULL);
            }
            break;
        default: return 0;
        }
    }
    return rs * (size_t)nrows;
}

/* ---- dequantizers ------------------------------------------------------- */

static void deq_k4(const uint8_t *b, float *y, int five) {
    const float d = get_h(b), mn = get_h(b + 2);
    const uint8_t *s = b + 4, *qh = b + 16, *q = b + (five ? 48 : 16);
    for (int k = 0; k < 4; ++k, q += 32) {
        int s1, m1, s2, m2;
        get_k4_scale(s, 2 * k, &s1, &m1);
        get_k4_scale(s, 2 * k + 1, &s2, &m2);
        const float d1 = d * s1, o1 = mn * m1, d2 = d * s2, o2 = mn * m2;
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * ((q[l] & 0xF) + (five && (qh[l] >> (2 * k) & 1) ? 16 : 0)) - o1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * ((q[l] >> 4) + (five && (qh[l] >> (2 * k + 1) & 1) ? 16 : 0)) - o2;
    }
}

/* Types qtune reads but does not write: other people's GGUF files (ggml's
 * dequantize_row_* of ggml-quants.c; all exact products, no rounding). */
static int read_only(int id) {
    return id == QT_GGML_Q1_0 || id == QT_GGML_Q2_0 || id == QT_GGML_TQ1_0 || id == QT_GGML_TQ2_0 ||
           id == QT_GGML_MXFP4 || id == QT_GGML_NVFP4;
}

int qt_ggml_can_dequantize(int id) {
    const struct qt_ggml_type_info *t = qt_ggml_type_info(id);
    return t && (t->write || read_only(id));
}

/* E2M1 values times 2 (ggml's kvalues_mxfp4), the scales below are halved. */
static const int8_t fp4_x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* MXFP4's E8M0 scale, halved: 2^(e - 128) (ggml_e8m0_to_fp32_half). */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* NVFP4's UE4M3 sub-block scale, halved (ggml_ue4m3_to_fp32). */
static float ue4m3_half(uint8_t x) {
    if (x == 0 || x == 0x7F) return 0.0f;
    const int ex = (x >> 3) & 0xF, man = x & 7;
    const float raw = ex == 0 ? ldexpf((float)man, -9) : ldexpf(1.0f + (float)man / 8.0f, ex - 7);
    return raw * 0.5f;
}

int qt_ggml_dequantize(int id, const void *src, float *y, int64_t n) {
    const struct qt_ggml_type_info *t = qt_ggml_type_info(id);
    if (!qt_ggml_can_dequantize(id) || n % t->block) return -1;
    const uint8_t *b = src;
    const int64_t nb = n / t->block;
    switch (id) {
    case QT_GGML_F32: memcpy(y, src, (size_t)n * 4); return 0;
    case QT_GGML_F16:
        for (int64_t j = 0; j < n; j++) y[j] = get_h(b + 2 * j);
        return 0;
    case QT_GGML_BF16:
        for (int64_t j = 0; j < n; j++) y[j] = qt_bf16_to_f32((uint16_t)(b[2 * j] | b[2 * j + 1] << 8));
        return 0;
    default: break;
    }
    for (int64_t i = 0; i < nb; i++, b += t->bytes) {
        switch (id) {
        case QT_GGML_Q8_0: {
            const float d = get_h(b);
            for (int j = 0; j < 32; j++) *y++ = (int8_t)b[2 + j] * d;
            break;
        }
        case QT_GGML_Q4_0: case QT_GGML_Q4_1: {
            const int one = id == QT_GGML_Q4_1;
            const float d = get_h(b), m = one ? get_h(b + 2) : 0;
            const uint8_t *q = b + (one ? 4 : 2);
            for (int j = 0; j < 32; j++) {
                int v = j < 16 ? q[j] & 0xF : q[j - 16] >> 4;
                y[j] = one ? v * d + m : (v - 8) * d;
            }
            y += 32;
            break;
        }
        case QT_GGML_Q5_0: case QT_GGML_Q5_1: {
            const int one = id == QT_GGML_Q5_1;
            const float d = get_h(b), m = one ? get_h(b + 2) : 0;
            const uint8_t *h = b + (one ? 4 : 2), *q = h + 4;
            const uint32_t qh = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
            for (int j = 0; j < 32; j++) {
                int v = (j < 16 ? q[j] & 0xF : q[j - 16] >> 4) | (int)((qh >> j) & 1) << 4;
                y[j] = one ? v * d + m : (v - 16) * d;
            }
            y += 32;
            break;
        }
        case QT_GGML_Q2_K: {
            const float d = get_h(b + 80), mn = get_h(b + 82);
            for (int j = 0; j < 16; ++j) {
                const float dl = d * (b[j] & 0xF), ml = mn * (b[j] >> 4);
                const uint8_t *q = b + 16 + 32 * (j / 8) + 16 * (j % 2);
                const int shift = 2 * ((j % 8) / 2);
                for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l] >> shift) & 3) - ml;
            }
            break;
        }
        case QT_GGML_Q3_K: {
            const float d = get_h(b + 108);
            for (int j = 0; j < 16; ++j) {
                const float dl = d * get_q3_scale(b + 96, j);
                const int half = j / 8, pl = (j % 8) / 2, part = j % 2;
                const uint8_t *q = b + 32 + 32 * half + 16 * part, *hm = b + 16 * part;
                const int bit = 4 * half + pl;
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * (((q[l] >> (2 * pl)) & 3) - ((hm[l] >> bit) & 1 ? 0 : 4));
            }
            break;
        }
        case QT_GGML_Q4_K: deq_k4(b, y, 0); y += SUPER; break;
        case QT_GGML_Q5_K: deq_k4(b, y, 1); y += SUPER; break;
        case QT_GGML_Q6_K: {
            const float d = get_h(b + 208);
            const int8_t *sc = (const int8_t *)(b + 192);
            for (int h = 0; h < 2; ++h) {
                const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
                for (int l = 0; l < 32; ++l) {
                    const int is = 8 * h + l / 16;
                    const int v1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    const int v2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int v3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int v4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[128 * h + l] = d * sc[is] * v1;
                    y[128 * h + l + 32] = d * sc[is + 2] * v2;
                    y[128 * h + l + 64] = d * sc[is + 4] * v3;
                    y[128 * h + l + 96] = d * sc[is + 6] * v4;
                }
            }
            y += SUPER;
            break;
        }
        case QT_GGML_Q1_0: {   /* fp16 d, 128 sign bits: bit j set -> +d, else -d */
            const float d = get_h(b);
            for (int j = 0; j < 128; j++) *y++ = (b[2 + j / 8] >> (j % 8)) & 1 ? d : -d;
            break;
        }
        case QT_GGML_Q2_0: {   /* fp16 d, 64 two-bit codes q: (q - 1)·d */
            const float d = get_h(b);
            for (int j = 0; j < 64; j++) *y++ = (float)(((b[2 + j / 4] >> (2 * (j % 4))) & 3) - 1) * d;
            break;
        }
        case QT_GGML_TQ1_0: {  /* qs[48] five ternary digits a byte, qh[4] four, fp16 d last */
            static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
            const float d = get_h(b + 52);
            for (int j = 0; j < 48; j += (j < 32 ? 32 : 16)) {
                const int w = j < 32 ? 32 : 16;
                for (int k = 0; k < 5; k++)
                    for (int m = 0; m < w; m++) {
                        const uint8_t q = (uint8_t)(b[j + m] * pow3[k]);
                        *y++ = (float)((((uint16_t)q * 3) >> 8) - 1) * d;
                    }
            }
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 4; j++) {
                    const uint8_t q = (uint8_t)(b[48 + j] * pow3[k]);
                    *y++ = (float)((((uint16_t)q * 3) >> 8) - 1) * d;
                }
            break;
        }
        case QT_GGML_TQ2_0: {  /* qs[64] two-bit codes, fp16 d last */
            const float d = get_h(b + 64);
            for (int j = 0; j < 64; j += 32)
                for (int l = 0; l < 4; l++)
                    for (int m = 0; m < 32; m++) *y++ = (float)(((b[j + m] >> (2 * l)) & 3) - 1) * d;
            break;
        }
        case QT_GGML_MXFP4: {  /* E8M0 scale, 16 bytes of E2M1 pairs (low nibbles first half) */
            const float d = e8m0_half(b[0]);
            for (int j = 0; j < 16; j++) {
                y[j] = fp4_x2[b[1 + j] & 0xF] * d;
                y[j + 16] = fp4_x2[b[1 + j] >> 4] * d;
            }
            y += 32;
            break;
        }
        case QT_GGML_NVFP4: {  /* four UE4M3 scales of 16, 32 bytes of E2M1 pairs */
            for (int s = 0; s < 4; s++) {
                const float d = ue4m3_half(b[s]);
                for (int j = 0; j < 8; j++) {
                    y[16 * s + j] = fp4_x2[b[4 + 8 * s + j] & 0xF] * d;
                    y[16 * s + j + 8] = fp4_x2[b[4 + 8 * s + j] >> 4] * d;
                }
            }
            y += 64;
            break;
        }
        case QT_GGML_IQ4_NL: {
            const float d = get_h(b);
            for (int j = 0; j < 16; ++j) {
                y[j] = d * nl_grid[b[2 + j] & 0xF];
                y[j + 16] = d * nl_grid[b[2 + j] >> 4];
            }
            y += 32;
            break;
        }
        case QT_GGML_IQ4_XS: {
            const float d = get_h(b);
            const unsigned sh = (unsigned)(b[2] | b[3] << 8);
            const uint8_t *q = b + 8;
            for (int ib = 0; ib < 8; ++ib, q += 16) {
                const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (int)(((sh >> (2 * ib)) & 3) << 4);
                const float dl = d * (ls - 32);
                for (int j = 0; j < 16; ++j) {
                    *y++ = dl * nl_grid[q[j] & 0xF];
                }
                for (int j = 0; j < 16; ++j) {
                    *y++ = dl * nl_grid[q[j] >> 4];
                }
            }
            break;
        }
        default: return -1;
        }
    }
    return 0;
}
