/*
 * spf.h - Sender Policy Framework (RFC 7208): the check_host() function for
 * the MAIL FROM identity, or the HELO identity when the reverse-path is
 * null (§2.4), on our own DNS code.
 *
 * Written here rather than on Debian's libspf2 because libspf2 answers
 * "pass" for every loopback client (127/8, ::1: "localhost is always
 * allowed") before looking at any record, which makes it untestable on the
 * loopback-only test network, its DNS layers query /etc/resolv.conf
 * instead of [dns] resolvers, and its error handler exits the process.
 *
 * Supported: v=spf1 records, qualifiers, all, include, a, mx, ptr, ip4,
 * ip6, exists, redirect=; exp= and unknown modifiers are parsed and
 * ignored. Macros (§7) with letters s l o d i p h v, digit and r
 * transformers and delimiters; c r t (exp only) are refused. Limits
 * (§4.6.4): 10 DNS-querying terms, 10 MX or PTR names per term, 2 void
 * lookups, plus our own: record length, term count, recursion depth.
 *
 * The evaluator is pure apart from a DNS query callback, so unit tests run
 * it on a table of answers; spf_dns_resolver_query is the real one
 * (dns_query_sync: blocking, for the libuv thread pool).
 */
#ifndef MN_NODE_ANTISPAM_SPF_H
#define MN_NODE_ANTISPAM_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SPF_RECORD_MAX 4096 /* longest record accepted (permerror beyond) */
#define SPF_TERMS_MAX 64    /* terms in one record */
#define SPF_LOOKUP_LIMIT 10 /* RFC 7208 §4.6.4 */
#define SPF_VOID_LIMIT 2    /* RFC 7208 §4.6.4 */
#define SPF_NAMES_LIMIT 10  /* MX hosts or PTR names per term, §4.6.4 */
#define SPF_DOMAIN_MAX 253  /* after macro expansion, §7.3 */
#define SPF_RR_MAX 32       /* records kept per DNS answer */

enum spf_result {
	SPF_NONE = 0,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* --- record parser (pure; fuzzed) ---------------------------------------- */

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
	SPF_MOD_REDIRECT,
	SPF_MOD_EXP,
};

struct spf_term {
	enum spf_mech kind;
	char qualifier;   /* '+', '-', '~', '?' */
	const char *spec; /* domain-spec (may hold macros); NULL: none */
	size_t spec_len;
	uint8_t addr[16]; /* ip4 (first 4 bytes) / ip6 */
	int cidr4, cidr6; /* prefix lengths; 32 / 128 when not given */
};

struct spf_record {
	struct spf_term terms[SPF_TERMS_MAX];
	size_t nterms;
	const struct spf_term *redirect; /* NULL: none */
};

/* spf_record_parse - parse txt (without the NUL) as an SPF record, which
 * must begin with "v=spf1". The terms point into txt. 0, or MN_EPARSE with
 * the reason in err (a permerror). */
int spf_record_parse(const char *txt, size_t len, struct spf_record *out, struct mn_err *err);

/* spf_is_record - true when txt is an SPF version 1 record ("v=spf1"
 * followed by a space or the end, RFC 7208 §4.5). */
bool spf_is_record(const char *txt, size_t len);

/* spf_macro_expand - expand a domain-spec for sender (local@domain), the
 * current domain, ip and helo into out (NUL-terminated), truncated from
 * the left to 253 bytes as §7.3 says. 0 or MN_EPARSE. */
int spf_macro_expand(const char *spec, size_t len, const char *sender, const char *domain,
    const char *ip, const char *helo, char *out, size_t outsz);

/* --- evaluation ---------------------------------------------------------- */

/* One DNS answer for the evaluator. status: 0 records (n may still be 0),
 * 1 NODATA, MN_ENOENT NXDOMAIN, MN_ETEMP failure. rr[i] is the record
 * data: TXT the joined strings (NUL-terminated), MX and PTR a host name,
 * A 4 and AAAA 16 raw bytes; rrlen[i] its length. Owned by the answer. */
struct spf_dns_answer {
	int status;
	size_t n;
	char *rr[SPF_RR_MAX];
	size_t rrlen[SPF_RR_MAX];
};

void spf_dns_answer_fini(struct spf_dns_answer *a);
/* spf_dns_answer_add - copy len bytes as the next record (NUL added). */
void spf_dns_answer_add(struct spf_dns_answer *a, const void *data, size_t len);

/* type: ns_t_txt, ns_t_a, ns_t_aaaa, ns_t_mx, ns_t_ptr. Fills ans. */
typedef void (*spf_query_fn)(void *arg, const char *name, int type, struct spf_dns_answer *ans);

struct spf_outcome {
	enum spf_result result;
	bool helo_identity; /* true: HELO checked (null reverse-path) */
	char domain[256];   /* the domain whose policy was checked */
	char reason[400];   /* short English text for logs and replies */
	unsigned lookups;   /* DNS-querying terms evaluated */
};

/* spf_check - check_host() for client ip (numeric IPv4 or IPv6), helo and
 * sender ("" for the null reverse-path: postmaster@helo is checked). A
 * sender or HELO that is not a domain name gives SPF_NONE. Always fills
 * out. Blocking as far as query is. */
void spf_check(spf_query_fn query, void *qarg, const char *ip, const char *helo, const char *sender,
    struct spf_outcome *out);

struct dns_resolver;
/* spf_dns_resolver_query - the real query function; qarg is a struct
 * dns_resolver * (dns_query_sync, thread-pool safe). */
void spf_dns_resolver_query(void *qarg, const char *name, int type, struct spf_dns_answer *ans);

/* spf_result_name - "pass", "fail", ... (RFC 8601 §2.7.2 result names). */
const char *spf_result_name(enum spf_result r);
/* spf_result_parse - the inverse; -1 when unknown. */
int spf_result_parse(const char *name);

#endif
