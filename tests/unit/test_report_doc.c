/* test_report_doc.c — `qtune report`'s document (engine/io/report_doc.h):
 * what qt_rdoc_build computes on the tiny model (sizes that add up to the
 * deploy estimate, per-layer error, ΔKL per layer from a scan, the variants'
 * differences folded by expert) and what the renderers make of a document
 * (escaping, tables, inline SVG without script or network in HTML, GitHub
 * Markdown with linked SVG files), written through temporary names. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/qt.h"
#include "io/report_doc.h"
#include "recipe/deploy.h"
#include "tu.h"

static const char *W4 =
    "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      targets: [Linear]\n"
    "      ignore: [lm_head, 're:model\\.layers\\.4\\.']\n      scheme: W4A16\n";
/* B: layer 2's experts at int8, everything else as W4 */
static const char *W4_L2_INT8 =
    "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      config_groups:\n"
    "        all:\n          targets: [Linear]\n          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 128}\n"
    "        l2:\n          targets: ['re:model\\.layers\\.2\\.mlp\\.experts\\..*']\n"
    "          weights: {num_bits: 8, type: int, symmetric: true, strategy: group, group_size: 128}\n"
    "      ignore: [lm_head, 're:model\\.layers\\.4\\.']\n";

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

struct fixture {
    struct qt_gpu_catalog cat;
    cJSON *sens, *eval;
};

static int fixture_init(struct fixture *f) {
    qt_err err = {{0}};
    memset(f, 0, sizeof *f);
    if (qt_gpu_catalog_load(tu_path("share/gpus.yaml"), &f->cat, &err) != QT_OK) return -1;
    /* a scan as qtune sensitivity --json gives it: two units of layer 1, one of 3 */
    f->sens = cJSON_Parse("{\"scheme\":\"W4A16\",\"units\":[{\"name\":\"model.layers.1.self_attn\",\"layer\":1,\"dkl\":0.01},"
                          "{\"name\":\"model.layers.1.mlp.experts\",\"layer\":1,\"dkl\":0.02},"
                          "{\"name\":\"model.layers.3.mlp\",\"layer\":3,\"dkl\":0.005},"
                          "{\"name\":\"lm_head\",\"layer\":-1,\"dkl\":0.5}],\"sum_dkl\":0.535}");
    f->eval = cJSON_Parse("{\"kld\":{\"mean\":0.0533,\"stderr\":0.0063,\"median\":0.029,\"p90\":0.13,\"p99\":0.31,"
                          "\"p999\":0.48,\"max\":0.48},\"same_top_p\":0.88,\"ppl_base\":10.57,\"ppl_q\":10.69,"
                          "\"ln_ppl_ratio\":0.0117,\"rms_dp\":0.058,\"positions\":128,\"tensors_quantized\":172}");
    return f->sens && f->eval ? 0 : -1;
}

static void fixture_free(struct fixture *f) {
    qt_gpu_catalog_free(&f->cat);
    cJSON_Delete(f->sens);
    cJSON_Delete(f->eval);
}

static cJSON *build_tiny(struct fixture *f, int variants) {
    struct qt_rdoc_variant v[2] = {{"A", W4, f->eval}, {"B", W4_L2_INT8, NULL}};
    struct qt_rdoc_in in = {
        .title = "t<i>ny | one", .kind = "session", .source = "/s", .model = tu_path("share/models/tiny-glm-moe"),
        .recipe_text = W4, .recipe_from = "test", .eval = f->eval, .eval_from = "eval job 1",
        .sens = f->sens, .sens_from = "sensitivity job 2", .n_variants = variants ? 2 : 0, .variants = v,
        .gpu = qt_gpu_find(&f->cat, "H100-80G"),
    };
    cJSON *doc = NULL;
    qt_err err = {{0}};
    if (qt_rdoc_build(&in, &doc, &err) != QT_OK) printf("  build: %s\n", err.msg);
    return doc;
}

/* The figures of the document: the parts add up to the deploy estimate,
 * layers 0..3 carry a W4A16-sized error and the MTP layer (4) none, ΔKL per
 * layer is the scan's units summed (lm_head, of no layer, left out). */
TU_TEST(build_tiny_figures) {
    struct fixture f;
    TU_CHECK(fixture_init(&f) == 0);
    cJSON *doc = build_tiny(&f, 0);
    TU_CHECK(doc != NULL);
    if (!doc) { fixture_free(&f); return; }
    const cJSON *sz = cJSON_GetObjectItem(doc, "sizes"), *dp = cJSON_GetObjectItem(doc, "deploy"), *p;
    double sum = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(sz, "parts")) sum += num(p, "bytes_after");
    TU_NEAR(sum, num(sz, "bytes_after"), 0.5);
    TU_NEAR(num(sz, "bytes_after"), num(dp, "weights_bytes"), 1.0);
    TU_CHECK(num(sz, "tensors_quantized") == 172);   /* as tests/refs/eval_kl.json's W4A16 case */
    TU_CHECK(num(sz, "bpw") > 4 && num(sz, "bpw") < 8);
    const cJSON *layers = cJSON_GetObjectItem(doc, "layers");
    TU_CHECK(cJSON_GetArraySize(layers) == 5);
    for (int l = 0; l < 4; l++) {
        double e = num(cJSON_GetArrayItem(layers, l), "rel_rmse");
        TU_CHECKF(e > 0.08 && e < 0.15, "layer %d rel_rmse %g", l, e);
    }
    const cJSON *mtp = cJSON_GetArrayItem(layers, 4);
    TU_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(mtp, "mtp")));
    TU_CHECK(cJSON_IsNull(cJSON_GetObjectItem(mtp, "rel_rmse")));
    TU_NEAR(num(cJSON_GetArrayItem(layers, 1), "dkl"), 0.03, 1e-12);
    TU_NEAR(num(cJSON_GetArrayItem(layers, 3), "dkl"), 0.005, 1e-12);
    TU_CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 0), "dkl")));
    TU_CHECK(num(cJSON_GetObjectItem(doc, "lint"), "errors") == 0);
    TU_NEAR(num(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "eval"), "kld"), "mean"), 0.0533, 1e-12);
    TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "variants")) == 0);
    cJSON_Delete(doc);
    fixture_free(&f);
}

/* Variants: the current recipe is A (named so); B differs on layer 2's
 * experts only, folded into one row per projection (16 experts each). */
TU_TEST(build_variants_differ) {
    struct fixture f;
    TU_CHECK(fixture_init(&f) == 0);
    cJSON *doc = build_tiny(&f, 1);
    TU_CHECK(doc != NULL);
    if (!doc) { fixture_free(&f); return; }
    const cJSON *va = cJSON_GetObjectItem(doc, "variants");
    TU_CHECK(cJSON_GetArraySize(va) == 3);
    TU_CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(va, 0), "name")), "current = A"));
    const cJSON *a = cJSON_GetArrayItem(va, 1), *b = cJSON_GetArrayItem(va, 2);
    TU_CHECK(num(b, "weights_bytes") > num(a, "weights_bytes"));
    TU_CHECK(num(b, "rel_rmse") < num(a, "rel_rmse"));
    TU_CHECK(cJSON_IsObject(cJSON_GetObjectItem(a, "eval")) && cJSON_IsNull(cJSON_GetObjectItem(b, "eval")));
    const cJSON *df = cJSON_GetObjectItem(doc, "differs"), *r;
    TU_CHECKF(cJSON_GetArraySize(df) == 3, "%d rows", cJSON_GetArraySize(df));
    cJSON_ArrayForEach(r, df) {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(r, "tensor"));
        TU_CHECKF(t && strstr(t, "model.layers.2.mlp.experts.*.") == t, "%s", t ? t : "?");
        TU_CHECK(num(r, "count") == 16);
        const cJSON *s = cJSON_GetObjectItem(r, "schemes");
        TU_CHECK(!strcmp(cJSON_GetArrayItem(s, 0)->valuestring, "int4-g128-sym"));
        TU_CHECK(!strcmp(cJSON_GetArrayItem(s, 2)->valuestring, "int8-g128-sym"));
    }
    cJSON_Delete(doc);
    fixture_free(&f);
}

/* HTML: one self-contained page — escaped text, the section tables, two
 * inline SVG plots with a bar per layer, no script, nothing fetched. */
TU_TEST(render_html) {
    struct fixture f;
    TU_CHECK(fixture_init(&f) == 0);
    cJSON *doc = build_tiny(&f, 1);
    char *h = doc ? qt_rdoc_render(doc, QT_RDOC_HTML, NULL) : NULL;
    TU_CHECK(h != NULL);
    if (h) {
        TU_CHECK(strstr(h, "<!DOCTYPE html>") == h);
        TU_CHECK(strstr(h, "t&lt;i&gt;ny | one") && !strstr(h, "t<i>ny"));
        TU_CHECK(!strstr(h, "<script") && !strstr(h, "http://") && !strstr(h, "https://") && !strstr(h, "src="));
        TU_CHECK(count(h, "<svg ") == 2);
        TU_CHECK(count(h, "fill=\"#2563eb\"") == 4);   /* err %: layers 0..3 */
        TU_CHECK(count(h, "fill=\"#ea580c\"") == 2);   /* ΔKL: layers 1 and 3 */
        /* sizes, deploy, eval, layers, variants, differs (no lint findings) */
        TU_CHECKF(count(h, "<table") == 6, "%d tables", count(h, "<table"));
        TU_CHECK(strstr(h, "<h2 id=\"variants\">") && strstr(h, "<code>model.layers.2.mlp.experts.*.gate_proj</code>"));
        TU_CHECK(strstr(h, "quant_stage:"));
    }
    free(h);
    cJSON_Delete(doc);
    fixture_free(&f);
}

/* Markdown: GitHub tables (a pipe in text escaped, never a cell split),
 * the recipe fenced, the plots linked as files beside it or left out with a
 * note; a standalone SVG declares its namespace. */
TU_TEST(render_markdown) {
    struct fixture f;
    TU_CHECK(fixture_init(&f) == 0);
    cJSON *doc = build_tiny(&f, 1);
    char *md = doc ? qt_rdoc_render(doc, QT_RDOC_MD, "my report") : NULL;
    char *bare = doc ? qt_rdoc_render(doc, QT_RDOC_MD, NULL) : NULL;
    char *svg = doc ? qt_rdoc_svg(doc, "err") : NULL;
    TU_CHECK(md && bare && svg);
    if (md && bare && svg) {
        TU_CHECK(strstr(md, "# qtune report: t\\<i\\>ny \\| one\n") == md);
        TU_CHECK(strstr(md, "](my%20report-err.svg)") && strstr(md, "](my%20report-dkl.svg)"));
        TU_CHECK(!strstr(bare, ".svg)") && strstr(bare, "Plots left out"));
        TU_CHECK(strstr(md, "```yaml\nquant_stage:"));
        TU_CHECK(strstr(md, "| TP | weights/GPU |") && strstr(md, "| ---: |"));
        TU_CHECK(strstr(md, "| `model.layers.2.mlp.experts.*.down_proj` | 16 |"));
        /* every table row has as many cells as its header */
        TU_CHECK(!strstr(md, "<svg"));
        TU_CHECK(strstr(svg, "<?xml") == svg && strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
        TU_CHECK(count(svg, "fill=\"#2563eb\"") == 4 && strstr(svg, "</svg>"));
    }
    TU_CHECK(doc && qt_rdoc_svg(doc, "nope") == NULL);
    free(md);
    free(bare);
    free(svg);
    cJSON_Delete(doc);
    fixture_free(&f);
}

/* A document without weights figures (metadata-only model): no error
 * plot, a note instead; no scan: no ΔKL plot, nothing to plot said. */
TU_TEST(build_metadata_only) {
    struct fixture f;
    TU_CHECK(fixture_init(&f) == 0);
    struct qt_rdoc_in in = {.title = "glm46", .kind = "checkpoint", .model = tu_path("share/models/meta/GLM-4.6.config.json"),
                            .recipe_text = W4, .gpu = qt_gpu_find(&f.cat, "H200")};
    cJSON *doc = NULL;
    qt_err err = {{0}};
    TU_CHECKF(qt_rdoc_build(&in, &doc, &err) == QT_OK, "%s", err.msg);
    if (doc) {
        const char *names[2];
        TU_CHECK(qt_rdoc_plots(doc, names) == 0);
        TU_CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "error_note")), "metadata only"));
        TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "layers")) >= 92);
        char *h = qt_rdoc_render(doc, QT_RDOC_HTML, NULL);
        TU_CHECK(h && strstr(h, "Nothing to plot") && !strstr(h, "<svg"));
        free(h);
    }
    cJSON_Delete(doc);
    /* a model that does not open: the error names it */
    in.model = "/nonexistent/model";
    TU_CHECK(qt_rdoc_build(&in, &doc, &err) == QT_ERR && strstr(err.msg, "/nonexistent/model"));
    fixture_free(&f);
}

/* Writing: by extension; Markdown's SVGs beside it; nothing but the final
 * names left in the directory; an unknown extension refused. */
TU_TEST(write_files) {
    struct fixture f;
    TU_CHECK(fixture_init(&f) == 0);
    cJSON *doc = build_tiny(&f, 0);
    const char *dir = tu_tmpdir("test_report_doc");
    char path[4200], files[3][4096];
    int n = 0;
    qt_err err = {{0}};
    snprintf(path, sizeof path, "%s/r.md", dir);
    TU_CHECKF(doc && qt_rdoc_write(doc, path, 1, files, &n, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(n == 3 && strstr(files[0], "/r-err.svg") && strstr(files[1], "/r-dkl.svg") && !strcmp(files[2], path));
    snprintf(path, sizeof path, "%s/r.html", dir);
    TU_CHECK(doc && qt_rdoc_write(doc, path, 1, files, &n, &err) == QT_OK && n == 1);
    snprintf(path, sizeof path, "%s/r.json", dir);
    TU_CHECK(doc && qt_rdoc_write(doc, path, 1, NULL, NULL, &err) == QT_OK);
    char *j = qt_read_file(path, NULL, &err);
    cJSON *back = j ? cJSON_Parse(j) : NULL;
    TU_CHECK(back && cJSON_GetObjectItem(back, "layers"));
    cJSON_Delete(back);
    free(j);
    snprintf(path, sizeof path, "%s/r.pdf", dir);
    TU_CHECK(doc && qt_rdoc_write(doc, path, 1, NULL, NULL, &err) == QT_ERR && strstr(err.msg, "unknown report format"));
    DIR *d = opendir(dir);
    int entries = 0, stray = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        entries++;
        stray += strstr(e->d_name, ".tmp") != NULL;
    }
    if (d) closedir(d);
    TU_CHECKF(entries == 5 && !stray, "%d entries, %d temporary", entries, stray);
    TU_CHECK(qt_rdoc_format_of("a.HTML") == QT_RDOC_HTML && qt_rdoc_format_of("a.markdown") == QT_RDOC_MD &&
             qt_rdoc_format_of("dir.md/file") == -1 && qt_rdoc_format_of("noext") == -1);
    cJSON_Delete(doc);
    fixture_free(&f);
}

int main(void) {
    TU_RUN(build_tiny_figures);
    TU_RUN(build_variants_differ);
    TU_RUN(render_html);
    TU_RUN(render_markdown);
    TU_RUN(build_metadata_only);
    TU_RUN(write_files);
    return TU_END();
}
