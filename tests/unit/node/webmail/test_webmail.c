/*
 * test_webmail.c - the pure parts of the webmail (node/webmail): the
 * session table (create, lookup, idle and absolute expiry, eviction,
 * CSRF compare), Cookie header parsing, the home-node rule, and message
 * rendering through the MIME parser (headers, text, HTML, attachments),
 * fed with CRLF and LF line ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "node/webmail/render.h"
#include "node/webmail/session.h"
#include "node/webmail/webmail.h"

static void
test_session_lifecycle(void **state)
{
	struct webmail_sessions *s;
	const struct webmail_session *a, *l;
	char id[WEBMAIL_TOKEN_LEN + 1], csrf[WEBMAIL_TOKEN_LEN + 1];

	(void)state;
	webmail_sessions_new(&s);
	a = webmail_session_create(s, "alice@a.test", 1000);
	assert_int_equal(strlen(a->id), WEBMAIL_TOKEN_LEN);
	assert_int_equal(
	    strspn(a->id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    WEBMAIL_TOKEN_LEN);
	assert_string_not_equal(a->id, a->csrf);
	memcpy(id, a->id, sizeof(id));
	memcpy(csrf, a->csrf, sizeof(csrf));
	l = webmail_session_lookup(s, id, strlen(id), 2000);
	assert_non_null(l);
	assert_string_equal(l->user, "alice@a.test");
	assert_true(webmail_session_csrf_ok(l, csrf, strlen(csrf)));
	assert_false(webmail_session_csrf_ok(l, id, strlen(id)));
	assert_false(webmail_session_csrf_ok(l, csrf, strlen(csrf) - 1));
	assert_false(webmail_session_csrf_ok(l, NULL, 0));
	/* prefix or wrong length: no session */
	assert_null(webmail_session_lookup(s, id, strlen(id) - 1, 2000));
	/* idle: refreshed by use, expires WEBMAIL_SESSION_IDLE_MS after the last */
	assert_non_null(
	    webmail_session_lookup(s, id, strlen(id), 2000 + WEBMAIL_SESSION_IDLE_MS - 1));
	assert_null(webmail_session_lookup(s, id, strlen(id), 2000 + 2 * WEBMAIL_SESSION_IDLE_MS));
	assert_int_equal(webmail_session_count(s), 0);
	/* absolute limit even while used */
	a = webmail_session_create(s, "bob@a.test", 0);
	memcpy(id, a->id, sizeof(id));
	for (uint64_t t = 0; t < WEBMAIL_SESSION_MAX_MS; t += WEBMAIL_SESSION_IDLE_MS / 2)
		assert_non_null(webmail_session_lookup(s, id, strlen(id), t));
	assert_null(webmail_session_lookup(s, id, strlen(id), WEBMAIL_SESSION_MAX_MS));
	/* logout */
	a = webmail_session_create(s, "carol@a.test", 0);
	memcpy(id, a->id, sizeof(id));
	webmail_session_end(s, id);
	assert_null(webmail_session_lookup(s, id, strlen(id), 1));
	webmail_sessions_free(&s);
	assert_null(s);
}

static void
test_session_eviction(void **state)
{
	struct webmail_sessions *s;
	char first[WEBMAIL_TOKEN_LEN + 1], second[WEBMAIL_TOKEN_LEN + 1];

	(void)state;
	webmail_sessions_new(&s);
	memcpy(first, webmail_session_create(s, "u0@a.test", 0)->id, sizeof(first));
	memcpy(second, webmail_session_create(s, "u1@a.test", 1)->id, sizeof(second));
	for (int i = 2; i < WEBMAIL_MAX_SESSIONS; i++)
		(void)webmail_session_create(s, "u@a.test", 2);
	assert_int_equal(webmail_session_count(s), WEBMAIL_MAX_SESSIONS);
	/* the first is used now: the second is idle the longest */
	assert_non_null(webmail_session_lookup(s, first, WEBMAIL_TOKEN_LEN, 3));
	(void)webmail_session_create(s, "new@a.test", 4);
	assert_int_equal(webmail_session_count(s), WEBMAIL_MAX_SESSIONS);
	assert_null(webmail_session_lookup(s, second, WEBMAIL_TOKEN_LEN, 5));
	assert_non_null(webmail_session_lookup(s, first, WEBMAIL_TOKEN_LEN, 5));
	webmail_sessions_free(&s);
}

static void
test_cookie_get(void **state)
{
	static const struct {
		const char *hdr;
		const char *value; /* NULL: absent */
	} cases[] = {
	    {"mn_session=abc", "abc"},
	    {"a=1; mn_session=abc; b=2", "abc"},
	    {"a=1;mn_session=abc", "abc"},
	    {"mn_session=abc ; x=y", "abc"},
	    {"mn_session=", ""},
	    {"xmn_session=abc", NULL},
	    {"mn_sessionx=abc", NULL},
	    {"mn_session", NULL},
	    {"", NULL},
	    {"a=mn_session=abc", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *v;
		size_t n;
		bool found =
		    webmail_cookie_get(cases[i].hdr, strlen(cases[i].hdr), "mn_session", &v, &n);

		if (found != (cases[i].value != NULL))
			fail_msg("%s: found %d", cases[i].hdr, found);
		if (found && (n != strlen(cases[i].value) || memcmp(v, cases[i].value, n) != 0))
			fail_msg("%s: value %.*s", cases[i].hdr, (int)n, v);
	}
}

static void
test_home_elsewhere(void **state)
{
	(void)state;
	assert_false(webmail_home_elsewhere("node1", "node1"));
	assert_true(webmail_home_elsewhere("node2", "node1"));
	assert_false(webmail_home_elsewhere(NULL, "node1"));
	assert_false(webmail_home_elsewhere("", "node1"));
}

static const char mail[] = "From: =?utf-8?B?5byg5LiJ?= <zhang@remote.test>\r\n"
                           "To: Alice <alice@a.test>, bob@a.test\r\n"
                           "Cc: \"Carol C\" <carol@a.test>\r\n"
                           "Subject: =?utf-8?Q?caf=C3=A9?=\r\n"
                           " and more\r\n"
                           "Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
                           "Message-ID: <m1@remote.test>\r\n"
                           "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
                           "\r\n"
                           "--b1\r\n"
                           "Content-Type: multipart/alternative; boundary=\"b2\"\r\n"
                           "\r\n"
                           "--b2\r\n"
                           "Content-Type: text/plain; charset=iso-8859-1\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n"
                           "\r\n"
                           "caf=E9 au lait\r\n"
                           "--b2\r\n"
                           "Content-Type: text/html; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: base64\r\n"
                           "\r\n"
                           "PHA+aGk8L3A+\r\n"
                           "--b2--\r\n"
                           "--b1\r\n"
                           "Content-Type: text/plain; name=\"notes.txt\"\r\n"
                           "Content-Disposition: attachment\r\n"
                           "\r\n"
                           "attached text\r\n"
                           "--b1\r\n"
                           "Content-Type: image/png\r\n"
                           "Content-Disposition: inline; filename*=utf-8''%E5%9B%BE.png\r\n"
                           "\r\n"
                           "PNG\r\n"
                           "--b1--\r\n";

/* the same message with LF line ends */
static char *
lf_only(const char *s)
{
	char *o = malloc(strlen(s) + 1), *p = o;

	for (; *s; s++)
		if (*s != '\r')
			*p++ = *s;
	*p = '\0';
	return o;
}

static void
check_rendered(const char *msg, size_t len)
{
	json_t *j = webmail_message_json(msg, len), *h, *att;
	struct buf html;

	assert_non_null(j);
	h = json_object_get(j, "headers");
	assert_string_equal(json_string_value(json_object_get(h, "subject")), "café and more");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(h, "from"), 0), "name")),
	    "\xe5\xbc\xa0\xe4\xb8\x89");
	assert_int_equal(json_array_size(json_object_get(h, "to")), 2);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(h, "to"), 1), "address")),
	    "bob@a.test");
	assert_true(
	    json_is_null(json_object_get(json_array_get(json_object_get(h, "to"), 1), "name")));
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(h, "cc"), 0), "name")),
	    "Carol C");
	assert_int_equal(json_array_size(json_object_get(h, "reply_to")), 0);
	assert_int_equal(json_integer_value(json_object_get(h, "date")), 1772442000);
	assert_string_equal(
	    json_string_value(json_object_get(h, "message_id")), "<m1@remote.test>");
	/* the line end before a boundary belongs to the boundary (RFC 2046 §5.1.1) */
	assert_string_equal(json_string_value(json_object_get(j, "text")), "café au lait");
	assert_true(json_is_true(json_object_get(j, "has_html")));
	assert_true(json_is_false(json_object_get(j, "truncated")));
	att = json_object_get(j, "attachments");
	assert_int_equal(json_array_size(att), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(att, 0), "part")), "2");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(att, 0), "filename")), "notes.txt");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(att, 0), "content_type")),
	    "text/plain");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(att, 1), "part")), "3");
	assert_string_equal(json_string_value(json_object_get(json_array_get(att, 1), "filename")),
	    "\xe5\x9b\xbe.png");
	json_decref(j);

	buf_init(&html, 1024);
	assert_int_equal(webmail_message_html(msg, len, &html), 0);
	assert_string_equal(buf_cstr(&html), "<p>hi</p>");
	buf_fini(&html);
}

static void
test_render_multipart(void **state)
{
	char *lf = lf_only(mail);

	(void)state;
	check_rendered(mail, strlen(mail));
	check_rendered(lf, strlen(lf));
	free(lf);
}

static void
test_render_plain_and_broken(void **state)
{
	static const char plain[] = "Subject: hi\r\n\r\nbody\r\n";
	static const char nohdr[] = "no header at all";
	json_t *j;
	struct buf b;

	(void)state;
	j = webmail_message_json(plain, strlen(plain));
	assert_string_equal(json_string_value(json_object_get(j, "text")), "body\r\n");
	assert_true(json_is_false(json_object_get(j, "has_html")));
	assert_int_equal(json_array_size(json_object_get(j, "attachments")), 0);
	assert_true(json_is_null(json_object_get(json_object_get(j, "headers"), "date")));
	json_decref(j);
	buf_init(&b, 100);
	assert_int_equal(webmail_message_html(plain, strlen(plain), &b), MN_ENOENT);
	buf_fini(&b);
	j = webmail_message_json(nohdr, strlen(nohdr));
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(json_object_get(j, "headers"), "subject")));
	json_decref(j);
	j = webmail_message_json("", 0);
	assert_non_null(j);
	json_decref(j);
}

static void
test_summary(void **state)
{
	static const char hdr[] = "From: \"Amy A\" <amy@x.test>\r\nTo: b@y.test, c@y.test\r\n"
	                          "Subject: =?gbk?B?xOO6ww==?=\r\n"
	                          "Date: Tue, 03 Mar 2026 09:00:00 +0000\r\n\r\n";
	json_t *j;

	(void)state;
	j = webmail_summary_json(hdr, strlen(hdr));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "from"), "name")), "Amy A");
	assert_string_equal(
	    json_string_value(json_object_get(j, "subject")), "\xe4\xbd\xa0\xe5\xa5\xbd");
	assert_int_equal(json_integer_value(json_object_get(j, "date")), 1772528400);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "to"), "address")), "b@y.test");
	json_decref(j);
	j = webmail_summary_json("", 0);
	assert_true(json_is_null(json_object_get(j, "from")));
	assert_true(json_is_null(json_object_get(j, "to")));
	assert_true(json_is_null(json_object_get(j, "subject")));
	json_decref(j);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_lifecycle),
	    cmocka_unit_test(test_session_eviction),
	    cmocka_unit_test(test_cookie_get),
	    cmocka_unit_test(test_home_elsewhere),
	    cmocka_unit_test(test_render_multipart),
	    cmocka_unit_test(test_render_plain_and_broken),
	    cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
