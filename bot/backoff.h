/*
 * backoff.h - how long to wait before trying again: exponential backoff
 * with full jitter, the one rule every retry in the daemon follows (the
 * outbox's deliveries, WebSocket reconnects, REST catch-up).
 *
 *   delay = min_ms + uniform[0, min(cap_ms, base_ms * 2^attempt))
 *
 * Full jitter spreads many clients that failed together (a platform
 * outage, a restart) over the whole window instead of letting them return
 * in step; min_ms keeps a floor so a failing peer is never hammered.
 * Attempts are counted from 0; the doubling stops at cap_ms, so any
 * attempt number is safe.
 */
#ifndef FD_BACKOFF_H
#define FD_BACKOFF_H

#include <stdint.h>

/* The delay for `attempt` with the random value rnd (pure, for tests). */
long backoff_delay_ms(int attempt, long min_ms, long base_ms, long cap_ms, uint64_t rnd);

/* The same with rand_u64() (rand.h). */
long backoff_ms(int attempt, long min_ms, long base_ms, long cap_ms);

#endif
