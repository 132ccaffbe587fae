/* unicode.h — the few Unicode facts the tokenizer needs beyond PCRE2. */
#ifndef QT_UNICODE_H
#define QT_UNICODE_H
#include <stddef.h>
#include <stdint.h>

/* NFC check of valid UTF-8 text: returns n when NFC leaves s unchanged,
 * otherwise the byte offset of the first character where it would change
 * (or where the check cannot prove it unchanged).  Exact for text made of
 * precomposed characters and marks that do not compose; conservative only
 * in corner cases (a mark that composes with a starter that itself came
 * from recomposition). */
size_t qt_unicode_nfc_quick(const char *s, size_t n);

/* Decodes the (valid) UTF-8 character at s into *cp; returns its length in
 * bytes (1 to 4).  No validation: the caller checked the text.  Inline: the
 * tokenizer's inner loops call it per character. */
static inline size_t qt_utf8_decode(const char *s, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    if (u[0] < 0xE0) { *cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F); return 2; }
    if (u[0] < 0xF0) {
        *cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
          (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    return 4;
}

#endif
