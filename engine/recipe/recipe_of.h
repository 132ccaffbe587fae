/* recipe_of.h — the starting recipe of a quantized checkpoint that carries
 * no recipe.yaml: what its config.json says it holds, as a recipe, so that
 * the workbench shows (and a re-quantization reproduces) what the file has.
 * A GGUF file's is qt_gguf_recipe_of_file (gguf_edit.h). */
#ifndef QT_RECIPE_OF_H
#define QT_RECIPE_OF_H
#include "base/qt.h"

/* A recipe text from the quantization_config of a compressed-tensors
 * config.json (config_path): one QuantizationModifier whose config_groups
 * are the checkpoint's (targets, and the weights / input_activations
 * QuantizationArgs: num_bits, type, symmetric, strategy, group_size,
 * block_structure, dynamic, actorder), its ignore list and kv_cache_scheme.
 * NULL with err when the file has no compressed-tensors quantization_config
 * or no config group.  Caller frees. */
char *qt_recipe_of_ct(const char *config_path, qt_err *err);

#endif
