/* unicode.c — NFC verification from generated tables (see unicode.h). */
#include "base/unicode.h"

#include <stdint.h>

#include "base/unicode_nfc_tables.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static unsigned ccc_of(uint32_t c) {
    size_t lo = 0, hi = NELEM(nfc_ccc);
    if (c < 0x300) return 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < nfc_ccc[mid][0]) hi = mid;
        else if (c > nfc_ccc[mid][1]) lo = mid + 1;
        else return nfc_ccc[mid][2];
    }
    return 0;
}

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid;
        else if (c > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* Class of the last mark of c's canonical decomposition, or ccc(c). */
static unsigned tail_ccc(uint32_t c, unsigned ccc) {
    size_t lo = 0, hi = NELEM(nfc_tail);
    if (ccc || c < 0xC0) return ccc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < nfc_tail[mid][0]) hi = mid;
        else if (c > nfc_tail[mid][0]) lo = mid + 1;
        else return nfc_tail[mid][1];
    }
    return 0;
}

static int composes(uint32_t a, uint32_t b) {
    if (a >= 0x1100 && a <= 0x1112 && b >= 0x1161 && b <= 0x1175) return 1;   // Hangul L + V
    if (a >= 0xAC00 && a <= 0xD7A3 && (a - 0xAC00) % 28 == 0 && b >= 0x11A8 && b <= 0x11C2)
        return 1;                                                           // Hangul LV + T
    size_t lo = 0, hi = NELEM(nfc_pairs);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a < nfc_pairs[mid][0] || (a == nfc_pairs[mid][0] && b < nfc_pairs[mid][1])) hi = mid;
        else if (a > nfc_pairs[mid][0] || b > nfc_pairs[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

size_t qt_unicode_nfc_quick(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned last = 0;          // class ending the previous character's decomposition
    uint32_t starter = 0;       // last character of class 0
    int have_starter = 0;
    size_t between = 0;         // marks since the starter
    unsigned max_between = 0;   // their highest class
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = qt_utf8_decode((const char *)u + i, &c);
        if (c < 0x300) {        // fast path: nothing below U+0300 is a mark or changes
            last = tail_ccc(c, 0);
            starter = c;
            have_starter = 1;
            between = max_between = 0;
            i += l;
            continue;
        }
        unsigned cc = ccc_of(c);
        if (cc && last > cc) return i;      // canonical reordering would move it
        if (in_ranges(nfc_no, NELEM(nfc_no), c)) return i;
        if (have_starter && in_ranges(nfc_maybe, NELEM(nfc_maybe), c)) {
            int blocked = cc == 0 ? between > 0 : max_between >= cc;
            if (!blocked && composes(starter, c)) return i;
        }
        if (cc == 0) {
            starter = c;
            have_starter = 1;
            between = max_between = 0;
        } else {
            between++;
            if (cc > max_between) max_between = cc;
        }
        last = tail_ccc(c, cc);
        i += l;
    }
    return n;
}
