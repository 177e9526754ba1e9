/*
 * bridge.c - the bridge connector: a WebSocket endpoint for one adapter
 * program at a time (see bridge.h for the behaviour, bridge_wire.h for the
 * frames).  Replies in flight are indexed by the id of the frame that is
 * out, so an adapter's `delivered` / `failed` finds its row.
 */
#include "connectors/bridge/bridge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "auth.h"
#include "connectors/bridge/bridge_wire.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "server.h"
#include "url.h"
#include "util.h"

#define JOB_BUCKETS    1024
#define TICK_MS        1000
#define REFUSED_LOG_MS 60000 /* at most one line a minute about refused adapters */
#define STOP_HOLD_SECS 10    /* a row no adapter can take while stopping waits for the next process */
#define FRAME_ID_MAX   (BRIDGE_MAX_REPLY_ID + 1)
#define RESUME_MAX     1024 /* rows remembered part-way */

struct bridge;

/* One adapter socket. */
struct bconn {
	struct bridge *br;
	struct server_ws *ws; /* NULL once closed */
	char peer[64];
	int refs;           /* posts of this socket waiting for their post_done */
	struct bconn *next; /* every socket not freed yet */
};

/* A post waiting for the commit that stores it. */
struct bpost {
	struct bconn *k;
	char *id;
};

/* An outbox row being delivered. */
struct bjob {
	int64_t id; /* outbox row */
	char *key;  /* the row's idempotency key */
	char *thread, *reply_to, *agent;
	int is_private;
	char *parts[BRIDGE_MAX_PARTS];
	size_t nparts, cur;          /* the part out (or to send) */
	char frame_id[FRAME_ID_MAX]; /* its frame's id */
	struct bconn *on;            /* the socket it went out on; NULL: waiting for an adapter */
	uint64_t sent_ms;
	struct bjob *hnext;       /* same bucket of frame_id */
	struct bjob *prev, *next; /* every job */
};

/* Where a row cut into parts goes on when it is handed over again after a
 * `failed` (or no answer) for a later part: the parts before were
 * delivered.  Kept in memory only (after a restart the adapter's
 * idempotency makes sending them again harmless). */
struct bresume {
	int64_t id;
	size_t nparts, next;
	struct bresume *nx;
};

struct bridge {
	struct connector *c;
	struct listener *li;
	char token[CONFIG_SECRET_MAX + 1];
	size_t max_len;
	struct bconn *live;  /* the adapter's socket, NULL when none */
	struct bconn *conns; /* every socket not freed yet */
	struct bjob *jobs;
	struct bjob *byid[JOB_BUCKETS];
	size_t njobs;
	struct bresume *resume; /* newest first, at most RESUME_MAX */
	uv_timer_t tick;
	int tick_on, stopping, closing;
	int wait_committing; /* a commit asked for to make a retry wait durable */
	uint64_t refused_logged_ms;
	long refused; /* refusals not logged yet */
	struct metric *m_frames, *m_adapters;
};

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

/* --- frames out ------------------------------------------------------------- */

static void send_buf(struct bconn *k, struct buf *b)
{
	if (k && k->ws && b->len)
		server_ws_send(k->ws, b->p, b->len);
	buf_free(b);
}

static void send_error(struct bconn *k, const char *error, const char *id)
{
	struct buf b;
	buf_init(&b, 0);
	bridge_error(&b, error, id);
	send_buf(k, &b);
}

/* --- replies in flight -------------------------------------------------------- */

static size_t bucket(const char *id)
{
	return (size_t)(hash64(id, strlen(id)) % JOB_BUCKETS);
}

static void hash_remove(struct bridge *br, struct bjob *j)
{
	if (!j->frame_id[0])
		return;
	for (struct bjob **pp = &br->byid[bucket(j->frame_id)]; *pp; pp = &(*pp)->hnext)
		if (*pp == j) {
			*pp = j->hnext;
			break;
		}
	j->hnext = NULL;
	j->frame_id[0] = '\0';
}

static struct bjob *job_find(struct bridge *br, const char *frame_id)
{
	for (struct bjob *j = br->byid[bucket(frame_id)]; j; j = j->hnext)
		if (strcmp(j->frame_id, frame_id) == 0)
			return j;
	return NULL;
}

/* Set the id of the job's current part (and index it by that id). */
static void job_index(struct bridge *br, struct bjob *j)
{
	hash_remove(br, j);
	if (bridge_part_id(j->frame_id, sizeof(j->frame_id), j->key, j->cur, j->nparts) < 0) {
		j->frame_id[0] = '\0';
		return;
	}
	size_t h = bucket(j->frame_id);
	j->hnext = br->byid[h];
	br->byid[h] = j;
}

static void job_free(struct bjob *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j->key);
	free(j->thread);
	free(j->reply_to);
	free(j->agent);
	free(j);
}

/* Remember that row j got up to its current part (parts before it were
 * delivered), for when the outbox hands it over again. */
static void resume_keep(struct bridge *br, const struct bjob *j)
{
	if (j->cur == 0)
		return;
	struct bresume *r = xcalloc(1, sizeof(*r));
	r->id = j->id;
	r->nparts = j->nparts;
	r->next = j->cur;
	r->nx = br->resume;
	br->resume = r;
	size_t n = 0;
	for (struct bresume **pp = &br->resume; *pp; pp = &(*pp)->nx)
		if (++n > RESUME_MAX) {
			struct bresume *old = *pp;
			*pp = old->nx;
			free(old);
			break;
		}
}

/* The part row `id` goes on from (0 when none was remembered); forgets it. */
static size_t resume_take(struct bridge *br, int64_t id, size_t nparts)
{
	for (struct bresume **pp = &br->resume; *pp; pp = &(*pp)->nx)
		if ((*pp)->id == id) {
			struct bresume *r = *pp;
			size_t next = r->nparts == nparts && r->next < nparts ? r->next : 0;
			*pp = r->nx;
			free(r);
			return next;
		}
	return 0;
}

/* The row's outcome: the job leaves the index first (the outbox may hand
 * the connector the thread's next row from inside connector_send_done). */
static void job_finish(struct bridge *br, struct bjob *j, enum send_result r, long retry_after,
                       const char *detail)
{
	hash_remove(br, j);
	if (j->prev)
		j->prev->next = j->next;
	else
		br->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	br->njobs--;
	int64_t id = j->id;
	job_free(j);
	connector_send_done(br->c, id, r, retry_after, detail);
}

/* Send the job's current part on the adapter's socket, or leave it waiting
 * for one. */
static void job_send(struct bridge *br, struct bjob *j)
{
	j->on = NULL;
	if (!br->live || !br->live->ws)
		return;
	struct buf b;
	buf_init(&b, 0);
	bridge_reply(&b, j->frame_id, j->thread, j->reply_to, j->is_private, j->parts[j->cur], j->agent);
	if (b.len && server_ws_send(br->live->ws, b.p, b.len) == 0) {
		j->on = br->live;
		j->sent_ms = time_mono_ms();
		metric_add_l(br->m_frames, 1, br->c->name, "reply");
	}
	buf_free(&b);
}

static void wait_stored(void *arg, int rc)
{
	struct bridge *br = arg;
	(void)rc;
	br->wait_committing = 0;
}

static void on_answer(struct bridge *br, const struct bridge_frame *f)
{
	struct bjob *j = job_find(br, f->id);
	if (!j) {
		/* Answered twice, or a reply of an earlier process: nothing to do. */
		struct buf q;
		quote(&q, f->id);
		log_debug("bridge: an answer for no reply in flight", "connector=%s id=%s", br->c->name, q.p);
		buf_free(&q);
		return;
	}
	if (f->type == BRIDGE_DELIVERED) {
		if (j->cur + 1 < j->nparts) {
			j->cur++;
			job_index(br, j);
			job_send(br, j);
			return;
		}
		log_debug("bridge: reply delivered", "connector=%s outbox=%" PRId64 " parts=%zu", br->c->name,
		          j->id, j->nparts);
		job_finish(br, j, SEND_OK, 0, NULL);
		return;
	}
	struct buf q;
	quote(&q, f->error ? f->error : "");
	log_info("bridge: the adapter could not deliver a reply",
	         "connector=%s outbox=%" PRId64 " retry_after_ms=%ld error=%s", br->c->name, j->id,
	         f->retry_after_ms, q.p);
	char detail[300];
	snprintf(detail, sizeof(detail), "adapter: %s", f->error ? f->error : "failed");
	resume_keep(br, j);
	if (f->retry_after_ms >= 0) {
		job_finish(br, j, SEND_LATER, (f->retry_after_ms + 999) / 1000, detail);
		/* The wait is a group write: make it durable now, so that a
		 * crash does not send the reply again before it is over. */
		if (!br->wait_committing) {
			br->wait_committing = 1;
			connector_commit(br->c, wait_stored, br);
		}
	} else
		job_finish(br, j, SEND_RETRY, 0, detail);
	buf_free(&q);
}

/* Every second: a frame the adapter has not answered goes back to the
 * outbox (sent again, same id, with its backoff). */
static void tick_cb(uv_timer_t *t)
{
	struct bridge *br = t->data;
	uint64_t now = time_mono_ms();
	struct bjob *j = br->jobs;
	while (j) {
		struct bjob *next = j->next;
		if (j->on && now - j->sent_ms > (uint64_t)BRIDGE_ANSWER_SECS * 1000) {
			log_warn("bridge: no answer from the adapter for a reply",
			         "connector=%s outbox=%" PRId64, br->c->name, j->id);
			resume_keep(br, j);
			job_finish(br, j, SEND_RETRY, 0, "no answer from the adapter");
		}
		j = next;
	}
}

/* --- sockets ------------------------------------------------------------------ */

static void conn_maybe_free(struct bconn *k)
{
	if (k->ws || k->refs > 0)
		return;
	for (struct bconn **pp = &k->br->conns; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	free(k);
}

static void refused(struct bridge *br, const char *peer, const char *why)
{
	uint64_t now = time_mono_ms();
	br->refused++;
	if (br->refused_logged_ms && now - br->refused_logged_ms < REFUSED_LOG_MS)
		return;
	log_warn("bridge: adapter refused", "connector=%s peer=%s reason=\"%s\" refused=%ld", br->c->name,
	         peer, why, br->refused);
	br->refused_logged_ms = now;
	br->refused = 0;
}

static int ws_open(struct server_ws *ws, const struct server_ws_info *info, void *arg)
{
	struct bridge *br = arg;
	const char *a = info->authorization;

	if (br->stopping || br->closing)
		return 503;
	if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
		refused(br, info->peer, "no Authorization: Bearer header");
		return 401;
	}
	if (!auth_ct_equal(a + 7, br->token)) {
		refused(br, info->peer, "wrong token");
		return 401;
	}
	struct bconn *k = xcalloc(1, sizeof(*k));
	k->br = br;
	k->ws = ws;
	snprintf(k->peer, sizeof(k->peer), "%s", info->peer ? info->peer : "-");
	k->next = br->conns;
	br->conns = k;
	server_ws_set_data(ws, k);

	struct bconn *old = br->live;
	br->live = k;
	if (old && old->ws)
		server_ws_close(old->ws, 1000, "replaced by a newer connection of the adapter");
	size_t resent = 0;
	for (struct bjob *j = br->jobs; j; j = j->next)
		if (j->on != k) {
			job_send(br, j);
			resent++;
		}
	log_info("bridge: adapter connected", "connector=%s peer=%s replaced=%s replies=%zu", br->c->name,
	         k->peer, old ? "yes" : "no", resent);
	metric_add_l(br->m_adapters, 1, br->c->name);
	connector_set_health(br->c, HEALTH_OK, "adapter connected");
	return 0;
}

static void on_post(struct bconn *k, const struct bridge_frame *f)
{
	struct bridge *br = k->br;
	struct connector *c = br->c;
	if (br->stopping) {
		send_error(k,
		           "frontdesk is stopping: the post was not taken, send it again after reconnecting",
		           f->id);
		return;
	}
	struct post p = {
	    .platform = c->name,
	    .connector = c->name,
	    .post_id = f->id,
	    .thread_key = f->thread,
	    .reply_to_id = f->id,
	    .author_id = f->author_id,
	    .author_handle = f->author_id,
	    .author_name = f->author_name,
	    .channel = c->conf ? c->conf->channel : NULL,
	    .text = f->text,
	    .author_is_bot = f->author_bot,
	    .is_public = !f->is_private,
	    .created = f->ts ? f->ts : connector_now(c),
	};
	struct bpost *bp = xcalloc(1, sizeof(*bp));
	bp->k = k;
	bp->id = xstrdup(f->id);
	k->refs++;
	if (connector_deliver_post(c, &p, bp) < 0) {
		k->refs--;
		free(bp->id);
		free(bp);
		send_error(k,
		           "the post was not taken (frontdesk is stopping): send it again after reconnecting",
		           f->id);
	}
}

static void ws_text(struct server_ws *ws, const char *text, size_t len, void *arg)
{
	struct bridge *br = arg;
	struct bconn *k = server_ws_data(ws);
	struct bridge_frame f;
	char err[BRIDGE_ERR];

	if (!k)
		return;
	if (bridge_parse(text, len, &f, err, sizeof(err)) < 0) {
		metric_add_l(br->m_frames, 1, br->c->name, "bad");
		struct buf q;
		quote(&q, err);
		log_warn("bridge: bad frame from the adapter", "connector=%s error=%s", br->c->name, q.p);
		buf_free(&q);
		send_error(k, err, f.id);
		bridge_frame_free(&f);
		return;
	}
	switch (f.type) {
	case BRIDGE_POST:
		metric_add_l(br->m_frames, 1, br->c->name, "post");
		on_post(k, &f);
		break;
	case BRIDGE_DELIVERED:
		metric_add_l(br->m_frames, 1, br->c->name, "delivered");
		on_answer(br, &f);
		break;
	case BRIDGE_FAILED:
		metric_add_l(br->m_frames, 1, br->c->name, "failed");
		on_answer(br, &f);
		break;
	}
	bridge_frame_free(&f);
}

static void ws_binary(struct server_ws *ws, void *arg)
{
	struct bridge *br = arg;
	metric_add_l(br->m_frames, 1, br->c->name, "bad");
	send_error(server_ws_data(ws), "binary frames are not part of the protocol: send JSON text", NULL);
}

static void ws_too_big(struct server_ws *ws, void *arg)
{
	struct bridge *br = arg;
	metric_add_l(br->m_frames, 1, br->c->name, "bad");
	send_error(server_ws_data(ws), "frame too large (at most 65536 bytes)", NULL);
	server_ws_close(ws, 1009, "frame too large");
}

static void ws_close(struct server_ws *ws, void *arg)
{
	struct bridge *br = arg;
	struct bconn *k = server_ws_data(ws);
	if (!k)
		return;
	server_ws_set_data(ws, NULL);
	k->ws = NULL;
	size_t waiting = 0;
	for (struct bjob *j = br->jobs; j; j = j->next)
		if (j->on == k) {
			j->on = NULL; /* sent again, same id, on the next socket */
			waiting++;
		}
	if (br->live == k) {
		br->live = NULL;
		log_info("bridge: adapter disconnected", "connector=%s peer=%s replies_waiting=%zu",
		         br->c->name, k->peer, waiting);
		if (!br->stopping && !br->closing)
			connector_set_health(br->c, HEALTH_DEGRADED, "no adapter connected");
	}
	conn_maybe_free(k);
}

static const struct server_ws_ops ws_ops = {
    .max_message = BRIDGE_MAX_FRAME,
    .on_open = ws_open,
    .on_text = ws_text,
    .on_binary = ws_binary,
    .on_too_big = ws_too_big,
    .on_close = ws_close,
};

/* --- connector ops -------------------------------------------------------------- */

static void br_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct bpost *bp = cookie;
	struct bconn *k = bp->k;
	(void)c;
	if (k->ws) {
		if (a->status == POST_FAILED) {
			/* The adapter sends what was not stored again when it
			 * reconnects: make it reconnect. */
			send_error(k, "the post could not be stored: send it again", bp->id);
			server_ws_close(k->ws, 1011, "a post could not be stored");
		} else {
			struct buf b;
			buf_init(&b, 0);
			bridge_stored(&b, bp->id);
			send_buf(k, &b);
		}
	}
	k->refs--;
	conn_maybe_free(k);
	free(bp->id);
	free(bp);
}

static int br_send(struct connector *c, const struct outmsg *m)
{
	struct bridge *br = c->priv;
	if (!connector_idem_ok(m->idem_key)) {
		connector_send_done(c, m->id, SEND_FAIL, 0,
		                    "the row's idempotency key cannot travel in a frame");
		return 0;
	}
	if (br->stopping && !br->live) {
		connector_send_done(c, m->id, SEND_LATER, STOP_HOLD_SECS, "no adapter connected");
		return 0;
	}
	struct bjob *j = xcalloc(1, sizeof(*j));
	j->id = m->id;
	if (br->max_len)
		j->nparts = outbox_split(m->text ? m->text : "", br->max_len, j->parts, BRIDGE_MAX_PARTS);
	else if (m->text && *m->text)
		j->parts[j->nparts++] = xstrdup(m->text);
	if (j->nparts == 0) {
		job_free(j);
		connector_send_done(c, m->id, SEND_FAIL, 0, "empty reply");
		return 0;
	}
	j->cur = resume_take(br, m->id, j->nparts);
	j->key = xstrdup(m->idem_key);
	j->thread = xstrdup(m->thread_key);
	j->reply_to = m->reply_to_id ? xstrdup(m->reply_to_id) : NULL;
	j->agent = m->agent && m->from && strcmp(m->from, "agent") == 0 ? xstrdup(m->agent) : NULL;
	j->is_private = m->is_private;
	j->next = br->jobs;
	if (br->jobs)
		br->jobs->prev = j;
	br->jobs = j;
	br->njobs++;
	job_index(br, j);
	job_send(br, j);
	return 0;
}

static int br_idle(struct connector *c)
{
	struct bridge *br = c->priv;
	if (!br)
		return 1;
	for (struct bconn *k = br->conns; k; k = k->next)
		if (k->refs > 0 || (k->ws && server_ws_queued(k->ws)))
			return 0;
	for (struct bjob *j = br->jobs; j; j = j->next)
		if (j->on)
			return 0;
	return 1;
}

static void br_stop(struct connector *c)
{
	struct bridge *br = c->priv;
	if (!br)
		return;
	br->stopping = 1;
	if (br->live)
		return; /* the adapter may still confirm what is out */
	struct bjob *j = br->jobs;
	while (j) {
		struct bjob *next = j->next;
		job_finish(br, j, SEND_LATER, STOP_HOLD_SECS, "no adapter connected");
		j = next;
	}
}

static void br_close(struct connector *c)
{
	struct bridge *br = c->priv;
	if (!br)
		return;
	br->closing = 1;
	if (br->tick_on) {
		uv_close((uv_handle_t *)&br->tick, NULL);
		br->tick_on = 0;
	}
}

static void br_destroy(struct connector *c)
{
	struct bridge *br = c->priv;
	if (!br)
		return;
	while (br->jobs) {
		struct bjob *j = br->jobs;
		br->jobs = j->next;
		job_free(j);
	}
	while (br->resume) {
		struct bresume *r = br->resume;
		br->resume = r->nx;
		free(r);
	}
	while (br->conns) {
		struct bconn *k = br->conns;
		br->conns = k->next;
		free(k);
	}
	explicit_bzero(br->token, sizeof(br->token));
	free(br);
	c->priv = NULL;
}

static int br_start(struct connector *c)
{
	const struct connector_conf *cc = c->conf;
	const struct bridge_conf *bc = cc ? cc->settings : NULL;
	const char *listen = cc && cc->listen ? cc->listen : BRIDGE_DEFAULT_LISTEN;
	char err[256];

	if (!bc) {
		log_error("bridge: no settings", "connector=%s", c->name);
		return -1;
	}
	struct bridge *br = xcalloc(1, sizeof(*br));
	c->priv = br;
	br->c = c;
	br->max_len = bc->max_length > 0 ? (size_t)bc->max_length : 0;
	if (connector_secret_read(c, &bc->token, "the token", br->token, sizeof(br->token)) < 0)
		return -1;
	br->li = server_listen(connector_server(c), listen, c->name, err, sizeof(err));
	if (!br->li) {
		struct buf q;
		quote(&q, err);
		log_error("bridge cannot listen", "connector=%s listen=%s error=%s", c->name, listen, q.p);
		buf_free(&q);
		return -1;
	}
	struct listener_opts lo = {.max_connections = BRIDGE_MAX_CONNECTIONS,
	                           .connections_per_address = BRIDGE_MAX_CONNECTIONS};
	if (listener_configure(br->li, &lo, err, sizeof(err)) < 0 ||
	    server_route_ws(br->li, BRIDGE_PATH, &ws_ops, br) < 0) {
		log_error("bridge: the listener cannot be set up", "connector=%s", c->name);
		return -1;
	}
	struct metrics *mx = connector_metrics(c);
	br->m_frames = metrics_counter(
	    mx, "bridge_frames_total",
	    "Bridge frames from and to the adapter (post, delivered, failed, reply, bad).", "connector,kind");
	br->m_adapters = metrics_counter(mx, "bridge_adapter_connections_total",
	                                 "Adapter connections accepted.", "connector");
	uv_timer_init(&connector_loop(c)->uv, &br->tick);
	br->tick.data = br;
	br->tick_on = 1;
	uv_timer_start(&br->tick, tick_cb, TICK_MS, TICK_MS);

	int port = listener_port(br->li);
	char host[128];
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
	snprintf(host, sizeof(host), "%.*s", (int)(hl < sizeof(host) ? hl : sizeof(host) - 1), listen);
	log_info("bridge listening", "connector=%s url=ws://%s:%d%s max_length=%zu", c->name, host, port,
	         BRIDGE_PATH, br->max_len);
	if (!url_host_is_loopback(host))
		log_warn(
		    "bridge: listening beyond this machine: the token travels in clear unless a TLS proxy "
		    "is in front",
		    "connector=%s listen=%s", c->name, listen);
	connector_set_health(c, HEALTH_STARTING, "waiting for the adapter to connect");
	return 0;
}

/* --- configuration ------------------------------------------------------------ */

static void *br_parse(struct config_parser *p)
{
	struct bridge_conf *b = xcalloc(1, sizeof(*b));
	config_key_listen(p, BRIDGE_DEFAULT_LISTEN);
	config_key_secret(p, "token", 1, "the token your adapter sends", &b->token);
	config_key_int(p, "max_length", &b->max_length, 1, BRIDGE_MAX_LENGTH);
	return b;
}

static void br_free_settings(void *settings)
{
	struct bridge_conf *b = settings;
	free(b->token.env);
	free(b->token.file);
	free(b);
}

static const char *const br_keys[] = {"listen", "token_env", "token_file", "max_length", NULL};

const struct connector_ops bridge_ops = {
    .type = "bridge",
    .max_text = 0, /* the connector cuts replies itself, to max_length */
    .caps = CONNECTOR_SHOWS_SENDER,
    .keys = br_keys,
    .parse = br_parse,
    .free_settings = br_free_settings,
    .start = br_start,
    .stop = br_stop,
    .send = br_send,
    .idle = br_idle,
    .close = br_close,
    .destroy = br_destroy,
    .post_done = br_post_done,
};
