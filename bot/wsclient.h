/*
 * wsclient.h - the one WebSocket client every platform connector uses
 * (Mastodon streaming, Slack Socket Mode, the Discord gateway, Mattermost).
 *
 * It does what every such connection needs, so a connector only speaks its
 * platform's frames:
 *   - connect to a ws:// or wss:// URL (ws:// only on loopback) with an
 *     Authorization header and any other handshake headers; TLS verified;
 *   - reassemble fragmented messages up to conf.max_message bytes (a longer
 *     one is dropped whole and reported through ops.lost, so the connector
 *     can fetch what it may have held); binary messages are dropped with a
 *     log line unless conf.binary_ok;
 *   - keepalive: a ping after conf.ping_idle_ms of silence, and a zombie
 *     watchdog that drops a connection silent for conf.dead_ms (a pong or
 *     any frame counts as life; lws answers the server's pings itself);
 *   - one retry path for every failure (refused upgrade, lost socket,
 *     zombie, close from the server): the connector's `closed` callback
 *     says what the close means (its close-code policy; the default is
 *     wsclient_policy_default) and the client reconnects with exponential
 *     backoff and full jitter (backoff.h), at once, slowly after a fatal
 *     error, or not at all;
 *   - health and the log: connector health `degraded` with the reason while
 *     it retries, connector_fatal() (error line + `down` in /healthz) for
 *     what a person must fix (401 at the upgrade, Discord 4004, Slack
 *     link_disabled), `ok` on open unless the connector reports readiness
 *     itself (conf.ready_on_open = 0, e.g. after Discord READY);
 *   - frames to send are queued and written from lws's WRITEABLE callback.
 *
 * The URL may change on every attempt (Slack asks apps.connections.open,
 * Discord resumes on resume_gateway_url): before each attempt the client
 * calls ops.url; a connector that must ask a REST API first returns
 * WSCLIENT_URL_PENDING and later calls wsclient_connect_url (or
 * wsclient_url_failed).  The retry timer never overlaps an attempt, so a
 * Tier-1 endpoint is never called in a loop.
 *
 * Threading and timers: everything runs on the loop thread; timers are uv
 * timers (LOOP-NOTES.md), lws is only asked for writeable callbacks.
 *
 * Life cycle (matching the connector ops):
 *   wsclient_new      in ops->start (creates its own lws client vhost)
 *   wsclient_start    first attempt (from a 0 ms timer, never inside new)
 *   wsclient_stop     in ops->stop: no more attempts, close with 1000
 *   wsclient_resume   in ops->resume: attempts again after a stop (a
 *                     connector that runs in one process at a time was
 *                     handed the lead back)
 *   wsclient_close    in ops->close: uv_close the timers, close the socket
 *   wsclient_free     in ops->destroy, after the loop ended
 *
 * Ownership: the client copies conf (strings included) and borrows the
 * connector, ops and arg for its whole life.  Message data passed to
 * ops.message is borrowed for the call only.
 */
#ifndef FD_WSCLIENT_H
#define FD_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct connector;
struct wsclient;

#define WSCLIENT_URL_MAX     2048
#define WSCLIENT_MAX_HEADERS 8
#define WSCLIENT_SENDQ_MAX   1024                 /* queued frames before wsclient_send refuses */
#define WSCLIENT_SENDQ_BYTES (4u * 1024u * 1024u) /* queued bytes before it refuses */

/* What a connection's end means (ops.closed's verdict). */
enum wsclient_next {
	WSCLIENT_RETRY = 0, /* reconnect after the backoff delay */
	WSCLIENT_RETRY_NOW, /* reconnect at once (a server's "reconnect" request) */
	WSCLIENT_FATAL,     /* a person must act: connector_fatal(detail), retry after conf.fatal_retry_ms */
	WSCLIENT_STOP,      /* never again (the connector gave up or will restart it) */
	WSCLIENT_IDLE       /* this connection was one of several and is no longer needed
	                       (Slack's old socket after a refresh): no retry, no change of
	                       health; wsclient_start begins again */
};

/* How a connection ended. */
struct wsclient_close {
	int was_open;         /* the upgrade had succeeded */
	unsigned http_status; /* the upgrade was refused with this status, else 0 */
	int code;             /* close code the server sent, 0 when none (dropped socket) */
	const char *reason;   /* its reason text, or the connect error; "" when none */
	int by_us;            /* we closed it: wsclient_close_now, the watchdog, a stop */
	int zombie;           /* ... because it was silent for conf.dead_ms */
};

enum wsclient_url { WSCLIENT_URL_READY = 0, WSCLIENT_URL_PENDING, WSCLIENT_URL_FAILED };

struct wsclient_ops {
	/* The URL for the next attempt into url (n bytes): READY; PENDING when
	 * the connector will call wsclient_connect_url or wsclient_url_failed
	 * itself; FAILED (with a reason in url) to back off and ask again. */
	enum wsclient_url (*url)(void *arg, char *url, size_t n);
	/* The upgrade succeeded. */
	void (*open)(void *arg);
	/* One whole message (binary only with conf.binary_ok). */
	void (*message)(void *arg, const char *data, size_t len, int binary);
	/* A message was dropped (larger than conf.max_message): what it held
	 * may be missing, fetch it another way.  May be NULL. */
	void (*lost)(void *arg);
	/* The connection ended (or the attempt failed): the close-code policy.
	 * Write a reason for the log and /healthz into detail (n bytes; it
	 * holds a default).  NULL = wsclient_policy_default. */
	enum wsclient_next (*closed)(void *arg, const struct wsclient_close *c, char *detail, size_t n);
};

struct wsclient_conf {
	const char *label;         /* log prefix, usually the platform ("mastodon") */
	const char *authorization; /* the Authorization header's value ("Bearer x", "Bot x"), or NULL */
	const char *headers[WSCLIENT_MAX_HEADERS + 1]; /* more "Name: value" lines, NULL-terminated */
	const char *subprotocol;                       /* Sec-WebSocket-Protocol, or NULL */
	size_t max_message;                            /* reassembly cap in bytes (default 1 MiB) */
	int binary_ok;                                 /* accept binary messages (default: drop them) */
	long ping_idle_ms;                             /* ping after this much silence (0 = never) */
	long dead_ms;                                  /* drop a connection silent this long (0 = never) */
	long backoff_min_ms;  /* retry delays: min + full jitter up to ... (default 1 s) */
	long backoff_base_ms; /* ... base * 2^attempt (default 1 s) ... */
	long backoff_cap_ms;  /* ... capped here (default 299 s: at most 5 min) */
	long fatal_retry_ms;  /* after WSCLIENT_FATAL (default 5 min; < 0 = never) */
	long stable_ms;       /* an open connection this old resets the backoff (default 30 s) */
	int report_ready;     /* 1: the connector sets health ok itself (after its hello);
	                         0: ok as soon as the upgrade succeeds */
	int stop_close_code;  /* close code when stopping (default 1000; Discord keeps a
	                         session resumable with another, e.g. 4000) */
};

/* The default close-code policy: an upgrade refused with 401 or 403 is
 * fatal ("HTTP 401 at the WebSocket upgrade: check the token"); close
 * 1008 (policy violation) is fatal; anything else is retried. */
enum wsclient_next wsclient_policy_default(const struct wsclient_close *c, char *detail, size_t n);

/* A client for connector c (NULL and logged when lws cannot make its vhost). */
struct wsclient *wsclient_new(struct connector *c, const struct wsclient_conf *conf,
                              const struct wsclient_ops *ops, void *arg);
/* The first attempt, from a timer on the next loop iteration. */
void wsclient_start(struct wsclient *w);
/* A pending URL is ready (after WSCLIENT_URL_PENDING). */
void wsclient_connect_url(struct wsclient *w, const char *url);
/* It could not be had: `next` as ops.closed would say (RETRY: after the
 * backoff, or not before delay_ms when > 0, e.g. a rate-limit reset;
 * FATAL: a person must act; STOP), `why` for the log and /healthz. */
void wsclient_url_failed(struct wsclient *w, const char *why, enum wsclient_next next, long delay_ms);

/*
 * Queue one text (or binary) message; it is written when lws says the
 * socket is writeable.  0, or -1 when the connection is not open or the
 * queue is full (the caller keeps it and tries again after open).
 */
int wsclient_send(struct wsclient *w, const char *data, size_t len, int binary);
/* Close the connection now with `code` (and reason); the ops.closed
 * verdict decides what follows (by_us set).  No-op when not connected. */
void wsclient_close_now(struct wsclient *w, int code, const char *reason);
/* Replace the Authorization value for the next attempts (a token re-read
 * after a 401); NULL = none. */
void wsclient_set_authorization(struct wsclient *w, const char *value);
/* The same with "Bearer <token>" (an OAuth-style access token); a NULL or
 * empty token, or one with a line break, sets none. */
void wsclient_set_bearer(struct wsclient *w, const char *token);
/* Forget the backoff: the connection proved healthy (hello, READY). */
void wsclient_healthy(struct wsclient *w);

/* 1 while the upgrade has succeeded and the socket is open. */
int wsclient_is_open(const struct wsclient *w);
/* Connections opened so far. */
unsigned long wsclient_connections(const struct wsclient *w);

void wsclient_stop(struct wsclient *w);
/* Undo wsclient_stop: connect again (now, or once the close under way ended). */
void wsclient_resume(struct wsclient *w);
void wsclient_close(struct wsclient *w);
void wsclient_free(struct wsclient *w);

#endif
