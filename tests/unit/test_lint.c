/* test_lint.c — every lint code QT001..QT016: a recipe that triggers it and
 * one that does not, on the tiny fixture or a real GLM config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe/lint.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "tu.h"

static struct qt_model *tiny, *glm46, *air;

/* Lints text on m at tp; returns how many findings have code, -1 on error.
 * *sev gets the severity of the first such finding. */
static int count_o(struct qt_model *m, const char *text, int tp, int ep, const char *code, enum qt_severity *sev) {
    struct qt_recipe *r = NULL;
    qt_err err = {{0}};
    if (qt_recipe_parse(text, strlen(text), "t.yaml", &r, &err) != QT_OK) { printf("  %s\n", err.msg); return -1; }
    struct qt_resolution res;
    struct qt_lint L;
    struct qt_lint_opts o = {.tp = tp, .ep = ep};
    int n = -1;
    if (qt_recipe_resolve(r, m, &res, &err) == QT_OK) {
        if (qt_lint_run(r, m, &res, &o, &L, &err) == QT_OK) {
            n = 0;
            for (int i = 0; i < L.n; i++) {
                if (strcmp(L.f[i].code, code)) continue;
                if (!n && sev) *sev = L.f[i].severity;
                n++;
                printf("  (%s %s: %s)\n", L.f[i].code, qt_severity_name(L.f[i].severity), L.f[i].message);
            }
            qt_lint_free(&L);
        }
        qt_resolution_free(&res);
    }
    if (n < 0) printf("  %s\n", err.msg);
    qt_recipe_free(r);
    return n;
}

static int count(struct qt_model *m, const char *text, int tp, const char *code, enum qt_severity *sev) {
    return count_o(m, text, tp, 0, code, sev);
}

#define W4_ALL "QuantizationModifier:\n  targets: [Linear]\n  scheme: W4A16\n  ignore: [lm_head, 're:model\\.layers\\.4\\.']\n"

TU_TEST(clean_reference_recipe) {
    /* the reference recipe has no finding of any code at tp 1 */
    static const char *codes[] = {"QT001", "QT002", "QT003", "QT004", "QT005", "QT006", "QT007", "QT008",
                                  "QT009", "QT010", "QT011", "QT012", "QT013", "QT014", "QT015", "QT016"};
    for (int i = 0; i < 16; i++) TU_CHECKF(count(tiny, W4_ALL, 1, codes[i], NULL) == 0, "%s", codes[i]);
}

TU_TEST(qt001_fused_split) {
    enum qt_severity s = QT_SEV_WARNING;
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: ['re:.*layers\\.1\\.self_attn\\.q_proj$']\n  scheme: W4A16\n",
                   1, "QT001", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    /* dense gate/up split */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  config_groups:\n"
                         "    a: {targets: ['re:.*mlp\\.gate_proj$'], weights: {num_bits: 4, group_size: 128}}\n"
                         "    b: {targets: ['re:.*mlp\\.up_proj$'], weights: {num_bits: 8, group_size: 128}}\n",
                   1, "QT001", NULL) == 1);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: ['re:.*layers\\.1\\.self_attn\\.[qkv]_proj$']\n  scheme: W4A16\n",
                   1, "QT001", NULL) == 0);
}

TU_TEST(qt002_experts_split) {
    enum qt_severity s = QT_SEV_WARNING;
    TU_CHECK(count(tiny, W4_ALL "  bypass_divisibility_checks: false\n", 1, "QT002", NULL) == 0);
    const char *split = "QuantizationModifier:\n  ignore: [lm_head, 're:model\\.layers\\.4\\.']\n  config_groups:\n"
                        "    a: {targets: [Linear], weights: {num_bits: 4, group_size: 128}}\n"
                        "    b: {targets: [model.layers.2.mlp.experts.5.down_proj], weights: {num_bits: 8, group_size: 128}}\n";
    TU_CHECK(count(tiny, split, 1, "QT002", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    TU_CHECK(count(tiny, split, 1, "QT001", NULL) == 0);
}

TU_TEST(qt003_broad_patterns) {
    enum qt_severity s = QT_SEV_ERROR;
    /* the layers 10-19 trap, on GLM-4.6's 92 layers */
    TU_CHECK(count(glm46, "QuantizationModifier:\n  targets: ['re:model.layers.1.*']\n  scheme: W8A16\n", 1, "QT003", &s) == 1);
    TU_CHECK(s == QT_SEV_WARNING);
    TU_CHECK(count(glm46, "QuantizationModifier:\n  targets: ['re:model\\.layers\\.1\\..*']\n  scheme: W8A16\n", 1, "QT003", NULL) == 0);
    /* the unanchored end: an ignore meant for the router also hits gate_proj */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W8A16\n  ignore: [lm_head, 're:.*mlp.gate']\n",
                   1, "QT003", NULL) == 1);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W8A16\n  ignore: [lm_head, 're:.*mlp.gate$']\n",
                   1, "QT003", NULL) == 0);
}

TU_TEST(qt004_router) {
    enum qt_severity s = QT_SEV_ERROR;
    TU_CHECK(count(tiny, W4_ALL "  config_groups: null\n", 1, "QT004", NULL) == 0);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: ['re:.*mlp\\.gate$']\n  scheme: W8A16\n", 1, "QT004", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);   /* vLLM builds the gate unquantized: its packed weights do not load */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Glm4MoeTopkRouter]\n  scheme: W8A16\n", 1, "QT004", NULL) == 1);
}

TU_TEST(qt005_group_size) {
    enum qt_severity s = QT_SEV_WARNING;
    const char *g16 = "QuantizationModifier:\n  config_groups:\n"
                      "    g: {targets: ['re:.*self_attn\\.[qkvo]_proj$'], weights: {num_bits: 4, type: int, strategy: group, group_size: 16}}\n";
    TU_CHECK(count(tiny, g16, 1, "QT005", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    const char *g64 = "QuantizationModifier:\n  config_groups:\n"
                      "    g: {targets: ['re:.*self_attn\\.[qkvo]_proj$'], weights: {num_bits: 4, type: int, strategy: group, group_size: 64}}\n";
    TU_CHECK(count(tiny, g64, 1, "QT005", NULL) == 0);
    /* nvfp4's group 16 is a float scheme: not QT005 */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: ['re:.*self_attn\\.[qkvo]_proj$']\n  scheme: NVFP4A16\n",
                   1, "QT005", NULL) == 0);
}

TU_TEST(qt006_shapes_and_tp) {
    enum qt_severity s = QT_SEV_WARNING;
    /* expert down_proj [256, 128]: at tp 2 a rank holds 64 columns < group 128 */
    TU_CHECK(count(tiny, W4_ALL, 2, "QT006", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    TU_CHECK(count(tiny, W4_ALL, 1, "QT006", NULL) == 0);
    /* per channel splits fine at tp 2 */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W8A8\n  ignore: [lm_head]\n", 2, "QT006", NULL) == 0);
    /* group 512 does not divide 256 columns (and is QT005 too) */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  config_groups:\n"
                         "    g: {targets: ['re:.*self_attn\\.o_proj$'], weights: {num_bits: 8, strategy: group, group_size: 512}}\n",
                   1, "QT006", NULL) == 1);
}

TU_TEST(qt007_mtp) {
    enum qt_severity s = QT_SEV_ERROR;
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W4A16\n  ignore: [lm_head]\n", 1, "QT007", &s) == 1);
    TU_CHECK(s == QT_SEV_WARNING);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W8A16\n  ignore: [lm_head]\n", 1, "QT007", NULL) == 0);
}

TU_TEST(qt008_matches_nothing) {
    enum qt_severity s = QT_SEV_ERROR;
    TU_CHECK(count(tiny, W4_ALL "\n", 1, "QT008", NULL) == 0);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear, 're:.*q_proj_typo$']\n  scheme: W4A16\n"
                         "  ignore: [lm_head, model.layers.99.mlp, 're:model\\.layers\\.4\\.']\n",
                   1, "QT008", &s) == 2);
    TU_CHECK(s == QT_SEV_WARNING);
}

TU_TEST(qt009_head_embed) {
    enum qt_severity s = QT_SEV_ERROR;
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W8A16\n", 1, "QT009", &s) == 1);
    TU_CHECK(s == QT_SEV_WARNING);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Embedding]\n  scheme: W8A16\n", 1, "QT009", NULL) == 1);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  scheme: W8A16\n  ignore: [lm_head]\n", 1, "QT009", NULL) == 0);
}

TU_TEST(qt010_ambiguous) {
    enum qt_severity s = QT_SEV_ERROR;
    const char *two = "QuantizationModifier:\n  config_groups:\n"
                      "    a: {targets: ['re:.*q_proj$'], weights: {num_bits: 4, group_size: 128}}\n"
                      "    b: {targets: ['re:.*self_attn\\..*'], weights: {num_bits: 8, group_size: 128}}\n";
    TU_CHECK(count(tiny, two, 1, "QT010", &s) == 1);
    TU_CHECK(s == QT_SEV_WARNING);
    /* an exact name over a regex is not ambiguous */
    const char *ok = "QuantizationModifier:\n  config_groups:\n"
                     "    a: {targets: [model.layers.0.self_attn.q_proj], weights: {num_bits: 4, group_size: 128}}\n"
                     "    b: {targets: ['re:.*self_attn\\..*'], weights: {num_bits: 8, group_size: 128}}\n";
    TU_CHECK(count(tiny, ok, 1, "QT010", NULL) == 0);
}

/* A recipe giving every Linear but the router and MTP `weights` args. */
#define ARGS(w) "QuantizationModifier:\n  ignore: [lm_head, 're:.*mlp\\.gate$', 're:model\\.layers\\.4\\.']\n" \
                "  config_groups:\n    g: {targets: [Linear], weights: {" w "}}\n"

TU_TEST(qt011_bits_vllm_serves) {
    enum qt_severity s = QT_SEV_WARNING;
    /* weight-only int: 4 and 8 bits (WNA16); 2, 3, 5, 6, 7 have no kernel */
    static const int bad[] = {2, 3, 5, 6, 7};
    char text[512];
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof text, ARGS("num_bits: %d, type: int, strategy: group, group_size: 128"), bad[i]);
        TU_CHECKF(count(tiny, text, 1, "QT011", &s) == 1 && s == QT_SEV_ERROR, "%d bits", bad[i]);
    }
    TU_CHECK(count(tiny, ARGS("num_bits: 8, type: int, strategy: channel"), 1, "QT011", NULL) == 0);
    TU_CHECK(count(tiny, W4_ALL, 1, "QT011", NULL) == 0);
    /* W8A8 int and W4A8 are served; int8 group weights with int8 tokens are not */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  ignore: [lm_head]\n  scheme: W8A8\n", 1, "QT011", NULL) == 0);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  ignore: [lm_head]\n  config_groups:\n    g: {targets: [Linear], "
                         "weights: {num_bits: 8, type: int, strategy: group, group_size: 128}, "
                         "input_activations: {num_bits: 8, type: int, strategy: token, dynamic: true}}\n",
                   1, "QT011", NULL) == 1);
    /* nvfp4 weights: with nvfp4 activations or none; any other activations
     * vLLM refuses (MoE: "For NVFP4 weights, input quantization must also be
     * NVFP4 format or None"; dense: no compressed-tensors scheme matches) */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  ignore: [lm_head]\n  scheme: NVFP4A16\n", 1, "QT011", NULL) == 0);
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: [Linear]\n  ignore: [lm_head]\n  scheme: NVFP4\n", 1, "QT011", NULL) == 0);
    s = QT_SEV_WARNING;
    TU_CHECK(count(tiny, ARGS("num_bits: 4, type: float, strategy: tensor_group, group_size: 16, symmetric: true}, "
                              "input_activations: {num_bits: 8, type: int, strategy: token, dynamic: true, symmetric: true"),
                   1, "QT011", &s) == 1 && s == QT_SEV_ERROR);
}

TU_TEST(qt012_asym_experts) {
    enum qt_severity s = QT_SEV_WARNING;
    TU_CHECK(count(tiny, ARGS("num_bits: 4, type: int, symmetric: false, strategy: group, group_size: 128"), 1, "QT012", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    /* dense layers only: asymmetric is served there */
    TU_CHECK(count(tiny, "QuantizationModifier:\n  targets: ['re:.*self_attn\\.[qkvo]_proj$']\n  scheme: W4A16_ASYM\n",
                   1, "QT012", NULL) == 0);
}

TU_TEST(qt013_moe_fallback) {
    enum qt_severity s = QT_SEV_WARNING;
    /* GLM-4.6 experts (hidden 5120, width 1536): Marlin MoE at tp 8 (192 %
     * 128 != 0 for group 128) falls back to Triton, which refuses channel
     * scales; group 64 keeps Marlin */
    const char *ch = "QuantizationModifier:\n  config_groups:\n    g: {targets: ['re:.*mlp\\.experts\\.'], weights: "
                     "{num_bits: 4, type: int, strategy: channel}}\n";
    TU_CHECK(count(glm46, ch, 1, "QT013", NULL) == 0);
    TU_CHECK(count(glm46, ch, 32, "QT013", &s) > 0 && s == QT_SEV_ERROR);   /* 48 per GPU: not % 64 */
    TU_CHECK(count_o(glm46, ch, 32, 1, "QT013", NULL) == 0);                /* expert parallel: whole experts */
    const char *ao = "GPTQModifier:\n  actorder: group\n  config_groups:\n    g: {targets: ['re:.*mlp\\.experts\\.'], weights: "
                     "{num_bits: 4, type: int, strategy: group, group_size: 128}}\n";
    TU_CHECK(count(glm46, ao, 1, "QT013", NULL) == 0);
    TU_CHECK(count(glm46, ao, 8, "QT013", NULL) > 0);   /* 192 per GPU: not % 128 */
}

TU_TEST(qt014_marlin_dense_shape) {
    enum qt_severity s = QT_SEV_WARNING;
    /* GLM-4.5-Air's dense intermediate 10944 is not a multiple of 128 */
    const char *dense = "QuantizationModifier:\n  config_groups:\n    g: {targets: ['re:model\\.layers\\.0\\.mlp\\.'], weights: "
                        "{num_bits: 4, type: int, strategy: group, group_size: 64}}\n";
    TU_CHECK(count(air, dense, 1, "QT014", &s) == 1 && s == QT_SEV_ERROR);
    TU_CHECK(count(air, dense, 1, "QT006", NULL) == 0);   /* 10944 = 171 x 64 */
    TU_CHECK(count(glm46, "QuantizationModifier:\n  targets: ['re:model\\.layers\\.0\\.mlp\\.']\n  scheme: W4A16\n",
                   1, "QT014", NULL) == 0);
    /* tiny at tp 2: the shared expert's down_proj keeps 64 input columns per GPU */
    TU_CHECK(count(tiny, W4_ALL, 2, "QT014", NULL) == 1);
    TU_CHECK(count(tiny, W4_ALL, 1, "QT014", NULL) == 0);
}

TU_TEST(qt015_kv_cache) {
    enum qt_severity s = QT_SEV_WARNING;
    TU_CHECK(count(tiny, W4_ALL "  kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}\n",
                   1, "QT015", NULL) == 0);
    TU_CHECK(count(tiny, W4_ALL "  kv_cache_scheme: {num_bits: 4, type: int, strategy: tensor}\n", 1, "QT015", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    TU_CHECK(count(tiny, W4_ALL "  kv_cache_scheme: {num_bits: 8, type: float, strategy: channel}\n", 1, "QT015", NULL) == 1);
    TU_CHECK(count(tiny, W4_ALL "  kv_cache_scheme: {num_bits: 8, type: float, symmetric: false}\n", 1, "QT015", NULL) == 1);
}

TU_TEST(qt016_actorder_strategy) {
    enum qt_severity s = QT_SEV_WARNING;
    TU_CHECK(count(tiny, "GPTQModifier:\n  ignore: [lm_head]\n  config_groups:\n    g: {targets: [Linear], weights: "
                         "{num_bits: 8, type: int, strategy: channel, actorder: group}}\n", 1, "QT016", &s) == 1);
    TU_CHECK(s == QT_SEV_ERROR);
    TU_CHECK(count(tiny, "GPTQModifier:\n  ignore: [lm_head]\n  config_groups:\n    g: {targets: [Linear], weights: "
                         "{num_bits: 4, type: int, strategy: group, group_size: 128, actorder: group}}\n", 1, "QT016", NULL) == 0);
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &tiny, &err) != QT_OK ||
        qt_model_open(tu_path("share/models/meta/GLM-4.6.config.json"), &glm46, &err) != QT_OK ||
        qt_model_open(tu_path("share/models/meta/GLM-4.5-Air.config.json"), &air, &err) != QT_OK) {
        printf("FAIL open: %s\n", err.msg);
        return 1;
    }
    TU_RUN(clean_reference_recipe);
    TU_RUN(qt001_fused_split);
    TU_RUN(qt002_experts_split);
    TU_RUN(qt003_broad_patterns);
    TU_RUN(qt004_router);
    TU_RUN(qt005_group_size);
    TU_RUN(qt006_shapes_and_tp);
    TU_RUN(qt007_mtp);
    TU_RUN(qt008_matches_nothing);
    TU_RUN(qt009_head_embed);
    TU_RUN(qt010_ambiguous);
    TU_RUN(qt011_bits_vllm_serves);
    TU_RUN(qt012_asym_experts);
    TU_RUN(qt013_moe_fallback);
    TU_RUN(qt014_marlin_dense_shape);
    TU_RUN(qt015_kv_cache);
    TU_RUN(qt016_actorder_strategy);
    qt_model_free(tiny);
    qt_model_free(air);
    qt_model_free(glm46);
    return TU_END();
}
