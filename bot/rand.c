/*
 * rand.c - the daemon's one source of randomness (see rand.h).
 */
#include "rand.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

int rand_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t k = getrandom(p + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

static uint64_t state;

uint64_t rand_u64(void)
{
	if (!state) {
		if (rand_bytes(&state, sizeof(state)) < 0 || !state) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			state = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ 0x9E3779B97F4A7C15ull;
		}
		state |= 1;
	}
	/* xorshift64* */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545F4914F6CDD1Dull;
}
