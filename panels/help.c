/* help.c — the help panel, generated from the key table (keys.h), listing
 * only the actions this session offers. */
#include <stdio.h>
#include <string.h>

#include "app.h"

/* Lines the help of a key takes at width w: its text wraps at blanks. */
static int wrap_next(const char *t, int w) {
    int len = (int)strlen(t);
    if (len <= w) return len;
    int cut = w;
    while (cut > 0 && t[cut] != ' ') cut--;
    return cut > 0 ? cut : w;
}

static int entry_lines(const char *t, int w) {
    int n = 0;
    while (*t) {
        int k = wrap_next(t, w);
        t += k;
        while (*t == ' ') t++;
        n++;
    }
    return n ? n : 1;
}

static int rows(const struct app *a) {
    int n = 0, w = a->lay.body.w - 22;
    for (int i = 0; i < tui_n_keydefs; i++)
        if (app_action_available(a, tui_keydefs[i].action)) n += entry_lines(tui_keydefs[i].help, w);
    return n;
}

static void help_draw(struct app *a, const struct tui_rect *r, int focused) {
    (void)focused;
    struct tui_screen *s = &a->scr;
    struct tui_rect head = {r->x, r->y, r->w, 1};
    tui_fill(s, &head, L' ', TS_HEADER);
    tui_puts(s, r, r->x + 1, r->y, r->w - 1, TS_HEADER, "help: keys (Esc or ? to close)");
    int n = rows(a), h = r->h - 1;
    if (a->help_l.cur > n - h) a->help_l.cur = n - h;
    if (a->help_l.cur < 0) a->help_l.cur = 0;
    int k = 0, y = r->y + 1, tw = r->w - 22;
    for (int i = 0; i < tui_n_keydefs && y < r->y + r->h; i++) {
        const struct tui_keydef *d = &tui_keydefs[i];
        if (!app_action_available(a, d->action)) continue;
        char keys[64] = "";
        char tmp[128];
        tui_strcpy(tmp, sizeof tmp, d->keys);
        char *save = NULL;
        for (char *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            size_t len = strlen(t);
            if (!strcmp(t, "<lt>")) t = "<", len = 1;
            if (len == 1 && t[0] >= '1' && t[0] <= '9') continue;   /* "0-9" stands for the digits */
            if (!strcmp(t, "0")) t = "0-9", len = 3;
            snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%.*s", keys[0] ? " " : "",
                     t[0] == '<' && len > 2 ? (int)len - 2 : (int)len, t[0] == '<' && len > 2 ? t + 1 : t);
        }
        const char *t = d->help;
        for (int first = 1; *t && y < r->y + r->h; first = 0) {
            int len = wrap_next(t, tw);
            if (k++ >= a->help_l.cur) {
                if (first) tui_puts(s, r, r->x + 2, y, 18, TS_HINT_KEY, keys);
                char part[256];
                snprintf(part, sizeof part, "%.*s", len, t);
                tui_puts(s, r, r->x + 22, y, tw, TS_NORMAL, part);
                y++;
            }
            t += len;
            while (*t == ' ') t++;
        }
    }
}

static int help_key(struct app *a, enum tui_action act, int key) {
    (void)key;
    int n = rows(a), h = a->lay.body.h - 1;
    int top = a->help_l.cur, max = n - h > 0 ? n - h : 0;
    switch (act) {
    case TA_DOWN: top++; break;
    case TA_UP: top--; break;
    case TA_PGDN: top += h - 1; break;
    case TA_PGUP: top -= h - 1; break;
    case TA_HOME: top = 0; break;
    case TA_END: top = max; break;
    default: return 0;
    }
    a->help_l.cur = top < 0 ? 0 : top > max ? max : top;
    return 1;
}

const struct panel_ops panel_help = {
    .name = "help", .title = "help", .draw = help_draw, .key = help_key,
};
