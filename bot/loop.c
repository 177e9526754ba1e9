/*
 * loop.c - one libuv loop driving libwebsockets (foreign loop), curl multi
 * (http.c) and the signals, with the creation and two-step teardown order
 * libwebsockets 4.1 needs (see loop.h for the life cycle).
 */
#include "loop.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "util.h"

#define DRAIN_TICK_MS 10

/*
 * lws log lines arrive as "[2026/11/22 13:55:00:1234] W: text\n"; keep the
 * text and hand it to our logfmt logger.  lws warnings are per-connection
 * events our own modules already report in context ("User code denied
 * connection" for every refused upgrade), so they go to debug.
 */
static void lws_log_emit(int level, const char *line)
{
	const char *p = strstr(line, "] ");
	p = p ? p + 2 : line;
	if (p[0] && p[1] == ':' && p[2] == ' ')
		p += 3;
	size_t n = strlen(p);
	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	char *text = xstrndup(p, n > 400 ? 400 : n);
	struct buf q;
	buf_init(&q, 0);
	log_quote(&q, text);
	if (level & LLL_ERR)
		log_error("libwebsockets", "detail=%s", q.p);
	else
		log_debug("libwebsockets", "detail=%s", q.p);
	buf_free(&q);
	free(text);
}

static void begin_teardown(struct loop *l);

/*
 * Busy time of one iteration: the wall time since the previous prepare
 * minus the time libuv spent waiting in the poll (UV_METRICS_IDLE_TIME).
 * This counts every callback of the iteration whatever order the other
 * prepare/check handles run in.
 */
/* Before every wait: the iteration's log lines out (log_batch), and the
 * time it spent running callbacks into loop_busy_seconds. */
static void busy_probe(uv_prepare_t *p)
{
	struct loop *l = p->data;
	log_flush();
	if (!l->m_busy)
		return;
	uint64_t now = time_mono_ns(), idle = uv_metrics_idle_time(&l->uv);
	if (l->busy_last_ns) {
		uint64_t wall = now - l->busy_last_ns, waited = idle - l->busy_last_idle_ns;
		metric_observe(l->m_busy, (double)(wall > waited ? wall - waited : 0) / 1e9);
	}
	l->busy_last_ns = now;
	l->busy_last_idle_ns = idle;
}

static void drain_tick(uv_timer_t *t)
{
	struct loop *l = t->data;
	int done;

	if (l->hooks.drained)
		done = l->hooks.drained(l, l->hooks.arg);
	else
		done = !l->http || http_inflight(l->http) == 0;
	if (done) {
		log_info("drained", "waited_ms=%llu",
		         (unsigned long long)(time_mono_ms() - l->drain_start_ms));
		begin_teardown(l);
	} else if (time_mono_ms() >= l->drain_deadline_ms) {
		log_warn("drain deadline passed, stopping anyway", "inflight_http=%u",
		         l->http ? http_inflight(l->http) : 0);
		begin_teardown(l);
	}
}

void loop_stop(struct loop *l)
{
	if (l->state == LOOP_RUNNING) {
		unsigned ms = l->hooks.drain_ms ? l->hooks.drain_ms : LOOP_DRAIN_MS;
		l->state = LOOP_DRAINING;
		l->drain_start_ms = time_mono_ms();
		l->drain_deadline_ms = l->drain_start_ms + ms;
		log_info("stopping", "drain_ms=%u", ms);
		if (l->hooks.on_stop)
			l->hooks.on_stop(l, l->hooks.arg);
		/* The check runs from the timer, never from here: loop_stop may be
		 * called inside an lws callback, where destroying the context
		 * would pull the wsi out from under lws. */
		uv_timer_start(&l->drain_timer, drain_tick, 0, DRAIN_TICK_MS);
	} else if (l->state == LOOP_DRAINING) {
		log_info("stop requested again", "drain=skipped");
		l->drain_deadline_ms = 0;
		uv_timer_start(&l->drain_timer, drain_tick, 0, DRAIN_TICK_MS);
	}
}

int loop_stopping(const struct loop *l)
{
	return l->state != LOOP_RUNNING;
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
	struct loop *l = s->data;
	log_info("signal", "signal=%s", signum == SIGINT ? "INT" : "TERM");
	loop_stop(l);
}

static void on_hup(uv_signal_t *s, int signum)
{
	struct loop *l = s->data;
	log_info("signal", "signal=%s", "HUP");
	if (l->state == LOOP_RUNNING && l->hooks.on_reload)
		l->hooks.on_reload(l, l->hooks.arg);
}

/*
 * Teardown steps 3-5 of loop.h.  Runs from the drain timer only.  The order
 * matters: curl's handles and our own close first, then lws starts closing
 * every wsi and its own uv handles (first lws_context_destroy); uv_run then
 * returns once all of those close callbacks have run and loop_run makes the
 * second destroy call.
 */
static void begin_teardown(struct loop *l)
{
	if (l->state == LOOP_TEARDOWN || l->state == LOOP_DONE)
		return;
	l->state = LOOP_TEARDOWN;
	uv_timer_stop(&l->drain_timer);
	uv_close((uv_handle_t *)&l->drain_timer, NULL);
	if (l->hooks.on_teardown)
		l->hooks.on_teardown(l, l->hooks.arg);
	for (struct loop_closer *c = l->closers; c; c = c->next)
		c->fn(c->arg);
	if (l->http) {
		http_cancel_all(l->http);
		http_free(l->http);
		l->http = NULL;
	}
	if (l->lws)
		lws_context_destroy(l->lws);
	uv_close((uv_handle_t *)&l->sig_int, NULL);
	uv_close((uv_handle_t *)&l->sig_term, NULL);
	uv_close((uv_handle_t *)&l->sig_hup, NULL);
	uv_close((uv_handle_t *)&l->busy_prepare, NULL);
}

static void close_leftover(uv_handle_t *h, void *arg)
{
	int *n = arg;
	log_error("event loop handle left open at exit", "type=%s active=%d closing=%d",
	          uv_handle_type_name(uv_handle_get_type(h)), uv_is_active(h), uv_is_closing(h));
	(*n)++;
}

int loop_init(struct loop *l, const struct loop_hooks *hooks)
{
	memset(l, 0, sizeof(*l));
	if (hooks)
		l->hooks = *hooks;
	signal(SIGPIPE, SIG_IGN);

	int rc = uv_loop_init(&l->uv);
	if (rc != 0) {
		log_error("cannot create the event loop", "error=\"%s\"", uv_strerror(rc));
		return -1;
	}
	l->uv_inited = 1;
	l->uv.data = l;
	uv_signal_t *sigs[] = {&l->sig_int, &l->sig_term, &l->sig_hup};
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++) {
		uv_signal_init(&l->uv, sigs[i]);
		sigs[i]->data = l;
	}
	uv_signal_start(&l->sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&l->sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&l->sig_hup, on_hup, SIGHUP);
	uv_timer_init(&l->uv, &l->drain_timer);
	l->drain_timer.data = l;
	if (l->hooks.metrics) {
		static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
		                                0.01,   0.025,   0.05,   0.1,   0.25,   1};
		l->m_busy = metrics_histogram(l->hooks.metrics, "loop_busy_seconds",
		                              "Time each event-loop iteration spent running callbacks.",
		                              bounds, ARRAY_LEN(bounds));
	}
	if (l->m_busy && uv_loop_configure(&l->uv, UV_METRICS_IDLE_TIME) != 0)
		l->m_busy = NULL;
	uv_prepare_init(&l->uv, &l->busy_prepare);
	l->busy_prepare.data = l;
	uv_prepare_start(&l->busy_prepare, busy_probe);
	/* The probe must not keep the loop alive on its own. */
	uv_unref((uv_handle_t *)&l->busy_prepare);

	l->http = http_new(l);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	void *foreign[1] = {&l->uv};
	/* DO_SSL_GLOBAL_INIT: client vhosts (wss:// to platforms) need lws's
	 * OpenSSL set-up done once at context level. */
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	               LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = foreign;
	info.pcontext = &l->lws;
	info.max_http_header_data = LOOP_HTTP_HEADER_DATA;
	info.user = l;
	l->lws = lws_create_context(&info);
	if (!l->lws) {
		log_error(
		    "cannot create the libwebsockets context",
		    "hint=\"is the libwebsockets libuv plugin installed? (package libwebsockets-evlib-uv)\"");
		/* Unwind through the normal teardown so every handle closes. */
		l->state = LOOP_RUNNING;
		begin_teardown(l);
		uv_run(&l->uv, UV_RUN_DEFAULT);
		uv_loop_close(&l->uv);
		l->uv_inited = 0;
		l->state = LOOP_DONE;
		return -1;
	}
	l->state = LOOP_RUNNING;
	return 0;
}

int loop_run(struct loop *l)
{
	if (l->state == LOOP_DONE)
		return -1;
	l->busy_last_ns = time_mono_ns(); /* up to the first poll counts as busy */
	l->busy_last_idle_ns = l->m_busy ? uv_metrics_idle_time(&l->uv) : 0;
	while (l->state != LOOP_TEARDOWN) {
		/* uv_run only returns early when nothing keeps the loop alive
		 * (the signal handles normally do): tear down anyway. */
		uv_run(&l->uv, UV_RUN_DEFAULT);
		if (l->state != LOOP_TEARDOWN)
			begin_teardown(l);
	}
	uv_run(&l->uv, UV_RUN_DEFAULT);
	/* Second destroy: frees the context now that its handles are closed;
	 * lws clears l->lws through pcontext. */
	if (l->lws)
		lws_context_destroy(l->lws);
	l->state = LOOP_DONE;
	int rc = uv_loop_close(&l->uv);
	if (rc == UV_EBUSY) {
		int n = 0;
		uv_walk(&l->uv, close_leftover, &n);
		return -1;
	}
	l->uv_inited = 0;
	log_info("stopped", "clean=%d", 1);
	return 0;
}

void loop_add_closer(struct loop *l, struct loop_closer *c, void (*fn)(void *arg), void *arg)
{
	c->fn = fn;
	c->arg = arg;
	c->next = l->closers;
	l->closers = c;
}

void loop_free(struct loop *l)
{
	/* loop_run closed everything; a loop that never ran still needs it. */
	if (l->state == LOOP_RUNNING || l->state == LOOP_DRAINING) {
		begin_teardown(l);
		uv_run(&l->uv, UV_RUN_DEFAULT);
		if (l->lws)
			lws_context_destroy(l->lws);
		l->state = LOOP_DONE;
	}
	if (l->uv_inited && uv_loop_close(&l->uv) == 0)
		l->uv_inited = 0;
}

void loop_sul_schedule(struct loop *l, struct lws_sorted_usec_list *sul,
                       void (*cb)(struct lws_sorted_usec_list *sul), int64_t us)
{
	if (!l->lws)
		return;
	lws_sul_schedule(l->lws, 0, sul, cb, us);
	lws_cancel_service(l->lws);
}

void loop_sul_cancel(struct loop *l, struct lws_sorted_usec_list *sul)
{
	/* Once the context is gone so is the list the timer was on. */
	if (!l->lws)
		return;
	lws_sul_cancel(sul);
	lws_cancel_service(l->lws);
}

void loop_wsi_timer(struct loop *l, struct lws *wsi, int64_t us)
{
	lws_set_timer_usecs(wsi, us < 0 ? LWS_SET_TIMER_USEC_CANCEL : us);
	if (l->lws)
		lws_cancel_service(l->lws);
}

void loop_wake(struct loop *l)
{
	if (l->lws)
		lws_cancel_service(l->lws);
}
