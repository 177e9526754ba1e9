/*
 * fuzz_sentiment.c - any bytes through text_normalize and sentiment_analyze
 * with the shipped lexicon (the YAML files of rules/lexicon/, relative to the
 * current directory: the repository root when `make test` runs it).  Besides not
 * crashing, the result must keep its promises: a finite score in -1..1,
 * flags that are 0 or 1, a cue whenever a post is flagged abusive, and a
 * threshold that changes only the verdict.
 *
 * An input that starts with "#lexicon\n" is a lexicon file instead: it is
 * loaded (every error reported, never a crash), and when it loads, a few
 * posts are analysed with it, so the pattern compiler is fuzzed too.
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
