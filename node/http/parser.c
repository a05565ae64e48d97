/*
 * parser.c - HTTP/1.1 request parser (RFC 9112), pure: no I/O, no globals.
 *
 * It owns nothing but its struct http_parser; request fields are offsets
 * into the caller's data until DONE, when they become slices. A chunked
 * body (RFC 9112 §7.1) is decoded into the caller's scratch buffer as the
 * chunks arrive, so every input byte is looked at once even when the
 * server feeds a request that trickles in one byte per read.
 *
 * Strictness follows RFC 9112's advice for servers, because every leniency
 * is a request-smuggling lever when a proxy sits in front of us:
 *   - obs-fold (§5.2), whitespace before the colon (§5.1), bare CR (§2.2),
 *     control characters in any field: 400;
 *   - Content-Length with Transfer-Encoding, differing Content-Lengths
 *     (§6.3), Transfer-Encoding on HTTP/1.0 (§6.1), "chunked" not exactly
 *     once: 400; any other transfer coding: 501;
 *   - missing or repeated Host on HTTP/1.1 (§3.2): 400;
 *   - versions other than HTTP/1.x: 505.
 * Lines may end in CRLF or a bare LF (§2.2 allows recognising LF alone).
 * Limits: request line (414), header section bytes and field count (431),
 * body size (413), chunk-size line length (400).
 */
#include <string.h>

#include "lib/buf.h"
#include "node/http/http.h"

/* A chunk-size line with extensions longer than this is refused; real
 * clients send a few hex digits (RFC 9112 §7.1.1 lets us limit extensions). */
#define HTTP_MAX_CHUNK_LINE 4096
/* Empty lines tolerated before a request line (§2.2 "at least one"). */
#define HTTP_MAX_BLANK_LINES 8

struct http_parser_limits
http_parser_limits_default(size_t max_body)
{
	return (struct http_parser_limits){
	    .max_request_line = HTTP_MAX_REQUEST_LINE,
	    .max_header_bytes = HTTP_MAX_HEADER_BYTES,
	    .max_headers = HTTP_MAX_HEADERS,
	    .max_body = max_body ? max_body : HTTP_DEFAULT_MAX_BODY,
	};
}

size_t
http_limits_max_body(const struct http_parser_limits *l)
{
	return l->large_body_paths != NULL && l->max_large_body > l->max_body ? l->max_large_body
	                                                                      : l->max_body;
}

/* the body limit of the request target at data + off (len bytes) */
static size_t
body_limit_for(const struct http_parser_limits *l, const uint8_t *target, size_t len)
{
	const uint8_t *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;

	for (const char *const *p = l->large_body_paths; p && *p; p++)
		if (strlen(*p) == plen && memcmp(*p, target, plen) == 0)
			return http_limits_max_body(l);
	return l->max_body;
}

void
http_parser_init(struct http_parser *p, const struct http_parser_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->limits = limits ? *limits : http_parser_limits_default(0);
	if (p->limits.max_headers > HTTP_MAX_HEADERS)
		p->limits.max_headers = HTTP_MAX_HEADERS;
	p->state = HTTP_PS_REQUEST_LINE;
}

static bool
is_tchar(uint8_t c)
{
	/* RFC 9110 §5.6.2 token characters. */
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_field_vchar(uint8_t c)
{
	/* field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5). */
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
fail(struct http_parser *p, int status)
{
	p->state = HTTP_PS_ERROR;
	p->status = status;
	return HTTP_PARSE_ERROR;
}

/*
 * Find the next LF at or after p->pos. Returns true with the line content
 * [p->pos, *end_out) (CR before the LF stripped) and *next_out just past the
 * LF. The scan position is remembered so that a long partial line is not
 * searched again from its start.
 */
static bool
next_line(struct http_parser *p, const uint8_t *data, size_t len, size_t *end_out, size_t *next_out)
{
	const uint8_t *lf;
	size_t at;

	if (p->scan < p->pos)
		p->scan = p->pos;
	lf = p->scan < len ? memchr(data + p->scan, '\n', len - p->scan) : NULL;
	if (lf == NULL) {
		p->scan = len;
		return false;
	}
	at = (size_t)(lf - data);
	*next_out = at + 1;
	*end_out = (at > p->pos && data[at - 1] == '\r') ? at - 1 : at;
	return true;
}

static void
advance(struct http_parser *p, size_t next)
{
	p->pos = next;
	p->scan = next;
}

/* Bytes of an unfinished line known so far, not counting a trailing CR
 * that may turn out to be the start of the CRLF. */
static size_t
partial_len(const uint8_t *data, size_t len, size_t start)
{
	size_t n = len - start;

	if (n > 0 && data[len - 1] == '\r')
		n--;
	return n;
}

static bool
has_cr(const uint8_t *data, size_t s, size_t e)
{
	return e > s && memchr(data + s, '\r', e - s) != NULL;
}

static int
parse_request_line(struct http_parser *p, const uint8_t *data, size_t s, size_t e)
{
	size_t i = s, j, v;
	const uint8_t *ver;

	if (e - s > p->limits.max_request_line)
		return fail(p, 414);
	if (has_cr(data, s, e))
		return fail(p, 400);
	while (i < e && is_tchar(data[i]))
		i++;
	if (i == s || i == e || data[i] != ' ')
		return fail(p, 400);
	p->method_off = s;
	p->method_len = i - s;
	/* request-target: visible ASCII, no fragment (RFC 9112 §3.2). */
	for (j = i + 1; j < e && data[j] != ' '; j++) {
		if (data[j] <= 0x20 || data[j] >= 0x7f || data[j] == '#')
			return fail(p, 400);
	}
	if (j == i + 1 || j == e)
		return fail(p, 400);
	p->target_off = i + 1;
	p->target_len = j - (i + 1);

	v = j + 1;
	ver = data + v;
	if (e - v < 5 || memcmp(ver, "HTTP/", 5) != 0)
		return fail(p, 400);
	ver += 5;
	if (e - v == 8 && ver[0] >= '0' && ver[0] <= '9' && ver[1] == '.' && ver[2] >= '0' &&
	    ver[2] <= '9') {
		if (ver[0] != '1')
			return fail(p, 505);
		/* A higher 1.x minor is answered as 1.1 (RFC 9110 §6.2). */
		p->version_minor = ver[2] - '0';
	} else if (e - v == 6 && ver[0] >= '2' && ver[0] <= '9') {
		return fail(p, 505); /* "HTTP/2", "HTTP/3" */
	} else {
		return fail(p, 400);
	}

	/* Target forms we serve: origin-form, "*" for OPTIONS, absolute-form
	 * (RFC 9112 §3.2.2). authority-form is for CONNECT, which we are not. */
	{
		const char *t = (const char *)data + p->target_off;
		struct slice ts = {t, p->target_len};

		if (t[0] == '/')
			return 0;
		if (p->target_len == 1 && t[0] == '*' && p->method_len == 7 &&
		    memcmp(data + p->method_off, "OPTIONS", 7) == 0)
			return 0;
		if (slice_starts_nocase(ts, "http://") || slice_starts_nocase(ts, "https://"))
			return 0;
		return fail(p, 400);
	}
}

static int
parse_header_line(struct http_parser *p, const uint8_t *data, size_t s, size_t e)
{
	size_t i = s, vs, ve;

	if (data[s] == ' ' || data[s] == '\t')
		return fail(p, 400); /* obs-fold, or whitespace before the first field */
	while (i < e && is_tchar(data[i]))
		i++;
	if (i == s || i == e || data[i] != ':')
		return fail(p, 400); /* includes "Name :" (RFC 9112 §5.1) */
	vs = i + 1;
	ve = e;
	while (vs < ve && (data[vs] == ' ' || data[vs] == '\t'))
		vs++;
	while (ve > vs && (data[ve - 1] == ' ' || data[ve - 1] == '\t'))
		ve--;
	for (size_t k = vs; k < ve; k++) {
		if (!is_field_vchar(data[k]))
			return fail(p, 400); /* NUL, CR, other CTLs, DEL */
	}
	if (p->nheaders >= p->limits.max_headers)
		return fail(p, 431);
	p->hdr_off[p->nheaders][0] = s;
	p->hdr_off[p->nheaders][1] = i - s;
	p->hdr_off[p->nheaders][2] = vs;
	p->hdr_off[p->nheaders][3] = ve - vs;
	p->nheaders++;
	return 0;
}

static struct slice
hdr_name(const struct http_parser *p, const uint8_t *data, size_t k)
{
	return (struct slice){(const char *)data + p->hdr_off[k][0], p->hdr_off[k][1]};
}

static struct slice
hdr_value(const struct http_parser *p, const uint8_t *data, size_t k)
{
	return (struct slice){(const char *)data + p->hdr_off[k][2], p->hdr_off[k][3]};
}

/* Split a comma-separated list value (RFC 9110 §5.6.1): calls fn for each
 * non-empty trimmed element; stops and returns fn's non-zero result. */
static int
for_each_element(struct slice v, int (*fn)(struct slice el, void *arg), void *arg)
{
	size_t start = 0;

	for (size_t k = 0; k <= v.len; k++) {
		if (k == v.len || v.ptr[k] == ',') {
			struct slice el = slice_trim((struct slice){v.ptr + start, k - start});
			int rc;

			if (el.len > 0 && (rc = fn(el, arg)) != 0)
				return rc;
			start = k + 1;
		}
	}
	return 0;
}

struct te_state {
	int chunked;
	bool unknown;
};

static int
te_element(struct slice el, void *arg)
{
	struct te_state *st = arg;

	if (slice_eq_nocase(el, "chunked"))
		st->chunked++;
	else
		st->unknown = true;
	return 0;
}

struct cl_state {
	bool have;
	uint64_t value;
	bool bad;
};

static int
cl_element(struct slice el, void *arg)
{
	struct cl_state *st = arg;
	uint64_t v = 0;

	for (size_t k = 0; k < el.len; k++) {
		unsigned d = (unsigned char)el.ptr[k] - '0';

		if (d > 9) {
			st->bad = true;
			return 1;
		}
		/* Saturate: anything this big is over every body limit. */
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	if (st->have && st->value != v) {
		st->bad = true;
		return 1;
	}
	st->have = true;
	st->value = v;
	return 0;
}

struct conn_state {
	bool close;
	bool keep_alive;
};

static int
conn_element(struct slice el, void *arg)
{
	struct conn_state *st = arg;

	if (slice_eq_nocase(el, "close"))
		st->close = true;
	else if (slice_eq_nocase(el, "keep-alive"))
		st->keep_alive = true;
	return 0;
}

/* End of the header section: decide framing (RFC 9112 §6.3). */
static int
finish_headers(struct http_parser *p, const uint8_t *data, size_t next)
{
	struct te_state te = {0};
	struct cl_state cl = {0};
	struct conn_state cs = {0};
	bool have_te = false;
	size_t hosts = 0;

	for (size_t k = 0; k < p->nheaders; k++) {
		struct slice n = hdr_name(p, data, k), v = hdr_value(p, data, k);

		if (slice_eq_nocase(n, "host")) {
			hosts++;
		} else if (slice_eq_nocase(n, "transfer-encoding")) {
			have_te = true;
			for_each_element(v, te_element, &te);
		} else if (slice_eq_nocase(n, "content-length")) {
			if (v.len == 0)
				return fail(p, 400);
			if (for_each_element(v, cl_element, &cl) != 0 || cl.bad)
				return fail(p, 400);
		} else if (slice_eq_nocase(n, "connection")) {
			for_each_element(v, conn_element, &cs);
		}
	}
	if (hosts > 1 || (hosts == 0 && p->version_minor >= 1))
		return fail(p, 400);
	if (have_te) {
		if (cl.have || p->version_minor == 0)
			return fail(p, 400);
		if (te.unknown)
			return fail(p, 501);
		if (te.chunked != 1)
			return fail(p, 400);
	}
	p->body_limit = body_limit_for(&p->limits, data + p->target_off, p->target_len);
	if (cl.have && cl.value > p->body_limit)
		return fail(p, 413);
	p->keep_alive = p->version_minor >= 1 ? !cs.close : (cs.keep_alive && !cs.close);
	advance(p, next);
	p->body_off = next;
	if (have_te) {
		p->chunked = true;
		p->state = HTTP_PS_CHUNK_SIZE;
	} else {
		p->content_length = cl.have ? cl.value : 0;
		p->state = HTTP_PS_BODY;
	}
	return 0;
}

static int
parse_chunk_size(struct http_parser *p, const uint8_t *data, size_t s, size_t e)
{
	uint64_t size = 0;
	size_t i = s;

	if (has_cr(data, s, e))
		return fail(p, 400);
	for (; i < e; i++) {
		uint8_t c = data[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		size = size * 16 + d;
		/* Checked per digit, so size never overflows. */
		if (size > p->body_limit - p->decoded)
			return fail(p, 413);
	}
	if (i == s)
		return fail(p, 400);
	while (i < e && (data[i] == ' ' || data[i] == '\t'))
		i++; /* BWS before chunk-ext */
	if (i < e && data[i] != ';')
		return fail(p, 400);
	/* chunk-ext is ignored, but must not carry control characters. */
	for (; i < e; i++) {
		if (!is_field_vchar(data[i]))
			return fail(p, 400);
	}
	p->chunk_left = size;
	return 0;
}

static void
fill_request(
    const struct http_parser *p, const uint8_t *data, struct http_request *req, struct buf *scratch)
{
	const char *t = (const char *)data + p->target_off;
	const char *tend = t + p->target_len;
	const char *q, *path;

	memset(req, 0, sizeof(*req));
	req->method = (struct slice){(const char *)data + p->method_off, p->method_len};
	req->target = (struct slice){t, p->target_len};
	req->version_minor = p->version_minor;
	req->keep_alive = p->keep_alive;
	for (size_t k = 0; k < p->nheaders; k++) {
		req->headers[k].name = hdr_name(p, data, k);
		req->headers[k].value = hdr_value(p, data, k);
	}
	req->nheaders = p->nheaders;

	q = memchr(t, '?', p->target_len);
	req->query = q ? (struct slice){q + 1, (size_t)(tend - q - 1)} : (struct slice){tend, 0};
	if (q == NULL)
		q = tend;
	if (t[0] == '/' || t[0] == '*') {
		req->path = (struct slice){t, (size_t)(q - t)};
	} else {
		/* absolute-form: path starts after "scheme://authority". */
		const char *auth = (const char *)memchr(t, ':', p->target_len) + 3;

		path = memchr(auth, '/', (size_t)(q - auth));
		req->path = path ? (struct slice){path, (size_t)(q - path)} : SLICE_LIT("/");
	}

	if (p->chunked) {
		req->body =
		    p->decoded ? scratch->data + scratch->len - p->decoded : (const uint8_t *)"";
		req->body_len = p->decoded;
	} else {
		req->body = data + p->body_off;
		req->body_len = (size_t)p->content_length;
	}
}

int
http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len, struct http_request *req,
    struct buf *scratch, size_t *consumed_out, int *status_out)
{
	size_t e, next;

	for (;;) {
		switch (p->state) {
		case HTTP_PS_REQUEST_LINE:
			if (!next_line(p, data, len, &e, &next)) {
				if (partial_len(data, len, p->pos) > p->limits.max_request_line)
					fail(p, 414);
				break;
			}
			if (e == p->pos) {
				if (++p->blank_lines > HTTP_MAX_BLANK_LINES) {
					fail(p, 400);
					break;
				}
				advance(p, next);
				continue;
			}
			if (parse_request_line(p, data, p->pos, e) != 0)
				break;
			advance(p, next);
			p->header_start = next;
			p->state = HTTP_PS_HEADERS;
			continue;

		case HTTP_PS_HEADERS:
			if (!next_line(p, data, len, &e, &next)) {
				if (len - p->header_start > p->limits.max_header_bytes)
					fail(p, 431);
				break;
			}
			if (next - p->header_start > p->limits.max_header_bytes) {
				fail(p, 431);
				break;
			}
			if (has_cr(data, p->pos, e)) {
				fail(p, 400);
				break;
			}
			if (e == p->pos) {
				if (finish_headers(p, data, next) != 0)
					break;
				continue;
			}
			if (parse_header_line(p, data, p->pos, e) != 0)
				break;
			advance(p, next);
			continue;

		case HTTP_PS_BODY:
			if (len - p->body_off < p->content_length)
				break;
			advance(p, p->body_off + (size_t)p->content_length);
			p->state = HTTP_PS_DONE;
			continue;

		case HTTP_PS_CHUNK_SIZE:
			if (!next_line(p, data, len, &e, &next)) {
				if (len - p->pos > HTTP_MAX_CHUNK_LINE)
					fail(p, 400);
				break;
			}
			if (e - p->pos > HTTP_MAX_CHUNK_LINE) {
				fail(p, 400);
				break;
			}
			if (parse_chunk_size(p, data, p->pos, e) != 0)
				break;
			advance(p, next);
			if (p->chunk_left == 0) {
				p->trailer_start = next;
				p->state = HTTP_PS_TRAILERS;
			} else {
				p->state = HTTP_PS_CHUNK_DATA;
			}
			continue;

		case HTTP_PS_CHUNK_DATA: {
			size_t take = len - p->pos;

			if (take > p->chunk_left)
				take = (size_t)p->chunk_left;
			if (take > 0 && buf_append(scratch, data + p->pos, take) != 0) {
				fail(p, 413); /* scratch has a tighter max than limits */
				break;
			}
			advance(p, p->pos + take);
			p->chunk_left -= take;
			p->decoded += take;
			if (p->chunk_left > 0)
				break;
			p->state = HTTP_PS_CHUNK_END;
			continue;
		}

		case HTTP_PS_CHUNK_END:
			if (p->pos >= len)
				break;
			if (data[p->pos] == '\n') {
				advance(p, p->pos + 1);
			} else if (data[p->pos] == '\r') {
				if (p->pos + 1 >= len)
					break;
				if (data[p->pos + 1] != '\n') {
					fail(p, 400);
					break;
				}
				advance(p, p->pos + 2);
			} else {
				fail(p, 400);
				break;
			}
			p->state = HTTP_PS_CHUNK_SIZE;
			continue;

		case HTTP_PS_TRAILERS:
			/* Trailer fields are skipped (RFC 9112 §7.1.2: a recipient
			 * may discard them), but bounded and checked like headers. */
			if (!next_line(p, data, len, &e, &next)) {
				if (len - p->trailer_start > p->limits.max_header_bytes)
					fail(p, 431);
				break;
			}
			if (next - p->trailer_start > p->limits.max_header_bytes) {
				fail(p, 431);
				break;
			}
			if (e > p->pos) {
				bool ok = data[p->pos] != ' ' && data[p->pos] != '\t';

				for (size_t k = p->pos; ok && k < e; k++)
					ok = is_field_vchar(data[k]);
				if (!ok) {
					fail(p, 400);
					break;
				}
				advance(p, next);
				continue;
			}
			advance(p, next);
			p->state = HTTP_PS_DONE;
			continue;

		case HTTP_PS_DONE:
			fill_request(p, data, req, scratch);
			*consumed_out = p->pos;
			return HTTP_PARSE_DONE;

		case HTTP_PS_ERROR:
			*status_out = p->status;
			return HTTP_PARSE_ERROR;
		}
		/* break out of the switch: MORE, or ERROR just set */
		if (p->state == HTTP_PS_ERROR) {
			*status_out = p->status;
			return HTTP_PARSE_ERROR;
		}
		return HTTP_PARSE_MORE;
	}
}

bool
http_parser_expects_continue(const struct http_parser *p, const uint8_t *data)
{
	if (p->state < HTTP_PS_BODY || p->state > HTTP_PS_TRAILERS || p->version_minor < 1)
		return false;
	for (size_t k = 0; k < p->nheaders; k++) {
		if (slice_eq_nocase(hdr_name(p, data, k), "expect") &&
		    slice_eq_nocase(hdr_value(p, data, k), "100-continue"))
			return true;
	}
	return false;
}

int
http_parse(const uint8_t *data, size_t len, const struct http_parser_limits *limits,
    struct http_request *req, struct buf *scratch, size_t *consumed_out, int *status_out)
{
	struct http_parser p;

	http_parser_init(&p, limits);
	buf_reset(scratch);
	return http_parser_feed(&p, data, len, req, scratch, consumed_out, status_out);
}
