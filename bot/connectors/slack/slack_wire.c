/*
 * slack_wire.c - Socket Mode frames, message events, mrkdwn and Web API
 * answers (see slack_wire.h).
 */
#include "connectors/slack/slack_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "markup.h"
#include "outbox.h"
#include "post.h"
#include "util.h"

#define FILE_NAMES_MAX 5    /* file names a file_share message lists */
#define ANGLE_MAX      2048 /* bytes of one <...> construct of mrkdwn */

/* --- ids ---------------------------------------------------------------------- */

int slack_id_ok(const char *s)
{
	return connector_id_ok(s, SLACK_MAX_ID);
}

int slack_ts_ok(const char *s)
{
	size_t n = 0, digits = 0, dots = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		if (n >= SLACK_MAX_TS)
			return 0;
		if (s[n] == '.') {
			if (dots++ || digits == 0)
				return 0;
			digits = 0;
		} else if (s[n] >= '0' && s[n] <= '9') {
			digits++;
		} else {
			return 0;
		}
	}
	return dots == 1 && digits > 0;
}

int slack_ts_cmp(const char *a, const char *b)
{
	const char *da = strchr(a, '.'), *db = strchr(b, '.');
	size_t ia = da ? (size_t)(da - a) : strlen(a), ib = db ? (size_t)(db - b) : strlen(b);
	/* Leading zeros do not count in the whole part. */
	while (ia > 1 && *a == '0') {
		a++;
		ia--;
	}
	while (ib > 1 && *b == '0') {
		b++;
		ib--;
	}
	if (ia != ib)
		return ia < ib ? -1 : 1;
	int c = strncmp(a, b, ia);
	if (c)
		return c;
	/* Fractions compare digit by digit, a missing digit counting as 0. */
	const char *fa = da ? da + 1 : "", *fb = db ? db + 1 : "";
	while (*fa || *fb) {
		char x = *fa ? *fa++ : '0', y = *fb ? *fb++ : '0';
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

int slack_channel_is_im(const char *channel)
{
	return channel && channel[0] == 'D';
}

/* --- small JSON readers ------------------------------------------------------------ */

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Copy a string member into out when present and short enough: 1 copied,
 * 0 absent, -1 present but not a string or too long. */
static int copy_str(json_t *o, const char *key, char *out, size_t n)
{
	json_t *v = json_object_get(o, key);
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= n)
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

/* An id member: absent is fine, anything present must be a valid id. */
static int copy_id(json_t *o, const char *key, char *out)
{
	int r = copy_str(o, key, out, SLACK_MAX_ID + 1);
	if (r > 0 && !slack_id_ok(out)) {
		out[0] = '\0';
		return -1;
	}
	return r;
}

/* A ts member: a string ts, never a number. */
static int copy_ts(json_t *o, const char *key, char *out)
{
	json_t *v = json_object_get(o, key);
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !slack_ts_ok(json_string_value(v)))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

/* Cut s (malloc'd) to at most max bytes at a UTF-8 boundary. */
static void cut_utf8(char *s, size_t max)
{
	if (!max || strlen(s) <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

/* --- mrkdwn -------------------------------------------------------------------------- */

/* Append s[0..n) with &amp; &lt; &gt; decoded. */
static void put_decoded(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (s[i] == '&') {
			if (n - i >= 5 && memcmp(s + i, "&amp;", 5) == 0) {
				buf_putc(b, '&');
				i += 5;
				continue;
			}
			if (n - i >= 4 && memcmp(s + i, "&lt;", 4) == 0) {
				buf_putc(b, '<');
				i += 4;
				continue;
			}
			if (n - i >= 4 && memcmp(s + i, "&gt;", 4) == 0) {
				buf_putc(b, '>');
				i += 4;
				continue;
			}
		}
		buf_putc(b, s[i++]);
	}
}

/* "http://x.com" and "x.com", "mailto:a@b" and "a@b": the same address? */
static int same_address(const char *url, size_t ul, const char *label, size_t ll)
{
	static const char *const schemes[] = {"https://", "http://", "mailto:", "tel:", ""};
	for (size_t k = 0; k < ARRAY_LEN(schemes); k++) {
		size_t sl = strlen(schemes[k]);
		if (ul >= sl && strncmp(url, schemes[k], sl) == 0) {
			size_t rest = ul - sl;
			/* Slack drops a trailing '/' of a bare host in the label. */
			if (rest == ll && memcmp(url + sl, label, ll) == 0)
				return 1;
			if (rest == ll + 1 && url[ul - 1] == '/' && memcmp(url + sl, label, ll) == 0)
				return 1;
		}
	}
	return 0;
}

/* One <...> construct, inner = what is between the brackets. */
static void put_angle(struct buf *b, const char *in, size_t n, const char *self_user)
{
	const char *bar = memchr(in, '|', n);
	size_t tl = bar ? (size_t)(bar - in) : n;
	const char *label = bar ? bar + 1 : NULL;
	size_t ll = bar ? n - tl - 1 : 0;

	if (tl >= 2 && in[0] == '@') {
		/* A user: <@U123> or <@U123|name>; our own mention is dropped. */
		if (self_user && *self_user && tl - 1 == strlen(self_user) &&
		    memcmp(in + 1, self_user, tl - 1) == 0)
			return;
		buf_putc(b, '@');
		if (label && ll)
			put_decoded(b, label, ll);
		else
			buf_append(b, in + 1, tl - 1);
		return;
	}
	if (tl >= 2 && in[0] == '#') {
		buf_putc(b, '#');
		if (label && ll)
			put_decoded(b, label, ll);
		else
			buf_append(b, in + 1, tl - 1);
		return;
	}
	if (tl >= 2 && in[0] == '!') {
		/* Special mentions and dates: the label is Slack's own fallback. */
		if (label && ll) {
			if (tl >= 9 && strncmp(in, "!subteam^", 9) == 0 && label[0] != '@')
				buf_putc(b, '@');
			put_decoded(b, label, ll);
		} else if (tl >= 5 && strncmp(in, "!date", 5) == 0) {
			/* a date without a fallback says nothing we can show */
		} else if (tl >= 9 && strncmp(in, "!subteam^", 9) == 0) {
			buf_puts(b, "@team");
		} else {
			buf_putc(b, '@');
			buf_append(b, in + 1, tl - 1);
		}
		return;
	}
	/* A link.  mailto: and tel: show their address. */
	struct buf url;
	buf_init(&url, 0);
	put_decoded(&url, in, tl);
	const char *shown = url.p ? url.p : "";
	if (strncmp(shown, "mailto:", 7) == 0)
		shown += 7;
	else if (strncmp(shown, "tel:", 4) == 0)
		shown += 4;
	if (label && ll) {
		struct buf lab;
		buf_init(&lab, 0);
		put_decoded(&lab, label, ll);
		const char *lp = lab.p ? lab.p : "";
		if (same_address(url.p ? url.p : "", url.len, lp, lab.len)) {
			buf_puts(b, lp);
		} else {
			/* The address stays visible: a label cannot hide where it goes. */
			buf_printf(b, "%s (%s)", lp, shown);
		}
		buf_free(&lab);
	} else {
		buf_puts(b, shown);
	}
	buf_free(&url);
}

char *slack_mrkdwn_to_text(const char *s, size_t len, const char *self_user, size_t max)
{
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < len;) {
		if (s[i] == '<') {
			size_t lim = len - i - 1 < ANGLE_MAX ? len - i - 1 : ANGLE_MAX;
			const char *end = memchr(s + i + 1, '>', lim);
			const char *nl = memchr(s + i + 1, '\n', lim);
			/* Slack escapes a person's own '<', so a construct is all a
			 * '<' can start; one that starts with a space is not one. */
			if (end && (!nl || nl > end) && end > s + i + 1 && s[i + 1] != ' ') {
				size_t before = b.len;
				put_angle(&b, s + i + 1, (size_t)(end - s - i - 1), self_user);
				i = (size_t)(end - s) + 1;
				/* Our own mention vanished: do not leave a double space. */
				if (b.len == before && i < len && s[i] == ' ' &&
				    (b.len == 0 || b.p[b.len - 1] == ' '))
					i++;
				continue;
			}
			buf_putc(&b, '<');
			i++;
			continue;
		}
		if (s[i] == '&') {
			size_t k = i;
			while (k < len && k - i < 5 && s[k] != ';')
				k++;
			if (k < len && s[k] == ';') {
				put_decoded(&b, s + i, k - i + 1);
				i = k + 1;
				continue;
			}
		}
		buf_putc(&b, s[i++]);
	}
	/* Trim white space at both ends. */
	char *t = buf_steal(&b);
	if (!t)
		t = xstrdup("");
	size_t a = 0, n = strlen(t);
	while (a < n && (t[a] == ' ' || t[a] == '\n' || t[a] == '\t' || t[a] == '\r'))
		a++;
	while (n > a && (t[n - 1] == ' ' || t[n - 1] == '\n' || t[n - 1] == '\t' || t[n - 1] == '\r'))
		n--;
	memmove(t, t + a, n - a);
	t[n - a] = '\0';
	cut_utf8(t, max);
	return t;
}

/* --- frames and events --------------------------------------------------------------- */

void slack_frame_free(struct slack_frame *f)
{
	if (!f)
		return;
	free(f->msg.text);
	free(f->msg.author_name);
	f->msg.text = NULL;
	f->msg.author_name = NULL;
}

static void frame_init(struct slack_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->kind = SLACK_FRAME_BAD;
	f->num_connections = -1;
	f->connection_time_s = -1;
}

/* The text of a message event: mrkdwn to plain text, and for a file_share
 * the names of the files (a photo with no words is still a question). */
static char *event_text(json_t *ev, const char *self_user)
{
	json_t *t = json_object_get(ev, "text");
	const char *s = json_is_string(t) ? json_string_value(t) : "";
	size_t n = json_is_string(t) ? json_string_length(t) : 0;
	char *text = slack_mrkdwn_to_text(s, n, self_user, POST_MAX_TEXT);
	json_t *files = json_object_get(ev, "files");
	if (json_is_array(files) && json_array_size(files) > 0) {
		struct buf b;
		buf_init(&b, 0);
		buf_puts(&b, text);
		size_t shown = 0;
		for (size_t i = 0; i < json_array_size(files) && shown < FILE_NAMES_MAX; i++) {
			const char *name = get_str(json_array_get(files, i), "name");
			if (!name || !*name || strlen(name) > 256)
				continue;
			buf_printf(&b, "%s[file: ", b.len ? "\n" : "");
			/* A file name is the customer's text like any other. */
			char *plain = slack_mrkdwn_to_text(name, strlen(name), NULL, 256);
			buf_puts(&b, plain);
			free(plain);
			buf_putc(&b, ']');
			shown++;
		}
		free(text);
		text = buf_steal(&b);
		if (!text)
			text = xstrdup("");
		cut_utf8(text, POST_MAX_TEXT);
	}
	return text;
}

/* A display name from the event's user_profile, when Slack sent one. */
static char *event_author(json_t *ev)
{
	json_t *up = json_object_get(ev, "user_profile");
	const char *keys[] = {"display_name", "real_name", "name"};
	if (!json_is_object(up))
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const char *v = get_str(up, keys[i]);
		if (v && *v) {
			/* Names are mrkdwn too (a "<!channel>" name must not ping). */
			char *plain = slack_mrkdwn_to_text(v, strlen(v), NULL, SLACK_MAX_NAME);
			if (*plain)
				return plain;
			free(plain);
		}
	}
	return NULL;
}

static int parse_message(json_t *ev, const char *self_user, struct slack_event *m, char *err, size_t errn)
{
	const char *type = get_str(ev, "type");
	snprintf(m->type, sizeof(m->type), "%s", type ? type : "");
	if (copy_str(ev, "subtype", m->subtype, sizeof(m->subtype)) < 0)
		snprintf(m->subtype, sizeof(m->subtype), "unknown");
	if (copy_str(ev, "channel_type", m->channel_type, sizeof(m->channel_type)) < 0)
		m->channel_type[0] = '\0';
	if (copy_id(ev, "channel", m->channel) <= 0 || copy_ts(ev, "ts", m->ts) <= 0) {
		snprintf(err, errn, "%s event without a valid channel or ts (a ts must be a string)",
		         m->type);
		return -1;
	}
	if (copy_ts(ev, "thread_ts", m->thread_ts) < 0) {
		snprintf(err, errn, "%s event with a malformed thread_ts", m->type);
		return -1;
	}
	if (copy_id(ev, "user", m->user) < 0 || copy_id(ev, "bot_id", m->bot_id) < 0) {
		snprintf(err, errn, "%s event with a malformed user or bot_id", m->type);
		return -1;
	}
	m->is_im =
	    strcmp(m->channel_type, "im") == 0 || (!m->channel_type[0] && slack_channel_is_im(m->channel));
	m->created = (time_t)strtoll(m->ts, NULL, 10);

	/* Only plain messages (and files shared with words) are questions:
	 * not edits, deletions, joins, or what bots and integrations post. */
	if (m->subtype[0] && strcmp(m->subtype, "file_share") != 0)
		m->skip = "subtype";
	else if (m->bot_id[0] || json_is_object(json_object_get(ev, "bot_profile")) ||
	         json_is_string(json_object_get(ev, "app_id")) || strcmp(m->user, "USLACKBOT") == 0)
		m->skip = "bot"; /* another app, Slackbot, or our own echo */
	else if (!m->user[0])
		m->skip = "no user";
	else if (self_user && *self_user && strcmp(m->user, self_user) == 0)
		m->skip = "self";
	if (!m->skip) {
		m->text = event_text(ev, self_user);
		m->author_name = event_author(ev);
	}
	return 0;
}

enum slack_frame_kind slack_parse_frame(const char *data, size_t len, const char *self_user,
                                        struct slack_frame *f, char *err, size_t errn)
{
	json_error_t je;
	frame_init(f);
	err[0] = '\0';
	json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		snprintf(err, errn, "frame is not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
		json_decref(o);
		return f->kind = SLACK_FRAME_BAD;
	}
	const char *type = get_str(o, "type");
	json_t *eid = json_object_get(o, "envelope_id");
	if (eid) {
		if (copy_id(o, "envelope_id", f->envelope_id) <= 0) {
			snprintf(err, errn, "envelope with a malformed envelope_id");
			json_decref(o);
			return f->kind = SLACK_FRAME_BAD;
		}
		f->kind = SLACK_FRAME_ENVELOPE;
		snprintf(f->envelope_type, sizeof(f->envelope_type), "%s",
		         type && strlen(type) < 32 ? type : "");
		json_t *ra = json_object_get(o, "retry_attempt");
		if (json_is_integer(ra) && json_integer_value(ra) >= 0 && json_integer_value(ra) < 1000)
			f->retry_attempt = (int)json_integer_value(ra);
		if (copy_str(o, "retry_reason", f->retry_reason, sizeof(f->retry_reason)) < 0)
			f->retry_reason[0] = '\0';
		json_t *pl = json_object_get(o, "payload");
		if (strcmp(f->envelope_type, "events_api") != 0 || !json_is_object(pl)) {
			json_decref(o);
			return f->kind;
		}
		if (copy_id(pl, "event_id", f->event_id) < 0)
			f->event_id[0] = '\0';
		json_t *ev = json_object_get(pl, "event");
		const char *et = get_str(ev, "type");
		if (json_is_object(ev) && et && (!strcmp(et, "message") || !strcmp(et, "app_mention"))) {
			if (parse_message(ev, self_user, &f->msg, err, errn) == 0) {
				f->has_message = 1;
				snprintf(f->msg.event_id, sizeof(f->msg.event_id), "%s", f->event_id);
			} else {
				slack_frame_free(f);
				memset(&f->msg, 0, sizeof(f->msg));
			}
		}
		json_decref(o);
		return f->kind;
	}
	if (type && strcmp(type, "hello") == 0) {
		f->kind = SLACK_FRAME_HELLO;
		json_t *nc = json_object_get(o, "num_connections");
		if (json_is_integer(nc))
			f->num_connections = (long)json_integer_value(nc);
		json_t *act =
		    json_object_get(json_object_get(o, "debug_info"), "approximate_connection_time");
		if (json_is_integer(act))
			f->connection_time_s = (long)json_integer_value(act);
	} else if (type && strcmp(type, "disconnect") == 0) {
		f->kind = SLACK_FRAME_DISCONNECT;
		if (copy_str(o, "reason", f->reason, sizeof(f->reason)) <= 0)
			snprintf(f->reason, sizeof(f->reason), "unknown");
		for (char *q = f->reason; *q; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
				*q = '_';
	} else if (!type) {
		snprintf(err, errn, "frame without a type or an envelope_id");
		f->kind = SLACK_FRAME_BAD;
	} else {
		f->kind = SLACK_FRAME_OTHER;
	}
	json_decref(o);
	return f->kind;
}

/* --- conversations ----------------------------------------------------------------------- */

void slack_thread_key(const struct slack_event *e, char *out, size_t n)
{
	if (e->is_im && !e->thread_ts[0])
		snprintf(out, n, "%s", e->channel);
	else
		snprintf(out, n, "%s:%s", e->channel, e->thread_ts[0] ? e->thread_ts : e->ts);
}

void slack_post_id(const struct slack_event *e, char *out, size_t n)
{
	snprintf(out, n, "%s:%s", e->channel, e->ts);
}

int slack_thread_parse(const char *key, char channel[SLACK_MAX_ID + 1], char thread_ts[SLACK_MAX_TS + 1])
{
	const char *colon = key ? strchr(key, ':') : NULL;
	size_t cl = colon ? (size_t)(colon - key) : (key ? strlen(key) : 0);
	channel[0] = thread_ts[0] = '\0';
	if (!key || cl == 0 || cl > SLACK_MAX_ID)
		return -1;
	memcpy(channel, key, cl);
	channel[cl] = '\0';
	if (!slack_id_ok(channel))
		return -1;
	if (colon) {
		if (!slack_ts_ok(colon + 1))
			return -1;
		snprintf(thread_ts, SLACK_MAX_TS + 1, "%s", colon + 1);
	}
	return 0;
}

/* --- replies ------------------------------------------------------------------------------ */

size_t slack_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

size_t slack_build_parts(const char *text, size_t max_chars, char **parts, size_t max_parts)
{
	char *tmp[SLACK_MAX_PARTS];
	size_t n = 0, budget;

	if (max_parts > SLACK_MAX_PARTS)
		max_parts = SLACK_MAX_PARTS;
	if (max_chars < 16)
		max_chars = 16;
	budget = max_chars;
	/* Escaping makes text longer ("&" is "&amp;" on the wire): cut the
	 * plain text, escape each part, and while the longest part is over,
	 * cut again with the budget scaled down by how much it was over (and
	 * by at least one character, so this ends). */
	for (int round = 0; round < 64; round++) {
		n = outbox_split(text ? text : "", budget, tmp, max_parts);
		size_t worst = 0;
		for (size_t i = 0; i < n; i++) {
			struct buf b;
			buf_init(&b, 0);
			markup_neutralise(&b, MARKUP_SLACK, tmp[i]);
			size_t l = b.p ? slack_chars(b.p) : 0;
			if (l > worst)
				worst = l;
			free(tmp[i]);
			tmp[i] = buf_steal(&b);
			if (!tmp[i])
				tmp[i] = xstrdup("");
		}
		if (worst <= max_chars || budget <= 8)
			break;
		for (size_t i = 0; i < n; i++)
			free(tmp[i]);
		n = 0;
		size_t next = (size_t)((unsigned long long)budget * max_chars / worst);
		if (next >= budget)
			next = budget - 1;
		budget = next > 8 ? next : 8;
	}
	/* A budget of 8 still over the limit cannot happen with a limit of at
	 * least 16 (one character escapes to at most 6); cut hard anyway. */
	for (size_t i = 0; i < n; i++) {
		if (slack_chars(tmp[i]) > max_chars) {
			size_t k = 0, c = 0;
			while (tmp[i][k] && c < max_chars) {
				k++;
				while (((unsigned char)tmp[i][k] & 0xC0) == 0x80)
					k++;
				c++;
			}
			tmp[i][k] = '\0';
		}
		parts[i] = tmp[i];
	}
	return n;
}

/* --- Web API answers ------------------------------------------------------------------------- */

int slack_api_ok(const char *body, size_t len, char *error, size_t errn)
{
	json_t *o = json_loadb(body ? body : "", len, 0, NULL);
	json_t *ok = json_object_get(o, "ok");
	int r;
	if (!json_is_object(o) || !json_is_boolean(ok)) {
		snprintf(error, errn, "not JSON");
		r = -1;
	} else if (json_is_true(ok)) {
		error[0] = '\0';
		r = 1;
	} else {
		const char *e = get_str(o, "error");
		snprintf(error, errn, "%s", e && *e ? e : "unknown_error");
		/* Error codes are words; anything else is shown as such. */
		for (char *q = error; *q; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
				*q = '_';
		r = 0;
	}
	json_decref(o);
	return r;
}

enum slack_error_class slack_error_class(const char *e)
{
	static const char *const auth[] = {"invalid_auth",       "not_authed",
	                                   "account_inactive",   "token_revoked",
	                                   "token_expired",      "no_permission",
	                                   "missing_scope",      "not_allowed_token_type",
	                                   "org_login_required", "team_access_not_granted",
	                                   "ekm_access_denied",  "two_factor_setup_required"};
	static const char *const retry[] = {"service_unavailable", "request_timeout", "team_added_to_org"};
	static const char *const unknown[] = {"internal_error", "fatal_error"};
	if (!e)
		return SLACK_ERR_FINAL;
	if (strcmp(e, "ratelimited") == 0 || strcmp(e, "rate_limited") == 0)
		return SLACK_ERR_RATE;
	for (size_t i = 0; i < ARRAY_LEN(auth); i++)
		if (strcmp(e, auth[i]) == 0)
			return SLACK_ERR_AUTH;
	for (size_t i = 0; i < ARRAY_LEN(retry); i++)
		if (strcmp(e, retry[i]) == 0)
			return SLACK_ERR_RETRY;
	for (size_t i = 0; i < ARRAY_LEN(unknown); i++)
		if (strcmp(e, unknown[i]) == 0)
			return SLACK_ERR_UNKNOWN;
	return SLACK_ERR_FINAL;
}

int slack_history_find(const char *body, size_t len, const char *key, int part, const char *bot_id, char *ts,
                       size_t tsn, char *cursor, size_t cursorn, char *err, size_t errn)
{
	char e[64];
	int ok = slack_api_ok(body, len, e, sizeof(e));
	if (tsn)
		ts[0] = '\0';
	if (cursorn)
		cursor[0] = '\0';
	if (ok <= 0) {
		snprintf(err, errn, "%s", e);
		return -1;
	}
	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *msgs = json_object_get(o, "messages");
	int found = 0;
	if (!json_is_array(msgs)) {
		snprintf(err, errn, "answer without messages");
		json_decref(o);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(msgs) && !found; i++) {
		json_t *m = json_array_get(msgs, i);
		json_t *md = json_object_get(m, "metadata");
		const char *type = get_str(md, "event_type");
		json_t *pl = json_object_get(md, "event_payload");
		const char *k = get_str(pl, "key");
		json_t *pt = json_object_get(pl, "part");
		int p = json_is_integer(pt) ? (int)json_integer_value(pt) : 0;
		const char *mts = get_str(m, "ts");
		const char *mb = get_str(m, "bot_id");
		if (!type || strcmp(type, SLACK_METADATA_TYPE) != 0 || !k || strcmp(k, key) != 0 ||
		    p != part || !mts || !slack_ts_ok(mts))
			continue;
		if (bot_id && *bot_id && (!mb || strcmp(mb, bot_id) != 0))
			continue;
		snprintf(ts, tsn, "%s", mts);
		found = 1;
	}
	if (!found && cursorn) {
		json_t *more = json_object_get(o, "has_more");
		const char *next = get_str(json_object_get(o, "response_metadata"), "next_cursor");
		/* Cursors are opaque base64-like tokens; anything odd ends the search. */
		if (json_is_true(more) && next && *next && strlen(next) < cursorn && strlen(next) < 512) {
			int clean = 1;
			for (const char *q = next; *q; q++)
				if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7F)
					clean = 0;
			if (clean)
				snprintf(cursor, cursorn, "%s", next);
		}
	}
	json_decref(o);
	return found;
}
