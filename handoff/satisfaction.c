/*
 * satisfaction.c - the satisfaction question (see satisfaction.h).
 */
#include "satisfaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "connector.h"
#include "outbox.h"
#include "replies.h"
#include "store.h"
#include "util.h"

size_t satisfaction_question(const struct config *cfg, const struct replies *r, const struct store_ticket *t,
                             char **parts, size_t max_parts)
{
	if (!cfg || !cfg->satisfaction_ask || !t || !t->is_private || !t->first_response || !t->connector ||
	    !max_parts)
		return 0;
	const struct connector_conf *cc = config_connector(cfg, t->connector);
	if (!cc)
		return 0;
	const struct connector_ops *ops = connector_type(cc->type);
	struct reply_want want = {REPLY_OPEN, cc->channel ? cc->channel : t->platform, 0};
	const char *key = r ? replies_pick(r, "satisfaction.ask", &want) : NULL;
	char ticket[24];
	snprintf(ticket, sizeof(ticket), "%lld", (long long)t->id);
	struct reply_vars v = {
	    .author = t->contact_name,
	    .business = cfg->business_name,
	    .phone = cfg->phone,
	    .email = cfg->email,
	    .ticket = ticket,
	};
	struct buf b;
	buf_init(&b, 0);
	if (!key || replies_render(r, key, (uint64_t)t->id, &v, &b) < 0 || !b.len) {
		buf_reset(&b);
		buf_puts(&b, SATISFACTION_ASK_DEFAULT);
	}
	size_t n = outbox_split(b.p, ops ? ops->max_text : 0, parts, max_parts);
	buf_free(&b);
	return n;
}
