/* hmap.h — string -> int map (open addressing, FNV-1a).  Keys are borrowed:
 * the caller keeps them alive as long as the map. */
#ifndef QT_HMAP_H
#define QT_HMAP_H
#include <stddef.h>
#include <stdint.h>

struct qt_hmap {
    size_t cap;               /* power of two */
    size_t n;
    const char **keys;        /* (cap) NULL = empty */
    int *vals;                /* (cap) */
};

int qt_hmap_init(struct qt_hmap *h, size_t expect);   /* QT_OK / QT_ERR (no memory) */
void qt_hmap_free(struct qt_hmap *h);
/* Inserts or replaces; QT_ERR only when out of memory. */
int qt_hmap_put(struct qt_hmap *h, const char *key, int val);
/* Value for key, or -1. */
int qt_hmap_get(const struct qt_hmap *h, const char *key);
int qt_hmap_getn(const struct qt_hmap *h, const char *key, size_t len);
/* FNV-1a 64 of n bytes. */
uint64_t qt_hash_bytes(const void *p, size_t n);
/* FNV-1a 64 continued from h over n more bytes, for keys hashed piece by
 * piece: qt_hash_more(QT_HASH_SEED, p, n) == qt_hash_bytes(p, n).  The seed
 * is FNV's offset basis short of its last digit; the eval and calibration
 * cache file names depend on it, so it stays. */
#define QT_HASH_SEED 1469598103934665603ull
uint64_t qt_hash_more(uint64_t h, const void *p, size_t n);
#endif
