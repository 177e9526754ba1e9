/*
 * cluster.c - grouping similar texts (see cluster.h).
 */
#include "cluster.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"
#include "util.h"

/* One member's share of a centroid feature: the inverted index. */
struct posting {
	uint32_t group;
	float w;
};

struct plist {
	struct posting *p;
	uint32_t n, cap;
};

struct work {
	struct learn_vectors *v;
	struct plist *post; /* per feature */
	double *acc;        /* per group: dot product with the text at hand */
	uint32_t *touched;
	size_t ntouched;
	double *norm2; /* per group: squared length of its centroid */
	struct cluster_group *g;
	size_t ng;
};

static void plist_push(struct plist *l, uint32_t group, float w)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->p = xrealloc(l->p, l->cap * sizeof(*l->p));
	}
	l->p[l->n++] = (struct posting){group, w};
}

static void member_push(struct cluster_group *g, size_t i)
{
	g->members = xrealloc(g->members, (g->n + 1) * sizeof(*g->members));
	g->members[g->n++] = i;
}

/* Dot products of text i with every centroid that shares a feature with it,
 * into W->acc (the groups touched listed in W->touched). */
static void score(struct work *W, size_t i)
{
	const struct learn_vectors *v = W->v;
	W->ntouched = 0;
	for (uint32_t k = v->start[i]; k < v->start[i + 1]; k++) {
		const struct plist *l = &W->post[v->feat[k]];
		for (uint32_t j = 0; j < l->n; j++) {
			uint32_t g = l->p[j].group;
			if (W->acc[g] == 0.0)
				W->touched[W->ntouched++] = g;
			W->acc[g] += (double)v->val[k] * l->p[j].w;
		}
	}
}

static void clear(struct work *W)
{
	for (size_t t = 0; t < W->ntouched; t++)
		W->acc[W->touched[t]] = 0.0;
	W->ntouched = 0;
}

/* Text i joins group g (acc_g: its dot product with the centroid). */
static void join(struct work *W, size_t i, uint32_t g, double acc_g, size_t weight)
{
	const struct learn_vectors *v = W->v;
	for (uint32_t k = v->start[i]; k < v->start[i + 1]; k++)
		plist_push(&W->post[v->feat[k]], g, v->val[k]);
	/* |c + x|^2 = |c|^2 + 2 c.x + |x|^2, and |x| is 1 (or 0: no words). */
	W->norm2[g] += 2.0 * acc_g + (v->start[i + 1] > v->start[i] ? 1.0 : 0.0);
	member_push(&W->g[g], i);
	W->g[g].weight += weight;
}

/* Order of the text's turn: most asked first, then as given. */
struct turn {
	size_t i, weight;
};

static int cmp_turn(const void *a, const void *b)
{
	const struct turn *x = a, *y = b;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_group(const void *a, const void *b)
{
	const struct cluster_group *x = a, *y = b;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->members[0] < y->members[0] ? -1 : x->members[0] > y->members[0];
}

void cluster_texts(const char *const *texts, const size_t *weights, size_t n, const char *const *background,
                   size_t nbackground, double threshold, struct cluster_result *out)
{
	struct learn_params p;
	struct work W;

	memset(out, 0, sizeof(*out));
	if (threshold <= 0)
		threshold = CLUSTER_THRESHOLD;
	/* What the texts say, not their shape: a text's length or a negation
	 * alone must not make two questions alike. */
	learn_params_default(&p);
	p.w_len = 0;
	p.w_neg = 0;
	memset(&W, 0, sizeof(W));
	W.v = learn_vectorize(texts, n, background, nbackground, &p);
	W.post = xcalloc(W.v->nfeat ? W.v->nfeat : 1, sizeof(*W.post));
	W.acc = xcalloc(n ? n : 1, sizeof(*W.acc));
	W.touched = xmalloc((n ? n : 1) * sizeof(*W.touched));
	W.norm2 = xcalloc(n ? n : 1, sizeof(*W.norm2));
	W.g = xcalloc(n ? n : 1, sizeof(*W.g));

	struct turn *order = xmalloc((n ? n : 1) * sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = (struct turn){i, weights ? weights[i] : 1};
	qsort(order, n, sizeof(*order), cmp_turn);

	for (size_t t = 0; t < n; t++) {
		size_t i = order[t].i;
		score(&W, i);
		uint32_t best = UINT32_MAX;
		double best_sim = 0, best_acc = 0;
		for (size_t k = 0; k < W.ntouched; k++) {
			uint32_t g = W.touched[k];
			double sim = W.norm2[g] > 0 ? W.acc[g] / sqrt(W.norm2[g]) : 0;
			if (sim > best_sim || (sim == best_sim && g < best)) {
				best = g;
				best_sim = sim;
				best_acc = W.acc[g];
			}
		}
		clear(&W);
		if (best == UINT32_MAX || best_sim < threshold) {
			best = (uint32_t)W.ng++;
			best_acc = 0;
		}
		join(&W, i, best, best_acc, order[t].weight);
	}
	free(order);

	/* The central member: the one most like its group's centroid. */
	for (size_t g = 0; g < W.ng; g++) {
		struct cluster_group *cg = &W.g[g];
		double best = -1;
		cg->central = cg->members[0];
		for (size_t m = 0; m < cg->n && cg->n > 2; m++) {
			size_t i = cg->members[m];
			double s = 0;
			for (uint32_t k = W.v->start[i]; k < W.v->start[i + 1]; k++) {
				const struct plist *l = &W.post[W.v->feat[k]];
				for (uint32_t j = 0; j < l->n; j++)
					if (l->p[j].group == g)
						s += (double)W.v->val[k] * l->p[j].w;
			}
			if (s > best) {
				best = s;
				cg->central = i;
			}
		}
	}
	qsort(W.g, W.ng, sizeof(*W.g), cmp_group);
	out->groups = W.g;
	out->n = W.ng;
	out->group_of = xmalloc((n ? n : 1) * sizeof(*out->group_of));
	for (size_t g = 0; g < W.ng; g++)
		for (size_t m = 0; m < W.g[g].n; m++)
			out->group_of[W.g[g].members[m]] = g;

	for (size_t f = 0; f < W.v->nfeat; f++)
		free(W.post[f].p);
	free(W.post);
	free(W.acc);
	free(W.touched);
	free(W.norm2);
	learn_vectors_free(W.v);
}

void cluster_free(struct cluster_result *r)
{
	for (size_t g = 0; g < r->n; g++)
		free(r->groups[g].members);
	free(r->groups);
	free(r->group_of);
	memset(r, 0, sizeof(*r));
}
