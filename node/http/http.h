/*
 * http.h - HTTP/1.1 server for the JSON API and the web UI (RFC 9112).
 *
 * A pure incremental request parser (http_parser_*, no I/O, shared by the
 * server, the fuzzer and the unit tests) and a server on struct conn with
 * keep-alive, pipelined requests answered in order, and explicit limits.
 * Handlers are asynchronous: the server calls the handler with an exchange,
 * and the handler calls http_reply*() exactly once, now or later (e.g. after
 * a directory write commits). If the client went away meanwhile the reply is
 * dropped. The exchange and the request are valid until that reply.
 */
#ifndef MN_NODE_HTTP_H
#define MN_NODE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/err.h"

/* Limits */
#define HTTP_MAX_REQUEST_LINE 8192
#define HTTP_MAX_HEADER_BYTES (64 * 1024)
#define HTTP_MAX_HEADERS 100
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)

struct http_header {
	struct slice name;
	struct slice value;
};

struct http_request {
	struct slice method;
	struct slice target; /* as sent: path?query */
	struct slice path;   /* raw (still %-encoded) */
	struct slice query;  /* after '?', may be empty */
	int version_minor;   /* HTTP/1.x */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	const uint8_t *body;
	size_t body_len;
	bool keep_alive; /* after Connection: and version rules */
};

/* --- parser ----------------------------------------------------------------- */

enum http_parse_status {
	HTTP_PARSE_MORE = 0,   /* need more input */
	HTTP_PARSE_DONE = 1,   /* *req is complete */
	HTTP_PARSE_ERROR = -1, /* reply with *status_out and close */
};

struct http_parser_limits {
	size_t max_request_line;
	size_t max_header_bytes;
	size_t max_headers;
	size_t max_body;
	/* Paths (exact, without the query) that may carry bodies up to
	 * max_large_body; NULL-terminated, NULL: none. Keeps the memory a
	 * connection can pin at max_body everywhere else. */
	const char *const *large_body_paths;
	size_t max_large_body;
};

/* http_parse - parse one request from the start of data. On DONE,
 * *consumed_out is the byte count of the whole request and req's slices
 * point into data (chunked bodies are decoded into `scratch`, which then
 * backs req->body). On ERROR *status_out is 400, 413, 414, 431, 501 or 505. */
int http_parse(const uint8_t *data, size_t len, const struct http_parser_limits *limits,
    struct http_request *req, struct buf *scratch, size_t *consumed_out, int *status_out);

/* http_parser_limits_default - the HTTP_MAX_* limits with max_body given
 * (0: HTTP_DEFAULT_MAX_BODY), no large-body paths. */
struct http_parser_limits http_parser_limits_default(size_t max_body);
/* http_limits_max_body - the largest body any path may carry. */
size_t http_limits_max_body(const struct http_parser_limits *l);

/*
 * Resumable form of http_parse, used by the server so that a request that
 * arrives in many small reads is scanned once, not once per read (a client
 * sending one byte per packet must not cost quadratic time). Between calls
 * `data` must hold the same request prefix, possibly grown and possibly
 * moved (the parser keeps offsets, never pointers); `scratch` is the same
 * buffer each time. After DONE or ERROR call http_parser_init again for the
 * next request. http_parse() is http_parser_init + one http_parser_feed.
 */
enum http_parser_state {
	HTTP_PS_REQUEST_LINE,
	HTTP_PS_HEADERS,
	HTTP_PS_BODY,
	HTTP_PS_CHUNK_SIZE,
	HTTP_PS_CHUNK_DATA,
	HTTP_PS_CHUNK_END,
	HTTP_PS_TRAILERS,
	HTTP_PS_DONE,
	HTTP_PS_ERROR,
};

struct http_parser {
	struct http_parser_limits limits;
	enum http_parser_state state;
	size_t pos;         /* start of the element being parsed */
	size_t scan;        /* LF search resumes here (>= pos) */
	size_t blank_lines; /* empty lines before the request line */
	size_t method_off, method_len, target_off, target_len;
	int version_minor;
	size_t header_start; /* offset of the first header line */
	size_t nheaders;
	size_t hdr_off[HTTP_MAX_HEADERS][4]; /* name off/len, value off/len */
	bool keep_alive;
	bool chunked;
	uint64_t content_length;
	size_t body_limit; /* max_body or max_large_body, by path */
	size_t body_off;
	uint64_t chunk_left;
	size_t decoded; /* chunked body bytes appended to scratch */
	size_t trailer_start;
	int status; /* when ERROR */
};

void http_parser_init(struct http_parser *p, const struct http_parser_limits *limits);
int http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
    struct http_request *req, struct buf *scratch, size_t *consumed_out, int *status_out);

/* http_parser_expects_continue - the header section is complete, the body
 * is not, and the client sent "Expect: 100-continue" on HTTP/1.1: the
 * server should send "100 Continue" before waiting for the body
 * (RFC 9110 §10.1.1). data is the same buffer as given to the last feed. */
bool http_parser_expects_continue(const struct http_parser *p, const uint8_t *data);

/* http_header_get - value of the first header with that name (case-
 * insensitive), or a slice with ptr NULL. */
struct slice http_header_get(const struct http_request *req, const char *name);
/* http_query_get - decoded value of a query parameter; caller frees; NULL if absent. */
char *http_query_get(const struct http_request *req, const char *name);
/* http_url_decode - %-decoding into a new string; NULL on bad escapes or NUL. */
char *http_url_decode(struct slice s, bool plus_is_space);
const char *http_status_text(int status);

/* --- server ------------------------------------------------------------------ */

struct http_server;
struct http_exchange;

typedef void (*http_handler_fn)(struct http_exchange *x, const struct http_request *req, void *arg);

struct limits;

struct http_server_config {
	struct listener_config listen;       /* tls set: HTTPS */
	size_t max_body;                     /* 0: HTTP_DEFAULT_MAX_BODY */
	const char *const *large_body_paths; /* see struct http_parser_limits */
	size_t max_large_body;
	struct limits *limits; /* per-IP connection caps (node/limits.h); NULL: none */
};

int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
    http_handler_fn handler, void *arg, struct http_server **out, struct mn_err *err);
void http_server_stop(struct http_server **s);
/* http_server_port - the port actually bound (cfg->listen.port 0 picks one). */
uint16_t http_server_port(const struct http_server *s);

/* Connection facts for handlers (auth rules, logs). */
const char *http_exchange_peer_ip(const struct http_exchange *x);
bool http_exchange_is_tls(const struct http_exchange *x);
bool http_exchange_is_loopback(const struct http_exchange *x);

/* A captured exchange: no connection; http_reply hands the answer to fn
 * (headers are the extra "Name: value\r\n" lines of http_add_header) and
 * frees the exchange. For a request that came another way (the webmail
 * call carried from another cluster node): req's slices must stay valid
 * until fn has run. */
typedef void (*http_capture_fn)(void *arg, int status, const char *content_type, const void *body,
    size_t len, const char *headers, size_t hlen);
struct http_exchange *http_exchange_capture(
    const struct http_request *req, const char *peer_ip, bool tls, http_capture_fn fn, void *arg);

/* http_add_header - extra response header; call before http_reply. */
void http_add_header(struct http_exchange *x, const char *name, const char *value);
/* http_reply - send the response and finish the exchange (frees it). */
void http_reply(
    struct http_exchange *x, int status, const char *content_type, const void *body, size_t len);
/* http_reply_json - body is json_dumps(json) + "\n"; steals the reference. */
void http_reply_json(struct http_exchange *x, int status, json_t *json);
/* http_reply_error - {"error": reason} with that status. */
void http_reply_error(struct http_exchange *x, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
