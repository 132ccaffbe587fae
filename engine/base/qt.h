/* qt.h — conventions shared by every engine module.
 *
 * The engine never prints and never exits.  A function that can fail returns
 * QT_OK (0) or QT_ERR (-1) and, on failure, fills a qt_err with one line of
 * the form "<what>: <why>" (usually "<file>: <problem>") that the caller
 * shows as "qtune: <msg>". */
/* Folder base/ (docs/architecture.md), the bottom layer: errors (qt_err),
 * files (whole-file reads, atomic writes, mkdir -p), the hash map, dtypes and
 * their conversions, the YAML tree, number formatting, Unicode tables.  It
 * knows nothing of models or quantization and includes no other folder. */
#ifndef QT_H
#define QT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define QT_OK 0
#define QT_ERR (-1)
#define QT_VERSION "0.1.0"

typedef struct qt_err {
    char msg[1024];
} qt_err;

/* Formats a message into err (may be NULL) and returns QT_ERR. */
int qt_err_set(qt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes an existing message: "<prefix>: <old msg>"; returns QT_ERR. */
int qt_err_prefix(qt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation helpers that never return NULL for n > 0 unless out of memory;
 * callers check.  qt_strdup(NULL) returns NULL. */
char *qt_strdup(const char *s);
char *qt_strndup(const char *s, size_t n);
/* 1 when s ends with suffix suf (both NUL-terminated). */
int qt_str_ends_with(const char *s, const char *suf);

/* Opens path read-only for a reader that needs a regular file: refuses a
 * FIFO, device, socket or directory with "<path>: not a regular file"
 * instead of blocking on it (the open itself never waits).  flags adds to
 * O_RDONLY|O_CLOEXEC (e.g. O_NOFOLLOW); st (may be NULL) gets fstat's answer.
 * Returns the fd (blocking mode) or -1 with err filled. */
int qt_open_regular(const char *path, int flags, struct stat *st, qt_err *err);

/* Largest file qt_read_file reads whole: a bigger one is refused, never
 * allocated (tokenizer.json of large vocabularies is ~30 MB). */
#define QT_READ_FILE_MAX ((size_t)1 << 30)

/* Reads a whole (small) regular file; *len gets its size; caller frees.  For
 * JSON configs, tokenizers and recipes, never for weights (those are
 * mmap'd).  Refuses non-regular files and files over QT_READ_FILE_MAX. */
char *qt_read_file(const char *path, size_t *len, qt_err *err);
/* The same with a size bound (bytes) and open flags added (O_NOFOLLOW for
 * session files). */
char *qt_read_file_ex(const char *path, size_t *len, size_t max, int flags, qt_err *err);

/* Writes data to path atomically: temp file in the same directory
 * (PATH.tmp-PID-N, created exclusively, never through a link), fsync, rename,
 * fsync of the directory.  A write error (disk full, EFBIG past ulimit -f)
 * is reported and the temp file removed. */
int qt_write_file_atomic(const char *path, const void *data, size_t len, qt_err *err);

/* mkdir -p: creates dir and each missing parent with mode; QT_OK when it
 * already exists. */
int qt_mkdirs(const char *dir, mode_t mode, qt_err *err);

/* Number of worker threads to use (QTUNE_THREADS or the online CPUs). */
int qt_nthreads(void);

/* Monotonic clock in seconds. */
double qt_now(void);

/* A file qtune ships under share/ (rel: "gpus.yaml", "data/calib.txt"):
 * beside the binary (share/REL, then ../share/qtune/REL and ../share/REL),
 * else share/REL in the working directory.  Fills out and returns 1 when a
 * readable file is found, else 0. */
int qt_share_find(const char *rel, char *out, size_t n);

#endif
