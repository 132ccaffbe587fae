/* Development only (issue 13 point 9): writes tensor NAME of MODEL as qtune
 * reads it (qt_tensor_read_f32: a compressed-tensors module decompressed)
 * to OUT as raw float32, to compare with what transformers decompresses.
 * cc -Iengine -I. -D_GNU_SOURCE -I/usr/include/cjson -o ct_dump scripts/dev/ct_dump.c build/libqtengine.a \
 *    -lncursesw -ltinfo -lopenblas -lcjson -lyaml -lpcre2-8 -lm -lpthread
 * Usage: ct_dump MODEL NAME OUT */
#include <stdio.h>
#include <stdlib.h>
#include "model/model.h"
int main(int argc, char **argv) {
    struct qt_model *m; qt_err err;
    if (qt_model_open(argv[1], &m, &err)) { printf("%s\n", err.msg); return 1; }
    const struct qt_tensor *t = qt_model_find(m, argv[2]);
    if (!t) { printf("no tensor\n"); return 1; }
    int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
    float *o = malloc(sizeof(float) * R * C);
    if (qt_tensor_read_f32(m, t, 0, R, o, &err)) { printf("%s\n", err.msg); return 1; }
    FILE *f = fopen(argv[3], "wb"); fwrite(o, 4, R * C, f); fclose(f);
    printf("%lld x %lld ct=%d\n", (long long)R, (long long)C, t->ct);
    return 0;
}
