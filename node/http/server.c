/*
 * server.c - HTTP/1.1 server on lib/conn (RFC 9112 connection management).
 *
 * Owns the listener, one struct http_conn per connection and one struct
 * http_exchange per request handed to the handler. Exactly one exchange is
 * in flight per connection: pipelined requests wait, unparsed, in the
 * connection's bounded input buffer until the reply to the previous one is
 * written, so replies go out in request order (RFC 9112 §9.3.2) without a
 * reorder queue. While an exchange is in flight and the input buffer is
 * full, reading is paused: that is the back-pressure on a client that
 * pipelines faster than we answer.
 *
 * An exchange owns a copy of its request bytes, so the handler may answer
 * long after the connection's input buffer has moved on or gone. If the
 * connection closes first, the exchange is orphaned (x->hc = NULL) and the
 * handler's eventual http_reply only frees it.
 *
 * Errors found by the parser get a small JSON body, "Connection: close",
 * and the connection is closed after the flush: after a framing error we
 * cannot know where the next request would start.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/http/http.h"
#include "node/limits.h"

/* Room for one request's framing (chunk-size lines, CRLFs) beyond the
 * header and body limits; a request that still does not fit is 413. */
#define HTTP_INPUT_SLACK (16 * 1024)

struct http_conn;

struct http_server {
	uv_loop_t *loop;
	struct listener *listener;
	http_handler_fn handler;
	void *arg;
	struct http_parser_limits limits;
	uint32_t idle_timeout_ms;
	struct limits *ip_limits;
	struct http_conn *conns; /* live connections, for stop */
};

struct http_conn {
	struct http_server *srv; /* NULL after http_server_stop */
	struct conn *c;
	struct http_conn *prev, *next;
	struct http_parser parser;
	struct buf scratch;       /* chunked body being decoded */
	struct http_exchange *x;  /* the exchange in flight, or NULL */
	bool in_process;          /* http_conn_process is on the stack */
	bool dead;                /* on_close ran; free when unwound */
	struct limits *ip_limits; /* admitted by it: release on close (the
	                           * server may be gone by then) */
	bool paused;
	bool sent_continue; /* "100 Continue" sent for this request */
};

struct http_exchange {
	struct http_conn *hc; /* NULL: orphaned, reply is dropped */
	struct http_request req;
	uint8_t *raw;       /* copy of the request bytes req points into */
	struct buf body;    /* decoded chunked body, if any */
	struct buf headers; /* extra response header lines */
	bool keep_alive;
	bool head;
	bool tls;
	bool loopback;
	char peer_ip[64];
	char conn_id[32];
	/* a captured exchange (http_exchange_capture): no connection, the
	 * reply goes to capture */
	http_capture_fn capture;
	void *capture_arg;
};

static void http_conn_process(struct http_conn *hc);

/* --- response writing ------------------------------------------------------ */

static void
format_date(char *out, size_t outlen)
{
	time_t now = time(NULL);
	struct tm tm;

	/* IMF-fixdate (RFC 9110 §5.6.7); strftime is in the C locale here. */
	gmtime_r(&now, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool
has_header(const struct buf *extra, const char *name)
{
	size_t n = strlen(name);
	const char *p = (const char *)extra->data;
	const char *end = p + extra->len;

	/* extra holds "Name: value\r\n" lines built by http_add_header */
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if ((size_t)(end - p) > n && p[n] == ':' && ascii_ncasecmp(p, name, n) == 0)
			return true;
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

/* Queue one response on the connection. keep_alive false adds
 * "Connection: close" and closes after the flush. */
static void
write_response(struct http_conn *hc, int status, const char *content_type, const void *body,
    size_t len, const struct buf *extra, bool keep_alive, bool http10, bool head)
{
	struct buf out;
	char date[64];
	bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);

	format_date(date, sizeof(date));
	buf_init(&out, 0);
	buf_printf(&out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_status_text(status), date);
	if (!no_body)
		buf_printf(&out, "Content-Length: %zu\r\n", len);
	if (content_type != NULL && !no_body)
		buf_printf(&out, "Content-Type: %s\r\n", content_type);
	buf_append_str(&out, "X-Content-Type-Options: nosniff\r\n");
	/* API answers are per-user and change with every write: never cached. */
	if (content_type != NULL && strncmp(content_type, "application/json", 16) == 0 &&
	    (extra == NULL || !has_header(extra, "Cache-Control")))
		buf_append_str(&out, "Cache-Control: no-store\r\n");
	if (extra != NULL && extra->len > 0)
		buf_append(&out, extra->data, extra->len);
	if (!keep_alive)
		buf_append_str(&out, "Connection: close\r\n");
	else if (http10)
		buf_append_str(&out, "Connection: keep-alive\r\n");
	buf_append_str(&out, "\r\n");
	if (!head && !no_body && len > 0)
		buf_append(&out, body, len);

	(void)conn_write(hc->c, out.data, out.len); /* MN_ECLOSED: peer is gone */
	buf_fini(&out);
	if (!keep_alive)
		conn_close(hc->c);
}

/* Parser-level error: small JSON body, then close (RFC 9112 §9.6). */
static void
reply_parse_error(struct http_conn *hc, int status)
{
	json_t *j = json_pack("{s:s}", "error", http_status_text(status));
	char *body = json_dumps(j, JSON_COMPACT);
	size_t len = strlen(body);

	body = xrealloc(body, len + 2);
	memcpy(body + len, "\n", 2);
	log_info("http", "conn=%s event=bad_request status=%d", conn_id(hc->c), status);
	write_response(hc, status, "application/json", body, len + 1, NULL, false, false, false);
	free(body);
	json_decref(j);
}

/* --- exchanges ------------------------------------------------------------- */

static void
rebase(struct slice *s, const uint8_t *from, size_t n, const uint8_t *to)
{
	const uint8_t *p = (const uint8_t *)s->ptr;

	if (p != NULL && p >= from && p <= from + n)
		s->ptr = (const char *)to + (p - from);
}

static struct http_exchange *
exchange_new(
    struct http_conn *hc, const struct http_request *req, const uint8_t *data, size_t consumed)
{
	struct http_exchange *x = xcalloc(1, sizeof(*x));
	const uint8_t *body = req->body;

	x->hc = hc;
	x->raw = xmemdup(data, consumed);
	x->req = *req;
	rebase(&x->req.method, data, consumed, x->raw);
	rebase(&x->req.target, data, consumed, x->raw);
	rebase(&x->req.path, data, consumed, x->raw);
	rebase(&x->req.query, data, consumed, x->raw);
	for (size_t k = 0; k < x->req.nheaders; k++) {
		rebase(&x->req.headers[k].name, data, consumed, x->raw);
		rebase(&x->req.headers[k].value, data, consumed, x->raw);
	}
	if (body >= data && body <= data + consumed) {
		x->req.body = x->raw + (body - data);
		buf_init(&x->body, 0);
	} else {
		/* chunked: the body lives in the scratch buffer; take it over */
		x->body = hc->scratch;
		buf_init(&hc->scratch, http_limits_max_body(&hc->srv->limits));
	}
	buf_init(&x->headers, 16 * 1024);
	x->keep_alive = req->keep_alive;
	x->head = slice_eq(req->method, SLICE_LIT("HEAD"));
	x->tls = conn_is_tls(hc->c);
	x->loopback = conn_is_loopback(hc->c);
	snprintf(x->peer_ip, sizeof(x->peer_ip), "%s", conn_peer_ip(hc->c));
	snprintf(x->conn_id, sizeof(x->conn_id), "%s", conn_id(hc->c));
	return x;
}

static void
exchange_free(struct http_exchange *x)
{
	buf_fini(&x->body);
	buf_fini(&x->headers);
	free(x->raw);
	free(x);
}

struct http_exchange *
http_exchange_capture(
    const struct http_request *req, const char *peer_ip, bool tls, http_capture_fn fn, void *arg)
{
	struct http_exchange *x = xcalloc(1, sizeof(*x));

	x->req = *req;
	x->tls = tls;
	x->capture = fn;
	x->capture_arg = arg;
	buf_init(&x->body, 0);
	buf_init(&x->headers, 64 * 1024);
	snprintf(x->peer_ip, sizeof(x->peer_ip), "%s", peer_ip ? peer_ip : "");
	snprintf(x->conn_id, sizeof(x->conn_id), "captured");
	return x;
}

const char *
http_exchange_peer_ip(const struct http_exchange *x)
{
	return x->peer_ip;
}

bool
http_exchange_is_tls(const struct http_exchange *x)
{
	return x->tls;
}

bool
http_exchange_is_loopback(const struct http_exchange *x)
{
	return x->loopback;
}

static bool
header_text_ok(const char *s, bool is_name)
{
	if (*s == '\0')
		return !is_name;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		/* no CR/LF: a handler must not be able to split the response */
		if (ch < 0x20 ? ch != '\t' : ch == 0x7f)
			return false;
		if (is_name && (ch <= 0x20 || ch == ':'))
			return false;
	}
	return true;
}

void
http_add_header(struct http_exchange *x, const char *name, const char *value)
{
	if (!header_text_ok(name, true) || !header_text_ok(value, false)) {
		log_warn("http", "conn=%s event=bad_response_header", x->conn_id);
		return;
	}
	if (buf_printf(&x->headers, "%s: %s\r\n", name, value) != 0)
		log_warn("http", "conn=%s event=response_headers_too_big", x->conn_id);
}

void
http_reply(
    struct http_exchange *x, int status, const char *content_type, const void *body, size_t len)
{
	struct http_conn *hc = x->hc;

	if (x->capture != NULL) {
		x->capture(x->capture_arg, status, content_type, body, len,
		    x->headers.len ? (const char *)x->headers.data : "", x->headers.len);
		exchange_free(x);
		return;
	}
	if (hc == NULL) {
		log_debug("http", "conn=%s event=reply_dropped status=%d", x->conn_id, status);
		exchange_free(x);
		return;
	}
	{
		char m[40], p[120];

		log_info("http", "conn=%s method=%s path=%s status=%d len=%zu", x->conn_id,
		    log_escape(m, sizeof(m), x->req.method.ptr, x->req.method.len),
		    log_escape(p, sizeof(p), x->req.path.ptr, x->req.path.len), status, len);
	}
	hc->x = NULL;
	if (hc->in_process) {
		/* Replied from inside the handler: the running loop goes on with
		 * pipelined requests (no recursion per request). */
		write_response(hc, status, content_type, body, len, &x->headers, x->keep_alive,
		    x->req.version_minor == 0, x->head);
		exchange_free(x);
		return;
	}
	/* An asynchronous reply. in_process guards hc against an on_close
	 * from inside conn_write/conn_close; http_conn_process then frees it
	 * or goes on with pipelined requests. */
	hc->in_process = true;
	write_response(hc, status, content_type, body, len, &x->headers, x->keep_alive,
	    x->req.version_minor == 0, x->head);
	exchange_free(x);
	http_conn_process(hc);
}

void
http_reply_json(struct http_exchange *x, int status, json_t *json)
{
	char *s = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	size_t len;

	json_decref(json);
	if (s == NULL) {
		static const char fallback[] = "{\"error\":\"internal error\"}\n";

		http_reply(x, 500, "application/json", fallback, sizeof(fallback) - 1);
		return;
	}
	len = strlen(s);
	s = xrealloc(s, len + 2);
	memcpy(s + len, "\n", 2);
	http_reply(x, status, "application/json", s, len + 1);
	free(s);
}

void
http_reply_error(struct http_exchange *x, int status, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_json(x, status, json_pack("{s:s}", "error", msg));
}

/* --- connections ----------------------------------------------------------- */

static void
http_conn_free(struct http_conn *hc)
{
	buf_fini(&hc->scratch);
	free(hc);
}

/* Parse and dispatch requests from the input until one is in flight, more
 * input is needed, or the connection is closing. */
static void
http_conn_process(struct http_conn *hc)
{
	hc->in_process = true;
	while (!hc->dead && hc->srv != NULL && hc->x == NULL && !conn_is_closing(hc->c)) {
		struct buf *in = conn_input(hc->c);
		struct http_request req;
		size_t consumed = 0;
		int status = 0, rc;

		if (in->len == 0)
			break;
		rc = http_parser_feed(
		    &hc->parser, in->data, in->len, &req, &hc->scratch, &consumed, &status);
		if (rc == HTTP_PARSE_MORE) {
			if (!hc->sent_continue &&
			    http_parser_expects_continue(&hc->parser, in->data)) {
				/* curl waits a second for this before a large body */
				hc->sent_continue = true;
				(void)conn_write(hc->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			}
			if (in->max == 0 || in->len < in->max)
				break;
			/* The buffer is full and the request still incomplete. */
			if (hc->parser.state == HTTP_PS_REQUEST_LINE)
				status = 414;
			else if (hc->parser.state == HTTP_PS_HEADERS)
				status = 431;
			else
				status = 413;
			rc = HTTP_PARSE_ERROR;
		}
		if (rc == HTTP_PARSE_ERROR) {
			reply_parse_error(hc, status);
			break;
		}
		hc->x = exchange_new(hc, &req, in->data, consumed);
		buf_consume(in, consumed);
		http_parser_init(&hc->parser, &hc->srv->limits);
		buf_reset(&hc->scratch);
		hc->sent_continue = false;
		hc->srv->handler(hc->x, &hc->x->req, hc->srv->arg);
	}
	hc->in_process = false;
	if (hc->dead) {
		http_conn_free(hc);
		return;
	}
	if (hc->paused && hc->x == NULL) {
		hc->paused = false;
		conn_resume(hc->c);
	}
}

static void
on_read(struct conn *c, void *arg)
{
	struct http_conn *hc = arg;
	struct buf *in = conn_input(c);

	if (hc->x != NULL) {
		/* Pipelined input waits for the reply in flight; when it fills
		 * the buffer, stop reading until then. */
		if (in->max != 0 && in->len >= in->max && !hc->paused) {
			hc->paused = true;
			conn_pause(c);
		}
		return;
	}
	if (hc->in_process)
		return;
	http_conn_process(hc);
}

static void
on_close(struct conn *c, void *arg, int reason)
{
	struct http_conn *hc = arg;

	if (hc->x != NULL) {
		hc->x->hc = NULL; /* orphaned: the handler's reply frees it */
		hc->x = NULL;
	}
	if (hc->srv != NULL) {
		if (hc->prev)
			hc->prev->next = hc->next;
		else
			hc->srv->conns = hc->next;
		if (hc->next)
			hc->next->prev = hc->prev;
		hc->srv = NULL;
	}
	if (hc->ip_limits != NULL)
		limits_conn_closed(hc->ip_limits, LIMITS_HTTP, conn_peer_ip(c));
	hc->ip_limits = NULL;
	hc->c = NULL;
	hc->dead = true;
	if (!hc->in_process)
		http_conn_free(hc);
}

static bool
on_timeout(struct conn *c, void *arg)
{
	struct http_conn *hc = arg;

	if (hc->x != NULL)
		return true; /* the handler is working; the client is waiting */
	if (conn_input(c)->len > 0 && !conn_is_closing(c)) {
		/* A request started but never finished (RFC 9110 §15.5.9). */
		reply_parse_error(hc, 408);
		return true;
	}
	return false;
}

static const struct conn_handler http_conn_handler = {
    .on_read = on_read,
    .on_close = on_close,
    .on_timeout = on_timeout,
};

static void
refused_on_close(struct conn *c, void *arg, int reason)
{
	(void)c;
	(void)arg;
	(void)reason;
}

static const struct conn_handler http_refused_handler = {
    .on_close = refused_on_close,
};

static void
on_accept(struct conn *c, void *arg)
{
	static const char refusal[] = "HTTP/1.1 503 Service Unavailable\r\n"
	                              "Content-Type: text/plain\r\n"
	                              "Content-Length: 39\r\n"
	                              "Retry-After: 60\r\n"
	                              "Connection: close\r\n\r\n"
	                              "too many connections from your address\n";
	struct http_server *srv = arg;
	struct http_conn *hc;
	const struct http_parser_limits *l = &srv->limits;
	enum limits_verdict v = LIMITS_OK;

	if (srv->ip_limits != NULL)
		v = limits_conn_open(srv->ip_limits, LIMITS_HTTP, conn_peer_ip(c));
	if (v != LIMITS_OK) {
		/* per-IP cap (SPEC §10): answer without reading the request */
		log_info("http", "cid=%s event=refused ip=%s reason=%s", conn_id(c),
		    conn_peer_ip(c), v == LIMITS_TOO_MANY ? "too_many_connections" : "rate");
		conn_set_handler(c, &http_refused_handler, NULL);
		(void)conn_write(c, refusal, sizeof(refusal) - 1);
		conn_close(c);
		return;
	}
	hc = xcalloc(1, sizeof(*hc));
	hc->ip_limits = srv->ip_limits;
	hc->srv = srv;
	hc->c = c;
	http_parser_init(&hc->parser, l);
	buf_init(&hc->scratch, http_limits_max_body(l));
	hc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = hc;
	srv->conns = hc;
	conn_set_handler(c, &http_conn_handler, hc);
	conn_set_input_max(c,
	    l->max_request_line + l->max_header_bytes + http_limits_max_body(l) + HTTP_INPUT_SLACK);
	conn_set_idle_timeout(c, srv->idle_timeout_ms);
}

/* --- server ---------------------------------------------------------------- */

int
http_server_start(uv_loop_t *loop, const struct http_server_config *cfg, http_handler_fn handler,
    void *arg, struct http_server **out, struct mn_err *err)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	struct listener_config lc = cfg->listen;
	int rc;

	srv->loop = loop;
	srv->handler = handler;
	srv->arg = arg;
	srv->limits = http_parser_limits_default(cfg->max_body);
	srv->limits.large_body_paths = cfg->large_body_paths;
	srv->limits.max_large_body = cfg->max_large_body;
	srv->idle_timeout_ms = lc.idle_timeout_ms;
	srv->ip_limits = cfg->limits;
	if (lc.service == NULL)
		lc.service = lc.tls ? "https" : "http";
	rc = listener_start(loop, &lc, on_accept, srv, &srv->listener, err);
	if (rc != 0) {
		free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

uint16_t
http_server_port(const struct http_server *s)
{
	return listener_port(s->listener);
}

void
http_server_stop(struct http_server **sp)
{
	struct http_server *srv = *sp;
	struct http_conn *hc, *next;

	if (srv == NULL)
		return;
	*sp = NULL;
	listener_stop(&srv->listener);
	/* Connections outlive the server object: detach, then close them
	 * (queued replies are flushed; exchanges in flight are orphaned when
	 * the close completes). */
	for (hc = srv->conns; hc != NULL; hc = next) {
		next = hc->next;
		hc->srv = NULL;
		hc->prev = hc->next = NULL;
		conn_close(hc->c);
	}
	free(srv);
}
