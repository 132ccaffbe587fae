/* cmd_sensitivity.c — `qtune sensitivity MODEL (--scheme S | -r RECIPE)
 * --data FILE [--by group|layer] [--ctx N] [--chunks N] [--json]`: ΔKL of
 * quantizing each unit (attention, dense MLP, shared expert, routed experts
 * of a layer; or a whole layer) alone, ranked, beside the KL of quantizing
 * all of them.  Defaults to 4 chunks of 512 tokens (eval uses 16): the
 * ranking is what matters and it is stable at that size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "cli_recipe.h"
#include "progress.h"
#include "eval/eval.h"
#include "model/model.h"
#include "eval/qplan.h"
#include "io/report.h"
#include "eval/sensitivity.h"

static const char usage[] = "sensitivity MODEL (--scheme S | -r RECIPE) --data FILE [--by group|layer] "
                            "[--ctx N] [--chunks N] [--f32-arith] [--json]";

static struct cli_bar bar;   /* the progress bar, on a terminal's stderr only */

static void progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    cli_bar_update(&bar, "sensitivity", done, total, NULL);
}

int qt_cmd_sensitivity(int argc, char **argv) {
    const char *model = NULL;
    struct qt_sens_params p = {.eval = {.ctx = 512, .chunks = 4}, .by = QT_SENS_GROUP};
    struct cli_eval_opts eo = {.ctx = &p.eval.ctx, .chunks = &p.eval.chunks};
    int json = 0, f32 = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            cli_help(usage);
            puts("  KL increase with each group (--by group: a layer's attention, router, shared expert,\n"
                 "  routed experts ...; --by layer) quantized alone, ranked.  Defaults: --ctx 512 tokens\n"
                 "  a chunk, --chunks 4 (a scan runs the model once per unit).");
            return 0;
        }
        const char *a = argv[i];
        int has = i + 1 < argc, k = cli_eval_opt("sensitivity", argc, argv, &i, &eo);
        if (k < 0) return 1;
        if (k) continue;
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--f32-arith")) f32 = 1;
        else if (!strcmp(a, "--by") && has) {
            const char *b = argv[++i];
            if (!strcmp(b, "group")) p.by = QT_SENS_GROUP;
            else if (!strcmp(b, "layer")) p.by = QT_SENS_LAYER;
            else return cli_failf("sensitivity: --by: expected group or layer, not %s", b);
        } else if (a[0] == '-' && a[1]) {
            return cli_failf("sensitivity: unknown option %s (usage: qtune %s)", a, usage);
        } else if (!model) model = a;
        else return cli_usage("sensitivity", usage);
    }
    const char *recipe = eo.recipe, *scheme = eo.scheme, *data = eo.data;
    if (!model || !data || (!recipe == !scheme)) return cli_usage("sensitivity", usage);

    qt_err err = {{0}};
    struct qt_model *m = NULL;
    if (qt_model_open(model, &m, &err) != QT_OK) return cli_fail(&err);
    struct qt_qplan plan;
    int rc = scheme ? qt_qplan_uniform(m, scheme, &plan, &err) : qt_qplan_from_recipe(m, recipe, &plan, &err);
    if (rc != QT_OK) {
        qt_model_free(m);
        return cli_fail(&err);
    }
    plan.f32_arith = f32;
    char cache[4096];
    p.eval.data_path = data;
    p.eval.cache_dir = qt_eval_default_cache_dir(cache, sizeof cache);
    cli_bar_init(&bar, json);
    if (bar.on) p.eval.progress = progress;
    struct qt_sens_result r;
    rc = qt_sensitivity_run(m, &plan, &p, &r, &err);
    cli_bar_end(&bar);
    if (rc == QT_OK && json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "model", model);
        cJSON_AddStringToObject(doc, scheme ? "scheme" : "recipe", scheme ? scheme : recipe);
        cli_print_json(qt_sens_json(doc, &r, p.by));
    } else if (rc == QT_OK) {
        printf("model   %s\nquant   %s\ndata    %s: %d chunks of %d tokens\n\n", model, scheme ? scheme : recipe,
               data, r.nseq, r.ctx);
        printf("%4s  %-36s %-10s %7s %10s %12s %12s %9s\n", "rank", "unit", "kind", "tensors", "params", "ΔKL",
               "± stderr", "same top");
        for (int k = 0; k < r.n_units; k++) {
            const struct qt_sens_unit *u = &r.units[k];
            printf("%4d  %-36s %-10s %7d %10lld %12.6f %12.6f %8.2f%%\n", k + 1, u->name, u->kind, u->n_tensors,
                   (long long)u->params, u->st.kld_mean, u->st.kld_stderr, 100 * u->st.same_top_p);
        }
        printf("\nsum of single-unit ΔKL   %.6f\nall units quantized: KL %.6f ± %.6f   same top %.2f%%   "
               "ln PPL ratio %+.6f   (%d tensors)\n",
               r.sum_dkl, r.all.kld_mean, r.all.kld_stderr, 100 * r.all.same_top_p, r.all.ln_ppl_ratio,
               r.all.tensors_quantized);
    }
    qt_sens_result_free(&r);
    qt_qplan_free(&plan);
    qt_model_free(m);
    return rc == QT_OK ? 0 : cli_fail(&err);
}
