/*
 * http.c - libcurl multi on the libuv loop: one uv_poll per socket curl
 * asks about, one uv timer for curl's timeout, and our own list of requests
 * in flight (curl 7.88 cannot enumerate them) so shutdown can cancel them.
 *
 * SMTP is the exception: curl's SMTP code answers a connection close with a
 * QUIT it waits for synchronously (smtp_disconnect -> smtp_block_statemach,
 * up to the 120 s server response timeout), which would freeze the loop.
 * Mails are therefore sent with a blocking curl_easy_perform on libuv's
 * worker pool; the completion still runs on the loop thread.
 */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "loop.h"
#include "metrics.h"
#include "url.h"
#include "util.h"

#define HDR_VALUE_MAX  256  /* rate-limit header values longer than this are ignored */
#define LINK_VALUE_MAX 2048 /* Link (pagination) is longer */

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct sockpoll {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
	struct sockpoll *prev, *next;
};

struct http_call {
	struct http *h;
	struct http_call *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *rcpt;
	char *upload; /* SMTP payload */
	size_t upload_len, upload_off;
	struct buf body;
	int too_big;
	int is_smtp;
	int once;  /* POST/PATCH: never sent a second time (http.h) */
	int sends; /* times the request was about to go out */
	/* SMTP on the worker pool */
	uv_work_t work;
	atomic_int abort; /* set by the loop: the worker's transfer stops */
	int detached;     /* owner is gone (cancelled): after_work only frees */
	CURLcode code;    /* result of curl_easy_perform */
	char *retry_after, *rl_remaining, *rl_reset, *rl_reset_after, *content_type, *link;
	char *rl_bucket, *rl_scope, *rl_global;
	char errbuf[CURL_ERROR_SIZE];
	http_done_fn done;
	void *arg;
};

struct http {
	struct loop *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct http_call *calls;
	struct sockpoll *polls;
	unsigned inflight;
	unsigned open_handles; /* uv handles not yet closed, SMTP jobs not yet finished */
	int closing;           /* cancel_all ran: no new requests */
	int dying;             /* http_free ran: free once open_handles == 0 */
	int curl_inited;       /* curl_global_init ran (lazily, see curl_setup) */
	struct metric *m_requests;
	struct metric *m_seconds;
};

static void http_release(struct http *h)
{
	if (h->dying && h->open_handles == 0) {
		int inited = h->curl_inited;
		free(h);
		if (inited)
			curl_global_cleanup();
	}
}

static void handle_closed(uv_handle_t *hd)
{
	struct http *h = hd->data;
	if (hd->type == UV_POLL)
		free(container_of((uv_poll_t *)hd, struct sockpoll, poll));
	h->open_handles--;
	http_release(h);
}

static void poll_unlink_close(struct sockpoll *sp)
{
	struct http *h = sp->h;
	if (sp->prev)
		sp->prev->next = sp->next;
	else
		h->polls = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	uv_poll_stop(&sp->poll);
	sp->poll.data = h;
	uv_close((uv_handle_t *)&sp->poll, handle_closed);
}

/* ---- request completion --------------------------------------------- */

static void call_unlink(struct http_call *c)
{
	struct http *h = c->h;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	h->inflight--;
}

static void call_free(struct http_call *c)
{
	if (c->easy) {
		if (!c->is_smtp)
			curl_multi_remove_handle(c->h->multi, c->easy);
		curl_easy_cleanup(c->easy);
	}
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->rcpt);
	free(c->upload);
	buf_free(&c->body);
	free(c->retry_after);
	free(c->rl_remaining);
	free(c->rl_reset);
	free(c->rl_reset_after);
	free(c->content_type);
	free(c->link);
	free(c->rl_bucket);
	free(c->rl_scope);
	free(c->rl_global);
	free(c);
}

static const char *result_label(const struct http_response *r)
{
	switch (r->error) {
	case HTTP_E_NONE: return r->status >= 200 && r->status < 400 ? "ok" : "status";
	case HTTP_E_TRANSPORT: return "transport";
	case HTTP_E_TOO_BIG: return "too_big";
	case HTTP_E_CANCELLED: return "cancelled";
	}
	return "transport";
}

/* Report the outcome to the owner and free the call.  `c` is already
 * unlinked; the callback may start or cancel other requests. */
static void call_finish(struct http_call *c, CURLcode code, enum http_error forced)
{
	struct http_response r;
	memset(&r, 0, sizeof(r));
	long status = 0;
	double secs = 0;

	if (c->easy) {
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &secs);
	}
	r.status = status;
	r.curl_code = (int)code;
	r.seconds = secs;
	if (forced != HTTP_E_NONE) {
		r.error = forced;
		r.error_text = forced == HTTP_E_CANCELLED ? "cancelled: shutting down" : "";
	} else if (c->too_big) {
		r.error = HTTP_E_TOO_BIG;
		r.error_text = "response body too large";
	} else if (code != CURLE_OK) {
		r.error = HTTP_E_TRANSPORT;
		r.error_text = c->once && c->sends > 1 ? HTTP_UNSENT_AGAIN
		               : c->errbuf[0]          ? c->errbuf
		                                       : curl_easy_strerror(code);
	} else {
		r.error_text = "";
	}
	r.body = c->body.p ? c->body.p : "";
	r.body_len = c->body.len;
	r.retry_after = c->retry_after;
	r.ratelimit_remaining = c->rl_remaining;
	r.ratelimit_reset = c->rl_reset;
	r.ratelimit_reset_after = c->rl_reset_after;
	r.content_type = c->content_type;
	r.link = c->link;
	r.ratelimit_bucket = c->rl_bucket;
	r.ratelimit_scope = c->rl_scope;
	r.ratelimit_global = c->rl_global;

	if (c->h->m_requests)
		metric_add_l(c->h->m_requests, 1, c->is_smtp ? "smtp" : "http", result_label(&r));
	if (c->h->m_seconds && r.error == HTTP_E_NONE)
		metric_observe(c->h->m_seconds, secs);

	/* The easy handle leaves the multi before the owner runs, so a request
	 * it starts from the callback never shares state with this one. */
	if (c->easy && !c->is_smtp)
		curl_multi_remove_handle(c->h->multi, c->easy);
	if (c->done)
		c->done(&r, c->arg);
	call_free(c);
}

static void check_done(struct http *h)
{
	CURLMsg *msg;
	int pending;

	while ((msg = curl_multi_info_read(h->multi, &pending))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct http_call *c = NULL;
		CURLcode code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (!c)
			continue;
		call_unlink(c);
		call_finish(c, code, HTTP_E_NONE);
	}
}

/* ---- curl <-> uv glue -------------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sockpoll *sp = container_of(p, struct sockpoll, poll);
	struct http *h = sp->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(h->multi, sp->fd, flags, &running);
	check_done(h);
}

static void on_timeout(uv_timer_t *t)
{
	struct http *h = t->data;
	int running;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: create/update/remove the uv_poll of a socket.
 * REMOVE comes before curl closes the fd, so the poll is closed at once. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sockpoll *sp = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (sp) {
			curl_multi_assign(h->multi, s, NULL);
			poll_unlink_close(sp);
		}
		return 0;
	}
	if (!sp) {
		sp = xcalloc(1, sizeof(*sp));
		sp->fd = s;
		sp->h = h;
		if (uv_poll_init_socket(&h->loop->uv, &sp->poll, s) != 0) {
			free(sp);
			log_error("cannot watch an HTTP socket", "fd=%d", (int)s);
			return -1;
		}
		sp->poll.data = h;
		h->open_handles++;
		sp->next = h->polls;
		if (h->polls)
			h->polls->prev = sp;
		h->polls = sp;
		curl_multi_assign(h->multi, s, sp);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&sp->poll, ev, on_poll);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: only (re)arm the uv timer; calling
 * curl_multi_socket_action from here would re-enter curl. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

struct http *http_new(struct loop *l)
{
	struct http *h = xcalloc(1, sizeof(*h));
	h->loop = l;
	uv_timer_init(&l->uv, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	if (l->hooks.metrics) {
		h->m_requests = metrics_counter(l->hooks.metrics, "http_requests_total",
		                                "Outgoing HTTP and SMTP requests by outcome.", "kind,result");
		h->m_seconds = metrics_histogram(l->hooks.metrics, "http_request_seconds",
		                                 "Duration of outgoing requests that completed.", NULL, 0);
	}
	return h;
}

/*
 * curl (and through it OpenSSL) is set up on the first request, not at
 * start: a daemon that only serves the web chat never needs it, and the
 * set-up costs about 2 MB of resident memory.  Single-threaded here; the
 * SMTP worker threads only start after it.
 */
static void curl_setup(struct http *h)
{
	if (h->multi)
		return;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h->curl_inited = 1;
	h->multi = curl_multi_init();
	if (!h->multi)
		fatal("curl_multi_init failed");
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
}

unsigned http_inflight(const struct http *h)
{
	return h ? h->inflight : 0;
}

/* Stop a mail on the worker pool: its job ends soon (the progress callback
 * aborts the transfer) and smtp_after_work only frees it. */
static void smtp_detach(struct http_call *c)
{
	atomic_store(&c->abort, 1);
	c->detached = 1;
	uv_cancel((uv_req_t *)&c->work);
}

void http_cancel_all(struct http *h)
{
	h->closing = 1;
	while (h->calls) {
		struct http_call *c = h->calls;
		call_unlink(c);
		if (c->is_smtp) {
			struct http_response r;
			memset(&r, 0, sizeof(r));
			r.error = HTTP_E_CANCELLED;
			r.error_text = "cancelled: shutting down";
			r.body = "";
			if (h->m_requests)
				metric_add_l(h->m_requests, 1, "smtp", "cancelled");
			smtp_detach(c);
			if (c->done)
				c->done(&r, c->arg);
		} else {
			call_finish(c, CURLE_OK, HTTP_E_CANCELLED);
		}
	}
}

void http_free(struct http *h)
{
	if (!h)
		return;
	http_cancel_all(h);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	h->multi = NULL;
	/* Connections curl kept alive may not all have been REMOVEd. */
	while (h->polls)
		poll_unlink_close(h->polls);
	uv_timer_stop(&h->timer);
	h->dying = 1;
	uv_close((uv_handle_t *)&h->timer, handle_closed);
}

/* ---- starting requests ---------------------------------------------- */

static size_t write_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_call *c = userp;
	size_t n = size * nmemb;
	if (buf_append(&c->body, p, n) < 0) {
		c->too_big = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

static void set_header(char **slot, const char *v, size_t n, size_t max)
{
	free(*slot);
	*slot = n <= max ? xstrndup(v, n) : NULL;
}

/* Keep the few headers the outbox needs; a new status line (after a 1xx
 * or an auth round) forgets those of the previous response. */
static size_t header_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_call *c = userp;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		char **all[] = {&c->retry_after,    &c->rl_remaining, &c->rl_reset,
		                &c->rl_reset_after, &c->content_type, &c->link,
		                &c->rl_bucket,      &c->rl_scope,     &c->rl_global};
		for (size_t i = 0; i < ARRAY_LEN(all); i++) {
			free(*all[i]);
			*all[i] = NULL;
		}
		return n;
	}
	const char *colon = memchr(p, ':', n);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - p);
	const char *v = colon + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v);
	static const struct {
		const char *name;
		size_t off;
		size_t max;
	} keep[] = {
	    {"retry-after", offsetof(struct http_call, retry_after), HDR_VALUE_MAX},
	    {"x-ratelimit-remaining", offsetof(struct http_call, rl_remaining), HDR_VALUE_MAX},
	    {"x-ratelimit-reset", offsetof(struct http_call, rl_reset), HDR_VALUE_MAX},
	    {"x-ratelimit-reset-after", offsetof(struct http_call, rl_reset_after), HDR_VALUE_MAX},
	    {"content-type", offsetof(struct http_call, content_type), HDR_VALUE_MAX},
	    {"link", offsetof(struct http_call, link), LINK_VALUE_MAX},
	    {"x-ratelimit-bucket", offsetof(struct http_call, rl_bucket), HDR_VALUE_MAX},
	    {"x-ratelimit-scope", offsetof(struct http_call, rl_scope), HDR_VALUE_MAX},
	    {"x-ratelimit-global", offsetof(struct http_call, rl_global), HDR_VALUE_MAX},
	};
	for (size_t i = 0; i < ARRAY_LEN(keep); i++)
		if (strlen(keep[i].name) == nl && strncasecmp(p, keep[i].name, nl) == 0)
			set_header((char **)((char *)c + keep[i].off), v, vl, keep[i].max);
	return n;
}

static size_t read_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_call *c = userp;
	size_t n = size * nmemb, left = c->upload_len - c->upload_off;
	if (n > left)
		n = left;
	memcpy(p, c->upload + c->upload_off, n);
	c->upload_off += n;
	return n;
}

/* The host of url when its scheme is one of `schemes` (comma list), else
 * NULL.  Caller frees with curl_free. */
static char *url_host(const char *url, const char *schemes)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_free(scheme);
		curl_free(host);
		curl_url_cleanup(u);
		return NULL;
	}
	size_t sl = strlen(scheme);
	int ok = 0;
	for (const char *s = schemes; *s;) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == sl && strncasecmp(s, scheme, l) == 0)
			ok = 1;
		s += l + (e ? 1 : 0);
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	if (!ok) {
		curl_free(host);
		return NULL;
	}
	return host;
}

static struct http_call *call_new(struct http *h, const char *url, long timeout_ms, size_t max_body,
                                  http_done_fn done, void *arg)
{
	curl_setup(h);
	struct http_call *c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->done = done;
	c->arg = arg;
	buf_init(&c->body, max_body ? max_body : HTTP_MAX_BODY);
	c->easy = curl_easy_init();
	if (!c->easy)
		fatal("curl_easy_init failed");
	CURL *e = c->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : (long)HTTP_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "frontdesk/" FD_VERSION);
	return c;
}

static struct http_call *call_add(struct http *h, struct http_call *c)
{
	CURLMcode mc = curl_multi_add_handle(h->multi, c->easy);
	if (mc != CURLM_OK) {
		log_error("cannot start a request", "error=\"%s\"", curl_multi_strerror(mc));
		curl_easy_cleanup(c->easy);
		c->easy = NULL;
		call_free(c);
		return NULL;
	}
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	h->inflight++;
	return c;
}

static int may_start(struct http *h)
{
	if (!h || h->closing) {
		log_warn("request refused: shutting down", "closing=%d", 1);
		return 0;
	}
	if (h->inflight >= HTTP_MAX_INFLIGHT) {
		log_warn("request refused: too many in flight", "inflight=%u", h->inflight);
		return 0;
	}
	return 1;
}

/* Right before the request goes out on its connection: a second time for
 * the same transfer is libcurl re-sending it after a reused connection
 * died, refused for a request that changes something (http.h). */
static int prereq_cb(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
	struct http_call *c = arg;
	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	c->sends++;
	return c->once && c->sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

static int header_ok(const char *s)
{
	return strchr(s, '\r') == NULL && strchr(s, '\n') == NULL && strchr(s, ':') != NULL;
}

struct http_call *http_start(struct http *h, const struct http_request *req, http_done_fn done, void *arg)
{
	if (!may_start(h) || !req || !req->url)
		return NULL;
	curl_setup(h);
	char *host = url_host(req->url, "http,https");
	if (!host) {
		log_error("request refused: not an http(s) URL", "url_scheme=unsupported");
		return NULL;
	}
	curl_free(host);
	const char *method = req->method ? req->method : (req->body ? "POST" : "GET");
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
	int known = 0;
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		if (strcmp(method, methods[i]) == 0)
			known = 1;
	if (!known) {
		log_error("request refused: unknown method", "method=%.16s", method);
		return NULL;
	}

	struct http_call *c = call_new(h, req->url, req->timeout_ms, req->max_body, done, arg);
	CURL *e = c->easy;
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 req->connect_timeout_ms > 0 ? req->connect_timeout_ms
	                                             : (long)HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	c->once = !req->idempotent && (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, c);

	struct curl_slist *hl = NULL;
	/* curl would wait up to a second for "100 Continue" on large bodies. */
	hl = curl_slist_append(hl, "Expect:");
	for (const char *const *p = req->headers; p && *p; p++) {
		if (header_ok(*p))
			hl = curl_slist_append(hl, *p);
		else
			log_warn("request header dropped: malformed", "index=%d", (int)(p - req->headers));
	}
	if (req->content_type && !strchr(req->content_type, '\n') && !strchr(req->content_type, '\r')) {
		char *ct = xasprintf("Content-Type: %s", req->content_type);
		hl = curl_slist_append(hl, ct);
		free(ct);
	}
	if (req->bearer && !strchr(req->bearer, '\n') && !strchr(req->bearer, '\r')) {
		char *a = xasprintf("Authorization: Bearer %s", req->bearer);
		hl = curl_slist_append(hl, a);
		/* Wipe the secret from our heap copy before freeing it. */
		memset(a, 0, strlen(a));
		free(a);
	}
	c->headers = hl;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);

	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		if (req->body || strcmp(method, "POST") == 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)(req->body ? req->body_len : 0));
			curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
		}
	}
	return call_add(h, c);
}

/* Worker thread: returning non-zero aborts the transfer. */
static int smtp_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_call *c = p;
	return atomic_load(&c->abort);
}

/* Worker thread: the whole SMTP conversation, QUIT included. */
static void smtp_work(uv_work_t *w)
{
	struct http_call *c = container_of(w, struct http_call, work);
	c->code = curl_easy_perform(c->easy);
}

/* Loop thread: report the result (unless cancelled) and free the call. */
static void smtp_after_work(uv_work_t *w, int status)
{
	struct http_call *c = container_of(w, struct http_call, work);
	struct http *h = c->h;
	if (c->detached) {
		call_free(c);
	} else {
		call_unlink(c);
		call_finish(c, status == UV_ECANCELED ? CURLE_ABORTED_BY_CALLBACK : c->code, HTTP_E_NONE);
	}
	h->open_handles--;
	http_release(h);
}

struct http_call *http_smtp_send(struct http *h, const struct smtp_mail *m, http_done_fn done, void *arg)
{
	if (!may_start(h) || !m || !m->url || !m->from || !m->rcpt || !m->rcpt[0] || !m->payload)
		return NULL;
	curl_setup(h);
	char *host = url_host(m->url, "smtp,smtps");
	if (!host) {
		log_error("mail refused: not an smtp(s) URL", "url_scheme=unsupported");
		return NULL;
	}
	int loopback = url_host_is_loopback(host);
	curl_free(host);
	int implicit_tls = strncasecmp(m->url, "smtps:", 6) == 0;

	struct http_call *c = call_new(h, m->url, m->timeout_ms, 64u * 1024u, done, arg);
	c->is_smtp = 1;
	CURL *e = c->easy;
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_CONNECT_TIMEOUT_MS);
	/* Bounds the QUIT wait too; the connection is never kept, so QUIT
	 * happens on the worker, not in a later cleanup on the loop. */
	curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, 15L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, smtp_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, c);
	if (!implicit_tls)
		curl_easy_setopt(e, CURLOPT_USE_SSL, loopback ? (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	char *from = xasprintf("<%s>", m->from);
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
	free(from);
	for (const char *const *r = m->rcpt; *r; r++) {
		char *to = xasprintf("<%s>", *r);
		c->rcpt = curl_slist_append(c->rcpt, to);
		free(to);
	}
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, c->rcpt);
	if (m->username) {
		curl_easy_setopt(e, CURLOPT_USERNAME, m->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	c->upload = xmalloc(m->payload_len + 1);
	memcpy(c->upload, m->payload, m->payload_len);
	c->upload_len = m->payload_len;
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, c);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->payload_len);

	int rc = uv_queue_work(&h->loop->uv, &c->work, smtp_work, smtp_after_work);
	if (rc != 0) {
		log_error("cannot queue a mail", "error=\"%s\"", uv_strerror(rc));
		call_free(c);
		return NULL;
	}
	h->open_handles++;
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	h->inflight++;
	return c;
}

void http_cancel(struct http_call *c)
{
	if (!c)
		return;
	call_unlink(c);
	if (c->is_smtp)
		smtp_detach(c);
	else
		call_free(c);
}

/* ---- rate limits ------------------------------------------------------ */

/* Copy v without surrounding blanks into out; 0, or -1 when it does not fit. */
static int trimmed(const char *v, char *out, size_t n)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t l = strlen(v);
	while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
		l--;
	if (l == 0 || l >= n)
		return -1;
	memcpy(out, v, l);
	out[l] = '\0';
	return 0;
}

/* "123" or "123.456" as seconds (the value as written); 0 or -1. */
static int parse_seconds_exact(const char *s, double *out)
{
	int digits = 0, dot = 0;
	for (const char *p = s; *p; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.' && !dot)
			dot = 1;
		else
			return -1;
	}
	if (!digits || digits > 15)
		return -1;
	char *end;
	double d = strtod(s, &end);
	if (*end || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

/* The same rounded up to a whole second. */
static int parse_seconds(const char *s, double *out)
{
	if (parse_seconds_exact(s, out) < 0)
		return -1;
	*out = ceil(*out);
	return 0;
}

/* Seconds (fractions kept) as milliseconds, rounded up: nothing goes out
 * before the time named. */
static int64_t secs_to_ms(double secs)
{
	return (int64_t)ceil(secs * 1000.0);
}

int http_parse_retry_after(const char *v, time_t now, time_t *out)
{
	char s[HDR_VALUE_MAX + 1];
	double secs;
	if (!v || trimmed(v, s, sizeof(s)) < 0)
		return -1;
	if (parse_seconds(s, &secs) == 0) {
		*out = now + (time_t)secs;
		return 0;
	}
	time_t t = curl_getdate(s, NULL);
	if (t == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

/* An ISO-8601 or HTTP date as epoch ms; a fraction of a second rounds up. */
static int parse_date_ms(const char *s, int64_t *out)
{
	time_t t;
	if (time_parse_iso(s, &t) == 0) {
		int64_t ms = (int64_t)t * 1000;
		const char *dot = strchr(s, 'T') ? strchr(strchr(s, 'T'), '.') : NULL;
		if (dot) {
			int64_t frac = 0, scale = 100;
			int more = 0;
			for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++) {
				if (scale)
					frac += (*p - '0') * scale;
				else if (*p != '0')
					more = 1;
				scale /= 10;
			}
			ms += frac + more;
		}
		*out = ms;
		return 0;
	}
	t = curl_getdate(s, NULL);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t * 1000;
	return 0;
}

int http_parse_reset(const char *v, time_t *out)
{
	char s[HDR_VALUE_MAX + 1];
	double secs;
	int64_t ms;
	if (!v || trimmed(v, s, sizeof(s)) < 0)
		return -1;
	if (parse_seconds(s, &secs) == 0) {
		*out = (time_t)secs;
		return 0;
	}
	if (parse_date_ms(s, &ms) < 0)
		return -1;
	*out = (time_t)((ms + 999) / 1000);
	return 0;
}

/* Below this a numeric X-RateLimit-Reset is "seconds until the reset"
 * (Mattermost), above it an epoch time (Discord, GitHub): 10^9 s is 2001,
 * and no reset is 31 years away. */
#define RESET_EPOCH_MIN 1000000000.0
#define BODY_JSON_MAX   (64u * 1024u)

/* retry_after (Discord: seconds with a fraction) or parameters.retry_after
 * (Telegram) in a JSON body: the wait in ms, or -1. */
static int64_t body_retry_after_ms(const struct http_response *r)
{
	if (!r->body || r->body_len == 0 || r->body_len > BODY_JSON_MAX)
		return -1;
	const char *b = r->body;
	while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
		b++;
	if (*b != '{')
		return -1;
	json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
	json_t *v = json_object_get(o, "retry_after");
	if (!json_is_number(v))
		v = json_object_get(json_object_get(o, "parameters"), "retry_after");
	int64_t ms = -1;
	if (json_is_number(v)) {
		double secs = json_number_value(v);
		if (isfinite(secs) && secs >= 0 && secs < 1e7)
			ms = secs_to_ms(secs);
	}
	json_decref(o);
	return ms;
}

int64_t http_retry_at_ms(const struct http_response *r, int64_t now_ms)
{
	int64_t nb = 0, ms;
	double secs;
	char s[HDR_VALUE_MAX + 1];

	if (r->retry_after && trimmed(r->retry_after, s, sizeof(s)) == 0) {
		if (parse_seconds_exact(s, &secs) == 0)
			nb = now_ms + secs_to_ms(secs);
		else if (parse_date_ms(s, &ms) == 0 && ms > nb)
			nb = ms;
	}
	if (r->status == 429 && (ms = body_retry_after_ms(r)) >= 0 && now_ms + ms > nb)
		nb = now_ms + ms;
	/* The reset values describe when the bucket refills; they only ask for
	 * a wait when it is empty. */
	int exhausted;
	if (r->ratelimit_remaining && trimmed(r->ratelimit_remaining, s, sizeof(s)) == 0 &&
	    parse_seconds(s, &secs) == 0)
		exhausted = secs <= 0;
	else
		exhausted = r->status == 429;
	if (exhausted) {
		if (r->ratelimit_reset_after && trimmed(r->ratelimit_reset_after, s, sizeof(s)) == 0 &&
		    parse_seconds_exact(s, &secs) == 0 && now_ms + secs_to_ms(secs) > nb)
			nb = now_ms + secs_to_ms(secs);
		if (r->ratelimit_reset && trimmed(r->ratelimit_reset, s, sizeof(s)) == 0) {
			if (parse_seconds_exact(s, &secs) == 0)
				ms = secs < RESET_EPOCH_MIN ? now_ms + secs_to_ms(secs) : secs_to_ms(secs);
			else if (parse_date_ms(s, &ms) < 0)
				ms = 0;
			else if (ms <= 0)
				ms = 1; /* a date before 1970: named, and long past */
			if (ms > nb)
				nb = ms;
		}
	}
	return nb;
}

time_t http_not_before(const struct http_response *r, time_t now)
{
	int64_t ms = http_retry_at_ms(r, (int64_t)now * 1000);
	return ms > (int64_t)now * 1000 ? (time_t)((ms + 999) / 1000) : 0;
}
