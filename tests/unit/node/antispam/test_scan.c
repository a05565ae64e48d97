/*
 * test_scan.c - the spamd and rspamd reply parsers (node/antispam/scan.c)
 * on whole replies and fed one byte at a time (every proper prefix must
 * ask for more, never succeed or fail early), the refusals with their
 * reasons, scanner addresses, and the request bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/antispam/scan.h"

typedef int parse_fn(const uint8_t *, size_t, bool, struct scan_result *);

struct ok_case {
	const char *reply;
	bool spam;
	double score, required;
	const char *action, *symbols;
};

/* every proper prefix needs more (or, for a reply that ends at the close,
 * parses at eof) */
static void
check_ok(parse_fn *parse, const struct ok_case *c, bool needs_eof)
{
	const uint8_t *p = (const uint8_t *)c->reply;
	size_t len = strlen(c->reply);
	struct scan_result r;

	for (size_t n = 0; n < len; n++)
		assert_int_equal(parse(p, n, false, &r), 0);
	assert_int_equal(parse(p, len, false, &r), needs_eof ? 0 : 1);
	assert_int_equal(parse(p, len, true, &r), 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.spam, c->spam);
	assert_true(r.score == c->score);
	assert_true(r.required == c->required);
	assert_string_equal(r.action, c->action);
	assert_string_equal(r.symbols, c->symbols);
}

static void
test_spamd_replies(void **state)
{
	static const struct ok_case with_length[] = {
	    {"SPAMD/1.1 0 EX_OK\r\nContent-length: 14\r\nSpam: True ; 15.2 / 5.0\r\n\r\n"
	     "BAYES_99,X_Y\r\n",
	        true, 15.2, 5.0, "", "BAYES_99,X_Y"},
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: False ; -1.5 / 5.0\r\nContent-length: 0\r\n\r\n", false,
	        -1.5, 5.0, "", ""},
	    /* odd spacing, Yes/No, LF only, names cleaned of header-breaking bytes */
	    {"SPAMD/1.5 0 EX_OK\nspam:   yes;7/  5\ncontent-length: 8\n\nA B,\"C\"\n", true, 7.0,
	        5.0, "", "AB,C"},
	};
	static const struct ok_case at_eof[] = {
	    /* CHECK: no body, no length: complete when spamd closes */
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6.0 / 5.0\r\n\r\n", true, 6.0, 5.0, "", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(with_length) / sizeof(with_length[0]); i++)
		check_ok(scan_spamd_parse, &with_length[i], false);
	for (size_t i = 0; i < sizeof(at_eof) / sizeof(at_eof[0]); i++)
		check_ok(scan_spamd_parse, &at_eof[i], true);
}

struct bad_case {
	const char *reply;
	const char *reason;
};

static void
check_bad(parse_fn *parse, const struct bad_case *c)
{
	struct scan_result r;

	assert_int_equal(parse((const uint8_t *)c->reply, strlen(c->reply), true, &r), MN_EPARSE);
	assert_int_equal(r.status, MN_EPARSE);
	assert_string_equal(r.reason, c->reason);
}

static void
test_spamd_refusals(void **state)
{
	static const struct bad_case cases[] = {
	    {"", "not a spamd reply"},
	    {"HTTP/1.0 200 OK\r\n\r\n", "not a spamd reply"},
	    {"SPAMD/1.0 76 Bad header line: x\r\n", "spamd: SPAMD/1.0 76 Bad header line: x"},
	    {"SPAMD/1.1 0 EX_OK\r\n\r\n", "no Spam header in spamd reply"},
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n", "bad Spam header in spamd reply"},
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / \r\n\r\n", "bad Spam header in spamd reply"},
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5 x\r\n\r\n", "bad Spam header in spamd reply"},
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\nContent-length: 99999999\r\n\r\n",
	        "bad Content-length in spamd reply"},
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\nContent-length: 10\r\n\r\nAB",
	        "spamd reply ends early"},
	    /* a status line cut off by the close */
	    {"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\n", "spamd reply ends early"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(scan_spamd_parse, &cases[i]);
}

static char *
http_reply(const char *json)
{
	char *out;
	size_t n = strlen(json);

	assert_true(asprintf(&out,
	                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                "Content-Length: %zu\r\n\r\n%s",
	                n, json) > 0);
	return out;
}

static void
test_rspamd_replies(void **state)
{
	static const struct {
		const char *json;
		bool spam;
		double score, required;
		const char *action, *symbols;
	} cases[] = {
	    {"{\"is_skipped\":false,\"score\":16.5,\"required_score\":15,\"action\":\"reject\","
	     "\"symbols\":{\"R_SPF_FAIL\":{\"score\":1},\"BAYES_SPAM\":{\"score\":5}}}",
	        true, 16.5, 15.0, "reject", "R_SPF_FAIL,BAYES_SPAM"},
	    {"{\"score\":7,\"required_score\":15,\"action\":\"add header\"}", true, 7.0, 15.0,
	        "add header", ""},
	    {"{\"score\":7,\"required_score\":15,\"action\":\"rewrite subject\"}", true, 7.0, 15.0,
	        "rewrite subject", ""},
	    {"{\"score\":0.5,\"required_score\":15,\"action\":\"no action\"}", false, 0.5, 15.0,
	        "no action", ""},
	    {"{\"score\":5,\"action\":\"greylist\"}", false, 5.0, 0.0, "greylist", ""},
	    {"{\"score\":5,\"action\":\"soft reject\"}", false, 5.0, 0.0, "soft reject", ""},
	    /* a skipped message is never spam; a huge score is clamped */
	    {"{\"is_skipped\":true,\"score\":1e300,\"action\":\"reject\"}", false, SCAN_SCORE_MAX,
	        0.0, "reject", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *reply = http_reply(cases[i].json);
		struct ok_case c = {reply, cases[i].spam, cases[i].score, cases[i].required,
		    cases[i].action, cases[i].symbols};

		check_ok(scan_rspamd_parse, &c, false);
		free(reply);
	}
	/* without Content-Length: the body runs to the close */
	struct ok_case eof = {"HTTP/1.0 200 OK\r\n\r\n{\"score\":1,\"action\":\"no action\"}",
	    false, 1.0, 0.0, "no action", ""};
	check_ok(scan_rspamd_parse, &eof, true);
}

static void
test_rspamd_refusals(void **state)
{
	static const struct bad_case cases[] = {
	    {"", "rspamd reply ends in its header"},
	    {"SPAMD/1.1 0 EX_OK\r\n\r\n", "not an HTTP reply"},
	    {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
	        "rspamd answered HTTP 500"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	        "rspamd reply uses a transfer coding"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n[1] ",
	        "rspamd reply is not a JSON object"},
	    {"HTTP/1.1 200 OK\r\n\r\n{\"action\":\"reject\"}", "rspamd reply has no score"},
	    {"HTTP/1.1 200 OK\r\n\r\n{\"score\":\"9\",\"action\":\"reject\"}",
	        "rspamd reply has no score"},
	    {"HTTP/1.1 200 OK\r\n\r\n{\"score\":9}", "rspamd reply has no action"},
	    {"HTTP/1.1 200 OK\r\n\r\n{\"score\":9,\"score\":1,\"action\":\"x\"}",
	        "rspamd reply is not a JSON object"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}", "rspamd reply ends early"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(scan_rspamd_parse, &cases[i]);
}

static void
test_targets(void **state)
{
	struct scan_target t;
	struct mn_err err;

	(void)state;
	assert_int_equal(scan_target_parse(SCAN_SPAMD, "127.0.0.1:783", &t, &err), 0);
	assert_string_equal(t.ip, "127.0.0.1");
	assert_int_equal(t.port, 783);
	assert_int_equal(scan_target_parse(SCAN_SPAMD, "[::1]:783", &t, &err), 0);
	assert_string_equal(t.ip, "::1");
	assert_int_equal(scan_target_parse(SCAN_RSPAMD, "http://127.0.0.2:11333", &t, &err), 0);
	assert_string_equal(t.path, "/checkv2");
	assert_int_equal(t.port, 11333);
	assert_int_equal(
	    scan_target_parse(SCAN_RSPAMD, "http://127.0.0.2:11333/x/checkv2", &t, &err), 0);
	assert_string_equal(t.path, "/x/checkv2");
	assert_int_equal(scan_target_parse(SCAN_SPAMD, "127.0.0.1", &t, &err), MN_EINVAL);
	assert_int_equal(scan_target_parse(SCAN_SPAMD, "127.0.0.1:0", &t, &err), MN_EINVAL);
	assert_int_equal(scan_target_parse(SCAN_SPAMD, "127.0.0.1:783/x", &t, &err), MN_EINVAL);
	assert_int_equal(scan_target_parse(SCAN_RSPAMD, "127.0.0.1:783", &t, &err), MN_EINVAL);
}

static void
test_requests(void **state)
{
	static const char *rcpts[] = {"b@x.test", "c@x.test"};
	struct scan_target t;
	struct scan_request req = {
	    .ip = "192.0.2.9",
	    .helo = "evil\r\nUser: root",
	    .sender = "a@y.test",
	    .rcpts = rcpts,
	    .nrcpts = 2,
	    .user = "b@x.test",
	    .queue_id = "Q1",
	    .head = (const uint8_t *)"R: 1\r\n",
	    .head_len = 6,
	    .msg = (const uint8_t *)"S: 2\r\n\r\nhi\r\n",
	    .len = 12,
	};
	struct mn_err err;
	size_t n;
	char *r;

	(void)state;
	assert_int_equal(scan_target_parse(SCAN_SPAMD, "127.0.0.1:783", &t, &err), 0);
	r = scan_request_build(&t, &req, &n);
	assert_int_equal(n, strlen(r));
	assert_string_equal(r, "SYMBOLS SPAMC/1.5\r\nContent-length: 18\r\nUser: b@x.test\r\n\r\n"
	                       "R: 1\r\nS: 2\r\n\r\nhi\r\n");
	free(r);
	assert_int_equal(scan_target_parse(SCAN_RSPAMD, "http://127.0.0.1:11333", &t, &err), 0);
	r = scan_request_build(&t, &req, &n);
	/* the HELO is cut at its CR: no injected header */
	assert_string_equal(r,
	    "POST /checkv2 HTTP/1.1\r\nHost: 127.0.0.1:11333\r\n"
	    "Connection: close\r\nContent-Length: 18\r\nIP: 192.0.2.9\r\n"
	    "Helo: evil\r\nFrom: <a@y.test>\r\nRcpt: <b@x.test>\r\n"
	    "Rcpt: <c@x.test>\r\nQueue-Id: Q1\r\n\r\nR: 1\r\nS: 2\r\n\r\nhi\r\n");
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spamd_replies),
	    cmocka_unit_test(test_spamd_refusals),
	    cmocka_unit_test(test_rspamd_replies),
	    cmocka_unit_test(test_rspamd_refusals),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
