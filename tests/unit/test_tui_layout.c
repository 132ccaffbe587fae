/* test_tui_layout.c — the layout is a pure function: over every terminal size
 * from 1x1 to 300x100 the rectangles stay on screen, the body is tiled by
 * tree | separator | side, and sizes below 80x24 get the "too small" screen.
 * Also: the key table binds every key once and every action has a key.
 * (tui/ is not part of libqtengine, so the sources are included here.) */
#include "tu.h"

#include "keys.c"
#include "layout.c"

static int inside(struct tui_rect r, int w, int h) {
    return r.x >= 0 && r.y >= 0 && r.w >= 0 && r.h >= 0 && r.x + r.w <= w && r.y + r.h <= h;
}

TU_TEST(layout_all_sizes) {
    int bad = 0;
    for (int w = 1; w <= 300; w++) {
        for (int h = 1; h <= 100; h++) {
            struct tui_layout L;
            tui_layout_compute(w, h, &L);
            int small = w < TUI_MIN_W || h < TUI_MIN_H;
            if (L.too_small != small) { bad++; continue; }
            if (small) {
                if (L.small.w != w || L.small.h != h) bad++;
                continue;
            }
            struct tui_rect rs[] = {L.status, L.body, L.tree, L.sep, L.side, L.msg, L.hints};
            for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
                if (!inside(rs[i], w, h) || rs[i].w < 1 || rs[i].h < 1) bad++;
            /* tiling: tree, sep, side side by side, exactly the body */
            if (L.tree.x != 0 || L.sep.x != L.tree.w || L.side.x != L.tree.w + 1 ||
                L.side.x + L.side.w != w || L.tree.h != L.body.h || L.side.h != L.body.h)
                bad++;
            /* status, body, msg, hints stack without gaps or overlap */
            if (L.status.y != 0 || L.body.y != 1 || L.msg.y != L.body.y + L.body.h ||
                L.hints.y != L.msg.y + 1 || L.hints.y != h - 1)
                bad++;
            /* the side pane keeps room for the detail's table */
            if (L.side.w < 32 || L.tree.w < 40) bad++;
        }
    }
    TU_CHECKF(bad == 0, "%d bad layouts", bad);
}

TU_TEST(layout_minimum_exact) {
    struct tui_layout L;
    tui_layout_compute(80, 24, &L);
    TU_CHECK(!L.too_small);
    TU_CHECK(L.body.h == 21);
    tui_layout_compute(79, 24, &L);
    TU_CHECK(L.too_small);
    tui_layout_compute(80, 23, &L);
    TU_CHECK(L.too_small);
}

TU_TEST(keys_table) {
    /* every action has a parseable key; no key is bound to two actions */
    int seen[TA_COUNT] = {0};
    int codes[256], owner[256], n = 0, dup = 0;
    for (int i = 0; i < tui_n_keydefs; i++) {
        TU_CHECK((int)tui_keydefs[i].action == i + 1);
        TU_CHECK(tui_keydefs[i].help && tui_keydefs[i].help[0]);
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s", tui_keydefs[i].keys);
        char *save = NULL;
        for (char *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            int k = tui_key_parse(t);
            TU_CHECKF(k != 0, "key %s", t);
            for (int j = 0; j < n; j++)
                if (codes[j] == k && owner[j] != i) dup++;
            if (n < 256) { codes[n] = k; owner[n++] = i; }
            TU_CHECK(tui_key_action(k) == tui_keydefs[i].action);
            seen[tui_keydefs[i].action] = 1;
        }
    }
    TU_CHECKF(dup == 0, "%d keys bound twice", dup);
    for (int a = 1; a < TA_COUNT; a++) TU_CHECKF(seen[a], "action %d has no key", a);
}

TU_TEST(keys_names) {
    TU_CHECK(tui_key_parse("j") == 'j');
    TU_CHECK(tui_key_parse("<Down>") == TK_DOWN);
    TU_CHECK(tui_key_parse("<C-l>") == 12);
    TU_CHECK(tui_key_parse("<Space>") == ' ');
    TU_CHECK(tui_key_parse("<lt>") == '<');
    TU_CHECK(tui_key_parse("<Nope>") == 0);
    TU_CHECK(tui_key_parse("jj") == 0);
    TU_CHECK(tui_key_parse("\xc3\xa9") == 0xe9);
    char b[16];
    TU_CHECK(!strcmp(tui_action_key(TA_HELP, b, sizeof b), "?"));
    TU_CHECK(!strcmp(tui_action_key(TA_MARK, b, sizeof b), "Space"));
}

int main(void) {
    TU_RUN(layout_all_sizes);
    TU_RUN(layout_minimum_exact);
    TU_RUN(keys_table);
    TU_RUN(keys_names);
    return TU_END();
}
