/*
 * test_rpc_stream.c - RPC streams (rpc.h): a dedicated connection opened
 * with one request frame and one reply frame over loopback TLS with the
 * cluster secret, then raw bytes both ways. Covers accept with bytes
 * queued right behind the reply, bytes that a client sent right behind
 * the opening frame (nothing lost on either side), refusal with a status,
 * a handler that takes nothing, unserved methods, a stream method on a
 * pooled connection, the deadline against a peer that never answers, a
 * wrong secret, and cancel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include "cluster/rpc/frame.h"
#include "cluster/rpc/rpc.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 10000
#define M_STREAM MAILNODE__RPC_METHOD__RPC_PROXY_IMAP
#define M_UNSERVED MAILNODE__RPC_METHOD__RPC_PROXY_POP3

enum handler_mode { MODE_ACCEPT, MODE_REFUSE, MODE_NOTHING };

static struct {
	uv_loop_t loop;
	struct tls_env env;
	struct rpc_server *srv;
	struct rpc_client *cl;
	struct peer_auth_config sauth, cauth;
	uint16_t port;
	enum handler_mode mode;
	/* server side */
	char got_payload[64];
	char got_peer[64];
	struct conn *sconn;
	bool sconn_closed;
	/* client side */
	int opened;
	int status;
	char error[128];
	char reply[64];
	struct conn *cconn;
	struct buf cin; /* bytes the client side received */
	bool cconn_closed;
	/* pooled call */
	int call_done, call_status;
	/* raw client */
	struct conn *raw;
	struct buf rawin;
	bool raw_closed;
} T;

/* --- server side: echo every byte back ------------------------------------ */

static void
echo_read(struct conn *c, void *arg)
{
	struct buf *in = conn_input(c);

	(void)arg;
	conn_write(c, in->data, in->len);
	buf_consume(in, in->len);
}

static void
echo_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
	T.sconn = NULL;
	T.sconn_closed = true;
}

static const struct conn_handler echo_handler = {.on_read = echo_read, .on_close = echo_close};

static void
stream_handler(struct rpc_stream *st, const uint8_t *payload, size_t len, void *arg)
{
	struct conn *c;

	(void)arg;
	snprintf(T.got_payload, sizeof(T.got_payload), "%.*s", (int)len,
	    payload ? (const char *)payload : "");
	snprintf(T.got_peer, sizeof(T.got_peer), "%s", rpc_stream_peer_name(st));
	switch (T.mode) {
	case MODE_ACCEPT:
		c = rpc_stream_accept(st, "ok", 2);
		assert_non_null(c);
		conn_set_handler(c, &echo_handler, NULL);
		T.sconn = c;
		/* right behind the reply frame, before the client has the conn */
		conn_write(c, "hello\r\n", 7);
		break;
	case MODE_REFUSE:
		rpc_stream_refuse(st, MN_EAGAIN, "maildrop busy");
		break;
	case MODE_NOTHING:
		break;
	}
}

static void
status_handler(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	(void)arg;
	rpc_reply(call, 0, NULL, payload, len);
}

/* --- client side -------------------------------------------------------- */

static void
cli_read(struct conn *c, void *arg)
{
	struct buf *in = conn_input(c);

	(void)arg;
	buf_append(&T.cin, in->data, in->len);
	buf_consume(in, in->len);
}

static void
cli_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
	T.cconn = NULL;
	T.cconn_closed = true;
}

static const struct conn_handler cli_handler = {.on_read = cli_read, .on_close = cli_close};

static void
open_cb(
    struct conn *c, int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	(void)arg;
	T.opened++;
	T.status = status;
	snprintf(T.error, sizeof(T.error), "%s", error ? error : "");
	snprintf(T.reply, sizeof(T.reply), "%.*s", (int)len, payload ? (const char *)payload : "");
	if (status == 0) {
		assert_non_null(c);
		T.cconn = c;
		conn_set_handler(c, &cli_handler, NULL);
	} else {
		assert_null(c);
	}
}

static void
call_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	(void)error;
	(void)payload;
	(void)len;
	(void)arg;
	T.call_status = status;
	T.call_done++;
}

/* --- predicates --------------------------------------------------------- */

static bool
opened(void *arg)
{
	(void)arg;
	return T.opened > 0;
}

static bool
cin_has(void *arg)
{
	return T.cin.len >= strlen(arg) && memmem(T.cin.data, T.cin.len, arg, strlen(arg)) != NULL;
}

static bool
cin_len_at_least(void *arg)
{
	return T.cin.len >= *(size_t *)arg;
}

static bool
rawin_has(void *arg)
{
	return T.rawin.len >= strlen(arg) &&
	       memmem(T.rawin.data, T.rawin.len, arg, strlen(arg)) != NULL;
}

static bool
sconn_closed(void *arg)
{
	(void)arg;
	return T.sconn_closed;
}

static bool
call_done(void *arg)
{
	(void)arg;
	return T.call_done > 0;
}

/* --- fixture ------------------------------------------------------------- */

static int
setup(void **state)
{
	struct rpc_server_config sc;
	struct mn_err err;

	(void)state;
	memset(&T, 0, sizeof(T));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&T.env), 0);
	T.sauth = (struct peer_auth_config){.secret = "sekrit", .node_name = "home"};
	T.cauth = (struct peer_auth_config){
	    .secret = "sekrit", .node_name = "reached", .client_tls = T.env.cli};
	sc = (struct rpc_server_config){
	    .address = "127.0.0.1", .port = 0, .tls = T.env.srv, .auth = &T.sauth};
	assert_int_equal(rpc_server_start(&T.loop, &sc, &T.srv, &err), 0);
	rpc_server_handle_stream(T.srv, M_STREAM, stream_handler, NULL);
	rpc_server_handle(T.srv, MAILNODE__RPC_METHOD__RPC_STATUS, status_handler, NULL);
	T.port = rpc_server_port(T.srv);
	assert_int_equal(rpc_client_new(&T.loop, &T.cauth, &T.cl), 0);
	buf_init(&T.cin, 0);
	buf_init(&T.rawin, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (T.cconn)
		conn_abort(T.cconn);
	if (T.sconn)
		conn_abort(T.sconn);
	if (T.raw)
		conn_abort(T.raw);
	rpc_client_close(&T.cl);
	rpc_server_stop(&T.srv);
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	buf_fini(&T.cin);
	buf_fini(&T.rawin);
	tls_env_fini(&T.env);
	return 0;
}

static int
open_stream(
    Mailnode__RpcMethod m, const char *payload, uint32_t timeout, struct rpc_stream_open **op)
{
	return rpc_stream_open(&T.loop, &T.cauth, "127.0.0.1", T.port, m, payload,
	    payload ? strlen(payload) : 0, timeout, open_cb, NULL, op);
}

/* --- tests -------------------------------------------------------------- */

static void
test_accept_then_raw_bytes_both_ways(void **state)
{
	size_t want;

	(void)state;
	T.mode = MODE_ACCEPT;
	assert_int_equal(open_stream(M_STREAM, "user=a@b.test", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_int_equal(T.status, 0);
	assert_string_equal(T.reply, "ok");
	assert_string_equal(T.got_payload, "user=a@b.test");
	assert_string_equal(T.got_peer, "reached");
	/* written by the server right after its reply: not lost */
	assert_true(uv_wait_until(&T.loop, cin_has, "hello\r\n", WAIT_MS));
	/* raw bytes, not frames, from here on (a length prefix would show) */
	conn_write(T.cconn, "\x00\x00\x00\x05ping\r\n", 10);
	want = 7 + 10;
	assert_true(uv_wait_until(&T.loop, cin_len_at_least, &want, WAIT_MS));
	assert_int_equal(T.cin.len, want);
	assert_memory_equal(T.cin.data, "hello\r\n\x00\x00\x00\x05ping\r\n", want);
	/* the client closes: the server side sees it */
	conn_close(T.cconn);
	assert_true(uv_wait_until(&T.loop, sconn_closed, NULL, WAIT_MS));
	assert_int_equal(T.opened, 1);
}

static void raw_auth_done(struct conn *c, int status, const char *peer_name, void *arg);

static void
raw_read(struct conn *c, void *arg)
{
	struct buf *in = conn_input(c);

	(void)arg;
	buf_append(&T.rawin, in->data, in->len);
	buf_consume(in, in->len);
}

static void
raw_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
	T.raw = NULL;
	T.raw_closed = true;
}

static const struct conn_handler raw_handler = {.on_read = raw_read, .on_close = raw_close};

static void
raw_auth_done(struct conn *c, int status, const char *peer_name, void *arg)
{
	Mailnode__RpcEnvelope env = MAILNODE__RPC_ENVELOPE__INIT;
	struct buf out;

	(void)peer_name;
	(void)arg;
	assert_int_equal(status, 0);
	T.raw = c;
	conn_set_handler(c, &raw_handler, NULL);
	env.id = 7;
	env.has_method = 1;
	env.method = M_STREAM;
	env.has_payload = 1;
	env.payload.data = (uint8_t *)"p";
	env.payload.len = 1;
	buf_init(&out, 0);
	assert_int_equal(rpc_frame_append(&out, &env), 0);
	/* the opening frame and the first relayed bytes in one write */
	buf_append_str(&out, "EXTRA-BYTES");
	conn_write(c, out.data, out.len);
	buf_fini(&out);
}

static void
raw_connect_cb(struct conn *c, int status, void *arg)
{
	(void)arg;
	assert_int_equal(status, 0);
	peer_auth_connect(c, &T.cauth, raw_auth_done, NULL);
}

static void
test_bytes_behind_the_opening_frame_reach_the_handler(void **state)
{
	(void)state;
	T.mode = MODE_ACCEPT;
	assert_int_equal(conn_connect(&T.loop, "127.0.0.1", T.port, 5000, raw_connect_cb, NULL), 0);
	/* the echo handler sends them back after "hello" */
	assert_true(uv_wait_until(&T.loop, rawin_has, "hello\r\nEXTRA-BYTES", WAIT_MS));
	assert_string_equal(T.got_payload, "p");
}

static void
test_refused_with_status(void **state)
{
	(void)state;
	T.mode = MODE_REFUSE;
	assert_int_equal(open_stream(M_STREAM, "x", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_int_equal(T.status, MN_EAGAIN);
	assert_string_equal(T.error, "maildrop busy");
}

static void
test_handler_taking_nothing_refuses(void **state)
{
	(void)state;
	T.mode = MODE_NOTHING;
	assert_int_equal(open_stream(M_STREAM, "x", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_int_equal(T.status, MN_EINVAL);
	assert_string_equal(T.error, "stream not taken");
}

static void
test_unserved_method(void **state)
{
	(void)state;
	assert_int_equal(open_stream(M_UNSERVED, "x", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_int_equal(T.status, MN_EINVAL);
	assert_string_equal(T.error, "method not served here");
	/* a plain method cannot be opened as a stream (its reply would look
	 * like an accepted one) */
	assert_int_equal(open_stream(MAILNODE__RPC_METHOD__RPC_STATUS, "x", 5000, NULL), MN_EINVAL);
	assert_int_equal(open_stream(MAILNODE__RPC_METHOD__RPC_JOIN, "x", 5000, NULL), MN_EINVAL);
}

static void
test_stream_method_on_pooled_connection(void **state)
{
	(void)state;
	T.mode = MODE_ACCEPT;
	/* first frame on the pooled connection: a plain call */
	assert_int_equal(rpc_client_call(T.cl, "127.0.0.1", T.port,
	                     MAILNODE__RPC_METHOD__RPC_STATUS, "s", 1, 5000, call_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, call_done, NULL, WAIT_MS));
	assert_int_equal(T.call_status, 0);
	/* then a stream method on it: refused, the connection stays shared */
	T.call_done = 0;
	assert_int_equal(
	    rpc_client_call(T.cl, "127.0.0.1", T.port, M_STREAM, "s", 1, 5000, call_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, call_done, NULL, WAIT_MS));
	assert_int_equal(T.call_status, MN_EINVAL);
	assert_null(T.sconn);
	T.call_done = 0;
	assert_int_equal(rpc_client_call(T.cl, "127.0.0.1", T.port,
	                     MAILNODE__RPC_METHOD__RPC_STATUS, "s", 1, 5000, call_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, call_done, NULL, WAIT_MS));
	assert_int_equal(T.call_status, 0);
}

/* a listener that accepts and never says a word (not even TLS) */
static void
mute_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
}

static const struct conn_handler mute_handler = {.on_close = mute_close};

static void
mute_accept(struct conn *c, void *arg)
{
	(void)arg;
	conn_set_handler(c, &mute_handler, NULL);
}

static void
test_deadline_against_a_mute_peer(void **state)
{
	struct listener_config lc = {.service = "mute", .address = "127.0.0.1", .port = 0};
	struct listener *l;
	struct mn_err err;
	uint64_t t0;

	(void)state;
	assert_int_equal(listener_start(&T.loop, &lc, mute_accept, NULL, &l, &err), 0);
	uv_update_time(&T.loop);
	t0 = uv_now(&T.loop);
	assert_int_equal(rpc_stream_open(&T.loop, &T.cauth, "127.0.0.1", listener_port(l), M_STREAM,
	                     "x", 1, 300, open_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_int_equal(T.status, MN_ETIMEDOUT);
	assert_true(uv_now(&T.loop) - t0 >= 300);
	assert_true(uv_now(&T.loop) - t0 < 3000);
	listener_stop(&l);
	conn_close_all();
}

static void
test_wrong_secret_and_closed_port(void **state)
{
	(void)state;
	T.mode = MODE_ACCEPT;
	T.cauth.secret = "wrong";
	assert_int_equal(open_stream(M_STREAM, "x", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_true(T.status < 0);
	assert_true(T.status != MN_ETIMEDOUT);
	assert_null(T.sconn);
	T.cauth.secret = "sekrit";
	T.opened = 0;
	/* nothing listens on port 1 */
	assert_int_equal(rpc_stream_open(&T.loop, &T.cauth, "127.0.0.1", 1, M_STREAM, "x", 1, 2000,
	                     open_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_true(T.status < 0);
	assert_int_equal(rpc_stream_open(&T.loop, &T.cauth, "nohost", 1, M_STREAM, NULL, 0, 100,
	                     open_cb, NULL, NULL),
	    MN_EINVAL);
	assert_int_equal(rpc_stream_open(&T.loop, &T.cauth, "127.0.0.1", T.port, M_STREAM, NULL, 0,
	                     0, open_cb, NULL, NULL),
	    MN_EINVAL);
}

static void
test_cancel_at_each_stage(void **state)
{
	struct rpc_stream_open *op;
	int accepted_before;

	(void)state;
	T.mode = MODE_ACCEPT;
	/* at once: still connecting */
	assert_int_equal(open_stream(M_STREAM, "x", 5000, &op), 0);
	rpc_stream_cancel(op);
	/* after some loop turns: in the proof or waiting for the reply */
	assert_int_equal(open_stream(M_STREAM, "x", 5000, &op), 0);
	for (int i = 0; i < 3; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	if (T.opened == 0)
		rpc_stream_cancel(op);
	accepted_before = T.opened;
	/* a later stream still works; the cancelled ones never call back */
	assert_int_equal(open_stream(M_STREAM, "y", 5000, NULL), 0);
	assert_true(uv_wait_until(&T.loop, opened, NULL, WAIT_MS));
	assert_int_equal(T.status, 0);
	assert_int_equal(T.opened, accepted_before + 1);
	conn_close(T.cconn);
	assert_true(uv_wait_until(&T.loop, sconn_closed, NULL, WAIT_MS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accept_then_raw_bytes_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bytes_behind_the_opening_frame_reach_the_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_with_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handler_taking_nothing_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unserved_method, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stream_method_on_pooled_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline_against_a_mute_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret_and_closed_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_at_each_stage, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* peers close under writes on purpose */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
