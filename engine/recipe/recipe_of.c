/* recipe_of.c — a compressed-tensors checkpoint's quantization_config as a
 * recipe (recipe_of.h). */
#include "recipe/recipe_of.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "base/yamltree.h"
#include "recipe/recipe.h"

/* A JSON scalar as a YAML scalar; NULL for null, objects and arrays. */
static struct qt_yaml *scalar_of(const cJSON *v) {
    char buf[64];
    if (cJSON_IsBool(v)) return qt_yaml_scalar(cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsString(v)) return qt_yaml_scalar(v->valuestring);
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble) snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
        else snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return qt_yaml_scalar(buf);
    }
    return NULL;
}

/* The QuantizationArgs fields a recipe gives (observers are llm-compressor's
 * calibration choice, not what the file holds). */
static struct qt_yaml *args_of(const cJSON *a) {
    static const char *const keys[] = {"num_bits", "type", "symmetric", "strategy", "group_size",
                                       "block_structure", "dynamic", "actorder"};
    struct qt_yaml *m = qt_yaml_map(0);
    for (size_t k = 0; m && k < sizeof keys / sizeof keys[0]; k++) {
        const cJSON *v = cJSON_GetObjectItem(a, keys[k]);
        struct qt_yaml *y = NULL;
        if (cJSON_IsArray(v)) {
            y = qt_yaml_seq(1);
            const cJSON *e;
            cJSON_ArrayForEach(e, v) {
                struct qt_yaml *s = scalar_of(e);
                if (s) qt_yaml_push(y, s);
            }
        } else {
            y = scalar_of(v);
        }
        if (y && qt_yaml_set(m, keys[k], y)) qt_yaml_free(y);
    }
    return m;
}

static struct qt_yaml *strings_of(const cJSON *arr, int flow) {
    struct qt_yaml *s = qt_yaml_seq(flow);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsString(e)) continue;
        struct qt_yaml *y = qt_yaml_scalar(e->valuestring);
        if (y && qt_yaml_push(s, y)) qt_yaml_free(y);
    }
    return s;
}

char *qt_recipe_of_ct(const char *config_path, qt_err *err) {
    size_t len;
    char *text = qt_read_file(config_path, &len, err);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *q = cJSON_GetObjectItem(j, "quantization_config");
    const cJSON *groups = cJSON_GetObjectItem(q, "config_groups");
    const char *method = cJSON_GetStringValue(cJSON_GetObjectItem(q, "quant_method"));
    if (!cJSON_IsObject(groups) || !cJSON_GetArraySize(groups) || (method && strcmp(method, "compressed-tensors"))) {
        cJSON_Delete(j);
        return qt_err_set(err, "%s: no compressed-tensors quantization_config with config groups", config_path), NULL;
    }
    struct qt_yaml *root = qt_yaml_map(0), *stage = qt_yaml_map(0), *mods = qt_yaml_map(0), *qm = qt_yaml_map(0);
    struct qt_yaml *cg = qt_yaml_map(0);
    char *out = NULL;
    if (!root || !stage || !mods || !qm || !cg) goto oom;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        struct qt_yaml *gy = qt_yaml_map(0);
        if (!gy || qt_yaml_set(cg, g->string, gy)) { qt_yaml_free(gy); goto oom; }
        const cJSON *t = cJSON_GetObjectItem(g, "targets");
        if (cJSON_IsArray(t)) qt_yaml_set(gy, "targets", strings_of(t, 1));
        const cJSON *w = cJSON_GetObjectItem(g, "weights"), *ia = cJSON_GetObjectItem(g, "input_activations");
        if (cJSON_IsObject(w)) qt_yaml_set(gy, "weights", args_of(w));
        if (cJSON_IsObject(ia)) qt_yaml_set(gy, "input_activations", args_of(ia));
    }
    const cJSON *ign = cJSON_GetObjectItem(q, "ignore"), *kv = cJSON_GetObjectItem(q, "kv_cache_scheme");
    /* the groups first: a checkpoint's ignore list names every module kept (thousands) */
    qt_yaml_set(qm, "config_groups", cg);
    cg = NULL;
    if (cJSON_IsArray(ign) && cJSON_GetArraySize(ign)) qt_yaml_set(qm, "ignore", strings_of(ign, 0));
    if (cJSON_IsObject(kv)) qt_yaml_set(qm, "kv_cache_scheme", args_of(kv));
    if (qt_yaml_set(mods, "QuantizationModifier", qm)) goto oom;
    qm = NULL;
    if (qt_yaml_set(stage, "quant_modifiers", mods)) goto oom;
    mods = NULL;
    if (qt_yaml_set(root, "quant_stage", stage)) goto oom;
    stage = NULL;
    char *body = qt_yaml_dump(root, &len, err);
    if (body) {
        const char *hdr = "# the checkpoint's quantization_config (config.json): it came without a recipe.yaml\n";
        size_t hl = strlen(hdr);
        out = malloc(hl + len + 1);
        if (out) memcpy(out, hdr, hl), memcpy(out + hl, body, len + 1);
        else qt_err_set(err, "out of memory");
        free(body);
    }
    qt_yaml_free(root);
    cJSON_Delete(j);
    return out;
oom:
    qt_yaml_free(root), qt_yaml_free(stage), qt_yaml_free(mods), qt_yaml_free(qm), qt_yaml_free(cg);
    cJSON_Delete(j);
    return qt_err_set(err, "out of memory"), NULL;
}
