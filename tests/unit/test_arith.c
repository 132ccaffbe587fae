/* test_arith.c — the two arithmetic modes of w / scale (quant.h) against
 * known answers: tests/refs/arith_codes.json holds, for fixture tensors, the
 * codes and scales compressed-tensors 0.20's _quantize gives in float32 (its
 * Triton kernel, llm-compressor on a GPU) and in bf16 (its torch path on the
 * CPU), as FNV-1a hashes, and how many codes differ between the modes.
 * Every kernel set (portable, AVX2, AVX-512) must give both bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "model/model.h"
#include "quant/quant.h"
#include "quant/scheme.h"
#include "tu.h"

static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static cJSON *load_refs(void) {
    FILE *f = fopen(tu_path("tests/refs/arith_codes.json"), "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

TU_TEST(known_codes) {
    cJSON *refs = load_refs();
    TU_CHECK(refs != NULL);
    if (!refs) return;
    struct qt_model *m = NULL;
    qt_err err = {{0}};
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    if (!m) { cJSON_Delete(refs); return; }
    int old_mode = qt_quant_arith(), old_isa = qt_quant_isa();
    const cJSON *c;
    int ncases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(refs, "cases")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "tensor"));
        int bits = cJSON_GetObjectItem(c, "bits")->valueint, group = cJSON_GetObjectItem(c, "group")->valueint;
        int sym = cJSON_GetObjectItem(c, "sym")->valueint;
        char sn[64];
        if (group) snprintf(sn, sizeof sn, "int%d-g%d-%s", bits, group, sym ? "sym" : "asym");
        else snprintf(sn, sizeof sn, "int%d-ch-%s", bits, sym ? "sym" : "asym");
        struct qt_scheme s;
        TU_CHECK(qt_scheme_parse(sn, &s, &err) == QT_OK);
        int ti = qt_model_find_index(m, name);
        TU_CHECKF(ti >= 0, "%s", name);
        if (ti < 0) continue;
        const struct qt_tensor *t = &m->tensors[ti];
        int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
        float *w = malloc(sizeof(float) * (size_t)(R * C));
        TU_CHECK(qt_tensor_read_f32(m, t, 0, R, w, &err) == QT_OK);
        int8_t *q32 = malloc((size_t)(R * C));
        for (int isa = QT_ISA_PORTABLE; isa <= qt_quant_isa_best(); isa++) {
            qt_quant_set_isa(isa);
            for (int mode = QT_ARITH_F32; mode <= QT_ARITH_BF16; mode++) {
                qt_quant_set_arith(mode);
                struct qt_qtensor q;
                TU_CHECK(qt_quant_tensor(w, R, C, &s, QT_DT_BF16, 0, &q, NULL, &err) == QT_OK);
                const cJSON *ref = cJSON_GetObjectItem(c, qt_arith_name(mode));
                char hc[17], hs[17];
                snprintf(hc, sizeof hc, "%016llx", (unsigned long long)fnv(q.q, (size_t)(R * C)));
                snprintf(hs, sizeof hs, "%016llx",
                         (unsigned long long)fnv(q.scale, sizeof(float) * (size_t)(q.srows * q.scols)));
                TU_CHECKF(!strcmp(hc, cJSON_GetStringValue(cJSON_GetObjectItem(ref, "codes_fnv1a64"))),
                          "%s %s %s %s: codes %s", name, sn, qt_arith_name(mode), qt_quant_isa_name(isa), hc);
                TU_CHECKF(!strcmp(hs, cJSON_GetStringValue(cJSON_GetObjectItem(ref, "scales_fnv1a64"))),
                          "%s %s %s %s: scales %s", name, sn, qt_arith_name(mode), qt_quant_isa_name(isa), hs);
                if (mode == QT_ARITH_F32) memcpy(q32, q.q, (size_t)(R * C));
                else {
                    int64_t d = 0;
                    for (int64_t i = 0; i < R * C; i++) d += q32[i] != q.q[i];
                    TU_CHECKF(d == cJSON_GetObjectItem(c, "codes_differing")->valueint, "%lld differ", (long long)d);
                    if (isa == QT_ISA_PORTABLE)
                        printf("  %s %s: %lld of %lld codes differ between f32 and bf16 (%.2f%%)\n", name, sn,
                               (long long)d, (long long)(R * C), 100.0 * (double)d / (double)(R * C));
                }
                qt_qtensor_free(&q);
            }
        }
        free(q32);
        free(w);
        ncases++;
    }
    TU_CHECK(ncases == 4);
    qt_quant_set_arith(old_mode);
    qt_quant_set_isa(old_isa);
    qt_model_free(m);
    cJSON_Delete(refs);
}

TU_TEST(parse) {
    TU_CHECK(qt_arith_parse("f32") == QT_ARITH_F32);
    TU_CHECK(qt_arith_parse("bf16") == QT_ARITH_BF16);
    TU_CHECK(qt_arith_parse("fp16") == -1);
    TU_CHECK(qt_arith_parse(NULL) == -1);
    TU_CHECK(!strcmp(qt_arith_name(QT_ARITH_BF16), "bf16"));
}

int main(void) {
    TU_RUN(known_codes);
    TU_RUN(parse);
    return TU_END();
}
