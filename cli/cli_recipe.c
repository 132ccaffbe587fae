/* cli_recipe.c — shared plumbing of the recipe commands. */
#include "cli_recipe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_recipe_open(const char *model, const char *recipe, struct cli_recipe_ctx *c, qt_err *err) {
    memset(c, 0, sizeof *c);
    if (qt_model_open(model, &c->model, err) != QT_OK) return QT_ERR;
    if (!recipe) return QT_OK; /* the unquantized model */
    if (qt_recipe_load(recipe, &c->recipe, err) != QT_OK ||
        qt_recipe_resolve(c->recipe, c->model, &c->res, err) != QT_OK) {
        cli_recipe_close(c);
        return QT_ERR;
    }
    return QT_OK;
}

void cli_recipe_close(struct cli_recipe_ctx *c) {
    qt_resolution_free(&c->res);
    qt_recipe_free(c->recipe);
    qt_model_free(c->model);
    memset(c, 0, sizeof *c);
}

int cli_parse_int(const char *opt, const char *v, long lo, long hi, long *out) {
    if (!v) { cli_failf("%s: missing value", opt); return 2; }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        cli_failf("%s: expected an integer in %ld..%ld, not '%s'", opt, lo, hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

int cli_eval_opt(const char *cmd, int argc, char **argv, int *i, struct cli_eval_opts *o) {
    const char *a = argv[*i];
    const char **str = !strcmp(a, "-r") || !strcmp(a, "--recipe") ? &o->recipe
                       : !strcmp(a, "--scheme")                   ? &o->scheme
                       : !strcmp(a, "--data")                     ? &o->data
                                                                  : NULL;
    int *num = !strcmp(a, "--ctx") ? o->ctx : !strcmp(a, "--chunks") ? o->chunks : NULL;
    if (!str && !num) return 0;
    if (*i + 1 >= argc) {
        cli_failf("%s: %s: missing value", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    if (str) {
        *str = v;
        return 1;
    }
    long lo = num == o->ctx ? 2 : 1, x;
    char *end;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > 1 << 24) {
        cli_failf("%s: %s: expected an integer in %ld..%d, not '%s'", cmd, a, lo, 1 << 24, v);
        return -1;
    }
    *num = (int)x;
    return 1;
}
