/*
 * test_rating.c - satisfaction answers read from free text: what is a
 * rating (and its comment), and what is a new question or a sentence that
 * merely starts with a number or a kind word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rating.h"

struct rcase {
	const char *text;
	int score;           /* 0: not a rating */
	const char *comment; /* NULL: none */
};

static const struct rcase cases[] = {
    {"5", 5, NULL},
    {"  4 ", 4, NULL},
    {"4/5", 4, NULL},
    {"4 / 5", 4, NULL},
    {"3 out of 5", 3, NULL},
    {"2 of 5", 2, NULL},
    {"8/10", 4, NULL},
    {"10/10", 5, NULL},
    {"1/10", 1, NULL},
    {"5 stars", 5, NULL},
    {"1 star", 1, NULL},
    {"5\xe2\xad\x90", 5, NULL},
    {"\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85", 4, NULL},
    {"\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85\xe2\x98\x86\xe2\x98\x86", 3, NULL},
    {"\xe2\xad\x90\xef\xb8\x8f\xe2\xad\x90\xef\xb8\x8f", 2, NULL},
    {"*****", 5, NULL},
    {"\xf0\x9f\x91\x8d", 5, NULL},
    {"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd thanks", 5, "thanks"},
    {"\xf0\x9f\x91\x8e", 1, NULL},
    {"5 - quick and friendly", 5, "quick and friendly"},
    {"5, thank you!", 5, "thank you!"},
    {"4.\nThe cake was late but Sam sorted it", 4, "The cake was late but Sam sorted it"},
    {"5! \xf0\x9f\x98\x8a", 5, "\xf0\x9f\x98\x8a"},
    {"great", 5, NULL},
    {"Great!", 5, NULL},
    {"Excellent, thanks so much", 5, "thanks so much"},
    {"very good", 5, NULL},
    {"not good", 2, NULL},
    {"ok", 3, NULL},
    {"OK.", 3, NULL},
    {"terrible", 1, NULL},
    {"four", 4, NULL},
    {"Five!", 5, NULL},
    {"meh", 2, NULL},
    /* not ratings */
    {"", 0, NULL},
    {"   ", 0, NULL},
    {"0", 0, NULL},
    {"6", 0, NULL},
    {"12", 0, NULL},
    {"4.5", 0, NULL},
    {"4/7", 0, NULL},
    {"5 cakes for Saturday please", 0, NULL},
    {"2 loaves", 0, NULL},
    {"good morning", 0, NULL},
    {"Great question: do you deliver", 0, NULL},
    {"okay so where is my order", 0, NULL},
    {"goodness me", 0, NULL},
    {"fine-tuned", 0, NULL},
    {"5, and when do you open?", 0, NULL},
    {"great! do you deliver to Leeds?", 0, NULL},
    {"When are you open?", 0, NULL},
    {"one more thing", 0, NULL},
    {"\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85\xe2\x98\x85", 0, NULL},
    {"\xff\xfe", 0, NULL},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rating r = {0, NULL, 0};
		int got = rating_parse(cases[i].text, &r);
		if (got != (cases[i].score != 0) || (got && r.score != cases[i].score))
			fail_msg("'%s': expected %d, got %s %d", cases[i].text, cases[i].score,
			         got ? "rating" : "no rating", r.score);
		if (!got)
			continue;
		if (!cases[i].comment) {
			if (r.comment)
				fail_msg("'%s': unexpected comment '%.*s'", cases[i].text, (int)r.comment_len,
				         r.comment);
		} else if (!r.comment || r.comment_len != strlen(cases[i].comment) ||
		           memcmp(r.comment, cases[i].comment, r.comment_len) != 0) {
			fail_msg("'%s': comment '%.*s', expected '%s'", cases[i].text, (int)r.comment_len,
			         r.comment ? r.comment : "", cases[i].comment);
		}
	}
}

/* A long comment is cut at a character boundary, never inside one. */
static void test_long_comment(void **state)
{
	static char text[4 * RATING_MAX_COMMENT];
	struct rating r;
	(void)state;
	strcpy(text, "4 - ");
	size_t n = strlen(text);
	while (n + 2 < sizeof(text) - 1) {
		memcpy(text + n, "\xc3\xa9", 2); /* é */
		n += 2;
	}
	text[n] = '\0';
	assert_int_equal(rating_parse(text, &r), 1);
	assert_int_equal(r.score, 4);
	assert_true(r.comment_len <= RATING_MAX_COMMENT);
	assert_int_equal(r.comment_len % 2, 0);
	assert_int_equal((unsigned char)r.comment[0], 0xc3);
}

static void test_valid(void **state)
{
	(void)state;
	assert_false(rating_valid(0));
	assert_true(rating_valid(1));
	assert_true(rating_valid(5));
	assert_false(rating_valid(6));
	assert_false(rating_parse(NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_long_comment),
	    cmocka_unit_test(test_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
