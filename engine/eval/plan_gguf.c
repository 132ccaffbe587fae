/* plan_gguf.c — the planner's GGUF target: units are GGUF tensors,
 * candidates ggml types (plan_gguf.h). */
#include "eval/plan_gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/yamltree.h"
#include "eval/calib.h"
#include "eval/gguf_eval.h"
#include "quant/ggml_quants.h"
#include "recipe/gguf_plan.h"

const char qt_plan_gguf_candidates[] = "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0,IQ4_XS,Q4_0,BF16";
const char *const qt_plan_gguf_presets[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M",
                                            "IQ4_XS", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", NULL};

static int float_type(int t) { return t == QT_GGML_F32 || t == QT_GGML_F16 || t == QT_GGML_BF16; }

void qt_plan_gguf_free(struct qt_plan *p) {
    if (p->imp) {
        for (int i = 0; i < p->m->n_tensors; i++) free(p->imp[i]);
        free(p->imp);
        p->imp = NULL;
    }
    if (p->gplan) {
        qt_gguf_plan_free(p->gplan);
        free(p->gplan);
        p->gplan = NULL;
    }
    if (p->gspec) {
        qt_gguf_spec_free(p->gspec);
        free(p->gspec);
        p->gspec = NULL;
    }
}

static int parse_types(struct qt_plan *p, const char *list, qt_err *err) {
    const char *s = list;
    struct qt_scheme kept_s, q_s;
    qt_scheme_parse("bf16", &kept_s, NULL);
    qt_scheme_parse("int8-ch-sym", &q_s, NULL);   /* a placeholder: "not kept" for the generic code */
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char one[32];
        if (n == 0 || n >= sizeof one) return qt_err_set(err, "plan: --candidates: empty or too long entry in '%s'", list);
        memcpy(one, s, n);
        one[n] = 0;
        int t = qt_ggml_type_parse(one);
        const struct qt_ggml_type_info *ti = qt_ggml_type_info(t);
        if (!ti)
            return qt_err_set(err, "plan: --candidates: %s is not a GGUF type (--format gguf takes ggml types: %s)", one,
                              qt_plan_gguf_candidates);
        if (!ti->write) return qt_err_set(err, "plan: --candidates: GGUF type %s is not one qtune writes", ti->name);
        if (p->n_cand == QT_PLAN_MAX_CAND) return qt_err_set(err, "plan: --candidates: more than %d types", QT_PLAN_MAX_CAND);
        int dup = 0;
        for (int c = 0; c < p->n_cand; c++) dup |= p->cand_gg[c] == t;
        if (!dup) {
            p->cand_gg[p->n_cand] = t;
            p->cand[p->n_cand] = float_type(t) ? kept_s : q_s;
            snprintf(p->cand_name[p->n_cand], sizeof p->cand_name[0], "%s", ti->name);
            p->n_cand++;
        }
        s += n + (e != NULL);
    }
    if (p->n_cand == 0) return qt_err_set(err, "plan: --candidates: no type given");
    return QT_OK;
}

/* 1 when every source of GGUF tensor o is a tensor the forward runs: a
 * decoder layer's (not MTP), the embedding or lm_head. */
static int run_by_forward(const struct qt_model *m, const struct qt_gguf_out *o) {
    for (int e = 0; e < o->n_src; e++) {
        const struct qt_tensor *t = &m->tensors[o->src[e]];
        if (t->mtp) return 0;
        if (t->role == QT_ROLE_EMBED || t->role == QT_ROLE_LM_HEAD) continue;
        if (t->layer < 0 || t->layer >= m->cfg.n_layers) return 0;
    }
    return o->n_src > 0;
}

/* "blk.3.ffn_down_exps.weight" -> "ffn_down_exps"; "output.weight" -> "output". */
static void gguf_kind(const char *name, char *out, size_t n) {
    const char *s = name;
    if (!strncmp(s, "blk.", 4)) {
        s += 4;
        while (*s >= '0' && *s <= '9') s++;
        if (*s == '.') s++;
    }
    size_t l = strlen(s);
    if (l > 7 && !strcmp(s + l - 7, ".weight")) l -= 7;
    if (l >= n) l = n - 1;
    memcpy(out, s, l);
    out[l] = 0;
}

int qt_plan_gguf_init(const struct qt_model *m, const struct qt_plan_opts *o, struct qt_plan *out, qt_err *err) {
    int rc = QT_OK;
    out->gguf_imatrix = o->gguf_imatrix ? 1 : 0;
    out->gspec = calloc(1, sizeof *out->gspec);
    out->gplan = calloc(1, sizeof *out->gplan);
    if (!out->gspec || !out->gplan) {
        qt_plan_free(out);
        return qt_err_set(err, "out of memory");
    }
    out->gspec->output_type = out->gspec->embd_type = -1;
    /* the preset: the base recipe's qtune_gguf section, its ftype replaced by o->gguf_ftype */
    if (o->base) rc = qt_gguf_spec_from_yaml(o->base->root, o->base->path ? o->base->path : "base recipe", out->gspec, err);
    int base_quantizes = rc == QT_OK && out->gspec->ftype && qt_gguf_type_quantized(out->gspec->ftype->base);
    if (rc == QT_OK && (o->gguf_ftype || !out->gspec->ftype)) {
        const char *ft = o->gguf_ftype ? o->gguf_ftype : "Q8_0";
        out->gspec->ftype = qt_gguf_ftype_find(ft);
        if (!out->gspec->ftype) {
            struct qt_gguf_spec tmp;
            rc = qt_gguf_spec_from_ftype(ft, &tmp, err);   /* names the file types */
            if (rc == QT_OK) rc = qt_err_set(err, "GGUF file type \"%s\": unknown", ft);
            qt_err_prefix(err, "plan: --gguf-ftype");
        }
    }
    if (rc == QT_OK) {
        snprintf(out->gguf_ftype, sizeof out->gguf_ftype, "%s", out->gspec->ftype->name);
        rc = qt_gguf_plan_build(m, out->gspec, out->gguf_imatrix, out->gplan, err);
        if (rc != QT_OK) qt_err_prefix(err, "plan: --format gguf");
    }
    if (rc == QT_OK) rc = parse_types(out, o->candidates ? o->candidates : qt_plan_gguf_candidates, err);
    if (rc != QT_OK) {
        qt_plan_free(out);
        return QT_ERR;
    }
    const struct qt_gguf_plan *gp = out->gplan;
    out->units = calloc((size_t)gp->n + 1, sizeof *out->units);
    if (!out->units) {
        qt_plan_free(out);
        return qt_err_set(err, "out of memory");
    }
    int nu = 0;
    for (int k = 0; k < gp->n && rc == QT_OK; k++) {
        const struct qt_gguf_out *g = &gp->t[k];
        int unit = g->quantizable && run_by_forward(m, g) && (!base_quantizes || qt_gguf_type_quantized(g->type));
        if (!unit) {
            out->fixed_bytes += (double)qt_gguf_out_bytes(g);
            continue;
        }
        struct qt_plan_unit *u = &out->units[nu++];
        snprintf(u->name, sizeof u->name, "%s", g->name);
        gguf_kind(g->name, u->gkind, sizeof u->gkind);
        u->kind = u->gkind;
        u->layer = g->layer;
        u->gout = k;
        u->n_tensors = g->n_src;
        u->tensors = malloc(sizeof(int) * (size_t)g->n_src);
        if (!u->tensors) {
            rc = qt_err_set(err, "out of memory");
            break;
        }
        memcpy(u->tensors, g->src, sizeof(int) * (size_t)g->n_src);
        u->params = g->ne[0] * g->ne[1] * g->ne[2];
        for (int c = 0; c < out->n_cand; c++) {
            int t = out->cand_gg[c];
            int eff = float_type(t) ? t : qt_gguf_fallback(t, g->ne[0]);
            size_t rs = qt_ggml_row_size(eff, g->ne[0]);
            u->gg[c] = eff;
            u->bytes[c] = rs ? (double)rs * (double)g->ne[1] * (double)g->ne[2] : -1;
            u->dkl[c] = u->dkl_se[c] = float_type(eff) ? 0 : NAN;
        }
    }
    out->n_units = nu;
    if (rc == QT_OK && nu == 0)
        rc = qt_err_set(err, "plan: nothing to plan: no GGUF tensor the forward runs is quantized by %s",
                        o->base ? "the base recipe" : "the planner");
    if (rc != QT_OK) {
        qt_plan_free(out);
        return QT_ERR;
    }
    out->min_bytes = out->max_bytes = out->fixed_bytes;
    for (int k = 0; k < nu; k++) {
        struct qt_plan_unit *u = &out->units[k];
        out->unit_params += u->params;
        double lo = INFINITY, hi = -INFINITY;
        for (int c = 0; c < out->n_cand; c++) {
            if (u->bytes[c] < 0) continue;
            if (u->bytes[c] < lo) lo = u->bytes[c];
            if (u->bytes[c] > hi) hi = u->bytes[c];
        }
        if (lo == INFINITY) {
            char nm[128];
            snprintf(nm, sizeof nm, "%s", u->name);
            qt_plan_free(out);
            return qt_err_set(err, "plan: no candidate fits %s (add BF16 to --candidates)", nm);
        }
        out->min_bytes += lo;
        out->max_bytes += hi;
    }
    return QT_OK;
}

int qt_plan_set_importance(struct qt_plan *p, const struct qt_calib *c, const char *calib_path, qt_err *err) {
    if (p->format != QT_PLAN_GGUF) return QT_OK;
    const struct qt_model *m = p->m;
    if (!p->imp && !(p->imp = calloc((size_t)m->n_tensors + 1, sizeof *p->imp))) return qt_err_set(err, "out of memory");
    const struct qt_gguf_plan *gp = p->gplan;
    /* as qt_imatrix_from_calib gives the writer: a GGUF tensor with no
     * statistics at all takes none; else each expert its own, or 1.0 */
    for (int k = 0; k < gp->n; k++) {
        const struct qt_gguf_out *o = &gp->t[k];
        if (!o->quantizable) continue;
        int any = 0;
        for (int e = 0; e < o->n_src && !any; e++) {
            int ti = o->src[e];
            any = ti < c->n && c->sumsq[ti] && c->count[ti] > 0;
        }
        if (!any) continue;
        for (int e = 0; e < o->n_src; e++) {
            int ti = o->src[e];
            float *d = malloc(sizeof(float) * (size_t)o->ne[0]);
            if (!d) return qt_err_set(err, "out of memory");
            if (qt_calib_importance(c, m, ti, d) != 0)
                for (int64_t j = 0; j < o->ne[0]; j++) d[j] = 1;
            free(p->imp[ti]);
            p->imp[ti] = d;
        }
    }
    snprintf(p->gguf_calib, sizeof p->gguf_calib, "%s", calib_path ? calib_path : "");
    return QT_OK;
}

/* ---- measurement ---- */

struct gprog {
    const struct qt_eval_params *ep;
    int64_t slot, slots;        /* evaluation being run, all of them (+1: the base) */
};

static void gprogress(void *ctx, int64_t done, int64_t total) {
    struct gprog *g = ctx;
    if (!g->ep->progress || total <= 0) return;
    int64_t d = g->slot * 1000 + (done >= total ? 1000 : done * 1000 / total);
    g->ep->progress(g->ep->progress_ctx, d, g->slots * 1000);
}

/* The layer a unit's forward restarts at: the embeddings for token_embd,
 * the head for output, else its block. */
static int unit_start(const struct qt_plan *p, const struct qt_plan_unit *u) {
    const struct qt_tensor *t = &p->m->tensors[u->tensors[0]];
    if (t->role == QT_ROLE_EMBED) return 0;
    if (t->role == QT_ROLE_LM_HEAD) return p->m->cfg.n_layers;
    return u->layer < 0 ? 0 : u->layer;
}

int qt_plan_gguf_measure(struct qt_plan *p, const struct qt_eval_params *ep, qt_err *err) {
    const struct qt_model *m = p->m;
    int nq = 0;
    for (int c = 0; c < p->n_cand; c++) nq += !qt_scheme_is_kept(&p->cand[c]);
    struct gprog g = {ep, 0, 1 + (int64_t)nq * (p->n_units + 1)};
    struct qt_eval_params e = *ep;
    e.keep_states = 1;
    e.progress = gprogress;
    e.progress_ctx = &g;
    struct qt_eval_base *base = NULL;
    if (qt_eval_base_init(m, &e, &base, err) != QT_OK) return QT_ERR;
    int n = m->n_tensors, rc = QT_OK;
    int *type = malloc(sizeof(int) * (size_t)(n + 1));
    unsigned char *only = calloc((size_t)n + 1, 1);
    if (!type || !only) rc = qt_err_set(err, "out of memory");
    struct qt_gguf_fq fq = {m, type, p->imp, only};
    struct qt_fwd_hooks hk = qt_gguf_fq_hooks(&fq);
    for (int c = 0; c < p->n_cand && rc == QT_OK; c++) {
        if (qt_scheme_is_kept(&p->cand[c])) {
            p->uniform_kl[c] = 0;
            continue;
        }
        for (int i = 0; i < n; i++) type[i] = -1;
        for (int u = 0; u < p->n_units; u++)
            for (int j = 0; j < p->units[u].n_tensors; j++)
                type[p->units[u].tensors[j]] = float_type(p->units[u].gg[c]) ? -1 : p->units[u].gg[c];
        for (int u = 0; u < p->n_units && rc == QT_OK; u++) {
            struct qt_plan_unit *un = &p->units[u];
            g.slot++;
            if (un->bytes[c] < 0 || float_type(un->gg[c])) continue;
            memset(only, 0, (size_t)n);
            for (int j = 0; j < un->n_tensors; j++) only[un->tensors[j]] = 1;
            struct qt_kl_stats st;
            rc = qt_eval_run(m, base, &hk, unit_start(p, un), &e, &st, err);
            if (rc == QT_OK) {
                un->dkl[c] = st.kld_mean;
                un->dkl_se[c] = st.kld_stderr;
            } else {
                qt_err_prefix(err, "plan: measuring %s on %s", p->cand_name[c], un->name);
            }
        }
        if (rc != QT_OK) break;
        /* every unit at c together: the uniform recipe of c */
        g.slot++;
        fq.only = NULL;
        struct qt_kl_stats all;
        rc = qt_eval_run(m, base, &hk, 0, &e, &all, err);
        fq.only = only;
        if (rc == QT_OK) p->uniform_kl[c] = all.kld_mean;
        else qt_err_prefix(err, "plan: measuring %s", p->cand_name[c]);
    }
    if (rc == QT_OK) {
        p->measured = 1;
        p->nseq = base->nseq;
        p->ctx = base->ctx;
        snprintf(p->data, sizeof p->data, "%s", ep->data_path ? ep->data_path : "");
        qt_plan_fit(p);
    }
    free(type);
    free(only);
    qt_eval_base_free(base);
    return rc;
}

/* ---- sizes and evaluation of a choice ---- */

int qt_plan_budget_gguf(const struct qt_plan *p, const char *ftype, double *out, qt_err *err) {
    struct qt_gguf_spec s;
    if (qt_gguf_spec_from_ftype(ftype, &s, err) != QT_OK) return QT_ERR;
    struct qt_gguf_plan gp;
    int rc = qt_gguf_plan_build(p->m, &s, p->gguf_imatrix, &gp, err);
    if (rc == QT_OK) {
        *out = (double)gp.bytes;
        qt_gguf_plan_free(&gp);
    }
    qt_gguf_spec_free(&s);
    return rc;
}

int qt_plan_gguf_preset(const struct qt_plan *p, const char *ftype, int *choice, double *bytes, qt_err *err) {
    if (p->format != QT_PLAN_GGUF) return qt_err_set(err, "plan: not a GGUF plan");
    struct qt_gguf_spec s;
    if (qt_gguf_spec_from_ftype(ftype, &s, err) != QT_OK) return QT_ERR;
    struct qt_gguf_plan gp;
    int rc = qt_gguf_plan_build(p->m, &s, p->gguf_imatrix, &gp, err);
    qt_gguf_spec_free(&s);
    if (rc != QT_OK) return QT_ERR;
    if (gp.n != p->gplan->n) rc = qt_err_set(err, "plan: %s: %d GGUF tensors, the plan has %d", ftype, gp.n, p->gplan->n);
    for (int u = 0; u < p->n_units && rc == QT_OK; u++) {
        const struct qt_plan_unit *un = &p->units[u];
        int t = gp.t[un->gout].type, c = 0;
        while (c < p->n_cand && !(un->bytes[c] >= 0 && un->gg[c] == t)) c++;
        if (c == p->n_cand)
            rc = qt_err_set(err, "plan: %s gives %s %s, not a candidate", ftype, un->name, qt_ggml_type_name(t));
        else
            choice[u] = c;
    }
    if (rc == QT_OK) *bytes = (double)gp.bytes;
    qt_gguf_plan_free(&gp);
    return rc;
}

/* The ggml type every GGUF tensor of the plan gets under choice (-1 for
 * tensors llama-quantize does not quantize): a unit its candidate's, the
 * fixed part what the preset gives it.  desired (gplan->n). */
static void desired_types(const struct qt_plan *p, const int *choice, int *desired) {
    const struct qt_gguf_plan *gp = p->gplan;
    for (int k = 0; k < gp->n; k++) desired[k] = gp->t[k].quantizable ? gp->t[k].type : -1;
    for (int u = 0; u < p->n_units; u++) desired[p->units[u].gout] = p->units[u].gg[choice[u]];
}

int qt_plan_gguf_eval(const struct qt_plan *p, const int *choice, const struct qt_eval_params *ep,
                      struct qt_kl_stats *st, qt_err *err) {
    if (p->format != QT_PLAN_GGUF) return qt_err_set(err, "plan: not a GGUF plan");
    const struct qt_model *m = p->m;
    const struct qt_gguf_plan *gp = p->gplan;
    int *desired = malloc(sizeof(int) * (size_t)(gp->n + 1));
    int *type = malloc(sizeof(int) * (size_t)(m->n_tensors + 1));
    int rc = QT_OK;
    if (!desired || !type) rc = qt_err_set(err, "out of memory");
    if (rc == QT_OK) {
        desired_types(p, choice, desired);
        for (int i = 0; i < m->n_tensors; i++) type[i] = -1;
        for (int k = 0; k < gp->n; k++)
            if (desired[k] >= 0 && desired[k] != QT_GGML_BF16 && desired[k] != QT_GGML_F32)
                for (int e = 0; e < gp->t[k].n_src; e++) type[gp->t[k].src[e]] = desired[k];
    }
    struct qt_gguf_fq fq = {m, type, p->imp, NULL};
    struct qt_fwd_hooks hk = qt_gguf_fq_hooks(&fq);
    struct qt_eval_base *b = NULL;
    if (rc == QT_OK) rc = qt_eval_base_init(m, ep, &b, err);
    if (rc == QT_OK) rc = qt_eval_run(m, b, &hk, 0, ep, st, err);
    qt_eval_base_free(b);
    free(desired);
    free(type);
    return rc;
}

/* ---- the recipe ---- */

/* Escapes s for a regex into out. */
static void re_escape(const char *s, char *out, size_t n) {
    size_t k = 0;
    while (*s && k + 3 < n) {
        if (strchr(".^$|?*+()[]{}\\", *s)) out[k++] = '\\';
        out[k++] = *s++;
    }
    out[k] = 0;
}

static int is_name(const struct qt_gguf_out *o, const char *n) { return !strcmp(o->name, n); }

/* Writes r's qtune_gguf section: the preset's file type, one tensor_types
 * entry per (kind, type) over the tensors with over[k] set (their layers
 * as a number alternation), then the base's entries; output and
 * token_embd by their own keys when they are units. */
static int write_section(const struct qt_plan *p, struct qt_recipe *r, const struct qt_yaml *base_sec,
                         const int *desired, const unsigned char *over, const int *is_unit, qt_err *err) {
    const struct qt_gguf_plan *gp = p->gplan;
    int n = gp->n, rc = QT_OK;
    struct qt_yaml *g = qt_yaml_map(0), *seq = qt_yaml_seq(0);
    unsigned char *done = calloc((size_t)n + 1, 1);
    int *set = malloc(sizeof(int) * (size_t)(n + 1));
    char *nums = malloc(8192), *entry = malloc(16384);
    if (!g || !seq || !done || !set || !nums || !entry) rc = qt_err_set(err, "out of memory");
    if (rc == QT_OK && qt_yaml_set(g, "ftype", qt_yaml_scalar(p->gguf_ftype))) rc = qt_err_set(err, "out of memory");
    for (int k = 0; k < n && rc == QT_OK; k++) {
        const struct qt_gguf_out *o = &gp->t[k];
        if (done[k] || !over[k] || is_name(o, "output.weight") || is_name(o, "token_embd.weight")) continue;
        char kind[64], esc[128];
        gguf_kind(o->name, kind, sizeof kind);
        int ns = 0;
        for (int j = k; j < n; j++) {
            const struct qt_gguf_out *x = &gp->t[j];
            char kj[64];
            if (done[j] || !over[j] || desired[j] != desired[k] || (x->layer < 0) != (o->layer < 0)) continue;
            gguf_kind(x->name, kj, sizeof kj);
            if (strcmp(kj, kind)) continue;
            if (o->layer < 0 && j != k) continue;
            done[j] = 1;
            set[ns++] = x->layer;
        }
        re_escape(kind, esc, sizeof esc);
        if (o->layer < 0) {
            snprintf(entry, 16384, "^%s\\.weight$=%s", esc, qt_ggml_type_name(desired[k]));
        } else {
            /* layers in increasing order (plan order is by block) */
            if (qt_plan_numbers_re(set, ns, nums, 8192) != QT_OK) {
                rc = qt_err_set(err, "plan: layer pattern too long");
                break;
            }
            snprintf(entry, 16384, strchr(nums, '|') ? "^blk\\.(?:%s)\\.%s\\.weight$=%s" : "^blk\\.%s\\.%s\\.weight$=%s",
                     nums, esc, qt_ggml_type_name(desired[k]));
        }
        struct qt_yaml *v = qt_yaml_scalar(entry);
        if (!v || qt_yaml_push(seq, v)) {
            qt_yaml_free(v);
            rc = qt_err_set(err, "out of memory");
        }
    }
    const struct qt_yaml *bt = base_sec ? qt_yaml_get(base_sec, "tensor_types") : NULL;
    for (int i = 0; rc == QT_OK && bt && i < bt->n; i++) {
        char buf[600];
        const char *e = NULL;
        if (bt->kind == QT_YAML_SEQ) e = qt_yaml_str(bt->items[i]);
        else if (bt->kind == QT_YAML_MAP && qt_yaml_str(bt->items[i]))
            snprintf(buf, sizeof buf, "%s=%s", bt->keys[i], qt_yaml_str(bt->items[i])), e = buf;
        struct qt_yaml *v = e ? qt_yaml_scalar(e) : NULL;
        if (e && (!v || qt_yaml_push(seq, v))) {
            qt_yaml_free(v);
            rc = qt_err_set(err, "out of memory");
        }
    }
    if (rc == QT_OK && seq->n) {
        if (qt_yaml_set(g, "tensor_types", seq)) rc = qt_err_set(err, "out of memory");
        seq = NULL;
    }
    static const char *const keys[2] = {"output_tensor_type", "token_embedding_type"};
    static const char *const names[2] = {"output.weight", "token_embd.weight"};
    for (int w = 0; w < 2 && rc == QT_OK; w++) {
        const char *val = NULL;
        for (int k = 0; k < n; k++)
            if (is_name(&gp->t[k], names[w]) && (is_unit[k] || over[k])) val = qt_ggml_type_name(desired[k]);
        if (!val && base_sec) val = qt_yaml_str(qt_yaml_get(base_sec, keys[w]));
        if (val && qt_yaml_set(g, keys[w], qt_yaml_scalar(val))) rc = qt_err_set(err, "out of memory");
    }
    if (rc == QT_OK && base_sec && qt_yaml_get(base_sec, "pure"))
        if (qt_yaml_set(g, "pure", qt_yaml_copy(qt_yaml_get(base_sec, "pure")))) rc = qt_err_set(err, "out of memory");
    if (rc == QT_OK) {
        qt_yaml_del(r->root, "qtune_gguf");
        if (qt_yaml_set(r->root, "qtune_gguf", g)) rc = qt_err_set(err, "out of memory");
        else g = NULL;
    }
    qt_yaml_free(g);
    qt_yaml_free(seq);
    free(done);
    free(set);
    free(nums);
    free(entry);
    return rc;
}

/* The plan r's section gives (caller frees with qt_gguf_plan_free). */
static int plan_of(const struct qt_plan *p, const struct qt_recipe *r, struct qt_gguf_plan *gp, qt_err *err) {
    struct qt_gguf_spec s;
    if (qt_gguf_spec_from_yaml(r->root, "planned recipe", &s, err) != QT_OK) return QT_ERR;
    int rc = qt_gguf_plan_build(p->m, &s, p->gguf_imatrix, gp, err);
    qt_gguf_spec_free(&s);
    return rc;
}

int qt_plan_gguf_recipe(const struct qt_plan *p, const int *choice, const char *base_path, const char *header,
                        struct qt_recipe **out, qt_err *err) {
    *out = NULL;
    struct qt_recipe *r = NULL, *base = NULL;
    if ((base_path ? qt_recipe_load(base_path, &r, err) : qt_recipe_new(&r, err)) != QT_OK) return QT_ERR;
    if (base_path && qt_recipe_load(base_path, &base, err) != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    const struct qt_yaml *base_sec = base ? qt_yaml_get(base->root, "qtune_gguf") : NULL;
    if (base_sec && base_sec->kind != QT_YAML_MAP) base_sec = NULL;
    const struct qt_gguf_plan *gp = p->gplan;
    int n = gp->n, rc = QT_OK;
    int *desired = malloc(sizeof(int) * (size_t)(n + 1)), *is_unit = calloc((size_t)n + 1, sizeof(int));
    unsigned char *over = calloc((size_t)n + 1, 1);
    if (!desired || !is_unit || !over) rc = qt_err_set(err, "out of memory");
    if (rc == QT_OK) {
        desired_types(p, choice, desired);
        for (int u = 0; u < p->n_units; u++) is_unit[p->units[u].gout] = 1;
        /* an entry where the preset would give another type, or would have
         * to fall back (lint GG001): the written type is then said outright */
        for (int k = 0; k < n; k++)
            over[k] = desired[k] >= 0 && (desired[k] != gp->t[k].wanted || gp->t[k].type != gp->t[k].wanted);
    }
    /* entries change llama-quantize's counters for the tensors after them
     * (a manual type skips its rules): repeat until the plan of the written
     * section is the planned one, adding entries where it is not */
    int settled = 0;
    for (int it = 0; rc == QT_OK && it < 64 && !settled; it++) {
        rc = write_section(p, r, base_sec, desired, over, is_unit, err);
        struct qt_gguf_plan got = {0};
        if (rc == QT_OK) rc = plan_of(p, r, &got, err);
        if (rc == QT_OK && got.n != n) rc = qt_err_set(err, "plan: the written recipe's GGUF plan has %d tensors, not %d", got.n, n);
        settled = 1;
        for (int k = 0; rc == QT_OK && k < n; k++)
            if (desired[k] >= 0 && (got.t[k].type != desired[k] || got.t[k].wanted != desired[k]) && !over[k]) {
                over[k] = 1;
                settled = 0;
            }
        for (int k = 0; rc == QT_OK && settled && k < n; k++)
            if (desired[k] >= 0 && got.t[k].type != desired[k])
                rc = qt_err_set(err, "plan: the written recipe gives %s %s instead of %s", gp->t[k].name,
                                qt_ggml_type_name(got.t[k].type), qt_ggml_type_name(desired[k]));
        qt_gguf_plan_free(&got);
    }
    if (rc == QT_OK && !settled) rc = qt_err_set(err, "plan: the GGUF recipe did not settle");
    if (rc == QT_OK && header) {
        char *h = strdup(header);
        if (!h) rc = qt_err_set(err, "out of memory");
        else {
            free(r->header);
            r->header = h;
            qt_yaml_drop_lead_comments(r->root);
        }
    }
    /* the text as saved gives the same plan (quoting of the patterns) */
    if (rc == QT_OK) {
        size_t len;
        char *txt = qt_recipe_dump(r, &len, err);
        struct qt_recipe *back = NULL;
        struct qt_gguf_plan got = {0};
        if (!txt || qt_recipe_parse(txt, len, "planned recipe", &back, err) != QT_OK || plan_of(p, back, &got, err) != QT_OK)
            rc = QT_ERR;
        for (int k = 0; rc == QT_OK && k < n; k++)
            if (desired[k] >= 0 && got.t[k].type != desired[k])
                rc = qt_err_set(err, "plan: the saved recipe gives %s %s instead of %s", gp->t[k].name,
                                qt_ggml_type_name(got.t[k].type), qt_ggml_type_name(desired[k]));
        qt_gguf_plan_free(&got);
        qt_recipe_free(back);
        free(txt);
    }
    free(desired);
    free(is_unit);
    free(over);
    qt_recipe_free(base);
    if (rc != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    *out = r;
    return QT_OK;
}
