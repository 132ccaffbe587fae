/* cmd_eval.c — `qtune eval MODEL (-r RECIPE | --scheme S) --data FILE
 * [--ctx N] [--chunks N] [--second-half] [--json]`: KL divergence and
 * perplexity of the round-to-nearest quantized model against the original
 * (DESIGN §6, §10).  The base model's hidden states are cached under
 * $QTUNE_HOME/cache.  --f32-arith dequantizes in fp32 with bf16 scales (the
 * protocol of tests/refs/eval_kl.json) instead of the checkpoint's bf16
 * arithmetic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "cli_recipe.h"
#include "eval/eval.h"
#include "model/model.h"
#include "eval/qplan.h"
#include "io/report.h"
#include "eval/ct_eval.h"
#include "eval/gguf_eval.h"
#include "progress.h"

static const char usage[] =
    "eval MODEL (-r RECIPE | --scheme S | --quantized OUT) --data FILE [--ctx N] [--chunks N] [--second-half] [--f32-arith] [--ggml-arith] [--json]";

static struct cli_bar bar;   /* the progress bar, on a terminal's stderr only */

static void progress(void *ctx, int64_t done, int64_t total) {
    cli_bar_update(&bar, ctx, done, total, NULL);
}

int qt_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *ckpt = NULL;
    struct qt_eval_params p = {0};
    struct cli_eval_opts eo = {.ctx = &p.ctx, .chunks = &p.chunks};
    int json = 0, f32 = 0, ggml_arith = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            cli_help(usage);
            puts("  KL divergence, top-1 agreement and perplexity of the quantized model against the original\n"
                 "  on FILE (tokenized by the model's tokenizer.json).  Defaults: --ctx 512 tokens a chunk,\n"
                 "  --chunks 16 at most; --second-half scores only the second half of each chunk.\n"
                 "  --quantized FILE.gguf evaluates the dequantized GGUF; --ggml-arith rounds activations as\n"
                 "  llama.cpp's CPU backend does (Q8_0/Q8_K for quantized weights, BF16 in the base), the\n"
                 "  arithmetic of llama-perplexity --kl-divergence against the BF16 GGUF.");
            return 0;
        }
        const char *a = argv[i];
        int has = i + 1 < argc, k = cli_eval_opt("eval", argc, argv, &i, &eo);
        if (k < 0) return 1;
        if (k) continue;
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--second-half")) p.second_half = 1;
        else if (!strcmp(a, "--f32-arith")) f32 = 1;
        else if (!strcmp(a, "--ggml-arith")) ggml_arith = 1;
        else if (!strcmp(a, "--quantized") && has) {
            ckpt = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_failf("eval: unknown option %s (usage: qtune %s)", a, usage);
        } else if (!model) model = a;
        else return cli_usage("eval", usage);
    }
    const char *recipe = eo.recipe, *scheme = eo.scheme, *data = eo.data;
    if (!model || !data || (!!recipe + !!scheme + !!ckpt) != 1) return cli_usage("eval", usage);
    if (ggml_arith && (!ckpt || strlen(ckpt) < 5 || strcmp(ckpt + strlen(ckpt) - 5, ".gguf")))
        return cli_failf("eval: --ggml-arith needs --quantized FILE.gguf");

    qt_err err = {{0}};
    struct qt_model *m = NULL;
    if (qt_model_open(model, &m, &err) != QT_OK) return cli_fail(&err);
    struct qt_qplan plan;
    /* --quantized OUT: the checkpoint as written, its weights through hooks */
    struct qt_model *cm = NULL;
    struct qt_ct_hooks ch = {0};
    int rc = ckpt ? qt_model_open(ckpt, &cm, &err) : QT_OK;
    /* a GGUF file runs as a model of its own (every tensor dequantized as
     * llama.cpp reads it, the embedding and output included) */
    const int gguf = rc == QT_OK && cm && cm->gguf;
    if (gguf) rc = qt_gguf_eval_check(m, cm, ckpt, &err);
    if (rc == QT_OK && ckpt && !gguf) rc = qt_ct_hooks_init(m, cm, &ch, &err);
    if (rc == QT_OK) {
        if (ckpt) rc = qt_qplan_init(m, &plan, &err);
        else rc = scheme ? qt_qplan_uniform(m, scheme, &plan, &err) : qt_qplan_from_recipe(m, recipe, &plan, &err);
    }
    if (rc != QT_OK) {
        qt_ct_hooks_free(&ch);
        qt_model_free(cm);
        qt_model_free(m);
        return cli_fail(&err);
    }
    plan.f32_arith = f32;
    char cache[4096];
    p.data_path = data;
    p.cache_dir = qt_eval_default_cache_dir(cache, sizeof cache);
    cli_bar_init(&bar, json);
    if (bar.on) {
        p.progress = progress;
        p.progress_ctx = "base";
    }
    struct qt_eval_base *base = NULL;
    struct qt_kl_stats st;
    if (ggml_arith) p.base_act = QT_FWD_ACT_GGML_BF16;   /* llama.cpp's base: the BF16 GGUF */
    if (gguf) p.base_model = m;
    rc = qt_eval_base_init(m, &p, &base, &err);
    if (rc != QT_OK) cli_bar_end(&bar);
    if (rc == QT_OK) {
        struct qt_fwd_hooks hk = ckpt ? qt_ct_fwd_hooks(&ch) : qt_qplan_hooks(&plan);
        p.progress_ctx = "quantized";
        struct qt_fwd_hooks gk = gguf ? qt_gguf_fwd_hooks(cm, ggml_arith) : hk;
        rc = gguf ? qt_eval_run(cm, base, ggml_arith ? &gk : NULL, 0, &p, &st, &err) : qt_eval_run(m, base, &hk, 0, &p, &st, &err);
        cli_bar_end(&bar);
        st.tensors_quantized = ckpt ? ch.n_quantized : plan.n_quantized;
        if (gguf) st.tensors_quantized = qt_gguf_eval_n_quantized(cm);
    }
    if (rc == QT_OK) {
        if (json) {
            cJSON *j = qt_eval_json(NULL, &st);
            qt_eval_json_arith(j, ckpt, gguf);
            cli_print_json(j);
        } else {
            printf("model       %s\n", model);
            printf("quantized   %s (%d tensors)\n", ckpt ? ckpt : scheme ? scheme : recipe, st.tensors_quantized);
            printf("data        %s: %d chunks of %d tokens%s, %lld positions\n", data, base->nseq, base->ctx,
                   p.second_half ? " (second half scored)" : "", (long long)st.positions);
            printf("base        %s\n", base->from_cache ? "hidden states from the cache" : base->cache_path ? "computed (now cached)" : "computed");
            printf("KL          mean %.6f ± %.6f   median %.6f   p90 %.6f   p99 %.6f   p99.9 %.6f   max %.6f\n",
                   st.kld_mean, st.kld_stderr, st.kld_median, st.kld_p90, st.kld_p99, st.kld_p999, st.kld_max);
            printf("same top    %.2f%%\n", 100 * st.same_top_p);
            printf("PPL         base %.4f   quantized %.4f   ln ratio %+.6f\n", st.ppl_base, st.ppl_q,
                   st.ln_ppl_ratio);
            printf("RMS Δp      %.4f%%\n", 100 * st.rms_dp);
        }
    }
    qt_eval_base_free(base);
    qt_qplan_free(&plan);
    qt_ct_hooks_free(&ch);
    qt_model_free(cm);
    qt_model_free(m);
    return rc == QT_OK ? 0 : cli_fail(&err);
}
