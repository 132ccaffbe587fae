/* fuzz_ct.c — the compressed-tensors reader: config.json with its
 * quantization_config and one shard (parts separated by a "====" line),
 * opened as a model; the first rows of every quantized module are
 * dequantized (packed int words, scales, zero points, FP8 codes). */
#include <sys/stat.h>

#include "fuzz.h"
#include "model/model.h"

static char dir[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/ct", fz_tmpdir());
        mkdir(dir, 0700);
    }
    const uint8_t *p[2];
    size_t n[2];
    fz_parts(data, size, p, n, 2);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    fz_write(path, p[0], n[0]);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    fz_write(path, p[1] ? (const void *)p[1] : "", n[1]);
    struct qt_model *m;
    qt_err err;
    if (qt_model_open(dir, &m, &err) == QT_OK) {
        float *rows = NULL;
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_tensor *t = &m->tensors[i];
            if (!t->ct) continue;
            int64_t cols = qt_tensor_cols(t), nr = qt_tensor_rows(t) < 2 ? qt_tensor_rows(t) : 2;
            if (cols <= 0 || cols > 65536) continue;
            float *r = realloc(rows, (size_t)(2 * cols) * sizeof *rows);
            if (!r) break;
            rows = r;
            qt_tensor_read_f32(m, t, 0, nr, rows, &err);
        }
        free(rows);
        qt_model_free(m);
    }
    return 0;
}
