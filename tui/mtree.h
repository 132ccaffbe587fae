/* mtree.h — the model as a tree of nodes the person browses and edits:
 * embeddings, layers (attention, router, shared expert, routed experts as a
 * group with one row per expert, dense MLP, MTP parts), lm_head.  Each node
 * knows its member tensors and the recipe target a person would write for it
 * (exact module name for one tensor, `re:` prefix for a layer, an expert
 * group, one expert ...).  Aggregates follow the source's resolution. */
#ifndef QT_TUI_MTREE_H
#define QT_TUI_MTREE_H
#include <stdint.h>

#include "recipe/tree.h"
#include "source.h"

struct mt_node {
    char *label;              /* "layer 3  MoE", "experts x160", "q_proj" */
    char *target;             /* recipe pattern naming exactly this node's modules */
    int parent, first_child, next, depth;
    int tensor;               /* leaf: model tensor index, else -1 */
    int first_member, n_members;   /* range in mtree->members */
    int expanded, marked;
    /* aggregates over members, after the current resolution */
    int64_t params, bytes_before, bytes_after;
    const char *scheme;       /* common scheme, NULL when members differ ("mixed") */
    int n_quantized;
    int mixed, seen;          /* scratch of mt_update */
};

struct mtree {
    int n, cap;
    struct mt_node *nodes;    /* (n) node 0 is the invisible root */
    int n_members;
    int *members;             /* (n_members) tensor indices, grouped per node subtree */
    int n_vis;
    int *vis;                 /* (n_vis) visible node indices in display order */
    int n_marked;
    unsigned char *listed;    /* (model n_tensors) 1: a leaf of the tree (a quantizable weight) */
    const struct qt_model *model;  /* borrowed: the model the tree shows */
    /* how the visible list is ordered and filtered (the tree panel sets
     * these from figures the engine sent; mt_visible applies them) */
    double *sort_key;         /* (n) NULL: tree order; else siblings by key, NAN last */
    int sort_desc;            /* 1: largest key first */
    unsigned char *keep;      /* (n) NULL: no filter; 1: the node or a descendant matches */
    unsigned char *all;       /* (n) with keep: 1 when every leaf below matches (not descended) */
};

/* Builds the tree of s->model (2-D weights only; norms and biases are in the
 * totals but not listed).  Returns QT_OK or QT_ERR when out of memory. */
int mt_build(struct mtree *t, const struct src *s, qt_err *err);
void mt_free(struct mtree *t);
/* Recomputes aggregates from s->resol.cur and s->bytes_after. */
void mt_update(struct mtree *t, const struct src *s);
/* Rebuilds the visible list after expand/collapse, sort or filter changes:
 * children of expanded nodes in sort_key order (ties in tree order); with a
 * filter only kept nodes, and a kept node whose leaves do not all match is
 * descended into even when collapsed, so that every match shows. */
void mt_visible(struct mtree *t);
/* Expands every ancestor of node i. */
void mt_reveal(struct mtree *t, int i);
/* Position of node i in the visible list, -1 when hidden. */
int mt_vis_index(const struct mtree *t, int i);
/* 1 when the node has children. */
int mt_has_children(const struct mtree *t, int i);
/* Node whose only member is tensor ti (its leaf), -1 when not listed. */
int mt_leaf_of(const struct mtree *t, int ti);

#endif
