/*
 * queue_cli.h - `frontdesk queue`: work the human queue from a shell, on
 * the same store the running daemon uses (docs/queue-cli.md).
 *
 *   queue list [--json] [--status open|waiting|claimed|resolved|all]
 *   queue show ID [--json]
 *   queue claim ID --agent LOGIN
 *   queue reply ID --agent LOGIN TEXT...
 *   queue release ID [--agent LOGIN]
 *   queue resolve ID [--agent LOGIN]
 *
 * Writes go through the store's ticket functions in one short transaction
 * each (SQLite's busy timeout waits for the daemon's group commit); the
 * daemon notices the change (store_external_change) and delivers a reply
 * from its outbox.  Exit codes: 0 ok, 1 runtime failure (store error, no
 * such ticket, ticket already resolved), 2 bad usage or configuration.
 *
 * Output: a table for people (due as "in 2h 10m" / "overdue 15m", the last
 * message cut to the terminal's width, control characters shown as
 * spaces); with --json the documented objects, one array for list, one
 * object for show.
 */
#ifndef FD_QUEUE_CLI_H
#define FD_QUEUE_CLI_H

#include <stddef.h>
#include <time.h>

/* argv[0] is "queue".  config_path may be NULL only for --help. */
int queue_main(const char *config_path, int argc, char **argv);

/*
 * "in 2h 10m", "in 45m", "in 3d 4h", "due now" (within a minute),
 * "overdue 15m", "overdue 1d 2h"; "-" when due is 0.  Writes at most n
 * bytes including the NUL.  For tests.
 */
void queue_relative(time_t due, time_t now, char *out, size_t n);

/*
 * Append `text` to out as at most `cols` terminal columns (wide characters
 * count two), control characters and line breaks as spaces, bidi controls
 * (markup_bidi_control) as U+FFFD, ending in "…"
 * when cut.  Invalid UTF-8 bytes become U+FFFD.  For tests.
 */
struct buf;
void queue_fit(struct buf *out, const char *text, size_t cols);

#endif
