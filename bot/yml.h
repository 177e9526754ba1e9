/*
 * yml.h - YAML documents (libyaml's document API) plus the diagnostics that
 * every loader (config, rules, replies, lexicon) reports through.
 *
 * Loaders never stop at the first error: each problem is added to a `diag`
 * as "file:line:column: message", and the caller refuses the whole load when
 * diag.errors > 0 (OpenSMTPD's habit).  Lines and columns are 1-based.
 *
 * Ownership: a yml_doc owns its libyaml document and file name; node
 * pointers and scalar strings stay valid until yml_free().
 */
#ifndef FD_YML_H
#define FD_YML_H

#include <yaml.h>

#include "util.h"

#define YML_MAX_FILE  (4u << 20) /* a rule or config file larger than this is refused */
#define YML_MAX_DEPTH 64         /* collections nested deeper than this are refused */

struct diag {
	struct buf out; /* one error per line */
	int errors;
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);
void diag_error(struct diag *d, const char *file, int line, int col, const char *fmt, ...) FD_PRINTF(5, 6);

struct yml_doc {
	char *file;
	yaml_document_t doc;
	int loaded;
};

/* Load a file (at most YML_MAX_FILE bytes, a regular file: a named pipe,
 * device or directory is refused without waiting on it; at most
 * YML_MAX_DEPTH levels of nesting, so loading costs time in proportion to
 * the size).  0 on success; -1 with the
 * error in d.  An empty file loads as a document with no root.  A path
 * "builtin:NAME" loads the copy built into the binary (embedded.h). */
int yml_load_file(struct yml_doc *y, const char *path, struct diag *d);
/* Load from memory; `name` is what error messages call it. */
int yml_load_mem(struct yml_doc *y, const char *name, const char *data, size_t len, struct diag *d);
void yml_free(struct yml_doc *y);

yaml_node_t *yml_root(struct yml_doc *y);
yaml_node_t *yml_node(struct yml_doc *y, int index);

/* Report an error at a node's position. */
void yml_error(struct diag *d, struct yml_doc *y, const yaml_node_t *n, const char *fmt, ...) FD_PRINTF(4, 5);

/* Scalar text of n, or NULL if n is not a scalar. */
const char *yml_scalar(const yaml_node_t *n);
/* Value node of `key` in mapping `map`, or NULL. */
yaml_node_t *yml_get(struct yml_doc *y, yaml_node_t *map, const char *key);
/* Iterate a mapping: for (i = 0; yml_pair(y, map, i, &k, &v); i++) */
int yml_pair(struct yml_doc *y, yaml_node_t *map, int i, yaml_node_t **k, yaml_node_t **v);
/* Iterate a sequence: returns NULL past the end. */
yaml_node_t *yml_item(struct yml_doc *y, yaml_node_t *seq, int i);
int yml_len(const yaml_node_t *n); /* items of a sequence or pairs of a mapping */

/*
 * Every key of `map` must be in `allowed` (NULL-terminated); others are
 * reported as "unknown key 'x' (did you mean 'y'?)".  Duplicate keys too.
 * Returns the number of errors added.
 */
int yml_check_keys(struct diag *d, struct yml_doc *y, yaml_node_t *map, const char *const *allowed,
                   const char *where);

/* Typed accessors: report "expected ..." at the node on mismatch and return -1. */
int yml_want_map(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what);
int yml_want_seq(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what);
const char *yml_want_str(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what);
int yml_want_bool(struct diag *d, struct yml_doc *y, yaml_node_t *n, int *out);
/* A string, or a list of strings: returns a NULL-terminated malloc'd array of
 * malloc'd copies (free with strv_free), or NULL after reporting an error. */
char **yml_want_strv(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what);

void strv_free(char **v);
size_t strv_len(char *const *v);

/* The closest of `candidates` to `word` within edit distance 2, or NULL. */
const char *did_you_mean(const char *word, const char *const *candidates);

#endif
