/*
 * bridge_wire.c - reading and writing bridge protocol frames (see
 * bridge_wire.h for the rules a frame must keep).
 */
#include "connectors/bridge/bridge_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errn, const char *fmt, const char *what)
{
	if (err && errn)
		snprintf(err, errn, fmt, what);
}

/* 1 when s is 1..max bytes without control characters (C0 and DEL). */
static int key_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			return 0;
	return 1;
}

/* A key member of o (post ids, threads, author ids): its copy, or NULL with
 * the reason in err. */
static char *get_key(json_t *o, const char *name, const char *what, char *err, size_t errn)
{
	const char *v = json_string_value(json_object_get(o, name));
	if (!v || !key_ok(v, BRIDGE_MAX_ID)) {
		set_err(err, errn, "%s: a string of 1 to 512 bytes without control characters is needed",
		        what);
		return NULL;
	}
	return xstrdup(v);
}

/* An optional boolean member: 0 / 1, or -1 when present and not a boolean. */
static int get_bool(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -1;
	return json_is_true(v);
}

/* The author's display name: at most BRIDGE_MAX_NAME bytes, cut at a
 * character boundary, control characters as spaces. */
static char *clean_name(const char *s)
{
	size_t n = strlen(s);
	if (n > BRIDGE_MAX_NAME) {
		n = BRIDGE_MAX_NAME;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	char *out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7F ? ' ' : s[i];
	out[n] = '\0';
	return out;
}

static int parse_post(json_t *o, struct bridge_frame *f, char *err, size_t errn)
{
	f->thread = get_key(o, "thread", "post.thread", err, errn);
	if (!f->thread)
		return -1;
	json_t *a = json_object_get(o, "author");
	if (!json_is_object(a)) {
		set_err(err, errn, "%s: an object with an \"id\" is needed", "post.author");
		return -1;
	}
	f->author_id = get_key(a, "id", "post.author.id", err, errn);
	if (!f->author_id)
		return -1;
	json_t *name = json_object_get(a, "name");
	if (name && !json_is_null(name)) {
		if (!json_is_string(name)) {
			set_err(err, errn, "%s: a string is needed", "post.author.name");
			return -1;
		}
		f->author_name = clean_name(json_string_value(name));
	}
	if ((f->author_bot = get_bool(a, "bot")) < 0) {
		set_err(err, errn, "%s: true or false is needed", "post.author.bot");
		return -1;
	}
	if ((f->is_private = get_bool(o, "private")) < 0) {
		set_err(err, errn, "%s: true or false is needed", "post.private");
		return -1;
	}
	const char *text = json_string_value(json_object_get(o, "text"));
	if (!text) {
		set_err(err, errn, "%s: a string is needed", "post.text");
		return -1;
	}
	f->text = xstrdup(text);
	json_t *ts = json_object_get(o, "ts");
	if (ts && !json_is_null(ts)) {
		const char *s = json_string_value(ts);
		if (!s || time_parse_iso(s, &f->ts) < 0) {
			set_err(err, errn, "%s: an ISO-8601 time like 2026-12-06T09:30:00Z is needed",
			        "post.ts");
			return -1;
		}
	}
	return 0;
}

static int parse_failed(json_t *o, struct bridge_frame *f, char *err, size_t errn)
{
	json_t *r = json_object_get(o, "retry_after_ms");
	if (r && !json_is_null(r)) {
		if (json_is_integer(r) && json_integer_value(r) >= 0) {
			json_int_t v = json_integer_value(r);
			f->retry_after_ms = v > BRIDGE_MAX_RETRY_MS ? BRIDGE_MAX_RETRY_MS : (long)v;
		} else if (json_is_real(r) && json_real_value(r) >= 0) {
			double v = json_real_value(r);
			f->retry_after_ms = v > (double)BRIDGE_MAX_RETRY_MS ? BRIDGE_MAX_RETRY_MS : (long)v;
		} else {
			set_err(err, errn, "%s: a number of milliseconds (0 or more) is needed",
			        "failed.retry_after_ms");
			return -1;
		}
	}
	json_t *e = json_object_get(o, "error");
	if (e && !json_is_null(e)) {
		if (!json_is_string(e)) {
			set_err(err, errn, "%s: a string is needed", "failed.error");
			return -1;
		}
		f->error = clean_name(json_string_value(e));
	}
	return 0;
}

int bridge_parse(const char *text, size_t len, struct bridge_frame *f, char *err, size_t errn)
{
	json_error_t je;
	memset(f, 0, sizeof(*f));
	f->retry_after_ms = -1;
	if (err && errn)
		err[0] = '\0';
	if (len > BRIDGE_MAX_FRAME) {
		set_err(err, errn, "%s", "frame too large (at most 65536 bytes)");
		return -1;
	}
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		set_err(err, errn, "%s", "malformed frame: one JSON object is expected");
		json_decref(o);
		return -1;
	}
	const char *type = json_string_value(json_object_get(o, "type"));
	int rc = -1;
	const char *id = json_string_value(json_object_get(o, "id"));
	if (id && key_ok(id, BRIDGE_MAX_REPLY_ID))
		f->id = xstrdup(id);
	if (!type) {
		set_err(err, errn, "%s", "a frame needs a \"type\"");
	} else if (strcmp(type, "post") && strcmp(type, "delivered") && strcmp(type, "failed")) {
		set_err(err, errn, "%s", "unknown frame type (an adapter sends post, delivered or failed)");
	} else if (!f->id || (strcmp(type, "post") == 0 && strlen(f->id) > BRIDGE_MAX_ID)) {
		set_err(err, errn, "%s.id: a string of 1 to 512 bytes without control characters is needed",
		        type);
	} else if (strcmp(type, "post") == 0) {
		f->type = BRIDGE_POST;
		rc = parse_post(o, f, err, errn);
	} else if (strcmp(type, "delivered") == 0) {
		f->type = BRIDGE_DELIVERED;
		rc = 0;
	} else {
		f->type = BRIDGE_FAILED;
		rc = parse_failed(o, f, err, errn);
	}
	json_decref(o);
	if (rc < 0) {
		char *keep = f->id;
		f->id = NULL;
		bridge_frame_free(f);
		f->id = keep;
	}
	return rc;
}

void bridge_frame_free(struct bridge_frame *f)
{
	free(f->id);
	free(f->thread);
	free(f->author_id);
	free(f->author_name);
	free(f->text);
	free(f->error);
	memset(f, 0, sizeof(*f));
	f->retry_after_ms = -1;
}

static void put_obj(struct buf *b, json_t *o)
{
	if (!o)
		return; /* a string that is not UTF-8: nothing is written */
	char *s = json_dumps(o, JSON_COMPACT);
	if (s)
		buf_puts(b, s);
	free(s);
	json_decref(o);
}

void bridge_stored(struct buf *b, const char *post_id)
{
	put_obj(b, json_pack("{s:s, s:s}", "type", "stored", "id", post_id));
}

void bridge_reply(struct buf *b, const char *id, const char *thread, const char *reply_to, int is_private,
                  const char *text, const char *agent)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "reply", "id", id, "thread", thread);
	if (!o)
		return;
	json_t *t = json_string(text ? text : "");
	if (!t) {
		json_decref(o);
		return;
	}
	if (reply_to)
		json_object_set_new(o, "reply_to", json_string(reply_to));
	json_object_set_new(o, "private", json_boolean(is_private));
	json_object_set_new(o, "text", t);
	if (agent)
		json_object_set_new(o, "agent", json_string(agent));
	put_obj(b, o);
}

void bridge_error(struct buf *b, const char *error, const char *id)
{
	json_t *o = json_pack("{s:s, s:s}", "type", "error", "error", error);
	if (o && id)
		json_object_set_new(o, "id", json_string(id));
	put_obj(b, o);
}

int bridge_part_id(char *out, size_t n, const char *key, size_t k, size_t nparts)
{
	int w = nparts <= 1 ? snprintf(out, n, "%s", key) : snprintf(out, n, "%s/%zu", key, k + 1);
	return w < 0 || (size_t)w >= n ? -1 : w;
}
