/*
 * hostcheck.c - FCrDNS (PTR) and HELO name checks (hostcheck.h).
 */
#include "node/antispam/hostcheck.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "node/antispam/dnsbl.h"

const char *
hostcheck_result_name(enum hostcheck_result r)
{
	return r == HOSTCHECK_PASS ? "pass" : r == HOSTCHECK_FAIL ? "fail" : "temperror";
}

/* name has an A (IPv4 ip) or AAAA (IPv6) record equal to ip: 1 yes, 0 no,
 * -1 DNS failure */
static int
name_has_ip(spf_query_fn query, void *qarg, const char *name, const char *ip)
{
	unsigned char want[16];
	bool v6 = strchr(ip, ':') != NULL;
	size_t wlen = v6 ? 16 : 4;
	struct spf_dns_answer a;
	int found = 0;

	if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, want) != 1)
		return 0;
	memset(&a, 0, sizeof(a));
	query(qarg, name, v6 ? ns_t_aaaa : ns_t_a, &a);
	if (a.status == MN_ETEMP)
		found = -1;
	for (size_t i = 0; a.status == 0 && i < a.n; i++)
		if (a.rrlen[i] == wlen && memcmp(a.rr[i], want, wlen) == 0)
			found = 1;
	spf_dns_answer_fini(&a);
	return found;
}

/* printable copy for reasons (the names come from DNS or the client) */
static void
clean(char *out, size_t outsz, const char *in)
{
	size_t o = 0;

	for (size_t i = 0; in[i] != '\0' && o + 1 < outsz && i < 255; i++)
		out[o++] =
		    (in[i] > ' ' && in[i] < 127 && in[i] != '"' && in[i] != '\\') ? in[i] : '_';
	out[o] = '\0';
}

void
hostcheck_ptr(spf_query_fn query, void *qarg, const char *ip, struct hostcheck_outcome *out)
{
	char rev[160], name[256];
	bool v6 = strchr(ip, ':') != NULL;
	struct spf_dns_answer a;
	bool temp = false;

	memset(out, 0, sizeof(*out));
	if (dnsbl_query_name(ip, v6 ? "ip6.arpa" : "in-addr.arpa", rev, sizeof(rev)) < 0) {
		out->result = HOSTCHECK_FAIL;
		snprintf(out->reason, sizeof(out->reason), "not an IP address");
		return;
	}
	memset(&a, 0, sizeof(a));
	query(qarg, rev, ns_t_ptr, &a);
	if (a.status == MN_ETEMP) {
		spf_dns_answer_fini(&a);
		out->result = HOSTCHECK_TEMPERROR;
		snprintf(out->reason, sizeof(out->reason), "PTR lookup of %s failed", ip);
		return;
	}
	if (a.status != 0 || a.n == 0) {
		spf_dns_answer_fini(&a);
		out->result = HOSTCHECK_FAIL;
		snprintf(out->reason, sizeof(out->reason), "%s has no PTR record", ip);
		return;
	}
	for (size_t i = 0; i < a.n && i < HOSTCHECK_MAX_NAMES; i++) {
		int r = name_has_ip(query, qarg, a.rr[i], ip);

		clean(name, sizeof(name), a.rr[i]);
		if (r == 1) {
			snprintf(out->reason, sizeof(out->reason), "%s is %s", ip, name);
			spf_dns_answer_fini(&a);
			return;
		}
		temp = temp || r < 0;
	}
	clean(name, sizeof(name), a.rr[0]);
	out->result = temp ? HOSTCHECK_TEMPERROR : HOSTCHECK_FAIL;
	snprintf(
	    out->reason, sizeof(out->reason), "PTR name %s of %s does not resolve to it", name, ip);
	spf_dns_answer_fini(&a);
}

void
hostcheck_helo(
    spf_query_fn query, void *qarg, const char *ip, const char *helo, struct hostcheck_outcome *out)
{
	char name[256];
	size_t len = strlen(helo);
	int r;

	memset(out, 0, sizeof(*out));
	clean(name, sizeof(name), helo);
	if (len >= 2 && helo[0] == '[' && helo[len - 1] == ']') {
		/* RFC 5321 §4.1.3 address literal */
		const char *lit = helo + 1;
		char buf[64];

		if (len - 2 > 5 && strncasecmp(lit, "IPv6:", 5) == 0) {
			lit += 5;
			len -= 5;
		}
		snprintf(buf, sizeof(buf), "%.*s", (int)(len - 2 < 63 ? len - 2 : 63), lit);
		if (strcasecmp(buf, ip) != 0) {
			out->result = HOSTCHECK_FAIL;
			snprintf(out->reason, sizeof(out->reason), "HELO %s is not %s", name, ip);
		} else {
			snprintf(out->reason, sizeof(out->reason), "HELO %s is the client", name);
		}
		return;
	}
	if (strchr(helo, '.') == NULL) {
		out->result = HOSTCHECK_FAIL;
		snprintf(out->reason, sizeof(out->reason), "HELO %s is not a domain name", name);
		return;
	}
	r = name_has_ip(query, qarg, helo, ip);
	if (r == 1) {
		snprintf(out->reason, sizeof(out->reason), "HELO %s resolves to %s", name, ip);
		return;
	}
	out->result = r < 0 ? HOSTCHECK_TEMPERROR : HOSTCHECK_FAIL;
	snprintf(out->reason, sizeof(out->reason), "HELO %s does not resolve to %s", name, ip);
}
