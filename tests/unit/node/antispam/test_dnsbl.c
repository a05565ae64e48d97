/*
 * test_dnsbl.c - RFC 5782 query names and listing decisions on a table of
 * answers (no sockets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <string.h>

#include "lib/err.h"
#include "node/antispam/dnsbl.h"

static void
test_query_names(void **state)
{
	char out[300];

	assert_int_equal(dnsbl_query_name("192.0.2.99", "bl.test", out, sizeof(out)), 0);
	assert_string_equal(out, "99.2.0.192.bl.test");
	assert_int_equal(
	    dnsbl_query_name("2001:db8:1:2:3:4:567:89ab", "bl.test", out, sizeof(out)), 0);
	/* RFC 5782 §2.4 example */
	assert_string_equal(
	    out, "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test");
	assert_int_equal(dnsbl_query_name("not-an-ip", "bl.test", out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name("192.0.2.99", "bl.test", out, 10), -1);
}

static unsigned queries;

static void
fake(void *arg, const char *name, int type, struct spf_dns_answer *ans)
{
	uint8_t a[4];

	queries++;
	memset(ans, 0, sizeof(*ans));
	ans->status = MN_ENOENT;
	if (strcmp(name, "1.2.0.192.one.test") == 0 && type == ns_t_a) {
		inet_pton(AF_INET, "127.0.0.2", a);
		spf_dns_answer_add(ans, a, 4);
		ans->status = 0;
	} else if (strcmp(name, "1.2.0.192.one.test") == 0 && type == ns_t_txt) {
		spf_dns_answer_add(ans, "spam\r\nsource", 12);
		ans->status = 0;
	} else if (strcmp(name, "2.2.0.192.one.test") == 0 && type == ns_t_a) {
		inet_pton(AF_INET, "127.255.255.254", a); /* the list's error code */
		spf_dns_answer_add(ans, a, 4);
		ans->status = 0;
	} else if (strcmp(name, "3.2.0.192.one.test") == 0 && type == ns_t_a) {
		inet_pton(AF_INET, "10.0.0.1", a); /* not 127/8: not a listing */
		spf_dns_answer_add(ans, a, 4);
		ans->status = 0;
	} else if (strcmp(name, "4.2.0.192.one.test") == 0) {
		ans->status = MN_ETEMP;
	} else if (strcmp(name, "4.2.0.192.two.test") == 0 && type == ns_t_a) {
		inet_pton(AF_INET, "127.0.0.3", a);
		spf_dns_answer_add(ans, a, 4);
		ans->status = 0;
	}
}

static void
test_listing_decisions(void **state)
{
	struct dnsbl_outcome o;

	dnsbl_check(fake, NULL, "192.0.2.1", "one.test, two.test", &o);
	assert_true(o.listed);
	assert_string_equal(o.zone, "one.test");
	assert_string_equal(o.text, "spam??source"); /* no CR/LF into a reply */
	dnsbl_check(fake, NULL, "192.0.2.2", "one.test", &o);
	assert_false(o.listed);
	dnsbl_check(fake, NULL, "192.0.2.3", "one.test", &o);
	assert_false(o.listed);
	/* a failing list is skipped, the next one still counts */
	dnsbl_check(fake, NULL, "192.0.2.4", "one.test two.test", &o);
	assert_true(o.listed);
	assert_string_equal(o.zone, "two.test");
	assert_string_equal(o.text, "");
	queries = 0;
	dnsbl_check(fake, NULL, "192.0.2.9", "", &o);
	assert_false(o.listed);
	assert_int_equal(queries, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_names),
	    cmocka_unit_test(test_listing_decisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
