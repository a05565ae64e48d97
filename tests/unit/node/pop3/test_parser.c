/*
 * test_parser.c - the POP3 command parser: a table of lines, each fed whole
 * and one byte at a time, with the outcome rendered as text
 * ("KEYWORD [arg|arg] rest=<...>" or "BAD reason"); limits at max-1, max
 * and max+1; raw (SASL continuation) mode; recovery after bad lines.
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
#include "node/pop3/parser.h"

/* Render every line's outcome, separated by "\n". chunk 0: all at once. */
static void
run(struct pop3_parser *p, const char *in, size_t len, size_t chunk, char *out, size_t outlen)
{
	size_t off = 0, o = 0;

	out[0] = '\0';
	while (off < len) {
		size_t n = chunk == 0 ? len - off : (len - off < chunk ? len - off : chunk);
		size_t used = 0;

		while (n > 0) {
			struct pop3_cmd cmd;
			const char *reason;
			enum pop3_parse_result r;

			r = pop3_parser_feed(p, in + off, n, &used, &cmd, &reason);
			assert_true(used <= n);
			off += used;
			n -= used;
			if (r == POP3_PARSE_MORE) {
				assert_int_equal(n, 0);
				break;
			}
			assert_true(used > 0);
			if (r == POP3_PARSE_BAD) {
				assert_non_null(reason);
				o += (size_t)snprintf(out + o, outlen - o, "BAD %s\n", reason);
				continue;
			}
			if (p->raw) {
				o += (size_t)snprintf(out + o, outlen - o, "RAW <%.*s>\n",
				    (int)cmd.line.len, cmd.line.ptr);
				continue;
			}
			o += (size_t)snprintf(out + o, outlen - o, "%s [", cmd.keyword);
			for (size_t i = 0; i < cmd.nargs; i++)
				o += (size_t)snprintf(out + o, outlen - o, "%s%.*s", i ? "|" : "",
				    (int)cmd.args[i].len, cmd.args[i].ptr);
			o += (size_t)snprintf(out + o, outlen - o, "] rest=<%.*s>\n",
			    (int)cmd.rest.len, cmd.rest.ptr);
		}
	}
}

struct pcase {
	const char *in;
	const char *want;
	size_t len; /* 0: strlen(in); set for inputs holding a NUL */
};

static const struct pcase cases[] = {
    {"STAT\r\n", "STAT [] rest=<>\n", 0}, {"stat\r\n", "STAT [] rest=<>\n", 0},
    {"StAt\n", "STAT [] rest=<>\n", 0}, {"LIST 1\r\n", "LIST [1] rest=<1>\n", 0},
    {"TOP 1 10\r\n", "TOP [1|10] rest=<1 10>\n", 0},
    {"TOP  1   10  \r\n", "TOP [1|10] rest=< 1   10  >\n", 0},
    {"TOP 1 2 3\r\n", "BAD too many arguments\n", 0},
    {"USER bob@a.test\r\n", "USER [bob@a.test] rest=<bob@a.test>\n", 0},
    {"PASS my secret  pw\r\n", "PASS [my secret  pw] rest=<my secret  pw>\n", 0},
    {"PASS\r\n", "PASS [] rest=<>\n", 0},
    {"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
        "AUTH [PLAIN|AGJvYgBzZWNyZXQ=] rest=<PLAIN AGJvYgBzZWNyZXQ=>\n", 0},
    {"AUTH\r\n", "AUTH [] rest=<>\n", 0},
    {"QUIT\r\nNOOP\r\n", "QUIT [] rest=<>\nNOOP [] rest=<>\n", 0},
    {"\r\n", "BAD empty command\n", 0}, {"\n", "BAD empty command\n", 0},
    {"NO\r\n", "BAD invalid command\n", 0}, {"NOOPS\r\n", "BAD invalid command\n", 0},
    {"N0OP\r\n", "BAD invalid command\n", 0}, {" STAT\r\n", "BAD invalid command\n", 0},
    {"LIST\t1\r\n", "BAD invalid characters in command\n", 0},
    {"NO\0P\r\n", "BAD invalid characters in command\n", 6},
    {"\x80\x81\x82\r\nSTAT\r\n", "BAD invalid command\nSTAT [] rest=<>\n", 0},
    {"STAT\r\r\n", "BAD invalid characters in command\n", 0},
    {"garbage here\r\nNOOP\r\n", "BAD invalid command\nNOOP [] rest=<>\n", 0},
    {"RETR 1\r\nDELE", "RETR [1] rest=<1>\n", 0}, /* partial second line: MORE */
};

static void
test_table_whole_and_bytewise(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char whole[2048], bytes[2048];
		struct pop3_parser p;

		pop3_parser_init(&p, NULL);
		run(&p, cases[i].in, len, 0, whole, sizeof(whole));
		pop3_parser_fini(&p);
		pop3_parser_init(&p, NULL);
		run(&p, cases[i].in, len, 1, bytes, sizeof(bytes));
		pop3_parser_fini(&p);
		if (strcmp(whole, cases[i].want) != 0 || strcmp(bytes, cases[i].want) != 0)
			fail_msg("case %zu %s: whole=<%s> bytes=<%s> want=<%s>", i, cases[i].in,
			    whole, bytes, cases[i].want);
	}
}

/* A line of n octets including CRLF: keyword, a space, 'x' filler. */
static char *
line_of(const char *kw, size_t n)
{
	char *s = malloc(n + 1);
	size_t k = strlen(kw);

	assert_true(n >= k + 3);
	memcpy(s, kw, k);
	memset(s + k, 'x', n - 2 - k);
	s[k] = ' ';
	s[n - 2] = '\r';
	s[n - 1] = '\n';
	s[n] = '\0';
	return s;
}

static void
expect_line(size_t chunk, const char *kw, size_t n, const char *want_prefix)
{
	struct pop3_parser p;
	char *s = line_of(kw, n), out[8192];

	pop3_parser_init(&p, NULL);
	run(&p, s, n, chunk, out, sizeof(out));
	if (strncmp(out, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("%s line of %zu (chunk %zu): got <%.60s> want <%s>", kw, n, chunk, out,
		    want_prefix);
	/* the parser recovered: the next line parses */
	run(&p, "NOOP\r\n", 6, chunk, out, sizeof(out));
	assert_string_equal(out, "NOOP [] rest=<>\n");
	pop3_parser_fini(&p);
	free(s);
}

static void
test_line_limits(void **state)
{
	(void)state;
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		/* RFC 2449 §4: 255 octets including CRLF */
		expect_line(chunk, "USER", POP3_LINE_MAX - 1, "USER [x");
		expect_line(chunk, "USER", POP3_LINE_MAX, "USER [x");
		expect_line(chunk, "USER", POP3_LINE_MAX + 1, "BAD line too long");
		/* AUTH may go up to POP3_AUTH_LINE_MAX */
		expect_line(chunk, "AUTH", POP3_LINE_MAX + 1, "AUTH [x");
		expect_line(chunk, "AUTH", POP3_AUTH_LINE_MAX, "AUTH [x");
		expect_line(chunk, "AUTH", POP3_AUTH_LINE_MAX + 1, "BAD line too long");
		expect_line(chunk, "USER", POP3_AUTH_LINE_MAX + 1, "BAD line too long");
		expect_line(chunk, "USER", 100000, "BAD line too long");
	}
}

static void
test_configured_limits_clamp(void **state)
{
	struct pop3_parser p;
	struct pop3_parse_limits lim = {.max_line = 10, .max_auth_line = 100000, .max_args = 1};
	char out[256];

	(void)state;
	pop3_parser_init(&p, &lim);
	assert_int_equal(p.lim.max_line, POP3_LINE_MAX);
	assert_int_equal(p.lim.max_auth_line, POP3_AUTH_LINE_MAX);
	assert_int_equal(p.lim.max_args, 1);
	run(&p, "TOP 1 2\r\nLIST 3\r\n", 17, 0, out, sizeof(out));
	assert_string_equal(out, "BAD too many arguments\nLIST [3] rest=<3>\n");
	pop3_parser_fini(&p);
}

static void
test_raw_mode_for_sasl_continuation(void **state)
{
	struct pop3_parser p;
	char out[8192], *big;

	(void)state;
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		pop3_parser_init(&p, NULL);
		run(&p, "AUTH PLAIN\r\n", 12, chunk, out, sizeof(out));
		assert_string_equal(out, "AUTH [PLAIN] rest=<PLAIN>\n");
		pop3_parser_set_raw(&p, true);
		run(&p, "AGJvYgBzZWNyZXQ=\r\n", 18, chunk, out, sizeof(out));
		assert_string_equal(out, "RAW <AGJvYgBzZWNyZXQ=>\n");
		run(&p, "*\r\n\r\n", 5, chunk, out, sizeof(out));
		assert_string_equal(out, "RAW <*>\nRAW <>\n");
		/* raw lines are bounded too */
		big = line_of("A", POP3_AUTH_LINE_MAX + 1);
		run(&p, big, POP3_AUTH_LINE_MAX + 1, chunk, out, sizeof(out));
		assert_string_equal(out, "BAD line too long\n");
		free(big);
		pop3_parser_set_raw(&p, false);
		run(&p, "QUIT\r\n", 6, chunk, out, sizeof(out));
		assert_string_equal(out, "QUIT [] rest=<>\n");
		pop3_parser_fini(&p);
	}
}

static void
test_reset_drops_partial_line(void **state)
{
	struct pop3_parser p;
	char out[256];

	(void)state;
	pop3_parser_init(&p, NULL);
	run(&p, "DELE 1", 6, 0, out, sizeof(out));
	assert_string_equal(out, "");
	pop3_parser_reset(&p);
	run(&p, "STAT\r\n", 6, 0, out, sizeof(out));
	assert_string_equal(out, "STAT [] rest=<>\n");
	pop3_parser_fini(&p);
}

static void
test_wipe_clears_password(void **state)
{
	struct pop3_parser p;
	char out[256];

	(void)state;
	pop3_parser_init(&p, NULL);
	run(&p, "PASS hunter2\r\n", 14, 0, out, sizeof(out));
	assert_non_null(memmem(p.line, p.lim.max_auth_line, "hunter2", 7));
	pop3_parser_wipe(&p);
	assert_null(memmem(p.line, p.lim.max_auth_line, "hunter2", 7));
	pop3_parser_fini(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_whole_and_bytewise),
	    cmocka_unit_test(test_line_limits),
	    cmocka_unit_test(test_configured_limits_clamp),
	    cmocka_unit_test(test_raw_mode_for_sasl_continuation),
	    cmocka_unit_test(test_reset_drops_partial_line),
	    cmocka_unit_test(test_wipe_clears_password),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
