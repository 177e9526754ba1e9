/*
 * team.c - the team from config.yaml and from the store (see team.h).
 *
 * The two parts are kept apart (cfg_* and stored_*) and the merged lists
 * are rebuilt whenever either changes, so the rules of team.h live in one
 * function, merge().
 */
#include "team.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "store.h"
#include "util.h"

/* An agent as config.yaml or the store gives it. */
struct src_agent {
	char *login, *name, *hash, *replaces;
	int admin;
};

struct src_label {
	char *name, *color;
};

struct team {
	struct src_agent *cfg_agents, *st_agents;
	size_t n_cfg_agents, n_st_agents;
	struct src_label *cfg_labels, *st_labels;
	size_t n_cfg_labels, n_st_labels;
	struct team_canned *canned;
	size_t n_canned;

	struct team_agent *agents;
	size_t n_agents;
	struct team_label *labels;
	size_t n_labels;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void src_agents_free(struct src_agent *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].login);
		free(v[i].name);
		if (v[i].hash)
			explicit_bzero(v[i].hash, strlen(v[i].hash));
		free(v[i].hash);
		free(v[i].replaces);
	}
	free(v);
}

static void src_labels_free(struct src_label *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].color);
	}
	free(v);
}

static void merged_free(struct team *t)
{
	for (size_t i = 0; i < t->n_agents; i++) {
		free(t->agents[i].login);
		free(t->agents[i].name);
		free(t->agents[i].password_hash);
	}
	free(t->agents);
	for (size_t i = 0; i < t->n_labels; i++) {
		free(t->labels[i].name);
		free(t->labels[i].color);
	}
	free(t->labels);
	t->agents = NULL;
	t->labels = NULL;
	t->n_agents = t->n_labels = 0;
}

const char *team_default_colour(const char *name)
{
	static const char *const palette[] = {"#4f46e5", "#0f766e", "#b45309", "#be123c", "#7c3aed",
	                                      "#0369a1", "#15803d", "#a16207", "#c2410c", "#475569"};
	return palette[hash64(name, strlen(name)) % ARRAY_LEN(palette)];
}

static const struct src_agent *src_find(const struct src_agent *v, size_t n, const char *login)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i].login, login) == 0)
			return &v[i];
	return NULL;
}

/* The rules of team.h, applied to the two parts. */
static void merge(struct team *t)
{
	merged_free(t);
	size_t na = t->n_cfg_agents + t->n_st_agents;
	t->agents = na ? xcalloc(na, sizeof(*t->agents)) : NULL;
	for (size_t i = 0; i < t->n_cfg_agents; i++) {
		const struct src_agent *c = &t->cfg_agents[i];
		const struct src_agent *st = src_find(t->st_agents, t->n_st_agents, c->login);
		struct team_agent *a = &t->agents[t->n_agents++];
		/* A password changed in the dashboard counts while the config
		 * still holds the hash it replaced. */
		int changed = st && st->hash && st->replaces && c->hash && strcmp(st->replaces, c->hash) == 0;
		a->login = xstrdup(c->login);
		a->name = xstrdup(c->name ? c->name : c->login);
		a->password_hash = dup_or_null(changed ? st->hash : c->hash);
		a->admin = c->admin;
		a->source = TEAM_CONFIG;
		a->password_changed = changed;
	}
	for (size_t i = 0; i < t->n_st_agents; i++) {
		const struct src_agent *st = &t->st_agents[i];
		if (st->replaces)
			continue; /* a config agent's password (used above, or stale) */
		if (src_find(t->cfg_agents, t->n_cfg_agents, st->login)) {
			log_warn("an agent added in the dashboard has a login config.yaml defines too: the "
			         "config's counts",
			         "login=%s", st->login);
			continue;
		}
		struct team_agent *a = &t->agents[t->n_agents++];
		a->login = xstrdup(st->login);
		a->name = xstrdup(st->name && *st->name ? st->name : st->login);
		a->password_hash = dup_or_null(st->hash);
		a->admin = st->admin;
		a->source = TEAM_DASHBOARD;
	}

	size_t nl = t->n_cfg_labels + t->n_st_labels;
	t->labels = nl ? xcalloc(nl, sizeof(*t->labels)) : NULL;
	for (size_t k = 0; k < 2; k++) {
		const struct src_label *v = k ? t->st_labels : t->cfg_labels;
		size_t n = k ? t->n_st_labels : t->n_cfg_labels;
		for (size_t i = 0; i < n; i++) {
			if (team_label(t, v[i].name))
				continue; /* the config's wins */
			struct team_label *l = &t->labels[t->n_labels++];
			l->name = xstrdup(v[i].name);
			l->color = xstrdup(v[i].color ? v[i].color : team_default_colour(v[i].name));
			l->source = k ? TEAM_DASHBOARD : TEAM_CONFIG;
		}
	}
}

struct team *team_new(void)
{
	return xcalloc(1, sizeof(struct team));
}

static void canned_free(struct team *t)
{
	for (size_t i = 0; i < t->n_canned; i++) {
		free(t->canned[i].title);
		free(t->canned[i].text);
	}
	free(t->canned);
	t->canned = NULL;
	t->n_canned = 0;
}

void team_free(struct team *t)
{
	if (!t)
		return;
	merged_free(t);
	src_agents_free(t->cfg_agents, t->n_cfg_agents);
	src_agents_free(t->st_agents, t->n_st_agents);
	src_labels_free(t->cfg_labels, t->n_cfg_labels);
	src_labels_free(t->st_labels, t->n_st_labels);
	canned_free(t);
	free(t);
}

void team_set_config(struct team *t, const struct config *cfg)
{
	src_agents_free(t->cfg_agents, t->n_cfg_agents);
	src_labels_free(t->cfg_labels, t->n_cfg_labels);
	t->cfg_agents = NULL;
	t->cfg_labels = NULL;
	t->n_cfg_agents = t->n_cfg_labels = 0;
	size_t na = cfg ? cfg->nagents : 0, nl = cfg ? cfg->nlabels : 0;
	if (na)
		t->cfg_agents = xcalloc(na, sizeof(*t->cfg_agents));
	for (size_t i = 0; i < na; i++) {
		const struct agent_conf *a = &cfg->agents[i];
		if (!a->login)
			continue;
		struct src_agent *d = &t->cfg_agents[t->n_cfg_agents++];
		d->login = xstrdup(a->login);
		d->name = dup_or_null(a->name);
		d->hash = dup_or_null(a->password_hash);
		d->admin = a->admin;
	}
	if (nl)
		t->cfg_labels = xcalloc(nl, sizeof(*t->cfg_labels));
	for (size_t i = 0; i < nl; i++) {
		t->cfg_labels[i].name = xstrdup(cfg->labels[i].name);
		t->cfg_labels[i].color = dup_or_null(cfg->labels[i].color);
	}
	t->n_cfg_labels = nl;
	merge(t);
}

/* One stored agent's value; 0, or -1 when it is not what team_agent_value writes. */
static int agent_parse(const char *login, const char *value, struct src_agent *out)
{
	json_t *j = json_loads(value, 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *role = json_string_value(json_object_get(j, "role"));
	const char *hash = json_string_value(json_object_get(j, "password_hash"));
	const char *replaces = json_string_value(json_object_get(j, "replaces"));
	int ok = json_is_object(j) && config_login_ok(login) &&
	         (!role || !strcmp(role, "admin") || !strcmp(role, "agent"));
	if (ok) {
		out->login = xstrdup(login);
		out->name = dup_or_null(name);
		out->hash = dup_or_null(hash);
		out->replaces = dup_or_null(replaces);
		out->admin = role && !strcmp(role, "admin");
	}
	json_decref(j);
	return ok ? 0 : -1;
}

void team_set_stored(struct team *t, const char *kind, const struct store_team_item *v, size_t n)
{
	if (!strcmp(kind, "agent")) {
		src_agents_free(t->st_agents, t->n_st_agents);
		t->st_agents = n ? xcalloc(n, sizeof(*t->st_agents)) : NULL;
		t->n_st_agents = 0;
		for (size_t i = 0; i < n; i++) {
			if (agent_parse(v[i].key, v[i].value, &t->st_agents[t->n_st_agents]) == 0)
				t->n_st_agents++;
			else
				log_warn("a stored agent is not readable: ignored", "login=%s", v[i].key);
		}
	} else if (!strcmp(kind, "label")) {
		src_labels_free(t->st_labels, t->n_st_labels);
		t->st_labels = n ? xcalloc(n, sizeof(*t->st_labels)) : NULL;
		t->n_st_labels = 0;
		for (size_t i = 0; i < n; i++) {
			if (!config_label_ok(v[i].key, v[i].value))
				continue;
			struct src_label *l = &t->st_labels[t->n_st_labels++];
			l->name = xstrdup(v[i].key);
			l->color = xstrdup(v[i].value);
		}
	} else if (!strcmp(kind, "canned")) {
		canned_free(t);
		t->canned = n ? xcalloc(n, sizeof(*t->canned)) : NULL;
		for (size_t i = 0; i < n; i++) {
			t->canned[i].title = xstrdup(v[i].key);
			t->canned[i].text = xstrdup(v[i].value);
		}
		t->n_canned = n;
		return;
	} else {
		return;
	}
	merge(t);
}

size_t team_agents(const struct team *t, const struct team_agent **v)
{
	*v = t->agents;
	return t->n_agents;
}

const struct team_agent *team_agent(const struct team *t, const char *login)
{
	for (size_t i = 0; login && i < t->n_agents; i++)
		if (strcasecmp(t->agents[i].login, login) == 0)
			return &t->agents[i];
	return NULL;
}

size_t team_labels(const struct team *t, const struct team_label **v)
{
	*v = t->labels;
	return t->n_labels;
}

const struct team_label *team_label(const struct team *t, const char *name)
{
	for (size_t i = 0; name && i < t->n_labels; i++)
		if (strcasecmp(t->labels[i].name, name) == 0)
			return &t->labels[i];
	return NULL;
}

size_t team_canned(const struct team *t, const struct team_canned **v)
{
	*v = t->canned;
	return t->n_canned;
}

char *team_agent_value(const char *name, int admin, const char *password_hash, const char *replaces)
{
	json_t *j = json_object();
	if (name)
		json_object_set_new(j, "name", json_string(name));
	json_object_set_new(j, "role", json_string(admin ? "admin" : "agent"));
	if (password_hash)
		json_object_set_new(j, "password_hash", json_string(password_hash));
	if (replaces)
		json_object_set_new(j, "replaces", json_string(replaces));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

char *team_password_value(const struct team *t, const char *login, const char *password_hash)
{
	const struct src_agent *c = src_find(t->cfg_agents, t->n_cfg_agents, login);
	if (c)
		return team_agent_value(NULL, c->admin, password_hash, c->hash);
	const struct team_agent *a = team_agent(t, login);
	if (!a || a->source != TEAM_DASHBOARD)
		return NULL;
	return team_agent_value(a->name, a->admin, password_hash, NULL);
}
