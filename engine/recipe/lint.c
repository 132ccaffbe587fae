/* lint.c — QT001..QT010 over a resolved recipe. */
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
        size_t len = strlen(t->name);
        if (len < 7 || strcmp(t->name + len - 7, ".weight")) continue;
        qt_match_module(t, mod, sizeof mod);
        size_t end = 0;
        if (!qt_pattern_match(p, mod, t->role, &end)) continue;
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

/* Role split by tensor parallelism as vLLM shards it: 1 column-parallel
 * (output rows split), 2 row-parallel (input columns split), 0 replicated or
 * padded.  Routed experts are split along the expert width (no expert
 * parallelism assumed). */
static int tp_kind(enum qt_role r) {
    switch (r) {
    case QT_ROLE_ATTN_Q: case QT_ROLE_ATTN_K: case QT_ROLE_ATTN_V:
    case QT_ROLE_MLP_GATE: case QT_ROLE_MLP_UP: case QT_ROLE_SHARED_GATE: case QT_ROLE_SHARED_UP:
    case QT_ROLE_EXPERT_GATE: case QT_ROLE_EXPERT_UP: case QT_ROLE_ATTN_Q_B: case QT_ROLE_ATTN_KV_B:
        return 1;
    /* lm_head and embeddings are vocab-parallel: vLLM pads the vocabulary */
    case QT_ROLE_ATTN_O: case QT_ROLE_MLP_DOWN: case QT_ROLE_SHARED_DOWN: case QT_ROLE_EXPERT_DOWN:
        return 2;
    default:
        return 0;
    }
}

/* Group size of a scheme in the QT005 sense: -1 channel, 0 n/a. */
static int group_of(const struct qt_scheme *s) {
    if (s->strategy == QT_STRAT_CHANNEL) return -1;
    if (s->strategy == QT_STRAT_GROUP) return s->group;
    return 0;
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
    return split_bad(m, &m->tensors[i], s, tp) == 0;
}

int qt_lint_run(const struct qt_recipe *r, const struct qt_model *m, const struct qt_resolution *res,
                const struct qt_lint_opts *opts, struct qt_lint *out, qt_err *err) {
    memset(out, 0, sizeof *out);
    int tp = opts && opts->tp > 0 ? opts->tp : 1;
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
        if (!o->quantized) continue;
        if (t->role == QT_ROLE_ROUTER && il_push(&router, i)) goto oom;
        if (t->mtp && o->s && o->s->bits < 8) {
            if (il_push(&mtp, i)) goto oom;
            if (o->s->bits < mtp_bits) mtp_bits = o->s->bits;
        }
        if ((t->role == QT_ROLE_LM_HEAD || t->role == QT_ROLE_EMBED || t->role == QT_ROLE_MTP_EMBED) &&
            il_push(&head, i))
            goto oom;
    }
    if (router.n && (rc = add(L, "QT004", QT_SEV_WARNING, &router, err,
                              "router quantized in %d layer(s): expert selection becomes noisy, and vLLM's MoE "
                              "models build the gate unquantized; add 're:.*mlp\\.gate$' to ignore", router.n)))
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
            int bad = split_bad(m, t, o->s, tp);
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
                          "%d tensor(s) have an input dimension not divisible by group size %d, e.g. %s [%lld, %lld]",
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
