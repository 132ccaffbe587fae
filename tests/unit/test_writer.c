/* test_writer.c — the compressed-tensors writer and reader: known-answer
 * bytes for tiny matrices (scales, packed words, zero points worked out by
 * hand from DESIGN §4/§7), round trip on the tiny model (the dequantized
 * weights read back equal, bit for bit, what the quantizer's dequantization
 * gives), atomicity (existing OUT, --force, cancel). */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/ct_read.h"
#include "base/dtype.h"
#include "model/model.h"
#include "quant/quant.h"
#include "model/safetensors.h"
#include "quant/scheme.h"
#include "tu.h"
#include "io/writer.h"
#include "daemon/daemon_ops.h"
#include "eval/preview.h"
#include "recipe/deploy.h"
#include "recipe/recipe.h"

#define U32(x) ((int32_t)(uint32_t)(x))

static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

/* Finds entry `name` in the written model.safetensors. */
static const void *st_get(const struct qt_st_file *f, const char *name, enum qt_dtype dt, int64_t d0, int64_t d1) {
    int i = qt_st_find(f, name);
    if (i < 0) { printf("  missing %s\n", name); return NULL; }
    const struct qt_st_entry *e = &f->entries[i];
    int ok = e->dtype == dt && e->shape[0] == d0 && (d1 < 0 ? e->ndim == 1 : e->ndim == 2 && e->shape[1] == d1);
    if (!ok) { printf("  %s: dtype %s shape [%lld, %lld]\n", name, qt_dtype_name(e->dtype), (long long)e->shape[0],
                      (long long)(e->ndim > 1 ? e->shape[1] : -1)); return NULL; }
    return qt_st_entry_data(f, i);
}

static void put_bf16(uint16_t *dst, const float *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = qt_f32_to_bf16(src[i]);
}

/* A two-row model directory: tiny's config and three 2 x 8 BF16 weights. */
static const char *make_small_model(void) {
    const char *dir = tu_tmpdir("writer_small");
    static char path[4096];
    snprintf(path, sizeof path, "%s/src", dir);
    mkdir(path, 0755);
    char cfg[4200], st[4200];
    snprintf(cfg, sizeof cfg, "cp %s %s/config.json", tu_path("share/models/tiny-glm-moe/config.json"), path);
    if (system(cfg) != 0) return NULL;
    /* sym int4 g4: row 0 groups amax 7.5 -> s 1, amax 15 -> s 2; row 1: zeros
     * -> s = eps(bf16) = 2^-7, amax 3.75 -> s 0.5 */
    static const float ws[16] = {1, -2, 3, 7.5f, -15, 2, 0.5f, 4,
                                 0, 0, 0, 0, 3.75f, -3.75f, 1.25f, 0};
    /* asym int4 g4 */
    static const float wa[16] = {0, 1.5f, 3, 15, -7.5f, 0, 3.75f, 7.5f,
                                 -15, -7.5f, 0, 0, 0, 0, 0, 0};
    /* int8 channel sym: amax 127.5 -> s 1, amax 255 -> s 2 */
    static const float w8[16] = {127.5f, -1, 2.5f, 0, 0, 0, 0, 0,
                                 255, -255, 3, 1, 0, 0, 0, 0};
    static uint16_t bs[16], ba[16], b8[16];
    put_bf16(bs, ws, 16);
    put_bf16(ba, wa, 16);
    put_bf16(b8, w8, 16);
    struct qt_st_write_tensor t[3] = {
        {"model.layers.0.mlp.gate_proj.weight", QT_DT_BF16, 2, {2, 8}, bs, 32},
        {"model.layers.0.mlp.up_proj.weight", QT_DT_BF16, 2, {2, 8}, ba, 32},
        {"model.layers.0.mlp.down_proj.weight", QT_DT_BF16, 2, {2, 8}, b8, 32},
    };
    snprintf(st, sizeof st, "%s/model.safetensors", path);
    qt_err err;
    if (qt_st_write(st, t, 3, NULL, &err) != QT_OK) { printf("  %s\n", err.msg); return NULL; }
    return path;
}

TU_TEST(known_answer_bytes) {
    const char *src = make_small_model();
    TU_CHECK(src != NULL);
    if (!src) return;
    struct qt_model *m;
    qt_err err;
    TU_CHECK(qt_model_open(src, &m, &err) == QT_OK);
    if (!m) return;
    const char *tg0[] = {"model.layers.0.mlp.gate_proj"}, *tg1[] = {"model.layers.0.mlp.up_proj"},
               *tg2[] = {"model.layers.0.mlp.down_proj"};
    struct qt_ct_group groups[3] = {
        {"group_0", 1, tg0, "int4-g4-sym", NULL}, {"group_1", 1, tg1, "int4-g4-asym", NULL},
        {"group_2", 1, tg2, "int8-ch-sym", NULL}};
    int *tgi = malloc((size_t)m->n_tensors * sizeof *tgi);
    for (int i = 0; i < m->n_tensors; i++) {
        const char *n = m->tensors[i].name;
        tgi[i] = strstr(n, "gate_proj") ? 0 : strstr(n, "up_proj") ? 1 : strstr(n, "down_proj") ? 2 : -1;
    }
    char out[4200];
    snprintf(out, sizeof out, "%s/../out", src);
    struct qt_write_params p = {.out = out, .n_groups = 3, .groups = groups, .tensor_group = tgi};
    struct qt_write_result res;
    TU_CHECKF(qt_write_ct(m, &p, &res, &err) == QT_OK, "%s", err.msg);
    TU_CHECK(res.n_quantized == 3 && res.n_shards == 1);
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    struct qt_st_file *f = NULL;
    TU_CHECKF(qt_st_open(path, &f, &err) == QT_OK, "%s", err.msg);
    if (f) {
        /* sym: q row 0 = [1,-2,3,7 | -8,1,0,2] (7.5 rounds to 8, clamps to 7;
         * -15/2 = -7.5 rounds half-even to -8), u = q+8 = 9,6,B,F,0,9,8,A;
         * row 1 = [0,0,0,0 | 7,-8,2,0], u = 8,8,8,8,F,0,A,8. */
        const int32_t *wp = st_get(f, "model.layers.0.mlp.gate_proj.weight_packed", QT_DT_I32, 2, 1);
        TU_CHECK(wp && wp[0] == U32(0xA890FB69) && wp[1] == U32(0x8A0F8888));
        const uint16_t *sc = st_get(f, "model.layers.0.mlp.gate_proj.weight_scale", QT_DT_BF16, 2, 2);
        TU_CHECK(sc && sc[0] == 0x3F80 && sc[1] == 0x4000 && sc[2] == 0x3C00 && sc[3] == 0x3F00);
        const int64_t *sh = st_get(f, "model.layers.0.mlp.gate_proj.weight_shape", QT_DT_I64, 2, -1);
        TU_CHECK(sh && sh[0] == 2 && sh[1] == 8);
        TU_CHECK(qt_st_find(f, "model.layers.0.mlp.gate_proj.weight_zero_point") < 0);
        TU_CHECK(qt_st_find(f, "model.layers.0.mlp.gate_proj.weight") < 0);
        /* asym: scales row 0 = [15/15, 15/15] = [1, 1]; row 1 = [15/15, 0 -> 2^-7].
         * zp = round(-8 - mn/s): row 0 [-8, round(-0.5) = 0], row 1 [7, 0] (the
         * all-zero group: -8 - 0/0 is NaN, which torch casts to 0 before the
         * zero scale becomes eps).  q = round(w/s + zp): row 0 [-8,-6,-5,7 |
         * -8,0,4,7] (-6.5 -> -6), u = 0,2,3,F,0,8,C,F; row 1 [-8,0,7,7 | 0,0,0,0]
         * (-0.5 -> 0), u = 0,8,F,F,8,8,8,8.  Zero points packed along the output
         * dimension: column 0 u = [0, 15] -> 0xF0, column 1 u = [8, 8] -> 0x88,
         * shape [ceil(2*4/32), 2] = [1, 2]. */
        wp = st_get(f, "model.layers.0.mlp.up_proj.weight_packed", QT_DT_I32, 2, 1);
        TU_CHECK(wp && wp[0] == U32(0xFC80F320) && wp[1] == U32(0x8888FF80));
        sc = st_get(f, "model.layers.0.mlp.up_proj.weight_scale", QT_DT_BF16, 2, 2);
        TU_CHECK(sc && sc[0] == 0x3F80 && sc[1] == 0x3F80 && sc[2] == 0x3F80 && sc[3] == 0x3C00);
        const int32_t *zp = st_get(f, "model.layers.0.mlp.up_proj.weight_zero_point", QT_DT_I32, 1, 2);
        TU_CHECK(zp && zp[0] == 0xF0 && zp[1] == 0x88);
        /* int8 channel: scales [1, 2] as [N, 1]; row 0 q = [127 (127.5 -> 128
         * clamps), -1, 2 (2.5 half-even), 0 ...], u = FF,7F,82,80 | 80 x4;
         * row 1 w/s = [127.5, -127.5, 1.5, 0.5] -> [127, -128, 2, 0]. */
        wp = st_get(f, "model.layers.0.mlp.down_proj.weight_packed", QT_DT_I32, 2, 2);
        TU_CHECK(wp && wp[0] == U32(0x80827FFF) && wp[1] == U32(0x80808080) && wp[2] == U32(0x808200FF) &&
                 wp[3] == U32(0x80808080));
        sc = st_get(f, "model.layers.0.mlp.down_proj.weight_scale", QT_DT_BF16, 2, 1);
        TU_CHECK(sc && sc[0] == 0x3F80 && sc[1] == 0x4000);
        qt_st_close(f);
    }
    /* the reader gives back w' = (q - zp) * s */
    struct qt_model *o = NULL;
    TU_CHECKF(qt_model_open(out, &o, &err) == QT_OK, "%s", err.msg);
    if (o) {
        const struct qt_tensor *t = qt_model_find(o, "model.layers.0.mlp.up_proj.weight");
        TU_CHECK(t && t->ct && t->shape[0] == 2 && t->shape[1] == 8 && t->dtype == QT_DT_BF16);
        float w[16];
        static const float want[16] = {0, 2, 3, 15, -8, 0, 4, 7, -15, -7, 0, 0, 0, 0, 0, 0};
        TU_CHECK(t && qt_tensor_read_f32(o, t, 0, 2, w, &err) == QT_OK && memcmp(w, want, sizeof w) == 0);
        const char *scheme = NULL, *fmt = NULL;
        TU_CHECK(t && qt_ct_info(o, t, &scheme, &fmt, NULL) && !strcmp(scheme, "int4-g4-asym") &&
                 !strcmp(fmt, "pack-quantized"));
        qt_model_free(o);
    }
    free(tgi);
    qt_model_free(m);
}

/* Quantizes the tiny model under `scheme` (every Linear but lm_head), reads
 * it back and compares each tensor with the quantizer's own w'. */
static void roundtrip(const char *scheme) {
    struct qt_model *m = NULL, *o = NULL;
    qt_err err;
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    if (!m) return;
    struct qt_scheme s;
    TU_CHECK(qt_scheme_parse(scheme, &s, &err) == QT_OK);
    const char *targets[] = {"Linear"};
    struct qt_ct_group g = {"group_0", 1, targets, scheme, NULL};
    int *tg = malloc((size_t)m->n_tensors * sizeof *tg);
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        tg[i] = qt_role_is_linear(t->role) && t->role != QT_ROLE_LM_HEAD && t->ndim == 2 ? 0 : -1;
    }
    char out[4200];
    snprintf(out, sizeof out, "%s/out", tu_tmpdir("writer_rt"));
    struct qt_write_params p = {.out = out, .max_shard_bytes = 4000000, .n_groups = 1, .groups = &g, .tensor_group = tg};
    struct qt_write_result res;
    TU_CHECKF(qt_write_ct(m, &p, &res, &err) == QT_OK, "%s: %s", scheme, err.msg);
    TU_CHECK(res.n_shards > 1);
    TU_CHECKF(qt_model_open(out, &o, &err) == QT_OK, "%s", err.msg);
    if (!o) { free(tg); qt_model_free(m); return; }
    TU_CHECK(o->n_tensors == m->n_tensors);
    int bad = 0, nq = 0;
    for (int i = 0; i < m->n_tensors && !bad; i++) {
        const struct qt_tensor *a = &m->tensors[i], *b = qt_model_find(o, a->name);
        if (!b || b->ndim != a->ndim || b->shape[0] != a->shape[0]) { bad = 1; printf("  %s: shape\n", a->name); break; }
        int64_t R = qt_tensor_rows(a), C = qt_tensor_cols(a);
        float *x = malloc((size_t)(R * C) * sizeof *x), *y = malloc((size_t)(R * C) * sizeof *y);
        if (qt_tensor_read_f32(m, a, 0, R, x, &err) != QT_OK || qt_tensor_read_f32(o, b, 0, R, y, &err) != QT_OK) bad = 1;
        if (!bad && tg[i] >= 0) {
            nq++;
            if (!b->ct) bad = 1;
            if (!bad && qt_quant_dequant(x, R, C, &s, a->dtype, x, &err) != QT_OK) bad = 1;
        }
        /* bit for bit, except that an int code 0 reads back as +0 where the
         * quantizer's float path may give -0 (round(-0.3) = -0, as torch) */
        for (int64_t k = 0; !bad && k < R * C; k++)
            if (memcmp(&x[k], &y[k], sizeof *x) && !(x[k] == 0 && y[k] == 0)) {
                bad = 1;
                printf("  %s differs at %lld: %.9g vs %.9g\n", a->name, (long long)k, x[k], y[k]);
            }
        free(x);
        free(y);
    }
    TU_CHECKF(!bad, "%s", scheme);
    TU_CHECK(nq == res.n_quantized);
    qt_model_free(o);
    free(tg);
    qt_model_free(m);
}

TU_TEST(roundtrip_w4a16) { roundtrip("int4-g128-sym"); }
TU_TEST(roundtrip_w4a16_asym) { roundtrip("int4-g128-asym"); }
TU_TEST(roundtrip_w3_g64_asym) { roundtrip("int3-g64-asym"); }
TU_TEST(roundtrip_w8a8) { roundtrip("W8A8"); }
TU_TEST(roundtrip_fp8_dynamic) { roundtrip("FP8_DYNAMIC"); }
TU_TEST(roundtrip_fp8_block) { roundtrip("FP8_BLOCK"); }

static void cancel_after_first(void *ud, int64_t done, int64_t total, const char *tensor) {
    (void)done; (void)total; (void)tensor;
    *(int *)ud = 1;
}

/* The bytes of every file of two output directories but the report (its
 * seconds differ). */
static int same_outputs(const char *a, const char *b) {
    DIR *d = opendir(a);
    if (!d) return 0;
    struct dirent *de;
    int ok = 1, n = 0;
    while (ok && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "qtune-report.json")) continue;
        char pa[4800], pb[4800];
        snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
        size_t la = 0, lb = 0;
        qt_err e;
        char *x = qt_read_file_ex(pa, &la, (size_t)1 << 30, 0, &e), *y = qt_read_file_ex(pb, &lb, (size_t)1 << 30, 0, &e);
        ok = x && y && la == lb && !memcmp(x, y, la);
        if (!ok) printf("  %s differs\n", de->d_name);
        free(x);
        free(y);
        n++;
    }
    closedir(d);
    return ok && n >= 3;
}

/* A module split into chunks of rows that several threads quantize, on every
 * kernel set, writes the bytes of the whole tensor quantized at once by the
 * portable kernels: every scheme the writer takes, lm_head included, tensor
 * scales (observed first), blocks (chunks of whole bands). */
TU_TEST(chunked_equals_whole) {
    struct qt_model *m;
    qt_err err;
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    if (!m) return;
    const char *sc[] = {"int4-g128-sym", "int4-g32-asym", "int8-ch-sym+aint8-tok", "fp8-ch+afp8-tok", "fp8-t",
                        "fp8-b128+afp8-g128", "int8-t-sym", "int3-g64-asym"};
    enum { NG = sizeof sc / sizeof sc[0] };
    struct qt_ct_group g[NG];
    char names[NG][24];
    for (int k = 0; k < NG; k++) {
        snprintf(names[k], sizeof names[k], "group_%d", k);
        g[k] = (struct qt_ct_group){.name = names[k], .scheme = sc[k]};
    }
    int *tg = malloc((size_t)m->n_tensors * sizeof *tg), next = 0, heads = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        size_t n = strlen(t->name);
        int q = qt_role_is_linear(t->role) && t->ndim == 2 && n > 7 && !strcmp(t->name + n - 7, ".weight");
        tg[i] = q ? next++ % NG : -1;
        heads += q && t->role == QT_ROLE_LM_HEAD;
    }
    TU_CHECK(heads == 1);
    const char *dir = tu_tmpdir("writer_chunks");
    char whole[4200], chunked[4200];
    snprintf(whole, sizeof whole, "%s/whole", dir);
    snprintf(chunked, sizeof chunked, "%s/chunked", dir);
    struct qt_write_params p = {.out = whole, .n_groups = NG, .groups = g, .tensor_group = tg,
                                .chunk_elems = (int64_t)1 << 40};
    int prev = qt_quant_set_isa(QT_ISA_PORTABLE);
    TU_CHECKF(qt_write_ct(m, &p, NULL, &err) == QT_OK, "%s", err.msg);
    for (int isa = QT_ISA_AVX2; isa <= qt_quant_isa_best(); isa++) {
        qt_quant_set_isa(isa);
        p.out = chunked;
        p.force = 1;
        p.chunk_elems = 1000;       /* a few rows, or one band of blocks */
        TU_CHECKF(qt_write_ct(m, &p, NULL, &err) == QT_OK, "%s", err.msg);
        TU_CHECKF(same_outputs(whole, chunked), "%s", qt_quant_isa_name(isa));
    }
    qt_quant_set_isa(prev);
    free(tg);
    qt_model_free(m);
}

TU_TEST(atomic_out) {
    struct qt_model *m = NULL;
    qt_err err;
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    if (!m) return;
    const char *targets[] = {"Linear"};
    struct qt_ct_group g = {"group_0", 1, targets, "W4A16", NULL};
    int *tg = malloc((size_t)m->n_tensors * sizeof *tg);
    for (int i = 0; i < m->n_tensors; i++)
        tg[i] = qt_role_is_linear(m->tensors[i].role) && m->tensors[i].role != QT_ROLE_LM_HEAD ? 0 : -1;
    const char *dir = tu_tmpdir("writer_atomic");
    char out[4200], cmd[8600];
    snprintf(out, sizeof out, "%s/out", dir);
    /* cancelled after the first tensor: nothing under OUT, no partial left */
    volatile int cancel = 0;
    struct qt_write_params p = {.out = out, .n_groups = 1, .groups = &g, .tensor_group = tg,
                                .progress = cancel_after_first, .progress_ud = (void *)&cancel, .cancel = &cancel};
    TU_CHECK(qt_write_ct(m, &p, NULL, &err) == QT_ERR);
    TU_CHECKF(strstr(err.msg, "cancelled") != NULL, "%s", err.msg);
    TU_CHECK(!exists(out));
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    TU_CHECK(system(cmd) == 0);
    /* a complete write, then a second one refused without force */
    cancel = 0;
    p.progress = NULL;
    p.cancel = NULL;
    TU_CHECK(qt_write_ct(m, &p, NULL, &err) == QT_OK);
    TU_CHECK(exists(out));
    TU_CHECK(qt_write_ct(m, &p, NULL, &err) == QT_ERR && strstr(err.msg, "already exists"));
    /* forced: replaced, and no .old / .partial left beside it */
    snprintf(cmd, sizeof cmd, "%s/marker", out);
    FILE *fm = fopen(cmd, "w");
    if (fm) fclose(fm);
    p.force = 1;
    TU_CHECK(qt_write_ct(m, &p, NULL, &err) == QT_OK);
    TU_CHECK(!exists(cmd));
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s')\" = out", dir);
    TU_CHECK(system(cmd) == 0);
    free(tg);
    qt_model_free(m);
}

TU_TEST(refuses_fp4_and_static) {
    struct qt_model *m = NULL;
    qt_err err;
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    if (!m) return;
    const char *targets[] = {"Linear"};
    int *tg = malloc((size_t)m->n_tensors * sizeof *tg);
    for (int i = 0; i < m->n_tensors; i++)
        tg[i] = qt_role_is_linear(m->tensors[i].role) && m->tensors[i].role != QT_ROLE_LM_HEAD ? 0 : -1;
    char out[4200];
    snprintf(out, sizeof out, "%s/out", tu_tmpdir("writer_refuse"));
    const char *bad[] = {"NVFP4A16", "FP8"};
    for (int k = 0; k < 2; k++) {
        struct qt_ct_group g = {"group_0", 1, targets, bad[k], NULL};
        struct qt_write_params p = {.out = out, .n_groups = 1, .groups = &g, .tensor_group = tg};
        TU_CHECKF(qt_write_ct(m, &p, NULL, &err) == QT_ERR, "%s", bad[k]);
        TU_CHECK(!exists(out));
    }
    free(tg);
    qt_model_free(m);
}

TU_TEST(parse_size) {
    uint64_t v;
    qt_err err;
    TU_CHECK(qt_write_parse_size("5GB", &v, &err) == QT_OK && v == 5000000000ull);
    TU_CHECK(qt_write_parse_size("500MB", &v, &err) == QT_OK && v == 500000000ull);
    TU_CHECK(qt_write_parse_size("2GiB", &v, &err) == QT_OK && v == 2147483648ull);
    TU_CHECK(qt_write_parse_size("1000", &v, &err) == QT_OK && v == 1000);
    TU_CHECK(qt_write_parse_size("5XB", &v, &err) == QT_ERR);
    TU_CHECK(qt_write_parse_size("-1GB", &v, &err) == QT_ERR);
}

/* Issue 12: preview, deploy and the TUI's totals count, byte for byte, what
 * `qtune quantize` writes.  Int weights with activations (W4A8, W4AFP8) are
 * int-quantized, one int8 a weight: the preview used to count them packed
 * (about half). */
static void bytes_agree(const char *scheme) {
    struct qt_model *m = NULL;
    struct qt_recipe *r = NULL;
    struct qt_resolution rs = {0};
    qt_err err;
    char text[256], out[4200];
    snprintf(text, sizeof text, "QuantizationModifier:\n  targets: Linear\n  scheme: %s\n  ignore: [lm_head]\n", scheme);
    TU_CHECK(qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) == QT_OK);
    TU_CHECKF(qt_recipe_parse(text, strlen(text), "r.yaml", &r, &err) == QT_OK, "%s", err.msg);
    if (!m || !r) goto done;
    TU_CHECK(qt_recipe_resolve(r, m, &rs, &err) == QT_OK);
    snprintf(out, sizeof out, "%s/out", tu_tmpdir("writer_bytes"));
    struct qt_write_params p = {.out = out, .force = 1};
    struct qt_write_result wr;
    TU_CHECKF(qt_write_ct_recipe(m, r, &rs, &p, &wr, &err) == QT_OK, "%s: %s", scheme, err.msg);
    /* preview: the bytes of every row (quantized and kept) */
    struct qt_preview_row *rows = NULL;
    int n = 0;
    struct qt_preview_total tot;
    TU_CHECK(qt_preview_run_resolved(m, &rs, NULL, NULL, NULL, &rows, &n, &tot, &err) == QT_OK);
    int64_t pv = 0, counted = 0, nq = 0;
    double dp = 0;
    const char **schemes = calloc((size_t)m->n_tensors, sizeof *schemes);
    for (int i = 0; i < n; i++) {
        pv += rows[i].bytes;
        if (rows[i].quantizable) counted += rows[i].bytes;
        nq += !qt_scheme_is_kept(&rows[i].scheme);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        dp += qt_deploy_tensor_bytes(&m->tensors[i], rs.t[i].quantized ? rs.t[i].s : NULL, rs.t[i].actorder);
        schemes[i] = rs.t[i].scheme;
    }
    int64_t tp = 0, tb = 0;   /* the TUI's totals come from the daemon's qt_dop_size */
    qt_dop_size(m, schemes, &tp, &tb);
    TU_CHECKF(nq == wr.n_quantized, "%s: preview quantizes %lld, the writer %d", scheme, (long long)nq, wr.n_quantized);
    TU_CHECKF(pv == wr.bytes_written, "%s: preview %lld bytes, written %lld", scheme, (long long)pv,
              (long long)wr.bytes_written);
    TU_CHECKF((int64_t)dp == wr.bytes_written, "%s: deploy %.0f bytes, written %lld", scheme, dp, (long long)wr.bytes_written);
    TU_CHECKF(tb == counted && tb == tot.bytes, "%s: TUI total %lld, preview total %lld", scheme, (long long)tb,
              (long long)tot.bytes);
    free(schemes);
    free(rows);
done:
    qt_resolution_free(&rs);
    qt_recipe_free(r);
    qt_model_free(m);
}

TU_TEST(preview_bytes_match_writer) {
    static const char *const sc[] = {"W4A8", "W4AFP8", "W8A8", "W4A16", "int4-g128-asym", "int8-ch-asym+aint8-tok",
                                     "int4-t-asym", "FP8_DYNAMIC", "FP8_BLOCK"};
    for (size_t k = 0; k < sizeof sc / sizeof sc[0]; k++) bytes_agree(sc[k]);
}

int main(void) {
    TU_RUN(known_answer_bytes);
    TU_RUN(roundtrip_w4a16);
    TU_RUN(roundtrip_w4a16_asym);
    TU_RUN(roundtrip_w3_g64_asym);
    TU_RUN(roundtrip_w8a8);
    TU_RUN(roundtrip_fp8_dynamic);
    TU_RUN(roundtrip_fp8_block);
    TU_RUN(chunked_equals_whole);
    TU_RUN(atomic_out);
    TU_RUN(refuses_fp4_and_static);
    TU_RUN(parse_size);
    TU_RUN(preview_bytes_match_writer);
    return TU_END();
}
