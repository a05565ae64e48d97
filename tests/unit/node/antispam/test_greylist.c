/*
 * test_greylist.c - RFC 6647 triplets on a driven clock: defer, pass
 * after the delay, remembered, forgotten after the window and lifetime,
 * networks, the size bound; saved and loaded over a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/antispam/greylist.h"

#define S 1000ULL

static void
test_first_attempt_deferred_then_passes_after_delay(void **state)
{
	struct greylist *g = greylist_new(300 * S, 4 * 3600 * S, 36 * 86400 * S, 1000);
	uint64_t wait;

	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "a@x.test", "b@y.test", 1000 * S, &wait), 1);
	assert_int_equal(wait, 300 * S);
	/* an early retry is deferred with the time left, not restarted */
	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "a@x.test", "b@y.test", 1100 * S, &wait), 1);
	assert_int_equal(wait, 200 * S);
	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "a@x.test", "b@y.test", 1300 * S, &wait), 0);
	/* remembered: later mail passes at once, also from the same /24 and
	 * with the sender in another case */
	assert_int_equal(
	    greylist_check(g, "192.0.2.77", "A@X.test", "b@y.test", 5000 * S, &wait), 0);
	/* another recipient, sender or network is a new triplet */
	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "a@x.test", "c@y.test", 5000 * S, &wait), 1);
	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "z@x.test", "b@y.test", 5000 * S, &wait), 1);
	assert_int_equal(
	    greylist_check(g, "192.0.3.1", "a@x.test", "b@y.test", 5000 * S, &wait), 1);
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
	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "a@x.test", "new@y.test", 50 * S, &wait), 1);
	assert_int_equal(greylist_count(g), 1);
	greylist_free(&g);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_save_and_load(void **state)
{
	char dir[] = "/tmp/mn_greylist_XXXXXX", path[64];
	struct greylist *g = greylist_new(300 * S, 4 * 3600 * S, 36 * 86400 * S, 1000), *h;
	struct mn_err err;
	uint64_t wait, t0 = 1700000000 * S; /* wall-clock epoch ms */

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/greylist", dir);
	/* a: passed; b: waiting; c: waiting, its window over by the load */
	assert_int_equal(greylist_check(g, "192.0.2.1", "a@x.test", "r@y.test", t0, &wait), 1);
	assert_int_equal(
	    greylist_check(g, "192.0.2.1", "a@x.test", "r@y.test", t0 + 400 * S, &wait), 0);
	assert_int_equal(
	    greylist_check(g, "192.0.2.9", "c@x.test", "r@y.test", t0 + 50 * S, &wait), 1);
	assert_int_equal(
	    greylist_check(g, "192.0.2.5", "b@x.test", "r@y.test", t0 + 4 * 3600 * S, &wait), 1);
	assert_int_equal(greylist_save(g, path, t0 + 4 * 3600 * S + 10 * S, &err), 0);
	greylist_free(&g);

	/* a missing file is an empty table */
	h = greylist_new(300 * S, 4 * 3600 * S, 36 * 86400 * S, 1000);
	assert_int_equal(greylist_load(h, "/nonexistent/greylist", t0, &err), 0);
	assert_int_equal(greylist_count(h), 0);
	/* the restarted node, 100 s after the save */
	assert_int_equal(greylist_load(h, path, t0 + 4 * 3600 * S + 110 * S, &err), 0);
	assert_int_equal(greylist_count(h), 2); /* c's window has ended */
	assert_int_equal(
	    greylist_check(h, "192.0.2.1", "a@x.test", "r@y.test", t0 + 5 * 3600 * S, &wait), 0);
	assert_int_equal(greylist_check(h, "192.0.2.5", "b@x.test", "r@y.test",
	                     t0 + 4 * 3600 * S + 200 * S, &wait),
	    1);
	assert_int_equal(wait, 100 * S); /* its delay counts from the first attempt */
	greylist_free(&h);

	/* bad lines are skipped, good ones kept; times in the future (a clock
	 * set back) are dropped */
	write_file(path, "mailnode-greylist 1\nx y z\n1 2\n"
	                 "1700000000000 1700000000001 10.0.0.0/24|a@b|c@d\n"
	                 "1700000000000 0 10.0.0.0/24|a@b|c@d\n"
	                 "9999999999999 0 10.0.0.0/24|late@b|c@d\n");
	h = greylist_new(300 * S, 4 * 3600 * S, 36 * 86400 * S, 1000);
	assert_int_equal(greylist_load(h, path, t0 + 10 * S, &err), 0);
	assert_int_equal(greylist_count(h), 1);
	assert_int_equal(greylist_check(h, "10.0.0.7", "a@b", "c@d", t0 + 20 * S, &wait), 0);
	greylist_free(&h);
	/* not our file: nothing */
	write_file(path, "something else\n1700000000000 0 10.0.0.0/24|a@b|c@d\n");
	h = greylist_new(300 * S, 4 * 3600 * S, 36 * 86400 * S, 1000);
	assert_int_equal(greylist_load(h, path, t0 + 10 * S, &err), 0);
	assert_int_equal(greylist_count(h), 0);
	greylist_free(&h);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_attempt_deferred_then_passes_after_delay),
	    cmocka_unit_test(test_retry_after_window_starts_over_and_pass_expires),
	    cmocka_unit_test(test_full_table_sweeps_then_fails_open),
	    cmocka_unit_test(test_save_and_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
