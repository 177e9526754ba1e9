/*
 * daemon.h - the running bot: one event loop (loop.h) carrying the
 * connectors, the decision pipeline, the durable store with its group
 * commit, and the outbox (docs/architecture.md).
 *
 * For every post a connector delivers: store_lookup (duplicate check and
 * thread state) -> pipeline_decide -> store_record_post into the store's
 * open group: the post, the customer message, the reply messages and
 * outbox rows, the ticket change.  Once per loop iteration the group is
 * committed with one call (store_commit); when the store reports it
 * durable, and only then, its posts are acknowledged to their connectors
 * (web chat echo) and its outbox rows, as written, are handed to delivery.
 * The store may answer each step at once or later; the daemon never waits.
 * After a crash at any moment a restart delivers every committed,
 * undelivered row and never decides a stored post again.
 *
 * Signals: SIGHUP reloads configuration, rules and replies (an invalid new
 * configuration is logged in full and the old one keeps running; connector
 * and listener settings apply at the next start, except the dashboard's
 * hosts, trusted proxies and limits).  The new configuration is read on
 * libuv's thread pool, so however long it takes, the loop keeps serving;
 * it is switched to on the loop once complete.  SIGTERM/SIGINT stop
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
 * Commit the open group now.  Once the store reports it durable, the posts
 * in it are acknowledged and its outbox rows delivered; a lost group is
 * logged, its posts are not acknowledged, and the pending rows are read
 * again.  Returns 0 (the outcome arrives later).
 */
int daemon_commit(struct daemon *d);

#endif
