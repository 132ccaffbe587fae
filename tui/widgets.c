/* widgets.c — shared drawing pieces (see widgets.h). */
#include "widgets.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wg_list_fix(struct wg_list *l, int n, int h) {
    if (h < 1) h = 1;
    if (l->cur >= n) l->cur = n - 1;
    if (l->cur < 0) l->cur = 0;
    if (l->top > l->cur) l->top = l->cur;
    if (l->cur >= l->top + h) l->top = l->cur - h + 1;
    if (l->top > n - h) l->top = n - h;
    if (l->top < 0) l->top = 0;
}

void wg_list_move(struct wg_list *l, int delta, int n, int h) {
    if (delta == INT_MIN) l->cur = 0;
    else if (delta == INT_MAX) l->cur = n - 1;
    else l->cur += delta;
    wg_list_fix(l, n, h);
}

void wg_cols_fit(struct wg_col *c, int n, int w) {
    int maxprio = 0;
    for (int i = 0; i < n; i++) {
        c[i].shown = !c[i].absent;
        if (c[i].shown && c[i].prio > maxprio) maxprio = c[i].prio;
    }
    for (;;) {
        int used = 0, flex = -1;
        for (int i = 0; i < n; i++) {
            if (!c[i].shown) continue;
            if (c[i].width == 0) flex = i;
            used += c[i].width + 1;
        }
        int need_flex = flex >= 0 ? 18 : 0;   /* the name column keeps at least 18 cells */
        if (used - 1 + need_flex <= w || maxprio == 0) break;
        for (int i = 0; i < n; i++)           /* drop the least important column */
            if (c[i].shown && c[i].prio == maxprio) c[i].shown = 0;
        maxprio--;
    }
    int fixed = 0, x = 0;
    for (int i = 0; i < n; i++)
        if (c[i].shown && c[i].width) fixed += c[i].width + 1;
    for (int i = 0; i < n; i++) {
        if (!c[i].shown) continue;
        c[i].x = x;
        int cw = c[i].width ? c[i].width : w - fixed - 1;
        if (cw < 1) cw = 1;
        if (!c[i].width) c[i].width = -cw;   /* negative: flexible, remember its size */
        x += cw + 1;
    }
}

static int colw(const struct wg_col *c) { return c->width < 0 ? -c->width : c->width; }

void wg_cell(struct tui_screen *s, const struct tui_rect *r, int y, const struct wg_col *c,
             enum tui_style st, const char *text) {
    if (!c->shown) return;
    int w = colw(c);
    int len = (int)mbstowcs(NULL, text, 0);
    if (len < 0) len = (int)strlen(text);
    int x = r->x + c->x + (c->right && len < w ? w - len : 0);
    tui_puts(s, r, x, y, w, st, text);
}

static int text_w(const char *t) {
    int len = (int)mbstowcs(NULL, t, 0);
    return len < 0 ? (int)strlen(t) : len;
}

const char *wg_fit_num(const char *text, int w, const char *ell, char *buf, int n) {
    tui_strcpy(buf, (size_t)n, text);
    if (text_w(buf) <= w) return buf;
    char *end;
    double v = strtod(text, &end);
    const char *dot = strchr(text, '.');
    if (end != text && dot && dot < end) {
        for (int d = (int)(end - dot) - 2; d >= 0; d--) {
            snprintf(buf, (size_t)n, "%.*f%s", d, v, end);
            if (text_w(buf) <= w) return buf;
        }
    }
    tui_strcpy(buf, (size_t)n, w >= text_w(ell) ? ell : "");
    return buf;
}

void wg_num(struct tui_screen *s, const struct tui_rect *r, int y, const struct wg_col *c,
            enum tui_style st, const char *text, const char *ell) {
    char b[64];
    wg_cell(s, r, y, c, st, wg_fit_num(text, colw(c), ell, b, sizeof b));
}

const char *wg_elide(const char *text, int w, const char *ell, char *buf, int n) {
    tui_strcpy(buf, (size_t)n, text);
    int tw = text_w(text), ew = text_w(ell);
    if (tw <= w || w <= 0) return buf;
    wchar_t wt[512], we[8];
    int len = (int)mbstowcs(wt, text, 511);
    if (len < 0 || (int)mbstowcs(we, ell, 7) < 0) return buf;   /* not text: cut by tui_puts */
    wt[len < 511 ? len : 511] = 0;
    we[7] = 0;
    /* keep a trailing parenthesized part when there is room for some head */
    int tail = 0;
    if (len > 2 && wt[len - 1] == L')')
        for (int i = len - 2; i > 0; i--)
            if (wt[i] == L'(' && wt[i - 1] == L' ') { tail = len - i + 1; break; }
    if (tail && w - ew - tail < 8) tail = 0;   /* the name matters more than the part in parentheses */
    int head = w - ew - tail;
    if (head < 0) head = 0;
    wchar_t out[512];
    int k = 0;
    for (int i = 0; i < head && i < len; i++) out[k++] = wt[i];
    while (k > 0 && out[k - 1] == L' ') k--;
    for (int i = 0; we[i] && k < 510; i++) out[k++] = we[i];
    for (int i = len - tail; i < len && k < 510; i++) out[k++] = wt[i];
    out[k] = 0;
    if (wcstombs(buf, out, (size_t)n) == (size_t)-1) tui_strcpy(buf, (size_t)n, text);
    buf[n - 1] = 0;
    return buf;
}

void wg_cols_header(struct tui_screen *s, const struct tui_rect *r, int y, const struct wg_col *c,
                    int n) {
    struct tui_rect row = {r->x, y, r->w, 1};
    tui_fill(s, &row, L' ', TS_HEADER);
    for (int i = 0; i < n; i++) wg_cell(s, r, y, &c[i], TS_HEADER, c[i].title);
}

void wg_bar(struct tui_screen *s, const struct tui_rect *r, const struct tui_glyphs *g, int x,
            int y, int w, double frac) {
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    int eighths = (int)(frac * w * 8 + 0.5);
    for (int i = 0; i < w; i++) {
        int e = eighths - i * 8;
        if (e >= 8) tui_putc(s, r, x + i, y, TS_BAR, g->bar_full);
        else if (e > 0 && g->bar_eighths[e] != L' ') tui_putc(s, r, x + i, y, TS_BAR, g->bar_eighths[e]);
        else tui_putc(s, r, x + i, y, TS_BAR_EMPTY, g->bar_empty);
    }
}

void wg_sparkline(struct tui_screen *s, const struct tui_rect *r, const struct tui_glyphs *g, int x,
                  int y, const double *v, int n) {
    double mx = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > mx) mx = v[i];
    for (int i = 0; i < n; i++) {
        int lvl = mx > 0 ? (int)(v[i] / mx * (g->n_spark - 1) + 0.5) : 0;
        tui_putc(s, r, x + i, y, TS_BAR, g->spark[lvl]);
    }
}

void wg_histogram(struct tui_screen *s, const struct tui_rect *h, const struct tui_glyphs *g,
                  const int64_t *counts, int bins) {
    if (h->w < 1 || h->h < 1 || bins < 1) return;
    double col[512];
    int w = h->w < 512 ? h->w : 512;
    double mx = 0;
    for (int x = 0; x < w; x++) {   /* resample bins onto w columns */
        int b0 = x * bins / w, b1 = (x + 1) * bins / w;
        if (b1 <= b0) b1 = b0 + 1;
        double sum = 0;
        for (int b = b0; b < b1 && b < bins; b++) sum += (double)counts[b];
        col[x] = sum / (b1 - b0);
        if (col[x] > mx) mx = col[x];
    }
    for (int x = 0; x < w; x++) {
        int eighths = mx > 0 ? (int)(col[x] / mx * h->h * 8 + 0.5) : 0;
        if (col[x] > 0 && eighths == 0) eighths = 1;
        for (int row = 0; row < h->h; row++) {
            int e = eighths - row * 8;
            int y = h->y + h->h - 1 - row;
            wchar_t ch = L' ';
            if (e >= 8) ch = g->spark[g->n_spark - 1];
            else if (e > 0) ch = g->spark[(e * g->n_spark - 1) / 8];
            if (ch != L' ') tui_putc(s, h, h->x + x, y, TS_BAR, ch);
        }
    }
}

struct tui_rect wg_box(struct tui_screen *s, const struct tui_glyphs *g, int w, int h,
                       const char *title) {
    if (w > s->w) w = s->w;
    if (h > s->h) h = s->h;
    struct tui_rect b = {(s->w - w) / 2, (s->h - h) / 2, w, h};
    tui_fill(s, &b, L' ', TS_NORMAL);
    for (int x = b.x + 1; x < b.x + w - 1; x++) {
        tui_putc(s, NULL, x, b.y, TS_BORDER, g->hline);
        tui_putc(s, NULL, x, b.y + h - 1, TS_BORDER, g->hline);
    }
    for (int y = b.y + 1; y < b.y + h - 1; y++) {
        tui_putc(s, NULL, b.x, y, TS_BORDER, g->vline);
        tui_putc(s, NULL, b.x + w - 1, y, TS_BORDER, g->vline);
    }
    tui_putc(s, NULL, b.x, b.y, TS_BORDER, g->corner_tl);
    tui_putc(s, NULL, b.x + w - 1, b.y, TS_BORDER, g->corner_tr);
    tui_putc(s, NULL, b.x, b.y + h - 1, TS_BORDER, g->corner_bl);
    tui_putc(s, NULL, b.x + w - 1, b.y + h - 1, TS_BORDER, g->corner_br);
    if (title) tui_printf(s, NULL, b.x + 2, b.y, w - 4, TS_TITLE, " %s ", title);
    return (struct tui_rect){b.x + 2, b.y + 1, w - 4, h - 2};
}

int wg_heat(double rel) {
    return rel < 0.01 ? 0 : rel < 0.03 ? 1 : rel < 0.06 ? 2 : rel < 0.12 ? 3 : 4;
}

const char *wg_count(int64_t n, char *buf, int len) {
    if (n < 1000) snprintf(buf, (size_t)len, "%lld", (long long)n);
    else if (n < 1000000) snprintf(buf, (size_t)len, "%.1fK", n / 1e3);
    else if (n < 1000000000) snprintf(buf, (size_t)len, "%.2fM", n / 1e6);
    else snprintf(buf, (size_t)len, "%.2fB", n / 1e9);
    return buf;
}

const char *wg_bytes(int64_t n, char *buf, int len) {
    if (n < 1024) snprintf(buf, (size_t)len, "%lld B", (long long)n);
    else if (n < 1024 * 1024) snprintf(buf, (size_t)len, "%.1f KiB", n / 1024.0);
    else if (n < (int64_t)1 << 30) snprintf(buf, (size_t)len, "%.1f MiB", n / 1048576.0);
    else snprintf(buf, (size_t)len, "%.1f GiB", n / 1073741824.0);
    return buf;
}

const char *wg_bytes_short(int64_t n, char *buf, int len) {
    if (n < 1024) snprintf(buf, (size_t)len, "%lldB", (long long)n);
    else if (n < 1024 * 1024) snprintf(buf, (size_t)len, "%.1fK", n / 1024.0);
    else if (n < (int64_t)1 << 30) snprintf(buf, (size_t)len, "%.1fM", n / 1048576.0);
    else snprintf(buf, (size_t)len, "%.1fG", n / 1073741824.0);
    return buf;
}

int wg_scheme_kept(const char *sc) {
    return sc && (!strcmp(sc, "bf16") || !strcmp(sc, "BF16") || !strcmp(sc, "F16") || !strcmp(sc, "F32"));
}
