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

/* ---- fake quantization to ggml types (the GGUF planner) ------------------
 * The forward of the original model with some tensors replaced by what a
 * GGUF file would hold: each quantized (ggml's quantizer, with importance
 * weights as the GGUF writer passes them) and dequantized, row by row, so
 * that the KL is the one `qtune eval --quantized FILE.gguf` measures on the
 * written file (without --ggml-arith).  The token embedding goes through the
 * forward's embed hook (only the rows of the tokens seen are quantized: ggml
 * quantizes rows independently), lm_head / `output` through the weight hook. */
struct qt_gguf_fq {
    const struct qt_model *m;
    int *type;                  /* (n_tensors) ggml type tensor i becomes, -1: the model's own */
    float *const *imp;          /* (n_tensors) importance (cols) or NULL; may be NULL itself */
    const unsigned char *only;  /* (n_tensors) or NULL: when set, only tensors with only[i] are replaced */
};

/* y (rows, cols) = dequantize(quantize(x, type, imp)); x and y may be the
 * same array.  Row bands run on the pool.  Fails for a type qtune does not
 * write or a row length its block does not divide. */
int qt_gguf_fake_quant(int type, const float *x, float *y, int64_t rows, int64_t cols, const float *imp, qt_err *err);

/* Forward hooks serving f (f must outlive their use). */
struct qt_fwd_hooks qt_gguf_fq_hooks(struct qt_gguf_fq *f);

#endif
