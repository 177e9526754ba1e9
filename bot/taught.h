/*
 * taught.h - the examples the team taught the bot (store.h: store_teach),
 * as the rules learn them (rules.h: struct rules_extra).
 *
 * The daemon reads them from its store at start and at every reload and
 * learns them with the rule files' examples, off the loop (daemon.c);
 * `check`, `try` and `replay` read them the same way, so what they show is
 * what the running bot does.  A taught example of a rule that no longer
 * exists is skipped with a log line (rules_load_ex), never an error.
 *
 * Ownership: a struct taught owns its array and strings (taught_free).
 * Fails only for want of memory (xmalloc aborts), or, reading a store, with
 * a one-line reason.
 */
#ifndef FD_TAUGHT_H
#define FD_TAUGHT_H

#include <stddef.h>

#include "rules.h"
#include "store.h"

struct taught {
	struct rules_extra *v;
	size_t n;
};

/* Copies of the store's rows, each with its origin ("taught by sam on
 * 2026-11-02, ticket 42"); t is emptied first. */
void taught_from_store(struct taught *t, const struct store_taught *v, size_t n);
void taught_free(struct taught *t);

/*
 * For command-line tools: the taught examples of the store that the
 * configuration at config_path names, read without creating a store where
 * there is none (no store yet: none taught, 0).  -1 with a one-line reason
 * in err when the store exists but cannot be read.
 */
int taught_read(const char *config_path, struct taught *t, char *err, size_t errn);

#endif
