/*
 * telegram_wire.h - what the Telegram Bot API sends and what the connector
 * sends it, as pure functions (no I/O, no loop): the answer envelope and
 * its errors, getMe, getUpdates and the messages in it (who wrote, to whom,
 * in which conversation, whether the bot was addressed), business
 * connections, the JSON of getUpdates, sendMessage and the look-up of a
 * reply of ours, replies cut to Telegram's 4,096 characters, and the keys
 * the store knows conversations and messages by.  PLATFORMS.md, section
 * Telegram, lists the facts they follow.  Kept apart from the connector's
 * running state so unit tests and the fuzz target reach every parser.
 *
 * Conversations (thread keys) and message ids (post ids):
 *   private chat or group      "<chat>"             "<chat>:<message>"
 *   forum topic of a group     "<chat>/<topic>"     "<chat>:<message>"
 *   Telegram Business chat     "b/<conn>/<chat>"    "b/<conn>/<chat>:<message>"
 * Chat ids are signed 64-bit numbers (groups negative, supergroups -100...);
 * a message id is unique within its chat (private chats and basic groups:
 * within the bot's own messages; Business chats: the owner's), so the pair
 * is the platform's message identity the store dedupes on.  A business
 * connection id is kept only when it is 1..TG_MAX_CONN of [A-Za-z0-9_-].
 *
 * Limits: a message's text is cut to POST_MAX_TEXT bytes at a character
 * boundary; names to TG_MAX_NAME bytes; at most TG_MAX_UPDATES updates per
 * answer are read; anything malformed is refused with a reason (TG_BAD),
 * never guessed.
 *
 * Ownership: a struct tg_update owns its `text` (tg_update_free); arrays
 * and strings handed out are malloc'd and freed by the caller.  Strings
 * passed in are borrowed.
 */
#ifndef FD_TELEGRAM_WIRE_H
#define FD_TELEGRAM_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TG_MAX_TEXT    4096 /* characters in a message (UTF-16 code units, as Telegram counts) */
#define TG_MAX_CONN    128  /* business connection id */
#define TG_MAX_NAME    128  /* display names, usernames (bytes) */
#define TG_MAX_UPDATES 1000 /* updates read from one answer (Telegram sends at most 100) */
#define TG_MAX_DESC    200  /* an error's description, as kept (bytes) */
#define TG_MAX_KEY     (TG_MAX_CONN + 64)
#define TG_ALLOWED     "[\"message\",\"business_connection\",\"business_message\"]"

/* --- the answer envelope ----------------------------------------------------------- */

/* {"ok":false,"error_code":N,"description":"...","parameters":{...}} */
struct tg_error {
	int code; /* error_code (as the HTTP status), 0 unknown */
	char description[TG_MAX_DESC + 1];
	long retry_after;   /* parameters.retry_after (429), 0 none */
	int64_t migrate_to; /* parameters.migrate_to_chat_id, 0 none */
};

/* 0 when body is an error answer (e filled), -1 otherwise (e zeroed). */
int tg_parse_error(const char *body, size_t len, struct tg_error *e);

/* What a sendMessage (or any send) refusal means for the reply. */
enum tg_refusal {
	TG_REFUSED_FINAL = 0, /* will never work: 403 blocked / can't initiate / kicked,
	                         400 chat not found, too long, ... */
	TG_REFUSED_LIMIT,     /* 429: wait retry_after */
	TG_REFUSED_MIGRATED,  /* 400 with migrate_to_chat_id: send there */
	TG_REFUSED_NO_REPLY,  /* 400 "message to be replied not found": send without the reply */
	TG_REFUSED_NO_TOPIC,  /* 400 "message thread not found": the topic is gone */
	TG_REFUSED_TOKEN,     /* 401 (or 404 for the whole bot): the token is refused */
	TG_REFUSED_RETRY      /* 5xx, 409 ...: try again later */
};
enum tg_refusal tg_refusal(long status, const struct tg_error *e);

/* --- getMe, business connections ----------------------------------------------------------- */

struct tg_me {
	int64_t id;
	char username[TG_MAX_NAME + 1]; /* without '@' */
	char name[TG_MAX_NAME + 1];
	int can_connect_to_business;
};
/* 0 (me filled) or -1 with the reason in err. */
int tg_parse_me(const char *body, size_t len, struct tg_me *me, char *err, size_t errn);

struct tg_connection {
	char id[TG_MAX_CONN + 1];
	int64_t user_id; /* the business account's owner */
	int64_t user_chat_id;
	char name[TG_MAX_NAME + 1]; /* the owner's display name */
	int enabled;
	int can_reply;
};

/* --- updates ------------------------------------------------------------------------------ */

enum tg_kind {
	TG_SKIP = 0,   /* nothing to do (why says what it was) */
	TG_POST,       /* a customer's message for the pipeline */
	TG_STAFF,      /* a Telegram Business owner wrote in a customer's chat: a person took over */
	TG_CONNECTION, /* business_connection: conn */
	TG_MIGRATE,    /* a group became a supergroup: chat_id -> migrate_to */
	TG_BAD         /* malformed (why says what) */
};

struct tg_update {
	int64_t update_id;
	enum tg_kind kind;
	const char *why; /* static: "message", "edited", "bot", "not_addressed", "service", ... */
	/* The message, when the update has one (also for TG_SKIP: the
	 * connector learns message ids from every message it sees). */
	int64_t chat_id;
	char chat_type; /* 'p' private, 'g' group, 's' supergroup, 'c' channel, 0 none */
	int64_t topic;  /* forum topic (message_thread_id of a topic message), 0 none */
	int64_t message_id;
	int64_t from_id;
	char conn[TG_MAX_CONN + 1];   /* business_connection_id, "" none */
	char handle[TG_MAX_NAME + 2]; /* "@username", or the id when there is none */
	char name[TG_MAX_NAME + 1];   /* first and last name */
	char *text;                   /* the customer's words, plain UTF-8 (malloc'd), or NULL */
	time_t date;
	int64_t migrate_to;
	struct tg_connection connection; /* TG_CONNECTION */
};

void tg_update_free(struct tg_update *u);

/*
 * A getUpdates answer: every update in it, in order, each with its kind
 * (*out, n updates, freed with tg_update_free each and free()), and the
 * largest update_id in *max_id (0 when none).  me is the bot (its id and
 * username decide whether a group message addresses it).  Returns n, or
 * -1 with the reason in err when the body is not an answer with a list.
 *
 * Which messages are for the pipeline (TG_POST):
 *   - private chats: every message with words, from a person;
 *   - groups and supergroups: a message that addresses the bot: a command
 *     (/help or /help@thisbot, not /help@otherbot), a mention of
 *     @thisbot, a reply to one of the bot's messages; the mention and the
 *     command's @thisbot are taken out of the text;
 *   - Business chats (business_message): the customer's messages;
 *     the owner's own messages (from someone other than the customer) are
 *     TG_STAFF; those sent by any bot for the owner (sender_business_bot)
 *     are skipped.
 * "/start" alone (what Telegram sends when someone opens the chat) reads
 * as "hello"; other commands read as their words ("/opening_hours" ->
 * "opening hours").  Photos, voice messages, videos, files, locations and
 * contacts without a caption read as "(photo)" and the like, so a person
 * sees them in the queue; stickers, games, polls and service messages are
 * skipped.  Never TG_POST: edits (edited_message, edited_business_message),
 * channel posts, bots, messages from a chat rather than a person
 * (sender_chat: anonymous admins, linked channels), automatic forwards.
 */
long tg_parse_updates(const char *body, size_t len, const struct tg_me *me, struct tg_update **out,
                      int64_t *max_id, char *err, size_t errn);

/* One Update object's JSON (for tests and the fuzz target); u zeroed first.
 * Returns u->kind. */
enum tg_kind tg_parse_update(const char *json, size_t len, const struct tg_me *me, struct tg_update *u);

/* A sent message (sendMessage's result): its message_id and chat id.
 * 0 or -1. */
int tg_parse_sent(const char *body, size_t len, int64_t *message_id, int64_t *chat_id);

/* --- requests -------------------------------------------------------------------------------- */

/* getUpdates: offset (0: none), limit, timeout (s) and allowed_updates, always
 * sent (Telegram keeps the last list given: omitting it keeps it). */
char *tg_updates_json(int64_t offset, int limit, int timeout);

struct tg_send {
	int64_t chat_id;
	int64_t topic;      /* message_thread_id, 0 none */
	const char *conn;   /* business_connection_id, NULL or "" none */
	int64_t reply_to;   /* reply_parameters.message_id, 0 none */
	int64_t reply_chat; /* reply_parameters.chat_id (the message is in another chat), 0 same */
	const char *text;   /* plain text: no parse_mode */
};
/* The sendMessage body (malloc'd), or NULL when the text is not UTF-8. */
char *tg_send_json(const struct tg_send *s);

/*
 * Looking for a reply of ours whose outcome is unknown: editMessageReplyMarkup
 * on message `id` of `chat` with no markup changes nothing and answers
 * "message is not modified" only for a message the bot sent (and, in a
 * Business chat, one the owner sent); "can't be edited" for someone else's,
 * "not found" when the chat has no such message.
 */
char *tg_probe_json(int64_t chat_id, int64_t message_id, const char *conn);
enum tg_probe { TG_PROBE_OURS = 0, TG_PROBE_NOT_OURS, TG_PROBE_RETRY };
enum tg_probe tg_probe_result(long status, const char *body, size_t len);

/* --- texts and keys ---------------------------------------------------------------------- */

/* Length as Telegram counts it: UTF-16 code units (invalid bytes count one each). */
size_t tg_text_len(const char *s);
/*
 * Cut a reply into messages of at most `max` UTF-16 code units (TG_MAX_TEXT
 * when 0), at white space where it can (outbox_split), at most max_parts
 * (the last one ends with "…" when text was dropped).  Returns the number
 * of parts (each malloc'd), 0 for empty text.
 */
size_t tg_split(const char *text, size_t max, char **parts, size_t max_parts);

/* "<chat>", "<chat>/<topic>", "b/<conn>/<chat>" into out; -1 when it does not fit. */
int tg_thread_key(char *out, size_t n, int64_t chat, int64_t topic, const char *conn);
/* The parts of a thread key (conn "" when none); 0 or -1. */
int tg_thread_parse(const char *key, int64_t *chat, int64_t *topic, char *conn, size_t connn);
/* "<chat>:<message>" or "b/<conn>/<chat>:<message>"; -1 when it does not fit. */
int tg_post_key(char *out, size_t n, int64_t chat, int64_t message, const char *conn);
/* The parts of a post key; 0 or -1. */
int tg_post_parse(const char *key, int64_t *chat, int64_t *message, char *conn, size_t connn);
/* 1 when s is a usable business connection id. */
int tg_conn_ok(const char *s);
/* 1 when chat ids of this kind number their messages per chat (supergroups
 * and channels, -100...), 0 when they share the bot's own numbering
 * (private chats, basic groups). */
int tg_chat_own_numbering(int64_t chat_id);

#endif
