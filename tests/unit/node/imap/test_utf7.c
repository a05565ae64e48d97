/*
 * test_utf7.c - node/imap/utf7.c: modified UTF-7 (RFC 3501 §5.1.3) both
 * ways, strictness, and the Chinese folder names of SPEC §8. Expected
 * encodings were produced with Python's standard UTF-7 codec ("+" -> "&",
 * "/" -> ",", direct printable ASCII) and agree with RFC 3501's example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "node/imap/utf7.h"

#define L(s) s, sizeof(s) - 1

/* clang-format off */
static const struct {
	const char *utf8;
	const char *mutf7;
} valid[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "Drafts & Notes", "Drafts &- Notes" },
	{ "Entw&rfe", "Entw&-rfe" },
	{ "&", "&-" },
	{ "&&", "&-&-" },
	{ "已发送", "&XfJT0ZAB-" },
	{ "草稿箱", "&g0l6P3ux-" },
	{ "垃圾邮件", "&V4NXPpCuTvY-" },
	{ "已删除", "&XfJSIJZk-" },
	{ "INBOX/已发送/2024", "INBOX/&XfJT0ZAB-/2024" },
	{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" }, /* RFC 3501 */
	{ "Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-" },
	{ "a中b", "a&Ti0-b" },
	{ "é&", "&AOk-&-" },
	{ "&é", "&-&AOk-" },
	{ "é-", "&AOk--" },
	{ "ÿ", "&AP8-" },
	{ "Ａ", "&,yE-" },
	{ "\x01", "&AAE-" },
	{ "\x7f", "&AH8-" },
	{ "\t\n", "&AAkACg-" },
	{ "😀", "&2D3eAA-" },
	{ "😀😀", "&2D3eANg93gA-" },
	{ "\xf4\x8f\xbf\xbf", "&2,,f,w-" }, /* U+10FFFF */
	{ "~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}", "~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}" },
};
/* clang-format on */

static void
test_round_trip_table(void **state)
{
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		struct buf b;
		struct mn_err err = {0};

		buf_init(&b, 0);
		assert_int_equal(imap_utf7_encode(slice_from_cstr(valid[i].utf8), &b, &err), 0);
		if (strcmp(buf_cstr(&b), valid[i].mutf7) != 0) {
			print_error("encode case %zu: got [%s] want [%s]\n", i, buf_cstr(&b),
			    valid[i].mutf7);
			fail();
		}
		buf_reset(&b);
		assert_int_equal(imap_utf7_decode(slice_from_cstr(valid[i].mutf7), &b, &err), 0);
		assert_string_equal(buf_cstr(&b), valid[i].utf8);
		buf_fini(&b);
	}
}

static void
test_decode_rejects(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in;
		size_t len;
		const char *msg;
	} cases[] = {
		{ L("&"), "Missing '-' after base64 at 0" },
		{ L("&XfJT0ZAB"), "Missing '-' after base64 at 0" },
		{ L("ab&AOk"), "Missing '-' after base64 at 2" },
		{ L("&A-"), "Non-canonical base64 run at 0" },
		{ L("&AOl-"), "Non-canonical base64 run at 0" },     /* padding bits set */
		{ L("&AOkA-"), "Non-canonical base64 run at 0" },    /* unused character */
		{ L("&AGE-"), "Character U+0061 must not be base64-encoded at 4" },
		{ L("&ACY-"), "Character U+0026 must not be base64-encoded at 4" },
		{ L("&ACA-"), "Character U+0020 must not be base64-encoded at 4" },
		{ L("&AAA-"), "Character U+0000 must not be base64-encoded at 4" },
		{ L("&2D0-"), "Unpaired high surrogate at 4" },
		{ L("&2D3YPQ-"), "Unpaired high surrogate at 7" },
		{ L("&2D0AYQ-"), "Unpaired high surrogate at 7" },
		{ L("&3gA-"), "Unpaired low surrogate at 4" },
		{ L("&AOk-&AOk-"), "Two base64 runs in a row at 5" },
		{ L("&AOk/-"), "Invalid base64 character at 4" },
		{ L("&AOk=-"), "Invalid base64 character at 4" },
		{ L("&&-"), "Invalid base64 character at 1" },
		{ L("&+-"), "Non-canonical base64 run at 0" },
		{ L("a\x80"), "Invalid byte 0x80 at 1" },
		{ L("\xe5\xb7\xb2"), "Invalid byte 0xe5 at 0" }, /* raw UTF-8 */
		{ L("a\tb"), "Invalid byte 0x09 at 1" },
		{ L("a\x7f"), "Invalid byte 0x7f at 1" },
		{ L("a\0b"), "Invalid byte 0x00 at 1" },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		struct mn_err err = {0};

		buf_init(&b, 0);
		buf_append(&b, "keep", 4);
		if (imap_utf7_decode((struct slice){cases[i].in, cases[i].len}, &b, &err) !=
		        MN_EINVAL ||
		    strcmp(err.msg, cases[i].msg) != 0) {
			print_error("decode case %zu [%s]: [%s]\n", i, cases[i].in, err.msg);
			fail();
		}
		assert_int_equal(b.len, 4); /* nothing partial left behind */
		buf_fini(&b);
	}
}

static void
test_encode_rejects(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in;
		size_t len;
		const char *msg;
	} cases[] = {
		{ L("\xff"), "Invalid UTF-8 at byte 0" },
		{ L("ab\xc0\x80"), "Invalid UTF-8 at byte 2" },        /* overlong NUL */
		{ L("\xe0\x80\xaf"), "Invalid UTF-8 at byte 0" },      /* overlong '/' */
		{ L("\xed\xa0\x80"), "Invalid UTF-8 at byte 0" },      /* surrogate */
		{ L("\xf4\x90\x80\x80"), "Invalid UTF-8 at byte 0" },  /* > U+10FFFF */
		{ L("\xe4\xb8"), "Invalid UTF-8 at byte 0" },          /* truncated */
		{ L("\xe4\xb8x"), "Invalid UTF-8 at byte 0" },
		{ L("\x80"), "Invalid UTF-8 at byte 0" },
		{ L("a\0b"), "NUL in mailbox name" },
		{ L("\xe5\xb7\xb2\xff"), "Invalid UTF-8 at byte 3" },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		struct mn_err err = {0};

		buf_init(&b, 0);
		if (imap_utf7_encode((struct slice){cases[i].in, cases[i].len}, &b, &err) !=
		        MN_EINVAL ||
		    strcmp(err.msg, cases[i].msg) != 0) {
			print_error("encode case %zu: [%s]\n", i, err.msg);
			fail();
		}
		assert_int_equal(b.len, 0);
		buf_fini(&b);
	}
}

static void
test_output_limit(void **state)
{
	struct buf b;
	struct mn_err err = {0};

	/* "&XfJT0ZAB-" is 10 bytes: fits at max 12 with "ab" before it. */
	buf_init(&b, 12);
	buf_append(&b, "ab", 2);
	assert_int_equal(imap_utf7_encode(slice_from_cstr("已发送"), &b, &err), 0);
	assert_int_equal(b.len, 12);
	buf_fini(&b);

	buf_init(&b, 11);
	buf_append(&b, "ab", 2);
	assert_int_equal(imap_utf7_encode(slice_from_cstr("已发送"), &b, &err), MN_ETOOBIG);
	assert_int_equal(b.len, 2);
	assert_string_equal(err.msg, "Mailbox name too long");
	buf_fini(&b);

	/* Decoded: 9 bytes of UTF-8. */
	buf_init(&b, 9);
	assert_int_equal(imap_utf7_decode(slice_from_cstr("&XfJT0ZAB-"), &b, &err), 0);
	buf_fini(&b);
	buf_init(&b, 8);
	assert_int_equal(imap_utf7_decode(slice_from_cstr("&XfJT0ZAB-"), &b, &err), MN_ETOOBIG);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_table),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_output_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
