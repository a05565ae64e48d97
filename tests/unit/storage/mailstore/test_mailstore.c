/*
 * test_mailstore.c - the mail store's operations: single-instance delivery,
 * quotas, flags/keywords/MODSEQ, copy/move/expunge, folders, persistence,
 * body and header reads, export/import, user deletion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "tests/unit/storage/mailstore/ms_test_util.h"

#define U1 "alice@example.test"
#define U2 "bob@example.test"
#define U3 "carol@example.test"

static const char MSG1[] = "From: a@b.test\r\nSubject: one\r\n\r\nbody one\r\n";
static const char MSG2[] = "From: a@b.test\r\nSubject: two\r\n\r\nbody two\r\n";
static const char MSG3[] = "Subject: three\n\nbody three\n";

struct fixture {
	char *root;
	struct mailstore *ms;
	struct mn_err err;
};

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	fx->root = ms_test_mkroot();
	fx->ms = ms_test_open(fx->root);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	mailstore_close(&fx->ms);
	ms_test_rmroot(fx->root);
	free(fx);
	return 0;
}

static uint32_t
append(struct fixture *fx, const char *user, const char *folder, const char *msg, uint32_t flags)
{
	uint32_t uid = 0, uv = 0;
	int rc = mailstore_append(fx->ms, user, folder, msg, strlen(msg), flags, NULL, 0,
	    1700000000, NULL, &uid, &uv, &fx->err);

	if (rc != 0)
		fprintf(stderr, "append: %s\n", fx->err.msg);
	assert_int_equal(rc, 0);
	assert_true(uv != 0);
	return uid;
}

static size_t
count_msgs(struct fixture *fx, const char *user, const char *folder)
{
	struct mailstore_msg *m = NULL;
	size_t n = 0;

	assert_int_equal(mailstore_msg_list(fx->ms, user, folder, 0, &m, &n, &fx->err), 0);
	mailstore_msg_list_free(&m, n);
	return n;
}

/* A repeated delivery id stores nothing more and hands back the first
 * UID; the body's references stay exact; a new id stores again. */
static void
test_deliver_id_is_idempotent(void **state)
{
	struct fixture *fx = *state;
	const char *users[] = {U1, U2};
	struct mailstore_deliver_result res[2];
	char longid[MAILSTORE_MAX_DELIVERY_ID + 2];

	assert_int_equal(mailstore_deliver_id(fx->ms, "node1/0001", users, 2, MSG1, strlen(MSG1),
	                     1700000000, NULL, NULL, res, &fx->err),
	    0);
	assert_false(res[0].duplicate);
	assert_false(res[1].duplicate);
	assert_int_equal(res[0].uid, 1);
	/* the retry: one user had it already, the other is new to it */
	users[0] = U2;
	users[1] = "carol@example.test";
	assert_int_equal(mailstore_deliver_id(fx->ms, "node1/0001", users, 2, MSG1, strlen(MSG1),
	                     1700000000, NULL, NULL, res, &fx->err),
	    0);
	assert_int_equal(res[0].rc, 0);
	assert_true(res[0].duplicate);
	assert_int_equal(res[0].uid, 1);
	assert_false(res[1].duplicate);
	assert_int_equal(count_msgs(fx, U2, "INBOX"), 1);
	assert_int_equal(count_msgs(fx, "carol@example.test", "INBOX"), 1);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT refs FROM bodies"), 3);
	/* another id is another message */
	assert_int_equal(mailstore_deliver_id(fx->ms, "node1/0002", users, 1, MSG1, strlen(MSG1),
	                     1700000000, NULL, NULL, res, &fx->err),
	    0);
	assert_false(res[0].duplicate);
	assert_int_equal(res[0].uid, 2);
	assert_int_equal(count_msgs(fx, U2, "INBOX"), 2);
	/* the same id for other bytes is another message, not a repeat */
	assert_int_equal(mailstore_deliver_id(fx->ms, "node1/0001", users, 1, MSG2, strlen(MSG2),
	                     1700000000, NULL, NULL, res, &fx->err),
	    0);
	assert_false(res[0].duplicate);
	assert_int_equal(res[0].uid, 3);
	assert_int_equal(count_msgs(fx, U2, "INBOX"), 3);
	/* bad ids are refused before anything is stored */
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(mailstore_deliver_id(fx->ms, longid, users, 1, MSG2, strlen(MSG2),
	                     1700000000, NULL, NULL, res, &fx->err),
	    MN_EINVAL);
	assert_int_equal(mailstore_deliver_id(fx->ms, "", users, 1, MSG2, strlen(MSG2), 1700000000,
	                     NULL, NULL, res, &fx->err),
	    MN_EINVAL);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 2);
}

static void
test_deliver_100_users_single_instance(void **state)
{
	struct fixture *fx = *state;
	const char *users[100];
	char *names[100];
	struct mailstore_deliver_result res[100];
	struct buf b;

	for (int i = 0; i < 100; i++)
		users[i] = names[i] = xasprintf("user%d@example.test", i);
	assert_int_equal(mailstore_deliver(fx->ms, users, 100, MSG1, strlen(MSG1), 1700000000, NULL,
	                     NULL, res, &fx->err),
	    0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(res[i].rc, 0);
		assert_int_equal(res[i].uid, 1);
		assert_true(res[i].uidvalidity != 0);
	}
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 1);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT COUNT(*) FROM bodies"), 1);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT refs FROM bodies"), 100);

	buf_init(&b, 4096);
	assert_int_equal(
	    mailstore_body_read(fx->ms, users[57], "INBOX", 1, 0, 4096, &b, &fx->err), 0);
	assert_int_equal(b.len, strlen(MSG1));
	assert_memory_equal(b.data, MSG1, b.len);
	buf_fini(&b);

	for (int i = 0; i < 100; i++) {
		uint32_t *gone = NULL;
		size_t n = 0;

		assert_int_equal(mailstore_expunge(fx->ms, users[i], "INBOX", NULL, 0, false, &gone,
		                     &n, &fx->err),
		    0);
		assert_int_equal(n, 1);
		assert_int_equal(gone[0], 1);
		free(gone);
		/* the body stays while anybody still holds it */
		assert_int_equal(ms_test_count_files(fx->root, "bodies"), i < 99 ? 1 : 0);
	}
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT COUNT(*) FROM bodies"), 0);
	for (int i = 0; i < 100; i++)
		free(names[i]);
}

static void
test_default_folders_on_first_use(void **state)
{
	static const struct {
		const char *name, *special_use;
	} want[] = {
	    {"Drafts", "\\Drafts"},
	    {"INBOX", NULL},
	    {"Junk", "\\Junk"},
	    {"Sent", "\\Sent"},
	    {"Trash", "\\Trash"},
	};
	struct fixture *fx = *state;
	struct mailstore_folder_info *fl = NULL;
	size_t n = 0;

	assert_false(mailstore_user_exists(fx->ms, U1));
	assert_int_equal(mailstore_folder_list(fx->ms, U1, &fl, &n, &fx->err), 0);
	assert_true(mailstore_user_exists(fx->ms, U1));
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(fl[i].name, want[i].name);
		if (want[i].special_use)
			assert_string_equal(fl[i].special_use, want[i].special_use);
		else
			assert_null(fl[i].special_use);
		assert_true(fl[i].subscribed);
		assert_int_equal(fl[i].uidnext, 1);
		assert_int_equal(fl[i].messages, 0);
		/* distinct UIDVALIDITY for every folder */
		for (size_t k = 0; k < i; k++)
			assert_true(fl[k].uidvalidity != fl[i].uidvalidity);
	}
	mailstore_folder_list_free(&fl, n);
	assert_null(fl);
}

static void
test_quota_refusal_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct mailstore_quota q = {.max_messages = 2};
	struct mailstore_deliver_result r;
	const char *u = U1;
	uint64_t bytes, msgs;
	uint32_t uid = 0;

	assert_int_equal(
	    mailstore_deliver(fx->ms, &u, 1, MSG1, strlen(MSG1), 1, NULL, &q, &r, &fx->err), 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(
	    mailstore_deliver(fx->ms, &u, 1, MSG2, strlen(MSG2), 1, NULL, &q, &r, &fx->err), 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(
	    mailstore_deliver(fx->ms, &u, 1, MSG3, strlen(MSG3), 1, NULL, &q, &r, &fx->err), 0);
	assert_int_equal(r.rc, MN_ENOQUOTA);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 2);
	assert_int_equal(ms_test_count_files(fx->root, "tmp"), 0);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 2);
	assert_int_equal(count_msgs(fx, U1, "INBOX"), 2);

	/* bytes: exactly at the limit is fine, one byte over is not */
	q = (struct mailstore_quota){.max_bytes = strlen(MSG1) + strlen(MSG2) + strlen(MSG3)};
	assert_int_equal(mailstore_append(fx->ms, U1, "INBOX", MSG3, strlen(MSG3), 0, NULL, 0, 1,
	                     &q, &uid, NULL, &fx->err),
	    0);
	assert_int_equal(uid, 3);
	assert_int_equal(
	    mailstore_append(fx->ms, U1, "INBOX", "x", 1, 0, NULL, 0, 1, &q, &uid, NULL, &fx->err),
	    MN_ENOQUOTA);
	assert_int_equal(uid, 3);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 3);
	assert_int_equal(mailstore_quota_usage(fx->ms, U1, &bytes, &msgs, &fx->err), 0);
	assert_int_equal(bytes, q.max_bytes);
	assert_int_equal(msgs, 3);

	/* copy counts against the quota too; refused copy takes no refs */
	assert_int_equal(
	    mailstore_copy(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, "Trash", &q, NULL, &fx->err),
	    MN_ENOQUOTA);
	assert_int_equal(count_msgs(fx, U1, "Trash"), 0);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 3);

	/* one delivery, two users, one of them full: the other gets it */
	{
		const char *two[] = {U1, U2};
		struct mailstore_quota lim[2] = {{.max_messages = 3}, {0}};
		struct mailstore_deliver_result rr[2];

		assert_int_equal(
		    mailstore_deliver(fx->ms, two, 2, "new", 3, 1, NULL, lim, rr, &fx->err), 0);
		assert_int_equal(rr[0].rc, MN_ENOQUOTA);
		assert_int_equal(rr[1].rc, 0);
		assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 4);
		assert_int_equal(count_msgs(fx, U1, "INBOX"), 3);
	}
}

static void
test_flags_keywords_modseq(void **state)
{
	struct fixture *fx = *state;
	struct mailstore_folder_info fi;
	struct mailstore_msg *m = NULL;
	uint32_t *failed = NULL;
	size_t n = 0, nfailed = 0;
	uint64_t ms1 = 0, ms2 = 0, ms3 = 0, hms;

	append(fx, U1, "INBOX", MSG1, 0);
	append(fx, U1, "INBOX", MSG2, MAILSTORE_DRAFT);
	append(fx, U1, "INBOX", MSG3, 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX", &fi, &fx->err), 0);
	hms = fi.highestmodseq;
	assert_int_equal(fi.unseen, 3);
	mailstore_folder_info_fini(&fi);

	/* +FLAGS (\Seen $Work) on 1 and 2 (and 99, which does not exist) */
	assert_int_equal(mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){2, 1, 99}, 3,
	                     MAILSTORE_FLAGS_ADD, MAILSTORE_SEEN, (const char *[]){"$Work"}, 1, 0,
	                     &failed, &nfailed, &ms1, &fx->err),
	    0);
	assert_int_equal(nfailed, 0);
	assert_true(ms1 == hms + 1);
	/* same keyword in another case: no change, no new modseq */
	assert_int_equal(
	    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, MAILSTORE_FLAGS_ADD,
	        MAILSTORE_SEEN, (const char *[]){"$WORK"}, 1, 0, NULL, NULL, &ms2, &fx->err),
	    0);
	assert_true(ms2 == 0);
	assert_int_equal(
	    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, MAILSTORE_FLAGS_ADD, 0,
	        (const char *[]){"Later"}, 1, 0, NULL, NULL, &ms2, &fx->err),
	    0);
	assert_true(ms2 == ms1 + 1);

	assert_int_equal(mailstore_msg_list(fx->ms, U1, "INBOX", 0, &m, &n, &fx->err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(m[0].flags, MAILSTORE_SEEN);
	assert_string_equal(m[0].keywords, "$Work Later");
	assert_true(m[0].modseq == ms2);
	assert_int_equal(m[1].flags, MAILSTORE_SEEN | MAILSTORE_DRAFT);
	assert_string_equal(m[1].keywords, "$Work");
	assert_true(m[1].modseq == ms1);
	assert_int_equal(m[2].flags, 0);
	assert_string_equal(m[2].keywords, "");
	assert_int_equal(m[2].internal_date, 1700000000);
	assert_int_equal(m[2].size, strlen(MSG3));
	mailstore_msg_list_free(&m, n);

	/* one message by uid: the same fields as its list entry */
	{
		struct mailstore_msg one;

		assert_int_equal(mailstore_msg_get(fx->ms, U1, "INBOX", 1, &one, &fx->err), 0);
		assert_int_equal(one.uid, 1);
		assert_int_equal(one.flags, MAILSTORE_SEEN);
		assert_string_equal(one.keywords, "$Work Later");
		assert_true(one.modseq == ms2);
		free(one.keywords);
		assert_int_equal(
		    mailstore_msg_get(fx->ms, U1, "INBOX", 99, &one, &fx->err), MN_ENOENT);
		assert_null(one.keywords);
		assert_int_equal(
		    mailstore_msg_get(fx->ms, U1, "NoSuchFolder", 1, &one, &fx->err), MN_ENOENT);
	}

	/* CHANGEDSINCE ms1: only message 1 changed after it */
	assert_int_equal(mailstore_msg_list(fx->ms, U1, "INBOX", ms1, &m, &n, &fx->err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].uid, 1);
	mailstore_msg_list_free(&m, n);

	/* UNCHANGEDSINCE ms1: uid 1 (modseq ms2 > ms1) fails, 2 and 3 change */
	assert_int_equal(mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1, 2, 3}, 3,
	                     MAILSTORE_FLAGS_SET, MAILSTORE_FLAGGED, NULL, 0, ms1, &failed,
	                     &nfailed, &ms3, &fx->err),
	    0);
	assert_int_equal(nfailed, 1);
	assert_int_equal(failed[0], 1);
	free(failed);
	assert_true(ms3 == ms2 + 1);
	/* -FLAGS removes keywords case-insensitively */
	assert_int_equal(
	    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, MAILSTORE_FLAGS_REMOVE,
	        MAILSTORE_SEEN, (const char *[]){"later"}, 1, 0, NULL, NULL, NULL, &fx->err),
	    0);
	assert_int_equal(mailstore_msg_list(fx->ms, U1, "INBOX", 0, &m, &n, &fx->err), 0);
	assert_int_equal(m[0].flags, 0);
	assert_string_equal(m[0].keywords, "$Work");
	assert_int_equal(m[1].flags, MAILSTORE_FLAGGED);
	assert_string_equal(m[1].keywords, "");
	assert_true(m[1].modseq == ms3);
	mailstore_msg_list_free(&m, n);

	assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX", &fi, &fx->err), 0);
	assert_true(fi.highestmodseq == ms3 + 1);
	assert_int_equal(fi.unseen, 3);
	mailstore_folder_info_fini(&fi);

	/* bad input changes nothing */
	assert_int_equal(
	    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, MAILSTORE_FLAGS_ADD, 0,
	        (const char *[]){"bad word"}, 1, 0, NULL, NULL, NULL, &fx->err),
	    MN_EINVAL);
	assert_int_equal(
	    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, MAILSTORE_FLAGS_ADD, 0,
	        (const char *[]){"\\Seen"}, 1, 0, NULL, NULL, NULL, &fx->err),
	    MN_EINVAL);
	assert_int_equal(mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1,
	                     MAILSTORE_FLAGS_ADD, 1u << 7, NULL, 0, 0, NULL, NULL, NULL, &fx->err),
	    MN_EINVAL);
	assert_int_equal(mailstore_flags_store(fx->ms, U1, "Nope", (uint32_t[]){1}, 1,
	                     MAILSTORE_FLAGS_ADD, 0, NULL, 0, 0, NULL, NULL, NULL, &fx->err),
	    MN_ENOENT);
}

static void
test_copy_move_expunge(void **state)
{
	struct fixture *fx = *state;
	struct mailstore_copyuid cu;
	struct mailstore_folder_info fi;
	struct mailstore_msg *m = NULL;
	uint32_t *gone = NULL;
	size_t n = 0;
	uint64_t bytes, msgs;

	append(fx, U1, "INBOX", MSG1, 0);
	append(fx, U1, "INBOX", MSG2, MAILSTORE_SEEN);
	append(fx, U1, "INBOX", MSG3, 0);

	assert_int_equal(mailstore_copy(fx->ms, U1, "INBOX", (uint32_t[]){3, 1, 99}, 3, "Trash",
	                     NULL, &cu, &fx->err),
	    0);
	assert_int_equal(cu.n, 2);
	assert_int_equal(cu.src_uids[0], 1);
	assert_int_equal(cu.dst_uids[0], 1);
	assert_int_equal(cu.src_uids[1], 3);
	assert_int_equal(cu.dst_uids[1], 2);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Trash", &fi, &fx->err), 0);
	assert_int_equal(cu.uidvalidity, fi.uidvalidity);
	assert_int_equal(fi.uidnext, 3);
	assert_int_equal(fi.messages, 2);
	mailstore_folder_info_fini(&fi);
	mailstore_copyuid_fini(&cu);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 5);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 3);

	/* MOVE: in exactly one folder afterwards, flags go along */
	assert_int_equal(
	    mailstore_move(fx->ms, U1, "INBOX", (uint32_t[]){2}, 1, "Junk", &cu, &fx->err), 0);
	assert_int_equal(cu.n, 1);
	assert_int_equal(cu.dst_uids[0], 1);
	mailstore_copyuid_fini(&cu);
	assert_int_equal(mailstore_msg_list(fx->ms, U1, "Junk", 0, &m, &n, &fx->err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].flags, MAILSTORE_SEEN);
	assert_int_equal(m[0].size, strlen(MSG2));
	mailstore_msg_list_free(&m, n);
	assert_int_equal(mailstore_msg_list(fx->ms, U1, "INBOX", 0, &m, &n, &fx->err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].uid, 1);
	assert_int_equal(m[1].uid, 3);
	mailstore_msg_list_free(&m, n);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 5);
	assert_int_equal(
	    mailstore_move(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, "INBOX", NULL, &fx->err),
	    MN_EINVAL);
	assert_int_equal(mailstore_copy(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, "Missing", NULL,
	                     NULL, &fx->err),
	    MN_ENOENT);

	/* UID EXPUNGE of a message without \Deleted: nothing */
	assert_int_equal(
	    mailstore_expunge(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1, true, &gone, &n, &fx->err),
	    0);
	assert_int_equal(n, 0);
	assert_null(gone);
	assert_int_equal(
	    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1, 3}, 2, MAILSTORE_FLAGS_ADD,
	        MAILSTORE_DELETED, NULL, 0, 0, NULL, NULL, NULL, &fx->err),
	    0);
	/* UID EXPUNGE 3 takes only 3 */
	assert_int_equal(
	    mailstore_expunge(fx->ms, U1, "INBOX", (uint32_t[]){3}, 1, true, &gone, &n, &fx->err),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(gone[0], 3);
	free(gone);
	/* EXPUNGE takes the rest that is \Deleted */
	assert_int_equal(
	    mailstore_expunge(fx->ms, U1, "INBOX", NULL, 0, true, &gone, &n, &fx->err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(gone[0], 1);
	free(gone);
	assert_int_equal(count_msgs(fx, U1, "INBOX"), 0);
	/* MSG1 and MSG3 are still in Trash, MSG2 in Junk */
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 3);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 3);
	assert_int_equal(mailstore_quota_usage(fx->ms, U1, &bytes, &msgs, &fx->err), 0);
	assert_int_equal(msgs, 3);
	assert_int_equal(bytes, strlen(MSG1) + strlen(MSG2) + strlen(MSG3));

	/* deleting a folder releases its messages */
	assert_int_equal(mailstore_folder_delete(fx->ms, U1, "Trash", &fx->err), 0);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 1);
	assert_int_equal(mailstore_quota_usage(fx->ms, U1, &bytes, &msgs, &fx->err), 0);
	assert_int_equal(msgs, 1);
	assert_int_equal(bytes, strlen(MSG2));
}

static void
test_folder_names_and_hierarchy(void **state)
{
	static const char *const bad[] = {"", "/a", "a/", "a//b", "a*b", "a%", "a\x01", "\xc3",
	    "\xc0\x80", "\xed\xa0\x80", "a\x7f"};
	struct fixture *fx = *state;
	struct mailstore_folder_info *fl = NULL;
	struct mailstore_folder_info fi;
	size_t n = 0;
	uint32_t uv_a, uv_old;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    mailstore_folder_create(fx->ms, U1, bad[i], NULL, &fx->err), MN_EINVAL);
	assert_int_equal(mailstore_folder_create(fx->ms, U1, "X", "\\Bogus", &fx->err), MN_EINVAL);
	assert_int_equal(mailstore_folder_create(fx->ms, U1, "inbox", NULL, &fx->err), MN_EEXIST);
	assert_int_equal(mailstore_folder_create(fx->ms, U1, "Inbox/Sub", NULL, &fx->err), 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX/Sub", &fi, &fx->err), 0);
	mailstore_folder_info_fini(&fi);
	/* UTF-8 names (the IMAP layer speaks modified UTF-7) */
	assert_int_equal(
	    mailstore_folder_create(fx->ms, U1, "工作/项目", "\\Archive", &fx->err), 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "工作", &fi, &fx->err), 0);
	assert_null(fi.special_use);
	assert_false(fi.subscribed); /* made as a parent, not asked for */
	mailstore_folder_info_fini(&fi);

	/* rename with children, UIDVALIDITY kept */
	assert_int_equal(mailstore_folder_create(fx->ms, U1, "Work/Projects/A", NULL, &fx->err), 0);
	append(fx, U1, "Work/Projects/A", MSG1, 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Work/Projects/A", &fi, &fx->err), 0);
	uv_a = fi.uidvalidity;
	mailstore_folder_info_fini(&fi);
	assert_int_equal(mailstore_folder_rename(fx->ms, U1, "Work", "Jobs/Old", &fx->err), 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Work", &fi, &fx->err), MN_ENOENT);
	assert_int_equal(
	    mailstore_folder_status(fx->ms, U1, "Jobs/Old/Projects/A", &fi, &fx->err), 0);
	assert_int_equal(fi.uidvalidity, uv_a);
	assert_int_equal(fi.messages, 1);
	assert_false(fi.subscribed);
	mailstore_folder_info_fini(&fi);
	assert_int_equal(mailstore_folder_list(fx->ms, U1, &fl, &n, &fx->err), 0);
	{
		static const char *const want[] = {"Drafts", "INBOX", "INBOX/Sub", "Jobs",
		    "Jobs/Old", "Jobs/Old/Projects", "Jobs/Old/Projects/A", "Junk", "Sent", "Trash",
		    "工作", "工作/项目"};

		assert_int_equal(n, sizeof(want) / sizeof(want[0]));
		for (size_t i = 0; i < n; i++)
			assert_string_equal(fl[i].name, want[i]);
	}
	mailstore_folder_list_free(&fl, n);
	assert_int_equal(mailstore_folder_rename(fx->ms, U1, "Jobs", "Sent", &fx->err), MN_EEXIST);
	assert_int_equal(
	    mailstore_folder_rename(fx->ms, U1, "Jobs", "Jobs/In", &fx->err), MN_EINVAL);
	/* RENAME INBOX moves its messages; INBOX and its children stay */
	{
		struct mailstore_folder_info in0;
		struct mailstore_msg *m = NULL;
		size_t k = 0;

		append(fx, U1, "INBOX", MSG2, MAILSTORE_SEEN);
		append(fx, U1, "INBOX", MSG3, 0);
		assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX", &in0, &fx->err), 0);
		assert_int_equal(
		    mailstore_folder_rename(fx->ms, U1, "inbox", "INBOX/Old", &fx->err), 0);
		assert_int_equal(
		    mailstore_folder_status(fx->ms, U1, "INBOX/Old", &fi, &fx->err), 0);
		assert_true(fi.uidvalidity != in0.uidvalidity);
		assert_int_equal(fi.uidnext, in0.uidnext);
		assert_int_equal(fi.messages, 2);
		mailstore_folder_info_fini(&fi);
		assert_int_equal(
		    mailstore_msg_list(fx->ms, U1, "INBOX/Old", 0, &m, &k, &fx->err), 0);
		assert_int_equal(k, 2);
		assert_int_equal(m[0].uid, 1);
		assert_int_equal(m[0].flags, MAILSTORE_SEEN);
		assert_int_equal(m[1].uid, 2);
		mailstore_msg_list_free(&m, k);
		assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX", &fi, &fx->err), 0);
		assert_int_equal(fi.uidvalidity, in0.uidvalidity);
		assert_int_equal(fi.uidnext, in0.uidnext);
		assert_int_equal(fi.messages, 0);
		assert_true(fi.highestmodseq > in0.highestmodseq);
		mailstore_folder_info_fini(&fi);
		mailstore_folder_info_fini(&in0);
		assert_int_equal(append(fx, U1, "INBOX", MSG1, 0), 3);
		assert_int_equal(
		    mailstore_folder_status(fx->ms, U1, "INBOX/Sub", &fi, &fx->err), 0);
		mailstore_folder_info_fini(&fi);
		assert_int_equal(
		    mailstore_folder_rename(fx->ms, U1, "INBOX", "Sent", &fx->err), MN_EEXIST);
		assert_int_equal(count_msgs(fx, U1, "INBOX"), 1);
		assert_int_equal(mailstore_folder_delete(fx->ms, U1, "INBOX/Old", &fx->err), 0);
		assert_int_equal(
		    mailstore_expunge(fx->ms, U1, "INBOX", NULL, 0, false, NULL, NULL, &fx->err),
		    0);
	}
	assert_int_equal(mailstore_folder_rename(fx->ms, U1, "Nope", "Old", &fx->err), MN_ENOENT);

	/* delete: INBOX never, a parent not before its children */
	assert_int_equal(mailstore_folder_delete(fx->ms, U1, "INBOX", &fx->err), MN_EPERM);
	assert_int_equal(mailstore_folder_delete(fx->ms, U1, "Jobs/Old", &fx->err), MN_ECONFLICT);
	assert_int_equal(mailstore_folder_delete(fx->ms, U1, "Nope", &fx->err), MN_ENOENT);
	assert_int_equal(mailstore_folder_delete(fx->ms, U1, "Jobs/Old/Projects/A", &fx->err), 0);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 0);

	/* a folder made again under an old name gets a new UIDVALIDITY */
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Junk", &fi, &fx->err), 0);
	uv_old = fi.uidvalidity;
	mailstore_folder_info_fini(&fi);
	assert_int_equal(mailstore_folder_delete(fx->ms, U1, "Junk", &fx->err), 0);
	assert_int_equal(mailstore_folder_create(fx->ms, U1, "Junk", "\\Junk", &fx->err), 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Junk", &fi, &fx->err), 0);
	assert_true(fi.uidvalidity > uv_old);
	assert_string_equal(fi.special_use, "\\Junk");
	mailstore_folder_info_fini(&fi);

	/* subscriptions */
	assert_int_equal(mailstore_folder_subscribe(fx->ms, U1, "Jobs", true, &fx->err), 0);
	assert_int_equal(mailstore_folder_subscribe(fx->ms, U1, "Sent", false, &fx->err), 0);
	assert_int_equal(mailstore_folder_subscribe(fx->ms, U1, "Nope", true, &fx->err), MN_ENOENT);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Jobs", &fi, &fx->err), 0);
	assert_true(fi.subscribed);
	mailstore_folder_info_fini(&fi);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Sent", &fi, &fx->err), 0);
	assert_false(fi.subscribed);
	mailstore_folder_info_fini(&fi);
}

static void
test_uidvalidity_uidnext_persist(void **state)
{
	struct fixture *fx = *state;
	struct mailstore_folder_info a, b;

	append(fx, U1, "INBOX", MSG1, 0);
	append(fx, U1, "INBOX", MSG2, 0);
	assert_int_equal(
	    mailstore_expunge(fx->ms, U1, "INBOX", (uint32_t[]){2}, 1, false, NULL, NULL, &fx->err),
	    0);
	assert_int_equal(mailstore_folder_create(fx->ms, U1, "Keep", NULL, &fx->err), 0);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX", &a, &fx->err), 0);
	/* one opener per ROOT */
	{
		struct mailstore *second = NULL;

		assert_int_equal(mailstore_open(fx->root, &second, &fx->err), MN_EAGAIN);
		assert_null(second);
	}
	mailstore_close(&fx->ms);
	fx->ms = ms_test_open(fx->root);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "INBOX", &b, &fx->err), 0);
	assert_int_equal(a.uidvalidity, b.uidvalidity);
	assert_int_equal(b.uidnext, 3);
	assert_true(a.highestmodseq == b.highestmodseq);
	assert_int_equal(b.messages, 1);
	mailstore_folder_info_fini(&a);
	mailstore_folder_info_fini(&b);
	/* an expunged UID is never given again */
	assert_int_equal(append(fx, U1, "INBOX", MSG3, 0), 3);
	assert_int_equal(mailstore_folder_status(fx->ms, U1, "Keep", &b, &fx->err), 0);
	mailstore_folder_info_fini(&b);
}

static void
test_body_and_header_reads(void **state)
{
	static const struct {
		const char *msg;
		const char *header;
	} cases[] = {
	    {"A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n"},
	    {"A: 1\n\nbody\n", "A: 1\n\n"},
	    {"\r\nbody only\r\n", "\r\n"},
	    {"A: no body\r\n", "A: no body\r\n"},
	};
	struct fixture *fx = *state;
	struct buf b;
	char got[64];
	uint64_t size;
	int fd;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t uid = append(fx, U1, "INBOX", cases[i].msg, 0);

		buf_init(&b, 1024);
		assert_int_equal(
		    mailstore_header_read(fx->ms, U1, "INBOX", uid, 1024, &b, &fx->err), 0);
		assert_int_equal(b.len, strlen(cases[i].header));
		assert_memory_equal(b.data, cases[i].header, b.len);
		buf_fini(&b);
	}
	/* headers past the 8 KiB read chunk, the empty line straddling it */
	for (size_t end = 8186; end <= 8194; end++) {
		size_t hlen = end + 4; /* "...\r\n\r\n" */
		char *msg = xmalloc(hlen + 7);
		uint32_t uid;

		memset(msg, 'h', end);
		memcpy(msg, "X-Long: ", 8);
		memcpy(msg + end, "\r\n\r\nbody\r\n", 10);
		msg[hlen + 6] = '\0';
		uid = append(fx, U1, "Drafts", msg, 0);
		buf_init(&b, 0);
		assert_int_equal(
		    mailstore_header_read(fx->ms, U1, "Drafts", uid, 65536, &b, &fx->err), 0);
		assert_int_equal(b.len, hlen);
		assert_memory_equal(b.data, msg, hlen);
		buf_fini(&b);
		free(msg);
	}
	/* header longer than max */
	buf_init(&b, 1024);
	assert_int_equal(
	    mailstore_header_read(fx->ms, U1, "INBOX", 1, 5, &b, &fx->err), MN_ETOOBIG);
	assert_int_equal(b.len, 0);
	/* byte ranges: inside, cut at the end, past the end */
	assert_int_equal(mailstore_body_read(fx->ms, U1, "INBOX", 1, 6, 5, &b, &fx->err), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "B: 2\r", 5);
	buf_reset(&b);
	assert_int_equal(mailstore_body_read(fx->ms, U1, "INBOX", 1, 14, 100, &b, &fx->err), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "body\r\n", 6);
	buf_reset(&b);
	assert_int_equal(mailstore_body_read(fx->ms, U1, "INBOX", 1, 1000, 10, &b, &fx->err), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(
	    mailstore_body_read(fx->ms, U1, "INBOX", 77, 0, 10, &b, &fx->err), MN_ENOENT);
	buf_fini(&b);
	/* an fd outlives the expunge of its message */
	assert_int_equal(mailstore_body_open(fx->ms, U1, "INBOX", 2, &fd, &size, &fx->err), 0);
	assert_int_equal(size, strlen(cases[1].msg));
	assert_int_equal(
	    mailstore_expunge(fx->ms, U1, "INBOX", (uint32_t[]){2}, 1, false, NULL, NULL, &fx->err),
	    0);
	assert_int_equal(pread(fd, got, sizeof(got), 0), (ssize_t)size);
	assert_memory_equal(got, cases[1].msg, size);
	close(fd);
}

/* --- export / import ---------------------------------------------------------- */

static int
buf_write_cb(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

struct reader {
	const uint8_t *data;
	size_t len, pos, step;
};

static ssize_t
reader_cb(void *arg, void *out, size_t len)
{
	struct reader *r = arg;
	size_t k = r->len - r->pos;

	if (k > len)
		k = len;
	if (r->step && k > r->step)
		k = r->step;
	memcpy(out, r->data + r->pos, k);
	r->pos += k;
	return (ssize_t)k;
}

static void
build_mailbox(struct fixture *fx, const char *user)
{
	append(fx, user, "INBOX", MSG1, MAILSTORE_SEEN);
	append(fx, user, "INBOX", MSG2, 0);
	append(fx, user, "INBOX", MSG3, MAILSTORE_FLAGGED | MAILSTORE_ANSWERED);
	assert_int_equal(mailstore_expunge(fx->ms, user, "INBOX", (uint32_t[]){2}, 1, false, NULL,
	                     NULL, &fx->err),
	    0);
	assert_int_equal(mailstore_flags_store(fx->ms, user, "INBOX", (uint32_t[]){3}, 1,
	                     MAILSTORE_FLAGS_ADD, MAILSTORE_DELETED,
	                     (const char *[]){"$Label1", "Work"}, 2, 0, NULL, NULL, NULL, &fx->err),
	    0);
	assert_int_equal(
	    mailstore_folder_create(fx->ms, user, "Projects/项目 X", "\\Archive", &fx->err), 0);
	assert_int_equal(mailstore_folder_subscribe(fx->ms, user, "Sent", false, &fx->err), 0);
	append(fx, user, "Projects/项目 X", "", 0); /* an empty message */
	/* an internal date before 1970 */
	assert_int_equal(mailstore_append(fx->ms, user, "Projects/项目 X", MSG2, strlen(MSG2),
	                     MAILSTORE_DRAFT, NULL, 0, -86400, NULL, NULL, NULL, &fx->err),
	    0);
	assert_int_equal(mailstore_copy(fx->ms, user, "INBOX", (uint32_t[]){1, 3}, 2, "Trash", NULL,
	                     NULL, &fx->err),
	    0);
}

static void
export_to(struct fixture *fx, const char *user, struct buf *out)
{
	buf_init(out, 0);
	assert_int_equal(mailstore_export(fx->ms, user, buf_write_cb, out, &fx->err), 0);
}

static void
assert_same_mailbox(struct fixture *fx, const char *a, const char *b)
{
	struct mailstore_folder_info *fa = NULL, *fb = NULL;
	size_t na = 0, nb = 0;

	assert_int_equal(mailstore_folder_list(fx->ms, a, &fa, &na, &fx->err), 0);
	assert_int_equal(mailstore_folder_list(fx->ms, b, &fb, &nb, &fx->err), 0);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		struct mailstore_msg *ma = NULL, *mb = NULL;
		size_t ka = 0, kb = 0;

		assert_string_equal(fa[i].name, fb[i].name);
		assert_int_equal(fa[i].uidvalidity, fb[i].uidvalidity);
		assert_int_equal(fa[i].uidnext, fb[i].uidnext);
		assert_true(fa[i].highestmodseq == fb[i].highestmodseq);
		assert_int_equal(fa[i].subscribed, fb[i].subscribed);
		assert_int_equal(fa[i].messages, fb[i].messages);
		assert_int_equal(fa[i].unseen, fb[i].unseen);
		if (fa[i].special_use || fb[i].special_use)
			assert_string_equal(fa[i].special_use, fb[i].special_use);
		assert_int_equal(
		    mailstore_msg_list(fx->ms, a, fa[i].name, 0, &ma, &ka, &fx->err), 0);
		assert_int_equal(
		    mailstore_msg_list(fx->ms, b, fb[i].name, 0, &mb, &kb, &fx->err), 0);
		assert_int_equal(ka, kb);
		for (size_t k = 0; k < ka; k++) {
			struct buf x, y;

			assert_int_equal(ma[k].uid, mb[k].uid);
			assert_int_equal(ma[k].flags, mb[k].flags);
			assert_string_equal(ma[k].keywords, mb[k].keywords);
			assert_true(ma[k].modseq == mb[k].modseq);
			assert_true(ma[k].size == mb[k].size);
			assert_int_equal(ma[k].internal_date, mb[k].internal_date);
			buf_init(&x, 0);
			buf_init(&y, 0);
			assert_int_equal(mailstore_body_read(fx->ms, a, fa[i].name, ma[k].uid, 0,
			                     1 << 20, &x, &fx->err),
			    0);
			assert_int_equal(mailstore_body_read(fx->ms, b, fb[i].name, mb[k].uid, 0,
			                     1 << 20, &y, &fx->err),
			    0);
			assert_int_equal(x.len, y.len);
			if (x.len)
				assert_memory_equal(x.data, y.data, x.len);
			buf_fini(&x);
			buf_fini(&y);
		}
		mailstore_msg_list_free(&ma, ka);
		mailstore_msg_list_free(&mb, kb);
	}
	mailstore_folder_list_free(&fa, na);
	mailstore_folder_list_free(&fb, nb);
}

static void
test_export_import_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct buf s1, s2;
	struct reader r;
	long long refs;

	build_mailbox(fx, U1);
	export_to(fx, U1, &s1);
	assert_memory_equal(s1.data, "MNMBX 2 ", 8);
	refs = ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies");

	/* fed whole, and one byte at a time */
	r = (struct reader){s1.data, s1.len, 0, 0};
	assert_int_equal(mailstore_import(fx->ms, U2, reader_cb, &r, &fx->err), 0);
	assert_same_mailbox(fx, U1, U2);
	r = (struct reader){s1.data, s1.len, 0, 1};
	assert_int_equal(mailstore_import(fx->ms, U3, reader_cb, &r, &fx->err), 0);
	assert_same_mailbox(fx, U1, U3);
	assert_int_equal(mailstore_user_delete(fx->ms, U3, &fx->err), 0);
	/* single-instance across users: same files, more references */
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 4);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), refs * 2);
	/* a re-export is byte-identical */
	export_to(fx, U2, &s2);
	assert_int_equal(s1.len, s2.len);
	assert_memory_equal(s1.data, s2.data, s1.len);
	buf_fini(&s2);

	/* next UIDs continue where the source stood */
	assert_int_equal(append(fx, U2, "INBOX", "new", 0), 4);
	/* no import over an existing mailbox */
	r = (struct reader){s1.data, s1.len, 0, 0};
	assert_int_equal(mailstore_import(fx->ms, U2, reader_cb, &r, &fx->err), MN_EEXIST);
	assert_int_equal(
	    mailstore_export(fx->ms, "nobody@example.test", buf_write_cb, &s2, &fx->err),
	    MN_ENOENT);
	buf_fini(&s1);
}

/* the delivery ids go with the mailbox: a delivery retried on the new home
 * (under the same id, the same bytes) is recognized, not stored again */
static void
test_export_keeps_delivery_ids(void **state)
{
	struct fixture *fx = *state;
	struct mailstore_deliver_result res;
	const char *u1[] = {U1}, *u2[] = {U2};
	struct mailstore_sync_stats a, b;
	struct buf s;
	struct reader r;
	uint32_t uid;

	build_mailbox(fx, U1);
	assert_int_equal(mailstore_deliver_id(fx->ms, "h1/node1/0001", u1, 1, MSG1, strlen(MSG1), 7,
	                     NULL, NULL, &res, &fx->err),
	    0);
	uid = res.uid;
	assert_int_equal(mailstore_deliver_id(fx->ms, "h1/node1/0000", u1, 1, MSG2, strlen(MSG2), 7,
	                     NULL, NULL, &res, &fx->err),
	    0);
	export_to(fx, U1, &s);
	/* sorted by id, after the folders */
	{
		char *d0 = memmem(s.data, s.len, "h1/node1/0000\n", 14);
		char *d1 = memmem(s.data, s.len, "h1/node1/0001\n", 14);

		assert_non_null(d0);
		assert_non_null(d1);
		assert_true(d0 < d1);
	}
	for (size_t step = 0; step <= 1; step++) {
		const char *to = step ? U3 : U2;

		r = (struct reader){s.data, s.len, 0, step};
		assert_int_equal(mailstore_import(fx->ms, to, reader_cb, &r, &fx->err), 0);
		assert_same_mailbox(fx, U1, to);
		assert_int_equal(mailstore_digest(fx->ms, U1, &a, &fx->err), 0);
		assert_int_equal(mailstore_digest(fx->ms, to, &b, &fx->err), 0);
		assert_string_equal(a.digest, b.digest);
		assert_true(a.deliveries == 2 && b.deliveries == 2);
	}
	/* the retry on the new home: found, same UID, nothing stored */
	assert_int_equal(mailstore_deliver_id(fx->ms, "h1/node1/0001", u2, 1, MSG1, strlen(MSG1), 7,
	                     NULL, NULL, &res, &fx->err),
	    0);
	assert_true(res.duplicate);
	assert_int_equal(res.rc, 0);
	assert_int_equal(res.uid, uid);
	assert_same_mailbox(fx, U1, U2);
	/* a new id is a new message */
	assert_int_equal(mailstore_deliver_id(fx->ms, "h1/node1/0002", u2, 1, MSG1, strlen(MSG1), 7,
	                     NULL, NULL, &res, &fx->err),
	    0);
	assert_false(res.duplicate);
	assert_int_equal(res.uid, uid + 2);
	buf_fini(&s);
}

/* sync base + stream of the source; applied to dst (fresh or not), fed
 * whole or one byte at a time; returns the import's result */
static int
sync_once(struct fixture *fx, const char *src, const char *dst, bool fresh,
    struct mailstore_sync_base *base, struct mailstore_sync_stats *st, size_t step)
{
	struct mailstore_sync_base next;
	struct buf s;
	struct reader r;
	int rc;

	buf_init(&s, 0);
	assert_int_equal(
	    mailstore_export_sync(fx->ms, src, base, buf_write_cb, &s, &next, st, &fx->err), 0);
	assert_memory_equal(s.data, "MNMBX 2 ", 8);
	r = (struct reader){s.data, s.len, 0, step};
	rc = mailstore_import_sync(fx->ms, dst, fresh, reader_cb, &r, &fx->err);
	if (rc == 0) {
		mailstore_sync_base_fini(base);
		*base = next;
	} else {
		mailstore_sync_base_fini(&next);
	}
	buf_fini(&s);
	return rc;
}

static void
assert_synced(struct fixture *fx, const char *a, const char *b)
{
	struct mailstore_sync_stats x, y;
	uint64_t bytes_a, msgs_a, bytes_b, msgs_b;

	assert_same_mailbox(fx, a, b);
	assert_int_equal(mailstore_digest(fx->ms, a, &x, &fx->err), 0);
	assert_int_equal(mailstore_digest(fx->ms, b, &y, &fx->err), 0);
	assert_string_equal(x.digest, y.digest);
	assert_int_equal(mailstore_quota_usage(fx->ms, a, &bytes_a, &msgs_a, &fx->err), 0);
	assert_int_equal(mailstore_quota_usage(fx->ms, b, &bytes_b, &msgs_b, &fx->err), 0);
	assert_true(bytes_a == bytes_b && msgs_a == msgs_b);
}

/* a full copy, then every kind of change on the source carried by the
 * next sync stream: new messages (only those with bodies), flags and
 * keywords, expunges, a folder created, renamed, deleted, a subscription */
static void
test_sync_catches_up(void **state)
{
	struct fixture *fx = *state;
	for (size_t step = 0; step <= 1; step++) {
		struct mailstore_sync_base base = {0};
		struct mailstore_sync_stats st;
		long long refs;
		const char *dst = step ? U3 : U2;

		if (step) {
			/* the source again from scratch (U2 went below) */
			assert_int_equal(mailstore_user_delete(fx->ms, U1, &fx->err), 0);
		}
		build_mailbox(fx, U1);
		/* what an earlier attempt left on the receiver goes */
		append(fx, dst, "INBOX", "stale", 0);
		assert_int_equal(sync_once(fx, U1, dst, true, &base, &st, step), 0);
		assert_synced(fx, U1, dst);
		assert_int_equal(st.new_messages, st.messages);
		assert_int_equal(count_msgs(fx, dst, "INBOX"), 2);

		/* nothing changed: nothing new */
		assert_int_equal(sync_once(fx, U1, dst, false, &base, &st, step), 0);
		assert_true(st.new_messages == 0 && st.changed == 0 && st.new_folders == 0);
		assert_synced(fx, U1, dst);

		append(fx, U1, "INBOX", "a new one", MAILSTORE_SEEN);
		assert_int_equal(
		    mailstore_flags_store(fx->ms, U1, "INBOX", (uint32_t[]){1}, 1,
		        MAILSTORE_FLAGS_SET, MAILSTORE_ANSWERED, (const char *[]){"$Forwarded"}, 1,
		        0, NULL, NULL, NULL, &fx->err),
		    0);
		assert_int_equal(
		    mailstore_expunge(fx->ms, U1, "INBOX", NULL, 0, true, NULL, NULL, &fx->err),
		    0); /* uid 3 was \Deleted */
		assert_int_equal(mailstore_folder_rename(
		                     fx->ms, U1, "Projects/项目 X", "Archive/2026", &fx->err),
		    0);
		assert_int_equal(mailstore_folder_create(fx->ms, U1, "Lists", NULL, &fx->err), 0);
		append(fx, U1, "Lists", MSG3, 0);
		assert_int_equal(
		    mailstore_folder_subscribe(fx->ms, U1, "Lists", true, &fx->err), 0);
		assert_int_equal(mailstore_folder_delete(fx->ms, U1, "Junk", &fx->err), 0);
		assert_int_equal(sync_once(fx, U1, dst, false, &base, &st, step), 0);
		assert_int_equal(st.new_messages, 2);
		assert_int_equal(st.changed, 1);
		/* Archive (the rename made the parent) and Lists came, Junk went */
		assert_int_equal(st.new_folders, 3);
		assert_synced(fx, U1, dst);
		/* the dropped bodies were released: both mailboxes hold the
		 * same references */
		refs = ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies");
		assert_int_equal(mailstore_user_delete(fx->ms, dst, &fx->err), 0);
		assert_int_equal(
		    ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies") * 2, refs);
		mailstore_sync_base_fini(&base);
	}
}

/* a stream that does not fit the receiver changes nothing there */
static void
test_sync_refuses_what_does_not_fit(void **state)
{
	struct fixture *fx = *state;
	struct mailstore_sync_base base = {0}, wrong = {0};
	struct mailstore_sync_stats st, before, after;
	long long refs;

	build_mailbox(fx, U1);
	/* no mailbox and not fresh */
	assert_int_equal(sync_once(fx, U1, U2, false, &wrong, &st, 0), MN_ENOENT);
	assert_false(mailstore_user_exists(fx->ms, U2));
	assert_int_equal(sync_once(fx, U1, U2, true, &base, &st, 0), 0);
	/* the receiver lost a message the base says it has */
	assert_int_equal(
	    mailstore_expunge(fx->ms, U2, "INBOX", (uint32_t[]){1}, 1, false, NULL, NULL, &fx->err),
	    0);
	append(fx, U1, "INBOX", "more", 0);
	assert_int_equal(mailstore_digest(fx->ms, U2, &before, &fx->err), 0);
	refs = ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies");
	assert_int_equal(sync_once(fx, U1, U2, false, &base, &st, 0), MN_ECONFLICT);
	assert_int_equal(mailstore_digest(fx->ms, U2, &after, &fx->err), 0);
	assert_string_equal(before.digest, after.digest);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), refs);
	assert_int_equal(ms_test_count_files(fx->root, "tmp"), 0);
	/* every cut of a sync stream is refused and changes nothing */
	{
		struct mailstore_sync_base next;
		struct buf s;
		struct reader r;

		buf_init(&s, 0);
		assert_int_equal(
		    mailstore_export_sync(fx->ms, U1, NULL, buf_write_cb, &s, &next, &st, &fx->err),
		    0);
		mailstore_sync_base_fini(&next);
		for (size_t cut = 0; cut < s.len; cut += 7) {
			r = (struct reader){s.data, cut, 0, 0};
			assert_int_equal(
			    mailstore_import_sync(fx->ms, U2, true, reader_cb, &r, &fx->err),
			    MN_EPARSE);
		}
		assert_int_equal(mailstore_digest(fx->ms, U2, &after, &fx->err), 0);
		assert_string_equal(before.digest, after.digest);
		assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), refs);
		/* a full stream is not a sync stream */
		buf_reset(&s);
		assert_int_equal(mailstore_export(fx->ms, U1, buf_write_cb, &s, &fx->err), 0);
		r = (struct reader){s.data, s.len, 0, 0};
		assert_int_equal(
		    mailstore_import_sync(fx->ms, U2, true, reader_cb, &r, &fx->err), MN_EPARSE);
		buf_fini(&s);
	}
	/* a fresh copy repairs it */
	assert_int_equal(sync_once(fx, U1, U2, true, &wrong, &st, 0), 0);
	assert_synced(fx, U1, U2);
	mailstore_sync_base_fini(&base);
	mailstore_sync_base_fini(&wrong);
}

static void
test_import_bad_stream_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct buf s;
	struct reader r;
	long long refs;
	size_t files;

	build_mailbox(fx, U1);
	export_to(fx, U1, &s);
	refs = ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies");
	files = ms_test_count_files(fx->root, "bodies");
	/* every cut of the stream is refused and leaves no trace */
	for (size_t cut = 0; cut < s.len; cut++) {
		r = (struct reader){s.data, cut, 0, 0};
		assert_int_equal(mailstore_import(fx->ms, U2, reader_cb, &r, &fx->err), MN_EPARSE);
		assert_false(mailstore_user_exists(fx->ms, U2));
	}
	assert_int_equal(ms_test_count_files(fx->root, "tmp"), 0);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), refs);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), files);

	/* a body that does not match its hash; trailing garbage */
	{
		char *p = memmem(s.data, s.len, "body one", 8);

		assert_non_null(p);
		p[0] = 'B';
		r = (struct reader){s.data, s.len, 0, 0};
		assert_int_equal(mailstore_import(fx->ms, U2, reader_cb, &r, &fx->err), MN_EPARSE);
		p[0] = 'b';
		buf_append(&s, "x", 1);
		r = (struct reader){s.data, s.len, 0, 0};
		assert_int_equal(mailstore_import(fx->ms, U2, reader_cb, &r, &fx->err), MN_EPARSE);
	}
	assert_false(mailstore_user_exists(fx->ms, U2));
	assert_int_equal(ms_test_count_files(fx->root, "tmp"), 0);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), refs);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), files);
	buf_fini(&s);
}

static void
test_user_delete_releases_bodies(void **state)
{
	struct fixture *fx = *state;

	build_mailbox(fx, U1);
	append(fx, U2, "INBOX", MSG1, 0);
	assert_int_equal(mailstore_user_delete(fx->ms, U1, &fx->err), 0);
	assert_false(mailstore_user_exists(fx->ms, U1));
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 1);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 1);
	assert_int_equal(ms_test_count_files(fx->root, "tmp"), 0);
	assert_int_equal(mailstore_user_delete(fx->ms, U1, &fx->err), MN_ENOENT);
	/* first use again: a fresh, empty mailbox */
	assert_int_equal(count_msgs(fx, U1, "INBOX"), 0);
}

static void
test_user_names_and_handle_cache(void **state)
{
	static const char *const bad[] = {"", "nobody", "@example.test", "user@"};
	struct fixture *fx = *state;
	char *name;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    mailstore_folder_create(fx->ms, bad[i], "X", NULL, &fx->err), MN_EINVAL);
	/* path tricks stay inside ROOT/users */
	append(fx, "../../x@..", "INBOX", MSG1, 0);
	append(fx, "a/b@c/d", "INBOX", MSG1, 0);
	name = xasprintf("%s/users/%%2E./%%2E.%%2F..%%2Fx/index.db", fx->root);
	assert_int_equal(access(name, F_OK), 0);
	free(name);
	name = xasprintf("%s/users/c%%2Fd/a%%2Fb/index.db", fx->root);
	assert_int_equal(access(name, F_OK), 0);
	free(name);
	/* more users than cached handles, each visited twice */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MAILSTORE_HANDLE_CACHE + 5; i++) {
			name = xasprintf("lru%d@example.test", i);
			assert_int_equal(append(fx, name, "INBOX", MSG2, 0), (uint32_t)round + 1);
			free(name);
		}
	}
}

static void
test_deliver_to_a_folder(void **state)
{
	struct fixture *fx = *state;
	const char *two[] = {U1, U2};
	struct mailstore_deliver_result r[2];

	assert_int_equal(mailstore_folder_create(fx->ms, U2, "Lists", NULL, &fx->err), 0);
	/* U1 has no "Lists": refused for U1 only */
	assert_int_equal(
	    mailstore_deliver(fx->ms, two, 2, MSG1, strlen(MSG1), 5, "Lists", NULL, r, &fx->err),
	    0);
	assert_int_equal(r[0].rc, MN_ENOENT);
	assert_int_equal(r[1].rc, 0);
	assert_int_equal(count_msgs(fx, U2, "Lists"), 1);
	assert_int_equal(count_msgs(fx, U1, "INBOX"), 0);
	assert_int_equal(ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 1);
	/* nobody has it: nothing stays */
	assert_int_equal(
	    mailstore_deliver(fx->ms, two, 1, MSG2, strlen(MSG2), 5, "Nope", NULL, r, &fx->err), 0);
	assert_int_equal(r[0].rc, MN_ENOENT);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 1);
	assert_int_equal(mailstore_deliver(
	                     fx->ms, two, 1, MSG2, strlen(MSG2), 5, "bad//name", NULL, r, &fx->err),
	    MN_EINVAL);
	assert_int_equal(
	    mailstore_deliver(fx->ms, two, 0, MSG2, strlen(MSG2), 5, NULL, NULL, r, &fx->err),
	    MN_EINVAL);
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 1);
}

/* Limits at max-1, max and max+1. */
static void
test_limits(void **state)
{
	struct fixture *fx = *state;
	const char *kws[MAILSTORE_MAX_KEYWORDS + 1];
	char *names[MAILSTORE_MAX_KEYWORDS + 1];
	char name[MAILSTORE_MAX_FOLDER_NAME + 2];
	char kw[MAILSTORE_MAX_KEYWORD + 2];
	uint32_t uid = append(fx, U1, "INBOX", MSG1, 0);

	for (size_t len = MAILSTORE_MAX_FOLDER_NAME - 1; len <= MAILSTORE_MAX_FOLDER_NAME + 1;
	     len++) {
		memset(name, 'a' + (int)(len % 3), len);
		name[len] = '\0';
		assert_int_equal(mailstore_folder_create(fx->ms, U1, name, NULL, &fx->err),
		    len <= MAILSTORE_MAX_FOLDER_NAME ? 0 : MN_EINVAL);
	}
	for (size_t len = MAILSTORE_MAX_KEYWORD - 1; len <= MAILSTORE_MAX_KEYWORD + 1; len++) {
		memset(kw, 'k', len);
		kw[len] = '\0';
		assert_int_equal(
		    mailstore_flags_store(fx->ms, U1, "INBOX", &uid, 1, MAILSTORE_FLAGS_SET, 0,
		        (const char *[]){kw}, 1, 0, NULL, NULL, NULL, &fx->err),
		    len <= MAILSTORE_MAX_KEYWORD ? 0 : MN_EINVAL);
	}
	for (size_t i = 0; i <= MAILSTORE_MAX_KEYWORDS; i++)
		kws[i] = names[i] = xasprintf("kw%zu", i);
	for (size_t n = MAILSTORE_MAX_KEYWORDS - 1; n <= MAILSTORE_MAX_KEYWORDS + 1; n++)
		assert_int_equal(mailstore_flags_store(fx->ms, U1, "INBOX", &uid, 1,
		                     MAILSTORE_FLAGS_SET, 0, kws, n, 0, NULL, NULL, NULL, &fx->err),
		    n <= MAILSTORE_MAX_KEYWORDS ? 0 : MN_ELIMIT);
	/* +FLAGS may not push a message past the limit either */
	assert_int_equal(mailstore_flags_store(fx->ms, U1, "INBOX", &uid, 1, MAILSTORE_FLAGS_ADD, 0,
	                     (const char *[]){"extra"}, 1, 0, NULL, NULL, NULL, &fx->err),
	    MN_ELIMIT);
	for (size_t i = 0; i <= MAILSTORE_MAX_KEYWORDS; i++)
		free(names[i]);
}

/* --- threads -------------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 25

struct thread_arg {
	struct mailstore *ms;
	int id;
	int failures;
};

static void *
thread_main(void *p)
{
	struct thread_arg *a = p;
	const char *users[] = {U1, U2, U3};
	struct mailstore_deliver_result res[3];
	struct mn_err err;

	for (int i = 0; i < PER_THREAD; i++) {
		/* two bodies shared by every thread, one of its own */
		char *msg = xasprintf("Subject: %d\r\n\r\n", i % 3 == 2 ? a->id + 10 : i % 2);

		if (mailstore_deliver(
		        a->ms, users, 3, msg, strlen(msg), i, NULL, NULL, res, &err) != 0 ||
		    res[0].rc || res[1].rc || res[2].rc)
			a->failures++;
		if (mailstore_flags_store(a->ms, users[i % 3], "INBOX", (uint32_t[]){1, 2}, 2,
		        MAILSTORE_FLAGS_ADD, MAILSTORE_SEEN, NULL, 0, 0, NULL, NULL, NULL,
		        &err) != 0)
			a->failures++;
		free(msg);
	}
	return NULL;
}

static void
test_threads_share_one_store(void **state)
{
	struct fixture *fx = *state;
	struct thread_arg args[THREADS];
	pthread_t th[THREADS];
	struct mailstore_folder_info fi;

	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct thread_arg){fx->ms, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(mailstore_folder_status(fx->ms, U2, "INBOX", &fi, &fx->err), 0);
	assert_int_equal(fi.messages, THREADS * PER_THREAD);
	assert_int_equal(fi.uidnext, THREADS * PER_THREAD + 1);
	mailstore_folder_info_fini(&fi);
	/* two shared bodies plus one per thread, each held by every copy */
	assert_int_equal(ms_test_count_files(fx->root, "bodies"), 2 + THREADS);
	assert_int_equal(
	    ms_test_bodies_q(fx->root, "SELECT SUM(refs) FROM bodies"), 3 * THREADS * PER_THREAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_deliver_100_users_single_instance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_id_is_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_folders_on_first_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota_refusal_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flags_keywords_modseq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_move_expunge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_folder_names_and_hierarchy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uidvalidity_uidnext_persist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_and_header_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export_import_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_bad_stream_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export_keeps_delivery_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_catches_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_refuses_what_does_not_fit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_delete_releases_bodies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_names_and_handle_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads_share_one_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_to_a_folder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
