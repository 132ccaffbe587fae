/* edit.h — turning "this node gets that scheme" into clean recipe entries.
 *
 * compressed-tensors resolves equal-strength regex targets by sorting their
 * texts, so a broad `re:model\.layers\.1\.` sorts before (and beats) a
 * narrower `re:model\.layers\.1\.mlp\.experts\.`.  Edits therefore keep the
 * recipe's node entries an antichain: giving node N a scheme removes the
 * entries of N's descendants (N's entry covers them) and splits any ancestor
 * entry into entries for the ancestor's other children along the path to N
 * (regex siblings folded into one alternation, e.g.
 * `re:model\.layers\.1\.mlp\.experts\.(0|1|2|4)\.`), then writes N's own
 * entry: a config-group target, or `ignore` for bf16. */
#ifndef QT_TUI_EDIT_H
#define QT_TUI_EDIT_H
#include "mtree.h"
#include "recipe/recipe.h"

/* Gives node i the scheme sc ("bf16": ignore it; NULL: no entry of its own,
 * i.e. un-ignore and let wider targets decide) in r. */
int edit_node_scheme(const struct mtree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err);

#endif
