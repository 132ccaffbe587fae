/* progress.h — the progress bar of the CLI's long commands (eval,
 * sensitivity, quantize, plan) on stderr:
 *     base      [##########··········]  52%  26/50  3.1 s  ETA 2.9 s
 * redrawn in place (\r, ESC[K) at most ten times a second, ending with a
 * newline when the stage is done.  Only when stderr is a terminal (and
 * TERM is not "dumb"): piped or redirected, nothing extra is written, so
 * logs and scripts see the same bytes as before. */
#ifndef QT_CLI_PROGRESS_H
#define QT_CLI_PROGRESS_H
#include <stdint.h>

struct cli_bar {
    int on;                   /* stderr is a terminal */
    char label[32];           /* the current stage ("base", "quantized" ...) */
    double t0, last;          /* when the stage started, when it was last drawn */
    int open;                 /* a line is drawn and not yet ended */
    int bytes;                /* done/total count bytes: shown in binary units */
};

/* Sets b up; b->on says whether anything will be drawn.  quiet (--json
 * and the like) turns it off too. */
void cli_bar_init(struct cli_bar *b, int quiet);
/* Draws stage label at done of total (detail: a tensor name, or NULL; it
 * is escaped).  A new label starts a new line and a new clock. */
void cli_bar_update(struct cli_bar *b, const char *label, int64_t done, int64_t total, const char *detail);
/* Ends a line left open (an error or a cancel in the middle). */
void cli_bar_end(struct cli_bar *b);

/* The bar as text, for tests and for cli_bar_update: width cells of '#'
 * and '-' (ASCII; UTF-8 locales get the same, which every terminal
 * shows), percent, counts (bytes: "4.00 MiB/31.73 MiB"), elapsed and ETA;
 * into buf (size n). */
void cli_bar_format(char *buf, int n, const char *label, int64_t done, int64_t total, int bytes, double elapsed,
                    int width);

#endif
