/* test_static_scales.c — static activation scales: the per-tensor fake
 * quantization by hand, and the pipeline's observers (llm-compressor's
 * minmax moving average, static_minmax, memoryless_minmax, the averaging
 * constant) on layer 0's q_proj input and kv cache, whose inputs do not
 * depend on any quantization: the expected scales come from a plain forward
 * over the same calibration samples, one at a time. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/pipeline.h"
#include "eval/forward.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "recipe/recipe.h"
#include "tu.h"

static float bf(float x) { return qt_bf16_to_f32(qt_f32_to_bf16(x)); }

TU_TEST(static_quant_by_hand) {
    float x[4] = {0.26f, -64.2f, 100.0f, 0.74f};
    qt_fwd_act_quant_static(QT_FWD_STATIC_INT8, 0.5f, x, 1, 4);
    TU_NEAR(x[0], 0.5, 0);     /* 0.52 -> 1 */
    TU_NEAR(x[1], -64, 0);     /* -128.4 -> -128 */
    TU_NEAR(x[2], 63.5, 0);    /* 200 -> 127 */
    TU_NEAR(x[3], 0.5, 0);     /* 1.48 -> 1 */
    float y[3] = {500.0f, 0.3f, -0.001f};
    qt_fwd_act_quant_static(QT_FWD_STATIC_FP8, 1.0f, y, 1, 3);
    TU_NEAR(y[0], 448, 0);     /* clamped to e4m3's largest */
    TU_NEAR(y[1], 0.3125, 0);  /* 1.25 * 2^-2, the nearer of 0.28125 / 0.3125 */
    TU_NEAR(y[2], -0.001953125, 0);    /* the smallest subnormal, 2^-9 (0.001 > 2^-10) */
}

enum { NS = 4, SEQ = 128 };
static struct qt_model *g_m;
static int g_q = -1;                         /* layer 0 q_proj */
static double g_min[NS], g_max[NS];          /* its input per sample */
static double g_kmin[NS], g_kmax[NS], g_vmin[NS], g_vmax[NS];
static int g_s;

static void range(const float *x, int64_t n, double *mn, double *mx) {
    float a = x[0], b = x[0];
    for (int64_t i = 1; i < n; i++) { a = fminf(a, x[i]); b = fmaxf(b, x[i]); }
    *mn = a;
    *mx = b;
}
static void obs(void *ctx, int ti, const float *x, int64_t n, int64_t cols) {
    (void)ctx;
    if (ti == g_q) range(x, n * cols, &g_min[g_s], &g_max[g_s]);
}
static int kvh(void *ctx, int layer, const float *k, const float *v, int64_t n, int64_t cols, float *ks, float *vs) {
    (void)ctx; (void)ks; (void)vs;
    if (layer == 0) {
        range(k, n * cols, &g_kmin[g_s], &g_kmax[g_s]);
        range(v, n * cols, &g_vmin[g_s], &g_vmax[g_s]);
    }
    return 0;
}

/* The scale an observer gives from per-sample ranges: 0 minmax (avg), 1
 * static, 2 memoryless; fp8. */
static float expect(int kind, double avg, const double *mn, const double *mx) {
    double a = mn[0], b = mx[0];
    for (int s = 1; s < NS; s++) {
        if (kind == 1) { a = fmin(a, mn[s]); b = fmax(b, mx[s]); }
        else if (kind == 2) { a = mn[s]; b = mx[s]; }
        else { a += avg * (mn[s] - a); b += avg * (mx[s] - b); }
    }
    double amax = fmax(-fmin(a, 0), fmax(b, 0));
    return bf((float)(amax / 448.0));
}

/* The pipeline's input_scale of q_proj and layer 0's k/v scales under an
 * observer spec (the YAML of input_activations' extra keys). */
static int run(const char *extra, float *qs, float *ks, float *vs) {
    char y[1200];
    snprintf(y, sizeof y,
             "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      config_groups:\n        g:\n"
             "          targets: ['re:.*layers\\.0\\.self_attn\\.q_proj$']\n"
             "          weights: {num_bits: 8, type: float, strategy: tensor, symmetric: true}\n"
             "          input_activations: {num_bits: 8, type: float, strategy: tensor, symmetric: true, "
             "dynamic: false%s}\n"
             "      kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, symmetric: true, dynamic: false%s}\n",
             extra, extra);
    struct qt_recipe *r = NULL;
    struct qt_resolution res;
    struct qt_pipe *p = NULL;
    qt_err err;
    int rc = QT_ERR;
    if (qt_recipe_parse(y, strlen(y), "o.yaml", &r, &err) != QT_OK) { printf("  %s\n", err.msg); return QT_ERR; }
    if (qt_recipe_resolve(r, g_m, &res, &err) == QT_OK) {
        struct qt_pipe_params pp = {.calib_path = tu_path("share/data/calib.txt"), .samples = NS, .seqlen = SEQ};
        if (!qt_pipe_needed(r, &res)) printf("  the pipeline is not needed?\n");
        else if (qt_pipe_run(g_m, r, &res, &pp, &p, &err) != QT_OK) printf("  %s\n", err.msg);
        else if (qt_pipe_input_scale(p, g_q, qs) == QT_OK && qt_pipe_kv_scales(p, 0, ks, vs) == QT_OK) rc = QT_OK;
        qt_resolution_free(&res);
    }
    qt_pipe_free(p);
    qt_recipe_free(r);
    return rc;
}

TU_TEST(observers_on_layer0) {
    qt_err err;
    TU_CHECKF(qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) == QT_OK, "%s", err.msg);
    if (!g_m) return;
    g_q = qt_model_find_index(g_m, "model.layers.0.self_attn.q_proj.weight");
    TU_CHECK(g_q >= 0);
    /* per-sample ranges from a plain forward, one sample at a time */
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", g_m->path);
    struct qt_tok *tok = NULL;
    int32_t *ids = NULL;
    size_t nids = 0, len = 0;
    char *text = qt_read_file(tu_path("share/data/calib.txt"), &len, &err);
    TU_CHECK(text && qt_tok_load(tp, &tok, &err) == QT_OK && qt_tok_encode(tok, text, len, &ids, &nids, &err) == QT_OK);
    struct qt_fwd_hooks hk = {.observe = obs, .kv = kvh};
    struct qt_fwd *f = NULL;
    float *h = malloc(sizeof(float) * SEQ * (size_t)g_m->cfg.hidden);
    TU_CHECK(h && ids && nids >= NS * SEQ && qt_fwd_init(g_m, &hk, &f, &err) == QT_OK);
    for (g_s = 0; f && h && g_s < NS; g_s++)
        TU_CHECK(qt_fwd_embed(f, ids + g_s * SEQ, SEQ, h, &err) == QT_OK && qt_fwd_layer(f, 0, h, 1, SEQ, &err) == QT_OK);
    qt_fwd_free(f);
    free(h);
    free(ids);
    free(text);
    qt_tok_free(tok);
    /* the samples differ, so the observers disagree */
    TU_CHECK(g_max[0] != g_max[NS - 1]);
    struct { const char *extra; int kind; double avg; } cases[] = {
        {"", 0, 0.01},                                   /* the default: minmax */
        {", observer: static_minmax", 1, 0},
        {", observer: memoryless_minmax", 2, 0},
        {", observer: minmax, observer_kwargs: {averaging_constant: 0.5}", 0, 0.5},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float qs = 0, ks = 0, vs = 0;
        TU_CHECKF(run(cases[c].extra, &qs, &ks, &vs) == QT_OK, "case %zu", c);
        float eq = expect(cases[c].kind, cases[c].avg, g_min, g_max);
        float ek = expect(cases[c].kind, cases[c].avg, g_kmin, g_kmax);
        float ev = expect(cases[c].kind, cases[c].avg, g_vmin, g_vmax);
        printf("  case %zu: q_proj input_scale %.6g (expected %.6g), k %.6g (%.6g), v %.6g (%.6g)\n", c, qs, eq, ks,
               ek, vs, ev);
        TU_NEAR(qs, eq, 0);
        TU_NEAR(ks, ek, 0);
        TU_NEAR(vs, ev, 0);
    }
    /* an observer qtune does not run is refused by name */
    float a, b, d;
    TU_CHECK(run(", observer: mse", &a, &b, &d) == QT_ERR);
    qt_model_free(g_m);
}

int main(void) {
    TU_RUN(static_quant_by_hand);
    TU_RUN(observers_on_layer0);
    return TU_END();
}
