/*
 * matcher.c - Aho-Corasick over bytes.
 *
 * Layout after acm_build(), chosen for ~100k patterns in little memory and
 * a scan of about one table lookup per byte:
 *   - bytes used by some pattern get a class each (1..W-1); the others are
 *     class 0, which always leads back to the root;
 *   - states are numbered breadth-first, and the shallow ones (where a scan
 *     spends most of its time) get a dense row: the complete DFA
 *     transition for every class, failure links already folded in.  Rows
 *     are granted in breadth-first order within a memory budget (at least
 *     1 MiB, else 16 bytes per state), so a small automaton is a full DFA;
 *   - the other states are sparse: a sorted run of (label, target) edges,
 *     searched linearly or by bisection, plus a failure link;
 *   - the scan carries a "code" rather than a state id: a dense state's code
 *     is its row offset, so the common step is dense[code + class] with no
 *     other memory access; sparse codes have bit 31 set.  Dense rows of
 *     states with outputs come last, and sparse codes carry bit 30 for
 *     outputs, so "is there a match here" is one comparison;
 *   - the outputs of a state are a run of ids plus a link to the next state
 *     on its failure chain that has outputs, so a scan reports every
 *     pattern ending at a position without storing suffix outputs twice.
 * During acm_add() the trie is a node list plus a hash table from
 * (parent, byte) to child; acm_build() converts it and frees it.
 */
#include "matcher.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Dense rows may use DENSE_CELLS_PER_STATE cells per state, or at least
 * DENSE_MIN_CELLS in all (4 bytes each). */
#define DENSE_CELLS_PER_STATE 4u
#define DENSE_MIN_CELLS       (1u << 18)
/* Linear search of sparse edges up to this many, bisection above. */
#define LINEAR_MAX 8

#define CODE_SPARSE (1u << 31)
#define CODE_MATCH  (1u << 30) /* sparse codes only */
#define CODE_ID     0x3FFFFFFFu
#define MAX_STATES  CODE_ID

struct acm_state {
	uint32_t edges;  /* index of the first edge */
	uint32_t fail;   /* longest proper suffix that is a state */
	uint32_t match;  /* 1 + output record of the first state with outputs on the
	                  * failure chain (this state included); 0: none */
	uint32_t code;   /* what the scan carries while in this state */
	uint16_t nedges; /* number of edges; with exactly one, `edges` is its
	                  * target's code and `label1` its byte (tries are mostly chains) */
	uint8_t dense;   /* has a dense row (its code is the row offset) */
	uint8_t label1;
};

struct acm_out {
	uint32_t first, count; /* ids[first .. first + count) */
	uint32_t next;         /* 1 + next record on the failure chain, 0: end */
};

struct acm {
	/* building (freed by acm_build) */
	uint32_t *parent;
	uint8_t *label;
	uint16_t *depth;
	uint32_t nodes, nodes_cap;
	uint32_t *hash; /* node index or 0 (the root is nobody's child) */
	uint32_t hash_cap;
	uint32_t *term_state, *term_id; /* per added pattern */
	size_t nterm, term_cap;

	/* frozen */
	int built;
	struct acm_state *st;
	uint32_t nstates;
	uint8_t *elabel;
	uint32_t *etarget;
	uint32_t nedges;
	uint16_t cls[256]; /* class of each byte: 0 if in no pattern */
	uint32_t width;    /* classes per dense row */
	uint32_t *dense;   /* rows of codes */
	uint32_t ndense;
	uint32_t match_off;  /* dense codes >= this have outputs */
	uint32_t *row_state; /* state of each dense row */
	struct acm_out *outs;
	uint32_t nouts;
	uint32_t *ids;
	size_t npatterns;
};

struct acm *acm_new(void)
{
	struct acm *a = xcalloc(1, sizeof(*a));
	a->nodes_cap = 64;
	a->parent = xmalloc(a->nodes_cap * sizeof(*a->parent));
	a->label = xmalloc(a->nodes_cap * sizeof(*a->label));
	a->depth = xmalloc(a->nodes_cap * sizeof(*a->depth));
	a->parent[0] = 0;
	a->label[0] = 0;
	a->depth[0] = 0;
	a->nodes = 1;
	a->hash_cap = 128;
	a->hash = xcalloc(a->hash_cap, sizeof(*a->hash));
	return a;
}

static void free_build(struct acm *a)
{
	free(a->parent);
	free(a->label);
	free(a->depth);
	free(a->hash);
	free(a->term_state);
	free(a->term_id);
	a->parent = a->term_state = a->term_id = a->hash = NULL;
	a->label = NULL;
	a->depth = NULL;
}

void acm_free(struct acm *a)
{
	if (!a)
		return;
	free_build(a);
	free(a->st);
	free(a->elabel);
	free(a->etarget);
	free(a->dense);
	free(a->row_state);
	free(a->outs);
	free(a->ids);
	free(a);
}

/* Fibonacci hashing of (parent, label): the high half of the product mixes
 * every bit of the key. */
static inline uint32_t hash_slot(uint32_t parent, uint8_t label, uint32_t mask)
{
	uint64_t key = ((uint64_t)parent << 8 | label) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(key >> 32) & mask;
}

static void hash_grow(struct acm *a)
{
	uint32_t cap = a->hash_cap * 2, mask = cap - 1;
	uint32_t *h = xcalloc(cap, sizeof(*h));
	for (uint32_t v = 1; v < a->nodes; v++) {
		uint32_t i = hash_slot(a->parent[v], a->label[v], mask);
		while (h[i])
			i = (i + 1) & mask;
		h[i] = v;
	}
	free(a->hash);
	a->hash = h;
	a->hash_cap = cap;
}

/* The child of `parent` on `label`, created if absent. */
static uint32_t trie_child(struct acm *a, uint32_t parent, uint8_t label)
{
	uint32_t mask = a->hash_cap - 1;
	uint32_t i = hash_slot(parent, label, mask);
	for (; a->hash[i]; i = (i + 1) & mask) {
		uint32_t v = a->hash[i];
		if (a->parent[v] == parent && a->label[v] == label)
			return v;
	}
	if (a->nodes == a->nodes_cap) {
		a->nodes_cap *= 2;
		a->parent = xrealloc(a->parent, a->nodes_cap * sizeof(*a->parent));
		a->label = xrealloc(a->label, a->nodes_cap * sizeof(*a->label));
		a->depth = xrealloc(a->depth, a->nodes_cap * sizeof(*a->depth));
	}
	uint32_t v = a->nodes++;
	a->parent[v] = parent;
	a->label[v] = label;
	a->depth[v] = (uint16_t)(a->depth[parent] + 1);
	a->hash[i] = v;
	if ((uint64_t)a->nodes * 2 > a->hash_cap)
		hash_grow(a);
	return v;
}

int acm_add(struct acm *a, const char *pat, size_t len, uint32_t id)
{
	if (a->built || len == 0 || len > ACM_MAX_PATTERN || len >= MAX_STATES - a->nodes)
		return -1;
	uint32_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = trie_child(a, s, (uint8_t)pat[i]);
	if (a->nterm == a->term_cap) {
		a->term_cap = a->term_cap ? a->term_cap * 2 : 64;
		a->term_state = xrealloc(a->term_state, a->term_cap * sizeof(*a->term_state));
		a->term_id = xrealloc(a->term_id, a->term_cap * sizeof(*a->term_id));
	}
	a->term_state[a->nterm] = s;
	a->term_id[a->nterm] = id;
	a->nterm++;
	a->npatterns++;
	return 0;
}

/* The edge of state x on byte c, or UINT32_MAX: a state id while
 * building, the target's code once acm_build() is done. */
static inline uint32_t edge_find(const struct acm *a, const struct acm_state *x, uint8_t c)
{
	const uint8_t *lab = a->elabel + x->edges;
	uint32_t n = x->nedges;
	if (n <= LINEAR_MAX) {
		for (uint32_t j = 0; j < n; j++) {
			if (lab[j] == c)
				return a->etarget[x->edges + j];
			if (lab[j] > c)
				break;
		}
		return UINT32_MAX;
	}
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (lab[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && lab[lo] == c ? a->etarget[x->edges + lo] : UINT32_MAX;
}

/*
 * The code after reading byte c (class k) in state q: follow failure links
 * until an edge matches or a dense row answers (the root's at the latest).
 */
static inline uint32_t step_from(const struct acm *a, uint32_t q, uint8_t c, uint32_t k)
{
	for (;;) {
		const struct acm_state *x = &a->st[q];
		if (x->dense)
			return a->dense[x->code + k];
		if (x->nedges == 1) {
			if (x->label1 == c)
				return x->edges;
		} else {
			uint32_t t = edge_find(a, x, c);
			if (t != UINT32_MAX)
				return t;
		}
		q = x->fail;
	}
}

/* Sort each state's edges by label (insertion sort: runs are short) and
 * give every used byte a class. */
static void sort_edges(struct acm *a)
{
	memset(a->cls, 0, sizeof(a->cls));
	for (uint32_t s = 0; s < a->nstates; s++) {
		uint32_t b = a->st[s].edges, m = a->st[s].nedges;
		for (uint32_t i = 1; i < m; i++) {
			uint8_t l = a->elabel[b + i];
			uint32_t t = a->etarget[b + i], j = i;
			for (; j > 0 && a->elabel[b + j - 1] > l; j--) {
				a->elabel[b + j] = a->elabel[b + j - 1];
				a->etarget[b + j] = a->etarget[b + j - 1];
			}
			a->elabel[b + j] = l;
			a->etarget[b + j] = t;
		}
		for (uint32_t i = 0; i < m; i++)
			a->cls[a->elabel[b + i]] = 1;
	}
	uint16_t used = 0;
	for (int c = 0; c < 256; c++)
		if (a->cls[c])
			a->cls[c] = ++used;
	a->width = (uint32_t)used + 1;
}

/* Output records: ids grouped by final state (stable), one record per
 * state with ids, chained along the failure links (breadth-first order
 * has every failure target done first). */
static void build_outputs(struct acm *a, const uint32_t *newid)
{
	uint32_t n = a->nstates;
	uint32_t *cnt = xcalloc((size_t)n + 1, sizeof(*cnt));
	for (size_t i = 0; i < a->nterm; i++)
		cnt[newid[a->term_state[i]] + 1]++;
	for (uint32_t s = 0; s < n; s++)
		cnt[s + 1] += cnt[s];
	a->ids = xmalloc((a->nterm ? a->nterm : 1) * sizeof(*a->ids));
	uint32_t *pos = xmalloc(((size_t)n + 1) * sizeof(*pos));
	memcpy(pos, cnt, ((size_t)n + 1) * sizeof(*pos));
	for (size_t i = 0; i < a->nterm; i++)
		a->ids[pos[newid[a->term_state[i]]]++] = a->term_id[i];
	free(pos);
	a->nouts = 0;
	for (uint32_t s = 0; s < n; s++)
		if (cnt[s + 1] > cnt[s])
			a->nouts++;
	a->outs = xmalloc((a->nouts ? a->nouts : 1) * sizeof(*a->outs));
	uint32_t r = 0;
	for (uint32_t s = 0; s < n; s++) {
		struct acm_state *x = &a->st[s];
		uint32_t inherited = s == 0 ? 0 : a->st[x->fail].match;
		if (cnt[s + 1] > cnt[s]) {
			a->outs[r].first = cnt[s];
			a->outs[r].count = cnt[s + 1] - cnt[s];
			a->outs[r].next = inherited;
			x->match = ++r;
		} else {
			x->match = inherited;
		}
	}
	free(cnt);
}

/*
 * Once every state has its code: edge targets become codes (one load less
 * per step), and a state with a single edge keeps it inline, so the edge
 * arrays shrink to the states with several.
 */
static void inline_edges(struct acm *a)
{
	uint32_t o = 0;
	for (uint32_t s = 0; s < a->nstates; s++) {
		struct acm_state *x = &a->st[s];
		uint32_t b = x->edges;
		if (x->nedges == 1) {
			x->label1 = a->elabel[b];
			x->edges = a->st[a->etarget[b]].code;
			continue;
		}
		x->edges = o;
		for (uint32_t j = 0; j < x->nedges; j++, o++) {
			a->elabel[o] = a->elabel[b + j];
			a->etarget[o] = a->st[a->etarget[b + j]].code;
		}
	}
	a->nedges = o;
	a->elabel = xrealloc(a->elabel, o ? o : 1);
	a->etarget = xrealloc(a->etarget, (o ? o : 1) * sizeof(*a->etarget));
}

/*
 * Dense rows for the first states in breadth-first order, within the
 * budget; rows of states with outputs after all the others.  Then every
 * state's code, then the rows' contents.
 */
static void build_dense(struct acm *a)
{
	uint32_t n = a->nstates, w = a->width;
	size_t budget = (size_t)n * DENSE_CELLS_PER_STATE;
	if (budget < DENSE_MIN_CELLS)
		budget = DENSE_MIN_CELLS;
	if (budget > CODE_ID - w)
		budget = CODE_ID - w;
	uint32_t rows = (uint32_t)(budget / w);
	if (rows < 1)
		rows = 1; /* the root always */
	if (rows > n)
		rows = n;

	uint32_t plain = 0;
	for (uint32_t s = 0; s < rows; s++)
		if (!a->st[s].match)
			plain++;
	a->ndense = rows;
	a->match_off = plain * w;
	a->row_state = xmalloc(rows * sizeof(*a->row_state));
	uint32_t next_plain = 0, next_match = plain;
	for (uint32_t s = 0; s < n; s++) {
		struct acm_state *x = &a->st[s];
		if (s < rows) {
			uint32_t row = x->match ? next_match++ : next_plain++;
			a->row_state[row] = s;
			x->dense = 1;
			x->code = row * w;
		} else {
			x->dense = 0;
			x->code = CODE_SPARSE | (x->match ? CODE_MATCH : 0) | s;
		}
	}

	inline_edges(a);
	a->dense = xmalloc((size_t)rows * w * sizeof(*a->dense));
	for (uint32_t s = 0; s < rows; s++) { /* breadth first: failure targets' rows are filled */
		const struct acm_state *x = &a->st[s];
		uint32_t *row = a->dense + x->code;
		row[0] = a->st[0].code;
		for (int c = 0; c < 256; c++) {
			uint32_t k = a->cls[c];
			if (k == 0)
				continue;
			uint32_t t = x->nedges == 1 ? (x->label1 == c ? x->edges : UINT32_MAX)
			                            : edge_find(a, x, (uint8_t)c);
			if (t != UINT32_MAX)
				row[k] = t;
			else
				row[k] = s == 0 ? a->st[0].code : step_from(a, x->fail, (uint8_t)c, k);
		}
	}
}

void acm_build(struct acm *a)
{
	if (a->built)
		return;
	uint32_t n = a->nodes;

	/* Breadth-first numbering: counting sort of the nodes by depth. */
	uint32_t *bucket = xcalloc((size_t)ACM_MAX_PATTERN + 2, sizeof(*bucket));
	for (uint32_t v = 0; v < n; v++)
		bucket[a->depth[v] + 1]++;
	for (uint32_t d = 1; d <= ACM_MAX_PATTERN + 1; d++)
		bucket[d] += bucket[d - 1];
	uint32_t *order = xmalloc(n * sizeof(*order)); /* new -> old */
	uint32_t *newid = xmalloc(n * sizeof(*newid)); /* old -> new */
	for (uint32_t v = 0; v < n; v++) {
		uint32_t x = bucket[a->depth[v]]++;
		order[x] = v;
		newid[v] = x;
	}
	free(bucket);

	/* Edges grouped by parent, in the new numbering. */
	a->nstates = n;
	a->st = xcalloc(n, sizeof(*a->st));
	a->nedges = n - 1;
	a->elabel = xmalloc(n * sizeof(*a->elabel));
	a->etarget = xmalloc(n * sizeof(*a->etarget));
	uint32_t *fill = xcalloc((size_t)n + 1, sizeof(*fill));
	for (uint32_t v = 1; v < n; v++)
		fill[newid[a->parent[v]] + 1]++;
	for (uint32_t s = 0; s < n; s++) {
		a->st[s].nedges = (uint16_t)fill[s + 1];
		fill[s + 1] += fill[s];
		a->st[s].edges = fill[s];
	}
	for (uint32_t x = 1; x < n; x++) {
		uint32_t v = order[x], p = newid[a->parent[v]];
		uint32_t e = fill[p]++;
		a->elabel[e] = a->label[v];
		a->etarget[e] = x;
	}
	free(fill);
	sort_edges(a);

	/* Failure links, breadth first: fail(v) = goto(fail(parent), label),
	 * following failure links while there is no such edge. */
	for (uint32_t s = 1; s < n; s++) {
		uint32_t v = order[s], p = newid[a->parent[v]];
		uint8_t c = a->label[v];
		uint32_t f = 0;
		if (p != 0) {
			f = a->st[p].fail;
			for (;;) {
				uint32_t t = edge_find(a, &a->st[f], c);
				if (t != UINT32_MAX) {
					f = t;
					break;
				}
				if (f == 0)
					break;
				f = a->st[f].fail;
			}
		}
		a->st[s].fail = f;
	}

	build_outputs(a, newid);
	build_dense(a);
	free(order);
	free(newid);
	free_build(a);
	a->built = 1;
}

/* Report every pattern ending in the state of `code`; nonzero: stop. */
static int report(const struct acm *a, uint32_t code, size_t end, acm_hit_fn fn, void *ctx)
{
	uint32_t s = code & CODE_SPARSE ? code & CODE_ID : a->row_state[code / a->width];
	for (uint32_t r = a->st[s].match; r; r = a->outs[r - 1].next) {
		const struct acm_out *o = &a->outs[r - 1];
		for (uint32_t j = 0; j < o->count; j++)
			if (fn(ctx, a->ids[o->first + j], end))
				return 1;
	}
	return 0;
}

/*
 * One table lookup per byte while in dense states; sparse states fall back
 * along failure links until an edge or a dense row answers.  Reads only
 * the frozen automaton: any number of scans may run on one automaton.
 */
void acm_scan(const struct acm *a, const char *s, size_t len, acm_hit_fn fn, void *ctx)
{
	if (!a->built)
		return;
	const uint8_t *p = (const uint8_t *)s;
	const uint16_t *cls = a->cls;
	const uint32_t *dense = a->dense;
	const uint32_t match_off = a->match_off, root = a->st[0].code;
	uint32_t code = root;

	for (size_t i = 0; i < len; i++) {
		uint32_t k = cls[p[i]];
		if (code < CODE_SPARSE) {
			code = dense[code + k];
		} else if (k == 0) {
			code = root;
			continue;
		} else {
			code = step_from(a, code & CODE_ID, p[i], k);
		}
		if (code >= match_off && (code < CODE_SPARSE || (code & CODE_MATCH)))
			if (report(a, code, i + 1, fn, ctx))
				return;
	}
}

size_t acm_patterns(const struct acm *a)
{
	return a->npatterns;
}

size_t acm_states(const struct acm *a)
{
	return a->built ? a->nstates : a->nodes;
}

size_t acm_bytes(const struct acm *a)
{
	if (!a->built)
		return sizeof(*a) + (size_t)a->nodes_cap * (4 + 1 + 2) + (size_t)a->hash_cap * 4 +
		       a->term_cap * 8;
	return sizeof(*a) + (size_t)a->nstates * sizeof(*a->st) + (size_t)a->nedges * 5 +
	       (size_t)a->ndense * (a->width + 1) * sizeof(*a->dense) + (size_t)a->nouts * sizeof(*a->outs) +
	       a->npatterns * sizeof(*a->ids);
}
