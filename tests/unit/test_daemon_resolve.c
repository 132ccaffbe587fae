/* test_daemon_resolve.c — the daemon's `resolve` op in its two forms (the
 * full per-tensor objects and the compact parallel lists) agreeing tensor
 * by tensor on the tiny model for real recipes, paged and filtered; and the
 * `match` op (the pattern prompt's count) against the model.  In-process
 * daemon (QT_CLIENT_INPROC). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "daemon/client.h"
#include "model/match.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "tu.h"

/* a reply may be slow on a loaded machine: wait for it generously */
#define CALL_MS 300000

static struct qt_client *c;
static struct qt_model *m;

static cJSON *call_json(const char *json, qt_err *err) {
    cJSON *req = cJSON_Parse(json);
    if (!req) { qt_err_set(err, "bad test json"); return NULL; }
    return qt_client_call(c, req, CALL_MS, err);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

/* One resolve request for text: compact or not, a page, a filter. */
static cJSON *resolve(const char *text, int compact, int offset, int limit, const char *filter) {
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "op", "resolve");
    cJSON_AddStringToObject(q, "text", text);
    if (compact) cJSON_AddTrueToObject(q, "compact");
    cJSON_AddNumberToObject(q, "offset", offset);
    cJSON_AddNumberToObject(q, "limit", limit);
    if (filter) cJSON_AddStringToObject(q, "filter", filter);
    qt_err err;
    cJSON *r = qt_client_call(c, q, CALL_MS, &err);
    if (!r) printf("  resolve: %s\n", err.msg);
    return r;
}

/* Compares the full form (one page) with the compact form asked in pages of
 * `page`; returns the number of tensors that disagree (-1: no answer). */
static int compare(const char *text, int page, const char *filter, int *n_quantized) {
    cJSON *full = resolve(text, 0, 0, -1, filter);
    if (!full) return -1;
    const cJSON *arr = cJSON_GetObjectItem(full, "tensors");
    int count = (int)num(full, "count"), bad = 0, seen = 0;
    *n_quantized = (int)num(full, "n_quantized");
    const cJSON *t = arr ? arr->child : NULL;
    for (int off = 0; off < count; off += page) {
        cJSON *cp = resolve(text, 1, off, page, filter);
        if (!cp) { cJSON_Delete(full); return -1; }
        /* the page-level fields are the same in both forms */
        char *pf = cJSON_PrintUnformatted(cJSON_GetObjectItem(full, "patterns"));
        char *pc = cJSON_PrintUnformatted(cJSON_GetObjectItem(cp, "patterns"));
        if (!pf || !pc || strcmp(pf, pc)) bad++;
        free(pf);
        free(pc);
        if (num(cp, "count") != count || num(cp, "offset") != off || num(cp, "n_quantized") != *n_quantized ||
            num(cJSON_GetObjectItem(cp, "total"), "bytes") != num(cJSON_GetObjectItem(full, "total"), "bytes"))
            bad++;
        if (cJSON_GetObjectItem(cp, "tensors")) bad++;   /* no objects in the compact form */
        const cJSON *names = cJSON_GetObjectItem(cp, "schemes");
        const cJSON *li = cJSON_GetObjectItem(cp, "i"), *ls = cJSON_GetObjectItem(cp, "s");
        const cJSON *lp = cJSON_GetObjectItem(cp, "p"), *lb = cJSON_GetObjectItem(cp, "b");
        const cJSON *lq = cJSON_GetObjectItem(cp, "q");
        if ((filter != NULL) != (li != NULL)) bad++;   /* indices only when filtered */
        int n = cJSON_GetArraySize(ls);
        if (n != cJSON_GetArraySize(lp) || n != cJSON_GetArraySize(lb) || n != cJSON_GetArraySize(lq) ||
            (li && n != cJSON_GetArraySize(li)) || n != (count - off < page ? count - off : page))
            bad++;
        for (int k = 0; k < n && t; k++, t = t->next, seen++) {
            int index = li ? cJSON_GetArrayItem(li, k)->valueint : off + k;
            const cJSON *sch = cJSON_GetArrayItem(names, cJSON_GetArrayItem(ls, k)->valueint);
            const cJSON *pat = cJSON_GetObjectItem(t, "pattern");
            int p = cJSON_GetArrayItem(lp, k)->valueint;
            int q = cJSON_GetArrayItem(lq, k)->valueint;
            int ok = index == (int)num(t, "index") && cJSON_IsString(sch) &&
                     !strcmp(sch->valuestring, cJSON_GetStringValue(cJSON_GetObjectItem(t, "scheme"))) &&
                     (cJSON_IsNull(pat) ? p == -1 : p == pat->valueint) &&
                     cJSON_GetArrayItem(lb, k)->valuedouble == num(t, "bytes") &&
                     q == cJSON_IsString(cJSON_GetObjectItem(t, "algo"));
            if (!ok && bad < 5) printf("  tensor %d (%s) differs\n", index, cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")));
            bad += !ok;
        }
        cJSON_Delete(cp);
    }
    if (seen != count || seen != cJSON_GetArraySize(arr)) bad++;
    cJSON_Delete(full);
    return bad;
}

static char *recipe(const char *rel) {
    size_t n;
    qt_err err;
    char *t = qt_read_file(tu_path(rel), &n, &err);
    if (!t) printf("  %s\n", err.msg);
    return t;
}

TU_TEST(test_resolve_compact_agrees) {
    const char *files[] = {"recipes/tiny-w4a16.yaml", "recipes/glm-4.5-air-sq-gptq-w8a8-2of4.yaml",
                           "recipes/glm-4.x-fp8-dynamic.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *text = recipe(files[i]);
        TU_CHECK(text != NULL);
        if (!text) continue;
        int nq = 0;
        TU_CHECKF(compare(text, 100, NULL, &nq) == 0, "%s", files[i]);   /* 3 pages */
        TU_CHECKF(nq > 0, "%s quantizes nothing", files[i]);
        TU_CHECKF(compare(text, 7, "layers\\.[12]\\.(mlp\\.gate|self_attn)", &nq) == 0, "%s filtered", files[i]);
        free(text);
    }
    /* the empty recipe: everything bf16, pattern -1, a single scheme */
    int nq = -1;
    TU_CHECK(compare("", 1000, NULL, &nq) == 0 && nq == 0);
    cJSON *r = resolve("", 1, 0, 1000, NULL);
    TU_CHECK(r && cJSON_GetArraySize(cJSON_GetObjectItem(r, "schemes")) == 1);
    cJSON_Delete(r);
    /* a page past the end: empty lists */
    r = resolve("", 1, 100000, 10, NULL);
    TU_CHECK(r && cJSON_IsArray(cJSON_GetObjectItem(r, "s")) && cJSON_GetArraySize(cJSON_GetObjectItem(r, "s")) == 0);
    cJSON_Delete(r);
}

/* Tensors whose scheme in the daemon's (full) answer for text differs from
 * resolving text here; -1 when a step fails. */
static int differs_from_local(const char *text) {
    cJSON *r = resolve(text, 0, 0, -1, NULL);
    if (!r) return -1;
    struct qt_recipe *rc = NULL;
    struct qt_resolution rs = {0};
    qt_err err;
    int bad = 0;
    if (*text && (qt_recipe_parse(text, strlen(text), "t", &rc, &err) || qt_recipe_resolve(rc, m, &rs, &err))) {
        printf("  %s\n", err.msg);
        bad = -1;
    }
    const cJSON *t = cJSON_GetObjectItem(r, "tensors")->child;
    for (int i = 0; bad >= 0 && i < m->n_tensors; i++, t = t ? t->next : NULL) {
        const struct qt_resolved *x = rc ? &rs.t[i] : NULL;
        const char *want = x && x->quantized && x->scheme ? x->scheme : "bf16";
        if (!t || strcmp(want, cJSON_GetStringValue(cJSON_GetObjectItem(t, "scheme")))) bad++;
    }
    if (bad >= 0 && num(r, "n_quantized") != (rc ? rs.n_quantized : 0)) bad++;
    qt_resolution_free(&rs);
    qt_recipe_free(rc);
    cJSON_Delete(r);
    return bad;
}

/* The daemon keeps the last few resolutions by text: asking texts in turn,
 * more of them than it keeps, and again, each answer is that text's. */
TU_TEST(test_resolve_cache) {
    char *t[5] = {recipe("recipes/tiny-w4a16.yaml"), recipe("recipes/tiny-w8a16.yaml"),
                  recipe("recipes/glm-4.x-fp8-dynamic.yaml"), qt_strdup(""), NULL};
    TU_CHECK(t[0] && t[1] && t[2] && t[3]);
    if (!t[0] || !t[1] || !t[2] || !t[3]) return;
    /* t[0] with one more ignore entry: a 5th resolution, close to the 1st */
    const char *at = strstr(t[0], "ignore: [lm_head,");
    TU_CHECKF(at != NULL, "tiny-w4a16.yaml ignores lm_head");
    if (!at) return;
    size_t n = strlen(t[0]), k0 = (size_t)(at - t[0]) + strlen("ignore: [lm_head,");
    t[4] = malloc(n + 64);
    TU_CHECK(t[4] != NULL);
    if (!t[4]) return;
    snprintf(t[4], n + 64, "%.*s 're:.*o_proj',%s", (int)k0, t[0], t[0] + k0);
    static const int order[] = {0, 1, 0, 2, 3, 4, 1, 0, 4, 2, 3, 0};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        TU_CHECKF(differs_from_local(t[order[k]]) == 0, "step %zu (text %d)", k, order[k]);
    for (int i = 0; i < 5; i++) free(t[i]);
}

/* Modules a pattern matches, counted here the way the TUI used to. */
static int count_here(const char *pattern) {
    struct qt_pattern p;
    qt_err err;
    if (qt_pattern_compile(pattern, &p, &err) != QT_OK) return -1;
    int n = 0;
    char mod[512];
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!qt_tensor_quantizable(t)) continue;
        qt_match_module(t, mod, sizeof mod);
        struct qt_mclass cls;
        qt_model_classes(m, t->role, &cls);
        if (qt_pattern_match(&p, mod, &cls, NULL) != QT_MATCH_NONE) n++;
    }
    qt_pattern_free(&p);
    return n;
}

TU_TEST(test_match) {
    qt_err err;
    /* layers 2 and 3, 16 experts x 3 projections each */
    cJSON *r = call_json("{\"op\":\"match\",\"pattern\":\"re:model\\\\.layers\\\\.[23]\\\\.mlp\\\\.experts\\\\.\"}", &err);
    TU_CHECK(r && num(r, "modules") == 96);
    const cJSON *names = cJSON_GetObjectItem(r, "names");
    TU_CHECK(cJSON_GetArraySize(names) == 8);   /* the default limit */
    TU_CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(names, 0)), "model.layers.2.mlp.experts.0.gate_proj"));
    cJSON_Delete(r);
    const char *pats[] = {"Linear", "lm_head", "re:.*mlp\\.gate$", "re:.*self_attn\\.(q|k)_proj", "re:nothing$"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "op", "match");
        cJSON_AddStringToObject(q, "pattern", pats[i]);
        cJSON_AddNumberToObject(q, "limit", 1000);
        r = qt_client_call(c, q, CALL_MS, &err);
        int want = count_here(pats[i]);
        TU_CHECKF(r && num(r, "modules") == want && cJSON_GetArraySize(cJSON_GetObjectItem(r, "names")) == want,
                  "%s: %g, want %d", pats[i], r ? num(r, "modules") : -1, want);
        cJSON_Delete(r);
    }
    r = call_json("{\"op\":\"match\",\"pattern\":\"Linear\",\"limit\":0}", &err);
    TU_CHECK(r && num(r, "modules") == 230 && cJSON_GetArraySize(cJSON_GetObjectItem(r, "names")) == 0);
    cJSON_Delete(r);
    /* an invalid regex: an error reply with the compile error */
    r = call_json("{\"op\":\"match\",\"pattern\":\"re:(x\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "pattern 're:(x'") && strstr(err.msg, "parenthesis"));
    r = call_json("{\"op\":\"match\"}", &err);
    TU_CHECK(!r && strstr(err.msg, "match: no \"pattern\""));
}

int main(void) {
    setenv("QTUNE_HOME", tu_tmpdir("test_daemon_resolve"), 1);
    qt_err err;
    const char *model = tu_path("share/models/tiny-glm-moe");
    char abs[PATH_MAX], req[PATH_MAX + 64];
    if (!realpath(model, abs) || qt_client_connect("resolve", QT_CLIENT_INPROC, -1, &c, &err) ||
        qt_model_open(abs, &m, &err)) {
        printf("FAIL setup: %s\n", err.msg);
        return 1;
    }
    snprintf(req, sizeof req, "{\"op\":\"open\",\"model\":\"%s\"}", abs);
    cJSON *r = call_json(req, &err);
    if (!r) { printf("FAIL open: %s\n", err.msg); return 1; }
    cJSON_Delete(r);
    TU_RUN(test_resolve_compact_agrees);
    TU_RUN(test_resolve_cache);
    TU_RUN(test_match);
    qt_client_close(c);
    qt_model_free(m);
    return TU_END();
}
