/* cmd_plan.c — `qtune plan MODEL [--data FILE] (--target-bytes SIZE |
 * --target-bpw B | --gpus N --gpu NAME [--ctx N] [--batch N]) [--format ct|gguf]
 * [--candidates LIST] [-r BASE_RECIPE] [-o RECIPE] [--dkl FILE] [--eval FILE]
 * [--json]`: the recipe with the least predicted KL that fits the target
 * (engine/eval/plan.h), the Pareto curve of size against predicted KL with
 * the uniform recipes on it, and optionally the planned recipe's measured KL
 * on another text.  Without --data or --dkl (or on a config.json alone) it
 * reports the size side only: units, candidate sizes, the budget. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <langinfo.h>
#include <locale.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "progress.h"
#include "cli_recipe.h"
#include "eval/eval.h"
#include "eval/plan.h"
#include "eval/calib.h"
#include "recipe/gguf_plan.h"
#include "eval/qplan.h"
#include "algo/plan_gptq.h"
#include "base/format.h"
#include "io/writer.h"
#include "io/report.h"
#include "plot.h"
#include "recipe/deploy.h"
#include "recipe/lint.h"

static const char usage[] =
    "plan MODEL [--data FILE] (--target-bytes SIZE | --target-bpw B | --gpus N --gpu NAME [--ctx N] [--batch N])\n"
    "       [--format ct|gguf] [--candidates LIST] [-r BASE_RECIPE] [-o RECIPE] [--dkl FILE] [--dkl-out FILE]\n"
    "       [--dkl-ctx N] [--dkl-chunks N] [--eval FILE] [--points N] [--gptq [--calib FILE] [--calib-samples N]]\n"
    "       [--gguf-ftype T] [--ascii] [--json]";

static const char help_text[] =
    "  Measures the KL cost (ΔKL) of each unit — a fused group (qkv, gate_up, the shared expert's\n"
    "  gate_up, all routed experts of a layer) or another Linear (o_proj, down) — under each candidate scheme on --data (defaults: --dkl-ctx 512 tokens a\n"
    "  chunk, --dkl-chunks 4), then picks one candidate per unit minimising Σ ΔKL within the target\n"
    "  (an exact multiple-choice knapsack) and writes the recipe (-o) as patterns per layer range.\n"
    "  --target-bytes also takes a scheme (W4A16, int3-g128-sym): the size of that scheme on every unit.\n"
    "  Candidates default to what vLLM runs: int4-ch/g128/g64/g32 sym, int4-g128/g64/g32 asym,\n"
    "  int8-ch/g128, fp8-ch, bf16.\n"
    "  --dkl FILE reuses the table of an earlier `plan --json` or --dkl-out FILE; --eval FILE measures the planned\n"
    "  recipe's KL on another text (ctx 512, 16 chunks, as qtune eval).  Predicted KL = Σ ΔKL x the\n"
    "  additivity factor measured on the uniform recipes.\n"
    "  --format gguf: units are the GGUF file's tensors (a layer's routed experts: one stacked tensor per\n"
    "  projection), candidates ggml types (default Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0,IQ4_XS,Q4_0,BF16; a row\n"
    "  length a type's block does not divide gets llama-quantize's fallback); ΔKL by ggml's own quantizer.\n"
    "  --target-bytes also takes a file type (Q4_K_M, Q3_K_M: that file's size; it is then the recipe's\n"
    "  ftype, else --gguf-ftype, default Q8_0, for the tensors not planned: the MTP layer).  --calib FILE:\n"
    "  importance weights from calibration statistics, as `quantize --format gguf --calib FILE` (give\n"
    "  it to quantize too).  The recipe is a qtune_gguf section (docs/gguf.md) for `quantize --format\n"
    "  gguf`; the presets are marked + on the curve, and --eval also measures the target's preset.\n"
    "  --gptq: every quantizing candidate is GPTQ's (default actorder; calibration on --calib FILE, default\n"
    "  --data, else share/data/calib.txt; --calib-samples chunks of 512 tokens, 128): ΔKL is measured with the weights the\n"
    "  calibration pipeline gives each candidate's uniform recipe, --eval runs the pipeline on the plan, and\n"
    "  the recipe is a GPTQModifier.";

struct opts {
    const char *model, *data, *base, *outp, *dkl, *dkl_out, *eval, *gpu, *gpus_file, *cands, *target_bytes, *calib,
        *gguf_ftype;
    double bpw;
    long gpus, ctx, batch, dkl_ctx, dkl_chunks, points, calib_samples;
    int json, ascii, gptq;
    enum qt_plan_format format;
};

static struct cli_bar bar;   /* the progress bar, on a terminal's stderr only */

static void progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    cli_bar_update(&bar, "ΔKL scan", done, total, NULL);
}

/* The unit kinds of p in order of first appearance (at most 16) into k;
 * returns how many. */
static int unit_kinds(const struct qt_plan *p, const char **k, int *count) {
    int n = 0;
    for (int u = 0; u < p->n_units; u++) {
        int j = 0;
        while (j < n && strcmp(k[j], p->units[u].kind)) j++;
        if (j == n && n < 16) {
            k[n] = p->units[u].kind;
            count[n++] = 0;
        }
        if (j < n) count[j]++;
    }
    return n;
}

/* "qkv  int8-ch-sym  layers 0-1,3" per kind and scheme: the allocation in
 * layer runs. */
static void print_alloc(const struct qt_plan *p, const int *choice) {
    const char *kinds[16];
    int cnt[16], nk = unit_kinds(p, kinds, cnt);
    for (int k = 0; k < nk; k++) {
        int any = 0;
        for (int c = 0; c < p->n_cand; c++) {
            char runs[1024] = "";
            size_t len = 0;
            int prev = -2, start = -1, nr = 0, first = -1;
            for (int u = 0; u <= p->n_units; u++) {
                int hit = u < p->n_units && !strcmp(p->units[u].kind, kinds[k]) && choice[u] == c;
                if (hit && first < 0) first = u;
                int l = hit ? p->units[u].layer : -10;
                if (hit && l == prev + 1) {
                    prev = l;
                    continue;
                }
                if (start >= 0 && len + 32 < sizeof runs) {
                    len += (size_t)snprintf(runs + len, sizeof runs - len, "%s%d", nr ? "," : "", start);
                    if (prev > start) len += (size_t)snprintf(runs + len, sizeof runs - len, "-%d", prev);
                    nr++;
                }
                start = hit ? l : -1;
                prev = hit ? l : -2;
            }
            if (!nr) continue;
            /* GGUF: the type written (after the shape fallback); a tensor outside the blocks has no layers */
            if (p->units[first].layer < 0) printf("  %-14s %s\n", any ? "" : kinds[k], qt_plan_choice_name(p, first, c));
            else printf("  %-14s %-16s layers %s\n", any ? "" : kinds[k], qt_plan_choice_name(p, first, c), runs);
            any = 1;
        }
    }
}

/* 1 when the locale's character set is UTF-8 (braille for the plot). */
static int utf8_locale(void) {
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    return cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
}

static double pred(const struct qt_plan *p, double sum) { return qt_plan_predict(p, sum); }

/* GGUF: llama-quantize's presets the plan can express (every unit's type a
 * candidate), as points of the curve. */
#define gguf_presets qt_plan_gguf_presets
#define N_PRESETS 16

struct preset_pt {
    const char *name;
    double bytes, sum_dkl, bpw;
    int *choice;
};

static void print_curve(const struct qt_plan *p, const struct qt_plan_curve *cv, const struct qt_plan_solution *sol,
                        const struct preset_pt *pre, int n_pre, int ascii) {
    if (cv->n < 2) return;
    int W = 64, H = 14;
    double x0 = cv->pt[0].bpw, x1 = cv->pt[cv->n - 1].bpw, ymax = cv->pt[0].sum_dkl;
    /* beyond the point where the curve is within 1% of its start, it is flat */
    for (int i = 0; i < cv->n; i++)
        if (cv->pt[i].sum_dkl <= 0.01 * ymax) {
            x1 = cv->pt[i].bpw;
            break;
        }
    if (!(x1 > x0)) x1 = x0 + 1;
    size_t np = (size_t)(cv->n + cv->n_uniform + n_pre + 2);
    double *x = malloc(sizeof(double) * np * 2);
    if (!x) return;
    double *y = x + np;
    for (int i = 0; i < cv->n; i++) {
        x[i] = cv->pt[i].bpw;
        y[i] = pred(p, cv->pt[i].sum_dkl);
    }
    double *ux = x + cv->n, *uy = y + cv->n;
    for (int i = 0; i < cv->n_uniform; i++) {
        ux[i] = cv->uni[i].bpw;
        uy[i] = pred(p, cv->uni[i].sum_dkl);
    }
    double *sx = ux + cv->n_uniform, *sy = uy + cv->n_uniform;
    sx[0] = sol->bpw;
    sy[0] = pred(p, sol->sum_dkl);
    double *px = sx + 1, *py = sy + 1;
    int npp = 0;
    for (int i = 0; i < n_pre; i++)
        if (isfinite(pre[i].sum_dkl)) {
            px[npp] = pre[i].bpw;
            py[npp++] = pred(p, pre[i].sum_dkl);
        }
    double ytop = pred(p, ymax);
    for (int i = 0; i < cv->n_uniform; i++)
        if (ux[i] <= x1 && uy[i] > ytop) ytop = uy[i];
    for (int i = 0; i < npp; i++)
        if (px[i] >= x0 && px[i] <= x1 && py[i] > ytop) ytop = py[i];
    struct plot pl = {W, H, ascii, x0, x1, 0, ytop * 1.02};
    struct plot_series s[4] = {{x, y, cv->n, 0}, {ux, uy, cv->n_uniform, 'o'}, {px, py, npp, '+'}, {sx, sy, 1, '*'}};
    char **rows = malloc(sizeof(char *) * (size_t)H);
    char *buf = malloc((size_t)H * PLOT_ROW_MAX(W));
    if (rows && buf) {
        for (int r = 0; r < H; r++) rows[r] = buf + (size_t)r * PLOT_ROW_MAX(W);
        plot_render(&pl, s, 4, rows);
        printf("\nPareto curve: predicted KL against bits per weight (%s optimal allocations, o uniform, %s* plan)\n",
               ascii ? "." : "line:", npp ? "+ GGUF file types, " : "");
        for (int r = 0; r < H; r++) {
            if (r == 0) printf("%8.4f |%s\n", pl.y1, rows[r]);
            else if (r == H - 1) printf("%8.4f |%s\n", 0.0, rows[r]);
            else printf("         |%s\n", rows[r]);
        }
        printf("         +");
        for (int i = 0; i < W; i++) putchar('-');
        printf("\n          %-8.2f%*s%8.2f bpw\n", x0, W - 16, "", x1);
    }
    free(rows);
    free(buf);
    free(x);
}

/* KL of the planned allocation on another text (eval's protocol: 16
 * chunks of 512 tokens). */
static int eval_choice(const struct qt_plan *p, const int *choice, const struct qt_resolution *bres,
                       const char *data, struct qt_plan_gptq *g, struct qt_kl_stats *st, qt_err *err) {
    struct qt_qplan qp;
    if (qt_qplan_init(p->m, &qp, err) != QT_OK) return QT_ERR;
    int rc = QT_OK;
    /* GPTQ: the pipeline on the planned recipe, as qtune quantize runs it */
    if (g && (rc = qt_plan_gptq_weights(g, p, choice, &qp, err)) != QT_OK) {
        qt_qplan_free(&qp);
        return QT_ERR;
    }
    unsigned char *in_unit = calloc((size_t)p->m->n_tensors + 1, 1);
    if (!in_unit) rc = qt_err_set(err, "out of memory");
    for (int u = 0; u < p->n_units && rc == QT_OK; u++)
        for (int j = 0; j < p->units[u].n_tensors && rc == QT_OK; j++) {
            in_unit[p->units[u].tensors[j]] = 1;
            rc = qt_qplan_set(&qp, p->units[u].tensors[j], &p->cand[choice[u]], err);
        }
    for (int i = 0; bres && rc == QT_OK && i < p->m->n_tensors; i++)
        if (!in_unit[i] && bres->t[i].quantized && bres->t[i].s) rc = qt_qplan_set(&qp, i, bres->t[i].s, err);
    free(in_unit);
    char cache[4096];
    struct qt_eval_params ep = {.data_path = data, .ctx = 512, .chunks = 16,
                                .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
    struct qt_eval_base *b = NULL;
    if (rc == QT_OK) rc = qt_eval_base_init(p->m, &ep, &b, err);
    struct qt_fwd_hooks hk = qt_qplan_hooks(&qp);
    if (rc == QT_OK) rc = qt_eval_run(p->m, b, &hk, 0, &ep, st, err);
    qt_eval_base_free(b);
    qt_qplan_free(&qp);
    if (g) qt_plan_gptq_release(g);
    return rc;
}

static int gguf_preset_points(const struct qt_plan *p, struct preset_pt *pp) {
    int n = 0;
    for (int i = 0; gguf_presets[i] && n < N_PRESETS; i++) {
        int *ch = malloc(sizeof(int) * (size_t)(p->n_units + 1));
        double b;
        if (!ch || qt_plan_gguf_preset(p, gguf_presets[i], ch, &b, NULL) != QT_OK) {
            free(ch);
            continue;
        }
        pp[n] = (struct preset_pt){gguf_presets[i], b, p->measured ? qt_plan_sum_dkl(p, ch) : NAN,
                                   (qt_plan_bytes(p, ch) - p->fixed_bytes) * 8 / (double)p->unit_params, ch};
        n++;
    }
    return n;
}

/* KL of a GGUF allocation on another text (eval's protocol). */
static int eval_gguf(const struct qt_plan *p, const int *choice, const char *data, struct qt_kl_stats *st, qt_err *err) {
    char cache[4096];
    struct qt_eval_params ep = {.data_path = data, .ctx = 512, .chunks = 16,
                                .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
    return qt_plan_gguf_eval(p, choice, &ep, st, err);
}

static int parse_args(int argc, char **argv, struct opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--ascii")) { o->ascii = 1; continue; }
        if (!strcmp(a, "--gptq")) { o->gptq = 1; continue; }
        if (a[0] == '-' && a[1] && !v) return cli_failf("plan: %s: missing value", a);
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "-r") || !strcmp(a, "--recipe")) o->base = v;
        else if (!strcmp(a, "-o")) o->outp = v;
        else if (!strcmp(a, "--dkl")) o->dkl = v;
        else if (!strcmp(a, "--dkl-out")) o->dkl_out = v;
        else if (!strcmp(a, "--eval")) o->eval = v;
        else if (!strcmp(a, "--calib")) o->calib = v;
        else if (!strcmp(a, "--gguf-ftype")) o->gguf_ftype = v;
        else if (!strcmp(a, "--gpu")) o->gpu = v;
        else if (!strcmp(a, "--gpu-catalog")) o->gpus_file = v;
        else if (!strcmp(a, "--candidates")) o->cands = v;
        else if (!strcmp(a, "--target-bytes")) o->target_bytes = v;
        else if (!strcmp(a, "--target-bpw")) {
            char *e;
            o->bpw = strtod(v, &e);
            if (*e || !(o->bpw > 0) || o->bpw > 32) return cli_failf("plan: --target-bpw: expected bits in (0, 32], not '%s'", v);
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "ct")) o->format = QT_PLAN_CT;
            else if (!strcmp(v, "gguf")) o->format = QT_PLAN_GGUF;
            else return cli_failf("plan: --format: expected ct or gguf, not '%s'", v);
        } else if (!strcmp(a, "--gpus")) {
            rc = cli_parse_int("--gpus", v, 1, 8, &o->gpus);
            if (!rc && o->gpus != 1 && o->gpus != 2 && o->gpus != 4 && o->gpus != 8)
                return cli_failf("plan: --gpus: expected 1, 2, 4 or 8 (tensor parallel), not %ld", o->gpus);
        } else if (!strcmp(a, "--ctx")) rc = cli_parse_int("--ctx", v, 1, 100000000, &o->ctx);
        else if (!strcmp(a, "--batch")) rc = cli_parse_int("--batch", v, 1, 1000000, &o->batch);
        else if (!strcmp(a, "--dkl-ctx")) rc = cli_parse_int("--dkl-ctx", v, 2, 1 << 20, &o->dkl_ctx);
        else if (!strcmp(a, "--dkl-chunks")) rc = cli_parse_int("--dkl-chunks", v, 1, 1 << 20, &o->dkl_chunks);
        else if (!strcmp(a, "--points")) rc = cli_parse_int("--points", v, 2, 10000, &o->points);
        else if (!strcmp(a, "--calib-samples")) rc = cli_parse_int("--calib-samples", v, 1, 1 << 20, &o->calib_samples);
        else if (a[0] == '-' && a[1]) return cli_failf("plan: unknown option %s (usage: qtune %s)", a, usage);
        else {
            if (o->model) return cli_usage("plan", usage);
            o->model = a;
            continue;
        }
        if (rc) return rc;
        i++;
    }
    int targets = (o->target_bytes != NULL) + (o->bpw > 0) + (o->gpus > 0);
    if (!o->model || targets != 1) return cli_usage("plan", usage);
    if (o->gpus > 0 && !o->gpu) return cli_failf("plan: --gpus needs --gpu NAME (a GPU of the catalog)");
    if (o->gguf_ftype && o->format != QT_PLAN_GGUF) return cli_failf("plan: --gguf-ftype needs --format gguf");
    return -1;
}

int qt_cmd_plan(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            cli_help(usage);
            puts(help_text);
            return 0;
        }
    struct opts o = {.format = QT_PLAN_CT, .ctx = 8192, .batch = 1, .dkl_ctx = 512, .dkl_chunks = 4, .points = 48};
    int prc = parse_args(argc, argv, &o);
    if (prc >= 0) return prc;

    qt_err err = {{0}};
    struct cli_recipe_ctx c;
    if (cli_recipe_open(o.model, o.base, &c, &err) != QT_OK) return cli_fail(&err);
    struct qt_gpu_catalog cat = {0};
    struct qt_plan p = {0};
    struct qt_plan_solution sol = {0};
    struct qt_plan_curve cv = {0};
    struct qt_plan_gptq gq = {0};
    struct qt_recipe *out_r = NULL;
    struct qt_lint lint = {0};
    int rc = 1, have_eval = 0, n_pre = 0, tpre = -1, have_peval = 0;
    struct preset_pt pre[N_PRESETS];
    struct qt_kl_stats pst = {0};
    struct qt_kl_stats est = {0};
    const struct qt_gpu *g = NULL;
    char a1[32], a2[32], a3[32], target_desc[128];

    struct qt_plan_opts po = {.format = o.format, .candidates = o.cands, .tp = (int)o.gpus,
                              .algo = o.gptq ? QT_ALGO_GPTQ : QT_ALGO_RTN,
                              .base = c.recipe, .base_res = c.recipe ? &c.res : NULL};
    int gguf = o.format == QT_PLAN_GGUF;
    /* --target-bytes Q4_K_M: that file's size, and its file type for the recipe */
    const char *target_ftype = gguf && o.target_bytes && qt_gguf_ftype_find(o.target_bytes) ? o.target_bytes : NULL;
    if (gguf) {
        po.gguf_ftype = o.gguf_ftype ? o.gguf_ftype : target_ftype;
        po.gguf_imatrix = o.calib != NULL;
    }
    if (qt_plan_init(c.model, &po, &p, &err) != QT_OK) goto fail;
    if (gguf && o.calib && !c.model->metadata_only) {
        /* importance weights as `quantize --format gguf --calib` takes them (the same cached statistics) */
        char cache[4096];
        struct qt_calib_params cp = {.calib_path = o.calib, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
        struct qt_calib *cs = NULL;
        if (qt_calib_run(c.model, &cp, &cs, &err) != QT_OK) goto fail;
        int irc = qt_plan_set_importance(&p, cs, o.calib, &err);
        qt_calib_free(cs);
        if (irc != QT_OK) goto fail;
    }
    char calib_def[4096];
    if (o.gptq && !gguf) {
        const char *cal = o.calib ? o.calib : o.data;
        if (!cal && qt_share_find("data/calib.txt", calib_def, sizeof calib_def)) cal = calib_def;
        if (!cal) {
            qt_err_set(&err, "plan: --gptq: no calibration text (--calib FILE)");
            goto fail;
        }
        struct qt_pipe_params pp = {.calib_path = cal, .samples = (int)o.calib_samples};
        qt_plan_gptq_attach(&p, &gq, &pp);
    }

    double budget = 0;
    struct qt_scheme like;
    if (target_ftype) {
        if (qt_plan_budget_gguf(&p, target_ftype, &budget, &err) != QT_OK) goto fail;
        snprintf(target_desc, sizeof target_desc, "--target-bytes %s (that GGUF file's size)", o.target_bytes);
    } else if (o.target_bytes && !gguf && qt_scheme_parse(o.target_bytes, &like, NULL) == QT_OK) {
        /* --target-bytes W4A16: the size of that scheme everywhere */
        if (qt_plan_budget_uniform(&p, &like, &budget, &err) != QT_OK) goto fail;
        snprintf(target_desc, sizeof target_desc, "--target-bytes %s (its uniform size)", o.target_bytes);
    } else if (o.target_bytes) {
        uint64_t b;
        if (qt_write_parse_size(o.target_bytes, &b, &err) != QT_OK) {
            qt_err_prefix(&err, gguf ? "plan: --target-bytes (a size such as 20MiB, or a GGUF file type: Q4_K_M)"
                                     : "plan: --target-bytes (a size such as 180GiB, or a scheme: its uniform size)");
            goto fail;
        }
        budget = (double)b;
        snprintf(target_desc, sizeof target_desc, "--target-bytes %s", o.target_bytes);
    } else if (o.bpw > 0) {
        budget = qt_plan_budget_bpw(&p, o.bpw);
        snprintf(target_desc, sizeof target_desc, "--target-bpw %g", o.bpw);
    } else {
        if (qt_gpu_catalog_load_default(o.gpus_file, &cat, &err) != QT_OK) goto fail;
        g = qt_gpu_find(&cat, o.gpu);
        if (!g) {
            qt_err_set(&err, "plan: --gpu %s: not in the GPU catalog (qtune deploy --help lists where it is)", o.gpu);
            goto fail;
        }
        struct qt_deploy_opts d = {.gpu = g, .tp = (int)o.gpus, .ctx = o.ctx, .batch = (int)o.batch};
        if (qt_plan_budget_gpus(&p, c.recipe, c.recipe ? &c.res : NULL, &d, &budget, &err) != QT_OK) goto fail;
        snprintf(target_desc, sizeof target_desc, "--gpus %ld --gpu %s (ctx %ld x batch %ld)", o.gpus, g->name, o.ctx,
                 o.batch);
    }

    if (!o.json) {
        const char *kinds[16];
        int cnt[16], nk = unit_kinds(&p, kinds, cnt);
        char kl[512] = "";
        for (int k = 0; k < nk; k++)
            snprintf(kl + strlen(kl), sizeof kl - strlen(kl), "%s%d %s", k ? ", " : "", cnt[k], kinds[k]);
        printf("model       %s\n", o.model);
        printf("units       %d (%s): %s weights planned\n", p.n_units, kl, qt_fmt_count(p.unit_params, a1, sizeof a1));
        if (gguf)
            printf("fixed       %s (everything outside the units: norms, router, biases in F32, the MTP layer as the "
                   "file type's rules give it)\n", qt_fmt_bytes(p.fixed_bytes, a1, sizeof a1));
        else
            printf("fixed       %s (everything outside the units, as %s)\n", qt_fmt_bytes(p.fixed_bytes, a1, sizeof a1),
                   o.base ? o.base : "stored: embeddings, lm_head, router, norms, MTP");
        printf("target      %s = %s (%.2f bpw over the planned weights)\n", target_desc,
               qt_fmt_bytes(budget, a1, sizeof a1), (budget - p.fixed_bytes) * 8 / (double)p.unit_params);
        printf("candidates  uniform size:");
        for (int k = 0; k < p.n_cand; k++) {
            if (!qt_plan_uniform_ok(&p, k)) {
                printf("  %s (not every unit)", p.cand_name[k]);
                continue;
            }
            printf("  %s %s", p.cand_name[k], qt_fmt_bytes(qt_plan_uniform_bytes(&p, k), a1, sizeof a1));
        }
        if (gguf) printf("\nggml        file type %s for the tensors not planned; importance %s", p.gguf_ftype,
                         o.calib ? o.calib : "none (--calib FILE)");
        printf("\nrange       %s .. %s\n", qt_fmt_bytes(p.min_bytes, a1, sizeof a1), qt_fmt_bytes(p.max_bytes, a2, sizeof a2));
        fflush(stdout);
    }

    if (o.dkl) {
        size_t len;
        char *txt = qt_read_file(o.dkl, &len, &err);
        if (!txt) goto fail;
        int lrc = qt_plan_load_dkl(&p, txt, len, o.dkl, &err);
        free(txt);
        if (lrc != QT_OK) goto fail;
    } else if (o.data) {
        if (c.model->metadata_only) {
            qt_err_set(&err, "plan: ΔKL needs the weights: %s is a config.json alone (the sizes above need none)",
                       o.model);
            goto fail;
        }
        char cache[4096];
        struct qt_eval_params ep = {.data_path = o.data, .ctx = (int)o.dkl_ctx, .chunks = (int)o.dkl_chunks,
                                    .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache)};
        cli_bar_init(&bar, o.json);
        if (bar.on) ep.progress = progress;
        int mrc = qt_plan_measure(&p, &ep, &err);
        cli_bar_end(&bar);
        if (mrc != QT_OK) goto fail;
        if (o.dkl_out) {
            char *tbl = qt_plan_dkl_json(&p, &err);
            int wrc = tbl ? qt_write_file_atomic(o.dkl_out, tbl, strlen(tbl), &err) : QT_ERR;
            free(tbl);
            if (wrc != QT_OK) goto fail;
        }
    } else {
        /* the size side only */
        if (o.json) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "model", o.model);
            cJSON_AddStringToObject(d, "target", target_desc);
            cJSON_AddNumberToObject(d, "target_bytes", budget);
            cJSON_AddNumberToObject(d, "fixed_bytes", p.fixed_bytes);
            cJSON_AddNumberToObject(d, "planned_params", (double)p.unit_params);
            cJSON_AddNumberToObject(d, "min_bytes", p.min_bytes);
            cJSON_AddNumberToObject(d, "max_bytes", p.max_bytes);
            cJSON_AddBoolToObject(d, "fits", budget >= p.min_bytes);
            cJSON *ua = cJSON_AddArrayToObject(d, "uniform");
            for (int k = 0; k < p.n_cand; k++) {
                if (!qt_plan_uniform_ok(&p, k)) continue;
                cJSON *x = cJSON_CreateObject();
                double b = p.fixed_bytes;
                for (int u = 0; u < p.n_units; u++) b += p.units[u].bytes[k];
                cJSON_AddStringToObject(x, "scheme", p.cand_name[k]);
                cJSON_AddNumberToObject(x, "bytes", b);
                cJSON_AddBoolToObject(x, "fits", b <= budget);
                cJSON_AddItemToArray(ua, x);
            }
            cJSON_AddStringToObject(d, "dkl", c.model->metadata_only ? "needs the weights (a config.json alone)"
                                                                      : "not measured (no --data)");
            cli_print_json(d);
        } else {
            printf("fits        %s\n", budget >= p.min_bytes ? "yes: the cheapest allocation is within the target"
                                                             : "no: below the cheapest allocation of the candidates");
            printf("ΔKL         %s\n", c.model->metadata_only
                                           ? "needs the weights: a config.json alone has none (open a checkpoint "
                                             "and give --data FILE to plan)"
                                           : "not measured: give --data FILE (a text to measure it on) or --dkl FILE");
        }
        rc = 0;
        goto done;
    }

    if (qt_plan_solve(&p, budget, 0, &sol, &err) != QT_OK) goto fail;
    if (qt_plan_curve(&p, (int)o.points, &cv, &err) != QT_OK) goto fail;
    char header[2048];
    if (gguf)
        snprintf(header, sizeof header,
                 "# Planned by qtune plan --format gguf (%s): %s, %.2f bits per weight over the planned tensors.\n"
                 "# Predicted KL %.4f (sum of single-tensor dKL %.4f x additivity %.3f), measured on %s\n"
                 "# (%d chunks of %d tokens) with ggml's quantizer, importance %s.  One ggml type per GGUF tensor;\n"
                 "# write it with: qtune quantize MODEL -r THIS --format gguf%s%s -o OUT.gguf\n",
                 target_desc, qt_fmt_bytes(sol.bytes, a1, sizeof a1), sol.bpw, pred(&p, sol.sum_dkl), sol.sum_dkl,
                 sol.sum_dkl > 0 ? pred(&p, sol.sum_dkl) / sol.sum_dkl : 1, p.data[0] ? p.data : "(table)", p.nseq,
                 p.ctx, p.gguf_calib[0] ? p.gguf_calib : "none", p.gguf_calib[0] ? " --calib " : "", p.gguf_calib);
    else
    snprintf(header, sizeof header,
             "# Planned by qtune plan (%s): %s, %.2f bits per weight over the planned weights.\n"
             "# Predicted KL %.4f (sum of single-unit dKL %.4f x additivity %.3f), measured on %s\n"
             "# (%d chunks of %d tokens).  One scheme per fused group (qkv, gate_up, routed experts)\n"
             "# and per other Linear of each layer, %s.\n",
             target_desc, qt_fmt_bytes(sol.bytes, a1, sizeof a1), sol.bpw, pred(&p, sol.sum_dkl), sol.sum_dkl, sol.sum_dkl > 0 ? pred(&p, sol.sum_dkl) / sol.sum_dkl : 1,
             p.data[0] ? p.data : "(table)", p.nseq, p.ctx,
             o.gptq ? "GPTQ (quantize with --calib)" : "round-to-nearest");
    if (qt_plan_recipe(&p, sol.choice, o.base, header, &out_r, &err) != QT_OK) goto fail;
    {
        struct qt_resolution res;
        if (qt_recipe_resolve(out_r, c.model, &res, &err) != QT_OK) goto fail;
        struct qt_lint_opts lo = {.tp = o.gpus > 0 ? (int)o.gpus : 1};
        int lrc = qt_lint_run(out_r, c.model, &res, &lo, &lint, &err);
        qt_resolution_free(&res);
        if (lrc != QT_OK) goto fail;
    }
    if (o.outp && qt_recipe_save(out_r, o.outp, &err) != QT_OK) goto fail;
    n_pre = gguf ? gguf_preset_points(&p, pre) : 0;
    for (int i = 0; i < n_pre; i++)
        if (target_ftype && qt_gguf_ftype_find(target_ftype) == qt_gguf_ftype_find(pre[i].name)) tpre = i;
    if (o.eval && gguf) {
        if (eval_gguf(&p, sol.choice, o.eval, &est, &err) != QT_OK) goto fail;
        have_eval = 1;
        if (tpre >= 0) {   /* the file type of the same size, measured the same way */
            if (eval_gguf(&p, pre[tpre].choice, o.eval, &pst, &err) != QT_OK) goto fail;
            have_peval = 1;
        }
    } else if (o.eval) {
        if (eval_choice(&p, sol.choice, c.recipe ? &c.res : NULL, o.eval, o.gptq ? &gq : NULL, &est, &err) != QT_OK) goto fail;
        have_eval = 1;
    }

    if (o.json) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "model", o.model);
        if (!gguf) cJSON_AddStringToObject(d, "format", "ct");   /* gguf: qt_plan_json says it */
        cJSON_AddStringToObject(d, "target", target_desc);
        cJSON_AddNumberToObject(d, "target_bytes", budget);
        qt_plan_json(d, &p, &sol, &cv, 0);
        cJSON *pl = cJSON_GetObjectItem(d, "plan");
        if (have_eval) {
            cJSON_AddStringToObject(pl, "eval_data", o.eval);
            cJSON_AddNumberToObject(pl, "measured_kl", est.kld_mean);
            cJSON_AddNumberToObject(pl, "measured_kl_stderr", est.kld_stderr);
            cJSON_AddNumberToObject(pl, "same_top_p", est.same_top_p);
        }
        if (have_peval) {   /* the target's file type, measured the same way */
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "ftype", pre[tpre].name);
            cJSON_AddNumberToObject(x, "bytes", pre[tpre].bytes);
            cJSON_AddNumberToObject(x, "predicted_kl", pred(&p, pre[tpre].sum_dkl));
            cJSON_AddStringToObject(x, "eval_data", o.eval);
            cJSON_AddNumberToObject(x, "measured_kl", pst.kld_mean);
            cJSON_AddNumberToObject(x, "measured_kl_stderr", pst.kld_stderr);
            cJSON_AddItemToObject(d, "target_preset", x);
        }
        cJSON *li = cJSON_AddObjectToObject(d, "lint");
        cJSON_AddNumberToObject(li, "errors", lint.n_errors);
        cJSON_AddNumberToObject(li, "warnings", lint.n_warnings);
        if (o.outp) cJSON_AddStringToObject(d, "recipe", o.outp);
        cli_print_json(d);
    } else {
        printf("ΔKL         on %s: %d chunks of %d tokens; additivity (KL of a uniform recipe / Σ of its "
               "single-unit ΔKL)", p.data[0] ? p.data : o.dkl, p.nseq, p.ctx);
        for (int k = 0; k < p.n_fit; k++) printf("%s%.2f at Σ %.4f", k ? ", " : " ", p.fit_kl[k] / p.fit_sum[k], p.fit_sum[k]);
        printf("\n\n");
        printf("plan        %s, %.3f bpw: predicted KL %.5f (Σ ΔKL %.5f x additivity %.3f; no allocation within the "
               "target has Σ below %.5f)\n",
               qt_fmt_bytes(sol.bytes, a1, sizeof a1), sol.bpw, pred(&p, sol.sum_dkl), sol.sum_dkl,
               sol.sum_dkl > 0 ? pred(&p, sol.sum_dkl) / sol.sum_dkl : 1, sol.lower_bound);
        if (have_eval)
            printf("measured    KL %.5f ± %.5f on %s (16 chunks of 512 tokens); predicted/measured %.2f\n",
                   est.kld_mean, est.kld_stderr, o.eval, est.kld_mean > 0 ? pred(&p, sol.sum_dkl) / est.kld_mean : 0);
        if (have_peval)
            printf("            %s (the same size): KL %.5f ± %.5f measured the same way, predicted %.5f; the plan is "
                   "%.0f%% lower\n", pre[tpre].name, pst.kld_mean, pst.kld_stderr, pred(&p, pre[tpre].sum_dkl),
                   pst.kld_mean > 0 ? 100 * (1 - est.kld_mean / pst.kld_mean) : 0);
        print_alloc(&p, sol.choice);
        if (n_pre) {
            printf("presets     ");
            for (int i = 0; i < n_pre; i++)
                printf("%s%s %s %.4f", i ? "; " : "", pre[i].name, qt_fmt_bytes(pre[i].bytes, a2, sizeof a2),
                       pred(&p, pre[i].sum_dkl));
            printf("\n            (llama-quantize file types: size, predicted KL)\n");
        }
        printf("uniform     ");
        for (int i = 0; i < cv.n_uniform; i++) {
            const struct qt_plan_point *u = &cv.uni[i];
            printf("%s%s %s %.4f", i ? "; " : "", p.cand_name[u->uniform], qt_fmt_bytes(u->bytes, a2, sizeof a2),
                   isfinite(p.uniform_kl[u->uniform]) ? p.uniform_kl[u->uniform] : pred(&p, u->sum_dkl));
        }
        printf("\n            (size, KL measured on the ΔKL text with every unit at that scheme)\n");
        printf("lint        %d error(s), %d warning(s)%s%s\n", lint.n_errors, lint.n_warnings,
               o.gpus > 0 ? " at --tp " : "", o.gpus > 0 ? (snprintf(a3, sizeof a3, "%ld", o.gpus), a3) : "");
        for (int i = 0; i < lint.n; i++) printf("  %s %s\n", lint.f[i].code, lint.f[i].message);
        if (o.outp) printf("recipe      %s\n", o.outp);
        print_curve(&p, &cv, &sol, pre, n_pre, o.ascii || !utf8_locale());
    }
    rc = 0;
    goto done;
fail:
    rc = cli_fail(&err);
done:
    for (int i = 0; i < n_pre; i++) free(pre[i].choice);
    qt_plan_gptq_release(&gq);
    qt_lint_free(&lint);
    qt_recipe_free(out_r);
    qt_plan_curve_free(&cv);
    qt_plan_solution_free(&sol);
    qt_plan_free(&p);
    qt_gpu_catalog_free(&cat);
    cli_recipe_close(&c);
    return rc;
}
