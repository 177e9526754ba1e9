/*
 * bridge_wire.h - the frames of the bridge protocol (DESIGN.md, "Bridge
 * protocol"; docs/bridge-protocol.md is the contract for adapter writers):
 * reading what an adapter sends and writing what the bot sends.  Pure: no
 * I/O, no state, so the unit tests and the fuzz target drive it directly.
 *
 *   adapter -> {"type":"post","id":"..","thread":"..",
 *               "author":{"id":"..","name":"..","bot":false},"private":true,
 *               "text":"plain UTF-8","ts":"ISO-8601"}
 *   bot     -> {"type":"stored","id":"<post id>"}
 *   bot     -> {"type":"reply","id":"<idempotency key>","thread":"..","reply_to":"<post id>",
 *               "private":true,"text":"..","agent":"Sam"?}
 *   adapter -> {"type":"delivered","id":"<idempotency key>"}
 *   adapter -> {"type":"failed","id":"..","retry_after_ms":N?,"error":".."}
 *   bot     -> {"type":"error","error":".."}   (an error about one frame also
 *              carries that frame's "id" when it had a usable one)
 *
 * What a post must hold: `id`, `thread` and `author.id` are strings of 1 to
 * BRIDGE_MAX_ID bytes without control characters (they are store keys and
 * log fields; the id of a `delivered` / `failed` may be BRIDGE_MAX_REPLY_ID); `text` is a string (jansson has
 * checked it is UTF-8 without NUL); `author.name` at most BRIDGE_MAX_NAME bytes (control characters become
 * spaces); `author.bot` and `private` booleans, false when absent; `ts` ISO-8601 when present.  Unknown
 * members are ignored (the protocol may gain fields), a frame that is not one JSON object, has no known
 * `type` or breaks a rule above is refused with a reason for the adapter.
 *
 * Ownership: a parsed frame owns its strings (bridge_frame_free).  The
 * writers append to a caller's buf.
 */
#ifndef FD_BRIDGE_WIRE_H
#define FD_BRIDGE_WIRE_H

#include <stddef.h>
#include <time.h>

#include "util.h"

#define BRIDGE_MAX_FRAME    (64u * 1024u)        /* bytes of one frame, either way */
#define BRIDGE_MAX_ID       512                  /* post ids, threads, author ids */
#define BRIDGE_MAX_REPLY_ID (BRIDGE_MAX_ID + 24) /* a reply's id: an outbox key and a part number */
#define BRIDGE_MAX_NAME     256                  /* author.name, bytes */
#define BRIDGE_MAX_RETRY_MS (24L * 3600 * 1000)  /* a longer retry_after_ms is taken as this */
#define BRIDGE_ERR          200                  /* room for a parse error */

enum bridge_type { BRIDGE_POST = 1, BRIDGE_DELIVERED, BRIDGE_FAILED };

struct bridge_frame {
	enum bridge_type type;
	char *id; /* the post's id, or the reply's idempotency key */
	/* post */
	char *thread, *author_id, *author_name, *text;
	int author_bot, is_private;
	time_t ts; /* 0 when absent */
	/* failed */
	long retry_after_ms; /* -1 when absent */
	char *error;         /* NULL when absent */
};

/*
 * Read one frame (text[len], need not be NUL-terminated).  0 with *f
 * filled (free with bridge_frame_free), or -1 with the reason in err (for
 * the adapter, e.g. "post.thread: a string of 1 to 512 bytes is needed")
 * and, when the frame had a usable "id", a copy of it in f->id (so the
 * error can name it; free with bridge_frame_free too).
 */
int bridge_parse(const char *text, size_t len, struct bridge_frame *f, char *err, size_t errn);
void bridge_frame_free(struct bridge_frame *f);

/* The bot's frames, appended to b. */
void bridge_stored(struct buf *b, const char *post_id);
/* reply_to and agent may be NULL (then left out). */
void bridge_reply(struct buf *b, const char *id, const char *thread, const char *reply_to, int is_private,
                  const char *text, const char *agent);
/* id may be NULL. */
void bridge_error(struct buf *b, const char *error, const char *id);

/*
 * The id of part k (0-based) of a reply cut into n parts: the outbox row's
 * idempotency key itself when n is 1, else "<key>/<k+1>", so that every
 * frame has an id of its own that stays the same when the reply is sent
 * again.  Returns the length, or -1 when it does not fit in out.
 */
int bridge_part_id(char *out, size_t n, const char *key, size_t k, size_t nparts);

#endif
