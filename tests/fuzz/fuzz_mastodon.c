/*
 * fuzz_mastodon.c - what a Mastodon server (or anything pretending to be
 * one) sends: streaming frames with a payload parsed twice, catch-up pages,
 * Link headers, status HTML; and what the connector builds from it (reply
 * parts within the limit).  The first input byte picks the entry point.
 * Invariants: parsed ids are valid ids, reply parts never exceed the limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/mastodon/mastodon.h"
#include "html2text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	char err[256], event[64], id[MASTODON_MAX_ID + 1];
	struct mastodon_mention m;

	switch (data[0] % 5) {
	case 0:
		memset(&m, 0, sizeof(m));
		if (mastodon_parse_frame(z, n, &m, event, sizeof(event), err, sizeof(err)) ==
		    MASTODON_MENTION) {
			if (!mastodon_id_ok(m.id) || !mastodon_id_ok(m.status_id))
				abort();
			mastodon_mention_free(&m);
		}
		break;
	case 1: {
		struct mastodon_mention *items = NULL;
		size_t k = 0;
		if (mastodon_parse_page(z, n, &items, &k, id, sizeof(id), err, sizeof(err)) >= 0) {
			for (size_t i = 0; i < k; i++) {
				if (i && mastodon_id_cmp(items[i - 1].id, items[i].id) > 0)
					abort(); /* oldest first */
				mastodon_mention_free(&items[i]);
			}
			free(items);
		}
		break;
	}
	case 2: mastodon_link_min_id(z, id, sizeof(id)); break;
	case 3: free(html2text(z, n, 8192)); break;
	default: {
		char *parts[8];
		size_t max = 40 + (n % 200);
		size_t k = mastodon_build_reply("amy@example.social", z, max, parts, 8);
		for (size_t i = 0; i < k; i++) {
			if (mastodon_status_length(parts[i]) > max)
				abort();
			free(parts[i]);
		}
		break;
	}
	}
	free(z);
	return 0;
}
