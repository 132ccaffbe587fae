/* test_tokenizer.c — the tokenizer against the Hugging Face reference:
 * tests/refs/tokenizer_cases.json exactly, the token count of the eval text,
 * both merges formats, BPE order, the NFC check, decoding and the errors of
 * malformed files. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "base/qt.h"
#include "model/tokenizer.h"
#include "tu.h"

#define TINY "share/models/tiny-glm-moe/tokenizer.json"

/* Counts pinned from Hugging Face tokenizers 0.23.3 on the same files. */
#define EVAL_TOKENS 92225
#define CALIB_TOKENS 94175

static struct qt_tok *load_tiny(void) {
    struct qt_tok *tok = NULL;
    qt_err err = {{0}};
    if (qt_tok_load(tu_path(TINY), &tok, &err) != QT_OK) printf("  load: %s\n", err.msg);
    return tok;
}

/* Encodes s and compares with want[0..nwant). */
static int encodes_to(struct qt_tok *tok, const char *s, const int32_t *want, size_t nwant) {
    int32_t *ids;
    size_t n;
    qt_err err = {{0}};
    if (qt_tok_encode(tok, s, strlen(s), &ids, &n, &err) != QT_OK) {
        printf("  encode \"%s\": %s\n", s, err.msg);
        return 0;
    }
    int ok = n == nwant && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    if (!ok) {
        printf("  \"%s\": got", s);
        for (size_t i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    free(ids);
    return ok;
}

static int decodes_to(struct qt_tok *tok, const int32_t *ids, size_t n, const char *want) {
    char *text;
    size_t len;
    qt_err err = {{0}};
    if (qt_tok_decode(tok, ids, n, &text, &len, &err) != QT_OK) {
        printf("  decode: %s\n", err.msg);
        return 0;
    }
    int ok = len == strlen(want) && !memcmp(text, want, len);
    if (!ok) printf("  decoded \"%s\", want \"%s\"\n", text, want);
    free(text);
    return ok;
}

TU_TEST(reference_cases) {
    struct qt_tok *tok = load_tiny();
    TU_CHECK(tok);
    if (!tok) return;
    qt_err err = {{0}};
    char *js = qt_read_file(tu_path("tests/refs/tokenizer_cases.json"), NULL, &err);
    TU_CHECKF(js, "%s", err.msg);
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    free(js);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases"), *c;
    TU_CHECK(cJSON_GetArraySize(cases) >= 20);
    int ncase = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
        const cJSON *want = cJSON_GetObjectItem(c, "ids"), *w;
        int32_t ref[256];
        size_t nref = 0;
        cJSON_ArrayForEach(w, want) if (nref < 256) ref[nref++] = (int32_t)w->valuedouble;
        TU_CHECKF(text && encodes_to(tok, text, ref, nref), "case %d", ncase);
        TU_CHECKF(text && decodes_to(tok, ref, nref, text), "case %d: decode(encode(x)) != x", ncase);
        ncase++;
    }
    cJSON_Delete(root);
    qt_tok_free(tok);
}

static size_t count_file(struct qt_tok *tok, const char *rel, double *secs) {
    qt_err err = {{0}};
    size_t len, n = 0;
    char *text = qt_read_file(tu_path(rel), &len, &err);
    if (!text) { printf("  %s\n", err.msg); return 0; }
    int32_t *ids = NULL;
    double t0 = qt_now();
    if (qt_tok_encode(tok, text, len, &ids, &n, &err) != QT_OK) printf("  %s: %s\n", rel, err.msg);
    *secs = qt_now() - t0;
    /* Once more with a warm word cache: the same ids. */
    int32_t *again = NULL;
    size_t n2 = 0;
    if (qt_tok_encode(tok, text, len, &again, &n2, &err) != QT_OK || n2 != n ||
        (n && memcmp(ids, again, n * sizeof *ids))) {
        printf("  %s: second encoding differs\n", rel);
        n = 0;
    }
    free(again);
    free(ids);
    free(text);
    return n;
}

TU_TEST(eval_and_calib_counts) {
    struct qt_tok *tok = load_tiny();
    TU_CHECK(tok);
    if (!tok) return;
    double te, tc;
    size_t ne = count_file(tok, "share/data/eval.txt", &te);
    size_t nc = count_file(tok, "share/data/calib.txt", &tc);
    printf("  eval.txt: %zu tokens in %.1f ms; calib.txt: %zu tokens in %.1f ms (not asserted)\n", ne,
           te * 1e3, nc, tc * 1e3);
    TU_CHECK(ne == EVAL_TOKENS);
    TU_CHECK(nc == CALIB_TOKENS);
    qt_tok_free(tok);
}

TU_TEST(lookups) {
    struct qt_tok *tok = load_tiny();
    TU_CHECK(tok);
    if (!tok) return;
    TU_CHECK(qt_tok_vocab_size(tok) == 8192);
    TU_CHECK(qt_tok_token_to_id(tok, "<|user|>") == 8187);
    TU_CHECK(qt_tok_token_to_id(tok, "\xC4\xA0the") == 275);   // "Ġthe"
    TU_CHECK(qt_tok_token_to_id(tok, "no such token") == -1);
    const char *t = qt_tok_id_to_token(tok, 8187);
    TU_CHECK(t && !strcmp(t, "<|user|>"));
    t = qt_tok_id_to_token(tok, 275);
    TU_CHECK(t && !strcmp(t, "\xC4\xA0the"));
    TU_CHECK(qt_tok_id_to_token(tok, 8192) == NULL);
    TU_CHECK(qt_tok_id_to_token(tok, -1) == NULL);
    TU_CHECK(qt_tok_is_special(tok, 8187) == 1);
    TU_CHECK(qt_tok_is_special(tok, 275) == 0);
    qt_tok_free(tok);
}

TU_TEST(decode_edges) {
    struct qt_tok *tok = load_tiny();
    TU_CHECK(tok);
    if (!tok) return;
    /* Id 160 is the lone byte 0xE4: invalid UTF-8 becomes U+FFFD, as in
     * the reference; its continuation completes it. */
    int32_t lone[] = {160};
    TU_CHECK(decodes_to(tok, lone, 1, "\xEF\xBF\xBD"));
    TU_CHECK(decodes_to(tok, NULL, 0, ""));
    int32_t bad[] = {39, 9000};
    char *text = NULL;
    size_t len;
    qt_err err = {{0}};
    TU_CHECK(qt_tok_decode(tok, bad, 2, &text, &len, &err) == QT_ERR && text == NULL);
    TU_CHECKF(strstr(err.msg, "9000"), "%s", err.msg);
    /* Invalid UTF-8 input is refused, not guessed at. */
    int32_t *ids = NULL;
    size_t n = 7;
    TU_CHECK(qt_tok_encode(tok, "ab\xFF", 3, &ids, &n, &err) == QT_ERR && ids == NULL && n == 0);
    TU_CHECKF(strstr(err.msg, "UTF-8"), "%s", err.msg);
    qt_tok_free(tok);
}

static const char *write_tmp(const char *dir, const char *name, const char *text) {
    static char path[8][4200];
    static int k;
    char *p = path[k++ & 7];
    snprintf(p, 4200, "%s/%s", dir, name);
    qt_err err = {{0}};
    if (qt_write_file_atomic(p, text, strlen(text), &err) != QT_OK) printf("  %s\n", err.msg);
    return p;
}

/* A tiny byte-level tokenizer: vocab a b c Ġ and some merges, in either
 * merges format (MERGES is substituted). */
static const char *TINY_BL =
    "{\"added_tokens\": [{\"id\": 20, \"content\": \"<eos>\", \"special\": true, \"normalized\": false}],"
    " \"normalizer\": null,"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"\\u0120\": 3,"
    "   \"bc\": 4, \"ab\": 5, \"aa\": 6, \"\\u0120a\": 7, \"\\u0120abc\": 8, \"abc\": 9},"
    "  \"merges\": %s}}";

static struct qt_tok *load_text(const char *dir, const char *name, const char *text, qt_err *err) {
    struct qt_tok *tok = NULL;
    if (qt_tok_load(write_tmp(dir, name, text), &tok, err) != QT_OK) return NULL;
    return tok;
}

TU_TEST(merges_both_formats) {
    const char *dir = tu_tmpdir("test_tokenizer_merges");
    static const char *forms[] = {
        "[[\"b\", \"c\"], [\"a\", \"b\"], [\"a\", \"a\"], [\"\\u0120\", \"a\"], [\"\\u0120a\", \"bc\"], [\"a\", \"bc\"]]",
        "[\"b c\", \"a b\", \"a a\", \"\\u0120 a\", \"\\u0120a bc\", \"a bc\"]"};
    for (int f = 0; f < 2; f++) {
        char json[2048];
        snprintf(json, sizeof json, TINY_BL, forms[f]);
        qt_err err = {{0}};
        struct qt_tok *tok = load_text(dir, f ? "strings.json" : "pairs.json", json, &err);
        TU_CHECKF(tok, "form %d: %s", f, err.msg);
        if (!tok) continue;
        /* "abc": b+c has the lowest rank, so a+b never happens: a|bc -> abc. */
        TU_CHECK(encodes_to(tok, "abc", (int32_t[]){9}, 1));
        /* " abc": Ġ+a (rank 3) after b+c (0), then Ġa+bc (4). */
        TU_CHECK(encodes_to(tok, " abc", (int32_t[]){8}, 1));
        /* "aaa": equal ranks merge leftmost first. */
        TU_CHECK(encodes_to(tok, "aaa", (int32_t[]){6, 0}, 2));
        TU_CHECK(encodes_to(tok, "ab<eos>ab", (int32_t[]){5, 20, 5}, 3));
        TU_CHECK(decodes_to(tok, (int32_t[]){8, 20, 6}, 3, " abc<eos>aa"));
        qt_tok_free(tok);
    }
}

TU_TEST(pair_merges_with_spaces) {
    /* Without a byte-level map, tokens may hold spaces: only the pair
     * format can name such merges. */
    const char *dir = tu_tmpdir("test_tokenizer_spaces");
    qt_err err = {{0}};
    struct qt_tok *tok = load_text(dir, "sp.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \" \": 2, \"a \": 3, \"a b\": 4},"
        " \"merges\": [[\"a\", \" \"], [\"a \", \"b\"]]}}", &err);
    TU_CHECKF(tok, "%s", err.msg);
    if (!tok) return;
    TU_CHECK(encodes_to(tok, "a b", (int32_t[]){4}, 1));
    TU_CHECK(encodes_to(tok, "b a", (int32_t[]){1, 2, 0}, 3));
    TU_CHECK(decodes_to(tok, (int32_t[]){4}, 1, "a b"));  // no decoder: tokens joined by spaces
    qt_tok_free(tok);
}

TU_TEST(ignore_merges) {
    const char *dir = tu_tmpdir("test_tokenizer_ignore");
    qt_err err = {{0}};
    /* "abc" is in the vocabulary but no merge builds it. */
    const char *fmt = "{\"model\": {\"type\": \"BPE\", \"ignore_merges\": %s,"
                      " \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"abc\": 4},"
                      " \"merges\": [\"a b\"]}}";
    char json[512];
    snprintf(json, sizeof json, fmt, "true");
    struct qt_tok *tok = load_text(dir, "ign.json", json, &err);
    TU_CHECKF(tok, "%s", err.msg);
    if (tok) TU_CHECK(encodes_to(tok, "abc", (int32_t[]){4}, 1));
    qt_tok_free(tok);
    snprintf(json, sizeof json, fmt, "false");
    tok = load_text(dir, "noign.json", json, &err);
    TU_CHECKF(tok, "%s", err.msg);
    if (tok) TU_CHECK(encodes_to(tok, "abc", (int32_t[]){3, 2}, 2));
    qt_tok_free(tok);
}

TU_TEST(nfc_normalizer) {
    /* The fixture's tokenizer with an NFC normalizer: text already in NFC
     * gives the same ids; text NFC would change is refused. */
    const char *dir = tu_tmpdir("test_tokenizer_nfc");
    qt_err err = {{0}};
    char *js = qt_read_file(tu_path(TINY), NULL, &err);
    TU_CHECK(js);
    if (!js) return;
    cJSON *root = cJSON_Parse(js);
    free(js);
    cJSON_ReplaceItemInObject(root, "normalizer", cJSON_Parse("{\"type\": \"NFC\"}"));
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    struct qt_tok *tok = load_text(dir, "nfc.json", out, &err);
    free(out);
    TU_CHECKF(tok, "%s", err.msg);
    if (!tok) return;
    TU_CHECK(encodes_to(tok, "caf\xC3\xA9", (int32_t[]){66, 1428, 127, 102}, 4));  // precomposed é
    int32_t *ids = NULL;
    size_t n;
    TU_CHECK(qt_tok_encode(tok, "cafe\xCC\x81", 6, &ids, &n, &err) == QT_ERR);     // e + U+0301
    TU_CHECKF(strstr(err.msg, "NFC") && strstr(err.msg, "U+0301"), "%s", err.msg);
    TU_CHECK(qt_tok_encode(tok, "\xEA\xB0\x80\xE1\x86\xA8", 6, &ids, &n, &err) == QT_ERR);  // 가 + jamo T
    TU_CHECK(qt_tok_encode(tok, "\xE2\x84\xAB", 3, &ids, &n, &err) == QT_ERR);     // U+212B ANGSTROM SIGN
    /* Marks that compose with nothing pass: x + U+0301, Tamil ka + aa. */
    TU_CHECK(qt_tok_encode(tok, "x\xCC\x81 \xE0\xAE\x95\xE0\xAE\xBE", 10, &ids, &n, &err) == QT_OK);
    free(ids);
    qt_tok_free(tok);
}

/* Loading must fail with a message containing want. */
static int load_fails(const char *dir, const char *name, const char *text, const char *want) {
    qt_err err = {{0}};
    struct qt_tok *tok = (struct qt_tok *)1;
    const char *p = text ? write_tmp(dir, name, text) : name;
    int rc = qt_tok_load(p, &tok, &err);
    int ok = rc == QT_ERR && tok == NULL && strstr(err.msg, want);
    if (!ok) printf("  %s: rc %d, \"%s\" (want \"%s\")\n", name, rc, err.msg, want);
    if (rc == QT_OK) qt_tok_free(tok);
    return ok;
}

TU_TEST(malformed_files) {
    const char *dir = tu_tmpdir("test_tokenizer_bad");
    TU_CHECK(load_fails(dir, "/nonexistent/tokenizer.json", NULL, "No such file"));
    TU_CHECK(load_fails(dir, "trunc.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {", "bad JSON"));
    TU_CHECK(load_fails(dir, "empty.json", "", "bad JSON"));
    TU_CHECK(load_fails(dir, "array.json", "[1, 2]", "not a JSON object"));
    TU_CHECK(load_fails(dir, "nomodel.json", "{}", "no model"));
    TU_CHECK(load_fails(dir, "wp.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
                        "model type WordPiece is not supported"));
    TU_CHECK(load_fails(dir, "novocab.json", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "vocab"));
    TU_CHECK(load_fails(dir, "nomerges.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}",
                        "merges"));
    TU_CHECK(load_fails(dir, "oov.json",
                        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
                        "not in the vocabulary"));
    TU_CHECK(load_fails(dir, "threeparts.json",
                        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a a a\"]}}",
                        "not two tokens"));
    TU_CHECK(load_fails(dir, "pairnum.json",
                        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", 1]]}}",
                        "merge 0"));
    TU_CHECK(load_fails(dir, "badid.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}",
                        "no valid id"));
    TU_CHECK(load_fails(dir, "meta.json",
                        "{\"pre_tokenizer\": {\"type\": \"Metaspace\"},"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        "pre_tokenizer Metaspace is not supported"));
    TU_CHECK(load_fails(dir, "nfkc.json",
                        "{\"normalizer\": {\"type\": \"NFKC\"},"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        "normalizer NFKC is not supported"));
    TU_CHECK(load_fails(dir, "regex.json",
                        "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"},"
                        " \"behavior\": \"Isolated\"},"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        "regex"));
    TU_CHECK(load_fails(dir, "behavior.json",
                        "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"},"
                        " \"behavior\": \"Sideways\"},"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        "Sideways"));
    TU_CHECK(load_fails(dir, "added.json",
                        "{\"added_tokens\": [{\"content\": \"<x>\"}],"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        "added_tokens[0]"));
}

int main(void) {
    TU_RUN(reference_cases);
    TU_RUN(eval_and_calib_counts);
    TU_RUN(lookups);
    TU_RUN(decode_edges);
    TU_RUN(merges_both_formats);
    TU_RUN(pair_merges_with_spaces);
    TU_RUN(ignore_merges);
    TU_RUN(nfc_normalizer);
    TU_RUN(malformed_files);
    return TU_END();
}
