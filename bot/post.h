/*
 * post.h - the normalized customer post every connector produces and the
 * pipeline consumes (docs/architecture.md, "The path of a message", step 1).
 *
 * Ownership: a struct post only borrows its strings; whoever builds it (a
 * connector, `try`, `replay`) keeps them alive for the duration of the call
 * it is passed to.  Nothing downstream keeps a pointer into a post.
 */
#ifndef FD_POST_H
#define FD_POST_H

#include <time.h>

#define POST_MAX_TEXT (8u * 1024u) /* longer texts are cut at a character boundary */

struct post {
	const char *platform;    /* "webchat", "mastodon", "cli" ... */
	const char *connector;   /* connector instance name (platform by default) */
	const char *post_id;     /* platform's id: the dedupe key with platform */
	const char *thread_key;  /* conversation this post belongs to */
	const char *reply_to_id; /* what a reply should answer (often post_id) */
	const char *author_id;
	const char *author_handle; /* "@sam@example.social", visitor token, ... */
	const char *author_name;   /* display name, may be NULL */
	const char *channel;       /* channel name for rule conditions, or NULL */
	const char *text;          /* plain UTF-8 (already converted from HTML etc.) */
	const char *client_id;     /* web chat: client's message id, or NULL */
	int author_is_bot;
	int is_self;
	/* Written by a person of the business on the platform itself (a reply
	 * from the Facebook Page's inbox, seen as an echo from no app of
	 * ours): the conversation is theirs now and the bot stays out of it.
	 * author_name says who, as the dashboard shows it ("a person on
	 * Messenger"); the customer is the thread's. */
	int from_staff;
	int is_public;  /* public timeline vs private / direct */
	time_t created; /* UTC, the platform's time (reply windows count from it) */
};

#endif
