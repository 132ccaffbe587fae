/* tokenizer.c — Hugging Face tokenizer.json byte-level BPE (see tokenizer.h).
 *
 * Encoding follows the tokenizers library step by step:
 *   1. added tokens with normalized=false are split out of the raw text
 *      (leftmost-longest, non-overlapping);
 *   2. each remaining piece is normalized, then added tokens with
 *      normalized=true are split out of it;
 *   3. the pre-tokenizer steps cut the pieces further (PCRE2 with UTF+UCP for
 *      the Oniguruma patterns of the file; ByteLevel maps bytes to the GPT-2
 *      printable characters);
 *   4. each final piece is a BPE word: its characters become vocabulary ids,
 *      then the pair of lowest merge rank (leftmost among equals) is merged
 *      until none is left.  Words are cached, so repeated words cost one
 *      hash lookup. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <pcre2.h>

#include "base/unicode.h"

/* ------------------------------------------------------------------ */
/* Small growable buffers. */

struct buf {
    char *p;        // (cap) bytes, n used
    size_t n, cap;
};

struct ivec {
    int32_t *p;     // (cap) ids, n used
    size_t n, cap;
};

static int buf_reserve(struct buf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return QT_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return QT_ERR;
    b->p = p;
    b->cap = cap;
    return QT_OK;
}

static int buf_add(struct buf *b, const void *s, size_t n) {
    if (buf_reserve(b, n) != QT_OK) return QT_ERR;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return QT_OK;
}

static int ivec_reserve(struct ivec *v, size_t extra) {
    if (v->n + extra <= v->cap) return QT_OK;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < v->n + extra) cap *= 2;
    int32_t *p = realloc(v->p, cap * sizeof *p);
    if (!p) return QT_ERR;
    v->p = p;
    v->cap = cap;
    return QT_OK;
}

static int ivec_add(struct ivec *v, int32_t x) {
    if (ivec_reserve(v, 1) != QT_OK) return QT_ERR;
    v->p[v->n++] = x;
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* String -> (int32, int32) hash map, open addressing, keys in an arena. */

struct smap_slot {
    uint64_t hash;
    uint32_t off, len;  // key = arena[off .. off+len)
    int32_t val, val2;
    int used;
};

struct smap {
    struct smap_slot *slots;    // (cap), cap a power of two
    size_t cap, n;
    struct buf arena;           // keys, back to back
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;    // FNV-1a, then a final mix
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33;
    return h;
}

static void smap_free(struct smap *m) {
    free(m->slots);
    free(m->arena.p);
    memset(m, 0, sizeof *m);
}

static void smap_clear(struct smap *m) {
    if (m->slots) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
    m->arena.n = 0;
}

static struct smap_slot *smap_find(const struct smap *m, const char *s, size_t n, uint64_t h) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct smap_slot *e = &m->slots[i];
        if (!e->used) return e;
        if (e->hash == h && e->len == n && !memcmp(m->arena.p + e->off, s, n)) return e;
    }
}

static int smap_get(const struct smap *m, const char *s, size_t n, int32_t *val, int32_t *val2) {
    struct smap_slot *e = smap_find(m, s, n, hash_bytes(s, n));
    if (!e || !e->used) return 0;
    if (val) *val = e->val;
    if (val2) *val2 = e->val2;
    return 1;
}

static int smap_grow(struct smap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct smap_slot *old = m->slots, *ns = calloc(cap, sizeof *ns);
    if (!ns) return QT_ERR;
    size_t ocap = m->cap;
    m->slots = ns;
    m->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].used) continue;
        size_t j = old[i].hash & (cap - 1);
        while (ns[j].used) j = (j + 1) & (cap - 1);
        ns[j] = old[i];
    }
    free(old);
    return QT_OK;
}

/* Inserts or overwrites; returns QT_ERR only when out of memory. */
static int smap_put(struct smap *m, const char *s, size_t n, int32_t val, int32_t val2) {
    if ((m->n + 1) * 4 > m->cap * 3 && smap_grow(m) != QT_OK) return QT_ERR;
    uint64_t h = hash_bytes(s, n);
    struct smap_slot *e = smap_find(m, s, n, h);
    if (!e->used) {
        if (m->arena.n + n > UINT32_MAX) return QT_ERR;
        uint32_t off = (uint32_t)m->arena.n;
        if (buf_add(&m->arena, s, n) != QT_OK) return QT_ERR;
        e->used = 1;
        e->hash = h;
        e->off = off;
        e->len = (uint32_t)n;
        m->n++;
    }
    e->val = val;
    e->val2 = val2;
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* (id, id) -> (rank, merged id), open addressing. */

struct pair_slot {
    uint64_t key;       // left << 32 | right; PAIR_EMPTY when unused
    int32_t rank, id;
};
#define PAIR_EMPTY UINT64_MAX

struct pmap {
    struct pair_slot *slots;    // (cap), cap a power of two
    size_t cap, n;
};

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int pmap_init(struct pmap *m, size_t n) {
    size_t cap = 1024;
    while (cap < n * 2) cap *= 2;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return QT_ERR;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = PAIR_EMPTY;
    m->cap = cap;
    m->n = 0;
    return QT_OK;
}

static struct pair_slot *pmap_slot(const struct pmap *m, uint64_t key) {
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask)
        if (m->slots[i].key == key || m->slots[i].key == PAIR_EMPTY) return &m->slots[i];
}

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

/* ------------------------------------------------------------------ */
/* The tokenizer. */

enum norm_kind { NORM_NFC, NORM_PREPEND, NORM_STRIP, NORM_REPLACE };

struct norm_step {
    enum norm_kind kind;
    char *text;             // Prepend: the prefix; Replace: the replacement
    size_t text_len;
    pcre2_code *re;         // Replace: the pattern
    int left, right;        // Strip
};

enum split_behavior { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT,
                      SPLIT_CONTIGUOUS };

enum pt_kind { PT_SPLIT, PT_BYTELEVEL };

struct seg {
    size_t a, b;    // byte range [a, b)
    int match;
};

struct pt_step {
    enum pt_kind kind;
    pcre2_code *re;             // Split pattern, or the GPT-2 pattern for ByteLevel use_regex
    enum split_behavior behavior;
    int invert;
    int add_prefix_space, use_regex;
    struct seg *segs;           // (segs_cap) scratch for this level
    size_t segs_cap;
    struct buf prefixed, mapped;    // scratch for ByteLevel
};

struct added_tok {
    char *content;      // as matched (normalized tokens: after the normalizer)
    size_t len;
    int32_t id;
    int single_word, lstrip, rstrip, normalized, special;
};

/* A set of added tokens to split on: by first byte, longest first. */
struct added_set {
    int32_t *order;             // (n) indexes into tok->added, by first byte then length desc
    size_t n;
    uint32_t first[257];        // order[first[c] .. first[c+1]) start with byte c
};

struct qt_tok {
    char *path;
    struct smap vocab;          // token string -> id
    char **id_tok;              // (vocab_size) token string of each id, NULL for holes
    int32_t vocab_size;
    struct pmap merges;         // (left id, right id) -> (rank, merged id)
    int32_t unk_id;             // -1 when none
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256];      // byte_fallback: id of "<0xXX>", -1 if missing

    struct added_tok *added;    // (n_added)
    size_t n_added;
    struct added_set raw_set, norm_set;
    pcre2_code *re_alnum;       // single_word: one word character (Rust's \w)

    struct norm_step *norm;     // (n_norm)
    size_t n_norm;
    struct pt_step *pt;         // (n_pt)
    size_t n_pt;
    int decoder_bytelevel, decoder_none, decoder_unsupported;
    char decoder_name[64];

    /* Encoding state (why a tokenizer is not thread-safe). */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    struct smap cache;          // piece -> (offset in cache_ids, count)
    struct ivec cache_ids;
    struct ivec out;
    struct buf normed, normed2;
    struct ivec word;           // scratch ids of one word
};

/* The GPT-2 byte-to-unicode map: printable Latin-1 bytes map to themselves,
 * the others to U+0100 upwards in byte order. */
static uint32_t byte_cp[256];
static unsigned char cp_byte[512];  // code point (< 512) -> byte + 1, 0 if none
static char byte_utf8[256][3];      // UTF-8 of byte_cp, NUL-terminated
static int byte_map_ready;

static void byte_map_init(void) {
    if (byte_map_ready) return;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
    memset(cp_byte, 0, sizeof cp_byte);
    for (int b = 0; b < 256; b++) {
        uint32_t c = byte_cp[b];
        cp_byte[c] = (unsigned char)(b + 1);
        if (c < 0x80) { byte_utf8[b][0] = (char)c; byte_utf8[b][1] = 0; }
        else {
            byte_utf8[b][0] = (char)(0xC0 | (c >> 6));
            byte_utf8[b][1] = (char)(0x80 | (c & 0x3F));
            byte_utf8[b][2] = 0;
        }
    }
    byte_map_ready = 1;
}

/* Rust's char::is_whitespace (the White_Space property). */
static int is_ws(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Length of the character before s + end (valid UTF-8). */
static size_t utf8_prev_len(const char *s, size_t end) {
    size_t k = 1;
    while (k < end && k < 4 && ((unsigned char)s[end - k] & 0xC0) == 0x80) k++;
    return k;
}

/* Length of a well-formed UTF-8 sequence at s (n bytes left), or the number
 * of bytes of its maximal invalid prefix negated (at least -1). */
static long utf8_check(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return -1;
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n) return -(long)i;
        unsigned x = s[i];
        if (i == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return -(long)i;
    }
    return (long)(need + 1);
}

/* Offset of the first invalid UTF-8 byte, or n when the text is valid. */
static size_t utf8_invalid_at(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        long k = utf8_check(u + i, n - i);
        if (k < 0) return i;
        i += (size_t)k;
    }
    return n;
}

static int oom(qt_err *err) { return qt_err_set(err, "tokenizer: out of memory"); }

/* ------------------------------------------------------------------ */
/* Regexes. */

static pcre2_code *re_compile(const char *pat, size_t len, uint32_t extra, qt_err *err,
                              const char *path) {
    int ec;
    PCRE2_SIZE eo;
    /* UCP is refused with LITERAL, and a literal does not need it. */
    uint32_t opts = PCRE2_UTF | extra | ((extra & PCRE2_LITERAL) ? 0 : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        qt_err_set(err, "%s: regex /%.60s/ at offset %zu: %s", path, pat, (size_t)eo, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is missing
    return re;
}

/* Calls back with each non-empty match [a, b) of re in s, left to right,
 * non-overlapping (an empty match moves on by one character). */
static int re_each(struct qt_tok *tok, pcre2_code *re, const char *s, size_t len,
                   int (*fn)(void *, size_t, size_t), void *ctx, qt_err *err) {
    size_t off = 0;
    while (off < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, off, PCRE2_NO_UTF_CHECK, tok->md, tok->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return qt_err_set(err, "tokenizer: regex: %s", (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
        size_t a = ov[0], b = ov[1];
        if (b == a) {
            uint32_t cp;
            off = a + qt_utf8_decode(s + a, &cp);
            continue;
        }
        if (fn(ctx, a, b) != QT_OK) return oom(err);
        off = b;
    }
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* Normalizer. */

struct repl_ctx {
    struct buf *out;
    const char *s;
    size_t last;
    const struct norm_step *st;
};

static int repl_cb(void *p, size_t a, size_t b) {
    struct repl_ctx *c = p;
    if (buf_add(c->out, c->s + c->last, a - c->last) != QT_OK) return QT_ERR;
    if (buf_add(c->out, c->st->text, c->st->text_len) != QT_OK) return QT_ERR;
    c->last = b;
    return QT_OK;
}

/* Applies every normalizer step to s; the result lands in tok->normed and
 * res and res_len point at it (or at s when there is no step). */
static int normalize(struct qt_tok *tok, const char *s, size_t len, const char **res, size_t *res_len,
                     qt_err *err) {
    *res = s;
    *res_len = len;
    for (size_t k = 0; k < tok->n_norm; k++) {
        const struct norm_step *st = &tok->norm[k];
        const char *in = *res;
        size_t n = *res_len;
        struct buf *out = (in == tok->normed.p) ? &tok->normed2 : &tok->normed;
        out->n = 0;
        if (buf_reserve(out, n) != QT_OK) return oom(err);
        out->p[0] = 0;
        switch (st->kind) {
        case NORM_NFC: {
            size_t bad = qt_unicode_nfc_quick(in, n);
            if (bad < n) {
                uint32_t cp;
                qt_utf8_decode(in + bad, &cp);
                return qt_err_set(err, "tokenizer: text is not in NFC (at U+%04X) and this tokenizer's NFC "
                                       "normalizer only accepts text already in NFC", (unsigned)cp);
            }
            if (buf_add(out, in, n) != QT_OK) return oom(err);
            break;
        }
        case NORM_PREPEND:
            if (n && buf_add(out, st->text, st->text_len) != QT_OK) return oom(err);
            if (buf_add(out, in, n) != QT_OK) return oom(err);
            break;
        case NORM_STRIP: {
            size_t a = 0, b = n;
            uint32_t cp;
            while (st->left && a < b) {
                size_t l = qt_utf8_decode(in + a, &cp);
                if (!is_ws(cp)) break;
                a += l;
            }
            while (st->right && b > a) {
                size_t l = utf8_prev_len(in, b);
                qt_utf8_decode(in + b - l, &cp);
                if (!is_ws(cp)) break;
                b -= l;
            }
            if (buf_add(out, in + a, b - a) != QT_OK) return oom(err);
            break;
        }
        case NORM_REPLACE: {
            struct repl_ctx c = {out, in, 0, st};
            if (re_each(tok, st->re, in, n, repl_cb, &c, err) != QT_OK) return QT_ERR;
            if (buf_add(out, in + c.last, n - c.last) != QT_OK) return oom(err);
            break;
        }
        }
        *res = out->p;
        *res_len = out->n;
    }
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* BPE on one word. */

struct sym {
    int32_t id, prev, next;
    int alive;
};

struct merge_ent {
    int32_t rank, pos, id;
};

static int merge_less(const struct merge_ent *x, const struct merge_ent *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(struct merge_ent *h, size_t *n, struct merge_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static struct merge_ent heap_pop(struct merge_ent *h, size_t *n) {
    struct merge_ent top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_less(&h[c + 1], &h[c])) c++;
        if (!merge_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void pair_push(const struct qt_tok *tok, const struct sym *sy, int32_t pos, struct merge_ent *h,
                      size_t *nh) {
    int32_t nx = sy[pos].next;
    if (nx < 0) return;
    const struct pair_slot *ps = pmap_slot(&tok->merges, pair_key(sy[pos].id, sy[nx].id));
    if (ps->key == PAIR_EMPTY) return;
    heap_push(h, nh, (struct merge_ent){ps->rank, pos, ps->id});
}

/* The ids of one pre-tokenized piece, appended to tok->word. */
static int bpe_merge_word(struct qt_tok *tok, const char *s, size_t len, qt_err *err) {
    struct ivec *w = &tok->word;
    w->n = 0;
    int32_t id;
    if (tok->ignore_merges && smap_get(&tok->vocab, s, len, &id, NULL)) return ivec_add(w, id) == QT_OK ? QT_OK : oom(err);
    /* Characters to ids. */
    int prev_unk = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = qt_utf8_decode(s + i, &cp);
        if (smap_get(&tok->vocab, s + i, l, &id, NULL)) {
            if (ivec_add(w, id) != QT_OK) return oom(err);
            prev_unk = 0;
        } else {
            int done = 0;
            if (tok->byte_fallback) {
                done = 1;
                for (size_t k = 0; k < l; k++)
                    if (tok->byte_ids[(unsigned char)s[i + k]] < 0) done = 0;
                for (size_t k = 0; done && k < l; k++)
                    if (ivec_add(w, tok->byte_ids[(unsigned char)s[i + k]]) != QT_OK) return oom(err);
                if (done) prev_unk = 0;
            }
            if (!done && tok->unk_id >= 0) {
                if (!(tok->fuse_unk && prev_unk) && ivec_add(w, tok->unk_id) != QT_OK) return oom(err);
                prev_unk = 1;
            }
        }
        i += l;
    }
    size_t n = w->n;
    if (n < 2) return QT_OK;
    /* Lowest rank first, leftmost among equals, as the reference does. */
    struct sym *sy = malloc(n * sizeof *sy);
    struct merge_ent *h = malloc(n * 2 * sizeof *h);    // each merge adds at most 2 entries
    if (!sy || !h) { free(sy); free(h); return oom(err); }
    for (size_t i = 0; i < n; i++)
        sy[i] = (struct sym){w->p[i], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, 1};
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++) pair_push(tok, sy, (int32_t)i, h, &nh);
    while (nh) {
        struct merge_ent e = heap_pop(h, &nh);
        struct sym *a = &sy[e.pos];
        if (!a->alive || a->next < 0) continue;
        struct sym *b = &sy[a->next];
        const struct pair_slot *ps = pmap_slot(&tok->merges, pair_key(a->id, b->id));
        if (ps->key == PAIR_EMPTY || ps->id != e.id) continue;  // stale entry
        a->id = e.id;
        b->alive = 0;
        a->next = b->next;
        if (b->next >= 0) sy[b->next].prev = e.pos;
        if (a->prev >= 0) pair_push(tok, sy, a->prev, h, &nh);
        pair_push(tok, sy, e.pos, h, &nh);
    }
    w->n = 0;
    for (int32_t i = 0; i >= 0; i = sy[i].next) w->p[w->n++] = sy[i].id;
    free(sy);
    free(h);
    return QT_OK;
}

#define CACHE_MAX_WORDS (1u << 20)

static int bpe_word(struct qt_tok *tok, const char *s, size_t len, qt_err *err) {
    if (!len) return QT_OK;
    int32_t off, cnt;
    if (smap_get(&tok->cache, s, len, &off, &cnt)) {
        if (!cnt) return QT_OK;
        if (ivec_reserve(&tok->out, (size_t)cnt) != QT_OK) return oom(err);
        memcpy(tok->out.p + tok->out.n, tok->cache_ids.p + off, (size_t)cnt * sizeof(int32_t));
        tok->out.n += (size_t)cnt;
        return QT_OK;
    }
    if (bpe_merge_word(tok, s, len, err) != QT_OK) return QT_ERR;
    struct ivec *w = &tok->word;
    if (!w->n) return QT_OK;   /* nothing to copy (and the vectors may still be NULL) */
    if (ivec_reserve(&tok->out, w->n) != QT_OK) return oom(err);
    memcpy(tok->out.p + tok->out.n, w->p, w->n * sizeof(int32_t));
    tok->out.n += w->n;
    if (tok->cache.n >= CACHE_MAX_WORDS || tok->cache_ids.n + w->n > INT32_MAX / 2) {
        smap_clear(&tok->cache);
        tok->cache_ids.n = 0;
    }
    if (len > 256) return QT_OK;    // long pieces rarely repeat
    if (ivec_reserve(&tok->cache_ids, w->n) != QT_OK) return oom(err);
    off = (int32_t)tok->cache_ids.n;
    memcpy(tok->cache_ids.p + off, w->p, w->n * sizeof(int32_t));
    tok->cache_ids.n += w->n;
    if (smap_put(&tok->cache, s, len, off, (int32_t)w->n) != QT_OK) return oom(err);
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* Pre-tokenizer. */

struct segs_ctx {
    struct pt_step *st;
    size_t n, last;
};

static int segs_add(struct pt_step *st, size_t *n, size_t a, size_t b, int m) {
    if (*n == st->segs_cap) {
        size_t cap = st->segs_cap ? st->segs_cap * 2 : 64;
        struct seg *p = realloc(st->segs, cap * sizeof *p);
        if (!p) return QT_ERR;
        st->segs = p;
        st->segs_cap = cap;
    }
    st->segs[(*n)++] = (struct seg){a, b, m};
    return QT_OK;
}

static int segs_cb(void *p, size_t a, size_t b) {
    struct segs_ctx *c = p;
    if (c->last != a && segs_add(c->st, &c->n, c->last, a, 0) != QT_OK) return QT_ERR;
    if (segs_add(c->st, &c->n, a, b, 1) != QT_OK) return QT_ERR;
    c->last = b;
    return QT_OK;
}

/* Splits s with st->re into st->segs (match / non-match alternation, then
 * the behavior applied, as the reference's NormalizedString::split does);
 * returns the count in *nseg.  Kept segments have match == 0. */
static int split_segments(struct qt_tok *tok, struct pt_step *st, enum split_behavior bh, int invert,
                          const char *s, size_t len, size_t *nseg, qt_err *err) {
    struct segs_ctx c = {st, 0, 0};
    if (re_each(tok, st->re, s, len, segs_cb, &c, err) != QT_OK) return QT_ERR;
    if (c.last != len && segs_add(st, &c.n, c.last, len, 0) != QT_OK) return oom(err);
    struct seg *g = st->segs;
    size_t n = c.n, m = 0;
    if (invert)
        for (size_t i = 0; i < n; i++) g[i].match = !g[i].match;
    int prev = 0;
    switch (bh) {
    case SPLIT_ISOLATED:
        for (size_t i = 0; i < n; i++) g[i].match = 0;
        m = n;
        break;
    case SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!g[i].match) g[m++] = g[i];
        break;
    case SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            int im = g[i].match;
            if (m && im == prev) g[m - 1].b = g[i].b;
            else { g[m] = g[i]; g[m++].match = 0; }
            prev = im;
        }
        break;
    case SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            int im = g[i].match;
            if (im && !prev && m) g[m - 1].b = g[i].b;
            else { g[m] = g[i]; g[m++].match = 0; }
            prev = im;
        }
        break;
    case SPLIT_MERGED_NEXT: {
        /* Walk backwards, merging a match into the piece after it. */
        size_t w = n;
        for (size_t i = n; i-- > 0;) {
            int im = g[i].match;
            if (im && !prev && w < n) g[w].a = g[i].a;
            else { g[--w] = g[i]; g[w].match = 0; }
            prev = im;
        }
        memmove(g, g + w, (n - w) * sizeof *g);
        m = n - w;
        break;
    }
    }
    *nseg = m;
    return QT_OK;
}

static int pretok(struct qt_tok *tok, size_t k, const char *s, size_t len, qt_err *err);

/* ByteLevel: optional prefix space, optional GPT-2 split, then every byte
 * mapped to its printable character. */
static int pt_bytelevel_piece(struct qt_tok *tok, size_t k, const char *s, size_t len, qt_err *err) {
    struct pt_step *st = &tok->pt[k];
    st->mapped.n = 0;
    if (buf_reserve(&st->mapped, 2 * len) != QT_OK) return oom(err);
    char *o = st->mapped.p;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        const char *u = byte_utf8[(unsigned char)s[i]];
        o[j++] = u[0];
        if (u[1]) o[j++] = u[1];
    }
    st->mapped.n = j;
    return pretok(tok, k + 1, o, j, err);
}

static int pretok(struct qt_tok *tok, size_t k, const char *s, size_t len, qt_err *err) {
    if (!len) return QT_OK;
    if (k == tok->n_pt) return bpe_word(tok, s, len, err);
    struct pt_step *st = &tok->pt[k];
    if (st->kind == PT_BYTELEVEL) {
        if (st->add_prefix_space && s[0] != ' ') {
            st->prefixed.n = 0;
            if (buf_add(&st->prefixed, " ", 1) != QT_OK || buf_add(&st->prefixed, s, len) != QT_OK)
                return oom(err);
            s = st->prefixed.p;
            len = st->prefixed.n;
        }
        if (!st->use_regex) return pt_bytelevel_piece(tok, k, s, len, err);
        size_t n;
        if (split_segments(tok, st, SPLIT_ISOLATED, 0, s, len, &n, err) != QT_OK) return QT_ERR;
        for (size_t i = 0; i < n; i++) {
            struct seg g = st->segs[i];
            if (pt_bytelevel_piece(tok, k, s + g.a, g.b - g.a, err) != QT_OK) return QT_ERR;
        }
        return QT_OK;
    }
    size_t n;
    if (split_segments(tok, st, st->behavior, st->invert, s, len, &n, err) != QT_OK) return QT_ERR;
    for (size_t i = 0; i < n; i++) {
        struct seg g = st->segs[i];
        if (pretok(tok, k + 1, s + g.a, g.b - g.a, err) != QT_OK) return QT_ERR;
    }
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* Added tokens. */

static int alnum_before(struct qt_tok *tok, const char *s, size_t end) {
    if (!end) return 0;
    size_t l = utf8_prev_len(s, end);
    return pcre2_match(tok->re_alnum, (PCRE2_SPTR)(s + end - l), l, 0, PCRE2_NO_UTF_CHECK, tok->md, NULL) >= 0;
}

static int alnum_at(struct qt_tok *tok, const char *s, size_t at, size_t len) {
    if (at >= len) return 0;
    uint32_t cp;
    size_t l = qt_utf8_decode(s + at, &cp);
    return pcre2_match(tok->re_alnum, (PCRE2_SPTR)(s + at), l, 0, PCRE2_NO_UTF_CHECK, tok->md, NULL) >= 0;
}

/* Longest added token of set starting at s[i], or -1. */
static int added_at(const struct qt_tok *tok, const struct added_set *set, const char *s, size_t len,
                    size_t i) {
    unsigned c = (unsigned char)s[i];
    for (uint32_t j = set->first[c]; j < set->first[c + 1]; j++) {
        const struct added_tok *t = &tok->added[set->order[j]];
        if (t->len <= len - i && !memcmp(s + i, t->content, t->len)) return set->order[j];
    }
    return -1;
}

/* Splits the added tokens of set out of s (the reference's find_matches):
 * added tokens go to the output, the text between them to next(). */
static int split_added(struct qt_tok *tok, const struct added_set *set, const char *s, size_t len,
                       int (*next)(struct qt_tok *, const char *, size_t, qt_err *), qt_err *err) {
    size_t start = 0;   // first byte not yet emitted
    size_t i = 0;
    while (set->n && i < len) {
        int t = added_at(tok, set, s, len, i);
        if (t < 0) { i++; continue; }
        const struct added_tok *at = &tok->added[t];
        size_t a = i, b = i + at->len;
        i = b;  // the scan goes on after this match even when it is rejected
        if (at->single_word && (alnum_before(tok, s, a) || alnum_at(tok, s, b, len))) continue;
        if (at->lstrip) {
            size_t na = a;
            while (na > 0) {
                size_t l = utf8_prev_len(s, na);
                uint32_t cp;
                qt_utf8_decode(s + na - l, &cp);
                if (!is_ws(cp)) break;
                na -= l;
            }
            a = na > start ? na : start;
        }
        if (at->rstrip) {
            while (b < len) {
                uint32_t cp;
                size_t l = qt_utf8_decode(s + b, &cp);
                if (!is_ws(cp)) break;
                b += l;
            }
        }
        if (a < start) a = start;   // overlaps are resolved in favour of the earlier token
        if (start < a && next(tok, s + start, a - start, err) != QT_OK) return QT_ERR;
        if (ivec_add(&tok->out, at->id) != QT_OK) return oom(err);
        start = b;
        if (i < b) i = b;
    }
    if (start < len) return next(tok, s + start, len - start, err);
    return QT_OK;
}

static int stage_pretok(struct qt_tok *tok, const char *s, size_t len, qt_err *err) {
    return pretok(tok, 0, s, len, err);
}

static int stage_normalize(struct qt_tok *tok, const char *s, size_t len, qt_err *err) {
    if (!tok->n_norm) return split_added(tok, &tok->norm_set, s, len, stage_pretok, err);
    const char *r;
    size_t rl;
    if (normalize(tok, s, len, &r, &rl, err) != QT_OK) return QT_ERR;
    /* r lives in a scratch buffer that nothing below reuses. */
    return split_added(tok, &tok->norm_set, r, rl, stage_pretok, err);
}

int qt_tok_encode(struct qt_tok *tok, const char *text, size_t len, int32_t **ids, size_t *n,
                  qt_err *err) {
    *ids = NULL;
    *n = 0;
    size_t bad = utf8_invalid_at(text, len);
    if (bad < len) return qt_err_set(err, "tokenizer: text is not valid UTF-8 (byte %zu)", bad);
    tok->out.n = 0;
    if (split_added(tok, &tok->raw_set, text, len, stage_normalize, err) != QT_OK) return QT_ERR;
    *n = tok->out.n;
    if (tok->out.n) {
        *ids = tok->out.p;  // hand the buffer over
        tok->out = (struct ivec){0};
    }
    return QT_OK;
}

/* ------------------------------------------------------------------ */
/* Decoding. */

/* Appends s to out, replacing each maximal invalid UTF-8 subpart by U+FFFD
 * (Rust's String::from_utf8_lossy). */
static int add_lossy(struct buf *out, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        long k = utf8_check(u + i, n - i);
        if (k > 0) {
            if (buf_add(out, s + i, (size_t)k) != QT_OK) return QT_ERR;
            i += (size_t)k;
        } else {
            if (buf_add(out, "\xEF\xBF\xBD", 3) != QT_OK) return QT_ERR;
            i += (size_t)(-k);
        }
    }
    return QT_OK;
}

int qt_tok_decode(const struct qt_tok *tok, const int32_t *ids, size_t n, char **text, size_t *len,
                  qt_err *err) {
    *text = NULL;
    if (len) *len = 0;
    if (tok->decoder_unsupported)
        return qt_err_set(err, "%s: decoder %s is not supported", tok->path, tok->decoder_name);
    struct buf raw = {0}, out = {0};
    for (size_t i = 0; i < n; i++) {
        const char *t = qt_tok_id_to_token(tok, ids[i]);
        if (!t) {
            free(raw.p);
            return qt_err_set(err, "tokenizer: id %d has no token", ids[i]);
        }
        size_t tl = strlen(t);
        if (tok->decoder_none) {
            if ((i && buf_add(&raw, " ", 1) != QT_OK) || buf_add(&raw, t, tl) != QT_OK) goto nomem;
            continue;
        }
        /* ByteLevel: a token whose characters all map back to bytes gives
         * those bytes; any other gives its own UTF-8. */
        size_t mark = raw.n;
        int ok = 1;
        for (size_t j = 0; j < tl;) {
            uint32_t cp;
            j += qt_utf8_decode(t + j, &cp);
            if (cp >= 512 || !cp_byte[cp]) { ok = 0; break; }
            char b = (char)(cp_byte[cp] - 1);
            if (buf_add(&raw, &b, 1) != QT_OK) goto nomem;
        }
        if (!ok) {
            raw.n = mark;
            if (buf_add(&raw, t, tl) != QT_OK) goto nomem;
        }
    }
    if (add_lossy(&out, raw.p ? raw.p : "", raw.n) != QT_OK || buf_reserve(&out, 0) != QT_OK) goto nomem;
    free(raw.p);
    out.p[out.n] = 0;
    *text = out.p;
    if (len) *len = out.n;
    return QT_OK;
nomem:
    free(raw.p);
    free(out.p);
    return oom(err);
}

/* ------------------------------------------------------------------ */
/* Lookups. */

int32_t qt_tok_vocab_size(const struct qt_tok *tok) { return tok->vocab_size; }

const char *qt_tok_id_to_token(const struct qt_tok *tok, int32_t id) {
    if (id < 0 || id >= tok->vocab_size) return NULL;
    return tok->id_tok[id];
}

int32_t qt_tok_token_to_id(const struct qt_tok *tok, const char *token) {
    /* Added tokens first, as the reference does (by the string they decode to). */
    for (size_t i = 0; i < tok->n_added; i++) {
        const char *t = tok->id_tok[tok->added[i].id];
        if (t && !strcmp(t, token)) return tok->added[i].id;
    }
    int32_t id;
    if (smap_get(&tok->vocab, token, strlen(token), &id, NULL)) return id;
    return -1;
}

int qt_tok_is_special(const struct qt_tok *tok, int32_t id) {
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id) return tok->added[i].special;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Loading. */

void qt_tok_free(struct qt_tok *tok) {
    if (!tok) return;
    free(tok->path);
    smap_free(&tok->vocab);
    if (tok->id_tok)
        for (int32_t i = 0; i < tok->vocab_size; i++) free(tok->id_tok[i]);
    free(tok->id_tok);
    free(tok->merges.slots);
    for (size_t i = 0; i < tok->n_added; i++) free(tok->added[i].content);
    free(tok->added);
    free(tok->raw_set.order);
    free(tok->norm_set.order);
    pcre2_code_free(tok->re_alnum);
    for (size_t i = 0; i < tok->n_norm; i++) {
        free(tok->norm[i].text);
        pcre2_code_free(tok->norm[i].re);
    }
    free(tok->norm);
    for (size_t i = 0; i < tok->n_pt; i++) {
        pcre2_code_free(tok->pt[i].re);
        free(tok->pt[i].segs);
        free(tok->pt[i].prefixed.p);
        free(tok->pt[i].mapped.p);
    }
    free(tok->pt);
    pcre2_match_data_free(tok->md);
    pcre2_match_context_free(tok->mctx);
    pcre2_jit_stack_free(tok->jit_stack);
    smap_free(&tok->cache);
    free(tok->cache_ids.p);
    free(tok->out.p);
    free(tok->normed.p);
    free(tok->normed2.p);
    free(tok->word.p);
    free(tok);
}

static const char *GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char *json_type(const cJSON *j) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int json_bool(const cJSON *j, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

/* A pattern object {"String": s} or {"Regex": r} compiled for PCRE2. */
static pcre2_code *load_pattern(const cJSON *pat, const char *path, const char *what, qt_err *err) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    if (cJSON_IsString(s)) return re_compile(s->valuestring, strlen(s->valuestring), PCRE2_LITERAL, err, path);
    if (cJSON_IsString(r)) return re_compile(r->valuestring, strlen(r->valuestring), 0, err, path);
    qt_err_set(err, "%s: %s: pattern is neither String nor Regex", path, what);
    return NULL;
}

static int add_norm(struct qt_tok *tok, const cJSON *j, qt_err *err) {
    if (!j || cJSON_IsNull(j)) return QT_OK;
    const char *type = json_type(j);
    if (!type) return qt_err_set(err, "%s: normalizer without a type", tok->path);
    if (!strcmp(type, "Sequence")) {
        const cJSON *it, *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(arr)) return qt_err_set(err, "%s: Sequence normalizer without normalizers", tok->path);
        cJSON_ArrayForEach(it, arr) if (add_norm(tok, it, err) != QT_OK) return QT_ERR;
        return QT_OK;
    }
    struct norm_step st = {0};
    if (!strcmp(type, "NFC")) st.kind = NORM_NFC;
    else if (!strcmp(type, "Prepend")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prepend");
        if (!cJSON_IsString(p)) return qt_err_set(err, "%s: Prepend normalizer without prepend", tok->path);
        st.kind = NORM_PREPEND;
        st.text = qt_strdup(p->valuestring);
        st.text_len = strlen(p->valuestring);
    } else if (!strcmp(type, "Strip")) {
        st.kind = NORM_STRIP;
        st.left = json_bool(j, "strip_left", 1);
        st.right = json_bool(j, "strip_right", 1);
    } else if (!strcmp(type, "Replace")) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
        if (!cJSON_IsString(c)) return qt_err_set(err, "%s: Replace normalizer without content", tok->path);
        st.kind = NORM_REPLACE;
        st.re = load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"), tok->path, "Replace", err);
        if (!st.re) return QT_ERR;
        st.text = qt_strdup(c->valuestring);
        st.text_len = strlen(c->valuestring);
    } else
        return qt_err_set(err, "%s: normalizer %s is not supported (NFC, Prepend, Strip, Replace, Sequence are)",
                          tok->path, type);
    struct norm_step *p = realloc(tok->norm, (tok->n_norm + 1) * sizeof *p);
    if (!p) { free(st.text); pcre2_code_free(st.re); return oom(err); }
    tok->norm = p;
    tok->norm[tok->n_norm++] = st;
    return QT_OK;
}

static int add_pt(struct qt_tok *tok, const cJSON *j, qt_err *err) {
    if (!j || cJSON_IsNull(j)) return QT_OK;
    const char *type = json_type(j);
    if (!type) return qt_err_set(err, "%s: pre_tokenizer without a type", tok->path);
    if (!strcmp(type, "Sequence")) {
        const cJSON *it, *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(arr)) return qt_err_set(err, "%s: Sequence pre_tokenizer without pretokenizers", tok->path);
        cJSON_ArrayForEach(it, arr) if (add_pt(tok, it, err) != QT_OK) return QT_ERR;
        return QT_OK;
    }
    struct pt_step st = {0};
    if (!strcmp(type, "Split")) {
        static const struct { const char *name; enum split_behavior b; } behaviors[] = {
            {"Removed", SPLIT_REMOVED}, {"Isolated", SPLIT_ISOLATED},
            {"MergedWithPrevious", SPLIT_MERGED_PREV}, {"MergedWithNext", SPLIT_MERGED_NEXT},
            {"Contiguous", SPLIT_CONTIGUOUS}};
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
        if (!cJSON_IsString(b)) return qt_err_set(err, "%s: Split pre_tokenizer without behavior", tok->path);
        size_t k = 0;
        while (k < 5 && strcmp(behaviors[k].name, b->valuestring)) k++;
        if (k == 5) return qt_err_set(err, "%s: Split behavior %s is not known", tok->path, b->valuestring);
        st.kind = PT_SPLIT;
        st.behavior = behaviors[k].b;
        st.invert = json_bool(j, "invert", 0);
        st.re = load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"), tok->path, "Split", err);
        if (!st.re) return QT_ERR;
    } else if (!strcmp(type, "ByteLevel")) {
        st.kind = PT_BYTELEVEL;
        st.add_prefix_space = json_bool(j, "add_prefix_space", 1);
        st.use_regex = json_bool(j, "use_regex", 1);
        if (st.use_regex && !(st.re = re_compile(GPT2_PATTERN, strlen(GPT2_PATTERN), 0, err, tok->path)))
            return QT_ERR;
    } else
        return qt_err_set(err, "%s: pre_tokenizer %s is not supported (Split, ByteLevel, Sequence are)",
                          tok->path, type);
    struct pt_step *p = realloc(tok->pt, (tok->n_pt + 1) * sizeof *p);
    if (!p) { pcre2_code_free(st.re); return oom(err); }
    tok->pt = p;
    tok->pt[tok->n_pt++] = st;
    return QT_OK;
}

/* Builds the first-byte index of the added tokens with normalized == norm. */
static int build_added_set(struct qt_tok *tok, struct added_set *set, int norm) {
    set->order = malloc((tok->n_added + 1) * sizeof *set->order);
    if (!set->order) return QT_ERR;
    set->n = 0;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].normalized == norm && tok->added[i].len) set->order[set->n++] = (int32_t)i;
    /* Insertion sort by (first byte, length desc, file order): n is small. */
    for (size_t i = 1; i < set->n; i++) {
        int32_t x = set->order[i];
        const struct added_tok *tx = &tok->added[x];
        size_t j = i;
        while (j > 0) {
            const struct added_tok *ty = &tok->added[set->order[j - 1]];
            unsigned cx = (unsigned char)tx->content[0], cy = (unsigned char)ty->content[0];
            if (cy < cx || (cy == cx && ty->len >= tx->len)) break;
            set->order[j] = set->order[j - 1];
            j--;
        }
        set->order[j] = x;
    }
    size_t j = 0;
    for (unsigned c = 0; c <= 256; c++) {
        while (j < set->n && (unsigned char)tok->added[set->order[j]].content[0] < c) j++;
        set->first[c] = (uint32_t)j;
    }
    return QT_OK;
}

static int load_added(struct qt_tok *tok, const cJSON *arr, qt_err *err) {
    if (!arr || cJSON_IsNull(arr)) return QT_OK;
    if (!cJSON_IsArray(arr)) return qt_err_set(err, "%s: added_tokens is not an array", tok->path);
    size_t n = (size_t)cJSON_GetArraySize(arr);
    tok->added = calloc(n + 1, sizeof *tok->added);
    if (!tok->added) return oom(err);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(c) || id->valuedouble < 0 || id->valuedouble >= (1 << 30))
            return qt_err_set(err, "%s: added_tokens[%zu] needs an id and a content", tok->path, tok->n_added);
        struct added_tok *t = &tok->added[tok->n_added++];
        t->id = (int32_t)id->valuedouble;
        t->special = json_bool(it, "special", 0);
        t->single_word = json_bool(it, "single_word", 0);
        t->lstrip = json_bool(it, "lstrip", 0);
        t->rstrip = json_bool(it, "rstrip", 0);
        t->normalized = json_bool(it, "normalized", !t->special);
        t->content = qt_strdup(c->valuestring);
        if (!t->content) return oom(err);
        t->len = strlen(t->content);
    }
    return QT_OK;
}

static int load_merges(struct qt_tok *tok, const cJSON *arr, qt_err *err) {
    if (!cJSON_IsArray(arr)) return qt_err_set(err, "%s: model.merges is missing or not an array", tok->path);
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (pmap_init(&tok->merges, n) != QT_OK) return oom(err);
    struct buf cat = {0};
    int32_t rank = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(it)) {
            /* "a b": exactly one space (tokens cannot hold one in this format). */
            a = it->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                free(cat.p);
                return qt_err_set(err, "%s: merge %d (\"%.40s\") is not two tokens", tok->path, rank, a);
            }
            al = (size_t)(sp - a);
            b = sp + 1;
            bl = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) && cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            al = strlen(a);
            bl = strlen(b);
        } else {
            free(cat.p);
            return qt_err_set(err, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", tok->path, rank);
        }
        int32_t ia, ib, im;
        cat.n = 0;
        if (buf_add(&cat, a, al) != QT_OK || buf_add(&cat, b, bl) != QT_OK) { free(cat.p); return oom(err); }
        if (!smap_get(&tok->vocab, a, al, &ia, NULL) || !smap_get(&tok->vocab, b, bl, &ib, NULL) ||
            !smap_get(&tok->vocab, cat.p, cat.n, &im, NULL)) {
            qt_err_set(err, "%s: merge %d (%.*s + %.*s) uses a token not in the vocabulary", tok->path, rank,
                       (int)(al > 40 ? 40 : al), a, (int)(bl > 40 ? 40 : bl), b);
            free(cat.p);
            return QT_ERR;
        }
        struct pair_slot *ps = pmap_slot(&tok->merges, pair_key(ia, ib));
        if (ps->key == PAIR_EMPTY) {    // a repeated pair keeps its first (lowest) rank
            ps->key = pair_key(ia, ib);
            ps->rank = rank;
            ps->id = im;
            tok->merges.n++;
        }
        rank++;
    }
    free(cat.p);
    return QT_OK;
}

static int load_model(struct qt_tok *tok, const cJSON *model, qt_err *err) {
    if (!cJSON_IsObject(model)) return qt_err_set(err, "%s: no model object", tok->path);
    const char *type = json_type(model);
    if (type && strcmp(type, "BPE"))
        return qt_err_set(err, "%s: model type %s is not supported (only BPE is)", tok->path, type);
    if (!type && !cJSON_GetObjectItemCaseSensitive(model, "merges"))
        return qt_err_set(err, "%s: model has no type and no merges", tok->path);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(d) && d->valuedouble != 0)
        return qt_err_set(err, "%s: BPE dropout is not supported", tok->path);
    static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (cJSON_IsString(a) && a->valuestring[0])
            return qt_err_set(err, "%s: BPE %s is not supported", tok->path, affixes[i]);
    }
    tok->fuse_unk = json_bool(model, "fuse_unk", 0);
    tok->byte_fallback = json_bool(model, "byte_fallback", 0);
    tok->ignore_merges = json_bool(model, "ignore_merges", 0);

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *it;
    if (!cJSON_IsObject(vocab)) return qt_err_set(err, "%s: model.vocab is missing or not an object", tok->path);
    int32_t max_id = -1;
    size_t n_entries = tok->n_added;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (1 << 30))
            return qt_err_set(err, "%s: vocab entry \"%.40s\" has no valid id", tok->path, it->string);
        int32_t id = (int32_t)it->valuedouble;
        if (smap_put(&tok->vocab, it->string, strlen(it->string), id, 0) != QT_OK) return oom(err);
        if (id > max_id) max_id = id;
        n_entries++;
    }
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id > max_id) max_id = tok->added[i].id;
    /* the id table is sized by the largest id: a 100-byte file naming id
     * 2^30 would allocate 8 GB.  Real vocabularies are dense; allow holes up
     * to twice the entries (plus room for reserved ranges) */
    if ((size_t)max_id + 1 > 2 * n_entries + 65536)
        return qt_err_set(err, "%s: vocabulary ids go up to %d for %zu tokens; refusing so sparse a table", tok->path,
                          (int)max_id, n_entries);
    tok->vocab_size = max_id + 1;
    tok->id_tok = calloc((size_t)tok->vocab_size + 1, sizeof *tok->id_tok);
    if (!tok->id_tok) return oom(err);
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        if (!tok->id_tok[id] && !(tok->id_tok[id] = qt_strdup(it->string))) return oom(err);
    }
    for (size_t i = 0; i < tok->n_added; i++) {  // added tokens win, as in the reference
        struct added_tok *t = &tok->added[i];
        free(tok->id_tok[t->id]);
        if (!(tok->id_tok[t->id] = qt_strdup(t->content))) return oom(err);
    }
    tok->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) smap_get(&tok->vocab, unk->valuestring, strlen(unk->valuestring), &tok->unk_id, NULL);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_ids[b] = -1;
        smap_get(&tok->vocab, name, strlen(name), &tok->byte_ids[b], NULL);
    }
    return load_merges(tok, cJSON_GetObjectItemCaseSensitive(model, "merges"), err);
}

static int load_decoder(struct qt_tok *tok, const cJSON *j) {
    if (!j || cJSON_IsNull(j)) { tok->decoder_none = 1; return QT_OK; }
    const char *type = json_type(j);
    if (type && !strcmp(type, "ByteLevel")) { tok->decoder_bytelevel = 1; return QT_OK; }
    tok->decoder_unsupported = 1;
    snprintf(tok->decoder_name, sizeof tok->decoder_name, "%s", type ? type : "(untyped)");
    return QT_OK;
}

static int load_json(struct qt_tok *tok, const cJSON *root, qt_err *err) {
    if (!cJSON_IsObject(root)) return qt_err_set(err, "%s: not a JSON object", tok->path);
    if (load_added(tok, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err) != QT_OK) return QT_ERR;
    if (load_model(tok, cJSON_GetObjectItemCaseSensitive(root, "model"), err) != QT_OK) return QT_ERR;
    if (add_norm(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err) != QT_OK) return QT_ERR;
    if (add_pt(tok, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err) != QT_OK) return QT_ERR;
    if (load_decoder(tok, cJSON_GetObjectItemCaseSensitive(root, "decoder")) != QT_OK) return QT_ERR;

    tok->md = pcre2_match_data_create(8, NULL);
    tok->mctx = pcre2_match_context_create(NULL);
    tok->jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
    if (!tok->md || !tok->mctx || !tok->jit_stack) return oom(err);
    pcre2_jit_stack_assign(tok->mctx, NULL, tok->jit_stack);

    /* Without a normalizer, "normalized" tokens match the same text, but
     * still in the second pass, as in the reference. */
    for (size_t i = 0; i < tok->n_added; i++) {
        struct added_tok *t = &tok->added[i];
        if (t->single_word && !tok->re_alnum &&
            !(tok->re_alnum = re_compile("^[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]", PCRE2_ZERO_TERMINATED, 0, err, tok->path)))
            return QT_ERR;
        if (!t->normalized || !tok->n_norm) continue;
        if (utf8_invalid_at(t->content, t->len) < t->len)
            return qt_err_set(err, "%s: added token %d is not valid UTF-8", tok->path, t->id);
        const char *r;
        size_t rl;
        if (normalize(tok, t->content, t->len, &r, &rl, err) != QT_OK)
            return qt_err_prefix(err, "%s: added token %d", tok->path, t->id);
        char *c = qt_strndup(r, rl);
        if (!c) return oom(err);
        free(t->content);
        t->content = c;
        t->len = rl;
        /* The reference also decodes such a token to its normalized form. */
        free(tok->id_tok[t->id]);
        if (!(tok->id_tok[t->id] = qt_strndup(r, rl))) return oom(err);
    }
    if (build_added_set(tok, &tok->raw_set, 0) != QT_OK || build_added_set(tok, &tok->norm_set, 1) != QT_OK)
        return oom(err);
    return QT_OK;
}

int qt_tok_load(const char *path, struct qt_tok **out, qt_err *err) {
    *out = NULL;
    byte_map_init();
    size_t len;
    char *text = qt_read_file(path, &len, err);
    if (!text) return QT_ERR;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = (at && at >= text && at <= text + len) ? (size_t)(at - text) : 0;
        free(text);
        return qt_err_set(err, "%s: bad JSON near byte %zu", path, off);
    }
    free(text);
    struct qt_tok *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->path = qt_strdup(path))) {
        free(tok);
        cJSON_Delete(root);
        return oom(err);
    }
    int rc = load_json(tok, root, err);
    cJSON_Delete(root);
    if (rc != QT_OK) { qt_tok_free(tok); return QT_ERR; }
    *out = tok;
    return QT_OK;
}
