/* mtree.c — the browse tree: the engine's tree of the model (recipe/tree.h)
 * with what the person sees of it (expanded, marked, aggregates). */
#include "mtree.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mt_build(struct mtree *t, const struct src *s, qt_err *err) {
    memset(t, 0, sizeof *t);
    struct qt_tree q;
    if (qt_tree_build(&q, s->model, err) != QT_OK) return QT_ERR;
    t->nodes = calloc((size_t)q.n + 1, sizeof *t->nodes);
    t->vis = malloc(sizeof(int) * (size_t)(q.n + 1));
    t->listed = calloc((size_t)s->model->n_tensors + 1, 1);
    if (!t->nodes || !t->vis || !t->listed) {
        free(t->nodes);
        free(t->vis);
        free(t->listed);
        qt_tree_free(&q);
        return qt_err_set(err, "tree: out of memory");
    }
    /* the engine's nodes, labels, targets and members become the tree's */
    for (int i = 0; i < q.n; i++) {
        const struct qt_tree_node *a = &q.nodes[i];
        struct mt_node *b = &t->nodes[i];
        b->label = a->label;
        b->target = a->target;
        b->parent = a->parent;
        b->first_child = a->first_child;
        b->next = a->next;
        b->depth = a->depth;
        b->tensor = a->tensor;
        b->first_member = a->first_member;
        b->n_members = a->n_members;
        if (a->tensor >= 0) t->listed[a->tensor] = 1;
    }
    t->n = t->cap = q.n;
    t->members = q.members;
    t->n_members = q.n_members;
    t->model = s->model;
    free(q.nodes);
    t->nodes[0].expanded = 1;
    mt_update(t, s);
    mt_visible(t);
    return QT_OK;
}

void mt_free(struct mtree *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->nodes[i].label);
        free(t->nodes[i].target);
    }
    free(t->nodes);
    free(t->members);
    free(t->vis);
    free(t->listed);
    free(t->sort_key);
    free(t->keep);
    free(t->all);
    memset(t, 0, sizeof *t);
}

void mt_update(struct mtree *t, const struct src *s) {
    const struct qt_model *m = s->model;
    /* bottom-up: leaves from their tensor, parents from their children
     * (children have larger indices than their parent) */
    for (int i = 0; i < t->n; i++) {
        struct mt_node *n = &t->nodes[i];
        n->params = n->bytes_before = n->bytes_after = 0;
        n->scheme = NULL;
        n->n_quantized = 0;
        n->mixed = 0;
        n->seen = 0;
    }
    for (int i = t->n - 1; i >= 1; i--) {
        struct mt_node *n = &t->nodes[i];
        if (n->tensor >= 0) {
            const struct qt_tensor *x = &m->tensors[n->tensor];
            n->params = qt_tensor_numel(x);
            n->bytes_before = (int64_t)x->nbytes;
            n->bytes_after = s->resol.cur.t ? s->resol.cur.t[n->tensor].bytes : (int64_t)x->nbytes;
            n->scheme = s->resol.cur.t ? s->resol.cur.t[n->tensor].scheme : "bf16";
            n->n_quantized = s->resol.cur.t && s->resol.cur.t[n->tensor].quantized;
            n->seen = 1;
        }
        if (!n->seen) continue;
        struct mt_node *p = &t->nodes[n->parent];
        p->params += n->params;
        p->bytes_before += n->bytes_before;
        p->bytes_after += n->bytes_after;
        p->n_quantized += n->n_quantized;
        if (!p->seen) p->scheme = n->scheme, p->mixed = n->mixed;
        else if (n->mixed || !p->scheme || !n->scheme || strcmp(p->scheme, n->scheme)) p->mixed = 1;
        p->seen = 1;
    }
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].mixed) t->nodes[i].scheme = NULL;
}

static int key_cmp(const void *pa, const void *pb, void *ctx) {
    const struct mtree *t = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    double ka = t->sort_key[a], kb = t->sort_key[b];
    int na = isnan(ka), nb = isnan(kb);
    if (na != nb) return na - nb;   /* unknown figures last */
    if (!na && ka != kb) return (ka < kb) == !t->sort_desc ? -1 : 1;
    return a - b;
}

/* Appends the shown children of parent (and theirs) to t->vis. */
static void vis_children(struct mtree *t, int parent) {
    int cnt = 0;
    for (int c = t->nodes[parent].first_child; c >= 0; c = t->nodes[c].next) cnt++;
    int *kids = cnt ? malloc(sizeof(int) * (size_t)cnt) : NULL;
    int m = 0;
    for (int c = t->nodes[parent].first_child; c >= 0; c = t->nodes[c].next)
        if (!t->keep || t->keep[c]) {
            if (kids) kids[m++] = c;
            else t->vis[t->n_vis++] = c;   /* out of memory: tree order, no descent */
        }
    if (!kids) return;
    if (t->sort_key && m > 1) qsort_r(kids, (size_t)m, sizeof *kids, key_cmp, t);
    for (int k = 0; k < m; k++) {
        int c = kids[k];
        t->vis[t->n_vis++] = c;
        const struct mt_node *n = &t->nodes[c];
        if (n->first_child >= 0 && (n->expanded || (t->keep && !t->all[c]))) vis_children(t, c);
    }
    free(kids);
}

void mt_visible(struct mtree *t) {
    t->n_vis = 0;
    if (t->n > 0) vis_children(t, 0);
}

void mt_reveal(struct mtree *t, int i) {
    for (int p = t->nodes[i].parent; p > 0; p = t->nodes[p].parent) t->nodes[p].expanded = 1;
    mt_visible(t);
}

int mt_vis_index(const struct mtree *t, int i) {
    for (int k = 0; k < t->n_vis; k++)
        if (t->vis[k] == i) return k;
    return -1;
}

int mt_has_children(const struct mtree *t, int i) { return t->nodes[i].first_child >= 0; }

int mt_leaf_of(const struct mtree *t, int ti) {
    for (int i = 1; i < t->n; i++)
        if (t->nodes[i].tensor == ti) return i;
    return -1;
}
