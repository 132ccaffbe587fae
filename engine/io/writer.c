/* writer.c — compressed-tensors checkpoint writer: plan the output tensors,
 * stream them into shards (quantizing one module at a time), then config,
 * index, side files and the report, all inside OUT.partial-XXXXXX. */
#include "io/writer.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "backend/backend.h"
#include "backend/select.h"
#include "io/outdir.h"
#include "quant/pack.h"
#include "quant/quant.h"
#include "model/safetensors.h"
#include "quant/scheme.h"

/* What an output tensor holds: a source tensor copied as it is, GPTQ's
 * activation-order groups, a calibrated scalar (input_scale, k_scale,
 * v_scale: its bytes in the entry), or one part of a quantized module's
 * layout (enum qt_part_kind, quant/scheme.h). */
#define PART_RAW (-1)
#define PART_GIDX (-2)
#define PART_SMALL (-3)

/* One tensor of the output. */
struct out_entry {
    char *name;
    enum qt_dtype dtype;
    int ndim;
    int64_t shape[4];
    uint64_t nbytes;
    int tensor;               /* model tensor index */
    int part;                 /* PART_RAW or an enum qt_part_kind */
    int last;                 /* last entry of its module */
    int shard;
    uint64_t offset;          /* within the shard's data */
    unsigned char small[8];   /* PART_SMALL: the bytes */
};

struct plan {
    int n, cap;
    struct out_entry *e;      /* (n) in model order, a module's parts together */
    int n_shards;
    uint64_t total;           /* sum of nbytes */
};

/* Buffers of the module being written. */
struct modbuf {
    int tensor;               /* -1 when empty */
    struct qt_qtensor q;
    int32_t *packed;          /* (rows, words(cols)) pack-quantized */
    int32_t *zp_packed;       /* (words(srows), scols) */
    void *scale;              /* (srows, scols) in the weight dtype */
    int64_t shape[2];         /* weight_shape */
    int32_t *g_idx;           /* (cols) GPTQ activation-order groups, or NULL */
};

int qt_write_parse_size(const char *s, uint64_t *out, qt_err *err) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v <= 0) return qt_err_set(err, "%s: not a size (e.g. 5GB, 500MB)", s);
    while (*end == ' ') end++;
    char u[8] = {0};
    for (int i = 0; end[i] && i < 7; i++) u[i] = (char)toupper((unsigned char)end[i]);
    double mul;
    if (!*u || !strcmp(u, "B")) mul = 1;
    else if (!strcmp(u, "KB") || !strcmp(u, "K")) mul = 1e3;
    else if (!strcmp(u, "MB") || !strcmp(u, "M")) mul = 1e6;
    else if (!strcmp(u, "GB") || !strcmp(u, "G")) mul = 1e9;
    else if (!strcmp(u, "TB") || !strcmp(u, "T")) mul = 1e12;
    else if (!strcmp(u, "KIB")) mul = 1024.0;
    else if (!strcmp(u, "MIB")) mul = 1024.0 * 1024;
    else if (!strcmp(u, "GIB")) mul = 1024.0 * 1024 * 1024;
    else return qt_err_set(err, "%s: unknown size unit (B, KB, MB, GB, TB, KiB, MiB, GiB)", s);
    *out = (uint64_t)(v * mul);
    if (*out == 0) return qt_err_set(err, "%s: size must be at least one byte", s);
    return QT_OK;
}

/* ---- planning -------------------------------------------------------------- */

static int plan_add(struct plan *p, const char *module, const char *suffix, enum qt_dtype dt, int ndim,
                    int64_t d0, int64_t d1, int tensor, int part) {
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 256;
        struct out_entry *ne = realloc(p->e, (size_t)nc * sizeof *ne);
        if (!ne) return QT_ERR;
        p->e = ne;
        p->cap = nc;
    }
    struct out_entry *e = &p->e[p->n];
    memset(e, 0, sizeof *e);
    size_t len = strlen(module) + strlen(suffix) + 1;
    e->name = malloc(len);
    if (!e->name) return QT_ERR;
    snprintf(e->name, len, "%s%s", module, suffix);
    e->dtype = dt;
    e->ndim = ndim;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->nbytes = (uint64_t)d0 * (uint64_t)(ndim > 1 ? d1 : 1) * qt_dtype_size(dt);
    e->tensor = tensor;
    e->part = part;
    p->n++;
    return QT_OK;
}

static void plan_free(struct plan *p) {
    for (int i = 0; i < p->n; i++) free(p->e[i].name);
    free(p->e);
    memset(p, 0, sizeof *p);
}

/* The dtype the quantizer works in and scales are stored in. */
static enum qt_dtype work_dtype(const struct qt_model *m, const struct qt_tensor *t) {
    if (t->dtype == QT_DT_BF16 || t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32) return t->dtype;
    if (m->cfg.dtype == QT_DT_F16 || m->cfg.dtype == QT_DT_F32) return m->cfg.dtype;
    return QT_DT_BF16;
}

/* A PART_SMALL entry: one value v of dtype dt, shape [1]. */
static int plan_small(struct plan *pl, const char *module, const char *suffix, enum qt_dtype dt, float v, int tensor) {
    if (plan_add(pl, module, suffix, dt, 1, 1, 0, tensor, PART_SMALL) != QT_OK) return QT_ERR;
    struct out_entry *e = &pl->e[pl->n - 1];
    if (dt == QT_DT_BF16) { uint16_t b = qt_f32_to_bf16(v); memcpy(e->small, &b, 2); }
    else if (dt == QT_DT_F16) { uint16_t b = qt_f32_to_f16(v); memcpy(e->small, &b, 2); }
    else { memcpy(e->small, &v, 4); e->dtype = QT_DT_F32; e->nbytes = 4; }
    return QT_OK;
}

static int build_plan(const struct qt_model *m, const struct qt_write_params *p, const struct qt_scheme *gs,
                      struct plan *pl, qt_err *err) {
    char mod[512];
    /* FP8 sources: a weight_scale goes with its weight, dropped when the weight is requantized. */
    int *drop = calloc((size_t)m->n_tensors + 1, sizeof *drop);
    if (!drop) return qt_err_set(err, "out of memory");
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->scale >= 0 && p->tensor_group[i] >= 0) drop[t->scale] = 1;
    }
    int rc = QT_OK;
    for (int i = 0; i < m->n_tensors && rc == QT_OK; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        int g = p->tensor_group[i];
        if (drop[i]) continue;
        if (g < 0 && t->ct) {
            rc = qt_err_set(err, "%s: a quantized module of the source checkpoint left unquantized: copying "
                            "compressed-tensors modules is not supported (quantize it or start from the BF16 model)",
                            t->name);
            break;
        }
        if (g < 0) {
            if (plan_add(pl, t->name, "", t->dtype, 0, 0, 0, i, PART_RAW) != QT_OK) { rc = qt_err_set(err, "out of memory"); break; }
            struct out_entry *e = &pl->e[pl->n - 1];
            e->ndim = t->ndim;
            for (int d = 0; d < t->ndim && d < 4; d++) e->shape[d] = t->shape[d];
            e->nbytes = t->nbytes;
            e->last = 1;
            continue;
        }
        if (g >= p->n_groups) { rc = qt_err_set(err, "%s: config group %d out of range", t->name, g); break; }
        const struct qt_scheme *s = &gs[g];
        qt_tensor_module(t, mod, sizeof mod);
        if (t->ndim != 2 || !qt_str_ends_with(t->name, ".weight")) {
            rc = qt_err_set(err, "%s: only 2-D .weight tensors can be quantized", t->name);
            break;
        }
        float isc = 0;
        int have_is = qt_pipe_input_scale(p->pipe, i, &isc) == QT_OK;
        if (qt_scheme_writable(s, mod, have_is, err) != QT_OK ||
            qt_scheme_check_shape(s, t->shape[0], t->shape[1], err) != QT_OK) {
            if (!strstr(err->msg, mod)) qt_err_prefix(err, "%s", mod);
            rc = QT_ERR;
            break;
        }
        /* the module's tensors are its scheme's layout: the same rows that
         * preview, deploy and the TUI count bytes from */
        struct qt_scheme_part parts[QT_SCHEME_PARTS_MAX];
        int np = qt_scheme_layout(s, t->shape[0], t->shape[1], work_dtype(m, t), parts);
        int ok = 1;
        char pre[520];
        snprintf(pre, sizeof pre, "%s.", mod);
        /* the calibrated input_scale (the layout's QT_PART_INPUT_SCALE) comes
         * first, as the pipeline's scalar */
        if (have_is) ok &= plan_small(pl, pre, "input_scale", work_dtype(m, t), isc, i) == QT_OK;
        for (int k = 0; k < np; k++)
            if (parts[k].kind != QT_PART_INPUT_SCALE)
                ok &= plan_add(pl, pre, parts[k].suffix, parts[k].dtype, parts[k].ndim, parts[k].shape[0],
                               parts[k].shape[1], i, (int)parts[k].kind) == QT_OK;
        /* weight_g_idx I32 (cols): GPTQ's activation order (deploy counts it too) */
        if (qt_pipe_has_gidx(p->pipe, i))
            ok &= plan_add(pl, pre, "weight_g_idx", QT_DT_I32, 1, t->shape[1], 0, i, PART_GIDX) == QT_OK;
        if (!ok) { rc = qt_err_set(err, "out of memory"); break; }
        pl->e[pl->n - 1].last = 1;
    }
    /* kv-cache scales: one k_scale and v_scale per attention, named as
     * compressed-tensors saves them (vLLM maps self_attn.k_scale to its
     * attention's k_scale), each an entry of its own */
    for (int i = 0; i < m->n_tensors && rc == QT_OK; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        float ks, vs;
        if (t->role != QT_ROLE_ATTN_K || t->mtp || !qt_str_ends_with(t->name, ".weight") ||
            qt_pipe_kv_scales(p->pipe, t->layer, &ks, &vs) != QT_OK)
            continue;
        char pre[520];
        snprintf(pre, sizeof pre, "model.layers.%d.self_attn.", t->layer);
        enum qt_dtype wd = work_dtype(m, t);
        if (plan_small(pl, pre, "k_scale", wd, ks, i) != QT_OK || plan_small(pl, pre, "v_scale", wd, vs, i) != QT_OK) {
            rc = qt_err_set(err, "out of memory");
            break;
        }
        pl->e[pl->n - 2].last = pl->e[pl->n - 1].last = 1;
    }
    free(drop);
    if (rc != QT_OK) return rc;
    /* Shards: whole modules, a new shard when the next module would overflow. */
    uint64_t max = p->max_shard_bytes ? p->max_shard_bytes : QT_WRITE_DEFAULT_SHARD;
    uint64_t cur = 0;
    int shard = 0;
    for (int i = 0; i < pl->n;) {
        int j = i;
        uint64_t sz = 0;
        while (j < pl->n) { sz += pl->e[j].nbytes; if (pl->e[j++].last) break; }
        if (cur > 0 && cur + sz > max) { shard++; cur = 0; }
        for (int k = i; k < j; k++) pl->e[k].shard = shard;
        cur += sz;
        pl->total += sz;
        i = j;
    }
    /* Offsets: within a shard, 8-byte elements first, then 4, 2, 1, as the
     * safetensors library lays tensors out, so every tensor is aligned to its
     * element size (the writer streams modules and pwrites each part to its
     * place). */
    uint64_t *off = calloc((size_t)shard + 1, sizeof *off);
    if (!off) return qt_err_set(err, "out of memory");
    for (size_t al = 8; al >= 1; al /= 2)
        for (int i = 0; i < pl->n; i++) {
            struct out_entry *e = &pl->e[i];
            if (qt_dtype_size(e->dtype) != al) continue;
            e->offset = off[e->shard];
            off[e->shard] += e->nbytes;
        }
    free(off);
    pl->n_shards = pl->n ? shard + 1 : 0;
    return QT_OK;
}

/* ---- writing --------------------------------------------------------------- */

/* Writes n bytes at file offset off (off < 0: at the current position). */
static int pwrite_all(int fd, const void *buf, uint64_t n, int64_t off, const char *path, qt_err *err) {
    const uint8_t *b = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t w = off < 0 ? write(fd, b, chunk) : pwrite(fd, b, chunk, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return qt_err_set(err, "%s: %s", path, strerror(errno));
        }
        if (w == 0) return qt_err_set(err, "%s: write returned 0", path);
        b += w;
        n -= (uint64_t)w;
        if (off >= 0) off += w;
    }
    return QT_OK;
}

static int write_all(int fd, const void *buf, uint64_t n, const char *path, qt_err *err) {
    return pwrite_all(fd, buf, n, -1, path, err);
}

static void modbuf_clear(struct modbuf *b) {
    qt_qtensor_free(&b->q);   /* safe on a zeroed qtensor */
    free(b->packed);
    free(b->zp_packed);
    free(b->scale);
    free(b->g_idx);
    memset(b, 0, sizeof *b);
    b->tensor = -1;
}

/* Quantizes tensor ti into b under scheme s. */
static int modbuf_fill(struct modbuf *b, struct qt_backend *be, const struct qt_model *m, const struct qt_pipe *pipe, int ti,
                       const struct qt_scheme *s, qt_err *err) {
    const struct qt_tensor *t = &m->tensors[ti];
    int64_t N = t->shape[0], K = t->shape[1];
    enum qt_dtype wd = work_dtype(m, t);
    if (pipe) {   /* calibrated: the pipeline's codes and scales */
        b->g_idx = qt_pipe_has_gidx(pipe, ti) ? malloc(sizeof(int32_t) * (size_t)K) : NULL;
        if (qt_pipe_has_gidx(pipe, ti) && !b->g_idx) return qt_err_set(err, "out of memory");
        int prc = qt_pipe_get(pipe, ti, &b->q, b->g_idx, err);
        if (prc == QT_ERR) return qt_err_prefix(err, "%s", t->name);
        if (prc == QT_OK) goto have_q;
    }
    float *w = malloc((size_t)(N * K) * sizeof *w);   /* (N, K) */
    if (!w) return qt_err_set(err, "%s: out of memory (%lld x %lld)", t->name, (long long)N, (long long)K);
    int rc = qt_tensor_read_f32(m, t, 0, N, w, err);
    /* Source values widened to float; round to the work dtype as the
     * quantizer expects (FP8 sources dequantize to arbitrary floats). */
    if (rc == QT_OK && t->dtype != wd)
        for (int64_t i = 0; i < N * K; i++)
            w[i] = wd == QT_DT_BF16 ? qt_bf16_to_f32(qt_f32_to_bf16(w[i]))
                 : wd == QT_DT_F16 ? qt_f16_to_f32(qt_f32_to_f16(w[i])) : w[i];
    if (rc == QT_OK) rc = qt_backend_quant_tensor(be, w, N, K, s, wd, 0, &b->q, NULL, err);
    free(w);
    if (rc != QT_OK) return qt_err_prefix(err, "%s", t->name);
have_q:
    b->tensor = ti;
    int64_t ns = b->q.srows * b->q.scols;
    size_t es = qt_dtype_size(wd);
    b->scale = malloc((size_t)ns * es);
    if (!b->scale) return qt_err_set(err, "out of memory");
    for (int64_t i = 0; i < ns; i++) {
        if (wd == QT_DT_BF16) ((uint16_t *)b->scale)[i] = qt_f32_to_bf16(b->q.scale[i]);
        else if (wd == QT_DT_F16) ((uint16_t *)b->scale)[i] = qt_f32_to_f16(b->q.scale[i]);
        else ((float *)b->scale)[i] = b->q.scale[i];
    }
    b->shape[0] = N;
    b->shape[1] = K;
    if (!strcmp(qt_scheme_ct_format(s), "pack-quantized")) {
        b->packed = malloc((size_t)(N * qt_pack_words(K, s->bits)) * sizeof(int32_t));
        if (!b->packed) return qt_err_set(err, "out of memory");
        if (qt_pack_rows(b->q.q, N, K, s->bits, b->packed, err) != QT_OK) return qt_err_prefix(err, "%s", t->name);
        if (!s->sym && (s->strategy == QT_STRAT_GROUP || s->strategy == QT_STRAT_CHANNEL)) {
            b->zp_packed = malloc((size_t)(qt_pack_words(b->q.srows, s->bits) * b->q.scols) * sizeof(int32_t));
            if (!b->zp_packed) return qt_err_set(err, "out of memory");
            if (qt_pack_cols(b->q.zero, b->q.srows, b->q.scols, s->bits, b->zp_packed, err) != QT_OK)
                return qt_err_prefix(err, "%s", t->name);
        }
    }
    return QT_OK;
}

static const void *entry_bytes(const struct out_entry *e, const struct modbuf *b, const struct qt_model *m) {
    switch (e->part) {
    case PART_RAW: return m->tensors[e->tensor].data;
    case QT_PART_PACKED: return b->packed;
    case QT_PART_QWEIGHT: return b->q.q;
    case QT_PART_SCALE: return b->scale;
    case QT_PART_ZP: return b->zp_packed ? (const void *)b->zp_packed : (const void *)b->q.zero;
    case QT_PART_SHAPE: return b->shape;
    case PART_GIDX: return b->g_idx;
    case PART_SMALL: return e->small;
    default: return NULL;   /* fp4: refused by qt_scheme_writable */
    }
    return NULL;
}

static void shard_name(const struct plan *pl, int s, char *buf, size_t n) {
    if (pl->n_shards == 1) snprintf(buf, n, "model.safetensors");
    else snprintf(buf, n, "model-%05d-of-%05d.safetensors", s + 1, pl->n_shards);
}

/* The safetensors header of shard s, padded with spaces to a multiple of 8. */
static char *shard_header(const struct plan *pl, int s, uint64_t *len) {
    cJSON *h = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(md, "format", "pt");
    for (int i = 0; i < pl->n; i++) {
        const struct out_entry *e = &pl->e[i];
        if (e->shard != s) continue;
        cJSON *o = cJSON_AddObjectToObject(h, e->name);
        cJSON_AddStringToObject(o, "dtype", qt_dtype_name(e->dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)e->offset));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(e->offset + e->nbytes)));
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!js) return NULL;
    size_t n = strlen(js), padded = (n + 7) & ~(size_t)7;
    char *out = malloc(8 + padded);
    if (!out) { free(js); return NULL; }
    uint64_t hl = padded;
    for (int i = 0; i < 8; i++) out[i] = (char)((hl >> (8 * i)) & 0xff);
    memcpy(out + 8, js, n);
    memset(out + 8 + n, ' ', padded - n);
    free(js);
    *len = 8 + padded;
    return out;
}

struct wstate {
    const struct qt_model *m;
    const struct qt_write_params *p;
    struct qt_backend *be;        /* p->be or the default: quantizes */
    const struct qt_scheme *gs;   /* (p->n_groups) parsed group schemes */
    struct plan pl;
    int64_t done, total;      /* source bytes */
    int64_t written;
    int n_quantized, n_kept;
    cJSON *modules;           /* report rows */
};

static int is_cancelled(const struct qt_write_params *p) { return p->cancel && *p->cancel; }

/* ---- the quantization pipeline -------------------------------------------- */

/* Modules are quantized in plan order by qt_nthreads() worker threads while
 * this thread writes the finished ones in order, so reading, quantizing and
 * writing overlap.  A module is split into chunks of rows (whole scale bands)
 * that workers take one at a time, so a huge tensor (lm_head, embeddings)
 * spreads over every thread; the last chunk's worker finishes the module
 * (scales to the weight dtype, zero points packed).  Buffers of modules
 * started but not yet written stay under PIPE_BYTES (the module the writer
 * waits for may always start). */
#define PIPE_BYTES (512ull << 20)
#define CHUNK_ELEMS (1 << 21)         /* elements per chunk, about */

struct pjob {
    int tensor;
    const struct qt_scheme *s;
    enum qt_dtype wd;
    const uint16_t *bf16;         /* (N, K) the source as it is, when BF16 in the work dtype */
    size_t src_bytes;             /* its size */
    int64_t chunk_rows;
    int nchunks, claimed, done;   /* chunks handed out, finished (under mu) */
    int observed;                 /* tensor min/max known (needs_global), under mu */
    int ready;                    /* buffers complete, under mu */
    int whole;                    /* one chunk by modbuf_fill (CUDA backend, calibrated) */
    uint64_t bytes;               /* buffer bytes while in flight */
    struct qt_qctx ctx;
    struct modbuf b;
};

struct pipe {
    const struct wstate *ws;
    struct pjob *j;               /* (n) quantized modules in plan order */
    int n;
    int claim;                    /* first job with chunks left */
    int wnext;                    /* job the writer waits for */
    uint64_t inflight;            /* bytes of started, unwritten jobs */
    int stop;
    int rc;
    qt_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* any change: a chunk, a job ready, a job written */
};

/* Whether tensor t can be quantized straight from its mmap'd bytes. */
static const uint16_t *direct_bf16(const struct qt_tensor *t, enum qt_dtype wd) {
    if (t->dtype != QT_DT_BF16 || wd != QT_DT_BF16 || t->scale >= 0 || t->ct || t->gg || !t->data) return NULL;
    return t->data;
}

/* Rows [r0, r0 + n) of t as float32 in the work dtype into out (n, K). */
static int read_rows(const struct qt_model *m, const struct qt_tensor *t, enum qt_dtype wd, int64_t r0, int64_t n,
                     float *out, qt_err *err) {
    int64_t K = t->shape[1];
    if (qt_tensor_read_f32(m, t, r0, n, out, err) != QT_OK) return QT_ERR;
    /* source values widened to float; round to the work dtype as the
     * quantizer expects (FP8 sources dequantize to arbitrary floats) */
    if (t->dtype != wd)
        for (int64_t i = 0; i < n * K; i++)
            out[i] = wd == QT_DT_BF16 ? qt_bf16_to_f32(qt_f32_to_bf16(out[i]))
                   : wd == QT_DT_F16 ? qt_f16_to_f32(qt_f32_to_f16(out[i])) : out[i];
    return QT_OK;
}

/* Per-worker buffers, grown to the largest chunk seen. */
struct wscratch {
    float *f;                     /* (chunk rows, K) float32 rows */
    int8_t *codes;                /* (chunk rows, K) codes of a packed module */
    size_t nf, nc;
};

static int scratch_grow(struct wscratch *w, size_t nf, size_t nc) {
    if (nf > w->nf) {
        free(w->f);
        w->f = malloc(nf * sizeof *w->f);
        w->nf = w->f ? nf : 0;
        if (!w->f) return QT_ERR;
    }
    if (nc > w->nc) {
        free(w->codes);
        w->codes = malloc(nc);
        w->nc = w->codes ? nc : 0;
        if (!w->codes) return QT_ERR;
    }
    return QT_OK;
}

/* Allocates job J's buffers and context (the first chunk's claimant, under mu). */
static int pjob_start(const struct wstate *ws, struct pjob *J, qt_err *err) {
    const struct qt_tensor *t = &ws->m->tensors[J->tensor];
    int64_t N = t->shape[0], K = t->shape[1];
    struct modbuf *b = &J->b;
    memset(b, 0, sizeof *b);
    b->tensor = J->tensor;
    if (J->whole) return QT_OK;                   /* modbuf_fill does it all */
    const struct qt_scheme *s = J->s;
    int packed = s->kind == QT_SCHEME_INT && s->act == QT_ACT_NONE;
    if (qt_qctx_init(&J->ctx, s, J->wd, N, K, NULL, err) != QT_OK ||
        qt_qtensor_init(&b->q, s, J->wd, N, K, !packed, err) != QT_OK)
        return qt_err_prefix(err, "%s", t->name);
    if (packed) {
        b->packed = malloc((size_t)(N * qt_pack_words(K, s->bits)) * sizeof(int32_t));
        if (!b->packed) return qt_err_set(err, "%s: out of memory", t->name);
    }
    b->shape[0] = N;
    b->shape[1] = K;
    return QT_OK;
}

/* Tensor min/max of job J for the schemes that need it (no lock held). */
static int pjob_observe(const struct wstate *ws, struct pjob *J, struct wscratch *w, qt_err *err) {
    const struct qt_tensor *t = &ws->m->tensors[J->tensor];
    int64_t N = t->shape[0], K = t->shape[1];
    if (J->bf16) {
        if (qt_be_minmax(ws->be, J->bf16, QT_DT_BF16, N * K, &J->ctx.gmin, &J->ctx.gmax, err) != QT_OK)
            return qt_err_prefix(err, "%s", t->name);
    } else {
        for (int64_t r = 0; r < N; r += J->chunk_rows) {
            int64_t n = r + J->chunk_rows > N ? N - r : J->chunk_rows;
            if (scratch_grow(w, (size_t)(n * K), 0) != QT_OK) return qt_err_set(err, "%s: out of memory", t->name);
            if (read_rows(ws->m, t, J->wd, r, n, w->f, err) != QT_OK) return qt_err_prefix(err, "%s", t->name);
            float a, z;
            if (qt_be_minmax(ws->be, w->f, QT_DT_F32, n * K, &a, &z, err) != QT_OK)
                return qt_err_prefix(err, "%s", t->name);
            if (a < J->ctx.gmin) J->ctx.gmin = a;
            if (z > J->ctx.gmax) J->ctx.gmax = z;
        }
    }
    qt_qctx_finish_observe(&J->ctx);
    return QT_OK;
}

/* Chunk c of job J: read, quantize, pack (no lock held). */
static int pjob_chunk(const struct wstate *ws, struct pjob *J, int c, struct wscratch *w, qt_err *err) {
    const struct qt_tensor *t = &ws->m->tensors[J->tensor];
    if (J->whole) return modbuf_fill(&J->b, ws->be, ws->m, ws->p->pipe, J->tensor, J->s, err);
    int64_t N = t->shape[0], K = t->shape[1];
    int64_t r0 = (int64_t)c * J->chunk_rows, n = r0 + J->chunk_rows > N ? N - r0 : J->chunk_rows;
    struct modbuf *b = &J->b;
    const void *x = J->bf16 ? (const void *)(J->bf16 + r0 * K) : NULL;
    if (scratch_grow(w, J->bf16 ? 0 : (size_t)(n * K), b->packed ? (size_t)(n * K) : 0) != QT_OK)
        return qt_err_set(err, "%s: out of memory", t->name);
    if (!x) {
        if (read_rows(ws->m, t, J->wd, r0, n, w->f, err) != QT_OK) return qt_err_prefix(err, "%s", t->name);
        x = w->f;
    }
    int8_t *codes = b->packed ? w->codes : b->q.q + r0 * K;
    if (qt_be_quantize(ws->be, &J->ctx, x, J->bf16 ? QT_DT_BF16 : QT_DT_F32, r0, n, codes, &b->q, NULL, err) != QT_OK)
        return qt_err_prefix(err, "%s", t->name);
    if (b->packed && qt_pack_rows(codes, n, K, J->s->bits, b->packed + r0 * qt_pack_words(K, J->s->bits), err) != QT_OK)
        return qt_err_prefix(err, "%s", t->name);
    return QT_OK;
}

/* After the last chunk: scales in the weight dtype, zero points packed. */
static int pjob_finish(struct pjob *J, const struct qt_model *m, qt_err *err) {
    struct modbuf *b = &J->b;
    if (b->scale) return QT_OK;                   /* modbuf_fill did it */
    const struct qt_scheme *s = J->s;
    int64_t ns = b->q.srows * b->q.scols;
    size_t es = qt_dtype_size(J->wd);
    b->scale = malloc((size_t)ns * es);
    if (!b->scale) return qt_err_set(err, "out of memory");
    for (int64_t i = 0; i < ns; i++) {
        if (J->wd == QT_DT_BF16) ((uint16_t *)b->scale)[i] = qt_f32_to_bf16(b->q.scale[i]);
        else if (J->wd == QT_DT_F16) ((uint16_t *)b->scale)[i] = qt_f32_to_f16(b->q.scale[i]);
        else ((float *)b->scale)[i] = b->q.scale[i];
    }
    if (b->packed && !s->sym && (s->strategy == QT_STRAT_GROUP || s->strategy == QT_STRAT_CHANNEL)) {
        b->zp_packed = malloc((size_t)(qt_pack_words(b->q.srows, s->bits) * b->q.scols) * sizeof(int32_t));
        if (!b->zp_packed) return qt_err_set(err, "out of memory");
        if (qt_pack_cols(b->q.zero, b->q.srows, b->q.scols, s->bits, b->zp_packed, err) != QT_OK)
            return qt_err_prefix(err, "%s", m->tensors[J->tensor].name);
    }
    return QT_OK;
}

static void pipe_fail(struct pipe *P, const qt_err *e) {
    if (P->rc == QT_OK) { P->rc = QT_ERR; P->err = *e; }
    P->stop = 1;
    pthread_cond_broadcast(&P->cv);
}

/* One part of the pool job: claims chunks until every job is claimed. */
static void pipe_worker(void *arg, int64_t i0, int64_t i1) {
    struct pipe *P = arg;
    (void)i0;
    (void)i1;
    const struct wstate *ws = P->ws;
    struct wscratch w = {0};
    qt_err e;
    pthread_mutex_lock(&P->mu);
    for (;;) {
        if (P->stop || P->claim >= P->n) break;
        if (is_cancelled(ws->p)) { qt_err_set(&e, "cancelled"); pipe_fail(P, &e); break; }
        struct pjob *J = &P->j[P->claim];
        if (J->claimed == 0) {
            if (P->claim > P->wnext && P->inflight > 0 && P->inflight + J->bytes > PIPE_BYTES) {
                pthread_cond_wait(&P->cv, &P->mu);    /* the writer frees what it wrote */
                continue;
            }
            if (pjob_start(ws, J, &e) != QT_OK) { pipe_fail(P, &e); break; }
            P->inflight += J->bytes;
        }
        int c = J->claimed++;
        if (J->claimed == J->nchunks) P->claim++;
        const struct pjob *ra = c == 0 && J - P->j + 1 < P->n ? J + 1 : NULL;   /* read the next module ahead */
        if (J->ctx.needs_global && !J->observed) {
            if (c == 0) {
                pthread_mutex_unlock(&P->mu);
                int rc = pjob_observe(ws, J, &w, &e);
                pthread_mutex_lock(&P->mu);
                if (rc != QT_OK) { pipe_fail(P, &e); break; }
                J->observed = 1;
                pthread_cond_broadcast(&P->cv);
            }
            while (!J->observed && !P->stop) pthread_cond_wait(&P->cv, &P->mu);
            if (P->stop) break;
        }
        pthread_mutex_unlock(&P->mu);
        if (ra) qt_tensor_prefetch(&ws->m->tensors[ra->tensor]);   /* read ahead (model.h) */
        int rc = pjob_chunk(ws, J, c, &w, &e);
        pthread_mutex_lock(&P->mu);
        if (rc != QT_OK) { pipe_fail(P, &e); break; }
        if (++J->done == J->nchunks) {
            pthread_mutex_unlock(&P->mu);
            rc = pjob_finish(J, ws->m, &e);
            pthread_mutex_lock(&P->mu);
            if (rc != QT_OK) { pipe_fail(P, &e); break; }
            J->ready = 1;
            pthread_cond_broadcast(&P->cv);
        }
    }
    pthread_mutex_unlock(&P->mu);
    free(w.f);
    free(w.codes);
}

/* The jobs of the plan's quantized modules; job_of (n_tensors) maps a
 * tensor to its job or -1. */
static int pipe_init(struct pipe *P, const struct wstate *ws, int *job_of, qt_err *err) {
    memset(P, 0, sizeof *P);
    P->ws = ws;
    P->rc = QT_OK;
    int n = 0;
    for (int i = 0; i < ws->pl.n; i++) n += ws->pl.e[i].part != PART_RAW && ws->pl.e[i].part != PART_SMALL && ws->pl.e[i].last;
    P->j = calloc((size_t)n + 1, sizeof *P->j);
    if (!P->j) return qt_err_set(err, "out of memory");
    for (int i = 0; i < ws->pl.n; i++) {
        const struct out_entry *e = &ws->pl.e[i];
        if (e->part == PART_RAW || e->part == PART_SMALL || !e->last) continue;
        const struct qt_tensor *t = &ws->m->tensors[e->tensor];
        struct pjob *J = &P->j[P->n];
        J->tensor = e->tensor;
        J->s = &ws->gs[ws->p->tensor_group[e->tensor]];
        J->wd = work_dtype(ws->m, t);
        J->bf16 = direct_bf16(t, J->wd);
        J->src_bytes = (size_t)t->nbytes;
        int64_t N = t->shape[0], K = t->shape[1];
        int64_t band = J->s->strategy == QT_STRAT_BLOCK ? J->s->group : 1;
        int64_t rows = (ws->p->chunk_elems > 0 ? ws->p->chunk_elems : CHUNK_ELEMS) / (K > 0 ? K : 1);
        rows = rows / band * band;
        J->chunk_rows = rows < band ? band : rows;
        J->nchunks = N > 0 ? (int)((N + J->chunk_rows - 1) / J->chunk_rows) : 1;
        /* the GPU takes whole tensors, and a calibration pipeline has
         * computed its modules' codes already */
        if (qt_be_whole_quant(ws->be) || ws->p->pipe) {
            J->whole = 1;
            J->chunk_rows = N > 0 ? N : 1;
            J->nchunks = 1;
        }
        for (int k = i; k >= 0 && ws->pl.e[k].tensor == e->tensor; k--) J->bytes += ws->pl.e[k].nbytes;
        if (!(J->s->kind == QT_SCHEME_INT && J->s->act == QT_ACT_NONE)) J->bytes += (uint64_t)(N * K);
        job_of[e->tensor] = P->n++;
    }
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    return QT_OK;
}

static int write_shards(struct wstate *ws, const char *dir, qt_err *err) {
    const struct qt_model *m = ws->m;
    const struct qt_write_params *p = ws->p;
    int *job_of = malloc(((size_t)m->n_tensors + 1) * sizeof *job_of);   /* (n_tensors) */
    if (!job_of) return qt_err_set(err, "out of memory");
    for (int i = 0; i < m->n_tensors; i++) job_of[i] = -1;
    struct pipe P;
    if (pipe_init(&P, ws, job_of, err) != QT_OK) { free(job_of); return QT_ERR; }
    int nt = qt_nthreads();
    if (nt > P.n) nt = P.n;
    if (nt > 64) nt = 64;
    /* nt parts on the one pool, beside this thread (which writes) */
    struct qt_pool_job *pj = P.n > 0 ? qt_pool_start(nt, nt, pipe_worker, &P) : NULL;
    if (!pj && P.n > 0) {    /* no idle worker: quantize everything first, unbounded */
        P.wnext = P.n;
        pipe_worker(&P, 0, 1);
    }
    static const struct modbuf none = {.tensor = -1};
    char name[64], path[4200];
    int rc = QT_OK, i = 0;
    for (int s = 0; s < ws->pl.n_shards && rc == QT_OK; s++) {
        shard_name(&ws->pl, s, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) { rc = qt_err_set(err, "%s: %s", path, strerror(errno)); break; }
        uint64_t hlen = 0;
        char *hdr = shard_header(&ws->pl, s, &hlen);
        if (!hdr) rc = qt_err_set(err, "out of memory");
        else rc = write_all(fd, hdr, hlen, path, err);
        free(hdr);
        for (; rc == QT_OK && i < ws->pl.n && ws->pl.e[i].shard == s; i++) {
            const struct out_entry *e = &ws->pl.e[i];
            const struct qt_tensor *t = &m->tensors[e->tensor];
            if (is_cancelled(p)) { rc = qt_err_set(err, "cancelled"); break; }
            const struct modbuf *b = &none;
            struct pjob *J = NULL;
            if (e->part != PART_RAW && e->part != PART_SMALL) {   /* a scale entry carries its bytes */
                J = &P.j[job_of[e->tensor]];
                pthread_mutex_lock(&P.mu);
                while (!J->ready && P.rc == QT_OK) pthread_cond_wait(&P.cv, &P.mu);
                if (P.rc != QT_OK) *err = P.err;
                rc = P.rc;
                pthread_mutex_unlock(&P.mu);
                if (rc != QT_OK) break;
                b = &J->b;
            }
            if (e->part == PART_RAW && !t->data) { rc = qt_err_set(err, "%s: no data", t->name); break; }
            const void *bytes = entry_bytes(e, b, m);
            void *conv = NULL;
            if (e->part == PART_RAW && p->pipe) {   /* a tensor the pipeline changed (smoothing) */
                int64_t ne = qt_tensor_numel(t);
                float *v = malloc(sizeof(float) * (size_t)ne + 1);
                conv = malloc((size_t)t->nbytes + 1);
                if (!v || !conv) { free(v); free(conv); rc = qt_err_set(err, "out of memory"); break; }
                if (qt_pipe_kept(p->pipe, e->tensor, v) == QT_OK) {
                    for (int64_t k = 0; k < ne; k++) {
                        if (t->dtype == QT_DT_BF16) ((uint16_t *)conv)[k] = qt_f32_to_bf16(v[k]);
                        else if (t->dtype == QT_DT_F16) ((uint16_t *)conv)[k] = qt_f32_to_f16(v[k]);
                        else if (t->dtype == QT_DT_F32) ((float *)conv)[k] = v[k];
                    }
                    if (t->dtype == QT_DT_BF16 || t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32) bytes = conv;
                }
                free(v);
            }
            rc = pwrite_all(fd, bytes, e->nbytes, (int64_t)(hlen + e->offset), path, err);
            free(conv);
            ws->written += (int64_t)e->nbytes;
            if (rc != QT_OK || !e->last || e->part == PART_SMALL) continue;   /* k/v scales: no module of their own */
            ws->done += (int64_t)t->nbytes;
            if (e->part == PART_RAW) {
                ws->n_kept++;
            } else {
                ws->n_quantized++;
                char sb[QT_SCHEME_STR_MAX], mod[512];
                const struct qt_scheme *sc = &ws->gs[p->tensor_group[e->tensor]];
                cJSON *row = cJSON_CreateObject();
                cJSON_AddStringToObject(row, "module", qt_tensor_module(t, mod, sizeof mod));
                cJSON_AddStringToObject(row, "scheme", qt_scheme_format(sc, sb, sizeof sb));
                cJSON_AddStringToObject(row, "format", qt_scheme_ct_format(sc));
                cJSON_AddStringToObject(row, "group", p->groups[p->tensor_group[e->tensor]].name);
                cJSON_AddNumberToObject(row, "bytes_source", (double)t->nbytes);
                uint64_t ob = 0;
                for (int k = i; k >= 0 && ws->pl.e[k].tensor == e->tensor; k--) ob += ws->pl.e[k].nbytes;
                cJSON_AddNumberToObject(row, "bytes_written", (double)ob);
                cJSON_AddItemToArray(ws->modules, row);
                modbuf_clear(&J->b);
                pthread_mutex_lock(&P.mu);
                P.inflight -= J->bytes;
                P.wnext = job_of[e->tensor] + 1;
                pthread_cond_broadcast(&P.cv);
                pthread_mutex_unlock(&P.mu);
            }
            if (p->progress) p->progress(p->progress_ud, ws->done, ws->total, t->name);
        }
        if (rc == QT_OK && fsync(fd) != 0) rc = qt_err_set(err, "%s: %s", path, strerror(errno));
        if (close(fd) != 0 && rc == QT_OK) rc = qt_err_set(err, "%s: %s", path, strerror(errno));
    }
    pthread_mutex_lock(&P.mu);
    P.stop = 1;
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    qt_pool_wait(pj);
    for (int k = 0; k < P.n; k++) modbuf_clear(&P.j[k].b);
    pthread_mutex_destroy(&P.mu);
    pthread_cond_destroy(&P.cv);
    free(P.j);
    free(job_of);
    return rc;
}

static int write_json(const char *dir, const char *name, cJSON *j, qt_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = cJSON_Print(j);
    if (!s) return qt_err_set(err, "%s: out of memory", path);
    size_t n = strlen(s);
    s[n] = '\n';   /* cJSON_Print's buffer has room for the terminator we replace */
    int rc = qt_write_file_atomic(path, s, n + 1, err);
    free(s);
    return rc;
}

static int write_index(struct wstate *ws, const char *dir, qt_err *err) {
    if (ws->pl.n_shards <= 1) return QT_OK;
    int n = ws->pl.n;
    int *ord = malloc((size_t)(n ? n : 1) * sizeof *ord);
    if (!ord) return qt_err_set(err, "out of memory");
    for (int i = 0; i < n; i++) ord[i] = i;
    /* weight_map sorted by name, as transformers writes it */
    for (int i = 1; i < n; i++) {
        int v = ord[i], j = i;
        while (j > 0 && strcmp(ws->pl.e[ord[j - 1]].name, ws->pl.e[v].name) > 0) { ord[j] = ord[j - 1]; j--; }
        ord[j] = v;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(root, "metadata");
    cJSON_AddNumberToObject(md, "total_size", (double)ws->pl.total);
    cJSON *wm = cJSON_AddObjectToObject(root, "weight_map");
    char name[64];
    for (int i = 0; i < n; i++) {
        shard_name(&ws->pl, ws->pl.e[ord[i]].shard, name, sizeof name);
        cJSON_AddStringToObject(wm, ws->pl.e[ord[i]].name, name);
    }
    free(ord);
    int rc = write_json(dir, "model.safetensors.index.json", root, err);
    cJSON_Delete(root);
    return rc;
}

/* QuantizationArgs as compressed-tensors serializes them (keys sorted). */
static cJSON *qargs_json(const struct qt_qargs *a, int weights) {
    if (!a->present) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNullToObject(o, "actorder");
    if (a->block_structure[0]) {
        cJSON *b = cJSON_AddArrayToObject(o, "block_structure");
        cJSON_AddItemToArray(b, cJSON_CreateNumber(a->block_structure[0]));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(a->block_structure[1]));
    } else {
        cJSON_AddNullToObject(o, "block_structure");
    }
    if (a->dynamic && !strcmp(a->dynamic, "local")) cJSON_AddStringToObject(o, "dynamic", "local");
    else cJSON_AddBoolToObject(o, "dynamic", a->dynamic && !strcmp(a->dynamic, "true"));
    if (a->group_size) cJSON_AddNumberToObject(o, "group_size", a->group_size);
    else cJSON_AddNullToObject(o, "group_size");
    cJSON_AddNumberToObject(o, "num_bits", a->num_bits);
    /* RTN computes weight scales from min/max; dynamic activations have no observer. */
    const char *obs = a->observer ? a->observer : weights ? "minmax" : NULL;
    if (obs) cJSON_AddStringToObject(o, "observer", obs);
    else cJSON_AddNullToObject(o, "observer");
    cJSON_AddObjectToObject(o, "observer_kwargs");
    if (a->strategy) cJSON_AddStringToObject(o, "strategy", a->strategy);
    else cJSON_AddNullToObject(o, "strategy");
    cJSON_AddBoolToObject(o, "symmetric", a->symmetric);
    cJSON_AddStringToObject(o, "type", a->type ? a->type : "int");
    return o;
}

/* The quantization_config object (keys sorted as the library dumps them). */
static cJSON *quant_config(const struct wstate *ws, qt_err *err) {
    const struct qt_model *m = ws->m;
    const struct qt_write_params *p = ws->p;
    int *used = calloc((size_t)p->n_groups + 1, sizeof *used);
    if (!used) { qt_err_set(err, "out of memory"); return NULL; }
    for (int i = 0; i < m->n_tensors; i++)
        if (p->tensor_group[i] >= 0) used[p->tensor_group[i]] = 1;
    const char *fmt = NULL;
    int mixed = 0;
    for (int g = 0; g < p->n_groups; g++) {
        if (!used[g]) continue;
        const char *f = qt_scheme_ct_format(&ws->gs[g]);
        if (fmt && strcmp(fmt, f)) mixed = 1;
        fmt = f;
    }
    cJSON *q = cJSON_CreateObject();
    cJSON *cg = cJSON_AddObjectToObject(q, "config_groups");
    for (int g = 0; g < p->n_groups; g++) {
        if (!used[g]) continue;
        const struct qt_ct_group *G = &p->groups[g];
        struct qt_qargs wa, ia;
        qt_scheme_qargs(&ws->gs[g], &wa, &ia);
        cJSON *o = cJSON_AddObjectToObject(cg, G->name);
        if (mixed) cJSON_AddStringToObject(o, "format", qt_scheme_ct_format(&ws->gs[g]));
        else cJSON_AddNullToObject(o, "format");
        /* static inputs: the observer the pipeline ran (minmax unless the recipe named another) */
        const char *iobs = NULL;
        for (int i = 0; i < m->n_tensors && !iobs; i++)
            if (p->tensor_group[i] == g) iobs = qt_pipe_input_observer(p->pipe, i);
        if (iobs) ia.observer = iobs;
        cJSON_AddItemToObject(o, "input_activations", qargs_json(&ia, 0));
        cJSON_AddNullToObject(o, "output_activations");
        cJSON *tg = cJSON_AddArrayToObject(o, "targets");
        for (int k = 0; k < G->n_targets; k++) cJSON_AddItemToArray(tg, cJSON_CreateString(G->targets[k]));
        if (G->n_targets == 0) {   /* no recipe targets: name every module of the group */
            char mod[512];
            for (int i = 0; i < m->n_tensors; i++)
                if (p->tensor_group[i] == g)
                    cJSON_AddItemToArray(tg, cJSON_CreateString(qt_tensor_module(&m->tensors[i], mod, sizeof mod)));
        }
        cJSON *wj = qargs_json(&wa, 1);
        if (G->actorder && *G->actorder && cJSON_IsObject(wj))
            cJSON_ReplaceItemInObjectCaseSensitive(wj, "actorder", cJSON_CreateString(G->actorder));
        cJSON_AddItemToObject(o, "weights", wj);
    }
    free(used);
    cJSON_AddStringToObject(q, "format", mixed ? "mixed-precision" : fmt ? fmt : "dense");
    cJSON_AddNullToObject(q, "global_compression_ratio");
    cJSON *ig = cJSON_AddArrayToObject(q, "ignore");
    char mod[512];
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (p->tensor_group[i] >= 0 || !qt_role_is_linear(t->role) || t->ndim != 2 || !qt_str_ends_with(t->name, ".weight"))
            continue;
        cJSON_AddItemToArray(ig, cJSON_CreateString(qt_tensor_module(t, mod, sizeof mod)));
    }
    float ks, vs;
    if (p->kv_cache_json) {
        cJSON *kv = cJSON_Parse(p->kv_cache_json);
        if (!kv) { cJSON_Delete(q); qt_err_set(err, "kv_cache_scheme: not valid JSON"); return NULL; }
        cJSON_AddItemToObject(q, "kv_cache_scheme", kv);
    } else if (qt_pipe_kv_scales(p->pipe, 0, &ks, &vs) == QT_OK) {
        /* calibrated fp8 kv cache, per tensor (what vLLM runs) */
        struct qt_qargs kq = {.present = 1, .num_bits = 8, .type = "float", .symmetric = 1, .strategy = "tensor",
                              .dynamic = "false", .observer = qt_pipe_kv_observer(p->pipe)};
        cJSON_AddItemToObject(q, "kv_cache_scheme", qargs_json(&kq, 0));
    } else {
        cJSON_AddNullToObject(q, "kv_cache_scheme");
    }
    cJSON_AddNullToObject(q, "moe_sparsity_config");
    cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(q, "quantization_status", "compressed");
    cJSON_AddObjectToObject(q, "sparsity_config");
    cJSON_AddObjectToObject(q, "transform_config");
    return q;
}

static int write_config(struct wstate *ws, const char *dir, qt_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", ws->m->path);
    char *text = qt_read_file(path, NULL, err);
    if (!text) return QT_ERR;
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(cfg)) { cJSON_Delete(cfg); return qt_err_set(err, "%s: not a JSON object", path); }
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
    cJSON *q = quant_config(ws, err);
    if (!q) { cJSON_Delete(cfg); return QT_ERR; }
    cJSON_AddItemToObject(cfg, "quantization_config", q);
    int rc = write_json(dir, "config.json", cfg, err);
    cJSON_Delete(cfg);
    return rc;
}

/* Files of the model directory that are not copied: weights (replaced) and
 * what the writer writes itself. */
static int skip_side_file(const char *n) {
    static const char *const exact[] = {"config.json", "model.safetensors.index.json", "recipe.yaml",
                                        "qtune-report.json", "pytorch_model.bin.index.json", NULL};
    static const char *const ext[] = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5",
                                      ".msgpack", ".onnx", NULL};
    if (n[0] == '.') return 1;
    for (int i = 0; exact[i]; i++) if (!strcmp(n, exact[i])) return 1;
    for (int i = 0; ext[i]; i++) if (qt_str_ends_with(n, ext[i])) return 1;
    return 0;
}

static int copy_file(const char *src, const char *dst, qt_err *err) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return qt_err_set(err, "%s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) { close(in); return qt_err_set(err, "%s: %s", dst, strerror(errno)); }
    static __thread char buf[1 << 16];
    int rc = QT_OK;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = qt_err_set(err, "%s: %s", src, strerror(errno)); break; }
        if (r == 0) break;
        if ((rc = write_all(out, buf, (uint64_t)r, dst, err)) != QT_OK) break;
    }
    if (rc == QT_OK && fsync(out) != 0) rc = qt_err_set(err, "%s: %s", dst, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == QT_OK) rc = qt_err_set(err, "%s: %s", dst, strerror(errno));
    return rc;
}

static int copy_side_files(const struct qt_model *m, const char *dir, cJSON *list, qt_err *err) {
    DIR *d = opendir(m->path);
    if (!d) return qt_err_set(err, "%s: %s", m->path, strerror(errno));
    struct dirent *de;
    int rc = QT_OK;
    char src[4400], dst[4400];
    while (rc == QT_OK && (de = readdir(d))) {
        if (skip_side_file(de->d_name)) continue;
        snprintf(src, sizeof src, "%s/%s", m->path, de->d_name);
        struct stat st;
        if (stat(src, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        snprintf(dst, sizeof dst, "%s/%s", dir, de->d_name);
        rc = copy_file(src, dst, err);
        if (rc == QT_OK) cJSON_AddItemToArray(list, cJSON_CreateString(de->d_name));
    }
    closedir(d);
    return rc;
}

/* Index, config.json and side files: what a checkpoint holds besides the
 * shards and the report. */
struct side_job {
    struct wstate *ws;
    const char *dir;
    cJSON *files;             /* names of the side files copied */
    int rc;
    qt_err err;
};

static void *side_main(void *arg) {
    struct side_job *j = arg;
    j->rc = write_index(j->ws, j->dir, &j->err);
    if (j->rc == QT_OK) j->rc = write_config(j->ws, j->dir, &j->err);
    if (j->rc == QT_OK) j->rc = copy_side_files(j->ws->m, j->dir, j->files, &j->err);
    return NULL;
}

int qt_write_ct(const struct qt_model *m, const struct qt_write_params *p, struct qt_write_result *res,
                qt_err *err) {
    double t0 = qt_now();
    if (res) memset(res, 0, sizeof *res);
    if (m->metadata_only) return qt_err_set(err, "%s: no weights (the model was opened from its config only)", m->path);
    if (!p->out || !*p->out) return qt_err_set(err, "quantize: no output directory");
    char out[4096];
    snprintf(out, sizeof out, "%s", p->out);
    for (size_t n = strlen(out); n > 1 && out[n - 1] == '/';) out[--n] = 0;
    if (qt_outdir_check(out, p->force, NULL, err) != QT_OK) return QT_ERR;

    struct wstate ws;
    memset(&ws, 0, sizeof ws);
    ws.m = m;
    ws.p = p;
    ws.be = qt_backend_or_default(p->be);
    struct qt_scheme *gs = calloc((size_t)p->n_groups + 1, sizeof *gs);
    if (!gs) return qt_err_set(err, "out of memory");
    for (int g = 0; g < p->n_groups; g++)
        if (qt_scheme_parse(p->groups[g].scheme, &gs[g], err) != QT_OK) {
            free(gs);
            return qt_err_prefix(err, "config group %s", p->groups[g].name);
        }
    ws.gs = gs;
    if (build_plan(m, p, gs, &ws.pl, err) != QT_OK) { plan_free(&ws.pl); free(gs); return QT_ERR; }
    for (int i = 0; i < ws.pl.n; i++)
        if (ws.pl.e[i].last && ws.pl.e[i].part != PART_SMALL) ws.total += (int64_t)m->tensors[ws.pl.e[i].tensor].nbytes;

    char partial[4096 + 32];
    if (qt_outdir_parents(out, err) != QT_OK || qt_outdir_tmpdir(out, partial, sizeof partial, err) != QT_OK) {
        plan_free(&ws.pl);
        free(gs);
        return QT_ERR;
    }
    ws.modules = cJSON_CreateArray();
    cJSON *files = cJSON_CreateArray();
    /* the files that do not depend on the weights are written (and
     * fsync'd) beside the shards */
    struct side_job sj = {.ws = &ws, .dir = partial, .files = files, .rc = QT_OK};
    pthread_t sth;
    int side_thread = pthread_create(&sth, NULL, side_main, &sj) == 0;
    if (!side_thread) side_main(&sj);
    int rc = write_shards(&ws, partial, err);
    if (side_thread) pthread_join(sth, NULL);
    if (rc == QT_OK && sj.rc != QT_OK) { rc = QT_ERR; *err = sj.err; }
    if (rc == QT_OK && is_cancelled(p)) rc = qt_err_set(err, "cancelled");
    if (rc == QT_OK && p->recipe_yaml) {
        char path[4200];
        snprintf(path, sizeof path, "%s/recipe.yaml", partial);
        rc = qt_write_file_atomic(path, p->recipe_yaml, strlen(p->recipe_yaml), err);
    }
    double secs = qt_now() - t0;
    if (rc == QT_OK) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "qtune_version", QT_VERSION);
        cJSON_AddStringToObject(r, "model", m->path);
        if (p->recipe_path) cJSON_AddStringToObject(r, "recipe", p->recipe_path);
        else cJSON_AddNullToObject(r, "recipe");
        if (p->calib) cJSON_AddStringToObject(r, "calib", p->calib);
        else cJSON_AddNullToObject(r, "calib");
        cJSON_AddStringToObject(r, "algorithm", p->algorithm ? p->algorithm : "RTN");
        /* how w / scale was rounded (quant.h): the codes differ between modes */
        cJSON_AddStringToObject(r, "arith", qt_arith_name(qt_quant_arith()));
        if (p->pipe) cJSON_AddItemToObject(r, "calibration", qt_pipe_report(p->pipe));
        cJSON_AddNumberToObject(r, "seconds", secs);
        cJSON_AddNumberToObject(r, "modules_quantized", ws.n_quantized);
        cJSON_AddNumberToObject(r, "tensors_kept", ws.n_kept);
        cJSON_AddNumberToObject(r, "bytes_source", (double)ws.total);
        cJSON_AddNumberToObject(r, "bytes_written", (double)ws.written);
        cJSON_AddNumberToObject(r, "shards", ws.pl.n_shards);
        cJSON_AddItemToObject(r, "files_copied", files);
        files = NULL;
        cJSON_AddItemToObject(r, "modules", ws.modules);
        ws.modules = NULL;
        rc = write_json(partial, "qtune-report.json", r, err);
        cJSON_Delete(r);
    }
    if (rc == QT_OK && is_cancelled(p)) rc = qt_err_set(err, "cancelled");
    if (rc == QT_OK) qt_outdir_sync(partial);
    if (rc == QT_OK) rc = qt_outdir_publish(partial, out, p->force, err);
    if (rc != QT_OK) {
        qt_err e2, why = *err;
        if (qt_outdir_rmtree(partial, &e2) == QT_OK) qt_err_prefix(err, "%s", out);
        else qt_err_set(err, "%s: %s; and the partial output could not be removed: %s", out, why.msg, e2.msg);
        size_t l = strlen(err->msg);
        if (l + 40 < sizeof err->msg && !strstr(err->msg, "could not be removed"))
            snprintf(err->msg + l, sizeof err->msg - l, " (partial output removed)");
    }
    if (res) {
        res->n_quantized = ws.n_quantized;
        res->n_kept = ws.n_kept;
        res->n_shards = ws.pl.n_shards;
        res->bytes_source = ws.total;
        res->bytes_written = ws.written;
        res->seconds = qt_now() - t0;
    }
    cJSON_Delete(ws.modules);
    cJSON_Delete(files);
    plan_free(&ws.pl);
    free(gs);
    return rc;
}
