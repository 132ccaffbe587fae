/* layout.c — the screen split, a pure function (see layout.h). */
#include "layout.h"

#include <string.h>

void tui_layout_compute(int w, int h, struct tui_layout *L) {
    memset(L, 0, sizeof *L);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    L->screen = (struct tui_rect){0, 0, w, h};
    if (w < TUI_MIN_W || h < TUI_MIN_H) {
        L->too_small = 1;
        L->small = L->screen;
        return;
    }
    L->status = (struct tui_rect){0, 0, w, 1};
    L->hints = (struct tui_rect){0, h - 1, w, 1};
    L->msg = (struct tui_rect){0, h - 2, w, 1};
    L->body = (struct tui_rect){0, 1, w, h - 3};
    /* The side pane gets 42% of the width, never under 32 columns: the
     * detail's error table and the recipe YAML need that much. */
    int side = w * 42 / 100;
    if (side < 32) side = 32;
    int tree = w - side - 1;
    L->tree = (struct tui_rect){0, 1, tree, h - 3};
    L->sep = (struct tui_rect){tree, 1, 1, h - 3};
    L->side = (struct tui_rect){tree + 1, 1, side, h - 3};
}
