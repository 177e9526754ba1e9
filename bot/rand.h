/*
 * rand.h - the daemon's one source of randomness.
 *
 *   rand_bytes   unpredictable bytes from the kernel (getrandom): session
 *                tokens, visitor tokens, anything a stranger must not guess.
 *   rand_u64     fast, not secret: spreading retries (backoff jitter),
 *                picking among equals.  A xorshift64* generator seeded once
 *                from rand_bytes, so two processes started together do not
 *                retry in step.
 *
 * Errors: rand_bytes returns -1 only when the kernel gives no randomness
 * (logged by the caller); rand_u64 cannot fail.  Single-threaded, like the
 * rest of the daemon (the loop thread).
 */
#ifndef FD_RAND_H
#define FD_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fill buf with n unpredictable bytes.  0, or -1 (errno set). */
int rand_bytes(void *buf, size_t n);

/* The next value of the jitter generator. */
uint64_t rand_u64(void);

#endif
