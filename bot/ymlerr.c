/*
 * ymlerr.c - libyaml syntax errors translated into what to fix.
 *
 * One function per kind of mistake, each returning 1 when it recognised
 * the error and reported it, 0 to let the next one try; the raw libyaml
 * message is the last resort.  The text is scanned again with libyaml's
 * token API to learn what came just before the failure (a quoted scalar
 * that ran over several lines, the plain scalar a ':' landed in).
 */
#include "ymlerr.h"

#include <stdio.h>
#include <string.h>

/* Where libyaml gave up, and what it had read just before. */
struct failure {
	struct diag *d;
	const char *file, *data;
	size_t len;
	const char *problem, *context;
	yaml_mark_t at, ctx; /* problem and context marks (0-based line / column) */
	int has_ctx;
	/* From the second scan: the last token that starts before `at`, the
	 * first one at or after it, and the last quoted scalar (before `at`)
	 * that spans more than one line. */
	yaml_token_type_t last_type, next_type;
	yaml_mark_t last_start, last_end;
	int last_quoted, has_last, has_next;
	yaml_mark_t mlq_start, mlq_end;
	int has_mlq;
};

static int mark_before(yaml_mark_t a, yaml_mark_t b)
{
	return a.line < b.line || (a.line == b.line && a.column < b.column);
}

/* The bytes of 0-based line `line` (without its line break); NULL past the end. */
static const char *line_at(const struct failure *f, size_t line, size_t *n)
{
	const char *p = f->data, *end = f->data + f->len;
	for (size_t l = 0; l < line; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return NULL;
		p = nl + 1;
	}
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	*n = (size_t)((nl ? nl : end) - p);
	if (*n && p[*n - 1] == '\r')
		(*n)--;
	return p;
}

/* Byte offset in its line of 0-based character column `col` (UTF-8). */
static size_t col_byte(const char *line, size_t n, size_t col)
{
	size_t i = 0;
	for (size_t c = 0; c < col && i < n; c++) {
		i++;
		while (i < n && ((unsigned char)line[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

/* The character at a mark, or 0 when it is not an ASCII one. */
static char char_at(const struct failure *f, yaml_mark_t m)
{
	size_t n;
	const char *l = line_at(f, m.line, &n);
	if (!l)
		return 0;
	size_t i = col_byte(l, n, m.column);
	return i < n && (unsigned char)l[i] < 0x80 ? l[i] : 0;
}

/* Spaces (and tabs) before the first other character of a line. */
static size_t indent_of(const char *l, size_t n)
{
	size_t i = 0;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return i;
}

static void say(const struct failure *f, size_t line, size_t col, const char *fmt, ...) FD_PRINTF(4, 5);

static void say(const struct failure *f, size_t line, size_t col, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_error(f->d, f->file, (int)line + 1, (int)col + 1, "%s", msg);
}

/* Scan the text again up to the failure, remembering what came before it. */
static void rescan(struct failure *f)
{
	yaml_parser_t p;
	yaml_token_t t;

	if (!yaml_parser_initialize(&p))
		return;
	yaml_parser_set_input_string(&p, (const unsigned char *)f->data, f->len);
	for (;;) {
		if (!yaml_parser_scan(&p, &t))
			break;
		yaml_token_type_t type = t.type;
		if (type == YAML_STREAM_END_TOKEN || type == YAML_NO_TOKEN) {
			yaml_token_delete(&t);
			break;
		}
		if (!mark_before(t.start_mark, f->at)) {
			f->next_type = type;
			f->has_next = 1;
			yaml_token_delete(&t);
			break;
		}
		if (type != YAML_BLOCK_END_TOKEN) {
			f->last_type = type;
			f->last_start = t.start_mark;
			f->last_end = t.end_mark;
			f->last_quoted = type == YAML_SCALAR_TOKEN &&
			                 (t.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			                  t.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
			f->has_last = 1;
			if (f->last_quoted && t.start_mark.line < t.end_mark.line) {
				f->mlq_start = t.start_mark;
				f->mlq_end = t.end_mark;
				f->has_mlq = 1;
			}
		}
		yaml_token_delete(&t);
	}
	yaml_parser_delete(&p);
}

/* ---- one function per mistake ------------------------------------------ */

/* A tab where YAML wants spaces: in the indentation of the failing line. */
static int tab_indent(const struct failure *f)
{
	size_t n;
	const char *l = line_at(f, f->at.line, &n);
	if (!l)
		return 0;
	size_t ind = indent_of(l, n);
	const char *tab = memchr(l, '\t', ind);
	if (!tab && char_at(f, f->at) != '\t' && !strstr(f->problem, "tab character"))
		return 0;
	size_t col = tab ? (size_t)(tab - l) : f->at.column;
	say(f, f->at.line, col, "use spaces, not tabs, to indent (YAML does not allow a tab here)");
	return 1;
}

/* A quote that runs to the end of the file. */
static int quote_to_eof(const struct failure *f)
{
	if (!f->has_ctx || strcmp(f->context, "while scanning a quoted scalar") != 0 ||
	    !strstr(f->problem, "end of stream"))
		return 0;
	char q = char_at(f, f->ctx) == '\'' ? '\'' : '"';
	say(f, f->ctx.line, f->ctx.column,
	    "a quote (%c) opened here is never closed: end the value with %c on this line", q, q);
	return 1;
}

/* A quote not closed on its line: YAML read on to the next quote, lines
 * below, and failed there. */
static int quote_runs_on(const struct failure *f)
{
	if (!f->has_mlq || f->mlq_end.line + 1 < f->at.line || f->mlq_end.line > f->at.line)
		return 0;
	char q = char_at(f, f->mlq_start) == '\'' ? '\'' : '"';
	say(f, f->mlq_start.line, f->mlq_start.column,
	    "a quote (%c) opened here is never closed on this line, so YAML read on to line %zu "
	    "looking for its end: close it with %c",
	    q, (size_t)f->mlq_end.line + 1, q);
	return 1;
}

/* `name: Acme: Bakery`, or a line indented deeper than the key above it. */
static int colon_in_value(const struct failure *f)
{
	if (strcmp(f->problem, "mapping values are not allowed in this context") != 0)
		return 0;
	size_t n;
	const char *l = line_at(f, f->at.line, &n);
	if (!l)
		return 0;
	if (f->has_last && f->last_type == YAML_SCALAR_TOKEN && f->last_start.line < f->at.line) {
		say(f, f->at.line, indent_of(l, n),
		    "this line is indented more than the line above it, so YAML reads it as more of "
		    "the value on line %zu: indent it like the keys around it",
		    (size_t)f->last_start.line + 1);
		return 1;
	}
	if (!f->has_last || f->last_type != YAML_SCALAR_TOKEN || f->last_start.line != f->at.line) {
		say(f, f->at.line, f->at.column, "quote a value that contains ': ' (a colon and a space)");
		return 1;
	}
	/* Show the line as it should be: key: "value". */
	size_t vs = col_byte(l, n, f->last_start.column), ve = n;
	const char *hash = NULL;
	for (size_t i = vs; i + 1 < n; i++)
		if (l[i] == ' ' && l[i + 1] == '#') {
			hash = l + i;
			break;
		}
	if (hash)
		ve = (size_t)(hash - l);
	while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
		ve--;
	size_t ks = indent_of(l, n);
	char q = memchr(l + vs, '"', ve - vs) ? '\'' : '"';
	if (ve - vs > 80 || vs - ks > 60 || memchr(l + vs, '\'', ve - vs))
		say(f, f->last_start.line, f->last_start.column,
		    "quote a value that contains ': ' (a colon and a space), like key: \"a: b\"");
	else
		say(f, f->last_start.line, f->last_start.column,
		    "quote a value that contains ': ' (a colon and a space): %.*s%c%.*s%c", (int)(vs - ks),
		    l + ks, q, (int)(ve - vs), l + vs, q);
	return 1;
}

/* Characters YAML reserves at the start of a value. */
static int reserved_start(const struct failure *f)
{
	static const struct {
		const char *context;
		const char *meaning;
	} kinds[] = {
	    {"while scanning an alias", "YAML reads it as a reference to another value"},
	    {"while scanning an anchor", "YAML reads it as a name for this value"},
	    {"while scanning a tag", "YAML reads it as a type"},
	};
	yaml_mark_t m = f->at;
	const char *meaning = NULL;
	if (strcmp(f->problem, "found character that cannot start any token") == 0) {
		meaning = "YAML reserves it";
	} else if (strcmp(f->problem, "found undefined alias") == 0) {
		meaning = "YAML reads it as a reference to another value";
	} else {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && f->has_ctx; i++)
			if (strcmp(f->context, kinds[i].context) == 0) {
				meaning = kinds[i].meaning;
				m = f->ctx;
			}
	}
	if (!meaning)
		return 0;
	char c = char_at(f, m);
	if (c > ' ' && c != '"' && c != '\'')
		say(f, m.line, m.column, "a value cannot start with '%c' (%s): put the whole value in quotes",
		    c, meaning);
	else
		say(f, m.line, m.column, "this value cannot be read as it is: put the whole value in quotes");
	return 1;
}

/* `name: "Acme" Bakery`, `'Sam's'`, `["a", "b"c"]`: text right after a closing quote. */
static int text_after_quote(const struct failure *f)
{
	if (!f->has_last || !f->last_quoted || f->last_end.line != f->at.line ||
	    f->at.column < f->last_end.column || !strstr(f->problem, "did not find expected"))
		return 0;
	char c = char_at(f, f->at);
	if (c && strchr(",]}:#", c))
		return 0;
	yaml_mark_t close = f->last_end;
	close.column--;
	if (char_at(f, close) == '\'' && f->at.column == f->last_end.column) {
		say(f, f->at.line, f->at.column,
		    "an apostrophe inside '...' ends the quote: write it twice ('Sam''s') or use double "
		    "quotes (\"Sam's\")");
		return 1;
	}
	if (char_at(f, close) == '"' && f->at.column == f->last_end.column) {
		say(f, f->at.line, f->at.column,
		    "a double quote inside \"...\" ends the value: write it as \\\" or put the value in "
		    "single quotes");
		return 1;
	}
	say(f, f->at.line, f->at.column,
	    "text after the closing quote: put the whole value inside the quotes");
	return 1;
}

/* `{ ...` or `[ ...` never closed. */
static int flow_unclosed(const struct failure *f)
{
	int map = f->has_ctx && strcmp(f->context, "while parsing a flow mapping") == 0;
	int seq = f->has_ctx && strcmp(f->context, "while parsing a flow sequence") == 0;
	if (!map && !seq)
		return 0;
	say(f, f->ctx.line, f->ctx.column,
	    "the '%c' opened here is never closed: end it with '%c' (and separate its "
	    "items with ',')",
	    map ? '{' : '[', map ? '}' : ']');
	return 1;
}

/* `timezone Europe/London`: a key without its ':'. */
static int missing_colon(const struct failure *f)
{
	if (!f->has_ctx || strcmp(f->context, "while scanning a simple key") != 0)
		return 0;
	say(f, f->ctx.line, f->ctx.column, "a ':' is missing after the key: write 'key: value'");
	return 1;
}

/* `\q` in double quotes. */
static int bad_escape(const struct failure *f)
{
	if (strcmp(f->problem, "found unknown escape character") != 0)
		return 0;
	say(f, f->at.line, f->at.column,
	    "a backslash in double quotes starts an escape like \\n: write \\\\ for a backslash, or use "
	    "single quotes ('C:\\dir')");
	return 1;
}

/* The parser wanted the next key (or list item) of a block and found
 * something else: a stray '- ', text after a quote, or an indent that
 * lines up with nothing. */
static int block_misfit(const struct failure *f)
{
	int map = strcmp(f->problem, "did not find expected key") == 0;
	int seq = strcmp(f->problem, "did not find expected '-' indicator") == 0;
	if (!map && !seq)
		return 0;
	if (map && f->has_next && f->next_type == YAML_BLOCK_ENTRY_TOKEN) {
		say(f, f->at.line, f->at.column,
		    "a list item ('- ') where a key was expected: indent it under the key it belongs "
		    "to, or remove the '- '");
		return 1;
	}
	char c = char_at(f, f->at);
	if (c == '}' || c == ']') {
		say(f, f->at.line, f->at.column, "this '%c' closes nothing opened before it: remove it", c);
		return 1;
	}
	size_t n, pn = 0;
	const char *l = line_at(f, f->at.line, &n);
	if (!l || !f->has_ctx || f->at.column == f->ctx.column || indent_of(l, n) != f->at.column)
		return 0;
	/* The nearest line above with content: the keys this one was meant to join. */
	size_t pl = f->at.line, pind = 0;
	const char *p = NULL;
	while (pl > 0 && !p) {
		p = line_at(f, --pl, &pn);
		size_t i = p ? indent_of(p, pn) : 0;
		if (p && (i == pn || p[i] == '#'))
			p = NULL;
		else if (p)
			pind = i;
	}
	if (p && pl != f->ctx.line && pind != f->ctx.column)
		say(f, f->at.line, f->at.column,
		    "this line is indented %zu space%s, which lines up with no %s above it: indent it like "
		    "the ones it belongs with (%zu on line %zu, or %zu on line %zu)",
		    (size_t)f->at.column, f->at.column == 1 ? "" : "s", map ? "key" : "list item", pind,
		    pl + 1, (size_t)f->ctx.column, (size_t)f->ctx.line + 1);
	else
		say(f, f->at.line, f->at.column,
		    "this line is indented %zu space%s, which lines up with no %s above it: indent it like "
		    "the ones it belongs with (%zu on line %zu)",
		    (size_t)f->at.column, f->at.column == 1 ? "" : "s", map ? "key" : "list item",
		    (size_t)f->ctx.column, (size_t)f->ctx.line + 1);
	return 1;
	return 0;
}

void ymlerr_report(struct diag *d, const char *file, const char *data, size_t len,
                   const yaml_parser_t *failed)
{
	struct failure f;
	static int (*const explain[])(const struct failure *) = {
	    tab_indent,       quote_to_eof,  quote_runs_on, colon_in_value, reserved_start,
	    text_after_quote, flow_unclosed, missing_colon, bad_escape,     block_misfit,
	};

	memset(&f, 0, sizeof(f));
	f.d = d;
	f.file = file;
	f.data = data ? data : "";
	f.len = data ? len : 0;
	f.problem = failed->problem ? failed->problem : "invalid YAML";
	f.context = failed->context ? failed->context : "";
	f.at = failed->problem_mark;
	f.ctx = failed->context_mark;
	f.has_ctx = failed->context != NULL;
	if (failed->error == YAML_READER_ERROR) {
		diag_error(d, file, 0, 0, "%s at byte %zu (the file must be UTF-8 text)", f.problem,
		           failed->problem_offset);
		return;
	}
	if (failed->error == YAML_MEMORY_ERROR) {
		diag_error(d, file, 0, 0, "out of memory while reading YAML");
		return;
	}
	rescan(&f);
	for (size_t i = 0; i < sizeof(explain) / sizeof(explain[0]); i++)
		if (explain[i](&f))
			return;
	if (f.has_ctx)
		say(&f, f.at.line, f.at.column, "%s %s", f.context, f.problem);
	else
		say(&f, f.at.line, f.at.column, "%s", f.problem);
}
