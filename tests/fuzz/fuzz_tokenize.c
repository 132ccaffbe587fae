/* fuzz_tokenize.c — text through the tiny model's tokenizer (GLM's
 * pre-tokenizer regex, NFC check, byte-level BPE, added tokens), then the
 * ids back to text. */
#include "fuzz.h"
#include "model/tokenizer.h"

static struct qt_tok *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char p[4096];
    snprintf(p, sizeof p, "%s/share/models/tiny-glm-moe/tokenizer.json", fz_root());
    qt_err err;
    if (qt_tok_load(p, &tok, &err)) { fprintf(stderr, "fuzz_tokenize: %s\n", err.msg); abort(); }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t *ids;
    size_t n;
    qt_err err;
    if (qt_tok_encode(tok, (const char *)data, size, &ids, &n, &err) == QT_OK) {
        char *back;
        size_t bl;
        if (qt_tok_decode(tok, ids, n, &back, &bl, &err) == QT_OK) free(back);
        free(ids);
    }
    return 0;
}
