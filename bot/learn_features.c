/*
 * learn_features.c - words, stems, pairs and character n-grams of a post.
 *
 * Keys are FNV-1a over the feature's bytes, seeded by its kind and finished
 * with a 64-bit mixer so that open-addressing tables keyed on them spread
 * well; 0 is never a key (tables use it for "empty").
 */
#include "learn_features.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util.h"

/* Kinds of key: the first byte hashed. */
enum {
	K_SURFACE = 's',
	K_STEM = 'w',
	K_PAIR = 'p',
	K_GRAM = 'g',
	K_NUMBER = 'n',
	K_NEGATION = 'x',
	K_LENGTH = 'l'
};

/* English negation, as normalize.h writes it (apostrophes dropped), by
 * length: a word is compared only with the negators as long as it is. */
static const char *const negators[9][8] = {
    [2] = {"no", "nt", NULL},
    [3] = {"not", "nor", NULL},
    [4] = {"cant", "dont", "isnt", "wont", "aint", "none", NULL},
    [5] = {"never", "didnt", "arent", "wasnt", "hasnt", "hadnt", NULL},
    [6] = {"unable", "cannot", "doesnt", "werent", "havent", "nobody", NULL},
    [7] = {"neither", "without", "couldnt", "wouldnt", "nothing", NULL},
    [8] = {"shouldnt", NULL},
};

static int is_negator(const char *p, size_t len)
{
	if (len < 2 || len > 8)
		return 0;
	for (const char *const *n = negators[len]; *n; n++)
		if ((*n)[0] == p[0] && memcmp(*n, p, len) == 0)
			return 1;
	return 0;
}

/* Boundary marks of a word in its n-grams: bytes that never occur in norm. */
#define MARK_START 0x01
#define MARK_END   0x02

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x ? x : 1;
}

static inline uint64_t fnv_start(int kind)
{
	return (14695981039346656037ull ^ (uint64_t)(unsigned char)kind) * 1099511628211ull;
}

/* Eight bytes at a time: words are short, and this runs for every word
 * and n-gram of every post. */
static inline uint64_t fnv_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		h = (h ^ v) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	uint64_t v = 0;
	memcpy(&v, s, n);
	h = (h ^ v ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

void learn_features_init(struct learn_features *f)
{
	memset(f, 0, sizeof(*f));
	f->gram_min = 3;
	f->gram_max = 4;
	/* NULL on out of memory: words are then used as they are. */
	f->stemmer = sb_stemmer_new("english", NULL);
}

void learn_features_free(struct learn_features *f)
{
	sb_stemmer_delete(f->stemmer);
	free(f->w);
	memset(f, 0, sizeof(*f));
}

/* Letters or digits start a word; anything else (emoji, ":)") is a symbol. */
static uint32_t word_flags(const char *p, size_t len)
{
	unsigned char c = (unsigned char)p[0];
	if (c < 0x80) {
		if (c >= '0' && c <= '9') {
			for (size_t i = 1; i < len; i++)
				if (p[i] < '0' || p[i] > '9')
					return 0;
			return LF_NUMBER;
		}
		if (c < 'a' || c > 'z')
			return LF_SYMBOL;
		return is_negator(p, len) ? LF_NEGATOR : 0;
	}
	utf8proc_int32_t cp;
	if (utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)len, &cp) <= 0)
		return LF_SYMBOL;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO: return 0;
	default: return LF_SYMBOL;
	}
}

size_t learn_features_words(struct learn_features *f, const struct text *t)
{
	const char *s = t->norm, *end = t->norm + t->norm_len;

	f->n = 0;
	while (s < end && f->n < LF_MAX_WORDS) {
		while (s < end && *s == ' ')
			s++;
		const char *b = s;
		while (s < end && *s != ' ')
			s++;
		if (s == b)
			break;
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 32;
			f->w = xrealloc(f->w, f->cap * sizeof(*f->w));
		}
		struct lf_word *w = &f->w[f->n++];
		w->p = b;
		w->len = (uint32_t)(s - b);
		w->flags = word_flags(b, w->len);
		w->key = mix64(fnv_add(fnv_start(K_SURFACE), b, w->len));
	}
	return f->n;
}

uint64_t learn_features_stem(struct learn_features *f, size_t i)
{
	const struct lf_word *w = &f->w[i];
	if (w->flags & LF_NUMBER)
		return mix64(fnv_start(K_NUMBER));
	const sb_symbol *st = NULL;
	int len = 0;
	/* Symbols and long tokens are their own stem: stemming gains nothing there. */
	if (f->stemmer && !(w->flags & LF_SYMBOL) && w->len <= 64) {
		st = sb_stemmer_stem(f->stemmer, (const sb_symbol *)w->p, (int)w->len);
		len = st ? sb_stemmer_length(f->stemmer) : 0;
	}
	if (!st)
		return mix64(fnv_add(fnv_start(K_STEM), w->p, w->len));
	return mix64(fnv_add(fnv_start(K_STEM), st, (size_t)len));
}

uint64_t learn_features_pair(uint64_t stem_a, uint64_t stem_b)
{
	/* Keys are already well mixed: one more mix of an asymmetric
	 * combination keeps "a b" and "b a" apart. */
	return mix64(stem_a * 0x9e3779b97f4a7c15ull ^ ((stem_b << 23) | (stem_b >> 41)) ^ (uint64_t)K_PAIR);
}

uint64_t learn_features_negation(const struct learn_features *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->w[i].flags & LF_NEGATOR)
			return mix64(fnv_start(K_NEGATION));
	return 0;
}

uint64_t learn_features_length(const struct learn_features *f)
{
	unsigned char bucket = f->n <= 2 ? (unsigned char)f->n : f->n <= 4 ? 3 : f->n <= 8 ? 4 : 5;
	return mix64(fnv_add(fnv_start(K_LENGTH), &bucket, 1));
}

size_t learn_features_grams(const struct learn_features *f, size_t i, uint64_t *out, size_t max)
{
	const struct lf_word *w = &f->w[i];
	/* Code point boundaries of "<word>": marks are one byte each. */
	uint32_t off[LF_MAX_GRAM_CP + 3];
	unsigned char buf[LF_MAX_GRAM_CP * 4 + 2];
	size_t ncp = 0, nb = 0;

	if (w->flags & (LF_SYMBOL | LF_NUMBER))
		return 0;
	buf[nb] = MARK_START;
	off[ncp++] = (uint32_t)nb++;
	for (uint32_t j = 0; j < w->len && ncp <= LF_MAX_GRAM_CP;) {
		unsigned char c = (unsigned char)w->p[j];
		uint32_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (j + l > w->len)
			l = w->len - j; /* cannot happen in norm (valid UTF-8); stay in bounds */
		off[ncp++] = (uint32_t)nb;
		memcpy(buf + nb, w->p + j, l);
		nb += l;
		j += l;
	}
	if (ncp <= 2)
		return 0; /* one code point: the word feature says it all */
	buf[nb] = MARK_END;
	off[ncp++] = (uint32_t)nb++;
	off[ncp] = (uint32_t)nb; /* the end of the last code point */

	size_t k = 0;
	for (int n = f->gram_min; n <= f->gram_max; n++)
		for (size_t a = 0; a + (size_t)n <= ncp && k < max; a++)
			out[k++] =
			    mix64(fnv_add(fnv_start(K_GRAM), buf + off[a], off[a + (size_t)n] - off[a]));
	return k;
}
