/* cmd_deploy.c — `qtune deploy MODEL [-r RECIPE] [--gpu NAME] [--tp N] [--ctx N]
 * [--batch N] [--kv-dtype T] [--util F] [--gpus FILE] [--json]`: what serving
 * the recipe (without one: the unquantized model) needs and costs (formulas
 * in engine/deploy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "cli_recipe.h"
#include "recipe/deploy.h"
#include "base/format.h"
#include "io/report.h"

static const char usage[] =
    "deploy MODEL [-r RECIPE] [--gpu NAME] [--tp N] [--ctx N] [--batch N] [--kv-dtype auto|bf16|fp16|fp8]\n"
    "       [--util F] [--gpus FILE] [--json]";
static const char help[] =
    "  Size, GPUs needed, KV capacity, decode bound and cost of serving the recipe\n"
    "  (without -r: the unquantized model) at tensor parallel 1, 2, 4 and 8.\n"
    "  -r RECIPE       an llm-compressor recipe (default: none, the model as stored)\n"
    "  --gpu NAME      a GPU of the catalog (default H100-80G; a unique prefix is enough)\n"
    "  --tp N          1, 2, 4 or 8 for the decode and cost lines (default: the smallest that fits)\n"
    "  --ctx N         tokens per request (default 8192, or the model's max_position_embeddings\n"
    "                  when smaller; a larger value is capped there, with a warning: vLLM\n"
    "                  refuses it)\n"
    "  --batch N       requests served at once (default 1)\n"
    "  --kv-dtype T    KV cache element: auto (the recipe's kv_cache_scheme, else the model\n"
    "                  dtype), bf16, fp16 or fp8 (default auto)\n"
    "  --util F        fraction of GPU memory vLLM may use (default 0.9, --gpu-memory-utilization)\n"
    "  --gpus FILE     the GPU catalog (default share/gpus.yaml, or $QTUNE_GPUS)\n"
    "  --json          one JSON document (per_gpu[{tp, weights_bytes, kv_bytes_per_token,\n"
    "                  max_tokens, max_ctx, max_concurrency, fits}], ...)\n"
    "  max ctx is capped at the model's max_position_embeddings; KV tokens is the cache's\n"
    "  capacity and concurrency how many requests of ctx tokens it holds at once.\n";

static void print_text(const struct qt_deploy *d, const struct qt_gpu *g) {
    char a[32], b[32], c[32];
    printf("weights     %s (MTP %s; without MTP %s)\n", qt_fmt_bytes(d->weights_bytes, a, sizeof a),
           qt_fmt_bytes(d->mtp_bytes, b, sizeof b), qt_fmt_bytes(d->weights_bytes - d->mtp_bytes, c, sizeof c));
    printf("KV cache    %s per token (%s, %d byte%s per element)\n", qt_fmt_bytes(d->kv_bytes_per_token, a, sizeof a),
           d->kv_mla ? "MLA latent" : "GQA", d->kv_bytes, d->kv_bytes == 1 ? "" : "s");
    printf("GPU         %s: %s, %.0f GB/s, $%.2f/h; utilization %.2f, ctx %lld x batch %d\n", g->name,
           qt_fmt_bytes(g->mem_bytes, a, sizeof a), g->bw_bytes / 1e9, g->price_hour, d->util,
           (long long)d->ctx, d->batch);
    if (d->ctx_limit > 0) printf("max ctx     %lld tokens (max_position_embeddings)\n", (long long)d->ctx_limit);
    printf("  TP  weights/GPU   KV/token/GPU     KV tokens   max ctx  concurrency  fits\n");
    for (int k = 0; k < QT_DEPLOY_NTP; k++) {
        const struct qt_deploy_tp *p = &d->per_gpu[k];
        char conc[32];
        snprintf(conc, sizeof conc, "%.2fx", p->concurrency);
        printf("  %2d  %11s  %13s  %12lld  %8lld  %11s  %s\n", p->tp, qt_fmt_bytes(p->weights_bytes, a, sizeof a),
               qt_fmt_bytes(p->kv_bytes_per_token, b, sizeof b), (long long)p->max_tokens, (long long)p->max_ctx,
               conc, p->fits ? "yes" : "no");
    }
    if (d->gpus_needed) printf("GPUs needed %d\n", d->gpus_needed);
    else printf("GPUs needed more than 8 (does not fit on 8 x %s)\n", g->name);
    printf("decode      <= %.0f tok/s at TP %d (weights only), <= %.0f tok/s reading the KV of %lld tokens\n",
           d->tok_s_bound, d->tp, d->tok_s_bound_ctx, (long long)d->ctx);
    printf("cost        $%.2f/hour, >= $%.3f per million tokens (batch %d)\n", d->cost_per_hour, d->cost_per_mtok,
           d->batch);
}

int qt_cmd_deploy(int argc, char **argv) {
    const char *model = NULL, *recipe = NULL, *gpu = "H100-80G", *gpus = NULL, *kv = "auto";
    int json = 0;
    long tp = 0, ctx = 0, batch = 1;
    double util = 0.9;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (cli_is_help(a)) { printf("usage: qtune %s\n%s", usage, help); return 0; }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!v && a[0] == '-') return cli_failf("deploy: %s: missing value", a);
        if (!strcmp(a, "-r") || !strcmp(a, "--recipe")) recipe = v;
        else if (!strcmp(a, "--gpu")) gpu = v;
        else if (!strcmp(a, "--gpus")) gpus = v;
        else if (!strcmp(a, "--kv-dtype")) kv = v;
        else if (!strcmp(a, "--tp")) {
            rc = cli_parse_int("--tp", v, 1, 8, &tp);
            if (!rc && qt_deploy_tp_index(tp) < 0) return cli_failf("--tp: expected " QT_DEPLOY_TPS_TEXT);
        } else if (!strcmp(a, "--ctx")) rc = cli_parse_int("--ctx", v, 1, 100000000, &ctx);
        else if (!strcmp(a, "--batch")) rc = cli_parse_int("--batch", v, 1, 1000000, &batch);
        else if (!strcmp(a, "--util")) {
            char *end;
            util = strtod(v, &end);
            if (*end || util <= 0 || util > 1) return cli_failf("--util: expected a fraction in (0, 1], not '%s'", v);
        } else if (a[0] == '-') return cli_failf("deploy: unknown option %s", a);
        else { if (model) return cli_usage("deploy", usage); model = a; continue; }
        if (rc) return rc;
        i++;
    }
    if (!model) return cli_usage("deploy", usage);
    int kvb = qt_deploy_kv_dtype_bytes(kv);
    if (kvb < 0) return cli_failf("--kv-dtype: unknown type '%s' (auto, bf16, fp16, fp8)", kv);
    qt_err err = {{0}};
    struct qt_gpu_catalog cat;
    if (qt_gpu_catalog_load_default(gpus, &cat, &err) != QT_OK) return cli_fail(&err);
    const struct qt_gpu *g = qt_gpu_find(&cat, gpu);
    if (!g) {
        char names[1024] = "";
        for (int i = 0; i < cat.n; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", cat.g[i].name);
        qt_gpu_catalog_free(&cat);
        return cli_failf("--gpu %s: not in the catalog (%s)", gpu, names);
    }
    struct cli_recipe_ctx c;
    if (cli_recipe_open(model, recipe, &c, &err) != QT_OK) { qt_gpu_catalog_free(&cat); return cli_fail(&err); }
    struct qt_deploy_opts o = {.gpu = g, .tp = (int)tp, .ctx = ctx, .batch = (int)batch, .util = util, .kv_bytes = kvb};
    struct qt_deploy d;
    int rc = 0;
    if (qt_deploy_estimate(c.model, c.recipe, c.recipe ? &c.res : NULL, &o, &d, &err) != QT_OK) rc = cli_fail(&err);
    else {
        if (d.ctx_over_limit)
            fprintf(stderr, "qtune: warning: --ctx %lld is beyond the model's limit of %lld tokens "
                    "(max_position_embeddings): capped at %lld (vLLM refuses a longer --max-model-len)\n",
                    (long long)d.ctx_asked, (long long)d.ctx_limit, (long long)d.ctx);
        if (json) cli_print_json(qt_deploy_json(NULL, &d, g));
        else print_text(&d, g);
    }
    cli_recipe_close(&c);
    qt_gpu_catalog_free(&cat);
    return rc;
}
