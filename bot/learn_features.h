/*
 * learn_features.h - what the learner sees of a post: its words, stemmed,
 * the pairs of adjacent words, and the character n-grams of each word.
 *
 * The input is a post normalized by text_normalize() (normalize.h): lower
 * case, accents and punctuation folded, " w1 w2 ... ".  Every feature is a
 * 64-bit hash key (never 0), tagged with its kind so kinds never collide:
 *   - the word, stemmed with Snowball's English stemmer ("delivering",
 *     "delivery" -> "deliveri" / "deliv"...); every number reads as one
 *     feature, so "order 1187" and "order 2291" look alike; emoji and
 *     emoticons are words of their own;
 *   - each pair of adjacent words (their stems): "do deliv", "deliv to";
 *   - the shape of the post: whether it negates ("not", "cant", "unable"),
 *     and how many words it has, so that a class learns that its questions
 *     are never "I cannot ..." or never a single word;
 *   - the character n-grams of each word with its boundaries marked
 *     ("<de", "del", ..., "ry>"), over code points, not bytes, so a
 *     misspelt word ("delivry", "recieved") still shares most of its
 *     n-grams with the right one, in any script.
 * A post is read up to LF_MAX_WORDS words, and a word's n-grams up to
 * LF_MAX_GRAM_CP code points, so the cost of a post is bounded whatever its
 * length.
 *
 * How the features combine into the vector the learner weighs is learn.c's
 * business; this module only says which features a text has.
 *
 * Ownership and threads: a struct learn_features owns its stemmer and its
 * scratch arrays; words point into the struct text given to
 * learn_features_words(), which must outlive their use.  One extractor
 * serves one thread at a time; separate extractors share nothing, so
 * several threads may each use their own.  Nothing here fails: a stemmer
 * that cannot be created (out of memory) leaves words unstemmed.
 */
#ifndef FD_LEARN_FEATURES_H
#define FD_LEARN_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "normalize.h"

#define LF_MAX_WORDS   256 /* words of a post the learner reads */
#define LF_MAX_GRAM_CP 32  /* code points of a word cut into n-grams */
/* Upper bound of the n-grams of one word for n in [gram_min, gram_max]. */
#define LF_MAX_GRAMS(gmin, gmax) ((size_t)((gmax) - (gmin) + 1) * (LF_MAX_GRAM_CP + 2))

/* Word flags. */
#define LF_NUMBER  1u /* only digits: its stem is the one "number" feature */
#define LF_SYMBOL  2u /* an emoji, emoticon or other symbol: no n-grams */
#define LF_NEGATOR 4u /* "not", "cant", "unable", ...: the post says something is not so */

struct lf_word {
	const char *p; /* the word in the text's norm (not NUL-terminated) */
	uint32_t len;  /* bytes */
	uint32_t flags;
	uint64_t key; /* the word as written (normalized), a key of its own kind */
};

struct learn_features {
	int gram_min, gram_max; /* n-gram sizes, in code points (default 3 and 4) */
	struct lf_word *w;      /* words of the last text split */
	size_t n;
	/* private */
	struct sb_stemmer *stemmer;
	size_t cap;
};

/* A ready extractor with n-grams of 3 to 4 code points. */
void learn_features_init(struct learn_features *f);
void learn_features_free(struct learn_features *f);

/* Split t's normalized words into f->w (at most LF_MAX_WORDS); returns f->n. */
size_t learn_features_words(struct learn_features *f, const struct text *t);

/* The stem feature key of word i (the stemmer runs here: call it only when needed). */
uint64_t learn_features_stem(struct learn_features *f, size_t i);

/* The feature key of two adjacent words, from their stem keys. */
uint64_t learn_features_pair(uint64_t stem_a, uint64_t stem_b);

/* The feature key "the post negates" when a word of the last split is a
 * negator, else 0. */
uint64_t learn_features_negation(const struct learn_features *f);

/* The feature key of the last split's length in words, in buckets: 1, 2,
 * 3-4, 5-8, more. */
uint64_t learn_features_length(const struct learn_features *f);

/*
 * The n-gram feature keys of word i into out (room for `max`), duplicates
 * included; returns how many.  Symbols and one-letter words have none.
 */
size_t learn_features_grams(const struct learn_features *f, size_t i, uint64_t *out, size_t max);

#endif
