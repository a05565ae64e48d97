/*
 * remote.h - outbound delivery of one queued message to the recipients of one
 * remote domain: MX lookup (or mx_override / smarthost), SMTP client with
 * STARTTLS when offered, per-recipient outcome.
 *
 * The queue (node/delivery/queue.c) owns retry, backoff, lifetime and
 * bounces; this module makes one attempt and reports what each recipient's
 * outcome was. It never blocks the loop: DNS runs on the thread pool, the
 * SMTP dialogue on struct conn.
 */
#ifndef MN_NODE_DELIVERY_REMOTE_H
#define MN_NODE_DELIVERY_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"

enum remote_outcome {
	REMOTE_PENDING = 0,
	REMOTE_DELIVERED, /* 2xx after DATA */
	REMOTE_TEMPFAIL,  /* 4xx, connection or DNS trouble: retry later */
	REMOTE_PERMFAIL,  /* 5xx or no such domain: bounce */
};

struct remote_rcpt {
	const char *address;         /* in */
	const char *notify;          /* in: DSN NOTIFY as received, may be NULL */
	const char *orcpt;           /* in: DSN ORCPT, may be NULL */
	enum remote_outcome outcome; /* out */
	char reply[512];      /* out: remote reply ("550 5.1.1 no such user") or our reason */
	char remote_mta[256]; /* out: host that answered, if any */
};

struct remote_job {
	const char *sender; /* reverse path, "" for the null sender */
	const char *domain; /* recipient domain (all rcpts share it) */
	struct remote_rcpt *rcpts;
	size_t nrcpts;
	const char *message_path; /* spool file holding the message bytes (CRLF) */
	uint64_t message_offset;  /* where the message starts in that file */
	uint64_t size;            /* message size in bytes */
	bool smtputf8;
	bool eightbit;
	const char *envid; /* DSN ENVID, may be NULL */
	const char *ret;   /* DSN RET "FULL"/"HDRS", may be NULL */
};

struct remote_ctx;

/* remote_ctx_new - from the node config ([dns] resolvers, [delivery] ...);
 * hostname is the HELO name. */
int remote_ctx_new(
    uv_loop_t *loop, const struct mn_config *cfg, struct remote_ctx **out, struct mn_err *err);
void remote_ctx_free(struct remote_ctx **ctx);

typedef void (*remote_done_cb)(struct remote_job *job, void *arg);
/* remote_deliver - one attempt; cb is called exactly once (from the loop,
 * never from inside this call) with every rcpt's outcome set. The job and
 * its strings must stay valid until then. */
int remote_deliver(struct remote_ctx *ctx, struct remote_job *job, remote_done_cb cb, void *arg);
/* remote_deliver details:
 * - rcpt outcomes and replies are reset at the start; after cb none is
 *   PENDING. reply is the remote reply ("550 5.1.1 no such user") when a
 *   server answered, else our reason ("connect to mx[1.2.3.4]:25: timed
 *   out", "x.test: no such domain (NXDOMAIN)"); remote_mta the host name.
 * - Where: [delivery] mx_override HOST:PORT (no DNS), else relay_host:
 *   relay_port (AUTH PLAIN with relay_user/relay_password, only under TLS),
 *   else the MX hosts of job->domain on port 25 ("[1.2.3.4]" literals
 *   directly). Hosts in MX order, each host's addresses in order, until a
 *   server takes the transaction; a STARTTLS handshake failure retries that
 *   address once without TLS.
 * - PERMFAIL: 5xx to MAIL/RCPT/DATA/end of data, NXDOMAIN or null MX,
 *   SMTPUTF8 needed but not offered, size over the server's SIZE. Anything
 *   else (4xx, connection trouble, DNS failure, all hosts down) TEMPFAIL.
 * - MN_EINVAL (no cb) for a job without rcpts/domain/sender or while the
 *   context is being freed.
 * remote_ctx_free may be called with attempts in flight: their sessions are
 * aborted and their callbacks are NOT called; memory goes when the last one
 * winds down (run the loop). Prefer waiting for remote_ctx_pending() == 0. */

/* remote_ctx_pending - attempts whose callback has not run yet. */
size_t remote_ctx_pending(const struct remote_ctx *ctx);
/* remote_ctx_set_timeouts - connect, per-reply and after-final-dot
 * timeouts in ms (defaults: [delivery] connect_timeout, 5 min, 10 min). */
void remote_ctx_set_timeouts(
    struct remote_ctx *ctx, uint32_t connect_ms, uint32_t command_ms, uint32_t data_ms);
/* remote_ctx_set_mx_port - port used for MX hosts (default 25; tests that
 * go through their own DNS responder point it at a local sink). */
void remote_ctx_set_mx_port(struct remote_ctx *ctx, uint16_t port);
/* remote_ctx_set_keep - how long an idle connection is kept for the next
 * job to the same domain (default 5000 ms; 0: QUIT after every job). */
void remote_ctx_set_keep(struct remote_ctx *ctx, uint32_t keep_ms);
/* remote_outcome_name - "pending", "delivered", "deferred", "bounced". */
const char *remote_outcome_name(enum remote_outcome o);

#endif
