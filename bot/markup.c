/*
 * markup.c - customer text made inert per rendering syntax (see markup.h).
 *
 * One pass over the bytes: every construct markup.h lists begins with an
 * ASCII byte ('@', '<', '[', ']', '\\', '&', '>'), so multi-byte UTF-8 is
 * copied through untouched.
 */
#include "markup.h"

#include <string.h>
#include <strings.h>

static const char *const syntax_names[MARKUP_SYNTAX_COUNT] = {"any", "slack", "discord", "mattermost",
                                                              "mastodon"};

/* Words after '@' that notify a whole channel, per syntax (NULL-terminated). */
static const char *const kw_slack[] = {"channel", "here", "everyone", "group", NULL};
static const char *const kw_discord[] = {"everyone", "here", NULL};
static const char *const kw_mattermost[] = {"all", "channel", "here", NULL};

int markup_syntax_parse(const char *name)
{
	for (int i = 0; name && i < MARKUP_SYNTAX_COUNT; i++)
		if (!strcmp(name, syntax_names[i]))
			return i;
	return -1;
}

const char *markup_syntax_name(enum markup_syntax s)
{
	return (unsigned)s < MARKUP_SYNTAX_COUNT ? syntax_names[s] : "any";
}

int markup_bidi_control(int32_t c)
{
	return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

static int ascii_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A character of a user name after '@' on Slack and Mattermost. */
static int name_char(unsigned char c)
{
	return ascii_word(c) || c == '.' || c == '-';
}

/* Does s (the bytes after a '@') begin with one of kw, in any case? */
static int keyword_at(const char *s, const char *const *kw)
{
	for (size_t i = 0; kw[i]; i++)
		if (!strncasecmp(s, kw[i], strlen(kw[i])))
			return 1;
	return 0;
}

/* Should the '@' at s[i] get a zero-width space after it in `syntax`? */
static int break_at(const unsigned char *s, size_t i, enum markup_syntax syntax)
{
	unsigned char next = s[i + 1];
	int word_start = i == 0 || !ascii_word(s[i - 1]);
	const char *rest = (const char *)s + i + 1;

	switch (syntax) {
	case MARKUP_ANY: return next != '\0' && next != ' ' && !(next >= '\t' && next <= '\r');
	case MARKUP_SLACK: return (word_start && name_char(next)) || keyword_at(rest, kw_slack);
	case MARKUP_DISCORD:
		return keyword_at(rest, kw_discord) || next == '!' || next == '&' ||
		       (next >= '0' && next <= '9');
	case MARKUP_MATTERMOST: return (word_start && name_char(next)) || keyword_at(rest, kw_mattermost);
	case MARKUP_MASTODON: return word_start && (ascii_word(next) || next == '-');
	default: return 0;
	}
}

void markup_neutralise(struct buf *out, enum markup_syntax syntax, const char *text)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	int markdown = syntax == MARKUP_DISCORD || syntax == MARKUP_MATTERMOST;

	for (size_t i = 0; s[i]; i++) {
		unsigned char c = s[i];
		if (syntax == MARKUP_SLACK && (c == '&' || c == '<' || c == '>')) {
			buf_puts(out, c == '&' ? "&amp;" : c == '<' ? "&lt;" : "&gt;");
			continue;
		}
		if (markdown && (c == '\\' || c == '[' || c == ']'))
			buf_putc(out, '\\');
		buf_putc(out, (char)c);
		if (c == '@' && break_at(s, i, syntax))
			buf_puts(out, MARKUP_ZWSP);
		else if (c == '<' && syntax == MARKUP_ANY &&
		         (s[i + 1] == '!' || s[i + 1] == '@' || s[i + 1] == '#'))
			buf_puts(out, MARKUP_ZWSP);
	}
	if (!out->p)
		buf_puts(out, "");
}
