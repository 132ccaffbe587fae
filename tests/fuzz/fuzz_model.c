/* fuzz_model.c — opening a model directory: config.json, the shard index
 * and two shards (parts separated by "====" lines: config, index, shard 1,
 * shard 2; an empty index part means no index file).  Also reads the first
 * row of every small tensor (FP8 scales, fused experts). */
#include <limits.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "model/model.h"

static char dir[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/model", fz_tmpdir());
        mkdir(dir, 0700);
    }
    const uint8_t *p[4];
    size_t n[4];
    fz_parts(data, size, p, n, 4);
    static const char *const names[] = {"config.json", "model.safetensors.index.json",
                                        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    char path[512];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        fz_write(path, (i == 1 && !n[i]) ? NULL : p[i] ? (const void *)p[i] : NULL, n[i]);
    }
    struct qt_model *m;
    qt_err err;
    if (qt_model_open(dir, &m, &err) == QT_OK) {
        float *row = NULL;
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_tensor *t = &m->tensors[i];
            int64_t cols = qt_tensor_cols(t);
            if (cols <= 0 || cols > 65536 || qt_tensor_numel(t) > (1 << 20)) continue;
            float *r = realloc(row, (size_t)cols * sizeof *row);
            if (!r) break;
            row = r;
            qt_tensor_read_f32(m, t, 0, 1, row, &err);
        }
        free(row);
        qt_model_free(m);
    }
    return 0;
}
