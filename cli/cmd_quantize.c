/* cmd_quantize.c — qtune quantize MODEL -r RECIPE -o OUT: resolve the recipe,
 * refuse what qtune cannot run faithfully, write the checkpoint. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "cli_recipe.h"
#include "io/report.h"
#include "io/writer.h"

#define USAGE "quantize MODEL -r RECIPE -o OUT [--calib FILE] [--max-shard-size 5GB] [--force] [--json]"
static const char usage[] =
    "usage: qtune " USAGE "\n"
    "  Writes OUT as a compressed-tensors checkpoint (vLLM): pack-quantized int weights,\n"
    "  int-quantized W8A8, float-quantized FP8; everything else copied unchanged.\n"
    "  OUT appears only when complete; an existing OUT is replaced only with --force.\n"
    "  Round-to-nearest only: GPTQ, AWQ, SmoothQuant and SparseGPT modifiers are refused.\n"
    "  --calib FILE is recorded in qtune-report.json (round-to-nearest needs no calibration).\n"
    "  --max-shard-size takes B, KB, MB, GB (default 5GB), KiB, MiB, GiB.\n";

static volatile sig_atomic_t cancel_flag;
static void on_signal(int sig) { (void)sig; cancel_flag = 1; }

struct prog { int tty; double last; };

static void on_progress(void *ud, int64_t done, int64_t total, const char *tensor) {
    struct prog *p = ud;
    if (!p->tty) return;
    double now = qt_now();
    if (done < total && now - p->last < 0.1) return;
    p->last = now;
    char esc[512];
    FILE *e = cli_raw_stderr();   /* \r and ESC[K are ours; the name is escaped */
    fprintf(e, "\r\033[K%5.1f%%  %s", total ? 100.0 * (double)done / (double)total : 100.0,
            cli_esc(tensor, esc, sizeof esc));
    if (done >= total) fputc('\n', e);
    fflush(e);
}

int qt_cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *recipe = NULL, *out = NULL, *calib = NULL, *shard = NULL;
    int force = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "-r") || !strcmp(a, "--recipe")) { if (++i >= argc) return cli_failf("%s: missing value", a); recipe = argv[i]; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { if (++i >= argc) return cli_failf("%s: missing value", a); out = argv[i]; }
        else if (!strcmp(a, "--calib")) { if (++i >= argc) return cli_failf("%s: missing value", a); calib = argv[i]; }
        else if (!strcmp(a, "--max-shard-size")) { if (++i >= argc) return cli_failf("%s: missing value", a); shard = argv[i]; }
        else if (!strcmp(a, "--force")) force = 1;
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
        printf("wrote %s: %d modules quantized, %d tensors kept, %d shard%s, %.1f MB from %.1f MB in %.2f s\n", out,
               res.n_quantized, res.n_kept, res.n_shards, res.n_shards == 1 ? "" : "s",
               (double)res.bytes_written / 1e6, (double)res.bytes_source / 1e6, res.seconds);
    }
    rc = 0;
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    cli_recipe_close(&c);
    return rc;
}
