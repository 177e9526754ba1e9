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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "matcher.h"
#include "util.h"

enum kind { K_WORD = 0, K_COMPLAINT, K_ABUSIVE, K_NEGATOR, K_INTENSIFIER, K_CONTRAST, K_IGNORE };

static const char *const kind_names[] = {"words",        "complaints", "abusive", "negators",
                                         "intensifiers", "contrast",   "ignore"};

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
	double weight; /* weight, factor (intensifiers), or NAN = the section's default */
	enum kind kind;
	int negatable; /* a negator before it flips it (words only; not emoji, not "negate: false") */
	int file;      /* index of the defining file: a repeat in the same file is an error */
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
};

/* ---------- loading ---------- */

struct loader {
	struct lexicon *lx;
	struct diag *d;
	int file;
	char *threshold_at; /* "file:line" of the threshold, to report a second one */
	char *strong_at;    /* the same for strongly_negative */
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
		old->negatable = k == K_WORD && (negate >= 0 ? negate : starts_with_word(c));
		old->file = ld->file;
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
	e->negatable = k == K_WORD && (negate >= 0 ? negate : starts_with_word(c));
	e->file = ld->file;
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
	    "threshold", "strongly_negative", "tuning",   "words",  "complaints", "abusive",
	    "negators",  "intensifiers",      "contrast", "ignore", NULL};
	static const enum kind top_kind[] = {
	    0, 0, 0, K_WORD, K_COMPLAINT, K_ABUSIVE, K_NEGATOR, K_INTENSIFIER, K_CONTRAST, K_IGNORE};
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
		for (size_t j = 3; top[j]; j++)
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
		load_file(&ld, c, files[i]);
	}
	compiled_reset(c);
	buf_free(&c->key);
	free(c);
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
	struct match m[MAX_MATCHES];
	int nm;
};

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

	if (!sl->can_start && sc->nh == 0)
		return 0; /* nothing to chain to yet (the common case for a later slot) */
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
	if (sl->can_end)
		add_match(sc, sl->entry, start, last);
	if (sl->has_next) {
		if (sc->nh == MAX_HITS)
			forget_hits(sc, first);
		if (sc->nh < MAX_HITS)
			sc->h[sc->nh++] = (struct hit){pt->slot, start, last};
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
	enum kind ka = lx->e[a->entry].kind;
	if (ka == K_NEGATOR || ka == K_INTENSIFIER || ka == K_CONTRAST)
		return lx->e[b->entry].kind != K_WORD;
	return 1;
}

/* Drop every match hidden by a longer one, then order the rest by position
 * so context words precede what they modify. */
static void resolve(struct scan *sc)
{
	int longer[MAX_MATCHES], nl = 0;

	/* only a phrase of several words can hide another match */
	for (int i = 0; i < sc->nm; i++)
		if (sc->m[i].last > sc->m[i].first)
			longer[nl++] = i;
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

void sentiment_analyze(const struct lexicon *lx, const struct text *t, double threshold,
                       struct sentiment *out)
{
	struct scan sc;
	const double *tu = lx->tune;
	double pos = 0, neg = 0, sum, most_neg = 0, most_pos = 0;
	const char *neg_cue = NULL, *pos_cue = NULL, *abuse_cue = NULL;
	int contrast = -1, window = (int)tu[T_NEGATION_WINDOW];
	int reach = window > 2 ? window : 2; /* how far back context words act: negators, intensifiers (2) */

	memset(out, 0, sizeof(*out));
	sc.lx = lx;
	sc.s = t->norm;
	sc.pos = 0;
	sc.spaces = 0;
	sc.nh = 0;
	sc.nm = 0;
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

		if (e->kind != K_WORD && e->kind != K_COMPLAINT && e->kind != K_ABUSIVE)
			continue;
		if (e->kind == K_WORD) {
			int negated = 0, mods = 0;
			for (int j = i - 1; j >= 0; j--) {
				const struct match *c = &sc.m[j];
				const struct entry *ce = &lx->e[c->entry];
				if (c->last >= m->first)
					continue;
				if (c->last < m->first - reach)
					break;
				/* A negative word is flipped only by a negator right
				 * before it ("not bad", "not too bad"): "they said no.
				 * waste of a trip" keeps its waste. */
				int gap = m->first - c->last - 1;
				if (ce->kind == K_NEGATOR && e->negatable && gap < window &&
				    (w > 0 || gap <= mods))
					negated = 1;
				else if (ce->kind == K_INTENSIFIER && gap < 2) {
					w *= ce->weight;
					mods++;
				}
			}
			if (negated)
				w *= w > 0 ? tu[T_NEGATED_POSITIVE] : tu[T_NEGATED_NEGATIVE];
		}
		if (e->kind == K_COMPLAINT)
			out->complaint = 1;
		if (e->kind == K_ABUSIVE && !abuse_cue)
			abuse_cue = e->text;
		if (contrast >= 0) {
			if (m->last < contrast)
				w *= tu[T_BEFORE_CONTRAST];
			else if (m->first > contrast)
				w *= tu[T_AFTER_CONTRAST];
		}
		if (w > 0)
			pos += w;
		else
			neg += w;
		if (w < most_neg) {
			most_neg = w;
			neg_cue = e->text;
		} else if (w > most_pos) {
			most_pos = w;
			pos_cue = e->text;
		}
	}
	/* Praise next to a complaint is mostly politeness or sarcasm ("great
	 * service, two hours on hold"): it counts less than on its own. */
	sum = neg + (neg < 0 ? pos * tu[T_MIXED_POSITIVE] : pos);
	if (sum != 0) {
		if (shouting(t))
			sum *= tu[T_SHOUTING];
		if (t->exclaim_run >= 2)
			sum *= tu[T_EXCLAIM];
		if (t->question_run >= 2 && sum < 0)
			sum *= tu[T_QUESTION];
	}
	out->score = sum / sqrt(sum * sum + SCALE);
	out->negative = out->score <= threshold || (out->complaint && out->score <= tu[T_POSITIVE_OVERRIDE]);
	out->strong = out->negative && out->score <= lx->strong;
	out->abusive = abuse_cue != NULL;
	if (abuse_cue)
		out->cue = abuse_cue;
	else if (out->negative || (neg_cue && -most_neg >= most_pos))
		out->cue = neg_cue;
	else
		out->cue = pos_cue;
}
