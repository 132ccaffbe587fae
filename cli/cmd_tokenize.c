/* cmd_tokenize.c — `qtune tokenize MODEL [--file F | TEXT] [--json]`: the
 * token ids of a text under the model's tokenizer.json (no special tokens
 * added; added tokens written in the text are matched). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "cli.h"
#include "model/tokenizer.h"

#define TOKENIZE_USAGE "tokenize MODEL [--file F | TEXT] [--json]"

/* MODEL is a directory holding tokenizer.json or the file itself; the
 * result is malloc'd. */
static char *tokenizer_path(const char *model) {
    struct stat st;
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(model) + sizeof "/tokenizer.json";
        char *p = malloc(n);
        if (p) snprintf(p, n, "%s/tokenizer.json", model);
        return p;
    }
    return qt_strdup(model);
}

int qt_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_help(TOKENIZE_USAGE);
        if (!strcmp(argv[i], "--json")) json = 1;
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
    char *path = tokenizer_path(model);
    if (!path) return cli_failf("tokenize: out of memory");
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
    qt_tok_free(tok);
    if (rc != QT_OK) {
        if (file) qt_err_prefix(&err, "%s", file);
        return cli_fail(&err);
    }
    if (json) {
        cJSON *doc = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
        cJSON_AddItemToObject(doc, "ids", arr);
        cJSON_AddNumberToObject(doc, "count", (double)n);
        cli_print_json(doc);
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n%zu tokens\n", n);
    }
    free(ids);
    return 0;
}
