/*
 * fuzz_messenger.c - what Meta's webhook sends the Messenger and Instagram
 * connectors once the signature matched (fuzz_webhook covers the
 * signature and subscription checks before it), and the cut of a reply to
 * Instagram's byte limit.  The first input byte picks the entry point: a
 * Page delivery, an Instagram delivery, the byte split.
 * Invariants: every parsed id is a usable id (a handover notice has no
 * message id), every text is within
 * POST_MAX_TEXT; a reply body built from a parsed event is JSON naming the
 * same recipient; a split part is never over its byte limit (even when one
 * grapheme cluster is wider than it) nor cut inside a UTF-8 sequence
 * (valid text stays valid in every part).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/instagram/instagram.h"
#include "connectors/messenger/messenger_wire.h"
#include "connectors/meta/meta.h"
#include "post.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void delivery(const char *z, size_t n, const char *object)
{
	struct messenger_delivery d;
	char err[256];
	if (messenger_parse(z, n, object, &d, err, sizeof(err)) < 0) {
		if (d.n)
			abort();
		return;
	}
	for (size_t i = 0; i < d.n; i++) {
		const struct messenger_event *e = &d.events[i];
		if (!meta_id_ok(e->owner) || !meta_id_ok(e->customer) || !e->text ||
		    strlen(e->text) > POST_MAX_TEXT)
			abort();
		/* A handover notice has no message id and no text; every other
		 * event has both. */
		if (e->kind == MESSENGER_HANDOVER ? e->mid[0] || e->text[0] || !e->handover[0]
		                                  : !meta_id_ok(e->mid))
			abort();
		char *b = messenger_reply_body(e->customer, e->text, (int)(i & 1), e->mid, "frontdesk:fd00");
		if (b) {
			json_t *o = json_loads(b, 0, NULL);
			const char *to =
			    json_string_value(json_object_get(json_object_get(o, "recipient"), "id"));
			if (!o || !to || strcmp(to, e->customer) != 0)
				abort();
			json_decref(o);
			free(b);
		}
	}
	messenger_delivery_free(&d);
}

static void split(const char *z, size_t n)
{
	char *parts[META_MAX_PARTS];
	size_t max = 8 + (n % 200);
	size_t k = instagram_split(z, max, parts, META_MAX_PARTS);
	/* Replies are valid UTF-8; then so is every part (jansson checks).
	 * Invalid bytes are kept as they are, one "character" each. */
	json_t *whole = json_string(z);
	for (size_t i = 0; i < k; i++) {
		json_t *part = json_string(parts[i]);
		if (strlen(parts[i]) > max || (whole && !part))
			abort();
		json_decref(part);
		free(parts[i]);
	}
	json_decref(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 512 * 1024)
		return 0;
	size_t n = size - 1;
	char *z = malloc(n + 1);
	if (!z)
		return 0;
	memcpy(z, data + 1, n);
	z[n] = '\0';
	switch (data[0] % 3) {
	case 0: delivery(z, n, MESSENGER_OBJECT); break;
	case 1: delivery(z, n, INSTAGRAM_OBJECT); break;
	default: split(z, n); break;
	}
	free(z);
	return 0;
}
