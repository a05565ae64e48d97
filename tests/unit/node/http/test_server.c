/*
 * test_server.c - the HTTP server on a real loopback socket.
 *
 * The server runs on a libuv loop in the test thread; a client thread
 * speaks plain blocking sockets and writes a transcript ("200 body|..."),
 * which the test thread compares exactly once the client is done. Waits
 * are loop iterations against a deadline, never sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "lib/conn.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "node/http/http.h"

#define DEADLINE_MS 10000

struct client {
	int fd;
	char buf[1 << 16];
	size_t len;
};

struct ctx {
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	struct http_server *srv;
	uint16_t port;
	pthread_t thread;
	void (*client_fn)(struct ctx *);
	atomic_bool done;
	char transcript[8192];
	char first_headers[2048];
	struct http_exchange *held; /* exchange kept by /hold */
	int handled;
	atomic_bool sent;
};

/* --- client side (own thread, no cmocka asserts here) ---------------------- */

static void
note(struct ctx *t, const char *fmt, ...)
{
	size_t n = strlen(t->transcript);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->transcript + n, sizeof(t->transcript) - n, fmt, ap);
	va_end(ap);
}

static bool
client_open(struct client *cl, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 5};

	cl->len = 0;
	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static void
client_send(struct client *cl, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void
client_send_str(struct client *cl, const char *s)
{
	client_send(cl, s, strlen(s));
}

static bool
client_fill(struct client *cl)
{
	ssize_t n;

	if (cl->len == sizeof(cl->buf))
		return false;
	n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, 0);
	if (n <= 0)
		return false;
	cl->len += (size_t)n;
	return true;
}

/* Read one response; append "STATUS BODY|" to the transcript (or "EOF|").
 * The first response's header block is kept for header checks. */
static void
client_response(struct ctx *t, struct client *cl)
{
	char *end, *cl_hdr;
	size_t hlen, blen = 0;
	int status = 0;

	while ((end = memmem(cl->buf, cl->len, "\r\n\r\n", 4)) == NULL) {
		if (!client_fill(cl)) {
			note(t, "EOF|");
			return;
		}
	}
	hlen = (size_t)(end - cl->buf) + 4;
	cl->buf[hlen - 1] = '\0'; /* for the header searches; consumed below */
	/* NOLINTNEXTLINE(cert-err34-c): status stays 0 on a bad line; tests assert it */
	sscanf(cl->buf, "HTTP/1.1 %d", &status);
	cl_hdr = strcasestr(cl->buf, "\r\nContent-Length: ");
	if (cl_hdr)
		blen = strtoul(cl_hdr + 18, NULL, 10);
	if (t->first_headers[0] == '\0') {
		size_t n = hlen < sizeof(t->first_headers) ? hlen : sizeof(t->first_headers) - 1;

		memcpy(t->first_headers, cl->buf, n);
		t->first_headers[n] = '\0';
	}
	while (cl->len < hlen + blen) {
		if (!client_fill(cl)) {
			note(t, "SHORT|");
			return;
		}
	}
	note(t, "%d %.*s|", status, (int)blen, cl->buf + hlen);
	memmove(cl->buf, cl->buf + hlen + blen, cl->len - hlen - blen);
	cl->len -= hlen + blen;
}

static void
client_expect_eof(struct ctx *t, struct client *cl)
{
	if (cl->len == 0 && !client_fill(cl))
		note(t, "EOF|");
	else
		note(t, "DATA|");
}

/* Connect, or note NOCONN in the transcript (which the test then fails on)
 * and let the caller give up. */
static bool
client_connect(struct ctx *t, struct client *cl)
{
	if (client_open(cl, t->port))
		return true;
	note(t, "NOCONN|");
	return false;
}

/* One request on a fresh connection that the server answers and closes;
 * false (NOCONN noted) when there was no connection. */
static bool
client_once(struct ctx *t, const char *req)
{
	struct client cl;

	if (!client_connect(t, &cl))
		return false;
	client_send_str(&cl, req);
	client_response(t, &cl);
	client_expect_eof(t, &cl);
	close(cl.fd);
	return true;
}

static void *
client_main(void *arg)
{
	struct ctx *t = arg;

	t->client_fn(t);
	atomic_store(&t->done, true);
	uv_async_send(&t->wake);
	return NULL;
}

/* --- server side ------------------------------------------------------------ */

struct later {
	uv_timer_t timer;
	struct http_exchange *x;
};

static void
later_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
later_fire(uv_timer_t *tm)
{
	struct later *l = tm->data;

	http_reply(l->x, 200, "text/plain", "async", 5);
	uv_close((uv_handle_t *)&l->timer, later_closed);
}

static void
handler(struct http_exchange *x, const struct http_request *req, void *arg)
{
	struct ctx *t = arg;

	t->handled++;
	if (slice_eq(req->path, SLICE_LIT("/async"))) {
		struct later *l = xcalloc(1, sizeof(*l));

		l->x = x;
		uv_timer_init(&t->loop, &l->timer);
		l->timer.data = l;
		uv_timer_start(&l->timer, later_fire, 20, 0);
	} else if (slice_eq(req->path, SLICE_LIT("/hold"))) {
		t->held = x;
	} else if (slice_eq(req->path, SLICE_LIT("/json"))) {
		http_add_header(x, "X-Test", "yes");
		http_add_header(x, "X-Bad", "a\r\nInjected: 1");
		http_reply_json(x, 201, json_pack("{s:i}", "n", 1));
	} else if (slice_eq(req->path, SLICE_LIT("/tls"))) {
		const char *b = http_exchange_is_tls(x) ? "tls" : "plain";

		http_reply(x, 200, "text/plain", b, strlen(b));
	} else if (slice_eq(req->path, SLICE_LIT("/error"))) {
		http_reply_error(x, 409, "exists: %s", "a.test");
	} else {
		char *body = xasprintf("%.*s %.*s %.*s", (int)req->method.len, req->method.ptr,
		    (int)req->path.len, req->path.ptr, (int)req->body_len, (const char *)req->body);

		http_reply(x, 200, "text/plain", body, strlen(body));
		free(body);
	}
}

static void
on_wake(uv_async_t *a)
{
}

static void
on_tick(uv_timer_t *tm)
{
}

static void
start_full(struct ctx *t, size_t max_body, uint32_t idle_ms, struct tls_ctx *tls)
{
	struct http_server_config cfg = {0};
	struct mn_err err = {0};
	int rc;

	memset(t, 0, sizeof(*t));
	uv_loop_init(&t->loop);
	uv_async_init(&t->loop, &t->wake, on_wake);
	uv_timer_init(&t->loop, &t->tick);
	uv_timer_start(&t->tick, on_tick, 20, 20);
	cfg.listen.service = "http";
	cfg.listen.address = "127.0.0.1";
	cfg.listen.idle_timeout_ms = idle_ms;
	cfg.listen.tls = tls;
	cfg.max_body = max_body;
	cfg.listen.port = 0;
	rc = http_server_start(&t->loop, &cfg, handler, t, &t->srv, &err);
	assert_int_equal(rc, 0);
	t->port = http_server_port(t->srv);
	assert_true(t->port != 0);
}

static void
start_idle(struct ctx *t, size_t max_body, uint32_t idle_ms)
{
	start_full(t, max_body, idle_ms, NULL);
}

static void
start(struct ctx *t, size_t max_body)
{
	start_idle(t, max_body, 5000);
}

/* Run the loop until cond(t) or the deadline. */
static bool
run_until(struct ctx *t, bool (*cond)(struct ctx *))
{
	uint64_t end;

	uv_update_time(&t->loop);
	end = uv_now(&t->loop) + DEADLINE_MS;
	while (!cond(t)) {
		if (uv_now(&t->loop) > end)
			return false;
		uv_run(&t->loop, UV_RUN_ONCE);
	}
	return true;
}

static bool
client_done(struct ctx *t)
{
	return atomic_load(&t->done);
}

static bool
no_conns(struct ctx *t)
{
	return conn_count() == 0;
}

static void
run_client(struct ctx *t, void (*fn)(struct ctx *))
{
	t->client_fn = fn;
	assert_int_equal(pthread_create(&t->thread, NULL, client_main, t), 0);
	assert_true(run_until(t, client_done));
	pthread_join(t->thread, NULL);
}

static void
stop(struct ctx *t)
{
	http_server_stop(&t->srv);
	assert_null(t->srv);
	assert_true(run_until(t, no_conns));
	uv_close((uv_handle_t *)&t->wake, NULL);
	uv_close((uv_handle_t *)&t->tick, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	/* every handle (listener, conns, timers) is closed */
	assert_int_equal(uv_loop_close(&t->loop), 0);
}

/* --- tests ------------------------------------------------------------------ */

static void
client_keepalive(struct ctx *t)
{
	struct client cl;

	if (!client_connect(t, &cl))
		return;
	client_send_str(&cl, "GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
	client_response(t, &cl);
	/* second request in two pieces, on the same connection */
	client_send_str(&cl, "POST /two HTTP/1.1\r\nHost: h\r\nContent-");
	client_send_str(&cl, "Length: 3\r\n\r\nabc");
	client_response(t, &cl);
	/* the body is sent only after "100 Continue" */
	client_send_str(&cl, "PUT /three HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
	                     "Content-Length: 2\r\n\r\n");
	client_response(t, &cl);
	client_send_str(&cl, "ok");
	client_response(t, &cl);
	client_send_str(&cl, "GET /json HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	client_response(t, &cl);
	client_expect_eof(t, &cl);
	close(cl.fd);
}

static void
test_keepalive_two_requests(void **state)
{
	struct ctx t;

	start(&t, 0);
	run_client(&t, client_keepalive);
	assert_string_equal(t.transcript, "200 GET /one |200 POST /two abc|100 |200 PUT /three ok|"
	                                  "201 {\"n\":1}\n|EOF|");
	assert_non_null(strstr(t.first_headers, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nDate: "));
	assert_non_null(strstr(t.first_headers, " GMT\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nContent-Length: 9\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nX-Content-Type-Options: nosniff\r\n"));
	assert_null(strstr(t.first_headers, "Connection:"));
	assert_null(strstr(t.first_headers, "Cache-Control"));
	assert_int_equal(t.handled, 4);
	stop(&t);
}

static void
client_json_headers(struct ctx *t)
{
	struct client cl;

	if (!client_connect(t, &cl))
		return;
	client_send_str(&cl, "GET /json HTTP/1.1\r\nHost: h\r\n\r\n"
	                     "GET /error HTTP/1.1\r\nHost: h\r\n\r\n"
	                     "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n");
	client_response(t, &cl);
	client_response(t, &cl);
	/* HEAD: Content-Length of the GET body but no body; the next response
	 * must start right after the header block. */
	client_send_str(&cl, "GET /after HTTP/1.0\r\n\r\n");
	{
		char *end;
		size_t h;

		while ((end = memmem(cl.buf, cl.len, "\r\n\r\n", 4)) == NULL && client_fill(&cl))
			;
		h = end ? (size_t)(end - cl.buf) + 4 : 0;
		if (end == NULL || memmem(cl.buf, h, "\r\nContent-Length: 8\r\n", 21) == NULL) {
			note(t, "BADHEAD|");
		} else {
			memmove(cl.buf, cl.buf + h, cl.len - h);
			cl.len -= h;
			note(t, "HEAD|");
		}
	}
	client_response(t, &cl);
	client_expect_eof(t, &cl);
	close(cl.fd);
}

static void
test_json_and_headers(void **state)
{
	struct ctx t;

	start(&t, 0);
	run_client(&t, client_json_headers);
	assert_string_equal(t.transcript,
	    "201 {\"n\":1}\n|409 {\"error\":\"exists: a.test\"}\n|HEAD|200 GET /after |EOF|");
	assert_non_null(strstr(t.first_headers, "HTTP/1.1 201 Created\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nCache-Control: no-store\r\n"));
	assert_non_null(strstr(t.first_headers, "\r\nX-Test: yes\r\n"));
	assert_null(strstr(t.first_headers, "Injected"));
	stop(&t);
}

static void
client_pipelined(struct ctx *t)
{
	struct client cl;
	char req[64];
	struct buf all;

	if (!client_connect(t, &cl))
		return;
	/* async first: its reply comes from a timer, after /b is parsed */
	client_send_str(&cl, "GET /async HTTP/1.1\r\nHost: h\r\n\r\n"
	                     "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
	                     "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	                     "3\r\nxyz\r\n0\r\n\r\n"
	                     "GET /async HTTP/1.1\r\nHost: h\r\n\r\n");
	for (int i = 0; i < 4; i++)
		client_response(t, &cl);
	/* many small synchronous requests in one write */
	buf_init(&all, 0);
	for (int i = 0; i < 50; i++) {
		snprintf(req, sizeof(req), "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
		buf_append_str(&all, req);
	}
	client_send(&cl, all.data, all.len);
	buf_fini(&all);
	for (int i = 0; i < 50; i++)
		client_response(t, &cl);
	close(cl.fd);
}

static void
test_pipelined_in_order(void **state)
{
	struct ctx t;
	struct buf want;

	start(&t, 0);
	run_client(&t, client_pipelined);
	buf_init(&want, 0);
	buf_append_str(&want, "200 async|200 GET /b |200 POST /c xyz|200 async|");
	for (int i = 0; i < 50; i++)
		buf_printf(&want, "200 GET /%d |", i);
	assert_string_equal(t.transcript, buf_cstr(&want));
	buf_fini(&want);
	stop(&t);
}

static void
client_too_big(struct ctx *t)
{
	struct client cl;

	if (!client_once(t, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"))
		return;

	/* exactly the limit is fine */
	if (!client_connect(t, &cl))
		return;
	client_send_str(&cl, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n");
	for (int i = 0; i < 10; i++)
		client_send_str(&cl, "0123456789");
	client_response(t, &cl);
	/* chunked over the limit */
	client_send_str(&cl, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	                     "64\r\n");
	for (int i = 0; i < 10; i++)
		client_send_str(&cl, "0123456789");
	client_send_str(&cl, "\r\n1\r\n");
	client_response(t, &cl);
	client_expect_eof(t, &cl);
	close(cl.fd);

	/* parse errors: no Host on 1.1; HTTP/2 */
	if (!client_once(t, "GET / HTTP/1.1\r\n\r\n"))
		return;
	client_once(t, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

static void
test_413_and_errors_close(void **state)
{
	struct ctx t;
	char want[512];

	start(&t, 100);
	run_client(&t, client_too_big);
	snprintf(want, sizeof(want),
	    "413 {\"error\":\"Content Too Large\"}\n|EOF|"
	    "200 POST /x %s|"
	    "413 {\"error\":\"Content Too Large\"}\n|EOF|"
	    "400 {\"error\":\"Bad Request\"}\n|EOF|"
	    "505 {\"error\":\"HTTP Version Not Supported\"}\n|EOF|",
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789");
	assert_string_equal(t.transcript, want);
	assert_non_null(strstr(t.first_headers, "\r\nConnection: close\r\n"));
	assert_int_equal(t.handled, 1);
	stop(&t);
}

static void
client_disconnects(struct ctx *t)
{
	struct client cl;

	if (!client_connect(t, &cl))
		return;
	client_send_str(&cl, "GET /hold HTTP/1.1\r\nHost: h\r\n\r\nGET /queued HTTP/1.1\r\n");
	close(cl.fd);
	note(t, "closed|");
}

static bool
held_and_closed(struct ctx *t)
{
	return t->held != NULL && conn_count() == 0;
}

static void
test_client_gone_before_async_reply(void **state)
{
	struct ctx t;

	start(&t, 0);
	run_client(&t, client_disconnects);
	assert_string_equal(t.transcript, "closed|");
	/* the server sees the close while the handler still holds the exchange */
	assert_true(run_until(&t, held_and_closed));
	assert_int_equal(t.handled, 1);
	assert_string_equal(http_exchange_peer_ip(t.held), "127.0.0.1");
	assert_true(http_exchange_is_loopback(t.held));
	assert_false(http_exchange_is_tls(t.held));
	/* the late reply is dropped and frees the orphan (ASan checks leaks) */
	http_reply(t.held, 200, "text/plain", "late", 4);
	stop(&t);
}

static void
client_held_at_stop(struct ctx *t)
{
	struct client cl;

	if (!client_connect(t, &cl))
		return;
	client_send_str(&cl, "GET /hold HTTP/1.1\r\nHost: h\r\n\r\n");
	client_expect_eof(t, &cl);
	close(cl.fd);
}

static bool
held(struct ctx *t)
{
	return t->held != NULL;
}

/* Stopping the server closes its connections; an exchange still held by a
 * handler is orphaned and its reply later only frees it. */
static void
test_stop_with_exchange_in_flight(void **state)
{
	struct ctx t;

	start(&t, 0);
	t.client_fn = client_held_at_stop;
	assert_int_equal(pthread_create(&t.thread, NULL, client_main, &t), 0);
	assert_true(run_until(&t, held));
	http_server_stop(&t.srv);
	assert_true(run_until(&t, client_done));
	pthread_join(t.thread, NULL);
	assert_string_equal(t.transcript, "EOF|");
	assert_true(run_until(&t, no_conns));
	http_reply(t.held, 200, "text/plain", "late", 4);
	stop(&t);
}

static void
client_idle(struct ctx *t)
{
	/* idle between requests: closed without a word */
	if (!client_once(t, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"))
		return;
	/* stalled inside a request: 408 (RFC 9110 §15.5.9), then closed */
	client_once(t, "GET /b HTTP/1.1\r\nHo");
}

static void
test_idle_timeout(void **state)
{
	struct ctx t;

	start_idle(&t, 0, 300);
	run_client(&t, client_idle);
	assert_string_equal(
	    t.transcript, "200 GET /a |EOF|408 {\"error\":\"Request Timeout\"}\n|EOF|");
	stop(&t);
}

static void
client_floods_while_held(struct ctx *t)
{
	struct client cl;
	struct buf all;
	int bad = 0;

	if (!client_connect(t, &cl))
		return;
	/* more pipelined input than the server's input buffer holds */
	buf_init(&all, 0);
	buf_append_str(&all, "GET /hold HTTP/1.1\r\nHost: h\r\n\r\n");
	for (int i = 0; i < 4000; i++)
		buf_printf(&all, "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
	client_send(&cl, all.data, all.len);
	buf_fini(&all);
	atomic_store(&t->sent, true);
	client_response(t, &cl);
	for (int i = 0; i < 4000; i++) {
		char want[64];
		size_t n = strlen(t->transcript);

		client_response(t, &cl);
		snprintf(want, sizeof(want), "200 GET /%d |", i);
		if (strcmp(t->transcript + n, want) != 0)
			bad++;
		t->transcript[n] = '\0';
	}
	note(t, "bad=%d|", bad);
	close(cl.fd);
}

static bool
held_and_sent(struct ctx *t)
{
	return t->held != NULL && atomic_load(&t->sent);
}

/* While an exchange is in flight, pipelined input fills the input buffer
 * and reading pauses; after the reply everything is answered in order. */
static void
test_pipelined_flood_while_held(void **state)
{
	struct ctx t;

	start(&t, 100);
	t.client_fn = client_floods_while_held;
	assert_int_equal(pthread_create(&t.thread, NULL, client_main, &t), 0);
	assert_true(run_until(&t, held_and_sent));
	http_reply(t.held, 200, "text/plain", "held", 4);
	assert_true(run_until(&t, client_done));
	pthread_join(t.thread, NULL);
	assert_string_equal(t.transcript, "200 held|bad=0|");
	assert_int_equal(t.handled, 4001);
	stop(&t);
}

static void
client_tls(struct ctx *t)
{
	struct client cl;
	SSL_CTX *sctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int n;

	if (!client_open(&cl, t->port)) {
		note(t, "NOCONN|");
		SSL_CTX_free(sctx);
		return;
	}
	ssl = SSL_new(sctx);
	SSL_set_fd(ssl, cl.fd);
	if (SSL_connect(ssl) != 1) {
		note(t, "HANDSHAKE|");
	} else {
		const char *req = "GET /tls HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

		SSL_write(ssl, req, (int)strlen(req));
		while ((n = SSL_read(ssl, cl.buf + cl.len, (int)(sizeof(cl.buf) - cl.len - 1))) > 0)
			cl.len += (size_t)n;
		cl.buf[cl.len] = '\0';
		note(t, "%s|", strncmp(cl.buf, "HTTP/1.1 200 OK\r\n", 17) == 0 ? "200" : "BAD");
		note(t, "%s|", cl.len > 3 ? cl.buf + cl.len - 3 : "");
	}
	SSL_free(ssl);
	SSL_CTX_free(sctx);
	close(cl.fd);
}

static void
test_https(void **state)
{
	char dir[] = "/tmp/mn-http-XXXXXX";
	char *cert = NULL, *key = NULL;
	struct tls_ctx *tls = NULL;
	struct mn_err err = {0};
	struct ctx t;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(tls_ensure_self_signed(dir, "localhost", &cert, &key, &err), 0);
	assert_int_equal(tls_server_ctx_new(cert, key, &tls, &err), 0);
	start_full(&t, 0, 5000, tls);
	run_client(&t, client_tls);
	assert_string_equal(t.transcript, "200|tls|");
	stop(&t);
	tls_ctx_free(&tls);
	assert_int_equal(unlink(cert), 0);
	assert_int_equal(unlink(key), 0);
	assert_int_equal(rmdir(dir), 0);
	free(cert);
	free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keepalive_two_requests),
	    cmocka_unit_test(test_json_and_headers),
	    cmocka_unit_test(test_pipelined_in_order),
	    cmocka_unit_test(test_413_and_errors_close),
	    cmocka_unit_test(test_client_gone_before_async_reply),
	    cmocka_unit_test(test_stop_with_exchange_in_flight),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_pipelined_flood_while_held),
	    cmocka_unit_test(test_https),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
