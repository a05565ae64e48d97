/*
 * fuzz_http_request.c - http_parse (RFC 9112 request parser) on arbitrary
 * bytes. After a DONE the remaining bytes are parsed as the next pipelined
 * request, as the server does. The same input also goes through one
 * resumable http_parser fed in uneven steps, which must agree with the
 * stateless parse of the first request.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "node/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
touch(const struct http_request *req)
{
	volatile uint8_t sink = 0;

	/* Read every slice so ASan checks they lie inside the input. */
	for (size_t i = 0; i < req->method.len; i++)
		sink ^= (uint8_t)req->method.ptr[i];
	for (size_t i = 0; i < req->path.len; i++)
		sink ^= (uint8_t)req->path.ptr[i];
	for (size_t i = 0; i < req->query.len; i++)
		sink ^= (uint8_t)req->query.ptr[i];
	for (size_t k = 0; k < req->nheaders; k++) {
		for (size_t i = 0; i < req->headers[k].value.len; i++)
			sink ^= (uint8_t)req->headers[k].value.ptr[i];
	}
	for (size_t i = 0; i < req->body_len; i++)
		sink ^= req->body[i];
	(void)sink;
	free(http_query_get(req, "a"));
	free(http_url_decode(req->path, false));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_parser_limits limits = http_parser_limits_default(4096);
	struct http_request req;
	struct http_parser p;
	struct buf scratch;
	size_t off = 0, consumed = 0, first_consumed = 0;
	int status = 0, rc, first_rc = HTTP_PARSE_MORE, first_status = 0;
	uint8_t *copy;

	limits.max_request_line = 256;
	limits.max_header_bytes = 1024;
	limits.max_headers = 16;
	buf_init(&scratch, 1 << 20);
	/* Copy so that reads past `size` hit the ASan redzone. */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);

	for (int n = 0; off <= size && n < 64; n++) {
		rc =
		    http_parse(copy + off, size - off, &limits, &req, &scratch, &consumed, &status);
		if (n == 0) {
			first_rc = rc;
			first_status = status;
			first_consumed = consumed;
		}
		if (rc != HTTP_PARSE_DONE)
			break;
		if (consumed == 0 || consumed > size - off)
			abort();
		touch(&req);
		off += consumed;
	}

	/* Resumable parser in steps of 1, 2, 3 ... bytes. */
	http_parser_init(&p, &limits);
	buf_reset(&scratch);
	rc = HTTP_PARSE_MORE;
	for (size_t len = 0, step = 1; rc == HTTP_PARSE_MORE; step++) {
		len = len + step > size ? size : len + step;
		rc = http_parser_feed(&p, copy, len, &req, &scratch, &consumed, &status);
		(void)http_parser_expects_continue(&p, copy);
		if (len == size)
			break;
	}
	if (rc != first_rc)
		abort();
	if (rc == HTTP_PARSE_DONE && consumed != first_consumed)
		abort();
	if (rc == HTTP_PARSE_ERROR && status != first_status)
		abort();

	buf_fini(&scratch);
	free(copy);
	return 0;
}
