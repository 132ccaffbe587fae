/* test_calib.c — calibration statistics: counts, routing, E[x²] against a
 * direct computation, XᵀX diagonal, cache round trip, unrouted experts. */
#include <stdint.h>

#include "eval/calib.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "tu.h"

static struct qt_model *g_m;

static int idx(const char *name) { return qt_model_find_index(g_m, name); }

TU_TEST(counts_and_layer0_importance) {
    const char *dir = tu_tmpdir("calib");
    struct qt_calib_params p = {.calib_path = tu_path("share/data/calib.txt"), .ctx = 128, .chunks = 4, .xtx = 1,
                                .cache_dir = dir};
    struct qt_calib *c = NULL, *c2 = NULL;
    qt_err err;
    int rc = qt_calib_run(g_m, &p, &c, &err);
    TU_CHECKF(rc == QT_OK, "%s", err.msg);
    if (rc != QT_OK) return;
    TU_CHECK(c->tokens == 512 && !c->from_cache && c->n_linear == 172);
    int q = idx("model.layers.0.self_attn.q_proj.weight"), k = idx("model.layers.0.self_attn.k_proj.weight");
    int o = idx("model.layers.0.self_attn.o_proj.weight"), g = idx("model.layers.0.mlp.gate_proj.weight");
    TU_CHECK(c->count[q] == 512 && c->count[k] == 512 && c->count[o] == 512 && c->count[g] == 512);
    TU_CHECK(c->count[idx("model.layers.0.input_layernorm.weight")] == 0);
    TU_CHECK(c->count[idx("model.layers.1.mlp.gate.weight")] == 0);   /* the router is not a target */
    /* routed: every token goes to top_k experts of each MoE layer */
    for (int l = 1; l < 4; l++) {
        int64_t sum = 0;
        for (int e = 0; e < 16; e++) {
            char name[128];
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
            int ti = idx(name);
            sum += c->count[ti];
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
            TU_CHECK(c->count[idx(name)] == c->count[ti]);
        }
        TU_CHECK(sum == 512 * 4);
    }
    /* layer 0's q input is input_layernorm(embed(tokens)): recompute it */
    struct qt_tok *tok;
    char tp[4096];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", tu_path("share/models/tiny-glm-moe"));
    TU_CHECK(qt_tok_load(tp, &tok, &err) == QT_OK);
    size_t len, n;
    char *text = qt_read_file(tu_path("share/data/calib.txt"), &len, &err);
    int32_t *ids;
    TU_CHECK(qt_tok_encode(tok, text, len, &ids, &n, &err) == QT_OK && n >= 512);
    float emb[256], nw[256], d[256];
    double ref[256] = {0};
    TU_CHECK(qt_tensor_read_f32(g_m, qt_model_find(g_m, "model.layers.0.input_layernorm.weight"), 0, 1, nw, &err) == QT_OK);
    for (int t = 0; t < 512; t++) {
        qt_tensor_read_f32(g_m, qt_model_find(g_m, "model.embed_tokens.weight"), ids[t], 1, emb, &err);
        double ss = 0;
        for (int j = 0; j < 256; j++) ss += (double)emb[j] * emb[j];
        double inv = 1.0 / sqrt(ss / 256 + g_m->cfg.rms_eps);
        for (int j = 0; j < 256; j++) {
            double x = nw[j] * emb[j] * inv;
            ref[j] += x * x / 512;
        }
    }
    TU_CHECK(qt_calib_importance(c, g_m, q, d) == 0);
    double worst = 0;
    for (int j = 0; j < 256; j++) worst = fmax(worst, fabs(d[j] - ref[j]) / (ref[j] + 1e-12));
    TU_CHECKF(worst < 1e-4, "worst relative %g", worst);
    /* XᵀX diagonal = Σ x² */
    for (int j = 0; j < 256; j += 17) TU_NEAR(c->xtx[q][j * 256 + j], c->sumsq[q][j], 1e-4 * c->sumsq[q][j]);
    TU_CHECK(memcmp(c->sumsq[q], c->sumsq[k], 256 * sizeof(double)) == 0);
    /* cached: identical */
    TU_CHECK(qt_calib_run(g_m, &p, &c2, &err) == QT_OK && c2 && c2->from_cache);
    if (c2) {
        TU_CHECK(c2->count[q] == 512 && c2->tokens == 512 && c2->n_linear == 172);
        TU_CHECK(memcmp(c2->sumsq[g], c->sumsq[g], 256 * sizeof(double)) == 0);
        TU_CHECK(c2->xtx[o] && memcmp(c2->xtx[o], c->xtx[o], 256 * 256 * sizeof(float)) == 0);
    }
    float **all = qt_calib_importance_all(c, g_m);
    TU_CHECK(all && all[q] && !all[idx("model.embed_tokens.weight")]);
    qt_calib_importance_free(all, g_m->n_tensors);
    free(text);
    free(ids);
    qt_tok_free(tok);
    qt_calib_free(c);
    qt_calib_free(c2);
}

TU_TEST(unrouted_experts_reported) {
    /* 2 tokens: at most 8 of 16 experts per MoE layer can see one */
    struct qt_calib_params p = {.calib_path = tu_path("share/data/calib.txt"), .ctx = 2, .chunks = 1};
    struct qt_calib *c = NULL;
    qt_err err;
    TU_CHECK(qt_calib_run(g_m, &p, &c, &err) == QT_OK);
    if (!c) return;
    TU_CHECK(c->n_unseen >= 3 * 8 * 3);
    float d[256];
    for (int i = 0; i < c->n_unseen; i++) {
        const struct qt_tensor *t = &g_m->tensors[c->unseen[i]];
        TU_CHECK(t->expert >= 0 && c->count[c->unseen[i]] == 0);
        TU_CHECK(qt_calib_importance(c, g_m, c->unseen[i], d) == -1);
    }
    qt_calib_free(c);
    struct qt_calib *bad;
    TU_CHECK(qt_calib_load(g_m, tu_path("share/data/calib.txt"), &bad, &err) == QT_ERR &&
             strstr(err.msg, "not a qtune calibration file"));
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) != QT_OK) {
        printf("FAIL open (%s)\n", err.msg);
        return 1;
    }
    TU_RUN(counts_and_layer0_importance);
    TU_RUN(unrouted_experts_reported);
    qt_model_free(g_m);
    return TU_END();
}
