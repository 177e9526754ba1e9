/*
 * mattermost_wire.c - Mattermost's wire formats (see mattermost_wire.h).
 */
#include "connectors/mattermost/mattermost_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "markdown.h"
#include "markup.h"
#include "outbox.h"
#include "post.h"
#include "util.h"

#define MENTIONS_MAX 1000 /* ids in one mentions list */

int mm_id_ok(const char *s)
{
	return connector_id_ok(s, MM_MAX_ID);
}

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An id member into out: 0; absent or "" with `optional`: 0 with out ""; -1. */
static int get_id(json_t *o, const char *key, char *out, size_t n, int optional)
{
	const char *s = get_str(o, key);
	out[0] = '\0';
	if ((!s || !*s) && optional)
		return 0;
	if (!mm_id_ok(s) || strlen(s) >= n)
		return -1;
	snprintf(out, n, "%s", s);
	return 0;
}

static int64_t get_ms(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (int64_t)json_integer_value(v);
	return 0;
}

/* A prop that is true: the string "true" (how Mattermost stores them) or
 * a JSON true. */
static int prop_true(json_t *props, const char *key)
{
	json_t *v = json_object_get(props, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	return json_is_true(v) || (s && strcmp(s, "true") == 0);
}

void mm_post_free(struct mm_post *p)
{
	if (p) {
		free(p->text);
		p->text = NULL;
	}
}

static int parse_post(json_t *o, struct mm_post *p, char *err, size_t errn)
{
	memset(p, 0, sizeof(*p));
	if (!json_is_object(o)) {
		snprintf(err, errn, "a post is not an object");
		return -1;
	}
	if (get_id(o, "id", p->id, sizeof(p->id), 0) < 0 ||
	    get_id(o, "channel_id", p->channel_id, sizeof(p->channel_id), 0) < 0 ||
	    get_id(o, "user_id", p->user_id, sizeof(p->user_id), 0) < 0 ||
	    get_id(o, "root_id", p->root_id, sizeof(p->root_id), 1) < 0) {
		snprintf(err, errn, "a post without valid ids");
		return -1;
	}
	const char *type = get_str(o, "type");
	if (type && strlen(type) > MM_MAX_TYPE) {
		snprintf(err, errn, "post %s with an overlong type", p->id);
		return -1;
	}
	snprintf(p->type, sizeof(p->type), "%s", type ? type : "");
	json_t *props = json_object_get(o, "props");
	if (json_is_object(props)) {
		p->from_bot = prop_true(props, "from_bot");
		p->from_webhook = prop_true(props, "from_webhook");
		get_id(props, MM_KEY_PROP, p->key, sizeof(p->key), 1);
	}
	p->create_at = get_ms(o, "create_at");
	p->update_at = get_ms(o, "update_at");
	p->delete_at = get_ms(o, "delete_at");
	json_t *msg = json_object_get(o, "message");
	p->text = json_is_string(msg)
	              ? markdown_text(json_string_value(msg), json_string_length(msg), POST_MAX_TEXT)
	              : xstrdup("");
	return 0;
}

int mm_post_is_customer(const struct mm_post *p, const char *self_id)
{
	if (p->type[0] || p->delete_at || p->from_bot || p->from_webhook)
		return 0;
	return !(self_id && *self_id && strcmp(p->user_id, self_id) == 0);
}

void mm_event_free(struct mm_event *ev)
{
	if (ev)
		mm_post_free(&ev->post);
}

/* data.mentions: a JSON array of user ids inside a string. */
static int mentions_self(json_t *data, const char *self_id)
{
	const char *s = get_str(data, "mentions");
	if (!s || !self_id || !*self_id)
		return 0;
	json_t *a = json_loads(s, 0, NULL);
	int hit = 0;
	if (json_is_array(a) && json_array_size(a) <= MENTIONS_MAX) {
		size_t i;
		json_t *v;
		json_array_foreach(a, i, v)
		{
			if (json_is_string(v) && strcmp(json_string_value(v), self_id) == 0)
				hit = 1;
		}
	}
	json_decref(a);
	return hit;
}

enum mm_event_kind mm_parse_event(const char *json, size_t len, const char *self_id, struct mm_event *ev,
                                  char *err, size_t errn)
{
	json_error_t je;
	memset(ev, 0, sizeof(*ev));
	ev->seq = -1;
	ev->kind = MM_EV_BAD;
	json_t *f = json_loadb(json, len, 0, &je);
	if (!json_is_object(f)) {
		snprintf(err, errn, "frame is not a JSON object%s%s", f ? "" : ": ", f ? "" : je.text);
		json_decref(f);
		return MM_EV_BAD;
	}
	json_t *seq = json_object_get(f, "seq");
	if (json_is_integer(seq) && json_integer_value(seq) >= 0)
		ev->seq = (int64_t)json_integer_value(seq);
	const char *name = get_str(f, "event");
	if (!name) {
		json_t *sr = json_object_get(f, "seq_reply");
		const char *status = get_str(f, "status");
		if (status && json_is_integer(sr)) {
			ev->kind = MM_EV_REPLY;
			ev->status_ok = strcmp(status, "OK") == 0;
			ev->seq_reply = (int64_t)json_integer_value(sr);
		} else {
			snprintf(err, errn, "frame without an event");
		}
		json_decref(f);
		return ev->kind;
	}
	if (strlen(name) >= sizeof(ev->event)) {
		snprintf(err, errn, "overlong event name");
		json_decref(f);
		return MM_EV_BAD;
	}
	snprintf(ev->event, sizeof(ev->event), "%s", name);
	if (ev->seq < 0) {
		snprintf(err, errn, "%s event without a seq", name);
		json_decref(f);
		return MM_EV_BAD;
	}
	json_t *data = json_object_get(f, "data");
	if (strcmp(name, "hello") == 0) {
		const char *v = get_str(data, "server_version");
		snprintf(ev->server_version, sizeof(ev->server_version), "%s", v ? v : "");
		if (get_id(data, "connection_id", ev->connection_id, sizeof(ev->connection_id), 1) < 0)
			snprintf(err, errn, "hello with a malformed connection_id");
		else
			ev->kind = MM_EV_HELLO;
	} else if (strcmp(name, "posted") == 0) {
		json_t *pj = json_object_get(data, "post");
		json_t *po = json_is_string(pj)
		                 ? json_loadb(json_string_value(pj), json_string_length(pj), 0, &je)
		                 : NULL;
		const char *ct = get_str(data, "channel_type");
		if (!po) {
			snprintf(err, errn, "posted event without post JSON");
		} else if (parse_post(po, &ev->post, err, errn) == 0) {
			if (!ct || strlen(ct) != 1 || !strchr("OPDG", ct[0])) {
				snprintf(err, errn, "post %s with an unknown channel_type", ev->post.id);
				mm_post_free(&ev->post);
			} else {
				ev->channel_type = ct[0];
				const char *sn = get_str(data, "sender_name");
				if (sn && *sn == '@')
					sn++;
				if (sn && strlen(sn) <= MM_MAX_NAME)
					snprintf(ev->sender_name, sizeof(ev->sender_name), "%s", sn);
				const char *cn = get_str(data, "channel_name");
				if (cn && strlen(cn) <= MM_MAX_NAME)
					snprintf(ev->channel_name, sizeof(ev->channel_name), "%s", cn);
				ev->mentioned = mentions_self(data, self_id);
				ev->kind = MM_EV_POSTED;
			}
		}
		json_decref(po);
	} else {
		ev->kind = MM_EV_OTHER;
	}
	json_decref(f);
	return ev->kind;
}

static int cmp_post(const void *a, const void *b)
{
	const struct mm_post *x = a, *y = b;
	if (x->create_at != y->create_at)
		return x->create_at < y->create_at ? -1 : 1;
	return strcmp(x->id, y->id);
}

long mm_parse_post_list(const char *body, size_t len, struct mm_post **items, size_t *skipped, char *err,
                        size_t errn)
{
	json_error_t je;
	char why[160];
	*items = NULL;
	if (skipped)
		*skipped = 0;
	json_t *o = json_loadb(body, len, 0, &je);
	json_t *posts = json_object_get(o, "posts");
	if (!json_is_object(o) || (posts && !json_is_object(posts))) {
		snprintf(err, errn, "post list is not a JSON object with posts");
		json_decref(o);
		return -1;
	}
	size_t total = json_object_size(posts), n = 0;
	struct mm_post *out = xcalloc(total ? total : 1, sizeof(*out));
	const char *k;
	json_t *v;
	json_object_foreach(posts, k, v)
	{
		if (parse_post(v, &out[n], why, sizeof(why)) == 0)
			n++;
		else if (skipped)
			(*skipped)++;
	}
	json_decref(o);
	if (n > 1)
		qsort(out, n, sizeof(*out), cmp_post);
	if (!n) {
		free(out);
		out = NULL;
	}
	*items = out;
	return (long)n;
}

long mm_parse_channels(const char *body, size_t len, struct mm_channel **items, char *err, size_t errn)
{
	json_error_t je;
	*items = NULL;
	json_t *a = json_loadb(body, len, 0, &je);
	if (!json_is_array(a)) {
		snprintf(err, errn, "channel list is not a JSON array");
		json_decref(a);
		return -1;
	}
	size_t total = json_array_size(a), n = 0;
	struct mm_channel *out = xcalloc(total ? total : 1, sizeof(*out));
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		const char *t = get_str(v, "type");
		if (get_id(v, "id", out[n].id, sizeof(out[n].id), 0) < 0 || !t || strlen(t) != 1 ||
		    !strchr("OPDG", t[0]))
			continue;
		out[n].type = t[0];
		out[n].last_post_at = get_ms(v, "last_post_at");
		n++;
	}
	json_decref(a);
	if (!n) {
		free(out);
		out = NULL;
	}
	*items = out;
	return (long)n;
}

int mm_parse_id(const char *body, size_t len, char *out, size_t n)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	int rc = json_is_object(o) ? get_id(o, "id", out, n, 0) : -1;
	json_decref(o);
	return rc;
}

int mm_error_id(const char *body, size_t len, char *out, size_t n)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	const char *id = json_is_object(o) ? get_str(o, "id") : NULL;
	int rc = -1;
	if (id && strlen(id) < n) {
		snprintf(out, n, "%s", id);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

size_t mm_max_post_size(const char *body, size_t len)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *v = json_object_get(o, "MaxPostSize");
	long long n = 0;
	if (json_is_string(v)) {
		char *end = NULL;
		n = strtoll(json_string_value(v), &end, 10);
		if (!end || *end)
			n = 0;
	} else if (json_is_integer(v)) {
		n = json_integer_value(v);
	}
	json_decref(o);
	/* Anything below a sentence or above what the server stores is noise. */
	return n >= 100 && n <= 65535 ? (size_t)n : 0;
}

char *mm_post_json(const char *channel_id, const char *root_id, const char *message, const char *pending_id,
                   const char *key, const char *reply_to)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:{s:s}}", "channel_id", channel_id, "message", message,
	                      "pending_post_id", pending_id, "props", MM_KEY_PROP, key);
	if (!o)
		return NULL;
	if (root_id && *root_id)
		json_object_set_new(o, "root_id", json_string(root_id));
	if (reply_to && mm_id_ok(reply_to))
		json_object_set_new(json_object_get(o, "props"), MM_REPLY_TO_PROP, json_string(reply_to));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void mm_thread_key(char *out, size_t n, const char *channel_id, char channel_type, const char *root_id)
{
	if (channel_type == 'D')
		snprintf(out, n, "d:%s", channel_id);
	else
		snprintf(out, n, "c:%s:%s", channel_id, root_id);
}

int mm_thread_parse(const char *key, char *channel, size_t cn, char *root, size_t rn)
{
	if (!key || strlen(key) < 3 || key[1] != ':' || (key[0] != 'c' && key[0] != 'd'))
		return -1;
	const char *c = key + 2;
	const char *colon = strchr(c, ':');
	size_t cl = colon ? (size_t)(colon - c) : strlen(c);
	if (cl == 0 || cl >= cn || cl > MM_MAX_ID)
		return -1;
	memcpy(channel, c, cl);
	channel[cl] = '\0';
	root[0] = '\0';
	if (key[0] == 'd') {
		if (colon)
			return -1;
	} else {
		if (!colon || strlen(colon + 1) >= rn || !mm_id_ok(colon + 1))
			return -1;
		snprintf(root, rn, "%s", colon + 1);
	}
	return mm_id_ok(channel) ? 0 : -1;
}

size_t mm_build_reply(const char *text, size_t max_chars, char **parts, size_t max_parts)
{
	struct buf safe;
	buf_init(&safe, 0);
	markup_neutralise(&safe, MARKUP_MATTERMOST, text ? text : "");
	size_t n = outbox_split(safe.p ? safe.p : "", max_chars ? max_chars : MM_MAX_POST, parts, max_parts);
	buf_free(&safe);
	return n;
}
