/*
 * test_util.c - the util.c helpers that FETCH, STATUS, LIST and STORE
 * share (session.h): RFC 3501 date-time parsing and formatting, strings
 * written quoted or as literals, mailbox names in modified UTF-7, flag
 * lists. Table driven; exact IMAP text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/buf.h"
#include "node/imap/session.h"

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
	    cmocka_unit_test(test_datetime_parse_and_format),
	    cmocka_unit_test(test_strings_quoted_or_literal),
	    cmocka_unit_test(test_flag_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
