/*
 * cluster.h - grouping texts that ask the same thing, by what the learner
 * reads of them (learn.h: words and their stems, word pairs, character
 * n-grams, weighed by rarity): the questions the bot could not answer, so
 * that an owner sees which FAQ to add next (insights, handoff/report.h).
 *
 * The method: every text becomes a unit vector (learn_vectorize); texts
 * are taken in the order given (callers put the most asked first) and each
 * joins the group whose centroid (the sum of its members) it is most
 * similar to, by cosine, when that similarity is at least the threshold;
 * otherwise it starts a group of its own.  Similarity to a centroid rather
 * than to one member keeps a group about one subject as it grows; one pass
 * over an inverted index of the centroids keeps the cost near-linear in the
 * texts' features (a thousand questions take milliseconds).  The result is
 * deterministic for the same input.
 *
 * Ownership: cluster_texts reads its arguments and returns a result it
 * owns (cluster_free).  No global state: any thread.
 */
#ifndef FD_CLUSTER_H
#define FD_CLUSTER_H

#include <stddef.h>

/* The default similarity a text needs to join a group (chosen on labelled
 * customer questions: BENCHMARKS.md, "Grouping unanswered questions"). */
#define CLUSTER_THRESHOLD 0.3

struct cluster_group {
	size_t *members; /* indices of the texts, in the order they joined */
	size_t n;
	size_t weight;  /* sum of the members' weights (how often it was asked) */
	size_t central; /* the member most like the group as a whole */
};

struct cluster_result {
	struct cluster_group *groups; /* heaviest first (ties: the earliest first) */
	size_t n;
	size_t *group_of; /* per text: its group's index in groups */
};

/*
 * Group n texts; weights[i] (NULL: all 1) says how often text i was asked.
 * `background` (NULL / 0: none) are other messages of the business (the
 * rules' examples): words common there weigh less in the texts' likeness.
 * threshold <= 0 means CLUSTER_THRESHOLD.  Texts without words each form
 * a group of their own.  Never fails.
 */
void cluster_texts(const char *const *texts, const size_t *weights, size_t n, const char *const *background,
                   size_t nbackground, double threshold, struct cluster_result *out);
void cluster_free(struct cluster_result *r);

#endif
