/*
 * test_outbox.c - delivery of outbox rows: backoff with full jitter stays in
 * its bounds, retry_after is honoured, failures and withdrawn replies are
 * settled, rows of a thread go out in order, rows settled by a sink before
 * their turn are never sent, and text is cut at words and never inside a
 * UTF-8 sequence or grapheme cluster.
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
#include <unistd.h>
#include <utf8proc.h>

#include "config.h"
#include "outbox.h"
#include "store.h"
#include "store_sync.h"

/* --- backoff ------------------------------------------------------------- */

static void backoff_bounds(void **state)
{
	(void)state;
	uint64_t r = 88172645463325252ull;
	for (int attempt = 1; attempt <= 30; attempt++) {
		long span = OUTBOX_BASE_MS;
		for (int i = 1; i < attempt && span < OUTBOX_CAP_MS; i++)
			span *= 2;
		if (span > OUTBOX_CAP_MS)
			span = OUTBOX_CAP_MS;
		long lo = 1L << 62, hi = 0;
		for (int i = 0; i < 2000; i++) {
			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			long d = outbox_backoff_ms(attempt, r);
			assert_true(d >= OUTBOX_MIN_MS);
			assert_true(d < OUTBOX_MIN_MS + span);
			assert_true(d < OUTBOX_MIN_MS + OUTBOX_CAP_MS);
			if (d < lo)
				lo = d;
			if (d > hi)
				hi = d;
		}
		/* Full jitter: the draws spread over the whole window. */
		assert_true(lo < OUTBOX_MIN_MS + span / 10);
		assert_true(hi > OUTBOX_MIN_MS + span - span / 10 - 1);
	}
	assert_int_equal(outbox_backoff_ms(1, 0), OUTBOX_MIN_MS);
	assert_int_equal(outbox_backoff_ms(50, UINT64_MAX) < OUTBOX_MIN_MS + OUTBOX_CAP_MS, 1);
}

/* --- splitting ------------------------------------------------------------ */

static size_t chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

static int valid_utf8(const char *s)
{
	utf8proc_int32_t c;
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		utf8proc_ssize_t n =
		    utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
		if (n <= 0)
			return 0;
		i += (size_t)n;
	}
	return 1;
}

static void free_parts(char **p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i]);
}

static void split_short_and_empty(void **state)
{
	(void)state;
	char *p[4];
	assert_int_equal(outbox_split("  hello there  ", 500, p, 4), 1);
	assert_string_equal(p[0], "hello there");
	free_parts(p, 1);
	assert_int_equal(outbox_split("", 500, p, 4), 0);
	assert_int_equal(outbox_split(" \n\t ", 500, p, 4), 0);
	assert_int_equal(outbox_split("no limit at all", 0, p, 4), 1);
	assert_string_equal(p[0], "no limit at all");
	free_parts(p, 1);
}

static void split_at_words(void **state)
{
	(void)state;
	const char *text = "We open at nine on weekdays and at ten on Saturdays; on Sundays we are closed, "
	                   "but the online shop takes orders all the time.";
	char *p[8];
	size_t n = outbox_split(text, 30, p, 8);
	assert_true(n >= 4);
	struct buf joined;
	buf_init(&joined, 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(chars(p[i]) <= 30);
		assert_true(p[i][0] != ' ' && p[i][strlen(p[i]) - 1] != ' ');
		if (i)
			buf_putc(&joined, ' ');
		buf_puts(&joined, p[i]);
	}
	/* Cut only at spaces: joining with one space gives the text back. */
	assert_string_equal(joined.p, text);
	assert_string_equal(p[0], "We open at nine on weekdays");
	buf_free(&joined);
	free_parts(p, n);
}

static void split_utf8_without_spaces(void **state)
{
	(void)state;
	/* 50 x "é" (2 bytes), 20 x "€" (3 bytes), 10 x "😀" (4 bytes), no spaces. */
	struct buf b;
	char *p[16];
	buf_init(&b, 0);
	for (int i = 0; i < 50; i++)
		buf_puts(&b, "\xc3\xa9");
	for (int i = 0; i < 20; i++)
		buf_puts(&b, "\xe2\x82\xac");
	for (int i = 0; i < 10; i++)
		buf_puts(&b, "\xf0\x9f\x98\x80");
	size_t n = outbox_split(b.p, 7, p, 16);
	assert_int_equal(n, 12); /* 80 characters in parts of 7 */
	struct buf joined;
	buf_init(&joined, 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(valid_utf8(p[i]));
		assert_true(chars(p[i]) <= 7);
		buf_puts(&joined, p[i]);
	}
	assert_string_equal(joined.p, b.p);
	buf_free(&joined);
	buf_free(&b);
	free_parts(p, n);
}

static void split_keeps_grapheme_clusters(void **state)
{
	(void)state;
	/* "abcd" then a family emoji (man ZWJ woman ZWJ girl: 5 code points)
	 * then "e" + combining acute.  A cut at 6 characters would fall inside
	 * the family; it must come before it instead. */
	const char *family = "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7";
	char text[128];
	char *p[8];
	snprintf(text, sizeof(text), "abcd%se\xcc\x81xyz", family);
	size_t n = outbox_split(text, 6, p, 8);
	assert_true(n >= 2);
	assert_string_equal(p[0], "abcd");
	assert_string_equal(p[1], family);
	/* "e" and its accent stay together. */
	assert_non_null(strstr(p[2], "e\xcc\x81"));
	free_parts(p, n);
}

static void split_too_many_parts_ends_with_ellipsis(void **state)
{
	(void)state;
	char *p[3];
	size_t n = outbox_split("one two three four five six seven eight nine ten eleven twelve", 10, p, 3);
	assert_int_equal(n, 3);
	assert_string_equal(p[0], "one two");
	assert_true(chars(p[2]) <= 10);
	size_t len = strlen(p[2]);
	assert_true(len >= 3 && strcmp(p[2] + len - 3, "\xe2\x80\xa6") == 0);
	free_parts(p, n);
}

static void split_invalid_bytes_kept(void **state)
{
	(void)state;
	char *p[4];
	size_t n = outbox_split("ab\xff\xfe cd", 3, p, 4);
	assert_int_equal(n, 3);
	assert_string_equal(p[0], "ab\xff");
	assert_string_equal(p[1], "\xfe");
	assert_string_equal(p[2], "cd");
	free_parts(p, n);
}

/* --- delivery with a fake connector and a real store --------------------- */

static char dir[64], path[128];
static int64_t fake_now = 1795000000000LL;
static int64_t clock_ms(void)
{
	return fake_now;
}

struct fake {
	struct connector c;
	struct outbox *o;
	enum send_result result; /* what the next sends report */
	long retry_after;
	int sync; /* report from inside send */
	char sent[32][64];
	int64_t sent_ids[32];
	int nsent;
	int64_t last_id;
};

static int fake_send(struct connector *c, const struct outmsg *m)
{
	struct fake *f = (struct fake *)c;
	if (f->nsent < 32) {
		snprintf(f->sent[f->nsent], sizeof(f->sent[0]), "%s", m->text);
		f->sent_ids[f->nsent] = m->id;
	}
	f->nsent++;
	f->last_id = m->id;
	if (f->sync)
		outbox_done(f->o, m->id, f->result, f->retry_after, "fake");
	return 0;
}

static const struct connector_ops fake_ops = {.type = "fake", .send = fake_send};

static struct connector *find(void *arg, const char *name)
{
	struct fake *f = arg;
	return strcmp(name, "webchat") == 0 ? &f->c : NULL;
}

struct env {
	uv_loop_t loop;
	struct store *s;
	struct fake f;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[256];
	snprintf(dir, sizeof(dir), "/tmp/fd-outbox-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	struct store_conf sc = {.path = path};
	e->s = store_open(&sc, err, sizeof(err));
	assert_non_null(e->s);
	uv_loop_init(&e->loop);
	e->f.c.ops = &fake_ops;
	e->f.c.name = "webchat";
	e->f.sync = 1;
	e->f.o = outbox_new(&e->loop, e->s, find, &e->f);
	outbox_now_ms = clock_ms;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char p[160];
	outbox_close(e->f.o);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	outbox_free(e->f.o);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	store_close(e->s);
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
	free(e);
	return 0;
}

/* Record a post in thread th with the given reply parts and commit; the
 * outbox gets the rows as the commit wrote them. */
static time_t post_created; /* the next posts' platform time, 0 = now */

static void add_post(struct env *e, const char *id, const char *th, const char *const *parts, size_t n,
                     struct ss_rec *rec, int escalate)
{
	struct post p = {.platform = "webchat",
	                 .connector = "webchat",
	                 .post_id = id,
	                 .thread_key = th,
	                 .author_id = th,
	                 .text = "hi",
	                 .created = post_created};
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = escalate ? ACTION_ESCALATE : ACTION_ANSWER;
	d.priority = escalate ? PRIO_NORMAL : PRIO_NONE;
	d.open_ticket = escalate;
	struct store_lookup l;
	assert_int_equal(ss_lookup(e->s, "webchat", id, th, &l), 0);
	struct store_record r = {.post = &p,
	                         .decision = &d,
	                         .decision_json = "{}",
	                         .parts = parts,
	                         .n_parts = n,
	                         .now = (time_t)(fake_now / 1000),
	                         .thread = &l.thread};
	ss_rec_free(rec);
	assert_int_equal(ss_record(e->s, &r, rec), 0);
	assert_int_equal(store_commit_sync(e->s), 0);
	for (size_t i = 0; i < rec->n_outbox; i++)
		outbox_add(e->f.o, &rec->rows[i]);
}

static long state_count(struct env *e, const char *st)
{
	struct store_outbox_counts c;
	assert_int_equal(ss_counts(e->s, &c), 0);
	return strcmp(st, "pending") == 0  ? c.pending
	       : strcmp(st, "sent") == 0   ? c.sent
	       : strcmp(st, "failed") == 0 ? c.failed
	                                   : c.cancelled;
}

static void delivers_in_thread_order(void **state)
{
	struct env *e = *state;
	struct ss_rec r1 = {0}, r2 = {0};
	const char *a[] = {"a1", "a2", "a3"}, *b[] = {"b1"};
	e->f.result = SEND_OK;
	add_post(e, "p1", "ta", a, 3, &r1, 0);
	add_post(e, "p2", "tb", b, 1, &r2, 0);
	assert_int_equal(outbox_pending(e->f.o), 4);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 4);
	/* a1 < a2 < a3 in order (b1 may be anywhere). */
	int ia[3], k = 0;
	for (int i = 0; i < 4; i++)
		if (e->f.sent[i][0] == 'a')
			ia[k++] = e->f.sent[i][1] - '0';
	assert_int_equal(k, 3);
	assert_true(ia[0] == 1 && ia[1] == 2 && ia[2] == 3);
	assert_int_equal(store_commit_sync(e->s), 0);
	assert_int_equal(state_count(e, "sent"), 4);
	assert_int_equal(outbox_pending(e->f.o), 0);
	assert_true(outbox_idle(e->f.o, 0));
}

/* SEND_LATER: a rate limit of the row's own route.  The wait is stored
 * with the row, no attempt is counted, and nothing else is held. */
static void later_waits_without_an_attempt(void **state)
{
	struct env *e = *state;
	struct ss_rec r1 = {0}, r2 = {0};
	const char *a[] = {"one"}, *b[] = {"two"};
	e->f.result = SEND_LATER;
	e->f.retry_after = 3;
	add_post(e, "p1", "ta", a, 1, &r1, 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 1);
	struct store_out o;
	assert_int_equal(ss_pending_row(e->s, r1.outbox[0], &o), 1);
	assert_int_equal(o.attempts, 0);
	assert_int_equal(o.not_before_ms, fake_now + 3000);
	int64_t due = o.not_before_ms;
	store_out_free(&o);
	/* The connector is not held: only SEND_RETRY with a wait pauses it. */
	connector_send_done(&e->f.c, 0, SEND_LATER, 3, NULL);
	assert_int_equal(e->f.c.paused_until_ms, 0);
	connector_send_done(&e->f.c, 0, SEND_RETRY, 3, NULL);
	assert_int_equal(e->f.c.paused_until_ms, fake_now + 3000);
	e->f.c.paused_until_ms = 0;
	/* Another conversation goes meanwhile. */
	e->f.result = SEND_OK;
	add_post(e, "p2", "tb", b, 1, &r2, 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);
	assert_string_equal(e->f.sent[1], "two");
	/* The held row waits for its time, then goes. */
	fake_now = due - 1;
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);
	fake_now = due;
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 3);
	assert_string_equal(e->f.sent[2], "one");
	assert_int_equal(store_commit_sync(e->s), 0);
	assert_int_equal(state_count(e, "sent"), 2);
}

/* A platform that takes replies only within a window after the customer's
 * last message: past it the reply fails with the reason, not sent; a
 * newer message from the customer opens the window again. */
static void reply_window_closed(void **state)
{
	struct env *e = *state;
	struct ss_rec r = {0};
	struct connector_conf cc;
	const char *a[] = {"We open at 9."};
	memset(&cc, 0, sizeof(cc));
	cc.type = "webchat";
	cc.reply_window = 24 * 3600;
	cc.agent_window = 24 * 3600;
	e->f.c.conf = &cc;
	e->f.result = SEND_OK;
	time_t now = (time_t)(fake_now / 1000);

	post_created = now - 25 * 3600; /* redelivered a day late */
	add_post(e, "old", "ta", a, 1, &r, 0);
	int64_t old_row = r.outbox[0];
	post_created = now - 3600;
	add_post(e, "fresh", "tb", a, 1, &r, 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 1);
	assert_int_equal(e->f.sent_ids[0], r.outbox[0]);
	assert_int_equal(store_commit_sync(e->s), 0);
	assert_int_equal(state_count(e, "failed"), 1);
	assert_int_equal(state_count(e, "sent"), 1);
	struct store_out o;
	assert_int_equal(ss_pending_row(e->s, old_row, &o), 0);

	/* The customer writes again: the new reply goes. */
	post_created = now - 60;
	add_post(e, "again", "ta", a, 1, &r, 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);
	post_created = 0;
	e->f.c.conf = NULL;
}

static void retry_with_backoff_and_retry_after(void **state)
{
	struct env *e = *state;
	struct ss_rec r = {0};
	const char *a[] = {"first", "second"};
	e->f.result = SEND_RETRY;
	e->f.retry_after = 0;
	add_post(e, "p1", "ta", a, 2, &r, 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 1); /* the second part waits behind the first */
	struct store_out o;
	assert_int_equal(ss_pending_row(e->s, r.outbox[0], &o), 1);
	assert_int_equal(o.attempts, 1);
	assert_true(o.not_before_ms >= fake_now + OUTBOX_MIN_MS);
	assert_true(o.not_before_ms < fake_now + OUTBOX_MIN_MS + OUTBOX_BASE_MS);
	int64_t due = o.not_before_ms;
	store_out_free(&o);

	/* Not before its time. */
	fake_now = due - 1;
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 1);
	assert_false(outbox_idle(e->f.o, 10));
	assert_true(outbox_idle(e->f.o, 0));

	/* At its time it goes again; now the platform asks for 120 s. */
	fake_now = due;
	e->f.retry_after = 120;
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);
	assert_int_equal(ss_pending_row(e->s, r.outbox[0], &o), 1);
	assert_int_equal(o.attempts, 2);
	assert_true(o.not_before_ms >= fake_now + 120000);
	due = o.not_before_ms;
	store_out_free(&o);
	fake_now += 119000;
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);

	/* Then it works, and the second part follows in the same run. */
	fake_now = due;
	e->f.result = SEND_OK;
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 4);
	assert_string_equal(e->f.sent[3], "second");
	assert_int_equal(store_commit_sync(e->s), 0);
	assert_int_equal(state_count(e, "sent"), 2);
}

static void permanent_failure_and_give_up(void **state)
{
	struct env *e = *state;
	struct ss_rec r = {0};
	const char *a[] = {"bad"}, *b[] = {"flaky"};
	e->f.result = SEND_FAIL;
	add_post(e, "p1", "ta", a, 1, &r, 0);
	outbox_run(e->f.o);
	assert_int_equal(state_count(e, "failed"), 1);
	assert_int_equal(outbox_pending(e->f.o), 0);

	e->f.result = SEND_RETRY;
	add_post(e, "p2", "tb", b, 1, &r, 0);
	for (int i = 0; i < OUTBOX_MAX_ATTEMPTS + 5; i++) {
		outbox_run(e->f.o);
		fake_now += OUTBOX_CAP_MS + OUTBOX_MIN_MS;
	}
	assert_int_equal(e->f.nsent, 1 + OUTBOX_MAX_ATTEMPTS);
	assert_int_equal(state_count(e, "failed"), 2);
	assert_int_equal(outbox_pending(e->f.o), 0);
}

static void withdrawn_when_claimed_before_sending(void **state)
{
	struct env *e = *state;
	struct ss_rec r = {0};
	const char *ack[] = {"A person will reply soon."};
	e->f.result = SEND_OK;
	add_post(e, "p1", "ta", ack, 1, &r, 1);
	/* The agent claims between the decision and the send. */
	assert_int_equal(ss_claim(e->s, r.ticket_id, "sam", (time_t)(fake_now / 1000)), 0);
	assert_int_equal(store_commit_sync(e->s), 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 0);
	assert_int_equal(state_count(e, "cancelled"), 1);

	/* The agent's own reply is not withdrawn. */
	const char *reply[] = {"Hello, Sam here."};
	int64_t ids[1];
	assert_int_equal(
	    ss_agent_reply(e->s, r.ticket_id, "sam", "Sam", reply, 1, (time_t)(fake_now / 1000), ids), 0);
	assert_int_equal(store_commit_sync(e->s), 0);
	outbox_load(e->f.o);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 1);
	assert_string_equal(e->f.sent[0], "Hello, Sam here.");
}

static void settled_by_sink_before_its_turn(void **state)
{
	struct env *e = *state;
	struct ss_rec r = {0};
	const char *a[] = {"x1", "x2", "x3"};
	e->f.sync = 0;
	add_post(e, "p1", "ta", a, 3, &r, 0);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 1);
	/* A digest covered x3 too: reported before x3 was handed out. */
	outbox_done(e->f.o, r.outbox[2], SEND_OK, 0, NULL);
	outbox_done(e->f.o, r.outbox[0], SEND_OK, 0, NULL);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);
	assert_string_equal(e->f.sent[1], "x2");
	outbox_done(e->f.o, r.outbox[1], SEND_OK, 0, NULL);
	outbox_run(e->f.o);
	assert_int_equal(e->f.nsent, 2);
	/* A late duplicate report changes nothing. */
	outbox_done(e->f.o, r.outbox[1], SEND_RETRY, 0, NULL);
	assert_int_equal(store_commit_sync(e->s), 0);
	assert_int_equal(state_count(e, "sent"), 3);
	assert_int_equal(outbox_pending(e->f.o), 0);
}

static void reload_after_restart_and_unknown_connector(void **state)
{
	struct env *e = *state;
	struct ss_rec r = {0};
	const char *a[] = {"left over"};
	/* Rows committed by an earlier run are found by outbox_load. */
	struct post p = {.platform = "webchat",
	                 .connector = "gone",
	                 .post_id = "p9",
	                 .thread_key = "tz",
	                 .author_id = "tz",
	                 .text = "hi"};
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ANSWER;
	struct store_thread none = {0};
	struct store_record rr = {.post = &p,
	                          .decision = &d,
	                          .decision_json = "{}",
	                          .parts = a,
	                          .n_parts = 1,
	                          .now = 1,
	                          .thread = &none};
	assert_int_equal(ss_record(e->s, &rr, &r), 0);
	add_post(e, "p1", "ta", a, 1, &r, 0);
	e->f.result = SEND_OK;
	outbox_reload(e->f.o);
	assert_int_equal(outbox_pending(e->f.o), 2);
	outbox_run(e->f.o);
	/* The row for a connector that is not running waits and retries. */
	assert_int_equal(e->f.nsent, 1);
	assert_int_equal(outbox_pending(e->f.o), 1);
	assert_int_equal(store_commit_sync(e->s), 0);
	assert_int_equal(state_count(e, "pending"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(backoff_bounds),
	    cmocka_unit_test(split_short_and_empty),
	    cmocka_unit_test(split_at_words),
	    cmocka_unit_test(split_utf8_without_spaces),
	    cmocka_unit_test(split_keeps_grapheme_clusters),
	    cmocka_unit_test(split_too_many_parts_ends_with_ellipsis),
	    cmocka_unit_test(split_invalid_bytes_kept),
	    cmocka_unit_test_setup_teardown(delivers_in_thread_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(reply_window_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(retry_with_backoff_and_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(later_waits_without_an_attempt, setup, teardown),
	    cmocka_unit_test_setup_teardown(permanent_failure_and_give_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(withdrawn_when_claimed_before_sending, setup, teardown),
	    cmocka_unit_test_setup_teardown(settled_by_sink_before_its_turn, setup, teardown),
	    cmocka_unit_test_setup_teardown(reload_after_restart_and_unknown_connector, setup, teardown),
	};
	log_threshold = LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
