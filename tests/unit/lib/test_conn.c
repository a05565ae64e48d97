/*
 * test_conn.c - lib/conn: a real libuv loop with a listener on 127.0.0.1
 * (port 0) and conn_connect clients: echo round trip, a 5 MB payload through
 * the back-pressure path, the input limit, idle timeout, the global
 * connection limit, graceful close flushing output, on_close exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 20000
#define MAXPEERS 8
/* SRV_DRAIN's write: far more than a 4 KiB socket buffer holds */
#define DRAIN_BLOCK (512 * 1024)

enum srv_mode {
	SRV_ECHO,
	SRV_INPUT_LIMIT, /* input max 16, "TOOLONG" + close when full */
	SRV_BIG_CLOSE,   /* write big payload, conn_close at once */
	SRV_CLOSE_TWICE, /* on first read: close, abort, close, abort */
	SRV_PAUSE_ONCE,  /* on first read: consume one line, pause */
	SRV_TIMEOUT_REPLY,
	SRV_SLOW,  /* input max 16, consumes (and echoes) 5 bytes per on_read */
	SRV_DRAIN, /* conn_printf greetings at accept; count on_drain */
	SRV_STALL, /* input max 16, consumes nothing; the test consumes later */
};

struct side {
	struct conn *c;
	struct buf got;
	int closes;
	int reason;
	size_t reads;
	size_t max_input_seen;
	size_t max_pending_seen;
	size_t bytes;
	int drains;
};

static struct {
	uv_loop_t loop;
	struct listener *l;
	uint16_t port;
	enum srv_mode mode;
	struct side srv[MAXPEERS], cli[MAXPEERS];
	int nsrv, ncli;
	int connect_status;
	int connect_calls;
	const char *first_write;
	size_t first_write_len;
	bool pause_client;
	bool small_sockbuf;
	int write_after_close_rc;
	uint8_t *big;
	size_t big_len;
} T;

/* --- server side --------------------------------------------------------- */

static void
srv_on_read(struct conn *c, void *arg)
{
	struct side *s = arg;
	struct buf *in = conn_input(c);
	size_t ll, n;

	s->reads++;
	if (in->len > s->max_input_seen)
		s->max_input_seen = in->len;
	if (conn_pending_output(c) > s->max_pending_seen)
		s->max_pending_seen = conn_pending_output(c);
	switch (T.mode) {
	case SRV_ECHO:
	case SRV_TIMEOUT_REPLY:
		s->bytes += in->len;
		assert_int_equal(conn_write(c, in->data, in->len), 0);
		buf_consume(in, in->len);
		break;
	case SRV_INPUT_LIMIT:
		if (in->len == 16) {
			conn_write(c, "TOOLONG\r\n", 9);
			conn_close(c);
		}
		break;
	case SRV_BIG_CLOSE:
		break;
	case SRV_SLOW:
		n = in->len < 5 ? in->len : 5;
		assert_int_equal(buf_append(&s->got, in->data, n), 0);
		buf_consume(in, n);
		break;
	case SRV_STALL:
	case SRV_DRAIN:
		break;
	case SRV_CLOSE_TWICE:
		conn_close(c);
		conn_abort(c);
		conn_close(c);
		conn_abort(c);
		assert_true(conn_is_closing(c));
		assert_int_equal(conn_write(c, "x", 1), MN_ECLOSED);
		break;
	case SRV_PAUSE_ONCE:
		/* like a protocol: all complete lines, but pause after the first
		 * one (an async command) */
		while ((n = find_line(in->data, in->len, &ll)) > 0) {
			conn_write(c, in->data, n);
			buf_consume(in, n);
			if (s->reads == 1) {
				conn_pause(c);
				break;
			}
		}
		break;
	}
}

static void
srv_on_close(struct conn *c, void *arg, int reason)
{
	struct side *s = arg;

	s->closes++;
	s->reason = reason;
	s->c = NULL;
}

static bool
srv_on_timeout(struct conn *c, void *arg)
{
	if (T.mode != SRV_TIMEOUT_REPLY)
		return false;
	conn_write(c, "421 idle\r\n", 10);
	conn_close(c);
	return true;
}

static void
srv_on_drain(struct conn *c, void *arg)
{
	struct side *s = arg;

	assert_int_equal(conn_pending_output(c), 0);
	s->drains++;
}

static const struct conn_handler srv_handler = {
    .on_read = srv_on_read,
    .on_close = srv_on_close,
    .on_drain = srv_on_drain,
    .on_timeout = srv_on_timeout,
};

static void
accept_cb(struct conn *c, void *arg)
{
	struct side *s;

	assert_true(T.nsrv < MAXPEERS);
	s = &T.srv[T.nsrv++];
	s->c = c;
	conn_set_handler(c, &srv_handler, s);
	if (T.mode == SRV_INPUT_LIMIT || T.mode == SRV_SLOW || T.mode == SRV_STALL)
		conn_set_input_max(c, 16);
	if (T.small_sockbuf)
		assert_int_equal(conn_set_sockbuf(c, 16384, 16384), 0);
	if (T.mode == SRV_DRAIN) {
		char line[1001];
		char *block = xmalloc(DRAIN_BLOCK);

		assert_int_equal(conn_set_sockbuf(c, 4096, 4096), 0);
		memset(line, 'L', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		assert_int_equal(conn_printf(c, "220 %s ready\r\n", "mx.example.test"), 0);
		/* longer than conn_printf's stack buffer */
		assert_int_equal(conn_printf(c, "%s\r\n", line), 0);
		/* an empty socket buffer took both at once: nothing queued, and
		 * no on_drain owed for them */
		assert_int_equal(conn_pending_output(c), 0);
		/* far more than the socket takes: queued, then on_drain */
		memset(block, 'D', DRAIN_BLOCK);
		assert_int_equal(conn_write(c, block, DRAIN_BLOCK), 0);
		free(block);
		assert_true(conn_pending_output(c) > 0);
	}
	if (T.mode == SRV_BIG_CLOSE) {
		assert_int_equal(conn_write(c, T.big, T.big_len), 0);
		conn_close(c);
		T.write_after_close_rc = conn_write(c, "x", 1);
	}
}

/* --- client side --------------------------------------------------------- */

static void
cli_on_read(struct conn *c, void *arg)
{
	struct side *s = arg;
	struct buf *in = conn_input(c);

	s->reads++;
	assert_int_equal(buf_append(&s->got, in->data, in->len), 0);
	buf_consume(in, in->len);
}

static void
cli_on_close(struct conn *c, void *arg, int reason)
{
	struct side *s = arg;

	s->closes++;
	s->reason = reason;
	s->c = NULL;
}

static const struct conn_handler cli_handler = {
    .on_read = cli_on_read,
    .on_close = cli_on_close,
};

static void
connect_cb(struct conn *c, int status, void *arg)
{
	struct side *s;

	T.connect_calls++;
	T.connect_status = status;
	if (c == NULL)
		return;
	assert_true(T.ncli < MAXPEERS);
	s = &T.cli[T.ncli++];
	s->c = c;
	conn_set_handler(c, &cli_handler, s);
	if (T.pause_client)
		conn_pause(c);
	if (T.small_sockbuf)
		assert_int_equal(conn_set_sockbuf(c, 16384, 16384), 0);
	if (T.first_write)
		assert_int_equal(conn_write(c, T.first_write, T.first_write_len), 0);
}

/* --- fixture ------------------------------------------------------------- */

static int
setup(void **state)
{
	struct listener_config cfg = {.service = "test", .address = "127.0.0.1", .port = 0};
	struct mn_err err = {0};

	memset(&T, 0, sizeof(T));
	for (int i = 0; i < MAXPEERS; i++) {
		buf_init(&T.srv[i].got, 0);
		buf_init(&T.cli[i].got, 0);
	}
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(listener_start(&T.loop, &cfg, accept_cb, NULL, &T.l, &err), 0);
	T.port = listener_port(T.l);
	assert_true(T.port > 0);
	return 0;
}

static int
teardown(void **state)
{
	listener_stop(&T.l);
	conn_close_all();
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	assert_int_equal(conn_count(), 0);
	for (int i = 0; i < MAXPEERS; i++) {
		/* exactly once, for every conn that was handed out */
		if (i < T.nsrv)
			assert_int_equal(T.srv[i].closes, 1);
		if (i < T.ncli)
			assert_int_equal(T.cli[i].closes, 1);
		buf_fini(&T.srv[i].got);
		buf_fini(&T.cli[i].got);
	}
	free(T.big);
	conn_set_global_limit(0);
	return 0;
}

static void
make_big(size_t len)
{
	T.big = malloc(len);
	assert_non_null(T.big);
	for (size_t i = 0; i < len; i++)
		T.big[i] = (uint8_t)(i * 7 + (i >> 13));
	T.big_len = len;
}

static void
connect_one(void)
{
	assert_int_equal(conn_connect(&T.loop, "127.0.0.1", T.port, 5000, connect_cb, NULL), 0);
}

static bool
cli0_got_at_least(void *arg)
{
	return T.cli[0].got.len >= *(size_t *)arg;
}

static bool
all_closed(void *arg)
{
	for (int i = 0; i < T.nsrv; i++)
		if (T.srv[i].closes == 0)
			return false;
	for (int i = 0; i < T.ncli; i++)
		if (T.cli[i].closes == 0)
			return false;
	return T.nsrv + T.ncli > 0;
}

/* --- tests --------------------------------------------------------------- */

static void
test_plain_round_trip(void **state)
{
	size_t want = 7;
	struct conn *sc, *cc;

	T.first_write = "hello\r\n";
	T.first_write_len = 7;
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_got_at_least, &want, WAIT_MS));
	assert_int_equal(T.connect_status, 0);
	assert_int_equal(T.cli[0].got.len, 7);
	assert_memory_equal(T.cli[0].got.data, "hello\r\n", 7);
	assert_int_equal(T.nsrv, 1);
	assert_int_equal(conn_count(), 1);

	sc = T.srv[0].c;
	cc = T.cli[0].c;
	assert_string_equal(conn_peer_ip(sc), "127.0.0.1");
	assert_string_equal(conn_peer_ip(cc), "127.0.0.1");
	assert_true(conn_is_loopback(sc));
	assert_int_equal(conn_peer_port(sc), conn_local_port(cc));
	assert_int_equal(conn_local_port(sc), T.port);
	assert_int_equal(conn_peer_port(cc), T.port);
	assert_int_equal(strlen(conn_id(sc)), 8);
	assert_int_equal(strspn(conn_id(sc), "0123456789abcdef"), 8);
	assert_string_not_equal(conn_id(sc), conn_id(cc));
	assert_false(conn_is_tls(sc));
	assert_string_equal(conn_tls_info(sc), "");
	assert_ptr_equal(conn_loop(sc), &T.loop);
	assert_false(conn_is_closing(sc));

	conn_close(cc);
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].reason, 0);
	assert_int_equal(T.cli[0].reason, 0);
	assert_int_equal(conn_count(), 0);
}

static bool
srv_backpressured(void *arg)
{
	return T.nsrv == 1 && T.srv[0].c && conn_pending_output(T.srv[0].c) > CONN_OUT_HIGH_WATER;
}

static void
test_5mb_payload_with_back_pressure(void **state)
{
	size_t want = 5 * 1024 * 1024, reads, bytes;

	make_big(want);
	T.first_write = (const char *)T.big;
	T.first_write_len = T.big_len;
	T.pause_client = true;
	/* Small kernel buffers so that the server's queue, not the kernel,
	 * holds the echo the client does not read. */
	T.small_sockbuf = true;
	connect_one();
	/* The client does not read: the server's echo queue passes the high
	 * water mark ... */
	assert_true(uv_wait_until(&T.loop, srv_backpressured, NULL, WAIT_MS));
	reads = T.srv[0].reads;
	bytes = T.srv[0].bytes;
	assert_true(bytes < want);
	/* ... and the server stops reading although input is waiting. */
	for (int i = 0; i < 50; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	assert_int_equal(T.srv[0].reads, reads);
	assert_int_equal(T.srv[0].bytes, bytes);
	assert_true(conn_pending_output(T.cli[0].c) > 0);

	/* Once the client reads, the queue drains and reading resumes. */
	conn_resume(T.cli[0].c);
	assert_true(uv_wait_until(&T.loop, cli0_got_at_least, &want, WAIT_MS));
	assert_int_equal(T.cli[0].got.len, want);
	assert_memory_equal(T.cli[0].got.data, T.big, want);
	/* never more than one read beyond the mark */
	assert_true(T.srv[0].max_pending_seen <= CONN_OUT_HIGH_WATER);
	assert_int_equal(conn_pending_output(T.srv[0].c), 0);
}

static void
test_5mb_payload_reading_client(void **state)
{
	size_t want = 5 * 1024 * 1024;

	make_big(want);
	T.first_write = (const char *)T.big;
	T.first_write_len = T.big_len;
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_got_at_least, &want, WAIT_MS));
	assert_int_equal(T.cli[0].got.len, want);
	assert_memory_equal(T.cli[0].got.data, T.big, want);
	assert_int_equal(T.srv[0].max_input_seen <= CONN_DEFAULT_INPUT_MAX, 1);
}

static void
test_input_max_reached_on_read_sees_full_buffer(void **state)
{
	char data[100];
	size_t want = 9;

	memset(data, 'x', sizeof(data));
	T.mode = SRV_INPUT_LIMIT;
	T.first_write = data;
	T.first_write_len = sizeof(data);
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_got_at_least, &want, WAIT_MS));
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.cli[0].got.len, 9);
	assert_memory_equal(T.cli[0].got.data, "TOOLONG\r\n", 9);
	assert_int_equal(T.srv[0].max_input_seen, 16);
	assert_int_equal(T.srv[0].reason, 0);
}

static bool
srv0_closed(void *arg)
{
	return T.nsrv >= 1 && T.srv[0].closes == 1;
}

static void
restart_listener_with_idle(uint32_t ms)
{
	struct listener_config cfg = {
	    .service = "test", .address = "127.0.0.1", .port = 0, .idle_timeout_ms = ms};
	struct mn_err err = {0};

	listener_stop(&T.l);
	assert_int_equal(listener_start(&T.loop, &cfg, accept_cb, NULL, &T.l, &err), 0);
	T.port = listener_port(T.l);
}

static void
test_idle_timeout_closes(void **state)
{
	restart_listener_with_idle(50);
	connect_one();
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].reason, MN_ETIMEDOUT);
	assert_int_equal(T.cli[0].reason, 0);
	assert_int_equal(T.cli[0].got.len, 0);
}

static void
test_idle_timeout_handler_replies_then_closes(void **state)
{
	T.mode = SRV_TIMEOUT_REPLY;
	restart_listener_with_idle(50);
	connect_one();
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].reason, 0);
	assert_int_equal(T.cli[0].got.len, 10);
	assert_memory_equal(T.cli[0].got.data, "421 idle\r\n", 10);
}

static bool
limit_settled(void *arg)
{
	int closed = 0;

	for (int i = 0; i < T.ncli; i++)
		closed += T.cli[i].closes;
	return T.ncli == 3 && T.nsrv == 2 && closed == 1;
}

static bool
survivors_echoed(void *arg)
{
	for (int i = 0; i < T.ncli; i++)
		if (T.cli[i].closes == 0 && T.cli[i].got.len < 5)
			return false;
	return true;
}

static void
test_global_limit_closes_third(void **state)
{
	conn_set_global_limit(2);
	for (int i = 0; i < 3; i++)
		connect_one();
	assert_true(uv_wait_until(&T.loop, limit_settled, NULL, WAIT_MS));
	assert_int_equal(conn_count(), 2);
	assert_int_equal(conn_count_ip("127.0.0.1"), 2);
	assert_int_equal(conn_count_ip("127.0.0.2"), 0);
	for (int i = 0; i < T.ncli; i++) {
		if (T.cli[i].closes == 0)
			assert_int_equal(conn_write(T.cli[i].c, "ping\n", 5), 0);
		else
			assert_int_equal(T.cli[i].got.len, 0);
	}
	assert_true(uv_wait_until(&T.loop, survivors_echoed, NULL, WAIT_MS));
	assert_true(limit_settled(NULL));
	for (int i = 0; i < T.nsrv; i++)
		assert_int_equal(T.srv[i].closes, 0);
}

static bool
two_and_two(void *arg)
{
	return T.nsrv == 2 && T.ncli == 2;
}

static bool
two_clients_closed(void *arg)
{
	int closed = 0;

	for (int i = 0; i < T.ncli; i++)
		closed += T.cli[i].closes;
	return closed == 2;
}

static bool
connect_called(void *arg)
{
	return T.connect_calls == 1;
}

static bool
four_clients_three_servers(void *arg)
{
	return T.ncli == 4 && T.nsrv == 3;
}

static void
test_global_limit_slot_reused(void **state)
{
	conn_set_global_limit(2);
	connect_one();
	connect_one();
	assert_true(uv_wait_until(&T.loop, two_and_two, NULL, WAIT_MS));
	conn_close(T.srv[0].c);
	assert_true(uv_wait_until(&T.loop, srv0_closed, NULL, WAIT_MS));
	assert_int_equal(conn_count(), 1);
	connect_one();
	connect_one();
	assert_true(uv_wait_until(&T.loop, four_clients_three_servers, NULL, WAIT_MS));
	/* cli 0 (its server side closed) + one of the two new ones rejected */
	assert_true(uv_wait_until(&T.loop, two_clients_closed, NULL, WAIT_MS));
	assert_int_equal(conn_count(), 2);
}

static void
test_close_flushes_queued_output(void **state)
{
	size_t want = 3 * 1024 * 1024;

	make_big(want);
	T.mode = SRV_BIG_CLOSE;
	connect_one();
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.write_after_close_rc, MN_ECLOSED);
	assert_int_equal(T.cli[0].got.len, want);
	assert_memory_equal(T.cli[0].got.data, T.big, want);
	assert_int_equal(T.srv[0].reason, 0);
	assert_int_equal(T.cli[0].reason, 0);
}

static void
test_on_close_exactly_once(void **state)
{
	T.mode = SRV_CLOSE_TWICE;
	T.first_write = "a\r\n";
	T.first_write_len = 3;
	connect_one();
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].closes, 1);
	assert_int_equal(T.cli[0].closes, 1);
	/* conn_abort from the client while the server also closes */
	connect_one();
	assert_true(uv_wait_until(&T.loop, two_and_two, NULL, WAIT_MS));
	conn_write(T.cli[1].c, "b\r\n", 3);
	conn_abort(T.cli[1].c);
	conn_abort(T.cli[1].c);
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	/* more loop turns change nothing */
	for (int i = 0; i < 20; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(T.srv[i].closes, 1);
		assert_int_equal(T.cli[i].closes, 1);
	}
}

static void
test_pause_resume_redelivers_pipelined_input(void **state)
{
	size_t want = 6;

	T.mode = SRV_PAUSE_ONCE;
	T.first_write = "a\r\nb\r\nc\r\n";
	T.first_write_len = 9;
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_got_at_least, &(size_t){3}, WAIT_MS));
	for (int i = 0; i < 20; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	/* paused after the first line although two more are buffered */
	assert_int_equal(T.cli[0].got.len, 3);
	assert_int_equal(T.srv[0].reads, 1);
	conn_resume(T.srv[0].c);
	want = 9;
	assert_true(uv_wait_until(&T.loop, cli0_got_at_least, &want, WAIT_MS));
	assert_memory_equal(T.cli[0].got.data, "a\r\nb\r\nc\r\n", 9);
}

static bool
srv0_got_at_least(void *arg)
{
	return T.nsrv == 1 && T.srv[0].got.len >= *(size_t *)arg;
}

static void
test_slow_consumer_gets_every_byte_in_order(void **state)
{
	char data[1000];
	size_t want = sizeof(data);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('A' + i % 26);
	T.mode = SRV_SLOW;
	T.first_write = data;
	T.first_write_len = sizeof(data);
	connect_one();
	assert_true(uv_wait_until(&T.loop, srv0_got_at_least, &want, WAIT_MS));
	assert_int_equal(T.srv[0].got.len, sizeof(data));
	assert_memory_equal(T.srv[0].got.data, data, sizeof(data));
	assert_true(T.srv[0].max_input_seen <= 16);
}

static bool
srv0_reads_above(void *arg)
{
	return T.srv[0].reads > *(size_t *)arg;
}

static bool
srv0_full(void *arg)
{
	return T.nsrv == 1 && conn_input(T.srv[0].c)->len == 16;
}

static void
test_full_input_consumed_later_needs_resume(void **state)
{
	char data[40];
	struct conn *sc;
	size_t reads;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	T.mode = SRV_STALL;
	T.first_write = data;
	T.first_write_len = sizeof(data);
	connect_one();
	assert_true(uv_wait_until(&T.loop, srv0_full, NULL, WAIT_MS));
	sc = T.srv[0].c;
	/* full and not consumed: no further on_read calls */
	reads = T.srv[0].reads;
	for (int i = 0; i < 20; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	assert_int_equal(T.srv[0].reads, reads);
	for (size_t off = 0; off < sizeof(data);) {
		struct buf *in = conn_input(sc);
		size_t n = in->len;

		assert_true(n > 0 && n <= 16);
		assert_memory_equal(in->data, data + off, n);
		off += n;
		buf_consume(in, n);
		/* consumed outside on_read: conn_resume delivers the rest */
		conn_resume(sc);
		if (off < sizeof(data)) {
			size_t r = T.srv[0].reads;

			assert_true(uv_wait_until(&T.loop, srv0_reads_above, &r, WAIT_MS));
		}
	}
}

static void
test_connect_refused_and_bad_address(void **state)
{
	uint16_t port = T.port;

	listener_stop(&T.l);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	assert_int_equal(
	    conn_connect(&T.loop, "not-an-ip", port, 1000, connect_cb, NULL), MN_EINVAL);
	assert_int_equal(conn_connect(&T.loop, "127.0.0.1", 0, 1000, connect_cb, NULL), MN_EINVAL);
	assert_int_equal(conn_connect(&T.loop, "127.0.0.1", port, 5000, connect_cb, NULL), 0);
	assert_true(uv_wait_until(&T.loop, connect_called, NULL, WAIT_MS));
	assert_int_equal(T.connect_status, MN_EIO);
	assert_int_equal(T.ncli, 0);
}

static bool
srv0_drained(void *arg)
{
	return T.nsrv == 1 && T.srv[0].drains > 0 && T.cli[0].got.len >= 1029 + DRAIN_BLOCK;
}

static void
test_printf_and_on_drain(void **state)
{
	T.mode = SRV_DRAIN;
	connect_one();
	assert_true(uv_wait_until(&T.loop, srv0_drained, NULL, WAIT_MS));
	assert_int_equal(T.cli[0].got.len, 27 + 1002 + DRAIN_BLOCK);
	assert_memory_equal(T.cli[0].got.data, "220 mx.example.test ready\r\nLLL", 30);
	assert_memory_equal(T.cli[0].got.data + 27 + 1000, "\r\nDDD", 5);
	assert_int_equal(T.cli[0].got.data[27 + 1002 + DRAIN_BLOCK - 1], 'D');
	assert_int_equal(conn_pending_output(T.srv[0].c), 0);
	assert_int_equal(T.srv[0].drains, 1);
}

static void
test_connect_timeout(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int lfd, fill[3];

	/* A listener that never accepts, with a backlog of 0: once its
	 * accept queue is full the kernel drops further SYNs, so a connect
	 * hangs in SYN_SENT and only the timeout ends it. */
	sa.sin_addr.s_addr = htonl(0x7f000001);
	assert_true((lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	for (int i = 0; i < 3; i++) {
		assert_true((fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) >= 0);
		/* non-blocking: only fills the backlog */
		(void)connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	assert_int_equal(
	    conn_connect(&T.loop, "127.0.0.1", ntohs(sa.sin_port), 100, connect_cb, NULL), 0);
	assert_true(uv_wait_until(&T.loop, connect_called, NULL, WAIT_MS));
	assert_int_equal(T.connect_status, MN_ETIMEDOUT);
	assert_int_equal(T.ncli, 0);
	for (int i = 0; i < 3; i++)
		close(fill[i]);
	close(lfd);
}

static void
test_listener_bad_address(void **state)
{
	struct listener_config cfg = {.service = "test", .address = "localhost", .port = 0};
	struct listener *l = NULL;
	struct mn_err err = {0};

	assert_int_equal(listener_start(&T.loop, &cfg, accept_cb, NULL, &l, &err), MN_EINVAL);
	assert_null(l);
	/* port in use */
	cfg.address = "127.0.0.1";
	cfg.port = T.port;
	assert_int_equal(listener_start(&T.loop, &cfg, accept_cb, NULL, &l, &err), MN_EIO);
	assert_null(l);
	assert_non_null(strstr(err.msg, "listen on 127.0.0.1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_5mb_payload_with_back_pressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_5mb_payload_reading_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_input_max_reached_on_read_sees_full_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_idle_timeout_handler_replies_then_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_global_limit_closes_third, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_global_limit_slot_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_flushes_queued_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_on_close_exactly_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pause_resume_redelivers_pipelined_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_slow_consumer_gets_every_byte_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_full_input_consumed_later_needs_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_refused_and_bad_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_printf_and_on_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listener_bad_address, setup, teardown),
	};

	/* debug: the accept/close log lines run under the sanitizers too */
	log_set_level(LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
