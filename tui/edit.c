/* edit.c — node edits as recipe entries (see edit.h). */
#include "edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static int set_siblings(const struct mtree *t, struct qt_recipe *r, int p, int skip, const char *sc,
                        qt_err *err) {
    for (int c = t->nodes[p].first_child; c >= 0; c = t->nodes[c].next) {
        if (c == skip || t->nodes[c].n_members == 0) continue;
        if (set_entry(r, t->nodes[c].target, sc, err) != QT_OK) return QT_ERR;
    }
    return QT_OK;
}

/* Removes the entries of every descendant of i. */
static int clear_below(const struct mtree *t, struct qt_recipe *r, int i, qt_err *err) {
    for (int c = t->nodes[i].first_child; c >= 0; c = t->nodes[c].next) {
        if (entry_scheme(r, t->nodes[c].target) && remove_entry(r, t->nodes[c].target, err) != QT_OK)
            return QT_ERR;
        if (clear_below(t, r, c, err) != QT_OK) return QT_ERR;
    }
    return QT_OK;
}

int edit_node_scheme(const struct mtree *t, struct qt_recipe *r, int i, const char *sc, qt_err *err) {
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
