/*
 * test_hostcheck.c - FCrDNS and HELO decisions on a table of DNS answers
 * (no sockets), including IPv6 and DNS failures (temperror).
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
#include "node/antispam/hostcheck.h"

/* name, type, answer (an address, a host name, or "TEMP") */
static const struct {
	const char *name;
	int type;
	const char *rr;
} table[] = {
    {"1.2.0.192.in-addr.arpa", ns_t_ptr, "mx.good.test"},
    {"mx.good.test", ns_t_a, "192.0.2.1"},
    {"2.2.0.192.in-addr.arpa", ns_t_ptr, "other.test"},
    {"2.2.0.192.in-addr.arpa", ns_t_ptr, "mx2.good.test"},
    {"other.test", ns_t_a, "198.51.100.1"},
    {"mx2.good.test", ns_t_a, "192.0.2.2"},
    {"3.2.0.192.in-addr.arpa", ns_t_ptr, "liar.test"},
    {"liar.test", ns_t_a, "198.51.100.3"},
    {"4.2.0.192.in-addr.arpa", ns_t_ptr, "TEMP"},
    {"5.2.0.192.in-addr.arpa", ns_t_ptr, "slow.test"},
    {"slow.test", ns_t_a, "TEMP"},
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", ns_t_ptr,
        "v6.good.test"},
    {"v6.good.test", ns_t_aaaa, "2001:db8::1"},
};

static void
fake(void *arg, const char *name, int type, struct spf_dns_answer *ans)
{
	(void)arg;
	memset(ans, 0, sizeof(*ans));
	ans->status = MN_ENOENT;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint8_t a[16];

		if (strcmp(table[i].name, name) != 0 || table[i].type != type)
			continue;
		if (strcmp(table[i].rr, "TEMP") == 0) {
			ans->status = MN_ETEMP;
			return;
		}
		ans->status = 0;
		if (type == ns_t_a && inet_pton(AF_INET, table[i].rr, a) == 1)
			spf_dns_answer_add(ans, a, 4);
		else if (type == ns_t_aaaa && inet_pton(AF_INET6, table[i].rr, a) == 1)
			spf_dns_answer_add(ans, a, 16);
		else
			spf_dns_answer_add(ans, table[i].rr, strlen(table[i].rr));
	}
}

static void
test_ptr(void **state)
{
	static const struct {
		const char *ip;
		enum hostcheck_result r;
		const char *reason;
	} cases[] = {
	    {"192.0.2.1", HOSTCHECK_PASS, "192.0.2.1 is mx.good.test"},
	    {"192.0.2.2", HOSTCHECK_PASS, "192.0.2.2 is mx2.good.test"},
	    {"192.0.2.3", HOSTCHECK_FAIL, "PTR name liar.test of 192.0.2.3 does not resolve to it"},
	    {"192.0.2.4", HOSTCHECK_TEMPERROR, "PTR lookup of 192.0.2.4 failed"},
	    {"192.0.2.5", HOSTCHECK_TEMPERROR,
	        "PTR name slow.test of 192.0.2.5 does not resolve to it"},
	    {"192.0.2.9", HOSTCHECK_FAIL, "192.0.2.9 has no PTR record"},
	    {"2001:db8::1", HOSTCHECK_PASS, "2001:db8::1 is v6.good.test"},
	    {"junk", HOSTCHECK_FAIL, "not an IP address"},
	};
	struct hostcheck_outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hostcheck_ptr(fake, NULL, cases[i].ip, &o);
		assert_int_equal(o.result, cases[i].r);
		assert_string_equal(o.reason, cases[i].reason);
	}
}

static void
test_helo(void **state)
{
	static const struct {
		const char *ip, *helo;
		enum hostcheck_result r;
		const char *reason;
	} cases[] = {
	    {"192.0.2.1", "mx.good.test", HOSTCHECK_PASS,
	        "HELO mx.good.test resolves to 192.0.2.1"},
	    {"192.0.2.7", "mx.good.test", HOSTCHECK_FAIL,
	        "HELO mx.good.test does not resolve to 192.0.2.7"},
	    {"192.0.2.7", "[192.0.2.7]", HOSTCHECK_PASS, "HELO [192.0.2.7] is the client"},
	    {"192.0.2.7", "[192.0.2.8]", HOSTCHECK_FAIL, "HELO [192.0.2.8] is not 192.0.2.7"},
	    {"2001:db8::1", "[IPv6:2001:DB8::1]", HOSTCHECK_PASS,
	        "HELO [IPv6:2001:DB8::1] is the client"},
	    {"192.0.2.7", "localhost", HOSTCHECK_FAIL, "HELO localhost is not a domain name"},
	    {"192.0.2.7", "slow.test", HOSTCHECK_TEMPERROR,
	        "HELO slow.test does not resolve to 192.0.2.7"},
	    {"192.0.2.7", "bad\"name.test", HOSTCHECK_FAIL,
	        "HELO bad_name.test does not resolve to 192.0.2.7"},
	};
	struct hostcheck_outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hostcheck_helo(fake, NULL, cases[i].ip, cases[i].helo, &o);
		assert_int_equal(o.result, cases[i].r);
		assert_string_equal(o.reason, cases[i].reason);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ptr),
	    cmocka_unit_test(test_helo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
