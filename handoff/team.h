/*
 * team.h - the team as the dashboard and `frontdesk queue` see it: the
 * agents with their roles and passwords, the labels put on conversations,
 * and the canned replies, each from two places: config.yaml, and what an
 * admin set in the dashboard (kept in the store: store_team_*, kinds
 * "agent", "label", "canned").
 *
 * Which wins (README, "The dashboard"):
 *  - An agent of config.yaml (dashboard.agents) is that agent: its name and
 *    role come from there, and the dashboard cannot change or remove it.
 *    Its password can be changed in the dashboard by the agent: the new
 *    hash is kept in the store and replaces the config's one, until
 *    config.yaml gets a new password_hash for that login (how a forgotten
 *    password is reset): the config's then wins again.
 *  - Agents an admin adds in the dashboard live in the store; a login that
 *    config.yaml defines as well is the config's (the stored one is
 *    ignored, and logged).
 *  - Labels and canned replies: the config's (dashboard.labels, the
 *    replies' canned.* keys) and the dashboard's are listed together; on
 *    the same name the config's wins, and only the dashboard's can be
 *    changed or removed there.
 *
 * A stored agent's value is JSON: {"name", "role", "password_hash",
 * "replaces"} ("replaces": the config hash a changed password replaced;
 * absent for agents added in the dashboard).  A stored label's value is its
 * colour; a stored canned reply's key is its title and its value its text.
 *
 * Ownership: struct team owns copies of everything; pointers it hands out
 * are valid until the next team_set_*.  Not thread-safe (the loop's).
 */
#ifndef FD_TEAM_H
#define FD_TEAM_H

#include <stddef.h>

struct config;
struct store_team_item;

#define TEAM_MAX_CANNED 8192 /* bytes of a canned reply's text set in the dashboard */
#define TEAM_MAX_TITLE  80   /* bytes of its title */

enum team_source { TEAM_CONFIG = 0, TEAM_DASHBOARD };

struct team_agent {
	char *login, *name;
	char *password_hash; /* the one that counts (see above) */
	int admin;
	enum team_source source;
	int password_changed; /* a config agent whose dashboard password counts */
};

struct team_label {
	char *name;
	char *color; /* "#rrggbb": the configured one, or one chosen from the name */
	enum team_source source;
};

struct team_canned {
	char *title, *text; /* dashboard-made ones only (the config's are replies) */
};

struct team;

struct team *team_new(void);
void team_free(struct team *t);

/* The configuration part (cfg borrowed for the call); the stored part is kept. */
void team_set_config(struct team *t, const struct config *cfg);
/* The stored items of `kind` ("agent", "label", "canned"), as the store listed them. */
void team_set_stored(struct team *t, const char *kind, const struct store_team_item *v, size_t n);

size_t team_agents(const struct team *t, const struct team_agent **v);
/* The agent with this login (case-insensitive), or NULL. */
const struct team_agent *team_agent(const struct team *t, const char *login);
size_t team_labels(const struct team *t, const struct team_label **v);
const struct team_label *team_label(const struct team *t, const char *name);
size_t team_canned(const struct team *t, const struct team_canned **v);

/*
 * The stored value of an agent (malloc'd JSON; caller frees): what a
 * dashboard-made agent or a changed password is kept as.  replaces NULL
 * for agents the dashboard made.
 */
char *team_agent_value(const char *name, int admin, const char *password_hash, const char *replaces);

/*
 * What a change of `login`'s own password stores (malloc'd JSON): for a
 * config agent, the new hash replacing the config's current one; for a
 * dashboard agent, its value with the new hash.  NULL for an unknown login.
 */
char *team_password_value(const struct team *t, const char *login, const char *password_hash);

/* A colour for a label without one: the same for the same name, from a
 * small palette that reads well on white. */
const char *team_default_colour(const char *name);

#endif
