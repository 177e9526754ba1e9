/*
 * messenger.c - the Messenger Platform connectors (see messenger.h):
 * `type: messenger` here, `type: instagram` in connectors/instagram/
 * with its own facts (struct messenger_kind).
 */
#include "messenger.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "connector.h"
#include "connectors/messenger/messenger_wire.h"
#include "connectors/meta/meta.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

static const struct messenger_kind k_messenger = {
    .type = "messenger",
    .title = "Messenger",
    .object = MESSENGER_OBJECT,
    .id_key = "page_id",
    .id_hint = "the Facebook Page's id (the Page's About > Page transparency, or Meta Business Suite "
               "> Settings), like \"1234567890\"",
    .staff = "a person on Messenger",
    .whoami_field = "name",
};

struct messenger_conf {
	struct meta_conf meta;
	const struct messenger_kind *k;
	char *owner;     /* page_id / account_id */
	char *app_id;    /* our Meta app's id, or NULL: its echoes are never a person's */
	int human_agent; /* the app may use the HUMAN_AGENT tag (default yes) */
};

struct messenger {
	struct meta *meta; /* first: meta.h's META_CONNECTOR_OPS find it there */
	struct connector *c;
	const struct messenger_conf *conf;
	char foreign_logged[META_MAX_ID + 1]; /* the last other Page or account seen (logged once) */
	struct metric *m_events;
};

/* --- webhook deliveries -------------------------------------------------------- */

static void bad_delivery(struct messenger *ms, const char *err)
{
	struct buf q;
	buf_init(&q, 0);
	log_quote(&q, err);
	/* Signed by Meta, but nothing we can use: answered 200, or Meta would
	 * send it again and again. */
	log_warn("messenger: delivery ignored: not a delivery of this type", "connector=%s type=%s error=%s",
	         ms->c->name, ms->conf->k->type, q.p);
	buf_free(&q);
	metric_add_l(ms->m_events, 1, ms->c->name, "bad");
}

static void delivery(void *arg, struct webhook_batch *b, const char *body, size_t len)
{
	struct messenger *ms = arg;
	struct connector *c = ms->c;
	const struct messenger_kind *k = ms->conf->k;
	struct messenger_delivery d;
	char err[256];

	if (messenger_parse(body, len, k->object, &d, err, sizeof(err)) < 0) {
		bad_delivery(ms, err);
		return;
	}
	if (d.skipped)
		metric_add_l(ms->m_events, (double)d.skipped, c->name, "skipped");
	for (size_t i = 0; i < d.n; i++) {
		const struct messenger_event *e = &d.events[i];
		char thread[STORE_MAX_KEY + 1];
		if (strcmp(e->owner, ms->conf->owner) != 0) {
			if (strcmp(ms->foreign_logged, e->owner) != 0) {
				snprintf(ms->foreign_logged, sizeof(ms->foreign_logged), "%s", e->owner);
				log_warn("messenger: event for another Page or account: left alone",
				         "connector=%s id=%s", c->name, e->owner);
			}
			metric_add_l(ms->m_events, 1, c->name, "other_owner");
			continue;
		}
		if (e->kind == MESSENGER_HANDOVER) {
			/* The handover protocol: while another app controls the
			 * conversation its messages come under standby (left
			 * alone); this notice only says who has it now. */
			log_info("messenger: conversation control changed", "connector=%s event=%s app_id=%s",
			         c->name, e->handover, e->app_id[0] ? e->app_id : "-");
			metric_add_l(ms->m_events, 1, c->name, "handover");
			continue;
		}
		if (e->standby) {
			/* Another app controls this conversation. */
			metric_add_l(ms->m_events, 1, c->name, "standby");
			continue;
		}
		if (e->kind == MESSENGER_ECHO && meta_marker_ours(e->marker)) {
			metric_add_l(ms->m_events, 1, c->name, "echo");
			meta_confirmed(ms->meta, b, e->marker);
			continue;
		}
		if (e->kind == MESSENGER_ECHO && ms->conf->app_id && !strcmp(e->app_id, ms->conf->app_id)) {
			/* Ours, without the marker (a message sent another way). */
			metric_add_l(ms->m_events, 1, c->name, "echo");
			continue;
		}
		if (e->kind == MESSENGER_MESSAGE && strcmp(e->customer, e->owner) == 0) {
			metric_add_l(ms->m_events, 1, c->name, "self");
			continue;
		}
		int tn = snprintf(thread, sizeof(thread), "%s:%.*s", e->owner,
		                  (int)(sizeof(thread) - 2 - strlen(e->owner)), e->customer);
		if (tn < 0 || strlen(e->owner) + 1 + strlen(e->customer) >= sizeof(thread)) {
			metric_add_l(ms->m_events, 1, c->name, "skipped");
			continue;
		}
		int staff = e->kind == MESSENGER_ECHO;
		struct post p = {
		    .platform = k->type,
		    .connector = c->name,
		    .post_id = e->mid,
		    .thread_key = thread,
		    .reply_to_id = staff ? NULL : e->mid,
		    .author_id = staff ? e->owner : e->customer,
		    .author_name = staff ? k->staff : NULL,
		    .channel = c->conf->channel,
		    .text = e->text,
		    .from_staff = staff,
		    .is_public = 0,
		    .created = e->ts,
		};
		if (staff)
			log_info("messenger: a person answered on the platform: the conversation is theirs",
			         "connector=%s app_id=%s", c->name, e->app_id[0] ? e->app_id : "-");
		metric_add_l(ms->m_events, 1, c->name, staff ? "staff" : "message");
		meta_deliver(ms->meta, b, &p);
	}
	messenger_delivery_free(&d);
}

/* --- replies -------------------------------------------------------------------- */

static int ms_build(void *arg, const struct meta_part *p, char *path, size_t pathn, char **body, char *why,
                    size_t whyn)
{
	struct messenger *ms = arg;
	char owner[META_MAX_ID + 1], to[META_MAX_ID + 1];
	if (meta_thread_split(p->thread_key, owner, sizeof(owner), to, sizeof(to)) < 0) {
		snprintf(why, whyn, "not a %s conversation: %.64s", ms->conf->k->title, p->thread_key);
		return -1;
	}
	/* Past the 24 hours only a person's reply may go, tagged. */
	int tagged = p->agent && ms->conf->human_agent && p->last_in > 0 && p->now - p->last_in > META_WINDOW;
	snprintf(path, pathn, "me/messages");
	*body = messenger_reply_body(to, p->text, tagged,
	                             p->reply_to && meta_id_ok(p->reply_to) ? p->reply_to : NULL, p->marker);
	if (!*body) {
		snprintf(why, whyn, "the reply is not valid UTF-8");
		return -1;
	}
	return 0;
}

int messenger_send(struct connector *c, const struct outmsg *m)
{
	struct messenger *ms = c->priv;
	const struct messenger_kind *k = ms->conf->k;
	if (!k->max_bytes || !k->split || !m->text || strlen(m->text) <= k->max_bytes) {
		char *parts[1] = {(char *)m->text};
		return meta_send(ms->meta, m, parts, m->text && *m->text ? 1 : 0);
	}
	/* A kind that counts bytes: a row of up to max_text characters may
	 * need several messages. */
	char *parts[META_MAX_PARTS];
	size_t n = k->split(m->text, k->max_bytes, parts, META_MAX_PARTS);
	int rc = meta_send(ms->meta, m, parts, n);
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	return rc;
}

void messenger_mark_read(struct connector *c, const char *thread_key)
{
	struct messenger *ms = c->priv;
	char owner[META_MAX_ID + 1], to[META_MAX_ID + 1];
	if (!ms || !ms->meta || meta_thread_split(thread_key, owner, sizeof(owner), to, sizeof(to)) < 0)
		return;
	char *body = messenger_seen_body(to);
	if (body)
		meta_post(ms->meta, "me/messages", body, "mark seen");
	free(body);
}

/* --- sign-in -------------------------------------------------------------------- */

static void ms_whoami(void *arg, char *path, size_t n)
{
	struct messenger *ms = arg;
	snprintf(path, n, "%s?fields=%s", ms->conf->owner, ms->conf->k->whoami_field);
}

static void ms_whoami_name(void *arg, const char *body, size_t len, char *name, size_t n)
{
	struct messenger *ms = arg;
	json_t *o = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
	const char *v = json_string_value(json_object_get(o, ms->conf->k->whoami_field));
	snprintf(name, n, "%s", v ? v : "");
	json_decref(o);
}

static const struct meta_hooks ms_hooks = {
    .delivery = delivery,
    .whoami = ms_whoami,
    .whoami_name = ms_whoami_name,
    .build = ms_build,
};

/* --- connector ops ---------------------------------------------------------------- */

int messenger_start(struct connector *c)
{
	const struct messenger_conf *cc = c->conf ? c->conf->settings : NULL;
	if (!cc || !cc->owner) {
		log_error("messenger: the Page or account id is required", "connector=%s", c->name);
		return -1;
	}
	struct messenger *ms = xcalloc(1, sizeof(*ms));
	c->priv = ms;
	ms->c = c;
	ms->conf = cc;
	ms->m_events = metrics_counter(connector_metrics(c), "messenger_events_total",
	                               "Messenger and Instagram webhook events, by connector and kind "
	                               "(message, echo, staff, standby, handover, self, skipped, "
	                               "other_owner, bad).",
	                               "connector,kind");
	ms->meta = meta_start(c, &cc->meta, &ms_hooks, ms);
	return ms->meta ? 0 : -1;
}

/* --- configuration ---------------------------------------------------------------- */

void *messenger_settings_parse(struct config_parser *p, const struct messenger_kind *k)
{
	struct messenger_conf *m = xcalloc(1, sizeof(*m));
	m->k = k;
	m->human_agent = 1;
	meta_parse(p, &m->meta);
	m->meta.token_in_query = 1;
	m->owner = config_key_str(p, k->id_key, 0, NULL);
	if (p->map && !m->owner)
		config_key_error(p, NULL, "'%s' is required: %s", k->id_key, k->id_hint);
	else if (m->owner && !meta_id_ok(m->owner))
		config_key_error(p, k->id_key, "not an id: '%s'", m->owner);
	m->app_id = config_key_str(p, "app_id", 0, NULL);
	if (m->app_id && !meta_id_ok(m->app_id))
		config_key_error(p, "app_id",
		                 "expected the app's id (App settings > Basic > App ID), not '%s'",
		                 m->app_id);
	meta_key_bool(p, "human_agent", &m->human_agent);
	/* The bot: 24 hours after the customer's last message.  A person: 7
	 * days with the HUMAN_AGENT tag, when the app may use it. */
	p->cc->reply_window = META_WINDOW;
	p->cc->agent_window = m->human_agent ? META_HUMAN_AGENT_WINDOW : META_WINDOW;
	return m;
}

static void *ms_parse(struct config_parser *p)
{
	return messenger_settings_parse(p, &k_messenger);
}

void messenger_free_settings(void *settings)
{
	struct messenger_conf *m = settings;
	meta_conf_free(&m->meta);
	free(m->owner);
	free(m->app_id);
	free(m);
}

static const char *const messenger_keys[] = {META_CONF_KEYS, "page_id", MESSENGER_KEYS, NULL};

const struct connector_ops messenger_ops = {
    .type = "messenger",
    .title = "Messenger",
    .max_text = MESSENGER_MAX_CHARS,
    .keys = messenger_keys,
    .parse = ms_parse,
    .free_settings = messenger_free_settings,
    .start = messenger_start,
    .send = messenger_send,
    META_CONNECTOR_OPS,
    .mark_read = messenger_mark_read,
};
