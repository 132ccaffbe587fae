/* safetensors.h — a validated, mmap'd safetensors file.
 *
 * Layout: u64 LE header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the data; offsets are relative to the data start. */
#ifndef QT_SAFETENSORS_H
#define QT_SAFETENSORS_H
#include <stdint.h>

#include "base/dtype.h"
#include "base/qt.h"

#define QT_ST_MAX_HEADER (100u * 1000u * 1000u)
#define QT_ST_MAX_DIMS 8

struct qt_st_entry {
    char *name;
    enum qt_dtype dtype;
    int ndim;
    int64_t shape[QT_ST_MAX_DIMS];
    uint64_t begin, end;      /* relative to the data start */
};

struct qt_st_file {
    char *path;
    const uint8_t *map;       /* (size) whole file, read-only */
    uint64_t size;
    const uint8_t *data;      /* map + 8 + header length */
    uint64_t data_len;
    int n;
    struct qt_st_entry *entries;  /* (n) in header order */
    char *metadata_json;      /* "__metadata__" re-serialized, or NULL */
};

/* Maps and validates a file: header length within the file and ≤ 100 MB,
 * JSON object, known dtypes, shapes of non-negative integers, offsets within
 * the data, size = numel × dtype size, no two tensors overlapping.  On error
 * the message is "<path>: <problem>". */
int qt_st_open(const char *path, struct qt_st_file **out, qt_err *err);
void qt_st_close(struct qt_st_file *f);

/* Index of the entry named name, or -1 (linear search; the model keeps a hash). */
int qt_st_find(const struct qt_st_file *f, const char *name);

static inline const void *qt_st_entry_data(const struct qt_st_file *f, int i) {
    return f->data + f->entries[i].begin;
}

/* Writes a safetensors file (used by tests and the checkpoint writer): n
 * tensors with names, dtypes, shapes and data, optional metadata JSON object
 * text.  Written to a temporary name, fsync'd and renamed. */
struct qt_st_write_tensor {
    const char *name;
    enum qt_dtype dtype;
    int ndim;
    int64_t shape[QT_ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
};
int qt_st_write(const char *path, const struct qt_st_write_tensor *t, int n,
                const char *metadata_json, qt_err *err);
#endif
