/*
 * test_connector.c - the registry (types this build runs, their keys and
 * capabilities) and the services connectors share: connector-private state
 * under the connector's name, the DM channel of a private reply opened once
 * and remembered across restarts, health and fatal errors, and the rate
 * limit a send reports holding every later send, and the one reader of a
 * connector's secrets (its error line).  A real SQLite store, real files,
 * no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "connector.h"
#include "outbox.h"
#include "store.h"
#include "store_sync.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	ss_tmp_make("fd-conn", dir, sizeof(dir), path, sizeof(path));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ss_tmp_remove(dir, path);
	return 0;
}

static void test_registry(void **state)
{
	(void)state;
	const char *const *names = connector_type_names();
	size_t n = 0;
	for (; names[n]; n++)
		assert_ptr_equal(connector_type(names[n])->type, connector_type(names[n])->type);
	assert_true(n >= 2);
	assert_non_null(connector_type("webchat"));
	assert_non_null(connector_type("mastodon"));
	assert_null(connector_type("no-such-platform"));
	assert_null(connector_type(NULL));
	assert_non_null(strstr(connector_type_list(), "webchat, mastodon"));
	/* Every type declares its keys and a parser, so config.c needs no list. */
	for (size_t i = 0; names[i]; i++) {
		const struct connector_ops *o = connector_type(names[i]);
		assert_non_null(o->keys);
		assert_non_null(o->parse);
		assert_non_null(o->start);
		assert_non_null(o->send);
	}
	/* Web chat shows who wrote a message; Mastodon cannot: signed there. */
	assert_true(connector_type_shows_sender("webchat"));
	assert_false(connector_type_shows_sender("mastodon"));
	assert_false(connector_type_shows_sender("unknown"));
}

/* --- a connector on a real store ---------------------------------------------------- */

static const struct connector_ops fake_ops = {.type = "fake"};

struct fx {
	struct store *s;
	struct connector_host host;
	struct connector c;
	int opens;
	const char *open_answer; /* channel the platform gives, NULL = refuses */
	struct connector_dm_req *held;
	int answers, last_rc;
	char last_channel[64];
	int sends;
	int64_t last_id;
	enum send_result last_result;
	long last_retry;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->s = ss_open(path, 1);
	f->host = (struct connector_host){.store = f->s, .arg = f};
	f->c.ops = &fake_ops;
	f->c.host = &f->host;
	f->c.name = "fake-1";
}

static void fake_open(struct connector *c, const char *recipient, struct connector_dm_req *req)
{
	struct fx *f = (struct fx *)c->host->arg;
	f->opens++;
	assert_string_equal(recipient, "U123");
	if (f->open_answer && !strcmp(f->open_answer, "later"))
		f->held = req; /* the platform answers later */
	else
		connector_dm_opened(req, f->open_answer);
}

static void dm_answer(void *arg, int rc, const char *channel)
{
	struct fx *f = arg;
	f->answers++;
	f->last_rc = rc;
	snprintf(f->last_channel, sizeof(f->last_channel), "%s", channel ? channel : "");
}

static void test_dm_channel(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);

	/* The platform refuses: the caller hears -1, nothing is remembered. */
	f.open_answer = NULL;
	connector_dm_channel(&f.c, "U123", fake_open, dm_answer, &f);
	assert_int_equal(f.answers, 1);
	assert_int_equal(f.last_rc, -1);
	assert_int_equal(f.opens, 1);

	/* Opened asynchronously, then remembered: the next private reply to
	 * the same customer needs no platform call, also after a restart. */
	f.open_answer = "later";
	connector_dm_channel(&f.c, "U123", fake_open, dm_answer, &f);
	assert_int_equal(f.answers, 1);
	assert_non_null(f.held);
	connector_dm_opened(f.held, "D777");
	assert_int_equal(f.answers, 2);
	assert_int_equal(f.last_rc, 0);
	assert_string_equal(f.last_channel, "D777");
	assert_int_equal(store_commit_sync(f.s), 0);
	store_close(f.s);

	f.s = ss_open(path, 1);
	f.host.store = f.s;
	f.open_answer = NULL;
	connector_dm_channel(&f.c, "U123", fake_open, dm_answer, &f);
	assert_int_equal(f.answers, 3);
	assert_int_equal(f.last_rc, 0);
	assert_string_equal(f.last_channel, "D777");
	assert_int_equal(f.opens, 2); /* no third call */
	/* Kept under the connector's own name, kind "dm". */
	char *thread = NULL, *value = NULL;
	assert_int_equal(ss_state_get(f.s, "fake-1", "dm", "U123", &thread, &value), 1);
	assert_string_equal(value, "D777");
	free(value);
	free(thread);
	/* A private reply without a recipient cannot be delivered. */
	connector_dm_channel(&f.c, NULL, fake_open, dm_answer, &f);
	assert_int_equal(f.last_rc, -1);
	assert_int_equal(f.opens, 2);
	store_close(f.s);
}

static void test_state_and_cursor(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	assert_int_equal(connector_state_put(&f.c, "session", "gateway", NULL, "{\"seq\":42}"), 0);
	assert_int_equal(store_commit_sync(f.s), 0);
	char *thread = NULL, *value = NULL;
	assert_int_equal(ss_state_get(f.s, "fake-1", "session", "gateway", &thread, &value), 1);
	assert_string_equal(value, "{\"seq\":42}");
	free(value);
	free(thread);
	assert_int_equal(connector_state_delete(&f.c, "session", "gateway"), 0);
	assert_int_equal(ss_state_get(f.s, "fake-1", "session", "gateway", &thread, &value), 0);
	store_close(f.s);
	/* Without a store the services refuse rather than crash. */
	f.host.store = NULL;
	assert_int_equal(connector_state_put(&f.c, "session", "gateway", NULL, "x"), -1);
}

static void fake_send_done(void *arg, struct connector *c, int64_t id, enum send_result r, long retry_after,
                           const char *detail)
{
	struct fx *f = arg;
	f->sends++;
	f->last_id = id;
	f->last_result = r;
	f->last_retry = retry_after;
}

static void test_health_and_rate_limit(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	f.host = (struct connector_host){.arg = &f, .send_done = fake_send_done};
	f.c.ops = &fake_ops;
	f.c.host = &f.host;
	f.c.name = "fake-2";

	connector_set_health(&f.c, HEALTH_OK, "connected");
	assert_string_equal(connector_health_name(f.c.health), "ok");
	connector_fatal(&f.c, "4004 from the gateway: check the token");
	assert_int_equal(f.c.health, HEALTH_DOWN);
	assert_string_equal(f.c.health_detail, "4004 from the gateway: check the token");

	/* A rate limit on one send holds every send of the connector. */
	int64_t before = outbox_now_ms();
	connector_send_done(&f.c, 7, SEND_RETRY, 30, "429");
	assert_int_equal(f.sends, 1);
	assert_int_equal(f.last_id, 7);
	assert_int_equal(f.last_retry, 30);
	assert_true(f.c.paused_until_ms >= before + 30000);
	int64_t held = f.c.paused_until_ms;
	connector_send_done(&f.c, 8, SEND_RETRY, 1, "429");
	assert_int_equal(f.c.paused_until_ms, held); /* a shorter wait does not shorten it */
	connector_send_done(&f.c, 9, SEND_OK, 0, NULL);
	assert_int_equal(f.last_result, SEND_OK);

	/* Posts that are the connector's own, or lack an id, are refused at once. */
	struct post p = {.platform = "fake", .post_id = "1", .thread_key = "t", .is_self = 1};
	assert_int_equal(connector_deliver_post(&f.c, &p, NULL), -1);
	p.is_self = 0;
	p.post_id = "";
	assert_int_equal(connector_deliver_post(&f.c, &p, NULL), -1);
}

/* --- one consumer at a time -------------------------------------------------------- */

static int oc_starts, oc_stops, oc_resumes;
static int oc_start(struct connector *c)
{
	(void)c;
	oc_starts++;
	return 0;
}
static void oc_stop(struct connector *c)
{
	(void)c;
	oc_stops++;
}
static void oc_resume(struct connector *c)
{
	(void)c;
	oc_resumes++;
}
static const struct connector_ops one_ops = {
    .type = "one", .caps = CONNECTOR_ONE_CONSUMER, .start = oc_start, .stop = oc_stop, .resume = oc_resume};

/*
 * A type that allows one consumer (a Telegram poller) on a store of one
 * process (SQLite) runs at once: it is never stopped to wait for a lead
 * nor resumed, and the outbox sends its replies here.  Telegram declares
 * the capability (its long polling would fight a second reader).
 */
static void test_one_consumer_on_sqlite(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.c.ops = &one_ops;
	f.c.name = "one-1";
	oc_starts = oc_stops = oc_resumes = 0;
	assert_int_equal(connector_start(&f.c), 0);
	assert_int_equal(oc_starts, 1);
	assert_int_equal(oc_stops, 0);
	assert_int_equal(oc_resumes, 0);
	assert_int_equal(f.c.standby, 0);
	assert_int_equal(f.c.held, 0);
	assert_true(f.c.health != HEALTH_STANDBY);
	assert_non_null(f.c.leader);
	store_leader_cancel(f.c.leader);
	f.c.leader = NULL;
	store_close(f.s);

	const struct connector_ops *tg = connector_type("telegram");
	assert_non_null(tg);
	assert_true(tg->caps & CONNECTOR_ONE_CONSUMER);
	assert_non_null(tg->stop);
	assert_non_null(tg->resume);
}

/* --- secrets ------------------------------------------------------------------------ */

/* Run connector_secret_read with stderr (the log) captured into log. */
static int read_logged(struct connector *c, const struct config_secret *s, const char *what, char *out,
                       size_t n, char *log, size_t logn)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	int rc = connector_secret_read(c, s, what, out, n);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(tmp);
	size_t got = fread(log, 1, logn - 1, tmp);
	log[got] = '\0';
	fclose(tmp);
	return rc;
}

static void write_secret(const char *p, const char *text, mode_t mode)
{
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(p, mode), 0);
}

static void test_secret_read(void **state)
{
	(void)state;
	static const struct connector_ops tg_ops = {.type = "telegram"};
	struct connector c = {.ops = &tg_ops, .name = "tg-shop"};
	char out[64], log[2048], file[192];
	struct config_secret s = {0};

	/* From the environment, as it is. */
	setenv("FD_TEST_SECRET", "123:abc", 1);
	s.env = "FD_TEST_SECRET";
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), 0);
	assert_string_equal(out, "123:abc");
	assert_string_equal(log, "");

	/* A variable not set: one error line naming the connector, the
	 * secret and why; nothing left in out. */
	unsetenv("FD_TEST_SECRET");
	memset(out, 'x', sizeof(out));
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), -1);
	assert_non_null(strstr(log,
	                       "level=error msg=\"telegram: cannot read the bot token\" connector=tg-shop "
	                       "error=\"environment variable FD_TEST_SECRET is not set\""));
	assert_null(strchr(strchr(log, '\n') + 1, '\n')); /* one line */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);

	/* From a file: the trailing newline (CRLF too) is not part of it. */
	s.env = NULL;
	s.file = file;
	snprintf(file, sizeof(file), "%s/token", dir);
	write_secret(file, "s3cret\r\n", 0600);
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), 0);
	assert_string_equal(out, "s3cret");

	/* Readable by others: refused, with the chmod to run. */
	assert_int_equal(chmod(file, 0644), 0);
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), -1);
	assert_non_null(strstr(log, "accessible by group or others (mode 644): run chmod 600"));
	assert_string_equal(out, "");

	/* Over the room given (or CONFIG_SECRET_MAX): too long, not cut. */
	char big[200];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_secret(file, big, 0600);
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), -1);
	assert_non_null(strstr(log, "is too long for a secret (at most 62 bytes)"));
	assert_string_equal(out, "");

	/* Empty, two lines, missing. */
	write_secret(file, "\n", 0600);
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), -1);
	assert_non_null(strstr(log, "is empty"));
	write_secret(file, "a\nb\n", 0600);
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), -1);
	assert_non_null(strstr(log, "contains a line break"));
	assert_int_equal(unlink(file), 0);
	assert_int_equal(read_logged(&c, &s, "the bot token", out, sizeof(out), log, sizeof(log)), -1);
	assert_non_null(strstr(log, "cannot open "));
	assert_non_null(strstr(log, "No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test_setup_teardown(test_dm_channel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_and_cursor, setup, teardown),
	    cmocka_unit_test(test_health_and_rate_limit),
	    cmocka_unit_test_setup_teardown(test_one_consumer_on_sqlite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secret_read, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
