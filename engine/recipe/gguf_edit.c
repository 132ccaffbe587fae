/* gguf_edit.c — edit intents on a recipe's qtune_gguf section (gguf_edit.h). */
#include "recipe/gguf_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "quant/ggml_quants.h"

int qt_gguf_recipe_on(const struct qt_recipe *r) {
    const struct qt_yaml *g = r ? qt_yaml_get(r->root, "qtune_gguf") : NULL;
    return g && g->kind == QT_YAML_MAP;
}

int *qt_gguf_plan_map(const struct qt_gguf_plan *p, int n_tensors) {
    int *map = malloc(sizeof(int) * (size_t)(n_tensors + 1));
    if (!map) return NULL;
    for (int i = 0; i < n_tensors; i++) map[i] = -1;
    for (int k = 0; k < p->n; k++)
        for (int e = 0; e < p->t[k].n_src; e++)
            if (p->t[k].src[e] >= 0 && p->t[k].src[e] < n_tensors) map[p->t[k].src[e]] = k;
    return map;
}

/* ---- type steps */

/* bits- walks down this ladder, bits+ up it */
static const int ladder[] = {QT_GGML_BF16, QT_GGML_Q8_0, QT_GGML_Q6_K, QT_GGML_Q5_K,
                             QT_GGML_Q4_K, QT_GGML_IQ4_XS, QT_GGML_Q3_K, QT_GGML_Q2_K};
#define N_LADDER ((int)(sizeof ladder / sizeof ladder[0]))

/* t cycles within a width; -1 ends a family */
static const int families[] = {QT_GGML_Q4_K, QT_GGML_Q4_0, QT_GGML_Q4_1, QT_GGML_IQ4_NL, QT_GGML_IQ4_XS, -1,
                               QT_GGML_Q5_K, QT_GGML_Q5_0, QT_GGML_Q5_1, -1,
                               QT_GGML_BF16, QT_GGML_F16, QT_GGML_F32, -1};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

static double type_bpw(int t) { return t == QT_GGML_F32 ? 32.0 : qt_ggml_bpw(t); }

int qt_gguf_type_step(int cur, enum qt_edit_action act, char *why, size_t wn) {
    const char *name = qt_ggml_type_name(cur);
    if (act == QT_EDIT_BITS_DOWN || act == QT_EDIT_BITS_UP) {
        int at = -1;
        for (int i = 0; i < N_LADDER; i++)
            if (ladder[i] == cur) at = i;
        if (act == QT_EDIT_BITS_DOWN) {
            if (at >= 0 && at + 1 < N_LADDER) return ladder[at + 1];
            for (int i = 0; at < 0 && i < N_LADDER; i++)
                if (type_bpw(ladder[i]) < type_bpw(cur)) return ladder[i];
            snprintf(why, wn, "%s: no fewer bits (the smallest GGUF type qtune writes)", name);
            return -1;
        }
        if (at > 0) return ladder[at - 1];
        for (int i = N_LADDER - 1; at < 0 && i >= 0; i--)
            if (type_bpw(ladder[i]) > type_bpw(cur)) return ladder[i];
        snprintf(why, wn, "%s: no more bits (kept as the source holds it)", name);
        return -1;
    }
    if (act == QT_EDIT_TYPE) {
        for (int i = 0; i < N_FAMILIES; i++) {
            if (families[i] != cur) continue;
            int j = i + 1;
            if (families[j] < 0) {   /* wrap to the family's first */
                j = i;
                while (j > 0 && families[j - 1] >= 0) j--;
            }
            return families[j];
        }
        snprintf(why, wn, "%s: no other GGUF type of that width (+/- change the bits)", name);
        return -1;
    }
    snprintf(why, wn, "GGUF types have fixed blocks: no group size or symmetry to change (t: the type, +/-: bits)");
    return -1;
}

/* the root's steps: file types */
static const char *const ft_ladder[] = {"BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "Q2_K"};
#define N_FT_LADDER ((int)(sizeof ft_ladder / sizeof ft_ladder[0]))
/* F (ftype without a name) cycles the presets, the common ones first */
static const char *const ft_cycle[] = {"Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "IQ4_XS", "Q4_K_S", "Q5_K_S",
                                       "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_NL", "Q4_0", "Q4_1",
                                       "Q5_0", "Q5_1", "BF16", "F16", "F32"};
#define N_FT_CYCLE ((int)(sizeof ft_cycle / sizeof ft_cycle[0]))

static const struct qt_gguf_ftype *ftype_step(const struct qt_gguf_ftype *cur, enum qt_edit_action act, char *why,
                                              size_t wn) {
    if (act == QT_EDIT_FTYPE || act == QT_EDIT_TYPE) {
        int at = -1;
        for (int i = 0; cur && i < N_FT_CYCLE; i++)
            if (!strcmp(ft_cycle[i], cur->name)) at = i;
        return qt_gguf_ftype_find(ft_cycle[(at + 1) % N_FT_CYCLE]);
    }
    double b = cur ? type_bpw(cur->base) : 16.0;
    int at = -1;
    for (int i = 0; cur && i < N_FT_LADDER; i++)
        if (!strcmp(ft_ladder[i], cur->name)) at = i;
    if (act == QT_EDIT_BITS_DOWN) {
        if (at >= 0 && at + 1 < N_FT_LADDER) return qt_gguf_ftype_find(ft_ladder[at + 1]);
        for (int i = 0; at < 0 && i < N_FT_LADDER; i++)
            if (type_bpw(qt_gguf_ftype_find(ft_ladder[i])->base) < b) return qt_gguf_ftype_find(ft_ladder[i]);
        snprintf(why, wn, "%s: no smaller file type", cur ? cur->name : "BF16");
        return NULL;
    }
    if (act == QT_EDIT_BITS_UP) {
        if (at > 0) return qt_gguf_ftype_find(ft_ladder[at - 1]);
        for (int i = N_FT_LADDER - 1; at < 0 && i >= 0; i--)
            if (type_bpw(qt_gguf_ftype_find(ft_ladder[i])->base) > b) return qt_gguf_ftype_find(ft_ladder[i]);
        snprintf(why, wn, "%s: no larger file type", cur ? cur->name : "BF16");
        return NULL;
    }
    snprintf(why, wn, "GGUF file types have fixed blocks: no group size or symmetry to change");
    return NULL;
}

/* ---- node patterns */

static int quantizable_in(const struct qt_gguf_plan *p, int k, const unsigned char *in) {
    return p->t[k].quantizable && in[k];
}

/* appends s regex-escaped */
static int put_esc(char *out, size_t n, size_t *at, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        int special = strchr(".^$|()[]{}*+?\\", s[i]) != NULL;
        if (*at + 3 >= n) return -1;
        if (special) out[(*at)++] = '\\';
        out[(*at)++] = s[i];
    }
    out[*at] = 0;
    return 0;
}

static int put_raw(char *out, size_t n, size_t *at, const char *s) {
    size_t l = strlen(s);
    if (*at + l + 1 >= n) return -1;
    memcpy(out + *at, s, l + 1);
    *at += l;
    return 0;
}

int qt_gguf_node_pattern(const struct qt_gguf_plan *p, const unsigned char *in, char *out, size_t n) {
    int first = -1, cnt = 0;
    size_t lcp = 0, lcs = 0, minlen = 0;
    for (int k = 0; k < p->n; k++) {
        if (!quantizable_in(p, k, in)) continue;
        const char *s = p->t[k].name;
        size_t l = strlen(s);
        if (first < 0) {
            first = k, lcp = lcs = minlen = l;
        } else {
            const char *f = p->t[first].name;
            size_t fl = strlen(f), i = 0;
            while (i < lcp && s[i] == f[i]) i++;
            lcp = i;
            i = 0;
            while (i < lcs && i < l && s[l - 1 - i] == f[fl - 1 - i]) i++;
            lcs = i;
            if (l < minlen) minlen = l;
        }
        cnt++;
    }
    if (first < 0) return -1;
    const char *f = p->t[first].name;
    size_t at = 0;
    out[0] = 0;
    if (cnt == 1) {
        if (put_raw(out, n, &at, "^") || put_esc(out, n, &at, f, strlen(f)) || put_raw(out, n, &at, "$")) return -1;
        return 0;
    }
    /* the prefix alone, when it names exactly the set */
    int exact = lcp > 0;
    for (int k = 0; exact && k < p->n; k++)
        if (p->t[k].quantizable && !in[k] && !strncmp(p->t[k].name, f, lcp)) exact = 0;
    if (exact) return put_raw(out, n, &at, "^") || put_esc(out, n, &at, f, lcp) ? -1 : 0;
    if (lcs > minlen - lcp) lcs = minlen - lcp;
    if (put_raw(out, n, &at, "^") || put_esc(out, n, &at, f, lcp) || put_raw(out, n, &at, "(")) return -1;
    int j = 0;
    for (int k = 0; k < p->n; k++) {
        if (!quantizable_in(p, k, in)) continue;
        const char *s = p->t[k].name;
        size_t l = strlen(s);
        if ((j++ && put_raw(out, n, &at, "|")) || put_esc(out, n, &at, s + lcp, l - lcp - lcs)) return -1;
    }
    if (put_raw(out, n, &at, ")") || put_esc(out, n, &at, f + strlen(f) - lcs, lcs) || put_raw(out, n, &at, "$"))
        return -1;
    return 0;
}

/* ---- the section */

static struct qt_yaml *section(struct qt_recipe *r, int create) {
    struct qt_yaml *g = qt_yaml_get(r->root, "qtune_gguf");
    if (g && g->kind == QT_YAML_MAP) return g;
    if (!create) return NULL;
    g = qt_yaml_map(0);
    if (!g || qt_yaml_set(r->root, "qtune_gguf", g)) return NULL;
    return g;
}

static int set_str(struct qt_yaml *m, const char *key, const char *v, qt_err *err) {
    struct qt_yaml *s = qt_yaml_scalar(v);
    if (!s || qt_yaml_set(m, key, s)) return qt_err_set(err, "edit: out of memory");
    return QT_OK;
}

/* The tensor_types list of g as a sequence (a mapping is rewritten as the
 * list it means), created when absent. */
static struct qt_yaml *types_seq(struct qt_yaml *g, qt_err *err) {
    struct qt_yaml *v = qt_yaml_get(g, "tensor_types");
    if (v && v->kind == QT_YAML_SEQ) return v;
    struct qt_yaml *seq = qt_yaml_seq(0);
    if (!seq) return qt_err_set(err, "edit: out of memory"), NULL;
    for (int i = 0; v && v->kind == QT_YAML_MAP && i < v->n; i++) {
        char buf[600];
        const char *t = qt_yaml_str(v->items[i]);
        snprintf(buf, sizeof buf, "%s=%s", v->keys[i], t ? t : "");
        struct qt_yaml *s = qt_yaml_scalar(buf);
        if (!s || qt_yaml_push(seq, s)) { qt_yaml_free(seq); return qt_err_set(err, "edit: out of memory"), NULL; }
        s->style = QT_YS_SINGLE;
    }
    if (qt_yaml_set(g, "tensor_types", seq)) return qt_err_set(err, "edit: out of memory"), NULL;
    return seq;
}

/* spec and plan of r's section on m */
static int plan_of(const struct qt_recipe *r, const struct qt_model *m, struct qt_gguf_spec *s,
                   struct qt_gguf_plan *p, qt_err *err) {
    if (qt_gguf_spec_from_yaml(r->root, "recipe", s, err)) return QT_ERR;
    if (qt_gguf_plan_build(m, s, 0, p, err)) { qt_gguf_spec_free(s); return QT_ERR; }
    return QT_OK;
}

static int is_output(const struct qt_gguf_out *o) { return !strcmp(o->name, "output.weight"); }
static int is_embd(const struct qt_gguf_out *o) { return !strcmp(o->name, "token_embd.weight"); }

/* Gives the quantizable plan tensors in[] type T (-1: no entry of their
 * own: the file type's rules decide).  Node entries that name only tensors
 * of in[] go; the new entry goes first, unless the rules already give T. */
static int give_type(struct qt_recipe *r, const struct qt_model *m, const unsigned char *in, int T, qt_err *err) {
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    if (plan_of(r, m, &s, &p, err)) return QT_ERR;
    struct qt_yaml *g = section(r, 1);
    int rc = g ? QT_OK : qt_err_set(err, "edit: out of memory");
    int single = -1, cnt = 0;
    for (int k = 0; k < p.n; k++)
        if (quantizable_in(&p, k, in)) single = k, cnt++;
    const char *key = NULL;
    if (cnt == 1 && is_output(&p.t[single])) key = "output_tensor_type";
    if (cnt == 1 && is_embd(&p.t[single])) key = "token_embedding_type";
    char pat[2048];
    if (rc == QT_OK && !key && qt_gguf_node_pattern(&p, in, pat, sizeof pat))
        rc = qt_err_set(err, "edit: no GGUF tensor pattern for the node");
    /* entries covered by the node's: every tensor they match is in[] */
    struct qt_yaml *seq = rc == QT_OK && (key ? qt_yaml_get(g, "tensor_types") != NULL : 1) ? types_seq(g, err) : NULL;
    if (rc == QT_OK && !key && !seq) rc = QT_ERR;
    if (rc == QT_OK && seq && seq->n == s.n_over) {
        for (int i = s.n_over - 1; i >= 0; i--) {
            int hit = 0, outside = 0;
            for (int k = 0; k < p.n; k++)
                if (p.t[k].quantizable && qt_gguf_override_match(&s.over[i], p.t[k].name)) {
                    hit = 1;
                    if (!in[k]) outside = 1;
                }
            if (hit && !outside) qt_yaml_remove(seq, i);
        }
    }
    if (rc == QT_OK && key) qt_yaml_del(g, key);
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    if (rc != QT_OK || T < 0) goto tidy;
    /* what the rules give without an entry: nothing to write when it is T */
    if (plan_of(r, m, &s, &p, err)) return QT_ERR;
    int same = 1;
    for (int k = 0; k < p.n; k++)
        if (quantizable_in(&p, k, in) && p.t[k].wanted != T) same = 0;
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    if (same) goto tidy;
    if (key) {
        rc = set_str(g, key, qt_ggml_type_name(T), err);
    } else {
        char e[2100];
        snprintf(e, sizeof e, "%s=%s", pat, qt_ggml_type_name(T));
        struct qt_yaml *v = qt_yaml_scalar(e);
        seq = types_seq(g, err);
        if (!v || !seq || qt_yaml_push(seq, v)) {
            qt_yaml_free(v);
            return seq ? qt_err_set(err, "edit: out of memory") : QT_ERR;
        }
        v->style = QT_YS_SINGLE;
        memmove(seq->items + 1, seq->items, sizeof *seq->items * (size_t)(seq->n - 1));   /* first: it wins */
        seq->items[0] = v;
    }
tidy:
    if (rc == QT_OK && g) {
        struct qt_yaml *tt = qt_yaml_get(g, "tensor_types");
        if (tt && tt->kind == QT_YAML_SEQ && !tt->n) qt_yaml_del(g, "tensor_types");
    }
    return rc;
}

static void copy(char *dst, size_t n, const char *src) {
    if (n) snprintf(dst, n, "%s", src);
}

/* the root: the file type, every other entry dropped */
static int root_edit(struct qt_recipe *r, const struct qt_edit *e, struct qt_edit_outcome *o, qt_err *err) {
    struct qt_yaml *g = section(r, 1);
    if (!g) return qt_err_set(err, "edit: out of memory");
    const struct qt_gguf_ftype *cur = qt_gguf_ftype_find(qt_yaml_str(qt_yaml_get(g, "ftype")));
    const struct qt_gguf_ftype *to = NULL;
    if (e->action == QT_EDIT_SET) {
        to = qt_gguf_ftype_find(e->scheme);
        if (!to) return qt_err_set(err, "edit: %s: not a GGUF file type", e->scheme ? e->scheme : "(none)");
    } else if (e->action == QT_EDIT_IGNORE) {
        to = qt_gguf_ftype_find("BF16");
    } else {
        to = ftype_step(cur, e->action, o->why, sizeof o->why);
        if (!to) return QT_OK;
    }
    int others = qt_yaml_get(g, "tensor_types") || qt_yaml_get(g, "output_tensor_type") ||
                 qt_yaml_get(g, "token_embedding_type");
    if (cur == to && !others) {
        snprintf(o->why, sizeof o->why, "already %s", to->name);
        copy(o->scheme, sizeof o->scheme, to->name);
        return QT_OK;
    }
    qt_yaml_del(g, "tensor_types");
    qt_yaml_del(g, "output_tensor_type");
    qt_yaml_del(g, "token_embedding_type");
    if (set_str(g, "ftype", to->name, err)) return QT_ERR;
    copy(o->scheme, sizeof o->scheme, to->name);
    o->changed = 1;
    return QT_OK;
}

/* A model the GGUF writer has names for (glm4moe): else no GGUF target. */
static int gguf_able(const struct qt_model *m, qt_err *err) {
    struct qt_gguf_spec s;
    struct qt_gguf_plan p;
    if (qt_gguf_spec_from_ftype(NULL, &s, err)) return QT_ERR;
    if (qt_gguf_plan_build(m, &s, 0, &p, err)) return qt_err_prefix(err, "edit: no GGUF target for this model");
    qt_gguf_plan_free(&p);
    return QT_OK;
}

int qt_gguf_edit_apply(const struct qt_tree *t, struct qt_recipe *r, const struct qt_model *m,
                       const struct qt_edit *e, struct qt_edit_outcome *o, qt_err *err) {
    memset(o, 0, sizeof *o);
    if ((e->action == QT_EDIT_GGUF || e->action == QT_EDIT_FTYPE) && !qt_gguf_recipe_on(r) && gguf_able(m, err))
        return QT_ERR;
    if (e->action == QT_EDIT_GGUF) {   /* the target: GGUF <-> compressed-tensors */
        if (qt_gguf_recipe_on(r)) {
            qt_yaml_del(r->root, "qtune_gguf");
            copy(o->scheme, sizeof o->scheme, "compressed-tensors");
        } else {
            const struct qt_gguf_ftype *f = qt_gguf_ftype_find(e->scheme ? e->scheme : "Q4_K_M");
            if (!f) return qt_err_set(err, "edit: %s: not a GGUF file type", e->scheme);
            struct qt_yaml *g = section(r, 1);
            if (!g || set_str(g, "ftype", f->name, err)) return qt_err_set(err, "edit: out of memory");
            copy(o->scheme, sizeof o->scheme, f->name);
        }
        o->changed = 1;
        return QT_OK;
    }
    if (e->action == QT_EDIT_FTYPE) {
        struct qt_yaml *g = section(r, 1);
        if (!g) return qt_err_set(err, "edit: out of memory");
        const struct qt_gguf_ftype *cur = qt_gguf_ftype_find(qt_yaml_str(qt_yaml_get(g, "ftype")));
        const struct qt_gguf_ftype *to = e->scheme ? qt_gguf_ftype_find(e->scheme) : ftype_step(cur, QT_EDIT_FTYPE, o->why, sizeof o->why);
        if (!to) return qt_err_set(err, "edit: %s: not a GGUF file type", e->scheme ? e->scheme : "?");
        copy(o->scheme, sizeof o->scheme, to->name);
        if (cur == to) { snprintf(o->why, sizeof o->why, "already %s", to->name); return QT_OK; }
        if (set_str(g, "ftype", to->name, err)) return QT_ERR;
        o->changed = 1;
        return QT_OK;
    }
    if (!qt_gguf_recipe_on(r)) return qt_err_set(err, "edit: the recipe has no qtune_gguf section (a GGUF edit)");
    if (e->action == QT_EDIT_TARGET || e->action == QT_EDIT_IGNORE_PATTERN) {
        if (!e->pattern || !*e->pattern) return qt_err_set(err, "edit: %s needs a pattern", qt_edit_action_name(e->action));
        int T = e->action == QT_EDIT_IGNORE_PATTERN ? QT_GGML_BF16 : qt_ggml_type_parse(e->scheme ? e->scheme : "Q4_K");
        if (T < 0) return qt_err_set(err, "edit: %s: not a GGUF type", e->scheme);
        char buf[1100];
        snprintf(buf, sizeof buf, "%s=%s", e->pattern, qt_ggml_type_name(T));
        struct qt_gguf_spec chk = {0};
        chk.output_type = chk.embd_type = -1;
        int rc = qt_gguf_spec_add_override(&chk, buf, err);
        qt_gguf_spec_free(&chk);
        if (rc) return QT_ERR;
        struct qt_yaml *g = section(r, 1), *seq = g ? types_seq(g, err) : NULL, *v = seq ? qt_yaml_scalar(buf) : NULL;
        if (!v || qt_yaml_push(seq, v)) { qt_yaml_free(v); return qt_err_set(err, "edit: out of memory"); }
        v->style = QT_YS_SINGLE;
        memmove(seq->items + 1, seq->items, sizeof *seq->items * (size_t)(seq->n - 1));
        seq->items[0] = v;
        copy(o->scheme, sizeof o->scheme, qt_ggml_type_name(T));
        o->changed = 1;
        return QT_OK;
    }
    if (e->action == QT_EDIT_GROUP || e->action == QT_EDIT_SYM) {
        qt_gguf_type_step(QT_GGML_Q4_K, e->action, o->why, sizeof o->why);
        return QT_OK;
    }
    for (int k = 0; k < e->n_nodes; k++)
        if (e->nodes[k] < 0 || e->nodes[k] >= t->n) return qt_err_set(err, "edit: node %d: no such node", e->nodes[k]);
    int rc = QT_OK;
    for (int k = 0; k < e->n_nodes && rc == QT_OK; k++) {
        const struct qt_tree_node *nd = &t->nodes[e->nodes[k]];
        if (nd->parent < 0) {   /* the root: the file type */
            struct qt_edit_outcome ro;
            memset(&ro, 0, sizeof ro);
            rc = root_edit(r, e, &ro, err);
            if (ro.changed) o->changed++;
            if (!k) copy(o->scheme, sizeof o->scheme, ro.scheme), copy(o->why, sizeof o->why, ro.why);
            continue;
        }
        struct qt_gguf_spec s;
        struct qt_gguf_plan p;
        if (plan_of(r, m, &s, &p, err)) return QT_ERR;
        int *map = qt_gguf_plan_map(&p, m->n_tensors);
        unsigned char *in = calloc((size_t)p.n + 1, 1);
        if (!map || !in) rc = qt_err_set(err, "edit: out of memory");
        int first = -1, all_bf16 = 1;
        for (int j = 0; rc == QT_OK && j < nd->n_members; j++) {
            int ti = t->members[nd->first_member + j], g = ti >= 0 && ti < m->n_tensors ? map[ti] : -1;
            if (g < 0 || !p.t[g].quantizable) continue;
            in[g] = 1;
            if (first < 0 || g < first) first = g;
            if (p.t[g].type != QT_GGML_BF16) all_bf16 = 0;
        }
        int T = -1, skip = 0;
        char why[256] = "";
        if (rc == QT_OK && first < 0) {
            snprintf(why, sizeof why, "%s: llama.cpp keeps it in F32 (no quantized type)", nd->label);
            skip = 1;
        } else if (rc == QT_OK) {
            if (e->action == QT_EDIT_SET) {
                T = qt_ggml_type_parse(e->scheme ? e->scheme : "");
                const struct qt_ggml_type_info *ti = qt_ggml_type_info(T);
                if (!ti || !ti->write) rc = qt_err_set(err, "edit: %s: not a GGUF type qtune writes", e->scheme ? e->scheme : "(none)");
            } else if (e->action == QT_EDIT_IGNORE) {
                T = all_bf16 ? -1 : QT_GGML_BF16;
                if (all_bf16 && !k) o->all_kept = 1;
            } else {
                T = qt_gguf_type_step(p.t[first].wanted, e->action, why, sizeof why);
                if (T < 0) skip = 1;
            }
        }
        qt_gguf_plan_free(&p);
        qt_gguf_spec_free(&s);
        free(map);
        if (rc == QT_OK && !skip) {
            rc = give_type(r, m, in, T, err);
            o->changed++;
        }
        free(in);
        if (!k) {
            copy(o->scheme, sizeof o->scheme, T >= 0 ? qt_ggml_type_name(T) : "BF16");
            if (skip) copy(o->why, sizeof o->why, why);
        }
    }
    if (rc == QT_OK && o->changed) o->why[0] = 0;
    return rc;
}

/* ---- a GGUF file's own types as a recipe */

char *qt_gguf_recipe_of_file(const struct qt_model *m, qt_err *err) {
    const struct qt_gguf *gf = m->gguf;
    if (!gf) return qt_err_set(err, "%s: not a GGUF file", m->path), NULL;
    int64_t id = -1;
    const struct qt_gguf_ftype *ft = qt_gguf_get_i64(gf, "general.file_type", &id) == QT_OK ? qt_gguf_ftype_by_id((int)id) : NULL;
    struct qt_recipe *r;
    if (qt_recipe_new(&r, err)) return NULL;
    struct qt_yaml *g = section(r, 1);
    char *text = NULL;
    struct qt_gguf_spec s;
    struct qt_gguf_plan p = {0};
    if (!g || (ft && set_str(g, "ftype", ft->name, err)) || plan_of(r, m, &s, &p, err)) {
        qt_recipe_free(r);
        return NULL;
    }
    int rc = QT_OK;
    struct qt_yaml *seq = NULL;
    for (int k = 0; k < p.n && rc == QT_OK; k++) {
        const struct qt_gguf_out *o = &p.t[k];
        const struct qt_tensor *t = o->n_src > 0 && o->src[0] >= 0 ? &m->tensors[o->src[0]] : NULL;
        if (!o->quantizable || !t || !t->gg) continue;
        int held = t->gg - 1;
        if (held == o->type) continue;
        if (!strcmp(o->name, "output.weight") || !strcmp(o->name, "token_embd.weight")) {   /* their own keys */
            if (set_str(g, o->name[0] == 'o' ? "output_tensor_type" : "token_embedding_type", qt_ggml_type_name(held), err))
                rc = QT_ERR;
            continue;
        }
        unsigned char *in = calloc((size_t)p.n + 1, 1);
        char pat[1024], e[1100];
        if (!in) { rc = qt_err_set(err, "out of memory"); break; }
        in[k] = 1;
        if (qt_gguf_node_pattern(&p, in, pat, sizeof pat)) pat[0] = 0;
        free(in);
        snprintf(e, sizeof e, "%s=%s", pat, qt_ggml_type_name(held));
        struct qt_yaml *v = qt_yaml_scalar(e);
        if (!seq) seq = types_seq(g, err);
        if (!v || !seq || qt_yaml_push(seq, v)) { qt_yaml_free(v); rc = qt_err_set(err, "out of memory"); break; }
        v->style = QT_YS_SINGLE;
    }
    qt_gguf_plan_free(&p);
    qt_gguf_spec_free(&s);
    size_t len;
    if (rc == QT_OK) {
        char hdr[1200];
        const char *base = strrchr(m->path, '/');
        snprintf(hdr, sizeof hdr, "# the GGUF types %s holds (general.file_type %s)\n", base ? base + 1 : m->path,
                 ft ? ft->name : "not one qtune writes");
        free(r->header);
        r->header = qt_strdup(hdr);
        text = qt_recipe_dump(r, &len, err);
    }
    qt_recipe_free(r);
    return text;
}
