/* awq.h — AWQ (Lin et al. 2023) with llm-compressor AWQModifier's arguments
 * (mappings, duo_scaling, n_grid 20) and llm-awq's weight-clipping search.
 *
 * Per mapping (a smooth layer and the Linears that read its output, the
 * balance layers), per input channel j:
 *
 *   x_mean_j = mean |x_j| over the calibration tokens entering the balance
 *              layers;  w_mean_j = mean over the balance layers' rows of
 *              |W_ij| / max |W| of its quantization group
 *   for each (ratio r, duo) of the grid (qt_awq_grid, the identity first):
 *     s = x_mean^r / (w_mean^(1-r) + 1e-4)   (duo; else x_mean^r),
 *         clamped to >= 1e-4, divided by sqrt(max s * min s)
 *     loss(s) = mean squared difference of the parent module's output with
 *               every balance layer's W_b replaced by Q(W_b · diag s) · diag s⁻¹
 *   keep the s of least loss; smooth layer /= s, balance layers' W[:, j] *= s_j
 *
 * The parent is llm-compressor's: the balance layers' lowest common
 * ancestor.  For the norms' mappings it is the attention block (q/k/v) or
 * the MLP / MoE block (its readers, the router among them, which keeps its
 * weight during the search, so routing does not move); the pipeline reruns
 * that block per grid point (pipeline.c, awq_parent_loss).  For a single
 * balance layer (v→o, up→down) the parent is the Linear itself, whose output
 * error is exactly Σ_b e H eᵀ over its Hessian H = Σ x xᵀ (qt_awq_sse).  Q
 * is the scheme's own round-to-nearest quantizer, i.e. exactly what the
 * writer (or, for a following GPTQModifier, GPTQ's grid) produces.
 *
 * Clip search (llm-awq auto_clip): per row and quantization group, the range
 * max|w| is shrunk to max|w|·(1 - i/n_grid), i = 0 .. max_shrink·n_grid - 1,
 * the group clamped to it and quantized; the shrink with the least output
 * error e_g H_gg e_gᵀ (H_gg: the group's diagonal block of the Hessian) is
 * kept. */
#ifndef QT_AWQ_H
#define QT_AWQ_H
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"
#include "quant/scheme.h"

#define QT_AWQ_N_GRID 20
#define QT_AWQ_GRID_MAX 1000
/* The calibration samples AWQ's scale search scores by default (qtune's
 * `search_samples`; llm-compressor scores every one): each grid point reruns
 * a block of the layer on them, 20 per mapping.  On the fixture 32 and all
 * 128 pick the same scales (docs/bench.md). */
#define QT_AWQ_SEARCH_SAMPLES 32
#define QT_AWQ_CLIP_GRID 20
#define QT_AWQ_CLIP_MAX_SHRINK 0.5

/* Columns per quantization group of s for cols columns (the group size, or
 * cols for channel/tensor scales). */
int64_t qt_awq_group(const struct qt_scheme *s, int64_t cols);

/* acc (cols) += Σ_rows |w_ij| / (max |w| of its group + 1e-6) for w (rows,
 * cols) in groups of `group` columns; divide by the total rows for w_mean. */
void qt_awq_wmean_add(const float *w, int64_t rows, int64_t cols, int64_t group, double *acc);

/* s (n) for one grid ratio from x_mean (n) and w_mean (n); non-finite
 * factors become 1. */
void qt_awq_scales(const double *xmean, const double *wmean, int64_t n, double ratio, int duo, float *s);

/* duo_scaling's values: false, true, "both". */
enum { QT_AWQ_DUO_OFF, QT_AWQ_DUO_ON, QT_AWQ_DUO_BOTH };

/* The grid of AWQModifier 0.14 (_get_grid_search_params): duo_scaling true:
 * (0, off) then (i/(n_grid-2), on) for i < n_grid-1; false: (i/(n_grid-1),
 * off) for i < n_grid; "both": (i/(h-1), off) and (i/(h-1), on) for i < h,
 * h = n_grid/2.  The first point is always the identity (ratio 0, no duo).
 * Writes up to cap points into ratio / duo_at and returns their number, or
 * -1 when n_grid is too small for the form (3, 2, 4). */
int qt_awq_grid(int n_grid, int duo, double *ratio, int *duo_at, int cap);

/* Σ_r e_r H e_rᵀ, e = w - wq, for w, wq (rows, cols) and h (cols, cols). */
double qt_awq_sse(const float *w, const float *wq, int64_t rows, int64_t cols, const double *h);

/* The clip search on w (rows, cols), float32 values of wdtype, under scheme s
 * with the Hessian h (cols, cols) of its input: w is clamped in place to the
 * best range of each (row, group); clipv (rows, ngroups, 2), when not NULL,
 * gets each group's [lo, hi] (±INFINITY where the full range won).  The range
 * shrunk is [min(w, 0), max(w, 0)] for asymmetric schemes and ±max|w| for
 * symmetric ones (llm-awq's).  before/after (may be NULL)
 * get the output error of plain round-to-nearest and of the clipped one,
 * summed over the groups' diagonal blocks (what the search minimizes). */
int qt_awq_clip(float *w, int64_t rows, int64_t cols, const struct qt_scheme *s, enum qt_dtype wdtype,
                const double *h, float *clipv, double *before, double *after, qt_err *err);

#endif
