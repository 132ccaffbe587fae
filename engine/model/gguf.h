/* gguf.h — GGUF v3 files (llama.cpp's model format): reading a file or a
 * split set into keys and tensor descriptors, llama.cpp's tensor names for a
 * Hugging Face checkpoint's tensors (glm4moe), and a GGUF file opened as a
 * qt_model (Hugging Face names, GGUF weights dequantized on read).
 *
 * Layout (gguf.h of ggml): "GGUF", u32 version (3), i64 n_tensors, i64 n_kv,
 * n_kv × (string key, u32 value type, value), n_tensors × (string name,
 * u32 n_dims, i64 ne[n_dims] (ne[0] the row length), u32 ggml type, u64
 * offset), padding to general.alignment (32), tensor data (each tensor at
 * its offset from the start of the data section, aligned).  Strings are u64
 * length + bytes; arrays u32 element type, u64 count, elements.
 * Split sets (gguf-split): NAME-00001-of-0000N.gguf, each with split.no,
 * split.count and split.tensors.count; the first file carries the keys. */
#ifndef QT_GGUF_H
#define QT_GGUF_H
#include <stddef.h>
#include <stdint.h>

#include "base/qt.h"

#define QT_GGUF_ALIGN 32

enum qt_gguf_vtype {
    QT_GGUF_U8 = 0, QT_GGUF_I8 = 1, QT_GGUF_U16 = 2, QT_GGUF_I16 = 3, QT_GGUF_U32 = 4, QT_GGUF_I32 = 5,
    QT_GGUF_F32 = 6, QT_GGUF_BOOL = 7, QT_GGUF_STR = 8, QT_GGUF_ARR = 9, QT_GGUF_U64 = 10,
    QT_GGUF_I64 = 11, QT_GGUF_F64 = 12, QT_GGUF_VTYPE_COUNT
};

struct qt_gguf_kv {
    char *key;
    int type;                 /* enum qt_gguf_vtype */
    int arr_type;             /* element type of an array */
    uint64_t n;               /* array length (1 for scalars) */
    const uint8_t *val;       /* the value's bytes in the mapped file (array: first element) */
};

struct qt_gguf_tensor {
    char *name;               /* "blk.1.ffn_down_exps.weight" */
    int ndim;
    int64_t ne[4];            /* ggml order: ne[0] is the row length */
    int type;                 /* ggml type id (quant/ggml_quants.h) */
    int file;                 /* index of the split file */
    const uint8_t *data;      /* its bytes in the mapped file */
    uint64_t nbytes;
};

struct qt_gguf {
    char *path;               /* the file named (first split) */
    int version;
    uint32_t alignment;
    int n_files;
    void **maps;              /* (n_files) mmaps */
    size_t *map_len;          /* (n_files) */
    int64_t n_kv;
    struct qt_gguf_kv *kv;    /* (n_kv) keys of the first file */
    int64_t n_tensors;
    struct qt_gguf_tensor *t; /* (n_tensors) over all split files, in file order */
};

/* Opens a GGUF file (mmap); a NAME-00001-of-0000N.gguf opens the whole set.
 * Every bound is checked against the file size: a truncated or malformed
 * file is a one-line error naming the file, never a crash. */
int qt_gguf_open(const char *path, struct qt_gguf **out, qt_err *err);
void qt_gguf_close(struct qt_gguf *g);

/* Index of key (-1 when absent). */
int qt_gguf_find(const struct qt_gguf *g, const char *key);
/* Scalar integer / float / bool of a key, any integer or float type;
 * returns 0, or -1 when absent or not a number. */
int qt_gguf_get_i64(const struct qt_gguf *g, const char *key, int64_t *v);
int qt_gguf_get_f64(const struct qt_gguf *g, const char *key, double *v);
/* String value copied into buf (truncated to n); NULL when absent. */
const char *qt_gguf_get_str(const struct qt_gguf *g, const char *key, char *buf, size_t n);
/* Element i of a string array (pointer into the map, length in *len). */
const char *qt_gguf_arr_str(const struct qt_gguf *g, int kv, uint64_t i, uint64_t *len);
const struct qt_gguf_tensor *qt_gguf_tensor(const struct qt_gguf *g, const char *name);
/* Bytes of a value type (0 for strings and arrays). */
size_t qt_gguf_vtype_size(int type);
const char *qt_gguf_vtype_name(int type);

/* llama.cpp's name for a Hugging Face tensor of a glm4_moe checkpoint:
 * "model.layers.1.mlp.experts.3.up_proj.weight" -> "blk.1.ffn_up_exps.weight"
 * with *expert = 3 (routed experts are stacked into one 3-D tensor, expert
 * index outermost); *expert = -1 otherwise.  Returns 0, -1 when the name has
 * no llama.cpp counterpart. */
int qt_gguf_name_from_hf(const char *hf, char *out, size_t n, int *expert);
/* The reverse: GGUF name (+ expert for stacked tensors) -> Hugging Face
 * name.  Returns 0, -1 when unknown. */
int qt_gguf_name_to_hf(const char *gg, int expert, char *out, size_t n);
/* 1 when a GGUF name is a stacked routed-expert tensor. */
int qt_gguf_name_is_stacked(const char *gg);

struct qt_model;
/* Opens a GGUF file as a model: config from the glm4moe keys, every tensor
 * under its Hugging Face name and shape (stacked experts as one tensor per
 * expert), weights read through the GGUF type's dequantizer.  Tensors of a
 * type qtune does not dequantize are listed but fail to read with a message
 * naming the type. */
int qt_model_open_gguf(const char *path, struct qt_model **out, qt_err *err);

#endif
