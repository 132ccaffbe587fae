/* outdir.c — output paths shared by every writer (outdir.h). */
#include "io/outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int qt_outdir_check(const char *out, int force, const char *how, qt_err *err) {
    struct stat st;
    if (!force && stat(out, &st) == 0)
        return qt_err_set(err, "%s: already exists (%s)", out, how ? how : "use --force to replace it");
    return QT_OK;
}

/* The directory that holds path into d (size n): "." when none is named. */
static void parent_of(const char *path, char *d, size_t n) {
    snprintf(d, n, "%s", path);
    char *sl = strrchr(d, '/');
    if (sl && sl != d) *sl = 0;
    else if (sl) sl[1] = 0;
    else snprintf(d, n, ".");
}

int qt_outdir_parents(const char *path, qt_err *err) {
    char d[PATH_MAX];
    if (snprintf(d, sizeof d, "%s", path) >= (int)sizeof d) return qt_err_set(err, "%s: path too long", path);
    char *sl = strrchr(d, '/');
    if (!sl || sl == d) return QT_OK;
    *sl = 0;
    return qt_mkdirs(d, 0755, err);
}

int qt_outdir_tmpdir(const char *out, char *tmp, size_t n, qt_err *err) {
    if (snprintf(tmp, n, "%s.partial-XXXXXX", out) >= (int)n) return qt_err_set(err, "%s: path too long", out);
    if (!mkdtemp(tmp)) return qt_err_set(err, "%s: cannot create: %s", tmp, strerror(errno));
    chmod(tmp, 0755);   /* mkdtemp makes it 0700; a checkpoint is shared like its source */
    return QT_OK;
}

int qt_outdir_tmpfile(const char *out, char *tmp, size_t n, qt_err *err) {
    if (snprintf(tmp, n, "%s.partial-XXXXXX", out) >= (int)n) {
        qt_err_set(err, "%s: path too long", out);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        qt_err_set(err, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    fchmod(fd, 0644);
    return fd;
}

int qt_outdir_sync(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int qt_outdir_sync_parent(const char *path) {
    char d[PATH_MAX];
    parent_of(path, d, sizeof d);
    return qt_outdir_sync(d);
}

int qt_outdir_publish(const char *tmp, const char *out, int force, qt_err *err) {
    struct stat st;
    if (stat(out, &st) == 0) {
        if (!force) return qt_err_set(err, "%s: already exists (use --force to replace it)", out);
        char old[PATH_MAX + 32];
        const char *tag = strrchr(tmp, '-');
        snprintf(old, sizeof old, "%s.old-%s", out, tag ? tag + 1 : "x");
        if (rename(out, old) != 0) return qt_err_set(err, "%s: cannot move aside: %s", out, strerror(errno));
        if (rename(tmp, out) != 0) {
            int e = errno;
            if (rename(old, out) != 0)   /* keep old: the message names it */
                return qt_err_set(err, "%s: %s (previous checkpoint left at %s)", out, strerror(e), old);
            return qt_err_set(err, "%s: %s", out, strerror(e));
        }
        qt_err e2;
        qt_outdir_rmtree(old, &e2);
    } else if (rename(tmp, out) != 0) {
        return qt_err_set(err, "%s: %s", out, strerror(errno));
    }
    qt_outdir_sync_parent(out);
    return QT_OK;
}

int qt_outdir_rmtree(const char *path, qt_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? QT_OK : qt_err_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0) return qt_err_set(err, "%s: %s", path, strerror(errno));
        return QT_OK;
    }
    DIR *d = opendir(path);
    if (!d) return qt_err_set(err, "%s: %s", path, strerror(errno));
    struct dirent *de;
    int rc = QT_OK;
    char sub[PATH_MAX];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (qt_outdir_rmtree(sub, err) != QT_OK) rc = QT_ERR;
    }
    closedir(d);
    if (rmdir(path) != 0 && rc == QT_OK) rc = qt_err_set(err, "%s: %s", path, strerror(errno));
    return rc;
}
