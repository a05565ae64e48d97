/*
 * test_search_text.c - the decoded text SEARCH BODY/TEXT look in
 * (node/imap/search_text.h): base64 and quoted-printable parts decoded,
 * charsets converted to UTF-8 (natively and through iconv), binary base64
 * parts left out, encapsulated messages' headers decoded, the bound on
 * the output. Table driven: each message with text that must be found
 * and text that must not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/err.h"
#include "node/imap/search_text.h"

#define MP_HDR                                                                                     \
	"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"

static const struct {
	const char *name;
	const char *msg;
	const char *found[3];
	const char *absent[3];
} cases[] = {
    {"7bit plain", "Subject: x\r\n\r\nHello body\r\n", {"Hello body"}, {"Subject"}},
    {"base64 utf-8",
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "SGVsbG8gR3LDvMOfZQ==\r\n",
        {"Hello Grüße"}, {"SGVsbG8"}},
    {"quoted-printable latin1 with a soft break",
        "Content-Type: text/plain; charset=ISO-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=\r\n=F6ln\r\n",
        {"Grüße aus Köln"}, {"=FC", "K=\r\n"}},
    {"base64 latin1 in a multipart",
        MP_HDR "--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\nR3L832UgYXVzIEv2bG4=\r\n--B--\r\n",
        {"Grüße aus Köln"}, {"R3L8"}},
    {"koi8-r through iconv",
        "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "\xf0\xd2\xc9\xd7\xc5\xd4 world\r\n",
        {"Привет world"}, {"\xf0\xd2"}},
    {"unknown charset: decoded bytes as they are",
        "Content-Type: text/plain; charset=x-nonesuch\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nab=41cd\r\n",
        {"abAcd"}, {"=41"}},
    {"binary base64 attachment is left out, text parts kept",
        MP_HDR "--B\r\nContent-Type: text/plain\r\n\r\nvisible\r\n"
               "--B\r\nContent-Type: application/octet-stream\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0IGJpbmFyeSBkYXRh\r\n"
               "--B\r\nContent-Type: application/pgp-signature\r\n\r\nSIGTEXT\r\n--B--\r\n",
        {"visible", "SIGTEXT"}, {"secret", "c2VjcmV0"}},
    {"encapsulated message: its header decoded, its base64 body decoded",
        MP_HDR "--B\r\nContent-Type: message/rfc822\r\n\r\n"
               "Subject: =?utf-8?b?0J7RgtGH0ZHRgg==?=\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gR3LDvMOfZQ==\r\n--B--\r\n",
        {"Subject: Отчёт", "Hello Grüße", "=?utf-8?b?0J7"}, {"From: a@b"}},
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;

		buf_init(&out, 0);
		assert_int_equal(
		    imap_search_body_text(cases[i].msg, strlen(cases[i].msg), &out), 0);
		assert_non_null(buf_append(&out, "", 1) == 0 ? out.data : NULL);
		for (size_t k = 0; k < 3 && cases[i].found[k]; k++)
			if (strstr((char *)out.data, cases[i].found[k]) == NULL)
				fail_msg("%s: \"%s\" not in \"%s\"", cases[i].name,
				    cases[i].found[k], (char *)out.data);
		for (size_t k = 0; k < 3 && cases[i].absent[k]; k++)
			if (strstr((char *)out.data, cases[i].absent[k]) != NULL)
				fail_msg("%s: \"%s\" in \"%s\"", cases[i].name, cases[i].absent[k],
				    (char *)out.data);
		buf_fini(&out);
	}
}

static void
test_exact_text(void **state)
{
	static const char msg[] = MP_HDR "--B\r\nContent-Type: text/plain\r\n\r\none\r\n"
	                                 "--B\r\nContent-Type: text/html; charset=utf-8\r\n"
	                                 "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	                                 "<b>t=C3=A4g</b>\r\n--B--\r\n";
	static const char hdr[] = "Subject: =?iso-8859-1?q?K=F6ln?= news\r\n"
	                          "To: =?utf-8?b?0J7RgtGH0ZHRgg==?=\r\n <o@x>\r\n\r\nbody\r\n";
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(imap_search_body_text(msg, sizeof(msg) - 1, &out), 0);
	/* each leaf's body (the line end before a boundary belongs to it) */
	assert_int_equal(out.len, strlen("one\n<b>täg</b>\n"));
	assert_memory_equal(out.data, "one\n<b>täg</b>\n", out.len);
	buf_reset(&out);
	assert_int_equal(imap_search_header_text(hdr, sizeof(hdr) - 1, &out), 0);
	assert_int_equal(out.len, strlen("Subject: Köln news\nTo: Отчёт <o@x>\n"));
	assert_memory_equal(out.data, "Subject: Köln news\nTo: Отчёт <o@x>\n", out.len);
	buf_fini(&out);
}

static void
test_bounded(void **state)
{
	static const char msg[] = "Content-Transfer-Encoding: base64\r\n\r\n"
	                          "SGVsbG8gR3LDvMOfZQ==\r\n";
	struct buf out;

	(void)state;
	buf_init(&out, 4);
	assert_int_equal(imap_search_body_text(msg, sizeof(msg) - 1, &out), MN_ETOOBIG);
	assert_true(out.len <= 4);
	buf_fini(&out);
	/* no body at all, and an empty message */
	buf_init(&out, 0);
	assert_int_equal(imap_search_body_text("Subject: x\r\n", 12, &out), 0);
	assert_int_equal(imap_search_body_text("", 0, &out), 0);
	assert_int_equal(out.len, 2); /* one empty leaf each: just the separator */
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_exact_text),
	    cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
