/* cmd_quantize.c — qtune quantize MODEL -r RECIPE -o OUT: resolve the recipe,
 * refuse what qtune cannot run faithfully, write the checkpoint. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/format.h"
#include "cli.h"
#include "progress.h"
#include "cli_recipe.h"
#include "io/report.h"
#include "eval/calib.h"
#include "eval/eval.h"
#include "io/gguf_write.h"
#include "io/outdir.h"
#include "io/writer.h"
#include "recipe/gguf_plan.h"
#include "recipe/lint.h"

#define USAGE "quantize MODEL -r RECIPE -o OUT [--format ct|gguf] [--gguf-type T] [--imatrix FILE] [--calib FILE] [--calib-samples 128] [--calib-len 512] [--max-shard-size 5GB] [--threads N] [--tp N] [--ep] [--allow-lint-errors] [--force] [--json]"
static const char usage[] =
    "usage: qtune " USAGE "\n"
    "  Writes OUT as a compressed-tensors checkpoint (vLLM): pack-quantized int weights,\n"
    "  int-quantized W8A8, float-quantized FP8; everything else copied unchanged.\n"
    "  OUT appears only when complete; an existing OUT is replaced only with --force.\n"
    "  QuantizationModifier rounds to nearest; GPTQModifier, SmoothQuantModifier, AWQModifier\n"
    "  (duo_scaling, n_grid, clip_search, mappings) and SparseGPTModifier run the sequential\n"
    "  calibration pipeline over --calib FILE (--calib-samples chunks of --calib-len tokens from\n"
    "  the start, default 128 x 512) one decoder layer at a time.  SparseGPT's zeros are written\n"
    "  dense (vLLM has no sparse kernels: no speed-up); the measured sparsity is printed.\n"
    "  --calib FILE is recorded in qtune-report.json (round-to-nearest needs no calibration).\n"
    "  --max-shard-size takes B, KB, MB, GB (default 5GB), KiB, MiB, GiB.\n"
    "  --format gguf writes OUT.gguf for llama.cpp (glm4moe) instead: per-tensor GGUF types from the\n"
    "  recipe's qtune_gguf section (docs/gguf.md) or --gguf-type (a llama-quantize type: Q8_0, Q4_K_M,\n"
    "  Q5_K_M, IQ4_XS, BF16, ...), importance-weighted with --imatrix FILE (llama.cpp's imatrix,\n"
    "  .dat or GGUF) or from qtune's calibration statistics with --calib FILE; split into OUT-00001-of-0000N.gguf only when --max-shard-size is given.\n"
    "  A recipe with lint errors (what vLLM refuses to load, `qtune lint`, checked at\n"
    "  --tp N, default 1, and --ep) is refused; --allow-lint-errors writes it anyway.\n";

static volatile sig_atomic_t cancel_flag;
static void on_signal(int sig) { (void)sig; cancel_flag = 1; }

/* The progress bar (on a terminal's stderr only): calibration by layer,
 * then the tensors written.  QTUNE_PROGRESS=lines: one line per calibrated
 * layer on stderr instead, for logs of long runs without a terminal. */
static void on_layer(void *ud, int done, int total, double secs) {
    struct cli_bar *b = ud;
    const char *pl = getenv("QTUNE_PROGRESS");
    if (pl && !strcmp(pl, "lines")) {
        fprintf(stderr, "calibrate: layer %d of %d done, %.1f s\n", done, total, secs);
        return;
    }
    b->bytes = 0;   /* layers */
    cli_bar_update(b, "calibrate", done, total, NULL);
}

static void on_progress(void *ud, int64_t done, int64_t total, const char *tensor) {
    struct cli_bar *b = ud;
    b->bytes = 1;   /* the writer counts source bytes; calibration's layers come before */
    cli_bar_update(b, "quantize", done, total, tensor);
}

/* --format gguf: the plan from the recipe's qtune_gguf section (or
 * --gguf-type), then the GGUF writer. */
static int quantize_gguf(const char *model, const char *recipe, const char *out, const char *gguf_type,
                         const char *imatrix, const char *calib, uint64_t split, int force, int json, int threads) {
    qt_err err;
    struct cli_recipe_ctx c;
    if (cli_recipe_open(model, recipe, &c, &err) != QT_OK) return cli_fail(&err);
    struct qt_gguf_spec spec;
    struct qt_gguf_plan plan = {0};
    struct qt_imatrix im = {0};
    int rc = 1, have_im = 0;
    if (qt_gguf_spec_from_yaml(c.recipe->root, recipe, &spec, &err) != QT_OK) { cli_fail(&err); goto done0; }
    if (gguf_type) {
        struct qt_gguf_spec t;
        if (qt_gguf_spec_from_ftype(gguf_type, &t, &err) != QT_OK) { cli_fail(&err); goto done; }
        spec.ftype = t.ftype;
    }
    if (imatrix) {
        if (qt_imatrix_load(imatrix, &im, &err) != QT_OK) { cli_fail(&err); goto done; }
        have_im = 1;
    }
    if (qt_gguf_plan_build(c.model, &spec, have_im || calib, &plan, &err) != QT_OK) { cli_fail(&err); goto done; }
    if (calib) {
        /* importance from qtune's calibration statistics (cached as for the TUI) */
        char cache[4096];
        struct qt_calib_params cp = {.calib_path = calib, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
        struct qt_calib *cs = NULL;
        if (qt_calib_run(c.model, &cp, &cs, &err) != QT_OK) { cli_fail(&err); goto done; }
        int r = qt_imatrix_from_calib(c.model, cs, &plan, &im, &err);
        qt_calib_free(cs);
        if (r != QT_OK) { cli_fail(&err); goto done; }
        have_im = 1;
    }
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct cli_bar pr;
    cli_bar_init(&pr, json);
    struct qt_gguf_write_params p = {
        .out = out, .max_split_bytes = split, .force = force, .imatrix = have_im ? &im : NULL, .recipe_path = recipe,
        .progress = on_progress, .progress_ud = &pr, .cancel = (const volatile int *)&cancel_flag, .threads = threads,
    };
    struct qt_write_result res;
    int wr = qt_gguf_write(c.model, &plan, &p, &res, &err);
    cli_bar_end(&pr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (wr != QT_OK) { cli_fail(&err); goto done; }
    char first[4200];
    qt_gguf_split_path(out, 0, res.n_shards, first, sizeof first);   /* the file llama.cpp is given */
    if (json) {
        cli_print_json(qt_gguf_result_json(first, NULL, &plan, &res));
    } else {
        char bw[32], bs[32];   /* binary units, as the compressed-tensors line and every other size */
        printf("wrote %s: %d tensors (%d quantized, %d fallback), %d file%s, %s (%.2f bpw) from %s in %.2f s\n", first,
               plan.n, res.n_quantized, plan.n_fallback, res.n_shards, res.n_shards == 1 ? "" : "s",
               qt_fmt_bytes((double)res.bytes_written, bw, sizeof bw),
               plan.params ? 8.0 * (double)plan.bytes / (double)plan.params : 0,
               qt_fmt_bytes((double)res.bytes_source, bs, sizeof bs), res.seconds);
    }
    rc = 0;
done:
    qt_gguf_spec_free(&spec);
done0:
    qt_gguf_plan_free(&plan);
    qt_imatrix_free(&im);
    cli_recipe_close(&c);
    return rc;
}

/* The SparseGPT part of OUT's qtune-report.json (calibration.sparsegpt), or
 * NULL: the measured sparsity and what the pruning costs, said on the
 * terminal too because the serving engine gains nothing from it. */
static cJSON *sparse_report(const char *out) {
    char rp[4200];
    snprintf(rp, sizeof rp, "%s/qtune-report.json", out);
    qt_err e;
    char *txt = qt_read_file(rp, NULL, &e);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    cJSON *sg = cJSON_DetachItemFromObjectCaseSensitive(cJSON_GetObjectItem(j, "calibration"), "sparsegpt");
    cJSON_Delete(j);
    return sg;
}

static void print_sparse(const cJSON *sg) {
    const cJSON *ms = cJSON_GetObjectItem(sg, "measured_sparsity"), *nm = cJSON_GetObjectItem(sg, "modules");
    const cJSON *ep = cJSON_GetObjectItem(sg, "mean_out_err_pruning_alone");
    const cJSON *eq = cJSON_GetObjectItem(sg, "mean_out_err_pruned_and_quantized");
    const cJSON *er = cJSON_GetObjectItem(sg, "mean_out_err_quantized_unpruned_rtn");
    printf("sparsity: %.1f%% zeros in %d pruned modules (%s), written dense: vLLM runs it no faster (QT017)\n",
           100 * cJSON_GetNumberValue(ms), (int)cJSON_GetNumberValue(nm),
           cJSON_GetStringValue(cJSON_GetObjectItem(sg, "args")));
    if (cJSON_IsNumber(ep) && cJSON_IsNumber(eq) && cJSON_IsNumber(er))
        printf("  output error on the calibration inputs (mean over the pruned modules): pruning alone %.4g, "
               "pruned + quantized %.4g, quantized unpruned (RTN) %.4g%s\n", ep->valuedouble, eq->valuedouble,
               er->valuedouble, ep->valuedouble >= 0.5 * eq->valuedouble ? ": the pruning costs most of it" : "");
    else if (cJSON_IsNumber(ep))
        printf("  output error of the pruning on the calibration inputs (mean): %.4g\n", ep->valuedouble);
}

int qt_cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *recipe = NULL, *out = NULL, *calib = NULL, *shard = NULL;
    int force = 0, json = 0, samples = 0, clen = 0;
    const char *format = "ct", *gguf_type = NULL, *imatrix = NULL;
    long threads = 0;
    int allow_lint = 0, ep = 0;
    long tp = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "-r") || !strcmp(a, "--recipe")) { if (++i >= argc) return cli_failf("%s: missing value", a); recipe = argv[i]; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { if (++i >= argc) return cli_failf("%s: missing value", a); out = argv[i]; }
        else if (!strcmp(a, "--calib")) { if (++i >= argc) return cli_failf("%s: missing value", a); calib = argv[i]; }
        else if (!strcmp(a, "--calib-samples") || !strcmp(a, "--calib-len")) {
            if (++i >= argc) return cli_failf("%s: missing value", a);
            char *end;
            long v = strtol(argv[i], &end, 10);
            if (*end || end == argv[i] || v < 1 || v > 1 << 20) return cli_failf("%s: %s: expected a number from 1 to 1048576", a, argv[i]);
            if (a[8] == 's') samples = (int)v; else clen = (int)v;
        }
        else if (!strcmp(a, "--max-shard-size")) { if (++i >= argc) return cli_failf("%s: missing value", a); shard = argv[i]; }
        else if (!strcmp(a, "--format")) { if (++i >= argc) return cli_failf("%s: missing value", a); format = argv[i]; }
        else if (!strcmp(a, "--gguf-type")) { if (++i >= argc) return cli_failf("%s: missing value", a); gguf_type = argv[i]; }
        else if (!strcmp(a, "--imatrix")) { if (++i >= argc) return cli_failf("%s: missing value", a); imatrix = argv[i]; }
        else if (!strcmp(a, "--threads")) {
            if (++i >= argc) return cli_failf("%s: missing value", a);
            if (cli_parse_int("--threads", argv[i], 1, 16, &threads)) return 1;
        }
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--allow-lint-errors")) allow_lint = 1;
        else if (!strcmp(a, "--ep")) ep = 1;
        else if (!strcmp(a, "--tp")) {
            int prc = cli_parse_int("--tp", i + 1 < argc ? argv[++i] : NULL, 1, 1024, &tp);
            if (prc) return prc;
        }
        else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-') return cli_usage("quantize", USAGE);
        else if (!model) model = a;
        else return cli_usage("quantize", USAGE);
    }
    if (!model || !recipe || !out) return cli_usage("quantize", USAGE);
    if (strcmp(format, "ct") && strcmp(format, "gguf")) return cli_failf("quantize: --format %s: expected ct or gguf", format);
    if (strcmp(format, "gguf") && (gguf_type || imatrix)) return cli_failf("quantize: --gguf-type and --imatrix need --format gguf");
    qt_err err;
    uint64_t max_shard = 0;
    if (shard && qt_write_parse_size(shard, &max_shard, &err) != QT_OK) return cli_fail(&err);
    if (calib) {
        struct stat st;
        if (stat(calib, &st) != 0) return cli_failf("%s: cannot read calibration file", calib);
    }
    if (qt_outdir_check(out, force, NULL, &err) != QT_OK) return cli_fail(&err);
    if (!strcmp(format, "gguf")) {
        if (imatrix && calib) return cli_failf("quantize: --imatrix and --calib: give one importance source");
        return quantize_gguf(model, recipe, out, gguf_type, imatrix, calib, shard ? max_shard : 0, force, json, (int)threads);
    }

    struct cli_recipe_ctx c;
    if (cli_recipe_open(model, recipe, &c, &err) != QT_OK) return cli_fail(&err);
    int rc = 1;
    if (!allow_lint) {
        /* vLLM reads one expert's scheme for the whole fused layer and
         * refuses shapes its kernels cannot run: a checkpoint with a lint
         * error loads wrongly or not at all, so it is not written */
        struct qt_lint L;
        struct qt_lint_opts lo = {.tp = (int)tp, .ep = ep};
        if (qt_lint_run(c.recipe, c.model, &c.res, &lo, &L, &err) != QT_OK) { cli_fail(&err); goto done; }
        int first = -1;
        for (int i = 0; i < L.n && first < 0; i++)
            if (L.f[i].severity == QT_SEV_ERROR) first = i;
        if (first >= 0) {
            cli_failf("%s: %d lint error%s, first %s %s (qtune lint lists them; --allow-lint-errors writes it anyway)",
                      recipe, L.n_errors, L.n_errors == 1 ? "" : "s", L.f[first].code, L.f[first].message);
            qt_lint_free(&L);
            goto done;
        }
        qt_lint_free(&L);
    }
    signal(SIGXFSZ, SIG_IGN);   /* a file size limit makes write() fail with EFBIG instead of killing us */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct cli_bar pr;
    cli_bar_init(&pr, json);
    struct qt_write_params p = {
        .out = out, .max_shard_bytes = max_shard, .force = force, .recipe_path = recipe, .calib = calib,
        .progress = on_progress, .progress_ud = &pr, .cancel = (const volatile int *)&cancel_flag,
        .calib_samples = samples, .calib_len = clen, .layer_progress = on_layer, .layer_progress_ud = &pr,
    };
    struct qt_write_result res;
    int wrc = qt_write_ct_recipe(c.model, c.recipe, &c.res, &p, &res, &err);
    cli_bar_end(&pr);
    if (wrc != QT_OK) { cli_fail(&err); goto done; }
    cJSON *sg = sparse_report(out);
    if (json) {
        cJSON *j = qt_write_json(NULL, out, &res);
        if (sg && j) cJSON_AddItemToObject(j, "sparsegpt", sg);
        else cJSON_Delete(sg);
        cli_print_json(j);
    } else {
        char bw[32], bs[32];
        printf("wrote %s: %d modules quantized, %d tensors kept, %d shard%s, %s from %s in %.2f s\n", out,
               res.n_quantized, res.n_kept, res.n_shards, res.n_shards == 1 ? "" : "s",
               qt_fmt_bytes((double)res.bytes_written, bw, sizeof bw),
               qt_fmt_bytes((double)res.bytes_source, bs, sizeof bs), res.seconds);
        if (sg) print_sparse(sg);
        cJSON_Delete(sg);
    }
    rc = 0;
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    cli_recipe_close(&c);
    return rc;
}
