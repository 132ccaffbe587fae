/* test_report.c — the pieces the CLI and the daemon share: the JSON builders
 * of engine/report.h (field sets and the two flags), the GPU catalog search,
 * qt_hash_more and qt_mkdirs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/hmap.h"
#include "model/model.h"
#include "recipe/recipe.h"
#include "io/report.h"
#include "tu.h"

static const char *keys(const cJSON *o, char *buf, size_t n) {
    const cJSON *c;
    buf[0] = 0;
    cJSON_ArrayForEach(c, o) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "," : "", c->string);
    return buf;
}

TU_TEST(eval_and_write_fields) {
    struct qt_kl_stats st = {.kld_mean = 0.5, .same_top_p = 0.9, .positions = 7, .tensors_quantized = 3};
    char b[512];
    cJSON *j = qt_eval_json(NULL, &st);
    TU_CHECK(!strcmp(keys(j, b, sizeof b), "kld,same_top_p,ppl_base,ppl_q,ln_ppl_ratio,rms_dp,positions,tensors_quantized,backend"));
    TU_CHECK(!strcmp(keys(cJSON_GetObjectItem(j, "kld"), b, sizeof b), "mean,stderr,median,p90,p99,p999,max"));
    TU_CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "kld"), "mean")->valuedouble == 0.5);
    TU_CHECK(cJSON_GetObjectItem(j, "positions")->valuedouble == 7);
    cJSON_Delete(j);
    /* into: the caller's fields first */
    struct qt_write_result wr = {.n_quantized = 4, .n_kept = 5, .n_shards = 1, .bytes_source = 10, .bytes_written = 6};
    j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "mine", "x");
    TU_CHECK(qt_write_json(j, "out", &wr) == j);
    TU_CHECK(!strcmp(keys(j, b, sizeof b), "mine,out,modules_quantized,tensors_kept,shards,bytes_source,bytes_written,seconds,backend,arith"));
    cJSON_Delete(j);
}

TU_TEST(lint_and_patterns) {
    qt_err err = {{0}};
    struct qt_model *m = NULL;
    struct qt_recipe *r = NULL;
    struct qt_resolution res = {0};
    char b[512];
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    if (!m) return;
    /* no recipe: no findings */
    cJSON *j = qt_lint_json(NULL, m, NULL);
    TU_CHECK(!strcmp(keys(j, b, sizeof b), "findings,errors,warnings"));
    TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "findings")) == 0);
    TU_CHECK(cJSON_GetObjectItem(j, "errors")->valuedouble == 0);
    cJSON_Delete(j);
    TU_CHECK(qt_recipe_load(tu_path("recipes/tiny-w4a16.yaml"), &r, &err) == QT_OK);
    TU_CHECK(r && qt_recipe_resolve(r, m, &res, &err) == QT_OK);
    /* the ignore row: group/scheme null only with null_absent */
    for (int nulls = 0; r && nulls < 2; nulls++) {
        cJSON *a = qt_patterns_json(r, nulls), *o;
        int ignores = 0;
        cJSON_ArrayForEach(o, a) {
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")), "ignore")) continue;
            ignores++;
            TU_CHECK(!strcmp(keys(o, b, sizeof b),
                             nulls ? "pattern,kind,modifier,group,scheme,matches" : "pattern,kind,modifier,matches"));
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "pattern")), "lm_head"))
                TU_CHECK(cJSON_GetObjectItem(o, "matches")->valuedouble == 1);
        }
        TU_CHECK(ignores > 0);
        cJSON_Delete(a);
    }
    cJSON *a = qt_patterns_json(NULL, 1);
    TU_CHECK(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 0);
    cJSON_Delete(a);
    qt_resolution_free(&res);
    qt_recipe_free(r);
    qt_model_free(m);
}

TU_TEST(deploy_catalog_and_json) {
    qt_err err = {{0}};
    struct qt_gpu_catalog cat;
    TU_CHECK(qt_gpu_catalog_load_default(tu_path("share/gpus.yaml"), &cat, &err) == QT_OK);
    const struct qt_gpu *g = qt_gpu_find(&cat, "h100");
    TU_CHECK(g != NULL);
    /* $QTUNE_GPUS comes before the copy beside the binary */
    char *old = getenv("QTUNE_GPUS") ? strdup(getenv("QTUNE_GPUS")) : NULL;
    setenv("QTUNE_GPUS", "/nonexistent/gpus.yaml", 1);
    struct qt_gpu_catalog c2;
    TU_CHECK(qt_gpu_catalog_load_default(NULL, &c2, &err) == QT_ERR && strstr(err.msg, "/nonexistent/gpus.yaml"));
    if (old) setenv("QTUNE_GPUS", old, 1);
    else unsetenv("QTUNE_GPUS");
    free(old);
    if (g) {
        struct qt_deploy d = {.weights_bytes = 100, .mtp_bytes = 30};
        char b[1024];
        cJSON *j = qt_deploy_json(NULL, &d, g);
        TU_CHECK(cJSON_GetObjectItem(j, "weights_bytes_without_mtp")->valuedouble == 70);
        TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "per_gpu")) == 4);
        TU_CHECK(!strncmp(keys(j, b, sizeof b), "weights_bytes,mtp_bytes,weights_bytes_without_mtp,replicated_bytes,",
                          strlen("weights_bytes,mtp_bytes,weights_bytes_without_mtp,replicated_bytes,")));
        cJSON_Delete(j);
    }
    qt_gpu_catalog_free(&cat);
}

TU_TEST(hash_and_mkdirs) {
    uint64_t h = qt_hash_more(QT_HASH_SEED, "ab", 2);
    TU_CHECK(qt_hash_more(h, "cd", 2) == qt_hash_bytes("abcd", 4));
    TU_CHECK(qt_hash_bytes("", 0) == QT_HASH_SEED);
    /* pinned (python during development): the cache file names depend on it.
     * The seed is not FNV's offset basis 14695981039346656037 (a digit
     * short), so this is not the published FNV-1a vector 0xaf63dc4c8601ec8c. */
    TU_CHECK(qt_hash_bytes("a", 1) == 0x44bd8ad473cd9906ull);
    char dir[4200], file[4300], sub[4400];
    qt_err err = {{0}};
    snprintf(dir, sizeof dir, "%s/a/b//c/", tu_tmpdir("report_mkdirs"));
    TU_CHECK(qt_mkdirs(dir, 0700, &err) == QT_OK);
    struct stat st;
    TU_CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    TU_CHECK(qt_mkdirs(dir, 0700, &err) == QT_OK); /* exists: fine */
    snprintf(file, sizeof file, "%sf", dir);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    snprintf(sub, sizeof sub, "%s/sub", file);
    TU_CHECK(qt_mkdirs(sub, 0700, &err) == QT_ERR && strstr(err.msg, file) && strstr(err.msg, "Not a directory"));
    TU_CHECK(qt_mkdirs("", 0700, &err) == QT_ERR);
}

int main(void) {
    TU_RUN(eval_and_write_fields);
    TU_RUN(lint_and_patterns);
    TU_RUN(deploy_catalog_and_json);
    TU_RUN(hash_and_mkdirs);
    return TU_END();
}
