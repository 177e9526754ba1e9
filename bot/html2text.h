/*
 * html2text.h - the HTML of a fediverse status (Mastodon, Pleroma, Akkoma,
 * GoToSocial) as the plain UTF-8 text the pipeline reads and the dashboard
 * shows.
 *
 * Servers send sanitised HTML: <p> paragraphs, <br> line breaks, <a> links
 * whose visible text is cut short with <span class="invisible"> /
 * <span class="ellipsis"> pieces, mention and hashtag links
 * (class "mention", text "@user" / "#tag"), and since Mastodon 4.3 from
 * other servers also lists, quotes, <pre>/<code> and emphasis.  The text
 * keeps what a reader sees: paragraphs become a blank line, <br> a line
 * break, list items "- item", a mention or hashtag its text, any other
 * link its full address (its text, then the address in parentheses, when
 * the text is something else, like "our menu"), character references
 * decoded.  Everything else of the markup is dropped; runs of white space
 * collapse to one space outside <pre>.
 *
 * It is a bounded scanner, not a full HTML parser: unknown or malformed
 * markup degrades to its text, never to a crash, and the output never
 * exceeds the caller's limit.
 *
 * Ownership: html2text returns a malloc'd string the caller frees.
 */
#ifndef FD_HTML2TEXT_H
#define FD_HTML2TEXT_H

#include <stddef.h>

/*
 * Plain text of `len` bytes of HTML, at most max_bytes bytes long (cut at a
 * UTF-8 character boundary; 0 = no limit).  Never NULL; "" for empty or
 * markup-only input.
 */
char *html2text(const char *html, size_t len, size_t max_bytes);

/*
 * Decode one character reference at s (which starts with '&'), n bytes
 * available: writes its UTF-8 encoding to out (>= 8 bytes) and returns the
 * number of input bytes it spans, or 0 when s is not a reference this
 * module knows (then '&' is plain text).  Code points that are not
 * characters (0, surrogates, above U+10FFFF) decode to U+FFFD.
 */
size_t html2text_entity(const char *s, size_t n, char *out, size_t *out_len);

#endif
