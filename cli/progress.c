/* progress.c — the CLI's progress bar on a terminal's stderr (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/format.h"
#include "cli.h"

void cli_bar_init(struct cli_bar *b, int quiet) {
    memset(b, 0, sizeof *b);
    const char *term = getenv("TERM");
    b->on = !quiet && isatty(2) && !(term && !strcmp(term, "dumb"));
}

/* "3.1 s", "4 min 05 s", "1 h 02 min": short and never a bare number. */
static void fmt_secs(char *buf, size_t n, double s) {
    if (s < 0) s = 0;
    if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%d min %02d s", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%d h %02d min", (int)s / 3600, (int)s % 3600 / 60);
}

void cli_bar_format(char *buf, int n, const char *label, int64_t done, int64_t total, int bytes, double elapsed,
                    int width) {
    if (n <= 0) return;
    double f = total > 0 ? (double)done / (double)total : 0;
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    char bar[128];
    if (width > (int)sizeof bar - 3) width = (int)sizeof bar - 3;
    if (width < 0) width = 0;
    int full = (int)(f * width + 0.5), k = 0;
    if (width) {
        bar[k++] = '[';
        for (int i = 0; i < width; i++) bar[k++] = i < full ? '#' : '-';
        bar[k++] = ']';
    }
    bar[k] = 0;
    char el[32], eta[48] = "";
    fmt_secs(el, sizeof el, elapsed);
    if (done > 0 && done < total) {   /* the rate so far, over what is left */
        char t[32];
        fmt_secs(t, sizeof t, elapsed / (double)done * (double)(total - done));
        snprintf(eta, sizeof eta, "  ETA %s", t);
    }
    char cnt[80];
    if (bytes) {   /* binary units, as every size qtune prints */
        char d[32], t[32];
        snprintf(cnt, sizeof cnt, "%s/%s", qt_fmt_bytes((double)done, d, sizeof d), qt_fmt_bytes((double)total, t, sizeof t));
    } else {
        snprintf(cnt, sizeof cnt, "%lld/%lld", (long long)done, (long long)total);
    }
    snprintf(buf, (size_t)n, "%-10s %s %3d%%  %s  %s%s", label, bar, (int)(100 * f), cnt, el, eta);
}

static int term_cols(void) {
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    return c && atoi(c) > 0 ? atoi(c) : 80;
}

void cli_bar_update(struct cli_bar *b, const char *label, int64_t done, int64_t total, const char *detail) {
    if (!b->on) return;
    double now = qt_now();
    if (!label) label = "";
    if (strcmp(label, b->label)) {   /* a new stage: its own line and clock */
        cli_bar_end(b);
        snprintf(b->label, sizeof b->label, "%s", label);
        b->t0 = now;
        b->last = 0;
    }
    int end = total > 0 && done >= total;
    if (!end && now - b->last < 0.1) return;
    b->last = now;
    int cols = term_cols(), width = cols >= 100 ? 30 : cols >= 70 ? 20 : 10;
    char line[512], esc[256];
    cli_bar_format(line, sizeof line, label, done, total, b->bytes, now - b->t0, width);
    FILE *e = cli_raw_stderr();   /* \r and ESC[K are ours; the detail is escaped */
    if (detail && *detail) {
        int room = cols - 3 - (int)strlen(line);
        if (room > 8) fprintf(e, "\r\033[K%s  %.*s", line, room, cli_esc(detail, esc, sizeof esc));
        else fprintf(e, "\r\033[K%s", line);
    } else {
        fprintf(e, "\r\033[K%s", line);
    }
    b->open = 1;
    if (end) {
        fputc('\n', e);
        b->open = 0;
        b->label[0] = 0;   /* the same label again is a new pass */
    }
    fflush(e);
}

void cli_bar_end(struct cli_bar *b) {
    if (!b->on || !b->open) return;
    FILE *e = cli_raw_stderr();
    fputc('\n', e);
    fflush(e);
    b->open = 0;
}
