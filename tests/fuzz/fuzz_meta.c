/*
 * fuzz_meta.c - what Meta's webhooks and Graph API send the WhatsApp,
 * Messenger and Instagram connectors, once the signature matched (or the
 * API answered): deliveries, error objects; and the reply bodies built
 * from what was parsed.  The first input byte picks the entry point.
 * Invariants: every parsed id is a usable id, every text is within
 * POST_MAX_TEXT and valid where the input was, a reply body built from a
 * parsed message is JSON that names the same recipient.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/meta/meta.h"
#include "connectors/whatsapp/whatsapp_wire.h"
#include "post.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void whatsapp(const char *z, size_t n)
{
	struct whatsapp_delivery d;
	char err[256];
	if (whatsapp_parse(z, n, &d, err, sizeof(err)) < 0) {
		if (d.nmsgs || d.nstatuses)
			abort();
		return;
	}
	for (size_t i = 0; i < d.nmsgs; i++) {
		const struct whatsapp_message *m = &d.msgs[i];
		if (!meta_id_ok(m->id) || !meta_id_ok(m->from) || !meta_id_ok(m->phone_number_id) ||
		    !m->text || strlen(m->text) > POST_MAX_TEXT)
			abort();
		char *b = whatsapp_reply_body(m->from, m->text, m->id, "frontdesk:fd00");
		if (b) {
			json_t *o = json_loads(b, 0, NULL);
			if (!o || strcmp(json_string_value(json_object_get(o, "to")), m->from) != 0)
				abort();
			json_decref(o);
			free(b);
		}
	}
	for (size_t i = 0; i < d.nstatuses; i++)
		if (!meta_id_ok(d.statuses[i].id))
			abort();
	whatsapp_delivery_free(&d);
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
	switch (data[0] % 2) {
	case 0: whatsapp(z, n); break;
	default: {
		struct meta_error e;
		if (meta_error_parse(z, n, &e)) {
			if (strlen(e.message) >= sizeof(e.message))
				abort();
			(void)meta_classify(400, &e);
		}
		break;
	}
	}
	free(z);
	return 0;
}
