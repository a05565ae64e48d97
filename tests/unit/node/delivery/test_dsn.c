/*
 * test_dsn.c - node/delivery/dsn: the whole bounce compared byte for byte
 * (boundary, the three parts, per-recipient fields), headers only for
 * RET=HDRS and for originals over 1 MiB, a delay warning, boundary
 * collisions, CR/LF in remote text cannot inject fields, status codes
 * derived from replies, all-or-nothing output at the buffer limit.
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
#include "node/delivery/dsn.h"

static const char original[] = "From: alice@example.test\r\n"
                               "To: bob@remote.test\r\n"
                               "Subject: hello\r\n"
                               "\r\n"
                               "body line 1\r\n"
                               ".dot line\r\n";

static const struct dsn_rcpt two_rcpts[] = {
    {"bob@remote.test", "rfc822;bob+2Bext@remote.test", DSN_FAILED, NULL,
        "550 5.1.1 <bob@remote.test>: no such user", "mx.remote.test"},
    {"carol@remote.test", NULL, DSN_FAILED, "5.4.4", "remote.test: no such domain (NXDOMAIN)",
        NULL},
};

static struct dsn_info
base_info(void)
{
	struct dsn_info info = {
	    .reporting_mta = "mail1.example.test",
	    .postmaster = "MAILER-DAEMON@mail1.example.test",
	    .to = "alice@example.test",
	    .envid = "ENV123",
	    .arrival_date = 1795832437, /* Sat, 28 Nov 2026 02:20:37 */
	    .now = 1795832497,
	    .message_id = "dsn.1@mail1.example.test",
	    .rcpts = two_rcpts,
	    .nrcpts = 2,
	    .original = original,
	    .original_len = sizeof(original) - 1,
	};

	return info;
}

/* boundary_of - the boundary parameter, checked to be on its own line */
static char *
boundary_of(const char *msg)
{
	const char *p = strstr(msg, "\tboundary=\"");
	const char *e;

	assert_non_null(p);
	p += strlen("\tboundary=\"");
	e = strchr(p, '"');
	assert_non_null(e);
	assert_true(e[1] == '\r' && e[2] == '\n');
	return xstrndup(p, (size_t)(e - p));
}

/* subst - expected text with @B@ replaced by the boundary */
static char *
subst(const char *tmpl, const char *b)
{
	struct buf out;
	const char *p;

	buf_init(&out, 0);
	while ((p = strstr(tmpl, "@B@")) != NULL) {
		buf_append(&out, tmpl, (size_t)(p - tmpl));
		buf_append_str(&out, b);
		tmpl = p + 3;
	}
	buf_append_str(&out, tmpl);
	return buf_steal(&out, NULL);
}

static void
test_bounce_exact(void **state)
{
	static const char expected[] =
	    "From: Mail Delivery System <MAILER-DAEMON@mail1.example.test>\r\n"
	    "To: <alice@example.test>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: Sat, 28 Nov 2026 02:21:37 +0000\r\n"
	    "Message-ID: <dsn.1@mail1.example.test>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"@B@\"\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n"
	    "\r\n"
	    "--@B@\r\n"
	    "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "This is the mail system at host mail1.example.test.\r\n"
	    "\r\n"
	    "I'm sorry to have to inform you that your message could not\r\n"
	    "be delivered to one or more recipients. It's attached below.\r\n"
	    "\r\n"
	    "For further assistance, please send mail to postmaster.\r\n"
	    "\r\n"
	    "<bob@remote.test>: host mx.remote.test said: 550 5.1.1 <bob@remote.test>: no such "
	    "user\r\n"
	    "<carol@remote.test>: remote.test: no such domain (NXDOMAIN)\r\n"
	    "\r\n"
	    "--@B@\r\n"
	    "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n"
	    "\r\n"
	    "Reporting-MTA: dns; mail1.example.test\r\n"
	    "Original-Envelope-Id: ENV123\r\n"
	    "Arrival-Date: Sat, 28 Nov 2026 02:20:37 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@remote.test\r\n"
	    "Original-Recipient: rfc822;bob+ext@remote.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.remote.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; carol@remote.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.4.4\r\n"
	    "Diagnostic-Code: X-mailnode; remote.test: no such domain (NXDOMAIN)\r\n"
	    "\r\n"
	    "--@B@\r\n"
	    "Content-Description: Undelivered Message\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "From: alice@example.test\r\n"
	    "To: bob@remote.test\r\n"
	    "Subject: hello\r\n"
	    "\r\n"
	    "body line 1\r\n"
	    ".dot line\r\n"
	    "\r\n"
	    "--@B@--\r\n";
	struct dsn_info info = base_info();
	struct buf out;
	char *b, *want;

	buf_init(&out, 0);
	buf_append_str(&out, "PREFIX"); /* appends, keeps what was there */
	assert_int_equal(dsn_build(&out, &info), 0);
	assert_memory_equal(out.data, "PREFIX", 6);
	b = boundary_of(buf_cstr(&out));
	assert_true(strncmp(b, "=_mailnode_dsn_", 15) == 0);
	want = subst(expected, b);
	assert_string_equal(buf_cstr(&out) + 6, want);
	/* same input, same bytes */
	buf_reset(&out);
	assert_int_equal(dsn_build(&out, &info), 0);
	assert_string_equal(buf_cstr(&out), want);
	free(want);
	free(b);
	buf_fini(&out);
}

static void
assert_headers_only(const char *msg)
{
	const char *p = strstr(msg, "Content-Description: Undelivered Message Headers\r\n"
	                            "Content-Type: text/rfc822-headers\r\n\r\n"
	                            "From: alice@example.test\r\n"
	                            "To: bob@remote.test\r\n"
	                            "Subject: hello\r\n"
	                            "\r\n"
	                            "\r\n--");

	assert_non_null(p);
	assert_null(strstr(msg, "message/rfc822"));
	assert_null(strstr(msg, "body line 1"));
}

static void
test_headers_only(void **state)
{
	struct dsn_info info = base_info();
	struct buf out;
	char *big;
	size_t hl = strstr(original, "\r\n\r\n") + 4 - original;

	buf_init(&out, 0);
	info.headers_only = true; /* RET=HDRS */
	assert_int_equal(dsn_build(&out, &info), 0);
	assert_headers_only(buf_cstr(&out));

	/* an original over 1 MiB is cut to its header even with RET=FULL */
	big = xmalloc(DSN_MAX_ORIGINAL + 100);
	memcpy(big, original, hl);
	memset(big + hl, 'x', DSN_MAX_ORIGINAL + 100 - hl);
	info = base_info();
	info.original = big;
	info.original_len = DSN_MAX_ORIGINAL + 100;
	buf_reset(&out);
	assert_int_equal(dsn_build(&out, &info), 0);
	assert_headers_only(buf_cstr(&out));
	assert_true(out.len < 4096);
	/* exactly at the limit it is returned whole */
	info.original_len = DSN_MAX_ORIGINAL;
	buf_reset(&out);
	assert_int_equal(dsn_build(&out, &info), 0);
	assert_non_null(strstr(buf_cstr(&out), "Content-Type: message/rfc822\r\n"));
	assert_true(out.len > DSN_MAX_ORIGINAL);
	free(big);
	buf_fini(&out);
}

static void
test_delay_warning(void **state)
{
	static const struct dsn_rcpt r[] = {
	    {"bob@remote.test", NULL, DSN_DELAYED, NULL, "451 4.3.0 try later", "mx.remote.test"},
	};
	struct dsn_info info = base_info();
	struct buf out;
	const char *s;

	info.rcpts = r;
	info.nrcpts = 1;
	info.envid = NULL;
	info.expires = info.arrival_date + 5 * 86400;
	info.headers_only = true;
	buf_init(&out, 0);
	assert_int_equal(dsn_build(&out, &info), 0);
	s = buf_cstr(&out);
	assert_non_null(strstr(s, "\r\nSubject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(s, "# THIS IS A WARNING ONLY."));
	assert_null(strstr(s, "I'm sorry"));
	assert_non_null(strstr(s, "\r\n\r\nFinal-Recipient: rfc822; bob@remote.test\r\n"
	                          "Action: delayed\r\n"
	                          "Status: 4.3.0\r\n"
	                          "Remote-MTA: dns; mx.remote.test\r\n"
	                          "Diagnostic-Code: smtp; 451 4.3.0 try later\r\n"
	                          "Will-Retry-Until: Thu, 3 Dec 2026 02:20:37 +0000\r\n\r\n--"));
	assert_null(strstr(s, "Original-Envelope-Id"));
	buf_fini(&out);
}

static void
test_no_injection_and_8bit(void **state)
{
	static const struct dsn_rcpt r[] = {
	    {"jörg@remote.test", NULL, DSN_FAILED, NULL, "550 bad\r\nX-Injected: yes\r\n\r\nbody",
	        "mx\r\nX-Evil: 1"},
	};
	struct dsn_info info = base_info();
	struct buf out;
	const char *s;

	info.rcpts = r;
	info.nrcpts = 1;
	buf_init(&out, 0);
	assert_int_equal(dsn_build(&out, &info), 0);
	s = buf_cstr(&out);
	assert_null(strstr(s, "\r\nX-Injected"));
	assert_null(strstr(s, "\r\nX-Evil"));
	assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 bad  X-Injected: yes    body\r\n"));
	assert_non_null(strstr(s, "Status: 5.0.0\r\n"));
	assert_non_null(strstr(s, "Content-Type: text/plain; charset=utf-8\r\n"
	                          "Content-Transfer-Encoding: 8bit\r\n"));
	assert_non_null(strstr(s, "Final-Recipient: rfc822; jörg@remote.test\r\n"));
	buf_fini(&out);
}

static void
test_boundary_collision(void **state)
{
	struct dsn_info info = base_info();
	struct buf out, orig;
	char *b, *b2, *line;

	buf_init(&out, 0);
	assert_int_equal(dsn_build(&out, &info), 0);
	b = boundary_of(buf_cstr(&out));
	/* an original that contains exactly that boundary as a line */
	buf_init(&orig, 0);
	buf_printf(&orig, "Subject: x\r\n\r\n--%s\r\nevil\r\n", b);
	info.original = (const char *)orig.data;
	info.original_len = orig.len;
	buf_reset(&out);
	assert_int_equal(dsn_build(&out, &info), 0);
	b2 = boundary_of(buf_cstr(&out));
	assert_string_not_equal(b, b2);
	assert_null(memmem(orig.data, orig.len, b2, strlen(b2)));
	line = xasprintf("\r\n--%s--\r\n", b2);
	assert_true(out.len > strlen(line));
	assert_memory_equal(out.data + out.len - strlen(line), line, strlen(line));
	free(line);
	free(b);
	free(b2);
	buf_fini(&orig);
	buf_fini(&out);
}

static void
test_status_from_reply(void **state)
{
	static const struct {
		const char *reply;
		bool perm;
		const char *want;
	} cases[] = {
	    {"550 5.1.1 no such user", true, "5.1.1"},
	    {"550-5.7.1 policy", true, "5.7.1"},
	    {"452 4.2.2 mailbox full", false, "4.2.2"},
	    {"550 4.2.2 mismatched class", true, "5.0.0"},
	    {"554 transaction failed", true, "5.0.0"},
	    {"421", false, "4.0.0"},
	    {"550 5.1.10 x", true, "5.1.10"},
	    {"550 5.1.1000 x", true, "5.0.0"},
	    {"550 5.1.1", true, "5.1.1"},
	    {"550 5. 1.1 blank", true, "5.0.0"},
	    {"550 5.+1.1 sign", true, "5.0.0"},
	    {"550 5.1.-1 sign", true, "5.0.0"},
	    {"550 5..1 empty", true, "5.0.0"},
	    {"550 5.1.1x junk", true, "5.0.0"},
	    {"550 55.1.1 two-digit class", true, "5.0.0"},
	    {"no such domain", true, "5.0.0"},
	    {"connection refused", false, "4.0.0"},
	    {NULL, false, "4.0.0"},
	};
	char out[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    dsn_status_from_reply(cases[i].reply, cases[i].perm, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_errors(void **state)
{
	struct dsn_info info = base_info();
	struct buf out;

	buf_init(&out, 200);
	buf_append_str(&out, "keep");
	assert_int_equal(dsn_build(&out, &info), MN_ETOOBIG);
	assert_int_equal(out.len, 4);
	info.nrcpts = 0;
	assert_int_equal(dsn_build(&out, &info), MN_EINVAL);
	info = base_info();
	info.to = NULL;
	assert_int_equal(dsn_build(&out, &info), MN_EINVAL);
	assert_int_equal(out.len, 4);
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounce_exact),
	    cmocka_unit_test(test_headers_only),
	    cmocka_unit_test(test_delay_warning),
	    cmocka_unit_test(test_no_injection_and_8bit),
	    cmocka_unit_test(test_boundary_collision),
	    cmocka_unit_test(test_status_from_reply),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
