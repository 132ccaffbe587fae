/* outdir.h — the output paths every writer shares (the compressed-tensors
 * writer, the GGUF writer, the daemon's quantize job, `qtune quantize`):
 * refusing an existing output unless forced, creating missing parent
 * directories (mkdir -p), a temporary name beside the output
 * (OUT.partial-XXXXXX, a directory or a file) that is renamed to OUT only
 * when complete, and removing what a failed write left.  Nothing here
 * prints; every failure is one "<path>: <why>" in err. */
#ifndef QT_OUTDIR_H
#define QT_OUTDIR_H
#include <stddef.h>

#include "base/qt.h"

/* QT_OK when out does not exist or force is set; else QT_ERR with
 * "<out>: already exists (<how>)", how NULL: "use --force to replace it". */
int qt_outdir_check(const char *out, int force, const char *how, qt_err *err);

/* mkdir -p of the directory that holds path (path itself is not created). */
int qt_outdir_parents(const char *path, qt_err *err);

/* Creates the directory OUT.partial-XXXXXX (mode 0755) beside out; its name
 * goes to tmp (size n, at least strlen(out) + 16). */
int qt_outdir_tmpdir(const char *out, char *tmp, size_t n, qt_err *err);

/* Creates the file OUT.partial-XXXXXX (mode 0644) beside out, its name in
 * tmp (size n); returns the open descriptor, or -1 with err filled. */
int qt_outdir_tmpfile(const char *out, char *tmp, size_t n, qt_err *err);

/* Renames the finished tmp (a directory from qt_outdir_tmpdir) to out.  An
 * existing out is replaced only when force is set, moved aside first so that
 * a failure never loses both (the message then names where the old one
 * is); fsyncs out's parent. */
int qt_outdir_publish(const char *tmp, const char *out, int force, qt_err *err);

/* fsync of a directory / of the directory that holds path; 0 or -1. */
int qt_outdir_sync(const char *dir);
int qt_outdir_sync_parent(const char *path);

/* Removes a file or a directory tree (a partial output); QT_OK when it does
 * not exist. */
int qt_outdir_rmtree(const char *path, qt_err *err);

#endif
