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
#include <stdint.h>
#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"

enum remote_outcome {
	REMOTE_PENDING = 0,
	REMOTE_DELIVERED,  /* 2xx after DATA */
	REMOTE_TEMPFAIL,   /* 4xx, connection or DNS trouble: retry later */
	REMOTE_PERMFAIL,   /* 5xx or no such domain: bounce */
};

struct remote_rcpt {
	const char *address;       /* in */
	const char *notify;        /* in: DSN NOTIFY as received, may be NULL */
	const char *orcpt;         /* in: DSN ORCPT, may be NULL */
	enum remote_outcome outcome; /* out */
	char reply[512];           /* out: remote reply ("550 5.1.1 no such user") or our reason */
	char remote_mta[256];      /* out: host that answered, if any */
};

struct remote_job {
	const char *sender;        /* reverse path, "" for the null sender */
	const char *domain;        /* recipient domain (all rcpts share it) */
	struct remote_rcpt *rcpts;
	size_t nrcpts;
	const char *message_path;  /* spool file holding the message bytes (CRLF) */
	uint64_t message_offset;   /* where the message starts in that file */
	uint64_t size;             /* message size in bytes */
	bool smtputf8;
	bool eightbit;
	const char *envid;         /* DSN ENVID, may be NULL */
	const char *ret;           /* DSN RET "FULL"/"HDRS", may be NULL */
};

struct remote_ctx;

/* remote_ctx_new - from the node config ([dns] resolvers, [delivery] ...);
 * hostname is the HELO name. */
int remote_ctx_new(uv_loop_t *loop, const struct mn_config *cfg, struct remote_ctx **out,
    struct mn_err *err);
void remote_ctx_free(struct remote_ctx **ctx);

typedef void (*remote_done_cb)(struct remote_job *job, void *arg);
/* remote_deliver - one attempt; cb is called exactly once (from the loop,
 * never from inside this call) with every rcpt's outcome set. The job and
 * its strings must stay valid until then. */
int remote_deliver(struct remote_ctx *ctx, struct remote_job *job, remote_done_cb cb, void *arg);

#endif
