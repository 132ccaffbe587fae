/* cmd_bench.c — `qtune bench NAME [--json]`: runs one benchmark, which
 * reports a value and a baseline measured in the same run, and their ratio. */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "backend/select.h"

cJSON *cli_bench_result(const char *name, const char *metric, double value, double baseline, double ratio,
                        const char *unit, cJSON **detail) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddStringToObject(j, "metric", metric);
    cJSON_AddNumberToObject(j, "value", value);
    cJSON_AddNumberToObject(j, "baseline", baseline);
    cJSON_AddNumberToObject(j, "ratio", ratio);
    cJSON_AddStringToObject(j, "unit", unit);
    *detail = cJSON_AddObjectToObject(j, "detail");
    return j;
}

struct bench_row {
    const char *name, *summary;
    int (*fn)(void **, qt_err *);
};

static const struct bench_row benches[] = {
#define QT_BENCH_ROW(n, s) {#n, s, qt_bench_##n},
    QT_BENCHES(QT_BENCH_ROW)
#undef QT_BENCH_ROW
};
#define N_BENCHES (int)(sizeof benches / sizeof benches[0])

const char *qt_bench_format = "ct";

static int bench_help(FILE *f) {
    fprintf(f, "usage: qtune bench NAME [--format ct|gguf] [--json]\n");
    for (int i = 0; i < N_BENCHES; i++)
        if (benches[i].fn) fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].summary);
    return 0;
}

static void print_text(const cJSON *j) {
    const cJSON *name = cJSON_GetObjectItem(j, "name"), *metric = cJSON_GetObjectItem(j, "metric");
    const cJSON *v = cJSON_GetObjectItem(j, "value"), *b = cJSON_GetObjectItem(j, "baseline");
    const cJSON *r = cJSON_GetObjectItem(j, "ratio"), *u = cJSON_GetObjectItem(j, "unit");
    printf("%s: %s = %.4g %s (baseline %.4g %s, ratio %.3f)\n",
           cJSON_GetStringValue(name), cJSON_GetStringValue(metric),
           v ? v->valuedouble : 0, cJSON_GetStringValue(u), b ? b->valuedouble : 0,
           cJSON_GetStringValue(u), r ? r->valuedouble : 0);
    const cJSON *dev = cJSON_GetObjectItem(j, "device");
    if (dev) printf("  %-28s %s\n", "backend", cJSON_GetStringValue(dev));
    const cJSON *d = cJSON_GetObjectItem(j, "detail"), *it;
    cJSON_ArrayForEach(it, d) {
        if (cJSON_IsNumber(it)) printf("  %-28s %.6g\n", it->string, it->valuedouble);
        else if (cJSON_IsString(it)) printf("  %-28s %s\n", it->string, it->valuestring);
    }
}

int qt_cmd_bench(int argc, char **argv) {
    const char *name = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return bench_help(stdout);
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--format")) {
            if (++i >= argc) return cli_failf("bench: --format: missing value");
            if (strcmp(argv[i], "ct") && strcmp(argv[i], "gguf")) return cli_failf("bench: --format %s: expected ct or gguf", argv[i]);
            qt_bench_format = argv[i];
        }
        else if (argv[i][0] == '-') return cli_failf("bench: unknown option %s", argv[i]);
        else name = argv[i];
    }
    if (!name) { bench_help(stderr); return 2; }
    for (int i = 0; i < N_BENCHES; i++) {
        if (!benches[i].fn || strcmp(benches[i].name, name)) continue;
        void *doc = NULL;
        qt_err err = {{0}};
        if (benches[i].fn(&doc, &err) != QT_OK) return cli_fail(&err);
        char be[256];
        qt_backend_describe(be, sizeof be);
        cJSON_AddStringToObject((cJSON *)doc, "backend", qt_backend_active_name());
        cJSON_AddStringToObject((cJSON *)doc, "device", be);
        if (json) cli_print_json(doc);
        else { print_text(doc); cJSON_Delete(doc); }
        return 0;
    }
    return cli_failf("bench: %s: no such benchmark (qtune bench --help lists them)", name);
}
