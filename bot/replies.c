/*
 * replies.c - reply templates: loading and merging YAML files, compiling
 * each template into segments, resolving keys by business state, rendering.
 *
 * A compiled template is the template text plus an array of segments:
 * literal text (a slice of the text), a variable, or the start of a section
 * that holds the index to jump to when the section is skipped.  Rendering is
 * one pass over the segments with no parsing and no stack.
 *
 * Keys live in an open-addressing hash table (linear probing) over
 * an array of entries kept in load order.
 */
#include "replies.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const var_names[REPLY_VAR_COUNT + 1] = {
    "author", "business", "opens_at", "due", "hours", "phone", "email", "ticket", "agent", "closed_on", NULL,
};

/* Where each variable lives in struct reply_vars, in var_names order. */
static const size_t var_offsets[REPLY_VAR_COUNT] = {
    offsetof(struct reply_vars, author),   offsetof(struct reply_vars, business),
    offsetof(struct reply_vars, opens_at), offsetof(struct reply_vars, due),
    offsetof(struct reply_vars, hours),    offsetof(struct reply_vars, phone),
    offsetof(struct reply_vars, email),    offsetof(struct reply_vars, ticket),
    offsetof(struct reply_vars, agent),    offsetof(struct reply_vars, closed_on),
};

const char *replies_var_name(unsigned i)
{
	return i < REPLY_VAR_COUNT ? var_names[i] : NULL;
}

enum seg_kind { SEG_TEXT = 0, SEG_VAR, SEG_IF, SEG_UNLESS };

/* Offsets and indexes fit in 16 bits because a template is at most
 * REPLY_TEMPLATE_MAX bytes and every segment covers at least one byte. */
struct seg {
	uint8_t kind;
	uint8_t var;   /* SEG_VAR, SEG_IF, SEG_UNLESS: index into var_names */
	uint16_t next; /* SEG_IF, SEG_UNLESS: first segment after the section */
	uint16_t off;  /* SEG_TEXT: slice of tmpl.text */
	uint16_t len;
};

struct tmpl {
	char *text; /* the template source; SEG_TEXT slices point into it */
	struct seg *segs;
	uint16_t nseg;
	unsigned vars; /* REPLY_VAR_* bits used */
};

/* A template error: message, and the offending bytes of the template
 * (offset and length) so a loader can point at them in the source file. */
struct tmpl_err {
	size_t off;
	size_t len;
	char msg[256];
};

static void tmpl_free(struct tmpl *t)
{
	free(t->text);
	free(t->segs);
	t->text = NULL;
	t->segs = NULL;
	t->nseg = 0;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int var_lookup(const char *name, size_t n)
{
	for (int i = 0; i < (int)REPLY_VAR_COUNT; i++)
		if (strlen(var_names[i]) == n && memcmp(var_names[i], name, n) == 0)
			return i;
	return -1;
}

static int tmpl_fail(struct tmpl_err *e, size_t off, size_t len, const char *fmt, ...) FD_PRINTF(4, 5);

static int tmpl_fail(struct tmpl_err *e, size_t off, size_t len, const char *fmt, ...)
{
	va_list ap;

	e->off = off;
	e->len = len;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

#define VAR_LIST                                                                                             \
	"the variables are author, business, opens_at, due, hours, phone, email, ticket, agent, closed_on"

/* How a tag shows in messages: at most 40 bytes of it. */
#define TAG_SHOW(len) ((int)((len) > 40 ? 40 : (len)))

static void add_seg(struct tmpl *t, enum seg_kind kind, unsigned var, size_t off, size_t len)
{
	struct seg *s = &t->segs[t->nseg++];
	s->kind = (uint8_t)kind;
	s->var = (uint8_t)var;
	s->next = 0;
	s->off = (uint16_t)off;
	s->len = (uint16_t)len;
}

/*
 * Compile `len` bytes of src into t.  Returns 0, or -1 with e filled and t
 * left empty (nothing to free).  Every error names the offending tag:
 * an unterminated "{{", a tag that is not {{name}}/{{#name}}/{{^name}}/
 * {{/name}}, an unknown variable, a closing tag that closes nothing or the
 * wrong section, nesting deeper than REPLY_DEPTH_MAX, a section left open.
 */
static int tmpl_compile(const char *src, size_t len, struct tmpl *t, struct tmpl_err *e)
{
	struct open_section {
		uint16_t seg;
		uint8_t var;
		size_t off, len;
	} stack[REPLY_DEPTH_MAX];
	size_t depth = 0, tags = 0, lit = 0, i = 0;

	memset(t, 0, sizeof(*t));
	if (len > REPLY_TEMPLATE_MAX)
		return tmpl_fail(e, 0, 0, "reply text is %zu bytes, more than the limit of %u", len,
		                 REPLY_TEMPLATE_MAX);
	for (size_t j = 0; j + 1 < len; j++)
		if (src[j] == '{' && src[j + 1] == '{')
			tags++;
	/* Each tag adds at most one segment and one literal run before it. */
	t->segs = xmalloc((2 * tags + 1) * sizeof(*t->segs));
	t->text = xstrndup(src, len);

	while (i < len) {
		if (!(src[i] == '{' && i + 1 < len && src[i + 1] == '{')) {
			i++;
			continue;
		}
		if (i > lit)
			add_seg(t, SEG_TEXT, 0, lit, i - lit);
		const char *close = memmem(src + i + 2, len - i - 2, "}}", 2);
		if (!close) {
			tmpl_fail(e, i, 2, "'{{' is not closed with '}}'");
			goto fail;
		}
		size_t tag_off = i, tag_len = (size_t)(close + 2 - (src + i));
		const char *p = src + i + 2, *end = close;
		while (p < end && is_blank(*p))
			p++;
		while (end > p && is_blank(end[-1]))
			end--;
		char sigil = 0;
		if (p < end && (*p == '#' || *p == '^' || *p == '/')) {
			sigil = *p++;
			while (p < end && is_blank(*p))
				p++;
		}
		size_t nlen = (size_t)(end - p);
		int valid = nlen > 0 && nlen <= 32;
		for (size_t k = 0; valid && k < nlen; k++)
			if (!((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= '0' && p[k] <= '9') || p[k] == '_'))
				valid = 0;
		if (!valid) {
			tmpl_fail(e, tag_off, tag_len,
			          "'%.*s' is not a tag: expected {{name}}, {{#name}}, {{^name}} or {{/name}}",
			          TAG_SHOW(tag_len), src + tag_off);
			goto fail;
		}
		int var = var_lookup(p, nlen);
		if (var < 0) {
			char name[40];
			snprintf(name, sizeof(name), "%.*s", (int)nlen, p);
			const char *sug = did_you_mean(name, var_names);
			if (sug)
				tmpl_fail(e, tag_off, tag_len,
				          "unknown variable '%s' (did you mean '%s'?); %s", name, sug,
				          VAR_LIST);
			else
				tmpl_fail(e, tag_off, tag_len, "unknown variable '%s'; %s", name, VAR_LIST);
			goto fail;
		}
		t->vars |= 1u << var;
		if (sigil == 0) {
			add_seg(t, SEG_VAR, (unsigned)var, 0, 0);
		} else if (sigil == '/') {
			if (depth == 0) {
				tmpl_fail(e, tag_off, tag_len, "'%.*s' closes no section", TAG_SHOW(tag_len),
				          src + tag_off);
				goto fail;
			}
			struct open_section *o = &stack[depth - 1];
			if (o->var != var) {
				tmpl_fail(e, tag_off, tag_len,
				          "'%.*s' does not close the open section '%.*s'", TAG_SHOW(tag_len),
				          src + tag_off, TAG_SHOW(o->len), src + o->off);
				goto fail;
			}
			t->segs[o->seg].next = t->nseg;
			depth--;
		} else {
			if (depth == REPLY_DEPTH_MAX) {
				tmpl_fail(e, tag_off, tag_len, "sections nested more than %u deep",
				          REPLY_DEPTH_MAX);
				goto fail;
			}
			stack[depth].seg = t->nseg;
			stack[depth].var = (uint8_t)var;
			stack[depth].off = tag_off;
			stack[depth].len = tag_len;
			depth++;
			add_seg(t, sigil == '#' ? SEG_IF : SEG_UNLESS, (unsigned)var, 0, 0);
		}
		i = tag_off + tag_len;
		lit = i;
	}
	if (len > lit)
		add_seg(t, SEG_TEXT, 0, lit, len - lit);
	if (depth > 0) {
		struct open_section *o = &stack[depth - 1];
		tmpl_fail(e, o->off, o->len, "section '%.*s' is not closed with '{{/%s}}'", TAG_SHOW(o->len),
		          src + o->off, var_names[o->var]);
		goto fail;
	}
	return 0;
fail:
	tmpl_free(t);
	t->vars = 0;
	return -1;
}

/* How many bytes of value s to render: at most REPLY_VALUE_MAX, never
 * ending inside a UTF-8 sequence. */
static size_t value_len(const char *s)
{
	size_t len = strnlen(s, REPLY_VALUE_MAX + 1);
	if (len > REPLY_VALUE_MAX) {
		/* s[len] is the first byte left out; if it continues a character,
		 * leave out that whole character.  Invalid UTF-8 (more than three
		 * continuation bytes) is cut at the limit as it is. */
		len = REPLY_VALUE_MAX;
		size_t k = len;
		while (k > len - 3 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
		if (((unsigned char)s[k] & 0xC0) != 0x80)
			len = k;
	}
	return len;
}

/* The values of the variables in `used` (REPLY_VAR_* bits), measured once
 * per render; unset and empty values have length 0. */
struct values {
	const char *p[REPLY_VAR_COUNT];
	size_t len[REPLY_VAR_COUNT];
};

static void values_get(const struct reply_vars *v, unsigned used, struct values *out)
{
	/* Only the entries of used variables are read by the segments. */
	for (unsigned i = 0; used; used >>= 1, i++) {
		if (!(used & 1u))
			continue;
		const char *s = v ? *(const char *const *)((const char *)v + var_offsets[i]) : NULL;
		out->p[i] = s ? s : "";
		out->len[i] = s ? value_len(s) : 0;
	}
}

/* Walk t's segments: the next piece of output, or NULL at the end.
 * *i is the segment index, advanced past sections that are skipped. */
static inline const char *next_piece(const struct tmpl *t, const struct values *vals, unsigned *i, size_t *n)
{
	while (*i < t->nseg) {
		const struct seg *s = &t->segs[(*i)++];
		switch (s->kind) {
		case SEG_TEXT: *n = s->len; return t->text + s->off;
		case SEG_VAR: *n = vals->len[s->var]; return vals->p[s->var];
		case SEG_IF:
			if (!vals->len[s->var])
				*i = s->next;
			break;
		default: /* SEG_UNLESS */
			if (vals->len[s->var])
				*i = s->next;
			break;
		}
	}
	return NULL;
}

/*
 * Append t rendered with v to out; -1 (out unchanged) if out's cap is hit.
 * A reply is assembled on the stack and appended at once (one capacity
 * check and at most one allocation); only a reply larger than the stack
 * buffer is appended piece by piece.
 */
static int tmpl_render(const struct tmpl *t, const struct reply_vars *v, struct buf *out)
{
	struct values vals;
	char tmp[2048];
	size_t len = 0, n = 0;
	unsigned i = 0;
	const char *p;

	values_get(v, t->vars, &vals);
	while ((p = next_piece(t, &vals, &i, &n)) != NULL) {
		if (n > sizeof(tmp) - len)
			goto large;
		memcpy(tmp + len, p, n);
		len += n;
	}
	return buf_append(out, tmp, len);
large:;
	size_t start = out->len;
	i = 0;
	while ((p = next_piece(t, &vals, &i, &n)) != NULL) {
		if (buf_append(out, p, n) < 0) {
			out->len = start;
			if (out->p)
				out->p[start] = '\0';
			return -1;
		}
	}
	return 0;
}

int replies_render_string(const char *tmpl, const struct reply_vars *v, struct buf *out, char *err,
                          size_t errn)
{
	struct tmpl t;
	struct tmpl_err e;

	if (tmpl_compile(tmpl, strlen(tmpl), &t, &e) < 0) {
		if (errn)
			snprintf(err, errn, "byte %zu: %s", e.off + 1, e.msg);
		return -1;
	}
	int rc = tmpl_render(&t, v, out);
	tmpl_free(&t);
	if (rc < 0 && errn)
		snprintf(err, errn, "output too long");
	return rc;
}

/* ---- the key table ---- */

struct entry {
	char *key;
	size_t len;
	uint64_t hash;
	struct tmpl *variants;
	unsigned nvariants;
	unsigned vars;
	const char *file; /* borrowed from replies.files */
	int line, col;
};

struct replies {
	struct entry *entries; /* load order */
	size_t n, cap;
	uint32_t *slots; /* entry index + 1; 0 = empty */
	size_t nslots;   /* power of two, more than twice n */
	uint64_t *stems; /* hashes (| 1) of every key and key prefix ending before a '.' */
	size_t nstems;   /* power of two, more than twice their number */
	char **files;    /* names of loaded files, for error messages */
	size_t nfiles;
};

/* The table's hash: 8 bytes at a time (keys are short, and a lookup is
 * on every reply's path).  Internal to the table, never stored. */
static uint64_t key_hash(const char *k, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; k += 8, len -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, k, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

static struct entry *table_find(const struct replies *r, const char *key, size_t len, uint64_t h)
{
	if (!r || !r->nslots)
		return NULL;
	size_t mask = r->nslots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t s = r->slots[i];
		if (!s)
			return NULL;
		struct entry *e = &r->entries[s - 1];
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	}
}

static struct entry *find(const struct replies *r, const char *key)
{
	size_t len = strnlen(key, REPLY_KEY_MAX + 1);
	if (len > REPLY_KEY_MAX)
		return NULL;
	return table_find(r, key, len, key_hash(key, len));
}

static void table_place(struct replies *r, size_t idx)
{
	size_t mask = r->nslots - 1;
	size_t i = r->entries[idx].hash & mask;
	while (r->slots[i])
		i = (i + 1) & mask;
	r->slots[i] = (uint32_t)(idx + 1);
}

/* Add an entry (its key must not be present yet); takes ownership of e's
 * key and variants. */
static void table_add(struct replies *r, const struct entry *e)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->entries = xrealloc(r->entries, r->cap * sizeof(*r->entries));
	}
	r->entries[r->n++] = *e;
	if (r->n * 2 > r->nslots) {
		free(r->slots);
		r->nslots = r->nslots ? r->nslots * 2 : 128;
		r->slots = xcalloc(r->nslots, sizeof(*r->slots));
		for (size_t i = 0; i < r->n; i++)
			table_place(r, i);
	} else {
		table_place(r, r->n - 1);
	}
}

/* Words of keys go in the stems table too, hashed apart from stems. */
#define WORD_SALT 0x5bd1e9955bd1e995ULL

static const char *const reserved_words[] = {"open", "after_hours", "holiday", "negative", NULL};

static void stem_put(struct replies *r, const char *k, size_t len, uint64_t salt)
{
	uint64_t h = (key_hash(k, len) ^ salt) | 1;
	size_t mask = r->nstems - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		if (r->stems[i] == h)
			return;
		if (!r->stems[i]) {
			r->stems[i] = h;
			return;
		}
	}
}

/*
 * Remember every key and every prefix of one that ends before a '.'
 * ("faq", "faq.delivery" and "faq.delivery.open" for faq.delivery.open), so
 * replies_pick can tell in one probe that no key continues a branch; and
 * every word after a key's first that is not a state or a mood ("slack" in
 * faq.delivery.slack), so a channel no key names costs one short probe.
 * Only hashes are kept: a collision costs a few useless lookups, never a
 * wrong answer.
 */
static void build_stems(struct replies *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = 0; j <= r->entries[i].len; j++)
			n += j == r->entries[i].len || r->entries[i].key[j] == '.';
	r->nstems = 16;
	while (r->nstems < n * 4 + 1)
		r->nstems *= 2;
	r->stems = xcalloc(r->nstems, sizeof(*r->stems));
	for (size_t i = 0; i < r->n; i++) {
		const struct entry *e = &r->entries[i];
		size_t start = 0;
		for (size_t j = 0; j <= e->len; j++) {
			if (j < e->len && e->key[j] != '.')
				continue;
			stem_put(r, e->key, j, 0);
			if (start > 0) {
				int reserved = 0;
				for (size_t w = 0; reserved_words[w]; w++)
					reserved |= strlen(reserved_words[w]) == j - start &&
					            !memcmp(reserved_words[w], e->key + start, j - start);
				if (!reserved)
					stem_put(r, e->key + start, j - start, WORD_SALT);
			}
			start = j + 1;
		}
	}
}

/* Does some key equal k[0..len) or continue it with '.' (salt 0), or have
 * the word k[0..len) after its first (WORD_SALT)? */
static int is_stem(const struct replies *r, const char *k, size_t len, uint64_t salt)
{
	if (!r || !r->nstems)
		return 0;
	uint64_t h = (key_hash(k, len) ^ salt) | 1;
	size_t mask = r->nstems - 1;
	for (size_t i = h & mask; r->stems[i]; i = (i + 1) & mask)
		if (r->stems[i] == h)
			return 1;
	return 0;
}

static void entry_free(struct entry *e)
{
	for (unsigned i = 0; i < e->nvariants; i++)
		tmpl_free(&e->variants[i]);
	free(e->variants);
	free(e->key);
}

void replies_free(struct replies *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		entry_free(&r->entries[i]);
	free(r->entries);
	free(r->slots);
	free(r->stems);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	free(r);
}

/* ---- loading ---- */

/* One file being loaded: its bytes are kept so that template errors can be
 * located at the offending tag, not just at the start of the text. */
struct src {
	const char *file;
	const char *data;
	size_t len;
};

/* Byte offset of a libyaml mark (0-based line, column counted in
 * characters), or (size_t)-1 if the source does not have it. */
static size_t mark_offset(const struct src *s, size_t line, size_t col)
{
	size_t i = 0;
	for (size_t l = 0; l < line; l++) {
		const char *nl = memchr(s->data + i, '\n', s->len - i);
		if (!nl)
			return (size_t)-1;
		i = (size_t)(nl - s->data) + 1;
	}
	for (size_t c = 0; c < col; c++) {
		if (i >= s->len || s->data[i] == '\n')
			return (size_t)-1;
		i++;
		while (i < s->len && ((unsigned char)s->data[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

/*
 * Report a template error of the scalar node n.  The offending tag is
 * looked up in the node's source text (the k-th occurrence there, where k
 * counts its occurrences before the error in the value), which is exact
 * unless quoting or folding changed the tag itself; then the error is
 * reported at the node.
 */
static void report_tmpl_err(struct diag *d, const struct src *s, const yaml_node_t *n, const char *value,
                            const char *key, const struct tmpl_err *e)
{
	int line = (int)n->start_mark.line + 1, col = (int)n->start_mark.column + 1;
	size_t nlen = e->len;
	const char *needle = value + e->off;
	const char *nl = memchr(needle, '\n', nlen);

	if (nl)
		nlen = (size_t)(nl - needle);
	size_t from = mark_offset(s, n->start_mark.line, n->start_mark.column);
	size_t to = mark_offset(s, n->end_mark.line, n->end_mark.column);
	if (nlen > 0 && from != (size_t)-1 && to != (size_t)-1 && to > from) {
		size_t k = 0;
		for (const char *p = value;
		     (p = memmem(p, (size_t)(needle + nlen - 1 - p), needle, nlen)) != NULL; p++)
			k++;
		const char *p = s->data + from, *hit = NULL;
		while ((p = memmem(p, (size_t)(s->data + to - p), needle, nlen)) != NULL) {
			if (k-- == 0) {
				hit = p;
				break;
			}
			p++;
		}
		if (hit) {
			const char *ls = s->data;
			line = 1;
			for (const char *q = s->data; q < hit; q++)
				if (*q == '\n') {
					line++;
					ls = q + 1;
				}
			col = 1;
			for (const char *q = ls; q < hit; q++)
				if (((unsigned char)*q & 0xC0) != 0x80)
					col++;
		}
	}
	diag_error(d, s->file, line, col, "reply '%s': %s", key, e->msg);
}

static int key_valid(const char *k)
{
	size_t len = strlen(k);
	int word = 0; /* bytes in the current dot-separated word */

	if (len == 0 || len > REPLY_KEY_MAX)
		return 0;
	for (const char *p = k; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_') {
			word++;
		} else if (*p == '.' && word > 0) {
			word = 0;
		} else {
			return 0;
		}
	}
	return word > 0;
}

static int value_empty(const yaml_node_t *n)
{
	const char *s = yml_scalar(n);
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!strcmp(s, "~") || !strcmp(s, "null")))
		return 1;
	for (; *s; s++)
		if (!(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
			return 0;
	return 1;
}

/* Compile one variant (a scalar node) into t; errors go to d. */
static int load_variant(struct diag *d, const struct src *s, struct yml_doc *y, yaml_node_t *n,
                        const char *key, struct tmpl *t)
{
	struct tmpl_err e;
	const char *v = yml_scalar(n);

	if (!v) {
		yml_error(d, y, n, "reply '%s': expected a text, not a %s", key,
		          n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return -1;
	}
	if (value_empty(n)) {
		yml_error(d, y, n, "reply '%s': empty reply text", key);
		return -1;
	}
	size_t len = n->data.scalar.length;
	if (strlen(v) != len) {
		yml_error(d, y, n, "reply '%s': the text contains a NUL character", key);
		return -1;
	}
	if (len > REPLY_TEMPLATE_MAX) {
		yml_error(d, y, n, "reply '%s': text is %zu bytes, more than the limit of %u", key, len,
		          REPLY_TEMPLATE_MAX);
		return -1;
	}
	if (tmpl_compile(v, len, t, &e) < 0) {
		report_tmpl_err(d, s, n, v, key, &e);
		return -1;
	}
	return 0;
}

static void load_pair(struct replies *r, struct diag *d, const struct src *s, struct yml_doc *y,
                      yaml_node_t *k, yaml_node_t *v)
{
	const char *key = yml_scalar(k);
	struct entry e;

	if (!key) {
		yml_error(d, y, k, "expected a reply key such as faq.opening_hours");
		return;
	}
	if (!key_valid(key)) {
		yml_error(d, y, k,
		          "bad reply key '%.*s': expected words of a-z, 0-9 and _ joined by dots "
		          "(like faq.opening_hours), at most %u bytes",
		          TAG_SHOW(strlen(key)), key, REPLY_KEY_MAX);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.file = s->file;
	e.line = (int)k->start_mark.line + 1;
	e.col = (int)k->start_mark.column + 1;
	e.hash = key_hash(key, strlen(key));

	struct entry *first = table_find(r, key, strlen(key), e.hash);
	if (first)
		diag_error(d, s->file, e.line, e.col, "duplicate reply key '%s' (first defined at %s:%d:%d)",
		           key, first->file, first->line, first->col);

	int ok = 1;
	if (v->type == YAML_SEQUENCE_NODE) {
		int nv = yml_len(v);
		if (nv == 0) {
			yml_error(d, y, v, "reply '%s': empty list of variants", key);
			return;
		}
		if ((unsigned)nv > REPLY_VARIANTS_MAX) {
			yml_error(d, y, v, "reply '%s': %d variants, more than the limit of %u", key, nv,
			          REPLY_VARIANTS_MAX);
			return;
		}
		e.variants = xcalloc((size_t)nv, sizeof(*e.variants));
		for (int i = 0; i < nv; i++) {
			if (load_variant(d, s, y, yml_item(y, v, i), key, &e.variants[e.nvariants]) < 0)
				ok = 0;
			else
				e.vars |= e.variants[e.nvariants++].vars;
		}
	} else if (v->type == YAML_SCALAR_NODE) {
		e.variants = xcalloc(1, sizeof(*e.variants));
		if (load_variant(d, s, y, v, key, &e.variants[0]) < 0)
			ok = 0;
		else
			e.vars = e.variants[e.nvariants++].vars;
	} else {
		yml_error(d, y, v,
		          "reply '%s': expected a text or a list of texts, not a mapping "
		          "(write nested keys flat, like '%s.open: ...')",
		          key, key);
		return;
	}
	if (first || !ok) {
		entry_free(&e);
		return;
	}
	e.key = xstrdup(key);
	e.len = strlen(key);
	table_add(r, &e);
}

/* Read a whole file (at most YML_MAX_FILE bytes) into b; errors go to d. */
static int read_file(const char *path, struct buf *b, struct diag *d)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;

	if (!f) {
		diag_error(d, path, 0, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(b, chunk, n) < 0) {
			fclose(f);
			diag_error(d, path, 0, 0, "file is larger than %u bytes", YML_MAX_FILE);
			return -1;
		}
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		diag_error(d, path, 0, 0, "read error");
		return -1;
	}
	return 0;
}

static void load_file(struct replies *r, const char *path, struct diag *d)
{
	struct buf b;
	struct yml_doc y;
	struct src s;

	buf_init(&b, YML_MAX_FILE);
	if (read_file(path, &b, d) < 0) {
		buf_free(&b);
		return;
	}
	r->files = xrealloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
	s.file = r->files[r->nfiles++] = xstrdup(path);
	s.data = b.p ? b.p : "";
	s.len = b.len;
	if (yml_load_mem(&y, path, s.data, s.len, d) == 0) {
		yaml_node_t *root = yml_root(&y), *k, *v;
		if (root && root->type != YAML_MAPPING_NODE)
			yml_error(d, &y, root, "expected a mapping of reply keys to texts");
		for (int i = 0; root && yml_pair(&y, root, i, &k, &v); i++)
			load_pair(r, d, &s, &y, k, v);
	}
	yml_free(&y);
	buf_free(&b);
}

struct replies *replies_load(char *const *files, struct diag *d)
{
	struct replies *r = xcalloc(1, sizeof(*r));
	int errors = d->errors;

	for (size_t i = 0; files && files[i]; i++)
		load_file(r, files[i], d);
	if (d->errors > errors) {
		replies_free(r);
		return NULL;
	}
	build_stems(r);
	return r;
}

size_t replies_count(const struct replies *r)
{
	return r ? r->n : 0;
}

const char *replies_key(const struct replies *r, size_t i)
{
	return r && i < r->n ? r->entries[i].key : NULL;
}

int replies_has(const struct replies *r, const char *key)
{
	return find(r, key) != NULL;
}

const char *replies_pick(const struct replies *r, const char *base, const struct reply_want *w)
{
	static const char *const chain[][3] = {
	    [REPLY_OPEN] = {".open", "", NULL},
	    [REPLY_AFTER_HOURS] = {".after_hours", "", NULL},
	    [REPLY_HOLIDAY] = {".holiday", ".after_hours", ""},
	};
	static const char mood[] = ".negative";
	char k[REPLY_KEY_MAX + 1];
	size_t blen = strnlen(base, REPLY_KEY_MAX + 1);
	size_t chlen = w->channel ? strnlen(w->channel, REPLY_KEY_MAX + 1) : 0;
	/* only a channel some key names as a variant (never a state or mood) */
	int use_ch = chlen > 0 && chlen <= REPLY_KEY_MAX && is_stem(r, w->channel, chlen, WORD_SALT);

	if ((unsigned)w->state > REPLY_HOLIDAY || blen > REPLY_KEY_MAX)
		return NULL;
	memcpy(k, base, blen);
	for (int m = w->negative ? 0 : 1; m < 2; m++) {
		for (int c = use_ch ? 0 : 1; c < 2; c++) {
			size_t len = blen;
			if (m == 0) {
				if (len + sizeof(mood) - 1 > REPLY_KEY_MAX)
					continue;
				memcpy(k + len, mood, sizeof(mood) - 1);
				len += sizeof(mood) - 1;
			}
			if (c == 0) {
				if (len + 1 + chlen > REPLY_KEY_MAX)
					continue;
				k[len++] = '.';
				memcpy(k + len, w->channel, chlen);
				len += chlen;
			}
			if (len > blen && !is_stem(r, k, len, 0))
				continue;
			for (int i = 0; i < 3 && chain[w->state][i]; i++) {
				size_t slen = strlen(chain[w->state][i]);
				if (len + slen > REPLY_KEY_MAX)
					continue;
				memcpy(k + len, chain[w->state][i], slen);
				struct entry *e = table_find(r, k, len + slen, key_hash(k, len + slen));
				if (e)
					return e->key;
			}
		}
	}
	return NULL;
}

const char *replies_resolve(const struct replies *r, const char *base, enum reply_state st)
{
	const struct reply_want w = {st, NULL, 0};
	return replies_pick(r, base, &w);
}

int replies_has_variant(const struct replies *r, const char *base, const char *word)
{
	char k[REPLY_KEY_MAX + 1];
	size_t blen = strnlen(base, REPLY_KEY_MAX + 1), wlen = strnlen(word, REPLY_KEY_MAX + 1);

	if (blen + 1 + wlen > REPLY_KEY_MAX)
		return 0;
	memcpy(k, base, blen);
	k[blen] = '.';
	memcpy(k + blen + 1, word, wlen);
	return is_stem(r, k, blen + 1 + wlen, 0);
}

/* splitmix64's finalizer: spreads a seed (an FNV hash of a post id, whose
 * low bits are weak) before it is reduced to a variant index. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

int replies_render(const struct replies *r, const char *key, uint64_t seed, const struct reply_vars *v,
                   struct buf *out)
{
	const struct entry *e = find(r, key);

	if (!e)
		return -1;
	/* Multiply-shift maps the mixed seed's top 32 bits onto the variants
	 * evenly, without a division. */
	unsigned i = (unsigned)(((mix64(seed) >> 32) * e->nvariants) >> 32);
	return tmpl_render(&e->variants[i], v, out);
}

unsigned replies_vars_used(const struct replies *r, const char *key)
{
	const struct entry *e = find(r, key);
	return e ? e->vars : 0;
}
