/* screen.h — the terminal layer: a virtual screen of cells that every panel
 * draws into, the glyph tables (UTF-8 or ASCII, chosen once), the color
 * schemes (one table per scheme, monochrome included), and the curses
 * backend that flushes a frame with one erase and one doupdate.
 *
 * Panels never call curses.  The same frame goes to the terminal, to a
 * `:dump` file in script mode, or nowhere (benchmarks), so golden screens
 * are exactly what a person sees, minus the colors. */
#ifndef QT_TUI_SCREEN_H
#define QT_TUI_SCREEN_H
#include <stdint.h>
#include <stdio.h>
#include <wchar.h>

/* Styles: what a cell means, not what color it has.  The scheme maps them. */
#define TUI_STYLES(X)                                                         \
    X(NORMAL) X(STATUS) X(STATUS_KEY) X(HINT_KEY) X(HINT) X(HEADER) X(TITLE)  \
    X(CURSOR) X(CURSOR_DIM) X(MARK) X(DIM) X(KEPT) X(QUANT) X(MIXED)          \
    X(HEAT0) X(HEAT1) X(HEAT2) X(HEAT3) X(HEAT4)                              \
    X(INFO) X(WARN) X(ERROR) X(BORDER) X(BAR) X(BAR_EMPTY) X(PROMPT) X(MATCH)

enum tui_style {
#define TUI_STYLE_ENUM(id) TS_##id,
    TUI_STYLES(TUI_STYLE_ENUM)
#undef TUI_STYLE_ENUM
    TS_COUNT
};

struct tui_cell {
    wchar_t ch;
    uint8_t style;
};

/* A rectangle of the screen: x, y of the top-left cell, width and height. */
struct tui_rect {
    int x, y, w, h;
};

struct tui_screen {
    int w, h;
    struct tui_cell *cells;   /* (h, w) row-major */
    int ascii;                /* 1: replace anything outside ASCII by '?' */
};

int tui_screen_init(struct tui_screen *s, int w, int h, int ascii);
void tui_screen_free(struct tui_screen *s);
/* Resizes (content is lost); returns 0 or -1 when out of memory. */
int tui_screen_resize(struct tui_screen *s, int w, int h);
/* Blanks every cell (erase, never clear: the terminal is not wiped). */
void tui_screen_erase(struct tui_screen *s);
/* Writes UTF-8 text at (x, y) clipped to the rectangle r (NULL: the whole
 * screen) and to at most maxw cells (-1: no limit).  Returns the cells used. */
int tui_puts(struct tui_screen *s, const struct tui_rect *r, int x, int y, int maxw,
             enum tui_style st, const char *utf8);
int tui_printf(struct tui_screen *s, const struct tui_rect *r, int x, int y, int maxw,
               enum tui_style st, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* One wide character. */
void tui_putc(struct tui_screen *s, const struct tui_rect *r, int x, int y, enum tui_style st,
              wchar_t ch);
/* Fills a rectangle with ch in style st. */
void tui_fill(struct tui_screen *s, const struct tui_rect *r, wchar_t ch, enum tui_style st);
/* Restyles cells [x, x+w) of row y (e.g. the cursor row) keeping their text. */
void tui_restyle(struct tui_screen *s, int x, int y, int w, enum tui_style st);
/* Writes the screen as UTF-8 text, one line per row, trailing blanks
 * trimmed: the deterministic form golden tests compare. */
int tui_screen_dump(const struct tui_screen *s, FILE *f);

/* ---- glyphs ---- */

struct tui_glyphs {
    const char *name;          /* "utf8" | "ascii" */
    wchar_t tree_tee, tree_last, tree_vert, tree_open, tree_closed, tree_leaf;
    wchar_t cursor, mark, vline, hline, corner_tl, corner_tr, corner_bl, corner_br;
    wchar_t bar_full, bar_empty;
    const wchar_t *bar_eighths;   /* (9) 0/8 .. 8/8 of a cell, horizontal bars */
    const wchar_t *spark;         /* (n_spark) levels lowest first */
    int n_spark;
    wchar_t heat;                 /* the error heat cell */
    const wchar_t *heat_levels;   /* (5) in monochrome, heat differs by glyph */
    const char *sep;              /* column separator in the status line */
    const char *ellipsis;
};

extern const struct tui_glyphs tui_glyphs_utf8, tui_glyphs_ascii;

/* Chooses the glyph table once: ASCII when force_ascii or when the locale's
 * codeset (nl_langinfo(CODESET), after setlocale(LC_ALL, "")) is not UTF-8. */
const struct tui_glyphs *tui_glyphs_choose(int force_ascii);

/* ---- color schemes ---- */

struct tui_color {
    short fg, bg;   /* curses colors, -1 = terminal default */
    int attr;       /* A_BOLD, A_REVERSE ... */
};

struct tui_scheme {
    const char *name;
    int needs_color;
    struct tui_color c[TS_COUNT];
};

extern const struct tui_scheme tui_scheme_default, tui_scheme_mono;

/* ---- curses backend ---- */

struct tui_term;

/* Starts curses on the terminal (newterm honoring TERM; out/in may be NULL
 * for stdout/stdin), picks the monochrome scheme when no_color is set, NO_COLOR
 * is in the environment or the terminal has no colors.  Returns NULL and
 * fills why (size n) when the terminal cannot be used. */
struct tui_term *tui_term_open(const char *term, FILE *out, FILE *in, int no_color, char *why, size_t n);
void tui_term_close(struct tui_term *t);
/* Terminal size now (after a SIGWINCH the caller asks again). */
void tui_term_size(struct tui_term *t, int *w, int *h);
/* Re-reads the size from the tty and tells curses. */
void tui_term_resized(struct tui_term *t);
/* One frame: erase, copy every cell, wnoutrefresh, one doupdate.  With
 * repaint, the next doupdate redraws the whole terminal (Ctrl-L). */
void tui_term_flush(struct tui_term *t, const struct tui_screen *s, int repaint);
/* Forces the terminal size (benchmarks writing to a file). */
void tui_term_set_size(struct tui_term *t, int w, int h);
/* Bare frame: erase + doupdate, the benchmark baseline. */
void tui_term_flush_bare(struct tui_term *t);
/* Reads one key without blocking; returns 0 when none (see keys.h codes). */
int tui_term_key(struct tui_term *t);
const char *tui_term_scheme(const struct tui_term *t);

/* Copies src into dst (size n), truncating; always terminates. */
void tui_strcpy(char *dst, size_t n, const char *src);

#endif
