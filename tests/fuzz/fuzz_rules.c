/*
 * fuzz_rules.c - any bytes as a rule file through rules_load_mem.  The load
 * either fails with at least one "name:line:col: message" error, or gives
 * a ruleset whose rules are all well formed; then every rule's examples and
 * a few fixed posts are matched, under every combination of conditions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void match_all(struct ruleset *rs, struct text *t, const char *post)
{
	static const char *channels[] = {"webchat", "mastodon", NULL};
	struct rules_match m;

	text_normalize(t, post, strlen(post));
	for (int c = 0; c < 3; c++)
		for (int pub = 0; pub < 2; pub++)
			for (int open = 0; open < 2; open++) {
				struct rules_ctx ctx = {channels[c], pub, open};
				rules_match(rs, t, &ctx, &m);
				if ((m.human && m.human->kind != RULE_HUMAN) ||
				    (m.escalate && m.escalate->kind != RULE_ESCALATE) ||
				    (m.answer && m.answer->kind != RULE_ANSWER) ||
				    (m.ack && m.ack->kind != RULE_ACK))
					abort();
			}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct text t;
	static int init;
	struct diag d;

	if (!init) {
		text_init(&t);
		log_threshold = LOG_ERROR; /* regexes hitting their limit warn; expected here */
		init = 1;
	}
	diag_init(&d);
	struct ruleset *rs = rules_load_mem("fuzz.yaml", (const char *)data, size, &d);
	if (!rs) {
		if (d.errors == 0 || !d.out.p || strncmp(d.out.p, "fuzz.yaml", 9) != 0)
			abort();
		diag_free(&d);
		return 0;
	}
	if (d.errors != 0)
		abort();
	for (size_t i = 0; i < rules_count(rs); i++) {
		const struct rule *r = rules_get(rs, i);
		if (!r->id || !r->file || r->line < 1 || rules_find(rs, r->id) != r)
			abort();
		if ((r->kind == RULE_ANSWER || r->kind == RULE_ACK) &&
		    (!r->reply || r->priority != PRIO_NONE))
			abort();
		for (size_t j = 0; r->examples && r->examples[j]; j++)
			match_all(rs, &t, r->examples[j]);
		for (size_t j = 0; r->not_examples && r->not_examples[j]; j++)
			match_all(rs, &t, r->not_examples[j]);
	}
	match_all(rs, &t, "When are you open on Sunday? I want a refund, thanks :)");
	match_all(rs, &t, "");
	rules_free(rs);
	diag_free(&d);
	return 0;
}
