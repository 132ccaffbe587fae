/* test_kl.c — KL statistics, the base cache, and tests/refs/eval_kl.json. */
#include <stdint.h>

#include "eval/eval.h"
#include "model/model.h"
#include "eval/qplan.h"
#include "tu.h"

TU_TEST(summarize_nearest_rank) {
    double v[11];
    for (int i = 0; i < 11; i++) v[i] = 10 - i;   /* 10..0, unsorted */
    struct qt_kl_stats st = {0};
    qt_kl_summarize(v, 11, &st);
    TU_NEAR(st.kld_mean, 5, 1e-12);
    TU_NEAR(st.kld_median, 5, 0);
    TU_NEAR(st.kld_p90, 9, 0);      /* round(0.9 * 10) = 9 */
    TU_NEAR(st.kld_p99, 10, 0);     /* round(9.9) = 10 */
    TU_NEAR(st.kld_max, 10, 0);
    TU_NEAR(st.kld_stderr, sqrt(10.0 / 10.0), 1e-12);   /* population var 10, / (n-1) */
    TU_CHECK(st.positions == 11);
}

static struct qt_model *g_m;
static struct qt_eval_base *g_base;
static int64_t g_done, g_total;
static void on_progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    g_done = done;
    g_total = total;
}

static struct qt_eval_params params(const char *cache) {
    struct qt_eval_params p = {.data_path = tu_path("share/data/eval.txt"), .ctx = 512, .chunks = 16,
                               .cache_dir = cache, .progress = on_progress};
    return p;
}

/* Reference figures of tests/refs/eval_kl.json. */
struct ref { const char *scheme; double kld_mean, kld_median, ppl_base, ppl_q, same_top, rms_dp; };
static const struct ref refs[] = {
    {"W4A16", 0.058098, 0.032031, 14.837924, 15.306963, 0.864014, 0.064073},
    {"W8A16", 0.000849, 0.000108, 14.837924, 14.837119, 0.99292, 0.006104},
};

static void eval_case(const struct ref *r, int f32) {
    struct qt_qplan plan;
    qt_err err;
    TU_CHECK(qt_qplan_uniform(g_m, r->scheme, &plan, &err) == QT_OK);
    plan.f32_arith = f32;
    TU_CHECK(plan.n_quantized == 172);
    struct qt_fwd_hooks hk = qt_qplan_hooks(&plan);
    struct qt_eval_params p = params(NULL);
    struct qt_kl_stats st;
    int rc = qt_eval_run(g_m, g_base, &hk, 0, &p, &st, &err);
    TU_CHECKF(rc == QT_OK, "%s", err.msg);
    printf("  %s %s: kld %.6f median %.6f ppl %.6f / %.6f same %.6f rms_dp %.6f\n", r->scheme,
           f32 ? "f32-arith" : "bf16-arith", st.kld_mean, st.kld_median, st.ppl_base, st.ppl_q, st.same_top_p,
           st.rms_dp);
    TU_CHECK(st.positions == 8192);
    TU_CHECK(st.ppl_positions == 16 * 511);
    TU_NEAR(st.ppl_base, r->ppl_base, r->ppl_base * 1e-4);
    if (f32) {
        /* the reference's own arithmetic: only summation order differs */
        TU_NEAR(st.kld_mean, r->kld_mean, r->kld_mean * 0.005);
        TU_NEAR(st.kld_median, r->kld_median, r->kld_median * 0.01);
        TU_NEAR(st.ppl_q, r->ppl_q, r->ppl_q * 1e-4);
        TU_NEAR(st.same_top_p, r->same_top, 0.002);
        TU_NEAR(st.rms_dp, r->rms_dp, r->rms_dp * 0.01);
    } else {
        /* the checkpoint's bf16 arithmetic: the tolerance of tests/refs/README.md */
        TU_NEAR(st.kld_mean, r->kld_mean, r->kld_mean * 0.03);
        TU_NEAR(st.ppl_q, r->ppl_q, r->ppl_q * 0.005);
    }
    qt_qplan_free(&plan);
}

TU_TEST(reference_w4a16) { eval_case(&refs[0], 1); eval_case(&refs[0], 0); }
TU_TEST(reference_w8a16) { eval_case(&refs[1], 1); eval_case(&refs[1], 0); }

/* A second base over the same text comes from the disk cache, identical. */
TU_TEST(base_cache_reload) {
    const char *dir = tu_tmpdir("eval_cache");
    struct qt_eval_params p = params(dir);
    p.chunks = 2;
    p.ctx = 64;
    struct qt_eval_base *a = NULL, *b = NULL;
    qt_err err;
    TU_CHECK(qt_eval_base_init(g_m, &p, &a, &err) == QT_OK);
    TU_CHECK(a && !a->from_cache && a->nseq == 2 && a->npos == 128);
    TU_CHECK(g_done == g_total && g_total > 0);
    TU_CHECK(qt_eval_base_init(g_m, &p, &b, &err) == QT_OK);
    TU_CHECK(b && b->from_cache);
    if (a && b) {
        TU_CHECK(memcmp(a->tokens, b->tokens, sizeof(int32_t) * 128) == 0);
        TU_CHECK(memcmp(a->h_final, b->h_final, sizeof(float) * 128 * (size_t)a->hidden) == 0);
        TU_CHECK(memcmp(a->logits, b->logits, sizeof(float) * 128 * (size_t)a->vocab) == 0);
        /* unquantized: KL 0, same argmax everywhere */
        struct qt_kl_stats st;
        TU_CHECK(qt_eval_run(g_m, b, NULL, 0, &p, &st, &err) == QT_OK);
        TU_NEAR(st.kld_max, 0, 1e-9);
        TU_NEAR(st.same_top_p, 1, 0);
        TU_NEAR(st.ppl_q, st.ppl_base, st.ppl_base * 1e-5);   /* sgemm blocking differs by batch size */
        p.second_half = 1;
        TU_CHECK(qt_eval_run(g_m, b, NULL, 0, &p, &st, &err) == QT_OK);
        TU_CHECK(st.positions == 62 && st.ppl_positions == 62);   /* 2 x (64 - 1 - 32), llama-perplexity's count */
    }
    qt_eval_base_free(a);
    qt_eval_base_free(b);
}

/* Per-token activation fake-quant adds to the weight-only KL. */
TU_TEST(activation_quant_adds_kl) {
    struct qt_eval_params p = params(NULL);
    p.chunks = 2;
    p.ctx = 128;
    struct qt_eval_base *b = NULL;
    qt_err err;
    TU_CHECK(qt_eval_base_init(g_m, &p, &b, &err) == QT_OK);
    if (!b) return;
    const char *schemes[3] = {"int8-ch-sym", "int8-ch-sym+aint8-tok", "fp8-ch+afp8-tok"};
    double kl[3] = {0};
    for (int i = 0; i < 3; i++) {
        struct qt_qplan plan;
        TU_CHECK(qt_qplan_uniform(g_m, schemes[i], &plan, &err) == QT_OK);
        struct qt_fwd_hooks hk = qt_qplan_hooks(&plan);
        struct qt_kl_stats st;
        TU_CHECK(qt_eval_run(g_m, b, &hk, 0, &p, &st, &err) == QT_OK);
        kl[i] = st.kld_mean;
        qt_qplan_free(&plan);
    }
    printf("  KL int8-ch %.6f, +aint8-tok %.6f, fp8-ch+afp8-tok %.6f\n", kl[0], kl[1], kl[2]);
    TU_CHECK(kl[0] > 0 && kl[1] > 1.5 * kl[0] && kl[2] > kl[0]);
    qt_eval_base_free(b);
}

TU_TEST(cancel_and_errors) {
    volatile int stop = 1;
    struct qt_eval_params p = params(NULL);
    p.chunks = 1;
    p.ctx = 32;
    p.cancel = &stop;
    struct qt_eval_base *b = NULL;
    qt_err err;
    TU_CHECK(qt_eval_base_init(g_m, &p, &b, &err) == QT_ERR && strstr(err.msg, "cancelled"));
    p.cancel = NULL;
    p.ctx = 1 << 22;
    TU_CHECK(qt_eval_base_init(g_m, &p, &b, &err) == QT_ERR && strstr(err.msg, "fewer than one chunk"));
    p.data_path = "/nonexistent/eval.txt";
    TU_CHECK(qt_eval_base_init(g_m, &p, &b, &err) == QT_ERR);
    struct qt_qplan plan;
    TU_CHECK(qt_qplan_uniform(g_m, "fp8-t+afp8-t", &plan, &err) == QT_ERR && strstr(err.msg, "per-token"));
    TU_CHECK(qt_qplan_uniform(g_m, "int5-gx-sym", &plan, &err) == QT_ERR);
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) != QT_OK) {
        printf("FAIL open (%s)\n", err.msg);
        return 1;
    }
    TU_RUN(summarize_nearest_rank);
    struct qt_eval_params p = params(NULL);
    if (qt_eval_base_init(g_m, &p, &g_base, &err) != QT_OK) {
        printf("FAIL base (%s)\n", err.msg);
        return 1;
    }
    TU_RUN(reference_w4a16);
    TU_RUN(reference_w8a16);
    TU_RUN(base_cache_reload);
    TU_RUN(activation_quant_adds_kl);
    TU_RUN(cancel_and_errors);
    qt_eval_base_free(g_base);
    qt_model_free(g_m);
    return TU_END();
}
