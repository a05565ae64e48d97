/*
 * test_token.c - random tokens (lib/token.c): the base64url spelling
 * against RFC 4648 §5 (checked with Python's base64.urlsafe_b64encode),
 * shape and uniqueness of random tokens, and the length-checked compare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/token.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
test_encode_vectors(void **state)
{
	static const struct {
		unsigned char first, step; /* byte i is first + i * step */
		const char *want;
	} cases[] = {
	    {0x00, 0, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	    {0x00, 1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},
	    {0xff, 0, "__________________________________________8"},
	    {0xe0, 1, "4OHi4-Tl5ufo6err7O3u7_Dx8vP09fb3-Pn6-_z9_v8"},
	};
	unsigned char r[TOKEN_BYTES];
	char out[TOKEN_LEN + 1];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t i = 0; i < TOKEN_BYTES; i++)
			r[i] = (unsigned char)(cases[c].first + i * cases[c].step);
		memset(out, 'x', sizeof(out));
		token_encode(r, out);
		assert_string_equal(out, cases[c].want);
	}
}

static void
test_random_shape_and_uniqueness(void **state)
{
	char t[8][TOKEN_LEN + 1];

	(void)state;
	for (size_t i = 0; i < 8; i++) {
		token_random(t[i]);
		assert_int_equal(strlen(t[i]), TOKEN_LEN);
		assert_int_equal(strspn(t[i], alphabet), TOKEN_LEN);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(t[i], t[j]);
	}
}

static void
test_eq(void **state)
{
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 2];

	(void)state;
	token_random(a);
	memcpy(b, a, sizeof(a));
	assert_true(token_eq(a, b, TOKEN_LEN));
	/* a prefix or a longer string is not the token */
	assert_false(token_eq(a, b, TOKEN_LEN - 1));
	b[TOKEN_LEN] = 'A';
	b[TOKEN_LEN + 1] = '\0';
	assert_false(token_eq(a, b, TOKEN_LEN + 1));
	assert_false(token_eq(a, b, 0));
	/* one character off anywhere */
	for (size_t i = 0; i < TOKEN_LEN; i++) {
		memcpy(b, a, sizeof(a));
		b[i] = b[i] == 'A' ? 'B' : 'A';
		assert_false(token_eq(a, b, TOKEN_LEN));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_vectors),
	    cmocka_unit_test(test_random_shape_and_uniqueness),
	    cmocka_unit_test(test_eq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
