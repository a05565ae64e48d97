/*
 * test_dmarc.c - DMARC (RFC 7489): record parser, public suffix
 * organizational domains, dmarc_check on a table of DNS answers; and the
 * header splitter that feeds libopendkim and finds the From domain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "node/antispam/antispam.h"
#include "node/antispam/dkim.h"
#include "node/antispam/dmarc.h"

static void
test_record_parser(void **state)
{
	static const struct {
		const char *txt;
		int rc;
		enum dmarc_policy_kind p, sp;
		bool has_sp, adkim_s, aspf_s;
		unsigned pct;
	} cases[] = {
	    {"v=DMARC1; p=reject", 0, DMARC_P_REJECT, DMARC_P_NONE, false, false, false, 100},
	    {"v=DMARC1;p=quarantine;pct=20;", 0, DMARC_P_QUARANTINE, DMARC_P_NONE, false, false,
	        false, 20},
	    {"v=DMARC1; p=none; sp=reject; adkim=s; aspf=s; rua=mailto:a@b.test", 0, DMARC_P_NONE,
	        DMARC_P_REJECT, true, true, true, 100},
	    {" v = DMARC1 ; p = Reject ", 0, DMARC_P_REJECT, DMARC_P_NONE, false, false, false,
	        100},
	    {"v=DMARC1; p=reject; pct=101", 0, DMARC_P_REJECT, DMARC_P_NONE, false, false, false,
	        100}, /* a bad pct is ignored */
	    {"v=DMARC1; p=reject; sp=bogus", 0, DMARC_P_REJECT, DMARC_P_NONE, false, false, false,
	        100},
	    {"v=DMARC1", MN_EPARSE, 0, 0, false, false, false, 0},           /* no p */
	    {"p=reject; v=DMARC1", MN_EPARSE, 0, 0, false, false, false, 0}, /* v not first */
	    {"v=DMARC2; p=reject", MN_EPARSE, 0, 0, false, false, false, 0},
	    {"v=DMARC1; p=block", MN_EPARSE, 0, 0, false, false, false, 0},
	    {"v=DMARC1; p", MN_EPARSE, 0, 0, false, false, false, 0},
	};
	struct dmarc_record r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = dmarc_record_parse(cases[i].txt, strlen(cases[i].txt), &r);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d want %d", cases[i].txt, rc, cases[i].rc);
		if (rc != 0)
			continue;
		assert_int_equal(r.p, cases[i].p);
		assert_int_equal(r.has_sp, cases[i].has_sp);
		if (r.has_sp)
			assert_int_equal(r.sp, cases[i].sp);
		assert_int_equal(r.adkim_strict, cases[i].adkim_s);
		assert_int_equal(r.aspf_strict, cases[i].aspf_s);
		assert_int_equal(r.pct, cases[i].pct);
	}
}

static void
test_org_domain_from_rules(void **state)
{
	char dir[] = "/tmp/psltestXXXXXX", path[64], out[256];
	static const char *const cases[][2] = {
	    {"mail.example.com", "example.com"},
	    {"example.com", "example.com"},
	    {"a.b.example.co.uk", "example.co.uk"},
	    {"co.uk", "co.uk"},
	    {"x.y.foo.ck", "y.foo.ck"}, /* *.ck: foo.ck is a suffix */
	    {"a.www.ck", "www.ck"},     /* !www.ck exception */
	    {"MAIL.Example.COM.", "example.com"},
	    {"host.unlisted", "host.unlisted"}, /* default rule "*" */
	    {"com", "com"},
	};
	struct psl *p;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/psl.dat", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("// comment\ncom\nuk\nco.uk\n*.ck\n!www.ck\n\n", f);
	fclose(f);
	p = psl_load(path);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		psl_org_domain(p, cases[i][0], out, sizeof(out));
		if (strcmp(out, cases[i][1]) != 0)
			fail_msg("%s: got %s want %s", cases[i][0], out, cases[i][1]);
	}
	psl_free(&p);
	assert_null(p);
	unlink(path);
	rmdir(dir);
	/* no list: the last two labels */
	p = psl_load(NULL);
	psl_org_domain(p, "a.b.example.co.uk", out, sizeof(out));
	assert_string_equal(out, "co.uk");
	psl_free(&p);
}

struct zone {
	const char *name, *txt;
};

static const struct zone dmarc_zone[] = {
    {"_dmarc.rej.test", "v=DMARC1; p=reject"},
    {"_dmarc.q.test", "v=DMARC1; p=quarantine; pct=50"},
    {"_dmarc.org.test", "v=DMARC1; p=none; sp=quarantine"},
    {"_dmarc.two.test", "v=DMARC1; p=reject"},
    {"_dmarc.two.test", "v=DMARC1; p=none"},
    {"_dmarc.junk.test", "hello"},
};

static void
zone_query(void *arg, const char *name, int type, struct spf_dns_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (strcmp(name, "_dmarc.down.test") == 0) {
		ans->status = MN_ETEMP;
		return;
	}
	for (size_t i = 0; i < sizeof(dmarc_zone) / sizeof(dmarc_zone[0]); i++)
		if (type == ns_t_txt && strcmp(dmarc_zone[i].name, name) == 0)
			spf_dns_answer_add(ans, dmarc_zone[i].txt, strlen(dmarc_zone[i].txt));
	ans->status = ans->n > 0 ? 0 : MN_ENOENT;
}

static void
test_dmarc_check(void **state)
{
	struct psl *psl = psl_load(NULL);
	struct spf_outcome spf;
	struct dkim_verify_result dk;
	struct dmarc_outcome o;

	memset(&spf, 0, sizeof(spf));
	memset(&dk, 0, sizeof(dk));
	/* SPF pass aligned (relaxed: subdomain of the same organization) */
	spf.result = SPF_PASS;
	snprintf(spf.domain, sizeof(spf.domain), "bounce.rej.test");
	dmarc_check(zone_query, NULL, psl, "rej.test", true, &spf, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_PASS);
	assert_string_equal(o.reason, "p=reject dis=none");
	/* not aligned */
	snprintf(spf.domain, sizeof(spf.domain), "other.test");
	dmarc_check(zone_query, NULL, psl, "rej.test", true, &spf, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_FAIL);
	assert_int_equal(o.disposition, DMARC_P_REJECT);
	/* DKIM pass aligned */
	dk.nsigs = 1;
	dk.sigs[0].result = DKIM_RES_PASS;
	snprintf(dk.sigs[0].domain, sizeof(dk.sigs[0].domain), "rej.test");
	dmarc_check(zone_query, NULL, psl, "rej.test", true, &spf, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_PASS);
	/* a failing signature does not count */
	dk.sigs[0].result = DKIM_RES_FAIL;
	dmarc_check(zone_query, NULL, psl, "rej.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_FAIL);
	/* pct=50: a dice of 49 applies quarantine, 50 the next weaker (none) */
	dmarc_check(zone_query, NULL, psl, "q.test", false, NULL, &dk, 49, &o);
	assert_int_equal(o.disposition, DMARC_P_QUARANTINE);
	dmarc_check(zone_query, NULL, psl, "q.test", false, NULL, &dk, 50, &o);
	assert_int_equal(o.disposition, DMARC_P_NONE);
	assert_string_equal(o.reason, "p=quarantine dis=none");
	/* sp= of the organizational domain for a subdomain */
	dmarc_check(zone_query, NULL, psl, "a.org.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_FAIL);
	assert_int_equal(o.policy, DMARC_P_QUARANTINE);
	dmarc_check(zone_query, NULL, psl, "org.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.policy, DMARC_P_NONE);
	/* none, two records (= none), not a DMARC record, DNS failure, no From */
	dmarc_check(zone_query, NULL, psl, "nothing.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_NONE);
	dmarc_check(zone_query, NULL, psl, "two.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_NONE);
	dmarc_check(zone_query, NULL, psl, "junk.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_NONE);
	dmarc_check(zone_query, NULL, psl, "down.test", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_TEMPERROR);
	dmarc_check(zone_query, NULL, psl, "", false, NULL, &dk, 0, &o);
	assert_int_equal(o.result, DMARC_RES_PERMERROR);
	psl_free(&psl);
}

struct fields {
	char v[8][128];
	size_t n;
};

static void
collect(void *arg, const uint8_t *field, size_t n)
{
	struct fields *f = arg;

	if (f->n < 8)
		snprintf(f->v[f->n++], 128, "%.*s", (int)n, (const char *)field);
}

static void
test_split_header_and_from_domain(void **state)
{
	static const char msg[] = "From: A <a@Example.TEST>\r\nSubject: one\r\n two\r\n"
	                          "X: y\r\n\r\nbody\r\n";
	static const char lf[] = "From: a@lf.test\nTo: b@c.test\n\nbody\n";
	struct fields f;
	char dom[256];
	size_t body;

	memset(&f, 0, sizeof(f));
	body = dkim_split_header((const uint8_t *)msg, strlen(msg), collect, &f);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.v[0], "From: A <a@Example.TEST>");
	assert_string_equal(f.v[1], "Subject: one\r\n two");
	assert_string_equal(f.v[2], "X: y");
	assert_string_equal(msg + body, "body\r\n");
	memset(&f, 0, sizeof(f));
	body = dkim_split_header((const uint8_t *)lf, strlen(lf), collect, &f);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.v[1], "To: b@c.test");
	assert_string_equal(lf + body, "body\n");
	/* no body at all */
	memset(&f, 0, sizeof(f));
	body = dkim_split_header((const uint8_t *)"A: b\r\n", 6, collect, &f);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.v[0], "A: b");
	assert_int_equal(body, 6);

	antispam_from_domain((const uint8_t *)msg, strlen(msg), dom, sizeof(dom));
	assert_string_equal(dom, "example.test");
	antispam_from_domain((const uint8_t *)lf, strlen(lf), dom, sizeof(dom));
	assert_string_equal(dom, "lf.test");
	/* RFC 7489 §6.6.1: two From fields, or two mailboxes: no domain */
	antispam_from_domain(
	    (const uint8_t *)"From: a@x.test\r\nFrom: b@y.test\r\n\r\n", 34, dom, sizeof(dom));
	assert_string_equal(dom, "");
	antispam_from_domain(
	    (const uint8_t *)"From: a@x.test, b@y.test\r\n\r\n", 28, dom, sizeof(dom));
	assert_string_equal(dom, "");
	antispam_from_domain((const uint8_t *)"To: a@x.test\r\n\r\n", 16, dom, sizeof(dom));
	assert_string_equal(dom, "");
}

static void
test_forged_authentication_results_are_removed(void **state)
{
	static const struct {
		const char *in, *out;
		size_t removed;
	} cases[] = {
	    {"Authentication-Results: mx.test; dmarc=pass\r\nFrom: a@b.test\r\n\r\nbody\r\n",
	        "From: a@b.test\r\n\r\nbody\r\n", 1},
	    {"From: a@b.test\r\nAuthentication-Results:\r\n MX.TEST;\r\n\tspf=pass\r\n"
	     "authentication-results : other.test; spf=fail\r\n\r\n"
	     "Authentication-Results: mx.test; in the body\r\n",
	        "From: a@b.test\r\nauthentication-results : other.test; spf=fail\r\n\r\n"
	        "Authentication-Results: mx.test; in the body\r\n",
	        1},
	    /* mx.test.evil is another authserv-id */
	    {"Authentication-Results: mx.test.evil; x=y\r\n\r\n",
	        "Authentication-Results: mx.test.evil; x=y\r\n\r\n", 0},
	    {"Authentication-Results: mx.test (comment); none", "", 1}, /* no line end at all */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		uint8_t *m = (uint8_t *)strdup(cases[i].in);

		assert_int_equal(antispam_strip_forged_ar(m, &len, "mx.test"), cases[i].removed);
		assert_int_equal(len, strlen(cases[i].out));
		assert_memory_equal(m, cases[i].out, len);
		free(m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_parser),
	    cmocka_unit_test(test_org_domain_from_rules),
	    cmocka_unit_test(test_dmarc_check),
	    cmocka_unit_test(test_split_header_and_from_domain),
	    cmocka_unit_test(test_forged_authentication_results_are_removed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
