/*
 * fuzz_template.c - any bytes as a reply template through
 * replies_render_string: compiling and rendering must never crash, read out
 * of bounds or leak, and must either render or give an error message.
 *
 * The first byte picks which variables are set (bit i: variable i), so
 * sections are exercised both ways; variable values include a long
 * multi-byte one to exercise the value cap.  The output buffer is capped so
 * the cap path is exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 150 two-byte characters: 300 bytes, cut to 200 when rendered. */
static char long_value[301];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply_vars v;
	struct buf out;
	char err[256];
	unsigned mask = size ? data[0] | (size > 1 ? (unsigned)data[1] << 8 : 0) : 0;

	if (!long_value[0])
		for (size_t i = 0; i + 1 < sizeof(long_value); i += 2)
			memcpy(long_value + i, "é", 2);
	memset(&v, 0, sizeof(v));
	v.author = mask & REPLY_VAR_AUTHOR ? long_value : "";
	v.business = mask & REPLY_VAR_BUSINESS ? "Acme Bakery" : NULL;
	v.opens_at = mask & REPLY_VAR_OPENS_AT ? "tomorrow at 9:00" : NULL;
	v.due = mask & REPLY_VAR_DUE ? "today at 15:30" : NULL;
	v.hours = mask & REPLY_VAR_HOURS ? "Mon–Fri 9:00–17:30" : NULL;
	v.phone = mask & REPLY_VAR_PHONE ? "+44 20 7946 0000" : NULL;
	v.email = mask & REPLY_VAR_EMAIL ? "hello@acme.example" : NULL;
	v.ticket = mask & REPLY_VAR_TICKET ? "{{ticket}}" : NULL;
	v.agent = mask & REPLY_VAR_AGENT ? "Priya" : NULL;

	/* The template is a C string: the input up to its first NUL. */
	char *tmpl = malloc(size + 1);
	if (!tmpl)
		return 0;
	if (size)
		memcpy(tmpl, data, size);
	tmpl[size] = '\0';

	buf_init(&out, 64 * 1024);
	err[0] = '\0';
	int rc = replies_render_string(tmpl, &v, &out, err, sizeof(err));
	if (rc < 0 && err[0] == '\0')
		abort();
	if (rc == 0 && (!out.p || strlen(out.p) != out.len))
		abort();
	if (rc < 0 && out.len != 0)
		abort();
	buf_free(&out);
	free(tmpl);
	return 0;
}
