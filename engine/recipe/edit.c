/* edit.c — edit intents as recipe entries (see edit.h). */
#include "recipe/edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[QT_EDIT_N] = {
    [QT_EDIT_BITS_UP] = "bits+", [QT_EDIT_BITS_DOWN] = "bits-", [QT_EDIT_GROUP] = "group",
    [QT_EDIT_SYM] = "sym",       [QT_EDIT_TYPE] = "type",       [QT_EDIT_IGNORE] = "ignore",
    [QT_EDIT_SET] = "set",       [QT_EDIT_TARGET] = "target",   [QT_EDIT_IGNORE_PATTERN] = "ignore-pattern",
    [QT_EDIT_GGUF] = "gguf",     [QT_EDIT_FTYPE] = "ftype",
};

const char *qt_edit_action_name(enum qt_edit_action a) {
    return (int)a >= 0 && a < QT_EDIT_N ? action_names[a] : "?";
}

int qt_edit_action_parse(const char *name) {
    for (int a = 0; name && a < QT_EDIT_N; a++)
        if (!strcmp(action_names[a], name)) return a;
    return -1;
}

const char *qt_edit_action_list(void) {
    return "bits+, bits-, group, sym, type, ignore, set, target, ignore-pattern, gguf, ftype";
}

static void copy(char *dst, size_t n, const char *src) {
    if (n) snprintf(dst, n, "%s", src);
}

/* ---- scheme steps */

int qt_scheme_step(const char *cur, enum qt_edit_action act, char *out, size_t n, char *msg, size_t mn) {
    struct qt_scheme w;
    qt_err err;
    int kept = !strcmp(cur, "bf16");
    if (!kept && qt_scheme_parse(cur, &w, &err) != QT_OK) {
        copy(msg, mn, err.msg);
        return 0;
    }
    /* bits and type steps come from the family's row (quant/scheme.h) */
    const struct qt_scheme_traits *tr = qt_scheme_traits(kept ? QT_SCHEME_BF16 : w.kind);
    if (kept) {
        const char *to = act == QT_EDIT_BITS_UP ? tr->more_bits : act == QT_EDIT_BITS_DOWN ? tr->fewer_bits
                         : act == QT_EDIT_TYPE ? tr->next_type : "int4-g128-sym";
        if (!to) { snprintf(msg, mn, "already kept in bf16"); return 0; }
        copy(out, n, to);
        return 1;
    }
    int isint = w.kind == QT_SCHEME_INT, fp4 = w.kind == QT_SCHEME_NVFP4 || w.kind == QT_SCHEME_MXFP4;
    switch (act) {
    case QT_EDIT_BITS_UP:
        if (w.bits < tr->max_bits) { w.bits++; break; }
        copy(out, n, tr->more_bits);
        return 1;
    case QT_EDIT_BITS_DOWN:
        if (w.bits > tr->min_bits) { w.bits--; break; }
        if (tr->fewer_bits) { copy(out, n, tr->fewer_bits); return 1; }
        snprintf(msg, mn, "%s: no fewer bits", cur);
        return 0;
    case QT_EDIT_GROUP:
        if (isint) {
            static const int cyc[] = {32, 64, 128, 0};
            int g = w.strategy == QT_STRAT_GROUP ? w.group : 0, k = 0;
            while (k < 4 && cyc[k] != g) k++;
            int ng = cyc[(k + 1) % 4];
            w.group = ng;
            w.strategy = ng ? QT_STRAT_GROUP : QT_STRAT_CHANNEL;
        } else if (!fp4) {
            copy(out, n, w.strategy == QT_STRAT_CHANNEL ? "fp8-t"
                               : w.strategy == QT_STRAT_TENSOR ? "fp8-b128" : "fp8-ch");
            return 1;
        } else {
            copy(out, n, w.kind == QT_SCHEME_NVFP4 ? "mxfp4" : "nvfp4");
            return 1;
        }
        break;
    case QT_EDIT_SYM:
        if (!isint) { snprintf(msg, mn, "%s: floating point is always symmetric", cur); return 0; }
        w.sym = !w.sym;
        break;
    case QT_EDIT_TYPE:
        copy(out, n, tr->next_type);
        return 1;
    default:
        return 0;
    }
    /* integer changes keep the activation part only for 8-bit weights */
    if (!(isint && w.bits == 8)) w.act = QT_ACT_NONE;
    qt_scheme_format(&w, out, n);
    return 1;
}

/* The scheme an entry text gives in r: a group's scheme, "bf16" when it is
 * an ignore entry, NULL when it is no entry. */
static const char *entry_scheme(const struct qt_recipe *r, const char *text) {
    for (int m = 0; m < r->n_mods; m++)
        for (int k = 0; k < r->mods[m].n_ignore; k++)
            if (!strcmp(r->mods[m].ignore[k].text, text)) return "bf16";
    for (int g = 0; g < r->n_groups; g++)
        for (int k = 0; k < r->groups[g].n_targets; k++)
            if (!strcmp(r->groups[g].targets[k].text, text)) return r->groups[g].scheme;
    return NULL;
}

static int is_ignore(const struct qt_recipe *r, const char *text) {
    for (int m = 0; m < r->n_mods; m++)
        for (int k = 0; k < r->mods[m].n_ignore; k++)
            if (!strcmp(r->mods[m].ignore[k].text, text)) return 1;
    return 0;
}

/* Removes text from every group and from ignore. */
static int remove_entry(struct qt_recipe *r, const char *text, qt_err *err) {
    int in_groups = 0;
    for (int g = 0; g < r->n_groups; g++)
        for (int k = 0; k < r->groups[g].n_targets; k++)
            if (!strcmp(r->groups[g].targets[k].text, text)) in_groups = 1;
    /* set_scheme(bf16) takes it out of the groups (and puts it in ignore) */
    if (in_groups && qt_recipe_set_scheme(r, text, "bf16", err) != QT_OK) return QT_ERR;
    return qt_recipe_remove_ignore(r, text, err);
}

static int set_entry(struct qt_recipe *r, const char *text, const char *sc, qt_err *err) {
    if (strcmp(sc, "bf16") && qt_recipe_remove_ignore(r, text, err) != QT_OK) return QT_ERR;
    return qt_recipe_set_scheme(r, text, sc, err);
}

/* Gives the children of parent p other than skip the scheme sc, one entry
 * each, so that a later edit of one of them finds its own entry. */
static int set_siblings(const struct qt_tree *t, struct qt_recipe *r, int p, int skip, const char *sc,
                        qt_err *err) {
    for (int c = t->nodes[p].first_child; c >= 0; c = t->nodes[c].next) {
        if (c == skip || t->nodes[c].n_members == 0) continue;
        if (set_entry(r, t->nodes[c].target, sc, err) != QT_OK) return QT_ERR;
    }
    return QT_OK;
}

/* Removes the entries of every descendant of i. */
static int clear_below(const struct qt_tree *t, struct qt_recipe *r, int i, qt_err *err) {
    for (int c = t->nodes[i].first_child; c >= 0; c = t->nodes[c].next) {
        if (entry_scheme(r, t->nodes[c].target) && remove_entry(r, t->nodes[c].target, err) != QT_OK)
            return QT_ERR;
        if (clear_below(t, r, c, err) != QT_OK) return QT_ERR;
    }
    return QT_OK;
}

/* A layer's regex also matches its router, which people keep (QT004):
 * once node i has the scheme sc from a regex of its own, its routers are
 * ignored by name, unless the router itself is what is being edited. */
static int keep_routers(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err) {
    if (!strcmp(sc, "bf16") || t->nodes[i].tensor >= 0 || !t->model) return QT_OK;
    for (int k = 0; k < t->nodes[i].n_members; k++) {
        int ti = t->members[t->nodes[i].first_member + k];
        if (t->model->tensors[ti].role != QT_ROLE_ROUTER) continue;
        for (int n = 1; n < t->n; n++)
            if (t->nodes[n].tensor == ti && qt_recipe_add_ignore(r, t->nodes[n].target, err) != QT_OK)
                return QT_ERR;
    }
    return QT_OK;
}

/* The old way, kept for what an override cannot say (an ancestor's ignore
 * entry wins over every target): every ancestor entry along the path is
 * split into entries for its other children, then i gets its own. */
static int split_edit(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err) {
    int path[64], np = 0;   /* path[0] = i ... path[np-1] = the top-level ancestor */
    for (int p = i; p > 0 && np < 64; p = t->nodes[p].parent) path[np++] = p;
    /* top down: an ancestor's entry is split; its scheme goes to the
     * siblings along the path (a deeper entry takes over below it) */
    char cur[64] = "";
    for (int k = np - 1; k >= 1; k--) {
        const char *txt = t->nodes[path[k]].target;
        const char *es = entry_scheme(r, txt);
        if (es) {
            snprintf(cur, sizeof cur, "%s", es);
            if (remove_entry(r, txt, err) != QT_OK) return QT_ERR;
        }
        if (cur[0] && set_siblings(t, r, path[k], path[k - 1], cur, err) != QT_OK) return QT_ERR;
    }
    if (clear_below(t, r, i, err) != QT_OK) return QT_ERR;
    const char *own = t->nodes[i].target;
    if (!sc) return is_ignore(r, own) ? qt_recipe_remove_ignore(r, own, err) : QT_OK;
    if (set_entry(r, own, sc, err) != QT_OK) return QT_ERR;
    return keep_routers(t, r, i, sc, err);
}


/* ---- minimal entries: the group pattern plus overrides
 *
 * What a person writes for "experts 3 and 4 of layer 1 in int3, the rest
 * int4" is the experts' pattern at int4 and an override for 3 and 4, not a
 * regex per expert.  So a node edit keeps the entries above the node and
 * adds one for the node only where it is needed:
 *   - no entry at all when the node already gets the scheme from above
 *     (an override set back to the group's scheme disappears);
 *   - bf16: an `ignore` of the node's pattern (ignore beats every target);
 *   - a scheme: the node's pattern, which beats a class target above it
 *     (`Linear`); under a regex above it (an ancestor's pattern is a prefix
 *     of the node's and sorts first, so it wins in compressed-tensors) the
 *     node's modules by their exact names, which beat every regex, unless
 *     splitting the ancestors takes fewer entries (an experts group under a
 *     layer's pattern);
 *   - an ancestor that is ignored cannot be overridden: it is split.
 * Each result is checked by resolving the node's tensors; an edit that
 * would not do what it says falls back to splitting.  Then, walking up,
 * a parent whose tensors all agree again is folded back into one entry of
 * its own (or none, when what is above already gives that scheme). */

/* The scheme tensor ti of node i is to have when i has sc: a router under
 * a wider node stays kept (see keep_routers). */
static const char *expected(const struct qt_tree *t, int i, int ti, const char *sc) {
    if (t->nodes[i].tensor < 0 && t->model->tensors[ti].role == QT_ROLE_ROUTER) return "bf16";
    return sc;
}

/* 1 when every tensor of node i resolves, under r, as i having sc. */
static int members_have(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc) {
    const struct qt_tree_node *nd = &t->nodes[i];
    for (int k = 0; k < nd->n_members; k++) {
        int ti = t->members[nd->first_member + k];
        if (strcmp(qt_recipe_resolve_tensor(r, t->model, ti, NULL), expected(t, i, ti, sc))) return 0;
    }
    return 1;
}

/* The scheme node i's tensors agree on (routers under it kept, as an edit
 * of i leaves them), into out; 0 when they differ or i has none. */
static int uniform_scheme(const struct qt_tree *t, struct qt_recipe *r, int i, char *out, size_t n) {
    const struct qt_tree_node *nd = &t->nodes[i];
    out[0] = 0;
    for (int k = 0; k < nd->n_members; k++) {   /* the scheme: the first non-router's */
        int ti = t->members[nd->first_member + k];
        if (!strcmp(expected(t, i, ti, "-"), "-")) {
            copy(out, n, qt_recipe_resolve_tensor(r, t->model, ti, NULL));
            break;
        }
    }
    return out[0] && members_have(t, r, i, out);
}

static int has_ancestor_ignore(const struct qt_tree *t, struct qt_recipe *r, int i) {
    for (int p = t->nodes[i].parent; p >= 0; p = t->nodes[p].parent)
        if (is_ignore(r, t->nodes[p].target)) return 1;
    return 0;
}

/* The entries splitting the ancestors of i from the shallowest one with a
 * regex entry would write: their other children along the path; 0 when no
 * ancestor has a regex entry (nothing above beats i's pattern). */
static int split_cost(const struct qt_tree *t, struct qt_recipe *r, int i) {
    int cost = 0, above = 0;
    for (int c = i, p = t->nodes[i].parent; p >= 0; c = p, p = t->nodes[p].parent) {
        for (int s = t->nodes[p].first_child; s >= 0; s = t->nodes[s].next)
            if (s != c && t->nodes[s].n_members) cost++;
        const char *es = entry_scheme(r, t->nodes[p].target);
        if (es && strcmp(es, "bf16") && !strncmp(t->nodes[p].target, "re:", 3)) above = cost;
    }
    return above;
}

/* Node i's entry for sc under the entries above it, which stay (above). */
static int override_edit(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err) {
    const char *own = t->nodes[i].target;
    if (clear_below(t, r, i, err) != QT_OK) return QT_ERR;
    if (entry_scheme(r, own) && remove_entry(r, own, err) != QT_OK) return QT_ERR;
    if (!sc || members_have(t, r, i, sc)) return QT_OK;   /* what is above already says it */
    if (!strcmp(sc, "bf16")) return qt_recipe_add_ignore(r, own, err);
    int leaf = t->nodes[i].tensor >= 0, cost = leaf ? 0 : split_cost(t, r, i);
    if (!cost) return set_entry(r, own, sc, err) != QT_OK ? QT_ERR : keep_routers(t, r, i, sc, err);
    int n_exact = 0;
    for (int k = 0; k < t->nodes[i].n_members; k++)
        n_exact += strcmp(expected(t, i, t->members[t->nodes[i].first_member + k], sc), "bf16") != 0;
    if (cost < n_exact) return split_edit(t, r, i, sc, err);
    /* exact names beat the regex above: one per tensor, from the leaves */
    for (int n = t->nodes[i].first_child; n >= 0; n = t->nodes[n].next) {
        int ti = t->nodes[n].tensor;
        const char *want = ti >= 0 ? expected(t, i, ti, sc) : sc;   /* a router stays kept */
        if (override_edit(t, r, n, want, err) != QT_OK) return QT_ERR;
    }
    return QT_OK;
}

/* Puts back the recipe text saved before a step that did not work. */
static int restore(struct qt_recipe *r, struct qt_yaml *saved, qt_err *err) {
    qt_yaml_free(r->root);
    r->root = saved;
    return qt_recipe_reparse(r, err);
}

/* Walking up from i: a parent whose tensors agree is rewritten as one
 * entry (or none).  Stops at the first parent that does not agree, and
 * below the root, whose entries (`ignore: [lm_head]`, `Linear`) are the
 * recipe's own. */
static int fold_up(const struct qt_tree *t, struct qt_recipe *r, int i, qt_err *err) {
    char sc[QT_SCHEME_STR_MAX];
    for (int p = t->nodes[i].parent; p > 0; p = t->nodes[p].parent) {
        if (!uniform_scheme(t, r, p, sc, sizeof sc)) break;
        struct qt_yaml *saved = qt_yaml_copy(r->root);
        if (!saved) return qt_err_set(err, "edit: out of memory");
        if (override_edit(t, r, p, sc, err) != QT_OK || !members_have(t, r, p, sc)) {
            if (restore(r, saved, err) != QT_OK) return QT_ERR;
            break;
        }
        qt_yaml_free(saved);
    }
    return QT_OK;
}

int qt_edit_node_scheme(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err) {
    char want[QT_SCHEME_STR_MAX];
    if (sc && strcmp(sc, "bf16")) {   /* the canonical text, as resolution gives it */
        struct qt_scheme s;
        if (qt_scheme_parse(sc, &s, err) != QT_OK) return QT_ERR;
        qt_scheme_format(&s, want, sizeof want);
        if (qt_scheme_is_kept(&s)) copy(want, sizeof want, "bf16");
        sc = want;
    }
    if (!t->model || i <= 0 || has_ancestor_ignore(t, r, i)) return split_edit(t, r, i, sc, err);
    struct qt_yaml *saved = qt_yaml_copy(r->root);
    if (!saved) return qt_err_set(err, "edit: out of memory");
    if (override_edit(t, r, i, sc, err) != QT_OK || (sc && !members_have(t, r, i, sc))) {
        if (restore(r, saved, err) != QT_OK) return QT_ERR;
        return split_edit(t, r, i, sc, err);
    }
    qt_yaml_free(saved);
    return fold_up(t, r, i, err);
}

/* ---- applying an intent */

/* Stepping actions change a scheme; the others say what it becomes. */
static int is_step(enum qt_edit_action a) {
    return a == QT_EDIT_BITS_UP || a == QT_EDIT_BITS_DOWN || a == QT_EDIT_GROUP || a == QT_EDIT_SYM ||
           a == QT_EDIT_TYPE;
}

static const char *scheme_of(const struct qt_tree *t, const char *const *schemes, int i) {
    return schemes ? qt_tree_node_scheme(t, schemes, i) : "bf16";
}

int qt_edit_apply(const struct qt_tree *t, struct qt_recipe *r, const char *const *schemes,
                  const struct qt_edit *e, struct qt_edit_outcome *o, qt_err *err) {
    memset(o, 0, sizeof *o);
    if ((int)e->action < 0 || e->action >= QT_EDIT_N) return qt_err_set(err, "edit: unknown action");
    if (e->action == QT_EDIT_GGUF || e->action == QT_EDIT_FTYPE)
        return qt_err_set(err, "edit: %s is a GGUF edit (qt_gguf_edit_apply)", qt_edit_action_name(e->action));
    for (int k = 0; k < e->n_nodes; k++)
        if (e->nodes[k] < 0 || e->nodes[k] >= t->n) return qt_err_set(err, "edit: node %d: no such node", e->nodes[k]);
    if (e->action == QT_EDIT_TARGET || e->action == QT_EDIT_IGNORE_PATTERN) {
        if (!e->pattern || !*e->pattern) return qt_err_set(err, "edit: %s needs a pattern", qt_edit_action_name(e->action));
        if (e->action == QT_EDIT_IGNORE_PATTERN) {
            if (qt_recipe_add_ignore(r, e->pattern, err) != QT_OK) return QT_ERR;
            copy(o->scheme, sizeof o->scheme, "bf16");
        } else {
            /* the scheme of the node the person stands on, else the usual start */
            const char *sc = e->scheme ? e->scheme : e->n_nodes ? scheme_of(t, schemes, e->nodes[0]) : "bf16";
            if (!strcmp(sc, "bf16")) sc = "int4-g128-sym";
            copy(o->scheme, sizeof o->scheme, sc);
            if (qt_recipe_set_scheme(r, e->pattern, o->scheme, err) != QT_OK) return QT_ERR;
        }
        o->changed = 1;
        return QT_OK;
    }
    int n = e->n_nodes;
    if (!n) return copy(o->why, sizeof o->why, "edit: no nodes"), QT_OK;
    if (e->action == QT_EDIT_SET && !e->scheme) return qt_err_set(err, "edit: set needs a scheme");
    char (*to)[QT_SCHEME_STR_MAX] = calloc((size_t)n, sizeof *to);   /* (n) each node's new scheme */
    int *ok = calloc((size_t)n, sizeof *ok);                          /* (n) 1: the node changes */
    if (!to || !ok) { free(to); free(ok); return qt_err_set(err, "edit: out of memory"); }
    o->all_kept = 1;
    if (e->action == QT_EDIT_IGNORE)   /* ignoring what is all kept already un-ignores it */
        for (int k = 0; k < n && o->all_kept; k++) {
            const struct qt_tree_node *nd = &t->nodes[e->nodes[k]];
            for (int m = 0; schemes && m < nd->n_members; m++)
                if (strcmp(schemes[t->members[nd->first_member + m]], "bf16")) { o->all_kept = 0; break; }
        }
    for (int k = 0; k < n; k++) {
        if (is_step(e->action))
            ok[k] = qt_scheme_step(scheme_of(t, schemes, e->nodes[k]), e->action, to[k], sizeof to[k], o->why,
                                   sizeof o->why);
        else {
            copy(to[k], sizeof to[k], e->action == QT_EDIT_SET ? e->scheme : "bf16");
            ok[k] = 1;
        }
        o->changed += ok[k];
    }
    int rc = QT_OK;
    for (int k = 0; k < n && o->changed && rc == QT_OK; k++) {
        if (!ok[k]) continue;
        const char *sc = e->action != QT_EDIT_IGNORE ? to[k] : o->all_kept ? NULL : "bf16";
        rc = qt_edit_node_scheme(t, r, e->nodes[k], sc, err);
    }
    if (e->action != QT_EDIT_IGNORE) o->all_kept = 0;
    int first = 0;
    while (first < n - 1 && !ok[first]) first++;
    copy(o->scheme, sizeof o->scheme, to[first]);
    if (o->changed) o->why[0] = 0;
    free(to);
    free(ok);
    return rc;
}
