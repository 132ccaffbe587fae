/* bench_preview.c — `qtune bench preview`: bytes of BF16 weights per second
 * turned into error statistics (int4-g128-sym and fp8-ch, all threads),
 * against a plain memcpy of the same buffer measured in the same run.
 * DESIGN §11: memory-bound work should reach >= 0.5 of copy bandwidth. */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "dtype.h"
#include "preview.h"
#include "quant.h"
#include "scheme.h"

/* A weight-like BF16 buffer: roughly gaussian (sum of uniforms), sigma 0.02. */
static void fill(uint16_t *w, int64_t n) {
    uint64_t s = 88172645463325252ull;
    for (int64_t i = 0; i < n; i++) {
        double g = 0;
        for (int k = 0; k < 4; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            g += (double)(s >> 11) / 9007199254740992.0;
        }
        w[i] = qt_f32_to_bf16((float)((g - 2.0) * 0.0346));
    }
}

/* Seconds for one preview of the buffer under scheme s; *rel gets rel_rmse. */
static int time_scheme(const uint16_t *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                       int nthreads, double *t, double *rel, qt_err *err) {
    struct qt_qstats st;
    double t0 = qt_now();
    if (qt_preview_bf16(w, rows, cols, s, NULL, nthreads, &st, err) != QT_OK) return QT_ERR;
    *t = qt_now() - t0;
    *rel = qt_qstats_rel_rmse(&st);
    return QT_OK;
}

int qt_bench_preview(void **json_out, qt_err *err) {
    const int64_t rows = 8192, cols = 16384;     /* 256 MiB of BF16 */
    const size_t bytes = (size_t)(rows * cols) * 2;
    const int reps = 5, nthreads = qt_nthreads();
    uint16_t *w = malloc(bytes), *dst = malloc(bytes);
    if (!w || !dst) { free(w); free(dst); return qt_err_set(err, "bench preview: out of memory"); }
    fill(w, rows * cols);
    memset(dst, 0, bytes);                         /* fault the pages in before timing */
    /* Interleaved, best of reps each: a neighbour's burst of load hits the
     * copy and the previews alike. */
    struct qt_scheme s_int4, s_fp8;
    qt_scheme_parse("int4-g128-sym", &s_int4, NULL);
    qt_scheme_parse("fp8-ch", &s_fp8, NULL);
    double copy = 1e30, t_int4 = 1e30, t_fp8 = 1e30, r_int4 = 0, r_fp8 = 0;
    int rc = QT_OK;
    for (int r = 0; r < reps && rc == QT_OK; r++) {
        double t0 = qt_now(), t;
        memcpy(dst, w, bytes);
        t = qt_now() - t0;
        if (t < copy) copy = t;
        rc = time_scheme(w, rows, cols, &s_int4, nthreads, &t, &r_int4, err);
        if (t < t_int4) t_int4 = t;
        if (rc == QT_OK) rc = time_scheme(w, rows, cols, &s_fp8, nthreads, &t, &r_fp8, err);
        if (t < t_fp8) t_fp8 = t;
    }
    volatile uint16_t sink = dst[rows * cols / 2];    /* the copy is used */
    (void)sink;
    free(w);
    free(dst);
    if (rc != QT_OK) return QT_ERR;
    double gb = (double)bytes / 1e9;
    double v_int4 = gb / t_int4, v_fp8 = gb / t_fp8, v_copy = gb / copy;
    double value = v_int4 < v_fp8 ? v_int4 : v_fp8;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", "preview");
    cJSON_AddStringToObject(j, "metric", "BF16 bytes/s into error statistics (slower of int4-g128-sym, fp8-ch)");
    cJSON_AddNumberToObject(j, "value", value);
    cJSON_AddNumberToObject(j, "baseline", v_copy);
    cJSON_AddNumberToObject(j, "ratio", value / v_copy);
    cJSON_AddStringToObject(j, "unit", "GB/s");
    cJSON *d = cJSON_AddObjectToObject(j, "detail");
    cJSON_AddNumberToObject(d, "int4_g128_sym_gbps", v_int4);
    cJSON_AddNumberToObject(d, "fp8_ch_gbps", v_fp8);
    cJSON_AddNumberToObject(d, "memcpy_gbps", v_copy);
    cJSON_AddNumberToObject(d, "int4_ratio", v_int4 / v_copy);
    cJSON_AddNumberToObject(d, "fp8_ratio", v_fp8 / v_copy);
    cJSON_AddNumberToObject(d, "buffer_mib", (double)bytes / 1048576.0);
    cJSON_AddNumberToObject(d, "threads", nthreads);
    cJSON_AddNumberToObject(d, "runs", reps);
    cJSON_AddStringToObject(d, "kernels", qt_quant_simd_active() ? "avx2" : "portable");
    cJSON_AddNumberToObject(d, "int4_rel_rmse", r_int4);
    cJSON_AddNumberToObject(d, "fp8_rel_rmse", r_fp8);
    cJSON_AddNumberToObject(d, "goal_ratio", 0.5);
    *json_out = j;
    return QT_OK;
}
