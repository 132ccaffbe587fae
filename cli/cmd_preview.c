/* cmd_preview.c — `qtune preview MODEL (--scheme S | -r RECIPE) [--filter RE]
 * [--json]`: the weight error of every quantizable Linear weight under one
 * scheme or as a recipe resolves it, the kept tensors alongside, and totals
 * with bits per weight.  Recipe algorithms qtune does not run yet (GPTQ, AWQ)
 * are previewed as round-to-nearest and labelled so.  Tensors a
 * SparseGPTModifier prunes get the error of magnitude pruning in its
 * structure beside their quantization error (an estimate: SparseGPT's
 * updates recover part of it), so a 2:4 recipe shows where its error is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "algo/sparsegpt.h"
#include "eval/calib.h"
#include "base/format.h"
#include "cli.h"
#include "eval/eval.h"
#include "model/match.h"
#include "model/model.h"
#include "eval/preview.h"
#include "recipe/recipe.h"
#include "quant/scheme.h"

static const char usage[] = "preview MODEL (--scheme S | -r RECIPE) [--calib FILE] [--filter RE] [--json]";

/* Marks in sel (n_tensors) the tensors whose name the regex finds. */
static int filter_select(const struct qt_model *m, const char *re, unsigned char *sel) {
    struct qt_name_filter *f;
    qt_err err;
    if (qt_name_filter_open(re, &f, &err) != QT_OK) return cli_failf("preview: --filter %s: %s", re, err.msg);
    for (int i = 0; i < m->n_tensors; i++) sel[i] = qt_name_filter_match(f, m->tensors[i].name);
    qt_name_filter_free(f);
    return 0;
}

/* Magnitude-pruning estimates per tensor (n_tensors), NAN when no
 * SparseGPTModifier prunes it; NULL without a recipe. */
struct sparse_est {
    double *rel, *rel_out;      /* (n_tensors) */
    char mask[16];              /* "2:4", or "" for unstructured */
    double sparsity;
};

static void add_num_or_null(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* With a recipe (res not NULL): the algorithm that chose tensor ti's scheme
 * and the one the preview ran, e.g. "GPTQ" / "RTN"; NULL when kept. */
static const char *algo_of(const struct qt_resolution *res, int ti, const char **ran) {
    if (!res || !res->t[ti].quantized) return NULL;
    *ran = qt_algo_name(res->t[ti].preview_algo);
    return qt_algo_name(res->t[ti].algo);
}

static cJSON *to_json(const struct qt_model *m, const struct qt_scheme *s,
                      const struct qt_preview_row *rows, int n, const struct qt_preview_total *tot,
                      const char *recipe, const struct qt_resolution *res, const struct sparse_est *se) {
    char buf[QT_SCHEME_STR_MAX];
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "model", m->path);
    if (recipe) cJSON_AddStringToObject(doc, "recipe", recipe);
    if (recipe) cJSON_AddNullToObject(doc, "scheme");
    else cJSON_AddStringToObject(doc, "scheme", qt_scheme_format(s, buf, sizeof buf));
    const char *preset = recipe ? NULL : qt_scheme_preset_name(s);
    if (preset) cJSON_AddStringToObject(doc, "preset", preset);
    else cJSON_AddNullToObject(doc, "preset");
    cJSON *arr = cJSON_AddArrayToObject(doc, "tensors");
    for (int i = 0; i < n; i++) {
        const struct qt_preview_row *r = &rows[i];
        const struct qt_tensor *t = &m->tensors[r->tensor];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "role", qt_role_name(t->role));
        cJSON_AddStringToObject(o, "scheme", qt_scheme_format(&r->scheme, buf, sizeof buf));
        int q = !qt_scheme_is_kept(&r->scheme);
        cJSON_AddBoolToObject(o, "quantized", q);
        cJSON_AddNumberToObject(o, "params", (double)r->params);
        if (r->no_weights) {
            cJSON_AddNullToObject(o, "rel_rmse");
            cJSON_AddNullToObject(o, "sqnr_db");
            cJSON_AddNullToObject(o, "max_abs");
        } else {
            cJSON_AddNumberToObject(o, "rel_rmse", q ? qt_qstats_rel_rmse(&r->st) : 0.0);
            if (q) add_num_or_null(o, "sqnr_db", qt_qstats_sqnr_db(&r->st));
            else cJSON_AddNullToObject(o, "sqnr_db");
            cJSON_AddNumberToObject(o, "max_abs", q ? r->st.max_abs : 0.0);
        }
        cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
        if (q && r->st.dw2 > 0) cJSON_AddNumberToObject(o, "rel_out", qt_qstats_rel_out(&r->st));
        if (r->failed) cJSON_AddStringToObject(o, "error", r->error);
        const char *ran = NULL, *algo = algo_of(res, r->tensor, &ran);
        if (algo) {
            cJSON_AddStringToObject(o, "algo", algo);
            cJSON_AddStringToObject(o, "preview_algo", ran);
        }
        if (se && !isnan(se->rel[r->tensor])) {
            cJSON *sp = cJSON_AddObjectToObject(o, "sparsegpt");
            if (se->mask[0]) cJSON_AddStringToObject(sp, "mask_structure", se->mask);
            else cJSON_AddNumberToObject(sp, "sparsity", se->sparsity);
            cJSON_AddNumberToObject(sp, "magnitude_rel_rmse", se->rel[r->tensor]);
            if (!isnan(se->rel_out[r->tensor])) cJSON_AddNumberToObject(sp, "magnitude_rel_out", se->rel_out[r->tensor]);
        }
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *t = cJSON_AddObjectToObject(doc, "total");
    cJSON_AddNumberToObject(t, "params", (double)tot->params);
    cJSON_AddNumberToObject(t, "bytes", (double)tot->bytes);
    cJSON_AddNumberToObject(t, "bpw", tot->bpw);
    if (tot->no_weights) cJSON_AddNullToObject(t, "rel_rmse");
    else cJSON_AddNumberToObject(t, "rel_rmse", qt_qstats_rel_rmse(&tot->st));
    cJSON_AddNumberToObject(t, "quantized", (double)tot->n_quantized);
    cJSON_AddNumberToObject(t, "kept", (double)tot->n_kept);
    return doc;
}

static void fmt_count(char *b, size_t n, double v) {
    if (v >= 1e9) snprintf(b, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(b, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(b, n, "%.1fK", v / 1e3);
    else snprintf(b, n, "%.0f", v);
}

static void print_text(const struct qt_model *m, const struct qt_scheme *s,
                       const struct qt_preview_row *rows, int n, const struct qt_preview_total *tot,
                       int with_out, const char *recipe, const struct qt_resolution *res,
                       const struct sparse_est *se) {
    char sc[QT_SCHEME_STR_MAX], p[32], b[32];
    if (recipe) {
        printf("model   %s\nrecipe  %s (%d tensors quantized)\n\n", m->path, recipe, res->n_quantized);
    } else {
        const char *preset = qt_scheme_preset_name(s);
        printf("model   %s\nscheme  %s%s%s%s\n\n", m->path, qt_scheme_format(s, sc, sizeof sc),
               preset ? " (" : "", preset ? preset : "", preset ? ")" : "");
    }
    printf("%-52s %-16s %8s %9s %10s %8s %10s%s\n", "tensor", "scheme", "params", "bytes", "rel_rmse",
           "sqnr_db", "max_abs", with_out ? "    rel_out" : "");
    for (int i = 0; i < n; i++) {
        const struct qt_preview_row *r = &rows[i];
        const struct qt_tensor *t = &m->tensors[r->tensor];
        fmt_count(p, sizeof p, (double)r->params);
        qt_fmt_bytes((double)r->bytes, b, sizeof b);   /* bytes in KiB/MiB/GiB, as everywhere */
        qt_scheme_format(&r->scheme, sc, sizeof sc);
        if (r->no_weights)
            printf("%-52s %-16s %8s %9s %10s\n", t->name, sc, p, b, "no data");
        else if (qt_scheme_is_kept(&r->scheme))
            printf("%-52s %-16s %8s %9s %10s %8s %10s%s%s\n", t->name, sc, p, b, "kept", "", "",
                   r->failed ? "  " : "", r->failed ? r->error : "");
        else
        {
            printf("%-52s %-16s %8s %9s %10.6f %8.2f %10.3g", t->name, sc, p, b,
                   qt_qstats_rel_rmse(&r->st), qt_qstats_sqnr_db(&r->st), r->st.max_abs);
            if (with_out && r->st.dw2 > 0) printf(" %10.6f", qt_qstats_rel_out(&r->st));
            else if (with_out) printf(" %10s", "-");
            const char *ran = NULL, *algo = algo_of(res, r->tensor, &ran);
            if (algo && strcmp(algo, ran)) printf("  %s, previewed as %s", algo, ran);
            putchar('\n');
        }
        if (se && !isnan(se->rel[r->tensor])) {
            printf("%-52s %-16s %8s %9s %10.6f", "", se->mask[0] ? se->mask : "pruned", "", "+ pruning", se->rel[r->tensor]);
            if (with_out && !isnan(se->rel_out[r->tensor])) printf(" %8s %10s %10.6f", "", "", se->rel_out[r->tensor]);
            printf("  SparseGPT, estimated by magnitude\n");
        }
    }
    fmt_count(p, sizeof p, (double)tot->params);
    qt_fmt_bytes((double)tot->bytes, b, sizeof b);
    printf("\ntotal   %lld tensors quantized, %lld kept; quantizable weights: %s params, %s, "
           "%.3f bpw", (long long)tot->n_quantized, (long long)tot->n_kept, p, b, tot->bpw);
    if (tot->no_weights) printf(" (config only: no error figures)\n");
    else printf("; rel_rmse %.6f\n", qt_qstats_rel_rmse(&tot->st));
    if (se) {
        /* the pruning's error against the quantization's, over the pruned tensors */
        double e = 0, q = 0;
        int k = 0;
        for (int i = 0; i < n; i++) {
            const struct qt_preview_row *r = &rows[i];
            if (isnan(se->rel[r->tensor])) continue;
            k++;
            e += se->rel[r->tensor] * se->rel[r->tensor];
            if (!qt_scheme_is_kept(&r->scheme) && !r->no_weights) q += qt_qstats_rel_rmse(&r->st) * qt_qstats_rel_rmse(&r->st);
        }
        if (k) {
            char what[48];
            if (se->mask[0]) snprintf(what, sizeof what, "%s", se->mask);
            else snprintf(what, sizeof what, "%.0f%% unstructured", 100 * se->sparsity);
            printf("sparse  SparseGPT %s on %d tensors: pruning rel_rmse %.4f (magnitude estimate) against the "
                   "quantization's %.4f%s; written dense, vLLM runs it no faster (QT017)\n", what, k, sqrt(e / k),
                   sqrt(q / k), e > q ? ": the pruning costs most of the error" : "");
        }
    }
}

int qt_cmd_preview(int argc, char **argv) {
    const char *model = NULL, *scheme = NULL, *filter = NULL, *calib = NULL, *recipe = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf("usage: qtune %s\n  weight error of every quantizable Linear weight under a scheme\n"
                   "  S: a scheme (int4-g128-sym, fp8-ch, nvfp4 ...) or a preset (W4A16, FP8_DYNAMIC ...)\n",
                   usage);
            return 0;
        }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--scheme") || !strcmp(a, "--filter") || !strcmp(a, "--calib") ||
                 !strcmp(a, "-r") || !strcmp(a, "--recipe")) {
            if (i + 1 >= argc) return cli_usage("preview", usage);
            if (!strcmp(a, "--scheme")) scheme = argv[++i];
            else if (a[1] == 'r' || !strcmp(a, "--recipe")) recipe = argv[++i];
            else if (!strcmp(a, "--calib")) calib = argv[++i];
            else filter = argv[++i];
        } else if (a[0] == '-') return cli_failf("preview: unknown option %s (usage: qtune %s)", a, usage);
        else if (!model) model = a;
        else return cli_usage("preview", usage);
    }
    if (!model || !scheme == !recipe) return cli_usage("preview", usage);
    qt_err err = {{0}};
    struct qt_scheme s;
    if (qt_scheme_parse(scheme ? scheme : "bf16", &s, &err) != QT_OK) return cli_failf("preview: %s", err.msg);
    struct qt_model *m = NULL;
    if (qt_model_open(model, &m, &err) != QT_OK) return cli_fail(&err);
    int rc = 1;
    struct qt_scheme *per = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *per);
    unsigned char *sel = filter ? calloc((size_t)(m->n_tensors ? m->n_tensors : 1), 1) : NULL;
    struct qt_preview_cache *cache = qt_preview_cache_new();
    struct qt_preview_row *rows = NULL;
    int n = 0;
    struct qt_preview_total tot;
    struct qt_calib *cal = NULL;
    float **d = NULL;
    struct qt_recipe *rec = NULL;
    struct qt_resolution res = {0};
    if (!per || (filter && !sel) || !cache) { rc = cli_failf("preview: out of memory"); goto out; }
    if (recipe && (qt_recipe_load(recipe, &rec, &err) != QT_OK || qt_recipe_resolve(rec, m, &res, &err) != QT_OK)) {
        rc = cli_fail(&err);
        goto out;
    }
    for (int i = 0; i < m->n_tensors; i++) per[i] = s;
    if (filter && filter_select(m, filter, sel) != 0) goto out;
    if (calib) {
        /* importance vectors E[x_j^2] from one forward over the text, cached */
        char dir[4096];
        struct qt_calib_params cp = {.calib_path = calib, .cache_dir = qt_eval_default_cache_dir(dir, sizeof dir)};
        if (qt_calib_run(m, &cp, &cal, &err) != QT_OK) { rc = cli_failf("preview: --calib: %s", err.msg); goto out; }
        if (!(d = qt_calib_importance_all(cal, m))) { rc = cli_failf("preview: out of memory"); goto out; }
        if (!json)
            fprintf(stderr, "calibration: %lld tokens%s; %d of %d Linears got no token\n", (long long)cal->tokens,
                    cal->from_cache ? " (cached)" : "", cal->n_unseen, cal->n_linear);
    }
    /* a recipe is previewed exactly as it resolves (lm_head too when it is
     * targeted), a bare scheme on its targets (qt_preview_scheme_target) */
    if ((rec ? qt_preview_run_resolved(m, &res, sel, (const float *const *)d, cache, &rows, &n, &tot, &err)
             : qt_preview_run(m, per, sel, (const float *const *)d, cache, &rows, &n, &tot, &err)) != QT_OK) {
        rc = cli_failf("preview: %s", err.msg);
        goto out;
    }
    /* SparseGPT's pruning, estimated per pruned tensor */
    struct sparse_est se = {0};
    int any_sparse = 0;
    for (int i = 0; rec && i < m->n_tensors; i++) any_sparse |= res.t[i].sparse && res.t[i].sparse_mod >= 0;
    if (any_sparse && !m->metadata_only) {
        se.rel = malloc(sizeof(double) * (size_t)m->n_tensors);
        se.rel_out = malloc(sizeof(double) * (size_t)m->n_tensors);
        if (!se.rel || !se.rel_out) { rc = cli_failf("preview: out of memory"); free(se.rel); free(se.rel_out); goto out; }
        for (int i = 0; i < m->n_tensors; i++) se.rel[i] = se.rel_out[i] = NAN;
        for (int k = 0; k < n; k++) {
            int ti = rows[k].tensor;
            const struct qt_resolved *rv = &res.t[ti];
            if (!rv->sparse || rv->sparse_mod < 0 || m->tensors[ti].ndim != 2) continue;
            struct qt_sgpt_args sa;
            if (qt_sgpt_args_from(&rec->mods[rv->sparse_mod], &sa, &err) != QT_OK ||
                qt_sgpt_preview(m, ti, &sa, d ? d[ti] : NULL, &se.rel[ti], &se.rel_out[ti], &err) != QT_OK) {
                rc = cli_failf("preview: %s", err.msg);
                free(se.rel);
                free(se.rel_out);
                goto out;
            }
            snprintf(se.mask, sizeof se.mask, "%s", rec->mods[rv->sparse_mod].mask);
            se.sparsity = sa.sparsity;
        }
    }
    const struct sparse_est *sep = se.rel ? &se : NULL;
    if (json) {
        cJSON *doc = to_json(m, &s, rows, n, &tot, recipe, rec ? &res : NULL, sep);
        if (cal) {
            /* what the importance vectors rest on, and the Linears they miss */
            cJSON *c = cJSON_AddObjectToObject(doc, "calibration");
            cJSON_AddStringToObject(c, "file", calib);
            cJSON_AddNumberToObject(c, "tokens", (double)cal->tokens);
            cJSON_AddBoolToObject(c, "cached", cal->from_cache);
            cJSON_AddNumberToObject(c, "linears", cal->n_linear);
            cJSON *u = cJSON_AddArrayToObject(c, "unseen");
            for (int i = 0; i < cal->n_unseen; i++)
                cJSON_AddItemToArray(u, cJSON_CreateString(m->tensors[cal->unseen[i]].name));
        }
        cli_print_json(doc);
    }
    else print_text(m, &s, rows, n, &tot, d != NULL, recipe, rec ? &res : NULL, sep);
    free(se.rel);
    free(se.rel_out);
    rc = 0;
out:
    qt_resolution_free(&res);
    qt_recipe_free(rec);
    qt_calib_importance_free(d, m->n_tensors);
    qt_calib_free(cal);
    free(rows);
    free(per);
    free(sel);
    qt_preview_cache_free(cache);
    qt_model_free(m);
    return rc;
}
