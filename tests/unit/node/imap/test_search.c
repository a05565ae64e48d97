/*
 * test_search.c - node/imap/search.c: SEARCH criteria (RFC 3501 §6.4.4,
 * RFC 7162 MODSEQ) from real command bytes, through imap_parser, into the
 * tree; exact text forms and exact refusals.
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
#include "node/imap/parser.h"
#include "node/imap/search.h"

/* search - "a SEARCH <criteria>\r\n" through the parser, then the tree. */
static int
search(
    const char *criteria, const struct imap_search_limits *lim, struct buf *out, struct mn_err *err)
{
	struct imap_parser_limits pl;
	struct imap_parser *p;
	struct imap_search s;
	struct imap_cmd cmd;
	struct buf in;
	size_t off = 0, used;
	enum imap_parse_result r;
	int rc;

	imap_parser_limits_default(&pl);
	pl.max_args = 100000;
	pl.max_line = 1 << 20;
	pl.max_depth = 100;
	p = imap_parser_new(&pl);
	buf_init(&in, 0);
	buf_printf(&in, "a SEARCH%s%s\r\n", *criteria ? " " : "", criteria);
	do {
		r = imap_parser_feed(p, (const char *)in.data + off, in.len - off, &used, &cmd);
		off += used;
	} while (r == IMAP_PARSE_CONTINUE);
	assert_int_equal(r, IMAP_PARSE_DONE);
	assert_int_equal(off, in.len);
	rc = imap_search_parse(cmd.args, lim, &s, err);
	if (rc == 0)
		assert_int_equal(imap_search_format(&s, out), 0);
	else
		assert_null(s.root);
	imap_search_fini(&s);
	imap_parser_free(&p);
	buf_fini(&in);
	return rc;
}

static void
test_valid_criteria(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "ALL", "AND(ALL)" },
		{ "all seen", "AND(ALL SEEN)" },
		{ "ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED "
		  "UNDRAFT UNFLAGGED UNSEEN",
		    "AND(ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED "
		    "UNDRAFT UNFLAGGED UNSEEN)" },
		{ "BCC a BODY \"b c\" CC {1}\r\nx FROM nil SUBJECT \"\" TEXT t TO \"\\\"q\\\"\"",
		    "AND(BCC \"a\" BODY \"b c\" CC \"x\" FROM \"nil\" SUBJECT \"\" TEXT \"t\" "
		    "TO \"\\\"q\\\"\")" },
		{ "HEADER Message-ID \"<x@y>\"", "AND(HEADER \"Message-ID\" \"<x@y>\")" },
		{ "HEADER X-Foo \"\"", "AND(HEADER \"X-Foo\" \"\")" },
		{ "KEYWORD $Forwarded UNKEYWORD Junk", "AND(KEYWORD $Forwarded UNKEYWORD Junk)" },
		{ "KEYWORD nil", "AND(KEYWORD nil)" },
		{ "BEFORE 1-Feb-1994 ON \"01-feb-1994\" SINCE 29-Feb-2000 SENTBEFORE 31-Dec-9999 "
		  "SENTON 1-JAN-0001 SENTSINCE 28-Feb-1900",
		    "AND(BEFORE 1994-02-01 ON 1994-02-01 SINCE 2000-02-29 SENTBEFORE 9999-12-31 "
		    "SENTON 0001-01-01 SENTSINCE 1900-02-28)" },
		{ "SINCE 29-Feb-2024 BEFORE 30-Apr-2024 ON 31-Mar-2024",
		    "AND(SINCE 2024-02-29 BEFORE 2024-04-30 ON 2024-03-31)" },
		{ "LARGER 0 SMALLER 4294967295 LARGER 007", "AND(LARGER 0 SMALLER 4294967295 LARGER 7)" },
		{ "1:4,7,*:10", "AND(SEQSET 1:4,7,10:*)" },
		{ "2,1 UID 1:*", "AND(SEQSET 1:2 UID 1:*)" },
		{ "* uid 5", "AND(SEQSET * UID 5)" },
		{ "NOT SEEN", "AND(NOT(SEEN))" },
		{ "OR SEEN FLAGGED", "AND(OR(SEEN FLAGGED))" },
		{ "OR OR SEEN DRAFT FLAGGED", "AND(OR(OR(SEEN DRAFT) FLAGGED))" },
		{ "OR (SEEN FROM x) NOT (TO y)", "AND(OR(AND(SEEN FROM \"x\") NOT(AND(TO \"y\"))))" },
		{ "(SEEN)", "AND(AND(SEEN))" },
		{ "NOT NOT 1", "AND(NOT(NOT(SEQSET 1)))" },
		{ "MODSEQ 0", "AND(MODSEQ 0)" },
		{ "MODSEQ 9223372036854775807", "AND(MODSEQ 9223372036854775807)" },
		/* RFC 7162 §3.4 example */
		{ "MODSEQ \"/flags/\\\\draft\" all 620162338",
		    "AND(MODSEQ \"/flags/\\draft\" all 620162338)" },
		{ "MODSEQ \"/flags/$Junk\" PRIV 5 MODSEQ \"/FLAGS/\\\\Seen\" shared 6",
		    "AND(MODSEQ \"/flags/$Junk\" priv 5 MODSEQ \"/flags/\\Seen\" shared 6)" },
		{ "CHARSET utf-8 SUBJECT \"已发送\"", "CHARSET UTF-8 AND(SUBJECT \"已发送\")" },
		{ "CHARSET UTF-8 TEXT {6}\r\n草稿", "CHARSET UTF-8 AND(TEXT \"草稿\")" },
		{ "CHARSET US-ASCII TEXT x", "CHARSET US-ASCII AND(TEXT \"x\")" },
		{ "CHARSET \"UTF-8\" ALL", "CHARSET UTF-8 AND(ALL)" },
		{ "TEXT \"中\"", "AND(TEXT \"中\")" },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_search_limits lim;
		struct mn_err err = {0};
		struct buf b;
		int rc;

		imap_search_limits_default(&lim);
		buf_init(&b, 0);
		rc = search(cases[i].in, &lim, &b, &err);
		if (rc != 0 || strcmp(buf_cstr(&b), cases[i].want) != 0) {
			print_error(
			    "[%s]: rc %d [%s] got [%s]\n", cases[i].in, rc, err.msg, buf_cstr(&b));
			fail();
		}
		buf_fini(&b);
	}
}

static void
test_invalid_criteria(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in;
		int rc;
		const char *msg;
	} cases[] = {
		{ "", MN_EPARSE, "Missing search key" },
		{ "FOO", MN_EPARSE, "Unknown search key" },
		{ "SEEN FOO", MN_EPARSE, "Unknown search key" },
		{ "\"SEEN\"", MN_EPARSE, "Search key expected, got a string" },
		{ "{4}\r\nSEEN", MN_EPARSE, "Search key expected, got a string" },
		{ "FROM", MN_EPARSE, "Missing argument for FROM" },
		{ "FROM (x)", MN_EPARSE, "FROM needs a string, not a list" },
		{ "TEXT \"\xff\"", MN_EPARSE, "Invalid UTF-8 in TEXT string" },
		{ "TEXT {2}\r\n\xc0\x80", MN_EPARSE, "Invalid UTF-8 in TEXT string" },
		{ "BEFORE", MN_EPARSE, "Missing argument for BEFORE" },
		{ "BEFORE 30-Feb-2000", MN_EPARSE, "Invalid date for BEFORE" },
		{ "ON 29-Feb-1900", MN_EPARSE, "Invalid date for ON" },
		{ "ON 29-Feb-2023", MN_EPARSE, "Invalid date for ON" },
		{ "ON 31-Apr-2023", MN_EPARSE, "Invalid date for ON" },
		{ "ON 32-Jan-2023", MN_EPARSE, "Invalid date for ON" },
		{ "ON 0-Jan-2023", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1-Foo-1994", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1-Feb-94", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1-Feb-19944", MN_EPARSE, "Invalid date for ON" },
		{ "ON 001-Feb-1994", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1-Feb-1994x", MN_EPARSE, "Invalid date for ON" },
		{ "ON Feb-1-1994", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1-Feb-0000", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1/Feb/1994", MN_EPARSE, "Invalid date for ON" },
		{ "ON 1-Feb-19x4", MN_EPARSE, "Invalid date for ON" },
		{ "ON \" 1-Feb-1994\"", MN_EPARSE, "Invalid date for ON" },
		{ "ON {10}\r\n1-Feb-1994", MN_EPARSE, "Invalid date for ON" },
		{ "SENTSINCE (1-Feb-1994)", MN_EPARSE, "Invalid date for SENTSINCE" },
		{ "LARGER", MN_EPARSE, "Missing argument for LARGER" },
		{ "LARGER -1", MN_EPARSE, "Invalid number for LARGER" },
		{ "LARGER 4294967296", MN_EPARSE, "Invalid number for LARGER" },
		{ "SMALLER x", MN_EPARSE, "Invalid number for SMALLER" },
		{ "SMALLER \"5\"", MN_EPARSE, "Invalid number for SMALLER" },
		{ "KEYWORD", MN_EPARSE, "Missing argument for KEYWORD" },
		{ "KEYWORD \\Seen", MN_EPARSE, "Invalid keyword for KEYWORD" },
		{ "UNKEYWORD \"a\"", MN_EPARSE, "Invalid keyword for UNKEYWORD" },
		{ "KEYWORD a*", MN_EPARSE, "Invalid keyword for KEYWORD" },
		{ "UID", MN_EPARSE, "Missing argument for UID" },
		{ "UID x", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "UID \"1\"", MN_EPARSE, "Invalid sequence set for UID" },
		{ "UID $", MN_EPARSE, "SEARCHRES ($) is not supported" },
		{ "$", MN_EPARSE, "SEARCHRES ($) is not supported" },
		{ "0", MN_EPARSE, "Invalid sequence set: number expected at 0" },
		{ "1:", MN_EPARSE, "Invalid sequence set: number expected at 2" },
		{ "NOT", MN_EPARSE, "Missing search key" },
		{ "OR SEEN", MN_EPARSE, "Missing search key" },
		{ "()", MN_EPARSE, "Empty search group ()" },
		{ "(SEEN FOO)", MN_EPARSE, "Unknown search key" },
		{ "HEADER", MN_EPARSE, "Missing argument for HEADER" },
		{ "HEADER X", MN_EPARSE, "Missing argument for HEADER" },
		{ "HEADER a:b x", MN_EPARSE, "Invalid header field name" },
		{ "HEADER \"\" x", MN_EPARSE, "Invalid header field name" },
		{ "HEADER \"a b\" x", MN_EPARSE, "Invalid header field name" },
		{ "MODSEQ", MN_EPARSE, "Missing argument for MODSEQ" },
		{ "MODSEQ x", MN_EPARSE, "Invalid MODSEQ value" },
		{ "MODSEQ -1", MN_EPARSE, "Invalid MODSEQ value" },
		{ "MODSEQ 9223372036854775808", MN_EPARSE, "Invalid MODSEQ value" },
		{ "MODSEQ \"/flags/\\\\Seen\" 5", MN_EPARSE, "MODSEQ entry needs priv, shared or all" },
		{ "MODSEQ \"/flags/\\\\Seen\" any 5", MN_EPARSE,
		    "MODSEQ entry needs priv, shared or all" },
		{ "MODSEQ \"/flags/\\\\Seen\" all", MN_EPARSE, "Missing argument for MODSEQ" },
		{ "MODSEQ \"/flags/\\\\Seen\"", MN_EPARSE, "MODSEQ entry needs priv, shared or all" },
		{ "MODSEQ \"/flags/\\\\Seen\" (all) 5", MN_EPARSE,
		    "MODSEQ entry needs priv, shared or all" },
		{ "MODSEQ \"/foo/x\" all 5", MN_EPARSE, "MODSEQ entry must be /flags/<flag>" },
		{ "MODSEQ \"/flags/\" all 5", MN_EPARSE, "MODSEQ entry must be /flags/<flag>" },
		{ "MODSEQ \"/flags/\\\\\" all 5", MN_EPARSE, "Invalid flag in MODSEQ entry" },
		{ "MODSEQ \"/flags/a b\" all 5", MN_EPARSE, "Invalid flag in MODSEQ entry" },
		{ "CHARSET ISO-8859-1 TEXT x", MN_EINVAL, "Unsupported charset" },
		{ "CHARSET", MN_EPARSE, "Missing charset name" },
		{ "CHARSET (UTF-8) ALL", MN_EPARSE, "Missing charset name" },
		{ "CHARSET UTF-8", MN_EPARSE, "Missing search key" },
		{ "CHARSET US-ASCII TEXT \"中\"", MN_EPARSE,
		    "8-bit string for TEXT with CHARSET US-ASCII" },
		{ "SEEN CHARSET UTF-8", MN_EPARSE, "Unknown search key" },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_search_limits lim;
		struct mn_err err = {0};
		struct buf b;
		int rc;

		imap_search_limits_default(&lim);
		buf_init(&b, 0);
		rc = search(cases[i].in, &lim, &b, &err);
		if (rc != cases[i].rc || strcmp(err.msg, cases[i].msg) != 0) {
			print_error("[%s]: rc %d [%s]\n", cases[i].in, rc, err.msg);
			fail();
		}
		assert_int_equal(b.len, 0);
		buf_fini(&b);
	}
}

static void
expect(const char *in, const struct imap_search_limits *lim, int rc_want, const char *msg)
{
	struct mn_err err = {0};
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = search(in, lim, &b, &err);
	if (rc != rc_want || (msg != NULL && strcmp(err.msg, msg) != 0)) {
		print_error("[%.60s]: rc %d [%s]\n", in, rc, err.msg);
		fail();
	}
	buf_fini(&b);
}

static void
test_limits(void **state)
{
	struct imap_search_limits lim = {.max_depth = 3, .max_keys = 100, .max_ranges = 3};
	const char *deep = "Search criteria nested too deeply (max 3)";
	struct buf big;

	expect("NOT NOT SEEN", &lim, 0, NULL);
	expect("NOT NOT NOT SEEN", &lim, 0, NULL);
	expect("NOT NOT NOT NOT SEEN", &lim, MN_ELIMIT, deep);
	expect("((SEEN))", &lim, 0, NULL);
	expect("(((SEEN)))", &lim, 0, NULL);
	expect("((((SEEN))))", &lim, MN_ELIMIT, deep);
	expect("OR (NOT SEEN) DRAFT", &lim, 0, NULL);
	expect("OR (NOT (SEEN)) DRAFT", &lim, MN_ELIMIT, deep);
	expect("OR SEEN OR SEEN OR SEEN SEEN", &lim, 0, NULL);
	expect("OR SEEN OR SEEN OR SEEN OR SEEN SEEN", &lim, MN_ELIMIT, deep);
	expect("1,2", &lim, 0, NULL);
	expect("1,2,3", &lim, 0, NULL);
	expect("1,2,3,4", &lim, MN_ELIMIT, "Too many ranges in sequence set (max 3)");
	expect("UID 1,2,3,4", &lim, MN_ELIMIT, "Too many ranges in sequence set (max 3)");

	/* max_keys counts every node, the top-level AND included. */
	lim.max_keys = 4;
	expect("SEEN DRAFT", &lim, 0, NULL);
	expect("SEEN DRAFT FLAGGED", &lim, 0, NULL);
	expect("SEEN DRAFT FLAGGED DELETED", &lim, MN_ELIMIT, "Too many search keys (max 4)");
	expect("NOT NOT SEEN", &lim, 0, NULL);
	expect("NOT NOT NOT SEEN", &lim, MN_ELIMIT, "Too many search keys (max 4)");
	lim.max_keys = 2;
	expect("SEEN", &lim, 0, NULL);
	expect("SEEN (DRAFT)", &lim, MN_ELIMIT, "Too many search keys (max 2)");
	expect("SEEN 1", &lim, MN_ELIMIT, "Too many search keys (max 2)");
	lim.max_keys = 0;
	expect("SEEN", &lim, MN_ELIMIT, "Too many search keys (max 0)");

	/* Deep input against the default limits: refused, no deep recursion. */
	imap_search_limits_default(&lim);
	buf_init(&big, 0);
	for (int i = 0; i < 5000; i++)
		buf_append_str(&big, "NOT ");
	buf_append_str(&big, "SEEN");
	expect(buf_cstr(&big), &lim, MN_ELIMIT, "Search criteria nested too deeply (max 32)");
	buf_fini(&big);

	/* More than 64 nodes (several node blocks) parse and free cleanly. */
	buf_init(&big, 0);
	for (int i = 0; i < 300; i++)
		buf_printf(&big, "%sUID %d", i ? " " : "", i + 1);
	expect(buf_cstr(&big), &lim, 0, NULL);
	buf_fini(&big);
}

static void
test_date_parse(void **state)
{
	struct imap_date d;

	assert_int_equal(imap_date_parse(SLICE_LIT("1-Feb-1994"), &d), 0);
	assert_int_equal(d.year, 1994);
	assert_int_equal(d.month, 2);
	assert_int_equal(d.day, 1);
	assert_int_equal(imap_date_parse(SLICE_LIT("29-feb-2000"), &d), 0);
	assert_int_equal(imap_date_parse(SLICE_LIT("29-Feb-2100"), &d), MN_EPARSE);
	assert_int_equal(imap_date_parse(SLICE_LIT(""), &d), MN_EPARSE);
	assert_int_equal(imap_date_parse(SLICE_LIT("1-Feb-"), &d), MN_EPARSE);
	assert_int_equal(imap_date_parse(SLICE_LIT("1-Fe-1994"), &d), MN_EPARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_criteria),
	    cmocka_unit_test(test_invalid_criteria),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_date_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
