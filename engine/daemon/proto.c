/* proto.c — line framing with bounded, non-blocking buffers. */
#include "daemon/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cJSON.h>

#include "base/unicode.h"

int64_t qt_json_i64(const void *v, int64_t lo, int64_t hi, int64_t def) {
    const cJSON *j = v;
    if (!cJSON_IsNumber(j)) return def;
    double d = j->valuedouble;
    /* compare in double first: (int64_t) of a double outside the range is
     * undefined; 2^63 itself does not fit, hence the strict bound */
    if (!(d > (double)lo)) return lo;
    if (!(d < (double)hi) || !(d < 9223372036854775807.0)) return hi;
    return (int64_t)d;
}

void qt_conn_init(struct qt_conn *c, int fd) {
    memset(c, 0, sizeof *c);
    c->fd = fd;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void qt_conn_close(struct qt_conn *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

int qt_conn_fill(struct qt_conn *c, qt_err *err) {
    for (;;) {
        if (c->in_off && c->in_off == c->in_len) c->in_off = c->in_len = c->in_scan = 0;
        if (c->in_cap - c->in_len < 65536) {
            /* compact first, grow only when needed */
            if (c->in_off) {
                memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
                c->in_len -= c->in_off;
                c->in_scan -= c->in_off;
                c->in_off = 0;
            }
            if (c->in_cap - c->in_len < 65536) {
                size_t nc = c->in_cap ? c->in_cap * 2 : 131072;
                char *p = realloc(c->in, nc + 1);
                if (!p) return qt_err_set(err, "connection: out of memory");
                c->in = p;
                c->in_cap = nc;
            }
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r > 0) {
            c->in_len += (size_t)r;
            /* never hold more than one oversized line's worth */
            if (c->in_len - c->in_off > QT_PROTO_LINE_MAX + 65536) return QT_OK;
            continue;
        }
        if (r == 0) { c->eof = 1; return QT_OK; }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return QT_OK;
        return qt_err_set(err, "connection: %s", strerror(errno));
    }
}

int qt_conn_line(struct qt_conn *c, char **line, size_t *len) {
    for (;;) {
        char *base = c->in + c->in_off;
        size_t avail = c->in_len - c->in_off;
        size_t from = c->in_scan > c->in_off ? c->in_scan - c->in_off : 0;
        char *nl = avail > from ? memchr(base + from, '\n', avail - from) : NULL;
        if (c->discarding) {
            if (!nl) { c->in_off = c->in_scan = c->in_len; return 0; }
            c->in_off += (size_t)(nl - base) + 1;
            c->in_scan = c->in_off;
            c->discarding = 0;
            continue;
        }
        if (!nl) {
            c->in_scan = c->in_len;
            if (avail > QT_PROTO_LINE_MAX) {
                c->discarding = 1;
                c->in_off = c->in_scan = c->in_len;
                return 2;
            }
            return 0;
        }
        size_t n = (size_t)(nl - base);
        c->in_off += n + 1;
        c->in_scan = c->in_off;
        if (n > QT_PROTO_LINE_MAX) return 2;
        *nl = 0;
        if (n && base[n - 1] == '\r') base[--n] = 0;
        *line = base;
        *len = n;
        return 1;
    }
}

int qt_conn_queue(struct qt_conn *c, const char *data, size_t len) {
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_cap - c->out_len < len) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_cap - c->out_len < len) {
            size_t nc = c->out_cap ? c->out_cap : 65536;
            while (nc - c->out_len < len) nc *= 2;
            char *p = realloc(c->out, nc);
            if (!p) return QT_ERR;
            c->out = p;
            c->out_cap = nc;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return QT_OK;
}

char *qt_json_print(const void *msg) {
    char *s = cJSON_PrintUnformatted((const cJSON *)msg);
    if (!s) return NULL;
    size_t n = strlen(s);
    if (qt_utf8_valid(s, n)) return s;
    char *t = qt_utf8_sanitize(s, n, NULL);
    free(s);
    return t;
}

int qt_json_has_nul(const char *s, size_t n) {
    if (memchr(s, 0, n)) return 1;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) { if (s[i] == '"') in_str = 1; continue; }
        if (s[i] == '"') { in_str = 0; continue; }
        if (s[i] != '\\' || i + 1 >= n) continue;
        i++;   /* the escaped character: \\ and \" are consumed here */
        if (s[i] == 'u' && i + 4 < n && !memcmp(s + i + 1, "0000", 4)) return 1;
    }
    return 0;
}

int qt_conn_send(struct qt_conn *c, const void *msg) {
    char *s = qt_json_print(msg);
    if (!s) return QT_ERR;
    size_t n = strlen(s);
    int rc = qt_conn_queue(c, s, n);
    if (rc == QT_OK) rc = qt_conn_queue(c, "\n", 1);
    free(s);
    return rc;
}

size_t qt_conn_pending(const struct qt_conn *c) { return c->out_len - c->out_off; }

int qt_conn_flush(struct qt_conn *c, qt_err *err) {
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w > 0) { c->out_off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return QT_OK;
        return qt_err_set(err, "connection: %s", w < 0 ? strerror(errno) : "closed");
    }
    return QT_OK;
}

int qt_conn_flush_wait(struct qt_conn *c, int timeout_ms, qt_err *err) {
    int waited = 0;
    for (;;) {
        if (qt_conn_flush(c, err)) return QT_ERR;
        if (!qt_conn_pending(c)) return QT_OK;
        if (waited >= timeout_ms) return qt_err_set(err, "connection: peer does not read");
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        poll(&p, 1, 50);
        waited += 50;
    }
}
