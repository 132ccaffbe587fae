/* test_match.c — compressed-tensors matching: re.match semantics (anchored
 * at the start only), the classic traps, class names, invalid regexes. */
#include <stdio.h>
#include <string.h>

#include "model/match.h"
#include "tu.h"

/* 1 when pattern text matches module (role as given). */
static int m1(const char *pat, const char *module, enum qt_role role) {
    struct qt_pattern p;
    qt_err err = {{0}};
    if (qt_pattern_compile(pat, &p, &err) != QT_OK) { printf("  compile %s: %s\n", pat, err.msg); return -1; }
    int r = qt_pattern_match(&p, module, role, NULL) != QT_MATCH_NONE;
    qt_pattern_free(&p);
    return r;
}

TU_TEST(layer_prefix_trap) {
    /* re:model.layers.1.* means "layer 1" to a reader but matches 10-19 too */
    const char *p = "re:model.layers.1.*";
    TU_CHECK(m1(p, "model.layers.1.self_attn.q_proj", QT_ROLE_ATTN_Q) == 1);
    TU_CHECK(m1(p, "model.layers.10.self_attn.q_proj", QT_ROLE_ATTN_Q) == 1);
    TU_CHECK(m1(p, "model.layers.19.mlp.experts.3.up_proj", QT_ROLE_EXPERT_UP) == 1);
    TU_CHECK(m1(p, "model.layers.2.self_attn.q_proj", QT_ROLE_ATTN_Q) == 0);
    /* the escaped form does what was meant */
    TU_CHECK(m1("re:model\\.layers\\.1\\.", "model.layers.10.self_attn.q_proj", QT_ROLE_ATTN_Q) == 0);
    TU_CHECK(m1("re:model\\.layers\\.1\\.", "model.layers.1.self_attn.q_proj", QT_ROLE_ATTN_Q) == 1);
}

TU_TEST(router_vs_gate_proj) {
    TU_CHECK(m1("re:.*mlp.gate$", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 1);
    TU_CHECK(m1("re:.*mlp.gate$", "model.layers.0.mlp.gate_proj", QT_ROLE_MLP_GATE) == 0);
    TU_CHECK(m1("re:.*mlp.gate$", "model.layers.3.mlp.experts.0.gate_proj", QT_ROLE_EXPERT_GATE) == 0);
    /* re.match does not anchor the end: without '$' gate_proj matches too */
    TU_CHECK(m1("re:.*mlp.gate", "model.layers.0.mlp.gate_proj", QT_ROLE_MLP_GATE) == 1);
    TU_CHECK(m1("re:.*mlp.gate", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 1);
}

TU_TEST(anchored_at_start_only) {
    /* re.match anchors at the start: a pattern without .* must match from 0 */
    TU_CHECK(m1("re:layers\\.1\\.", "model.layers.1.mlp.down_proj", QT_ROLE_MLP_DOWN) == 0);
    TU_CHECK(m1("re:.*layers\\.1\\.", "model.layers.1.mlp.down_proj", QT_ROLE_MLP_DOWN) == 1);
    TU_CHECK(m1("re:model", "model.layers.1.mlp.down_proj", QT_ROLE_MLP_DOWN) == 1);
    TU_CHECK(m1("re:.*q_proj", "model.layers.1.self_attn.q_proj", QT_ROLE_ATTN_Q) == 1);
    /* and not at the end: a prefix is enough */
    TU_CHECK(m1("re:model\\.layers\\.1", "model.layers.12.mlp", QT_ROLE_MLP_DOWN) == 1);
    /* match end offset is reported */
    struct qt_pattern p;
    qt_err err;
    TU_CHECK(qt_pattern_compile("re:.*mlp.gate", &p, &err) == QT_OK);
    size_t end = 0;
    TU_CHECK(qt_pattern_match(&p, "model.layers.0.mlp.gate_proj", QT_ROLE_MLP_GATE, &end) == QT_MATCH_REGEX);
    TU_CHECK(end == strlen("model.layers.0.mlp.gate"));
    qt_pattern_free(&p);
}

TU_TEST(python_syntax) {
    /* \Z is Python's end of string; (?P<name>...) and (?P=name) are accepted */
    TU_CHECK(m1("re:.*layers\\.\\d+\\.mlp\\.gate\\Z", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 1);
    TU_CHECK(m1("re:.*layers\\.\\d+\\.mlp\\.gate\\Z", "model.layers.3.mlp.gate_proj", QT_ROLE_MLP_GATE) == 0);
    TU_CHECK(m1("re:(?P<pre>model)\\.layers\\.(?P<n>\\d)\\.", "model.layers.3.mlp", QT_ROLE_OTHER) == 1);
    TU_CHECK(m1("re:model\\.layers\\.(?P<n>\\d)\\.mlp\\.experts\\.(?P=n)\\.", "model.layers.3.mlp.experts.3.up_proj",
                QT_ROLE_EXPERT_UP) == 1);
    TU_CHECK(m1("re:model\\.layers\\.(?P<n>\\d)\\.mlp\\.experts\\.(?P=n)\\.", "model.layers.3.mlp.experts.4.up_proj",
                QT_ROLE_EXPERT_UP) == 0);
    /* [\Z] inside a class is left alone (no translation there) */
    TU_CHECK(m1("re:a[Z]", "aZ", QT_ROLE_OTHER) == 1);
    /* {,n} is 0..n in Python (literal text in PCRE2 before 10.43), {,} 0..inf,
     * {} stays literal */
    TU_CHECK(m1("re:model\\.layers\\.1{,1}\\.mlp", "model.layers..mlp", QT_ROLE_OTHER) == 1);
    TU_CHECK(m1("re:model\\.layers\\.1{,1}\\.mlp", "model.layers.1.mlp", QT_ROLE_OTHER) == 1);
    TU_CHECK(m1("re:model\\.layers\\.1{,1}\\.mlp", "model.layers.11.mlp", QT_ROLE_OTHER) == 0);
    TU_CHECK(m1("re:ab{,}c", "abbbc", QT_ROLE_OTHER) == 1);
    TU_CHECK(m1("re:a{}", "a{}", QT_ROLE_OTHER) == 1);
    TU_CHECK(m1("re:a[{,1}]", "a,", QT_ROLE_OTHER) == 1);
    /* \uXXXX / \UXXXXXXXX are code points, in and out of classes */
    TU_CHECK(m1("re:\\u006c\\u006d_head", "lm_head", QT_ROLE_LM_HEAD) == 1);
    TU_CHECK(m1("re:[\\u006b-\\u006d]m_head", "lm_head", QT_ROLE_LM_HEAD) == 1);
    TU_CHECK(m1("re:\\U0000006cm_head", "lm_head", QT_ROLE_LM_HEAD) == 1);
}

TU_TEST(invalid_regex_offset) {
    struct qt_pattern p;
    qt_err err = {{0}};
    TU_CHECK(qt_pattern_compile("re:model.(layers", &p, &err) == QT_ERR);
    TU_CHECKF(strstr(err.msg, "re:model.(layers") && strstr(err.msg, "at offset 6"), "%s", err.msg);
    TU_CHECK(qt_pattern_compile("re:a[b", &p, &err) == QT_ERR);
    TU_CHECKF(strstr(err.msg, "offset 3"), "%s", err.msg);
    TU_CHECK(qt_pattern_compile("re:x*+*", &p, &err) == QT_ERR);
    TU_CHECKF(strstr(err.msg, "offset"), "%s", err.msg);
}

TU_TEST(class_names) {
    TU_CHECK(m1("Linear", "model.layers.0.self_attn.q_proj", QT_ROLE_ATTN_Q) == 1);
    TU_CHECK(m1("Linear", "lm_head", QT_ROLE_LM_HEAD) == 1);
    TU_CHECK(m1("Linear", "model.layers.92.eh_proj", QT_ROLE_MTP_EH_PROJ) == 1);
    TU_CHECK(m1("Linear", "model.layers.3.mlp.experts.5.down_proj", QT_ROLE_EXPERT_DOWN) == 1);
    TU_CHECK(m1("Linear", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 0);
    TU_CHECK(m1("Linear", "model.layers.3.input_layernorm", QT_ROLE_NORM) == 0);
    TU_CHECK(m1("Linear", "model.embed_tokens", QT_ROLE_EMBED) == 0);
    TU_CHECK(m1("Embedding", "model.embed_tokens", QT_ROLE_EMBED) == 1);
    TU_CHECK(m1("Glm4MoeRMSNorm", "model.norm", QT_ROLE_FINAL_NORM) == 1);
    TU_CHECK(m1("Glm4MoeTopkRouter", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 1);
    TU_CHECK(m1("Glm4MoeTopkRouter", "model.layers.3.mlp.gate_proj", QT_ROLE_MLP_GATE) == 0);
    /* a class anywhere in the MRO matches: every module is a Module */
    TU_CHECK(m1("Module", "model.layers.3.input_layernorm", QT_ROLE_NORM) == 1);
    TU_CHECK(m1("Module", "model.layers.3.mlp.experts.5.down_proj", QT_ROLE_EXPERT_DOWN) == 1);
    /* exact names */
    TU_CHECK(m1("lm_head", "lm_head", QT_ROLE_LM_HEAD) == 1);
    TU_CHECK(m1("model.layers.0.mlp.down_proj", "model.layers.0.mlp.down_proj", QT_ROLE_MLP_DOWN) == 1);
    TU_CHECK(m1("model.layers.0.mlp.down_proj", "model.layers.0.mlp.down_proj_x", QT_ROLE_MLP_DOWN) == 0);
    /* strengths */
    struct qt_pattern p;
    qt_err err;
    TU_CHECK(qt_pattern_compile("lm_head", &p, &err) == QT_OK);
    TU_CHECK(qt_pattern_match(&p, "lm_head", QT_ROLE_LM_HEAD, NULL) == QT_MATCH_EXACT);
    qt_pattern_free(&p);
    TU_CHECK(qt_pattern_compile("Linear", &p, &err) == QT_OK);
    TU_CHECK(qt_pattern_match(&p, "lm_head", QT_ROLE_LM_HEAD, NULL) == QT_MATCH_CLASS);
    qt_pattern_free(&p);
    TU_CHECK(QT_MATCH_EXACT > QT_MATCH_REGEX && QT_MATCH_REGEX > QT_MATCH_CLASS);
}

TU_TEST(module_names) {
    struct qt_tensor t = {0};
    char buf[256];
    t.name = "model.layers.3.mlp.gate.e_score_correction_bias";
    TU_CHECK(!strcmp(qt_match_module(&t, buf, sizeof buf), "model.layers.3.mlp.gate"));
    t.name = "model.layers.0.self_attn.q_proj.bias";
    TU_CHECK(!strcmp(qt_match_module(&t, buf, sizeof buf), "model.layers.0.self_attn.q_proj"));
    t.name = "lm_head.weight";
    TU_CHECK(!strcmp(qt_match_module(&t, buf, sizeof buf), "lm_head"));
}

int main(void) {
    TU_RUN(layer_prefix_trap);
    TU_RUN(router_vs_gate_proj);
    TU_RUN(anchored_at_start_only);
    TU_RUN(python_syntax);
    TU_RUN(invalid_regex_offset);
    TU_RUN(class_names);
    TU_RUN(module_names);
    return TU_END();
}
