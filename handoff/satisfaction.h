/*
 * satisfaction.h - the satisfaction question that ends a conversation a
 * person resolved: whether it is asked, and its words.  The dashboard and
 * `frontdesk queue resolve` both ask through here, so a customer is asked
 * alike whoever resolved.
 *
 * The question is asked (config satisfaction.ask, on by default) when a
 * person of the team resolves a ticket they answered (first_response), in
 * a private conversation (web chat, a direct message: never a public
 * thread), on a connector of the running configuration.  Its words are the
 * replies key `satisfaction.ask` with the usual variants (its `.CHANNEL`
 * one, e.g. `satisfaction.ask.webchat`, for the web chat where buttons
 * follow the question), or a built-in sentence when the replies have none.
 * The store keeps the question with the thread (store_rating_ask); the
 * answer is read by the pipeline (words) or the web chat (buttons).
 *
 * Ownership: the parts are malloc'd, the caller frees them.  No I/O.
 */
#ifndef FD_SATISFACTION_H
#define FD_SATISFACTION_H

#include <stddef.h>

struct config;
struct replies;
struct store_ticket;

/* The question's words when the replies define no `satisfaction.ask`. */
#define SATISFACTION_ASK_DEFAULT                                                                             \
	"How did we do? Please rate this conversation from 1 (poor) to 5 (excellent); you can add a "        \
	"comment after the number."

/*
 * The question for ticket t (as the read model gives it, resolved or about
 * to be) cut to its platform's length limit into parts; the number of
 * parts, or 0 when no question is to be asked (see above).
 */
size_t satisfaction_question(const struct config *cfg, const struct replies *r, const struct store_ticket *t,
                             char **parts, size_t max_parts);

#endif
