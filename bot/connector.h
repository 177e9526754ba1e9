/*
 * connector.h - the one small interface every platform implements
 * (DESIGN.md: start, stop, send, cursor for catch-up, health).
 *
 * Data flow: a connector turns platform events into `struct post` and hands
 * each to connector_deliver_post(); the daemon decides and records it in the
 * current group transaction, and once that transaction is durable it calls
 * ops->post_done() for the post (that is the moment to echo it to a web chat
 * client or to advance a catch-up cursor; never earlier).  Later the outbox
 * asks the connector to send rows with ops->send(); the connector reports
 * the outcome of every send with connector_send_done(), possibly from inside
 * ops->send itself.
 *
 * Connector types are registered in daemon.c (connector_type()); the
 * daemon creates one struct connector per configured connector and starts
 * it with the loop, store and HTTP server it runs.
 *
 * Ownership: the daemon owns every struct connector (allocated from the
 * config's connector list); a connector's private state hangs off `priv` and
 * is freed by ops->destroy.  Strings in a struct outmsg and a struct
 * post_ack are borrowed for the duration of the call only.  The cookie
 * passed to connector_deliver_post is the connector's and is handed back
 * unchanged to ops->post_done exactly once.
 */
#ifndef FD_CONNECTOR_H
#define FD_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "post.h"

struct daemon;
struct connector_conf;
struct connector;
struct loop;
struct server;
struct store;
struct metrics;
struct config;

/* One reply (or message) to deliver, from an outbox row. */
struct outmsg {
	int64_t id; /* outbox row id */
	const char *thread_key;
	const char *reply_to_id; /* platform post id the reply answers, or NULL */
	const char *text;        /* already cut to the platform's length limit */
	const char *idem_key;    /* stable across retries of this row */
	const char *from;        /* "bot" or "agent" */
	const char *agent;       /* agent's display name, or NULL */
	int64_t message_id;      /* stored conversation message id (web chat history) */
	time_t ts;               /* when the message was written */
	int is_private;
	int attempt; /* 0 on the first try */
};

enum send_result {
	SEND_OK = 0, /* delivered */
	SEND_RETRY,  /* transient failure: retry with backoff (or after retry_after) */
	SEND_FAIL    /* permanent failure: give up and log (e.g. 4xx validation) */
};

/* What became of a post handed to connector_deliver_post. */
enum post_status {
	POST_STORED = 0, /* durably stored (and decided) */
	POST_DUPLICATE,  /* already stored earlier: not decided again */
	POST_FAILED      /* could not be stored (commit failed): not acknowledged */
};

struct post_ack {
	enum post_status status;
	/* The customer's stored message (the original one for a duplicate),
	 * 0 if failed, and its stored time. */
	int64_t message_id;
	time_t ts;
	const char *client_id; /* as given in the post, or NULL */
};

enum connector_health { HEALTH_STARTING = 0, HEALTH_OK, HEALTH_DEGRADED, HEALTH_DOWN };

struct connector_ops {
	const char *type;
	size_t max_text;                   /* platform's message length limit in characters, 0 = none */
	int (*start)(struct connector *c); /* 0 or -1 (logged) */
	void (*stop)(struct connector *c); /* stop intake; keep what delivery needs */
	int (*send)(struct connector *c, const struct outmsg *m); /* async; 0 queued, -1 retry later */
	int (*idle)(struct connector *c);                         /* 1 when nothing is in flight (drain) */
	void (*close)(struct connector *c);   /* teardown: uv_close its own uv handles (may be NULL) */
	void (*destroy)(struct connector *c); /* free priv (after the loop ended) */
	/* After the group commit: the fate of a post delivered with `cookie`.
	 * May be NULL when the connector does not care. */
	void (*post_done)(struct connector *c, void *cookie, const struct post_ack *a);
};

struct connector {
	const struct connector_ops *ops;
	struct daemon *daemon;
	const struct connector_conf *conf;
	char *name; /* "webchat", "mastodon", or the configured name */
	enum connector_health health;
	char health_detail[128]; /* e.g. "401 from instance: check the token" */
	int64_t paused_until_ms; /* outbox: a rate limit holds every send until then */
	void *priv;
};

/* The registered type called `type` ("webchat", ...), or NULL. */
const struct connector_ops *connector_type(const char *type);

/*
 * Called by a connector for every incoming post.  Returns 0 when the post
 * was taken (ops->post_done follows after the commit, exactly once), or -1
 * when it was refused at once (the daemon is stopping, or the post is
 * invalid; logged): no post_done then.
 */
int connector_deliver_post(struct connector *c, const struct post *p, void *cookie);
/* Called by a connector when a send finished; retry_after > 0 asks the
 * outbox not to retry before that many seconds. */
void connector_send_done(struct connector *c, int64_t outbox_id, enum send_result r, long retry_after,
                         const char *detail);
/* Store and read a connector's catch-up cursor (daemon.c implements).
 * get: 1 with the cursor in out, 0 none, -1 error. */
int connector_cursor_get(struct connector *c, char *out, size_t n);
void connector_cursor_set(struct connector *c, const char *cursor);
void connector_set_health(struct connector *c, enum connector_health h, const char *detail);

/* What the daemon lends its connectors (borrowed; valid while running). */
struct loop *connector_loop(struct connector *c);
struct server *connector_server(struct connector *c);
struct store *connector_store(struct connector *c);
struct metrics *connector_metrics(struct connector *c);
/* The running configuration (replaced on reload: do not keep pointers
 * into it across loop iterations; c->conf stays valid for the whole run). */
const struct config *connector_config(struct connector *c);
/* The daemon's clock (epoch seconds). */
time_t connector_now(struct connector *c);
/* Is the business open now (business hours of the running config)? */
int connector_business_open(struct connector *c);
/* 1 once the daemon is stopping: take no new posts. */
int connector_stopping(struct connector *c);

#endif
