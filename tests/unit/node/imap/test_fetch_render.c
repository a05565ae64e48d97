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

static const char msg_simple[] = "From: Alice Example <alice@example.org>\n"
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

static const char msg_mixed[] = "From: =?gb2312?B?1tDOxA==?= <zhong@example.cn>\n"
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

static const char msg_nested[] = "From: outer@example.org\n"
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

static const char msg_broken[] = "From: a@example.org\n"
                                 "Subject: broken\n"
                                 "Content-Type: multipart/mixed; boundary=\"nothere\"\n"
                                 "\n"
                                 "--other\n"
                                 "Content-Type: text/plain\n"
                                 "\n"
                                 "text\n";

static const char msg_nofinal[] = "From: a@example.org\n"
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

static const char msg_digest[] = "From: d@example.org\n"
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

static const char msg_noboundary[] = "Subject: nb\n"
                                     "Content-Type: multipart/mixed\n"
                                     "\n"
                                     "text\n";

static const char msg_noheader[] = "\n"
                                   "just a body\n";

static const char msg_headeronly[] = "Subject: only header\n"
                                     "From: h@example.org\n";

static const char msg_badtype[] = "Content-Type: text\n"
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
    {"noboundary", msg_noboundary, false, "(\"multipart\" \"mixed\" NIL NIL NIL \"7bit\" 6)",
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

/* ==== envelope details ==================================================== */

static void
test_envelope_cases(void **state)
{
	static const struct {
		const char *hdr; /* header fields, LF */
		const char *want;
	} cases[] = {
	    /* no From: Sender stays, Reply-To has nothing to default to */
	    {"Sender: s@x.example\n",
	        "(NIL NIL NIL ((NIL NIL \"s\" \"x.example\")) NIL NIL NIL NIL NIL NIL)"},
	    /* entries before a syntax error are kept */
	    {"To: a@b.example, bad bad\n",
	        "(NIL NIL NIL NIL NIL ((NIL NIL \"a\" \"b.example\")) NIL NIL NIL NIL)"},
	    /* an unclosed group is closed */
	    {"Cc: g: a@b.example\n", "(NIL NIL NIL NIL NIL NIL ((NIL NIL \"g\" NIL)(NIL NIL \"a\" "
	                             "\"b.example\")(NIL NIL NIL "
	                             "NIL)) NIL NIL NIL)"},
	    /* nothing usable at all: NIL */
	    {"Bcc: foo bar\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    {"Bcc: <>\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    /* a lone local part */
	    {"From: MAILER-DAEMON\n", "(NIL NIL ((NIL NIL \"MAILER-DAEMON\" \"MISSING_DOMAIN\")) "
	                              "((NIL NIL \"MAILER-DAEMON\" "
	                              "\"MISSING_DOMAIN\")) ((NIL NIL \"MAILER-DAEMON\" "
	                              "\"MISSING_DOMAIN\")) NIL NIL NIL NIL "
	                              "NIL)"},
	    /* folding removed, TAB read as space in the subject; first wins */
	    {"Subject: a\n\tb  c\nSubject: second\n",
	        "(NIL \"a b  c\" NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    /* empty values are empty strings, not NIL */
	    {"Subject:\nDate: \n", "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    /* quotes and backslashes in names are escaped */
	    {"From: \"a \\\"q\\\" b\\\\\" <x@y.example>\n",
	        "(NIL NIL ((\"a \\\"q\\\" b\\\\\" NIL \"x\" \"y.example\")) ((\"a \\\"q\\\" "
	        "b\\\\\" NIL "
	        "\"x\" \"y.example\")) ((\"a \\\"q\\\" b\\\\\" NIL \"x\" \"y.example\")) NIL NIL "
	        "NIL "
	        "NIL NIL)"},
	    /* a long non-ASCII name: several encoded-words, none over 75 */
	    {"To: 一二三四五六七八九十甲乙丙丁戊己庚辛壬癸 <n@x.example>\n",
	        "(NIL NIL NIL NIL NIL "
	        "((\"=?utf-8?b?5LiA5LqM5LiJ5Zub5LqU5YWt5LiD5YWr5Lmd5Y2B55Sy5LmZ5LiZ5"
	        "LiB5oiK?= =?utf-8?b?5bex5bqa6L6b5aOs55m4?=\" NIL \"n\" \"x.example\")) NIL NIL "
	        "NIL NIL)"},
	    /* raw 8-bit in a Message-ID goes out as a literal */
	    {"Message-ID: <é@x>\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL {6}\r\n<é@x>)"},
	    /* field names are matched without case */
	    {"FROM: a@b.example\nreply-TO: r@b.example\nIN-REPLY-TO: <p@x>\n",
	        "(NIL NIL ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) ((NIL "
	        "NIL "
	        "\"r\" \"b.example\")) NIL NIL NIL \"<p@x>\" NIL)"},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct mime_part *root;
		struct buf lf, b;
		size_t len;
		char *m;

		buf_init(&lf, 0);
		buf_printf(&lf, "%s\nbody\n", cases[i].hdr);
		m = to_msg(buf_cstr(&lf), true, &len);
		assert_int_equal(mime_parse(m, len, &root), 0);
		buf_init(&b, 0);
		assert_int_equal(imap_render_envelope(root, m, &b), 0);
		check_str("ENVELOPE", cases[i].hdr, &b, cases[i].want);
		buf_fini(&b);
		buf_fini(&lf);
		mime_free(root);
		free(m);
	}
}

/* A full buffer gives MN_ETOOBIG at every max below the item's length,
 * never a write past max; exactly the length fits. */
static void
test_render_out_of_room(void **state)
{
	struct mime_part *root;
	size_t len, full[2];
	char *m = to_msg(msg_mixed, true, &len);

	(void)state;
	assert_int_equal(mime_parse(m, len, &root), 0);
	for (int which = 0; which < 2; which++) {
		struct buf b;

		buf_init(&b, 0);
		assert_int_equal(which ? imap_render_envelope(root, m, &b)
		                       : imap_render_bodystructure(root, m, true, &b),
		    0);
		full[which] = b.len;
		buf_fini(&b);
		for (size_t max = 1; max <= full[which]; max++) {
			buf_init(&b, max);
			assert_int_equal(which ? imap_render_envelope(root, m, &b)
			                       : imap_render_bodystructure(root, m, true, &b),
			    max < full[which] ? MN_ETOOBIG : 0);
			assert_true(b.len <= max);
			buf_fini(&b);
		}
	}
	mime_free(root);
	free(m);
}

/* ==== quoting ============================================================= */

static void
test_quote(void **state)
{
	static const struct {
		struct slice in;
		const char *want;
		size_t want_len;
	} cases[] = {
	    {SLICE_LIT(""), "\"\"", 2},
	    {SLICE_LIT("abc"), "\"abc\"", 5},
	    {SLICE_LIT("a\"b\\c"), "\"a\\\"b\\\\c\"", 9},
	    {SLICE_LIT("tab\there"), "\"tab\there\"", 10},
	    {SLICE_LIT("a\r\nb"), "{4}\r\na\r\nb", 9},
	    {SLICE_LIT("a\rb"), "{3}\r\na\rb", 8},
	    {SLICE_LIT("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9", 10},
	    {{"a\0b", 3},
	        "{3}\r\na\x80"
	        "b",
	        8},
	};
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < N(cases); i++) {
		buf_reset(&b);
		assert_int_equal(imap_quote(&b, cases[i].in), 0);
		assert_int_equal(b.len, cases[i].want_len);
		assert_memory_equal(b.data, cases[i].want, cases[i].want_len);
	}
	buf_reset(&b);
	assert_int_equal(imap_nstring(&b, NULL), 0);
	assert_int_equal(imap_nstring(&b, "x"), 0);
	assert_string_equal(buf_cstr(&b), "NIL\"x\"");
	buf_fini(&b);
}

/* ==== section specs ======================================================= */

static void
test_section_parse(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		const char *canon; /* imap_section_write, when rc == 0 */
		int kind;
		size_t nparts;
	} cases[] = {
	    {"", 0, "", IMAP_SECTION_ALL, 0},
	    {"HEADER", 0, "HEADER", IMAP_SECTION_HEADER, 0},
	    {"header", 0, "HEADER", IMAP_SECTION_HEADER, 0},
	    {"Text", 0, "TEXT", IMAP_SECTION_TEXT, 0},
	    {"1", 0, "1", IMAP_SECTION_ALL, 1},
	    {"1.2.3", 0, "1.2.3", IMAP_SECTION_ALL, 3},
	    {"4.2.2.1", 0, "4.2.2.1", IMAP_SECTION_ALL, 4},
	    {"1.mime", 0, "1.MIME", IMAP_SECTION_MIME, 1},
	    {"2.HEADER", 0, "2.HEADER", IMAP_SECTION_HEADER, 1},
	    {"3.TEXT", 0, "3.TEXT", IMAP_SECTION_TEXT, 1},
	    {"1000000", 0, "1000000", IMAP_SECTION_ALL, 1},
	    {"HEADER.FIELDS (From To)", 0, "HEADER.FIELDS (FROM TO)", IMAP_SECTION_HEADER_FIELDS,
	        0},
	    {"header.fields.not (\"Subject\" x-Foo)", 0, "HEADER.FIELDS.NOT (SUBJECT X-FOO)",
	        IMAP_SECTION_HEADER_FIELDS_NOT, 0},
	    {"1.2.HEADER.FIELDS (Date)", 0, "1.2.HEADER.FIELDS (DATE)", IMAP_SECTION_HEADER_FIELDS,
	        2},
	    {"HEADER.FIELDS (\"x y\" \"\")", 0, "HEADER.FIELDS (\"X Y\" \"\")",
	        IMAP_SECTION_HEADER_FIELDS, 0},
	    {"MIME", MN_EPARSE, NULL, 0, 0},
	    {"0", MN_EPARSE, NULL, 0, 0},
	    {"01", MN_EPARSE, NULL, 0, 0},
	    {"1.0", MN_EPARSE, NULL, 0, 0},
	    {"1.", MN_EPARSE, NULL, 0, 0},
	    {".1", MN_EPARSE, NULL, 0, 0},
	    {"1..2", MN_EPARSE, NULL, 0, 0},
	    {"1.FOO", MN_EPARSE, NULL, 0, 0},
	    {"1 ", MN_EPARSE, NULL, 0, 0},
	    {"1000001", MN_EPARSE, NULL, 0, 0},
	    {"99999999999999999999", MN_EPARSE, NULL, 0, 0},
	    {"HEADERX", MN_EPARSE, NULL, 0, 0},
	    {"TEXT ", MN_EPARSE, NULL, 0, 0},
	    {"1.MIME.TEXT", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.1", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS ()", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (a", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (a)x", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (a) ", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS  (a)", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (a  b)", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (a )", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS(a)", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (\"a\\\"b\")", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS (\"ab)", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS ({3}\r\nabc)", MN_EPARSE, NULL, 0, 0},
	    {"HEADER.FIELDS.NOTX (a)", MN_EPARSE, NULL, 0, 0},
	};
	struct imap_section sec;
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < N(cases); i++) {
		int rc = imap_section_parse(slice_from_cstr(cases[i].spec), &sec);

		if (rc != cases[i].rc)
			fail_msg("section '%s': rc %d want %d", cases[i].spec, rc, cases[i].rc);
		if (rc != 0)
			continue;
		assert_int_equal(sec.kind, cases[i].kind);
		assert_int_equal(sec.nparts, cases[i].nparts);
		buf_reset(&b);
		assert_int_equal(imap_section_write(&sec, &b), 0);
		assert_string_equal(buf_cstr(&b), cases[i].canon);
	}

	/* Limits at max and max + 1. */
	for (size_t n = IMAP_SECTION_PARTS_MAX; n <= IMAP_SECTION_PARTS_MAX + 1; n++) {
		buf_reset(&b);
		for (size_t i = 0; i < n; i++)
			buf_printf(&b, "%s7", i > 0 ? "." : "");
		assert_int_equal(imap_section_parse((struct slice){(char *)b.data, b.len}, &sec),
		    n <= IMAP_SECTION_PARTS_MAX ? 0 : MN_ELIMIT);
		buf_reset(&b);
		for (size_t i = 0; i < n; i++)
			buf_printf(&b, "%s7", i > 0 ? "." : "");
		buf_append_str(&b, ".TEXT");
		assert_int_equal(imap_section_parse((struct slice){(char *)b.data, b.len}, &sec),
		    n <= IMAP_SECTION_PARTS_MAX ? 0 : MN_ELIMIT);
	}
	for (size_t n = IMAP_SECTION_FIELDS_MAX; n <= IMAP_SECTION_FIELDS_MAX + 1; n++) {
		buf_reset(&b);
		buf_append_str(&b, "HEADER.FIELDS (");
		for (size_t i = 0; i < n; i++)
			buf_printf(&b, "%sX-%zu", i > 0 ? " " : "", i);
		buf_append_str(&b, ")");
		assert_int_equal(imap_section_parse((struct slice){(char *)b.data, b.len}, &sec),
		    n <= IMAP_SECTION_FIELDS_MAX ? 0 : MN_ELIMIT);
		if (n == IMAP_SECTION_FIELDS_MAX)
			assert_int_equal(sec.nfields, n);
	}
	buf_fini(&b);
}

/* ==== section extraction ================================================== */

struct extract_case {
	const char *spec;
	int rc;
	const char *want; /* LF form; compared after CRLF conversion */
};

static void
run_extract(const char *name, const char *lfmsg, const struct extract_case *cases, size_t n)
{
	struct mime_part *root;
	size_t len;
	char *m = to_msg(lfmsg, true, &len);

	assert_int_equal(mime_parse(m, len, &root), 0);
	for (size_t i = 0; i < n; i++) {
		struct imap_section sec;
		struct buf b;
		size_t wlen = 0;
		char *want = cases[i].want != NULL ? to_msg(cases[i].want, true, &wlen) : NULL;
		int rc;

		assert_int_equal(imap_section_parse(slice_from_cstr(cases[i].spec), &sec), 0);
		buf_init(&b, 0);
		rc = imap_section_extract(root, m, len, &sec, &b);
		if (rc != cases[i].rc ||
		    (rc == 0 && (b.len != wlen || (wlen > 0 && memcmp(b.data, want, wlen) != 0)))) {
			printf("%s [%s]: rc %d got '%.*s'\n", name, cases[i].spec, rc, (int)b.len,
			    (const char *)b.data);
			fail_msg("extract %s [%s]", name, cases[i].spec);
		}
		buf_fini(&b);
		free(want);
	}
	mime_free(root);
	free(m);
}

static void
test_extract_nested(void **state)
{
	static const char inner[] = "From: Inner Person <inner@example.com>\n"
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
	                            "--inner--";
	const struct extract_case cases[] = {
	    {"", 0, msg_nested},
	    {"HEADER", 0,
	        "From: outer@example.org\n"
	        "To: x@example.org\n"
	        "Subject: Fwd: inner\n"
	        "Date: Thu, 3 Jan 2019 09:00:00 +0000\n"
	        "MIME-Version: 1.0\n"
	        "Content-Type: multipart/mixed; boundary=\"outer\"\n"
	        "\n"},
	    {"TEXT", 0, strchr(strstr(msg_nested, "\n\n") + 2, 'p')},
	    {"1", 0, "see attached"},
	    {"1.1", 0, "see attached"},
	    {"1.MIME", 0, "Content-Type: text/plain\n\n"},
	    {"2", 0, inner},
	    {"2.MIME", 0, "Content-Type: message/rfc822\nContent-Disposition: attachment\n\n"},
	    {"2.HEADER", 0,
	        "From: Inner Person <inner@example.com>\n"
	        "To: a@example.com, b@example.com\n"
	        "Subject: inner\n"
	        "Date: Fri, 4 Jan 2019 10:00:00 +0100\n"
	        "Message-ID: <inner@example.com>\n"
	        "Content-Type: multipart/alternative; boundary=\"inner\"\n"
	        "\n"},
	    {"2.TEXT", 0, strstr(inner, "--inner")},
	    {"2.1", 0, "plain"},
	    {"2.2", 0, "<b>html</b>"},
	    {"2.1.1", 0, "plain"},
	    {"2.1.MIME", 0, "Content-Type: text/plain\n\n"},
	    {"2.HEADER.FIELDS (subject FROM)", 0,
	        "From: Inner Person <inner@example.com>\nSubject: inner\n\n"},
	    {"2.HEADER.FIELDS.NOT (from to date message-id content-type)", 0, "Subject: inner\n\n"},
	    {"HEADER.FIELDS (X-None)", 0, "\n"},
	    {"HEADER.FIELDS.NOT (from to subject date mime-version content-type)", 0, "\n"},
	    {"3", MN_ENOENT, NULL},
	    {"1.2", MN_ENOENT, NULL},
	    {"2.3", MN_ENOENT, NULL},
	    {"2.1.2", MN_ENOENT, NULL},
	    {"1.HEADER", MN_ENOENT, NULL},
	    {"1.TEXT", MN_ENOENT, NULL},
	    {"2.1.HEADER", MN_ENOENT, NULL},
	};

	(void)state;
	run_extract("nested", msg_nested, cases, N(cases));
}

static void
test_extract_other(void **state)
{
	const struct extract_case simple[] = {
	    {"1", 0, "Are we still on for lunch?\n-- Alice\n"},
	    {"TEXT", 0, "Are we still on for lunch?\n-- Alice\n"},
	    /* part 1 of a non-multipart message is the message: its MIME
	     * header is the message header (as Dovecot) */
	    {"1.MIME", 0,
	        "From: Alice Example <alice@example.org>\n"
	        "To: bob@example.net\n"
	        "Subject: Lunch?\n"
	        "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
	        "Message-ID: <B27397-0100000@example.org>\n"
	        "\n"},
	    {"2", MN_ENOENT, NULL},
	    {"1.TEXT", MN_ENOENT, NULL},
	};
	const struct extract_case alternative[] = {
	    /* folded fields come whole */
	    {"HEADER.FIELDS (Content-Type In-Reply-To)", 0,
	        "In-Reply-To: <parent@example.org>\n"
	        "Content-Type: multipart/alternative;\n boundary=\"==alt==\"\n\n"},
	    {"1", 0, "Caf=C3=A9 au lait=\n please."},
	    {"2", 0, "<p>Caf\xc3\xa9</p>"},
	};
	const struct extract_case digest[] = {
	    {"1", 0, "From: m1@example.org\nSubject: first\n\nbody1"},
	    {"1.MIME", 0, "\n"},
	    {"1.HEADER", 0, "From: m1@example.org\nSubject: first\n\n"},
	    {"1.TEXT", 0, "body1"},
	    {"1.1", 0, "body1"},
	    {"2.MIME", 0, "Content-Type: text/plain\n\n"},
	};
	const struct extract_case headeronly[] = {
	    {"HEADER", 0, "Subject: only header\nFrom: h@example.org\n"},
	    {"TEXT", 0, ""},
	    {"1", 0, ""},
	    /* no body and no blank line: none added (RFC 3501 §6.4.5) */
	    {"HEADER.FIELDS (FROM)", 0, "From: h@example.org\n"},
	    {"HEADER.FIELDS (X-None)", 0, ""},
	};
	const struct extract_case noeol[] = {
	    /* the last field has no line end: one is added */
	    {"HEADER.FIELDS (subject)", 0, "Subject: x\n"},
	    {"HEADER", 0, "From: a@b\nSubject: x"},
	};
	const struct extract_case noheader[] = {
	    {"HEADER", 0, "\n"},
	    {"HEADER.FIELDS (From)", 0, "\n"},
	    {"TEXT", 0, "just a body\n"},
	};
	const struct extract_case broken[] = {
	    {"1", MN_ENOENT, NULL},
	    {"TEXT", 0, "--other\nContent-Type: text/plain\n\ntext\n"},
	};

	(void)state;
	run_extract("simple", msg_simple, simple, N(simple));
	run_extract("alternative", msg_alternative, alternative, N(alternative));
	run_extract("digest", msg_digest, digest, N(digest));
	run_extract("headeronly", msg_headeronly, headeronly, N(headeronly));
	run_extract("noeol", "From: a@b\nSubject: x", noeol, N(noeol));
	run_extract("broken", msg_broken, broken, N(broken));
	run_extract("noheader", msg_noheader, noheader, N(noheader));
}

static void
test_extract_binary(void **state)
{
	static const char m[] = "Content-Type: multipart/mixed; boundary=b\n\n"
	                        "--b\nContent-Transfer-Encoding: base64\n\nYWJj\n"
	                        "--b\nContent-Transfer-Encoding: Quoted-Printable\n\na=3Db=\nc\n"
	                        "--b\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n"
	                        "--b\n\nplain\n--b--\n";
	static const struct {
		const char *spec;
		int rc;
		const char *want;
	} cases[] = {
	    {"1", 0, "abc"},
	    {"2", 0, "a=bc"},
	    {"3", MN_EPARSE, NULL},
	    {"4", 0, "plain"},
	    {"5", MN_ENOENT, NULL},
	    {"1.MIME", MN_EINVAL, NULL},
	    {"TEXT", MN_EINVAL, NULL},
	};
	struct mime_part *root;
	size_t len;
	char *msg = to_msg(m, true, &len);

	(void)state;
	assert_int_equal(mime_parse(msg, len, &root), 0);
	for (size_t i = 0; i < N(cases); i++) {
		struct imap_section sec;
		struct buf b;
		int rc;

		assert_int_equal(imap_section_parse(slice_from_cstr(cases[i].spec), &sec), 0);
		buf_init(&b, 0);
		rc = imap_section_extract_binary(root, msg, len, &sec, &b);
		if (rc != cases[i].rc || (rc == 0 && strcmp(buf_cstr(&b), cases[i].want) != 0))
			fail_msg("binary [%s]: rc %d got '%s'", cases[i].spec, rc, buf_cstr(&b));
		buf_fini(&b);
	}
	{
		struct imap_section sec;
		struct buf b;

		assert_int_equal(imap_section_parse(SLICE_LIT(""), &sec), 0);
		buf_init(&b, 0);
		assert_int_equal(imap_section_extract_binary(root, msg, len, &sec, &b), 0);
		assert_int_equal(b.len, len);
		buf_fini(&b);
	}
	mime_free(root);
	free(msg);
}

/* ==== partial ============================================================= */

static void
test_partial(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint32_t origin, count;
	} cases[] = {
	    {"<0.10>", 0, 0, 10},
	    {"<5.1>", 0, 5, 1},
	    {"<01.5>", 0, 1, 5},
	    {"<4294967295.4294967295>", 0, UINT32_MAX, UINT32_MAX},
	    {"<4294967296.1>", MN_EPARSE, 0, 0},
	    {"<1.4294967296>", MN_EPARSE, 0, 0},
	    {"<1.0>", MN_EPARSE, 0, 0},
	    {"<1.01>", MN_EPARSE, 0, 0},
	    {"<1>", MN_EPARSE, 0, 0},
	    {"<.2>", MN_EPARSE, 0, 0},
	    {"<1.>", MN_EPARSE, 0, 0},
	    {"<1.2.3>", MN_EPARSE, 0, 0},
	    {"<1.2>x", MN_EPARSE, 0, 0},
	    {"1.2", MN_EPARSE, 0, 0},
	    {"<-1.2>", MN_EPARSE, 0, 0},
	    {"< 1.2>", MN_EPARSE, 0, 0},
	    {"", MN_EPARSE, 0, 0},
	};
	struct slice data = SLICE_LIT("abcdef"), r;
	struct imap_partial p;

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		int rc = imap_partial_parse(slice_from_cstr(cases[i].in), &p);

		if (rc != cases[i].rc)
			fail_msg("partial '%s': rc %d", cases[i].in, rc);
		if (rc == 0) {
			assert_int_equal(p.origin, cases[i].origin);
			assert_int_equal(p.count, cases[i].count);
		}
	}
	p = (struct imap_partial){0, 3};
	r = imap_partial_apply(data, &p);
	assert_true(r.len == 3 && memcmp(r.ptr, "abc", 3) == 0);
	p = (struct imap_partial){4, 10};
	r = imap_partial_apply(data, &p);
	assert_true(r.len == 2 && memcmp(r.ptr, "ef", 2) == 0);
	p = (struct imap_partial){6, 1};
	assert_int_equal(imap_partial_apply(data, &p).len, 0);
	p = (struct imap_partial){UINT32_MAX, UINT32_MAX};
	assert_int_equal(imap_partial_apply(data, &p).len, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_envelope_cases),
	    cmocka_unit_test(test_render_out_of_room),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_section_parse),
	    cmocka_unit_test(test_extract_nested),
	    cmocka_unit_test(test_extract_other),
	    cmocka_unit_test(test_extract_binary),
	    cmocka_unit_test(test_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
