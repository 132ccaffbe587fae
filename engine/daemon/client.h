/* client.h — the client side of the engine protocol (docs/protocol.md),
 * used by the TUI and the CLI.  Connects to a session's daemon (starting one
 * when none runs) or runs a daemon in-process over a socketpair, says hello,
 * then sends requests and hands back replies and events without ever
 * blocking the caller, except in qt_client_call, which waits for one reply.
 *
 * TUI loop:
 *     struct pollfd p[] = {{0, POLLIN}, {qt_client_fd(c), qt_client_poll_events(c)}, ...};
 *     poll(p, n, timeout);
 *     if (p[1].revents) {
 *         if (qt_client_pump(c, &err)) -> engine gone: show it, offer reconnect
 *         for (cJSON *m; (m = qt_client_next(c)); cJSON_Delete(m))
 *             handle reply (has "id") or event (has "event");
 *     }
 *     qt_client_send(c, req, &err) to ask; match replies by the returned id. */
#ifndef QT_CLIENT_H
#define QT_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "base/qt.h"

struct qt_client;

#define QT_CLIENT_START  1   /* start `qtune engine --session NAME` when none runs */
#define QT_CLIENT_INPROC 2   /* run the daemon in a thread of this process (--no-daemon) */
#define QT_CLIENT_RAW    4   /* connect only: no hello (the caller speaks for itself) */

/* Connects to session's daemon and says hello.  since >= 0 asks for every
 * event after that seq (the replay arrives through qt_client_next); -1 asks
 * for none.  The daemon binary started with QT_CLIENT_START is
 * $QTUNE_ENGINE_BIN, else /proc/self/exe.  Free with qt_client_close. */
int qt_client_connect(const char *session, int flags, int64_t since,
                      struct qt_client **out, qt_err *err);

/* The hello reply's result (session, daemon_pid, seq, model, jobs, ...);
 * owned by the client. */
const cJSON *qt_client_hello(const struct qt_client *c);

/* The socket to poll, and the events to poll it for. */
int qt_client_fd(const struct qt_client *c);
short qt_client_poll_events(const struct qt_client *c);

/* Sends a request.  Takes ownership of req; gives it an integer "id" when it
 * has none and returns that id (>= 1), or -1 with err.  With the environment
 * variable QTUNE_CLIENT_TRACE=FILE (read at connect) each request's line is
 * also appended to FILE: tests count what a key press sends. */
int qt_client_send(struct qt_client *c, cJSON *req, qt_err *err);
/* Sends raw bytes as they are (tests, `qtune attach --raw`). */
int qt_client_send_raw(struct qt_client *c, const char *data, size_t len, qt_err *err);

/* Reads what the socket has and writes what is queued, without blocking.
 * QT_ERR when the daemon has gone ("engine: connection closed"). */
int qt_client_pump(struct qt_client *c, qt_err *err);

/* Next received message (reply or event) or NULL; caller frees.  A line
 * that is not JSON comes back as {"raw": "..."}. */
cJSON *qt_client_next(struct qt_client *c);

/* Sends req and waits up to timeout_ms for its reply; messages that arrive
 * meanwhile stay queued for qt_client_next.  Returns the reply's "result"
 * (caller frees) or NULL with err (the daemon's error, a timeout or a lost
 * connection). */
cJSON *qt_client_call(struct qt_client *c, cJSON *req, int timeout_ms, qt_err *err);

struct qt_model;
/* The session's model as its daemon describes it (`model`, then `tensors`
 * in the compact form, paged): the tensor table (names, shapes, dtypes,
 * roles, layers, experts, fused groups, bytes) and the config's counts, no
 * files and no weights.  What a thin client shows instead of opening the
 * model itself.  Waits (startup); free with qt_model_free. */
int qt_client_model(struct qt_client *c, struct qt_model **out, qt_err *err);

/* Seq of the newest event handed out by qt_client_next (or the hello seq):
 * pass it as since when reconnecting. */
int64_t qt_client_last_seq(const struct qt_client *c);

/* Closes the connection (an in-process daemon is stopped and joined). */
void qt_client_close(struct qt_client *c);

/* Whether a daemon serves session NAME: 1 yes, 0 no, QT_ERR when the socket
 * directory is unsafe (err says why).  Writes the socket path to sock. */
int qt_client_probe(const char *session, char *sock, size_t n, qt_err *err);

#endif
