/* recipe.c — llm-compressor recipes: parse, resolve, edit, save. */
#include "recipe/recipe.h"
#include "recipe/modtab.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The algorithms qtune knows, one row each (docs/architecture.md, "How to
 * add an algorithm"); which llm-compressor class runs which algorithm, and
 * the fields each accepts, is modtab.c's table.  Per algorithm: its name,
 * whether `qtune quantize` runs it (else it refuses the recipe) and whether
 * the preview computes it (else it previews round-to-nearest and says so). */
struct algo_traits { enum qt_algo algo; const char *name; int runs; int previewed; };
static const struct algo_traits algo_traits[] = {
    /* algo               name           runs previewed */
    {QT_ALGO_RTN,         "RTN",         1, 1},
    {QT_ALGO_GPTQ,        "GPTQ",        1, 0},
    {QT_ALGO_AWQ,         "AWQ",         1, 0},
    {QT_ALGO_SMOOTHQUANT, "SmoothQuant", 1, 0},
    {QT_ALGO_SPARSEGPT,   "SparseGPT",   1, 0},
    {QT_ALGO_AUTOROUND,   "AutoRound",   0, 0},
    {QT_ALGO_OTHER,       "other",       0, 0},
};
#define N_ALGO_TRAITS (int)(sizeof algo_traits / sizeof algo_traits[0])

static const struct algo_traits *algo_row(enum qt_algo a) {
    for (int i = 0; i < N_ALGO_TRAITS; i++)
        if (algo_traits[i].algo == a) return &algo_traits[i];
    return NULL;
}

const char *qt_algo_name(enum qt_algo a) {
    const struct algo_traits *t = algo_row(a);
    return t ? t->name : "none";
}

int qt_algo_runnable(enum qt_algo a) {
    const struct algo_traits *t = algo_row(a);
    return t && t->previewed;
}

int qt_algo_quantize_runs(enum qt_algo a) {
    const struct algo_traits *t = algo_row(a);
    return t && t->runs;
}

/* ---- parsing the tree ---- */

struct ctx { struct qt_recipe *r; const char *fname; qt_err *err; };

/* QuantizationArgs as read from YAML, before they become a qt_scheme. */
struct cargs {
    int present;              /* 0: absent / null */
    int num_bits;
    char type[8];             /* "int" | "float" */
    int symmetric;
    char strategy[16];        /* tensor | channel | group | block | token | tensor_group */
    int group_size;
    int block[2];
    int dynamic;
    char actorder[16];
};

static int at_fail(struct ctx *c, const struct qt_yaml *n, const char *fmt, const char *what) {
    if (n && n->line)
        return qt_err_set(c->err, "%s:%d:%d: %s%s", c->fname, n->line, n->col, fmt, what ? what : "");
    return qt_err_set(c->err, "%s: %s%s", c->fname, fmt, what ? what : "");
}

/* Refuses a key of map m that is not in `names` (space-separated), as
 * llm-compressor and compressed-tensors (pydantic, extra="forbid") refuse
 * it: names the key, what it is a field of, and the nearest valid name. */
static int check_fields(struct ctx *c, const struct qt_yaml *m, const char *what, const char *names) {
    if (!m || m->kind != QT_YAML_MAP) return QT_OK;
    for (int i = 0; i < m->n; i++) {
        if (qt_name_in_list(names, m->keys[i])) continue;
        char near[64], msg[256];
        const char *nn = qt_nearest_name(m->keys[i], names, near, sizeof near);
        if (nn) snprintf(msg, sizeof msg, "unknown field '%s' of %s (did you mean '%s'?)", m->keys[i], what, nn);
        else snprintf(msg, sizeof msg, "unknown field '%s' of %s (fields: %s)", m->keys[i], what, names);
        return at_fail(c, m->items[i], msg, NULL);
    }
    return QT_OK;
}

/* Parses QuantizationArgs from a map node. */
static int parse_qargs(struct ctx *c, const struct qt_yaml *m, struct cargs *q) {
    memset(q, 0, sizeof *q);
    if (!m || qt_yaml_is_null(m)) return QT_OK;
    if (m->kind != QT_YAML_MAP) return at_fail(c, m, "quantization args must be a mapping", NULL);
    if (check_fields(c, m, "QuantizationArgs", qt_qargs_fields()) != QT_OK) return QT_ERR;
    q->present = 1;
    q->num_bits = 8;
    strcpy(q->type, "int");
    q->symmetric = 1;
    double d;
    int b;
    const struct qt_yaml *v;
    if ((v = qt_yaml_get(m, "num_bits"))) {
        if (!qt_yaml_num(v, &d) || d < 1 || d > 16) return at_fail(c, v, "num_bits must be 1..16", NULL);
        q->num_bits = (int)d;
    }
    if ((v = qt_yaml_get(m, "type")) && qt_yaml_str(v)) {
        if (strcmp(v->value, "int") && strcmp(v->value, "float"))
            return at_fail(c, v, "type must be int or float, not ", v->value);
        snprintf(q->type, sizeof q->type, "%s", v->value);
    }
    if ((v = qt_yaml_get(m, "symmetric")) && qt_yaml_bool(v, &b)) q->symmetric = b;
    if ((v = qt_yaml_get(m, "group_size")) && !qt_yaml_is_null(v)) {
        if (!qt_yaml_num(v, &d)) return at_fail(c, v, "group_size must be a number", NULL);
        q->group_size = (int)d;
    }
    if ((v = qt_yaml_get(m, "block_structure")) && !qt_yaml_is_null(v)) {
        if (v->kind == QT_YAML_SEQ && v->n == 2 && qt_yaml_num(v->items[0], &d)) {
            q->block[0] = (int)d;
            if (qt_yaml_num(v->items[1], &d)) q->block[1] = (int)d;
        } else if (qt_yaml_str(v)) {
            sscanf(v->value, "%dx%d", &q->block[0], &q->block[1]);
        }
    }
    if ((v = qt_yaml_get(m, "strategy")) && qt_yaml_str(v) && !qt_yaml_is_null(v)) {
        snprintf(q->strategy, sizeof q->strategy, "%s", v->value);
    } else {
        /* compressed-tensors infers the strategy when it is omitted */
        if (q->group_size == -1) snprintf(q->strategy, sizeof q->strategy, "channel");
        else if (q->group_size > 0) snprintf(q->strategy, sizeof q->strategy, "group");
        else if (q->block[0]) snprintf(q->strategy, sizeof q->strategy, "block");
        else snprintf(q->strategy, sizeof q->strategy, "tensor");
    }
    if (!strcmp(q->strategy, "block") && !q->block[0]) q->block[0] = q->block[1] = 128;
    if ((v = qt_yaml_get(m, "dynamic"))) {
        if (qt_yaml_bool(v, &b)) q->dynamic = b;
        else if (qt_yaml_str(v) && !strcmp(v->value, "local")) q->dynamic = 1;
    }
    if ((v = qt_yaml_get(m, "actorder")) && !qt_yaml_is_null(v)) {
        if (qt_yaml_bool(v, &b)) snprintf(q->actorder, sizeof q->actorder, "%s", b ? "group" : "");
        else if (qt_yaml_str(v)) snprintf(q->actorder, sizeof q->actorder, "%s", v->value);
    }
    return QT_OK;
}

/* The qt_scheme that weights args w and input args a describe; fails (at
 * node `at`) for args qtune does not model. */
static int to_scheme(struct ctx *c, const struct qt_yaml *at, const char *group, const struct cargs *w,
                     const struct cargs *a, struct qt_scheme *s) {
    memset(s, 0, sizeof *s);
    s->sym = 1;
    if (!w->present) { s->kind = QT_SCHEME_BF16; s->bits = 16; return QT_OK; }
    int isint = !strcmp(w->type, "int"), b = w->num_bits;
    const char *st = w->strategy;
    const char *bad = NULL;
    s->bits = b;
    if (isint) {
        s->kind = QT_SCHEME_INT;
        s->sym = w->symmetric;
        if (b < 2 || b > 8) bad = "int weights of other than 2..8 bits";
        else if (!strcmp(st, "tensor")) s->strategy = QT_STRAT_TENSOR;
        else if (!strcmp(st, "channel")) s->strategy = QT_STRAT_CHANNEL;
        else if (!strcmp(st, "group") && w->group_size > 0) { s->strategy = QT_STRAT_GROUP; s->group = w->group_size; }
        else bad = "this int weight strategy";
    } else if (b == 8) {
        s->kind = QT_SCHEME_FP8;
        if (!strcmp(st, "tensor")) s->strategy = QT_STRAT_TENSOR;
        else if (!strcmp(st, "channel")) s->strategy = QT_STRAT_CHANNEL;
        else if (!strcmp(st, "block") && w->block[0] > 0 && w->block[0] == w->block[1]) {
            s->strategy = QT_STRAT_BLOCK;
            s->group = w->block[0];
        } else bad = "this fp8 weight strategy";
    } else if (b == 4 && !strcmp(st, "tensor_group") && w->group_size == 16) {
        s->kind = QT_SCHEME_NVFP4; s->strategy = QT_STRAT_GROUP; s->group = 16;
    } else if (b == 4 && !strcmp(st, "group") && w->group_size == 32) {
        s->kind = QT_SCHEME_MXFP4; s->strategy = QT_STRAT_GROUP; s->group = 32;
    } else {
        bad = "these float weights";
    }
    if (!bad && a->present) {
        int aint = !strcmp(a->type, "int"), ab = a->num_bits;
        const char *as = a->strategy;
        if (aint && ab == 8 && !strcmp(as, "token")) s->act = QT_ACT_INT8_TOK;
        else if (aint && ab == 8 && !strcmp(as, "tensor") && !a->dynamic && a->symmetric) s->act = QT_ACT_INT8_TENSOR;
        else if (aint && ab == 8 && !strcmp(as, "tensor") && !a->dynamic) bad = "asymmetric static int8 activations";
        else if (!aint && ab == 8 && !strcmp(as, "token")) s->act = QT_ACT_FP8_TOK;
        else if (!aint && ab == 8 && !strcmp(as, "tensor")) s->act = QT_ACT_FP8_TENSOR;
        else if (!aint && ab == 8 && !strcmp(as, "group") && a->group_size == 128) s->act = QT_ACT_FP8_G128;
        else if (!aint && ab == 4 && !strcmp(as, "tensor_group") && a->group_size == 16) s->act = QT_ACT_NVFP4;
        else if (!aint && ab == 4 && !strcmp(as, "group") && a->group_size == 32) s->act = QT_ACT_MXFP4;
        else bad = "these input activations";
    }
    if (!bad) return QT_OK;
    if (at && at->line)
        return qt_err_set(c->err, "%s:%d:%d: group '%s': qtune does not model %s (int 2..8 bits t/ch/g, "
                          "fp8 t/ch/block, nvfp4, mxfp4; activations int8/fp8 per token, int8 static per tensor (sym), fp8 t/g128, fp4)",
                          c->fname, at->line, at->col, group, bad);
    return qt_err_set(c->err, "%s: group '%s': qtune does not model %s", c->fname, group, bad);
}

/* Compiles a list of patterns (a sequence or a single scalar). */
static int parse_patterns(struct ctx *c, const struct qt_yaml *v, struct qt_pattern **out, int *n) {
    *out = NULL;
    *n = 0;
    if (!v || qt_yaml_is_null(v)) return QT_OK;
    int cnt = v->kind == QT_YAML_SEQ ? v->n : 1;
    if (v->kind == QT_YAML_MAP) return at_fail(c, v, "expected a pattern or a list of patterns", NULL);
    struct qt_pattern *p = calloc((size_t)cnt + 1, sizeof *p);
    if (!p) return qt_err_set(c->err, "out of memory");
    for (int i = 0; i < cnt; i++) {
        const struct qt_yaml *it = v->kind == QT_YAML_SEQ ? v->items[i] : v;
        if (!qt_yaml_str(it)) {
            for (int k = 0; k < i; k++) qt_pattern_free(&p[k]);
            free(p);
            return at_fail(c, it, "a pattern must be a string", NULL);
        }
        if (qt_pattern_compile(it->value, &p[i], c->err) != QT_OK) {
            for (int k = 0; k < i; k++) qt_pattern_free(&p[k]);
            free(p);
            if (it->line) return qt_err_prefix(c->err, "%s:%d:%d", c->fname, it->line, it->col);
            return qt_err_prefix(c->err, "%s", c->fname);
        }
    }
    *out = p;
    *n = cnt;
    return QT_OK;
}

static int add_group(struct ctx *c, int mod, const char *name, const struct qt_yaml *targets,
                     const struct qt_scheme *sch, const char *actorder) {
    struct qt_recipe *r = c->r;
    struct qt_rgroup *g = realloc(r->groups, (size_t)(r->n_groups + 1) * sizeof *g);
    if (!g) return qt_err_set(c->err, "out of memory");
    r->groups = g;
    g = &r->groups[r->n_groups];
    memset(g, 0, sizeof *g);
    g->mod = mod;
    g->name = strdup(name);
    g->s = *sch;
    snprintf(g->actorder, sizeof g->actorder, "%s", actorder ? actorder : "");
    r->n_groups++;
    if (parse_patterns(c, targets, &g->targets, &g->n_targets) != QT_OK) return QT_ERR;
    g->target_hits = calloc((size_t)g->n_targets + 1, sizeof *g->target_hits);
    qt_scheme_format(sch, g->scheme, sizeof g->scheme);
    if (!g->name || !g->target_hits) return qt_err_set(c->err, "out of memory");
    r->mods[mod].n_groups++;
    return QT_OK;
}

static int add_modifier(struct ctx *c, const char *stage, const char *list, const char *type,
                        struct qt_yaml *args) {
    struct qt_recipe *r = c->r;
    struct qt_modifier *mods = realloc(r->mods, (size_t)(r->n_mods + 1) * sizeof *mods);
    if (!mods) return qt_err_set(c->err, "out of memory");
    r->mods = mods;
    int mi = r->n_mods++;
    struct qt_modifier *m = &r->mods[mi];
    memset(m, 0, sizeof *m);
    m->stage = stage ? strdup(stage) : NULL;
    m->list = list ? strdup(list) : NULL;
    m->type = strdup(type);
    m->args = args;
    m->first_group = r->n_groups;
    if (!m->type) return qt_err_set(c->err, "out of memory");
    const struct qt_modclass *mc = qt_modclass_find(type);
    if (!mc) {
        char near[64], msg[160], names[1024];
        const char *nn = qt_nearest_name(type, qt_modclass_names(names, sizeof names), near, sizeof near);
        snprintf(msg, sizeof msg, "unknown modifier class '%s'", type);
        if (nn) snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (did you mean '%s'?)", nn);
        return at_fail(c, args, msg, NULL);
    }
    m->algo = mc->algo;
    if (args && !qt_yaml_is_null(args) && args->kind != QT_YAML_MAP)
        return at_fail(c, args, "arguments of a modifier must be a mapping: ", type);
    char fields[1024];
    if (check_fields(c, args, type, qt_modclass_fields(mc, fields, sizeof fields)) != QT_OK)
        return QT_ERR;
    /* AWQ's modern form is a transform only: its quantization comes from the
     * QuantizationModifier / GPTQModifier that follows; the older one-modifier
     * form carries config_groups or a scheme itself. */
    m->quantizes = mc->quant_args;
    if (m->algo == QT_ALGO_AWQ) {
        const struct qt_yaml *g = qt_yaml_get(args, "config_groups"), *s = qt_yaml_get(args, "scheme");
        m->quantizes = (g && !qt_yaml_is_null(g)) || (s && !qt_yaml_is_null(s));
    }
    const struct qt_yaml *v;
    if (parse_patterns(c, qt_yaml_get(args, "ignore"), &m->ignore, &m->n_ignore) != QT_OK) return QT_ERR;
    m->ignore_hits = calloc((size_t)m->n_ignore + 1, sizeof *m->ignore_hits);
    if (!m->ignore_hits) return qt_err_set(c->err, "out of memory");
    if (m->algo == QT_ALGO_SMOOTHQUANT) {
        double d = 0.5;
        if ((v = qt_yaml_get(args, "smoothing_strength"))) qt_yaml_num(v, &d);
        m->smoothing = d;
    }
    if (m->algo == QT_ALGO_SPARSEGPT) {
        double d = 0;
        if ((v = qt_yaml_get(args, "sparsity"))) qt_yaml_num(v, &d);
        m->sparsity = d;
        if ((v = qt_yaml_get(args, "mask_structure")) && qt_yaml_str(v))
            snprintf(m->mask, sizeof m->mask, "%s", v->value);
        const struct qt_yaml *t = qt_yaml_get(args, "targets");
        if (t) {
            if (parse_patterns(c, t, &m->sparse_targets, &m->n_sparse_targets) != QT_OK) return QT_ERR;
        } else {
            m->sparse_targets = calloc(1, sizeof *m->sparse_targets);
            if (!m->sparse_targets || qt_pattern_compile("Linear", m->sparse_targets, c->err)) return QT_ERR;
            m->n_sparse_targets = 1;
        }
    }
    if (!m->quantizes) return QT_OK;
    struct cargs kv;
    if (parse_qargs(c, qt_yaml_get(args, "kv_cache_scheme"), &kv) != QT_OK) return QT_ERR;
    if (kv.present) {
        m->kv_bits = kv.num_bits;
        snprintf(m->kv_type, sizeof m->kv_type, "%s", kv.type);
        snprintf(m->kv_strategy, sizeof m->kv_strategy, "%s", kv.strategy);
        m->kv_sym = kv.symmetric;
    }
    /* GPTQ's modifier-level actorder applies to groups that do not set one */
    char actorder[16] = "";
    if ((v = qt_yaml_get(args, "actorder")) && qt_yaml_str(v) && !qt_yaml_is_null(v)) {
        int b;
        if (qt_yaml_bool(v, &b)) snprintf(actorder, sizeof actorder, "%s", b ? "group" : "");
        else snprintf(actorder, sizeof actorder, "%s", v->value);
    }
    const struct qt_yaml *cg = qt_yaml_get(args, "config_groups");
    const struct qt_yaml *sc = qt_yaml_get(args, "scheme");
    if (cg && sc && !qt_yaml_is_null(cg) && !qt_yaml_is_null(sc))
        return at_fail(c, sc, "a modifier takes `scheme` or `config_groups`, not both: ", type);
    struct qt_scheme sch;
    if (cg && !qt_yaml_is_null(cg)) {
        if (cg->kind != QT_YAML_MAP) return at_fail(c, cg, "config_groups must be a mapping", NULL);
        for (int i = 0; i < cg->n; i++) {
            const struct qt_yaml *g = cg->items[i];
            if (g->kind != QT_YAML_MAP) return at_fail(c, g, "a config group must be a mapping: ", cg->keys[i]);
            if (check_fields(c, g, "a config group (QuantizationScheme)", qt_scheme_fields()) != QT_OK)
                return QT_ERR;
            struct cargs w, a, o;
            const struct qt_yaml *wn = qt_yaml_get(g, "weights");
            if (parse_qargs(c, wn, &w) != QT_OK ||
                parse_qargs(c, qt_yaml_get(g, "input_activations"), &a) != QT_OK ||
                parse_qargs(c, qt_yaml_get(g, "output_activations"), &o) != QT_OK ||
                to_scheme(c, wn ? wn : g, cg->keys[i], &w, &a, &sch) != QT_OK)
                return QT_ERR;
            const struct qt_yaml *t = qt_yaml_get(g, "targets");
            if (!t) return at_fail(c, g, "config group has no targets: ", cg->keys[i]);
            if (add_group(c, mi, cg->keys[i], t, &sch, w.actorder[0] ? w.actorder : actorder) != QT_OK)
                return QT_ERR;
        }
    } else if (sc && qt_yaml_str(sc) && !qt_yaml_is_null(sc)) {
        if (qt_scheme_parse(sc->value, &sch, c->err) != QT_OK)
            return qt_err_prefix(c->err, "%s:%d:%d", c->fname, sc->line, sc->col);
        const struct qt_yaml *t = qt_yaml_get(args, "targets");
        struct qt_yaml *deflt = NULL;
        if (!t || qt_yaml_is_null(t)) t = deflt = qt_yaml_scalar("Linear");
        int rc = add_group(c, mi, sc->value, t, &sch, actorder);
        qt_yaml_free(deflt);
        if (rc != QT_OK) return rc;
    } else if (sc && sc->kind == QT_YAML_MAP) {
        for (int i = 0; i < sc->n; i++) {
            if (qt_scheme_parse(sc->keys[i], &sch, c->err) != QT_OK)
                return qt_err_prefix(c->err, "%s:%d:%d", c->fname, sc->items[i]->line, sc->items[i]->col);
            if (add_group(c, mi, sc->keys[i], sc->items[i], &sch, actorder) != QT_OK) return QT_ERR;
        }
    }
    return QT_OK;
}

static int is_modifier_name(const char *k) { return qt_str_ends_with(k, "Modifier"); }

/* Modifiers under a *_modifiers key: a map of class -> args or a list of
 * single-key maps. */
static int walk_modifiers(struct ctx *c, const char *stage, const char *list, struct qt_yaml *v) {
    if (qt_yaml_is_null(v)) return QT_OK;
    if (v->kind == QT_YAML_MAP) {
        for (int i = 0; i < v->n; i++)
            if (add_modifier(c, stage, list, v->keys[i], v->items[i]) != QT_OK) return QT_ERR;
        return QT_OK;
    }
    if (v->kind == QT_YAML_SEQ) {
        for (int i = 0; i < v->n; i++) {
            struct qt_yaml *it = v->items[i];
            if (it->kind != QT_YAML_MAP || it->n != 1)
                return at_fail(c, it, "expected `ModifierClass: {arguments}`", NULL);
            if (add_modifier(c, stage, list, it->keys[0], it->items[0]) != QT_OK) return QT_ERR;
        }
        return QT_OK;
    }
    return at_fail(c, v, "modifiers must be a mapping of modifier classes", NULL);
}

static void clear_view(struct qt_recipe *r) {
    for (int i = 0; i < r->n_mods; i++) {
        struct qt_modifier *m = &r->mods[i];
        for (int k = 0; k < m->n_ignore; k++) qt_pattern_free(&m->ignore[k]);
        for (int k = 0; k < m->n_sparse_targets; k++) qt_pattern_free(&m->sparse_targets[k]);
        free(m->ignore);
        free(m->ignore_hits);
        free(m->sparse_targets);
        free(m->stage);
        free(m->list);
        free(m->type);
    }
    free(r->mods);
    for (int i = 0; i < r->n_groups; i++) {
        struct qt_rgroup *g = &r->groups[i];
        for (int k = 0; k < g->n_targets; k++) qt_pattern_free(&g->targets[k]);
        free(g->targets);
        free(g->target_hits);
        free(g->name);
    }
    free(r->groups);
    r->mods = NULL;
    r->groups = NULL;
    r->n_mods = r->n_groups = 0;
}

static int build_view(struct qt_recipe *r, const char *fname, qt_err *err) {
    struct ctx c = {r, fname ? fname : "<recipe>", err};
    struct qt_yaml *root = r->root;
    int rc = QT_OK;
    if (root->kind == QT_YAML_SEQ) {
        rc = walk_modifiers(&c, NULL, NULL, root);
    } else if (root->kind == QT_YAML_MAP) {
        for (int i = 0; i < root->n && rc == QT_OK; i++) {
            const char *k = root->keys[i];
            struct qt_yaml *v = root->items[i];
            if (qt_str_ends_with(k, "_stage")) {
                if (qt_yaml_is_null(v)) continue;
                if (v->kind != QT_YAML_MAP) { rc = at_fail(&c, v, "a stage must be a mapping: ", k); break; }
                for (int j = 0; j < v->n && rc == QT_OK; j++)
                    if (qt_str_ends_with(v->keys[j], "_modifiers"))
                        rc = walk_modifiers(&c, k, v->keys[j], v->items[j]);
            } else if (qt_str_ends_with(k, "_modifiers")) {
                rc = walk_modifiers(&c, NULL, k, v);
            } else if (is_modifier_name(k)) {
                rc = add_modifier(&c, NULL, NULL, k, v);
            }
            /* anything else (version, metadata) is kept as is */
        }
    } else {
        rc = at_fail(&c, root, "a recipe must be a mapping or a list of modifiers", NULL);
    }
    if (rc != QT_OK) clear_view(r);
    return rc;
}

int qt_recipe_reparse(struct qt_recipe *r, qt_err *err) {
    clear_view(r);
    return build_view(r, r->path, err);
}

int qt_recipe_parse(const char *text, size_t len, const char *fname, struct qt_recipe **out,
                    qt_err *err) {
    *out = NULL;
    struct qt_recipe *r = calloc(1, sizeof *r);
    if (!r) return qt_err_set(err, "out of memory");
    r->path = fname ? strdup(fname) : NULL;
    r->header = strdup("");   /* the comments are in the tree */
    if (qt_yaml_load(text, len, fname ? fname : "<recipe>", &r->root, err) != QT_OK ||
        build_view(r, fname, err) != QT_OK) {
        qt_recipe_free(r);
        return QT_ERR;
    }
    *out = r;
    return QT_OK;
}

int qt_recipe_load(const char *path, struct qt_recipe **out, qt_err *err) {
    size_t len;
    char *text = qt_read_file(path, &len, err);
    if (!text) return QT_ERR;
    int rc = qt_recipe_parse(text, len, path, out, err);
    free(text);
    return rc;
}

int qt_recipe_new(struct qt_recipe **out, qt_err *err) {
    static const char text[] =
        "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      ignore: [lm_head]\n";
    return qt_recipe_parse(text, sizeof text - 1, NULL, out, err);
}

void qt_recipe_free(struct qt_recipe *r) {
    if (!r) return;
    clear_view(r);
    qt_yaml_free(r->root);
    free(r->header);
    free(r->path);
    free(r);
}

char *qt_recipe_dump(const struct qt_recipe *r, size_t *len, qt_err *err) {
    size_t yl;
    char *y = qt_yaml_dump(r->root, &yl, err);
    if (!y) return NULL;
    size_t hl = r->header ? strlen(r->header) : 0;
    char *out = malloc(hl + yl + 1);
    if (!out) { free(y); qt_err_set(err, "out of memory"); return NULL; }
    if (hl) memcpy(out, r->header, hl);
    memcpy(out + hl, y, yl + 1);
    free(y);
    if (len) *len = hl + yl;
    return out;
}

int qt_recipe_save(const struct qt_recipe *r, const char *path, qt_err *err) {
    size_t len;
    char *text = qt_recipe_dump(r, &len, err);
    if (!text) return QT_ERR;
    int rc = qt_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

/* ---- resolution ---- */

void qt_resolution_free(struct qt_resolution *res) {
    if (!res) return;
    free(res->t);
    memset(res, 0, sizeof *res);
}

/* Resolves tensor t into o; counts the matches into r's hit arrays when
 * count is 1 (qt_recipe_resolve), not when 0 (qt_recipe_resolve_tensor). */
static void resolve_tensor(struct qt_recipe *r, const struct qt_model *m, const struct qt_tensor *t,
                           struct qt_resolved *o, int count) {
    memset(o, 0, sizeof *o);
    o->group = o->mod = o->target = o->ignored_by = o->ignored_by_mod = o->ambiguous_group = o->sparse_mod = -1;
    o->scheme = "bf16";
    o->actorder = "";
    /* one module per ".weight": counts are per module */
    if (!qt_str_ends_with(t->name, ".weight")) return;
    char mod[1024];
    qt_match_module(t, mod, sizeof mod);
    struct qt_mclass cls;
    qt_model_classes(m, t->role, &cls);
    int can = qt_model_quantizable(m, t);
    for (int mi = 0; mi < r->n_mods; mi++) {
        struct qt_modifier *md = &r->mods[mi];
        int ig = -1;
        for (int k = 0; k < md->n_ignore; k++)
            if ((count || ig < 0) && qt_pattern_match(&md->ignore[k], mod, &cls, NULL)) {
                if (count) md->ignore_hits[k]++;
                if (ig < 0) ig = k;
            }
        if (md->algo == QT_ALGO_SPARSEGPT && ig < 0 && can)
            for (int k = 0; k < md->n_sparse_targets; k++)
                if (qt_pattern_match(&md->sparse_targets[k], mod, &cls, NULL)) { o->sparse = 1; o->sparse_mod = mi; break; }
        if (!md->quantizes) continue;
        /* compressed-tensors' match_targets: the strongest match wins; at
         * equal strength the target text that sorts first; the same text
         * in two groups maps to the later group (target_to_scheme). */
        int best = QT_MATCH_NONE, bg = -1, bt = -1, amb = -1;
        const char *btext = NULL;
        for (int g = md->first_group; g < md->first_group + md->n_groups; g++) {
            struct qt_rgroup *gr = &r->groups[g];
            for (int k = 0; k < gr->n_targets; k++) {
                int s = (int)qt_pattern_match(&gr->targets[k], mod, &cls, NULL);
                if (!s) continue;
                if (count) gr->target_hits[k]++;
                const char *tx = gr->targets[k].text;
                int c = btext ? strcmp(tx, btext) : -1;
                if (s > best) { best = s; bg = g; bt = k; btext = tx; amb = -1; }
                else if (s == best && g != bg) {
                    if (c <= 0) { amb = bg; bg = g; bt = k; btext = tx; }
                    else amb = g;
                } else if (s == best && c < 0) { bt = k; btext = tx; }
            }
        }
        if (bg < 0) continue;
        if (ig >= 0) {
            o->ignored_by_mod = mi;
            o->ignored_by = ig;
            continue;
        }
        if (qt_scheme_is_kept(&r->groups[bg].s)) continue;
        if (!can) {   /* named, never quantized (the router): lint says so */
            o->named = 1;
            continue;
        }
        o->quantized = 1;
        o->group = bg;
        o->mod = mi;
        o->how = (enum qt_match_kind)best;
        o->target = bt;
        o->ambiguous_group = amb;
        o->algo = md->algo;
        /* the modern AWQ form: an AWQModifier transform before the
         * QuantizationModifier that rounds makes the result AWQ */
        if (o->algo == QT_ALGO_RTN)
            for (int k = 0; k < mi; k++)
                if (r->mods[k].algo == QT_ALGO_AWQ && !r->mods[k].quantizes) o->algo = QT_ALGO_AWQ;
        o->scheme = r->groups[bg].scheme;
        o->s = &r->groups[bg].s;
        o->actorder = r->groups[bg].actorder;
        o->ignored_by = o->ignored_by_mod = -1;
    }
    if (o->quantized) o->preview_algo = qt_algo_runnable(o->algo) ? o->algo : QT_ALGO_RTN;
}

int qt_recipe_resolve(struct qt_recipe *r, const struct qt_model *m, struct qt_resolution *out,
                      qt_err *err) {
    memset(out, 0, sizeof *out);
    out->n = m->n_tensors;
    out->t = calloc((size_t)m->n_tensors + 1, sizeof *out->t);
    if (!out->t) return qt_err_set(err, "out of memory");
    for (int g = 0; g < r->n_groups; g++)
        memset(r->groups[g].target_hits, 0, (size_t)r->groups[g].n_targets * sizeof(int));
    for (int i = 0; i < r->n_mods; i++)
        memset(r->mods[i].ignore_hits, 0, (size_t)r->mods[i].n_ignore * sizeof(int));
    for (int i = 0; i < m->n_tensors; i++) {
        resolve_tensor(r, m, &m->tensors[i], &out->t[i], 1);
        out->n_quantized += out->t[i].quantized;
    }
    /* biases and router biases follow nothing: kept */
    return QT_OK;
}

const char *qt_recipe_resolve_tensor(struct qt_recipe *r, const struct qt_model *m, int ti, struct qt_resolved *o) {
    struct qt_resolved tmp;
    if (!o) o = &tmp;
    if (ti < 0 || ti >= m->n_tensors) {
        memset(o, 0, sizeof *o);
        o->group = o->mod = o->target = o->ignored_by = o->ignored_by_mod = o->ambiguous_group = o->sparse_mod = -1;
        o->scheme = "bf16";
        o->actorder = "";
        return o->scheme;
    }
    resolve_tensor(r, m, &m->tensors[ti], o, 0);
    return o->scheme;
}

/* ---- edits ---- */

static struct qt_yaml *str_seq(const char *s) {
    struct qt_yaml *q = qt_yaml_seq(1);
    if (q && s && qt_yaml_push(q, qt_yaml_scalar(s)) != QT_OK) { qt_yaml_free(q); return NULL; }
    return q;
}

/* n, or when n is a scalar a one-item sequence holding it (targets written
 * as `targets: Linear`).  Takes ownership of n; NULL when out of memory. */
static struct qt_yaml *scalar_to_seq(struct qt_yaml *n) {
    if (!n || n->kind != QT_YAML_SCALAR) return n;
    struct qt_yaml *s = qt_yaml_seq(1);
    if (qt_yaml_push(s, n) != QT_OK) {   /* frees n */
        qt_yaml_free(s);
        return NULL;
    }
    return s;
}

static struct qt_yaml *num_node(long v) {
    char b[32];
    snprintf(b, sizeof b, "%ld", v);
    return qt_yaml_scalar(b);
}

/* QuantizationArgs as llm-compressor writes them (fields the library
 * derives by itself, zp_dtype and scale_dtype, are left out). */
static struct qt_yaml *qargs_node(const struct qt_qargs *q, const char *actorder) {
    struct qt_yaml *m = qt_yaml_map(0);
    if (!m) return NULL;
    int ok = qt_yaml_set(m, "num_bits", num_node(q->num_bits)) == QT_OK &&
             qt_yaml_set(m, "type", qt_yaml_scalar(q->type)) == QT_OK &&
             qt_yaml_set(m, "symmetric", qt_yaml_scalar(q->symmetric ? "true" : "false")) == QT_OK &&
             qt_yaml_set(m, "strategy", qt_yaml_scalar(q->strategy)) == QT_OK;
    if (ok && q->group_size > 0) ok = qt_yaml_set(m, "group_size", num_node(q->group_size)) == QT_OK;
    if (ok && q->block_structure[0] > 0) {
        struct qt_yaml *b = qt_yaml_seq(1);
        ok = b && qt_yaml_push(b, num_node(q->block_structure[0])) == QT_OK &&
             qt_yaml_push(b, num_node(q->block_structure[1])) == QT_OK &&
             qt_yaml_set(m, "block_structure", b) == QT_OK;
    }
    if (ok && q->dynamic) ok = qt_yaml_set(m, "dynamic", qt_yaml_scalar(q->dynamic)) == QT_OK;
    if (ok && q->observer) ok = qt_yaml_set(m, "observer", qt_yaml_scalar(q->observer)) == QT_OK;
    if (ok && actorder && *actorder) ok = qt_yaml_set(m, "actorder", qt_yaml_scalar(actorder)) == QT_OK;
    if (!ok) { qt_yaml_free(m); return NULL; }
    return m;
}

/* A config group {targets, weights, input_activations} for scheme s. */
static struct qt_yaml *group_node(struct qt_yaml *targets, const struct qt_scheme *s, const char *actorder) {
    struct qt_yaml *g = qt_yaml_map(0);
    if (!g || !targets) { qt_yaml_free(g); qt_yaml_free(targets); return NULL; }
    struct qt_qargs w, a;
    qt_scheme_qargs(s, &w, &a);
    int ok = qt_yaml_set(g, "targets", targets) == QT_OK &&
             qt_yaml_set(g, "weights", qargs_node(&w, actorder)) == QT_OK;
    if (ok && a.present) ok = qt_yaml_set(g, "input_activations", qargs_node(&a, NULL)) == QT_OK;
    if (!ok) { qt_yaml_free(g); return NULL; }
    return g;
}

/* The args map of the first quantization modifier, created when missing. */
static struct qt_yaml *quant_args(struct qt_recipe *r, qt_err *err) {
    for (int i = 0; i < r->n_mods; i++) {
        if (!r->mods[i].quantizes) continue;
        if (r->mods[i].args && r->mods[i].args->kind == QT_YAML_MAP) return r->mods[i].args;
        /* `QuantizationModifier:` with no arguments: find its slot and give it a map */
        struct qt_yaml *args = r->mods[i].args;
        struct qt_yaml *parent = NULL;
        int idx = -1;
        /* search the tree for the node holding args */
        struct qt_yaml *todo[64];
        int nt = 0;
        todo[nt++] = r->root;
        while (nt && !parent) {
            struct qt_yaml *n = todo[--nt];
            for (int k = 0; k < n->n; k++) {
                if (n->items[k] == args) { parent = n; idx = k; break; }
                if (n->items[k]->kind != QT_YAML_SCALAR && nt < 64) todo[nt++] = n->items[k];
            }
        }
        if (!parent) { qt_err_set(err, "recipe: modifier not found"); return NULL; }
        struct qt_yaml *map = qt_yaml_map(0);
        if (!map) { qt_err_set(err, "out of memory"); return NULL; }
        qt_yaml_free(parent->items[idx]);
        parent->items[idx] = map;
        r->mods[i].args = map;
        return map;
    }
    /* no quantization modifier at all: add one */
    struct qt_yaml *args = qt_yaml_map(0);
    struct qt_yaml *mods = qt_yaml_map(0);
    if (!args || !mods || qt_yaml_set(mods, "QuantizationModifier", args) != QT_OK) {
        qt_yaml_free(mods);
        qt_err_set(err, "out of memory");
        return NULL;
    }
    int ok;
    struct qt_yaml *last = NULL;
    if (r->n_mods && r->mods[r->n_mods - 1].list) {
        const struct qt_modifier *lm = &r->mods[r->n_mods - 1];
        struct qt_yaml *st = lm->stage ? qt_yaml_get(r->root, lm->stage) : r->root;
        last = qt_yaml_get(st, lm->list);
        if (last && last->kind != QT_YAML_MAP) last = NULL;
    }
    if (last) {
        qt_yaml_free(mods);
        args = qt_yaml_map(0);
        ok = args && qt_yaml_set(last, "QuantizationModifier", args) == QT_OK;
    } else if (r->root->kind == QT_YAML_SEQ) {
        ok = qt_yaml_push(r->root, mods) == QT_OK;
    } else if (qt_yaml_find(r->root, "quant_stage") >= 0) {
        struct qt_yaml *stage = qt_yaml_map(0);
        ok = stage && qt_yaml_set(stage, "quant_modifiers", mods) == QT_OK &&
             qt_yaml_set(r->root, "qtune_quant_stage", stage) == QT_OK;
        if (!stage) qt_yaml_free(mods);
    } else {
        struct qt_yaml *stage = qt_yaml_map(0);
        ok = stage && qt_yaml_set(stage, "quant_modifiers", mods) == QT_OK &&
             qt_yaml_set(r->root, "quant_stage", stage) == QT_OK;
        if (!stage) qt_yaml_free(mods);
    }
    if (!ok) { qt_err_set(err, "out of memory"); return NULL; }
    return args;
}

/* Rewrites `scheme:` (+ `targets`) as config_groups; returns the groups map. */
static struct qt_yaml *ensure_config_groups(struct qt_yaml *args, qt_err *err) {
    struct qt_yaml *cg = qt_yaml_get(args, "config_groups");
    if (cg && cg->kind == QT_YAML_MAP) return cg;
    struct qt_yaml *groups = qt_yaml_map(0);
    if (!groups) { qt_err_set(err, "out of memory"); return NULL; }
    struct qt_yaml *sc = qt_yaml_get(args, "scheme");
    int n = 0;
    char name[32];
    if (sc && qt_yaml_str(sc) && !qt_yaml_is_null(sc)) {
        struct qt_scheme sch;
        if (qt_scheme_parse(sc->value, &sch, err) != QT_OK) { qt_yaml_free(groups); return NULL; }
        struct qt_yaml *t = qt_yaml_get(args, "targets");
        struct qt_yaml *tc = scalar_to_seq(t && !qt_yaml_is_null(t) ? qt_yaml_copy(t) : str_seq("Linear"));
        snprintf(name, sizeof name, "group_%d", n++);
        if (qt_yaml_set(groups, name, group_node(tc, &sch, NULL)) != QT_OK) goto oom;
    } else if (sc && sc->kind == QT_YAML_MAP) {
        for (int i = 0; i < sc->n; i++) {
            struct qt_scheme sch;
            if (qt_scheme_parse(sc->keys[i], &sch, err) != QT_OK) { qt_yaml_free(groups); return NULL; }
            struct qt_yaml *tc = scalar_to_seq(qt_yaml_copy(sc->items[i]));
            snprintf(name, sizeof name, "group_%d", n++);
            if (qt_yaml_set(groups, name, group_node(tc, &sch, NULL)) != QT_OK) goto oom;
        }
    }
    qt_yaml_del(args, "scheme");
    qt_yaml_del(args, "targets");
    if (qt_yaml_set(args, "config_groups", groups) != QT_OK) { qt_err_set(err, "out of memory"); return NULL; }
    return groups;
oom:
    qt_yaml_free(groups);
    qt_err_set(err, "out of memory");
    return NULL;
}

static int seq_find(const struct qt_yaml *s, const char *v) {
    if (!s || s->kind != QT_YAML_SEQ) return -1;
    for (int i = 0; i < s->n; i++)
        if (qt_yaml_str(s->items[i]) && !strcmp(s->items[i]->value, v)) return i;
    return -1;
}

/* The ignore list as a sequence (a scalar or null becomes a sequence). */
static struct qt_yaml *ignore_seq(struct qt_yaml *args) {
    struct qt_yaml *ig = qt_yaml_get(args, "ignore");
    if (ig && ig->kind == QT_YAML_SEQ) return ig;
    struct qt_yaml *s = qt_yaml_seq(1);
    if (!s) return NULL;
    if (ig && qt_yaml_str(ig) && !qt_yaml_is_null(ig) && qt_yaml_push(s, qt_yaml_copy(ig)) != QT_OK) {
        qt_yaml_free(s);
        return NULL;
    }
    if (qt_yaml_set(args, "ignore", s) != QT_OK) return NULL;
    return s;
}

int qt_recipe_add_ignore(struct qt_recipe *r, const char *pattern, qt_err *err) {
    struct qt_pattern p;
    if (qt_pattern_compile(pattern, &p, err) != QT_OK) return QT_ERR;
    qt_pattern_free(&p);
    struct qt_yaml *args = quant_args(r, err);
    if (!args) return QT_ERR;
    struct qt_yaml *ig = ignore_seq(args);
    if (!ig) return qt_err_set(err, "out of memory");
    if (seq_find(ig, pattern) < 0 && qt_yaml_push(ig, qt_yaml_scalar(pattern)) != QT_OK)
        return qt_err_set(err, "out of memory");
    return qt_recipe_reparse(r, err);
}

int qt_recipe_remove_ignore(struct qt_recipe *r, const char *pattern, qt_err *err) {
    struct qt_yaml *args = quant_args(r, err);
    if (!args) return QT_ERR;
    struct qt_yaml *ig = qt_yaml_get(args, "ignore");
    if (ig && ig->kind == QT_YAML_SEQ) {
        int i = seq_find(ig, pattern);
        if (i >= 0) qt_yaml_remove(ig, i);
    } else if (ig && qt_yaml_str(ig) && !strcmp(ig->value, pattern)) {
        qt_yaml_del(args, "ignore");
    }
    return qt_recipe_reparse(r, err);
}

/* Puts back the tree saved before a failed edit and re-derives the recipe
 * from it; returns QT_ERR for the caller to pass on. */
static int recipe_rollback(struct qt_recipe *r, struct qt_yaml *saved) {
    qt_yaml_free(r->root);
    r->root = saved;
    qt_err tmp;
    qt_recipe_reparse(r, &tmp);
    return QT_ERR;
}

int qt_recipe_set_scheme(struct qt_recipe *r, const char *target, const char *scheme, qt_err *err) {
    struct qt_scheme want_s;
    struct qt_pattern p;
    if (qt_scheme_parse(scheme, &want_s, err) != QT_OK) return QT_ERR;
    if (qt_pattern_compile(target, &p, err) != QT_OK) return QT_ERR;
    qt_pattern_free(&p);
    /* Work on a copy so that a failure leaves the recipe unchanged. */
    struct qt_yaml *saved = qt_yaml_copy(r->root);
    if (!saved) return qt_err_set(err, "out of memory");
    struct qt_yaml *args = quant_args(r, err);
    struct qt_yaml *cg = args ? ensure_config_groups(args, err) : NULL;
    if (!cg) goto fail;
    char want[QT_SCHEME_STR_MAX];
    qt_scheme_format(&want_s, want, sizeof want);
    /* take target out of every group (drop groups left empty) */
    for (int i = 0; i < cg->n;) {
        struct qt_yaml *t = qt_yaml_get(cg->items[i], "targets");
        int k;
        if (t && t->kind == QT_YAML_SEQ && (k = seq_find(t, target)) >= 0) qt_yaml_remove(t, k);
        else if (t && qt_yaml_str(t) && !strcmp(t->value, target)) {
            qt_yaml_set(cg->items[i], "targets", qt_yaml_seq(1));
            t = qt_yaml_get(cg->items[i], "targets");
        }
        if (t && t->kind == QT_YAML_SEQ && t->n == 0) { qt_yaml_del(cg, cg->keys[i]); continue; }
        i++;
    }
    struct qt_yaml *ig = ignore_seq(args);
    if (!ig) { qt_err_set(err, "out of memory"); goto fail; }
    int k = seq_find(ig, target);
    if (qt_scheme_is_kept(&want_s)) {
        if (k < 0 && qt_yaml_push(ig, qt_yaml_scalar(target)) != QT_OK) { qt_err_set(err, "out of memory"); goto fail; }
    } else {
        if (k >= 0) qt_yaml_remove(ig, k);
        struct ctx c = {r, "<recipe>", err};
        int done = 0;
        for (int i = 0; i < cg->n && !done; i++) {
            struct cargs gw, ga;
            struct qt_scheme gs;
            char have[QT_SCHEME_STR_MAX];
            if (parse_qargs(&c, qt_yaml_get(cg->items[i], "weights"), &gw) != QT_OK ||
                parse_qargs(&c, qt_yaml_get(cg->items[i], "input_activations"), &ga) != QT_OK ||
                to_scheme(&c, NULL, cg->keys[i], &gw, &ga, &gs) != QT_OK)
                goto fail;
            qt_scheme_format(&gs, have, sizeof have);
            struct qt_yaml *t = qt_yaml_get(cg->items[i], "targets");
            if (strcmp(have, want) || !t || t->kind != QT_YAML_SEQ) continue;
            if (qt_yaml_push(t, qt_yaml_scalar(target)) != QT_OK) { qt_err_set(err, "out of memory"); goto fail; }
            done = 1;
        }
        if (!done) {
            char name[32];
            for (int n = 0;; n++) {
                snprintf(name, sizeof name, "group_%d", n);
                if (qt_yaml_find(cg, name) < 0) break;
            }
            if (qt_yaml_set(cg, name, group_node(str_seq(target), &want_s, NULL)) != QT_OK) {
                qt_err_set(err, "out of memory");
                goto fail;
            }
        }
    }
    if (qt_recipe_reparse(r, err) != QT_OK) goto fail;
    qt_yaml_free(saved);
    return QT_OK;
fail:
    return recipe_rollback(r, saved);
}

/* The quantizable modules (".weight" tensors) that pattern text matches and
 * no ignore of modifier mi excludes; names malloc'd into *out (*n). */
static int modules_of(const struct qt_recipe *r, int mi, const struct qt_model *m, const char *text,
                      char ***out, int *n, qt_err *err) {
    struct qt_pattern p;
    *out = NULL;
    *n = 0;
    if (qt_pattern_compile(text, &p, err) != QT_OK) return QT_ERR;
    char mod[1024];
    char **v = calloc((size_t)m->n_tensors + 1, sizeof *v);
    if (!v) { qt_pattern_free(&p); return qt_err_set(err, "out of memory"); }
    int k = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!qt_model_quantizable(m, t)) continue;
        qt_match_module(t, mod, sizeof mod);
        struct qt_mclass cls;
        qt_model_classes(m, t->role, &cls);
        if (!qt_pattern_match(&p, mod, &cls, NULL)) continue;
        int ig = 0;
        for (int j = 0; mi >= 0 && j < r->mods[mi].n_ignore && !ig; j++)
            ig = qt_pattern_match(&r->mods[mi].ignore[j], mod, &cls, NULL) != QT_MATCH_NONE;
        if (!ig && !(v[k++] = strdup(mod))) { qt_pattern_free(&p); *out = v; *n = k; return qt_err_set(err, "out of memory"); }
    }
    qt_pattern_free(&p);
    *out = v;
    *n = k;
    return QT_OK;
}

static void free_names(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

int qt_recipe_set_scheme_on(struct qt_recipe *r, const struct qt_model *m, const char *target,
                            const char *scheme, qt_err *err) {
    struct qt_yaml *saved = m ? qt_yaml_copy(r->root) : NULL;
    if (m && !saved) return qt_err_set(err, "out of memory");
    if (qt_recipe_set_scheme(r, target, scheme, err) != QT_OK) { qt_yaml_free(saved); return QT_ERR; }
    if (!m || strncmp(target, "re:", 3) || !strcmp(scheme, "bf16")) { qt_yaml_free(saved); return QT_OK; }
    /* Does the new regex lose, for some module, to another group's target of
     * the same strength (which sorts first)? */
    struct qt_resolution res;
    if (qt_recipe_resolve(r, m, &res, err) != QT_OK) goto fail;
    int mi = -1;
    for (int i = 0; i < r->n_mods && mi < 0; i++)
        if (r->mods[i].quantizes) mi = i;
    char **names = NULL;
    int n = 0, lost = 0;
    char want[QT_SCHEME_STR_MAX];
    struct qt_scheme ws;
    if (qt_scheme_parse(scheme, &ws, err) != QT_OK || modules_of(r, mi, m, target, &names, &n, err) != QT_OK) {
        qt_resolution_free(&res);
        free_names(names, n);
        goto fail;
    }
    qt_scheme_format(&ws, want, sizeof want);
    for (int k = 0; k < n && !lost; k++) {
        char wname[1100];
        snprintf(wname, sizeof wname, "%s.weight", names[k]);
        int ti = qt_model_find_index(m, wname);
        if (ti >= 0 && strcmp(res.t[ti].scheme, want)) lost = 1;
    }
    qt_resolution_free(&res);
    if (!lost) { free_names(names, n); qt_yaml_free(saved); return QT_OK; }
    /* Exact names beat every regex: name the modules one by one. */
    struct qt_yaml *args = quant_args(r, err);
    struct qt_yaml *cg = args ? qt_yaml_get(args, "config_groups") : NULL;
    for (int i = 0; cg && i < cg->n; i++) {
        struct qt_yaml *t = qt_yaml_get(cg->items[i], "targets");
        int k = seq_find(t, target);
        if (k >= 0) qt_yaml_remove(t, k);
    }
    int rc = qt_recipe_reparse(r, err);
    for (int k = 0; k < n && rc == QT_OK; k++) rc = qt_recipe_set_scheme(r, names[k], scheme, err);
    free_names(names, n);
    if (rc != QT_OK) goto fail;
    qt_yaml_free(saved);
    return QT_OK;
fail:
    return recipe_rollback(r, saved);
}
