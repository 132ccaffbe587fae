/* main.c — command dispatch.  `qtune MODEL` is `qtune open MODEL`. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <locale.h>

#include <cJSON.h>

#include "cli.h"
#include "backend/select.h"

struct cli_cmd {
    const char *name, *usage, *summary;
    int (*fn)(int, char **);
};

static const struct cli_cmd commands[] = {
#define QT_CMD_ROW(n, u, s) {#n, u, s, qt_cmd_##n},
    QT_COMMANDS(QT_CMD_ROW)
#undef QT_CMD_ROW
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

int cli_fail(const qt_err *err) {
    fprintf(stderr, "qtune: %s\n", err->msg);
    return 1;
}

int cli_failf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("qtune: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage(const char *cmd, const char *usage) {
    fprintf(stderr, "qtune: %s: usage: qtune %s\n", cmd, usage);
    return 2;
}

void cli_print_json(void *doc) {
    char *s = cJSON_Print((cJSON *)doc);
    if (s) { fputs(s, stdout); fputc('\n', stdout); free(s); }
    cJSON_Delete((cJSON *)doc);
}

int cli_help(const char *usage) {
    printf("usage: qtune %s\n", usage);
    return 0;
}

int cli_is_help(const char *a) {
    return a && (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help"));
}

static void print_help(FILE *f) {
    fprintf(f, "qtune %s — a terminal workbench for tuning LLM quantization\n\n"
               "usage:\n", QT_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        if (commands[i].fn) fprintf(f, "  qtune %s\n      %s\n", commands[i].usage, commands[i].summary);
    fprintf(f, "\nCommands that compute take --backend cpu|cuda|auto (default auto: the GPU when one is present).\n");
    fprintf(f, "Every command takes --help.  Errors go to stderr as \"qtune: <what>: <why>\".\n");
}

static const struct cli_cmd *find_cmd(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (commands[i].fn && !strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

/* `--backend cpu|cuda|auto` (or --backend=NAME) anywhere after the command
 * chooses the backend for every command that computes; it is taken out of
 * argv before the command sees it and passed on to child processes (the
 * engine daemon) as QTUNE_BACKEND.  Returns 0, or 1 after printing the
 * reason the backend cannot be used. */
static int take_backend(int *argc, char **argv) {
    const char *name = NULL;
    int j = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < *argc) {
            name = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--backend=", 10)) {
            name = argv[i] + 10;
            continue;
        }
        if (!strcmp(argv[i], "--backend")) {
            cli_failf("--backend: needs cpu, cuda or auto");
            return 1;
        }
        argv[j++] = argv[i];
    }
    argv[j] = NULL;
    *argc = j;
    if (!name) return 0;
    qt_err err = {{0}};
    if (qt_backend_choose(name, &err) != QT_OK) {
        cli_fail(&err);
        return 1;
    }
    setenv("QTUNE_BACKEND", name, 1);
    return 0;
}

int main(int argc, char **argv) {
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");   /* JSON and figures always use '.' */
    if (argc < 2 || cli_is_help(argv[1])) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("qtune %s\n", QT_VERSION); return 0; }
    if (take_backend(&argc, argv) != 0) return 1;
    const struct cli_cmd *c = find_cmd(argv[1]);
    if (c) {
        return c->fn(argc - 1, argv + 1);
    }
    /* Not a command: a model path opens the workbench. */
    if (argv[1][0] != '-' && qt_cmd_open && (strchr(argv[1], '/') || strchr(argv[1], '.')))
        return qt_cmd_open(argc, argv);
    return cli_failf("%s: unknown command (see qtune --help)", argv[1]);
}
