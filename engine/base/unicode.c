/* unicode.c — NFC verification from generated tables (see unicode.h). */
#include "base/unicode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- validation and escaping of untrusted text ---- */

size_t qt_utf8_char_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (!n) return (size_t)-1;
    if (u[0] < 0x80) return 1;
    size_t len;
    uint32_t lo = 0x80, hi = 0xBF;   /* the second byte's range */
    if (u[0] >= 0xC2 && u[0] <= 0xDF) len = 2;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        len = 3;
        if (u[0] == 0xE0) lo = 0xA0;            /* overlong */
        if (u[0] == 0xED) hi = 0x9F;            /* surrogates */
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        len = 4;
        if (u[0] == 0xF0) lo = 0x90;            /* overlong */
        if (u[0] == 0xF4) hi = 0x8F;            /* past U+10FFFF */
    } else return 0;
    for (size_t i = 1; i < len; i++) {
        if (i >= n) return (size_t)-1;
        uint32_t b = u[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    }
    return len;
}

int qt_utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = qt_utf8_char_len(s + i, n - i);
        if (k == 0 || k == (size_t)-1) return 0;
        i += k;
    }
    return 1;
}

char *qt_utf8_sanitize(const char *s, size_t n, size_t *out_len) {
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *o = malloc(3 * n + 1);   /* each bad byte becomes 3 */
    if (!o) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t k = qt_utf8_char_len(s + i, n - i);
        if (k == 0 || k == (size_t)-1) {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
            continue;
        }
        memcpy(o + w, s + i, k);
        w += k;
        i += k;
    }
    o[w] = 0;
    if (out_len) *out_len = w;
    return o;
}

char *qt_text_escape(const char *s, char *out, size_t cap, int keep_nl) {
    if (!cap) return out;
    size_t w = 0, n = s ? strlen(s) : 0;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t el = 0, k = 1;
        if (c < 0x20 || c == 0x7f) {
            if (keep_nl && (c == '\n' || c == '\t')) { esc[0] = (char)c; el = 1; }
            else { esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[c >> 4]; esc[3] = hex[c & 15]; el = 4; }
        } else if (c < 0x80) {
            esc[0] = (char)c; el = 1;
        } else {
            k = qt_utf8_char_len(s + i, n - i);
            if (k == 0 || k == (size_t)-1) {
                k = 1;
                esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[c >> 4]; esc[3] = hex[c & 15]; el = 4;
            } else if (k == 2 && c == 0xC2 && (unsigned char)s[i + 1] < 0xA0) {
                unsigned char b = (unsigned char)s[i + 1];   /* C1 control U+0080..U+009F */
                memcpy(esc, "\\u00", 4); esc[4] = hex[b >> 4]; esc[5] = hex[b & 15]; el = 6;
            } else {
                memcpy(esc, s + i, k); el = k;
            }
        }
        if (w + el >= cap) break;
        memcpy(out + w, esc, el);
        w += el;
        i += k;
    }
    out[w] = 0;
    return out;
}
