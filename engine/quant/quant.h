/* quant.h — round-to-nearest quantization of a weight matrix under a scheme,
 * computed as compressed-tensors 0.20 computes it (DESIGN §4), and the error
 * statistics the preview shows.
 *
 * Arithmetic, for a weight stored in dtype D (BF16 normally; the "work dtype",
 * in which torch does every step because min/max, scales and the weight are
 * all D tensors).  rnd() rounds a float32 result to D (identity for F32):
 *
 *   per scale cell (group / row / tensor / block):
 *     mn = min(0, min w), mx = max(0, max w)
 *     int sym:  s = rnd(max(-mn, mx) / ((qmax-qmin)/2)),  zp = 0
 *     int asym: s = rnd(rnd(mx - mn) / (qmax-qmin)),
 *               zp = rne(clamp(rnd(qmin - rnd(mn / s)), qmin, qmax))
 *     fp8:      s = rnd(max(-mn, mx) / 448)
 *     s == 0 -> eps(D)   (bf16 2^-7, f16 2^-10, f32 FLT_EPSILON); DESIGN §4's
 *     max(s, FLT_EPSILON) is what older compressed-tensors did: 0.20 replaces
 *     only a zero scale, by the scale dtype's eps, and so do we (w' is 0
 *     either way; only the stored scale of an all-zero group differs)
 *   per element, in the bf16 arithmetic (compressed-tensors' torch path, what
 *   llm-compressor runs on the CPU):
 *     t = rnd(w / s); asym: t = rnd(t + zp); t = clamp(t, qmin, qmax)
 *     q = rne(t) (int) | e4m3(t) (fp8);  w' = rnd((q - zp) * s)
 *   in the f32 arithmetic (its Triton kernel, what it runs on a GPU; the
 *   default): t = w / s and t + zp in float32, not rounded to D; the scales
 *   and w' = rnd((q - zp) * s) are the same in both (torch computes the
 *   scales on D tensors on either device).  mxfp4's w / s divides by a power
 *   of two and nvfp4's is float32 anyway: both modes give the same codes.
 *   nvfp4 (group 16): gs = f32(rnd(rnd(1 / max(amax_tensor, tiny(D))) * 2688)),
 *     sc = e4m3(gs * rnd(amax_group / 6)) (0 -> 0.125), s = sc / gs (f32),
 *     q = e2m1(clamp(w / s, -6, 6)) (f32), w' = rnd(q * s)
 *   mxfp4 (group 32): e = floor(log2(pow2 of amax, rounded as ct does)) - 2,
 *     code = clamp(127 + e, 0, 255) (E8M0), s = rnd(2^(code-127)),
 *     q = e2m1(clamp(rnd(w / s), -6, 6)), w' = rnd(q * s)
 *
 * The input w is float32 holding values of D (a BF16 weight widened). */
#ifndef QT_QUANT_H
#define QT_QUANT_H
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"
#include "quant/scheme.h"

/* Quantized form of a tensor, what a checkpoint writer needs. */
struct qt_qtensor {
    struct qt_scheme scheme;
    enum qt_dtype wdtype;   /* weight (work and scale) dtype */
    int64_t rows, cols;
    int64_t srows, scols;   /* scale grid: tensor 1x1, channel rows x 1,
                               group rows x ceil(cols/g) (the last group may be partial),
                               block ceil(rows/b) x ceil(cols/b) */
    int8_t *q;              /* (rows, cols) int: q in [qmin, qmax]; fp8: e4m3 bits;
                               fp4: e2m1 code (sign << 3 | magnitude index 0..7) */
    float *scale;           /* (srows, scols) scale as stored, widened to float
                               (nvfp4: the fp8 group scale before dividing by gs) */
    int8_t *zero;           /* (srows, scols) zero points, asym int only, else NULL */
    uint8_t *scale_code;    /* (srows, scols) nvfp4: e4m3 bits; mxfp4: E8M0 exponent; else NULL */
    float global_scale;     /* nvfp4 weight_global_scale, else 0 */
};

/* Quantizes w (rows, cols) under s.  Fills out (caller frees with
 * qt_qtensor_free); deq (rows, cols), when not NULL, gets w'.  wdtype is the
 * weight dtype (BF16, F16 or F32).  global_amax > 0 overrides the tensor amax
 * from which nvfp4 derives its global scale (vLLM fuses q/k/v and gate/up
 * global scales); pass 0 to use w's own. */
int qt_quant_tensor(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                    enum qt_dtype wdtype, float global_amax, struct qt_qtensor *out,
                    float *deq, qt_err *err);
void qt_qtensor_free(struct qt_qtensor *q);

/* Fake quantization: out (rows, cols) = w' (may equal w). */
int qt_quant_dequant(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                     enum qt_dtype wdtype, float *out, qt_err *err);

/* Error statistics, summed; combine partial sums with qt_qstats_add. */
struct qt_qstats {
    double err2;            /* sum (w - w')^2 */
    double w2;              /* sum w^2 */
    double max_abs;         /* max |w - w'| */
    double derr2;           /* sum_j d_j sum_i (w - w')^2_ij (when d was given) */
    double dw2;             /* sum_j d_j sum_i w^2_ij */
    int64_t n;              /* elements */
};
void qt_qstats_add(struct qt_qstats *acc, const struct qt_qstats *b);
double qt_qstats_rel_rmse(const struct qt_qstats *st);   /* sqrt(err2 / w2); 0 if w2 == 0 */
double qt_qstats_sqnr_db(const struct qt_qstats *st);    /* -20 log10(rel_rmse); INFINITY if exact */
double qt_qstats_rel_out(const struct qt_qstats *st);    /* sqrt(derr2 / dw2); NAN without d */

/* Fused error path: statistics of w under s without materializing w'.  d
 * (cols) is the importance vector E[x_j^2] or NULL. */
int qt_quant_error(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                   enum qt_dtype wdtype, const float *d, struct qt_qstats *out, qt_err *err);

/* Fixed-bin histograms for the detail panel. */
struct qt_hist {
    int nbins;
    double lo, hi;          /* range covered by the bins */
    int64_t *counts;        /* (nbins) */
};
void qt_hist_free(struct qt_hist *h);

/* Histogram of the weights over [-amax, amax] and of the RMS error of each
 * scale cell segment (a group; a row for channel/tensor; a block row for
 * block) over [0, max].  Either output may be NULL; free with qt_hist_free. */
int qt_quant_histograms(const float *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                        enum qt_dtype wdtype, int nbins, struct qt_hist *weights,
                        struct qt_hist *cell_err, qt_err *err);

/* ---- Engine-internal: the streaming pieces the preview drives in parallel. */

/* Which kernels run.  Every set gives the same codes, scales and statistics
 * bit for bit; the widest the CPU has runs unless QTUNE_SIMD
 * (portable|avx2|avx512) or qt_quant_set_isa asks for less.  For tests and
 * benchmarks. */
enum { QT_ISA_PORTABLE = 0, QT_ISA_AVX2 = 1, QT_ISA_AVX512 = 2 };
int qt_quant_set_isa(int isa);          /* returns the previous request */
int qt_quant_isa(void);                 /* the set in use: min(request, CPU) */
int qt_quant_isa_best(void);            /* the widest this CPU runs */
int qt_quant_isa_parse(const char *name);   /* QT_ISA_* or -1 */
const char *qt_quant_isa_name(int isa);     /* "portable" | "avx2" | "avx512" */
/* 1 = the widest kernels (default), 0 = portable C; returns the previous. */
int qt_quant_set_simd(int on);
int qt_quant_simd_active(void);         /* qt_quant_isa() >= QT_ISA_AVX2 */

/* The arithmetic of w / s (above): QT_ARITH_F32 (the default) or
 * QT_ARITH_BF16.  Process-wide like the kernel set: `--arith f32|bf16` on
 * the command line, QTUNE_ARITH in the environment, the session's setting
 * in the engine.  A quantization takes the mode in force when its qt_qctx
 * is initialized. */
enum { QT_ARITH_F32 = 0, QT_ARITH_BF16 = 1 };
int qt_quant_set_arith(int mode);       /* returns the previous mode */
int qt_quant_arith(void);
int qt_arith_parse(const char *name);   /* "f32" | "bf16" -> QT_ARITH_*, else -1 */
const char *qt_arith_name(int mode);    /* "f32" | "bf16" */

/* Tensor-level state of a streaming quantization. */
struct qt_qctx {
    struct qt_scheme s;
    enum qt_dtype wdtype;
    int arith;              /* QT_ARITH_*, from qt_quant_arith() at init */
    int64_t rows, cols;
    int band;               /* rows per band: block edge for BLOCK, else 1 */
    int needs_global;       /* 1: tensor min/max must be observed first (TENSOR, NVFP4) */
    float gmin, gmax;       /* observed tensor min / max */
    float global_amax;      /* nvfp4 override (0: use observed) */
    float gs;               /* nvfp4 global scale (after qt_qctx_finish_observe) */
    const float *d;         /* (cols) importance or NULL */
};

int qt_qctx_init(struct qt_qctx *c, const struct qt_scheme *s, enum qt_dtype wdtype,
                 int64_t rows, int64_t cols, const float *d, qt_err *err);
/* Min and max of n floats (vectorized). */
void qt_quant_minmax(const float *x, int64_t n, float *mn, float *mx);
/* Call after folding every row's min/max into c->gmin/gmax. */
void qt_qctx_finish_observe(struct qt_qctx *c);
/* Statistics of a band of rows [row0, row0 + nrows) given as float32 x
 * (nrows, cols); nrows is c->band except for the last band.  scratch holds at
 * least cols floats. */
void qt_quant_band_stats(const struct qt_qctx *c, const float *x, int64_t row0, int64_t nrows,
                         float *scratch, struct qt_qstats *st);

/* The same from BF16 rows x (nrows, cols); buf is unused (every kernel
 * reads BF16 itself). */
void qt_quant_band_stats_bf16(const struct qt_qctx *c, const uint16_t *x, int64_t row0, int64_t nrows,
                              float *buf, float *scratch, struct qt_qstats *st);
void qt_quant_minmax_bf16(const uint16_t *x, int64_t n, float *mn, float *mx);

/* Allocates out for a rows x cols tensor under s: scale grid (and zero
 * points, scale codes) always, codes q (rows, cols) when with_codes.  Free
 * with qt_qtensor_free. */
int qt_qtensor_init(struct qt_qtensor *out, const struct qt_scheme *s, enum qt_dtype wdtype, int64_t rows,
                    int64_t cols, int with_codes, qt_err *err);
/* Codes of rows [row0, row0 + nrows) given as x (nrows, cols), float32 or
 * BF16 (x_bf16), into codes (nrows, cols), and their scale cells into qt
 * (made by qt_qtensor_init for the whole tensor; its q is not touched).
 * row0 and nrows are multiples of c->band (nrows may end the tensor); c has
 * observed the tensor when c->needs_global.  Row ranges are independent, so
 * threads may run disjoint ones of one tensor at once: the bytes are those
 * qt_quant_tensor gives. */
void qt_quant_rows_codes(const struct qt_qctx *c, const void *x, int x_bf16, int64_t row0, int64_t nrows,
                         int8_t *codes, struct qt_qtensor *qt);

/* One band of rows [row0, row0 + nrows) given as x (nrows, cols), float32
 * or BF16 (x_bf16): statistics accumulated into st (may be NULL), w' into
 * deq (nrows, cols) (may be NULL), codes into codes (nrows, cols) (may be
 * NULL), scales, zero points and scale codes into qt's whole-tensor arrays
 * (may be NULL).  scratch holds cols floats (needed with st and c->d only).
 * The reference kernel the CPU backend's quantize runs
 * (engine/backend/cpu.c). */
void qt_quant_band(const struct qt_qctx *c, const void *x, int x_bf16, int64_t row0, int64_t nrows, float *scratch,
                   struct qt_qstats *st, float *deq, int8_t *codes, struct qt_qtensor *qt);

/* w' (nrows, q->cols) of rows [row0, row0 + nrows) from q's codes and
 * scales: rnd((q - zp) * s) with s the cell's effective scale (nvfp4: the
 * stored fp8 scale / global_scale): what quantizing gave as deq, as values
 * (an int code cannot carry the sign of a zero). */
void qt_quant_decode(const struct qt_qtensor *q, int64_t row0, int64_t nrows, float *out);

#endif
