/*
 * dsn.h - delivery status notifications (RFC 3464) in a multipart/report
 * (RFC 6522): bounces after permanent failure or queue expiry, and delay
 * warnings. English text; the original failure reply is kept per recipient.
 */
#ifndef MN_NODE_DELIVERY_DSN_H
#define MN_NODE_DELIVERY_DSN_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"

enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED };

struct dsn_rcpt {
	const char *address;      /* final recipient */
	const char *orcpt;        /* original recipient (ORCPT) or NULL */
	enum dsn_action action;
	const char *status;       /* enhanced status "5.1.1" */
	const char *diagnostic;   /* remote reply "550 5.1.1 ..." or NULL */
	const char *remote_mta;   /* or NULL */
};

struct dsn_info {
	const char *reporting_mta; /* our hostname */
	const char *postmaster;    /* From: address, e.g. "MAILER-DAEMON@host" */
	const char *to;            /* the original sender */
	const char *envid;         /* or NULL */
	int64_t arrival_date;      /* unix time the message was received */
	int64_t now;               /* Date: header */
	const char *message_id;    /* Message-ID of the DSN, without <> */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
	const char *original;      /* original message bytes (CRLF) */
	size_t original_len;
	bool headers_only;         /* RET=HDRS, or too big to return */
};

/* dsn_build - append the whole DSN message (headers + body, CRLF) to out. */
int dsn_build(struct buf *out, const struct dsn_info *info);

#endif
