/* keys.c — key names and the action lookup built from TUI_KEYS. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

const struct tui_keydef tui_keydefs[] = {
#define TUI_KEY_ROW(id, keys, hint, help) {TA_##id, keys, hint, help, #id},
    TUI_KEYS(TUI_KEY_ROW)
#undef TUI_KEY_ROW
};
const int tui_n_keydefs = (int)(sizeof tui_keydefs / sizeof tui_keydefs[0]);

static const struct { const char *name; int code; } named[] = {
    {"Up", TK_UP},       {"Down", TK_DOWN},   {"Left", TK_LEFT},   {"Right", TK_RIGHT},
    {"PgUp", TK_PGUP},   {"PgDn", TK_PGDN},   {"Home", TK_HOME},   {"End", TK_END},
    {"Enter", TK_ENTER}, {"Tab", TK_TAB},     {"BTab", TK_BTAB},   {"Esc", TK_ESC},
    {"BS", TK_BS},       {"Del", TK_DEL},     {"F1", TK_F1},       {"Space", ' '},
    {"Resize", TK_RESIZE}, {"lt", '<'},
};
#define N_NAMED (int)(sizeof named / sizeof named[0])

int tui_key_parse(const char *s) {
    size_t n = strlen(s);
    if (n == 0) return 0;
    if (s[0] != '<' || n < 3 || s[n - 1] != '>') {
        /* one character, possibly multi-byte UTF-8 */
        const unsigned char *u = (const unsigned char *)s;
        if (u[0] < 0x80) return n == 1 ? u[0] : 0;
        int len = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : 2;
        if ((int)n != len) return 0;
        int cp = u[0] & (0x3f >> (len - 1));
        for (int i = 1; i < len; i++) cp = (cp << 6) | (u[i] & 0x3f);
        return cp;
    }
    char in[32];
    if (n - 2 >= sizeof in) return 0;
    memcpy(in, s + 1, n - 2);
    in[n - 2] = 0;
    static const char *mouse[] = {"Click:", "WheelUp:", "WheelDown:"};
    for (int k = 0; k < 3; k++) {
        size_t ml = strlen(mouse[k]);
        int x, y;
        char tail;
        if (!strncmp(in, mouse[k], ml) && sscanf(in + ml, "%d,%d%c", &x, &y, &tail) == 2 && x >= 0 && y >= 0 &&
            x < 4096 && y < 4096)
            return tk_mouse(k, x, y);
    }
    if ((in[0] == 'C' || in[0] == 'c') && in[1] == '-' && in[2] && !in[3]) {
        char c = in[2];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') return c - 'a' + 1;
        return 0;
    }
    for (int i = 0; i < N_NAMED; i++)
        if (!strcmp(in, named[i].name)) return named[i].code;
    return 0;
}

const char *tui_key_name(int k, char *buf, int n) {
    if (tk_is_mouse(k)) {
        static const char *mouse[] = {"Click", "WheelUp", "WheelDown"};
        int kind = tk_mouse_kind(k);
        snprintf(buf, (size_t)n, "%s:%d,%d", kind >= 0 && kind < 3 ? mouse[kind] : "Mouse", tk_mouse_x(k), tk_mouse_y(k));
        return buf;
    }
    for (int i = 0; i < N_NAMED; i++)
        if (named[i].code == k && k != '<') { snprintf(buf, (size_t)n, "%s", named[i].name); return buf; }
    if (k >= 1 && k <= 26) snprintf(buf, (size_t)n, "C-%c", 'a' + k - 1);
    else if (k < 128) snprintf(buf, (size_t)n, "%c", k);
    else snprintf(buf, (size_t)n, "U+%04X", (unsigned)k);
    return buf;
}

/* The bindings, parsed once from the table. */
#define MAX_BINDINGS 256
static struct { int key; enum tui_action a; } bindings[MAX_BINDINGS];
static int n_bindings = -1;

static void build(void) {
    n_bindings = 0;
    for (int i = 0; i < tui_n_keydefs; i++) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s", tui_keydefs[i].keys);
        char *save = NULL;
        for (char *tok = strtok_r(tmp, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            int k = tui_key_parse(tok);
            if (k && n_bindings < MAX_BINDINGS) {
                bindings[n_bindings].key = k;
                bindings[n_bindings].a = tui_keydefs[i].action;
                n_bindings++;
            }
        }
    }
}

enum tui_action tui_key_action(int k) {
    if (n_bindings < 0) build();
    for (int i = 0; i < n_bindings; i++)
        if (bindings[i].key == k) return bindings[i].a;
    return TA_NONE;
}

const char *tui_action_key(enum tui_action a, char *buf, int n) {
    buf[0] = 0;
    if (a <= TA_NONE || a >= TA_COUNT) return buf;
    const char *k = tui_keydefs[a - 1].keys;
    int len = (int)strcspn(k, " ");
    if (!strncmp(k, "<lt>", 4)) { snprintf(buf, (size_t)n, "<"); return buf; }
    if (k[0] == '<' && len > 2) snprintf(buf, (size_t)n, "%.*s", len - 2, k + 1);
    else snprintf(buf, (size_t)n, "%.*s", len, k);
    return buf;
}
