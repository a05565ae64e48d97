/*
 * dsn.h - delivery status notifications (RFC 3464) in a multipart/report
 * (RFC 6522): bounces after permanent failure or queue expiry, and delay
 * warnings. English text; the original failure reply is kept per recipient.
 */
#ifndef MN_NODE_DELIVERY_DSN_H
#define MN_NODE_DELIVERY_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED };

struct dsn_rcpt {
	const char *address; /* final recipient */
	const char *orcpt;   /* original recipient (ORCPT) or NULL */
	enum dsn_action action;
	const char *status;     /* enhanced status "5.1.1" */
	const char *diagnostic; /* remote reply "550 5.1.1 ..." or NULL */
	const char *remote_mta; /* or NULL */
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
	const char *original; /* original message bytes (CRLF) */
	size_t original_len;
	bool headers_only; /* RET=HDRS, or too big to return */
	int64_t expires;   /* DELAYED: Will-Retry-Until (unix time), 0: none */
};

/* Originals larger than this are returned as headers only. */
#define DSN_MAX_ORIGINAL (1024 * 1024)

/* dsn_build - append the whole DSN message (headers + body, CRLF) to out. */
int dsn_build(struct buf *out, const struct dsn_info *info);
/* The structure (each part ends before its boundary line):
 *   From: Mail Delivery System <postmaster>, To: <to>, Subject (failed:
 *   "Undelivered Mail Returned to Sender", else "Delayed Mail (still being
 *   retried)"), Date, Message-ID, Auto-Submitted: auto-replied,
 *   Content-Type: multipart/report; report-type=delivery-status;
 *   1. text/plain English, one "<rcpt>: host MTA said: REPLY" line per
 *      failed/delayed recipient;
 *   2. message/delivery-status: Reporting-MTA: dns; HOST, [Original-
 *      Envelope-Id], Arrival-Date; per recipient Final-Recipient: rfc822;
 *      ADDR, [Original-Recipient: ORCPT xtext-decoded], Action, Status (rcpt->status or
 *      dsn_status_from_reply), [Remote-MTA: dns; X], [Diagnostic-Code:
 *      smtp; REPLY (or X-mailnode; TEXT for our own reasons)],
 *      [Will-Retry-Until];
 *   3. message/rfc822 (whole original) or text/rfc822-headers (header
 *      block only: headers_only or original_len > DSN_MAX_ORIGINAL).
 * MN_EINVAL when a required field is NULL or there is no recipient;
 * MN_ETOOBIG past out->max (out unchanged). */

/* dsn_status_from_reply - the RFC 3463 status for a recipient: the enhanced
 * code in an SMTP reply ("550 5.1.1 ..." gives "5.1.1"), else the reply's
 * class ("550 no" gives "5.0.0"), else 5.0.0 or 4.0.0 by `permanent` for
 * our own texts. out of at least 16 bytes. Returns 0. */
int dsn_status_from_reply(const char *reply, bool permanent, char *out, size_t outlen);

#endif
