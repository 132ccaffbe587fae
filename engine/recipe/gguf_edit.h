/* gguf_edit.h — the workbench's GGUF target.  A recipe with a `qtune_gguf`
 * section (gguf_plan.h) targets a GGUF file for llama.cpp: the daemon then
 * resolves it into ggml types (the plan: what `qtune quantize --format gguf`
 * writes), and the TUI's edit intents (edit.h) become entries of that
 * section instead of compressed-tensors config groups:
 *
 *   a node                  -> a `tensor_types` entry "PATTERN=TYPE" whose
 *                              regex names exactly the node's GGUF tensors
 *                              (`^blk\.3\.` for layer 3, `^blk\.3\.ffn_(down|
 *                              gate|up)_exps\.weight$` for its routed experts)
 *   the output / embedding  -> output_tensor_type / token_embedding_type
 *   the root (everything)   -> the file type (ftype), other entries dropped
 *
 * As llama-quantize reads tensor_types top to bottom and the first match
 * wins, a node's entry goes first and entries that name only tensors of the
 * node are removed (the node's entry covers them); an entry that would give
 * the node what the file type's rules give it anyway is not written, so an
 * edit stepped back folds away.  GGUF stacks a layer's routed experts into
 * one tensor per projection: an edit on one expert is an edit on all of the
 * layer's experts. */
#ifndef QT_GGUF_EDIT_H
#define QT_GGUF_EDIT_H
#include <stddef.h>

#include "base/qt.h"
#include "model/model.h"
#include "recipe/edit.h"
#include "recipe/gguf_plan.h"
#include "recipe/recipe.h"
#include "recipe/tree.h"

/* 1 when r (NULL: no recipe) has a qtune_gguf mapping: it targets a GGUF file. */
int qt_gguf_recipe_on(const struct qt_recipe *r);

/* Plan index of each model tensor ((n_tensors), -1 for tensors the plan does
 * not hold, e.g. FP8 scales).  Caller frees; NULL when out of memory. */
int *qt_gguf_plan_map(const struct qt_gguf_plan *p, int n_tensors);

/* The ggml type one step of act (bits+, bits-, type) makes of cur, or -1
 * with why saying there is none.  bits-/bits+ walk BF16 Q8_0 Q6_K Q5_K Q4_K
 * IQ4_XS Q3_K Q2_K (from a type off that ladder: the next one by bits per
 * weight); type cycles the types of one width (Q4_K Q4_0 Q4_1 IQ4_NL IQ4_XS,
 * Q5_K Q5_0 Q5_1, BF16 F16 F32). */
int qt_gguf_type_step(int cur, enum qt_edit_action act, char *why, size_t wn);

/* The regex (llama-quantize's search, lower case) that matches exactly the
 * quantizable plan tensors k with in[k] set, among all quantizable tensors
 * of p: an anchored common prefix when that is exact, else prefix, the
 * differing middles as alternatives, suffix.  Returns 0, -1 when in is
 * empty or out (n bytes) too small. */
int qt_gguf_node_pattern(const struct qt_gguf_plan *p, const unsigned char *in, char *out, size_t n);

/* Applies e to r's qtune_gguf section (GGUF actions gguf and ftype in any
 * recipe; the node actions bits+, bits-, type, ignore, set and the pattern
 * actions when r targets GGUF).  o as qt_edit_apply's; QT_ERR for a bad type
 * or pattern, or a model without llama.cpp names. */
int qt_gguf_edit_apply(const struct qt_tree *t, struct qt_recipe *r, const struct qt_model *m,
                       const struct qt_edit *e, struct qt_edit_outcome *o, qt_err *err);

/* A recipe text (qt_recipe_new's plus a qtune_gguf section) under which the
 * plan of m, a GGUF file opened as a model, gives every tensor the type the
 * file holds: ftype from general.file_type, a tensor_types entry for each
 * tensor whose type differs from the file type's rules.  NULL with err when
 * m is not a GGUF file or has tensors without llama.cpp names. */
char *qt_gguf_recipe_of_file(const struct qt_model *m, qt_err *err);

#endif
