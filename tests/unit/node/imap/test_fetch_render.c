/*
 * test_fetch_render.c - ENVELOPE, BODY and BODYSTRUCTURE of a corpus of
 * real-world-shaped messages against exact expected strings (checked by
 * hand against the RFC 3501 §9 grammar and Dovecot's formats), section
 * parsing and extraction (RFC 3501 §6.4.5), partials and string quoting.
 * Messages are written with LF and converted to CRLF (as the store keeps
 * them) unless a case says LF; each is copied into an exact-size heap
 * buffer so ASan catches any read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/imap/fetch_render.h"
#include "storage/message/mime.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char msg_simple[] =
    "From: Alice Example <alice@example.org>\n"
    "To: bob@example.net\n"
    "Subject: Lunch?\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
    "Message-ID: <B27397-0100000@example.org>\n"
    "\n"
    "Are we still on for lunch?\n"
    "-- Alice\n";

static const char msg_alternative[] =
    "From: \"Doe, John\" <john@example.org>\n"
    "To: Mary <mary@example.net>, team: a@example.net, \"B. B.\" <b@example.net>;\n"
    "Cc: undisclosed-recipients:;\n"
    "Subject: =?utf-8?B?5L2g5aW9?= \"quoted\" \\ back\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\n"
    "In-Reply-To: <parent@example.org>\n"
    "Message-ID: <alt@example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/alternative;\n"
    " boundary=\"==alt==\"\n"
    "\n"
    "This is a multi-part message in MIME format.\n"
    "--==alt==\n"
    "Content-Type: text/plain; charset=\"UTF-8\"; format=flowed\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Caf=C3=A9 au lait=\n"
    " please.\n"
    "--==alt==\n"
    "Content-Type: TEXT/HTML; CHARSET=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "<p>Café</p>\n"
    "--==alt==--\n"
    "epilogue\n";

static const char msg_mixed[] =
    "From: =?gb2312?B?1tDOxA==?= <zhong@example.cn>\n"
    "Sender: sec@example.cn\n"
    "Reply-To: \n"
    "To: =?utf-8?B?5byg5LiJ?= <zs@example.cn>\n"
    "Subject: 报告\n"
    "Date: Wed, 2 Jan 2019 08:00:00 +0800\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=b1\n"
    "\n"
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "5L2g5aW9\n"
    "--b1\n"
    "Content-Type: application/pdf; name=\"=?utf-8?B?5Lit5paH?=.pdf\"\n"
    "Content-Disposition: attachment;\n"
    " filename*0*=utf-8''%E4%B8%AD;\n"
    " filename*1*=%E6%96%87;\n"
    " filename*2=\".pdf\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-ID: <att1@example.cn>\n"
    "Content-Description: report (pdf)\n"
    "Content-Language: zh-CN, en\n"
    "Content-Location: http://example.cn/\n"
    " r.pdf\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    "\n"
    "JVBERi0=\n"
    "--b1\n"
    "Content-Type: image/png\n"
    "Content-Disposition: inline; filename*=utf-8'en'%E5%9B%BE.png\n"
    "\n"
    "iVBORw0=\n"
    "--b1--\n";

static const char msg_nested[] =
    "From: outer@example.org\n"
    "To: x@example.org\n"
    "Subject: Fwd: inner\n"
    "Date: Thu, 3 Jan 2019 09:00:00 +0000\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "\n"
    "preamble\n"
    "--outer\n"
    "Content-Type: text/plain\n"
    "\n"
    "see attached\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "Content-Disposition: attachment\n"
    "\n"
    "From: Inner Person <inner@example.com>\n"
    "To: a@example.com, b@example.com\n"
    "Subject: inner\n"
    "Date: Fri, 4 Jan 2019 10:00:00 +0100\n"
    "Message-ID: <inner@example.com>\n"
    "Content-Type: multipart/alternative; boundary=\"inner\"\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain\n"
    "--inner\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>html</b>\n"
    "--inner--\n"
    "--outer--\n";

static const char msg_broken[] =
    "From: a@example.org\n"
    "Subject: broken\n"
    "Content-Type: multipart/mixed; boundary=\"nothere\"\n"
    "\n"
    "--other\n"
    "Content-Type: text/plain\n"
    "\n"
    "text\n";

static const char msg_nofinal[] =
    "From: a@example.org\n"
    "Subject: no final boundary\n"
    "Content-Type: multipart/mixed; boundary=xyz\n"
    "\n"
    "--xyz\n"
    "Content-Type: text/plain\n"
    "\n"
    "one\n"
    "--xyz\n"
    "Content-Type: text/plain\n"
    "\n"
    "two\n";

static const char msg_digest[] =
    "From: d@example.org\n"
    "Content-Type: multipart/digest; boundary=dg\n"
    "\n"
    "--dg\n"
    "\n"
    "From: m1@example.org\n"
    "Subject: first\n"
    "\n"
    "body1\n"
    "--dg\n"
    "Content-Type: text/plain\n"
    "\n"
    "not a message\n"
    "--dg--\n";

static const char msg_noboundary[] =
    "Subject: nb\n"
    "Content-Type: multipart/mixed\n"
    "\n"
    "text\n";

static const char msg_noheader[] =
    "\n"
    "just a body\n";

static const char msg_headeronly[] =
    "Subject: only header\n"
    "From: h@example.org\n";

static const char msg_badtype[] =
    "Content-Type: text\n"
    "Content-Transfer-Encoding: ?invalid x\n"
    "\n"
    "x";

/* to_msg - an exact-size heap copy, LF turned into CRLF when crlf. */
static char *
to_msg(const char *lf, bool crlf, size_t *len)
{
	size_t n = 0;
	char *m, *w;

	for (const char *p = lf; *p != '\0'; p++)
		n += (*p == '\n' && crlf) ? 2 : 1;
	m = xmalloc(n > 0 ? n : 1);
	w = m;
	for (const char *p = lf; *p != '\0'; p++) {
		if (*p == '\n' && crlf)
			*w++ = '\r';
		*w++ = *p;
	}
	*len = n;
	return m;
}

struct corpus_case {
	const char *name;
	const char *msg;
	bool lf_only;
	const char *body;          /* BODY */
	const char *bodystructure; /* BODYSTRUCTURE */
	const char *envelope;
};

static const struct corpus_case corpus[] = {
    {"simple", msg_simple, false,
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 38 2)",
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 38 2 NIL NIL NIL NIL"
	        ")",
	"(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Lunch?\" ((\"Alice Example\" NIL \"alice\" \"e"
	        "xample.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example"
	        "\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL "
	        "\"<B27397-0100000@example.org>\")"},
    {"alternative", msg_alternative, false,
	"((\"text\" \"plain\" (\"charset\" \"UTF-8\" \"format\" \"flowed\") NIL NIL \"quoted-"
	        "printable\" 28 1)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"8bit\" 12 0) "
	        "\"alternative\")",
	"((\"text\" \"plain\" (\"charset\" \"UTF-8\" \"format\" \"flowed\") NIL NIL \"quoted-"
	        "printable\" 28 1 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL "
	        "\"8bit\" 12 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"==alt==\") NIL NIL NI"
	        "L)",
	"(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"=?utf-8?B?5L2g5aW9?= \\\"quoted\\\" \\\\ back"
	        "\" ((\"Doe, John\" NIL \"john\" \"example.org\")) ((\"Doe, John\" NIL \"john\" \"exa"
	        "mple.org\")) ((\"Doe, John\" NIL \"john\" \"example.org\")) ((\"Mary\" NIL \"mary\" "
	        "\"example.net\")(NIL NIL \"team\" NIL)(NIL NIL \"a\" \"example.net\")(\"B. B.\" NIL "
	        "\"b\" \"example.net\")(NIL NIL NIL NIL)) ((NIL NIL \"undisclosed-recipients\" NIL)(N"
	        "IL NIL NIL NIL)) NIL \"<parent@example.org>\" \"<alt@example.org>\")"},
    {"mixed", msg_mixed, false,
	"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 8 0)(\"application\""
	        " \"pdf\" (\"name\" \"=?utf-8?B?5Lit5paH?=.pdf\") \"<att1@example.cn>\" \"report (pdf"
	        ")\" \"base64\" 8)(\"image\" \"png\" NIL NIL NIL \"7bit\" 8) \"mixed\")",
	"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 8 0 NIL NIL NIL NIL)"
	        "(\"application\" \"pdf\" (\"name\" \"=?utf-8?B?5Lit5paH?=.pdf\") \"<att1@example.cn>"
	        "\" \"report (pdf)\" \"base64\" 8 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"fil"
	        "ename*\" \"utf-8''%E4%B8%AD%E6%96%87.pdf\")) (\"zh-CN\" \"en\") \"http://example.cn/"
	        "r.pdf\")(\"image\" \"png\" NIL NIL NIL \"7bit\" 8 NIL (\"inline\" (\"filename*\" \"u"
	        "tf-8'en'%E5%9B%BE.png\")) NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
	"(\"Wed, 2 Jan 2019 08:00:00 +0800\" {6}\r\n报告 ((\"=?utf-8?b?5Lit5paH?=\" NIL \"zhong"
	        "\" \"example.cn\")) ((NIL NIL \"sec\" \"example.cn\")) ((\"=?utf-8?b?5Lit5paH?=\" NI"
	        "L \"zhong\" \"example.cn\")) ((\"=?utf-8?b?5byg5LiJ?=\" NIL \"zs\" \"example.cn\")) "
	        "NIL NIL NIL NIL)"},
    {"nested", msg_nested, false,
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0)(\"message\" "
	        "\"rfc822\" NIL NIL NIL \"7bit\" 320 (\"Fri, 4 Jan 2019 10:00:00 +0100\" \"inner\" (("
	        "\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \""
	        "example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((NIL NIL \"a\" "
	        "\"example.com\")(NIL NIL \"b\" \"example.com\")) NIL NIL NIL \"<inner@example.com>\""
	        ") ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"h"
	        "tml\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) \"alternative\") 15) \"mixed"
	        "\")",
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NI"
	        "L)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 320 (\"Fri, 4 Jan 2019 10:00:00 +0100"
	        "\" \"inner\" ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" N"
	        "IL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) (("
	        "NIL NIL \"a\" \"example.com\")(NIL NIL \"b\" \"example.com\")) NIL NIL NIL \"<inner@"
	        "example.com>\") ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0"
	        " NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0"
	        " NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 15 NIL (\"at"
	        "tachment\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
	"(\"Thu, 3 Jan 2019 09:00:00 +0000\" \"Fwd: inner\" ((NIL NIL \"outer\" \"example.org"
	        "\")) ((NIL NIL \"outer\" \"example.org\")) ((NIL NIL \"outer\" \"example.org\")) ((N"
	        "IL NIL \"x\" \"example.org\")) NIL NIL NIL NIL)"},
    {"broken", msg_broken, false,
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL"
	        ") \"mixed\" (\"boundary\" \"nothere\") NIL NIL NIL)",
	"(NIL \"broken\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
	        "((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)"},
    {"nofinal", msg_nofinal, false,
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0)(\"text\" \"pla"
	        "in\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) \"mixed\")",
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL"
	        ")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL"
	        ") \"mixed\" (\"boundary\" \"xyz\") NIL NIL NIL)",
	"(NIL \"no final boundary\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"examp"
	        "le.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)"},
    {"digest", msg_digest, false,
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 45 (NIL \"first\" ((NIL NIL \"m1\" \"e"
	        "xample.org\")) ((NIL NIL \"m1\" \"example.org\")) ((NIL NIL \"m1\" \"example.org\"))"
	        " NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit"
	        "\" 5 0) 3)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 0) \"di"
	        "gest\")",
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 45 (NIL \"first\" ((NIL NIL \"m1\" \"e"
	        "xample.org\")) ((NIL NIL \"m1\" \"example.org\")) ((NIL NIL \"m1\" \"example.org\"))"
	        " NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit"
	        "\" 5 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-asci"
	        "i\") NIL NIL \"7bit\" 13 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"dg\") NIL NIL"
	        " NIL)",
	"(NIL NIL ((NIL NIL \"d\" \"example.org\")) ((NIL NIL \"d\" \"example.org\")) ((NIL N"
	        "IL \"d\" \"example.org\")) NIL NIL NIL NIL NIL)"},
    {"noboundary", msg_noboundary, false,
	"(\"multipart\" \"mixed\" NIL NIL NIL \"7bit\" 6)",
	"(\"multipart\" \"mixed\" NIL NIL NIL \"7bit\" 6 NIL NIL NIL NIL)",
	"(NIL \"nb\" NIL NIL NIL NIL NIL NIL NIL NIL)"},
    {"noheader", msg_noheader, false,
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1)",
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL"
	        ")",
	"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
    {"headeronly", msg_headeronly, false,
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
	"(NIL \"only header\" ((NIL NIL \"h\" \"example.org\")) ((NIL NIL \"h\" \"example.org"
	        "\")) ((NIL NIL \"h\" \"example.org\")) NIL NIL NIL NIL NIL)"},
    {"badtype", msg_badtype, false,
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)",
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
    {"simple-lf", msg_simple, true,
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 36 2)",
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 36 2 NIL NIL NIL NIL"
	        ")",
	"(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Lunch?\" ((\"Alice Example\" NIL \"alice\" \"e"
	        "xample.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example"
	        "\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL "
	        "\"<B27397-0100000@example.org>\")"},
    {"nested-lf", msg_nested, true,
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0)(\"message\" "
	        "\"rfc822\" NIL NIL NIL \"7bit\" 305 (\"Fri, 4 Jan 2019 10:00:00 +0100\" \"inner\" (("
	        "\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \""
	        "example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((NIL NIL \"a\" "
	        "\"example.com\")(NIL NIL \"b\" \"example.com\")) NIL NIL NIL \"<inner@example.com>\""
	        ") ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"h"
	        "tml\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) \"alternative\") 15) \"mixed"
	        "\")",
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NI"
	        "L)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 305 (\"Fri, 4 Jan 2019 10:00:00 +0100"
	        "\" \"inner\" ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" N"
	        "IL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) (("
	        "NIL NIL \"a\" \"example.com\")(NIL NIL \"b\" \"example.com\")) NIL NIL NIL \"<inner@"
	        "example.com>\") ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0"
	        " NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0"
	        " NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 15 NIL (\"at"
	        "tachment\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
	"(\"Thu, 3 Jan 2019 09:00:00 +0000\" \"Fwd: inner\" ((NIL NIL \"outer\" \"example.org"
	        "\")) ((NIL NIL \"outer\" \"example.org\")) ((NIL NIL \"outer\" \"example.org\")) ((N"
	        "IL NIL \"x\" \"example.org\")) NIL NIL NIL NIL)"},
};

static void
check_str(const char *what, const char *name, struct buf *got, const char *want)
{
	const char *g = buf_cstr(got);

	if (strcmp(g, want) != 0) {
		printf("%s %s:\nGOT  %s\nWANT %s\n", name, what, g, want);
		fail_msg("%s of %s differs", what, name);
	}
}

static void
test_corpus(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(corpus); i++) {
		const struct corpus_case *c = &corpus[i];
		struct mime_part *root;
		struct buf b;
		size_t len;
		char *m = to_msg(c->msg, !c->lf_only, &len);

		assert_int_equal(mime_parse(m, len, &root), 0);
		buf_init(&b, 0);
		assert_int_equal(imap_render_bodystructure(root, m, false, &b), 0);
		check_str("BODY", c->name, &b, c->body);
		buf_reset(&b);
		assert_int_equal(imap_render_bodystructure(root, m, true, &b), 0);
		check_str("BODYSTRUCTURE", c->name, &b, c->bodystructure);
		buf_reset(&b);
		assert_int_equal(imap_render_envelope(root, m, &b), 0);
		check_str("ENVELOPE", c->name, &b, c->envelope);
		buf_fini(&b);
		mime_free(root);
		free(m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
