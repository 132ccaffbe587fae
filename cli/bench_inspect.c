/* bench_inspect.c — `qtune bench inspect`: time to open the GLM-4.6 metadata
 * model (~45,000 tensors: config parse, name/shape table, roles, sort, index,
 * fused groups).  Baseline, measured in the same run: generating the bare
 * name/shape table from the parsed config, the part no open can skip. */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "model/arch.h"
#include "cli.h"
#include "model/model.h"

int qt_bench_inspect(void **json_out, qt_err *err) {
    const char *root = getenv("QTUNE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/share/models/meta/GLM-4.6.config.json", root ? root : ".");
    const int reps = 10;
    double best = 1e9, base = 1e9;
    int ntensors = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = qt_now();
        struct qt_model *m;
        if (qt_model_open(path, &m, err) != QT_OK) return QT_ERR;
        double t1 = qt_now();
        ntensors = m->n_tensors;
        struct qt_tensor_list l = {0};
        double t2 = qt_now();
        if (qt_arch_tensors(qt_arch_find(m->cfg.model_type), &m->cfg, &l, err) != QT_OK) { qt_model_free(m); return QT_ERR; }
        double t3 = qt_now();
        for (int i = 0; i < l.n; i++) free(l.v[i].name);
        free(l.v);
        qt_model_free(m);
        if (t1 - t0 < best) best = t1 - t0;
        if (t3 - t2 < base) base = t3 - t2;
    }
    cJSON *d;
    cJSON *j = cli_bench_result("inspect", "open GLM-4.6 metadata model", best * 1e3, base * 1e3, base > 0 ? best / base : 0, "ms", &d);
    cJSON_AddNumberToObject(d, "tensors", ntensors);
    cJSON_AddNumberToObject(d, "runs", reps);
    cJSON_AddNumberToObject(d, "budget_ms", 300);
    cJSON_AddStringToObject(d, "within_budget", best * 1e3 < 300 ? "yes" : "no");
    cJSON_AddStringToObject(d, "baseline_is", "name/shape table generation alone");
    *json_out = j;
    return QT_OK;
}
