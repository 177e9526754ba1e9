/*
 * fuzz_bridge.c - what an adapter (or anything that got hold of the token)
 * sends over the bridge: frames read with bridge_parse.  Invariants: a
 * frame is either refused with a reason or read whole; what is read keeps
 * the rules of bridge_wire.h (ids and threads within their sizes and free
 * of control characters, names within BRIDGE_MAX_NAME, a retry time within
 * its cap); every string read can be written back into a frame; and a
 * reply written for any text reads back as JSON with that text.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/bridge/bridge_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > BRIDGE_MAX_FRAME + 16)
		return 0;
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	struct buf b;
	buf_init(&b, 0);
	int rc = bridge_parse((const char *)data, size, &f, err, sizeof(err));
	if (rc < 0) {
		if (!err[0])
			abort(); /* a refusal always says why */
		if (f.id)
			check_key(f.id, BRIDGE_MAX_REPLY_ID);
		bridge_error(&b, err, f.id);
		if (!b.len)
			abort();
	} else {
		check_key(f.id, f.type == BRIDGE_POST ? BRIDGE_MAX_ID : BRIDGE_MAX_REPLY_ID);
		if (f.type == BRIDGE_POST) {
			check_key(f.thread, BRIDGE_MAX_ID);
			check_key(f.author_id, BRIDGE_MAX_ID);
			if (!f.text || (f.author_name && strlen(f.author_name) > BRIDGE_MAX_NAME))
				abort();
			/* What was read goes back out as a reply frame, whole. */
			bridge_reply(&b, f.id, f.thread, f.id, f.is_private, f.text, f.author_name);
			json_t *o = json_loadb(b.p, b.len, 0, NULL);
			if (!o || strcmp(json_string_value(json_object_get(o, "text")), f.text) != 0)
				abort();
			json_decref(o);
		} else if (f.type == BRIDGE_FAILED) {
			if (f.retry_after_ms < -1 || f.retry_after_ms > BRIDGE_MAX_RETRY_MS)
				abort();
		} else if (f.type != BRIDGE_DELIVERED) {
			abort();
		}
	}
	bridge_frame_free(&f);
	buf_free(&b);
	return 0;
}
