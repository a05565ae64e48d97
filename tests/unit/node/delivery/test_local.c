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
#include "cluster/handoff/handoff.h"
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

static int
buf_write_cb(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static ssize_t
read_cb(void *arg, void *out, size_t len)
{
	struct reader *r = arg;

	if (len > r->left)
		len = r->left;
	memcpy(out, r->p, len);
	r->p += len;
	r->left -= len;
	return (ssize_t)len;
}

/* The queue on node1 stored the entry for bob (its local delivery, key
 * handoff_id), bob moved to node2 with his delivery ids, and the entry is
 * retried there (a crash before the spool recorded the outcome, or a
 * handoff whose reply was lost): the same key finds the copy, nothing is
 * stored twice. */
static void
test_retry_after_move_finds_it(void **state)
{
	struct mailstore *a, *b;
	struct mn_err err;
	struct local_target t;
	char key[HANDOFF_ID_MAX + 1], other[HANDOFF_ID_MAX + 1], *da, *db;
	struct mailstore_msg *list = NULL;
	size_t n = 0;
	struct buf s;
	struct reader r;
	uint32_t uid;

	(void)state;
	/* one key per spool entry, whichever node stores it */
	handoff_id("node1", ID, "node1", key);
	handoff_id("node1", ID, "node2", other);
	assert_string_equal(key, "h1/node1/0006614CF36E910F0001");
	assert_string_equal(key, other);

	da = xasprintf("%s/a", tmpdir);
	db = xasprintf("%s/b", tmpdir);
	assert_int_equal(mailstore_open(da, &a, &err), 0);
	assert_int_equal(mailstore_open(db, &b, &err), 0);
	memset(&t, 0, sizeof(t));
	t.user = "bob@a.test";
	assert_int_equal(local_deliver(a, key, MSG, strlen(MSG), 1700000000, &t, 1, &err), 0);
	assert_int_equal(t.rc, 0);
	assert_int_equal(mailstore_msg_list(a, "bob@a.test", "INBOX", 0, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	uid = list[0].uid;
	mailstore_msg_list_free(&list, n);

	/* the move */
	buf_init(&s, 0);
	assert_int_equal(mailstore_export(a, "bob@a.test", buf_write_cb, &s, &err), 0);
	r = (struct reader){s.data, s.len};
	assert_int_equal(mailstore_import(b, "bob@a.test", read_cb, &r, &err), 0);
	buf_fini(&s);

	/* the retry on the new home */
	memset(&t, 0, sizeof(t));
	t.user = "bob@a.test";
	assert_int_equal(local_deliver(b, other, MSG, strlen(MSG), 1700000000, &t, 1, &err), 0);
	assert_int_equal(t.rc, 0);
	assert_true(t.found);
	assert_int_equal(mailstore_msg_list(b, "bob@a.test", "INBOX", 0, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].uid, uid);
	mailstore_msg_list_free(&list, n);
	mailstore_close(&a);
	mailstore_close(&b);
	free(da);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deliver_then_retry_finds_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after_move_finds_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota_refusal_per_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
