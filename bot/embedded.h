/*
 * embedded.h - files compiled into the binary by tools/embed.c: the
 * dashboard and widget (served by base name), config.yaml.example and the
 * default lexicon (every file of rules/lexicon/, named by that path).
 * The data is static and NUL-terminated; nothing here is freed.
 *
 * A path that starts with EMBEDDED_PREFIX ("builtin:rules/lexicon/en.yaml")
 * names an embedded file where a file path is expected: yml_load_file reads
 * it from here, so a loader given such a path needs no other change.
 */
#ifndef FD_EMBEDDED_H
#define FD_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name;
	const char *data;
	size_t len;
};

/* Terminated by an entry whose name is NULL. */
extern const struct embedded_file embedded_files[];

#define EMBEDDED_PREFIX "builtin:"

/* The file called `name`, or NULL. */
const struct embedded_file *embedded_find(const char *name);

/* The file a path "builtin:NAME" names, or NULL for any other path. */
const struct embedded_file *embedded_path(const char *path);

#endif
