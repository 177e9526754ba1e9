/*
 * bench_decide.c - decisions per second on one core, and what learning from
 * examples costs at load: the decision alone (normalize, match, learned
 * model, sentiment, business time, reply rendering), in-process, no output.
 *
 *   build/bench/bench_decide [SECONDS_PER_SIZE [RULES]]   (RULES: only that size)
 *
 * Rules are generated with 4 phrases each from a synthetic vocabulary; one
 * rule in 100 also carries a regex in `all`, behind its phrases, the way the
 * default rule set writes them (a regex alone in `any` cannot be
 * prefiltered by the phrase automaton and costs every post; `frontdesk
 * check` counts such rules).  Each size runs twice: phrases only (10, 1,000
 * and 10,000 rules: the matching cost as rule sets grow), then with 10
 * examples per rule, written from everyday question frames around the
 * rule's topic words (10 and 1,000 rules: the learned model in the
 * decision, and the time and memory learning adds to the load).
 *
 * Posts are a fixed mix: 40% hit a rule phrase, 20% small talk, 20% ask
 * about a rule's topic in words of its own (only the examples can
 * recognise them), 20% ask about nothing the rules know (those escalate, so
 * due times are computed).  With phrases only, the 20% of paraphrases
 * escalate too.
 *
 * Memory: the peak resident set is reset before each load (Linux
 * /proc/self/clear_refs) and read after it; "learn_extra_kb" is the peak
 * of a load with examples minus the peak of the same load without them.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pipeline.h"

static const char *syll[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si",
                             "pe", "du", "ga", "zo", "fi", "be", "ho"};

/* A deterministic pseudo-word for index i: "kalomi", "nerutа"... */
static void word(unsigned i, char *out, size_t n)
{
	size_t len = 0;
	unsigned x = i * 2654435761u + 12345u;
	for (int k = 0; k < 3; k++) {
		const char *s = syll[x % 15];
		x /= 15;
		len += (size_t)snprintf(out + len, n - len, "%s", s);
	}
	snprintf(out + len, n - len, "%u", i % 97);
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(data, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Everyday question frames; %s is the rule's topic ("kalomi ne"). */
static const char *const frames[] = {
    "how much is the %s",
    "do you have %s in stock at the moment",
    "can i order %s for saturday morning",
    "is the %s available in a larger size",
    "what is in the %s, i need to know the ingredients",
    "could you tell me more about %s please",
    "when will the %s be ready to pick up",
    "do you still sell %s or has it gone",
    "i would like to buy %s for a friend, is that possible",
    "are there any %s left for this week",
};

/* A paraphrase nobody wrote down: recognised only by what was learned. */
static const char *const paraphrase = "hi, any %s left today?";

static struct engine *make_engine(const char *dir, const char *repo, int nrules, int examples)
{
	struct buf rules, replies, cfg;
	char path[PATH_MAX], w1[32], w2[32];

	buf_init(&rules, 0);
	buf_init(&replies, 0);
	buf_init(&cfg, 0);
	for (int i = 0; i < nrules; i++) {
		buf_printf(&rules, "- id: r%d\n  match:\n    any: [", i);
		for (int k = 0; k < 4; k++) {
			word((unsigned)(i * 4 + k), w1, sizeof(w1));
			word((unsigned)(i * 4 + k + 7919), w2, sizeof(w2));
			buf_printf(&rules, "%s\"%s %s\"", k ? ", " : "", w1, w2);
		}
		buf_puts(&rules, "]\n");
		if (i % 100 == 99)
			buf_puts(&rules,
			         "    all: [\"/\\\\b(?:could|can|do) (?:\\\\w+ ){0,3}tell\\\\b/\"]\n");
		if (examples) {
			/* The topic: the rule's first word and one of its own. */
			word((unsigned)(i * 4), w1, sizeof(w1));
			word((unsigned)(i * 4 + 1 + 7919), w2, sizeof(w2));
			buf_puts(&rules, "  examples:\n");
			for (int k = 0; k < examples; k++) {
				buf_puts(&rules, "    - \"");
				buf_printf(&rules, frames[(i + k) % ARRAY_LEN(frames)], k % 2 ? w1 : w2);
				buf_puts(&rules, "\"\n");
			}
		}
		buf_printf(&rules, "  reply: faq.r%d\n", i);
		buf_printf(&replies, "faq.r%d: \"Answer %d for {{author}}: we are open {{hours}}.\"\n", i, i);
	}
	buf_puts(
	    &rules,
	    "- id: thanks\n  match: { any: [thanks, \"thank you\"] }\n  acknowledge: smalltalk.thanks\n");
	buf_puts(&replies, "smalltalk.thanks: [\"You're welcome, {{author}}!\", \"Happy to help!\"]\n"
	                   "escalated.open: \"Thanks {{author}}! A person will reply by {{due}}.\"\n"
	                   "escalated.after_hours: \"Thanks {{author}}! We're closed; back {{opens_at}}; a "
	                   "person will reply by {{due}}.\"\n"
	                   "negative: \"I'm sorry, {{author}}. A person will reply by {{due}}.\"\n"
	                   "abusive: \"We want to help; a person will read this.\"\n"
	                   "human: \"A person will reply by {{due}}.\"\n"
	                   "waiting: \"We have your message; a person will reply by {{due}}.\"\n");
	buf_printf(&cfg,
	           "business:\n  name: Bench Shop\n  timezone: Europe/London\n"
	           "  hours: { mon-fri: \"09:00-17:30\", sat: \"10:00-14:00\", sun: closed }\n"
	           "  holidays: [\"2026-12-25\"]\n"
	           "rules: [rules.yaml]\nreplies: [replies.yaml]\n"
	           "sentiment: { lexicon: [\"%s/rules/lexicon/*.yaml\"] }\n",
	           repo);
	snprintf(path, sizeof(path), "%s/rules.yaml", dir);
	write_file(path, rules.p);
	snprintf(path, sizeof(path), "%s/replies.yaml", dir);
	write_file(path, replies.p);
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	write_file(path, cfg.p);
	buf_free(&rules);
	buf_free(&replies);
	buf_free(&cfg);

	struct diag d;
	diag_init(&d);
	struct engine *e = engine_load(path, &d);
	if (!e) {
		fputs(d.out.p, stderr);
		exit(1);
	}
	diag_free(&d);
	return e;
}

#define NPOSTS 1000

static char **make_posts(int nrules)
{
	static const char *talk[] = {"thanks so much for the help", "hello there, hope you are well",
	                             "thank you, that was quick"};
	static const char *other[] = {
	    "Do you have anything for a birthday party of twenty people next Saturday afternoon?",
	    "I ordered last week and wanted to check whether the parcel has been sent already",
	    "Is there parking near the shop, and can I bring my dog inside with me?",
	    "Could I pick up my order a little later than planned, around six maybe?"};
	char **posts = xcalloc(NPOSTS, sizeof(*posts));
	char w1[32], w2[32];
	for (int i = 0; i < NPOSTS; i++) {
		int kind = i % 10;
		unsigned r = (unsigned)((i * 7919) % nrules), k = (unsigned)(i % 4);
		if (kind < 4) {
			word(r * 4 + k, w1, sizeof(w1));
			word(r * 4 + k + 7919, w2, sizeof(w2));
			posts[i] = xasprintf("Hi! Quick question about %s %s, could you tell me more please?",
			                     w1, w2);
		} else if (kind < 6) {
			posts[i] = xstrdup(talk[i % 3]);
		} else if (kind < 8) {
			word(r * 4, w1, sizeof(w1));
			posts[i] = xasprintf(paraphrase, w1);
		} else {
			posts[i] = xstrdup(other[i % 4]);
		}
	}
	return posts;
}

/* Peak resident set since the last reset, in KiB (0 where unknown). */
static long peak_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

struct run {
	int rules, examples;
	double rate, cpu_rate, load_ms, load_cpu_ms;
	long peak_kb;
};

/* This thread's CPU time, ns: on a shared machine it says what the work
 * cost when the wall clock also counts the neighbours. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Load, then decide the post mix for `seconds`; prints one line. */
static void run_size(struct run *r, const char *repo, double seconds)
{
	char dir[] = "/tmp/fd-bench-XXXXXX";
	if (!mkdtemp(dir))
		exit(1);
	reset_peak();
	uint64_t t0 = time_mono_ns(), c0 = cpu_ns();
	struct engine *e = make_engine(dir, repo, r->rules, r->examples);
	r->load_ms = (double)(time_mono_ns() - t0) / 1e6;
	r->load_cpu_ms = (double)(cpu_ns() - c0) / 1e6;
	r->peak_kb = peak_kb();
	char **posts = make_posts(r->rules);
	char ids[NPOSTS][16];
	for (int i = 0; i < NPOSTS; i++)
		snprintf(ids[i], sizeof(ids[i]), "p%d", i);

	/* A Wednesday 11:00 and a Saturday 20:00, alternating per round. */
	time_t open_t, closed_t;
	time_parse_iso("2026-11-25T11:00:00Z", &open_t);
	time_parse_iso("2026-11-28T20:00:00Z", &closed_t);
	long n = 0, answers = 0, escalations = 0, learned = 0;
	uint64_t start = time_mono_ns(), limit = (uint64_t)(seconds * 1e9), cstart = cpu_ns();
	while (time_mono_ns() - start < limit) {
		for (int i = 0; i < NPOSTS; i++) {
			struct post p;
			struct decision d;
			memset(&p, 0, sizeof(p));
			p.platform = "bench";
			p.post_id = ids[i];
			p.thread_key = ids[i];
			p.author_handle = "customer";
			p.author_name = "Alex";
			p.text = posts[i];
			pipeline_decide(e, &p, NULL, (n / NPOSTS) % 2 ? closed_t : open_t, &d);
			answers += d.action == ACTION_ANSWER;
			escalations += d.action == ACTION_ESCALATE;
			learned += d.by_examples;
			decision_free(&d);
			n++;
		}
	}
	double el = (double)(time_mono_ns() - start) / 1e9, cel = (double)(cpu_ns() - cstart) / 1e9;
	r->rate = (double)n / el;
	r->cpu_rate = (double)n / cel;
	printf("bench_decide rules=%d examples=%d decisions=%ld seconds=%.2f decisions_per_s=%.0f "
	       "ns_per_decision=%.0f cpu_decisions_per_s=%.0f answered=%.0f%% by_examples=%.0f%% "
	       "escalated=%.0f%% load_ms=%.1f load_cpu_ms=%.1f load_peak_kb=%ld\n",
	       r->rules, r->examples, n, el, r->rate, 1e9 / r->rate, r->cpu_rate,
	       100.0 * (double)answers / (double)n, 100.0 * (double)learned / (double)n,
	       100.0 * (double)escalations / (double)n, r->load_ms, r->load_cpu_ms, r->peak_kb);
	for (int i = 0; i < NPOSTS; i++)
		free(posts[i]);
	free(posts);
	engine_free(e);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (getenv("BENCH_KEEP"))
		printf("kept %s\n", dir);
	else if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? strtod(argv[1], NULL) : 2.0;
	static const int sizes[] = {10, 1000, 10000};
	char repo[PATH_MAX];
	struct run plain[3], learned[2];

	if (!getcwd(repo, sizeof(repo)))
		return 1;
	int only = argc > 2 ? atoi(argv[2]) : 0;
	memset(plain, 0, sizeof(plain));
	memset(learned, 0, sizeof(learned));
	for (int s = 0; s < 3; s++) {
		plain[s].rules = sizes[s];
		plain[s].rate = 1;
		if (!only || sizes[s] == only)
			run_size(&plain[s], repo, seconds);
	}
	for (int s = 0; s < 2; s++) {
		learned[s].rules = sizes[s];
		learned[s].examples = 10;
		if (!only || sizes[s] == only) {
			run_size(&learned[s], repo, seconds);
			printf("bench_decide rules=%d learn_ms=%.1f learn_cpu_ms=%.1f learn_extra_kb=%ld\n",
			       sizes[s], learned[s].load_ms - plain[s].load_ms,
			       learned[s].load_cpu_ms - plain[s].load_cpu_ms,
			       learned[s].peak_kb - plain[s].peak_kb);
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("bench_decide cost_ratio_10000_vs_10=%.2f peak_rss_kb=%ld\n", plain[0].rate / plain[2].rate,
	       ru.ru_maxrss);
	return 0;
}
