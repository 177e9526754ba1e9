/*
 * config.c - loading and validating config.yaml.
 *
 * One pass over the document: each section has a small function that
 * checks its keys (unknown ones get "did you mean"), reads its values with
 * the helpers below, reports every problem at the node it concerns, and
 * stores what it read into struct config.  The result is only handed out
 * when the diag holds no error at the end; otherwise everything is freed.
 */
#include "config.h"

#include "connector.h"
#include "embedded.h"
#include "url.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netaddr.h"

#define MAX_STR      1024 /* any one string value */
#define MAX_FILES    4096 /* files from all globs of one key */
#define MAX_LIST     256  /* connectors, agents, notifiers, origins, recipients */
#define MAX_TARGET   (365L * 86400)
#define MAX_INTERVAL (30L * 86400)
#define MAX_LIMIT    1000000L
#define MAX_ENV_NAME 128

#define DEFAULT_DASHBOARD_LISTEN      "127.0.0.1:8081"
#define DEFAULT_DASHBOARD_CONNECTIONS 128
#define DEFAULT_DASHBOARD_PER_ADDRESS 32

static const char *const default_rules[] = {"rules/*.yaml", NULL};
static const char *const default_replies[] = {"replies/en.yaml", NULL};

/* Everything a section parser needs. */
struct ld {
	struct diag *d;
	struct yml_doc *y;
	struct config *c;
};

/* ---- value helpers ---- */

/* A YAML null (`key:` with nothing, ~, null) counts as "not given". */
static int is_null(const yaml_node_t *n)
{
	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static yaml_node_t *get(struct ld *L, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = yml_get(L->y, map, key);
	return is_null(n) ? NULL : n;
}

/* The node's string, checked for length and control characters; NULL after an error. */
static const char *str_at(struct ld *L, yaml_node_t *n, const char *what)
{
	const char *s = yml_scalar(n);
	if (!s) {
		yml_error(L->d, L->y, n, "%s: expected a string", what);
		return NULL;
	}
	size_t len = n->data.scalar.length;
	if (len != strlen(s)) {
		yml_error(L->d, L->y, n, "%s: contains a NUL character", what);
		return NULL;
	}
	if (len == 0) {
		yml_error(L->d, L->y, n, "%s: expected a non-empty string", what);
		return NULL;
	}
	if (len > MAX_STR) {
		yml_error(L->d, L->y, n, "%s: longer than %d characters", what, MAX_STR);
		return NULL;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			yml_error(L->d, L->y, n, "%s: contains a control character", what);
			return NULL;
		}
	return s;
}

/* Optional string `key` of map: a copy, or NULL when absent or bad. */
static char *opt_str(struct ld *L, yaml_node_t *map, const char *key, const char *what)
{
	yaml_node_t *n = get(L, map, key);
	if (!n)
		return NULL;
	const char *s = str_at(L, n, what);
	return s ? xstrdup(s) : NULL;
}

static char *req_str(struct ld *L, yaml_node_t *map, const char *key, const char *what, const char *hint)
{
	if (!get(L, map, key)) {
		yml_error(L->d, L->y, map, "%s: missing required key '%s'%s%s", what, key, hint ? " " : "",
		          hint ? hint : "");
		return NULL;
	}
	char path[160];
	snprintf(path, sizeof(path), "%s.%s", what, key);
	return opt_str(L, map, key, path);
}

/* A section that must be a mapping (or absent/null: NULL). */
static yaml_node_t *section(struct ld *L, yaml_node_t *map, const char *key, const char *what,
                            const char *const *allowed)
{
	yaml_node_t *n = get(L, map, key);
	if (!n)
		return NULL;
	if (yml_want_map(L->d, L->y, n, what) < 0)
		return NULL;
	yml_check_keys(L->d, L->y, n, allowed, what);
	return n;
}

static void fmt_duration(long s, char *out, size_t n)
{
	if (s && s % 86400 == 0)
		snprintf(out, n, "%ldd", s / 86400);
	else if (s && s % 3600 == 0)
		snprintf(out, n, "%ldh", s / 3600);
	else if (s && s % 60 == 0)
		snprintf(out, n, "%ldm", s / 60);
	else
		snprintf(out, n, "%lds", s);
}

/* Duration `key` of map into *out (unchanged when absent). */
static void duration(struct ld *L, yaml_node_t *map, const char *key, const char *what, long *out, long min,
                     long max)
{
	yaml_node_t *n = get(L, map, key);
	long v;
	if (!n)
		return;
	const char *s = str_at(L, n, what);
	if (!s)
		return;
	if (strcmp(s, "0") == 0) {
		v = 0;
	} else if (parse_duration(s, &v) < 0) {
		int bare = 1;
		for (const char *p = s; *p; p++)
			if (!isdigit((unsigned char)*p))
				bare = 0;
		yml_error(L->d, L->y, n, "%s: expected a duration like 30m, 4h or 1d (got '%s'%s)", what, s,
		          bare ? "; a number needs a unit, e.g. 90s" : "");
		return;
	}
	if (v < min || v > max) {
		char a[32], b[32];
		fmt_duration(min, a, sizeof(a));
		fmt_duration(max, b, sizeof(b));
		yml_error(L->d, L->y, n, "%s: '%s' is out of range (%s to %s)", what, s, a, b);
		return;
	}
	*out = v;
}

/* Positive integer `key` of map into *out (unchanged when absent). */
static void integer(struct ld *L, yaml_node_t *map, const char *key, const char *what, long *out, long min,
                    long max)
{
	yaml_node_t *n = get(L, map, key);
	long v;
	if (!n)
		return;
	const char *s = str_at(L, n, what);
	if (!s)
		return;
	if (parse_long(s, &v) < 0 || v < min || v > max) {
		yml_error(L->d, L->y, n, "%s: expected a whole number from %ld to %ld (got '%s')", what, min,
		          max, s);
		return;
	}
	*out = v;
}

/* One of `choices` (NULL-terminated), or NULL after an error. */
static const char *choice(struct ld *L, yaml_node_t *n, const char *what, const char *const *choices)
{
	const char *s = str_at(L, n, what);
	if (!s)
		return NULL;
	for (size_t i = 0; choices[i]; i++)
		if (strcmp(s, choices[i]) == 0)
			return choices[i];
	char list[256] = "";
	for (size_t i = 0; choices[i]; i++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", choices[i]);
	}
	const char *sug = did_you_mean(s, choices);
	if (sug)
		yml_error(L->d, L->y, n, "%s: unknown value '%s' (did you mean '%s'?)", what, s, sug);
	else
		yml_error(L->d, L->y, n, "%s: unknown value '%s' (expected one of: %s)", what, s, list);
	return NULL;
}

/* path relative to the config dir unless absolute. */
static char *resolve(const struct config *c, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	return xasprintf("%s/%s", c->dir, p);
}

/* ---- addresses, URLs, mail, hashes ---- */

/* Split a listen address; host and port point into buf. */
static int split_listen(const char *s, char *buf, size_t bn, const char **host, long *port, char *err,
                        size_t errn)
{
	const char *colon;
	size_t len = strlen(s);

	if (len == 0 || len >= bn) {
		snprintf(err, errn, "expected host:port like 127.0.0.1:8080");
		return -1;
	}
	memcpy(buf, s, len + 1);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		struct in6_addr a6;
		if (!close || close[1] != ':') {
			snprintf(err, errn, "expected [IPv6 address]:port like [::1]:8080");
			return -1;
		}
		*close = '\0';
		if (inet_pton(AF_INET6, buf + 1, &a6) != 1) {
			snprintf(err, errn, "'%s' is not an IPv6 address", buf + 1);
			return -1;
		}
		*host = buf + 1;
		colon = close + 1;
	} else {
		char *c = strrchr(buf, ':');
		if (!c) {
			snprintf(err, errn, "missing port: expected host:port like 127.0.0.1:8080");
			return -1;
		}
		*c = '\0';
		if (strchr(buf, ':')) {
			snprintf(err, errn, "an IPv6 address needs brackets: [::1]:8080");
			return -1;
		}
		if (!buf[0]) {
			snprintf(err, errn,
			         "missing host: expected host:port like 127.0.0.1:8080 (0.0.0.0 for all)");
			return -1;
		}
		for (const char *p = buf; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '*') {
				snprintf(err, errn, "'%s' is not a host name or address", buf);
				return -1;
			}
		*host = buf;
		colon = c;
	}
	if (parse_long(colon + 1, port) < 0 || *port < 1 || *port > 65535) {
		snprintf(err, errn, "port must be a number from 1 to 65535");
		return -1;
	}
	return 0;
}

int config_check_listen(const char *s, char *err, size_t errn)
{
	char buf[300];
	const char *host;
	long port;
	return split_listen(s, buf, sizeof(buf), &host, &port, err, errn);
}

/* Two listen addresses that cannot both be bound. */
static int listen_clash(const char *a, const char *b)
{
	char ba[300], bb[300], err[128];
	const char *ha, *hb;
	long pa, pb;
	if (split_listen(a, ba, sizeof(ba), &ha, &pa, err, sizeof(err)) < 0 ||
	    split_listen(b, bb, sizeof(bb), &hb, &pb, err, sizeof(err)) < 0 || pa != pb)
		return 0;
	static const char *const any[] = {"0.0.0.0", "::", "*", NULL};
	for (int i = 0; any[i]; i++)
		if (!strcmp(ha, any[i]) || !strcmp(hb, any[i]))
			return 1;
	if (url_host_is_loopback(ha) && url_host_is_loopback(hb) &&
	    (!strcasecmp(ha, "localhost") || !strcasecmp(hb, "localhost")))
		return 1;
	return strcasecmp(ha, hb) == 0;
}

/*
 * Check a URL with curl's parser.  HTTP and WebSocket URLs must be TLS
 * unless they point at loopback (local tests and emulators); credentials
 * in a URL are refused because the config is not a place for secrets.
 */
int config_url_check(const char *s, enum config_url kind, char *err, size_t errn)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *path = NULL, *query = NULL;
	int rc = -1;

	if (!u)
		fatal("out of memory (curl_url)");
	if (curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		snprintf(err, errn, "'%s' is not a URL%s", s,
		         kind == CONFIG_URL_SMTP ? " (like smtps://mail.example:465)"
		                                 : " (like https://example.org)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		snprintf(err, errn, "credentials do not belong in a URL: use the *_env or *_file keys");
		goto out;
	}
	int loop = url_host_is_loopback(host);
	switch (kind) {
	case CONFIG_URL_HTTP:
		if (strcmp(scheme, "https") && !(loop && !strcmp(scheme, "http"))) {
			snprintf(err, errn, "'%s' must start with https:// (http:// only on loopback)", s);
			goto out;
		}
		break;
	case CONFIG_URL_WS:
		if (strcmp(scheme, "https") && strcmp(scheme, "wss") &&
		    !(loop && (!strcmp(scheme, "http") || !strcmp(scheme, "ws")))) {
			snprintf(err, errn,
			         "'%s' must start with wss:// or https:// (ws:// only on loopback)", s);
			goto out;
		}
		break;
	case CONFIG_URL_SMTP:
		if (strcmp(scheme, "smtp") && strcmp(scheme, "smtps")) {
			snprintf(err, errn, "'%s' must start with smtps:// (TLS) or smtp:// (STARTTLS)", s);
			goto out;
		}
		break;
	case CONFIG_URL_ORIGIN:
		if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
			snprintf(err, errn, "origin '%s' must start with https:// or http://", s);
			goto out;
		}
		if ((curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/")) ||
		    curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK || strchr(s, '#')) {
			snprintf(err, errn, "origin '%s' must be scheme://host[:port] without a path", s);
			goto out;
		}
		break;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

/* URL `key` of map (optional): a copy without a trailing '/', or NULL. */
static char *url_at(struct ld *L, yaml_node_t *map, const char *key, const char *what, enum config_url kind)
{
	yaml_node_t *n = get(L, map, key);
	char err[MAX_STR + 128];
	if (!n)
		return NULL;
	const char *s = str_at(L, n, what);
	if (!s)
		return NULL;
	if (config_url_check(s, kind, err, sizeof(err)) < 0) {
		yml_error(L->d, L->y, n, "%s: %s", what, err);
		return NULL;
	}
	char *v = xstrdup(s);
	size_t len = strlen(v);
	if (len > 1 && v[len - 1] == '/' && kind != CONFIG_URL_SMTP)
		v[len - 1] = '\0';
	return v;
}

/* Shape only: local@domain without spaces or brackets. */
static int email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > 254)
		return 0;
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || strchr("<>()[]\\,;:\"", *p))
			return 0;
	return at[1] != '.' && s[strlen(s) - 1] != '.';
}

static char *email_at(struct ld *L, yaml_node_t *n, const char *what)
{
	const char *s = str_at(L, n, what);
	if (!s)
		return NULL;
	if (!email_ok(s)) {
		yml_error(L->d, L->y, n, "%s: '%s' is not an e-mail address (like hello@shop.example)", what,
		          s);
		return NULL;
	}
	return xstrdup(s);
}

static int b64_alpha(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '/')
			return 0;
	return 1;
}

/*
 * A crypt(3) hash of a supported, non-legacy method, checked for shape:
 * method prefix, field alphabet and the length of the hash part.  (Whether
 * a password matches is only known at login.)
 */
static int hash_ok(const char *h)
{
	size_t len = strlen(h);
	const char *last = strrchr(h, '$');

	if (len < 20 || len > 512 || h[0] != '$' || crypt_checksalt(h) != CRYPT_SALT_OK)
		return 0;
	if (!strncmp(h, "$2b$", 4) || !strncmp(h, "$2a$", 4) || !strncmp(h, "$2y$", 4))
		return len == 60 && isdigit((unsigned char)h[4]) && isdigit((unsigned char)h[5]) &&
		       h[6] == '$' && b64_alpha(h + 7, 53);
	size_t hl = strlen(last + 1);
	if (!strncmp(h, "$y$", 3) || !strncmp(h, "$gy$", 4) || !strncmp(h, "$7$", 3)) {
		const char *body = strchr(h + 1, '$') + 1;
		for (const char *p = body; p < last; p++)
			if (*p != '$' && !b64_alpha(p, 1))
				return 0;
		return hl == 43 && b64_alpha(last + 1, hl) && last > body && last[-1] != '$';
	}
	if (!strncmp(h, "$6$", 3) || !strncmp(h, "$5$", 3))
		return hl == (h[1] == '6' ? 86u : 43u) && b64_alpha(last + 1, hl) && last > h + 3;
	return 0;
}

/* ---- secrets ---- */

static int env_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_') || strlen(s) > MAX_ENV_NAME)
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return 1;
}

/*
 * The secret `name` of map given as name_env or name_file (exactly one when
 * required, at most one otherwise).  Only shape is checked here.
 */
static void secret(struct ld *L, yaml_node_t *map, const char *name, const char *what, int required,
                   const char *desc, char **env, char **file)
{
	char ke[64], kf[64], pe[200], pf[200];
	snprintf(ke, sizeof(ke), "%s_env", name);
	snprintf(kf, sizeof(kf), "%s_file", name);
	snprintf(pe, sizeof(pe), "%s.%s", what, ke);
	snprintf(pf, sizeof(pf), "%s.%s", what, kf);
	yaml_node_t *ne = get(L, map, ke), *nf = get(L, map, kf);

	if (ne && nf) {
		yml_error(L->d, L->y, nf, "%s: give either %s or %s, not both", what, ke, kf);
		return;
	}
	if (!ne && !nf) {
		if (required)
			yml_error(L->d, L->y, map, "%s: missing %s or %s (%s)", what, ke, kf, desc);
		return;
	}
	if (ne) {
		const char *s = str_at(L, ne, pe);
		if (!s)
			return;
		if (!env_name_ok(s)) {
			yml_error(
			    L->d, L->y, ne,
			    "%s: '%s' does not look like an environment variable name (letters, digits, _; "
			    "the secret itself goes in the environment, not here)",
			    pe, s);
			return;
		}
		*env = xstrdup(s);
	} else {
		const char *s = str_at(L, nf, pf);
		if (s)
			*file = resolve(L->c, s);
	}
}

static void strip_newline(char *s, size_t *len)
{
	if (*len && s[*len - 1] == '\n')
		s[--*len] = '\0';
	if (*len && s[*len - 1] == '\r')
		s[--*len] = '\0';
}

int config_secret_read(const struct config_secret *s, char *out, size_t n, char *err, size_t errn)
{
	return config_read_secret(s ? s->env : NULL, s ? s->file : NULL, out, n, err, errn);
}

int config_read_secret(const char *env, const char *file, char *out, size_t n, char *err, size_t errn)
{
	size_t cap = n < CONFIG_SECRET_MAX + 1 ? n : CONFIG_SECRET_MAX + 1;
	size_t len;

	if (n == 0) {
		snprintf(err, errn, "no room for the secret");
		return -1;
	}
	out[0] = '\0';
	if (env) {
		const char *v = getenv(env);
		if (!v || !*v) {
			snprintf(err, errn, "environment variable %s is not set", env);
			return -1;
		}
		len = strlen(v);
		if (len >= cap) {
			snprintf(err, errn, "environment variable %s is too long (at most %zu bytes)", env,
			         cap - 1);
			return -1;
		}
		memcpy(out, v, len + 1);
	} else if (file) {
		int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		struct stat st;
		if (fd < 0) {
			snprintf(err, errn, "cannot open %s: %s", file, strerror(errno));
			return -1;
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			snprintf(err, errn, "%s is not a regular file", file);
			return -1;
		}
		if (st.st_mode & (S_IRWXG | S_IRWXO)) {
			close(fd);
			snprintf(err, errn,
			         "%s is accessible by group or others (mode %03o): run chmod 600 %s", file,
			         (unsigned)(st.st_mode & 0777), file);
			return -1;
		}
		len = 0;
		for (;;) {
			ssize_t r = read(fd, out + len, cap - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				close(fd);
				snprintf(err, errn, "cannot read %s: %s", file, strerror(errno));
				out[0] = '\0';
				return -1;
			}
			if (r == 0)
				break;
			len += (size_t)r;
			if (len == cap) {
				close(fd);
				memset(out, 0, cap);
				snprintf(err, errn, "%s is too long for a secret (at most %zu bytes)", file,
				         cap - 2);
				return -1;
			}
		}
		close(fd);
		out[len] = '\0';
		if (memchr(out, '\0', len)) {
			memset(out, 0, len);
			snprintf(err, errn, "%s contains a NUL byte", file);
			return -1;
		}
	} else {
		snprintf(err, errn, "no secret configured");
		return -1;
	}
	len = strlen(out);
	strip_newline(out, &len);
	if (len == 0) {
		snprintf(err, errn, "%s %s is empty", env ? "environment variable" : "secret file",
		         env ? env : file);
		return -1;
	}
	if (strchr(out, '\n') || strchr(out, '\r')) {
		memset(out, 0, len);
		snprintf(err, errn, "%s %s contains a line break",
		         env ? "environment variable" : "secret file", env ? env : file);
		return -1;
	}
	return 0;
}

/* ---- globs ---- */

static int strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/*
 * Expand one pattern into files (sorted by glob; directories skipped;
 * files already listed skipped).  Reports at node n, or at the file level
 * for a default pattern (n NULL).
 */
static void add_file(char ***files, size_t *nf, const char *p)
{
	*files = xrealloc(*files, (*nf + 2) * sizeof(char *));
	(*files)[(*nf)++] = xstrdup(p);
	(*files)[*nf] = NULL;
}

/*
 * Add the files the absolute pattern `full` matches (sorted by glob;
 * directories and files already listed skipped).  The number matched, or
 * -1 when the pattern could not be read or there were more than MAX_FILES.
 */
static long glob_into(const char *full, char ***files, size_t *nf)
{
	glob_t g;
	int rc = glob(full, GLOB_MARK, NULL, &g);
	long added = 0;

	if (rc == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if (rc != 0) {
		globfree(&g);
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc && added >= 0; i++) {
		const char *p = g.gl_pathv[i];
		size_t len = strlen(p);
		if (len && p[len - 1] == '/')
			continue;
		added++;
		if (strv_has(*files, *nf, p))
			continue;
		if (*nf >= MAX_FILES)
			added = -1;
		else
			add_file(files, nf, p);
	}
	globfree(&g);
	return added;
}

/*
 * Expand one pattern into files.  Reports at node n, or at the file level
 * for a default pattern (n NULL).
 */
static void expand_one(struct ld *L, yaml_node_t *n, const char *what, const char *pat, char ***files,
                       size_t *nf)
{
	char *full = resolve(L->c, pat);
	long added = glob_into(full, files, nf);

	if (added < 0)
		yml_error(L->d, L->y, n, "%s: cannot read '%s', or more than %d files", what, full,
		          MAX_FILES);
	else if (added == 0 && n)
		yml_error(L->d, L->y, n, "%s: '%s' matches no file (looked for %s)", what, pat, full);
	else if (added == 0)
		diag_error(L->d, L->y->file, 0, 0, "%s: the default '%s' matches no file (looked for %s)",
		           what, pat, full);
	free(full);
}

/* A string or list of glob patterns (or the defaults when absent): the files, NULL-terminated. */
static char **globs(struct ld *L, yaml_node_t *map, const char *key, const char *what,
                    const char *const *defaults)
{
	char **files = xcalloc(1, sizeof(char *));
	size_t nf = 0;
	yaml_node_t *n = map ? yml_get(L->y, map, key) : NULL;

	if (!n) {
		for (size_t i = 0; defaults[i]; i++)
			expand_one(L, NULL, what, defaults[i], &files, &nf);
		return files;
	}
	if (is_null(n) || (n->type == YAML_SEQUENCE_NODE && yml_len(n) == 0))
		return files; /* explicitly none */
	if (n->type == YAML_SCALAR_NODE) {
		const char *s = str_at(L, n, what);
		if (s)
			expand_one(L, n, what, s, &files, &nf);
		return files;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		yml_error(L->d, L->y, n, "%s: expected a list of file patterns like [rules/*.yaml]", what);
		return files;
	}
	for (int i = 0; i < yml_len(n); i++) {
		yaml_node_t *it = yml_item(L->y, n, i);
		const char *s = str_at(L, it, what);
		if (s)
			expand_one(L, it, what, s, &files, &nf);
	}
	return files;
}

/* ---- sections ---- */

static void parse_business(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"name",    "timezone",         "hours", "holidays",
	                                   "contact", "response_targets", NULL};
	static const char *const ckeys[] = {"phone", "email", NULL};
	static const char *const tkeys[] = {"urgent", "high", "normal", "low", NULL};
	struct config *c = L->c;
	yaml_node_t *b = get(L, root, "business");

	if (!b) {
		yml_error(L->d, L->y, root,
		          "missing required section 'business' (with at least name and timezone)");
		return;
	}
	if (yml_want_map(L->d, L->y, b, "business") < 0)
		return;
	yml_check_keys(L->d, L->y, b, keys, "business");
	c->business_name = req_str(L, b, "name", "business", "(the name customers know you by)");
	c->timezone = req_str(L, b, "timezone", "business", "(an IANA zone like Europe/London)");

	const char *tz = c->timezone;
	if (tz) {
		char why[600];
		if (hours_zone_check(tz, why, sizeof(why)) < 0) {
			yml_error(L->d, L->y, get(L, b, "timezone"), "business.timezone: '%s': %s", tz, why);
			tz = NULL;
		}
	}
	/* Still parse the hours with a stand-in zone, so their errors are reported too. */
	c->hours = hours_parse(L->d, L->y, get(L, b, "hours"), get(L, b, "holidays"), tz ? tz : "UTC");

	yaml_node_t *ct = section(L, b, "contact", "business.contact", ckeys);
	if (ct) {
		c->phone = opt_str(L, ct, "phone", "business.contact.phone");
		yaml_node_t *e = get(L, ct, "email");
		if (e)
			c->email = email_at(L, e, "business.contact.email");
	}
	yaml_node_t *t = section(L, b, "response_targets", "business.response_targets", tkeys);
	if (t) {
		char what[64];
		for (int p = 0; p < PRIO_COUNT; p++) {
			snprintf(what, sizeof(what), "business.response_targets.%s", tkeys[p]);
			duration(L, t, tkeys[p], what, &c->target[p], 60, MAX_TARGET);
		}
	}
}

/* The installation's share directory: <bindir>/../share/frontdesk for the
 * running binary (PREFIX/share/frontdesk after `make install`), or NULL. */
static char *install_share_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	char *dir = xasprintf("%s/../share/frontdesk", exe);
	char *abs = realpath(dir, NULL);
	free(dir);
	return abs;
}

/*
 * The default lexicon, when sentiment.lexicon is not given: the first of
 * the installed share directory's rules/lexicon/, a lexicon/ folder beside
 * the (first) rule file, and the copy built into the binary.  Never fails:
 * the built-in copy is always there.  Sets lexicon_files and lexicon_from.
 */
static void default_lexicon(struct config *c)
{
	char **files = xcalloc(1, sizeof(char *));
	size_t nf = 0;
	char *share = install_share_dir();

	if (share) {
		char *pat = xasprintf("%s/rules/lexicon/*.yaml", share);
		if (glob_into(pat, &files, &nf) > 0)
			c->lexicon_from = xasprintf("%s/rules/lexicon/ (the installed default)", share);
		free(pat);
		free(share);
	}
	if (!c->lexicon_from && c->rule_files && c->rule_files[0] &&
	    strncmp(c->rule_files[0], EMBEDDED_PREFIX, strlen(EMBEDDED_PREFIX)) != 0) {
		const char *r = c->rule_files[0];
		const char *slash = strrchr(r, '/');
		int dl = slash ? (int)(slash - r) : 1;
		const char *dir = slash ? r : ".";
		char *pat = xasprintf("%.*s/lexicon/*.yaml", dl, dir);
		strv_free(files);
		files = xcalloc(1, sizeof(char *));
		nf = 0;
		if (glob_into(pat, &files, &nf) > 0)
			c->lexicon_from = xasprintf("%.*s/lexicon/ (beside the rules)", dl, dir);
		free(pat);
	}
	if (!c->lexicon_from) {
		static const char dir[] = "rules/lexicon/";
		strv_free(files);
		files = xcalloc(1, sizeof(char *));
		nf = 0;
		for (const struct embedded_file *f = embedded_files; f->name; f++) {
			size_t len = strlen(f->name);
			if (strncmp(f->name, dir, sizeof(dir) - 1) == 0 && len > 5 &&
			    strcmp(f->name + len - 5, ".yaml") == 0) {
				char *p = xasprintf("%s%s", EMBEDDED_PREFIX, f->name);
				add_file(&files, &nf, p);
				free(p);
			}
		}
		c->lexicon_from = xstrdup("the copy built into frontdesk");
	}
	c->lexicon_files = files;
}

/* A number from lo to hi into *out; an error naming `what` otherwise. */
static void number(struct ld *L, yaml_node_t *n, const char *what, double lo, double hi, double *out)
{
	const char *v = str_at(L, n, what);
	char *end;
	if (!v)
		return;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
		yml_error(L->d, L->y, n, "%s: expected a number from %g to %g (got '%s')", what, lo, hi, v);
		return;
	}
	*out = x;
}

static void parse_sentiment(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"lexicon", "threshold", NULL};
	yaml_node_t *s = section(L, root, "sentiment", "sentiment", keys);

	if (s && yml_get(L->y, s, "lexicon")) {
		static const char *const none[] = {NULL};
		L->c->lexicon_files = globs(L, s, "lexicon", "sentiment.lexicon", none);
		L->c->lexicon_from = xstrdup("sentiment.lexicon");
	} else {
		default_lexicon(L->c);
	}
	yaml_node_t *t = s ? get(L, s, "threshold") : NULL;
	if (t)
		number(L, t, "sentiment.threshold", -1.0, 1.0, &L->c->negative_threshold);
}

static void parse_answers(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"min_confidence", "min_margin", NULL};
	yaml_node_t *s = section(L, root, "answers", "answers", keys);
	yaml_node_t *n;
	if (s && (n = get(L, s, "min_confidence")))
		number(L, n, "answers.min_confidence", 0.0, 1.0, &L->c->min_confidence);
	if (s && (n = get(L, s, "min_margin")))
		number(L, n, "answers.min_margin", 0.0, 1.0, &L->c->min_margin);
}

#define MAX_MIN_FREE  (1LL << 40)
#define MAX_RETENTION (36500L * 86400)

/* A retention period `key` of map: a duration, or "never" (0: kept for ever). */
static void retention(struct ld *L, yaml_node_t *map, const char *key, const char *what, long *out)
{
	yaml_node_t *n = get(L, map, key);
	if (n && n->type == YAML_SCALAR_NODE && strcmp((const char *)n->data.scalar.value, "never") == 0) {
		*out = 0;
		return;
	}
	duration(L, map, key, what, out, 3600, MAX_RETENTION);
}

static void config_warn(struct ld *L, const yaml_node_t *n, const char *fmt, ...) FD_PRINTF(3, 4);

/* A node name: what the other processes sharing a database see. */
static int node_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._:-", *s))
			return 0;
	return 1;
}

/*
 * store: SQLite at `path` (the default), or PostgreSQL at `url` (or the URL
 * in url_env / url_file, which keep a password out of this file).
 */
static void parse_store(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"path",     "url",       "url_env", "url_file", "synchronous",
	                                   "min_free", "retention", "lease",   "node",     NULL};
	static const char *const rkeys[] = {"conversations", "outbox", "visitors", NULL};
	static const char *const sync[] = {"full", "normal", NULL};
	yaml_node_t *s = section(L, root, "store", "store", keys);
	int given =
	    s ? !!get(L, s, "path") + !!get(L, s, "url") + !!get(L, s, "url_env") + !!get(L, s, "url_file")
	      : 0;
	if (given > 1)
		yml_error(
		    L->d, L->y, s,
		    "store: give one of path (SQLite), url, url_env or url_file (PostgreSQL), not several");
	char *p = s ? opt_str(L, s, "path", "store.path") : NULL;

	if (p && strcmp(p, ":memory:") != 0) {
		L->c->store_path = resolve(L->c, p);
		free(p);
	} else if (p) {
		L->c->store_path = p;
	} else {
		L->c->store_path = resolve(L->c, "frontdesk.db");
	}
	yaml_node_t *n = s ? get(L, s, "url") : NULL;
	if (n) {
		const char *u = str_at(L, n, "store.url");
		if (u && strncmp(u, "postgres://", 11) != 0 && strncmp(u, "postgresql://", 13) != 0)
			yml_error(L->d, L->y, n,
			          "store.url: expected a PostgreSQL URL like "
			          "postgresql://frontdesk@db.example/frontdesk"
			          "?sslmode=verify-full (got '%.40s')",
			          u);
		else if (u && strlen(u) > CONFIG_SECRET_MAX)
			yml_error(L->d, L->y, n, "store.url: longer than %d bytes", CONFIG_SECRET_MAX);
		else if (u) {
			L->c->store_url = xstrdup(u);
			const char *at = strchr(u, '@'), *colon = strchr(u + 13, ':');
			if (at && colon && colon < at)
				config_warn(L, n,
				            "store.url holds a password: put the URL in url_env or url_file "
				            "(a file only "
				            "its owner reads) instead");
		}
	}
	if (s && (get(L, s, "url_env") || get(L, s, "url_file")))
		secret(L, s, "url", "store", 0, "", &L->c->store_url_secret.env,
		       &L->c->store_url_secret.file);
	n = s ? get(L, s, "synchronous") : NULL;
	if (n) {
		const char *v = choice(L, n, "store.synchronous", sync);
		if (v)
			L->c->store_sync_full = strcmp(v, "full") == 0;
	}
	n = s ? get(L, s, "min_free") : NULL;
	if (n) {
		const char *v = str_at(L, n, "store.min_free");
		long long bytes;
		if (v && (parse_size(v, &bytes) < 0 || bytes > MAX_MIN_FREE))
			yml_error(L->d, L->y, n,
			          "store.min_free: expected a size like 16MB, 512KB or 0 (got '%s')", v);
		else if (v)
			L->c->store_min_free = bytes;
	}
	yaml_node_t *r = s ? section(L, s, "retention", "store.retention", rkeys) : NULL;
	if (r) {
		retention(L, r, "conversations", "store.retention.conversations",
		          &L->c->retention.conversations);
		retention(L, r, "outbox", "store.retention.outbox", &L->c->retention.outbox);
		retention(L, r, "visitors", "store.retention.visitors", &L->c->retention.visitors);
	}
	if (s)
		duration(L, s, "lease", "store.lease", &L->c->store_lease, 5, 3600);
	n = s ? get(L, s, "node") : NULL;
	if (n) {
		const char *v = str_at(L, n, "store.node");
		if (v && !node_name_ok(v))
			yml_error(
			    L->d, L->y, n,
			    "store.node: expected up to 64 letters, digits and . _ : - (this process's name "
			    "among those sharing the database; got '%.64s')",
			    v);
		else if (v)
			L->c->store_node = xstrdup(v);
	}
	int pg = L->c->store_url || L->c->store_url_secret.env || L->c->store_url_secret.file;
	if (!pg && s && (get(L, s, "lease") || get(L, s, "node")))
		yml_error(L->d, L->y, s, "store: lease and node apply to PostgreSQL only (store.url)");
	if (pg && s && get(L, s, "min_free"))
		yml_error(L->d, L->y, s,
		          "store: min_free applies to SQLite only (a file on this machine's disk; "
		          "PostgreSQL watches its own)");
}

int config_store_url(const struct config *c, char *out, size_t n, char *err, size_t errn)
{
	if (c->store_url) {
		snprintf(out, n, "%s", c->store_url);
		return 1;
	}
	if (!c->store_url_secret.env && !c->store_url_secret.file) {
		if (n)
			out[0] = '\0';
		return 0;
	}
	char e[256];
	if (config_secret_read(&c->store_url_secret, out, n, e, sizeof(e)) < 0) {
		snprintf(err, errn, "store.url_%s: %s", c->store_url_secret.env ? "env" : "file", e);
		return -1;
	}
	if (strncmp(out, "postgres://", 11) != 0 && strncmp(out, "postgresql://", 13) != 0) {
		snprintf(err, errn, "store.url_%s: expected a PostgreSQL URL (postgresql://...)",
		         c->store_url_secret.env ? "env" : "file");
		explicit_bzero(out, n);
		return -1;
	}
	return 1;
}

/* A list of strings (or one string) at node n, each checked by str_at. */
static char **str_list(struct ld *L, yaml_node_t *n, const char *what, size_t max)
{
	if (n->type == YAML_SCALAR_NODE) {
		const char *s = str_at(L, n, what);
		if (!s)
			return NULL;
		char **v = xcalloc(2, sizeof(char *));
		v[0] = xstrdup(s);
		return v;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		yml_error(L->d, L->y, n, "%s: expected a list of strings", what);
		return NULL;
	}
	if ((size_t)yml_len(n) > max) {
		yml_error(L->d, L->y, n, "%s: more than %zu entries", what, max);
		return NULL;
	}
	char **v = xcalloc((size_t)yml_len(n) + 1, sizeof(char *));
	size_t k = 0;
	int bad = 0;
	for (int i = 0; i < yml_len(n); i++) {
		const char *s = str_at(L, yml_item(L->y, n, i), what);
		if (s)
			v[k++] = xstrdup(s);
		else
			bad = 1;
	}
	if (bad) {
		strv_free(v);
		return NULL;
	}
	return v;
}

/* ---- connectors: the registry's types, each parsing its own keys ---- */

static int key_in(const char *k, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (!strcmp(k, list[i]))
			return 1;
	return 0;
}

static void listen_at(struct ld *L, yaml_node_t *map, const char *what, char **out)
{
	yaml_node_t *n = get(L, map, "listen");
	char err[400];
	if (!n)
		return;
	const char *s = str_at(L, n, what);
	if (!s)
		return;
	if (config_check_listen(s, err, sizeof(err)) < 0) {
		yml_error(L->d, L->y, n, "%s: '%s': %s", what, s, err);
		free(*out);
		*out = NULL; /* no default either: it would only add clashes to the report */
		return;
	}
	free(*out);
	*out = xstrdup(s);
}

/* "<what>.<key>" for messages. */
static void key_path(const struct config_parser *p, const char *key, char *out, size_t n)
{
	snprintf(out, n, "%s.%s", p->what, key);
}

static yaml_node_t *key_node(struct config_parser *p, const char *key)
{
	return p->map ? get(p->ld, p->map, key) : NULL;
}

int config_key_given(struct config_parser *p, const char *key)
{
	return key_node(p, key) != NULL;
}

/* Report "missing required key" at the mapping (or the config line). */
static void key_missing(struct config_parser *p, const char *key, const char *hint)
{
	struct ld *L = p->ld;
	if (p->map)
		yml_error(L->d, L->y, p->map, "%s: missing required key '%s'%s%s", p->what, key,
		          hint ? " " : "", hint ? hint : "");
	else
		diag_error(L->d, L->y->file, p->cc ? p->cc->line : 0, 0, "%s: missing required key '%s'%s%s",
		           p->what, key, hint ? " " : "", hint ? hint : "");
}

char *config_key_str(struct config_parser *p, const char *key, int required, const char *hint)
{
	char path[192];
	yaml_node_t *n = key_node(p, key);
	if (!n) {
		if (required)
			key_missing(p, key, hint);
		return NULL;
	}
	key_path(p, key, path, sizeof(path));
	const char *s = str_at(p->ld, n, path);
	return s ? xstrdup(s) : NULL;
}

char *config_key_url(struct config_parser *p, const char *key, enum config_url kind, int required,
                     const char *hint)
{
	char path[192];
	if (!key_node(p, key)) {
		if (required)
			key_missing(p, key, hint);
		return NULL;
	}
	key_path(p, key, path, sizeof(path));
	return url_at(p->ld, p->map, key, path, kind);
}

int config_key_secret(struct config_parser *p, const char *name, int required, const char *desc,
                      struct config_secret *out)
{
	struct ld *L = p->ld;
	int before = L->d->errors;
	if (!p->map) {
		if (required)
			diag_error(L->d, L->y->file, p->cc ? p->cc->line : 0, 0,
			           "%s: missing %s_env or %s_file (%s)", p->what, name, name, desc);
		return required ? -1 : 0;
	}
	secret(L, p->map, name, p->what, required, desc, &out->env, &out->file);
	return L->d->errors > before ? -1 : 0;
}

void config_key_listen(struct config_parser *p, const char *deflt)
{
	char path[192];
	struct connector_conf *cc = p->cc;
	free(cc->listen);
	cc->listen = deflt ? xstrdup(deflt) : NULL;
	if (!p->map)
		return;
	key_path(p, "listen", path, sizeof(path));
	listen_at(p->ld, p->map, path, &cc->listen);
}

void config_key_int(struct config_parser *p, const char *key, long *out, long min, long max)
{
	char path[192];
	if (!p->map)
		return;
	key_path(p, key, path, sizeof(path));
	integer(p->ld, p->map, key, path, out, min, max);
}

char **config_key_strv(struct config_parser *p, const char *key, size_t max)
{
	char path[192];
	yaml_node_t *n = key_node(p, key);
	if (!n)
		return NULL;
	key_path(p, key, path, sizeof(path));
	return str_list(p->ld, n, path, max);
}

void config_key_item_error(struct config_parser *p, const char *key, size_t i, const char *fmt, ...)
{
	struct ld *L = p->ld;
	char path[192], msg[1024];
	va_list ap;
	yaml_node_t *n = key_node(p, key);
	if (n && n->type == YAML_SEQUENCE_NODE && (int)i < yml_len(n))
		n = yml_item(L->y, n, (int)i);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	key_path(p, key, path, sizeof(path));
	if (n)
		yml_error(L->d, L->y, n, "%s: %s", path, msg);
	else
		diag_error(L->d, L->y->file, p->cc ? p->cc->line : 0, 0, "%s: %s", path, msg);
}

void config_key_proxies(struct config_parser *p, struct config_proxies *out)
{
	static const char *const headers[] = {"x-forwarded-for", "forwarded", NULL};
	char **list = config_key_strv(p, "trusted_proxies", MAX_LIST);
	for (size_t i = 0; list && list[i]; i++) {
		struct netaddr_net net;
		char err[256];
		if (netaddr_parse_net(list[i], &net, err, sizeof(err)) < 0)
			config_key_item_error(p, "trusted_proxies", i, "%s", err);
	}
	out->trusted = list;
	yaml_node_t *n = key_node(p, "proxy_header");
	if (n) {
		char path[192];
		key_path(p, "proxy_header", path, sizeof(path));
		const char *h = choice(p->ld, n, path, headers);
		if (h)
			out->forwarded = !strcmp(h, "forwarded");
		if (h && !list)
			config_key_error(p, "proxy_header",
			                 "applies only with trusted_proxies (the proxies that send it)");
	}
}

void config_proxies_free(struct config_proxies *pr)
{
	strv_free(pr->trusted);
	pr->trusted = NULL;
}

int config_key_section(struct config_parser *p, const char *key, const char *const *keys,
                       struct config_parser *sub)
{
	char path[192];
	int before = ((struct ld *)p->ld)->d->errors;
	if (!p->map)
		return 0;
	key_path(p, key, path, sizeof(path));
	yaml_node_t *n = section(p->ld, p->map, key, path, keys);
	if (!n)
		return ((struct ld *)p->ld)->d->errors > before ? -1 : 0;
	*sub = *p;
	sub->map = n;
	snprintf(sub->what, sizeof(sub->what), "%.*s", (int)sizeof(sub->what) - 1, path);
	return 1;
}

void config_key_error(struct config_parser *p, const char *key, const char *fmt, ...)
{
	struct ld *L = p->ld;
	char path[192], msg[1024];
	va_list ap;
	yaml_node_t *n = key ? key_node(p, key) : NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		key_path(p, key, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", p->what);
	if (n)
		yml_error(L->d, L->y, n, "%s: %s", path, msg);
	else if (p->map)
		yml_error(L->d, L->y, p->map, "%s: %s", path, msg);
	else
		diag_error(L->d, L->y->file, p->cc ? p->cc->line : 0, 0, "%s: %s", path, msg);
}

static const char *const common_connector_keys[] = {"type", "name", "channel", NULL};

/* Is k a key of some connector type other than ops? (Its message then says
 * it does not apply, rather than "unknown key".) */
static int key_of_other_type(const char *k, const struct connector_ops *ops)
{
	const char *const *names = connector_type_names();
	for (size_t i = 0; names[i]; i++) {
		const struct connector_ops *o = connector_type(names[i]);
		if (o != ops && key_in(k, o->keys))
			return 1;
	}
	return 0;
}

/* Unknown keys of a connector of type ops (NULL: type unknown, only the
 * common keys are sure). */
static void check_connector_keys(struct ld *L, yaml_node_t *m, const struct connector_ops *ops,
                                 const char *what)
{
	const char *all[64];
	size_t n = 0;
	for (size_t i = 0; common_connector_keys[i]; i++)
		all[n++] = common_connector_keys[i];
	for (size_t i = 0; ops && ops->keys && ops->keys[i] && n + 1 < ARRAY_LEN(all); i++)
		all[n++] = ops->keys[i];
	all[n] = NULL;
	yaml_node_t *k, *v;
	for (int i = 0; yml_pair(L->y, m, i, &k, &v); i++) {
		const char *ks = yml_scalar(k);
		if (!ks || key_in(ks, all))
			continue;
		if (!ops)
			continue; /* the type error says enough */
		if (key_of_other_type(ks, ops)) {
			yml_error(L->d, L->y, k, "%s: '%s' does not apply to a %s connector", what, ks,
			          ops->type);
		} else {
			const char *sug = did_you_mean(ks, all);
			if (sug)
				yml_error(L->d, L->y, k, "unknown key '%s' in %s (did you mean '%s'?)", ks,
				          what, sug);
			else
				yml_error(L->d, L->y, k, "unknown key '%s' in %s", ks, what);
		}
	}
}

/* The connector type named at node tn, or NULL after an error that says
 * which types this build has. */
static const struct connector_ops *type_at(struct ld *L, yaml_node_t *tn, const char *what)
{
	char path[96];
	snprintf(path, sizeof(path), "%s.type", what);
	const char *s = str_at(L, tn, path);
	if (!s)
		return NULL;
	const struct connector_ops *ops = connector_type(s);
	if (ops)
		return ops;
	const char *sug = did_you_mean(s, connector_type_names());
	if (sug)
		yml_error(L->d, L->y, tn, "%s: unknown value '%s' (did you mean '%s'?)", path, s, sug);
	else
		yml_error(L->d, L->y, tn, "%s: this build of frontdesk has no '%s' connector (it runs: %s)",
		          path, s, connector_type_list());
	return NULL;
}

/* Read one connector: common keys here, the rest by its type's parser.
 * m NULL: the built-in default connector of type ops. */
static void parse_connector(struct ld *L, yaml_node_t *m, struct connector_conf *cc, int idx,
                            const struct connector_ops *ops)
{
	char what[64], path[96];

	snprintf(what, sizeof(what), "connectors[%d]", idx);
	if (m) {
		yaml_node_t *tn = get(L, m, "type");
		cc->line = (int)m->start_mark.line + 1;
		if (!tn) {
			check_connector_keys(L, m, NULL, what);
			yml_error(L->d, L->y, m, "%s: missing required key 'type' (this build runs: %s)",
			          what, connector_type_list());
			return;
		}
		ops = type_at(L, tn, what);
		check_connector_keys(L, m, ops, what);
		if (!ops)
			return;
		snprintf(path, sizeof(path), "%s.name", what);
		cc->name = opt_str(L, m, "name", path);
		snprintf(path, sizeof(path), "%s.channel", what);
		cc->channel = opt_str(L, m, "channel", path);
	}
	if (!ops)
		return;
	cc->ops = ops;
	cc->type = xstrdup(ops->type);
	if (!cc->name)
		cc->name = xstrdup(ops->type);
	struct config_parser p = {.ld = L, .map = m, .cc = cc};
	snprintf(p.what, sizeof(p.what), "%s", what);
	if (ops->parse)
		cc->settings = ops->parse(&p);
}

static void parse_connectors(struct ld *L, yaml_node_t *root)
{
	struct config *c = L->c;
	yaml_node_t *n = yml_get(L->y, root, "connectors");

	if (!n) {
		/* The default: one web chat with its own defaults. */
		const struct connector_ops *wc = connector_type("webchat");
		if (!wc)
			return;
		c->connectors = xcalloc(1, sizeof(*c->connectors));
		c->nconnectors = 1;
		parse_connector(L, NULL, &c->connectors[0], 0, wc);
		return;
	}
	if (is_null(n))
		return; /* explicitly none: `try` and `replay` still work */
	if (yml_want_seq(L->d, L->y, n, "connectors (a list like [{ type: webchat }])") < 0)
		return;
	if (yml_len(n) > MAX_LIST) {
		yml_error(L->d, L->y, n, "connectors: more than %d", MAX_LIST);
		return;
	}
	c->connectors = xcalloc((size_t)yml_len(n) + 1, sizeof(*c->connectors));
	for (int i = 0; i < yml_len(n); i++) {
		yaml_node_t *m = yml_item(L->y, n, i);
		char what[64];
		snprintf(what, sizeof(what), "connectors[%d]", i);
		if (yml_want_map(L->d, L->y, m, what) < 0)
			continue;
		struct connector_conf *cc = &c->connectors[c->nconnectors++];
		parse_connector(L, m, cc, i, NULL);
		if (!cc->name)
			continue;
		for (size_t j = 0; j + 1 < c->nconnectors; j++) {
			const struct connector_conf *o = &c->connectors[j];
			if (o->name && !strcmp(o->name, cc->name))
				yml_error(L->d, L->y, m,
				          "%s: another connector (line %d) is also named '%s': give each a "
				          "distinct name",
				          what, o->line, cc->name);
			if (o->listen && cc->listen && listen_clash(o->listen, cc->listen))
				yml_error(L->d, L->y, m,
				          "%s: listen address %s clashes with connector '%s' (line %d, %s)",
				          what, cc->listen, o->name, o->line, o->listen);
		}
	}
}

int config_login_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-' && *p != '@')
			return 0;
	return 1;
}

/* Something allowed but unwise, at node n (NULL: the file). */
static void config_warn(struct ld *L, const yaml_node_t *n, const char *fmt, ...)
{
	struct config *c = L->c;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t k = strv_len(c->warnings);
	c->warnings = xrealloc(c->warnings, (k + 2) * sizeof(char *));
	if (n)
		c->warnings[k] = xasprintf("%s:%d:%d: %s", L->y->file, (int)n->start_mark.line + 1,
		                           (int)n->start_mark.column + 1, msg);
	else
		c->warnings[k] = xasprintf("%s: %s", L->y->file, msg);
	c->warnings[k + 1] = NULL;
}

/* Does the dashboard's listen address keep it on this machine? */
static int listen_loopback(const char *listen)
{
	char buf[300], err[200];
	const char *host;
	long port;
	return listen && split_listen(listen, buf, sizeof(buf), &host, &port, err, sizeof(err)) == 0 &&
	       url_host_is_loopback(host);
}

/*
 * What makes a dashboard unsafe beyond this machine: the published example
 * password (an error there, a warning on loopback), plain HTTP, and
 * /metrics without a token.
 */
static void check_dashboard_exposure(struct ld *L, yaml_node_t *s)
{
	struct config *c = L->c;
	int remote = !listen_loopback(c->dashboard_listen);
	yaml_node_t *agents = s ? get(L, s, "agents") : NULL;
	for (size_t i = 0; i < c->nagents; i++) {
		if (!c->agents[i].password_hash ||
		    strcmp(c->agents[i].password_hash, CONFIG_EXAMPLE_PASSWORD_HASH))
			continue;
		yaml_node_t *m = agents ? yml_item(L->y, agents, (int)i) : NULL;
		yaml_node_t *at = m ? get(L, m, "password_hash") : NULL;
		if (remote)
			yml_error(
			    L->d, L->y, at,
			    "dashboard.agents[%zu].password_hash: this is the example password ('frontdesk') "
			    "everyone can read, and the dashboard listens on %s, beyond this machine: make "
			    "a new hash with frontdesk passwd",
			    i, c->dashboard_listen);
		else
			config_warn(
			    L, at,
			    "dashboard.agents[%zu].password_hash: the example password ('frontdesk') "
			    "everyone can read: make a new hash with frontdesk passwd before going live",
			    i);
	}
	if (!remote)
		return;
	yaml_node_t *ln = s ? get(L, s, "listen") : NULL;
	config_warn(L, ln,
	            "dashboard.listen: %s is reachable from other machines over plain HTTP, so passwords and "
	            "session cookies cross the network unencrypted: keep it on 127.0.0.1 behind a web "
	            "server with TLS (README: Behind a reverse proxy)",
	            c->dashboard_listen);
	if (!c->metrics_token.env && !c->metrics_token.file)
		config_warn(
		    L, ln,
		    "dashboard: /metrics answers only this machine: set metrics_token_env (or "
		    "metrics_token_file) to read it from elsewhere with Authorization: Bearer <token>");
}

/* A host name or address as a browser puts it in Host (no port, no scheme). */
static int host_name_ok(const char *s)
{
	struct netaddr a;
	if (netaddr_parse(s, &a) == 0)
		return 1;
	size_t n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return 0;
	return 1;
}

static void add_host(char ***list, size_t *n, const char *h)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcasecmp((*list)[i], h))
			return;
	*list = xrealloc(*list, (*n + 2) * sizeof(char *));
	(*list)[(*n)++] = xstrdup(h);
	(*list)[*n] = NULL;
	for (char *p = (*list)[*n - 1]; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

/*
 * dashboard.hosts, or the default: the listen address (unless it is a
 * wildcard: then the names it is reached by must be listed), localhost and
 * the loopback addresses.  A page of another site whose name resolves here
 * (DNS rebinding) then gets no answer from the dashboard.
 */
static void parse_dashboard_hosts(struct ld *L, yaml_node_t *s)
{
	struct config *c = L->c;
	yaml_node_t *n = s ? get(L, s, "hosts") : NULL;
	size_t count = 0;
	char **list = NULL;
	if (n) {
		char **given = str_list(L, n, "dashboard.hosts", MAX_LIST);
		for (size_t i = 0; given && given[i]; i++) {
			if (!host_name_ok(given[i]))
				yml_error(L->d, L->y,
				          n->type == YAML_SEQUENCE_NODE ? yml_item(L->y, n, (int)i) : n,
				          "dashboard.hosts: '%s' is not a host name like "
				          "dashboard.example.com or an "
				          "address (no scheme, no port)",
				          given[i]);
			else
				add_host(&list, &count, given[i]);
		}
		strv_free(given);
	} else {
		char buf[300], err[200];
		const char *host;
		long port;
		if (c->dashboard_listen && split_listen(c->dashboard_listen, buf, sizeof(buf), &host, &port,
		                                        err, sizeof(err)) == 0) {
			struct netaddr a;
			char h[NETADDR_STRLEN];
			if (netaddr_parse(host, &a) == 0) {
				netaddr_format(&a, h, sizeof(h));
				if (strcmp(h, "0.0.0.0") && strcmp(h, "::"))
					add_host(&list, &count, h);
			} else {
				add_host(&list, &count, host);
			}
		}
		add_host(&list, &count, "localhost");
		add_host(&list, &count, "127.0.0.1");
		add_host(&list, &count, "::1");
	}
	if (!list)
		list = xcalloc(1, sizeof(char *));
	c->dashboard_hosts = list;
}

static void parse_dashboard_keys(struct ld *L, yaml_node_t *root, yaml_node_t **sec)
{
	static const char *const keys[] = {"listen",
	                                   "agents",
	                                   "hosts",
	                                   "trusted_proxies",
	                                   "proxy_header",
	                                   "limits",
	                                   "metrics_token_env",
	                                   "metrics_token_file",
	                                   "labels",
	                                   NULL};
	static const char *const akeys[] = {"login", "name", "password_hash", "role", NULL};
	static const char *const roles[] = {"agent", "admin", NULL};
	static const char *const lkeys[] = {"connections", "connections_per_address", NULL};
	struct config *c = L->c;
	yaml_node_t *s = section(L, root, "dashboard", "dashboard", keys);

	*sec = s;
	c->dashboard_listen = xstrdup(DEFAULT_DASHBOARD_LISTEN);
	c->dashboard_max_connections = DEFAULT_DASHBOARD_CONNECTIONS;
	c->dashboard_connections_per_address = DEFAULT_DASHBOARD_PER_ADDRESS;
	if (s) {
		struct config_parser dp = {.ld = L, .map = s, .what = "dashboard"};
		listen_at(L, s, "dashboard.listen", &c->dashboard_listen);
		config_key_proxies(&dp, &c->dashboard_proxies);
		yaml_node_t *lim = section(L, s, "limits", "dashboard.limits", lkeys);
		if (lim) {
			integer(L, lim, "connections", "dashboard.limits.connections",
			        &c->dashboard_max_connections, 1, MAX_LIMIT);
			integer(L, lim, "connections_per_address", "dashboard.limits.connections_per_address",
			        &c->dashboard_connections_per_address, 1, MAX_LIMIT);
		}
		secret(L, s, "metrics_token", "dashboard", 0, "", &c->metrics_token.env,
		       &c->metrics_token.file);
	}
	parse_dashboard_hosts(L, s);
	for (size_t j = 0; j < c->nconnectors; j++) {
		const struct connector_conf *o = &c->connectors[j];
		yaml_node_t *ln = s ? get(L, s, "listen") : NULL;
		if (!o->listen || !c->dashboard_listen || !listen_clash(o->listen, c->dashboard_listen))
			continue;
		if (ln)
			yml_error(L->d, L->y, ln,
			          "dashboard.listen: %s clashes with connector '%s' (line %d, %s)",
			          c->dashboard_listen, o->name, o->line, o->listen);
		else
			diag_error(
			    L->d, L->y->file, o->line, 5,
			    "connector '%s' listens on %s, where the dashboard listens by default: set "
			    "dashboard.listen to another address",
			    o->name, o->listen);
	}
	yaml_node_t *a = s ? get(L, s, "agents") : NULL;
	if (!a)
		return;
	if (yml_want_seq(L->d, L->y, a,
	                 "dashboard.agents (a list like [{ login: sam, name: Sam, password_hash: "
	                 "\"$y$...\" }])") < 0)
		return;
	if (yml_len(a) > MAX_LIST) {
		yml_error(L->d, L->y, a, "dashboard.agents: more than %d", MAX_LIST);
		return;
	}
	c->agents = xcalloc((size_t)yml_len(a) + 1, sizeof(*c->agents));
	for (int i = 0; i < yml_len(a); i++) {
		yaml_node_t *m = yml_item(L->y, a, i);
		char what[64];
		snprintf(what, sizeof(what), "dashboard.agents[%d]", i);
		if (yml_want_map(L->d, L->y, m, what) < 0)
			continue;
		yml_check_keys(L->d, L->y, m, akeys, what);
		struct agent_conf *ag = &c->agents[c->nagents++];
		ag->login = req_str(L, m, "login", what, NULL);
		if (ag->login && !config_login_ok(ag->login)) {
			yml_error(L->d, L->y, get(L, m, "login"),
			          "%s.login: '%s' may only hold letters, digits and . _ - @ (at most 64)",
			          what, ag->login);
		} else if (ag->login) {
			for (size_t j = 0; j + 1 < c->nagents; j++)
				if (c->agents[j].login && !strcasecmp(c->agents[j].login, ag->login))
					yml_error(L->d, L->y, get(L, m, "login"),
					          "%s.login: '%s' is used by two agents", what, ag->login);
		}
		char path[96];
		snprintf(path, sizeof(path), "%s.name", what);
		ag->name = opt_str(L, m, "name", path);
		if (!ag->name && ag->login)
			ag->name = xstrdup(ag->login);
		yaml_node_t *rn = get(L, m, "role");
		if (rn) {
			snprintf(path, sizeof(path), "%s.role", what);
			const char *r = choice(L, rn, path, roles);
			ag->admin = r && strcmp(r, "admin") == 0;
		}
		ag->password_hash = req_str(L, m, "password_hash", what, "(make one with: frontdesk passwd)");
		if (ag->password_hash && !hash_ok(ag->password_hash))
			yml_error(L->d, L->y, get(L, m, "password_hash"),
			          "%s.password_hash: not a crypt(3) hash of a supported kind ($y$, $gy$, "
			          "$7$, $2b$, $6$, "
			          "$5$); make one with: frontdesk passwd",
			          what);
	}
}

/* "#rgb" or "#rrggbb". */
static int colour_ok(const char *c)
{
	size_t n = c ? strlen(c) : 0;
	if ((n != 4 && n != 7) || c[0] != '#')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", c[i]))
			return 0;
	return 1;
}

time_t config_due(const struct config *c, enum priority p, time_t from)
{
	long target = p >= 0 && p < PRIO_COUNT ? c->target[p] : c->target[PRIO_NORMAL];
	time_t due = hours_add(c->hours, from, target);
	return due == (time_t)-1 ? from + target : due;
}

int config_label_ok(const char *name, const char *colour)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > CONFIG_MAX_LABEL || (colour && !colour_ok(colour)))
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ',')
			return 0;
	return 1;
}

/* dashboard.labels: [{ name: refund, color: "#e11d48" }, ...] or plain names. */
static void parse_labels(struct ld *L, yaml_node_t *dash)
{
	static const char *const lkeys[] = {"name", "color", NULL};
	struct config *c = L->c;
	yaml_node_t *a = dash ? get(L, dash, "labels") : NULL;
	if (!a || yml_want_seq(L->d, L->y, a,
	                       "dashboard.labels (a list like [{ name: refund, color: \"#e11d48\" }])") < 0)
		return;
	if (yml_len(a) > MAX_LIST) {
		yml_error(L->d, L->y, a, "dashboard.labels: more than %d", MAX_LIST);
		return;
	}
	c->labels = xcalloc((size_t)yml_len(a) + 1, sizeof(*c->labels));
	for (int i = 0; i < yml_len(a); i++) {
		yaml_node_t *m = yml_item(L->y, a, i);
		char what[64];
		snprintf(what, sizeof(what), "dashboard.labels[%d]", i);
		struct label_conf lc = {0};
		if (m && m->type == YAML_SCALAR_NODE) {
			const char *v = str_at(L, m, what);
			lc.name = v ? xstrdup(v) : NULL;
		} else if (yml_want_map(L->d, L->y, m, what) == 0) {
			yml_check_keys(L->d, L->y, m, lkeys, what);
			lc.name = req_str(L, m, "name", what, NULL);
			char path[96];
			snprintf(path, sizeof(path), "%s.color", what);
			lc.color = opt_str(L, m, "color", path);
		} else {
			continue;
		}
		if (!lc.name) {
			free(lc.color);
			continue;
		}
		int dup = 0;
		for (size_t j = 0; j < c->nlabels; j++)
			dup |= strcasecmp(c->labels[j].name, lc.name) == 0;
		if (!config_label_ok(lc.name, lc.color) || dup) {
			yml_error(
			    L->d, L->y, m,
			    dup ? "%s: the label '%s' is listed twice"
			        : "%s: '%s' needs a name of 1 to %d characters without commas, and a colour "
			          "like \"#e11d48\"",
			    what, lc.name, CONFIG_MAX_LABEL);
			free(lc.name);
			free(lc.color);
			continue;
		}
		c->labels[c->nlabels++] = lc;
	}
}

static void parse_dashboard(struct ld *L, yaml_node_t *root)
{
	yaml_node_t *s = NULL;
	parse_dashboard_keys(L, root, &s);
	parse_labels(L, s);
	check_dashboard_exposure(L, s);
}

static void parse_notify(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {
	    "type", "url",      "url_env",      "url_file",      "format",       "smtp",  "from",
	    "to",   "username", "password_env", "password_file", "min_priority", "agent", NULL};
	static const char *const types[] = {"webhook", "email", NULL};
	static const char *const formats[] = {"slack", "discord", "mattermost", "json", NULL};
	static const char *const prios[] = {"urgent", "high", "normal", "low", NULL};
	static const char *const webhook_only[] = {"url", "url_env", "url_file", "format", NULL};
	static const char *const email_only[] = {"smtp",         "from",          "to", "username",
	                                         "password_env", "password_file", NULL};
	struct config *c = L->c;
	yaml_node_t *n = get(L, root, "notify");

	if (!n)
		return;
	if (yml_want_seq(L->d, L->y, n, "notify (a list like [{ type: webhook, url: ... }])") < 0)
		return;
	if (yml_len(n) > MAX_LIST) {
		yml_error(L->d, L->y, n, "notify: more than %d", MAX_LIST);
		return;
	}
	c->notify = xcalloc((size_t)yml_len(n) + 1, sizeof(*c->notify));
	for (int i = 0; i < yml_len(n); i++) {
		yaml_node_t *m = yml_item(L->y, n, i);
		char what[64], path[96];
		snprintf(what, sizeof(what), "notify[%d]", i);
		if (yml_want_map(L->d, L->y, m, what) < 0)
			continue;
		yml_check_keys(L->d, L->y, m, keys, what);
		struct notify_conf *nc = &c->notify[c->nnotify++];
		nc->line = (int)m->start_mark.line + 1;
		nc->min_priority = PRIO_LOW;
		yaml_node_t *pn = get(L, m, "min_priority");
		if (pn) {
			snprintf(path, sizeof(path), "%s.min_priority", what);
			const char *p = choice(L, pn, path, prios);
			if (p)
				nc->min_priority = priority_parse(p);
		}
		/* A target tied to one agent hears only about tickets that are
		 * unclaimed or claimed by that agent (their own channel). */
		snprintf(path, sizeof(path), "%s.agent", what);
		nc->agent = opt_str(L, m, "agent", path);
		if (nc->agent && !config_agent(c, nc->agent))
			yml_error(L->d, L->y, get(L, m, "agent"), "%s: no dashboard agent has the login '%s'",
			          path, nc->agent);
		yaml_node_t *tn = get(L, m, "type");
		if (!tn) {
			yml_error(L->d, L->y, m, "%s: missing required key 'type' (webhook or email)", what);
			continue;
		}
		snprintf(path, sizeof(path), "%s.type", what);
		const char *type = choice(L, tn, path, types);
		if (!type)
			continue;
		nc->type = xstrdup(type);
		const char *const *other = !strcmp(type, "webhook") ? email_only : webhook_only;
		yaml_node_t *k, *v;
		for (int j = 0; yml_pair(L->y, m, j, &k, &v); j++) {
			const char *ks = yml_scalar(k);
			if (ks && key_in(ks, other))
				yml_error(L->d, L->y, k, "%s: '%s' does not apply to %s notification", what,
				          ks, !strcmp(type, "email") ? "an email" : "a webhook");
		}
		if (!strcmp(type, "webhook")) {
			int given = !!get(L, m, "url") + !!get(L, m, "url_env") + !!get(L, m, "url_file");
			if (given != 1)
				yml_error(L->d, L->y, m,
				          "%s: give exactly one of url, url_env or url_file (a webhook URL "
				          "is a secret: url_env or url_file keep it out of this file)",
				          what);
			snprintf(path, sizeof(path), "%s.url", what);
			nc->url = url_at(L, m, "url", path, CONFIG_URL_HTTP);
			if (given == 1 && !get(L, m, "url"))
				secret(L, m, "url", what, 1, "", &nc->url_env, &nc->url_file);
			nc->format = xstrdup("json");
			yaml_node_t *fn = get(L, m, "format");
			if (fn) {
				snprintf(path, sizeof(path), "%s.format", what);
				const char *f = choice(L, fn, path, formats);
				if (f) {
					free(nc->format);
					nc->format = xstrdup(f);
				}
			}
			continue;
		}
		/* email */
		snprintf(path, sizeof(path), "%s.smtp", what);
		if (!get(L, m, "smtp"))
			yml_error(L->d, L->y, m,
			          "%s: missing required key 'smtp' (like smtps://mail.example:465)", what);
		nc->smtp = url_at(L, m, "smtp", path, CONFIG_URL_SMTP);
		yaml_node_t *fr = get(L, m, "from");
		if (!fr)
			yml_error(L->d, L->y, m, "%s: missing required key 'from' (the sender address)",
			          what);
		else {
			snprintf(path, sizeof(path), "%s.from", what);
			nc->from = email_at(L, fr, path);
		}
		yaml_node_t *to = get(L, m, "to");
		snprintf(path, sizeof(path), "%s.to", what);
		if (!to) {
			yml_error(L->d, L->y, m, "%s: missing required key 'to' (a list of addresses)", what);
		} else {
			nc->to = str_list(L, to, path, MAX_LIST);
			if (nc->to && !nc->to[0])
				yml_error(L->d, L->y, to, "%s: needs at least one address", path);
			for (size_t j = 0; nc->to && nc->to[j]; j++)
				if (!email_ok(nc->to[j]))
					yml_error(L->d, L->y,
					          to->type == YAML_SEQUENCE_NODE ? yml_item(L->y, to, (int)j)
					                                         : to,
					          "%s: '%s' is not an e-mail address", path, nc->to[j]);
		}
		snprintf(path, sizeof(path), "%s.username", what);
		nc->username = opt_str(L, m, "username", path);
		secret(L, m, "password", what, nc->username != NULL, "the SMTP password", &nc->password_env,
		       &nc->password_file);
		if (!nc->username && (nc->password_env || nc->password_file))
			yml_error(L->d, L->y, m, "%s: a password is given but no username", what);
	}
}

static void parse_bot(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"cooldown", "human_ack_interval", NULL};
	yaml_node_t *s = section(L, root, "bot", "bot", keys);
	if (!s)
		return;
	duration(L, s, "cooldown", "bot.cooldown", &L->c->cooldown, 0, MAX_INTERVAL);
	duration(L, s, "human_ack_interval", "bot.human_ack_interval", &L->c->human_ack_interval, 0,
	         MAX_INTERVAL);
}

static void parse_satisfaction(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"ask", "window", NULL};
	static const char *const flags[] = {"on", "off", "true", "false", "yes", "no", NULL};
	yaml_node_t *s = section(L, root, "satisfaction", "satisfaction", keys);
	if (!s)
		return;
	yaml_node_t *n = get(L, s, "ask");
	const char *v = n ? choice(L, n, "satisfaction.ask", flags) : NULL;
	if (v)
		L->c->satisfaction_ask = !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes");
	duration(L, s, "window", "satisfaction.window", &L->c->satisfaction_window, 60, 90L * 86400);
}

static void parse_log(struct ld *L, yaml_node_t *root)
{
	static const char *const keys[] = {"level", NULL};
	static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
	yaml_node_t *s = section(L, root, "log", "log", keys);
	yaml_node_t *n = s ? get(L, s, "level") : NULL;
	if (n) {
		const char *v = choice(L, n, "log.level", levels);
		if (v) {
			free(L->c->log_level);
			L->c->log_level = xstrdup(v);
		}
	}
}

/* ---- loading ---- */

static const char *const top_keys[] = {"business", "rules",        "replies",   "sentiment", "answers",
                                       "store",    "connectors",   "dashboard", "notify",    "bot",
                                       "log",      "satisfaction", NULL};

/* The directory part of path (absolute when it exists); malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d =
	    slash ? (slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path))) : xstrdup(".");
	char *abs = realpath(d, NULL);
	if (abs) {
		free(d);
		return abs;
	}
	return d;
}

static struct config *config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));
	c->target[PRIO_URGENT] = 30 * 60;
	c->target[PRIO_HIGH] = 3600;
	c->target[PRIO_NORMAL] = 4 * 3600;
	c->target[PRIO_LOW] = 86400;
	c->store_sync_full = 1;
	c->store_min_free = CONFIG_DEFAULT_MIN_FREE;
	c->retention.conversations = CONFIG_DEFAULT_KEEP_CONVERSATIONS;
	c->retention.outbox = CONFIG_DEFAULT_KEEP_OUTBOX;
	c->retention.visitors = CONFIG_DEFAULT_KEEP_VISITORS;
	c->store_lease = 60;
	c->cooldown = 10 * 60;
	c->human_ack_interval = 3600;
	c->satisfaction_ask = 1;
	c->satisfaction_window = 3 * 86400;
	c->negative_threshold = NAN;
	c->min_confidence = CONFIG_MIN_CONFIDENCE;
	c->min_margin = CONFIG_MIN_MARGIN;
	c->log_level = xstrdup("info");
	return c;
}

/* Fill c from the loaded document y; errors go to d.  Returns c, or NULL (freed) on any error. */
static struct config *config_build(struct config *c, struct yml_doc *y, struct diag *d)
{
	struct ld L = {d, y, c};
	int before = d->errors;
	yaml_node_t *root = yml_root(y);

	if (!root || is_null(root)) {
		diag_error(
		    d, y->file, 0, 0,
		    "empty configuration: expected a mapping with at least business: { name, timezone }");
	} else if (yml_want_map(d, y, root, "the configuration (business:, connectors:, ...)") == 0) {
		yml_check_keys(d, y, root, top_keys, "the configuration");
		parse_business(&L, root);
		c->rule_files = globs(&L, root, "rules", "rules", default_rules);
		c->reply_files = globs(&L, root, "replies", "replies", default_replies);
		parse_sentiment(&L, root);
		parse_answers(&L, root);
		parse_store(&L, root);
		parse_connectors(&L, root);
		parse_dashboard(&L, root);
		parse_notify(&L, root);
		parse_bot(&L, root);
		parse_log(&L, root);
		parse_satisfaction(&L, root);
	}
	if (d->errors > before) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct config *config_load(const char *path, struct diag *d)
{
	struct yml_doc y;
	struct config *c = config_new();

	c->dir = dir_of(path);
	const char *base = strrchr(path, '/');
	c->path = c->dir[0] == '/'
	              ? xasprintf("%s/%s", strcmp(c->dir, "/") ? c->dir : "", base ? base + 1 : path)
	              : xstrdup(path);
	if (yml_load_file(&y, path, d) < 0) {
		yml_free(&y);
		config_free(c);
		return NULL;
	}
	c = config_build(c, &y, d);
	yml_free(&y);
	return c;
}

struct config *config_load_mem(const char *name, const char *dir, const char *data, size_t len,
                               struct diag *d)
{
	struct yml_doc y;
	struct config *c = config_new();
	char *abs = realpath(dir && *dir ? dir : ".", NULL);

	c->dir = abs ? abs : xstrdup(dir && *dir ? dir : ".");
	c->path = xstrdup(name);
	if (yml_load_mem(&y, name, data, len, d) < 0) {
		yml_free(&y);
		config_free(c);
		return NULL;
	}
	c = config_build(c, &y, d);
	yml_free(&y);
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->dir);
	free(c->business_name);
	free(c->timezone);
	free(c->phone);
	free(c->email);
	hours_free(c->hours);
	strv_free(c->rule_files);
	strv_free(c->reply_files);
	strv_free(c->lexicon_files);
	free(c->lexicon_from);
	free(c->store_path);
	free(c->store_url);
	free(c->store_url_secret.env);
	free(c->store_url_secret.file);
	free(c->store_node);
	for (size_t i = 0; i < c->nconnectors; i++) {
		struct connector_conf *cc = &c->connectors[i];
		if (cc->settings && cc->ops && cc->ops->free_settings)
			cc->ops->free_settings(cc->settings);
		free(cc->type);
		free(cc->name);
		free(cc->listen);
		free(cc->endpoint);
		free(cc->channel);
	}
	free(c->connectors);
	free(c->dashboard_listen);
	strv_free(c->dashboard_hosts);
	config_proxies_free(&c->dashboard_proxies);
	free(c->metrics_token.env);
	free(c->metrics_token.file);
	strv_free(c->warnings);
	for (size_t i = 0; i < c->nagents; i++) {
		free(c->agents[i].login);
		free(c->agents[i].name);
		free(c->agents[i].password_hash);
	}
	free(c->agents);
	for (size_t i = 0; i < c->nlabels; i++) {
		free(c->labels[i].name);
		free(c->labels[i].color);
	}
	free(c->labels);
	for (size_t i = 0; i < c->nnotify; i++) {
		struct notify_conf *n = &c->notify[i];
		free(n->type);
		free(n->url);
		free(n->url_env);
		free(n->url_file);
		free(n->format);
		free(n->smtp);
		free(n->from);
		strv_free(n->to);
		free(n->username);
		free(n->password_env);
		free(n->password_file);
		free(n->agent);
	}
	free(c->notify);
	free(c->log_level);
	free(c);
}

const struct connector_conf *config_connector(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nconnectors; i++)
		if (c->connectors[i].name && !strcmp(c->connectors[i].name, name))
			return &c->connectors[i];
	return NULL;
}

const struct agent_conf *config_agent(const struct config *c, const char *login)
{
	for (size_t i = 0; i < c->nagents; i++)
		if (c->agents[i].login && !strcasecmp(c->agents[i].login, login))
			return &c->agents[i];
	return NULL;
}
