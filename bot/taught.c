/*
 * taught.c - the examples the team taught, as the rules learn them
 * (taught.h).
 */
#include "taught.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

void taught_free(struct taught *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free((char *)t->v[i].rule);
		free((char *)t->v[i].text);
		free((char *)t->v[i].origin);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

void taught_from_store(struct taught *t, const struct store_taught *v, size_t n)
{
	taught_free(t);
	t->v = n ? xcalloc(n, sizeof(*t->v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		char day[16] = "", origin[STORE_MAX_NAME + 96];
		struct tm tm;
		time_t c = v[i].created;
		if (gmtime_r(&c, &tm))
			strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		int len = snprintf(origin, sizeof(origin), "taught by %s on %s",
		                   v[i].by ? v[i].by : "the team", day);
		if (v[i].ticket_id > 0 && len > 0 && (size_t)len < sizeof(origin))
			snprintf(origin + len, sizeof(origin) - (size_t)len, ", ticket %lld",
			         (long long)v[i].ticket_id);
		t->v[i] = (struct rules_extra){
		    .rule = xstrdup(v[i].rule),
		    .text = xstrdup(v[i].text),
		    .origin = xstrdup(origin),
		    .negative = v[i].negative,
		};
	}
	t->n = n;
}

struct listed {
	struct taught *t;
	int rc;
};

static void listed(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct listed *l = arg;
	l->rc = rc;
	if (rc == 0)
		taught_from_store(l->t, v, n);
}

int taught_read(const char *config_path, struct taught *t, char *err, size_t errn)
{
	struct diag d;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	diag_init(&d);
	struct config *cfg = config_load(config_path, &d);
	diag_free(&d);
	/* An invalid configuration is reported by whoever loads it next. */
	if (!cfg || !cfg->store_path || access(cfg->store_path, F_OK) != 0) {
		config_free(cfg);
		return 0;
	}
	struct store_conf sc = {.path = cfg->store_path, .sync_full = cfg->store_sync_full};
	struct store *s = store_open(&sc, err, errn);
	if (!s) {
		config_free(cfg);
		return -1;
	}
	struct listed l = {.t = t, .rc = -1};
	store_taught_list(s, listed, &l);
	if (l.rc != 0) {
		snprintf(err, errn, "cannot read the taught examples of %s", store_where(s));
		rc = -1;
	}
	store_close(s);
	config_free(cfg);
	return rc;
}
