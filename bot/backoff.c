/*
 * backoff.c - exponential backoff with full jitter (see backoff.h).
 */
#include "backoff.h"

#include "rand.h"

long backoff_delay_ms(int attempt, long min_ms, long base_ms, long cap_ms, uint64_t rnd)
{
	long window = base_ms > 0 ? base_ms : 1;
	if (min_ms < 0)
		min_ms = 0;
	if (cap_ms < 1)
		cap_ms = 1;
	for (int i = 0; i < attempt && window < cap_ms; i++)
		window *= 2;
	if (window > cap_ms)
		window = cap_ms;
	return min_ms + (long)(rnd % (uint64_t)(window > 0 ? window : 1));
}

long backoff_ms(int attempt, long min_ms, long base_ms, long cap_ms)
{
	return backoff_delay_ms(attempt, min_ms, base_ms, cap_ms, rand_u64());
}
