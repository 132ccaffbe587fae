/* test_gguf_edit.c — the workbench's GGUF target (recipe/gguf_edit.h): type
 * steps, node patterns that name exactly a node's GGUF tensors, edits as
 * qtune_gguf entries (first wins, covered entries dropped, folded back when
 * the file type's rules agree), and the starting recipes of files that carry
 * none: a GGUF file's own types, a compressed-tensors quantization_config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tu.h"
#include "io/gguf_write.h"
#include "model/model.h"
#include "quant/ggml_quants.h"
#include "recipe/gguf_edit.h"
#include "recipe/gguf_plan.h"
#include "recipe/recipe.h"
#include "recipe/recipe_of.h"
#include "recipe/tree.h"

static struct qt_model *fixture(void) {
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) printf("  %s\n", err.msg);
    return m;
}

TU_TEST(gguf_type_steps) {
    char why[256];
    TU_CHECK(qt_gguf_type_step(QT_GGML_BF16, QT_EDIT_BITS_DOWN, why, sizeof why) == QT_GGML_Q8_0);
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q4_K, QT_EDIT_BITS_DOWN, why, sizeof why) == QT_GGML_IQ4_XS);
    TU_CHECK(qt_gguf_type_step(QT_GGML_IQ4_XS, QT_EDIT_BITS_DOWN, why, sizeof why) == QT_GGML_Q3_K);
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q2_K, QT_EDIT_BITS_DOWN, why, sizeof why) < 0 && strstr(why, "no fewer bits"));
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q8_0, QT_EDIT_BITS_UP, why, sizeof why) == QT_GGML_BF16);
    TU_CHECK(qt_gguf_type_step(QT_GGML_BF16, QT_EDIT_BITS_UP, why, sizeof why) < 0);
    /* off the ladder: the next by bits per weight */
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q5_0, QT_EDIT_BITS_DOWN, why, sizeof why) == QT_GGML_Q4_K);
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q5_0, QT_EDIT_BITS_UP, why, sizeof why) == QT_GGML_Q6_K);
    TU_CHECK(qt_gguf_type_step(QT_GGML_F32, QT_EDIT_BITS_DOWN, why, sizeof why) == QT_GGML_BF16);
    /* t: one width's types, wrapping */
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q4_K, QT_EDIT_TYPE, why, sizeof why) == QT_GGML_Q4_0);
    TU_CHECK(qt_gguf_type_step(QT_GGML_IQ4_XS, QT_EDIT_TYPE, why, sizeof why) == QT_GGML_Q4_K);
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q5_1, QT_EDIT_TYPE, why, sizeof why) == QT_GGML_Q5_K);
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q6_K, QT_EDIT_TYPE, why, sizeof why) < 0);
    TU_CHECK(qt_gguf_type_step(QT_GGML_Q4_K, QT_EDIT_GROUP, why, sizeof why) < 0 && strstr(why, "fixed blocks"));
}

/* the plan tensors of one layer's names matching a substring */
static void mark(const struct qt_gguf_plan *p, unsigned char *in, const char *sub) {
    memset(in, 0, (size_t)p->n);
    for (int k = 0; k < p->n; k++)
        if (strstr(p->t[k].name, sub)) in[k] = 1;
}

TU_TEST(gguf_node_patterns) {
    struct qt_model *m = fixture();
    if (!m) return;
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    qt_err err;
    TU_CHECK(qt_gguf_spec_from_ftype("Q4_K_M", &s, &err) == QT_OK);
    TU_CHECK(qt_gguf_plan_build(m, &s, 0, &p, &err) == QT_OK);
    unsigned char *in = calloc((size_t)p.n, 1);
    char pat[1024];
    mark(&p, in, "blk.3.");
    TU_CHECK(qt_gguf_node_pattern(&p, in, pat, sizeof pat) == 0 && !strcmp(pat, "^blk\\.3\\."));
    mark(&p, in, "blk.3.attn_");
    TU_CHECK(qt_gguf_node_pattern(&p, in, pat, sizeof pat) == 0 && !strcmp(pat, "^blk\\.3\\.attn_"));
    mark(&p, in, "_exps");
    for (int k = 0; k < p.n; k++) in[k] = in[k] && p.t[k].layer == 1;
    TU_CHECKF(qt_gguf_node_pattern(&p, in, pat, sizeof pat) == 0 && !strcmp(pat, "^blk\\.1\\.ffn_(down|gate|up)_exps\\.weight$"),
              "%s", pat);
    mark(&p, in, "blk.2.attn_q.weight");
    TU_CHECK(qt_gguf_node_pattern(&p, in, pat, sizeof pat) == 0 && !strcmp(pat, "^blk\\.2\\.attn_q\\.weight$"));
    memset(in, 0, (size_t)p.n);
    TU_CHECK(qt_gguf_node_pattern(&p, in, pat, sizeof pat) == -1);
    /* each pattern matches exactly its set, as llama-quantize searches it */
    mark(&p, in, "_shexp");
    for (int k = 0; k < p.n; k++) in[k] = in[k] && p.t[k].layer == 2;
    TU_CHECK(qt_gguf_node_pattern(&p, in, pat, sizeof pat) == 0);
    char e[1100];
    snprintf(e, sizeof e, "%s=Q8_0", pat);
    struct qt_gguf_spec one = {0};
    one.output_type = one.embd_type = -1;
    TU_CHECK(qt_gguf_spec_add_override(&one, e, &err) == QT_OK);
    int exact = 1;
    for (int k = 0; k < p.n; k++)
        if (p.t[k].quantizable && qt_gguf_override_match(&one.over[0], p.t[k].name) != in[k]) exact = 0;
    TU_CHECKF(exact, "%s", pat);
    qt_gguf_spec_free(&one);
    free(in);
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    qt_model_free(m);
}

/* applies action to the node with target tg; returns the new recipe text */
static char *edit(const struct qt_tree *t, struct qt_recipe *r, const struct qt_model *m, enum qt_edit_action a,
                  const char *tg, struct qt_edit_outcome *o) {
    int node = tg ? qt_tree_find(t, tg) : -1;
    struct qt_edit e = {.action = a, .n_nodes = node >= 0, .nodes = &node};
    qt_err err = {{0}};
    if (qt_gguf_edit_apply(t, r, m, &e, o, &err) != QT_OK) { printf("  %s\n", err.msg); return NULL; }
    return qt_recipe_dump(r, NULL, &err);
}

/* the type the plan of r gives GGUF tensor name */
static int type_of(const struct qt_recipe *r, const struct qt_model *m, const char *name) {
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    qt_err err;
    if (qt_gguf_spec_from_yaml(r->root, "r", &s, &err) || qt_gguf_plan_build(m, &s, 0, &p, &err)) return -2;
    int ty = -1;
    for (int k = 0; k < p.n; k++)
        if (!strcmp(p.t[k].name, name)) ty = p.t[k].type;
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    return ty;
}

TU_TEST(gguf_edits) {
    struct qt_model *m = fixture();
    if (!m) return;
    struct qt_tree t;
    struct qt_recipe *r;
    qt_err err;
    TU_CHECK(qt_tree_build(&t, m, &err) == QT_OK);
    TU_CHECK(qt_recipe_new(&r, &err) == QT_OK);
    struct qt_edit_outcome o;
    char *txt = edit(&t, r, m, QT_EDIT_GGUF, NULL, &o);   /* G: the GGUF target, Q4_K_M */
    TU_CHECK(txt && strstr(txt, "qtune_gguf:\n  ftype: Q4_K_M") && qt_gguf_recipe_on(r) && o.changed);
    free(txt);
    TU_CHECK(type_of(r, m, "blk.1.attn_q.weight") == QT_GGML_Q4_K);
    /* layer 1's experts one step down: one entry naming the stacked tensors */
    txt = edit(&t, r, m, QT_EDIT_BITS_DOWN, "re:model\\.layers\\.1\\.mlp\\.experts\\.", &o);
    TU_CHECKF(txt && strstr(txt, "- '^blk\\.1\\.ffn_(down|gate|up)_exps\\.weight$=IQ4_XS'"), "%s", txt);
    TU_CHECK(!strcmp(o.scheme, "IQ4_XS"));
    free(txt);
    TU_CHECK(type_of(r, m, "blk.1.ffn_up_exps.weight") == QT_GGML_IQ4_XS);
    TU_CHECK(type_of(r, m, "blk.1.ffn_down_exps.weight") == QT_GGML_IQ4_NL);   /* row 128: llama-quantize's fallback */
    /* one expert is the layer's stacked tensors: the same entry */
    txt = edit(&t, r, m, QT_EDIT_BITS_DOWN, "re:model\\.layers\\.1\\.mlp\\.experts\\.5\\.", &o);
    TU_CHECKF(txt && strstr(txt, "exps\\.weight$=Q3_K'") && !strstr(txt, "IQ4_XS"), "%s", txt);
    free(txt);
    /* a narrower node after: its entry first, so it wins */
    txt = edit(&t, r, m, QT_EDIT_BITS_UP, "re:model\\.layers\\.1\\.", &o);
    TU_CHECKF(txt && strstr(txt, "^blk\\.1\\.=Q5_K") && !strstr(txt, "exps"), "layer covers experts: %s", txt);
    free(txt);
    txt = edit(&t, r, m, QT_EDIT_BITS_DOWN, "model.layers.1.self_attn.q_proj", &o);
    TU_CHECK(txt && strstr(txt, "- '^blk\\.1\\.attn_q\\.weight$=Q4_K'\n  - '^blk\\.1\\.=Q5_K'"));
    free(txt);
    TU_CHECK(type_of(r, m, "blk.1.attn_q.weight") == QT_GGML_Q4_K && type_of(r, m, "blk.1.attn_k.weight") == QT_GGML_Q5_K);
    /* the output and the embedding: their own keys */
    txt = edit(&t, r, m, QT_EDIT_BITS_UP, "lm_head", &o);
    TU_CHECK(txt && strstr(txt, "output_tensor_type: Q8_0"));
    free(txt);
    txt = edit(&t, r, m, QT_EDIT_BITS_DOWN, "lm_head", &o);   /* back to the rule's Q6_K: folded away */
    TU_CHECKF(txt && !strstr(txt, "output_tensor_type"), "%s", txt);
    free(txt);
    /* the router stays F32: nothing to step */
    txt = edit(&t, r, m, QT_EDIT_BITS_DOWN, "model.layers.1.mlp.gate", &o);
    TU_CHECK(txt && !o.changed && strstr(o.why, "F32"));
    free(txt);
    /* ignore: BF16, then again un-ignores */
    txt = edit(&t, r, m, QT_EDIT_IGNORE, "model.layers.2.self_attn.o_proj", &o);
    TU_CHECK(txt && strstr(txt, "attn_output\\.weight$=BF16"));
    free(txt);
    txt = edit(&t, r, m, QT_EDIT_IGNORE, "model.layers.2.self_attn.o_proj", &o);
    TU_CHECK(txt && !strstr(txt, "attn_output") && o.all_kept);
    free(txt);
    /* the root: the file type, every entry dropped */
    txt = edit(&t, r, m, QT_EDIT_BITS_DOWN, "Linear", &o);
    TU_CHECKF(txt && strstr(txt, "ftype: IQ4_XS") && !strstr(txt, "tensor_types"), "%s", txt);
    free(txt);
    txt = edit(&t, r, m, QT_EDIT_FTYPE, NULL, &o);   /* F: the next preset */
    TU_CHECK(txt && strstr(txt, "ftype: Q4_K_S"));
    free(txt);
    txt = edit(&t, r, m, QT_EDIT_GROUP, "Linear", &o);
    TU_CHECK(txt && !o.changed && strstr(o.why, "fixed blocks"));
    free(txt);
    /* G again: back to compressed-tensors */
    txt = edit(&t, r, m, QT_EDIT_GGUF, NULL, &o);
    TU_CHECK(txt && !strstr(txt, "qtune_gguf") && !qt_gguf_recipe_on(r));
    free(txt);
    qt_recipe_free(r);
    qt_tree_free(&t);
    qt_model_free(m);
}

/* A GGUF file opens with its own types: the recipe rebuilt from it gives the
 * plan that wrote it, tensor for tensor. */
TU_TEST(gguf_recipe_of_file) {
    struct qt_model *m = fixture();
    if (!m) return;
    const char *dir = tu_tmpdir("gguf_recipe_of");
    char out[4200];
    snprintf(out, sizeof out, "%s/mix.gguf", dir);
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    qt_err err;
    TU_CHECK(qt_gguf_spec_from_ftype("Q4_K_M", &s, &err) == QT_OK);
    TU_CHECK(qt_gguf_spec_add_override(&s, "blk\\.2\\.attn_v=Q8_0", &err) == QT_OK);
    TU_CHECK(qt_gguf_spec_add_override(&s, "ffn_up_shexp=Q2_K", &err) == QT_OK);
    s.embd_type = QT_GGML_Q6_K;
    TU_CHECK(qt_gguf_plan_build(m, &s, 0, &p, &err) == QT_OK);
    struct qt_gguf_write_params wp = {.out = out, .threads = 2};
    struct qt_write_result res;
    TU_CHECKF(qt_gguf_write(m, &p, &wp, &res, &err) == QT_OK, "%s", err.msg);
    struct qt_model *g = NULL;
    TU_CHECKF(qt_model_open(out, &g, &err) == QT_OK, "%s", err.msg);
    char *text = g ? qt_gguf_recipe_of_file(g, &err) : NULL;
    TU_CHECKF(text && strstr(text, "ftype: Q4_K_M") && strstr(text, "token_embedding_type: Q6_K") &&
              strstr(text, "attn_v\\.weight$=Q8_0") && strstr(text, "ffn_up_shexp\\.weight$=Q2_K"), "%s", text ? text : err.msg);
    struct qt_recipe *r = NULL;
    if (text) TU_CHECK(qt_recipe_parse(text, strlen(text), "r", &r, &err) == QT_OK);
    if (r && g) {
        struct qt_gguf_spec s2;
        struct qt_gguf_plan p2;
        TU_CHECK(qt_gguf_spec_from_yaml(r->root, "r", &s2, &err) == QT_OK);
        TU_CHECK(qt_gguf_plan_build(g, &s2, 0, &p2, &err) == QT_OK);
        int same = p2.n == p.n, n_quant = 0;
        for (int k = 0; same && k < p.n; k++) {
            same = !strcmp(p.t[k].name, p2.t[k].name) && p.t[k].type == p2.t[k].type;
            n_quant += qt_gguf_type_quantized(p2.t[k].type);
        }
        TU_CHECK(same && n_quant > 40 && p2.bytes == p.bytes);
        qt_gguf_plan_free(&p2);
        qt_gguf_spec_free(&s2);
    }
    TU_CHECK(qt_gguf_recipe_of_file(m, &err) == NULL && strstr(err.msg, "not a GGUF"));
    qt_recipe_free(r);
    free(text);
    qt_model_free(g);
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    qt_model_free(m);
}

/* A compressed-tensors config.json without recipe.yaml: its config groups
 * and ignore list as a recipe. */
TU_TEST(recipe_of_ct) {
    const char *dir = tu_tmpdir("recipe_of_ct");
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    FILE *f = fopen(cfg, "w");
    if (!f) return;
    fputs("{\"model_type\":\"glm4_moe\",\"quantization_config\":{\"quant_method\":\"compressed-tensors\","
          "\"format\":\"mixed-precision\",\"ignore\":[\"lm_head\",\"model.layers.0.mlp.down_proj\"],"
          "\"config_groups\":{\"group_0\":{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":4,\"type\":\"int\","
          "\"symmetric\":true,\"strategy\":\"group\",\"group_size\":128,\"observer\":\"minmax\",\"observer_kwargs\":{},"
          "\"actorder\":null,\"dynamic\":false},\"input_activations\":null},"
          "\"group_1\":{\"targets\":[\"re:.*self_attn.*\"],\"weights\":{\"num_bits\":8,\"type\":\"float\","
          "\"symmetric\":true,\"strategy\":\"channel\",\"dynamic\":false},\"input_activations\":{\"num_bits\":8,"
          "\"type\":\"float\",\"symmetric\":true,\"strategy\":\"token\",\"dynamic\":true}}}}}", f);
    fclose(f);
    qt_err err;
    char *text = qt_recipe_of_ct(cfg, &err);
    TU_CHECKF(text != NULL, "%s", err.msg);
    struct qt_recipe *r = NULL;
    if (text) TU_CHECKF(qt_recipe_parse(text, strlen(text), "r", &r, &err) == QT_OK, "%s\n%s", err.msg, text);
    if (r) {
        TU_CHECK(r->n_groups == 2 && !strcmp(r->groups[0].scheme, "int4-g128-sym"));
        TU_CHECKF(!strcmp(r->groups[1].scheme, "fp8-ch+afp8-tok"), "%s", r->groups[1].scheme);
        TU_CHECK(r->n_mods == 1 && r->mods[0].n_ignore == 2 && !strcmp(r->mods[0].ignore[1].text, "model.layers.0.mlp.down_proj"));
        TU_CHECK(!strstr(text, "observer"));
    }
    qt_recipe_free(r);
    free(text);
    f = fopen(cfg, "w");
    if (f) fputs("{\"model_type\":\"glm4_moe\"}", f), fclose(f);
    TU_CHECK(qt_recipe_of_ct(cfg, &err) == NULL && strstr(err.msg, "quantization_config"));
}

int main(void) {
    TU_RUN(gguf_type_steps);
    TU_RUN(gguf_node_patterns);
    TU_RUN(gguf_edits);
    TU_RUN(gguf_recipe_of_file);
    TU_RUN(recipe_of_ct);
    return TU_END();
}
