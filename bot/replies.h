/*
 * replies.h - the bot's reply texts: templates loaded from YAML files
 * (replies/en.yaml), compiled once, rendered with a post's variables.
 *
 * A replies file maps keys to one template or a list of variants:
 *
 *     escalated.after_hours: >-
 *       Hi {{author}}, we're closed right now and back {{opens_at}};
 *       a person will reply by {{due}}.{{#phone}} Urgent? Call {{phone}}.{{/phone}}
 *     smalltalk.thanks:
 *       - "You're welcome, {{author}}!"
 *       - "Happy to help!"
 *
 * Template syntax (a small subset of Mustache):
 *     {{var}}             the variable's value, as is (no escaping: HTML is
 *                         escaped by the dashboard, mentions are neutralised
 *                         by connectors); empty when unset
 *     {{#var}}...{{/var}} rendered only when var is set and non-empty
 *     {{^var}}...{{/var}} rendered only when var is unset or empty
 * Spaces inside a tag are allowed ("{{ author }}").  Sections nest.  The
 * variables are exactly those of struct reply_vars; any other name, a
 * section left open, a stray closing tag or an unterminated "{{" is a load
 * error reported as file:line:col at the offending tag.
 *
 * Keys are [a-z0-9_]+(\.[a-z0-9_]+)* and at most REPLY_KEY_MAX bytes; values
 * are non-empty and at most REPLY_TEMPLATE_MAX bytes each.  Several files
 * merge into one set; a key defined twice (in one file or across files) is
 * an error that names both places.
 *
 * Templates are compiled at load into segments (literal text, variable,
 * section jump), so rendering does no parsing and allocates nothing except
 * when the output buffer grows.
 *
 * Ownership: a struct replies owns every key and template; the key strings
 * it hands out (replies_pick, replies_resolve, replies_key) stay valid until
 * replies_free().  A loaded set is read-only: rendering from one set in
 * several places at once is safe.
 */
#ifndef FD_REPLIES_H
#define FD_REPLIES_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "yml.h"

#define REPLY_KEY_MAX      128u  /* bytes in a key */
#define REPLY_TEMPLATE_MAX 4096u /* bytes in one template (one variant) */
#define REPLY_VARIANTS_MAX 32u   /* variants under one key */
#define REPLY_VALUE_MAX    200u  /* a variable's value is cut to this many bytes (at a UTF-8 boundary) */
#define REPLY_DEPTH_MAX    8u    /* sections nested inside each other */

struct replies;

/*
 * The variables a template may use.  Any field may be NULL, which renders
 * like "": empty, and false for {{#var}} sections.  Values come from outside
 * (customer display names) and are rendered byte for byte, but each is cut
 * at REPLY_VALUE_MAX bytes (never inside a UTF-8 character).
 */
struct reply_vars {
	const char *author;   /* customer's display name (or handle) */
	const char *business; /* business name */
	const char *opens_at; /* when the business opens next: "tomorrow at 9:00" */
	const char *due;      /* when a person will reply: "today at 15:30" */
	const char *hours;    /* opening hours summary: "Mon-Fri 9:00-17:30, Sat 10:00-14:00" */
	const char *phone;
	const char *email;
	const char *ticket;    /* ticket number */
	const char *agent;     /* assigned person's display name */
	const char *closed_on; /* a day the post names when the business is closed all day:
	                          "Friday 25 December", "Sundays" (pipeline.h) */
};

/* One bit per variable, in the order of struct reply_vars. */
enum {
	REPLY_VAR_AUTHOR = 1u << 0,
	REPLY_VAR_BUSINESS = 1u << 1,
	REPLY_VAR_OPENS_AT = 1u << 2,
	REPLY_VAR_DUE = 1u << 3,
	REPLY_VAR_HOURS = 1u << 4,
	REPLY_VAR_PHONE = 1u << 5,
	REPLY_VAR_EMAIL = 1u << 6,
	REPLY_VAR_TICKET = 1u << 7,
	REPLY_VAR_AGENT = 1u << 8,
	REPLY_VAR_CLOSED_ON = 1u << 9,
	REPLY_VAR_COUNT = 10
};

/* The name of variable number i (0 .. REPLY_VAR_COUNT-1, the bit index of
 * its REPLY_VAR_* flag), e.g. "opens_at"; NULL out of range. */
const char *replies_var_name(unsigned i);

/*
 * Load and merge the files named in `files` (NULL-terminated; entries are
 * paths, globs are expanded by the caller).  Every problem of every file is
 * added to d; returns NULL if any was found, so a broken set is never used
 * half-loaded.  The result is freed with replies_free().
 */
struct replies *replies_load(char *const *files, struct diag *d);
void replies_free(struct replies *r);

/* Number of keys, and the i-th key in load order (borrowed; NULL past the end). */
size_t replies_count(const struct replies *r);
const char *replies_key(const struct replies *r, size_t i);

/* 1 if key is defined, 0 if not. */
int replies_has(const struct replies *r, const char *key);

/* The business's state when a reply is written; selects key variants. */
enum reply_state { REPLY_OPEN = 0, REPLY_AFTER_HOURS, REPLY_HOLIDAY };

/* What a reply is for: the situation that picks among a key's variants. */
struct reply_want {
	enum reply_state state; /* open, closed, or closed for a holiday */
	const char *channel;    /* the post's channel label ("slack"), or NULL */
	int negative;           /* the customer reads unhappy: prefer an apology */
};

/*
 * The one place a reply key's variants are chosen: the most specific
 * defined key for `base` in situation w.  Variants are suffixes of the key,
 * written in this order: base[.negative][.CHANNEL][.STATE], e.g.
 * faq.delivery.negative, faq.delivery.slack.after_hours.  They are tried
 * mood first, then channel, then business state, each falling back to its
 * absence:
 *
 *     for MOOD  in  .negative (only when w->negative), ""
 *       for CHANNEL in  .CHANNEL (only when w->channel), ""
 *         for STATE in  REPLY_HOLIDAY:     .holiday, .after_hours, ""
 *                       REPLY_AFTER_HOURS: .after_hours, ""
 *                       REPLY_OPEN:        .open, ""
 *           base MOOD CHANNEL STATE
 *
 * So an apology beats a channel's wording, and a channel's wording beats
 * the time of day: a negative post on Slack after hours gets
 * faq.delivery.negative.slack.after_hours, else faq.delivery.negative.slack,
 * faq.delivery.negative.after_hours, faq.delivery.negative,
 * faq.delivery.slack.after_hours, ... and finally faq.delivery.  A channel
 * named like a state or mood (open, after_hours, holiday, negative) has no
 * variants of its own.  Returns the key as stored in r (borrowed), or NULL
 * when none exists or base is too long to be a key.  Never allocates: a
 * branch no key continues is skipped at the cost of one hash probe.
 */
const char *replies_pick(const struct replies *r, const char *base, const struct reply_want *w);

/* replies_pick() for a state alone (no channel, not negative). */
const char *replies_resolve(const struct replies *r, const char *base, enum reply_state st);

/* 1 if some key refines base with the variant `word` (base.WORD or
 * base.WORD.anything: replies_has_variant(r, "faq.delivery", "negative")),
 * 0 if none does. */
int replies_has_variant(const struct replies *r, const char *base, const char *word);

/*
 * Append key's template rendered with v (NULL = every variable empty) to
 * out.  With several variants, `seed` picks one deterministically (the
 * pipeline passes a hash of the post id, so a post always gets the same
 * text, and different posts spread over the variants).  Returns 0, or -1 if
 * the key does not exist or out would pass its cap; out is then unchanged.
 */
int replies_render(const struct replies *r, const char *key, uint64_t seed, const struct reply_vars *v,
                   struct buf *out);

/*
 * The REPLY_VAR_* bits of every variable any variant of key uses (in a
 * {{var}} or a section), so `frontdesk check` can verify that what a rule's
 * reply needs is configured.  0 for an unknown key.
 */
unsigned replies_vars_used(const struct replies *r, const char *key);

/*
 * Compile and render one template string directly (tests, fuzzing, the
 * dashboard's preview).  Returns 0 and appends to out; on a template error
 * returns -1 with a one-line message in err (errn bytes, may be 0) and out
 * unchanged; -1 with err "output too long" when out would pass its cap.
 */
int replies_render_string(const char *tmpl, const struct reply_vars *v, struct buf *out, char *err,
                          size_t errn);

#endif
