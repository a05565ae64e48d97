/*
 * test_statefile.c - state files: saved records read back in order, the
 * magic line checked, over-long lines skipped whole, a missing file empty,
 * and a failed save leaving the old file and no temporary behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/statefile.h"
#include "lib/xalloc.h"

static char dir[] = "/tmp/mn_statefile_XXXXXX";

static void
write_three(FILE *f, void *arg)
{
	(void)arg;
	fputs("one\ntwo 2\nthree\n", f);
}

static void
collect(char *line, void *arg)
{
	struct buf *b = arg;

	buf_printf(b, "[%s]", line);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_round_trip_and_magic(void **state)
{
	char *path = xasprintf("%s/state", dir), *tmp = xasprintf("%s/state.tmp", dir);
	struct mn_err err = {0};
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(statefile_load(path, "magic 1", 64, collect, &b, &err), 0); /* none */
	assert_int_equal(b.len, 0);

	assert_int_equal(statefile_save(path, "magic 1", write_three, NULL, &err), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(statefile_load(path, "magic 1", 64, collect, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "[one][two 2][three]");

	buf_reset(&b);
	assert_int_equal(statefile_load(path, "magic 2", 64, collect, &b, &err), MN_EPARSE);
	assert_int_equal(b.len, 0);

	/* a line of max_line bytes or more is skipped to its end; a last
	 * line without its end is not a record */
	write_file(path, "magic 1\nshort\n0123456789abcdef-too-long\nafter\ncut");
	buf_reset(&b);
	assert_int_equal(statefile_load(path, "magic 1", 16, collect, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "[short][after]");

	/* saving into a directory that is gone fails and changes nothing */
	{
		char *bad = xasprintf("%s/nodir/state", dir);

		assert_int_equal(statefile_save(bad, "magic 1", write_three, NULL, &err), MN_EIO);
		free(bad);
	}
	buf_fini(&b);
	unlink(path);
	free(path);
	free(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_and_magic),
	};
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
