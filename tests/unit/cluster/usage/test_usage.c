/*
 * test_usage.c - cluster/usage over a real RPC server on loopback with an
 * in-memory directory shared by both ends (it is a replica on every node)
 * and one mail store per node: node1 asks node2 for its users' usage and
 * gets its store's figures (a user without a mailbox holds 0, a user not
 * homed there is MN_ENOENT), in request order, across batches of
 * USAGE_BATCH_MAX; node1's own users are read from its own store, always
 * fresh; another node's answers are cached (a delivery after the answer is
 * not seen until the cache expires) and a failure is not; the callback never runs inside usage_get,
 * even when everything is cached; an unknown home node and a home that does
 * not listen are failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/proto/directory.pb-c.h"
#include "cluster/rpc/rpc.h"
#include "cluster/usage/usage.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"
#include "storage/mailstore/mailstore.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"
#include "tests/unit/storage/directory/dir_test_util.h"

#define WAIT_MS 20000
#define MANY (USAGE_BATCH_MAX + 500)

static struct {
	uv_loop_t loop;
	struct tls_env env;
	struct directory *dir;
	struct rpc_server *srv;
	struct peer_auth_config sauth;
	char root[64];
	struct mailstore *ms1, *ms2;
	struct usage *u1, *u2;
	/* the last answer */
	int calls;
	size_t n;
	struct usage_result res[MANY];
	char users[MANY][32];
} T;

static void
add_node(const char *name, uint16_t rpc_port)
{
	DT_APPLYF(T.dir, "node_add %s 127.0.0.1 rpc_port=%u state=active", name, rpc_port);
}

static void
add_user(const char *address, const char *home)
{
	DT_APPLYF(T.dir, "user_add %s node=%s", address, home);
}

static void
deliver(struct mailstore *ms, const char *user, size_t size)
{
	char *msg = xmalloc(size);
	struct mailstore_deliver_result res;
	struct mn_err err;

	memset(msg, 'x', size);
	memcpy(msg, "Subject: t\r\n\r\n", 14);
	assert_int_equal(mailstore_deliver(ms, &user, 1, msg, size, 0, NULL, NULL, &res, &err), 0);
	assert_int_equal(res.rc, 0);
	free(msg);
}

static void
got_cb(const struct usage_result *res, size_t n, void *arg)
{
	(void)arg;
	assert_true(n <= MANY);
	T.calls++;
	T.n = n;
	for (size_t i = 0; i < n; i++) {
		T.res[i] = res[i];
		snprintf(T.users[i], sizeof(T.users[i]), "%s", res[i].user);
		T.res[i].user = T.users[i];
	}
}

static bool
answered(void *arg)
{
	(void)arg;
	return T.calls > 0;
}

/* ask and wait for the answer */
static void
ask(struct usage *u, const char *home, const char *const *users, size_t n, uint32_t timeout_ms)
{
	T.calls = 0;
	assert_int_equal(usage_get(u, home, users, n, timeout_ms, got_cb, NULL), 0);
	/* never inside the call */
	assert_int_equal(T.calls, 0);
	assert_true(uv_wait_until(&T.loop, answered, NULL, WAIT_MS));
	assert_int_equal(T.calls, 1);
	assert_int_equal(T.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(T.res[i].user, users[i]);
}

static int
setup(void **state)
{
	struct rpc_server_config sc;
	struct usage_config uc;
	struct mn_err err;
	char path[128];

	(void)state;
	memset(&T, 0, sizeof(T));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&T.env), 0);
	snprintf(T.root, sizeof(T.root), "/tmp/mn-usage-XXXXXX");
	assert_non_null(mkdtemp(T.root));
	snprintf(path, sizeof(path), "%s/n1", T.root);
	assert_int_equal(mailstore_open(path, &T.ms1, &err), 0);
	snprintf(path, sizeof(path), "%s/n2", T.root);
	assert_int_equal(mailstore_open(path, &T.ms2, &err), 0);
	assert_int_equal(directory_open(":memory:", &T.dir, &err), 0);
	T.sauth = (struct peer_auth_config){.secret = "sekrit", .node_name = "node2"};
	sc = (struct rpc_server_config){
	    .address = "127.0.0.1", .port = 0, .tls = T.env.srv, .auth = &T.sauth};
	assert_int_equal(rpc_server_start(&T.loop, &sc, &T.srv, &err), 0);
	DT_APPLYF(T.dir, "domain_add x.test");
	add_node("node1", 1);
	add_node("node2", rpc_server_port(T.srv));
	/* nothing listens on port 9 of loopback (discard, never run here) */
	add_node("node3", 9);
	add_user("a@x.test", "node2");
	add_user("b@x.test", "node2");
	add_user("l@x.test", "node1");
	add_user("c@x.test", "node3");
	deliver(T.ms2, "a@x.test", 1000);
	deliver(T.ms2, "a@x.test", 2000);
	deliver(T.ms1, "l@x.test", 500);
	uc = (struct usage_config){
	    .node_name = "node1", .dir = T.dir, .ms = T.ms1, .secret = "sekrit"};
	assert_int_equal(usage_new(&T.loop, &uc, &T.u1, &err), 0);
	uc = (struct usage_config){
	    .node_name = "node2", .dir = T.dir, .ms = T.ms2, .secret = "sekrit"};
	assert_int_equal(usage_new(&T.loop, &uc, &T.u2, &err), 0);
	usage_serve(T.u2);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	usage_stop(T.u1);
	usage_stop(T.u2);
	rpc_server_stop(&T.srv);
	conn_close_all();
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	usage_free(&T.u1);
	usage_free(&T.u2);
	mailstore_close(&T.ms1);
	mailstore_close(&T.ms2);
	directory_close(&T.dir);
	tls_env_rm_rf(T.root);
	tls_env_fini(&T.env);
	return 0;
}

static void
test_remote_and_local_figures(void **state)
{
	const char *remote[] = {"a@x.test", "b@x.test", "l@x.test", "nobody@x.test"};
	const char *local[] = {"l@x.test"};

	(void)state;
	assert_true(usage_home_elsewhere(T.u1, "node2"));
	assert_false(usage_home_elsewhere(T.u1, "node1"));
	assert_false(usage_home_elsewhere(T.u1, ""));
	assert_false(usage_home_elsewhere(T.u1, NULL));
	ask(T.u1, "node2", remote, 4, 5000);
	assert_int_equal(T.res[0].status, 0);
	assert_int_equal(T.res[0].used_messages, 2);
	assert_int_equal(T.res[0].used_bytes, 3000);
	/* homed there, nothing delivered yet */
	assert_int_equal(T.res[1].status, 0);
	assert_int_equal(T.res[1].used_messages, 0);
	assert_int_equal(T.res[1].used_bytes, 0);
	/* node2 cannot tell about node1's user, nor an unknown one */
	assert_int_equal(T.res[2].status, MN_ENOENT);
	assert_int_equal(T.res[3].status, MN_ENOENT);
	/* this node's own user: its own store */
	ask(T.u1, "node1", local, 1, 5000);
	assert_int_equal(T.res[0].status, 0);
	assert_int_equal(T.res[0].used_messages, 1);
	assert_int_equal(T.res[0].used_bytes, 500);
	assert_int_equal(usage_get(T.u1, "node2", remote, 0, 5000, got_cb, NULL), MN_EINVAL);
}

static void
test_cache_keeps_answers_not_failures(void **state)
{
	const char *a[] = {"a@x.test"};
	const char *c[] = {"c@x.test"};

	(void)state;
	ask(T.u1, "node2", a, 1, 5000);
	assert_int_equal(T.res[0].used_messages, 2);
	deliver(T.ms2, "a@x.test", 100);
	/* from the cache: still 2, and still answered from the loop */
	ask(T.u1, "node2", a, 1, 5000);
	assert_int_equal(T.res[0].status, 0);
	assert_int_equal(T.res[0].used_messages, 2);
	/* node2's own view is current */
	ask(T.u2, "node2", a, 1, 5000);
	assert_int_equal(T.res[0].used_messages, 3);
	assert_int_equal(T.res[0].used_bytes, 3100);
	/* and stays so: a node's own users are never cached */
	deliver(T.ms2, "a@x.test", 50);
	ask(T.u2, "node2", a, 1, 5000);
	assert_int_equal(T.res[0].used_messages, 4);
	assert_int_equal(T.res[0].used_bytes, 3150);
	/* nothing listens for node3: a failure (the deadline, or at once while
	 * the client backs off from that peer), and not cached */
	ask(T.u1, "node3", c, 1, 300);
	assert_int_not_equal(T.res[0].status, 0);
	ask(T.u1, "node3", c, 1, 300);
	assert_int_not_equal(T.res[0].status, 0);
	/* a node not in the node table */
	ask(T.u1, "node9", c, 1, 300);
	assert_int_equal(T.res[0].status, MN_ENOENT);
}

static void
test_batches_keep_request_order(void **state)
{
	static char names[MANY][32];
	static const char *users[MANY];

	(void)state;
	for (size_t i = 0; i < MANY; i++) {
		/* a@ and b@ at the edges of the first batch, the rest unknown */
		if (i == 0 || i == USAGE_BATCH_MAX)
			snprintf(names[i], sizeof(names[i]), "a@x.test");
		else if (i == USAGE_BATCH_MAX - 1 || i == MANY - 1)
			snprintf(names[i], sizeof(names[i]), "b@x.test");
		else
			snprintf(names[i], sizeof(names[i]), "u%zu@x.test", i);
		users[i] = names[i];
	}
	ask(T.u1, "node2", users, MANY, 5000);
	for (size_t i = 0; i < MANY; i++) {
		if (i == 0 || i == USAGE_BATCH_MAX) {
			assert_int_equal(T.res[i].status, 0);
			assert_int_equal(T.res[i].used_messages, 2);
		} else if (i == USAGE_BATCH_MAX - 1 || i == MANY - 1) {
			assert_int_equal(T.res[i].status, 0);
			assert_int_equal(T.res[i].used_messages, 0);
		} else {
			assert_int_equal(T.res[i].status, MN_ENOENT);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_remote_and_local_figures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_keeps_answers_not_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batches_keep_request_order, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
