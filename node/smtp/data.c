/*
 * data.c - incremental SMTP DATA reader: dot-unstuffing and the end of data
 * (RFC 5321 §4.5.2, §4.1.1.4), line-end policy (§2.3.8, see data.h), size
 * limit (RFC 1870), Received: counting for loop detection (§6.3).
 *
 * Two byte-level state machines. The first works on the wire bytes: it
 * decides which bytes are message content, and passes runs of them on
 * without copying (a run ends only where a byte is dropped or a line end
 * inserted, or at the end of a chunk). The second, the header scanner,
 * looks at the produced content only, so it sees unstuffed CRLF lines.
 */
#include "node/smtp/data.h"

#include <string.h>

#include "lib/err.h"

enum {
	ST_BOL_CRLF = 0, /* line start after a real CRLF, or the data start */
	ST_BOL_BARE,     /* line start after a bare CR or LF */
	ST_TEXT,         /* inside a line */
	ST_CR,           /* a CR ended the last chunk (held back) */
	ST_DOT,          /* "." at ST_BOL_CRLF (dropped) */
	ST_DOT_CR,       /* ".\r" at ST_BOL_CRLF, CR held back */
};

enum {
	H_BOL = 0,  /* start of a header line */
	H_NAME,     /* matching "received" */
	H_NAME_WSP, /* "received" then WSP (obsolete syntax, RFC 5322 §4.5) */
	H_SKIP,     /* rest of the line */
	H_EMPTY_CR, /* CR at the start of a line */
	H_BODY,     /* header section over */
};

static const char crlf[] = "\r\n";

static void
init_common(struct smtp_data_reader *r, const struct smtp_data_limits *lim)
{
	memset(r, 0, sizeof(*r));
	if (lim != NULL)
		r->lim = *lim;
	if (r->lim.max_received == 0)
		r->lim.max_received = SMTP_DATA_MAX_RECEIVED;
	r->state = ST_BOL_CRLF;
	r->hstate = H_BOL;
}

void
smtp_data_init(struct smtp_data_reader *r, const struct smtp_data_limits *lim,
    int (*cb)(void *arg, const char *data, size_t len), void *cb_arg)
{
	init_common(r, lim);
	r->cb = cb;
	r->cb_arg = cb_arg;
}

void
smtp_data_init_buf(struct smtp_data_reader *r, const struct smtp_data_limits *lim, struct buf *out)
{
	init_common(r, lim);
	r->out_buf = out;
}

/* scan - the content checks, on produced (CRLF-normalised) bytes. */
static void
scan(struct smtp_data_reader *r, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c >= 0x80)
			r->flags |= SMTP_DATA_F_8BIT;
		else if (c == 0)
			r->flags |= SMTP_DATA_F_NUL;
		if (c == '\n') {
			r->line_len = 0;
		} else if (c != '\r') {
			/* a CR here is always followed by LF: not counted */
			if (++r->line_len > r->max_line) {
				r->max_line = r->line_len;
				/* §4.5.3.1.6: 1000 octets with the CRLF */
				if (r->max_line > SMTP_DATA_LINE_MAX - 2)
					r->flags |= SMTP_DATA_F_LONGLINE;
			}
		}
		switch (r->hstate) {
		case H_BODY:
			break;
		case H_BOL:
			if (c == '\r')
				r->hstate = H_EMPTY_CR;
			else if (c == 'r' || c == 'R') {
				r->hstate = H_NAME;
				r->hmatch = 1;
			} else
				r->hstate = c == '\n' ? H_BOL : H_SKIP;
			break;
		case H_NAME:
			if (r->hmatch < 8) {
				static const char name[] = "received";

				if ((c | 0x20) == name[r->hmatch] && c >= 'A')
					r->hmatch++;
				else
					r->hstate = c == '\n' ? H_BOL : H_SKIP;
				break;
			}
			/* FALLTHROUGH: all of "received" matched */
			r->hstate = H_NAME_WSP;
			__attribute__((fallthrough));
		case H_NAME_WSP:
			if (c == ':') {
				if (++r->received > r->lim.max_received)
					r->flags |= SMTP_DATA_F_LOOP;
				r->hstate = H_SKIP;
			} else if (c == '\n') {
				r->hstate = H_BOL;
			} else if (c != ' ' && c != '\t') {
				r->hstate = H_SKIP;
			}
			break;
		case H_SKIP:
			if (c == '\n')
				r->hstate = H_BOL;
			break;
		case H_EMPTY_CR:
			r->hstate = c == '\n' ? H_BODY : H_SKIP;
			break;
		}
	}
}

static bool
suppressed(const struct smtp_data_reader *r)
{
	unsigned stop = SMTP_DATA_F_TOOBIG | SMTP_DATA_F_OUTERR | SMTP_DATA_F_LOOP;

	if (r->lim.bare == SMTP_DATA_BARE_REJECT)
		stop |= SMTP_DATA_F_BARE;
	return (r->flags & stop) != 0;
}

/* emit - account for n produced bytes and pass them on unless the message
 * is already refused. */
static void
emit(struct smtp_data_reader *r, const char *p, size_t n)
{
	int rc;

	if (n == 0)
		return;
	scan(r, (const unsigned char *)p, n);
	r->size = r->size > UINT64_MAX - n ? UINT64_MAX : r->size + n;
	if (r->lim.max_size != 0 && r->size > r->lim.max_size)
		r->flags |= SMTP_DATA_F_TOOBIG;
	if (suppressed(r))
		return;
	if (r->out_buf != NULL)
		rc = buf_append(r->out_buf, p, n);
	else if (r->cb != NULL)
		rc = r->cb(r->cb_arg, p, n);
	else
		rc = 0;
	if (rc < 0) {
		r->out_err = rc;
		r->flags |= SMTP_DATA_F_OUTERR;
	}
}

/* bare - a bare CR or LF: noted, and turned into CRLF (under REJECT the
 * output is suppressed from here on, so the CRLF goes nowhere). */
static void
bare(struct smtp_data_reader *r)
{
	r->flags |= SMTP_DATA_F_BARE;
	emit(r, crlf, 2);
	r->state = ST_BOL_BARE;
}

int
smtp_data_feed(struct smtp_data_reader *r, const char *data, size_t len, size_t *consumed_out)
{
	size_t i = 0, run = 0; /* data[run..i) is pending verbatim output */

	if (consumed_out != NULL)
		*consumed_out = 0;
	if (r->done)
		return MN_EINVAL;
	while (i < len) {
		unsigned char c = (unsigned char)data[i];

		switch (r->state) {
		case ST_TEXT:
			while (i < len && data[i] != '\r' && data[i] != '\n')
				i++;
			if (i == len)
				break;
			if (data[i] == '\r' && i + 1 == len) {
				emit(r, data + run, i - run);
				i++;
				run = i;
				r->state = ST_CR; /* the LF may come in the next feed */
			} else if (data[i] == '\r' && data[i + 1] == '\n') {
				i += 2; /* CRLF stays in the run */
				r->state = ST_BOL_CRLF;
			} else {
				/* a bare LF, or a CR not followed by LF */
				emit(r, data + run, i - run);
				i++;
				run = i;
				bare(r);
			}
			break;
		case ST_CR:
			if (c == '\n') {
				emit(r, crlf, 2);
				i++;
				run = i;
				r->state = ST_BOL_CRLF;
			} else {
				bare(r); /* c is looked at again */
			}
			break;
		case ST_BOL_CRLF:
		case ST_BOL_BARE:
			if (c == '.') {
				/* §4.5.2: drop the first dot of a line */
				emit(r, data + run, i - run);
				i++;
				run = i;
				r->state = r->state == ST_BOL_CRLF ? ST_DOT : ST_TEXT;
			} else {
				r->state = ST_TEXT;
			}
			break;
		case ST_DOT:
			if (c == '\r' && i + 1 == len) {
				i++;
				run = i;
				r->state = ST_DOT_CR;
			} else if (c == '\r' && data[i + 1] == '\n') {
				i += 2;
				goto done;
			} else {
				r->state = ST_TEXT; /* c is looked at again */
			}
			break;
		case ST_DOT_CR:
			if (c == '\n') {
				i++;
				goto done;
			}
			bare(r); /* the held CR; c is looked at again */
			break;
		}
	}
	emit(r, data + run, i - run);
	if (consumed_out != NULL)
		*consumed_out = len;
	return SMTP_DATA_MORE;
done:
	r->done = true;
	if (consumed_out != NULL)
		*consumed_out = i;
	return SMTP_DATA_DONE;
}

bool
smtp_data_status(const struct smtp_data_reader *r, struct smtp_status *st)
{
	if (r->flags & SMTP_DATA_F_TOOBIG) {
		/* RFC 1870 §6.2 (552), RFC 3463 5.3.4 */
		*st = (struct smtp_status){
		    552, "5.3.4", "Message size exceeds fixed maximum message size"};
	} else if (r->flags & SMTP_DATA_F_LOOP) {
		/* RFC 5321 §6.3, RFC 3463 5.4.6 */
		*st = (struct smtp_status){554, "5.4.6", "Too many hops (mail loop?)"};
	} else if ((r->flags & SMTP_DATA_F_BARE) && r->lim.bare == SMTP_DATA_BARE_REJECT) {
		/* RFC 5321 §2.3.8 */
		*st = (struct smtp_status){
		    550, "5.6.0", "Message contains bare CR or LF line endings"};
	} else if (r->flags & SMTP_DATA_F_OUTERR) {
		*st = (struct smtp_status){451, "4.3.0", "Local error in processing"};
	} else {
		return false;
	}
	return true;
}
