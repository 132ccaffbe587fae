/* qt.c — errors, small file helpers, clocks. */
#include "base/qt.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int qt_err_set(qt_err *err, const char *fmt, ...) {
    if (!err) return QT_ERR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return QT_ERR;
}

int qt_err_prefix(qt_err *err, const char *fmt, ...) {
    if (!err) return QT_ERR;
    char pre[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%.400s: %.600s", pre, old);
    return QT_ERR;
}

char *qt_strdup(const char *s) { return s ? strdup(s) : NULL; }
char *qt_strndup(const char *s, size_t n) { return s ? strndup(s, n) : NULL; }

char *qt_read_file(const char *path, size_t *len, qt_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { qt_err_set(err, "%s: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        qt_err_set(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) { qt_err_set(err, "%s: out of memory", path); close(fd); return NULL; }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) { free(buf); qt_err_set(err, "%s: short read", path); return NULL; }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int qt_write_file_atomic(const char *path, const void *data, size_t len, qt_err *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp)
        return qt_err_set(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return qt_err_set(err, "%s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd); unlink(tmp);
            return qt_err_set(err, "%s: %s", path, strerror(e));
        }
        p += w; left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd); unlink(tmp);
        return qt_err_set(err, "%s: fsync: %s", path, strerror(e));
    }
    if (close(fd) != 0) { int e = errno; unlink(tmp); return qt_err_set(err, "%s: %s", path, strerror(e)); }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return qt_err_set(err, "%s: rename: %s", path, strerror(e));
    }
    char dcopy[4096];
    snprintf(dcopy, sizeof dcopy, "%s", path);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    return QT_OK;
}

int qt_nthreads(void) {
    const char *s = getenv("QTUNE_THREADS");
    if (s && atoi(s) > 0) return atoi(s);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

int qt_mkdirs(const char *dir, mode_t mode, qt_err *err) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return qt_err_set(err, "%s: path too long", dir);
    for (char *s = buf; *s; s++) {
        if (*s != '/' || s == buf) continue;
        *s = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST) return qt_err_set(err, "%s: %s", buf, strerror(errno));
        *s = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return qt_err_set(err, "%s: %s", buf, strerror(errno));
    return QT_OK;
}

double qt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int qt_share_find(const char *rel, char *out, size_t n) {
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *const dirs[] = {"share", "../share/qtune", "../share"};
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
            if (snprintf(out, n, "%s/%s/%s", exe, dirs[i], rel) < (int)n && access(out, R_OK) == 0) return 1;
        }
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && snprintf(out, n, "%s/share/%s", cwd, rel) < (int)n && access(out, R_OK) == 0)
        return 1;
    return 0;
}
