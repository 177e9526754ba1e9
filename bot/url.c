/*
 * url.c - URLs and host addresses (see url.h).
 */
#include "url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

int url_host_is_loopback(const char *host)
{
	char h[URL_HOST_MAX];
	struct in_addr a4;
	struct in6_addr a6;
	size_t len;

	if (!host)
		return 0;
	len = strlen(host);
	if (len >= sizeof(h))
		return 0;
	if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
		memcpy(h, host + 1, len - 2);
		h[len - 2] = '\0';
	} else {
		memcpy(h, host, len + 1);
	}
	if (strcasecmp(h, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return 0;
}

/* Copy a curl-owned part into out; -1 when it does not fit. */
static int take(char *out, size_t n, const char *v)
{
	size_t l = v ? strlen(v) : 0;
	if (l >= n)
		return -1;
	memcpy(out, v ? v : "", l + 1);
	return 0;
}

int url_parse(const char *url, struct url_parts *u)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL;
	int rc = -1;

	memset(u, 0, sizeof(*u));
	if (!h)
		fatal("out of memory (curl_url)");
	if (!url || curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
		goto out;
	if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK)
		goto out; /* credentials never travel in a URL here */
	if (!strcasecmp(scheme, "https") || !strcasecmp(scheme, "wss"))
		u->tls = 1;
	else if (strcasecmp(scheme, "http") && strcasecmp(scheme, "ws"))
		goto out;
	if (take(u->scheme, sizeof(u->scheme), scheme) < 0)
		goto out;
	for (char *p = u->scheme; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (take(u->host, sizeof(u->host), host + 1) < 0)
			goto out;
	} else if (take(u->host, sizeof(u->host), host) < 0) {
		goto out;
	}
	u->port = u->tls ? 443 : 80;
	if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		long v;
		if (parse_long(port, &v) < 0 || v < 1 || v > 65535)
			goto out;
		u->port = (int)v;
	}
	if (curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	if (curl_url_get(h, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	int n = snprintf(u->path, sizeof(u->path), "%s%s%s", path && *path ? path : "/", query ? "?" : "",
	                 query ? query : "");
	if (n < 0 || (size_t)n >= sizeof(u->path))
		goto out;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(user);
	curl_url_cleanup(h);
	if (rc < 0)
		memset(u, 0, sizeof(*u));
	return rc;
}

void url_host_port(const struct url_parts *u, char *out, size_t n)
{
	int v6 = strchr(u->host, ':') != NULL;
	if (u->port == (u->tls ? 443 : 80))
		snprintf(out, n, v6 ? "[%s]" : "%s", u->host);
	else
		snprintf(out, n, v6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
}

int url_add_query(const char *url, const char *name, const char *value, char *out, size_t n)
{
	CURLU *h = curl_url();
	char *full = NULL, *arg;
	int rc = -1;
	if (!h)
		fatal("out of memory (curl_url)");
	arg = xasprintf("%s=%s", name, value);
	if (url && curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_QUERY, arg, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_URL, &full, 0) == CURLUE_OK)
		rc = take(out, n, full);
	if (full) {
		explicit_bzero(full, strlen(full));
		curl_free(full);
	}
	explicit_bzero(arg, strlen(arg));
	free(arg);
	curl_url_cleanup(h);
	return rc;
}
