/* scheme.c — scheme strings, presets and QuantizationArgs. */
#include "quant/scheme.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quant/pack.h"

/* The scheme families (struct qt_scheme_traits, scheme.h). */
static const struct qt_scheme_traits scheme_traits[] = {
    /* kind            family   format (A16)            format (activations)    write bits     more      fewer            type */
    {QT_SCHEME_BF16,  "bf16",  "dense",                "dense",                1, 16, 16, NULL,     "int8-g128-sym", "fp8-ch"},
    {QT_SCHEME_INT,   "int",   "pack-quantized",       "int-quantized",        1, 2, 8,   "bf16",   NULL,            "fp8-ch"},
    {QT_SCHEME_FP8,   "fp8",   "float-quantized",      "float-quantized",      1, 8, 8,   "bf16",   "nvfp4",         "nvfp4"},
    {QT_SCHEME_NVFP4, "nvfp4", "nvfp4-pack-quantized", "nvfp4-pack-quantized", 0, 4, 4,   "fp8-ch", NULL,            "int4-g128-sym"},
    {QT_SCHEME_MXFP4, "mxfp4", "mxfp4-pack-quantized", "mxfp4-pack-quantized", 0, 4, 4,   "fp8-ch", NULL,            "int4-g128-sym"},
};

/* Activation quantizations (struct qt_act_traits): suffix, static per-tensor scale. */
static const struct qt_act_traits act_traits[QT_ACT_COUNT] = {
    [QT_ACT_NONE] = {"", 0},
    [QT_ACT_INT8_TOK] = {"+aint8-tok", 0},
    [QT_ACT_FP8_TOK] = {"+afp8-tok", 0},
    [QT_ACT_FP8_TENSOR] = {"+afp8-t", 1},
    [QT_ACT_FP8_G128] = {"+afp8-g128", 0},
    [QT_ACT_NVFP4] = {"+anvfp4", 0},
    [QT_ACT_MXFP4] = {"+amxfp4", 0},
    [QT_ACT_INT8_TENSOR] = {"+aint8-t", 1},
};

const struct qt_scheme_traits *qt_scheme_traits(enum qt_scheme_kind kind) {
    for (size_t i = 0; i < sizeof scheme_traits / sizeof scheme_traits[0]; i++)
        if (scheme_traits[i].kind == kind) return &scheme_traits[i];
    return &scheme_traits[0];
}

const struct qt_act_traits *qt_act_traits(enum qt_act act) {
    return &act_traits[act >= 0 && act < QT_ACT_COUNT ? act : QT_ACT_NONE];
}

/* llm-compressor presets (compressed_tensors.quantization.quant_scheme) as
 * canonical strings. */
static const struct { const char *name, *canon; } presets[] = {
    {"W2A16", "int2-g128-sym"}, {"W3A16", "int3-g128-sym"}, {"W4A16", "int4-g128-sym"},
    {"W5A16", "int5-g128-sym"}, {"W6A16", "int6-g128-sym"}, {"W7A16", "int7-g128-sym"},
    {"W8A16", "int8-g128-sym"},
    {"W4A16_ASYM", "int4-g128-asym"},
    {"W8A8", "int8-ch-sym+aint8-tok"}, {"INT8", "int8-ch-sym+aint8-tok"},
    {"W2A8", "int2-g128-sym+aint8-tok"}, {"W3A8", "int3-g128-sym+aint8-tok"},
    {"W4A8", "int4-g128-sym+aint8-tok"}, {"W5A8", "int5-g128-sym+aint8-tok"},
    {"W6A8", "int6-g128-sym+aint8-tok"}, {"W7A8", "int7-g128-sym+aint8-tok"},
    {"W4AFP8", "int4-g128-sym+afp8-tok"},
    {"FP8", "fp8-t+afp8-t"}, {"FP8_DYNAMIC", "fp8-ch+afp8-tok"},
    {"FP8_BLOCK", "fp8-b128+afp8-g128"},
    {"NVFP4A16", "nvfp4"}, {"NVFP4", "nvfp4+anvfp4"},
    {"MXFP4A16", "mxfp4"}, {"MXFP4", "mxfp4+amxfp4"},
    {"UNQUANTIZED", "bf16"},
};
#define N_PRESETS (int)(sizeof presets / sizeof presets[0])

static const char accepted[] =
    "accepted: int{2..8}-{g<N>|ch|t}-{sym|asym}, fp8-{t|ch|b128}, nvfp4, mxfp4, bf16, "
    "optionally +aint8-tok|+aint8-t|+afp8-tok|+afp8-t|+afp8-g128|+anvfp4|+amxfp4; "
    "or a preset W2A16..W8A16, W4A16_ASYM, W8A8, W4A8, W4AFP8, FP8, FP8_DYNAMIC, "
    "FP8_BLOCK, NVFP4A16, NVFP4, MXFP4A16, MXFP4";

/* Parses a positive decimal integer filling all of [p, end). */
static int parse_int(const char *p, const char *end, int *out) {
    if (p >= end || end - p > 6) return 0;
    int v = 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return 0;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return v > 0;
}

/* Weight part only (no '+'): fills kind/bits/strategy/group/sym. */
static int parse_weights(const char *s, size_t n, struct qt_scheme *o) {
    char w[48];
    if (n >= sizeof w) return 0;
    memcpy(w, s, n);
    w[n] = 0;
    if (!strcmp(w, "bf16")) {
        o->kind = QT_SCHEME_BF16; o->bits = 16; o->strategy = QT_STRAT_NONE;
        o->group = 0; o->sym = 1;
        return 1;
    }
    if (!strcmp(w, "nvfp4") || !strcmp(w, "mxfp4")) {
        int nv = w[0] == 'n';
        o->kind = nv ? QT_SCHEME_NVFP4 : QT_SCHEME_MXFP4; o->bits = 4;
        o->strategy = QT_STRAT_GROUP; o->group = nv ? 16 : 32; o->sym = 1;
        return 1;
    }
    if (!strncmp(w, "fp8-", 4)) {
        const char *g = w + 4;
        o->kind = QT_SCHEME_FP8; o->bits = 8; o->sym = 1; o->group = 0;
        if (!strcmp(g, "t")) o->strategy = QT_STRAT_TENSOR;
        else if (!strcmp(g, "ch")) o->strategy = QT_STRAT_CHANNEL;
        else if (g[0] == 'b' && parse_int(g + 1, g + strlen(g), &o->group)) o->strategy = QT_STRAT_BLOCK;
        else return 0;
        return 1;
    }
    if (!strncmp(w, "int", 3)) {
        char *d1 = strchr(w, '-');
        if (!d1) return 0;
        char *d2 = strchr(d1 + 1, '-');
        if (!d2 || strchr(d2 + 1, '-')) return 0;
        if (!parse_int(w + 3, d1, &o->bits) || o->bits < 2 || o->bits > 8) return 0;
        o->kind = QT_SCHEME_INT;
        o->group = 0;
        const char *g = d1 + 1;
        size_t gl = (size_t)(d2 - g);
        if (gl == 2 && !strncmp(g, "ch", 2)) o->strategy = QT_STRAT_CHANNEL;
        else if (gl == 1 && g[0] == 't') o->strategy = QT_STRAT_TENSOR;
        else if (g[0] == 'g' && parse_int(g + 1, d2, &o->group)) o->strategy = QT_STRAT_GROUP;
        else return 0;
        if (!strcmp(d2 + 1, "sym")) o->sym = 1;
        else if (!strcmp(d2 + 1, "asym")) o->sym = 0;
        else return 0;
        return 1;
    }
    return 0;
}

static int parse_canonical(const char *s, struct qt_scheme *o) {
    const char *plus = strchr(s, '+');
    size_t n = plus ? (size_t)(plus - s) : strlen(s);
    if (!parse_weights(s, n, o)) return 0;
    o->act = QT_ACT_NONE;
    if (plus) {
        int found = 0;
        for (int a = 1; a < QT_ACT_COUNT; a++)
            if (!strcmp(plus, act_traits[a].suffix)) { o->act = (enum qt_act)a; found = 1; }
        if (!found || o->kind == QT_SCHEME_BF16) return 0;
    }
    return 1;
}

int qt_scheme_parse(const char *s, struct qt_scheme *out, qt_err *err) {
    struct qt_scheme sc = {0};
    if (!s || !*s) return qt_err_set(err, "scheme: empty (%s)", accepted);
    if (parse_canonical(s, &sc)) { *out = sc; return QT_OK; }
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcasecmp(s, presets[i].name) && parse_canonical(presets[i].canon, &sc)) {
            *out = sc;
            return QT_OK;
        }
    return qt_err_set(err, "scheme %.60s: unknown (%s)", s, accepted);
}

char *qt_scheme_format(const struct qt_scheme *s, char *buf, size_t n) {
    char w[40];
    switch (s->kind) {
    case QT_SCHEME_BF16: snprintf(w, sizeof w, "bf16"); break;
    case QT_SCHEME_NVFP4: snprintf(w, sizeof w, "nvfp4"); break;
    case QT_SCHEME_MXFP4: snprintf(w, sizeof w, "mxfp4"); break;
    case QT_SCHEME_FP8:
        if (s->strategy == QT_STRAT_TENSOR) snprintf(w, sizeof w, "fp8-t");
        else if (s->strategy == QT_STRAT_CHANNEL) snprintf(w, sizeof w, "fp8-ch");
        else snprintf(w, sizeof w, "fp8-b%d", s->group);
        break;
    case QT_SCHEME_INT: {
        char g[16];
        if (s->strategy == QT_STRAT_TENSOR) snprintf(g, sizeof g, "t");
        else if (s->strategy == QT_STRAT_CHANNEL) snprintf(g, sizeof g, "ch");
        else snprintf(g, sizeof g, "g%d", s->group);
        snprintf(w, sizeof w, "int%d-%s-%s", s->bits, g, s->sym ? "sym" : "asym");
        break;
    }
    }
    int a = (s->act >= 0 && s->act < QT_ACT_COUNT && s->kind != QT_SCHEME_BF16) ? s->act : 0;
    snprintf(buf, n, "%s%s", w, act_traits[a].suffix);
    return buf;
}

int qt_scheme_equal(const struct qt_scheme *a, const struct qt_scheme *b) {
    char x[QT_SCHEME_STR_MAX], y[QT_SCHEME_STR_MAX];
    return !strcmp(qt_scheme_format(a, x, sizeof x), qt_scheme_format(b, y, sizeof y));
}

const char *qt_scheme_preset_name(const struct qt_scheme *s) {
    char c[QT_SCHEME_STR_MAX];
    qt_scheme_format(s, c, sizeof c);
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(c, presets[i].canon)) return presets[i].name;
    return NULL;
}

int qt_scheme_is_kept(const struct qt_scheme *s) { return s->kind == QT_SCHEME_BF16; }

int qt_scheme_check_shape(const struct qt_scheme *s, long long rows, long long cols, qt_err *err) {
    char c[QT_SCHEME_STR_MAX];
    if (rows <= 0 || cols <= 0) return qt_err_set(err, "%s: empty weight", qt_scheme_format(s, c, sizeof c));
    /* int groups may end in a partial group, as compressed-tensors quantizes
     * them (ceil(K/g) scales per row; lint QT006 says vLLM's kernels refuse
     * it); fp4 groups are packed in fixed blocks and must divide */
    if (s->strategy == QT_STRAT_GROUP && cols % s->group != 0 && s->kind != QT_SCHEME_INT)
        return qt_err_set(err, "%s: %lld input columns are not a multiple of the group size %d",
                          qt_scheme_format(s, c, sizeof c), cols, s->group);
    return QT_OK;
}

void qt_scheme_qargs(const struct qt_scheme *s, struct qt_qargs *wq, struct qt_qargs *iq) {
    if (wq) {
        struct qt_qargs a = {0};
        if (s->kind != QT_SCHEME_BF16) {
            a.present = 1;
            a.num_bits = s->bits;
            a.type = s->kind == QT_SCHEME_INT ? "int" : "float";
            a.symmetric = s->sym;
            a.dynamic = "false";
            switch (s->strategy) {
            case QT_STRAT_TENSOR: a.strategy = "tensor"; break;
            case QT_STRAT_CHANNEL: a.strategy = "channel"; break;
            case QT_STRAT_GROUP:
                a.strategy = s->kind == QT_SCHEME_NVFP4 ? "tensor_group" : "group";
                a.group_size = s->group;
                break;
            case QT_STRAT_BLOCK:
                a.strategy = "block";
                a.block_structure[0] = a.block_structure[1] = s->group;
                break;
            default: break;
            }
            if (s->kind == QT_SCHEME_INT) a.zp_dtype = "int8";
            else if (s->kind == QT_SCHEME_FP8 || s->kind == QT_SCHEME_NVFP4) a.zp_dtype = "float8_e4m3fn";
            else a.zp_dtype = "uint8";
            if (s->kind == QT_SCHEME_NVFP4) a.scale_dtype = "float8_e4m3fn";
            if (s->kind == QT_SCHEME_MXFP4) a.scale_dtype = "uint8";
        }
        *wq = a;
    }
    if (iq) {
        struct qt_qargs a = {0};
        a.present = s->act != QT_ACT_NONE && s->kind != QT_SCHEME_BF16;
        a.symmetric = 1;
        a.type = "float";
        a.dynamic = "true";
        switch (s->act) {
        case QT_ACT_INT8_TOK: a.num_bits = 8; a.type = "int"; a.strategy = "token"; a.zp_dtype = "int8"; break;
        case QT_ACT_INT8_TENSOR:
            a.num_bits = 8; a.type = "int"; a.strategy = "tensor"; a.dynamic = "false"; a.zp_dtype = "int8";
            break;
        case QT_ACT_FP8_TOK: a.num_bits = 8; a.strategy = "token"; a.zp_dtype = "float8_e4m3fn"; break;
        case QT_ACT_FP8_TENSOR:
            a.num_bits = 8; a.strategy = "tensor"; a.dynamic = "false"; a.observer = "static_minmax";
            a.zp_dtype = "float8_e4m3fn";
            break;
        case QT_ACT_FP8_G128: a.num_bits = 8; a.strategy = "group"; a.group_size = 128; a.zp_dtype = "float8_e4m3fn"; break;
        case QT_ACT_NVFP4:
            a.num_bits = 4; a.strategy = "tensor_group"; a.group_size = 16; a.dynamic = "local";
            a.observer = "static_minmax"; a.scale_dtype = "float8_e4m3fn"; a.zp_dtype = "float8_e4m3fn";
            break;
        case QT_ACT_MXFP4:
            a.num_bits = 4; a.strategy = "group"; a.group_size = 32; a.scale_dtype = "uint8"; a.zp_dtype = "uint8";
            break;
        default: a.present = 0; a.type = NULL; a.dynamic = NULL; break;
        }
        *iq = a;
    }
}

const char *qt_scheme_ct_format(const struct qt_scheme *s) {
    const struct qt_scheme_traits *t = qt_scheme_traits(s->kind);
    return s->act != QT_ACT_NONE ? t->ct_format_act : t->ct_format;
}

int qt_scheme_writable(const struct qt_scheme *s, const char *module, int have_static, qt_err *err) {
    char sb[QT_SCHEME_STR_MAX];
    qt_scheme_format(s, sb, sizeof sb);
    if (!qt_scheme_traits(s->kind)->writable)
        return qt_err_set(err, "%s: %s: writing %s checkpoints is not implemented", module, sb,
                          s->kind == QT_SCHEME_NVFP4 || s->kind == QT_SCHEME_MXFP4 ? "fp4" : sb);
    if (s->act == QT_ACT_NVFP4)
        return qt_err_set(err, "%s: %s: nvfp4 activations are not implemented", module, sb);
    if (qt_act_traits(s->act)->is_static && !have_static)
        return qt_err_set(err, "%s: %s: static activation quantization needs calibrated input scales "
                          "(qtune quantize -r RECIPE --calib FILE)", module, sb);
    if (s->kind == QT_SCHEME_INT && (s->bits < 1 || s->bits > 8))
        return qt_err_set(err, "%s: %s: int weights of %d bits cannot be written", module, sb, s->bits);
    return QT_OK;
}

int qt_scheme_scale_shape(const struct qt_scheme *s, int64_t rows, int64_t cols, int64_t shape[2]) {
    switch (s->strategy) {
    case QT_STRAT_TENSOR: shape[0] = 1; shape[1] = 0; return 1;
    case QT_STRAT_CHANNEL: shape[0] = rows; shape[1] = 1; return 2;
    case QT_STRAT_GROUP: shape[0] = rows; shape[1] = (cols + s->group - 1) / s->group; return 2;
    case QT_STRAT_BLOCK:
        shape[0] = (rows + s->group - 1) / s->group;
        shape[1] = (cols + s->group - 1) / s->group;
        return 2;
    default: shape[0] = shape[1] = 0; return 0;
    }
}

static int part(struct qt_scheme_part *p, int n, enum qt_part_kind k, const char *suffix, enum qt_dtype dt,
                int ndim, int64_t d0, int64_t d1) {
    p[n] = (struct qt_scheme_part){.kind = k, .suffix = suffix, .dtype = dt, .ndim = ndim, .shape = {d0, ndim > 1 ? d1 : 0}};
    return n + 1;
}

int qt_scheme_layout(const struct qt_scheme *s, int64_t rows, int64_t cols, enum qt_dtype wd,
                     struct qt_scheme_part *p) {
    int64_t ss[2];
    int snd = qt_scheme_scale_shape(s, rows, cols, ss), n = 0;
    if (qt_dtype_size(wd) == 0) wd = QT_DT_BF16;
    switch (s->kind) {
    case QT_SCHEME_BF16: return 0;
    case QT_SCHEME_INT:
        if (!strcmp(qt_scheme_ct_format(s), "pack-quantized")) {
            n = part(p, n, QT_PART_PACKED, "weight_packed", QT_DT_I32, 2, rows, qt_pack_words(cols, s->bits));
            n = part(p, n, QT_PART_SCALE, "weight_scale", wd, snd, ss[0], ss[1]);
            /* group / channel zero points are packed along the output dimension */
            if (!s->sym && snd == 2)
                n = part(p, n, QT_PART_ZP, "weight_zero_point", QT_DT_I32, 2, qt_pack_words(ss[0], s->bits), ss[1]);
            else if (!s->sym)
                n = part(p, n, QT_PART_ZP, "weight_zero_point", QT_DT_I8, snd, ss[0], ss[1]);
            n = part(p, n, QT_PART_SHAPE, "weight_shape", QT_DT_I64, 1, 2, 0);
        } else {   /* int-quantized: one int8 a weight, whatever the bits */
            n = part(p, n, QT_PART_QWEIGHT, "weight", QT_DT_I8, 2, rows, cols);
            n = part(p, n, QT_PART_SCALE, "weight_scale", wd, snd, ss[0], ss[1]);
            if (!s->sym) n = part(p, n, QT_PART_ZP, "weight_zero_point", QT_DT_I8, snd, ss[0], ss[1]);
        }
        break;
    case QT_SCHEME_FP8:
        n = part(p, n, QT_PART_QWEIGHT, "weight", QT_DT_F8_E4M3, 2, rows, cols);
        n = part(p, n, QT_PART_SCALE, "weight_scale", wd, snd, ss[0], ss[1]);
        break;
    case QT_SCHEME_NVFP4:
        n = part(p, n, QT_PART_FP4, "weight_packed", QT_DT_U8, 2, rows, cols / 2);
        n = part(p, n, QT_PART_SCALE, "weight_scale", QT_DT_F8_E4M3, snd, ss[0], ss[1]);
        n = part(p, n, QT_PART_GLOBAL_SCALE, "weight_global_scale", QT_DT_F32, 1, 1, 0);
        break;
    case QT_SCHEME_MXFP4:
        n = part(p, n, QT_PART_FP4, "weight_packed", QT_DT_U8, 2, rows, cols / 2);
        n = part(p, n, QT_PART_SCALE, "weight_scale", QT_DT_U8, snd, ss[0], ss[1]);
        break;
    }
    /* static inputs: one calibrated scale (nvfp4's is a global scale) */
    if (s->act == QT_ACT_NVFP4) n = part(p, n, QT_PART_INPUT_SCALE, "input_global_scale", QT_DT_F32, 1, 1, 0);
    else if (qt_act_traits(s->act)->is_static) n = part(p, n, QT_PART_INPUT_SCALE, "input_scale", wd, 1, 1, 0);
    return n;
}

int64_t qt_scheme_bytes(const struct qt_scheme *s, int64_t rows, int64_t cols, enum qt_dtype wd) {
    struct qt_scheme_part p[QT_SCHEME_PARTS_MAX];
    int64_t wsz = (int64_t)qt_dtype_size(wd);
    if (qt_scheme_is_kept(s)) return rows * cols * (wsz ? wsz : 2);
    int n = qt_scheme_layout(s, rows, cols, wd, p);
    int64_t b = 0;
    for (int k = 0; k < n; k++)
        b += p[k].shape[0] * (p[k].ndim > 1 ? p[k].shape[1] : 1) * (int64_t)qt_dtype_size(p[k].dtype);
    return b;
}
