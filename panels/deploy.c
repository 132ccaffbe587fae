/* deploy.c — the deployment table (DESIGN §5) for the chosen GPU, from the
 * engine's deploy call.  Offered only when the source has SRC_CAP_DEPLOY;
 * until the deploy module lands the key is hidden and this panel says so. */
#include "app.h"

static void deploy_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(&a->scr, &head, L' ', TS_HEADER);
    tui_puts(&a->scr, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "deploy");
    tui_puts(&a->scr, r, r->x + 2, r->y + 2, r->w - 2, TS_DIM,
             "the engine in this session has no deploy module");
}

const struct panel_ops panel_deploy = {
    .name = "deploy", .title = "deploy", .draw = deploy_draw,
};
