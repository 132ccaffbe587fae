/* qplan_recipe.c — a quantized-evaluation plan from a recipe.  Kept apart
 * from qplan.c because recipe.h and scheme.h both define struct qt_qargs
 * until the recipe module moves onto scheme.h: this file sees only
 * recipe.h and hands canonical scheme strings across. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "recipe.h"

/* Implemented in qplan.c's world; declared here without scheme.h. */
struct qt_qplan;
int qt_qplan_from_recipe(const struct qt_model *m, const char *recipe_path, struct qt_qplan *out,
                         qt_err *err);
int qt_qplan_set_str(struct qt_qplan *p, int i, const char *scheme, qt_err *err);
int qt_qplan_init_opaque(const struct qt_model *m, struct qt_qplan *out, qt_err *err);
void qt_qplan_free_opaque(struct qt_qplan *p);

int qt_qplan_from_recipe(const struct qt_model *m, const char *recipe_path, struct qt_qplan *out,
                         qt_err *err) {
    struct qt_recipe *r = NULL;
    if (qt_recipe_load(recipe_path, &r, err) != QT_OK) return QT_ERR;
    struct qt_resolution res;
    if (qt_recipe_resolve(r, m, &res, err) != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    int rc = qt_qplan_init_opaque(m, out, err);
    for (int i = 0; rc == QT_OK && i < m->n_tensors; i++)
        if (res.t[i].quantized && res.t[i].scheme)
            rc = qt_qplan_set_str(out, i, res.t[i].scheme, err);
    if (rc != QT_OK) qt_qplan_free_opaque(out);
    qt_resolution_free(&res);
    qt_recipe_free(r);
    return rc;
}
