/*
 * config.h - config.yaml: load, validate and hold the daemon's settings
 * (frontdesk.yaml(5), man/frontdesk.yaml.5; config.yaml.example documents every option).
 *
 * Loading never stops at the first problem: every error is reported to a
 * struct diag as "file:line:column: what was expected", unknown keys get a
 * "did you mean", and the whole configuration is refused when there is any
 * error (config_load returns NULL).  Nothing is half-applied, so a SIGHUP
 * reload can keep the old configuration when the new one is bad.
 *
 * What is checked at load: the shape of every section, durations ("30m",
 * "4h", "1d"), opening hours, holidays and the time zone (hours.h), that
 * every rules/replies/lexicon glob matches at least one file, listen
 * addresses ("host:port", "[v6]:port"), URLs (https://, or http:// / ws://
 * only on loopback), e-mail addresses, password hashes (crypt(3) formats),
 * and the shape of secret references.  Secrets themselves (`*_env`
 * variables and `*_file` files) are not read at load: config_read_secret
 * reads one where it is used, and refuses a file others can read.
 *
 * Paths: globs, store.path and `*_file` are relative to the directory of
 * the config file (config->dir, made absolute when the directory exists);
 * absolute ones are taken as they are.
 *
 * The lexicon: `sentiment.lexicon` when given; without it the default word
 * lists are found, in this order, in the installed share directory
 * (<bindir>/../share/frontdesk/rules/lexicon/, i.e. PREFIX/share/frontdesk
 * for an installed binary), in a lexicon/ folder beside the rule files, or
 * in the copy built into the binary; lexicon_from says which.
 *
 * Ownership: config_load returns a struct config owning every string,
 * array and the struct hours in it; config_free releases all of it.
 * Other modules borrow pointers into it for as long as the config lives
 * (a reload builds a new one and frees the old one only after switching).
 */
#ifndef FD_CONFIG_H
#define FD_CONFIG_H

#include <stddef.h>

#include "hours.h"
#include "util.h"
#include "yml.h"

#define CONFIG_SECRET_MAX 4096 /* a secret longer than this is refused */
/* The hash in config.yaml.example (the password "frontdesk", printed in the
 * README): fine for a first try on this machine, refused for a dashboard
 * that listens beyond it. */
#define CONFIG_EXAMPLE_PASSWORD_HASH                                                                         \
	"$y$j9T$NLC2cLWR5S3frfTHBNa8R/$lcyjdxpUHTA4qhGF86SI8UoGaQST0NDohdltDQqLZQ3"

/* Defaults of answers.min_confidence and answers.min_margin: one setting for
 * every business, chosen on held-out data (BENCHMARKS.md, "Learning"). */
#define CONFIG_MIN_CONFIDENCE 0.52
#define CONFIG_MIN_MARGIN     0.1

struct connector_ops;

/* A secret named in config: exactly one of env / file is set (file already
 * resolved against the config directory).  Read it with config_secret_read. */
struct config_secret {
	char *env, *file;
};

/*
 * Whose word a listener takes for the client's address (server.h): the
 * `trusted_proxies` and `proxy_header` keys of a listening connector or of
 * the dashboard.
 */
struct config_proxies {
	char **trusted; /* NULL-terminated addresses / networks, NULL = nobody */
	int forwarded;  /* proxy_header: 1 = Forwarded, 0 = X-Forwarded-For (default) */
};

/*
 * One platform connection.  `type` names a connector type of this build
 * (connector.h's registry); `name` defaults to the type and is unique.
 * What the type itself takes lives in its own struct, `settings`, which its
 * parser (connector_ops.parse) built; the fields here are the ones every
 * connector shares.
 */
struct connector_conf {
	char *type;
	char *name;
	char *channel;  /* label given to posts' `channel` (rules may match on it), or NULL */
	int line;       /* config line of this connector, for messages */
	char *listen;   /* "host:port" the connector listens on (set by its parser with
	                   config_key_listen: listen addresses must not clash), or NULL */
	char *endpoint; /* where it connects (an instance URL), for `check` and logs, or NULL */
	/* Where the platform takes free-form replies only within a time after
	 * the customer's last message (seconds, 0 = always): for the bot's
	 * replies and for a person's (connector_reply_allowed).  Set by the
	 * type's parser. */
	long reply_window, agent_window;
	const struct connector_ops *ops; /* the type (never NULL in a loaded config) */
	void *settings;                  /* the type's own struct, or NULL; freed by ops->free_settings */
};

struct agent_conf {
	char *login;
	char *name;          /* display name shown to customers; defaults to login */
	char *password_hash; /* crypt(3) hash: $y$, $gy$, $7$, $2b$, $6$, $5$ */
	int admin;           /* role: admin (manages the team from the dashboard) or agent (0) */
};

/* A label agents put on conversations (dashboard.labels). */
#define CONFIG_MAX_LABEL 64 /* bytes of a label's name (store.h's STORE_MAX_LABEL) */
struct label_conf {
	char *name;
	char *color; /* "#rrggbb" / "#rgb", or NULL (the dashboard picks one) */
};

#define CONFIG_DEFAULT_MIN_FREE           (16LL << 20)   /* store.min_free */
#define CONFIG_DEFAULT_KEEP_CONVERSATIONS (365L * 86400) /* store.retention.conversations */
#define CONFIG_DEFAULT_KEEP_OUTBOX        (30L * 86400)  /* store.retention.outbox */
#define CONFIG_DEFAULT_KEEP_VISITORS      (7L * 86400)   /* store.retention.visitors */

/* A notification channel for new and overdue tickets. */
struct notify_conf {
	char *type; /* webhook | email */
	char *url;  /* webhook: the URL (or url_env / url_file: it is a secret) */
	char *url_env, *url_file;
	char *format; /* webhook: slack | discord | mattermost | json (default json) */
	char *smtp;   /* email: smtp://host[:port] (STARTTLS) or smtps://host[:port] */
	char *from;
	char **to;      /* NULL-terminated, at least one */
	char *username; /* SMTP login, or NULL */
	char *password_env, *password_file;
	enum priority min_priority; /* notify for this priority and more urgent (default low = all) */
	char *agent; /* a dashboard login: only tickets unclaimed or claimed by this agent, or NULL */
	int line;
};

struct config {
	char *path, *dir; /* the config file (or the name given to config_load_mem) and its directory */
	char *business_name, *timezone, *phone, *email;
	struct hours *hours;
	long target[PRIO_COUNT]; /* seconds of business time; defaults urgent 30m, high 1h, normal 4h, low 1d
	                          */
	char **rule_files, **reply_files, **lexicon_files; /* expanded, NULL-terminated */
	char *lexicon_from;  /* where the lexicon came from, for `check`: "sentiment.lexicon", or
	                        without that key the first of "<share>/rules/lexicon/ (the installed
	                        default)", "<rules dir>/lexicon/ (beside the rules)", "the copy built
	                        into frontdesk" (lexicon_files are then "builtin:..." paths) */
	char *store_path;    /* resolved relative to the config dir */
	int store_sync_full; /* store.synchronous: full (default) | normal */

	long long store_min_free; /* store.min_free: bytes kept free; below, no new work */
	/* store.retention: seconds each kind of finished thing is kept (0: for
	 * ever); see struct store_retention in store.h for what each covers. */
	struct {
		long conversations, outbox, visitors;
	} retention;
	/* PostgreSQL instead of SQLite: store.url, or the URL as a secret
	 * (store.url_env / url_file); read it with config_store_url. */
	char *store_url;
	struct config_secret store_url_secret;
	long store_lease; /* store.lease: seconds an outbox row stays a process's (60) */
	char *store_node; /* store.node: this process among those sharing the database */
	struct connector_conf *connectors;
	size_t nconnectors;     /* default: one webchat on 127.0.0.1:8080 */
	char *dashboard_listen; /* default 127.0.0.1:8081 */
	/* dashboard.hosts: the host names (or addresses) the dashboard answers
	 * to, lower case; default: its listen address (unless that is a
	 * wildcard), localhost, 127.0.0.1 and ::1.  Never NULL after a load. */
	char **dashboard_hosts;
	struct config_proxies dashboard_proxies;
	long dashboard_max_connections;         /* dashboard.limits.connections (default 128) */
	long dashboard_connections_per_address; /* dashboard.limits.connections_per_address (32) */
	/* dashboard.metrics_token_env / _file: a bearer token /metrics asks for;
	 * without one /metrics answers loopback clients of a loopback listener
	 * only. */
	struct config_secret metrics_token;
	struct agent_conf *agents;
	size_t nagents;
	struct label_conf *labels; /* dashboard.labels */
	size_t nlabels;
	struct notify_conf *notify;
	size_t nnotify;
	long cooldown; /* bot.cooldown: min seconds between two acknowledgements in a thread (10m) */
	long human_ack_interval;   /* bot.human_ack_interval: at most one "a person will reply" notice per
	                              interval in a human-owned thread (1h) */
	double negative_threshold; /* sentiment.threshold, NAN when not set (the lexicon's default applies) */
	double min_confidence;     /* answers.min_confidence: a rule recognised from its examples with
	                              less confidence is not acted on (CONFIG_MIN_CONFIDENCE) */
	double min_margin;         /* answers.min_margin: nor when the next rule is this close
	                              (CONFIG_MIN_MARGIN) */
	char *log_level;           /* log.level: debug|info|warn|error (default info) */
	/* satisfaction: after a person resolves a conversation, the customer is
	 * asked to rate it (replies key `satisfaction.ask`): ask on|off
	 * (default on), and how long the question stands (window, default 3d). */
	int satisfaction_ask;
	long satisfaction_window;
	/* What is allowed but unwise ("file:line: ..."), NULL-terminated or
	 * NULL: `check` prints them, the daemon logs them at start and reload. */
	char **warnings;
};

/*
 * Load and validate the file at `path`.  NULL with every error in d (the
 * caller prints d->out and exits 2, or keeps the old config on reload).
 */
struct config *config_load(const char *path, struct diag *d);

/*
 * Same from memory: `name` is what errors call the file, relative paths
 * resolve against `dir` (e.g. the embedded default with dir = the
 * installed share directory).
 */
struct config *config_load_mem(const char *name, const char *dir, const char *data, size_t len,
                               struct diag *d);

void config_free(struct config *c);

/* The connector called `name`, or NULL. */
const struct connector_conf *config_connector(const struct config *c, const char *name);

/*
 * When a response at priority p to something that arrived at `from` is due:
 * the response target counted in opening hours (a business that is never
 * open counts wall-clock time).  The pipeline's `due` and the dashboard's
 * change of priority use it.
 */
time_t config_due(const struct config *c, enum priority p, time_t from);

/* A label's name (1..CONFIG_MAX_LABEL bytes, no control characters or
 * commas) and colour (NULL, "#rgb" or "#rrggbb") are acceptable: 1 or 0. */
int config_label_ok(const char *name, const char *colour);

/* A login an agent may have: letters, digits and . _ - @, 1..64 bytes.  1 or 0. */
int config_login_ok(const char *login);

/* The agent with login `login`, or NULL. */
const struct agent_conf *config_agent(const struct config *c, const char *login);

/*
 * The PostgreSQL URL the configuration names (store.url, or read from
 * store.url_env / url_file now): 1 with it in out, 0 when the store is
 * SQLite (store.path), -1 with a reason (never the URL) in err.
 */
int config_store_url(const struct config *c, char *out, size_t n, char *err, size_t errn);

/* config_read_secret for a struct config_secret. */
int config_secret_read(const struct config_secret *s, char *out, size_t n, char *err, size_t errn);

/*
 * Read a secret named by config: the environment variable `env` when env is
 * non-NULL, else the file `file` (as stored in the config: already resolved
 * against the config dir).  A file must be a regular file not accessible
 * to group or others (chmod 600).  One trailing newline (LF or CRLF) is
 * stripped; an empty secret, one containing a line break or NUL, or one
 * longer than n - 1 bytes (or CONFIG_SECRET_MAX) is refused.
 * 0 with the secret in out; -1 with a reason (never the secret) in err.
 */
int config_read_secret(const char *env, const char *file, char *out, size_t n, char *err, size_t errn);

/* --- for connector parsers (connector_ops.parse) ------------------------------- */

/*
 * The loader as a connector's parser sees it: the mapping of one connector
 * (or of a section inside it).  Every config_key_* helper reads one key of
 * p->map, reports a problem as "file:line:col: <what>.<key>: ..." (so the
 * whole configuration is refused and every problem listed), and returns
 * NULL / -1 after an error or when the key is absent and not required.
 * With p->map NULL (the built-in default connector) every key is absent.
 */
struct config_parser {
	void *ld;                  /* the loader (private) */
	yaml_node_t *map;          /* the mapping read, or NULL */
	char what[128];            /* its place in messages: "connectors[2]", "connectors[2].limits" */
	struct connector_conf *cc; /* the connector being read */
};

enum config_url {
	CONFIG_URL_HTTP,  /* https:// (http:// only on loopback) */
	CONFIG_URL_WS,    /* wss:// or https:// (ws:// and http:// only on loopback) */
	CONFIG_URL_SMTP,  /* smtps:// or smtp:// */
	CONFIG_URL_ORIGIN /* http(s)://host[:port] without a path (a browser Origin) */
};

/* 1 when key is given (not null), else 0. */
int config_key_given(struct config_parser *p, const char *key);
/* A string (copy, no control characters, at most 1024 bytes). */
char *config_key_str(struct config_parser *p, const char *key, int required, const char *hint);
/* A URL checked with curl's parser for its kind; no credentials in it;
 * a trailing '/' is dropped. */
char *config_key_url(struct config_parser *p, const char *key, enum config_url kind, int required,
                     const char *hint);
/* The secret `name` given as name_env or name_file (exactly one when
 * required, at most one otherwise): 0 set (or absent and optional), -1. */
int config_key_secret(struct config_parser *p, const char *name, int required, const char *desc,
                      struct config_secret *out);
/* `listen: host:port` into p->cc->listen, or `deflt` (may be NULL) when absent. */
void config_key_listen(struct config_parser *p, const char *deflt);
/* A whole number from min to max into *out (unchanged when absent). */
void config_key_int(struct config_parser *p, const char *key, long *out, long min, long max);
/* A list of strings (or one string): malloc'd, NULL-terminated (strv_free). */
char **config_key_strv(struct config_parser *p, const char *key, size_t max);
/* The item of a key_strv list at index i, for messages about one item. */
void config_key_item_error(struct config_parser *p, const char *key, size_t i, const char *fmt, ...)
    FD_PRINTF(4, 5);
/* `trusted_proxies` (addresses / networks) and `proxy_header`
 * (x-forwarded-for | forwarded) into *out; absent: nobody is trusted.
 * A listening connector's parser calls it and lists both keys. */
void config_key_proxies(struct config_parser *p, struct config_proxies *out);
/* Free what config_key_proxies set. */
void config_proxies_free(struct config_proxies *pr);
/* A mapping `key` with the given keys: 1 and *sub set to read it, 0 absent, -1 after an error. */
int config_key_section(struct config_parser *p, const char *key, const char *const *keys,
                       struct config_parser *sub);
/* An error at key (or at the whole mapping when key is NULL or absent). */
void config_key_error(struct config_parser *p, const char *key, const char *fmt, ...) FD_PRINTF(3, 4);
/* Check a URL as config_key_url does; 0, or -1 with the reason in err. */
int config_url_check(const char *s, enum config_url kind, char *err, size_t errn);

/*
 * "host:port" / "[v6]:port" with port 1..65535.  0 ok, -1 with a reason in
 * err.  Exposed for the command line (e.g. overriding a listen address).
 */
int config_check_listen(const char *s, char *err, size_t errn);

#endif
