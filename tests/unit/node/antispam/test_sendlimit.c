/*
 * test_sendlimit.c - send limit windows, scopes, the one-alert-per-window
 * rule and the bounded table, on a fake clock (no sleeping).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/antispam/sendlimit.h"

static uint64_t now = 1700000000000ULL;

static uint64_t
fake_clock(void *arg)
{
	(void)arg;
	return now;
}

static struct sendlimit *
make(uint32_t um_h, uint32_t ur_h, uint32_t um_d, uint32_t dm_h, uint32_t sr_d, size_t max)
{
	struct sendlimit_config c;

	memset(&c, 0, sizeof(c));
	c.caps[SENDLIMIT_USER].msgs[SENDLIMIT_HOUR] = um_h;
	c.caps[SENDLIMIT_USER].rcpts[SENDLIMIT_HOUR] = ur_h;
	c.caps[SENDLIMIT_USER].msgs[SENDLIMIT_DAY] = um_d;
	c.caps[SENDLIMIT_DOMAIN].msgs[SENDLIMIT_HOUR] = dm_h;
	c.caps[SENDLIMIT_SYSTEM].rcpts[SENDLIMIT_DAY] = sr_d;
	c.max_tracked = max;
	c.now_ms = fake_clock;
	return sendlimit_new(&c);
}

static void
test_off(void **state)
{
	struct sendlimit *sl = make(0, 0, 0, 0, 0, 0);
	struct sendlimit_hit h;

	(void)state;
	assert_false(sendlimit_enabled(sl));
	assert_false(sendlimit_enabled(NULL));
	for (int i = 0; i < 1000; i++)
		sendlimit_count(sl, "a@x.test", 100);
	assert_true(sendlimit_check(sl, "a@x.test", 1, 1000, &h));
	assert_int_equal(sendlimit_tracked(sl), 0);
	sendlimit_free(&sl);
	assert_null(sl);
}

static void
test_user_hour_messages_and_alert_once(void **state)
{
	struct sendlimit *sl = make(3, 0, 0, 0, 0, 0);
	struct sendlimit_hit h;
	char d[300];

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_true(sendlimit_check(sl, "a@x.test", 1, 0, &h));
		sendlimit_count(sl, "a@x.test", 1);
		now += 1000;
	}
	assert_false(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	assert_int_equal(h.scope, SENDLIMIT_USER);
	assert_int_equal(h.window, SENDLIMIT_HOUR);
	assert_false(h.rcpts);
	assert_int_equal(h.limit, 3);
	assert_int_equal(h.used, 3);
	assert_string_equal(h.key, "a@x.test");
	assert_true(h.alert);
	sendlimit_describe(&h, d, sizeof(d));
	assert_string_equal(d, "user a@x.test may send 3 messages per hour");
	/* again in the same window: refused, no second alert */
	assert_false(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	assert_false(h.alert);
	/* another user is not affected */
	assert_true(sendlimit_check(sl, "b@x.test", 1, 0, &h));
	/* the hour ends 3600 s after the first message */
	now += 3600 * 1000 - 3000 - 1;
	assert_false(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	now += 1;
	assert_true(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	sendlimit_count(sl, "a@x.test", 1);
	sendlimit_count(sl, "a@x.test", 1);
	sendlimit_count(sl, "a@x.test", 1);
	assert_false(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	assert_true(h.alert); /* a new window: a new alert */
	sendlimit_free(&sl);
}

static void
test_recipients_domain_system(void **state)
{
	struct sendlimit *sl = make(0, 5, 0, 4, 12, 0);
	struct sendlimit_hit h;
	char d[300];

	(void)state;
	/* recipients: 4 counted, the 5th fits, a 6th does not */
	sendlimit_count(sl, "a@x.test", 4);
	assert_true(sendlimit_check(sl, "a@x.test", 0, 1, &h));
	assert_false(sendlimit_check(sl, "a@x.test", 0, 2, &h));
	assert_true(h.rcpts);
	assert_int_equal(h.limit, 5);
	assert_int_equal(h.used, 4);
	assert_true(h.alert);
	/* domain x.test: 4 messages per hour over all its users */
	sendlimit_count(sl, "b@x.test", 1);
	sendlimit_count(sl, "c@x.test", 1);
	sendlimit_count(sl, "c@x.test", 1);
	assert_false(sendlimit_check(sl, "d@x.test", 1, 0, &h));
	assert_int_equal(h.scope, SENDLIMIT_DOMAIN);
	assert_string_equal(h.key, "x.test");
	assert_true(h.alert); /* d's first hit */
	sendlimit_describe(&h, d, sizeof(d));
	assert_string_equal(d, "domain x.test may send 4 messages per hour");
	assert_false(sendlimit_check(sl, "b@x.test", 1, 0, &h));
	assert_true(h.alert); /* b is another account */
	/* system: 12 recipients per day; 4 + 3 so far */
	sendlimit_count(sl, "e@y.test", 5);
	assert_false(sendlimit_check(sl, "f@y.test", 0, 1, &h));
	assert_int_equal(h.scope, SENDLIMIT_SYSTEM);
	assert_int_equal(h.window, SENDLIMIT_DAY);
	sendlimit_describe(&h, d, sizeof(d));
	assert_string_equal(d, "this server sends at most 12 recipients per day");
	sendlimit_free(&sl);
}

static void
test_day_window_and_bounded_table(void **state)
{
	struct sendlimit *sl = make(0, 0, 2, 0, 0, 3);
	struct sendlimit_hit h;
	char user[32];

	(void)state;
	sendlimit_count(sl, "a@x.test", 1);
	sendlimit_count(sl, "a@x.test", 1);
	now += 23ULL * 3600 * 1000;
	assert_false(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	assert_int_equal(h.window, SENDLIMIT_DAY);
	now += 3600ULL * 1000;
	assert_true(sendlimit_check(sl, "a@x.test", 1, 0, &h));
	/* table of 3: full with live entries, a new key is not tracked */
	for (int i = 0; i < 5; i++) {
		snprintf(user, sizeof(user), "u%d@x.test", i);
		sendlimit_count(sl, user, 1);
	}
	assert_int_equal(sendlimit_tracked(sl), 3);
	/* after a day all windows ended: room again */
	now += 86400ULL * 1000;
	sendlimit_count(sl, "new@x.test", 1);
	sendlimit_count(sl, "new@x.test", 1);
	assert_int_equal(sendlimit_tracked(sl), 1);
	assert_false(sendlimit_check(sl, "new@x.test", 1, 0, &h));
	sendlimit_free(&sl);
}

static void
test_alert_text(void **state)
{
	struct sendlimit_hit h;
	char *rcpt, *m;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.scope = SENDLIMIT_USER;
	h.window = SENDLIMIT_DAY;
	h.rcpts = true;
	h.limit = 7;
	snprintf(h.key, sizeof(h.key), "a@x.test");
	m = sendlimit_alert_build(
	    &h, "mx.x.test", "a@x.test", "127.0.0.9", "id1@mx.x.test", 0, &rcpt);
	assert_string_equal(rcpt, "postmaster@x.test");
	assert_non_null(strstr(m, "To: <postmaster@x.test>\r\n"));
	assert_non_null(strstr(m, "Subject: Send limit reached by a@x.test\r\n"));
	assert_non_null(strstr(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
	assert_non_null(strstr(m, "user a@x.test may send 7 recipients per day.\r\n"));
	assert_non_null(strstr(m, "Last client address: 127.0.0.9\r\n"));
	free(rcpt);
	free(m);
}

/* per-account caps: bob 3 messages per hour (lower than the default 10),
 * carol unlimited (0), the domain big.test 2 recipients per hour (its
 * default is off); others keep the defaults */
static void
override(void *arg, enum sendlimit_scope scope, const char *key, struct sendlimit_caps *caps)
{
	int *calls = arg;

	(*calls)++;
	if (scope == SENDLIMIT_USER && strcmp(key, "bob@x.test") == 0)
		caps->msgs[SENDLIMIT_HOUR] = 3;
	if (scope == SENDLIMIT_USER && strcmp(key, "carol@x.test") == 0)
		caps->msgs[SENDLIMIT_HOUR] = 0;
	if (scope == SENDLIMIT_DOMAIN && strcmp(key, "big.test") == 0)
		caps->rcpts[SENDLIMIT_HOUR] = 2;
}

static void
test_overrides(void **state)
{
	struct sendlimit_config c;
	struct sendlimit *sl;
	struct sendlimit_hit h;
	int calls = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.caps[SENDLIMIT_USER].msgs[SENDLIMIT_HOUR] = 10;
	c.now_ms = fake_clock;
	c.override = override;
	c.override_arg = &calls;
	sl = sendlimit_new(&c);
	assert_true(sendlimit_enabled(sl));
	for (int i = 0; i < 3; i++) {
		assert_true(sendlimit_check(sl, "bob@x.test", 1, 0, &h));
		sendlimit_count(sl, "bob@x.test", 1);
	}
	assert_false(sendlimit_check(sl, "bob@x.test", 1, 0, &h));
	assert_int_equal(h.scope, SENDLIMIT_USER);
	assert_int_equal(h.limit, 3);
	assert_int_equal(h.used, 3);
	assert_true(calls > 0);
	/* carol: unlimited; ann: the default 10 */
	for (int i = 0; i < 20; i++) {
		assert_true(sendlimit_check(sl, "carol@x.test", 1, 0, &h));
		sendlimit_count(sl, "carol@x.test", 1);
	}
	for (int i = 0; i < 10; i++) {
		assert_true(sendlimit_check(sl, "ann@x.test", 1, 0, &h));
		sendlimit_count(sl, "ann@x.test", 1);
	}
	assert_false(sendlimit_check(sl, "ann@x.test", 1, 0, &h));
	assert_int_equal(h.limit, 10);
	/* a domain cap where the node has none */
	assert_true(sendlimit_check(sl, "a@big.test", 1, 2, &h));
	sendlimit_count(sl, "a@big.test", 2);
	assert_false(sendlimit_check(sl, "b@big.test", 0, 1, &h));
	assert_int_equal(h.scope, SENDLIMIT_DOMAIN);
	assert_string_equal(h.key, "big.test");
	assert_true(h.rcpts);
	assert_int_equal(h.limit, 2);
	sendlimit_free(&sl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_user_hour_messages_and_alert_once),
	    cmocka_unit_test(test_recipients_domain_system),
	    cmocka_unit_test(test_day_window_and_bounded_table),
	    cmocka_unit_test(test_alert_text),
	    cmocka_unit_test(test_overrides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
