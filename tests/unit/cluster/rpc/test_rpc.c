/*
 * test_rpc.c - RPC frames (whole and byte by byte, limits) and the RPC
 * server and client over loopback TLS with the cluster secret: replies by
 * id in any order, deadlines, replies to gone callers dropped, reconnect
 * after the server comes back, wrong secret refused, oversized frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 10000

/* --- frames --------------------------------------------------------------- */

static void
test_frame_round_trip_whole_and_bytewise(void **state)
{
	Mailnode__RpcEnvelope env = MAILNODE__RPC_ENVELOPE__INIT, *got;
	struct buf b;
	const uint8_t *body;
	size_t blen, used;

	env.id = 42;
	env.has_method = 1;
	env.method = MAILNODE__RPC_METHOD__RPC_STATUS;
	env.has_payload = 1;
	env.payload.data = (uint8_t *)"abc";
	env.payload.len = 3;
	buf_init(&b, 0);
	assert_int_equal(rpc_frame_append(&b, &env), 0);
	assert_int_equal(rpc_frame_append(&b, &env), 0);
	for (size_t i = 0; i < b.len / 2; i++)
		assert_int_equal(rpc_frame_decode(b.data, i, &body, &blen, &used), MN_EAGAIN);
	assert_int_equal(rpc_frame_decode(b.data, b.len, &body, &blen, &used), 0);
	assert_int_equal(used, b.len / 2);
	assert_ptr_equal(body, b.data + 4);
	assert_int_equal(rpc_envelope_unpack(body, blen, &got), 0);
	assert_int_equal(got->id, 42);
	assert_int_equal(got->method, MAILNODE__RPC_METHOD__RPC_STATUS);
	assert_memory_equal(got->payload.data, "abc", 3);
	mailnode__rpc_envelope__free_unpacked(got, NULL);
	buf_fini(&b);
}

static void
test_frame_limits(void **state)
{
	static const struct {
		uint8_t head[4];
		int rc;
	} cases[] = {
	    {{0x01, 0x00, 0x00, 0x00}, MN_EAGAIN},  /* exactly 16 MiB: allowed, incomplete */
	    {{0x01, 0x00, 0x00, 0x01}, MN_ETOOBIG}, /* one more */
	    {{0xff, 0xff, 0xff, 0xff}, MN_ETOOBIG},
	    {{0x00, 0x00, 0x00, 0x00}, 0}, /* empty body: decodes, unpack decides */
	};
	const uint8_t *body;
	size_t blen, used;
	Mailnode__RpcEnvelope *env;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(
		    rpc_frame_decode(cases[i].head, 4, &body, &blen, &used), cases[i].rc);
	/* empty envelope lacks the required id */
	assert_int_equal(rpc_envelope_unpack((const uint8_t *)"", 0, &env), MN_EPARSE);
	/* id 1, method 5 (one past the last) */
	assert_int_equal(
	    rpc_envelope_unpack((const uint8_t *)"\x08\x01\x10\x05", 4, &env), MN_EINVAL);
	/* id 1, method 4 (RPC_REMOVE, the last) */
	assert_int_equal(rpc_envelope_unpack((const uint8_t *)"\x08\x01\x10\x04", 4, &env), 0);
	mailnode__rpc_envelope__free_unpacked(env, NULL);
	/* id 1, method 9 (unknown) */
	assert_int_equal(
	    rpc_envelope_unpack((const uint8_t *)"\x08\x01\x10\x09", 4, &env), MN_EINVAL);
	/* id 1, method 20 (RPC_HANDOFF_CHUNK, after the gap) */
	assert_int_equal(rpc_envelope_unpack((const uint8_t *)"\x08\x01\x10\x14", 4, &env), 0);
	mailnode__rpc_envelope__free_unpacked(env, NULL);
	/* id 1, method 21 (in the handoff range, not defined) and 200 */
	assert_int_equal(
	    rpc_envelope_unpack((const uint8_t *)"\x08\x01\x10\x15", 4, &env), MN_EINVAL);
	assert_int_equal(
	    rpc_envelope_unpack((const uint8_t *)"\x08\x01\x10\xc8\x01", 5, &env), MN_EINVAL);
	/* id 1, no method */
	assert_int_equal(rpc_envelope_unpack((const uint8_t *)"\x08\x01", 2, &env), MN_EINVAL);
	/* a reply needs no method */
	assert_int_equal(rpc_envelope_unpack((const uint8_t *)"\x08\x01\x28\x01", 4, &env), 0);
	mailnode__rpc_envelope__free_unpacked(env, NULL);
}

static void
test_parse_hostport(void **state)
{
	char ip[64];
	uint16_t port;

	assert_int_equal(rpc_parse_hostport("127.0.0.2:7101", ip, sizeof(ip), &port), 0);
	assert_string_equal(ip, "127.0.0.2");
	assert_int_equal(port, 7101);
	assert_int_equal(rpc_parse_hostport("[::1]:1", ip, sizeof(ip), &port), 0);
	assert_string_equal(ip, "::1");
	assert_int_equal(rpc_parse_hostport("127.0.0.1", ip, sizeof(ip), &port), MN_EINVAL);
	assert_int_equal(rpc_parse_hostport("127.0.0.1:0", ip, sizeof(ip), &port), MN_EINVAL);
	assert_int_equal(rpc_parse_hostport("127.0.0.1:65536", ip, sizeof(ip), &port), MN_EINVAL);
	assert_int_equal(rpc_parse_hostport("host:25", ip, sizeof(ip), &port), MN_EINVAL);
	assert_int_equal(rpc_parse_hostport(":25", ip, sizeof(ip), &port), MN_EINVAL);
	assert_int_equal(rpc_parse_hostport("1.2.3.4:2x", ip, sizeof(ip), &port), MN_EINVAL);
}

/* --- server and client ---------------------------------------------------- */

static struct {
	uv_loop_t loop;
	struct tls_env env;
	struct rpc_server *srv;
	struct rpc_client *cl;
	struct peer_auth_config sauth, cauth;
	uint16_t port;
	struct rpc_call *held[4];
	int nheld;
	int done;
	int status[8];
	char reply[8][64];
	char peer[64];
} T;

static void
echo_handler(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	snprintf(T.peer, sizeof(T.peer), "%s", rpc_call_peer_name(call));
	rpc_reply(call, 0, NULL, payload, len);
}

static void
hold_handler(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	T.held[T.nheld++] = call;
}

static void
done_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	int i = (int)(intptr_t)arg;

	T.status[i] = status;
	snprintf(
	    T.reply[i], sizeof(T.reply[i]), "%.*s", (int)len, payload ? (const char *)payload : "");
	T.done++;
}

static bool
done_at_least(void *arg)
{
	return T.done >= *(int *)arg;
}

static bool
held_at_least(void *arg)
{
	return T.nheld >= *(int *)arg;
}

static void
start_server(uint16_t port)
{
	struct rpc_server_config sc = {
	    .address = "127.0.0.1", .port = port, .tls = T.env.srv, .auth = &T.sauth};
	struct mn_err err;

	assert_int_equal(rpc_server_start(&T.loop, &sc, &T.srv, &err), 0);
	rpc_server_handle(T.srv, MAILNODE__RPC_METHOD__RPC_STATUS, echo_handler, NULL);
	rpc_server_handle(T.srv, MAILNODE__RPC_METHOD__RPC_PROPOSE, hold_handler, NULL);
	T.port = rpc_server_port(T.srv);
}

static int
setup(void **state)
{
	memset(&T, 0, sizeof(T));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&T.env), 0);
	T.sauth = (struct peer_auth_config){.secret = "sekrit", .node_name = "srv"};
	T.cauth = (struct peer_auth_config){
	    .secret = "sekrit", .node_name = "cli", .client_tls = T.env.cli};
	start_server(0);
	assert_int_equal(rpc_client_new(&T.loop, &T.cauth, &T.cl), 0);
	return 0;
}

static int
teardown(void **state)
{
	for (int i = 0; i < T.nheld; i++)
		if (T.held[i])
			rpc_reply(T.held[i], 0, NULL, NULL, 0);
	rpc_client_close(&T.cl);
	rpc_server_stop(&T.srv);
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	tls_env_fini(&T.env);
	return 0;
}

static int
call(int slot, Mailnode__RpcMethod m, const char *payload, uint32_t timeout, uint64_t *id)
{
	return rpc_client_call(T.cl, "127.0.0.1", T.port, m, payload, payload ? strlen(payload) : 0,
	    timeout, done_cb, (void *)(intptr_t)slot, id);
}

static void
test_echo_and_out_of_order_replies(void **state)
{
	int want;

	assert_false(rpc_client_connected(T.cl, "127.0.0.1", T.port));
	assert_int_equal(call(0, MAILNODE__RPC_METHOD__RPC_PROPOSE, "first", 5000, NULL), 0);
	assert_int_equal(call(1, MAILNODE__RPC_METHOD__RPC_PROPOSE, "second", 5000, NULL), 0);
	assert_int_equal(call(2, MAILNODE__RPC_METHOD__RPC_STATUS, "echo", 5000, NULL), 0);
	assert_int_equal(call(3, MAILNODE__RPC_METHOD__RPC_JOIN, "x", 5000, NULL), 0);
	want = 2;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[2], 0);
	assert_string_equal(T.reply[2], "echo");
	assert_string_equal(T.peer, "cli");
	assert_true(rpc_client_connected(T.cl, "127.0.0.1", T.port));
	assert_false(rpc_client_connected(T.cl, "127.0.0.2", T.port));
	assert_int_equal(T.status[3], MN_EINVAL); /* JOIN not served by this server */
	want = 2;
	assert_true(uv_wait_until(&T.loop, held_at_least, &want, WAIT_MS));
	rpc_reply(T.held[1], MN_ECONFLICT, "taken", "b", 1);
	T.held[1] = NULL;
	want = 3;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[1], MN_ECONFLICT);
	assert_string_equal(T.reply[1], "b");
	rpc_reply(T.held[0], 0, NULL, "a", 1);
	T.held[0] = NULL;
	want = 4;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[0], 0);
	assert_string_equal(T.reply[0], "a");
}

static void
test_deadline_then_late_reply_dropped(void **state)
{
	int want = 1;
	uint64_t id;

	assert_int_equal(call(0, MAILNODE__RPC_METHOD__RPC_PROPOSE, "slow", 200, &id), 0);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[0], MN_ETIMEDOUT);
	assert_true(uv_wait_until(&T.loop, held_at_least, &want, WAIT_MS));
	rpc_reply(T.held[0], 0, NULL, "late", 4);
	T.held[0] = NULL;
	/* the connection survives the dropped reply */
	assert_int_equal(call(1, MAILNODE__RPC_METHOD__RPC_STATUS, "next", 5000, NULL), 0);
	want = 2;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[1], 0);
	assert_string_equal(T.reply[1], "next");
	assert_int_equal(T.done, 2);
}

static void
test_cancel_suppresses_callback(void **state)
{
	int want = 1;
	uint64_t id;

	assert_int_equal(call(0, MAILNODE__RPC_METHOD__RPC_STATUS, "gone", 5000, &id), 0);
	rpc_client_cancel(T.cl, id);
	assert_int_equal(call(1, MAILNODE__RPC_METHOD__RPC_STATUS, "kept", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_string_equal(T.reply[1], "kept");
	assert_int_equal(T.done, 1);
}

static void
test_server_restart_reconnects(void **state)
{
	int want = 1;
	uint16_t port = T.port;

	assert_int_equal(call(0, MAILNODE__RPC_METHOD__RPC_STATUS, "one", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	/* the sent-but-unanswered request fails with MN_ECLOSED */
	assert_int_equal(call(1, MAILNODE__RPC_METHOD__RPC_PROPOSE, "held", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, held_at_least, &want, WAIT_MS));
	rpc_server_stop(&T.srv);
	want = 2;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[1], MN_ECLOSED);
	rpc_reply(T.held[0], 0, NULL, NULL, 0); /* dropped: conn gone */
	T.held[0] = NULL;
	/* queued while down; sent once the server is back */
	assert_int_equal(call(2, MAILNODE__RPC_METHOD__RPC_STATUS, "two", 8000, NULL), 0);
	start_server(port);
	want = 3;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[2], 0);
	assert_string_equal(T.reply[2], "two");
}

/* a process-wide handler serves a method the server has none for; the
 * server's own handler wins; unregistering makes it unserved again */
static void
test_global_handler(void **state)
{
	int want = 2;

	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK, echo_handler, NULL);
	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_PROPOSE, echo_handler, NULL);
	assert_int_equal(call(0, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK, "chunk", 5000, NULL), 0);
	assert_int_equal(call(1, MAILNODE__RPC_METHOD__RPC_PROPOSE, "held", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, held_at_least, (int[]){1}, WAIT_MS));
	assert_true(uv_wait_until(&T.loop, done_at_least, (int[]){1}, WAIT_MS));
	assert_int_equal(T.status[0], 0);
	assert_string_equal(T.reply[0], "chunk");
	rpc_reply(T.held[0], 0, NULL, "own", 3);
	T.held[0] = NULL;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_string_equal(T.reply[1], "own");
	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK, NULL, NULL);
	rpc_server_handle(NULL, MAILNODE__RPC_METHOD__RPC_PROPOSE, NULL, NULL);
	assert_int_equal(call(2, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK, "x", 5000, NULL), 0);
	want = 3;
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[2], MN_EINVAL);
}

static void
test_wrong_secret_times_out(void **state)
{
	int want = 1;

	T.cauth.secret = "wrong";
	assert_int_equal(call(0, MAILNODE__RPC_METHOD__RPC_STATUS, "x", 500, NULL), 0);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[0], MN_ETIMEDOUT);
	assert_int_equal(T.nheld, 0);
}

static void
test_unreachable_times_out(void **state)
{
	int want = 1;

	assert_int_equal(rpc_client_call(T.cl, "127.0.0.1", 1, MAILNODE__RPC_METHOD__RPC_STATUS,
	                     NULL, 0, 300, done_cb, (void *)(intptr_t)0, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[0], MN_ETIMEDOUT);
	assert_int_equal(rpc_client_call(T.cl, "nohost", 1, MAILNODE__RPC_METHOD__RPC_STATUS, NULL,
	                     0, 300, done_cb, NULL, NULL),
	    MN_EINVAL);
}

static bool
backing_off_port1(void *arg)
{
	return rpc_client_peer_backing_off(T.cl, "127.0.0.1", 1);
}

/* cluster status skips a peer whose connection is failing instead of
 * waiting out its deadline: the client says so once a connect failed */
static void
test_peer_backing_off(void **state)
{
	int want = 1;
	uint64_t id;

	assert_false(rpc_client_peer_backing_off(T.cl, "127.0.0.1", 1)); /* unknown */
	assert_int_equal(rpc_client_call(T.cl, "127.0.0.1", 1, MAILNODE__RPC_METHOD__RPC_STATUS,
	                     NULL, 0, WAIT_MS, done_cb, (void *)(intptr_t)0, &id),
	    0);
	assert_true(uv_wait_until(&T.loop, backing_off_port1, NULL, WAIT_MS));
	rpc_client_cancel(T.cl, id);
	/* a peer that answers is not backing off */
	assert_int_equal(call(1, MAILNODE__RPC_METHOD__RPC_STATUS, "up", WAIT_MS, NULL), 0);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	assert_int_equal(T.status[1], 0);
	assert_false(rpc_client_peer_backing_off(T.cl, "127.0.0.1", T.port));
	assert_int_equal(T.done, 1); /* the cancelled call never called back */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_round_trip_whole_and_bytewise),
	    cmocka_unit_test(test_frame_limits),
	    cmocka_unit_test(test_parse_hostport),
	    cmocka_unit_test_setup_teardown(test_echo_and_out_of_order_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_then_late_reply_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_suppresses_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_restart_reconnects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_global_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_backing_off, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
