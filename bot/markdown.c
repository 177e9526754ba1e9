/*
 * markdown.c - Markdown to plain text (see markdown.h).
 *
 * One pass over the input, line by line: line-start constructs first, then
 * inline ones.  The scan stops at the first line that reaches the caller's
 * limit, and the output is cut there at a character boundary.
 */
#include "markdown.h"

#include <string.h>

#include "util.h"

/* How far a construct may reach: beyond these, its opening marker is text.
 * They keep the scan linear in practice and the recursion shallow. */
#define SPAN_MAX  1000 /* link text, emphasis, inline code */
#define URL_MAX   2048
#define DEPTH_MAX 4 /* nested link text / emphasis */

static int is_punct(unsigned char c)
{
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
	       (c >= '{' && c <= '~');
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Can a single `m` (* or _) at s[i] open emphasis that closes on this line?
 * Returns the index of the closing marker, or 0. */
static size_t single_close(const char *s, size_t i, size_t end, char m)
{
	if (i > 0 && !is_space((unsigned char)s[i - 1]) && !is_punct((unsigned char)s[i - 1]))
		return 0;
	if (i + 1 >= end || is_space((unsigned char)s[i + 1]) || s[i + 1] == m)
		return 0;
	if (end - i > SPAN_MAX)
		end = i + SPAN_MAX;
	for (size_t k = i + 2; k < end; k++) {
		if (s[k] == '\n')
			return 0;
		if (s[k] == m && !is_space((unsigned char)s[k - 1]) &&
		    (k + 1 >= end || is_space((unsigned char)s[k + 1]) ||
		     is_punct((unsigned char)s[k + 1])) &&
		    (k + 1 >= end || s[k + 1] != m))
			return k;
	}
	return 0;
}

/* A link or image at s[i] ('[' or "!["): fills text and url spans and
 * returns the index after ')', or 0 when it is not one. */
static size_t link_at(const char *s, size_t i, size_t end, size_t *ts, size_t *te, size_t *us, size_t *ue)
{
	size_t k = i + (s[i] == '!' ? 2 : 1);
	size_t lim = end - k > SPAN_MAX ? k + SPAN_MAX : end;
	*ts = k;
	int depth = 0;
	for (; k < lim && s[k] != '\n'; k++) {
		if (s[k] == '\\' && k + 1 < end) {
			k++;
			continue;
		}
		if (s[k] == '[')
			depth++;
		else if (s[k] == ']' && depth-- == 0)
			break;
	}
	if (k >= lim || s[k] != ']' || k + 1 >= end || s[k + 1] != '(')
		return 0;
	*te = k;
	k += 2;
	lim = end - k > URL_MAX ? k + URL_MAX : end;
	while (k < lim && s[k] == ' ')
		k++;
	*us = k;
	while (k < lim && s[k] != ')' && !is_space((unsigned char)s[k]))
		k++;
	*ue = k;
	while (k < lim && s[k] != ')' && s[k] != '\n')
		k++; /* an optional "title" */
	if (k >= end || s[k] != ')' || *ue == *us)
		return 0;
	return k + 1;
}

static void inline_text(struct buf *b, const char *s, size_t start, size_t end, int depth);

static void put_link(struct buf *b, const char *s, size_t ts, size_t te, size_t us, size_t ue, int depth)
{
	size_t tl = te - ts, ul = ue - us;
	if (tl == 0 || (tl == ul && memcmp(s + ts, s + us, tl) == 0)) {
		buf_append(b, s + us, ul);
		return;
	}
	inline_text(b, s, ts, te, depth + 1);
	buf_puts(b, " (");
	buf_append(b, s + us, ul);
	buf_putc(b, ')');
}

/* The inline constructs of s[start, end). */
static void inline_text(struct buf *b, const char *s, size_t start, size_t end, int depth)
{
	if (depth > DEPTH_MAX) {
		buf_append(b, s + start, end - start);
		return;
	}
	for (size_t i = start; i < end;) {
		char c = s[i];
		size_t ts, te, us, ue, next;
		if (c == '\\' && i + 1 < end && is_punct((unsigned char)s[i + 1])) {
			buf_putc(b, s[i + 1]);
			i += 2;
		} else if ((c == '[' || (c == '!' && i + 1 < end && s[i + 1] == '[')) &&
		           (next = link_at(s, i, end, &ts, &te, &us, &ue)) != 0) {
			put_link(b, s, ts, te, us, ue, depth);
			i = next;
		} else if (c == '`') {
			size_t n = 0;
			while (i + n < end && s[i + n] == '`')
				n++;
			/* The matching run of n backticks, else the run is text. */
			const char *close = NULL;
			size_t lim = end - i > SPAN_MAX ? i + SPAN_MAX : end;
			for (size_t k = i + n; k + n <= lim; k++) {
				if (s[k] == '`') {
					size_t m = 0;
					while (k + m < end && s[k + m] == '`')
						m++;
					if (m == n) {
						close = s + k;
						break;
					}
					k += m - 1;
				}
			}
			if (close) {
				buf_append(b, s + i + n, (size_t)(close - (s + i + n)));
				i = (size_t)(close - s) + n;
			} else {
				buf_append(b, s + i, n);
				i += n;
			}
		} else if ((c == '*' || c == '_' || c == '~') && i + 1 < end && s[i + 1] == c) {
			i += 2; /* **, __, ~~: markers only */
		} else if ((c == '*' || c == '_') && single_close(s, i, end, c)) {
			size_t k = single_close(s, i, end, c);
			inline_text(b, s, i + 1, k, depth + 1);
			i = k + 1;
		} else {
			buf_putc(b, c);
			i++;
		}
	}
}

char *markdown_text(const char *md, size_t len, size_t max_bytes)
{
	struct buf b;
	/* The output is never longer than the input plus a few bytes a link;
	 * the loop stops once the limit is reached, and the end is cut at a
	 * character boundary below. */
	buf_init(&b, 0);
	buf_puts(&b, "");
	int fence = 0;
	for (size_t i = 0; md && i < len && (!max_bytes || b.len < max_bytes);) {
		const char *nl = memchr(md + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - md) : len;
		size_t k = i;
		while (k < end && k - i < 3 && md[k] == ' ')
			k++;
		if (end - k >= 3 && (memcmp(md + k, "```", 3) == 0 || memcmp(md + k, "~~~", 3) == 0)) {
			fence = !fence; /* the fence line itself (and its language) goes */
		} else if (fence) {
			buf_append(&b, md + i, end - i);
			buf_putc(&b, '\n');
		} else {
			size_t h = k;
			while (h < end && h - k < 6 && md[h] == '#')
				h++;
			if (h > k && (h == end || md[h] == ' '))
				k = h < end ? h + 1 : h;
			while (k < end && md[k] == '>') {
				k++;
				if (k < end && md[k] == ' ')
					k++;
			}
			if (end - k >= 2 && (md[k] == '*' || md[k] == '+' || md[k] == '-') &&
			    md[k + 1] == ' ' && !(end - k >= 3 && md[k] == '*' && md[k + 2] == '*')) {
				buf_puts(&b, "- ");
				k += 2;
			}
			inline_text(&b, md, k, end, 0);
			buf_putc(&b, '\n');
		}
		i = nl ? end + 1 : len;
	}
	/* No trailing line break of our own; cut to the limit. */
	while (b.len > 0 && b.p[b.len - 1] == '\n')
		b.p[--b.len] = '\0';
	if (max_bytes && b.len > max_bytes) {
		size_t m = max_bytes;
		while (m > 0 && ((unsigned char)b.p[m] & 0xC0) == 0x80)
			m--;
		b.p[m] = '\0';
		b.len = m;
	}
	char *r = buf_steal(&b);
	return r ? r : xstrdup("");
}
