/*
 * whatsapp.c - the WhatsApp connector (`type: whatsapp`, the Cloud API):
 * Meta's webhook in, the Graph API out.  PLATFORMS.md, section WhatsApp,
 * lists the behaviour it keeps; meta.h what it shares with Messenger and
 * Instagram (the verified webhook, errors, sending each reply once).
 *
 *   - { type: whatsapp, phone_number_id: "1234", token_env: WA_TOKEN,
 *       app_secret_env: META_APP_SECRET, verify_token_env: META_VERIFY_TOKEN,
 *       listen: 127.0.0.1:8082 }
 *
 * In: every `messages` change of the delivery; each customer message is a
 * private post (post id the wamid, conversation "<phone_number_id>:<wa_id>":
 * one customer per business number), with the contact's profile name.
 * Messages to a number not in phone_number_id belong to someone else (a
 * WABA can hold numbers another program serves) and are left alone.
 * Statuses carry back the marker of our replies (meta.h: a reply is not
 * sent twice); a `failed` status is logged with Meta's code, and a pair
 * limit or throttle reported that way holds the next replies.
 *
 * Out: POST /{version}/{phone_number_id}/messages from the number the
 * customer wrote to, `to` the wa_id exactly as it came, context.message_id
 * the message answered, the text cut to 4,096 characters by the daemon.
 * Replies go only within 24 hours of the customer's last message (each
 * message they send resets it): the outbox fails a bot reply after that
 * and the dashboard and `frontdesk queue` refuse a person's, saying why.
 *
 * Mark as read: when a person opens the conversation in the dashboard, its
 * newest customer message is marked read (the customer's blue ticks),
 * remembered per conversation in the connector state (kind "in").
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "connector.h"
#include "connectors/meta/meta.h"
#include "connectors/whatsapp/whatsapp_wire.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define MAX_NUMBERS 64
#define IN_KIND     "in" /* per conversation: the newest customer message {"id","at"} */

struct whatsapp_conf {
	struct meta_conf meta;
	char **numbers; /* phone_number_id: NULL-terminated, at least one */
};

struct whatsapp {
	struct meta *meta; /* first: meta.h's META_CONNECTOR_OPS find it there */
	struct connector *c;
	const struct whatsapp_conf *conf;
	char foreign_logged[META_MAX_ID + 1]; /* the last other number we saw (logged once) */
	struct metric *m_events;
};

static int number_ours(const struct whatsapp *w, const char *pnid)
{
	for (size_t i = 0; w->conf->numbers && w->conf->numbers[i]; i++)
		if (strcmp(w->conf->numbers[i], pnid) == 0)
			return 1;
	return 0;
}

/* --- the newest customer message of a conversation (mark as read) ------------- */

struct in_update {
	struct whatsapp *w;
	char thread[STORE_MAX_KEY + 1];
	char id[META_MAX_ID + 1];
	time_t at;
};

static void in_got(void *arg, int rc, const struct store_state *st)
{
	struct in_update *u = arg;
	time_t known = 0;
	int same = 0;
	if (rc == 0 && st->value) {
		json_t *o = json_loads(st->value, 0, NULL);
		known = (time_t)json_integer_value(json_object_get(o, "at"));
		const char *id = json_string_value(json_object_get(o, "id"));
		same = id && strcmp(id, u->id) == 0;
		json_decref(o);
	}
	/* Deliveries come out of order: keep the newest.  Meta delivers the
	 * same message again at will; that must not forget it was marked read. */
	if (rc >= 0 && !same && (rc == 1 || u->at >= known)) {
		json_t *o = json_pack("{s:s, s:I}", "id", u->id, "at", (json_int_t)u->at);
		char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (v)
			connector_state_put(u->w->c, IN_KIND, u->thread, u->thread, v);
		free(v);
		json_decref(o);
	}
	free(u);
}

static void in_remember(struct whatsapp *w, const char *thread, const struct whatsapp_message *m)
{
	struct in_update *u = xcalloc(1, sizeof(*u));
	u->w = w;
	snprintf(u->thread, sizeof(u->thread), "%s", thread);
	snprintf(u->id, sizeof(u->id), "%s", m->id);
	u->at = m->ts;
	connector_state_get(w->c, IN_KIND, thread, in_got, u);
}

struct read_req {
	struct whatsapp *w;
	char pnid[META_MAX_ID + 1];
	char thread[STORE_MAX_KEY + 1];
};

static void read_got(void *arg, int rc, const struct store_state *st)
{
	struct read_req *q = arg;
	json_t *o = rc == 0 && st->value ? json_loads(st->value, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *done = json_string_value(json_object_get(o, "read"));
	/* Opened again with nothing new from the customer: nothing to mark. */
	if (id && meta_id_ok(id) && !(done && !strcmp(done, id))) {
		char *body = whatsapp_read_body(id), path[META_MAX_ID + 16];
		snprintf(path, sizeof(path), "%s/messages", q->pnid);
		if (body && meta_post(q->w->meta, path, body, "mark read") == 0) {
			json_object_set_new(o, "read", json_string(id));
			char *v = json_dumps(o, JSON_COMPACT);
			if (v)
				connector_state_put(q->w->c, IN_KIND, q->thread, q->thread, v);
			free(v);
			log_debug("whatsapp: marked read", "connector=%s", q->w->c->name);
		}
		free(body);
	}
	json_decref(o);
	free(q);
}

static void wa_mark_read(struct connector *c, const char *thread_key)
{
	struct whatsapp *w = c->priv;
	char pnid[META_MAX_ID + 1], to[META_MAX_ID + 1];
	if (!w || !w->meta || meta_thread_split(thread_key, pnid, sizeof(pnid), to, sizeof(to)) < 0)
		return;
	struct read_req *q = xcalloc(1, sizeof(*q));
	q->w = w;
	snprintf(q->pnid, sizeof(q->pnid), "%s", pnid);
	snprintf(q->thread, sizeof(q->thread), "%s", thread_key);
	connector_state_get(c, IN_KIND, thread_key, read_got, q);
}

/* --- webhook deliveries -------------------------------------------------------- */

static void delivery(void *arg, struct webhook_batch *b, const char *body, size_t len)
{
	struct whatsapp *w = arg;
	struct connector *c = w->c;
	struct whatsapp_delivery d;
	char err[256];

	if (whatsapp_parse(body, len, &d, err, sizeof(err)) < 0) {
		/* Signed by Meta, but nothing we can use: answered 200, or Meta
		 * would send it again for days. */
		struct buf q;
		buf_init(&q, 0);
		log_quote(&q, err);
		log_warn("whatsapp: delivery ignored: not a WhatsApp delivery", "connector=%s error=%s",
		         c->name, q.p);
		buf_free(&q);
		metric_add_l(w->m_events, 1, c->name, "bad");
		return;
	}
	if (d.skipped)
		metric_add_l(w->m_events, (double)d.skipped, c->name, "skipped");
	for (size_t i = 0; i < d.nstatuses; i++) {
		const struct whatsapp_status *s = &d.statuses[i];
		metric_add_l(w->m_events, 1, c->name, "status");
		if (s->marker[0] && strcmp(s->status, "failed") != 0)
			meta_confirmed(w->meta, b, s->marker);
		if (s->failed) {
			char thread[STORE_MAX_KEY + 1];
			whatsapp_thread_key(s->phone_number_id, s->recipient, thread, sizeof(thread));
			meta_failed_later(w->meta, s->recipient[0] ? thread : NULL, &s->err);
		}
	}
	for (size_t i = 0; i < d.nmsgs; i++) {
		const struct whatsapp_message *m = &d.msgs[i];
		char thread[STORE_MAX_KEY + 1], handle[META_MAX_ID + 2];
		if (!number_ours(w, m->phone_number_id)) {
			if (strcmp(w->foreign_logged, m->phone_number_id) != 0) {
				snprintf(w->foreign_logged, sizeof(w->foreign_logged), "%s",
				         m->phone_number_id);
				log_warn("whatsapp: message to a number not in phone_number_id: left alone",
				         "connector=%s phone_number_id=%s", c->name, m->phone_number_id);
			}
			metric_add_l(w->m_events, 1, c->name, "other_number");
			continue;
		}
		whatsapp_thread_key(m->phone_number_id, m->from, thread, sizeof(thread));
		snprintf(handle, sizeof(handle), "+%s", m->from);
		struct post p = {
		    .platform = "whatsapp",
		    .connector = c->name,
		    .post_id = m->id,
		    .thread_key = thread,
		    .reply_to_id = m->id,
		    .author_id = m->from,
		    .author_handle = handle,
		    .author_name = m->name,
		    .channel = c->conf->channel,
		    .text = m->text,
		    .is_public = 0,
		    .created = m->ts,
		};
		metric_add_l(w->m_events, 1, c->name, "message");
		in_remember(w, thread, m);
		meta_deliver(w->meta, b, &p);
	}
	whatsapp_delivery_free(&d);
}

/* --- replies -------------------------------------------------------------------- */

static int wa_build(void *arg, const struct meta_part *p, char *path, size_t pathn, char **body, char *why,
                    size_t whyn)
{
	char pnid[META_MAX_ID + 1], to[META_MAX_ID + 1];
	(void)arg;
	if (meta_thread_split(p->thread_key, pnid, sizeof(pnid), to, sizeof(to)) < 0) {
		snprintf(why, whyn, "not a WhatsApp conversation: %.64s", p->thread_key);
		return -1;
	}
	snprintf(path, pathn, "%s/messages", pnid);
	*body = whatsapp_reply_body(to, p->text, p->reply_to && meta_id_ok(p->reply_to) ? p->reply_to : NULL,
	                            p->marker);
	if (!*body) {
		snprintf(why, whyn, "the reply is not valid UTF-8");
		return -1;
	}
	return 0;
}

static int wa_send(struct connector *c, const struct outmsg *m)
{
	struct whatsapp *w = c->priv;
	char *parts[1] = {(char *)m->text};
	return meta_send(w->meta, m, parts, m->text && *m->text ? 1 : 0);
}

/* --- sign-in -------------------------------------------------------------------- */

static void wa_whoami(void *arg, char *path, size_t n)
{
	struct whatsapp *w = arg;
	snprintf(path, n, "%s?fields=display_phone_number,verified_name", w->conf->numbers[0]);
}

static void wa_whoami_name(void *arg, const char *body, size_t len, char *name, size_t n)
{
	(void)arg;
	json_t *o = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
	const char *v = json_string_value(json_object_get(o, "verified_name"));
	const char *num = json_string_value(json_object_get(o, "display_phone_number"));
	snprintf(name, n, "%s%s%s", v ? v : "", v && num ? " " : "", num ? num : "");
	json_decref(o);
}

static const struct meta_hooks wa_hooks = {
    .delivery = delivery,
    .whoami = wa_whoami,
    .whoami_name = wa_whoami_name,
    .build = wa_build,
};

/* --- connector ops ---------------------------------------------------------------- */

static int wa_start(struct connector *c)
{
	const struct whatsapp_conf *cc = c->conf ? c->conf->settings : NULL;
	if (!cc || !cc->numbers || !cc->numbers[0]) {
		log_error("whatsapp: phone_number_id is required", "connector=%s", c->name);
		return -1;
	}
	struct whatsapp *w = xcalloc(1, sizeof(*w));
	c->priv = w;
	w->c = c;
	w->conf = cc;
	w->m_events = metrics_counter(connector_metrics(c), "whatsapp_events_total",
	                              "WhatsApp webhook items, by connector and kind "
	                              "(message, status, skipped, other_number, bad).",
	                              "connector,kind");
	w->meta = meta_start(c, &cc->meta, &wa_hooks, w);
	return w->meta ? 0 : -1;
}

/* --- configuration ---------------------------------------------------------------- */

static void *wa_parse(struct config_parser *p)
{
	struct whatsapp_conf *w = xcalloc(1, sizeof(*w));
	meta_parse(p, &w->meta);
	w->numbers = config_key_strv(p, "phone_number_id", MAX_NUMBERS);
	if (p->map && !w->numbers)
		config_key_error(p, NULL,
		                 "'phone_number_id' is required: the id of your business number (WhatsApp > "
		                 "API Setup in the app dashboard), like \"1234567890\"");
	for (size_t i = 0; w->numbers && w->numbers[i]; i++)
		if (!meta_id_ok(w->numbers[i]))
			config_key_item_error(p, "phone_number_id", i, "not a phone number id: '%s'",
			                      w->numbers[i]);
	/* Free-form replies only within 24 hours of the customer's last
	 * message, whoever writes them (templates are outside this program). */
	p->cc->reply_window = META_WINDOW;
	p->cc->agent_window = META_WINDOW;
	return w;
}

static void wa_free_settings(void *settings)
{
	struct whatsapp_conf *w = settings;
	meta_conf_free(&w->meta);
	strv_free(w->numbers);
	free(w);
}

static const char *const wa_keys[] = {META_CONF_KEYS, "phone_number_id", NULL};

const struct connector_ops whatsapp_ops = {
    .type = "whatsapp",
    .title = "WhatsApp",
    .max_text = WHATSAPP_MAX_CHARS,
    .keys = wa_keys,
    .parse = wa_parse,
    .free_settings = wa_free_settings,
    .start = wa_start,
    .send = wa_send,
    META_CONNECTOR_OPS,
    .mark_read = wa_mark_read,
};
