/*
 * test_mime.c - the MIME tree (offsets, types, parameters with RFC 2231
 * continuations, the other Content-* fields), its limits at max and max + 1
 * (nesting depth, part count, boundary length, parameters), filename
 * decoding, the transfer decoders, the in-memory header iterator, and every
 * prefix of real-shaped messages parsed from an exact-size buffer (ASan
 * catches a read past the end; the parser is not incremental, so "fed one
 * byte at a time" becomes "every truncation point").
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
#include "lib/xalloc.h"
#include "storage/message/mime.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct mime_part *
parse_exact(const char *s, size_t len, char **copy)
{
	struct mime_part *root;

	*copy = xmalloc(len > 0 ? len : 1);
	memcpy(*copy, s, len);
	assert_int_equal(mime_parse(*copy, len, &root), 0);
	assert_non_null(root);
	return root;
}

/* ==== offsets ============================================================= */

static void
test_tree_offsets(void **state)
{
	static const char m[] =
	    "Content-Type: multipart/mixed; boundary=X\r\n\r\n"
	    "pre\r\n--X\r\nA: 1\r\n\r\nab\r\n--X\r\n\r\ncd\r\n\r\n--X--\r\nepi\r\n";
	const struct mime_part *c1, *c2;
	struct mime_part *root;
	char *copy;

	(void)state;
	assert_int_equal(sizeof(m) - 1, 92);
	root = parse_exact(m, sizeof(m) - 1, &copy);
	assert_true(root->is_multipart);
	assert_int_equal(root->hdr_off, 0);
	assert_int_equal(root->hdr_end, 43); /* the last field's CRLF included */
	assert_int_equal(root->body_off, 45);
	assert_int_equal(root->end, 92);
	assert_int_equal(root->lines, 11);
	assert_int_equal(root->nchildren, 2);
	assert_int_equal(mime_count_parts(root), 3);
	c1 = root->children;
	assert_int_equal(c1->depth, 1);
	assert_int_equal(c1->hdr_off, 55);
	assert_int_equal(c1->hdr_end, 61);
	assert_int_equal(c1->body_off, 63);
	assert_int_equal(c1->end, 65);
	assert_int_equal(c1->lines, 0);
	assert_string_equal(c1->type, "text");
	assert_true(c1->type_default);
	c2 = c1->next;
	assert_int_equal(c2->hdr_off, 72);
	assert_int_equal(c2->hdr_end, 72);
	assert_int_equal(c2->body_off, 74);
	assert_int_equal(c2->end, 78);
	assert_int_equal(c2->lines, 1);
	assert_null(c2->next);
	assert_ptr_equal(mime_part_find(root, (uint32_t[]){2}, 1), c2);
	assert_ptr_equal(mime_part_find(root, NULL, 0), root);
	assert_null(mime_part_find(root, (uint32_t[]){3}, 1));
	assert_null(mime_part_find(root, (uint32_t[]){0}, 1));
	mime_free(root);
	free(copy);

	/* empty message */
	root = parse_exact("", 0, &copy);
	assert_int_equal(root->end, 0);
	assert_string_equal(root->subtype, "plain");
	mime_free(root);
	free(copy);
	assert_int_equal(mime_parse(NULL, 1, &root), MN_EINVAL);
}

/* ==== Content-Type and parameters ========================================= */

static void
describe_params(struct buf *b, const struct mime_params *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		buf_printf(b, ";%s=%s", ps->v[i].name, ps->v[i].value);
}

static void
test_content_type(void **state)
{
	static const struct {
		const char *value;
		const char *want; /* type/subtype;name=value... ("!" if defaulted) */
	} cases[] = {
	    {"text/plain; charset=\"us-ascii\" (comment); format=flowed",
	        "text/plain;charset=us-ascii;format=flowed"},
	    {"text/plain; charset=us-ascii (Plain text)", "text/plain;charset=us-ascii"},
	    {"TEXT/Plain;CHARSET=UTF-8", "TEXT/Plain;CHARSET=UTF-8"},
	    {"(c) text / html (c)", "text/html"},
	    {"application/octet-stream; name=my file.pdf",
	        "application/octet-stream;name=my file.pdf"},
	    {"application/x; name=\"a\\\"b\\\\\"", "application/x;name=a\"b\\"},
	    {"multipart/mixed; boundary=\"foo\r\n bar\"", "multipart/mixed;boundary=foo bar"},
	    {"multipart/mixed;\r\n\tboundary=\"b\"", "multipart/mixed;boundary=b"},
	    {"text/plain; title*0=\"abc\"; title*1=\"def\"", "text/plain;title=abcdef"},
	    {"text/plain; title*1=\"def\"; x=1; title*0=abc", "text/plain;title=abcdef;x=1"},
	    {"text/plain; title*0*=us-ascii'en'This%20is; title*1=\" fun\"",
	        "text/plain;title*=us-ascii'en'This%20is%20fun"},
	    {"text/plain; title*0=\"a b\"; title*1*=%41", "text/plain;title*=''a%20b%41"},
	    {"text/plain; title*=utf-8''%E4%B8%AD", "text/plain;title*=utf-8''%E4%B8%AD"},
	    {"text/plain; a*0=x; a*2=z", "text/plain;a=x"},
	    {"text/plain; a*1=y", "text/plain;a*1=y"},
	    {"text/plain; a*00=x", "text/plain;a*00=x"},
	    {"text/plain; a*99=x; a*0=w", "text/plain;a=w"},
	    {"text/plain; a*100=x", "text/plain;a*100=x"},
	    {"text/plain; a*1x=x", "text/plain;a*1x=x"},
	    {"text/plain; ;; =x; b; c=1; d e=2", "text/plain;c=1"},
	    {"text/plain; x=\"unterminated", "text/plain;x=unterminated"},
	    {"text/plain; x=", "text/plain;x="},
	    {"text/plain garbage; x=1", "text/plain;x=1"},
	    {"text/plain; x=\"q\" junk; y=2", "text/plain;x=q;y=2"},
	    {"text/plain; n=\xe4\xb8\xad.txt", "text/plain;n=\xe4\xb8\xad.txt"},
	    {"text", "!text/plain"},
	    {"/plain", "!text/plain"},
	    {"text/", "!text/plain"},
	    {"", "!text/plain"},
	    {"(unterminated comment", "!text/plain"},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct mime_part *root;
		struct buf m, d;
		char *copy;

		buf_init(&m, 0);
		buf_init(&d, 0);
		buf_printf(&m, "Content-Type: %s\r\n\r\nx", cases[i].value);
		root = parse_exact((char *)m.data, m.len, &copy);
		buf_printf(&d, "%s%s/%s", root->type_default ? "!" : "", root->type, root->subtype);
		describe_params(&d, &root->params);
		if (strcmp(buf_cstr(&d), cases[i].want) != 0)
			fail_msg("Content-Type '%s': got '%s' want '%s'", cases[i].value,
			    buf_cstr(&d), cases[i].want);
		mime_free(root);
		free(copy);
		buf_fini(&m);
		buf_fini(&d);
	}
}

static void
test_params_limit(void **state)
{
	(void)state;
	for (size_t n = MIME_PARAMS_MAX; n <= MIME_PARAMS_MAX + 1; n++) {
		struct mime_part *root;
		struct buf m;
		char *copy;

		buf_init(&m, 0);
		buf_append_str(&m, "Content-Type: text/plain");
		for (size_t i = 0; i < n; i++)
			buf_printf(&m, "; p%zu=v", i);
		buf_append_str(&m, "\r\n\r\n");
		root = parse_exact((char *)m.data, m.len, &copy);
		assert_int_equal(root->params.n, MIME_PARAMS_MAX);
		assert_string_equal(root->params.v[MIME_PARAMS_MAX - 1].name, "p63");
		mime_free(root);
		free(copy);
		buf_fini(&m);
	}
}

static void
test_other_fields(void **state)
{
	static const char m[] = "Content-Type: application/pdf\r\n"
	                        "Content-Transfer-Encoding: (c) BASE64 (c)\r\n"
	                        "Content-Transfer-Encoding: 7bit\r\n"
	                        "Content-ID:\r\n <id@x>\r\n"
	                        "Content-Description: a\r\n  b\r\n"
	                        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	                        "Content-Language: en-US (English), fr\r\n"
	                        "Content-Location: http://x.example/\r\n a b\r\n"
	                        "Content-Disposition: ATTACHMENT; filename=\"a.pdf\"; size=3\r\n"
	                        "Content-Disposition: inline\r\n"
	                        "\r\n"
	                        "abc";
	struct mime_part *root;
	char *copy;

	(void)state;
	root = parse_exact(m, sizeof(m) - 1, &copy);
	assert_string_equal(root->encoding, "BASE64");
	assert_string_equal(root->id, "<id@x>");
	assert_string_equal(root->description, "a  b");
	assert_string_equal(root->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
	assert_string_equal(root->language[0], "en-US");
	assert_string_equal(root->language[1], "fr");
	assert_null(root->language[2]);
	assert_string_equal(root->location, "http://x.example/ab");
	assert_string_equal(root->disposition, "ATTACHMENT");
	assert_int_equal(root->disp_params.n, 2);
	assert_string_equal(mime_param_get(&root->disp_params, "FILENAME"), "a.pdf");
	assert_null(mime_param_get(&root->disp_params, "filename*"));
	mime_free(root);
	free(copy);

	/* an invalid encoding is absent (BODYSTRUCTURE then says 7bit) */
	root = parse_exact("Content-Transfer-Encoding: ?x\r\n\r\n", 33, &copy);
	assert_null(root->encoding);
	mime_free(root);
	free(copy);
}

/* ==== filenames =========================================================== */

static void
test_filename(void **state)
{
	static const struct {
		const char *fields;
		int rc;
		const char *want;
	} cases[] = {
	    {"Content-Disposition: attachment; filename*=utf-8''%E4%B8%AD%E6%96%87.txt", 0,
	        "\xe4\xb8\xad\xe6\x96\x87.txt"},
	    /* a character split across two sections survives */
	    {"Content-Disposition: attachment; filename*0*=utf-8''%E4%B8; filename*1*=%AD.txt", 0,
	        "\xe4\xb8\xad.txt"},
	    {"Content-Disposition: attachment; filename*=gb2312''%D6%D0%CE%C4.txt", 0,
	        "\xe4\xb8\xad\xe6\x96\x87.txt"},
	    {"Content-Disposition: attachment; filename*=UTF-8'zh'%E4%B8%AD", 0, "\xe4\xb8\xad"},
	    {"Content-Disposition: attachment; filename*=''abc%21", 0, "abc!"},
	    {"Content-Disposition: attachment; filename=\"=?utf-8?B?5Lit5paH?=.txt\"", 0,
	        "\xe4\xb8\xad\xe6\x96\x87.txt"},
	    /* both: the RFC 2231 form wins */
	    {"Content-Disposition: attachment; filename=old.txt; filename*=utf-8''new.txt", 0,
	        "new.txt"},
	    {"Content-Type: application/pdf; name=\"a.pdf\"", 0, "a.pdf"},
	    {"Content-Type: application/pdf; name*=utf-8''%E5%9B%BE.pdf", 0, "\xe5\x9b\xbe.pdf"},
	    {"Content-Disposition: inline\r\nContent-Type: image/png; name=p.png", 0, "p.png"},
	    /* invalid UTF-8 becomes U+FFFD, never raw bytes */
	    {"Content-Disposition: attachment; filename*=utf-8''%FF.bin", 0, "\xef\xbf\xbd.bin"},
	    {"Content-Type: text/plain", MN_ENOENT, ""},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct mime_part *root;
		struct buf m, out;
		char *copy;
		int rc;

		buf_init(&m, 0);
		buf_init(&out, 0);
		buf_printf(&m, "%s\r\n\r\nx", cases[i].fields);
		root = parse_exact((char *)m.data, m.len, &copy);
		rc = mime_part_filename(root, &out);
		if (rc != cases[i].rc || strcmp(buf_cstr(&out), cases[i].want) != 0)
			fail_msg(
			    "filename '%s': rc %d got '%s'", cases[i].fields, rc, buf_cstr(&out));
		mime_free(root);
		free(copy);
		buf_fini(&m);
		buf_fini(&out);
	}
}

/* ==== limits ============================================================== */

/* nested_multiparts - k multiparts inside each other around a text part. */
static void
nested_multiparts(struct buf *m, int k)
{
	for (int i = 0; i < k; i++)
		buf_printf(m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_append_str(m, "Content-Type: text/plain\r\n\r\nleaf\r\n");
	for (int i = k - 1; i >= 0; i--)
		buf_printf(m, "--b%d--\r\n", i);
}

static void
test_depth_limit(void **state)
{
	(void)state;
	for (int k = MIME_DEPTH_MAX; k <= MIME_DEPTH_MAX + 1; k++) {
		struct mime_part *root;
		const struct mime_part *p;
		struct buf m;
		char *copy;

		buf_init(&m, 0);
		nested_multiparts(&m, k);
		root = parse_exact((char *)m.data, m.len, &copy);
		p = root;
		while (p->children != NULL)
			p = p->children;
		if (k == MIME_DEPTH_MAX) {
			/* depths 0..31 split, the text part is at depth 32 */
			assert_int_equal(mime_count_parts(root), MIME_DEPTH_MAX + 1);
			assert_string_equal(p->type, "text");
			assert_int_equal(p->depth, MIME_DEPTH_MAX);
		} else {
			/* the multipart at depth 32 is a leaf */
			assert_int_equal(mime_count_parts(root), MIME_DEPTH_MAX + 1);
			assert_string_equal(p->type, "multipart");
			assert_false(p->is_multipart);
			assert_int_equal(p->depth, MIME_DEPTH_MAX);
		}
		mime_free(root);
		free(copy);
		buf_fini(&m);
	}

	/* message/rfc822 nesting counts the same way */
	for (int k = MIME_DEPTH_MAX; k <= MIME_DEPTH_MAX + 1; k++) {
		struct mime_part *root;
		const struct mime_part *p;
		struct buf m;
		char *copy;

		buf_init(&m, 0);
		for (int i = 0; i < k; i++)
			buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
		buf_append_str(&m, "Subject: innermost\r\n\r\nx");
		root = parse_exact((char *)m.data, m.len, &copy);
		p = root;
		while (p->children != NULL)
			p = p->children;
		assert_int_equal(p->depth, MIME_DEPTH_MAX);
		if (k == MIME_DEPTH_MAX) {
			assert_string_equal(p->type, "text");
		} else {
			assert_string_equal(p->type, "message");
			assert_false(p->is_message);
		}
		mime_free(root);
		free(copy);
		buf_fini(&m);
	}
}

static void
test_parts_limit(void **state)
{
	(void)state;
	/* root + n children: 999 children fill the limit, 1000 overflow */
	for (size_t n = MIME_PARTS_MAX - 1; n <= MIME_PARTS_MAX; n++) {
		struct mime_part *root;
		struct buf m;
		char *copy;

		buf_init(&m, 0);
		buf_append_str(&m, "Content-Type: multipart/mixed; boundary=z\r\n\r\n");
		for (size_t i = 0; i < n; i++)
			buf_printf(&m, "--z\r\n\r\npart %zu\r\n", i);
		buf_append_str(&m, "--z--\r\n");
		root = parse_exact((char *)m.data, m.len, &copy);
		assert_int_equal(mime_count_parts(root), MIME_PARTS_MAX);
		assert_int_equal(root->nchildren, MIME_PARTS_MAX - 1);
		mime_free(root);
		free(copy);
		buf_fini(&m);
	}
}

static void
test_boundary_limit(void **state)
{
	(void)state;
	for (size_t n = MIME_BOUNDARY_MAX; n <= MIME_BOUNDARY_MAX + 1; n++) {
		struct mime_part *root;
		struct buf m;
		char bnd[MIME_BOUNDARY_MAX + 2];
		char *copy;

		memset(bnd, 'q', n);
		bnd[n] = '\0';
		buf_init(&m, 0);
		buf_printf(&m,
		    "Content-Type: multipart/mixed; "
		    "boundary=\"%s\"\r\n\r\n--%s\r\n\r\na\r\n--%s--\r\n",
		    bnd, bnd, bnd);
		root = parse_exact((char *)m.data, m.len, &copy);
		assert_int_equal(root->is_multipart, n <= MIME_BOUNDARY_MAX);
		assert_int_equal(root->nchildren, n <= MIME_BOUNDARY_MAX ? 1 : 0);
		mime_free(root);
		free(copy);
		buf_fini(&m);
	}
}

/* Boundary lines: exact match plus optional "--" and transport padding;
 * a longer boundary sharing the prefix is not ours. */
static void
test_boundary_lines(void **state)
{
	static const char m[] = "Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
	                        "--ab \t\r\n\r\none\r\n"
	                        "--abc\r\n"
	                        "--ab-\r\n"
	                        " --ab\r\n"
	                        "--ab\r\n\r\ntwo\r\n"
	                        "--ab--  \r\n"
	                        "--ab\r\n\r\nepilogue\r\n";
	struct mime_part *root;
	char *copy;

	(void)state;
	root = parse_exact(m, sizeof(m) - 1, &copy);
	assert_int_equal(root->nchildren, 2);
	assert_int_equal(root->children->end - root->children->body_off,
	    strlen("one\r\n--abc\r\n--ab-\r\n --ab"));
	assert_memory_equal(copy + root->children->next->body_off, "two", 3);
	assert_int_equal(root->children->next->end - root->children->next->body_off, 3);
	mime_free(root);
	free(copy);

	/* LF-only, empty parts, a delimiter as the first and the last line */
	static const char lf[] = "Content-Type: multipart/mixed; boundary=q\n\n--q\n--q\n\nx\n--q";

	root = parse_exact(lf, sizeof(lf) - 1, &copy);
	assert_int_equal(root->nchildren, 3);
	assert_int_equal(root->children->end, root->children->hdr_off);
	assert_memory_equal(copy + root->children->next->body_off, "x", 1);
	assert_int_equal(root->children->next->next->hdr_off, sizeof(lf) - 1);
	assert_int_equal(root->children->next->next->end, sizeof(lf) - 1);
	mime_free(root);
	free(copy);
}

/* ==== header iterator ===================================================== */

static void
test_header_next(void **state)
{
	static const char h[] = "A: 1\r\nB:2\r\n folded\r\nnocolon\r\n : x\r\n"
	                        "C\t: 3\r\n:empty name\r\nD:\r\n\r\nE: after";
	struct slice name, value, raw;
	size_t pos = 0;

	(void)state;
	assert_true(mime_header_next(h, sizeof(h) - 1, &pos, &name, &value, &raw));
	assert_true(slice_eq(name, SLICE_LIT("A")) && slice_eq(value, SLICE_LIT(" 1")));
	assert_true(slice_eq(raw, SLICE_LIT("A: 1\r\n")));
	assert_true(mime_header_next(h, sizeof(h) - 1, &pos, &name, &value, &raw));
	assert_true(slice_eq(name, SLICE_LIT("B")) && slice_eq(value, SLICE_LIT("2\r\n folded")));
	assert_true(mime_header_next(h, sizeof(h) - 1, &pos, &name, &value, &raw));
	assert_true(slice_eq(name, SLICE_LIT("C")) && slice_eq(value, SLICE_LIT(" 3")));
	assert_true(mime_header_next(h, sizeof(h) - 1, &pos, &name, &value, &raw));
	assert_true(slice_eq(name, SLICE_LIT("D")) && value.len == 0);
	assert_false(mime_header_next(h, sizeof(h) - 1, &pos, &name, &value, &raw));
	assert_true(mime_header_get(h, sizeof(h) - 1, "b", &value));
	assert_false(mime_header_get(h, sizeof(h) - 1, "E", &value));
	/* no line end at the very end */
	pos = 0;
	assert_true(mime_header_next("X: y", 4, &pos, &name, &value, &raw));
	assert_true(slice_eq(value, SLICE_LIT(" y")) && raw.len == 4 && pos == 4);
	assert_false(mime_header_next("X: y", 4, &pos, &name, &value, &raw));
}

/* ==== transfer decoding =================================================== */

static void
test_decoders(void **state)
{
	static const struct {
		bool qp;
		const char *in;
		const char *want;
	} cases[] = {
	    {false, "5L2g5aW9", "\xe4\xbd\xa0\xe5\xa5\xbd"},
	    {false, "5L2g\r\n5aW9\r\n", "\xe4\xbd\xa0\xe5\xa5\xbd"},
	    {false, "Y*Q=\r\n=", "a"},
	    {false, "YWI=", "ab"},
	    {false, "YWJj", "abc"},
	    {false, "YWJjZA", "abcd"},
	    {false, "", ""},
	    {false, "!!!", ""},
	    {true, "Caf=C3=A9 au lait=\r\n please.\r\n", "Caf\xc3\xa9 au lait please.\r\n"},
	    {true, "a=3d=3D", "a=="},
	    {true, "bad=ZZ and =4", "bad=ZZ and =4"},
	    {true, "trailing  \t\r\nx", "trailing\r\nx"},
	    {true, "soft=\nlf\n", "softlf\n"},
	    {true, "a\n\nb\r\n", "a\n\nb\r\n"},
	    {true, "soft with space= \t\r\nnext", "soft with spacenext"},
	    {true, "end=", "end"},
	    {true, "=", ""},
	    {true, "", ""},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct buf out;
		struct slice in = slice_from_cstr(cases[i].in);

		buf_init(&out, 0);
		assert_int_equal(
		    cases[i].qp ? mime_decode_qp(in, &out) : mime_decode_base64(in, &out), 0);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0)
			fail_msg("decode %zu '%s': got '%s'", i, cases[i].in, buf_cstr(&out));
		buf_fini(&out);
	}
}

static void
test_decode_body(void **state)
{
	static const char m[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Transfer-Encoding: Base64\r\n\r\nYWJj\r\n"
	    "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n"
	    "--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n=3D\r\n--b--\r\n";
	const char *want[] = {"abc", "a=b", "=3D"};
	struct mime_part *root;
	const struct mime_part *p;
	char *copy;
	size_t i = 0;

	(void)state;
	root = parse_exact(m, sizeof(m) - 1, &copy);
	for (p = root->children; p != NULL; p = p->next, i++) {
		struct buf out;

		buf_init(&out, 0);
		assert_int_equal(mime_decode_body(p, copy, &out), 0);
		/* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): the message has 3 parts */
		assert_string_equal(buf_cstr(&out), want[i]);
		buf_fini(&out);
	}
	assert_int_equal(i, 3);
	/* the buffer's limit is honoured */
	{
		struct buf small;

		buf_init(&small, 2);
		assert_int_equal(mime_decode_body(root->children, copy, &small), MN_ETOOBIG);
		buf_fini(&small);
	}
	mime_free(root);
	free(copy);
}

/* ==== every truncation point ============================================== */

static void
test_prefixes(void **state)
{
	static const char *const msgs[] = {
	    "From: a@b\r\nContent-Type: multipart/mixed; boundary=\"x y\"\r\n\r\npre\r\n--x y\r\n"
	    "Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Type: "
	    "multipart/alternative;"
	    " boundary=i\r\n\r\n--i\r\n\r\nplain\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>\r\n"
	    "--i--\r\n\r\n--x y\r\nContent-Disposition: attachment; filename*0*=utf-8''%E4;"
	    " filename*1*=%B8%AD\r\n\r\nQQ==\r\n--x y--\r\n",
	    "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: a\n\nb\n--d\nContent-"
	    "Type: text/plain; charset=\"utf\n -8\" (c\n\n--d--",
	};

	(void)state;
	for (size_t i = 0; i < N(msgs); i++) {
		size_t len = strlen(msgs[i]);

		for (size_t n = 0; n <= len; n++) {
			struct mime_part *root;
			char *copy;

			root = parse_exact(msgs[i], n, &copy);
			assert_true(mime_count_parts(root) <= MIME_PARTS_MAX);
			assert_true(root->end == n);
			mime_free(root);
			free(copy);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_offsets),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_params_limit),
	    cmocka_unit_test(test_other_fields),
	    cmocka_unit_test(test_filename),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_parts_limit),
	    cmocka_unit_test(test_boundary_limit),
	    cmocka_unit_test(test_boundary_lines),
	    cmocka_unit_test(test_header_next),
	    cmocka_unit_test(test_decoders),
	    cmocka_unit_test(test_decode_body),
	    cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
