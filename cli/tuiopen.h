/* tuiopen.h — opening the workbench from a command (open, attach). */
#ifndef QT_TUIOPEN_H
#define QT_TUIOPEN_H
#include "loop.h"

/* Opens the workbench on session (NULL: named after the model) with model
 * (NULL: the session's model, as attach does) and runs it on the terminal or
 * the QTUNE_SCRIPT script.  calib (may be NULL) submits a calib job over that
 * text first.  inproc runs the engine in this process.  Returns
 * the exit code.  Weak so that commands linking it stay optional. */
int qt_tui_open(const char *model, const char *recipe, const char *session, const char *calib, int inproc,
                const struct tui_opts *o) __attribute__((weak));

#endif
