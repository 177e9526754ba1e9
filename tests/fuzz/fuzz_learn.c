/*
 * fuzz_learn.c - any bytes as a learner's input: examples, not_examples and
 * posts, one a line.  "3:text" is an example of class 3 (classes 0-9),
 * "!3:text" a not_example of it, "?text" a post to predict; any other line
 * is predicted too.  The model is learned from the examples, then every
 * line is predicted: guesses must be classes that have examples, best
 * first, with confidences in 0..1 that sum to at most 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"
#include "normalize.h"
#include "util.h"

#define NCLASSES  10
#define MAX_LINES 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(struct learn_model *m, struct text *t, const char *s, size_t len, const int *has)
{
	struct learn_guess g[NCLASSES + 2];
	text_normalize(t, s, len);
	size_t n = learn_predict(m, t, NULL, NULL, g, ARRAY_LEN(g));
	double sum = 0;
	if (n > NCLASSES)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (g[i].cls >= NCLASSES || !has[g[i].cls])
			abort();
		if (!(g[i].confidence >= 0.0f && g[i].confidence <= 1.0f))
			abort();
		if (i && g[i].confidence > g[i - 1].confidence)
			abort();
		sum += g[i].confidence;
	}
	if (sum > 1.0001)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct text t;
	static int init;
	struct learn_example ex[MAX_LINES];
	const char *line[MAX_LINES];
	size_t len[MAX_LINES], nl = 0, ne = 0;
	int has[NCLASSES] = {0};

	if (!init) {
		text_init(&t);
		init = 1;
	}
	/* NUL-terminated copies of the lines: examples are C strings. */
	char *buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *p = buf; p < buf + size && nl < MAX_LINES;) {
		char *e = memchr(p, '\n', (size_t)(buf + size - p));
		if (!e)
			e = buf + size;
		*e = '\0';
		line[nl] = p;
		len[nl++] = (size_t)(e - p);
		int neg = p[0] == '!';
		const char *q = p + neg;
		if (q[0] >= '0' && q[0] <= '9' && q[1] == ':') {
			ex[ne].text = q + 2;
			ex[ne].cls = (uint32_t)(q[0] - '0');
			ex[ne].negative = neg;
			/* A class can be guessed when it has an example with words. */
			text_normalize(&t, q + 2, strlen(q + 2));
			if (!neg && t.n_words)
				has[ex[ne].cls] = 1;
			ne++;
		}
		p = e + 1;
	}
	struct learn_model *m = learn_train(ex, ne, NCLASSES, NULL);
	for (size_t i = 0; i < nl; i++)
		check(m, &t, line[i] + (line[i][0] == '?'), len[i] - (line[i][0] == '?'), has);
	learn_free(m);
	free(buf);
	return 0;
}
