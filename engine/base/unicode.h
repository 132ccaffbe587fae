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

/* Length (1 to 4) of the valid UTF-8 character at s (n bytes available),
 * 0 when the bytes there are not UTF-8 (overlong, surrogate, past
 * U+10FFFF, stray continuation), or (size_t)-1 when the first n bytes begin
 * a valid character that needs more. */
size_t qt_utf8_char_len(const char *s, size_t n);

/* 1 when s[0..n) is valid UTF-8 (NUL bytes included as such). */
int qt_utf8_valid(const char *s, size_t n);

/* Copy of s[0..n) (malloc'd, NUL-terminated, *out_len its length) with each
 * byte that is not part of valid UTF-8 replaced by U+FFFD: what leaves the
 * daemon is always UTF-8.  NULL when out of memory. */
char *qt_utf8_sanitize(const char *s, size_t n, size_t *out_len);

/* Makes untrusted text safe to show on a terminal: C0 controls, DEL and C1
 * controls become \xHH / \u00HH (newline and tab too unless keep_nl), bytes
 * that are not UTF-8 become \xHH; everything else is copied.  Writes at most
 * cap-1 bytes and a NUL into out, never cutting an escape or a character;
 * returns out.  For file and tensor names, messages from files and peers. */
char *qt_text_escape(const char *s, char *out, size_t cap, int keep_nl);

#endif
