/*
 * embedded.h - files compiled into the binary by tools/embed.c: the
 * dashboard and widget (served by base name) and config.yaml.example.
 * The data is static and NUL-terminated; nothing here is freed.
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

/* The file called `name`, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
