/* plot.c — text plots (braille or ASCII). */
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Dot position (sub-column 0..1, sub-row 0..3) -> braille bit (U+2800 base). */
static const unsigned char braille_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

/* Sub-cell coordinates of a data point: dx in [0, 2w), dy in [0, 4h), dy 0 at the top. */
static int to_dots(const struct plot *p, double x, double y, int *dx, int *dy) {
    if (!(p->x1 > p->x0) || !(p->y1 > p->y0) || !isfinite(x) || !isfinite(y)) return -1;
    double fx = (x - p->x0) / (p->x1 - p->x0), fy = (y - p->y0) / (p->y1 - p->y0);
    if (fx < -1e-9 || fx > 1 + 1e-9 || fy < -1e-9 || fy > 1 + 1e-9) return -1;
    int W = 2 * p->w, H = 4 * p->h;
    *dx = (int)lround(fx * (W - 1));
    *dy = H - 1 - (int)lround(fy * (H - 1));
    return 0;
}

int plot_cell(const struct plot *p, double x, double y, int *col, int *row) {
    int dx, dy;
    if (to_dots(p, x, y, &dx, &dy)) return -1;
    *col = dx / 2;
    *row = dy / 4;
    return 0;
}

void plot_render(const struct plot *p, const struct plot_series *s, int ns, char **out) {
    int w = p->w, h = p->h;
    if (w <= 0 || h <= 0) return;
    unsigned char *dots = calloc((size_t)w * (size_t)h, 1);   /* (h, w) braille bits */
    char *mark = calloc((size_t)w * (size_t)h, 1);            /* (h, w) marker or 0 */
    if (!dots || !mark) {
        for (int r = 0; r < h; r++) out[r][0] = 0;
        free(dots);
        free(mark);
        return;
    }
    for (int k = 0; k < ns; k++) {
        const struct plot_series *S = &s[k];
        int px = 0, py = 0, have = 0;
        for (int i = 0; i < S->n; i++) {
            int dx, dy;
            if (to_dots(p, S->x[i], S->y[i], &dx, &dy)) {
                have = 0;
                continue;
            }
            if (S->mark) {
                mark[(dy / 4) * w + dx / 2] = S->mark;
                continue;
            }
            /* a line from the previous point: step along the longer axis */
            int x0 = have ? px : dx, y0 = have ? py : dy;
            int steps = abs(dx - x0) > abs(dy - y0) ? abs(dx - x0) : abs(dy - y0);
            for (int t = 0; t <= steps; t++) {
                int x = steps ? x0 + (dx - x0) * t / steps : dx, y = steps ? y0 + (dy - y0) * t / steps : dy;
                dots[(y / 4) * w + x / 2] |= braille_bit[y % 4][x % 2];
            }
            px = dx;
            py = dy;
            have = 1;
        }
    }
    for (int r = 0; r < h; r++) {
        char *o = out[r];
        for (int c = 0; c < w; c++) {
            char m = mark[r * w + c];
            unsigned b = dots[r * w + c];
            if (m) *o++ = m;
            else if (!b) *o++ = ' ';
            else if (p->ascii) *o++ = '.';
            else {
                unsigned cp = 0x2800 + b;   /* 3-byte UTF-8 */
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
        }
        /* trailing blanks off */
        while (o > out[r] && o[-1] == ' ') o--;
        *o = 0;
    }
    free(dots);
    free(mark);
}
