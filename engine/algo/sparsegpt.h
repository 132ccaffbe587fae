/* sparsegpt.h — SparseGPT (Frantar & Alistarh 2023) on one weight matrix,
 * with llm-compressor SparseGPTModifier's arguments and semantics:
 *
 *   H (cols, cols) = Σ x xᵀ over the calibration rows entering the Linear
 *   dead columns (H_jj == 0): H_jj = 1, W[:, j] = 0
 *   H += dampening_frac · mean(diag H) · I;  U = chol(H⁻¹) upper
 *   per block of block_size columns (natural order, no activation order):
 *     unstructured (mask_structure "0:0"): at the block's start, score
 *       W_rj² / U_jj² over the whole block (all rows), threshold = the
 *       sorted scores' element at floor(numel · sparsity), prune score <= it
 *     N:M: at every M-th column of the block (counted from the block start),
 *       each row prunes the N lowest scores among the next M columns, scored
 *       on the weights as the updates so far left them
 *     per column j: the pruned elements become 0, e = (w_j - q_j) / U_jj,
 *       W[:, j..block end] -= e · U[j, j..]; then the columns after the
 *       block get the block's errors through U (one GEMM)
 *
 * "N:M" prunes N of every M consecutive inputs ("2:4": half of them, the
 * layout of NVIDIA's sparse tensor cores); `sparsity` is then ignored, as
 * llm-compressor ignores it.  preserve_sparsity_mask keeps the weight's
 * existing zeros pruned and extends them (unstructured: up to `sparsity`).
 * Ties in a row's N:M choice go to the lower column.  The arithmetic is
 * double precision (llm-compressor: float32). */
#ifndef QT_SPARSEGPT_H
#define QT_SPARSEGPT_H
#include <stdint.h>

#include "base/qt.h"
#include "model/model.h"
#include "recipe/recipe.h"

struct qt_sgpt_args {
    double sparsity;            /* unstructured: fraction of zeros, [0, 1) */
    int prune_n, prune_m;       /* N:M; 0:0 unstructured */
    int block_size;             /* 128 */
    double dampening_frac;      /* 0.01 */
    int preserve_mask;          /* preserve_sparsity_mask (false) */
};

/* llm-compressor 0.14's defaults: unstructured, block 128, damping 0.01. */
void qt_sgpt_args_default(struct qt_sgpt_args *a);

/* The arguments of SparseGPTModifier md (sparsity, mask_structure,
 * block_size, dampening_frac, preserve_sparsity_mask; llm-compressor's
 * defaults where absent).  Refuses per-layer sparsity lists and OWL
 * profiles (sparsity_profile), which qtune does not run. */
int qt_sgpt_args_from(const struct qt_modifier *md, struct qt_sgpt_args *a, qt_err *err);

/* The preview's estimate of what pruning costs tensor ti of m: the relative
 * error ‖W − W'‖ / ‖W‖ of magnitude pruning in a's structure (SparseGPT's
 * updates recover part of it), and, with d (cols) the importance E[x_j²],
 * the same weighted by d into *rel_out (else NAN). */
int qt_sgpt_preview(const struct qt_model *m, int ti, const struct qt_sgpt_args *a, const float *d,
                    double *rel, double *rel_out, qt_err *err);

/* Parses mask_structure ("2:4", "0:0", "" for unstructured) into N and M;
 * refuses N >= M (unless both are 0) and malformed text. */
int qt_sgpt_parse_mask(const char *s, int *n, int *m, qt_err *err);

/* Prunes w (rows, cols) in place under the Hessian h (cols, cols, read only;
 * any positive multiple of Σ x xᵀ; NULL: the identity, i.e. magnitude
 * pruning within the same structure, qt_sgpt_magnitude).  keep (rows, cols), when not NULL,
 * gets 1 where w may be non-zero.  loss, when not NULL, gets
 * Σ (w - q)² / U_jj² / 2 (llm-compressor's).  Refuses N:M when cols or
 * block_size is not a multiple of M. */
int qt_sgpt_prune(float *w, int64_t rows, int64_t cols, const double *h, const struct qt_sgpt_args *a,
                  uint8_t *keep, double *loss, qt_err *err);

/* Magnitude pruning of w (rows, cols) in place, in a's structure and with
 * its mask rules (N:M per row; unstructured per block of block_size
 * columns at a->sparsity with the same threshold; preserve_mask): what
 * qt_sgpt_prune does under an identity Hessian, without the C x C work.
 * The preview's estimate of what pruning costs, and the rule for modules
 * the pipeline has no statistics for.  keep as in qt_sgpt_prune. */
int qt_sgpt_magnitude(float *w, int64_t rows, int64_t cols, const struct qt_sgpt_args *a, uint8_t *keep,
                      qt_err *err);

#endif
