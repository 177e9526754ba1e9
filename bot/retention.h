/*
 * retention.h - the periodic prune of what the store no longer keeps
 * (store.retention in the configuration): finished conversations, delivered
 * outbox rows and web chat visitors who never wrote, after their periods.
 *
 * It never holds the loop for long: each run asks the store for one small
 * batch (store_prune), commits it like any other group, and comes back at
 * once while there is more, else every RETENTION_EVERY_MS.  A store that
 * cannot write (full, failing) is left alone until it can.  The periods
 * are read from the running configuration at every run, so a reload
 * applies them.
 *
 * Ownership: retention_start copies the env and borrows what it points to
 * (loop, store, metrics must outlive it).  It owns its uv timer, closed by
 * retention_stop (teardown), and frees itself in retention_free after the
 * loop ended.
 */
#ifndef FD_RETENTION_H
#define FD_RETENTION_H

#include <stddef.h>

struct config;
struct metrics;
struct store;
struct uv_loop_s;

#define RETENTION_FIRST_MS 5000   /* the first run, after start */
#define RETENTION_EVERY_MS 600000 /* then every ten minutes */
#define RETENTION_AGAIN_MS 100    /* the next batch while there is more */
#define RETENTION_BATCH    25     /* conversations a batch (ten times that of rows) */

struct retention_env {
	struct uv_loop_s *loop;
	struct store *store;
	struct metrics *metrics;                   /* may be NULL */
	const struct config *(*config)(void *arg); /* the running configuration */
	int (*commit)(void *arg);                  /* commit the open group */
	void *arg;
};

struct retention;

/* Start the timer.  Never NULL. */
struct retention *retention_start(const struct retention_env *env);
/* Teardown (on the loop): close the timer.  NULL is fine. */
void retention_stop(struct retention *r);
/* After the loop ended.  NULL is fine. */
void retention_free(struct retention *r);

#endif
