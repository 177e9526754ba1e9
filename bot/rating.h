/*
 * rating.h - reading a customer's answer to "how did we do?" (the
 * satisfaction question asked when a person resolves a conversation) from
 * free text, on channels without buttons: "5", "4/5", "5 stars", "★★★★",
 * "8/10", "four", "great", "terrible!", "👍", optionally followed by a
 * comment ("5 - quick and friendly").
 *
 * A rating is recognised only at the start of the message and only when
 * what follows it cannot be the rest of a sentence: a number must be
 * followed by the end, punctuation, a line break or "stars" / "out of 5" /
 * "/5"; a word ("great", "ok") by the end or punctuation.  "5 cakes for
 * Saturday" and "good morning" are not ratings.  A message whose comment
 * asks a question ("5, and when do you open?") is not a rating either: it
 * is decided as a new question.  The pipeline (pipeline.h) reads a rating
 * only in a conversation that was asked for one, within the window.
 *
 * Pure functions: no allocation, no global state.
 */
#ifndef FD_RATING_H
#define FD_RATING_H

#include <stddef.h>

#define RATING_MIN         1
#define RATING_MAX         5
#define RATING_MAX_COMMENT 1000 /* bytes of comment kept (cut at a character boundary) */

struct rating {
	int score;           /* RATING_MIN .. RATING_MAX */
	const char *comment; /* into the text given, or NULL when there is none */
	size_t comment_len;  /* bytes, at most RATING_MAX_COMMENT */
};

/*
 * Read `text` (UTF-8, NUL-terminated) as a rating.  1 with *out set when it
 * is one, 0 when it is not (out untouched).
 */
int rating_parse(const char *text, struct rating *out);

/* 1 when score is a valid rating, else 0. */
int rating_valid(long score);

#endif
