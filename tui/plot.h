/* plot.h — a scatter/line plot rendered to text: braille dots (2 x 4 per
 * cell, UTF-8) or ASCII ('.'), with marker characters drawn over the line.
 * A pure function of its inputs (no screen), so the CLI prints it and the
 * TUI's plan panel copies its rows into a window. */
#ifndef QT_TUI_PLOT_H
#define QT_TUI_PLOT_H

struct plot_series {
    const double *x, *y;        /* (n) points */
    int n;
    char mark;                  /* 0: a line through the points (sorted by x); else this marker */
};

struct plot {
    int w, h;                   /* cells */
    int ascii;                  /* 1: '.' for the line and ASCII markers only */
    double x0, x1, y0, y1;      /* data range shown (points outside are clipped) */
};

/* Longest row plot_render writes for a plot w cells wide (bytes, NUL included). */
#define PLOT_ROW_MAX(w) ((w) * 3 + 1)

/* Renders series s (ns) into rows out[0..h-1] (each PLOT_ROW_MAX(w) bytes),
 * row 0 at the top (y1).  Later series draw over earlier ones. */
void plot_render(const struct plot *p, const struct plot_series *s, int ns, char **out);

/* The cell (column, row) a data point falls in, -1 when outside. */
int plot_cell(const struct plot *p, double x, double y, int *col, int *row);

#endif
