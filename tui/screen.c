/* screen.c — virtual screen, glyph tables, color schemes, curses backend. */
#include "screen.h"
#include "keys.h"

#include <curses.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "keys.h"

int tui_screen_init(struct tui_screen *s, int w, int h, int ascii) {
    memset(s, 0, sizeof *s);
    s->ascii = ascii;
    return tui_screen_resize(s, w, h);
}

void tui_screen_free(struct tui_screen *s) {
    free(s->cells);
    s->cells = NULL;
}

int tui_screen_resize(struct tui_screen *s, int w, int h) {
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    struct tui_cell *c = calloc((size_t)w * h, sizeof *c);
    if (!c) return -1;
    free(s->cells);
    s->cells = c;
    s->w = w;
    s->h = h;
    tui_screen_erase(s);
    return 0;
}

void tui_screen_erase(struct tui_screen *s) {
    for (int i = 0; i < s->w * s->h; i++) s->cells[i] = (struct tui_cell){L' ', TS_NORMAL};
}

static int clip(const struct tui_screen *s, const struct tui_rect *r, int x, int y) {
    if (x < 0 || y < 0 || x >= s->w || y >= s->h) return 0;
    if (r && (x < r->x || y < r->y || x >= r->x + r->w || y >= r->y + r->h)) return 0;
    return 1;
}

void tui_putc(struct tui_screen *s, const struct tui_rect *r, int x, int y, enum tui_style st,
              wchar_t ch) {
    if (!clip(s, r, x, y)) return;
    if (ch < 32 || ch == 127) ch = L'?';
    if (s->ascii && ch > 126) ch = L'?';
    if (ch > 126 && wcwidth(ch) != 1) ch = L'?';
    s->cells[y * s->w + x] = (struct tui_cell){ch, (uint8_t)st};
}

int tui_puts(struct tui_screen *s, const struct tui_rect *r, int x, int y, int maxw,
             enum tui_style st, const char *utf8) {
    mbstate_t ms;
    memset(&ms, 0, sizeof ms);
    int n = 0;
    const char *p = utf8;
    size_t left = strlen(utf8);
    while (left && (maxw < 0 || n < maxw)) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, p, left, &ms);
        if (k == (size_t)-1 || k == (size_t)-2) {  /* not valid in this locale */
            wc = L'?';
            k = 1;
            memset(&ms, 0, sizeof ms);
        } else if (k == 0) {
            break;
        }
        tui_putc(s, r, x + n, y, st, wc);
        n++;
        p += k;
        left -= k;
    }
    return n;
}

int tui_printf(struct tui_screen *s, const struct tui_rect *r, int x, int y, int maxw,
               enum tui_style st, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return tui_puts(s, r, x, y, maxw, st, buf);
}

void tui_fill(struct tui_screen *s, const struct tui_rect *r, wchar_t ch, enum tui_style st) {
    for (int y = r->y; y < r->y + r->h; y++)
        for (int x = r->x; x < r->x + r->w; x++) tui_putc(s, NULL, x, y, st, ch);
}

void tui_restyle(struct tui_screen *s, int x, int y, int w, enum tui_style st) {
    if (y < 0 || y >= s->h) return;
    for (int i = x; i < x + w && i < s->w; i++)
        if (i >= 0) s->cells[y * s->w + i].style = (uint8_t)st;
}

int tui_screen_dump(const struct tui_screen *s, FILE *f) {
    for (int y = 0; y < s->h; y++) {
        int end = s->w;
        while (end > 0 && s->cells[y * s->w + end - 1].ch == L' ') end--;
        for (int x = 0; x < end; x++) {
            char mb[MB_LEN_MAX];
            mbstate_t ms;
            memset(&ms, 0, sizeof ms);
            size_t k = wcrtomb(mb, s->cells[y * s->w + x].ch, &ms);
            if (k == (size_t)-1) { mb[0] = '?'; k = 1; }
            fwrite(mb, 1, k, f);
        }
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* ---- glyphs ---- */

static const wchar_t utf8_eighths[9] = {L' ', L'▏', L'▎', L'▍', L'▌', L'▋', L'▊', L'▉', L'█'};
static const wchar_t utf8_spark[8] = {L'▁', L'▂', L'▃', L'▄', L'▅', L'▆', L'▇', L'█'};
static const wchar_t utf8_heat[5] = {L'·', L'░', L'▒', L'▓', L'█'};
static const wchar_t ascii_eighths[9] = {L' ', L' ', L' ', L' ', L'#', L'#', L'#', L'#', L'#'};
static const wchar_t ascii_spark[4] = {L'_', L'.', L':', L'#'};
static const wchar_t ascii_heat[5] = {L'.', L':', L'+', L'#', L'@'};

const struct tui_glyphs tui_glyphs_utf8 = {
    .name = "utf8",
    .tree_tee = L'├', .tree_last = L'└', .tree_vert = L'│',
    .tree_open = L'▾', .tree_closed = L'▸', .tree_leaf = L'─',
    .cursor = L'▶', .mark = L'●', .vline = L'│', .hline = L'─',
    .corner_tl = L'┌', .corner_tr = L'┐', .corner_bl = L'└', .corner_br = L'┘',
    .bar_full = L'█', .bar_empty = L'░', .bar_eighths = utf8_eighths,
    .spark = utf8_spark, .n_spark = 8, .heat = L'█', .heat_levels = utf8_heat,
    .sep = " │ ", .ellipsis = "…",
};

const struct tui_glyphs tui_glyphs_ascii = {
    .name = "ascii",
    .tree_tee = L'|', .tree_last = L'`', .tree_vert = L'|',
    .tree_open = L'-', .tree_closed = L'+', .tree_leaf = L'-',
    .cursor = L'>', .mark = L'*', .vline = L'|', .hline = L'-',
    .corner_tl = L'+', .corner_tr = L'+', .corner_bl = L'+', .corner_br = L'+',
    .bar_full = L'#', .bar_empty = L'.', .bar_eighths = ascii_eighths,
    .spark = ascii_spark, .n_spark = 4, .heat = L'#', .heat_levels = ascii_heat,
    .sep = " | ", .ellipsis = "~",
};

const struct tui_glyphs *tui_glyphs_choose(int force_ascii) {
    if (force_ascii) return &tui_glyphs_ascii;
    const char *cs = nl_langinfo(CODESET);
    if (cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"))) return &tui_glyphs_utf8;
    return &tui_glyphs_ascii;
}

/* ---- color schemes ---- */

#define C(f, b, a) {f, b, a}
const struct tui_scheme tui_scheme_default = {
    .name = "default", .needs_color = 1,
    .c = {
        [TS_NORMAL] = C(-1, -1, 0),
        [TS_STATUS] = C(COLOR_BLACK, COLOR_CYAN, 0),
        [TS_STATUS_KEY] = C(COLOR_BLACK, COLOR_CYAN, A_BOLD),
        [TS_HINT_KEY] = C(COLOR_BLACK, COLOR_CYAN, 0),
        [TS_HINT] = C(-1, -1, 0),
        [TS_HEADER] = C(COLOR_BLACK, COLOR_GREEN, 0),
        [TS_TITLE] = C(COLOR_CYAN, -1, A_BOLD),
        [TS_CURSOR] = C(COLOR_BLACK, COLOR_CYAN, 0),
        [TS_CURSOR_DIM] = C(COLOR_BLACK, COLOR_WHITE, 0),
        [TS_MARK] = C(COLOR_YELLOW, -1, A_BOLD),
        [TS_DIM] = C(COLOR_BLUE, -1, A_BOLD),
        [TS_KEPT] = C(-1, -1, 0),
        [TS_QUANT] = C(COLOR_GREEN, -1, 0),
        [TS_MIXED] = C(COLOR_MAGENTA, -1, 0),
        [TS_HEAT0] = C(COLOR_GREEN, -1, 0),
        [TS_HEAT1] = C(COLOR_CYAN, -1, 0),
        [TS_HEAT2] = C(COLOR_YELLOW, -1, 0),
        [TS_HEAT3] = C(COLOR_RED, -1, 0),
        [TS_HEAT4] = C(COLOR_RED, -1, A_BOLD),
        [TS_INFO] = C(COLOR_CYAN, -1, 0),
        [TS_WARN] = C(COLOR_YELLOW, -1, A_BOLD),
        [TS_ERROR] = C(COLOR_RED, -1, A_BOLD),
        [TS_BORDER] = C(COLOR_BLUE, -1, 0),
        [TS_BAR] = C(COLOR_GREEN, -1, 0),
        [TS_BAR_EMPTY] = C(COLOR_BLUE, -1, A_BOLD),
        [TS_PROMPT] = C(-1, -1, A_BOLD),
        [TS_MATCH] = C(COLOR_BLACK, COLOR_YELLOW, 0),
    },
};

/* Monochrome: meaning carried by attributes and glyphs only. */
const struct tui_scheme tui_scheme_mono = {
    .name = "mono", .needs_color = 0,
    .c = {
        [TS_NORMAL] = C(-1, -1, 0),
        [TS_STATUS] = C(-1, -1, A_REVERSE),
        [TS_STATUS_KEY] = C(-1, -1, A_REVERSE | A_BOLD),
        [TS_HINT_KEY] = C(-1, -1, A_REVERSE),
        [TS_HINT] = C(-1, -1, 0),
        [TS_HEADER] = C(-1, -1, A_UNDERLINE | A_BOLD),
        [TS_TITLE] = C(-1, -1, A_BOLD),
        [TS_CURSOR] = C(-1, -1, A_REVERSE),
        [TS_CURSOR_DIM] = C(-1, -1, A_UNDERLINE),
        [TS_MARK] = C(-1, -1, A_BOLD),
        [TS_DIM] = C(-1, -1, A_DIM),
        [TS_KEPT] = C(-1, -1, 0),
        [TS_QUANT] = C(-1, -1, 0),
        [TS_MIXED] = C(-1, -1, A_BOLD),
        [TS_HEAT0] = C(-1, -1, 0),
        [TS_HEAT1] = C(-1, -1, 0),
        [TS_HEAT2] = C(-1, -1, 0),
        [TS_HEAT3] = C(-1, -1, A_BOLD),
        [TS_HEAT4] = C(-1, -1, A_BOLD),
        [TS_INFO] = C(-1, -1, 0),
        [TS_WARN] = C(-1, -1, A_BOLD),
        [TS_ERROR] = C(-1, -1, A_BOLD),
        [TS_BORDER] = C(-1, -1, 0),
        [TS_BAR] = C(-1, -1, 0),
        [TS_BAR_EMPTY] = C(-1, -1, A_DIM),
        [TS_PROMPT] = C(-1, -1, A_BOLD),
        [TS_MATCH] = C(-1, -1, A_REVERSE),
    },
};
#undef C

/* ---- curses backend ---- */

struct tui_term {
    SCREEN *scr;
    const struct tui_scheme *scheme;
    attr_t attr[TS_COUNT];
    short pair[TS_COUNT];
    cchar_t *line;           /* (cols) one row being copied */
    int line_cap;
};

struct tui_term *tui_term_open(const char *term, FILE *out, FILE *in, int no_color, char *why,
                               size_t n) {
    struct tui_term *t = calloc(1, sizeof *t);
    if (!t) { snprintf(why, n, "out of memory"); return NULL; }
    if (!term) term = getenv("TERM");
    t->scr = newterm(term && *term ? term : NULL, out ? out : stdout, in ? in : stdin);
    if (!t->scr) {
        snprintf(why, n, "cannot use terminal type '%s'", term ? term : "(unset)");
        free(t);
        return NULL;
    }
    set_term(t->scr);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    /* clicks and the wheel (QTUNE_MOUSE=0 leaves the mouse to the terminal) */
    const char *mo = getenv("QTUNE_MOUSE");
    if (!(mo && !strcmp(mo, "0"))) {
        mousemask(BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
        mouseinterval(0);
    }
    curs_set(0);
    if (!getenv("ESCDELAY")) set_escdelay(25);   /* ESCDELAY (ms) as curses reads it: slow links, mouse sequences */
    const char *nc = getenv("NO_COLOR");
    int color = !no_color && !(nc && *nc) && has_colors();
    t->scheme = color ? &tui_scheme_default : &tui_scheme_mono;
    if (color) {
        start_color();
        use_default_colors();
    }
    for (int i = 0; i < TS_COUNT; i++) {
        const struct tui_color *c = &t->scheme->c[i];
        t->attr[i] = (attr_t)c->attr;
        t->pair[i] = 0;
        if (color && (c->fg != -1 || c->bg != -1)) {
            init_pair((short)(i + 1), c->fg, c->bg);
            t->pair[i] = (short)(i + 1);
        }
    }
    return t;
}

void tui_term_close(struct tui_term *t) {
    if (!t) return;
    endwin();
    delscreen(t->scr);
    free(t->line);
    free(t);
}

void tui_term_size(struct tui_term *t, int *w, int *h) {
    (void)t;
    *w = COLS;
    *h = LINES;
}

void tui_term_resized(struct tui_term *t) {
    (void)t;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        resizeterm(ws.ws_row, ws.ws_col);
}

void tui_term_flush(struct tui_term *t, const struct tui_screen *s, int repaint) {
    if (repaint) clearok(curscr, TRUE);
    werase(stdscr);
    int w = s->w < COLS ? s->w : COLS, h = s->h < LINES ? s->h : LINES;
    if (t->line_cap < w) {
        free(t->line);
        t->line = calloc((size_t)w, sizeof *t->line);
        t->line_cap = t->line ? w : 0;
        if (!t->line) return;
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const struct tui_cell *c = &s->cells[y * s->w + x];
            wchar_t wc[2] = {c->ch, 0};
            setcchar(&t->line[x], wc, t->attr[c->style], t->pair[c->style], NULL);
        }
        mvwadd_wchnstr(stdscr, y, 0, t->line, w);
    }
    wnoutrefresh(stdscr);
    doupdate();
}

void tui_term_flush_bare(struct tui_term *t) {
    (void)t;
    werase(stdscr);
    wnoutrefresh(stdscr);
    doupdate();
}

int tui_term_key(struct tui_term *t) {
    (void)t;
    wint_t wc;
    int r = wget_wch(stdscr, &wc);
    if (r == ERR) return 0;
    if (r == KEY_CODE_YES) {
        switch (wc) {
        case KEY_UP: return TK_UP;
        case KEY_DOWN: return TK_DOWN;
        case KEY_LEFT: return TK_LEFT;
        case KEY_RIGHT: return TK_RIGHT;
        case KEY_PPAGE: return TK_PGUP;
        case KEY_NPAGE: return TK_PGDN;
        case KEY_HOME: return TK_HOME;
        case KEY_END: return TK_END;
        case KEY_ENTER: return TK_ENTER;
        case KEY_BTAB: return TK_BTAB;
        case KEY_BACKSPACE: return TK_BS;
        case KEY_DC: return TK_DEL;
        case KEY_F(1): return TK_F1;
        case KEY_RESIZE: return TK_RESIZE;
        case KEY_MOUSE: {
            MEVENT ev;
            if (getmouse(&ev) != OK || ev.x < 0 || ev.y < 0) return 0;
            if (ev.bstate & BUTTON4_PRESSED) return tk_mouse(TM_WHEEL_UP, ev.x, ev.y);
#ifdef BUTTON5_PRESSED
            if (ev.bstate & BUTTON5_PRESSED) return tk_mouse(TM_WHEEL_DOWN, ev.x, ev.y);
#endif
            if (ev.bstate & BUTTON1_PRESSED) return tk_mouse(TM_CLICK, ev.x, ev.y);
            return 0;
        }
        default: return 0;
        }
    }
    if (wc == '\r' || wc == '\n') return TK_ENTER;
    if (wc == '\t') return TK_TAB;
    if (wc == 27) return TK_ESC;
    if (wc == 127 || wc == 8) return TK_BS;
    return (int)wc;
}

const char *tui_term_scheme(const struct tui_term *t) { return t->scheme->name; }

void tui_strcpy(char *dst, size_t n, const char *src) {
    if (!n) return;
    size_t k = strlen(src);
    if (k >= n) k = n - 1;
    memcpy(dst, src, k);
    dst[k] = 0;
}

void tui_term_set_size(struct tui_term *t, int w, int h) {
    (void)t;
    resizeterm(h, w);
}
