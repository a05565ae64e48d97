/*
 * test_utf8.c - strict UTF-8 validation against the RFC 3629 §4 table:
 * every boundary of every lead byte, overlongs, surrogates, > U+10FFFF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/utf8.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_seq_len(void **state)
{
	static const struct {
		const char *s;
		size_t n, want;
	} cases[] = {
	    {"a", 1, 1},
	    {"\x7f", 1, 1},
	    {"", 0, 0},
	    {"\x80", 1, 0}, /* lone continuation */
	    {"\xbf", 1, 0},
	    {"\xc0\x80", 2, 0}, /* overlong NUL */
	    {"\xc1\xbf", 2, 0}, /* overlong */
	    {"\xc2\x80", 2, 2}, /* U+0080 */
	    {"\xdf\xbf", 2, 2}, /* U+07FF */
	    {"\xc2", 1, 0},     /* truncated */
	    {"\xc2\x7f", 2, 0},
	    {"\xc2\xc0", 2, 0},
	    {"\xe0\x9f\xbf", 3, 0}, /* overlong */
	    {"\xe0\xa0\x80", 3, 3}, /* U+0800 */
	    {"\xed\x9f\xbf", 3, 3}, /* U+D7FF */
	    {"\xed\xa0\x80", 3, 0}, /* U+D800 surrogate */
	    {"\xed\xbf\xbf", 3, 0}, /* U+DFFF */
	    {"\xee\x80\x80", 3, 3}, /* U+E000 */
	    {"\xef\xbf\xbf", 3, 3}, /* U+FFFF */
	    {"\xe4\xb8", 2, 0},     /* truncated */
	    {"\xe4\xb8\x41", 3, 0},
	    {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong */
	    {"\xf0\x90\x80\x80", 4, 4}, /* U+10000 */
	    {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
	    {"\xf4\x90\x80\x80", 4, 0}, /* U+110000 */
	    {"\xf5\x80\x80\x80", 4, 0},
	    {"\xff", 1, 0},
	    {"\xf0\x90\x80", 3, 0},
	};

	for (size_t i = 0; i < N(cases); i++)
		if (utf8_seq_len((const uint8_t *)cases[i].s, cases[i].n) != cases[i].want)
			fail_msg("case %zu: got %zu", i,
			    utf8_seq_len((const uint8_t *)cases[i].s, cases[i].n));
}

static void
test_valid_and_encode(void **state)
{
	static const uint32_t cps[] = {
	    0, 0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff};
	uint8_t out[4];

	assert_true(utf8_valid("plain", 5));
	assert_true(utf8_valid("\xe4\xb8\xad\xe6\x96\x87", 6));
	assert_false(utf8_valid("\xe4\xb8\xad\xe6\x96", 5));
	assert_false(utf8_valid("ok\xff", 3));
	assert_true(utf8_valid("", 0));
	for (size_t i = 0; i < N(cps); i++) {
		size_t n = utf8_encode(cps[i], out);

		assert_true(n >= 1 && n <= 4);
		assert_int_equal(utf8_seq_len(out, n), n);
	}
	assert_int_equal(utf8_encode(0xd800, out), 0);
	assert_int_equal(utf8_encode(0xdfff, out), 0);
	assert_int_equal(utf8_encode(0x110000, out), 0);
	assert_int_equal(utf8_encode(0xe9, out), 2);
	assert_memory_equal(out, "\xc3\xa9", 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seq_len),
	    cmocka_unit_test(test_valid_and_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
