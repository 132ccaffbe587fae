/* gguf_eval.h — evaluating a GGUF file against the model it was made from:
 * the file runs as a model of its own (every tensor dequantized as
 * llama.cpp reads it, token embedding and output included) and the base
 * is the original model, whose final norm and lm_head turn the base states
 * into logits (qt_eval_params.base_model).  With ggml arithmetic each
 * Linear's input is rounded as llama.cpp's CPU backend converts it for the
 * weight's type (its vec_dot_type: Q8_0 blocks for Q8_0 and the legacy
 * types, Q8_K for the K types and IQ4_XS, BF16/F16 for those weights, none
 * for F32), and the base as llama.cpp runs the BF16 GGUF of the original:
 * BF16 inputs for every Linear (the router, F32 in the GGUF, goes through
 * the forward's own f32 path either way). */
#ifndef QT_GGUF_EVAL_H
#define QT_GGUF_EVAL_H
#include "eval/forward.h"
#include "model/model.h"
#include "base/qt.h"

/* Fails (naming path) unless gguf, an opened GGUF file, has m's hidden
 * size, layer count and vocabulary. */
int qt_gguf_eval_check(const struct qt_model *m, const struct qt_model *gguf, const char *path, qt_err *err);

/* The hooks of gguf's forward: ggml activation rounding when ggml_arith,
 * none (f32 activations) otherwise.  gguf must outlive their use. */
struct qt_fwd_hooks qt_gguf_fwd_hooks(const struct qt_model *gguf, int ggml_arith);

/* The activation rounding llama.cpp's CPU backend applies to the input of a
 * matmul with a weight of GGML type gg (enum qt_ggml_type), exposed for
 * tests. */
enum qt_fwd_act qt_gguf_act_of_type(int gg);

/* Tensors of gguf stored in a quantized type (not F32/F16/BF16). */
int qt_gguf_eval_n_quantized(const struct qt_model *gguf);

#endif
