/* preview.c — error statistics of tensors under schemes, in parallel, from
 * the mmap'd weights, with a (tensor, scheme) cache. */
#include "eval/preview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "base/hmap.h"

int qt_preview_scheme_target(const struct qt_tensor *t) {
    return qt_tensor_quantizable(t) && qt_role_is_linear(t->role) && !qt_role_has(t->role, QT_RF_HEAD);
}

int qt_preview_counted(const struct qt_tensor *t, int quantized) {
    return quantized || qt_preview_scheme_target(t);
}

/* ---- cache ------------------------------------------------------------- */

struct centry {
    char *key;                  /* "ti|canonical scheme" */
    const float *d;             /* importance vector the entry was computed with */
    struct qt_qstats st;
};

struct qt_preview_cache {
    struct qt_hmap map;         /* key -> index into e */
    struct centry *e;           /* (n) */
    int n, cap;
    int64_t hits;
};

struct qt_preview_cache *qt_preview_cache_new(void) {
    struct qt_preview_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (qt_hmap_init(&c->map, 256) != QT_OK) { free(c); return NULL; }
    return c;
}

void qt_preview_cache_free(struct qt_preview_cache *c) {
    if (!c) return;
    qt_hmap_free(&c->map);
    for (int i = 0; i < c->n; i++) free(c->e[i].key);
    free(c->e);
    free(c);
}

int qt_preview_cache_size(const struct qt_preview_cache *c) { return c ? c->n : 0; }
int64_t qt_preview_cache_hits(const struct qt_preview_cache *c) { return c ? c->hits : 0; }

/* A result depends on the arithmetic mode in force (quant.h: the two
 * modes give different codes), so the mode is part of the key: a session
 * whose mode changes never gets the other mode's figures. */
static void cache_key(int ti, const struct qt_scheme *s, char *buf, size_t n) {
    char sc[QT_SCHEME_STR_MAX];
    snprintf(buf, n, "%d|%s|%s", ti, qt_scheme_format(s, sc, sizeof sc), qt_arith_name(qt_quant_arith()));
}

static void cache_put(struct qt_preview_cache *c, const char *key, const float *d,
                      const struct qt_qstats *st) {
    int i = qt_hmap_get(&c->map, key);
    if (i >= 0) { c->e[i].d = d; c->e[i].st = *st; return; }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        struct centry *e = realloc(c->e, (size_t)cap * sizeof *e);
        if (!e) return;                 /* a cache that cannot grow just forgets */
        c->e = e;
        c->cap = cap;
    }
    char *k = qt_strdup(key);
    if (!k) return;
    if (qt_hmap_put(&c->map, k, c->n) != QT_OK) { free(k); return; }
    c->e[c->n].key = k;
    c->e[c->n].d = d;
    c->e[c->n].st = *st;
    c->n++;
}

/* ---- parallel driver --------------------------------------------------- */

/* Where rows come from: a BF16 buffer, or the model's reader. */
struct source {
    struct qt_backend *be;      /* computes the statistics */
    const uint16_t *bf16;       /* (rows, cols) or NULL */
    const struct qt_model *m;
    const struct qt_tensor *t;
    int round_bf16;             /* reader values rounded to bf16 (FP8 sources) */
};

static int source_read(const struct source *src, int64_t row0, int64_t nrows, int64_t cols,
                       float *out, qt_err *err) {
    if (src->bf16) return qt_be_to_f32(src->be, src->bf16 + row0 * cols, QT_DT_BF16, nrows * cols, out, err);
    if (qt_tensor_read_f32(src->m, src->t, row0, nrows, out, err) != QT_OK) return QT_ERR;
    if (src->round_bf16)
        for (int64_t i = 0; i < nrows * cols; i++) out[i] = qt_bf16_to_f32(qt_f32_to_bf16(out[i]));
    return QT_OK;
}

struct job {
    const struct source *src;
    struct qt_qctx *c;
    int64_t b0, b1;             /* bands [b0, b1) */
    int observe;                /* 1: min/max pass only */
    float mn, mx;
    struct qt_qstats st;
    int rc;
    qt_err err;
};

/* One job: rows [b0, b1) observed, or bands [b0, b1) measured, on the
 * source's backend.  BF16 rows in memory go to the backend as they are (all
 * the job's bands in one call); rows from the reader go band by band. */
static void job_main(struct job *j) {
    const struct qt_qctx *c = j->c;
    struct qt_backend *be = j->src->be;
    int64_t band = c->band, cols = c->cols;
    int64_t rows_per = j->observe ? 16 : band;   /* observe in chunks of rows */
    float *buf = NULL;
    j->mn = INFINITY;
    j->mx = -INFINITY;
    memset(&j->st, 0, sizeof j->st);
    j->rc = QT_OK;
    if (j->src->bf16 && !j->observe) {
        int64_t r0 = j->b0 * band, r1 = j->b1 * band > c->rows ? c->rows : j->b1 * band;
        j->rc = qt_be_quant_stats(be, c, j->src->bf16 + r0 * cols, QT_DT_BF16, r0, r1 - r0, &j->st, &j->err);
        return;
    }
    if (!j->src->bf16 && !(buf = malloc((size_t)(rows_per * cols) * sizeof(float)))) {
        j->rc = qt_err_set(&j->err, "preview: out of memory");
        return;
    }
    if (j->observe) {
        for (int64_t r = j->b0; r < j->b1 && j->rc == QT_OK; r += rows_per) {
            int64_t n = r + rows_per > j->b1 ? j->b1 - r : rows_per;
            float a, b;
            if (j->src->bf16)
                j->rc = qt_be_minmax(be, j->src->bf16 + r * cols, QT_DT_BF16, n * cols, &a, &b, &j->err);
            else if ((j->rc = source_read(j->src, r, n, cols, buf, &j->err)) == QT_OK)
                j->rc = qt_be_minmax(be, buf, QT_DT_F32, n * cols, &a, &b, &j->err);
            if (j->rc != QT_OK) break;
            if (a < j->mn) j->mn = a;
            if (b > j->mx) j->mx = b;
        }
    } else {
        for (int64_t b = j->b0; b < j->b1 && j->rc == QT_OK; b++) {
            int64_t r0 = b * band, n = r0 + band > c->rows ? c->rows - r0 : band;
            if ((j->rc = source_read(j->src, r0, n, cols, buf, &j->err)) == QT_OK)
                j->rc = qt_be_quant_stats(be, c, buf, QT_DT_F32, r0, n, &j->st, &j->err);
        }
    }
    free(buf);
}

static void job_block(void *arg, int64_t i0, int64_t i1) {
    struct job *jobs = arg;
    for (int64_t i = i0; i < i1; i++) job_main(&jobs[i]);
}

/* Runs jobs over [0, total) split into nthreads static parts on the one
 * pool; per-job results are combined in job order by the caller. */
static int run_jobs(struct job *jobs, int nthreads, int64_t total, const struct source *src,
                    struct qt_qctx *c, int observe, qt_err *err) {
    for (int i = 0; i < nthreads; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].src = src;
        jobs[i].c = c;
        jobs[i].observe = observe;
        jobs[i].b0 = total * i / nthreads;
        jobs[i].b1 = total * (i + 1) / nthreads;
    }
    qt_pool_run(nthreads, nthreads, job_block, jobs);
    for (int i = 0; i < nthreads; i++)
        if (jobs[i].rc != QT_OK) {
            if (err) *err = jobs[i].err;
            return QT_ERR;
        }
    return QT_OK;
}

static int preview_source(const struct source *src, int64_t rows, int64_t cols,
                          enum qt_dtype wdtype, const struct qt_scheme *s, const float *d,
                          float global_amax, int nthreads, struct qt_qstats *out, qt_err *err) {
    struct qt_qctx c;
    memset(out, 0, sizeof *out);
    if (qt_qctx_init(&c, s, wdtype, rows, cols, d, err) != QT_OK) return QT_ERR;
    c.global_amax = global_amax;
    /* BF16 weights go to a whole-tensor backend (the GPU) as they are (half
     * the bytes of float) */
    if (src->bf16 && qt_be_whole_quant(src->be))
        return src->be->i->tensor_quant(src->be, src->bf16, QT_DT_BF16, rows, cols, s, wdtype, global_amax, d, out,
                                        NULL, NULL, err);
    /* Small tensors are not worth a thread: about 256K elements per thread. */
    int64_t per = 1 << 18;
    int64_t want = (rows * cols + per - 1) / per;
    if (nthreads > want) nthreads = (int)want;
    if (nthreads > 256) nthreads = 256;
    if (nthreads < 1) nthreads = 1;
    struct job *jobs = calloc((size_t)nthreads, sizeof *jobs);
    if (!jobs) return qt_err_set(err, "preview: out of memory");
    int rc = QT_OK;
    if (c.needs_global) {
        rc = run_jobs(jobs, nthreads, rows, src, &c, 1, err);
        for (int i = 0; rc == QT_OK && i < nthreads; i++) {
            if (jobs[i].mn < c.gmin) c.gmin = jobs[i].mn;
            if (jobs[i].mx > c.gmax) c.gmax = jobs[i].mx;
        }
        qt_qctx_finish_observe(&c);
    }
    int64_t bands = (rows + c.band - 1) / c.band;
    if (rc == QT_OK && nthreads > bands) nthreads = (int)bands;
    if (rc == QT_OK) rc = run_jobs(jobs, nthreads, bands, src, &c, 0, err);
    for (int i = 0; rc == QT_OK && i < nthreads; i++) qt_qstats_add(out, &jobs[i].st);
    free(jobs);
    return rc;
}

/* Absolute maximum of a tensor's values (as the weight dtype holds them). */
static int tensor_amax(const struct qt_model *m, int ti, struct qt_preview_cache *cache, float *out,
                       qt_err *err) {
    char key[64];
    snprintf(key, sizeof key, "%d|amax", ti);
    int ci = cache ? qt_hmap_get(&cache->map, key) : -1;
    if (ci >= 0) { *out = (float)cache->e[ci].st.max_abs; return QT_OK; }
    const struct qt_tensor *t = &m->tensors[ti];
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t), chunk = 64;
    float *buf = malloc((size_t)(chunk * cols) * sizeof(float));
    if (!buf) return qt_err_set(err, "preview: out of memory");
    struct source src = {.be = qt_backend_default(), .m = m, .t = t};
    if (t->dtype == QT_DT_BF16 && t->scale < 0) src.bf16 = t->data;
    else if (t->dtype != QT_DT_F16 && t->dtype != QT_DT_F32) src.round_bf16 = 1;
    float a = 0.0f;
    for (int64_t r = 0; r < rows; r += chunk) {
        int64_t n = r + chunk > rows ? rows - r : chunk;
        float mn, mx;
        if (source_read(&src, r, n, cols, buf, err) != QT_OK ||
            qt_be_minmax(src.be, buf, QT_DT_F32, n * cols, &mn, &mx, err) != QT_OK) {
            free(buf);
            return QT_ERR;
        }
        if (-mn > a) a = -mn;
        if (mx > a) a = mx;
    }
    free(buf);
    *out = a;
    if (cache) {
        struct qt_qstats st = {.max_abs = a};
        cache_put(cache, key, NULL, &st);
    }
    return QT_OK;
}

/* Modules whose NVFP4 global scale llm-compressor fuses (vLLM runs them as
 * one kernel): siblings under one parent module. */
static const char *const fuse_sets[][4] = {
    {"gate_proj", "up_proj", NULL},
    {"q_proj", "k_proj", "v_proj", NULL},
    {"q_a_proj", "kv_a_proj_with_mqa", NULL},
    {"w1", "w3", NULL},
};

/* The amax an NVFP4 global scale of tensor ti derives from: the maximum over
 * its fused siblings (itself when it has none). */
static int fused_amax(const struct qt_model *m, int ti, struct qt_preview_cache *cache,
                      float *out, qt_err *err) {
    const char *name = m->tensors[ti].name;
    size_t n = strlen(name);
    if (tensor_amax(m, ti, cache, out, err) != QT_OK) return QT_ERR;
    if (n < 8 || strcmp(name + n - 7, ".weight")) return QT_OK;
    const char *leaf_end = name + n - 7, *leaf = leaf_end;
    while (leaf > name && leaf[-1] != '.') leaf--;
    size_t plen = (size_t)(leaf - name), llen = (size_t)(leaf_end - leaf);
    for (size_t f = 0; f < sizeof fuse_sets / sizeof fuse_sets[0]; f++) {
        int in = 0;
        for (int k = 0; fuse_sets[f][k]; k++)
            if (strlen(fuse_sets[f][k]) == llen && !strncmp(fuse_sets[f][k], leaf, llen)) in = 1;
        if (!in) continue;
        for (int k = 0; fuse_sets[f][k]; k++) {
            char sib[1024];
            if (snprintf(sib, sizeof sib, "%.*s%s.weight", (int)plen, name, fuse_sets[f][k]) >= (int)sizeof sib)
                continue;
            int si = qt_model_find_index(m, sib);
            if (si < 0 || si == ti || !m->tensors[si].data) continue;
            float a;
            if (tensor_amax(m, si, cache, &a, err) != QT_OK) return QT_ERR;
            if (a > *out) *out = a;
        }
    }
    return QT_OK;
}

int qt_preview_bf16(const uint16_t *w, int64_t rows, int64_t cols, const struct qt_scheme *s,
                    const float *d, int nthreads, struct qt_qstats *out, qt_err *err) {
    struct source src = {.be = qt_backend_default(), .bf16 = w};
    return preview_source(&src, rows, cols, QT_DT_BF16, s, d, 0.0f, nthreads, out, err);
}

int qt_preview_tensor(const struct qt_model *m, int ti, const struct qt_scheme *s,
                      const float *d, struct qt_preview_cache *cache,
                      struct qt_qstats *out, qt_err *err) {
    const struct qt_tensor *t = &m->tensors[ti];
    char key[128];
    cache_key(ti, s, key, sizeof key);
    if (cache) {
        int i = qt_hmap_get(&cache->map, key);
        if (i >= 0 && cache->e[i].d == d) {
            cache->hits++;
            *out = cache->e[i].st;
            return QT_OK;
        }
    }
    if (!t->data)
        return qt_err_set(err, "%s: no weights (the model was opened from its config only)", t->name);
    struct source src = {.be = qt_backend_default(), .m = m, .t = t};
    enum qt_dtype wd = t->dtype;
    if (wd == QT_DT_BF16 && t->scale < 0) src.bf16 = t->data;
    if (wd != QT_DT_BF16 && wd != QT_DT_F16 && wd != QT_DT_F32) { wd = QT_DT_BF16; src.round_bf16 = 1; }
    if (t->scale >= 0 && wd == QT_DT_BF16) src.round_bf16 = 1;
    float gamax = 0.0f;
    if (s->kind == QT_SCHEME_NVFP4 && fused_amax(m, ti, cache, &gamax, err) != QT_OK) return QT_ERR;
    int rc = preview_source(&src, qt_tensor_rows(t), qt_tensor_cols(t), wd, s, d, gamax,
                            qt_nthreads(), out, err);
    if (rc != QT_OK) return qt_err_prefix(err, "%s", t->name);
    if (cache) cache_put(cache, key, d, out);
    return QT_OK;
}

/* The preview of every selected tensor: tensor i is quantized under
 * per_tensor[i] when quant[i] (NULL: when it is a scheme target) and the
 * scheme is not bf16. */
static int run(const struct qt_model *m, const struct qt_scheme *per_tensor, const unsigned char *quant,
               const unsigned char *select, const float *const *d, struct qt_preview_cache *cache,
               struct qt_preview_row **rows_out, int *n_rows, struct qt_preview_total *total, qt_err *err) {
    struct qt_preview_row *rows = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *rows);
    if (!rows) return qt_err_set(err, "preview: out of memory");
    struct qt_preview_total tot;
    memset(&tot, 0, sizeof tot);
    int n = 0, ahead = 0;   /* the next tensor hinted for read-ahead */
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (select && !select[i]) continue;
        if (t->role == QT_ROLE_WEIGHT_SCALE) continue;
        if (ahead <= i) ahead = i + 1;
        while (ahead < m->n_tensors && select && !select[ahead]) ahead++;
        if (ahead < m->n_tensors) qt_tensor_prefetch(&m->tensors[ahead++]);
        struct qt_preview_row *r = &rows[n++];
        r->tensor = i;
        r->params = qt_tensor_numel(t);
        int q = (quant ? quant[i] : qt_preview_scheme_target(t)) && qt_model_quantizable(m, t) &&
                !qt_scheme_is_kept(&per_tensor[i]);
        r->quantizable = qt_preview_counted(t, q);
        r->scheme.kind = QT_SCHEME_BF16;
        r->scheme.bits = 16;
        r->scheme.sym = 1;
        enum qt_dtype wd = t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32 ? t->dtype : QT_DT_BF16;
        if (q) {
            qt_err e2 = {{0}};
            if (qt_scheme_check_shape(&per_tensor[i], qt_tensor_rows(t), qt_tensor_cols(t), &e2) != QT_OK) {
                r->failed = 1;
                snprintf(r->error, sizeof r->error, "%.199s", e2.msg);
            } else {
                r->scheme = per_tensor[i];
                if (!t->data) r->no_weights = 1;     /* config only: sizes still count */
                else if (qt_preview_tensor(m, i, &per_tensor[i], d ? d[i] : NULL, cache, &r->st, err) != QT_OK) {
                    free(rows);
                    return QT_ERR;
                }
            }
        }
        if (qt_scheme_is_kept(&r->scheme)) r->bytes = (int64_t)t->nbytes;
        else r->bytes = qt_scheme_bytes(&r->scheme, qt_tensor_rows(t), qt_tensor_cols(t), wd);
        if (qt_scheme_is_kept(&r->scheme)) tot.n_kept++;
        else {
            tot.n_quantized++;
            qt_qstats_add(&tot.st, &r->st);
        }
        if (r->quantizable) {
            tot.params += r->params;
            tot.bytes += r->bytes;
        }
    }
    tot.bpw = tot.params ? 8.0 * (double)tot.bytes / (double)tot.params : 0.0;
    tot.no_weights = m->metadata_only;
    if (total) *total = tot;
    *rows_out = rows;
    *n_rows = n;
    return QT_OK;
}

int qt_preview_run(const struct qt_model *m, const struct qt_scheme *per_tensor,
                   const unsigned char *select, const float *const *d,
                   struct qt_preview_cache *cache, struct qt_preview_row **rows_out,
                   int *n_rows, struct qt_preview_total *total, qt_err *err) {
    return run(m, per_tensor, NULL, select, d, cache, rows_out, n_rows, total, err);
}

int qt_preview_run_resolved(const struct qt_model *m, const struct qt_resolution *res,
                            const unsigned char *select, const float *const *d,
                            struct qt_preview_cache *cache, struct qt_preview_row **rows_out,
                            int *n_rows, struct qt_preview_total *total, qt_err *err) {
    if (res->n != m->n_tensors) return qt_err_set(err, "preview: the recipe was resolved against another model");
    size_t n = (size_t)(m->n_tensors ? m->n_tensors : 1);
    struct qt_scheme *per = calloc(n, sizeof *per);        /* (n_tensors) */
    unsigned char *quant = calloc(n, 1);                    /* (n_tensors) */
    if (!per || !quant) {
        free(per);
        free(quant);
        return qt_err_set(err, "preview: out of memory");
    }
    for (int i = 0; i < m->n_tensors; i++) {
        quant[i] = res->t[i].quantized && res->t[i].s;
        if (quant[i]) per[i] = *res->t[i].s;
        else per[i] = (struct qt_scheme){.kind = QT_SCHEME_BF16, .bits = 16, .sym = 1};
    }
    int rc = run(m, per, quant, select, d, cache, rows_out, n_rows, total, err);
    free(per);
    free(quant);
    return rc;
}
