/*
 * sentiment.h - is a customer post a complaint, negative, or abusive?
 *
 * The pipeline escalates negative and abusive posts to a person instead of
 * answering them with an FAQ reply, so this module decides, from an editable
 * lexicon (the YAML files of rules/lexicon/), three things about a
 * normalized post:
 *
 *   complaint  a service-failure statement matched ("still waiting",
 *              "never arrived", "charged twice", "on hold for 2 hours",
 *              "third time I ask") - customers state facts far more often
 *              than they use emotion words, so these patterns, with the
 *              weak cues of a complaint's story (hours go by, nobody
 *              answers, "again"), carry most of the recall;
 *   negative   the overall score is at or below the threshold, or a
 *              complaint matched and the post is not clearly positive;
 *   abusive    insults or abusive language matched.
 *
 * The score sums weighted words and phrases, adjusted by context: negators
 * ("not good" is negative, "not bad" mildly positive), intensifiers ("very"),
 * contrast ("nice but two hours late" counts what follows "but" more),
 * emoji and emoticons (ordinary lexicon tokens), and shouting (mostly upper
 * case, "!!", "??").  The lexicon's file format is documented at the top of
 * rules/lexicon/en.yaml.
 *
 * Every entry of every section is compiled into one Aho-Corasick automaton
 * (matcher.h), so analysing a post is one pass over its normalized text
 * whatever the size of the lexicon, and allocates nothing.
 *
 * Ownership: a lexicon is immutable after lexicon_load() and may be shared by
 * any number of threads; sentiment.cue points into the lexicon and stays
 * valid until lexicon_free().
 */
#ifndef FD_SENTIMENT_H
#define FD_SENTIMENT_H

#include <stddef.h>

#include "normalize.h"
#include "yml.h"

struct lexicon;

/*
 * Load and merge the lexicon files `files` (a NULL-terminated list of paths),
 * in that order: a later file may redefine an entry of an earlier one (its
 * weight wins), which lets a business keep its changes in a file of its own.
 * Every problem is reported in d as "file:line:col: message"; returns NULL if
 * there was any, so a half-valid lexicon never runs.  Caller frees with
 * lexicon_free().
 */
struct lexicon *lexicon_load(char *const *files, struct diag *d);
void lexicon_free(struct lexicon *lx);

/* The default decision threshold (the `threshold:` key; -0.3 if no file sets it). */
double lexicon_threshold(const struct lexicon *lx);
/* The tone (the lexicon's own score) at or below which a negative post is
 * strongly so (the `strongly_negative:` key; -0.75 if no file sets it). */
double lexicon_strong(const struct lexicon *lx);
/* Number of distinct entries (words, phrases, patterns, negators, ...). */
size_t lexicon_entries(const struct lexicon *lx);

struct sentiment {
	double score;    /* -1.0 (surely negative) .. 1.0: the model's verdict when the lexicon has
	                    one (-tanh(margin / 2)), else the lexicon's own score; 0 for no words */
	double tone;     /* the lexicon's own score: -1.0 (very negative) .. 1.0 (very positive),
	                    0 when nothing matched */
	int negative;    /* score <= threshold (or abusive); without a model also: a complaint matched
	                    and the post is not clearly positive */
	int abusive;     /* an abusive entry matched */
	int complaint;   /* a service-failure pattern matched */
	int strong;      /* negative and tone <= the lexicon's strongly_negative level: too unhappy
	                    for an FAQ answer, even one with an apology */
	const char *cue; /* the entry that weighed most in the decision (as written in the lexicon,
	                    borrowed from it), or NULL when nothing matched */
};

/*
 * Analyse the normalized post t.  `threshold` is the score at or below which
 * a post is negative: pass lexicon_threshold(lx) for the lexicon's default.
 * Never fails and never allocates; only the first few hundred cues of a very
 * long post are taken into account.
 */
void sentiment_analyze(const struct lexicon *lx, const struct text *t, double threshold,
                       struct sentiment *out);

/* ---- why: the explanation `frontdesk try` prints ---- */

#define SENTIMENT_REASONS 64

/* A feature of the model that fired, with its share of the verdict. */
struct sentiment_reason {
	size_t feature;   /* its index (lexicon_feature) */
	const char *name; /* "cue.failure", "question", or a vocabulary entry as written (borrowed) */
	const char *cue;  /* the lexicon entry that made it fire, as written (borrowed), or NULL */
	const char *file; /* where that entry is defined (borrowed), or NULL */
	int line;
	char words[64]; /* the words of the post it matched (normalized, cut to fit) */
	double value;   /* its value for this post (1 for a cue or vocabulary entry) */
	double weight;  /* its weight: value * weight > 0 pushes toward negative */
};

/* A lexicon entry found in the post, with its weight after context. */
struct sentiment_match {
	const char *entry;   /* as written (borrowed) */
	const char *section; /* "words", "complaints" or "abusive" */
	const char *file;    /* where it is defined (borrowed) */
	int line;
	char words[64]; /* the words of the post it matched */
	double weight;  /* after negation, intensifiers and contrast */
};

struct sentiment_explanation {
	int model;     /* 1: the model decided; 0: the lexicon's score alone */
	double bias;   /* the model's bias */
	double margin; /* bias + the sum of every value * weight; > 0 leans negative */
	size_t n;      /* reasons, the largest |value * weight| first */
	struct sentiment_reason r[SENTIMENT_REASONS];
	size_t nlex; /* lexicon entries, in the order of the post */
	struct sentiment_match lex[SENTIMENT_REASONS];
};

/* sentiment_analyze(), also saying why in ex.  Never fails or allocates. */
void sentiment_explain(const struct lexicon *lx, const struct text *t, double threshold,
                       struct sentiment *out, struct sentiment_explanation *ex);

/* ---- the complaint model's features (training, tests) ---- */

enum sentiment_feature_kind { SF_BUILTIN = 0, SF_CUE, SF_VOCAB };

/* 1 if some lexicon file has a `model:` section. */
int lexicon_has_model(const struct lexicon *lx);
double lexicon_bias(const struct lexicon *lx);
/* Number of features: the built-in ones, one per cue family, one per
 * vocabulary entry, in this order. */
size_t lexicon_features(const struct lexicon *lx);
/* Feature i's kind and name ("lexicon.score", "cue.failure", or a vocabulary
 * entry as written; borrowed from lx). */
enum sentiment_feature_kind lexicon_feature(const struct lexicon *lx, size_t i, const char **name);
/* Feature i's weight in the model (0 when unset or out of range). */
double lexicon_weight(const struct lexicon *lx, size_t i);
/* The values of every feature of t into x (lexicon_features(lx) doubles). */
void sentiment_features(const struct lexicon *lx, const struct text *t, double *x);

#endif
