/*
 * test_normalize.c - text normalization: cases as data, then the features,
 * the phrase form, limits and invariants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normalize.h"
#include "util.h"

struct ncase {
	const char *in;
	const char *norm;  /* expected t.norm */
	const char *plain; /* expected t.plain, NULL: not checked */
};

static const struct ncase cases[] = {
    /* words, case, spacing */
    {"", " ", ""},
    {"   \t\n ", " ", ""},
    {"When are you OPEN on Sunday?", " when are you open on sunday ", "When are you OPEN on Sunday?"},
    {"  what   time\tdo\nyou   open  ", " what time do you open ", "what   time\tdo\nyou   open"},
    {"order #1234, ok?", " order 1234 ok ", NULL},
    {"e-mail: hello@acme.example", " e mail hello acme example ", "e-mail: hello@acme.example"},
    {"9:30am-5pm", " 9 30am 5pm ", NULL},
    /* apostrophes inside words are dropped, others are boundaries */
    {"don't", " dont ", NULL},
    {"won\xe2\x80\x99t can`t I\xca\xbcm", " wont cant im ", NULL},
    {"'quoted' rock 'n' roll", " quoted rock n roll ", NULL},
    {"the customers' orders", " the customers orders ", NULL},
    /* accents, compatibility forms, case folding */
    {"CAFÉ crème brûlée", " cafe creme brulee ", NULL},
    {"cafe\xcc\x81", " cafe ", NULL},                                /* combining accent */
    {"Straße STRASSE", " strasse strasse ", NULL},                   /* German sharp s */
    {"\xc4\xb0stanbul \xc4\xb1s\xc4\xb1k", " istanbul isik ", NULL}, /* Turkish I with dot, dotless i */
    {"Łódź Øre", " łodz øre ", NULL},                                /* letters without decomposition stay */
    {"\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xac\xef\xbc\xac width", " full width ", NULL}, /* fullwidth */
    {"\xef\xac\x81ne \xe2\x91\xa0 x\xc2\xb2", " fine 1 x2 ", NULL}, /* ligature, circled digit, superscript */
    {"\xe2\x93\x87\xe2\x93\x94\xe2\x93\x95\xe2\x93\xa4\xe2\x93\x9d\xe2\x93\x93", " refund ", NULL},
    {"\xf0\x9d\x90\x91\xf0\x9d\x90\x84\xf0\x9d\x90\x85\xf0\x9d\x90\x94\xf0\x9d\x90\x8d\xf0\x9d\x90\x83",
     " refund ", NULL},                                     /* mathematical bold */
    {"ref\u00adund re\u200bfund", " refund refund ", NULL}, /* soft hyphen, ZWSP */
    {"ΚΑΛΗΜΕΡΑ", " καλημερα ", NULL},                       /* Greek */
    {"ПРИВЕТ", " привет ", NULL},                           /* Cyrillic */
    {"营业时间?", " 营 业 时 间 ", NULL},                   /* CJK: one token each */
    {"non\u00a0breaking", " non breaking ", NULL},
    /* HTML entities */
    {"fish &amp; chips", " fish chips ", "fish & chips"},
    {"&lt;b&gt;bold&lt;/b&gt;", " b bold b ", "<b>bold</b>"},
    {"it&#39;s &quot;fine&quot; &apos;ok&apos;", " its fine ok ", "it's \"fine\" 'ok'"},
    {"caf&eacute; &Eacute;T&Eacute;", " cafe ete ", "caf\xc3\xa9 \xc3\x89T\xc3\x89"},
    {"&#x1F600;&#128512;", " \xf0\x9f\x98\x80 \xf0\x9f\x98\x80 ", NULL},
    {"&#X41;&#x62;c", " abc ", "Abc"},
    {"R&D &bogus; &amp &#; &#x; &#12a; &", " r d bogus amp x 12a ", "R&D &bogus; &amp &#; &#x; &#12a; &"},
    {"&amp;lt; decoded once", " lt decoded once ", "&lt; decoded once"},
    {"&#0;&#xD800;&#x110000;", " ", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"&#146;s &#150;", " s ", "\xe2\x80\x99s \xe2\x80\x93"}, /* Windows-1252 meanings */
    {"a&nbsp;b&hellip;c&euro;5", " a b c 5 ", NULL},
    {"&#60;3 you", " <3 you ", "<3 you"},
    {"&#123456789;", " 123456789 ", "&#123456789;"}, /* too many digits: left as text */
    /* URLs and mentions removed, hashtags keep their word */
    {"see https://acme.example/menu?x=1&y=2 now", " see now ", "see now"},
    {"HTTP://ACME.EXAMPLE and www.acme.example.", " and ", "and ."},
    {"(https://en.wikipedia.org/wiki/Foo_(bar))", " ", "()"},
    {"link:https://x.example!", " link ", "link:!"},
    {"xhttp://x.example", " xhttp x example ", NULL}, /* not at a word start */
    {"http:// alone", " http alone ", NULL},
    {"@acme thanks!", " thanks ", "thanks!"},
    {"thanks @acme@mastodon.social and @bob.", " thanks and ", "thanks and ."},
    {"hi @alice.bsky.social!", " hi ", "hi !"},
    {"mail bob@acme.example", " mail bob acme example ", "mail bob@acme.example"},
    {"@ alone @@x", " alone x ", NULL}, /* "@@x" is no mention */
    {"#NoAir in #room12", " noair in room12 ", "#NoAir in #room12"},
    /* emoji and symbols are tokens */
    {"love it\xf0\x9f\x98\x8d\xf0\x9f\x98\x8d", " love it \xf0\x9f\x98\x8d \xf0\x9f\x98\x8d ", NULL},
    {"ok\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", " ok \xf0\x9f\x91\x8d ", NULL}, /* skin tone folded */
    {"\xe2\x9d\xa4\xef\xb8\x8f you", " \xe2\x9d\xa4 you ", NULL},          /* VS16 dropped */
    {"\xf0\x9f\x87\xac\xf0\x9f\x87\xa7\xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
     " \xf0\x9f\x87\xac\xf0\x9f\x87\xa7 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 ", NULL},                 /* flags */
    {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", " \xf0\x9f\x91\xa8 \xf0\x9f\x91\xa9 ", NULL}, /* ZWJ */
    {"5\xe2\x98\x85 service", " 5 \xe2\x98\x85 service ", NULL},
    /* emoticons */
    {"thanks :)", " thanks :) ", NULL},
    {"thanks:-)", " thanks :) ", NULL},
    {":D :-D =D :d", " :d :d :d :d ", NULL},
    {":( :-( >:( =( :[", " :( :( :( :( :( ", NULL},
    {":((( :)))", " :( :) ", NULL},
    {":/ :-/ :\\", " :/ :/ :/ ", NULL},
    {";) ;-) :p :-P :| :'( :\xe2\x80\x99(", " ;) ;) :p :p :| :'( :'( ", NULL},
    {"I <3 it </3", " i <3 it </3 ", NULL},
    {":pizza <30 c:/dir a:b 10:30 =dx", " pizza 30 c dir a b 10 30 dx ", NULL},
    /* invalid UTF-8 is repaired, control characters are blanks */
    {"a\377b\303", " a b ", "a\ufffdb\ufffd"},
    {"\xed\xa0\x80x", " x ", NULL}, /* encoded surrogate */
    {"\xc0\xaf overlong", " overlong ", NULL},
    {"a\001b\033[31mc\177d", " a b 31mc d ", "a b [31mc d"},
    {"x\xc2\x85y", " x y ", "x y"}, /* C1 control */
};

static void test_cases(void **state)
{
	(void)state;
	struct text t;
	text_init(&t);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct ncase *c = &cases[i];
		assert_int_equal(text_normalize(&t, c->in, strlen(c->in)), 0);
		if (strcmp(t.norm, c->norm) != 0)
			fail_msg("case %zu [%s]: norm [%s], want [%s]", i, c->in, t.norm, c->norm);
		assert_int_equal(t.norm_len, strlen(c->norm));
		if (c->plain && strcmp(t.plain, c->plain) != 0)
			fail_msg("case %zu [%s]: plain [%s], want [%s]", i, c->in, t.plain, c->plain);
		assert_int_equal(t.plain_len, strlen(t.plain));
	}
	text_free(&t);
}

struct fcase {
	const char *in;
	int words, mentions, urls, letters, upper, caps_words, exclaim, question;
};

static const struct fcase fcases[] = {
    {"hello", 1, 0, 0, 5, 0, 0, 0, 0},
    {"WHAT THE HELL!!! why?\?!", 4, 0, 0, 14, 11, 3, 3, 3},
    {"OK no WAY", 3, 0, 0, 7, 5, 1, 0, 0}, /* "OK" is too short to count */
    {"CAF\xc3\x89S closed?!?!", 2, 0, 0, 11, 5, 1, 1, 4},
    {"@acme @bob https://x.example www.y.example hi", 1, 2, 2, 2, 0, 0, 0, 0},
    {"wait! what? really!?!!", 3, 0, 0, 14, 0, 0, 2, 4},
    {"\xef\xbc\x81\xef\xbc\x81 \xef\xbc\x9f", 0, 0, 0, 0, 0, 0, 2, 1}, /* fullwidth ! and ? */
    {"\xe8\x90\xa5\xe4\xb8\x9a :) \xf0\x9f\x98\x80", 4, 0, 0, 0, 0, 0, 0, 0},
    {"COVID19 UPDATE", 2, 0, 0, 11, 11, 2, 0, 0},
};

static void test_features(void **state)
{
	(void)state;
	struct text t;
	text_init(&t);
	for (size_t i = 0; i < ARRAY_LEN(fcases); i++) {
		const struct fcase *c = &fcases[i];
		text_normalize(&t, c->in, strlen(c->in));
		int got[8] = {t.n_words, t.n_mentions,   t.n_urls,      t.n_letters,
		              t.n_upper, t.n_caps_words, t.exclaim_run, t.question_run};
		int want[8] = {c->words, c->mentions,   c->urls,    c->letters,
		               c->upper, c->caps_words, c->exclaim, c->question};
		static const char *names[8] = {"words", "mentions",   "urls",        "letters",
		                               "upper", "caps_words", "exclaim_run", "question_run"};
		for (int k = 0; k < 8; k++)
			if (got[k] != want[k])
				fail_msg("case %zu [%s]: %s = %d, want %d", i, c->in, names[k], got[k],
				         want[k]);
		assert_int_equal(t.truncated, 0);
	}
	text_free(&t);
}

static void test_phrase(void **state)
{
	(void)state;
	static const char *pairs[][2] = {
	    {"What time  do you OPEN?", "what time do you open"},
	    {"  Opening hours ", "opening hours"},
	    {"Caf\xc3\xa9", "cafe"},
	    {"money-back", "money back"},
	    {":)", ":)"},
	    {"?!", ""},
	    {"", ""},
	    {"@someone", ""},
	    {"https://x.example", ""},
	};
	for (size_t i = 0; i < ARRAY_LEN(pairs); i++) {
		char *p = text_normalize_phrase(pairs[i][0]);
		assert_string_equal(p, pairs[i][1]);
		free(p);
	}
	char *p = text_normalize_phrase(NULL);
	assert_string_equal(p, "");
	free(p);
}

static void check_invariants(const struct text *t)
{
	assert_true(t->norm_len >= 1);
	assert_int_equal(strlen(t->norm), t->norm_len);
	assert_int_equal(t->norm[0], ' ');
	assert_int_equal(t->norm[t->norm_len - 1], ' ');
	assert_null(strstr(t->norm, "  "));
	assert_int_equal(strlen(t->plain), t->plain_len);
}

static void test_limits(void **state)
{
	(void)state;
	struct text t;
	text_init(&t);

	/* Exactly the limit: not truncated. */
	size_t n = TEXT_MAX_INPUT;
	char *big = xmalloc(n + 16);
	for (size_t i = 0; i < n + 16; i++)
		big[i] = (i % 6 == 5) ? ' ' : 'a';
	text_normalize(&t, big, n);
	assert_int_equal(t.truncated, 0);
	check_invariants(&t);

	/* Over: cut at the limit. */
	text_normalize(&t, big, n + 16);
	assert_int_equal(t.truncated, 1);
	assert_true(t.plain_len <= TEXT_MAX_INPUT);
	check_invariants(&t);

	/* Cut never splits a character: 'é' across the limit disappears whole. */
	memset(big, 'a', n + 16);
	big[n - 1] = '\xc3';
	big[n] = '\xa9';
	text_normalize(&t, big, n + 16);
	assert_int_equal(t.truncated, 1);
	assert_int_equal(t.plain_len, n - 1);
	assert_null(strstr(t.plain, "\xef\xbf\xbd"));

	/* The worst expansions: all invalid bytes, all emoticons, all entities. */
	memset(big, 0xff, n);
	text_normalize(&t, big, n);
	assert_int_equal(t.plain_len, 3 * n);
	check_invariants(&t);
	for (size_t i = 0; i + 2 <= n; i += 2)
		memcpy(big + i, "<3", 2);
	text_normalize(&t, big, n);
	check_invariants(&t);
	for (size_t i = 0; i < n; i += 3)
		memcpy(big + i, "\xef\xb7\xba", 3); /* U+FDFA decomposes to 18 code points */
	text_normalize(&t, big, n - n % 3);
	check_invariants(&t);
	assert_true(t.n_words > 0);
	free(big);

	/* NULL is an empty post. */
	text_normalize(&t, NULL, 5);
	assert_string_equal(t.norm, " ");
	assert_int_equal(t.n_words, 0);
	text_free(&t);
}

/* Warm buffers are reused: a shorter post does not reallocate. */
static void test_reuse(void **state)
{
	(void)state;
	struct text t;
	text_init(&t);
	const char *a = "a fairly long first post with caf\xc3\xa9 and &amp; entities, to size the buffers";
	text_normalize(&t, a, strlen(a));
	char *norm = t.norm, *plain = t.plain;
	void *scratch = t.scratch;
	const char *b = "short caf\xc3\xa9 &amp;";
	text_normalize(&t, b, strlen(b));
	assert_ptr_equal(t.norm, norm);
	assert_ptr_equal(t.plain, plain);
	assert_ptr_equal(t.scratch, scratch);
	assert_string_equal(t.norm, " short cafe ");
	text_free(&t);
	assert_null(t.norm);
}

/* Random bytes: invariants hold and norm is valid UTF-8. */
static void test_random(void **state)
{
	(void)state;
	struct text t;
	uint64_t x = 88172645463325252ull;
	char buf[512];
	const char *frag[] = {
	    "&amp;", "&#x1F600;", ":)",      "@bob ", "http://x ", "\xc3\xa9",     "\xf0\x9f\x98\x80",
	    "'",     " ",         "A",       "z",     "\xff",      "\xe2\x80\x99", "<3",
	    "&#",    "www.",      "\xcc\x81"};
	text_init(&t);
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		while (len < 400) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (x % 3 == 0) {
				buf[len++] = (char)(x >> 24);
			} else {
				const char *f = frag[(x >> 8) % ARRAY_LEN(frag)];
				memcpy(buf + len, f, strlen(f));
				len += strlen(f);
			}
			if ((x >> 40) % 17 == 0)
				break;
		}
		text_normalize(&t, buf, len);
		check_invariants(&t);
		for (size_t i = 0; i < t.norm_len;) {
			int32_t cp;
			unsigned char c = (unsigned char)t.norm[i];
			size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
			assert_true(i + k <= t.norm_len);
			(void)cp;
			for (size_t j = 1; j < k; j++)
				assert_int_equal((unsigned char)t.norm[i + j] & 0xC0, 0x80);
			i += k;
		}
	}
	text_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),  cmocka_unit_test(test_features), cmocka_unit_test(test_phrase),
	    cmocka_unit_test(test_limits), cmocka_unit_test(test_reuse),    cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
