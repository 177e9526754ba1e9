/*
 * sentiment.c - lexicon loading and the complaint / negativity / abuse score.
 *
 * An entry such as "(no one|nobody) (answers|answered) ... (call*|email*)"
 * is compiled into slots: a run of plain words, or one choice "(a|b|c)", is
 * a slot; "..." and "*" are gaps between slots; a choice with an empty
 * alternative "(a|)" is an optional slot.  Every alternative of every slot
 * is one literal byte pattern over the normalized text (" word " for whole
 * words, " stem" for "stem*", "end " for "*end"), and all patterns of all
 * entries go into one automaton.  Neighbouring slots are merged into one
 * (their alternatives multiplied out) while that stays small, so patterns
 * are long and rare ("still waiting" rather than "still"), and otherwise
 * kept apart, so the number of patterns grows with the sum of the
 * alternatives, not their product.
 *
 * A post is analysed in one scan: hits become word spans, a slot's hit is
 * chained to a hit of the slot before it (within the gap), an entry matches
 * when its chain is complete, a match inside a longer match is dropped
 * ("not happy" wins over "happy", "idiot proof" over "idiot*"), and what is
 * left is scored in order with its context (negators, intensifiers,
 * contrast words).
 */
#include "sentiment.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "matcher.h"
#include "util.h"

enum kind {
	K_WORD = 0,
	K_COMPLAINT,
	K_ABUSIVE,
	K_NEGATOR,
	K_INTENSIFIER,
	K_CONTRAST,
	K_IGNORE,
	K_CUE,  /* a pattern of a cue family: a feature of the model, not of the score */
	K_VOCAB /* a word or phrase of the model's vocabulary: a feature with its own weight */
};

static const char *const kind_names[] = {"words",    "complaints", "abusive", "negators",  "intensifiers",
                                         "contrast", "ignore",     "cues",    "vocabulary"};

/*
 * The model's features, in the order of its weight vector: these built-in
 * ones, then one per cue family (cue.NAME), then one per vocabulary entry.
 * Names are what the `model.weights` mapping and `frontdesk try` use.
 */
enum feat {
	F_LEX_SCORE = 0, /* the lexicon's score, -1..1 */
	F_LEX_NEG,       /* the negative weights' sum, squashed to 0..1 */
	F_LEX_POS,       /* the positive weights' sum, squashed to 0..1 */
	F_COMPLAINT,     /* complaints entries matched: 0, 1/2, 2/3, ... */
	F_ABUSIVE,       /* an abusive entry matched */
	F_NEGATED_POS,   /* a positive word under a negator: "not happy" */
	F_NEGATED_NEG,   /* a negative word under a negator: "not bad" */
	F_CONTRAST,      /* a contrast word ("but") after which the post turns negative */
	F_MIXED,         /* praise next to a negative word or a complaint: often sarcasm */
	F_EXCLAIM,       /* a '!' */
	F_EXCLAIMS,      /* "!!" or more */
	F_QUESTION,      /* a '?' */
	F_QUESTIONS,     /* "??" or more */
	F_SHOUTING,      /* mostly capitals */
	F_CAPS_WORD,     /* a word of 3+ letters in capitals */
	F_SHORT,         /* 4 words or fewer */
	F_LONG,          /* 25 words or more */
	F_BUILTIN
};

static const char *const feat_names[F_BUILTIN] = {
    "lexicon.score", "lexicon.negative", "lexicon.positive", "complaint",
    "abusive",       "negated.positive", "negated.negative", "contrast",
    "mixed",         "exclaim",          "exclaims",         "question",
    "questions",     "shouting",         "caps.word",        "short",
    "long"};

/* Tuning knobs (the `tuning:` section); documented in rules/lexicon/en.yaml. */
enum knob {
	T_COMPLAINT_WEIGHT = 0,
	T_ABUSIVE_WEIGHT,
	T_NEGATED_POSITIVE,
	T_NEGATED_NEGATIVE,
	T_NEGATION_WINDOW,
	T_BEFORE_CONTRAST,
	T_AFTER_CONTRAST,
	T_SHOUTING,
	T_EXCLAIM,
	T_QUESTION,
	T_POSITIVE_OVERRIDE,
	T_MIXED_POSITIVE,
	T_COUNT
};

static const struct {
	const char *name;
	double def, min, max;
} knobs[T_COUNT] = {
    [T_COMPLAINT_WEIGHT] = {"complaint_weight", -2.5, -5, 0},
    [T_ABUSIVE_WEIGHT] = {"abusive_weight", -3, -5, 0},
    [T_NEGATED_POSITIVE] = {"negated_positive", -0.8, -2, 2},
    [T_NEGATED_NEGATIVE] = {"negated_negative", -0.3, -2, 2},
    [T_NEGATION_WINDOW] = {"negation_window", 2, 0, 8},
    [T_BEFORE_CONTRAST] = {"before_contrast", 0.5, 0, 3},
    [T_AFTER_CONTRAST] = {"after_contrast", 1.5, 0, 3},
    [T_SHOUTING] = {"shouting", 1.3, 0, 3},
    [T_EXCLAIM] = {"exclaim", 1.2, 0, 3},
    [T_QUESTION] = {"question", 1.2, 0, 3},
    [T_POSITIVE_OVERRIDE] = {"positive_override", 0.3, -1, 1},
    [T_MIXED_POSITIVE] = {"mixed_positive", 0.6, 0, 1},
};

#define DEFAULT_THRESHOLD -0.3
#define DEFAULT_STRONG    -0.75
#define MODEL_WEIGHT_MAX  50.0 /* a model weight or bias, either sign */
#define MAX_FAMILIES      64
#define MAX_FAMILY_NAME   32
#define MAX_VOCAB         4096
#define MAX_FIRED         128 /* distinct cue and vocabulary features counted in one post */
#define WEIGHT_MAX        5.0
#define FACTOR_MAX        4.0
/* score = sum / sqrt(sum^2 + SCALE): 1 point is -0.25, 2 points -0.46, 4 points -0.72 */
#define SCALE 15.0

/* Limits of the pattern language, so one entry cannot blow up the automaton. */
#define MAX_ENTRY    2048 /* bytes of one entry as written */
#define MAX_SLOTS    12
#define MAX_ALTS     256 /* alternatives of one slot, after expanding nested choices */
#define MAX_GAP      12
#define GAP_ELLIPSIS 3 /* "..." stands for up to this many words */
#define MAX_PATTERN  256
#define MERGE_MAX    256 /* merge neighbouring slots while the product of alternatives is at most this */

/* Per-call limits: cues past these in a very long post are not looked at. */
#define MAX_HITS    256
#define MAX_MATCHES 256

struct entry {
	char *text;    /* as written in the file: the cue shown in logs */
	char *key;     /* compiled form, identifies a redefinition */
	double weight; /* weight, factor (intensifiers), model weight (vocabulary), or NAN = the
	                  section's default */
	enum kind kind;
	int negatable; /* a negator before it flips it (words only; not emoji, not "negate: false") */
	int file;      /* index of the defining file: a repeat in the same file is an error */
	int feat;      /* cue family (cues) or vocabulary index (vocabulary) */
	int line;      /* where it is defined (in file `file`), for explanations */
};

/* A position in an entry; the slots of an entry have consecutive ids. */
struct slot {
	uint32_t entry;
	uint8_t k;                /* position in the entry */
	uint8_t gap_min, gap_max; /* words allowed between the previous slot and this one */
	uint8_t optional;         /* may be skipped ("(a|)") */
	uint8_t can_start;        /* every slot before it is optional */
	uint8_t can_end;          /* every slot after it is optional: a chain here is a match */
	uint8_t has_next;         /* its hits must be kept for the next slot */
	uint8_t after_required;   /* the slot before it is not optional: it chains to that slot only */
	uint8_t vocab;            /* a slot of a vocabulary entry: a hit is a feature, not a match */
};

/* One automaton pattern: an alternative of a slot. */
struct pat {
	uint32_t slot;
	uint16_t nwords;
	uint8_t trail; /* ends at the word boundary (no "stem*") */
};

struct lexicon {
	struct entry *e;
	size_t n, cap;
	struct slot *slot;
	size_t nslot, slotcap;
	struct pat *pat;
	size_t npat, patcap;
	uint32_t *index; /* open addressing over entries by (kind, key): entry + 1, 0 = free */
	size_t index_cap;
	struct acm *acm;
	int reach; /* the farthest back (in words) a slot may chain to a kept hit */
	double threshold;
	double strong; /* strongly_negative */
	double tune[T_COUNT];
	/* cue families, in order of first appearance */
	char *family[MAX_FAMILIES];
	size_t nfamily;
	size_t nvocab;
	/* the complaint model: weights of the built-in features and of the
	 * families (vocabulary weights live in their entries) */
	int has_model;
	double bias;
	double wb[F_BUILTIN];
	double wf[MAX_FAMILIES];
	uint32_t *vocab_entry;           /* entry of vocabulary feature i */
	double *w;                       /* every feature's weight, in feature order (built at load) */
	char *family_feat[MAX_FAMILIES]; /* "cue.NAME", the families' feature names */
	char **files;                    /* the files loaded, for explanations */
	size_t nfiles;
};

/* ---------- loading ---------- */

/* A `model.weights` entry: its feature may be a cue family of a later file. */
struct pending {
	char *name;
	double w;
	char *file;
	int line, col;
};

struct loader {
	struct lexicon *lx;
	struct diag *d;
	int file;
	char *threshold_at;   /* "file:line" of the threshold, to report a second one */
	char *strong_at;      /* the same for strongly_negative */
	int feat;             /* family or vocabulary index of the entry being added */
	struct pending *pend; /* model weights, resolved once every file is read */
	size_t npend;
	char *knob_at[T_COUNT];
};

static uint64_t entry_hash(enum kind k, const char *key)
{
	unsigned char kb = (unsigned char)k;
	return hash64(key, strlen(key)) ^ (hash64(&kb, 1) * 0x9e3779b97f4a7c15ull);
}

static void index_put(struct lexicon *lx, size_t i)
{
	size_t mask = lx->index_cap - 1;
	size_t h = (size_t)entry_hash(lx->e[i].kind, lx->e[i].key) & mask;
	while (lx->index[h])
		h = (h + 1) & mask;
	lx->index[h] = (uint32_t)(i + 1);
}

static struct entry *index_find(struct lexicon *lx, enum kind k, const char *key)
{
	if (!lx->index_cap)
		return NULL;
	size_t mask = lx->index_cap - 1;
	for (size_t h = (size_t)entry_hash(k, key) & mask; lx->index[h]; h = (h + 1) & mask) {
		struct entry *e = &lx->e[lx->index[h] - 1];
		if (e->kind == k && strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

/* Keep the index at most half full. */
static void index_grow(struct lexicon *lx)
{
	if ((lx->n + 1) * 2 <= lx->index_cap)
		return;
	free(lx->index);
	lx->index_cap = lx->index_cap ? lx->index_cap * 2 : 1024;
	lx->index = xcalloc(lx->index_cap, sizeof(*lx->index));
	for (size_t i = 0; i < lx->n; i++)
		index_put(lx, i);
}

/* An alternative of a slot being compiled: pattern bytes ("" when the
 * alternative is empty, which makes the slot optional). */
struct calt {
	char *s;
	uint16_t nwords;
	uint8_t lead;  /* starts at a word boundary (no "*end") */
	uint8_t trail; /* ends at a word boundary (no "stem*") */
};

struct cslot {
	struct calt *a;
	size_t n;
	int gap_min, gap_max;
};

/* An entry being compiled, before it is committed to the lexicon. */
struct compiled {
	struct cslot slot[MAX_SLOTS];
	size_t nslot;
	char *alt[MAX_ALTS]; /* expansions of the element being compiled */
	size_t nalt;
	int gmin, gmax; /* gap pending before the next slot */
	struct buf key;
	char err[200];
};

static void cslot_free(struct cslot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->a[i].s);
	free(s->a);
	memset(s, 0, sizeof(*s));
}

static void compiled_reset(struct compiled *c)
{
	for (size_t i = 0; i < c->nslot; i++)
		cslot_free(&c->slot[i]);
	for (size_t i = 0; i < c->nalt; i++)
		free(c->alt[i]);
	c->nslot = c->nalt = 0;
	c->gmin = c->gmax = 0;
	buf_reset(&c->key);
	c->err[0] = 0;
}

static void cslot_add(struct cslot *s, char *str, uint16_t nwords, int lead, int trail)
{
	s->a = xrealloc(s->a, (s->n + 1) * sizeof(*s->a));
	s->a[s->n++] = (struct calt){str, nwords, (uint8_t)lead, (uint8_t)trail};
}

/* Index of the ')' matching the '(' at s[i], or -1. */
static long matching_paren(const char *s, size_t i)
{
	int depth = 0;
	for (size_t j = i; s[j]; j++) {
		if (s[j] == '(')
			depth++;
		else if (s[j] == ')' && --depth == 0)
			return (long)j;
	}
	return -1;
}

/* Does s[open+1 .. close-1] have a '|' outside nested parentheses? */
static int has_top_bar(const char *s, size_t open, size_t close)
{
	int depth = 0;
	for (size_t j = open + 1; j < close; j++) {
		if (s[j] == '(')
			depth++;
		else if (s[j] == ')')
			depth--;
		else if (s[j] == '|' && depth == 0)
			return 1;
	}
	return 0;
}

/*
 * Expand the choices of one element ("(no |)(notice|warning)", "charg(e|ed)")
 * into c->alt.  A '(' without a '|' inside ("(sic)") or without a closing
 * ')' (the emoticon ":(") is literal text.  -1 with c->err set.
 */
static int expand(struct compiled *c, const char *s)
{
	for (size_t i = 0; s[i]; i++) {
		if (s[i] != '(')
			continue;
		long close = matching_paren(s, i);
		if (close < 0) {
			if (strchr(s + i, '|')) {
				snprintf(c->err, sizeof(c->err), "unclosed '(' before '|'");
				return -1;
			}
			continue;
		}
		if (!has_top_bar(s, i, (size_t)close))
			continue;
		size_t start = i + 1;
		int depth = 0;
		for (size_t j = i + 1; j <= (size_t)close; j++) {
			int at_end = j == (size_t)close;
			if (!at_end && s[j] == '(')
				depth++;
			else if (!at_end && s[j] == ')')
				depth--;
			if (at_end || (s[j] == '|' && depth == 0)) {
				char *alt = xasprintf("%.*s%.*s%s", (int)i, s, (int)(j - start), s + start,
				                      s + close + 1);
				int rc = expand(c, alt);
				free(alt);
				if (rc < 0)
					return -1;
				start = j + 1;
			}
		}
		return 0;
	}
	if (c->nalt == MAX_ALTS) {
		snprintf(c->err, sizeof(c->err), "a choice with more than %d alternatives; split the entry",
		         MAX_ALTS);
		return -1;
	}
	c->alt[c->nalt++] = xstrdup(s);
	return 0;
}

/* Start a new slot; the pending gap is the distance to the previous one. */
static struct cslot *new_slot(struct compiled *c)
{
	if (c->nslot == MAX_SLOTS) {
		snprintf(c->err, sizeof(c->err), "more than %d parts (words, choices, gaps)", MAX_SLOTS);
		return NULL;
	}
	if (c->gmax > MAX_GAP) {
		snprintf(c->err, sizeof(c->err), "a gap of more than %d words", MAX_GAP);
		return NULL;
	}
	struct cslot *s = &c->slot[c->nslot++];
	memset(s, 0, sizeof(*s));
	s->gap_min = c->gmin;
	s->gap_max = c->gmax;
	c->gmin = c->gmax = 0;
	return s;
}

/*
 * Add one alternative to the current slot: a phrase whose first word may
 * start with '*' (a suffix) and whose last word may end with '*' (a prefix).
 * `text` is modified.  An empty phrase makes the slot optional.
 */
static int add_alternative(struct compiled *c, char *text)
{
	struct cslot *s = &c->slot[c->nslot - 1];
	size_t len = strlen(text);
	int suffix = 0, prefix = 0;

	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = 0;
	while (*text == ' ' || *text == '\t') {
		text++;
		len--;
	}
	if (!len) {
		cslot_add(s, xstrdup(""), 0, 1, 1);
		return 0;
	}
	if (len > 1 && text[len - 1] == '*') {
		prefix = 1;
		text[--len] = 0;
	}
	if (len > 1 && text[0] == '*') {
		suffix = 1;
		text++;
		len--;
	}
	if (strchr(text, '*') || strstr(text, "...")) {
		snprintf(c->err, sizeof(c->err),
		         "'*' may only open or close a phrase, and '...' stand between words ('%s')", text);
		return -1;
	}
	char *norm = text_normalize_phrase(text);
	if (!norm[0]) {
		snprintf(c->err, sizeof(c->err), "'%s' has no words left after normalization", text);
		free(norm);
		return -1;
	}
	if ((prefix || suffix) && strlen(norm) < 2) {
		snprintf(c->err, sizeof(c->err), "a wildcard needs at least 2 letters ('%s')", norm);
		free(norm);
		return -1;
	}
	uint16_t nwords = 1;
	for (const char *p = norm; *p; p++)
		nwords += *p == ' ';
	char *pat = xasprintf("%s%s%s", suffix ? "" : " ", norm, prefix ? "" : " ");
	free(norm);
	if (strlen(pat) > MAX_PATTERN) {
		snprintf(c->err, sizeof(c->err), "a phrase longer than %d bytes", MAX_PATTERN);
		free(pat);
		return -1;
	}
	cslot_add(s, pat, nwords, !suffix, !prefix);
	return 0;
}

/* A run of plain words: one slot, or several adjacent ones where a
 * wildcard sits inside the run ("charg* twice" is " charg" then " twice "). */
static int add_words(struct compiled *c, struct buf *run)
{
	char *p = run->p;

	while (p && *p) {
		char *cut = NULL;
		for (char *w = p; *w;) {
			char *e = strchr(w, ' ');
			size_t wl = e ? (size_t)(e - w) : strlen(w);
			if (w != p && *w == '*') { /* "*end" opens a new slot */
				cut = w - 1;
				break;
			}
			if (wl > 1 && w[wl - 1] == '*' && e) { /* "stem*" closes this one */
				cut = e;
				break;
			}
			w = e ? e + 1 : w + wl;
		}
		if (cut)
			*cut = 0;
		if (!new_slot(c) || add_alternative(c, p) < 0)
			return -1;
		if (!cut)
			break;
		p = cut + 1;
	}
	buf_reset(run);
	return 0;
}

/* Can slots i and i+1 become one slot of concatenated alternatives? */
static size_t merge_cost(const struct compiled *c, size_t i)
{
	const struct cslot *l = &c->slot[i], *r = &c->slot[i + 1];

	if (r->gap_max > 0)
		return SIZE_MAX;
	for (size_t j = 0; j < l->n; j++)
		if (l->a[j].nwords && !l->a[j].trail)
			return SIZE_MAX;
	for (size_t j = 0; j < r->n; j++)
		if (r->a[j].nwords && !r->a[j].lead)
			return SIZE_MAX;
	return l->n * r->n;
}

/*
 * Merge adjacent slots into one while the product of their alternatives
 * stays small: "still (waiting|no reply)" becomes the two patterns
 * " still waiting " and " still no reply ", which occur far more rarely
 * than " still " and so cost less to chain at scan time.
 */
static void merge_slots(struct compiled *c)
{
	for (;;) {
		size_t best = SIZE_MAX, at = 0;
		for (size_t i = 0; i + 1 < c->nslot; i++) {
			size_t cost = merge_cost(c, i);
			if (cost < best) {
				best = cost;
				at = i;
			}
		}
		if (best > MERGE_MAX)
			return;
		struct cslot *l = &c->slot[at], *r = &c->slot[at + 1], m = {0};
		m.gap_min = l->gap_min;
		m.gap_max = l->gap_max;
		for (size_t i = 0; i < l->n; i++) {
			for (size_t j = 0; j < r->n; j++) {
				const struct calt *x = &l->a[i], *y = &r->a[j];
				if (!x->nwords)
					cslot_add(&m, xstrdup(y->s), y->nwords, y->lead, y->trail);
				else if (!y->nwords)
					cslot_add(&m, xstrdup(x->s), x->nwords, x->lead, x->trail);
				else
					cslot_add(&m, xasprintf("%.*s%s", (int)strlen(x->s) - 1, x->s, y->s),
					          (uint16_t)(x->nwords + y->nwords), x->lead, y->trail);
			}
		}
		cslot_free(l);
		cslot_free(r);
		*l = m;
		memmove(r, r + 1, (c->nslot - at - 2) * sizeof(*r));
		c->nslot--;
		memset(&c->slot[c->nslot], 0, sizeof(c->slot[0]));
	}
}

static int slot_optional(const struct cslot *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->a[i].nwords)
			return 1;
	return 0;
}

/*
 * Compile an entry into c: split it into elements at the spaces outside
 * parentheses; "..." and "*" are gaps, runs of plain words become one slot,
 * an element with a choice becomes a slot whose alternatives are its
 * expansions; then small neighbouring slots are merged.
 */
static int compile_entry(struct compiled *c, const char *src)
{
	struct buf run, el;
	const char *p = src;
	int rc = -1;

	buf_init(&run, 0);
	buf_init(&el, 0);
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t') {
			long close = *p == '(' ? matching_paren(src, (size_t)(p - src)) : -1;
			p = close > 0 ? src + close + 1 : p + 1;
		}
		size_t len = (size_t)(p - w);
		int star = len == 1 && *w == '*';
		if (star || (len == 3 && !memcmp(w, "...", 3))) {
			if (add_words(c, &run) < 0)
				goto out;
			if (!c->nslot) {
				snprintf(c->err, sizeof(c->err),
				         "a gap ('...' or '*') must stand between words");
				goto out;
			}
			c->gmin += star ? 1 : 0;
			c->gmax += star ? 1 : GAP_ELLIPSIS;
			continue;
		}
		buf_reset(&el);
		buf_append(&el, w, len);
		for (size_t i = 0; i < c->nalt; i++)
			free(c->alt[i]);
		c->nalt = 0;
		if (expand(c, el.p) < 0)
			goto out;
		if (c->nalt == 1 && !strchr(c->alt[0], ' ')) {
			if (run.len)
				buf_putc(&run, ' ');
			buf_puts(&run, c->alt[0]);
			continue;
		}
		if (add_words(c, &run) < 0 || !new_slot(c))
			goto out;
		for (size_t i = 0; i < c->nalt; i++)
			if (add_alternative(c, c->alt[i]) < 0)
				goto out;
	}
	if (add_words(c, &run) < 0)
		goto out;
	if (c->gmax) {
		snprintf(c->err, sizeof(c->err), "a gap ('...' or '*') must stand between words");
		goto out;
	}
	int all_optional = 1;
	for (size_t i = 0; i < c->nslot; i++)
		all_optional &= slot_optional(&c->slot[i]);
	if (!c->nslot || all_optional) {
		snprintf(c->err, sizeof(c->err), "the entry can match nothing");
		goto out;
	}
	merge_slots(c);
	for (size_t i = 0; i < c->nslot; i++) {
		const struct cslot *s = &c->slot[i];
		buf_printf(&c->key, "[%d,%d]", s->gap_min, s->gap_max);
		for (size_t j = 0; j < s->n; j++)
			buf_printf(&c->key, "%s|", s->a[j].s);
	}
	rc = 0;
out:
	buf_free(&run);
	buf_free(&el);
	return rc;
}

/* Does the entry start with a letter or digit?  Negators flip words, not
 * emoji or emoticons ("didn't work 😡" is not a happy post). */
static int starts_with_word(const struct compiled *c)
{
	const struct cslot *s = &c->slot[0];
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->a[i].s + (s->a[i].lead ? 1 : 0);
		utf8proc_int32_t cp;
		if (!s->a[i].nwords || utf8proc_iterate((const utf8proc_uint8_t *)p, -1, &cp) <= 0)
			continue;
		utf8proc_category_t cat = utf8proc_category(cp);
		return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
		       (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
	}
	return 0;
}

/*
 * Compile `text` (a node's scalar) and add it as an entry of kind k, or
 * update the weight of the same entry defined by an earlier file.  `negate`
 * is 0 or 1 as the file says, or -1 to decide from the entry.  Errors are
 * reported at node n.
 */
static void add_entry(struct loader *ld, struct compiled *c, struct yml_doc *y, yaml_node_t *n, enum kind k,
                      const char *text, double weight, int negate)
{
	struct lexicon *lx = ld->lx;

	compiled_reset(c);
	if (strlen(text) > MAX_ENTRY) {
		yml_error(ld->d, y, n, "%s entry longer than %d bytes; split it", kind_names[k], MAX_ENTRY);
		return;
	}
	if (compile_entry(c, text) < 0) {
		yml_error(ld->d, y, n, "%s entry '%s': %s", kind_names[k], text, c->err);
		compiled_reset(c);
		return;
	}
	struct entry *old = index_find(lx, k, c->key.p);
	if (old) {
		if (old->file == ld->file)
			yml_error(ld->d, y, n, "%s entry '%s' is listed twice in this file (also as '%s')",
			          kind_names[k], text, old->text);
		old->weight = weight;
		old->negatable = (k == K_WORD || k == K_CUE) && (negate >= 0 ? negate : starts_with_word(c));
		old->file = ld->file;
		old->line = (int)n->start_mark.line + 1;
		if (k == K_CUE)
			old->feat = ld->feat; /* moved to this file's family */
		compiled_reset(c);
		return;
	}
	if (k == K_VOCAB && lx->nvocab == MAX_VOCAB) {
		yml_error(ld->d, y, n, "more than %d vocabulary entries", MAX_VOCAB);
		compiled_reset(c);
		return;
	}
	if (lx->n == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 256;
		lx->e = xrealloc(lx->e, lx->cap * sizeof(*lx->e));
	}
	size_t npat = 0;
	for (size_t i = 0; i < c->nslot; i++)
		npat += c->slot[i].n;
	while (lx->nslot + c->nslot > lx->slotcap) {
		lx->slotcap = lx->slotcap ? lx->slotcap * 2 : 1024;
		lx->slot = xrealloc(lx->slot, lx->slotcap * sizeof(*lx->slot));
	}
	while (lx->npat + npat > lx->patcap) {
		lx->patcap = lx->patcap ? lx->patcap * 2 : 4096;
		lx->pat = xrealloc(lx->pat, lx->patcap * sizeof(*lx->pat));
	}
	index_grow(lx);
	struct entry *e = &lx->e[lx->n];
	e->text = xstrdup(text);
	e->key = xstrdup(c->key.p);
	e->weight = weight;
	e->kind = k;
	e->negatable = (k == K_WORD || k == K_CUE) && (negate >= 0 ? negate : starts_with_word(c));
	e->file = ld->file;
	e->line = (int)n->start_mark.line + 1;
	e->feat = k == K_VOCAB ? (int)lx->nvocab++ : ld->feat;
	for (size_t i = 0; i < c->nslot; i++) {
		const struct cslot *cs = &c->slot[i];
		struct slot *s = &lx->slot[lx->nslot + i];
		memset(s, 0, sizeof(*s));
		s->entry = (uint32_t)lx->n;
		s->k = (uint8_t)i;
		s->gap_min = (uint8_t)cs->gap_min;
		s->gap_max = (uint8_t)cs->gap_max;
		s->optional = (uint8_t)slot_optional(cs);
		s->can_start = i == 0 || (s[-1].can_start && s[-1].optional);
		s->after_required = i > 0 && !s[-1].optional;
		s->vocab = k == K_VOCAB;
		s->has_next = i + 1 < c->nslot;
		for (size_t j = 0; j < cs->n; j++) {
			const struct calt *ca = &cs->a[j];
			if (!ca->nwords)
				continue;
			lx->pat[lx->npat] = (struct pat){(uint32_t)(lx->nslot + i), ca->nwords, ca->trail};
			if (acm_add(lx->acm, ca->s, strlen(ca->s), (uint32_t)lx->npat) < 0)
				yml_error(ld->d, y, n, "%s entry '%s': the matcher refused a phrase",
				          kind_names[k], text);
			lx->npat++;
		}
	}
	for (size_t i = c->nslot; i-- > 0;) {
		struct slot *s = &lx->slot[lx->nslot + i];
		s->can_end = i + 1 == c->nslot || (s[1].can_end && s[1].optional);
	}
	/* A slot after optional ones may chain over all of them (chain_start). */
	for (int i = 0, reach = 0; i < (int)c->nslot; i++) {
		const struct slot *s = &lx->slot[lx->nslot + (size_t)i];
		reach = s->gap_max + (i > 0 && s[-1].optional ? reach : 0);
		if (reach > lx->reach)
			lx->reach = reach;
	}
	lx->nslot += c->nslot;
	index_put(lx, lx->n);
	lx->n++;
	compiled_reset(c);
}

/* A number within [min, max], or report at n and return -1. */
static int want_number(struct loader *ld, struct yml_doc *y, yaml_node_t *n, double min, double max,
                       const char *what, double *out)
{
	const char *s = yml_scalar(n);
	char *end;

	if (s && *s) {
		errno = 0;
		double v = strtod(s, &end);
		if (!*end && !errno && isfinite(v) && v >= min && v <= max) {
			*out = v;
			return 0;
		}
	}
	yml_error(ld->d, y, n, "expected a number from %g to %g for %s", min, max, what);
	return -1;
}

/*
 * A section is a list of entries (each with the section's default weight)
 * or, where weights make sense, a mapping entry: weight.
 */
static void load_section(struct loader *ld, struct compiled *c, struct yml_doc *y, yaml_node_t *sec,
                         enum kind k)
{
	const char *name = kind_names[k];
	int weighted = k == K_WORD || k == K_COMPLAINT || k == K_ABUSIVE || k == K_INTENSIFIER;
	int must_weigh = k == K_WORD || k == K_INTENSIFIER;
	yaml_node_t *key, *val;

	if (sec->type == YAML_SEQUENCE_NODE && !must_weigh) {
		for (int i = 0; i < yml_len(sec); i++) {
			yaml_node_t *it = yml_item(y, sec, i);
			const char *s = yml_want_str(ld->d, y, it, name);
			if (s)
				add_entry(ld, c, y, it, k, s, NAN, -1);
		}
		return;
	}
	if (sec->type != YAML_MAPPING_NODE || !weighted) {
		if (must_weigh)
			yml_error(ld->d, y, sec, "expected a mapping 'phrase: %s' for %s",
			          k == K_WORD ? "weight" : "factor", name);
		else if (weighted)
			yml_error(ld->d, y, sec,
			          "expected a list of phrases or a mapping 'phrase: weight' for %s", name);
		else
			yml_error(ld->d, y, sec, "expected a list of phrases for %s", name);
		return;
	}
	for (int i = 0; yml_pair(y, sec, i, &key, &val); i++) {
		const char *s = yml_want_str(ld->d, y, key, name);
		double w;
		int bad, negate = -1;
		if (k == K_WORD && val->type == YAML_MAPPING_NODE) {
			/* "thanks": { weight: 2, negate: false } */
			static const char *const wkeys[] = {"weight", "negate", NULL};
			yaml_node_t *wn = yml_get(y, val, "weight"), *nn = yml_get(y, val, "negate");
			bad = yml_check_keys(ld->d, y, val, wkeys, "a word") > 0;
			if (!wn) {
				yml_error(ld->d, y, val, "a word given as a mapping needs 'weight'");
				bad = 1;
			} else if (want_number(ld, y, wn, -WEIGHT_MAX, WEIGHT_MAX, "a word's weight", &w) <
			           0) {
				bad = 1;
			}
			if (nn && yml_want_bool(ld->d, y, nn, &negate) < 0)
				bad = 1;
		} else if (k == K_INTENSIFIER)
			bad = want_number(ld, y, val, 0, FACTOR_MAX, "an intensifier's factor", &w);
		else if (k == K_WORD)
			bad = want_number(ld, y, val, -WEIGHT_MAX, WEIGHT_MAX, "a word's weight", &w);
		else
			bad = want_number(ld, y, val, -WEIGHT_MAX, 0, "a weight (negative)", &w);
		if (s && !bad)
			add_entry(ld, c, y, key, k, s, w, negate);
	}
}

/* The index of cue family `name`, added if new; -1 (reported at n) when the
 * name is not a-z, 0-9 and _ or there are too many families. */
static int family_index(struct loader *ld, struct yml_doc *y, yaml_node_t *n, const char *name)
{
	struct lexicon *lx = ld->lx;
	size_t len = strlen(name);
	int ok = len > 0 && len <= MAX_FAMILY_NAME;

	for (size_t i = 0; ok && i < len; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		     name[i] == '_';
	if (!ok) {
		yml_error(ld->d, y, n,
		          "a cue family's name is 1 to %d of a-z, 0-9 and _ (like 'failure'), not '%s'",
		          MAX_FAMILY_NAME, name);
		return -1;
	}
	for (size_t i = 0; i < lx->nfamily; i++)
		if (!strcmp(lx->family[i], name))
			return (int)i;
	if (lx->nfamily == MAX_FAMILIES) {
		yml_error(ld->d, y, n, "more than %d cue families", MAX_FAMILIES);
		return -1;
	}
	lx->family[lx->nfamily] = xstrdup(name);
	return (int)lx->nfamily++;
}

/* cues: { family: [pattern, ...], ... } */
static void load_cues(struct loader *ld, struct compiled *c, struct yml_doc *y, yaml_node_t *sec)
{
	yaml_node_t *key, *val;

	if (yml_want_map(ld->d, y, sec, "cues (a mapping 'family: [phrases]')") < 0)
		return;
	for (int i = 0; yml_pair(y, sec, i, &key, &val); i++) {
		const char *name = yml_want_str(ld->d, y, key, "a cue family");
		if (!name || yml_want_seq(ld->d, y, val, "a cue family's phrases") < 0)
			continue;
		int f = family_index(ld, y, key, name);
		if (f < 0)
			continue;
		for (int j = 0; j < yml_len(val); j++) {
			yaml_node_t *it = yml_item(y, val, j);
			const char *p = yml_want_str(ld->d, y, it, "cues");
			ld->feat = f;
			if (p)
				add_entry(ld, c, y, it, K_CUE, p, 0, -1);
		}
	}
}

/*
 * model: { bias: N, weights: { feature: N, ... }, vocabulary: { phrase: N, ... } }
 * Feature names are checked once every file is read (a family may come
 * later); vocabulary phrases are compiled like any lexicon entry.
 */
static void load_model(struct loader *ld, struct compiled *c, struct yml_doc *y, yaml_node_t *sec)
{
	static const char *const keys[] = {"bias", "weights", "vocabulary", NULL};
	struct lexicon *lx = ld->lx;
	yaml_node_t *n, *key, *val;

	if (yml_want_map(ld->d, y, sec, "model") < 0)
		return;
	yml_check_keys(ld->d, y, sec, keys, "model");
	lx->has_model = 1;
	if ((n = yml_get(y, sec, "bias")))
		want_number(ld, y, n, -MODEL_WEIGHT_MAX, MODEL_WEIGHT_MAX, "the model's bias", &lx->bias);
	if ((n = yml_get(y, sec, "weights")) &&
	    yml_want_map(ld->d, y, n, "model.weights (a mapping 'feature: weight')") == 0) {
		for (int i = 0; yml_pair(y, n, i, &key, &val); i++) {
			const char *name = yml_want_str(ld->d, y, key, "a feature");
			double w;
			if (!name || want_number(ld, y, val, -MODEL_WEIGHT_MAX, MODEL_WEIGHT_MAX,
			                         "a feature's weight", &w) < 0)
				continue;
			ld->pend = xrealloc(ld->pend, (ld->npend + 1) * sizeof(*ld->pend));
			ld->pend[ld->npend++] =
			    (struct pending){xstrdup(name), w, xstrdup(y->file),
			                     (int)key->start_mark.line + 1, (int)key->start_mark.column + 1};
		}
	}
	if ((n = yml_get(y, sec, "vocabulary")) &&
	    yml_want_map(ld->d, y, n, "model.vocabulary (a mapping 'phrase: weight')") == 0) {
		for (int i = 0; yml_pair(y, n, i, &key, &val); i++) {
			const char *p = yml_want_str(ld->d, y, key, "vocabulary");
			double w;
			if (p && want_number(ld, y, val, -MODEL_WEIGHT_MAX, MODEL_WEIGHT_MAX,
			                     "a vocabulary weight", &w) == 0)
				add_entry(ld, c, y, key, K_VOCAB, p, w, -1);
		}
	}
}

/* Give every `model.weights` entry its feature, or report it unknown. */
static void resolve_weights(struct loader *ld)
{
	struct lexicon *lx = ld->lx;
	const char *names[F_BUILTIN + MAX_FAMILIES + 1];
	char *fnames[MAX_FAMILIES];
	size_t nn = 0;

	for (size_t i = 0; i < F_BUILTIN; i++)
		names[nn++] = feat_names[i];
	for (size_t i = 0; i < lx->nfamily; i++)
		names[nn++] = fnames[i] = xasprintf("cue.%s", lx->family[i]);
	names[nn] = NULL;
	for (size_t i = 0; i < ld->npend; i++) {
		const struct pending *p = &ld->pend[i];
		size_t j = 0;
		while (j < nn && strcmp(names[j], p->name) != 0)
			j++;
		if (j < F_BUILTIN) {
			lx->wb[j] = p->w;
		} else if (j < nn) {
			lx->wf[j - F_BUILTIN] = p->w;
		} else {
			const char *sug = did_you_mean(p->name, names);
			if (sug)
				diag_error(ld->d, p->file, p->line, p->col,
				           "unknown feature '%s' in model.weights (did you mean '%s'?)",
				           p->name, sug);
			else
				diag_error(
				    ld->d, p->file, p->line, p->col,
				    "unknown feature '%s' in model.weights (expected a built-in feature "
				    "or cue.FAMILY for a family of the cues: sections)",
				    p->name);
		}
	}
	for (size_t i = 0; i < lx->nfamily; i++)
		free(fnames[i]);
	for (size_t i = 0; i < ld->npend; i++) {
		free(ld->pend[i].name);
		free(ld->pend[i].file);
	}
	free(ld->pend);
	ld->pend = NULL;
	ld->npend = 0;
}

static void load_tuning(struct loader *ld, struct yml_doc *y, yaml_node_t *sec)
{
	const char *names[T_COUNT + 1];
	yaml_node_t *key, *val;

	if (yml_want_map(ld->d, y, sec, "tuning") < 0)
		return;
	for (int i = 0; i < T_COUNT; i++)
		names[i] = knobs[i].name;
	names[T_COUNT] = NULL;
	yml_check_keys(ld->d, y, sec, names, "tuning");
	for (int i = 0; yml_pair(y, sec, i, &key, &val); i++) {
		const char *s = yml_scalar(key);
		for (int j = 0; s && j < T_COUNT; j++) {
			if (strcmp(s, knobs[j].name) != 0)
				continue;
			if (ld->knob_at[j]) {
				yml_error(ld->d, y, key, "tuning '%s' is already set at %s", s,
				          ld->knob_at[j]);
				break;
			}
			if (want_number(ld, y, val, knobs[j].min, knobs[j].max, s, &ld->lx->tune[j]) == 0)
				ld->knob_at[j] = xasprintf("%s:%d", y->file, (int)key->start_mark.line + 1);
		}
	}
}

static void load_file(struct loader *ld, struct compiled *c, const char *path)
{
	static const char *const top[] = {
	    "threshold", "strongly_negative", "tuning",       "cues",     "model",  "words", "complaints",
	    "abusive",   "negators",          "intensifiers", "contrast", "ignore", NULL};
	static const enum kind top_kind[] = {
	    0, 0, 0, 0, 0, K_WORD, K_COMPLAINT, K_ABUSIVE, K_NEGATOR, K_INTENSIFIER, K_CONTRAST, K_IGNORE};
	struct yml_doc y;
	yaml_node_t *root, *key, *val;

	if (yml_load_file(&y, path, ld->d) < 0) {
		yml_free(&y);
		return;
	}
	root = yml_root(&y);
	if (!root) {
		yml_free(&y);
		return; /* an empty file adds nothing */
	}
	if (yml_want_map(ld->d, &y, root, "a lexicon file") < 0) {
		yml_free(&y);
		return;
	}
	yml_check_keys(ld->d, &y, root, top, "a lexicon file");
	for (int i = 0; yml_pair(&y, root, i, &key, &val); i++) {
		const char *s = yml_scalar(key);
		if (!s)
			continue;
		if (strcmp(s, "threshold") == 0) {
			if (ld->threshold_at) {
				yml_error(ld->d, &y, key, "threshold is already set at %s", ld->threshold_at);
				continue;
			}
			if (want_number(ld, &y, val, -1, 1, "threshold", &ld->lx->threshold) == 0)
				ld->threshold_at = xasprintf("%s:%d", y.file, (int)key->start_mark.line + 1);
			continue;
		}
		if (strcmp(s, "strongly_negative") == 0) {
			if (ld->strong_at) {
				yml_error(ld->d, &y, key, "strongly_negative is already set at %s",
				          ld->strong_at);
				continue;
			}
			if (want_number(ld, &y, val, -1, 1, "strongly_negative", &ld->lx->strong) == 0)
				ld->strong_at = xasprintf("%s:%d", y.file, (int)key->start_mark.line + 1);
			continue;
		}
		if (strcmp(s, "tuning") == 0) {
			load_tuning(ld, &y, val);
			continue;
		}
		if (strcmp(s, "cues") == 0) {
			load_cues(ld, c, &y, val);
			continue;
		}
		if (strcmp(s, "model") == 0) {
			load_model(ld, c, &y, val);
			continue;
		}
		for (size_t j = 5; top[j]; j++)
			if (strcmp(s, top[j]) == 0)
				load_section(ld, c, &y, val, top_kind[j]);
	}
	yml_free(&y);
}

struct lexicon *lexicon_load(char *const *files, struct diag *d)
{
	struct lexicon *lx = xcalloc(1, sizeof(*lx));
	struct loader ld = {.lx = lx, .d = d};
	struct compiled *c = xcalloc(1, sizeof(*c));
	int errors = d->errors;

	lx->acm = acm_new();
	lx->threshold = DEFAULT_THRESHOLD;
	lx->strong = DEFAULT_STRONG;
	for (int i = 0; i < T_COUNT; i++)
		lx->tune[i] = knobs[i].def;
	buf_init(&c->key, 0);
	if (!files || !files[0])
		diag_error(d, "lexicon", 0, 0, "no lexicon files given");
	for (size_t i = 0; files && files[i]; i++) {
		ld.file = (int)i;
		lx->files = xrealloc(lx->files, (i + 1) * sizeof(*lx->files));
		lx->files[i] = xstrdup(files[i]);
		lx->nfiles = i + 1;
		load_file(&ld, c, files[i]);
	}
	compiled_reset(c);
	buf_free(&c->key);
	free(c);
	resolve_weights(&ld);
	free(ld.threshold_at);
	free(ld.strong_at);
	for (int i = 0; i < T_COUNT; i++)
		free(ld.knob_at[i]);
	if (d->errors > errors) {
		lexicon_free(lx);
		return NULL;
	}
	/* List-form entries take their section's default weight, known only now
	 * that every file's tuning has been read. */
	for (size_t i = 0; i < lx->n; i++) {
		struct entry *e = &lx->e[i];
		if (!isnan(e->weight))
			continue;
		if (e->kind == K_COMPLAINT)
			e->weight = lx->tune[T_COMPLAINT_WEIGHT];
		else if (e->kind == K_ABUSIVE)
			e->weight = lx->tune[T_ABUSIVE_WEIGHT];
		else
			e->weight = 0;
	}
	lx->vocab_entry = xcalloc(lx->nvocab ? lx->nvocab : 1, sizeof(*lx->vocab_entry));
	for (size_t i = 0; i < lx->nfamily; i++)
		lx->family_feat[i] = xasprintf("cue.%s", lx->family[i]);
	lx->w = xcalloc(F_BUILTIN + lx->nfamily + lx->nvocab, sizeof(*lx->w));
	memcpy(lx->w, lx->wb, sizeof(lx->wb));
	memcpy(lx->w + F_BUILTIN, lx->wf, lx->nfamily * sizeof(*lx->w));
	for (size_t i = 0; i < lx->n; i++)
		if (lx->e[i].kind == K_VOCAB)
			lx->vocab_entry[lx->e[i].feat] = (uint32_t)i;
	for (size_t i = 0; i < lx->nvocab; i++)
		lx->w[F_BUILTIN + lx->nfamily + i] = lx->e[lx->vocab_entry[i]].weight;
	acm_build(lx->acm);
	return lx;
}

void lexicon_free(struct lexicon *lx)
{
	if (!lx)
		return;
	for (size_t i = 0; i < lx->n; i++) {
		free(lx->e[i].text);
		free(lx->e[i].key);
	}
	free(lx->e);
	free(lx->slot);
	free(lx->pat);
	free(lx->index);
	for (size_t i = 0; i < lx->nfamily; i++) {
		free(lx->family[i]);
		free(lx->family_feat[i]);
	}
	free(lx->vocab_entry);
	free(lx->w);
	for (size_t i = 0; i < lx->nfiles; i++)
		free(lx->files[i]);
	free(lx->files);
	acm_free(lx->acm);
	free(lx);
}

double lexicon_threshold(const struct lexicon *lx)
{
	return lx->threshold;
}

double lexicon_strong(const struct lexicon *lx)
{
	return lx->strong;
}

size_t lexicon_entries(const struct lexicon *lx)
{
	return lx->n;
}

/* ---------- analysis ---------- */

/* A slot seen in the text that the next slots of its entry may chain to. */
struct hit {
	uint32_t slot;
	int start; /* first word of the whole chain so far */
	int last;  /* last word of this slot */
};

/* A whole entry found in the text, words first..last. */
struct match {
	uint32_t entry;
	int first, last;
	int dropped; /* inside a longer match */
};

struct scan {
	const struct lexicon *lx;
	const char *s;
	size_t pos; /* bytes of s counted into `spaces` */
	int spaces;
	struct hit h[MAX_HITS];
	int nh;
	uint64_t kept[4]; /* a 256-bit filter of the slots in h: most hits of a later
	                     slot find nothing to chain to, and this says so at once */
	struct match m[MAX_MATCHES];
	int nm;
	/* vocabulary entries found (each once): plain presence, no context */
	struct {
		uint32_t entry;
		int first, last;
	} v[MAX_FIRED];
	int nv;
};

static unsigned kept_bit(uint32_t slot)
{
	return (slot * 0x9E3779B1u) >> 24;
}

static void add_match(struct scan *sc, uint32_t entry, int first, int last)
{
	for (int i = sc->nm - 1; i >= 0 && sc->m[i].last == last; i--)
		if (sc->m[i].entry == entry && sc->m[i].first == first)
			return; /* two alternatives of one entry on the same words */
	if (sc->nm < MAX_MATCHES)
		sc->m[sc->nm++] = (struct match){entry, first, last, 0};
}

/*
 * Find where a hit of slot id starting at word `first` chains from: a kept
 * hit of the previous slot ending within the gap, or of an earlier slot when
 * everything in between is optional.  Returns the chain's first word, or -1.
 */
static int chain_start(const struct scan *sc, uint32_t id, int first)
{
	const struct slot *sl = sc->lx->slot;
	int gmin = sl[id].gap_min, gmax = sl[id].gap_max;

	for (uint32_t k = id; sl[k].k > 0; k--) {
		for (int i = sc->nh - 1; i >= 0; i--) {
			const struct hit *p = &sc->h[i];
			if (p->last < first - 1 - gmax)
				break;
			int gap = first - p->last - 1;
			if (p->slot == k - 1 && gap >= gmin && gap <= gmax)
				return p->start;
		}
		if (!sl[k - 1].optional)
			break;
		gmin += sl[k - 1].gap_min;
		gmax += sl[k - 1].gap_max;
	}
	return sl[id].can_start ? first : -1;
}

/* Make room in a long post: drop kept hits too far back to chain to
 * anything that starts at word `first` or later. */
static void forget_hits(struct scan *sc, int first)
{
	int n = 0;
	for (int i = 0; i < sc->nh; i++)
		if (sc->h[i].last >= first - 1 - sc->lx->reach)
			sc->h[n++] = sc->h[i];
	sc->nh = n;
}

/*
 * Automaton callback.  Word positions come from counting the separator
 * spaces of the normalized text up to the end of the hit; the automaton
 * reports hits in order of their end, so counting resumes where it stopped.
 */
static int on_hit(void *ctx, uint32_t id, size_t end)
{
	struct scan *sc = ctx;
	const struct pat *pt = &sc->lx->pat[id];
	const struct slot *sl = &sc->lx->slot[pt->slot];
	const char *s = sc->s;
	size_t pos = sc->pos;
	int spaces = sc->spaces;

	if (!sl->can_start) {
		/* nothing to chain to yet: the common case for a later slot */
		unsigned b = sl->after_required ? kept_bit(pt->slot - 1) : 0;
		if (sc->nh == 0 || (sl->after_required && !(sc->kept[b >> 6] >> (b & 63) & 1)))
			return 0;
	}
	if (end < pos)
		pos = spaces = 0;
	for (; pos < end; pos++)
		spaces += s[pos] == ' ';
	sc->pos = pos;
	sc->spaces = spaces;
	int last = spaces - (pt->trail ? 2 : 1);
	int first = last - (pt->nwords - 1);
	int start = chain_start(sc, pt->slot, first);

	if (start < 0)
		return 0;
	if (sl->can_end && sl->vocab) {
		int i = 0;
		while (i < sc->nv && sc->v[i].entry != sl->entry)
			i++;
		if (i == sc->nv && sc->nv < MAX_FIRED) {
			sc->v[i].entry = sl->entry;
			sc->v[i].first = start;
			sc->v[i].last = last;
			sc->nv++;
		}
	} else if (sl->can_end) {
		add_match(sc, sl->entry, start, last);
	}
	if (sl->has_next) {
		if (sc->nh == MAX_HITS)
			forget_hits(sc, first);
		if (sc->nh < MAX_HITS) {
			unsigned b = kept_bit(pt->slot);
			sc->h[sc->nh++] = (struct hit){pt->slot, start, last};
			sc->kept[b >> 6] |= 1ull << (b & 63);
		}
	}
	return sc->nm >= MAX_MATCHES;
}

/* Is match a hidden by match b?  A match inside a strictly longer one is,
 * except that a negator, intensifier or contrast word keeps modifying what
 * follows when it is part of a weighted phrase ("is not a good option"). */
static int hidden_by(const struct lexicon *lx, const struct match *a, const struct match *b)
{
	if (b->first > a->first || b->last < a->last || b->last - b->first <= a->last - a->first)
		return 0;
	enum kind ka = lx->e[a->entry].kind, kb = lx->e[b->entry].kind;
	/* Cues and vocabulary are features of their own: they hide nothing,
	 * and only an `ignore` phrase hides them ("no problem"). */
	if (ka == K_CUE || ka == K_VOCAB)
		return kb == K_IGNORE;
	if (ka == K_NEGATOR || ka == K_INTENSIFIER || ka == K_CONTRAST)
		return lx->e[b->entry].kind != K_WORD;
	return 1;
}

/* Drop every match hidden by a longer one, then order the rest by position
 * so context words precede what they modify. */
static void resolve(struct scan *sc)
{
	int longer[MAX_MATCHES], nl = 0;

	/* only a phrase of several words can hide another match, and never a
	 * cue or vocabulary phrase */
	for (int i = 0; i < sc->nm; i++) {
		enum kind k = sc->lx->e[sc->m[i].entry].kind;
		if (sc->m[i].last > sc->m[i].first && k != K_CUE && k != K_VOCAB)
			longer[nl++] = i;
	}
	for (int i = 0; i < sc->nm && nl; i++) {
		struct match *a = &sc->m[i];
		for (int j = 0; j < nl && !a->dropped; j++)
			if (longer[j] != i && hidden_by(sc->lx, a, &sc->m[longer[j]]))
				a->dropped = 1;
	}
	int n = 0;
	for (int i = 0; i < sc->nm; i++)
		if (!sc->m[i].dropped)
			sc->m[n++] = sc->m[i];
	sc->nm = n;
	for (int i = 1; i < n; i++) {
		struct match x = sc->m[i];
		int j = i - 1;
		while (j >= 0 && sc->m[j].first > x.first) {
			sc->m[j + 1] = sc->m[j];
			j--;
		}
		sc->m[j + 1] = x;
	}
}

/* Mostly upper case over enough letters: the customer is shouting. */
static int shouting(const struct text *t)
{
	return t->n_letters >= 8 && t->n_upper * 10 >= t->n_letters * 6;
}

/* An entry found in the post, remembered for the verdict and its explanation. */
struct hit_at {
	int set;
	uint32_t entry;
	int first, last; /* words of the post it matched */
};

/* A cue or vocabulary feature that fired. */
struct fired {
	uint32_t feat; /* index in the model's feature vector */
	struct hit_at at;
};

/* Everything one analysis found, before the verdict. */
struct found {
	double pos, neg; /* sums of positive and negative weights, after context */
	double tone;     /* the lexicon's score */
	int ncomplaint;  /* complaints entries matched */
	int negated_pos, negated_neg, contrast_neg;
	int neg_leads; /* the strongest negative entry outweighs the strongest positive one */
	struct hit_at neg_at, pos_at, abuse_at, complaint_at, negated_at;
	struct fired f[MAX_FIRED];
	int nf;
};

static struct hit_at hit_of(const struct match *m)
{
	return (struct hit_at){1, m->entry, m->first, m->last};
}

static void fire(struct found *fd, uint32_t feat, const struct match *m)
{
	for (int i = 0; i < fd->nf; i++)
		if (fd->f[i].feat == feat)
			return;
	if (fd->nf < MAX_FIRED)
		fd->f[fd->nf++] = (struct fired){feat, hit_of(m)};
}

/* Is the match at i preceded, within the negation window, by a negator that
 * is not part of it ("not bad", "never had a problem")?  Intensifiers right
 * before it multiply *factor (when given). */
static int negated_at(const struct lexicon *lx, const struct scan *sc, int i, int reach, int window,
                      int negative_word, double *factor)
{
	const struct match *m = &sc->m[i];
	int negated = 0, mods = 0;

	for (int j = i - 1; j >= 0; j--) {
		const struct match *c = &sc->m[j];
		const struct entry *ce = &lx->e[c->entry];
		if (c->last >= m->first)
			continue;
		if (c->last < m->first - reach)
			break;
		/* A negative word is flipped only by a negator right before it
		 * ("not bad", "not too bad"): "they said no. waste of a trip"
		 * keeps its waste. */
		int gap = m->first - c->last - 1;
		if (ce->kind == K_NEGATOR && gap < window && (!negative_word || gap <= mods))
			negated = 1;
		else if (ce->kind == K_INTENSIFIER && gap < 2 && factor) {
			*factor *= ce->weight;
			mods++;
		}
	}
	return negated;
}

/* The words first..last of the normalized post into out (cut to fit). */
static void words_of(const struct text *t, int first, int last, char *out, size_t n)
{
	const char *p = t->norm ? t->norm : "";
	int w = -1;
	size_t len = 0;

	out[0] = 0;
	for (; *p && w <= last; p++) {
		if (*p == ' ') {
			w++;
			if (w > first && w <= last && len + 1 < n)
				out[len++] = ' ';
			continue;
		}
		if (w >= first && w <= last && len + 1 < n)
			out[len++] = *p;
	}
	/* never end inside a UTF-8 character */
	while (len && len + 1 >= n && ((unsigned char)out[len - 1] & 0xC0) == 0x80)
		len--;
	if (len && len + 1 >= n && ((unsigned char)out[len - 1] & 0xC0) == 0xC0)
		len--;
	out[len] = 0;
}

/* Scan t and weigh what the lexicon finds (every section; the text's own
 * features - punctuation, capitals, length - come later). */
static void find(const struct lexicon *lx, const struct text *t, struct found *fd,
                 struct sentiment_explanation *ex)
{
	struct scan sc;
	const double *tu = lx->tune;
	double most_neg = 0, most_pos = 0, sum;
	int contrast = -1, window = (int)tu[T_NEGATION_WINDOW];
	int reach = window > 2 ? window : 2; /* how far back context words act: negators, intensifiers (2) */
	size_t nfam = lx->nfamily;

	memset(fd, 0, offsetof(struct found, f));
	fd->nf = 0;
	sc.lx = lx;
	sc.s = t->norm;
	sc.pos = 0;
	sc.spaces = 0;
	sc.nh = 0;
	sc.nm = 0;
	sc.nv = 0;
	memset(sc.kept, 0, sizeof(sc.kept));
	if (t->norm && t->norm_len)
		acm_scan(lx->acm, t->norm, t->norm_len, on_hit, &sc);
	resolve(&sc);

	for (int i = 0; i < sc.nm; i++)
		if (lx->e[sc.m[i].entry].kind == K_CONTRAST)
			contrast = sc.m[i].first;

	for (int i = 0; i < sc.nm; i++) {
		const struct match *m = &sc.m[i];
		const struct entry *e = &lx->e[m->entry];
		double w = e->weight;

		if (e->kind == K_CUE) {
			/* a cue is a statement: a negator cancels it from one word
			 * further away ("never had a problem") */
			if (!e->negatable || !negated_at(lx, &sc, i, reach + 1, window + 1, 0, NULL))
				fire(fd, (uint32_t)(F_BUILTIN + (size_t)e->feat), m);
			continue;
		}
		if (e->kind != K_WORD && e->kind != K_COMPLAINT && e->kind != K_ABUSIVE)
			continue;
		if (e->kind == K_WORD) {
			double factor = 1;
			int negated = e->negatable && negated_at(lx, &sc, i, reach, window, w < 0, &factor);
			w *= factor;
			if (negated) {
				if (w > 0)
					fd->negated_pos = 1;
				else
					fd->negated_neg = 1;
				if (!fd->negated_at.set)
					fd->negated_at = hit_of(m);
				w *= w > 0 ? tu[T_NEGATED_POSITIVE] : tu[T_NEGATED_NEGATIVE];
			}
		}
		if (e->kind == K_COMPLAINT) {
			if (!fd->ncomplaint)
				fd->complaint_at = hit_of(m);
			fd->ncomplaint++;
		}
		if (e->kind == K_ABUSIVE && !fd->abuse_at.set)
			fd->abuse_at = hit_of(m);
		if (contrast >= 0) {
			if (m->last < contrast)
				w *= tu[T_BEFORE_CONTRAST];
			else if (m->first > contrast) {
				w *= tu[T_AFTER_CONTRAST];
				fd->contrast_neg |= w < 0;
			}
		}
		if (w > 0)
			fd->pos += w;
		else
			fd->neg += w;
		if (w < most_neg) {
			most_neg = w;
			fd->neg_at = hit_of(m);
		} else if (w > most_pos) {
			most_pos = w;
			fd->pos_at = hit_of(m);
		}
		if (ex && ex->nlex < SENTIMENT_REASONS) {
			struct sentiment_match *sm = &ex->lex[ex->nlex++];
			sm->entry = e->text;
			sm->section = kind_names[e->kind];
			sm->weight = w;
			sm->file = lx->files[e->file];
			sm->line = e->line;
			words_of(t, m->first, m->last, sm->words, sizeof(sm->words));
		}
	}
	for (int i = 0; i < sc.nv && fd->nf < MAX_FIRED; i++)
		fd->f[fd->nf++] =
		    (struct fired){(uint32_t)(F_BUILTIN + nfam + (size_t)lx->e[sc.v[i].entry].feat),
		                   {1, sc.v[i].entry, sc.v[i].first, sc.v[i].last}};
	/* Praise next to a complaint is mostly politeness or sarcasm ("great
	 * service, two hours on hold"): it counts less than on its own. */
	sum = fd->neg + (fd->neg < 0 ? fd->pos * tu[T_MIXED_POSITIVE] : fd->pos);
	if (sum != 0) {
		if (shouting(t))
			sum *= tu[T_SHOUTING];
		if (t->exclaim_run >= 2)
			sum *= tu[T_EXCLAIM];
		if (t->question_run >= 2 && sum < 0)
			sum *= tu[T_QUESTION];
	}
	fd->tone = sum / sqrt(sum * sum + SCALE);
	fd->neg_leads = fd->neg_at.set && -most_neg >= most_pos;
}

/* The built-in features' values (F_BUILTIN of them). */
static void builtin_features(const struct text *t, const struct found *fd, double *x)
{
	double n = -fd->neg, p = fd->pos;

	x[F_LEX_SCORE] = fd->tone;
	x[F_LEX_NEG] = n / (n + 2);
	x[F_LEX_POS] = p / (p + 2);
	x[F_COMPLAINT] = (double)fd->ncomplaint / (fd->ncomplaint + 1);
	x[F_ABUSIVE] = fd->abuse_at.set;
	x[F_NEGATED_POS] = fd->negated_pos;
	x[F_NEGATED_NEG] = fd->negated_neg;
	x[F_CONTRAST] = fd->contrast_neg;
	x[F_MIXED] = fd->pos > 0 && (fd->neg < 0 || fd->ncomplaint > 0);
	x[F_EXCLAIM] = t->exclaim_run >= 1;
	x[F_EXCLAIMS] = t->exclaim_run >= 2;
	x[F_QUESTION] = t->question_run >= 1;
	x[F_QUESTIONS] = t->question_run >= 2;
	x[F_SHOUTING] = shouting(t);
	x[F_CAPS_WORD] = t->n_caps_words >= 1;
	x[F_SHORT] = t->n_words <= 4;
	x[F_LONG] = t->n_words >= 25;
}

/*
 * The built-in features' share of the margin, the same sum as
 * builtin_features() times the weights, without the vector: most of them
 * are 0 for a given post, and this runs for every post.
 * (test_features_match_verdict keeps the two in step.)
 */
static double builtin_margin(const double *w, const struct text *t, const struct found *fd)
{
	double n = -fd->neg, p = fd->pos, m = fd->tone * w[F_LEX_SCORE];

	if (n > 0)
		m += n / (n + 2) * w[F_LEX_NEG];
	if (p > 0)
		m += p / (p + 2) * w[F_LEX_POS];
	if (fd->ncomplaint)
		m += (double)fd->ncomplaint / (fd->ncomplaint + 1) * w[F_COMPLAINT];
	if (fd->abuse_at.set)
		m += w[F_ABUSIVE];
	if (fd->negated_pos)
		m += w[F_NEGATED_POS];
	if (fd->negated_neg)
		m += w[F_NEGATED_NEG];
	if (fd->contrast_neg)
		m += w[F_CONTRAST];
	if (p > 0 && (n > 0 || fd->ncomplaint > 0))
		m += w[F_MIXED];
	if (t->exclaim_run >= 1)
		m += w[F_EXCLAIM] + (t->exclaim_run >= 2 ? w[F_EXCLAIMS] : 0);
	if (t->question_run >= 1)
		m += w[F_QUESTION] + (t->question_run >= 2 ? w[F_QUESTIONS] : 0);
	if (shouting(t))
		m += w[F_SHOUTING];
	if (t->n_caps_words >= 1)
		m += w[F_CAPS_WORD];
	if (t->n_words <= 4)
		m += w[F_SHORT];
	if (t->n_words >= 25)
		m += w[F_LONG];
	return m;
}

/* -tanh(margin / 2), the score, from one exp() (margin kept finite). */
static double score_of(double margin)
{
	if (margin > 40)
		margin = 40;
	else if (margin < -40)
		margin = -40;
	double e = exp(margin);
	return (1 - e) / (1 + e);
}

/* The entry behind built-in feature i, for explanations. */
static const struct hit_at *builtin_hit(const struct found *fd, int i)
{
	const struct hit_at *h = NULL;
	switch (i) {
	case F_LEX_SCORE: h = fd->neg_leads ? &fd->neg_at : &fd->pos_at; break;
	case F_LEX_NEG:
	case F_MIXED:
	case F_CONTRAST: h = &fd->neg_at; break;
	case F_LEX_POS: h = &fd->pos_at; break;
	case F_COMPLAINT: h = &fd->complaint_at; break;
	case F_ABUSIVE: h = &fd->abuse_at; break;
	case F_NEGATED_POS:
	case F_NEGATED_NEG: h = &fd->negated_at; break;
	default: break;
	}
	return h && h->set ? h : NULL;
}

static double feature_weight(const struct lexicon *lx, size_t i)
{
	return lx->w[i];
}

static int by_share(const void *a, const void *b)
{
	const struct sentiment_reason *x = a, *y = b;
	double sx = fabs(x->value * x->weight), sy = fabs(y->value * y->weight);
	return sx < sy ? 1 : sx > sy ? -1 : 0;
}

static void add_reason(const struct lexicon *lx, const struct text *t, struct sentiment_explanation *ex,
                       size_t feat, const struct hit_at *h, double value)
{
	struct sentiment_reason *r;

	if (ex->n == SENTIMENT_REASONS)
		return;
	r = &ex->r[ex->n++];
	memset(r, 0, sizeof(*r));
	r->feature = feat;
	lexicon_feature(lx, feat, &r->name);
	r->value = value;
	r->weight = feature_weight(lx, feat);
	if (h) {
		const struct entry *e = &lx->e[h->entry];
		r->cue = e->text;
		r->file = lx->files[e->file];
		r->line = e->line;
		words_of(t, h->first, h->last, r->words, sizeof(r->words));
	}
}

static void analyze(const struct lexicon *lx, const struct text *t, double threshold, struct sentiment *out,
                    struct sentiment_explanation *ex)
{
	struct found fd;
	double x[F_BUILTIN];

	memset(out, 0, sizeof(*out));
	if (ex)
		memset(ex, 0, sizeof(*ex));
	find(lx, t, &fd, ex);
	out->tone = fd.tone;
	out->complaint = fd.ncomplaint > 0;
	out->abusive = fd.abuse_at.set;

	if (!lx->has_model) {
		/* The lexicon alone: its score, and a complaint unless clearly positive. */
		out->score = fd.tone;
		out->negative = out->score <= threshold ||
		                (out->complaint && out->score <= lx->tune[T_POSITIVE_OVERRIDE]);
	} else if (t->n_words == 0) {
		/* nothing to judge: the neutral score, the verdict the threshold gives it */
		out->score = 0;
		out->negative = threshold >= 0;
	} else {
		double margin = lx->bias + builtin_margin(lx->w, t, &fd), hi = 0, lo = 0;
		const struct hit_at *most = NULL, *least = NULL;
		for (int i = 0; i < fd.nf; i++) {
			double w = lx->w[fd.f[i].feat];
			margin += w;
			if (w > hi) {
				hi = w;
				most = &fd.f[i].at;
			} else if (w < lo) {
				lo = w;
				least = &fd.f[i].at;
			}
		}
		out->score = score_of(margin);
		out->negative = out->score <= threshold || out->abusive;
		/* the cue: the entry that pushed hardest toward the verdict */
		const struct hit_at *why = out->negative ? most : least;
		out->cue = why ? lx->e[why->entry].text : NULL;
		if (ex) {
			builtin_features(t, &fd, x);
			ex->model = 1;
			ex->bias = lx->bias;
			ex->margin = margin;
			for (size_t i = 0; i < F_BUILTIN; i++)
				if (x[i] != 0)
					add_reason(lx, t, ex, i, builtin_hit(&fd, (int)i), x[i]);
			for (int i = 0; i < fd.nf; i++)
				add_reason(lx, t, ex, fd.f[i].feat, &fd.f[i].at, 1);
			qsort(ex->r, ex->n, sizeof(ex->r[0]), by_share);
		}
	}
	/* How unhappy, not how sure: the lexicon's own tone (emotion words,
	 * capitals, "!!!") decides whether a negative post is strongly so. */
	out->strong = out->negative && out->tone <= lx->strong;
	if (fd.abuse_at.set)
		out->cue = lx->e[fd.abuse_at.entry].text;
	else if (!lx->has_model || !out->cue) {
		const struct hit_at *h = out->negative || fd.neg_leads ? &fd.neg_at : &fd.pos_at;
		out->cue = h->set ? lx->e[h->entry].text : NULL;
	}
}

void sentiment_analyze(const struct lexicon *lx, const struct text *t, double threshold,
                       struct sentiment *out)
{
	analyze(lx, t, threshold, out, NULL);
}

void sentiment_explain(const struct lexicon *lx, const struct text *t, double threshold,
                       struct sentiment *out, struct sentiment_explanation *ex)
{
	analyze(lx, t, threshold, out, ex);
}

void sentiment_features(const struct lexicon *lx, const struct text *t, double *x)
{
	struct found fd;
	size_t n = lexicon_features(lx);

	memset(x, 0, n * sizeof(*x));
	find(lx, t, &fd, NULL);
	builtin_features(t, &fd, x);
	for (int i = 0; i < fd.nf; i++)
		x[fd.f[i].feat] = 1;
}

/* ---------- the model's features ---------- */

int lexicon_has_model(const struct lexicon *lx)
{
	return lx->has_model;
}

double lexicon_bias(const struct lexicon *lx)
{
	return lx->bias;
}

size_t lexicon_features(const struct lexicon *lx)
{
	return F_BUILTIN + lx->nfamily + lx->nvocab;
}

enum sentiment_feature_kind lexicon_feature(const struct lexicon *lx, size_t i, const char **name)
{
	if (i < F_BUILTIN) {
		*name = feat_names[i];
		return SF_BUILTIN;
	}
	if (i < F_BUILTIN + lx->nfamily) {
		*name = lx->family_feat[i - F_BUILTIN];
		return SF_CUE;
	}
	*name = lx->e[lx->vocab_entry[i - F_BUILTIN - lx->nfamily]].text;
	return SF_VOCAB;
}

double lexicon_weight(const struct lexicon *lx, size_t i)
{
	return i < lexicon_features(lx) ? feature_weight(lx, i) : 0;
}
