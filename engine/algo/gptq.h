/* gptq.h — GPTQ (Frantar et al. 2022) on one weight matrix, with
 * llm-compressor GPTQModifier's arguments and semantics:
 *
 *   H (cols, cols) = Σ x xᵀ over the calibration rows entering the Linear
 *   dead columns (H_jj == 0): H_jj = 1, W[:, j] = 0
 *   actorder: static ("weight") — scales from W in its own column order,
 *     columns then processed by descending H_jj, g_idx identity (not written);
 *     group — columns permuted by descending H_jj first, scales from the
 *     permuted W, so groups are runs of the permuted order; g_idx (cols)
 *     written; none — natural order
 *   H += dampening_frac · mean(diag H) · I;  U = chol(H⁻¹) upper
 *   per block of block_size columns, per column j:
 *     q = Q(w_j) with the (fixed) scale of w_j's group;  e = (w_j - q) / U_jj
 *     W[:, j+1..block end] -= e · U[j, j+1..]; then the columns after the
 *     block get the block's errors through U (one GEMM)
 *
 * Q is the scheme's quantizer with the scale grid round-to-nearest computes
 * from W (min/max, stored in the weight dtype), applied as the compressed-
 * tensors GPU path does (float32 x / scale, + zp, clamp, round; fp8 e4m3):
 * the codes are those a compressor re-quantizing the written weight with the
 * written scales gets back.  Where llm-compressor quantizes against the
 * float32 scale and stores its bf16 rounding, qtune quantizes against the
 * stored scale and propagates the error of the weight as it will be read.
 *
 * A keep mask (SparseGPT's, or pruned zeros) makes masked elements exact
 * zeros that receive no updates (llm-compressor's preserve_zeros). */
#ifndef QT_GPTQ_H
#define QT_GPTQ_H
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"
#include "quant/quant.h"
#include "quant/scheme.h"

enum qt_actorder { QT_ACTORDER_NONE, QT_ACTORDER_STATIC, QT_ACTORDER_GROUP };

struct qt_gptq_args {
    int block_size;             /* columns per lazy-update block (128) */
    double dampening_frac;      /* fraction of mean(diag H) added to the diagonal (0.01) */
    enum qt_actorder actorder;
    int stats;                  /* 1: compute the output errors below */
};

/* The default arguments of llm-compressor 0.14's GPTQModifier. */
void qt_gptq_args_default(struct qt_gptq_args *a);

/* Parses an actorder value as a recipe writes it ("static", "weight",
 * "group", "dynamic" refused, "" or "null": none). */
int qt_gptq_parse_actorder(const char *s, enum qt_actorder *out, qt_err *err);

struct qt_gptq_stats {
    double out_err;             /* Σ_r e_r H e_rᵀ / Σ_r w_r H w_rᵀ, e = W - W' (GPTQ) */
    double rtn_err;             /* the same for round-to-nearest W' */
    double loss;                /* llm-compressor's loss: Σ (w - q)² / U_jj² / 2 */
};

/* Quantizes w (rows, cols), float32 values of wdtype, under s with the
 * Hessian h (cols, cols, read only; any positive multiple of Σ x xᵀ).
 * Fills out (free with qt_qtensor_free): codes, scales and zero points as
 * the writer stores them; g_idx (cols), when not NULL and actorder is group,
 * gets each column's group index (else it is left alone); deq (rows, cols),
 * when not NULL, gets the dequantized weight as eval reads it; keep (rows,
 * cols), when not NULL, marks the elements that may be non-zero.  Schemes:
 * int 1..8 bits sym/asym tensor/channel/group/block, fp8; actorder is
 * ignored for block scales.  st may be NULL. */
int qt_gptq_quantize(const float *w, int64_t rows, int64_t cols, const double *h, const struct qt_scheme *s,
                     enum qt_dtype wdtype, const struct qt_gptq_args *a, const uint8_t *keep,
                     struct qt_qtensor *out, int32_t *g_idx, float *deq, struct qt_gptq_stats *st, qt_err *err);

/* The processing order of GPTQ's columns under actorder ao: perm (cols)
 * gets the original column of each position — natural for none, by
 * descending H_jj (ties by index) for static and group.  Block-strategy
 * schemes run in natural order whatever ao says (qt_gptq_quantize). */
int qt_gptq_order(const double *h, int64_t cols, enum qt_actorder ao, int64_t *perm, qt_err *err);
/* The same from the diagonal alone, diag (cols). */
int qt_gptq_order_diag(const double *diag, int64_t cols, enum qt_actorder ao, int64_t *perm, qt_err *err);

/* Output error ratio Σ_r e_r H e_rᵀ / Σ_r w_r H w_rᵀ of an approximation wq
 * of w (rows, cols) under h (cols, cols). */
double qt_gptq_out_err(const float *w, const float *wq, int64_t rows, int64_t cols, const double *h);

#endif
