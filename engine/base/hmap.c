/* hmap.c — string -> int map. */
#include "base/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/qt.h"

uint64_t qt_hash_more(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ull; }
    return h;
}

uint64_t qt_hash_bytes(const void *p, size_t n) { return qt_hash_more(QT_HASH_SEED, p, n); }

int qt_hmap_init(struct qt_hmap *h, size_t expect) {
    size_t cap = 16;
    while (cap < expect * 2) cap <<= 1;
    h->cap = cap;
    h->n = 0;
    h->keys = calloc(cap, sizeof *h->keys);
    h->vals = calloc(cap, sizeof *h->vals);
    if (!h->keys || !h->vals) { qt_hmap_free(h); return QT_ERR; }
    return QT_OK;
}

void qt_hmap_free(struct qt_hmap *h) {
    free(h->keys);
    free(h->vals);
    h->keys = NULL;
    h->vals = NULL;
    h->cap = h->n = 0;
}

static int hmap_grow(struct qt_hmap *h) {
    struct qt_hmap g;
    if (qt_hmap_init(&g, h->cap) != QT_OK) return QT_ERR;
    for (size_t i = 0; i < h->cap; i++)
        if (h->keys[i]) qt_hmap_put(&g, h->keys[i], h->vals[i]);
    qt_hmap_free(h);
    *h = g;
    return QT_OK;
}

int qt_hmap_put(struct qt_hmap *h, const char *key, int val) {
    if ((h->n + 1) * 2 > h->cap && hmap_grow(h) != QT_OK) return QT_ERR;
    size_t len = strlen(key), m = h->cap - 1;
    for (size_t i = qt_hash_bytes(key, len) & m;; i = (i + 1) & m) {
        if (!h->keys[i]) { h->keys[i] = key; h->vals[i] = val; h->n++; return QT_OK; }
        if (!strcmp(h->keys[i], key)) { h->vals[i] = val; return QT_OK; }
    }
}

int qt_hmap_getn(const struct qt_hmap *h, const char *key, size_t len) {
    if (!h->cap) return -1;
    size_t m = h->cap - 1;
    for (size_t i = qt_hash_bytes(key, len) & m;; i = (i + 1) & m) {
        if (!h->keys[i]) return -1;
        if (!strncmp(h->keys[i], key, len) && h->keys[i][len] == 0) return h->vals[i];
    }
}

int qt_hmap_get(const struct qt_hmap *h, const char *key) {
    return qt_hmap_getn(h, key, strlen(key));
}
