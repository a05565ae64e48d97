/*
 * dsn.c - builds delivery status notifications: RFC 3464
 * message/delivery-status inside an RFC 6522 multipart/report
 * (report-type=delivery-status), with an English explanation first and the
 * original message (message/rfc822) or only its header
 * (text/rfc822-headers) last. The DSN itself carries Auto-Submitted:
 * auto-replied (RFC 3834) so that responders do not answer it; sending it
 * with the null reverse path is the caller's job (RFC 5321 §4.5.5).
 *
 * The output is deterministic for given input (the boundary derives from
 * the Message-ID and time), which keeps tests exact.
 */
#include "node/delivery/dsn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"

#define DSN_TEXT_DIAG_MAX 400 /* reply text quoted in the English part */

static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* rfc5322_date - "Sat, 28 Nov 2026 02:20:37 +0000" (UTC; no locale). */
static void
rfc5322_date(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, outlen, "%s, %d %s %04d %02d:%02d:%02d +0000", wday[tm.tm_wday], tm.tm_mday,
	    month[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool
has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static bool
str_8bit(const char *s)
{
	return s != NULL && has_8bit(s, strlen(s));
}

/* header_len - the original's header block including the blank line that
 * ends it; the whole message when it has no body. */
static size_t
header_len(const char *msg, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (msg[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

static bool
is_smtp_reply(const char *s)
{
	return s != NULL && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	       s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

/* clean - copy a one-line value for a header field: CR, LF and other
 * controls become spaces so that remote text cannot inject fields. */
static void
clean(char *out, size_t outlen, const char *in)
{
	size_t n = 0;

	for (; in != NULL && *in != '\0' && n + 1 < outlen; in++)
		out[n++] = ((unsigned char)*in < ' ' || *in == 0x7f) ? ' ' : *in;
	out[n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* xtext_decode - "+HH" to the byte (RFC 3461 §4); other bytes as they are */
static void
xtext_decode(char *out, size_t outlen, const char *in)
{
	size_t n = 0;

	for (; *in != '\0' && n + 1 < outlen; in++) {
		if (in[0] == '+' && hexval(in[1]) >= 0 && hexval(in[2]) >= 0) {
			out[n++] = (char)(hexval(in[1]) * 16 + hexval(in[2]));
			in += 2;
			continue;
		}
		out[n++] = *in;
	}
	out[n] = '\0';
}

/* 1 to max decimal digits at *pp (no sign, no blanks), advancing *pp. */
static bool
parse_digits(const char **pp, int max, int *out)
{
	const char *p = *pp;
	int v = 0, n = 0;

	while (n < max && *p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0)
		return false;
	*pp = p;
	*out = v;
	return true;
}

/* RFC 3463 enhanced code "class.subject.detail" at p, followed by a space
 * or the end; the class is one digit, subject and detail 1 to 3. */
static bool
parse_enhanced(const char *p, int *cls, int *a, int *b)
{
	if (!parse_digits(&p, 1, cls) || *p++ != '.' || !parse_digits(&p, 3, a) || *p++ != '.' ||
	    !parse_digits(&p, 3, b))
		return false;
	return *p == ' ' || *p == '\0';
}

int
dsn_status_from_reply(const char *reply, bool permanent, char *out, size_t outlen)
{
	const char *p;
	int cls, a, b;

	/* "550 5.1.1 text" or "550-5.1.1 text": the enhanced code (RFC 3463)
	 * follows the basic one; its class must agree with the reply's. */
	if (is_smtp_reply(reply) && reply[3] != '\0') {
		p = reply + 4;
		if (parse_enhanced(p, &cls, &a, &b) && (cls == 2 || cls == 4 || cls == 5) &&
		    cls == reply[0] - '0') {
			snprintf(out, outlen, "%d.%d.%d", cls, a, b);
			return 0;
		}
	}
	if (is_smtp_reply(reply))
		snprintf(out, outlen, "%c.0.0", reply[0]);
	else
		snprintf(out, outlen, "%s", permanent ? "5.0.0" : "4.0.0");
	return 0;
}

static const char *
action_text(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_DELIVERED:
		return "delivered";
	case DSN_RELAYED:
		return "relayed";
	case DSN_EXPANDED:
		return "expanded";
	}
	return "failed";
}

static void
english_part(struct buf *out, const struct dsn_info *info, bool any_failed, bool any_delayed)
{
	char addr[512], diag[DSN_TEXT_DIAG_MAX + 1], mta[300];

	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", info->reporting_mta);
	if (any_failed)
		buf_append_str(out,
		    "I'm sorry to have to inform you that your message could not\r\n"
		    "be delivered to one or more recipients. It's attached below.\r\n\r\n");
	if (any_delayed)
		buf_append_str(out,
		    "####################################################################\r\n"
		    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
		    "####################################################################\r\n\r\n"
		    "Your message could not be delivered yet to the recipients below.\r\n"
		    "Delivery will be retried until the message expires.\r\n\r\n");
	buf_append_str(out, "For further assistance, please send mail to postmaster.\r\n\r\n");
	for (size_t i = 0; i < info->nrcpts; i++) {
		const struct dsn_rcpt *r = &info->rcpts[i];

		if (r->action != DSN_FAILED && r->action != DSN_DELAYED)
			continue;
		clean(addr, sizeof(addr), r->address);
		clean(diag, sizeof(diag), r->diagnostic);
		clean(mta, sizeof(mta), r->remote_mta);
		if (r->remote_mta && r->diagnostic)
			buf_printf(out, "<%s>: host %s said: %s\r\n", addr, mta, diag);
		else if (r->diagnostic)
			buf_printf(out, "<%s>: %s\r\n", addr, diag);
		else
			buf_printf(out, "<%s>: %s\r\n", addr,
			    r->action == DSN_FAILED ? "delivery failed" : "delivery delayed");
	}
}

static void build(struct buf *out, const struct dsn_info *info);

int
dsn_build(struct buf *out, const struct dsn_info *info)
{
	struct buf tmp;
	int rc;

	if (info->reporting_mta == NULL || info->postmaster == NULL || info->to == NULL ||
	    info->message_id == NULL || info->nrcpts == 0 ||
	    (info->original == NULL && info->original_len > 0))
		return MN_EINVAL;
	/* built apart and appended at once: out holds all of it or nothing */
	buf_init(&tmp, 0);
	build(&tmp, info);
	rc = buf_append(out, tmp.data, tmp.len);
	buf_fini(&tmp);
	return rc;
}

static void
build(struct buf *out, const struct dsn_info *info)
{
	char date[64], arrival[64], boundary[128], v[600], v2[600];
	bool any_failed = false, any_delayed = false, headers_only = info->headers_only;
	bool text8 = false;
	size_t orig_len = info->original ? info->original_len : 0;
	unsigned long h = 5381;

	for (size_t i = 0; i < info->nrcpts; i++) {
		any_failed |= info->rcpts[i].action == DSN_FAILED;
		any_delayed |= info->rcpts[i].action == DSN_DELAYED;
		text8 |= str_8bit(info->rcpts[i].address) || str_8bit(info->rcpts[i].diagnostic);
	}
	if (orig_len > DSN_MAX_ORIGINAL)
		headers_only = true;
	if (headers_only)
		orig_len = header_len(info->original, orig_len);
	rfc5322_date(info->now, date, sizeof(date));
	rfc5322_date(info->arrival_date, arrival, sizeof(arrival));

	/* A boundary that cannot occur in the parts: derived from the
	 * Message-ID, and made longer in the (unlikely) case it does occur. */
	for (const char *p = info->message_id; *p; p++)
		h = h * 33 + (unsigned char)*p;
	snprintf(boundary, sizeof(boundary), "=_mailnode_dsn_%08lx_%lld", h & 0xffffffffUL,
	    (long long)info->now);
	while (info->original && memmem(info->original, orig_len, boundary, strlen(boundary)) &&
	       strlen(boundary) + 2 < sizeof(boundary))
		strcat(boundary, "_x");

	clean(v, sizeof(v), info->postmaster);
	buf_printf(out, "From: Mail Delivery System <%s>\r\n", v);
	clean(v, sizeof(v), info->to);
	buf_printf(out, "To: <%s>\r\n", v);
	buf_printf(out, "Subject: %s\r\n",
	    any_failed ? "Undelivered Mail Returned to Sender"
	               : "Delayed Mail (still being retried)");
	buf_printf(out, "Date: %s\r\n", date);
	clean(v, sizeof(v), info->message_id);
	buf_printf(out, "Message-ID: <%s>\r\n", v);
	buf_append_str(out, "Auto-Submitted: auto-replied\r\n"
	                    "MIME-Version: 1.0\r\n");
	buf_printf(out,
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n",
	    boundary);
	buf_append_str(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* 1: English explanation */
	buf_printf(out, "--%s\r\n", boundary);
	buf_append_str(out, "Content-Description: Notification\r\n");
	buf_printf(out, "Content-Type: text/plain; charset=%s\r\n", text8 ? "utf-8" : "us-ascii");
	buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n", text8 ? "8bit" : "7bit");
	english_part(out, info, any_failed, any_delayed);
	buf_append_str(out, "\r\n");

	/* 2: machine-readable report, RFC 3464 §2.2 (per message) and §2.3
	 * (per recipient). */
	buf_printf(out, "--%s\r\n", boundary);
	buf_append_str(out, "Content-Description: Delivery report\r\n"
	                    "Content-Type: message/delivery-status\r\n\r\n");
	clean(v, sizeof(v), info->reporting_mta);
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", v);
	if (info->envid) {
		clean(v, sizeof(v), info->envid);
		buf_printf(out, "Original-Envelope-Id: %s\r\n", v);
	}
	buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < info->nrcpts; i++) {
		const struct dsn_rcpt *r = &info->rcpts[i];
		char status[16];

		buf_append_str(out, "\r\n");
		clean(v, sizeof(v), r->address);
		buf_printf(out, "Final-Recipient: rfc822; %s\r\n", v);
		if (r->orcpt) {
			/* ORCPT is "addr-type;xtext" (RFC 3461 §4.2); the report
			 * carries it decoded (RFC 3464 §2.3.1, RFC 3461 §6.3) */
			xtext_decode(v2, sizeof(v2), r->orcpt);
			clean(v, sizeof(v), v2);
			buf_printf(out, "Original-Recipient: %s\r\n", v);
		}
		buf_printf(out, "Action: %s\r\n", action_text(r->action));
		if (r->status)
			clean(status, sizeof(status), r->status);
		else
			dsn_status_from_reply(
			    r->diagnostic, r->action == DSN_FAILED, status, sizeof(status));
		buf_printf(out, "Status: %s\r\n", status);
		if (r->remote_mta) {
			clean(v, sizeof(v), r->remote_mta);
			buf_printf(out, "Remote-MTA: dns; %s\r\n", v);
		}
		if (r->diagnostic) {
			clean(v2, sizeof(v2), r->diagnostic);
			buf_printf(out, "Diagnostic-Code: %s; %s\r\n",
			    is_smtp_reply(r->diagnostic) ? "smtp" : "X-mailnode", v2);
		}
		if (r->action == DSN_DELAYED && info->expires > 0) {
			rfc5322_date(info->expires, v, sizeof(v));
			buf_printf(out, "Will-Retry-Until: %s\r\n", v);
		}
	}
	buf_append_str(out, "\r\n");

	/* 3: the original, or only its header (RET=HDRS or too big) */
	buf_printf(out, "--%s\r\n", boundary);
	if (headers_only)
		buf_append_str(out, "Content-Description: Undelivered Message Headers\r\n"
		                    "Content-Type: text/rfc822-headers\r\n");
	else
		buf_append_str(out, "Content-Description: Undelivered Message\r\n"
		                    "Content-Type: message/rfc822\r\n");
	if (info->original && has_8bit(info->original, orig_len))
		buf_append_str(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_append_str(out, "\r\n");
	if (info->original)
		buf_append(out, info->original, orig_len);
	if (orig_len > 0 && info->original[orig_len - 1] != '\n')
		buf_append_str(out, "\r\n");
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
