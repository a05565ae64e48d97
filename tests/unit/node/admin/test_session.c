/*
 * test_session.c - the web admin's bearer-token table (node/admin/session.c):
 * tokens are unique and well-formed, found only exactly, end at logout,
 * after the idle timeout and the maximum age, per admin, and the oldest
 * goes when the table is full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "node/admin/session.h"

static int
lookup(struct admin_sessions *s, const char *token, uint64_t now, const char *want_name,
    const char *want_hash)
{
	char *name, *hash;
	int rc = admin_session_lookup(s, token, strlen(token), now, &name, &hash);

	if (rc == 0) {
		assert_string_equal(name, want_name);
		assert_string_equal(hash, want_hash);
		free(name);
		free(hash);
	} else {
		assert_null(name);
		assert_null(hash);
	}
	return rc;
}

static void
test_token_shape_and_uniqueness(void **state)
{
	struct admin_sessions *s;
	char *a, *b;

	(void)state;
	admin_sessions_new(&s);
	a = admin_session_create(s, "admin", "$y$h1", 1000);
	b = admin_session_create(s, "admin", "$y$h1", 1000);
	assert_int_equal(strlen(a), ADMIN_SESSION_TOKEN_LEN);
	assert_int_equal(
	    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    ADMIN_SESSION_TOKEN_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(lookup(s, a, 1001, "admin", "$y$h1"), 0);
	assert_int_equal(lookup(s, b, 1001, "admin", "$y$h1"), 0);
	free(a);
	free(b);
	admin_sessions_free(&s);
	assert_null(s);
}

static void
test_only_the_exact_token_is_found(void **state)
{
	struct admin_sessions *s;
	char *a;
	char bad[ADMIN_SESSION_TOKEN_LEN + 2];

	(void)state;
	admin_sessions_new(&s);
	a = admin_session_create(s, "ann", "h", 0);
	memcpy(bad, a, ADMIN_SESSION_TOKEN_LEN + 1);
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	assert_int_equal(lookup(s, bad, 1, NULL, NULL), MN_EAUTH);
	bad[ADMIN_SESSION_TOKEN_LEN - 1] = '\0'; /* one short */
	memcpy(bad, a, ADMIN_SESSION_TOKEN_LEN - 1);
	assert_int_equal(lookup(s, bad, 1, NULL, NULL), MN_EAUTH);
	assert_int_equal(lookup(s, "", 1, NULL, NULL), MN_EAUTH);
	assert_int_equal(lookup(s, a, 1, "ann", "h"), 0);
	free(a);
	admin_sessions_free(&s);
}

static void
test_logout_idle_and_max_age_end_a_session(void **state)
{
	struct admin_sessions *s;
	char *a, *b, *c;
	uint64_t t = 5000;

	(void)state;
	admin_sessions_new(&s);
	a = admin_session_create(s, "ann", "h", t);
	admin_session_end(s, a, strlen(a));
	assert_int_equal(lookup(s, a, t, NULL, NULL), MN_EAUTH);

	/* idle: each use restarts the idle timer */
	b = admin_session_create(s, "ann", "h", t);
	assert_int_equal(lookup(s, b, t + ADMIN_SESSION_IDLE_MS - 1, "ann", "h"), 0);
	assert_int_equal(lookup(s, b, t + 2 * ADMIN_SESSION_IDLE_MS - 2, "ann", "h"), 0);
	assert_int_equal(lookup(s, b, t + 3 * ADMIN_SESSION_IDLE_MS - 2, NULL, NULL), MN_EAUTH);

	/* maximum age, however busy */
	c = admin_session_create(s, "ann", "h", t);
	for (uint64_t now = t; now < t + ADMIN_SESSION_MAX_MS; now += ADMIN_SESSION_IDLE_MS / 2)
		assert_int_equal(lookup(s, c, now, "ann", "h"), 0);
	assert_int_equal(lookup(s, c, t + ADMIN_SESSION_MAX_MS, NULL, NULL), MN_EAUTH);
	free(a);
	free(b);
	free(c);
	admin_sessions_free(&s);
}

static void
test_end_admin_ends_only_its_sessions(void **state)
{
	struct admin_sessions *s;
	char *a1, *a2, *b;

	(void)state;
	admin_sessions_new(&s);
	a1 = admin_session_create(s, "ann", "h", 0);
	b = admin_session_create(s, "bob", "hb", 0);
	a2 = admin_session_create(s, "ann", "h", 0);
	admin_session_end_admin(s, "ann");
	assert_int_equal(lookup(s, a1, 1, NULL, NULL), MN_EAUTH);
	assert_int_equal(lookup(s, a2, 1, NULL, NULL), MN_EAUTH);
	assert_int_equal(lookup(s, b, 1, "bob", "hb"), 0);
	free(a1);
	free(a2);
	free(b);
	admin_sessions_free(&s);
}

static void
test_full_table_drops_the_least_recently_used(void **state)
{
	struct admin_sessions *s;
	char *first, *second, *last;

	(void)state;
	admin_sessions_new(&s);
	first = admin_session_create(s, "ann", "h", 0);
	second = admin_session_create(s, "ann", "h", 1);
	assert_int_equal(lookup(s, first, 2, "ann", "h"), 0); /* first is now used later */
	for (int i = 2; i < ADMIN_SESSION_MAX; i++)
		free(admin_session_create(s, "x", "hx", 3));
	last = admin_session_create(s, "bob", "hb", 4); /* table full: second goes */
	assert_int_equal(lookup(s, second, 5, NULL, NULL), MN_EAUTH);
	assert_int_equal(lookup(s, first, 5, "ann", "h"), 0);
	assert_int_equal(lookup(s, last, 5, "bob", "hb"), 0);
	free(first);
	free(second);
	free(last);
	admin_sessions_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_shape_and_uniqueness),
	    cmocka_unit_test(test_only_the_exact_token_is_found),
	    cmocka_unit_test(test_logout_idle_and_max_age_end_a_session),
	    cmocka_unit_test(test_end_admin_ends_only_its_sessions),
	    cmocka_unit_test(test_full_table_drops_the_least_recently_used),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
