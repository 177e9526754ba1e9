/*
 * notify.c - notifications of the human queue: stored events, digests,
 * rendering for Slack / Discord / Mattermost / JSON webhooks and e-mail,
 * and the sinks the outbox delivers through (see notify.h).
 */
#include "notify.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "config.h"
#include "connector.h"
#include "hours.h"
#include "http.h"
#include "loop.h"
#include "markup.h"
#include "metrics.h"
#include "pipeline.h"
#include "queue_cli.h"
#include "store.h"

#define AUTHOR_MAX  64    /* characters of an author name in a notification */
#define DISCORD_MAX 2000  /* Discord's content limit in characters */
#define CHAT_MAX    12000 /* Slack / Mattermost: stay well below their limits */

static const char *const event_names[NOTIFY_EVENT_COUNT] = {"new_ticket", "due_soon", "missed",
                                                            "customer_wrote", "customer_reply"};

const char *notify_event_name(enum notify_event e)
{
	return (unsigned)e < NOTIFY_EVENT_COUNT ? event_names[e] : "unknown";
}

int notify_format_parse(const char *s)
{
	if (!s || !strcmp(s, "json"))
		return NOTIFY_JSON;
	if (!strcmp(s, "slack"))
		return NOTIFY_SLACK;
	if (!strcmp(s, "discord"))
		return NOTIFY_DISCORD;
	if (!strcmp(s, "mattermost"))
		return NOTIFY_MATTERMOST;
	return -1;
}

/* ---- neutralising customer text -------------------------------------------------- */

static int is_space_cp(utf8proc_int32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x85 ||
	       c == 0xA0 || c == 0x2028 || c == 0x2029 || c == 0x3000 || (c >= 0x2000 && c <= 0x200A);
}

/* Controls and invisible formatting characters that could hide a mention
 * ("@\u2060everyone" is still a ping on some platforms) or reorder text. */
static int is_control_cp(utf8proc_int32_t c)
{
	if (c < 0x20 || (c >= 0x7F && c < 0xA0))
		return 1;
	if ((c >= 0x200B && c <= 0x200F) || markup_bidi_control(c) || (c >= 0x2060 && c <= 0x206F) ||
	    c == 0xFEFF)
		return 1;
	return 0;
}

void notify_neutralise(struct buf *out, const char *text, size_t max_chars)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)(text ? text : "");
	size_t len = strlen((const char *)s), i = 0, chars = 0;
	size_t last_space = 0;
	int pending_space = 0, cut = 0;
	struct buf clean;

	/* First the characters (controls out, white space collapsed, cut),
	 * then the mentions of every platform (markup.h) on what is left. */
	buf_init(&clean, 0);
	while (i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
		if (k <= 0) {
			c = 0xFFFD;
			k = 1;
		}
		i += (size_t)k;
		if (is_space_cp(c) || (is_control_cp(c) && c != 0x200D)) {
			/* ZWJ (0x200D) is part of emoji sequences: kept. */
			pending_space = clean.len > 0;
			continue;
		}
		if (chars + (pending_space ? 1 : 0) + 1 > max_chars) {
			cut = 1;
			break;
		}
		if (pending_space) {
			last_space = clean.len;
			buf_putc(&clean, ' ');
			chars++;
			pending_space = 0;
		}
		uint8_t enc[4];
		buf_append(&clean, enc, (size_t)utf8proc_encode_char(c, enc));
		chars++;
	}
	if (cut) {
		/* Cut at the last word boundary when it is in the last fifth. */
		if (last_space > 0 && (clean.len - last_space) * 5 < clean.len) {
			clean.len = last_space;
			clean.p[clean.len] = '\0';
		}
		buf_puts(&clean, "…");
	}
	markup_neutralise(out, MARKUP_ANY, clean.p);
	buf_free(&clean);
}

/* ---- digest windows ------------------------------------------------------------- */

int notify_window_admit(struct notify_window *w, time_t now, time_t *digest_at)
{
	size_t recent = 0;

	for (size_t i = 0; i < w->n; i++)
		if (w->recent[i] > now - NOTIFY_DIGEST_WINDOW)
			recent++;
	/* Held ones count too: a flood that goes on makes the next digest. */
	w->recent[w->next] = now;
	w->next = (w->next + 1) % NOTIFY_DIGEST_AFTER;
	if (w->n < NOTIFY_DIGEST_AFTER)
		w->n++;
	if (w->digest_at && now < w->digest_at) {
		*digest_at = w->digest_at;
		return 1;
	}
	w->digest_at = 0;
	if (recent < NOTIFY_DIGEST_AFTER)
		return 0;
	w->digest_at = now + NOTIFY_DIGEST_WINDOW;
	*digest_at = w->digest_at;
	return 1;
}

/* ---- stored events -------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* Customer-controlled text, made safe before it is stored. */
static json_t *safe_text(const char *s, size_t max_chars)
{
	struct buf b;
	buf_init(&b, 0);
	notify_neutralise(&b, s, max_chars);
	json_t *v = json_string(b.p ? b.p : "");
	buf_free(&b);
	return v ? v : json_string("");
}

/* A stored event (consumed) as compact JSON into out; -1 when it would not
 * fit NOTIFY_PAYLOAD_MAX. */
static int event_dump(json_t *o, struct buf *out)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return -1;
	int rc = strlen(s) > NOTIFY_PAYLOAD_MAX ? -1 : buf_puts(out, s);
	free(s);
	return rc;
}

int notify_event_json(enum notify_event ev, const struct notify_ticket *t, time_t at, time_t digest,
                      struct buf *out)
{
	json_t *o = json_object(), *k = json_object();
	const char *prio = priority_name(t->priority);

	json_object_set_new(o, "event", json_string(notify_event_name(ev)));
	json_object_set_new(o, "at", json_integer(at));
	json_object_set_new(o, "digest", json_integer(digest));
	json_object_set_new(k, "id", json_integer(t->id));
	json_object_set_new(k, "status", json_string(t->status ? t->status : "waiting"));
	json_object_set_new(k, "priority", json_string(prio ? prio : "normal"));
	json_object_set_new(k, "reason", str_or_null(t->reason));
	json_object_set_new(k, "platform", safe_text(t->platform, AUTHOR_MAX));
	json_object_set_new(k, "author", safe_text(t->author, AUTHOR_MAX));
	json_object_set_new(k, "assignee", str_or_null(t->assignee));
	json_object_set_new(k, "text", safe_text(t->text, NOTIFY_TEXT_MAX));
	json_object_set_new(k, "created", json_integer(t->created));
	json_object_set_new(k, "due", json_integer(t->due));
	json_object_set_new(o, "ticket", k);
	return event_dump(o, out);
}

static char *dup_member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

int notify_event_parse(const char *text, struct notify_item *out)
{
	json_t *o, *k, *v;
	size_t e;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) > NOTIFY_PAYLOAD_MAX ||
	    !(o = json_loads(text, JSON_REJECT_DUPLICATES, NULL)))
		return -1;
	v = json_object_get(o, "event");
	k = json_object_get(o, "ticket");
	for (e = 0; json_is_string(v) && e < NOTIFY_EVENT_COUNT; e++)
		if (!strcmp(json_string_value(v), event_names[e]))
			break;
	if (!json_is_string(v) || e == NOTIFY_EVENT_COUNT || !json_is_object(k) ||
	    !json_is_integer(json_object_get(k, "id"))) {
		json_decref(o);
		return -1;
	}
	out->event = (enum notify_event)e;
	out->at = (time_t)json_integer_value(json_object_get(o, "at"));
	out->digest = (time_t)json_integer_value(json_object_get(o, "digest"));
	out->t.id = json_integer_value(json_object_get(k, "id"));
	out->t.status = dup_member(k, "status");
	v = json_object_get(k, "priority");
	out->t.priority = json_is_string(v) ? priority_parse(json_string_value(v)) : PRIO_NORMAL;
	if (out->t.priority == PRIO_NONE)
		out->t.priority = PRIO_NORMAL;
	out->t.reason = dup_member(k, "reason");
	out->t.platform = dup_member(k, "platform");
	out->t.author = dup_member(k, "author");
	out->t.assignee = dup_member(k, "assignee");
	out->t.text = dup_member(k, "text");
	out->t.created = (time_t)json_integer_value(json_object_get(k, "created"));
	out->t.due = (time_t)json_integer_value(json_object_get(k, "due"));
	if (out->event == NOTIFY_CUSTOMER_REPLY) {
		out->to = dup_member(o, "to");
		out->agent = dup_member(o, "agent");
		out->link = dup_member(o, "link");
		out->business = dup_member(o, "business");
		if (!out->to || !out->t.text) {
			json_decref(o);
			notify_item_free(out);
			return -1;
		}
	}
	json_decref(o);
	return 0;
}

void notify_item_free(struct notify_item *it)
{
	free((char *)it->t.status);
	free((char *)it->t.reason);
	free((char *)it->t.platform);
	free((char *)it->t.author);
	free((char *)it->t.assignee);
	free((char *)it->t.text);
	free(it->to);
	free(it->agent);
	free(it->link);
	free(it->business);
	memset(it, 0, sizeof(*it));
}

/* ---- rendering ------------------------------------------------------------------ */

static const char *reason_words(const char *r)
{
	if (!r)
		return NULL;
	if (!strcmp(r, "unmatched"))
		return "unanswered question";
	if (!strcmp(r, "requested_human"))
		return "asked for a person";
	if (!strcmp(r, "negative"))
		return "unhappy customer";
	if (!strcmp(r, "abusive"))
		return "abusive";
	if (!strcmp(r, "rule"))
		return "escalation rule";
	return r;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* "2026-11-22 17:45 Europe/London (in 2h 10m)" */
static void when(struct buf *b, time_t t, time_t now, const struct hours *tz)
{
	char iso[48], rel[48];
	if (tz) {
		hours_iso_local(tz, t, iso, sizeof(iso));
		if (strlen(iso) >= 16) {
			iso[10] = ' ';
			iso[16] = '\0';
		}
		buf_printf(b, "%s %s", iso, hours_tz(tz));
	} else {
		time_iso_utc(t, iso, sizeof(iso));
		if (strlen(iso) >= 16) {
			iso[10] = ' ';
			iso[16] = '\0';
		}
		buf_printf(b, "%s UTC", iso);
	}
	queue_relative(t, now, rel, sizeof(rel));
	buf_printf(b, " (%s)", rel);
}

static void quote(struct buf *b, const char *text)
{
	if (text && *text)
		buf_printf(b, ": “%s”", text);
}

/* The human sentence for one item. */
static void sentence(struct buf *b, const struct notify_item *it, time_t now, const struct hours *tz)
{
	const struct notify_ticket *t = &it->t;
	const char *prio = priority_name(t->priority);
	const char *why = reason_words(t->reason);

	switch (it->event) {
	case NOTIFY_NEW_TICKET:
		buf_printf(b, "New ticket #%lld (%s%s%s) from %s on %s", (long long)t->id, prio,
		           why ? ", " : "", why ? why : "", or_dash(t->author), or_dash(t->platform));
		if (t->due) {
			buf_puts(b, ", due ");
			when(b, t->due, now, tz);
		}
		break;
	case NOTIFY_DUE_SOON:
		buf_printf(b, "Ticket #%lld (%s) from %s has no reply yet and is due ", (long long)t->id,
		           prio, or_dash(t->author));
		when(b, t->due, now, tz);
		if (t->assignee)
			buf_printf(b, ", claimed by %s", t->assignee);
		break;
	case NOTIFY_MISSED:
		buf_printf(b, "Ticket #%lld (%s) from %s missed its response target: it was due ",
		           (long long)t->id, prio, or_dash(t->author));
		when(b, t->due, now, tz);
		if (t->assignee)
			buf_printf(b, ", claimed by %s", t->assignee);
		break;
	case NOTIFY_CUSTOMER_WROTE:
		buf_printf(b, "%s wrote again in ticket #%lld (%s)", or_dash(t->author), (long long)t->id,
		           prio);
		if (t->assignee)
			buf_printf(b, ", claimed by %s", t->assignee);
		break;
	case NOTIFY_CUSTOMER_REPLY:
		buf_printf(b, "%s's reply in ticket #%lld, by e-mail", or_dash(it->agent), (long long)t->id);
		break;
	default: buf_printf(b, "Ticket #%lld", (long long)t->id); break;
	}
	quote(b, t->text);
}

/* The whole plain text: one sentence, or a digest listing. */
static void plain_text(struct buf *b, const struct notify_item *items, size_t n, time_t now,
                       const struct hours *tz)
{
	if (n == 1) {
		sentence(b, &items[0], now, tz);
		return;
	}
	buf_printf(b, "%zu new tickets in the last minute:", n);
	for (size_t i = 0; i < n && i < NOTIFY_DIGEST_LIST; i++) {
		const struct notify_ticket *t = &items[i].t;
		buf_printf(b, "\n• #%lld %s, %s on %s", (long long)t->id, priority_name(t->priority),
		           or_dash(t->author), or_dash(t->platform));
		quote(b, t->text);
	}
	if (n > NOTIFY_DIGEST_LIST)
		buf_printf(b, "\n…and %zu more", n - NOTIFY_DIGEST_LIST);
}

void notify_subject(const struct notify_item *items, size_t n, struct buf *out)
{
	const struct notify_ticket *t = &items[0].t;
	if (n > 1) {
		buf_printf(out, "[frontdesk] %zu new tickets", n);
		return;
	}
	switch (items[0].event) {
	case NOTIFY_NEW_TICKET:
		buf_printf(out, "[frontdesk] New ticket #%lld (%s) from %s", (long long)t->id,
		           priority_name(t->priority), or_dash(t->author));
		break;
	case NOTIFY_DUE_SOON:
		buf_printf(out, "[frontdesk] Ticket #%lld is due soon", (long long)t->id);
		break;
	case NOTIFY_MISSED:
		buf_printf(out, "[frontdesk] Ticket #%lld missed its response target", (long long)t->id);
		break;
	default:
		buf_printf(out, "[frontdesk] %s wrote again in ticket #%lld", or_dash(t->author),
		           (long long)t->id);
		break;
	}
}

/* The markup syntax a webhook format renders, or -1 for none (JSON, e-mail). */
static int format_syntax(enum notify_format f)
{
	switch (f) {
	case NOTIFY_SLACK: return MARKUP_SLACK;
	case NOTIFY_DISCORD: return MARKUP_DISCORD;
	case NOTIFY_MATTERMOST: return MARKUP_MATTERMOST;
	default: return -1;
	}
}

static char *inert(const char *s, int syntax)
{
	struct buf b;
	if (!s)
		return NULL;
	buf_init(&b, 0);
	markup_neutralise(&b, (enum markup_syntax)syntax, s);
	return buf_steal(&b);
}

/*
 * The plain text of items for `format`: what customers wrote (text, name,
 * platform) made inert for the syntax that renders it, so a chat shows the
 * customer's markdown, links and mentions as the characters they typed.
 */
static void format_text(struct buf *b, enum notify_format format, const struct notify_item *items, size_t n,
                        time_t now, const struct hours *tz)
{
	int syntax = format_syntax(format);
	if (syntax < 0) {
		plain_text(b, items, n, now, tz);
		return;
	}
	struct notify_item *safe = xcalloc(n, sizeof(*safe));
	for (size_t i = 0; i < n; i++) {
		safe[i] = items[i];
		safe[i].t.text = inert(items[i].t.text, syntax);
		safe[i].t.author = inert(items[i].t.author, syntax);
		safe[i].t.platform = inert(items[i].t.platform, syntax);
	}
	plain_text(b, safe, n, now, tz);
	for (size_t i = 0; i < n; i++) {
		free((char *)safe[i].t.text);
		free((char *)safe[i].t.author);
		free((char *)safe[i].t.platform);
	}
	free(safe);
}

/* At most max code points of s (cut with "…"). */
static void cut_chars(struct buf *out, const char *s, size_t max)
{
	size_t i = 0, chars = 0, len = strlen(s);
	while (i < len && chars < max) {
		size_t k = 1;
		while (i + k < len && ((unsigned char)s[i + k] & 0xC0) == 0x80)
			k++;
		i += k;
		chars++;
	}
	if (i < len) {
		/* Back off one character for the ellipsis. */
		while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
			i--;
		if (i > 0)
			i--;
		buf_append(out, s, i);
		buf_puts(out, "…");
	} else {
		buf_append(out, s, len);
	}
}

static json_t *time_json(time_t t)
{
	char iso[40];
	if (t <= 0)
		return json_null();
	time_iso_utc(t, iso, sizeof(iso));
	return json_string(iso);
}

/* The ticket as `frontdesk queue list --json` shows it. */
static json_t *ticket_json(const struct notify_ticket *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(t->id));
	json_object_set_new(o, "status", json_string(t->status ? t->status : "waiting"));
	json_object_set_new(o, "priority", json_string(priority_name(t->priority)));
	json_object_set_new(o, "reason", str_or_null(t->reason));
	json_object_set_new(o, "platform", json_string(t->platform ? t->platform : ""));
	json_object_set_new(o, "author", json_string(t->author ? t->author : ""));
	json_object_set_new(o, "due", time_json(t->due));
	json_object_set_new(o, "created", time_json(t->created));
	json_object_set_new(o, "assignee", str_or_null(t->assignee));
	json_object_set_new(o, "last_message", json_string(t->text ? t->text : ""));
	return o;
}

static void dump(json_t *o, struct buf *out)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s) {
		buf_puts(out, s);
		free(s);
	}
}

void notify_render(enum notify_format format, const struct notify_item *items, size_t n, time_t now,
                   const struct hours *tz, struct buf *out)
{
	struct buf text, t2;
	json_t *o;

	buf_init(&text, 0);
	buf_init(&t2, 0);
	format_text(&text, format, items, n, now, tz);
	switch (format) {
	case NOTIFY_SLACK:
		cut_chars(&t2, text.p, CHAT_MAX);
		o = json_object();
		json_object_set_new(o, "text", json_string(t2.p));
		/* A customer's link is shown, never previewed into the channel. */
		json_object_set_new(o, "unfurl_links", json_false());
		json_object_set_new(o, "unfurl_media", json_false());
		dump(o, out);
		break;
	case NOTIFY_MATTERMOST:
		cut_chars(&t2, text.p, CHAT_MAX);
		o = json_object();
		json_object_set_new(o, "text", json_string(t2.p));
		dump(o, out);
		break;
	case NOTIFY_DISCORD: {
		cut_chars(&t2, text.p, DISCORD_MAX);
		o = json_object();
		json_object_set_new(o, "content", json_string(t2.p));
		/* No mention in the content may ping anyone, whatever slipped
		 * through the neutralising. */
		json_t *am = json_object();
		json_object_set_new(am, "parse", json_array());
		json_object_set_new(o, "allowed_mentions", am);
		json_object_set_new(o, "flags", json_integer(4)); /* SUPPRESS_EMBEDS: no link previews */
		dump(o, out);
		break;
	}
	case NOTIFY_JSON:
		o = json_object();
		json_object_set_new(o, "event",
		                    json_string(n > 1 ? "digest" : notify_event_name(items[0].event)));
		json_object_set_new(o, "text", json_string(text.p));
		if (n > 1) {
			json_t *arr = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(arr, ticket_json(&items[i].t));
			json_object_set_new(o, "tickets", arr);
		} else {
			json_object_set_new(o, "ticket", ticket_json(&items[0].t));
		}
		json_object_set_new(o, "sent", time_json(now));
		dump(o, out);
		break;
	case NOTIFY_EMAIL:
		buf_puts(out, text.p);
		buf_puts(out, "\n\n");
		for (size_t i = 0; i < n; i++) {
			const struct notify_ticket *t = &items[i].t;
			char created[40], due[40];
			time_iso_utc(t->created, created, sizeof(created));
			if (t->due)
				time_iso_utc(t->due, due, sizeof(due));
			else
				snprintf(due, sizeof(due), "-");
			buf_printf(
			    out,
			    "Ticket #%lld\n  status:   %s\n  priority: %s\n  reason:   %s\n  platform: %s\n"
			    "  author:   %s\n  created:  %s\n  due:      %s\n  assignee: %s\n",
			    (long long)t->id, or_dash(t->status), priority_name(t->priority),
			    or_dash(t->reason), or_dash(t->platform), or_dash(t->author), created, due,
			    or_dash(t->assignee));
			if (i >= NOTIFY_DIGEST_LIST) {
				buf_printf(out, "\n…and %zu more\n", n - i - 1);
				break;
			}
		}
		buf_puts(out, "\nWork the queue on the dashboard or with `frontdesk queue list`.\n");
		break;
	}
	buf_free(&text);
	buf_free(&t2);
}

/* ---- e-mail ------------------------------------------------------------------------ */

static void base64(struct buf *out, const unsigned char *p, size_t n, size_t line)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=',
		             i + 2 < n ? tab[v & 63] : '='};
		buf_append(out, q, 4);
		col += 4;
		if (line && col >= line && i + 3 < n) {
			buf_puts(out, "\r\n");
			col = 0;
		}
	}
}

/* A header value on one line: CR, LF and other controls become spaces. */
static char *header_value(const char *s)
{
	char *v = xstrdup(s ? s : "");
	for (char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = ' ';
	return v;
}

/* Subject: ASCII as it is, anything else as RFC 2047 encoded words, each
 * holding whole UTF-8 characters and at most 75 characters long. */
static void subject_header(struct buf *out, const char *subject)
{
	char *v = header_value(subject);
	int ascii = 1;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	buf_puts(out, "Subject: ");
	if (ascii) {
		buf_puts(out, v);
	} else {
		size_t len = strlen(v), i = 0;
		while (i < len) {
			size_t j = i + 45 < len ? i + 45 : len;
			while (j < len && j > i && ((unsigned char)v[j] & 0xC0) == 0x80)
				j--;
			if (i > 0)
				buf_puts(out, "\r\n ");
			buf_puts(out, "=?UTF-8?B?");
			base64(out, (const unsigned char *)v + i, j - i, 0);
			buf_puts(out, "?=");
			i = j;
		}
	}
	buf_puts(out, "\r\n");
	free(v);
}

void notify_email_message(const char *from, const char *const *to, const char *reply_to, const char *subject,
                          const char *body, time_t date, const char *msgid, struct buf *out)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	char *f = header_value(from), *id = header_value(msgid);
	const char *at = strrchr(f, '@');

	gmtime_r(&date, &tm);
	buf_printf(out, "From: %s\r\nTo: ", f);
	for (size_t i = 0; to && to[i]; i++) {
		char *t = header_value(to[i]);
		buf_printf(out, "%s%s", i ? ", " : "", t);
		free(t);
	}
	buf_puts(out, "\r\n");
	if (reply_to) {
		char *r = header_value(reply_to);
		buf_printf(out, "Reply-To: %s\r\n", r);
		free(r);
	}
	subject_header(out, subject);
	buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
	           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	buf_printf(out, "Message-ID: <%s@%s>\r\n", id, at && at[1] ? at + 1 : "frontdesk.invalid");
	buf_puts(out, "MIME-Version: 1.0\r\n"
	              "Content-Type: text/plain; charset=utf-8\r\n"
	              "Content-Transfer-Encoding: base64\r\n"
	              "Auto-Submitted: auto-generated\r\n"
	              "\r\n");
	/* Body lines end in CRLF before encoding, as text/plain requires. */
	struct buf crlf;
	buf_init(&crlf, 0);
	for (const char *p = body ? body : ""; *p; p++) {
		if (*p == '\n' && (p == body || p[-1] != '\r'))
			buf_putc(&crlf, '\r');
		buf_putc(&crlf, *p);
	}
	base64(out, (const unsigned char *)(crlf.p ? crlf.p : ""), crlf.len, 76);
	buf_puts(out, "\r\n");
	buf_free(&crlf);
	free(f);
	free(id);
}

/* ---- replies to customers -------------------------------------------------------------- */

int notify_reply_json(const struct connector_mail *m, const char *business, time_t at, struct buf *out)
{
	json_t *o = json_object(), *k = json_object();
	json_object_set_new(o, "event", json_string(event_names[NOTIFY_CUSTOMER_REPLY]));
	json_object_set_new(o, "at", json_integer(at));
	json_object_set_new(o, "digest", json_integer(0));
	json_object_set_new(o, "to", json_string(m->to));
	json_object_set_new(o, "agent", str_or_null(m->agent));
	json_object_set_new(o, "link", str_or_null(m->link));
	json_object_set_new(o, "business", str_or_null(business));
	json_object_set_new(k, "id", json_integer(0));
	json_object_set_new(k, "text", json_string(m->text ? m->text : ""));
	json_object_set_new(o, "ticket", k);
	return event_dump(o, out);
}

void notify_reply_email(const struct notify_item *it, const char *reply_to, struct buf *subject,
                        struct buf *body)
{
	const char *business = it->business && *it->business ? it->business : NULL;
	char *sub = business ? xasprintf("Re: your message to %s", business) : xstrdup("Re: your message");
	/* The subject is one header line of text the business chose. */
	buf_puts(subject, sub);
	free(sub);
	if (it->agent && business)
		buf_printf(body, "%s from %s replied to your message:\n\n", it->agent, business);
	else if (it->agent)
		buf_printf(body, "%s replied to your message:\n\n", it->agent);
	else
		buf_puts(body, "A reply to your message:\n\n");
	buf_puts(body, it->t.text ? it->t.text : "");
	buf_puts(body, "\n\n");
	if (it->link)
		buf_printf(body, "Continue the conversation in the chat:\n%s\n\n", it->link);
	buf_printf(body,
	           "You get this because you left this address in our chat and were not there when the "
	           "reply came.%s\n",
	           reply_to ? " You can also answer this e-mail." : "");
}

/* ---- sinks ---------------------------------------------------------------------------- */

struct sink;

/* One message in flight: it settles `ids` (one row, or a digest's rows). */
struct send {
	struct sink *sk;
	struct http_call *call;
	time_t digest;
	int64_t *ids;
	size_t n, cap;
	struct send *next;
};

struct sink {
	struct connector c;
	struct notifier *n;
	const struct notify_conf *conf;
	int format; /* enum notify_format, NOTIFY_EMAIL for e-mail */
	int disabled;
	char *url;      /* webhook URL (a secret) */
	char *password; /* SMTP password, or NULL */
	struct notify_window win;
	struct send *inflight;
};

struct notifier {
	struct notify_env env;
	struct sink *sinks;
	size_t nsinks;
	struct metric *m_sent;
};

static void send_free(struct send *s)
{
	free(s->ids);
	free(s);
}

static void send_add(struct send *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->ids = xrealloc(s->ids, s->cap * sizeof(*s->ids));
	}
	s->ids[s->n++] = id;
}

static void unlink_send(struct sink *sk, struct send *s)
{
	for (struct send **p = &sk->inflight; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

/* What a response means for the rows: sent, retry (with a wait), or give up. */
static enum send_result outcome(const struct sink *sk, const struct http_response *r, long *retry_after)
{
	time_t now = time(NULL);
	time_t nb = http_not_before(r, now);

	*retry_after = nb > now ? (long)(nb - now) : 0;
	if (sk->format == NOTIFY_EMAIL) {
		/* curl reports every refused command as an error. */
		if (r->error == HTTP_E_NONE)
			return SEND_OK;
		/* 5xx SMTP replies are permanent (unknown mailbox, refused
		 * sender); everything else (4xx, no connection) is retried. */
		return r->status >= 500 && r->status < 600 ? SEND_FAIL : SEND_RETRY;
	}
	if (r->error != HTTP_E_NONE)
		return SEND_RETRY;
	if (r->status >= 200 && r->status < 300)
		return SEND_OK;
	if (r->status == 408 || r->status == 429 || r->status >= 500)
		return SEND_RETRY;
	return SEND_FAIL;
}

static void sent_cb(const struct http_response *r, void *arg)
{
	struct send *s = arg;
	struct sink *sk = s->sk;
	long retry_after = 0;

	unlink_send(sk, s);
	if (r->error == HTTP_E_CANCELLED) {
		/* Shutting down: the rows stay pending in the store and go out
		 * after the next start. */
		send_free(s);
		return;
	}
	enum send_result res = outcome(sk, r, &retry_after);
	char detail[160];
	if (r->error != HTTP_E_NONE)
		snprintf(detail, sizeof(detail), "%s", r->error_text ? r->error_text : "transport error");
	else
		snprintf(detail, sizeof(detail), "status %ld", r->status);
	const char *res_name = res == SEND_OK ? "sent" : res == SEND_RETRY ? "retry" : "failed";
	if (res == SEND_OK)
		log_info("notification sent", "sink=%s rows=%zu status=%ld", sk->c.name, s->n, r->status);
	else
		log_warn("notification not delivered", "sink=%s rows=%zu status=%ld outcome=%s", sk->c.name,
		         s->n, r->status, res_name);
	metric_add_l(sk->n->m_sent, 1, sk->c.name, res_name);
	for (size_t i = 0; i < s->n; i++)
		connector_send_done(&sk->c, s->ids[i], res, retry_after, detail);
	send_free(s);
}

/* A digest being gathered from the store's pending rows. */
struct gather {
	struct sink *sk;
	struct send *s;
	struct notify_item *items;
	size_t n;
	char *idem;
};

static int deliver(struct sink *sk, struct send *s, const struct notify_item *items, size_t n,
                   const char *idem);

/*
 * The other pending rows of this sink held for the same digest join it
 * (the store's answer to one read of the pending rows, which only happens
 * when a digest goes out); then the request starts.
 */
static void digest_rows(void *arg, int rc, const struct store_out *v, size_t nv)
{
	struct gather *g = arg;
	struct sink *sk = g->sk;
	struct send *s = g->s;
	int64_t first = s->ids[0];

	for (size_t i = 0; rc == 0 && i < nv && g->n < NOTIFY_DIGEST_ROWS; i++) {
		struct notify_item it;
		if (v[i].id == first || v[i].kind != OUT_NOTIFY || strcmp(v[i].connector, sk->c.name) != 0 ||
		    notify_event_parse(v[i].text, &it) < 0)
			continue;
		if (it.digest == s->digest && it.event == NOTIFY_NEW_TICKET) {
			g->items = xrealloc(g->items, (g->n + 1) * sizeof(*g->items));
			g->items[g->n++] = it;
			send_add(s, v[i].id);
		} else {
			notify_item_free(&it);
		}
	}
	int started = deliver(sk, s, g->items, g->n, g->idem);
	for (size_t i = 0; i < g->n; i++)
		notify_item_free(&g->items[i]);
	free(g->items);
	free(g->idem);
	free(g);
	if (started < 0) {
		struct send **pp = &sk->inflight;
		while (*pp && *pp != s)
			pp = &(*pp)->next;
		if (*pp)
			*pp = s->next;
		send_free(s);
		connector_send_done(&sk->c, first, SEND_RETRY, 0, "the notification request could not start");
	}
}

/* Start the request for s; 0, or -1 when it could not start. */
static int deliver(struct sink *sk, struct send *s, const struct notify_item *items, size_t n,
                   const char *idem)
{
	struct notifier *nt = sk->n;
	const struct hours *tz = nt->env.cfg ? nt->env.cfg->hours : NULL;
	time_t now = time(NULL);
	struct buf body;

	if (!nt->env.loop || !nt->env.loop->http)
		return -1; /* the loop is gone (teardown): the rows stay pending */
	buf_init(&body, 0);
	if (sk->format == NOTIFY_EMAIL) {
		struct buf text, subject;
		buf_init(&text, 0);
		buf_init(&subject, 0);
		/* A reply to a customer goes to the customer, answerable at
		 * the business's contact address; the rest to the team. */
		int customer = items[0].event == NOTIFY_CUSTOMER_REPLY;
		const char *contact =
		    nt->env.cfg && nt->env.cfg->email && *nt->env.cfg->email ? nt->env.cfg->email : NULL;
		const char *one[] = {items[0].to, NULL};
		const char *const *rcpt = customer ? one : (const char *const *)sk->conf->to;
		if (customer) {
			notify_reply_email(&items[0], contact, &subject, &text);
		} else {
			notify_render(NOTIFY_EMAIL, items, n, now, tz, &text);
			notify_subject(items, n, &subject);
		}
		char msgid[96];
		snprintf(msgid, sizeof(msgid), "frontdesk.%s", idem);
		notify_email_message(sk->conf->from, rcpt, customer ? contact : NULL, subject.p, text.p, now,
		                     msgid, &body);
		buf_free(&text);
		buf_free(&subject);
		struct smtp_mail m = {
		    .url = sk->conf->smtp,
		    .from = sk->conf->from,
		    .rcpt = rcpt,
		    .payload = body.p,
		    .payload_len = body.len,
		    .username = sk->conf->username,
		    .password = sk->password,
		};
		s->call = http_smtp_send(nt->env.loop->http, &m, sent_cb, s);
	} else {
		notify_render((enum notify_format)sk->format, items, n, now, tz, &body);
		char idem_header[96];
		snprintf(idem_header, sizeof(idem_header), "Idempotency-Key: %s", idem);
		const char *headers[] = {idem_header, NULL};
		struct http_request req = {
		    .method = "POST",
		    .url = sk->url,
		    .headers = headers,
		    .content_type = "application/json",
		    .body = body.p,
		    .body_len = body.len,
		};
		s->call = http_start(nt->env.loop->http, &req, sent_cb, s);
	}
	buf_free(&body);
	return s->call ? 0 : -1;
}

static int sink_send(struct connector *c, const struct outmsg *m)
{
	struct sink *sk = (struct sink *)c;
	struct notify_item *items = xmalloc(sizeof(*items));
	size_t n = 1;

	if (sk->disabled) {
		/* Kept pending (the pause holds the whole sink): a restart with a
		 * readable secret delivers it. */
		connector_send_done(c, m->id, SEND_RETRY, 3600,
		                    "notification target disabled: its secret is unreadable");
		free(items);
		return 0;
	}
	if (notify_event_parse(m->text, &items[0]) < 0) {
		log_error("notification row is not an event", "sink=%s outbox=%lld", c->name,
		          (long long)m->id);
		connector_send_done(c, m->id, SEND_FAIL, 0, "not a notification event");
		free(items);
		return 0;
	}
	/* A row whose digest is already on its way joins it. */
	if (items[0].digest > 0) {
		for (struct send *s = sk->inflight; s; s = s->next) {
			if (s->digest == items[0].digest) {
				send_add(s, m->id);
				notify_item_free(&items[0]);
				free(items);
				return 0;
			}
		}
	}
	struct send *s = xcalloc(1, sizeof(*s));
	s->sk = sk;
	s->digest = items[0].digest;
	send_add(s, m->id);
	if (s->digest > 0) {
		/* In flight from now on, so rows sent meanwhile join it. */
		struct gather *g = xcalloc(1, sizeof(*g));
		g->sk = sk;
		g->s = s;
		g->items = items;
		g->n = n;
		g->idem = xstrdup(m->idem_key ? m->idem_key : "notify");
		s->next = sk->inflight;
		sk->inflight = s;
		store_outbox_pending(sk->n->env.store, digest_rows, g);
		return 0;
	}
	int rc = deliver(sk, s, items, n, m->idem_key ? m->idem_key : "notify");
	for (size_t i = 0; i < n; i++)
		notify_item_free(&items[i]);
	free(items);
	if (rc < 0) {
		send_free(s);
		return -1;
	}
	s->next = sk->inflight;
	sk->inflight = s;
	return 0;
}

static int sink_start(struct connector *c)
{
	(void)c;
	return 0;
}

static void sink_stop(struct connector *c)
{
	(void)c;
}

static int sink_idle(struct connector *c)
{
	return ((struct sink *)c)->inflight == NULL;
}

static const struct connector_ops sink_ops = {
    .type = "notify",
    .max_text = 0,
    .start = sink_start,
    .stop = sink_stop,
    .send = sink_send,
    .idle = sink_idle,
    .destroy = NULL, /* the notifier frees its sinks */
    .post_done = NULL,
};

/* Read the entry's secrets; -1 (logged, without the secret) disables it. */
static int sink_secrets(struct sink *sk)
{
	const struct notify_conf *nc = sk->conf;
	char secret[CONFIG_SECRET_MAX + 1], err[256];

	if (sk->format != NOTIFY_EMAIL) {
		if (nc->url) {
			sk->url = xstrdup(nc->url);
		} else if (config_read_secret(nc->url_env, nc->url_file, secret, sizeof(secret), err,
		                              sizeof(err)) == 0) {
			sk->url = xstrdup(secret);
		} else {
			log_error("notification target disabled", "sink=%s line=%d reason=\"%s\"", sk->c.name,
			          nc->line, err);
			explicit_bzero(secret, sizeof(secret));
			return -1;
		}
	} else if (nc->password_env || nc->password_file) {
		if (config_read_secret(nc->password_env, nc->password_file, secret, sizeof(secret), err,
		                       sizeof(err)) < 0) {
			log_error("notification target disabled", "sink=%s line=%d reason=\"%s\"", sk->c.name,
			          nc->line, err);
			explicit_bzero(secret, sizeof(secret));
			return -1;
		}
		sk->password = xstrdup(secret);
	}
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

struct notifier *notify_new(const struct notify_env *env)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	const struct config *cfg = env->cfg;

	n->env = *env;
	n->nsinks = cfg ? cfg->nnotify : 0;
	n->sinks = n->nsinks ? xcalloc(n->nsinks, sizeof(*n->sinks)) : NULL;
	if (env->metrics)
		n->m_sent = metrics_counter(
		    env->metrics, "notifications_total",
		    "Notification messages by target and outcome (sent, retry, failed).", "sink,result");
	for (size_t i = 0; i < n->nsinks; i++) {
		struct sink *sk = &n->sinks[i];
		const struct notify_conf *nc = &cfg->notify[i];
		sk->n = n;
		sk->conf = nc;
		sk->c.ops = &sink_ops;
		sk->c.name = xasprintf("notify-%zu", i + 1);
		sk->c.health = HEALTH_OK;
		sk->c.priv = sk;
		if (nc->type && !strcmp(nc->type, "email")) {
			sk->format = NOTIFY_EMAIL;
		} else {
			sk->format = notify_format_parse(nc->format);
			if (sk->format < 0)
				sk->format = NOTIFY_JSON;
		}
		if (sink_secrets(sk) < 0) {
			sk->disabled = 1;
			sk->c.health = HEALTH_DOWN;
			snprintf(sk->c.health_detail, sizeof(sk->c.health_detail), "secret unreadable");
		}
	}
	return n;
}

int notify_idle(const struct notifier *n)
{
	for (size_t i = 0; n && i < n->nsinks; i++)
		if (n->sinks[i].inflight)
			return 0;
	return 1;
}

void notify_free(struct notifier *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nsinks; i++) {
		struct sink *sk = &n->sinks[i];
		while (sk->inflight) {
			struct send *s = sk->inflight;
			sk->inflight = s->next;
			if (s->call)
				http_cancel(s->call);
			send_free(s);
		}
		if (sk->url) {
			explicit_bzero(sk->url, strlen(sk->url));
			free(sk->url);
		}
		if (sk->password) {
			explicit_bzero(sk->password, strlen(sk->password));
			free(sk->password);
		}
		free(sk->c.name);
	}
	free(n->sinks);
	free(n);
}

size_t notify_sink_count(const struct notifier *n)
{
	return n ? n->nsinks : 0;
}

struct connector *notify_sink(struct notifier *n, size_t i)
{
	return n && i < n->nsinks ? &n->sinks[i].c : NULL;
}

struct connector *notify_find(struct notifier *n, const char *name)
{
	for (size_t i = 0; n && name && i < n->nsinks; i++)
		if (!strcmp(n->sinks[i].c.name, name))
			return &n->sinks[i].c;
	return NULL;
}

/* ---- queueing events -------------------------------------------------------------------- */

/* One notify_ticket call waiting for the ticket's read. */
struct announce {
	struct notifier *n;
	enum notify_event ev;
	int64_t id;
	char *text;
	time_t now;
	int queued; /* -1 on a store error */
	int answered;
	int abandoned; /* notify_ticket returned before the store answered */
};

static void notify_row(void *arg, int rc, const struct store_out *row)
{
	struct announce *a = arg;
	if (rc < 0) {
		a->queued = -1;
		return;
	}
	if (rc == 0) {
		a->queued++;
		if (a->n->env.queued)
			a->n->env.queued(a->n->env.arg, row);
	}
	a->answered = rc; /* 1: queued before (see announce_ticket) */
}

/* The ticket as the store's read model has it: queue its notifications. */
static void announce_ticket(void *arg, int rc, const struct store_ticket *v, size_t nv)
{
	struct announce *a = arg;
	struct notifier *n = a->n;
	int queued = 0;

	if (rc < 0 || nv != 1) {
		if (rc < 0)
			log_error("notification: cannot read the ticket", "ticket=%lld", (long long)a->id);
		a->queued = rc < 0 ? -1 : 0;
		goto out;
	}
	struct notify_ticket t = {
	    .id = a->id,
	    .status = v[0].status,
	    .priority = priority_parse(v[0].priority),
	    .reason = v[0].reason,
	    .platform = v[0].platform,
	    .author = v[0].author,
	    .assignee = v[0].assignee,
	    .created = v[0].created,
	    .due = v[0].due,
	    .text = a->text ? a->text : v[0].latest.text,
	};
	int64_t msg = v[0].latest.id;
	if (t.priority == PRIO_NONE)
		t.priority = PRIO_NORMAL;
	for (size_t i = 0; i < n->nsinks && a->queued >= 0; i++) {
		struct sink *sk = &n->sinks[i];
		time_t digest = 0;
		if (sk->disabled || t.priority > sk->conf->min_priority)
			continue;
		if (sk->conf->agent && t.assignee && strcmp(sk->conf->agent, t.assignee) != 0)
			continue;
		/*
		 * The key names what is announced (sink, event, ticket, and for
		 * a customer's message the message), so the same event is never
		 * queued twice for a sink; the outbox keeps it across retries,
		 * and it becomes the e-mail Message-ID and the webhook
		 * Idempotency-Key.
		 */
		char idem[40], key[160];
		int klen = snprintf(key, sizeof(key), "%s/%s/%lld/%lld", sk->c.name, notify_event_name(a->ev),
		                    (long long)a->id, a->ev == NOTIFY_CUSTOMER_WROTE ? (long long)msg : 0LL);
		snprintf(idem, sizeof(idem), "fdn%016llx",
		         (unsigned long long)hash64(key, klen > 0 ? (size_t)klen : 0));
		struct notify_window saved = sk->win;
		if (a->ev == NOTIFY_NEW_TICKET && notify_window_admit(&sk->win, a->now, &digest) == 0)
			digest = 0;
		struct buf payload;
		buf_init(&payload, 0);
		if (notify_event_json(a->ev, &t, a->now, digest, &payload) < 0) {
			buf_free(&payload);
			continue;
		}
		int before = a->queued;
		a->answered = 0;
		store_outbox_notify(n->env.store, sk->c.name, payload.p, idem, (int64_t)digest * 1000, a->now,
		                    notify_row, a);
		buf_free(&payload);
		if (a->queued == before && a->answered == 1)
			sk->win = saved; /* queued before: not a new one for the digest either */
	}
	queued = a->queued;
	if (queued > 0)
		log_info("notification queued", "event=%s ticket=%lld sinks=%d", notify_event_name(a->ev),
		         (long long)a->id, queued);
out:
	if (a->abandoned) {
		free(a->text);
		free(a);
	} else {
		a->answered = 2;
	}
}

int notify_ticket(struct notifier *n, enum notify_event ev, int64_t id, const char *text, time_t now)
{
	if (!n || n->nsinks == 0)
		return 0;
	struct announce *a = xcalloc(1, sizeof(*a));
	a->n = n;
	a->ev = ev;
	a->id = id;
	a->text = text ? xstrdup(text) : NULL;
	a->now = now;
	struct store_ticket_query q = {.id = id};
	store_tickets(n->env.store, &q, announce_ticket, a);
	if (a->answered != 2) {
		a->abandoned = 1; /* announce_ticket frees it */
		return 0;
	}
	int rc = a->queued;
	free(a->text);
	free(a);
	return rc;
}

int notify_post_recorded(struct notifier *n, const struct store_thread *before, const struct decision *d,
                         const struct store_recorded *rec, time_t now)
{
	if (!n || !rec || rec->ticket_id <= 0)
		return 0;
	if (before->ticket_id == 0 && d->open_ticket)
		return notify_ticket(n, NOTIFY_NEW_TICKET, rec->ticket_id, NULL, now);
	if (before->owner == THREAD_CLAIMED && before->ticket_id == rec->ticket_id)
		return notify_ticket(n, NOTIFY_CUSTOMER_WROTE, rec->ticket_id, NULL, now);
	return 0;
}

int notify_customer_reply(struct notifier *n, const struct connector_mail *m, time_t now)
{
	struct sink *sk = NULL;
	for (size_t i = 0; n && i < n->nsinks && !sk; i++)
		if (n->sinks[i].format == NOTIFY_EMAIL && !n->sinks[i].disabled)
			sk = &n->sinks[i];
	if (!sk) {
		static int told;
		if (!told++)
			log_warn("a reply is not mailed to a web chat visitor who left an address: no e-mail "
			         "entry in notify to send it with",
			         "message=%lld", (long long)m->message_id);
		return 0;
	}
	const struct config *cfg = n->env.cfg;
	struct buf payload;
	buf_init(&payload, 0);
	if (notify_reply_json(m, cfg ? cfg->business_name : NULL, now, &payload) < 0) {
		buf_free(&payload);
		log_error("a reply too long to mail", "message=%lld", (long long)m->message_id);
		return -1;
	}
	/* One e-mail per agent message, however often delivery runs. */
	char idem[40], key[96];
	int klen = snprintf(key, sizeof(key), "%s/customer_reply/%lld", sk->c.name, (long long)m->message_id);
	snprintf(idem, sizeof(idem), "fdr%016llx",
	         (unsigned long long)hash64(key, klen > 0 ? (size_t)klen : 0));
	struct announce a = {.n = n};
	store_outbox_notify(n->env.store, sk->c.name, payload.p, idem, 0, now, notify_row, &a);
	buf_free(&payload);
	if (a.queued > 0)
		log_info("reply queued by e-mail to the customer", "sink=%s message=%lld", sk->c.name,
		         (long long)m->message_id);
	return a.queued;
}
