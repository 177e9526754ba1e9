/*
 * report_cli.c - `frontdesk report` (report_cli.h).  A store opened
 * without a loop answers before it returns: the callback fills the stack.
 */
#include "report_cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_store.h"
#include "config.h"
#include "hours.h"
#include "report.h"
#include "store.h"
#include "util.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: frontdesk [-c CONFIG] report [--json] [--since WHEN] [--until WHEN] [--by day|week]\n"
    "\n"
    "What the bot saves the team, per day (or week) and channel: posts, the share the\n"
    "bot handled without a person, people needed and why, first reply and resolution\n"
    "times (medians), response targets missed and met, and customer satisfaction.\n"
    "WHEN is a date (2026-11-01), a time (2026-11-01T09:00Z) or a duration back from\n"
    "now (7d, 12h).  Default: the last 7 days, by day.  --json: the same figures as one\n"
    "object (docs/queue-cli.md, \"report\").\n";

/* What `report` prints, once the figures are computed. */
struct shown {
	int json;
	const struct hours *h;
	int rc;
};

static void reported(void *arg, int rc, const struct report *r)
{
	struct shown *w = arg;
	w->rc = rc;
	if (rc != 0)
		return;
	if (w->json) {
		json_t *o = report_json(r, w->h);
		char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(text ? text : "{}");
		free(text);
		json_decref(o);
	} else {
		struct buf out;
		buf_init(&out, 0);
		report_text(r, w->h, &out);
		fputs(out.p ? out.p : "", stdout);
		buf_free(&out);
	}
}

/* A date, a time or a duration back from now. */
static int when(const char *s, time_t now, time_t *out)
{
	long secs;
	char buf[40];
	if (parse_duration(s, &secs) == 0) {
		*out = now - secs;
		return 0;
	}
	if (strlen(s) == 10) {
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
		s = buf;
	}
	return time_parse_iso(s, out);
}

int report_cli_main(const char *config_path, int argc, char **argv)
{
	int json = 0, days = 1;
	const char *since_s = "7d", *until_s = NULL;
	/* The window is [since, until): by default it ends after this second, so
	 * a post that arrived a moment ago is counted. */
	time_t now = time(NULL), since, until = now + 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--since") || !strcmp(a, "--until") || !strcmp(a, "--by")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "frontdesk report: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--since"))
				since_s = v;
			else if (!strcmp(a, "--until"))
				until_s = v;
			else if (!strcmp(v, "day") || !strcmp(v, "week"))
				days = v[0] == 'w' ? 7 : 1;
			else {
				fprintf(stderr, "frontdesk report: --by day or --by week, not '%s'\n", v);
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr,
			        "frontdesk report: unexpected argument '%s' (see frontdesk report --help)\n",
			        a);
			return EXIT_USAGE;
		}
	}
	if (when(since_s, now, &since) < 0 || (until_s && when(until_s, now, &until) < 0)) {
		fprintf(stderr, "frontdesk report: not a date, time or duration: '%s'\n",
		        until_s && when(since_s, now, &since) == 0 ? until_s : since_s);
		return EXIT_USAGE;
	}
	if (until <= since || until - since > (time_t)REPORT_MAX_DAYS * 86400) {
		fprintf(stderr,
		        "frontdesk report: the window must end after it starts, and span at most %d days\n",
		        REPORT_MAX_DAYS);
		return EXIT_USAGE;
	}
	struct config *cfg;
	struct store *s;
	int rc = cli_store_open("report", config_path, &cfg, &s);
	if (rc != 0)
		return rc;
	/* A store without a loop answers before it returns. */
	struct shown w = {.json = json, .h = cfg->hours, .rc = -1};
	report_compute(s, cfg->hours, since, until, days, now, reported, &w);
	if (w.rc != 0) {
		fprintf(stderr, "frontdesk report: cannot read the store (see the log line above)\n");
		rc = 1;
	}
	store_close(s);
	config_free(cfg);
	return rc;
}
