/* test_model.c — model loading: the fixture, the fused expert layout,
 * metadata-only configs of real releases, other architecture rows, dtypes. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "base/dtype.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "tu.h"

static struct qt_model *open_ok(const char *path) {
    struct qt_model *m = NULL;
    qt_err err = {{0}};
    if (qt_model_open(path, &m, &err) != QT_OK) printf("  open %s: %s\n", path, err.msg);
    return m;
}

TU_TEST(fixture_summary) {
    struct qt_model *m = open_ok(tu_path("share/models/tiny-glm-moe"));
    TU_CHECK(m != NULL);
    if (!m) return;
    TU_CHECK(!strcmp(m->cfg.model_type, "glm4_moe"));
    TU_CHECK(m->known_arch && !m->metadata_only && !m->fused_experts);
    TU_CHECK(m->n_tensors == 279);
    TU_CHECK(m->cfg.n_layers == 4 && m->cfg.n_mtp == 1 && m->cfg.n_experts == 16);
    TU_CHECK(m->cfg.head_dim == 32 && m->cfg.n_kv_heads == 2 && m->cfg.top_k == 4);
    TU_NEAR(m->cfg.partial_rotary, 0.5, 0);
    TU_NEAR(m->cfg.routed_scaling, 2.5, 0);
    TU_CHECK(m->n_files == 4);
    /* 10.47M parameters in the main model */
    TU_CHECK(qt_model_params(m, 0) > 10400000 && qt_model_params(m, 0) < 10500000);
    int linear_main = 0, mtp = 0, experts = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->mtp) { mtp++; TU_CHECK(t->layer == 4); }
        if (t->expert >= 0) experts++;
        if (!t->mtp && t->layer >= 0 && qt_role_is_linear(t->role)) linear_main++;
        TU_CHECK(t->role != QT_ROLE_OTHER);
    }
    TU_CHECK(linear_main == 172);   /* the refs' tensors_quantized */
    TU_CHECK(mtp == 70);
    TU_CHECK(experts == 4 * 16 * 3);
    qt_model_free(m);
}

TU_TEST(fixture_roles_and_groups) {
    struct qt_model *m = open_ok(tu_path("share/models/tiny-glm-moe"));
    if (!m) { TU_CHECK(0); return; }
    static const struct { const char *name; enum qt_role role; int layer, expert, mtp; const char *group; } cases[] = {
        {"model.embed_tokens.weight", QT_ROLE_EMBED, -1, -1, 0, NULL},
        {"lm_head.weight", QT_ROLE_LM_HEAD, -1, -1, 0, NULL},
        {"model.norm.weight", QT_ROLE_FINAL_NORM, -1, -1, 0, NULL},
        {"model.layers.0.self_attn.q_proj.weight", QT_ROLE_ATTN_Q, 0, -1, 0, "model.layers.0.self_attn.qkv_proj"},
        {"model.layers.0.self_attn.v_proj.bias", QT_ROLE_ATTN_V_BIAS, 0, -1, 0, NULL},
        {"model.layers.0.self_attn.k_norm.weight", QT_ROLE_ATTN_K_NORM, 0, -1, 0, NULL},
        {"model.layers.0.self_attn.o_proj.weight", QT_ROLE_ATTN_O, 0, -1, 0, NULL},
        {"model.layers.0.mlp.up_proj.weight", QT_ROLE_MLP_UP, 0, -1, 0, "model.layers.0.mlp.gate_up_proj"},
        {"model.layers.0.mlp.down_proj.weight", QT_ROLE_MLP_DOWN, 0, -1, 0, NULL},
        {"model.layers.2.mlp.gate.weight", QT_ROLE_ROUTER, 2, -1, 0, NULL},
        {"model.layers.2.mlp.gate.e_score_correction_bias", QT_ROLE_ROUTER_BIAS, 2, -1, 0, NULL},
        {"model.layers.3.mlp.experts.15.down_proj.weight", QT_ROLE_EXPERT_DOWN, 3, 15, 0, "model.layers.3.mlp.experts"},
        {"model.layers.1.mlp.shared_experts.gate_proj.weight", QT_ROLE_SHARED_GATE, 1, -1, 0,
         "model.layers.1.mlp.shared_experts.gate_up_proj"},
        {"model.layers.4.eh_proj.weight", QT_ROLE_MTP_EH_PROJ, 4, -1, 1, NULL},
        {"model.layers.4.enorm.weight", QT_ROLE_MTP_ENORM, 4, -1, 1, NULL},
        {"model.layers.4.shared_head.head.weight", QT_ROLE_MTP_HEAD, 4, -1, 1, NULL},
        {"model.layers.4.embed_tokens.weight", QT_ROLE_MTP_EMBED, 4, -1, 1, NULL},
        {"model.layers.4.mlp.experts.3.up_proj.weight", QT_ROLE_EXPERT_UP, 4, 3, 1, "model.layers.4.mlp.experts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct qt_tensor *t = qt_model_find(m, cases[i].name);
        TU_CHECKF(t != NULL, "%s", cases[i].name);
        if (!t) continue;
        TU_CHECKF(t->role == cases[i].role, "%s: %s", cases[i].name, qt_role_name(t->role));
        TU_CHECKF(t->layer == cases[i].layer && t->expert == cases[i].expert && t->mtp == cases[i].mtp, "%s", cases[i].name);
        const char *g = t->group >= 0 ? m->groups[t->group].name : NULL;
        TU_CHECKF((g == NULL) == (cases[i].group == NULL) && (!g || !strcmp(g, cases[i].group)), "%s: group %s",
                  cases[i].name, g ? g : "none");
    }
    /* experts group holds all 48 routed-expert tensors of the layer */
    const struct qt_tensor *t = qt_model_find(m, "model.layers.1.mlp.experts.0.gate_proj.weight");
    TU_CHECK(t && t->group >= 0 && m->groups[t->group].n_members == 48);
    qt_model_free(m);
}

TU_TEST(fixture_read_rows) {
    struct qt_model *m = open_ok(tu_path("share/models/tiny-glm-moe"));
    if (!m) { TU_CHECK(0); return; }
    const struct qt_tensor *t = qt_model_find(m, "model.layers.1.mlp.experts.7.down_proj.weight");
    TU_CHECK(t && t->dtype == QT_DT_BF16 && t->shape[0] == 256 && t->shape[1] == 128);
    float *rows = malloc(3 * 128 * sizeof(float));
    qt_err err;
    TU_CHECK(qt_tensor_read_f32(m, t, 10, 3, rows, &err) == QT_OK);
    const uint16_t *raw = t->data;
    int same = 1;
    for (int i = 0; i < 3 * 128; i++) same &= rows[i] == qt_bf16_to_f32(raw[10 * 128 + i]);
    TU_CHECK(same);
    TU_CHECK(qt_tensor_read_f32(m, t, 255, 2, rows, &err) == QT_ERR);
    const struct qt_tensor *b = qt_model_find(m, "model.layers.1.mlp.gate.e_score_correction_bias");
    TU_CHECK(b && b->dtype == QT_DT_F32);
    TU_CHECK(qt_tensor_read_f32(m, b, 0, 1, rows, &err) == QT_OK);
    free(rows);
    qt_model_free(m);
}

/* Writes the fixture with each layer's experts as 3-D gate_up_proj [E, 2I, H]
 * (gate rows first) and down_proj [E, H, I], reopens it, and compares every
 * per-expert tensor byte for byte with the per-expert original. */
TU_TEST(fused_expert_layout) {
    struct qt_model *m = open_ok(tu_path("share/models/tiny-glm-moe"));
    if (!m) { TU_CHECK(0); return; }
    const char *dir = tu_tmpdir("fused");
    struct qt_st_write_tensor *w = calloc((size_t)m->n_tensors, sizeof *w);
    uint8_t *bufs[16] = {0};
    int nw = 0, nb = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->expert >= 0) {
            if (t->expert != 0 || t->role != QT_ROLE_EXPERT_GATE) continue;
            /* first expert tensor of the layer: emit both fused tensors */
            int L = t->layer, E = m->cfg.n_experts;
            int64_t I = t->shape[0], H = t->shape[1];
            size_t sz = (size_t)I * (size_t)H * 2;
            uint8_t *gu = malloc((size_t)E * 2 * sz), *dn = malloc((size_t)E * sz);
            char nm[256];
            for (int e = 0; e < E; e++) {
                snprintf(nm, sizeof nm, "model.layers.%d.mlp.experts.%d.gate_proj.weight", L, e);
                memcpy(gu + (size_t)e * 2 * sz, qt_model_find(m, nm)->data, sz);
                snprintf(nm, sizeof nm, "model.layers.%d.mlp.experts.%d.up_proj.weight", L, e);
                memcpy(gu + (size_t)e * 2 * sz + sz, qt_model_find(m, nm)->data, sz);
                snprintf(nm, sizeof nm, "model.layers.%d.mlp.experts.%d.down_proj.weight", L, e);
                memcpy(dn + (size_t)e * sz, qt_model_find(m, nm)->data, sz);
            }
            static char names[16][2][96];
            snprintf(names[nb / 2][0], 96, "model.layers.%d.mlp.experts.gate_up_proj", L);
            snprintf(names[nb / 2][1], 96, "model.layers.%d.mlp.experts.down_proj", L);
            w[nw++] = (struct qt_st_write_tensor){names[nb / 2][0], QT_DT_BF16, 3, {E, 2 * I, H}, gu, (uint64_t)E * 2 * sz};
            w[nw++] = (struct qt_st_write_tensor){names[nb / 2][1], QT_DT_BF16, 3, {E, H, I}, dn, (uint64_t)E * sz};
            bufs[nb++] = gu;
            bufs[nb++] = dn;
            continue;
        }
        w[nw++] = (struct qt_st_write_tensor){t->name, t->dtype, t->ndim, {t->shape[0], t->shape[1], t->shape[2]},
                                               t->data, t->nbytes};
    }
    char path[4200], cmd[9000];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qt_err err = {{0}};
    TU_CHECKF(qt_st_write(path, w, nw, "{\"format\":\"pt\"}", &err) == QT_OK, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/config.json'", tu_path("share/models/tiny-glm-moe/config.json"), dir);
    TU_CHECK(system(cmd) == 0);
    struct qt_model *f = open_ok(dir);
    TU_CHECK(f != NULL);
    if (f) {
        TU_CHECK(f->fused_experts);
        TU_CHECK(f->n_tensors == m->n_tensors);
        int compared = 0, equal = 1;
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_tensor *a = &m->tensors[i], *b = qt_model_find(f, a->name);
            if (!b) { equal = 0; printf("  missing %s\n", a->name); continue; }
            if (a->expert < 0) continue;
            compared++;
            if (b->role != a->role || b->expert != a->expert || b->layer != a->layer || b->group < 0 ||
                b->shape[0] != a->shape[0] || b->shape[1] != a->shape[1] || b->nbytes != a->nbytes ||
                memcmp(a->data, b->data, a->nbytes) != 0 || !b->source) {
                equal = 0;
                printf("  differs: %s\n", a->name);
            }
        }
        TU_CHECK(compared == 4 * 16 * 3);
        TU_CHECK(equal);
        qt_model_free(f);
    }
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(w);
    qt_model_free(m);
}

static double params_b(const char *cfg) {
    struct qt_model *m = open_ok(tu_path(cfg));
    if (!m) return -1;
    double p = (double)qt_model_params(m, 0) / 1e9;
    int meta = m->metadata_only;
    qt_model_free(m);
    return meta ? p : -1;
}

TU_TEST(metadata_release_sizes) {
    /* published sizes, MTP layer excluded, within 1% */
    TU_NEAR(params_b("share/models/meta/GLM-4.5-Air.config.json"), 106.0, 1.06);
    TU_NEAR(params_b("share/models/meta/GLM-4.5.config.json"), 353.0, 3.53);
    TU_NEAR(params_b("share/models/meta/GLM-4.6.config.json"), 353.0, 3.53);
    TU_NEAR(params_b("share/models/meta/GLM-4.7.config.json"), 353.0, 3.53);
    TU_NEAR(params_b("share/models/meta/GLM-5.config.json"), 744.0, 7.44);
    struct qt_model *m = open_ok(tu_path("share/models/meta/GLM-4.6.config.json"));
    if (m) {
        TU_CHECK(m->n_tensors > 44000 && m->n_tensors < 46000);
        const struct qt_tensor *t = qt_model_find(m, "model.layers.92.eh_proj.weight");
        TU_CHECK(t && t->mtp && t->shape[0] == 5120 && t->shape[1] == 10240);
        t = qt_model_find(m, "model.layers.3.mlp.experts.159.down_proj.weight");
        TU_CHECK(t && t->data == NULL && t->shape[0] == 5120 && t->shape[1] == 1536);
        /* head_dim is 128 from the config, not 5120/96 */
        t = qt_model_find(m, "model.layers.0.self_attn.q_proj.weight");
        TU_CHECK(t && t->shape[0] == 96 * 128);
        float x;
        qt_err err;
        TU_CHECK(qt_tensor_read_f32(m, t, 0, 1, &x, &err) == QT_ERR && strstr(err.msg, "config only"));
        qt_model_free(m);
    }
    m = open_ok(tu_path("share/models/meta/GLM-5.config.json"));
    if (m) {
        TU_CHECK(qt_model_find(m, "model.layers.10.self_attn.indexer.wq_b.weight") != NULL);
        const struct qt_tensor *t = qt_model_find(m, "model.layers.10.self_attn.kv_a_proj_with_mqa.weight");
        TU_CHECK(t && t->shape[0] == 512 + 64 && t->group >= 0);
        TU_CHECK(qt_model_find(m, "model.layers.2.mlp.gate_proj.weight") != NULL);   /* dense prefix of 3 */
        TU_CHECK(qt_model_find(m, "model.layers.3.mlp.experts.255.up_proj.weight") != NULL);
        qt_model_free(m);
    }
}

static struct qt_model *from_text(const char *name, const char *json) {
    const char *dir = tu_tmpdir(name);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    return open_ok(dir);
}

TU_TEST(config_rope_parameters_layout) {
    struct qt_model *m = from_text("rope5",
        "{\"model_type\":\"glm4_moe\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"num_key_value_heads\":2,\"head_dim\":16,\"vocab_size\":100,\"intermediate_size\":96,"
        "\"moe_intermediate_size\":32,\"n_routed_experts\":4,\"num_experts_per_tok\":2,\"first_k_dense_replace\":1,"
        "\"num_nextn_predict_layers\":0,\"attention_bias\":true,"
        "\"rope_parameters\":{\"rope_theta\":500000.0,\"partial_rotary_factor\":0.5,\"rope_type\":\"default\"}}");
    TU_CHECK(m != NULL);
    if (!m) return;
    TU_NEAR(m->cfg.rope_theta, 500000.0, 0);
    TU_NEAR(m->cfg.partial_rotary, 0.5, 0);
    TU_CHECK(m->cfg.n_shared_experts == 1);
    /* embed, norm, lm_head; L0: 2 norms + 4 proj + 3 bias + 3 mlp; L1: 2+4+3 + router 2 + 12 + 3 */
    TU_CHECK(m->n_tensors == 3 + 12 + 26);
    qt_model_free(m);
}

TU_TEST(other_architectures) {
    static const struct { const char *name, *json; int n; const char *probe; } cases[] = {
        {"llama", "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"num_key_value_heads\":2,\"vocab_size\":100,\"intermediate_size\":96}",
         3 + 2 * 9, "model.layers.1.mlp.down_proj.weight"},
        {"qwen2", "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"num_key_value_heads\":2,\"vocab_size\":100,\"intermediate_size\":96,\"tie_word_embeddings\":true}",
         2 + 2 * 12, "model.layers.0.self_attn.k_proj.bias"},
        {"qwen3", "{\"model_type\":\"qwen3\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"num_key_value_heads\":2,\"head_dim\":32,\"vocab_size\":100,\"intermediate_size\":96}",
         3 + 2 * 11, "model.layers.1.self_attn.q_norm.weight"},
        {"qwen3_moe", "{\"model_type\":\"qwen3_moe\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                      "\"num_key_value_heads\":2,\"head_dim\":16,\"vocab_size\":100,\"intermediate_size\":96,"
                      "\"moe_intermediate_size\":32,\"num_experts\":8,\"num_experts_per_tok\":2}",
         3 + 2 * (8 + 1 + 24), "model.layers.1.mlp.experts.7.down_proj.weight"},
        {"mixtral", "{\"model_type\":\"mixtral\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                    "\"num_key_value_heads\":2,\"vocab_size\":100,\"intermediate_size\":96,\"num_local_experts\":4,"
                    "\"num_experts_per_tok\":2}",
         3 + 2 * (6 + 1 + 12), "model.layers.1.block_sparse_moe.experts.3.w2.weight"},
        {"dsv3", "{\"model_type\":\"deepseek_v3\",\"hidden_size\":64,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
                 "\"vocab_size\":100,\"intermediate_size\":96,\"moe_intermediate_size\":32,\"n_routed_experts\":4,"
                 "\"num_experts_per_tok\":2,\"first_k_dense_replace\":1,\"q_lora_rank\":48,\"kv_lora_rank\":32,"
                 "\"qk_nope_head_dim\":16,\"qk_rope_head_dim\":8,\"v_head_dim\":16,\"num_nextn_predict_layers\":1}",
         3 + (9 + 3) + 3 * (9 + 2 + 12 + 3) + 6, "model.layers.3.shared_head.head.weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qt_model *m = from_text(cases[i].name, cases[i].json);
        TU_CHECKF(m != NULL, "%s", cases[i].name);
        if (!m) continue;
        TU_CHECKF(m->n_tensors == cases[i].n, "%s: %d tensors, expected %d", cases[i].name, m->n_tensors, cases[i].n);
        const struct qt_tensor *t = qt_model_find(m, cases[i].probe);
        TU_CHECKF(t != NULL && t->role != QT_ROLE_OTHER, "%s: %s", cases[i].name, cases[i].probe);
        for (int k = 0; k < m->n_tensors; k++)
            TU_CHECKF(m->tensors[k].role != QT_ROLE_OTHER, "%s: %s", cases[i].name, m->tensors[k].name);
        qt_model_free(m);
    }
}

TU_TEST(unknown_architecture_guesses_roles) {
    const char *dir = tu_tmpdir("unknown");
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\":\"mystery\",\"hidden_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
          "\"vocab_size\":16}", f);
    fclose(f);
    uint16_t d[16 * 8] = {0};
    struct qt_st_write_tensor w[] = {
        {"model.embed_tokens.weight", QT_DT_BF16, 2, {16, 8}, d, sizeof d},
        {"model.layers.0.attn.c_proj.weight", QT_DT_BF16, 2, {8, 8}, d, 128},
        {"model.layers.0.self_attn.q_proj.weight", QT_DT_BF16, 2, {8, 8}, d, 128},
        {"model.layers.0.ln_1.norm.weight", QT_DT_BF16, 1, {8}, d, 16},
        {"lm_head.weight", QT_DT_BF16, 2, {16, 8}, d, sizeof d},
    };
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qt_err err;
    TU_CHECK(qt_st_write(path, w, 5, NULL, &err) == QT_OK);
    struct qt_model *m = open_ok(dir);
    TU_CHECK(m && !m->known_arch);
    if (!m) return;
    TU_CHECK(qt_model_find(m, "model.layers.0.attn.c_proj.weight")->role == QT_ROLE_LINEAR);
    TU_CHECK(qt_model_find(m, "model.layers.0.self_attn.q_proj.weight")->role == QT_ROLE_ATTN_Q);
    TU_CHECK(qt_model_find(m, "model.layers.0.ln_1.norm.weight")->role == QT_ROLE_NORM);
    TU_CHECK(qt_model_find(m, "lm_head.weight")->role == QT_ROLE_LM_HEAD);
    TU_CHECK(qt_model_find(m, "model.embed_tokens.weight")->role == QT_ROLE_EMBED);
    qt_model_free(m);
}

TU_TEST(fp8_source_dequantized) {
    const char *dir = tu_tmpdir("fp8src");
    /* 4x4 e4m3 weight of value 1.0 (0x38), per-channel scales 0.5,1,2,4 */
    uint8_t w8[16];
    memset(w8, 0x38, sizeof w8);
    float sc[4] = {0.5f, 1, 2, 4};
    uint8_t b8[256 * 2];
    memset(b8, 0x40, sizeof b8);   /* 2.0 */
    float binv[2] = {0.25f, 8.0f};  /* blocks of 128 columns */
    struct qt_st_write_tensor w[] = {
        {"model.layers.0.mlp.down_proj.weight", QT_DT_F8_E4M3, 2, {4, 4}, w8, 16},
        {"model.layers.0.mlp.down_proj.weight_scale", QT_DT_F32, 2, {4, 1}, sc, 16},
        {"model.layers.0.mlp.up_proj.weight", QT_DT_F8_E4M3, 2, {2, 256}, b8, sizeof b8},
        {"model.layers.0.mlp.up_proj.weight_scale_inv", QT_DT_F32, 2, {1, 2}, binv, 8},
    };
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qt_err err;
    TU_CHECK(qt_st_write(path, w, 4, NULL, &err) == QT_OK);
    struct qt_model *m = open_ok(path);
    if (!m) { TU_CHECK(0); return; }
    float out[512];
    const struct qt_tensor *t = qt_model_find(m, "model.layers.0.mlp.down_proj.weight");
    TU_CHECK(t && t->scale >= 0);
    TU_CHECK(qt_tensor_read_f32(m, t, 0, 4, out, &err) == QT_OK);
    TU_CHECK(out[0] == 0.5f && out[4] == 1.0f && out[11] == 2.0f && out[15] == 4.0f);
    t = qt_model_find(m, "model.layers.0.mlp.up_proj.weight");
    TU_CHECK(t && t->scale_inv);
    TU_CHECK(qt_tensor_read_f32(m, t, 1, 1, out, &err) == QT_OK);
    TU_CHECK(out[0] == 0.5f && out[127] == 0.5f && out[128] == 16.0f && out[255] == 16.0f);
    qt_model_free(m);
}

TU_TEST(dtype_conversions) {
    TU_CHECK(qt_bf16_to_f32(0x3f80) == 1.0f);
    TU_CHECK(qt_f32_to_bf16(1.0f) == 0x3f80);
    /* ties to even: 1 + 2^-8 is halfway between 1 and 1+2^-7 -> 1 */
    TU_CHECK(qt_f32_to_bf16(1.00390625f) == 0x3f80);
    TU_CHECK(qt_f32_to_bf16(1.01171875f) == 0x3f82);
    TU_CHECK(qt_f16_to_f32(0x3c00) == 1.0f && qt_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    TU_CHECK(qt_f32_to_f16(65504.0f) == 0x7bff && qt_f32_to_f16(1.0f) == 0x3c00);
    TU_CHECK(qt_fp8e4m3_to_f32(0x7e) == 448.0f && qt_fp8e4m3_to_f32(0x01) == 0.001953125f);
    TU_CHECK(qt_fp8e4m3_to_f32(0xb8) == -1.0f);
    TU_CHECK(qt_fp8e5m2_to_f32(0x3c) == 1.0f && qt_fp8e5m2_to_f32(0x7b) == 57344.0f);
    TU_CHECK(qt_f32_to_fp8e4m3(1000.0f) == 0x7e && qt_f32_to_fp8e4m3(-1.0f) == 0xb8);
    /* every finite e4m3 value round-trips */
    int ok = 1;
    for (int b = 0; b < 256; b++) {
        if ((b & 0x7f) == 0x7f) continue;
        uint8_t r = qt_f32_to_fp8e4m3(qt_fp8e4m3_to_f32((uint8_t)b));
        if (r != b && !(b == 0x80 && r == 0x80)) ok = 0;
    }
    TU_CHECK(ok);
    int8_t i8[2] = {-3, 7};
    int64_t i64[2] = {-5, 1LL << 40};
    float f[2];
    qt_dtype_to_f32(QT_DT_I8, i8, f, 2);
    TU_CHECK(f[0] == -3 && f[1] == 7);
    qt_dtype_to_f32(QT_DT_I64, i64, f, 2);
    TU_CHECK(f[0] == -5 && f[1] == 1099511627776.0f);
    for (int d = 0; d < QT_DT_COUNT; d++) TU_CHECK(qt_dtype_parse(qt_dtype_name((enum qt_dtype)d)) == d);
    TU_CHECK(qt_dtype_parse("F4") == QT_DT_UNKNOWN);
}

/* Pages of t's bytes in the page cache, and how many there are. */
static size_t resident_pages(const struct qt_tensor *t, size_t *total) {
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data, lo = a & ~(uintptr_t)(pg - 1);
    size_t len = (size_t)(a - lo) + (size_t)t->nbytes, np = (len + (size_t)pg - 1) / (size_t)pg, n = 0;
    unsigned char *v = malloc(np);
    *total = np;
    if (!v || mincore((void *)lo, len, v) != 0) { free(v); return (size_t)-1; }
    for (size_t i = 0; i < np; i++) n += v[i] & 1;
    free(v);
    return n;
}

/* qt_tensor_prefetch / qt_model_prefetch_layer (the read-ahead hints of the
 * sequential passes) bring a layer's pages in before they are touched: a
 * copy of the fixture, its pages dropped from the page cache, then the hint
 * and mincore() until they are resident (a generous bound: the hint is
 * asynchronous).  Where the kernel keeps the pages despite the drop (the
 * copy is still being written back), the check cannot tell and says SKIP. */
TU_TEST(prefetch_reads_ahead) {
    const char *base = getenv("QTUNE_TEST_OUT");
    char dir[2048], cmd[9000];
    snprintf(dir, sizeof dir, "%.1900s/prefetch.%d", base ? base : "/tmp", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s'/* '%s'/ && sync", dir, dir,
             tu_path("share/models/tiny-glm-moe"), dir);
    TU_CHECK(system(cmd) == 0);
    struct qt_model *m = open_ok(dir);
    if (!m) return;
    for (int k = 1; k <= 4; k++) {   /* drop the copy's pages (the open read some ahead) */
        char f[2200];
        snprintf(f, sizeof f, "%s/model-0000%d-of-00004.safetensors", dir, k);
        int fd = open(f, O_RDONLY);
        TU_CHECK(fd >= 0);
        if (fd >= 0) {
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    /* layer 2's tensors: the routed experts and attention of one layer */
    size_t before = 0, total = 0, tot_all = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].layer == 2 && m->tensors[i].nbytes >= 16384) {
            size_t r = resident_pages(&m->tensors[i], &total);
            TU_CHECK(r != (size_t)-1);
            before += r;
            tot_all += total;
        }
    TU_CHECK(tot_all > 100);
    if (before * 2 > tot_all) {
        printf("SKIP prefetch_reads_ahead: %zu of %zu pages stayed cached after POSIX_FADV_DONTNEED\n", before, tot_all);
    } else {
        qt_model_prefetch_layer(m, 2);
        size_t after = 0;
        struct timespec ts = {0, 20 * 1000 * 1000}, t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {   /* until resident, or a deadline of 60 s */
            after = 0;
            for (int i = 0; i < m->n_tensors; i++)
                if (m->tensors[i].layer == 2 && m->tensors[i].nbytes >= 16384) after += resident_pages(&m->tensors[i], &total);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (after * 10 >= tot_all * 9 || (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec) > 60.0)
                break;
            nanosleep(&ts, NULL);
        }
        TU_CHECKF(after * 10 >= tot_all * 9, "%zu of %zu pages resident after the hint (%zu before)", after, tot_all, before);
        /* the hint is only that: nothing read, nothing changed */
        float row[64];
        qt_err err = {{0}};
        const struct qt_tensor *t = qt_model_find(m, "model.layers.2.self_attn.q_proj.weight");
        TU_CHECK(t && qt_tensor_read_f32(m, t, 0, 1, row, &err) == QT_OK);
    }
    qt_model_prefetch_layer(m, -1);            /* out of range: nothing */
    qt_model_prefetch_layer(m, 1000);
    qt_tensor_prefetch(NULL);
    qt_model_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TU_CHECK(system(cmd) == 0);
}

int main(void) {
    TU_RUN(fixture_summary);
    TU_RUN(fixture_roles_and_groups);
    TU_RUN(fixture_read_rows);
    TU_RUN(fused_expert_layout);
    TU_RUN(metadata_release_sizes);
    TU_RUN(config_rope_parameters_layout);
    TU_RUN(other_architectures);
    TU_RUN(unknown_architecture_guesses_roles);
    TU_RUN(fp8_source_dequantized);
    TU_RUN(dtype_conversions);
    TU_RUN(prefetch_reads_ahead);
    return TU_END();
}
