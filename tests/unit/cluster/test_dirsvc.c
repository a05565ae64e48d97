/*
 * test_dirsvc.c - the directory write service: callbacks never run inside
 * submit, commands apply in order, refused commands report the directory's
 * code, the applied index counts every applied command, shutdown fails
 * what is still queued.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cluster/dirsvc.h"
#include "lib/err.h"

struct result {
	int calls;
	int rc;
	int order;
	char msg[MN_ERR_MSG_MAX];
};

static int order_counter;

static void
done_cb(int rc, const struct mn_err *err, void *arg)
{
	struct result *r = arg;

	r->calls++;
	r->rc = rc;
	r->order = ++order_counter;
	snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void
domain_cmd(Mailnode__DirectoryCommand *cmd, Mailnode__DomainAdd *m, const char *name)
{
	*cmd = (Mailnode__DirectoryCommand)MAILNODE__DIRECTORY_COMMAND__INIT;
	*m = (Mailnode__DomainAdd)MAILNODE__DOMAIN_ADD__INIT;
	m->name = (char *)name;
	cmd->cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD;
	cmd->domain_add = m;
}

static void
test_submit_applies_later_in_order(void **state)
{
	struct directory *dir = NULL;
	struct dirsvc *svc = NULL;
	struct mn_err err;
	uv_loop_t loop;
	Mailnode__DirectoryCommand cmd;
	Mailnode__DomainAdd m;
	struct result r1 = {0}, r2 = {0}, r3 = {0};

	assert_int_equal(directory_open(":memory:", &dir, &err), 0);
	uv_loop_init(&loop);
	dirsvc_new(&loop, dir, "node1", &svc);

	domain_cmd(&cmd, &m, "a.test");
	assert_int_equal(dirsvc_submit(svc, &cmd, done_cb, &r1), 0);
	/* the caller's command is left as it was (origin not kept) */
	assert_null(cmd.origin);
	domain_cmd(&cmd, &m, "a.test"); /* duplicate: refused */
	assert_int_equal(dirsvc_submit(svc, &cmd, done_cb, &r2), 0);
	domain_cmd(&cmd, &m, "b.test");
	assert_int_equal(dirsvc_submit(svc, &cmd, done_cb, &r3), 0);
	/* nothing ran inside submit */
	assert_int_equal(r1.calls + r2.calls + r3.calls, 0);
	assert_false(directory_domain_exists(dir, "a.test"));

	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.rc, 0);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.rc, MN_EEXIST);
	assert_true(r2.msg[0] != '\0');
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.rc, 0);
	assert_true(r1.order < r2.order && r2.order < r3.order);
	assert_true(directory_domain_exists(dir, "a.test"));
	assert_true(directory_domain_exists(dir, "b.test"));
	assert_int_equal(dirsvc_applied_index(svc), 3);

	dirsvc_shutdown(svc);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	dirsvc_free(&svc);
	assert_null(svc);
	directory_close(&dir);
}

static void
test_shutdown_fails_queued_and_refuses_new(void **state)
{
	struct directory *dir = NULL;
	struct dirsvc *svc = NULL;
	struct mn_err err;
	uv_loop_t loop;
	Mailnode__DirectoryCommand cmd;
	Mailnode__DomainAdd m;
	struct result r1 = {0}, r2 = {0};

	assert_int_equal(directory_open(":memory:", &dir, &err), 0);
	uv_loop_init(&loop);
	dirsvc_new(&loop, dir, "node1", &svc);
	domain_cmd(&cmd, &m, "a.test");
	assert_int_equal(dirsvc_submit(svc, &cmd, done_cb, &r1), 0);
	dirsvc_shutdown(svc);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.rc, MN_ECLOSED);
	assert_int_equal(dirsvc_submit(svc, &cmd, done_cb, &r2), MN_ECLOSED);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r2.calls, 0);
	assert_false(directory_domain_exists(dir, "a.test"));
	assert_int_equal(dirsvc_applied_index(svc), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	dirsvc_free(&svc);
	directory_close(&dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submit_applies_later_in_order),
	    cmocka_unit_test(test_shutdown_fails_queued_and_refuses_new),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
