/* tree.c — the browse and edit tree of a model (see tree.h). */
#include "recipe/tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/match.h"
#include "recipe/recipe.h"

static int add_node(struct qt_tree *t, int parent, const char *label, int tensor, int *last_child) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        struct qt_tree_node *nn = realloc(t->nodes, sizeof *nn * (size_t)cap);
        if (!nn) return -1;
        t->nodes = nn;
        t->cap = cap;
    }
    int i = t->n++;
    struct qt_tree_node *n = &t->nodes[i];
    memset(n, 0, sizeof *n);
    n->label = qt_strdup(label);
    n->parent = parent;
    n->first_child = n->next = -1;
    n->tensor = tensor;
    n->depth = parent >= 0 ? t->nodes[parent].depth + 1 : -1;
    if (parent >= 0) {
        if (last_child[parent] < 0) t->nodes[parent].first_child = i;
        else t->nodes[last_child[parent]].next = i;
        last_child[parent] = i;
    }
    last_child[i] = -1;
    return n->label ? i : -1;
}

/* Escapes a module-name prefix for a Python regex. */
static char *regex_prefix(const char *p, size_t n) {
    char *out = malloc(n * 2 + 4), *o = out;
    if (!out) return NULL;
    memcpy(o, "re:", 3);
    o += 3;
    for (size_t i = 0; i < n; i++) {
        if (strchr(".[](){}*+?^$|\\", p[i])) *o++ = '\\';
        *o++ = p[i];
    }
    *o = 0;
    return out;
}

/* Collects leaves depth-first so that every subtree's tensors are one range. */
static void collect(struct qt_tree *t, int i) {
    struct qt_tree_node *n = &t->nodes[i];
    n->first_member = t->n_members;
    if (n->tensor >= 0) t->members[t->n_members++] = n->tensor;
    for (int c = n->first_child; c >= 0; c = t->nodes[c].next) collect(t, c);
    t->nodes[i].n_members = t->n_members - t->nodes[i].first_member;
}

enum { SUB_ATTN, SUB_SHARED, SUB_EXPERTS, SUB_MLP, SUB_N };

int qt_tree_build(struct qt_tree *t, const struct qt_model *m, qt_err *err) {
    memset(t, 0, sizeof *t);
    int cap_nodes = 4 * m->n_tensors + 64;
    int *last_child = malloc(sizeof(int) * (size_t)cap_nodes);
    int nl = m->cfg.n_layers + m->cfg.n_mtp + 8;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].layer >= nl) nl = m->tensors[i].layer + 1;
    int *layer_node = malloc(sizeof(int) * (size_t)nl);
    int *sub = malloc(sizeof(int) * (size_t)nl * SUB_N);        /* (layers, SUB_N) */
    int ne = m->cfg.n_experts > 0 ? m->cfg.n_experts : 1;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].expert >= ne) ne = m->tensors[i].expert + 1;
    int *expert_node = malloc(sizeof(int) * (size_t)nl * ne);    /* (layers, experts) */
    t->members = malloc(sizeof(int) * (size_t)(m->n_tensors + 1));
    if (!last_child || !layer_node || !sub || !expert_node || !t->members) goto oom;
    for (int i = 0; i < nl; i++) layer_node[i] = -1;
    for (int i = 0; i < nl * SUB_N; i++) sub[i] = -1;
    for (int i = 0; i < nl * ne; i++) expert_node[i] = -1;
    if (add_node(t, -1, "model", -1, last_child) < 0) goto oom;
    char label[256], mod[512];
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const struct qt_tensor *x = &m->tensors[ti];
        /* the tree shows the quantizable weights and, kept, the router:
         * a layer's regex names it, and lint says so */
        if (!qt_tensor_quantizable(x) && !(x->role == QT_ROLE_ROUTER && x->ndim == 2)) continue;
        if (t->n + 4 >= cap_nodes) goto oom;
        qt_match_module(x, mod, sizeof mod);
        int parent = 0, L = x->layer;
        const char *leaf = mod;
        if (L >= 0 && L < nl) {
            if (layer_node[L] < 0) {
                int moe = 0;
                for (int j = ti; j < m->n_tensors && m->tensors[j].layer == L; j++)
                    if (m->tensors[j].expert >= 0) moe = 1;
                snprintf(label, sizeof label, "layer %d  %s", L, x->mtp ? "MTP" : moe ? "MoE" : "dense");
                if ((layer_node[L] = add_node(t, 0, label, -1, last_child)) < 0) goto oom;
            }
            parent = layer_node[L];
            /* the part after "model.layers.L." */
            char pfx[64];
            snprintf(pfx, sizeof pfx, "model.layers.%d.", L);
            if (!strncmp(mod, pfx, strlen(pfx))) leaf = mod + strlen(pfx);
            int kind = -1;
            const char *kname = NULL;
            enum qt_role r = x->role;
            if ((r >= QT_ROLE_ATTN_Q && r <= QT_ROLE_ATTN_KV_A_NORM) ||
                (r >= QT_ROLE_INDEXER_WQ_B && r <= QT_ROLE_INDEXER_WEIGHTS_PROJ))
                kind = SUB_ATTN, kname = "attention";
            else if (r >= QT_ROLE_SHARED_GATE && r <= QT_ROLE_SHARED_DOWN)
                kind = SUB_SHARED, kname = "shared expert";
            else if (r >= QT_ROLE_EXPERT_GATE && r <= QT_ROLE_EXPERT_DOWN)
                kind = SUB_EXPERTS, kname = "routed experts";
            else if (r >= QT_ROLE_MLP_GATE && r <= QT_ROLE_MLP_DOWN)
                kind = SUB_MLP, kname = "mlp";
            if (kind >= 0) {
                int *sp = &sub[L * SUB_N + kind];
                if (*sp < 0) {
                    if (kind == SUB_EXPERTS) snprintf(label, sizeof label, "routed experts (%d)", m->cfg.n_experts);
                    else snprintf(label, sizeof label, "%s", kname);
                    if ((*sp = add_node(t, parent, label, -1, last_child)) < 0) goto oom;
                }
                parent = *sp;
                const char *dot = strrchr(leaf, '.');
                if (kind == SUB_EXPERTS && x->expert >= 0 && x->expert < ne) {
                    int *ep = &expert_node[L * ne + x->expert];
                    if (*ep < 0) {
                        snprintf(label, sizeof label, "expert %d", x->expert);
                        if ((*ep = add_node(t, parent, label, -1, last_child)) < 0) goto oom;
                    }
                    parent = *ep;
                }
                if (dot && kind != SUB_MLP) leaf = dot + 1;
                else if (kind == SUB_MLP && !strncmp(leaf, "mlp.", 4)) leaf += 4;
            }
            if (r == QT_ROLE_ROUTER) {
                snprintf(label, sizeof label, "router (%.200s)", leaf);
                leaf = label;
            }
        }
        if (parent == 0 && !strncmp(leaf, "model.", 6)) leaf += 6;
        int li = add_node(t, parent, leaf, ti, last_child);
        if (li < 0 || !(t->nodes[li].target = qt_strdup(mod))) goto oom;
    }
    collect(t, 0);
    /* targets: the module name of a single tensor, else the escaped common
     * dotted prefix of the members' modules as an anchored regex.  Children
     * come after their parent, so one pass from the end sees every child
     * before its parent: prefixes are merged bottom-up in O(nodes). */
    const char **pstr = calloc((size_t)t->n, sizeof *pstr);   /* (n) prefix text */
    size_t *plen = calloc((size_t)t->n, sizeof *plen);         /* (n) its length */
    if (!pstr || !plen) { free(pstr); free(plen); goto oom; }
    for (int i = t->n - 1; i >= 1; i--) {
        struct qt_tree_node *n = &t->nodes[i];
        if (n->tensor >= 0) {   /* target set when the leaf was made */
            pstr[i] = n->target;
            plen[i] = strlen(n->target);
        } else if (!pstr[i]) {
            n->target = qt_strdup("");
        } else {
            size_t len = plen[i];
            while (len > 0 && pstr[i][len - 1] != '.') len--;   /* whole components only */
            n->target = len ? regex_prefix(pstr[i], len) : qt_strdup("Linear");
        }
        if (!n->target) { free(pstr); free(plen); goto oom; }
        int p = n->parent;
        if (p <= 0 || !pstr[i]) continue;
        if (!pstr[p]) { pstr[p] = pstr[i]; plen[p] = plen[i]; continue; }
        size_t j = 0, lim = plen[p] < plen[i] ? plen[p] : plen[i];
        while (j < lim && pstr[p][j] == pstr[i][j]) j++;
        plen[p] = j;
    }
    free(pstr);
    free(plen);
    t->nodes[0].target = qt_strdup("Linear");
    t->model = m;
    free(last_child);
    free(layer_node);
    free(sub);
    free(expert_node);
    return QT_OK;
oom:
    free(last_child);
    free(layer_node);
    free(sub);
    free(expert_node);
    qt_tree_free(t);
    return qt_err_set(err, "tree: out of memory");
}

void qt_tree_free(struct qt_tree *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->nodes[i].label);
        free(t->nodes[i].target);
    }
    free(t->nodes);
    free(t->members);
    memset(t, 0, sizeof *t);
}

int qt_tree_find(const struct qt_tree *t, const char *target) {
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].target && !strcmp(t->nodes[i].target, target)) return i;
    return -1;
}

const char *qt_tree_node_scheme(const struct qt_tree *t, const char *const *schemes, int i) {
    const struct qt_tree_node *nd = &t->nodes[i];
    if (!nd->n_members) return "bf16";
    const char *first = schemes[t->members[nd->first_member]];
    return first ? first : "bf16";
}
