/*
 * test_yml.c - composing YAML documents: deep nesting is refused at
 * YML_MAX_DEPTH in time proportional to the input (libyaml's own loader
 * takes seconds for 20,000 nested brackets, and hours for a 4 MB file of
 * them), aliases, node positions, and files that are not regular files
 * (a named pipe must not make a load wait for a writer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "yml.h"

static int load(const char *text, size_t len, struct yml_doc *y, struct diag *d)
{
	diag_init(d);
	return yml_load_mem(y, "t.yaml", text, len, d);
}

static void expect_error(const char *text, const char *want)
{
	struct yml_doc y;
	struct diag d;
	assert_int_equal(load(text, strlen(text), &y, &d), -1);
	if (!d.out.p || !strstr(d.out.p, want))
		fail_msg("expected \"%s\" in: %s", want, d.out.p ? d.out.p : "(nothing)");
	yml_free(&y);
	diag_free(&d);
}

/* `n` levels of nested flow sequences around one scalar: "[[[x]]]". */
static char *nested_flow(size_t n)
{
	char *s = xmalloc(2 * n + 16);
	size_t k = 0;
	memcpy(s, "x: ", 3);
	k += 3;
	memset(s + k, '[', n);
	k += n;
	s[k++] = 'v';
	memset(s + k, ']', n);
	k += n;
	s[k++] = '\n';
	s[k] = '\0';
	return s;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_yml: deep nesting was not refused within the time limit\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void test_depth_limit(void **state)
{
	(void)state;
	struct yml_doc y;
	struct diag d;
	/* Exactly the limit loads: "x:" is one level, so 63 brackets more. */
	char *s = nested_flow(YML_MAX_DEPTH - 1);
	assert_int_equal(load(s, strlen(s), &y, &d), 0);
	yaml_node_t *n = yml_get(&y, yml_root(&y), "x");
	for (int i = 0; i < YML_MAX_DEPTH - 1; i++) {
		assert_int_equal(n->type, YAML_SEQUENCE_NODE);
		n = yml_item(&y, n, 0);
	}
	assert_string_equal(yml_scalar(n), "v");
	yml_free(&y);
	diag_free(&d);
	free(s);
	/* One more is refused, where the level opens. */
	s = nested_flow(YML_MAX_DEPTH);
	char want[64];
	snprintf(want, sizeof(want), "t.yaml:1:%d: nested more than %d levels deep", 4 + YML_MAX_DEPTH - 1,
	         YML_MAX_DEPTH);
	expect_error(s, want);
	free(s);
	/* Block style counts the same. */
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i <= YML_MAX_DEPTH; i++)
		buf_printf(&b, "%*sk%d:\n", 2 * i, "", i);
	expect_error(b.p, "levels deep");
	buf_free(&b);
}

/* The file of the issue, made as big as a file may be: refused at once.
 * Composed with libyaml's yaml_parser_load it would take hours (the cost
 * grows with the square of the nesting); the alarm turns a regression into
 * a failure instead of a hang. */
static void test_deep_file_is_linear(void **state)
{
	(void)state;
	size_t n = (YML_MAX_FILE - 16) / 2;
	char *s = nested_flow(n);
	signal(SIGALRM, on_alarm);
	alarm(60);
	expect_error(s, "nested more than");
	/* Many shallow collections cost in proportion too. */
	struct buf b;
	buf_init(&b, 0);
	while (b.len < YML_MAX_FILE - 64)
		buf_puts(&b, "- [[[[a, b], c], d], {e: f}]\n");
	struct yml_doc y;
	struct diag d;
	assert_int_equal(load(b.p, b.len, &y, &d), 0);
	assert_true(yml_len(yml_root(&y)) > 100000);
	yml_free(&y);
	diag_free(&d);
	alarm(0);
	buf_free(&b);
	free(s);
}

static void test_aliases_and_marks(void **state)
{
	(void)state;
	struct yml_doc y;
	struct diag d;
	const char *text = "base: &b {k: v}\n"
	                   "copy: *b\n"
	                   "list: [&s one, *s]\n"
	                   "quoted: \"a b\"\n";
	assert_int_equal(load(text, strlen(text), &y, &d), 0);
	yaml_node_t *root = yml_root(&y);
	assert_ptr_equal(yml_get(&y, root, "base"), yml_get(&y, root, "copy"));
	yaml_node_t *list = yml_get(&y, root, "list");
	assert_string_equal(yml_scalar(yml_item(&y, list, 1)), "one");
	/* Positions: what error messages and replies.c's source spans use. */
	yaml_node_t *q = yml_get(&y, root, "quoted");
	assert_int_equal(q->start_mark.line, 3);
	assert_int_equal(q->start_mark.column, 8);
	assert_int_equal(q->end_mark.column, 13);
	assert_int_equal(q->data.scalar.style, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	yaml_node_t *base = yml_get(&y, root, "base");
	assert_int_equal(base->start_mark.column, 6);
	assert_int_equal(base->end_mark.column, 15);
	yml_free(&y);
	diag_free(&d);

	/* An alias to nothing, or to the node it sits in, is refused. */
	expect_error("a: *nowhere\n", "*nowhere names no anchor");
	expect_error("a: &self [1, *self]\n", "*self names no anchor");
	/* Empty and comment-only files load without a root. */
	assert_int_equal(load("# nothing\n", 10, &y, &d), 0);
	assert_null(yml_root(&y));
	yml_free(&y);
	diag_free(&d);
	/* Syntax errors still say what to fix (ymlerr.h). */
	expect_error("a: [1, 2\n", "t.yaml:1:");
}

static void test_not_regular_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/fd-yml-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *fifo = xasprintf("%s/rules.yaml", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	struct yml_doc y;
	struct diag d;
	diag_init(&d);
	signal(SIGALRM, on_alarm);
	alarm(30); /* a blocking open would wait for a writer forever */
	assert_int_equal(yml_load_file(&y, fifo, &d), -1);
	alarm(0);
	assert_non_null(strstr(d.out.p, "rules.yaml: not a regular file (a named pipe)"));
	yml_free(&y);
	diag_free(&d);
	diag_init(&d);
	assert_int_equal(yml_load_file(&y, dir, &d), -1);
	assert_non_null(strstr(d.out.p, "not a regular file (a directory)"));
	yml_free(&y);
	diag_free(&d);
	diag_init(&d);
	assert_int_equal(yml_load_file(&y, "/dev/null", &d), -1);
	assert_non_null(strstr(d.out.p, "not a regular file (a device)"));
	yml_free(&y);
	diag_free(&d);
	unlink(fifo);
	rmdir(dir);
	free(fifo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_deep_file_is_linear),
	    cmocka_unit_test(test_aliases_and_marks),
	    cmocka_unit_test(test_not_regular_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
