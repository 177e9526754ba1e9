/*
 * fuzz_slack.c - what Slack (or anything pretending to be it) sends: Socket
 * Mode frames with envelopes and message events inside, mrkdwn text, Web
 * API answers and history pages; and what the connector builds from it
 * (reply parts within 4,000 characters).  The first input byte picks the
 * entry point.  Invariants: parsed ids and ts are valid, a message that is
 * a question has text, thread keys parse back to their channel, reply
 * parts never exceed the limit and never carry an unescaped '<' or '>'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/slack/slack_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(const char *z, size_t n)
{
	struct slack_frame f;
	char err[256], key[256], ch[SLACK_MAX_ID + 1], th[SLACK_MAX_TS + 1];
	enum slack_frame_kind k = slack_parse_frame(z, n, "U0BOT", &f, err, sizeof(err));
	if (k == SLACK_FRAME_ENVELOPE && !slack_id_ok(f.envelope_id))
		abort();
	if (k == SLACK_FRAME_ENVELOPE && f.has_message) {
		if (!slack_id_ok(f.msg.channel) || !slack_ts_ok(f.msg.ts))
			abort();
		if (!f.msg.skip && (!f.msg.text || !slack_id_ok(f.msg.user)))
			abort();
		slack_thread_key(&f.msg, key, sizeof(key));
		if (slack_thread_parse(key, ch, th) < 0 || strcmp(ch, f.msg.channel) != 0)
			abort();
	}
	slack_frame_free(&f);
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
	char err[256], ts[SLACK_MAX_TS + 1], cur[512];

	switch (data[0] % 5) {
	case 0: check_frame(z, n); break;
	case 1: free(slack_mrkdwn_to_text(z, n, "U0BOT", 8192)); break;
	case 2:
		if (slack_history_find(z, n, "k1", 0, "B1", ts, sizeof(ts), cur, sizeof(cur), err,
		                       sizeof(err)) == 1 &&
		    !slack_ts_ok(ts))
			abort();
		break;
	case 3: slack_api_ok(z, n, err, sizeof(err)); break;
	default: {
		char *parts[SLACK_MAX_PARTS];
		size_t max = 16 + (n % 300);
		size_t k = slack_build_parts(z, max, parts, SLACK_MAX_PARTS);
		for (size_t i = 0; i < k; i++) {
			if (slack_chars(parts[i]) > max || strchr(parts[i], '<') || strchr(parts[i], '>'))
				abort();
			free(parts[i]);
		}
		break;
	}
	}
	free(z);
	return 0;
}
