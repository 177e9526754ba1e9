/*
 * fuzz_telegram.c - what the Bot API (or anything pretending to be it)
 * answers: getUpdates lists and single updates, error envelopes, getMe,
 * sent messages, the look-up of a reply of ours; and replies cut as
 * Telegram counts them, conversation and message keys.  The first input
 * byte picks the entry point.  Invariants: a post has its chat, its id and
 * text within POST_MAX_TEXT; its keys build and parse back to the same
 * ids; cut parts never pass the limit; keys that parse build back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/telegram/telegram_wire.h"
#include "post.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tg_me ME = {.id = 7000000001, .username = "acme_bakery_bot"};

static void check(const struct tg_update *u)
{
	char k[TG_MAX_KEY + 32], conn[TG_MAX_CONN + 1];
	int64_t chat, topic, msg;
	if (u->kind != TG_POST && u->kind != TG_STAFF)
		return;
	if (!u->chat_id || u->message_id <= 0 || !u->text || strlen(u->text) > POST_MAX_TEXT ||
	    u->from_id <= 0)
		abort();
	if (u->conn[0] && !tg_conn_ok(u->conn))
		abort();
	if (tg_thread_key(k, sizeof(k), u->chat_id, u->topic, u->conn) < 0 ||
	    tg_thread_parse(k, &chat, &topic, conn, sizeof(conn)) < 0 || chat != u->chat_id ||
	    (!u->conn[0] && topic != u->topic) || strcmp(conn, u->conn) != 0)
		abort();
	if (tg_post_key(k, sizeof(k), u->chat_id, u->message_id, u->conn) < 0 ||
	    tg_post_parse(k, &chat, &msg, conn, sizeof(conn)) < 0 || chat != u->chat_id ||
	    msg != u->message_id)
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
	char err[256];

	switch (data[0] % 6) {
	case 0: {
		struct tg_update *v = NULL;
		int64_t max = 0;
		long k = tg_parse_updates(z, n, &ME, &v, &max, err, sizeof(err));
		for (long i = 0; i < k; i++) {
			check(&v[i]);
			if (v[i].update_id > max)
				abort();
			tg_update_free(&v[i]);
		}
		free(v);
		break;
	}
	case 1: {
		struct tg_update u;
		tg_parse_update(z, n, &ME, &u);
		check(&u);
		tg_update_free(&u);
		break;
	}
	case 2: {
		struct tg_error e;
		struct tg_me me;
		int64_t mid, chat;
		if (tg_parse_error(z, n, &e) == 0)
			tg_refusal(e.code, &e);
		if (tg_parse_me(z, n, &me, err, sizeof(err)) == 0 && (me.id <= 0 || !me.username[0]))
			abort();
		if (tg_parse_sent(z, n, &mid, &chat) == 0 && mid <= 0)
			abort();
		tg_probe_result(400, z, n);
		break;
	}
	case 3: {
		char *parts[8];
		size_t max = 1 + (n % 300);
		size_t k = tg_split(z, max, parts, 8);
		for (size_t i = 0; i < k; i++) {
			if (tg_text_len(parts[i]) > max)
				abort();
			free(parts[i]);
		}
		break;
	}
	case 4: {
		char conn[TG_MAX_CONN + 1], k[TG_MAX_KEY + 32], c2[TG_MAX_CONN + 1];
		int64_t chat, topic, msg, chat2, topic2;
		if (tg_thread_parse(z, &chat, &topic, conn, sizeof(conn)) == 0) {
			if (tg_thread_key(k, sizeof(k), chat, topic, conn) < 0 ||
			    tg_thread_parse(k, &chat2, &topic2, c2, sizeof(c2)) < 0 || chat2 != chat ||
			    topic2 != topic)
				abort();
		}
		if (tg_post_parse(z, &chat, &msg, conn, sizeof(conn)) == 0 &&
		    tg_post_key(k, sizeof(k), chat, msg, conn) < 0)
			abort();
		break;
	}
	default: {
		struct tg_send m = {.chat_id = -1001234567890LL, .topic = 3, .reply_to = 9, .text = z};
		free(tg_send_json(&m));
		free(tg_probe_json(5, 6, n % 2 ? "BCx" : NULL));
		break;
	}
	}
	free(z);
	return 0;
}
