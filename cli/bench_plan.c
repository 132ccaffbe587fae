/* bench_plan.c — `qtune bench plan`: the planner's search on GLM-4.6
 * metadata (share/models/meta/GLM-4.6.config.json: 92 layers, 457 units x
 * 11 candidates) once ΔKL is known (synthetic here: the search does not look
 * at where the numbers come from).  Timed: the exact knapsack at 4.5 bpw
 * (32768 grid cells), the 48-point Pareto curve and writing the recipe;
 * against opening the metadata model, measured in the same run.  Goal (issue
 * 16): the search returns in under a second. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "eval/plan.h"
#include "model/model.h"
#include "recipe/recipe.h"

/* ΔKL falling with bits per weight, larger for attention, with a
 * deterministic jitter so that units differ. */
static void synth(struct qt_plan *p) {
    unsigned s = 12345;
    for (int u = 0; u < p->n_units; u++) {
        struct qt_plan_unit *un = &p->units[u];
        s = s * 1103515245u + 12345u;
        double w = (0.5 + (double)(s >> 16 & 1023) / 1024.0) * (strcmp(un->kind, "qkv") && strcmp(un->kind, "o_proj") ? 1 : 3);
        for (int c = 0; c < p->n_cand; c++) {
            if (un->bytes[c] < 0) continue;
            double bpw = un->bytes[c] * 8.0 / (double)un->params;
            un->dkl[c] = qt_scheme_is_kept(&p->cand[c]) ? 0 : w * 1e-4 * pow(2.0, -(bpw - 4) * 1.7);
        }
    }
    p->measured = 1;
}

int qt_bench_plan(void **json_out, qt_err *err) {
    char path[4096];
    if (!qt_share_find("models/meta/GLM-4.6.config.json", path, sizeof path))
        return qt_err_set(err, "bench plan: share/models/meta/GLM-4.6.config.json not found");
    const int reps = 3;
    double t_open = 1e30, t_init = 1e30, t_solve = 1e30, t_curve = 1e30, t_recipe = 1e30;
    double bpw = 0, gap = 0, bytes = 0;
    int units = 0, cands = 0, points = 0, rc = QT_OK;
    for (int r = 0; r < reps && rc == QT_OK; r++) {
        struct qt_model *m = NULL;
        double t0 = qt_now();
        if (qt_model_open(path, &m, err) != QT_OK) return QT_ERR;
        double t1 = qt_now();
        struct qt_plan p;
        struct qt_plan_opts o = {0};
        if (qt_plan_init(m, &o, &p, err) != QT_OK) {
            qt_model_free(m);
            return QT_ERR;
        }
        double t2 = qt_now();
        synth(&p);
        struct qt_plan_solution s = {0};
        struct qt_plan_curve cv = {0};
        struct qt_recipe *rec = NULL;
        double t3 = qt_now();
        rc = qt_plan_solve(&p, qt_plan_budget_bpw(&p, 4.5), 0, &s, err);
        double t4 = qt_now();
        if (rc == QT_OK) rc = qt_plan_curve(&p, 48, &cv, err);
        double t5 = qt_now();
        if (rc == QT_OK) rc = qt_plan_recipe(&p, s.choice, NULL, NULL, &rec, err);
        double t6 = qt_now();
        if (t1 - t0 < t_open) t_open = t1 - t0;
        if (t2 - t1 < t_init) t_init = t2 - t1;
        if (t4 - t3 < t_solve) t_solve = t4 - t3;
        if (t5 - t4 < t_curve) t_curve = t5 - t4;
        if (t6 - t5 < t_recipe) t_recipe = t6 - t5;
        bpw = s.bpw;
        bytes = s.bytes;
        gap = s.sum_dkl > 0 ? (s.sum_dkl - s.lower_bound) / s.sum_dkl : 0;
        units = p.n_units;
        cands = p.n_cand;
        points = cv.n;
        qt_recipe_free(rec);
        qt_plan_curve_free(&cv);
        qt_plan_solution_free(&s);
        qt_plan_free(&p);
        qt_model_free(m);
    }
    if (rc != QT_OK) return QT_ERR;
    double search = t_solve + t_curve;
    cJSON *d;
    cJSON *j = cli_bench_result("plan", "GLM-4.6 search once ΔKL is known: knapsack at 4.5 bpw + 48-point curve", search, t_open, search / t_open, "s", &d);
    cJSON_AddStringToObject(d, "baseline_is", "opening the GLM-4.6 metadata model (qt_model_open)");
    cJSON_AddNumberToObject(d, "units", units);
    cJSON_AddNumberToObject(d, "candidates", cands);
    cJSON_AddNumberToObject(d, "grid_cells", 32768);
    cJSON_AddNumberToObject(d, "init_s", t_init);
    cJSON_AddNumberToObject(d, "solve_s", t_solve);
    cJSON_AddNumberToObject(d, "curve_s", t_curve);
    cJSON_AddNumberToObject(d, "curve_points", points);
    cJSON_AddNumberToObject(d, "recipe_s", t_recipe);
    cJSON_AddNumberToObject(d, "plan_bpw", bpw);
    cJSON_AddNumberToObject(d, "plan_bytes", bytes);
    cJSON_AddNumberToObject(d, "relative_gap_bound", gap);
    cJSON_AddNumberToObject(d, "runs", reps);
    cJSON_AddNumberToObject(d, "goal_s", 1.0);
    *json_out = j;
    return QT_OK;
}
