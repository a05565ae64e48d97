/*
 * test_buf.c - bounded buffers, slices, size parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"

static void
test_buf_refuses_to_grow_past_max(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "12345678", 8), 0);
	assert_int_equal(buf_append(&b, "9", 1), MN_ETOOBIG);
	assert_int_equal(b.len, 8);
	buf_consume(&b, 3);
	assert_memory_equal(b.data, "45678", 5);
	assert_int_equal(buf_printf(&b, "%d", 123), 0);
	assert_string_equal(buf_cstr(&b), "45678123");
	assert_int_equal(buf_printf(&b, "x"), MN_ETOOBIG);
	buf_fini(&b);
}

static void
test_find_line_crlf_and_lf(void **state)
{
	size_t ll;

	assert_int_equal(find_line((const uint8_t *)"abc\r\nx", 6, &ll), 5);
	assert_int_equal(ll, 3);
	assert_int_equal(find_line((const uint8_t *)"ab\nx", 4, &ll), 3);
	assert_int_equal(ll, 2);
	assert_int_equal(find_line((const uint8_t *)"abc\r", 4, &ll), 0);
}

static void
test_parse_size_suffixes(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t out;
	} cases[] = {
	    {"0", 0, 0},
	    {"123", 0, 123},
	    {"50M", 0, 50ULL << 20},
	    {"2k", 0, 2048},
	    {"1G", 0, 1ULL << 30},
	    {"", MN_EINVAL, 0},
	    {"M", MN_EINVAL, 0},
	    {"5MB", MN_EINVAL, 0},
	    {"-1", MN_EINVAL, 0},
	    {"99999999999999999999", MN_EINVAL, 0},
	    {"17179869184G", MN_EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;

		assert_int_equal(parse_size(cases[i].in, &v), cases[i].rc);
		if (cases[i].rc == 0)
			assert_true(v == cases[i].out);
	}
}

static void
test_slice_helpers(void **state)
{
	struct slice s = slice_trim(SLICE_LIT("  Hello \t"));

	assert_true(slice_eq_nocase(s, "hello"));
	assert_true(slice_starts_nocase(s, "HE"));
	assert_false(slice_starts_nocase(s, "hello!"));
	assert_int_equal(ascii_casecmp("ABC", "abc"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_refuses_to_grow_past_max),
	    cmocka_unit_test(test_find_line_crlf_and_lf),
	    cmocka_unit_test(test_parse_size_suffixes),
	    cmocka_unit_test(test_slice_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
