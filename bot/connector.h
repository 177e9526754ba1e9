/*
 * connector.h - the one small interface every platform implements
 * (DESIGN.md: start, stop, send, cursor for catch-up, health).
 *
 * Data flow: a connector turns platform events into `struct post` and hands
 * each to connector_deliver_post(); the daemon decides, commits, and later
 * asks the connector to send outbox rows with ops->send().  The connector
 * reports the outcome of every send with connector_send_done().
 *
 * Ownership: the daemon owns every struct connector (allocated from the
 * config's connector list); a connector's private state hangs off `priv` and
 * is freed by ops->destroy.  Strings in a struct outmsg are borrowed for the
 * duration of ops->send only.
 */
#ifndef FD_CONNECTOR_H
#define FD_CONNECTOR_H

#include <stdint.h>
#include <time.h>

#include "post.h"

struct daemon;
struct connector_conf;
struct connector;

/* One reply (or message) to deliver, from an outbox row. */
struct outmsg {
	int64_t id;              /* outbox row id */
	const char *thread_key;
	const char *reply_to_id; /* platform post id the reply answers, or NULL */
	const char *text;        /* already cut to the platform's length limit */
	const char *idem_key;    /* stable across retries of this row */
	const char *from;        /* "bot" or "agent" */
	const char *agent;       /* agent's display name, or NULL */
	int64_t message_id;      /* stored conversation message id (web chat history) */
	int is_private;
	int attempt;             /* 0 on the first try */
};

enum send_result {
	SEND_OK = 0,      /* delivered */
	SEND_RETRY,       /* transient failure: retry with backoff (or after retry_after) */
	SEND_FAIL         /* permanent failure: give up and log (e.g. 4xx validation) */
};

enum connector_health { HEALTH_STARTING = 0, HEALTH_OK, HEALTH_DEGRADED, HEALTH_DOWN };

struct connector_ops {
	const char *type;
	size_t max_text;                 /* platform's message length limit, bytes/chars */
	int (*start)(struct connector *c);              /* 0 or -1 (logged) */
	void (*stop)(struct connector *c);              /* stop intake; close sockets */
	int (*send)(struct connector *c, const struct outmsg *m); /* async; 0 queued, -1 retry later */
	int (*idle)(struct connector *c);               /* 1 when nothing is in flight (drain) */
	void (*destroy)(struct connector *c);           /* free priv */
};

struct connector {
	const struct connector_ops *ops;
	struct daemon *daemon;
	const struct connector_conf *conf;
	char *name;                   /* "webchat", "mastodon", or the configured name */
	enum connector_health health;
	char health_detail[128];      /* e.g. "401 from instance: check the token" */
	void *priv;
};

/* Called by a connector for every incoming post (daemon.c implements). */
void connector_deliver_post(struct connector *c, const struct post *p);
/* Called by a connector when a send finished; retry_after > 0 asks the
 * outbox not to retry before that many seconds. */
void connector_send_done(struct connector *c, int64_t outbox_id, enum send_result r, long retry_after,
			 const char *detail);
/* Store and read a connector's catch-up cursor (daemon.c implements). */
int connector_cursor_get(struct connector *c, char *out, size_t n);
void connector_cursor_set(struct connector *c, const char *cursor);
void connector_set_health(struct connector *c, enum connector_health h, const char *detail);

#endif
