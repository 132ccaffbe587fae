/* calib.c — calibration statistics through the forward's observe hook. */
#include "eval/calib.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval/forward.h"
#include "base/hmap.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

#define CALIB_MAGIC "QTCAL01"

static int alloc_calib(struct qt_calib **out, int n) {
    struct qt_calib *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->n = n;
    c->count = calloc((size_t)n + 1, sizeof *c->count);
    c->sumsq = calloc((size_t)n + 1, sizeof *c->sumsq);
    c->xtx = calloc((size_t)n + 1, sizeof *c->xtx);
    if (!c->count || !c->sumsq || !c->xtx) {
        qt_calib_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void qt_calib_free(struct qt_calib *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        if (c->sumsq) free(c->sumsq[i]);
        if (c->xtx) free(c->xtx[i]);
    }
    free(c->count);
    free(c->sumsq);
    free(c->xtx);
    free(c->unseen);
    free(c->cache_path);
    free(c);
}

/* ---- observation --------------------------------------------------------- */

struct obs {
    const struct qt_model *m;
    struct qt_calib *c;
    int xtx, fail;
    /* q/k/v (and gate/up) consume the same rows in consecutive calls: the
     * increment of the previous call is reused instead of recomputed */
    const float *last_x;
    int64_t last_n, last_cols;
    int last_ti;
    double *inc;                /* (cols) Σ x_j² of the last call */
    float *inc_xtx;             /* (cols, cols) of the last call */
    struct qt_backend *be;      /* the forward's: computes the Gram matrices */
    int64_t inc_cap;
};

/* Tensors fed the same rows by construction: q/k/v of a layer, gate/up of
 * one MLP (dense, shared or one routed expert): the role table's in column. */
static int input_kind(enum qt_role r) { return (int)qt_role_traits(r)->in; }

static int same_input(const struct obs *o, int ti, const float *x, int64_t n, int64_t cols) {
    if (x != o->last_x || n != o->last_n || cols != o->last_cols || o->last_ti < 0) return 0;
    const struct qt_tensor *a = &o->m->tensors[ti], *b = &o->m->tensors[o->last_ti];
    int k = input_kind(a->role);
    return k && k == input_kind(b->role) && a->layer == b->layer && a->expert == b->expert;
}

static void observe(void *ctx, int ti, const float *x, int64_t n, int64_t cols) {
    struct obs *o = ctx;
    struct qt_calib *c = o->c;
    if (o->fail || n <= 0) return;
    if (!c->sumsq[ti]) {
        c->sumsq[ti] = calloc((size_t)cols, sizeof(double));
        if (o->xtx) c->xtx[ti] = calloc((size_t)(cols * cols), sizeof(float));
        if (!c->sumsq[ti] || (o->xtx && !c->xtx[ti])) {
            o->fail = 1;
            return;
        }
    }
    if (!same_input(o, ti, x, n, cols)) {
        if (cols > o->inc_cap) {
            free(o->inc);
            free(o->inc_xtx);
            o->inc = malloc(sizeof(double) * (size_t)cols);
            o->inc_xtx = o->xtx ? malloc(sizeof(float) * (size_t)(cols * cols)) : NULL;
            o->inc_cap = cols;
            if (!o->inc || (o->xtx && !o->inc_xtx)) {
                o->fail = 1;
                o->inc_cap = 0;
                return;
            }
        }
        for (int64_t j = 0; j < cols; j++) o->inc[j] = 0;
        for (int64_t r = 0; r < n; r++) {
            const float *row = x + r * cols;
            for (int64_t j = 0; j < cols; j++) o->inc[j] += (double)row[j] * row[j];
        }
        if (o->xtx && qt_be_gram(o->be, x, n, cols, 0.0f, o->inc_xtx, NULL) != QT_OK) {
            o->fail = 1;
            return;
        }
        o->last_x = x;
        o->last_n = n;
        o->last_cols = cols;
    }
    o->last_ti = ti;
    c->count[ti] += n;
    for (int64_t j = 0; j < cols; j++) c->sumsq[ti][j] += o->inc[j];
    if (o->xtx)
        for (int64_t k = 0; k < cols * cols; k++) c->xtx[ti][k] += o->inc_xtx[k];
}

/* Linears the forward runs in the decoder layers: attention, dense MLP,
 * routed and shared experts (QT_RF_FWD; lm_head is outside the layers). */
static int forward_linear(const struct qt_tensor *t) {
    return !t->mtp && t->layer >= 0 && qt_role_has(t->role, QT_RF_FWD);
}

static int finish(struct qt_calib *c, const struct qt_model *m) {
    c->n_linear = c->n_unseen = 0;
    free(c->unseen);
    c->unseen = malloc(sizeof(int) * (size_t)(m->n_tensors + 1));
    if (!c->unseen) return -1;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!forward_linear(&m->tensors[i])) continue;
        c->n_linear++;
        if (c->count[i] == 0) c->unseen[c->n_unseen++] = i;
    }
    return 0;
}

/* ---- files --------------------------------------------------------------- */

struct calib_hdr {
    char magic[8];
    int32_t n_entries, has_xtx;
    int64_t tokens;
};

int qt_calib_save(const struct qt_calib *c, const struct qt_model *m, const char *path, qt_err *err) {
    size_t len = sizeof(struct calib_hdr);
    int ne = 0, hx = 0;
    for (int i = 0; i < c->n; i++) {
        if (!c->sumsq[i]) continue;
        int64_t cols = qt_tensor_cols(&m->tensors[i]);
        len += 4 + strlen(m->tensors[i].name) + 16 + (size_t)cols * 8;
        if (c->xtx[i]) len += (size_t)(cols * cols) * 4, hx = 1;
        ne++;
    }
    char *buf = malloc(len), *s = buf;
    if (!buf) return qt_err_set(err, "out of memory");
    struct calib_hdr h = {CALIB_MAGIC, ne, hx, c->tokens};
    memcpy(s, &h, sizeof h);
    s += sizeof h;
    for (int i = 0; i < c->n; i++) {
        if (!c->sumsq[i]) continue;
        int64_t cols = qt_tensor_cols(&m->tensors[i]);
        int32_t nl = (int32_t)strlen(m->tensors[i].name);
        memcpy(s, &nl, 4);
        s += 4;
        memcpy(s, m->tensors[i].name, (size_t)nl);
        s += nl;
        memcpy(s, &cols, 8);
        memcpy(s + 8, &c->count[i], 8);
        s += 16;
        memcpy(s, c->sumsq[i], (size_t)cols * 8);
        s += cols * 8;
        if (hx) {
            memcpy(s, c->xtx[i], (size_t)(cols * cols) * 4);
            s += cols * cols * 4;
        }
    }
    int rc = qt_write_file_atomic(path, buf, (size_t)(s - buf), err);
    free(buf);
    return rc;
}

int qt_calib_load(const struct qt_model *m, const char *path, struct qt_calib **out, qt_err *err) {
    *out = NULL;
    size_t len;
    char *buf = qt_read_file(path, &len, err);
    if (!buf) return QT_ERR;
    struct qt_calib *c;
    if (alloc_calib(&c, m->n_tensors)) {
        free(buf);
        return qt_err_set(err, "out of memory");
    }
    struct calib_hdr h;
    const char *s = buf, *end = buf + len;
    int rc = QT_ERR;
    if (len < sizeof h || (memcpy(&h, buf, sizeof h), memcmp(h.magic, CALIB_MAGIC, 8))) {
        qt_err_set(err, "%s: not a qtune calibration file", path);
        goto out;
    }
    s += sizeof h;
    c->tokens = h.tokens;
    for (int e = 0; e < h.n_entries; e++) {
        int32_t nl;
        int64_t cols, cnt;
        if (end - s < 4 || (memcpy(&nl, s, 4), nl <= 0) || end - s - 4 < nl + 16) goto bad;
        char name[1024];
        if (nl >= (int)sizeof name) goto bad;
        memcpy(name, s + 4, (size_t)nl);
        name[nl] = 0;
        s += 4 + nl;
        memcpy(&cols, s, 8);
        memcpy(&cnt, s + 8, 8);
        s += 16;
        size_t need = (size_t)cols * 8 + (h.has_xtx ? (size_t)(cols * cols) * 4 : 0);
        if (cols <= 0 || cols > (1 << 20) || (size_t)(end - s) < need) goto bad;
        int ti = qt_model_find_index(m, name);
        if (ti < 0 || qt_tensor_cols(&m->tensors[ti]) != cols) {
            qt_err_set(err, "%s: tensor %s does not match the model", path, name);
            goto out;
        }
        c->count[ti] = cnt;
        c->sumsq[ti] = malloc((size_t)cols * 8);
        if (!c->sumsq[ti]) goto oom;
        memcpy(c->sumsq[ti], s, (size_t)cols * 8);
        s += cols * 8;
        if (h.has_xtx) {
            c->xtx[ti] = malloc((size_t)(cols * cols) * 4);
            if (!c->xtx[ti]) goto oom;
            memcpy(c->xtx[ti], s, (size_t)(cols * cols) * 4);
            s += cols * cols * 4;
        }
    }
    if (finish(c, m)) goto oom;
    rc = QT_OK;
    goto out;
bad:
    qt_err_set(err, "%s: truncated or corrupt calibration file", path);
    goto out;
oom:
    qt_err_set(err, "out of memory");
out:
    free(buf);
    if (rc == QT_OK) *out = c;
    else qt_calib_free(c);
    return rc;
}

/* ---- run ----------------------------------------------------------------- */

int qt_calib_run(const struct qt_model *m, const struct qt_calib_params *p, struct qt_calib **out,
                 qt_err *err) {
    *out = NULL;
    int ctx = p->ctx > 0 ? p->ctx : 512, chunks = p->chunks > 0 ? p->chunks : 16;
    size_t len;
    char *text = qt_read_file(p->calib_path, &len, err);
    if (!text) return QT_ERR;
    char *cpath = NULL;
    if (p->cache_dir) {
        uint64_t h = qt_hash_more(QT_HASH_SEED, CALIB_MAGIC, 8);
        char rp[PATH_MAX];
        const char *mp = realpath(m->path, rp) ? rp : m->path;
        h = qt_hash_more(h, mp, strlen(mp) + 1);
        for (int i = 0; i < m->n_files; i++) {
            struct stat st;
            if (stat(m->files[i]->path, &st) == 0) {
                int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
                h = qt_hash_more(h, v, sizeof v);
            }
        }
        h = qt_hash_more(h, text, len);
        int32_t v[3] = {ctx, chunks, p->xtx};
        h = qt_hash_more(h, v, sizeof v);
        size_t n = strlen(p->cache_dir) + 64;
        cpath = malloc(n);
        if (cpath) snprintf(cpath, n, "%s/calib-%016llx.bin", p->cache_dir, (unsigned long long)h);
        struct qt_calib *c;
        qt_err e2;
        if (cpath && qt_calib_load(m, cpath, &c, &e2) == QT_OK) {
            c->from_cache = 1;
            c->cache_path = cpath;
            free(text);
            *out = c;
            return QT_OK;
        }
    }
    if (p->cache_only) {
        free(text);
        free(cpath);
        return qt_err_set(err, "%s: no calibration statistics of this model cached%s", p->calib_path,
                          p->cache_dir ? "" : " (no cache directory)");
    }
    struct qt_calib *c = NULL;
    struct qt_fwd *f = NULL;
    struct qt_tok *tok = NULL;
    int32_t *ids = NULL;
    float *h = NULL;
    size_t nids = 0;
    int rc = QT_ERR;
    struct obs o = {.m = m, .xtx = p->xtx, .last_ti = -1};
    size_t tl = strlen(m->path) + sizeof "/tokenizer.json";
    char *tp = malloc(tl);
    if (!tp) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    snprintf(tp, tl, "%s/tokenizer.json", m->path);
    int trc = qt_tok_load(tp, &tok, err);
    free(tp);
    if (trc != QT_OK || qt_tok_encode(tok, text, len, &ids, &nids, err) != QT_OK) {
        qt_err_prefix(err, "%s", p->calib_path);
        goto out;
    }
    int nseq = (int)(nids / (size_t)ctx);
    if (nseq > chunks) nseq = chunks;
    if (nseq < 1) {
        qt_err_set(err, "%s: %zu tokens, fewer than one sequence of %d", p->calib_path, nids, ctx);
        goto out;
    }
    if (alloc_calib(&c, m->n_tensors)) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    o.c = c;
    struct qt_fwd_hooks hk = {.ctx = &o, .observe = observe};
    if (qt_fwd_open(p->be, m, &hk, &f, err) != QT_OK) goto out;
    o.be = qt_fwd_backend_of(f);
    int64_t npos = (int64_t)nseq * ctx;
    h = malloc(sizeof(float) * (size_t)(npos * m->cfg.hidden));   /* (npos, hidden) */
    if (!h) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    if (qt_fwd_embed(f, ids, npos, h, err)) goto out;
    int L = qt_fwd_n_layers(f);
    for (int l = 0; l < L; l++) {
        if (p->cancel && *p->cancel) {
            qt_err_set(err, "cancelled");
            goto out;
        }
        o.last_x = NULL;
        if (qt_fwd_layer(f, l, h, nseq, ctx, err)) goto out;
        if (o.fail) {
            qt_err_set(err, "out of memory (calibration statistics)");
            goto out;
        }
        if (p->progress) p->progress(p->progress_ctx, l + 1, L);
    }
    c->tokens = npos;
    if (finish(c, m)) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    qt_err e2;
    if (cpath && qt_mkdirs(p->cache_dir, 0700, &e2) == QT_OK) {
        if (qt_calib_save(c, m, cpath, &e2) == QT_OK) {
            c->cache_path = cpath;
            cpath = NULL;
        }
    }
    rc = QT_OK;
out:
    free(text);
    free(cpath);
    free(ids);
    free(h);
    free(o.inc);
    free(o.inc_xtx);
    qt_tok_free(tok);
    qt_fwd_free(f);
    if (rc == QT_OK) *out = c;
    else qt_calib_free(c);
    return rc;
}

int qt_calib_importance(const struct qt_calib *c, const struct qt_model *m, int ti, float *d) {
    if (ti < 0 || ti >= c->n || !c->sumsq[ti] || c->count[ti] <= 0) return -1;
    int64_t cols = qt_tensor_cols(&m->tensors[ti]);
    for (int64_t j = 0; j < cols; j++) d[j] = (float)(c->sumsq[ti][j] / (double)c->count[ti]);
    return 0;
}

float **qt_calib_importance_all(const struct qt_calib *c, const struct qt_model *m) {
    float **d = calloc((size_t)m->n_tensors + 1, sizeof *d);
    if (!d) return NULL;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!c->sumsq[i] || c->count[i] <= 0) continue;
        d[i] = malloc(sizeof(float) * (size_t)qt_tensor_cols(&m->tensors[i]));
        if (!d[i] || qt_calib_importance(c, m, i, d[i])) {
            qt_calib_importance_free(d, m->n_tensors);
            return NULL;
        }
    }
    return d;
}

void qt_calib_importance_free(float **d, int n) {
    if (!d) return;
    for (int i = 0; i < n; i++) free(d[i]);
    free(d);
}
