/*
 * test_config.c - config.yaml: a complete config loads with the right
 * values, defaults fill what is left out, every error of a bad config is
 * reported at once with file:line:column, globs resolve against the config
 * directory, and secrets are read only from files nobody else can read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "connector.h"
#include "connectors/mastodon/mastodon.h"
#include "connectors/webchat/webchat.h"
#include "sentiment.h"

#define HASH "$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD"

static char tmpdir[64];

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (char *p = path + strlen(tmpdir) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fd-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	write_file("rules/b.yaml", "[]\n", 0644);
	write_file("rules/a.yaml", "[]\n", 0644);
	write_file("rules/lexicon/en.yaml", "{}\n", 0644);
	write_file("replies/en.yaml", "{}\n", 0644);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct config *load_text(const char *text, struct diag *d)
{
	return config_load_mem("config.yaml", tmpdir, text, strlen(text), d);
}

static struct config *must_load(const char *text)
{
	struct diag d;
	diag_init(&d);
	struct config *c = load_text(text, &d);
	if (!c)
		fail_msg("config refused:\n%s", d.out.p ? d.out.p : "");
	diag_free(&d);
	return c;
}

/* The error list of a config that must be refused. */
static char *errors_of(const char *text)
{
	struct diag d;
	diag_init(&d);
	struct config *c = load_text(text, &d);
	if (c)
		fail_msg("config was accepted:\n%s", text);
	assert_true(d.errors > 0);
	char *s = buf_steal(&d.out);
	diag_free(&d);
	return s;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static char *in_tmp(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

#define MINIMAL "business: { name: Shop, timezone: Europe/London }\n"

static void test_full_config(void **state)
{
	(void)state;
	static const char text[] =
	    "business:\n"
	    "  name: Acme Bakery\n"
	    "  timezone: Europe/London\n"
	    "  hours: { mon-fri: \"09:00-17:30\", sat: \"10:00-14:00\", sun: closed }\n"
	    "  holidays: [\"2026-12-25\", \"2026-12-26\"]\n"
	    "  contact: { phone: \"+44 20 7946 0000\", email: hello@acme.example }\n"
	    "  response_targets: { urgent: 15m, high: 2h, normal: 1h30m, low: 2d }\n"
	    "rules: [rules/*.yaml]\n"
	    "replies: replies/en.yaml\n"
	    "sentiment: { lexicon: [rules/lexicon/*.yaml], threshold: -0.25 }\n"
	    "store: { path: data/fd.db, synchronous: normal, min_free: 2MB, retention: { conversations: 90d, "
	    "outbox: never } }\n"
	    "connectors:\n"
	    "  - { type: webchat, listen: \"127.0.0.1:9000\", limits: { connections_per_address: 5, "
	    "messages_per_minute: 12 }, allowed_origins: [\"https://shop.example/\", "
	    "\"http://localhost:3000\"], page_url: \"https://shop.example/contact/\" }\n"
	    "  - { type: mastodon, instance: https://mastodon.example/, token_env: MASTO_TOKEN, channel: "
	    "social }\n"
	    "  - { type: mastodon, name: local, instance: \"http://127.0.0.1:3000\", token_file: secrets/t, "
	    "streaming: \"ws://[::1]:4000\" }\n"
	    "dashboard:\n"
	    "  listen: \"0.0.0.0:9001\"\n"
	    "  agents:\n"
	    "    - { login: sam, name: Sam, password_hash: \"" HASH "\" }\n"
	    "    - { login: kim, password_hash: \"" HASH "\" }\n"
	    "notify:\n"
	    "  - { type: webhook, url: \"https://hooks.example/x\", format: slack, min_priority: high }\n"
	    "  - { type: webhook, url_env: HOOK_URL }\n"
	    "  - { type: email, smtp: \"smtps://mail.example:465\", from: bot@acme.example, to: "
	    "[a@acme.example, "
	    "b@acme.example], username: bot, password_file: smtp.pw }\n"
	    "bot: { cooldown: 5m, human_ack_interval: 2h }\n"
	    "log: { level: debug }\n";
	struct config *c = must_load(text);
	char *p;

	assert_string_equal(c->business_name, "Acme Bakery");
	assert_string_equal(c->timezone, "Europe/London");
	assert_string_equal(hours_tz(c->hours), "Europe/London");
	assert_string_equal(c->phone, "+44 20 7946 0000");
	assert_string_equal(c->email, "hello@acme.example");
	assert_int_equal(c->target[PRIO_URGENT], 15 * 60);
	assert_int_equal(c->target[PRIO_HIGH], 2 * 3600);
	assert_int_equal(c->target[PRIO_NORMAL], 90 * 60);
	assert_int_equal(c->target[PRIO_LOW], 2 * 86400);
	assert_int_equal(strv_len(c->rule_files), 2);
	p = in_tmp("rules/a.yaml");
	assert_string_equal(c->rule_files[0], p); /* sorted within the glob */
	free(p);
	p = in_tmp("replies/en.yaml");
	assert_string_equal(c->reply_files[0], p);
	assert_null(c->reply_files[1]);
	free(p);
	assert_int_equal(strv_len(c->lexicon_files), 1);
	assert_true(fabs(c->negative_threshold + 0.25) < 1e-9);
	p = in_tmp("data/fd.db");
	assert_string_equal(c->store_path, p);
	free(p);
	assert_int_equal(c->store_sync_full, 0);
	assert_true(c->store_min_free == 2LL << 20);
	assert_int_equal(c->retention.conversations, 90 * 86400);
	assert_int_equal(c->retention.outbox, 0);
	assert_int_equal(c->retention.visitors, 7 * 86400);

	assert_int_equal(c->nconnectors, 3);
	const struct connector_conf *w = config_connector(c, "webchat");
	assert_non_null(w);
	assert_ptr_equal(w->ops, connector_type("webchat"));
	assert_string_equal(w->listen, "127.0.0.1:9000");
	const struct webchat_conf *wc = w->settings;
	assert_int_equal(wc->connections_per_address, 5);
	assert_int_equal(wc->messages_per_minute, 12);
	assert_string_equal(wc->allowed_origins[0], "https://shop.example");
	assert_string_equal(wc->allowed_origins[1], "http://localhost:3000");
	assert_null(wc->allowed_origins[2]);
	assert_string_equal(wc->page_url, "https://shop.example/contact");
	assert_int_equal(w->line, 13);
	const struct connector_conf *m = config_connector(c, "mastodon");
	assert_string_equal(m->type, "mastodon");
	const struct mastodon_conf *mc = m->settings;
	assert_string_equal(mc->instance, "https://mastodon.example");
	assert_string_equal(m->endpoint, "https://mastodon.example");
	assert_string_equal(mc->token.env, "MASTO_TOKEN");
	assert_null(mc->token.file);
	assert_null(mc->streaming);
	assert_null(m->listen);
	assert_string_equal(m->channel, "social");
	const struct connector_conf *l = config_connector(c, "local");
	const struct mastodon_conf *lc = l->settings;
	assert_string_equal(lc->instance, "http://127.0.0.1:3000");
	assert_string_equal(lc->streaming, "ws://[::1]:4000");
	p = in_tmp("secrets/t");
	assert_string_equal(lc->token.file, p);
	free(p);
	assert_null(config_connector(c, "nope"));

	assert_string_equal(c->dashboard_listen, "0.0.0.0:9001");
	assert_int_equal(c->nagents, 2);
	assert_string_equal(c->agents[0].name, "Sam");
	assert_string_equal(c->agents[1].name, "kim"); /* defaults to the login */
	assert_string_equal(c->agents[1].password_hash, HASH);
	assert_ptr_equal(config_agent(c, "SAM"), &c->agents[0]);

	assert_int_equal(c->nnotify, 3);
	assert_string_equal(c->notify[0].type, "webhook");
	assert_string_equal(c->notify[0].url, "https://hooks.example/x");
	assert_string_equal(c->notify[0].format, "slack");
	assert_int_equal(c->notify[0].min_priority, PRIO_HIGH);
	assert_string_equal(c->notify[1].url_env, "HOOK_URL");
	assert_string_equal(c->notify[1].format, "json");
	assert_int_equal(c->notify[1].min_priority, PRIO_LOW);
	assert_string_equal(c->notify[2].smtp, "smtps://mail.example:465");
	assert_string_equal(c->notify[2].to[1], "b@acme.example");
	assert_string_equal(c->notify[2].username, "bot");
	p = in_tmp("smtp.pw");
	assert_string_equal(c->notify[2].password_file, p);
	free(p);

	assert_int_equal(c->cooldown, 300);
	assert_int_equal(c->human_ack_interval, 7200);
	assert_string_equal(c->log_level, "debug");
	/* the hours are live */
	time_t t;
	assert_int_equal(time_parse_iso("2026-11-20T22:00:00Z", &t), 0);
	assert_int_equal(hours_add(c->hours, t, 2 * 3600), t + 14 * 3600);
	config_free(c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config *c = must_load(MINIMAL);
	char *p;

	assert_int_equal(c->target[PRIO_URGENT], 30 * 60);
	assert_int_equal(c->target[PRIO_HIGH], 3600);
	assert_int_equal(c->target[PRIO_NORMAL], 4 * 3600);
	assert_int_equal(c->target[PRIO_LOW], 86400);
	assert_int_equal(strv_len(c->rule_files), 2);
	assert_int_equal(strv_len(c->reply_files), 1);
	assert_int_equal(strv_len(c->lexicon_files), 1);
	p = in_tmp("frontdesk.db");
	assert_string_equal(c->store_path, p);
	free(p);
	assert_int_equal(c->store_sync_full, 1);
	assert_true(c->store_min_free == 16LL << 20);
	assert_int_equal(c->retention.conversations, 365 * 86400);
	assert_int_equal(c->retention.outbox, 30 * 86400);
	assert_int_equal(c->nconnectors, 1);
	assert_string_equal(c->connectors[0].type, "webchat");
	assert_string_equal(c->connectors[0].name, "webchat");
	assert_string_equal(c->connectors[0].listen, "127.0.0.1:8080");
	const struct webchat_conf *wc = c->connectors[0].settings;
	assert_int_equal(wc->connections_per_address, 20);
	assert_int_equal(wc->messages_per_minute, 30);
	assert_null(wc->allowed_origins);
	assert_string_equal(c->dashboard_listen, "127.0.0.1:8081");
	assert_int_equal(c->nagents, 0);
	assert_int_equal(c->nnotify, 0);
	assert_int_equal(c->cooldown, 600);
	assert_int_equal(c->human_ack_interval, 3600);
	assert_true(isnan(c->negative_threshold));
	assert_string_equal(c->log_level, "info");
	assert_null(c->phone);
	assert_true(hours_is_open(c->hours, 1795000000)); /* no hours: open around the clock */
	assert_string_equal(c->path, "config.yaml");
	assert_string_equal(c->dir, tmpdir);
	config_free(c);

	/* Empty sections and explicit "none" lists. */
	c = must_load(MINIMAL "rules: []\nbot:\nlog: {}\nconnectors: []\nstore: { path: \":memory:\" }\n");
	assert_int_equal(strv_len(c->rule_files), 0);
	assert_int_equal(c->nconnectors, 0);
	assert_string_equal(c->store_path, ":memory:");
	config_free(c);
}

static void test_many_errors(void **state)
{
	(void)state;
	static const char text[] =
	    "business:\n"                                                                 /* 1 */
	    "  name: Shop\n"                                                              /* 2 */
	    "  timezone: Europe/Lundon\n"                                                 /* 3 */
	    "  hours: { mon: \"09:00-25:00\" }\n"                                         /* 4 */
	    "  response_targets: { urgent: 30 minutes }\n"                                /* 5 */
	    "  contact: { phone: 1, emial: x }\n"                                         /* 6 */
	    "conectors:\n"                                                                /* 7 */
	    "  - { type: webchat }\n"                                                     /* 8 */
	    "store: { synchronous: fast, min_free: lots, retention: { outbox: soon } }\n" /* 9 */
	    "bot: { cooldown: 3600 }\n"                                                   /* 10 */
	    "log: { level: verbose }\n"                                                   /* 11 */
	    "sentiment: { threshold: 2 }\n";                                              /* 12 */
	char *e = errors_of(text);
	assert_contains(e, "config.yaml:3:13: business.timezone: 'Europe/Lundon': unknown time zone");
	assert_contains(e, "config.yaml:4:17: business.hours.mon: bad time range '09:00-25:00'");
	assert_contains(
	    e, "config.yaml:5:31: business.response_targets.urgent: expected a duration like 30m, 4h "
	       "or 1d (got '30 minutes')");
	assert_contains(e,
	                "config.yaml:6:24: unknown key 'emial' in business.contact (did you mean 'email'?)");
	assert_contains(e, "config.yaml:7:1: unknown key 'conectors' in the configuration (did you mean "
	                   "'connectors'?)");
	assert_contains(e,
	                "config.yaml:9:23: store.synchronous: unknown value 'fast' (expected one of: full, "
	                "normal)");
	assert_contains(
	    e, "config.yaml:9:39: store.min_free: expected a size like 16MB, 512KB or 0 (got 'lots')");
	assert_contains(e, "config.yaml:9:66: store.retention.outbox: expected a duration like 30m, 4h or 1d "
	                   "(got 'soon')");
	assert_contains(
	    e, "config.yaml:10:18: bot.cooldown: expected a duration like 30m, 4h or 1d (got '3600'; "
	       "a number needs a unit, e.g. 90s)");
	assert_contains(e, "config.yaml:11:15: log.level: unknown value 'verbose'");
	assert_contains(e,
	                "config.yaml:12:25: sentiment.threshold: expected a number from -1 to 1 (got '2')");
	free(e);
}

static void test_did_you_mean(void **state)
{
	(void)state;
	char *e = errors_of("buisness: { name: Shop, timezone: UTC }\n");
	assert_contains(
	    e, "config.yaml:1:1: unknown key 'buisness' in the configuration (did you mean 'business'?)");
	assert_contains(e, "config.yaml:1:1: missing required section 'business'");
	free(e);

	e = errors_of("business: { name: Shop, timezon: UTC }\n"
	              "connectors:\n"
	              "  - { type: mastadon, instance: https://m.example, token_env: T }\n"
	              "  - { type: webchat, lisen: \"127.0.0.1:1\", token_env: T }\n"
	              "notify:\n"
	              "  - { type: webhok, url: \"https://h.example\" }\n");
	assert_contains(e, "config.yaml:1:25: unknown key 'timezon' in business (did you mean 'timezone'?)");
	assert_contains(e, "config.yaml:1:11: business: missing required key 'timezone'");
	assert_contains(e, "config.yaml:3:13: connectors[0].type: unknown value 'mastadon' (did you mean "
	                   "'mastodon'?)");
	assert_contains(e, "config.yaml:4:22: unknown key 'lisen' in connectors[1] (did you mean 'listen'?)");
	assert_contains(e,
	                "config.yaml:4:44: connectors[1]: 'token_env' does not apply to a webchat connector");
	assert_contains(e,
	                "config.yaml:6:13: notify[0].type: unknown value 'webhok' (did you mean 'webhook'?)");
	free(e);
}

static void test_connector_errors(void **state)
{
	(void)state;
	char *e = errors_of(
	    MINIMAL "connectors:\n"
	            "  - { type: mastodon, instance: \"http://mastodon.example\", token_env: T }\n" /* 3 */
	            "  - { type: mastodon, name: m2, token_env: \"my secret\" }\n"                  /* 4 */
	            "  - { type: mastodon, name: m3, instance: \"https://u:p@m.example\", token_env: A, "
	            "token_file: f }\n"                                             /* 5 */
	            "  - { type: webchat, listen: \"::1:8080\" }\n"                 /* 6 */
	            "  - { type: webchat, name: w2, listen: \"127.0.0.1:0\" }\n"    /* 7 */
	            "  - { type: webchat, name: w3, listen: \"localhost:8081\" }\n" /* 8 */
	            "  - { type: webchat, name: w4, listen: \"0.0.0.0:8081\" }\n"   /* 9 */
	            "  - { type: irc, token_env: B }\n"                             /* 10 */
	            "  - { type: bridge }\n"                                        /* 11 */
	            "  - { type: webchat, name: w3, limits: { messages_per_minute: 0 }, "
	            "allowed_origins: [\"https://a.example/path\", \"*\"] }\n" /* 12 */
	            "  - { name: x }\n"                                        /* 13 */
	            "  - just a string\n");                                    /* 14 */
	assert_contains(e,
	                "config.yaml:3:33: connectors[0].instance: 'http://mastodon.example' must start with "
	                "https:// (http:// only on loopback)");
	assert_contains(e, "config.yaml:4:5: connectors[1]: missing required key 'instance'");
	assert_contains(e, "config.yaml:4:44: connectors[1].token_env: 'my secret' does not look like an "
	                   "environment variable name");
	assert_contains(e, "config.yaml:5:43: connectors[2].instance: credentials do not belong in a URL");
	assert_contains(e, "config.yaml:5:94: connectors[2]: give either token_env or token_file, not both");
	assert_contains(e,
	                "config.yaml:6:30: connectors[3].listen: '::1:8080': an IPv6 address needs brackets");
	assert_contains(e,
	                "config.yaml:7:40: connectors[4].listen: '127.0.0.1:0': port must be a number from 1 "
	                "to 65535");
	/* an invalid listen address does not fall back to the default and clash with it */
	assert_null(strstr(e, "127.0.0.1:8080 clashes"));
	assert_contains(e,
	                "config.yaml:9:5: connectors[6]: listen address 0.0.0.0:8081 clashes with connector "
	                "'w3' (line 8, localhost:8081)");
	/* Types this build cannot run are refused at check, with the ones it can. */
	char runs[512];
	snprintf(
	    runs, sizeof(runs),
	    "config.yaml:10:13: connectors[7].type: this build of frontdesk has no 'irc' connector (it runs: "
	    "%s)",
	    connector_type_list());
	assert_contains(e, runs);
	assert_non_null(strstr(connector_type_list(), "webchat, mastodon"));
	assert_contains(e, "config.yaml:11:5: connectors[8]: missing token_env or token_file (the token your "
	                   "adapter sends)");
	assert_contains(e, "config.yaml:12:5: connectors[9]: another connector (line 8) is also named 'w3'");
	assert_contains(
	    e, "config.yaml:12:63: connectors[9].limits.messages_per_minute: expected a whole number "
	       "from 1 to 1000000 (got '0')");
	assert_contains(
	    e, "config.yaml:12:86: connectors[9].allowed_origins: origin 'https://a.example/path' must "
	       "be scheme://host[:port] without a path");
	assert_contains(e, "config.yaml:13:5: connectors[10]: missing required key 'type'");
	assert_contains(e, "config.yaml:14:5: expected a mapping for connectors[11]");
	/* the dashboard's default 127.0.0.1:8081 clashes with w3 and w4 */
	assert_contains(
	    e, "config.yaml:8:5: connector 'w3' listens on localhost:8081, where the dashboard listens "
	       "by default: set dashboard.listen to another address");
	assert_contains(e, "config.yaml:9:5: connector 'w4' listens on 0.0.0.0:8081");
	free(e);

	/* Two default webchats share a name and a listen address. */
	e = errors_of(MINIMAL "connectors: [{ type: webchat }, { type: webchat }]\n");
	assert_contains(
	    e, "config.yaml:2:33: connectors[1]: another connector (line 2) is also named 'webchat'");
	assert_contains(e, "connectors[1]: listen address 127.0.0.1:8080 clashes with connector 'webchat'");
	free(e);

	/* An explicit dashboard address clashing is reported at it. */
	e = errors_of(MINIMAL "connectors: [{ type: webchat, listen: \"[::]:9000\" }]\n"
	                      "dashboard: { listen: \"[::1]:9000\" }\n");
	assert_contains(e, "config.yaml:3:22: dashboard.listen: [::1]:9000 clashes with connector 'webchat'");
	free(e);
}

static void test_dashboard_and_notify_errors(void **state)
{
	(void)state;
	char *e = errors_of(
	    MINIMAL
	    "dashboard:\n"
	    "  listen: \"[::1]:8081\"\n"
	    "  agents:\n"
	    "    - { login: sam, password_hash: \"$y$...\" }\n"                             /* 5 */
	    "    - { login: Sam, password_hash: \"$1$abcdefgh$0123456789012345678901\" }\n" /* 6 */
	    "    - { login: \"a b\", password_hash: \"" HASH "\" }\n"                       /* 7 */
	    "    - { name: Nobody }\n"                                                      /* 8 */
	    "notify:\n"
	    "  - { type: webhook }\n"                                                  /* 10 */
	    "  - { type: webhook, url: \"http://hooks.example\", format: teams }\n"    /* 11 */
	    "  - { type: email, smtp: \"https://mail.example\", from: bot, to: [] }\n" /* 12 */
	    "  - { type: email, smtp: \"smtp://mail.example:587\", from: a@b.example, to: x@y.example, "
	    "username: u, url: \"https://x.example\", min_priority: highest }\n"); /* 13 */
	assert_contains(e, "config.yaml:5:36: dashboard.agents[0].password_hash: not a crypt(3) hash");
	assert_contains(e, "config.yaml:6:36: dashboard.agents[1].password_hash: not a crypt(3) hash");
	assert_contains(e, "config.yaml:6:16: dashboard.agents[1].login: 'Sam' is used by two agents");
	assert_contains(e, "config.yaml:7:16: dashboard.agents[2].login: 'a b' may only hold");
	assert_contains(e, "config.yaml:8:7: dashboard.agents[3]: missing required key 'login'");
	assert_contains(
	    e, "config.yaml:8:7: dashboard.agents[3]: missing required key 'password_hash' (make one "
	       "with: frontdesk passwd)");
	assert_contains(e, "config.yaml:10:5: notify[0]: give exactly one of url, url_env or url_file");
	assert_contains(e,
	                "config.yaml:11:27: notify[1].url: 'http://hooks.example' must start with https://");
	assert_contains(e, "config.yaml:11:59: notify[1].format: unknown value 'teams' (expected one of: "
	                   "slack, discord, mattermost, json)");
	assert_contains(e,
	                "config.yaml:12:26: notify[2].smtp: 'https://mail.example' must start with smtps://");
	assert_contains(e, "config.yaml:12:56: notify[2].from: 'bot' is not an e-mail address");
	assert_contains(e, "config.yaml:12:65: notify[2].to: needs at least one address");
	assert_contains(
	    e, "config.yaml:13:5: notify[3]: missing password_env or password_file (the SMTP password)");
	assert_contains(e, "config.yaml:13:102: notify[3]: 'url' does not apply to an email notification");
	assert_contains(e, "config.yaml:13:142: notify[3].min_priority: unknown value 'highest'");
	free(e);
}

/* Listener protection: trusted proxies, limits, host names, metrics token. */
static void test_listener_keys(void **state)
{
	(void)state;
	struct config *c =
	    must_load(MINIMAL "connectors:\n"
	                      "  - type: webchat\n"
	                      "    trusted_proxies: [127.0.0.1, \"10.0.0.0/8\", \"fd00::/8\"]\n"
	                      "    proxy_header: forwarded\n"
	                      "    limits: { connections: 100, connections_per_address: 7 }\n"
	                      "dashboard:\n"
	                      "  listen: \"192.0.2.10:8081\"\n"
	                      "  hosts: [Dash.Example.COM, \"192.0.2.10\"]\n"
	                      "  trusted_proxies: 127.0.0.1\n"
	                      "  limits: { connections: 50, connections_per_address: 5 }\n"
	                      "  metrics_token_env: METRICS_TOKEN\n");
	const struct webchat_conf *w = c->connectors[0].settings;
	assert_int_equal(w->max_connections, 100);
	assert_int_equal(w->connections_per_address, 7);
	assert_string_equal(w->proxies.trusted[2], "fd00::/8");
	assert_null(w->proxies.trusted[3]);
	assert_int_equal(w->proxies.forwarded, 1);
	assert_string_equal(c->dashboard_hosts[0], "dash.example.com");
	assert_string_equal(c->dashboard_hosts[1], "192.0.2.10");
	assert_null(c->dashboard_hosts[2]);
	assert_string_equal(c->dashboard_proxies.trusted[0], "127.0.0.1");
	assert_int_equal(c->dashboard_proxies.forwarded, 0);
	assert_int_equal(c->dashboard_max_connections, 50);
	assert_int_equal(c->dashboard_connections_per_address, 5);
	assert_string_equal(c->metrics_token.env, "METRICS_TOKEN");
	config_free(c);

	/* Default host names: the listen address, localhost, loopback. */
	c = must_load(MINIMAL "dashboard: { listen: \"[::1]:9001\" }\n");
	assert_string_equal(c->dashboard_hosts[0], "::1");
	assert_string_equal(c->dashboard_hosts[1], "localhost");
	assert_string_equal(c->dashboard_hosts[2], "127.0.0.1");
	assert_null(c->dashboard_hosts[3]);
	config_free(c);
	/* A wildcard listen address is no host name anyone types. */
	c = must_load(MINIMAL "dashboard: { listen: \"0.0.0.0:9001\" }\n");
	assert_string_equal(c->dashboard_hosts[0], "localhost");
	config_free(c);

	char *e = errors_of(MINIMAL "connectors:\n"
	                            "  - type: webchat\n"
	                            "    trusted_proxies: [proxy.example, \"10.0.0.0/33\"]\n" /* 4 */
	                            "    proxy_header: x-real-ip\n"                           /* 5 */
	                            "dashboard:\n"
	                            "  hosts: [\"https://dash.example\", \"dash.example:8081\"]\n" /* 7 */
	                            "  proxy_header: forwarded\n");                                /* 8 */
	assert_contains(
	    e, "config.yaml:4:23: connectors[0].trusted_proxies: 'proxy.example' is not an IP address");
	assert_contains(e,
	                "config.yaml:4:38: connectors[0].trusted_proxies: '10.0.0.0/33': the prefix length");
	assert_contains(e, "config.yaml:5:19: connectors[0].proxy_header: unknown value 'x-real-ip'");
	assert_contains(e, "config.yaml:7:11: dashboard.hosts: 'https://dash.example' is not a host name");
	assert_contains(e, "dashboard.hosts: 'dash.example:8081' is not a host name");
	assert_contains(e, "config.yaml:8:17: dashboard.proxy_header: applies only with trusted_proxies");
	free(e);
}

/* The published example password and plain HTTP beyond this machine. */
static void test_dashboard_exposure(void **state)
{
	(void)state;
	/* On loopback: allowed, with a warning that names the line. */
	struct config *c =
	    must_load(MINIMAL "dashboard:\n"
	                      "  agents:\n"
	                      "    - { login: sam, password_hash: \"" CONFIG_EXAMPLE_PASSWORD_HASH "\" }\n");
	assert_non_null(c->warnings);
	assert_contains(c->warnings[0],
	                "config.yaml:4:36: dashboard.agents[0].password_hash: the example password");
	assert_null(c->warnings[1]);
	config_free(c);
	/* Beyond this machine: refused. */
	char *e =
	    errors_of(MINIMAL "dashboard:\n"
	                      "  listen: \"0.0.0.0:8081\"\n"
	                      "  agents:\n"
	                      "    - { login: sam, password_hash: \"" HASH "\" }\n"
	                      "    - { login: kim, password_hash: \"" CONFIG_EXAMPLE_PASSWORD_HASH "\" }\n");
	assert_contains(e,
	                "config.yaml:6:36: dashboard.agents[1].password_hash: this is the example password "
	                "('frontdesk') everyone can read, and the dashboard listens on 0.0.0.0:8081");
	free(e);
	/* A dashboard other machines reach gets plain-HTTP and /metrics warnings. */
	c = must_load(MINIMAL "dashboard: { listen: \"192.0.2.10:8081\" }\n");
	assert_contains(c->warnings[0],
	                "config.yaml:2:22: dashboard.listen: 192.0.2.10:8081 is reachable from other "
	                "machines over plain HTTP");
	assert_contains(c->warnings[1], "/metrics answers only this machine");
	assert_null(c->warnings[2]);
	config_free(c);
	c = must_load(MINIMAL "dashboard: { listen: \"[::1]:8081\", metrics_token_env: T }\n");
	assert_null(c->warnings);
	config_free(c);
}

/* A notify target tied to an agent names a real dashboard login. */
static void test_notify_agent(void **state)
{
	(void)state;
	struct config *c =
	    must_load(MINIMAL "dashboard:\n"
	                      "  agents: [ { login: sam, name: Sam, password_hash: \"" HASH "\" } ]\n"
	                      "notify:\n"
	                      "  - { type: webhook, url: \"https://hooks.example/sam\", agent: sam }\n"
	                      "  - { type: webhook, url: \"https://hooks.example/all\" }\n");
	assert_int_equal(c->nnotify, 2);
	assert_string_equal(c->notify[0].agent, "sam");
	assert_null(c->notify[1].agent);
	config_free(c);
	char *e = errors_of(MINIMAL "notify:\n"
	                            "  - { type: webhook, url: \"https://hooks.example/x\", agent: kim }\n");
	assert_contains(e, "config.yaml:3:61: notify[0].agent: no dashboard agent has the login 'kim'");
	free(e);
}

static void test_document_errors(void **state)
{
	(void)state;
	char *e = errors_of("");
	assert_contains(e, "config.yaml: empty configuration");
	free(e);
	e = errors_of("- a\n- b\n");
	assert_contains(e, "config.yaml:1:1: expected a mapping for the configuration");
	free(e);
	e = errors_of("business: { name: [x], timezone: UTC\n");
	assert_contains(e, "config.yaml:1:11: the '{' opened here is never closed: end it with '}'");
	free(e);
	e = errors_of("business: { name: \"\", timezone: \"Europe/../../etc/passwd\" }\n");
	assert_contains(e, "business.name: expected a non-empty string");
	assert_contains(e, "not an IANA time zone name");
	free(e);
	e = errors_of(MINIMAL "business: { name: X, timezone: UTC }\n");
	assert_contains(e, "duplicate key 'business'");
	free(e);
}

static void test_globs(void **state)
{
	(void)state;
	char *abs = in_tmp("replies/en.yaml");
	char *text = xasprintf(MINIMAL "rules: [\"rules/b.yaml\", \"rules/*.yaml\", \"rules/*\"]\n"
	                               "replies: [\"%s\"]\n",
	                       abs);
	struct config *c = must_load(text);
	char *a = in_tmp("rules/a.yaml"), *b = in_tmp("rules/b.yaml");
	/* b first (named first), then a from the glob, no duplicates, no directories */
	assert_int_equal(strv_len(c->rule_files), 2);
	assert_string_equal(c->rule_files[0], b);
	assert_string_equal(c->rule_files[1], a);
	assert_string_equal(c->reply_files[0], abs);
	config_free(c);
	free(text);

	/* Relative to the config's own directory, not the working directory. */
	char *cfgpath = in_tmp("config.yaml");
	write_file("config.yaml", MINIMAL, 0644);
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	struct diag d;
	diag_init(&d);
	c = config_load(cfgpath, &d);
	assert_int_equal(chdir(cwd), 0);
	if (!c)
		fail_msg("%s", d.out.p);
	assert_string_equal(c->rule_files[0], a);
	assert_string_equal(c->path, cfgpath);
	config_free(c);
	diag_free(&d);

	/* A glob that matches nothing is an error naming it. */
	char *e = errors_of(MINIMAL "rules: [rules/*.yaml, \"faq/*.yaml\"]\nreplies: replies/fr.yaml\n");
	assert_contains(e, "config.yaml:2:23: rules: 'faq/*.yaml' matches no file (looked for ");
	assert_contains(e, "config.yaml:3:10: replies: 'replies/fr.yaml' matches no file");
	free(e);
	/* Defaults that match nothing are reported too. */
	struct diag d2;
	diag_init(&d2);
	assert_null(config_load_mem("x.yaml", "/", MINIMAL, strlen(MINIMAL), &d2));
	assert_contains(d2.out.p, "x.yaml: rules: the default 'rules/*.yaml' matches no file (looked for "
	                          "//rules/*.yaml)");
	/* ...but not the lexicon: without sentiment.lexicon the built-in copy is the last resort. */
	assert_null(strstr(d2.out.p, "lexicon"));
	diag_free(&d2);
	/* A missing file. */
	diag_init(&d2);
	assert_null(config_load("/nonexistent/config.yaml", &d2));
	assert_contains(d2.out.p, "/nonexistent/config.yaml: cannot open: No such file or directory");
	diag_free(&d2);
	free(cfgpath);
	free(a);
	free(b);
	free(abs);
}

static void test_secrets(void **state)
{
	(void)state;
	char out[64], err[256];
	char *open_file = in_tmp("secret-open"), *tight = in_tmp("secret-tight"),
	     *crlf = in_tmp("secret-crlf");
	char *empty = in_tmp("secret-empty"), *lines = in_tmp("secret-lines");

	write_file("secret-open", "s3cret\n", 0644);
	write_file("secret-tight", "s3cret\n", 0600);
	write_file("secret-crlf", "tok\r\n", 0400);
	write_file("secret-empty", "\n", 0600);
	write_file("secret-lines", "a\nb\n", 0600);

	assert_int_equal(config_read_secret(NULL, open_file, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "is accessible by group or others (mode 644): run chmod 600");
	assert_null(strstr(err, "s3cret"));
	assert_int_equal(config_read_secret(NULL, tight, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "s3cret");
	assert_int_equal(config_read_secret(NULL, crlf, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "tok");
	assert_int_equal(config_read_secret(NULL, empty, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "is empty");
	assert_int_equal(config_read_secret(NULL, lines, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "contains a line break");
	char tiny[4];
	assert_int_equal(config_read_secret(NULL, tight, tiny, sizeof(tiny), err, sizeof(err)), -1);
	assert_contains(err, "too long");
	assert_int_equal(config_read_secret(NULL, "/nonexistent/x", out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "cannot open /nonexistent/x");
	assert_int_equal(config_read_secret(NULL, tmpdir, out, sizeof(out), err, sizeof(err)), -1);

	setenv("FD_TEST_TOKEN", "abc123", 1);
	assert_int_equal(config_read_secret("FD_TEST_TOKEN", NULL, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "abc123");
	unsetenv("FD_TEST_TOKEN");
	assert_int_equal(config_read_secret("FD_TEST_TOKEN", NULL, out, sizeof(out), err, sizeof(err)), -1);
	assert_string_equal(err, "environment variable FD_TEST_TOKEN is not set");

	/* A token_file in the config resolves against the config dir and is read with the same check. */
	struct config *c = must_load(MINIMAL "connectors: [{ type: mastodon, instance: https://m.example, "
	                                     "token_file: secret-open }]\n");
	const struct mastodon_conf *mc = c->connectors[0].settings;
	assert_string_equal(mc->token.file, open_file);
	assert_int_equal(config_secret_read(&mc->token, out, sizeof(out), err, sizeof(err)), -1);
	config_free(c);

	free(open_file);
	free(tight);
	free(crlf);
	free(empty);
	free(lines);
}

/* store: SQLite by path, or PostgreSQL by a URL, given inline (with a
 * warning when it holds a password) or as a secret; lease and node only for
 * PostgreSQL; one of them, never several. */
static void test_store_backends(void **state)
{
	(void)state;
	char url[256], err[256];

	struct config *c =
	    must_load(MINIMAL "store: { url: \"postgresql://fd@db.example/fd?sslmode=verify-full\","
	                      " lease: 30s, node: web-1 }\n");
	assert_int_equal(config_store_url(c, url, sizeof(url), err, sizeof(err)), 1);
	assert_string_equal(url, "postgresql://fd@db.example/fd?sslmode=verify-full");
	assert_int_equal(c->store_lease, 30);
	assert_string_equal(c->store_node, "web-1");
	assert_null(c->warnings);
	config_free(c);

	c = must_load(MINIMAL "store: { url: \"postgres://fd:hunter2@db.example/fd\" }\n");
	assert_non_null(c->warnings);
	assert_contains(c->warnings[0], "store.url holds a password");
	assert_null(strstr(c->warnings[0], "hunter2"));
	assert_int_equal(c->store_lease, 60);
	config_free(c);

	setenv("FD_TEST_DB", "postgresql://fd:pw@db.example/fd", 1);
	c = must_load(MINIMAL "store: { url_env: FD_TEST_DB }\n");
	assert_int_equal(config_store_url(c, url, sizeof(url), err, sizeof(err)), 1);
	assert_string_equal(url, "postgresql://fd:pw@db.example/fd");
	setenv("FD_TEST_DB", "/var/lib/frontdesk.db", 1);
	assert_int_equal(config_store_url(c, url, sizeof(url), err, sizeof(err)), -1);
	assert_contains(err, "expected a PostgreSQL URL");
	unsetenv("FD_TEST_DB");
	config_free(c);

	write_file("db-url", "postgresql://fd:pw@db.example/fd\n", 0600);
	c = must_load(MINIMAL "store: { url_file: db-url }\n");
	assert_int_equal(config_store_url(c, url, sizeof(url), err, sizeof(err)), 1);
	assert_string_equal(url, "postgresql://fd:pw@db.example/fd");
	config_free(c);

	c = must_load(MINIMAL);
	assert_int_equal(config_store_url(c, url, sizeof(url), err, sizeof(err)), 0);
	config_free(c);

	char *e = errors_of(MINIMAL "store: { path: x.db, url: \"postgresql://db.example/fd\" }\n");
	assert_contains(e, "give one of path (SQLite), url, url_env or url_file");
	free(e);
	e = errors_of(MINIMAL "store: { url: \"mysql://db.example/fd\" }\n");
	assert_contains(e, "store.url: expected a PostgreSQL URL");
	free(e);
	e = errors_of(MINIMAL "store: { path: x.db, lease: 30s }\n");
	assert_contains(e, "lease and node apply to PostgreSQL only");
	free(e);
	e = errors_of(MINIMAL "store: { url: \"postgresql://db/fd\", lease: 1s, node: \"a b\" }\n");
	assert_contains(e, "store.lease: '1s' is out of range");
	assert_contains(e, "store.node: expected up to 64 letters");
	free(e);
}

static void test_listen_check(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(config_check_listen("127.0.0.1:8080", err, sizeof(err)), 0);
	assert_int_equal(config_check_listen("[::1]:8080", err, sizeof(err)), 0);
	assert_int_equal(config_check_listen("[::]:443", err, sizeof(err)), 0);
	assert_int_equal(config_check_listen("localhost:65535", err, sizeof(err)), 0);
	assert_int_equal(config_check_listen("localhost:65536", err, sizeof(err)), -1);
	assert_int_equal(config_check_listen("127.0.0.1", err, sizeof(err)), -1);
	assert_contains(err, "missing port");
	assert_int_equal(config_check_listen(":8080", err, sizeof(err)), -1);
	assert_contains(err, "missing host");
	assert_int_equal(config_check_listen("[zz]:80", err, sizeof(err)), -1);
	assert_int_equal(config_check_listen("[::1]8080", err, sizeof(err)), -1);
	assert_int_equal(config_check_listen("host/x:80", err, sizeof(err)), -1);
	assert_int_equal(config_check_listen("1.2.3.4:+80", err, sizeof(err)), -1);
}

/*
 * The documented shape has no `sentiment` key: the default lexicon is found
 * beside the rule files wherever they are, else the copy built into the
 * binary is used (the installed share directory comes first; the install
 * test covers it).  A config elsewhere with absolute globs loads.
 */
static void test_default_lexicon(void **state)
{
	(void)state;
	struct diag d;
	char *text = xasprintf(MINIMAL "rules: [\"%s/rules/*.yaml\"]\nreplies: [\"%s/replies/en.yaml\"]\n",
	                       tmpdir, tmpdir);
	diag_init(&d);
	struct config *c = config_load_mem("config.yaml", "/", text, strlen(text), &d);
	if (!c)
		fail_msg("%s", d.out.p);
	char *want = xasprintf("%s/rules/lexicon/en.yaml", tmpdir);
	assert_int_equal(strv_len(c->lexicon_files), 1);
	assert_string_equal(c->lexicon_files[0], want);
	free(want);
	want = xasprintf("%s/rules/lexicon/ (beside the rules)", tmpdir);
	assert_string_equal(c->lexicon_from, want);
	free(want);
	config_free(c);
	free(text);

	/* Rules in a folder with no lexicon/: the built-in copy, which loads. */
	write_file("norules/only.yaml", "[]\n", 0644);
	text = xasprintf(MINIMAL "rules: [\"%s/norules/*.yaml\"]\nreplies: [\"%s/replies/en.yaml\"]\n",
	                 tmpdir, tmpdir);
	c = config_load_mem("config.yaml", "/", text, strlen(text), &d);
	if (!c)
		fail_msg("%s", d.out.p);
	assert_string_equal(c->lexicon_from, "the copy built into frontdesk");
	assert_true(strv_len(c->lexicon_files) >= 1);
	for (size_t i = 0; c->lexicon_files[i]; i++)
		assert_true(strncmp(c->lexicon_files[i], "builtin:rules/lexicon/", 22) == 0);
	struct lexicon *lx = lexicon_load(c->lexicon_files, &d);
	if (!lx)
		fail_msg("the built-in lexicon does not load:\n%s", d.out.p);
	assert_true(lexicon_entries(lx) > 100);
	lexicon_free(lx);
	config_free(c);
	free(text);

	/* Given explicitly, it is used as given. */
	c = must_load(MINIMAL "sentiment: { lexicon: rules/lexicon/en.yaml }\n");
	assert_string_equal(c->lexicon_from, "sentiment.lexicon");
	config_free(c);
	assert_int_equal(d.errors, 0);
	diag_free(&d);
}

/* The shipped example is a valid configuration (its globs resolve in the repository). */
static void test_example_file(void **state)
{
	(void)state;
	struct diag d;
	diag_init(&d);
	if (access("config.yaml.example", R_OK) != 0 || access("rules/lexicon", R_OK) != 0) {
		diag_free(&d);
		skip();
	}
	struct config *c = config_load("config.yaml.example", &d);
	if (!c)
		fail_msg("config.yaml.example refused:\n%s", d.out.p);
	assert_string_equal(c->business_name, "Acme Bakery");
	assert_int_equal(c->nagents, 1);
	assert_string_equal(c->agents[0].login, "sam");
	/* The example's hash is the one `check` knows as published. */
	assert_string_equal(c->agents[0].password_hash, CONFIG_EXAMPLE_PASSWORD_HASH);
	assert_string_equal(c->dashboard_listen, "127.0.0.1:8081");
	assert_string_equal(c->connectors[0].listen, "127.0.0.1:8080");
	char s[200];
	hours_summary(c->hours, s, sizeof(s));
	assert_string_equal(s, "Mon\xe2\x80\x93"
	                       "Fri 9:00\xe2\x80\x93"
	                       "17:30, Sat 10:00\xe2\x80\x93"
	                       "14:00, Sun closed");
	config_free(c);
	diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_config),      cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_many_errors),      cmocka_unit_test(test_did_you_mean),
	    cmocka_unit_test(test_connector_errors), cmocka_unit_test(test_dashboard_and_notify_errors),
	    cmocka_unit_test(test_document_errors),  cmocka_unit_test(test_globs),
	    cmocka_unit_test(test_secrets),          cmocka_unit_test(test_store_backends),
	    cmocka_unit_test(test_listen_check),     cmocka_unit_test(test_example_file),
	    cmocka_unit_test(test_notify_agent),     cmocka_unit_test(test_default_lexicon),
	    cmocka_unit_test(test_listener_keys),    cmocka_unit_test(test_dashboard_exposure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
