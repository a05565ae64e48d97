/*
 * fuzz_smtp_parser.c - smtp_parse_command on arbitrary lines. The first
 * byte picks the context (bit 0: SMTPUTF8 transaction, bit 1: 4096-octet
 * line limit); the rest is the line. Checks that every result slice lies
 * inside the line, limits hold on success, and every failure carries a
 * reply; also drives xtext decoding and local-part unquoting.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/smtp/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(struct slice s, const char *base, size_t len)
{
	if (s.len == 0)
		return;
	if (s.ptr < base || s.ptr + s.len > base + len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_parse_limits lim;
	struct smtp_cmd c;
	char *line, tmp[SMTP_PATH_MAX + 8];
	size_t len, n;
	int rc;

	if (size == 0)
		return 0;
	smtp_parse_limits_default(&lim);
	lim.txn_smtputf8 = data[0] & 1;
	lim.max_line = (data[0] & 2) ? SMTP_LINE_MAX_AUTH : SMTP_LINE_MAX;
	len = size - 1;
	/* an exact-size copy, so ASan sees any read past the line */
	line = xmalloc(len ? len : 1);
	memcpy(line, data + 1, len);
	rc = smtp_parse_command(line, len, &lim, &c);
	if (rc == 0) {
		if (c.verb == SMTP_VERB_NONE || c.error.code != 0)
			abort();
		inside(c.arg, line, len);
		inside(c.path.raw, line, len);
		inside(c.path.mailbox, line, len);
		inside(c.path.local, line, len);
		inside(c.path.domain, line, len);
		inside(c.mail.envid, line, len);
		inside(c.mail.auth, line, len);
		inside(c.rcpt.orcpt_type, line, len);
		inside(c.rcpt.orcpt_addr, line, len);
		inside(c.auth_mech, line, len);
		inside(c.auth_initial, line, len);
		if (c.verb == SMTP_VERB_MAIL || c.verb == SMTP_VERB_RCPT) {
			if (c.path.raw.len > SMTP_PATH_MAX || c.path.local.len > SMTP_LOCAL_MAX ||
			    c.path.domain.len > SMTP_DOMAIN_MAX)
				abort();
			if (c.path.utf8 &&
			    !(c.verb == SMTP_VERB_MAIL ? c.mail.smtputf8 : lim.txn_smtputf8))
				abort();
			if (smtp_local_unquote(c.path.local, tmp, sizeof(tmp), &n) != 0)
				abort();
		}
		if (c.mail.has_envid && smtp_xtext_decode(c.mail.envid, tmp, sizeof(tmp), &n) != 0)
			abort();
	} else {
		if (rc != MN_EPARSE && rc != MN_ETOOBIG)
			abort();
		if (c.error.code < 500 || c.error.code > 555 || c.error.enhanced == NULL ||
		    c.error.text == NULL)
			abort();
	}
	{
		struct buf b;

		buf_init(&b, 0);
		if (smtp_xtext_decode((struct slice){line, len}, tmp, sizeof(tmp), &n) == 0) {
			/* encode(decode(x)) decodes to the same bytes */
			char again[sizeof(tmp)];
			size_t n2;

			smtp_xtext_encode(&b, (struct slice){tmp, n});
			if (smtp_xtext_decode((struct slice){(char *)b.data, b.len}, again,
			        sizeof(again), &n2) != 0 ||
			    n2 != n || memcmp(again, tmp, n) != 0)
				abort();
		}
		buf_fini(&b);
	}
	free(line);
	return 0;
}
