/*
 * dnsbl.h - DNS blocklists of client addresses (RFC 5782): the client
 * 192.0.2.99 is listed in zone Z when 99.2.0.192.Z has an A record in
 * 127.0.0.0/8 (IPv6: the 32 reversed nibbles). The zone's TXT record at
 * the same name, when there is one, is the reason given to the client.
 *
 * Answers in 127.255.255.0/24 are the list's own error codes (e.g. a
 * public resolver refused), never a listing. A DNS failure is not a
 * listing either (fail open, logged).
 */
#ifndef MN_NODE_ANTISPAM_DNSBL_H
#define MN_NODE_ANTISPAM_DNSBL_H

#include <stdbool.h>
#include <stddef.h>

#include "node/antispam/spf.h"

#define DNSBL_ZONES_MAX 16

struct dnsbl_outcome {
	bool listed;
	char zone[256]; /* the first zone that lists the client */
	char text[160]; /* its TXT reason, printable ASCII, or "" */
};

/* dnsbl_query_name - "4.3.2.1.ZONE" for ip; 0 or -1 (not an IP, too long). */
int dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outsz);

/* dnsbl_check - zones: space or comma separated; the first listing wins.
 * Blocking (query). */
void dnsbl_check(
    spf_query_fn query, void *qarg, const char *ip, const char *zones, struct dnsbl_outcome *out);

/* dnsbl_check_domain - domain-based lists (RFC 5782 §2.2, e.g. Spamhaus
 * DBL): DOMAIN.ZONE with an A record in 127.0.0.0/8 (127.255.255.0/24
 * excepted) is a listing. */
void dnsbl_check_domain(spf_query_fn query, void *qarg, const char *domain, const char *zones,
    struct dnsbl_outcome *out);

#endif
