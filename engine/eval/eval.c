/* eval.c — KL / perplexity evaluation of a hooked forward against the base. */
#include "eval/eval.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/hmap.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

#define BASE_MAGIC "QTEVB01"
#define KEEP_LOGITS_MAX ((int64_t)1 << 30)   /* bytes of base logits kept in memory */

struct base_hdr {
    char magic[8];
    uint64_t key;
    int32_t nseq, ctx, hidden, n_states;    /* n_states: 0 or n_layers */
};

/* ---- helpers ------------------------------------------------------------- */

static int cancelled(const struct qt_eval_params *p) { return p->cancel && *p->cancel; }

static void report(const struct qt_eval_params *p, int64_t done, int64_t total) {
    if (p->progress) p->progress(p->progress_ctx, done, total);
}

char *qt_eval_default_cache_dir(char *buf, size_t n) {
    const char *h = getenv("QTUNE_HOME"), *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (h && *h) snprintf(buf, n, "%s/cache", h);
    else if (x && *x) snprintf(buf, n, "%s/qtune/cache", x);
    else snprintf(buf, n, "%s/.local/state/qtune/cache", home ? home : "/tmp");
    return buf;
}

/* Key of the base cache: model files (path, size, mtime), text, ctx, chunks. */
static uint64_t base_key(const struct qt_model *m, const char *text, size_t len, int ctx, int chunks,
                         int states, int act) {
    uint64_t h = QT_HASH_SEED;
    h = qt_hash_more(h, BASE_MAGIC, sizeof BASE_MAGIC);
    char rp[PATH_MAX];
    const char *mp = realpath(m->path, rp) ? rp : m->path;
    h = qt_hash_more(h, mp, strlen(mp) + 1);
    for (int i = 0; i < m->n_files; i++) {
        struct stat st;
        const char *fp = m->files[i]->path;
        h = qt_hash_more(h, fp, strlen(fp) + 1);
        if (stat(fp, &st) == 0) {
            int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
            h = qt_hash_more(h, v, sizeof v);
        }
    }
    h = qt_hash_more(h, text, len);
    int32_t v[3] = {ctx, chunks, states};
    h = qt_hash_more(h, v, sizeof v);
    if (act) h = qt_hash_more(h, &act, sizeof act);   /* unchanged keys for the plain base */
    return h;
}

void qt_eval_base_free(struct qt_eval_base *b) {
    if (!b) return;
    free(b->tokens);
    free(b->h_final);
    free(b->states);
    free(b->logits);
    free(b->cache_path);
    free(b);
}

/* Loads the cache file when it exists and matches; 1 loaded, 0 not. */
static int base_load(struct qt_eval_base *b, uint64_t key, int want_states) {
    size_t len;
    qt_err e;
    char *buf = qt_read_file(b->cache_path, &len, &e);
    if (!buf) return 0;
    struct base_hdr hd;
    int ok = 0;
    if (len >= sizeof hd) {
        memcpy(&hd, buf, sizeof hd);
        int64_t npos = (int64_t)hd.nseq * hd.ctx;
        size_t need = sizeof hd + (size_t)npos * 4 + (size_t)npos * hd.hidden * 4 * (1 + (size_t)hd.n_states);
        ok = !memcmp(hd.magic, BASE_MAGIC, 8) && hd.key == key && hd.ctx == b->ctx && hd.hidden == b->hidden &&
             (want_states ? hd.n_states == b->n_layers : 1) && len == need && hd.nseq > 0;
        if (ok) {
            b->nseq = hd.nseq;
            b->npos = npos;
            b->tokens = malloc(sizeof(int32_t) * (size_t)npos);
            b->h_final = malloc(sizeof(float) * (size_t)(npos * b->hidden));
            if (want_states) b->states = malloc(sizeof(float) * (size_t)(npos * b->hidden) * (size_t)b->n_layers);
            if (!b->tokens || !b->h_final || (want_states && !b->states)) {
                ok = 0;
            } else {
                const char *s = buf + sizeof hd;
                memcpy(b->tokens, s, sizeof(int32_t) * (size_t)npos);
                s += sizeof(int32_t) * (size_t)npos;
                memcpy(b->h_final, s, sizeof(float) * (size_t)(npos * b->hidden));
                s += sizeof(float) * (size_t)(npos * b->hidden);
                if (want_states) memcpy(b->states, s, sizeof(float) * (size_t)(npos * b->hidden) * (size_t)b->n_layers);
            }
        }
    }
    free(buf);
    if (!ok) {
        free(b->tokens);
        free(b->h_final);
        free(b->states);
        b->tokens = NULL;
        b->h_final = b->states = NULL;
    }
    return ok;
}

static int base_save(const struct qt_eval_base *b, uint64_t key, qt_err *err) {
    int ns = b->states ? b->n_layers : 0;
    size_t nh = (size_t)(b->npos * b->hidden);
    size_t len = sizeof(struct base_hdr) + sizeof(int32_t) * (size_t)b->npos + sizeof(float) * nh * (1 + (size_t)ns);
    char *buf = malloc(len);
    if (!buf) return qt_err_set(err, "out of memory");
    struct base_hdr hd = {BASE_MAGIC, key, b->nseq, b->ctx, b->hidden, ns};
    char *s = buf;
    memcpy(s, &hd, sizeof hd);
    s += sizeof hd;
    memcpy(s, b->tokens, sizeof(int32_t) * (size_t)b->npos);
    s += sizeof(int32_t) * (size_t)b->npos;
    memcpy(s, b->h_final, sizeof(float) * nh);
    s += sizeof(float) * nh;
    if (ns) memcpy(s, b->states, sizeof(float) * nh * (size_t)ns);
    int rc = qt_write_file_atomic(b->cache_path, buf, len, err);
    free(buf);
    return rc;
}

static char *tokenizer_path(const struct qt_model *m) {
    size_t n = strlen(m->path) + sizeof "/tokenizer.json";
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/tokenizer.json", m->path);
    return p;
}

/* ---- base ---------------------------------------------------------------- */

/* The base forward's hooks: one activation rounding for every Linear. */
static enum qt_fwd_act base_act_of(void *ctx, int ti) {
    (void)ti;
    return *(const enum qt_fwd_act *)ctx;
}

int qt_eval_base_init(const struct qt_model *m, const struct qt_eval_params *p,
                      struct qt_eval_base **out, qt_err *err) {
    *out = NULL;
    int ctx = p->ctx > 0 ? p->ctx : 512, chunks = p->chunks > 0 ? p->chunks : 16;
    if (ctx < 2) return qt_err_set(err, "--ctx must be at least 2");
    size_t len;
    char *text = qt_read_file(p->data_path, &len, err);
    if (!text) return QT_ERR;
    struct qt_fwd *f = NULL;
    struct qt_fwd_hooks bh = {.ctx = (void *)&p->base_act, .act = base_act_of};
    if (qt_fwd_open(p->be, m, p->base_act ? &bh : NULL, &f, err) != QT_OK) {
        free(text);
        return QT_ERR;
    }
    struct qt_eval_base *b = calloc(1, sizeof *b);
    if (!b) {
        free(text);
        qt_fwd_free(f);
        return qt_err_set(err, "out of memory");
    }
    b->ctx = ctx;
    b->hidden = m->cfg.hidden;
    b->vocab = m->cfg.vocab;
    b->n_layers = qt_fwd_n_layers(f);
    int rc = QT_ERR;
    uint64_t key = base_key(m, text, len, ctx, chunks, p->keep_states, (int)p->base_act);
    if (p->cache_dir) {
        char name[64];
        snprintf(name, sizeof name, "/eval-base-%016llx.bin", (unsigned long long)key);
        b->cache_path = malloc(strlen(p->cache_dir) + sizeof name);
        if (!b->cache_path) {
            qt_err_set(err, "out of memory");
            goto out;
        }
        sprintf(b->cache_path, "%s%s", p->cache_dir, name);
        if (base_load(b, key, p->keep_states)) b->from_cache = 1;
    }
    if (!b->from_cache) {
        struct qt_tok *tok = NULL;
        char *tp = tokenizer_path(m);
        int32_t *ids = NULL;
        size_t n = 0;
        int trc = tp ? qt_tok_load(tp, &tok, err) : qt_err_set(err, "out of memory");
        free(tp);
        if (trc == QT_OK) trc = qt_tok_encode(tok, text, len, &ids, &n, err);
        qt_tok_free(tok);
        if (trc != QT_OK) {
            qt_err_prefix(err, "%s", p->data_path);
            goto out;
        }
        int nseq = (int)(n / (size_t)ctx);
        if (nseq > chunks) nseq = chunks;
        if (nseq < 1) {
            free(ids);
            qt_err_set(err, "%s: %zu tokens, fewer than one chunk of %d", p->data_path, n, ctx);
            goto out;
        }
        b->nseq = nseq;
        b->npos = (int64_t)nseq * ctx;
        b->tokens = ids;   /* the first npos ids are used */
        size_t nh = (size_t)(b->npos * b->hidden);
        b->h_final = malloc(sizeof(float) * nh);
        if (p->keep_states) b->states = malloc(sizeof(float) * nh * (size_t)b->n_layers);
        if (!b->h_final || (p->keep_states && !b->states)) {
            qt_err_set(err, "out of memory");
            goto out;
        }
        int64_t total = b->n_layers + 1;
        /* on a device backend the hidden states stay there between layers
         * (they come down only for the kept states and at the end) */
        int res = qt_fwd_resident(f);
        if (res ? qt_fwd_embed_resident(f, b->tokens, b->npos, err) : qt_fwd_embed(f, b->tokens, b->npos, b->h_final, err))
            goto out;
        for (int l = 0; l < b->n_layers; l++) {
            if (cancelled(p)) {
                qt_err_set(err, "cancelled");
                goto out;
            }
            if (b->states) {
                if (res ? qt_fwd_h(f, b->states + (size_t)l * nh, b->npos, 1, err) != QT_OK
                        : (memcpy(b->states + (size_t)l * nh, b->h_final, sizeof(float) * nh), 0))
                    goto out;
            }
            if (qt_fwd_layer(f, l, res ? NULL : b->h_final, nseq, ctx, err)) goto out;
            report(p, l + 1, total);
        }
        if (res && qt_fwd_h(f, b->h_final, b->npos, 1, err)) goto out;
        if (b->cache_path) {
            qt_err e2;
            /* a cache that fails to write is no error: the base is just not cached */
            if (qt_mkdirs(p->cache_dir, 0700, &e2) != QT_OK || base_save(b, key, &e2) != QT_OK) {
                free(b->cache_path);
                b->cache_path = NULL;
            }
        }
    }
    if (b->npos * b->vocab * 4 <= KEEP_LOGITS_MAX) {
        b->logits = malloc(sizeof(float) * (size_t)(b->npos * b->vocab));
        if (b->logits && qt_fwd_final(f, b->h_final, b->npos, b->logits, err)) goto out;
    }
    report(p, b->n_layers + 1, b->n_layers + 1);
    rc = QT_OK;
out:
    free(text);
    qt_fwd_free(f);
    if (rc != QT_OK) qt_eval_base_free(b);
    else *out = b;
    return rc;
}

/* ---- statistics ---------------------------------------------------------- */

struct kl_arg {
    const float *bl, *ql;       /* (ctx, vocab) base and quant logits of a chunk */
    const int32_t *tok;         /* (ctx) */
    int ctx, vocab, first;
    double *kl;                 /* (ctx - first) */
    double *nllb, *nllq, *dp;   /* (ctx - first) next-token terms (NAN at ctx-1) */
    unsigned char *same;        /* (ctx - first) */
};

static void kl_rows(void *p, int64_t i0, int64_t i1) {
    struct kl_arg *A = p;
    int V = A->vocab;
    double *eb = malloc(sizeof(double) * (size_t)V);
    if (!eb) return;
    for (int64_t i = i0; i < i1; i++) {
        int pos = A->first + (int)i;
        const float *b = A->bl + (int64_t)pos * V, *q = A->ql + (int64_t)pos * V;
        int ab = 0, aq = 0;
        for (int v = 1; v < V; v++) {
            if (b[v] > b[ab]) ab = v;
            if (q[v] > q[aq]) aq = v;
        }
        double mb = b[ab], mq = q[aq], sb = 0, sq = 0;
        for (int v = 0; v < V; v++) {
            eb[v] = exp((double)b[v] - mb);
            sb += eb[v];
            sq += exp((double)q[v] - mq);
        }
        double lb = mb + log(sb), lq = mq + log(sq), kl = 0;
        for (int v = 0; v < V; v++) kl += eb[v] * (((double)b[v] - lb) - ((double)q[v] - lq));
        kl /= sb;
        A->kl[i] = kl < 0 ? 0 : kl;
        A->same[i] = ab == aq;
        if (pos + 1 < A->ctx) {
            int t = A->tok[pos + 1];
            double lpb = (double)b[t] - lb, lpq = (double)q[t] - lq;
            A->nllb[i] = -lpb;
            A->nllq[i] = -lpq;
            A->dp[i] = exp(lpq) - exp(lpb);
        } else {
            A->nllb[i] = A->nllq[i] = A->dp[i] = NAN;
        }
    }
    free(eb);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void qt_kl_summarize(double *v, int64_t n, struct qt_kl_stats *st) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += v[i];
        s2 += v[i] * v[i];
    }
    st->positions = n;
    if (n == 0) return;
    st->kld_mean = s / (double)n;
    double var = s2 / (double)n - st->kld_mean * st->kld_mean;
    st->kld_stderr = n > 1 && var > 0 ? sqrt(var / (double)(n - 1)) : 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
#define RANK(f) v[(int64_t)llround((f) * (double)(n - 1))]
    st->kld_median = RANK(0.5);
    st->kld_p90 = RANK(0.90);
    st->kld_p99 = RANK(0.99);
    st->kld_p999 = RANK(0.999);
#undef RANK
    st->kld_max = v[n - 1];
}

/* The embeddings of the base tokens on fq's device: there, or — with an
 * embed hook (a fake-quantized token embedding) — made on the host and
 * uploaded. */
static int embed_resident(struct qt_fwd *fq, const struct qt_eval_base *base, size_t nh, qt_err *err) {
    if (!qt_fwd_has_embed_hook(fq)) return qt_fwd_embed_resident(fq, base->tokens, base->npos, err);
    float *h = malloc(sizeof(float) * nh);
    if (!h) return qt_err_set(err, "out of memory");
    int rc = qt_fwd_embed(fq, base->tokens, base->npos, h, err);
    if (rc == QT_OK) rc = qt_fwd_h(fq, h, base->npos, 0, err);
    free(h);
    return rc;
}

int qt_eval_run(const struct qt_model *m, const struct qt_eval_base *base,
                const struct qt_fwd_hooks *hooks, int start_layer,
                const struct qt_eval_params *p, struct qt_kl_stats *st, qt_err *err) {
    memset(st, 0, sizeof *st);
    if (start_layer < 0 || start_layer > base->n_layers) return qt_err_set(err, "start layer %d out of range", start_layer);
    if (p->second_half && base->ctx < 3) return qt_err_set(err, "--second-half needs a context of at least 3 tokens");
    if (start_layer > 0 && !base->states)
        return qt_err_set(err, "restarting at layer %d needs the base states (keep_states)", start_layer);
    struct qt_fwd *fq = NULL, *fb = NULL;
    if (qt_fwd_open(p->be, m, hooks, &fq, err) != QT_OK) return QT_ERR;
    /* on a device backend the KL runs there: the base logits are made there
     * again from the base's final hidden states (a few MB up instead of the
     * logits), and neither set of logits comes down */
    int res = qt_fwd_resident(fq);
    struct qt_fwd_hooks bh = {.ctx = (void *)&p->base_act, .act = base_act_of};
    if ((res || !base->logits) &&
        qt_fwd_open(p->be, p->base_model ? p->base_model : m, p->base_act ? &bh : NULL, &fb, err) != QT_OK) {
        qt_fwd_free(fq);
        return QT_ERR;
    }
    if (res && !qt_fwd_resident(fb)) res = 0;
    int ctx = base->ctx, V = base->vocab, nseq = base->nseq;
    int first = p->second_half ? ctx / 2 : 0, per = ctx - first;
    size_t nh = (size_t)(base->npos * base->hidden);
    int64_t npk = (int64_t)nseq * per;
    int rc = QT_ERR;
    float *h = res ? NULL : malloc(sizeof(float) * nh);              /* (npos, hidden) */
    float *ql = res ? NULL : malloc(sizeof(float) * (size_t)ctx * (size_t)V);   /* (ctx, vocab) quant logits of a chunk */
    float *bl = base->logits || res ? NULL : malloc(sizeof(float) * (size_t)ctx * (size_t)V);
    double *kl = malloc(sizeof(double) * (size_t)npk);              /* (nseq * per) */
    double *nllb = malloc(sizeof(double) * (size_t)npk), *nllq = malloc(sizeof(double) * (size_t)npk);
    double *dp = malloc(sizeof(double) * (size_t)npk);
    unsigned char *same = malloc((size_t)npk);
    if ((!res && (!h || !ql || (!base->logits && !bl))) || !kl || !nllb || !nllq || !dp || !same) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    int64_t total = (base->n_layers - start_layer) + nseq, done = 0;
    /* the state entering start_layer: after the last layer that is h_final
     * (a change at the head alone: the GGUF planner's output tensor) */
    const float *st_in = start_layer == 0                 ? NULL
                         : start_layer == base->n_layers ? base->h_final
                                                         : base->states + (size_t)start_layer * nh;
    if (res) {
        if (qt_fwd_h(fb, base->h_final, base->npos, 0, err) ||
            (start_layer == 0 ? embed_resident(fq, base, nh, err)
                              : qt_fwd_h(fq, (float *)st_in, base->npos, 0, err)))
            goto out;
    } else if (start_layer == 0) {
        if (qt_fwd_embed(fq, base->tokens, base->npos, h, err)) goto out;
    } else {
        memcpy(h, st_in, sizeof(float) * nh);
    }
    for (int l = start_layer; l < base->n_layers; l++) {
        if (cancelled(p)) {
            qt_err_set(err, "cancelled");
            goto out;
        }
        if (qt_fwd_layer(fq, l, h, nseq, ctx, err)) goto out;   /* h NULL: resident */
        report(p, ++done, total);
    }
    for (int s = 0; s < nseq; s++) {
        if (cancelled(p)) {
            qt_err_set(err, "cancelled");
            goto out;
        }
        size_t off = (size_t)s * ctx;
        if (res) {
            size_t o = (size_t)s * per;
            struct qt_be_kl_out ko = {kl + o, nllb + o, nllq + o, dp + o, same + o};
            if (qt_fwd_final_resident(fq, (int64_t)off, ctx, NULL, err) ||
                qt_fwd_final_resident(fb, (int64_t)off, ctx, NULL, err) ||
                qt_fwd_kl(fq, fb, base->tokens + off, 1, ctx, first, &ko, err))
                goto out;
            report(p, ++done, total);
            continue;
        }
        if (qt_fwd_final(fq, h + off * base->hidden, ctx, ql, err)) goto out;
        const float *b = base->logits ? base->logits + off * V : bl;
        if (!base->logits && qt_fwd_final(fb, base->h_final + off * base->hidden, ctx, bl, err)) goto out;
        size_t o = (size_t)s * per;
        struct kl_arg A = {b, ql, base->tokens + off, ctx, V, first, kl + o, nllb + o, nllq + o, dp + o, same + o};
        qt_parallel_for(per, kl_rows, &A);
        report(p, ++done, total);
    }
    if (p->second_half) {
        /* llama-perplexity --kl-divergence scores n_ctx - 1 - n_ctx/2
         * positions a chunk: the last one, which predicts no token, is not
         * among them (tools/perplexity: process_logits over n_ctx-1-first) */
        int64_t w = 0;
        for (int s = 0; s < nseq; s++)
            for (int i = 0; i + 1 < per; i++, w++) {
                int64_t r = (int64_t)s * per + i;
                kl[w] = kl[r];
                nllb[w] = nllb[r];
                nllq[w] = nllq[r];
                dp[w] = dp[r];
                same[w] = same[r];
            }
        npk = w;
    }
    double sb = 0, sq = 0, sdp = 0;
    int64_t np = 0, nsame = 0;
    for (int64_t i = 0; i < npk; i++) {
        nsame += same[i];
        if (isnan(nllb[i])) continue;
        sb += nllb[i];
        sq += nllq[i];
        sdp += dp[i] * dp[i];
        np++;
    }
    st->same_top_p = (double)nsame / (double)npk;
    st->ppl_positions = np;
    if (np > 0) {
        st->ppl_base = exp(sb / (double)np);
        st->ppl_q = exp(sq / (double)np);
        st->ln_ppl_ratio = (sq - sb) / (double)np;
        st->rms_dp = sqrt(sdp / (double)np);
    }
    st->on_device = qt_fwd_gpu_stats(fq, &st->fwd);
    qt_kl_summarize(kl, npk, st);
    rc = QT_OK;
out:
    free(h);
    free(ql);
    free(bl);
    free(kl);
    free(nllb);
    free(nllq);
    free(dp);
    free(same);
    qt_fwd_free(fq);
    qt_fwd_free(fb);
    return rc;
}
