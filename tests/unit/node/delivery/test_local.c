/*
 * test_local.c - local delivery: one body for many users, and the
 * idempotency check that keeps a retry after a crash from storing a message
 * twice (queue.h "exactly once into a mailbox").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/delivery/local.h"

static char tmpdir[64];

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	strcpy(tmpdir, "/tmp/mn_local_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int
teardown(void **state)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static size_t
inbox_count(struct mailstore *ms, const char *user)
{
	struct mailstore_msg *list = NULL;
	struct mn_err err;
	size_t n = 0;

	if (mailstore_msg_list(ms, user, "INBOX", 0, &list, &n, &err) != 0)
		return 0;
	mailstore_msg_list_free(&list, n);
	return n;
}

static const char MSG[] = "Received: from x ([127.0.0.1])\r\n\tby h (mailnode) with ESMTP id "
                          "0006614CF36E910F0001;\r\n\tSat, 28 Nov 2026 02:00:00 +0000\r\n"
                          "Subject: t\r\n\r\nbody\r\n";
static const char ID[] = "0006614CF36E910F0001";

static void
test_deliver_then_retry_finds_it(void **state)
{
	struct mailstore *ms;
	struct mn_err err;
	struct local_target t[2];

	assert_int_equal(mailstore_open(tmpdir, &ms, &err), 0);
	memset(t, 0, sizeof(t));
	t[0].user = "bob@a.test";
	t[1].user = "carol@a.test";
	assert_int_equal(local_deliver(ms, ID, MSG, strlen(MSG), 1700000000, t, 2, &err), 0);
	assert_int_equal(t[0].rc, 0);
	assert_int_equal(t[1].rc, 0);
	assert_false(t[0].found);
	assert_int_equal(inbox_count(ms, "bob@a.test"), 1);
	assert_int_equal(inbox_count(ms, "carol@a.test"), 1);

	/* the retry after a crash: bob had it already, dave did not */
	memset(t, 0, sizeof(t));
	t[0].user = "bob@a.test";
	t[1].user = "dave@a.test";
	assert_int_equal(local_deliver(ms, ID, MSG, strlen(MSG), 1700000000, t, 2, &err), 0);
	assert_true(t[0].found);
	assert_int_equal(t[0].rc, 0);
	assert_false(t[1].found);
	assert_int_equal(t[1].rc, 0);
	assert_int_equal(inbox_count(ms, "bob@a.test"), 1);
	assert_int_equal(inbox_count(ms, "dave@a.test"), 1);

	/* and on every attempt, not only after a crash: a second
	 * attempt of the same spool entry never makes a second copy */
	memset(t, 0, sizeof(t));
	t[0].user = "bob@a.test";
	assert_int_equal(local_deliver(ms, ID, MSG, strlen(MSG), 1700000000, t, 1, &err), 0);
	assert_true(t[0].found);
	assert_int_equal(inbox_count(ms, "bob@a.test"), 1);

	/* another spool entry with the same bytes is another message */
	memset(t, 0, sizeof(t));
	t[0].user = "bob@a.test";
	assert_int_equal(
	    local_deliver(ms, "0006614CF36E910F0002", MSG, strlen(MSG), 1700000000, t, 1, &err), 0);
	assert_false(t[0].found);
	assert_int_equal(inbox_count(ms, "bob@a.test"), 2);
	mailstore_close(&ms);
}

static void
test_quota_refusal_per_user(void **state)
{
	struct mailstore *ms;
	struct mn_err err;
	struct local_target t[2];

	assert_int_equal(mailstore_open(tmpdir, &ms, &err), 0);
	memset(t, 0, sizeof(t));
	t[0].user = "small@a.test";
	t[0].quota.max_bytes = 10;
	t[1].user = "big@a.test";
	assert_int_equal(local_deliver(ms, ID, MSG, strlen(MSG), 1700000000, t, 2, &err), 0);
	assert_int_equal(t[0].rc, MN_ENOQUOTA);
	assert_int_equal(t[1].rc, 0);
	assert_int_equal(inbox_count(ms, "small@a.test"), 0);
	assert_int_equal(inbox_count(ms, "big@a.test"), 1);
	mailstore_close(&ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deliver_then_retry_finds_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota_refusal_per_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
