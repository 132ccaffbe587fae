/* tree.h — a model as the tree of nodes a person browses and edits:
 * embeddings, layers (attention, router, shared expert, routed experts as a
 * group with one node per expert, dense MLP, MTP parts), lm_head.  Each node
 * knows its member tensors and the recipe target a person would write for
 * it: the exact module name for one tensor, an anchored `re:` prefix for a
 * layer, an expert group, one expert ...
 *
 * One builder for both sides of the protocol: the daemon applies edit
 * intents on nodes named by their target (recipe/edit.h), the TUI shows the
 * same tree built from the model description the daemon sent, so a target
 * names the same node on both sides. */
#ifndef QT_RECIPE_TREE_H
#define QT_RECIPE_TREE_H
#include "base/qt.h"
#include "model/model.h"

struct qt_tree_node {
    char *label;              /* "layer 3  MoE", "expert 7", "q_proj" */
    char *target;             /* recipe pattern naming exactly this node's modules */
    int parent, first_child, next, depth;   /* node indices, -1 when none */
    int tensor;               /* leaf: model tensor index, else -1 */
    int first_member, n_members;   /* range in qt_tree.members */
};

struct qt_tree {
    int n, cap;
    struct qt_tree_node *nodes;   /* (n) node 0 is the root ("Linear": everything) */
    int n_members;
    int *members;             /* (n_members) tensor indices, each subtree one range */
    const struct qt_model *model;  /* borrowed: the model the tree is of */
};

/* Builds the tree of m: quantizable weights (qt_tensor_quantizable) and the
 * router, which is never quantized but which a layer's regex names (norms
 * and biases are not listed).  Children come after their parent.  Free with qt_tree_free. */
int qt_tree_build(struct qt_tree *t, const struct qt_model *m, qt_err *err);
void qt_tree_free(struct qt_tree *t);
/* The node whose target is exactly target, -1 when none (the first one in
 * node order when several share it). */
int qt_tree_find(const struct qt_tree *t, const char *target);
/* The scheme node i has under a resolution, as an edit steps from it:
 * schemes[ti] is tensor ti's ("bf16" when kept); its first member's (the
 * common one when the members agree); "bf16" for a node without members. */
const char *qt_tree_node_scheme(const struct qt_tree *t, const char *const *schemes, int i);

#endif
