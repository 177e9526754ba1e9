/*
 * learn.h - recognising a post from example questions: a model learned from
 * each class's examples (one class per rule, rules.c decides which) that
 * says which classes a new post is most like, and how sure it is.
 *
 * Learning.  Each example is cut into features (learn_features.h): a word
 * contributes its stem and its character n-grams as one unit, adjacent
 * words a pair feature; a post's vector is the sum of those, divided by its
 * length (the square root of the summed squares, plus the squared length of
 * one average word: norm_floor), so long posts do not outweigh short ones,
 * while a post of one or two words, which says little, scores less surely
 * than the same words in a full question (measured on real traffic: with
 * unit length, answers to one- or two-word posts were right little more
 * than half the time).  One logistic regression per class (liblinear, L2-regularised,
 * primal trust-region Newton: deterministic and free of global state)
 * separates the class's examples from everything else: the other classes'
 * examples, the class's not_examples, and a built-in set of generic
 * off-topic messages (learn_offtopic[]) that teaches every class what it is
 * not.  When there are many classes, a class learns against the other
 * examples closest to its own plus an even sample of the rest, so that
 * learning grows with the number of examples, not with its square.
 *
 * Confidence.  Class c scores s_c = w_c . x + b_c.  The best classes and a
 * "none of them" alternative share the probability:
 *     confidence(c) = exp(s_c) / (1 + sum over the 8 best classes c' of exp(s_c'))
 * which is what independent one-against-the-rest models give for "exactly
 * this class" once the case "no class at all" is counted too.  A post like
 * nothing the model knows leaves every class low; a post that two classes
 * both claim splits between them.  Confidences of a post sum to less than 1.
 * Only the best classes count, so that the confidence does not sink as a
 * business adds rules about other things (on the measured data, the other
 * classes weigh nothing anyway).
 *
 * Prediction cost.  Weights below a small magnitude are dropped and the
 * rest are kept per feature as (class, weight) lists; each word seen in
 * training has its unit's list summed in advance, so a known word costs one
 * table look-up and a short list, an unknown one (a typo) a look-up per
 * n-gram (remembered for the next time the word comes, in a small cache
 * of unknown words).  The cost of a post grows with its words and the classes they
 * name, not with the number of classes.
 *
 * Ownership and threads: learn_train() returns a model owning everything it
 * holds; it reads only its arguments and touches no global state except,
 * once per process, liblinear's message printer (silenced), so several
 * threads may train at once (a reload is learned off the loop thread).
 * learn_predict() uses scratch space inside the model: one model serves
 * one thread at a time.  Nothing fails but memory, which aborts (xmalloc).
 */
#ifndef FD_LEARN_H
#define FD_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "normalize.h"

/* Generic messages that are about no business (NULL-terminated). */
extern const char *const learn_offtopic[];

/* One training text.  `negative`: a not_example of `cls` (a negative for
 * that class only); otherwise an example of `cls`. */
struct learn_example {
	const char *text;
	uint32_t cls;
	int negative;
};

/* Tuning of the learner; learn_params_default() gives the shipped values,
 * chosen once for every business (BENCHMARKS.md says how). */
struct learn_params {
	double C;          /* liblinear cost: higher fits the examples more closely */
	double pos_weight; /* cost multiplier of a class's own examples */
	double w_word;     /* weight of a word's stem in its unit */
	double w_gram;     /* weight of all of a word's n-grams together */
	double w_pair;     /* weight of a pair of adjacent words */
	double w_neg;      /* weight of "the post negates" */
	double w_len;      /* weight of the post's length bucket */
	int gram_min;      /* n-gram sizes, code points */
	int gram_max;
	int offtopic;             /* learn against learn_offtopic[] */
	size_t max_negatives;     /* negatives a class learns against before sampling */
	size_t sample_near;       /* when sampling: the closest other examples kept */
	size_t sample_even;       /* when sampling: an even sample of the rest */
	float prune;              /* weights of smaller magnitude are dropped */
	int idf;                  /* weigh features by rarity (inverse document frequency) */
	double negation_mismatch; /* confidence factor for a class none of whose examples
	                           * negate, when the post negates */
	double norm_floor;        /* added to a post's squared length, in squared lengths of
	                           * an average word (0: every post has unit length) */
};

void learn_params_default(struct learn_params *p);

struct learn_model;

/*
 * Learn `nclasses` classes from n examples (texts are read, not kept).  A
 * class without any example is never predicted.  p may be NULL (defaults).
 * Never fails; the model is freed with learn_free().
 */
struct learn_model *learn_train(const struct learn_example *ex, size_t n, uint32_t nclasses,
                                const struct learn_params *p);
void learn_free(struct learn_model *m);

uint32_t learn_classes(const struct learn_model *m);
/* Heap bytes the model holds (for sizing reports). */
size_t learn_bytes(const struct learn_model *m);

struct learn_guess {
	uint32_t cls;
	float confidence; /* 0..1, see above */
};

/* A filter on candidate classes (rules.c: the rule's `when` and `none`);
 * nonzero keeps the class. */
typedef int (*learn_filter_fn)(void *ctx, uint32_t cls);

/*
 * The k classes a normalized post is most like, best first, among those the
 * filter keeps (filter NULL: all).  Returns how many were written (0 for a
 * post without words, or a model without classes).  Allocates nothing.
 */
size_t learn_predict(struct learn_model *m, const struct text *t, learn_filter_fn filter, void *ctx,
                     struct learn_guess *out, size_t k);

/*
 * Texts as the learner sees them, to compare them with each other (grouping
 * the questions the bot could not answer, cluster.h): each text's features
 * (p's weights; p NULL: the defaults), weighed by the square of their
 * rarity (idf: what a question is about counts more than how it is asked)
 * among these texts, the `background` texts (NULL / 0: none; e.g. the rules' examples)
 * and, when p->offtopic, the built-in off-topic messages, and scaled to
 * length 1, so that the dot product of two vectors is
 * their cosine similarity, 0 (nothing shared) .. 1.  Vector i is text i;
 * a text without words (or NULL) has an empty vector.  Feature ids are
 * 0 .. nfeat - 1, ascending within a vector.  Reads only its arguments (any
 * thread).  Never fails; free with learn_vectors_free().
 */
struct learn_vectors {
	size_t n;        /* texts */
	size_t nfeat;    /* distinct features over all of them */
	uint32_t *start; /* vector i is [start[i], start[i + 1]) of feat and val */
	uint32_t *feat;
	float *val;
};
struct learn_vectors *learn_vectorize(const char *const *texts, size_t n, const char *const *background,
                                      size_t nbackground, const struct learn_params *p);
void learn_vectors_free(struct learn_vectors *v);
/* The cosine similarity of vectors a and b. */
double learn_vectors_dot(const struct learn_vectors *v, size_t a, size_t b);

#endif
