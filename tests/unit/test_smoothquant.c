/* test_smoothquant.c — SmoothQuant's factors and the function-preservation
 * rule: the smoothed, unquantized model computes what the original computed
 * (every consumer of a smoothed norm compensated, the router included), and
 * leaving the router out — what llm-compressor's default glm4_moe mappings
 * do — is caught by the same comparison. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "algo/pipeline.h"
#include "algo/smoothquant.h"
#include "eval/forward.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "recipe/recipe.h"
#include "tu.h"

/* s_j = max|x_j|^α / max|W_j|^(1-α), rounded to the nearest power of two in
 * the log domain; 1 where no activation was seen */
TU_TEST(sq_scales_powers_of_two) {
    float amax[5] = {4.0f, 0.0f, 100.0f, 0.001f, 3.0f};
    float wmax[5] = {1.0f, 2.0f, 0.01f, 8.0f, 0.0f};
    float s[5];
    qt_sq_scales(amax, wmax, 5, 0.5, s);
    TU_NEAR(s[0], 2.0, 0);                 /* sqrt(4) / sqrt(1) */
    TU_NEAR(s[1], 1.0, 0);                 /* no activation */
    TU_NEAR(s[2], 128.0, 0);               /* 10 / 0.1 = 100 -> 2^7 (log2 100 = 6.64) */
    TU_NEAR(s[3], 1.0 / 64, 0);            /* sqrt(0.001 / 8) = 0.0112 -> 2^-6 (log2 = -6.48) */
    TU_NEAR(s[4], 4.0, 0);                 /* no weight: the activation scale, 3 -> 2^2 */
    for (int j = 0; j < 5; j++) {
        int e;
        TU_CHECK(frexpf(s[j], &e) == 0.5f);   /* a power of two */
    }
    qt_sq_scales(amax, wmax, 5, 0.0, s);   /* alpha 0: 1 / max|W| */
    TU_NEAR(s[0], 1.0, 0);
    TU_NEAR(s[3], 0.125, 0);
}

static struct qt_model *g_m;
static struct qt_pipe *g_pipe;
static int g_router = -1;   /* a router tensor the pipeline compensated */

/* The smoothed model; skip_router: the router as the checkpoint had it. */
struct hctx { int skip_router; };
static int smoothed_weight(void *ctx, int ti, float *out, qt_err *err) {
    (void)err;
    const struct hctx *h = ctx;
    if (h->skip_router && g_m->tensors[ti].role == QT_ROLE_ROUTER) return 1;
    return qt_pipe_kept(g_pipe, ti, out) == QT_OK ? QT_OK : 1;
}

enum { NSEQ = 2, SEQ = 64 };

/* Max |a - b| / max |b| of two logit sets of the same tokens. */
static double logits_diff(const int32_t *tok, const struct qt_fwd_hooks *hk, const float *ref, float *out) {
    struct qt_fwd *f = NULL;
    qt_err err;
    if (qt_fwd_init(g_m, hk, &f, &err) != QT_OK || qt_fwd_run(f, tok, NSEQ, SEQ, out, &err) != QT_OK) {
        printf("  %s\n", err.msg);
        qt_fwd_free(f);
        return INFINITY;
    }
    qt_fwd_free(f);
    double d = 0, r = 0;
    for (size_t i = 0; i < (size_t)NSEQ * SEQ * g_m->cfg.vocab; i++) {
        d = fmax(d, fabs((double)out[i] - ref[i]));
        r = fmax(r, fabs((double)ref[i]));
    }
    return d / r;
}

/* SmoothQuant 0.8 alone (nothing quantized) through the sequential pipeline
 * on a few calibration samples: norms and consumers change, the router is
 * compensated, and the model's logits do not move. */
TU_TEST(sq_preserves_the_function) {
    qt_err err;
    TU_CHECKF(qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) == QT_OK, "%s", err.msg);
    if (!g_m) return;
    const char *y = "quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier:\n      smoothing_strength: 0.8\n";
    struct qt_recipe *r = NULL;
    struct qt_resolution res;
    TU_CHECKF(qt_recipe_parse(y, strlen(y), "sq.yaml", &r, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(qt_recipe_resolve(r, g_m, &res, &err) == QT_OK);
    TU_CHECK(qt_pipe_needed(r, &res));
    struct qt_pipe_params pp = {.calib_path = tu_path("share/data/calib.txt"), .samples = 4, .seqlen = 128};
    TU_CHECKF(qt_pipe_run(g_m, r, &res, &pp, &g_pipe, &err) == QT_OK, "%s", err.msg);
    qt_resolution_free(&res);
    qt_recipe_free(r);
    if (!g_pipe) return;
    /* what changed: every layer's two norms, q/k/v, the MLPs' inputs, the routers */
    int norms = 0, routers = 0, changed_q = 0;
    float *buf = malloc(sizeof(float) * 4096 * 4096);
    float *orig = malloc(sizeof(float) * 4096 * 4096);
    for (int i = 0; buf && orig && i < g_m->n_tensors; i++) {
        const struct qt_tensor *t = &g_m->tensors[i];
        if (t->mtp || t->layer < 0 || qt_tensor_numel(t) > 4096 * 4096) continue;
        if (qt_pipe_kept(g_pipe, i, buf) != QT_OK) continue;
        TU_CHECK(qt_tensor_read_f32(g_m, t, 0, qt_tensor_rows(t), orig, &err) == QT_OK);
        int64_t nd = 0, ne = qt_tensor_numel(t);
        for (int64_t k = 0; k < ne; k++) nd += buf[k] != orig[k];
        if (!nd) continue;
        norms += t->role == QT_ROLE_NORM;
        if (t->role == QT_ROLE_ROUTER) { routers++; g_router = i; }
        changed_q += t->role == QT_ROLE_ATTN_Q;
    }
    int L = g_m->cfg.n_layers;
    printf("  changed: %d norms, %d routers, %d q_proj (%d layers)\n", norms, routers, changed_q, L);
    TU_CHECK(norms >= L);             /* at least one norm per layer moved */
    TU_CHECK(routers >= 1);           /* the MoE layers' routers were compensated */
    TU_CHECK(changed_q >= 1);
    /* the report's per-layer check: every layer below 1e-3 */
    cJSON *rep = qt_pipe_report(g_pipe);
    const cJSON *sq = cJSON_GetObjectItem(rep, "smoothquant");
    const cJSON *d = cJSON_GetObjectItem(sq, "max_rel_output_change");
    TU_CHECK(cJSON_GetArraySize(d) >= 1);
    for (int l = 0; l < cJSON_GetArraySize(d); l++) {
        const cJSON *v = cJSON_GetArrayItem(d, l);
        TU_CHECK(cJSON_IsNumber(v) && v->valuedouble < 1e-3);
    }
    cJSON_Delete(rep);
    /* logits of the whole model: base vs smoothed, and smoothed without the
     * router's compensation */
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", g_m->path);
    struct qt_tok *tok = NULL;
    int32_t *ids = NULL;
    size_t nids = 0, len = 0;
    char *text = qt_read_file(tu_path("share/data/eval.txt"), &len, &err);
    TU_CHECK(text && qt_tok_load(tp, &tok, &err) == QT_OK && qt_tok_encode(tok, text, len, &ids, &nids, &err) == QT_OK);
    size_t nl = (size_t)NSEQ * SEQ * g_m->cfg.vocab;
    float *ref = malloc(sizeof(float) * nl), *out = malloc(sizeof(float) * nl);
    if (ids && nids >= NSEQ * SEQ && ref && out) {
        struct qt_fwd *f = NULL;
        TU_CHECK(qt_fwd_init(g_m, NULL, &f, &err) == QT_OK && qt_fwd_run(f, ids, NSEQ, SEQ, ref, &err) == QT_OK);
        qt_fwd_free(f);
        struct hctx all = {0}, norouter = {1};
        struct qt_fwd_hooks hk = {.ctx = &all, .weight = smoothed_weight};
        double dd = logits_diff(ids, &hk, ref, out);
        hk.ctx = &norouter;
        double dr = logits_diff(ids, &hk, ref, out);
        printf("  logits max rel change: smoothed %.3g, router not compensated %.3g\n", dd, dr);
        TU_CHECK(dd < 1e-5);          /* power-of-two factors: the same products */
        TU_CHECK(dr > 1e-3);          /* the router reads the smoothed norm too */
    }
    free(ref);
    free(out);
    free(ids);
    free(text);
    qt_tok_free(tok);
    free(buf);
    free(orig);
    qt_pipe_free(g_pipe);
    qt_model_free(g_m);
}

int main(void) {
    TU_RUN(sq_scales_powers_of_two);
    TU_RUN(sq_preserves_the_function);
    return TU_END();
}
