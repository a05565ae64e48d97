/*
 * hostcheck.h - client host checks at MAIL FROM (issue 8, FEATURES §11.1):
 *   PTR:  forward-confirmed reverse DNS (FCrDNS): one of the client
 *         address's PTR names (at most HOSTCHECK_MAX_NAMES looked at) has an
 *         A/AAAA record equal to the address.
 *   HELO: the HELO/EHLO name is an address literal equal to the client
 *         address ([192.0.2.1], [IPv6:...]) or a name with an A/AAAA record
 *         equal to it.
 * A DNS failure is temperror, which the caller lets pass (logged): a
 * broken resolver must not refuse all mail. Blocking (thread pool); DNS
 * through the query function of spf.h, so unit tests use a table.
 */
#ifndef MN_NODE_ANTISPAM_HOSTCHECK_H
#define MN_NODE_ANTISPAM_HOSTCHECK_H

#include "node/antispam/spf.h"

#define HOSTCHECK_MAX_NAMES 10

enum hostcheck_result {
	HOSTCHECK_PASS = 0,
	HOSTCHECK_FAIL,
	HOSTCHECK_TEMPERROR,
};

struct hostcheck_outcome {
	enum hostcheck_result result;
	char reason[300]; /* short English text, printable ASCII */
};

void hostcheck_ptr(spf_query_fn query, void *qarg, const char *ip, struct hostcheck_outcome *out);
void hostcheck_helo(spf_query_fn query, void *qarg, const char *ip, const char *helo,
    struct hostcheck_outcome *out);
const char *hostcheck_result_name(enum hostcheck_result r);

#endif
