/*
 * markdown.h - a chat message written in Markdown (Mattermost; Discord's
 * dialect is a subset) as the plain UTF-8 text the pipeline reads and the
 * dashboard shows.
 *
 * The text keeps what a reader sees: emphasis (**bold**, __bold__,
 * *italic*, _italic_, ~~strike~~) and inline code lose their markers; a
 * link [text](url) becomes "text (url)" (just the address when the text is
 * the address), an image ![alt](url) "alt (url)"; at a line start, heading
 * marks ("## "), quote marks ("> ") and code fences (```) are dropped and
 * list bullets ("* ", "+ ") become "- "; a backslash before ASCII
 * punctuation is dropped.  Everything else, mentions (@name), emoji
 * shortcodes (:smile:) and tables included, is kept as written, so a word
 * like file_name or a sum like 2 * 3 is never damaged: a single * or _
 * only counts as emphasis when it opens after a space or punctuation and
 * closes, on the same line, before one.
 *
 * It is a bounded scanner, not a CommonMark parser: odd input degrades to
 * its text, never to a crash, and the output never exceeds the caller's
 * limit (cut at a UTF-8 character boundary).
 *
 * Ownership: markdown_text returns a malloc'd string the caller frees.
 */
#ifndef FD_MARKDOWN_H
#define FD_MARKDOWN_H

#include <stddef.h>

/* Plain text of `len` bytes of Markdown, at most max_bytes long (0 = no
 * limit).  Never NULL; "" for empty input. */
char *markdown_text(const char *md, size_t len, size_t max_bytes);

#endif
