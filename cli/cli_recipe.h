/* cli_recipe.h — what the recipe commands (lint, deploy, preview -r) share:
 * opening a model and a recipe and resolving one through the other. */
#ifndef QT_CLI_RECIPE_H
#define QT_CLI_RECIPE_H
#include "model/model.h"
#include "recipe/recipe.h"

struct cli_recipe_ctx {
    struct qt_model *model;
    struct qt_recipe *recipe;
    struct qt_resolution res;
};

/* Opens model and recipe, resolves; recipe NULL opens the model alone
 * (c->recipe NULL, c->res empty).  On failure everything is freed and err
 * says why. */
int cli_recipe_open(const char *model, const char *recipe, struct cli_recipe_ctx *c, qt_err *err);
void cli_recipe_close(struct cli_recipe_ctx *c);

/* Parses a positive integer option value; returns 0 on success. */
int cli_parse_int(const char *opt, const char *v, long lo, long hi, long *out);
#endif
