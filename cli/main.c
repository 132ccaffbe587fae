/* main.c — command dispatch.  `qtune MODEL` is `qtune open MODEL`. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <locale.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/unicode.h"
#include "cli.h"
#include "backend/select.h"
#include "quant/quant.h"

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

/* ---- untrusted text on the terminal ----
 * Tensor names, file names and messages from files reach stdout and stderr
 * through printf everywhere.  Both streams go through a filter that turns
 * control characters (ESC, OSC, BEL, CR, C1) and bytes that are not UTF-8
 * into visible escapes, so a name can neither retitle the terminal nor move
 * the cursor.  Newlines pass (they end our own lines); a message's own
 * newlines are escaped by cli_fail.  The TUI has its own guard (tui/). */

struct out_filter {
    int fd;
    char pend[4];      /* the start of a UTF-8 character split across writes */
    size_t npend;
};

static FILE *raw_out, *raw_err;

FILE *cli_raw_stderr(void) { return raw_err ? raw_err : stderr; }

void cli_unfilter_output(void) {
    if (!raw_out) return;
    fflush(stdout);
    fflush(stderr);
    stdout = raw_out;
    stderr = raw_err;
    raw_out = raw_err = NULL;
}

const char *cli_esc(const char *s, char *buf, size_t n) { return qt_text_escape(s, buf, n, 0); }

static int write_all_fd(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t filter_write(void *cookie, const char *buf, size_t size) {
    struct out_filter *f = cookie;
    char tmp[4096 + 8], esc[64];
    size_t t = 0, i = 0;
    /* complete a character left over from the last write first */
    while (f->npend && i < size) {
        f->pend[f->npend++] = buf[i++];
        size_t k = qt_utf8_char_len(f->pend, f->npend);
        if (k == (size_t)-1 && f->npend < 4) continue;
        f->pend[f->npend] = 0;
        char one[8];
        memcpy(one, f->pend, f->npend);
        one[f->npend] = 0;
        qt_text_escape(one, esc, sizeof esc, 1);
        if (write_all_fd(f->fd, esc, strlen(esc))) return -1;
        f->npend = 0;
    }
    while (i < size) {
        unsigned char c = (unsigned char)buf[i];
        size_t k = 1;
        if (c >= 0x20 && c < 0x7f) {
            tmp[t++] = (char)c;
        } else if (c >= 0x80 && (k = qt_utf8_char_len(buf + i, size - i)) == (size_t)-1) {
            memcpy(f->pend, buf + i, size - i);   /* wait for the rest */
            f->npend = size - i;
            k = size - i;
        } else {
            if (c < 0x80 || k == 0) k = 1;
            char one[8];
            memcpy(one, buf + i, k);
            one[k] = 0;
            if (c == 0) memcpy(esc, "\\x00", 5), esc[4] = 0;
            else qt_text_escape(one, esc, sizeof esc, 1);
            size_t el = strlen(esc);
            memcpy(tmp + t, esc, el);
            t += el;
        }
        i += k;
        if (t >= 4096) {
            if (write_all_fd(f->fd, tmp, t)) return -1;
            t = 0;
        }
    }
    if (t && write_all_fd(f->fd, tmp, t)) return -1;
    return (ssize_t)size;
}

/* Replaces stdout and stderr by filtered streams on the same descriptors. */
static void filter_output(void) {
    static struct out_filter fo = {.fd = 1}, fe = {.fd = 2};
    cookie_io_functions_t io = {.write = filter_write};
    fflush(stdout);
    fflush(stderr);
    FILE *o = fopencookie(&fo, "w", io), *e = fopencookie(&fe, "w", io);
    if (!o || !e) { if (o) fclose(o); if (e) fclose(e); return; }
    setvbuf(o, NULL, isatty(1) ? _IOLBF : _IOFBF, 1 << 16);
    setvbuf(e, NULL, _IOLBF, 1 << 12);
    raw_out = stdout;
    raw_err = stderr;
    stdout = o;
    stderr = e;
}

int cli_fail(const qt_err *err) {
    char esc[sizeof err->msg * 4];
    fprintf(stderr, "qtune: %s\n", qt_text_escape(err->msg, esc, sizeof esc, 0));
    return 1;
}

int cli_failf(const char *fmt, ...) {
    qt_err e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    return cli_fail(&e);
}

int cli_usage(const char *cmd, const char *usage) {
    fprintf(stderr, "qtune: %s: usage: qtune %s\n", cmd, usage);
    return 2;
}

void cli_print_json(void *doc) {
    char *s = cJSON_Print((cJSON *)doc);
    if (s && !qt_utf8_valid(s, strlen(s))) {   /* a name that is not UTF-8: U+FFFD, still JSON */
        char *t = qt_utf8_sanitize(s, strlen(s), NULL);
        free(s);
        s = t;
    }
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
    fprintf(f, "\nCommands that compute take --backend cpu|cuda|auto (default auto: the GPU when one is present)\n"
               "and --arith f32|bf16 (how w / scale is rounded: f32, the default, is llm-compressor on a GPU;\n"
               "bf16 is llm-compressor on the CPU).\n");
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

/* `--arith f32|bf16` (or --arith=MODE) anywhere after the command: the
 * arithmetic of w / scale for every quantization the command runs (quant.h;
 * default f32, llm-compressor's GPU path; bf16 is its CPU path).  Taken out
 * of argv like --backend and passed on to the engine daemon as QTUNE_ARITH.
 * Returns 0, or 1 after printing why. */
static int take_arith(int *argc, char **argv) {
    const char *name = NULL;
    int j = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--arith") && i + 1 < *argc) {
            name = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--arith=", 8)) {
            name = argv[i] + 8;
            continue;
        }
        if (!strcmp(argv[i], "--arith")) {
            cli_failf("--arith: needs f32 or bf16");
            return 1;
        }
        argv[j++] = argv[i];
    }
    argv[j] = NULL;
    *argc = j;
    if (!name) return 0;
    int a = qt_arith_parse(name);
    if (a < 0) {
        cli_failf("--arith: %s is not an arithmetic mode (f32: llm-compressor on a GPU, the default; bf16: on the "
                  "CPU)", name);
        return 1;
    }
    qt_quant_set_arith(a);
    setenv("QTUNE_ARITH", qt_arith_name(a), 1);
    return 0;
}

int main(int argc, char **argv) {
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");   /* JSON and figures always use '.' */
    /* past ulimit -f a write fails with EFBIG (reported) instead of killing
     * the process mid-save; inherited by the daemon and its workers */
    signal(SIGXFSZ, SIG_IGN);
    /* the TUI draws through curses (its own escaping); every other command
     * prints through the control-character filter */
    int tui = argc >= 2 && (!strcmp(argv[1], "open") ||
                            (argv[1][0] != '-' && !find_cmd(argv[1]) && (strchr(argv[1], '/') || strchr(argv[1], '.'))));
    if (!tui) filter_output();
    if (argc < 2 || cli_is_help(argv[1])) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("qtune %s\n", QT_VERSION); return 0; }
    if (take_backend(&argc, argv) != 0 || take_arith(&argc, argv) != 0) return 1;
    const struct cli_cmd *c = find_cmd(argv[1]);
    if (c) {
        return c->fn(argc - 1, argv + 1);
    }
    /* Not a command: a model path opens the workbench. */
    if (argv[1][0] != '-' && qt_cmd_open && (strchr(argv[1], '/') || strchr(argv[1], '.')))
        return qt_cmd_open(argc, argv);
    return cli_failf("%s: unknown command (see qtune --help)", argv[1]);
}
