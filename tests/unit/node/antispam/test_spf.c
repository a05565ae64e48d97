/*
 * test_spf.c - SPF (RFC 7208): record parser, macro expansion (the §7.4
 * examples) and check_host() on a table of DNS answers (no sockets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "node/antispam/spf.h"

/* --- parser -------------------------------------------------------------- */

static void
test_record_parser_accepts_valid_records(void **state)
{
	static const struct {
		const char *txt;
		size_t nterms;
	} ok[] = {
	    {"v=spf1", 0}, {"v=spf1 -all", 1}, {"V=SPF1 +ALL", 1},
	    {"v=spf1  ip4:192.0.2.0/24   ip6:2001:db8::/32 ~all", 3},
	    {"v=spf1 a mx a:b.test/24 mx:c.test//64 a/24//48 -all", 6},
	    {"v=spf1 include:_spf.b.test ?all", 2},
	    {"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", 2}, {"v=spf1 ptr ptr:b.test -all", 3},
	    {"v=spf1 redirect=_spf.b.test", 1}, {"v=spf1 -all exp=explain._spf.%{d}", 2},
	    {"v=spf1 unknown-mod=%{c} -all", 1}, /* ignored modifier */
	};
	static const char *bad[] = {
	    "v=spf10 -all",
	    "spf1 -all",
	    "v=spf1 foo:bar -all",
	    "v=spf1 ip4:300.0.0.1 -all",
	    "v=spf1 ip4:192.0.2.0/33 -all",
	    "v=spf1 ip6:2001:db8::/129 -all",
	    "v=spf1 ip4 -all",
	    "v=spf1 include -all",
	    "v=spf1 include: -all",
	    "v=spf1 all:x.test",
	    "v=spf1 a:b.test/024",
	    "v=spf1 redirect=a.test redirect=b.test",
	    "v=spf1 -redirect=a.test",
	    "v=spf1 exists:%{c}.test",
	    "v=spf1 exists:%{x}.test",
	    "v=spf1 exists:%.test",
	    "v=spf1 a:b.test%",
	    "v=spf1 =x",
	};
	struct spf_record rec;
	struct mn_err err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		mn_err_clear(&err);
		if (spf_record_parse(ok[i].txt, strlen(ok[i].txt), &rec, &err) != 0)
			fail_msg("refused '%s': %s", ok[i].txt, err.msg);
		assert_int_equal(rec.nterms, ok[i].nterms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mn_err_clear(&err);
		if (spf_record_parse(bad[i], strlen(bad[i]), &rec, &err) != MN_EPARSE)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
}

static void
test_record_parser_terms(void **state)
{
	const char *txt = "v=spf1 ~a:b.test/24//64 ip4:192.0.2.1 redirect=c.test";
	struct spf_record rec;
	struct mn_err err;

	assert_int_equal(spf_record_parse(txt, strlen(txt), &rec, &err), 0);
	assert_int_equal(rec.nterms, 3);
	assert_int_equal(rec.terms[0].kind, SPF_MECH_A);
	assert_int_equal(rec.terms[0].qualifier, '~');
	assert_int_equal(rec.terms[0].spec_len, 6);
	assert_memory_equal(rec.terms[0].spec, "b.test", 6);
	assert_int_equal(rec.terms[0].cidr4, 24);
	assert_int_equal(rec.terms[0].cidr6, 64);
	assert_int_equal(rec.terms[1].kind, SPF_MECH_IP4);
	assert_int_equal(rec.terms[1].qualifier, '+');
	assert_int_equal(rec.terms[1].cidr4, 32);
	assert_non_null(rec.redirect);
	assert_memory_equal(rec.redirect->spec, "c.test", 6);
}

static void
test_record_parser_length_and_term_limits(void **state)
{
	char big[SPF_RECORD_MAX + 16];
	struct spf_record rec;
	struct mn_err err;
	size_t n = 0;

	n += (size_t)snprintf(big, sizeof(big), "v=spf1");
	for (int i = 0; i < SPF_TERMS_MAX + 1; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, " a");
	assert_int_equal(spf_record_parse(big, n, &rec, &err), MN_EPARSE);
	assert_non_null(strstr(err.msg, "terms"));
	memset(big, ' ', sizeof(big));
	memcpy(big, "v=spf1", 6);
	assert_int_equal(spf_record_parse(big, SPF_RECORD_MAX + 1, &rec, &err), MN_EPARSE);
	assert_int_equal(spf_record_parse(big, SPF_RECORD_MAX, &rec, &err), 0);
}

/* --- macros: RFC 7208 §7.4 ----------------------------------------------- */

static void
test_macro_expansion_rfc_examples(void **state)
{
	static const struct {
		const char *spec, *ip, *want;
	} cases[] = {
	    {"%{s}", "192.0.2.3", "strong-bad@email.example.com"},
	    {"%{o}", "192.0.2.3", "email.example.com"},
	    {"%{d}", "192.0.2.3", "email.example.com"},
	    {"%{d4}", "192.0.2.3", "email.example.com"},
	    {"%{d3}", "192.0.2.3", "email.example.com"},
	    {"%{d2}", "192.0.2.3", "example.com"},
	    {"%{d1}", "192.0.2.3", "com"},
	    {"%{dr}", "192.0.2.3", "com.example.email"},
	    {"%{d2r}", "192.0.2.3", "example.email"},
	    {"%{l}", "192.0.2.3", "strong-bad"},
	    {"%{l-}", "192.0.2.3", "strong.bad"},
	    {"%{lr}", "192.0.2.3", "strong-bad"},
	    {"%{lr-}", "192.0.2.3", "bad.strong"},
	    {"%{l1r-}", "192.0.2.3", "strong"},
	    {"%{ir}.%{v}._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr._spf.example.com"},
	    {"%{lr-}.lp._spf.%{d2}", "192.0.2.3", "bad.strong.lp._spf.example.com"},
	    {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "192.0.2.3",
	        "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
	    {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "192.0.2.3",
	        "3.2.0.192.in-addr.strong.lp._spf.example.com"},
	    {"%{d2}.trusted-domains.example.net", "192.0.2.3",
	        "example.com.trusted-domains.example.net"},
	    {"%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01",
	        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf."
	        "example.com"},
	    {"%%%_%-", "192.0.2.3", "% %20"},
	    {"%{h}.%{p}", "192.0.2.3", "mx.helo.test.unknown"},
	};
	char out[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = spf_macro_expand(cases[i].spec, strlen(cases[i].spec),
		    "strong-bad@email.example.com", "email.example.com", cases[i].ip,
		    "mx.helo.test", out, sizeof(out));

		if (rc != 0 || strcmp(out, cases[i].want) != 0)
			fail_msg("%s: rc %d got '%s' want '%s'", cases[i].spec, rc, rc ? "" : out,
			    cases[i].want);
	}
	assert_int_equal(
	    spf_macro_expand("%{d0}", 5, "a@b.test", "b.test", "192.0.2.1", "h", out, sizeof(out)),
	    MN_EPARSE);
	assert_int_equal(
	    spf_macro_expand("%{d", 3, "a@b.test", "b.test", "192.0.2.1", "h", out, sizeof(out)),
	    MN_EPARSE);
}

/* --- check_host on a DNS table ------------------------------------------ */

struct fake_rr {
	const char *name;
	int type;
	int status; /* 0, 1 NODATA, MN_ENOENT, MN_ETEMP */
	const char *values[12];
};

struct fake_dns {
	const struct fake_rr *rrs;
	size_t n;
	unsigned queries;
};

static void
fake_query(void *arg, const char *name, int type, struct spf_dns_answer *ans)
{
	struct fake_dns *d = arg;
	bool name_known = false;

	d->queries++;
	memset(ans, 0, sizeof(*ans));
	for (size_t i = 0; i < d->n; i++) {
		const struct fake_rr *r = &d->rrs[i];

		if (strcasecmp(r->name, name) != 0)
			continue;
		name_known = true;
		if (r->status == MN_ETEMP) {
			ans->status = MN_ETEMP;
			return;
		}
		if (r->type != type)
			continue;
		for (size_t j = 0; j < 12 && r->values[j] != NULL; j++) {
			uint8_t bin[16];

			if (type == ns_t_a && inet_pton(AF_INET, r->values[j], bin) == 1)
				spf_dns_answer_add(ans, bin, 4);
			else if (type == ns_t_aaaa && inet_pton(AF_INET6, r->values[j], bin) == 1)
				spf_dns_answer_add(ans, bin, 16);
			else
				spf_dns_answer_add(ans, r->values[j], strlen(r->values[j]));
		}
	}
	ans->status = !name_known ? MN_ENOENT : ans->n == 0 ? 1 : 0;
}

#define TXT(n, ...)                                                                                \
	{                                                                                          \
		n, ns_t_txt, 0,                                                                    \
		{                                                                                  \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}
#define A(n, ...)                                                                                  \
	{                                                                                          \
		n, ns_t_a, 0,                                                                      \
		{                                                                                  \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}

static const struct fake_rr zone[] = {
    TXT("pass.test", "v=spf1 ip4:192.0.2.0/24 -all"),
    TXT("soft.test", "v=spf1 ip4:192.0.2.1 ~all"),
    TXT("neutral.test", "v=spf1 ?all"),
    TXT("plain.test", "v=spf1 ip4:192.0.2.1"),
    TXT("norecord.test", "google-site-verification=abc"),
    TXT("inc.test", "v=spf1 include:pass.test -all"),
    TXT("incnone.test", "v=spf1 include:norecord.test -all"),
    TXT("a.test", "v=spf1 a -all"),
    A("a.test", "198.51.100.7"),
    TXT("mx.test", "v=spf1 mx/24 -all"),
    {"mx.test", ns_t_mx, 0, {"mail.mx.test"}},
    A("mail.mx.test", "203.0.113.9"),
    TXT("redir.test", "v=spf1 redirect=pass.test"),
    TXT("redirnone.test", "v=spf1 redirect=norecord.test"),
    TXT("two.test", "v=spf1 -all", "v=spf1 +all"),
    TXT("syntax.test", "v=spf1 foo -all"),
    TXT("v6.test", "v=spf1 ip6:2001:db8::/32 -all"),
    TXT("exists.test", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all"),
    A("1.2.0.192.alice._spf.exists.test", "127.0.0.2"),
    TXT("servfail-inc.test", "v=spf1 include:down.test -all"),
    {"down.test", ns_t_txt, MN_ETEMP, {NULL}},
    TXT("eleven.test", "v=spf1 a:x.test a:x.test a:x.test a:x.test a:x.test a:x.test a:x.test "
                       "a:x.test a:x.test a:x.test a:x.test -all"),
    TXT("ten.test", "v=spf1 a:x.test a:x.test a:x.test a:x.test a:x.test a:x.test a:x.test "
                    "a:x.test a:x.test ip4:192.0.2.1 a:x.test -all"),
    A("x.test", "10.0.0.1"),
    TXT("voids.test", "v=spf1 a:n1.test a:n2.test a:n3.test -all"),
    TXT("loop.test", "v=spf1 include:loop.test -all"),
    TXT("helo.test", "v=spf1 ip4:192.0.2.1 -all"),
    TXT("ptr.test", "v=spf1 ptr -all"),
    {"1.2.0.192.in-addr.arpa", ns_t_ptr, 0, {"host.ptr.test"}},
    A("host.ptr.test", "192.0.2.1"),
};

static void
test_check_host_results(void **state)
{
	static const struct {
		const char *sender, *ip;
		enum spf_result want;
		const char *reason; /* substring */
	} cases[] = {
	    {"a@pass.test", "192.0.2.77", SPF_PASS, "192.0.2.77 is allowed by pass.test"},
	    {"a@pass.test", "198.51.100.1", SPF_FAIL,
	        "198.51.100.1 is not allowed to send mail for pass.test"},
	    {"a@PASS.test", "198.51.100.1", SPF_FAIL, NULL},
	    {"a@soft.test", "198.51.100.1", SPF_SOFTFAIL, NULL},
	    {"a@neutral.test", "198.51.100.1", SPF_NEUTRAL, NULL},
	    {"a@plain.test", "198.51.100.1", SPF_NEUTRAL, "neither permits nor denies"},
	    {"a@norecord.test", "198.51.100.1", SPF_NONE, "no SPF record for norecord.test"},
	    {"a@nxdomain.test", "198.51.100.1", SPF_NONE, NULL},
	    {"a@inc.test", "192.0.2.1", SPF_PASS, NULL},
	    {"a@inc.test", "198.51.100.1", SPF_FAIL, NULL},
	    {"a@incnone.test", "192.0.2.1", SPF_PERMERROR, "include:norecord.test has no SPF"},
	    {"a@a.test", "198.51.100.7", SPF_PASS, NULL},
	    {"a@a.test", "198.51.100.8", SPF_FAIL, NULL},
	    {"a@mx.test", "203.0.113.200", SPF_PASS, NULL},
	    {"a@mx.test", "203.0.114.1", SPF_FAIL, NULL},
	    {"a@redir.test", "192.0.2.1", SPF_PASS, NULL},
	    {"a@redir.test", "10.1.1.1", SPF_FAIL, NULL},
	    {"a@redirnone.test", "10.1.1.1", SPF_PERMERROR, "redirect=norecord.test"},
	    {"a@two.test", "10.1.1.1", SPF_PERMERROR, "more than one SPF record"},
	    {"a@syntax.test", "10.1.1.1", SPF_PERMERROR, "unknown mechanism 'foo'"},
	    {"a@v6.test", "2001:db8:1::5", SPF_PASS, NULL},
	    {"a@v6.test", "2001:db9::5", SPF_FAIL, NULL},
	    {"a@v6.test", "192.0.2.1", SPF_FAIL, NULL},
	    {"a@pass.test", "::ffff:192.0.2.9", SPF_PASS, NULL},
	    {"alice@exists.test", "192.0.2.1", SPF_PASS, NULL},
	    {"bob@exists.test", "192.0.2.1", SPF_FAIL, NULL},
	    {"a@servfail-inc.test", "192.0.2.1", SPF_TEMPERROR, "DNS failure looking up down.test"},
	    {"a@down.test", "192.0.2.1", SPF_TEMPERROR, NULL},
	    {"a@eleven.test", "192.0.2.1", SPF_PERMERROR, "more than 10 DNS lookups"},
	    {"a@ten.test", "192.0.2.1", SPF_PASS, NULL},
	    {"a@voids.test", "192.0.2.1", SPF_PERMERROR, "more than 2 void DNS lookups"},
	    {"a@loop.test", "192.0.2.1", SPF_PERMERROR, NULL},
	    {"a@ptr.test", "192.0.2.1", SPF_PASS, NULL},
	    {"a@ptr.test", "192.0.2.2", SPF_FAIL, NULL},
	    {"a@localhost", "192.0.2.1", SPF_NONE, "not a domain name"},
	};
	struct fake_dns d = {zone, sizeof(zone) / sizeof(zone[0]), 0};
	struct spf_outcome out;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spf_check(fake_query, &d, cases[i].ip, "helo.test", cases[i].sender, &out);
		if (out.result != cases[i].want)
			fail_msg("%s from %s: got %s (%s) want %s", cases[i].sender, cases[i].ip,
			    spf_result_name(out.result), out.reason,
			    spf_result_name(cases[i].want));
		if (cases[i].reason != NULL && strstr(out.reason, cases[i].reason) == NULL)
			fail_msg("%s from %s: reason '%s' lacks '%s'", cases[i].sender, cases[i].ip,
			    out.reason, cases[i].reason);
		assert_false(out.helo_identity);
		assert_true(out.lookups <= SPF_LOOKUP_LIMIT + 1);
	}
}

static void
test_null_sender_checks_helo(void **state)
{
	struct fake_dns d = {zone, sizeof(zone) / sizeof(zone[0]), 0};
	struct spf_outcome out;

	spf_check(fake_query, &d, "192.0.2.1", "helo.test", "", &out);
	assert_int_equal(out.result, SPF_PASS);
	assert_true(out.helo_identity);
	assert_string_equal(out.domain, "helo.test");
	spf_check(fake_query, &d, "192.0.2.2", "helo.test", "", &out);
	assert_int_equal(out.result, SPF_FAIL);
	spf_check(fake_query, &d, "192.0.2.2", "[192.0.2.2]", "", &out);
	assert_int_equal(out.result, SPF_NONE);
}

static void
test_result_names_round_trip(void **state)
{
	for (int r = SPF_NONE; r <= SPF_PERMERROR; r++)
		assert_int_equal(spf_result_parse(spf_result_name((enum spf_result)r)), r);
	assert_int_equal(spf_result_parse("bogus"), -1);
	assert_string_equal(spf_result_name(SPF_SOFTFAIL), "softfail");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_parser_accepts_valid_records),
	    cmocka_unit_test(test_record_parser_terms),
	    cmocka_unit_test(test_record_parser_length_and_term_limits),
	    cmocka_unit_test(test_macro_expansion_rfc_examples),
	    cmocka_unit_test(test_check_host_results),
	    cmocka_unit_test(test_null_sender_checks_helo),
	    cmocka_unit_test(test_result_names_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
