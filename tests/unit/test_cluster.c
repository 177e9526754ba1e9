/*
 * test_cluster.c - grouping questions that ask the same thing: paraphrases
 * and typos land together, different subjects apart, weights order the
 * groups, and empty, wordless, repeated and many texts are handled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"
#include "learn.h"
#include "util.h"

/* Three subjects a shop is asked about, worded as customers do. */
static const char *const gift[] = {
    "do you sell gift cards",           "can I buy a gift card", "gift cards available?",
    "is there a gift card I could buy", "do u do giftcards",     "where can i get a gift card",
};
static const char *const parking[] = {
    "is there parking near the shop", "where can I park",   "do you have a car park", "parking near you?",
    "can i park outside the shop",    "any parking nearby",
};
static const char *const wifi[] = {
    "do you have wifi",   "is there free wifi in the cafe",  "whats the wifi password", "wifi available?",
    "can I use the wifi", "do you have wi fi for customers",
};

#define NS 6

/* Other questions of the same shop (the rules' examples, in use): the
 * words every question uses are common there too. */
static const char *const background[] = {
    "do you have vegan cakes",  "do you have gluten free bread",
    "can I order online",       "is there a discount for students",
    "can I pay by card",        "where is my order",
    "do you deliver",           "what are your opening hours",
    "can I collect in store",   "do you have birthday cakes",
    "is there a minimum order", "can you do a cake for a wedding",
};
#define NB (sizeof(background) / sizeof(background[0]))

static size_t group_of(const struct cluster_result *r, size_t i)
{
	return r->group_of[i];
}

static void test_subjects(void **state)
{
	const char *texts[3 * NS];
	struct cluster_result r;
	(void)state;
	for (size_t i = 0; i < NS; i++) {
		texts[i] = gift[i];
		texts[NS + i] = parking[i];
		texts[2 * NS + i] = wifi[i];
	}
	cluster_texts(texts, NULL, 3 * NS, background, NB, 0, &r);

	/* No group mixes subjects. */
	for (size_t g = 0; g < r.n; g++) {
		size_t subj = r.groups[g].members[0] / NS;
		for (size_t m = 0; m < r.groups[g].n; m++)
			assert_int_equal(r.groups[g].members[m] / NS, subj);
	}
	/* Each subject is mostly together: its largest group holds at least
	 * half of its six questions. */
	for (size_t s = 0; s < 3; s++) {
		size_t best = 0;
		for (size_t g = 0; g < r.n; g++) {
			size_t k = 0;
			for (size_t m = 0; m < r.groups[g].n; m++)
				k += r.groups[g].members[m] / NS == s;
			if (k > best)
				best = k;
		}
		if (best < 3)
			fail_msg("subject %zu spread over groups (largest %zu of %d)", s, best, NS);
	}
	/* Every text is in the group group_of says. */
	for (size_t i = 0; i < 3 * NS; i++) {
		const struct cluster_group *g = &r.groups[group_of(&r, i)];
		int found = 0;
		for (size_t m = 0; m < g->n; m++)
			found |= g->members[m] == i;
		assert_true(found);
	}
	cluster_free(&r);
}

/* Heavier groups come first; the central member is a member. */
static void test_weights_order(void **state)
{
	const char *texts[] = {"where can I park", "do you sell gift cards", "can I buy a gift card",
	                       "where can I park my car"};
	size_t w[] = {1, 1, 1, 9};
	struct cluster_result r;
	(void)state;
	cluster_texts(texts, w, 4, background, NB, 0, &r);
	assert_true(r.n >= 2);
	assert_int_equal(r.groups[0].weight, 10);
	assert_int_equal(group_of(&r, 0), group_of(&r, 3));
	assert_int_equal(group_of(&r, 1), group_of(&r, 2));
	for (size_t g = 0; g < r.n; g++) {
		int found = 0;
		for (size_t m = 0; m < r.groups[g].n; m++)
			found |= r.groups[g].members[m] == r.groups[g].central;
		assert_true(found);
	}
	cluster_free(&r);
}

/* Nothing, wordless texts, NULL and duplicates. */
static void test_edges(void **state)
{
	struct cluster_result r;
	(void)state;
	cluster_texts(NULL, NULL, 0, NULL, 0, 0, &r);
	assert_int_equal(r.n, 0);
	cluster_free(&r);

	const char *texts[] = {"", "!!!", NULL, "do you deliver", "do you deliver", "\xf0\x9f\x8e\x82"};
	cluster_texts(texts, NULL, 6, NULL, 0, 0, &r);
	assert_int_equal(group_of(&r, 3), group_of(&r, 4));
	assert_int_not_equal(group_of(&r, 0), group_of(&r, 1)); /* wordless: alone */
	size_t total = 0;
	for (size_t g = 0; g < r.n; g++)
		total += r.groups[g].n;
	assert_int_equal(total, 6);
	cluster_free(&r);
}

/* Vectors are unit length and their dot product is a cosine. */
static void test_vectors(void **state)
{
	const char *texts[] = {"do you deliver to leeds", "do you deliver to leeds", "where can I park", ""};
	(void)state;
	struct learn_vectors *v = learn_vectorize(texts, 4, NULL, 0, NULL);
	assert_int_equal(v->n, 4);
	assert_true(learn_vectors_dot(v, 0, 0) > 0.999 && learn_vectors_dot(v, 0, 0) < 1.001);
	assert_true(learn_vectors_dot(v, 0, 1) > 0.999);
	assert_true(learn_vectors_dot(v, 0, 2) < 0.3);
	assert_true(learn_vectors_dot(v, 0, 3) == 0.0);
	for (size_t i = 0; i < 3; i++)
		for (uint32_t k = v->start[i] + 1; k < v->start[i + 1]; k++)
			assert_true(v->feat[k - 1] < v->feat[k]);
	learn_vectors_free(v);
}

/* A thousand questions are grouped, each exactly once. */
static void test_many(void **state)
{
	enum { N = 1000 };
	static char bufs[N][64];
	const char *texts[N];
	static const char *const subj[] = {"gift card",     "parking",   "wifi",          "delivery",
	                                   "refund",        "allergens", "opening hours", "birthday cake",
	                                   "vegan options", "jobs"};
	struct cluster_result r;
	(void)state;
	for (size_t i = 0; i < N; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "question %zu about %s", i % 7, subj[i % 10]);
		texts[i] = bufs[i];
	}
	cluster_texts(texts, NULL, N, background, NB, 0, &r);
	size_t total = 0;
	for (size_t g = 0; g < r.n; g++)
		total += r.groups[g].n;
	assert_int_equal(total, N);
	assert_true(r.n >= 10 && r.n < N / 2);
	cluster_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_subjects), cmocka_unit_test(test_weights_order),
	    cmocka_unit_test(test_edges),    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
