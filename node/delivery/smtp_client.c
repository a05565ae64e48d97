/*
 * smtp_client.c - one outbound SMTP dialogue (RFC 5321 §3, §4.1) on a
 * struct conn: banner, EHLO (HELO after a 5xx), STARTTLS when offered
 * (RFC 3207), AUTH PLAIN (RFC 4954) only when TLS is on, MAIL FROM with
 * the ESMTP parameters the server advertised, one RCPT per pending
 * recipient, DATA streamed from the spool file with dot-stuffing
 * (§4.5.2) under back-pressure (on_drain), QUIT or, with keep_alive, an
 * idle connection handed back for reuse (RSET before the next MAIL).
 *
 * With PIPELINING (RFC 2920) MAIL, the RCPTs and DATA go as one group and
 * the replies are matched in order; without it, one command at a time.
 * EHLO, STARTTLS and AUTH are always sent alone. The session owns itself;
 * done_cb runs once per transaction (see smtp_client.h).
 */
#include "node/delivery/smtp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define BODY_CHUNK (64 * 1024)
#define BODY_HIGH_WATER (256 * 1024) /* queued bytes before waiting for on_drain */
#define CLIENT_INPUT_MAX (SMTP_REPLY_LINE_MAX * 4)

/* --- reply parser --------------------------------------------------------- */

void
smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->nlines = 0;
	r->text[0] = '\0';
	r->done = false;
}

static void
copy_printable(char *out, size_t outlen, const uint8_t *in, size_t n)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; i < n && i + 1 < outlen; i++)
		out[i] = (in[i] < ' ' || in[i] == 0x7f) ? '?' : (char)in[i];
	out[i] = '\0';
}

int
smtp_reply_feed(struct smtp_reply *r, const uint8_t *data, size_t len, size_t *consumed_out)
{
	size_t off = 0;

	*consumed_out = 0;
	while (!r->done) {
		const uint8_t *l = data + off;
		size_t ll, n = find_line(l, len - off, &ll);
		size_t tl, used;
		int code;
		bool last;

		if (n == 0)
			return len - off > SMTP_REPLY_LINE_MAX ? SMTP_REPLY_BAD : SMTP_REPLY_MORE;
		if (ll > SMTP_REPLY_LINE_MAX || ll < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' ||
		    l[1] > '9' || l[2] < '0' || l[2] > '9')
			return SMTP_REPLY_BAD;
		if (ll > 3 && l[3] != ' ' && l[3] != '-')
			return SMTP_REPLY_BAD;
		code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if ((r->nlines > 0 && code != r->code) || r->nlines == SMTP_REPLY_LINES_MAX)
			return SMTP_REPLY_BAD;
		r->code = code;
		last = ll == 3 || l[3] == ' ';
		tl = ll > 4 ? ll - 4 : 0;
		copy_printable(r->line[r->nlines], SMTP_REPLY_KEEP, l + 4, tl);
		if (r->nlines == 0)
			snprintf(r->text, sizeof(r->text), "%d", code);
		used = strlen(r->text);
		if (tl > 0 && used + 2 < sizeof(r->text)) {
			r->text[used++] = ' ';
			copy_printable(r->text + used, sizeof(r->text) - used, l + 4, tl);
		}
		r->nlines++;
		off += n;
		*consumed_out = off;
		if (last)
			r->done = true;
	}
	return SMTP_REPLY_DONE;
}

/* --- session -------------------------------------------------------------- */

enum client_state {
	ST_BANNER,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_TLS,
	ST_AUTH,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_DOT,
	ST_QUIT,
	ST_IDLE, /* transaction over, connection kept for the next one */
	ST_RSET,
	ST_PIPE,      /* MAIL, RCPTs and DATA sent as one group (RFC 2920) */
	ST_DOT_EMPTY, /* DATA got 354 but nobody was accepted: "." sent */
};

static const char *const state_name[] = {"banner", "EHLO", "HELO", "STARTTLS", "TLS handshake",
    "AUTH", "MAIL FROM", "RCPT TO", "DATA", "message body", "end of data", "QUIT", "idle", "RSET",
    "MAIL/RCPT/DATA", "end of empty data"};

struct smtp_client {
	struct conn *c;
	struct remote_job *job;
	struct smtp_client_opts opts;
	smtp_client_done_cb cb;
	void *arg;
	bool cb_called;               /* for the current transaction */
	void (*closed_cb)(void *arg); /* parked: the idle connection went away */
	void *closed_arg;
	char remote_name[256]; /* own copy: a parked session outlives its attempt */
	enum client_state st;
	struct smtp_reply reply;
	/* what EHLO advertised */
	bool x_pipelining;
	bool esmtp, x_starttls, x_size, x_8bitmime, x_smtputf8, x_dsn, x_auth_plain, x_auth;
	uint64_t x_size_max;
	bool tls_on, tls_refused;
	/* pipelined group: reply 0 is MAIL's, 1..pipe_n the RCPTs' (rcpt
	 * index in pipe_idx), pipe_n + 1 DATA's */
	size_t pipe_i, pipe_n;
	size_t *pipe_idx;
	bool mail_ok;
	int mail_code;
	char mail_text[SMTP_REPLY_TEXT_MAX];
	/* recipients */
	size_t rcpt_i;
	bool *accepted;
	size_t naccepted;
	/* body */
	int fd;
	uint64_t sent;
	bool bol; /* at the start of a line (dot-stuffing) */
	bool lastlf;
	uint8_t *chunk;
	struct buf stuffed;
	/* result */
	bool have_result;
	enum smtp_client_result result;
	bool permanent;
	char reason[600];
};

static void client_send_mail(struct smtp_client *s);
static void body_pump(struct smtp_client *s);

static void client_result(struct smtp_client *s, enum smtp_client_result res, bool permanent,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
client_result(
    struct smtp_client *s, enum smtp_client_result res, bool permanent, const char *fmt, ...)
{
	va_list ap;

	if (s->have_result)
		return;
	s->have_result = true;
	s->result = res;
	s->permanent = permanent;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

static void client_send(struct smtp_client *s, enum client_state next, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
client_send(struct smtp_client *s, enum client_state next, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b, 0);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_append(&b, "\r\n", 2);
	s->st = next;
	conn_write(s->c, b.data, b.len);
	buf_fini(&b);
}

static void
client_quit(struct smtp_client *s)
{
	if (conn_is_closing(s->c))
		return;
	client_send(s, ST_QUIT, "QUIT");
	conn_close(s->c); /* flushes QUIT; the reply does not matter */
}

/* client_done - the transaction is over and the dialogue in order: QUIT,
 * or with keep_alive hand the idle connection to the caller. */
static void
client_done(struct smtp_client *s)
{
	if (!s->opts.keep_alive || conn_is_closing(s->c)) {
		client_quit(s);
		return;
	}
	s->st = ST_IDLE;
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->cb_called = true;
	s->cb(s, s->result, s->reason, s->permanent, true, s->arg);
}

/* set_rcpt - outcome and the reply for one recipient */
static void
set_rcpt(struct smtp_client *s, size_t i, enum remote_outcome o, const char *reply)
{
	struct remote_rcpt *r = &s->job->rcpts[i];

	r->outcome = o;
	snprintf(r->reply, sizeof(r->reply), "%s", reply);
	snprintf(r->remote_mta, sizeof(r->remote_mta), "%s", s->remote_name);
}

/* fail_pending - every recipient without an outcome (and, after RCPT, only
 * the accepted ones) gets o with this reply. */
static void
fail_pending(struct smtp_client *s, bool accepted_only, enum remote_outcome o, const char *reply)
{
	for (size_t i = 0; i < s->job->nrcpts; i++) {
		if (s->job->rcpts[i].outcome != REMOTE_PENDING)
			continue;
		if (accepted_only && !s->accepted[i])
			continue;
		set_rcpt(s, i, o, reply);
	}
}

static enum remote_outcome
outcome_of(int code)
{
	if (code >= 200 && code < 300)
		return REMOTE_DELIVERED;
	return code >= 500 ? REMOTE_PERMFAIL : REMOTE_TEMPFAIL;
}

static void
parse_ehlo(struct smtp_client *s)
{
	s->x_starttls = s->x_size = s->x_8bitmime = s->x_smtputf8 = s->x_dsn = false;
	s->x_auth_plain = s->x_auth = s->x_pipelining = false;
	s->x_size_max = 0;
	/* line 0 is the greeting; each further line is "KEYWORD params" */
	for (size_t i = 1; i < s->reply.nlines; i++) {
		const char *l = s->reply.line[i];
		struct slice kw = {l, strcspn(l, " ")};
		const char *params = l + kw.len;

		if (slice_eq_nocase(kw, "STARTTLS"))
			s->x_starttls = true;
		else if (slice_eq_nocase(kw, "8BITMIME"))
			s->x_8bitmime = true;
		else if (slice_eq_nocase(kw, "SMTPUTF8"))
			s->x_smtputf8 = true;
		else if (slice_eq_nocase(kw, "PIPELINING"))
			s->x_pipelining = true;
		else if (slice_eq_nocase(kw, "DSN"))
			s->x_dsn = true;
		else if (slice_eq_nocase(kw, "SIZE")) {
			s->x_size = true;
			if (*params == ' ')
				parse_u64(params + 1, 0, UINT64_MAX, &s->x_size_max);
		} else if (slice_eq_nocase(kw, "AUTH")) {
			s->x_auth = true;
			for (const char *p = params; *p;) {
				size_t n;

				p += strspn(p, " ");
				n = strcspn(p, " ");
				if (n == 5 && ascii_ncasecmp(p, "PLAIN", 5) == 0)
					s->x_auth_plain = true;
				p += n;
			}
		}
	}
}

static void
client_send_auth(struct smtp_client *s)
{
	size_t ul = strlen(s->opts.auth_user), pl = strlen(s->opts.auth_pass);
	size_t rawlen = ul + pl + 2;
	unsigned char *raw = xmalloc(rawlen);
	char *b64 = xmalloc(4 * ((rawlen + 2) / 3) + 1);

	/* RFC 4616: authzid NUL authcid NUL passwd, authzid empty */
	raw[0] = '\0';
	memcpy(raw + 1, s->opts.auth_user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, s->opts.auth_pass, pl);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)rawlen);
	client_send(s, ST_AUTH, "AUTH PLAIN %s", b64);
	explicit_bzero(raw, rawlen);
	explicit_bzero(b64, strlen(b64));
	free(raw);
	free(b64);
}

/* after_ehlo - STARTTLS when offered, then AUTH for the smarthost, then MAIL */
static void
after_ehlo(struct smtp_client *s)
{
	if (!s->tls_on && !s->tls_refused && s->opts.tls && s->x_starttls) {
		client_send(s, ST_STARTTLS, "STARTTLS");
		return;
	}
	if (s->opts.auth_user && s->x_auth) {
		if (!s->tls_on) {
			/* never the password in the clear */
			client_result(s, SMTP_CLIENT_NEXT, false,
			    "%s offers no usable TLS; not sending AUTH in plaintext",
			    s->remote_name);
			client_quit(s);
			return;
		}
		if (!s->x_auth_plain) {
			client_result(s, SMTP_CLIENT_NEXT, false, "%s does not offer AUTH PLAIN",
			    s->remote_name);
			client_quit(s);
			return;
		}
		client_send_auth(s);
		return;
	}
	client_send_mail(s);
}

static void
rcpt_line(struct smtp_client *s, size_t i, struct buf *b)
{
	struct remote_rcpt *r = &s->job->rcpts[i];

	buf_printf(b, "RCPT TO:<%s>", r->address);
	if (s->x_dsn && r->notify)
		buf_printf(b, " NOTIFY=%s", r->notify);
	if (s->x_dsn && r->orcpt)
		buf_printf(b, " ORCPT=%s", r->orcpt);
	buf_append(b, "\r\n", 2);
}

static void
client_send_mail(struct smtp_client *s)
{
	struct remote_job *j = s->job;
	struct buf b;

	if (j->smtputf8 && !s->x_smtputf8) {
		/* RFC 6531 §3.4: no downgrade of UTF-8 addresses possible */
		fail_pending(s, false, REMOTE_PERMFAIL,
		    "remote server does not support SMTPUTF8, needed for this message (RFC 6531)");
		client_result(s, SMTP_CLIENT_DONE, true, "no SMTPUTF8");
		client_done(s);
		return;
	}
	if (s->x_size && s->x_size_max > 0 && j->size > s->x_size_max) {
		char why[200];

		snprintf(why, sizeof(why),
		    "552 5.3.4 message size %llu exceeds the fixed limit %llu of the remote server",
		    (unsigned long long)j->size, (unsigned long long)s->x_size_max);
		fail_pending(s, false, REMOTE_PERMFAIL, why);
		client_result(s, SMTP_CLIENT_DONE, true, "too big");
		client_done(s);
		return;
	}
	/* Open the spool file before MAIL: a missing file must not leave the
	 * server waiting for data. */
	s->fd = open(j->message_path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		char why[300];

		snprintf(why, sizeof(why), "cannot read the queued message: %s", strerror(errno));
		log_error("smtp-out", "event=spool_open_failed path=%s error=%s", j->message_path,
		    strerror(errno));
		fail_pending(s, false, REMOTE_TEMPFAIL, why);
		client_result(s, SMTP_CLIENT_DONE, false, "%s", why);
		client_done(s);
		return;
	}
	buf_init(&b, 0);
	buf_printf(&b, "MAIL FROM:<%s>", j->sender);
	if (s->x_size)
		buf_printf(&b, " SIZE=%llu", (unsigned long long)j->size);
	/* An 8-bit message to a server without 8BITMIME is sent as is, as
	 * Postfix and most MTAs do: downgrading MIME is out of scope. */
	if (j->eightbit && s->x_8bitmime)
		buf_append_str(&b, " BODY=8BITMIME");
	if (j->smtputf8)
		buf_append_str(&b, " SMTPUTF8");
	if (s->x_dsn && j->ret)
		buf_printf(&b, " RET=%s", j->ret);
	if (s->x_dsn && j->envid)
		buf_printf(&b, " ENVID=%s", j->envid);
	if (!s->x_pipelining) {
		client_send(s, ST_MAIL, "%s", buf_cstr(&b));
		buf_fini(&b);
		return;
	}
	/* RFC 2920 §3.1: MAIL, every RCPT and DATA (last in the group) in
	 * one write; the replies come back in order. */
	buf_append(&b, "\r\n", 2);
	free(s->pipe_idx);
	s->pipe_idx = xcalloc(j->nrcpts, sizeof(*s->pipe_idx));
	s->pipe_n = 0;
	for (size_t i = 0; i < j->nrcpts; i++) {
		if (j->rcpts[i].outcome != REMOTE_PENDING)
			continue;
		rcpt_line(s, i, &b);
		s->pipe_idx[s->pipe_n++] = i;
	}
	buf_append_str(&b, "DATA\r\n");
	s->pipe_i = 0;
	s->st = ST_PIPE;
	conn_write(s->c, b.data, b.len);
	buf_fini(&b);
}

/* send_next_rcpt - RCPT for the next pending recipient, or DATA / QUIT */
static void
send_next_rcpt(struct smtp_client *s)
{
	struct remote_job *j = s->job;

	while (s->rcpt_i < j->nrcpts && j->rcpts[s->rcpt_i].outcome != REMOTE_PENDING)
		s->rcpt_i++;
	if (s->rcpt_i < j->nrcpts) {
		struct buf b;

		buf_init(&b, 0);
		rcpt_line(s, s->rcpt_i, &b);
		s->st = ST_RCPT;
		conn_write(s->c, b.data, b.len);
		buf_fini(&b);
		return;
	}
	if (s->naccepted == 0) {
		client_result(s, SMTP_CLIENT_DONE, false, "no recipient accepted");
		client_done(s);
		return;
	}
	client_send(s, ST_DATA, "DATA");
}

static void
start_body(struct smtp_client *s)
{
	s->st = ST_BODY;
	s->bol = true;
	s->lastlf = false;
	s->chunk = xmalloc(BODY_CHUNK);
	buf_init(&s->stuffed, 0);
	body_pump(s);
}

/* pipe_end - the group ended without a message being sent: decide from
 * MAIL's reply, the RCPT outcomes and DATA's reply (code 0: none). */
static void
pipe_end(struct smtp_client *s, int code, const char *text)
{
	if (!s->mail_ok) {
		if (s->mail_code >= 500) {
			fail_pending(s, false, REMOTE_PERMFAIL, s->mail_text);
			client_result(s, SMTP_CLIENT_DONE, true, "%s", s->mail_text);
			client_done(s);
		} else {
			client_result(s, SMTP_CLIENT_NEXT, false, "%s", s->mail_text);
			client_quit(s);
		}
		return;
	}
	if (s->naccepted == 0) {
		client_result(s, SMTP_CLIENT_DONE, false, "no recipient accepted");
		client_done(s);
		return;
	}
	/* DATA refused */
	fail_pending(s, true, code >= 500 ? REMOTE_PERMFAIL : REMOTE_TEMPFAIL, text);
	client_result(s, SMTP_CLIENT_DONE, code >= 500, "%s", text);
	client_done(s);
}

/* body_pump - read, dot-stuff and queue the message until the output queue
 * is above the high-water mark (resumed by on_drain) or all is sent. The
 * spool file was just written, so these reads hit the page cache; they are
 * bounded (64 KiB) and stay on the loop thread. */
static void
body_pump(struct smtp_client *s)
{
	struct remote_job *j = s->job;

	while (s->st == ST_BODY && s->sent < j->size && !conn_is_closing(s->c) &&
	       conn_pending_output(s->c) < BODY_HIGH_WATER) {
		uint64_t left = j->size - s->sent;
		size_t want = left < BODY_CHUNK ? (size_t)left : BODY_CHUNK;
		ssize_t n = pread(s->fd, s->chunk, want, (off_t)(j->message_offset + s->sent));

		if (n <= 0) {
			char why[300];

			snprintf(why, sizeof(why), "cannot read the queued message: %s",
			    n < 0 ? strerror(errno) : "file shorter than recorded");
			log_error("smtp-out", "event=spool_read_failed path=%s error=%s",
			    j->message_path, n < 0 ? strerror(errno) : "short file");
			fail_pending(s, true, REMOTE_TEMPFAIL, why);
			client_result(s, SMTP_CLIENT_DONE, false, "%s", why);
			/* no final dot: the server must drop the transaction */
			conn_abort(s->c);
			return;
		}
		buf_reset(&s->stuffed);
		for (ssize_t i = 0; i < n; i++) {
			uint8_t ch = s->chunk[i];

			if (s->bol && ch == '.')
				buf_append(&s->stuffed, ".", 1); /* RFC 5321 §4.5.2 */
			buf_append(&s->stuffed, &ch, 1);
			s->bol = ch == '\n';
		}
		s->lastlf = s->chunk[n - 1] == '\n';
		s->sent += (uint64_t)n;
		conn_write(s->c, s->stuffed.data, s->stuffed.len);
	}
	if (s->st == ST_BODY && s->sent == j->size) {
		if (j->size > 0 && !s->lastlf)
			conn_write(s->c, "\r\n", 2);
		conn_write(s->c, ".\r\n", 3);
		s->st = ST_DOT;
		conn_set_idle_timeout(s->c, s->opts.data_timeout_ms);
	}
}

static void
handle_reply(struct smtp_client *s)
{
	int code = s->reply.code;
	const char *text = s->reply.text;
	bool ok = code >= 200 && code < 300;

	switch (s->st) {
	case ST_BANNER:
		if (!ok) {
			client_result(s, SMTP_CLIENT_NEXT, code >= 500, "%s", text);
			client_quit(s);
			return;
		}
		client_send(s, ST_EHLO, "EHLO %s", s->opts.helo);
		return;
	case ST_EHLO:
		if (ok) {
			s->esmtp = true;
			parse_ehlo(s);
			after_ehlo(s);
		} else if (code >= 500) {
			client_send(s, ST_HELO, "HELO %s", s->opts.helo);
		} else {
			client_result(s, SMTP_CLIENT_NEXT, false, "%s", text);
			client_quit(s);
		}
		return;
	case ST_HELO:
		if (!ok) {
			client_result(s, SMTP_CLIENT_NEXT, code >= 500, "%s", text);
			client_quit(s);
			return;
		}
		s->esmtp = false;
		client_send_mail(s);
		return;
	case ST_STARTTLS:
		if (code != 220) {
			/* refused: go on in plaintext, as opportunistic TLS allows */
			s->tls_refused = true;
			after_ehlo(s);
			return;
		}
		s->st = ST_TLS;
		if (conn_client_starttls(s->c, s->opts.tls, s->remote_name) < 0) {
			client_result(s, SMTP_CLIENT_TLS_FAILED, false, "STARTTLS could not start");
			conn_abort(s->c);
		}
		return;
	case ST_AUTH:
		if (code != 235) {
			client_result(
			    s, SMTP_CLIENT_NEXT, false, "smarthost refused AUTH: %s", text);
			client_quit(s);
			return;
		}
		client_send_mail(s);
		return;
	case ST_MAIL:
		if (ok) {
			s->rcpt_i = 0;
			send_next_rcpt(s);
		} else if (code >= 500) {
			fail_pending(s, false, REMOTE_PERMFAIL, text);
			client_result(s, SMTP_CLIENT_DONE, true, "%s", text);
			client_done(s);
		} else {
			client_result(s, SMTP_CLIENT_NEXT, false, "%s", text);
			client_quit(s);
		}
		return;
	case ST_RCPT:
		if (ok) {
			s->accepted[s->rcpt_i] = true;
			s->naccepted++;
		} else {
			set_rcpt(s, s->rcpt_i, outcome_of(code), text);
		}
		s->rcpt_i++;
		send_next_rcpt(s);
		return;
	case ST_DATA:
		if (code != 354) {
			fail_pending(s, true,
			    outcome_of(code) == REMOTE_PERMFAIL ? REMOTE_PERMFAIL : REMOTE_TEMPFAIL,
			    text);
			client_result(s, SMTP_CLIENT_DONE, code >= 500, "%s", text);
			client_done(s);
			return;
		}
		start_body(s);
		return;
	case ST_PIPE:
		if (s->pipe_i == 0) {
			s->mail_ok = ok;
			s->mail_code = code;
			snprintf(s->mail_text, sizeof(s->mail_text), "%s", text);
		} else if (s->pipe_i <= s->pipe_n) {
			size_t ri = s->pipe_idx[s->pipe_i - 1];

			/* after a refused MAIL the RCPT replies mean nothing */
			if (s->mail_ok && ok) {
				s->accepted[ri] = true;
				s->naccepted++;
			} else if (s->mail_ok) {
				set_rcpt(s, ri, outcome_of(code), text);
			}
		} else if (code == 354 && s->mail_ok && s->naccepted > 0) {
			start_body(s);
			return;
		} else if (code == 354) {
			/* RFC 2920 §3.1: DATA accepted with nobody to send to;
			 * end it with an empty message */
			conn_write(s->c, ".\r\n", 3);
			s->st = ST_DOT_EMPTY;
			return;
		} else {
			pipe_end(s, code, text);
			return;
		}
		s->pipe_i++;
		return;
	case ST_DOT_EMPTY:
		pipe_end(s, 0, NULL);
		return;
	case ST_BODY: /* a reply before the final dot: the server gave up */
	case ST_DOT:
		fail_pending(
		    s, true, s->st == ST_BODY && ok ? REMOTE_TEMPFAIL : outcome_of(code), text);
		client_result(s, SMTP_CLIENT_DONE, code >= 500, "%s", text);
		if (s->st == ST_BODY)
			conn_abort(s->c);
		else
			client_done(s);
		return;
	case ST_RSET:
		if (!ok) {
			client_result(s, SMTP_CLIENT_NEXT, false, "RSET refused: %s", text);
			client_quit(s);
			return;
		}
		client_send_mail(s);
		return;
	case ST_IDLE: /* e.g. "421 idle too long": this connection is done */
		conn_close(s->c);
		return;
	case ST_TLS:
	case ST_QUIT:
		return;
	}
}

static void
client_on_read(struct conn *c, void *arg)
{
	struct smtp_client *s = arg;
	struct buf *in = conn_input(c);

	while (in->len > 0 && !conn_is_closing(c) && s->st != ST_QUIT && s->st != ST_TLS) {
		size_t used;
		int rc = smtp_reply_feed(&s->reply, in->data, in->len, &used);

		buf_consume(in, used);
		if (rc == SMTP_REPLY_MORE)
			return;
		if (rc == SMTP_REPLY_BAD) {
			char esc[120];

			log_escape(esc, sizeof(esc), in->data, in->len < 80 ? in->len : 80);
			log_warn("smtp-out", "cid=%s event=bad_reply state=%s data=%s", conn_id(c),
			    state_name[s->st], esc);
			client_result(s, SMTP_CLIENT_NEXT, false,
			    "%s: malformed SMTP reply during %s", s->remote_name,
			    state_name[s->st]);
			conn_abort(c);
			return;
		}
		log_debug("smtp-out", "cid=%s event=reply state=%s code=%d", conn_id(c),
		    state_name[s->st], s->reply.code);
		handle_reply(s);
		smtp_reply_reset(&s->reply);
	}
	if (s->st == ST_QUIT || s->st == ST_TLS)
		buf_consume(in, in->len);
}

static void
client_on_tls(struct conn *c, void *arg, int status)
{
	struct smtp_client *s = arg;

	if (status < 0) {
		log_info(
		    "smtp-out", "cid=%s event=starttls_failed host=%s", conn_id(c), s->remote_name);
		client_result(
		    s, SMTP_CLIENT_TLS_FAILED, false, "%s: TLS handshake failed", s->remote_name);
		return;
	}
	s->tls_on = true;
	log_debug("smtp-out", "cid=%s event=starttls tls=\"%s\"", conn_id(c), conn_tls_info(c));
	/* RFC 3207 §4.2: forget what EHLO said before TLS, ask again */
	client_send(s, ST_EHLO, "EHLO %s", s->opts.helo);
}

static void
client_on_drain(struct conn *c, void *arg)
{
	struct smtp_client *s = arg;

	if (s->st == ST_BODY)
		body_pump(s);
}

static void
client_on_close(struct conn *c, void *arg, int reason)
{
	struct smtp_client *s = arg;

	if (s->fd >= 0)
		close(s->fd);
	if (s->cb_called) {
		if (s->closed_cb)
			s->closed_cb(s->closed_arg);
		goto out;
	}
	if (!s->have_result && s->st == ST_TLS)
		client_result(
		    s, SMTP_CLIENT_TLS_FAILED, false, "%s: TLS handshake failed", s->remote_name);
	if (!s->have_result)
		client_result(s, SMTP_CLIENT_NEXT, false, "%s: %s during %s", s->remote_name,
		    reason == MN_ETIMEDOUT ? "timed out" : "connection lost", state_name[s->st]);
	s->cb(s, s->result, s->reason, s->permanent, false, s->arg);
out:
	free(s->chunk);
	if (s->chunk != NULL)
		buf_fini(&s->stuffed);
	free(s->accepted);
	free(s->pipe_idx);
	free(s);
}

static bool
client_on_timeout(struct conn *c, void *arg)
{
	struct smtp_client *s = arg;

	if (s->st != ST_IDLE)
		return false; /* abort: on_close reports the timeout */
	client_quit(s);
	return true;
}

static const struct conn_handler client_handler = {
    .on_timeout = client_on_timeout,
    .on_read = client_on_read,
    .on_close = client_on_close,
    .on_drain = client_on_drain,
    .on_tls = client_on_tls,
};

struct smtp_client *
smtp_client_start(struct conn *c, struct remote_job *job, const struct smtp_client_opts *opts,
    smtp_client_done_cb cb, void *arg)
{
	struct smtp_client *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->job = job;
	s->opts = *opts;
	snprintf(s->remote_name, sizeof(s->remote_name), "%s", opts->remote_name);
	s->opts.remote_name = s->remote_name;
	s->cb = cb;
	s->arg = arg;
	s->fd = -1;
	s->st = ST_BANNER;
	s->accepted = xcalloc(job->nrcpts ? job->nrcpts : 1, sizeof(bool));
	smtp_reply_reset(&s->reply);
	conn_set_log_service(c, "smtp-out");
	conn_set_handler(c, &client_handler, s);
	conn_set_input_max(c, CLIENT_INPUT_MAX);
	conn_set_idle_timeout(c, opts->timeout_ms);
	return s;
}

void
smtp_client_abort(struct smtp_client *s)
{
	client_result(s, SMTP_CLIENT_NEXT, false, "aborted");
	conn_abort(s->c);
}

void
smtp_client_park(struct smtp_client *s, uint32_t keep_ms, void (*closed_cb)(void *arg), void *arg)
{
	s->closed_cb = closed_cb;
	s->closed_arg = arg;
	conn_set_idle_timeout(s->c, keep_ms);
}

void
smtp_client_quit(struct smtp_client *s)
{
	client_quit(s);
}

int
smtp_client_reuse(struct smtp_client *s, struct remote_job *job, smtp_client_done_cb cb, void *arg)
{
	if (s->st != ST_IDLE || conn_is_closing(s->c))
		return MN_ECLOSED;
	s->job = job;
	s->cb = cb;
	s->arg = arg;
	s->cb_called = false;
	s->closed_cb = NULL;
	s->have_result = false;
	s->permanent = false;
	s->reason[0] = '\0';
	s->rcpt_i = 0;
	s->naccepted = 0;
	free(s->accepted);
	s->accepted = xcalloc(job->nrcpts ? job->nrcpts : 1, sizeof(bool));
	s->sent = 0;
	s->pipe_i = s->pipe_n = 0;
	s->mail_ok = false;
	if (s->chunk != NULL) {
		free(s->chunk);
		s->chunk = NULL;
		buf_fini(&s->stuffed);
	}
	conn_set_idle_timeout(s->c, s->opts.timeout_ms);
	/* RFC 5321 §4.1.1.5: a clean slate before the next MAIL */
	client_send(s, ST_RSET, "RSET");
	return 0;
}
