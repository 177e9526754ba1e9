/*
 * learn.c - one logistic regression per class over the features of
 * learn_features.h, trained with liblinear, kept as pruned (class, weight)
 * lists per feature for prediction (see learn.h for the model).
 *
 * Training, in order:
 *   1. every text (examples, not_examples, the off-topic set) becomes a
 *      sparse vector over global feature ids ("gids"); a distinct written
 *      word is stemmed and cut into n-grams once (its "unit");
 *   2. per class: its examples against its negatives, features renumbered
 *      to the ones this problem uses (so liblinear's vectors are as small as
 *      the problem), trained, weights kept where |w| >= prune;
 *   3. the kept weights are grouped by feature, and for every written word
 *      its unit's lists are summed into one list of its own.
 *
 * Prediction looks each word up in one open-addressing table keyed by the
 * feature keys of learn_features.h: a known word finds its summed list, an
 * unknown one its stem's and n-grams' lists; pairs of words find theirs.
 * Scores accumulate in a per-class array stamped with a generation number,
 * so nothing is cleared between posts.
 */
#include "learn.h"

#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "learn_features.h"
#include "util.h"

#define MAX_CANDIDATES 8 /* best classes kept while scoring, before the filter */
#define SCORE_CLAMP    30.0f
#define NORM_TOP       8   /* classes whose scores share the probability with "none" */
#define WORD_CACHE     256 /* unknown words whose features are remembered (direct-mapped) */
#define WORD_CACHE_MAX 48  /* classes of a remembered unknown word, at most */
/* Classes kept per feature, the strongest weights: a feature that many
 * classes weigh says little about any one of them, and the cost of a post
 * must not grow with the number of classes. */
#define CAP_GRAM 8  /* per n-gram (an unknown word looks up each of its n-grams) */
#define CAP_FEAT 8  /* per stem, pair or shape feature */
#define CAP_WORD 12 /* per written word (its stem and n-grams summed) */

void learn_params_default(struct learn_params *p)
{
	p->C = 64.0;
	p->pos_weight = 2.0;
	p->w_word = 1.0;
	p->w_gram = 2.0;
	p->w_pair = 0.3;
	p->w_neg = 2.0;
	p->w_len = 1.0;
	p->gram_min = 3;
	p->gram_max = 4;
	p->offtopic = 1;
	p->max_negatives = 2000;
	p->sample_near = 300;
	p->sample_even = 100;
	p->prune = 0.2f;
	p->idf = 1;
	p->negation_mismatch = 0.3;
	p->norm_floor = 1.0;
}

/* ---------------------------------------------------------------- key table */

/* Open addressing from a feature key (never 0) to an entry index. */
struct ktab {
	uint64_t *key;
	uint32_t *val;
	size_t cap, n;
};

static void ktab_free(struct ktab *t)
{
	free(t->key);
	free(t->val);
	memset(t, 0, sizeof(*t));
}

static inline uint32_t ktab_get(const struct ktab *t, uint64_t key)
{
	if (!t->cap)
		return UINT32_MAX;
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)key & mask;; i = (i + 1) & mask) {
		if (t->key[i] == key)
			return t->val[i];
		if (!t->key[i])
			return UINT32_MAX;
	}
}

/* Insert (the caller checked the key is absent). */
static void ktab_put(struct ktab *t, uint64_t key, uint32_t val)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		uint64_t *k = xcalloc(cap, sizeof(*k));
		uint32_t *v = xmalloc(cap * sizeof(*v));
		for (size_t j = 0; j < t->cap; j++) {
			if (!t->key[j])
				continue;
			size_t i = (size_t)t->key[j] & (cap - 1);
			while (k[i])
				i = (i + 1) & (cap - 1);
			k[i] = t->key[j];
			v[i] = t->val[j];
		}
		free(t->key);
		free(t->val);
		t->key = k;
		t->val = v;
		t->cap = cap;
	}
	size_t i = (size_t)key & (t->cap - 1);
	while (t->key[i])
		i = (i + 1) & (t->cap - 1);
	t->key[i] = key;
	t->val[i] = val;
	t->n++;
}

/* ---------------------------------------------------------------- the model */

/* What a key finds: a run of postings, and for a written word the squared
 * length of its unit and its stem's key (for the pair that follows). */
struct entry {
	uint32_t off, len;
	float norm2;   /* a written word: its unit's squared length */
	float idf;     /* a stem, n-gram or pair: its weight for rarity (1 without idf) */
	uint64_t stem; /* a written word: its stem's key; 0 for the other kinds */
};

struct posting {
	uint32_t cls;
	float w;
};

struct learn_model {
	uint32_t nclasses;
	struct learn_params p;
	float *bias;       /* per class; -inf for a class that cannot be predicted */
	uint8_t *negates;  /* some example of the class negates */
	uint32_t *by_bias; /* classes, highest bias first */
	float idf_unknown; /* weight of a feature never seen in training */
	double norm_floor; /* added to every post's squared length (see build_docs) */
	struct ktab keys;  /* feature key -> entries[] */
	struct entry *entries;
	size_t nentries;
	struct posting *post;
	size_t npost;

	/* prediction scratch */
	struct learn_features fx;
	/* Unknown words as their stems and n-grams gave them (stemming and
	 * n-gram look-ups cost most, and customers repeat their words);
	 * n == UINT32_MAX: only the stem is kept (too many classes). */
	struct word_cache {
		uint64_t key, stem;
		float norm2;
		uint32_t n;
		struct posting post[WORD_CACHE_MAX];
	} * wcache;
	uint32_t wgen; /* per-word accumulator: stamps, sums, classes touched */
	uint32_t *wstamp;
	float *wacc;
	uint32_t *wtouched;
	size_t nwtouched;
	uint32_t gen;
	uint32_t *stamp; /* class touched by this post: == gen */
	float *acc;
	uint32_t *touched;
	size_t ntouched;
};

uint32_t learn_classes(const struct learn_model *m)
{
	return m->nclasses;
}

size_t learn_bytes(const struct learn_model *m)
{
	return sizeof(*m) + m->nclasses * (3 * sizeof(float) + 4 * sizeof(uint32_t) + sizeof(uint8_t)) +
	       WORD_CACHE * sizeof(*m->wcache) + m->keys.cap * (sizeof(uint64_t) + sizeof(uint32_t)) +
	       m->nentries * sizeof(struct entry) + m->npost * sizeof(struct posting);
}

void learn_free(struct learn_model *m)
{
	if (!m)
		return;
	free(m->bias);
	free(m->negates);
	free(m->by_bias);
	ktab_free(&m->keys);
	free(m->entries);
	free(m->post);
	learn_features_free(&m->fx);
	free(m->stamp);
	free(m->acc);
	free(m->touched);
	free(m->wcache);
	free(m->wstamp);
	free(m->wacc);
	free(m->wtouched);
	free(m);
}

/* ---------------------------------------------------------------- units */

/* Sort n-gram keys and fold repeats: g[0..return) distinct, cnt[] their
 * multiplicities. */
static size_t fold_grams(uint64_t *g, uint32_t *cnt, size_t ng)
{
	size_t o = 0;
	/* Insertion sort: a word has a few dozen n-grams at most. */
	for (size_t i = 1; i < ng; i++) {
		uint64_t v = g[i];
		size_t j = i;
		while (j > 0 && g[j - 1] > v) {
			g[j] = g[j - 1];
			j--;
		}
		g[j] = v;
	}
	for (size_t i = 0; i < ng;) {
		size_t j = i;
		while (j < ng && g[j] == g[i])
			j++;
		g[o] = g[i];
		cnt[o++] = (uint32_t)(j - i);
		i = j;
	}
	return o;
}

/* ---------------------------------------------------------------- training data */

enum doc_kind { DOC_EXAMPLE, DOC_NOT, DOC_OFFTOPIC };

/* A written word as the learner knows it: its stem's gid and its distinct
 * n-grams' gids with their counts (ugid/ucnt[start .. start + ndistinct));
 * `ngrams` counts repeats.  norm2 is its unit's squared length, once the
 * feature weights are known. */
struct unit {
	uint64_t key, stem_key;
	uint32_t stem_gid;
	uint32_t start, ndistinct, ngrams;
	float norm2;
};

#define ITEM_FEAT 0x80000000u /* a document item: a pair's or shape's gid, else a unit index */

struct trainer {
	const struct learn_params *p;
	struct learn_features fx;
	/* features */
	struct ktab gids; /* feature key -> gid */
	uint64_t *gid_key;
	uint8_t *gid_kind;  /* 'w' stem, 'g' n-gram, 'p' pair */
	uint32_t *gid_df;   /* documents containing it */
	uint32_t *gid_last; /* the last document counted in gid_df, + 1 */
	float *gid_idf;
	size_t ngids, gids_cap;
	/* units of written words */
	struct ktab unit_of; /* surface key -> units[] */
	struct unit *units;
	size_t nunits, units_cap;
	uint32_t *ugid, *ucnt;
	size_t nug, ug_cap;
	/* documents as items (units and pairs), then as vectors: CSR of (gid, value) */
	uint32_t *istart, *items;
	size_t nitems, items_cap;
	uint32_t *dstart;
	uint32_t *dgid;
	float *dval;
	uint32_t *dcls;
	uint8_t *dkind;
	size_t ndocs, docs_cap, nvals, vals_cap;
	/* scratch */
	uint64_t *gram_tmp;
	uint32_t *cnt_tmp;
	size_t gram_cap;
	uint32_t *tmp_gid;
	float *tmp_val;
	size_t tmp_cap;
	/* results: kept weights (gid, class, w) */
	uint32_t *res_gid, *res_cls;
	float *res_w;
	size_t nres, res_cap;
	double norm_floor; /* added to every document's squared length */
};

static uint32_t gid_for(struct trainer *T, uint64_t key, uint8_t kind)
{
	uint32_t g = ktab_get(&T->gids, key);
	if (g != UINT32_MAX)
		return g;
	if (T->ngids == T->gids_cap) {
		T->gids_cap = T->gids_cap ? T->gids_cap * 2 : 4096;
		T->gid_key = xrealloc(T->gid_key, T->gids_cap * sizeof(*T->gid_key));
		T->gid_kind = xrealloc(T->gid_kind, T->gids_cap * sizeof(*T->gid_kind));
		T->gid_df = xrealloc(T->gid_df, T->gids_cap * sizeof(*T->gid_df));
		T->gid_last = xrealloc(T->gid_last, T->gids_cap * sizeof(*T->gid_last));
	}
	g = (uint32_t)T->ngids++;
	T->gid_key[g] = key;
	T->gid_kind[g] = kind;
	T->gid_df[g] = 0;
	T->gid_last[g] = 0;
	ktab_put(&T->gids, key, g);
	return g;
}

/* Count gid g once for the document being added (number ndocs). */
static void count_df(struct trainer *T, uint32_t g)
{
	if (T->gid_last[g] != T->ndocs + 1) {
		T->gid_last[g] = (uint32_t)T->ndocs + 1;
		T->gid_df[g]++;
	}
}

/* The unit of word i of T->fx, made on first sight; returns its index. */
static uint32_t unit_for(struct trainer *T, size_t i)
{
	uint64_t key = T->fx.w[i].key;
	uint32_t u = ktab_get(&T->unit_of, key);
	if (u != UINT32_MAX)
		return u;
	size_t maxg = LF_MAX_GRAMS(T->p->gram_min, T->p->gram_max);
	if (T->gram_cap < maxg) {
		T->gram_cap = maxg;
		T->gram_tmp = xrealloc(T->gram_tmp, maxg * sizeof(*T->gram_tmp));
		T->cnt_tmp = xrealloc(T->cnt_tmp, maxg * sizeof(*T->cnt_tmp));
	}
	size_t ng = learn_features_grams(&T->fx, i, T->gram_tmp, maxg);
	size_t nd = fold_grams(T->gram_tmp, T->cnt_tmp, ng);
	if (T->nunits == T->units_cap) {
		T->units_cap = T->units_cap ? T->units_cap * 2 : 1024;
		T->units = xrealloc(T->units, T->units_cap * sizeof(*T->units));
	}
	if (T->nug + nd > T->ug_cap) {
		T->ug_cap = (T->nug + nd) * 2 + 4096;
		T->ugid = xrealloc(T->ugid, T->ug_cap * sizeof(*T->ugid));
		T->ucnt = xrealloc(T->ucnt, T->ug_cap * sizeof(*T->ucnt));
	}
	struct unit *un = &T->units[T->nunits];
	un->key = key;
	un->stem_key = learn_features_stem(&T->fx, i);
	un->stem_gid = gid_for(T, un->stem_key, 'w');
	un->start = (uint32_t)T->nug;
	un->ndistinct = (uint32_t)nd;
	un->ngrams = (uint32_t)ng;
	un->norm2 = 0;
	for (size_t j = 0; j < nd; j++) {
		T->ugid[T->nug] = gid_for(T, T->gram_tmp[j], 'g');
		T->ucnt[T->nug++] = T->cnt_tmp[j];
	}
	ktab_put(&T->unit_of, key, (uint32_t)T->nunits);
	return (uint32_t)T->nunits++;
}

static void item_push(struct trainer *T, uint32_t it)
{
	if (T->nitems == T->items_cap) {
		T->items_cap = T->items_cap ? T->items_cap * 2 : 4096;
		T->items = xrealloc(T->items, T->items_cap * sizeof(*T->items));
	}
	T->items[T->nitems++] = it;
}

/* Add one text as a document of units and pairs; a text without words
 * adds nothing. */
static void add_doc(struct trainer *T, struct text *tx, const char *s, uint32_t cls, enum doc_kind kind)
{
	text_normalize(tx, s, strlen(s));
	size_t nw = learn_features_words(&T->fx, tx);
	if (!nw)
		return;
	if (T->ndocs + 1 >= T->docs_cap) {
		T->docs_cap = T->docs_cap ? T->docs_cap * 2 : 1024;
		T->istart = xrealloc(T->istart, (T->docs_cap + 1) * sizeof(*T->istart));
		T->dcls = xrealloc(T->dcls, T->docs_cap * sizeof(*T->dcls));
		T->dkind = xrealloc(T->dkind, T->docs_cap * sizeof(*T->dkind));
	}
	if (T->ndocs == 0)
		T->istart[0] = 0;
	uint64_t prev = 0;
	for (size_t i = 0; i < nw; i++) {
		uint32_t u = unit_for(T, i);
		const struct unit *un = &T->units[u];
		item_push(T, u);
		count_df(T, un->stem_gid);
		for (uint32_t j = 0; j < un->ndistinct; j++)
			count_df(T, T->ugid[un->start + j]);
		if (i > 0) {
			uint32_t g = gid_for(T, learn_features_pair(prev, un->stem_key), 'p');
			item_push(T, g | ITEM_FEAT);
			count_df(T, g);
		}
		prev = un->stem_key;
	}
	uint64_t neg = learn_features_negation(&T->fx);
	if (neg && T->p->w_neg > 0) {
		uint32_t g = gid_for(T, neg, 'n');
		item_push(T, g | ITEM_FEAT);
		count_df(T, g);
	}
	if (T->p->w_len > 0) {
		uint32_t g = gid_for(T, learn_features_length(&T->fx), 'l');
		item_push(T, g | ITEM_FEAT);
		count_df(T, g);
	}
	T->dcls[T->ndocs] = cls;
	T->dkind[T->ndocs] = (uint8_t)kind;
	T->ndocs++;
	T->istart[T->ndocs] = (uint32_t)T->nitems;
}

static void tmp_push(struct trainer *T, size_t *n, uint32_t gid, float v)
{
	if (*n == T->tmp_cap) {
		T->tmp_cap = T->tmp_cap ? T->tmp_cap * 2 : 1024;
		T->tmp_gid = xrealloc(T->tmp_gid, T->tmp_cap * sizeof(*T->tmp_gid));
		T->tmp_val = xrealloc(T->tmp_val, T->tmp_cap * sizeof(*T->tmp_val));
	}
	T->tmp_gid[*n] = gid;
	T->tmp_val[*n] = v;
	(*n)++;
}

/* Sort the pending (gid, value) pairs by gid, merging repeats. */
static size_t merge_pending(struct trainer *T, size_t n)
{
	/* Insertion sort: a document has tens to a few hundred entries. */
	for (size_t i = 1; i < n; i++) {
		uint32_t g = T->tmp_gid[i];
		float v = T->tmp_val[i];
		size_t j = i;
		while (j > 0 && T->tmp_gid[j - 1] > g) {
			T->tmp_gid[j] = T->tmp_gid[j - 1];
			T->tmp_val[j] = T->tmp_val[j - 1];
			j--;
		}
		T->tmp_gid[j] = g;
		T->tmp_val[j] = v;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (o && T->tmp_gid[o - 1] == T->tmp_gid[i]) {
			T->tmp_val[o - 1] += T->tmp_val[i];
		} else {
			T->tmp_gid[o] = T->tmp_gid[i];
			T->tmp_val[o] = T->tmp_val[i];
			o++;
		}
	}
	return o;
}

/* The weight of a pair or shape feature (before its idf). */
static double feat_weight(const struct learn_params *p, uint8_t kind)
{
	return kind == 'p' ? p->w_pair : kind == 'n' ? p->w_neg : p->w_len;
}

/* The value a unit gives each of its n-grams (before their idf). */
static float gram_value(const struct learn_params *p, uint32_t ngrams)
{
	return ngrams ? (float)(p->w_gram / sqrt((double)ngrams)) : 0.0f;
}

/*
 * Once every document is in: feature weights for rarity, each unit's
 * squared length, and every document as a sparse vector of unit length.
 */
static void build_docs(struct trainer *T)
{
	const struct learn_params *p = T->p;
	double n = (double)T->ndocs;

	T->gid_idf = xmalloc((T->ngids ? T->ngids : 1) * sizeof(*T->gid_idf));
	for (size_t g = 0; g < T->ngids; g++)
		T->gid_idf[g] = p->idf ? (float)(log((n + 1.0) / ((double)T->gid_df[g] + 1.0)) + 1.0) : 1.0f;
	for (size_t u = 0; u < T->nunits; u++) {
		struct unit *un = &T->units[u];
		double s = p->w_word * T->gid_idf[un->stem_gid];
		double n2 = s * s, gv = gram_value(p, un->ngrams);
		for (uint32_t j = 0; j < un->ndistinct; j++) {
			double v = gv * T->ucnt[un->start + j] * T->gid_idf[T->ugid[un->start + j]];
			n2 += v * v;
		}
		un->norm2 = (float)n2;
	}
	/* The length every post is counted with at least: norm_floor times
	 * the squared length of an average written word. */
	double sum = 0;
	size_t nwords = 0;
	for (size_t i = 0; i < T->nitems; i++)
		if (!(T->items[i] & ITEM_FEAT)) {
			sum += T->units[T->items[i]].norm2;
			nwords++;
		}
	T->norm_floor = nwords ? p->norm_floor * sum / (double)nwords : 0.0;
	T->dstart = xmalloc((T->ndocs + 1) * sizeof(*T->dstart));
	T->dstart[0] = 0;
	for (size_t d = 0; d < T->ndocs; d++) {
		size_t k = 0;
		double n2 = 0;
		for (uint32_t i = T->istart[d]; i < T->istart[d + 1]; i++) {
			uint32_t it = T->items[i];
			if (it & ITEM_FEAT) {
				uint32_t g = it & ~ITEM_FEAT;
				float v = (float)feat_weight(p, T->gid_kind[g]) * T->gid_idf[g];
				tmp_push(T, &k, g, v);
				n2 += (double)v * v;
				continue;
			}
			const struct unit *un = &T->units[it];
			tmp_push(T, &k, un->stem_gid, (float)p->w_word * T->gid_idf[un->stem_gid]);
			float gv = gram_value(p, un->ngrams);
			for (uint32_t j = 0; j < un->ndistinct; j++) {
				uint32_t g = T->ugid[un->start + j];
				tmp_push(T, &k, g, gv * (float)T->ucnt[un->start + j] * T->gid_idf[g]);
			}
			n2 += un->norm2;
		}
		k = merge_pending(T, k);
		if (T->nvals + k > T->vals_cap) {
			T->vals_cap = (T->nvals + k) * 2 + 4096;
			T->dgid = xrealloc(T->dgid, T->vals_cap * sizeof(*T->dgid));
			T->dval = xrealloc(T->dval, T->vals_cap * sizeof(*T->dval));
		}
		float inv = (float)(1.0 / sqrt(n2 + T->norm_floor));
		for (size_t j = 0; j < k; j++) {
			T->dgid[T->nvals + j] = T->tmp_gid[j];
			T->dval[T->nvals + j] = T->tmp_val[j] * inv;
		}
		T->nvals += k;
		T->dstart[d + 1] = (uint32_t)T->nvals;
	}
}

static void result_push(struct trainer *T, uint32_t gid, uint32_t cls, float w)
{
	if (T->nres == T->res_cap) {
		T->res_cap = T->res_cap ? T->res_cap * 2 : 4096;
		T->res_gid = xrealloc(T->res_gid, T->res_cap * sizeof(*T->res_gid));
		T->res_cls = xrealloc(T->res_cls, T->res_cap * sizeof(*T->res_cls));
		T->res_w = xrealloc(T->res_w, T->res_cap * sizeof(*T->res_w));
	}
	T->res_gid[T->nres] = gid;
	T->res_cls[T->nres] = cls;
	T->res_w[T->nres] = w;
	T->nres++;
}

/* ---------------------------------------------------------------- one class */

/* Scratch of the per-class problems, reused from class to class. */
struct cls_work {
	uint32_t *sel; /* selected documents: positives first */
	size_t nsel;
	uint32_t *mark; /* per document: == stamp when selected */
	float *sim;     /* per document: similarity to the class */
	uint32_t *near; /* candidates by similarity */
	uint32_t *loc;  /* per gid: local index (when loc_stamp == stamp) */
	uint32_t *loc_stamp;
	uint32_t *loc_gid; /* local index - 1 -> gid */
	uint32_t stamp;
	/* similarity index: documents by selection feature */
	uint32_t *sx_start, *sx_doc;
	float *sx_val;
	uint32_t *by_cls_start, *by_cls; /* each class's example documents */
	/* liblinear problem */
	struct feature_node *nodes;
	size_t nodes_cap;
	struct feature_node **x;
	double *y;
};

static void quiet_liblinear(const char *s)
{
	(void)s;
}

static pthread_once_t liblinear_once = PTHREAD_ONCE_INIT;

/* liblinear prints progress to stdout unless told otherwise; the printer
 * is its one piece of global state, set once to the same silent function. */
static void silence_liblinear(void)
{
	set_print_string_function(quiet_liblinear);
}

static int cmp_sim_desc(const void *a, const void *b, void *ctx)
{
	const float *sim = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (sim[x] != sim[y])
		return sim[x] > sim[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int is_negative_for(const struct trainer *T, uint32_t d, uint32_t c)
{
	switch (T->dkind[d]) {
	case DOC_EXAMPLE: return T->dcls[d] != c;
	case DOC_NOT: return T->dcls[d] == c;
	default: return 1;
	}
}

static void select_doc(struct cls_work *W, uint32_t d)
{
	if (W->mark[d] != W->stamp) {
		W->mark[d] = W->stamp;
		W->sel[W->nsel++] = d;
	}
}

/*
 * The documents class c learns from: its examples (first), then its
 * negatives: all of them when they fit in max_negatives, else its
 * not_examples, the sample_near most similar others and an even sample of
 * the rest.  Returns the number of positives.  The negatives left out are
 * far from the class: a full problem would give them probabilities near 0
 * and leave the bias much as the sample does, so no correction is made
 * (measured: confidences within a few hundredths of the full problem's).
 */
static size_t select_docs(struct trainer *T, struct cls_work *W, uint32_t c, size_t nneg_all)
{
	const struct learn_params *p = T->p;
	size_t npos = 0;

	W->nsel = 0;
	for (uint32_t j = W->by_cls_start[c]; j < W->by_cls_start[c + 1]; j++)
		select_doc(W, W->by_cls[j]);
	npos = W->nsel;
	if (nneg_all <= p->max_negatives) {
		for (uint32_t d = 0; d < T->ndocs; d++)
			if (is_negative_for(T, d, c))
				select_doc(W, d);
		return npos;
	}

	/* Similarity of every document to the class's examples, over the
	 * words and pairs that are not too common to tell documents apart. */
	size_t nnear = 0;
	for (size_t i = 0; i < npos; i++) {
		uint32_t d = W->sel[i];
		for (uint32_t k = T->dstart[d]; k < T->dstart[d + 1]; k++) {
			uint32_t g = T->dgid[k];
			for (uint32_t q = W->sx_start[g]; q < W->sx_start[g + 1]; q++) {
				uint32_t o = W->sx_doc[q];
				if (W->mark[o] == W->stamp || !is_negative_for(T, o, c))
					continue;
				if (W->mark[o] != W->stamp + 1) {
					/* stamp + 1: seen as a candidate, not selected */
					W->mark[o] = W->stamp + 1;
					W->sim[o] = 0;
					W->near[nnear++] = o;
				}
				W->sim[o] += T->dval[k] * W->sx_val[q];
			}
		}
	}
	for (uint32_t d = 0; d < T->ndocs; d++)
		if (T->dkind[d] == DOC_NOT && T->dcls[d] == c)
			select_doc(W, d);
	qsort_r(W->near, nnear, sizeof(*W->near), cmp_sim_desc, W->sim);
	for (size_t i = 0; i < nnear && i < p->sample_near; i++)
		select_doc(W, W->near[i]);
	/* An even sample of the rest, starting at a class-dependent offset. */
	size_t rest = nneg_all > W->nsel - npos ? nneg_all - (W->nsel - npos) : 0;
	if (rest && p->sample_even) {
		size_t step = T->ndocs / p->sample_even;
		if (step == 0)
			step = 1;
		size_t start = (size_t)c % step;
		for (size_t d = start, k = 0; d < T->ndocs && k < p->sample_even; d += step)
			if (W->mark[d] != W->stamp && is_negative_for(T, (uint32_t)d, c)) {
				select_doc(W, (uint32_t)d);
				k++;
			}
	}
	return npos;
}

/* Learn class c; its kept weights go to T's results; returns its bias,
 * or -INFINITY when it has no example. */
static float train_class(struct trainer *T, struct cls_work *W, uint32_t c, size_t nneg_all)
{
	const struct learn_params *p = T->p;
	W->stamp += 2;
	size_t npos = select_docs(T, W, c, nneg_all);
	if (npos == 0)
		return -INFINITY;
	size_t l = W->nsel;
	if (l == npos) {
		/* Nothing to tell it apart from: a constant, confident guess
		 * would be wrong, so it learns nothing. */
		return -INFINITY;
	}

	/* Nodes: each document's features renumbered, a bias slot, the end. */
	size_t need = 0;
	for (size_t i = 0; i < l; i++)
		need += T->dstart[W->sel[i] + 1] - T->dstart[W->sel[i]] + 2;
	if (need > W->nodes_cap) {
		W->nodes_cap = need * 2;
		W->nodes = xrealloc(W->nodes, W->nodes_cap * sizeof(*W->nodes));
	}
	size_t nloc = 0, o = 0;
	for (size_t i = 0; i < l; i++) {
		uint32_t d = W->sel[i];
		W->x[i] = &W->nodes[o];
		W->y[i] = i < npos ? 1.0 : -1.0;
		for (uint32_t k = T->dstart[d]; k < T->dstart[d + 1]; k++) {
			uint32_t g = T->dgid[k];
			if (W->loc_stamp[g] != W->stamp) {
				W->loc_stamp[g] = W->stamp;
				W->loc[g] = (uint32_t)nloc;
				W->loc_gid[nloc++] = g;
			}
			W->nodes[o].index = (int)W->loc[g] + 1;
			W->nodes[o].value = T->dval[k];
			o++;
		}
		o += 2; /* bias and end, filled below */
	}
	for (size_t i = 0; i < l; i++) {
		struct feature_node *f = W->x[i] + (T->dstart[W->sel[i] + 1] - T->dstart[W->sel[i]]);
		f[0].index = (int)nloc + 1;
		f[0].value = 1.0;
		f[1].index = -1;
		f[1].value = 0;
	}

	struct problem prob;
	prob.l = (int)l;
	prob.n = (int)nloc + 1;
	prob.y = W->y;
	prob.x = W->x;
	prob.bias = 1.0;
	int wl[2] = {1, -1};
	double wt[2] = {p->pos_weight, 1.0};
	struct parameter param;
	memset(&param, 0, sizeof(param));
	param.solver_type = L2R_LR;
	param.eps = 0.01;
	param.C = p->C;
	param.nr_weight = 2;
	param.weight_label = wl;
	param.weight = wt;
	struct model *m = train(&prob, &param);
	/* The first document is positive, so label[0] is +1 and w is its side. */
	double sign = m->label[0] == 1 ? 1.0 : -1.0;
	for (size_t j = 0; j <= nloc; j++)
		m->w[j] *= sign;
	double bias = m->w[nloc];
	for (size_t j = 0; j < nloc; j++)
		if (fabs(m->w[j]) >= p->prune)
			result_push(T, W->loc_gid[j], c, (float)m->w[j]);
	free_and_destroy_model(&m);
	return (float)bias;
}

/* ---------------------------------------------------------------- building */

static uint32_t add_entry(struct learn_model *m, uint64_t key, uint32_t off, uint32_t len, size_t *cap)
{
	if (m->nentries == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		m->entries = xrealloc(m->entries, *cap * sizeof(*m->entries));
	}
	struct entry *e = &m->entries[m->nentries];
	memset(e, 0, sizeof(*e));
	e->off = off;
	e->len = len;
	ktab_put(&m->keys, key, (uint32_t)m->nentries);
	return (uint32_t)m->nentries++;
}

static void post_push(struct learn_model *m, size_t *cap, uint32_t cls, float w)
{
	if (m->npost == *cap) {
		*cap = *cap ? *cap * 2 : 4096;
		m->post = xrealloc(m->post, *cap * sizeof(*m->post));
	}
	m->post[m->npost].cls = cls;
	m->post[m->npost].w = w;
	m->npost++;
}

static int cmp_post_mag(const void *a, const void *b)
{
	float x = fabsf(((const struct posting *)a)->w), y = fabsf(((const struct posting *)b)->w);
	if (x != y)
		return x > y ? -1 : 1;
	uint32_t p = ((const struct posting *)a)->cls, q = ((const struct posting *)b)->cls;
	return p < q ? -1 : p > q;
}

/* Keep the `max` strongest postings of the run starting at off; returns
 * the run's new length. */
static uint32_t cap_list(struct learn_model *m, uint32_t off, size_t max)
{
	size_t n = m->npost - off;
	if (n > max) {
		qsort(m->post + off, n, sizeof(*m->post), cmp_post_mag);
		m->npost = off + max;
	}
	return (uint32_t)(m->npost - off);
}

static int cmp_bias_desc(const void *a, const void *b, void *ctx)
{
	const float *bias = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (bias[x] != bias[y])
		return bias[x] > bias[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Add scale * (entry e's postings) to the model's class accumulator. */
static void sum_postings(struct learn_model *m, uint32_t e, float scale)
{
	const struct entry *en = &m->entries[e];
	for (uint32_t j = en->off; j < en->off + en->len; j++) {
		uint32_t c = m->post[j].cls;
		if (m->stamp[c] != m->gen) {
			m->stamp[c] = m->gen;
			m->acc[c] = 0;
			m->touched[m->ntouched++] = c;
		}
		m->acc[c] += scale * m->post[j].w;
	}
}

/* The prediction side: postings by feature, summed lists for words. */
static void build_model(struct learn_model *m, struct trainer *T)
{
	const struct learn_params *p = T->p;
	size_t ecap = 0, pcap = 0;

	/* Group the kept weights by gid (counting sort). */
	uint32_t *gstart = xcalloc(T->ngids + 1, sizeof(*gstart));
	for (size_t i = 0; i < T->nres; i++)
		gstart[T->res_gid[i] + 1]++;
	for (size_t g = 0; g < T->ngids; g++)
		gstart[g + 1] += gstart[g];
	struct posting *byg = xmalloc((T->nres ? T->nres : 1) * sizeof(*byg));
	uint32_t *pos = xmalloc((T->ngids + 1) * sizeof(*pos));
	memcpy(pos, gstart, (T->ngids + 1) * sizeof(*pos));
	for (size_t i = 0; i < T->nres; i++) {
		struct posting *q = &byg[pos[T->res_gid[i]]++];
		q->cls = T->res_cls[i];
		q->w = T->res_w[i];
	}
	free(pos);

	/* Every stem, n-gram and pair: its idf and its own list (maybe empty:
	 * a known feature still counts in a post's length). */
	uint32_t *entry_of = xmalloc((T->ngids ? T->ngids : 1) * sizeof(*entry_of));
	for (size_t g = 0; g < T->ngids; g++) {
		uint32_t off = (uint32_t)m->npost;
		for (uint32_t j = gstart[g]; j < gstart[g + 1]; j++)
			post_push(m, &pcap, byg[j].cls, byg[j].w);
		uint32_t e = add_entry(m, T->gid_key[g], off,
		                       cap_list(m, off, T->gid_kind[g] == 'g' ? CAP_GRAM : CAP_FEAT), &ecap);
		m->entries[e].idf = T->gid_idf[g];
		entry_of[g] = e;
	}

	/* Written words: the unit's lists summed, small sums dropped. */
	for (size_t u = 0; u < T->nunits; u++) {
		const struct unit *un = &T->units[u];
		m->gen++;
		m->ntouched = 0;
		sum_postings(m, entry_of[un->stem_gid], (float)p->w_word * T->gid_idf[un->stem_gid]);
		float gv = gram_value(p, un->ngrams);
		for (uint32_t j = 0; j < un->ndistinct; j++) {
			uint32_t g = T->ugid[un->start + j];
			sum_postings(m, entry_of[g], gv * (float)T->ucnt[un->start + j] * T->gid_idf[g]);
		}
		uint32_t off = (uint32_t)m->npost;
		for (size_t j = 0; j < m->ntouched; j++) {
			uint32_t c = m->touched[j];
			if (fabsf(m->acc[c]) >= p->prune)
				post_push(m, &pcap, c, m->acc[c]);
		}
		uint32_t e = add_entry(m, un->key, off, cap_list(m, off, CAP_WORD), &ecap);
		m->entries[e].norm2 = un->norm2;
		m->entries[e].stem = un->stem_key;
	}
	free(entry_of);
	free(byg);
	free(gstart);
	m->norm_floor = T->norm_floor;
	m->idf_unknown = p->idf ? (float)(log((double)T->ndocs + 1.0) + 1.0) : 1.0f;
	m->post = xrealloc(m->post, (m->npost ? m->npost : 1) * sizeof(*m->post));
	m->entries = xrealloc(m->entries, (m->nentries ? m->nentries : 1) * sizeof(*m->entries));
}

static void trainer_free(struct trainer *T)
{
	learn_features_free(&T->fx);
	ktab_free(&T->gids);
	free(T->gid_key);
	free(T->gid_kind);
	free(T->gid_df);
	free(T->gid_last);
	free(T->gid_idf);
	ktab_free(&T->unit_of);
	free(T->units);
	free(T->ugid);
	free(T->ucnt);
	free(T->istart);
	free(T->items);
	free(T->dstart);
	free(T->dgid);
	free(T->dval);
	free(T->dcls);
	free(T->dkind);
	free(T->gram_tmp);
	free(T->cnt_tmp);
	free(T->tmp_gid);
	free(T->tmp_val);
	free(T->res_gid);
	free(T->res_cls);
	free(T->res_w);
}

/* Documents by selection feature (words and pairs rare enough to tell
 * documents apart), and each class's examples. */
static void build_index(struct trainer *T, struct cls_work *W, uint32_t nclasses)
{
	uint32_t df_cap = (uint32_t)(T->ndocs / 50 > 20 ? T->ndocs / 50 : 20);
	W->sx_start = xcalloc(T->ngids + 1, sizeof(*W->sx_start));
	for (size_t k = 0; k < T->nvals; k++) {
		uint32_t g = T->dgid[k];
		if (T->gid_kind[g] != 'g' && T->gid_df[g] <= df_cap)
			W->sx_start[g + 1]++;
	}
	for (size_t g = 0; g < T->ngids; g++)
		W->sx_start[g + 1] += W->sx_start[g];
	size_t total = W->sx_start[T->ngids];
	W->sx_doc = xmalloc((total ? total : 1) * sizeof(*W->sx_doc));
	W->sx_val = xmalloc((total ? total : 1) * sizeof(*W->sx_val));
	uint32_t *pos = xmalloc((T->ngids + 1) * sizeof(*pos));
	memcpy(pos, W->sx_start, (T->ngids + 1) * sizeof(*pos));
	for (uint32_t d = 0; d < T->ndocs; d++)
		for (uint32_t k = T->dstart[d]; k < T->dstart[d + 1]; k++) {
			uint32_t g = T->dgid[k];
			if (T->gid_kind[g] != 'g' && T->gid_df[g] <= df_cap) {
				W->sx_doc[pos[g]] = d;
				W->sx_val[pos[g]++] = T->dval[k];
			}
		}
	free(pos);

	W->by_cls_start = xcalloc((size_t)nclasses + 1, sizeof(*W->by_cls_start));
	for (uint32_t d = 0; d < T->ndocs; d++)
		if (T->dkind[d] == DOC_EXAMPLE)
			W->by_cls_start[T->dcls[d] + 1]++;
	for (uint32_t c = 0; c < nclasses; c++)
		W->by_cls_start[c + 1] += W->by_cls_start[c];
	W->by_cls = xmalloc((W->by_cls_start[nclasses] ? W->by_cls_start[nclasses] : 1) * sizeof(*W->by_cls));
	pos = xmalloc(((size_t)nclasses + 1) * sizeof(*pos));
	memcpy(pos, W->by_cls_start, ((size_t)nclasses + 1) * sizeof(*pos));
	for (uint32_t d = 0; d < T->ndocs; d++)
		if (T->dkind[d] == DOC_EXAMPLE)
			W->by_cls[pos[T->dcls[d]]++] = d;
	free(pos);
}

struct learn_model *learn_train(const struct learn_example *ex, size_t n, uint32_t nclasses,
                                const struct learn_params *params)
{
	struct learn_params defaults;
	struct trainer T;
	struct cls_work W;
	struct text tx;

	pthread_once(&liblinear_once, silence_liblinear);
	learn_params_default(&defaults);
	if (!params)
		params = &defaults;
	struct learn_model *m = xcalloc(1, sizeof(*m));
	m->p = *params;
	m->nclasses = nclasses;
	size_t nc = nclasses ? nclasses : 1;
	m->bias = xmalloc(nc * sizeof(*m->bias));
	m->negates = xcalloc(nc, sizeof(*m->negates));
	m->by_bias = xmalloc(nc * sizeof(*m->by_bias));
	m->stamp = xcalloc(nc, sizeof(*m->stamp));
	m->acc = xcalloc(nc, sizeof(*m->acc));
	m->touched = xmalloc(nc * sizeof(*m->touched));
	m->wcache = xcalloc(WORD_CACHE, sizeof(*m->wcache));
	m->wstamp = xcalloc(nc, sizeof(*m->wstamp));
	m->wacc = xcalloc(nc, sizeof(*m->wacc));
	m->wtouched = xmalloc(nc * sizeof(*m->wtouched));
	learn_features_init(&m->fx);
	m->fx.gram_min = params->gram_min;
	m->fx.gram_max = params->gram_max;
	for (uint32_t c = 0; c < nclasses; c++) {
		m->bias[c] = -INFINITY;
		m->by_bias[c] = c;
	}

	memset(&T, 0, sizeof(T));
	memset(&W, 0, sizeof(W));
	T.p = &m->p;
	learn_features_init(&T.fx);
	T.fx.gram_min = params->gram_min;
	T.fx.gram_max = params->gram_max;
	text_init(&tx);
	for (size_t i = 0; i < n; i++)
		if (ex[i].text && ex[i].cls < nclasses) {
			add_doc(&T, &tx, ex[i].text, ex[i].cls, ex[i].negative ? DOC_NOT : DOC_EXAMPLE);
			if (!ex[i].negative && learn_features_negation(&T.fx))
				m->negates[ex[i].cls] = 1;
		}
	if (params->offtopic)
		for (size_t i = 0; learn_offtopic[i]; i++)
			add_doc(&T, &tx, learn_offtopic[i], 0, DOC_OFFTOPIC);
	text_free(&tx);
	build_docs(&T);

	size_t nd = T.ndocs ? T.ndocs : 1;
	W.sel = xmalloc(nd * sizeof(*W.sel));
	W.mark = xcalloc(nd, sizeof(*W.mark));
	W.sim = xmalloc(nd * sizeof(*W.sim));
	W.near = xmalloc(nd * sizeof(*W.near));
	W.x = xmalloc(nd * sizeof(*W.x));
	W.y = xmalloc(nd * sizeof(*W.y));
	size_t ng = T.ngids ? T.ngids : 1;
	W.loc = xmalloc(ng * sizeof(*W.loc));
	W.loc_stamp = xcalloc(ng, sizeof(*W.loc_stamp));
	W.loc_gid = xmalloc(ng * sizeof(*W.loc_gid));
	build_index(&T, &W, nclasses);

	/* Negatives available to each class: every document but its own
	 * examples and other classes' not_examples. */
	size_t nother = 0, *nnot = xcalloc(nc, sizeof(*nnot));
	for (uint32_t d = 0; d < T.ndocs; d++) {
		if (T.dkind[d] == DOC_NOT)
			nnot[T.dcls[d]]++;
		else
			nother++;
	}
	for (uint32_t c = 0; c < nclasses; c++) {
		size_t own = W.by_cls_start[c + 1] - W.by_cls_start[c];
		m->bias[c] = train_class(&T, &W, c, nother - own + nnot[c]);
	}
	free(nnot);

	qsort_r(m->by_bias, nclasses, sizeof(*m->by_bias), cmp_bias_desc, m->bias);
	build_model(m, &T);

	free(W.sel);
	free(W.mark);
	free(W.sim);
	free(W.near);
	free(W.loc);
	free(W.loc_stamp);
	free(W.loc_gid);
	free(W.sx_start);
	free(W.sx_doc);
	free(W.sx_val);
	free(W.by_cls_start);
	free(W.by_cls);
	free(W.nodes);
	free(W.x);
	free(W.y);
	trainer_free(&T);
	m->gen = 0;
	memset(m->stamp, 0, nc * sizeof(*m->stamp));
	return m;
}

/* ---------------------------------------------------------------- vectors */

struct learn_vectors *learn_vectorize(const char *const *texts, size_t n, const char *const *background,
                                      size_t nbackground, const struct learn_params *params)
{
	struct learn_params p;
	struct trainer T;
	struct text tx;

	if (params)
		p = *params;
	else
		learn_params_default(&p);
	memset(&T, 0, sizeof(T));
	T.p = &p;
	learn_features_init(&T.fx);
	T.fx.gram_min = p.gram_min;
	T.fx.gram_max = p.gram_max;
	text_init(&tx);
	uint32_t *doc_of = xmalloc((n ? n : 1) * sizeof(*doc_of));
	for (size_t i = 0; i < n; i++) {
		size_t before = T.ndocs;
		add_doc(&T, &tx, texts[i] ? texts[i] : "", 0, DOC_EXAMPLE);
		doc_of[i] = T.ndocs > before ? (uint32_t)before : UINT32_MAX;
	}
	/* Words every kind of message uses ("do you", "can I") are common in
	 * the background too, and weigh little. */
	for (size_t i = 0; background && i < nbackground; i++)
		if (background[i])
			add_doc(&T, &tx, background[i], 0, DOC_OFFTOPIC);
	if (p.offtopic)
		for (size_t i = 0; learn_offtopic[i]; i++)
			add_doc(&T, &tx, learn_offtopic[i], 0, DOC_OFFTOPIC);
	text_free(&tx);
	build_docs(&T);

	struct learn_vectors *v = xcalloc(1, sizeof(*v));
	v->n = n;
	v->nfeat = T.ngids;
	v->start = xmalloc((n + 1) * sizeof(*v->start));
	size_t nv = T.ndocs ? T.dstart[T.ndocs] : 0; /* an upper bound of what the texts use */
	v->feat = xmalloc((nv ? nv : 1) * sizeof(*v->feat));
	v->val = xmalloc((nv ? nv : 1) * sizeof(*v->val));
	uint32_t o = 0;
	for (size_t i = 0; i < n; i++) {
		v->start[i] = o;
		if (doc_of[i] == UINT32_MAX)
			continue;
		uint32_t a = T.dstart[doc_of[i]], b = T.dstart[doc_of[i] + 1];
		/* Rarity counts twice here: to tell what two questions are
		 * about, "gift card" says much more than "do you have" (grouping
		 * measured better so on labelled questions, BENCHMARKS.md).  The
		 * vector is then scaled to exactly 1, for cosines. */
		double n2 = 0;
		for (uint32_t k = a; k < b; k++) {
			double x = (double)T.dval[k] * T.gid_idf[T.dgid[k]];
			n2 += x * x;
		}
		float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
		for (uint32_t k = a; k < b; k++) {
			v->feat[o + k - a] = T.dgid[k];
			v->val[o + k - a] = T.dval[k] * T.gid_idf[T.dgid[k]] * inv;
		}
		o += b - a;
	}
	v->start[n] = o;
	free(doc_of);
	trainer_free(&T);
	return v;
}

void learn_vectors_free(struct learn_vectors *v)
{
	if (!v)
		return;
	free(v->start);
	free(v->feat);
	free(v->val);
	free(v);
}

double learn_vectors_dot(const struct learn_vectors *v, size_t a, size_t b)
{
	uint32_t i = v->start[a], ie = v->start[a + 1], j = v->start[b], je = v->start[b + 1];
	double s = 0;
	while (i < ie && j < je) {
		if (v->feat[i] == v->feat[j])
			s += (double)v->val[i++] * v->val[j++];
		else if (v->feat[i] < v->feat[j])
			i++;
		else
			j++;
	}
	return s;
}

/* ---------------------------------------------------------------- prediction */

static inline void accumulate(struct learn_model *m, uint32_t e, float scale)
{
	const struct entry *en = &m->entries[e];
	const struct posting *q = m->post + en->off;
	for (uint32_t j = 0; j < en->len; j++) {
		uint32_t c = q[j].cls;
		if (m->stamp[c] != m->gen) {
			m->stamp[c] = m->gen;
			m->acc[c] = 0;
			m->touched[m->ntouched++] = c;
		}
		m->acc[c] += scale * q[j].w;
	}
}

/* Insert (cls, score) into the best-first list cand[0..*n), at most cap long. */
static void keep_best(struct learn_guess *cand, size_t *n, size_t cap, uint32_t cls, float s)
{
	if (*n == cap && s <= cand[cap - 1].confidence)
		return;
	size_t i = *n < cap ? (*n)++ : cap - 1;
	while (i > 0 && cand[i - 1].confidence < s) {
		cand[i] = cand[i - 1];
		i--;
	}
	cand[i].cls = cls;
	cand[i].confidence = s;
}

/* Add scale * (entry e's postings) to the word accumulator. */
static void word_add(struct learn_model *m, uint32_t e, float scale)
{
	const struct entry *en = &m->entries[e];
	const struct posting *q = m->post + en->off;
	for (uint32_t j = 0; j < en->len; j++) {
		uint32_t c = q[j].cls;
		if (m->wstamp[c] != m->wgen) {
			m->wstamp[c] = m->wgen;
			m->wacc[c] = 0;
			m->wtouched[m->nwtouched++] = c;
		}
		m->wacc[c] += scale * q[j].w;
	}
}

/*
 * Word i of the post, never seen in training: its stem's list and its
 * n-grams' lists, summed once and remembered, then added to the post.
 * Returns its stem key; adds its unit's squared length to *norm2 (features
 * never seen in training count with the highest idf: the post is about
 * something else as much as it is about them).
 */
static uint64_t unknown_word(struct learn_model *m, size_t i, double *norm2)
{
	const struct learn_params *p = &m->p;
	uint64_t key = m->fx.w[i].key;
	struct word_cache *wc = &m->wcache[key & (WORD_CACHE - 1)];
	uint64_t grams[LF_MAX_GRAMS(1, LF_MAX_GRAM_CP)];
	uint32_t cnt[ARRAY_LEN(grams)];

	if (wc->key == key && wc->n != UINT32_MAX) {
		for (uint32_t j = 0; j < wc->n; j++) {
			uint32_t c = wc->post[j].cls;
			if (m->stamp[c] != m->gen) {
				m->stamp[c] = m->gen;
				m->acc[c] = 0;
				m->touched[m->ntouched++] = c;
			}
			m->acc[c] += wc->post[j].w;
		}
		*norm2 += wc->norm2;
		return wc->stem;
	}
	uint64_t stem = wc->key == key ? wc->stem : learn_features_stem(&m->fx, i);
	double unk = (double)m->idf_unknown * m->idf_unknown, n2 = 0;
	if (++m->wgen == 0) {
		memset(m->wstamp, 0, m->nclasses * sizeof(*m->wstamp));
		m->wgen = 1;
	}
	m->nwtouched = 0;
	uint32_t e;
	double v = p->w_word;
	if ((e = ktab_get(&m->keys, stem)) != UINT32_MAX) {
		v *= m->entries[e].idf;
		word_add(m, e, (float)v);
		n2 += v * v;
	} else {
		n2 += v * v * unk;
	}
	size_t maxg = LF_MAX_GRAMS(p->gram_min, p->gram_max);
	if (maxg > ARRAY_LEN(grams))
		maxg = ARRAY_LEN(grams);
	size_t ng = learn_features_grams(&m->fx, i, grams, maxg);
	size_t nd = fold_grams(grams, cnt, ng);
	double gv = gram_value(p, (uint32_t)ng);
	for (size_t j = 0; j < nd; j++) {
		v = gv * cnt[j];
		if ((e = ktab_get(&m->keys, grams[j])) != UINT32_MAX) {
			v *= m->entries[e].idf;
			word_add(m, e, (float)v);
			n2 += v * v;
		} else {
			n2 += v * v * unk;
		}
	}
	wc->key = key;
	wc->stem = stem;
	wc->norm2 = (float)n2;
	wc->n = m->nwtouched <= WORD_CACHE_MAX ? (uint32_t)m->nwtouched : UINT32_MAX;
	for (size_t j = 0; j < m->nwtouched; j++) {
		uint32_t c = m->wtouched[j];
		if (wc->n != UINT32_MAX) {
			wc->post[j].cls = c;
			wc->post[j].w = m->wacc[c];
		}
		if (m->stamp[c] != m->gen) {
			m->stamp[c] = m->gen;
			m->acc[c] = 0;
			m->touched[m->ntouched++] = c;
		}
		m->acc[c] += m->wacc[c];
	}
	*norm2 += (float)n2;
	return stem;
}

size_t learn_predict(struct learn_model *m, const struct text *t, learn_filter_fn filter, void *ctx,
                     struct learn_guess *out, size_t k)
{
	const struct learn_params *p = &m->p;

	if (!m->nclasses || !k)
		return 0;
	size_t nw = learn_features_words(&m->fx, t);
	if (!nw)
		return 0;
	if (++m->gen == 0) {
		memset(m->stamp, 0, m->nclasses * sizeof(*m->stamp));
		m->gen = 1;
	}
	m->ntouched = 0;
	double norm2 = 0, unk = (double)m->idf_unknown * m->idf_unknown;
	uint64_t prev = 0;
	for (size_t i = 0; i < nw; i++) {
		uint32_t e = ktab_get(&m->keys, m->fx.w[i].key);
		uint64_t stem;
		if (e != UINT32_MAX && m->entries[e].stem) {
			accumulate(m, e, 1.0f);
			norm2 += m->entries[e].norm2;
			stem = m->entries[e].stem;
		} else {
			stem = unknown_word(m, i, &norm2);
		}
		if (i > 0) {
			double v = p->w_pair;
			if ((e = ktab_get(&m->keys, learn_features_pair(prev, stem))) != UINT32_MAX) {
				v *= m->entries[e].idf;
				accumulate(m, e, (float)v);
				norm2 += v * v;
			} else {
				norm2 += v * v * unk;
			}
		}
		prev = stem;
	}
	/* The shape of the post. */
	uint64_t shape[2] = {p->w_neg > 0 ? learn_features_negation(&m->fx) : 0,
	                     p->w_len > 0 ? learn_features_length(&m->fx) : 0};
	for (int j = 0; j < 2; j++) {
		if (!shape[j])
			continue;
		double v = j == 0 ? p->w_neg : p->w_len;
		uint32_t e = ktab_get(&m->keys, shape[j]);
		if (e != UINT32_MAX) {
			v *= m->entries[e].idf;
			accumulate(m, e, (float)v);
			norm2 += v * v;
		} else {
			norm2 += v * v * unk;
		}
	}
	if (norm2 <= 0)
		return 0; /* nothing in it was ever seen in training */

	/* Scores of the touched classes; the others keep their bias. */
	float inv = (float)(1.0 / sqrt(norm2 + m->norm_floor));
	struct learn_guess cand[MAX_CANDIDATES];
	size_t nc = 0;
	for (size_t j = 0; j < m->ntouched; j++) {
		uint32_t c = m->touched[j];
		if (isinf(m->bias[c]))
			continue;
		float s = m->bias[c] + m->acc[c] * inv;
		if (s > SCORE_CLAMP)
			s = SCORE_CLAMP;
		m->acc[c] = s;
		if (nc < MAX_CANDIDATES || s > cand[MAX_CANDIDATES - 1].confidence)
			keep_best(cand, &nc, MAX_CANDIDATES, c, s);
	}
	/* Untouched classes with the highest biases may still rank. */
	size_t added = 0;
	for (uint32_t j = 0; j < m->nclasses && added < MAX_CANDIDATES; j++) {
		uint32_t c = m->by_bias[j];
		if (isinf(m->bias[c]))
			break;
		if (m->stamp[c] == m->gen)
			continue;
		if (nc == MAX_CANDIDATES && m->bias[c] <= cand[nc - 1].confidence)
			break;
		keep_best(cand, &nc, MAX_CANDIDATES, c, m->bias[c]);
		added++;
	}

	/* The best classes and "none of them" share the probability. */
	double z = 1.0;
	for (size_t j = 0; j < nc && j < NORM_TOP; j++)
		z += expf(cand[j].confidence);
	size_t o = 0;
	for (size_t j = 0; j < nc && o < k; j++)
		if (!filter || filter(ctx, cand[j].cls))
			out[o++] = cand[j];
	if (o < k && nc == MAX_CANDIDATES) {
		/* The filter refused too many: rank every class (rare). */
		o = 0;
		for (uint32_t c = 0; c < m->nclasses; c++) {
			if (isinf(m->bias[c]) || (filter && !filter(ctx, c)))
				continue;
			float s = m->stamp[c] == m->gen ? m->acc[c] : m->bias[c];
			keep_best(out, &o, k, c, s);
		}
	}
	/* A post that negates is rarely asking what a class whose examples
	 * never negate answers ("how do I join" vs "I cannot join"). */
	if (p->negation_mismatch < 1 && learn_features_negation(&m->fx))
		for (size_t j = 0; j < o; j++)
			if (!m->negates[out[j].cls])
				out[j].confidence +=
				    logf((float)(p->negation_mismatch > 1e-6 ? p->negation_mismatch : 1e-6));
	for (size_t j = 0; j < o; j++)
		out[j].confidence = (float)(expf(out[j].confidence) / z);
	return o;
}
