/*
 * yml.c - libyaml document loading, typed access and diagnostics.
 */
#include "yml.h"

#include "embedded.h"
#include "ymlerr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void diag_init(struct diag *d)
{
	buf_init(&d->out, 0);
	d->errors = 0;
}

void diag_free(struct diag *d)
{
	buf_free(&d->out);
	d->errors = 0;
}

/* Diagnostics are capped: a broken 10 MB file must not print 10 MB. */
#define DIAG_MAX 200

void diag_error(struct diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	d->errors++;
	if (d->errors > DIAG_MAX) {
		if (d->errors == DIAG_MAX + 1)
			buf_puts(&d->out, "(too many errors; stopping the list here)\n");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		buf_printf(&d->out, "%s:%d:%d: %s\n", file, line, col, msg);
	else
		buf_printf(&d->out, "%s: %s\n", file, msg);
}

/* An open collection while composing: its node and, in a mapping, the
 * key waiting for its value (0 = none). */
struct yml_frame {
	int node;
	int key;
	char *anchor; /* registered when the collection is complete */
};

struct yml_anchor {
	char *name;
	int node;
};

struct yml_compose {
	struct yml_doc *y;
	struct yml_frame stack[YML_MAX_DEPTH];
	int depth;
	struct yml_anchor *anchors;
	size_t nanchors;
};

static void set_marks(struct yml_doc *y, int id, yaml_mark_t start, yaml_mark_t end)
{
	yaml_node_t *n = yaml_document_get_node(&y->doc, id);
	n->start_mark = start;
	n->end_mark = end;
}

/* Later anchors of the same name win, as in libyaml's own loader. */
static void add_anchor(struct yml_compose *c, char *name, int node)
{
	if (!name)
		return;
	c->anchors = xrealloc(c->anchors, (c->nanchors + 1) * sizeof(*c->anchors));
	c->anchors[c->nanchors].name = name;
	c->anchors[c->nanchors].node = node;
	c->nanchors++;
}

static int find_anchor(const struct yml_compose *c, const char *name)
{
	for (size_t i = c->nanchors; i-- > 0;)
		if (!strcmp(c->anchors[i].name, name))
			return c->anchors[i].node;
	return 0;
}

/* Put node id where the open collection expects it (the first node of
 * the document is its root). */
static int attach(struct yml_compose *c, int id)
{
	if (c->depth == 0)
		return 1;
	struct yml_frame *f = &c->stack[c->depth - 1];
	yaml_node_t *parent = yaml_document_get_node(&c->y->doc, f->node);
	if (parent->type == YAML_SEQUENCE_NODE)
		return yaml_document_append_sequence_item(&c->y->doc, f->node, id);
	if (!f->key) {
		f->key = id;
		return 1;
	}
	int ok = yaml_document_append_mapping_pair(&c->y->doc, f->node, f->key, id);
	f->key = 0;
	return ok;
}

static char *take_anchor(yaml_char_t *a)
{
	return a ? xstrdup((const char *)a) : NULL;
}

/*
 * Build y->doc from parser events (what yaml_parser_load does), refusing
 * nesting deeper than YML_MAX_DEPTH: libyaml's scanner re-checks every open
 * flow level on every token, so each level makes every later token dearer
 * and a file of nested brackets costs time in the square of its size (20,000
 * levels: seconds).  Stopping at the limit keeps the cost linear.  An alias
 * may name only a node that is complete (so no node contains itself).
 * 0, or -1 with the error in d (a syntax error as ymlerr says what to fix).
 */
static int yml_parse(struct yml_doc *y, yaml_parser_t *parser, const char *data, size_t len, struct diag *d)
{
	struct yml_compose c = {.y = y};
	yaml_event_t ev;
	int started = 0, done = 0, rc = -1;

	while (!done) {
		if (!yaml_parser_parse(parser, &ev)) {
			ymlerr_report(d, y->file, data, len, parser);
			goto out;
		}
		int id = 0, ok = 1;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (!yaml_document_initialize(&y->doc, NULL, NULL, NULL, 1, 1))
				fatal("yaml_document_initialize failed");
			started = 1;
			break;
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_END_EVENT: done = 1; break;
		case YAML_ALIAS_EVENT:
			id = find_anchor(&c, (const char *)ev.data.alias.anchor);
			if (!id) {
				diag_error(
				    d, y->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				    "*%s names no anchor (&%s) defined before it, outside it",
				    (const char *)ev.data.alias.anchor, (const char *)ev.data.alias.anchor);
				yaml_event_delete(&ev);
				goto out;
			}
			ok = attach(&c, id);
			break;
		case YAML_SCALAR_EVENT:
			id = yaml_document_add_scalar(&y->doc, ev.data.scalar.tag, ev.data.scalar.value,
			                              (int)ev.data.scalar.length, ev.data.scalar.style);
			ok = id > 0;
			if (ok) {
				set_marks(y, id, ev.start_mark, ev.end_mark);
				add_anchor(&c, take_anchor(ev.data.scalar.anchor), id);
				ok = attach(&c, id);
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (c.depth == YML_MAX_DEPTH) {
				diag_error(d, y->file, (int)ev.start_mark.line + 1,
				           (int)ev.start_mark.column + 1, "nested more than %d levels deep",
				           YML_MAX_DEPTH);
				yaml_event_delete(&ev);
				goto out;
			}
			if (ev.type == YAML_SEQUENCE_START_EVENT) {
				id = yaml_document_add_sequence(&y->doc, ev.data.sequence_start.tag,
				                                ev.data.sequence_start.style);
			} else {
				id = yaml_document_add_mapping(&y->doc, ev.data.mapping_start.tag,
				                               ev.data.mapping_start.style);
			}
			ok = id > 0 && attach(&c, id);
			if (ok) {
				set_marks(y, id, ev.start_mark, ev.end_mark);
				c.stack[c.depth].node = id;
				c.stack[c.depth].key = 0;
				c.stack[c.depth].anchor = take_anchor(ev.type == YAML_SEQUENCE_START_EVENT
				                                          ? ev.data.sequence_start.anchor
				                                          : ev.data.mapping_start.anchor);
				c.depth++;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: {
			struct yml_frame *f = &c.stack[--c.depth];
			yaml_document_get_node(&y->doc, f->node)->end_mark = ev.end_mark;
			add_anchor(&c, f->anchor, f->node);
			f->anchor = NULL;
			break;
		}
		default: break;
		}
		yaml_event_delete(&ev);
		if (!ok)
			fatal("out of memory composing a YAML document");
	}
	if (!started && !yaml_document_initialize(&y->doc, NULL, NULL, NULL, 1, 1))
		fatal("yaml_document_initialize failed");
	y->loaded = 1;
	rc = 0;
out:
	if (rc < 0 && started)
		yaml_document_delete(&y->doc);
	while (c.depth > 0)
		free(c.stack[--c.depth].anchor);
	for (size_t i = 0; i < c.nanchors; i++)
		free(c.anchors[i].name);
	free(c.anchors);
	yaml_parser_delete(parser);
	return rc;
}

int yml_load_mem(struct yml_doc *y, const char *name, const char *data, size_t len, struct diag *d)
{
	yaml_parser_t parser;

	memset(y, 0, sizeof(*y));
	y->file = xstrdup(name);
	if (len > YML_MAX_FILE) {
		diag_error(d, name, 0, 0, "file is larger than %u bytes", YML_MAX_FILE);
		return -1;
	}
	if (!yaml_parser_initialize(&parser))
		fatal("yaml_parser_initialize failed");
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	return yml_parse(y, &parser, data, len, d);
}

int yml_load_file(struct yml_doc *y, const char *path, struct diag *d)
{
	const struct embedded_file *ef = embedded_path(path);
	if (ef)
		return yml_load_mem(y, path, ef->data, ef->len, d);

	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	struct buf b;
	char chunk[8192];
	size_t n;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = errno;
		memset(y, 0, sizeof(*y));
		y->file = xstrdup(path);
		if (fd >= 0 && !S_ISREG(st.st_mode))
			diag_error(d, path, 0, 0, "not a regular file (a %s)",
			           S_ISDIR(st.st_mode)    ? "directory"
			           : S_ISFIFO(st.st_mode) ? "named pipe"
			           : S_ISSOCK(st.st_mode) ? "socket"
			                                  : "device");
		else
			diag_error(d, path, 0, 0, "cannot open: %s", strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		memset(y, 0, sizeof(*y));
		y->file = xstrdup(path);
		diag_error(d, path, 0, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	buf_init(&b, YML_MAX_FILE);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			fclose(f);
			buf_free(&b);
			memset(y, 0, sizeof(*y));
			y->file = xstrdup(path);
			diag_error(d, path, 0, 0, "file is larger than %u bytes", YML_MAX_FILE);
			return -1;
		}
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		buf_free(&b);
		memset(y, 0, sizeof(*y));
		y->file = xstrdup(path);
		diag_error(d, path, 0, 0, "read error");
		return -1;
	}
	rc = yml_load_mem(y, path, b.p ? b.p : "", b.len, d);
	buf_free(&b);
	return rc;
}

void yml_free(struct yml_doc *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = 0;
	free(y->file);
	y->file = NULL;
}

yaml_node_t *yml_root(struct yml_doc *y)
{
	return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

yaml_node_t *yml_node(struct yml_doc *y, int index)
{
	return yaml_document_get_node(&y->doc, index);
}

void yml_error(struct diag *d, struct yml_doc *y, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		diag_error(d, y->file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1, "%s", msg);
	else
		diag_error(d, y->file, 0, 0, "%s", msg);
}

const char *yml_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

int yml_len(const yaml_node_t *n)
{
	if (!n)
		return 0;
	if (n->type == YAML_SEQUENCE_NODE)
		return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (n->type == YAML_MAPPING_NODE)
		return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	return 0;
}

int yml_pair(struct yml_doc *y, yaml_node_t *map, int i, yaml_node_t **k, yaml_node_t **v)
{
	if (!map || map->type != YAML_MAPPING_NODE || i < 0 || i >= yml_len(map))
		return 0;
	yaml_node_pair_t *p = map->data.mapping.pairs.start + i;
	*k = yml_node(y, p->key);
	*v = yml_node(y, p->value);
	return 1;
}

yaml_node_t *yml_item(struct yml_doc *y, yaml_node_t *seq, int i)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE || i < 0 || i >= yml_len(seq))
		return NULL;
	return yml_node(y, seq->data.sequence.items.start[i]);
}

yaml_node_t *yml_get(struct yml_doc *y, yaml_node_t *map, const char *key)
{
	yaml_node_t *k, *v;
	for (int i = 0; yml_pair(y, map, i, &k, &v); i++) {
		const char *s = yml_scalar(k);
		if (s && strcmp(s, key) == 0)
			return v;
	}
	return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = prev + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

const char *did_you_mean(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t bestd = 3;
	for (size_t i = 0; candidates[i]; i++) {
		size_t dist = edit_distance(word, candidates[i]);
		if (strcasecmp(word, candidates[i]) == 0)
			dist = 0;
		if (dist < bestd) {
			bestd = dist;
			best = candidates[i];
		}
	}
	return best;
}

int yml_check_keys(struct diag *d, struct yml_doc *y, yaml_node_t *map, const char *const *allowed,
                   const char *where)
{
	int errs = 0;
	yaml_node_t *k, *v;

	for (int i = 0; yml_pair(y, map, i, &k, &v); i++) {
		const char *s = yml_scalar(k);
		if (!s) {
			yml_error(d, y, k, "expected a plain key in %s", where);
			errs++;
			continue;
		}
		int known = 0;
		for (size_t j = 0; allowed[j]; j++)
			if (strcmp(s, allowed[j]) == 0)
				known = 1;
		if (!known) {
			const char *sug = did_you_mean(s, allowed);
			if (sug)
				yml_error(d, y, k, "unknown key '%s' in %s (did you mean '%s'?)", s, where,
				          sug);
			else
				yml_error(d, y, k, "unknown key '%s' in %s", s, where);
			errs++;
			continue;
		}
		yaml_node_t *k2, *v2;
		for (int j = 0; j < i && yml_pair(y, map, j, &k2, &v2); j++) {
			const char *s2 = yml_scalar(k2);
			if (s2 && strcmp(s, s2) == 0) {
				yml_error(d, y, k, "duplicate key '%s' in %s", s, where);
				errs++;
				break;
			}
		}
	}
	return errs;
}

int yml_want_map(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what)
{
	if (n && n->type == YAML_MAPPING_NODE)
		return 0;
	yml_error(d, y, n, "expected a mapping for %s", what);
	return -1;
}

int yml_want_seq(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what)
{
	if (n && n->type == YAML_SEQUENCE_NODE)
		return 0;
	yml_error(d, y, n, "expected a list for %s", what);
	return -1;
}

const char *yml_want_str(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what)
{
	const char *s = yml_scalar(n);
	if (s)
		return s;
	yml_error(d, y, n, "expected a string for %s", what);
	return NULL;
}

int yml_want_bool(struct diag *d, struct yml_doc *y, yaml_node_t *n, int *out)
{
	const char *s = yml_scalar(n);
	if (s) {
		if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
			*out = 1;
			return 0;
		}
		if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
			*out = 0;
			return 0;
		}
	}
	yml_error(d, y, n, "expected true or false");
	return -1;
}

char **yml_want_strv(struct diag *d, struct yml_doc *y, yaml_node_t *n, const char *what)
{
	char **v;
	const char *s = yml_scalar(n);

	if (s) {
		v = xcalloc(2, sizeof(*v));
		v[0] = xstrdup(s);
		return v;
	}
	if (!n || n->type != YAML_SEQUENCE_NODE) {
		yml_error(d, y, n, "expected a string or a list of strings for %s", what);
		return NULL;
	}
	int len = yml_len(n);
	v = xcalloc((size_t)len + 1, sizeof(*v));
	for (int i = 0; i < len; i++) {
		yaml_node_t *it = yml_item(y, n, i);
		const char *t = yml_scalar(it);
		if (!t) {
			yml_error(d, y, it, "expected a string in the list %s", what);
			strv_free(v);
			return NULL;
		}
		v[i] = xstrdup(t);
	}
	return v;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}
