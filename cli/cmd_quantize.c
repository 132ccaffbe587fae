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
#include "cli_recipe.h"
#include "io/report.h"
#include "io/writer.h"
#include "recipe/lint.h"

#define USAGE "quantize MODEL -r RECIPE -o OUT [--calib FILE] [--max-shard-size 5GB] [--tp N] [--ep] [--allow-lint-errors] [--force] [--json]"
static const char usage[] =
    "usage: qtune " USAGE "\n"
    "  Writes OUT as a compressed-tensors checkpoint (vLLM): pack-quantized int weights,\n"
    "  int-quantized W8A8, float-quantized FP8; everything else copied unchanged.\n"
    "  OUT appears only when complete; an existing OUT is replaced only with --force.\n"
    "  Round-to-nearest only: GPTQ, AWQ, SmoothQuant and SparseGPT modifiers are refused.\n"
    "  --calib FILE is recorded in qtune-report.json (round-to-nearest needs no calibration).\n"
    "  --max-shard-size takes B, KB, MB, GB (default 5GB), KiB, MiB, GiB.\n"
    "  A recipe with lint errors (what vLLM refuses to load, `qtune lint`, checked at\n"
    "  --tp N, default 1, and --ep) is refused; --allow-lint-errors writes it anyway.\n";

static volatile sig_atomic_t cancel_flag;
static void on_signal(int sig) { (void)sig; cancel_flag = 1; }

struct prog { int tty; double last; };

static void on_progress(void *ud, int64_t done, int64_t total, const char *tensor) {
    struct prog *p = ud;
    if (!p->tty) return;
    double now = qt_now();
    if (done < total && now - p->last < 0.1) return;
    p->last = now;
    fprintf(stderr, "\r\033[K%5.1f%%  %s", total ? 100.0 * (double)done / (double)total : 100.0, tensor);
    if (done >= total) fputc('\n', stderr);
}

int qt_cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *recipe = NULL, *out = NULL, *calib = NULL, *shard = NULL;
    int force = 0, json = 0, allow_lint = 0, ep = 0;
    long tp = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "-r") || !strcmp(a, "--recipe")) { if (++i >= argc) return cli_failf("%s: missing value", a); recipe = argv[i]; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { if (++i >= argc) return cli_failf("%s: missing value", a); out = argv[i]; }
        else if (!strcmp(a, "--calib")) { if (++i >= argc) return cli_failf("%s: missing value", a); calib = argv[i]; }
        else if (!strcmp(a, "--max-shard-size")) { if (++i >= argc) return cli_failf("%s: missing value", a); shard = argv[i]; }
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
    qt_err err;
    uint64_t max_shard = 0;
    if (shard && qt_write_parse_size(shard, &max_shard, &err) != QT_OK) return cli_fail(&err);
    if (calib) {
        struct stat st;
        if (stat(calib, &st) != 0) return cli_failf("%s: cannot read calibration file", calib);
    }
    struct stat st;
    if (!force && stat(out, &st) == 0) return cli_failf("%s: already exists (use --force to replace it)", out);

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
    struct prog pr = {isatty(2) && !json, 0};
    struct qt_write_params p = {
        .out = out, .max_shard_bytes = max_shard, .force = force, .recipe_path = recipe, .calib = calib,
        .progress = on_progress, .progress_ud = &pr, .cancel = (const volatile int *)&cancel_flag,
    };
    struct qt_write_result res;
    if (qt_write_ct_recipe(c.model, c.recipe, &c.res, &p, &res, &err) != QT_OK) { cli_fail(&err); goto done; }
    if (json) {
        cli_print_json(qt_write_json(NULL, out, &res));
    } else {
        char bw[32], bs[32];
        printf("wrote %s: %d modules quantized, %d tensors kept, %d shard%s, %s from %s in %.2f s\n", out,
               res.n_quantized, res.n_kept, res.n_shards, res.n_shards == 1 ? "" : "s",
               qt_fmt_bytes((double)res.bytes_written, bw, sizeof bw),
               qt_fmt_bytes((double)res.bytes_source, bs, sizeof bs), res.seconds);
    }
    rc = 0;
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    cli_recipe_close(&c);
    return rc;
}
