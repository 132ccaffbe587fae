/* safetensors.c — mmap'd reader with full header validation, and a writer. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

static int entry_cmp_begin(const void *a, const void *b) {
    const struct qt_st_entry *x = *(const struct qt_st_entry *const *)a;
    const struct qt_st_entry *y = *(const struct qt_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A JSON number that is a non-negative integer representable exactly. */
static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (d < 0 || d > 9007199254740992.0 || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int parse_entry(struct qt_st_file *f, const cJSON *it, struct qt_st_entry *e, qt_err *err) {
    const char *p = f->path;
    if (!cJSON_IsObject(it)) return qt_err_set(err, "%s: tensor \"%s\": entry is not an object", p, it->string);
    e->name = qt_strdup(it->string);
    if (!e->name) return qt_err_set(err, "%s: out of memory", p);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt)) return qt_err_set(err, "%s: tensor \"%s\": missing dtype", p, e->name);
    e->dtype = qt_dtype_parse(dt->valuestring);
    if (e->dtype == QT_DT_UNKNOWN)
        return qt_err_set(err, "%s: tensor \"%s\": unknown dtype \"%s\"", p, e->name, dt->valuestring);
    if (!cJSON_IsArray(sh)) return qt_err_set(err, "%s: tensor \"%s\": missing shape", p, e->name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > QT_ST_MAX_DIMS) return qt_err_set(err, "%s: tensor \"%s\": %d dimensions (at most %d)", p, e->name, nd, QT_ST_MAX_DIMS);
    e->ndim = nd;
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_u64(cJSON_GetArrayItem(sh, d), &v) || v > (1ull << 40))
            return qt_err_set(err, "%s: tensor \"%s\": bad shape", p, e->name);
        e->shape[d] = (int64_t)v;
        if (v && numel > UINT64_MAX / v) return qt_err_set(err, "%s: tensor \"%s\": shape too large", p, e->name);
        numel *= v;
    }
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_u64(cJSON_GetArrayItem(off, 0), &b) || !json_u64(cJSON_GetArrayItem(off, 1), &en) || en < b)
        return qt_err_set(err, "%s: tensor \"%s\": bad data_offsets", p, e->name);
    e->begin = b;
    e->end = en;
    if (en > f->data_len)
        return qt_err_set(err, "%s: tensor \"%s\": data_offsets [%llu, %llu] beyond the data (%llu bytes): file truncated?",
                          p, e->name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)f->data_len);
    uint64_t want = numel * qt_dtype_size(e->dtype);
    if (en - b != want)
        return qt_err_set(err, "%s: tensor \"%s\": %llu bytes but shape × %s needs %llu", p, e->name,
                          (unsigned long long)(en - b), qt_dtype_name(e->dtype), (unsigned long long)want);
    return QT_OK;
}

static int st_parse_header(struct qt_st_file *f, const char *hdr, uint64_t hlen, qt_err *err) {
    cJSON *root = cJSON_ParseWithLength(hdr, (size_t)hlen);
    if (!root) return qt_err_set(err, "%s: header is not valid JSON", f->path);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return qt_err_set(err, "%s: header is not a JSON object", f->path); }
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) if (strcmp(it->string, "__metadata__")) n++;
    f->entries = calloc(n ? (size_t)n : 1, sizeof *f->entries);
    if (!f->entries) { cJSON_Delete(root); return qt_err_set(err, "%s: out of memory", f->path); }
    int k = 0, rc = QT_OK;
    cJSON_ArrayForEach(it, root) {
        if (!strcmp(it->string, "__metadata__")) {
            if (!cJSON_IsObject(it)) { rc = qt_err_set(err, "%s: __metadata__ is not an object", f->path); break; }
            f->metadata_json = cJSON_PrintUnformatted(it);
            continue;
        }
        f->n = k + 1;
        if ((rc = parse_entry(f, it, &f->entries[k++], err)) != QT_OK) break;
    }
    cJSON_Delete(root);
    if (rc != QT_OK) return rc;
    /* Non-overlap: sort views by begin and compare neighbours. */
    struct qt_st_entry **v = malloc((n ? (size_t)n : 1) * sizeof *v);
    if (!v) return qt_err_set(err, "%s: out of memory", f->path);
    for (int i = 0; i < n; i++) v[i] = &f->entries[i];
    qsort(v, (size_t)n, sizeof *v, entry_cmp_begin);
    for (int i = 1; i < n; i++) {
        if (v[i]->begin < v[i - 1]->end && v[i]->end > v[i]->begin) {
            rc = qt_err_set(err, "%s: tensors \"%s\" and \"%s\" overlap", f->path, v[i - 1]->name, v[i]->name);
            break;
        }
    }
    free(v);
    return rc;
}

int qt_st_open(const char *path, struct qt_st_file **out, qt_err *err) {
    *out = NULL;
    struct stat st;
    int fd = qt_open_regular(path, 0, &st, err);   /* a FIFO is refused, never waited on */
    if (fd < 0) return QT_ERR;
    struct qt_st_file *f = calloc(1, sizeof *f);
    if (!f) { close(fd); return qt_err_set(err, "%s: out of memory", path); }
    f->path = qt_strdup(path);
    f->size = (uint64_t)st.st_size;
    if (f->size < 8) {
        close(fd); qt_st_close(f);
        return qt_err_set(err, "%s: too short for a safetensors file (%llu bytes)", path, (unsigned long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { qt_st_close(f); return qt_err_set(err, "%s: mmap: %s", path, strerror(errno)); }
    f->map = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->map[i];
    if (hlen > QT_ST_MAX_HEADER) {
        qt_st_close(f);
        return qt_err_set(err, "%s: header length %llu exceeds the 100 MB limit", path, (unsigned long long)hlen);
    }
    if (hlen > f->size - 8) {
        uint64_t sz = f->size;
        qt_st_close(f);
        return qt_err_set(err, "%s: header length %llu beyond the end of the file (%llu bytes)", path,
                          (unsigned long long)hlen, (unsigned long long)sz);
    }
    f->data = f->map + 8 + hlen;
    f->data_len = f->size - 8 - hlen;
    if (st_parse_header(f, (const char *)f->map + 8, hlen, err) != QT_OK) { qt_st_close(f); return QT_ERR; }
    *out = f;
    return QT_OK;
}

void qt_st_close(struct qt_st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, (size_t)f->size);
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    free(f->metadata_json);
    free(f->path);
    free(f);
}

int qt_st_find(const struct qt_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->entries[i].name, name)) return i;
    return -1;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int qt_st_write(const char *path, const struct qt_st_write_tensor *t, int n,
                const char *metadata_json, qt_err *err) {
    cJSON *root = cJSON_CreateObject();
    if (metadata_json) {
        cJSON *md = cJSON_Parse(metadata_json);
        if (md) cJSON_AddItemToObject(root, "__metadata__", md);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", qt_dtype_name(t[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += t[i].nbytes;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!hdr) return qt_err_set(err, "%s: out of memory", path);
    size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8;   /* align the data to 8 bytes */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { free(hdr); return qt_err_set(err, "%s: %s", tmp, strerror(errno)); }
    uint8_t len8[8];
    uint64_t hlen = hl + pad;
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hlen >> (8 * i));
    int bad = write_all(fd, len8, 8) || write_all(fd, hdr, hl) || write_all(fd, "        ", pad);
    free(hdr);
    for (int i = 0; i < n && !bad; i++) bad = write_all(fd, t[i].data, t[i].nbytes);
    if (!bad) bad = fsync(fd);
    int e = errno;
    if (close(fd) != 0 && !bad) { bad = 1; e = errno; }
    if (bad || rename(tmp, path) != 0) {
        if (!bad) e = errno;
        unlink(tmp);
        return qt_err_set(err, "%s: %s", path, strerror(e));
    }
    return QT_OK;
}
