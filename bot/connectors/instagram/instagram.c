/*
 * instagram.c - the Instagram connector (see instagram.h): Instagram's
 * facts for the Messenger Platform code (messenger.h), and its byte limit.
 */
#include "instagram.h"

#include <string.h>

#include "config.h"
#include "connector.h"
#include "connectors/messenger/messenger.h"
#include "connectors/messenger/messenger_wire.h"
#include "connectors/meta/meta.h"
#include "outbox.h"
#include "util.h"

/* Cut s after the last whole code point within max bytes (in place). */
static void cut_bytes(char *s, size_t max)
{
	s[utf8_fit(s, strlen(s), max)] = '\0';
}

size_t instagram_split(const char *text, size_t max_bytes, char **parts, size_t max_parts)
{
	return outbox_split_units(text, max_bytes ? max_bytes : INSTAGRAM_MAX_BYTES, strlen, cut_bytes, parts,
	                          max_parts);
}

static const struct messenger_kind k_instagram = {
    .type = "instagram",
    .title = "Instagram",
    .object = INSTAGRAM_OBJECT,
    .id_key = "account_id",
    .id_hint = "the Instagram professional account's id (the app dashboard, Instagram > API setup "
               "with Instagram login), like \"17841400000000000\"",
    .staff = "a person on Instagram",
    .whoami_field = "username",
    .max_bytes = INSTAGRAM_MAX_BYTES,
    .split = instagram_split,
};

static void *ig_parse(struct config_parser *p)
{
	return messenger_settings_parse(p, &k_instagram);
}

static const char *const instagram_keys[] = {META_CONF_KEYS, "account_id", MESSENGER_KEYS, NULL};

const struct connector_ops instagram_ops = {
    .type = "instagram",
    .title = "Instagram",
    /* Characters per outbox row; each is cut again to 1,000 bytes. */
    .max_text = INSTAGRAM_MAX_BYTES,
    .keys = instagram_keys,
    .parse = ig_parse,
    .free_settings = messenger_free_settings,
    .start = messenger_start,
    .send = messenger_send,
    META_CONNECTOR_OPS,
    .mark_read = messenger_mark_read,
};
