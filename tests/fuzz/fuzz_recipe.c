/* fuzz_recipe.c — a recipe's YAML: parsed, resolved on the tiny model's
 * metadata (279 tensors) and linted (anchors, aliases, unknown fields,
 * patterns, modifiers). */
#include "fuzz.h"
#include "model/model.h"
#include "recipe/lint.h"
#include "recipe/recipe.h"

static struct qt_model *m;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/share/models/tiny-glm-moe/config.json", fz_root());
    qt_err err;
    if (qt_model_from_config(cfg, &m, &err)) { fprintf(stderr, "fuzz_recipe: %s\n", err.msg); abort(); }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct qt_recipe *r = NULL;
    qt_err err;
    if (qt_recipe_parse((const char *)data, size, "fuzz.yaml", &r, &err) == QT_OK) {
        struct qt_resolution res = {0};
        if (qt_recipe_resolve(r, m, &res, &err) == QT_OK) {
            struct qt_lint l;
            struct qt_lint_opts o = {.tp = 2};
            if (qt_lint_run(r, m, &res, &o, &l, &err) == QT_OK) qt_lint_free(&l);
        }
        qt_resolution_free(&res);
        /* what qtune writes back (comments put beside their entries) reads
         * again as the same document */
        size_t n;
        char *d = qt_recipe_dump(r, &n, &err);
        if (d) {
            struct qt_recipe *r2 = NULL;
            if (qt_recipe_parse(d, n, "dump.yaml", &r2, &err) != QT_OK) __builtin_trap();
            char *d2 = qt_recipe_dump(r2, NULL, &err);
            if (!d2 || strcmp(d, d2)) __builtin_trap();
            free(d2);
            qt_recipe_free(r2);
            free(d);
        }
        qt_recipe_free(r);
    }
    return 0;
}
