/*
 * fuzz_mattermost.c - what a Mattermost server (or anything pretending to
 * be one) sends: WebSocket events with the post JSON inside a string,
 * REST post and channel lists, error bodies, client config; and Markdown
 * made plain, replies made inert and cut.  The first input byte picks the
 * entry point.  Invariants: parsed ids are valid ids, lists come oldest
 * first, texts and reply parts never exceed their limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/mattermost/mattermost_wire.h"
#include "markdown.h"
#include "post.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_post(const struct mm_post *p)
{
	if (!mm_id_ok(p->id) || !mm_id_ok(p->channel_id) || !mm_id_ok(p->user_id) ||
	    (p->root_id[0] && !mm_id_ok(p->root_id)) || !p->text || strlen(p->text) > POST_MAX_TEXT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	char *z = malloc(n + 1);
	if (!z)
		return 0;
	memcpy(z, s, n);
	z[n] = '\0';
	char err[256], id[128];

	switch (data[0] % 6) {
	case 0: {
		struct mm_event ev;
		enum mm_event_kind k =
		    mm_parse_event(z, n, "s1b2c3d4e5f6g7h8i9j0k1l2m3", &ev, err, sizeof(err));
		if (k == MM_EV_POSTED) {
			check_post(&ev.post);
			if (!strchr("OPDG", ev.channel_type) || ev.seq < 0)
				abort();
		}
		if (k == MM_EV_HELLO && ev.connection_id[0] && !mm_id_ok(ev.connection_id))
			abort();
		mm_event_free(&ev);
		break;
	}
	case 1: {
		struct mm_post *items = NULL;
		long k = mm_parse_post_list(z, n, &items, NULL, err, sizeof(err));
		for (long i = 0; i < k; i++) {
			check_post(&items[i]);
			if (i && items[i - 1].create_at > items[i].create_at)
				abort(); /* oldest first */
		}
		for (long i = 0; i < k; i++)
			mm_post_free(&items[i]);
		free(items);
		break;
	}
	case 2: {
		struct mm_channel *ch = NULL;
		long k = mm_parse_channels(z, n, &ch, err, sizeof(err));
		for (long i = 0; i < k; i++)
			if (!mm_id_ok(ch[i].id))
				abort();
		free(ch);
		break;
	}
	case 3:
		mm_error_id(z, n, id, sizeof(id));
		mm_max_post_size(z, n);
		if (mm_parse_id(z, n, id, sizeof(id)) == 0 && !mm_id_ok(id))
			abort();
		break;
	case 4: {
		char *t = markdown_text(z, n, 8192);
		if (strlen(t) > 8192)
			abort();
		free(t);
		break;
	}
	default: {
		char *parts[8];
		size_t max = 40 + (n % 200);
		size_t k = mm_build_reply(z, max, parts, 8);
		for (size_t i = 0; i < k; i++) {
			free(parts[i]);
		}
		char ch[80], root[80];
		mm_thread_parse(z, ch, sizeof(ch), root, sizeof(root));
		break;
	}
	}
	free(z);
	return 0;
}
