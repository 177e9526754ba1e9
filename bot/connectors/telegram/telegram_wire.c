/*
 * telegram_wire.c - the Telegram Bot API's wire formats (see telegram_wire.h).
 */
#include "connectors/telegram/telegram_wire.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connector.h"
#include "outbox.h"
#include "post.h"
#include "util.h"

#define MAX_ID (((int64_t)1 << 53) - 1) /* ids have at most 52 bits; JSON numbers stay exact below 2^53 */

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An integer member within +-MAX_ID, else 0. */
static int64_t get_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return 0;
	json_int_t x = json_integer_value(v);
	return x >= -MAX_ID && x <= MAX_ID ? (int64_t)x : 0;
}

static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

static void copy_cut(char *out, size_t n, const char *s)
{
	snprintf(out, n, "%s", s ? s : "");
	cut_utf8(out, n - 1);
}

/* --- the envelope --------------------------------------------------------------------- */

/* The parsed answer when it is {"ok": true|false, ...}, else NULL. */
static json_t *envelope(const char *body, size_t len)
{
	if (!body || !len)
		return NULL;
	json_t *o = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(o) || !json_is_boolean(json_object_get(o, "ok"))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int tg_parse_error(const char *body, size_t len, struct tg_error *e)
{
	memset(e, 0, sizeof(*e));
	json_t *o = envelope(body, len);
	if (!o || !json_is_false(json_object_get(o, "ok"))) {
		json_decref(o);
		return -1;
	}
	int64_t code = get_int(o, "error_code");
	e->code = code > 0 && code < 1000 ? (int)code : 0;
	copy_cut(e->description, sizeof(e->description), get_str(o, "description"));
	json_t *p = json_object_get(o, "parameters");
	int64_t ra = get_int(p, "retry_after");
	e->retry_after = ra > 0 && ra <= 86400 ? (long)ra : 0;
	e->migrate_to = get_int(p, "migrate_to_chat_id");
	json_decref(o);
	return 0;
}

static int has(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

enum tg_refusal tg_refusal(long status, const struct tg_error *e)
{
	const char *d = e ? e->description : "";
	long code = e && e->code ? e->code : status;
	if (code == 429)
		return TG_REFUSED_LIMIT;
	if (code == 401)
		return TG_REFUSED_TOKEN;
	if (code == 400 && e && e->migrate_to)
		return TG_REFUSED_MIGRATED;
	if (code == 400 && (has(d, "message to be replied not found") ||
	                    has(d, "replied message not found") || has(d, "REPLY_MESSAGE_ID_INVALID")))
		return TG_REFUSED_NO_REPLY;
	if (code == 400 &&
	    (has(d, "message thread not found") || has(d, "TOPIC_DELETED") || has(d, "TOPIC_CLOSED")))
		return TG_REFUSED_NO_TOPIC;
	if (code >= 500 || code == 409 || code == 408 || code == 0)
		return TG_REFUSED_RETRY;
	/* 403 blocked / can't initiate / kicked, 400 chat not found, too
	 * long, can't parse ...: the same request will never work. */
	return TG_REFUSED_FINAL;
}

/* --- getMe, connections -------------------------------------------------------------------- */

static void display_name(json_t *user, char *out, size_t n)
{
	const char *first = get_str(user, "first_name"), *last = get_str(user, "last_name");
	if (first && last && *last)
		snprintf(out, n, "%s %s", first, last);
	else
		snprintf(out, n, "%s", first ? first : "");
	cut_utf8(out, n - 1);
}

int tg_parse_me(const char *body, size_t len, struct tg_me *me, char *err, size_t errn)
{
	memset(me, 0, sizeof(*me));
	json_t *o = envelope(body, len);
	json_t *r = json_object_get(o, "result");
	const char *user = get_str(r, "username");
	int rc = -1;
	if (!o || !json_is_true(json_object_get(o, "ok")))
		snprintf(err, errn, "not a successful answer");
	else if (!json_is_object(r) || get_int(r, "id") <= 0)
		snprintf(err, errn, "no bot id in the answer");
	else if (!json_is_true(json_object_get(r, "is_bot")))
		snprintf(err, errn, "the token belongs to a user, not a bot");
	else if (!user || !*user || strlen(user) > TG_MAX_NAME)
		snprintf(err, errn, "no username in the answer");
	else {
		me->id = get_int(r, "id");
		snprintf(me->username, sizeof(me->username), "%s", user);
		display_name(r, me->name, sizeof(me->name));
		me->can_connect_to_business = json_is_true(json_object_get(r, "can_connect_to_business"));
		rc = 0;
	}
	json_decref(o);
	return rc;
}

int tg_conn_ok(const char *s)
{
	return connector_id_ok(s, TG_MAX_CONN);
}

static int parse_connection(json_t *o, struct tg_connection *c)
{
	const char *id = get_str(o, "id");
	json_t *user = json_object_get(o, "user"), *rights = json_object_get(o, "rights");
	memset(c, 0, sizeof(*c));
	if (!tg_conn_ok(id) || get_int(user, "id") <= 0)
		return -1;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->user_id = get_int(user, "id");
	c->user_chat_id = get_int(o, "user_chat_id");
	display_name(user, c->name, sizeof(c->name));
	c->enabled = json_is_true(json_object_get(o, "is_enabled"));
	/* can_reply (before Bot API 9.0) or rights.can_reply. */
	c->can_reply = json_is_true(json_object_get(o, "can_reply")) ||
	               json_is_true(json_object_get(rights, "can_reply"));
	return 0;
}

/* --- messages ------------------------------------------------------------------------------------ */

static int word_char(unsigned char c)
{
	return isalnum(c) || c == '_';
}

/*
 * Take every "@username" (any case, as a whole word) out of text in place;
 * 1 when there was one.
 */
static int drop_mention(char *text, const char *username)
{
	size_t ul = strlen(username), w = 0;
	int found = 0;
	for (size_t i = 0; text[i];) {
		if (text[i] == '@' && (i == 0 || !word_char((unsigned char)text[i - 1])) &&
		    strncasecmp(text + i + 1, username, ul) == 0 &&
		    !word_char((unsigned char)text[i + 1 + ul])) {
			found = 1;
			i += 1 + ul;
			/* "@bot, when ..." and "@bot: when ...": the punctuation goes too. */
			if (text[i] == ',' || text[i] == ':')
				i++;
			continue;
		}
		text[w++] = text[i++];
	}
	text[w] = '\0';
	return found;
}

/* Trim white space at both ends in place. */
static void trim(char *s)
{
	size_t n = strlen(s), a = 0;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0';
	while (s[a] && isspace((unsigned char)s[a]))
		a++;
	memmove(s, s + a, n - a + 1);
}

/*
 * A command at the start of text ("/help", "/help@bot rest"): 1 when it is
 * one for this bot (no @name, or @username), 0 when it is none, -1 when
 * it names another bot.  For the bot's own, text becomes what the customer
 * said: the command's words, then the rest ("/start" alone: "hello").
 */
static int take_command(char *text, const char *username)
{
	if (text[0] != '/' || !word_char((unsigned char)text[1]))
		return 0;
	size_t i = 1;
	while (word_char((unsigned char)text[i]))
		i++;
	size_t cmd_end = i;
	if (text[i] == '@') {
		size_t j = i + 1, ul = strlen(username);
		while (word_char((unsigned char)text[j]))
			j++;
		if (j - i - 1 != ul || strncasecmp(text + i + 1, username, ul) != 0)
			return -1;
		i = j;
	}
	if (text[i] && !isspace((unsigned char)text[i]))
		return 0; /* "/path/to" is no command */
	char cmd[64];
	size_t cl = cmd_end - 1 < sizeof(cmd) - 1 ? cmd_end - 1 : sizeof(cmd) - 1;
	memcpy(cmd, text + 1, cl);
	cmd[cl] = '\0';
	for (char *p = cmd; *p; p++)
		if (*p == '_')
			*p = ' ';
	char *rest = text + i;
	while (*rest && isspace((unsigned char)*rest))
		rest++;
	struct buf b;
	buf_init(&b, 0);
	if (strcasecmp(cmd, "start") == 0)
		buf_puts(&b, *rest ? rest : "hello"); /* a deep link's payload, or a first hello */
	else if (*rest)
		buf_printf(&b, "%s %s", cmd, rest);
	else
		buf_puts(&b, cmd);
	snprintf(text, strlen(text) + 1, "%s", b.p ? b.p : "");
	buf_free(&b);
	return 1;
}

/* What a message without words shows: "(photo)", or NULL to skip it. */
static const char *media_word(json_t *m)
{
	static const struct {
		const char *key, *word;
	} kinds[] = {
	    {"photo", "(photo)"},         {"video", "(video)"},
	    {"voice", "(voice message)"}, {"video_note", "(video message)"},
	    {"audio", "(audio)"},         {"document", "(file)"},
	    {"location", "(location)"},   {"venue", "(location)"},
	    {"contact", "(contact)"},
	};
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (json_object_get(m, kinds[i].key))
			return kinds[i].word;
	return NULL;
}

/* Service messages: someone joined, left, a title changed ... */
static int is_service(json_t *m)
{
	static const char *const keys[] = {"new_chat_members",
	                                   "left_chat_member",
	                                   "new_chat_title",
	                                   "new_chat_photo",
	                                   "delete_chat_photo",
	                                   "group_chat_created",
	                                   "supergroup_chat_created",
	                                   "channel_chat_created",
	                                   "migrate_from_chat_id",
	                                   "pinned_message",
	                                   "forum_topic_created",
	                                   "forum_topic_edited",
	                                   "forum_topic_closed",
	                                   "forum_topic_reopened",
	                                   "message_auto_delete_timer_changed",
	                                   "video_chat_started",
	                                   "video_chat_ended",
	                                   "users_shared",
	                                   "chat_shared",
	                                   "write_access_allowed",
	                                   "boost_added"};
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (json_object_get(m, keys[i]))
			return 1;
	return 0;
}

static char chat_type(const char *t)
{
	if (!t)
		return 0;
	if (strcmp(t, "private") == 0)
		return 'p';
	if (strcmp(t, "group") == 0)
		return 'g';
	if (strcmp(t, "supergroup") == 0)
		return 's';
	if (strcmp(t, "channel") == 0)
		return 'c';
	return 0;
}

static enum tg_kind skip(struct tg_update *u, const char *why)
{
	u->why = why;
	return u->kind = TG_SKIP;
}

static enum tg_kind bad(struct tg_update *u, const char *why)
{
	u->why = why;
	return u->kind = TG_BAD;
}

/* One Message object: business = it came as a business_message. */
static enum tg_kind parse_message(json_t *m, int business, const struct tg_me *me, struct tg_update *u)
{
	json_t *chat = json_object_get(m, "chat"), *from = json_object_get(m, "from");
	u->chat_id = get_int(chat, "id");
	u->chat_type = chat_type(get_str(chat, "type"));
	u->message_id = get_int(m, "message_id");
	if (!json_is_object(m) || !u->chat_id || u->message_id <= 0 || !u->chat_type)
		return bad(u, "message without chat or id");
	int64_t date = get_int(m, "date");
	u->date = date > 0 ? (time_t)date : 0;
	if (json_is_true(json_object_get(m, "is_topic_message")))
		u->topic = get_int(m, "message_thread_id") > 0 ? get_int(m, "message_thread_id") : 0;
	if (business) {
		const char *conn = get_str(m, "business_connection_id");
		if (!tg_conn_ok(conn))
			return bad(u, "business message without a usable connection id");
		snprintf(u->conn, sizeof(u->conn), "%s", conn);
		u->topic = 0;
	}
	int64_t migrate = get_int(m, "migrate_to_chat_id");
	if (migrate) {
		u->migrate_to = migrate;
		u->why = "migrated";
		return u->kind = TG_MIGRATE;
	}
	if (u->chat_type == 'c')
		return skip(u, "channel");
	if (is_service(m))
		return skip(u, "service");
	if (json_object_get(m, "sender_chat"))
		return skip(u, "sender_chat"); /* an anonymous admin, a linked channel */
	if (json_is_true(json_object_get(m, "is_automatic_forward")))
		return skip(u, "forward");
	if (!json_is_object(from) || get_int(from, "id") <= 0)
		return skip(u, "no_sender");
	u->from_id = get_int(from, "id");
	if (business && json_object_get(m, "sender_business_bot"))
		return skip(u, "business_bot"); /* sent for the owner by a bot (us, or another) */
	if (json_is_true(json_object_get(from, "is_bot")))
		return skip(u, u->from_id == me->id ? "self" : "bot");

	const char *user = get_str(from, "username");
	if (user && *user && strlen(user) <= TG_MAX_NAME)
		snprintf(u->handle, sizeof(u->handle), "@%s", user);
	else
		snprintf(u->handle, sizeof(u->handle), "%" PRId64, u->from_id);
	display_name(from, u->name, sizeof(u->name));

	const char *text = get_str(m, "text");
	if (!text)
		text = get_str(m, "caption");
	const char *media = text && *text ? NULL : media_word(m);
	if ((!text || !*text) && !media)
		return skip(u, "no_text"); /* a sticker, a poll, a game ... */
	u->text = xstrdup(media ? media : text);
	cut_utf8(u->text, POST_MAX_TEXT);

	if (business) {
		/* In a Business chat the chat is the customer's: anyone else
		 * writing in it is the owner (or their staff). */
		if (u->from_id != u->chat_id) {
			u->why = "staff";
			return u->kind = TG_STAFF;
		}
		u->why = "business";
		return u->kind = TG_POST;
	}
	if (u->chat_type == 'p') {
		if (!media && take_command(u->text, me->username) < 0)
			return skip(u, "other_bot");
		trim(u->text);
		if (!*u->text)
			return skip(u, "no_text");
		u->why = "private";
		return u->kind = TG_POST;
	}
	/* A group: only what addresses the bot. */
	json_t *re = json_object_get(json_object_get(m, "reply_to_message"), "from");
	int addressed = me->id && get_int(re, "id") == me->id;
	if (!media) {
		int cmd = take_command(u->text, me->username);
		if (cmd < 0)
			return skip(u, "other_bot");
		addressed |= cmd > 0;
		addressed |= me->username[0] && drop_mention(u->text, me->username);
	}
	if (!addressed)
		return skip(u, "not_addressed");
	trim(u->text);
	if (!*u->text)
		return skip(u, "no_text");
	u->why = "group";
	return u->kind = TG_POST;
}

static enum tg_kind parse_update_object(json_t *o, const struct tg_me *me, struct tg_update *u)
{
	int64_t id = get_int(o, "update_id");
	json_t *v;
	u->update_id = id > 0 ? id : 0;
	if (id <= 0)
		return bad(u, "no update_id");
	if ((v = json_object_get(o, "message")))
		return parse_message(v, 0, me, u);
	if ((v = json_object_get(o, "business_message")))
		return parse_message(v, 1, me, u);
	if ((v = json_object_get(o, "business_connection"))) {
		if (parse_connection(v, &u->connection) < 0)
			return bad(u, "business connection without id or owner");
		u->why = "connection";
		return u->kind = TG_CONNECTION;
	}
	if (json_object_get(o, "edited_message") || json_object_get(o, "edited_business_message"))
		return skip(u, "edited");
	if (json_object_get(o, "channel_post") || json_object_get(o, "edited_channel_post"))
		return skip(u, "channel");
	return skip(u, "other");
}

enum tg_kind tg_parse_update(const char *json, size_t len, const struct tg_me *me, struct tg_update *u)
{
	json_t *o = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
	enum tg_kind k;
	memset(u, 0, sizeof(*u));
	k = json_is_object(o) ? parse_update_object(o, me, u) : bad(u, "not an object");
	json_decref(o);
	return k;
}

void tg_update_free(struct tg_update *u)
{
	if (u) {
		free(u->text);
		u->text = NULL;
	}
}

long tg_parse_updates(const char *body, size_t len, const struct tg_me *me, struct tg_update **out,
                      int64_t *max_id, char *err, size_t errn)
{
	*out = NULL;
	*max_id = 0;
	json_t *o = envelope(body, len);
	json_t *r = json_object_get(o, "result");
	if (!o || !json_is_true(json_object_get(o, "ok")) || !json_is_array(r)) {
		snprintf(err, errn, "not a successful answer with a list of updates");
		json_decref(o);
		return -1;
	}
	size_t n = json_array_size(r);
	if (n > TG_MAX_UPDATES)
		n = TG_MAX_UPDATES;
	struct tg_update *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		parse_update_object(json_array_get(r, i), me, &v[i]);
		if (v[i].update_id > *max_id)
			*max_id = v[i].update_id;
	}
	json_decref(o);
	*out = v;
	return (long)n;
}

int tg_parse_sent(const char *body, size_t len, int64_t *message_id, int64_t *chat_id)
{
	json_t *o = envelope(body, len);
	json_t *r = json_object_get(o, "result");
	*message_id = get_int(r, "message_id");
	*chat_id = get_int(json_object_get(r, "chat"), "id");
	int ok = o && json_is_true(json_object_get(o, "ok")) && *message_id > 0;
	json_decref(o);
	return ok ? 0 : -1;
}

/* --- requests ------------------------------------------------------------------------------- */

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

char *tg_updates_json(int64_t offset, int limit, int timeout)
{
	json_t *o = json_object();
	if (offset > 0)
		json_object_set_new(o, "offset", json_integer((json_int_t)offset));
	json_object_set_new(o, "limit", json_integer(limit));
	json_object_set_new(o, "timeout", json_integer(timeout));
	json_object_set_new(o, "allowed_updates", json_loads(TG_ALLOWED, 0, NULL));
	return dump(o);
}

char *tg_send_json(const struct tg_send *s)
{
	json_t *text = json_string(s->text ? s->text : "");
	if (!text)
		return NULL; /* not UTF-8 */
	json_t *o = json_object();
	json_object_set_new(o, "chat_id", json_integer((json_int_t)s->chat_id));
	json_object_set_new(o, "text", text);
	if (s->topic)
		json_object_set_new(o, "message_thread_id", json_integer((json_int_t)s->topic));
	if (s->conn && *s->conn)
		json_object_set_new(o, "business_connection_id", json_string(s->conn));
	if (s->reply_to > 0) {
		json_t *rp = json_object();
		json_object_set_new(rp, "message_id", json_integer((json_int_t)s->reply_to));
		if (s->reply_chat && s->reply_chat != s->chat_id)
			json_object_set_new(rp, "chat_id", json_integer((json_int_t)s->reply_chat));
		else
			json_object_set_new(rp, "allow_sending_without_reply", json_true());
		json_object_set_new(o, "reply_parameters", rp);
	}
	/* Links stay text: a preview would fetch whatever a customer's words
	 * name, and show it as the business's. */
	json_object_set_new(o, "link_preview_options", json_pack("{s:b}", "is_disabled", 1));
	return dump(o);
}

char *tg_probe_json(int64_t chat_id, int64_t message_id, const char *conn)
{
	json_t *o = json_object();
	json_object_set_new(o, "chat_id", json_integer((json_int_t)chat_id));
	json_object_set_new(o, "message_id", json_integer((json_int_t)message_id));
	if (conn && *conn)
		json_object_set_new(o, "business_connection_id", json_string(conn));
	return dump(o);
}

enum tg_probe tg_probe_result(long status, const char *body, size_t len)
{
	struct tg_error e;
	json_t *o = envelope(body, len);
	int ok = o && json_is_true(json_object_get(o, "ok"));
	json_decref(o);
	if (ok)
		return TG_PROBE_OURS; /* it had markup, and it was ours to edit */
	if (tg_parse_error(body, len, &e) < 0 || status != 400)
		return TG_PROBE_RETRY;
	if (has(e.description, "message is not modified"))
		return TG_PROBE_OURS;
	return TG_PROBE_NOT_OURS; /* not found, can't be edited, invalid id */
}

/* --- texts and keys --------------------------------------------------------------------------- */

/* One character at p: its bytes, and in *units what Telegram counts for it
 * (UTF-16 code units; an invalid byte is one byte and one unit). */
static size_t char_step(const unsigned char *p, size_t *units)
{
	int len = *p < 0x80             ? 1
	          : (*p & 0xE0) == 0xC0 ? 2
	          : (*p & 0xF0) == 0xE0 ? 3
	          : (*p & 0xF8) == 0xF0 ? 4
	                                : 0;
	int k = 1;
	while (len > 1 && k < len && (p[k] & 0xC0) == 0x80)
		k++;
	if (len == 0 || k < len) {
		*units = 1;
		return 1;
	}
	*units = len == 4 ? 2 : 1;
	return (size_t)len;
}

size_t tg_text_len(const char *s)
{
	size_t n = 0, u;
	for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
		p += char_step(p, &u);
		n += u;
	}
	return n;
}

/* Cut s after the last whole character within max units (in place). */
static void cut_to_units(char *s, size_t max)
{
	size_t n = 0, u;
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		size_t b = char_step(p, &u);
		if (n + u > max)
			break;
		n += u;
		p += b;
	}
	*p = '\0';
}

size_t tg_split(const char *text, size_t max, char **parts, size_t max_parts)
{
	/* Characters beyond U+FFFF count two; a grapheme cluster longer than
	 * the limit is cut at a code point. */
	return outbox_split_units(text, max ? max : TG_MAX_TEXT, tg_text_len, cut_to_units, parts, max_parts);
}

int tg_thread_key(char *out, size_t n, int64_t chat, int64_t topic, const char *conn)
{
	int k;
	if (conn && *conn)
		k = snprintf(out, n, "b/%s/%" PRId64, conn, chat);
	else if (topic)
		k = snprintf(out, n, "%" PRId64 "/%" PRId64, chat, topic);
	else
		k = snprintf(out, n, "%" PRId64, chat);
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* A decimal int64 at s (optional '-'), its end in *end; 0 or -1. */
static int num(const char *s, int64_t *v, const char **end)
{
	const char *p = s;
	int neg = *p == '-';
	if (neg)
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	int64_t x = 0;
	for (; isdigit((unsigned char)*p); p++) {
		if (x > MAX_ID / 10)
			return -1;
		x = x * 10 + (*p - '0');
	}
	if (x > MAX_ID)
		return -1;
	*v = neg ? -x : x;
	*end = p;
	return 0;
}

/* "b/<conn>/" at the start of key: conn copied, *rest after it; 1, 0 when
 * none, -1 when malformed. */
static int conn_prefix(const char *key, char *conn, size_t connn, const char **rest)
{
	if (strncmp(key, "b/", 2) != 0) {
		if (connn)
			conn[0] = '\0';
		*rest = key;
		return 0;
	}
	const char *slash = strchr(key + 2, '/');
	size_t l = slash ? (size_t)(slash - key - 2) : 0;
	if (!slash || !l || l > TG_MAX_CONN || l >= connn)
		return -1;
	memcpy(conn, key + 2, l);
	conn[l] = '\0';
	if (!tg_conn_ok(conn))
		return -1;
	*rest = slash + 1;
	return 1;
}

int tg_thread_parse(const char *key, int64_t *chat, int64_t *topic, char *conn, size_t connn)
{
	const char *p, *end;
	*chat = *topic = 0;
	int b = key ? conn_prefix(key, conn, connn, &p) : -1;
	if (b < 0 || num(p, chat, &end) < 0 || !*chat)
		return -1;
	if (!b && *end == '/') {
		if (num(end + 1, topic, &end) < 0 || *topic <= 0)
			return -1;
	}
	return *end ? -1 : 0;
}

int tg_post_key(char *out, size_t n, int64_t chat, int64_t message, const char *conn)
{
	int k = conn && *conn ? snprintf(out, n, "b/%s/%" PRId64 ":%" PRId64, conn, chat, message)
	                      : snprintf(out, n, "%" PRId64 ":%" PRId64, chat, message);
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

int tg_post_parse(const char *key, int64_t *chat, int64_t *message, char *conn, size_t connn)
{
	const char *p, *end;
	*chat = *message = 0;
	if (!key || conn_prefix(key, conn, connn, &p) < 0 || num(p, chat, &end) < 0 || !*chat || *end != ':')
		return -1;
	if (num(end + 1, message, &end) < 0 || *message <= 0 || *end)
		return -1;
	return 0;
}

int tg_chat_own_numbering(int64_t chat_id)
{
	return chat_id <= -1000000000000LL;
}
