/* daemon.h — the engine daemon of one session: a poll() loop serving the
 * JSON-lines protocol of docs/protocol.md on a Unix socket (or on
 * socketpair ends handed in, for --no-daemon and tests), running jobs in
 * forked worker processes, keeping the session directory and a bounded
 * event log for re-attaching clients. */
/* Folder daemon/ (docs/architecture.md), the top layer: the engine daemon
 * (protocol, the declarative op table, jobs) and its client library, the
 * only part of the engine the TUI links against for work.  The only folder
 * that includes sessions/; nothing but daemon/ includes daemon/. */
#ifndef QT_DAEMON_H
#define QT_DAEMON_H
#include "base/qt.h"

struct qt_daemon;

/* Opens session NAME (created when missing) for serving: takes the
 * session's lock (fails "a daemon already runs" otherwise), opens the log,
 * loads the event log and the jobs (a job the previous daemon left running
 * becomes "interrupted").  With listen set, binds the session socket
 * (checking the socket directory, removing a stale socket); without, serves
 * only connections given to qt_daemon_add_client and ends when the last of
 * them closes.  Free with qt_daemon_free. */
int qt_daemon_new(const char *session, int listen, struct qt_daemon **out, qt_err *err);

/* Double fork + setsid.  In the original process sets *is_parent = 1 once the
 * daemon is ready (its socket accepts connections); that process should then
 * call qt_daemon_forget and exit.  In the daemon sets *is_parent = 0, points
 * stdin/stdout at /dev/null and stderr at the session's daemon.log. */
int qt_daemon_detach(struct qt_daemon *d, int *is_parent, qt_err *err);

/* Copies daemon log lines to stderr as well (foreground mode). */
void qt_daemon_log_to_stderr(struct qt_daemon *d, int on);

/* Hands a connected stream socket to the daemon (which closes it). */
int qt_daemon_add_client(struct qt_daemon *d, int fd, qt_err *err);

/* Serves until a shutdown request, SIGTERM/SIGINT (when handle_signals),
 * or, without a socket, until the last client has gone.  Running jobs are
 * cancelled before it returns. */
int qt_daemon_run(struct qt_daemon *d, int handle_signals, qt_err *err);

/* Releases everything: removes the socket, drops the lock. */
void qt_daemon_free(struct qt_daemon *d);
/* Frees memory only (the parent side after qt_daemon_detach). */
void qt_daemon_forget(struct qt_daemon *d);

const char *qt_daemon_socket_path(const struct qt_daemon *d);

#endif
