/* gguf_plan.h — which ggml type each tensor of a GGUF file gets.
 *
 * The recipe says it in a top-level `qtune_gguf:` map (llm-compressor's
 * Recipe.from_dict reads only keys ending in `_stage`, so it ignores this
 * one and still loads the file; qtune keeps it on save):
 *
 *   qtune_gguf:
 *     ftype: Q4_K_M              # a llama-quantize file type: its base type and,
 *                                # for the mixes (Q4_K_M, Q5_K_M, IQ4_XS, ...),
 *                                # llama.cpp's own per-tensor rules
 *     tensor_types:              # llama-quantize --tensor-type PATTERN=TYPE: the
 *       - ffn_down_exps=Q6_K     # first regex that matches the GGUF name wins
 *       - "blk\\.[0-2]\\.=Q8_0"
 *     output_tensor_type: Q6_K   # --output-tensor-type
 *     token_embedding_type: Q8_0 # --token-embedding-type
 *     pure: false                # --pure: no per-tensor rules
 *
 * The choice follows llama-quantize (llama-quant.cpp) step by step: only
 * tensors it quantizes (2-D/3-D ".weight", not norms, not the router
 * ffn_gate_inp) take a quantized type, everything else is F32 as
 * convert_hf_to_gguf writes it; a manual pattern, else the mix rules
 * (counters in llama.cpp's tensor order: by block, then name), then the
 * shape fallback (a row length the block does not divide: Q4_K -> Q5_0,
 * Q6_K -> Q8_0, IQ4_XS -> IQ4_NL, ..., F16 as the last resort).
 * One difference, documented in docs/gguf.md: tensor_types also apply when
 * the ftype is F16/BF16/F32 (llama-quantize ignores them there). */
#ifndef QT_GGUF_PLAN_H
#define QT_GGUF_PLAN_H
#include <stdint.h>

#include "base/qt.h"
#include "base/yamltree.h"
#include "model/model.h"

/* llama-quantize file types qtune writes: name, LLAMA_FTYPE id, base type. */
struct qt_gguf_ftype {
    const char *name;         /* "Q4_K_M" */
    int id;                   /* LLAMA_FTYPE_MOSTLY_Q4_K_M = 15 */
    int base;                 /* default ggml type (Q4_K) */
};
const struct qt_gguf_ftype *qt_gguf_ftype_find(const char *name);   /* also "Q4_K" = Q4_K_M */
const struct qt_gguf_ftype *qt_gguf_ftype_by_id(int id);
int qt_gguf_n_ftypes(void);
const struct qt_gguf_ftype *qt_gguf_ftype_at(int i);

struct qt_gguf_override {
    char *pattern;            /* lower-cased, as llama-quantize does */
    int type;                 /* ggml type */
    void *re;                 /* compiled (pcre2_code) */
};

struct qt_gguf_spec {
    const struct qt_gguf_ftype *ftype;   /* NULL: keep the source precision (BF16 ...) */
    int n_over;
    struct qt_gguf_override *over;       /* (n_over) */
    int output_type, embd_type;          /* ggml types, -1 when not given */
    int pure;
};

/* Reads the `qtune_gguf` map of a recipe's root (absent: an empty spec).
 * fname names the recipe in errors. */
int qt_gguf_spec_from_yaml(const struct qt_yaml *root, const char *fname, struct qt_gguf_spec *s, qt_err *err);
/* A spec from a file type name (the CLI's --gguf-type). */
int qt_gguf_spec_from_ftype(const char *name, struct qt_gguf_spec *s, qt_err *err);
/* Adds one PATTERN=TYPE override. */
int qt_gguf_spec_add_override(struct qt_gguf_spec *s, const char *pattern_eq_type, qt_err *err);
void qt_gguf_spec_free(struct qt_gguf_spec *s);
/* 1 when override o's pattern is found in the GGUF name (llama-quantize's
 * regex search). */
int qt_gguf_override_match(const struct qt_gguf_override *o, const char *name);
/* 1 when the type is a quantized one (not F32, F16, BF16). */
int qt_gguf_type_quantized(int type);

/* One tensor of the GGUF file. */
struct qt_gguf_out {
    char name[96];            /* "blk.1.ffn_down_exps.weight" */
    int ndim;
    int64_t ne[3];            /* ggml order: ne[0] row length, ne[2] experts */
    int n_src;
    int *src;                 /* (n_src) model tensor indices; stacked experts by expert index */
    int layer;                /* block, -1 for token_embd / output / output_norm */
    int type;                 /* the ggml type written */
    int wanted;               /* the type before the shape fallback */
    int quantizable;          /* llama-quantize would quantize it */
    int manual;               /* a tensor_types pattern chose it */
    int rule;                 /* what chose it: the tensor_types index, QT_GGUF_RULE_OUTPUT /
                                 QT_GGUF_RULE_EMBD (output_tensor_type / token_embedding_type),
                                 -1 for the file type's own rules */
};
#define QT_GGUF_RULE_OUTPUT (-2)
#define QT_GGUF_RULE_EMBD (-3)

struct qt_gguf_plan {
    int n;
    struct qt_gguf_out *t;    /* (n) in llama.cpp's order: token_embd/output first, then by block, name */
    int ftype_id;             /* general.file_type */
    int n_fallback;           /* tensors whose shape forced another type */
    int64_t bytes;            /* tensor data bytes (unpadded) */
    int64_t params;           /* weights counted (all tensors) */
};

/* Builds the plan for m under s; has_imatrix as llama-quantize's (a few
 * rules differ with an importance matrix).  Tensors without a llama.cpp name
 * are refused (the message names one).  Free with qt_gguf_plan_free. */
int qt_gguf_plan_build(const struct qt_model *m, const struct qt_gguf_spec *s, int has_imatrix,
                       struct qt_gguf_plan *p, qt_err *err);
void qt_gguf_plan_free(struct qt_gguf_plan *p);
/* Bytes of one planned tensor. */
int64_t qt_gguf_out_bytes(const struct qt_gguf_out *o);

/* GGUF findings appended to a lint (recipe/lint.h), for `qtune lint` on a
 * recipe with a qtune_gguf section:
 *   GG001 warning  tensors whose row length the chosen type's block does not
 *                  divide (256 for K types and IQ4_XS): llama-quantize, and
 *                  qtune, write the fallback type instead (one finding per
 *                  wanted -> written pair, naming the tensors)
 *   GG002 warning  a tensor_types pattern that matches no GGUF tensor name */
struct qt_lint;
int qt_gguf_lint(const struct qt_model *m, const struct qt_gguf_spec *s, const struct qt_gguf_plan *p,
                 struct qt_lint *L, qt_err *err);

/* Lint for a ggml type on a tensor of row length ncols: NULL when llama.cpp
 * can run it, else why not (e.g. "row length 128 is not a multiple of Q4_K's
 * 256-element block: llama-quantize writes Q5_0"). */
const char *qt_gguf_lint_type(int type, int64_t ncols, char *buf, size_t n);
/* The type llama-quantize falls back to when ncols does not fit type. */
int qt_gguf_fallback(int type, int64_t ncols);

#endif
