/*
 * test_proxy.c - the relay of cluster/proxy over loopback connections:
 * bytes both ways in order, back-pressure (a client that does not read
 * makes the relay stop reading the home side, so the memory held on the
 * relaying node stays near PROXY_RELAY_HIGH while the home's own queue
 * holds the rest; everything arrives once the client reads again), either
 * side closing closes the other after its queued bytes, done called once;
 * and the routing rule of proxy_home_elsewhere. Then the opening over a
 * real RPC server with an in-memory directory: the home's adopt function
 * gets the user, client IP, tag and peer and its bytes reach the opener;
 * a user not homed there, an unknown home node, a bad tag and an adopt
 * refusal (PROXY_EBUSY) all fail the opening with their status.
 *
 * Four connections: x (the IMAP client) -> cA (accepted, the relay's
 * client side); h (the relay's home side, conn_connect) -> hB (accepted,
 * the home's session).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include "cluster/proxy/proxy.h"
#include "storage/directory/directory.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"
#include "tests/unit/storage/directory/dir_test_util.h"

#define WAIT_MS 20000
#define BIG (8u * 1024 * 1024)

struct end {
	struct conn *c;
	struct buf in;
	bool closed;
};

static struct {
	uv_loop_t loop;
	struct listener *la, *lb;
	struct end x, cA, h, hB;
	int done;
} T;

static bool relayed; /* h and cA are the relay's */

static void
end_read(struct conn *c, void *arg)
{
	struct end *e = arg;
	struct buf *in = conn_input(c);

	buf_append(&e->in, in->data, in->len);
	buf_consume(in, in->len);
}

static void
end_close(struct conn *c, void *arg, int reason)
{
	struct end *e = arg;

	(void)c;
	(void)reason;
	e->c = NULL;
	e->closed = true;
}

static const struct conn_handler end_handler = {.on_read = end_read, .on_close = end_close};

/* leaves what arrives in conn_input, as a session waiting for its home */
static void
hold_read(struct conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static const struct conn_handler hold_handler = {.on_read = hold_read, .on_close = end_close};

static void
accept_a(struct conn *c, void *arg)
{
	(void)arg;
	T.cA.c = c;
	conn_set_handler(c, &hold_handler, &T.cA);
}

static void
accept_b(struct conn *c, void *arg)
{
	(void)arg;
	T.hB.c = c;
	conn_set_handler(c, &end_handler, &T.hB);
}

static void
connect_x(struct conn *c, int status, void *arg)
{
	(void)arg;
	assert_int_equal(status, 0);
	T.x.c = c;
	conn_set_handler(c, &end_handler, &T.x);
}

static void
connect_h(struct conn *c, int status, void *arg)
{
	(void)arg;
	assert_int_equal(status, 0);
	T.h.c = c;
	conn_set_handler(c, &hold_handler, &T.h);
}

static bool
all_connected(void *arg)
{
	(void)arg;
	return T.x.c && T.cA.c && T.h.c && T.hB.c;
}

static bool
has_len(void *arg)
{
	struct {
		struct end *e;
		size_t n;
	} *w = arg;

	return w->e->in.len >= w->n;
}

static bool
inputs_held(void *arg)
{
	(void)arg;
	return conn_input(T.cA.c)->len == 16 && conn_input(T.h.c)->len == 31;
}

static bool
closed4(void *arg)
{
	(void)arg;
	/* cA and h belong to the relay: done says both closed */
	return T.x.closed && T.hB.closed && T.done > 0;
}

static bool
relay_stalled(void *arg)
{
	(void)arg;
	return T.cA.c != NULL && conn_pending_output(T.cA.c) > PROXY_RELAY_HIGH;
}

static void
relay_done(void *arg)
{
	(void)arg;
	T.done++;
}

static int
setup(void **state)
{
	struct listener_config lc = {.service = "t", .address = "127.0.0.1"};
	struct mn_err err;

	(void)state;
	memset(&T, 0, sizeof(T));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(listener_start(&T.loop, &lc, accept_a, NULL, &T.la, &err), 0);
	assert_int_equal(listener_start(&T.loop, &lc, accept_b, NULL, &T.lb, &err), 0);
	buf_init(&T.x.in, 0);
	buf_init(&T.cA.in, 0);
	buf_init(&T.h.in, 0);
	buf_init(&T.hB.in, 0);
	assert_int_equal(
	    conn_connect(&T.loop, "127.0.0.1", listener_port(T.la), 5000, connect_x, NULL), 0);
	assert_int_equal(
	    conn_connect(&T.loop, "127.0.0.1", listener_port(T.lb), 5000, connect_h, NULL), 0);
	assert_true(uv_wait_until(&T.loop, all_connected, NULL, WAIT_MS));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	listener_stop(&T.la);
	listener_stop(&T.lb);
	conn_close_all();
	if (T.x.c)
		conn_abort(T.x.c);
	if (T.h.c && !relayed)
		conn_abort(T.h.c);
	relayed = false;
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	buf_fini(&T.x.in);
	buf_fini(&T.cA.in);
	buf_fini(&T.h.in);
	buf_fini(&T.hB.in);
	return 0;
}

static void
start_relay(void)
{
	relayed = true;
	proxy_relay_start(T.cA.c, T.h.c, PROXY_IMAP, "u@x.test", "node2", 0, relay_done, NULL);
}

static void
test_bytes_both_ways_including_ones_buffered_before(void **state)
{
	struct {
		struct end *e;
		size_t n;
	} w;

	(void)state;
	/* the client pipelined a command before the relay existed, and the
	 * home had answered already: both wait in the conns' input */
	conn_write(T.x.c, "b SELECT INBOX\r\n", 16);
	conn_write(T.hB.c, "a OK [CAPABILITY X] Logged in\r\n", 31);
	assert_true(uv_wait_until(&T.loop, inputs_held, NULL, WAIT_MS));
	start_relay();
	conn_write(T.hB.c, "* 1 EXISTS\r\n", 12);
	w.e = &T.hB;
	w.n = 16;
	assert_true(uv_wait_until(&T.loop, has_len, &w, WAIT_MS));
	assert_int_equal(T.hB.in.len, 16);
	assert_memory_equal(T.hB.in.data, "b SELECT INBOX\r\n", 16);
	w.e = &T.x;
	w.n = 31 + 12;
	assert_true(uv_wait_until(&T.loop, has_len, &w, WAIT_MS));
	assert_int_equal(T.x.in.len, 31 + 12);
	assert_memory_equal(T.x.in.data, "a OK [CAPABILITY X] Logged in\r\n* 1 EXISTS\r\n", 43);
	/* and the other way after the start */
	conn_write(T.x.c, "c NOOP\r\n", 8);
	w.e = &T.hB;
	w.n = 24;
	assert_true(uv_wait_until(&T.loop, has_len, &w, WAIT_MS));
	assert_memory_equal(T.hB.in.data + 16, "c NOOP\r\n", 8);
}

static void
test_back_pressure_bounds_the_relay_and_loses_nothing(void **state)
{
	struct {
		struct end *e;
		size_t n;
	} w;
	uint8_t *big = malloc(BIG);

	(void)state;
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i % 251);
	/* small kernel buffers: the queues, not the kernel, hold the bytes
	 * (not below the loopback MSS: a window that never opens by one MSS
	 * stalls TCP in zero-window probes) */
	assert_int_equal(conn_set_sockbuf(T.x.c, 0, 128 * 1024), 0);
	assert_int_equal(conn_set_sockbuf(T.cA.c, 128 * 1024, 0), 0);
	assert_int_equal(conn_set_sockbuf(T.h.c, 0, 128 * 1024), 0);
	assert_int_equal(conn_set_sockbuf(T.hB.c, 128 * 1024, 0), 0);
	conn_pause(T.x.c); /* the client does not read */
	start_relay();
	conn_write(T.hB.c, big, BIG);
	assert_true(uv_wait_until(&T.loop, relay_stalled, NULL, WAIT_MS));
	/* a while later the relay still holds about the bound, not the 8 MiB */
	for (int i = 0; i < 50; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	assert_true(conn_pending_output(T.cA.c) <= PROXY_RELAY_HIGH + CONN_DEFAULT_INPUT_MAX);
	assert_int_equal(T.x.in.len, 0);
	/* the client reads again: every byte, in order */
	conn_resume(T.x.c);
	w.e = &T.x;
	w.n = BIG;
	if (!uv_wait_until(&T.loop, has_len, &w, WAIT_MS))
		fail_msg("x got %zu, cA queue %zu, hB queue %zu", T.x.in.len,
		    T.cA.c ? conn_pending_output(T.cA.c) : 0,
		    T.hB.c ? conn_pending_output(T.hB.c) : 0);
	assert_int_equal(T.x.in.len, BIG);
	assert_memory_equal(T.x.in.data, big, BIG);
	free(big);
}

static void
test_client_close_closes_home(void **state)
{
	(void)state;
	start_relay();
	conn_close(T.x.c);
	assert_true(uv_wait_until(&T.loop, closed4, NULL, WAIT_MS));
	assert_int_equal(T.done, 1);
}

static void
test_home_close_flushes_then_closes_client(void **state)
{
	struct {
		struct end *e;
		size_t n;
	} w = {&T.x, 28};

	(void)state;
	start_relay();
	conn_write(T.hB.c, "* BYE\r\nz OK LOGOUT completed", 28);
	conn_close(T.hB.c);
	assert_true(uv_wait_until(&T.loop, closed4, NULL, WAIT_MS));
	assert_true(has_len(&w));
	assert_memory_equal(T.x.in.data, "* BYE\r\nz OK LOGOUT completed", 28);
	assert_int_equal(T.done, 1);
}

static void
test_home_elsewhere(void **state)
{
	struct proxy *p;
	struct proxy_config pc = {.node_name = "node1"};
	static const struct {
		const char *home;
		bool elsewhere;
	} cases[] = {
	    {NULL, false},
	    {"", false},
	    {"node1", false},
	    {"node2", true},
	    {"node10", true},
	};

	(void)state;
	proxy_new(&T.loop, &pc, &p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(proxy_home_elsewhere(p, cases[i].home), cases[i].elsewhere);
	assert_false(proxy_home_elsewhere(NULL, "node2")); /* no proxy: all local */
	proxy_free(&p);
	assert_null(p);
}

/* --- opening over RPC ------------------------------------------------------ */

static struct {
	struct tls_env env;
	struct directory *dir;
	struct rpc_server *srv;
	struct peer_auth_config sauth, cauth;
	struct proxy *reached, *home;
	bool refuse_busy;
	char seen[256];
	int opened, status;
	struct conn *c;
	struct buf in;
} O;

static void
add_node(const char *name, uint16_t rpc_port)
{
	DT_APPLYF(O.dir, "node_add %s 127.0.0.1 rpc_port=%u state=active", name, rpc_port);
}

static void
add_user(const char *address, const char *home)
{
	DT_APPLYF(O.dir, "user_add %s node=%s", address, home);
}

static void
adopt(struct rpc_stream *st, const struct proxy_request *req, void *arg)
{
	struct conn *c;

	(void)arg;
	snprintf(O.seen, sizeof(O.seen), "%s %s %s %s", req->user, req->client_ip,
	    req->tag ? req->tag : "-", req->peer);
	if (O.refuse_busy) {
		rpc_stream_refuse(st, PROXY_EBUSY, "maildrop already locked");
		return;
	}
	c = rpc_stream_accept(st, NULL, 0);
	conn_set_handler(c, &hold_handler, &T.hB);
	T.hB.c = c;
	conn_write(c, "+OK maildrop has 0 messages\r\n", 29);
}

static void
o_read(struct conn *c, void *arg)
{
	struct buf *in = conn_input(c);

	(void)arg;
	buf_append(&O.in, in->data, in->len);
	buf_consume(in, in->len);
}

static void
o_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
	O.c = NULL;
}

static const struct conn_handler o_handler = {.on_read = o_read, .on_close = o_close};

static void
opened_cb(struct conn *home, int status, const char *error, void *arg)
{
	(void)error;
	(void)arg;
	O.opened++;
	O.status = status;
	if (status == 0) {
		O.c = home;
		conn_set_handler(home, &o_handler, NULL);
	}
}

static bool
o_opened(void *arg)
{
	(void)arg;
	return O.opened > 0;
}

static bool
o_got(void *arg)
{
	return O.in.len >= strlen(arg);
}

static int
o_setup(void **state)
{
	struct rpc_server_config sc;
	struct proxy_config pc;
	struct mn_err err;

	(void)state;
	memset(&T, 0, sizeof(T));
	memset(&O, 0, sizeof(O));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&O.env), 0);
	assert_int_equal(directory_open(":memory:", &O.dir, &err), 0);
	O.sauth = (struct peer_auth_config){.secret = "sekrit", .node_name = "node2"};
	O.cauth = (struct peer_auth_config){
	    .secret = "sekrit", .node_name = "node1", .client_tls = O.env.cli};
	sc = (struct rpc_server_config){
	    .address = "127.0.0.1", .port = 0, .tls = O.env.srv, .auth = &O.sauth};
	assert_int_equal(rpc_server_start(&T.loop, &sc, &O.srv, &err), 0);
	DT_APPLYF(O.dir, "domain_add x.test");
	add_node("node1", 1);
	add_node("node2", rpc_server_port(O.srv));
	add_user("u@x.test", "node2");
	add_user("l@x.test", "node1");
	/* one directory for both ends: it is a replica on every node */
	pc = (struct proxy_config){.node_name = "node1", .dir = O.dir, .auth = &O.cauth};
	proxy_new(&T.loop, &pc, &O.reached);
	pc = (struct proxy_config){.node_name = "node2", .dir = O.dir, .auth = &O.sauth};
	proxy_new(&T.loop, &pc, &O.home);
	proxy_serve(O.home, PROXY_POP3, adopt, NULL);
	proxy_serve(O.home, PROXY_IMAP, adopt, NULL);
	buf_init(&O.in, 0);
	return 0;
}

static int
o_teardown(void **state)
{
	(void)state;
	rpc_server_stop(&O.srv);
	conn_close_all(); /* accepted stream ends: the openers' conns see EOF */
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	proxy_free(&O.reached);
	proxy_free(&O.home);
	directory_close(&O.dir);
	buf_fini(&O.in);
	tls_env_fini(&O.env);
	return 0;
}

static void
test_open_reaches_the_homes_adopt(void **state)
{
	(void)state;
	assert_int_equal(proxy_open(O.reached, PROXY_IMAP, "node2", "u@x.test", "127.0.0.9",
	                     "A0001", opened_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, o_opened, NULL, WAIT_MS));
	assert_int_equal(O.status, 0);
	assert_string_equal(O.seen, "u@x.test 127.0.0.9 A0001 node1");
	assert_true(uv_wait_until(&T.loop, o_got, "+OK maildrop has 0 messages\r\n", WAIT_MS));
	assert_memory_equal(O.in.data, "+OK maildrop has 0 messages\r\n", 29);
	/* POP3 carries no tag */
	O.opened = 0;
	assert_int_equal(proxy_open(O.reached, PROXY_POP3, "node2", "u@x.test", "::1", NULL,
	                     opened_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, o_opened, NULL, WAIT_MS));
	assert_int_equal(O.status, 0);
	assert_string_equal(O.seen, "u@x.test ::1 - node1");
}

static void
test_open_failures(void **state)
{
	static const struct {
		enum proxy_proto proto;
		const char *home, *user, *ip, *tag;
		int sync_rc; /* proxy_open's own result */
		int status;  /* else the callback's */
		bool busy;
	} cases[] = {
	    /* the home knows better: l@ lives on node1 */
	    {PROXY_IMAP, "node2", "l@x.test", "127.0.0.9", "a1", 0, MN_ECONFLICT, false},
	    {PROXY_IMAP, "node2", "nobody@x.test", "127.0.0.9", "a1", 0, MN_ENOENT, false},
	    {PROXY_IMAP, "node3", "u@x.test", "127.0.0.9", "a1", MN_ENOENT, 0, false},
	    /* tags that could inject a line on the home */
	    {PROXY_IMAP, "node2", "u@x.test", "127.0.0.9", "a1 OK", 0, MN_EPARSE, false},
	    {PROXY_IMAP, "node2", "u@x.test", "127.0.0.9", "a\r\n", 0, MN_EPARSE, false},
	    {PROXY_IMAP, "node2", "u@x.test", "127.0.0.9", NULL, 0, MN_EPARSE, false},
	    {PROXY_IMAP, "node2", "u@x.test", "not-an-ip", "a1", 0, MN_EPARSE, false},
	    {PROXY_POP3, "node2", "u@x.test", "127.0.0.9", NULL, 0, PROXY_EBUSY, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		O.opened = 0;
		O.seen[0] = '\0';
		O.refuse_busy = cases[i].busy;
		rc = proxy_open(O.reached, cases[i].proto, cases[i].home, cases[i].user,
		    cases[i].ip, cases[i].tag, opened_cb, NULL, NULL);
		assert_int_equal(rc, cases[i].sync_rc);
		if (rc != 0)
			continue;
		assert_true(uv_wait_until(&T.loop, o_opened, NULL, WAIT_MS));
		assert_int_equal(O.status, cases[i].status);
		/* adopt ran only for the busy case */
		assert_int_equal(O.seen[0] != '\0', cases[i].busy);
	}
}

static void
test_open_cancelled_never_calls_back(void **state)
{
	struct proxy_open *po;

	(void)state;
	assert_int_equal(proxy_open(O.reached, PROXY_IMAP, "node2", "u@x.test", "127.0.0.9", "a1",
	                     opened_cb, NULL, &po),
	    0);
	proxy_open_cancel(po);
	/* a later one completes; the cancelled one stays silent */
	assert_int_equal(proxy_open(O.reached, PROXY_IMAP, "node2", "u@x.test", "127.0.0.9", "a2",
	                     opened_cb, NULL, NULL),
	    0);
	assert_true(uv_wait_until(&T.loop, o_opened, NULL, WAIT_MS));
	assert_int_equal(O.opened, 1);
	assert_int_equal(O.status, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_bytes_both_ways_including_ones_buffered_before, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_back_pressure_bounds_the_relay_and_loses_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_close_closes_home, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_home_close_flushes_then_closes_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_home_elsewhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_reaches_the_homes_adopt, o_setup, o_teardown),
	    cmocka_unit_test_setup_teardown(test_open_failures, o_setup, o_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_open_cancelled_never_calls_back, o_setup, o_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
