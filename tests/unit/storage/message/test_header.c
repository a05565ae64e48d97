/*
 * test_header.c - RFC 5322 header parsing: the incremental field parser
 * (fed whole, one byte at a time and split at every position), its limits at
 * max-1/max/max+1, end-of-header search, unfolding, RFC 2047 decoding
 * (native and iconv charsets), address lists and dates.
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
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "storage/message/header.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ==== field parser ====================================================== */

struct hres {
	int rc;          /* HEADER_END or an error */
	size_t consumed; /* bytes consumed by the parser */
	struct buf desc; /* "name|value|\n" per field, "!" suffix if invalid */
	struct buf raws; /* concatenated raw fields */
};

/* run_fields - feed in[0..len) in chunks (split: 0 whole, SIZE_MAX bytes,
 * else two chunks), then finish if the section has not ended. */
static void
run_fields(
    const char *in, size_t len, const struct header_limits *lim, size_t split, struct hres *res)
{
	struct header_parser p;
	struct header_field f;
	size_t pos = 0;
	int rc = HEADER_MORE;

	header_parser_init(&p, lim);
	buf_init(&res->desc, 0);
	buf_init(&res->raws, 0);
	res->consumed = 0;
	while (pos < len && rc != HEADER_END && rc >= 0) {
		size_t n = split == 0          ? len - pos
		           : split == SIZE_MAX ? 1
		           : pos < split       ? split - pos
		                               : len - pos;
		char *chunk = xmemdup(in + pos, n);
		size_t off = 0;

		while (off < n) {
			size_t used;

			rc = header_parser_feed(&p, chunk + off, n - off, &used, &f);
			off += used;
			if (rc < 0 || rc == HEADER_END)
				break;
			if (rc == HEADER_FIELD) {
				buf_printf(&res->desc, "%.*s|%.*s|%s\n", (int)f.name.len,
				    f.name.ptr, (int)f.value.len, f.value.ptr,
				    f.invalid ? "!" : "");
				buf_append(&res->raws, f.raw.ptr, f.raw.len);
			} else {
				assert_int_equal(rc, HEADER_MORE);
				assert_int_equal(off, n);
			}
		}
		free(chunk);
		pos += off;
	}
	res->consumed = pos;
	while (rc >= 0 && rc != HEADER_END) {
		rc = header_parser_finish(&p, &f);
		if (rc == HEADER_FIELD) {
			buf_printf(&res->desc, "%.*s|%.*s|%s\n", (int)f.name.len, f.name.ptr,
			    (int)f.value.len, f.value.ptr, f.invalid ? "!" : "");
			buf_append(&res->raws, f.raw.ptr, f.raw.len);
		}
	}
	res->rc = rc;
	header_parser_fini(&p);
}

static void
hres_fini(struct hres *r)
{
	buf_fini(&r->desc);
	buf_fini(&r->raws);
}

struct fcase {
	const char *in;
	const char *fields; /* expected desc */
	size_t consumed;    /* header bytes incl. the empty line; 0: strlen */
};

static const struct fcase fcases[] = {
    {"From: a@b\r\nSubject: hi\r\n there\r\nX-Empty:\r\n\r\nbody\r\n",
        "From| a@b|\nSubject| hi\r\n there|\nX-Empty||\n", 44},
    {"From: a\nSubject: b\n\tc\n\nbody", "From| a|\nSubject| b\n\tc|\n", 23},
    {"Subject : x\r\n\r\n", "Subject| x|\n", 0},
    {"Subject:x\r\nsubject:y\r\n\r\n", "Subject|x|\nsubject|y|\n", 0},
    {"No colon here\r\nA: 1\r\n\r\n", "No colon here||!\nA| 1|\n", 0},
    {" leading: x\r\n\r\n", " leading| x|!\n", 0},
    {"Bad Name: x\r\n\r\n", "Bad Name| x|!\n", 0},
    {":novalue\r\n\r\n", "|novalue|!\n", 0},
    {"X-\xc3\xa9: y\r\n\r\n", "X-\xc3\xa9| y|!\n", 0},
    {"A: 1\r\n\rX\r\n\r\n", "A| 1|\n\rX||!\n", 0},
    {"A: 1\r\nB: 2\r\n", "A| 1|\nB| 2|\n", 0},
    {"A: 1\r\nB: 2", "A| 1|\nB| 2|\n", 0},
    {"A: 1\r\n folded\r\n", "A| 1\r\n folded|\n", 0},
    {"\r\nbody", "", 2},
    {"\nbody", "", 1},
    {"", "", 0},
    {"A: x\r\n\r\n\r\n", "A| x|\n", 8},
    {"A: x: y\r\n\r\n", "A| x: y|\n", 0},
    {"A: 1\r\n\r", "A| 1|\n", 0},
};

static void
check_fields(size_t idx, const struct fcase *k, size_t split)
{
	size_t len = strlen(k->in), want = k->consumed ? k->consumed : len;
	struct hres r;
	size_t hl, bo;

	run_fields(k->in, len, NULL, split, &r);
	if (r.rc != HEADER_END || r.consumed != want || r.desc.len != strlen(k->fields) ||
	    (r.desc.len && memcmp(r.desc.data, k->fields, r.desc.len) != 0))
		fail_msg("case %zu split %zu: rc %d consumed %zu fields '%.*s'", idx, split, r.rc,
		    r.consumed, (int)r.desc.len, r.desc.data ? (char *)r.desc.data : "");
	/* the raw fields are exactly the input up to the empty line */
	if (header_find_end(k->in, len, &hl, &bo) == 0) {
		assert_int_equal(bo, want);
		assert_int_equal(r.raws.len, hl);
	} else {
		assert_int_equal(r.raws.len, len - (len > 0 && k->in[len - 1] == '\r' ? 1 : 0));
	}
	if (r.raws.len)
		assert_memory_equal(r.raws.data, k->in, r.raws.len);
	hres_fini(&r);
}

static void
test_fields_whole_bytewise_split(void **state)
{
	for (size_t i = 0; i < N(fcases); i++) {
		size_t len = strlen(fcases[i].in);

		check_fields(i, &fcases[i], 0);
		check_fields(i, &fcases[i], SIZE_MAX);
		for (size_t s = 1; s < len; s++)
			check_fields(i, &fcases[i], s);
	}
}

static void
test_after_end_and_errors_are_sticky(void **state)
{
	struct header_limits lim = {0, 1, 0};
	struct header_parser p;
	struct header_field f;
	size_t used;

	header_parser_init(&p, NULL);
	assert_int_equal(header_parser_feed(&p, "A: 1\r\n\r\nbody", 12, &used, &f), HEADER_FIELD);
	assert_int_equal(used, 6);
	assert_int_equal(header_parser_feed(&p, "\r\nbody", 6, &used, &f), HEADER_END);
	assert_int_equal(used, 2);
	assert_int_equal(header_parser_feed(&p, "body", 4, &used, &f), HEADER_END);
	assert_int_equal(used, 0);
	assert_int_equal(header_parser_finish(&p, &f), HEADER_END);
	header_parser_fini(&p);

	header_parser_init(&p, &lim);
	assert_int_equal(header_parser_feed(&p, "A: 1\r\nB: 2\r\n", 12, &used, &f), HEADER_FIELD);
	assert_int_equal(header_parser_feed(&p, "B: 2\r\n", 6, &used, &f), MN_ELIMIT);
	assert_int_equal(header_parser_feed(&p, "\r\n", 2, &used, &f), MN_ELIMIT);
	assert_int_equal(header_parser_finish(&p, &f), MN_ELIMIT);
	header_parser_fini(&p);
}

static void
test_field_length_limit(void **state)
{
	/* max_field counts the raw field with its line end */
	for (size_t max = 19; max <= 21; max++) {
		struct header_limits lim = {20, 0, 0};
		struct hres r;
		char *in =
		    xasprintf("Subject: %.*s\r\n\r\n", (int)(max - 11), "1234567890123456789");

		run_fields(in, strlen(in), &lim, SIZE_MAX, &r);
		assert_int_equal(r.rc, max <= 20 ? HEADER_END : MN_ETOOBIG);
		hres_fini(&r);
		run_fields(in, strlen(in), &lim, 0, &r);
		assert_int_equal(r.rc, max <= 20 ? HEADER_END : MN_ETOOBIG);
		hres_fini(&r);
		free(in);
	}
	/* folded lines count too */
	{
		struct header_limits lim = {20, 0, 0};
		struct hres r;

		run_fields("S: 1234\r\n 56789012\r\n\r\n", 22, &lim, 0, &r);
		assert_int_equal(r.rc, HEADER_END);
		hres_fini(&r);
		run_fields("S: 1234\r\n 567890123\r\n\r\n", 23, &lim, 0, &r);
		assert_int_equal(r.rc, MN_ETOOBIG);
		hres_fini(&r);
	}
}

static void
test_field_count_limit(void **state)
{
	struct buf in;

	buf_init(&in, 0);
	for (int i = 0; i < 999; i++)
		buf_printf(&in, "X-%d: v\r\n", i);
	for (int extra = 0; extra < 3; extra++) {
		struct hres r;
		size_t fields = 999 + (size_t)extra;
		struct buf msg;

		buf_init(&msg, 0);
		buf_append(&msg, in.data, in.len);
		for (int k = 0; k < extra; k++)
			buf_printf(&msg, "Y-%d: v\r\n", k);
		buf_append_str(&msg, "\r\n");
		run_fields((const char *)msg.data, msg.len, NULL, 0, &r);
		/* 1000 fields is the default maximum */
		assert_int_equal(r.rc, fields <= 1000 ? HEADER_END : MN_ELIMIT);
		hres_fini(&r);
		buf_fini(&msg);
	}
	buf_fini(&in);
}

static void
test_section_size_limit(void **state)
{
	const char *in = "A: 1\r\nB: 2\r\n\r\nbody";

	for (size_t max = 13; max <= 15; max++) {
		struct header_limits lim = {0, 0, max};
		struct hres r;

		run_fields(in, strlen(in), &lim, 0, &r);
		assert_int_equal(r.rc, max >= 14 ? HEADER_END : MN_ETOOBIG);
		hres_fini(&r);
		run_fields(in, strlen(in), &lim, SIZE_MAX, &r);
		assert_int_equal(r.rc, max >= 14 ? HEADER_END : MN_ETOOBIG);
		hres_fini(&r);
	}
}

static void
test_find_end(void **state)
{
	static const struct {
		const char *in;
		int rc;
		size_t hl, bo;
	} cases[] = {
	    {"A: 1\r\n\r\nbody", 0, 6, 8},
	    {"A: 1\n\nbody", 0, 5, 6},
	    {"A: 1\r\n\nbody", 0, 6, 7},
	    {"\r\nbody", 0, 0, 2},
	    {"\n", 0, 0, 1},
	    {"A: 1\r\n B\r\n\r\n", 0, 10, 12},
	    {"A: 1\r\n", MN_ENOENT, 6, 6},
	    {"A: 1\r\n\r", MN_ENOENT, 7, 7},
	    {"", MN_ENOENT, 0, 0},
	    {"A: 1\r\n \r\nx", MN_ENOENT, 10, 10},
	};

	for (size_t i = 0; i < N(cases); i++) {
		size_t hl = 99, bo = 99;

		assert_int_equal(
		    header_find_end(cases[i].in, strlen(cases[i].in), &hl, &bo), cases[i].rc);
		assert_int_equal(hl, cases[i].hl);
		assert_int_equal(bo, cases[i].bo);
	}
}

static void
test_unfold(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {" hi\r\n there", "hi there"},
	    {" a\r\n\tb\n c ", "a\tb c"},
	    {"", ""},
	    {" \r\n ", ""},
	    {"x\ry", "x\ry"},
	    {"  lead and trail  ", "lead and trail"},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct buf b;

		buf_init(&b, 0);
		assert_int_equal(header_unfold(slice_from_cstr(cases[i].in), &b), 0);
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_fini(&b);
	}
	{
		struct buf b;

		buf_init(&b, 3);
		assert_int_equal(header_unfold(SLICE_LIT("abcd"), &b), MN_ETOOBIG);
		buf_fini(&b);
	}
}

/* ==== RFC 2047 ============================================================ */

static void
test_decode_2047(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"=?utf-8?B?5Lit5paH?=", "中文"},
	    {"=?UTF-8?Q?caf=C3=A9?=", "café"},
	    {"=?utf-8?q?caf=c3=a9?=", "café"},
	    {"=?iso-8859-1?q?caf=E9?=", "café"},
	    {"=?ISO-8859-1?B?Y2Fm6Q==?=", "café"},
	    {"=?us-ascii?q?a=80b?=", "a\xef\xbf\xbd"
	                             "b"},
	    {"=?gb2312?B?1tDOxA==?=", "中文"},
	    {"=?GBK?B?1tDOxA==?=", "中文"},
	    {"=?gbk?B?ouM=?=", "€"},
	    {"=?big5?B?pKSk5Q==?=", "中文"},
	    {"=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"},
	    {"=?euc-kr?B?x9Gxub7u?=", "한국어"},
	    {"=?koi8-r?B?8NLJ18XU?=", "Привет"},
	    {"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
	    {"=?utf-8?q?a?=  \r\n =?UTF-8?q?b?=", "ab"},
	    {"=?utf-8?q?a?= b", "a b"},
	    {"a =?utf-8?q?b?=", "a b"},
	    {"a =?utf-8?q?b?= c =?utf-8?q?d?=", "a b c d"},
	    {"=?utf-8?B?5Lg=?= =?utf-8?B?rQ==?=", "中"},
	    {"=?utf-8?B?5Lg=?==?utf-8?B?rQ==?=", "中"},
	    {"=?utf-8?B?5Lg=?=", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", "éé"},
	    {"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="},
	    {"=?x-unknown?q?a?= =?x-unknown?q?b?=", "=?x-unknown?q?a?= =?x-unknown?q?b?="},
	    {"=?utf-8?q?a=ZZ?=", "=?utf-8?q?a=ZZ?="},
	    {"=?utf-8?q?a=4?=", "=?utf-8?q?a=4?="},
	    {"=?utf-8?b?!!!!?=", "=?utf-8?b?!!!!?="},
	    {"=?utf-8?b?QUJDR?=", "=?utf-8?b?QUJDR?="},
	    {"=?utf-8?b?QQ==QQ==?=", "=?utf-8?b?QQ==QQ==?="},
	    {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
	    {"=?utf-8?q?a b?=", "=?utf-8?q?a b?="},
	    {"=?"
	     "?q?abc?=",
	        "=?"
	        "?q?abc?="},
	    {"=?utf/8?q?abc?=", "=?utf/8?q?abc?="},
	    {"=?utf-8?q?abc", "=?utf-8?q?abc"},
	    {"=?utf-8?q?a_b?=", "a b"},
	    {"=?utf-8*en?q?hi?=", "hi"},
	    {"=?utf-8?b?YQ?=", "a"},
	    {"=?utf-8?q?"
	     "?=",
	        ""},
	    {"foo=?utf-8?q?bar?=baz", "foobarbaz"},
	    {"\"=?utf-8?B?5byg5LiJ?=\"", "\"张三\""},
	    {"plain \xe4\xb8\xad text", "plain 中 text"},
	    {"bad \xff byte", "bad \xef\xbf\xbd byte"},
	    {"a\r\n b", "a b"},
	    {"== =? ?= =?=", "== =? ?= =?="},
	    {"", ""},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct buf b;

		buf_init(&b, 0);
		assert_int_equal(header_decode_2047(slice_from_cstr(cases[i].in), &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			fail_msg("2047 case %zu '%s': got '%s'", i, cases[i].in, buf_cstr(&b));
		assert_true(utf8_valid(b.data, b.len));
		buf_fini(&b);
	}
}

static void
test_2047_word_length_limit(void **state)
{
	/* "=?utf-8?q?" + k + "?=" is 12 + k characters */
	for (size_t total = HEADER_2047_WORD_MAX - 1; total <= HEADER_2047_WORD_MAX + 1; total++) {
		size_t k = total - 12;
		char *in = xmalloc(total + 1);
		struct buf b;

		memcpy(in, "=?utf-8?q?", 10);
		memset(in + 10, 'a', k);
		memcpy(in + 10 + k, "?=", 3);
		buf_init(&b, 0);
		assert_int_equal(header_decode_2047((struct slice){in, total}, &b), 0);
		/* decoded: k bytes; kept as written: total bytes */
		assert_int_equal(b.len, total <= HEADER_2047_WORD_MAX ? k : total);
		buf_fini(&b);
		free(in);
	}
	{
		struct buf b;

		buf_init(&b, 2);
		assert_int_equal(header_decode_2047(SLICE_LIT("=?utf-8?q?abc?="), &b), MN_ETOOBIG);
		buf_fini(&b);
	}
}

/* ==== addresses ================================================================ */

/* describe - "M name|local|domain;" "G name;" "E;" */
static void
describe(const struct header_address_list *l, struct buf *out)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct header_address *e = &l->v[i];

		if (e->kind == HEADER_ADDR_MAILBOX)
			buf_printf(
			    out, "M %s|%s|%s;", e->name ? e->name : "-", e->local, e->domain);
		else if (e->kind == HEADER_ADDR_GROUP_START)
			buf_printf(out, "G %s;", e->name ? e->name : "-");
		else
			buf_printf(out, "E;");
	}
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *want;
	} cases[] = {
	    {"a@b.example", 0, "M -|a|b.example;"},
	    {"John Doe <jd@x.example>", 0, "M John Doe|jd|x.example;"},
	    {"\"Doe, John\" <jd@x.example>, other@y.example", 0,
	        "M Doe, John|jd|x.example;M -|other|y.example;"},
	    {"John Q. Public <jqp@x>", 0, "M John Q. Public|jqp|x;"},
	    {"=?utf-8?B?5byg5LiJ?= <zs@x.cn>", 0, "M 张三|zs|x.cn;"},
	    {"\"=?utf-8?B?5byg5LiJ?=\" <zs@x.cn>", 0, "M 张三|zs|x.cn;"},
	    {"=?gb2312?B?1tDOxA==?= <a@b>", 0, "M 中文|a|b;"},
	    {"张三 <zs@例子.cn>", 0, "M 张三|zs|例子.cn;"},
	    {"Undisclosed recipients:;", 0, "G Undisclosed recipients;E;"},
	    {"Team: a@x, B <b@y>; , c@z", 0, "G Team;M -|a|x;M B|b|y;E;M -|c|z;"},
	    {"Team: , a@x,, ;", 0, "G Team;M -|a|x;E;"},
	    {"a@b (comment), (c) d@e", 0, "M -|a|b;M -|d|e;"},
	    {"a@b (nested (comment \\) here)) ", 0, "M -|a|b;"},
	    {"<@r1.example,@r2.example:u@d>", 0, "M -|u|d;"},
	    {"<@r1.example,,@r2.example:u@d>", 0, "M -|u|d;"},
	    {"\"john smith\"@x.example", 0, "M -|john smith|x.example;"},
	    {"\"a\\\"b\"@x", 0, "M -|a\"b|x;"},
	    {"u@[127.0.0.1]", 0, "M -|u|[127.0.0.1];"},
	    {"u@[ 127.0.0.1 ]", 0, "M -|u|[127.0.0.1];"},
	    {"a . b @ c . d", 0, "M -|a.b|c.d;"},
	    {",,a@b,,", 0, "M -|a|b;"},
	    {"", 0, ""},
	    {"  (only a comment) ", 0, ""},
	    {"<a@b>", 0, "M -|a|b;"},
	    {"Joe\r\n Bloggs\r\n <joe@x>", 0, "M Joe Bloggs|joe|x;"},
	    {"John(middle)Smith <js@x>", 0, "M John Smith|js|x;"},
	    {"\"\" <a@b>", 0, "M -|a|b;"},
	    {"\"\"@b", 0, "M -||b;"},
	    {"foo", MN_EPARSE, ""},
	    {"a@", MN_EPARSE, ""},
	    {"a@b.", MN_EPARSE, ""},
	    {"<a@b", MN_EPARSE, ""},
	    {"<a>", MN_EPARSE, ""},
	    {"<>", MN_EPARSE, ""},
	    {"a@b c@d", MN_EPARSE, "M -|a|b;"},
	    {"a@b, bad bad, c@d", MN_EPARSE, "M -|a|b;"},
	    {"g: a@b", MN_EPARSE, "G g;M -|a|b;"},
	    {"g: h: a@b;;", MN_EPARSE, "G g;"},
	    {":;", MN_EPARSE, ""},
	    {"(unterminated a@b", MN_EPARSE, ""},
	    {"\"unterminated@b", MN_EPARSE, ""},
	    {"a..b@c", MN_EPARSE, ""},
	    {".a@c", MN_EPARSE, ""},
	    {"a.@c", MN_EPARSE, ""},
	    {"u@[1.2[3]", MN_EPARSE, ""},
	    {"u@[1.2.3.4", MN_EPARSE, ""},
	    {"Name <a@b> junk", MN_EPARSE, "M Name|a|b;"},
	    {"<a@b>>", MN_EPARSE, "M -|a|b;"},
	    {"<@r:>", MN_EPARSE, ""},
	    {"<@r a@b>", MN_EPARSE, ""},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct header_address_list l;
		struct buf d;
		char *copy = xstrdup(cases[i].in);
		int rc;

		header_address_list_init(&l);
		buf_init(&d, 0);
		rc = header_parse_addresses((struct slice){copy, strlen(copy)}, &l);
		describe(&l, &d);
		if (rc != cases[i].rc || strcmp(buf_cstr(&d), cases[i].want) != 0)
			fail_msg("address case %zu '%s': rc %d got '%s'", i, cases[i].in, rc,
			    buf_cstr(&d));
		buf_fini(&d);
		header_address_list_fini(&l);
		free(copy);
	}
}

static void
test_address_limits(void **state)
{
	struct header_address_list l;
	struct buf in;

	/* comment nesting: 32 levels (ours), 33 refused */
	for (int depth = 31; depth <= 33; depth++) {
		buf_init(&in, 0);
		buf_append_str(&in, "a@b ");
		for (int i = 0; i < depth; i++)
			buf_append_str(&in, "(");
		for (int i = 0; i < depth; i++)
			buf_append_str(&in, ")");
		header_address_list_init(&l);
		assert_int_equal(
		    header_parse_addresses((struct slice){(char *)in.data, in.len}, &l),
		    depth <= HEADER_COMMENT_DEPTH_MAX ? 0 : MN_EPARSE);
		assert_int_equal(l.n, 1);
		header_address_list_fini(&l);
		buf_fini(&in);
	}

	/* entries: HEADER_ADDRESSES_MAX, then MN_ELIMIT */
	for (size_t count = HEADER_ADDRESSES_MAX - 1; count <= HEADER_ADDRESSES_MAX + 1; count++) {
		int rc;

		buf_init(&in, 0);
		for (size_t i = 0; i < count; i++)
			buf_append_str(&in, i ? ",a@b" : "a@b");
		header_address_list_init(&l);
		rc = header_parse_addresses((struct slice){(char *)in.data, in.len}, &l);
		assert_int_equal(rc, count <= HEADER_ADDRESSES_MAX ? 0 : MN_ELIMIT);
		assert_int_equal(l.n, count <= HEADER_ADDRESSES_MAX ? count : HEADER_ADDRESSES_MAX);
		header_address_list_fini(&l);
		buf_fini(&in);
	}

	/* appending to a list that already has entries */
	header_address_list_init(&l);
	assert_int_equal(header_parse_addresses(SLICE_LIT("a@b"), &l), 0);
	assert_int_equal(header_parse_addresses(SLICE_LIT("c@d"), &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].local, "c");
	header_address_list_fini(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
}

/* ==== dates ================================================================ */

static void
test_dates(void **state)
{
	static const struct {
		const char *in;
		int rc;
		int64_t t;
		int zone;
	} cases[] = {
	    {"Thu, 13 Feb 1969 23:32:54 -0330", 0, -27723426, -210},
	    {"Fri, 21 Nov 1997 09:55:06 -0600", 0, 880127706, -360},
	    {"1 Jan 1970 00:00:00 +0000", 0, 0, 0},
	    {"Tue, 1 Jul 2003 10:52:37 +0200 (CEST)", 0, 1057049557, 120},
	    {"Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
	     "               -0330 (Newfoundland Time)",
	        0, -27723480, -210},
	    {"21 Nov 97 09:55:06 GMT", 0, 880106106, 0},
	    {"Mon, 1 Jan 01 00:00:00 EST", 0, 978325200, -300},
	    {"1 Jan 101 00:00:00 EST", 0, 978325200, -300},
	    /* 2-digit years: 00-49 are 2000-2049, 50-99 are 1900-1999 (RFC 5322 §4.3) */
	    {"1 Jan 49 00:00:00 +0000", 0, 2493072000, 0},
	    {"1 Jan 50 00:00:00 +0000", 0, -631152000, 0},
	    {"31 Dec 99 00:00:00 +0000", 0, 946598400, 0},
	    {"1 Jan 00 00:00:00 +0000", 0, 946684800, 0},
	    {"29 Feb 2000 12:00:00 +0000", 0, 951825600, 0},
	    {"1 Jan 2020 10:00:00", 0, 1577872800, 0},
	    {"1 Jan 2020 10:00 +0000", 0, 1577872800, 0},
	    {"1 jan 2020 10:00:00 z", 0, 1577872800, 0},
	    {"01 JAN 2020 10:00:00 ut", 0, 1577872800, 0},
	    {"Mon, 1 Jan 2020 10:00:00 -0000", 0, 1577872800, 0},
	    {"1 Jan 2020 11:00:00 +0100", 0, 1577872800, 60},
	    {"1 Jan 2020 02:00:00 PST", 0, 1577872800, -480},
	    {"31 Dec 2016 23:59:60 +0000", 0, 1483228800, 0},
	    {"31 Dec 9999 23:59:59 +0000", 0, 253402300799, 0},
	    {" Sun, 06 Nov 1994 08:49:37 +0000 ", 0, 784111777, 0},
	    {"Sun , 06 Nov 1994 08:49:37 +0000", 0, 784111777, 0},
	    {"29 Feb 1900 12:00:00 +0000", MN_EPARSE, 0, 0},
	    {"29 Feb 2004 12:00:00 +0000", 0, 1078056000, 0},
	    {"31 Apr 2020 12:00:00 +0000", MN_EPARSE, 0, 0},
	    {"0 Jan 2020 12:00:00 +0000", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 24:00:00 +0000", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 23:60:00 +0000", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 23:59:61 +0000", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:00:00 +0160", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:00:00 +100", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:00:00 J", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:00:00 CEST", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:00:00 +0000 junk", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:00:00 +0000 (unterminated", MN_EPARSE, 0, 0},
	    {"Foo, 1 Jan 2020 10:00:00 +0000", MN_EPARSE, 0, 0},
	    {"Mon 1 Jan 2020 10:00:00 +0000", MN_EPARSE, 0, 0},
	    {"1 Foo 2020 10:00:00 +0000", MN_EPARSE, 0, 0},
	    {"1 January 2020 10:00:00 +0000", MN_EPARSE, 0, 0},
	    {"1 Jan 1899 10:00:00 +0000", MN_EPARSE, 0, 0},
	    {"1 Jan 2020", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10", MN_EPARSE, 0, 0},
	    {"1 Jan 2020 10:0 +0000", MN_EPARSE, 0, 0},
	    {"", MN_EPARSE, 0, 0},
	    {"123 Jan 2020 10:00:00 +0000", MN_EPARSE, 0, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		int64_t t = -1;
		int zone = -1;
		char *copy = xstrdup(cases[i].in);
		int rc = header_parse_date((struct slice){copy, strlen(copy)}, &t, &zone);

		if (rc != cases[i].rc || (rc == 0 && (t != cases[i].t || zone != cases[i].zone)))
			fail_msg("date case %zu '%s': rc %d t %lld zone %d", i, cases[i].in, rc,
			    (long long)t, zone);
		free(copy);
	}
	{
		int64_t t;

		assert_int_equal(
		    header_parse_date(SLICE_LIT("1 Jan 1970 00:00:01 +0000"), &t, NULL), 0);
		assert_int_equal(t, 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields_whole_bytewise_split),
	    cmocka_unit_test(test_after_end_and_errors_are_sticky),
	    cmocka_unit_test(test_field_length_limit),
	    cmocka_unit_test(test_field_count_limit),
	    cmocka_unit_test(test_section_size_limit),
	    cmocka_unit_test(test_find_end),
	    cmocka_unit_test(test_unfold),
	    cmocka_unit_test(test_decode_2047),
	    cmocka_unit_test(test_2047_word_length_limit),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_address_limits),
	    cmocka_unit_test(test_dates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
