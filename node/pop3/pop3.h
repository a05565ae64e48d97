/*
 * pop3.h - the POP3 server (RFC 1939) with CAPA and response codes (RFC
 * 2449), AUTH PLAIN (RFC 5034, RFC 4616), STLS (RFC 2595) on the plain port
 * and implicit TLS on the pop3s port; plus the pure pieces the session is
 * built from (plaintext policy, CAPA text, SASL PLAIN decoding, the RETR/TOP
 * byte-stuffer), exposed so unit tests exercise them without sockets.
 *
 * The maildrop is the user's INBOX as it was at login (a snapshot: later
 * deliveries show in the next session). Message numbers index that
 * snapshot; UIDL is "<uidvalidity>.<uid>" of the INBOX message, so it stays
 * the same across sessions and restarts. DELE only marks; QUIT expunges the
 * marked messages through the mail store (UPDATE state); a session that
 * ends any other way deletes nothing. One session per user at a time holds
 * the maildrop lock (per node); a second login gets "-ERR [IN-USE]".
 * A user homed on another node is relayed there after USER/PASS or AUTH
 * (cluster/proxy), so the lock of the home node covers every session.
 *
 * Threads: everything runs on the loop thread except crypt(3) and mail
 * store calls, which go through uv_queue_work.
 *
 * Ownership: the server is made by pop3_server_start; pop3_server_stop
 * stops accepting (sessions go on until closed, e.g. by conn_close_all);
 * pop3_server_free may only run once every session has closed and its work
 * finished (after the loop has drained). dir, ms and cfg->tls must outlive
 * the server.
 */
#ifndef MN_NODE_POP3_H
#define MN_NODE_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/tls.h"

struct directory;
struct limits;
struct mailstore;
struct pop3_server;
struct proxy;
struct proxy_request;
struct rpc_stream;

/* RFC 1939 §3: an autologout timer MUST be at least 10 minutes. */
#define POP3_MIN_IDLE_TIMEOUT_MS (10 * 60 * 1000)
#define POP3_DEFAULT_MAX_ERRORS 10
#define POP3_DEFAULT_AUTH_FAIL_DELAY_MS 1000
/* SASL PLAIN (RFC 4616 §2): our limits on the decoded parts. */
#define POP3_MAX_AUTHCID 254 /* an address, DIR_MAX_ADDRESS */
#define POP3_MAX_PASSWORD 1024

struct pop3_server_config {
	const char *address; /* numeric IP */
	bool plain_on;       /* listen on port (plain, STLS offered) */
	uint16_t port;       /* 0 picks a free port (pop3_server_port) */
	bool tls_on;         /* listen on tls_port (implicit TLS) */
	uint16_t tls_port;
	struct tls_ctx *tls;         /* server ctx; NULL: no STLS, no tls_port */
	uint32_t idle_timeout_ms;    /* raised to POP3_MIN_IDLE_TIMEOUT_MS */
	uint32_t auth_fail_delay_ms; /* 0: POP3_DEFAULT_AUTH_FAIL_DELAY_MS */
	uint32_t max_errors;         /* bad commands before close; 0: default */
	struct limits *limits;       /* per-IP caps and login blocking; NULL: none */
	struct proxy *proxy;         /* users homed elsewhere are relayed there
	                              * after login (cluster/proxy); NULL: none */
};

int pop3_server_start(uv_loop_t *loop, struct directory *dir, struct mailstore *ms,
    const struct pop3_server_config *cfg, struct pop3_server **out, struct mn_err *err);
/* pop3_server_port - bound port of the plain (tls false) or TLS listener, 0
 * when off. */
uint16_t pop3_server_port(const struct pop3_server *s, bool tls);
void pop3_server_stop(struct pop3_server *s);
void pop3_server_free(struct pop3_server **s);

/* pop3_server_adopt - the home side of a proxied session (a
 * proxy_adopt_fn): take the maildrop lock (refusing the stream with
 * PROXY_EBUSY when another session holds it), accept, load the maildrop
 * and answer the +OK that completes the login the reached node checked.
 * Not counted against per-IP limits. */
void pop3_server_adopt(
    struct pop3_server *srv, struct rpc_stream *st, const struct proxy_request *req);

/* --- pure helpers (tested directly) -------------------------------------- */

/* pop3_plaintext_allowed - USER/PASS and AUTH PLAIN only over TLS or from
 * a loopback peer (SPEC §8). */
bool pop3_plaintext_allowed(bool tls, bool loopback);

/* pop3_capa_render - the CAPA reply (RFC 2449 §5), "+OK" line to ".". */
void pop3_capa_render(struct buf *out, bool plaintext_ok, bool stls_ok);

/* pop3_sasl_plain_decode - base64 (RFC 4648 §4, padding required) of
 * "authzid NUL authcid NUL passwd" (RFC 4616 §2) into NUL-terminated
 * authcid_out and pass_out (sizes POP3_MAX_AUTHCID + 1 and
 * POP3_MAX_PASSWORD + 1). authzid must be empty or equal authcid (no
 * proxy authorization). 0, or MN_EPARSE (bad base64 or shape), MN_EPERM
 * (authzid differs). The decoded copy is wiped before returning. */
int pop3_sasl_plain_decode(const char *b64, size_t len, char *authcid_out, char *pass_out);

/* pop3_msgnum - a message number argument: decimal digits only, 1..n;
 * 0 and *idx_out = number - 1, or -1. */
int pop3_msgnum(struct slice arg, size_t n, size_t *idx_out);

/* The RETR/TOP transformation of a stored message into the multi-line
 * response body (RFC 1939 §3): lines starting with "." get another ".";
 * a bare LF becomes CRLF; TOP stops after the header, the blank line and
 * `lines` body lines (RFC 1939 §7). pop3_stuffer_finish adds a CRLF when
 * the last line had none, then the ".\r\n" terminator. */
struct pop3_stuffer {
	bool top;
	uint64_t lines_left;
	bool at_bol, prev_cr, line_empty, in_header, done;
};

void pop3_stuffer_init(struct pop3_stuffer *st, bool top, uint64_t lines);
/* pop3_stuffer_feed - transform up to len bytes into out (room for 2 * len
 * bytes needed), *out_len set; returns bytes consumed (less than len only
 * when TOP is complete: st->done). */
size_t pop3_stuffer_feed(
    struct pop3_stuffer *st, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);
/* pop3_stuffer_finish - at most 5 bytes into out; returns their count. */
size_t pop3_stuffer_finish(struct pop3_stuffer *st, uint8_t *out);

#endif
