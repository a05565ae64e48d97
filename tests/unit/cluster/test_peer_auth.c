/*
 * test_peer_auth.c - the cluster-secret proof on real loopback TLS
 * connections: matching secrets pass both ways with names and the bytes
 * after the frame reach the next handler; a wrong secret, an empty secret
 * and a plain-text peer are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cluster/peer_auth.h"
#include "lib/conn.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 10000

static struct {
	uv_loop_t loop;
	struct tls_env env;
	struct listener *l;
	struct peer_auth_config scfg, ccfg;
	int s_status, c_status, s_calls, c_calls;
	char s_name[64], c_name[64];
	char s_got[64];
	bool connected;
	int closed;
	bool s_resumed, c_resumed;
} T;

static void
srv_read(struct conn *c, void *arg)
{
	struct buf *in = conn_input(c);
	size_t n = in->len < sizeof(T.s_got) - 1 - strlen(T.s_got)
	               ? in->len
	               : sizeof(T.s_got) - 1 - strlen(T.s_got);

	strncat(T.s_got, (const char *)in->data, n);
	buf_consume(in, in->len);
}

static void
any_close(struct conn *c, void *arg, int reason)
{
	T.closed++;
}

static const struct conn_handler srv_h = {.on_read = srv_read, .on_close = any_close};
static const struct conn_handler cli_h = {.on_read = srv_read, .on_close = any_close};

static void
s_done(struct conn *c, int status, const char *name, void *arg)
{
	T.s_calls++;
	T.s_status = status;
	if (status == 0) {
		T.s_resumed = conn_tls_resumed(c);
		snprintf(T.s_name, sizeof(T.s_name), "%s", name);
		conn_set_handler(c, &srv_h, NULL);
	}
}

static void
c_done(struct conn *c, int status, const char *name, void *arg)
{
	T.c_calls++;
	T.c_status = status;
	if (status == 0) {
		T.c_resumed = conn_tls_resumed(c);
		snprintf(T.c_name, sizeof(T.c_name), "%s", name);
		conn_set_handler(c, &cli_h, NULL);
		conn_write(c, "hello", 5);
		conn_close(c);
	}
}

static void
accept_cb(struct conn *c, void *arg)
{
	peer_auth_accept(c, &T.scfg, s_done, NULL);
}

static void
connect_cb(struct conn *c, int status, void *arg)
{
	T.connected = true;
	assert_int_equal(status, 0);
	peer_auth_connect(c, &T.ccfg, c_done, NULL);
}

static bool
both_called(void *arg)
{
	return T.s_calls == 1 && T.c_calls == 1;
}

static bool
got_hello(void *arg)
{
	return strcmp(T.s_got, "hello") == 0;
}

static int
setup(void **state)
{
	struct listener_config lc = {.service = "test-peer", .address = "127.0.0.1", .port = 0};
	struct mn_err err;

	memset(&T, 0, sizeof(T));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&T.env), 0);
	lc.tls = T.env.srv;
	assert_int_equal(listener_start(&T.loop, &lc, accept_cb, NULL, &T.l, &err), 0);
	T.scfg = (struct peer_auth_config){.secret = "s3cret", .node_name = "node1"};
	T.ccfg = (struct peer_auth_config){
	    .secret = "s3cret", .node_name = "node2", .client_tls = T.env.cli};
	return 0;
}

static int
teardown(void **state)
{
	listener_stop(&T.l);
	conn_close_all();
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	tls_env_fini(&T.env);
	return 0;
}

static void
run_pair(void)
{
	assert_int_equal(
	    conn_connect(&T.loop, "127.0.0.1", listener_port(T.l), 5000, connect_cb, NULL), 0);
	assert_true(uv_wait_until(&T.loop, both_called, NULL, WAIT_MS));
}

static void
test_matching_secret_passes_both_ways(void **state)
{
	run_pair();
	assert_int_equal(T.s_status, 0);
	assert_int_equal(T.c_status, 0);
	assert_string_equal(T.s_name, "node2");
	assert_string_equal(T.c_name, "node1");
	assert_true(uv_wait_until(&T.loop, got_hello, NULL, WAIT_MS));
}

/* peer_auth_client_ctx resumes: the second connection to the same peer
 * skips the certificate, and the secret's proof still decides */
static void
test_resumed_session_still_proves_the_secret(void **state)
{
	struct tls_ctx *cli;
	struct mn_err err;

	assert_int_equal(peer_auth_client_ctx(&cli, &err), 0);
	T.ccfg.client_tls = cli;
	for (int i = 0; i < 3; i++) {
		T.s_calls = T.c_calls = 0;
		T.s_resumed = T.c_resumed = false;
		T.s_got[0] = '\0';
		if (i == 2)
			T.ccfg.secret = "other";
		run_pair();
		if (i < 2) {
			assert_int_equal(T.s_status, 0);
			assert_int_equal(T.c_status, 0);
			/* the first one has no ticket yet */
			assert_int_equal(T.c_resumed, i == 1);
			assert_int_equal(T.s_resumed, i == 1);
			assert_true(uv_wait_until(&T.loop, got_hello, NULL, WAIT_MS));
		} else {
			assert_int_equal(T.s_status, MN_EAUTH);
			assert_int_not_equal(T.c_status, 0);
		}
	}
	tls_ctx_free(&cli);
}

static void
test_wrong_secret_refused(void **state)
{
	T.ccfg.secret = "other";
	run_pair();
	assert_int_equal(T.s_status, MN_EAUTH);
	assert_int_not_equal(T.c_status, 0);
	assert_string_equal(T.s_got, "");
}

static void
test_empty_secret_refuses(void **state)
{
	T.scfg.secret = "";
	run_pair();
	assert_int_equal(T.s_status, MN_EAUTH);
	assert_int_not_equal(T.c_status, 0);
}

static void
test_client_empty_secret_refuses(void **state)
{
	T.ccfg.secret = NULL;
	run_pair();
	assert_int_equal(T.c_status, MN_EAUTH);
	assert_int_not_equal(T.s_status, 0);
}

static void
test_mac_depends_on_role_secret_and_exporter(void **state)
{
	unsigned char e1[32] = {0}, e2[32] = {0}, a[32], b[32];

	e2[31] = 1;
	assert_int_equal(peer_auth_mac("k", 'C', e1, a), 0);
	assert_int_equal(peer_auth_mac("k", 'C', e1, b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(peer_auth_mac("k", 'S', e1, b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(peer_auth_mac("k2", 'C', e1, b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(peer_auth_mac("k", 'C', e2, b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(peer_auth_mac("", 'C', e1, b), MN_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_matching_secret_passes_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_resumed_session_still_proves_the_secret, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_secret_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_empty_secret_refuses, setup, teardown),
	    cmocka_unit_test(test_mac_depends_on_role_secret_and_exporter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
