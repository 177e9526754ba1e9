/*
 * pipeline.c - the decision (see pipeline.h for the order it follows).
 */
#include "pipeline.h"

#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dates.h"
#include "hours.h"
#include "rating.h"
#include "replies.h"
#include "rules.h"
#include "sentiment.h"

/* Reply keys the pipeline itself uses; each must resolve in every state. */
static const char *const pipeline_keys[] = {"escalated", "negative", "abusive", "human", "waiting", NULL};

static const char *action_names[] = {"answer", "acknowledge", "escalate", "ignore"};
static const char *owner_names[] = {"bot", "waiting", "claimed"};

const char *action_name(enum action a)
{
	return action_names[a];
}

const char *thread_owner_name(enum thread_owner o)
{
	return owner_names[o];
}

void decision_init(struct decision *d)
{
	memset(d, 0, sizeof(*d));
	d->action = ACTION_IGNORE;
	d->priority = PRIO_NONE;
	d->closed_day = -1;
	d->confidence = -1;
}

void decision_free(struct decision *d)
{
	free(d->reply);
	free(d->pointer);
	d->reply = NULL;
	d->pointer = NULL;
}

/*
 * A rule's reply key must resolve in every business state it can fire in;
 * an unknown key is reported at the rule.  Returns the number of errors.
 */
static int check_reply_key(struct engine *e, const struct rule *r, const char *key, struct diag *d)
{
	static const char *states[] = {"open", "after_hours", "holiday"};
	for (int st = REPLY_OPEN; st <= REPLY_HOLIDAY; st++) {
		if (r->when_open == 1 && st != REPLY_OPEN)
			continue;
		if (r->when_open == 0 && st == REPLY_OPEN)
			continue;
		if (!replies_resolve(e->replies, key, (enum reply_state)st)) {
			if (st == REPLY_OPEN)
				diag_error(d, r->file, r->line, 1,
				           "rule '%s': reply '%s' is not defined in the replies", r->id, key);
			else
				diag_error(d, r->file, r->line, 1,
				           "rule '%s': reply '%s' is not defined in the replies for state %s",
				           r->id, key, states[st]);
			return 1;
		}
	}
	return 0;
}

/* Cross-checks between rules and replies, after both loaded cleanly. */
static void engine_crosscheck(struct engine *e, struct diag *d)
{
	for (size_t i = 0; i < rules_count(e->rules); i++) {
		const struct rule *r = rules_get(e->rules, i);
		if (r->reply)
			check_reply_key(e, r, r->reply, d);
	}
	const char *where =
	    e->cfg->reply_files && e->cfg->reply_files[0] ? e->cfg->reply_files[0] : "replies";
	for (size_t k = 0; pipeline_keys[k]; k++)
		for (int st = REPLY_OPEN; st <= REPLY_HOLIDAY; st++)
			if (!replies_resolve(e->replies, pipeline_keys[k], (enum reply_state)st)) {
				diag_error(d, where, 0, 0,
				           "reply '%s' is required (the bot sends it itself): define '%s' or "
				           "'%s.open' "
				           "and '%s.after_hours'",
				           pipeline_keys[k], pipeline_keys[k], pipeline_keys[k],
				           pipeline_keys[k]);
				break;
			}
}

static struct engine *engine_finish(struct config *cfg, const struct rules_extra *extra, size_t nextra,
                                    struct diag *d)
{
	struct engine *e;

	if (!cfg)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->cfg = cfg;
	/* Load all three even when one fails, so every error is reported at once. */
	e->rules = rules_load_ex(cfg->rule_files, extra, nextra, d);
	e->replies = replies_load(cfg->reply_files, d);
	e->lexicon = lexicon_load(cfg->lexicon_files, d);
	if (e->rules && e->replies && e->lexicon)
		engine_crosscheck(e, d);
	if (!e->rules || !e->replies || !e->lexicon || d->errors) {
		engine_free(e);
		return NULL;
	}
	e->threshold =
	    isnan(cfg->negative_threshold) ? lexicon_threshold(e->lexicon) : cfg->negative_threshold;
	hours_summary(cfg->hours, e->hours_summary, sizeof(e->hours_summary));
	text_init(&e->text);
	buf_init(&e->scratch, 0);
	/* Building the automata leaves megabytes of freed heap behind; hand
	 * it back so a long-running daemon stays small (also after SIGHUP). */
	malloc_trim(0);
	return e;
}

struct engine *engine_load(const char *config_path, struct diag *d)
{
	return engine_finish(config_load(config_path, d), NULL, 0, d);
}

struct engine *engine_load_ex(const char *config_path, const struct rules_extra *extra, size_t nextra,
                              struct diag *d)
{
	return engine_finish(config_load(config_path, d), extra, nextra, d);
}

size_t engine_suggest(struct engine *e, const char *text, unsigned kinds, struct rules_guess *out, size_t k)
{
	text_normalize(&e->text, text, strlen(text));
	return rules_suggest(e->rules, &e->text, kinds, out, k);
}

struct engine *engine_load_mem(const char *name, const char *dir, const char *data, size_t len,
                               struct diag *d)
{
	return engine_finish(config_load_mem(name, dir, data, len, d), NULL, 0, d);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	if (e->rules)
		rules_free(e->rules);
	if (e->replies)
		replies_free(e->replies);
	if (e->lexicon)
		lexicon_free(e->lexicon);
	if (e->cfg)
		config_free(e->cfg);
	text_free(&e->text);
	buf_free(&e->scratch);
	free(e);
}

static time_t due_for(const struct engine *e, enum priority p, time_t now)
{
	return config_due(e->cfg, p, now);
}

/*
 * What the examples say, folded into the phrase matches m: unless a phrase
 * or regex has already pinned an answer down, the rule the post is most
 * like takes the place of its kind when it is confident enough (at least
 * answers.min_confidence, and answers.min_margin ahead of the next) and no
 * phrase filled that place.  Sets the decision's intent and explanations;
 * returns the rule the examples chose, or NULL.
 */
static const struct rule *recognise(struct engine *e, const struct rules_ctx *ctx, struct rules_match *m,
                                    struct decision *out)
{
	struct rules_guess g[4];
	size_t n = 0;
	const struct rule *learned = NULL;

	if (!m->answer)
		n = rules_learned(e->rules, &e->text, ctx, g, ARRAY_LEN(g));
	for (size_t i = 0; i < n && i < 2; i++) {
		out->learned[i].rule = g[i].rule->id;
		out->learned[i].confidence = g[i].confidence;
	}
	if (n && g[0].confidence >= e->cfg->min_confidence &&
	    (n < 2 || g[0].confidence - g[1].confidence >= e->cfg->min_margin)) {
		const struct rule **slot = g[0].rule->kind == RULE_HUMAN      ? &m->human
		                           : g[0].rule->kind == RULE_ESCALATE ? &m->escalate
		                           : g[0].rule->kind == RULE_ANSWER   ? &m->answer
		                                                              : &m->ack;
		if (!*slot) {
			*slot = g[0].rule;
			learned = g[0].rule;
		}
	}
	/* The intent: the answer or acknowledgement the post is most like. */
	if (m->answer || m->ack) {
		const struct rule *r = m->answer ? m->answer : m->ack;
		out->intent = r->id;
		out->confidence = r == learned ? g[0].confidence : 1.0;
		return learned;
	}
	for (size_t i = 0; i < n; i++)
		if ((g[i].rule->kind == RULE_ANSWER || g[i].rule->kind == RULE_ACK) &&
		    g[i].confidence >= e->cfg->min_confidence) {
			out->intent = g[i].rule->id;
			out->confidence = g[i].confidence;
			break;
		}
	return learned;
}

static void escalate(struct engine *e, struct decision *out, const char *reason, enum priority p, time_t now)
{
	out->action = ACTION_ESCALATE;
	out->reason = reason;
	out->priority = p;
	out->open_ticket = 1;
	out->due = due_for(e, p, now);
}

/*
 * Render `base` for the business state at `now` into *text (malloc'd) and
 * *key.  Phrases ("tomorrow at 9:00") are computed only when the chosen
 * template uses them.
 */
static int render_to(struct engine *e, const struct post *p, const struct thread_state *ts, const char *base,
                     time_t now, struct decision *out, char **text, const char **key_out)
{
	struct reply_want want = {REPLY_OPEN, p->channel ? p->channel : p->platform, out->negative};
	char opens_at[64] = "", due[64] = "", ticket[32] = "";
	struct reply_vars v;

	if (!out->open)
		want.state = hours_is_holiday(e->cfg->hours, now) ? REPLY_HOLIDAY : REPLY_AFTER_HOURS;
	const char *key = replies_pick(e->replies, base, &want);
	if (!key) {
		log_error("reply key missing", "key=%s", base);
		return -1;
	}
	unsigned used = replies_vars_used(e->replies, key);
	if (!out->open && (used & REPLY_VAR_OPENS_AT)) {
		time_t next = hours_next_open(e->cfg->hours, now);
		if (next != (time_t)-1)
			hours_phrase(e->cfg->hours, now, next, opens_at, sizeof(opens_at));
	}
	if (out->due && (used & REPLY_VAR_DUE))
		hours_phrase(e->cfg->hours, now, out->due, due, sizeof(due));
	if (ts && ts->ticket_id > 0 && (used & REPLY_VAR_TICKET))
		snprintf(ticket, sizeof(ticket), "%lld", (long long)ts->ticket_id);

	memset(&v, 0, sizeof(v));
	/* Only a display name: a handle may be an opaque token (web chat). */
	v.author = p->author_name;
	v.business = e->cfg->business_name;
	v.opens_at = opens_at;
	v.due = due;
	v.hours = e->hours_summary;
	v.phone = e->cfg->phone;
	v.email = e->cfg->email;
	v.ticket = ticket;
	v.agent = ts ? ts->agent : NULL;
	v.closed_on = out->closed_on[0] ? out->closed_on : NULL;

	/* Render into the engine's reused buffer, then copy once: one
	 * allocation per reply instead of one per doubling. */
	const char *seed_src = p->post_id ? p->post_id : p->text;
	buf_reset(&e->scratch);
	if (replies_render(e->replies, key, hash64(seed_src, strlen(seed_src)), &v, &e->scratch) < 0) {
		log_error("reply render failed", "key=%s", key);
		return -1;
	}
	*text = xstrndup(e->scratch.p ? e->scratch.p : "", e->scratch.len);
	*key_out = key;
	return 0;
}

/* The thanks for a rating when the replies define no `satisfaction.thanks`. */
#define SATISFACTION_THANKS "Thank you for your feedback!"

/* The pointer's words when the replies define no `offline` key. */
#define POINTER_DEFAULT "I've sent you a direct message so we can sort this out in private."

/*
 * Render the reply `base` into out->reply, and for a public post taken
 * offline by this decision, the pointer that goes where it was posted.
 */
static int render(struct engine *e, const struct post *p, const struct thread_state *ts, const char *base,
                  time_t now, struct decision *out)
{
	int rc = render_to(e, p, ts, base, now, out, &out->reply, &out->reply_key);
	if (rc == 0 && out->is_private && p->is_public &&
	    !(ts && ts->owner != THREAD_BOT && ts->ticket_private)) {
		const char *pkey;
		struct reply_want want = {REPLY_OPEN, p->channel ? p->channel : p->platform, 0};
		if (replies_pick(e->replies, "offline", &want))
			rc = render_to(e, p, ts, "offline", now, out, &out->pointer, &pkey);
		else
			out->pointer = xstrdup(POINTER_DEFAULT);
	}
	return rc;
}

/* "Take it offline" (struct decision, is_private). */
static int reply_private(const struct post *p, const struct thread_state *ts, const struct decision *d)
{
	if (!p->is_public)
		return 1;
	if (ts->owner != THREAD_BOT)
		return ts->ticket_private;
	return d->open_ticket && d->reason && strcmp(d->reason, "unmatched") != 0;
}

/*
 * The first date the post names on which the business is closed all day
 * (a holiday, or a weekday without hours), with out->closed_day and
 * out->closed_on set; HOURS_DAY_OPEN when it names none.  Uses the post's
 * text as normalized in e->text.
 */
static enum hours_day closed_day_named(struct engine *e, time_t now, struct decision *out)
{
	struct named_date nd[8];
	const struct hours *h = e->cfg->hours;
	long today = hours_today(h, now);
	size_t n = dates_named(e->text.norm, e->text.plain, today, nd, ARRAY_LEN(nd));

	for (size_t i = 0; i < n; i++) {
		enum hours_day why = hours_date_closed(h, nd[i].date);
		if (why == HOURS_DAY_OPEN)
			continue;
		out->closed_day = nd[i].date;
		hours_date_phrase(today, nd[i].date, nd[i].weekly && why == HOURS_DAY_CLOSED_WEEKDAY,
		                  out->closed_on, sizeof(out->closed_on));
		return why;
	}
	return HOURS_DAY_OPEN;
}

/*
 * An FAQ answer for a post that names a day the business is closed all
 * day: never the cheerful general answer.  The answer's own `.closed_day`
 * wording when the replies have it; the answer itself when it states the
 * opening hours and the day is closed every week (the hours say so);
 * otherwise the `closed_day` notice (or `escalated`) and a person.
 */
static const char *answer_closed_day(struct engine *e, const char *key, enum hours_day why, time_t now,
                                     char *buf, size_t n, struct decision *out)
{
	int len = snprintf(buf, n, "%s.closed_day", key);
	if (len > 0 && (size_t)len < n && replies_has(e->replies, buf))
		return buf;
	const char *plain = replies_resolve(e->replies, key, REPLY_OPEN);
	if (why == HOURS_DAY_CLOSED_WEEKDAY && plain &&
	    (replies_vars_used(e->replies, plain) & REPLY_VAR_HOURS)) {
		out->closed_day = -1;
		out->closed_on[0] = '\0';
		return key;
	}
	escalate(e, out, "unmatched", PRIO_NORMAL, now);
	return replies_has(e->replies, "closed_day") ? "closed_day" : "escalated";
}

int pipeline_decide(struct engine *e, const struct post *p, const struct thread_state *ts, time_t now,
                    struct decision *out)
{
	char closed_key[REPLY_KEY_MAX + 1];
	static const struct thread_state fresh;
	struct sentiment s;
	struct rules_match m;
	struct rules_ctx ctx;
	const char *base = NULL;

	if (!ts)
		ts = &fresh;
	decision_init(out);
	out->open = hours_is_open(e->cfg->hours, now);

	if (p->is_self) {
		out->ignored = "own_post";
		return 0;
	}
	if (p->from_staff) {
		/* A person answered on the platform itself: the conversation is
		 * theirs now, and stays so until its ticket is resolved. */
		out->ignored = "staff";
		out->take_over = 1;
		return 0;
	}
	if (p->author_is_bot) {
		out->ignored = "bot";
		return 0;
	}
	if (ts->duplicate) {
		out->ignored = "duplicate";
		return 0;
	}

	const char *txt = p->text ? p->text : "";
	struct rating rt;
	if (ts->owner == THREAD_BOT && ts->rating_ticket > 0 && ts->rating_next &&
	    now - ts->rating_asked <= e->cfg->satisfaction_window && rating_parse(txt, &rt)) {
		out->action = ACTION_ACK;
		out->rating = rt.score;
		out->rating_comment = rt.comment;
		out->rating_comment_len = rt.comment_len;
		out->is_private = reply_private(p, ts, out);
		if (replies_has(e->replies, "satisfaction.thanks"))
			return render(e, p, ts, "satisfaction.thanks", now, out);
		out->reply = xstrdup(SATISFACTION_THANKS);
		return 0;
	}
	text_normalize(&e->text, txt, strlen(txt));
	sentiment_analyze(e->lexicon, &e->text, e->threshold, &s);
	out->sentiment = s.score;
	out->negative = s.negative;
	out->abusive = s.abusive;

	/* The thread is with the team: the post joins the ticket.  While the
	 * ticket waits for someone, the bot says at most "we have your message"
	 * once per interval (never to abuse); once a person has claimed it, the
	 * bot sends nothing at all into it (the assignee is notified instead). */
	if (ts->owner != THREAD_BOT) {
		out->append_ticket = 1;
		out->due = ts->ticket_due;
		if (ts->owner == THREAD_WAITING && !s.abusive &&
		    (!ts->last_waiting_notice ||
		     now - ts->last_waiting_notice >= e->cfg->human_ack_interval)) {
			out->action = ACTION_ACK;
			base = "waiting";
		} else {
			out->ignored = "human_thread";
			return 0;
		}
		out->is_private = reply_private(p, ts, out);
		return render(e, p, ts, base, now, out);
	}

	if (e->text.n_words == 0) {
		out->ignored = "empty";
		return 0;
	}

	ctx.channel = p->channel ? p->channel : p->platform;
	ctx.is_public = p->is_public;
	ctx.is_open = out->open;
	rules_match(e->rules, &e->text, &ctx, &m);
	const struct rule *learned = recognise(e, &ctx, &m, out);

	if (m.human) {
		out->rule = m.human->id;
		escalate(e, out, "requested_human",
		         m.human->priority != PRIO_NONE ? m.human->priority : PRIO_NORMAL, now);
		base = m.human->reply ? m.human->reply : "human";
	} else if (m.escalate) {
		out->rule = m.escalate->id;
		enum priority pr = m.escalate->priority != PRIO_NONE ? m.escalate->priority : PRIO_NORMAL;
		if (s.negative && pr > PRIO_HIGH)
			pr = PRIO_HIGH;
		escalate(e, out, "rule", pr, now);
		base = m.escalate->reply ? m.escalate->reply : (s.negative ? "negative" : "escalated");
	} else if (s.abusive) {
		escalate(e, out, "abusive", PRIO_NORMAL, now);
		/* No engagement in public; one calm reply in private. */
		base = p->is_public ? NULL : "abusive";
	} else if (s.negative) {
		escalate(e, out, "negative", PRIO_HIGH, now);
		base = "negative";
		/* The middle ground: an FAQ question from a customer who is
		 * unhappy, but not strongly so, gets the answer's facts with an
		 * apology in front (the answer's `.negative` variant, when the
		 * replies have one) and is handed to a person all the same. */
		if (m.answer && !s.strong && replies_has_variant(e->replies, m.answer->reply, "negative")) {
			out->rule = m.answer->id;
			base = m.answer->reply;
		}
	} else if (m.answer) {
		out->action = ACTION_ANSWER;
		out->rule = m.answer->id;
		base = m.answer->reply;
		enum hours_day why = closed_day_named(e, now, out);
		if (why != HOURS_DAY_OPEN)
			base = answer_closed_day(e, base, why, now, closed_key, sizeof(closed_key), out);
	} else if (m.ack) {
		out->rule = m.ack->id;
		if (ts->last_ack && now - ts->last_ack < e->cfg->cooldown) {
			out->ignored = "cooldown";
			return 0;
		}
		out->action = ACTION_ACK;
		base = m.ack->reply;
	} else {
		escalate(e, out, "unmatched", PRIO_NORMAL, now);
		base = "escalated";
	}

	out->is_private = reply_private(p, ts, out);
	out->by_examples = learned && out->rule == learned->id;
	if (!base)
		return 0;
	return render(e, p, ts, base, now, out);
}

void decision_json(const struct engine *e, const struct decision *d, const char *id, struct buf *out)
{
	json_t *o = json_object();
	char due[48];

	json_object_set_new(o, "id", id ? json_string(id) : json_null());
	json_object_set_new(o, "action", json_string(action_name(d->action)));
	json_object_set_new(o, "rule", d->rule ? json_string(d->rule) : json_null());
	json_object_set_new(o, "priority",
	                    d->priority != PRIO_NONE ? json_string(priority_name(d->priority)) : json_null());
	json_object_set_new(o, "negative", json_boolean(d->negative));
	json_object_set_new(o, "sentiment", json_real(round(d->sentiment * 1000.0) / 1000.0));
	json_object_set_new(o, "abusive", json_boolean(d->abusive));
	json_object_set_new(o, "reason", d->reason ? json_string(d->reason) : json_null());
	json_object_set_new(o, "open", json_boolean(d->open));
	if (d->due) {
		hours_iso_local(e->cfg->hours, d->due, due, sizeof(due));
		json_object_set_new(o, "due", json_string(due));
	} else {
		json_object_set_new(o, "due", json_null());
	}
	json_object_set_new(o, "reply", d->reply ? json_string(d->reply) : json_null());
	if (d->closed_day >= 0) {
		long y;
		int m, dd;
		char day[16];
		hours_date_parts(d->closed_day, &y, &m, &dd);
		snprintf(day, sizeof(day), "%04ld-%02d-%02d", y, m, dd);
		json_object_set_new(o, "closed_day", json_string(day));
	} else {
		json_object_set_new(o, "closed_day", json_null());
	}
	json_object_set_new(o, "reply_key", d->reply_key ? json_string(d->reply_key) : json_null());
	json_object_set_new(o, "private", json_boolean(d->is_private));
	json_object_set_new(o, "pointer", d->pointer ? json_string(d->pointer) : json_null());
	json_object_set_new(o, "ignored", d->ignored ? json_string(d->ignored) : json_null());
	json_object_set_new(o, "intent", d->intent ? json_string(d->intent) : json_null());
	json_object_set_new(o, "confidence",
	                    d->intent ? json_real(round(d->confidence * 1000.0) / 1000.0) : json_null());
	if (d->take_over)
		json_object_set_new(o, "take_over", json_true());
	if (d->rating > 0)
		json_object_set_new(o, "rating", json_integer(d->rating));
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (s) {
		buf_puts(out, s);
		free(s);
	}
	json_decref(o);
}
