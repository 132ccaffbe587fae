/* layout.h — where each part of the screen goes, as a pure function of the
 * terminal size: sizes in, rectangles out.  Unit-tested over many sizes. */
#ifndef QT_TUI_LAYOUT_H
#define QT_TUI_LAYOUT_H
#include "screen.h"

#define TUI_MIN_W 80
#define TUI_MIN_H 24

struct tui_layout {
    int too_small;            /* below TUI_MIN_W x TUI_MIN_H: only `small` is used */
    struct tui_rect screen;
    struct tui_rect status;   /* top line: model, recipe size, bpw, engine state */
    struct tui_rect body;     /* between status and message line */
    struct tui_rect tree;     /* left part of body */
    struct tui_rect sep;      /* one column between tree and side */
    struct tui_rect side;     /* right part of body: detail or recipe */
    struct tui_rect msg;      /* message / prompt line */
    struct tui_rect hints;    /* bottom line: key hints */
    struct tui_rect small;    /* the "terminal too small" notice */
};

/* Computes the layout of a w x h terminal.  Every rectangle lies inside the
 * screen; tree, sep and side tile the body without overlap. */
void tui_layout_compute(int w, int h, struct tui_layout *out);

#endif
