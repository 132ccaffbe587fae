/* plan_gguf.h — the planner's GGUF target (plan.h, format QT_PLAN_GGUF),
 * called by plan.c; not for other callers.
 *
 * Units are the GGUF file's tensors as llama.cpp names them (a layer's
 * routed experts are one stacked tensor per projection, ffn_{gate,up,down}_exps,
 * so each is one unit; attn_q/k/v/output, the shared expert's and the dense
 * FFN's tensors, token_embd and output), every one the forward runs; the MTP
 * layer (which the forward does not run) and the base recipe's float tensors
 * are the fixed part and follow the file type's rules.  Candidates are ggml
 * types; on a row length a type's block does not divide, the candidate is
 * what llama-quantize writes instead (qt_gguf_fallback).  ΔKL: the forward
 * with one tensor fake-quantized by ggml's quantizer (eval/gguf_eval.h),
 * restarting from the base states entering its layer (token_embd from the
 * embeddings, output at the head).  The recipe: the file type plus a
 * tensor_types entry per (tensor kind, type) naming its layers, and
 * output_tensor_type / token_embedding_type. */
#ifndef QT_PLAN_GGUF_H
#define QT_PLAN_GGUF_H
#include "eval/plan.h"

int qt_plan_gguf_init(const struct qt_model *m, const struct qt_plan_opts *o, struct qt_plan *out, qt_err *err);
void qt_plan_gguf_free(struct qt_plan *p);
int qt_plan_gguf_measure(struct qt_plan *p, const struct qt_eval_params *ep, qt_err *err);
int qt_plan_gguf_recipe(const struct qt_plan *p, const int *choice, const char *base_path, const char *header,
                        struct qt_recipe **out, qt_err *err);

#endif
