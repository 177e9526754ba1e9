/*
 * fuzz_normalize.c - any bytes through text_normalize and
 * text_normalize_phrase.  Besides not crashing, the forms must keep their
 * promises: norm is valid UTF-8 with one space at each end and never two
 * in a row, lengths match the strings (no NUL inside), plain is valid
 * UTF-8, and normalizing norm again changes nothing (so a rule phrase and
 * a post that contains it normalize alike).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void valid_utf8(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k =
		    utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
		if (k <= 0)
			abort();
		i += (size_t)k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One struct for every input, as the daemon does: buffer reuse is
	 * part of what is tested. */
	static struct text t, again;
	static int init;

	if (!init) {
		text_init(&t);
		text_init(&again);
		init = 1;
	}
	text_normalize(&t, (const char *)data, size);
	if (t.norm_len < 1 || strlen(t.norm) != t.norm_len || strlen(t.plain) != t.plain_len)
		abort();
	if (t.norm[0] != ' ' || t.norm[t.norm_len - 1] != ' ' || strstr(t.norm, "  "))
		abort();
	if ((t.truncated != 0) != (size > TEXT_MAX_INPUT))
		abort();
	if (t.n_words < 0 || t.n_upper > t.n_letters || (size_t)t.exclaim_run > size)
		abort();
	valid_utf8(t.norm, t.norm_len);
	valid_utf8(t.plain, t.plain_len);

	text_normalize(&again, t.norm, t.norm_len);
	if (again.norm_len != t.norm_len || memcmp(again.norm, t.norm, t.norm_len) != 0)
		abort();
	if (again.n_words != t.n_words)
		abort();

	/* The phrase form: the input up to its first NUL. */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char *p = text_normalize_phrase(s);
	size_t pl = strlen(p);
	if (pl && (p[0] == ' ' || p[pl - 1] == ' '))
		abort();
	free(p);
	free(s);
	return 0;
}
