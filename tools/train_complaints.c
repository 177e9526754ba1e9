/*
 * train_complaints.c - fit the complaint model of rules/lexicon/ on labelled
 * posts and write its weights file.
 *
 *   train-complaints [-o OUT.yaml] [-l LEXICON_GLOB] [--cross] DATA.jsonl...
 *
 * Each DATA file has one {"id", "text", "label", "domain"?} object a line
 * (the dev files in ../shared/data: read where they lie, never copied).  A post
 * is a complaint when label is "negative".  The features are the lexicon's
 * own (sentiment_features): built-in ones, one per cue family, one per
 * vocabulary entry of the current model file; no word of the data becomes a
 * feature, so what is written holds weights over generic features only.
 *
 * What it does:
 *   1. Every file counts the same: a file's posts are repeated so that each
 *      file weighs about as much as the largest (liblinear has no instance
 *      weights; repeating a row is the same thing for logistic regression).
 *   2. L2-regularised logistic regression (liblinear L2R_LR); C is chosen
 *      from a small grid by 5-fold cross-validation.
 *   3. The threshold is chosen on the out-of-fold scores of every file
 *      together: where the mean of the files' MCC is highest among the
 *      thresholds with a precision of at least 0.90 in every file.
 *   4. The model is fitted on everything with that C, and OUT is written:
 *      the threshold, strongly_negative (kept from the current lexicon),
 *      the bias, the weights and the vocabulary in the current file's order.
 *   --cross also prints how a model fitted without part of the data does on
 *      that part: one file on the other, and each domain left out in turn.
 *   --scores FILE writes each post's id, label and out-of-fold score (tab
 *      separated) to FILE, to study the misses; keep it out of the repository.
 *
 * Nothing is written unless every file was read and the fit succeeded.
 */
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <linear.h>

#include "normalize.h"
#include "sentiment.h"
#include "util.h"

#define MAX_LINE  (1u << 20)
#define MAX_FILES 8
#define FOLDS     5

struct post {
	int file;               /* index into the files given */
	char *domain;           /* "domain" field, or NULL */
	char *id;               /* "id" field, or NULL */
	int y;                  /* 1 complaint, 0 not */
	unsigned fold;          /* 0 .. FOLDS-1, from a hash of the id */
	struct feature_node *x; /* sparse, 1-based, ends with index -1 */
};

struct data {
	struct post *p;
	size_t n, cap;
	const char *file[MAX_FILES];
	size_t nfile;
	size_t nfeat;
};

static void free_data(struct data *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->p[i].x);
		free(d->p[i].domain);
		free(d->p[i].id);
	}
	free(d->p);
}

/* Sparse features of one text: the non-zero values, then the end marker. */
static struct feature_node *featurize(const struct lexicon *lx, struct text *t, const char *s, double *dense,
                                      size_t nfeat)
{
	size_t nz = 0, k = 0;

	text_normalize(t, s, strlen(s));
	sentiment_features(lx, t, dense);
	for (size_t i = 0; i < nfeat; i++)
		nz += dense[i] != 0;
	struct feature_node *x = xcalloc(nz + 1, sizeof(*x));
	for (size_t i = 0; i < nfeat; i++)
		if (dense[i] != 0)
			x[k++] = (struct feature_node){(int)i + 1, dense[i]};
	x[k].index = -1;
	return x;
}

static int read_file(struct data *d, const struct lexicon *lx, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;
	struct text t;
	double *dense = xcalloc(d->nfeat, sizeof(*dense));

	if (!f) {
		fprintf(stderr, "train-complaints: %s: %s\n", path, strerror(errno));
		free(dense);
		return -1;
	}
	text_init(&t);
	d->file[d->nfile] = path;
	while ((len = getline(&line, &cap, f)) >= 0) {
		json_error_t err;
		lineno++;
		if ((size_t)len > MAX_LINE) {
			fprintf(stderr, "%s:%d: line longer than %u bytes\n", path, lineno, MAX_LINE);
			rc = -1;
			break;
		}
		if (len <= 1)
			continue;
		json_t *o = json_loadb(line, (size_t)len, 0, &err);
		const char *text = json_string_value(json_object_get(o, "text"));
		const char *label = json_string_value(json_object_get(o, "label"));
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *domain = json_string_value(json_object_get(o, "domain"));
		if (!o || !text || !label) {
			fprintf(stderr, "%s:%d: expected an object with \"text\" and \"label\"\n", path,
			        lineno);
			json_decref(o);
			rc = -1;
			break;
		}
		if (d->n == d->cap) {
			d->cap = d->cap ? d->cap * 2 : 4096;
			d->p = xrealloc(d->p, d->cap * sizeof(*d->p));
		}
		struct post *p = &d->p[d->n++];
		p->file = (int)d->nfile;
		p->domain = domain ? xstrdup(domain) : NULL;
		p->id = id ? xstrdup(id) : NULL;
		p->y = !strcmp(label, "negative");
		p->fold = (unsigned)(hash64(id ? id : text, strlen(id ? id : text)) % FOLDS);
		p->x = featurize(lx, &t, text, dense, d->nfeat);
		json_decref(o);
	}
	free(line);
	fclose(f);
	text_free(&t);
	free(dense);
	d->nfile++;
	return rc;
}

/* ---------- fitting ---------- */

typedef int (*pick_fn)(const struct post *p, const void *arg);

static void quiet(const char *s)
{
	(void)s;
}

/* Fit on the posts `pick` accepts, each file repeated to weigh like the largest. */
static struct model *fit(const struct data *d, pick_fn pick, const void *arg, double C)
{
	size_t per_file[MAX_FILES] = {0}, most = 0, l = 0;
	int rep[MAX_FILES];

	for (size_t i = 0; i < d->n; i++)
		if (pick(&d->p[i], arg))
			per_file[d->p[i].file]++;
	for (size_t f = 0; f < d->nfile; f++)
		if (per_file[f] > most)
			most = per_file[f];
	for (size_t f = 0; f < d->nfile; f++) {
		rep[f] = per_file[f] ? (int)lround((double)most / (double)per_file[f]) : 0;
		if (per_file[f] && rep[f] < 1)
			rep[f] = 1;
		l += per_file[f] * (size_t)rep[f];
	}
	if (!l)
		return NULL;
	/* the bias is one more feature, index nfeat + 1, counted in n */
	struct problem prob = {.l = (int)l, .n = (int)d->nfeat + 1, .bias = 1};
	prob.y = xcalloc(l, sizeof(*prob.y));
	prob.x = xcalloc(l, sizeof(*prob.x));
	size_t k = 0;
	struct feature_node **with_bias = xcalloc(d->n, sizeof(*with_bias));
	for (size_t i = 0; i < d->n; i++) {
		const struct post *p = &d->p[i];
		if (!pick(p, arg))
			continue;
		/* liblinear wants the bias term as one more feature, index n+1 */
		size_t nz = 0;
		while (p->x[nz].index != -1)
			nz++;
		struct feature_node *x = xcalloc(nz + 2, sizeof(*x));
		memcpy(x, p->x, nz * sizeof(*x));
		x[nz] = (struct feature_node){(int)d->nfeat + 1, 1};
		x[nz + 1].index = -1;
		with_bias[i] = x;
		for (int r = 0; r < rep[p->file]; r++) {
			prob.y[k] = p->y ? 1 : -1;
			prob.x[k++] = x;
		}
	}
	struct parameter param = {.solver_type = L2R_LR, .eps = 0.001, .C = C};
	const char *bad = check_parameter(&prob, &param);
	struct model *m = NULL;
	if (bad)
		fprintf(stderr, "train-complaints: %s\n", bad);
	else
		m = train(&prob, &param);
	for (size_t i = 0; i < d->n; i++)
		free(with_bias[i]);
	free(with_bias);
	free(prob.y);
	free(prob.x);
	return m;
}

/* The weight of feature i (0-based) toward "complaint"; i == nfeat is the bias. */
static double coef(const struct model *m, size_t i)
{
	int labels[2];
	get_labels(m, labels);
	double sign = labels[0] == 1 ? 1 : -1;
	if ((int)i == get_nr_feature(m))
		return sign * get_decfun_bias(m, 0);
	return sign * get_decfun_coef(m, (int)i + 1, 0);
}

/* The margin toward "complaint" of a post. */
static double margin_of(const struct model *m, const struct data *d, const struct post *p)
{
	double s = coef(m, d->nfeat); /* the bias */
	for (const struct feature_node *x = p->x; x->index != -1; x++)
		s += x->value * coef(m, (size_t)x->index - 1);
	return s;
}

static double score_of(double margin)
{
	return -tanh(margin / 2);
}

/* ---------- measuring ---------- */

struct counts {
	long tp, fp, fn, tn;
};

static void count(struct counts *c, int flagged, int gold)
{
	if (flagged && gold)
		c->tp++;
	else if (flagged)
		c->fp++;
	else if (gold)
		c->fn++;
	else
		c->tn++;
}

static double precision(const struct counts *c)
{
	return c->tp + c->fp ? (double)c->tp / (double)(c->tp + c->fp) : 0;
}

static double recall(const struct counts *c)
{
	return c->tp + c->fn ? (double)c->tp / (double)(c->tp + c->fn) : 0;
}

static double f1(const struct counts *c)
{
	double p = precision(c), r = recall(c);
	return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

static double mcc(const struct counts *c)
{
	double tp = (double)c->tp, fp = (double)c->fp, fn = (double)c->fn, tn = (double)c->tn;
	double den = sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
	return den > 0 ? (tp * tn - fp * fn) / den : 0;
}

static void print_counts(const char *what, const struct counts *c)
{
	printf("  %-34s P %.3f  R %.3f  F1 %.3f  MCC %.3f  (%ld posts)\n", what, precision(c), recall(c),
	       f1(c), mcc(c), c->tp + c->fp + c->fn + c->tn);
}

/*
 * The threshold, chosen on scores (one per post, NAN where not computed) of
 * every file together: the highest mean of the files' MCC among thresholds
 * whose precision is at least MIN_PRECISION in every file (the bot must
 * rarely take a happy customer for an unhappy one); when none reaches it,
 * the highest mean MCC.
 */
#define MIN_PRECISION 0.90
static double best_threshold(const struct data *d, const double *score, double *mean_mcc)
{
	double best = -0.3, best_v = -2, any = -0.3, any_v = -2;
	for (int k = -95; k <= 95; k++) {
		double t = k / 100.0, v = 0, pmin = 1;
		int files = 0;
		for (size_t f = 0; f < d->nfile; f++) {
			struct counts c = {0};
			for (size_t i = 0; i < d->n; i++)
				if (d->p[i].file == (int)f && !isnan(score[i]))
					count(&c, score[i] <= t, d->p[i].y);
			if (c.tp + c.fp + c.fn + c.tn) {
				v += mcc(&c);
				files++;
				if (precision(&c) < pmin)
					pmin = precision(&c);
			}
		}
		if (!files)
			continue;
		v /= files;
		if (v > any_v) {
			any_v = v;
			any = t;
		}
		if (pmin >= MIN_PRECISION && v > best_v) {
			best_v = v;
			best = t;
		}
	}
	if (best_v < -1) {
		best = any;
		best_v = any_v;
	}
	if (mean_mcc)
		*mean_mcc = best_v;
	return best;
}

struct fold_pick {
	pick_fn base;
	const void *base_arg;
	unsigned fold;
	int in; /* 1: only that fold, 0: every other */
};

static int pick_fold(const struct post *p, const void *arg)
{
	const struct fold_pick *fp = arg;
	return fp->base(p, fp->base_arg) && ((p->fold == fp->fold) == fp->in);
}

/* Out-of-fold scores of the posts `pick` accepts (NAN elsewhere). */
static int oof_scores(const struct data *d, pick_fn pick, const void *arg, double C, double *score)
{
	for (size_t i = 0; i < d->n; i++)
		score[i] = NAN;
	for (unsigned f = 0; f < FOLDS; f++) {
		struct fold_pick train_on = {pick, arg, f, 0};
		struct model *m = fit(d, pick_fold, &train_on, C);
		if (!m)
			return -1;
		for (size_t i = 0; i < d->n; i++)
			if (pick(&d->p[i], arg) && d->p[i].fold == f)
				score[i] = score_of(margin_of(m, d, &d->p[i]));
		free_and_destroy_model(&m);
	}
	return 0;
}

static int pick_all(const struct post *p, const void *arg)
{
	(void)p;
	(void)arg;
	return 1;
}

static const double grid[] = {0.03, 0.1, 0.3, 1, 3};

/* Choose C and the threshold by cross-validation on the posts `pick` accepts. */
static int choose(const struct data *d, pick_fn pick, const void *arg, double *C, double *threshold,
                  int verbose)
{
	double *score = xcalloc(d->n, sizeof(*score)), best = -2;

	for (size_t g = 0; g < sizeof(grid) / sizeof(grid[0]); g++) {
		double v, t;
		if (oof_scores(d, pick, arg, grid[g], score) < 0) {
			free(score);
			return -1;
		}
		t = best_threshold(d, score, &v);
		if (verbose)
			printf("  C %-5g  threshold %+.2f  mean MCC %.3f (5-fold, out of fold)\n", grid[g], t,
			       v);
		if (v > best) {
			best = v;
			*C = grid[g];
			*threshold = t;
		}
	}
	free(score);
	return 0;
}

/* ---------- cross-checks ---------- */

struct except {
	int file;           /* leave this file out (-1: none) */
	const char *domain; /* leave this domain out (NULL: none) */
};

static int pick_except(const struct post *p, const void *arg)
{
	const struct except *e = arg;
	if (e->file >= 0 && p->file == e->file)
		return 0;
	if (e->domain && p->domain && !strcmp(p->domain, e->domain))
		return 0;
	return 1;
}

/* Fit without part of the data, measure on that part. */
static void cross_one(const struct data *d, const struct except *e, const char *what)
{
	double C = 1, t = -0.3;
	struct counts c = {0};

	if (choose(d, pick_except, e, &C, &t, 0) < 0)
		return;
	struct model *m = fit(d, pick_except, e, C);
	if (!m)
		return;
	for (size_t i = 0; i < d->n; i++)
		if (!pick_except(&d->p[i], e))
			count(&c, score_of(margin_of(m, d, &d->p[i])) <= t, d->p[i].y);
	free_and_destroy_model(&m);
	print_counts(what, &c);
}

static void cross(const struct data *d)
{
	const char *domains[64];
	size_t nd = 0;

	printf("\ncross-checks: fitted (C and threshold included) without the part measured\n");
	for (size_t f = 0; d->nfile > 1 && f < d->nfile; f++) {
		char what[256];
		struct except e = {(int)f, NULL};
		snprintf(what, sizeof(what), "%s, fitted on the others", d->file[f]);
		cross_one(d, &e, what);
	}
	for (size_t i = 0; i < d->n; i++) {
		size_t j = 0;
		if (!d->p[i].domain)
			continue;
		while (j < nd && strcmp(domains[j], d->p[i].domain) != 0)
			j++;
		if (j == nd && nd < 64)
			domains[nd++] = d->p[i].domain;
	}
	for (size_t j = 0; j < nd; j++) {
		char what[256];
		struct except e = {-1, domains[j]};
		snprintf(what, sizeof(what), "domain %s, left out", domains[j]);
		cross_one(d, &e, what);
	}
}

/* ---------- writing ---------- */

static const char *const header =
    "# rules/lexicon/model.yaml - the complaint model: weights over generic features.\n"
    "#\n"
    "# Whether a post is `negative` (a complaint: handed to a person, never a\n"
    "# cheerful FAQ answer) is decided by a linear model over features of the\n"
    "# post that say nothing about any one business:\n"
    "#\n"
    "#   lexicon.score     the lexicon's own score (words, complaints, negation, ...), -1..1\n"
    "#   lexicon.negative  how much negative weight matched, 0..1 (lexicon.positive: positive)\n"
    "#   complaint         complaints entries matched: 0, 1/2, 2/3 ...\n"
    "#   abusive           an abusive entry matched\n"
    "#   negated.positive  a positive word under a negator (\"not happy\"); negated.negative:\n"
    "#                     a negative one (\"not bad\")\n"
    "#   contrast          a \"but\" after which the post turns negative\n"
    "#   mixed             praise next to a negative word or a complaint\n"
    "#   exclaim, exclaims a '!'; \"!!\" or more.   question, questions: '?'; \"??\" or more\n"
    "#   shouting          mostly capitals;  caps.word: a word of 3+ letters in capitals\n"
    "#   short, long       4 words or fewer; 25 words or more\n"
    "#   cue.FAMILY        a phrase of that family of the `cues:` sections matched\n"
    "#                     (cues.yaml: failure, persistence, inability, ...)\n"
    "#   vocabulary        each word or phrase below, when the post contains it\n"
    "#\n"
    "# margin = bias + the sum of value x weight over the features; the post's\n"
    "# score is -tanh(margin / 2), from -1 (surely a complaint) to 1, and the post\n"
    "# is negative when its score is at or below `threshold` (sentiment.threshold\n"
    "# in config.yaml overrides it).  A negative post whose lexicon score is at\n"
    "# or below `strongly_negative` is too unhappy for an FAQ answer even with an\n"
    "# apology.  `frontdesk try` shows every feature that fired for a post, with\n"
    "# its weight and the lexicon entry (file:line) behind it.\n"
    "#\n"
    "# The weights are fitted together: a family the lexicon's complaints already\n"
    "# weigh (charged, persistence) may get a small or even negative weight here,\n"
    "# because lexicon.score and complaint carry it; read a post's whole\n"
    "# explanation, not one weight.\n"
    "#\n"
    "# Editing: change a weight (a positive one pushes toward negative), add a\n"
    "# word or phrase to `vocabulary:` (the lexicon's pattern language; keep it\n"
    "# generic: no product, brand or trade words), or override any of it from a\n"
    "# file of your own that sorts later (zz-local.yaml: model: { weights: {...} }).\n"
    "# `frontdesk check` refuses an unknown feature or a weight outside -50..50.\n"
    "#\n"
    "# How these weights were made: `make train-complaints` (tools/train_complaints.c)\n"
    "# reads labelled posts where they lie (../shared/data/airline_dev.jsonl and\n"
    "# complaints_dev.jsonl; none of their text is kept), computes these features,\n"
    "# fits L2-regularised logistic regression with liblinear, each file weighing\n"
    "# the same, C chosen by 5-fold cross-validation, and picks the threshold where\n"
    "# the files' mean MCC is best, with a precision of 0.90 or more in each, on\n"
    "# out-of-fold scores.  It rewrites this file (comments included), keeping the\n"
    "# vocabulary and strongly_negative.\n";

static int write_model(const char *out, const struct lexicon *lx, const struct model *m, size_t nfeat,
                       double C, double threshold, const struct data *d)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "train-complaints: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	fputs(header, f);
	fprintf(f, "#\n# This fit: C %g, %zu features, posts from", C, nfeat);
	for (size_t i = 0; i < d->nfile; i++) {
		const char *b = strrchr(d->file[i], '/');
		fprintf(f, "%s %s", i ? "," : "", b ? b + 1 : d->file[i]);
	}
	fputs(".\n\n", f);
	fprintf(f, "threshold: %.2f\nstrongly_negative: %.2f\n\nmodel:\n", threshold, lexicon_strong(lx));
	fprintf(f, "  bias: %.4f\n  weights:\n", coef(m, nfeat));
	for (size_t i = 0; i < nfeat; i++) {
		const char *name;
		if (lexicon_feature(lx, i, &name) != SF_VOCAB)
			fprintf(f, "    %s: %.4f\n", name, coef(m, i));
	}
	fputs("  vocabulary:\n", f);
	for (size_t i = 0; i < nfeat; i++) {
		const char *name;
		if (lexicon_feature(lx, i, &name) != SF_VOCAB)
			continue;
		json_t *js = json_string(name);
		char *q = json_dumps(js, JSON_ENCODE_ANY);
		fprintf(f, "    %s: %.4f\n", q, coef(m, i));
		free(q);
		json_decref(js);
	}
	if (fflush(f) != 0 || ferror(f)) {
		fclose(f);
		fprintf(stderr, "train-complaints: %s: write error\n", tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, out) < 0) {
		fprintf(stderr, "train-complaints: %s: %s\n", out, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *lexglob = "rules/lexicon/*.yaml", *scores_out = NULL;
	int do_cross = 0, i;
	struct data d = {0};
	struct diag dg;
	glob_t g;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			lexglob = argv[++i];
		else if (!strcmp(argv[i], "--cross"))
			do_cross = 1;
		else if (!strcmp(argv[i], "--scores") && i + 1 < argc)
			scores_out = argv[++i];
		else {
			fprintf(stderr, "usage: train-complaints [-o OUT.yaml] [-l LEXICON_GLOB] [--cross] "
			                "[--scores FILE] DATA.jsonl...\n");
			return 2;
		}
	}
	if (i >= argc || argc - i > MAX_FILES) {
		fprintf(stderr, "train-complaints: give 1 to %d data files\n", MAX_FILES);
		return 2;
	}
	set_print_string_function(quiet);
	if (glob(lexglob, 0, NULL, &g) != 0) {
		fprintf(stderr, "train-complaints: no lexicon files match %s\n", lexglob);
		return 2;
	}
	diag_init(&dg);
	struct lexicon *lx = lexicon_load(g.gl_pathv, &dg);
	globfree(&g);
	if (!lx) {
		fputs(dg.out.p ? dg.out.p : "", stderr);
		diag_free(&dg);
		return 2;
	}
	diag_free(&dg);
	d.nfeat = lexicon_features(lx);
	for (; i < argc; i++)
		if (read_file(&d, lx, argv[i]) < 0) {
			free_data(&d);
			lexicon_free(lx);
			return 1;
		}

	double C = 1, threshold = -0.3;
	printf("complaint model: %zu posts, %zu features\n", d.n, d.nfeat);
	if (choose(&d, pick_all, NULL, &C, &threshold, 1) < 0) {
		free_data(&d);
		lexicon_free(lx);
		return 1;
	}
	struct model *m = fit(&d, pick_all, NULL, C);
	if (!m) {
		free_data(&d);
		lexicon_free(lx);
		return 1;
	}
	/* out-of-fold figures at the chosen setting, then the fitted model on its own data */
	double *score = xcalloc(d.n, sizeof(*score));
	oof_scores(&d, pick_all, NULL, C, score);
	printf("\nchosen: C %g, threshold %+.2f\n", C, threshold);
	for (size_t f = 0; f < d.nfile; f++) {
		struct counts oof = {0}, fitted = {0};
		char what[512];
		for (size_t k = 0; k < d.n; k++) {
			if (d.p[k].file != (int)f)
				continue;
			count(&oof, score[k] <= threshold, d.p[k].y);
			count(&fitted, score_of(margin_of(m, &d, &d.p[k])) <= threshold, d.p[k].y);
		}
		snprintf(what, sizeof(what), "%s (out of fold)", d.file[f]);
		print_counts(what, &oof);
		snprintf(what, sizeof(what), "%s (fitted)", d.file[f]);
		print_counts(what, &fitted);
	}
	if (scores_out) {
		FILE *sf = fopen(scores_out, "w");
		if (!sf) {
			fprintf(stderr, "train-complaints: %s: %s\n", scores_out, strerror(errno));
		} else {
			for (size_t k = 0; k < d.n; k++)
				fprintf(sf, "%s\t%d\t%d\t%.4f\n", d.p[k].id ? d.p[k].id : "", d.p[k].file,
				        d.p[k].y, score[k]);
			fclose(sf);
		}
	}
	free(score);
	if (do_cross)
		cross(&d);
	int rc = 0;
	if (out) {
		rc = write_model(out, lx, m, d.nfeat, C, threshold, &d) < 0;
		if (!rc)
			printf("\nwrote %s\n", out);
	}
	free_and_destroy_model(&m);
	free_data(&d);
	lexicon_free(lx);
	return rc;
}
