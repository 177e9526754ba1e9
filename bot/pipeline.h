/*
 * pipeline.h - the decision: given a post, the business's rules, replies and
 * clock, and the state of the post's thread, decide what to do and render
 * the reply (docs/architecture.md, "The path of a message", step 2).
 *
 * It is a pure function: no I/O, no global state besides the engine's
 * scratch buffers, so the daemon, `frontdesk try` and `frontdesk replay` run
 * exactly the same code.  The order of the decision is fixed:
 *
 *   ignore (own post, bot, duplicate; a person of the business writing on
 *   the platform itself takes the conversation over: ignored "staff")
 *   -> the answer to the satisfaction question (the customer's first
 *      message after it, within satisfaction.window, read by rating.h:
 *      "5", "4/5 quick and kind"): kept, thanked (reply key
 *      `satisfaction.thanks`), never decided as a question
 *   -> thread with the team (append to the ticket; while it waits for a
 *      person at most one "a person will reply" notice per
 *      bot.human_ack_interval; once claimed, nothing)
 *   -> explicit request for a person -> escalation rule -> abusive
 *   -> negative (an FAQ question from a mildly unhappy customer gets the
 *      answer's `.negative` variant, an apology in front of the facts, and
 *      is handed over all the same; a strongly unhappy one only the apology)
 *   -> FAQ answer (but a question naming a day the business is closed all
 *      day, "can you deliver on christmas day?", gets the answer's
 *      `.closed_day` variant when the replies have one, else the
 *      `closed_day` notice and a person: never a cheerful general yes)
 *   -> acknowledgement-only rule (with cooldown)
 *   -> unmatched: escalate with an acknowledgement and the expected time.
 *
 * Every reply key goes through replies_pick() with the post's channel, the
 * business state and the `negative` flag, so any key may have .negative,
 * .CHANNEL and .open/.after_hours/.holiday variants (replies.h has the order).
 *
 * Ownership: an engine owns its configuration, rules, replies and lexicon;
 * strings in a decision (rule, reason, reply_key) borrow from the engine or
 * are static, except `reply`, which the decision owns (decision_free).
 * An engine is used by one thread at a time.
 */
#ifndef FD_PIPELINE_H
#define FD_PIPELINE_H

#include <stdint.h>
#include <time.h>

#include "normalize.h"
#include "post.h"
#include "util.h"
#include "yml.h"

struct config;
struct ruleset;
struct replies;
struct lexicon;

struct engine {
	struct config *cfg;
	struct ruleset *rules;
	struct replies *replies;
	struct lexicon *lexicon;
	double threshold;        /* sentiment score at or below which a post is negative */
	struct text text;        /* scratch, reused for every decision */
	struct buf scratch;      /* reply rendering, reused for every decision */
	char hours_summary[256]; /* "Mon–Fri 9:00–17:30, ..." computed once at load */
};

/* Load config, rules, replies and lexicon.  NULL with every error in d. */
struct engine *engine_load(const char *config_path, struct diag *d);

struct rules_extra;
/*
 * The same, with examples from outside the rule files (taught by the team,
 * rules.h: struct rules_extra), learned with the others.  Loading reads
 * files and its arguments only, so it may run off the loop thread.
 */
struct engine *engine_load_ex(const char *config_path, const struct rules_extra *extra, size_t nextra,
                              struct diag *d);
/* Same, from an in-memory config whose relative paths resolve against dir. */
struct engine *engine_load_mem(const char *name, const char *dir, const char *data, size_t len,
                               struct diag *d);
void engine_free(struct engine *e);

struct rules_guess;
/*
 * For people choosing an answer (dashboard suggestions) or grouping similar
 * questions: the k rules of the given kinds (a mask of 1u << RULE_ANSWER
 * ...; 0 = all) that `text` is most like by their examples, best first,
 * with confidences (rules.h: rules_suggest).  Uses the engine's scratch.
 */
size_t engine_suggest(struct engine *e, const char *text, unsigned kinds, struct rules_guess *out, size_t k);

enum action { ACTION_ANSWER = 0, ACTION_ACK, ACTION_ESCALATE, ACTION_IGNORE };
const char *action_name(enum action a);

enum thread_owner { THREAD_BOT = 0, THREAD_WAITING, THREAD_CLAIMED };
const char *thread_owner_name(enum thread_owner o);

/* What the store knows about the post's thread; all zero for a new thread. */
struct thread_state {
	enum thread_owner owner;
	int64_t ticket_id;          /* > 0 when owner != THREAD_BOT */
	const char *agent;          /* assignee's display name, or NULL */
	time_t ticket_due;          /* the ticket's due time, 0 if none */
	time_t last_ack;            /* last bot acknowledgement in the thread, 0 none */
	time_t last_waiting_notice; /* last "a person will reply" notice, 0 none */
	int duplicate;              /* this post id is already stored */
	int ticket_private;         /* the open ticket was taken private ("take it offline") */
	int64_t rating_ticket;      /* the satisfaction question is pending for this ticket, 0 none */
	time_t rating_asked;        /* when it was asked */
	int rating_next;            /* this post is the customer's first message since */
};

struct decision {
	enum action action;
	const char *rule;       /* matched rule id, or NULL */
	enum priority priority; /* PRIO_NONE unless escalated */
	int negative;
	double sentiment; /* -1.0 .. 1.0 */
	int abusive;
	const char *reason;    /* "rule", "negative", "unmatched", "requested_human", "abusive" or NULL */
	int open;              /* business open at `now` */
	time_t due;            /* response due (escalations), 0 = none */
	char *reply;           /* rendered reply, or NULL: owned */
	const char *reply_key; /* which replies key produced it ("faq.delivery.negative") */
	const char *ignored;   /* why nothing happens: "own_post", "bot", "duplicate",
	                          "cooldown", "human_thread", "abusive_public", "empty",
	                          "staff" */
	/* A person of the business wrote the post on the platform (post
	 * from_staff): their message joins the conversation and the thread is
	 * theirs (its ticket claimed by them, one opened when there is none). */
	int take_over;
	long closed_day;    /* a date the post names on which the business is closed all day
	                       (day number, hours.h), when that changed the decision; -1 none */
	char closed_on[64]; /* that date as said to the customer: "on Friday 25 December" */
	int open_ticket;    /* a new ticket must be opened (escalations) */
	int append_ticket;  /* append to the thread's existing ticket */
	/* "Take it offline" (the decision record's `private`): the reply, and
	 * what follows in the conversation, goes to a private channel.  A
	 * private post (a DM, web chat) is answered in private anyway; a public
	 * post is taken offline when a person takes the conversation over for
	 * anything but a mere unmatched question (a complaint, an escalation
	 * rule such as a refund, abuse, a request for a person), and a thread
	 * whose open ticket was taken offline stays there.  Connectors only
	 * carry it out. */
	int is_private;
	/* The short public reply ("I've sent you a direct message") that goes
	 * where a public post was when its conversation is taken offline, before
	 * the private reply: the reply key `offline` (with its variants), or a
	 * built-in sentence when the replies have none.  NULL otherwise; owned. */
	char *pointer;
	const char *intent; /* the answer or acknowledgement rule the post is most like, by
	                       phrase, regex or examples, whatever the action; NULL when none
	                       is close enough (DESIGN.md) */
	double confidence;  /* of intent: 1.0 for a phrase or regex, else what the examples
	                       say (0..1); -1 when intent is NULL */
	int by_examples;    /* `rule` was recognised from its examples, not a phrase */
	/* The post answers the satisfaction question: its score (1..5; 0 it
	 * does not) and the comment after it, borrowed from the post's text
	 * (NULL, 0 when none).  Decided as an acknowledgement (the thanks). */
	int rating;
	const char *rating_comment;
	size_t rating_comment_len;
	/* The two rules the post is most like by their examples, even when
	 * neither is close enough to act on (explanations: `frontdesk try`);
	 * rule NULL where there is none. */
	struct {
		const char *rule;
		double confidence;
	} learned[2];
};

void decision_init(struct decision *d);
void decision_free(struct decision *d);

/*
 * Decide for post p at time now.  Fills out (decision_free it afterwards).
 * Returns 0, or -1 if a reply could not be rendered (out is still a valid
 * decision without a reply; the error is logged).
 */
int pipeline_decide(struct engine *e, const struct post *p, const struct thread_state *ts, time_t now,
                    struct decision *out);

/*
 * The decision record (docs/decision-record.md) as one JSON object (no newline) appended
 * to out; `id` is echoed (NULL -> null).
 */
void decision_json(const struct engine *e, const struct decision *d, const char *id, struct buf *out);

#endif
