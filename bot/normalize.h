/*
 * normalize.h - a customer post's text, normalized once for every matcher.
 *
 * The normalized form `norm` is what rule phrases, the sentiment lexicon and
 * regexes see:
 *   - invalid UTF-8 replaced by U+FFFD; at most TEXT_MAX_INPUT bytes are read;
 *   - HTML entities decoded (&amp; &lt; &#39; &#x1F600; ...);
 *   - URLs (http://, https://, www.) and @mentions (@user, @user@host)
 *     removed and counted; #hashtags keep their word ("#noair" -> "noair");
 *   - Unicode case folding, compatibility decomposition, accents removed
 *     (utf8proc: CASEFOLD | COMPAT | STRIPMARK), so "CAFÉ" -> "cafe";
 *   - letters and digits kept; apostrophes inside words dropped
 *     ("don't" -> "dont"); every other punctuation, symbol, or space is a
 *     word boundary; emoji (Extended_Pictographic and other So symbols) kept
 *     as tokens of their own;
 *   - the common ASCII emoticons kept as tokens: ":)" ":(" ":/" ":d" ";)"
 *     ":p" ":'(" ":|" "<3" "</3" (":-)" -> ":)", ":D" -> ":d", ">:(" -> ":(");
 *   - words separated by exactly one space, with one space at the start and
 *     one at the end: " when are you open on sunday ".  Matching " phrase "
 *     therefore matches whole words only.
 *
 * `plain` is the decoded text with URLs and @mentions removed but case and
 * punctuation kept (for ALL CAPS and "!!!" features and for display).
 *
 * Ownership: a struct text owns its buffers and reuses them across calls to
 * text_normalize(), so a hot loop normalizes without allocating.
 */
#ifndef FD_NORMALIZE_H
#define FD_NORMALIZE_H

#include <stddef.h>

#define TEXT_MAX_INPUT (64u * 1024u)

struct text {
	char *norm; /* normalized, " w1 w2 ... " */
	size_t norm_len;
	char *plain; /* decoded, mentions/URLs removed, case kept */
	size_t plain_len;
	/* features of the raw text */
	int n_words;      /* words in norm */
	int n_mentions;   /* @mentions removed */
	int n_urls;       /* URLs removed */
	int n_letters;    /* cased letters in plain */
	int n_upper;      /* of those, upper case */
	int n_caps_words; /* words of >= 3 letters entirely upper case */
	int exclaim_run;  /* longest run of '!' */
	int question_run; /* longest run of '?' (also counts "?!" mixes) */
	int truncated;    /* input was longer than TEXT_MAX_INPUT */
	/* private: buffer capacities */
	size_t norm_cap, plain_cap;
	void *scratch;
	size_t scratch_cap;
};

void text_init(struct text *t);
void text_free(struct text *t);

/*
 * Normalize `len` bytes of `raw` into t (replacing earlier contents).
 * Never fails on bad input (it is repaired); returns 0.
 */
int text_normalize(struct text *t, const char *raw, size_t len);

/*
 * Normalize a rule phrase or lexicon entry the same way as posts, without
 * the surrounding spaces: "What time  do you OPEN?" -> "what time do you open".
 * Returns a malloc'd string (caller frees); "" when nothing is left.
 */
char *text_normalize_phrase(const char *phrase);

#endif
