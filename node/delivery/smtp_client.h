/*
 * smtp_client.h - the client side of one SMTP session (RFC 5321) on a
 * connected struct conn, for outbound delivery: reply parsing with limits,
 * EHLO/HELO, opportunistic STARTTLS (RFC 3207), AUTH PLAIN (RFC 4954, only
 * under TLS), MAIL with SIZE (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8
 * (RFC 6531), RET/ENVID and RCPT NOTIFY/ORCPT (RFC 3461), DATA streamed
 * from the spool file with dot-stuffing, PIPELINING (RFC 2920) of MAIL,
 * RCPT and DATA, QUIT or reuse of the idle connection (RSET).
 *
 * remote.c picks hosts and addresses and connects; this module runs one
 * dialogue and sets the outcome of the recipients it got an answer for.
 */
#ifndef MN_NODE_DELIVERY_SMTP_CLIENT_H
#define MN_NODE_DELIVERY_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/conn.h"
#include "lib/tls.h"
#include "node/delivery/remote.h"

/* --- reply parser (pure; fed from the front of the input buffer) ---------- */

/* RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; real servers send
 * longer ones, so we accept up to 2048 and at most 128 lines per reply. */
#define SMTP_REPLY_LINE_MAX 2048
#define SMTP_REPLY_LINES_MAX 128
#define SMTP_REPLY_KEEP 128     /* bytes kept of each line's text (EHLO keywords) */
#define SMTP_REPLY_TEXT_MAX 512 /* bytes kept of the whole reply (for bounces) */

enum smtp_reply_status { SMTP_REPLY_MORE = 0, SMTP_REPLY_DONE = 1, SMTP_REPLY_BAD = -1 };

struct smtp_reply {
	int code; /* 200..599 once the first line is in */
	size_t nlines;
	/* each line's text after "ddd-"/"ddd ", cut to SMTP_REPLY_KEEP-1 */
	char line[SMTP_REPLY_LINES_MAX][SMTP_REPLY_KEEP];
	/* "550 5.1.1 first line text second line text", cut, printable */
	char text[SMTP_REPLY_TEXT_MAX];
	bool done;
};

void smtp_reply_reset(struct smtp_reply *r);
/* smtp_reply_feed - parse whole lines (CRLF or LF) from data; *consumed_out
 * is how many bytes were used. DONE once the last line ("ddd " or "ddd")
 * is in; MORE when more lines are needed; BAD for a malformed line, a
 * continuation with another code, a line over SMTP_REPLY_LINE_MAX (also
 * while incomplete) or too many lines. Call smtp_reply_reset before the
 * next reply. */
int smtp_reply_feed(struct smtp_reply *r, const uint8_t *data, size_t len, size_t *consumed_out);

/* --- session -------------------------------------------------------------- */

struct smtp_client;

enum smtp_client_result {
	SMTP_CLIENT_DONE,       /* transaction over: every rcpt it handled has an outcome */
	SMTP_CLIENT_NEXT,       /* try the next address/host; PENDING rcpts are still PENDING */
	SMTP_CLIENT_TLS_FAILED, /* STARTTLS handshake failed: retry this address in plaintext */
};

struct smtp_client_opts {
	const char *helo;        /* our name for EHLO/HELO */
	const char *remote_name; /* MX host name: remote_mta, SNI (may be an IP) */
	struct tls_ctx *tls;     /* client ctx; NULL: no STARTTLS */
	const char *auth_user;   /* non-NULL: AUTH PLAIN, and only under TLS */
	const char *auth_pass;
	uint32_t timeout_ms;      /* per reply (RFC 5321 §4.5.3.2: 5 min) */
	uint32_t data_timeout_ms; /* after the final dot (§4.5.3.2.6: 10 min) */
	bool keep_alive;          /* hand the connection back after DONE, no QUIT */
};

/* Called once per transaction. alive false: from the conn's on_close (the
 * session is gone after the call). alive true (keep_alive, res DONE): the
 * dialogue is in order and idle; the callee must smtp_client_park,
 * smtp_client_reuse or smtp_client_quit it. reason: why (for NEXT /
 * TLS_FAILED), permanent: the last reply was 5xx. */
typedef void (*smtp_client_done_cb)(struct smtp_client *s, enum smtp_client_result res,
    const char *reason, bool permanent, bool alive, void *arg);

/* smtp_client_start - take over c (handler, timeouts); the session frees
 * itself after done_cb. opts strings must outlive the session. */
struct smtp_client *smtp_client_start(struct conn *c, struct remote_job *job,
    const struct smtp_client_opts *opts, smtp_client_done_cb cb, void *arg);
/* smtp_client_abort - drop the connection now; done_cb still follows
 * (NEXT, "aborted"). */
void smtp_client_abort(struct smtp_client *s);
/* smtp_client_park - an idle session waits keep_ms for reuse, then sends
 * QUIT; closed_cb runs when its connection is gone (timeout, peer closed,
 * quit), after which s is freed. */
void smtp_client_park(
    struct smtp_client *s, uint32_t keep_ms, void (*closed_cb)(void *arg), void *arg);
/* smtp_client_quit - QUIT and close an idle session (a parked one's
 * closed_cb still follows). */
void smtp_client_quit(struct smtp_client *s);
/* smtp_client_reuse - RSET, then the next job on the same connection; cb
 * as for smtp_client_start. MN_ECLOSED when the connection is going away
 * (the session stays parked and its closed_cb still follows). */
int smtp_client_reuse(
    struct smtp_client *s, struct remote_job *job, smtp_client_done_cb cb, void *arg);

#endif
