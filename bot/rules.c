/*
 * rules.c - rule files into one ruleset; one automaton scan per post.
 *
 * Loading turns every condition of every rule into a term: a phrase
 * (deduplicated across rules, one automaton pattern " phrase ") or a
 * compiled regex.  Each rule keeps three runs of term ids (any, all, none)
 * in one shared array.  A rule is reached at match time through its
 * triggers: the phrase terms that any match of the rule must contain.
 *   - all holds a phrase: that phrase alone (the longest one, as the
 *     likeliest to be rare) - the rule cannot match without it;
 *   - otherwise, any holds phrases only: each of them;
 *   - otherwise (a regex could satisfy the rule on its own): the rule is
 *     "always checked", evaluated for every post.
 * rules_match() scans once, stamps the phrases found with a generation
 * number, collects the rules their triggers name, adds the always-checked
 * ones, and evaluates only those, skipping any rule that comes after the
 * best match of its kind so far.  Regex results are computed on demand and
 * cached for the post, so a regex shared by conditions runs once; the
 * regexes of the always-checked rules are first tried as one alternation,
 * and when that fails to match none of them is run.
 *
 * Errors of a file are collected, sorted by position and then reported, so
 * that the list reads from the top of the file down.
 */
#include "rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connector.h"
#include "learn.h"
#include "matcher.h"

#define RULE_ID_MAX  100
#define EXTRA_MAX    100000 /* examples from outside the files (taught), at most */
#define TERM_SRC_MAX 1000   /* bytes of a phrase or regex as written */

/* Regex budgets per match: enough for any sensible pattern on a post of
 * TEXT_MAX_INPUT bytes, small enough that a catastrophic one returns within
 * milliseconds (the JIT honours the match limit; the interpreter, used when
 * JIT is unavailable, also the depth and heap limits). */
#define REGEX_MATCH_LIMIT    100000u
#define REGEX_DEPTH_LIMIT    5000u
#define REGEX_HEAP_LIMIT_KIB 4096u
#define REGEX_JIT_STACK_MAX  (512u * 1024u)

struct term {
	char *text;                    /* the normalized phrase, or the regex as written */
	pcre2_code *re;                /* NULL: a phrase */
	char *src;                     /* regex: the pattern compiled, without slashes and flags */
	uint32_t opts;                 /* regex: its compile options */
	uint32_t rule;                 /* the first rule using it, for log lines */
	uint64_t unfinished_logged_ms; /* when a regex that could not finish was last logged */
};

/* Matching data of rules[i]: its conditions are conds[any .. any + nany)
 * and so on. */
struct rule_m {
	uint32_t any, nany, all, nall, none, nnone;
	uint32_t any_ph, all_ph, none_ph; /* phrases first in each run: how many */
	uint8_t kind;                     /* copies of rules[i], so that matching */
	uint8_t has_when;                 /* touches one record per candidate */
	uint8_t any_by_trigger;           /* triggered by its any-phrases only: any holds once reached */
};

/* Open addressing from a string to an index; the strings themselves live in
 * the rules or terms (the key function finds them). */
struct smap {
	uint32_t *slot; /* index + 1, 0: empty */
	size_t cap, n;
};

struct ruleset {
	struct rule *rules;
	struct rule_m *rm;
	size_t nrules, rules_cap;
	char **files;
	size_t nfiles;

	struct term *terms;
	size_t nterms, terms_cap, nphrases, nregexes;
	uint32_t *conds;
	size_t nconds, conds_cap;
	struct smap ids, by_text; /* rules by id; terms by text (phrases never start with '/') */

	struct acm *acm;
	uint32_t *trig_start; /* per term: trig[trig_start[t] .. trig_start[t + 1]) */
	uint32_t *trig;
	uint32_t *always;
	size_t nalways;

	/* per-post scratch (rules_match) */
	uint32_t gen;
	uint32_t *term_seen; /* phrase found in this post: == gen */
	uint32_t *re_done;   /* regex evaluated for this post: == gen */
	uint8_t *re_result;  /* RE_NO, RE_YES or RE_UNFINISHED */
	int re_error;        /* PCRE2's code for the last RE_UNFINISHED */
	uint32_t *rule_seen; /* rule already a candidate: == gen */
	uint32_t *cand;
	size_t ncand;
	const struct text *text;

	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;

	/* The regexes of the always-checked rules, as one alternation: when it
	 * does not match, none of them does, and one run replaces many. */
	pcre2_code *prefilter;
	uint32_t *pre_terms;
	size_t npre;

	/* What was learned from the examples: class i is rules[i]. */
	struct learn_model *model;
	size_t nlearned;
	size_t extra_skipped;
	struct learn_guess guess[16]; /* rules_learned() scratch */
	unsigned kinds;               /* rules_suggest(): the kinds asked for */
};

const char *rule_kind_name(enum rule_kind k)
{
	switch (k) {
	case RULE_ANSWER: return "answer";
	case RULE_ACK: return "acknowledge";
	case RULE_ESCALATE: return "escalate";
	case RULE_HUMAN: return "human";
	}
	return "?";
}

/* ---------------------------------------------------------------- string map */

typedef const char *(*smap_key_fn)(const struct ruleset *rs, uint32_t idx);

static const char *rule_key(const struct ruleset *rs, uint32_t idx)
{
	return rs->rules[idx].id;
}

static const char *term_key(const struct ruleset *rs, uint32_t idx)
{
	return rs->terms[idx].text;
}

/* Index of `key`, or UINT32_MAX. */
static uint32_t smap_get(const struct smap *m, const struct ruleset *rs, smap_key_fn keyof, const char *key)
{
	if (!m->cap)
		return UINT32_MAX;
	size_t mask = m->cap - 1;
	for (size_t i = hash64(key, strlen(key)) & mask; m->slot[i]; i = (i + 1) & mask)
		if (strcmp(keyof(rs, m->slot[i] - 1), key) == 0)
			return m->slot[i] - 1;
	return UINT32_MAX;
}

/* Add idx under its key (the caller checked it is absent). */
static void smap_put(struct smap *m, const struct ruleset *rs, smap_key_fn keyof, uint32_t idx)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		uint32_t *slot = xcalloc(cap, sizeof(*slot));
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->slot[j])
				continue;
			const char *k = keyof(rs, m->slot[j] - 1);
			size_t i = hash64(k, strlen(k)) & (cap - 1);
			while (slot[i])
				i = (i + 1) & (cap - 1);
			slot[i] = m->slot[j];
		}
		free(m->slot);
		m->slot = slot;
		m->cap = cap;
	}
	const char *key = keyof(rs, idx);
	size_t i = hash64(key, strlen(key)) & (m->cap - 1);
	while (m->slot[i])
		i = (i + 1) & (m->cap - 1);
	m->slot[i] = idx + 1;
	m->n++;
}

/* ---------------------------------------------------------------- loading */

struct loader {
	struct ruleset *rs;
	struct diag *d;
	struct yml_doc *y;
	const char *file;            /* owned by rs->files */
	uint32_t rule;               /* index of the rule being loaded */
	char name[RULE_ID_MAX + 16]; /* "rule 'x'" or "rule #3", for messages */
};

static void lerr(struct loader *L, const yaml_node_t *n, const char *fmt, ...) FD_PRINTF(3, 4);

/* An error at node n, prefixed with the rule's name. */
static void lerr(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	yml_error(L->d, L->y, n, "%s: %s", L->name, msg);
}

/* s for an error message: control characters as \xNN (a "\b" in double
 * quotes is an invisible backspace), long strings cut with "...". */
static const char *shown(const char *s, char *buf, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (*s)
		memcpy(buf + o, "...", 3), o += 3;
	buf[o] = '\0';
	return buf;
}

static void push_cond(struct ruleset *rs, uint32_t term)
{
	if (rs->nconds == rs->conds_cap) {
		rs->conds_cap = rs->conds_cap ? rs->conds_cap * 2 : 256;
		rs->conds = xrealloc(rs->conds, rs->conds_cap * sizeof(*rs->conds));
	}
	rs->conds[rs->nconds++] = term;
}

static uint32_t new_term(struct ruleset *rs, char *text, pcre2_code *re, uint32_t rule)
{
	if (rs->nterms == rs->terms_cap) {
		rs->terms_cap = rs->terms_cap ? rs->terms_cap * 2 : 256;
		rs->terms = xrealloc(rs->terms, rs->terms_cap * sizeof(*rs->terms));
	}
	struct term *t = &rs->terms[rs->nterms];
	t->text = text;
	t->re = re;
	t->src = NULL;
	t->opts = 0;
	t->rule = rule;
	t->unfinished_logged_ms = 0;
	if (re)
		rs->nregexes++;
	else
		rs->nphrases++;
	return (uint32_t)rs->nterms++;
}

static int is_regex_syntax(const char *s)
{
	return s[0] == '/' && s[1] != '\0';
}

/*
 * "/source/flags" into a compiled regex term.  Returns the term, or
 * UINT32_MAX after reporting the problem at node n.
 */
static uint32_t regex_term(struct loader *L, yaml_node_t *n, const char *s)
{
	const char *end = strrchr(s + 1, '/');
	uint32_t opts = PCRE2_UTF | PCRE2_UCP;
	uint32_t known = smap_get(&L->rs->by_text, L->rs, term_key, s);
	char sh[128];

	if (known != UINT32_MAX)
		return known; /* the same regex, compiled once */

	if (!end) {
		lerr(L, n,
		     "'%s' starts with '/' but has no closing '/': write /regex/ for a regex, "
		     "or leave out the '/' for a phrase",
		     shown(s, sh, sizeof(sh)));
		return UINT32_MAX;
	}
	for (const char *f = end + 1; *f; f++) {
		switch (*f) {
		case 'i': opts |= PCRE2_CASELESS; break;
		case 'm': opts |= PCRE2_MULTILINE; break;
		case 's': opts |= PCRE2_DOTALL; break;
		case 'x': opts |= PCRE2_EXTENDED; break;
		default:
			lerr(L, n, "unknown regex flag '%s' in %s (the flags are i, m, s and x)",
			     shown((char[2]){*f, 0}, sh, 16), shown(s, sh + 16, sizeof(sh) - 16));
			return UINT32_MAX;
		}
	}
	size_t len = (size_t)(end - (s + 1));
	if (len == 0) {
		lerr(L, n, "empty regex //");
		return UINT32_MAX;
	}
	/* "\b" in a double-quoted YAML string arrives as a backspace. */
	char *src = xmalloc(2 * len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[1 + i] == '\b') {
			src[o++] = '\\';
			src[o++] = 'b';
		} else {
			src[o++] = s[1 + i];
		}
	}
	src[o] = '\0';

	int errcode;
	PCRE2_SIZE erroff;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, o, opts, &errcode, &erroff, NULL);
	if (!re) {
		free(src);
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		lerr(L, n, "bad regex %s: %s (at offset %zu of the regex)", shown(s, sh, sizeof(sh)),
		     (const char *)msg, (size_t)erroff);
		return UINT32_MAX;
	}
	/* Without JIT (unsupported platform) the interpreter still works. */
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	uint32_t t = new_term(L->rs, xstrdup(s), re, L->rule);
	L->rs->terms[t].src = src;
	L->rs->terms[t].opts = opts;
	smap_put(&L->rs->by_text, L->rs, term_key, t);
	return t;
}

/* A phrase: normalized, deduplicated, added to the automaton. */
static uint32_t phrase_term(struct loader *L, yaml_node_t *n, const char *s)
{
	struct ruleset *rs = L->rs;
	char *norm = text_normalize_phrase(s);

	if (!norm[0]) {
		char sh[128];
		lerr(L, n,
		     "phrase '%s' has no words once normalized (punctuation, URLs and @mentions are "
		     "dropped), so it could never match",
		     shown(s, sh, sizeof(sh)));
		free(norm);
		return UINT32_MAX;
	}
	uint32_t t = smap_get(&rs->by_text, rs, term_key, norm);
	if (t != UINT32_MAX) {
		free(norm);
		return t;
	}
	size_t len = strlen(norm);
	char *pat = xmalloc(len + 3);
	pat[0] = ' ';
	memcpy(pat + 1, norm, len);
	pat[len + 1] = ' ';
	pat[len + 2] = '\0';
	t = new_term(rs, norm, NULL, L->rule);
	if (acm_add(rs->acm, pat, len + 2, t) < 0)
		fatal("acm_add failed on a %zu-byte phrase", len + 2);
	free(pat);
	smap_put(&rs->by_text, rs, term_key, t);
	return t;
}

/* The conditions of one of any / all / none: a string or a list of them.
 * Returns how many terms were appended to rs->conds. */
static uint32_t load_conds(struct loader *L, yaml_node_t *n, const char *key)
{
	uint32_t count = 0;
	int len = 1;

	if (n->type == YAML_SEQUENCE_NODE) {
		len = yml_len(n);
		if (len == 0) {
			lerr(L, n, "'%s' is an empty list; give at least one phrase or leave it out", key);
			return 0;
		}
	} else if (n->type != YAML_SCALAR_NODE) {
		lerr(L, n, "'%s' must be a phrase or a list of phrases", key);
		return 0;
	}
	for (int i = 0; i < len; i++) {
		yaml_node_t *it = n->type == YAML_SEQUENCE_NODE ? yml_item(L->y, n, i) : n;
		const char *s = yml_scalar(it);
		if (!s) {
			lerr(L, it, "expected a phrase (a string) in '%s'", key);
			continue;
		}
		if (strlen(s) > TERM_SRC_MAX) {
			lerr(L, it, "a phrase or regex in '%s' is longer than %d bytes", key, TERM_SRC_MAX);
			continue;
		}
		uint32_t t = is_regex_syntax(s) ? regex_term(L, it, s) : phrase_term(L, it, s);
		if (t != UINT32_MAX) {
			push_cond(L->rs, t);
			count++;
		}
	}
	return count;
}

/* `match`: optional for a rule with examples, which are then the only way
 * it is recognised (besides its `none` and `all` restricting them). */
static void load_match(struct loader *L, yaml_node_t *rule, yaml_node_t *n, struct rule_m *m,
                       int has_examples)
{
	static const char *const keys[] = {"any", "all", "none", NULL};
	char where[sizeof(L->name) + 16];

	if (!n) {
		if (!has_examples)
			lerr(L, rule,
			     "needs 'match' (phrases that recognise it: match: { any: [phrase, ...] }) or "
			     "'examples' (questions it answers, to learn from), or both");
		return;
	}
	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, n,
		     "'match' must be a mapping with any, all and/or none, e.g. match: { any: [refund] }");
		return;
	}
	snprintf(where, sizeof(where), "the match of %s", L->name);
	yml_check_keys(L->d, L->y, n, keys, where);
	yaml_node_t *any = yml_get(L->y, n, "any"), *all = yml_get(L->y, n, "all");
	yaml_node_t *none = yml_get(L->y, n, "none");
	if (!any && !all && !has_examples)
		lerr(L, n, "'match' needs 'any' or 'all'%s",
		     none ? " (with only 'none' it would match every post; or give examples to learn from)"
		          : "");
	/* Runs are contiguous per rule: any, then all, then none. */
	m->any = (uint32_t)L->rs->nconds;
	m->nany = any ? load_conds(L, any, "any") : 0;
	m->all = (uint32_t)L->rs->nconds;
	m->nall = all ? load_conds(L, all, "all") : 0;
	m->none = (uint32_t)L->rs->nconds;
	m->nnone = none ? load_conds(L, none, "none") : 0;
}

static int has_words(const char *s)
{
	char *p = text_normalize_phrase(s);
	int ok = p[0] != '\0';
	free(p);
	return ok;
}

/* examples / not_examples: a string or a list of strings, each with its line. */
static void load_examples(struct loader *L, yaml_node_t *n, const char *key, char ***out, int **lines)
{
	char **v = yml_want_strv(L->d, L->y, n, key);
	size_t len = v ? strv_len(v) : 0;
	*out = v;
	*lines = xcalloc(len + 1, sizeof(**lines));
	for (size_t i = 0; i < len; i++) {
		const yaml_node_t *it = n->type == YAML_SEQUENCE_NODE ? yml_item(L->y, n, (int)i) : n;
		(*lines)[i] = it ? (int)it->start_mark.line + 1 : 0;
		if (!has_words(v[i])) {
			char sh[128];
			lerr(L, it ? it : n, "%s: '%s' has no words once normalized, so it teaches nothing",
			     key, shown(v[i], sh, sizeof(sh)));
		}
	}
}

/* true/false (also yes/no, on/off) into *out; an error naming the key. */
static void load_bool(struct loader *L, yaml_node_t *n, const char *key, int *out)
{
	const char *s = yml_scalar(n);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
		*out = 1;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
		*out = 0;
	else if (s) {
		char sh[128];
		lerr(L, n, "'%s' must be true or false (got '%s')", key, shown(s, sh, sizeof(sh)));
	} else
		lerr(L, n, "'%s' must be true or false", key);
}

/* A channel one or two typos away from a connector type of this build
 * (connector.h's registry) is reported; other names are labels a
 * connector's `channel:` may give. */
static void load_when(struct loader *L, yaml_node_t *n, struct rule *r)
{
	static const char *const keys[] = {"channel", "public", "open", NULL};
	char where[sizeof(L->name) + 16];

	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, n,
		     "'when' must be a mapping, e.g. when: { channel: webchat, public: false, open: true }");
		return;
	}
	snprintf(where, sizeof(where), "the when of %s", L->name);
	yml_check_keys(L->d, L->y, n, keys, where);
	yaml_node_t *v;
	char sh[128];
	if ((v = yml_get(L->y, n, "channel"))) {
		char **ch = yml_want_strv(L->d, L->y, v, "when.channel");
		if (ch && !ch[0]) {
			lerr(L, v, "'channel' is an empty list; leave it out to allow every channel");
		}
		const char *const *platforms = connector_type_names();
		for (size_t i = 0; ch && ch[i]; i++) {
			int known = 0;
			for (size_t j = 0; platforms[j]; j++)
				if (strcasecmp(ch[i], platforms[j]) == 0)
					known = 1;
			const char *sug = known ? NULL : did_you_mean(ch[i], platforms);
			if (!ch[i][0])
				lerr(L, v, "empty channel name");
			else if (sug)
				lerr(L, v, "unknown channel '%s' (did you mean '%s'?)",
				     shown(ch[i], sh, sizeof(sh)), sug);
		}
		r->channels = ch;
	}
	if ((v = yml_get(L->y, n, "public")))
		load_bool(L, v, "public", &r->when_public);
	if ((v = yml_get(L->y, n, "open")))
		load_bool(L, v, "open", &r->when_open);
}

static const char *const prio_names[] = {"urgent", "high", "normal", "low", NULL};

static enum priority load_priority(struct loader *L, yaml_node_t *n)
{
	const char *s = yml_scalar(n);
	enum priority p = s ? priority_parse(s) : PRIO_NONE;
	if (p != PRIO_NONE)
		return p;
	const char *sug = s ? did_you_mean(s, prio_names) : NULL;
	char sh[128];
	if (sug)
		lerr(L, n, "unknown priority '%s' (did you mean '%s'?)", shown(s, sh, sizeof(sh)), sug);
	else if (s)
		lerr(L, n, "unknown priority '%s' (expected urgent, high, normal or low)",
		     shown(s, sh, sizeof(sh)));
	else
		lerr(L, n, "priority must be one of urgent, high, normal, low");
	return PRIO_NONE;
}

/* A replies key: non-empty, letters, digits, '.', '_', '-'. */
static char *load_reply_key(struct loader *L, yaml_node_t *n, const char *key)
{
	const char *s = yml_scalar(n);
	int ok = s && s[0];
	for (const char *p = s; ok && *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			ok = 0;
	if (!ok) {
		char sh[128];
		lerr(L, n, "'%s' must be a replies key such as faq.opening_hours%s%s%s", key,
		     s ? " (got '" : "", s ? shown(s, sh, sizeof(sh)) : "", s ? "')" : "");
		return NULL;
	}
	return xstrdup(s);
}

/* reply / acknowledge / escalate / priority into kind, reply, priority. */
static void load_kind(struct loader *L, yaml_node_t *rule, struct rule *r)
{
	struct yml_doc *y = L->y;
	yaml_node_t *reply = yml_get(y, rule, "reply"), *ack = yml_get(y, rule, "acknowledge");
	yaml_node_t *esc = yml_get(y, rule, "escalate"), *prio = yml_get(y, rule, "priority");
	yaml_node_t *esc_prio = NULL;

	if (esc) {
		r->kind = RULE_ESCALATE;
		if (esc->type == YAML_MAPPING_NODE) {
			static const char *const keys[] = {"priority", "reason", NULL};
			static const char *const reasons[] = {"rule", "requested_human", NULL};
			char where[sizeof(L->name) + 16];
			snprintf(where, sizeof(where), "the escalate of %s", L->name);
			yml_check_keys(L->d, y, esc, keys, where);
			if ((esc_prio = yml_get(y, esc, "priority")))
				r->priority = load_priority(L, esc_prio);
			yaml_node_t *rn = yml_get(y, esc, "reason");
			const char *rs = rn ? yml_scalar(rn) : NULL;
			if (rn && rs && strcmp(rs, "requested_human") == 0) {
				r->kind = RULE_HUMAN;
			} else if (rn && !(rs && strcmp(rs, "rule") == 0)) {
				const char *sug = rs ? did_you_mean(rs, reasons) : NULL;
				char sh[128];
				lerr(L, rn, "unknown escalation reason '%s'%s%s%s",
				     rs ? shown(rs, sh, sizeof(sh)) : "(not a string)",
				     sug ? " (did you mean '" : " (expected rule or requested_human)",
				     sug ? sug : "", sug ? "'?)" : "");
			}
		} else if (esc->type == YAML_SCALAR_NODE) {
			int on = 1;
			load_bool(L, esc, "escalate", &on);
			if (!on)
				lerr(L, esc,
				     "'escalate: false' does nothing; remove it and give reply or "
				     "acknowledge");
		} else {
			lerr(L, esc, "'escalate' must be true or a mapping such as { priority: high }");
		}
		if (ack)
			lerr(L, ack,
			     "'acknowledge' and 'escalate' exclude each other (an escalated post gets the "
			     "escalation notice; 'reply' beside 'escalate' overrides it)");
		if (reply)
			r->reply = load_reply_key(L, reply, "reply");
	} else if (reply && ack) {
		lerr(L, ack,
		     "has both 'reply' and 'acknowledge'; a rule gives exactly one of reply, acknowledge "
		     "or escalate");
	} else if (reply) {
		r->kind = RULE_ANSWER;
		r->reply = load_reply_key(L, reply, "reply");
	} else if (ack) {
		r->kind = RULE_ACK;
		r->reply = load_reply_key(L, ack, "acknowledge");
	} else {
		lerr(L, rule, "needs one of 'reply' (an answer), 'acknowledge' or 'escalate'");
	}

	if (prio) {
		if (!esc)
			lerr(L, prio, "'priority' applies only to escalate rules");
		else if (esc_prio)
			lerr(L, prio, "priority is given twice, here and inside 'escalate'");
		else
			r->priority = load_priority(L, prio);
	}
}

static int valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > RULE_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

static void load_rule(struct loader *L, yaml_node_t *n, int idx)
{
	static const char *const keys[] = {"id",       "match",    "when",     "reply",        "acknowledge",
	                                   "escalate", "priority", "examples", "not_examples", NULL};
	struct ruleset *rs = L->rs;
	struct yml_doc *y = L->y;

	snprintf(L->name, sizeof(L->name), "rule #%d", idx + 1);
	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, n, "expected a rule: a mapping with id, match and reply, acknowledge or escalate");
		return;
	}

	if (rs->nrules == rs->rules_cap) {
		rs->rules_cap = rs->rules_cap ? rs->rules_cap * 2 : 64;
		rs->rules = xrealloc(rs->rules, rs->rules_cap * sizeof(*rs->rules));
		rs->rm = xrealloc(rs->rm, rs->rules_cap * sizeof(*rs->rm));
	}
	L->rule = (uint32_t)rs->nrules;
	struct rule *r = &rs->rules[rs->nrules];
	struct rule_m *m = &rs->rm[rs->nrules];
	memset(r, 0, sizeof(*r));
	memset(m, 0, sizeof(*m));
	r->file = (char *)L->file;
	r->line = (int)n->start_mark.line + 1;
	r->priority = PRIO_NONE;
	r->when_public = r->when_open = -1;

	yaml_node_t *idn = yml_get(y, n, "id");
	const char *id = idn ? yml_scalar(idn) : NULL;
	if (!idn) {
		lerr(L, n, "has no 'id' (a unique name such as opening-hours)");
	} else if (!id) {
		lerr(L, idn, "'id' must be a string such as opening-hours");
	} else if (!valid_id(id)) {
		lerr(L, idn,
		     "id '%.120s' is not valid: use at most %d lower-case letters, digits, '.', '_' and '-', "
		     "starting with a letter or digit",
		     id, RULE_ID_MAX);
	} else {
		snprintf(L->name, sizeof(L->name), "rule '%s'", id);
		uint32_t prev = smap_get(&rs->ids, rs, rule_key, id);
		if (prev != UINT32_MAX)
			yml_error(L->d, y, idn, "duplicate rule id '%s' (first defined at %s:%d)", id,
			          rs->rules[prev].file, rs->rules[prev].line);
		r->id = xstrdup(id);
	}
	if (!r->id)
		r->id = xasprintf("#%d", idx + 1); /* keeps the rule printable; the load fails anyway */
	rs->nrules++;
	if (id && valid_id(id) && smap_get(&rs->ids, rs, rule_key, id) == UINT32_MAX)
		smap_put(&rs->ids, rs, rule_key, L->rule);

	yml_check_keys(L->d, y, n, keys, L->name);
	yaml_node_t *v;
	if ((v = yml_get(y, n, "examples")))
		load_examples(L, v, "examples", &r->examples, &r->example_lines);
	if ((v = yml_get(y, n, "not_examples")))
		load_examples(L, v, "not_examples", &r->not_examples, &r->not_example_lines);
	load_match(L, n, yml_get(y, n, "match"), &rs->rm[L->rule], r->examples && r->examples[0]);
	r = &rs->rules[L->rule];
	if ((v = yml_get(y, n, "when")))
		load_when(L, v, r);
	load_kind(L, n, r);
}

struct diag_line {
	long line, col;
	size_t seq;
	const char *msg;
};

static int diag_line_cmp(const void *a, const void *b)
{
	const struct diag_line *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "LINE:COL: " at s: the numbers and the message after them, or 0. */
static int parse_pos(const char *s, long *line, long *col, const char **msg)
{
	char *e;
	*line = strtol(s, &e, 10);
	if (e == s || *e != ':')
		return 0;
	s = e + 1;
	*col = strtol(s, &e, 10);
	if (e == s || e[0] != ':' || e[1] != ' ')
		return 0;
	*msg = e + 2;
	return 1;
}

/*
 * Move a file's errors from `from` into d in the order of their position in
 * the file: a rule's errors are found key by key, not line by line, and a
 * reader fixes a file from the top.
 */
static void diag_merge_sorted(struct diag *d, struct diag *from, const char *file)
{
	size_t n = 0, flen = strlen(file);
	char *p = from->out.p;
	for (size_t i = 0; p && i < from->out.len; i++)
		n += p[i] == '\n';
	struct diag_line *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t k = 0;
	for (char *line = p; line && *line && k < n;) {
		char *nl = strchr(line, '\n');
		*nl = '\0';
		v[k].seq = k;
		if (strncmp(line, file, flen) == 0 && line[flen] == ':' &&
		    parse_pos(line + flen + 1, &v[k].line, &v[k].col, &v[k].msg)) {
			/* positioned */
		} else if (strncmp(line, file, flen) == 0 && line[flen] == ':' && line[flen + 1] == ' ') {
			v[k].msg = line + flen + 2;
		} else {
			v[k].msg = line; /* "(too many errors ...)" */
			v[k].line = -1;
		}
		k++;
		line = nl + 1;
	}
	qsort(v, k, sizeof(*v), diag_line_cmp);
	int added = 0;
	for (size_t i = 0; i < k; i++) {
		if (v[i].line < 0)
			continue;
		diag_error(d, file, (int)v[i].line, (int)v[i].col, "%s", v[i].msg);
		added++;
	}
	if (from->errors > added) {
		if (d->errors <= 200)
			buf_printf(&d->out, "%s: %d more errors not shown\n", file, from->errors - added);
		d->errors += from->errors - added;
	}
	free(v);
}

static void load_doc(struct ruleset *rs, struct yml_doc *y, struct diag *d)
{
	struct loader L;
	struct diag local;
	yaml_node_t *root = yml_root(y);

	memset(&L, 0, sizeof(L));
	diag_init(&local);
	L.rs = rs;
	L.d = &local;
	L.y = y;
	rs->files = xrealloc(rs->files, (rs->nfiles + 1) * sizeof(*rs->files));
	rs->files[rs->nfiles] = xstrdup(y->file);
	L.file = rs->files[rs->nfiles++];

	if (!root || (root->type == YAML_SCALAR_NODE && yml_scalar(root)[0] == '\0'))
		; /* an empty file holds no rules */
	else if (root->type != YAML_SEQUENCE_NODE)
		yml_error(&local, y, root, "expected a list of rules, each starting with '- id: ...'");
	else
		for (int i = 0; i < yml_len(root); i++)
			load_rule(&L, yml_item(y, root, i), i);
	diag_merge_sorted(d, &local, y->file);
	diag_free(&local);
}

static struct ruleset *rules_new(void)
{
	struct ruleset *rs = xcalloc(1, sizeof(*rs));
	rs->acm = acm_new();
	return rs;
}

/* ---------------------------------------------------------------- freezing */

static int term_is_phrase(const struct ruleset *rs, uint32_t t)
{
	return rs->terms[t].re == NULL;
}

/*
 * Can this regex sit inside an alternation with others and mean the same?
 * Numbered references (backreferences, subroutine calls, conditions) would
 * point into the wrong group, and (*VERB)s are only valid at the start.
 * Conservative: anything that looks like one keeps the regex out.
 */
static int combinable(const struct term *t)
{
	uint32_t backrefs = 0;
	pcre2_pattern_info(t->re, PCRE2_INFO_BACKREFMAX, &backrefs);
	if (backrefs)
		return 0;
	for (const char *p = t->src; *p; p++) {
		if (p[0] == '(' && p[1] == '*')
			return 0;
		if (p[0] == '(' && p[1] == '?' && p[2] && strchr("R0123456789+-&P(", p[2]))
			return 0;
		if (p[0] == '\\' && p[1] == 'g')
			return 0;
		if (p[0] == '\\' && p[1])
			p++;
	}
	return 1;
}

/*
 * The prefilter over the regexes of the always-checked rules: each one as
 * (?flags:source\E) - "\E" closes a \Q left open and is ignored
 * otherwise; with x a newline also ends a trailing comment.  Left unset
 * when fewer than two regexes qualify or the alternation does not compile.
 */
static void build_prefilter(struct ruleset *rs)
{
	struct buf b;
	uint8_t *in = xcalloc(rs->nterms ? rs->nterms : 1, 1);
	buf_init(&b, 0);
	rs->pre_terms = xmalloc((rs->nterms ? rs->nterms : 1) * sizeof(*rs->pre_terms));
	rs->npre = 0;
	for (size_t j = 0; j < rs->nalways; j++) {
		const struct rule_m *m = &rs->rm[rs->always[j]];
		for (uint32_t c = m->any; c < m->none + m->nnone; c++) {
			uint32_t t = rs->conds[c];
			const struct term *tm = &rs->terms[t];
			if (!tm->re || in[t] || !combinable(tm))
				continue;
			in[t] = 1;
			buf_puts(&b, rs->npre ? "|(?" : "(?");
			if (tm->opts & PCRE2_CASELESS)
				buf_putc(&b, 'i');
			if (tm->opts & PCRE2_MULTILINE)
				buf_putc(&b, 'm');
			if (tm->opts & PCRE2_DOTALL)
				buf_putc(&b, 's');
			if (tm->opts & PCRE2_EXTENDED)
				buf_putc(&b, 'x');
			buf_putc(&b, ':');
			buf_puts(&b, tm->src);
			buf_puts(&b, tm->opts & PCRE2_EXTENDED ? "\\E\n)" : "\\E)");
			rs->pre_terms[rs->npre++] = t;
		}
	}
	free(in);
	if (rs->npre >= 2) {
		int errcode;
		PCRE2_SIZE erroff;
		rs->prefilter = pcre2_compile((PCRE2_SPTR)b.p, b.len, PCRE2_UTF | PCRE2_UCP | PCRE2_DUPNAMES,
		                              &errcode, &erroff, NULL);
		if (rs->prefilter)
			pcre2_jit_compile(rs->prefilter, PCRE2_JIT_COMPLETE);
		else
			log_debug("regex prefilter not used", "regexes=%zu error=%d", rs->npre, errcode);
	}
	if (!rs->prefilter)
		rs->npre = 0;
	buf_free(&b);
}

/*
 * After a clean load: build the automaton, the triggers, the always-checked
 * list and the scratch space, so that rules_match() never allocates.
 */
static void rules_freeze(struct ruleset *rs)
{
	acm_build(rs->acm);

	/* Triggers of each rule, counted then filled (CSR by term). */
	uint32_t *first = xmalloc((rs->nrules ? rs->nrules : 1) * sizeof(*first)); /* the one all-phrase */
	rs->trig_start = xcalloc(rs->nterms + 1, sizeof(*rs->trig_start));
	rs->always = xmalloc((rs->nrules ? rs->nrules : 1) * sizeof(*rs->always));
	for (size_t i = 0; i < rs->nrules; i++) {
		const struct rule_m *m = &rs->rm[i];
		first[i] = UINT32_MAX;
		for (uint32_t j = 0; j < m->nall; j++) {
			uint32_t t = rs->conds[m->all + j];
			if (term_is_phrase(rs, t) &&
			    (first[i] == UINT32_MAX ||
			     strlen(rs->terms[t].text) > strlen(rs->terms[first[i]].text)))
				first[i] = t;
		}
		int any_regex = 0;
		for (uint32_t j = 0; j < m->nany; j++)
			any_regex |= !term_is_phrase(rs, rs->conds[m->any + j]);
		if (first[i] != UINT32_MAX) {
			rs->trig_start[first[i] + 1]++;
		} else if (m->nany && !any_regex) {
			for (uint32_t j = 0; j < m->nany; j++)
				rs->trig_start[rs->conds[m->any + j] + 1]++;
		} else if (m->nany || m->nall) {
			rs->always[rs->nalways++] = (uint32_t)i;
		}
		/* else: no phrase recognises it; only its examples do. */
	}
	for (size_t t = 0; t < rs->nterms; t++)
		rs->trig_start[t + 1] += rs->trig_start[t];
	rs->trig = xmalloc((rs->trig_start[rs->nterms] ? rs->trig_start[rs->nterms] : 1) * sizeof(*rs->trig));
	uint32_t *pos = xmalloc((rs->nterms + 1) * sizeof(*pos));
	memcpy(pos, rs->trig_start, (rs->nterms + 1) * sizeof(*pos));
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule_m *m = &rs->rm[i];
		m->any_by_trigger = 0;
		if (first[i] != UINT32_MAX) {
			rs->trig[pos[first[i]]++] = (uint32_t)i;
			continue;
		}
		int any_regex = 0;
		for (uint32_t j = 0; j < m->nany; j++)
			any_regex |= !term_is_phrase(rs, rs->conds[m->any + j]);
		if (m->nany && !any_regex) {
			/* Reached only when one of its any-phrases is in the post. */
			m->any_by_trigger = 1;
			for (uint32_t j = 0; j < m->nany; j++) {
				uint32_t t = rs->conds[m->any + j];
				/* A phrase listed twice in one rule triggers it once. */
				if (pos[t] == rs->trig_start[t] || rs->trig[pos[t] - 1] != (uint32_t)i)
					rs->trig[pos[t]++] = (uint32_t)i;
			}
		}
	}
	/* Skipped duplicates leave holes at the ends of runs: close them. */
	uint32_t w = 0;
	for (size_t t = 0; t < rs->nterms; t++) {
		uint32_t b = rs->trig_start[t];
		rs->trig_start[t] = w;
		for (uint32_t j = b; j < pos[t]; j++)
			rs->trig[w++] = rs->trig[j];
	}
	rs->trig_start[rs->nterms] = w;
	free(pos);
	free(first);

	/* Matching copies, and each run reordered phrases first: a phrase costs
	 * one load, a regex a match. */
	uint32_t *tmp = xmalloc((rs->nconds ? rs->nconds : 1) * sizeof(*tmp));
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule_m *m = &rs->rm[i];
		const struct rule *r = &rs->rules[i];
		m->kind = (uint8_t)r->kind;
		m->has_when = r->channels || r->when_public >= 0 || r->when_open >= 0;
		uint32_t runs[3][3] = {{m->any, m->nany, 0}, {m->all, m->nall, 0}, {m->none, m->nnone, 0}};
		for (int k = 0; k < 3; k++) {
			uint32_t b = runs[k][0], n = runs[k][1], o = 0;
			for (uint32_t j = 0; j < n; j++)
				if (term_is_phrase(rs, rs->conds[b + j]))
					tmp[o++] = rs->conds[b + j];
			runs[k][2] = o;
			for (uint32_t j = 0; j < n; j++)
				if (!term_is_phrase(rs, rs->conds[b + j]))
					tmp[o++] = rs->conds[b + j];
			memcpy(rs->conds + b, tmp, n * sizeof(*tmp));
		}
		m->any_ph = runs[0][2];
		m->all_ph = runs[1][2];
		m->none_ph = runs[2][2];
	}
	free(tmp);

	size_t nt = rs->nterms ? rs->nterms : 1, nr = rs->nrules ? rs->nrules : 1;
	rs->term_seen = xcalloc(nt, sizeof(*rs->term_seen));
	rs->re_done = xcalloc(nt, sizeof(*rs->re_done));
	rs->re_result = xcalloc(nt, sizeof(*rs->re_result));
	rs->rule_seen = xcalloc(nr, sizeof(*rs->rule_seen));
	rs->cand = xmalloc(nr * sizeof(*rs->cand));
	rs->gen = 0;

	rs->md = pcre2_match_data_create(1, NULL);
	rs->mctx = pcre2_match_context_create(NULL);
	rs->jit = pcre2_jit_stack_create(32 * 1024, REGEX_JIT_STACK_MAX, NULL);
	if (!rs->md || !rs->mctx)
		fatal("out of memory (pcre2 match data)");
	pcre2_set_match_limit(rs->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(rs->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(rs->mctx, REGEX_HEAP_LIMIT_KIB);
	if (rs->jit)
		pcre2_jit_stack_assign(rs->mctx, NULL, rs->jit);
	build_prefilter(rs);
}

/* Append s (copied) to a NULL-terminated array of n entries, with its line
 * and origin in the parallel arrays. */
static void example_push(char ***v, int **lines, char ***origins, size_t n, const char *s, int line,
                         const char *origin)
{
	*v = xrealloc(*v, (n + 2) * sizeof(**v));
	(*v)[n] = xstrdup(s);
	(*v)[n + 1] = NULL;
	*lines = xrealloc(*lines, (n + 2) * sizeof(**lines));
	(*lines)[n] = line;
	(*lines)[n + 1] = 0;
	if (origins) {
		*origins = xrealloc(*origins, (n + 2) * sizeof(**origins));
		(*origins)[n] = origin ? xstrdup(origin) : xstrdup("taught");
		(*origins)[n + 1] = NULL;
	}
}

/* Taught examples join their rules; unknown rules are skipped and logged. */
static void add_extras(struct ruleset *rs, const struct rules_extra *extra, size_t nextra)
{
	for (size_t i = 0; i < nextra; i++) {
		const struct rules_extra *x = &extra[i];
		uint32_t ri = x->rule ? smap_get(&rs->ids, rs, rule_key, x->rule) : UINT32_MAX;
		if (ri == UINT32_MAX || !x->text || !has_words(x->text) || i >= EXTRA_MAX) {
			rs->extra_skipped++;
			log_warn(i >= EXTRA_MAX ? "taught example skipped: too many taught examples"
			                        : "taught example skipped: no such rule, or no words",
			         "rule=%s origin=\"%s\"", x->rule ? x->rule : "-",
			         x->origin ? x->origin : "-");
			continue;
		}
		struct rule *r = &rs->rules[ri];
		if (x->negative) {
			size_t n = r->not_examples ? strv_len(r->not_examples) : 0;
			example_push(&r->not_examples, &r->not_example_lines, NULL, n, x->text, 0, NULL);
		} else {
			size_t n = r->examples ? strv_len(r->examples) : 0;
			if (!r->example_origins)
				r->example_origins = xcalloc(n + 1, sizeof(*r->example_origins));
			example_push(&r->examples, &r->example_lines, &r->example_origins, n, x->text, 0,
			             x->origin);
		}
	}
}

int rules_fold(size_t rule_index, size_t example, int k)
{
	return k > 1 ? (int)((rule_index + example) % (size_t)k) : -1;
}

/*
 * Learn from every rule's examples, leaving out fold f of k (f < 0: none).
 * Class i is rules[i]; a rule without examples left is a class that is
 * never predicted.
 */
static struct learn_model *train_rules(const struct ruleset *rs, int f, int k)
{
	size_t n = 0;
	for (size_t i = 0; i < rs->nrules; i++)
		n += strv_len(rs->rules[i].examples) + strv_len(rs->rules[i].not_examples);
	struct learn_example *ex = xcalloc(n ? n : 1, sizeof(*ex));
	size_t o = 0;
	for (size_t i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];
		for (size_t j = 0; r->examples && r->examples[j]; j++)
			if (f < 0 || rules_fold(i, j, k) != f)
				ex[o++] = (struct learn_example){r->examples[j], (uint32_t)i, 0};
		for (size_t j = 0; r->not_examples && r->not_examples[j]; j++)
			ex[o++] = (struct learn_example){r->not_examples[j], (uint32_t)i, 1};
	}
	struct learn_model *m = learn_train(ex, o, (uint32_t)rs->nrules, NULL);
	free(ex);
	return m;
}

static struct ruleset *finish(struct ruleset *rs, const struct rules_extra *extra, size_t nextra,
                              struct diag *d, int errors_before)
{
	if (d->errors > errors_before) {
		rules_free(rs);
		return NULL;
	}
	add_extras(rs, extra, nextra);
	rules_freeze(rs);
	for (size_t i = 0; i < rs->nrules; i++) {
		rs->rules[i].learned = rs->rules[i].examples && rs->rules[i].examples[0];
		rs->nlearned += (size_t)rs->rules[i].learned;
	}
	if (rs->nlearned)
		rs->model = train_rules(rs, -1, 0);
	return rs;
}

struct ruleset *rules_load_ex(char *const *files, const struct rules_extra *extra, size_t nextra,
                              struct diag *d)
{
	struct ruleset *rs = rules_new();
	int errors_before = d->errors;

	for (size_t i = 0; files && files[i]; i++) {
		struct yml_doc y;
		if (yml_load_file(&y, files[i], d) == 0)
			load_doc(rs, &y, d);
		yml_free(&y);
	}
	return finish(rs, extra, nextra, d, errors_before);
}

struct ruleset *rules_load(char *const *files, struct diag *d)
{
	return rules_load_ex(files, NULL, 0, d);
}

struct ruleset *rules_load_mem(const char *name, const char *data, size_t len, struct diag *d)
{
	struct ruleset *rs = rules_new();
	int errors_before = d->errors;
	struct yml_doc y;

	if (yml_load_mem(&y, name, data, len, d) == 0)
		load_doc(rs, &y, d);
	yml_free(&y);
	return finish(rs, NULL, 0, d, errors_before);
}

size_t rules_extra_skipped(const struct ruleset *rs)
{
	return rs->extra_skipped;
}

struct learn_model *rules_train_fold(const struct ruleset *rs, int f, int k)
{
	return train_rules(rs, f, k);
}

struct learn_model *rules_swap_model(struct ruleset *rs, struct learn_model *m)
{
	struct learn_model *old = rs->model;
	rs->model = m;
	return old;
}

size_t rules_learned_count(const struct ruleset *rs)
{
	return rs->nlearned;
}

size_t rules_model_bytes(const struct ruleset *rs)
{
	return rs->model ? learn_bytes(rs->model) : 0;
}

void rules_free(struct ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		free(r->id);
		free(r->reply);
		strv_free(r->channels);
		/* Origins first: their count is the examples'. */
		for (size_t j = 0; r->example_origins && r->examples && r->examples[j]; j++)
			free(r->example_origins[j]);
		free(r->example_origins);
		strv_free(r->examples);
		strv_free(r->not_examples);
		free(r->example_lines);
		free(r->not_example_lines);
	}
	learn_free(rs->model);
	for (size_t i = 0; i < rs->nfiles; i++)
		free(rs->files[i]);
	for (size_t i = 0; i < rs->nterms; i++) {
		free(rs->terms[i].text);
		free(rs->terms[i].src);
		pcre2_code_free(rs->terms[i].re);
	}
	free(rs->rules);
	free(rs->rm);
	free(rs->files);
	free(rs->terms);
	free(rs->conds);
	free(rs->ids.slot);
	free(rs->by_text.slot);
	acm_free(rs->acm);
	free(rs->trig_start);
	free(rs->trig);
	free(rs->always);
	free(rs->term_seen);
	free(rs->re_done);
	free(rs->re_result);
	free(rs->rule_seen);
	free(rs->cand);
	pcre2_match_data_free(rs->md);
	pcre2_match_context_free(rs->mctx);
	pcre2_jit_stack_free(rs->jit);
	pcre2_code_free(rs->prefilter);
	free(rs->pre_terms);
	free(rs);
}

size_t rules_count(const struct ruleset *rs)
{
	return rs->nrules;
}

const struct rule *rules_get(const struct ruleset *rs, size_t i)
{
	return i < rs->nrules ? &rs->rules[i] : NULL;
}

const struct rule *rules_find(const struct ruleset *rs, const char *id)
{
	uint32_t i = id ? smap_get(&rs->ids, rs, rule_key, id) : UINT32_MAX;
	return i == UINT32_MAX ? NULL : &rs->rules[i];
}

size_t rules_phrases(const struct ruleset *rs)
{
	return rs->nphrases;
}

size_t rules_regexes(const struct ruleset *rs)
{
	return rs->nregexes;
}

size_t rules_always_checked(const struct ruleset *rs)
{
	return rs->nalways;
}

/* ---------------------------------------------------------------- matching */

static int on_phrase(void *ctx, uint32_t term, size_t end)
{
	struct ruleset *rs = ctx;
	(void)end;
	if (rs->term_seen[term] == rs->gen)
		return 0;
	rs->term_seen[term] = rs->gen;
	for (uint32_t j = rs->trig_start[term]; j < rs->trig_start[term + 1]; j++) {
		uint32_t r = rs->trig[j];
		if (rs->rule_seen[r] != rs->gen) {
			rs->rule_seen[r] = rs->gen;
			rs->cand[rs->ncand++] = r;
		}
	}
	return 0;
}

enum { RE_NO = 0, RE_YES = 1, RE_UNFINISHED = 2 };

/* What regex term t says of this post: RE_UNFINISHED when PCRE2 could not
 * finish (its match, depth or heap limit).  Computed once per post. */
static int regex_result(struct ruleset *rs, uint32_t t)
{
	if (rs->re_done[t] == rs->gen)
		return rs->re_result[t];
	const struct text *tx = rs->text;
	/* The words without the outer spaces: ^ and $ mean start and end. */
	PCRE2_SPTR subj = (PCRE2_SPTR)(tx->norm_len >= 2 ? tx->norm + 1 : "");
	size_t len = tx->norm_len >= 2 ? tx->norm_len - 2 : 0;
	/* norm is valid UTF-8 by construction (fuzz_normalize checks it). */
	int rc = pcre2_match(rs->terms[t].re, subj, len, 0, PCRE2_NO_UTF_CHECK, rs->md, rs->mctx);
	rs->re_done[t] = rs->gen;
	rs->re_result[t] = rc >= 0 ? RE_YES : rc == PCRE2_ERROR_NOMATCH ? RE_NO : RE_UNFINISHED;
	if (rs->re_result[t] == RE_UNFINISHED)
		rs->re_error = rc;
	return rs->re_result[t];
}

/*
 * Does regex condition t of rule i hold (`negated`: a `none` condition)?
 * A regex PCRE2 could not finish - text padded to exhaust its limits so
 * that a pattern slips by - decides in favour of a person: it makes an
 * escalation rule's condition hold and any other rule's fail, so padding
 * can hand a post over but never get it an automatic answer.  Logged (at
 * most once a minute per regex).
 */
static int regex_holds(struct ruleset *rs, uint32_t t, uint32_t i, int negated)
{
	int r = regex_result(rs, t);
	if (r != RE_UNFINISHED)
		return negated ? r == RE_NO : r == RE_YES;
	int to_person = rs->rm[i].kind == RULE_ESCALATE || rs->rm[i].kind == RULE_HUMAN;
	uint64_t now = time_mono_ms();
	struct term *tm = &rs->terms[t];
	if (!tm->unfinished_logged_ms || now - tm->unfinished_logged_ms >= 60000) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(rs->re_error, msg, sizeof(msg));
		log_warn("regex could not finish: decided in favour of a person",
		         "rule=%s regex=%s error=\"%s\" counted_as=%s", rs->rules[i].id, tm->text,
		         (const char *)msg,
		         to_person ? (negated ? "absent" : "present") : (negated ? "present" : "absent"));
		tm->unfinished_logged_ms = now ? now : 1;
	}
	return to_person;
}

/* `when`: channel, public, open. */
static int when_ok(const struct rule *r, const struct rules_ctx *ctx)
{
	if (r->channels) {
		if (!ctx || !ctx->channel)
			return 0;
		size_t i;
		for (i = 0; r->channels[i]; i++)
			if (strcasecmp(r->channels[i], ctx->channel) == 0)
				break;
		if (!r->channels[i])
			return 0;
	}
	if (r->when_public >= 0 && (!ctx || r->when_public != !!ctx->is_public))
		return 0;
	if (r->when_open >= 0 && (!ctx || r->when_open != !!ctx->is_open))
		return 0;
	return 1;
}

/* `when`, `all` and `none` of rule i: what every way of recognising it
 * must satisfy.  Phrases (one load each) before regexes. */
static int rule_allowed(struct ruleset *rs, uint32_t i, const struct rules_ctx *ctx)
{
	const struct rule_m *m = &rs->rm[i];
	const uint32_t *seen = rs->term_seen, gen = rs->gen;
	const uint32_t *all = rs->conds + m->all, *none = rs->conds + m->none;

	if (m->has_when && !when_ok(&rs->rules[i], ctx))
		return 0;
	for (uint32_t j = 0; j < m->all_ph; j++)
		if (seen[all[j]] != gen)
			return 0;
	for (uint32_t j = 0; j < m->none_ph; j++)
		if (seen[none[j]] == gen)
			return 0;
	for (uint32_t j = m->all_ph; j < m->nall; j++)
		if (!regex_holds(rs, all[j], i, 0))
			return 0;
	for (uint32_t j = m->none_ph; j < m->nnone; j++)
		if (!regex_holds(rs, none[j], i, 1))
			return 0;
	return 1;
}

/*
 * Every condition of rule i, `any` last, since a rule reached through an
 * any-phrase has it already.
 */
static int rule_matches(struct ruleset *rs, uint32_t i, const struct rules_ctx *ctx)
{
	const struct rule_m *m = &rs->rm[i];
	const uint32_t *seen = rs->term_seen, gen = rs->gen;
	const uint32_t *any = rs->conds + m->any;

	if (!rule_allowed(rs, i, ctx))
		return 0;
	if (m->nany == 0 || m->any_by_trigger)
		return 1;
	for (uint32_t j = 0; j < m->any_ph; j++)
		if (seen[any[j]] == gen)
			return 1;
	for (uint32_t j = m->any_ph; j < m->nany; j++)
		if (regex_holds(rs, any[j], i, 0))
			return 1;
	return 0;
}

/* A fresh scan of t: the phrases it contains, stamped with a new generation. */
static void scan_only(struct ruleset *rs, const struct text *t)
{
	if (++rs->gen == 0) {
		size_t nt = rs->nterms ? rs->nterms : 1, nr = rs->nrules ? rs->nrules : 1;
		memset(rs->term_seen, 0, nt * sizeof(*rs->term_seen));
		memset(rs->re_done, 0, nt * sizeof(*rs->re_done));
		memset(rs->rule_seen, 0, nr * sizeof(*rs->rule_seen));
		rs->gen = 1;
	}
	rs->ncand = 0;
	acm_scan(rs->acm, t->norm, t->norm_len, on_phrase, rs);
}

void rules_match(struct ruleset *rs, const struct text *t, const struct rules_ctx *ctx,
                 struct rules_match *out)
{
	uint32_t best[4] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};

	memset(out, 0, sizeof(*out));
	rs->text = t;
	scan_only(rs, t);
	if (rs->prefilter && rs->nalways) {
		PCRE2_SPTR subj = (PCRE2_SPTR)(t->norm_len >= 2 ? t->norm + 1 : "");
		size_t len = t->norm_len >= 2 ? t->norm_len - 2 : 0;
		int rc = pcre2_match(rs->prefilter, subj, len, 0, PCRE2_NO_UTF_CHECK, rs->md, rs->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			for (size_t j = 0; j < rs->npre; j++) {
				rs->re_done[rs->pre_terms[j]] = rs->gen;
				rs->re_result[rs->pre_terms[j]] = 0;
			}
	}
	for (size_t j = 0; j < rs->nalways; j++) {
		uint32_t r = rs->always[j];
		if (rs->rule_seen[r] != rs->gen) {
			rs->rule_seen[r] = rs->gen;
			rs->cand[rs->ncand++] = r;
		}
	}
	for (size_t j = 0; j < rs->ncand; j++) {
		uint32_t r = rs->cand[j];
		unsigned k = rs->rm[r].kind;
		if (r < best[k] && rule_matches(rs, r, ctx))
			best[k] = r;
	}
	rs->text = NULL;
	out->human = best[RULE_HUMAN] != UINT32_MAX ? &rs->rules[best[RULE_HUMAN]] : NULL;
	out->escalate = best[RULE_ESCALATE] != UINT32_MAX ? &rs->rules[best[RULE_ESCALATE]] : NULL;
	out->answer = best[RULE_ANSWER] != UINT32_MAX ? &rs->rules[best[RULE_ANSWER]] : NULL;
	out->ack = best[RULE_ACK] != UINT32_MAX ? &rs->rules[best[RULE_ACK]] : NULL;
}

/* ---------------------------------------------------------------- learned */

struct allow_ctx {
	struct ruleset *rs;
	const struct rules_ctx *ctx;
};

static int learned_allowed(void *arg, uint32_t cls)
{
	struct allow_ctx *a = arg;
	return rule_allowed(a->rs, cls, a->ctx);
}

size_t rules_learned(struct ruleset *rs, const struct text *t, const struct rules_ctx *ctx,
                     struct rules_guess *out, size_t k)
{
	struct allow_ctx a = {rs, ctx};

	if (!rs->model)
		return 0;
	if (k > ARRAY_LEN(rs->guess))
		k = ARRAY_LEN(rs->guess);
	/* The conditions read the scan rules_match() left for this post. */
	rs->text = t;
	size_t n = learn_predict(rs->model, t, learned_allowed, &a, rs->guess, k);
	rs->text = NULL;
	for (size_t i = 0; i < n; i++) {
		out[i].rule = &rs->rules[rs->guess[i].cls];
		out[i].confidence = rs->guess[i].confidence;
	}
	return n;
}

static int kind_allowed(void *arg, uint32_t cls)
{
	struct ruleset *rs = arg;
	return !rs->kinds || (rs->kinds & (1u << rs->rules[cls].kind));
}

size_t rules_suggest(struct ruleset *rs, const struct text *t, unsigned kinds, struct rules_guess *out,
                     size_t k)
{
	if (!rs->model)
		return 0;
	if (k > ARRAY_LEN(rs->guess))
		k = ARRAY_LEN(rs->guess);
	rs->kinds = kinds;
	size_t n = learn_predict(rs->model, t, kind_allowed, rs, rs->guess, k);
	for (size_t i = 0; i < n; i++) {
		out[i].rule = &rs->rules[rs->guess[i].cls];
		out[i].confidence = rs->guess[i].confidence;
	}
	return n;
}

const char *rules_explain(struct ruleset *rs, const struct rule *r, const struct text *t)
{
	if (!r || r < rs->rules || r >= rs->rules + rs->nrules)
		return NULL;
	const struct rule_m *m = &rs->rm[r - rs->rules];
	const char *why = NULL;
	scan_only(rs, t);
	rs->text = t;
	for (uint32_t c = m->any; c < m->all + m->nall && !why; c++) {
		uint32_t term = rs->conds[c];
		if (rs->terms[term].re ? regex_result(rs, term) == RE_YES : rs->term_seen[term] == rs->gen)
			why = rs->terms[term].text;
	}
	rs->text = NULL;
	return why;
}
