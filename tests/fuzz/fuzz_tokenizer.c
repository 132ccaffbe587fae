/* fuzz_tokenizer.c — tokenizer.json: normalizers, pre-tokenizers, added
 * tokens, vocab and merges; a tokenizer that loads then encodes and
 * decodes a fixed text. */
#include <sys/mman.h>

#include "fuzz.h"
#include "model/tokenizer.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fd < 0) {
        fd = memfd_create("tok", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    struct qt_tok *tok;
    qt_err err;
    if (qt_tok_load(path, &tok, &err) == QT_OK) {
        static const char text[] = "Hello, world! 12345 caf\xc3\xa9  \xe4\xbd\xa0\xe5\xa5\xbd <|user|>\n\tend";
        int32_t *ids;
        size_t n;
        if (qt_tok_encode(tok, text, sizeof text - 1, &ids, &n, &err) == QT_OK) {
            char *back;
            size_t bl;
            if (qt_tok_decode(tok, ids, n, &back, &bl, &err) == QT_OK) free(back);
            free(ids);
        }
        qt_tok_free(tok);
    }
    return 0;
}
