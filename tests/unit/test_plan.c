/* test_plan.c — the planner without measuring: units and sizes, layer-range
 * regexes, the knapsack against brute force, the curve, the recipe (resolves
 * to the plan, lint-clean, reloads), GLM-4.6 metadata at tensor parallel 8.
 * ΔKL here is synthetic; tests/cli/test_plan.sh measures it. */
#include "eval/plan.h"
#include "model/match.h"
#include "model/model.h"
#include "recipe/lint.h"
#include "recipe/recipe.h"
#include "tu.h"

static struct qt_model *g_m;

/* Synthetic ΔKL: falls with bytes, larger for attention (as measured). */
static void synth(struct qt_plan *p, unsigned seed) {
    for (int u = 0; u < p->n_units; u++) {
        struct qt_plan_unit *un = &p->units[u];
        seed = seed * 1103515245u + 12345u;
        double w = 0.5 + (double)(seed >> 16 & 1023) / 1024.0;
        if (!strcmp(un->kind, "qkv") || !strcmp(un->kind, "o_proj")) w *= 2;
        double kept = INFINITY;
        for (int c = 0; c < p->n_cand; c++)
            if (qt_scheme_is_kept(&p->cand[c])) kept = un->bytes[c];
        for (int c = 0; c < p->n_cand; c++) {
            if (un->bytes[c] < 0) continue;
            double bpw = un->bytes[c] * 8.0 / (double)un->params;
            seed = seed * 1103515245u + 12345u;
            double jitter = 1 + 0.3 * (double)(seed >> 16 & 1023) / 1024.0;
            un->dkl[c] = un->bytes[c] >= kept ? 0 : w * jitter * 1e-2 * pow(2.0, -(bpw - 4) * 1.7);
        }
    }
    p->measured = 1;
}

TU_TEST(units_and_sizes) {
    struct qt_plan p;
    qt_err err;
    struct qt_plan_opts o = {0};
    TU_CHECKF(qt_plan_init(g_m, &o, &p, &err) == QT_OK, "%s", err.msg);
    /* per layer qkv + o_proj; layer 0 dense gate_up + down; layers 1-3 shared gate_up + down, experts */
    TU_CHECK(p.n_units == 19);
    static const char *kn[] = {"qkv", "o_proj", "gate_up", "down", "shared_gate_up", "shared_down", "experts"};
    int kinds[7] = {0}, tensors = 0;
    for (int u = 0; u < p.n_units; u++) {
        for (int k = 0; k < 7; k++) kinds[k] += !strcmp(p.units[u].kind, kn[k]);
        tensors += p.units[u].n_tensors;
    }
    TU_CHECK(kinds[0] == 4 && kinds[1] == 4 && kinds[2] == 1 && kinds[3] == 1 && kinds[4] == 3 && kinds[5] == 3 &&
             kinds[6] == 3);
    TU_CHECK(!strcmp(p.units[0].name, "model.layers.0.self_attn.qkv_proj") && p.units[0].n_tensors == 3);
    TU_CHECK(tensors == 172);
    /* fixed + units = the whole model stored */
    int kept = -1, g128 = -1;
    for (int c = 0; c < p.n_cand; c++) {
        if (!strcmp(p.cand_name[c], "bf16")) kept = c;
        if (!strcmp(p.cand_name[c], "int4-g128-sym")) g128 = c;
    }
    TU_CHECK(kept >= 0 && g128 >= 0);
    double all = p.fixed_bytes;
    for (int u = 0; u < p.n_units; u++) all += p.units[u].bytes[kept];
    TU_NEAR(all, (double)qt_model_bytes(g_m, -1), 1);
    TU_NEAR(p.max_bytes, all, 1);
    /* bpw budget: 4.125 bits over the planned weights is uniform int4 g128 plus its scales' rounding */
    double b = qt_plan_budget_bpw(&p, 4.125), u128 = p.fixed_bytes;
    for (int u = 0; u < p.n_units; u++) u128 += p.units[u].bytes[g128];
    TU_CHECK(fabs(b - u128) < 0.002 * u128);
    qt_plan_free(&p);
    /* gguf: GGUF tensors as units (39 on the fixture), ggml types as candidates;
     * a compressed-tensors scheme is not a ggml type */
    o.format = QT_PLAN_GGUF;
    o.candidates = NULL;
    TU_CHECKF(qt_plan_init(g_m, &o, &p, &err) == QT_OK && p.n_units == 39, "%s", err.msg);
    qt_plan_free(&p);
    o.candidates = "int4-ch-sym,bf16";
    TU_CHECK(qt_plan_init(g_m, &o, &p, &err) == QT_ERR && strstr(err.msg, "not a GGUF type"));
    o.candidates = NULL;
    /* a candidate list with a group that divides nothing of 128-wide experts */
    o.format = QT_PLAN_CT;
    o.candidates = "int4-g256-sym,bf16";
    TU_CHECKF(qt_plan_init(g_m, &o, &p, &err) == QT_OK, "%s", err.msg);
    int bad = 0;
    for (int u = 0; u < p.n_units; u++) bad += p.units[u].bytes[0] < 0;
    TU_CHECK(bad > 0 && !qt_plan_uniform_ok(&p, 0));
    qt_plan_free(&p);
    o.candidates = "int4-g128-sym,nonsense";
    TU_CHECK(qt_plan_init(g_m, &o, &p, &err) == QT_ERR && strstr(err.msg, "--candidates"));
}

TU_TEST(numbers_regex) {
    int sets[][12] = {{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, {0, 1, 2, 10, 19, 20, 99, 100, 101, 250, 255, 0}};
    int lens[] = {12, 11};
    for (int k = 0; k < 2; k++) {
        char re[2048], full[2100];
        TU_CHECK(qt_plan_numbers_re(sets[k], lens[k], re, sizeof re) == QT_OK);
        snprintf(full, sizeof full, "^(?:%s)$", re);
        struct qt_name_filter *f = NULL;
        qt_err err;
        TU_CHECKF(qt_name_filter_open(full, &f, &err) == QT_OK, "%s", err.msg);
        if (!f) continue;
        for (int v = 0; v < 400; v++) {
            int in = 0;
            for (int i = 0; i < lens[k]; i++) in |= sets[k][i] == v;
            char s[16];
            snprintf(s, sizeof s, "%d", v);
            TU_CHECKF(qt_name_filter_match(f, s) == in, "%d against %s", v, re);
            snprintf(s, sizeof s, "0%d", v);
            TU_CHECKF(!qt_name_filter_match(f, s), "0%d against %s", v, re);
        }
        qt_name_filter_free(f);
    }
    int r[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    char re[256];
    qt_plan_numbers_re(r, 15, re, sizeof re);
    TU_CHECKF(!strcmp(re, "[3-9]|1[0-7]"), "%s", re);
}

/* Brute force over every allocation of the usable choices. */
static double brute(const struct qt_plan *p, double budget) {
    int n = p->n_units, ch[64] = {0};
    for (int u = 0; u < n; u++)
        while (p->units[u].bytes[ch[u]] < 0) ch[u]++;
    double best = INFINITY;
    for (;;) {
        double b = qt_plan_bytes(p, ch);
        if (b <= budget) {
            double s = qt_plan_sum_dkl(p, ch);
            if (s < best) best = s;
        }
        int u = 0;
        for (; u < n; u++) {
            int c = ch[u] + 1;
            while (c < p->n_cand && p->units[u].bytes[c] < 0) c++;
            if (c < p->n_cand) {
                ch[u] = c;
                break;
            }
            ch[u] = 0;
            while (p->units[u].bytes[ch[u]] < 0) ch[u]++;
        }
        if (u == n) break;
    }
    return best;
}

TU_TEST(knapsack_exact) {
    struct qt_plan p;
    qt_err err;
    struct qt_plan_opts o = {.candidates = "int4-ch-sym,int4-g32-sym,int8-ch-sym"};
    TU_CHECK(qt_plan_init(g_m, &o, &p, &err) == QT_OK);
    struct qt_plan_solution s;
    TU_CHECK(qt_plan_solve(&p, p.max_bytes, 0, &s, &err) == QT_ERR && strstr(err.msg, "not measured"));
    /* the curve: increasing bytes, decreasing ΔKL, uniform points marked */
    synth(&p, 5);
    struct qt_plan_curve cv;
    TU_CHECK(qt_plan_curve(&p, 32, &cv, &err) == QT_OK);
    TU_CHECKF(cv.n >= 8 && cv.n_uniform == 3, "%d points, %d uniform", cv.n, cv.n_uniform);
    for (int i = 1; i < cv.n; i++) TU_CHECK(cv.pt[i].bytes > cv.pt[i - 1].bytes && cv.pt[i].sum_dkl < cv.pt[i - 1].sum_dkl);
    for (int i = 0; i < cv.n_uniform; i++) TU_CHECK(cv.uni[i].uniform >= 0);
    TU_NEAR(cv.pt[0].bytes, p.min_bytes, 1);
    qt_plan_curve_free(&cv);
    /* brute force: the units of layers 2-3 take one choice, the 9 others any of 3 (3^9) */
    for (int u = 0; u < p.n_units; u++)
        if (p.units[u].layer >= 2) p.units[u].bytes[1] = p.units[u].bytes[2] = -1;
    double lo = p.fixed_bytes, hi = p.fixed_bytes;
    for (int u = 0; u < p.n_units; u++) {
        lo += p.units[u].bytes[0];
        hi += p.units[u].bytes[p.units[u].layer >= 2 ? 0 : 2];
    }
    for (unsigned seed = 1; seed <= 3; seed++) {
        synth(&p, seed);
        for (int k = 0; k < 5; k++) {
            double budget = lo + (hi - lo) * (0.03 + 0.2 * k);
            TU_CHECKF(qt_plan_solve(&p, budget, 0, &s, &err) == QT_OK, "%s", err.msg);
            double opt = brute(&p, budget);
            TU_CHECK(s.bytes <= budget);
            TU_CHECK(s.lower_bound <= opt + 1e-12);
            /* the grid's rounding may cost a little; here it does not */
            TU_CHECKF(s.sum_dkl <= opt * (1 + 1e-9), "seed %u budget %d: %.9g vs optimum %.9g", seed, k, s.sum_dkl, opt);
            qt_plan_solution_free(&s);
        }
    }
    /* below the cheapest allocation: an error naming the smallest size */
    TU_CHECK(qt_plan_solve(&p, p.min_bytes - 1000, 0, &s, &err) == QT_ERR && strstr(err.msg, "smallest"));
    qt_plan_free(&p);
}

/* The recipe of a plan resolves to it (qt_plan_recipe checks), has no lint
 * finding, and survives a save and reload. */
static void recipe_roundtrip(const struct qt_model *m, struct qt_plan *p, const int *choice, const char *base, int tp,
                             const char *tag) {
    struct qt_recipe *r = NULL;
    qt_err err;
    int rc = qt_plan_recipe(p, choice, base, "# test\n", &r, &err);
    TU_CHECKF(rc == QT_OK, "%s: %s", tag, err.msg);
    if (rc != QT_OK) return;
    struct qt_resolution res;
    TU_CHECK(qt_recipe_resolve(r, m, &res, &err) == QT_OK);
    struct qt_lint l;
    struct qt_lint_opts lo = {.tp = tp};
    TU_CHECK(qt_lint_run(r, m, &res, &lo, &l, &err) == QT_OK);
    TU_CHECKF(l.n == 0, "%s: %d findings, first %s %s", tag, l.n, l.n ? l.f[0].code : "", l.n ? l.f[0].message : "");
    qt_lint_free(&l);
    qt_resolution_free(&res);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.yaml", tu_tmpdir("test_plan"), tag);
    TU_CHECK(qt_recipe_save(r, path, &err) == QT_OK);
    struct qt_recipe *r2 = NULL;
    TU_CHECKF(qt_recipe_load(path, &r2, &err) == QT_OK, "%s", err.msg);
    if (r2) {
        struct qt_resolution a, b;
        TU_CHECK(qt_recipe_resolve(r, m, &a, &err) == QT_OK && qt_recipe_resolve(r2, m, &b, &err) == QT_OK);
        int same = 1;
        for (int i = 0; i < m->n_tensors; i++) same &= !strcmp(a.t[i].scheme, b.t[i].scheme);
        TU_CHECK(same);
        /* patterns per layer range: a handful of targets, never one per tensor */
        int targets = 0;
        for (int g = 0; g < r2->n_groups; g++) targets += r2->groups[g].n_targets;
        TU_CHECKF(targets <= 7 * p->n_cand, "%s: %d targets", tag, targets);
        qt_resolution_free(&a);
        qt_resolution_free(&b);
        qt_recipe_free(r2);
    }
    qt_recipe_free(r);
}

TU_TEST(recipe_as_a_person_writes_it) {
    struct qt_plan p;
    qt_err err;
    struct qt_plan_opts o = {0};
    TU_CHECK(qt_plan_init(g_m, &o, &p, &err) == QT_OK);
    synth(&p, 7);
    for (int k = 0; k < 3; k++) {
        struct qt_plan_solution s;
        double budget = p.min_bytes + (p.max_bytes - p.min_bytes) * (0.01 + 0.1 * k);
        TU_CHECK(qt_plan_solve(&p, budget, 0, &s, &err) == QT_OK);
        char tag[32];
        snprintf(tag, sizeof tag, "tiny%d", k);
        recipe_roundtrip(g_m, &p, s.choice, NULL, 1, tag);
        qt_plan_solution_free(&s);
    }
    /* on a base recipe: its MTP and lm_head choices stay */
    qt_plan_free(&p);
    struct qt_recipe *base;
    struct qt_resolution bres;
    TU_CHECK(qt_recipe_load(tu_path("recipes/tiny-w8a16.yaml"), &base, &err) == QT_OK);
    TU_CHECK(qt_recipe_resolve(base, g_m, &bres, &err) == QT_OK);
    o.base = base;
    o.base_res = &bres;
    TU_CHECKF(qt_plan_init(g_m, &o, &p, &err) == QT_OK, "%s", err.msg);
    synth(&p, 9);
    struct qt_plan_solution s;
    TU_CHECK(qt_plan_solve(&p, p.min_bytes + 0.1 * (p.max_bytes - p.min_bytes), 0, &s, &err) == QT_OK);
    recipe_roundtrip(g_m, &p, s.choice, tu_path("recipes/tiny-w8a16.yaml"), 1, "tinybase");
    qt_plan_solution_free(&s);
    qt_plan_free(&p);
    qt_resolution_free(&bres);
    qt_recipe_free(base);
}

/* GPTQ candidates: the recipe is one GPTQModifier (default actorder) giving
 * every tensor the planned scheme; a table records its algorithm and a plan
 * of the other kind refuses it; no base recipe yet. */
TU_TEST(gptq_candidates) {
    struct qt_plan p, q;
    qt_err err;
    struct qt_plan_opts o = {.algo = QT_ALGO_GPTQ, .candidates = "int4-g128-sym,int8-ch-sym,bf16"};
    TU_CHECKF(qt_plan_init(g_m, &o, &p, &err) == QT_OK, "%s", err.msg);
    synth(&p, 5);
    struct qt_plan_solution s;
    TU_CHECK(qt_plan_solve(&p, p.min_bytes + 0.2 * (p.max_bytes - p.min_bytes), 0, &s, &err) == QT_OK);
    struct qt_recipe *r = NULL;
    TU_CHECKF(qt_plan_recipe(&p, s.choice, NULL, NULL, &r, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(r && r->n_mods == 1 && r->mods[0].algo == QT_ALGO_GPTQ);
    /* actorder left to the default (static): an explicit one on a channel
     * group is what compressed-tensors refuses (QT016) */
    int no_actorder = r != NULL && r->n_groups > 0;
    for (int g = 0; r && g < r->n_groups; g++) no_actorder &= !r->groups[g].actorder[0];
    TU_CHECK(no_actorder);
    qt_recipe_free(r);
    int choice[64];
    TU_CHECK(p.n_units <= 64 && qt_plan_uniform_choice(&p, 0, choice, &err) == QT_OK && choice[0] == 0);
    /* the table says GPTQ; a round-to-nearest plan refuses it */
    char *tbl = qt_plan_dkl_json(&p, &err);
    TU_CHECK(tbl && strstr(tbl, "\"algo\":\"GPTQ\""));
    struct qt_plan_opts o2 = {.candidates = "int4-g128-sym,int8-ch-sym,bf16"};
    TU_CHECK(qt_plan_init(g_m, &o2, &q, &err) == QT_OK);
    TU_CHECK(qt_plan_load_dkl(&q, tbl, strlen(tbl), "t.json", &err) == QT_ERR && strstr(err.msg, "GPTQ"));
    qt_plan_free(&q);
    free(tbl);
    qt_plan_solution_free(&s);
    qt_plan_free(&p);
    struct qt_recipe *base;
    struct qt_resolution bres;
    TU_CHECK(qt_recipe_load(tu_path("recipes/tiny-w8a16.yaml"), &base, &err) == QT_OK);
    TU_CHECK(qt_recipe_resolve(base, g_m, &bres, &err) == QT_OK);
    o.base = base;
    o.base_res = &bres;
    TU_CHECK(qt_plan_init(g_m, &o, &p, &err) == QT_ERR && strstr(err.msg, "base recipe"));
    qt_resolution_free(&bres);
    qt_recipe_free(base);
}

TU_TEST(glm46_metadata) {
    struct qt_model *m = NULL;
    qt_err err;
    TU_CHECK(qt_model_open(tu_path("share/models/meta/GLM-4.6.config.json"), &m, &err) == QT_OK);
    if (!m) return;
    struct qt_plan p;
    struct qt_plan_opts o = {.tp = 8};
    TU_CHECKF(qt_plan_init(m, &o, &p, &err) == QT_OK, "%s", err.msg);
    /* 92 layers: qkv and o_proj each, dense gate_up/down 0-2, shared gate_up/down and experts 3-91 */
    TU_CHECK(p.n_units == 2 * 92 + 2 * 3 + 2 * 89 + 89);
    struct qt_eval_params ep = {.data_path = "x"};
    TU_CHECK(qt_plan_measure(&p, &ep, &err) == QT_ERR && strstr(err.msg, "needs the weights"));
    synth(&p, 3);
    /* at tp 8 the experts' down_proj (1536 / 8 = 192 inputs a shard) takes no group 128 */
    int g128 = -1;
    for (int c = 0; c < p.n_cand; c++)
        if (!strcmp(p.cand_name[c], "int4-g128-sym")) g128 = c;
    for (int u = 0; u < p.n_units; u++)
        if (!strcmp(p.units[u].kind, "experts")) TU_CHECK(p.units[u].bytes[g128] < 0);
    struct qt_plan_solution s;
    TU_CHECK(qt_plan_solve(&p, qt_plan_budget_bpw(&p, 4.6), 0, &s, &err) == QT_OK);
    TU_CHECK(s.bpw <= 4.6 && s.bpw > 4.5);
    TU_CHECK(s.sum_dkl - s.lower_bound <= 0.01 * s.sum_dkl);
    recipe_roundtrip(m, &p, s.choice, NULL, 8, "glm46");
    qt_plan_solution_free(&s);
    qt_plan_free(&p);
    qt_model_free(m);
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) != QT_OK) {
        printf("FAIL open (%s)\n", err.msg);
        return 1;
    }
    TU_RUN(units_and_sizes);
    TU_RUN(numbers_regex);
    TU_RUN(knapsack_exact);
    TU_RUN(recipe_as_a_person_writes_it);
    TU_RUN(gptq_candidates);
    TU_RUN(glm46_metadata);
    qt_model_free(g_m);
    return TU_END();
}
