/* test_awq.c — AWQ: the mappings derived from the graph (every reader of a
 * smoothed norm, the router among them; v->o skipped under GQA; up->down per
 * expert), the smoothing identity (the smoothed, unquantized layers compute
 * what they computed before, router included), the loss on the Hessian
 * against a direct computation, the scales' normalization, and the clip
 * search never worse than round-to-nearest on its own objective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "algo/awq.h"
#include "algo/pipeline.h"
#include "model/model.h"
#include "quant/quant.h"
#include "recipe/recipe.h"
#include "tu.h"

static struct qt_model *g_m;
static uint64_t rs = 777;
static double urand(void) { rs = rs * 6364136223846793005ull + 1442695040888963407ull; return (double)(rs >> 11) / 9007199254740992.0; }

static int idx(const char *name) { return qt_model_find_index(g_m, name); }

TU_TEST(awq_mappings_from_graph) {
    int smooth[64], nbal[64], bal[256];
    qt_err err;
    /* layer 0 (dense): input_layernorm -> q/k/v, post_attention_layernorm ->
     * gate/up, up -> down; no v->o (8 heads, 2 kv heads) */
    int k = qt_pipe_awq_mappings(g_m, 0, smooth, nbal, bal, 256, &err);
    TU_CHECKF(k == 3, "%d mappings", k);
    TU_CHECK(smooth[0] == idx("model.layers.0.input_layernorm.weight") && nbal[0] == 3);
    TU_CHECK(bal[0] == idx("model.layers.0.self_attn.q_proj.weight") || bal[1] == idx("model.layers.0.self_attn.q_proj.weight") ||
             bal[2] == idx("model.layers.0.self_attn.q_proj.weight"));
    TU_CHECK(smooth[1] == idx("model.layers.0.post_attention_layernorm.weight") && nbal[1] == 2);
    TU_CHECK(smooth[2] == idx("model.layers.0.mlp.up_proj.weight") && nbal[2] == 1 &&
             bal[5] == idx("model.layers.0.mlp.down_proj.weight"));
    /* layer 1 (MoE): post_attention_layernorm's readers are the router, the
     * shared expert's gate/up and every routed expert's gate/up (35); then
     * 16 + 1 up -> down mappings */
    k = qt_pipe_awq_mappings(g_m, 1, smooth, nbal, bal, 256, &err);
    TU_CHECKF(k == 2 + 17, "%d mappings", k);
    TU_CHECK(smooth[1] == idx("model.layers.1.post_attention_layernorm.weight") && nbal[1] == 35);
    int router = 0, shared = 0, experts = 0;
    for (int j = 3; j < 3 + 35; j++) {
        const struct qt_tensor *t = &g_m->tensors[bal[j]];
        router += t->role == QT_ROLE_ROUTER;
        shared += t->role == QT_ROLE_SHARED_GATE || t->role == QT_ROLE_SHARED_UP;
        experts += t->role == QT_ROLE_EXPERT_GATE || t->role == QT_ROLE_EXPERT_UP;
    }
    TU_CHECK(router == 1 && shared == 2 && experts == 32);
    int ups = 0, downs_match = 1, o = 3 + 35;
    for (int i = 2; i < k; i++, o++) {
        const struct qt_tensor *u = &g_m->tensors[smooth[i]], *d = &g_m->tensors[bal[o]];
        ups += u->role == QT_ROLE_EXPERT_UP || u->role == QT_ROLE_SHARED_UP;
        downs_match &= nbal[i] == 1 && d->expert == u->expert &&
                       (d->role == QT_ROLE_EXPERT_DOWN || d->role == QT_ROLE_SHARED_DOWN);
    }
    TU_CHECK(ups == 17 && downs_match);
}

/* The pipeline on a few short samples: every layer's smoothed, unquantized
 * output equals the original (max relative difference < 1e-3), the router
 * was compensated (changed, by powers of two), the norm changed. */
TU_TEST(awq_smoothing_preserves_function) {
    const char *txt = "quant_stage:\n  quant_modifiers:\n    AWQModifier:\n      targets: [Linear]\n"
                      "      ignore: [lm_head, 're:.*mlp\\.gate$']\n      scheme: W4A16\n";
    struct qt_recipe *r = NULL;
    struct qt_resolution res;
    qt_err err;
    TU_CHECK(qt_recipe_parse(txt, strlen(txt), "awq.yaml", &r, &err) == QT_OK);
    TU_CHECK(qt_recipe_resolve(r, g_m, &res, &err) == QT_OK);
    struct qt_pipe_params p = {.calib_path = tu_path("share/data/calib.txt"), .samples = 2, .seqlen = 64,
                               .spill_dir = tu_tmpdir("awq")};
    struct qt_pipe *P = NULL;
    int rc = qt_pipe_run(g_m, r, &res, &p, &P, &err);
    TU_CHECKF(rc == QT_OK, "%s", err.msg);
    if (rc == QT_OK) {
        cJSON *o = qt_pipe_report(P);
        cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "awq"), "max_rel_output_change");
        TU_CHECK(cJSON_GetArraySize(d) == 4);
        for (int l = 0; l < cJSON_GetArraySize(d); l++) {
            double v = cJSON_GetArrayItem(d, l)->valuedouble;
            TU_CHECKF(cJSON_IsNumber(cJSON_GetArrayItem(d, l)) && v < 1e-3, "layer %d: %g", l, v);
        }
        cJSON_Delete(o);
        int gi = idx("model.layers.1.mlp.gate.weight"), ni = idx("model.layers.1.post_attention_layernorm.weight");
        const struct qt_tensor *gt = &g_m->tensors[gi];
        int64_t ne = qt_tensor_numel(gt);
        float *a = malloc(sizeof(float) * (size_t)ne), *b = malloc(sizeof(float) * (size_t)ne);
        float nb[256];
        TU_CHECK(qt_pipe_kept(P, ni, nb) == QT_OK);   /* the norm is smoothed */
        if (qt_pipe_kept(P, gi, a) == QT_OK && qt_tensor_read_f32(g_m, gt, 0, qt_tensor_rows(gt), b, &err) == QT_OK) {
            int changed = 0, pow2 = 1;
            for (int64_t i = 0; i < ne; i++) {
                if (a[i] != b[i]) changed = 1;
                if (b[i] != 0) {
                    int e;
                    double f = frexp((double)a[i] / b[i], &e);
                    if (f != 0.5) pow2 = 0;
                }
            }
            /* unchanged is allowed only if every factor was 1; the router
             * read the smoothed norm, so a changed norm means a changed router */
            int nchanged = 0;
            float n0[256];
            qt_tensor_read_f32(g_m, &g_m->tensors[ni], 0, 1, n0, &err);
            for (int j = 0; j < 256; j++) nchanged |= n0[j] != nb[j];
            TU_CHECK(changed == nchanged && pow2);
        } else {
            TU_CHECK(!"router not compensated");
        }
        free(a);
        free(b);
    }
    qt_pipe_free(P);
    qt_resolution_free(&res);
    qt_recipe_free(r);
}

/* qt_awq_sse is Σ ||(w - wq) x||² over the rows of X; the clip search's
 * objective never exceeds round-to-nearest's and the weight stays inside
 * its range; the scales are normalized by sqrt(max · min). */
TU_TEST(awq_loss_clip_and_identity) {
    enum { R = 8, C = 64, N = 200 };
    float w[R * C], wq[R * C], x[N * C];
    double h[C * C];
    memset(h, 0, sizeof h);
    for (int i = 0; i < R * C; i++) w[i] = (float)(urand() - 0.5) * (i % 7 == 0 ? 4.0f : 1.0f);
    for (int i = 0; i < R * C; i++) wq[i] = w[i] + (float)(urand() - 0.5) * 0.1f;
    for (int i = 0; i < N * C; i++) x[i] = (float)(urand() - 0.5) * (float)(1 + (i % C) % 5);
    for (int t = 0; t < N; t++)
        for (int i = 0; i < C; i++)
            for (int j = 0; j < C; j++) h[i * C + j] += (double)x[t * C + i] * x[t * C + j];
    double direct = 0;
    for (int t = 0; t < N; t++)
        for (int r = 0; r < R; r++) {
            double y = 0;
            for (int j = 0; j < C; j++) y += ((double)w[r * C + j] - wq[r * C + j]) * x[t * C + j];
            direct += y * y;
        }
    TU_NEAR(qt_awq_sse(w, wq, R, C, h) / direct, 1.0, 1e-9);
    struct qt_scheme s;
    qt_err err;
    TU_CHECK(qt_scheme_parse("int3-g32-sym", &s, &err) == QT_OK);
    float wc[R * C], cv[R * 2 * 2];
    memcpy(wc, w, sizeof w);
    double before = -1, after = -1;
    TU_CHECK(qt_awq_clip(wc, R, C, &s, QT_DT_F32, h, cv, &before, &after, &err) == QT_OK);
    TU_CHECKF(after <= before && before > 0, "clip %g, rtn %g", after, before);
    int inside = 1;
    for (int i = 0; i < R * C; i++) inside &= fabsf(wc[i]) <= fabsf(w[i]);
    TU_CHECK(inside);
    /* smoothing identity */
    double xm[C], wm[C] = {0};
    float sc[C];
    for (int j = 0; j < C; j++) xm[j] = 0.1 + urand();
    qt_awq_wmean_add(w, R, C, 32, wm);
    for (int j = 0; j < C; j++) wm[j] /= R;
    qt_awq_scales(xm, wm, C, 0.5, 1, sc);
    double mx = 0, mn = 1e30;
    for (int j = 0; j < C; j++) { mx = fmax(mx, sc[j]); mn = fmin(mn, sc[j]); }
    TU_NEAR(mx * mn, 1.0, 1e-5);   /* normalized by sqrt(max * min) */
    TU_CHECK(mx > mn);
}

/* AWQModifier 0.14's _get_grid_search_params, for each duo_scaling form */
TU_TEST(awq_grid_is_llm_compressors) {
    double r[64];
    int d[64];
    TU_CHECK(qt_awq_grid(20, QT_AWQ_DUO_ON, r, d, 64) == 20);
    TU_CHECK(r[0] == 0 && d[0] == 0);   /* the identity first */
    for (int i = 1; i < 20; i++) TU_CHECKF(r[i] == (double)(i - 1) / 18 && d[i] == 1, "point %d: %g %d", i, r[i], d[i]);
    TU_CHECK(qt_awq_grid(20, QT_AWQ_DUO_OFF, r, d, 64) == 20);
    for (int i = 0; i < 20; i++) TU_CHECK(r[i] == (double)i / 19 && d[i] == 0);
    TU_CHECK(qt_awq_grid(20, QT_AWQ_DUO_BOTH, r, d, 64) == 20);
    for (int i = 0; i < 20; i++) TU_CHECK(r[i] == (double)(i / 2) / 9 && d[i] == i % 2);
    TU_CHECK(qt_awq_grid(2, QT_AWQ_DUO_ON, r, d, 64) == -1);
    TU_CHECK(qt_awq_grid(1, QT_AWQ_DUO_OFF, r, d, 64) == -1);
    TU_CHECK(qt_awq_grid(3, QT_AWQ_DUO_BOTH, r, d, 64) == -1);
    TU_CHECK(qt_awq_grid(3, QT_AWQ_DUO_ON, r, d, 64) == 3 && r[2] == 1.0);
    /* the identity's scales are exactly 1 */
    double xm[4] = {0.5, 2, 0, 7}, wm[4] = {0.1, 0.2, 0.3, 0.4};
    float s[4];
    qt_awq_scales(xm, wm, 4, 0, 0, s);
    for (int j = 0; j < 4; j++) TU_CHECK(s[j] == 1.0f);
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) != QT_OK) {
        printf("FAIL open (%s)\n", err.msg);
        return 1;
    }
    TU_RUN(awq_mappings_from_graph);
    TU_RUN(awq_smoothing_preserves_function);
    TU_RUN(awq_loss_clip_and_identity);
    TU_RUN(awq_grid_is_llm_compressors);
    qt_model_free(g_m);
    return TU_END();
}
