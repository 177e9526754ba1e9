/*
 * discord_wire.h - what the Discord gateway (v10, JSON encoding) and REST API
 * send and what the connector sends back, as plain functions: parse a
 * gateway frame, a message object, a page of messages; build IDENTIFY,
 * RESUME, heartbeats and reply bodies; say what a close code means.
 * PLATFORMS.md, section Discord, is the reference; discord.h is the
 * connector that uses these.
 *
 * Nothing here does I/O or keeps state: the connector, the unit tests and
 * the fuzz target call the same code.
 *
 * Ids are snowflakes: decimal strings of up to 20 digits (64-bit), kept as
 * strings and compared as numbers (discord_id_cmp), never as doubles.
 *
 * Limits: a frame is parsed only up to what the connector's WebSocket
 * client let through (DISCORD_MAX_FRAME); text is cut to POST_MAX_TEXT
 * bytes at a character boundary; display names to 256 bytes; a frame with
 * an unreadable shape is refused with a reason, never half-used.
 *
 * Ownership: parse results own their allocations; free them with the
 * matching *_free.  Strings returned by builders are malloc'd (free them).
 */
#ifndef FD_DISCORD_WIRE_H
#define FD_DISCORD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;

#define DISCORD_MAX_ID      20   /* digits of a 64-bit snowflake */
#define DISCORD_MAX_CHARS   2000 /* characters of one message */
#define DISCORD_MAX_FRAME   (4u * 1024u * 1024u)
#define DISCORD_MAX_SEND    4096            /* bytes of one frame we send (else close 4002) */
#define DISCORD_NONCE_MAX   25              /* characters of a message nonce */
#define DISCORD_SESSION_MAX 128             /* session id */
#define DISCORD_URL_MAX     512             /* gateway and resume URLs */
#define DISCORD_NAME_MAX    256             /* bytes of a display name */
#define DISCORD_EPOCH_MS    1420070400000LL /* the first second of 2015, snowflake time 0 */
#define DISCORD_MAX_PARTS   16              /* messages one reply may become */

/* Intents (IDENTIFY): GUILDS (channels and threads with their last message,
 * for catch-up), GUILD_MESSAGES, DIRECT_MESSAGES, and the privileged
 * MESSAGE_CONTENT, without which guild messages arrive with empty content. */
#define DISCORD_INTENT_GUILDS          (1L << 0)
#define DISCORD_INTENT_GUILD_MESSAGES  (1L << 9)
#define DISCORD_INTENT_DIRECT_MESSAGES (1L << 12)
#define DISCORD_INTENT_MESSAGE_CONTENT (1L << 15)
#define DISCORD_INTENTS                                                                                      \
	(DISCORD_INTENT_GUILDS | DISCORD_INTENT_GUILD_MESSAGES | DISCORD_INTENT_DIRECT_MESSAGES |            \
	 DISCORD_INTENT_MESSAGE_CONTENT)

enum discord_op {
	DISCORD_OP_DISPATCH = 0,
	DISCORD_OP_HEARTBEAT = 1,
	DISCORD_OP_IDENTIFY = 2,
	DISCORD_OP_RESUME = 6,
	DISCORD_OP_RECONNECT = 7,
	DISCORD_OP_INVALID_SESSION = 9,
	DISCORD_OP_HELLO = 10,
	DISCORD_OP_HEARTBEAT_ACK = 11
};

/* --- snowflakes ------------------------------------------------------------ */

/* 1 when s is 1..20 decimal digits without a leading zero (or "0"). */
int discord_id_ok(const char *s);
/* Numeric order of two valid ids: <0, 0, >0. */
int discord_id_cmp(const char *a, const char *b);
/* The smallest id made at epoch_ms (for `after=` from a time); "0" before 2015. */
void discord_id_at(int64_t epoch_ms, char out[DISCORD_MAX_ID + 1]);
/* When an id was made (epoch ms), 0 for an invalid id. */
int64_t discord_id_ms(const char *id);

/* --- messages ----------------------------------------------------------------- */

/* Why a message is not a customer's post. */
enum discord_skip {
	DISCORD_TAKE = 0,     /* a post (author_bot may still be set: the pipeline ignores bots) */
	DISCORD_SKIP_SELF,    /* written by the bot itself */
	DISCORD_SKIP_WEBHOOK, /* posted by a webhook */
	DISCORD_SKIP_TYPE     /* not a default message (0) or a reply (19): joins, pins, ... */
};
const char *discord_skip_name(enum discord_skip s);

struct discord_message {
	char id[DISCORD_MAX_ID + 1];
	char channel_id[DISCORD_MAX_ID + 1];
	char guild_id[DISCORD_MAX_ID + 1]; /* "" in a direct message */
	char author_id[DISCORD_MAX_ID + 1];
	char reply_to[DISCORD_MAX_ID + 1]; /* message_reference.message_id, "" none */
	char nonce[DISCORD_NONCE_MAX + 1]; /* as sent by its author, "" none */
	int type;
	int author_bot;
	enum discord_skip skip;
	time_t created;
	char *username; /* malloc'd author.username ("" when absent) */
	char *name;     /* malloc'd display name: member nick, global_name or username */
	char *content;  /* malloc'd content exactly as sent (to compare with what we sent) */
	char *text;     /* malloc'd plain text for the pipeline: mentions named, custom
	                   emoji as :name:, attachments listed */
};
void discord_message_free(struct discord_message *m);

/*
 * A message object (JSON text), as in MESSAGE_CREATE's d or a REST answer.
 * self_id: the bot's user id (READY), or "" when not known yet.  0 with m
 * filled (free it), -1 with a reason in err (m needs no free).
 */
int discord_parse_message(const char *json, size_t len, const char *self_id, struct discord_message *m,
                          char *err, size_t errn);

/*
 * A page of GET /channels/{id}/messages (a JSON array, newest first as
 * Discord sends it): every message, valid ones sorted oldest first into
 * *items (malloc'd; free each, then the array).  Malformed entries are
 * skipped (counted in *bad).  Returns the number of entries the page had,
 * or -1 with a reason in err.
 */
long discord_parse_page(const char *body, size_t len, const char *self_id, struct discord_message **items,
                        size_t *n, size_t *bad, char *err, size_t errn);

/* --- gateway frames ------------------------------------------------------------- */

/* A channel or thread named in GUILD_CREATE (or a thread in THREAD_CREATE,
 * THREAD_UPDATE, THREAD_LIST_SYNC), with its newest message. */
struct discord_channel {
	char id[DISCORD_MAX_ID + 1];
	char last_message_id[DISCORD_MAX_ID + 1]; /* "" when it has none */
	int is_thread;                            /* a thread (types 10-12): one conversation */
};

/* What one gateway frame says (only what the connector uses). */
struct discord_frame {
	int op;
	long long seq;     /* "s", -1 when absent or null */
	char t[48];        /* dispatch event name, "" otherwise */
	long heartbeat_ms; /* HELLO */
	int resumable;     /* INVALID_SESSION d */
	/* READY */
	char session_id[DISCORD_SESSION_MAX + 1];
	char resume_url[DISCORD_URL_MAX + 1];
	char user_id[DISCORD_MAX_ID + 1];
	char user_name[DISCORD_NAME_MAX + 1];
	size_t guilds; /* guilds READY announces (each gets a GUILD_CREATE) */
	/* GUILD_CREATE; THREAD_CREATE, THREAD_UPDATE, THREAD_LIST_SYNC */
	char guild_id[DISCORD_MAX_ID + 1];
	struct discord_channel *channels; /* malloc'd: channels and active threads */
	size_t nchannels;
	/* MESSAGE_CREATE */
	int has_message;
	struct discord_message message;
};
void discord_frame_free(struct discord_frame *f);

/*
 * One gateway frame.  0 with f filled (free it; unknown ops and events are
 * fine: the caller looks at op and t), -1 with a reason in err when the
 * frame is not a gateway payload or a known event has a broken shape (a
 * MESSAGE_CREATE that cannot be read sets f->seq when it could be, so the
 * sequence still advances; the reason says which message).
 */
int discord_parse_frame(const char *data, size_t len, const char *self_id, struct discord_frame *f, char *err,
                        size_t errn);

/* --- what we send ------------------------------------------------------------------ */

/* {"op":1,"d":seq|null} (seq < 0: null) into out (replacing its content). */
void discord_heartbeat_json(long long seq, struct buf *out);
/* IDENTIFY with the token, intents and properties. */
void discord_identify_json(const char *token, long intents, struct buf *out);
/* RESUME with the session and the last sequence. */
void discord_resume_json(const char *token, const char *session_id, long long seq, struct buf *out);

/*
 * The body of POST /channels/{id}/messages: content, a reply to reply_to
 * (NULL or "": none) with fail_if_not_exists false, allowed_mentions
 * {parse: []} (nobody is pinged by the text), nonce with enforce_nonce.
 * NULL when the content is not valid UTF-8 (it never will be).
 */
char *discord_reply_json(const char *content, const char *reply_to, const char *nonce);

/*
 * A nonce of at most DISCORD_NONCE_MAX characters for part `part` of a
 * reply whose idempotency key is idem: the key itself for part 0, "key-N"
 * after; a key too long or with other characters than [A-Za-z0-9_-] is
 * replaced by a hash of it (stable).
 */
void discord_nonce(const char *idem, size_t part, char out[DISCORD_NONCE_MAX + 1]);

/*
 * A reply's text as messages: customer markup made inert for Discord
 * (markup.h: no link with a hidden target, no mention), then cut into
 * parts of at most DISCORD_MAX_CHARS characters each (code points, the
 * unit Discord counts).  parts[i] are malloc'd; returns how many (0 for an
 * empty text); the last part ends with "…" when more than max_parts were
 * needed.
 */
size_t discord_build_parts(const char *text, char **parts, size_t max_parts);

/* Code points of s (invalid bytes count one each). */
size_t discord_chars(const char *s);

/* --- the gateway's closing words -------------------------------------------------- */

enum discord_close {
	DISCORD_CLOSE_RESUME = 0,  /* reconnect and RESUME the session */
	DISCORD_CLOSE_NEW_SESSION, /* reconnect with a new session (IDENTIFY) */
	DISCORD_CLOSE_FATAL        /* a person must act (token, intents, sharding): say what */
};

/*
 * What a close code from the gateway means (PLATFORMS.md): 4004 and
 * 4010-4014 are fatal with a sentence for the log and /healthz in detail;
 * 4007 and 4009 need a new session; everything else (4000-4003, 4005,
 * 4008, 1000/1001 from the server, a dropped socket) resumes.
 */
enum discord_close discord_close_code(int code, char *detail, size_t n);

/*
 * The URL to connect to from a gateway or resume URL the API named:
 * wss:// (ws:// only on a loopback address), with "/?v=10&encoding=json"
 * (an existing query is replaced).  0, or -1 when the URL is unusable.
 */
int discord_gateway_url(const char *base, char *out, size_t n);

#endif
