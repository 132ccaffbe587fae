/* plan.c — units and sizes, ΔKL measurement, the multiple-choice knapsack,
 * the Pareto curve and the recipe a person would write. */
#include "eval/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "eval/plan_gguf.h"
#include "eval/qplan.h"
#include "eval/sensitivity.h"
#include "base/format.h"
#include "quant/ggml_quants.h"
#include "recipe/lint.h"

const char qt_plan_ct_candidates[] =
    "int4-ch-sym,int4-g128-sym,int4-g64-sym,int4-g32-sym,int4-g128-asym,int4-g64-asym,int4-g32-asym,int8-ch-sym,"
    "int8-g128-sym,fp8-ch,bf16";

void qt_plan_free(struct qt_plan *p) {
    if (!p) return;
    for (int u = 0; u < p->n_units; u++) free(p->units[u].tensors);
    free(p->units);
    qt_plan_gguf_free(p);
    memset(p, 0, sizeof *p);
}

static int parse_candidates(struct qt_plan *p, const char *list, qt_err *err) {
    const char *s = list;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char one[QT_SCHEME_STR_MAX];
        if (n == 0 || n >= sizeof one) return qt_err_set(err, "plan: --candidates: empty or too long entry in '%s'", list);
        memcpy(one, s, n);
        one[n] = 0;
        if (p->n_cand == QT_PLAN_MAX_CAND) return qt_err_set(err, "plan: --candidates: more than %d schemes", QT_PLAN_MAX_CAND);
        struct qt_scheme sc;
        if (qt_scheme_parse(one, &sc, err) != QT_OK) return qt_err_prefix(err, "plan: --candidates");
        if (sc.act != QT_ACT_NONE && sc.act != QT_ACT_INT8_TOK && sc.act != QT_ACT_FP8_TOK)
            return qt_err_set(err, "plan: --candidates: %s: evaluation models only per-token dynamic activations", one);
        int dup = 0;
        for (int c = 0; c < p->n_cand; c++) dup |= qt_scheme_equal(&p->cand[c], &sc);
        if (!dup) {
            p->cand[p->n_cand] = sc;
            qt_scheme_format(&sc, p->cand_name[p->n_cand], sizeof p->cand_name[0]);
            p->n_cand++;
        }
        s += n + (e != NULL);
    }
    if (p->n_cand == 0) return qt_err_set(err, "plan: --candidates: no scheme given");
    return QT_OK;
}

int qt_plan_init(const struct qt_model *m, const struct qt_plan_opts *o, struct qt_plan *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    out->m = m;
    out->format = o->format;
    out->tp = o->tp > 1 ? o->tp : 1;
    out->algo = o->algo == QT_ALGO_GPTQ ? QT_ALGO_GPTQ : QT_ALGO_RTN;
    out->kappa = 1;
    if (o->algo != QT_ALGO_NONE && o->algo != QT_ALGO_RTN && o->algo != QT_ALGO_GPTQ)
        return qt_err_set(err, "plan: %s candidates: not supported (GPTQ or round to nearest)", qt_algo_name(o->algo));
    if (out->algo == QT_ALGO_GPTQ && o->base)
        return qt_err_set(err, "plan: GPTQ candidates over a base recipe (-r): not supported yet");
    for (int c = 0; c < QT_PLAN_MAX_CAND; c++) out->uniform_kl[c] = NAN;
    if (o->format == QT_PLAN_GGUF) {
        if (out->algo == QT_ALGO_GPTQ)
            return qt_err_set(err, "plan: --format gguf: GPTQ candidates are compressed-tensors schemes (GGUF "
                              "types are ggml's own quantizers)");
        return qt_plan_gguf_init(m, o, out, err);
    }
    if (o->base && (!o->base_res || o->base_res->n != m->n_tensors))
        return qt_err_set(err, "plan: the base recipe was not resolved against this model");
    if (parse_candidates(out, o->candidates ? o->candidates : qt_plan_ct_candidates, err) != QT_OK) return QT_ERR;

    int n = m->n_tensors;
    int *unit_of = malloc(sizeof(int) * (size_t)(n + 1));       /* (n) unit of tensor i, -1 */
    out->units = calloc((size_t)n + 1, sizeof *out->units);
    if (!unit_of || !out->units) {
        free(unit_of);
        qt_plan_free(out);
        return qt_err_set(err, "out of memory");
    }
    int nu = 0;
    for (int i = 0; i < n; i++) {
        unit_of[i] = -1;
        const struct qt_tensor *t = &m->tensors[i];
        char name[128];
        const char *kind = qt_sens_unit_of(m, t, QT_SENS_FUSED, name, sizeof name);
        if (!kind || !qt_model_quantizable(m, t)) continue;
        if (o->base && !o->base_res->t[i].quantized) continue;   /* the base keeps it: fixed */
        int k = nu - 1;
        /* a unit's tensors are contiguous in model order except across kinds
         * interleaved in a layer: search back over this layer's units */
        while (k >= 0 && out->units[k].layer == t->layer && strcmp(out->units[k].name, name)) k--;
        if (k < 0 || out->units[k].layer != t->layer) {
            k = nu++;
            snprintf(out->units[k].name, sizeof out->units[k].name, "%s", name);
            out->units[k].kind = kind;
            out->units[k].layer = t->layer;
        }
        unit_of[i] = k;
        out->units[k].n_tensors++;
        out->units[k].params += qt_tensor_numel(t);
    }
    out->n_units = nu;
    int rc = QT_OK;
    for (int k = 0; k < nu && rc == QT_OK; k++) {
        struct qt_plan_unit *u = &out->units[k];
        u->tensors = malloc(sizeof(int) * (size_t)u->n_tensors);
        if (!u->tensors) rc = qt_err_set(err, "out of memory");
        u->n_tensors = 0;
        for (int c = 0; c < QT_PLAN_MAX_CAND; c++) {
            u->dkl[c] = NAN;
            u->dkl_se[c] = NAN;
        }
    }
    for (int i = 0; i < n && rc == QT_OK; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (unit_of[i] < 0) {
            const struct qt_resolved *rv = o->base ? &o->base_res->t[i] : NULL;
            out->fixed_bytes += qt_deploy_tensor_bytes(t, rv && rv->quantized ? rv->s : NULL, rv ? rv->actorder : NULL);
            continue;
        }
        struct qt_plan_unit *u = &out->units[unit_of[i]];
        u->tensors[u->n_tensors++] = i;
    }
    free(unit_of);
    if (rc != QT_OK) {
        qt_plan_free(out);
        return QT_ERR;
    }
    if (nu == 0) {
        qt_plan_free(out);
        return qt_err_set(err, "plan: nothing to plan: the model has no decoder Linear the %s quantizes",
                          o->base ? "base recipe" : "planner");
    }
    out->min_bytes = out->max_bytes = out->fixed_bytes;
    for (int k = 0; k < nu; k++) {
        struct qt_plan_unit *u = &out->units[k];
        out->unit_params += u->params;
        double lo = INFINITY, hi = -INFINITY;
        for (int c = 0; c < out->n_cand; c++) {
            const struct qt_scheme *s = &out->cand[c];
            double b = 0;
            for (int j = 0; j < u->n_tensors && b >= 0; j++) {
                int ti = u->tensors[j];
                const struct qt_tensor *t = &m->tensors[ti];
                if (!qt_scheme_is_kept(s) &&
                    (qt_scheme_check_shape(s, qt_tensor_rows(t), qt_tensor_cols(t), NULL) != QT_OK ||
                     !qt_lint_scheme_fits(m, ti, s, out->tp)))
                    b = -1;
                else
                    b += qt_deploy_tensor_bytes(t, s, NULL);
            }
            u->bytes[c] = b;
            if (b < 0) continue;
            if (qt_scheme_is_kept(s)) {
                u->dkl[c] = 0;
                u->dkl_se[c] = 0;
            }
            if (b < lo) lo = b;
            if (b > hi) hi = b;
        }
        if (lo == INFINITY) {
            char nm[128];
            snprintf(nm, sizeof nm, "%s", u->name);
            qt_plan_free(out);
            return qt_err_set(err, "plan: no candidate fits %s (add bf16 to --candidates)", nm);
        }
        out->min_bytes += lo;
        out->max_bytes += hi;
    }
    return QT_OK;
}

int qt_plan_uniform_ok(const struct qt_plan *p, int c) {
    for (int u = 0; u < p->n_units; u++)
        if (p->units[u].bytes[c] < 0) return 0;
    return 1;
}

double qt_plan_bytes(const struct qt_plan *p, const int *choice) {
    double b = p->fixed_bytes;
    for (int u = 0; u < p->n_units; u++) b += p->units[u].bytes[choice[u]];
    return b;
}

double qt_plan_sum_dkl(const struct qt_plan *p, const int *choice) {
    double s = 0;
    for (int u = 0; u < p->n_units; u++) s += p->units[u].dkl[choice[u]];
    return s;
}

double qt_plan_budget_bpw(const struct qt_plan *p, double bpw) {
    return p->fixed_bytes + bpw * (double)p->unit_params / 8.0;
}

int qt_plan_budget_uniform(const struct qt_plan *p, const struct qt_scheme *s, double *out, qt_err *err) {
    double b = p->fixed_bytes;
    for (int u = 0; u < p->n_units; u++)
        for (int j = 0; j < p->units[u].n_tensors; j++) {
            const struct qt_tensor *t = &p->m->tensors[p->units[u].tensors[j]];
            if (!qt_scheme_is_kept(s) && qt_scheme_check_shape(s, qt_tensor_rows(t), qt_tensor_cols(t), err) != QT_OK)
                return qt_err_prefix(err, "plan: %s", t->name);
            b += qt_deploy_tensor_bytes(t, s, NULL);
        }
    *out = b;
    return QT_OK;
}

int qt_plan_budget_gpus(const struct qt_plan *p, const struct qt_recipe *r, const struct qt_resolution *res,
                        const struct qt_deploy_opts *o, double *out, qt_err *err) {
    int k = qt_deploy_tp_index(o->tp);
    if (k < 0) return qt_err_set(err, "plan: --gpus: expected " QT_DEPLOY_TPS_TEXT ", not %d", o->tp);
    struct qt_deploy d;
    if (qt_deploy_estimate(p->m, r, res, o, &d, err) != QT_OK) return QT_ERR;
    /* per GPU: (W - R) / tp + R + ctx·batch·kv ≤ memory · util */
    double kv = d.per_gpu[k].kv_bytes_per_token * (double)d.ctx * d.batch;
    double room = o->gpu->mem_bytes * d.util - kv - d.replicated_bytes;
    *out = room * o->tp + d.replicated_bytes - 1;
    if (*out <= 0)
        return qt_err_set(err, "plan: the KV cache of %lld tokens alone does not fit %d x %s",
                          (long long)(d.ctx * d.batch), o->tp, o->gpu->name);
    return QT_OK;
}

/* ---- measurement ---- */

struct mprog {
    const struct qt_eval_params *ep;
    int64_t slot, slots;        /* current candidate scan, all of them (+1 for the base) */
};

static void measure_progress(void *ctx, int64_t done, int64_t total) {
    struct mprog *g = ctx;
    if (!g->ep->progress || total <= 0) return;
    int64_t d = g->slot * 1000 + (done >= total ? 1000 : done * 1000 / total);
    g->ep->progress(g->ep->progress_ctx, d, g->slots * 1000);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void qt_plan_fit(struct qt_plan *p) {
    double r[QT_PLAN_MAX_CAND];
    int nr = 0;
    p->n_fit = 0;
    for (int c = 0; c < p->n_cand; c++) {
        if (qt_scheme_is_kept(&p->cand[c]) || !isfinite(p->uniform_kl[c]) || !qt_plan_uniform_ok(p, c)) continue;
        double s = 0;
        for (int u = 0; u < p->n_units; u++) s += p->units[u].dkl[c];
        if (!(s > 0 && isfinite(s) && p->uniform_kl[c] > 0)) continue;
        r[nr++] = p->uniform_kl[c] / s;
        /* sorted insert by Σ */
        int k = p->n_fit++;
        while (k > 0 && p->fit_sum[k - 1] > s) {
            p->fit_sum[k] = p->fit_sum[k - 1];
            p->fit_kl[k] = p->fit_kl[k - 1];
            k--;
        }
        p->fit_sum[k] = s;
        p->fit_kl[k] = p->uniform_kl[c];
    }
    p->kappa = 1;
    if (!nr) return;
    qsort(r, (size_t)nr, sizeof r[0], cmp_double);
    p->kappa = nr % 2 ? r[nr / 2] : 0.5 * (r[nr / 2 - 1] + r[nr / 2]);
}

double qt_plan_predict(const struct qt_plan *p, double sum) {
    int n = p->n_fit;
    if (n == 0 || !(sum > 0)) return sum;
    if (sum <= p->fit_sum[0]) return sum * p->fit_kl[0] / p->fit_sum[0];
    if (sum >= p->fit_sum[n - 1]) return sum * p->fit_kl[n - 1] / p->fit_sum[n - 1];
    int k = 1;
    while (p->fit_sum[k] < sum) k++;
    double k0 = p->fit_kl[k - 1] / p->fit_sum[k - 1], k1 = p->fit_kl[k] / p->fit_sum[k];
    double t = log(sum / p->fit_sum[k - 1]) / log(p->fit_sum[k] / p->fit_sum[k - 1]);
    return sum * (k0 + t * (k1 - k0));
}

int qt_plan_measure(struct qt_plan *p, const struct qt_eval_params *ep, qt_err *err) {
    const struct qt_model *m = p->m;
    if (m->metadata_only)
        return qt_err_set(err, "plan: ΔKL needs the weights: the model is a config.json alone (sizes, budgets "
                          "and what fits work without them; open a checkpoint to measure ΔKL)");
    if (p->format == QT_PLAN_GGUF) return qt_plan_gguf_measure(p, ep, err);
    int nmeas = 0;
    for (int c = 0; c < p->n_cand; c++) nmeas += !qt_scheme_is_kept(&p->cand[c]);
    struct mprog g = {ep, 0, nmeas + 1};
    struct qt_eval_params e = *ep;
    e.keep_states = 1;
    e.progress = measure_progress;
    e.progress_ctx = &g;
    struct qt_eval_base *base = NULL;
    if (qt_eval_base_init(m, &e, &base, err) != QT_OK) return QT_ERR;
    int rc = QT_OK;
    for (int c = 0; c < p->n_cand && rc == QT_OK; c++) {
        if (qt_scheme_is_kept(&p->cand[c])) {
            p->uniform_kl[c] = 0;
            continue;
        }
        g.slot++;
        struct qt_qplan qp;
        if ((rc = qt_qplan_init(m, &qp, err)) != QT_OK) break;
        int any = 0, began = 0;
        for (int u = 0; u < p->n_units && rc == QT_OK; u++) {
            const struct qt_plan_unit *un = &p->units[u];
            if (un->bytes[c] < 0) continue;
            for (int j = 0; j < un->n_tensors && rc == QT_OK; j++) rc = qt_qplan_set(&qp, un->tensors[j], &p->cand[c], err);
            any = 1;
        }
        if (rc == QT_OK && any && p->algo == QT_ALGO_GPTQ) {   /* GPTQ's weights for the uniform recipe of c */
            int *choice = malloc(sizeof(int) * (size_t)p->n_units);
            if (!choice) rc = qt_err_set(err, "out of memory");
            else if (!p->calw.begin) rc = qt_err_set(err, "plan: GPTQ candidates need the calibration pipeline");
            else if ((rc = qt_plan_uniform_choice(p, c, choice, err)) == QT_OK)
                rc = p->calw.begin(p->calw.ctx, p, choice, &qp, err);
            began = rc == QT_OK;
            free(choice);
        }
        struct qt_sens_params sp = {.eval = e, .by = QT_SENS_FUSED};
        struct qt_sens_result r = {0};
        if (rc == QT_OK && any) rc = qt_sensitivity_scan(m, base, &qp, &sp, &r, err);
        if (began && p->calw.end) p->calw.end(p->calw.ctx);
        for (int k = 0; rc == QT_OK && k < r.n_units; k++)
            for (int u = 0; u < p->n_units; u++)
                if (!strcmp(p->units[u].name, r.units[k].name)) {
                    p->units[u].dkl[c] = r.units[k].st.kld_mean;
                    p->units[u].dkl_se[c] = r.units[k].st.kld_stderr;
                }
        if (rc == QT_OK && any && qt_plan_uniform_ok(p, c)) p->uniform_kl[c] = r.all.kld_mean;
        if (rc != QT_OK) qt_err_prefix(err, "plan: measuring %s", p->cand_name[c]);
        qt_sens_result_free(&r);
        qt_qplan_free(&qp);
    }
    if (rc == QT_OK) {
        p->measured = 1;
        p->nseq = base->nseq;
        p->ctx = base->ctx;
        snprintf(p->data, sizeof p->data, "%s", ep->data_path ? ep->data_path : "");
        qt_plan_fit(p);
    }
    qt_eval_base_free(base);
    return rc;
}

/* ---- ΔKL table as JSON ---- */

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

char *qt_plan_dkl_json(const struct qt_plan *p, qt_err *err) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "data", p->data);
    cJSON_AddNumberToObject(d, "ctx", p->ctx);
    cJSON_AddNumberToObject(d, "chunks", p->nseq);
    cJSON_AddNumberToObject(d, "kappa", p->kappa);
    if (p->algo == QT_ALGO_GPTQ) cJSON_AddStringToObject(d, "algo", "GPTQ");   /* absent: round to nearest */
    if (p->format == QT_PLAN_GGUF) {   /* absent: compressed-tensors */
        cJSON_AddStringToObject(d, "format", "gguf");
        cJSON_AddStringToObject(d, "imatrix", p->gguf_calib);
    }
    cJSON *cands = cJSON_AddArrayToObject(d, "candidates"), *uk = cJSON_AddArrayToObject(d, "uniform_kl");
    for (int c = 0; c < p->n_cand; c++) {
        cJSON_AddItemToArray(cands, cJSON_CreateString(p->cand_name[c]));
        cJSON_AddItemToArray(uk, num_or_null(p->uniform_kl[c]));
    }
    cJSON *units = cJSON_AddArrayToObject(d, "units");
    for (int u = 0; u < p->n_units; u++) {
        const struct qt_plan_unit *un = &p->units[u];
        cJSON *o = cJSON_CreateObject(), *dk = cJSON_CreateArray(), *se = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", un->name);
        for (int c = 0; c < p->n_cand; c++) {
            cJSON_AddItemToArray(dk, num_or_null(un->dkl[c]));
            cJSON_AddItemToArray(se, num_or_null(un->dkl_se[c]));
        }
        cJSON_AddItemToObject(o, "dkl", dk);
        cJSON_AddItemToObject(o, "stderr", se);
        cJSON_AddItemToArray(units, o);
    }
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (!s) qt_err_set(err, "out of memory");
    return s;
}

static double jnum(const cJSON *a, int i) {
    const cJSON *x = cJSON_GetArrayItem(a, i);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

int qt_plan_load_dkl(struct qt_plan *p, const char *json, size_t len, const char *fname, qt_err *err) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return qt_err_set(err, "%s: not JSON", fname);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "dkl");
    if (!cJSON_IsObject(d)) d = root;     /* the table alone, or qtune plan --json holding it */
    const cJSON *cands = cJSON_GetObjectItemCaseSensitive(d, "candidates");
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(d, "units");
    const cJSON *uk = cJSON_GetObjectItemCaseSensitive(d, "uniform_kl");
    int rc = QT_OK, map[QT_PLAN_MAX_CAND];
    if (!cJSON_IsArray(cands) || !cJSON_IsArray(units)) {
        rc = qt_err_set(err, "%s: no ΔKL table (expected \"candidates\" and \"units\" arrays)", fname);
        goto out;
    }
    const char *algo = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "algo"));
    int t_gptq = algo && !strcmp(algo, "GPTQ");
    if (t_gptq != (p->algo == QT_ALGO_GPTQ)) {
        rc = qt_err_set(err, "%s: the table was measured with %s weights, the plan asks for %s", fname,
                        t_gptq ? "GPTQ" : "round-to-nearest", p->algo == QT_ALGO_GPTQ ? "GPTQ (--gptq)" : "round to nearest");
        goto out;
    }
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "format"));
    int t_gguf = fmt && !strcmp(fmt, "gguf");
    if (t_gguf != (p->format == QT_PLAN_GGUF)) {
        rc = qt_err_set(err, "%s: the table was measured for %s, the plan is for %s", fname,
                        t_gguf ? "GGUF (--format gguf)" : "compressed-tensors", p->format == QT_PLAN_GGUF ? "GGUF" : "compressed-tensors");
        goto out;
    }
    if (t_gguf) {
        const char *im = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "imatrix"));
        int t_im = im && *im, p_im = p->gguf_calib[0] != 0;
        if (t_im != p_im) {
            rc = qt_err_set(err, "%s: the table was measured %s importance weights, the plan is %s (--calib FILE)", fname,
                            t_im ? "with" : "without", p_im ? "with them" : "without");
            goto out;
        }
    }
    for (int c = 0; c < p->n_cand; c++) {
        map[c] = -1;
        for (int k = 0; k < cJSON_GetArraySize(cands); k++) {
            const cJSON *s = cJSON_GetArrayItem(cands, k);
            struct qt_scheme sc;
            if (!cJSON_IsString(s)) continue;
            if (t_gguf ? qt_ggml_type_parse(s->valuestring) == p->cand_gg[c]
                       : qt_scheme_parse(s->valuestring, &sc, NULL) == QT_OK && qt_scheme_equal(&sc, &p->cand[c]))
                map[c] = k;
        }
        if (map[c] < 0 && !qt_scheme_is_kept(&p->cand[c])) {
            rc = qt_err_set(err, "%s: candidate %s was not measured", fname, p->cand_name[c]);
            goto out;
        }
    }
    for (int u = 0; u < p->n_units; u++) {
        struct qt_plan_unit *un = &p->units[u];
        const cJSON *o = NULL, *it;
        cJSON_ArrayForEach(it, units) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
            if (cJSON_IsString(nm) && !strcmp(nm->valuestring, un->name)) o = it;
        }
        if (!o) {
            rc = qt_err_set(err, "%s: unit %s is missing", fname, un->name);
            goto out;
        }
        const cJSON *dk = cJSON_GetObjectItemCaseSensitive(o, "dkl"), *se = cJSON_GetObjectItemCaseSensitive(o, "stderr");
        for (int c = 0; c < p->n_cand; c++) {
            if (map[c] < 0 || un->bytes[c] < 0) continue;
            double v = jnum(dk, map[c]);
            if (!isfinite(v) || v < 0) {
                rc = qt_err_set(err, "%s: unit %s: ΔKL of %s is not a number >= 0", fname, un->name, p->cand_name[c]);
                goto out;
            }
            un->dkl[c] = v;
            un->dkl_se[c] = jnum(se, map[c]);
        }
    }
    for (int c = 0; c < p->n_cand; c++)
        p->uniform_kl[c] = qt_scheme_is_kept(&p->cand[c]) ? 0 : map[c] >= 0 ? jnum(uk, map[c]) : NAN;
    const cJSON *x;
    if (cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(d, "ctx"))) p->ctx = x->valueint;
    if (cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(d, "chunks"))) p->nseq = x->valueint;
    if (cJSON_IsString(x = cJSON_GetObjectItemCaseSensitive(d, "data")))
        snprintf(p->data, sizeof p->data, "%s", x->valuestring);
    qt_plan_fit(p);
    p->measured = 1;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- the knapsack ---- */

void qt_plan_solution_free(struct qt_plan_solution *s) {
    if (!s) return;
    free(s->choice);
    memset(s, 0, sizeof *s);
}

/* 1 when unit u may take c (fits, and ΔKL known). */
static int usable(const struct qt_plan_unit *u, int c) { return u->bytes[c] >= 0 && isfinite(u->dkl[c]); }

/* DP over grid cells of q bytes above each unit's cheapest usable choice:
 * costs rounded up, "at most b cells" semantics.  Fills val (W + 1): the
 * least Σ ΔKL within b cells, and ch (n_units, W + 1) the choice of each
 * unit at each b.  Returns QT_ERR on out of memory. */
struct dp {
    int n, C, W;
    double q;
    double *cmin;               /* (n) cheapest usable bytes of each unit */
    int *w;                     /* (n, C) cells of each choice, -1 unusable */
    double *val;                /* (W + 1) */
    unsigned char *ch;          /* (n, W + 1) */
};

static void dp_free(struct dp *d) {
    free(d->cmin);
    free(d->w);
    free(d->val);
    free(d->ch);
}

static int dp_run(const struct qt_plan *p, double var_budget, int cells, struct dp *d, qt_err *err) {
    memset(d, 0, sizeof *d);
    int n = p->n_units, C = p->n_cand;
    d->n = n;
    d->C = C;
    d->W = cells + n;
    d->q = var_budget > 0 ? var_budget / cells : 0;
    d->cmin = malloc(sizeof(double) * (size_t)n);
    d->w = malloc(sizeof(int) * (size_t)n * (size_t)C);
    d->val = malloc(sizeof(double) * (size_t)(d->W + 1));
    double *nv = malloc(sizeof(double) * (size_t)(d->W + 1));
    d->ch = malloc((size_t)n * (size_t)(d->W + 1));
    if (!d->cmin || !d->w || !d->val || !nv || !d->ch) {
        free(nv);
        dp_free(d);
        return qt_err_set(err, "out of memory");
    }
    for (int u = 0; u < n; u++) {
        const struct qt_plan_unit *un = &p->units[u];
        double lo = INFINITY;
        for (int c = 0; c < C; c++)
            if (usable(un, c) && un->bytes[c] < lo) lo = un->bytes[c];
        d->cmin[u] = lo;
        for (int c = 0; c < C; c++) {
            int *w = &d->w[u * C + c];
            *w = -1;
            if (!usable(un, c)) continue;
            double v = un->bytes[c] - lo;
            if (v <= 0) *w = 0;
            else if (d->q > 0 && v / d->q <= d->W) *w = (int)ceil(v / d->q - 1e-9);
        }
    }
    for (int b = 0; b <= d->W; b++) d->val[b] = 0;
    for (int u = 0; u < n; u++) {
        const struct qt_plan_unit *un = &p->units[u];
        unsigned char *ch = d->ch + (size_t)u * (size_t)(d->W + 1);
        for (int b = 0; b <= d->W; b++) {
            nv[b] = INFINITY;
            ch[b] = 0;
        }
        for (int c = 0; c < C; c++) {
            int w = d->w[u * C + c];
            if (w < 0) continue;
            /* a choice no cheaper and no better than another never wins */
            int dominated = 0;
            for (int e = 0; e < C && !dominated; e++) {
                int we = d->w[u * C + e];
                dominated = e != c && we >= 0 && we <= w && un->dkl[e] <= un->dkl[c] &&
                            (we < w || un->dkl[e] < un->dkl[c] || e < c);
            }
            if (dominated) continue;
            double k = un->dkl[c];
            const double *src = d->val;
            unsigned char cc = (unsigned char)c;
            /* branch-free so that the compiler can vectorise it */
            for (int b = w; b <= d->W; b++) {
                double v = src[b - w] + k;
                int better = v < nv[b];
                nv[b] = better ? v : nv[b];
                ch[b] = better ? cc : ch[b];
            }
        }
        memcpy(d->val, nv, sizeof(double) * (size_t)(d->W + 1));
    }
    free(nv);
    return QT_OK;
}

static void dp_backtrack(const struct dp *d, int b, int *choice) {
    for (int u = d->n - 1; u >= 0; u--) {
        int c = d->ch[(size_t)u * (size_t)(d->W + 1) + (size_t)b];
        choice[u] = c;
        b -= d->w[u * d->C + c];
    }
}

/* Spends real bytes the rounding left over: repeatedly the single-unit
 * switch that lowers Σ ΔKL most and still fits. */
static void fill_slack(const struct qt_plan *p, double budget, int *choice) {
    double bytes = qt_plan_bytes(p, choice);
    for (;;) {
        int bu = -1, bc = -1;
        double best = 0;
        for (int u = 0; u < p->n_units; u++) {
            const struct qt_plan_unit *un = &p->units[u];
            for (int c = 0; c < p->n_cand; c++) {
                if (!usable(un, c)) continue;
                double db = un->bytes[c] - un->bytes[choice[u]], dk = un->dkl[c] - un->dkl[choice[u]];
                if (bytes + db <= budget && dk < best) {
                    best = dk;
                    bu = u;
                    bc = c;
                }
            }
        }
        if (bu < 0) return;
        bytes += p->units[bu].bytes[bc] - p->units[bu].bytes[choice[bu]];
        choice[bu] = bc;
    }
}

static int check_measured(const struct qt_plan *p, qt_err *err) {
    if (!p->measured) return qt_err_set(err, "plan: ΔKL not measured yet");
    for (int u = 0; u < p->n_units; u++) {
        int any = 0;
        for (int c = 0; c < p->n_cand; c++) any |= usable(&p->units[u], c);
        if (!any) return qt_err_set(err, "plan: %s: no candidate with a measured ΔKL", p->units[u].name);
    }
    return QT_OK;
}

static double usable_min_bytes(const struct qt_plan *p) {
    double b = p->fixed_bytes;
    for (int u = 0; u < p->n_units; u++) {
        double lo = INFINITY;
        for (int c = 0; c < p->n_cand; c++)
            if (usable(&p->units[u], c) && p->units[u].bytes[c] < lo) lo = p->units[u].bytes[c];
        b += lo;
    }
    return b;
}

int qt_plan_solve(const struct qt_plan *p, double budget, int grid, struct qt_plan_solution *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    if (check_measured(p, err) != QT_OK) return QT_ERR;
    double lo = usable_min_bytes(p);
    if (budget < lo) {
        char a[32], b[32];
        return qt_err_set(err, "plan: the target %s is below the smallest allocation of the candidates (%s: every unit "
                          "at its cheapest candidate); lower the target or add smaller candidates",
                          qt_fmt_bytes(budget, a, sizeof a), qt_fmt_bytes(lo, b, sizeof b));
    }
    int cells = grid > 0 ? grid : 32768;
    struct dp d;
    if (dp_run(p, budget - lo, cells, &d, err) != QT_OK) return QT_ERR;
    out->choice = malloc(sizeof(int) * (size_t)p->n_units);
    if (!out->choice) {
        dp_free(&d);
        return qt_err_set(err, "out of memory");
    }
    dp_backtrack(&d, cells, out->choice);
    out->lower_bound = d.val[d.W];
    dp_free(&d);
    fill_slack(p, budget, out->choice);
    out->bytes = qt_plan_bytes(p, out->choice);
    out->sum_dkl = qt_plan_sum_dkl(p, out->choice);
    if (out->lower_bound > out->sum_dkl) out->lower_bound = out->sum_dkl;
    out->bpw = (out->bytes - p->fixed_bytes) * 8.0 / (double)p->unit_params;
    return QT_OK;
}

/* ---- the curve ---- */

void qt_plan_curve_free(struct qt_plan_curve *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->pt[i].choice);
    for (int i = 0; i < c->n_uniform; i++) free(c->uni[i].choice);
    free(c->pt);
    free(c->uni);
    memset(c, 0, sizeof *c);
}

static int cmp_point(const void *a, const void *b) {
    const struct qt_plan_point *x = a, *y = b;
    return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

int qt_plan_curve(const struct qt_plan *p, int npts, struct qt_plan_curve *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    if (check_measured(p, err) != QT_OK) return QT_ERR;
    if (npts < 2) npts = 2;
    double lo = usable_min_bytes(p), hi = p->fixed_bytes;
    for (int u = 0; u < p->n_units; u++) {
        double h = 0;
        for (int c = 0; c < p->n_cand; c++)
            if (usable(&p->units[u], c) && p->units[u].bytes[c] > h) h = p->units[u].bytes[c];
        hi += h;
    }
    int cells = 8192;
    struct dp d;
    if (dp_run(p, hi - lo, cells, &d, err) != QT_OK) return QT_ERR;
    int n = p->n_units, rc = QT_OK;
    out->pt = calloc((size_t)npts, sizeof *out->pt);
    out->uni = calloc((size_t)p->n_cand + 1, sizeof *out->uni);
    if (!out->pt || !out->uni) rc = qt_err_set(err, "out of memory");
    for (int k = 0; k < npts && rc == QT_OK; k++) {
        int b = (int)((int64_t)cells * k / (npts - 1));
        int *ch = malloc(sizeof(int) * (size_t)n);
        if (!ch) {
            rc = qt_err_set(err, "out of memory");
            break;
        }
        dp_backtrack(&d, b, ch);
        fill_slack(p, lo + b * d.q, ch);
        struct qt_plan_point pt = {qt_plan_bytes(p, ch), qt_plan_sum_dkl(p, ch), 0, -1, ch};
        pt.bpw = (pt.bytes - p->fixed_bytes) * 8.0 / (double)p->unit_params;
        /* keep it only when it improves on every smaller point (Pareto) */
        if (out->n && (pt.sum_dkl >= out->pt[out->n - 1].sum_dkl || pt.bytes <= out->pt[out->n - 1].bytes)) {
            if (pt.sum_dkl < out->pt[out->n - 1].sum_dkl && pt.bytes <= out->pt[out->n - 1].bytes) {
                free(out->pt[out->n - 1].choice);
                out->pt[out->n - 1] = pt;
            } else {
                free(ch);
            }
            continue;
        }
        out->pt[out->n++] = pt;
    }
    for (int c = 0; c < p->n_cand && rc == QT_OK; c++) {
        if (!qt_plan_uniform_ok(p, c)) continue;
        int ok = 1;
        for (int u = 0; u < n; u++) ok &= usable(&p->units[u], c);
        if (!ok) continue;
        int *ch = malloc(sizeof(int) * (size_t)n);
        if (!ch) {
            rc = qt_err_set(err, "out of memory");
            break;
        }
        for (int u = 0; u < n; u++) ch[u] = c;
        struct qt_plan_point pt = {qt_plan_bytes(p, ch), qt_plan_sum_dkl(p, ch), 0, c, ch};
        pt.bpw = (pt.bytes - p->fixed_bytes) * 8.0 / (double)p->unit_params;
        out->uni[out->n_uniform++] = pt;
    }
    if (rc == QT_OK) qsort(out->uni, (size_t)out->n_uniform, sizeof *out->uni, cmp_point);
    dp_free(&d);
    if (rc != QT_OK) qt_plan_curve_free(out);
    return rc;
}

/* ---- the recipe ---- */

/* Appends to buf (size n, at *len) what fmt gives; 0, or -1 when it does not fit. */
static int app(char *buf, size_t n, size_t *len, const char *s) {
    size_t k = strlen(s);
    if (*len + k + 1 > n) return -1;
    memcpy(buf + *len, s, k + 1);
    *len += k;
    return 0;
}

/* Regex for the zero-padded w-digit numbers lo..hi. */
static int range_w(int lo, int hi, int w, char *buf, size_t n, size_t *len) {
    char t[32];
    if (w == 1) {
        if (lo == hi) snprintf(t, sizeof t, "%d", lo);
        else if (lo == 0 && hi == 9) snprintf(t, sizeof t, "\\d");
        else snprintf(t, sizeof t, "[%d-%d]", lo, hi);
        return app(buf, n, len, t);
    }
    int p = 1;
    for (int i = 1; i < w; i++) p *= 10;
    int dl = lo / p, dh = hi / p, rc = 0, parts = 0;
    char inner[512];
    size_t il;
#define SUB(a, b)                                                                   \
    do {                                                                            \
        il = 0;                                                                     \
        inner[0] = 0;                                                               \
        if (range_w((a), (b), w - 1, inner, sizeof inner, &il)) return -1;          \
        if (strchr(inner, '|')) {                                                   \
            rc |= app(buf, n, len, "(?:");                                          \
            rc |= app(buf, n, len, inner);                                          \
            rc |= app(buf, n, len, ")");                                            \
        } else {                                                                    \
            rc |= app(buf, n, len, inner);                                          \
        }                                                                           \
    } while (0)
    if (dl == dh) {
        snprintf(t, sizeof t, "%d", dl);
        rc |= app(buf, n, len, t);
        SUB(lo % p, hi % p);
        return rc;
    }
    if (lo % p) {
        snprintf(t, sizeof t, "%d", dl);
        rc |= app(buf, n, len, t);
        SUB(lo % p, p - 1);
        dl++;
        parts++;
    }
    int tail = hi % p != p - 1;
    if (tail) dh--;
    if (dl <= dh) {
        if (parts++) rc |= app(buf, n, len, "|");
        if (dl == dh) snprintf(t, sizeof t, "%d", dl);
        else snprintf(t, sizeof t, "[%d-%d]", dl, dh);
        rc |= app(buf, n, len, t);
        for (int i = 1; i < w; i++) rc |= app(buf, n, len, "\\d");
    }
    if (tail) {
        if (parts++) rc |= app(buf, n, len, "|");
        snprintf(t, sizeof t, "%d", dh + 1);
        rc |= app(buf, n, len, t);
        SUB(0, hi % p);
    }
#undef SUB
    return rc;
}

int qt_plan_numbers_re(const int *set, int n, char *buf, size_t size) {
    size_t len = 0;
    if (size) buf[0] = 0;
    int first = 1;
    for (int i = 0; i < n;) {
        int a = set[i], j = i;
        while (j + 1 < n && set[j + 1] == set[j] + 1) j++;
        int b = set[j];
        i = j + 1;
        for (int digits = 1, p10 = 1; digits == 1 || p10 <= b; digits++, p10 *= 10) {
            int lo = a > (digits == 1 ? 0 : p10) ? a : (digits == 1 ? 0 : p10);
            int hi = b < p10 * 10 - 1 ? b : p10 * 10 - 1;
            if (lo > hi) continue;
            if (!first && app(buf, size, &len, "|")) return QT_ERR;
            first = 0;
            if (range_w(lo, hi, digits, buf, size, &len)) return QT_ERR;
            if (p10 > 100000000) break;
        }
    }
    return QT_OK;
}

/* Escapes a module-name part for a regex; "experts.<N>." becomes
 * "experts\.\d+\." (every expert of the layer). */
static void escape_part(const char *s, char *out, size_t n) {
    size_t k = 0;
    while (*s && k + 8 < n) {
        if (!strncmp(s, "experts.", 8) && s[8] >= '0' && s[8] <= '9') {
            const char *d = s + 8;
            while (*d >= '0' && *d <= '9') d++;
            if (*d == '.') {
                memcpy(out + k, "experts\\.\\d+\\.", 14);
                k += 14;
                s = d + 1;
                continue;
            }
        }
        if (strchr(".^$|?*+()[]{}\\", *s)) out[k++] = '\\';
        out[k++] = *s++;
    }
    out[k] = 0;
}

/* Splits "model.layers.3.self_attn.q_proj" into the escaped prefix before the
 * layer number ("model\.layers\.") and the escaped rest after it and its dot. */
static int split_module(const char *module, int layer, char *pre, size_t pn, char *rest, size_t rn) {
    char key[32];
    snprintf(key, sizeof key, "layers.%d.", layer);
    const char *at = strstr(module, key);
    if (!at) return QT_ERR;
    size_t k = (size_t)(at - module) + 7;
    char head[256];
    if (k >= sizeof head) return QT_ERR;
    memcpy(head, module, k);
    head[k] = 0;
    escape_part(head, pre, pn);
    escape_part(at + strlen(key), rest, rn);
    return QT_OK;
}

/* One regex for a set of escaped strings: common prefix, an alternation of
 * the middles, common suffix ("self_attn\.(?:q|k|v|o)_proj"). */
static void factor(char (*s)[192], int k, char *out, size_t n) {
    if (k == 1) {
        snprintf(out, n, "%s", s[0]);
        return;
    }
    size_t pl = strlen(s[0]);
    for (int i = 1; i < k; i++) {
        size_t j = 0;
        while (j < pl && s[i][j] == s[0][j]) j++;
        pl = j;
    }
    /* never cut an escape: back off over an odd run of backslashes */
    for (;;) {
        size_t bs = 0;
        while (bs < pl && s[0][pl - 1 - bs] == '\\') bs++;
        if (bs % 2 == 0) break;
        pl--;
    }
    size_t sl = (size_t)-1;
    for (int i = 0; i < k; i++) {
        size_t li = strlen(s[i]) - pl;
        if (li < sl) sl = li;
    }
    size_t xl = 0;
    while (xl < sl) {
        int same = 1;
        for (int i = 1; i < k && same; i++)
            same = s[i][strlen(s[i]) - 1 - xl] == s[0][strlen(s[0]) - 1 - xl];
        if (!same) break;
        xl++;
    }
    /* the suffix must not start right after an escaping backslash */
    for (;;) {
        int bad = 0;
        for (int i = 0; i < k && !bad; i++) {
            size_t at = strlen(s[i]) - xl;
            size_t bs = 0;
            while (at > pl + bs && s[i][at - 1 - bs] == '\\') bs++;
            bad = bs % 2 == 1;
        }
        if (!bad || xl == 0) break;
        xl--;
    }
    size_t len = 0;
    char tmp[192];
    snprintf(tmp, sizeof tmp, "%.*s(?:", (int)pl, s[0]);
    if (app(out, n, &len, tmp)) return;
    for (int i = 0; i < k; i++) {
        snprintf(tmp, sizeof tmp, "%s%.*s", i ? "|" : "", (int)(strlen(s[i]) - pl - xl), s[i] + pl);
        if (app(out, n, &len, tmp)) return;
    }
    snprintf(tmp, sizeof tmp, ")%s", s[0] + strlen(s[0]) - xl);
    app(out, n, &len, tmp);
}

/* The escaped module-name prefix and the factored suffix regex of unit u. */
static int unit_regex(const struct qt_plan *p, const struct qt_plan_unit *u, char *pre, size_t pn, char *suf,
                      size_t sn) {
    char (*parts)[192] = calloc((size_t)u->n_tensors, sizeof *parts);
    if (!parts) return QT_ERR;
    int k = 0, rc = QT_OK;
    for (int j = 0; j < u->n_tensors && rc == QT_OK; j++) {
        char mod[256], rest[192];
        qt_tensor_module(&p->m->tensors[u->tensors[j]], mod, sizeof mod);
        if (split_module(mod, u->layer, pre, pn, rest, sizeof rest) != QT_OK) rc = QT_ERR;
        int dup = 0;
        for (int i = 0; i < k; i++) dup |= !strcmp(parts[i], rest);
        if (!dup) snprintf(parts[k++], sizeof parts[0], "%s", rest);
    }
    /* sorted, so that the factored alternation does not depend on tensor order */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && strcmp(parts[j - 1], parts[j]) > 0; j--) {
            char t[192];
            memcpy(t, parts[j], sizeof t);
            memcpy(parts[j], parts[j - 1], sizeof t);
            memcpy(parts[j - 1], t, sizeof t);
        }
    if (rc == QT_OK) factor(parts, k, suf, sn);
    free(parts);
    return rc;
}

static int check_recipe(const struct qt_plan *p, const int *choice, struct qt_recipe *r, const char *base_path,
                        qt_err *err) {
    const struct qt_model *m = p->m;
    struct qt_resolution res, bres = {0};
    struct qt_recipe *base = NULL;
    if (qt_recipe_resolve(r, m, &res, err) != QT_OK) return QT_ERR;
    int rc = QT_OK;
    if (base_path && (qt_recipe_load(base_path, &base, err) != QT_OK || qt_recipe_resolve(base, m, &bres, err) != QT_OK))
        rc = QT_ERR;
    int *unit_of = rc == QT_OK ? malloc(sizeof(int) * (size_t)(m->n_tensors + 1)) : NULL;
    if (rc == QT_OK && !unit_of) rc = qt_err_set(err, "out of memory");
    for (int i = 0; rc == QT_OK && i < m->n_tensors; i++) unit_of[i] = -1;
    for (int u = 0; rc == QT_OK && u < p->n_units; u++)
        for (int j = 0; j < p->units[u].n_tensors; j++) unit_of[p->units[u].tensors[j]] = u;
    for (int i = 0; rc == QT_OK && i < m->n_tensors; i++) {
        const struct qt_resolved *o = &res.t[i];
        const struct qt_scheme *got = o->quantized ? o->s : NULL, *exp;
        if (unit_of[i] >= 0) exp = &p->cand[choice[unit_of[i]]];
        else exp = base && bres.t[i].quantized ? bres.t[i].s : NULL;
        int kept_g = !got || qt_scheme_is_kept(got), kept_e = !exp || qt_scheme_is_kept(exp);
        if (kept_g != kept_e || (!kept_g && !qt_scheme_equal(got, exp)))
            rc = qt_err_set(err, "plan: the written recipe gives %s %s instead of %s", m->tensors[i].name,
                            kept_g ? "bf16" : o->scheme, kept_e ? "bf16" : unit_of[i] >= 0 ? p->cand_name[choice[unit_of[i]]] : "the base's scheme");
    }
    free(unit_of);
    if (base) qt_resolution_free(&bres);
    qt_recipe_free(base);
    qt_resolution_free(&res);
    return rc;
}

int qt_plan_uniform_choice(const struct qt_plan *p, int c, int *choice, qt_err *err) {
    int kept = -1;
    for (int k = 0; k < p->n_cand; k++)
        if (qt_scheme_is_kept(&p->cand[k])) kept = k;
    for (int u = 0; u < p->n_units; u++) {
        choice[u] = p->units[u].bytes[c] >= 0 ? c : kept;
        if (choice[u] < 0)
            return qt_err_set(err, "plan: %s does not fit %s and bf16 is not a candidate", p->cand_name[c], p->units[u].name);
    }
    return QT_OK;
}

/* The empty recipe of a GPTQ plan: llm-compressor's GPTQModifier with its
 * default activation order, static (scales in the weight's own order: no
 * g_idx, so the sizes are those of the scheme), left unsaid because
 * compressed-tensors refuses an explicit actorder on channel groups (lint
 * QT016), and its default dampening. */
static const char gptq_empty[] = "quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      ignore: [lm_head]\n"
                                 "      dampening_frac: 0.01\n";

int qt_plan_recipe(const struct qt_plan *p, const int *choice, const char *base_path, const char *header,
                   struct qt_recipe **out, qt_err *err) {
    *out = NULL;
    if (p->format == QT_PLAN_GGUF) return qt_plan_gguf_recipe(p, choice, base_path, header, out, err);
    struct qt_recipe *r = NULL;
    int lrc = base_path                  ? qt_recipe_load(base_path, &r, err)
              : p->algo == QT_ALGO_GPTQ ? qt_recipe_parse(gptq_empty, strlen(gptq_empty), "plan", &r, err)
                                        : qt_recipe_new(&r, err);
    if (lrc != QT_OK) return QT_ERR;
    int n = p->n_units, rc = QT_OK;
    char (*pre)[128] = calloc((size_t)n + 1, sizeof *pre);
    char (*suf)[384] = calloc((size_t)n + 1, sizeof *suf);
    unsigned char *done = calloc((size_t)n + 1, 1);
    int *set = malloc(sizeof(int) * ((size_t)n + 1));
    char *target = malloc(16384), *nums = malloc(8192);
    if (!pre || !suf || !done || !set || !target || !nums) rc = qt_err_set(err, "out of memory");
    for (int u = 0; u < n && rc == QT_OK; u++)
        if (unit_regex(p, &p->units[u], pre[u], sizeof pre[0], suf[u], sizeof suf[0]) != QT_OK)
            rc = qt_err_set(err, "plan: %s: module names without a layer number", p->units[u].name);
    /* per candidate in the order given, per (prefix, suffix) in model order:
     * one target naming its layers */
    for (int c = 0; c < p->n_cand && rc == QT_OK; c++) {
        int kept = qt_scheme_is_kept(&p->cand[c]);
        for (int u = 0; u < n && rc == QT_OK; u++) {
            if (done[u] || choice[u] != c) continue;
            int k = 0;
            for (int v = u; v < n; v++)
                if (!done[v] && choice[v] == c && !strcmp(pre[v], pre[u]) && !strcmp(suf[v], suf[u])) {
                    done[v] = 1;
                    if (!k || set[k - 1] != p->units[v].layer) set[k++] = p->units[v].layer;
                }
            if (kept && !base_path) continue;   /* a new recipe targets nothing else: not naming it keeps it */
            if (qt_plan_numbers_re(set, k, nums, 8192) != QT_OK) {
                rc = qt_err_set(err, "plan: layer pattern too long");
                break;
            }
            if (!strchr(nums, '|'))
                snprintf(target, 16384, "re:%s%s\\.%s$", pre[u], nums, suf[u]);
            else
                snprintf(target, 16384, "re:%s(?:%s)\\.%s$", pre[u], nums, suf[u]);
            /* on a base, a regex of its own may outrank ours: _on falls back to
             * exact names there; a new recipe has no competing target */
            const char *scheme = kept ? "bf16" : p->cand_name[c];
            rc = base_path ? qt_recipe_set_scheme_on(r, p->m, target, scheme, err)
                           : qt_recipe_set_scheme(r, target, scheme, err);
        }
    }
    if (rc == QT_OK && header) {
        char *h = strdup(header);
        if (!h) rc = qt_err_set(err, "out of memory");
        else {
            free(r->header);
            r->header = h;
            qt_yaml_drop_lead_comments(r->root);   /* ours replaces the base's */
        }
    }
    if (rc == QT_OK) rc = check_recipe(p, choice, r, base_path, err);
    free(pre);
    free(suf);
    free(done);
    free(set);
    free(target);
    free(nums);
    if (rc != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    *out = r;
    return QT_OK;
}

const char *qt_plan_choice_name(const struct qt_plan *p, int u, int c) {
    if (p->format == QT_PLAN_GGUF && u >= 0 && u < p->n_units) return qt_ggml_type_name(p->units[u].gg[c]);
    return p->cand_name[c];
}

int qt_plan_cand_kept(const struct qt_plan *p, int c) { return qt_scheme_is_kept(&p->cand[c]); }

double qt_plan_uniform_bytes(const struct qt_plan *p, int c) {
    if (!qt_plan_uniform_ok(p, c)) return -1;
    double b = p->fixed_bytes;
    for (int u = 0; u < p->n_units; u++) b += p->units[u].bytes[c];
    return b;
}
