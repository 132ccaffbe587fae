/* lint.c — QT001..QT017 over a resolved recipe. */
#include "recipe/lint.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *qt_severity_name(enum qt_severity s) { return s == QT_SEV_ERROR ? "error" : "warning"; }

/* A growing list of tensor indices. */
struct ilist { int *v, n, cap; };

static int il_push(struct ilist *l, int x) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        int *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return QT_ERR;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return QT_OK;
}

/* Adds a finding; takes ownership of tl->v (reset). */
static int add(struct qt_lint *L, const char *code, enum qt_severity sev, struct ilist *tl, qt_err *err,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int add(struct qt_lint *L, const char *code, enum qt_severity sev, struct ilist *tl, qt_err *err,
               const char *fmt, ...) {
    struct qt_finding *f = realloc(L->f, (size_t)(L->n + 1) * sizeof *f);
    if (!f) return qt_err_set(err, "out of memory");
    L->f = f;
    f = &L->f[L->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->code, sizeof f->code, "%s", code);
    f->severity = sev;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f->message = strdup(msg);
    if (tl) {
        f->tensors = tl->v;
        f->n_tensors = tl->n;
        memset(tl, 0, sizeof *tl);
    }
    if (sev == QT_SEV_ERROR) L->n_errors++;
    else L->n_warnings++;
    return f->message ? QT_OK : qt_err_set(err, "out of memory");
}

void qt_lint_free(struct qt_lint *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        free(l->f[i].message);
        free(l->f[i].tensors);
    }
    free(l->f);
    memset(l, 0, sizeof *l);
}

static const char *short_name(const struct qt_tensor *t) {
    /* "model.layers.3.mlp.experts.7.up_proj.weight" -> "mlp.experts.7.up_proj" is
     * too clever for messages; the full name is clear enough. */
    return t->name;
}

/* QT001 / QT002: members of one fused group on different schemes. */
static int lint_fused(struct qt_lint *L, const struct qt_model *m, const struct qt_resolution *res,
                      qt_err *err) {
    for (int g = 0; g < m->n_groups; g++) {
        const struct qt_group *G = &m->groups[g];
        const char *s0 = res->t[G->members[0]].scheme, *s1 = NULL;
        int first_other = -1;
        for (int k = 1; k < G->n_members; k++)
            if (strcmp(res->t[G->members[k]].scheme, s0)) {
                s1 = res->t[G->members[k]].scheme;
                first_other = G->members[k];
                break;
            }
        if (!s1) continue;
        struct ilist tl = {0};
        for (int k = 0; k < G->n_members; k++)
            if (il_push(&tl, G->members[k])) return qt_err_set(err, "out of memory");
        int rc;
        if (G->kind == QT_GROUP_EXPERTS)
            rc = add(L, "QT002", QT_SEV_ERROR, &tl, err,
                     "routed experts of layer %d on different schemes (%s for %s, %s for %s): "
                     "the fused MoE kernel takes one scheme per layer",
                     G->layer, s0, short_name(&m->tensors[G->members[0]]), s1,
                     short_name(&m->tensors[first_other]));
        else
            rc = add(L, "QT001", QT_SEV_ERROR, &tl, err,
                     "fused %s split across schemes (%s for %s, %s for %s): vLLM loads one scheme per fused layer",
                     G->name, s0, short_name(&m->tensors[G->members[0]]), s1,
                     short_name(&m->tensors[first_other]));
        if (rc) return rc;
    }
    return QT_OK;
}

/* Digits following "layers." / "layers\." in a regex, when the character
 * after them lets the number continue (anything but "\." , "$" or "\b"):
 * writes them into d and returns 1. */
static int layer_prefix_trap(const char *re, char *d, size_t n) {
    for (const char *p = strstr(re, "layers"); p; p = strstr(p + 1, "layers")) {
        const char *q = p + 6;
        if (q[0] == '\\' && q[1] == '.') q += 2;
        else if (q[0] == '.') q += 1;
        else continue;
        size_t k = 0;
        while (isdigit((unsigned char)q[k]) && k + 1 < n) { d[k] = q[k]; k++; }
        if (!k) continue;
        d[k] = 0;
        const char *after = q + k;
        if ((after[0] == '\\' && (after[1] == '.' || after[1] == 'b')) || after[0] == '$' ||
            (after[0] == '\\' && after[1] == 'z') || (after[0] == '\\' && after[1] == 'Z'))
            continue;
        return 1;
    }
    return 0;
}

static int is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* QT003 for one regex pattern. */
static int lint_broad(struct qt_lint *L, const struct qt_model *m, const struct qt_pattern *p,
                      const char *where, qt_err *err) {
    if (!p->is_regex) return QT_OK;
    char digits[16];
    int trap = layer_prefix_trap(p->text + 3, digits, sizeof digits);
    size_t dl = trap ? strlen(digits) : 0;
    struct ilist num = {0}, mid = {0};
    char mod[1024], lbuf[16], ex_num[256] = "", ex_mid[256] = "";
    int lo = -1, hi = -1;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!qt_str_ends_with(t->name, ".weight")) continue;
        qt_match_module(t, mod, sizeof mod);
        size_t end = 0;
        struct qt_mclass cls;
        qt_model_classes(m, t->role, &cls);
        if (!qt_pattern_match(p, mod, &cls, &end)) continue;
        if (trap && t->layer >= 0) {
            snprintf(lbuf, sizeof lbuf, "%d", t->layer);
            if (strlen(lbuf) > dl && !strncmp(lbuf, digits, dl)) {
                if (il_push(&num, i)) return qt_err_set(err, "out of memory");
                if (lo < 0 || t->layer < lo) lo = t->layer;
                if (t->layer > hi) hi = t->layer;
                continue;
            }
        }
        if (end > 0 && end < strlen(mod) && is_word(mod[end - 1]) && is_word(mod[end])) {
            if (il_push(&mid, i)) return qt_err_set(err, "out of memory");
            if (!ex_mid[0]) snprintf(ex_mid, sizeof ex_mid, "%.255s", mod);
        }
    }
    (void)ex_num;
    int rc = QT_OK;
    if (num.n)
        rc = add(L, "QT003", QT_SEV_WARNING, &num, err,
                 "%s '%s' also matches layers %d..%d (the '.' after %s matches a digit; write '\\.')",
                 where, p->text, lo, hi, digits);
    if (!rc && mid.n)
        rc = add(L, "QT003", QT_SEV_WARNING, &mid, err,
                 "%s '%s' matches %d module(s) by a prefix of a name part, e.g. %s "
                 "(re.match does not anchor the end; add '$' or '\\.')",
                 where, p->text, mid.n, ex_mid);
    free(num.v);
    free(mid.v);
    return rc;
}

static int allowed_group(int g) { return g == -1 || g == 32 || g == 64 || g == 128; }

/* Role split by tensor parallelism as vLLM shards it (the role table's tp
 * column): 1 column-parallel (output rows split), 2 row-parallel (input
 * columns split), 0 replicated or padded (lm_head and embeddings are
 * vocab-parallel: vLLM pads the vocabulary).  Routed experts are split along
 * the expert width (no expert parallelism assumed). */
static int tp_kind(enum qt_role r) {
    enum qt_tp_split k = qt_role_traits(r)->tp;
    return k == QT_TP_COLUMN ? 1 : k == QT_TP_ROW ? 2 : 0;
}

/* Group size of a scheme in the QT005 sense: -1 channel, 0 n/a. */
static int group_of(const struct qt_scheme *s) {
    if (s->strategy == QT_STRAT_CHANNEL) return -1;
    if (s->strategy == QT_STRAT_GROUP) return s->group;
    return 0;
}

/* ---- what vLLM's compressed-tensors loader refuses (QT011..QT016) ----
 * Each rule restates one refusal of vLLM's loader
 * (model_executor/layers/quantization/compressed_tensors/: the scheme
 * dispatch, CompressedTensorsWNA16, the MoE method selection, the Marlin
 * shape checks, the kv-cache validator) so that a recipe is refused here,
 * in seconds, not after hours of quantization. */

/* Why vLLM has no kernel for int weights of scheme s, or NULL when it has
 * one: weight-only int (WNA16, dense and MoE) serves 4 and 8 bits; with int8
 * per-token activations vLLM runs 8-bit weights (W8A8, per channel or per
 * tensor) and 4-bit group weights (W4A8). */
static const char *int_bits_refusal(const struct qt_scheme *s) {
    /* nvfp4 weights: NVFP4 (W4A4) or NVFP4A16; MoE says so, dense Linears
     * find no compressed-tensors scheme for anything else */
    if (s->kind == QT_SCHEME_NVFP4)
        return s->act == QT_ACT_NONE || s->act == QT_ACT_NVFP4
                   ? NULL
                   : "vLLM serves nvfp4 weights with nvfp4 activations or none (\"For NVFP4 weights, input "
                     "quantization must also be NVFP4 format or None\")";
    if (s->kind != QT_SCHEME_INT) return NULL;
    if (s->act == QT_ACT_NONE)
        return s->bits == 4 || s->bits == 8 ? NULL : "vLLM's WNA16 kernels serve 4 and 8 bits only";
    if (s->act == QT_ACT_INT8_TOK) {
        if (s->bits == 8 && s->sym && (s->strategy == QT_STRAT_CHANNEL || s->strategy == QT_STRAT_TENSOR)) return NULL;
        if (s->bits == 4 && s->sym && s->strategy == QT_STRAT_GROUP) return NULL;
        return "with int8 activations vLLM serves symmetric 8-bit weights per channel or tensor (W8A8) "
               "or symmetric 4-bit group weights (W4A8)";
    }
    if (s->act == QT_ACT_INT8_TENSOR) {
        if (s->bits == 8 && s->sym && (s->strategy == QT_STRAT_CHANNEL || s->strategy == QT_STRAT_TENSOR)) return NULL;
        return "with static int8 activations vLLM serves symmetric 8-bit weights per channel or tensor only";
    }
    return "vLLM has no kernel for int weights with these activations";
}

static int is_expert(enum qt_role r) { return qt_role_has(r, QT_RF_EXPERT); }

/* QT011 (bits vLLM serves), QT012 (asymmetric MoE), QT016 (activation
 * order without group strategy): one finding per config group. */
static int lint_schemes(struct qt_lint *L, const struct qt_recipe *r, const struct qt_model *m,
                        const struct qt_resolution *res, qt_err *err) {
    for (int g = 0; g < r->n_groups; g++) {
        const struct qt_rgroup *G = &r->groups[g];
        struct ilist all = {0}, moe = {0};
        for (int i = 0; i < m->n_tensors; i++) {
            if (res->t[i].group != g || !res->t[i].quantized) continue;
            if (il_push(&all, i)) return qt_err_set(err, "out of memory");
            if (is_expert(m->tensors[i].role) && il_push(&moe, i)) return qt_err_set(err, "out of memory");
        }
        int rc = QT_OK;
        const char *why = int_bits_refusal(&G->s);
        if (all.n && why) {
            struct ilist copy = {0};
            for (int k = 0; k < all.n && !rc; k++) rc = il_push(&copy, all.v[k]);
            if (rc || (rc = add(L, "QT011", QT_SEV_ERROR, &copy, err,
                                "group '%s': %s: %s (%d tensor(s))", G->name, G->scheme, why, all.n)))
                { free(copy.v); goto out; }
        }
        if (moe.n && G->s.act == QT_ACT_INT8_TENSOR) {
            if ((rc = add(L, "QT011", QT_SEV_ERROR, &moe, err,
                          "group '%s': %s on routed experts: vLLM's int8 fused MoE takes per-channel weights with "
                          "dynamic per-token activations only (\"Found static input scales\")", G->name, G->scheme)))
                goto out;
            moe.n = 0;
        }
        if (moe.n && G->s.kind == QT_SCHEME_INT && !G->s.sym) {
            if ((rc = add(L, "QT012", QT_SEV_ERROR, &moe, err,
                          "group '%s': %s on routed experts: vLLM's fused MoE kernels take symmetric int "
                          "weights only (\"Only symmetric quantization is supported for MoE\")",
                          G->name, G->scheme)))
                goto out;
        }
        if (all.n && G->actorder[0] && strcmp(G->actorder, "none") && G->s.strategy != QT_STRAT_GROUP) {
            rc = add(L, "QT016", QT_SEV_ERROR, &all, err,
                     "group '%s': actorder %s needs the group strategy (compressed-tensors: \"Must use group "
                     "quantization strategy in order to apply activation ordering\")", G->name, G->actorder);
            if (rc) goto out;
        }
    out:
        free(all.v);
        free(moe.v);
        if (rc) return rc;
    }
    return QT_OK;
}

/* Rows a column-parallel module keeps per GPU under tensor parallelism tp:
 * K and V are replicated when there are fewer KV heads than GPUs. */
static int64_t rows_per_gpu(const struct qt_model *m, const struct qt_tensor *t, int tp) {
    int64_t rows = qt_tensor_rows(t);
    if ((t->role == QT_ROLE_ATTN_K || t->role == QT_ROLE_ATTN_V) && m->cfg.n_kv_heads > 0 && tp > m->cfg.n_kv_heads)
        return rows / m->cfg.n_kv_heads;
    return rows / tp;
}

/* QT014: vLLM runs dense WNA16 Linears with Marlin, which needs the output
 * rows per GPU of the (fused) layer divisible by 64 and its input columns
 * per GPU divisible by 128 (verify_marlin_supports_shape).  Routed experts
 * are not Linears (QT013). */
static int lint_marlin_dense(struct qt_lint *L, const struct qt_model *m, const struct qt_resolution *res,
                             int tp, qt_err *err) {
    struct ilist bad = {0};
    int ex = -1;
    long long ex_n = 0, ex_k = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_resolved *o = &res->t[i];
        const struct qt_tensor *t = &m->tensors[i];
        if (!o->quantized || !o->s || o->s->kind != QT_SCHEME_INT || o->s->act != QT_ACT_NONE) continue;
        if (is_expert(t->role)) continue;
        int kind = tp_kind(t->role);
        int64_t n = kind == 1 ? rows_per_gpu(m, t, tp) : qt_tensor_rows(t);
        int64_t k = kind == 2 ? qt_tensor_cols(t) / tp : qt_tensor_cols(t);
        if (t->group >= 0 && m->groups[t->group].kind != QT_GROUP_EXPERTS) {
            /* a fused layer (qkv_proj, gate_up_proj): Marlin sees the sum */
            const struct qt_group *G = &m->groups[t->group];
            n = 0;
            for (int j = 0; j < G->n_members; j++) n += rows_per_gpu(m, &m->tensors[G->members[j]], tp);
        }
        if (n % 64 == 0 && k % 128 == 0) continue;
        if (il_push(&bad, i)) return qt_err_set(err, "out of memory");
        if (ex < 0) { ex = i; ex_n = (long long)n; ex_k = (long long)k; }
    }
    if (!bad.n) return QT_OK;
    return add(L, "QT014", QT_SEV_ERROR, &bad, err,
               "%d int weight-only tensor(s) have a shape vLLM's Marlin kernel refuses at --tp %d, e.g. %s: "
               "%lld output rows per GPU (need a multiple of 64), %lld input columns per GPU (need a "
               "multiple of 128); keep them in BF16 or use another scheme",
               bad.n, tp, m->tensors[ex].name, ex_n, ex_k);
}

/* QT013: the fused MoE layer of a layer whose experts take int weight-only
 * quantization.  vLLM prefers Marlin MoE, which needs hidden % 128 == 0 and
 * the expert width per GPU divisible by max(64, group); otherwise it falls
 * back to the Triton WNA16 MoE kernel, which refuses channel-wise scales
 * and activation order group/dynamic.  Under expert parallelism (ep) the
 * experts are whole on each GPU. */
static int lint_moe_kernel(struct qt_lint *L, const struct qt_model *m, const struct qt_resolution *res,
                           int tp, int ep, qt_err *err) {
    for (int g = 0; g < m->n_groups; g++) {
        const struct qt_group *G = &m->groups[g];
        if (G->kind != QT_GROUP_EXPERTS || !G->n_members) continue;
        const struct qt_resolved *o = &res->t[G->members[0]];
        if (!o->quantized || !o->s || o->s->kind != QT_SCHEME_INT || o->s->act != QT_ACT_NONE) continue;
        int64_t hidden = m->cfg.hidden, inter = m->cfg.moe_intermediate;
        for (int k = 0; k < G->n_members; k++)
            if (m->tensors[G->members[k]].role == QT_ROLE_EXPERT_DOWN) {
                inter = qt_tensor_cols(&m->tensors[G->members[k]]);
                hidden = qt_tensor_rows(&m->tensors[G->members[k]]);
                break;
            }
        int64_t per = ep ? inter : inter / (tp > 0 ? tp : 1);
        int gs = group_of(o->s);
        int64_t need = gs > 64 ? gs : 64;
        if (hidden % 128 == 0 && per % need == 0) continue;
        const char *why = NULL;
        if (o->s->strategy != QT_STRAT_GROUP) why = "channel-wise scales";
        else if (o->actorder && (!strcmp(o->actorder, "group") || !strcmp(o->actorder, "dynamic")))
            why = "actorder group/dynamic";
        if (!why) continue;
        struct ilist tl = {0};
        for (int k = 0; k < G->n_members; k++)
            if (il_push(&tl, G->members[k])) return qt_err_set(err, "out of memory");
        int rc = add(L, "QT013", QT_SEV_ERROR, &tl, err,
                     "routed experts of layer %d: hidden %lld and expert width %lld per GPU do not fit the "
                     "Marlin MoE kernel (hidden %% 128, width %% %lld), and the Triton WNA16 MoE kernel vLLM "
                     "falls back to refuses %s",
                     G->layer, (long long)hidden, (long long)per, (long long)need, why);
        if (rc) return rc;
    }
    return QT_OK;
}

/* QT015: vLLM's compressed-tensors kv cache is fp8 (num_bits 8, type
 * float), one symmetric scale per tensor (validate_kv_cache_scheme). */
static int lint_kv(struct qt_lint *L, const struct qt_recipe *r, qt_err *err) {
    for (int i = 0; i < r->n_mods; i++) {
        const struct qt_modifier *M = &r->mods[i];
        if (!M->kv_bits) continue;
        const char *why = NULL;
        if (M->kv_bits != 8 || strcmp(M->kv_type, "float")) why = "vLLM supports num_bits 8, type float only";
        else if (M->kv_strategy[0] && strcmp(M->kv_strategy, "tensor")) why = "vLLM supports one scale per tensor only (strategy: tensor)";
        else if (!M->kv_sym) why = "vLLM supports symmetric scales only";
        if (!why) continue;
        int rc = add(L, "QT015", QT_SEV_ERROR, NULL, err,
                     "kv_cache_scheme of %s (num_bits %d, type %s, strategy %s%s): %s",
                     M->type, M->kv_bits, M->kv_type, M->kv_strategy[0] ? M->kv_strategy : "tensor",
                     M->kv_sym ? "" : ", asymmetric", why);
        if (rc) return rc;
    }
    return QT_OK;
}

/* QT006 for one tensor under s: 0 fine, 1 the group does not divide the
 * input dimension, 2 the tensor-parallel split (tp > 1) leaves a shard that
 * does not take the scheme. */
static int split_bad(const struct qt_model *m, const struct qt_tensor *t, const struct qt_scheme *s, int tp) {
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    int gs = group_of(s);
    if (gs > 0 && cols % gs) return 1;
    if (tp <= 1) return 0;
    int kind = tp_kind(t->role), bad = 0;
    if (kind == 1) {
        int replicated_kv = (t->role == QT_ROLE_ATTN_K || t->role == QT_ROLE_ATTN_V) &&
                            m->cfg.n_kv_heads > 0 && tp > m->cfg.n_kv_heads;
        if (!replicated_kv) {
            if (rows % tp) bad = 1;
            else if (s->kind == QT_SCHEME_INT && !s->sym && (rows / tp) % (32 / s->bits))
                bad = 1; /* packed zero points split along the output dimension */
        }
    } else if (kind == 2) {
        if (cols % tp) bad = 1;
        else if (gs > 0 && (cols / tp) % gs) bad = 1;
    }
    return bad ? 2 : 0;
}

int qt_lint_scheme_fits(const struct qt_model *m, int i, const struct qt_scheme *s, int tp) {
    if (qt_scheme_is_kept(s)) return 1;
    if (s->kind == QT_SCHEME_INT && !allowed_group(group_of(s)) && group_of(s) != 0) return 0;
    /* what vLLM's loader refuses per tensor: QT012 asymmetric experts (QT011's
     * bits are the candidates' business: a planner may be asked for int3) */
    if (s->kind == QT_SCHEME_INT && !s->sym && is_expert(m->tensors[i].role)) return 0;
    /* QT014 per tensor: Marlin's input columns per GPU % 128 (and output
     * rows % 64 for a Linear not fused with others) */
    const struct qt_tensor *t = &m->tensors[i];
    if (s->kind == QT_SCHEME_INT && s->act == QT_ACT_NONE && !is_expert(t->role) && qt_role_is_linear(t->role)) {
        int kind = tp_kind(t->role), p = tp > 0 ? tp : 1;
        int64_t k = kind == 2 ? qt_tensor_cols(t) / p : qt_tensor_cols(t);
        int64_t n = kind == 1 ? rows_per_gpu(m, t, p) : qt_tensor_rows(t);
        if (k % 128) return 0;
        if (t->group < 0 && n % 64) return 0;
    }
    return split_bad(m, &m->tensors[i], s, tp) == 0;
}

int qt_lint_run(const struct qt_recipe *r, const struct qt_model *m, const struct qt_resolution *res,
                const struct qt_lint_opts *opts, struct qt_lint *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    int tp = opts && opts->tp > 0 ? opts->tp : 1;
    int ep = opts && opts->ep;
    struct qt_lint *L = out;
    int rc = QT_OK;
    if (res->n != m->n_tensors) return qt_err_set(err, "lint: resolution does not belong to this model");

    /* QT001, QT002 */
    if ((rc = lint_fused(L, m, res, err))) goto fail;

    /* QT003 */
    for (int g = 0; g < r->n_groups && !rc; g++)
        for (int k = 0; k < r->groups[g].n_targets && !rc; k++)
            rc = lint_broad(L, m, &r->groups[g].targets[k], "target", err);
    for (int i = 0; i < r->n_mods && !rc; i++)
        for (int k = 0; k < r->mods[i].n_ignore && !rc; k++)
            rc = lint_broad(L, m, &r->mods[i].ignore[k], "ignore", err);
    if (rc) goto fail;

    /* QT004, QT007, QT009 — one finding each */
    struct ilist router = {0}, mtp = {0}, head = {0};
    int mtp_bits = 99;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_resolved *o = &res->t[i];
        const struct qt_tensor *t = &m->tensors[i];
        if (o->named && t->role == QT_ROLE_ROUTER && il_push(&router, i)) goto oom;
        if (!o->quantized) continue;
        if (t->mtp && o->s && o->s->bits < 8) {
            if (il_push(&mtp, i)) goto oom;
            if (o->s->bits < mtp_bits) mtp_bits = o->s->bits;
        }
        if ((t->role == QT_ROLE_LM_HEAD || t->role == QT_ROLE_EMBED || t->role == QT_ROLE_MTP_EMBED) &&
            il_push(&head, i))
            goto oom;
    }
    if (router.n && (rc = add(L, "QT004", QT_SEV_ERROR, &router, err,
                              "router quantized in %d layer(s) by the recipe's targets, which compressed-tensors "
                              "never does: vLLM's MoE models build the gate unquantized (bf16 weight, fp32 "
                              "logits), so qtune keeps it bf16; add "
                              "'re:.*mlp\\.gate$' to ignore", router.n)))
        goto fail;
    free(router.v);

    /* QT005: per config group that quantizes something */
    for (int g = 0; g < r->n_groups; g++) {
        const struct qt_rgroup *G = &r->groups[g];
        if (G->s.kind != QT_SCHEME_INT) continue;
        int gs = group_of(&G->s);
        if (!gs || allowed_group(gs)) continue;
        struct ilist tl = {0};
        for (int i = 0; i < m->n_tensors; i++)
            if (res->t[i].group == g && il_push(&tl, i)) goto oom;
        if ((rc = add(L, "QT005", QT_SEV_ERROR, &tl, err,
                      "group '%s': int group size %d has no Marlin kernel (use 32, 64, 128 or channel)",
                      G->name, gs)))
            goto fail;
    }

    /* QT006 */
    {
        struct ilist ng = {0}, ntp = {0};
        int ex_g = -1, ex_tp = -1, gsz = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_resolved *o = &res->t[i];
            const struct qt_tensor *t = &m->tensors[i];
            if (!o->quantized || !o->s) continue;
            /* expert parallelism: each GPU holds whole experts, unsplit */
            int bad = split_bad(m, t, o->s, ep && is_expert(t->role) ? 1 : tp);
            if (bad == 1) {
                if (il_push(&ng, i)) goto oom;
                if (ex_g < 0) { ex_g = i; gsz = group_of(o->s); }
                continue;
            }
            if (bad) {
                if (il_push(&ntp, i)) goto oom;
                if (ex_tp < 0) ex_tp = i;
            }
        }
        if (ng.n) {
            const struct qt_tensor *t = &m->tensors[ex_g];
            if ((rc = add(L, "QT006", QT_SEV_ERROR, &ng, err,
                          "%d tensor(s) have an input dimension not divisible by group size %d, e.g. %s [%lld, %lld]: "
                          "qtune and compressed-tensors quantize the partial last group, but vLLM's kernels "
                          "need K divisible by the group",
                          ng.n, gsz, t->name, (long long)t->shape[0], (long long)qt_tensor_cols(t))))
                goto fail;
        }
        if (ntp.n) {
            const struct qt_tensor *t = &m->tensors[ex_tp];
            const struct qt_resolved *o = &res->t[ex_tp];
            int gs = group_of(o->s);
            if ((rc = add(L, "QT006", QT_SEV_ERROR, &ntp, err,
                          "%d tensor(s) do not split over --tp %d, e.g. %s [%lld, %lld] (%s-parallel%s%s)",
                          ntp.n, tp, t->name, (long long)t->shape[0], (long long)qt_tensor_cols(t),
                          tp_kind(t->role) == 1 ? "column" : "row",
                          gs > 0 && tp_kind(t->role) == 2 ? ", shard not a multiple of the group size " : "",
                          gs > 0 && tp_kind(t->role) == 2 ? o->group >= 0 ? r->groups[o->group].scheme : "" : "")))
                goto fail;
        }
    }

    if (mtp.n && (rc = add(L, "QT007", QT_SEV_WARNING, &mtp, err,
                           "MTP layer quantized to %d bits: speculative-decoding acceptance collapses below 8 bits; "
                           "keep it in BF16 or use 8 bits", mtp_bits)))
        goto fail;
    free(mtp.v);
    mtp.v = NULL;

    /* QT011..QT016: what vLLM's loader refuses */
    if ((rc = lint_schemes(L, r, m, res, err)) || (rc = lint_marlin_dense(L, m, res, tp, err)) ||
        (rc = lint_moe_kernel(L, m, res, tp, ep, err)) || (rc = lint_kv(L, r, err)))
        goto fail;

    /* QT017: SparseGPT's zeros buy nothing when served */
    {
        struct ilist sp = {0};
        const char *mask = "";
        for (int i = 0; i < m->n_tensors; i++)
            if (res->t[i].sparse) {
                if (il_push(&sp, i)) goto oom;
                if (res->t[i].sparse_mod >= 0 && r->mods[res->t[i].sparse_mod].mask[0])
                    mask = r->mods[res->t[i].sparse_mod].mask;
            }
        if (sp.n && (rc = add(L, "QT017", QT_SEV_WARNING, &sp, err,
                              "SparseGPT prunes %d module(s)%s%s: vLLM has no sparse kernels (2:4 support was "
                              "removed, compressed-tensors dropped its sparse formats), so qtune writes the weights "
                              "dense with zeros in place: no speed-up and no memory saved when served, only the "
                              "quality loss", sp.n, mask[0] ? " to " : "", mask))) {
            free(sp.v);
            goto fail;
        }
        free(sp.v);
    }

    /* QT008 */
    for (int g = 0; g < r->n_groups; g++)
        for (int k = 0; k < r->groups[g].n_targets; k++)
            if (!r->groups[g].target_hits[k] &&
                (rc = add(L, "QT008", QT_SEV_WARNING, NULL, err, "target '%s' of group '%s' matches nothing",
                          r->groups[g].targets[k].text, r->groups[g].name)))
                goto fail;
    for (int i = 0; i < r->n_mods; i++)
        for (int k = 0; k < r->mods[i].n_ignore; k++)
            if (!r->mods[i].ignore_hits[k] &&
                (rc = add(L, "QT008", QT_SEV_WARNING, NULL, err, "ignore '%s' of %s matches nothing",
                          r->mods[i].ignore[k].text, r->mods[i].type)))
                goto fail;

    if (head.n && (rc = add(L, "QT009", QT_SEV_WARNING, &head, err,
                            "lm_head or embeddings quantized (%d tensor(s)): large quality loss for little "
                            "memory; add 'lm_head' / 're:.*embed_tokens' to ignore", head.n)))
        goto fail;
    free(head.v);
    head.v = NULL;

    /* QT010: per pair of groups */
    {
        int ng = r->n_groups;
        for (int a = 0; a < ng; a++)
            for (int b = 0; b < ng; b++) {
                struct ilist tl = {0};
                enum qt_match_kind how = QT_MATCH_NONE;
                for (int i = 0; i < m->n_tensors; i++)
                    if (res->t[i].quantized && res->t[i].ambiguous_group == a && res->t[i].group == b) {
                        if (il_push(&tl, i)) goto oom;
                        how = res->t[i].how;
                    }
                if (!tl.n) continue;
                const char *kind = how == QT_MATCH_REGEX ? "regexes" : how == QT_MATCH_EXACT ? "exact names" : "class names";
                const char *ex = m->tensors[tl.v[0]].name;
                if ((rc = add(L, "QT010", QT_SEV_WARNING, &tl, err,
                              "groups '%s' and '%s' both match %d module(s) by %s (e.g. %s); '%s' wins only because "
                              "compressed-tensors takes the first target in sorted order",
                              r->groups[a].name, r->groups[b].name, tl.n, kind, ex, r->groups[b].name)))
                    goto fail;
            }
    }
    /* stable order by code */
    for (int i = 1; i < L->n; i++)
        for (int j = i; j > 0 && strcmp(L->f[j - 1].code, L->f[j].code) > 0; j--) {
            struct qt_finding tmp = L->f[j];
            L->f[j] = L->f[j - 1];
            L->f[j - 1] = tmp;
        }
    return QT_OK;
oom:
    rc = qt_err_set(err, "out of memory");
fail:
    qt_lint_free(out);
    return rc;
}
