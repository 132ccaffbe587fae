/* test_scheme.c — scheme strings, llm-compressor presets and the
 * QuantizationArgs they stand for. */
#include <stdio.h>
#include <string.h>

#include "quant/scheme.h"
#include "tu.h"

static int parses_to(const char *in, const char *canon) {
    struct qt_scheme s;
    qt_err err = {{0}};
    char buf[QT_SCHEME_STR_MAX];
    if (qt_scheme_parse(in, &s, &err) != QT_OK) {
        printf("  %s: %s\n", in, err.msg);
        return 0;
    }
    qt_scheme_format(&s, buf, sizeof buf);
    if (strcmp(buf, canon)) printf("  %s -> %s, want %s\n", in, buf, canon);
    return !strcmp(buf, canon);
}

TU_TEST(canonical_roundtrip) {
    const char *c[] = {"int4-g128-sym", "int4-g128-asym", "int8-ch-sym", "int4-ch-sym", "int8-t-sym",
                       "int4-g32-asym", "int2-g64-sym", "int3-g128-asym", "fp8-ch", "fp8-t", "fp8-b128",
                       "nvfp4", "mxfp4", "bf16", "int8-ch-sym+aint8-tok", "fp8-ch+afp8-tok",
                       "fp8-t+afp8-t", "fp8-b128+afp8-g128", "nvfp4+anvfp4", "mxfp4+amxfp4",
                       "int4-g128-sym+afp8-tok"};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) TU_CHECKF(parses_to(c[i], c[i]), "%s", c[i]);
}

TU_TEST(fields) {
    struct qt_scheme s;
    TU_CHECK(qt_scheme_parse("int4-g32-asym", &s, NULL) == QT_OK);
    TU_CHECK(s.kind == QT_SCHEME_INT && s.bits == 4 && s.strategy == QT_STRAT_GROUP && s.group == 32 && !s.sym);
    TU_CHECK(s.act == QT_ACT_NONE);
    TU_CHECK(qt_scheme_parse("fp8-b128", &s, NULL) == QT_OK);
    TU_CHECK(s.kind == QT_SCHEME_FP8 && s.strategy == QT_STRAT_BLOCK && s.group == 128 && s.sym);
    TU_CHECK(qt_scheme_parse("nvfp4", &s, NULL) == QT_OK);
    TU_CHECK(s.kind == QT_SCHEME_NVFP4 && s.bits == 4 && s.group == 16);
    TU_CHECK(qt_scheme_parse("mxfp4", &s, NULL) == QT_OK);
    TU_CHECK(s.kind == QT_SCHEME_MXFP4 && s.group == 32);
    TU_CHECK(qt_scheme_parse("int8-ch-sym+aint8-tok", &s, NULL) == QT_OK);
    TU_CHECK(s.strategy == QT_STRAT_CHANNEL && s.act == QT_ACT_INT8_TOK);
    TU_CHECK(qt_scheme_parse("bf16", &s, NULL) == QT_OK && qt_scheme_is_kept(&s));
}

TU_TEST(presets) {
    TU_CHECK(parses_to("W4A16", "int4-g128-sym"));
    TU_CHECK(parses_to("w4a16", "int4-g128-sym"));
    TU_CHECK(parses_to("W2A16", "int2-g128-sym"));
    TU_CHECK(parses_to("W3A16", "int3-g128-sym"));
    TU_CHECK(parses_to("W8A16", "int8-g128-sym"));
    TU_CHECK(parses_to("W4A16_ASYM", "int4-g128-asym"));
    TU_CHECK(parses_to("W8A8", "int8-ch-sym+aint8-tok"));
    TU_CHECK(parses_to("INT8", "int8-ch-sym+aint8-tok"));
    TU_CHECK(parses_to("FP8", "fp8-t+afp8-t"));
    TU_CHECK(parses_to("fp8", "fp8-t+afp8-t"));   /* preset names are case-insensitive */
    TU_CHECK(parses_to("FP8_DYNAMIC", "fp8-ch+afp8-tok"));
    TU_CHECK(parses_to("fp8_dynamic", "fp8-ch+afp8-tok"));
    TU_CHECK(parses_to("FP8_BLOCK", "fp8-b128+afp8-g128"));
    TU_CHECK(parses_to("NVFP4A16", "nvfp4"));
    TU_CHECK(parses_to("NVFP4", "nvfp4+anvfp4"));
    TU_CHECK(parses_to("MXFP4A16", "mxfp4"));
    TU_CHECK(parses_to("MXFP4", "mxfp4+amxfp4"));
}

TU_TEST(preset_names) {
    struct qt_scheme s;
    const char *pairs[][2] = {{"int4-g128-sym", "W4A16"}, {"int4-g128-asym", "W4A16_ASYM"},
                              {"int8-ch-sym+aint8-tok", "W8A8"}, {"fp8-ch+afp8-tok", "FP8_DYNAMIC"},
                              {"fp8-t+afp8-t", "FP8"}, {"fp8-b128+afp8-g128", "FP8_BLOCK"},
                              {"nvfp4", "NVFP4A16"}, {"mxfp4+amxfp4", "MXFP4"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        TU_CHECK(qt_scheme_parse(pairs[i][0], &s, NULL) == QT_OK);
        const char *p = qt_scheme_preset_name(&s);
        TU_CHECKF(p && !strcmp(p, pairs[i][1]), "%s -> %s", pairs[i][0], p ? p : "NULL");
    }
    TU_CHECK(qt_scheme_parse("int4-g32-asym", &s, NULL) == QT_OK);
    TU_CHECK(qt_scheme_preset_name(&s) == NULL);
    TU_CHECK(qt_scheme_parse("fp8-ch", &s, NULL) == QT_OK);
    TU_CHECK(qt_scheme_preset_name(&s) == NULL);
}

TU_TEST(rejects) {
    const char *bad[] = {"", "int9-g128-sym", "int1-ch-sym", "int4-g0-sym", "int4-g128", "int4-g128-sym-x",
                         "int4-gx-sym", "fp8-c", "fp4", "nvfp4+aint9-tok", "bf16+aint8-tok",
                         "W9A16", "int4-g128-sym+", "int4-ch-asymm", "INT4-G128-SYM"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qt_scheme s;
        qt_err err = {{0}};
        TU_CHECKF(qt_scheme_parse(bad[i], &s, &err) == QT_ERR, "%s accepted", bad[i]);
        TU_CHECKF(strstr(err.msg, "accepted: int{2..8}") && strstr(err.msg, "W4A16"), "%s: %s", bad[i], err.msg);
    }
}

TU_TEST(qargs) {
    struct qt_scheme s;
    struct qt_qargs w, a;
    qt_scheme_parse("W4A16", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(w.present && w.num_bits == 4 && !strcmp(w.type, "int") && w.symmetric);
    TU_CHECK(w.group_size == 128 && !strcmp(w.strategy, "group") && !strcmp(w.dynamic, "false"));
    TU_CHECK(!a.present);
    TU_CHECK(!strcmp(qt_scheme_ct_format(&s), "pack-quantized"));
    qt_scheme_parse("W8A8", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(!strcmp(w.strategy, "channel") && w.group_size == 0);
    TU_CHECK(a.present && a.num_bits == 8 && !strcmp(a.type, "int") && !strcmp(a.strategy, "token"));
    TU_CHECK(!strcmp(a.dynamic, "true"));
    TU_CHECK(!strcmp(qt_scheme_ct_format(&s), "int-quantized"));
    qt_scheme_parse("FP8_BLOCK", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(!strcmp(w.type, "float") && !strcmp(w.strategy, "block"));
    TU_CHECK(w.block_structure[0] == 128 && w.block_structure[1] == 128);
    TU_CHECK(!strcmp(a.strategy, "group") && a.group_size == 128 && !strcmp(a.dynamic, "true"));
    TU_CHECK(!strcmp(qt_scheme_ct_format(&s), "float-quantized"));
    qt_scheme_parse("FP8", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(!strcmp(w.strategy, "tensor") && !strcmp(a.strategy, "tensor"));
    TU_CHECK(!strcmp(a.dynamic, "false") && a.observer && !strcmp(a.observer, "static_minmax"));
    qt_scheme_parse("NVFP4", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(!strcmp(w.strategy, "tensor_group") && w.group_size == 16 && !strcmp(w.scale_dtype, "float8_e4m3fn"));
    TU_CHECK(!strcmp(a.dynamic, "local") && a.group_size == 16);
    TU_CHECK(!strcmp(qt_scheme_ct_format(&s), "nvfp4-pack-quantized"));
    qt_scheme_parse("MXFP4A16", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(!strcmp(w.strategy, "group") && w.group_size == 32 && !strcmp(w.scale_dtype, "uint8"));
    TU_CHECK(!a.present);
    qt_scheme_parse("int4-g128-asym", &s, NULL);
    qt_scheme_qargs(&s, &w, NULL);
    TU_CHECK(!w.symmetric && !strcmp(w.zp_dtype, "int8"));
    qt_scheme_parse("bf16", &s, NULL);
    qt_scheme_qargs(&s, &w, &a);
    TU_CHECK(!w.present && !a.present);
}

TU_TEST(shape_check) {
    struct qt_scheme s;
    qt_err err = {{0}};
    qt_scheme_parse("int4-g128-sym", &s, NULL);
    TU_CHECK(qt_scheme_check_shape(&s, 64, 256, &err) == QT_OK);
    /* a partial last group is quantized, as compressed-tensors does */
    TU_CHECK(qt_scheme_check_shape(&s, 64, 200, &err) == QT_OK);
    qt_scheme_parse("nvfp4", &s, NULL);   /* fp4 groups must divide */
    TU_CHECK(qt_scheme_check_shape(&s, 64, 200, &err) == QT_ERR);
    TU_CHECK(strstr(err.msg, "200") && strstr(err.msg, "16"));
    qt_scheme_parse("fp8-b128", &s, NULL);
    TU_CHECK(qt_scheme_check_shape(&s, 200, 300, &err) == QT_OK);   /* partial blocks are fine */
}

int main(void) {
    TU_RUN(canonical_roundtrip);
    TU_RUN(fields);
    TU_RUN(presets);
    TU_RUN(preset_names);
    TU_RUN(rejects);
    TU_RUN(qargs);
    TU_RUN(shape_check);
    return TU_END();
}
