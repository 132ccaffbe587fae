/* cmd_report.c — `qtune report SESSION|CHECKPOINT -o FILE.html|.md|.json`:
 * gathers what a session or a checkpoint holds (recipe, variants, the
 * reports of its eval, sensitivity and quantize jobs, the deploy GPU) and
 * hands it to the engine's report writer (engine/io/report_doc.h), which
 * computes the rest and writes the page. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "cli.h"
#include "cli_recipe.h"
#include "io/report_doc.h"
#include "recipe/deploy.h"
#include "sessions/session.h"

static const char usage[] =
    "report SESSION|CHECKPOINT -o FILE.html|FILE.md|FILE.json [--gpu NAME] [--gpus FILE] [--tp N]\n"
    "       [--eval FILE] [--dkl FILE] [--model MODEL] [--no-error] [--no-plots]";
static const char help[] =
    "  One page about a recipe on a model, to attach to a pull request or send to a colleague:\n"
    "  the recipe, sizes per part, the deploy table, lint findings, eval statistics, per-layer\n"
    "  weight error and ΔKL plots and, for a session with variants, their comparison.\n"
    "  SESSION      a session of qtune ls: its current recipe and model, its variants, the\n"
    "               latest finished eval job of each recipe text, its latest sensitivity job\n"
    "               (ΔKL per layer) and quantize job, the deploy panel's GPU\n"
    "  CHECKPOINT   a directory qtune quantize wrote: its recipe.yaml on the source model named\n"
    "               in qtune-report.json (the checkpoint itself when that is gone: no weight\n"
    "               error), and qtune-eval.json beside them when present\n"
    "  -o FILE      .html: one self-contained page (inline CSS and SVG, no script, nothing\n"
    "               fetched); .md: GitHub Markdown with the plots as FILE-err.svg and\n"
    "               FILE-dkl.svg beside it; .json: the report's data\n"
    "  --gpu NAME   the deploy table's GPU (default: the session's, else H100-80G)\n"
    "  --gpus FILE  the GPU catalog (default share/gpus.yaml, or $QTUNE_GPUS)\n"
    "  --tp N       lint at tensor parallel N (default 1)\n"
    "  --eval FILE  an eval result (qtune eval --json) instead of the stored one\n"
    "  --dkl FILE   a ΔKL scan (qtune sensitivity --json) instead of the stored one\n"
    "  --model M    the model the recipe applies to (default: the session's or checkpoint's)\n"
    "  --no-error   skip the weight-error preview (it reads every quantized weight once)\n"
    "  --no-plots   Markdown without SVG files (the per-layer table stays)\n"
    "  Every file is written to a temporary name and renamed.\n";

#define MAX_VARIANTS 26

struct gather {
    struct qt_rdoc_in in;
    char title[PATH_MAX], source[PATH_MAX], model[PATH_MAX], recipe_from[256], eval_from[600], sens_from[600];
    char *recipe;
    cJSON *eval, *sens, *written;
    struct qt_rdoc_variant v[MAX_VARIANTS];
    char vname[MAX_VARIANTS][2];
    char *vtext[MAX_VARIANTS];
    cJSON *veval[MAX_VARIANTS];
    char gpu[128];
    char error_note[3300];
};

static void gather_free(struct gather *g) {
    free(g->recipe);
    cJSON_Delete(g->eval);
    cJSON_Delete(g->sens);
    cJSON_Delete(g->written);
    for (int k = 0; k < MAX_VARIANTS; k++) {
        free(g->vtext[k]);
        cJSON_Delete(g->veval[k]);
    }
}

/* A JSON file as an object; NULL with err set (a missing file: errno text). */
static cJSON *load_json(const char *path, qt_err *err) {
    char *t = qt_read_file(path, NULL, err);
    if (!t) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        qt_err_set(err, "%s: not a JSON object", path);
        return NULL;
    }
    return j;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A finished job of the session: its kind, params, frozen recipe and report. */
struct sjob {
    int id;
    char kind[32];
    cJSON *job, *report;
    char *recipe;
};

static void jobs_free(struct sjob *j, int n) {
    for (int i = 0; i < n; i++) {
        cJSON_Delete(j[i].job);
        cJSON_Delete(j[i].report);
        free(j[i].recipe);
    }
    free(j);
}

/* The session's finished jobs, oldest first (unreadable ones skipped:
 * a report is made from what is there). */
static int session_jobs(const struct qt_session *s, struct sjob **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    int *ids = NULL, n = 0;
    qt_err err;
    if (qt_session_job_ids(s, &ids, &n, &err) != QT_OK) return 0;
    struct sjob *js = calloc((size_t)n + 1, sizeof *js);
    if (!js) { free(ids); return 0; }
    int k = 0;
    for (int i = 0; i < n; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "jobs/%d/job.json", ids[i]);
        char *t = qt_session_read(s, rel, NULL, &err);
        cJSON *j = t ? cJSON_Parse(t) : NULL;
        free(t);
        if (!cJSON_IsObject(j) || strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")) ?: "", "done")) {
            cJSON_Delete(j);
            continue;
        }
        snprintf(rel, sizeof rel, "jobs/%d/report.json", ids[i]);
        t = qt_session_read(s, rel, NULL, &err);
        cJSON *r = t ? cJSON_Parse(t) : NULL;
        free(t);
        if (!cJSON_IsObject(r)) { cJSON_Delete(j); cJSON_Delete(r); continue; }
        snprintf(rel, sizeof rel, "jobs/%d/recipe.yaml", ids[i]);
        js[k].recipe = qt_session_read(s, rel, NULL, &err);
        js[k].id = ids[i];
        snprintf(js[k].kind, sizeof js[k].kind, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")) ?: "");
        js[k].job = j;
        js[k].report = r;
        k++;
    }
    free(ids);
    *out = js;
    *n_out = k;
    return 0;
}

/* "job 3 (data calib.txt, ctx 512 x 4 chunks)" */
static void job_from(const struct sjob *j, char *buf, size_t n) {
    const cJSON *p = cJSON_GetObjectItem(j->job, "params");
    const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(p, "data"));
    const char *base = data ? strrchr(data, '/') : NULL;
    const cJSON *ctx = cJSON_GetObjectItem(j->report, "ctx"), *ch = cJSON_GetObjectItem(j->report, "chunks");
    if (!cJSON_IsNumber(ctx)) ctx = cJSON_GetObjectItem(p, "ctx");
    if (!cJSON_IsNumber(ch)) ch = cJSON_GetObjectItem(p, "chunks");
    int l = snprintf(buf, n, "%s job %d", j->kind, j->id);
    if (data && l >= 0 && (size_t)l < n) l += snprintf(buf + l, n - (size_t)l, " (data %s", base ? base + 1 : data);
    if (data && cJSON_IsNumber(ctx) && l >= 0 && (size_t)l < n)
        l += snprintf(buf + l, n - (size_t)l, ", ctx %d", ctx->valueint);
    if (data && cJSON_IsNumber(ch) && l >= 0 && (size_t)l < n)
        l += snprintf(buf + l, n - (size_t)l, " x %d chunks", ch->valueint);
    if (data && l >= 0 && (size_t)l < n) snprintf(buf + l, n - (size_t)l, ")");
}

/* The newest finished job of kind whose frozen recipe is text (NULL text:
 * any recipe). */
static const struct sjob *latest(const struct sjob *js, int n, const char *kind, const char *text) {
    for (int i = n - 1; i >= 0; i--) {
        if (strcmp(js[i].kind, kind)) continue;
        if (text && (!js[i].recipe || strcmp(js[i].recipe, text))) continue;
        return &js[i];
    }
    return NULL;
}

static int gather_session(const char *name, struct gather *g, qt_err *err) {
    struct qt_session *s = NULL;
    if (qt_session_open(name, 0, &s, err) != QT_OK) return QT_ERR;
    int rc = QT_ERR;
    struct sjob *js = NULL;
    int nj = 0;
    if (!s->model) { qt_err_set(err, "report: session %s has no model yet (open one with qtune MODEL -s %s)", name, name); goto done; }
    snprintf(g->title, sizeof g->title, "%s", name);
    snprintf(g->source, sizeof g->source, "%s", s->dir);
    snprintf(g->model, sizeof g->model, "%s", s->model);
    g->recipe = qt_session_recipe(s, err);
    if (!g->recipe) goto done;
    snprintf(g->recipe_from, sizeof g->recipe_from, "session %s, recipe version %d", name, s->hist_cur);
    char *st = qt_session_settings(s, err);
    cJSON *sj = st ? cJSON_Parse(st) : NULL;
    free(st);
    const char *gpu = cJSON_GetStringValue(cJSON_GetObjectItem(sj, "gpu"));
    if (gpu) snprintf(g->gpu, sizeof g->gpu, "%s", gpu);
    cJSON_Delete(sj);
    session_jobs(s, &js, &nj);
    const struct sjob *j = latest(js, nj, "eval", g->recipe);
    if (j) {
        g->eval = cJSON_Duplicate(j->report, 1);
        job_from(j, g->eval_from, sizeof g->eval_from);
    }
    if (!(j = latest(js, nj, "sensitivity", g->recipe))) j = latest(js, nj, "sensitivity", NULL);
    if (j) {
        g->sens = cJSON_Duplicate(j->report, 1);
        job_from(j, g->sens_from, sizeof g->sens_from);
        if (j->recipe && strcmp(j->recipe, g->recipe)) {
            size_t l = strlen(g->sens_from);
            snprintf(g->sens_from + l, sizeof g->sens_from - l, ", run on an earlier recipe");
        }
    }
    if ((j = latest(js, nj, "quantize", g->recipe))) g->written = cJSON_Duplicate(j->report, 1);
    char slots[32];
    int ns = qt_session_variant_slots(s, slots, sizeof slots);
    for (int k = 0; k < ns && g->in.n_variants < MAX_VARIANTS; k++) {
        qt_err e2 = {{0}};
        char *t = qt_session_variant_get(s, slots[k], &e2);
        if (!t) continue;
        int i = g->in.n_variants++;
        g->vname[i][0] = slots[k];
        g->vtext[i] = t;
        const struct sjob *ve = latest(js, nj, "eval", t);
        g->veval[i] = ve ? cJSON_Duplicate(ve->report, 1) : NULL;
        g->v[i] = (struct qt_rdoc_variant){g->vname[i], t, g->veval[i]};
    }
    rc = QT_OK;
done:
    jobs_free(js, nj);
    qt_session_free(s);
    return rc;
}

static int gather_checkpoint(const char *dir, struct gather *g, qt_err *err) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/config.json", dir);
    struct stat st;
    if (stat(p, &st) != 0) return qt_err_set(err, "report: %s: not a checkpoint (no config.json)", dir);
    snprintf(g->title, sizeof g->title, "%s", dir);
    size_t l = strlen(g->title);
    while (l > 1 && g->title[l - 1] == '/') g->title[--l] = 0;
    const char *base = strrchr(g->title, '/');
    if (base && base[1]) memmove(g->title, base + 1, strlen(base + 1) + 1);
    snprintf(g->source, sizeof g->source, "%s", dir);
    snprintf(g->model, sizeof g->model, "%s", dir);
    snprintf(p, sizeof p, "%s/recipe.yaml", dir);
    qt_err e2;
    g->recipe = qt_read_file(p, NULL, &e2);
    if (g->recipe) snprintf(g->recipe_from, sizeof g->recipe_from, "the checkpoint's recipe.yaml");
    snprintf(p, sizeof p, "%s/qtune-report.json", dir);
    g->written = load_json(p, &e2);
    /* the source model gives the weight error; the checkpoint alone gives sizes */
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItem(g->written, "model"));
    char cfg[PATH_MAX + 32];
    if (src) snprintf(cfg, sizeof cfg, "%s/config.json", src);
    if (src && g->recipe && stat(cfg, &st) == 0) snprintf(g->model, sizeof g->model, "%s", src);
    else if (g->recipe) {
        /* the quantized weights against themselves would say 0 %: no error figures */
        g->in.no_error = 1;
        snprintf(g->error_note, sizeof g->error_note,
                 "no weight error: the source model%s%.3000s%s is not there (sizes from the checkpoint; --model names it)",
                 src ? " " : "", src ? src : "", src ? "" : " (qtune-report.json names none)");
    }
    if (g->written && !cJSON_GetObjectItem(g->written, "out"))
        cJSON_AddStringToObject(g->written, "out", dir);
    snprintf(p, sizeof p, "%s/qtune-eval.json", dir);
    if ((g->eval = load_json(p, &e2))) snprintf(g->eval_from, sizeof g->eval_from, "the checkpoint's qtune-eval.json");
    return QT_OK;
}

int qt_cmd_report(int argc, char **argv) {
    const char *what = NULL, *out = NULL, *gpu = NULL, *gpus = NULL, *evalf = NULL, *dklf = NULL, *model = NULL;
    long tp = 1;
    int no_error = 0, no_plots = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) { printf("usage: qtune %s\n%s", usage, help); return 0; }
        if (!strcmp(a, "--no-error")) { no_error = 1; continue; }
        if (!strcmp(a, "--no-plots")) { no_plots = 1; continue; }
        if (a[0] != '-' || !a[1]) {
            if (what) return cli_usage("report", usage);
            what = a;
            continue;
        }
        if (!v) return cli_failf("report: %s: missing value", a);
        if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--gpu")) gpu = v;
        else if (!strcmp(a, "--gpus")) gpus = v;
        else if (!strcmp(a, "--eval")) evalf = v;
        else if (!strcmp(a, "--dkl")) dklf = v;
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--tp")) {
            int rc = cli_parse_int("--tp", v, 1, 64, &tp);
            if (rc) return rc;
        } else return cli_failf("report: unknown option %s (usage: qtune %s)", a, usage);
        i++;
    }
    if (!what || !out) return cli_usage("report", usage);
    if (qt_rdoc_format_of(out) < 0) return cli_failf("report: %s: unknown format (use .html, .md or .json)", out);
    qt_err err = {{0}};
    struct gather *g = calloc(1, sizeof *g);
    if (!g) return cli_failf("report: out of memory");
    int rc = 1;
    struct qt_gpu_catalog cat = {0};
    cJSON *doc = NULL;
    /* a path (it has a slash, or no session has that name) is a checkpoint */
    int as_session = !strchr(what, '/') && qt_session_name_ok(what);
    if (as_session) {
        struct qt_session *s = NULL;
        qt_err e2;
        if (qt_session_open(what, 0, &s, &e2) != QT_OK) as_session = 0;
        qt_session_free(s);
        if (!as_session && !is_dir(what)) {
            rc = cli_failf("report: %s: no such session or checkpoint directory (qtune ls lists sessions)", what);
            goto done;
        }
    }
    if (!as_session && !is_dir(what)) {
        rc = cli_failf("report: %s: not a checkpoint directory", what);
        goto done;
    }
    if ((as_session ? gather_session(what, g, &err) : gather_checkpoint(what, g, &err)) != QT_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (model) snprintf(g->model, sizeof g->model, "%s", model);
    if (evalf) {
        cJSON_Delete(g->eval);
        if (!(g->eval = load_json(evalf, &err))) { rc = cli_fail(&err); goto done; }
        snprintf(g->eval_from, sizeof g->eval_from, "%s", evalf);
    }
    if (dklf) {
        cJSON_Delete(g->sens);
        if (!(g->sens = load_json(dklf, &err))) { rc = cli_fail(&err); goto done; }
        if (!cJSON_IsArray(cJSON_GetObjectItem(g->sens, "units"))) {
            rc = cli_failf("report: %s: no \"units\" (expected qtune sensitivity --json)", dklf);
            goto done;
        }
        snprintf(g->sens_from, sizeof g->sens_from, "%s", dklf);
    }
    if (qt_gpu_catalog_load_default(gpus, &cat, &err) != QT_OK) { rc = cli_fail(&err); goto done; }
    const char *gname = gpu ? gpu : g->gpu[0] ? g->gpu : "H100-80G";
    const struct qt_gpu *gp = qt_gpu_find(&cat, gname);
    if (!gp) {
        rc = cli_failf("report: --gpu %s: not in the catalog (qtune deploy --help)", gname);
        goto done;
    }
    g->in.title = g->title;
    g->in.kind = as_session ? "session" : "checkpoint";
    g->in.source = g->source;
    g->in.model = g->model;
    g->in.recipe_text = g->recipe;
    g->in.recipe_from = g->recipe_from;
    g->in.eval = g->eval;
    g->in.eval_from = g->eval_from;
    g->in.sens = g->sens;
    g->in.sens_from = g->sens_from;
    g->in.written = g->written;
    g->in.variants = g->v;
    g->in.gpu = gp;
    g->in.tp = (int)tp;
    if (model) g->in.no_error = 0;   /* --model: the source is back */
    g->in.no_error |= no_error;
    if (g->error_note[0] && g->in.no_error && !no_error) g->in.error_note = g->error_note;
    if (qt_rdoc_build(&g->in, &doc, &err) != QT_OK) {
        qt_err_prefix(&err, "report");
        rc = cli_fail(&err);
        goto done;
    }
    char files[3][4096];
    int nf = 0;
    if (qt_rdoc_write(doc, out, !no_plots, files, &nf, &err) != QT_OK) { rc = cli_fail(&err); goto done; }
    for (int k = 0; k < nf; k++) printf("wrote %s\n", files[k]);
    rc = 0;
done:
    cJSON_Delete(doc);
    qt_gpu_catalog_free(&cat);
    gather_free(g);
    free(g);
    return rc;
}
