/*
 * dnsbl.c - RFC 5782 lookups (dnsbl.h).
 */
#include "node/antispam/dnsbl.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

int
dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outsz)
{
	uint8_t a[16];
	size_t o = 0;
	int n;

	if (inet_pton(AF_INET, ip, a) == 1) {
		n = snprintf(out, outsz, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
		return n < 0 || (size_t)n >= outsz ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		n = snprintf(out + o, outsz - o, "%x.%x.", a[i] & 15, a[i] >> 4);
		if (n < 0 || (size_t)n >= outsz - o)
			return -1;
		o += (size_t)n;
	}
	n = snprintf(out + o, outsz - o, "%s", zone);
	return n < 0 || (size_t)n >= outsz - o ? -1 : 0;
}

static void
reason(spf_query_fn query, void *qarg, const char *name, struct dnsbl_outcome *out)
{
	struct spf_dns_answer t;
	size_t j = 0;

	memset(&t, 0, sizeof(t));
	query(qarg, name, ns_t_txt, &t);
	if (t.status == 0 && t.n > 0)
		for (size_t i = 0; i < t.rrlen[0] && j < sizeof(out->text) - 1; i++) {
			unsigned char c = (unsigned char)t.rr[0][i];

			/* it goes into our SMTP reply */
			out->text[j++] = c >= ' ' && c < 0x7f ? (char)c : '?';
		}
	out->text[j] = '\0';
	spf_dns_answer_fini(&t);
}

/* key: a client address (RFC 5782 §2.1) or, with domain, a domain name
 * (§2.2: DOMAIN.ZONE) */
static void
check(spf_query_fn query, void *qarg, const char *key, bool domain, const char *zones,
    struct dnsbl_outcome *out)
{
	const char *p = zones != NULL ? zones : "";
	unsigned nz = 0;

	memset(out, 0, sizeof(out[0]));
	while (*p != '\0' && !out->listed && nz < DNSBL_ZONES_MAX) {
		char zone[256], name[320];
		struct spf_dns_answer a;
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		nz++;
		snprintf(zone, sizeof(zone), "%.*s", (int)(n < 255 ? n : 255), p);
		p += n;
		if (domain) {
			int k = snprintf(name, sizeof(name), "%s.%s", key, zone);

			if (k < 0 || (size_t)k >= sizeof(name) || key[0] == '\0')
				continue;
		} else if (dnsbl_query_name(key, zone, name, sizeof(name)) < 0) {
			continue;
		}
		memset(&a, 0, sizeof(a));
		query(qarg, name, ns_t_a, &a);
		if (a.status == MN_ETEMP)
			log_warn(
			    "antispam", "event=dnsbl zone=%s result=temperror action=pass", zone);
		for (size_t i = 0; a.status == 0 && i < a.n; i++) {
			const uint8_t *v = (const uint8_t *)a.rr[i];

			if (a.rrlen[i] != 4 || v[0] != 127)
				continue;
			if (v[1] == 255 && v[2] == 255) {
				log_warn("antispam",
				    "event=dnsbl zone=%s result=error code=127.255.255.%u", zone,
				    v[3]);
				continue;
			}
			out->listed = true;
		}
		spf_dns_answer_fini(&a);
		if (out->listed) {
			snprintf(out->zone, sizeof(out->zone), "%s", zone);
			reason(query, qarg, name, out);
		}
	}
}

void
dnsbl_check(
    spf_query_fn query, void *qarg, const char *ip, const char *zones, struct dnsbl_outcome *out)
{
	check(query, qarg, ip, false, zones, out);
}

void
dnsbl_check_domain(spf_query_fn query, void *qarg, const char *domain, const char *zones,
    struct dnsbl_outcome *out)
{
	check(query, qarg, domain, true, zones, out);
}
