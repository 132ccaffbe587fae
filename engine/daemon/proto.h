/* proto.h — framing of the engine protocol: one JSON object per line over a
 * stream socket (docs/protocol.md).  A qt_conn buffers input until a whole
 * line is there and output until the socket takes it, so neither side ever
 * blocks on the other. */
#ifndef QT_PROTO_H
#define QT_PROTO_H
#include <stddef.h>
#include <stdint.h>

#include "base/qt.h"

#define QT_PROTO_VERSION 1
#define QT_PROTO_LINE_MAX (1 << 20)   /* longest accepted line, bytes */

struct qt_conn {
    int fd;
    char *in;              /* (in_cap) received bytes; [in_off, in_len) unconsumed */
    size_t in_off, in_len, in_cap, in_scan;
    int discarding;        /* 1 while skipping the rest of an oversized line */
    char *out;             /* (out_cap) bytes to send; [out_off, out_len) pending */
    size_t out_off, out_len, out_cap;
    int eof;               /* peer closed its side */
};

/* A JSON number (cJSON *) as an int64 clamped to [lo, hi]; def when v is not
 * a number.  Never casts an out-of-range double (1e300, -1e300). */
int64_t qt_json_i64(const void *v, int64_t lo, int64_t hi, int64_t def);

/* Takes fd (made non-blocking); qt_conn_close closes it and frees buffers. */
void qt_conn_init(struct qt_conn *c, int fd);
void qt_conn_close(struct qt_conn *c);

/* Reads whatever the socket has without blocking; sets c->eof when the peer
 * closed.  QT_ERR on a socket error. */
int qt_conn_fill(struct qt_conn *c, qt_err *err);

/* Next complete line: returns 1 and sets *line (NUL-terminated, newline
 * removed, valid until the next call on c) and *len; 0 when no complete line
 * is buffered; 2 when a line over QT_PROTO_LINE_MAX was dropped (once per
 * such line; its remainder is skipped as it arrives). */
int qt_conn_line(struct qt_conn *c, char **line, size_t *len);

/* A message printed unformatted (malloc'd) and made valid UTF-8: a tensor
 * name or file text that is not UTF-8 never leaves the daemon as such
 * (bad bytes become U+FFFD).  NULL when out of memory. */
char *qt_json_print(const void *cjson);

/* 1 when a JSON text carries a NUL: a raw 0 byte or a \u0000 escape inside
 * a string.  cJSON would cut the string there, silently; requests that
 * carry one are refused instead. */
int qt_json_has_nul(const char *s, size_t n);

/* Queues one message (cJSON *, printed unformatted + '\n') or raw bytes. */
int qt_conn_send(struct qt_conn *c, const void *cjson);
int qt_conn_queue(struct qt_conn *c, const char *data, size_t len);

/* Writes what the socket accepts now; QT_ERR when the peer is gone. */
int qt_conn_flush(struct qt_conn *c, qt_err *err);
/* Bytes still queued for output. */
size_t qt_conn_pending(const struct qt_conn *c);
/* Flushes, waiting up to timeout_ms for the socket to take everything. */
int qt_conn_flush_wait(struct qt_conn *c, int timeout_ms, qt_err *err);

#endif
