/*
 * test_transport.c - the TLS raft transport driven the way raft drives it
 * (init, listen, connect, close) on loopback: the accept side learns the
 * connector's id and address, bytes flow both ways through the socketpair
 * relays (8 MiB each way, exercising back-pressure), closing raft's end
 * closes the peer's, a wrong secret fails the connect, close cancels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cluster/raft/transport.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 20000
#define BIG (8u * 1024 * 1024)

struct side {
	struct raft_uv_transport t;
	struct peer_auth_config auth;
	uv_stream_t *stream; /* raft's end */
	raft_id peer_id;
	char peer_addr[64];
	size_t got;
	uint8_t expect_seed;
	bool bad_byte, eof, closed_cb;
	size_t sent;
};

static struct {
	uv_loop_t loop;
	struct tls_env env;
	struct side a, b;
	struct raft_uv_connect req;
	int connect_status, connect_calls;
	char addr_a[64];
} T;

static void
alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	static char buf[65536];

	b->base = buf;
	b->len = sizeof(buf);
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct side *sd = s->data;

	if (n < 0) {
		sd->eof = true;
		uv_read_stop(s);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if ((uint8_t)b->base[i] != (uint8_t)((sd->got + (size_t)i) * 7 + sd->expect_seed))
			sd->bad_byte = true;
	sd->got += (size_t)n;
}

static void
accept_cb(struct raft_uv_transport *t, raft_id id, const char *address, uv_stream_t *stream)
{
	struct side *sd = t->data;

	sd->peer_id = id;
	snprintf(sd->peer_addr, sizeof(sd->peer_addr), "%s", address);
	sd->stream = stream;
	stream->data = sd;
	uv_read_start(stream, alloc_cb, read_cb);
}

static void
connect_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	T.connect_calls++;
	T.connect_status = status;
	if (status == 0) {
		T.b.stream = stream;
		stream->data = &T.b;
		uv_read_start(stream, alloc_cb, read_cb);
	}
}

struct wr {
	uv_write_t w;
	uint8_t data[65536];
};

static void
write_done(uv_write_t *w, int status)
{
	free(w);
}

static void
send_pattern(struct side *from, uint8_t seed, size_t total)
{
	while (from->sent < total) {
		struct wr *w = malloc(sizeof(*w));
		size_t n =
		    total - from->sent < sizeof(w->data) ? total - from->sent : sizeof(w->data);
		uv_buf_t b;

		for (size_t i = 0; i < n; i++)
			w->data[i] = (uint8_t)((from->sent + i) * 7 + seed);
		b = uv_buf_init((char *)w->data, (unsigned)n);
		assert_int_equal(uv_write(&w->w, from->stream, &b, 1, write_done), 0);
		from->sent += n;
	}
}

static bool
connected(void *arg)
{
	return T.connect_calls > 0 && (T.connect_status != 0 || T.a.stream != NULL);
}

static bool
both_got_big(void *arg)
{
	return T.a.got >= BIG && T.b.got >= BIG;
}

static bool
a_eof(void *arg)
{
	return T.a.eof;
}

static void
stream_free(uv_handle_t *h)
{
	raft_free(h);
}

static void
close_cb(struct raft_uv_transport *t)
{
	((struct side *)t->data)->closed_cb = true;
}

static bool
both_closed(void *arg)
{
	return T.a.closed_cb && T.b.closed_cb;
}

static void
side_init(struct side *sd, const char *secret, const char *name, raft_id id, const char *addr)
{
	struct transport_config tc = {
	    .bind_address = "127.0.0.1", .port = 0, .server_tls = T.env.srv};

	sd->auth =
	    (struct peer_auth_config){.secret = secret, .node_name = name, .client_tls = T.env.cli};
	tc.auth = &sd->auth;
	assert_int_equal(transport_init(&sd->t, &T.loop, &tc), 0);
	sd->t.data = sd;
	assert_int_equal(sd->t.init(&sd->t, id, addr), 0);
	assert_int_equal(sd->t.listen(&sd->t, accept_cb), 0);
}

static int
setup(void **state)
{
	memset(&T, 0, sizeof(T));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&T.env), 0);
	side_init(&T.a, "secret", "a", 1, "127.0.0.1:1");
	snprintf(T.addr_a, sizeof(T.addr_a), "127.0.0.1:%u", transport_port(&T.a.t));
	T.a.expect_seed = 2; /* b sends seed 2 */
	T.b.expect_seed = 1;
	return 0;
}

static int
teardown(void **state)
{
	if (T.a.stream && !uv_is_closing((uv_handle_t *)T.a.stream))
		uv_close((uv_handle_t *)T.a.stream, stream_free);
	if (T.b.stream && !uv_is_closing((uv_handle_t *)T.b.stream))
		uv_close((uv_handle_t *)T.b.stream, stream_free);
	T.a.t.close(&T.a.t, close_cb);
	T.b.t.close(&T.b.t, close_cb);
	assert_true(uv_wait_until(&T.loop, both_closed, NULL, WAIT_MS));
	transport_fini(&T.a.t);
	transport_fini(&T.b.t);
	conn_close_all();
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	tls_env_fini(&T.env);
	return 0;
}

static void
test_relay_both_ways_with_ids(void **state)
{
	side_init(&T.b, "secret", "b", 2, "127.0.0.1:2222");
	assert_int_equal(T.b.t.connect(&T.b.t, &T.req, 1, T.addr_a, connect_cb), 0);
	assert_true(uv_wait_until(&T.loop, connected, NULL, WAIT_MS));
	assert_int_equal(T.connect_status, 0);
	assert_int_equal(T.a.peer_id, 2);
	assert_string_equal(T.a.peer_addr, "127.0.0.1:2222");
	send_pattern(&T.a, 1, BIG);
	send_pattern(&T.b, 2, BIG);
	assert_true(uv_wait_until(&T.loop, both_got_big, NULL, WAIT_MS));
	assert_int_equal(T.a.got, BIG);
	assert_int_equal(T.b.got, BIG);
	assert_false(T.a.bad_byte);
	assert_false(T.b.bad_byte);
	/* raft closing its end on b reaches a as EOF */
	uv_close((uv_handle_t *)T.b.stream, stream_free);
	T.b.stream = NULL;
	assert_true(uv_wait_until(&T.loop, a_eof, NULL, WAIT_MS));
}

static void
test_wrong_secret_fails_connect(void **state)
{
	side_init(&T.b, "other", "b", 2, "127.0.0.1:2222");
	assert_int_equal(T.b.t.connect(&T.b.t, &T.req, 1, T.addr_a, connect_cb), 0);
	assert_true(uv_wait_until(&T.loop, connected, NULL, WAIT_MS));
	assert_int_equal(T.connect_status, RAFT_NOCONNECTION);
	assert_null(T.a.stream);
}

static void
test_close_cancels_pending_connect(void **state)
{
	side_init(&T.b, "secret", "b", 2, "127.0.0.1:2222");
	assert_int_equal(T.b.t.connect(&T.b.t, &T.req, 1, T.addr_a, connect_cb), 0);
	T.b.t.close(&T.b.t, close_cb);
	T.b.closed_cb = false;
	assert_true(uv_wait_until(&T.loop, connected, NULL, WAIT_MS));
	assert_int_equal(T.connect_status, RAFT_CANCELED);
	assert_int_equal(T.connect_calls, 1);
	/* teardown closes b again: give it a fresh transport */
	transport_fini(&T.b.t);
	side_init(&T.b, "secret", "b", 2, "127.0.0.1:2222");
}

static void
test_bad_address_refused(void **state)
{
	side_init(&T.b, "secret", "b", 2, "127.0.0.1:2222");
	assert_int_equal(
	    T.b.t.connect(&T.b.t, &T.req, 1, "nohost:1", connect_cb), RAFT_NOCONNECTION);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_relay_both_ways_with_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_secret_fails_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_cancels_pending_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_address_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
