/*
 * test_parser.c - HTTP/1.1 request parser (RFC 9112) and request helpers.
 *
 * Every table case is parsed three ways: whole; one byte at a time through
 * the stateless http_parse (MORE until the last byte); and one byte at a
 * time through one resumable http_parser whose input is copied to a fresh
 * allocation before each call (so a parser that kept pointers instead of
 * offsets is caught by ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/http/http.h"

struct pcase {
	const char *in;
	size_t len; /* 0: strlen(in) */
	int rc;     /* HTTP_PARSE_DONE or HTTP_PARSE_ERROR */
	int status; /* when ERROR */
	const char *method, *path, *query, *body;
	int minor;
	bool keep_alive;
	size_t nheaders;
};

#define H11 "Host: a.test\r\n"
#define OK(in, m, p, q, b, minor, ka, nh)                                                          \
	{                                                                                          \
		in, 0, HTTP_PARSE_DONE, 0, m, p, q, b, minor, ka, nh                               \
	}
#define BAD(in, st)                                                                                \
	{                                                                                          \
		in, 0, HTTP_PARSE_ERROR, st, NULL, NULL, NULL, NULL, 0, false, 0                   \
	}

/* clang-format off */
static const struct pcase cases[] = {
	OK("GET / HTTP/1.1\r\n" H11 "\r\n", "GET", "/", "", "", 1, true, 1),
	OK("GET /p/a%20b?x=1&y=2 HTTP/1.1\r\n" H11 "Connection: close\r\n\r\n", "GET",
	    "/p/a%20b", "x=1&y=2", "", 1, false, 2),
	OK("GET /x? HTTP/1.1\r\n" H11 "\r\n", "GET", "/x", "", "", 1, true, 1),
	OK("GET / HTTP/1.0\r\n\r\n", "GET", "/", "", "", 0, false, 0),
	OK("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", "", "", 0, true, 1),
	OK("GET / HTTP/1.1\r\n" H11 "Connection: keep-alive, close\r\n\r\n", "GET", "/", "", "",
	    1, false, 2),
	OK("GET / HTTP/1.2\r\n" H11 "\r\n", "GET", "/", "", "", 2, true, 1),
	OK("POST /api/v1/users HTTP/1.1\r\n" H11 "Content-Length: 5\r\n\r\nhello", "POST",
	    "/api/v1/users", "", "hello", 1, true, 2),
	OK("POST / HTTP/1.1\r\n" H11 "Content-Length: 0\r\n\r\n", "POST", "/", "", "", 1, true, 2),
	OK("POST / HTTP/1.1\r\n" H11 "Content-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc",
	    "POST", "/", "", "abc", 1, true, 3),
	OK("POST /c HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n"
	   "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
	    "POST", "/c", "", "hello world", 1, true, 2),
	OK("POST /c HTTP/1.1\n" H11 "Transfer-Encoding:  Chunked \n\n"
	   "A \n0123456789\n0\n\n", "POST", "/c", "", "0123456789", 1, true, 2),
	OK("POST /c HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "POST",
	    "/c", "", "", 1, true, 2),
	OK("GET / HTTP/1.1\nHost: a\n\n", "GET", "/", "", "", 1, true, 1),
	OK("\r\n\nGET / HTTP/1.1\r\n" H11 "\r\n", "GET", "/", "", "", 1, true, 1),
	OK("GET http://a.test/x?y=1 HTTP/1.1\r\n" H11 "\r\n", "GET", "/x", "y=1", "", 1, true, 1),
	OK("GET HTTPS://a.test HTTP/1.1\r\n" H11 "\r\n", "GET", "/", "", "", 1, true, 1),
	OK("OPTIONS * HTTP/1.1\r\n" H11 "\r\n", "OPTIONS", "*", "", "", 1, true, 1),
	OK("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\t \r\n\r\n", "GET", "/",
	    "", "", 1, true, 3),

	BAD("GET / HTTP/1.1\r\n\r\n", 400),                        /* no Host on 1.1 */
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400), /* obs-fold */
	BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n" H11 ": v\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n" H11 "NoColon\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n" H11 "X: a\x01" "b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n" H11 "X: a\x7f\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n" H11 "X: a\rb\r\n\r\n", 400),     /* bare CR */
	BAD("GET /\r HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("GET / HTTP/1.1\r\r\n" H11 "\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: 5, 6\r\n\r\nhello", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: 5a\r\n\r\nhello", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: -1\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: +5\r\n\r\nhello", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length:\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: 99999999999999999999999\r\n\r\n", 413),
	BAD("POST / HTTP/1.1\r\n" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: gzip\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding:\r\n\r\n", 400),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n;x\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\rX", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n5 x\r\n", 400),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n"
	    "ffffffffffffffffffffff\r\n", 413),
	BAD("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\n bad\r\n\r\n", 400),
	BAD("GET / HTTP/2.0\r\n" H11 "\r\n", 505),
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
	BAD("GET / HTTP/3\r\n" H11 "\r\n", 505),
	BAD("GET / HTTP/0.9\r\n\r\n", 505),
	BAD("GET / HTTP/1\r\n" H11 "\r\n", 400),
	BAD("GET / http/1.1\r\n" H11 "\r\n", 400),
	BAD("GET / HTTP/1.1 \r\n" H11 "\r\n", 400),
	BAD("GET  / HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("GET /\r\n", 400),
	BAD("GET foo HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("GET * HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("GET /a#frag HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("G(T / HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("GET /\x80 HTTP/1.1\r\n" H11 "\r\n", 400),
	BAD("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" H11 "\r\n", 400),
	/* NUL in a field value and in the request line (explicit lengths). */
	{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 36, HTTP_PARSE_ERROR, 400,
	  NULL, NULL, NULL, NULL, 0, false, 0 },
	{ "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 28, HTTP_PARSE_ERROR, 400,
	  NULL, NULL, NULL, NULL, 0, false, 0 },
};
/* clang-format on */

static const struct http_parser_limits test_limits = {
    .max_request_line = 20,
    .max_header_bytes = 40,
    .max_headers = 3,
    .max_body = 10,
};

static void
check_done(const struct pcase *c, const struct http_request *req, size_t consumed, size_t n)
{
	assert_int_equal(consumed, n);
	assert_int_equal(req->method.len, strlen(c->method));
	assert_memory_equal(req->method.ptr, c->method, req->method.len);
	assert_int_equal(req->path.len, strlen(c->path));
	assert_memory_equal(req->path.ptr, c->path, req->path.len);
	assert_int_equal(req->query.len, strlen(c->query));
	if (req->query.len)
		assert_memory_equal(req->query.ptr, c->query, req->query.len);
	assert_non_null(req->body);
	assert_int_equal(req->body_len, strlen(c->body));
	if (req->body_len)
		assert_memory_equal(req->body, c->body, req->body_len);
	assert_int_equal(req->version_minor, c->minor);
	assert_int_equal(req->keep_alive, c->keep_alive);
	assert_int_equal(req->nheaders, c->nheaders);
}

/* Feed one case whole, byte by byte (stateless), byte by byte (resumable). */
static void
run_case(const struct pcase *c, const struct http_parser_limits *limits)
{
	const uint8_t *in = (const uint8_t *)c->in;
	size_t n = c->len ? c->len : strlen(c->in);
	struct http_request req;
	struct http_parser p;
	struct buf scratch;
	size_t consumed = 0;
	int status = 0, rc;
	bool errored = false;

	buf_init(&scratch, 1 << 20);
	{
		char esc[200];

		print_message("case: %s\n", log_escape(esc, sizeof(esc), in, n));
	}

	rc = http_parse(in, n, limits, &req, &scratch, &consumed, &status);
	assert_int_equal(rc, c->rc);
	if (rc == HTTP_PARSE_DONE)
		check_done(c, &req, consumed, n);
	else
		assert_int_equal(status, c->status);

	/* Stateless, growing prefixes. */
	for (size_t k = 0; k <= n; k++) {
		status = 0;
		rc = http_parse(in, k, limits, &req, &scratch, &consumed, &status);
		if (c->rc == HTTP_PARSE_DONE) {
			assert_int_equal(rc, k == n ? HTTP_PARSE_DONE : HTTP_PARSE_MORE);
		} else if (rc == HTTP_PARSE_ERROR) {
			assert_int_equal(status, c->status);
			errored = true;
		} else {
			/* once an error is seen, a longer prefix cannot hide it */
			assert_false(errored);
			assert_true(k < n);
			assert_int_equal(rc, HTTP_PARSE_MORE);
		}
	}
	if (rc == HTTP_PARSE_DONE)
		check_done(c, &req, consumed, n);

	/* Resumable, one byte more per call, data moved every time. */
	http_parser_init(&p, limits);
	buf_reset(&scratch);
	for (size_t k = 0; k <= n; k++) {
		uint8_t *copy = xmemdup(in, k ? k : 1);

		status = 0;
		rc = http_parser_feed(&p, copy, k, &req, &scratch, &consumed, &status);
		if (rc == HTTP_PARSE_DONE) {
			assert_int_equal(c->rc, HTTP_PARSE_DONE);
			assert_int_equal(k, n);
			check_done(c, &req, consumed, n);
		} else if (rc == HTTP_PARSE_ERROR) {
			assert_int_equal(c->rc, HTTP_PARSE_ERROR);
			assert_int_equal(status, c->status);
			free(copy);
			break;
		} else {
			assert_true(k < n);
		}
		free(copy);
	}
	buf_fini(&scratch);
}

static void
test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], NULL);
}

static char *
repeat(char ch, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* Limits at max-1, max and max+1, with test_limits. */
static void
test_limits_edges(void **state)
{
	for (int d = -1; d <= 1; d++) {
		/* request line "GET /aaa HTTP/1.1" is 14 + path bytes */
		/* NOLINTNEXTLINE(bugprone-misplaced-widening-cast): small, >= 0 */
		char *path = repeat('a', (size_t)(20 - 14 + d));
		char *in = xasprintf("GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path);
		struct pcase c = {in, 0, d <= 0 ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR, 414, "GET",
		    NULL, "", "", 1, true, 1};
		char *want = xasprintf("/%s", path);

		c.path = want;
		run_case(&c, &test_limits);
		free(in);
		free(want);
		free(path);

		/* header section "Host: h\r\n" "X: v\r\n" "\r\n" is 16 + v bytes */
		/* NOLINTNEXTLINE(bugprone-misplaced-widening-cast): small, >= 0 */
		char *v = repeat('v', (size_t)(40 - 16 + d));
		in = xasprintf("GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", v);
		c = (struct pcase){in, 0, d <= 0 ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR, 431, "GET",
		    "/", "", "", 1, true, 2};
		run_case(&c, &test_limits);
		free(in);
		free(v);

		/* field count: Host + 2 + d */
		in = xasprintf(
		    "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n%s\r\n", d == -1  ? ""
		                                                   : d == 0 ? "B: 2\r\n"
		                                                            : "B: 2\r\nC: 3\r\n");
		c = (struct pcase){in, 0, d <= 0 ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR, 431, "GET",
		    "/", "", "", 1, true, (size_t)(3 + d)};
		run_case(&c, &test_limits);
		free(in);

		/* Content-Length body of 10 + d bytes */
		/* NOLINTNEXTLINE(bugprone-misplaced-widening-cast): small, >= 0 */
		char *body = repeat('b', (size_t)(10 + d));
		in = xasprintf(
		    "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", 10 + d, body);
		c = (struct pcase){in, 0, d <= 0 ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR, 413, "PUT",
		    "/", "", body, 1, true, 2};
		run_case(&c, &test_limits);
		free(in);

		/* chunked body of 10 + d bytes in two chunks */
		in = xasprintf("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		               "5\r\n%.5s\r\n%x\r\n%s\r\n0\r\n\r\n",
		    body, 5 + d, body + 5);
		c = (struct pcase){in, 0, d <= 0 ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR, 413, "PUT",
		    "/", "", body, 1, true, 2};
		/* the chunked head alone exceeds 40 header bytes: widen that one */
		struct http_parser_limits wide = test_limits;
		wide.max_header_bytes = 100;
		wide.max_request_line = 100;
		run_case(&c, &wide);
		free(in);
		free(body);
	}
}

/* Two requests in one buffer: consumed_out ends exactly at the first. */
static void
test_pipelined(void **state)
{
	const char *in = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nGET "
	                 "GET /b?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	                 "2\r\nhi\r\n0\r\n\r\n"
	                 "GET /c";
	size_t n = strlen(in), consumed = 0, off;
	struct http_request req;
	struct buf scratch;
	int status = 0;

	buf_init(&scratch, 1024);
	assert_int_equal(
	    http_parse((const uint8_t *)in, n, NULL, &req, &scratch, &consumed, &status),
	    HTTP_PARSE_DONE);
	assert_int_equal(consumed, strlen("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4"
	                                  "\r\n\r\nGET "));
	assert_int_equal(req.body_len, 4);
	assert_memory_equal(req.body, "GET ", 4);
	off = consumed;
	assert_int_equal(http_parse((const uint8_t *)in + off, n - off, NULL, &req, &scratch,
	                     &consumed, &status),
	    HTTP_PARSE_DONE);
	assert_true(slice_eq(req.path, SLICE_LIT("/b")));
	assert_true(slice_eq(req.query, SLICE_LIT("q")));
	assert_int_equal(req.body_len, 2);
	assert_memory_equal(req.body, "hi", 2);
	off += consumed;
	assert_string_equal(in + off, "GET /c");
	assert_int_equal(http_parse((const uint8_t *)in + off, n - off, NULL, &req, &scratch,
	                     &consumed, &status),
	    HTTP_PARSE_MORE);
	buf_fini(&scratch);
}

/* A scratch buffer with a smaller max than the body limit gives 413. */
static void
test_scratch_limit(void **state)
{
	const char *in = "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	                 "8\r\n12345678\r\n0\r\n\r\n";
	struct http_request req;
	struct buf scratch;
	size_t consumed;
	int status = 0;

	buf_init(&scratch, 4);
	assert_int_equal(
	    http_parse((const uint8_t *)in, strlen(in), NULL, &req, &scratch, &consumed, &status),
	    HTTP_PARSE_ERROR);
	assert_int_equal(status, 413);
	buf_fini(&scratch);
}

/* Defaults: a 8193-byte request line is 414, 8192 is fine. */
static void
test_default_request_line_limit(void **state)
{
	for (int d = 0; d <= 1; d++) {
		size_t plen = HTTP_MAX_REQUEST_LINE - 14 + (size_t)d;
		char *path = repeat('p', plen);
		char *in = xasprintf("GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path);
		struct http_request req;
		struct buf scratch;
		size_t consumed;
		int status = 0, rc;

		buf_init(&scratch, 16);
		rc = http_parse(
		    (const uint8_t *)in, strlen(in), NULL, &req, &scratch, &consumed, &status);
		assert_int_equal(rc, d ? HTTP_PARSE_ERROR : HTTP_PARSE_DONE);
		if (d)
			assert_int_equal(status, 414);
		/* without the line end yet: known too long already */
		rc = http_parse(
		    (const uint8_t *)in, 5 + plen + 10, NULL, &req, &scratch, &consumed, &status);
		assert_int_equal(rc, d ? HTTP_PARSE_ERROR : HTTP_PARSE_MORE);
		buf_fini(&scratch);
		free(in);
		free(path);
	}
}

static void
test_expects_continue(void **state)
{
	const char *in = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
	                 "Content-Length: 3\r\n\r\nabc";
	const char *in10 = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
	size_t n = strlen(in), consumed;
	struct http_request req;
	struct http_parser p;
	struct buf scratch;
	int status;

	buf_init(&scratch, 16);
	http_parser_init(&p, NULL);
	assert_int_equal(
	    http_parser_feed(&p, (const uint8_t *)in, n - 5, &req, &scratch, &consumed, &status),
	    HTTP_PARSE_MORE);
	assert_false(http_parser_expects_continue(&p, (const uint8_t *)in));
	assert_int_equal(
	    http_parser_feed(&p, (const uint8_t *)in, n - 3, &req, &scratch, &consumed, &status),
	    HTTP_PARSE_MORE);
	assert_true(http_parser_expects_continue(&p, (const uint8_t *)in));
	assert_int_equal(
	    http_parser_feed(&p, (const uint8_t *)in, n, &req, &scratch, &consumed, &status),
	    HTTP_PARSE_DONE);
	assert_false(http_parser_expects_continue(&p, (const uint8_t *)in));

	http_parser_init(&p, NULL);
	assert_int_equal(http_parser_feed(&p, (const uint8_t *)in10, strlen(in10), &req, &scratch,
	                     &consumed, &status),
	    HTTP_PARSE_MORE);
	assert_false(http_parser_expects_continue(&p, (const uint8_t *)in10));
	buf_fini(&scratch);
}

static void
test_header_get(void **state)
{
	const char *in = "GET /?a=1&b=x%20y+z&empty=&flag&bad=%zz&nul=%00&k%65y=v HTTP/1.1\r\n"
	                 "Host: h\r\nX-One: 1\r\nx-one: 2\r\n\r\n";
	struct http_request req;
	struct buf scratch;
	size_t consumed;
	int status;
	char *v;

	buf_init(&scratch, 16);
	assert_int_equal(
	    http_parse((const uint8_t *)in, strlen(in), NULL, &req, &scratch, &consumed, &status),
	    HTTP_PARSE_DONE);
	assert_true(slice_eq(http_header_get(&req, "X-ONE"), SLICE_LIT("1")));
	assert_true(slice_eq(http_header_get(&req, "host"), SLICE_LIT("h")));
	assert_null(http_header_get(&req, "X-Two").ptr);

	assert_string_equal((v = http_query_get(&req, "a")), "1");
	free(v);
	assert_string_equal((v = http_query_get(&req, "b")), "x y z");
	// cppcheck-suppress doubleFree ; v is a fresh result each line
	free(v);
	assert_string_equal((v = http_query_get(&req, "empty")), "");
	// cppcheck-suppress doubleFree ; v is a fresh result each line
	free(v);
	assert_string_equal((v = http_query_get(&req, "flag")), "");
	// cppcheck-suppress doubleFree ; v is a fresh result each line
	free(v);
	assert_string_equal((v = http_query_get(&req, "key")), "v");
	// cppcheck-suppress doubleFree ; v is a fresh result each line
	free(v);
	assert_null(http_query_get(&req, "bad"));
	assert_null(http_query_get(&req, "nul"));
	assert_null(http_query_get(&req, "missing"));
	assert_null(http_query_get(&req, "A"));
	buf_fini(&scratch);
}

static void
test_url_decode(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		bool plus;
		const char *out; /* NULL: refused */
	} t[] = {
	    {"abc", 3, false, "abc"},
	    {"a%20b", 5, false, "a b"},
	    {"a+b", 3, false, "a+b"},
	    {"a+b", 3, true, "a b"},
	    {"%41%6a%4A", 9, false, "AjJ"},
	    {"%e4%b8%ad", 9, false, "\xe4\xb8\xad"},
	    {"%2B", 3, true, "+"},
	    {"", 0, false, ""},
	    {"%", 1, false, NULL},
	    {"%4", 2, false, NULL},
	    {"a%4", 3, false, NULL},
	    {"%g0", 3, false, NULL},
	    {"%0g", 3, false, NULL},
	    {"%00", 3, false, NULL},
	    {"a\0b", 3, false, NULL},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *out = http_url_decode((struct slice){t[i].in, t[i].len}, t[i].plus);

		if (t[i].out == NULL) {
			assert_null(out);
		} else {
			assert_non_null(out);
			assert_string_equal(out, t[i].out);
		}
		free(out);
	}
}

static void
test_status_text(void **state)
{
	assert_string_equal(http_status_text(200), "OK");
	assert_string_equal(http_status_text(404), "Not Found");
	assert_string_equal(http_status_text(413), "Content Too Large");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(505), "HTTP Version Not Supported");
	assert_string_equal(http_status_text(299), "Unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_limits_edges),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_scratch_limit),
	    cmocka_unit_test(test_default_request_line_limit),
	    cmocka_unit_test(test_expects_continue),
	    cmocka_unit_test(test_header_get),
	    cmocka_unit_test(test_url_decode),
	    cmocka_unit_test(test_status_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
