/*
 * eval_cluster.c - how well cluster.h groups questions that ask the same
 * thing: reads labelled questions ("label<TAB>text" lines on standard
 * input), groups the texts (labels unseen) at several thresholds and prints
 * B-cubed precision, recall and F1 against the labels, with the number of
 * groups.  tools/eval.sh feeds it the HINT3 training files (make eval).
 *
 *   build/tools/eval-cluster [THRESHOLD...] < questions.tsv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "util.h"

#define MAX_LINE 8192

static void measure(char **texts, char **labels, size_t n, double th)
{
	struct cluster_result r;
	uint64_t t0 = time_mono_ns();
	cluster_texts((const char *const *)texts, NULL, n, NULL, 0, th, &r);
	double ms = (double)(time_mono_ns() - t0) / 1e6;
	double P = 0, R = 0;
	for (size_t i = 0; i < n; i++) {
		const struct cluster_group *g = &r.groups[r.group_of[i]];
		size_t same_group_label = 0, same_label = 0;
		for (size_t m = 0; m < g->n; m++)
			same_group_label += strcmp(labels[g->members[m]], labels[i]) == 0;
		for (size_t j = 0; j < n; j++)
			same_label += strcmp(labels[j], labels[i]) == 0;
		P += (double)same_group_label / (double)g->n;
		R += (double)same_group_label / (double)same_label;
	}
	P /= (double)n;
	R /= (double)n;
	size_t multi = 0;
	for (size_t g = 0; g < r.n; g++)
		multi += r.groups[g].n > 1;
	printf("  threshold %.2f: B-cubed precision %.3f  recall %.3f  F1 %.3f  groups %zu (%zu of 2+)  %.1f "
	       "ms\n",
	       th, P, R, P + R > 0 ? 2 * P * R / (P + R) : 0, r.n, multi, ms);
	cluster_free(&r);
}

int main(int argc, char **argv)
{
	char line[MAX_LINE];
	char **texts = NULL, **labels = NULL;
	size_t n = 0;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		texts = xrealloc(texts, (n + 1) * sizeof(*texts));
		labels = xrealloc(labels, (n + 1) * sizeof(*labels));
		labels[n] = xstrdup(line);
		texts[n] = xstrdup(tab + 1);
		n++;
	}
	printf("%zu questions\n", n);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			measure(texts, labels, n, atof(argv[i]));
	} else {
		static const double th[] = {0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6};
		for (size_t i = 0; i < sizeof(th) / sizeof(th[0]); i++)
			measure(texts, labels, n, th[i]);
	}
	for (size_t i = 0; i < n; i++) {
		free(texts[i]);
		free(labels[i]);
	}
	free(texts);
	free(labels);
	return 0;
}
