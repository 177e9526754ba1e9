/*
 * test_dashboard.c - the agent dashboard on a real loop, server and store.
 *
 * The dashboard runs on the test's main thread inside loop_run(); a client
 * thread talks to it over loopback with blocking libcurl and a minimal
 * WebSocket client, and checks: 401 without a session on every API path,
 * login with real crypt(3) hashes and the cookie's attributes, 403 without
 * the CSRF token or from a foreign origin, the queue order, claim / take
 * over / reassign / reply (signed) / release / resolve through the store's
 * state machine, live events with sequence numbers and resuming after a
 * reconnect, a change made by another connection (as `frontdesk queue`
 * does) reaching the live socket, canned replies, stats, the login rate
 * limit, and logout ending the live socket.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"
#include "connectors/mastodon/mastodon.h"
#include "connectors/webchat/webchat.h"
#include "dashboard.h"
#include "loop.h"
#include "metrics.h"
#include "pipeline.h"
#include "replies.h"
#include "server.h"
#include "store.h"
#include "store_sync.h"
#include "util.h"
#include "wsframe.h"

/* cmocka's assertions longjmp and must stay on the test's thread; the client
 * thread reports a failure and ends the process instead. */
#define C_TRUE(c)                                                                                            \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "%s:%d: client check failed: %s\n", __FILE__, __LINE__, #c);         \
			_exit(1);                                                                            \
		}                                                                                            \
	} while (0)
#define C_INT(a, b)                                                                                          \
	do {                                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                                          \
		if (a_ != b_) {                                                                              \
			fprintf(stderr, "%s:%d: client check failed: %s == %s (%lld != %lld)\n", __FILE__,   \
			        __LINE__, #a, #b, a_, b_);                                                   \
			_exit(1);                                                                            \
		}                                                                                            \
	} while (0)
#define C_STR(a, b)                                                                                          \
	do {                                                                                                 \
		const char *a_ = (a), *b_ = (b);                                                             \
		if (!a_ || strcmp(a_, b_) != 0) {                                                            \
			fprintf(stderr, "%s:%d: client check failed: \"%s\" != \"%s\"\n", __FILE__,          \
			        __LINE__, a_ ? a_ : "(null)", b_);                                           \
			_exit(1);                                                                            \
		}                                                                                            \
	} while (0)

/* "correct horse" as yescrypt and as SHA-512 crypt. */
static const char hash_sam[] = "$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD";
static const char hash_kim[] = "$6$Q9iYu8kqRoR58ol3$WAMGHu17Z.R8vhzYIiyFPLVRtmY1ymPfN7U7S5YlhSK0nL33BnVw9H4Ae"
                               "qUxJhrUDvd8CtgejZG27l8hrzZcK/";

struct fx {
	struct loop L;
	struct metrics *metrics;
	struct server *srv;
	struct store *st;
	struct replies *replies;
	struct config cfg;
	struct connector_conf conns[2];
	struct agent_conf agents[2];
	struct dashboard *dash;
	int port;
	uv_async_t done;
	uv_check_t group; /* commits once per loop iteration, as the daemon does */
	_Atomic int commits;
	char dir[64], db[128];
	int64_t t_low, t_normal, t_urgent; /* ticket ids */
	void (*run)(struct fx *f);         /* the client; NULL = client() */
};

/* ---- loop side ------------------------------------------------------------ */

static void commit(void *arg, void (*done)(void *done_arg, int rc), void *done_arg)
{
	struct fx *f = arg;
	f->commits++;
	store_commit(f->st, done, done_arg);
}

static void group_commit(uv_check_t *h)
{
	struct fx *f = h->data;
	if (store_dirty(f->st))
		store_commit(f->st, NULL, NULL);
}

static void on_done(uv_async_t *a)
{
	struct fx *f = a->data;
	loop_stop(&f->L);
}

static void teardown_hook(struct loop *l, void *arg)
{
	struct fx *f = arg;
	uv_close((uv_handle_t *)&f->done, NULL);
	uv_close((uv_handle_t *)&f->group, NULL);
	dashboard_stop(f->dash);
}

/* One escalated customer post: a new waiting ticket.  Returns its id. */
static int64_t escalate(struct fx *f, const char *thread, const char *author, const char *text,
                        enum priority p, const char *reason, time_t due, time_t now)
{
	/* The urgent ticket comes from Mastodon (connector "social"), which
	 * cannot show who wrote a reply; the others from the web chat. */
	int social = strcmp(thread, "v-urgent") == 0;
	struct post post = {
	    .platform = social ? "mastodon" : "webchat",
	    .connector = social ? "social" : "webchat",
	    .post_id = thread,
	    .thread_key = thread,
	    .author_id = author,
	    .author_name = author,
	    .text = text,
	    .created = now,
	};
	struct decision dec;
	struct ss_rec rec = {0};
	struct store_thread none = {0};
	decision_init(&dec);
	dec.action = ACTION_ESCALATE;
	dec.priority = p;
	dec.reason = reason;
	dec.due = due;
	dec.open_ticket = 1;
	struct store_record r = {
	    .post = &post, .decision = &dec, .decision_json = "{}", .now = now, .thread = &none};
	assert_int_equal(ss_record(f->st, &r, &rec), 0);
	assert_int_equal(store_commit_sync(f->st), 0);
	int64_t id = rec.ticket_id;
	assert_true(id > 0);
	ss_rec_free(&rec);
	return id;
}

static void setup_fx(struct fx *f)
{
	char err[256] = "", path[160];
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/fd-dash-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/t.db", f->dir);
	struct store_conf sc = {.path = f->db};
	f->st = store_open(&sc, err, sizeof(err));
	assert_non_null(f->st);

	snprintf(path, sizeof(path), "%s/replies.yaml", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("canned.thanks_waiting: \"Thanks for waiting{{#author}}, {{author}}{{/author}}! {{agent}} "
	      "here.\"\n"
	      "faq.opening_hours: \"We are open {{hours}}.\"\n"
	      "ack.received: \"Got it.\"\n",
	      fp);
	fclose(fp);
	char *files[] = {path, NULL};
	struct diag d;
	diag_init(&d);
	f->replies = replies_load(files, &d);
	assert_non_null(f->replies);
	diag_free(&d);

	f->agents[0] = (struct agent_conf){.login = "sam", .name = "Sam", .password_hash = (char *)hash_sam};
	f->agents[1] = (struct agent_conf){.login = "kim", .name = "Kim", .password_hash = (char *)hash_kim};
	f->cfg.agents = f->agents;
	f->cfg.nagents = 2;
	f->cfg.dashboard_listen = "127.0.0.1:0";
	f->cfg.business_name = "Acme Bakery";
	f->conns[0] = (struct connector_conf){.type = "webchat", .name = "webchat", .ops = &webchat_ops};
	f->conns[1] = (struct connector_conf){.type = "mastodon", .name = "social", .ops = &mastodon_ops};
	f->cfg.connectors = f->conns;
	f->cfg.nconnectors = 2;

	time_t now = time(NULL);
	f->t_low =
	    escalate(f, "v-low", "Lou", "Where is my order?", PRIO_LOW, "unmatched", now + 3600, now - 50);
	f->t_normal =
	    escalate(f, "v-normal", "Nora", "The cake was dry", PRIO_NORMAL, "negative", now + 600, now - 40);
	f->t_urgent =
	    escalate(f, "v-urgent", "Una", "I want a refund now", PRIO_URGENT, "rule", now + 600, now - 30);
}

static void free_fx(struct fx *f)
{
	char p[200];
	static const char *const suffix[] = {"", "-wal", "-shm"};
	dashboard_free(f->dash);
	store_close(f->st);
	replies_free(f->replies);
	metrics_free(f->metrics);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->db, suffix[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/replies.yaml", f->dir);
	unlink(p);
	rmdir(f->dir);
}

/* ---- HTTP client (client thread) ------------------------------------------ */

struct resp {
	long status;
	struct buf body;
	struct buf headers;
	json_t *json;
};

static size_t collect(char *p, size_t sz, size_t n, void *userp)
{
	buf_append(userp, p, sz * n);
	return sz * n;
}

/* A browser-like session: its own cookie jar and CSRF token. */
struct agent {
	CURL *e;
	char cookie[128];
	char csrf[AUTH_TOKEN_HEX + 1];
};

static void request(struct fx *f, struct agent *a, const char *method, const char *path, const char *body,
                    const char *extra_header, struct resp *r)
{
	char url[256], hcookie[160], hcsrf[128];
	struct curl_slist *h = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
	buf_init(&r->body, 0);
	buf_init(&r->headers, 0);
	buf_puts(&r->body, "");
	buf_puts(&r->headers, "");
	if (a && a->cookie[0]) {
		snprintf(hcookie, sizeof(hcookie), "Cookie: %s", a->cookie);
		h = curl_slist_append(h, hcookie);
	}
	if (a && a->csrf[0] && strcmp(method, "GET") != 0 &&
	    !(extra_header &&
	      (!strcmp(extra_header, "no-csrf") || !strncasecmp(extra_header, "x-csrf-token", 12)))) {
		snprintf(hcsrf, sizeof(hcsrf), "X-CSRF-Token: %s", a->csrf);
		h = curl_slist_append(h, hcsrf);
	}
	if (extra_header && strcmp(extra_header, "no-csrf") != 0)
		h = curl_slist_append(h, extra_header);
	h = curl_slist_append(h, "Content-Type: application/json");
	CURL *e = a ? a->e : curl_easy_init();
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body || strcmp(method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	}
	CURLcode rc = curl_easy_perform(e);
	if (rc != CURLE_OK)
		fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
	r->status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	r->json = json_loads(r->body.p, 0, NULL);
	curl_slist_free_all(h);
	if (!a)
		curl_easy_cleanup(e);
}

static void resp_free(struct resp *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
	json_decref(r->json);
}

static int has_header(const struct resp *r, const char *line)
{
	return strcasestr(r->headers.p, line) != NULL;
}

/* GET/POST expecting `status`; the response is freed. */
static void expect(struct fx *f, struct agent *a, const char *method, const char *path, const char *body,
                   const char *hdr, long status)
{
	struct resp r;
	request(f, a, method, path, body, hdr, &r);
	if (r.status != status)
		fprintf(stderr, "%s %s -> %ld %s\n", method, path, r.status, r.body.p);
	C_INT(r.status, status);
	resp_free(&r);
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void login(struct fx *f, struct agent *a, const char *who)
{
	struct resp r;
	char body[128];
	a->e = curl_easy_init();
	snprintf(body, sizeof(body), "{\"login\":\"%s\",\"password\":\"correct horse\"}", who);
	request(f, a, "POST", "/api/login", body, NULL, &r);
	C_INT(r.status, 200);
	C_TRUE(has_header(&r, "set-cookie: " AUTH_COOKIE "="));
	C_TRUE(has_header(&r, "; HttpOnly; SameSite=Strict"));
	const char *c = strcasestr(r.headers.p, "set-cookie: ") + strlen("set-cookie: ");
	const char *semi = strchr(c, ';');
	snprintf(a->cookie, sizeof(a->cookie), "%.*s", (int)(semi - c), c);
	C_INT(strlen(jstr(r.json, "csrf")), AUTH_TOKEN_HEX);
	snprintf(a->csrf, sizeof(a->csrf), "%s", jstr(r.json, "csrf"));
	C_STR(jstr(json_object_get(r.json, "agent"), "login"), who);
	C_INT(json_array_size(json_object_get(r.json, "agents")), 2);
	resp_free(&r);
}

/* ---- minimal WebSocket client --------------------------------------------- */

static int ws_connect(struct fx *f, const char *path, const char *cookie, int *status)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct timeval tv = {.tv_sec = 6};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	C_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[1024];
	int n = snprintf(
	    req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	    "Origin: http://127.0.0.1:%d\r\n%s%s%s\r\n",
	    path, f->port, f->port, cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "");
	C_INT(write(fd, req, (size_t)n), n);
	char head[2048];
	size_t hl = 0;
	while (hl < sizeof(head) - 1) {
		ssize_t r = read(fd, head + hl, 1);
		if (r <= 0)
			break;
		hl++;
		if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[hl] = '\0';
	*status = hl > 12 ? atoi(head + 9) : 0;
	return fd;
}

static void ws_send_text(int fd, const char *p)
{
	size_t len = strlen(p);
	unsigned char frame[256];
	const unsigned char mask[4] = {9, 8, 7, 6};
	C_TRUE(len < 126);
	frame[0] = 0x81;
	frame[1] = (unsigned char)(0x80 | len);
	memcpy(frame + 2, mask, 4);
	for (size_t i = 0; i < len; i++)
		frame[6 + i] = (unsigned char)p[i] ^ mask[i % 4];
	C_INT(write(fd, frame, 6 + len), (long long)(6 + len));
}

/* The next text frame as JSON (the caller decrefs). */
static json_t *ws_json(int fd)
{
	struct buf in;
	buf_init(&in, 0);
	int op = wsframe_recv(fd, &in);
	if (op != 1)
		fprintf(stderr, "ws: opcode %d\n", op);
	C_INT(op, 1);
	json_t *j = json_loads(in.p, 0, NULL);
	C_TRUE(j != NULL);
	buf_free(&in);
	return j;
}

static json_int_t jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* ---- the scenario ---------------------------------------------------------- */

static void unauthenticated(struct fx *f)
{
	static const char *const gets[] = {"/api/me",        "/api/tickets",        "/api/tickets?status=all",
	                                   "/api/tickets/1", "/api/canned",         "/api/stats",
	                                   "/api/nope",      "/api/tickets/1/claim"};
	static const char *const posts[] = {"/api/logout",
	                                    "/api/tickets/1/claim",
	                                    "/api/tickets/1/reply",
	                                    "/api/tickets/1/resolve",
	                                    "/api/tickets/1/release",
	                                    "/api/tickets/1/assign",
	                                    "/api/me",
	                                    "/api/anything"};
	for (size_t i = 0; i < ARRAY_LEN(gets); i++)
		expect(f, NULL, "GET", gets[i], NULL, NULL, 401);
	for (size_t i = 0; i < ARRAY_LEN(posts); i++)
		expect(f, NULL, "POST", posts[i], "{}", NULL, 401);
	expect(f, NULL, "DELETE", "/api/tickets/1", NULL, NULL, 401);
	/* A made-up cookie is no session either. */
	struct agent fake = {.e = curl_easy_init()};
	snprintf(fake.cookie, sizeof(fake.cookie), AUTH_COOKIE "=%064d", 7);
	expect(f, &fake, "GET", "/api/tickets", NULL, NULL, 401);
	curl_easy_cleanup(fake.e);

	struct resp r;
	request(f, NULL, "GET", "/", NULL, NULL, &r);
	C_INT(r.status, 200);
	C_TRUE(has_header(&r, "content-security-policy: default-src 'none'; script-src 'self'"));
	C_TRUE(strstr(r.body.p, "/app.js") != NULL);
	resp_free(&r);
	expect(f, NULL, "GET", "/app.js", NULL, NULL, 200);
	expect(f, NULL, "GET", "/app.css", NULL, NULL, 200);
	expect(f, NULL, "GET", "/healthz", NULL, NULL, 200);
	request(f, NULL, "GET", "/metrics", NULL, NULL, &r);
	C_INT(r.status, 200);
	C_TRUE(strstr(r.body.p, "frontdesk_dashboard_live_clients") != NULL);
	resp_free(&r);
}

static void bad_logins(struct fx *f)
{
	expect(f, NULL, "GET", "/api/login", NULL, NULL, 405);
	expect(f, NULL, "POST", "/api/login", "not json", NULL, 400);
	expect(f, NULL, "POST", "/api/login", "{\"login\":\"sam\"}", NULL, 400);
	/* A login page of another site cannot log a browser in. */
	expect(f, NULL, "POST", "/api/login", "{\"login\":\"sam\",\"password\":\"correct horse\"}",
	       "Origin: http://evil.example", 403);
	struct resp r;
	request(f, NULL, "POST", "/api/login", "{\"login\":\"sam\",\"password\":\"wrong\"}", NULL, &r);
	C_INT(r.status, 401);
	C_TRUE(!has_header(&r, "set-cookie"));
	resp_free(&r);
	/* Unknown logins get the same answer. */
	expect(f, NULL, "POST", "/api/login", "{\"login\":\"root\",\"password\":\"correct horse\"}", NULL,
	       401);
}

static void queue_order(struct fx *f, struct agent *sam)
{
	struct resp r;
	request(f, sam, "GET", "/api/tickets", NULL, NULL, &r);
	C_INT(r.status, 200);
	json_t *list = json_object_get(r.json, "tickets");
	C_INT(json_array_size(list), 3);
	/* Due first; on the same due time the more urgent first. */
	C_INT(jint(json_array_get(list, 0), "id"), f->t_urgent);
	C_INT(jint(json_array_get(list, 1), "id"), f->t_normal);
	C_INT(jint(json_array_get(list, 2), "id"), f->t_low);
	json_t *t = json_array_get(list, 0);
	static const char *const fields[] = {"id",     "status", "priority", "reason",   "platform",
	                                     "author", "due",    "created",  "assignee", "last_message"};
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		C_TRUE(json_object_get(t, fields[i]) != NULL);
	C_STR(jstr(t, "status"), "waiting");
	C_STR(jstr(t, "priority"), "urgent");
	C_STR(jstr(t, "reason"), "rule");
	C_STR(jstr(t, "author"), "Una");
	C_STR(jstr(t, "last_message"), "I want a refund now");
	C_TRUE(json_is_null(json_object_get(t, "assignee")));
	C_TRUE(jint(r.json, "seq") >= 0);
	C_INT(strlen(jstr(r.json, "epoch")), 16);
	resp_free(&r);

	request(f, sam, "GET", "/api/tickets?status=resolved", NULL, NULL, &r);
	C_INT(json_array_size(json_object_get(r.json, "tickets")), 0);
	resp_free(&r);
	expect(f, sam, "GET", "/api/tickets?status=bogus", NULL, NULL, 400);
	expect(f, sam, "GET", "/api/tickets/999999", NULL, NULL, 404);
	expect(f, sam, "GET", "/api/tickets/abc", NULL, NULL, 404);
	expect(f, sam, "POST", "/api/tickets", "{}", NULL, 405);
}

static void csrf_required(struct fx *f, struct agent *sam)
{
	char path[64];
	snprintf(path, sizeof(path), "/api/tickets/%lld/claim", (long long)f->t_urgent);
	expect(f, sam, "POST", path, "{}", "no-csrf", 403);
	expect(f, sam, "POST", path, "{}", "X-CSRF-Token: 0000", 403);
	/* Right token, foreign page. */
	expect(f, sam, "POST", path, "{}", "Origin: http://evil.example", 403);
	expect(f, sam, "POST", "/api/logout", "{}", "no-csrf", 403);
	/* Nothing changed. */
	struct resp r;
	snprintf(path, sizeof(path), "/api/tickets/%lld", (long long)f->t_urgent);
	request(f, sam, "GET", path, NULL, NULL, &r);
	C_STR(jstr(r.json, "status"), "waiting");
	resp_free(&r);
}

/* POST an action; returns the ticket JSON answered (caller decrefs). */
static json_t *act(struct fx *f, struct agent *a, int64_t id, const char *action, const char *body,
                   long status)
{
	char path[96];
	struct resp r;
	snprintf(path, sizeof(path), "/api/tickets/%lld/%s", (long long)id, action);
	request(f, a, "POST", path, body, NULL, &r);
	if (r.status != status)
		fprintf(stderr, "%s -> %ld %s\n", path, r.status, r.body.p);
	C_INT(r.status, status);
	json_t *j = json_incref(r.json);
	resp_free(&r);
	return j;
}

static void expect_event(int fd, json_int_t seq, int64_t id, const char *status)
{
	json_t *e = ws_json(fd);
	C_STR(jstr(e, "type"), "ticket");
	C_INT(jint(e, "seq"), seq);
	json_t *t = json_object_get(e, "ticket");
	C_INT(jint(t, "id"), id);
	if (status)
		C_STR(jstr(t, "status"), status);
	json_decref(e);
}

static void client(struct fx *f)
{
	struct agent sam = {0}, kim = {0};
	char path[160], epoch[32];
	int status;
	json_t *t, *j;

	unauthenticated(f);
	bad_logins(f);
	login(f, &sam, "sam");
	login(f, &kim, "kim");
	C_TRUE(strcmp(sam.csrf, kim.csrf) != 0);

	struct resp r;
	request(f, &sam, "GET", "/api/me", NULL, NULL, &r);
	C_INT(r.status, 200);
	C_STR(jstr(r.json, "csrf"), sam.csrf);
	C_STR(jstr(json_object_get(r.json, "agent"), "name"), "Sam");
	snprintf(epoch, sizeof(epoch), "%s", jstr(r.json, "epoch"));
	json_int_t seq0 = jint(r.json, "seq");
	resp_free(&r);

	queue_order(f, &sam);

	/* The live socket needs the session and the CSRF token. */
	int fd = ws_connect(f, "/api/live", NULL, &status);
	C_INT(status, 401);
	close(fd);
	fd = ws_connect(f, "/api/live", sam.cookie, &status);
	C_INT(status, 403);
	close(fd);
	snprintf(path, sizeof(path), "/api/live?csrf=%s", kim.csrf);
	fd = ws_connect(f, path, sam.cookie, &status);
	C_INT(status, 403);
	close(fd);
	snprintf(path, sizeof(path), "/api/live?csrf=%s", sam.csrf);
	int live = ws_connect(f, path, sam.cookie, &status);
	C_INT(status, 101);
	j = ws_json(live);
	C_STR(jstr(j, "type"), "hello");
	C_STR(jstr(j, "epoch"), epoch);
	C_INT(jint(j, "seq"), seq0);
	json_decref(j);
	ws_send_text(live, "{\"type\":\"ping\"}");
	j = ws_json(live);
	C_STR(jstr(j, "type"), "pong");
	json_decref(j);

	csrf_required(f, &sam);

	/* Claim: one event. */
	int commits = f->commits;
	t = act(f, &sam, f->t_urgent, "claim", "{}", 200);
	C_STR(jstr(t, "status"), "claimed");
	C_STR(jstr(t, "assignee"), "sam");
	json_decref(t);
	C_TRUE(f->commits > commits);
	expect_event(live, seq0 + 1, f->t_urgent, "claimed");

	/* Kim cannot grab it unawares, but may take it over; Sam reassigns it back. */
	j = act(f, &kim, f->t_urgent, "claim", "{}", 409);
	C_TRUE(strstr(jstr(j, "error"), "sam") != NULL);
	json_decref(j);
	t = act(f, &kim, f->t_urgent, "claim", "{\"take_over\":true}", 200);
	C_STR(jstr(t, "assignee"), "kim");
	json_decref(t);
	expect_event(live, seq0 + 2, f->t_urgent, "claimed");
	json_decref(act(f, &sam, f->t_urgent, "assign", "{\"login\":\"nobody\"}", 400));
	t = act(f, &sam, f->t_urgent, "assign", "{\"login\":\"sam\"}", 200);
	C_STR(jstr(t, "assignee"), "sam");
	json_decref(t);
	expect_event(live, seq0 + 3, f->t_urgent, "claimed");

	/* Kim cannot write into Sam's conversation unawares either. */
	j = act(f, &kim, f->t_urgent, "reply", "{\"text\":\"hi\"}", 409);
	C_TRUE(strstr(jstr(j, "error"), "sam") != NULL);
	json_decref(j);

	/* Reply: signed with the agent's name, stored for delivery. */
	json_decref(act(f, &sam, f->t_urgent, "reply", "{\"text\":\"   \"}", 400));
	json_decref(act(f, &sam, f->t_urgent, "reply", "[1]", 400));
	t = act(f, &sam, f->t_urgent, "reply", "{\"text\":\"We are refunding you today.\"}", 200);
	C_INT(jint(t, "sending"), 1);
	C_TRUE(!json_is_null(json_object_get(t, "first_response")));
	json_decref(t);
	expect_event(live, seq0 + 4, f->t_urgent, "claimed");
	snprintf(path, sizeof(path), "/api/tickets/%lld", (long long)f->t_urgent);
	request(f, &sam, "GET", path, NULL, NULL, &r);
	C_INT(r.status, 200);
	json_t *msgs = json_object_get(r.json, "messages");
	C_INT(json_array_size(msgs), 2);
	json_t *m0 = json_array_get(msgs, 0), *m1 = json_array_get(msgs, 1);
	C_STR(jstr(m0, "from"), "customer");
	C_STR(jstr(m0, "text"), "I want a refund now");
	C_STR(jstr(m1, "from"), "agent");
	C_STR(jstr(m1, "agent"), "Sam");
	C_STR(jstr(m1, "text"), "We are refunding you today.\n\xE2\x80\x94 Sam");
	C_STR(jstr(m1, "state"), "pending");
	C_TRUE(json_is_true(json_object_get(r.json, "reply_signed"))); /* Mastodon: signed */
	C_TRUE(json_array_size(json_object_get(r.json, "events")) >= 4);
	resp_free(&r);
	/* A reply already signed is not signed twice. */
	t = act(f, &sam, f->t_urgent, "reply", "{\"text\":\"One more thing.\\n\xE2\x80\x94 Sam\"}", 200);
	json_decref(t);
	expect_event(live, seq0 + 5, f->t_urgent, NULL);
	request(f, &sam, "GET", path, NULL, NULL, &r);
	msgs = json_object_get(r.json, "messages");
	C_STR(jstr(json_array_get(msgs, 2), "text"), "One more thing.\n\xE2\x80\x94 Sam");
	resp_free(&r);

	/* Release and resolve, each once. */
	t = act(f, &sam, f->t_urgent, "release", NULL, 200);
	C_STR(jstr(t, "status"), "waiting");
	C_TRUE(json_is_null(json_object_get(t, "assignee")));
	json_decref(t);
	expect_event(live, seq0 + 6, f->t_urgent, "waiting");
	json_decref(act(f, &sam, f->t_urgent, "release", NULL, 409));
	t = act(f, &sam, f->t_urgent, "resolve", NULL, 200);
	C_STR(jstr(t, "status"), "resolved");
	json_decref(t);
	expect_event(live, seq0 + 7, f->t_urgent, "resolved");
	json_decref(act(f, &sam, f->t_urgent, "resolve", NULL, 409));
	json_decref(act(f, &sam, f->t_urgent, "reply", "{\"text\":\"late\"}", 409));
	json_decref(act(f, &sam, f->t_urgent, "explode", "{}", 404));
	char err[256];
	struct store_conf oc = {.path = f->db};
	struct store *other = store_open(&oc, err, sizeof(err));
	C_TRUE(other != NULL);

	/* The customer writes again after the resolution and the bot answers:
	 * that belongs to the next conversation, not to the resolved ticket's
	 * preview (the one read model the queue command line uses too). */
	struct post later = {.platform = "webchat",
	                     .connector = "webchat",
	                     .post_id = "v-urgent/later",
	                     .thread_key = "v-urgent",
	                     .author_id = "Una",
	                     .text = "thanks, all sorted",
	                     .created = time(NULL)};
	struct decision ack;
	struct store_lookup lk;
	struct ss_rec lr = {0};
	decision_init(&ack);
	ack.action = ACTION_ACK;
	C_INT(ss_lookup(other, "webchat", later.post_id, later.thread_key, &lk), 0);
	struct store_record lrec = {.post = &later,
	                            .decision = &ack,
	                            .decision_json = "{}",
	                            .now = time(NULL) + 1,
	                            .thread = &lk.thread};
	C_INT(ss_record(other, &lrec, &lr), 0);
	C_INT(store_commit_sync(other), 0);
	ss_rec_free(&lr);
	request(f, &sam, "GET", "/api/tickets?status=resolved", NULL, NULL, &r);
	C_INT(json_array_size(json_object_get(r.json, "tickets")), 1);
	json_t *rt = json_array_get(json_object_get(r.json, "tickets"), 0);
	C_STR(jstr(rt, "last_message"), "I want a refund now");
	C_STR(jstr(rt, "opening_message"), "I want a refund now");
	resp_free(&r);

	/* Another connection (what `frontdesk queue claim` does) changes a ticket:
	 * the safety-net scan publishes it. */
	C_INT(ss_claim(other, f->t_normal, "kim", time(NULL)), 0);
	C_INT(store_commit_sync(other), 0);
	store_close(other);
	expect_event(live, seq0 + 8, f->t_normal, "claimed");
	close(live);

	/* Resume: a client that saw seq0 + 2 gets exactly what followed. */
	snprintf(path, sizeof(path), "/api/live?csrf=%s&since=%lld&epoch=%s", sam.csrf, (long long)(seq0 + 2),
	         epoch);
	fd = ws_connect(f, path, sam.cookie, &status);
	C_INT(status, 101);
	j = ws_json(fd);
	C_STR(jstr(j, "type"), "hello");
	C_INT(jint(j, "seq"), seq0 + 8);
	json_decref(j);
	for (json_int_t s = seq0 + 3; s <= seq0 + 8; s++) {
		j = ws_json(fd);
		C_INT(jint(j, "seq"), s);
		json_decref(j);
	}
	close(fd);
	/* From another run of the daemon, or from the future: start over. */
	snprintf(path, sizeof(path), "/api/live?csrf=%s&since=3&epoch=0123456789abcdef", sam.csrf);
	fd = ws_connect(f, path, sam.cookie, &status);
	C_INT(status, 101);
	json_decref(ws_json(fd));
	j = ws_json(fd);
	C_STR(jstr(j, "type"), "reset");
	C_INT(jint(j, "seq"), seq0 + 8);
	json_decref(j);
	close(fd);
	snprintf(path, sizeof(path), "/api/live?csrf=%s&since=99999&epoch=%s", sam.csrf, epoch);
	fd = ws_connect(f, path, sam.cookie, &status);
	json_decref(ws_json(fd));
	j = ws_json(fd);
	C_STR(jstr(j, "type"), "reset");
	json_decref(j);
	close(fd);

	/* The web chat shows who wrote a reply: no signature there. */
	snprintf(path, sizeof(path), "/api/tickets/%lld", (long long)f->t_low);
	request(f, &sam, "GET", path, NULL, NULL, &r);
	C_INT(r.status, 200);
	C_TRUE(json_is_false(json_object_get(r.json, "reply_signed")));
	resp_free(&r);

	/* Canned replies rendered for the ticket and the agent. */
	snprintf(path, sizeof(path), "/api/canned?ticket=%lld", (long long)f->t_low);
	request(f, &sam, "GET", path, NULL, NULL, &r);
	C_INT(r.status, 200);
	json_t *canned = json_object_get(r.json, "replies");
	/* Only canned.*: the bot's own texts (faq.*, ack.*) are not for a
	 * person to send.  {{author}} is left empty: a web chat customer's
	 * author is a pseudonym, and the person sees who they write to. */
	C_INT(json_array_size(canned), 1);
	C_STR(jstr(json_array_get(canned, 0), "key"), "canned.thanks_waiting");
	C_STR(jstr(json_array_get(canned, 0), "title"), "Thanks waiting");
	C_STR(jstr(json_array_get(canned, 0), "text"), "Thanks for waiting! Sam here.");
	resp_free(&r);

	/* Stats: what the store holds. */
	request(f, &sam, "GET", "/api/stats", NULL, NULL, &r);
	C_INT(r.status, 200);
	C_INT(jint(r.json, "waiting"), 1);
	C_INT(jint(r.json, "claimed"), 1);
	C_INT(jint(r.json, "resolved"), 1);
	C_TRUE(json_is_integer(json_object_get(json_object_get(r.json, "first_response"), "median")));
	C_TRUE(json_is_integer(json_object_get(json_object_get(r.json, "resolution"), "median")));
	resp_free(&r);

	/* Logout ends the session and its live socket. */
	snprintf(path, sizeof(path), "/api/live?csrf=%s", kim.csrf);
	int kim_live = ws_connect(f, path, kim.cookie, &status);
	C_INT(status, 101);
	json_decref(ws_json(kim_live));
	expect(f, &kim, "POST", "/api/logout", "{}", NULL, 200);
	expect(f, &kim, "GET", "/api/me", NULL, NULL, 401);
	struct buf in;
	buf_init(&in, 0);
	C_INT(wsframe_recv(kim_live, &in), 8);
	C_INT(((unsigned char)in.p[0] << 8) | (unsigned char)in.p[1], 4401);
	buf_free(&in);
	close(kim_live);

	/* Failed logins slow down: after AUTH_FREE_FAILURES free ones, 429. */
	for (int i = 0; i <= AUTH_FREE_FAILURES; i++)
		expect(f, NULL, "POST", "/api/login", "{\"login\":\"kim\",\"password\":\"guess\"}", NULL,
		       401);
	request(f, NULL, "POST", "/api/login", "{\"login\":\"kim\",\"password\":\"correct horse\"}", NULL,
	        &r);
	C_INT(r.status, 429);
	C_TRUE(has_header(&r, "retry-after: "));
	resp_free(&r);
	/* Sam's session is unaffected. */
	expect(f, &sam, "GET", "/api/me", NULL, NULL, 200);

	curl_easy_cleanup(sam.e);
	curl_easy_cleanup(kim.e);
}

static void *client_main(void *arg)
{
	struct fx *f = arg;
	if (f->run)
		f->run(f);
	else
		client(f);
	uv_async_send(&f->done);
	return NULL;
}

/* Run the dashboard with `tweak` applied to its configuration and `run` as
 * the client (NULL: the full tour, client()). */
static void run_dashboard(void (*tweak)(struct fx *f), void (*run)(struct fx *f))
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char err[256] = "";
	setup_fx(f);
	f->run = run;
	if (tweak)
		tweak(f);
	f->metrics = metrics_new();
	struct loop_hooks hooks = {.arg = f, .on_teardown = teardown_hook, .metrics = f->metrics};
	assert_int_equal(loop_init(&f->L, &hooks), 0);
	f->srv = server_new(&f->L);
	struct dashboard_env env = {
	    .loop = &f->L,
	    .server = f->srv,
	    .store = f->st,
	    .cfg = &f->cfg,
	    .replies = f->replies,
	    .metrics = f->metrics,
	    .commit = commit,
	    .arg = f,
	};
	f->dash = dashboard_start(&env, err, sizeof(err));
	if (!f->dash)
		fail_msg("dashboard_start: %s", err);
	f->port = dashboard_port(f->dash);
	assert_true(f->port > 0);
	uv_async_init(&f->L.uv, &f->done, on_done);
	f->done.data = f;
	uv_check_init(&f->L.uv, &f->group);
	f->group.data = f;
	uv_check_start(&f->group, group_commit);

	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client_main, f), 0);
	assert_int_equal(loop_run(&f->L), 0);
	pthread_join(th, NULL);
	server_free(f->srv);
	loop_free(&f->L);
	free_fx(f);
	free(f);
}

static void dashboard_end_to_end(void **state)
{
	(void)state;
	run_dashboard(NULL, NULL);
}

/* /metrics with a token: only with it; without one, this machine only.
 * The proxy (trusted here) names the clients. */
static char *trusted_local[] = {"127.0.0.1", NULL};

static void metrics_open_setup(struct fx *f)
{
	f->cfg.dashboard_proxies.trusted = trusted_local;
}

static void metrics_open_client(struct fx *f)
{
	expect(f, NULL, "GET", "/metrics", NULL, NULL, 200);
	expect(f, NULL, "GET", "/metrics", NULL, "X-Forwarded-For: 203.0.113.5", 403);
	expect(f, NULL, "GET", "/metrics", NULL, "X-Forwarded-For: ::1", 200);
}

static void metrics_token_setup(struct fx *f)
{
	f->cfg.dashboard_proxies.trusted = trusted_local;
	f->cfg.metrics_token.env = "FD_TEST_METRICS_TOKEN";
	setenv("FD_TEST_METRICS_TOKEN", "s3cret-metrics-token", 1);
}

static void metrics_token_client(struct fx *f)
{
	struct resp r;
	request(f, NULL, "GET", "/metrics", NULL, "X-Forwarded-For: 203.0.113.5", &r);
	C_INT(r.status, 401);
	C_TRUE(strcasestr(r.headers.p, "www-authenticate: Bearer") != NULL);
	C_TRUE(strstr(r.body.p, "frontdesk_") == NULL);
	resp_free(&r);
	expect(f, NULL, "GET", "/metrics", NULL, NULL, 401); /* this machine too, once a token is set */
	expect(f, NULL, "GET", "/metrics", NULL, "Authorization: Bearer s3cret-metrics-tokeN", 401);
	expect(f, NULL, "GET", "/metrics", NULL, "Authorization: Basic czNjcmV0", 401);
	request(f, NULL, "GET", "/metrics", NULL, "Authorization: Bearer s3cret-metrics-token", &r);
	C_INT(r.status, 200);
	C_TRUE(strstr(r.body.p, "frontdesk_dashboard_live_clients") != NULL);
	resp_free(&r);
}

static void metrics_access(void **state)
{
	(void)state;
	run_dashboard(metrics_open_setup, metrics_open_client);
	run_dashboard(metrics_token_setup, metrics_token_client);
	unsetenv("FD_TEST_METRICS_TOKEN");
}

/* A second listener on a busy address is refused with a clear reason. */
static void dashboard_port_in_use(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char err[256] = "";
	setup_fx(f);
	struct loop_hooks hooks = {.arg = f};
	assert_int_equal(loop_init(&f->L, &hooks), 0);
	f->srv = server_new(&f->L);
	struct dashboard_env env = {
	    .loop = &f->L, .server = f->srv, .store = f->st, .cfg = &f->cfg, .commit = commit, .arg = f};
	struct dashboard *d1 = dashboard_start(&env, err, sizeof(err));
	assert_non_null(d1);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", dashboard_port(d1));
	f->cfg.dashboard_listen = addr;
	assert_null(dashboard_start(&env, err, sizeof(err)));
	assert_non_null(strstr(err, addr));
	f->dash = d1;
	loop_stop(&f->L);
	dashboard_stop(d1);
	assert_int_equal(loop_run(&f->L), 0);
	server_free(f->srv);
	loop_free(&f->L);
	free_fx(f);
	free(f);
}

static void sign_reply(void **state)
{
	static const struct {
		const char *in, *name, *out;
	} cases[] = {
	    {"On its way.", "Sam", "On its way.\n\xE2\x80\x94 Sam"},
	    {"On its way.  \n\n", "Sam", "On its way.\n\xE2\x80\x94 Sam"},
	    {"Done.\n\xE2\x80\x94 Sam", "Sam", "Done.\n\xE2\x80\x94 Sam"},
	    {"Done.\n\xE2\x80\x94 Sam\n", "Sam", "Done.\n\xE2\x80\x94 Sam"},
	    {"Done.\n\xE2\x80\x94 Kim", "Sam", "Done.\n\xE2\x80\x94 Kim\n\xE2\x80\x94 Sam"},
	    {"line one\nline two", "Zo\xC3\xAB", "line one\nline two\n\xE2\x80\x94 Zo\xC3\xAB"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *got = dashboard_sign_reply(cases[i].in, cases[i].name);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

/* A reply is signed only where the platform cannot show who wrote it, and
 * cut to the platform's length. */
static void reply_parts(void **state)
{
	struct connector_conf conns[2] = {
	    {.type = "webchat", .name = "webchat", .ops = &webchat_ops},
	    {.type = "mastodon", .name = "social", .ops = &mastodon_ops},
	};
	struct config cfg = {.connectors = conns, .nconnectors = 2};
	char *parts[8];
	(void)state;

	size_t n = dashboard_reply_parts(&cfg, "webchat", "Your cake is ready.  \n", "Sam", parts, 8);
	C_INT(n, 1);
	C_STR(parts[0], "Your cake is ready.");
	free(parts[0]);
	C_INT(dashboard_reply_signed(&cfg, "webchat"), 0);

	n = dashboard_reply_parts(&cfg, "social", "Your cake is ready.", "Sam", parts, 8);
	C_INT(n, 1);
	C_STR(parts[0], "Your cake is ready.\n\xE2\x80\x94 Sam");
	free(parts[0]);
	C_INT(dashboard_reply_signed(&cfg, "social"), 1);

	/* A connector the configuration no longer has: signed, to be safe. */
	C_INT(dashboard_reply_signed(&cfg, "gone"), 1);
	C_INT(dashboard_reply_signed(NULL, "webchat"), 0);

	/* Cut to the web chat's limit. */
	struct buf long_text;
	buf_init(&long_text, 0);
	for (int i = 0; i < 900; i++)
		buf_puts(&long_text, "bread ");
	n = dashboard_reply_parts(&cfg, "webchat", long_text.p, "Sam", parts, 8);
	C_INT(n, 2);
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	buf_free(&long_text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sign_reply),
	    cmocka_unit_test(reply_parts),
	    cmocka_unit_test(dashboard_end_to_end),
	    cmocka_unit_test(metrics_access),
	    cmocka_unit_test(dashboard_port_in_use),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
