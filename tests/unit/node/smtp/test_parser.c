/*
 * test_parser.c - SMTP command line parser: verbs, paths, ESMTP parameters,
 * SMTPUTF8, limits at max-1/max/max+1, xtext, replies for every error.
 *
 * The parser takes one complete line (framing is the line reader's), so
 * there is no byte-at-a-time variant here; each line is parsed from an exact
 * heap copy so ASan catches any read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/smtp/parser.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum {
	F_NULL = 1 << 0,
	F_PM = 1 << 1,
	F_QUOTED = 1 << 2,
	F_LIT = 1 << 3,
	F_UTF8 = 1 << 4,
	F_ROUTE = 1 << 5,
};

/* parse - parse an exact-size heap copy of line with default limits. */
static int
parse_lim(const char *line, size_t len, const struct smtp_parse_limits *lim, struct smtp_cmd *c,
    char **copy)
{
	*copy = xmemdup(line, len ? len : 1);
	return smtp_parse_command(*copy, len, lim, c);
}

static void
assert_slice(struct slice s, const char *want)
{
	if (want == NULL)
		return;
	if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
		fail_msg("slice '%.*s' != '%s'", (int)s.len, s.ptr, want);
}

struct okcase {
	const char *line;
	bool txn_utf8;
	enum smtp_verb verb;
	const char *arg;
	const char *mailbox;
	const char *local;
	const char *domain;
	unsigned flags;
};

static const struct okcase ok_cases[] = {
    {"HELO mx.example.org", 0, SMTP_VERB_HELO, "mx.example.org", 0, 0, 0, 0},
    {"helo localhost", 0, SMTP_VERB_HELO, "localhost", 0, 0, 0, 0},
    {"EHLO [127.0.0.1]", 0, SMTP_VERB_EHLO, "[127.0.0.1]", 0, 0, 0, 0},
    {"EHLO [IPv6:::1]", 0, SMTP_VERB_EHLO, "[IPv6:::1]", 0, 0, 0, 0},
    {"EHLO my_pc.local", 0, SMTP_VERB_EHLO, "my_pc.local", 0, 0, 0, 0},
    {"EHLO b\xc3\xbc"
     "cher.example",
        0, SMTP_VERB_EHLO,
        "b\xc3\xbc"
        "cher.example",
        0, 0, 0, 0},
    {"ehlo a-b.c9", 0, SMTP_VERB_EHLO, "a-b.c9", 0, 0, 0, 0},
    {"MAIL FROM:<a@b.example>", 0, SMTP_VERB_MAIL, "FROM:<a@b.example>", "a@b.example", "a",
        "b.example", 0},
    {"mail from:<a@b.example>", 0, SMTP_VERB_MAIL, 0, "a@b.example", "a", "b.example", 0},
    {"MAIL FROM: <a@b.example>", 0, SMTP_VERB_MAIL, 0, "a@b.example", "a", "b.example", 0},
    {"MAIL FROM:   <a@b.example>", 0, SMTP_VERB_MAIL, 0, "a@b.example", 0, 0, 0},
    {"MAIL FROM:<>", 0, SMTP_VERB_MAIL, 0, "", "", "", F_NULL},
    {"MAIL FROM: <>", 0, SMTP_VERB_MAIL, 0, "", "", "", F_NULL},
    {"MAIL FROM:<> SIZE=100", 0, SMTP_VERB_MAIL, 0, "", "", "", F_NULL},
    {"MAIL FROM:<first.last+tag@sub.example.org>", 0, SMTP_VERB_MAIL, 0,
        "first.last+tag@sub.example.org", "first.last+tag", "sub.example.org", 0},
    {"MAIL FROM:<!#$%&'*+-/=?^_`{|}~@x.y>", 0, SMTP_VERB_MAIL, 0, 0, "!#$%&'*+-/=?^_`{|}~", "x.y",
        0},
    {"MAIL FROM:<\"john smith\"@x.example>", 0, SMTP_VERB_MAIL, 0, "\"john smith\"@x.example",
        "\"john smith\"", "x.example", F_QUOTED},
    {"MAIL FROM:<\"a\\\"b\\\\c\"@x.example>", 0, SMTP_VERB_MAIL, 0, 0, "\"a\\\"b\\\\c\"",
        "x.example", F_QUOTED},
    {"MAIL FROM:<\"\"@x.example>", 0, SMTP_VERB_MAIL, 0, 0, "\"\"", "x.example", F_QUOTED},
    {"MAIL FROM:<u@[127.0.0.1]>", 0, SMTP_VERB_MAIL, 0, "u@[127.0.0.1]", "u", "[127.0.0.1]", F_LIT},
    {"MAIL FROM:<u@[IPv6:2001:db8::1]>", 0, SMTP_VERB_MAIL, 0, 0, "u", "[IPv6:2001:db8::1]", F_LIT},
    {"MAIL FROM:<u@[ipv6:::ffff:127.0.0.1]>", 0, SMTP_VERB_MAIL, 0, 0, "u",
        "[ipv6:::ffff:127.0.0.1]", F_LIT},
    {"MAIL FROM:<u@[001.2.3.255]>", 0, SMTP_VERB_MAIL, 0, 0, 0, "[001.2.3.255]", F_LIT},
    {"MAIL FROM:<@a.example,@b.example:user@d.example>", 0, SMTP_VERB_MAIL, 0, "user@d.example",
        "user", "d.example", F_ROUTE},
    {"RCPT TO:<@a.example:user@d.example>", 0, SMTP_VERB_RCPT, 0, "user@d.example", "user",
        "d.example", F_ROUTE},
    {"MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc"
     "cher.example> SMTPUTF8",
        0, SMTP_VERB_MAIL, 0, 0, "j\xc3\xb6rg",
        "b\xc3\xbc"
        "cher.example",
        F_UTF8},
    {"MAIL FROM:<\"\xe5\xbc\xa0 \xe4\xb8\x89\"@x.example> SMTPUTF8", 0, SMTP_VERB_MAIL, 0, 0, 0, 0,
        F_UTF8 | F_QUOTED},
    {"RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8>", 1,
        SMTP_VERB_RCPT, 0, 0, "\xe7\x94\xa8\xe6\x88\xb7",
        "\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8", F_UTF8},
    {"RCPT TO:<a@b.example>", 0, SMTP_VERB_RCPT, "TO:<a@b.example>", "a@b.example", "a",
        "b.example", 0},
    {"rcpt to: <a@b.example>", 0, SMTP_VERB_RCPT, 0, "a@b.example", 0, 0, 0},
    {"RCPT TO:<Postmaster>", 0, SMTP_VERB_RCPT, 0, "Postmaster", "Postmaster", "", F_PM},
    {"RCPT TO:<postMASTER>", 0, SMTP_VERB_RCPT, 0, "postMASTER", 0, "", F_PM},
    {"RCPT TO:<postmaster@x.example>", 0, SMTP_VERB_RCPT, 0, "postmaster@x.example", 0, "x.example",
        0},
    {"DATA", 0, SMTP_VERB_DATA, "", 0, 0, 0, 0},
    {"data", 0, SMTP_VERB_DATA, "", 0, 0, 0, 0},
    {"RSET", 0, SMTP_VERB_RSET, "", 0, 0, 0, 0},
    {"QUIT", 0, SMTP_VERB_QUIT, "", 0, 0, 0, 0},
    {"STARTTLS", 0, SMTP_VERB_STARTTLS, "", 0, 0, 0, 0},
    {"StartTLS", 0, SMTP_VERB_STARTTLS, "", 0, 0, 0, 0},
    {"NOOP", 0, SMTP_VERB_NOOP, "", 0, 0, 0, 0},
    {"NOOP anything at all", 0, SMTP_VERB_NOOP, "anything at all", 0, 0, 0, 0},
    {"HELP", 0, SMTP_VERB_HELP, "", 0, 0, 0, 0},
    {"HELP MAIL", 0, SMTP_VERB_HELP, "MAIL", 0, 0, 0, 0},
    {"VRFY postmaster", 0, SMTP_VERB_VRFY, "postmaster", 0, 0, 0, 0},
    {"EXPN staff@x.example", 0, SMTP_VERB_EXPN, "staff@x.example", 0, 0, 0, 0},
    {"AUTH PLAIN", 0, SMTP_VERB_AUTH, "PLAIN", 0, 0, 0, 0},
};

static void
test_valid_commands(void **state)
{
	for (size_t i = 0; i < N(ok_cases); i++) {
		const struct okcase *k = &ok_cases[i];
		struct smtp_parse_limits lim;
		struct smtp_cmd c;
		char *copy;
		unsigned f;
		int rc;

		smtp_parse_limits_default(&lim);
		lim.txn_smtputf8 = k->txn_utf8;
		rc = parse_lim(k->line, strlen(k->line), &lim, &c, &copy);
		if (rc != 0)
			fail_msg("case %zu '%s': rc %d (%d %s %s)", i, k->line, rc, c.error.code,
			    c.error.enhanced, c.error.text);
		assert_int_equal(c.verb, k->verb);
		assert_slice(c.arg, k->arg);
		assert_slice(c.path.mailbox, k->mailbox);
		assert_slice(c.path.local, k->local);
		assert_slice(c.path.domain, k->domain);
		if (k->verb == SMTP_VERB_MAIL || k->verb == SMTP_VERB_RCPT) {
			f = (c.path.null ? F_NULL : 0) | (c.path.postmaster ? F_PM : 0) |
			    (c.path.quoted ? F_QUOTED : 0) | (c.path.addr_literal ? F_LIT : 0) |
			    (c.path.utf8 ? F_UTF8 : 0) | (c.path.source_route ? F_ROUTE : 0);
			if (f != k->flags)
				fail_msg(
				    "case %zu '%s': flags %#x != %#x", i, k->line, f, k->flags);
			/* raw spans "<" .. ">" */
			assert_int_equal(c.path.raw.ptr[0], '<');
			assert_int_equal(c.path.raw.ptr[c.path.raw.len - 1], '>');
		}
		assert_int_equal(c.error.code, 0);
		free(copy);
	}
}

struct badcase {
	const char *line;
	size_t len; /* 0: strlen */
	bool txn_utf8;
	int rc;
	enum smtp_verb verb;
	int code;
	const char *enh;
};

#define E500_1 MN_EPARSE, SMTP_VERB_NONE, 500, "5.5.1"
#define E500_2 MN_EPARSE, SMTP_VERB_NONE, 500, "5.5.2"

static const struct badcase bad_cases[] = {
    {"", 0, 0, E500_1},
    {" HELO x", 0, 0, E500_1},
    {"HELOX x", 0, 0, E500_1},
    {"BDAT 100 LAST", 0, 0, E500_1},
    {"TURN", 0, 0, E500_1},
    {"MAILFROM:<a@b>", 0, 0, E500_1},
    {"HELO x\ty", 0, 0, E500_2},
    {"HELO x\ry", 0, 0, E500_2},
    {"NOOP \x7f", 0, 0, E500_2},
    {"NOOP a\0b", 8, 0, E500_2},
    {"NOOP \xc3", 0, 0, E500_2},
    {"NOOP \xc0\xaf", 0, 0, E500_2},     /* overlong */
    {"NOOP \xed\xa0\x80", 0, 0, E500_2}, /* surrogate */
    {"NOOP \xf4\x90\x80\x80", 0, 0, E500_2},
    {"NOOP \xff", 0, 0, E500_2},
    {"HELO", 0, 0, MN_EPARSE, SMTP_VERB_HELO, 501, "5.5.4"},
    {"HELO ", 0, 0, MN_EPARSE, SMTP_VERB_HELO, 501, "5.5.4"},
    {"EHLO  x.example", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO x.example ", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO x y", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO -x.example", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO x-.example", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO x..example", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO x.example.", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO [1.2.3]", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO [1.2.3.256]", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO [1.2.3.4", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO [IPv6:1:2]", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"EHLO [x-tag:abc]", 0, 0, MN_EPARSE, SMTP_VERB_EHLO, 501, "5.5.4"},
    {"MAIL", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL TO:<a@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL  FROM:<a@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM :<a@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:a@b.c", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM: ", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@b.c> ", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@b.c>x", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<Postmaster>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a.@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<.a@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a..b@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a b@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a(b)@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<\"ab@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<\"a\"b@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@b_c.d>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@b.c.>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@-b.c>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@[1.2.3.4>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@[1.2.3.4]x>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@[IPv6:zz::1]>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<@a.b:>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<@a.b,x@d.e>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<@[1.2.3.4]:x@d.e>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<<a@b.c>>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.1.7"},
    {"MAIL FROM:<a@b.c> <x@y.z>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"RCPT", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT FROM:<a@b.c>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:a@b.c", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.1.3"},
    {"RCPT TO:<a@b..c>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.1.3"},
    {"RCPT TO:<\"Postmaster\">", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.1.3"},
    {"RCPT TO:<@a.b:Postmaster>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.1.3"},
    {"RCPT TO:<Postmasterx>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.1.3"},
    /* SMTPUTF8 (RFC 6531): UTF-8 only in a SMTPUTF8 transaction */
    {"MAIL FROM:<j\xc3\xb6rg@x.example>", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 553, "5.6.7"},
    {"MAIL FROM:<a@b\xc3\xbc"
     "cher.example>",
        0, 1, MN_EPARSE, SMTP_VERB_MAIL, 553, "5.6.7"},
    {"RCPT TO:<j\xc3\xb6rg@x.example>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 553, "5.6.7"},
    {"RCPT TO:<j\xc3\xb6rg@x.example>", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 553, "5.6.7"},
    {"RCPT TO:<j\xc3rg@x.example>", 0, 1, MN_EPARSE, SMTP_VERB_NONE, 500, "5.5.2"},
    /* parameters */
    {"MAIL FROM:<a@b.c> FOO=bar", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 555, "5.5.4"},
    {"MAIL FROM:<a@b.c> NOTIFY=NEVER", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 555, "5.5.4"},
    {"RCPT TO:<a@b.c> SIZE=10", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 555, "5.5.4"},
    {"MAIL FROM:<a@b.c> BODY=BINARYMIME", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 555, "5.5.4"},
    {"MAIL FROM:<a@b.c> BODY=8BIT", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> BODY", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> BODY=", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SIZE=", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SIZE=-1", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SIZE=1k", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SIZE=123456789012345678901", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SIZE=1 SIZE=2", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> size=1 SIZE=1", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c>  SIZE=1", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SIZE=1 ", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> SMTPUTF8=yes", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> RET=ALL", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> ENVID=a+2", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> ENVID=a+2b", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> ENVID=a=b", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> ENVID=\xc3\xa9", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> AUTH=a=b", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> AUTH=a+zz", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> -X=1", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"MAIL FROM:<a@b.c> =1", 0, 0, MN_EPARSE, SMTP_VERB_MAIL, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> NOTIFY=SUCCESS,SUCCESS", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> NOTIFY=SUCCESS,", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> NOTIFY=ALWAYS", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> ORCPT=rfc822", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> ORCPT=;a@b.c", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> ORCPT=rfc822;", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> ORCPT=rfc822;a+4", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    {"RCPT TO:<a@b.c> ORCPT=rf(c;a@b.c", 0, 0, MN_EPARSE, SMTP_VERB_RCPT, 501, "5.5.4"},
    /* no-argument verbs */
    {"DATA x", 0, 0, MN_EPARSE, SMTP_VERB_DATA, 501, "5.5.4"},
    {"DATA ", 0, 0, MN_EPARSE, SMTP_VERB_DATA, 501, "5.5.4"},
    {"QUIT now", 0, 0, MN_EPARSE, SMTP_VERB_QUIT, 501, "5.5.4"},
    {"RSET x", 0, 0, MN_EPARSE, SMTP_VERB_RSET, 501, "5.5.4"},
    {"STARTTLS x", 0, 0, MN_EPARSE, SMTP_VERB_STARTTLS, 501, "5.5.4"},
    {"NOOP ", 0, 0, MN_EPARSE, SMTP_VERB_NOOP, 501, "5.5.4"},
    {"VRFY", 0, 0, MN_EPARSE, SMTP_VERB_VRFY, 501, "5.5.4"},
    {"VRFY ", 0, 0, MN_EPARSE, SMTP_VERB_VRFY, 501, "5.5.4"},
    {"EXPN", 0, 0, MN_EPARSE, SMTP_VERB_EXPN, 501, "5.5.4"},
    /* AUTH (RFC 4954 §4) */
    {"AUTH", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH ", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN ", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PL@IN", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN abc", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN ab=c", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN a===", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN ab!d", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN AAAA AAAA", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
    {"AUTH PLAIN ==", 0, 0, MN_EPARSE, SMTP_VERB_AUTH, 501, "5.5.4"},
};

static void
test_invalid_commands(void **state)
{
	for (size_t i = 0; i < N(bad_cases); i++) {
		const struct badcase *k = &bad_cases[i];
		size_t len = k->len ? k->len : strlen(k->line);
		struct smtp_parse_limits lim;
		struct smtp_cmd c;
		char *copy;
		int rc;

		smtp_parse_limits_default(&lim);
		lim.txn_smtputf8 = k->txn_utf8;
		rc = parse_lim(k->line, len, &lim, &c, &copy);
		if (rc != k->rc || c.verb != k->verb || c.error.code != k->code ||
		    c.error.enhanced == NULL || strcmp(c.error.enhanced, k->enh) != 0 ||
		    c.error.text == NULL || c.error.text[0] == '\0')
			fail_msg("case %zu '%s': rc %d verb %d reply %d %s %s", i, k->line, rc,
			    c.verb, c.error.code, c.error.enhanced ? c.error.enhanced : "-",
			    c.error.text ? c.error.text : "-");
		free(copy);
	}
}

static void
test_exact_reply_texts(void **state)
{
	static const struct {
		const char *line;
		int code;
		const char *enh, *text;
	} cases[] = {
	    {"XYZZY", 500, "5.5.1", "Unrecognized command"},
	    {"RCPT TO:<a..b@c.d>", 501, "5.1.3", "Bad recipient address syntax"},
	    {"MAIL FROM:<a..b@c.d>", 501, "5.1.7", "Bad sender address syntax"},
	    {"MAIL FROM:<a@b.c> X-FOO", 555, "5.5.4", "Unsupported parameter"},
	    {"MAIL FROM:<\xc3\xa9@b.c>", 553, "5.6.7", "Non-ASCII address requires SMTPUTF8"},
	    {"NOOP \x01", 500, "5.5.2", "Invalid character in command"},
	};
	struct smtp_cmd c;

	for (size_t i = 0; i < N(cases); i++) {
		char *copy;

		assert_int_equal(
		    parse_lim(cases[i].line, strlen(cases[i].line), NULL, &c, &copy), MN_EPARSE);
		assert_int_equal(c.error.code, cases[i].code);
		assert_string_equal(c.error.enhanced, cases[i].enh);
		assert_string_equal(c.error.text, cases[i].text);
		free(copy);
	}
}

static void
test_mail_params(void **state)
{
	struct smtp_cmd c;
	char *copy;
	const char *l = "MAIL FROM:<a@b.example> SIZE=12345 body=8bitmime SMTPUTF8 RET=HDRS "
	                "ENVID=QQ+2BZ AUTH=<>";

	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_true(c.mail.has_size);
	assert_int_equal(c.mail.size, 12345);
	assert_int_equal(c.mail.body, SMTP_BODY_8BITMIME);
	assert_true(c.mail.smtputf8);
	assert_int_equal(c.mail.ret, SMTP_RET_HDRS);
	assert_true(c.mail.has_envid);
	assert_slice(c.mail.envid, "QQ+2BZ");
	assert_true(c.mail.has_auth);
	assert_slice(c.mail.auth, "<>");
	free(copy);

	l = "MAIL FROM:<> BODY=7BIT RET=FULL AUTH=joe+40x.example SIZE=0";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_true(c.path.null);
	assert_int_equal(c.mail.body, SMTP_BODY_7BIT);
	assert_int_equal(c.mail.ret, SMTP_RET_FULL);
	assert_false(c.mail.smtputf8);
	assert_false(c.mail.has_envid);
	assert_slice(c.mail.auth, "joe+40x.example");
	assert_true(c.mail.has_size);
	assert_int_equal(c.mail.size, 0);
	free(copy);

	/* 20 digits (RFC 1870 max) beyond UINT64_MAX saturate */
	l = "MAIL FROM:<a@b.c> SIZE=99999999999999999999";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_int_equal(c.mail.size, UINT64_MAX);
	free(copy);
	l = "MAIL FROM:<a@b.c> SIZE=18446744073709551615";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_int_equal(c.mail.size, UINT64_MAX);
	free(copy);
	l = "MAIL FROM:<a@b.c> SIZE=18446744073709551614";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_int_equal(c.mail.size, UINT64_MAX - 1);
	free(copy);

	/* no parameters: everything "not given" */
	l = "MAIL FROM:<a@b.c>";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_false(c.mail.has_size);
	assert_int_equal(c.mail.body, SMTP_BODY_NONE);
	assert_int_equal(c.mail.ret, SMTP_RET_NONE);
	assert_false(c.mail.has_auth);
	free(copy);
}

static void
test_rcpt_params(void **state)
{
	static const struct {
		const char *line;
		unsigned notify;
		const char *otype, *oaddr;
	} cases[] = {
	    {"RCPT TO:<a@b.c> NOTIFY=NEVER", SMTP_NOTIFY_NEVER, 0, 0},
	    {"RCPT TO:<a@b.c> NOTIFY=success,FAILURE,Delay",
	        SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, 0, 0},
	    {"RCPT TO:<a@b.c> NOTIFY=DELAY", SMTP_NOTIFY_DELAY, 0, 0},
	    {"RCPT TO:<a@b.c> ORCPT=rfc822;a+2Bb@c.d NOTIFY=FAILURE", SMTP_NOTIFY_FAILURE, "rfc822",
	        "a+2Bb@c.d"},
	    {"RCPT TO:<a@b.c>", 0, 0, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct smtp_cmd c;
		char *copy;

		assert_int_equal(
		    parse_lim(cases[i].line, strlen(cases[i].line), NULL, &c, &copy), 0);
		assert_int_equal(c.rcpt.notify, cases[i].notify);
		assert_int_equal(c.rcpt.has_orcpt, cases[i].otype != NULL);
		if (cases[i].otype) {
			assert_slice(c.rcpt.orcpt_type, cases[i].otype);
			assert_slice(c.rcpt.orcpt_addr, cases[i].oaddr);
		}
		free(copy);
	}
}

static void
test_auth(void **state)
{
	struct smtp_cmd c;
	char *copy;
	const char *l = "AUTH PLAIN AGpvZQBzZWNyZXQ=";

	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_slice(c.auth_mech, "PLAIN");
	assert_true(c.has_auth_initial);
	assert_slice(c.auth_initial, "AGpvZQBzZWNyZXQ=");
	free(copy);
	l = "AUTH login";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_slice(c.auth_mech, "login");
	assert_false(c.has_auth_initial);
	free(copy);
	l = "AUTH PLAIN =";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_slice(c.auth_initial, "=");
	free(copy);
	l = "AUTH SCRAM-SHA-256 AA==";
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	assert_slice(c.auth_mech, "SCRAM-SHA-256");
	free(copy);
	l = "AUTH ABCDEFGHIJKLMNOPQRST"; /* 20 characters: the maximum */
	assert_int_equal(parse_lim(l, strlen(l), NULL, &c, &copy), 0);
	free(copy);
}

/* Build "VERB <filler>" of exactly len bytes. */
static char *
line_of(const char *prefix, size_t len, char fill)
{
	char *s = xmalloc(len + 1);
	size_t pl = strlen(prefix);

	memcpy(s, prefix, pl);
	memset(s + pl, fill, len - pl);
	s[len] = '\0';
	return s;
}

static void
test_line_limit(void **state)
{
	struct smtp_parse_limits lim;
	struct smtp_cmd c;
	char *s;

	/* 512 octets with CRLF: 510 of text is the maximum */
	s = line_of("NOOP ", 509, 'x');
	assert_int_equal(smtp_parse_command(s, 509, NULL, &c), 0);
	free(s);
	s = line_of("NOOP ", 510, 'x');
	assert_int_equal(smtp_parse_command(s, 510, NULL, &c), 0);
	free(s);
	s = line_of("NOOP ", 511, 'x');
	assert_int_equal(smtp_parse_command(s, 511, NULL, &c), MN_ETOOBIG);
	assert_int_equal(c.error.code, 500);
	assert_string_equal(c.error.enhanced, "5.5.2");
	assert_string_equal(c.error.text, "Line too long");
	free(s);

	/* raised for AUTH initial responses, up to 4096 */
	smtp_parse_limits_default(&lim);
	lim.max_line = 4096;
	s = line_of("AUTH PLAIN ", 4094, 'A');
	s[4093] = '=';
	assert_int_equal(smtp_parse_command(s, 4094, &lim, &c), MN_EPARSE); /* 4083 % 4 */
	free(s);
	s = line_of("AUTH PLAIN ", 4091, 'A');
	assert_int_equal(smtp_parse_command(s, 4091, &lim, &c), 0);
	assert_int_equal(c.auth_initial.len, 4080);
	free(s);
	s = line_of("NOOP ", 4094, 'x');
	assert_int_equal(smtp_parse_command(s, 4093, &lim, &c), 0);
	assert_int_equal(smtp_parse_command(s, 4094, &lim, &c), 0);
	free(s);
	s = line_of("NOOP ", 4095, 'x');
	assert_int_equal(smtp_parse_command(s, 4095, &lim, &c), MN_ETOOBIG);
	/* clamped: 8192 acts as 4096, 100 acts as 512 */
	lim.max_line = 8192;
	assert_int_equal(smtp_parse_command(s, 4095, &lim, &c), MN_ETOOBIG);
	assert_int_equal(smtp_parse_command(s, 4094, &lim, &c), 0);
	lim.max_line = 100;
	assert_int_equal(smtp_parse_command(s, 510, &lim, &c), 0);
	assert_int_equal(smtp_parse_command(s, 511, &lim, &c), MN_ETOOBIG);
	free(s);
}

static int
parse_path_line(const char *verb, const char *local, size_t llen, const char *domain,
    const struct smtp_parse_limits *lim, struct smtp_cmd *c)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	buf_printf(&b, "%s<", verb);
	for (size_t i = 0; i < llen; i++)
		buf_append(&b, local, 1);
	buf_printf(&b, "@%s>", domain);
	rc = smtp_parse_command((const char *)b.data, b.len, lim, c);
	/* slices point into b; only the code and status are used after */
	buf_fini(&b);
	return rc;
}

static char *
domain_of(size_t len)
{
	/* labels of 63 'a' separated by dots, last label shortened */
	char *d = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++)
		d[i] = (i % 64 == 63) ? '.' : 'a';
	if (d[len - 1] == '.')
		d[len - 1] = 'b';
	d[len] = '\0';
	return d;
}

static void
test_path_limits(void **state)
{
	struct smtp_parse_limits lim;
	struct smtp_cmd c;
	char *d, *line;

	smtp_parse_limits_default(&lim);
	/* local part: 64 octets (RFC 5321 §4.5.3.1.1) */
	assert_int_equal(parse_path_line("RCPT TO:", "a", 63, "x.example", &lim, &c), 0);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 64, "x.example", &lim, &c), 0);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 65, "x.example", &lim, &c), MN_EPARSE);
	assert_int_equal(c.error.code, 501);
	assert_string_equal(c.error.enhanced, "5.1.3");
	assert_string_equal(c.error.text, "Path too long");
	assert_int_equal(parse_path_line("MAIL FROM:", "a", 65, "x.example", &lim, &c), MN_EPARSE);
	assert_string_equal(c.error.enhanced, "5.1.7");

	/* path: 256 octets with brackets (§4.5.3.1.3): local 64 + "@" + domain
	 * + "<>" = 256 means a domain of 189 */
	d = domain_of(188);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 64, d, &lim, &c), 0);
	assert_int_equal(c.path.raw.len, 255);
	free(d);
	d = domain_of(189);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 64, d, &lim, &c), 0);
	assert_int_equal(c.path.raw.len, 256);
	free(d);
	d = domain_of(190);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 64, d, &lim, &c), MN_EPARSE);
	assert_string_equal(c.error.text, "Path too long");
	free(d);

	/* a configured smaller domain limit: 19/20/21 */
	lim.max_domain = 20;
	assert_int_equal(parse_path_line("RCPT TO:", "a", 1, "aaaaaaaaaaaaaaaaa.bc", &lim, &c), 0);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 1, "aaaaaaaaaaaaaaaa.bc", &lim, &c), 0);
	assert_int_equal(
	    parse_path_line("RCPT TO:", "a", 1, "aaaaaaaaaaaaaaaaaa.bc", &lim, &c), MN_EPARSE);
	lim.max_domain = 1000; /* clamped to 255 */

	/* label: 63 octets (RFC 1035 §2.3.4) */
	d = domain_of(63);
	assert_int_equal(parse_path_line("RCPT TO:", "a", 1, d, &lim, &c), 0);
	free(d);
	d = line_of("", 64, 'a');
	assert_int_equal(parse_path_line("RCPT TO:", "a", 1, d, &lim, &c), MN_EPARSE);
	assert_string_equal(c.error.text, "Bad recipient address syntax");
	free(d);

	/* EHLO domain: 255 octets (§4.5.3.1.2) */
	d = domain_of(255);
	line = xasprintf("EHLO %s", d);
	assert_int_equal(smtp_parse_command(line, strlen(line) - 1, NULL, &c), 0);
	assert_int_equal(smtp_parse_command(line, strlen(line), NULL, &c), 0);
	free(line);
	free(d);
	d = domain_of(256);
	line = xasprintf("EHLO %s", d);
	assert_int_equal(smtp_parse_command(line, strlen(line), NULL, &c), MN_EPARSE);
	free(line);
	free(d);
}

static void
test_param_limit(void **state)
{
	struct smtp_parse_limits lim;
	struct smtp_cmd c;
	const char *l2 = "MAIL FROM:<a@b.c> SIZE=1 BODY=7BIT";
	const char *l3 = "MAIL FROM:<a@b.c> SIZE=1 BODY=7BIT RET=FULL";
	const char *l6 = "MAIL FROM:<a@b.c> SIZE=1 BODY=7BIT RET=FULL SMTPUTF8 ENVID=x AUTH=<>";

	smtp_parse_limits_default(&lim);
	lim.max_params = 3;
	assert_int_equal(smtp_parse_command(l2, strlen(l2), &lim, &c), 0);
	assert_int_equal(smtp_parse_command(l3, strlen(l3), &lim, &c), 0);
	lim.max_params = 2;
	assert_int_equal(smtp_parse_command(l3, strlen(l3), &lim, &c), MN_EPARSE);
	assert_string_equal(c.error.text, "Too many parameters");
	assert_int_equal(c.error.code, 501);
	assert_int_equal(smtp_parse_command(l6, strlen(l6), NULL, &c), 0);

	/* ENVID: 100 characters after decoding (RFC 3461 §4.4) */
	{
		char *l = line_of("MAIL FROM:<a@b.c> ENVID=", 24 + 100, 'e');

		assert_int_equal(smtp_parse_command(l, strlen(l), NULL, &c), 0);
		free(l);
		l = line_of("MAIL FROM:<a@b.c> ENVID=", 24 + 101, 'e');
		assert_int_equal(smtp_parse_command(l, strlen(l), NULL, &c), MN_EPARSE);
		free(l);
		l = line_of("MAIL FROM:<a@b.c> ENVID=", 24 + 99 + 3, 'e');
		memcpy(l + 24, "+2B", 3); /* 102 encoded, 100 decoded */
		assert_int_equal(smtp_parse_command(l, strlen(l), NULL, &c), 0);
		free(l);
	}
}

static void
test_xtext(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
	} cases[] = {
	    {"", 0, ""},
	    {"abc", 0, "abc"},
	    {"a+2Bb", 0, "a+b"},
	    {"+3D", 0, "="},
	    {"+20+7E", 0, " ~"},
	    {"+00", 0, "\0"},
	    {"+FF", 0, "\xff"},
	    {"+2b", MN_EPARSE, 0},
	    {"+2", MN_EPARSE, 0},
	    {"+", MN_EPARSE, 0},
	    {"a=b", MN_EPARSE, 0},
	    {"a b", MN_EPARSE, 0},
	    {"+G0", MN_EPARSE, 0},
	    {"\x7f", MN_EPARSE, 0},
	    {"\xc3\xa9", MN_EPARSE, 0},
	};
	char out[16];
	size_t n;
	struct buf b;

	for (size_t i = 0; i < N(cases); i++) {
		struct slice in = slice_from_cstr(cases[i].in);
		int rc = smtp_xtext_decode(in, out, sizeof(out), &n);

		if (rc != cases[i].rc)
			fail_msg("xtext case %zu '%s': rc %d", i, cases[i].in, rc);
		assert_int_equal(smtp_xtext_valid(in), rc == 0);
		if (rc == 0) {
			size_t want = strcmp(cases[i].in, "+00") == 0 ? 1 : strlen(cases[i].out);

			assert_int_equal(n, want);
			assert_memory_equal(out, cases[i].out, n);
		}
	}
	assert_int_equal(smtp_xtext_decode(SLICE_LIT("abcd"), out, 3, &n), MN_ETOOBIG);
	assert_int_equal(smtp_xtext_decode(SLICE_LIT("abc"), out, 3, &n), 0);

	buf_init(&b, 0);
	assert_int_equal(smtp_xtext_encode(&b, SLICE_LIT("a+b=c d\xe9~")), 0);
	assert_string_equal(buf_cstr(&b), "a+2Bb+3Dc+20d+E9~");
	assert_int_equal(
	    smtp_xtext_decode((struct slice){(char *)b.data, b.len}, out, sizeof(out), &n), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "a+b=c d\xe9~", 9);
	buf_fini(&b);
}

static void
test_local_unquote(void **state)
{
	char out[SMTP_LOCAL_MAX];
	size_t n;

	assert_int_equal(smtp_local_unquote(SLICE_LIT("\"john smith\""), out, sizeof(out), &n), 0);
	assert_int_equal(n, 10);
	assert_memory_equal(out, "john smith", 10);
	assert_int_equal(smtp_local_unquote(SLICE_LIT("\"a\\\"b\\\\c\""), out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "a\"b\\c", 5);
	assert_int_equal(smtp_local_unquote(SLICE_LIT("plain.user"), out, sizeof(out), &n), 0);
	assert_int_equal(n, 10);
	assert_int_equal(smtp_local_unquote(SLICE_LIT("\"\""), out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(smtp_local_unquote(SLICE_LIT("abcdef"), out, 5, &n), MN_ETOOBIG);
}

static void
test_verb_names(void **state)
{
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(SMTP_VERB_NONE), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_commands),
	    cmocka_unit_test(test_invalid_commands),
	    cmocka_unit_test(test_exact_reply_texts),
	    cmocka_unit_test(test_mail_params),
	    cmocka_unit_test(test_rcpt_params),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_line_limit),
	    cmocka_unit_test(test_path_limits),
	    cmocka_unit_test(test_param_limit),
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_local_unquote),
	    cmocka_unit_test(test_verb_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
