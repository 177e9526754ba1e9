/*
 * fuzz_sentiment.c - any bytes through text_normalize and sentiment_analyze
 * with the shipped lexicon (the YAML files of rules/lexicon/, relative to the
 * current directory: the repository root when `make test` runs it).  Besides not
 * crashing, the result must keep its promises: a finite score in -1..1,
 * flags that are 0 or 1, a cue whenever a post is flagged abusive, a
 * threshold that changes only the verdict, and an explanation (the one
 * `frontdesk try` prints) and a feature vector (the one the training tool
 * fits) that agree with the verdict: the reasons' shares add up to the
 * model's margin, and the score is -tanh(margin / 2).
 *
 * An input that starts with "#lexicon\n" is a lexicon file instead: it is
 * loaded (every error reported, never a crash), and when it loads, a few
 * posts are analysed with it, so the pattern compiler and the model file's
 * loader (cues:, model:) are fuzzed too.
 */
#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "normalize.h"
#include "sentiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LEXICON_MAGIC "#lexicon\n"

static struct lexicon *shipped;
static struct text text;

static void check(const struct sentiment *s)
{
	if (!isfinite(s->score) || s->score < -1.0 || s->score > 1.0)
		abort();
	if ((s->negative | s->abusive | s->complaint) & ~1)
		abort();
	if (s->abusive && !s->cue)
		abort();
	if (s->cue && strlen(s->cue) == 0)
		abort();
}

/* The explanation and the feature vector tell the same story as the verdict. */
static void check_explained(const struct lexicon *lx, const struct text *t, const struct sentiment *s)
{
	static struct sentiment_explanation ex;
	static double x[8192];
	struct sentiment again;

	sentiment_explain(lx, t, lexicon_threshold(lx), &again, &ex);
	if (again.score != s->score || again.negative != s->negative || again.abusive != s->abusive)
		abort();
	if (ex.n > SENTIMENT_REASONS || ex.nlex > SENTIMENT_REASONS)
		abort();
	for (size_t i = 0; i < ex.n; i++)
		if (!ex.r[i].name || strlen(ex.r[i].words) >= sizeof(ex.r[i].words) ||
		    (ex.r[i].cue && (!ex.r[i].file || ex.r[i].line < 1)))
			abort();
	if (!lexicon_has_model(lx) || t->n_words == 0)
		return;
	double m = ex.bias;
	for (size_t i = 0; i < ex.n; i++)
		m += ex.r[i].value * ex.r[i].weight;
	size_t n = lexicon_features(lx);
	if (n > sizeof(x) / sizeof(x[0]))
		return;
	sentiment_features(lx, t, x);
	double m2 = lexicon_bias(lx);
	for (size_t i = 0; i < n; i++)
		m2 += x[i] * lexicon_weight(lx, i);
	/* (reasons past SENTIMENT_REASONS are not listed: compare only when all are) */
	if (ex.n < SENTIMENT_REASONS && fabs(m - ex.margin) > 1e-6 * (1 + fabs(m)))
		abort();
	if (fabs(m2 - ex.margin) > 1e-6 * (1 + fabs(m2)))
		abort();
	if (fabs(s->score + tanh((ex.margin > 40 ? 40 : ex.margin < -40 ? -40 : ex.margin) / 2)) > 1e-9)
		abort();
}

static void init(void)
{
	glob_t g;
	struct diag d;

	text_init(&text);
	if (glob("rules/lexicon/*.yaml", 0, NULL, &g) != 0) {
		fprintf(stderr, "fuzz_sentiment: run from the repository root (rules/lexicon/*.yaml)\n");
		abort();
	}
	diag_init(&d);
	shipped = lexicon_load(g.gl_pathv, &d);
	if (!shipped) {
		fprintf(stderr, "%s", d.out.p ? d.out.p : "");
		abort();
	}
	diag_free(&d);
	globfree(&g);
}

static void fuzz_lexicon(const uint8_t *data, size_t size)
{
	static const char *const posts[] = {"still waiting for my refund!!!",
	                                    "not bad :) but the cake was late", "NO ONE ANSWERS 😡😡", ""};
	char path[] = "/tmp/fuzz_sentiment.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "wb");
	if (!f) {
		close(fd);
		unlink(path);
		return;
	}
	fwrite(data, 1, size, f);
	fclose(f);

	char *files[] = {path, NULL};
	struct diag d;
	diag_init(&d);
	struct lexicon *lx = lexicon_load(files, &d);
	if (!lx && d.errors == 0)
		abort(); /* a refused lexicon always says why */
	for (size_t i = 0; lx && i < sizeof(posts) / sizeof(posts[0]); i++) {
		struct sentiment s;
		text_normalize(&text, posts[i], strlen(posts[i]));
		sentiment_analyze(lx, &text, lexicon_threshold(lx), &s);
		check(&s);
		check_explained(lx, &text, &s);
	}
	lexicon_free(lx);
	diag_free(&d);
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sentiment s;

	if (!shipped)
		init();
	if (size >= strlen(LEXICON_MAGIC) && memcmp(data, LEXICON_MAGIC, strlen(LEXICON_MAGIC)) == 0) {
		fuzz_lexicon(data, size);
		return 0;
	}
	text_normalize(&text, (const char *)data, size);
	sentiment_analyze(shipped, &text, lexicon_threshold(shipped), &s);
	check(&s);
	check_explained(shipped, &text, &s);
	/* the extreme thresholds must not change what is found, only the verdict */
	struct sentiment lo, hi;
	sentiment_analyze(shipped, &text, -1.0, &lo);
	sentiment_analyze(shipped, &text, 1.0, &hi);
	check(&lo);
	check(&hi);
	if (lo.score != s.score || hi.score != s.score || lo.complaint != s.complaint ||
	    lo.abusive != s.abusive)
		abort();
	if (!hi.negative)
		abort();
	return 0;
}
