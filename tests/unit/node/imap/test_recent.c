/*
 * test_recent.c - the \Recent marks of node/imap/recent.h: a read-write
 * session takes the new messages exactly once, EXAMINE looks without taking,
 * the start after a restart follows INTERNALDATE, a new UIDVALIDITY starts
 * over, folders and users are apart, and buckets stay bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "node/imap/recent.h"

/* a folder of uids 1..n delivered at t = 1000 + uid */
static void
make_list(struct mailstore_msg *list, size_t n)
{
	memset(list, 0, n * sizeof(*list));
	for (size_t i = 0; i < n; i++) {
		list[i].uid = (uint32_t)i + 1;
		list[i].internal_date = 1000 + (int64_t)i + 1;
	}
}

static int
reset(void **state)
{
	(void)state;
	imap_recent_reset();
	return 0;
}

static void
test_take_once(void **state)
{
	struct mailstore_msg l[5];

	(void)state;
	make_list(l, 5);
	/* no epoch: everything is new */
	assert_int_equal(imap_recent_count("a@x", "INBOX", 7, l, 3), 3);
	/* EXAMINE looks, takes nothing */
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 3, false), 0);
	assert_int_equal(imap_recent_count("a@x", "INBOX", 7, l, 3), 3);
	/* the first SELECT takes 1..3 */
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 3, true), 0);
	assert_int_equal(imap_recent_count("a@x", "INBOX", 7, l, 3), 0);
	/* a second SELECT gets none of them */
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 3, true), 3);
	/* two more arrive: the next reader-writer takes exactly 4 and 5 */
	assert_int_equal(imap_recent_count("a@x", "INBOX", 7, l, 5), 2);
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 5, true), 3);
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 5, true), 5);
	/* a shorter (older) listing never moves the mark down */
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 2, true), 5);
	assert_int_equal(imap_recent_take("a@x", "INBOX", 7, l, 0, true), 5);
	/* other folders and users are apart */
	assert_int_equal(imap_recent_take("a@x", "Sent", 7, l, 5, true), 0);
	assert_int_equal(imap_recent_take("b@x", "INBOX", 7, l, 5, true), 0);
	/* "a@x" + "INBOX" must not meet "a@xI" + "NBOX" */
	assert_int_equal(imap_recent_take("a@xI", "NBOX", 7, l, 5, false), 0);
	/* known without creating; not for another uidvalidity or folder */
	{
		uint32_t mark = 0;

		assert_true(imap_recent_known("a@x", "INBOX", 7, &mark));
		assert_int_equal(mark, 5);
		assert_false(imap_recent_known("a@x", "INBOX", 8, &mark));
		assert_false(imap_recent_known("a@x", "Drafts", 7, &mark));
		assert_false(imap_recent_known("a@x", "Drafts", 7, &mark)); /* still not made */
	}
	/* the folder was made again: new UIDVALIDITY, all new */
	assert_int_equal(imap_recent_take("a@x", "INBOX", 8, l, 2, true), 0);
	assert_int_equal(imap_recent_take("a@x", "INBOX", 8, l, 2, true), 2);
}

static void
test_epoch_start(void **state)
{
	struct mailstore_msg l[6];

	(void)state;
	make_list(l, 6);
	/* started at 1004: uids 1..3 (t 1001..1003) came before, 4..6 after */
	imap_recent_set_epoch(1004);
	imap_recent_set_epoch(2000); /* the first call wins */
	assert_int_equal(imap_recent_count("c@x", "INBOX", 1, l, 6), 3);
	/* the highest uid dated before the start decides: an APPEND with an
	 * old date counts as old mail (recent.h) */
	l[5].internal_date = 10;
	assert_int_equal(imap_recent_take("d@x", "INBOX", 1, l, 6, true), 6);
	l[5].internal_date = 1006;
	l[1].internal_date = 5000; /* an out-of-order date below: mark is 3 */
	assert_int_equal(imap_recent_take("e@x", "INBOX", 1, l, 6, true), 3);
}

static void
test_buckets_bounded(void **state)
{
	struct mailstore_msg l[2];
	char folder[32];
	size_t evicted = 0;

	(void)state;
	make_list(l, 2);
	/* more folders than any bucket holds: all get taken ... */
	for (int i = 0; i < RECENT_BUCKETS * RECENT_BUCKET_MAX * 2; i++) {
		snprintf(folder, sizeof(folder), "f%d", i);
		imap_recent_take("u@x", folder, 1, l, 2, true);
	}
	/* ... the most recent one is still known, and older ones were dropped
	 * (they start over: both messages new again) */
	assert_int_equal(imap_recent_take("u@x", folder, 1, l, 2, true), 2);
	for (int i = 0; i < RECENT_BUCKETS * RECENT_BUCKET_MAX; i++) {
		snprintf(folder, sizeof(folder), "f%d", i);
		evicted += imap_recent_take("u@x", folder, 1, l, 2, false) == 0;
	}
	assert_true(evicted >= (size_t)RECENT_BUCKETS * RECENT_BUCKET_MAX / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_take_once, reset),
	    cmocka_unit_test_setup(test_epoch_start, reset),
	    cmocka_unit_test_setup(test_buckets_bounded, reset),
	};

	return cmocka_run_group_tests(tests, NULL, reset);
}
