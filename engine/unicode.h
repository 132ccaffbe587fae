/* unicode.h — the few Unicode facts the tokenizer needs beyond PCRE2. */
#ifndef QT_UNICODE_H
#define QT_UNICODE_H
#include <stddef.h>

/* NFC check of valid UTF-8 text: returns n when NFC leaves s unchanged,
 * otherwise the byte offset of the first character where it would change
 * (or where the check cannot prove it unchanged).  Exact for text made of
 * precomposed characters and marks that do not compose; conservative only
 * in corner cases (a mark that composes with a starter that itself came
 * from recomposition). */
size_t qt_unicode_nfc_quick(const char *s, size_t n);

#endif
