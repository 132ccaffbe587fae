/* cmd_tokenize.c — `qtune tokenize MODEL [--file F | TEXT] [--pieces]
 * [--json]`: the token ids of a text under the model's tokenizer.json (no
 * special tokens added; added tokens written in the text are matched), and
 * with --pieces the text each token stands for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "cli.h"
#include "model/tokenizer.h"

#define TOKENIZE_USAGE "tokenize MODEL [--file F | TEXT] [--pieces] [--json]"
static const char help[] =
    "usage: qtune " TOKENIZE_USAGE "\n"
    "  Token ids of TEXT (or of the file F) under MODEL's tokenizer.json, as Hugging Face's\n"
    "  tokenizer encodes it without special tokens (added tokens written in the text match).\n"
    "  MODEL     a model directory holding tokenizer.json, or the tokenizer.json file\n"
    "  --file F  read the text from F instead of the command line\n"
    "  --pieces  one token per line: its id, the text it decodes to (quoted, \\n \\t \\xNN\n"
    "            escaped) and the token as the vocabulary spells it\n"
    "  --json    {ids[], count} (with --pieces also pieces[], tokens[])\n";

/* MODEL is a directory holding tokenizer.json or the file itself; the
 * result is malloc'd.  A config.json (a config-only model) or a directory
 * without tokenizer.json has no tokenizer: *why says so. */
static char *tokenizer_path(const char *model, qt_err *why) {
    struct stat st;
    char *p = NULL;
    const char *what = NULL;   /* set when MODEL names a tokenizer only indirectly */
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
        what = "none in this directory";
        size_t n = strlen(model) + sizeof "/tokenizer.json";
        p = malloc(n);
        if (p) snprintf(p, n, "%s/tokenizer.json", model);
    } else {
        const char *base = strrchr(model, '/');
        base = base ? base + 1 : model;
        if (qt_str_ends_with(base, "config.json")) {
            /* a config: look for tokenizer.json beside it */
            what = "a config-only model has no tokenizer; give the checkpoint directory";
            size_t dl = (size_t)(base - model);
            p = malloc(dl + sizeof "tokenizer.json");
            if (p) snprintf(p, dl + sizeof "tokenizer.json", "%.*stokenizer.json", (int)dl, model);
        } else {
            p = qt_strdup(model);
        }
    }
    if (p && what && stat(p, &st) != 0) {
        qt_err_set(why, "%s: no tokenizer.json (%s)", model, what);
        free(p);
        return NULL;
    }
    if (!p) qt_err_set(why, "tokenize: out of memory");
    return p;
}

/* Writes the bytes of s (len) quoted, with \n \t \\ \' and other control
 * bytes escaped, into f. */
static void put_quoted(FILE *f, const char *s, size_t len) {
    fputc('\'', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\\' || c == '\'') { fputc('\\', f); fputc(c, f); }
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('\'', f);
}

int qt_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL;
    int json = 0, pieces = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(help, stdout); return 0; }
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--pieces")) pieces = 1;
        else if (!strcmp(argv[i], "--file")) {
            if (++i >= argc) return cli_usage("tokenize", TOKENIZE_USAGE);
            file = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--"))
            return cli_failf("tokenize: unknown option %s", argv[i]);
        else if (!strcmp(argv[i], "--")) {
            if (i + 1 < argc && !model) model = argv[++i];
            if (i + 1 < argc && !text) text = argv[++i];
        } else if (!model) model = argv[i];
        else if (!text) text = argv[i];
        else return cli_usage("tokenize", TOKENIZE_USAGE);
    }
    if (!model || (file && text) || (!file && !text)) return cli_usage("tokenize", TOKENIZE_USAGE);

    qt_err err = {{0}};
    char *path = tokenizer_path(model, &err);
    if (!path) return cli_fail(&err);
    struct qt_tok *tok;
    int rc = qt_tok_load(path, &tok, &err);
    free(path);
    if (rc != QT_OK) return cli_fail(&err);

    char *buf = NULL;
    size_t len = text ? strlen(text) : 0;
    if (file && !(buf = qt_read_file(file, &len, &err))) {
        qt_tok_free(tok);
        return cli_fail(&err);
    }
    int32_t *ids;
    size_t n;
    rc = qt_tok_encode(tok, buf ? buf : text, len, &ids, &n, &err);
    free(buf);
    if (rc != QT_OK) {
        qt_tok_free(tok);
        if (file) qt_err_prefix(&err, "%s", file);
        return cli_fail(&err);
    }
    if (json) {
        cJSON *doc = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
        cJSON_AddItemToObject(doc, "ids", arr);
        cJSON_AddNumberToObject(doc, "count", (double)n);
        if (pieces) {
            cJSON *pa = cJSON_AddArrayToObject(doc, "pieces"), *ta = cJSON_AddArrayToObject(doc, "tokens");
            for (size_t i = 0; i < n; i++) {
                char *piece = NULL;
                size_t pl;
                if (qt_tok_decode(tok, &ids[i], 1, &piece, &pl, &err) != QT_OK) piece = NULL;
                cJSON_AddItemToArray(pa, cJSON_CreateString(piece ? piece : ""));
                free(piece);
                const char *t = qt_tok_id_to_token(tok, ids[i]);
                cJSON_AddItemToArray(ta, cJSON_CreateString(t ? t : ""));
            }
        }
        cli_print_json(doc);
    } else if (pieces) {
        /* one line per token, as llama.cpp's llama-tokenize lists them */
        for (size_t i = 0; i < n; i++) {
            char *piece = NULL;
            size_t pl = 0;
            if (qt_tok_decode(tok, &ids[i], 1, &piece, &pl, &err) != QT_OK) { piece = NULL; pl = 0; }
            printf("%6d  ", ids[i]);
            put_quoted(stdout, piece ? piece : "", pl);
            const char *t = qt_tok_id_to_token(tok, ids[i]);
            if (t && (!piece || strcmp(t, piece))) printf("  %s", t);
            putchar('\n');
            free(piece);
        }
        printf("%zu tokens\n", n);
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n%zu tokens\n", n);
    }
    qt_tok_free(tok);
    free(ids);
    return 0;
}
