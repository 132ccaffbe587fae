/* tokenizer.h — a Hugging Face `tokenizer.json` byte-level BPE tokenizer.
 *
 * What a file may use (anything else is refused at load with its name):
 *   model          BPE ("a b" or ["a","b"] merges, ignore_merges, unk_token,
 *                  fuse_unk, byte_fallback; no dropout, no subword prefix or
 *                  suffix)
 *   added_tokens   split out of the raw text first, leftmost-longest
 *                  (single_word, lstrip, rstrip honoured; normalized tokens
 *                  are matched after the normalizer)
 *   normalizer     null, Sequence, NFC (see below), Prepend, Strip,
 *                  Replace with a String pattern
 *   pre_tokenizer  Split (Regex or String pattern, every behavior, invert),
 *                  ByteLevel (add_prefix_space, use_regex), Sequence of them
 *   decoder        ByteLevel or null (other decoders: decode refuses)
 *   post_processor ignored: encoding adds no special tokens.
 *
 * NFC: text that is already in NFC (by the Unicode quick check: no character
 * that NFC would change, no combining mark that might compose, canonical
 * order) passes through unchanged; other text is refused with an error
 * rather than normalized wrongly.
 *
 * A tokenizer is not thread-safe: encoding fills a word cache.  Use one per
 * thread, or a lock. */
#ifndef QT_TOKENIZER_H
#define QT_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#include "base/qt.h"

struct qt_tok;

/* Loads a tokenizer.json.  On success *out owns everything (free with
 * qt_tok_free); on failure *out is NULL and err says "<path>: <why>". */
int qt_tok_load(const char *tokenizer_json_path, struct qt_tok **out, qt_err *err);

/* Frees a tokenizer (NULL is fine). */
void qt_tok_free(struct qt_tok *tok);

/* Encodes len bytes of UTF-8 text without adding special tokens (added
 * tokens written inside the text, such as "<|user|>", still become their
 * ids).  *ids gets a malloc'd array of *n ids that the caller frees (NULL
 * when *n is 0).  Fails on invalid UTF-8 or text the normalizer refuses. */
int qt_tok_encode(struct qt_tok *tok, const char *text, size_t len,
                  int32_t **ids, size_t *n, qt_err *err);

/* Decodes n ids to text as Hugging Face does (ByteLevel decoder, invalid
 * UTF-8 replaced by U+FFFD).  *text gets a malloc'd NUL-terminated string of
 * *len bytes that the caller frees.  Fails on an id with no token. */
int qt_tok_decode(const struct qt_tok *tok, const int32_t *ids, size_t n,
                  char **text, size_t *len, qt_err *err);

/* One more than the largest id of the vocabulary and the added tokens (the
 * logits width a model needs at least). */
int32_t qt_tok_vocab_size(const struct qt_tok *tok);

/* The token string of an id as the file spells it (byte-level characters
 * for vocabulary tokens, the content for added tokens); NULL for an id with
 * no token.  Owned by tok. */
const char *qt_tok_id_to_token(const struct qt_tok *tok, int32_t id);

/* The id of a token string as the file spells it (added tokens included),
 * or -1. */
int32_t qt_tok_token_to_id(const struct qt_tok *tok, const char *token);

/* 1 when id is an added token marked special in the file, else 0. */
int qt_tok_is_special(const struct qt_tok *tok, int32_t id);

#endif
