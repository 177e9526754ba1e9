/*
 * daemon.h - the running bot: one event loop (loop.h) carrying the
 * connectors, the decision pipeline, the durable store with its group
 * commit, and the outbox (DESIGN.md, "Architecture").
 *
 * For every post a connector delivers: duplicate check -> thread state ->
 * pipeline_decide -> in the loop iteration's one transaction: the post, the
 * customer message, the reply messages and outbox rows, the ticket change.
 * Once per loop iteration the transaction commits (one fsync for every post
 * of the iteration); only then are posts acknowledged to their connectors
 * (web chat echo) and the new outbox rows delivered.  After a crash at any
 * moment a restart delivers every committed, undelivered row and never
 * decides a stored post again.
 *
 * Signals: SIGHUP reloads configuration, rules and replies (an invalid new
 * configuration is logged in full and the old one keeps running; connector
 * and listener settings apply at the next start).  SIGTERM/SIGINT stop
 * intake, deliver what is due for up to 5 s and exit 0.
 *
 * Ownership: everything daemon_run creates is freed before it returns.
 */
#ifndef FD_DAEMON_H
#define FD_DAEMON_H

#include <stdint.h>

struct daemon;

/*
 * Run the daemon with the configuration at config_path until SIGTERM or
 * SIGINT.  Returns the process exit code: 0 after a clean stop, 1 on a
 * runtime failure (store cannot be opened, a listener cannot bind), 2 when
 * the configuration is invalid (every error printed on stderr).
 */
int daemon_run(const char *config_path);

/*
 * Commit the open group transaction now and deliver what it made due:
 * acknowledgements of the posts in it, and every pending outbox row
 * (re-read from the store, so rows written by other modules in the
 * transaction need no separate announcement).  0, or -1 when the commit
 * failed (everything since the last commit is rolled back and logged).
 */
int daemon_commit(struct daemon *d);

#endif
