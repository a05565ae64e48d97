/*
 * test_parser.c - node/imap/parser.c: the IMAP command parser.
 *
 * Every case is a byte string and the exact transcript of parser results it
 * must give: "DONE tag name args", "CONT", "BAD tag|* error", "FATAL error".
 * Each case is fed whole, one byte at a time and in chunks of 2, 3 and 7
 * bytes; all transcripts must be identical (Dovecot test_istream_set_size).
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
#include "node/imap/parser.h"

static void
dump_arg(struct buf *b, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		buf_append(b, a->str.ptr, a->str.len);
		break;
	case IMAP_ARG_NIL:
		buf_append_str(b, "NIL");
		break;
	case IMAP_ARG_QUOTED:
		buf_append(b, "\"", 1);
		for (size_t i = 0; i < a->str.len; i++) {
			if (a->str.ptr[i] == '"' || a->str.ptr[i] == '\\')
				buf_append(b, "\\", 1);
			buf_append(b, &a->str.ptr[i], 1);
		}
		buf_append(b, "\"", 1);
		break;
	case IMAP_ARG_LITERAL:
		buf_printf(b, "{%zu%s}", a->str.len, a->literal_plus ? "+" : "");
		buf_append(b, a->str.ptr, a->str.len);
		break;
	case IMAP_ARG_LIST: {
		uint32_t n = 0;

		buf_append(b, "(", 1);
		for (const struct imap_arg *c = a->child; c != NULL; c = c->next) {
			if (c != a->child)
				buf_append(b, " ", 1);
			dump_arg(b, c);
			n++;
		}
		assert_int_equal(n, a->n_children);
		buf_append(b, ")", 1);
		break;
	}
	}
}

static void
record(struct buf *t, enum imap_parse_result r, const struct imap_cmd *cmd)
{
	uint32_t n = 0;

	switch (r) {
	case IMAP_PARSE_MORE:
		break;
	case IMAP_PARSE_CONTINUE:
		buf_append_str(t, "CONT\n");
		break;
	case IMAP_PARSE_DONE:
		buf_printf(t, "DONE %.*s %.*s", (int)cmd->tag.len, cmd->tag.ptr, (int)cmd->name.len,
		    cmd->name.ptr);
		for (const struct imap_arg *a = cmd->args; a != NULL; a = a->next) {
			buf_append(t, " ", 1);
			dump_arg(t, a);
			n++;
		}
		assert_int_equal(n, cmd->n_args);
		assert_int_equal(cmd->error, IMAP_PERR_NONE);
		buf_append(t, "\n", 1);
		break;
	case IMAP_PARSE_BAD:
		assert_non_null(cmd->error_msg);
		buf_printf(t, "BAD %.*s %s\n", cmd->tag.len ? (int)cmd->tag.len : 1,
		    cmd->tag.len ? cmd->tag.ptr : "*", imap_parse_error_str(cmd->error));
		break;
	case IMAP_PARSE_FATAL:
		assert_non_null(cmd->error_msg);
		buf_printf(t, "FATAL %s\n", imap_parse_error_str(cmd->error));
		break;
	}
}

/* run - feed in chunks of `chunk` bytes (0: whole); transcript into t. */
static void
run(const struct imap_parser_limits *lim, const char *in, size_t len, size_t chunk, struct buf *t)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t off = 0;
	bool fatal = false;

	if (chunk == 0)
		chunk = len ? len : 1;
	while (off < len && !fatal) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t pos = 0;

		while (pos < n) {
			struct imap_cmd cmd;
			size_t used = 12345;
			enum imap_parse_result r =
			    imap_parser_feed(p, in + off + pos, n - pos, &used, &cmd);

			assert_true(used <= n - pos);
			if (r == IMAP_PARSE_MORE)
				assert_int_equal(used, n - pos);
			else if (r != IMAP_PARSE_FATAL)
				assert_true(used > 0);
			record(t, r, &cmd);
			pos += used;
			if (r == IMAP_PARSE_FATAL) {
				fatal = true;
				/* Stays fatal. */
				r = imap_parser_feed(p, "x", 1, &used, &cmd);
				assert_int_equal(r, IMAP_PARSE_FATAL);
				assert_int_equal(used, 0);
				break;
			}
		}
		off += n;
	}
	imap_parser_free(&p);
	assert_null(p);
}

/* L - a string literal and its length (for inputs with NUL bytes). */
#define L(s) s, sizeof(s) - 1

struct pcase {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *want;
};

static void
check_cases(const struct imap_parser_limits *lim, const struct pcase *cases, size_t n)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7};

	for (size_t i = 0; i < n; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			struct buf t;

			buf_init(&t, 0);
			run(lim, cases[i].in, len, chunks[c], &t);
			if (strcmp(buf_cstr(&t), cases[i].want) != 0) {
				print_error(
				    "case %zu chunk %zu: input [%s]\n got [%s]\nwant [%s]\n", i,
				    chunks[c], cases[i].in, buf_cstr(&t), cases[i].want);
				fail();
			}
			buf_fini(&t);
		}
	}
}

static void
test_valid_commands(void **state)
{
	/* clang-format off */
	static const struct pcase cases[] = {
		{ "a1 NOOP\r\n", 0, "DONE a1 NOOP\n" },
		{ "a1 noop\n", 0, "DONE a1 noop\n" },
		{ "a] NOOP\r\n", 0, "DONE a] NOOP\n" },
		{ "A001 LOGIN user \"pa ss\\\"w\\\\\"\r\n", 0,
		    "DONE A001 LOGIN user \"pa ss\\\"w\\\\\"\n" },
		{ "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100> UID)\r\n", 0,
		    "DONE a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100> UID)\n" },
		{ "a FETCH 1 (body[header.fields (X)] BINARY[1] BINARY.PEEK[1]<0.1> "
		  "BINARY.SIZE[2])\r\n",
		    0,
		    "DONE a FETCH 1 (body[header.fields (X)] BINARY[1] BINARY.PEEK[1]<0.1> "
		    "BINARY.SIZE[2])\n" },
		{ "a FETCH 1 BODY[HEADER.FIELDS (\"a]b\" \"c\\\"\" d)]\r\n", 0,
		    "DONE a FETCH 1 BODY[HEADER.FIELDS (\"a]b\" \"c\\\"\" d)]\n" },
		{ "a UID FETCH 1 (BODY[])\r\n", 0, "DONE a UID FETCH 1 (BODY[])\n" },
		{ "a SELECT [Gmail]/Sent\r\n", 0, "DONE a SELECT [Gmail]/Sent\n" },
		{ "a LIST \"\" %\r\n", 0, "DONE a LIST \"\" %\n" },
		{ "a STORE 1 +FLAGS (\\Deleted \\*)\r\n", 0,
		    "DONE a STORE 1 +FLAGS (\\Deleted \\*)\n" },
		{ "a X NIL nil \"NIL\" () NILS\r\n", 0, "DONE a X NIL NIL \"NIL\" () NILS\n" },
		{ "a X (a (b (c)) ())\r\n", 0, "DONE a X (a (b (c)) ())\n" },
		{ "a X \"\" \"\"\r\n", 0, "DONE a X \"\" \"\"\n" },
		{ "a X \"\xe4\xb8\xad\x01\"\r\n", 0, "DONE a X \"\xe4\xb8\xad\x01\"\n" },
		{ "a LOGIN {4}\r\nuser {4+}\r\npass\r\n", 0,
		    "CONT\nDONE a LOGIN {4}user {4+}pass\n" },
		{ "a APPEND INBOX (\\Seen) {0}\r\n\r\n", 0,
		    "CONT\nDONE a APPEND INBOX (\\Seen) {0}\n" },
		{ "a X {0+}\r\n {2+}\n\r\n\r\n", 0, "DONE a X {0+} {2+}\r\n\n" },
		{ "a X ({3}\r\na)b)\r\n", 0, "CONT\nDONE a X ({3}a)b)\n" },
		{ "a X {0003}\r\nabc\r\n", 0, "CONT\nDONE a X {3}abc\n" },
		{ "a NOOP\r\nb NOOP\r\nc CHECK\n", 0,
		    "DONE a NOOP\nDONE b NOOP\nDONE c CHECK\n" },
		{ "a X \"\xff\"\r\n", 0, "DONE a X \"\xff\"\n" },
		{ "a X {3}\r\n\xff\x80\x01\r\n", 0, "CONT\nDONE a X {3}\xff\x80\x01\n" },
	};
	/* clang-format on */

	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim);
	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_invalid_commands(void **state)
{
	/* clang-format off */
	static const struct pcase cases[] = {
		{ "\r\n", 0, "BAD * empty_line\n" },
		{ "\n", 0, "BAD * empty_line\n" },
		{ " NOOP\r\n", 0, "BAD * bad_tag\n" },
		{ "+ NOOP\r\n", 0, "BAD * bad_tag\n" },
		{ "a+b NOOP\r\n", 0, "BAD * bad_tag\n" },
		{ "a* NOOP\r\n", 0, "BAD * bad_tag\n" },
		{ "a( NOOP\r\n", 0, "BAD * bad_tag\n" },
		{ "\xc3\xa4 NOOP\r\n", 0, "BAD * bad_tag\n" },
		{ "a1\r\n", 0, "BAD a1 no_command\n" },
		{ "a1 \r\n", 0, "BAD a1 no_command\n" },
		{ "a1  NOOP\r\n", 0, "BAD a1 no_command\n" },
		{ "a1 NO(OP\r\n", 0, "BAD a1 bad_command\n" },
		{ "a1 NO*OP\r\n", 0, "BAD a1 bad_command\n" },
		{ "a1 NOOP \r\n", 0, "BAD a1 syntax\n" },
		{ "a1 NOOP)\r\n", 0, "BAD a1 bad_command\n" },
		{ "a1 X a  b\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X (a\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X ((a)\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a)\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X ( a)\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X (a )\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X (a)b\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X \"a\"b\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X \"abc\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X \"a\\b\"\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a\"b\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a(b\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a{b\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X {3x}\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X {}\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X {+}\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X {3++}\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X {3} y\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X \r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a\rb\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a\xff\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X a\x01\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X \x80\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 X \x01\r\n", 0, "BAD a1 syntax\n" },
		{ L("a1 X \"a\0b\"\r\n"), "BAD a1 syntax\n" },
		{ "a1 FETCH 1 BODY[TEXT\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 FETCH 1 BODY[a[b]]\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 FETCH 1 BODY[\"a\r\n", 0, "BAD a1 syntax\n" },
		{ "a1 FETCH 1 BODY[\"\\a\"]\r\n", 0, "BAD a1 syntax\n" },
		/* literal8 (RFC 3516) is not supported: its header is still
		 * recognised while skipping, and {3} ends the command. */
		{ "a1 X ~{3}\r\nb NOOP\r\n", 0, "BAD a1 syntax\nDONE b NOOP\n" },
		/* NUL in literal data (RFC 3501 CHAR8): rest of literal and line
		 * dropped, then the next command is fine. */
		{ L("a1 X {3}\r\na\0b c\r\nb NOOP\r\n"), "CONT\nBAD a1 syntax\nDONE b NOOP\n" },
		{ L("a1 X {3}\r\nab\0 {2+}\r\nxy\r\nb NOOP\r\n"),
		    "CONT\nBAD a1 syntax\nDONE b NOOP\n" },
		/* Recovery: the next command after a BAD line parses. */
		{ "a1 X (\r\nb NOOP\r\n", 0, "BAD a1 syntax\nDONE b NOOP\n" },
		{ "a1 X )\r\n\r\nb NOOP\r\n", 0, "BAD a1 syntax\nBAD * empty_line\nDONE b NOOP\n" },
		/* A {N+} in a bad line is discarded: its bytes never become a
		 * command (no injection through literal data). */
		{ "a1 X ) {8+}\r\nb NOOP\r\n\r\nc NOOP\r\n", 0, "BAD a1 syntax\nDONE c NOOP\n" },
		/* Exactly N octets are discarded: here "b NOOP\r", then "\n" ends
		 * the line and the next CRLF is an empty line of its own. */
		{ "a1 X ) {7+}\r\nb NOOP\r\n\r\nc NOOP\r\n", 0,
		    "BAD a1 syntax\nBAD * empty_line\nDONE c NOOP\n" },
		{ "a1 X ) {8+}\r\nb NOOP\r\n {1+}\nx {2+}\r\nyy\r\nc NOOP\r\n", 0,
		    "BAD a1 syntax\nDONE c NOOP\n" },
		/* ... a {N} ends it: the client waits for a "+" it never gets. */
		{ "a1 X ) {7}\r\nb NOOP\r\n", 0, "BAD a1 syntax\nDONE b NOOP\n" },
		{ "a1 X ) {7}x\r\nb NOOP\r\n", 0, "BAD a1 syntax\nDONE b NOOP\n" },
		{ "a1 X ) {7+} \r\nb NOOP\r\n", 0, "BAD a1 syntax\nDONE b NOOP\n" },
		/* Empty discarded literal, then the line goes on. */
		{ "a1 X ) {0+}\r\n more\r\nb NOOP\r\n", 0, "BAD a1 syntax\nDONE b NOOP\n" },
	};
	/* clang-format on */
	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim);
	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_line_limit(void **state)
{
	struct imap_parser_limits lim = {.max_line = 20,
	    .max_literal = 100,
	    .max_command = 1000,
	    .max_args = 100,
	    .max_depth = 4};
	/* max_line counts every non-literal byte, CRLF included, summed over
	 * the pieces around literals (RFC 7162 §4). */
	/* clang-format off */
	static const struct pcase cases[] = {
		{ "a NOOP xxxxxxxxxx\r\n", 0, "DONE a NOOP xxxxxxxxxx\n" },         /* 19 */
		{ "a NOOP xxxxxxxxxxx\r\n", 0, "DONE a NOOP xxxxxxxxxxx\n" },       /* 20 */
		{ "a NOOP xxxxxxxxxxxx\r\n", 0, "BAD a line_too_long\n" },          /* 21 */
		{ "a NOOP xxxxxxxxxxxx\r\nb NOOP\r\n", 0, "BAD a line_too_long\nDONE b NOOP\n" },
		{ "a NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx yy\r\nb NOOP\r\n", 0,
		    "BAD a line_too_long\nDONE b NOOP\n" },
		/* 9 + 11 line bytes around a 40-octet literal: 20, fine. */
		{ "a X {40}\r\n0123456789012345678901234567890123456789 yyyyyyy\r\n", 0,
		    "CONT\nDONE a X {40}0123456789012345678901234567890123456789 yyyyyyy\n" },
		{ "a X {40}\r\n0123456789012345678901234567890123456789 yyyyyyyy\r\n", 0,
		    "CONT\nBAD a line_too_long\n" },
		/* Over the limit with a {N+} after the cut: still discarded. */
		{ "a X yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy {3+}\r\nb N\r\nc NOOP\r\n", 0,
		    "BAD a line_too_long\nDONE c NOOP\n" },
	};
	/* clang-format on */

	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_literal_limit(void **state)
{
	struct imap_parser_limits lim = {.max_line = 100,
	    .max_literal = 5,
	    .max_command = 1000,
	    .max_args = 100,
	    .max_depth = 4};
	/* clang-format off */
	static const struct pcase cases[] = {
		{ "a X {4}\r\n1234\r\n", 0, "CONT\nDONE a X {4}1234\n" },
		{ "a X {5}\r\n12345\r\n", 0, "CONT\nDONE a X {5}12345\n" },
		/* {N} over the limit: BAD at once, no "+", the client sends
		 * nothing more for it. */
		{ "a X {6}\r\nb NOOP\r\n", 0, "BAD a literal_too_big\nDONE b NOOP\n" },
		{ "a X {4294967296}\r\nb NOOP\r\n", 0, "BAD a literal_too_big\nDONE b NOOP\n" },
		{ "a X {99999999999999999999999}\r\nb NOOP\r\n", 0,
		    "BAD a literal_too_big\nDONE b NOOP\n" },
		{ "a X {4+}\r\n1234\r\n", 0, "DONE a X {4+}1234\n" },
		{ "a X {5+}\r\n12345\r\n", 0, "DONE a X {5+}12345\n" },
		/* {N+} over the limit: the client is already sending; we close. */
		{ "a X {6+}\r\n123456\r\nb NOOP\r\n", 0, "FATAL nonsync_literal_too_big\n" },
		/* ... also inside a line that is already bad. */
		{ "a X ) {6+}\r\n123456\r\nb NOOP\r\n", 0, "FATAL nonsync_literal_too_big\n" },
		{ "a X ) {5+}\r\n12345\r\nb NOOP\r\n", 0, "BAD a syntax\nDONE b NOOP\n" },
		{ "a X ) {99999999999999999999+}\r\n", 0, "FATAL nonsync_literal_too_big\n" },
	};
	/* clang-format on */

	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_command_limit(void **state)
{
	/* "a X {5}\r\n" is 9 line bytes; each " {5}\r\n" 6 more. */
	struct imap_parser_limits lim = {
	    .max_line = 30, .max_literal = 100, .max_command = 30, .max_args = 100, .max_depth = 4};
	/* clang-format off */
	static const struct pcase cases[] = {
		/* 9 + 5 + 6 + 5 + 2 = 27 */
		{ "a X {5}\r\n12345 {5}\r\n12345\r\n", 0, "CONT\nCONT\nDONE a X {5}12345 {5}12345\n" },
		/* 9 + 5 + 6 + 8 + 2 = 30: max */
		{ "a X {5}\r\n12345 {8}\r\n12345678\r\n", 0,
		    "CONT\nCONT\nDONE a X {5}12345 {8}12345678\n" },
		/* At '}' the bytes so far plus N are checked: 14 + 5 + 11 = 30
		 * passes, 31 is BAD with no "+" ... */
		{ "a X {5}\r\n12345 {12}\r\nb NOOP\r\n", 0,
		    "CONT\nBAD a command_too_big\nDONE b NOOP\n" },
		{ "a X {5}\r\n12345 {12+}\r\n123456789012\r\nb NOOP\r\n", 0,
		    "CONT\nFATAL nonsync_literal_too_big\n" },
		/* ... and the line terminators still to come are checked as they
		 * arrive: {11} passed, its CRLF and the final CRLF make 34. */
		{ "a X {5}\r\n12345 {11}\r\n12345678901\r\nb NOOP\r\n", 0,
		    "CONT\nCONT\nBAD a command_too_big\nDONE b NOOP\n" },
		/* line bytes after the literals push it over */
		{ "a X {5}\r\n12345 {8}\r\n12345678 x\r\nb NOOP\r\n", 0,
		    "CONT\nCONT\nBAD a command_too_big\nDONE b NOOP\n" },
	};
	/* clang-format on */

	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_args_and_depth_limits(void **state)
{
	struct imap_parser_limits lim = {.max_line = 100,
	    .max_literal = 100,
	    .max_command = 1000,
	    .max_args = 4,
	    .max_depth = 2};
	/* clang-format off */
	static const struct pcase cases[] = {
		{ "a X a b c\r\n", 0, "DONE a X a b c\n" },
		{ "a X a b c d\r\n", 0, "DONE a X a b c d\n" },
		{ "a X a b c d e\r\nb NOOP\r\n", 0, "BAD a too_many_args\nDONE b NOOP\n" },
		{ "a X (a b c)\r\n", 0, "DONE a X (a b c)\n" },
		{ "a X (a b c d)\r\n", 0, "BAD a too_many_args\n" },
		{ "a X a b c {1}\r\nz\r\n", 0, "CONT\nDONE a X a b c {1}z\n" },
		{ "a X a b c d {1}\r\nb NOOP\r\n", 0, "BAD a too_many_args\nDONE b NOOP\n" },
		/* The discarded {1+} octet is followed by the rest of the line. */
		{ "a X a b c d {1+}\r\nz rest\r\nb NOOP\r\n", 0,
		    "BAD a too_many_args\nDONE b NOOP\n" },
		{ "a X (a)\r\n", 0, "DONE a X (a)\n" },
		{ "a X ((a))\r\n", 0, "DONE a X ((a))\n" },
		{ "a X (((a)))\r\nb NOOP\r\n", 0, "BAD a too_deep\nDONE b NOOP\n" },
		{ "a X (()) (())\r\n", 0, "DONE a X (()) (())\n" },
		{ "a X a b c (d)\r\n", 0, "BAD a too_many_args\n" },
	};
	/* clang-format on */

	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_messages_and_tree_shape(void **state)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct imap_cmd cmd;
	size_t used;
	const char *in = "t7 FETCH 1 (FLAGS (a b) {2}\r\n";
	const struct imap_arg *l, *c;

	imap_parser_limits_default(&lim);
	p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used, &cmd), IMAP_PARSE_CONTINUE);
	assert_int_equal(used, strlen(in));
	/* Limits can only change between commands. */
	assert_int_equal(imap_parser_set_limits(p, &lim), MN_EINVAL);
	assert_int_equal(imap_parser_feed(p, "xy)\r\nnext", 9, &used, &cmd), IMAP_PARSE_DONE);
	assert_int_equal(used, 5);
	assert_true(slice_eq(cmd.tag, SLICE_LIT("t7")));
	assert_true(slice_eq(cmd.name, SLICE_LIT("FETCH")));
	assert_int_equal(cmd.n_args, 2);
	assert_int_equal(cmd.n_nodes, 7);
	assert_int_equal(cmd.args->type, IMAP_ARG_ATOM);
	l = cmd.args->next;
	assert_int_equal(l->type, IMAP_ARG_LIST);
	assert_int_equal(l->n_children, 3);
	assert_null(l->next);
	c = l->child;
	assert_true(slice_eq(c->str, SLICE_LIT("FLAGS")));
	assert_int_equal(c->next->type, IMAP_ARG_LIST);
	assert_int_equal(c->next->n_children, 2);
	assert_true(slice_eq(c->next->child->next->str, SLICE_LIT("b")));
	assert_null(c->next->child->next->next);
	assert_int_equal(c->next->next->type, IMAP_ARG_LITERAL);
	assert_false(c->next->next->literal_plus);
	assert_true(slice_eq(c->next->next->str, SLICE_LIT("xy")));
	assert_int_equal(imap_parser_set_limits(p, &lim), 0);

	/* Reply texts carry no client bytes. */
	assert_int_equal(imap_parser_feed(p, "a b c  d\r\n", 10, &used, &cmd), IMAP_PARSE_BAD);
	assert_string_equal(cmd.error_msg, "Extra space");
	assert_true(slice_eq(cmd.tag, SLICE_LIT("a")));
	assert_true(slice_eq(cmd.name, SLICE_LIT("b")));
	assert_int_equal(imap_parser_feed(p, "a X {9+}\r\n", 10, &used, &cmd), IMAP_PARSE_MORE);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, "\r\n", 2, &used, &cmd), IMAP_PARSE_BAD);
	assert_string_equal(cmd.error_msg, "Empty command line");
	assert_int_equal(cmd.tag.len, 0);
	imap_parser_free(&p);

	lim.max_literal = 1;
	p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed(p, "a X {2+}\r\n", 10, &used, &cmd), IMAP_PARSE_FATAL);
	assert_int_equal(used, 8); /* stops at the '}' */
	assert_string_equal(cmd.error_msg, "Non-synchronizing literal too big");
	assert_int_equal(cmd.error, IMAP_PERR_NONSYNC_LITERAL_TOO_BIG);
	imap_parser_free(&p);
	imap_parser_free(&p); /* NULL is fine */
}

/* Zero limits are raised to the smallest workable ones, never a crash. */
static void
test_zero_limits(void **state)
{
	struct imap_parser_limits lim = {0};
	/* clang-format off */
	static const struct pcase cases[] = {
		{ "\n", 0, "BAD * empty_line\n" },
		{ "\na NOOP\r\n\n", 0, "BAD * empty_line\nBAD * line_too_long\nBAD * empty_line\n" },
		/* The line goes on after a discarded {0+}; {1+} is over max_literal 0. */
		{ "a X {0+}\r\n\r\n", 0, "BAD * line_too_long\n" },
		{ "a X {1+}\r\n", 0, "FATAL nonsync_literal_too_big\n" },
	};
	/* clang-format on */

	check_cases(&lim, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_default_limits(void **state)
{
	struct imap_parser_limits d, pre;

	imap_parser_limits_default(&d);
	imap_parser_limits_preauth(&pre);
	assert_int_equal(d.max_line, 8192);
	assert_int_equal(d.max_literal, 50u * 1024 * 1024);
	assert_true(d.max_command > d.max_literal);
	assert_int_equal(pre.max_literal, 4096);
	assert_int_equal(pre.max_args, 64);
	assert_true(pre.max_line <= d.max_line && pre.max_command < d.max_command);
}

/* A big literal split over many feeds ends up intact. */
static void
test_big_literal_split(void **state)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct imap_cmd cmd;
	size_t used, n = 200000, fed = 0;
	char *data = malloc(n);
	const char *hdr = "a APPEND INBOX {200000}\r\n";

	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	imap_parser_limits_default(&lim);
	p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed(p, hdr, strlen(hdr), &used, &cmd), IMAP_PARSE_CONTINUE);
	while (fed < n) {
		size_t k = n - fed < 4093 ? n - fed : 4093;

		assert_int_equal(imap_parser_feed(p, data + fed, k, &used, &cmd), IMAP_PARSE_MORE);
		assert_int_equal(used, k);
		fed += k;
	}
	assert_int_equal(imap_parser_feed(p, "\r\n", 2, &used, &cmd), IMAP_PARSE_DONE);
	assert_int_equal(cmd.args->next->type, IMAP_ARG_LITERAL);
	assert_int_equal(cmd.args->next->str.len, n);
	assert_memory_equal(cmd.args->next->str.ptr, data, n);
	/* The next command reuses a small buffer. */
	assert_int_equal(imap_parser_feed(p, "b NOOP\r\n", 8, &used, &cmd), IMAP_PARSE_DONE);
	imap_parser_free(&p);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_commands),
	    cmocka_unit_test(test_invalid_commands),
	    cmocka_unit_test(test_line_limit),
	    cmocka_unit_test(test_literal_limit),
	    cmocka_unit_test(test_command_limit),
	    cmocka_unit_test(test_args_and_depth_limits),
	    cmocka_unit_test(test_messages_and_tree_shape),
	    cmocka_unit_test(test_zero_limits),
	    cmocka_unit_test(test_default_limits),
	    cmocka_unit_test(test_big_literal_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
