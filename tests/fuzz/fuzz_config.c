/*
 * fuzz_config.c - any bytes as config.yaml through config_load_mem: loading
 * must never crash, read out of bounds or leak, and must either give a
 * config or at least one error.
 *
 * Relative paths resolve against an empty temporary directory, so globs
 * fail cleanly unless the input lists none (rules: [], replies: [],
 * sentiment: { lexicon: [] }); a config that loads has its business hours
 * exercised too (open/closed, business-time addition, phrases, summary),
 * which fuzzes the hours parser together with its arithmetic.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void remove_dir(void)
{
	if (dir[0])
		rmdir(dir);
}

static void exercise_hours(const struct config *c)
{
	/* A Friday evening in November 2026, plus spots around the DST changes. */
	static const time_t at[] = {1795212000, 1774746000, 1792890000, 0, -1};
	char out[256];

	hours_summary(c->hours, out, sizeof(out));
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		time_t t = at[i];
		hours_is_open(c->hours, t);
		hours_is_holiday(c->hours, t);
		time_t open = hours_next_open(c->hours, t);
		hours_next_close(c->hours, t);
		for (int p = 0; p < PRIO_COUNT; p++) {
			time_t due = hours_add(c->hours, t, c->target[p]);
			if (due != (time_t)-1 && due < t)
				abort(); /* business time never runs backwards */
			hours_phrase(c->hours, t, due == (time_t)-1 ? t : due, out, sizeof(out));
		}
		if (open != (time_t)-1 && (open < t || !hours_is_open(c->hours, open)))
			abort();
		hours_iso_local(c->hours, t, out, sizeof(out));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/fd-fuzz-config-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			abort();
		}
		atexit(remove_dir);
	}
	diag_init(&d);
	struct config *c = config_load_mem("fuzz.yaml", dir, (const char *)data, size, &d);
	if (c) {
		if (d.errors)
			abort(); /* a config is only handed out without errors */
		exercise_hours(c);
		config_free(c);
	} else if (d.errors == 0) {
		abort(); /* a refusal always says why */
	}
	diag_free(&d);
	return 0;
}
