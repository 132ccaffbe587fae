/* report.c — the JSON of engine results shared by the CLI and the daemon
 * (report.h). */
#include "io/report.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>

#include "backend/select.h"
#include "model/ct_read.h"
#include "quant/ggml_quants.h"
#include "quant/quant.h"

static cJSON *object_or(cJSON *into) { return into ? into : cJSON_CreateObject(); }

cJSON *qt_eval_json(cJSON *into, const struct qt_kl_stats *st) {
    cJSON *j = object_or(into), *k = cJSON_AddObjectToObject(j, "kld");
    cJSON_AddNumberToObject(k, "mean", st->kld_mean);
    cJSON_AddNumberToObject(k, "stderr", st->kld_stderr);
    cJSON_AddNumberToObject(k, "median", st->kld_median);
    cJSON_AddNumberToObject(k, "p90", st->kld_p90);
    cJSON_AddNumberToObject(k, "p99", st->kld_p99);
    cJSON_AddNumberToObject(k, "p999", st->kld_p999);
    cJSON_AddNumberToObject(k, "max", st->kld_max);
    cJSON_AddNumberToObject(j, "same_top_p", st->same_top_p);
    cJSON_AddNumberToObject(j, "ppl_base", st->ppl_base);
    cJSON_AddNumberToObject(j, "ppl_q", st->ppl_q);
    cJSON_AddNumberToObject(j, "ln_ppl_ratio", st->ln_ppl_ratio);
    cJSON_AddNumberToObject(j, "rms_dp", st->rms_dp);
    cJSON_AddNumberToObject(j, "positions", (double)st->positions);
    cJSON_AddNumberToObject(j, "tensors_quantized", st->tensors_quantized);
    cJSON_AddStringToObject(j, "backend", qt_backend_active_name());
    if (st->on_device)   /* where the quantized forward's time went */
        qt_fwd_timing_json(cJSON_AddObjectToObject(j, "forward"), &st->fwd);
    return j;
}

cJSON *qt_sens_json(cJSON *into, const struct qt_sens_result *r, enum qt_sens_by by) {
    cJSON *doc = object_or(into);
    cJSON_AddStringToObject(doc, "by", by == QT_SENS_LAYER ? "layer" : "group");
    cJSON_AddNumberToObject(doc, "ctx", r->ctx);
    cJSON_AddNumberToObject(doc, "chunks", r->nseq);
    cJSON *arr = cJSON_AddArrayToObject(doc, "units");
    for (int k = 0; k < r->n_units; k++) {
        const struct qt_sens_unit *u = &r->units[k];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "rank", k + 1);
        cJSON_AddStringToObject(o, "name", u->name);
        cJSON_AddStringToObject(o, "kind", u->kind);
        cJSON_AddNumberToObject(o, "layer", u->layer);
        cJSON_AddNumberToObject(o, "tensors", u->n_tensors);
        cJSON_AddNumberToObject(o, "params", (double)u->params);
        cJSON_AddNumberToObject(o, "dkl", u->st.kld_mean);
        cJSON_AddNumberToObject(o, "dkl_stderr", u->st.kld_stderr);
        cJSON_AddNumberToObject(o, "kld_p99", u->st.kld_p99);
        cJSON_AddNumberToObject(o, "same_top_p", u->st.same_top_p);
        cJSON_AddNumberToObject(o, "ln_ppl_ratio", u->st.ln_ppl_ratio);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddNumberToObject(doc, "sum_dkl", r->sum_dkl);
    cJSON_AddItemToObject(doc, "all", qt_eval_json(NULL, &r->all));
    return doc;
}

cJSON *qt_lint_json(cJSON *into, const struct qt_model *m, const struct qt_lint *L) {
    cJSON *j = object_or(into);
    cJSON *arr = cJSON_AddArrayToObject(j, "findings");
    for (int i = 0; L && i < L->n; i++) {
        const struct qt_finding *f = &L->f[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", f->code);
        cJSON_AddStringToObject(o, "severity", qt_severity_name(f->severity));
        cJSON_AddStringToObject(o, "message", f->message);
        cJSON *t = cJSON_AddArrayToObject(o, "tensors");
        for (int k = 0; k < f->n_tensors; k++)
            cJSON_AddItemToArray(t, cJSON_CreateString(m->tensors[f->tensors[k]].name));
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddNumberToObject(j, "errors", L ? L->n_errors : 0);
    cJSON_AddNumberToObject(j, "warnings", L ? L->n_warnings : 0);
    return j;
}

cJSON *qt_tensor_json(cJSON *into, const struct qt_model *m, int i) {
    const struct qt_tensor *t = &m->tensors[i];
    cJSON *j = object_or(into);
    cJSON_AddStringToObject(j, "name", t->name);
    cJSON *sh = cJSON_AddArrayToObject(j, "shape");
    for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
    /* a GGUF tensor's dtype is its ggml block type (Q4_K, ...) */
    cJSON_AddStringToObject(j, "dtype", t->gg ? qt_ggml_type_name(t->gg - 1) : qt_dtype_name(t->dtype));
    cJSON_AddStringToObject(j, "role", qt_role_name(t->role));
    cJSON_AddNumberToObject(j, "layer", t->layer);
    cJSON_AddNumberToObject(j, "expert", t->expert);
    cJSON_AddBoolToObject(j, "mtp", t->mtp);
    if (t->group >= 0 && t->group < m->n_groups) cJSON_AddStringToObject(j, "group", m->groups[t->group].name);
    else cJSON_AddNullToObject(j, "group");
    if (t->source) cJSON_AddStringToObject(j, "source", t->source);
    const char *scheme, *fmt, *cg;
    if (qt_ct_info(m, t, &scheme, &fmt, &cg)) {   /* a quantized module of a compressed-tensors checkpoint */
        cJSON_AddStringToObject(j, "scheme", scheme);
        cJSON_AddStringToObject(j, "format", fmt);
        cJSON_AddStringToObject(j, "config_group", cg);
    }
    cJSON_AddNumberToObject(j, "params", (double)qt_tensor_numel(t));
    cJSON_AddNumberToObject(j, "bytes", (double)t->nbytes);
    return j;
}

cJSON *qt_patterns_json(const struct qt_recipe *r, int null_absent) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; r && i < r->n_mods; i++) {
        const struct qt_modifier *md = &r->mods[i];
        for (int g = md->first_group; g < md->first_group + md->n_groups; g++)
            for (int k = 0; k < r->groups[g].n_targets; k++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "pattern", r->groups[g].targets[k].text);
                cJSON_AddStringToObject(o, "kind", "target");
                cJSON_AddStringToObject(o, "modifier", md->type);
                cJSON_AddStringToObject(o, "group", r->groups[g].name);
                cJSON_AddStringToObject(o, "scheme", r->groups[g].scheme);
                cJSON_AddNumberToObject(o, "matches", r->groups[g].target_hits[k]);
                cJSON_AddItemToArray(arr, o);
            }
        for (int k = 0; k < md->n_ignore; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "pattern", md->ignore[k].text);
            cJSON_AddStringToObject(o, "kind", "ignore");
            cJSON_AddStringToObject(o, "modifier", md->type);
            if (null_absent) {
                cJSON_AddNullToObject(o, "group");
                cJSON_AddNullToObject(o, "scheme");
            }
            cJSON_AddNumberToObject(o, "matches", md->ignore_hits[k]);
            cJSON_AddItemToArray(arr, o);
        }
    }
    return arr;
}

cJSON *qt_deploy_json(cJSON *into, const struct qt_deploy *d, const struct qt_gpu *g) {
    cJSON *j = object_or(into);
    cJSON_AddNumberToObject(j, "weights_bytes", d->weights_bytes);
    cJSON_AddNumberToObject(j, "mtp_bytes", d->mtp_bytes);
    cJSON_AddNumberToObject(j, "weights_bytes_without_mtp", d->weights_bytes - d->mtp_bytes);
    cJSON_AddNumberToObject(j, "replicated_bytes", d->replicated_bytes);
    cJSON_AddNumberToObject(j, "active_bytes_per_token", d->active_bytes);
    cJSON_AddNumberToObject(j, "kv_bytes_per_token", d->kv_bytes_per_token);
    cJSON_AddNumberToObject(j, "kv_element_bytes", d->kv_bytes);
    cJSON_AddStringToObject(j, "kv_layout", d->kv_mla ? "mla" : "gqa");
    cJSON *arr = cJSON_AddArrayToObject(j, "per_gpu");
    for (int k = 0; k < QT_DEPLOY_NTP; k++) {
        const struct qt_deploy_tp *p = &d->per_gpu[k];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "tp", p->tp);
        cJSON_AddNumberToObject(o, "weights_bytes", p->weights_bytes);
        cJSON_AddNumberToObject(o, "kv_bytes_per_token", p->kv_bytes_per_token);
        cJSON_AddNumberToObject(o, "max_tokens", (double)p->max_tokens);
        cJSON_AddNumberToObject(o, "max_ctx", (double)p->max_ctx);
        cJSON_AddNumberToObject(o, "max_concurrency", p->concurrency);
        cJSON_AddBoolToObject(o, "fits", p->fits);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *gj = cJSON_AddObjectToObject(j, "gpu");
    cJSON_AddStringToObject(gj, "name", g->name);
    cJSON_AddNumberToObject(gj, "memory_bytes", g->mem_bytes);
    cJSON_AddNumberToObject(gj, "bandwidth_bytes_s", g->bw_bytes);
    cJSON_AddNumberToObject(gj, "price_hour", g->price_hour);
    cJSON_AddNumberToObject(j, "gpus_needed", d->gpus_needed);
    cJSON_AddNumberToObject(j, "tp", d->tp);
    cJSON_AddNumberToObject(j, "ctx", (double)d->ctx);
    cJSON_AddNumberToObject(j, "max_position_embeddings", (double)d->ctx_limit);
    cJSON_AddBoolToObject(j, "ctx_over_limit", d->ctx_over_limit);
    if (d->ctx_over_limit) cJSON_AddNumberToObject(j, "ctx_asked", (double)d->ctx_asked);
    cJSON_AddNumberToObject(j, "batch", d->batch);
    cJSON_AddNumberToObject(j, "util", d->util);
    cJSON_AddNumberToObject(j, "tok_s_bound", d->tok_s_bound);
    cJSON_AddNumberToObject(j, "tok_s_bound_ctx", d->tok_s_bound_ctx);
    cJSON_AddNumberToObject(j, "cost_per_hour", d->cost_per_hour);
    cJSON_AddNumberToObject(j, "cost_per_mtok", d->cost_per_mtok);
    return j;
}

void qt_eval_json_arith(cJSON *j, const char *ckpt, int gguf) {
    if (!j) return;
    if (!ckpt) {
        cJSON_AddStringToObject(j, "arith", qt_arith_name(qt_quant_arith()));
        return;
    }
    char path[4200];
    const char *mode = NULL;
    cJSON *r = NULL;
    if (!gguf && snprintf(path, sizeof path, "%s/qtune-report.json", ckpt) < (int)sizeof path) {
        qt_err e;
        char *t = qt_read_file(path, NULL, &e);
        r = t ? cJSON_Parse(t) : NULL;
        free(t);
        mode = cJSON_GetStringValue(cJSON_GetObjectItem(r, "arith"));
        if (mode && qt_arith_parse(mode) < 0) mode = NULL;
    }
    if (mode) cJSON_AddStringToObject(j, "arith", mode);
    else cJSON_AddNullToObject(j, "arith");
    cJSON_Delete(r);
}

cJSON *qt_write_json(cJSON *into, const char *out, const struct qt_write_result *wr) {
    cJSON *j = object_or(into);
    cJSON_AddStringToObject(j, "out", out);
    cJSON_AddNumberToObject(j, "modules_quantized", wr->n_quantized);
    cJSON_AddNumberToObject(j, "tensors_kept", wr->n_kept);
    cJSON_AddNumberToObject(j, "shards", wr->n_shards);
    cJSON_AddNumberToObject(j, "bytes_source", (double)wr->bytes_source);
    cJSON_AddNumberToObject(j, "bytes_written", (double)wr->bytes_written);
    cJSON_AddNumberToObject(j, "seconds", wr->seconds);
    cJSON_AddStringToObject(j, "backend", qt_backend_active_name());
    cJSON_AddStringToObject(j, "arith", qt_arith_name(qt_quant_arith()));
    return j;
}

static cJSON *plan_point(const struct qt_plan *p, const struct qt_plan_point *pt, int choices) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "bytes", pt->bytes);
    cJSON_AddNumberToObject(o, "bpw", pt->bpw);
    cJSON_AddNumberToObject(o, "sum_dkl", pt->sum_dkl);
    cJSON_AddNumberToObject(o, "predicted_kl", qt_plan_predict(p, pt->sum_dkl));
    if (pt->uniform >= 0) {
        cJSON_AddStringToObject(o, "scheme", p->cand_name[pt->uniform]);
        if (isfinite(p->uniform_kl[pt->uniform]))
            cJSON_AddNumberToObject(o, "measured_kl_dkl_text", p->uniform_kl[pt->uniform]);
    }
    if (choices && pt->uniform < 0) {
        cJSON *c = cJSON_AddArrayToObject(o, "choice");
        for (int u = 0; u < p->n_units; u++) cJSON_AddItemToArray(c, cJSON_CreateNumber(pt->choice[u]));
    }
    return o;
}

cJSON *qt_plan_json(cJSON *into, const struct qt_plan *p, const struct qt_plan_solution *sol,
                    const struct qt_plan_curve *cv, int choices) {
    cJSON *d = into ? into : cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "fixed_bytes", p->fixed_bytes);
    cJSON_AddNumberToObject(d, "planned_params", (double)p->unit_params);
    cJSON_AddNumberToObject(d, "min_bytes", p->min_bytes);
    cJSON_AddNumberToObject(d, "max_bytes", p->max_bytes);
    cJSON_AddNumberToObject(d, "kappa", p->kappa);
    cJSON *ca = cJSON_AddArrayToObject(d, "candidates");
    for (int c = 0; c < p->n_cand; c++) cJSON_AddItemToArray(ca, cJSON_CreateString(p->cand_name[c]));
    cJSON *ua = cJSON_AddArrayToObject(d, "units");
    for (int u = 0; u < p->n_units; u++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", p->units[u].name);
        cJSON_AddStringToObject(x, "kind", p->units[u].kind);
        cJSON_AddNumberToObject(x, "layer", p->units[u].layer);
        cJSON_AddNumberToObject(x, "params", (double)p->units[u].params);
        cJSON_AddItemToArray(ua, x);
    }
    if (sol) {
        cJSON *pl = cJSON_AddObjectToObject(d, "plan");
        cJSON_AddNumberToObject(pl, "bytes", sol->bytes);
        cJSON_AddNumberToObject(pl, "bpw", sol->bpw);
        cJSON_AddNumberToObject(pl, "sum_dkl", sol->sum_dkl);
        cJSON_AddNumberToObject(pl, "predicted_kl", qt_plan_predict(p, sol->sum_dkl));
        cJSON_AddNumberToObject(pl, "lower_bound_sum_dkl", sol->lower_bound);
        cJSON *us = cJSON_AddArrayToObject(pl, "units");
        for (int u = 0; u < p->n_units; u++) {
            const struct qt_plan_unit *un = &p->units[u];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", un->name);
            cJSON_AddStringToObject(x, "kind", un->kind);
            cJSON_AddNumberToObject(x, "layer", un->layer);
            cJSON_AddStringToObject(x, "scheme", qt_plan_choice_name(p, u, sol->choice[u]));   /* GGUF: the type written */
            if (p->format == QT_PLAN_GGUF)   /* a model tensor it holds (the first expert of a stacked one) */
                cJSON_AddStringToObject(x, "tensor", p->m->tensors[un->tensors[0]].name);
            cJSON_AddNumberToObject(x, "bytes", un->bytes[sol->choice[u]]);
            cJSON_AddNumberToObject(x, "dkl", un->dkl[sol->choice[u]]);
            cJSON_AddItemToArray(us, x);
        }
    }
    if (cv) {
        cJSON *c = cJSON_AddArrayToObject(d, "curve"), *u = cJSON_AddArrayToObject(d, "uniform");
        for (int i = 0; i < cv->n; i++) cJSON_AddItemToArray(c, plan_point(p, &cv->pt[i], choices));
        for (int i = 0; i < cv->n_uniform; i++) cJSON_AddItemToArray(u, plan_point(p, &cv->uni[i], 0));
    }
    if (p->format == QT_PLAN_GGUF) {
        cJSON_AddStringToObject(d, "format", "gguf");
        cJSON_AddStringToObject(d, "gguf_ftype", p->gguf_ftype);
        cJSON_AddStringToObject(d, "importance", p->gguf_calib);
        /* llama-quantize's file types the candidates express: the uniform GGUF recipes people make */
        cJSON *pa = cJSON_AddArrayToObject(d, "presets");
        int *ch = malloc(sizeof(int) * (size_t)(p->n_units + 1));
        for (int i = 0; ch && qt_plan_gguf_presets[i]; i++) {
            double b;
            if (qt_plan_gguf_preset(p, qt_plan_gguf_presets[i], ch, &b, NULL) != QT_OK) continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "ftype", qt_plan_gguf_presets[i]);
            cJSON_AddNumberToObject(x, "bytes", b);
            cJSON_AddNumberToObject(x, "bpw", (qt_plan_bytes(p, ch) - p->fixed_bytes) * 8 / (double)p->unit_params);
            if (p->measured) {
                double sum = qt_plan_sum_dkl(p, ch);
                cJSON_AddNumberToObject(x, "sum_dkl", sum);
                cJSON_AddNumberToObject(x, "predicted_kl", qt_plan_predict(p, sum));
            }
            cJSON_AddItemToArray(pa, x);
        }
        free(ch);
    }
    char *tbl = qt_plan_dkl_json(p, NULL);
    if (tbl) {
        cJSON_AddItemToObject(d, "dkl", cJSON_Parse(tbl));
        free(tbl);
    }
    return d;
}
