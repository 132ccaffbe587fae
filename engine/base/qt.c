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

int qt_open_regular(const char *path, int flags, struct stat *st, qt_err *err) {
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
    if (fd < 0) {
        if (errno == ELOOP && (flags & O_NOFOLLOW))
            qt_err_set(err, "%s: is a symbolic link; refusing to follow it", path);
        else
            qt_err_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        const char *what = S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISDIR(sb.st_mode) ? "a directory"
                         : S_ISSOCK(sb.st_mode) ? "a socket" : (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) ? "a device"
                         : "not regular";
        qt_err_set(err, "%s: not a regular file (%s)", path, what);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (st) *st = sb;
    return fd;
}

int qt_str_ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !memcmp(s + a - b, suf, b);
}

char *qt_read_file_ex(const char *path, size_t *len, size_t max, int flags, qt_err *err) {
    struct stat st;
    int fd = qt_open_regular(path, flags, &st, err);
    if (fd < 0) return NULL;
    if ((uint64_t)st.st_size > (uint64_t)max) {
        qt_err_set(err, "%s: %llu bytes, more than the %llu this file may have", path,
                   (unsigned long long)st.st_size, (unsigned long long)max);
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

char *qt_read_file(const char *path, size_t *len, qt_err *err) {
    return qt_read_file_ex(path, len, QT_READ_FILE_MAX, 0, err);
}

int qt_write_file_atomic(const char *path, const void *data, size_t len, qt_err *err) {
    /* pid and a per-process counter: two threads (or a crashed earlier
     * writer of the same pid) never share a temp file */
    static _Atomic unsigned seq;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d-%u", path, (int)getpid(), seq++) >= (int)sizeof tmp)
        return qt_err_set(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
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
