/* scheme.h — what a tensor becomes: a quantization scheme, its canonical
 * string ("int4-g128-sym", "fp8-ch+afp8-tok", "nvfp4" …), llm-compressor's
 * preset names (W4A16, FP8_DYNAMIC, NVFP4 …) and the compressed-tensors
 * QuantizationArgs a scheme stands for.  DESIGN §4. */
/* Folder quant/ (docs/architecture.md): what a tensor becomes and the
 * arithmetic that makes it — schemes and their traits table (format,
 * writability, layout, bytes, the TUI's steps), round-to-nearest
 * quantization and error statistics bit for bit as compressed-tensors,
 * bit packing, ggml's block formats.  Pure functions of arrays: it includes
 * base/ only (it sits below model/ because the model's reader of quantized
 * checkpoints dequantizes with it). */
#ifndef QT_SCHEME_H
#define QT_SCHEME_H
#include <stddef.h>

#include "base/dtype.h"
#include "base/qt.h"

enum qt_scheme_kind {
    QT_SCHEME_BF16,     /* kept in the source dtype */
    QT_SCHEME_INT,      /* integer, 2..8 bits */
    QT_SCHEME_FP8,      /* fp8 e4m3, scale = amax/448 */
    QT_SCHEME_NVFP4,    /* e2m1, group 16, fp8 e4m3 group scales + fp32 global scale */
    QT_SCHEME_MXFP4,    /* e2m1, group 32, E8M0 group scales */
};

/* Granularity of the weight scales. */
enum qt_strategy {
    QT_STRAT_NONE,      /* bf16 */
    QT_STRAT_TENSOR,    /* one scale for the tensor */
    QT_STRAT_CHANNEL,   /* one scale per output row */
    QT_STRAT_GROUP,     /* one scale per `group` inputs of a row */
    QT_STRAT_BLOCK,     /* one scale per block x block tile */
};

/* Activation (input) quantization that goes with the weights. */
enum qt_act {
    QT_ACT_NONE,        /* A16 */
    QT_ACT_INT8_TOK,    /* "+aint8-tok":  int8 sym per token, dynamic (W8A8) */
    QT_ACT_FP8_TOK,     /* "+afp8-tok":   fp8 per token, dynamic (FP8_DYNAMIC) */
    QT_ACT_FP8_TENSOR,  /* "+afp8-t":     fp8 per tensor, static (FP8) */
    QT_ACT_FP8_G128,    /* "+afp8-g128":  fp8 group 128, dynamic (FP8_BLOCK) */
    QT_ACT_NVFP4,       /* "+anvfp4":     fp4 group 16, local dynamic (NVFP4) */
    QT_ACT_MXFP4,       /* "+amxfp4":     fp4 group 32, E8M0, dynamic (MXFP4) */
    QT_ACT_INT8_TENSOR, /* "+aint8-t":    int8 sym per tensor, static (calibrated input_scale) */
    QT_ACT_COUNT
};

struct qt_scheme {
    enum qt_scheme_kind kind;
    int bits;               /* 16 (bf16), 2..8 (int), 8 (fp8), 4 (fp4) */
    enum qt_strategy strategy;
    int group;              /* group size (GROUP; 16 nvfp4, 32 mxfp4), block edge (BLOCK), else 0 */
    int sym;                /* 1 symmetric (zero point 0); fp always 1 */
    enum qt_act act;
};

/* Longest canonical string plus room. */
#define QT_SCHEME_STR_MAX 64

/* Parses a canonical scheme string or an llm-compressor preset name (preset
 * names are case-insensitive: "w4a16", "FP8_DYNAMIC").  Fills out and returns
 * QT_OK; on an unknown string returns QT_ERR with a message listing what is
 * accepted. */
int qt_scheme_parse(const char *s, struct qt_scheme *out, qt_err *err);

/* Writes the canonical string of s into buf (size n, >= QT_SCHEME_STR_MAX is
 * always enough) and returns buf. */
char *qt_scheme_format(const struct qt_scheme *s, char *buf, size_t n);

/* The llm-compressor preset whose weights and activations equal s
 * ("W4A16", "FP8_DYNAMIC" …), or NULL when none does. */
const char *qt_scheme_preset_name(const struct qt_scheme *s);

/* 1 when the scheme leaves the tensor unquantized. */
int qt_scheme_is_kept(const struct qt_scheme *s);

/* Equality of all fields that matter (what qt_scheme_format prints). */
int qt_scheme_equal(const struct qt_scheme *a, const struct qt_scheme *b);

/* Checks that a rows x cols weight can take the scheme.  Blocks and int
 * groups may be partial at the end (an int group scheme then has
 * ceil(cols/group) scales per row, as compressed-tensors writes them); fp4
 * groups must divide the columns. */
int qt_scheme_check_shape(const struct qt_scheme *s, long long rows, long long cols, qt_err *err);

/* compressed-tensors QuantizationArgs (the fields config.json carries).  String
 * fields point to static strings; NULL means the field is null / omitted. */
struct qt_qargs {
    int present;            /* 0: no such args (bf16 weights, A16 inputs) */
    int num_bits;
    const char *type;       /* "int" | "float" */
    int symmetric;
    int group_size;         /* 0: null */
    const char *strategy;   /* "tensor" "channel" "group" "block" "token" "tensor_group" */
    int block_structure[2]; /* {0,0}: null */
    const char *dynamic;    /* "false" | "true" | "local" (JSON: false / true / "local") */
    const char *observer;   /* as the preset sets it, else NULL (library default) */
    const char *scale_dtype;/* "float8_e4m3fn" (nvfp4), "uint8" (mx), NULL (weight dtype) */
    const char *zp_dtype;   /* "int8", "float8_e4m3fn", "uint8" */
    const char *actorder;   /* NULL (RTN) */
};

/* Fills the weight and input-activation QuantizationArgs of s (either pointer
 * may be NULL). */
void qt_scheme_qargs(const struct qt_scheme *s, struct qt_qargs *weights, struct qt_qargs *inputs);

/* ---- one row per fact (ggml's type_traits) -------------------------------
 * Every fact about a scheme family that more than one module needs lives in
 * one row here: the compressed-tensors format, whether qtune's writer
 * produces it, and the TUI's bits / type steps.  Adding a family is adding a
 * row (docs/architecture.md, "How to add a scheme"). */
struct qt_scheme_traits {
    enum qt_scheme_kind kind;
    const char *family;         /* "bf16" "int" "fp8" "nvfp4" "mxfp4" */
    const char *ct_format;      /* compressed-tensors format, 16-bit activations */
    const char *ct_format_act;  /* the same with quantized activations (int weights
                                   with activations are "int-quantized": 8-bit storage) */
    int writable;               /* 1: qtune's compressed-tensors writer produces it */
    int min_bits, max_bits;     /* bits the TUI's +/- keys move through in the family */
    const char *more_bits;      /* the + step above max_bits ("bf16"), NULL: none */
    const char *fewer_bits;     /* the - step below min_bits, NULL: none */
    const char *next_type;      /* the TUI's type key: the next family's default */
};
const struct qt_scheme_traits *qt_scheme_traits(enum qt_scheme_kind kind);

/* One row per activation quantization: its canonical suffix and whether it
 * is static: one calibrated per-tensor input_scale (+afp8-t, +aint8-t),
 * which the pipeline observes, the writer stores and the forward applies.
 * nvfp4's activations are dynamic per group under a global scale
 * (input_global_scale), which qtune does not calibrate. */
struct qt_act_traits {
    const char *suffix;         /* "+aint8-tok", "" for A16 */
    int is_static;              /* 1: a calibrated per-tensor input_scale */
};
const struct qt_act_traits *qt_act_traits(enum qt_act act);

/* The compressed-tensors "format" a module with this scheme is written in:
 * "pack-quantized" (int weights, 16-bit activations), "int-quantized" (int
 * weights with quantized activations), "float-quantized" (fp8),
 * "nvfp4-pack-quantized", "mxfp4-pack-quantized", or "dense" for bf16. */
const char *qt_scheme_ct_format(const struct qt_scheme *s);

/* QT_OK when qtune's compressed-tensors writer can produce a module of s;
 * else QT_ERR with "<module>: <scheme>: <why>".  have_static: the module's
 * calibrated input scale exists (static activations need one). */
int qt_scheme_writable(const struct qt_scheme *s, const char *module, int have_static, qt_err *err);

/* The tensors one quantized module of a rows x cols weight is stored as, in
 * the order the writer writes them: compressed-tensors' layout. */
enum qt_part_kind {
    QT_PART_PACKED,         /* weight_packed I32 (rows, ceil(cols*b/32)) */
    QT_PART_QWEIGHT,        /* weight I8 / F8_E4M3 (rows, cols) */
    QT_PART_FP4,            /* weight_packed U8 (rows, cols/2): two e2m1 codes a byte */
    QT_PART_SCALE,          /* weight_scale (scale grid) */
    QT_PART_ZP,             /* weight_zero_point */
    QT_PART_SHAPE,          /* weight_shape I64 (2) */
    QT_PART_GLOBAL_SCALE,   /* weight_global_scale F32 (1) */
    QT_PART_INPUT_SCALE,    /* input_scale / input_global_scale (1) */
};
struct qt_scheme_part {
    enum qt_part_kind kind;
    const char *suffix;         /* "weight_packed", "weight_scale", ... */
    enum qt_dtype dtype;
    int ndim;                   /* 1 or 2 */
    int64_t shape[2];           /* shape[1] 0 when ndim is 1 */
};
#define QT_SCHEME_PARTS_MAX 6

/* Scale grid of s for a rows x cols weight, as compressed-tensors shapes
 * weight_scale: tensor (1), channel (rows, 1), group (rows, ceil(cols/g)),
 * block (ceil(rows/b), ceil(cols/b)).  Returns ndim (0 for bf16). */
int qt_scheme_scale_shape(const struct qt_scheme *s, int64_t rows, int64_t cols, int64_t shape[2]);

/* Fills parts (QT_SCHEME_PARTS_MAX) with the tensors a module of s is
 * written as; wdtype is the dtype scales are stored in (the weight's).
 * Returns the count (0 for bf16: the tensor is copied as it is). */
int qt_scheme_layout(const struct qt_scheme *s, int64_t rows, int64_t cols, enum qt_dtype wdtype,
                     struct qt_scheme_part *parts);

/* Bytes of a rows x cols weight once written: the sum of its layout, or
 * rows*cols*size(wdtype) when kept.  What preview, deploy, the TUI and the
 * writer count, so they agree byte for byte. */
int64_t qt_scheme_bytes(const struct qt_scheme *s, int64_t rows, int64_t cols, enum qt_dtype wdtype);

#endif
