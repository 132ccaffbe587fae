/* report_doc.h — the document `qtune report` writes: one page a user
 * attaches to a pull request or sends to a colleague, about a recipe on a
 * model — the recipe, sizes, the deploy table, lint, eval statistics,
 * per-layer weight error and ΔKL plots and the comparison of variants.
 *
 * Two steps, so that the rendering is a pure function the tests drive
 * without a model:
 *   qt_rdoc_build   opens the model, resolves, lints, estimates, previews
 *                   and collects everything into one cJSON document (the
 *                   data model; `-o FILE.json` writes it as it is);
 *   qt_rdoc_render  turns that document into HTML (self-contained: inline
 *                   CSS and SVG, no script, nothing fetched) or GitHub
 *                   Markdown (tables; the plots as SVG files beside it);
 *   qt_rdoc_write   renders by the file's extension and writes every file
 *                   to a temporary name and renames it.
 * The engine never prints; every failure is a qt_err. */
#ifndef QT_REPORT_DOC_H
#define QT_REPORT_DOC_H
#include <cJSON.h>

#include "base/qt.h"
#include "recipe/deploy.h"

/* A stored variant (a session's variants/X.yaml) and the report of the
 * eval job run on exactly its text (NULL when none finished). */
struct qt_rdoc_variant {
    const char *name;             /* "A" */
    const char *text;             /* recipe YAML */
    const cJSON *eval;            /* qt_eval_json fields, or NULL */
};

struct qt_rdoc_in {
    const char *title;            /* the session's name or the checkpoint's directory */
    const char *kind;             /* "session" | "checkpoint" */
    const char *source;           /* the session directory / checkpoint path, for the header */
    const char *model;            /* the model the recipe applies to (opened here) */
    const char *recipe_text;      /* the recipe (YAML), NULL or "": the model as stored */
    const char *recipe_from;      /* where it came from ("session recipe, version 7") */
    const cJSON *eval;            /* an eval report of this recipe (qt_eval_json), or NULL */
    const char *eval_from;        /* "job 3 (data calib.txt, ctx 512 x 4)" */
    const cJSON *sens;            /* a sensitivity report (qt_sens_json: units[{layer, dkl}]), or NULL */
    const char *sens_from;
    const cJSON *written;         /* qtune-report.json / the quantize job's report, or NULL */
    int n_variants;
    const struct qt_rdoc_variant *variants;   /* (n_variants) */
    const struct qt_gpu *gpu;     /* the deploy table's GPU (required) */
    int tp;                       /* lint's tensor-parallel size (0: 1) */
    int no_error;                 /* 1: skip the weight-error preview (sizes only) */
    const char *error_note;       /* why there is no weight error, when the caller knows
                                     better than "--no-error" (NULL: the default) */
};

/* Builds the report document of in (the caller frees *out with
 * cJSON_Delete).  Opens in->model, resolves the recipe and every variant
 * against it, lints at in->tp, estimates serving on in->gpu and, unless
 * in->no_error or the model is metadata only, previews the weight error of
 * every quantized tensor (per layer and per variant).  The eval, sensitivity
 * and written reports are copied in as given.  Fails with err naming the
 * model or recipe that did not open. */
int qt_rdoc_build(const struct qt_rdoc_in *in, cJSON **out, qt_err *err);

enum qt_rdoc_format { QT_RDOC_HTML, QT_RDOC_MD, QT_RDOC_JSON };

/* The format a path's extension names: .html/.htm, .md/.markdown, .json;
 * -1 for anything else. */
int qt_rdoc_format_of(const char *path);

/* The per-layer plots a document has, in order ("err", "dkl"); returns how
 * many (0..2) and fills names. */
int qt_rdoc_plots(const cJSON *doc, const char *names[2]);

/* One plot as a standalone SVG document (xmlns set), name from
 * qt_rdoc_plots; NULL when the document has no such plot.  Caller frees. */
char *qt_rdoc_svg(const cJSON *doc, const char *name);

/* The document as text in fmt; caller frees.  Markdown links plot NAME as
 * the file "<stem>-NAME.svg" beside it (svg_stem: the output's base name
 * without extension; NULL: the plots are left out with a note).  NULL only
 * when out of memory. */
char *qt_rdoc_render(const cJSON *doc, enum qt_rdoc_format fmt, const char *svg_stem);

/* Writes doc to path in the format of its extension; for Markdown also
 * "<path without .md>-err.svg" / "-dkl.svg" beside it (with_plots 0: none,
 * and the page says so).  Every file goes to a temporary name first and is
 * renamed.  *n_files / files[] (may be NULL) get the paths written (at most
 * 3, each of PATH_MAX); fails on an unknown extension or a write error. */
int qt_rdoc_write(const cJSON *doc, const char *path, int with_plots, char files[][4096], int *n_files,
                  qt_err *err);

#endif
