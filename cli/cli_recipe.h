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

/* The options eval and sensitivity share: what is measured (-r/--recipe
 * RECIPE or --scheme S), on what text (--data FILE) and how much of it
 * (--ctx N tokens a chunk, at least 2; --chunks N).  ctx and chunks are
 * those of the command's qt_eval_params, left as they are when not given. */
struct cli_eval_opts {
    const char *recipe, *scheme, *data;
    int *ctx, *chunks;
};
/* argv[*i] one of those options: consumes it and its value (*i moves to the
 * value) and returns 1; another argument: 0; a missing or bad value: prints
 * "qtune: CMD: OPT: why" and returns -1. */
int cli_eval_opt(const char *cmd, int argc, char **argv, int *i, struct cli_eval_opts *o);
#endif
