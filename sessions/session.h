/* session.h — the session store: one directory per session under
 * $QTUNE_HOME (or $XDG_STATE_HOME/qtune, default ~/.local/state/qtune)
 * /sessions/NAME/, holding session.json, the current recipe, every edit in
 * history/ (undo/redo, crash recovery), variants A and B, a preview cache and
 * one directory per job.  Every file is written atomically (temp + fsync +
 * rename); history is the source of truth and recipe.yaml its mirror. */
/* Folder sessions/ (docs/architecture.md): the on-disk session store, just
 * above base/ (which it alone includes); only daemon/ uses it. */
#ifndef QT_SESSION_H
#define QT_SESSION_H
#include <stddef.h>

#include "base/qt.h"

#define QT_SESSION_NAME_MAX 64

/* Flags of qt_session_open.  Without QT_SESSION_WRITE the session is opened
 * read-only: nothing on disk changes (no repair, no tail dropped) and every
 * writing call fails.  Writers take an exclusive flock on the session
 * directory around each change (and re-read session.json under it), so a
 * reader (qtune ls) or a second writer never sees or makes half an edit. */
#define QT_SESSION_CREATE 1   /* create the tree when missing (implies WRITE) */
#define QT_SESSION_WRITE 2

/* Largest recipe / session.json the store reads (bytes). */
#define QT_SESSION_FILE_MAX ((size_t)64 << 20)

struct qt_session {
    char *name;
    char *dir;            /* .../sessions/NAME */
    char *model;          /* absolute model path, NULL when none opened yet */
    double created;       /* unix time */
    int hist_cur;         /* history entry that is the current recipe (0: empty) */
    int hist_max;         /* newest entry; > hist_cur after undo */
    int writable;         /* opened with QT_SESSION_WRITE */
    char note[512];       /* "" or what open recovered from (a malformed
                           * session.json rebuilt from history/): for the log */
};

/* Writes the qtune state home ($QTUNE_HOME, else $XDG_STATE_HOME/qtune, else
 * $HOME/.local/state/qtune) into buf.  Fails when no candidate is set. */
int qt_session_home(char *buf, size_t n, qt_err *err);

/* 1 when name is a valid session name: 1..64 of [A-Za-z0-9._-], not
 * starting with '.'. */
int qt_session_name_ok(const char *name);

/* Opens session NAME with flags QT_SESSION_* (0: read-only, existing).
 * Fails with "no such session" unless QT_SESSION_CREATE.  Refuses a state
 * home, sessions/ or session tree that is a link, not owned by the user or
 * writable by group/others.  A session.json that is unreadable or whose
 * history is missing or wrong is never trusted to delete anything: the
 * cursor is rebuilt from history/ and recipe.yaml (s->note says so) and, when
 * writable, session.json is rewritten (the bad one kept as
 * session.json.bad).  A writer also repairs recipe.yaml from history and
 * drops a redo tail left by a crash.  Free with qt_session_free. */
int qt_session_open(const char *name, int flags, struct qt_session **out, qt_err *err);
void qt_session_free(struct qt_session *s);

/* Records the model path (made absolute) in session.json. */
int qt_session_set_model(struct qt_session *s, const char *model, qt_err *err);

/* Writes "<dir>/<rel>" into buf (size n); returns buf. */
char *qt_session_path(const struct qt_session *s, const char *rel, char *buf, size_t n);

/* Reads the session file rel ("jobs/3/job.json") the safe way: never
 * through a link, only a regular file owned by the user, at most
 * QT_SESSION_FILE_MAX bytes.  Caller frees; NULL with err filled (errno
 * ENOENT for a missing file). */
char *qt_session_read(const struct qt_session *s, const char *rel, size_t *len, qt_err *err);

/* The current recipe text (caller frees); "" when no edit yet. */
char *qt_session_recipe(const struct qt_session *s, qt_err *err);

/* Makes text the current recipe as a new numbered history entry; entries
 * after the current one (the redo tail) are dropped. */
int qt_session_recipe_set(struct qt_session *s, const char *text, qt_err *err);

/* Moves one entry back / forward in history and rewrites recipe.yaml.
 * Fail with "nothing to undo" / "nothing to redo" at the ends. */
int qt_session_undo(struct qt_session *s, qt_err *err);
int qt_session_redo(struct qt_session *s, qt_err *err);
int qt_session_can_undo(const struct qt_session *s);
int qt_session_can_redo(const struct qt_session *s);

/* Variant slots 'A' .. 'Z' (variants/X.yaml).  get returns NULL with no
 * error when the slot is empty (err->msg[0] == 0); caller frees.  drop
 * empties a slot (not an error when it is empty). */
int qt_session_variant_store(struct qt_session *s, char slot, const char *text, qt_err *err);
char *qt_session_variant_get(const struct qt_session *s, char slot, qt_err *err);
int qt_session_variant_drop(struct qt_session *s, char slot, qt_err *err);
/* The letters of the slots that hold a variant, in order, NUL-terminated
 * into out (n >= 27 holds all); returns how many. */
int qt_session_variant_slots(const struct qt_session *s, char *out, size_t n);

/* The session's settings (settings.json: the deploy GPU, the eval text,
 * ctx and chunks the workbench uses), NULL with no error when none were
 * stored yet; caller frees.  store writes the whole text. */
char *qt_session_settings(const struct qt_session *s, qt_err *err);
int qt_session_settings_store(struct qt_session *s, const char *text, qt_err *err);

/* Creates jobs/ID/ with the next free id (1, 2, ...); *id gets it and
 * dir (size n) its path. */
int qt_session_job_new(struct qt_session *s, int *id, char *dir, size_t n, qt_err *err);

/* Job ids present under jobs/, ascending; *ids is malloc'd (caller frees). */
int qt_session_job_ids(const struct qt_session *s, int **ids, int *n, qt_err *err);

/* The session's job token (32 hex digits, NUL-terminated, into tok):
 * a random secret the user's daemon keeps in the session (mode 0600) and
 * writes into every job it creates; a job.json without it was not made by
 * this user's daemon and is never run.  Created on first use (writers). */
int qt_session_token(struct qt_session *s, char tok[33], qt_err *err);

/* Checks that dir is a directory (not a link unless follow), owned by the
 * user and not writable by group or others; what names it in messages. */
int qt_session_check_dir(const char *dir, const char *what, int follow, qt_err *err);

/* Names of every session under the home, sorted; free with
 * qt_session_names_free. */
int qt_session_list(char ***names, int *n, qt_err *err);
void qt_session_names_free(char **names, int n);

/* Writes the socket path for session name into buf:
 * $XDG_RUNTIME_DIR/qtune/NAME.sock, else /tmp/qtune-$UID/NAME.sock.  When
 * mkdir is set, creates the directory 0700.  Checks that the directory is a
 * directory (not a link), owned by the user, mode 0700; fails otherwise with
 * a message saying how to fix it. */
int qt_session_socket_path(const char *name, int mkdir_it, char *buf, size_t n, qt_err *err);

#endif
