/* test_gguf.c — GGUF names, the type plan (llama-quantize's rules on the
 * fixture), the writer (keys, stacked experts, quantized bytes, splits,
 * atomic output) read back by the reader, and imatrix files. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tu.h"
#include "io/gguf_write.h"
#include "model/gguf.h"
#include "model/model.h"
#include "quant/ggml_quants.h"
#include "recipe/gguf_plan.h"

static struct qt_model *fixture(void) {
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) printf("  %s\n", err.msg);
    return m;
}

TU_TEST(gguf_names) {
    static const char *const pairs[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"lm_head.weight", "output.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias"},
        {"model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight"},
        {"model.layers.0.post_attention_layernorm.weight", "blk.0.post_attention_norm.weight"},
        {"model.layers.1.mlp.gate.weight", "blk.1.ffn_gate_inp.weight"},
        {"model.layers.1.mlp.gate.e_score_correction_bias", "blk.1.exp_probs_b.bias"},
        {"model.layers.1.mlp.shared_experts.down_proj.weight", "blk.1.ffn_down_shexp.weight"},
        {"model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight"},
        {"model.layers.4.eh_proj.weight", "blk.4.nextn.eh_proj.weight"},
        {"model.layers.4.shared_head.head.weight", "blk.4.nextn.shared_head_head.weight"},
        {"model.layers.4.enorm.weight", "blk.4.nextn.enorm.weight"},
    };
    char b[128], h[128];
    int e;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        TU_CHECK(qt_gguf_name_from_hf(pairs[i][0], b, sizeof b, &e) == 0 && !strcmp(b, pairs[i][1]) && e == -1);
        TU_CHECK(qt_gguf_name_to_hf(pairs[i][1], -1, h, sizeof h) == 0 && !strcmp(h, pairs[i][0]));
    }
    TU_CHECK(qt_gguf_name_from_hf("model.layers.3.mlp.experts.11.down_proj.weight", b, sizeof b, &e) == 0);
    TU_CHECK(!strcmp(b, "blk.3.ffn_down_exps.weight") && e == 11);
    TU_CHECK(qt_gguf_name_is_stacked(b));
    TU_CHECK(qt_gguf_name_to_hf(b, 11, h, sizeof h) == 0 && !strcmp(h, "model.layers.3.mlp.experts.11.down_proj.weight"));
    TU_CHECK(qt_gguf_name_from_hf("model.layers.1.mlp.experts.2.weird_proj.weight", b, sizeof b, &e) == -1);
    TU_CHECK(qt_gguf_name_from_hf("transformer.h.0.attn.weight", b, sizeof b, &e) == -1);
}

static const struct qt_gguf_out *find_out(const struct qt_gguf_plan *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

/* llama-quantize Q4_K_M on the fixture (5 blocks with the MTP layer,
 * 16 experts, n_gqa 4): use_more_bits(i, 5) holds for blocks 2 and 4, so
 * attn_v and every ffn_down there are Q6_K; rows of 128 (expert and shared
 * down projections) do not fit 256-blocks: Q4_K -> Q5_0, Q6_K -> Q8_0. */
TU_TEST(gguf_plan_q4_k_m) {
    struct qt_model *m = fixture();
    TU_CHECK(m != NULL);
    if (!m) return;
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    qt_err err;
    TU_CHECK(qt_gguf_spec_from_ftype("Q4_K_M", &s, &err) == QT_OK);
    TU_CHECK(qt_gguf_plan_build(m, &s, 0, &p, &err) == QT_OK);
    static const struct { const char *n; int t; } want[] = {
        {"output.weight", QT_GGML_Q6_K}, {"token_embd.weight", QT_GGML_Q4_K}, {"output_norm.weight", QT_GGML_F32},
        {"blk.0.attn_v.weight", QT_GGML_Q4_K}, {"blk.2.attn_v.weight", QT_GGML_Q6_K}, {"blk.4.attn_v.weight", QT_GGML_Q6_K},
        {"blk.0.ffn_down.weight", QT_GGML_Q4_K}, {"blk.2.ffn_down_shexp.weight", QT_GGML_Q8_0},
        {"blk.1.ffn_down_exps.weight", QT_GGML_Q5_0}, {"blk.2.ffn_down_exps.weight", QT_GGML_Q8_0},
        {"blk.1.ffn_gate_exps.weight", QT_GGML_Q4_K}, {"blk.1.ffn_gate_inp.weight", QT_GGML_F32},
        {"blk.1.exp_probs_b.bias", QT_GGML_F32}, {"blk.0.attn_q.bias", QT_GGML_F32},
        {"blk.4.nextn.eh_proj.weight", QT_GGML_Q4_K}, {"blk.4.nextn.shared_head_head.weight", QT_GGML_Q4_K},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct qt_gguf_out *o = find_out(&p, want[i].n);
        TU_CHECKF(o && o->type == want[i].t, "%s: %s, want %s", want[i].n, o ? qt_ggml_type_name(o->type) : "missing",
                  qt_ggml_type_name(want[i].t));
    }
    const struct qt_gguf_out *x = find_out(&p, "blk.3.ffn_up_exps.weight");
    TU_CHECK(x && x->ndim == 3 && x->ne[0] == 256 && x->ne[1] == 128 && x->ne[2] == 16 && x->n_src == 16);
    TU_CHECK(p.n == 99 && p.n_fallback == 8 && p.ftype_id == 15);
    /* the loader's order: non-block tensors first, then by block and name */
    TU_CHECK(!strcmp(p.t[0].name, "output.weight") && p.t[3].layer == 0);
    qt_gguf_plan_free(&p);
    /* manual patterns (first match wins), lower-cased as llama-quantize does */
    TU_CHECK(qt_gguf_spec_add_override(&s, "FFN_DOWN_EXPS=Q6_K", &err) == QT_OK);
    TU_CHECK(qt_gguf_spec_add_override(&s, "blk\\.1\\.=Q8_0", &err) == QT_OK);
    TU_CHECK(qt_gguf_plan_build(m, &s, 0, &p, &err) == QT_OK);
    const struct qt_gguf_out *a = find_out(&p, "blk.1.ffn_down_exps.weight"), *b = find_out(&p, "blk.1.attn_q.weight");
    TU_CHECK(a && a->manual && a->wanted == QT_GGML_Q6_K && a->type == QT_GGML_Q8_0);   /* shape fallback still applies */
    TU_CHECK(b && b->type == QT_GGML_Q8_0);
    qt_gguf_plan_free(&p);
    TU_CHECK(qt_gguf_spec_add_override(&s, "x=IQ2_XXS", &err) == QT_ERR && strstr(err.msg, "not one qtune writes"));
    TU_CHECK(qt_gguf_spec_add_override(&s, "(=Q8_0", &err) == QT_ERR && strstr(err.msg, "regular expression"));
    qt_gguf_spec_free(&s);
    TU_CHECK(qt_gguf_spec_from_ftype("Q4_K_X", &s, &err) == QT_ERR && strstr(err.msg, "Q4_K_M"));
    char buf[200];
    TU_CHECK(qt_gguf_lint_type(QT_GGML_Q4_K, 128, buf, sizeof buf) && strstr(buf, "Q5_0"));
    TU_CHECK(qt_gguf_lint_type(QT_GGML_Q4_K, 512, buf, sizeof buf) == NULL);
    TU_CHECK(qt_gguf_fallback(QT_GGML_Q8_0, 48) == QT_GGML_F16);
    qt_model_free(m);
}

TU_TEST(gguf_recipe_section) {
    const char *y = "quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {ignore: [lm_head]}\n"
                    "qtune_gguf:\n  ftype: Q5_K_M\n  tensor_types:\n    - ffn_down=Q8_0\n  output_tensor_type: Q8_0\n";
    struct qt_yaml *root;
    qt_err err;
    TU_CHECK(qt_yaml_load(y, strlen(y), "r.yaml", &root, &err) == QT_OK);
    struct qt_gguf_spec s;
    TU_CHECK(qt_gguf_spec_from_yaml(root, "r.yaml", &s, &err) == QT_OK);
    TU_CHECK(s.ftype && s.ftype->id == 17 && s.n_over == 1 && s.over[0].type == QT_GGML_Q8_0 && s.output_type == QT_GGML_Q8_0);
    qt_gguf_spec_free(&s);
    qt_yaml_free(root);
    const char *bad = "qtune_gguf:\n  ftype: Q4_K_M\n  colour: red\n";
    TU_CHECK(qt_yaml_load(bad, strlen(bad), "b.yaml", &root, &err) == QT_OK);
    TU_CHECK(qt_gguf_spec_from_yaml(root, "b.yaml", &s, &err) == QT_ERR && strstr(err.msg, "b.yaml:3") && strstr(err.msg, "colour"));
    qt_yaml_free(root);
}

static void cancel_progress(void *ud, int64_t done, int64_t total, const char *t) {
    (void)done; (void)total; (void)t;
    *(volatile int *)ud = 1;
}

TU_TEST(gguf_write_read) {
    struct qt_model *m = fixture();
    if (!m) return;
    const char *dir = tu_tmpdir("gguf_write");
    char out[4200];
    snprintf(out, sizeof out, "%s/t.gguf", dir);
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    qt_err err;
    TU_CHECK(qt_gguf_spec_from_ftype("Q8_0", &s, &err) == QT_OK);
    TU_CHECK(qt_gguf_plan_build(m, &s, 0, &p, &err) == QT_OK);
    struct qt_gguf_write_params wp = {.out = out, .threads = 2};
    struct qt_write_result res;
    TU_CHECKF(qt_gguf_write(m, &p, &wp, &res, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(res.n_shards == 1 && res.n_quantized + res.n_kept == 99);
    struct qt_gguf *g = NULL;
    TU_CHECKF(qt_gguf_open(out, &g, &err) == QT_OK, "%s", err.msg);
    if (g) {
        char b[64];
        int64_t v;
        TU_CHECK(g->version == 3 && g->n_tensors == 99);
        TU_CHECK(qt_gguf_get_str(g, "general.architecture", b, sizeof b) && !strcmp(b, "glm4moe"));
        TU_CHECK(qt_gguf_get_i64(g, "glm4moe.block_count", &v) == 0 && v == 5);
        TU_CHECK(qt_gguf_get_i64(g, "glm4moe.nextn_predict_layers", &v) == 0 && v == 1);
        TU_CHECK(qt_gguf_get_i64(g, "glm4moe.expert_gating_func", &v) == 0 && v == 2);
        TU_CHECK(qt_gguf_get_i64(g, "general.file_type", &v) == 0 && v == 7);
        TU_CHECK(qt_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &v) == 0 && v == 8182);
        TU_CHECK(qt_gguf_get_i64(g, "tokenizer.ggml.eot_token_id", &v) == 0 && v == 8187);
        int k = qt_gguf_find(g, "tokenizer.ggml.tokens");
        TU_CHECK(k >= 0 && g->kv[k].n == 8192);
        uint64_t l;
        const char *s8182 = qt_gguf_arr_str(g, k, 8182, &l);
        TU_CHECK(s8182 && l == 7 && !memcmp(s8182, "[gMASK]", 7));
        k = qt_gguf_find(g, "tokenizer.ggml.merges");
        TU_CHECK(k >= 0 && g->kv[k].n == 7924);
        TU_CHECK(qt_gguf_get_str(g, "tokenizer.chat_template", b, sizeof b) && !strncmp(b, "[gMASK]<sop>", 12));
        const struct qt_gguf_tensor *d = qt_gguf_tensor(g, "blk.2.ffn_down_exps.weight");
        TU_CHECK(d && d->ndim == 3 && d->ne[0] == 128 && d->ne[1] == 256 && d->ne[2] == 16 && d->type == QT_GGML_Q8_0);
        /* expert 5's rows, as qtune's quantizer writes them from the source */
        const struct qt_tensor *src = qt_model_find(m, "model.layers.2.mlp.experts.5.down_proj.weight");
        if (d && src) {
            float *x = malloc(256 * 128 * sizeof *x);
            uint8_t *q = malloc(256 * 136);
            TU_CHECK(qt_tensor_read_f32(m, src, 0, 256, x, &err) == QT_OK);
            qt_ggml_quantize(QT_GGML_Q8_0, x, q, 256, 128, NULL);
            TU_CHECK(!memcmp(q, d->data + 5 * 256 * 136, 256 * 136));
            free(x);
            free(q);
        }
        const struct qt_gguf_tensor *r = qt_gguf_tensor(g, "blk.1.ffn_gate_inp.weight");
        TU_CHECK(r && r->type == QT_GGML_F32 && r->ne[0] == 256 && r->ne[1] == 16);
        TU_CHECK(qt_gguf_tensor(g, "blk.4.nextn.eh_proj.weight") && qt_gguf_tensor(g, "blk.4.exp_probs_b.bias"));
        qt_gguf_close(g);
    }
    /* read back as a model: Hugging Face names, dequantized weights */
    struct qt_model *gm = NULL;
    TU_CHECKF(qt_model_open(out, &gm, &err) == QT_OK, "%s", err.msg);
    if (gm) {
        TU_CHECK(gm->n_tensors == m->n_tensors && gm->cfg.n_mtp == 1 && gm->cfg.n_experts == 16 && gm->cfg.hidden == 256);
        const struct qt_tensor *a = qt_model_find(gm, "model.layers.1.mlp.gate.weight"), *b = qt_model_find(m, "model.layers.1.mlp.gate.weight");
        float x[256], y[256];
        TU_CHECK(a && b && qt_tensor_read_f32(gm, a, 3, 1, x, &err) == QT_OK && qt_tensor_read_f32(m, b, 3, 1, y, &err) == QT_OK);
        TU_CHECK(!memcmp(x, y, sizeof x));   /* the router is F32: exact */
        qt_model_free(gm);
    }
    /* an existing file is refused; cancelling leaves nothing behind */
    TU_CHECK(qt_gguf_write(m, &p, &wp, &res, &err) == QT_ERR && strstr(err.msg, "already exists"));
    char out2[4300];
    snprintf(out2, sizeof out2, "%s/c.gguf", dir);
    volatile int cancel = 0;
    struct qt_gguf_write_params cp = {.out = out2, .cancel = (const volatile int *)&cancel,
                                      .progress = cancel_progress, .progress_ud = (void *)&cancel};
    TU_CHECK(qt_gguf_write(m, &p, &cp, &res, &err) == QT_ERR && strstr(err.msg, "cancelled"));
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'c.gguf'", dir);
    TU_CHECK(system(cmd) != 0);
    /* splits: gguf-split's naming and keys */
    char out3[4300];
    snprintf(out3, sizeof out3, "%s/s.gguf", dir);
    struct qt_gguf_write_params sp = {.out = out3, .max_split_bytes = 4000000};
    TU_CHECK(qt_gguf_write(m, &p, &sp, &res, &err) == QT_OK && res.n_shards >= 2);
    char first[4400];
    qt_gguf_split_path(out3, 0, res.n_shards, first, sizeof first);
    TU_CHECK(strstr(first, "s-00001-of-0000"));
    TU_CHECKF(qt_gguf_open(first, &g, &err) == QT_OK, "%s", err.msg);
    if (g) {
        int64_t v;
        TU_CHECK(g->n_files == res.n_shards && g->n_tensors == 99);
        TU_CHECK(qt_gguf_get_i64(g, "split.count", &v) == 0 && v == res.n_shards);
        TU_CHECK(qt_gguf_get_i64(g, "split.tensors.count", &v) == 0 && v == 99);
        qt_gguf_close(g);
    }
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    qt_model_free(m);
}

TU_TEST(gguf_bad_files) {
    const char *dir = tu_tmpdir("gguf_bad");
    char p[4200];
    qt_err err;
    struct qt_gguf *g = NULL;
    snprintf(p, sizeof p, "%s/x.gguf", dir);
    static const uint8_t junk[32] = "GGUF\x03\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f";
    FILE *f = fopen(p, "wb");
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    TU_CHECK(qt_gguf_open(p, &g, &err) == QT_ERR && strstr(err.msg, "x.gguf") && !strchr(err.msg, '\n'));
    f = fopen(p, "wb");
    fwrite("GGML", 1, 4, f);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    TU_CHECK(qt_gguf_open(p, &g, &err) == QT_ERR && strstr(err.msg, "not a GGUF file"));
    /* a real file cut short: every truncation point is an error, not a crash */
    struct qt_model *m = fixture();
    char out[4300];
    snprintf(out, sizeof out, "%s/t.gguf", dir);
    struct qt_gguf_spec s;
    struct qt_gguf_plan pl;
    qt_gguf_spec_from_ftype("Q4_0", &s, &err);
    if (m && qt_gguf_plan_build(m, &s, 0, &pl, &err) == QT_OK) {
        struct qt_gguf_write_params wp = {.out = out};
        TU_CHECK(qt_gguf_write(m, &pl, &wp, NULL, &err) == QT_OK);
        size_t n;
        char *d = qt_read_file(out, &n, &err);
        int ok = d != NULL;
        for (size_t cut = 1; d && cut < n; cut = cut < 4096 ? cut + 97 : cut * 2) {
            f = fopen(p, "wb");
            fwrite(d, 1, cut, f);
            fclose(f);
            if (qt_gguf_open(p, &g, &err) == QT_OK) { ok = 0; qt_gguf_close(g); }
        }
        TU_CHECK(ok);
        free(d);
        qt_gguf_plan_free(&pl);
    }
    qt_model_free(m);
}

/* Copies file a to b (0 on success). */
static int copy_file(const char *a, const char *b) {
    size_t n;
    qt_err err;
    char *d = qt_read_file(a, &n, &err);
    FILE *f = d ? fopen(b, "wb") : NULL;
    int ok = f && fwrite(d, 1, n, f) == n;
    if (f) ok &= fclose(f) == 0;
    free(d);
    return ok ? 0 : -1;
}

/* Split sets as llama-gguf-split makes them: the split.* keys decide (as in
 * llama.cpp), the name finds the other parts; every misuse is one line. */
TU_TEST(gguf_split_keys) {
    struct qt_model *m = fixture();
    if (!m) return;
    const char *dir = tu_tmpdir("gguf_split");
    char out[4200], first[4300], second[4300], p[4300];
    snprintf(out, sizeof out, "%s/s.gguf", dir);
    struct qt_gguf_spec s;
    struct qt_gguf_plan pl;
    qt_err err;
    struct qt_write_result res;
    TU_CHECK(qt_gguf_spec_from_ftype("Q4_0", &s, &err) == QT_OK && qt_gguf_plan_build(m, &s, 0, &pl, &err) == QT_OK);
    struct qt_gguf_write_params sp = {.out = out, .max_split_bytes = 4000000};
    TU_CHECK(qt_gguf_write(m, &pl, &sp, &res, &err) == QT_OK && res.n_shards == 3);
    qt_gguf_split_path(out, 0, res.n_shards, first, sizeof first);
    qt_gguf_split_path(out, 1, res.n_shards, second, sizeof second);
    struct qt_gguf *g = NULL;
    TU_CHECKF(qt_gguf_open(first, &g, &err) == QT_OK && g->n_files == 3 && g->n_tensors == 99, "%s", err.msg);
    qt_gguf_close(g);
    g = NULL;
    /* its second part: name the first */
    TU_CHECK(qt_gguf_open(second, &g, &err) == QT_ERR && strstr(err.msg, "part 2 of a 3-file split set") &&
             strstr(err.msg, "s-00001-of-00003.gguf") && !strchr(err.msg, '\n'));
    /* the first part renamed: its keys say 3 parts, which cannot be found */
    snprintf(p, sizeof p, "%s/renamed.gguf", dir);
    TU_CHECK(copy_file(first, p) == 0);
    TU_CHECK(qt_gguf_open(p, &g, &err) == QT_ERR && strstr(err.msg, "renamed.gguf: first part of a 3-file split set"));
    /* a single file named like a part is a single file (no split keys) */
    char one[4300];
    snprintf(one, sizeof one, "%s/t.gguf", dir);
    struct qt_gguf_write_params wp = {.out = one};
    TU_CHECK(qt_gguf_write(m, &pl, &wp, NULL, &err) == QT_OK);
    snprintf(p, sizeof p, "%s/x-00001-of-00002.gguf", dir);
    TU_CHECK(copy_file(one, p) == 0);
    TU_CHECKF(qt_gguf_open(p, &g, &err) == QT_OK && g->n_files == 1 && g->n_tensors == 99, "%s", err.msg);
    qt_gguf_close(g);
    g = NULL;
    /* a part missing */
    TU_CHECK(unlink(second) == 0);
    TU_CHECK(qt_gguf_open(first, &g, &err) == QT_ERR && strstr(err.msg, "s-00002-of-00003.gguf") &&
             strstr(err.msg, "part 2 of the 3-file split set"));
    /* big-endian (gguf-py --bigendian): said so, not "version 50331648" */
    snprintf(p, sizeof p, "%s/be.gguf", dir);
    FILE *f = fopen(p, "wb");
    static const uint8_t be[32] = "GGUF\0\0\0\x03";
    fwrite(be, 1, sizeof be, f);
    fclose(f);
    TU_CHECK(qt_gguf_open(p, &g, &err) == QT_ERR && strstr(err.msg, "big-endian"));
    qt_gguf_plan_free(&pl);
    qt_gguf_spec_free(&s);
    qt_model_free(m);
}

TU_TEST(gguf_imatrix_legacy) {
    const char *dir = tu_tmpdir("gguf_imatrix");
    char p[4200];
    snprintf(p, sizeof p, "%s/im.dat", dir);
    FILE *f = fopen(p, "wb");
    int32_t v = 1;
    fwrite(&v, 4, 1, f);
    const char *nm = "blk.0.attn_q.weight";
    v = (int32_t)strlen(nm);
    fwrite(&v, 4, 1, f);
    fwrite(nm, 1, strlen(nm), f);
    v = 4; fwrite(&v, 4, 1, f);    /* ncall */
    v = 3; fwrite(&v, 4, 1, f);    /* nval */
    float s[3] = {4, 8, 2};
    fwrite(s, 4, 3, f);
    v = 10; fwrite(&v, 4, 1, f);   /* chunks, then the data set name */
    v = 4; fwrite(&v, 4, 1, f); fwrite("wiki", 1, 4, f);
    fclose(f);
    struct qt_imatrix im;
    qt_err err;
    TU_CHECKF(qt_imatrix_load(p, &im, &err) == QT_OK, "%s", err.msg);
    int64_t n = 0;
    const float *x = qt_imatrix_find(&im, nm, &n);
    TU_CHECK(x && n == 3 && x[0] == 1 && x[1] == 2 && x[2] == 0.5f);
    qt_imatrix_free(&im);
    f = fopen(p, "wb");
    v = 2;
    fwrite(&v, 4, 1, f);
    fclose(f);
    TU_CHECK(qt_imatrix_load(p, &im, &err) == QT_ERR && strstr(err.msg, "truncated"));
}

static void put_str(FILE *f, const char *s) { uint64_t l = strlen(s); fwrite(&l, 8, 1, f); fwrite(s, 1, l, f); }

/* The GGUF imatrix format of llama-imatrix: NAME.in_sum2 [ne0, n_mat] and
 * NAME.counts [1, n_mat], value = sum / count (1 where the count is 0). */
TU_TEST(gguf_imatrix_gguf) {
    const char *dir = tu_tmpdir("gguf_imatrix2");
    char p[4200];
    snprintf(p, sizeof p, "%s/im.gguf", dir);
    FILE *f = fopen(p, "wb");
    uint32_t u;
    uint64_t n;
    fwrite("GGUF", 1, 4, f);
    u = 3; fwrite(&u, 4, 1, f);
    n = 2; fwrite(&n, 8, 1, f);   /* tensors */
    n = 1; fwrite(&n, 8, 1, f);   /* keys */
    put_str(f, "general.type"); u = 8; fwrite(&u, 4, 1, f); put_str(f, "imatrix");
    put_str(f, "blk.1.ffn_up_exps.weight.in_sum2");
    u = 2; fwrite(&u, 4, 1, f);
    n = 2; fwrite(&n, 8, 1, f); n = 2; fwrite(&n, 8, 1, f);
    u = 0; fwrite(&u, 4, 1, f);
    n = 0; fwrite(&n, 8, 1, f);
    put_str(f, "blk.1.ffn_up_exps.weight.counts");
    u = 2; fwrite(&u, 4, 1, f);
    n = 1; fwrite(&n, 8, 1, f); n = 2; fwrite(&n, 8, 1, f);
    u = 0; fwrite(&u, 4, 1, f);
    n = 32; fwrite(&n, 8, 1, f);
    long at = ftell(f);
    static const char zeros[32];
    fwrite(zeros, 1, (size_t)((32 - at % 32) % 32), f);
    float sums[8] = {6, 9, 3, 12, 0, 0, 0, 0}, counts[2] = {3, 0};
    fwrite(sums, 4, 8, f);            /* 4 used + padding to 32 */
    fwrite(counts, 4, 2, f);
    fclose(f);
    struct qt_imatrix im;
    qt_err err;
    TU_CHECKF(qt_imatrix_load(p, &im, &err) == QT_OK, "%s", err.msg);
    int64_t len = 0;
    const float *v = qt_imatrix_find(&im, "blk.1.ffn_up_exps.weight", &len);
    TU_CHECK(v && len == 4 && v[0] == 2 && v[1] == 3 && v[2] == 1 && v[3] == 1);
    qt_imatrix_free(&im);
}

int main(void) {
    TU_RUN(gguf_names);
    TU_RUN(gguf_plan_q4_k_m);
    TU_RUN(gguf_recipe_section);
    TU_RUN(gguf_write_read);
    TU_RUN(gguf_bad_files);
    TU_RUN(gguf_split_keys);
    TU_RUN(gguf_imatrix_legacy);
    TU_RUN(gguf_imatrix_gguf);
    return TU_END();
}
