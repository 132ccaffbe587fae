/* app.h — the workbench: state shared by the panels, the panel ops table,
 * frame drawing and key dispatch.  The event loop (loop.c) feeds keys and
 * engine messages in; a frame comes out into app->scr. */
#ifndef QT_TUI_APP_H
#define QT_TUI_APP_H
#include "keys.h"
#include "layout.h"
#include "mtree.h"
#include "screen.h"
#include "source.h"
#include "widgets.h"

struct app;

/* One panel: a file in panels/ exports one of these. */
struct panel_ops {
    const char *name;
    const char *title;
    /* Draws into r; focused says whether keys go to it. */
    void (*draw)(struct app *a, const struct tui_rect *r, int focused);
    /* Handles an action (key: the raw key); returns 1 when handled. */
    int (*key)(struct app *a, enum tui_action act, int key);
    /* The panel's rectangle changed (scroll positions follow). */
    void (*resize)(struct app *a, const struct tui_rect *r);
    /* Gained (on = 1) or lost focus. */
    void (*focus)(struct app *a, int on);
    /* Finds text from the current position in direction dir (+1/-1); returns
     * 1 when found.  NULL: the panel is not searchable. */
    int (*search)(struct app *a, const char *text, int dir);
};

extern const struct panel_ops panel_tree, panel_detail, panel_recipe, panel_jobs, panel_compare,
    panel_deploy, panel_help, panel_strip, panel_plan;

enum prompt_kind { PR_NONE, PR_SEARCH, PR_TARGET, PR_IGNORE, PR_WRITE, PR_EVALSET, PR_FILTER, PR_JUMP, PR_PLAN, PR_DEPLOY };
enum dialog_kind { DLG_NONE, DLG_QUIT, DLG_OVERWRITE };
/* What the tree's siblings are sorted by (> and <, or a click on a header). */
enum tree_sort { SORT_NONE, SORT_ERR, SORT_DKL, SORT_PARAMS, SORT_BYTES, SORT_N };

struct app {
    struct src *src;
    struct mtree tree;
    struct tui_screen scr;
    const struct tui_glyphs *g;
    struct tui_layout lay;
    /* panels */
    const struct panel_ops *side;     /* detail or recipe */
    const struct panel_ops *full;     /* a full-body panel (help, jobs ...) or NULL */
    int focus_side;                   /* 1: keys go to the side pane */
    struct wg_list tree_l, recipe_l, help_l, jobs_l, compare_l;
    /* message line */
    char msg[256];
    enum tui_style msg_style;
    int msg_match;                    /* > 0: the message gets the match count of this generation (src->match) */
    /* prompt */
    enum prompt_kind prompt;
    char pbuf[1200];
    int plen, ppos;                   /* length and cursor (bytes) of the prompt's text */
    char pinfo[128];                  /* live info right of the prompt */
    enum tui_style pinfo_style;
    char search[256];
    /* dialog */
    enum dialog_kind dialog;
    char confirm_path[1024];          /* DLG_OVERWRITE: the file `w` would replace */
    /* tree order and filter (panels/tree.c applies them) */
    int sort, sort_desc;
    char filter[256];
    /* the layer strip: selected cell and heat metric (0 err%, 1 dKL) */
    int strip_layer, strip_kind, strip_metric;
    /* a message that follows the engine: the job it names (its state as it
     * changes), an undo/redo waiting for the version it restores */
    int msg_job;
    int undo_wait, undo_from;
    /* edits: the last answer reported (src->edit.seq); the pattern prompt's
     * match count when it was accepted (-1: not in yet, then pat_gen's) */
    int edit_seen;
    int pat_count, pat_gen;
    int cmp_sel;                      /* compare panel: the selected variant (0 = A) */
    int plan_sel, plan_gen;           /* plan panel: the selected point (-1: the default) of report generation plan_gen */
    /* compare cache: tensors whose schemes differ between the variants */
    int cmp_valid;
    int *cmp_diff;                    /* (n_cmp_diff) tensor indices whose schemes differ */
    int n_cmp_diff;
    /* outcome */
    int quit, detach, repaint;
    int frames;
};

/* Sets up the app over an open source, drawing on a w x h screen. */
int app_init(struct app *a, struct src *s, int w, int h, int ascii, qt_err *err);
void app_free(struct app *a);
/* Resizes the virtual screen and relayouts. */
void app_resize(struct app *a, int w, int h);
/* Draws a whole frame into a->scr. */
void app_draw(struct app *a);
/* Handles one key. */
void app_key(struct app *a, int key);
/* The source reported a change (new recipe, job progress). */
void app_source_changed(struct app *a);
/* 1 when the action is offered (its engine call exists). */
int app_action_available(const struct app *a, enum tui_action act);
/* Message line. */
void app_msg(struct app *a, enum tui_style st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The selected tree node (0 when the tree is empty). */
int app_selected(const struct app *a);
/* Moves the tree cursor to node i (revealing it). */
void app_select(struct app *a, int node);
/* Saves / restores what the person was looking at (cursor, expanded nodes,
 * side pane) in the session directory (tui.json), so that `qtune attach`
 * brings the same screen back.  Failures are silent: it is a convenience. */
void app_state_save(const struct app *a);
void app_state_load(struct app *a);
/* Opens the plan panel's target prompt (t there). */
void app_plan_target_prompt(struct app *a);
/* The deploy panel's prompt: ctx, batch, kv, util, tp (the session's
 * deploy settings, sent to the daemon on Enter). */
void app_deploy_prompt(struct app *a);
/* dKL of node's group from the last sensitivity scan; 0 when unknown. */
int app_node_dkl(const struct app *a, int node, double *dkl);
/* Uncommitted (unsaved) edits since the last commit or write. */
int app_dirty(const struct app *a);
/* Sorts the tree's siblings by key (SORT_NONE: tree order). */
void app_sort(struct app *a, int key, int desc);

/* panels/tree.c, for the app and the layer strip */
/* Relative RMS error of node under the current recipe (previews); -1 while
 * incomplete, -2 when none.  wish: ask for what is missing. */
double panel_tree_error(struct app *a, int node, int wish);
/* Re-applies sort and filter to the visible list, the cursor on its node. */
void panel_tree_order(struct app *a);
/* Leaves (tensors) the filter text keeps. */
int panel_tree_filter_count(struct app *a, const char *filter);
/* The node of decoder layer L, -1 when none. */
int panel_tree_layer(const struct app *a, int L);
/* A mouse event in the tree's rectangle (TM_* kind, screen cell x, y). */
int panel_tree_mouse(struct app *a, int kind, int x, int y);
const char *panel_tree_sort_name(int key);
/* panels/strip.c: a click on the strip selects the cell under it */
int panel_strip_mouse(struct app *a, int kind, int x, int y);

#endif
