/*
 * test_greylist.c - RFC 6647 triplets on a driven clock: defer, pass
 * after the delay, remembered, forgotten after the window and lifetime,
 * networks, the size bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "node/antispam/greylist.h"

#define S 1000ULL

static void
test_first_attempt_deferred_then_passes_after_delay(void **state)
{
	struct greylist *g = greylist_new(300 * S, 4 * 3600 * S, 36 * 86400 * S, 1000);
	uint64_t wait;

	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "b@y.test", 1000 * S, &wait), 1);
	assert_int_equal(wait, 300 * S);
	/* an early retry is deferred with the time left, not restarted */
	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "b@y.test", 1100 * S, &wait), 1);
	assert_int_equal(wait, 200 * S);
	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "b@y.test", 1300 * S, &wait), 0);
	/* remembered: later mail passes at once, also from the same /24 and
	 * with the sender in another case */
	assert_int_equal(greylist_check(g, "192.0.2.77", "A@X.test", "b@y.test", 5000 * S, &wait), 0);
	/* another recipient, sender or network is a new triplet */
	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "c@y.test", 5000 * S, &wait), 1);
	assert_int_equal(greylist_check(g, "192.0.2.1", "z@x.test", "b@y.test", 5000 * S, &wait), 1);
	assert_int_equal(greylist_check(g, "192.0.3.1", "a@x.test", "b@y.test", 5000 * S, &wait), 1);
	assert_int_equal(greylist_count(g), 4);
	greylist_free(&g);
	assert_null(g);
}

static void
test_retry_after_window_starts_over_and_pass_expires(void **state)
{
	struct greylist *g = greylist_new(10 * S, 100 * S, 1000 * S, 1000);
	uint64_t wait;

	assert_int_equal(greylist_check(g, "2001:db8::1", "", "b@y.test", 0, &wait), 1);
	/* after the retry window: a new first attempt */
	assert_int_equal(greylist_check(g, "2001:db8::1", "", "b@y.test", 200 * S, &wait), 1);
	assert_int_equal(wait, 10 * S);
	/* the same /64 */
	assert_int_equal(greylist_check(g, "2001:db8::ffff", "", "b@y.test", 210 * S, &wait), 0);
	/* the pass lifetime runs from the last use */
	assert_int_equal(greylist_check(g, "2001:db8::1", "", "b@y.test", 1100 * S, &wait), 0);
	assert_int_equal(greylist_check(g, "2001:db8::1", "", "b@y.test", 2050 * S, &wait), 0);
	assert_int_equal(greylist_check(g, "2001:db8::1", "", "b@y.test", 3100 * S, &wait), 1);
	greylist_free(&g);
}

static void
test_full_table_sweeps_then_fails_open(void **state)
{
	struct greylist *g = greylist_new(10 * S, 20 * S, 30 * S, 3);
	uint64_t wait;
	char rcpt[32];

	for (int i = 0; i < 3; i++) {
		snprintf(rcpt, sizeof(rcpt), "r%d@y.test", i);
		assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", rcpt, 0, &wait), 1);
	}
	/* full, nothing expired: a new triplet passes */
	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "new@y.test", 5 * S, &wait), 0);
	assert_int_equal(greylist_count(g), 3);
	/* later the old ones expired: swept, the new one is greylisted */
	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "new@y.test", 50 * S, &wait), 1);
	assert_int_equal(greylist_count(g), 1);
	greylist_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_attempt_deferred_then_passes_after_delay),
	    cmocka_unit_test(test_retry_after_window_starts_over_and_pass_expires),
	    cmocka_unit_test(test_full_table_sweeps_then_fails_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
