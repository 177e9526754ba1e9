/*
 * telegram.c - the Telegram connector (see telegram.h for what it does,
 * telegram_wire.h for the formats).
 *
 * Three machines share one struct tg:
 *
 *   boot/poll  getMe -> deleteWebhook -> getUpdates, again and again; one
 *              uv timer for every wait (backoff, 409, 401, 429).  A batch
 *              of updates is confirmed (the next getUpdates' offset) only
 *              once every post of it came back from post_done and the
 *              notes the batch wrote are durable (connector_commit).
 *   chats      what the connector knows of each chat it writes to: who is
 *              sending there now (one message at a time per chat), when it
 *              last did (its pace), the highest message id seen in its
 *              numbering; and of each business connection.
 *   sends      rest.h's queue of jobs (an outbox row, possibly several
 *              messages); ready_at holds a job while its chat is busy or
 *              paced and while the global pace is spent; each message is
 *              marked durably before it goes (connector_commit), and a job
 *              whose mark says its fate is unknown looks for it first.
 *
 * All timers are uv timers (LOOP-NOTES.md).
 */
#include "connectors/telegram/telegram.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "backoff.h"
#include "connectors/telegram/telegram_wire.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "rest.h"
#include "store.h"
#include "url.h"
#include "util.h"

#define PLATFORM      "telegram"
#define DEFAULT_API   "https://api.telegram.org"
#define UPDATES_MAX   (8u * 1024u * 1024u) /* one getUpdates answer */
#define SEND_BODY_MAX (256u * 1024u)
#define CHATS_KEEP    4096 /* chats remembered before idle ones are forgotten */
#define SENT_KEEP     32   /* message ids of ours remembered per chat */
#define KNOWN_KEEP    4096 /* message ids seen, remembered in all */
#define PROBE_RETRIES 3
#define DRAIN_POLLS   50               /* full batches read at start before sending anyway */
#define UNRESOLVED_MS (2L * 60 * 1000) /* a chat waits this long at most for a lost reply's look-up */
#define POLL_HELD_MS  2000L            /* a poll cut after this long was answered by a live server */
#define PROBE_SLACK   (TELEGRAM_MAX_INFLIGHT + 16)
#define MARK_KIND     "sending"
#define OURS_KIND     "ours"
#define CONN_KIND     "conn"
#define BCHAT_KIND    "bchat"
#define LIMIT_KIND    "limit"
#define UNAUTHORIZED  "401 from Telegram: check the token"
#define CONFLICT      "409 from Telegram: another program is reading this bot's updates"

struct tg;

/* A chat the connector writes to ("<chat>" or "b/<conn>/<chat>"). */
struct tg_chat {
	char key[TG_MAX_KEY];
	int64_t chat_id;
	char conn[TG_MAX_CONN + 1];
	struct tg_job *owner;                   /* the job whose message is on its way here */
	unsigned refs;                          /* jobs that name it */
	int64_t last_ms;                        /* the last send to it began or ended */
	int64_t minute[TELEGRAM_GROUP_PER_MIN]; /* groups: the last sends */
	size_t mi;
	int64_t max_id;          /* own numbering (supergroups): highest id seen */
	int64_t sent[SENT_KEEP]; /* ids of our messages here: since start, and the
	                            last TELEGRAM_OURS_KEEP of earlier runs (ours_state) */
	size_t si;
	int ours_state; /* those of earlier runs: 0 not read yet, 1 being read, 2 read */
	/* A row whose message here may have gone without our knowing (its
	 * mark in flight): nothing else is sent here until it was looked for
	 * (or until unresolved_until), or a message of another row could be
	 * taken for it.  0 none. */
	int64_t unresolved;
	int64_t unresolved_until;
	time_t last_in; /* Business chats: the last message in it, 0 unknown */
	int64_t used_ms;
};

/* A business connection. */
struct tg_conn {
	char id[TG_MAX_CONN + 1];
	int64_t owner;
	int enabled, can_reply, known;
	int64_t max_id; /* the owner's numbering: highest id seen */
};

/* The durable note that a message of row `id` may be on its way. */
struct tg_mark {
	int part;
	int64_t floor; /* highest id known in the chat's numbering when it went */
	int inflight;  /* 1: sent or about to be, fate unknown until answered */
};

/* One reply (an outbox row) on its way, possibly as several messages. */
struct tg_job {
	struct rest_job link; /* first: the queue's */
	struct tg *tg;
	int64_t id;
	struct tg_chat *chat; /* where it goes */
	int64_t chat_id, topic;
	char conn[TG_MAX_CONN + 1];
	int64_t reply_to, reply_chat;
	char *parts[TELEGRAM_MAX_PARTS];
	size_t nparts, next_part;
	int probe;     /* the mark says its fate is unknown: look first */
	int64_t floor; /* of that mark */
	int64_t probe_id, probe_end;
	int probes;        /* requests made looking */
	int probe_retries; /* of them, asked again after a failure */
	int waiting;       /* a state read or a sync is under way */
};

/* A post handed to the daemon, until its post_done. */
struct tg_cookie {
	uint64_t gen;
};

enum boot_state { BOOT_NONE = 0, BOOT_ME, BOOT_WEBHOOK, BOOT_DONE };

struct tg {
	struct connector *c;
	struct loop *loop;
	char token[CONFIG_SECRET_MAX + 1];
	char api[1024]; /* the instance, no trailing slash */
	struct rest *rest;
	struct tg_me me;
	long rate;
	enum boot_state boot;
	int stopping, closing, timers, unauthorized;
	uv_timer_t timer; /* boot and poll retries */
	struct http_call *poll_call;
	int64_t poll_began; /* epoch ms the poll under way was asked */
	int fails, conflicts;
	time_t started;

	/* intake */
	int64_t offset;       /* the next getUpdates offset (0: none yet) */
	int64_t batch_max;    /* update_id up to which the batch in hand goes */
	unsigned outstanding; /* its posts not yet back from post_done */
	int batch_failed;
	uint64_t gen;
	uint64_t sync_gen; /* the batch whose notes are being made durable */
	/* The updates waiting at start are read and confirmed (a batch shorter
	 * than a full one came, or DRAIN_POLLS full ones): their ids are known,
	 * so a look-up for a reply of unknown fate need not ask about them. */
	int polled;
	int drain_polls; /* full batches read before that */
	long batch_n;    /* updates in the batch in hand */

	/* chats */
	struct tg_chat **chats;
	size_t nchats;
	struct tg_conn *conns;
	size_t nconns;
	int64_t box_max; /* private chats and basic groups: highest id seen */
	/* Groups become supergroups: old id -> new id (learnt again after a
	 * restart from the first 400 that says so). */
	struct tg_moved {
		int64_t from, to;
	} * moved;
	size_t nmoved;

	/* Message ids seen since start (updates and our own sends), by
	 * numbering: a reply of unknown fate is not looked for among them. */
	struct tg_known {
		uint64_t space;
		int64_t id;
	} known[KNOWN_KEEP];
	size_t known_i;

	/* sends: the global pace, the last `rate` sends */
	int64_t *ring;
	size_t ring_n, ring_i;

	struct metric *m_updates, *m_limited, *m_probes;
};

static int64_t now_ms(void)
{
	return outbox_now_ms();
}

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

/* --- chats and connections ------------------------------------------------------------ */

static void chat_key(char *out, size_t n, int64_t chat, const char *conn)
{
	tg_thread_key(out, n, chat, 0, conn);
}

/* Forget idle chats when too many are remembered. */
static void chats_prune(struct tg *tg)
{
	int64_t old = now_ms() - 3600 * 1000;
	size_t w = 0;
	for (size_t i = 0; i < tg->nchats; i++) {
		struct tg_chat *ch = tg->chats[i];
		if (!ch->refs && !ch->owner && ch->used_ms < old && !ch->last_in && !ch->unresolved)
			free(ch);
		else
			tg->chats[w++] = ch;
	}
	tg->nchats = w;
}

static struct tg_chat *chat_get(struct tg *tg, int64_t chat, const char *conn, int create)
{
	char key[TG_MAX_KEY];
	chat_key(key, sizeof(key), chat, conn);
	for (size_t i = 0; i < tg->nchats; i++)
		if (strcmp(tg->chats[i]->key, key) == 0)
			return tg->chats[i];
	if (!create)
		return NULL;
	if (tg->nchats >= CHATS_KEEP)
		chats_prune(tg);
	struct tg_chat *ch = xcalloc(1, sizeof(*ch));
	snprintf(ch->key, sizeof(ch->key), "%s", key);
	ch->chat_id = chat;
	snprintf(ch->conn, sizeof(ch->conn), "%s", conn ? conn : "");
	ch->used_ms = now_ms();
	tg->chats = xrealloc(tg->chats, (tg->nchats + 1) * sizeof(*tg->chats));
	tg->chats[tg->nchats++] = ch;
	return ch;
}

static struct tg_conn *conn_get(struct tg *tg, const char *id, int create)
{
	for (size_t i = 0; id && *id && i < tg->nconns; i++)
		if (strcmp(tg->conns[i].id, id) == 0)
			return &tg->conns[i];
	if (!create || !tg_conn_ok(id))
		return NULL;
	tg->conns = xrealloc(tg->conns, (tg->nconns + 1) * sizeof(*tg->conns));
	struct tg_conn *k = &tg->conns[tg->nconns++];
	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", id);
	return k;
}

static void moved_add(struct tg *tg, int64_t from, int64_t to)
{
	for (size_t i = 0; i < tg->nmoved; i++) {
		if (tg->moved[i].from == from) {
			tg->moved[i].to = to;
			return;
		}
	}
	tg->moved = xrealloc(tg->moved, (tg->nmoved + 1) * sizeof(*tg->moved));
	tg->moved[tg->nmoved++] = (struct tg_moved){from, to};
}

/* Where chat lives now (itself, unless it became a supergroup). */
static int64_t moved_to(const struct tg *tg, int64_t chat)
{
	for (int hops = 0; hops < 4; hops++) {
		size_t i = 0;
		while (i < tg->nmoved && tg->moved[i].from != chat)
			i++;
		if (i == tg->nmoved)
			break;
		chat = tg->moved[i].to;
	}
	return chat;
}

/* The highest message id known in the numbering chat belongs to. */
static int64_t space_max(struct tg *tg, int64_t chat, const char *conn)
{
	if (conn && *conn) {
		struct tg_conn *k = conn_get(tg, conn, 0);
		return k ? k->max_id : 0;
	}
	if (tg_chat_own_numbering(chat)) {
		struct tg_chat *ch = chat_get(tg, chat, NULL, 0);
		return ch ? ch->max_id : 0;
	}
	return tg->box_max;
}

/* Which numbering a chat's message ids belong to: the business
 * connection's, the (super)group's own, or the bot's (0). */
static uint64_t id_space(int64_t chat, const char *conn)
{
	if (conn && *conn) {
		uint64_t h = 1469598103934665603ULL; /* FNV-1a */
		for (const unsigned char *p = (const unsigned char *)conn; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		return h | 1;
	}
	return tg_chat_own_numbering(chat) ? (uint64_t)chat << 1 : 0;
}

static int known_id(const struct tg *tg, uint64_t space, int64_t id)
{
	for (size_t i = 0; i < KNOWN_KEEP; i++)
		if (tg->known[i].id == id && tg->known[i].space == space)
			return 1;
	return 0;
}

/* A message id seen in chat (an update, or one of our sends). */
static void saw_id(struct tg *tg, int64_t chat, const char *conn, int64_t id)
{
	if (id <= 0)
		return;
	tg->known[tg->known_i++ % KNOWN_KEEP] = (struct tg_known){id_space(chat, conn), id};
	if (conn && *conn) {
		struct tg_conn *k = conn_get(tg, conn, 1);
		if (k && id > k->max_id)
			k->max_id = id;
	} else if (tg_chat_own_numbering(chat)) {
		struct tg_chat *ch = chat_get(tg, chat, NULL, 1);
		if (id > ch->max_id)
			ch->max_id = id;
	} else if (id > tg->box_max) {
		tg->box_max = id;
	}
}

static int sent_by_us(const struct tg_chat *ch, int64_t id)
{
	for (size_t i = 0; i < SENT_KEEP; i++)
		if (ch->sent[i] == id)
			return 1;
	return 0;
}

/* The highest id of our messages in ch known, 0 none. */
static int64_t ours_max(const struct tg_chat *ch)
{
	int64_t m = 0;
	for (size_t i = 0; i < SENT_KEEP; i++)
		if (ch->sent[i] > m)
			m = ch->sent[i];
	return m;
}

static void ours_add(struct tg_chat *ch, int64_t id)
{
	if (id > 0 && !sent_by_us(ch, id))
		ch->sent[ch->si++ % SENT_KEEP] = id;
}

/*
 * One of our messages in ch, with its row settled in the same group: the
 * last TELEGRAM_OURS_KEEP of them are stored (kind "ours"), so that after a restart
 * a look-up for a reply of unknown fate neither takes a reply of another
 * row for the one it looks for nor starts below them (the floor of a mark
 * is never below the last of ours in its chat).
 */
static void ours_note(struct tg *tg, struct tg_chat *ch, int64_t id)
{
	if (id <= 0)
		return;
	ours_add(ch, id);
	json_t *a = json_array();
	size_t n = ch->si < TELEGRAM_OURS_KEEP ? ch->si : TELEGRAM_OURS_KEEP;
	for (size_t k = 0; k < n; k++)
		json_array_append_new(a, json_integer((json_int_t)ch->sent[(ch->si - 1 - k) % SENT_KEEP]));
	char *v = json_dumps(a, JSON_COMPACT);
	if (!v || connector_state_put(tg->c, OURS_KIND, ch->key, ch->key, v) < 0)
		log_warn("telegram: own message not remembered", "connector=%s chat=%s message=%" PRId64,
		         tg->c->name, ch->key, id);
	free(v);
	json_decref(a);
}

/* --- marks: "a message of row id may be on its way" ----------------------------------- */

static void mark_put(struct tg *tg, int64_t id, const struct tg_job *j, const struct tg_mark *m)
{
	char key[32];
	snprintf(key, sizeof(key), "%" PRId64, id);
	json_t *o = json_pack("{s:i, s:I, s:i}", "part", m->part, "floor", (json_int_t)m->floor, "inflight",
	                      m->inflight);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!v || connector_state_put(tg->c, MARK_KIND, key, j->chat->key, v) < 0)
		log_warn("telegram: send mark not stored", "connector=%s outbox=%" PRId64, tg->c->name, id);
	free(v);
	json_decref(o);
}

static void mark_drop(struct tg *tg, int64_t id)
{
	char key[32];
	snprintf(key, sizeof(key), "%" PRId64, id);
	connector_state_delete(tg->c, MARK_KIND, key);
}

/* --- health, 401, the token --------------------------------------------------------------- */

static void poll_later(struct tg *tg, long ms);

static int read_token(struct tg *tg)
{
	const struct telegram_conf *tc = tg->c->conf->settings;
	if (connector_secret_read(tg->c, &tc->token, "the bot token", tg->token, sizeof(tg->token)) < 0)
		return -1;
	/* A token is "123456:ABC-..."; anything that would change the URL is
	 * refused rather than sent. */
	if (strlen(tg->token) > 256) {
		log_error("telegram: the bot token is too long to be one: check it", "connector=%s",
		          tg->c->name);
		return -1;
	}
	for (const char *p = tg->token; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      *p == ':' || *p == '_' || *p == '-')) {
			log_error("telegram: the bot token has characters a token never has: check it",
			          "connector=%s", tg->c->name);
			return -1;
		}
	}
	char base[REST_URL_MAX + 1];
	int n = snprintf(base, sizeof(base), "%s/bot%s", tg->api, tg->token);
	if (n < 0 || (size_t)n >= sizeof(base)) {
		explicit_bzero(base, sizeof(base));
		log_error("telegram: the instance address and token make too long a URL", "connector=%s",
		          tg->c->name);
		return -1;
	}
	int rc = rest_set_base(tg->rest, base);
	explicit_bzero(base, sizeof(base));
	return rc;
}

static void unauthorized(struct tg *tg, const char *where)
{
	if (tg->stopping || tg->closing)
		return;
	if (!tg->unauthorized)
		log_error("telegram: Telegram refused the bot token (401): check the token",
		          "connector=%s where=%s retry_in_s=%ld", tg->c->name, where,
		          TELEGRAM_UNAUTHORIZED_RETRY_MS / 1000);
	tg->unauthorized = 1;
	tg->boot = BOOT_NONE;
	rest_hold(tg->rest, 0);
	connector_fatal(tg->c, UNAUTHORIZED);
	poll_later(tg, TELEGRAM_UNAUTHORIZED_RETRY_MS);
}

/* What an answer that is no success says, for the log. */
static void describe(const struct http_response *r, char *out, size_t n)
{
	struct tg_error e;
	if (r->error == HTTP_E_NONE && tg_parse_error(r->body, r->body_len, &e) == 0 && e.description[0])
		snprintf(out, n, "HTTP %ld: %s", r->status, e.description);
	else
		rest_describe(r, out, n);
}

/* --- boot and polling ----------------------------------------------------------------------- */

static void boot_begin(struct tg *tg);
static void poll_now(struct tg *tg);

static void timer_cb(uv_timer_t *t)
{
	struct tg *tg = t->data;
	if (tg->stopping || tg->closing)
		return;
	if (tg->boot != BOOT_DONE)
		boot_begin(tg);
	else
		poll_now(tg);
}

static void poll_later(struct tg *tg, long ms)
{
	if (tg->closing || !tg->timers)
		return;
	uv_timer_stop(&tg->timer);
	uv_timer_start(&tg->timer, timer_cb, ms > 0 ? (uint64_t)ms : 0, 0);
}

/* A failure that retrying fixes: back off 1 s ... 5 min with jitter. */
static void failed(struct tg *tg, const char *what, const struct http_response *r)
{
	char d[256];
	if (tg->fails < 30)
		tg->fails++;
	long ms = backoff_ms(tg->fails, TELEGRAM_BACKOFF_MIN_MS, TELEGRAM_BACKOFF_MIN_MS,
	                     TELEGRAM_BACKOFF_MAX_MS - TELEGRAM_BACKOFF_MIN_MS);
	if (r)
		describe(r, d, sizeof(d));
	else
		snprintf(d, sizeof(d), "cannot start the request");
	struct buf b;
	quote(&b, d);
	log_warn("telegram: request failed: will retry", "connector=%s what=%s error=%s in_ms=%ld",
	         tg->c->name, what, b.p, ms);
	buf_free(&b);
	if (tg->fails >= 3 && tg->c->health == HEALTH_OK)
		connector_set_health(tg->c, HEALTH_DEGRADED, "Telegram unreachable: retrying");
	poll_later(tg, ms);
}

/* 409: another poller, or a webhook set again.  Never hammered. */
static void conflict(struct tg *tg, const struct tg_error *e)
{
	if (tg->conflicts < 10)
		tg->conflicts++;
	long ms = TELEGRAM_CONFLICT_MIN_MS << (tg->conflicts - 1);
	if (ms > TELEGRAM_BACKOFF_MAX_MS || ms <= 0)
		ms = TELEGRAM_BACKOFF_MAX_MS;
	struct buf b;
	quote(&b, e->description);
	if (strcasestr(e->description, "webhook")) {
		log_warn("telegram: a webhook was set for this bot again: deleting it",
		         "connector=%s error=%s in_ms=%ld", tg->c->name, b.p, ms);
		tg->boot = BOOT_NONE; /* getMe and deleteWebhook again */
		connector_set_health(tg->c, HEALTH_DEGRADED, "409 from Telegram: a webhook is set");
	} else {
		log_error("telegram: another program is reading this bot's updates (a second frontdesk, or "
		          "another tool using the same token): stop it",
		          "connector=%s error=%s retry_in_ms=%ld", tg->c->name, b.p, ms);
		connector_fatal(tg->c, CONFLICT);
	}
	buf_free(&b);
	poll_later(tg, ms);
}

static void on_webhook(void *ctx, const struct http_response *r, void *arg)
{
	struct tg *tg = ctx;
	(void)arg;
	if (r->error == HTTP_E_CANCELLED || tg->stopping)
		return;
	if (r->error == HTTP_E_NONE && (r->status == 401 || r->status == 404)) {
		unauthorized(tg, "deleteWebhook");
		return;
	}
	if (!rest_ok(r)) {
		tg->boot = BOOT_NONE;
		failed(tg, "deleteWebhook", r);
		return;
	}
	tg->boot = BOOT_DONE;
	log_info("telegram: polling", "connector=%s bot=@%s offset=%" PRId64, tg->c->name, tg->me.username,
	         tg->offset);
	connector_set_health(tg->c, HEALTH_OK, "polling");
	rest_hold(tg->rest, 1);
	poll_now(tg);
}

static void on_me(void *ctx, const struct http_response *r, void *arg)
{
	struct tg *tg = ctx;
	char err[160];
	struct tg_me me;
	(void)arg;
	if (r->error == HTTP_E_CANCELLED || tg->stopping)
		return;
	if (r->error == HTTP_E_NONE && (r->status == 401 || r->status == 404)) {
		unauthorized(tg, "getMe");
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 429) {
		struct tg_error e;
		tg_parse_error(r->body, r->body_len, &e);
		tg->boot = BOOT_NONE;
		poll_later(tg, (e.retry_after > 0 ? e.retry_after : 5) * 1000L);
		return;
	}
	if (!rest_ok(r) || tg_parse_me(r->body, r->body_len, &me, err, sizeof(err)) < 0) {
		tg->boot = BOOT_NONE;
		failed(tg, "getMe", r);
		return;
	}
	if (tg->me.id && tg->me.id != me.id)
		log_warn("telegram: the token now belongs to another bot", "connector=%s", tg->c->name);
	if (tg->unauthorized)
		log_info("telegram: Telegram accepts the token again", "connector=%s", tg->c->name);
	tg->unauthorized = 0;
	tg->me = me;
	log_info("telegram: signed in", "connector=%s bot=@%s id=%" PRId64 " business=%s", tg->c->name,
	         me.username, me.id, me.can_connect_to_business ? "on" : "off");
	tg->boot = BOOT_WEBHOOK;
	/* Pending updates stay: they are customers waiting. */
	if (rest_api(tg->rest, "POST", "/deleteWebhook", "{\"drop_pending_updates\":false}", 0, on_webhook,
	             NULL) < 0) {
		tg->boot = BOOT_NONE;
		failed(tg, "deleteWebhook", NULL);
	}
}

static void boot_begin(struct tg *tg)
{
	if (tg->stopping || tg->closing)
		return;
	if (tg->unauthorized && read_token(tg) < 0) {
		connector_fatal(tg->c, "cannot read the bot token");
		poll_later(tg, TELEGRAM_UNAUTHORIZED_RETRY_MS);
		return;
	}
	tg->boot = BOOT_ME;
	if (rest_api(tg->rest, "GET", "/getMe", NULL, 0, on_me, NULL) < 0) {
		tg->boot = BOOT_NONE;
		failed(tg, "getMe", NULL);
	}
}

/* --- intake -------------------------------------------------------------------------------------- */

static void batch_done(struct tg *tg);

static void remember_connection(struct tg *tg, const struct tg_connection *cn)
{
	struct tg_conn *k = conn_get(tg, cn->id, 1);
	if (!k)
		return;
	k->owner = cn->user_id;
	k->enabled = cn->enabled;
	k->can_reply = cn->can_reply;
	k->known = 1;
	json_t *o = json_pack("{s:I, s:b, s:b}", "owner", (json_int_t)cn->user_id, "enabled", cn->enabled,
	                      "can_reply", cn->can_reply);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (v)
		connector_state_put(tg->c, CONN_KIND, cn->id, NULL, v);
	free(v);
	json_decref(o);
	log_info(cn->enabled ? "telegram: connected to a Telegram Business account"
	                     : "telegram: a Telegram Business account switched the bot off",
	         "connector=%s connection=%s owner=%" PRId64 " can_reply=%s", tg->c->name, cn->id,
	         cn->user_id, cn->can_reply ? "yes" : "no");
}

static void remember_business_chat(struct tg *tg, const struct tg_update *u)
{
	struct tg_chat *ch = chat_get(tg, u->chat_id, u->conn, 1);
	time_t t = u->date ? u->date : connector_now(tg->c);
	if (t <= ch->last_in)
		return;
	char v[32];
	ch->last_in = t;
	snprintf(v, sizeof(v), "%lld", (long long)t);
	connector_state_put(tg->c, BCHAT_KIND, ch->key, ch->key, v);
}

/* Hand one message to the daemon: 1 when a post_done will follow. */
static int deliver(struct tg *tg, const struct tg_update *u)
{
	char thread[TG_MAX_KEY], id[TG_MAX_KEY + 32], author[32];
	if (tg_thread_key(thread, sizeof(thread), u->chat_id, u->topic, u->conn) < 0 ||
	    tg_post_key(id, sizeof(id), u->chat_id, u->message_id, u->conn) < 0)
		return 0;
	snprintf(author, sizeof(author), "%" PRId64, u->from_id);
	struct post p = {
	    .platform = PLATFORM,
	    .connector = tg->c->name,
	    .post_id = id,
	    .thread_key = thread,
	    .reply_to_id = id,
	    .author_id = author,
	    .author_handle = u->handle,
	    .author_name = u->name[0] ? u->name : NULL,
	    .channel = tg->c->conf->channel,
	    .text = u->text ? u->text : "",
	    .is_public = u->chat_type != 'p' && !u->conn[0],
	    .created = u->date,
	};
	struct tg_cookie *k = xcalloc(1, sizeof(*k));
	k->gen = tg->gen;
	if (connector_deliver_post(tg->c, &p, k) < 0) {
		free(k);
		return -1;
	}
	return 1;
}

static void take_update(struct tg *tg, struct tg_update *u)
{
	if (u->message_id)
		saw_id(tg, u->chat_id, u->conn, u->message_id);
	if (u->conn[0] && u->message_id)
		remember_business_chat(tg, u);
	metric_add_l(tg->m_updates, 1, tg->c->name, u->why ? u->why : "other");
	switch (u->kind) {
	case TG_POST: {
		int rc = deliver(tg, u);
		if (rc > 0)
			tg->outstanding++;
		else if (rc < 0)
			tg->batch_failed = 1;
		break;
	}
	case TG_STAFF:
		log_info("telegram: the business owner answered in a customer's chat",
		         "connector=%s connection=%s chat=%" PRId64, tg->c->name, u->conn, u->chat_id);
		break;
	case TG_CONNECTION: remember_connection(tg, &u->connection); break;
	case TG_MIGRATE:
		moved_add(tg, u->chat_id, u->migrate_to);
		log_info("telegram: a group became a supergroup",
		         "connector=%s chat=%" PRId64 " now=%" PRId64, tg->c->name, u->chat_id,
		         u->migrate_to);
		break;
	case TG_BAD: {
		struct buf b;
		quote(&b, u->why);
		log_warn("telegram: update dropped", "connector=%s update_id=%" PRId64 " reason=%s",
		         tg->c->name, u->update_id, b.p);
		buf_free(&b);
		break;
	}
	case TG_SKIP: break;
	}
}

static void on_updates(void *ctx, const struct http_response *r, void *arg)
{
	struct tg *tg = ctx;
	char err[160];
	(void)arg;
	if (r->error == HTTP_E_CANCELLED || tg->stopping || tg->closing)
		return;
	struct tg_error e;
	int has_error = r->error == HTTP_E_NONE && tg_parse_error(r->body, r->body_len, &e) == 0;
	if (r->error == HTTP_E_NONE && (r->status == 401 || r->status == 404)) {
		unauthorized(tg, "getUpdates");
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 409) {
		if (!has_error)
			snprintf(e.description, sizeof(e.description), "Conflict");
		conflict(tg, &e);
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 429) {
		long s = has_error && e.retry_after > 0 ? e.retry_after : 5;
		log_warn("telegram: rate limited (429): polling waits", "connector=%s wait_s=%ld",
		         tg->c->name, s);
		poll_later(tg, s * 1000);
		return;
	}
	struct tg_update *v = NULL;
	int64_t max_id = 0;
	long n =
	    rest_ok(r) ? tg_parse_updates(r->body, r->body_len, &tg->me, &v, &max_id, err, sizeof(err)) : -1;
	if (n < 0) {
		/* A long poll cut after it had waited a while (a proxy, a NAT
		 * timeout, a dropped connection) reached Telegram: it starts the
		 * backoff over instead of growing it. */
		if (now_ms() - tg->poll_began >= POLL_HELD_MS)
			tg->fails = 0;
		failed(tg, "getUpdates", r);
		return;
	}
	if (tg->fails || tg->conflicts || tg->c->health != HEALTH_OK) {
		if (tg->conflicts)
			log_info("telegram: polling again: the other reader is gone", "connector=%s",
			         tg->c->name);
		connector_set_health(tg->c, HEALTH_OK, "polling");
	}
	tg->fails = 0;
	tg->conflicts = 0;
	tg->gen++;
	tg->outstanding = 0;
	tg->batch_failed = 0;
	tg->batch_max = max_id;
	tg->batch_n = n;
	for (long i = 0; i < n; i++) {
		take_update(tg, &v[i]);
		tg_update_free(&v[i]);
	}
	free(v);
	if (n)
		log_debug("telegram: updates", "connector=%s count=%ld posts=%u last=%" PRId64, tg->c->name,
		          n, tg->outstanding, max_id);
	if (!tg->outstanding)
		batch_done(tg);
}

/* Every note of the batch is durable: confirm it with the next poll. */
static void batch_synced(void *arg, int rc)
{
	struct tg *tg = arg;
	/* A stop abandoned the batch (another process polls now, or this one
	 * polls again from the stored offset): nothing of it is confirmed. */
	if (tg->stopping || tg->closing || tg->sync_gen != tg->gen)
		return;
	if (rc < 0) {
		log_warn("telegram: updates not stored: asking for them again", "connector=%s", tg->c->name);
		poll_later(tg, TELEGRAM_BACKOFF_MIN_MS);
		return;
	}
	if (tg->batch_max >= tg->offset) {
		char v[64];
		tg->offset = tg->batch_max + 1;
		snprintf(v, sizeof(v), "%" PRId64 "@%lld", tg->batch_max, (long long)connector_now(tg->c));
		connector_cursor_set(tg->c, v);
	}
	if (!tg->polled && (tg->batch_n < TELEGRAM_POLL_LIMIT || ++tg->drain_polls >= DRAIN_POLLS)) {
		tg->polled = 1;
		rest_pump(tg->rest); /* replies of unknown fate may look now */
	}
	poll_now(tg);
}

static void batch_done(struct tg *tg)
{
	if (tg->batch_failed) {
		log_warn("telegram: a post was not stored: asking for the updates again", "connector=%s",
		         tg->c->name);
		poll_later(tg, TELEGRAM_BACKOFF_MIN_MS);
		return;
	}
	tg->sync_gen = tg->gen;
	connector_commit(tg->c, batch_synced, tg);
}

static void tg_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct tg *tg = c->priv;
	struct tg_cookie *k = cookie;
	if (k->gen == tg->gen && tg->outstanding) {
		if (a->status == POST_FAILED)
			tg->batch_failed = 1;
		if (--tg->outstanding == 0)
			batch_done(tg);
	}
	free(k);
}

static void poll_now(struct tg *tg)
{
	if (tg->stopping || tg->closing || tg->boot != BOOT_DONE || tg->poll_call)
		return;
	uv_timer_stop(&tg->timer);
	/* The polls after a start do not wait until the updates waiting then
	 * are read: their ids are known at once (replies of unknown fate look
	 * only after that). */
	char *body = tg_updates_json(tg->offset, TELEGRAM_POLL_LIMIT, tg->polled ? TELEGRAM_POLL_S : 0);
	tg->poll_began = now_ms();
	struct rest_req q = {
	    .method = "POST",
	    .path = "/getUpdates",
	    .json = body,
	    .max_body = UPDATES_MAX,
	    .timeout_ms = (TELEGRAM_POLL_S + 15) * 1000L,
	    .handle = &tg->poll_call,
	    .idempotent = 1, /* asking twice confirms the same offset */
	};
	if (!body || rest_call(tg->rest, &q, on_updates, NULL) < 0)
		failed(tg, "getUpdates", NULL);
	free(body);
}

/* --- replies ---------------------------------------------------------------------------------------- */

static void job_free(struct tg_job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	if (j->chat) {
		if (j->chat->owner == j)
			j->chat->owner = NULL;
		if (j->chat->refs)
			j->chat->refs--;
	}
	free(j);
}

/* The chat waits for j's look-up, UNRESOLVED_MS from the first time at
 * most: a row failing again and again does not hold its chat for good. */
static void unresolved_set(struct tg_job *j)
{
	int64_t now = now_ms();
	if (j->chat && (!j->chat->unresolved || now >= j->chat->unresolved_until)) {
		j->chat->unresolved = j->id;
		j->chat->unresolved_until = now + UNRESOLVED_MS;
	}
}

static void unresolved_clear(struct tg_job *j)
{
	if (j->chat && j->chat->unresolved == j->id)
		j->chat->unresolved = 0;
}

/* The row's outcome; the chat is free for the next message. */
static void job_finish(struct tg_job *j, enum send_result r, long retry_after, const char *detail)
{
	struct tg *tg = j->tg;
	if (r != SEND_RETRY) {
		mark_drop(tg, j->id);
		unresolved_clear(j);
	}
	connector_send_done(tg->c, j->id, r, retry_after, detail);
	job_free(j);
	rest_pump(tg->rest);
}

/* The request of an active job ended. */
static void job_ended(struct tg_job *j)
{
	rest_ended(j->tg->rest);
	j->waiting = 0;
}

static void send_part(struct tg_job *j);
static void probe_next(struct tg_job *j);

/* Pace: when may a message to ch go (epoch ms, 0 now). */
static int64_t pace(struct tg *tg, const struct tg_chat *ch, int64_t now)
{
	int64_t at = ch->last_ms ? ch->last_ms + TELEGRAM_CHAT_GAP_MS : 0;
	if (ch->chat_id < 0 && !ch->conn[0]) {
		/* A group: 20 a minute. */
		int64_t oldest = ch->minute[ch->mi % TELEGRAM_GROUP_PER_MIN];
		if (oldest && oldest + 60000 > at)
			at = oldest + 60000;
	}
	if (tg->ring_n >= (size_t)tg->rate) {
		int64_t oldest = tg->ring[tg->ring_i % (size_t)tg->rate];
		if (oldest + 1000 > at)
			at = oldest + 1000;
	}
	return at > now ? at : 0;
}

static void paced(struct tg *tg, struct tg_chat *ch)
{
	int64_t now = now_ms();
	ch->last_ms = ch->used_ms = now;
	if (ch->chat_id < 0 && !ch->conn[0])
		ch->minute[ch->mi++ % TELEGRAM_GROUP_PER_MIN] = now;
	tg->ring[tg->ring_i++ % (size_t)tg->rate] = now;
	if (tg->ring_n < (size_t)tg->rate)
		tg->ring_n++;
}

static int64_t job_ready_at(void *ctx, const struct rest_job *link, int64_t now)
{
	struct tg *tg = ctx;
	const struct tg_job *j = (const struct tg_job *)link;
	if (j->chat->owner && j->chat->owner != j)
		return INT64_MAX; /* another message of this chat is on its way */
	if (j->chat->unresolved && j->chat->unresolved != j->id && now < j->chat->unresolved_until)
		return j->chat->unresolved_until; /* another row's lost message is looked for first */
	if (!tg->polled)
		return INT64_MAX; /* the ids of what came meanwhile are not known yet */
	if (j->probe)
		return 0; /* looking costs no message */
	return pace(tg, j->chat, now);
}

static void job_start(void *ctx, struct rest_job *link)
{
	struct tg_job *j = (struct tg_job *)link;
	(void)ctx;
	j->chat->owner = j;
	if (j->probe)
		probe_next(j);
	else
		send_part(j);
}

/* Back into the queue, at its head (its chat stays its own). */
static void job_again(struct tg_job *j)
{
	rest_requeue(j->tg->rest, &j->link);
	rest_pump(j->tg->rest);
}

/* A part went (or was found): the next one, or done. */
static void part_done(struct tg_job *j, int64_t message_id)
{
	struct tg *tg = j->tg;
	if (message_id > 0) {
		saw_id(tg, j->chat_id, j->conn, message_id);
		ours_note(tg, j->chat, message_id);
	}
	j->next_part++;
	if (j->next_part >= j->nparts) {
		log_debug("telegram: reply sent", "connector=%s outbox=%" PRId64 " parts=%zu", tg->c->name,
		          j->id, j->nparts);
		job_finish(j, SEND_OK, 0, NULL);
		return;
	}
	struct tg_mark m = {.part = (int)j->next_part, .floor = 0, .inflight = 0};
	mark_put(tg, j->id, j, &m);
	job_again(j);
}

/* Give the row back to the outbox.  unknown: the message may have gone
 * (the mark stays in flight, and the next attempt looks first). */
static void give_back(struct tg_job *j, int unknown, long retry_after, const char *detail)
{
	if (unknown || j->probe) {
		/* The mark in flight stays: the next attempt looks first, and
		 * the chat waits for it. */
		unresolved_set(j);
	} else if (j->next_part == 0) {
		mark_drop(j->tg, j->id); /* nothing of it went */
		unresolved_clear(j);
	} else {
		struct tg_mark m = {.part = (int)j->next_part, .floor = 0, .inflight = 0};
		mark_put(j->tg, j->id, j, &m);
		unresolved_clear(j);
	}
	job_finish(j, SEND_RETRY, retry_after, detail);
}

/* Curl failed before the request could reach anyone. */
static int never_sent(const struct http_response *r)
{
	return r->error == HTTP_E_TRANSPORT &&
	       (r->curl_code == 5 /* resolve proxy */ || r->curl_code == 6 /* resolve host */ ||
	        r->curl_code == 7 /* connect */);
}

static void hand_back(void *ctx, struct rest_job *link, long secs);

static void on_sent(void *ctx, const struct http_response *r, void *arg)
{
	struct tg *tg = ctx;
	struct tg_job *j = arg;
	char d[256];
	job_ended(j);
	/* The chat's pace counts from the answer too: a request slow to
	 * arrive must not bring the next one closer than a second to it. */
	j->chat->last_ms = j->chat->used_ms = now_ms();
	if (r->error == HTTP_E_CANCELLED) {
		/* Teardown: the mark stays; the next start looks first. */
		job_free(j);
		return;
	}
	if (rest_note_limits(tg->rest, r)) {
		/* 429: not sent.  The wait goes with the row (not_before) and
		 * holds every send; rows queued here go back with it too. */
		struct tg_error e;
		long s =
		    tg_parse_error(r->body, r->body_len, &e) == 0 && e.retry_after > 0 ? e.retry_after : 1;
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)tg->c->paused_until_ms);
		connector_state_put(tg->c, LIMIT_KIND, "until", NULL, v);
		give_back(j, 0, s, "rate limited (429)");
		rest_stop(tg->rest, hand_back);
		return;
	}
	if (rest_ok(r)) {
		int64_t mid = 0, chat = 0;
		if (tg_parse_sent(r->body, r->body_len, &mid, &chat) < 0)
			log_warn("telegram: message sent but its id is unreadable",
			         "connector=%s outbox=%" PRId64, tg->c->name, j->id);
		part_done(j, mid);
		return;
	}
	if (r->error != HTTP_E_NONE) {
		rest_describe(r, d, sizeof(d));
		give_back(j, !never_sent(r), 0, d);
		return;
	}
	struct tg_error e;
	if (tg_parse_error(r->body, r->body_len, &e) < 0) {
		/* No answer of Telegram's (a proxy's 502 page): fate unknown. */
		rest_describe(r, d, sizeof(d));
		give_back(j, 1, 0, d);
		return;
	}
	snprintf(d, sizeof(d), "HTTP %ld: %s", r->status, e.description);
	switch (tg_refusal(r->status, &e)) {
	case TG_REFUSED_MIGRATED:
		moved_add(tg, j->chat_id, e.migrate_to);
		log_info("telegram: the group became a supergroup: sending there",
		         "connector=%s chat=%" PRId64 " now=%" PRId64, tg->c->name, j->chat_id, e.migrate_to);
		give_back(j, 0, 0, "the group became a supergroup");
		return;
	case TG_REFUSED_NO_REPLY:
		/* The message answered is gone (or, in another chat, not
		 * reachable): the answer goes all the same. */
		j->reply_to = j->reply_chat = 0;
		{
			struct tg_mark m = {.part = (int)j->next_part, .floor = 0, .inflight = 0};
			mark_put(tg, j->id, j, &m);
		}
		job_again(j);
		return;
	case TG_REFUSED_TOKEN:
		unauthorized(tg, "sendMessage");
		give_back(j, 0, TELEGRAM_UNAUTHORIZED_RETRY_MS / 1000, UNAUTHORIZED);
		return;
	case TG_REFUSED_RETRY: give_back(j, r->status >= 500, 0, d); return;
	case TG_REFUSED_LIMIT: /* handled above */
	case TG_REFUSED_NO_TOPIC:
	case TG_REFUSED_FINAL: break;
	}
	struct buf b;
	quote(&b, e.description);
	log_warn(r->status == 403 ? "telegram: the customer cannot be written to (blocked the bot, or never "
	                            "opened a chat with it): reply not sent"
	                          : "telegram: Telegram refused the reply",
	         "connector=%s outbox=%" PRId64 " chat=%" PRId64 " status=%ld error=%s", tg->c->name, j->id,
	         j->chat_id, r->status, b.p);
	buf_free(&b);
	job_finish(j, SEND_FAIL, 0, d);
}

static void after_mark(void *arg, int rc)
{
	struct tg_job *j = arg;
	struct tg *tg = j->tg;
	if (tg->closing) {
		job_ended(j);
		job_free(j);
		return;
	}
	if (rc < 0) {
		job_ended(j);
		give_back(j, 1, 0, "the send mark was not stored");
		return;
	}
	/* A 429 that came while the mark was being stored holds this one too:
	 * nothing went, the mark is taken back with the row. */
	int64_t now = now_ms();
	if (tg->c->paused_until_ms > now) {
		job_ended(j);
		give_back(j, 0, (long)((tg->c->paused_until_ms - now + 999) / 1000),
		          "rate limited until the reset");
		return;
	}
	struct tg_send s = {
	    .chat_id = j->chat_id,
	    .topic = j->topic,
	    .conn = j->conn,
	    .reply_to = j->reply_to,
	    .reply_chat = j->reply_chat,
	    .text = j->parts[j->next_part],
	};
	char *body = tg_send_json(&s);
	if (!body) {
		job_ended(j);
		job_finish(j, SEND_FAIL, 0, "the reply is not valid UTF-8");
		return;
	}
	paced(tg, j->chat);
	struct rest_req q = {
	    .method = "POST", .path = "/sendMessage", .json = body, .max_body = SEND_BODY_MAX};
	if (rest_call(tg->rest, &q, on_sent, j) < 0) {
		job_ended(j);
		give_back(j, 0, 0, "cannot start the request");
	}
	free(body);
}

/* Mark the part durably, then send it. */
/* The highest id known in the chat's numbering before this message: what
 * was seen since start, and never below the message it answers (after a
 * restart, what was seen before it is not known). */
static int64_t mark_floor(struct tg *tg, const struct tg_job *j)
{
	int64_t f = space_max(tg, j->chat_id, j->conn);
	int64_t o = ours_max(j->chat);
	if (o > f)
		f = o;
	return !j->reply_chat && j->reply_to > f ? j->reply_to : f; /* same chat only */
}

static void send_part(struct tg_job *j)
{
	struct tg *tg = j->tg;
	struct tg_mark m = {
	    .part = (int)j->next_part,
	    .floor = mark_floor(tg, j),
	    .inflight = 1,
	};
	rest_started(tg->rest);
	j->waiting = 1;
	mark_put(tg, j->id, j, &m);
	connector_commit(tg->c, after_mark, j);
}

/* --- looking for a reply of unknown fate ------------------------------------------------------------ */

static void on_probe(void *ctx, const struct http_response *r, void *arg)
{
	struct tg *tg = ctx;
	struct tg_job *j = arg;
	char d[160];
	job_ended(j);
	if (r->error == HTTP_E_CANCELLED) {
		job_free(j);
		return;
	}
	metric_add_l(tg->m_probes, 1, tg->c->name);
	if (rest_note_limits(tg->rest, r)) {
		job_again(j); /* the same id once the limit is over */
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 401) {
		unauthorized(tg, "editMessageReplyMarkup");
		give_back(j, 1, TELEGRAM_UNAUTHORIZED_RETRY_MS / 1000, UNAUTHORIZED);
		return;
	}
	switch (tg_probe_result(r->error == HTTP_E_NONE ? r->status : 0, r->body, r->body_len)) {
	case TG_PROBE_OURS:
		log_info("telegram: reply found already sent: not sent again",
		         "connector=%s outbox=%" PRId64 " part=%zu message=%" PRId64, tg->c->name, j->id,
		         j->next_part, j->probe_id);
		j->probe = 0;
		part_done(j, j->probe_id);
		return;
	case TG_PROBE_NOT_OURS:
		j->probe_id++;
		probe_next(j);
		return;
	case TG_PROBE_RETRY: break;
	}
	/* Looking changes nothing: a cut connection or a proxy's error asks
	 * the same id again at once (a few times) rather than starting the
	 * whole look-up over after the row's backoff. */
	if ((r->error == HTTP_E_TRANSPORT || (r->error == HTTP_E_NONE && r->status >= 500)) &&
	    j->probe_retries++ < PROBE_RETRIES) {
		job_again(j);
		return;
	}
	describe(r, d, sizeof(d));
	give_back(j, 1, 0, d);
}

/*
 * Look at the next message id after the mark's floor; when every id up to
 * the end of the range was someone else's (or none), the part was not
 * sent: send it.
 */
static void probe_next(struct tg_job *j)
{
	struct tg *tg = j->tg;
	if (!j->probe_id) {
		int64_t top = space_max(tg, j->chat_id, j->conn);
		if (top < j->floor)
			top = j->floor;
		j->probe_id = j->floor + 1;
		j->probe_end = top + PROBE_SLACK;
		j->probes = 0;
	}
	/* Ids this process saw (a customer's, one of its own sends) are not
	 * the one looked for: only the others cost a request. */
	uint64_t space = id_space(j->chat_id, j->conn);
	while (j->probe_id <= j->probe_end &&
	       (sent_by_us(j->chat, j->probe_id) || known_id(tg, space, j->probe_id)))
		j->probe_id++;
	if (j->probe_id > j->probe_end || j->probes >= TELEGRAM_PROBE_MAX) {
		log_info("telegram: reply of unknown fate not found: sending it",
		         "connector=%s outbox=%" PRId64 " part=%zu looked_at=%d", tg->c->name, j->id,
		         j->next_part, j->probes);
		j->probe = 0;
		send_part(j);
		return;
	}
	char *body = tg_probe_json(j->chat_id, j->probe_id, j->conn);
	j->probes++;
	rest_started(tg->rest);
	j->waiting = 1;
	/* Editing to no markup changes nothing: asking twice is harmless. */
	struct rest_req q = {
	    .method = "POST", .path = "/editMessageReplyMarkup", .json = body, .idempotent = 1};
	if (!body || rest_call(tg->rest, &q, on_probe, j) < 0) {
		job_ended(j);
		give_back(j, 1, 0, "cannot start the request");
	}
	free(body);
}

/* --- taking a row ------------------------------------------------------------------------------------- */

/* The row's mark (if any) is known: queue the job. */
static void mark_got(void *arg, int rc, const struct store_state *st)
{
	struct tg_job *j = arg;
	struct tg *tg = j->tg;
	if (rc == 0 && st && st->value) {
		json_t *o = json_loads(st->value, 0, NULL);
		json_int_t part = json_integer_value(json_object_get(o, "part"));
		if (json_is_object(o) && part >= 0 && (size_t)part < j->nparts) {
			j->next_part = (size_t)part;
			j->probe = json_is_true(json_object_get(o, "inflight")) ||
			           json_integer_value(json_object_get(o, "inflight")) == 1;
			j->floor = json_integer_value(json_object_get(o, "floor"));
			if (j->probe) {
				unresolved_set(j);
				log_info("telegram: a reply may have been sent before: looking for it first",
				         "connector=%s outbox=%" PRId64 " part=%zu", tg->c->name, j->id,
				         j->next_part);
			}
		}
		json_decref(o);
	} else if (rc < 0) {
		job_finish(j, SEND_RETRY, 0, "the send mark could not be read");
		return;
	}
	j->waiting = 0;
	rest_queue(tg->rest, &j->link);
}

static void mark_fetch(struct tg_job *j)
{
	char key[32];
	snprintf(key, sizeof(key), "%" PRId64, j->id);
	connector_state_get(j->tg->c, MARK_KIND, key, mark_got, j);
}

/* Our messages in the chat from earlier runs are known: read the mark. */
static void ours_got(void *arg, int rc, const struct store_state *st)
{
	struct tg_job *j = arg;
	if (rc < 0) {
		j->chat->ours_state = 0;
		job_finish(j, SEND_RETRY, 0, "the chat's own messages could not be read");
		return;
	}
	if (rc == 0 && st && st->value) {
		json_t *a = json_loads(st->value, 0, NULL);
		size_t i;
		json_t *v;
		/* Oldest first, so that the newest stay when the ring is full. */
		for (i = json_is_array(a) ? json_array_size(a) : 0; i-- > 0;) {
			v = json_array_get(a, i);
			if (json_is_integer(v))
				ours_add(j->chat, (int64_t)json_integer_value(v));
		}
		json_decref(a);
	}
	j->chat->ours_state = 2;
	mark_fetch(j);
}

/* Where a row goes: its conversation, or, taken private from a group, the
 * customer's private chat quoting the group message.  0 or -1. */
static int target(struct tg *tg, struct tg_job *j, const struct outmsg *m, const char **why)
{
	int64_t chat, topic, rchat = 0, rmsg = 0;
	char conn[TG_MAX_CONN + 1], rconn[TG_MAX_CONN + 1];
	if (tg_thread_parse(m->thread_key, &chat, &topic, conn, sizeof(conn)) < 0) {
		*why = "not a Telegram conversation";
		return -1;
	}
	if (m->reply_to_id && tg_post_parse(m->reply_to_id, &rchat, &rmsg, rconn, sizeof(rconn)) == 0 &&
	    rchat == chat && strcmp(rconn, conn) == 0)
		j->reply_to = rmsg;
	j->chat_id = moved_to(tg, chat);
	j->topic = topic;
	snprintf(j->conn, sizeof(j->conn), "%s", conn);
	if (j->chat_id != chat)
		j->reply_to = j->topic = 0; /* its messages have new ids there */
	if (m->is_private && chat < 0 && !conn[0]) {
		/* Taken offline: the customer's private chat (its id is theirs). */
		int64_t user = 0;
		if (m->recipient) {
			char *e = NULL;
			long long v = strtoll(m->recipient, &e, 10);
			user = e && e != m->recipient && !*e && v > 0 ? (int64_t)v : 0;
		}
		if (!user) {
			*why = "a private reply without its recipient";
			return -1;
		}
		j->reply_chat = j->reply_to ? chat : 0;
		j->chat_id = user;
		j->topic = 0;
	}
	if (conn[0]) {
		struct tg_conn *k = conn_get(tg, conn, 0);
		if (k && k->known && (!k->enabled || !k->can_reply)) {
			*why =
			    !k->enabled
			        ? "the business account switched the bot off (Telegram Business -> Chatbots)"
			        : "the business account does not let the bot reply";
			return -1;
		}
	}
	j->chat = chat_get(tg, j->chat_id, j->conn, 1);
	j->chat->refs++;
	if (conn[0] && j->chat->last_in &&
	    connector_now(tg->c) - j->chat->last_in > TELEGRAM_BUSINESS_WINDOW_S) {
		*why = "Telegram lets a bot answer a Business chat only within 24 hours of its last message";
		return -1;
	}
	return 0;
}

static int tg_send(struct connector *c, const struct outmsg *m)
{
	struct tg *tg = c->priv;
	const char *why = NULL;
	struct tg_job *j = xcalloc(1, sizeof(*j));
	j->tg = tg;
	j->id = m->id;
	if (target(tg, j, m, &why) < 0) {
		log_warn("telegram: reply not sent", "connector=%s outbox=%" PRId64 " why=\"%s\"", c->name,
		         m->id, why);
		job_finish(j, SEND_FAIL, 0, why);
		return 0;
	}
	j->nparts = tg_split(m->text ? m->text : "", TG_MAX_TEXT, j->parts, TELEGRAM_MAX_PARTS);
	if (!j->nparts) {
		job_finish(j, SEND_FAIL, 0, "empty reply");
		return 0;
	}
	j->waiting = 1;
	if (j->chat->ours_state == 2) {
		mark_fetch(j);
	} else {
		j->chat->ours_state = 1;
		connector_state_get(c, OURS_KIND, j->chat->key, ours_got, j);
	}
	return 0;
}

/* --- connector ops ---------------------------------------------------------------------------------------
 */

static int tg_idle(struct connector *c)
{
	struct tg *tg = c->priv;
	return !tg || rest_idle(tg->rest);
}

static void hand_back(void *ctx, struct rest_job *link, long secs)
{
	(void)ctx;
	give_back((struct tg_job *)link, 0, secs, "rate limited until the reset");
}

/*
 * No more polls: at the daemon's stop, or while another process leads the
 * connector (connector_start).  The poll in flight is aborted (its
 * connection closed, so Telegram sees no second reader), and the batch in
 * hand is abandoned: whatever of it was not confirmed comes again to
 * whoever polls next, and what of it was stored is recognised then.
 * Replies under way go on (the outbox leaves new ones to the leader).
 */
static void tg_stop(struct connector *c)
{
	struct tg *tg = c->priv;
	if (!tg)
		return;
	tg->stopping = 1;
	tg->gen++;
	tg->outstanding = 0;
	if (tg->boot != BOOT_DONE)
		tg->boot = BOOT_NONE; /* a sign-in under way is done again at resume */
	if (tg->timers)
		uv_timer_stop(&tg->timer);
	if (tg->poll_call)
		rest_cancel(tg->rest, &tg->poll_call);
	rest_stop(tg->rest, hand_back);
}

static void tg_close(struct connector *c)
{
	struct tg *tg = c->priv;
	if (!tg)
		return;
	tg->closing = 1;
	if (tg->timers) {
		uv_close((uv_handle_t *)&tg->timer, NULL);
		tg->timers = 0;
	}
	rest_close(tg->rest);
}

static void tg_destroy(struct connector *c)
{
	struct tg *tg = c->priv;
	struct rest_job *j;
	if (!tg)
		return;
	while (tg->rest && (j = rest_pop(tg->rest)))
		job_free((struct tg_job *)j);
	rest_free(tg->rest);
	for (size_t i = 0; i < tg->nchats; i++)
		free(tg->chats[i]);
	free(tg->chats);
	free(tg->conns);
	free(tg->moved);
	free(tg->ring);
	explicit_bzero(tg->token, sizeof(tg->token));
	free(tg);
	c->priv = NULL;
}

/* What the store remembers: the cursor, a rate limit still running. */
static void limit_read(void *arg, int rc, const struct store_state *st)
{
	struct tg *tg = arg;
	if (rc == 0 && st && st->value) {
		long long until = strtoll(st->value, NULL, 10);
		if (until > now_ms()) {
			rest_pause(tg->rest, (int64_t)until, 1);
			log_info("telegram: a rate limit from before the restart still runs",
			         "connector=%s wait_ms=%lld", tg->c->name, until - (long long)now_ms());
		}
	}
}

/*
 * The stored offset is known (now or later): poll from there.  Read at
 * start and again at each resume, since the process that polled meanwhile
 * moved it: what it confirmed is not asked for again, what it fetched
 * without confirming is (and the store recognises what of it was stored).
 */
static void cursor_read(void *arg, int rc, const char *value)
{
	struct tg *tg = arg;
	if (rc == 0 && value) {
		long long id = 0, at = 0;
		if (sscanf(value, "%lld@%lld", &id, &at) == 2 && id > 0 &&
		    connector_now(tg->c) - (time_t)at < TELEGRAM_CURSOR_MAX_AGE_S) {
			tg->offset = (int64_t)id + 1;
		} else {
			tg->offset = 0;
			log_info("telegram: stored offset too old: Telegram's own is used", "connector=%s",
			         tg->c->name);
		}
	}
	if (tg->stopping || tg->closing)
		return; /* another process polls: tg_resume reads the offset again */
	log_info("telegram: starting", "connector=%s instance=%s offset=%" PRId64, tg->c->name, tg->api,
	         tg->offset);
	if (tg->boot == BOOT_DONE)
		poll_now(tg);
	else if (tg->boot == BOOT_NONE)
		boot_begin(tg); /* (else signing in already: polling follows) */
}

/*
 * This process polls the bot again (it leads the connector: see
 * connector_start): from the offset in the store, and, as after a start,
 * replies of unknown fate are looked for only once the updates waiting
 * now are read.
 */
static void tg_resume(struct connector *c)
{
	struct tg *tg = c->priv;
	if (!tg || tg->closing)
		return;
	tg->stopping = 0;
	tg->polled = 0;
	tg->drain_polls = 0;
	connector_set_health(c, HEALTH_STARTING, tg->boot == BOOT_DONE ? "polling" : "signing in");
	connector_cursor_get(c, cursor_read, tg);
}

static int tg_start(struct connector *c)
{
	const struct telegram_conf *cc = c->conf ? c->conf->settings : NULL;
	struct tg *tg = xcalloc(1, sizeof(*tg));
	c->priv = tg;
	tg->c = c;
	tg->loop = connector_loop(c);
	tg->started = connector_now(c);
	tg->rate = cc && cc->rate > 0 ? cc->rate : TELEGRAM_RATE_DEFAULT;
	tg->ring = xcalloc((size_t)tg->rate, sizeof(*tg->ring));
	snprintf(tg->api, sizeof(tg->api), "%s", cc && cc->instance ? cc->instance : DEFAULT_API);
	for (size_t n = strlen(tg->api); n > 0 && tg->api[n - 1] == '/'; n--)
		tg->api[n - 1] = '\0';

	struct metrics *mx = connector_metrics(c);
	tg->m_updates = metrics_counter(mx, "telegram_updates_total",
	                                "Telegram updates received, by what they were (private, group, "
	                                "business, staff, not_addressed, bot, edited, ...).",
	                                "connector,kind");
	tg->m_limited = metrics_counter(mx, "telegram_rate_limited_total", "Telegram requests answered 429.",
	                                "connector");
	tg->m_probes =
	    metrics_counter(mx, "telegram_probes_total",
	                    "Message ids looked at for replies whose fate was unknown.", "connector");
	struct rest_conf rc = {
	    .label = "telegram",
	    .max_inflight = TELEGRAM_MAX_INFLIGHT,
	    .m_limited = tg->m_limited,
	};
	static const struct rest_ops rops = {.start = job_start, .ready_at = job_ready_at};
	tg->rest = rest_new(c, &rc, &rops, tg);
	rest_hold(tg->rest, 0); /* until signed in */
	if (read_token(tg) < 0)
		return -1;
	uv_timer_init(&tg->loop->uv, &tg->timer);
	tg->timer.data = tg;
	tg->timers = 1;
	connector_set_health(c, HEALTH_STARTING, "signing in");
	time_t old = connector_now(c) - (time_t)TELEGRAM_STATE_DAYS * 86400;
	connector_state_prune(c, MARK_KIND, old);
	connector_state_prune(c, OURS_KIND, old);
	connector_state_prune(c, BCHAT_KIND, connector_now(c) - 2 * TELEGRAM_BUSINESS_WINDOW_S);
	connector_state_get(c, LIMIT_KIND, "until", limit_read, tg);
	connector_cursor_get(c, cursor_read, tg);
	return 0;
}

/* --- configuration ---------------------------------------------------------------------------------- */

static void *tg_parse(struct config_parser *p)
{
	struct telegram_conf *t = xcalloc(1, sizeof(*t));
	t->instance = config_key_url(p, "instance", CONFIG_URL_HTTP, 0, NULL);
	config_key_secret(p, "token", 1, "the bot's token from @BotFather", &t->token);
	t->rate = TELEGRAM_RATE_DEFAULT;
	config_key_int(p, "messages_per_second", &t->rate, 1, TELEGRAM_RATE_MAX);
	p->cc->endpoint = xstrdup(t->instance ? t->instance : DEFAULT_API);
	return t;
}

static void tg_free_settings(void *settings)
{
	struct telegram_conf *t = settings;
	free(t->instance);
	free(t->token.env);
	free(t->token.file);
	free(t);
}

static const char *const tg_keys[] = {"instance", "token_env", "token_file", "messages_per_second", NULL};

const struct connector_ops telegram_ops = {
    .type = "telegram",
    .keys = tg_keys,
    .parse = tg_parse,
    .free_settings = tg_free_settings,
    .max_text = 0,                  /* the connector cuts replies itself: Telegram counts UTF-16 code units */
    .caps = CONNECTOR_ONE_CONSUMER, /* one getUpdates reader per bot */
    .start = tg_start,
    .stop = tg_stop,
    .resume = tg_resume,
    .send = tg_send,
    .idle = tg_idle,
    .close = tg_close,
    .destroy = tg_destroy,
    .post_done = tg_post_done,
};
