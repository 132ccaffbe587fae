/* test_edit.c — edit intents (engine/recipe/edit.h): scheme steps, the tree
 * of the tiny model, node edits kept an antichain, un-ignore. */
#include "recipe/edit.h"
#include "tu.h"

static struct qt_model *m;
static struct qt_tree t;

static const char *step(const char *cur, enum qt_edit_action a) {
    static char out[8][QT_SCHEME_STR_MAX];
    static int k;
    char *o = out[k++ & 7], why[256];
    if (!qt_scheme_step(cur, a, o, QT_SCHEME_STR_MAX, why, sizeof why)) snprintf(o, QT_SCHEME_STR_MAX, "-");
    return o;
}

TU_TEST(scheme_steps) {
    TU_CHECK(!strcmp(step("bf16", QT_EDIT_BITS_DOWN), "int8-g128-sym"));
    TU_CHECK(!strcmp(step("bf16", QT_EDIT_BITS_UP), "-"));
    TU_CHECK(!strcmp(step("bf16", QT_EDIT_TYPE), "fp8-ch"));
    TU_CHECK(!strcmp(step("bf16", QT_EDIT_GROUP), "int4-g128-sym"));
    TU_CHECK(!strcmp(step("int8-g128-sym", QT_EDIT_BITS_DOWN), "int7-g128-sym"));
    TU_CHECK(!strcmp(step("int4-g128-sym", QT_EDIT_BITS_UP), "int5-g128-sym"));
    TU_CHECK(!strcmp(step("int8-g128-sym", QT_EDIT_BITS_UP), "bf16"));
    TU_CHECK(!strcmp(step("int2-g128-sym", QT_EDIT_BITS_DOWN), "-"));
    TU_CHECK(!strcmp(step("int4-g32-sym", QT_EDIT_GROUP), "int4-g64-sym"));
    TU_CHECK(!strcmp(step("int4-g128-sym", QT_EDIT_SYM), "int4-g128-asym"));
    TU_CHECK(!strcmp(step("int4-g128-sym", QT_EDIT_TYPE), "fp8-ch"));
    TU_CHECK(!strcmp(step("fp8-ch", QT_EDIT_BITS_DOWN), "nvfp4"));
    TU_CHECK(!strcmp(step("fp8-ch", QT_EDIT_SYM), "-"));
    TU_CHECK(!strcmp(step("nvfp4", QT_EDIT_BITS_UP), "fp8-ch"));
    TU_CHECK(!strcmp(step("nvfp4", QT_EDIT_GROUP), "mxfp4"));
    char why[256] = "";
    char out[QT_SCHEME_STR_MAX];
    TU_CHECK(!qt_scheme_step("int2-g128-sym", QT_EDIT_BITS_DOWN, out, sizeof out, why, sizeof why));
    TU_CHECK(strstr(why, "no fewer bits") != NULL);
    TU_CHECK(qt_edit_action_parse("bits-") == QT_EDIT_BITS_DOWN);
    TU_CHECK(qt_edit_action_parse("ignore-pattern") == QT_EDIT_IGNORE_PATTERN);
    TU_CHECK(qt_edit_action_parse("bits") < 0);
    for (int a = 0; a < QT_EDIT_N; a++) TU_CHECK(qt_edit_action_parse(qt_edit_action_name(a)) == a);
}

/* Resolves r on m into schemes (n_tensors; "bf16" when kept). */
static void resolve(struct qt_recipe *r, const char **schemes, struct qt_resolution *rs) {
    qt_err err;
    qt_resolution_free(rs);
    memset(rs, 0, sizeof *rs);
    if (qt_recipe_resolve(r, m, rs, &err) != QT_OK) { printf("  resolve: %s\n", err.msg); return; }
    for (int i = 0; i < m->n_tensors; i++)
        schemes[i] = rs->t[i].quantized && rs->t[i].scheme ? rs->t[i].scheme : "bf16";
}

static int edit(struct qt_recipe *r, const char **schemes, enum qt_edit_action a, const char *target,
                struct qt_edit_outcome *o) {
    int node = qt_tree_find(&t, target);
    struct qt_edit e = {.action = a, .n_nodes = 1, .nodes = &node};
    qt_err err;
    if (node < 0) { printf("  no node %s\n", target); return QT_ERR; }
    int rc = qt_edit_apply(&t, r, schemes, &e, o, &err);
    if (rc != QT_OK) printf("  edit: %s\n", err.msg);
    return rc;
}

static int count(const char **schemes, const char *prefix, const char *sc) {
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (!strncmp(m->tensors[i].name, prefix, strlen(prefix)) && !strcmp(schemes[i], sc)) n++;
    return n;
}

TU_TEST(tree_and_edits) {
    qt_err err;
    TU_CHECK(t.n > 1 && !strcmp(t.nodes[0].target, "Linear"));
    const char *X1 = "re:model\\.layers\\.1\\.mlp\\.experts\\.", *L1 = "re:model\\.layers\\.1\\.";
    const char *E3 = "re:model\\.layers\\.1\\.mlp\\.experts\\.3\\.";
    TU_CHECK(qt_tree_find(&t, X1) > 0);
    TU_CHECK(qt_tree_find(&t, "re:nothing") < 0);
    struct qt_recipe *r;
    TU_CHECK(qt_recipe_new(&r, &err) == QT_OK);
    const char **schemes = calloc((size_t)m->n_tensors, sizeof *schemes);
    struct qt_resolution rs = {0};
    struct qt_edit_outcome o;
    resolve(r, schemes, &rs);
    int n_exp = count(schemes, "model.layers.1.mlp.experts.", "bf16");
    TU_CHECK(n_exp > 0);
    /* five steps down, each from the resolution of the one before */
    for (int k = 0; k < 5; k++) {
        TU_CHECK(edit(r, schemes, QT_EDIT_BITS_DOWN, X1, &o) == QT_OK && o.changed == 1);
        resolve(r, schemes, &rs);
    }
    TU_CHECK(!strcmp(o.scheme, "int4-g128-sym"));
    TU_CHECKF(count(schemes, "model.layers.1.mlp.experts.", "int4-g128-sym") == n_exp, "%d of %d",
              count(schemes, "model.layers.1.mlp.experts.", "int4-g128-sym"), n_exp);
    TU_CHECK(count(schemes, "model.layers.2.", "bf16") == count(schemes, "model.layers.2.", "bf16"));
    /* the layer to int8, then one expert of it to int4: the layer entry
     * stays, the expert is overridden by its modules' exact names (its own
     * regex would sort after the layer's and lose) */
    TU_CHECK(edit(r, schemes, QT_EDIT_SET, L1, &o) == QT_ERR);   /* set needs a scheme */
    int l1 = qt_tree_find(&t, L1), e3 = qt_tree_find(&t, E3);
    struct qt_edit e = {.action = QT_EDIT_SET, .n_nodes = 1, .nodes = &l1, .scheme = "int8-g128-sym"};
    TU_CHECK(qt_edit_apply(&t, r, schemes, &e, &o, &err) == QT_OK);
    resolve(r, schemes, &rs);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.", "int8-g128-sym") == n_exp);
    e = (struct qt_edit){.action = QT_EDIT_SET, .n_nodes = 1, .nodes = &e3, .scheme = "int4-g128-sym"};
    TU_CHECK(qt_edit_apply(&t, r, schemes, &e, &o, &err) == QT_OK);
    resolve(r, schemes, &rs);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.3.", "int4-g128-sym") == t.nodes[e3].n_members);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.", "int8-g128-sym") == n_exp - t.nodes[e3].n_members);
    size_t len;
    char *text = qt_recipe_dump(r, &len, &err);
    TU_CHECKF(text && strstr(text, "'re:model\\.layers\\.1\\.'") && strstr(text, "model.layers.1.mlp.experts.3.up_proj") &&
              !strstr(text, "experts\\.4\\."), "%s", text);
    /* the router stays kept (a layer's regex matches it: ignored by name) */
    TU_CHECK(text && strstr(text, "mlp.gate"));
    free(text);
    /* ignore, then ignore again: the second un-ignores */
    TU_CHECK(edit(r, schemes, QT_EDIT_IGNORE, E3, &o) == QT_OK && !o.all_kept && !strcmp(o.scheme, "bf16"));
    resolve(r, schemes, &rs);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.3.", "bf16") == t.nodes[e3].n_members);
    TU_CHECK(edit(r, schemes, QT_EDIT_IGNORE, E3, &o) == QT_OK && o.all_kept);
    /* a step that cannot be made changes nothing and says why */
    TU_CHECK(edit(r, schemes, QT_EDIT_BITS_UP, "re:model\\.layers\\.2\\.", &o) == QT_OK && !o.changed);
    TU_CHECK(strstr(o.why, "already kept") != NULL);
    /* patterns */
    e = (struct qt_edit){.action = QT_EDIT_TARGET, .n_nodes = 1, .nodes = &e3, .pattern = "re:.*q_proj"};
    TU_CHECK(qt_edit_apply(&t, r, schemes, &e, &o, &err) == QT_OK && !strcmp(o.scheme, "int4-g128-sym"));
    e = (struct qt_edit){.action = QT_EDIT_TARGET, .n_nodes = 0, .pattern = "re:(x"};
    TU_CHECK(qt_edit_apply(&t, r, schemes, &e, &o, &err) == QT_ERR);
    int bad = t.n;
    e = (struct qt_edit){.action = QT_EDIT_IGNORE, .n_nodes = 1, .nodes = &bad};
    TU_CHECK(qt_edit_apply(&t, r, schemes, &e, &o, &err) == QT_ERR);
    qt_resolution_free(&rs);
    free(schemes);
    qt_recipe_free(r);
}

/* Targets written in the recipe, all groups. */
static int n_targets(const struct qt_recipe *r) {
    int n = 0;
    for (int g = 0; g < r->n_groups; g++) n += r->groups[g].n_targets;
    return n;
}

static int edit_nodes(struct qt_recipe *r, const char **schemes, enum qt_edit_action a, const int *nodes, int n,
                      const char *sc) {
    struct qt_edit e = {.action = a, .n_nodes = n, .nodes = nodes, .scheme = sc};
    struct qt_edit_outcome o;
    qt_err err;
    int rc = qt_edit_apply(&t, r, schemes, &e, &o, &err);
    if (rc != QT_OK) printf("  edit: %s\n", err.msg);
    return rc == QT_OK && o.changed ? QT_OK : QT_ERR;
}

/* Marking 2 experts of a group and lowering them writes the group's
 * pattern plus an override for the two, not one entry per expert; raising
 * them back folds the recipe back to what it was. */
TU_TEST(minimal_overrides) {
    qt_err err;
    const char *X1 = "re:model\\.layers\\.1\\.mlp\\.experts\\.", *L1 = "re:model\\.layers\\.1\\.";
    int x1 = qt_tree_find(&t, X1), l1 = qt_tree_find(&t, L1);
    int ex[2] = {qt_tree_find(&t, "re:model\\.layers\\.1\\.mlp\\.experts\\.3\\."),
                 qt_tree_find(&t, "re:model\\.layers\\.1\\.mlp\\.experts\\.4\\.")};
    TU_CHECK(x1 > 0 && l1 > 0 && ex[0] > 0 && ex[1] > 0);
    struct qt_recipe *r;
    TU_CHECK(qt_recipe_new(&r, &err) == QT_OK);
    const char **schemes = calloc((size_t)m->n_tensors, sizeof *schemes);
    struct qt_resolution rs = {0};
    resolve(r, schemes, &rs);
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, &x1, 1, "int4-g128-sym") == QT_OK);
    resolve(r, schemes, &rs);
    char *before = qt_recipe_dump(r, NULL, &err);
    int n_exp = count(schemes, "model.layers.1.mlp.experts.", "int4-g128-sym");
    TU_CHECK(n_targets(r) == 1 && n_exp == t.nodes[x1].n_members);
    /* 3 and 4 one bit down: the group's regex plus their 2 x 3 exact names */
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_BITS_DOWN, ex, 2, NULL) == QT_OK);
    resolve(r, schemes, &rs);
    char *text = qt_recipe_dump(r, NULL, &err);
    TU_CHECKF(n_targets(r) == 1 + t.nodes[ex[0]].n_members + t.nodes[ex[1]].n_members, "%d targets:\n%s",
              n_targets(r), text);
    TU_CHECK(text && strstr(text, X1 + 3) && !strstr(text, "experts\\.5\\.") && !strstr(text, "experts.5."));
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.3.", "int3-g128-sym") == t.nodes[ex[0]].n_members);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.4.", "int3-g128-sym") == t.nodes[ex[1]].n_members);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.", "int4-g128-sym") ==
             n_exp - t.nodes[ex[0]].n_members - t.nodes[ex[1]].n_members);
    free(text);
    /* back up: the overrides go, the recipe is the one before */
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_BITS_UP, ex, 2, NULL) == QT_OK);
    resolve(r, schemes, &rs);
    text = qt_recipe_dump(r, NULL, &err);
    TU_CHECKF(text && before && !strcmp(text, before), "before:\n%s\nafter:\n%s", before, text);
    free(text);
    /* under a class target (Linear), an override is the expert's own regex */
    int root = 0;
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, &root, 1, "int8-ch-sym") == QT_OK);
    resolve(r, schemes, &rs);
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, ex, 2, "int4-g128-sym") == QT_OK);
    resolve(r, schemes, &rs);
    text = qt_recipe_dump(r, NULL, &err);
    TU_CHECKF(text && strstr(text, "experts\\.3\\.") && strstr(text, "experts\\.4\\.") && !strstr(text, "experts.3.") &&
              n_targets(r) == 3, "%d targets:\n%s", n_targets(r), text);
    free(text);
    /* every expert of the group the same again: one entry for the group */
    for (int c = t.nodes[x1].first_child; c >= 0; c = t.nodes[c].next) {
        TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, &c, 1, "int4-g128-sym") == QT_OK ||
                 c == ex[0] || c == ex[1]);
        resolve(r, schemes, &rs);
    }
    text = qt_recipe_dump(r, NULL, &err);
    TU_CHECKF(text && strstr(text, X1 + 3) && !strstr(text, "experts\\.3\\.") && n_targets(r) == 2, "%d targets:\n%s",
              n_targets(r), text);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.", "int4-g128-sym") == n_exp);
    free(text);
    /* the experts group under a layer's regex: the layer is split (its few
     * other children), not the group named tensor by tensor */
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, &l1, 1, "int8-ch-sym") == QT_OK);
    resolve(r, schemes, &rs);
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, &x1, 1, "int4-g128-sym") == QT_OK);
    resolve(r, schemes, &rs);
    text = qt_recipe_dump(r, NULL, &err);
    TU_CHECKF(text && !strstr(text, "experts.0.") && n_targets(r) < 10, "%d targets:\n%s", n_targets(r), text);
    TU_CHECK(count(schemes, "model.layers.1.mlp.experts.", "int4-g128-sym") == n_exp);
    TU_CHECK(count(schemes, "model.layers.1.self_attn.", "int8-ch-sym") > 0);
    free(text);
    free(before);
    qt_resolution_free(&rs);
    free(schemes);
    qt_recipe_free(r);
}


/* An llm-compressor style recipe full of comments through the TUI's edits,
 * each followed by the daemon's text round trip (dump, parse): every
 * comment stays, once, beside its entry, until an edit deletes the entry. */
static const char commented[] =
    "# Tiny GLM-MoE, GPTQ W4A16 (the layout of llm-compressor's examples)\n"
    "# second line of the header\n"
    "\n"
    "quant_stage:  # one stage\n"
    "  quant_modifiers:\n"
    "    # GPTQ over every Linear but the head\n"
    "    GPTQModifier:\n"
    "      # the router is no Linear; the head stays bf16\n"
    "      ignore: [lm_head, 're:model\\.layers\\.4\\.']  # MTP layer too\n"
    "      dampening_frac: 0.01   # llm-compressor's default\n"
    "      config_groups:\n"
    "        # the whole model\n"
    "        group_0:\n"
    "          targets: [Linear]  # every projection\n"
    "          weights:\n"
    "            num_bits: 4  # four bits, 'not # a comment'\n"
    "            type: int\n"
    "            symmetric: true\n"
    "            strategy: group\n"
    "            group_size: 128\n"
    "          # no input_activations: weight-only\n"
    "      # actorder: static\n"
    "# end of recipe\n";

static int occurs(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* The daemon's round trip: r's text parsed again (r replaced). */
static char *round_trip(struct qt_recipe **r) {
    qt_err err;
    char *text = qt_recipe_dump(*r, NULL, &err);
    struct qt_recipe *r2 = NULL;
    if (!text || qt_recipe_parse(text, strlen(text), "recipe", &r2, &err) != QT_OK) {
        printf("  round trip: %s\n%s\n", err.msg, text ? text : "");
        free(text);
        return NULL;
    }
    qt_recipe_free(*r);
    *r = r2;
    return text;
}

TU_TEST(comments_through_edits) {
    static const char *const all[] = {
        "# Tiny GLM-MoE, GPTQ W4A16", "# second line of the header", "quant_stage:  # one stage",
        "    # GPTQ over every Linear but the head\n    GPTQModifier:",
        "      # the router is no Linear; the head stays bf16\n      ignore:", "]  # MTP layer too\n",
        "dampening_frac: 0.01  # llm-compressor's default\n", "        # the whole model\n        group_0:",
        "targets: [Linear]  # every projection\n", "num_bits: 4  # four bits, 'not # a comment'\n",
        "      # no input_activations: weight-only\n", "    # actorder: static\n", "# end of recipe\n"};
    const int n_all = (int)(sizeof all / sizeof all[0]);
    qt_err err;
    struct qt_recipe *r = NULL;
    TU_CHECK(qt_recipe_parse(commented, sizeof commented - 1, "c.yaml", &r, &err) == QT_OK);
    if (!r) return;
    const char **schemes = calloc((size_t)m->n_tensors, sizeof *schemes);
    struct qt_resolution rs = {0};
    char *first = round_trip(&r);
    TU_CHECK(first != NULL);
    for (int i = 0; first && i < n_all; i++) TU_CHECKF(occurs(first, all[i]) == 1, "%s\n---\n%s", all[i], first);
    /* the comments sit where they were: the header first, the last last */
    TU_CHECK(first && !strncmp(first, "# Tiny GLM-MoE", 14));
    TU_CHECK(first && strlen(first) > 16 && !strcmp(first + strlen(first) - 16, "# end of recipe\n"));
    resolve(r, schemes, &rs);
    /* the experts of layer 1 one bit down: a group of their own */
    int x1 = qt_tree_find(&t, "re:model\\.layers\\.1\\.mlp\\.experts\\.");
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_BITS_DOWN, &x1, 1, NULL) == QT_OK);
    char *text = round_trip(&r);
    TU_CHECKF(text && occurs(text, "int3") + occurs(text, "num_bits: 3") > 0, "%s", text ? text : "");
    for (int i = 0; text && i < n_all; i++) TU_CHECKF(occurs(text, all[i]) == 1, "%s\n---\n%s", all[i], text);
    free(text);
    resolve(r, schemes, &rs);
    /* and back up: the recipe folds back, comments and all */
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_BITS_UP, &x1, 1, NULL) == QT_OK);
    text = round_trip(&r);
    TU_CHECKF(text && first && !strcmp(text, first), "before:\n%s\nafter:\n%s", first, text ? text : "");
    free(text);
    resolve(r, schemes, &rs);
    /* an ignore pattern added and removed: the ignore entry keeps its comments */
    TU_CHECK(qt_recipe_add_ignore(r, "re:.*shared_experts\\.", &err) == QT_OK);
    text = round_trip(&r);
    TU_CHECKF(text && occurs(text, "shared_experts\\.']  # MTP layer too\n") == 1 &&
              occurs(text, "# the router is no Linear") == 1, "%s", text ? text : "");
    free(text);
    TU_CHECK(qt_recipe_remove_ignore(r, "re:.*shared_experts\\.", &err) == QT_OK);
    text = round_trip(&r);
    TU_CHECKF(text && first && !strcmp(text, first), "before:\n%s\nafter:\n%s", first, text ? text : "");
    free(text);
    resolve(r, schemes, &rs);
    /* the whole model to int8: `Linear` leaves group_0, which goes with
     * the comments inside it; the others stay */
    int root = 0;
    TU_CHECK(edit_nodes(r, schemes, QT_EDIT_SET, &root, 1, "int8-ch-sym") == QT_OK);
    text = round_trip(&r);
    TU_CHECK(text && occurs(text, "num_bits: 8") == 1);
    for (int i = 0; text && i < n_all; i++) {
        int gone = strstr(all[i], "whole model") || strstr(all[i], "every projection") ||
                   strstr(all[i], "four bits") || strstr(all[i], "weight-only");
        TU_CHECKF(occurs(text, all[i]) == !gone, "%s\n---\n%s", all[i], text);
    }
    free(text);
    qt_resolution_free(&rs);
    free(schemes);
    free(first);
    qt_recipe_free(r);
}

/* Comments the fuzzer moved or turned into text between a dump and the
 * dump of its re-read (found by fuzz_recipe; each dump is read back as
 * itself): after a flow collection, after a folded scalar, inside a flow
 * list; and a null inside a flow mapping. */
static void dump_twice(const char *y, char **d1, char **d2) {
    struct qt_recipe *r = NULL, *r2 = NULL;
    qt_err err;
    size_t n;
    *d1 = *d2 = NULL;
    if (qt_recipe_parse(y, strlen(y), "f.yaml", &r, &err) != QT_OK) return;
    *d1 = qt_recipe_dump(r, &n, &err);
    if (*d1 && qt_recipe_parse(*d1, n, "d.yaml", &r2, &err) == QT_OK) *d2 = qt_recipe_dump(r2, NULL, &err);
    qt_recipe_free(r);
    qt_recipe_free(r2);
}

TU_TEST(comment_dump_fixed_point) {
    static const char *in[] = {
        "a: &x {p: 1, q: [2, 3]}\nb: *x\n  # indented under b\ne: 1\n",
        "c: {p: 1}\n  # indented under c\ne: 1\n",
        "d: >-\n    folded text\n  # a comment, not text\ne: 1\n",
        "t: [\n# inside the brackets\nLinear]\ns: 1\n",
        "QuantizationModifier: {targets: [Linear], ignore: }\n",
    };
    static const char *want[] = {
        "b: {p: 1, q: [2, 3]}\n  # indented under b\n",
        "c: {p: 1}\n  # indented under c\n",
        "d: >-\n  folded text\n # a comment, not text\n",
        "# inside the brackets\nt: [Linear]\n",
        "ignore: null}",
    };
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        char *d1, *d2;
        dump_twice(in[i], &d1, &d2);
        TU_CHECK(d1 && d2 && !strcmp(d1, d2));
        TU_CHECK(d1 && strstr(d1, want[i]));
        if (d1 && !strstr(d1, want[i])) fprintf(stderr, "case %zu: %s", i, d1);
        free(d1);
        free(d2);
    }
}

int main(void) {
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK ||
        qt_tree_build(&t, m, &err) != QT_OK) {
        printf("FAIL setup: %s\n", err.msg);
        return 1;
    }
    TU_RUN(scheme_steps);
    TU_RUN(tree_and_edits);
    TU_RUN(minimal_overrides);
    TU_RUN(comments_through_edits);
    TU_RUN(comment_dump_fixed_point);
    qt_tree_free(&t);
    qt_model_free(m);
    return TU_END();
}
