/*
 * bridge.h - the `bridge` connector: any platform frontdesk does not speak
 * itself, through a small adapter program that connects to frontdesk over
 * a WebSocket and speaks the bridge protocol (DESIGN.md "Bridge protocol";
 * docs/bridge-protocol.md for adapter writers; bridge_wire.h for the
 * frames; tools/bridge-adapter.mjs is the reference adapter).
 *
 *     connectors:
 *       - type: bridge
 *         name: irc                        # the platform's name: dashboard, rules' channel
 *         listen: 127.0.0.1:8090           # ws://127.0.0.1:8090/bridge
 *         token_env: FRONTDESK_BRIDGE_TOKEN   # or token_file:
 *         max_length: 400                  # optional: the platform's limit (characters)
 *
 * The adapter connects to ws://{listen}/bridge with "Authorization: Bearer
 * <token>" (compared in constant time; a wrong or missing one is refused
 * with 401 before the upgrade).  One adapter at a time: a newer connection
 * replaces the older one, which is closed with 1000 (an adapter that
 * reconnects before frontdesk noticed its old socket die is the usual
 * case).  /healthz says `starting` until the first adapter connects, `ok`
 * while one is connected and `degraded` while none is.
 *
 * Intake.  A `post` is handed to the pipeline and answered with `stored`
 * once the transaction that holds it is durable (post_done), never
 * earlier; a post whose id is stored already is answered `stored` again
 * and not decided again (the store dedupes on (platform, id)).  A post
 * that could not be stored gets an `error` with its id and the socket is
 * closed with 1011, so the adapter reconnects and sends it again.  While
 * frontdesk stops, posts get an `error` ("stopping") and are left to the
 * adapter for the next process.  Posts from `author.bot` are stored and
 * never answered.  The connector's name (default "bridge") is the
 * platform of its posts and threads: the ids an adapter sends are its
 * own, two bridges never mix them, and rules and per-channel replies see
 * the name as the channel unless `channel` says otherwise.
 *
 * Replies.  Each outbox row goes out as `reply` frames on the adapter's
 * socket, and the row is done when the adapter answers `delivered` for
 * its last frame.  A reply longer than `max_length` is cut at word /
 * character boundaries (outbox_split) and its parts go one after the
 * other, the next once the previous one was delivered; part ids are
 * "<key>/1", "<key>/2"... (bridge_part_id), the row's idempotency key
 * when it is one part.  When a later part fails, the row goes back to the
 * outbox and, handed over again, goes on from that part (remembered in
 * memory; after a restart it starts again at part 1, which the adapter's
 * idempotency makes harmless).  A frame that was sent and not answered when the
 * socket went away is sent again, same id, on the next adapter's socket;
 * rows wait (in the outbox, in flight) while no adapter is connected, and
 * a frame unanswered for BRIDGE_ANSWER_SECS goes back to the outbox to be
 * retried.  `failed` with `retry_after_ms` delays that row only
 * (SEND_LATER: the wait is stored with the row); without it the outbox's
 * backoff applies (SEND_RETRY).  Private replies carry "private": true:
 * the adapter delivers them one-to-one (to the author of `reply_to`).
 * An agent's reply carries "agent" and is not signed in its text (the
 * adapter shows the name as its platform allows).
 *
 * Limits: frames at most BRIDGE_MAX_FRAME bytes (a longer one gets an
 * `error` and close 1009); a bad frame gets an `error` and the socket
 * stays open; BRIDGE_MAX_CONNECTIONS sockets on the listener.
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op; per-socket state is freed when the socket has
 * closed and no post of it waits for its post_done.
 */
#ifndef FD_BRIDGE_H
#define FD_BRIDGE_H

#include "config.h"
#include "connector.h"

#define BRIDGE_DEFAULT_LISTEN  "127.0.0.1:8090"
#define BRIDGE_PATH            "/bridge"
#define BRIDGE_ANSWER_SECS     60 /* a reply frame unanswered this long is retried */
#define BRIDGE_MAX_CONNECTIONS 8  /* sockets on the bridge's listener */
#define BRIDGE_MAX_PARTS       16 /* a reply cut to max_length: at most this many frames */
#define BRIDGE_MAX_LENGTH      100000

/* The settings of one bridge (connector_conf.settings), besides `listen`. */
struct bridge_conf {
	struct config_secret token;
	long max_length; /* characters of one platform message, 0 = no limit */
};

extern const struct connector_ops bridge_ops;

#endif
