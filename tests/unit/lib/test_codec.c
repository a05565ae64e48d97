/*
 * test_codec.c - hex and base64 digit values over every byte value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/codec.h"

static void
test_hex_value_every_byte(void **state)
{
	static const char digits[] = "0123456789abcdef";

	for (int c = 0; c < 256; c++) {
		const char *p =
		    c != 0 ? strchr(digits, c | ((c >= 'A' && c <= 'F') ? 0x20 : 0)) : NULL;

		assert_int_equal(codec_hex_value(c), p ? (int)(p - digits) : -1);
	}
	assert_int_equal(codec_hex_value('F'), 15);
	assert_int_equal(codec_hex_value('g'), -1);
	assert_int_equal(codec_hex_value(-1), -1);
}

static void
test_b64_value_both_alphabets(void **state)
{
	static const char std[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char imap[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

	for (int c = 0; c < 256; c++) {
		const char *p = c != 0 ? memchr(std, c, 64) : NULL;
		const char *q = c != 0 ? memchr(imap, c, 64) : NULL;

		assert_int_equal(codec_b64_value(c, '/'), p ? (int)(p - std) : -1);
		assert_int_equal(codec_b64_value(c, ','), q ? (int)(q - imap) : -1);
	}
	assert_int_equal(codec_b64_value('=', '/'), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hex_value_every_byte),
	    cmocka_unit_test(test_b64_value_both_alphabets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
