/*
 * test_password.c - crypt(3) hashes: new yescrypt hashes verify, imported
 * SHA-512-crypt and bcrypt hashes of known passwords verify (fixtures from
 * other implementations), wrong passwords and malformed hashes fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dir_test_util.h"
#include "storage/directory/password.h"

static const struct {
	const char *hash;
	const char *password;
	const char *origin;
} known[] = {
    /* openssl passwd -6 -salt abcdefgh secret */
    {"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/"
     "O6IND4WQhG.",
        "secret", "openssl"},
    /* Drepper's SHA-crypt specification, test vector 1 and 2 */
    {"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
     "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        "Hello world!", "sha-crypt spec"},
    {"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/"
     "UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
        "Hello world!", "sha-crypt spec"},
    /* SHA-256-crypt, same specification (also openssl passwd -5) */
    {"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!", "sha-crypt spec"},
    /* crypt_blowfish / OpenBSD test vectors */
    {"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", "crypt_blowfish"},
    {"$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", "crypt_blowfish"},
    {"$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 "
        "are ignored",
        "crypt_blowfish"},
    /* yescrypt, made with libxcrypt crypt_rn */
    {DT_HASH, "secret", "libxcrypt"},
};

static void
test_known_hashes_verify(void **state)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!password_hash_valid(known[i].hash))
			fail_msg("not valid: %s (%s)", known[i].hash, known[i].origin);
		if (!password_verify(known[i].hash, known[i].password))
			fail_msg("does not verify: %s (%s)", known[i].hash, known[i].origin);
		assert_false(password_verify(known[i].hash, "wrong"));
		assert_false(password_verify(known[i].hash, ""));
	}
}

static void
test_new_hash_is_yescrypt_and_salted(void **state)
{
	char *a = password_hash("correct horse"), *b = password_hash("correct horse");

	assert_non_null(a);
	assert_non_null(b);
	assert_memory_equal(a, "$y$", 3);
	assert_string_not_equal(a, b); /* fresh salt each time */
	assert_true(password_hash_valid(a));
	assert_true(password_verify(a, "correct horse"));
	assert_true(password_verify(b, "correct horse"));
	assert_false(password_verify(a, "correct horsE"));
	assert_false(password_verify(a, "correct horse "));
	free(a);
	free(b);
	assert_null(password_hash(NULL));
	a = password_hash("");
	assert_non_null(a);
	assert_true(password_verify(a, ""));
	assert_false(password_verify(a, "x"));
	free(a);
}

static void
test_bad_hashes_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "secret",
	    "*",
	    "!",
	    "!$6$abc$def",
	    "xyXcH4vKpt1Lk", /* DES */
	    "$6$abc",
	    "$6$abc$",
	    "$6$abcdefgh$short",
	    "$y$j9T$abc",
	    "$2b$05$tooshort",
	    "$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	    "$2b$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx",
	    /* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one long hash */
	    "$6$rounds=999999999$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/"
	    "UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
	    "$6$abc "
	    "def$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/"
	    "O6IND4WQhG.",
	    "$6$a:b$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/"
	    "O6IND4WQhG.",
	    "$9$unknownmethod$abc",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (password_hash_valid(bad[i]))
			fail_msg("accepted: %s", bad[i]);
		assert_false(password_verify(bad[i], "secret"));
	}
	assert_false(password_hash_valid(NULL));
	assert_false(password_verify(NULL, "x"));
	assert_false(password_verify(DT_HASH, NULL));
}

static void
test_user_authenticate(void **state)
{
	struct directory *d = dt_open();
	struct mn_err err = {0};
	struct dir_user u;
	char *h = password_hash("pw1"), line[256];

	assert_int_equal(dt_apply(d, "domain_add a.test", &err), 0);
	assert_int_equal(dt_apply(d, "dalias_add b.test a.test", &err), 0);
	snprintf(line, sizeof(line), "user_add bob@a.test hash=%s", h);
	assert_int_equal(dt_apply(d, line, &err), 0);
	assert_int_equal(
	    dt_apply(d,
	        "user_add old@a.test hash=$6$abcdefgh$ltjgWl6579Nl"
	        "uT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.",
	        &err),
	    0);
	assert_int_equal(dt_apply(d, "user_add off@a.test flags=1", &err), 0);
	assert_int_equal(dt_apply(d, "user_add temp@a.test exp=5000", &err), 0);

	assert_int_equal(directory_user_authenticate(d, "bob@a.test", "pw1", 0, &u), 0);
	assert_string_equal(u.address, "bob@a.test");
	dir_user_fini(&u);
	assert_int_equal(directory_user_authenticate(d, "Bob@B.test", "pw1", 0, NULL), 0);
	assert_int_equal(directory_user_authenticate(d, "bob@a.test", "pw2", 0, NULL), MN_EAUTH);
	assert_int_equal(directory_user_authenticate(d, "old@a.test", "secret", 0, NULL), 0);
	assert_int_equal(directory_user_authenticate(d, "nobody@a.test", "pw1", 0, NULL), MN_EAUTH);
	assert_int_equal(directory_user_authenticate(d, "off@a.test", "secret", 0, NULL), MN_EPERM);
	assert_int_equal(directory_user_authenticate(d, "off@a.test", "nope", 0, NULL), MN_EAUTH);
	assert_int_equal(directory_user_authenticate(d, "temp@a.test", "secret", 4999, NULL), 0);
	assert_int_equal(
	    directory_user_authenticate(d, "temp@a.test", "secret", 5000, NULL), MN_EPERM);
	/* the password changes through user_update */
	free(h);
	h = password_hash("pw2");
	snprintf(line, sizeof(line), "user_update bob@a.test hash=%s", h);
	assert_int_equal(dt_apply(d, line, &err), 0);
	assert_int_equal(directory_user_authenticate(d, "bob@a.test", "pw1", 0, NULL), MN_EAUTH);
	assert_int_equal(directory_user_authenticate(d, "bob@a.test", "pw2", 0, NULL), 0);
	free(h);
	directory_close(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_hashes_verify),
	    cmocka_unit_test(test_new_hash_is_yescrypt_and_salted),
	    cmocka_unit_test(test_bad_hashes_refused),
	    cmocka_unit_test(test_user_authenticate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
