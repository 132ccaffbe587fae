/* edit.h — edit intents: "these tree nodes, one step fewer bits" turned into
 * clean recipe entries.  The daemon applies them (the `edit` op); the TUI
 * only names the nodes and the action, so one key press is one small
 * request and the recipe is only ever changed where it is held.
 *
 * compressed-tensors resolves equal-strength regex targets by sorting their
 * texts, so a broad `re:model\.layers\.1\.` sorts before (and beats) a
 * narrower `re:model\.layers\.1\.mlp\.experts\.`.  Edits therefore keep the
 * recipe's node entries an antichain: giving node N a scheme removes the
 * entries of N's descendants (N's entry covers them) and splits any ancestor
 * entry into entries for the ancestor's other children along the path to N,
 * then writes N's own entry: a config-group target, or `ignore` for bf16. */
#ifndef QT_RECIPE_EDIT_H
#define QT_RECIPE_EDIT_H
#include <stddef.h>

#include "recipe/recipe.h"
#include "recipe/tree.h"

/* What an edit does to each of its nodes.  Names (qt_edit_action_name) are
 * the protocol's: "bits+", "bits-", "group", "sym", "type", "ignore", "set",
 * "target", "ignore-pattern", "gguf", "ftype".  In GGUF mode (a recipe
 * with a qtune_gguf section) the daemon applies them with qt_gguf_edit_apply
 * (recipe/gguf_edit.h) instead. */
enum qt_edit_action {
    QT_EDIT_BITS_UP,          /* int 2..8 one bit more, then fp8, then kept bf16 */
    QT_EDIT_BITS_DOWN,        /* bf16 -> int8 -> ... -> int2; fp8 -> nvfp4 */
    QT_EDIT_GROUP,            /* int: group 32 -> 64 -> 128 -> channel; fp8: ch -> t -> b128; fp4 kinds */
    QT_EDIT_SYM,              /* int: symmetric <-> asymmetric */
    QT_EDIT_TYPE,             /* int <-> fp8 <-> nvfp4 */
    QT_EDIT_IGNORE,           /* keep in bf16; un-ignore when every node is already kept */
    QT_EDIT_SET,              /* the given scheme */
    QT_EDIT_TARGET,           /* add a pattern as a target (the given scheme, else the first node's) */
    QT_EDIT_IGNORE_PATTERN,   /* add a pattern to ignore */
    QT_EDIT_GGUF,             /* GGUF target on / off: the recipe's qtune_gguf section (gguf_edit.h) */
    QT_EDIT_FTYPE,            /* GGUF file type (preset): the given one, else the next */
    QT_EDIT_N
};

const char *qt_edit_action_name(enum qt_edit_action a);
/* The action named name, -1 when none. */
int qt_edit_action_parse(const char *name);
/* The names, comma separated, for error messages and the protocol docs. */
const char *qt_edit_action_list(void);

/* The scheme one step of act (a stepping action: bits+, bits-, group, sym,
 * type) makes of cur ("bf16" when kept).  Returns 1 with the canonical
 * scheme in out (n >= QT_SCHEME_STR_MAX), or 0 when there is no step to
 * make, with why saying so ("int2-g128-sym: no fewer bits"). */
int qt_scheme_step(const char *cur, enum qt_edit_action act, char *out, size_t n, char *why, size_t wn);

/* Gives node i of t the scheme sc ("bf16": ignore it; NULL: no entry of its
 * own, i.e. un-ignore and let wider targets decide) in r, keeping the node
 * entries an antichain (above). */
int qt_edit_node_scheme(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err);

/* One edit intent. */
struct qt_edit {
    enum qt_edit_action action;
    int n_nodes;
    const int *nodes;         /* (n_nodes) tree nodes; TARGET uses the first for its scheme */
    const char *scheme;       /* SET; TARGET (NULL: the first node's, int4-g128-sym when it is kept) */
    const char *pattern;      /* TARGET, IGNORE_PATTERN */
};

/* What an edit did. */
struct qt_edit_outcome {
    int changed;              /* nodes (or patterns) given an entry; 0: nothing to do, why says why */
    int all_kept;             /* IGNORE: every node was kept, so the nodes were un-ignored */
    char scheme[QT_SCHEME_STR_MAX];   /* what the first node (or the pattern) was asked to get, "bf16" for ignore */
    char why[256];
};

/* Applies e to r.  schemes[ti] is tensor ti's scheme under r as resolved
 * on t's model ("bf16" when kept; NULL: every tensor is kept): stepping
 * actions step each node from its scheme (qt_tree_node_scheme).  Nodes
 * whose step is impossible are left alone; when none can step, r is
 * unchanged and o->changed is 0.  QT_ERR with err for a bad scheme or
 * pattern, or an out-of-range node. */
int qt_edit_apply(const struct qt_tree *t, struct qt_recipe *r, const char *const *schemes,
                  const struct qt_edit *e, struct qt_edit_outcome *o, qt_err *err);

#endif
