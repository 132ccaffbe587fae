/* smoothquant.h — SmoothQuant (Xiao et al. 2023) with SmoothQuantModifier's
 * arguments: per input channel j of the Linears that read one smooth layer
 * (a norm, or v_proj for o_proj),
 *
 *   s_j = max|x_j|^α / max_consumers max_i |W_ij|^(1-α)    (α = smoothing_strength)
 *   smooth layer weight /= s,  each consumer's W[:, j] *= s_j
 *
 * Two departures from llm-compressor, both so that smoothing never changes
 * what the unquantized layer computes:
 *   - the consumers are taken from the model's graph, every one of them:
 *     the routed experts, the shared expert and the fp32 router (mlp.gate),
 *     which llm-compressor's default glm4_moe mappings leave uncompensated
 *     (routing then changes: KL 0.0843 against RTN W8A8's 0.00499);
 *   - s_j is rounded to a power of two, so that w / s and W · s are exact in
 *     bf16 and the smoothed layer computes bit for bit what it computed
 *     before (the max-ratio of SmoothQuant is a heuristic; a factor of at
 *     most √2 away from it changes little, a rounded router changes routing). */
#ifndef QT_SMOOTHQUANT_H
#define QT_SMOOTHQUANT_H
#include <stdint.h>

/* s (n) from amax (n) = max|x_j| over the calibration tokens and wmax (n) =
 * max |W_ij| over the consumers' rows; channels with no activation or no
 * weight get 1. */
void qt_sq_scales(const float *amax, const float *wmax, int64_t n, double alpha, float *s);

#endif
