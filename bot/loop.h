/*
 * loop.h - the daemon's one event loop: a libuv loop that also drives
 * libwebsockets (foreign-loop mode: the built-in server and every platform
 * WebSocket client), libcurl's multi interface (struct http, see http.h) and
 * the process signals.  Everything the daemon does runs on this thread; no
 * callback may block.
 *
 * Life cycle:
 *
 *	struct loop L;
 *	loop_init(&L, &hooks)      uv loop, signals, curl multi, lws context
 *	... create listeners (server.h), connectors, uv timers on &L.uv ...
 *	loop_run(&L)               runs until stopped and fully torn down
 *	loop_free(&L)              frees what loop_init allocated
 *
 * Stopping (SIGINT, SIGTERM or loop_stop()) is graceful:
 *   1. hooks.on_stop is called once: the daemon stops intake (connectors stop
 *      reading) and keeps delivering its outbox.
 *   2. Every 10 ms the loop asks hooks.drained(); when it returns 1, or after
 *      the drain deadline (LOOP_DRAIN_MS, 5 s), teardown starts.  A second
 *      SIGINT/SIGTERM (or loop_stop) skips the rest of the drain.
 *   3. hooks.on_teardown is called: the owner of every uv handle and timer it
 *      created on L.uv must uv_close() them now (their close callbacks still
 *      run; uv_run only returns when every handle is closed).  Modules that
 *      own handles of their own (server.c's listening sockets) register a
 *      closer with loop_add_closer(); closers run right after on_teardown.
 *   4. Every HTTP/SMTP request still in flight completes with HTTP_E_CANCELLED
 *      (its callback runs, so owners free their state), curl is cleaned up.
 *   5. The lws context is destroyed in the two steps libwebsockets 4.1 needs
 *      with a foreign loop (every wsi gets its CLOSED / WSI_DESTROY callback,
 *      so server.c frees its connections), and the signal handles close.
 *   6. uv_run returns; loop_run finishes the destruction and returns.
 * After loop_run returns, &L.uv must not be used except by loop_free.
 *
 * SIGHUP calls hooks.on_reload (config reload); SIGPIPE is ignored for the
 * whole process (a peer closing a socket must not kill the daemon).
 *
 * lws timers: lws_sul_schedule()/lws_set_timer_usecs() called from outside
 * an lws callback (a uv timer, a curl completion, a signal) do not arm lws's
 * own timer in foreign-loop mode; use loop_sul_schedule()/loop_wsi_timer(),
 * which schedule and then wake lws.  Inside lws protocol callbacks the plain
 * lws calls are fine.  Application timers should simply be uv timers on L.uv.
 *
 * Platform WebSocket clients: create a client vhost with
 * lws_create_vhost(L.lws, &info) and info.port = CONTEXT_PORT_NO_LISTEN
 * (explicit vhosts are on); protocol callbacks must ignore
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED (lws broadcasts it to every protocol).
 *
 * Ownership: struct loop is the caller's (usually on the stack of the
 * daemon's run function); loop_init fills it, loop_free releases what it
 * allocated.  L.lws and L.http are owned by the loop and are NULL once
 * torn down.
 */
#ifndef FD_LOOP_H
#define FD_LOOP_H

#include <stdint.h>
#include <uv.h>

struct lws_context;
struct lws;
struct lws_sorted_usec_list;
struct http;
struct metrics;
struct metric;

#define LOOP_DRAIN_MS 5000 /* longest graceful drain before teardown */
/* Header space lws gives one HTTP request (its default is 4096).  server.h
 * keeps every request head it hands to lws well below this. */
#define LOOP_HTTP_HEADER_DATA 12288

struct loop;

/*
 * What the daemon plugs into the loop.  Every member may be NULL/0.
 * All callbacks run on the loop thread and receive `arg`.
 */
struct loop_hooks {
	void *arg;
	/* SIGINT/SIGTERM/loop_stop(): stop intake, keep delivering (once). */
	void (*on_stop)(struct loop *l, void *arg);
	/* 1 when nothing is left to deliver; polled every 10 ms while draining.
	 * NULL means "drained" as soon as no HTTP request is in flight. */
	int (*drained)(struct loop *l, void *arg);
	/* Close every uv handle the owner created on l->uv (once). */
	void (*on_teardown)(struct loop *l, void *arg);
	/* SIGHUP: reload configuration. */
	void (*on_reload)(struct loop *l, void *arg);
	/* Drain deadline in ms; 0 = LOOP_DRAIN_MS. */
	unsigned drain_ms;
	/* Registry to count HTTP requests and WebSocket connections in, and
	 * where the loop records how long each iteration ran callbacks
	 * (loop_busy_seconds: a long one delays every connection), or NULL.
	 * It must outlive the loop. */
	struct metrics *metrics;
};

enum loop_state { LOOP_RUNNING = 0, LOOP_DRAINING, LOOP_TEARDOWN, LOOP_DONE };

/* A module's "close your uv handles now" at teardown (loop_add_closer). */
struct loop_closer {
	struct loop_closer *next;
	void (*fn)(void *arg);
	void *arg;
};

struct loop {
	uv_loop_t uv;            /* put your own handles here */
	struct lws_context *lws; /* set to NULL by lws once freed */
	struct http *http;       /* outgoing HTTP/SMTP on this loop (http.h) */
	enum loop_state state;
	/* private below */
	struct loop_hooks hooks;
	uv_signal_t sig_int, sig_term, sig_hup;
	uv_timer_t drain_timer;
	uv_prepare_t busy_prepare; /* log flush and busy-time probe, before every wait */
	uint64_t busy_last_ns, busy_last_idle_ns;
	struct metric *m_busy;
	uint64_t drain_start_ms, drain_deadline_ms;
	int uv_inited;
	struct loop_closer *closers;
};

/*
 * Set up the loop: uv loop, signal handlers, curl multi (l->http) and the lws
 * context in foreign-loop mode with explicit vhosts (create listeners with
 * server.h, client vhosts with lws_create_vhost).  `hooks` is copied.
 * Returns 0, or -1 after logging why (typically: the libwebsockets libuv
 * plugin is missing - package libwebsockets-evlib-uv); on failure everything
 * already created is released again and loop_free is a no-op.
 */
int loop_init(struct loop *l, const struct loop_hooks *hooks);

/*
 * Run until stopped and torn down (see the life cycle above).  Returns 0 on a
 * clean exit, -1 when the loop could not be closed cleanly (a handle was left
 * open: each one is logged with its type).
 */
int loop_run(struct loop *l);

/*
 * Begin the graceful stop, exactly as SIGTERM does.  Safe to call from any
 * loop callback and more than once: a call while already draining ends the
 * drain at once.  Before loop_run it makes loop_run tear down immediately.
 */
void loop_stop(struct loop *l);

/* 1 once a stop has begun (intake should not start anything new). */
int loop_stopping(const struct loop *l);

/*
 * Call fn(arg) at teardown, right after hooks.on_teardown, so a module that
 * created uv handles on l->uv closes them (step 3 above).  `c` is the
 * caller's and must stay valid until loop_run returns.  Closers run in the
 * reverse order of registration.
 */
void loop_add_closer(struct loop *l, struct loop_closer *c, void (*fn)(void *arg), void *arg);

/* Release what loop_init allocated (after loop_run returned, or instead of
 * it when start-up failed after loop_init).  Idempotent. */
void loop_free(struct loop *l);

/*
 * Schedule an lws sorted-usec-list timer `us` microseconds from now and wake
 * lws so that it arms its timer even when called from outside lws callbacks.
 * `sul` must stay valid until it fires, is cancelled with loop_sul_cancel(),
 * or the loop has torn down (pending timers are then dropped unfired).
 */
void loop_sul_schedule(struct loop *l, struct lws_sorted_usec_list *sul,
                       void (*cb)(struct lws_sorted_usec_list *sul), int64_t us);
void loop_sul_cancel(struct loop *l, struct lws_sorted_usec_list *sul);

/* lws_set_timer_usecs(wsi, us) (LWS_CALLBACK_TIMER on that wsi) plus the wake
 * up; us < 0 cancels. */
void loop_wsi_timer(struct loop *l, struct lws *wsi, int64_t us);

/* Wake lws from outside its callbacks (lws_cancel_service). */
void loop_wake(struct loop *l);

#endif
