/* edit.c — edit intents as recipe entries (see edit.h). */
#include "recipe/edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[QT_EDIT_N] = {
    [QT_EDIT_BITS_UP] = "bits+", [QT_EDIT_BITS_DOWN] = "bits-", [QT_EDIT_GROUP] = "group",
    [QT_EDIT_SYM] = "sym",       [QT_EDIT_TYPE] = "type",       [QT_EDIT_IGNORE] = "ignore",
    [QT_EDIT_SET] = "set",       [QT_EDIT_TARGET] = "target",   [QT_EDIT_IGNORE_PATTERN] = "ignore-pattern",
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
    return "bits+, bits-, group, sym, type, ignore, set, target, ignore-pattern";
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
    if (kept) {
        const char *to = act == QT_EDIT_BITS_UP ? NULL : act == QT_EDIT_BITS_DOWN ? "int8-g128-sym"
                         : act == QT_EDIT_TYPE ? "fp8-ch" : "int4-g128-sym";
        if (!to) { snprintf(msg, mn, "already kept in bf16"); return 0; }
        copy(out, n, to);
        return 1;
    }
    int isint = w.kind == QT_SCHEME_INT, fp4 = w.kind == QT_SCHEME_NVFP4 || w.kind == QT_SCHEME_MXFP4;
    switch (act) {
    case QT_EDIT_BITS_UP:
        if (isint && w.bits < 8) { w.bits++; break; }
        if (fp4) { snprintf(out, n, "fp8-ch"); return 1; }
        snprintf(out, n, "bf16");
        return 1;
    case QT_EDIT_BITS_DOWN:
        if (isint && w.bits > 2) { w.bits--; break; }
        if (!isint && !fp4) { snprintf(out, n, "nvfp4"); return 1; }
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
        copy(out, n, isint ? "fp8-ch" : fp4 ? "int4-g128-sym" : "nvfp4");
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

int qt_edit_node_scheme(const struct qt_tree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err) {
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
    /* a layer's regex also matches its router, which people keep (QT004):
     * ignore it by name unless the router itself is what is being edited */
    if (strcmp(sc, "bf16") && t->nodes[i].tensor < 0)
        for (int k = 0; k < t->nodes[i].n_members; k++) {
            int ti = t->members[t->nodes[i].first_member + k];
            if (t->model && t->model->tensors[ti].role == QT_ROLE_ROUTER) {
                for (int n = 1; n < t->n; n++)
                    if (t->nodes[n].tensor == ti && qt_recipe_add_ignore(r, t->nodes[n].target, err) != QT_OK)
                        return QT_ERR;
            }
        }
    return QT_OK;
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
