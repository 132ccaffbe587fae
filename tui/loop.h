/* loop.h — running the workbench: on a terminal (event loop over stdin, the
 * engine socket and a self-pipe for SIGWINCH; one frame per batch of input)
 * or from a script onto a virtual screen (golden tests, benchmarks).
 *
 * Script files (QTUNE_SCRIPT=FILE): one command per line; blank lines and
 * lines starting with '#' are skipped.
 *   KEY [KEY ...]     keys separated by blanks: a character (`j`, `+`, `/`)
 *                     or a name in angle brackets: <Up> <Down> <Left> <Right>
 *                     <PgUp> <PgDn> <Home> <End> <Enter> <Tab> <BTab> <Esc>
 *                     <BS> <Del> <F1> <Space> <lt> (a literal '<'), <C-x>,
 *                     mouse events <Click:X,Y> <WheelUp:X,Y> <WheelDown:X,Y>
 *                     (screen cells, 0-based)
 *   :type TEXT        types TEXT (everything after one blank) key by key
 *   :dump FILE        writes the screen as text (UTF-8, trailing blanks
 *                     trimmed) to FILE, relative to the current directory
 *   :size WxH         resizes the virtual screen (as a SIGWINCH would)
 *   :wait-idle        waits until the engine has answered everything
 *                     asked so far (previews, job state), at most 60 s
 * The screen starts at COLUMNS x LINES from the environment, else 80x24.
 * The script ends at its last line, or when the app quits or detaches. */
#ifndef QT_TUI_LOOP_H
#define QT_TUI_LOOP_H
#include "base/qt.h"
#include "source.h"

struct tui_opts {
    int ascii, no_color;
};

/* Outcomes. */
enum { TUI_QUIT = 0, TUI_DETACH = 1 };

/* Runs on the terminal until quit or detach; returns TUI_QUIT, TUI_DETACH
 * or QT_ERR with err filled (not a terminal, unusable TERM). */
int tui_run(struct src *s, const struct tui_opts *o, qt_err *err);
/* Runs the script at path on a virtual screen. */
int tui_run_script(struct src *s, const struct tui_opts *o, const char *path, qt_err *err);

#endif
