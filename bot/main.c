/*
 * main.c - the frontdesk command line: run, check, try, replay, queue, passwd,
 * migrate.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid configuration.
 * `-c CONFIG` may stand anywhere after `frontdesk`, for every command.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "cli_store.h"
#include "daemon.h"
#include "examples.h"
#include "hours.h"
#include "pipeline.h"
#include "queue_cli.h"
#include "report_cli.h"
#include "replies.h"
#include "rules.h"
#include "normalize.h"
#include "sentiment.h"
#include "store.h"
#include "taught.h"
#include "util.h"

#define EXIT_USAGE       2
#define REPLAY_MAX_LINE  (1u << 20)
#define PASSWD_MIN_CHARS AUTH_MIN_PASSWORD /* frontdesk passwd refuses shorter passwords */

static const char *usage_text =
    "usage: frontdesk [-c CONFIG] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run                                   run the bot (the default command)\n"
    "  check                                 validate config, rules and replies; run rule examples\n"
    "  try [--at TIME] [--json] [--public] [--channel NAME] TEXT...\n"
    "                                        show what the bot would do with one post\n"
    "  replay [--json] FILE.jsonl|-          decide every post of a JSON-lines file\n"
    "  queue list|show|claim|reply|release|resolve ...\n"
    "                                        work the human queue (see frontdesk queue --help)\n"
    "  report [--json] [--since WHEN] [--by day|week]\n"
    "                                        what the bot saves the team, per day and channel\n"
    "  passwd                                read a password, print a hash for the config\n"
    "  migrate --from sqlite:PATH [--to URL] copy a SQLite store into an empty PostgreSQL\n"
    "                                        database (default: the one store.url names)\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration (default: $FRONTDESK_CONFIG, ./config.yaml,\n"
    "                      /etc/frontdesk/config.yaml)\n"
    "  -h, --help          this help; COMMAND --help for a command's own\n"
    "  -V, --version       print the version\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/* The configuration file to use when none was given with -c. */
static const char *default_config(void)
{
	const char *env = getenv("FRONTDESK_CONFIG");
	if (env && *env)
		return env;
	if (access("config.yaml", F_OK) == 0)
		return "config.yaml";
	if (access("/etc/frontdesk/config.yaml", F_OK) == 0)
		return "/etc/frontdesk/config.yaml";
	return NULL;
}

/*
 * The engine with what the team taught the bot (taught.h), as the daemon
 * runs it: check, try and replay show what the running bot does.  A store
 * that exists but cannot be read is a warning, not a refusal.
 */
static struct engine *engine_taught(const char *path, struct diag *d)
{
	struct taught t;
	char err[256];
	if (taught_read(path, &t, err, sizeof(err)) < 0)
		fprintf(stderr, "warning: taught examples left out: %s\n", err);
	struct engine *e = engine_load_ex(path, t.v, t.n, d);
	taught_free(&t);
	return e;
}

/* Load the engine or print every error; exits 2 on an invalid configuration. */
static struct engine *load_or_exit(const char *path)
{
	struct diag d;
	struct engine *e;

	if (!path) {
		fprintf(stderr,
		        "frontdesk: no configuration found: pass -c FILE (try -c config.yaml.example)\n");
		exit(EXIT_USAGE);
	}
	diag_init(&d);
	e = engine_taught(path, &d);
	if (!e) {
		fputs(d.out.p ? d.out.p : "", stderr);
		fprintf(stderr, "%s: configuration refused (%d error%s)\n", path, d.errors,
		        d.errors == 1 ? "" : "s");
		diag_free(&d);
		exit(EXIT_USAGE);
	}
	diag_free(&d);
	return e;
}

#define CHECK_FOLDS 5 /* cross-validation folds of `check` */

/* check --json: the whole report as one object on standard output. */
static void check_json(const char *path, int ok, const char *errors, int passed, int failed,
                       const struct examples_cv *cv)
{
	json_t *o = json_object(), *errs = json_array();
	json_object_set_new(o, "config", path ? json_string(path) : json_null());
	json_object_set_new(o, "ok", json_boolean(ok));
	for (const char *p = errors; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len)
			json_array_append_new(errs, json_stringn(p, len));
		p = nl ? nl + 1 : p + len;
	}
	json_object_set_new(o, "errors", errs);
	if (passed >= 0) {
		json_t *ex = json_object();
		json_object_set_new(ex, "passed", json_integer(passed));
		json_object_set_new(ex, "failed", json_integer(failed));
		json_object_set_new(o, "examples", ex);
	}
	if (cv)
		json_object_set_new(o, "crossval", examples_cv_json(cv));
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	puts(s ? s : "{}");
	free(s);
	json_decref(o);
}

static int cmd_check(const char *cfgpath, int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			puts("usage: frontdesk [-c CONFIG] check [--json]\n\n"
			     "Validates the configuration, every rule and reply file and the lexicon,\n"
			     "reporting every error as file:line:column, then runs each rule's examples\n"
			     "and not_examples through the real decision (a failure is an error), and\n"
			     "cross-validates the examples: each is decided by what was learned from the\n"
			     "others, and a rule whose examples are then read as another rule, or as\n"
			     "none, gets a warning.  Prints 'configuration OK' and exits 0, or the errors\n"
			     "and exits 2.\n"
			     "  --json   the same report as one JSON object, with per-rule figures");
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else {
			fprintf(stderr, "frontdesk check: unexpected argument '%s'\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	struct engine *e;
	if (json) {
		struct diag dg;
		diag_init(&dg);
		e = cfgpath ? engine_taught(cfgpath, &dg) : NULL;
		if (!e) {
			check_json(cfgpath, 0, cfgpath ? dg.out.p : "no configuration found: pass -c FILE",
			           -1, 0, NULL);
			diag_free(&dg);
			return EXIT_USAGE;
		}
		diag_free(&dg);
	} else {
		e = load_or_exit(cfgpath);
	}
	const struct config *c = e->cfg;
	struct buf report, warn;
	int passed = 0, failed;
	struct examples_cv cv;

	buf_init(&report, 0);
	buf_init(&warn, 0);
	failed = examples_run(e, &report, &warn, &passed);
	examples_crossval(e, CHECK_FOLDS, &cv);
	examples_cv_text(&cv, &warn);
	if (json) {
		check_json(c->path, !failed, report.p, passed, failed, cv.folds ? &cv : NULL);
		goto done;
	}

	printf("config:     %s\n", c->path);
	printf("business:   %s (%s)\n", c->business_name, c->timezone);
	char hours[256];
	hours_summary(c->hours, hours, sizeof(hours));
	printf("hours:      %s\n", hours);
	printf("rules:      %zu rules, %zu phrases, %zu regexes\n", rules_count(e->rules),
	       rules_phrases(e->rules), rules_regexes(e->rules));
	if (rules_always_checked(e->rules))
		printf(
		    "            %zu rule%s checked on every post (a regex alone in `any`: add a phrase to\n"
		    "            `any` and move the regex to `all` to make matching cheaper)\n",
		    rules_always_checked(e->rules), rules_always_checked(e->rules) == 1 ? " is" : "s are");
	if (rules_learned_count(e->rules))
		printf("            %zu learn from their examples (answers.min_confidence %.2f, min_margin "
		       "%.2f)\n",
		       rules_learned_count(e->rules), c->min_confidence, c->min_margin);
	printf("replies:    %zu keys\n", replies_count(e->replies));
	printf("lexicon:    %zu entries, threshold %.2f\n", lexicon_entries(e->lexicon), e->threshold);
	printf("            from %s\n", c->lexicon_from);
	if (lexicon_has_model(e->lexicon))
		printf("complaints: a model of %zu features (`frontdesk try TEXT` shows them at work)\n",
		       lexicon_features(e->lexicon));
	for (size_t i = 0; i < c->nconnectors; i++) {
		const struct connector_conf *cc = &c->connectors[i];
		printf("connector:  %s %s\n", cc->type,
		       cc->listen     ? cc->listen
		       : cc->endpoint ? cc->endpoint
		                      : "");
	}
	printf("dashboard:  %s, %zu agent%s\n", c->dashboard_listen, c->nagents, c->nagents == 1 ? "" : "s");
	printf("examples:   %d passed, %d failed\n", passed, failed);
	if (cv.folds) {
		size_t warned = 0;
		for (size_t i = 0; i < cv.nrules; i++)
			warned += cv.rules[i].recognised < cv.rules[i].examples;
		printf("            %zu of %zu recognised when left out of learning (%d-fold "
		       "cross-validation)%s",
		       cv.recognised, cv.examples, cv.folds, warned ? ", " : "\n");
		if (warned)
			printf("%zu rule%s with warnings\n", warned, warned == 1 ? "" : "s");
	}
	fputs(warn.p ? warn.p : "", stderr);
	for (size_t i = 0; c->warnings && c->warnings[i]; i++)
		fprintf(stderr, "warning: %s\n", c->warnings[i]);
	if (failed) {
		fputs(report.p, stderr);
		fprintf(stderr, "%s: configuration refused (%d rule example%s failed)\n", c->path, failed,
		        failed == 1 ? "" : "s");
	} else {
		puts("configuration OK");
	}
done:
	examples_cv_free(&cv);
	buf_free(&report);
	buf_free(&warn);
	engine_free(e);
	return failed ? EXIT_USAGE : 0;
}

/* How rule `id` was recognised in the post t: "from its examples" or the
 * phrase / regex that matched. */
static void how_recognised(struct engine *e, const char *id, int by_examples, const struct text *t)
{
	const struct rule *r = rules_find(e->rules, id);
	const char *why = r && !by_examples ? rules_explain(e->rules, r, t) : NULL;
	if (by_examples)
		printf(" (recognised from its examples)");
	else if (why && why[0] == '/')
		printf(" (regex %s)", why);
	else if (why)
		printf(" (phrase \"%s\")", why);
}

static void print_decision_text(struct engine *e, const struct decision *d, const char *text)
{
	char due[48];
	struct text t;
	const struct config *c = e->cfg;

	text_init(&t);
	text_normalize(&t, text, strlen(text));
	printf("action:    %s\n", action_name(d->action));
	printf("rule:      %s", d->rule ? d->rule : "-");
	if (d->rule)
		how_recognised(e, d->rule, d->by_examples, &t);
	putchar('\n');
	/* The intent, and what the examples say even when it is not enough. */
	const char *l0 = d->learned[0].rule, *l1 = d->learned[1].rule;
	double c0 = d->learned[0].confidence, c1 = d->learned[1].confidence;
	if (d->intent) {
		printf("intent:    %s, confidence %.2f", d->intent, d->confidence);
		if (!d->rule || strcmp(d->rule, d->intent) != 0)
			how_recognised(e, d->intent, l0 && !strcmp(l0, d->intent) && d->confidence < 1.0, &t);
		putchar('\n');
	} else if (l0 && c0 >= 0.05 && c0 < c->min_confidence) {
		printf("intent:    - (closest: %s at %.2f, below answers.min_confidence %.2f)\n", l0, c0,
		       c->min_confidence);
	} else if (l0 && l1 && c0 >= c->min_confidence && c0 - c1 < c->min_margin) {
		printf("intent:    - (%s at %.2f and %s at %.2f are too close to call: answers.min_margin "
		       "%.2f)\n",
		       l0, c0, l1, c1, c->min_margin);
	} else {
		printf("intent:    -\n");
	}
	/* The runner-up: the next rule the examples point to. */
	if (l1 && c1 >= 0.01)
		printf("runner-up: %s, confidence %.2f\n", l1, c1);
	printf("priority:  %s\n", d->priority != PRIO_NONE ? priority_name(d->priority) : "-");
	printf("reason:    %s\n", d->reason ? d->reason : "-");
	printf("sentiment: %.3f%s%s\n", d->sentiment, d->negative ? " (negative)" : "",
	       d->abusive ? " (abusive)" : "");
	printf("open:      %s\n", d->open ? "yes" : "no");
	if (d->due) {
		hours_iso_local(c->hours, d->due, due, sizeof(due));
		printf("due:       %s\n", due);
	}
	if (d->closed_on[0])
		printf("closed:    %s (a day the post names)\n", d->closed_on);
	if (d->ignored)
		printf("ignored:   %s\n", d->ignored);
	printf("reply:     %s\n", d->reply ? d->reply : "-");
	text_free(&t);
}

/* The file name without its directories, for short explanation lines. */
static const char *base_name(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;
	return b ? b + 1 : path ? path : "";
}

/*
 * Why the post is negative or not: each feature of the complaint model that
 * fired, with its weight and the lexicon entry (file:line) behind it, so an
 * owner can fix a miss by editing that entry or weight.
 */
static void print_why(const struct engine *e, const char *text)
{
	struct text t;
	struct sentiment s;
	static struct sentiment_explanation ex;

	text_init(&t);
	text_normalize(&t, text, strlen(text));
	sentiment_explain(e->lexicon, &t, e->threshold, &s, &ex);
	if (ex.model) {
		printf("why:       margin %+.2f (bias %+.2f and the cues below); score -tanh(margin/2) = "
		       "%.3f, %s the threshold %.2f\n",
		       ex.margin, ex.bias, s.score, s.score <= e->threshold ? "at or below" : "above",
		       e->threshold);
		for (size_t i = 0; i < ex.n; i++) {
			const struct sentiment_reason *r = &ex.r[i];
			double share = r->value * r->weight;
			if (share == 0)
				continue;
			printf("  %+6.2f  %-18s", share, r->name);
			if (r->value != 1)
				printf(" %.2f x %+.2f", r->value, r->weight);
			if (r->words[0])
				printf("  \"%s\"", r->words);
			if (r->file)
				printf("  (%s:%d)", base_name(r->file), r->line);
			putchar('\n');
		}
		if (ex.n)
			puts("           (+ pushes toward negative, - away from it; weights are in "
			     "rules/lexicon/model.yaml)");
	} else {
		printf("why:       lexicon score %.3f, %s the threshold %.2f%s\n", s.score,
		       s.score <= e->threshold ? "at or below" : "above", e->threshold,
		       s.complaint && s.negative && s.score > e->threshold ? " (a complaint matched)" : "");
	}
	for (size_t i = 0; i < ex.nlex; i++) {
		const struct sentiment_match *m = &ex.lex[i];
		printf("%s %+6.2f  %-10s \"%s\"  (%s:%d)\n", i ? "          " : "lexicon:  ", m->weight,
		       m->section, m->words, base_name(m->file), m->line);
	}
	text_free(&t);
}

static int cmd_try(const char *cfgpath, int argc, char **argv)
{
	const char *at = NULL, *channel = "webchat";
	int json = 0, is_public = 0, i;
	struct buf text;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--public")) {
			is_public = 1;
		} else if (!strcmp(argv[i], "--at") && i + 1 < argc) {
			at = argv[++i];
		} else if (!strcmp(argv[i], "--channel") && i + 1 < argc) {
			channel = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			puts("usage: frontdesk [-c CONFIG] try [--at TIME] [--json] [--public] [--channel "
			     "NAME] TEXT...\n\n"
			     "Shows what the bot would do with one post, without sending anything.\n"
			     "  --at TIME       decide as if at TIME: ISO-8601 (2026-12-24T22:00:00Z) or\n"
			     "                  \"YYYY-MM-DD HH:MM\" in the business's time zone\n"
			     "  --json          print the decision record as JSON\n"
			     "  --public        the post is public (a mention on a timeline), not private\n"
			     "  --channel NAME  channel name for rule conditions (default webchat)");
			return 0;
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "frontdesk try: unknown option '%s' (see frontdesk try --help)\n",
			        argv[i]);
			return EXIT_USAGE;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "frontdesk try: no text given (see frontdesk try --help)\n");
		return EXIT_USAGE;
	}
	buf_init(&text, POST_MAX_TEXT);
	for (int j = i; j < argc; j++) {
		if ((j > i && buf_putc(&text, ' ') < 0) || buf_puts(&text, argv[j]) < 0) {
			fprintf(stderr, "frontdesk try: text is longer than %u bytes\n", POST_MAX_TEXT);
			buf_free(&text);
			return EXIT_USAGE;
		}
	}

	struct engine *e = load_or_exit(cfgpath);
	/* A bare local time is read in the business's zone. */
	hours_is_open(e->cfg->hours, 0);
	time_t now = time(NULL);
	if (at && time_parse_iso(at, &now) < 0) {
		fprintf(stderr, "frontdesk try: --at '%s': expected ISO-8601 or \"YYYY-MM-DD HH:MM\"\n", at);
		engine_free(e);
		buf_free(&text);
		return EXIT_USAGE;
	}
	struct post p;
	struct decision d;
	memset(&p, 0, sizeof(p));
	p.platform = "cli";
	p.post_id = text.p;
	p.thread_key = "cli";
	p.author_handle = "customer";
	p.channel = channel;
	p.is_public = is_public;
	p.text = text.p;
	p.created = now;
	pipeline_decide(e, &p, NULL, now, &d);
	if (json) {
		struct buf out;
		buf_init(&out, 0);
		decision_json(e, &d, NULL, &out);
		puts(out.p);
		buf_free(&out);
	} else {
		print_decision_text(e, &d, text.p);
		print_why(e, text.p);
	}
	decision_free(&d);
	engine_free(e);
	buf_free(&text);
	return 0;
}

struct replay_stats {
	long n, errors, by_action[4];
	json_t *by_rule; /* rule id -> count */
};

/* A bad input line: an error record {"id","error","line"} with --json,
 * else a text line like the decisions': ID, "error", "line N: what". */
static void replay_error(struct buf *out, int json, json_t *id, long line, const char *msg)
{
	if (!json) {
		if (json_is_string(id))
			buf_puts(out, json_string_value(id));
		else if (json_is_integer(id))
			buf_printf(out, "%lld", (long long)json_integer_value(id));
		else
			buf_putc(out, '-');
		buf_printf(out, "\terror\tline %ld: %s", line, msg);
		return;
	}
	json_t *o = json_object();
	json_object_set(o, "id", id ? id : json_null());
	json_object_set_new(o, "error", json_string(msg));
	json_object_set_new(o, "line", json_integer(line));
	char *s = json_dumps(o, JSON_COMPACT);
	buf_puts(out, s);
	free(s);
	json_decref(o);
}

/* Decide one JSON line; appends one record (decision or error) to out. */
static void replay_line(struct engine *e, const char *line, size_t len, long lineno, int json,
                        struct replay_stats *st, struct buf *out)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *jid = NULL;
	char idbuf[64];
	const char *id = NULL;

	st->n++;
	if (!o || !json_is_object(o)) {
		st->errors++;
		char msg[256];
		if (!o)
			snprintf(msg, sizeof(msg), "invalid JSON at column %d: %s", jerr.column, jerr.text);
		else
			snprintf(msg, sizeof(msg), "expected a JSON object");
		replay_error(out, json, NULL, lineno, msg);
		json_decref(o);
		return;
	}
	jid = json_object_get(o, "id");
	if (json_is_string(jid)) {
		id = json_string_value(jid);
	} else if (json_is_integer(jid)) {
		snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(jid));
		id = idbuf;
	}
	json_t *jtext = json_object_get(o, "text");
	json_t *jat = json_object_get(o, "at");
	json_t *jpub = json_object_get(o, "public");
	json_t *jch = json_object_get(o, "channel");
	json_t *jauthor = json_object_get(o, "author");
	const char *err = NULL;
	time_t now = time(NULL);
	if (!json_is_string(jtext))
		err = "\"text\" must be a string";
	else if (json_string_length(jtext) > POST_MAX_TEXT)
		err = "\"text\" is longer than 8192 bytes";
	else if (jat && !json_is_null(jat) &&
	         (!json_is_string(jat) || time_parse_iso(json_string_value(jat), &now) < 0))
		err = "\"at\" must be an ISO-8601 time";
	else if (jpub && !json_is_null(jpub) && !json_is_boolean(jpub))
		err = "\"public\" must be true or false";
	else if (jch && !json_is_null(jch) && !json_is_string(jch))
		err = "\"channel\" must be a string";
	else if (jauthor && !json_is_null(jauthor) && !json_is_string(jauthor))
		err = "\"author\" must be a string";
	if (err) {
		st->errors++;
		replay_error(out, json, jid, lineno, err);
		json_decref(o);
		return;
	}

	struct post p;
	struct decision d;
	memset(&p, 0, sizeof(p));
	p.platform = "replay";
	p.post_id = id ? id : json_string_value(jtext);
	p.thread_key = p.post_id;
	p.author_handle = "customer";
	p.author_name = jauthor && json_is_string(jauthor) ? json_string_value(jauthor) : NULL;
	p.channel = jch && json_is_string(jch) ? json_string_value(jch) : "webchat";
	p.is_public = jpub && json_is_true(jpub);
	p.text = json_string_value(jtext);
	p.created = now;
	pipeline_decide(e, &p, NULL, now, &d);
	st->by_action[d.action]++;
	if (d.rule) {
		json_t *c = json_object_get(st->by_rule, d.rule);
		json_object_set_new(st->by_rule, d.rule, json_integer(c ? json_integer_value(c) + 1 : 1));
	}
	if (json) {
		decision_json(e, &d, id, out);
	} else {
		buf_printf(out, "%s\t%s\t%s\t", id ? id : "-", action_name(d.action), d.rule ? d.rule : "-");
		for (const char *r = d.reply ? d.reply : "-"; *r; r++)
			buf_putc(out, *r == '\n' || *r == '\t' ? ' ' : *r);
	}
	decision_free(&d);
	json_decref(o);
}

static int cmd_replay(const char *cfgpath, int argc, char **argv)
{
	const char *file = NULL;
	int json = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			puts("usage: frontdesk [-c CONFIG] replay [--json] FILE.jsonl|-\n\n"
			     "Decides every post of a JSON-lines file, in order, one output line per\n"
			     "input line.  Input: {\"id\", \"text\", \"author\"?, \"at\"?, \"channel\"?, "
			     "\"public\"?}.\n"
			     "  --json   print decision records (docs/decision-record.md); otherwise id, "
			     "action, rule, "
			     "reply\n"
			     "A bad input line gets an error record {\"id\",\"error\",\"line\"} (with "
			     "--json)\n"
			     "or a line \"ID<tab>error<tab>line N: what is wrong\".\n"
			     "A summary of counts per action and rule goes to standard error.");
			return 0;
		} else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
			file = argv[i];
		} else {
			fprintf(stderr,
			        "frontdesk replay: unexpected argument '%s' (see frontdesk replay --help)\n",
			        argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!file) {
		fprintf(stderr, "frontdesk replay: no input file (use - for standard input)\n");
		return EXIT_USAGE;
	}
	FILE *in = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!in) {
		fprintf(stderr, "frontdesk replay: %s: %s\n", file, strerror(errno));
		return 1;
	}
	struct engine *e = load_or_exit(cfgpath);
	hours_is_open(e->cfg->hours, 0);
	struct replay_stats st;
	memset(&st, 0, sizeof(st));
	st.by_rule = json_object();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	struct buf out;
	buf_init(&out, 0);
	while ((n = getline(&line, &cap, in)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		buf_reset(&out);
		if ((size_t)n > REPLAY_MAX_LINE) {
			st.n++;
			st.errors++;
			replay_error(&out, json, NULL, lineno, "line is longer than 1 MiB");
		} else {
			replay_line(e, line, (size_t)n, lineno, json, &st, &out);
		}
		buf_putc(&out, '\n');
		fwrite(out.p, 1, out.len, stdout);
	}
	int rc = ferror(in) ? 1 : 0;
	if (rc)
		fprintf(stderr, "frontdesk replay: read error on %s\n", file);
	if (in != stdin)
		fclose(in);
	free(line);
	buf_free(&out);
	if (fflush(stdout) != 0)
		rc = 1;

	fprintf(stderr,
	        "replayed %ld post%s: %ld answer, %ld acknowledge, %ld escalate, %ld ignore, %ld error%s\n",
	        st.n, st.n == 1 ? "" : "s", st.by_action[ACTION_ANSWER], st.by_action[ACTION_ACK],
	        st.by_action[ACTION_ESCALATE], st.by_action[ACTION_IGNORE], st.errors,
	        st.errors == 1 ? "" : "s");
	const char *k;
	json_t *v;
	json_object_foreach(st.by_rule, k, v)
	{
		fprintf(stderr, "  rule %-28s %lld\n", k, (long long)json_integer_value(v));
	}
	json_decref(st.by_rule);
	engine_free(e);
	return rc;
}

/* Read one line from stdin without echo when it is a terminal. */
static int read_secret(const char *prompt, char *out, size_t n)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO);

	if (tty) {
		fputs(prompt, stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = 0;
		}
	}
	char *r = fgets(out, (int)n, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!r)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static const char *migrate_usage =
    "usage: frontdesk [-c CONFIG] migrate --from sqlite:PATH [--to postgresql://...]\n"
    "\n"
    "Copies every conversation, ticket, reply and setting of the SQLite store at\n"
    "PATH into a PostgreSQL database that holds no data yet (its tables are\n"
    "created).  Without --to, the database the configuration's store.url (or\n"
    "url_env / url_file) names.  Stop frontdesk first: what it stores after the\n"
    "copy began is not copied.  A password is best kept out of the command line\n"
    "(~/.pgpass, or PGPASSWORD).\n";

static int cmd_migrate(const char *cfgpath, int argc, char **argv)
{
	const char *from = NULL, *to = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(migrate_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--from") && i + 1 < argc) {
			from = argv[++i];
		} else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
			to = argv[++i];
		} else {
			fprintf(stderr, "frontdesk migrate: unexpected argument '%s'\n\n%s", argv[i],
			        migrate_usage);
			return EXIT_USAGE;
		}
	}
	if (!from) {
		fprintf(stderr, "frontdesk migrate: --from sqlite:PATH is needed\n\n%s", migrate_usage);
		return EXIT_USAGE;
	}
	if (!strncmp(from, "sqlite:", 7))
		from += 7;
	if (!*from) {
		fprintf(stderr, "frontdesk migrate: --from names no file\n");
		return EXIT_USAGE;
	}
	char url[CONFIG_SECRET_MAX + 1], err[512];
	if (to) {
		if (strncmp(to, "postgresql://", 13) && strncmp(to, "postgres://", 11)) {
			fprintf(stderr, "frontdesk migrate: --to must be a postgresql:// URL\n");
			return EXIT_USAGE;
		}
		snprintf(url, sizeof(url), "%s", to);
	} else {
		if (!cfgpath) {
			fprintf(stderr, "frontdesk migrate: no --to and no configuration: pass -c FILE\n");
			return EXIT_USAGE;
		}
		struct config *cfg = cli_config_load("migrate", cfgpath);
		if (!cfg)
			return EXIT_USAGE;
		int pg = config_store_url(cfg, url, sizeof(url), err, sizeof(err));
		config_free(cfg);
		if (pg <= 0) {
			fprintf(stderr, "frontdesk migrate: %s\n",
			        pg < 0 ? err : "the configuration's store is not PostgreSQL: pass --to URL");
			return pg < 0 ? 1 : EXIT_USAGE;
		}
	}
	int rc = store_copy(from, url, stdout, err, sizeof(err));
	explicit_bzero(url, sizeof(url));
	if (rc < 0) {
		fprintf(stderr, "frontdesk migrate: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_passwd(int argc, char **argv)
{
	char pw[512], again[512];

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("usage: frontdesk passwd\n\n"
		     "Reads a password from standard input (without echo on a terminal), at least\n"
		     "10 characters, and prints a yescrypt hash to paste into config.yaml as an\n"
		     "agent's password_hash.");
		return 0;
	}
	if (read_secret("Password: ", pw, sizeof(pw)) < 0 || !*pw) {
		fprintf(stderr, "frontdesk passwd: no password given\n");
		return EXIT_USAGE;
	}
	size_t chars = auth_password_chars(pw);
	if (chars < PASSWD_MIN_CHARS) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr,
		        "frontdesk passwd: a password needs at least %d characters (%zu given); a few words "
		        "make a good one\n",
		        PASSWD_MIN_CHARS, chars);
		return EXIT_USAGE;
	}
	if (isatty(STDIN_FILENO)) {
		if (read_secret("Again: ", again, sizeof(again)) < 0 || strcmp(pw, again) != 0) {
			fprintf(stderr, "frontdesk passwd: the passwords differ\n");
			return EXIT_USAGE;
		}
	}
	char h[AUTH_HASH_MAX];
	int rc = auth_hash_password(pw, h, sizeof(h));
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	if (rc < 0) {
		fprintf(stderr, "frontdesk passwd: hashing failed (no randomness for a salt?)\n");
		return 1;
	}
	puts(h);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cfgpath = NULL;
	char **args = xcalloc((size_t)argc + 1, sizeof(*args));
	int n = 0;

	/* -c CONFIG may stand anywhere; everything after "--" is left alone. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				args[n++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "frontdesk: %s needs a file name\n", argv[i]);
				free(args);
				return EXIT_USAGE;
			}
			cfgpath = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			cfgpath = argv[i] + 9;
		} else {
			args[n++] = argv[i];
		}
	}
	if (!cfgpath)
		cfgpath = default_config();

	const char *cmd = n > 0 ? args[0] : "run";
	int rc;
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		rc = 0;
	} else if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("frontdesk %s\n", FD_VERSION);
		rc = 0;
	} else if (!strcmp(cmd, "check")) {
		rc = cmd_check(cfgpath, n, args);
	} else if (!strcmp(cmd, "try")) {
		rc = cmd_try(cfgpath, n, args);
	} else if (!strcmp(cmd, "replay")) {
		rc = cmd_replay(cfgpath, n, args);
	} else if (!strcmp(cmd, "passwd")) {
		rc = cmd_passwd(n, args);
	} else if (!strcmp(cmd, "report")) {
		rc = report_cli_main(cfgpath, n, args);
	} else if (!strcmp(cmd, "migrate")) {
		rc = cmd_migrate(cfgpath, n, args);
	} else if (!strcmp(cmd, "queue")) {
		if (!cfgpath && !(n > 1 && (!strcmp(args[1], "--help") || !strcmp(args[1], "-h")))) {
			fprintf(stderr, "frontdesk: no configuration found: pass -c FILE\n");
			rc = EXIT_USAGE;
		} else {
			rc = queue_main(cfgpath, n, args);
		}
	} else if (!strcmp(cmd, "run")) {
		if (n > 1 && (!strcmp(args[1], "--help") || !strcmp(args[1], "-h"))) {
			puts("usage: frontdesk [-c CONFIG] run\n\n"
			     "Runs the bot in the foreground: connectors, web chat, dashboard.\n"
			     "SIGHUP reloads the configuration; SIGTERM drains and exits.");
			rc = 0;
		} else if (n > 1) {
			fprintf(stderr, "frontdesk run: unexpected argument '%s'\n", args[1]);
			rc = EXIT_USAGE;
		} else if (!cfgpath) {
			fprintf(
			    stderr,
			    "frontdesk: no configuration found: pass -c FILE (try -c config.yaml.example)\n");
			rc = EXIT_USAGE;
		} else {
			rc = daemon_run(cfgpath);
		}
	} else {
		fprintf(stderr, "frontdesk: unknown command '%s'\n\n", cmd);
		usage(stderr);
		rc = EXIT_USAGE;
	}
	free(args);
	return rc;
}
