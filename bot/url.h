/*
 * url.h - URLs and host addresses, the one place that takes them apart.
 *
 * Parsing is curl's (curl_url()), never hand-written: scheme, host (IPv6
 * without its brackets), port (the scheme's default when absent) and the
 * path with its query.  The loopback rule is an address check: "localhost",
 * any address in 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x.y.z — not a
 * "127." prefix, which "127.example.com" would pass.  Plain http:// and
 * ws:// are allowed only towards loopback (config.c, http.c, connectors).
 *
 * Errors: url_parse returns -1 for anything curl refuses, a scheme other
 * than http, https, ws or wss, an empty host, credentials in the URL, or a
 * part longer than its buffer.  Nothing is allocated that outlives a call.
 */
#ifndef FD_URL_H
#define FD_URL_H

#include <stddef.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 2048

struct url_parts {
	char scheme[8];          /* "http", "https", "ws", "wss" (lower case) */
	int tls;                 /* https or wss */
	char host[URL_HOST_MAX]; /* without IPv6 brackets */
	int port;                /* given, or 443 / 80 */
	char path[URL_PATH_MAX]; /* "/" at least, with "?query" when there is one */
};

/* 1 when host (a name or an address; IPv6 with or without brackets) is this
 * machine by the rule above, else 0. */
int url_host_is_loopback(const char *host);

/* Take an http(s) or ws(s) URL apart.  0, or -1 (u is then zeroed). */
int url_parse(const char *url, struct url_parts *u);

/* "host[:port]" for a Host header: the port only when it is not the
 * scheme's own, IPv6 in brackets.  Into out (n bytes). */
void url_host_port(const struct url_parts *u, char *out, size_t n);

/* url with name=value appended to its query (value URL-encoded by curl),
 * into out (n bytes).  0, or -1 when url does not parse or out is too
 * small.  For a secret in a query (Meta's access_token): no copy is left
 * behind. */
int url_add_query(const char *url, const char *name, const char *value, char *out, size_t n);

#endif
