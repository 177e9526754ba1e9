/*
 * slack_wire.h - what the Slack connector reads and writes, without any I/O
 * (PLATFORMS.md, "Slack (Socket Mode)"): Socket Mode frames and the Events
 * API envelopes inside them, message events, mrkdwn turned into plain text,
 * reply text made inert and cut to Slack's length, Web API answers, and the
 * search of a conversation's history for a reply we may already have sent.
 * Kept apart from slack.c so unit tests and the fuzz target reach every
 * parser directly.
 *
 * Ids: channel, user, bot, team, event and envelope ids are short ASCII
 * strings (SLACK_MAX_ID); a message's `ts` is a string id
 * ("1355517523.000005"), compared and stored as text, never as a number: a
 * `ts` that arrives as a JSON number is refused.
 *
 * Ownership: parse functions fill caller-owned structs; text members marked
 * malloc'd are freed with slack_frame_free.  Functions that return
 * allocated memory say so.  Nothing keeps a pointer to its arguments.
 *
 * Errors: a frame that is not what Socket Mode sends is SLACK_FRAME_BAD
 * with a reason in err (never customer text); a message that is not a
 * question for the bot (an edit, a join, a bot) is parsed and marked with
 * why it is skipped.
 */
#ifndef FD_SLACK_WIRE_H
#define FD_SLACK_WIRE_H

#include <stddef.h>
#include <time.h>

#define SLACK_MAX_ID        64                /* channel, user, bot, team, event, envelope ids */
#define SLACK_MAX_TS        32                /* "1355517523.000005" */
#define SLACK_MAX_CHARS     4000              /* characters per message we send */
#define SLACK_MAX_FRAME     (1024u * 1024u)   /* one Socket Mode message */
#define SLACK_MAX_PARTS     16                /* messages one outbox row may become */
#define SLACK_MAX_NAME      256               /* bytes of a display name we keep */
#define SLACK_METADATA_TYPE "frontdesk_reply" /* message metadata event_type of our replies */
#define SLACK_POST_ID_MAX   (SLACK_MAX_ID + 1 + SLACK_MAX_TS) /* "<channel>:<ts>" */

/* 1 when s is a usable Slack id (letters, digits, '_' or '-', 1..SLACK_MAX_ID). */
int slack_id_ok(const char *s);
/* 1 when s is a message ts: digits, one '.', digits (at most SLACK_MAX_TS). */
int slack_ts_ok(const char *s);
/* Compare two ts strings as the decimals they are: <0, 0, >0. */
int slack_ts_cmp(const char *a, const char *b);

/* A message event (type "message" or "app_mention"). */
struct slack_event {
	char event_id[SLACK_MAX_ID + 1];
	char type[24];    /* "message", "app_mention" */
	char subtype[40]; /* "" when none */
	char channel[SLACK_MAX_ID + 1];
	char channel_type[16]; /* "channel", "group", "im", "mpim"; "" when absent */
	char user[SLACK_MAX_ID + 1];
	char bot_id[SLACK_MAX_ID + 1];
	char ts[SLACK_MAX_TS + 1];
	char thread_ts[SLACK_MAX_TS + 1]; /* "" when not in a thread */
	char *text;                       /* plain text (malloc'd; "" when none) */
	char *author_name;                /* user_profile display or real name (malloc'd), or NULL */
	int is_im;                        /* a direct message (channel_type im, or a D… channel) */
	/* NULL: a question to hand to the daemon.  Otherwise why it is not:
	 * "subtype" (an edit, a join, a bot_message...), "bot" (bot_id,
	 * bot_profile or app_id set, or Slackbot), "self" (our own user),
	 * "no user". */
	const char *skip;
	time_t created;
};

enum slack_frame_kind {
	SLACK_FRAME_BAD = -1,   /* not JSON, or not the shape Socket Mode sends (err set) */
	SLACK_FRAME_OTHER = 0,  /* a frame we do not use (ignored) */
	SLACK_FRAME_HELLO,      /* {"type":"hello"} */
	SLACK_FRAME_DISCONNECT, /* {"type":"disconnect","reason":...} */
	SLACK_FRAME_ENVELOPE    /* anything with an envelope_id: to be acknowledged */
};

struct slack_frame {
	enum slack_frame_kind kind;
	/* hello */
	long num_connections;   /* -1 when absent */
	long connection_time_s; /* debug_info.approximate_connection_time, -1 when absent */
	/* disconnect */
	char reason[64]; /* "warning", "refresh_requested", "link_disabled", "too_many_websockets" ... */
	/* envelope */
	char envelope_id[SLACK_MAX_ID + 1];
	char envelope_type[32]; /* "events_api", "interactive", "slash_commands" ... */
	int retry_attempt;
	char retry_reason[48];
	char event_id[SLACK_MAX_ID + 1]; /* events_api: payload.event_id, "" when none */
	int has_message;                 /* events_api carrying a message or app_mention event */
	struct slack_event msg;
};

/*
 * Parse one Socket Mode message.  self_user is the bot's own user id (its
 * mention is dropped from the text, and its messages are marked "self"),
 * or NULL before it is known.  Returns f->kind; f is always initialised
 * (free with slack_frame_free).  An envelope whose event is malformed is
 * still SLACK_FRAME_ENVELOPE (it must be acknowledged) with has_message 0
 * and the reason in err.
 */
enum slack_frame_kind slack_parse_frame(const char *data, size_t len, const char *self_user,
                                        struct slack_frame *f, char *err, size_t errn);
void slack_frame_free(struct slack_frame *f);

/*
 * mrkdwn as Slack delivers it to plain text, as a person reads it:
 * &amp; &lt; &gt; decoded, <@U…|name> and <@U…> as "@name" / "@U…" (the
 * bot's own mention, self_user, dropped), <#C…|general> as "#general",
 * <!here> as "@here", <!subteam^S…|@team> as "@team", <!date^…|fallback>
 * as its fallback, <url|label> as "label (url)" (a label that only repeats
 * the address is not doubled), <url> and <mailto:…> as the address.
 * Other text is kept as it is; leading and trailing white space is
 * dropped.  At most max bytes, cut at a character boundary (max 0: no
 * limit).  Returns malloc'd text.
 */
char *slack_mrkdwn_to_text(const char *s, size_t len, const char *self_user, size_t max);

/* The conversation of a message event (DESIGN.md: a Slack thread or DM):
 * "<channel>:<thread root ts>" in a channel (a message that starts no
 * thread is the root of its own), "<channel>" for a direct message, or
 * "<channel>:<thread ts>" for a thread inside one. */
void slack_thread_key(const struct slack_event *e, char *out, size_t n);
/* The post id, as the log names it: "<channel>:<ts>". */
void slack_post_id(const struct slack_event *e, char *out, size_t n);
/*
 * Where a reply to a conversation goes: its channel and, when the
 * conversation is a thread, the thread_ts to post under ("" otherwise).
 * 0, or -1 when key is not one of ours.
 */
int slack_thread_parse(const char *key, char channel[SLACK_MAX_ID + 1], char thread_ts[SLACK_MAX_TS + 1]);
/* 1 when a channel id names a direct message (Slack's "D…" ids). */
int slack_channel_is_im(const char *channel);

/*
 * Reply text as it goes to chat.postMessage: made inert for Slack
 * (markup.h, MARKUP_SLACK: & < > escaped, mentions broken) and cut into
 * parts of at most max_chars characters each *after* escaping (an escape
 * never straddles two parts).  At most max_parts parts (the last ends
 * with "…" when text had to be dropped).  Returns the number of parts
 * (0 for empty text); each parts[i] is malloc'd.
 */
size_t slack_build_parts(const char *text, size_t max_chars, char **parts, size_t max_parts);
/* Characters (code points) in a UTF-8 string, as Slack counts them. */
size_t slack_chars(const char *s);

/*
 * A Web API answer: 1 for {"ok":true}, 0 for {"ok":false} with its error
 * code in error ("ratelimited", "channel_not_found"...), -1 when the body
 * is not such an object ("not JSON" in error).
 */
int slack_api_ok(const char *body, size_t len, char *error, size_t errn);

/* What an ok:false error means for a request (slack_error_class). */
enum slack_error_class {
	SLACK_ERR_FINAL = 0, /* the request will never work (channel_not_found, not_in_channel...) */
	SLACK_ERR_AUTH,      /* a person must act on the token or the app (invalid_auth, missing_scope...) */
	SLACK_ERR_RATE,      /* ratelimited: wait for Retry-After */
	SLACK_ERR_RETRY,     /* Slack's own trouble: retry later (service_unavailable, request_timeout) */
	SLACK_ERR_UNKNOWN    /* like RETRY, but the request may have taken effect (internal_error,
	                        fatal_error): look before doing it again */
};
enum slack_error_class slack_error_class(const char *error);

/*
 * Look through a conversations.history / conversations.replies answer for
 * part `part` of our reply carrying `key` in its message metadata
 * (event_type SLACK_METADATA_TYPE, event_payload {"key": key, "part":
 * part}; a missing part counts as 0), posted by bot_id when bot_id is
 * given.  1 found (its ts in ts), 0 not on this page (cursor holds the
 * next page's cursor, "" when this was the last), -1 ok:false or not JSON
 * (the error code in err).
 */
int slack_history_find(const char *body, size_t len, const char *key, int part, const char *bot_id, char *ts,
                       size_t tsn, char *cursor, size_t cursorn, char *err, size_t errn);

#endif
