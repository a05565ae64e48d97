/*
 * data.h - incremental SMTP DATA reader (RFC 5321 §4.1.1.4, §4.5.2).
 *
 * Fed the bytes that follow "354" in chunks of any size, it removes
 * dot-stuffing (§4.5.2), finds the terminating <CRLF>.<CRLF> across chunk
 * boundaries, counts message bytes against a maximum size (RFC 1870), counts
 * Received: fields in the header section (loop detection, §6.3), and notes
 * 8-bit, NUL and long lines. The message is passed on, unstuffed, to a
 * callback or appended to a struct buf. A pure state machine: no I/O, no
 * allocation of its own (a struct buf output grows within its max).
 *
 * Line endings (RFC 5321 §2.3.8 says lines end in CRLF, and §4.1.1.4 that
 * only <CRLF>.<CRLF> ends the data). Whatever the policy, the data ends ONLY
 * at a "." line that follows a real CRLF (or the start of the data) and is
 * itself ended by CRLF: "\n.\n", "\n.\r\n" and "\r\n.\n" never end it, so
 * this reader cannot disagree with a CRLF-strict upstream about where a
 * message stops (the "SMTP smuggling" attack of 2023). Bare LF and bare CR
 * are handled by policy:
 *   SMTP_DATA_BARE_NORMALIZE (default): each bare LF and each bare CR
 *     becomes CRLF in the output, and starts a line for dot-unstuffing, so
 *     stored messages always have CRLF line ends (as IMAP needs). Postfix
 *     3.9 "smtpd_forbid_bare_newline = normalize" behaves the same way.
 *   SMTP_DATA_BARE_REJECT: the first bare CR or LF sets SMTP_DATA_F_BARE;
 *     the reader stops producing output but reads on to the end, and
 *     smtp_data_status() answers 550 5.6.0.
 * Both policies set SMTP_DATA_F_BARE so the session can log it.
 *
 * Errors that are known before the end (too big, bare line ends under
 * REJECT, output callback failure) do not stop the reader: the client is
 * still sending, and the reply must come after its final dot.
 */
#ifndef MN_NODE_SMTP_DATA_H
#define MN_NODE_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "node/smtp/parser.h"

/* RFC 5321 §6.3: loop detection by counting Received: fields SHOULD use a
 * threshold of at least 100. */
#define SMTP_DATA_MAX_RECEIVED 100
/* RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define SMTP_DATA_LINE_MAX 1000

enum smtp_data_bare_policy {
	SMTP_DATA_BARE_NORMALIZE = 0,
	SMTP_DATA_BARE_REJECT,
};

/* result flags (struct smtp_data_reader.flags) */
#define SMTP_DATA_F_TOOBIG 0x01u   /* size > max_size: reply 552 5.3.4 */
#define SMTP_DATA_F_LOOP 0x02u     /* received > max_received: 554 5.4.6 */
#define SMTP_DATA_F_BARE 0x04u     /* a bare CR or LF was seen */
#define SMTP_DATA_F_8BIT 0x08u     /* a byte >= 0x80 was seen */
#define SMTP_DATA_F_NUL 0x10u      /* a NUL byte was seen */
#define SMTP_DATA_F_LONGLINE 0x20u /* a line above SMTP_DATA_LINE_MAX - 2 */
#define SMTP_DATA_F_OUTERR 0x40u   /* the output failed (see out_err) */

struct smtp_data_limits {
	uint64_t max_size;     /* message octets after unstuffing, CRLF line
	                        * ends (RFC 1870 §4); 0 means no limit */
	unsigned max_received; /* 0 means SMTP_DATA_MAX_RECEIVED */
	enum smtp_data_bare_policy bare;
};

struct smtp_data_reader {
	/* results, valid at any time; final after SMTP_DATA_DONE */
	uint64_t size;     /* message octets produced (counted even when the
	                    * output is suppressed) */
	unsigned received; /* Received: fields in the header section */
	unsigned flags;    /* SMTP_DATA_F_* */
	int out_err;       /* first error from the output, or 0 */
	size_t max_line;   /* longest line seen, without its line end */

	/* private */
	struct smtp_data_limits lim;
	int (*cb)(void *arg, const char *data, size_t len);
	void *cb_arg;
	struct buf *out_buf;
	int state;
	int hstate;      /* header-section scanner state */
	unsigned hmatch; /* chars of "received" matched on this line */
	size_t line_len; /* current output line length */
	bool done;
};

/* smtp_data_init - output to cb(cb_arg, data, len), which returns 0 or a
 * negative MN_E* code to stop the output (the reader then reads on to the
 * end and reports SMTP_DATA_F_OUTERR). cb may be NULL: the message is
 * then only counted and checked (e.g. to drain a refused transaction). lim
 * may be NULL (no size limit, default loop limit, NORMALIZE). */
void smtp_data_init(struct smtp_data_reader *r, const struct smtp_data_limits *lim,
    int (*cb)(void *arg, const char *data, size_t len), void *cb_arg);

/* smtp_data_init_buf - output appended to out (not owned; a failed append,
 * e.g. past out->max, sets SMTP_DATA_F_OUTERR with out_err MN_ETOOBIG). */
void smtp_data_init_buf(
    struct smtp_data_reader *r, const struct smtp_data_limits *lim, struct buf *out);

#define SMTP_DATA_MORE 0 /* every byte consumed, the message goes on */
#define SMTP_DATA_DONE 1 /* the final "." line was consumed */

/*
 * smtp_data_feed - consume data[0..len). Returns SMTP_DATA_MORE with
 * *consumed_out == len, or SMTP_DATA_DONE with *consumed_out the number of
 * bytes up to and including the final "\r\n": any bytes after it belong to
 * the next (pipelined) command. After DONE, further calls return MN_EINVAL.
 * consumed_out may be NULL.
 */
int smtp_data_feed(struct smtp_data_reader *r, const char *data, size_t len, size_t *consumed_out);

/*
 * smtp_data_status - the reply owed for a finished message when the reader
 * itself found a reason to refuse it: returns true and fills *st (552 5.3.4
 * too big, 554 5.4.6 loop, 550 5.6.0 bare line ends under REJECT, 451 4.3.0
 * output failure; in that order of precedence), or false when the message
 * may be accepted.
 */
bool smtp_data_status(const struct smtp_data_reader *r, struct smtp_status *st);

#endif
