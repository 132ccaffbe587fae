/* keys.h — the key table as data.  One X-macro row per action: the keys that
 * trigger it (names as script files write them), the short label of the hint
 * bar (NULL: not in the hint bar) and the help text.  The help panel and the
 * hint bar are generated from this table, so they cannot drift from what the
 * keys do. */
#ifndef QT_TUI_KEYS_H
#define QT_TUI_KEYS_H

/* Key codes: a Unicode code point, or one of these above the Unicode range. */
enum {
    TK_BASE = 0x110000,
    TK_UP, TK_DOWN, TK_LEFT, TK_RIGHT, TK_PGUP, TK_PGDN, TK_HOME, TK_END,
    TK_ENTER, TK_TAB, TK_BTAB, TK_ESC, TK_BS, TK_DEL, TK_F1, TK_RESIZE,
    TK_CTRL_L = 12,
    TK_CTRL_R = 18,
};

/* Mouse events are key codes too: TK_MOUSE + (kind * 4096 + y) * 4096 + x,
 * written <Click:X,Y>, <WheelUp:X,Y>, <WheelDown:X,Y> in scripts. */
enum { TM_CLICK = 0, TM_WHEEL_UP = 1, TM_WHEEL_DOWN = 2 };
#define TK_MOUSE 0x1000000
static inline int tk_mouse(int kind, int x, int y) { return TK_MOUSE + (kind * 4096 + (y & 4095)) * 4096 + (x & 4095); }
static inline int tk_is_mouse(int k) { return k >= TK_MOUSE; }
static inline int tk_mouse_kind(int k) { return (k - TK_MOUSE) / (4096 * 4096); }
static inline int tk_mouse_x(int k) { return (k - TK_MOUSE) % 4096; }
static inline int tk_mouse_y(int k) { return (k - TK_MOUSE) / 4096 % 4096; }

/*  id          keys                      hint       help */
#define TUI_KEYS(X)                                                                         \
    X(DOWN,       "j <Down>",               NULL,      "move down")                          \
    X(UP,         "k <Up>",                 NULL,      "move up")                            \
    X(PGDN,       "<PgDn> <C-f>",           NULL,      "page down")                          \
    X(PGUP,       "<PgUp> <C-b>",           NULL,      "page up")                            \
    X(HOME,       "<Home>",                 NULL,      "first row")                          \
    X(END,        "<End>",                  NULL,      "last row")                           \
    X(EXPAND,     "<Enter> <Right> l",      NULL,      "expand node / open finding")         \
    X(COLLAPSE,   "<Left> h",               NULL,      "collapse node / go to parent")       \
    X(NEXT_PANEL, "<Tab>",                  NULL,      "focus next panel")                   \
    X(SEARCH,     "/",                      "search",  "search node names")                  \
    X(SEARCH_NEXT,"n",                      NULL,      "next search match")                  \
    X(SEARCH_PREV,"N",                      NULL,      "previous search match")              \
    X(FILTER,     "f",                      "filter",  "filter the tree: role:R scheme:S q (quantized) lint NAME (each must hold; empty clears)") \
    X(JUMP,       ": 0 1 2 3 4 5 6 7 8 9",  NULL,      "go to layer N (type the number, Enter)") \
    X(SORT,       ">",                      NULL,      "sort siblings by the next column: err%, dKL, params, bytes, none (or click a column header)") \
    X(SORT_REV,   "<lt>",                   NULL,      "reverse the sort order")             \
    X(STRIP,      "L",                      "strip",   "layer strip: every layer's parts as heat cells of err% or dKL (h/l j/k move, m metric, Enter: the tree)") \
    X(METRIC,     "m",                      NULL,      "layer strip: heat of err% or dKL")   \
    X(MARK,       "<Space>",                "mark",    "mark / unmark node (edits apply to marked nodes)") \
    X(BITS_UP,    "+ =",                    "+-bits",  "more bits (int 2..8, then kept bf16; GGUF: ... Q4_K Q5_K Q6_K Q8_0 BF16)") \
    X(BITS_DOWN,  "-",                      NULL,      "fewer bits (bf16 -> int8 -> ... -> int2; GGUF: BF16 Q8_0 ... Q2_K)") \
    X(GROUP,      "g",                      "group",   "cycle group size 32 / 64 / 128 / channel") \
    X(SYM,        "s",                      "sym",     "toggle symmetric / asymmetric")      \
    X(TYPE,       "t",                      "type",    "cycle type int / fp8 / fp4 (GGUF: Q4_K Q4_0 Q4_1 IQ4_NL IQ4_XS)") \
    X(GGUF,       "G",                      NULL,      "GGUF target for llama.cpp on / off (+ - t then step GGUF types)") \
    X(FTYPE,      "F",                      NULL,      "GGUF file type: the next llama.cpp preset (Q4_K_M Q5_K_M ...)") \
    X(IGNORE,     "x",                      "ignore",  "toggle ignore (keep in bf16)")       \
    X(PATTERN,    "p",                      "pattern", "add a target pattern (live match count)") \
    X(PATTERN_IGN,"I",                      NULL,      "add an ignore pattern (live match count)") \
    X(UNDO,       "u",                      "undo",    "undo last recipe edit")              \
    X(REDO,       "U <C-r>",                NULL,      "redo")                               \
    X(VARIANT_A,  "a",                      NULL,      "store the recipe as variant A")      \
    X(VARIANT_B,  "b",                      NULL,      "store the recipe as variant B")      \
    X(VARIANT_NEW,"v",                      NULL,      "store the recipe as the next free variant (C, D, ... H)") \
    X(COMPARE,    "C",                      "A/B",     "compare the variants (x there drops the selected one)") \
    X(EVAL_AB,    "E",                      NULL,      "KL of every variant (eval jobs; compare panel)") \
    X(EVAL_SET,   "T",                      NULL,      "eval settings: text, ctx, chunks of eval and dKL jobs; calib_samples, calib_len of the commit; arith (f32|bf16) of previews and jobs (kept in the session)") \
    X(RECIPE,     "r",                      "recipe",  "toggle recipe / detail pane")        \
    X(WRITE,      "w",                      "write",   "write the recipe to a file")         \
    X(COMMIT,     "c",                      "commit",  "commit: quantize + eval job")        \
    X(SENS,       "e",                      "dKL",     "estimate dKL: each group alone at the selected scheme (sensitivity job)") \
    X(CALIB,      "S",                      "calib",   "calibration statistics (calib job): the detail panel adds the calibration-weighted error") \
    X(JOBS,       "o",                      "jobs",    "jobs panel")                         \
    X(CANCEL,     "K",                      NULL,      "cancel the selected job")            \
    X(RESUME,     "O",                      NULL,      "jobs: resume the selected interrupted quantize job from its last finished layer") \
    X(DEPLOY,     "D",                      "deploy",  "deploy panel (j/k GPU, Enter: ctx batch kv util tp)") \
    X(PLAN,       "P",                      "plan",    "plan panel: least-KL recipes for a size, bpw or GPUs (t target, g GPTQ, R run, h/l, Enter)") \
    X(PLAN_RUN,   "R",                      NULL,      "run the plan job for the plan panel's target") \
    X(DETACH,     "d",                      "detach",  "detach (the engine keeps running)")  \
    X(HELP,       "? <F1>",                 "help",    "this help")                          \
    X(REPAINT,    "<C-l>",                  NULL,      "repaint the screen")                 \
    X(BACK,       "<Esc>",                  NULL,      "close panel / cancel")               \
    X(QUIT,       "q",                      "quit",    "quit (asks when edits are uncommitted)")

enum tui_action {
    TA_NONE = 0,
#define TUI_KEY_ENUM(id, keys, hint, help) TA_##id,
    TUI_KEYS(TUI_KEY_ENUM)
#undef TUI_KEY_ENUM
    TA_COUNT
};

struct tui_keydef {
    enum tui_action action;
    const char *keys, *hint, *help, *name;
};

/* The table, TA_COUNT - 1 rows in X-macro order (row i is action i + 1). */
extern const struct tui_keydef tui_keydefs[];
extern const int tui_n_keydefs;

/* Action bound to key code k, TA_NONE when none. */
enum tui_action tui_key_action(int k);
/* Parses one key name ("j", "<Down>", "<C-l>", "<Space>") into a code;
 * returns 0 when the name is unknown. */
int tui_key_parse(const char *name);
/* Writes the name of key k into buf. */
const char *tui_key_name(int k, char *buf, int n);
/* First key of an action as shown in the hint bar ("+", "?", "Space"). */
const char *tui_action_key(enum tui_action a, char *buf, int n);

#endif
