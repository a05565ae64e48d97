/*
 * test_limits.c - node/limits: connection admission, login-failure
 * windows and blocks, release, the LRU memory bound, exempt CIDRs, blocks
 * saved and loaded over a restart. Time is a fake clock advanced by the
 * tests (no sleeps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "node/limits.h"

#define T0 1800000000000ULL /* some wall-clock ms */

static uint64_t fake_now;

static uint64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static struct limits *
make(void (*tweak)(struct limits_config *))
{
	struct limits_config cfg;
	struct limits *l = NULL;
	struct mn_err err;

	fake_now = T0;
	limits_config_defaults(&cfg);
	cfg.now_ms = fake_clock;
	if (tweak)
		tweak(&cfg);
	mn_err_clear(&err);
	assert_int_equal(limits_new(&cfg, &l, &err), 0);
	return l;
}

static void
fail_n(struct limits *l, const char *ip, const char *user, int n)
{
	for (int i = 0; i < n; i++)
		limits_auth_failed(l, ip, user);
}

static void
test_defaults(void **state)
{
	struct limits_config cfg;

	(void)state;
	limits_config_defaults(&cfg);
	assert_int_equal(cfg.max_conn_per_ip, 50);
	assert_int_equal(cfg.conn_per_minute, 120);
	assert_int_equal(cfg.auth_fail_ip, 55);
	assert_int_equal(cfg.auth_fail_user, 20);
	assert_int_equal(cfg.auth_window_ms, 600000);
	assert_int_equal(cfg.block_ms, 2880ULL * 60 * 1000);
	assert_null(cfg.exempt);
}

/* 55 failures from one IP (distinct users, so no user block) block the
 * IP: the 56th attempt is refused; another IP is still allowed. */
static void
test_ip_blocked_at_55th_failure(void **state)
{
	struct limits *l = make(NULL);
	char user[32];

	(void)state;
	for (int i = 1; i <= 55; i++) {
		assert_true(limits_auth_allowed(l, "127.0.0.2", "x@example.test"));
		snprintf(user, sizeof(user), "u%d@example.test", i);
		limits_auth_failed(l, "127.0.0.2", user);
		fake_now += 1000;
		if (i < 55)
			assert_true(limits_auth_allowed(l, "127.0.0.2", NULL));
	}
	assert_false(limits_auth_allowed(l, "127.0.0.2", NULL));
	assert_false(limits_auth_allowed(l, "127.0.0.2", "someone@example.test"));
	assert_true(limits_auth_allowed(l, "127.0.0.3", "someone@example.test"));
	limits_free(&l);
	assert_null(l);
}

/* failures older than the window do not count */
static void
test_window_slides(void **state)
{
	struct limits *l = make(NULL);
	char user[32];

	(void)state;
	for (int i = 0; i < 54; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		limits_auth_failed(l, "127.0.0.2", user);
	}
	fake_now += 601000; /* past the 10 minute window */
	fail_n(l, "127.0.0.2", NULL, 54);
	assert_true(limits_auth_allowed(l, "127.0.0.2", NULL));
	limits_auth_failed(l, "127.0.0.2", NULL);
	assert_false(limits_auth_allowed(l, "127.0.0.2", NULL));
	limits_free(&l);
}

/* 20 failures for a user block the user from every IP; the IP that
 * failed is not blocked itself (20 < 55), and other users log in. */
static void
test_user_blocked_other_ip_still_blocked_for_user(void **state)
{
	struct limits *l = make(NULL);

	(void)state;
	fail_n(l, "127.0.0.2", "bob@example.test", 19);
	assert_true(limits_auth_allowed(l, "127.0.0.9", "bob@example.test"));
	limits_auth_failed(l, "127.0.0.2", "Bob@Example.test"); /* case folded */
	assert_false(limits_auth_allowed(l, "127.0.0.9", "bob@example.test"));
	assert_false(limits_auth_allowed(l, "127.0.0.2", "BOB@example.test"));
	assert_true(limits_auth_allowed(l, "127.0.0.2", "alice@example.test"));
	assert_true(limits_auth_allowed(l, "127.0.0.9", "alice@example.test"));
	limits_free(&l);
}

static void
test_block_expires(void **state)
{
	struct limits *l = make(NULL);
	struct limits_blocked *b;
	size_t n;

	(void)state;
	fail_n(l, "127.0.0.2", "bob", 20);
	assert_false(limits_auth_allowed(l, NULL, "bob"));
	fake_now += 2880ULL * 60 * 1000 - 1;
	assert_false(limits_auth_allowed(l, NULL, "bob"));
	fake_now += 1;
	assert_true(limits_auth_allowed(l, NULL, "bob"));
	limits_blocked_list(l, &b, &n);
	assert_int_equal(n, 0);
	free(b);
	/* counting starts again from zero after the block */
	fail_n(l, "127.0.0.2", "bob", 19);
	assert_true(limits_auth_allowed(l, NULL, "bob"));
	limits_free(&l);
}

static void
test_list_and_release(void **state)
{
	struct limits *l = make(NULL);
	struct limits_blocked *b;
	size_t n;

	(void)state;
	fail_n(l, "127.0.0.4", "carol@example.test", 55);
	limits_blocked_list(l, &b, &n);
	assert_int_equal(n, 2);
	assert_int_equal(b[0].kind, LIMITS_KIND_IP);
	assert_string_equal(b[0].key, "127.0.0.4");
	assert_int_equal(b[0].failures, 55);
	assert_int_equal(b[0].until_ms, T0 + 2880ULL * 60 * 1000);
	assert_int_equal(b[1].kind, LIMITS_KIND_USER);
	assert_string_equal(b[1].key, "carol@example.test");
	assert_int_equal(b[1].failures, 20); /* blocked at the 20th */
	free(b);

	assert_int_equal(limits_release(l, "127.0.0.4"), 0);
	assert_true(limits_auth_allowed(l, "127.0.0.4", NULL));
	assert_false(limits_auth_allowed(l, "127.0.0.4", "carol@example.test"));
	assert_int_equal(limits_release(l, "127.0.0.4"), MN_ENOENT);
	assert_int_equal(limits_release(l, "CAROL@example.test"), 0);
	assert_true(limits_auth_allowed(l, "127.0.0.4", "carol@example.test"));
	assert_int_equal(limits_release(l, "nobody"), MN_ENOENT);
	limits_blocked_list(l, &b, &n);
	assert_int_equal(n, 0);
	free(b);
	/* released with its counts cleared: one failure does not re-block */
	limits_auth_failed(l, "127.0.0.4", "carol@example.test");
	assert_true(limits_auth_allowed(l, "127.0.0.4", "carol@example.test"));
	limits_free(&l);
}

static void
test_ok_resets_user_not_ip(void **state)
{
	struct limits *l = make(NULL);

	(void)state;
	fail_n(l, "127.0.0.2", "dave", 19);
	limits_auth_ok(l, "127.0.0.2", "dave");
	fail_n(l, "127.0.0.2", "dave", 19);
	assert_true(limits_auth_allowed(l, NULL, "dave"));
	limits_auth_failed(l, "127.0.0.2", "dave");
	assert_false(limits_auth_allowed(l, NULL, "dave"));
	/* the IP kept all 39 failures: 16 more block it */
	assert_int_equal(limits_release(l, "dave"), 0);
	fail_n(l, "127.0.0.2", NULL, 15);
	assert_true(limits_auth_allowed(l, "127.0.0.2", NULL));
	limits_auth_failed(l, "127.0.0.2", NULL);
	assert_false(limits_auth_allowed(l, "127.0.0.2", NULL));
	/* ok does not lift an active block */
	fail_n(l, "127.0.0.3", "erin", 20);
	limits_auth_ok(l, "127.0.0.3", "erin");
	assert_false(limits_auth_allowed(l, NULL, "erin"));
	limits_free(&l);
}

static void
small_table(struct limits_config *cfg)
{
	cfg->max_tracked = 1000;
}

/* 100k distinct IPs: the table stays at its cap, and a blocked IP, a
 * blocked user and an IP with an open connection survive the flood. */
static void
test_lru_bound(void **state)
{
	struct limits *l = make(small_table);
	char ip[32];

	(void)state;
	fail_n(l, "127.0.0.7", NULL, 55);
	fail_n(l, NULL, "frank", 20);
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.8"), LIMITS_OK);
	for (int i = 0; i < 100000; i++) {
		snprintf(ip, sizeof(ip), "127.%d.%d.%d", 1 + (i >> 16), (i >> 8) & 255, i & 255);
		limits_conn_open(l, LIMITS_HTTP, ip);
		limits_conn_closed(l, LIMITS_HTTP, ip);
		limits_auth_failed(l, ip, NULL);
		assert_true(limits_tracked(l) <= 1000 + 1);
	}
	assert_int_equal(limits_tracked(l), 1001);
	assert_false(limits_auth_allowed(l, "127.0.0.7", NULL));
	assert_false(limits_auth_allowed(l, NULL, "frank"));
	assert_int_equal(limits_conn_count(l, LIMITS_POP3, "127.0.0.8"), 1);
	limits_free(&l);
}

static void
three_conns(struct limits_config *cfg)
{
	cfg->max_conn_per_ip = 3;
}

static void
test_concurrency_per_class(void **state)
{
	struct limits *l = make(three_conns);

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.2"), LIMITS_OK);
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.2"), LIMITS_TOO_MANY);
	assert_int_equal(limits_conn_count(l, LIMITS_POP3, "127.0.0.2"), 3);
	/* other classes and other IPs have their own counts */
	assert_int_equal(limits_conn_open(l, LIMITS_HTTP, "127.0.0.2"), LIMITS_OK);
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.3"), LIMITS_OK);
	limits_conn_closed(l, LIMITS_POP3, "127.0.0.2");
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.2"), LIMITS_OK);
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.2"), LIMITS_TOO_MANY);
	for (int i = 0; i < 5; i++)
		limits_conn_closed(l, LIMITS_POP3, "127.0.0.2"); /* extra closes: no wrap */
	assert_int_equal(limits_conn_count(l, LIMITS_POP3, "127.0.0.2"), 0);
	limits_conn_closed(l, LIMITS_SMTP, "127.0.0.99"); /* never seen */
	limits_free(&l);
}

static void
rate_five(struct limits_config *cfg)
{
	cfg->conn_per_minute = 5;
	cfg->max_conn_per_ip = 0;
}

static void
test_rate_per_minute(void **state)
{
	struct limits *l = make(rate_five);

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(limits_conn_open(l, LIMITS_SMTP, "127.0.0.2"), LIMITS_OK);
		fake_now += 1000;
	}
	assert_int_equal(limits_conn_open(l, LIMITS_IMAP, "127.0.0.2"), LIMITS_TOO_FAST);
	assert_int_equal(limits_conn_open(l, LIMITS_SMTP, "127.0.0.3"), LIMITS_OK);
	/* still refused within the minute; refused attempts count too */
	fake_now += 30000;
	assert_int_equal(limits_conn_open(l, LIMITS_SMTP, "127.0.0.2"), LIMITS_TOO_FAST);
	fake_now += 61000;
	assert_int_equal(limits_conn_open(l, LIMITS_SMTP, "127.0.0.2"), LIMITS_OK);
	limits_free(&l);
}

static void
exempt_list(struct limits_config *cfg)
{
	cfg->max_conn_per_ip = 1;
	cfg->exempt = "127.0.1.0/24, 10.1.2.3 ::1/128";
}

static void
test_exempt_cidrs(void **state)
{
	static const struct {
		const char *ip;
		bool exempt;
	} cases[] = {
	    {"127.0.1.0", true},
	    {"127.0.1.255", true},
	    {"127.0.0.255", false},
	    {"127.0.2.0", false},
	    {"10.1.2.3", true},
	    {"10.1.2.4", false},
	    {"::ffff:127.0.1.9", true},
	    {"::1", true},
	    {"::2", false},
	    {"not-an-ip", false},
	};
	struct limits *l = make(exempt_list);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(limits_ip_exempt(l, cases[i].ip), cases[i].exempt);
	for (int i = 0; i < 10; i++)
		assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.1.5"), LIMITS_OK);
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.5"), LIMITS_OK);
	assert_int_equal(limits_conn_open(l, LIMITS_POP3, "127.0.0.5"), LIMITS_TOO_MANY);
	/* an exempt IP is never blocked, but its failures count for the user */
	fail_n(l, "127.0.1.5", "gina", 100);
	assert_true(limits_auth_allowed(l, "127.0.1.5", NULL));
	assert_false(limits_auth_allowed(l, "127.0.1.5", "gina"));
	limits_free(&l);
}

static void
test_bad_exempt_refused(void **state)
{
	static const char *const bad[] = {
	    "127.0.0.0/33",
	    "127.0.0.1/",
	    "300.0.0.1",
	    "::1/129",
	    "127.0.0.0/8x",
	    "/8",
	};
	struct limits_config cfg;
	struct limits *l = NULL;
	struct mn_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		limits_config_defaults(&cfg);
		cfg.exempt = bad[i];
		mn_err_clear(&err);
		assert_int_equal(limits_new(&cfg, &l, &err), MN_EINVAL);
		assert_null(l);
		assert_non_null(strstr(err.msg, "is not an IP or CIDR"));
	}
	limits_config_defaults(&cfg);
	cfg.exempt = "";
	assert_int_equal(limits_new(&cfg, &l, &err), 0);
	limits_free(&l);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_blocks_saved_and_loaded(void **state)
{
	char dir[] = "/tmp/mn_limits_XXXXXX", path[64], text[512];
	struct limits *l = make(NULL), *m;
	struct limits_blocked *b;
	struct mn_err err;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/blocks", dir);
	fail_n(l, "127.0.0.4", "carol@example.test", 55);
	fail_n(l, "127.0.0.5", NULL, 3); /* counted, not blocked: not saved */
	assert_int_equal(limits_save(l, path, &err), 0);
	limits_free(&l);

	/* the restarted node, an hour later */
	m = make(NULL);
	fake_now = T0 + 3600ULL * 1000;
	assert_int_equal(limits_load(m, "/nonexistent/blocks", &err), 0);
	assert_int_equal(limits_load(m, path, &err), 0);
	assert_false(limits_auth_allowed(m, "127.0.0.4", NULL));
	assert_false(limits_auth_allowed(m, "127.0.0.9", "Carol@example.test"));
	limits_blocked_list(m, &b, &n);
	assert_int_equal(n, 2);
	assert_int_equal(b[0].until_ms, T0 + 2880ULL * 60 * 1000); /* the same end */
	assert_int_equal(b[0].failures, 55);
	assert_int_equal(b[1].failures, 20);
	free(b);
	/* the 3 failures of .5 were not carried over: 54 more do not block */
	fail_n(m, "127.0.0.5", NULL, 54);
	assert_true(limits_auth_allowed(m, "127.0.0.5", NULL));
	/* it still ends */
	fake_now = T0 + 2880ULL * 60 * 1000 + 1;
	assert_true(limits_auth_allowed(m, "127.0.0.4", "carol@example.test"));
	limits_free(&m);

	/* expired, malformed and over-long entries are skipped; an end
	 * further than a block lasts (a clock set back) is cut to one block */
	snprintf(text, sizeof(text),
	    "mailnode-blocks 1\nip 1 5 10.0.0.1\nhost 9999999999999 5 10.0.0.2\n"
	    "ip x 5 10.0.0.3\nip 9999999999999 5\nuser 9999999999999 7 dave@x.test\n");
	write_file(path, text);
	m = make(NULL);
	assert_int_equal(limits_load(m, path, &err), 0);
	limits_blocked_list(m, &b, &n);
	assert_int_equal(n, 1);
	assert_string_equal(b[0].key, "dave@x.test");
	assert_int_equal(b[0].until_ms, T0 + 2880ULL * 60 * 1000);
	free(b);
	limits_free(&m);
	/* not our file: nothing */
	write_file(path, "blocks\nip 9999999999999 5 10.0.0.1\n");
	m = make(NULL);
	assert_int_equal(limits_load(m, path, &err), 0);
	assert_true(limits_auth_allowed(m, "10.0.0.1", NULL));
	limits_free(&m);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_ip_blocked_at_55th_failure),
	    cmocka_unit_test(test_window_slides),
	    cmocka_unit_test(test_user_blocked_other_ip_still_blocked_for_user),
	    cmocka_unit_test(test_block_expires),
	    cmocka_unit_test(test_list_and_release),
	    cmocka_unit_test(test_ok_resets_user_not_ip),
	    cmocka_unit_test(test_lru_bound),
	    cmocka_unit_test(test_concurrency_per_class),
	    cmocka_unit_test(test_rate_per_minute),
	    cmocka_unit_test(test_exempt_cidrs),
	    cmocka_unit_test(test_bad_exempt_refused),
	    cmocka_unit_test(test_blocks_saved_and_loaded),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
