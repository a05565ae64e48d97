/*
 * test_seqset.c - node/imap/seqset.c: parse, normalise, membership and
 * iteration of RFC 3501 sequence sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/imap/seqset.h"

static void
test_valid_sets_normalised(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "1", "1" },
		{ "*", "*" },
		{ "1:4", "1:4" },
		{ "4:1", "1:4" },
		{ "1:4,7,*:10", "1:4,7,10:*" },
		{ "10:*", "10:*" },
		{ "*:*", "*" },
		{ "1:*", "1:*" },
		{ "3,2,1", "1:3" },
		{ "1,3,5", "1,3,5" },
		{ "1:5,2:3", "1:5" },
		{ "1:5,6:9", "1:9" },
		{ "1:5,7:9", "1:5,7:9" },
		{ "5,5,5", "5" },
		{ "7:9,1:2,3", "1:3,7:9" },
		{ "4294967295", "4294967295" },
		{ "4294967295,*", "4294967295:*" },
		{ "1:4294967295", "1:4294967295" },
		{ "2,*,3:*", "2:*" },
		{ "100,*", "100,*" },
		{ "10:12,11:*", "10:*" },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_seqset set;
		struct mn_err err = {0};
		struct buf b;

		assert_int_equal(
		    imap_seqset_parse(slice_from_cstr(cases[i].in), 100, &set, &err), 0);
		buf_init(&b, 0);
		assert_int_equal(imap_seqset_format(&set, &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].want) != 0) {
			print_error(
			    "[%s] -> [%s], want [%s]\n", cases[i].in, buf_cstr(&b), cases[i].want);
			fail();
		}
		buf_fini(&b);
		imap_seqset_fini(&set);
		assert_null(set.ranges);
	}
}

static void
test_invalid_sets(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in;
		int rc;
		const char *msg; /* prefix */
	} cases[] = {
		{ "", MN_EPARSE, "Empty sequence set" },
		{ "0", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "1:0", MN_EPARSE, "Invalid sequence set: number expected at 2" },
		{ "01", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "1,01", MN_EPARSE, "Invalid sequence set: number expected at 2" },
		{ "4294967296", MN_EPARSE, "Invalid sequence set: number too big" },
		{ "99999999999999999999999", MN_EPARSE, "Invalid sequence set: number too big" },
		{ "$", MN_EPARSE, "SEARCHRES ($) is not supported" },
		{ "1,$", MN_EPARSE, "SEARCHRES ($) is not supported" },
		{ "1:$", MN_EPARSE, "SEARCHRES ($) is not supported" },
		{ "1,", MN_EPARSE, "Invalid sequence set: number expected at 2" },
		{ ",1", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "1,,2", MN_EPARSE, "Invalid sequence set: number expected at 2" },
		{ "1:", MN_EPARSE, "Invalid sequence set: number expected at 2" },
		{ ":1", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "1:2:3", MN_EPARSE, "Invalid sequence set: unexpected ':' at 3" },
		{ "1 2", MN_EPARSE, "Invalid sequence set: unexpected ' ' at 1" },
		{ "1a", MN_EPARSE, "Invalid sequence set: unexpected 'a' at 1" },
		{ "**", MN_EPARSE, "Invalid sequence set: unexpected '*' at 1" },
		{ "-1", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "+1", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "1\x80", MN_EPARSE, "Invalid sequence set: unexpected '?' at 1" },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_seqset set = {(void *)1, 7};
		struct mn_err err = {0};

		if (imap_seqset_parse(slice_from_cstr(cases[i].in), 100, &set, &err) !=
		        cases[i].rc ||
		    strcmp(err.msg, cases[i].msg) != 0) {
			print_error("[%s]: [%s]\n", cases[i].in, err.msg);
			fail();
		}
		assert_null(set.ranges);
		assert_int_equal(set.n, 0);
	}
}

static void
test_range_limit(void **state)
{
	struct imap_seqset set;
	struct mn_err err = {0};

	/* The limit counts elements as written, before merging. */
	assert_int_equal(imap_seqset_parse(SLICE_LIT("1,2,3"), 4, &set, &err), 0);
	imap_seqset_fini(&set);
	assert_int_equal(imap_seqset_parse(SLICE_LIT("1,2,3,4"), 4, &set, &err), 0);
	assert_int_equal(set.n, 1);
	imap_seqset_fini(&set);
	assert_int_equal(imap_seqset_parse(SLICE_LIT("1,2,3,4,5"), 4, &set, &err), MN_ELIMIT);
	assert_string_equal(err.msg, "Too many ranges in sequence set (max 4)");
	assert_null(set.ranges);
	assert_int_equal(imap_seqset_parse(SLICE_LIT("1:2,3:4,5:*,7"), 4, &set, &err), 0);
	imap_seqset_fini(&set);
	assert_int_equal(imap_seqset_parse(SLICE_LIT("1:2,3:4,5:*,7,8"), 4, &set, &err), MN_ELIMIT);
}

/* members - the iteration as text, checked against contains() for 0..max+2. */
static void
members(const char *in, uint32_t max, const char *want)
{
	struct imap_seqset set;
	struct imap_seqset_iter it;
	struct mn_err err = {0};
	struct buf b;
	uint32_t n, prev = 0, count = 0;

	assert_int_equal(imap_seqset_parse(slice_from_cstr(in), 100, &set, &err), 0);
	buf_init(&b, 0);
	imap_seqset_iter_init(&it, &set, max);
	while (imap_seqset_iter_next(&it, &n)) {
		assert_true(n > prev); /* ascending, each once */
		assert_true(imap_seqset_contains(&set, n, max));
		buf_printf(&b, "%s%u", b.len ? "," : "", n);
		prev = n;
		count++;
	}
	assert_false(imap_seqset_iter_next(&it, &n));
	for (uint32_t k = 0; k <= max + 2 && k < 100; k++) {
		bool listed = false;
		struct imap_seqset_iter it2;

		imap_seqset_iter_init(&it2, &set, max);
		while (imap_seqset_iter_next(&it2, &n))
			listed = listed || n == k;
		assert_int_equal(imap_seqset_contains(&set, k, max), listed);
	}
	if (strcmp(buf_cstr(&b), want) != 0) {
		print_error("[%s] max %u -> [%s], want [%s]\n", in, max, buf_cstr(&b), want);
		fail();
	}
	buf_fini(&b);
	imap_seqset_fini(&set);
}

static void
test_membership_and_iteration(void **state)
{
	members("1:4,7,*:10", 12, "1,2,3,4,7,10,11,12");
	members("1:4,7,*:10", 8, "1,2,3,4,7,8");
	members("1:4,7,*:10", 5, "1,2,3,4,5");
	members("1:4,7,*:10", 3, "1,2,3");
	members("*", 5, "5");
	members("*", 0, "");
	members("1:*", 0, "");
	members("5:*", 3, "3"); /* RFC 3501: 5:* with 3 messages is 3:5 */
	members("2,5:*", 3, "2,3");
	members("3:100,200:*", 50,
	    "3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"
	    "26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50");
	members("1,3,5", 4, "1,3");
	members("4:2", 10, "2,3,4");
	members("10", 5, "");
}

static void
test_extremes(void **state)
{
	struct imap_seqset set;
	struct imap_seqset_iter it;
	struct mn_err err;
	uint32_t n;

	assert_int_equal(imap_seqset_parse(SLICE_LIT("4294967294:*"), 10, &set, &err), 0);
	assert_true(imap_seqset_contains(&set, UINT32_MAX, UINT32_MAX));
	assert_true(imap_seqset_contains(&set, UINT32_MAX - 1, UINT32_MAX));
	assert_false(imap_seqset_contains(&set, UINT32_MAX - 2, UINT32_MAX));
	imap_seqset_iter_init(&it, &set, UINT32_MAX);
	assert_true(imap_seqset_iter_next(&it, &n));
	assert_int_equal(n, UINT32_MAX - 1);
	assert_true(imap_seqset_iter_next(&it, &n));
	assert_int_equal(n, UINT32_MAX);
	assert_false(imap_seqset_iter_next(&it, &n));
	assert_true(imap_seqset_has_star(&set));
	assert_int_equal(imap_seqset_max_number(&set), 4294967294u);
	imap_seqset_fini(&set);

	assert_int_equal(imap_seqset_parse(SLICE_LIT("7,2:3"), 10, &set, &err), 0);
	assert_false(imap_seqset_has_star(&set));
	assert_int_equal(imap_seqset_max_number(&set), 7);
	imap_seqset_fini(&set);
	assert_int_equal(imap_seqset_parse(SLICE_LIT("*"), 10, &set, &err), 0);
	assert_int_equal(imap_seqset_max_number(&set), 0);
	imap_seqset_fini(&set);
	imap_seqset_fini(&set); /* twice is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_sets_normalised),
	    cmocka_unit_test(test_invalid_sets),
	    cmocka_unit_test(test_range_limit),
	    cmocka_unit_test(test_membership_and_iteration),
	    cmocka_unit_test(test_extremes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
