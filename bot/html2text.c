/*
 * html2text.c - status HTML to plain text (see html2text.h).
 *
 * One pass over the input.  Visible text is appended to the output; white
 * space and line breaks asked for by the markup are kept "pending" and
 * only written before the next visible character, so markup at the start
 * or end of the document never leaves blank lines or spaces behind.
 */
#include "html2text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define MAX_TAG_NAME 16
#define MAX_ATTR     2048 /* longer attribute values are ignored */

struct h2t {
	struct buf out;
	int pre;     /* <pre> depth: white space is kept as it is */
	int need_nl; /* line breaks owed before the next text (0..2) */
	int space;   /* a collapsed space is owed before the next text */
	int in_link;
	int link_mention; /* the link is a mention or a hashtag */
	int link_started; /* link text begun: link_start is valid */
	size_t link_start;
	char *href; /* http(s) target of the open link, or NULL */
};

static const struct {
	const char *name;
	uint32_t cp;
} named[] = {
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", ' '},     {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201C},  {"rdquo", 0x201D}, {"laquo", 0xAB},   {"raquo", 0xBB},
    {"copy", 0xA9},    {"reg", 0xAE},      {"trade", 0x2122}, {"euro", 0x20AC},  {"pound", 0xA3},
    {"yen", 0xA5},     {"cent", 0xA2},     {"deg", 0xB0},     {"times", 0xD7},   {"middot", 0xB7},
    {"bull", 0x2022},  {"shy", 0xAD},      {"zwj", 0x200D},   {"zwnj", 0x200C},
};

static size_t utf8_put(uint32_t cp, char *o)
{
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

size_t html2text_entity(const char *s, size_t n, char *out, size_t *out_len)
{
	size_t i = 1;
	uint32_t cp = 0;

	if (n < 3 || s[0] != '&')
		return 0;
	if (s[1] == '#') {
		int hex = n > 2 && (s[2] == 'x' || s[2] == 'X');
		size_t digits = 0;
		i = hex ? 3 : 2;
		for (; i < n && digits < 8; i++, digits++) {
			int v = hex ? hex_val(s[i]) : (is_digit(s[i]) ? s[i] - '0' : -1);
			if (v < 0)
				break;
			cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
		}
		if (digits == 0 || i >= n || s[i] != ';')
			return 0;
		*out_len = utf8_put(cp > 0x10FFFF ? 0xFFFD : cp, out);
		return i + 1;
	}
	while (i < n && i <= 8 && (is_alpha(s[i]) || is_digit(s[i])))
		i++;
	if (i >= n || s[i] != ';' || i == 1)
		return 0;
	for (size_t k = 0; k < ARRAY_LEN(named); k++) {
		if (strlen(named[k].name) == i - 1 && memcmp(named[k].name, s + 1, i - 1) == 0) {
			*out_len = utf8_put(named[k].cp, out);
			return i + 1;
		}
	}
	return 0;
}

/* Drop trailing spaces of the output (before a line break or at the end). */
static void trim_spaces(struct h2t *h)
{
	while (h->out.len && h->out.p[h->out.len - 1] == ' ')
		h->out.p[--h->out.len] = '\0';
}

static void put_newline(struct h2t *h)
{
	trim_spaces(h);
	if (h->out.len >= 2 && h->out.p[h->out.len - 1] == '\n' && h->out.p[h->out.len - 2] == '\n')
		return; /* never more than one blank line */
	buf_putc(&h->out, '\n');
}

/* Write the separators owed before visible text. */
static void flush(struct h2t *h)
{
	if (h->out.len == 0) {
		h->need_nl = 0;
		h->space = 0;
		return;
	}
	if (h->need_nl) {
		int have = 0;
		trim_spaces(h);
		for (size_t i = h->out.len; i > 0 && have < 2 && h->out.p[i - 1] == '\n'; i--)
			have++;
		for (; have < h->need_nl; have++)
			put_newline(h);
	} else if (h->space && h->out.p[h->out.len - 1] != '\n' && h->out.p[h->out.len - 1] != ' ') {
		buf_putc(&h->out, ' ');
	}
	h->need_nl = 0;
	h->space = 0;
}

static void text(struct h2t *h, const char *p, size_t n)
{
	flush(h);
	if (h->in_link && !h->link_started) {
		h->link_started = 1;
		h->link_start = h->out.len;
	}
	buf_append(&h->out, p, n);
}

static void need(struct h2t *h, int lines)
{
	if (h->need_nl < lines)
		h->need_nl = lines;
}

/* The value of attribute `name` in the attribute text of a tag, entities
 * decoded, or NULL (malloc'd). */
static char *attr_get(const char *a, size_t n, const char *name)
{
	size_t i = 0, nl = strlen(name);
	while (i < n) {
		while (i < n && (is_space(a[i]) || a[i] == '/'))
			i++;
		size_t ks = i;
		while (i < n && !is_space(a[i]) && a[i] != '=' && a[i] != '>' && a[i] != '/')
			i++;
		size_t kl = i - ks;
		while (i < n && is_space(a[i]))
			i++;
		const char *v = NULL;
		size_t vl = 0;
		if (i < n && a[i] == '=') {
			i++;
			while (i < n && is_space(a[i]))
				i++;
			if (i < n && (a[i] == '"' || a[i] == '\'')) {
				char q = a[i++];
				v = a + i;
				while (i < n && a[i] != q)
					i++;
				vl = (size_t)(a + i - v);
				if (i < n)
					i++;
			} else {
				v = a + i;
				while (i < n && !is_space(a[i]))
					i++;
				vl = (size_t)(a + i - v);
			}
		}
		if (kl == 0 && !v) {
			i++;
			continue;
		}
		if (kl == nl && strncasecmp(a + ks, name, nl) == 0 && v && vl <= MAX_ATTR) {
			struct buf b;
			buf_init(&b, 0);
			for (size_t k = 0; k < vl;) {
				char enc[8];
				size_t el = 0,
				       used = v[k] == '&' ? html2text_entity(v + k, vl - k, enc, &el) : 0;
				if (used) {
					buf_append(&b, enc, el);
					k += used;
				} else {
					buf_putc(&b, v[k++]);
				}
			}
			if (!b.p)
				buf_puts(&b, "");
			return buf_steal(&b);
		}
	}
	return NULL;
}

/* Does the space-separated class list contain `word`? */
static int has_class(const char *classes, const char *word)
{
	size_t wl = strlen(word);
	if (!classes)
		return 0;
	for (const char *p = classes; *p;) {
		while (*p && is_space(*p))
			p++;
		const char *s = p;
		while (*p && !is_space(*p))
			p++;
		if ((size_t)(p - s) == wl && strncmp(s, word, wl) == 0)
			return 1;
	}
	return 0;
}

static int safe_url(const char *u)
{
	if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= ' ' || *p == 0x7F)
			return 0;
	return 1;
}

/* The address without its scheme, for comparing with a link's text. */
static const char *strip_scheme(const char *u)
{
	if (strncasecmp(u, "https://", 8) == 0)
		return u + 8;
	if (strncasecmp(u, "http://", 7) == 0)
		return u + 7;
	return u;
}

/* Is the visible text of a link just its address, possibly cut short
 * ("example.com/long…")? */
static int text_is_address(const char *t, size_t n, const char *href)
{
	static const char ell[] = "\xE2\x80\xA6"; /* … */
	if (n >= 3 && memcmp(t + n - 3, ell, 3) == 0)
		n -= 3;
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (t[i] == ' ' || t[i] == '\n')
			return 0;
	const char *bare = strip_scheme(href);
	char *tt = xstrndup(t, n);
	const char *tb = strip_scheme(tt);
	int same = strncasecmp(tt, "http", 4) == 0 || strstr(bare, tb) != NULL;
	free(tt);
	return same;
}

static void link_open(struct h2t *h, const char *attrs, size_t n)
{
	if (h->in_link)
		return;
	char *href = attr_get(attrs, n, "href");
	char *cls = attr_get(attrs, n, "class");
	h->in_link = 1;
	h->link_started = 0;
	h->link_mention = has_class(cls, "mention") || has_class(cls, "hashtag");
	h->href = href && safe_url(href) ? href : NULL;
	if (!h->href)
		free(href);
	free(cls);
}

static void link_close(struct h2t *h)
{
	if (!h->in_link)
		return;
	if (h->href && !h->link_mention) {
		size_t start = h->link_started ? h->link_start : h->out.len;
		const char *t = h->out.p ? h->out.p + start : "";
		size_t n = h->out.len - start;
		if (text_is_address(t, n, h->href)) {
			h->out.len = start;
			if (h->out.p)
				h->out.p[start] = '\0';
			text(h, h->href, strlen(h->href));
		} else {
			buf_puts(&h->out, " (");
			buf_puts(&h->out, h->href);
			buf_putc(&h->out, ')');
		}
	}
	free(h->href);
	h->href = NULL;
	h->in_link = 0;
	h->link_started = 0;
}

static int name_is(const char *name, const char *want)
{
	return strcmp(name, want) == 0;
}

static int is_block(const char *name)
{
	static const char *const blocks[] = {"p",     "div", "blockquote", "ul",     "ol", "pre",
	                                     "h1",    "h2",  "h3",         "h4",     "h5", "h6",
	                                     "table", "tr",  "hr",         "section"};
	for (size_t i = 0; i < ARRAY_LEN(blocks); i++)
		if (name_is(name, blocks[i]))
			return 1;
	return 0;
}

/* Skip past the end tag `</name` (case-insensitive) from s[i]; returns the
 * index after its '>' or n. */
static size_t skip_element(const char *s, size_t n, size_t i, const char *name)
{
	size_t nl = strlen(name);
	for (; i + 2 + nl <= n; i++) {
		if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, nl) == 0) {
			const char *gt = memchr(s + i, '>', n - i);
			return gt ? (size_t)(gt - s) + 1 : n;
		}
	}
	return n;
}

/*
 * A tag starting at s[i] == '<'.  Returns the index after it, or 0 when
 * this '<' does not start markup (it is then text).
 */
static size_t tag(struct h2t *h, const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j >= n)
		return 0;
	if (s[j] == '!' || s[j] == '?') {
		if (n - j >= 3 && s[j] == '!' && s[j + 1] == '-' && s[j + 2] == '-') {
			for (size_t k = j + 3; k + 2 < n; k++)
				if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>')
					return k + 3;
			return n;
		}
		const char *gt = memchr(s + j, '>', n - j);
		return gt ? (size_t)(gt - s) + 1 : n;
	}
	int closing = s[j] == '/';
	if (closing)
		j++;
	if (j >= n || !is_alpha(s[j]))
		return 0;
	char name[MAX_TAG_NAME + 1];
	size_t nl = 0;
	while (j < n && (is_alpha(s[j]) || is_digit(s[j]))) {
		if (nl < MAX_TAG_NAME)
			name[nl++] = (char)(s[j] | 0x20);
		j++;
	}
	name[nl] = '\0';
	/* The end of the tag: the first '>' outside quotes. */
	size_t a = j;
	char q = 0;
	for (; j < n; j++) {
		if (q) {
			if (s[j] == q)
				q = 0;
		} else if (s[j] == '"' || s[j] == '\'') {
			q = s[j];
		} else if (s[j] == '>') {
			break;
		}
	}
	if (j >= n)
		return 0;
	size_t end = j + 1;

	if (!closing && (name_is(name, "script") || name_is(name, "style")))
		return skip_element(s, n, end, name);
	if (name_is(name, "br")) {
		if (h->out.len) {
			put_newline(h);
			h->space = 0;
		}
	} else if (name_is(name, "a")) {
		if (closing)
			link_close(h);
		else
			link_open(h, s + a, j - a);
	} else if (name_is(name, "li")) {
		if (!closing) {
			need(h, 1);
			text(h, "- ", 2);
		} else {
			need(h, 1);
		}
	} else if (is_block(name)) {
		need(h, 2);
		if (name_is(name, "pre"))
			h->pre += closing ? (h->pre > 0 ? -1 : 0) : 1;
	}
	return end;
}

char *html2text(const char *s, size_t n, size_t max_bytes)
{
	struct h2t h;
	memset(&h, 0, sizeof(h));
	buf_init(&h.out, 0);

	for (size_t i = 0; i < n && (!max_bytes || h.out.len < max_bytes);) {
		char c = s[i];
		if (c == '<') {
			size_t next = tag(&h, s, n, i);
			if (next) {
				i = next;
				continue;
			}
			text(&h, "<", 1);
			i++;
		} else if (c == '&') {
			char enc[8];
			size_t el = 0, used = html2text_entity(s + i, n - i, enc, &el);
			if (used) {
				if (el == 1 && enc[0] == ' ' && !h.pre)
					h.space = 1;
				else
					text(&h, enc, el);
				i += used;
			} else {
				text(&h, "&", 1);
				i++;
			}
		} else if (is_space(c) && !h.pre) {
			h.space = 1;
			i++;
		} else if (c == '\0') {
			i++;
		} else if (h.pre && (c == '\n' || c == '\r')) {
			if (c == '\n')
				put_newline(&h);
			i++;
		} else {
			/* A run of plain bytes up to the next markup or space. */
			size_t k = i + 1;
			while (k < n && s[k] != '<' && s[k] != '&' && s[k] != '\0' && !is_space(s[k]))
				k++;
			text(&h, s + i, k - i);
			i = k;
		}
	}
	link_close(&h);
	/* Cut to the limit at a character boundary, then trim the end. */
	if (max_bytes && h.out.len > max_bytes) {
		size_t k = max_bytes;
		while (k > 0 && ((unsigned char)h.out.p[k] & 0xC0) == 0x80)
			k--;
		h.out.len = k;
		h.out.p[k] = '\0';
	}
	while (h.out.len && is_space(h.out.p[h.out.len - 1]))
		h.out.p[--h.out.len] = '\0';
	if (!h.out.p)
		buf_puts(&h.out, "");
	return buf_steal(&h.out);
}
