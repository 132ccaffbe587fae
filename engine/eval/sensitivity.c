/* sensitivity.c — single-unit ΔKL scans restarting from base states. */
#include "eval/sensitivity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *unit_kind(const struct qt_tensor *t, char *suffix, size_t n) {
    switch (t->role) {
    case QT_ROLE_ATTN_Q: case QT_ROLE_ATTN_K: case QT_ROLE_ATTN_V: case QT_ROLE_ATTN_O:
    case QT_ROLE_ATTN_Q_A: case QT_ROLE_ATTN_Q_B: case QT_ROLE_ATTN_KV_A: case QT_ROLE_ATTN_KV_B:
        snprintf(suffix, n, "self_attn");
        return "attention";
    case QT_ROLE_MLP_GATE: case QT_ROLE_MLP_UP: case QT_ROLE_MLP_DOWN:
        snprintf(suffix, n, "mlp");
        return "dense";
    case QT_ROLE_SHARED_GATE: case QT_ROLE_SHARED_UP: case QT_ROLE_SHARED_DOWN:
        snprintf(suffix, n, "mlp.shared_experts");
        return "shared";
    case QT_ROLE_EXPERT_GATE: case QT_ROLE_EXPERT_UP: case QT_ROLE_EXPERT_DOWN:
        snprintf(suffix, n, "mlp.experts");
        return "experts";
    default:
        return NULL;
    }
}

/* Kind of a Linear outside any fused group, as a unit of its own. */
static const char *single_kind(enum qt_role r) {
    switch (r) {
    case QT_ROLE_ATTN_O: return "o_proj";
    case QT_ROLE_ATTN_Q_B: return "q_b";
    case QT_ROLE_ATTN_KV_B: return "kv_b";
    case QT_ROLE_MLP_DOWN: return "down";
    case QT_ROLE_SHARED_DOWN: return "shared_down";
    default: return NULL;
    }
}

const char *qt_sens_unit_of(const struct qt_model *m, const struct qt_tensor *t, enum qt_sens_by by, char *name,
                            size_t n) {
    char suffix[64];
    const char *kind = unit_kind(t, suffix, sizeof suffix);
    if (!kind || t->layer < 0 || t->mtp) return NULL;
    if (by == QT_SENS_LAYER) {
        snprintf(name, n, "model.layers.%d", t->layer);
        return "layer";
    }
    if (by == QT_SENS_FUSED) {
        static const char *const gkind[QT_GROUP_KIND_COUNT] = {"qkv", "gate_up", "shared_gate_up", "experts",
                                                              "q_a_kv_a"};
        if (t->group >= 0 && t->group < m->n_groups) {
            const struct qt_group *g = &m->groups[t->group];
            snprintf(name, n, "%s", g->name);
            return gkind[g->kind];
        }
        if (t->expert >= 0) {   /* a lone routed expert tensor: still the layer's experts */
            snprintf(name, n, "model.layers.%d.mlp.experts", t->layer);
            return "experts";
        }
        const char *k = single_kind(t->role);
        if (!k) return NULL;
        qt_tensor_module(t, name, n);
        return k;
    }
    snprintf(name, n, "model.layers.%d.%s", t->layer, suffix);
    return kind;
}

void qt_sens_result_free(struct qt_sens_result *r) {
    if (!r) return;
    free(r->units);
    memset(r, 0, sizeof *r);
}

struct prog {
    const struct qt_sens_params *p;
    int64_t base, per, total;   /* work units: layers + chunks per eval */
};

static void sub_progress(void *ctx, int64_t done, int64_t total) {
    struct prog *g = ctx;
    (void)total;
    if (g->p->eval.progress) g->p->eval.progress(g->p->eval.progress_ctx, g->base + done, g->total);
}

static int cmp_unit(const void *a, const void *b) {
    double x = ((const struct qt_sens_unit *)a)->st.kld_mean, y = ((const struct qt_sens_unit *)b)->st.kld_mean;
    return (x < y) - (x > y);
}

int qt_sensitivity_run(const struct qt_model *m, struct qt_qplan *plan, const struct qt_sens_params *p,
                       struct qt_sens_result *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    struct qt_eval_params ep = p->eval;
    ep.keep_states = 1;     /* base progress reported as its own phase */
    struct qt_eval_base *base = NULL;
    if (qt_eval_base_init(m, &ep, &base, err) != QT_OK) return QT_ERR;
    int rc = qt_sensitivity_scan(m, base, plan, p, out, err);
    qt_eval_base_free(base);
    return rc;
}

int qt_sensitivity_scan(const struct qt_model *m, const struct qt_eval_base *base, struct qt_qplan *plan,
                        const struct qt_sens_params *p, struct qt_sens_result *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    int n = m->n_tensors;
    int *unit_of = malloc(sizeof(int) * (size_t)(n + 1));   /* (n) unit index of tensor i, -1 */
    struct qt_sens_unit *u = calloc((size_t)(n + 1), sizeof *u);
    unsigned char *saved = plan->only;
    unsigned char *only = calloc((size_t)(n + 1), 1);
    int rc = QT_ERR, nu = 0;
    if (!unit_of || !u || !only) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    if (!base->states) {
        qt_err_set(err, "sensitivity: the base was computed without the states entering each layer");
        goto out;
    }
    /* units in model order */
    for (int i = 0; i < n; i++) {
        unit_of[i] = -1;
        const struct qt_tensor *t = &m->tensors[i];
        char name[128];
        const char *kind = qt_sens_unit_of(m, t, p->by, name, sizeof name);
        if (!kind || !plan->quant[i]) continue;
        int k;
        for (k = 0; k < nu; k++)
            if (!strcmp(u[k].name, name)) break;
        if (k == nu) {
            snprintf(u[nu].name, sizeof u[nu].name, "%s", name);
            u[nu].kind = kind;
            u[nu].layer = t->layer;
            nu++;
        }
        unit_of[i] = k;
        u[k].n_tensors++;
        u[k].params += qt_tensor_numel(t);
    }
    if (nu == 0) {
        qt_err_set(err, "the scheme quantizes no Linear of the decoder layers");
        goto out;
    }
    struct qt_eval_params ep = p->eval;
    struct prog g = {p, 0, 0, 0};
    ep.progress = sub_progress;
    ep.progress_ctx = &g;
    int L = m->cfg.n_layers;
    /* work units: each unit (L - layer + chunks), all (L + chunks) */
    g.total = L + base->nseq;
    for (int k = 0; k < nu; k++) g.total += L - u[k].layer + base->nseq;
    struct qt_fwd_hooks hk = qt_qplan_hooks(plan);
    plan->only = only;
    for (int k = 0; k < nu; k++) {
        for (int i = 0; i < n; i++) only[i] = unit_of[i] == k;
        if (qt_eval_run(m, base, &hk, u[k].layer, &ep, &u[k].st, err) != QT_OK) goto out;
        u[k].st.tensors_quantized = u[k].n_tensors;
        g.base += L - u[k].layer + base->nseq;
    }
    for (int i = 0; i < n; i++) only[i] = unit_of[i] >= 0;
    if (qt_eval_run(m, base, &hk, 0, &ep, &out->all, err) != QT_OK) goto out;
    int nq = 0;
    for (int i = 0; i < n; i++) nq += unit_of[i] >= 0;
    out->all.tensors_quantized = nq;
    for (int k = 0; k < nu; k++) out->sum_dkl += u[k].st.kld_mean;
    qsort(u, (size_t)nu, sizeof *u, cmp_unit);
    out->units = u;
    out->n_units = nu;
    out->nseq = base->nseq;
    out->ctx = base->ctx;
    u = NULL;
    rc = QT_OK;
out:
    plan->only = saved;
    free(only);
    free(unit_of);
    free(u);
    return rc;
}
