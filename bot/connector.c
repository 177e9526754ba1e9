/*
 * connector.c - the registry of connector types and the services every
 * connector uses (see connector.h).
 */
#include "connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hours.h"
#include "outbox.h"
#include "store.h"
#include "util.h"

/*
 * Every connector type this build can run: one line each, named for its
 * folder bot/connectors/<name>/, which exports <name>_ops.
 */
#define CONNECTOR_TYPES(X)                                                                                   \
	X(webchat)                                                                                           \
	X(mastodon)                                                                                          \
	X(mattermost)                                                                                        \
	X(slack)                                                                                             \
	X(discord)                                                                                           \
	X(bridge)                                                                                            \
	X(telegram)                                                                                          \
	X(whatsapp)                                                                                          \
	X(messenger)                                                                                         \
	X(instagram)

#define DECLARE_OPS(name) extern const struct connector_ops name##_ops;
CONNECTOR_TYPES(DECLARE_OPS)
#undef DECLARE_OPS

#define OPS_ENTRY(name) &name##_ops,
static const struct connector_ops *const types[] = {CONNECTOR_TYPES(OPS_ENTRY)};
#undef OPS_ENTRY

#define NAME_ENTRY(name) #name,
static const char *const type_names[] = {CONNECTOR_TYPES(NAME_ENTRY) NULL};
#undef NAME_ENTRY

const struct connector_ops *connector_type(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_LEN(types); i++)
		if (strcmp(types[i]->type, type) == 0)
			return types[i];
	return NULL;
}

const char *const *connector_type_names(void)
{
	return type_names;
}

const char *connector_type_list(void)
{
	static char list[256];
	if (!list[0]) {
		size_t n = 0;
		for (size_t i = 0; type_names[i] && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			                      type_names[i]);
	}
	return list;
}

int connector_type_shows_sender(const char *type)
{
	const struct connector_ops *ops = connector_type(type);
	return ops && (ops->caps & CONNECTOR_SHOWS_SENDER);
}

/* The connectors running in this process (connector_new registers each). */
static struct connector **running;
static size_t nrunning;

struct connector *connector_new(const struct connector_conf *cc, const struct connector_host *h)
{
	const struct connector_ops *ops = connector_type(cc->type);
	if (!ops)
		return NULL;
	struct connector *c = xcalloc(1, sizeof(*c));
	c->ops = ops;
	c->host = h;
	c->conf = cc;
	c->name = xstrdup(cc->name ? cc->name : cc->type);
	c->health = HEALTH_STARTING;
	running = xrealloc(running, (nrunning + 1) * sizeof(*running));
	running[nrunning++] = c;
	return c;
}

/* The store said whether this process leads c's name (one-consumer types). */
static void lead_changed(void *arg, int leader)
{
	struct connector *c = arg;
	if (leader) {
		c->standby = 0;
		if (c->held && !connector_stopping(c)) {
			c->held = 0;
			log_info("connector runs here now", "connector=%s", c->name);
			if (c->ops->resume)
				c->ops->resume(c);
			else
				log_error("connector cannot resume: it stays stopped", "connector=%s",
				          c->name);
		}
		return;
	}
	c->standby = 1;
	if (!c->held) {
		c->held = 1;
		if (c->ops->stop)
			c->ops->stop(c);
	}
	connector_set_health(c, HEALTH_STANDBY, "another frontdesk process runs it");
}

int connector_start(struct connector *c)
{
	if (c->ops->start(c) < 0)
		return -1;
	struct store *s = connector_store(c);
	if (!(c->ops->caps & CONNECTOR_ONE_CONSUMER) || !s)
		return 0;
	c->standby = 1; /* until the store says this process leads it */
	char name[STORE_MAX_KEY];
	snprintf(name, sizeof(name), "connector/%s", c->name);
	c->leader = store_leader_watch(s, name, lead_changed, c);
	if (!c->leader) {
		log_error("connector cannot ask who runs it", "connector=%s", c->name);
		return -1;
	}
	/* Not leading yet (the answer may come later): wait, stopped. */
	if (c->standby)
		lead_changed(c, 0);
	return 0;
}

void connector_free(struct connector *c)
{
	if (!c)
		return;
	store_leader_cancel(c->leader);
	c->leader = NULL;
	for (size_t i = 0; i < nrunning; i++) {
		if (running[i] == c) {
			running[i] = running[--nrunning];
			break;
		}
	}
	if (!nrunning) {
		free(running);
		running = NULL;
	}
	if (c->ops->destroy)
		c->ops->destroy(c);
	free(c->name);
	free(c);
}

struct connector *connector_running(const char *name)
{
	for (size_t i = 0; name && i < nrunning; i++)
		if (strcmp(running[i]->name, name) == 0)
			return running[i];
	return NULL;
}

void connector_mark_read(const char *name, const char *thread_key)
{
	struct connector *c = connector_running(name);
	if (c && c->ops->mark_read && thread_key && *thread_key && !connector_stopping(c))
		c->ops->mark_read(c, thread_key);
}

void connector_typing(const char *name, const char *thread_key, const char *agent, int on)
{
	struct connector *c = connector_running(name);
	if (c && c->ops->typing && thread_key && *thread_key && !connector_stopping(c))
		c->ops->typing(c, thread_key, agent, on);
}

void connector_customer_typing(struct connector *c, const char *thread_key, int on)
{
	if (c->host && c->host->typing && thread_key && *thread_key)
		c->host->typing(c->host->arg, c, thread_key, on);
}

/* --- reply windows ----------------------------------------------------------- */

static long window_of(const struct connector_conf *cc, int agent)
{
	if (!cc)
		return 0;
	return agent ? cc->agent_window : cc->reply_window;
}

time_t connector_reply_until(const struct connector_conf *cc, int agent, time_t last_in)
{
	long w = window_of(cc, agent);
	return w > 0 && last_in > 0 ? last_in + w : 0;
}

/* "24 hours", "7 days", "90 minutes". */
static void span_words(long s, char *out, size_t n)
{
	if (s >= 2 * 86400 && s % 86400 == 0)
		snprintf(out, n, "%ld days", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(out, n, "%ld hours", s / 3600);
	else
		snprintf(out, n, "%ld minutes", (s + 59) / 60);
}

int connector_reply_allowed(const struct connector_conf *cc, int agent, time_t last_in, time_t now, char *why,
                            size_t n)
{
	time_t until = connector_reply_until(cc, agent, last_in);
	if (!until || now <= until) {
		if (n)
			why[0] = '\0';
		return 1;
	}
	const struct connector_ops *ops = cc->ops ? cc->ops : connector_type(cc->type);
	const char *title = ops && ops->title ? ops->title : cc->type;
	char win[32], ago[32];
	span_words(window_of(cc, agent), win, sizeof(win));
	span_words((long)(now - last_in), ago, sizeof(ago));
	snprintf(why, n,
	         "%s takes %s only within %s of the customer's last message, and they last wrote %s ago: "
	         "the customer must write again before anyone can answer here",
	         title, agent ? "a person's reply" : "replies", win, ago);
	return 0;
}

/* --- services --------------------------------------------------------------- */

int connector_deliver_post(struct connector *c, const struct post *p, void *cookie)
{
	if (!c->host || !c->host->deliver || connector_stopping(c))
		return -1;
	if (!p->platform || !p->post_id || !*p->post_id || !p->thread_key || !*p->thread_key) {
		log_warn("post without id or thread refused", "connector=%s", c->name);
		return -1;
	}
	if (p->is_self)
		return -1; /* our own words coming back: never stored, never decided */
	return c->host->deliver(c->host->arg, c, p, cookie);
}

void connector_send_done(struct connector *c, int64_t outbox_id, enum send_result r, long retry_after,
                         const char *detail)
{
	if (r == SEND_RETRY && retry_after > 0) {
		/* A rate limit holds for the whole account, not only this row. */
		int64_t until = outbox_now_ms() + (int64_t)retry_after * 1000;
		if (until > c->paused_until_ms)
			c->paused_until_ms = until;
	}
	if (c->host && c->host->send_done)
		c->host->send_done(c->host->arg, c, outbox_id, r, retry_after, detail);
}

void connector_cursor_get(struct connector *c, void (*cb)(void *arg, int rc, const char *value), void *arg)
{
	struct store *s = connector_store(c);
	if (s)
		store_cursor_get(s, c->name, cb, arg);
	else
		cb(arg, -1, NULL);
}

void connector_commit(struct connector *c, void (*done)(void *arg, int rc), void *arg)
{
	if (!c->host || !c->host->commit) {
		done(arg, -1);
		return;
	}
	c->host->commit(c->host->arg, done, arg);
}

int connector_mail_away(struct connector *c, const struct connector_mail *m)
{
	if (!c->host || !c->host->mail_away)
		return -1;
	return c->host->mail_away(c->host->arg, c, m);
}

void connector_cursor_set(struct connector *c, const char *cursor)
{
	struct store *s = connector_store(c);
	if (s)
		store_cursor_set(s, c->name, cursor, connector_now(c));
}

/* --- connector-private state ------------------------------------------------------- */

void connector_state_get(struct connector *c, const char *kind, const char *key, connector_state_fn cb,
                         void *arg)
{
	struct store *s = connector_store(c);
	if (s)
		store_state_get(s, c->name, kind, key, cb, arg);
	else
		cb(arg, -1, NULL);
}

int connector_state_put(struct connector *c, const char *kind, const char *key, const char *thread_key,
                        const char *value)
{
	struct store *s = connector_store(c);
	return s ? store_state_put(s, c->name, kind, key, thread_key, value, connector_now(c)) : -1;
}

int connector_contact(struct connector *c, const struct store_contact_info *ci)
{
	struct store *s = connector_store(c);
	struct store_contact_info v = *ci;
	if (!v.platform)
		v.platform = c->ops ? c->ops->type : NULL;
	return s ? store_contact_update(s, &v, connector_now(c)) : -1;
}

int connector_state_delete(struct connector *c, const char *kind, const char *key)
{
	struct store *s = connector_store(c);
	return s ? store_state_delete(s, c->name, kind, key) : -1;
}

int connector_state_prune(struct connector *c, const char *kind, time_t before)
{
	struct store *s = connector_store(c);
	return s ? store_state_prune(s, c->name, kind, before) : -1;
}

/* --- DM channels for private replies ------------------------------------------------ */

#define DM_KIND "dm"

struct connector_dm_req {
	struct connector *c;
	char *recipient;
	connector_dm_open_fn open;
	connector_dm_fn cb;
	void *arg;
};

static void dm_req_free(struct connector_dm_req *r)
{
	free(r->recipient);
	free(r);
}

static void dm_known(void *arg, int rc, const struct store_state *st)
{
	struct connector_dm_req *r = arg;
	if (rc == 0 && st->value && *st->value) {
		r->cb(r->arg, 0, st->value);
		dm_req_free(r);
		return;
	}
	/* Not remembered (or unreadable): ask the platform. */
	r->open(r->c, r->recipient, r);
}

void connector_dm_channel(struct connector *c, const char *recipient, connector_dm_open_fn open,
                          connector_dm_fn cb, void *arg)
{
	if (!recipient || !*recipient || strlen(recipient) > STORE_MAX_KEY || !open) {
		log_warn("private reply without a recipient", "connector=%s", c->name);
		cb(arg, -1, NULL);
		return;
	}
	struct connector_dm_req *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->recipient = xstrdup(recipient);
	r->open = open;
	r->cb = cb;
	r->arg = arg;
	connector_state_get(c, DM_KIND, recipient, dm_known, r);
}

void connector_dm_opened(struct connector_dm_req *r, const char *channel)
{
	if (channel && *channel) {
		if (connector_state_put(r->c, DM_KIND, r->recipient, NULL, channel) < 0)
			log_warn("DM channel not remembered", "connector=%s", r->c->name);
		r->cb(r->arg, 0, channel);
	} else {
		r->cb(r->arg, -1, NULL);
	}
	dm_req_free(r);
}

int connector_idem_ok(const char *s)
{
	if (!s || !*s || strlen(s) > STORE_MAX_KEY)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7F)
			return 0;
	return 1;
}

int connector_secret_read(struct connector *c, const struct config_secret *s, const char *what, char *out,
                          size_t n)
{
	char err[256];
	if (config_secret_read(s, out, n, err, sizeof(err)) == 0)
		return 0;
	if (n)
		explicit_bzero(out, n);
	char msg[128];
	struct buf q;
	snprintf(msg, sizeof(msg), "%s: cannot read %s", c->ops && c->ops->type ? c->ops->type : "connector",
	         what ? what : "a secret");
	buf_init(&q, 0);
	log_quote(&q, err);
	log_error(msg, "connector=%s error=%s", c->name ? c->name : "-", q.p ? q.p : "\"\"");
	buf_free(&q);
	return -1;
}

int connector_id_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= max)
			return 0;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

const char *connector_health_name(enum connector_health h)
{
	static const char *const names[] = {"starting", "ok", "degraded", "down", "standby"};
	return (unsigned)h < ARRAY_LEN(names) ? names[h] : "down";
}

void connector_set_health(struct connector *c, enum connector_health h, const char *detail)
{
	if (c->health != h) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, detail ? detail : "");
		log_info("connector health", "connector=%s health=%s detail=%s", c->name,
		         connector_health_name(h), b.p);
		buf_free(&b);
	}
	c->health = h;
	snprintf(c->health_detail, sizeof(c->health_detail), "%s", detail ? detail : "");
}

void connector_fatal(struct connector *c, const char *detail)
{
	struct buf b;
	buf_init(&b, 0);
	log_quote(&b, detail ? detail : "");
	log_error("connector needs attention", "connector=%s type=%s detail=%s", c->name, c->ops->type, b.p);
	buf_free(&b);
	connector_set_health(c, HEALTH_DOWN, detail);
}

struct loop *connector_loop(struct connector *c)
{
	return c->host ? c->host->loop : NULL;
}

struct server *connector_server(struct connector *c)
{
	return c->host ? c->host->server : NULL;
}

struct store *connector_store(struct connector *c)
{
	return c->host ? c->host->store : NULL;
}

struct metrics *connector_metrics(struct connector *c)
{
	return c->host ? c->host->metrics : NULL;
}

const struct config *connector_config(struct connector *c)
{
	return c->host && c->host->config ? c->host->config(c->host->arg) : NULL;
}

time_t connector_now(struct connector *c)
{
	(void)c;
	return time(NULL);
}

int connector_business_open(struct connector *c)
{
	const struct config *cfg = connector_config(c);
	return cfg ? hours_is_open(cfg->hours, connector_now(c)) : 1;
}

int connector_stopping(struct connector *c)
{
	return c->host && c->host->stopping ? c->host->stopping(c->host->arg) : 0;
}
