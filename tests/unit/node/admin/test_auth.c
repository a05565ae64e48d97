/*
 * test_auth.c - admin authentication: verification off the loop, the
 * success cache, and its invalidation when the stored hash changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "node/admin/auth.h"
#include "storage/directory/password.h"

struct verdict {
	int calls;
	int rc;
	char name[64];
	bool system;
};

static void
auth_cb(int rc, const struct admin_identity *who, void *arg)
{
	struct verdict *v = arg;

	v->calls++;
	v->rc = rc;
	if (rc == 0) {
		snprintf(v->name, sizeof(v->name), "%s", who->name);
		v->system = who->domain == NULL;
	}
}

static void
apply_admin(struct directory *dir, int which, const char *name, const char *password)
{
	Mailnode__DirectoryCommand cmd = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__AdminAdd add = MAILNODE__ADMIN_ADD__INIT;
	Mailnode__AdminPasswd pw = MAILNODE__ADMIN_PASSWD__INIT;
	Mailnode__AdminDel del = MAILNODE__ADMIN_DEL__INIT;
	char *hash = password ? password_hash(password) : NULL;
	struct mn_err err;

	cmd.has_time = 1;
	cmd.time = 1700000000;
	if (which == 0) {
		add.name = (char *)name;
		add.password_hash = hash;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_ADD;
		cmd.admin_add = &add;
	} else if (which == 1) {
		pw.name = (char *)name;
		pw.password_hash = hash;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_PASSWD;
		cmd.admin_passwd = &pw;
	} else {
		del.name = (char *)name;
		cmd.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_ADMIN_DEL;
		cmd.admin_del = &del;
	}
	assert_int_equal(directory_apply(dir, &cmd, &err), 0);
	free(hash);
}

/* check and, if deferred, run the loop until the verdict arrives */
static int
check(uv_loop_t *loop, struct admin_auth *a, const char *name, const char *pw, bool *deferred)
{
	struct admin_identity who = {NULL, NULL};
	struct verdict v = {0};
	int rc = admin_auth_check(a, name, pw, &who, auth_cb, &v);

	*deferred = rc == MN_EAGAIN;
	if (rc == 0) {
		assert_string_equal(who.name, name);
		admin_identity_fini(&who);
		return 0;
	}
	if (rc != MN_EAGAIN)
		return rc;
	assert_int_equal(v.calls, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(v.calls, 1);
	if (v.rc == 0)
		assert_string_equal(v.name, name);
	return v.rc;
}

static void
test_auth_verifies_then_caches_until_hash_changes(void **state)
{
	struct directory *dir = NULL;
	struct admin_auth *a = NULL;
	struct mn_err err;
	uv_loop_t loop;
	bool deferred;

	assert_int_equal(directory_open(":memory:", &dir, &err), 0);
	uv_loop_init(&loop);
	admin_auth_new(&loop, dir, &a);
	apply_admin(dir, 0, "admin", "s3cret");

	/* unknown admin: refused, after as much work as a wrong password */
	assert_int_equal(check(&loop, a, "nobody", "s3cret", &deferred), MN_EAUTH);
	assert_true(deferred);
	/* the dummy hash's own password does not open an unknown name */
	assert_int_equal(check(&loop, a, "nobody", "unused-dummy", &deferred), MN_EAUTH);
	assert_true(deferred);
	/* wrong password: verified off the loop, refused, not cached */
	assert_int_equal(check(&loop, a, "admin", "wrong", &deferred), MN_EAUTH);
	assert_true(deferred);
	assert_int_equal(check(&loop, a, "admin", "wrong", &deferred), MN_EAUTH);
	assert_true(deferred);
	/* right password: first verified, then answered from the cache */
	assert_int_equal(check(&loop, a, "admin", "s3cret", &deferred), 0);
	assert_true(deferred);
	assert_int_equal(check(&loop, a, "admin", "s3cret", &deferred), 0);
	assert_false(deferred);
	/* a different password is not a cache hit */
	assert_int_equal(check(&loop, a, "admin", "s3cret2", &deferred), MN_EAUTH);
	assert_true(deferred);
	/* password changed: the old one stops working at once */
	apply_admin(dir, 1, "admin", "new-pass");
	assert_int_equal(check(&loop, a, "admin", "s3cret", &deferred), MN_EAUTH);
	assert_true(deferred);
	assert_int_equal(check(&loop, a, "admin", "new-pass", &deferred), 0);
	assert_true(deferred);
	assert_int_equal(check(&loop, a, "admin", "new-pass", &deferred), 0);
	assert_false(deferred);
	/* deleted: refused at once despite the cache */
	apply_admin(dir, 0, "other", "x");
	apply_admin(dir, 2, "admin", NULL);
	assert_int_equal(check(&loop, a, "admin", "new-pass", &deferred), MN_EAUTH);
	assert_true(deferred);

	admin_auth_free(&a);
	assert_null(a);
	assert_int_equal(uv_loop_close(&loop), 0);
	directory_close(&dir);
}

struct hashed {
	int calls;
	char *hash;
};

static void
hash_cb(char *hash, void *arg)
{
	struct hashed *h = arg;

	h->calls++;
	h->hash = hash;
}

static void
test_password_hash_async(void **state)
{
	struct hashed h = {0, NULL};
	uv_loop_t loop;

	uv_loop_init(&loop);
	assert_int_equal(password_hash_async(&loop, "pw", hash_cb, &h), 0);
	assert_int_equal(h.calls, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(h.calls, 1);
	assert_non_null(h.hash);
	assert_true(strncmp(h.hash, "$y$", 3) == 0);
	assert_true(password_verify(h.hash, "pw"));
	assert_false(password_verify(h.hash, "pW"));
	free(h.hash);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_verifies_then_caches_until_hash_changes),
	    cmocka_unit_test(test_password_hash_async),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
