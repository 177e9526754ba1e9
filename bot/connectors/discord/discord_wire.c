/*
 * discord_wire.c - Discord's gateway frames and REST payloads (see
 * discord_wire.h).  JSON is read and written with jansson only.
 */
#include "connectors/discord/discord_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markup.h"
#include "outbox.h"
#include "post.h"
#include "url.h"
#include "util.h"

#define MAX_CHANNELS    4096 /* channels and threads kept from one GUILD_CREATE */
#define MAX_ATTACHMENTS 4    /* attachment names added to a post's text */

/* --- snowflakes ------------------------------------------------------------------ */

int discord_id_ok(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++)
		if (n >= DISCORD_MAX_ID || s[n] < '0' || s[n] > '9')
			return 0;
	if (n == 0 || (n > 1 && s[0] == '0'))
		return 0;
	/* 20 digits: at most 18446744073709551615 */
	return n < DISCORD_MAX_ID || strcmp(s, "18446744073709551615") <= 0;
}

int discord_id_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

void discord_id_at(int64_t epoch_ms, char out[DISCORD_MAX_ID + 1])
{
	uint64_t v = epoch_ms > DISCORD_EPOCH_MS ? (uint64_t)(epoch_ms - DISCORD_EPOCH_MS) << 22 : 0;
	snprintf(out, DISCORD_MAX_ID + 1, "%llu", (unsigned long long)v);
}

int64_t discord_id_ms(const char *id)
{
	if (!discord_id_ok(id))
		return 0;
	unsigned long long v = strtoull(id, NULL, 10);
	return (int64_t)(v >> 22) + DISCORD_EPOCH_MS;
}

/* --- small JSON helpers ------------------------------------------------------------ */

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An id member (a snowflake string; an integer is accepted too).  0 set,
 * 1 absent or null, -1 malformed. */
static int get_id(json_t *o, const char *key, char out[DISCORD_MAX_ID + 1])
{
	json_t *v = json_object_get(o, key);
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 1;
	if (json_is_string(v)) {
		if (!discord_id_ok(json_string_value(v)))
			return -1;
		snprintf(out, DISCORD_MAX_ID + 1, "%s", json_string_value(v));
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(out, DISCORD_MAX_ID + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	return -1;
}

/* Cut s (malloc'd) to at most max bytes at a UTF-8 boundary. */
static void cut_utf8(char *s, size_t max)
{
	if (strlen(s) <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

static char *dup_cut(const char *s, size_t max)
{
	char *d = xstrdup(s ? s : "");
	cut_utf8(d, max);
	return d;
}

/* --- messages ---------------------------------------------------------------------- */

const char *discord_skip_name(enum discord_skip s)
{
	switch (s) {
	case DISCORD_TAKE: return "post";
	case DISCORD_SKIP_SELF: return "self";
	case DISCORD_SKIP_WEBHOOK: return "webhook";
	case DISCORD_SKIP_TYPE: return "system";
	}
	return "?";
}

void discord_message_free(struct discord_message *m)
{
	if (!m)
		return;
	free(m->username);
	free(m->name);
	free(m->content);
	free(m->text);
	m->username = m->name = m->content = m->text = NULL;
}

/* The name of user `id` among the message's mentions, or NULL. */
static const char *mention_name(json_t *mentions, const char *id, size_t idlen)
{
	size_t i;
	json_t *u;
	json_array_foreach(mentions, i, u)
	{
		const char *uid = get_str(u, "id");
		if (uid && strlen(uid) == idlen && strncmp(uid, id, idlen) == 0) {
			const char *g = get_str(u, "global_name");
			return g && *g ? g : get_str(u, "username");
		}
	}
	return NULL;
}

static int digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

/*
 * Discord markup that stands for something else, as a reader sees it:
 * <@id> and <@!id> as @name, <@&id> as @role, <#id> as #channel, custom
 * emoji <:name:id> and <a:name:id> as :name:, <https://...> as the bare
 * URL.  Everything else is kept as written.  Appends to out.
 */
static void content_text(const char *s, json_t *mentions, struct buf *out)
{
	while (*s) {
		const char *gt = *s == '<' ? strchr(s, '>') : NULL;
		if (!gt || gt - s > 100) {
			buf_putc(out, *s++);
			continue;
		}
		const char *in = s + 1;
		size_t n = (size_t)(gt - in);
		if (n > 1 && in[0] == '@' && (in[1] == '!' ? digits(in + 2, n - 2) : digits(in + 1, n - 1))) {
			const char *id = in[1] == '!' ? in + 2 : in + 1;
			const char *name = mention_name(mentions, id, (size_t)(gt - id));
			buf_printf(out, "@%s", name && *name ? name : "user");
		} else if (n > 2 && in[0] == '@' && in[1] == '&' && digits(in + 2, n - 2)) {
			buf_puts(out, "@role");
		} else if (n > 1 && in[0] == '#' && digits(in + 1, n - 1)) {
			buf_puts(out, "#channel");
		} else if (n > 3 && (in[0] == ':' || (in[0] == 'a' && in[1] == ':'))) {
			const char *name = in[0] == ':' ? in + 1 : in + 2;
			const char *colon = memchr(name, ':', (size_t)(gt - name));
			if (colon && colon > name && digits(colon + 1, (size_t)(gt - colon - 1)))
				buf_printf(out, ":%.*s:", (int)(colon - name), name);
			else
				buf_append(out, s, n + 2);
		} else if (n > 8 && (strncmp(in, "http://", 7) == 0 || strncmp(in, "https://", 8) == 0) &&
		           !memchr(in, ' ', n)) {
			buf_append(out, in, n);
		} else {
			buf_append(out, s, n + 2);
		}
		s = gt + 1;
	}
	if (!out->p)
		buf_puts(out, "");
}

static int parse_message(json_t *o, const char *self_id, struct discord_message *m, char *err, size_t errn)
{
	memset(m, 0, sizeof(*m));
	if (!json_is_object(o)) {
		snprintf(err, errn, "a message is not an object");
		return -1;
	}
	json_t *author = json_object_get(o, "author");
	json_t *type = json_object_get(o, "type");
	if (get_id(o, "id", m->id) != 0) {
		snprintf(err, errn, "message without a valid id");
		return -1;
	}
	if (get_id(o, "channel_id", m->channel_id) != 0 || !json_is_object(author) ||
	    get_id(author, "id", m->author_id) != 0) {
		snprintf(err, errn, "message %s without a valid channel or author", m->id);
		return -1;
	}
	if (get_id(o, "guild_id", m->guild_id) < 0) {
		snprintf(err, errn, "message %s with a malformed guild_id", m->id);
		return -1;
	}
	json_t *ref = json_object_get(o, "message_reference");
	if (json_is_object(ref) && get_id(ref, "message_id", m->reply_to) < 0)
		m->reply_to[0] = '\0';
	m->type = json_is_integer(type) ? (int)json_integer_value(type) : 0;
	m->author_bot = json_is_true(json_object_get(author, "bot"));
	json_t *nonce = json_object_get(o, "nonce");
	if (json_is_string(nonce) && json_string_length(nonce) <= DISCORD_NONCE_MAX)
		snprintf(m->nonce, sizeof(m->nonce), "%s", json_string_value(nonce));
	else if (json_is_integer(nonce))
		snprintf(m->nonce, sizeof(m->nonce), "%" JSON_INTEGER_FORMAT, json_integer_value(nonce));

	json_t *wh = json_object_get(o, "webhook_id");
	if (self_id && *self_id && strcmp(m->author_id, self_id) == 0)
		m->skip = DISCORD_SKIP_SELF;
	else if (wh && !json_is_null(wh))
		m->skip = DISCORD_SKIP_WEBHOOK;
	else if (m->type != 0 && m->type != 19)
		m->skip = DISCORD_SKIP_TYPE;

	const char *ts = get_str(o, "timestamp");
	if (!ts || time_parse_iso(ts, &m->created) < 0)
		m->created = (time_t)(discord_id_ms(m->id) / 1000);

	const char *user = get_str(author, "username");
	const char *global = get_str(author, "global_name");
	const char *nick = get_str(json_object_get(o, "member"), "nick");
	m->username = dup_cut(user, DISCORD_NAME_MAX);
	m->name = dup_cut(nick && *nick ? nick : global && *global ? global : user, DISCORD_NAME_MAX);

	json_t *content = json_object_get(o, "content");
	m->content = dup_cut(json_is_string(content) ? json_string_value(content) : "", POST_MAX_TEXT);

	struct buf t;
	buf_init(&t, 0);
	content_text(m->content, json_object_get(o, "mentions"), &t);
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(o, "attachments"), i, a)
	{
		const char *fn = get_str(a, "filename");
		if (i >= MAX_ATTACHMENTS || !fn)
			break;
		buf_printf(&t, "%s[attachment: %.100s]", t.len ? "\n" : "", fn);
	}
	m->text = buf_steal(&t);
	if (!m->text)
		m->text = xstrdup("");
	cut_utf8(m->text, POST_MAX_TEXT);
	return 0;
}

int discord_parse_message(const char *json, size_t len, const char *self_id, struct discord_message *m,
                          char *err, size_t errn)
{
	json_error_t je;
	memset(m, 0, sizeof(*m));
	json_t *o = json_loadb(json, len, JSON_ALLOW_NUL, &je);
	if (!o) {
		snprintf(err, errn, "message is not JSON: %s", je.text);
		return -1;
	}
	int rc = parse_message(o, self_id, m, err, errn);
	if (rc < 0)
		discord_message_free(m);
	json_decref(o);
	return rc;
}

static int cmp_message(const void *a, const void *b)
{
	return discord_id_cmp(((const struct discord_message *)a)->id,
	                      ((const struct discord_message *)b)->id);
}

long discord_parse_page(const char *body, size_t len, const char *self_id, struct discord_message **items,
                        size_t *n, size_t *bad, char *err, size_t errn)
{
	json_error_t je;
	char why[160];

	*items = NULL;
	*n = 0;
	*bad = 0;
	json_t *a = json_loadb(body, len, JSON_ALLOW_NUL, &je);
	if (!json_is_array(a)) {
		snprintf(err, errn, "messages page is not a JSON array%s%s", a ? "" : ": ", a ? "" : je.text);
		json_decref(a);
		return -1;
	}
	size_t total = json_array_size(a);
	struct discord_message *out = total ? xcalloc(total, sizeof(*out)) : NULL;
	for (size_t i = 0; i < total; i++) {
		if (parse_message(json_array_get(a, i), self_id, &out[*n], why, sizeof(why)) == 0)
			(*n)++;
		else {
			discord_message_free(&out[*n]);
			(*bad)++;
		}
	}
	json_decref(a);
	if (*n > 1)
		qsort(out, *n, sizeof(*out), cmp_message);
	if (!*n) {
		free(out);
		out = NULL;
	}
	*items = out;
	return (long)total;
}

/* --- gateway frames -------------------------------------------------------------------- */

void discord_frame_free(struct discord_frame *f)
{
	if (!f)
		return;
	free(f->channels);
	f->channels = NULL;
	f->nchannels = 0;
	if (f->has_message)
		discord_message_free(&f->message);
	f->has_message = 0;
}

/* Thread channel types: announcement, public and private threads. */
static int is_thread_type(json_t *c)
{
	json_t *t = json_object_get(c, "type");
	json_int_t v = json_is_integer(t) ? json_integer_value(t) : -1;
	return v == 10 || v == 11 || v == 12;
}

static void add_channel(struct discord_frame *f, json_t *c, int thread)
{
	struct discord_channel ch;
	if (f->nchannels >= MAX_CHANNELS || get_id(c, "id", ch.id) != 0 ||
	    get_id(c, "last_message_id", ch.last_message_id) < 0)
		return;
	ch.is_thread = thread || is_thread_type(c);
	f->channels = xrealloc(f->channels, (f->nchannels + 1) * sizeof(*f->channels));
	f->channels[f->nchannels++] = ch;
}

static void add_channels(struct discord_frame *f, json_t *list, int threads)
{
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c)
	{
		add_channel(f, c, threads);
	}
}

static int parse_dispatch(struct discord_frame *f, json_t *d, const char *self_id, char *err, size_t errn)
{
	if (strcmp(f->t, "READY") == 0) {
		json_t *user = json_object_get(d, "user");
		const char *sid = get_str(d, "session_id");
		const char *url = get_str(d, "resume_gateway_url");
		const char *name = get_str(user, "username");
		if (!sid || !*sid || strlen(sid) > DISCORD_SESSION_MAX ||
		    get_id(user, "id", f->user_id) != 0) {
			snprintf(err, errn, "READY without a session id or user");
			return -1;
		}
		snprintf(f->session_id, sizeof(f->session_id), "%s", sid);
		if (url && strlen(url) <= DISCORD_URL_MAX)
			snprintf(f->resume_url, sizeof(f->resume_url), "%s", url);
		snprintf(f->user_name, sizeof(f->user_name), "%s", name ? name : "");
		f->guilds = json_array_size(json_object_get(d, "guilds"));
		return 0;
	}
	if (strcmp(f->t, "MESSAGE_CREATE") == 0) {
		if (parse_message(d, self_id, &f->message, err, errn) < 0) {
			discord_message_free(&f->message);
			return -1;
		}
		f->has_message = 1;
		return 0;
	}
	if (strcmp(f->t, "GUILD_CREATE") == 0) {
		if (get_id(d, "id", f->guild_id) != 0) {
			snprintf(err, errn, "GUILD_CREATE without a guild id");
			return -1;
		}
		add_channels(f, json_object_get(d, "channels"), 0);
		add_channels(f, json_object_get(d, "threads"), 1);
	} else if (strcmp(f->t, "THREAD_CREATE") == 0 || strcmp(f->t, "THREAD_UPDATE") == 0) {
		add_channel(f, d, 1);
	} else if (strcmp(f->t, "THREAD_LIST_SYNC") == 0) {
		add_channels(f, json_object_get(d, "threads"), 1);
	}
	return 0;
}

int discord_parse_frame(const char *data, size_t len, const char *self_id, struct discord_frame *f, char *err,
                        size_t errn)
{
	json_error_t je;
	memset(f, 0, sizeof(*f));
	f->seq = -1;
	f->op = -1;
	json_t *o = json_loadb(data, len, JSON_ALLOW_NUL, &je);
	if (!json_is_object(o)) {
		snprintf(err, errn, "gateway frame is not a JSON object%s%s", o ? "" : ": ",
		         o ? "" : je.text);
		json_decref(o);
		return -1;
	}
	json_t *op = json_object_get(o, "op");
	json_t *s = json_object_get(o, "s");
	json_t *d = json_object_get(o, "d");
	if (!json_is_integer(op) || json_integer_value(op) < 0 || json_integer_value(op) > 1000) {
		snprintf(err, errn, "gateway frame without an op");
		json_decref(o);
		return -1;
	}
	f->op = (int)json_integer_value(op);
	if (json_is_integer(s) && json_integer_value(s) >= 0)
		f->seq = json_integer_value(s);
	int rc = 0;
	switch (f->op) {
	case DISCORD_OP_HELLO: {
		json_t *hb = json_object_get(d, "heartbeat_interval");
		json_int_t v = json_is_integer(hb) ? json_integer_value(hb)
		               : json_is_real(hb)  ? (json_int_t)json_real_value(hb)
		                                   : 0;
		if (v <= 0 || v > 3600000) {
			snprintf(err, errn, "HELLO without a usable heartbeat_interval");
			rc = -1;
		} else {
			f->heartbeat_ms = (long)v;
		}
		break;
	}
	case DISCORD_OP_INVALID_SESSION: f->resumable = json_is_true(d); break;
	case DISCORD_OP_DISPATCH: {
		const char *t = get_str(o, "t");
		if (!t || strlen(t) >= sizeof(f->t)) {
			snprintf(err, errn, "dispatch without an event name");
			rc = -1;
			break;
		}
		snprintf(f->t, sizeof(f->t), "%s", t);
		if (!json_is_object(d)) {
			/* RESUMED and friends may carry null. */
			if (strcmp(t, "READY") == 0 || strcmp(t, "MESSAGE_CREATE") == 0 ||
			    strcmp(t, "GUILD_CREATE") == 0) {
				snprintf(err, errn, "%s without data", t);
				rc = -1;
			}
			break;
		}
		rc = parse_dispatch(f, d, self_id, err, errn);
		break;
	}
	default: break;
	}
	json_decref(o);
	if (rc < 0) {
		free(f->channels);
		f->channels = NULL;
		f->nchannels = 0;
	}
	return rc;
}

/* --- what we send ----------------------------------------------------------------------- */

static void dump_into(json_t *o, struct buf *out)
{
	buf_reset(out);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		buf_puts(out, s);
	else
		buf_puts(out, "");
	if (s) {
		explicit_bzero(s, strlen(s)); /* may hold the token */
		free(s);
	}
	json_decref(o);
}

void discord_heartbeat_json(long long seq, struct buf *out)
{
	dump_into(json_pack("{s:i, s:o}", "op", DISCORD_OP_HEARTBEAT, "d",
	                    seq >= 0 ? json_integer((json_int_t)seq) : json_null()),
	          out);
}

void discord_identify_json(const char *token, long intents, struct buf *out)
{
	dump_into(json_pack("{s:i, s:{s:s, s:I, s:{s:s, s:s, s:s}}}", "op", DISCORD_OP_IDENTIFY, "d", "token",
	                    token, "intents", (json_int_t)intents, "properties", "os", "linux", "browser",
	                    "frontdesk", "device", "frontdesk"),
	          out);
}

void discord_resume_json(const char *token, const char *session_id, long long seq, struct buf *out)
{
	dump_into(json_pack("{s:i, s:{s:s, s:s, s:o}}", "op", DISCORD_OP_RESUME, "d", "token", token,
	                    "session_id", session_id, "seq",
	                    seq >= 0 ? json_integer((json_int_t)seq) : json_null()),
	          out);
}

char *discord_reply_json(const char *content, const char *reply_to, const char *nonce)
{
	json_t *o = json_pack("{s:s, s:{s:[]}}", "content", content, "allowed_mentions", "parse");
	if (!o)
		return NULL;
	if (reply_to && *reply_to)
		json_object_set_new(o, "message_reference",
		                    json_pack("{s:s, s:b}", "message_id", reply_to, "fail_if_not_exists", 0));
	if (nonce && *nonce) {
		json_object_set_new(o, "nonce", json_string(nonce));
		json_object_set_new(o, "enforce_nonce", json_true());
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int nonce_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '_' || *s == '-'))
			return 0;
	return 1;
}

void discord_nonce(const char *idem, size_t part, char out[DISCORD_NONCE_MAX + 1])
{
	char base[DISCORD_NONCE_MAX + 1];
	const char *k = idem ? idem : "";
	size_t room = part ? DISCORD_NONCE_MAX - 4 : DISCORD_NONCE_MAX; /* "-NNN" */
	if (*k && strlen(k) <= room && nonce_chars_ok(k))
		snprintf(base, sizeof(base), "%s", k);
	else
		snprintf(base, sizeof(base), "fh%016llx", (unsigned long long)hash64(k, strlen(k)));
	if (part)
		snprintf(out, DISCORD_NONCE_MAX + 1, "%.*s-%u", DISCORD_NONCE_MAX - 4, base,
		         (unsigned)(part % 1000));
	else
		snprintf(out, DISCORD_NONCE_MAX + 1, "%s", base);
}

size_t discord_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Each raw part (freed) made inert into parts; the most characters any has. */
static size_t inert_parts(char **raw, size_t n, char **parts)
{
	size_t most = 0;
	for (size_t i = 0; i < n; i++) {
		struct buf b;
		buf_init(&b, 0);
		markup_neutralise(&b, MARKUP_DISCORD, raw[i]);
		free(raw[i]);
		parts[i] = buf_steal(&b);
		size_t c = discord_chars(parts[i]);
		if (c > most)
			most = c;
	}
	return most;
}

size_t discord_build_parts(const char *text, char **parts, size_t max_parts)
{
	size_t budget = DISCORD_MAX_CHARS, n = 0;
	char *raw[DISCORD_MAX_PARTS];
	if (max_parts > DISCORD_MAX_PARTS)
		max_parts = DISCORD_MAX_PARTS;
	/* Neutralising adds characters (a backslash before '[', a zero-width
	 * space after '@'): cut the raw text, make each part inert, and cut
	 * smaller (by at least a tenth each round) while a part is too long. */
	for (int round = 0; round < 64; round++) {
		n = outbox_split(text ? text : "", budget, raw, max_parts);
		size_t most = inert_parts(raw, n, parts);
		if (most <= DISCORD_MAX_CHARS)
			return n;
		for (size_t i = 0; i < n; i++)
			free(parts[i]);
		if (budget <= 10)
			break;
		size_t over = most - DISCORD_MAX_CHARS;
		size_t step = over > budget / 10 ? over : budget / 10;
		budget = budget > step + 10 ? budget - step : 10;
	}
	/* Not reached for text that is UTF-8 (a character at most doubles). */
	n = outbox_split(text ? text : "", 10, raw, max_parts);
	inert_parts(raw, n, parts);
	return n;
}

/* --- closing -------------------------------------------------------------------------------- */

enum discord_close discord_close_code(int code, char *detail, size_t n)
{
	static const struct {
		int code;
		enum discord_close next;
		const char *detail;
	} known[] = {
	    {4004, DISCORD_CLOSE_FATAL, "Discord refused the bot token (4004): check the token"},
	    {4010, DISCORD_CLOSE_FATAL, "Discord refused the shard (4010)"},
	    {4011, DISCORD_CLOSE_FATAL, "Discord requires sharding for this many servers (4011)"},
	    {4012, DISCORD_CLOSE_FATAL, "Discord refused the gateway version (4012)"},
	    {4013, DISCORD_CLOSE_FATAL, "Discord refused the intents (4013)"},
	    {4014, DISCORD_CLOSE_FATAL,
	     "the Message Content intent is not enabled (4014): turn it on in the Developer Portal, Bot, "
	     "Privileged Gateway Intents"},
	    {4007, DISCORD_CLOSE_NEW_SESSION, "Discord refused the sequence number (4007): new session"},
	    {4009, DISCORD_CLOSE_NEW_SESSION, "the session timed out (4009): new session"},
	};
	for (size_t i = 0; i < ARRAY_LEN(known); i++) {
		if (known[i].code == code) {
			snprintf(detail, n, "%s", known[i].detail);
			return known[i].next;
		}
	}
	if (code)
		snprintf(detail, n, "gateway closed the connection (%d): resuming", code);
	else
		snprintf(detail, n, "gateway connection lost: resuming");
	return DISCORD_CLOSE_RESUME;
}

int discord_gateway_url(const char *base, char *out, size_t n)
{
	struct url_parts u;
	char host[URL_HOST_MAX + 16];
	if (!base || url_parse(base, &u) < 0)
		return -1;
	if (strcmp(u.scheme, "wss") != 0 && !(strcmp(u.scheme, "ws") == 0 && url_host_is_loopback(u.host)))
		return -1;
	char *q = strchr(u.path, '?');
	if (q)
		*q = '\0';
	url_host_port(&u, host, sizeof(host));
	int k = snprintf(out, n, "%s://%s%s%s?v=10&encoding=json", u.scheme, host, u.path,
	                 u.path[strlen(u.path) - 1] == '/' ? "" : "/");
	return k < 0 || (size_t)k >= n ? -1 : 0;
}
