/* widgets.h — drawing pieces the panels share: scrolling list state, table
 * columns that drop by priority when the width runs out, bars, sparklines,
 * histograms, the prompt line and the confirmation dialog.  All draw into a
 * tui_screen with the chosen glyph table. */
#ifndef QT_TUI_WIDGETS_H
#define QT_TUI_WIDGETS_H
#include <stdint.h>

#include "screen.h"

/* A scrolling list: cur in [0, n), top the first visible row. */
struct wg_list {
    int cur, top;
};
/* Clamps cur to [0, n) and moves top so that cur is inside h rows. */
void wg_list_fix(struct wg_list *l, int n, int h);
/* Applies a navigation delta (rows; INT_MIN/INT_MAX for home/end). */
void wg_list_move(struct wg_list *l, int delta, int n, int h);

/* Table columns.  width > 0 fixed; the column with width 0 takes what is
 * left.  Columns with higher prio numbers are dropped first when space runs
 * out (prio 0 is never dropped). */
struct wg_col {
    const char *title;
    int width, right, prio;
    int x, shown;   /* filled by wg_cols_fit */
    int absent;     /* 1: never shown (its data is not available) */
};
/* Lays the columns out in w cells (one blank between columns). */
void wg_cols_fit(struct wg_col *c, int n, int w);
void wg_cols_header(struct tui_screen *s, const struct tui_rect *r, int y, const struct wg_col *c, int n);
/* Writes text into column c at row y, aligned as the column says. */
void wg_cell(struct tui_screen *s, const struct tui_rect *r, int y, const struct wg_col *c,
             enum tui_style st, const char *text);

/* A number in column c, right-aligned; when it does not fit it is shown
 * with fewer decimals (rounded: "11.26" -> "11.3"), and when even that does
 * not fit as ell alone: digits are never cut. */
void wg_num(struct tui_screen *s, const struct tui_rect *r, int y, const struct wg_col *c,
            enum tui_style st, const char *text, const char *ell);
/* Text fitted into w cells: unchanged when it fits, else cut with ell at
 * the end, keeping a trailing "(...)" part ("routed ex… (160)").  Returns buf. */
const char *wg_elide(const char *text, int w, const char *ell, char *buf, int n);
/* A number fitted into w cells as wg_num does (fewer decimals, rounded;
 * ell when nothing fits).  Returns buf. */
const char *wg_fit_num(const char *text, int w, const char *ell, char *buf, int n);

/* A horizontal bar of w cells filled to frac (0..1), partial cells with
 * eighth blocks (UTF-8) or '#' (ASCII). */
void wg_bar(struct tui_screen *s, const struct tui_rect *r, const struct tui_glyphs *g, int x,
            int y, int w, double frac);
/* One-row sparkline of n values scaled to their max (n cells). */
void wg_sparkline(struct tui_screen *s, const struct tui_rect *r, const struct tui_glyphs *g, int x,
                  int y, const double *v, int n);
/* A histogram of bins counts in rectangle h (columns = bins resampled to the
 * width; height in rows; partial rows with eighth blocks). */
void wg_histogram(struct tui_screen *s, const struct tui_rect *h, const struct tui_glyphs *g,
                  const int64_t *counts, int bins);
/* A box with a title and lines of text; returns the inner rectangle. */
struct tui_rect wg_box(struct tui_screen *s, const struct tui_glyphs *g, int w, int h,
                       const char *title);

/* Heat level 0..4 of a relative RMS error (int8 ~0.5%, int4 g128 ~9%). */
int wg_heat(double rel_rmse);

/* Human numbers: 2.10M, 31.7 MiB. */
const char *wg_count(int64_t n, char *buf, int len);
const char *wg_bytes(int64_t n, char *buf, int len);
/* 1 when a resolved scheme keeps the weights unquantized: "bf16", or the
 * ggml float types a GGUF target gives (BF16, F16, F32). */
int wg_scheme_kept(const char *sc);
/* Compact bytes for narrow columns: 792.8K, 3.0M, 1.4G (binary units). */
const char *wg_bytes_short(int64_t n, char *buf, int len);

#endif
