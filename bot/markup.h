/*
 * markup.h - customer text made inert for the place it is shown in.
 *
 * The bot repeats customer text where other software renders it: staff
 * notifications (Slack, Discord and Mattermost webhooks), replies on chat
 * platforms, and the screens agents read.  Each renderer has its own syntax,
 * and in each, text a customer typed can do more than be read:
 *   - Markdown (Discord, Mattermost): "[your refund is ready](https://evil)"
 *     is a link whose target is hidden, "![x](https://evil/pixel.png)" an
 *     image every client fetches (and so reports who read it);
 *   - Slack mrkdwn: "<https://evil|your refund>" is the same disguised link,
 *     "<!channel>", "<!here>", "<@U123>", "<!subteam^S1>" notify people;
 *   - mentions: Discord "@everyone" / "@here" / "<@123>" / "<@&role>",
 *     Mattermost "@all" / "@channel" / "@here" / "@user", Slack (with
 *     link_names) "@channel" / "@user", Mastodon "@user@host";
 *   - bidi controls (U+202A..U+202E, U+2066..U+2069) reorder what follows
 *     them, so a message can display differently from what it says.
 *
 * markup_neutralise() appends text so that, rendered in one syntax, it shows
 * the same characters the customer typed and does nothing else: no link
 * with a hidden target, no image, no mention, no ping.  Link targets stay
 * visible as plain text (a plain URL is honest).  How, per syntax:
 *   MARKUP_SLACK       & < > become &amp; &lt; &gt; (Slack's own escaping,
 *                      which turns every <...> construct into plain text);
 *                      "@name" at a word start and @channel/@here/@everyone
 *                      /@group anywhere get a zero-width space after '@'.
 *   MARKUP_DISCORD     \ [ ] are backslash-escaped (no link, image or
 *                      reference); '@' before everyone, here, '!', '&' or a
 *                      digit (@everyone, @here, <@123>, <@!123>, <@&role>)
 *                      gets a zero-width space after it, anywhere (what
 *                      discord.py's escape_mentions does).
 *   MARKUP_MATTERMOST  \ [ ] are backslash-escaped; "@name" at a word start
 *                      and @all / @channel / @here anywhere get a zero-width
 *                      space after the '@'.
 *   MARKUP_MASTODON    plain text: "@name" at a word start gets a zero-width
 *                      space after the '@' (e-mail addresses stay intact).
 *   MARKUP_ANY         the renderer is unknown (a generic JSON webhook, a
 *                      stored event that several formats render later):
 *                      every platform's mentions are broken ('@' before a
 *                      non-space, '<' before '!', '@' or '#'); nothing is
 *                      escaped, since no one escape suits every renderer.
 * Keywords are matched without regard to case and as prefixes ("@everyoneX" pings on
 * Discord).  Other characters, invalid UTF-8 included, are copied as they
 * are: removing control characters, cutting and collapsing white space are
 * the caller's (notify.h does them first).  A "word start" is a '@' not
 * preceded by an ASCII letter, digit or '_' (so "amy@example.com" stays
 * intact).
 *
 * Bidi controls are a matter of display, not of syntax: markup_bidi_control()
 * names them (the embeddings, overrides and isolates of Unicode's "Trojan
 * Source" set), and every place that shows customer text to staff (the
 * queue command line, the dashboard front end; notifications drop them with
 * the other controls) shows each as U+FFFD (MARKUP_BIDI_SHOWN), so a message
 * reads in the order it was written.  Marks (U+200E, U+200F, U+061C) are
 * kept: they only nudge neutral characters, and right-to-left writers use
 * them.
 *
 * Errors: none; out grows as buf_* does (an append past out->cap_max is
 * dropped, as buf_append drops it).  No allocation is kept.
 */
#ifndef FD_MARKUP_H
#define FD_MARKUP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum markup_syntax {
	MARKUP_ANY = 0,
	MARKUP_SLACK,
	MARKUP_DISCORD,
	MARKUP_MATTERMOST,
	MARKUP_MASTODON,
	MARKUP_SYNTAX_COUNT
};

#define MARKUP_ZWSP       "\xe2\x80\x8b" /* U+200B ZERO WIDTH SPACE, the mention breaker */
#define MARKUP_BIDI_SHOWN "\xef\xbf\xbd" /* U+FFFD, what a display shows for a bidi control */

/* "any", "slack", "discord", "mattermost", "mastodon" -> the syntax, or -1. */
int markup_syntax_parse(const char *name);
const char *markup_syntax_name(enum markup_syntax s);

/* Append `text` (NUL-terminated; NULL = "") made inert for `syntax`. */
void markup_neutralise(struct buf *out, enum markup_syntax syntax, const char *text);

/* 1 when code point c is a bidi embedding, override or isolate
 * (U+202A..U+202E, U+2066..U+2069), else 0. */
int markup_bidi_control(int32_t c);

#endif
