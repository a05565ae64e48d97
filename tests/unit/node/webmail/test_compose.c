/*
 * test_compose.c - the webmail's message writer (node/webmail/compose.h)
 * read back through the project's own MIME parser and header decoding:
 * addresses ("addr", "Name <addr>", quoted names; refusals), RFC 2047
 * encoded-words round trip, the composed message's structure (plain,
 * alternative, mixed with attachments), non-ASCII file names both as RFC
 * 2231 and RFC 2047, quoted-printable text, no line over 998 bytes, the
 * Content-Disposition of downloads, the password policy, and part
 * extraction by IMAP part number (render.h).
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
#include "node/webmail/compose.h"
#include "node/webmail/render.h"
#include "node/webmail/webmail.h"
#include "storage/message/header.h"
#include "storage/message/mime.h"

static void
test_parse_addr(void **state)
{
	static const struct {
		const char *in, *name, *address; /* address NULL: refused */
	} cases[] = {
	    {"bob@a.test", NULL, "bob@a.test"},
	    {"  Bob@A.Test ", NULL, "Bob@a.test"},
	    {"Bob Builder <bob@a.test>", "Bob Builder", "bob@a.test"},
	    {"\"Builder, Bob\" <bob@a.test>", "Builder, Bob", "bob@a.test"},
	    {"张三 <zhang@a.test>", "张三", "zhang@a.test"},
	    {"<bob@a.test>", NULL, "bob@a.test"},
	    {"bob", NULL, NULL},
	    {"a@b@c", NULL, NULL},
	    {"@a.test", NULL, NULL},
	    {"bob@", NULL, NULL},
	    {"bob smith@a.test", NULL, NULL},
	    {"Bob <bob@a.test", NULL, NULL},
	    {"Bob <bob@a.test> x", NULL, NULL},
	    {"Bo\"b <bob@a.test>", NULL, NULL},
	    {"bob@a.test\r\nBcc: x@y", NULL, NULL},
	    {"b,ob@a.test", NULL, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct webmail_addr a;
		int rc = webmail_parse_addr(cases[i].in, &a);

		if (cases[i].address == NULL) {
			assert_int_equal(rc, MN_EINVAL);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(a.address, cases[i].address);
		if (cases[i].name == NULL)
			assert_null(a.name);
		else
			assert_string_equal(a.name, cases[i].name);
		free(a.name);
		free(a.address);
	}
}

static const char long_subject[] =
    "mixed 中文 and ASCII with a long tail that needs more than one encoded word to stay "
    "under the line limit 第二部分";

static void
test_encode_word_round_trip(void **state)
{
	static const char *const cases[] = {
	    "plain subject",
	    "你好，世界",
	    long_subject,
	    "=?looks encoded?=",
	    "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf enc, dec, un;

		buf_init(&enc, 0);
		buf_init(&dec, 0);
		buf_init(&un, 0);
		webmail_encode_word(cases[i], &enc);
		/* every physical line short, only ASCII */
		for (size_t k = 0; k < enc.len; k++)
			assert_true(enc.data[k] < 0x80);
		assert_int_equal(
		    header_decode_2047((struct slice){(const char *)enc.data, enc.len}, &dec), 0);
		assert_int_equal(
		    header_unfold((struct slice){(const char *)dec.data, dec.len}, &un), 0);
		assert_int_equal(un.len, strlen(cases[i]));
		assert_memory_equal(un.data, cases[i], un.len);
		buf_fini(&enc);
		buf_fini(&dec);
		buf_fini(&un);
	}
}

static void
lines_short(const struct buf *b)
{
	size_t col = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			assert_true(i > 0 && b->data[i - 1] == '\r'); /* CRLF only */
			col = 0;
		} else {
			assert_true(++col <= 998);
		}
	}
}

static struct webmail_compose
sample(bool html, bool attach)
{
	struct webmail_compose c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(webmail_parse_addr("Alice 爱丽丝 <alice@a.test>", &c.from), 0);
	c.to = xcalloc(2, sizeof(*c.to));
	assert_int_equal(webmail_parse_addr("Bob <bob@b.test>", &c.to[0]), 0);
	assert_int_equal(webmail_parse_addr("carol@c.test", &c.to[1]), 0);
	c.nto = 2;
	c.bcc = xcalloc(1, sizeof(*c.bcc));
	assert_int_equal(webmail_parse_addr("dave@d.test", &c.bcc[0]), 0);
	c.nbcc = 1;
	c.subject = xstrdup("季度报告 Q3");
	c.text = xstrdup("Hello 你好\nsecond line = equals\n.leading dot\n");
	if (html)
		c.html = xstrdup("<p>Hello <b>你好</b></p>");
	if (attach) {
		c.att = xcalloc(2, sizeof(*c.att));
		c.att[0].filename = xstrdup("报告 2026.pdf");
		c.att[0].content_type = xstrdup("application/pdf");
		c.att[0].len = 300;
		c.att[0].data = xmalloc(300);
		for (size_t i = 0; i < 300; i++)
			c.att[0].data[i] = (uint8_t)i;
		c.att[1].filename = xstrdup("notes.txt");
		c.att[1].content_type = xstrdup("text/plain");
		c.att[1].data = (uint8_t *)xstrdup("x");
		c.att[1].len = 1;
		c.natt = 2;
	}
	c.in_reply_to = xstrdup("<orig@b.test>");
	c.references = xstrdup("<first@b.test>\r\n <orig@b.test>");
	c.hostname = "mail.a.test";
	c.date = 1795830000;
	return c;
}

static void
assert_text_part(const struct mime_part *p, const char *msg, const char *subtype, const char *want)
{
	struct buf b;

	assert_string_equal(p->type, "text");
	assert_string_equal(p->subtype, subtype);
	assert_string_equal(mime_param_get(&p->params, "charset"), "utf-8");
	buf_init(&b, 0);
	assert_int_equal(mime_decode_body(p, msg, &b), 0);
	assert_true(b.len >= strlen(want));
	assert_memory_equal(b.data, want, strlen(want));
	buf_fini(&b);
}

static void
test_build_plain(void **state)
{
	struct webmail_compose c = sample(false, false);
	struct mime_part *root;
	struct buf out;
	struct slice v;
	char *mid = NULL;
	const char *m;
	json_t *j;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(webmail_compose_build(&c, &out, &mid), 0);
	lines_short(&out);
	m = buf_cstr(&out);
	assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(m, "Date: Sat, 28 Nov 2026"));
	assert_null(strstr(m, "Bcc:")); /* never in sent mail */
	assert_true(strncmp(mid, "<", 1) == 0 && strstr(mid, "@mail.a.test>") != NULL);
	assert_true(mime_header_get(m, out.len, "In-Reply-To", &v));
	j = webmail_message_json(m, out.len);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "headers"), "subject")),
	    "季度报告 Q3");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(json_object_get(j, "headers"), "from"), 0), "name")),
	    "Alice 爱丽丝");
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "headers"), "to")), 2);
	json_decref(j);
	assert_int_equal(mime_parse(m, out.len, &root), 0);
	assert_text_part(
	    root, m, "plain", "Hello 你好\r\nsecond line = equals\r\n.leading dot\r\n");
	mime_free(root);
	free(mid);
	buf_fini(&out);
	/* a draft keeps Bcc */
	c.write_bcc = true;
	buf_init(&out, 0);
	assert_int_equal(webmail_compose_build(&c, &out, NULL), 0);
	assert_non_null(strstr(buf_cstr(&out), "\r\nBcc: dave@d.test\r\n"));
	buf_fini(&out);
	/* does not fit: nothing appended, no message id */
	buf_init(&out, 100);
	buf_append_str(&out, "keep");
	{
		char *mid2 = NULL;

		assert_int_equal(webmail_compose_build(&c, &out, &mid2), MN_ETOOBIG);
		assert_null(mid2);
	}
	assert_int_equal(out.len, 4);
	buf_fini(&out);
	webmail_compose_fini(&c);
}

static void
test_build_mixed_alternative(void **state)
{
	struct webmail_compose c = sample(true, true);
	struct mime_part *root;
	const struct mime_part *alt, *p;
	struct buf out, fn, data;
	char *type, *fname;
	const char *m;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(webmail_compose_build(&c, &out, NULL), 0);
	lines_short(&out);
	m = buf_cstr(&out);
	assert_int_equal(mime_parse(m, out.len, &root), 0);
	assert_string_equal(root->subtype, "mixed");
	assert_int_equal(root->nchildren, 3);
	alt = root->children;
	assert_string_equal(alt->subtype, "alternative");
	assert_int_equal(alt->nchildren, 2);
	assert_text_part(alt->children, m, "plain", "Hello 你好");
	assert_text_part(alt->children->next, m, "html", "<p>Hello <b>你好</b></p>");
	p = alt->next;
	assert_string_equal(p->type, "application");
	assert_string_equal(p->disposition, "attachment");
	buf_init(&fn, 0);
	assert_int_equal(mime_part_filename(p, &fn), 0);
	assert_string_equal(buf_cstr(&fn), "报告 2026.pdf");
	/* the RFC 2047 name= for readers without RFC 2231 */
	buf_reset(&fn);
	assert_int_equal(mime_param_decode(&p->params, "name", &fn), 0);
	assert_string_equal(buf_cstr(&fn), "报告 2026.pdf");
	buf_fini(&fn);
	mime_free(root);
	/* the download path: part 2 and 3 by number */
	buf_init(&data, 0);
	assert_int_equal(webmail_message_part(m, out.len, "2", &data, &type, &fname), 0);
	assert_int_equal(data.len, 300);
	assert_memory_equal(data.data, c.att[0].data, 300);
	assert_string_equal(type, "application/pdf");
	assert_string_equal(fname, "报告 2026.pdf");
	free(type);
	free(fname);
	buf_reset(&data);
	assert_int_equal(webmail_message_part(m, out.len, "3", &data, &type, &fname), 0);
	assert_int_equal(data.len, 1);
	assert_string_equal(fname, "notes.txt");
	free(type);
	free(fname);
	buf_reset(&data);
	assert_int_equal(webmail_message_part(m, out.len, "1.2", &data, &type, &fname), 0);
	assert_string_equal(type, "text/html");
	free(type);
	free(fname);
	assert_int_equal(webmail_message_part(m, out.len, "1", &data, &type, &fname), MN_ENOENT);
	assert_int_equal(webmail_message_part(m, out.len, "9", &data, &type, &fname), MN_ENOENT);
	assert_int_equal(webmail_message_part(m, out.len, "0", &data, &type, &fname), MN_EINVAL);
	assert_int_equal(webmail_message_part(m, out.len, "1.", &data, &type, &fname), MN_EINVAL);
	assert_int_equal(webmail_message_part(m, out.len, "a", &data, &type, &fname), MN_EINVAL);
	assert_int_equal(webmail_message_part(m, out.len, "", &data, &type, &fname), MN_EINVAL);
	buf_fini(&data);
	buf_fini(&out);
	webmail_compose_fini(&c);
}

static void
test_content_disposition(void **state)
{
	char *s;

	(void)state;
	s = webmail_content_disposition("report.pdf");
	assert_string_equal(s, "attachment; filename=\"report.pdf\"");
	free(s);
	s = webmail_content_disposition("报告 a.pdf");
	assert_string_equal(s, "attachment; filename=\"__ a.pdf\"; "
	                       "filename*=UTF-8''%E6%8A%A5%E5%91%8A%20a.pdf");
	free(s);
	s = webmail_content_disposition("a\"b\\c.txt");
	assert_string_equal(
	    s, "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt");
	free(s);
}

static void
test_password_policy(void **state)
{
	static const struct {
		const char *pw;
		bool ok;
	} cases[] = {
	    {"Secret-pw1", true},
	    {"abcdefg1", true},
	    {"密码密码Ab", true},
	    {"short1A", false},
	    {"abcdefgh", false},
	    {"12345678", false},
	    {"xxAlice99", false}, /* contains the local part */
	    {"alice", false},
	    {"tab\there1", false},
	};
	char reason[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reason[0] = '\0';
		assert_int_equal(
		    webmail_password_policy(cases[i].pw, "alice@a.test", reason, sizeof(reason)),
		    cases[i].ok);
		if (!cases[i].ok)
			assert_true(reason[0] != '\0');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_addr),
	    cmocka_unit_test(test_encode_word_round_trip),
	    cmocka_unit_test(test_build_plain),
	    cmocka_unit_test(test_build_mixed_alternative),
	    cmocka_unit_test(test_content_disposition),
	    cmocka_unit_test(test_password_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
