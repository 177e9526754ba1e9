/*
 * teach_cli.c - `frontdesk queue teach | taught | untaught` (teach_cli.h).
 * A store opened without a loop answers every operation before it
 * returns, so the callbacks here fill stack state.
 */
#include "teach_cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_store.h"
#include "config.h"
#include "rules.h"
#include "store.h"
#include "team.h"
#include "util.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: frontdesk [-c CONFIG] queue teach ID RULE [--not] [--message MSG] [--agent LOGIN]\n"
    "       frontdesk [-c CONFIG] queue taught [--json]\n"
    "       frontdesk [-c CONFIG] queue untaught N\n"
    "\n"
    "  teach      the customer's question of ticket ID (the message that opened it, or\n"
    "             message MSG of the ticket) becomes an example of rule RULE, so the bot\n"
    "             answers questions like it; --not makes it a not_example instead\n"
    "  taught     every taught example: number, rule, text, who taught it and when\n"
    "  untaught   forget taught example N\n"
    "\n"
    "Taught examples are kept in the store and learned with the rule files' examples\n"
    "when the daemon starts or reloads (SIGHUP, `systemctl reload frontdesk`); a teach in\n"
    "the dashboard reloads at once.  `frontdesk check` includes them.\n";

int teach_cli_command(const char *cmd)
{
	return cmd && (!strcmp(cmd, "teach") || !strcmp(cmd, "taught") || !strcmp(cmd, "untaught"));
}

static int usage(const char *fmt, const char *arg)
{
	fputs("frontdesk queue: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see frontdesk queue teach --help)\n", stderr);
	return EXIT_USAGE;
}

static int parse_id(const char *s, int64_t *id)
{
	long v;
	if (s && *s == '#')
		s++;
	if (!s || parse_long(s, &v) < 0 || v <= 0)
		return -1;
	*id = v;
	return 0;
}

/* ---- reading what teach needs ------------------------------------------------ */

struct question {
	int rc;
	int64_t want; /* a message id, 0: the ticket's opening message */
	char *text;
	int found_msg;
};

static void got_ticket(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct question *q = arg;
	q->rc = rc < 0 ? -1 : n ? 0 : 1;
	if (q->rc == 0 && v[0].opening.id && v[0].opening.text)
		q->text = xstrdup(v[0].opening.text);
}

static void got_messages(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct question *q = arg;
	q->rc = rc;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (v[i].id == q->want) {
			q->found_msg = 1;
			if (!strcmp(v[i].from, "customer"))
				q->text = xstrdup(v[i].text);
		}
}

static void taught_one(void *arg, int rc, const struct store_taught *v, size_t n)
{
	int64_t *id = arg;
	*id = rc == 0 || rc == 1 ? (n ? v[0].id : 0) : 0;
	id[1] = rc;
}

static void set_rc(void *arg, int rc)
{
	*(int *)arg = rc;
}

static int cmd_teach(struct store *s, const struct config *cfg, int64_t ticket, const char *rule_id,
                     int negative, int64_t msg, const char *login)
{
	/* The rule must exist now (its kind is shown back). */
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = rules_load(cfg->rule_files, &d);
	diag_free(&d);
	if (!rs) {
		fprintf(stderr, "frontdesk queue: the rule files do not load (see `frontdesk check`)\n");
		return EXIT_USAGE;
	}
	const struct rule *r = rules_find(rs, rule_id);
	if (!r) {
		fprintf(stderr, "frontdesk queue: no rule '%s' in the rule files\n", rule_id);
		rules_free(rs);
		return EXIT_USAGE;
	}
	const char *kind = rule_kind_name(r->kind);

	struct question q = {.rc = -1, .want = msg};
	struct store_ticket_query tq = {.id = ticket};
	store_tickets(s, &tq, got_ticket, &q);
	if (q.rc == 0 && msg) {
		free(q.text);
		q.text = NULL;
		store_ticket_messages(s, ticket, 0, got_messages, &q);
	}
	int rc = 1;
	if (q.rc < 0) {
		fprintf(stderr, "frontdesk queue: cannot read ticket %lld (see the log line above)\n",
		        (long long)ticket);
	} else if (q.rc > 0) {
		fprintf(stderr, "frontdesk queue: no ticket %lld\n", (long long)ticket);
	} else if (msg && !q.found_msg) {
		fprintf(stderr, "frontdesk queue: ticket %lld has no message %lld\n", (long long)ticket,
		        (long long)msg);
	} else if (!q.text) {
		fprintf(stderr, "frontdesk queue: %s of ticket %lld is not the customer's\n",
		        msg ? "that message" : "the opening message", (long long)ticket);
	} else if (strlen(q.text) > STORE_MAX_TAUGHT_TEXT) {
		fprintf(stderr,
		        "frontdesk queue: the question is longer than %d bytes: too long to learn from\n",
		        STORE_MAX_TAUGHT_TEXT);
	} else {
		struct store_taught t = {
		    .rule = rule_id, .text = q.text, .negative = negative, .by = login, .ticket_id = ticket};
		int64_t got[2] = {0, -1};
		store_teach(s, &t, time(NULL), taught_one, got);
		if (got[1] == 2) {
			fprintf(stderr, "frontdesk queue: the store holds %d taught examples already\n",
			        STORE_MAX_TAUGHT);
		} else if (got[1] < 0 || (got[1] == 0 && store_commit_sync(s) < 0)) {
			store_rollback(s);
			fprintf(stderr,
			        "frontdesk queue: the example could not be saved (see the log line above)\n");
		} else {
			printf("%s %lld: \"%s\" is %s %s of rule %s (%s)\n",
			       got[1] == 1 ? "already taught" : "taught", (long long)got[0], q.text,
			       got[1] == 1 ? "already" : "now", negative ? "a not_example" : "an example",
			       rule_id, kind);
			if (got[1] == 0)
				puts("The bot learns it at its next start or reload (SIGHUP).");
			rc = 0;
		}
	}
	free(q.text);
	rules_free(rs);
	return rc;
}

/* ---- taught, untaught ------------------------------------------------------------ */

struct listing {
	int json, rc;
};

static json_t *text_json(const char *s)
{
	json_t *v = json_string(s ? s : "");
	return v ? v : json_null();
}

static void listed(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct listing *l = arg;
	l->rc = rc;
	if (rc != 0)
		return;
	json_t *a = l->json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		char day[40] = "";
		if (v[i].created > 0)
			time_iso_utc(v[i].created, day, sizeof(day));
		if (a) {
			json_t *o = json_object();
			json_object_set_new(o, "id", json_integer(v[i].id));
			json_object_set_new(o, "rule", text_json(v[i].rule));
			json_object_set_new(o, "text", text_json(v[i].text));
			json_object_set_new(o, "negative", json_boolean(v[i].negative));
			json_object_set_new(o, "by", v[i].by ? text_json(v[i].by) : json_null());
			json_object_set_new(o, "ticket",
			                    v[i].ticket_id ? json_integer(v[i].ticket_id) : json_null());
			json_object_set_new(o, "created", json_string(day));
			json_array_append_new(a, o);
			continue;
		}
		/* Control characters of customer text are not written to a terminal. */
		char *t = xstrdup(v[i].text);
		for (char *p = t; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		printf("%5lld  %s%-24s  \"%s\"  (%s, %.10s%s", (long long)v[i].id,
		       v[i].negative ? "not " : "", v[i].rule, t, v[i].by ? v[i].by : "the team", day,
		       v[i].ticket_id ? ", ticket " : "");
		if (v[i].ticket_id)
			printf("%lld", (long long)v[i].ticket_id);
		puts(")");
		free(t);
	}
	if (a) {
		char *s = json_dumps(a, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		puts(s ? s : "[]");
		free(s);
		json_decref(a);
	} else if (!n) {
		puts("Nothing taught yet.");
	}
}

/* ---- main ------------------------------------------------------------------------ */

static void agents_read(void *arg, int rc, const struct store_team_item *v, size_t n)
{
	if (rc == 0)
		team_set_stored(arg, "agent", v, n);
}

int teach_cli_main(const char *config_path, int argc, char **argv)
{
	const char *cmd = argv[1], *pos[2] = {NULL, NULL}, *login = NULL;
	int64_t msg = 0, id = 0;
	int negative = 0, json = 0, npos = 0;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--not") && !strcmp(cmd, "teach")) {
			negative = 1;
		} else if (!strcmp(a, "--json") && !strcmp(cmd, "taught")) {
			json = 1;
		} else if ((!strcmp(a, "--message") || !strcmp(a, "--agent")) && !strcmp(cmd, "teach")) {
			if (i + 1 >= argc)
				return usage("%s needs a value", a);
			if (a[2] == 'a')
				login = argv[++i];
			else if (parse_id(argv[++i], &msg) < 0)
				return usage("--message wants a message number, not '%s'", argv[i]);
		} else if (a[0] == '-' && a[1]) {
			return usage("unknown option '%s'", a);
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			return usage("unexpected argument '%s'", a);
		}
	}
	int want = !strcmp(cmd, "teach") ? 2 : !strcmp(cmd, "untaught") ? 1 : 0;
	if (npos != want)
		return usage(want == 2 ? "%s wants a ticket number and a rule id"
		             : want    ? "%s wants the number of a taught example"
		                       : "%s takes no arguments",
		             cmd);
	if (want && parse_id(pos[0], &id) < 0)
		return usage("not a number: '%s'", pos[0]);
	struct config *cfg;
	struct store *s;
	int rc = cli_store_open("queue", config_path, &cfg, &s);
	if (rc != 0)
		return rc;

	/* An agent of config.yaml or one added in the dashboard. */
	if (login) {
		struct team *team = team_new();
		team_set_config(team, cfg);
		store_team_list(s, "agent", agents_read, team);
		int known = team_agent(team, login) != NULL;
		team_free(team);
		if (!known) {
			fprintf(
			    stderr,
			    "frontdesk queue: '%s' is not an agent in %s (dashboard.agents) or added in the "
			    "dashboard\n",
			    login, cfg->path);
			store_close(s);
			config_free(cfg);
			return EXIT_USAGE;
		}
	}

	if (want == 2) {
		rc = cmd_teach(s, cfg, id, pos[1], negative, msg, login);
	} else if (want == 1) {
		int r = -1;
		store_untaught(s, id, set_rc, &r);
		if (r == 0 && store_commit_sync(s) < 0)
			r = -1;
		if (r == 0)
			printf("taught example %lld forgotten; the bot unlearns it at its next start or "
			       "reload\n",
			       (long long)id);
		else if (r == 1)
			fprintf(stderr, "frontdesk queue: no taught example %lld\n", (long long)id);
		else
			fprintf(stderr,
			        "frontdesk queue: the change could not be saved (see the log line above)\n");
		rc = r == 0 ? 0 : 1;
	} else {
		struct listing l = {.json = json, .rc = -1};
		store_taught_list(s, listed, &l);
		if (l.rc != 0)
			fprintf(
			    stderr,
			    "frontdesk queue: cannot read the taught examples (see the log line above)\n");
		rc = l.rc == 0 ? 0 : 1;
	}
	store_close(s);
	config_free(cfg);
	return rc;
}
