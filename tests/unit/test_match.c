/* test_match.c — compressed-tensors matching: re.match semantics (anchored
 * at the start only), the classic traps, class names, invalid regexes. */
#include <stdio.h>
#include <string.h>

#include "model/match.h"
#include "tu.h"

/* The model whose classes m1 matches against (only its config is read). */
static struct qt_model model = {.cfg = {.model_type = "glm4_moe", .architecture = "Glm4MoeForCausalLM"}};

/* 1 when pattern text matches module (role as given) of `model`. */
static int m1(const char *pat, const char *module, enum qt_role role) {
    struct qt_pattern p;
    qt_err err = {{0}};
    if (qt_pattern_compile(pat, &p, &err) != QT_OK) { printf("  compile %s: %s\n", pat, err.msg); return -1; }
    struct qt_mclass cls;
    qt_model_classes(&model, role, &cls);
    int r = qt_pattern_match(&p, module, &cls, NULL) != QT_MATCH_NONE;
    qt_pattern_free(&p);
    return r;
}

static void use_model(const char *type, const char *arch) {
    snprintf(model.cfg.model_type, sizeof model.cfg.model_type, "%s", type);
    snprintf(model.cfg.architecture, sizeof model.cfg.architecture, "%s", arch);
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
    TU_CHECK(qt_pattern_match(&p, "model.layers.0.mlp.gate_proj", NULL, &end) == QT_MATCH_REGEX);
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
    struct qt_mclass lin;
    qt_model_classes(&model, QT_ROLE_LM_HEAD, &lin);
    TU_CHECK(qt_pattern_compile("lm_head", &p, &err) == QT_OK);
    TU_CHECK(qt_pattern_match(&p, "lm_head", &lin, NULL) == QT_MATCH_EXACT);
    qt_pattern_free(&p);
    TU_CHECK(qt_pattern_compile("Linear", &p, &err) == QT_OK);
    TU_CHECK(qt_pattern_match(&p, "lm_head", &lin, NULL) == QT_MATCH_CLASS);
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


/* compressed-tensors' _match_class: a class-name target matches a module
 * when it names a class in the module's MRO, by the exact name, as
 * transformers builds each architecture. */
TU_TEST(class_hierarchy) {
    use_model("glm4_moe", "Glm4MoeForCausalLM");
    /* names that only look right do not match: no suffix matching */
    TU_CHECK(m1("RMSNorm", "model.norm", QT_ROLE_FINAL_NORM) == 0);   /* Glm4MoeRMSNorm is no nn.RMSNorm */
    TU_CHECK(m1("LlamaRMSNorm", "model.layers.0.input_layernorm", QT_ROLE_NORM) == 0);
    TU_CHECK(m1("DeepseekV3TopkRouter", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 0);
    TU_CHECK(m1("MoEGate", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 0);
    TU_CHECK(m1("LayerNorm", "model.layers.0.input_layernorm", QT_ROLE_NORM) == 0);
    TU_CHECK(m1("Glm4MoeRMSNorm", "model.layers.0.self_attn.q_norm", QT_ROLE_ATTN_Q_NORM) == 1);
    TU_CHECK(m1("Glm4MoeTopkRouter", "model.layers.3.mlp.gate", QT_ROLE_ROUTER_BIAS) == 1);
    /* containers hold no weight of their own: no tensor is theirs */
    static const char *const containers[] = {"Glm4MoeMLP", "Glm4MoeMoE", "Glm4MoeDecoderLayer",
                                             "Glm4MoeAttention", "GradientCheckpointingLayer"};
    for (size_t i = 0; i < sizeof containers / sizeof containers[0]; i++) {
        TU_CHECK(m1(containers[i], "model.layers.3.mlp.experts.5.down_proj", QT_ROLE_EXPERT_DOWN) == 0);
        TU_CHECK(m1(containers[i], "model.layers.0.self_attn.q_proj", QT_ROLE_ATTN_Q) == 0);
    }
    /* a bias is its Linear's */
    TU_CHECK(m1("Linear", "model.layers.0.self_attn.q_proj", QT_ROLE_ATTN_Q_BIAS) == 1);
    TU_CHECK(m1("Embedding", "model.layers.92.embed_tokens", QT_ROLE_MTP_EMBED) == 1);
    /* qwen3_moe and mixtral: the router is an nn.Linear, so Linear takes it */
    use_model("qwen3_moe", "Qwen3MoeForCausalLM");
    TU_CHECK(m1("Linear", "model.layers.1.mlp.gate", QT_ROLE_ROUTER) == 1);
    TU_CHECK(m1("Glm4MoeTopkRouter", "model.layers.1.mlp.gate", QT_ROLE_ROUTER) == 0);
    TU_CHECK(m1("Qwen3MoeRMSNorm", "model.norm", QT_ROLE_FINAL_NORM) == 1);
    TU_CHECK(m1("Glm4MoeRMSNorm", "model.norm", QT_ROLE_FINAL_NORM) == 0);
    use_model("mixtral", "");   /* no architectures: the table's prefix */
    TU_CHECK(m1("Linear", "model.layers.1.block_sparse_moe.gate", QT_ROLE_ROUTER) == 1);
    TU_CHECK(m1("MixtralRMSNorm", "model.norm", QT_ROLE_FINAL_NORM) == 1);
    use_model("deepseek_v3", "DeepseekV3ForCausalLM");
    TU_CHECK(m1("DeepseekV3TopkRouter", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 1);
    TU_CHECK(m1("Linear", "model.layers.3.mlp.gate", QT_ROLE_ROUTER) == 0);
    TU_CHECK(m1("DeepseekV3RMSNorm", "model.layers.0.self_attn.kv_a_layernorm", QT_ROLE_ATTN_KV_A_NORM) == 1);
    use_model("glm_moe_dsa", "GlmMoeDsaForCausalLM");
    TU_CHECK(m1("LayerNorm", "model.layers.0.self_attn.indexer.k_norm", QT_ROLE_INDEXER_K_NORM) == 1);
    TU_CHECK(m1("GlmMoeDsaRMSNorm", "model.layers.0.input_layernorm", QT_ROLE_NORM) == 1);
    /* vLLM's LinearBase counts as Linear; every module is a Module */
    struct qt_mclass vl = {2, {"LinearBase", "Module"}};
    TU_CHECK(qt_class_in("Linear", &vl) && qt_class_in("Module", &vl) && !qt_class_in("LinearBase2", &vl));
    struct qt_mclass none;
    qt_model_classes(NULL, QT_ROLE_NORM, &none);
    TU_CHECK(none.n == 1 && !strcmp(none.name[0], "Module"));
    use_model("glm4_moe", "Glm4MoeForCausalLM");
}

int main(void) {
    TU_RUN(layer_prefix_trap);
    TU_RUN(router_vs_gate_proj);
    TU_RUN(anchored_at_start_only);
    TU_RUN(python_syntax);
    TU_RUN(invalid_regex_offset);
    TU_RUN(class_names);
    TU_RUN(class_hierarchy);
    TU_RUN(module_names);
    return TU_END();
}
