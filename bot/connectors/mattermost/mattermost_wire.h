/*
 * mattermost_wire.h - what a Mattermost server sends and what the
 * connector sends it, as pure functions (no I/O, no loop): the WebSocket
 * events, the post JSON inside them (parsed a second time), REST post
 * lists and channel lists, error bodies, and the JSON of a new post.
 * PLATFORMS.md, section Mattermost, lists the facts they follow.  Kept
 * apart from the connector's running state so unit tests and the fuzz
 * target reach every parser directly.
 *
 * Limits: ids are at most MM_MAX_ID bytes of [A-Za-z0-9_-] (real ones are
 * 26); a post's text is cut to POST_MAX_TEXT bytes after its Markdown is
 * made plain; anything malformed is refused with a reason, never guessed.
 *
 * Ownership: a struct mm_post owns its `text` (mm_post_free); arrays
 * handed out are malloc'd and freed by the caller as each function says.
 * Strings passed in are borrowed.
 */
#ifndef FD_MATTERMOST_WIRE_H
#define FD_MATTERMOST_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define MM_MAX_ID        64
#define MM_MAX_NAME      128                  /* sender names, channel names */
#define MM_MAX_TYPE      64                   /* post types ("", "system_join_channel", ...) */
#define MM_MAX_POST      16383                /* characters in a post, unless the server says otherwise */
#define MM_KEY_PROP      "frontdesk_key"      /* post prop: the outbox key of a reply we sent */
#define MM_REPLY_TO_PROP "frontdesk_reply_to" /* post prop: the post a reply answers */
#define MM_PENDING_BUSY  "api.post.deduplicate_create_post.pending"

/* 1 when s is a plausible Mattermost id: 1..MM_MAX_ID of [A-Za-z0-9_-]. */
int mm_id_ok(const char *s);

/* One post, as a posted event or a REST list carries it. */
struct mm_post {
	char id[MM_MAX_ID + 1];
	char channel_id[MM_MAX_ID + 1];
	char user_id[MM_MAX_ID + 1];
	char root_id[MM_MAX_ID + 1];             /* "" at the top level */
	char type[MM_MAX_TYPE + 1];              /* "" for a normal post, system_* ... */
	char key[MM_MAX_ID + 1];                 /* props.frontdesk_key, "" when absent */
	int from_bot;                            /* props.from_bot == "true" (a string) */
	int from_webhook;                        /* props.from_webhook == "true" */
	int64_t create_at, update_at, delete_at; /* epoch ms */
	char *text;                              /* malloc'd plain text of `message` */
};

void mm_post_free(struct mm_post *p);

/* 1 when a post is a question for the bot: a normal post (type ""), not
 * deleted, not its own (self_id), not from a bot or a webhook. */
int mm_post_is_customer(const struct mm_post *p, const char *self_id);

enum mm_event_kind {
	MM_EV_HELLO = 0, /* connection_id, server_version */
	MM_EV_POSTED,    /* post and its channel */
	MM_EV_REPLY,     /* {"status","seq_reply"}: an answer to an action of ours */
	MM_EV_OTHER,     /* any other event (typing, status_change, post_edited ...) */
	MM_EV_BAD        /* malformed: err says why */
};

struct mm_event {
	enum mm_event_kind kind;
	int64_t seq;    /* the event's seq, -1 when absent (replies) */
	char event[64]; /* event name, "" for replies */
	char connection_id[MM_MAX_ID + 1];
	char server_version[64];
	/* posted */
	struct mm_post post;
	char channel_type;                 /* 'O', 'P', 'D', 'G' */
	char sender_name[MM_MAX_NAME + 1]; /* "@amy" -> "amy"; "" when absent */
	char channel_name[MM_MAX_NAME + 1];
	int mentioned; /* data.mentions (a JSON string) names self */
	/* reply */
	int status_ok;
	int64_t seq_reply;
};

/*
 * One WebSocket message.  For MM_EV_POSTED, ev->post is filled (free it
 * with mm_event_free); `self_id` ("" when not known yet) decides
 * ev->mentioned.  The post JSON is a string inside the event and is parsed
 * a second time, and so is `mentions`.  A posted event whose post is
 * malformed is MM_EV_BAD (its seq is still set when the frame had one).
 */
enum mm_event_kind mm_parse_event(const char *json, size_t len, const char *self_id, struct mm_event *ev,
                                  char *err, size_t errn);
void mm_event_free(struct mm_event *ev);

/*
 * A REST post list {"order":[...],"posts":{id:post}} (channel posts since,
 * a thread): every post of `posts`, sorted by create_at then id (oldest
 * first), into *items (malloc'd; free each with mm_post_free, then the
 * array).  Returns how many, or -1 with a reason in err.  Malformed posts
 * inside are skipped (counted in *skipped when not NULL).
 */
long mm_parse_post_list(const char *body, size_t len, struct mm_post **items, size_t *skipped, char *err,
                        size_t errn);

/* A channel the bot belongs to (GET /users/{id}/channels). */
struct mm_channel {
	char id[MM_MAX_ID + 1];
	char type;            /* 'O', 'P', 'D', 'G' */
	int64_t last_post_at; /* ms, 0 when absent */
};

/* A channel list (JSON array): malloc'd array into *items; count or -1. */
long mm_parse_channels(const char *body, size_t len, struct mm_channel **items, char *err, size_t errn);

/* The `id` of a JSON object (a user, a channel, a created post) into out.
 * 0, or -1 when the body is not such an object. */
int mm_parse_id(const char *body, size_t len, char *out, size_t n);

/* The `id` of an error body {"id","message",...} into out (e.g.
 * MM_PENDING_BUSY).  0, or -1 when the body is not JSON (a 429 says
 * "limit exceeded" in plain text). */
int mm_error_id(const char *body, size_t len, char *out, size_t n);

/* MaxPostSize from GET /api/v4/config/client?format=old (a string), or 0
 * when absent or unusable. */
size_t mm_max_post_size(const char *body, size_t len);

/*
 * The JSON of POST /api/v4/posts: channel_id, message, root_id (omitted
 * when empty), pending_post_id and props {MM_KEY_PROP: key,
 * MM_REPLY_TO_PROP: reply_to (omitted when not an id)}: the key finds a
 * reply again after an unknown outcome, reply_to tells which post it
 * answers (a private answer lives in another channel).  malloc'd, or NULL
 * when the message is not valid UTF-8.
 */
char *mm_post_json(const char *channel_id, const char *root_id, const char *message, const char *pending_id,
                   const char *key, const char *reply_to);

/*
 * Thread keys: a channel thread is "c:<channel>:<root post>", a direct
 * message conversation "d:<channel>".  mm_thread_parse splits one: 0 with
 * channel (and root, "" for a DM), -1 when it is not one of ours.
 */
void mm_thread_key(char *out, size_t n, const char *channel_id, char channel_type, const char *root_id);
int mm_thread_parse(const char *key, char *channel, size_t cn, char *root, size_t rn);

/* The customer's text made inert for Mattermost and cut into posts of at
 * most max_chars characters: parts[i] malloc'd; returns how many. */
size_t mm_build_reply(const char *text, size_t max_chars, char **parts, size_t max_parts);

#endif
