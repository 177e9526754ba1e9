/*
 * test_learn.c - the learner: features of a post (words, stems, pairs,
 * n-grams, shape), training with liblinear and prediction, on ordinary,
 * empty, huge, non-Latin and emoji-only posts, with one class and with a
 * thousand.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "learn.h"
#include "learn_features.h"
#include "normalize.h"
#include "util.h"

/* ---------------------------------------------------------------- features */

static size_t split(struct learn_features *f, struct text *t, const char *s)
{
	text_normalize(t, s, strlen(s));
	return learn_features_words(f, t);
}

static void test_words_and_stems(void **state)
{
	struct learn_features f;
	struct text t;
	(void)state;
	learn_features_init(&f);
	text_init(&t);

	assert_int_equal(split(&f, &t, "Do U deliver to Leeds?!"), 5);
	assert_int_equal(f.w[2].len, 7);
	assert_memory_equal(f.w[2].p, "deliver", 7);
	assert_int_equal(split(&f, &t, ""), 0);
	assert_int_equal(split(&f, &t, "?!... ---"), 0);

	/* A word's stem is shared by its forms; every number reads alike. */
	split(&f, &t, "delivering deliveries delivered deliver");
	uint64_t s0 = learn_features_stem(&f, 0), s3 = learn_features_stem(&f, 3);
	assert_true(s0 == s3 && learn_features_stem(&f, 2) == s3);
	assert_true(f.w[0].key != f.w[3].key); /* the written words differ */
	split(&f, &t, "order 1187 order 2291 order");
	assert_true(f.w[1].flags & LF_NUMBER);
	assert_true(learn_features_stem(&f, 1) == learn_features_stem(&f, 3));
	assert_true(learn_features_stem(&f, 0) != learn_features_stem(&f, 1));

	/* Pairs keep their order. */
	split(&f, &t, "open sunday");
	uint64_t a = learn_features_stem(&f, 0), b = learn_features_stem(&f, 1);
	assert_true(learn_features_pair(a, b) != learn_features_pair(b, a));
	assert_true(learn_features_pair(a, b) != 0);

	/* Negation, and the length bucket. */
	split(&f, &t, "I can't join the knot");
	assert_true(f.w[1].flags & LF_NEGATOR);
	assert_false(f.w[4].flags & LF_NEGATOR);
	assert_true(learn_features_negation(&f) != 0);
	split(&f, &t, "how do I join");
	assert_true(learn_features_negation(&f) == 0);
	uint64_t len4 = learn_features_length(&f);
	split(&f, &t, "how to join");
	assert_true(learn_features_length(&f) == len4); /* 3 and 4 words: one bucket */
	split(&f, &t, "join");
	assert_true(learn_features_length(&f) != len4);

	learn_features_free(&f);
	text_free(&t);
}

/* How many n-grams two words share (multiset intersection). */
static size_t shared_grams(struct learn_features *f, struct text *t, const char *a, const char *b, size_t *na)
{
	uint64_t ga[256], gb[256];
	split(f, t, a);
	*na = learn_features_grams(f, 0, ga, 256);
	split(f, t, b);
	size_t nb = learn_features_grams(f, 0, gb, 256), n = 0;
	for (size_t i = 0; i < *na; i++)
		for (size_t j = 0; j < nb; j++)
			if (ga[i] == gb[j]) {
				gb[j] = 0;
				n++;
				break;
			}
	return n;
}

static void test_grams(void **state)
{
	struct learn_features f;
	struct text t;
	uint64_t g[1024];
	size_t n;
	(void)state;
	learn_features_init(&f);
	text_init(&t);

	/* A misspelt word shares most n-grams with the right one. */
	size_t shared = shared_grams(&f, &t, "delivery", "delivry", &n);
	assert_int_equal(n, 8 + 7); /* "<delivery>": 8 three-grams, 7 four-grams */
	assert_true(shared * 2 >= n);
	shared = shared_grams(&f, &t, "received", "recieved", &n); /* a swap costs more */
	assert_true(shared * 3 >= n);
	assert_true(shared_grams(&f, &t, "delivery", "opening", &n) <= 1);

	/* Code points, not bytes: a Cyrillic word of 8 letters. */
	split(&f, &t, "доставка");
	assert_int_equal(learn_features_grams(&f, 0, g, 1024), 8 + 7);
	/* Symbols, numbers and one-letter words have none. */
	split(&f, &t, "😀 :) 1234 u");
	assert_int_equal(f.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(learn_features_grams(&f, i, g, 1024), 0);
	assert_true(f.w[0].flags & LF_SYMBOL);

	/* A very long word is cut: its n-grams are bounded. */
	char longw[4001];
	memset(longw, 'a', 4000);
	longw[4000] = '\0';
	split(&f, &t, longw);
	n = learn_features_grams(&f, 0, g, 1024);
	assert_true(n > 0 && n <= LF_MAX_GRAMS(3, 4));

	/* A post is read up to LF_MAX_WORDS words. */
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 3000; i++)
		buf_printf(&b, "word%d ", i);
	assert_int_equal(split(&f, &t, b.p), LF_MAX_WORDS);
	buf_free(&b);

	learn_features_free(&f);
	text_free(&t);
}

/* ---------------------------------------------------------------- a small shop */

enum { DELIVERY, HOURS, REFUND, UNUSED, NCLASSES };

static const struct learn_example shop[] = {
    {"do you deliver", DELIVERY, 0},
    {"do you deliver to my area", DELIVERY, 0},
    {"can you deliver a cake to my office", DELIVERY, 0},
    {"how much is delivery", DELIVERY, 0},
    {"what does delivery cost", DELIVERY, 0},
    {"which areas do you deliver to", DELIVERY, 0},
    {"do you do home delivery", DELIVERY, 0},
    {"how long does delivery take", DELIVERY, 0},
    {"where is my delivery", DELIVERY, 1}, /* not_example */
    {"when are you open", HOURS, 0},
    {"what are your opening hours", HOURS, 0},
    {"are you open on sunday", HOURS, 0},
    {"what time do you close today", HOURS, 0},
    {"what time do you open tomorrow", HOURS, 0},
    {"are you open on bank holidays", HOURS, 0},
    {"I want a refund", REFUND, 0},
    {"I want my money back", REFUND, 0},
    {"please refund my order", REFUND, 0},
    {"can I get a refund for the cake", REFUND, 0},
    {"I was charged and want the money returned", REFUND, 0},
};

static struct learn_model *train_shop(void)
{
	return learn_train(shop, ARRAY_LEN(shop), NCLASSES, NULL);
}

static size_t guess(struct learn_model *m, const char *s, struct learn_guess *g, size_t k)
{
	struct text t;
	text_init(&t);
	text_normalize(&t, s, strlen(s));
	size_t n = learn_predict(m, &t, NULL, NULL, g, k);
	text_free(&t);
	return n;
}

/* The best guess for s, or UINT32_MAX; its confidence into *conf. */
static uint32_t top(struct learn_model *m, const char *s, float *conf)
{
	struct learn_guess g[1];
	size_t n = guess(m, s, g, 1);
	*conf = n ? g[0].confidence : 0;
	return n ? g[0].cls : UINT32_MAX;
}

static void test_paraphrases(void **state)
{
	struct learn_model *m = train_shop();
	float c;
	(void)state;

	assert_int_equal(learn_classes(m), NCLASSES);
	assert_int_equal(top(m, "do u deliver to leeds", &c), DELIVERY);
	assert_true(c > 0.5f);
	assert_int_equal(top(m, "delivry to my house?", &c), DELIVERY); /* a typo */
	assert_int_equal(top(m, "when do you open on sundays", &c), HOURS);
	assert_true(c > 0.5f);
	assert_int_equal(top(m, "I'd like my money back please", &c), REFUND);
	/* Off topic: the best guess is far from sure. */
	top(m, "what is the capital of france", &c);
	assert_true(c < 0.3f);
	top(m, "tell me a joke", &c);
	assert_true(c < 0.3f);

	/* Confidences are best first, in 0..1, and sum to less than 1; the
	 * class without examples is never guessed. */
	struct learn_guess g[8];
	size_t n = guess(m, "how much does it cost to deliver on sunday", g, 8);
	assert_true(n >= 2 && n <= 3);
	float sum = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(g[i].cls != UNUSED);
		assert_true(g[i].confidence >= 0 && g[i].confidence <= 1);
		if (i)
			assert_true(g[i].confidence <= g[i - 1].confidence);
		sum += g[i].confidence;
	}
	assert_true(sum < 1.0f);
	learn_free(m);
}

static void test_not_examples_and_negation(void **state)
{
	struct learn_model *with = train_shop();
	/* The same shop without its not_example. */
	struct learn_example ex[ARRAY_LEN(shop)];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(shop); i++)
		if (!shop[i].negative)
			ex[n++] = shop[i];
	struct learn_model *without = learn_train(ex, n, NCLASSES, NULL);
	float cw, co;
	(void)state;

	top(with, "where is my delivery", &cw);
	top(without, "where is my delivery", &co);
	assert_true(cw < co);

	/* "I cannot ..." is not what a class of questions answers. */
	float ask, cant;
	assert_int_equal(top(with, "what time do you open", &ask), HOURS);
	top(with, "you did not open at the time you said", &cant);
	assert_true(cant < ask);
	learn_free(with);
	learn_free(without);
}

/* A post of one word says less than a question: the length floor makes it
 * less sure than the same word in a whole question, and less sure than the
 * same model without the floor makes it. */
static void test_short_posts(void **state)
{
	struct learn_params p;
	learn_params_default(&p);
	assert_true(p.norm_floor > 0);
	struct learn_model *floored = learn_train(shop, ARRAY_LEN(shop), NCLASSES, &p);
	p.norm_floor = 0;
	struct learn_model *unit = learn_train(shop, ARRAY_LEN(shop), NCLASSES, &p);
	float one, question, one_unit;
	(void)state;

	assert_int_equal(top(floored, "refund", &one), REFUND);
	assert_int_equal(top(floored, "can i have a refund please", &question), REFUND);
	assert_int_equal(top(unit, "refund", &one_unit), REFUND);
	assert_true(one < question);
	assert_true(one < one_unit);
	/* Whole questions are still answered surely. */
	assert_int_equal(top(floored, "do u deliver to leeds", &question), DELIVERY);
	assert_true(question > 0.5f);
	learn_free(floored);
	learn_free(unit);
}

static int no_delivery(void *ctx, uint32_t cls)
{
	(void)ctx;
	return cls != DELIVERY;
}

static void test_deterministic_and_filtered(void **state)
{
	struct learn_model *a = train_shop(), *b = train_shop();
	struct learn_guess ga[4], gb[4];
	(void)state;

	static const char *const posts[] = {"do u deliver", "open sunday?", "refund", "hello there"};
	for (size_t i = 0; i < ARRAY_LEN(posts); i++) {
		size_t na = guess(a, posts[i], ga, 4), nb = guess(b, posts[i], gb, 4);
		assert_int_equal(na, nb);
		for (size_t j = 0; j < na; j++) {
			assert_int_equal(ga[j].cls, gb[j].cls);
			assert_true(ga[j].confidence == gb[j].confidence);
		}
	}
	learn_free(b);

	/* A filter that refuses delivery leaves the next best first. */
	struct text t;
	text_init(&t);
	text_normalize(&t, "do u deliver on sundays", 23);
	size_t n = learn_predict(a, &t, NULL, NULL, ga, 4);
	assert_true(n >= 2 && ga[0].cls == DELIVERY);
	uint32_t second = ga[1].cls;
	n = learn_predict(a, &t, no_delivery, NULL, gb, 4);
	assert_true(n >= 1 && gb[0].cls == second);
	for (size_t j = 0; j < n; j++)
		assert_true(gb[j].cls != DELIVERY);
	text_free(&t);
	learn_free(a);
}

/* Learning touches no shared state: models learned at the same time on
 * several threads (a reload learns off the loop thread while `check` or a
 * second reload may learn too) come out as one learned alone. */
struct learner {
	pthread_t th;
	struct learn_guess g[4][2];
	size_t n[4];
};

static const char *const probe[] = {"do u deliver", "open sunday?", "I want my money back", "hello"};

static void *learn_alone(void *arg)
{
	struct learner *l = arg;
	struct learn_model *m = train_shop();
	for (size_t i = 0; i < ARRAY_LEN(probe); i++)
		l->n[i] = guess(m, probe[i], l->g[i], 2);
	learn_free(m);
	return NULL;
}

static void test_threads(void **state)
{
	struct learner one, many[3];
	(void)state;
	learn_alone(&one);
	for (size_t t = 0; t < ARRAY_LEN(many); t++)
		assert_int_equal(pthread_create(&many[t].th, NULL, learn_alone, &many[t]), 0);
	for (size_t t = 0; t < ARRAY_LEN(many); t++) {
		assert_int_equal(pthread_join(many[t].th, NULL), 0);
		for (size_t i = 0; i < ARRAY_LEN(probe); i++) {
			assert_int_equal(many[t].n[i], one.n[i]);
			for (size_t j = 0; j < one.n[i]; j++) {
				assert_int_equal(many[t].g[i][j].cls, one.g[i][j].cls);
				assert_true(many[t].g[i][j].confidence == one.g[i][j].confidence);
			}
		}
	}
}

/* ---------------------------------------------------------------- odd posts */

static void test_odd_posts(void **state)
{
	struct learn_model *m = train_shop();
	struct learn_guess g[4];
	float c;
	(void)state;

	/* Nothing to read: no guess at all. */
	assert_int_equal(guess(m, "", g, 4), 0);
	assert_int_equal(guess(m, "?!? ... ---", g, 4), 0);
	/* Emoji only, a script nobody wrote examples in: no crash, no confidence. */
	size_t n = guess(m, "😀😀😀 👍", g, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].confidence < 0.3f);
	n = guess(m, "配達はありますか", g, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].confidence < 0.3f);

	/* A huge post: read up to its first LF_MAX_WORDS words, quickly. */
	struct buf b;
	buf_init(&b, 0);
	while (b.len < TEXT_MAX_INPUT)
		buf_puts(&b, "do you deliver to the village near the river and the big old bridge ");
	n = guess(m, b.p, g, 4);
	assert_true(n >= 1 && g[0].cls == DELIVERY);
	buf_free(&b);
	/* k larger than the classes, k of 0. */
	assert_int_equal(guess(m, "do you deliver", g, 0), 0);
	learn_free(m);

	/* Examples in other scripts, and made of emoji, are learned too. */
	static const struct learn_example intl[] = {
	    {"вы доставляете заказы", 0, 0},
	    {"доставка на дом есть", 0, 0},
	    {"сколько стоит доставка", 0, 0},
	    {"когда вы открыты", 1, 0},
	    {"во сколько вы открываетесь", 1, 0},
	    {"👍", 2, 0},
	    {"👍👍", 2, 0},
	    {"👍 🙏", 2, 0},
	};
	m = learn_train(intl, ARRAY_LEN(intl), 3, NULL);
	assert_int_equal(top(m, "Доставка в мой район?", &c), 0);
	assert_int_equal(top(m, "👍", &c), 2);
	assert_true(c > 0.5f);
	learn_free(m);

	/* Texts without words teach nothing; a class with only such is never guessed. */
	static const struct learn_example empty[] = {{"", 0, 0}, {"!!!", 0, 0}, {"do you deliver", 1, 0}};
	m = learn_train(empty, ARRAY_LEN(empty), 2, NULL);
	n = guess(m, "do you deliver", g, 4);
	assert_true(n >= 1 && g[0].cls == 1);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].cls != 0);
	learn_free(m);
	/* No examples at all. */
	m = learn_train(NULL, 0, 3, NULL);
	assert_int_equal(guess(m, "do you deliver", g, 4), 0);
	learn_free(m);
}

static void test_one_class(void **state)
{
	static const struct learn_example one[] = {
	    {"what are your opening hours", 0, 0},
	    {"when are you open", 0, 0},
	    {"are you open on sunday", 0, 0},
	};
	struct learn_model *m = learn_train(one, ARRAY_LEN(one), 1, NULL);
	float c;
	(void)state;
	assert_int_equal(top(m, "are you open on sundays?", &c), 0);
	assert_true(c > 0.5f);
	top(m, "what is the weather like today", &c);
	assert_true(c < 0.3f);
	learn_free(m);
}

/* ---------------------------------------------------------------- many classes */

/* A made-up topic word for class i: distinct, pronounceable. */
static void topic(unsigned i, char *out, size_t n)
{
	static const char *const syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si",
	                                  "pe", "du", "ga", "zo", "fi", "be", "ho", "ju"};
	snprintf(out, n, "%s%s%s%s", syl[i % 16], syl[(i / 16) % 16], syl[(i / 256) % 16], syl[(i * 7) % 16]);
}

static void test_thousand_classes(void **state)
{
	static const char *const tmpl[] = {
	    "how much is the %s",   "do you have %s today", "can i order %s",        "is %s available",
	    "tell me about the %s", "i would like some %s", "when will %s be ready", "what does %s cost",
	    "do you sell %s",       "any %s left"};
	enum { K = 1000, E = 10 };
	struct learn_example *ex = xcalloc(K * E, sizeof(*ex));
	char w[32];
	(void)state;
	for (unsigned c = 0; c < K; c++) {
		topic(c, w, sizeof(w));
		for (unsigned e = 0; e < E; e++) {
			ex[c * E + e].text = xasprintf(tmpl[e], w);
			ex[c * E + e].cls = c;
		}
	}
	struct learn_model *m = learn_train(ex, K * E, K, NULL);
	assert_int_equal(learn_classes(m), K);
	/* Bounded memory: well under the 20 MB a thousand rules may use. */
	assert_true(learn_bytes(m) < 20u * 1024 * 1024);
	int right = 0, asked = 0;
	for (unsigned c = 0; c < K; c += 37) {
		char post[96];
		float conf;
		topic(c, w, sizeof(w));
		snprintf(post, sizeof(post), "hi, have you got any %s please?", w);
		asked++;
		right += top(m, post, &conf) == c;
	}
	assert_true(right * 10 >= asked * 9);
	learn_free(m);
	for (size_t i = 0; i < K * E; i++)
		free((char *)ex[i].text);
	free(ex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words_and_stems), cmocka_unit_test(test_grams),
	    cmocka_unit_test(test_paraphrases),     cmocka_unit_test(test_not_examples_and_negation),
	    cmocka_unit_test(test_short_posts),     cmocka_unit_test(test_deterministic_and_filtered),
	    cmocka_unit_test(test_threads),         cmocka_unit_test(test_odd_posts),
	    cmocka_unit_test(test_one_class),       cmocka_unit_test(test_thousand_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
