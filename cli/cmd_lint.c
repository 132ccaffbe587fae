/* cmd_lint.c — `qtune lint MODEL -r RECIPE [--tp N] [--ep] [--json]`: the
 * findings QT001..QT016 of a recipe on a model; exit 1 when one is an error. */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "recipe/gguf_plan.h"
#include "cli_recipe.h"
#include "recipe/lint.h"
#include "io/report.h"

#define USAGE "lint MODEL -r RECIPE [--tp N] [--ep] [--json]"
static const char usage[] = USAGE;
static const char help[] =
    "usage: qtune " USAGE "\n"
    "  Checks a recipe against what vLLM's compressed-tensors loader refuses (errors) and\n"
    "  what is legal but likely a mistake (warnings); exit 1 when there is an error.\n"
    "  -r RECIPE  an llm-compressor recipe (YAML)\n"
    "  --tp N     tensor-parallel size the checkpoint will be served at (default 1)\n"
    "  --ep       experts split by expert parallelism (vLLM --enable-expert-parallel):\n"
    "             each GPU holds whole experts, so their shapes are not split by --tp\n"
    "  --json     one JSON document: findings[{code, severity, message, tensors[]}]\n"
    "  Codes: QT001 fused group split  QT002 experts on different schemes  QT003 broad regex\n"
    "         QT004 router quantized  QT005 group size without a kernel  QT006 shape vs group/TP\n"
    "         QT007 MTP below 8 bits  QT008 pattern matches nothing  QT009 lm_head/embeddings\n"
    "         QT010 ambiguous groups  QT011 int bits vLLM serves  QT012 asymmetric experts\n"
    "         QT013 MoE kernel fallback refuses  QT014 Marlin shape  QT015 kv cache scheme\n"
    "         QT016 actorder without group strategy\n";

static void print_text(const struct qt_model *m, const struct qt_lint *L) {
    for (int i = 0; i < L->n; i++) {
        const struct qt_finding *f = &L->f[i];
        printf("%s %-7s %s\n", f->code, qt_severity_name(f->severity), f->message);
        int show = f->n_tensors < 5 ? f->n_tensors : 5;
        for (int k = 0; k < show; k++) printf("        %s\n", m->tensors[f->tensors[k]].name);
        if (f->n_tensors > show) printf("        ... and %d more\n", f->n_tensors - show);
    }
    printf("%d error%s, %d warning%s\n", L->n_errors, L->n_errors == 1 ? "" : "s", L->n_warnings,
           L->n_warnings == 1 ? "" : "s");
}

int qt_cmd_lint(int argc, char **argv) {
    const char *model = NULL, *recipe = NULL;
    int json = 0, ep = 0;
    long tp = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) { fputs(help, stdout); return 0; }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--ep")) ep = 1;
        else if (!strcmp(a, "-r") || !strcmp(a, "--recipe")) {
            if (++i >= argc) return cli_usage("lint", usage);
            recipe = argv[i];
        } else if (!strcmp(a, "--tp")) {
            int rc = cli_parse_int("--tp", i + 1 < argc ? argv[++i] : NULL, 1, 1024, &tp);
            if (rc) return rc;
        } else if (a[0] == '-') return cli_failf("lint: unknown option %s", a);
        else if (!model) model = a;
        else return cli_usage("lint", usage);
    }
    if (!model || !recipe) return cli_usage("lint", usage);
    qt_err err = {{0}};
    struct cli_recipe_ctx c;
    if (cli_recipe_open(model, recipe, &c, &err) != QT_OK) return cli_fail(&err);
    struct qt_lint L;
    struct qt_lint_opts o = {.tp = (int)tp, .ep = ep};
    if (qt_lint_run(c.recipe, c.model, &c.res, &o, &L, &err) != QT_OK) {
        cli_recipe_close(&c);
        return cli_fail(&err);
    }
    /* a recipe with a qtune_gguf section: the GGUF findings too */
    if (qt_yaml_get(c.recipe->root, "qtune_gguf")) {
        struct qt_gguf_spec gs;
        struct qt_gguf_plan gp = {0};
        int grc = qt_gguf_spec_from_yaml(c.recipe->root, recipe, &gs, &err);
        if (grc == QT_OK) grc = qt_gguf_plan_build(c.model, &gs, 0, &gp, &err);
        if (grc == QT_OK) grc = qt_gguf_lint(c.model, &gs, &gp, &L, &err);
        qt_gguf_plan_free(&gp);
        qt_gguf_spec_free(&gs);
        if (grc != QT_OK) {
            qt_lint_free(&L);
            cli_recipe_close(&c);
            return cli_fail(&err);
        }
    }
    if (json) {
        cJSON *doc = qt_lint_json(NULL, c.model, &L);
        cJSON_AddItemToObject(doc, "patterns", qt_patterns_json(c.recipe, 0));
        cJSON_AddNumberToObject(doc, "tensors_quantized", c.res.n_quantized);
        cli_print_json(doc);
    }
    else print_text(c.model, &L);
    int rc = L.n_errors ? 1 : 0;
    qt_lint_free(&L);
    cli_recipe_close(&c);
    return rc;
}
