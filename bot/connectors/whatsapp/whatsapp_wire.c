/*
 * whatsapp_wire.c - WhatsApp Cloud API deliveries in, reply bodies out
 * (see whatsapp_wire.h).
 */
#include "whatsapp_wire.h"

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

/* An id field into out when it is usable; 0, or -1. */
static int take_id(json_t *o, const char *key, char *out, size_t n)
{
	const char *v = str(o, key);
	if (!v || !meta_id_ok(v) || strlen(v) >= n)
		return -1;
	snprintf(out, n, "%s", v);
	return 0;
}

/* "1749416383" (a string, as Meta sends it) or a number; 0 when absent. */
static time_t take_time(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	long t;
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (time_t)json_integer_value(v) : 0;
	if (json_is_string(v) && parse_long(json_string_value(v), &t) == 0)
		return (time_t)t;
	return 0;
}

/* Text and caption of a media message, else the placeholder. */
static char *media_text(json_t *media, const char *placeholder)
{
	const char *cap = str(media, "caption");
	if (cap && *cap)
		return xstrdup_cut(cap, POST_MAX_TEXT);
	return xstrdup(placeholder);
}

/*
 * What a message says, as text; NULL for what is not a question
 * (reactions, system notices: skipped).
 */
static char *message_text(json_t *msg, const char *type)
{
	if (!strcmp(type, "text")) {
		const char *b = str(json_object_get(msg, "text"), "body");
		return b ? xstrdup_cut(b, POST_MAX_TEXT) : NULL;
	}
	if (!strcmp(type, "button")) {
		const char *t = str(json_object_get(msg, "button"), "text");
		return t ? xstrdup_cut(t, POST_MAX_TEXT) : NULL;
	}
	if (!strcmp(type, "interactive")) {
		json_t *in = json_object_get(msg, "interactive");
		json_t *r = json_object_get(in, "button_reply");
		if (!r)
			r = json_object_get(in, "list_reply");
		const char *t = str(r, "title");
		return t ? xstrdup_cut(t, POST_MAX_TEXT) : xstrdup("(a reply to a menu)");
	}
	if (!strcmp(type, "image"))
		return media_text(json_object_get(msg, "image"), "(a photo)");
	if (!strcmp(type, "video"))
		return media_text(json_object_get(msg, "video"), "(a video)");
	if (!strcmp(type, "document")) {
		json_t *doc = json_object_get(msg, "document");
		const char *fn = str(doc, "filename");
		if (str(doc, "caption") && *str(doc, "caption"))
			return media_text(doc, "");
		if (fn && *fn) {
			char *c = xstrdup_cut(fn, 200), *t = xasprintf("(a document: %s)", c);
			free(c);
			return t;
		}
		return xstrdup("(a document)");
	}
	if (!strcmp(type, "audio"))
		return xstrdup("(a voice message)");
	if (!strcmp(type, "sticker"))
		return xstrdup("(a sticker)");
	if (!strcmp(type, "location")) {
		json_t *loc = json_object_get(msg, "location");
		const char *name = str(loc, "name"), *addr = str(loc, "address");
		if ((name && *name) || (addr && *addr)) {
			char *a = xstrdup_cut(name ? name : "", 200), *b = xstrdup_cut(addr ? addr : "", 400);
			char *t = xasprintf("(a location: %s%s%s)", a, *a && *b ? ", " : "", b);
			free(a);
			free(b);
			return t;
		}
		return xstrdup("(a location)");
	}
	if (!strcmp(type, "contacts"))
		return xstrdup("(a contact card)");
	if (!strcmp(type, "order"))
		return xstrdup("(an order from the catalogue)");
	if (!strcmp(type, "reaction") || !strcmp(type, "system") || !strcmp(type, "ephemeral"))
		return NULL;
	/* "unsupported", and kinds newer than this program. */
	return xstrdup("(a message of a kind this app cannot show)");
}

static const char *contact_name(json_t *contacts, const char *wa_id)
{
	size_t i;
	json_t *c;
	json_array_foreach(contacts, i, c)
	{
		const char *id = str(c, "wa_id");
		if (id && !strcmp(id, wa_id))
			return str(json_object_get(c, "profile"), "name");
	}
	/* One contact without a matching id: it is the sender's. */
	if (json_array_size(contacts) == 1 && !str(json_array_get(contacts, 0), "wa_id"))
		return str(json_object_get(json_array_get(contacts, 0), "profile"), "name");
	return NULL;
}

static void parse_message(struct whatsapp_delivery *d, json_t *msg, json_t *contacts, const char *pnid)
{
	struct whatsapp_message m;
	const char *type = str(msg, "type");
	memset(&m, 0, sizeof(m));
	if (!type || strlen(type) >= sizeof(m.type) || take_id(msg, "id", m.id, sizeof(m.id)) < 0 ||
	    take_id(msg, "from", m.from, sizeof(m.from)) < 0) {
		d->skipped++;
		return;
	}
	snprintf(m.type, sizeof(m.type), "%s", type);
	snprintf(m.phone_number_id, sizeof(m.phone_number_id), "%s", pnid);
	take_id(json_object_get(msg, "context"), "id", m.context_id, sizeof(m.context_id));
	m.ts = take_time(msg, "timestamp");
	m.text = message_text(msg, type);
	if (!m.text) {
		d->skipped++;
		return;
	}
	const char *name = contact_name(contacts, m.from);
	if (name && *name)
		m.name = xstrdup_cut(name, WHATSAPP_NAME_MAX);
	d->msgs = xrealloc(d->msgs, (d->nmsgs + 1) * sizeof(*d->msgs));
	d->msgs[d->nmsgs++] = m;
}

static void parse_status(struct whatsapp_delivery *d, json_t *st, const char *pnid)
{
	struct whatsapp_status s;
	const char *status = str(st, "status");
	memset(&s, 0, sizeof(s));
	if (!status || strlen(status) >= sizeof(s.status) || take_id(st, "id", s.id, sizeof(s.id)) < 0) {
		d->skipped++;
		return;
	}
	snprintf(s.status, sizeof(s.status), "%s", status);
	snprintf(s.phone_number_id, sizeof(s.phone_number_id), "%s", pnid);
	take_id(st, "recipient_id", s.recipient, sizeof(s.recipient));
	const char *marker = str(st, "biz_opaque_callback_data");
	if (marker && strlen(marker) < sizeof(s.marker))
		snprintf(s.marker, sizeof(s.marker), "%s", marker);
	s.ts = take_time(st, "timestamp");
	json_t *errs = json_object_get(st, "errors");
	json_t *e0 = json_array_get(errs, 0);
	if (json_is_object(e0)) {
		const char *t;
		s.failed = 1;
		s.err.code = (long)json_integer_value(json_object_get(e0, "code"));
		if ((t = str(e0, "message")))
			snprintf(s.err.message, sizeof(s.err.message), "%s", t);
		if ((t = str(e0, "title")))
			snprintf(s.err.title, sizeof(s.err.title), "%s", t);
		else if ((t = str(json_object_get(e0, "error_data"), "details")))
			snprintf(s.err.title, sizeof(s.err.title), "%s", t);
	}
	d->statuses = xrealloc(d->statuses, (d->nstatuses + 1) * sizeof(*d->statuses));
	d->statuses[d->nstatuses++] = s;
}

int whatsapp_parse(const char *body, size_t len, struct whatsapp_delivery *d, char *err, size_t errn)
{
	memset(d, 0, sizeof(*d));
	json_t *root = meta_delivery_load(body, len, WHATSAPP_OBJECT, err, errn);
	if (!root)
		return -1;
	size_t i, k, n;
	json_t *entry, *change, *item;
	json_array_foreach(json_object_get(root, "entry"), i, entry)
	{
		json_array_foreach(json_object_get(entry, "changes"), k, change)
		{
			const char *field = str(change, "field");
			json_t *value = json_object_get(change, "value");
			char pnid[META_MAX_ID + 1];
			if (!field || strcmp(field, "messages") != 0 || !json_is_object(value))
				continue; /* account updates, template status... */
			if (take_id(json_object_get(value, "metadata"), "phone_number_id", pnid,
			            sizeof(pnid)) < 0) {
				d->skipped += json_array_size(json_object_get(value, "messages")) +
				              json_array_size(json_object_get(value, "statuses"));
				continue;
			}
			json_t *contacts = json_object_get(value, "contacts");
			json_array_foreach(json_object_get(value, "messages"), n, item)
			{
				if (d->nmsgs + d->nstatuses >= WHATSAPP_MAX_ITEMS)
					d->skipped++;
				else
					parse_message(d, item, contacts, pnid);
			}
			json_array_foreach(json_object_get(value, "statuses"), n, item)
			{
				if (d->nmsgs + d->nstatuses >= WHATSAPP_MAX_ITEMS)
					d->skipped++;
				else
					parse_status(d, item, pnid);
			}
		}
	}
	json_decref(root);
	return 0;
}

void whatsapp_delivery_free(struct whatsapp_delivery *d)
{
	for (size_t i = 0; i < d->nmsgs; i++) {
		free(d->msgs[i].name);
		free(d->msgs[i].text);
	}
	free(d->msgs);
	free(d->statuses);
	memset(d, 0, sizeof(*d));
}

void whatsapp_thread_key(const char *phone_number_id, const char *wa_id, char *out, size_t n)
{
	snprintf(out, n, "%s:%s", phone_number_id, wa_id);
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

char *whatsapp_reply_body(const char *to, const char *text, const char *context_id, const char *marker)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "messaging_product", "whatsapp",
	                      "recipient_type", "individual", "to", to, "type", "text", "text", "body", text);
	if (!o)
		return NULL;
	if (context_id && *context_id)
		json_object_set_new(o, "context", json_pack("{s:s}", "message_id", context_id));
	if (marker && *marker)
		json_object_set_new(o, "biz_opaque_callback_data", json_string(marker));
	return dump(o);
}

char *whatsapp_read_body(const char *message_id)
{
	return dump(json_pack("{s:s, s:s, s:s}", "messaging_product", "whatsapp", "status", "read",
	                      "message_id", message_id));
}
