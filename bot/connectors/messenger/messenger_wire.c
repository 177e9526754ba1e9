/*
 * messenger_wire.c - Messenger Platform deliveries in, Send API bodies out
 * (see messenger_wire.h).
 */
#include "messenger_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "post.h"
#include "util.h"

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* An id (a string, or a number as Meta sends app_id) into out; 0 or -1. */
static int take_id(json_t *v, char *out, size_t n)
{
	char num[32];
	const char *s = json_string_value(v);
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
	}
	if (!s || !meta_id_ok(s) || strlen(s) >= n)
		return -1;
	snprintf(out, n, "%s", s);
	return 0;
}

static const char *placeholder(const char *type)
{
	static const struct {
		const char *type, *text;
	} kinds[] = {
	    {"image", "(a photo)"},
	    {"video", "(a video)"},
	    {"audio", "(a voice message)"},
	    {"file", "(a file)"},
	    {"location", "(a location)"},
	    {"sticker", "(a sticker)"},
	    {"story_mention", "(a story that mentions you)"},
	    {"share", "(a shared post)"},
	    {"ig_reel", "(a shared reel)"},
	    {"reel", "(a shared reel)"},
	    {"fallback", "(a link)"},
	};
	for (size_t i = 0; type && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(type, kinds[i].type))
			return kinds[i].text;
	return "(an attachment)";
}

/* What a message says as text; NULL for what is no message at all. */
static char *message_text(json_t *msg)
{
	const char *t = str(msg, "text");
	if (t && *t)
		return xstrdup_cut(t, POST_MAX_TEXT);
	json_t *att = json_object_get(msg, "attachments");
	if (json_array_size(att) > 0)
		return xstrdup(placeholder(str(json_array_get(att, 0), "type")));
	if (json_is_true(json_object_get(msg, "is_unsupported")))
		return xstrdup("(a message of a kind this app cannot show)");
	return NULL;
}

static void add(struct messenger_delivery *d, const struct messenger_event *e)
{
	d->events = xrealloc(d->events, (d->n + 1) * sizeof(*d->events));
	d->events[d->n++] = *e;
}

/* A handover notice: who controls the conversation now. */
static void parse_handover(struct messenger_delivery *d, json_t *ev, const char *owner, int standby)
{
	static const char *const kinds[] = {"pass_thread_control", "take_thread_control",
	                                    "request_thread_control"};
	static const char *const app_keys[] = {"new_owner_app_id", "requested_owner_app_id"};
	struct messenger_event e;
	json_t *h = NULL;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !h; i++)
		h = json_object_get(ev, kinds[i]);
	if (!json_is_object(h))
		return;
	memset(&e, 0, sizeof(e));
	if (take_id(json_object_get(json_object_get(ev, "sender"), "id"), e.customer, sizeof(e.customer)) <
	    0) {
		d->skipped++;
		return;
	}
	e.kind = MESSENGER_HANDOVER;
	e.standby = standby;
	snprintf(e.owner, sizeof(e.owner), "%s", owner);
	snprintf(e.handover, sizeof(e.handover), "%s", kinds[i - 1]);
	for (size_t k = 0; k < sizeof(app_keys) / sizeof(app_keys[0]) && !e.app_id[0]; k++)
		take_id(json_object_get(h, app_keys[k]), e.app_id, sizeof(e.app_id));
	json_int_t ms = json_integer_value(json_object_get(ev, "timestamp"));
	e.ts = ms > 0 ? (time_t)(ms / 1000) : 0;
	e.text = xstrdup("");
	add(d, &e);
}

static void parse_event(struct messenger_delivery *d, json_t *ev, const char *owner, int standby)
{
	struct messenger_event e;
	char sender[META_MAX_ID + 1], recipient[META_MAX_ID + 1];
	json_t *msg = json_object_get(ev, "message"), *pb = json_object_get(ev, "postback");
	json_int_t ms = json_integer_value(json_object_get(ev, "timestamp"));

	memset(&e, 0, sizeof(e));
	if (!json_is_object(msg) && !json_is_object(pb)) {
		parse_handover(d, ev, owner, standby);
		return; /* reads, deliveries, reactions: not messages */
	}
	if (take_id(json_object_get(json_object_get(ev, "sender"), "id"), sender, sizeof(sender)) < 0 ||
	    take_id(json_object_get(json_object_get(ev, "recipient"), "id"), recipient, sizeof(recipient)) <
	        0) {
		d->skipped++;
		return;
	}
	snprintf(e.owner, sizeof(e.owner), "%s", owner);
	e.standby = standby;
	e.ts = ms > 0 ? (time_t)(ms / 1000) : 0;
	if (json_is_object(msg)) {
		if (json_is_true(json_object_get(msg, "is_deleted"))) {
			d->skipped++;
			return;
		}
		if (take_id(json_object_get(msg, "mid"), e.mid, sizeof(e.mid)) < 0) {
			d->skipped++;
			return;
		}
		e.kind = json_is_true(json_object_get(msg, "is_echo")) ? MESSENGER_ECHO : MESSENGER_MESSAGE;
		if (e.kind == MESSENGER_ECHO) {
			take_id(json_object_get(msg, "app_id"), e.app_id, sizeof(e.app_id));
			const char *meta = str(msg, "metadata");
			if (meta && strlen(meta) < sizeof(e.marker))
				snprintf(e.marker, sizeof(e.marker), "%s", meta);
		}
		e.text = message_text(msg);
	} else {
		/* A tapped button: its title is what the customer said. */
		const char *title = str(pb, "title");
		if (take_id(json_object_get(pb, "mid"), e.mid, sizeof(e.mid)) < 0) {
			char id[META_MAX_ID + 1];
			int n = snprintf(id, sizeof(id), "pb.%s.%lld", sender, (long long)ms);
			if (n < 0 || (size_t)n >= sizeof(id) || ms <= 0) {
				d->skipped++;
				return;
			}
			snprintf(e.mid, sizeof(e.mid), "%s", id);
		}
		e.kind = MESSENGER_MESSAGE;
		e.text = title && *title ? xstrdup_cut(title, POST_MAX_TEXT) : xstrdup("(a button)");
	}
	if (!e.text) {
		d->skipped++;
		return;
	}
	/* The customer: the sender of their messages, the recipient of echoes. */
	snprintf(e.customer, sizeof(e.customer), "%s", e.kind == MESSENGER_ECHO ? recipient : sender);
	add(d, &e);
}

int messenger_parse(const char *body, size_t len, const char *object, struct messenger_delivery *d, char *err,
                    size_t errn)
{
	memset(d, 0, sizeof(*d));
	json_t *root = meta_delivery_load(body, len, object, err, errn);
	if (!root)
		return -1;
	size_t i, k;
	json_t *entry, *ev;
	json_array_foreach(json_object_get(root, "entry"), i, entry)
	{
		char owner[META_MAX_ID + 1];
		json_t *lists[2] = {json_object_get(entry, "messaging"), json_object_get(entry, "standby")};
		if (take_id(json_object_get(entry, "id"), owner, sizeof(owner)) < 0) {
			d->skipped += json_array_size(lists[0]) + json_array_size(lists[1]);
			continue;
		}
		for (int l = 0; l < 2; l++) {
			json_array_foreach(lists[l], k, ev)
			{
				if (d->n >= MESSENGER_MAX_EVENTS)
					d->skipped++;
				else
					parse_event(d, ev, owner, l == 1);
			}
		}
	}
	json_decref(root);
	return 0;
}

void messenger_delivery_free(struct messenger_delivery *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->events[i].text);
	free(d->events);
	memset(d, 0, sizeof(*d));
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

char *messenger_reply_body(const char *to, const char *text, int human_agent, const char *reply_to,
                           const char *marker)
{
	json_t *o = json_pack("{s:{s:s}, s:s, s:{s:s}}", "recipient", "id", to, "messaging_type",
	                      human_agent ? "MESSAGE_TAG" : "RESPONSE", "message", "text", text);
	if (!o)
		return NULL;
	if (human_agent)
		json_object_set_new(o, "tag", json_string(MESSENGER_HUMAN_AGENT));
	if (marker && *marker)
		json_object_set_new(json_object_get(o, "message"), "metadata", json_string(marker));
	if (reply_to && *reply_to)
		json_object_set_new(o, "reply_to", json_pack("{s:s}", "mid", reply_to));
	return dump(o);
}

char *messenger_seen_body(const char *to)
{
	return dump(json_pack("{s:{s:s}, s:s}", "recipient", "id", to, "sender_action", "mark_seen"));
}
