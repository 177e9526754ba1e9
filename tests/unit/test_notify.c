/*
 * test_notify.c - notifications and response targets: neutralising customer
 * text, digest grouping, the stored event, the body of each webhook format
 * (shape and escaping), the e-mail message, queueing into a real store
 * (priority filter, digest rows, no duplicates), and the SLA moments with a
 * fake clock (due soon, missed, once ever, metrics, statistics).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <unistd.h>

#include "config.h"
#include "connector.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "pipeline.h"
#include "sla.h"
#include "store.h"
#include "store_sync.h"

#define ZWSP "\xe2\x80\x8b"

static const time_t T0 = 1795000000; /* 2026-11-17T... UTC, a fixed clock */

/* ---- neutralising ------------------------------------------------------------ */

static char *neutral(const char *in, size_t max)
{
	struct buf b;
	buf_init(&b, 0);
	notify_neutralise(&b, in, max);
	return b.p ? buf_steal(&b) : xstrdup("");
}

static void test_neutralise_mentions(void **state)
{
	(void)state;
	char *s = neutral(
	    "hey @everyone and @here, <!channel> <!here> <@U123> <@&42> <#C9> @sam@example.social", 200);
	assert_null(strstr(s, "@everyone"));
	assert_null(strstr(s, "@here"));
	assert_null(strstr(s, "<!channel>"));
	assert_null(strstr(s, "<!here>"));
	assert_null(strstr(s, "<@U123>"));
	assert_null(strstr(s, "<@&42>"));
	assert_null(strstr(s, "<#C9>"));
	assert_non_null(strstr(s, "@" ZWSP "everyone"));
	assert_non_null(strstr(s, "<" ZWSP "!channel>"));
	assert_null(strstr(s, "<@"));
	assert_non_null(strstr(s, "<" ZWSP "@"));
	assert_non_null(strstr(s, "@" ZWSP "sam@" ZWSP "example.social"));
	free(s);
	/* A lone @ and an e-mail-like "a @ b" are left alone. */
	s = neutral("meet me @ 5", 200);
	assert_string_equal(s, "meet me @ 5");
	free(s);
	/* Invisible characters cannot glue a mention back together. */
	s = neutral("@\xe2\x81\xa0"
	            "everyone",
	            200);
	assert_null(strstr(s, "@everyone"));
	assert_null(strstr(s, "\xe2\x81\xa0"));
	free(s);
}

static void test_neutralise_controls_and_cut(void **state)
{
	(void)state;
	char *s = neutral("  line one\r\n\tline\x1b[31m two\x07  ", 200);
	assert_string_equal(s, "line one line [31m two");
	free(s);
	s = neutral("bad \xff\xfe bytes", 200);
	assert_string_equal(s, "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
	free(s);

	/* 300 characters of words: cut to at most 200 plus the ellipsis, at a word. */
	struct buf in;
	buf_init(&in, 0);
	for (int i = 0; i < 60; i++)
		buf_puts(&in, "word ");
	s = neutral(in.p, 200);
	size_t len = strlen(s);
	assert_true(len <= 200 + 3);
	assert_string_equal(s + len - 3, "…");
	assert_true(len >= 3 + 4);
	assert_memory_equal(s + len - 7, "word", 4); /* ends with a whole word */
	free(s);
	/* One long word: cut inside it, never inside a UTF-8 sequence. */
	buf_reset(&in);
	for (int i = 0; i < 300; i++)
		buf_puts(&in, "é");
	s = neutral(in.p, 200);
	assert_int_equal(strlen(s), 200 * 2 + 3);
	free(s);
	buf_free(&in);
}

/* ---- digest windows ----------------------------------------------------------- */

static void test_digest_window(void **state)
{
	struct notify_window w;
	time_t at = 0, at2 = 0;
	(void)state;
	memset(&w, 0, sizeof(w));

	/* The first three within a minute go out one by one. */
	assert_int_equal(notify_window_admit(&w, T0, &at), 0);
	assert_int_equal(notify_window_admit(&w, T0 + 1, &at), 0);
	assert_int_equal(notify_window_admit(&w, T0 + 2, &at), 0);
	/* The fourth starts a digest a window later; later ones join it. */
	assert_int_equal(notify_window_admit(&w, T0 + 3, &at), 1);
	assert_int_equal(at, T0 + 3 + NOTIFY_DIGEST_WINDOW);
	assert_int_equal(notify_window_admit(&w, T0 + 30, &at2), 1);
	assert_int_equal(at2, at);
	for (int i = 40; i <= 62; i += 11) {
		assert_int_equal(notify_window_admit(&w, T0 + i, &at2), 1);
		assert_int_equal(at2, at);
	}
	/* Still flooding after the digest went out: the next digest. */
	assert_int_equal(notify_window_admit(&w, at + 1, &at2), 1);
	assert_int_equal(at2, at + 1 + NOTIFY_DIGEST_WINDOW);
	/* Quiet for a window: one by one again. */
	assert_int_equal(notify_window_admit(&w, at2 + NOTIFY_DIGEST_WINDOW + 5, &at), 0);

	/* Three spread over more than a minute never make a digest. */
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < 10; i++)
		assert_int_equal(notify_window_admit(&w, T0 + i * 25, &at), 0);
}

/* ---- events and rendering ------------------------------------------------------ */

static struct notify_ticket sample(int64_t id, const char *text)
{
	struct notify_ticket t = {
	    .id = id,
	    .status = "waiting",
	    .priority = PRIO_HIGH,
	    .reason = "unmatched",
	    .platform = "webchat",
	    .author = "Alex \"<@U1>\"",
	    .assignee = NULL,
	    .text = text,
	    .created = T0,
	    .due = T0 + 3600,
	};
	return t;
}

static void item_of(enum notify_event ev, const struct notify_ticket *t, time_t digest,
                    struct notify_item *it)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(notify_event_json(ev, t, T0, digest, &b), 0);
	assert_true(b.len <= NOTIFY_PAYLOAD_MAX);
	assert_int_equal(notify_event_parse(b.p, it), 0);
	buf_free(&b);
}

static void test_event_roundtrip(void **state)
{
	struct notify_item it;
	struct notify_ticket t = sample(42, "I want a refund @everyone");
	(void)state;

	item_of(NOTIFY_MISSED, &t, 0, &it);
	assert_int_equal(it.event, NOTIFY_MISSED);
	assert_int_equal(it.t.id, 42);
	assert_int_equal(it.t.priority, PRIO_HIGH);
	assert_string_equal(it.t.reason, "unmatched");
	assert_int_equal(it.t.due, T0 + 3600);
	assert_null(it.t.assignee);
	/* Stored already neutralised. */
	assert_non_null(strstr(it.t.text, "@" ZWSP "everyone"));
	assert_null(strstr(it.t.author, "<@"));
	assert_non_null(strstr(it.t.author, "<" ZWSP "@"));
	notify_item_free(&it);

	assert_int_equal(notify_event_parse("{\"event\":\"nope\",\"ticket\":{\"id\":1}}", &it), -1);
	assert_int_equal(notify_event_parse("not json", &it), -1);
	assert_int_equal(notify_event_parse("{\"event\":\"missed\"}", &it), -1);
}

static json_t *render(enum notify_format f, const struct notify_item *items, size_t n)
{
	struct buf b;
	json_error_t err;
	buf_init(&b, 0);
	notify_render(f, items, n, T0 + 60, NULL, &b);
	json_t *o = json_loads(b.p, JSON_REJECT_DUPLICATES, &err);
	if (!o)
		fail_msg("not JSON (%s): %s", err.text, b.p);
	buf_free(&b);
	return o;
}

static void test_formats(void **state)
{
	struct notify_item it;
	struct notify_ticket t = sample(7, "Tom & Jerry <b>\"quoted\"</b>\nnext line <!channel>");
	(void)state;
	item_of(NOTIFY_NEW_TICKET, &t, 0, &it);

	/* Slack: "text", with &, < and > as entities, no live mention, no
	 * previews of the customer's links. */
	json_t *o = render(NOTIFY_SLACK, &it, 1);
	assert_int_equal(json_object_size(o), 3);
	assert_true(json_is_false(json_object_get(o, "unfurl_links")));
	assert_true(json_is_false(json_object_get(o, "unfurl_media")));
	const char *text = json_string_value(json_object_get(o, "text"));
	assert_non_null(text);
	assert_non_null(strstr(text, "New ticket #7 (high, unanswered question)"));
	assert_non_null(strstr(text, "Tom &amp; Jerry &lt;b&gt;\"quoted\"&lt;/b&gt; next line"));
	assert_null(strstr(text, "<!channel>"));
	assert_null(strchr(text, '<'));
	assert_non_null(strstr(text, "due 2026-"));
	json_decref(o);

	/* Discord: "content", allowed_mentions.parse == [] and no embeds. */
	o = render(NOTIFY_DISCORD, &it, 1);
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "flags")), 4);
	text = json_string_value(json_object_get(o, "content"));
	assert_non_null(strstr(text, "Tom & Jerry <b>\"quoted\"</b> next line"));
	json_t *parse = json_object_get(json_object_get(o, "allowed_mentions"), "parse");
	assert_true(json_is_array(parse));
	assert_int_equal(json_array_size(parse), 0);
	json_decref(o);

	/* Mattermost: "text". */
	o = render(NOTIFY_MATTERMOST, &it, 1);
	assert_int_equal(json_object_size(o), 1);
	assert_non_null(strstr(json_string_value(json_object_get(o, "text")), "#7"));
	json_decref(o);

	/* JSON: the event, the text, and the ticket as `queue list --json` shows it. */
	o = render(NOTIFY_JSON, &it, 1);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "new_ticket");
	assert_true(json_is_string(json_object_get(o, "text")));
	json_t *k = json_object_get(o, "ticket");
	assert_int_equal(json_integer_value(json_object_get(k, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(k, "status")), "waiting");
	assert_string_equal(json_string_value(json_object_get(k, "priority")), "high");
	assert_string_equal(json_string_value(json_object_get(k, "reason")), "unmatched");
	assert_string_equal(json_string_value(json_object_get(k, "platform")), "webchat");
	assert_string_equal(json_string_value(json_object_get(k, "due")), "2026-11-18T12:06:40Z");
	assert_true(json_is_null(json_object_get(k, "assignee")));
	assert_non_null(strstr(json_string_value(json_object_get(k, "last_message")), "<" ZWSP "!channel>"));
	json_decref(o);
	notify_item_free(&it);

	/* The other events say what happened. */
	t.assignee = "sam";
	static const struct {
		enum notify_event ev;
		const char *says;
	} cases[] = {
	    {NOTIFY_DUE_SOON, "has no reply yet and is due"},
	    {NOTIFY_MISSED, "missed its response target"},
	    {NOTIFY_CUSTOMER_WROTE, "wrote again in ticket #7"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		item_of(cases[i].ev, &t, 0, &it);
		o = render(NOTIFY_MATTERMOST, &it, 1);
		text = json_string_value(json_object_get(o, "text"));
		if (!strstr(text, cases[i].says) || !strstr(text, "claimed by sam"))
			fail_msg("%s: %s", notify_event_name(cases[i].ev), text);
		json_decref(o);
		notify_item_free(&it);
	}
}

/* Customer markdown reaches staff channels as the characters typed: no
 * disguised link, no image, no Slack <url|text>, in text and in the name. */
static void test_formats_markup(void **state)
{
	struct notify_item it;
	struct notify_ticket t = sample(8, "[your refund is ready](https://evil.example/phish) "
	                                   "![x](https://evil.example/pixel.png) <https://evil.example|ok>");
	(void)state;
	t.author = "[Support](https://evil.example/s)";
	item_of(NOTIFY_NEW_TICKET, &t, 0, &it);

	static const struct {
		enum notify_format f;
		const char *key;
	} md[] = {{NOTIFY_DISCORD, "content"}, {NOTIFY_MATTERMOST, "text"}};
	for (size_t i = 0; i < ARRAY_LEN(md); i++) {
		json_t *o = render(md[i].f, &it, 1);
		const char *text = json_string_value(json_object_get(o, md[i].key));
		assert_non_null(text);
		/* Every bracket is escaped: nothing can open a link or an image. */
		for (const char *p = text; *p; p++)
			if ((*p == '[' || *p == ']') && (p == text || p[-1] != '\\'))
				fail_msg("format %d: live markdown left in: %s", (int)md[i].f, text);
		assert_non_null(strstr(text, "\\[your refund is ready\\](https://evil.example/phish)"));
		assert_non_null(strstr(text, "!\\[x\\](https://evil.example/pixel.png)"));
		assert_non_null(strstr(text, "from \\[Support\\](https://evil.example/s)"));
		json_decref(o);
	}

	json_t *o = render(NOTIFY_SLACK, &it, 1);
	const char *text = json_string_value(json_object_get(o, "text"));
	assert_null(strchr(text, '<'));
	assert_non_null(strstr(text, "&lt;https://evil.example|ok&gt;"));
	json_decref(o);

	/* The generic JSON webhook and e-mail carry the text as typed. */
	o = render(NOTIFY_JSON, &it, 1);
	text = json_string_value(json_object_get(json_object_get(o, "ticket"), "last_message"));
	assert_non_null(strstr(text, "[your refund is ready](https://evil.example/phish)"));
	json_decref(o);
	notify_item_free(&it);
}

static void test_digest_render(void **state)
{
	struct notify_item items[30];
	(void)state;
	for (int i = 0; i < 30; i++) {
		char text[32];
		snprintf(text, sizeof(text), "question %d", i);
		struct notify_ticket t = sample(100 + i, text);
		item_of(NOTIFY_NEW_TICKET, &t, T0 + 60, &items[i]);
	}
	json_t *o = render(NOTIFY_SLACK, items, 30);
	const char *text = json_string_value(json_object_get(o, "text"));
	assert_non_null(strstr(text, "30 new tickets in the last minute"));
	assert_non_null(strstr(text, "#100 high"));
	assert_non_null(strstr(text, "#124 high"));
	assert_null(strstr(text, "#125 high"));
	assert_non_null(strstr(text, "and 5 more"));
	json_decref(o);

	o = render(NOTIFY_JSON, items, 30);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "digest");
	assert_int_equal(json_array_size(json_object_get(o, "tickets")), 30);
	json_decref(o);

	struct buf subj;
	buf_init(&subj, 0);
	notify_subject(items, 30, &subj);
	assert_string_equal(subj.p, "[frontdesk] 30 new tickets");
	buf_free(&subj);
	for (int i = 0; i < 30; i++)
		notify_item_free(&items[i]);
}

/* ---- e-mail -------------------------------------------------------------------------- */

static size_t unbase64(const char *in, unsigned char *out, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v = 0;
	int bits = 0;
	size_t len = 0;
	for (; *in && *in != '='; in++) {
		const char *p = strchr(tab, *in);
		if (!p || !*in)
			continue; /* CRLF */
		v = v << 6 | (unsigned)(p - tab);
		bits += 6;
		if (bits >= 8 && len < n) {
			bits -= 8;
			out[len++] = (unsigned char)(v >> bits);
		}
	}
	return len;
}

static void test_email_message(void **state)
{
	const char *to[] = {"owner@acme.example", "ops@acme.example", NULL};
	struct buf m;
	(void)state;
	buf_init(&m, 0);
	notify_email_message("bot@acme.example", to, NULL, "[frontdesk] Ticket #3 from Zoë\r\nBcc: evil@x",
	                     "Grüße\nline 2\n", T0, "frontdesk.fdn0123", &m);

	/* Headers end at the first empty line; every line ends in CRLF. */
	char *end = strstr(m.p, "\r\n\r\n");
	assert_non_null(end);
	for (const char *p = m.p; (p = strchr(p, '\n')); p++)
		assert_true(p > m.p && p[-1] == '\r');
	*end = '\0';
	assert_non_null(strstr(m.p, "From: bot@acme.example\r\n"));
	assert_non_null(strstr(m.p, "To: owner@acme.example, ops@acme.example\r\n"));
	assert_non_null(strstr(m.p, "Date: Wed, 18 Nov 2026 11:06:40 +0000\r\n"));
	assert_non_null(strstr(m.p, "Message-ID: <frontdesk.fdn0123@acme.example>\r\n"));
	assert_non_null(strstr(m.p, "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(m.p, "Content-Transfer-Encoding: base64\r\n"));
	assert_non_null(strstr(m.p, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(m.p, "Subject: =?UTF-8?B?"));
	/* The CR/LF in the subject did not make a header of its own. */
	assert_null(strstr(m.p, "\r\nBcc:"));
	unsigned char body[256];
	size_t n = unbase64(end + 4, body, sizeof(body) - 1);
	body[n] = '\0';
	assert_string_equal((char *)body, "Grüße\r\nline 2\r\n");

	/* An ASCII subject stays readable. */
	buf_reset(&m);
	notify_email_message("bot@acme.example", to, NULL, "[frontdesk] 4 new tickets", "x", T0, "id1", &m);
	assert_non_null(strstr(m.p, "Subject: [frontdesk] 4 new tickets\r\n"));
	assert_null(strstr(m.p, "Reply-To:"));
	buf_free(&m);
}

/*
 * A reply mailed to a customer who was away: the stored event keeps the
 * whole reply (well past the 200 characters of a staff notification) and
 * reads back; the e-mail goes to the customer, answerable at the business's
 * address, says who wrote, quotes the reply as written and links back.
 */
static void test_customer_reply(void **state)
{
	(void)state;
	struct buf text, payload, subject, body, m;
	buf_init(&text, 0);
	for (int i = 0; i < 60; i++)
		buf_puts(&text, "Your cake is ready, collect it at ten. ");
	struct connector_mail cm = {
	    .message_id = 42,
	    .to = "kim@example.org",
	    .agent = "Sam",
	    .text = text.p,
	    .link = "https://shop.example/#frontdesk=AAAAAAAAAAAAAAAAAAAAAAAA",
	};
	buf_init(&payload, 0);
	assert_int_equal(notify_reply_json(&cm, "Acme Bakery", T0, &payload), 0);
	struct notify_item it;
	assert_int_equal(notify_event_parse(payload.p, &it), 0);
	assert_int_equal(it.event, NOTIFY_CUSTOMER_REPLY);
	assert_string_equal(notify_event_name(it.event), "customer_reply");
	assert_string_equal(it.to, "kim@example.org");
	assert_string_equal(it.agent, "Sam");
	assert_string_equal(it.t.text, text.p);
	assert_string_equal(it.business, "Acme Bakery");

	buf_init(&subject, 0);
	buf_init(&body, 0);
	notify_reply_email(&it, "hello@acme.example", &subject, &body);
	assert_string_equal(subject.p, "Re: your message to Acme Bakery");
	assert_non_null(
	    strstr(body.p, "Sam from Acme Bakery replied to your message:\n\nYour cake is ready"));
	assert_non_null(strstr(body.p, "\nhttps://shop.example/#frontdesk=AAAAAAAAAAAAAAAAAAAAAAAA\n"));
	assert_non_null(strstr(body.p, "You can also answer this e-mail."));

	const char *to[] = {it.to, NULL};
	buf_init(&m, 0);
	notify_email_message("bot@acme.example", to, "hello@acme.example", subject.p, body.p, T0,
	                     "frontdesk.fdr1", &m);
	assert_non_null(strstr(m.p, "To: kim@example.org\r\n"));
	assert_non_null(strstr(m.p, "Reply-To: hello@acme.example\r\n"));

	/* No address to answer at: the e-mail does not invite an answer. */
	buf_reset(&body);
	buf_reset(&subject);
	notify_reply_email(&it, NULL, &subject, &body);
	assert_null(strstr(body.p, "answer this e-mail"));
	/* An event without its address is not one. */
	struct notify_item bad;
	assert_int_equal(
	    notify_event_parse("{\"event\":\"customer_reply\",\"ticket\":{\"id\":0,\"text\":\"x\"}}", &bad),
	    -1);
	notify_item_free(&it);
	buf_free(&text);
	buf_free(&payload);
	buf_free(&subject);
	buf_free(&body);
	buf_free(&m);
}

/* ---- queueing into a real store --------------------------------------------------------- */

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fd-notify-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];
	static const char *const suffix[] = {"", "-wal", "-shm"};
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static struct store *open_store(void)
{
	return ss_open(path, 0);
}

/* A post that opens a ticket (or appends to the thread's one); returns the ticket. */
static int64_t post(struct store *s, const char *thread, const char *text, enum priority p, time_t now,
                    time_t due, struct store_thread *before, struct ss_rec *rec, struct decision *d)
{
	static int n;
	char id[32];
	struct post ps;
	snprintf(id, sizeof(id), "p%d", ++n);
	memset(&ps, 0, sizeof(ps));
	ps.platform = "webchat";
	ps.post_id = id;
	ps.thread_key = thread;
	ps.author_handle = "alex";
	ps.text = text;
	ps.created = now;
	decision_init(d);
	d->action = ACTION_ESCALATE;
	d->priority = p;
	d->reason = "unmatched";
	d->due = due;
	assert_int_equal(ss_thread(s, "webchat", thread, before), 0);
	d->open_ticket = before->ticket_id == 0;
	d->append_ticket = before->ticket_id != 0;
	struct store_record r = {
	    .post = &ps, .decision = d, .decision_json = "{}", .now = now, .thread = before};
	ss_rec_free(rec);
	assert_int_equal(ss_record(s, &r, rec), 0);
	return rec->ticket_id;
}

struct row {
	int64_t id;
	char connector[32];
	struct notify_item it;
	int64_t not_before_ms;
	char idem[64];
};

struct rows {
	struct store *s;
	struct row r[64];
	size_t n;
};

static void collect(void *ctx, int rc, const struct store_out *v, size_t nv)
{
	struct rows *rs = ctx;
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < nv; i++) {
		const struct store_out *o = &v[i];
		if (o->kind != OUT_NOTIFY || rs->n >= ARRAY_LEN(rs->r))
			continue;
		struct row *r = &rs->r[rs->n++];
		r->id = o->id;
		snprintf(r->connector, sizeof(r->connector), "%s", o->connector);
		assert_int_equal(notify_event_parse(o->text, &r->it), 0);
		r->not_before_ms = o->not_before_ms;
		snprintf(r->idem, sizeof(r->idem), "%s", o->idem_key);
	}
}

static void rows_read(struct store *s, struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		notify_item_free(&rs->r[i].it);
	rs->n = 0;
	rs->s = s;
	store_outbox_pending(s, collect, rs);
}

static void rows_free(struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		notify_item_free(&rs->r[i].it);
	rs->n = 0;
}

static int queued_calls;
static void on_queued(void *arg, const struct store_out *row)
{
	(void)arg;
	assert_int_equal(row->kind, OUT_NOTIFY);
	assert_true(row->id > 0);
	queued_calls++;
}

/* Two targets: a Slack hook for everything, e-mail for urgent and high only. */
static void test_config(struct config *cfg, struct notify_conf nc[2], char **to)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(nc, 0, 2 * sizeof(*nc));
	nc[0].type = "webhook";
	nc[0].url = "http://127.0.0.1:9/hook";
	nc[0].format = "slack";
	nc[0].min_priority = PRIO_LOW;
	nc[1].type = "email";
	nc[1].smtp = "smtp://127.0.0.1:9";
	nc[1].from = "bot@acme.example";
	nc[1].to = to;
	nc[1].min_priority = PRIO_HIGH;
	cfg->notify = nc;
	cfg->nnotify = 2;
}

static void test_queue_rows(void **state)
{
	struct config cfg;
	struct notify_conf nc[2];
	char *to[] = {"owner@acme.example", NULL};
	struct store *s = open_store();
	struct rows rs = {0};
	struct store_thread before;
	struct ss_rec rec = {0};
	struct decision d;
	(void)state;

	test_config(&cfg, nc, to);
	struct notify_env env = {.store = s, .cfg = &cfg, .queued = on_queued};
	struct notifier *n = notify_new(&env);
	assert_int_equal(notify_sink_count(n), 2);
	assert_string_equal(notify_sink(n, 0)->name, "notify-1");
	assert_ptr_equal(notify_find(n, "notify-2"), notify_sink(n, 1));
	assert_null(notify_find(n, "notify-3"));

	/* A normal ticket: only the Slack hook (e-mail wants high and above). */
	queued_calls = 0;
	post(s, "t1", "where is my order? @here", PRIO_NORMAL, T0, T0 + 4 * 3600, &before, &rec, &d);
	assert_int_equal(notify_post_recorded(n, &before, &d, &rec.raw, T0), 1);
	decision_free(&d);
	assert_int_equal(queued_calls, 1);
	rows_read(s, &rs);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.r[0].connector, "notify-1");
	assert_int_equal(rs.r[0].it.event, NOTIFY_NEW_TICKET);
	assert_int_equal(rs.r[0].it.t.id, rec.ticket_id);
	assert_int_equal(rs.r[0].it.digest, 0);
	assert_string_equal(rs.r[0].it.t.status, "waiting");
	assert_non_null(strstr(rs.r[0].it.t.text, "where is my order? @" ZWSP "here"));

	/* The same event again is not queued twice. */
	assert_int_equal(notify_ticket(n, NOTIFY_NEW_TICKET, rec.ticket_id, NULL, T0 + 1), 0);

	/* A high one goes to both. */
	post(s, "t2", "refund now", PRIO_HIGH, T0 + 1, T0 + 3600, &before, &rec, &d);
	assert_int_equal(notify_post_recorded(n, &before, &d, &rec.raw, T0 + 1), 2);
	decision_free(&d);

	/* The customer writes again in a claimed thread: the assignee is named. */
	int64_t t2 = rec.ticket_id;
	assert_int_equal(ss_claim(s, t2, "sam", T0 + 2), 0);
	post(s, "t2", "hello? anyone?", PRIO_HIGH, T0 + 3, T0 + 3600, &before, &rec, &d);
	assert_int_equal(before.owner, THREAD_CLAIMED);
	assert_int_equal(rec.ticket_id, t2);
	assert_int_equal(notify_post_recorded(n, &before, &d, &rec.raw, T0 + 3), 2);
	decision_free(&d);
	rows_read(s, &rs);
	int wrote = 0;
	for (size_t i = 0; i < rs.n; i++) {
		if (rs.r[i].it.event == NOTIFY_CUSTOMER_WROTE) {
			wrote++;
			assert_string_equal(rs.r[i].it.t.assignee, "sam");
			assert_string_equal(rs.r[i].it.t.text, "hello? anyone?");
		}
	}
	assert_int_equal(wrote, 2);

	/* A waiting (unclaimed) thread's new message is no notification. */
	post(s, "t1", "still there?", PRIO_NORMAL, T0 + 4, T0 + 3600, &before, &rec, &d);
	assert_int_equal(before.owner, THREAD_WAITING);
	assert_int_equal(notify_post_recorded(n, &before, &d, &rec.raw, T0 + 4), 0);
	decision_free(&d);

	/* A flood: t1 and t2 were the first two within the minute for the
	 * Slack hook; one more goes alone, the rest wait for one digest. */
	for (int i = 0; i < 6; i++) {
		char th[32];
		snprintf(th, sizeof(th), "flood%d", i);
		post(s, th, "help", PRIO_NORMAL, T0 + 10 + i, T0 + 3600, &before, &rec, &d);
		assert_int_equal(notify_post_recorded(n, &before, &d, &rec.raw, T0 + 10 + i), 1);
		decision_free(&d);
	}
	rows_read(s, &rs);
	int alone = 0, held = 0;
	time_t digest = 0;
	for (size_t i = 0; i < rs.n; i++) {
		if (strcmp(rs.r[i].connector, "notify-1") || rs.r[i].it.event != NOTIFY_NEW_TICKET)
			continue;
		if (rs.r[i].it.digest == 0) {
			alone++;
			assert_int_equal(rs.r[i].not_before_ms, 0);
		} else {
			held++;
			if (!digest)
				digest = rs.r[i].it.digest;
			assert_int_equal(rs.r[i].it.digest, digest);
			assert_int_equal(rs.r[i].not_before_ms, (int64_t)digest * 1000);
		}
	}
	assert_int_equal(alone, 3);
	assert_int_equal(held, 5);
	assert_int_equal(digest, T0 + 11 + NOTIFY_DIGEST_WINDOW);
	/* Every row has its own idempotency key. */
	for (size_t i = 0; i < rs.n; i++)
		for (size_t j = i + 1; j < rs.n; j++)
			assert_string_not_equal(rs.r[i].idem, rs.r[j].idem);

	rows_free(&rs);
	assert_int_equal(store_commit_sync(s), 0);
	notify_free(n);
	store_close(s);
}

/* A secret that cannot be read disables that target only. */
static void test_disabled_target(void **state)
{
	struct config cfg;
	struct notify_conf nc[2];
	char *to[] = {"owner@acme.example", NULL};
	struct store *s = open_store();
	struct store_thread before;
	struct ss_rec rec = {0};
	struct decision d;
	(void)state;

	test_config(&cfg, nc, to);
	nc[0].url = NULL;
	nc[0].url_env = "FRONTDESK_TEST_NO_SUCH_VARIABLE";
	unsetenv(nc[0].url_env);
	struct notify_env env = {.store = s, .cfg = &cfg};
	struct notifier *n = notify_new(&env);
	assert_int_equal(notify_sink(n, 0)->health, HEALTH_DOWN);
	assert_int_equal(notify_sink(n, 1)->health, HEALTH_OK);
	post(s, "u1", "urgent!", PRIO_URGENT, T0, T0 + 1800, &before, &rec, &d);
	assert_int_equal(notify_post_recorded(n, &before, &d, &rec.raw, T0), 1);
	decision_free(&d);
	assert_int_equal(store_commit_sync(s), 0);
	notify_free(n);
	store_close(s);
}

/* ---- response targets ------------------------------------------------------------------------ */

static time_t fake_now;
static time_t fake_clock(void)
{
	return fake_now;
}

static int commits;
static int commit_store(void *arg)
{
	commits++;
	return store_commit_sync(arg);
}

struct kinds {
	const char *kind;
	long n;
};

static void count_kind(void *arg, int rc, const struct store_event *v, size_t n)
{
	struct kinds *k = arg;
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++)
		k->n += !strcmp(v[i].kind, k->kind);
}

/* Events of `kind` the ticket has. */
static long events(struct store *s, int64_t ticket, const char *kind)
{
	struct kinds k = {kind, 0};
	store_ticket_events(s, ticket, 0, count_kind, &k);
	return k.n;
}

static void got_stats(void *arg, int rc, const struct sla_stats *st)
{
	assert_int_equal(rc, 0);
	*(struct sla_stats *)arg = *st;
}

static void test_warn_at(void **state)
{
	(void)state;
	/* 4 h target: 15 minutes ahead. */
	assert_int_equal(sla_warn_at(T0, T0 + 4 * 3600), T0 + 4 * 3600 - 900);
	/* 30 min target: a fifth of it, 6 minutes ahead. */
	assert_int_equal(sla_warn_at(T0, T0 + 1800), T0 + 1800 - 360);
	/* Overnight (due Monday 11:00 for a Friday 22:00 post): 15 min ahead. */
	assert_int_equal(sla_warn_at(T0, T0 + 61 * 3600), T0 + 61 * 3600 - 900);
	/* No due time, or due at creation. */
	assert_int_equal(sla_warn_at(T0, 0), 0);
	assert_int_equal(sla_warn_at(T0, T0), T0);
}

static void test_sla_moments(void **state)
{
	struct config cfg;
	struct notify_conf nc[2];
	char *to[] = {"owner@acme.example", NULL};
	struct store *s = open_store();
	struct store_thread before;
	struct ss_rec rec = {0};
	struct decision d;
	struct rows rs = {0};
	struct loop l;
	(void)state;

	memset(&l, 0, sizeof(l));
	assert_int_equal(uv_loop_init(&l.uv), 0);
	time_t (*real_clock)(void) = sla_now;
	sla_now = fake_clock;
	fake_now = T0;
	test_config(&cfg, nc, to);
	struct notify_env env = {.store = s, .cfg = &cfg};
	struct notifier *n = notify_new(&env);
	struct metrics *m = metrics_new();

	int64_t a = post(s, "a", "first", PRIO_NORMAL, T0, T0 + 4 * 3600, &before, &rec, &d);
	decision_free(&d);
	int64_t b = post(s, "b", "second", PRIO_URGENT, T0, T0 + 1800, &before, &rec, &d);
	decision_free(&d);
	assert_int_equal(store_commit_sync(s), 0);

	struct sla *sla = sla_new(&l, s, n, m, commit_store, s);
	assert_non_null(sla);
	assert_int_equal(sla_open(sla), 2);
	assert_int_equal(sla_overdue(sla), 0);

	/* Nothing before b's warning time (6 minutes ahead of its 30). */
	fake_now = T0 + 1800 - 361;
	commits = 0;
	sla_run(sla);
	assert_int_equal(commits, 0);
	assert_int_equal(events(s, b, "due_soon"), 0);

	fake_now = T0 + 1800 - 360;
	sla_run(sla);
	assert_int_equal(commits, 1);
	assert_int_equal(events(s, b, "due_soon"), 1);
	assert_int_equal(events(s, a, "due_soon"), 0);
	rows_read(s, &rs);
	assert_int_equal(rs.n, 2); /* urgent: the hook and the e-mail */
	for (size_t i = 0; i < rs.n; i++)
		assert_int_equal(rs.r[i].it.event, NOTIFY_DUE_SOON);

	/* Again at the same time: nothing new. */
	sla_run(sla);
	assert_int_equal(events(s, b, "due_soon"), 1);

	/* b is missed at its due time. */
	fake_now = T0 + 1800;
	sla_run(sla);
	assert_int_equal(events(s, b, "missed"), 1);
	assert_int_equal(sla_overdue(sla), 1);
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_non_null(strstr(out.p, "frontdesk_response_targets_missed_total{priority=\"urgent\"} 1"));
	assert_non_null(strstr(out.p, "frontdesk_tickets_open 2"));
	assert_non_null(strstr(out.p, "frontdesk_tickets_overdue 1"));
	buf_free(&out);

	/* An agent answers a in time: no warning for a, first response observed. */
	fake_now = T0 + 600;
	const char *parts[] = {"on its way!"};
	assert_int_equal(ss_agent_reply(s, a, "sam", "Sam", parts, 1, T0 + 600, NULL), 0);
	assert_int_equal(store_commit_sync(s), 0);
	sla_changed(sla, a);
	fake_now = T0 + 4 * 3600 + 10;
	sla_run(sla);
	assert_int_equal(events(s, a, "due_soon"), 0);
	assert_int_equal(events(s, a, "missed"), 0);
	buf_init(&out, 0);
	metrics_render(m, &out);
	assert_non_null(strstr(out.p, "frontdesk_first_response_seconds_count 1"));
	assert_non_null(strstr(out.p, "frontdesk_first_response_seconds_sum 600"));

	/* Resolved by another process: seen on the next rebuild. */
	assert_int_equal(ss_resolve(s, b, "sam", T0 + 5 * 3600), 0);
	assert_int_equal(store_commit_sync(s), 0);
	sla_changed(sla, 0);
	assert_int_equal(sla_open(sla), 1);
	buf_reset(&out);
	metrics_render(m, &out);
	assert_non_null(strstr(out.p, "frontdesk_resolution_seconds_count 1"));
	buf_free(&out);

	/* A restart neither repeats nor forgets: b's marks stay single, and a
	 * ticket that fell due while "down" is reported at start. */
	sla_stop(sla);
	uv_run(&l.uv, UV_RUN_DEFAULT);
	sla_free(sla);
	int64_t c = post(s, "c", "third", PRIO_LOW, T0, T0 + 3600, &before, &rec, &d);
	decision_free(&d);
	assert_int_equal(store_commit_sync(s), 0);
	fake_now = T0 + 2 * 3600;
	sla = sla_new(&l, s, n, m, commit_store, s);
	sla_run(sla);
	assert_int_equal(events(s, c, "missed"), 1);
	assert_int_equal(events(s, c, "due_soon"), 0);
	assert_int_equal(events(s, b, "missed"), 1);

	/* Statistics over the window. */
	struct sla_stats st;
	memset(&st, 0xff, sizeof(st));
	sla_stats(s, fake_now, got_stats, &st);
	assert_int_equal(st.open, 2);    /* a (answered, still open) and c */
	assert_int_equal(st.overdue, 1); /* c */
	assert_int_equal(st.answered, 1);
	assert_int_equal(st.resolved, 1);
	assert_int_equal(st.met, 1);    /* a answered in 10 min */
	assert_int_equal(st.missed, 2); /* b and c */
	assert_true(st.first_response_p50 == 600.0);
	assert_true(st.resolution_p50 == 5.0 * 3600);

	sla_stop(sla);
	uv_run(&l.uv, UV_RUN_DEFAULT);
	sla_free(sla);
	assert_int_equal(uv_loop_close(&l.uv), 0);
	rows_free(&rs);
	metrics_free(m);
	notify_free(n);
	store_close(s);
	sla_now = real_clock;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_neutralise_mentions),
	    cmocka_unit_test(test_neutralise_controls_and_cut),
	    cmocka_unit_test(test_digest_window),
	    cmocka_unit_test(test_event_roundtrip),
	    cmocka_unit_test(test_formats),
	    cmocka_unit_test(test_formats_markup),
	    cmocka_unit_test(test_digest_render),
	    cmocka_unit_test(test_email_message),
	    cmocka_unit_test(test_customer_reply),
	    cmocka_unit_test(test_warn_at),
	    cmocka_unit_test_setup_teardown(test_queue_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_target, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sla_moments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
