/* test_sensitivity.c — units, ranking, restart from base states equals a
 * full recompute, by-layer grouping. */
#include "model/model.h"
#include "eval/qplan.h"
#include "eval/sensitivity.h"
#include "tu.h"

static struct qt_model *g_m;

static struct qt_sens_params params(enum qt_sens_by by) {
    struct qt_sens_params p = {.eval = {.data_path = tu_path("share/data/eval.txt"), .ctx = 128, .chunks = 2},
                               .by = by};
    return p;
}

TU_TEST(groups_ranked_and_restart_exact) {
    struct qt_qplan plan;
    qt_err err;
    TU_CHECK(qt_qplan_uniform(g_m, "W4A16", &plan, &err) == QT_OK);
    struct qt_sens_params p = params(QT_SENS_GROUP);
    struct qt_sens_result r;
    int rc = qt_sensitivity_run(g_m, &plan, &p, &r, &err);
    TU_CHECKF(rc == QT_OK, "%s", err.msg);
    if (rc != QT_OK) return;
    /* layer 0: attention + dense; layers 1-3: attention, shared, experts */
    TU_CHECK(r.n_units == 11);
    int kinds[4] = {0};
    double sum = 0;
    int tensors = 0, exp_unit = -1;
    for (int k = 0; k < r.n_units; k++) {
        const struct qt_sens_unit *u = &r.units[k];
        if (k > 0) TU_CHECK(u->st.kld_mean <= r.units[k - 1].st.kld_mean);
        TU_CHECK(u->st.kld_mean > 0 && u->st.positions == 256);
        sum += u->st.kld_mean;
        tensors += u->n_tensors;
        kinds[0] += !strcmp(u->kind, "attention");
        kinds[1] += !strcmp(u->kind, "dense");
        kinds[2] += !strcmp(u->kind, "shared");
        kinds[3] += !strcmp(u->kind, "experts");
        if (!strcmp(u->name, "model.layers.2.mlp.experts")) exp_unit = k;
    }
    TU_CHECK(kinds[0] == 4 && kinds[1] == 1 && kinds[2] == 3 && kinds[3] == 3);
    TU_CHECK(tensors == 172 && r.all.tensors_quantized == 172);
    TU_NEAR(r.sum_dkl, sum, 1e-12);
    TU_CHECK(r.all.kld_mean > r.units[0].st.kld_mean);
    /* the restart from the state entering layer 2 equals running all layers */
    TU_CHECK(exp_unit >= 0);
    if (exp_unit >= 0) {
        struct qt_eval_base *b = NULL;
        TU_CHECK(qt_eval_base_init(g_m, &p.eval, &b, &err) == QT_OK);
        unsigned char *only = calloc((size_t)g_m->n_tensors, 1);
        for (int i = 0; i < g_m->n_tensors; i++) {
            const struct qt_tensor *t = &g_m->tensors[i];
            only[i] = t->layer == 2 && t->expert >= 0 && !t->mtp;
        }
        plan.only = only;
        struct qt_fwd_hooks hk = qt_qplan_hooks(&plan);
        struct qt_kl_stats st;
        TU_CHECK(b && qt_eval_run(g_m, b, &hk, 0, &p.eval, &st, &err) == QT_OK);
        TU_NEAR(st.kld_mean, r.units[exp_unit].st.kld_mean, 1e-9 * st.kld_mean);
        plan.only = NULL;
        free(only);
        qt_eval_base_free(b);
    }
    qt_sens_result_free(&r);
    qt_qplan_free(&plan);
}

TU_TEST(by_layer_and_cancel) {
    struct qt_qplan plan;
    qt_err err;
    TU_CHECK(qt_qplan_uniform(g_m, "W8A16", &plan, &err) == QT_OK);
    struct qt_sens_params p = params(QT_SENS_LAYER);
    struct qt_sens_result r;
    TU_CHECK(qt_sensitivity_run(g_m, &plan, &p, &r, &err) == QT_OK);
    TU_CHECK(r.n_units == 4);
    for (int k = 0; k < r.n_units; k++) TU_CHECK(!strcmp(r.units[k].kind, "layer"));
    qt_sens_result_free(&r);
    volatile int stop = 1;
    p.eval.cancel = &stop;
    TU_CHECK(qt_sensitivity_run(g_m, &plan, &p, &r, &err) == QT_ERR && strstr(err.msg, "cancelled"));
    TU_CHECK(plan.only == NULL);
    qt_qplan_free(&plan);
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &g_m, &err) != QT_OK) {
        printf("FAIL open (%s)\n", err.msg);
        return 1;
    }
    TU_RUN(groups_ranked_and_restart_exact);
    TU_RUN(by_layer_and_cancel);
    qt_model_free(g_m);
    return TU_END();
}
