/*
 * test_matcher.c - the Aho-Corasick automaton against a brute-force search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "matcher.h"
#include "util.h"

struct hit {
	uint32_t id;
	size_t end;
};

struct hits {
	struct hit *v;
	size_t n, cap;
	size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, uint32_t id, size_t end)
{
	struct hits *h = ctx;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n].id = id;
	h->v[h->n].end = end;
	h->n++;
	return h->stop_after && h->n >= h->stop_after;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void test_classic(void **state)
{
	(void)state;
	struct acm *a = acm_new();
	const char *pats[] = {"he", "she", "his", "hers"};
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(acm_add(a, pats[i], strlen(pats[i]), i), 0);
	acm_build(a);
	assert_int_equal(acm_patterns(a), 4);

	struct hits h = {0};
	acm_scan(a, "ushers", 6, collect, &h);
	qsort(h.v, h.n, sizeof(*h.v), hit_cmp);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.v[0].id, 0); /* "he" ends at 4 */
	assert_int_equal(h.v[0].end, 4);
	assert_int_equal(h.v[1].id, 1); /* "she" ends at 4 */
	assert_int_equal(h.v[1].end, 4);
	assert_int_equal(h.v[2].id, 3); /* "hers" ends at 6 */
	assert_int_equal(h.v[2].end, 6);
	free(h.v);
	acm_free(a);
}

static void test_edge_cases(void **state)
{
	(void)state;
	struct acm *a = acm_new();
	struct hits h = {0};

	assert_int_equal(acm_add(a, "", 0, 1), -1);
	acm_scan(a, "abc", 3, collect, &h); /* not built: nothing */
	assert_int_equal(h.n, 0);

	assert_int_equal(acm_add(a, " refund ", 8, 7), 0);
	assert_int_equal(acm_add(a, " refund ", 8, 9), 0); /* same pattern, second id */
	assert_int_equal(acm_add(a, "a\0b", 3, 5), 0);     /* bytes, NUL included */
	acm_build(a);
	assert_int_equal(acm_add(a, "late", 4, 2), -1); /* frozen */
	assert_int_equal(acm_patterns(a), 3);

	acm_scan(a, " i want a refund now ", 21, collect, &h);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.v[0].id, 7);
	assert_int_equal(h.v[1].id, 9);
	assert_int_equal(h.v[0].end, 17);

	h.n = 0;
	acm_scan(a, "xa\0b", 4, collect, &h);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.v[0].id, 5);

	/* A callback returning nonzero stops the scan. */
	h.n = 0;
	h.stop_after = 1;
	acm_scan(a, " refund refund ", 15, collect, &h);
	assert_int_equal(h.n, 1);

	h.n = 0;
	h.stop_after = 0;
	acm_scan(a, NULL, 0, collect, &h);
	assert_int_equal(h.n, 0);
	free(h.v);
	acm_free(a);

	/* No patterns at all. */
	a = acm_new();
	acm_build(a);
	acm_scan(a, "anything", 8, collect, &h);
	assert_int_equal(h.n, 0);
	assert_int_equal(acm_states(a), 1);
	acm_free(a);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Random patterns and texts over an alphabet of `alpha` bytes; every hit
 * the automaton reports must be exactly the brute-force set. */
static void brute_round(int alpha, int npat, int maxlen, int ntexts)
{
	struct acm *a = acm_new();
	char **pats = xcalloc((size_t)npat, sizeof(*pats));
	size_t *lens = xcalloc((size_t)npat, sizeof(*lens));
	const unsigned char base = alpha <= 26 ? 'a' : 0;

	for (int i = 0; i < npat; i++) {
		size_t len = 1 + rnd((uint32_t)maxlen);
		if (alpha == 256 && i < 256)
			len = 1; /* make every byte value a pattern: no unused class */
		pats[i] = xmalloc(len);
		for (size_t j = 0; j < len; j++)
			pats[i][j] =
			    (char)(alpha == 256 && i < 256 ? (uint32_t)i : base + rnd((uint32_t)alpha));
		lens[i] = len;
		assert_int_equal(acm_add(a, pats[i], len, (uint32_t)i), 0);
	}
	acm_build(a);

	struct hits got = {0}, want = {0};
	char text[300];
	for (int t = 0; t < ntexts; t++) {
		size_t tl = rnd(sizeof(text));
		for (size_t j = 0; j < tl; j++)
			text[j] = (char)(base + rnd((uint32_t)alpha));
		got.n = want.n = 0;
		acm_scan(a, text, tl, collect, &got);
		for (size_t end = 1; end <= tl; end++)
			for (int i = 0; i < npat; i++)
				if (lens[i] <= end && memcmp(text + end - lens[i], pats[i], lens[i]) == 0)
					collect(&want, (uint32_t)i, end);
		/* Hits come in order of end. */
		for (size_t j = 1; j < got.n; j++)
			assert_true(got.v[j - 1].end <= got.v[j].end);
		qsort(got.v, got.n, sizeof(*got.v), hit_cmp);
		qsort(want.v, want.n, sizeof(*want.v), hit_cmp);
		assert_int_equal(got.n, want.n);
		for (size_t j = 0; j < got.n; j++) {
			assert_int_equal(got.v[j].id, want.v[j].id);
			assert_int_equal(got.v[j].end, want.v[j].end);
		}
	}
	free(got.v);
	free(want.v);
	for (int i = 0; i < npat; i++)
		free(pats[i]);
	free(pats);
	free(lens);
	acm_free(a);
}

static void test_brute_force(void **state)
{
	(void)state;
	brute_round(2, 10, 6, 200); /* deep failure chains */
	brute_round(3, 60, 8, 200);
	brute_round(4, 300, 5, 200);   /* hubs with dense rows */
	brute_round(16, 400, 4, 200);  /* wide states */
	brute_round(26, 2000, 7, 100); /* many states, dense budget used up */
	brute_round(256, 600, 3, 100); /* every byte value in a pattern */
	brute_round(200, 50, 3, 100);  /* bytes in no pattern (class 0) */
}

/* Phrases like the rules': " w1 w2 " over a vocabulary of plausible words. */
static char *make_phrase(char *buf, size_t cap, int words)
{
	static const char *syl[] = {"re", "fun", "de",  "li", "ver",  "ca", "ke", "or",  "der", "open",
	                            "ho", "urs", "mon", "ey", "back", "la", "te", "sun", "day", "pri",
	                            "ce", "ta",  "ble", "bo", "ok",   "in", "g",  "s",   "t",   "ion"};
	size_t o = 0;
	buf[o++] = ' ';
	for (int w = 0; w < words; w++) {
		int ns = 1 + (int)rnd(3);
		for (int k = 0; k < ns; k++) {
			const char *sy = syl[rnd(ARRAY_LEN(syl))];
			size_t l = strlen(sy);
			if (o + l + 2 >= cap)
				break;
			memcpy(buf + o, sy, l);
			o += l;
		}
		buf[o++] = ' ';
	}
	buf[o] = '\0';
	return buf;
}

static int count_hits(void *ctx, uint32_t id, size_t end)
{
	(void)id;
	(void)end;
	(*(size_t *)ctx)++;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 100k rule-like phrases: size of the automaton and scan speed (printed,
 * not asserted), and every hit checked against a brute-force search. */
static void test_large(void **state)
{
	(void)state;
	enum { NPAT = 100000 };
	struct acm *a = acm_new();
	char **pats = xcalloc(NPAT, sizeof(*pats));
	char buf[128];
	size_t bytes = 0;

	for (int i = 0; i < NPAT; i++) {
		pats[i] = xstrdup(make_phrase(buf, sizeof(buf), 1 + (int)rnd(3)));
		bytes += strlen(pats[i]);
		assert_int_equal(acm_add(a, pats[i], strlen(pats[i]), (uint32_t)i), 0);
	}
	double t0 = now_s();
	acm_build(a);
	double tb = now_s() - t0;

	char text[160];
	make_phrase(text, sizeof(text), 18);
	size_t tl = strlen(text);
	struct hits got = {0};
	acm_scan(a, text, tl, collect, &got);
	size_t want = 0;
	for (int i = 0; i < NPAT; i++) {
		size_t pl = strlen(pats[i]);
		for (size_t e = pl; e <= tl; e++)
			if (memcmp(text + e - pl, pats[i], pl) == 0)
				want++;
	}
	assert_int_equal(got.n, want);

	/* Scan speed on the dense synthetic text and on an ordinary post. */
	const char *post =
	    " hi there when are you open on sunday i would like to pick up my order and a cake "
	    "for the party thanks ";
	const char *texts[] = {text, post};
	for (int w = 0; w < 2; w++) {
		size_t sink = 0, len = strlen(texts[w]), per = 0;
		int reps = 20000;
		double ts = 1e9;
		acm_scan(a, texts[w], len, count_hits, &per);
		for (int round = 0; round < 7; round++) { /* best of 7: the machine may be busy */
			sink = 0;
			t0 = now_s();
			for (int r = 0; r < reps; r++)
				acm_scan(a, texts[w], len, count_hits, &sink);
			double dt = now_s() - t0;
			if (dt < ts)
				ts = dt;
			assert_true(sink == per * (size_t)reps);
		}
		print_message("acm scan (%s): %.0f ns per %zu-byte text (%.2f ns/byte, %zu hits)\n",
		              w ? "ordinary post" : "synthetic text", ts / reps * 1e9, len,
		              ts / reps * 1e9 / (double)len, per);
	}
	print_message("acm: %d patterns (%zu bytes), %zu states, %zu bytes of automaton (%.1f per pattern), "
	              "build %.0f ms\n",
	              NPAT, bytes, acm_states(a), acm_bytes(a), (double)acm_bytes(a) / NPAT, tb * 1e3);
	free(got.v);
	for (int i = 0; i < NPAT; i++)
		free(pats[i]);
	free(pats);
	acm_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classic),
	    cmocka_unit_test(test_edge_cases),
	    cmocka_unit_test(test_brute_force),
	    cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
