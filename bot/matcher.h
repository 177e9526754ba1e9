/*
 * matcher.h - one Aho-Corasick automaton over many byte patterns, so the
 * cost of scanning a post does not grow with the number of phrases (rules,
 * sentiment lexicon).  Patterns are raw bytes; callers that want whole-word
 * matches add the surrounding spaces of the normalized form (" refund ").
 *
 * Usage: acm_new, acm_add for every pattern, acm_build once, then acm_scan
 * any number of times (scan does not modify the automaton and allocates
 * nothing).  Ownership: the automaton copies what it needs from patterns.
 */
#ifndef FD_MATCHER_H
#define FD_MATCHER_H

#include <stddef.h>
#include <stdint.h>

struct acm;

struct acm *acm_new(void);
void acm_free(struct acm *a);

#define ACM_MAX_PATTERN 65535u

/* Add a pattern with a caller-chosen id (ids may repeat; a pattern added
 * twice reports both ids, in the order added).  Only before acm_build.
 * -1 (nothing added) on an empty pattern, one longer than ACM_MAX_PATTERN,
 * or after acm_build. */
int acm_add(struct acm *a, const char *pat, size_t len, uint32_t id);

/* Freeze: compute failure links / output lists.  Scanning an automaton that
 * was never built reports nothing. */
void acm_build(struct acm *a);

/* Called for each occurrence, in order of `end`, the offset just past the
 * match (for one end: longest pattern first).  Return nonzero to stop the scan. */
typedef int (*acm_hit_fn)(void *ctx, uint32_t id, size_t end);

void acm_scan(const struct acm *a, const char *s, size_t len, acm_hit_fn fn, void *ctx);

size_t acm_patterns(const struct acm *a);
size_t acm_states(const struct acm *a);
/* Heap bytes the automaton holds (for sizing reports). */
size_t acm_bytes(const struct acm *a);

#endif
