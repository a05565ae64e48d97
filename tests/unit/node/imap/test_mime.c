/*
 * test_mime.c - FETCH building blocks: the MIME tree (BODY, BODYSTRUCTURE,
 * BODY[section]), ENVELOPE, and the util.c helpers (date-time, strings,
 * flag lists). Table driven; exact IMAP text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/buf.h"
#include "node/imap/mime.h"
#include "node/imap/session.h"

static const char nested[] = "From: a@b.test\r\n"
                             "Content-Type: multipart/mixed; boundary=\"o\"\r\n"
                             "\r\n"
                             "--o\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "\r\n"
                             "hello\r\n"
                             "--o\r\n"
                             "Content-Type: message/rfc822\r\n"
                             "\r\n"
                             "Subject: inner\r\n"
                             "Content-Type: multipart/alternative; boundary=i\r\n"
                             "\r\n"
                             "--i\r\n"
                             "\r\n"
                             "plain\r\n"
                             "--i\r\n"
                             "Content-Type: text/html\r\n"
                             "\r\n"
                             "<b>x</b>\r\n"
                             "--i--\r\n"
                             "\r\n"
                             "--o--\r\n";

static void
section_is(const struct imap_mime *m, const char *sec, const char *want)
{
	struct buf b;

	buf_init(&b, 0);
	assert_true(imap_mime_section(m, slice_from_cstr(sec), &b));
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	buf_fini(&b);
}

static void
test_sections_of_a_nested_message(void **state)
{
	struct imap_mime *m = imap_mime_parse(nested, sizeof(nested) - 1);
	static const struct {
		const char *sec, *want;
	} cases[] = {
	    {"1", "hello"},
	    {"1.MIME", "Content-Type: text/plain; charset=utf-8\r\n\r\n"},
	    {"2.HEADER", "Subject: inner\r\nContent-Type: multipart/alternative; "
	                 "boundary=i\r\n\r\n"},
	    {"2.1", "plain"},
	    {"2.2", "<b>x</b>"},
	    {"2.2.MIME", "Content-Type: text/html\r\n\r\n"},
	    {"2.HEADER.FIELDS (SUBJECT)", "Subject: inner\r\n\r\n"},
	    {"HEADER.FIELDS.NOT (Content-Type)", "From: a@b.test\r\n\r\n"},
	    {"3", ""},
	    {"2.3", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		section_is(m, cases[i].sec, cases[i].want);
	imap_mime_free(&m);
	assert_null(m);
}

static void
test_bad_sections_are_refused(void **state)
{
	static const char *const bad[] = {"0", "1.0", "FOO", "1.FOO", "MIME", "HEADER.FIELDS",
	    "HEADER.FIELDS ()", "HEADER.FIELDS (A", "1..2"};
	struct imap_mime *m = imap_mime_parse(nested, sizeof(nested) - 1);
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(imap_mime_section(m, slice_from_cstr(bad[i]), &b));
	buf_fini(&b);
	imap_mime_free(&m);
}

static void
test_bodystructure_nested(void **state)
{
	struct imap_mime *m = imap_mime_parse(nested, sizeof(nested) - 1);
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	imap_mime_bodystructure(m, false, &b);
	assert_string_equal(buf_cstr(&b),
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 5 1)"
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 130 "
	    "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 5 1)"
	    "(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 8 1) \"ALTERNATIVE\") 11) \"MIXED\")");
	buf_fini(&b);
	imap_mime_free(&m);
}

static void
test_envelope_groups_and_8bit_names(void **state)
{
	static const char hdr[] = "From: =?utf-8?q?J=C3=B6rg?= <j@x.test>\r\n"
	                          "To: team: a@x.test, \"B \\\"q\\\"\" <b@x.test>;\r\n"
	                          "Subject: hi \"there\"\r\n\r\n";
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	imap_mime_envelope((struct slice){hdr, sizeof(hdr) - 1}, &b);
	assert_string_equal(buf_cstr(&b),
	    "(NIL \"hi \\\"there\\\"\" ((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.test\")) "
	    "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.test\")) "
	    "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.test\")) "
	    "((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x.test\")"
	    "(\"B \\\"q\\\"\" NIL \"b\" \"x.test\")(NIL NIL NIL NIL)) NIL NIL NIL NIL)");
	buf_fini(&b);
}

static void
test_datetime_parse_and_format(void **state)
{
	static const struct {
		const char *in;
		int64_t t;
	} ok[] = {
	    {"13-Nov-2023 10:00:00 +0100", 1699866000},
	    {" 1-Jan-1970 00:00:00 +0000", 0},
	    {"01-jan-1970 01:00:00 +0100", 0},
	    {"31-Dec-1999 23:59:59 -0130", 946684799 + 5400},
	};
	static const char *const bad[] = {"1-Jan-1970 00:00:00 +0000", "01-Jam-1970 00:00:00 +0000",
	    "01-Jan-1970 24:00:00 +0000", "01-Jan-1970 00:00:00 0000",
	    "32-Jan-1970 00:00:00 +0000"};
	struct buf b;
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(imap_parse_datetime(slice_from_cstr(ok[i].in), &t), 0);
		assert_int_equal(t, ok[i].t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(imap_parse_datetime(slice_from_cstr(bad[i]), &t), 0);
	buf_init(&b, 0);
	imap_out_datetime(&b, 1699866000);
	assert_string_equal(buf_cstr(&b), "\"13-Nov-2023 09:00:00 +0000\"");
	buf_fini(&b);
}

static void
test_strings_quoted_or_literal(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	imap_out_string(&b, "a \"b\" \\c", 8);
	buf_append_str(&b, " ");
	imap_out_string(&b, "x\r\ny", 4);
	buf_append_str(&b, " ");
	imap_out_string(&b, "\xe4\xbd\xa0", 3);
	buf_append_str(&b, " ");
	imap_out_nstring(&b, NULL);
	buf_append_str(&b, " ");
	imap_out_mailbox(&b, "\xe5\xb7\xa5\xe4\xbd\x9c/&");
	assert_string_equal(buf_cstr(&b),
	    "\"a \\\"b\\\" \\\\c\" {4}\r\nx\r\ny {3}\r\n\xe4\xbd\xa0 NIL \"&XeVPXA-/&-\"");
	buf_fini(&b);
}

static void
test_flag_lists(void **state)
{
	static const char *const kwant[] = {"$Work", "Later"};
	struct imap_arg atoms[4], list;
	const char *kw[4];
	char kwbuf[64];
	size_t nkw;
	uint32_t flags;

	(void)state;
	memset(atoms, 0, sizeof(atoms));
	memset(&list, 0, sizeof(list));
	atoms[0].str = SLICE_LIT("\\seen");
	atoms[1].str = SLICE_LIT("$Work");
	atoms[2].str = SLICE_LIT("\\Deleted");
	atoms[3].str = SLICE_LIT("Later");
	for (int i = 0; i < 4; i++) {
		atoms[i].type = IMAP_ARG_ATOM;
		atoms[i].next = i < 3 ? &atoms[i + 1] : NULL;
	}
	list.type = IMAP_ARG_LIST;
	list.child = &atoms[0];
	list.n_children = 4;
	assert_true(imap_parse_flags(&list, &flags, kw, &nkw, 4, kwbuf, sizeof(kwbuf)));
	assert_int_equal(flags, MAILSTORE_SEEN | MAILSTORE_DELETED);
	assert_int_equal(nkw, 2);
	for (size_t i = 0; i < nkw; i++)
		assert_string_equal(kw[i], kwant[i]);
	atoms[1].str = SLICE_LIT("\\Recent");
	assert_false(imap_parse_flags(&list, &flags, kw, &nkw, 4, kwbuf, sizeof(kwbuf)));
	atoms[1].str = SLICE_LIT("bad]kw");
	assert_false(imap_parse_flags(&list, &flags, kw, &nkw, 4, kwbuf, sizeof(kwbuf)));
	/* more keywords than room */
	atoms[1].str = SLICE_LIT("$Work");
	assert_false(imap_parse_flags(&list, &flags, kw, &nkw, 1, kwbuf, sizeof(kwbuf)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sections_of_a_nested_message),
	    cmocka_unit_test(test_bad_sections_are_refused),
	    cmocka_unit_test(test_bodystructure_nested),
	    cmocka_unit_test(test_envelope_groups_and_8bit_names),
	    cmocka_unit_test(test_datetime_parse_and_format),
	    cmocka_unit_test(test_strings_quoted_or_literal),
	    cmocka_unit_test(test_flag_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
