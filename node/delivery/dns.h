/*
 * dns.h - the DNS lookups outbound delivery needs: MX (RFC 5321 §5.1,
 * RFC 7505 null MX) and A/AAAA, through libresolv on the libuv thread pool.
 *
 * The resolvers come from [dns] resolvers ("IP[:PORT]" list) or, when that
 * is empty, /etc/resolv.conf. Answers are cached on the loop thread for
 * their TTL (capped); temporary failures are never cached.
 *
 * Ownership: struct dns_resolver belongs to its creator. dns_resolver_free
 * may be called while lookups are in flight: their callbacks are then never
 * called and the memory goes when the last thread-pool job returns.
 * Results passed to callbacks live only for the duration of the call.
 */
#ifndef MN_NODE_DELIVERY_DNS_H
#define MN_NODE_DELIVERY_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

#define DNS_NAME_MAX 256   /* presentation form, RFC 1035 §2.3.4 (253 + slack) */
#define DNS_IP_MAX 46      /* INET6_ADDRSTRLEN */
#define DNS_MAX_RECORDS 32 /* kept per answer; more MX hosts than this are not tried */
#define DNS_CACHE_MAX 512  /* entries */
#define DNS_TTL_MAX 3600   /* seconds an answer is kept at most */
#define DNS_NEG_TTL 60     /* seconds NXDOMAIN / no data is kept */

struct dns_mx {
	uint16_t pref;
	char host[DNS_NAME_MAX];
};

/* One lookup's outcome. status: 0 found; MN_ENOENT permanent (NXDOMAIN,
 * no address, null MX); MN_ETEMP temporary (SERVFAIL, timeout, refused).
 * reason is a short English text for logs and bounces. */
struct dns_result {
	int status;
	char reason[320];
	/* MX: sorted by preference, shuffled among equal preferences. When the
	 * domain has no MX records, one implicit entry (the domain itself,
	 * pref 0, implicit_mx true), RFC 5321 §5.1. */
	struct dns_mx mx[DNS_MAX_RECORDS];
	size_t nmx;
	bool implicit_mx;
	/* A/AAAA: IPv4 addresses first, then IPv6, numeric strings. */
	char addr[DNS_MAX_RECORDS][DNS_IP_MAX];
	size_t naddr;
};

struct dns_resolver;

/* dns_resolver_new - servers: NULL/"" for /etc/resolv.conf, else the
 * [dns] resolvers list (IPv4 only: libresolv keeps IPv6 servers outside
 * nsaddr_list; MN_EINVAL names the offending entry). */
int dns_resolver_new(
    uv_loop_t *loop, const char *servers, struct dns_resolver **out, struct mn_err *err);
void dns_resolver_free(struct dns_resolver **r);

/* dns_set_timeout - per-try timeout in seconds and tries (res_state
 * retrans/retry); defaults 3 s and 2 tries. */
void dns_set_timeout(struct dns_resolver *r, int seconds, int tries);

typedef void (*dns_cb)(const struct dns_result *res, void *arg);

/* dns_lookup_mx - MX hosts of domain. cb exactly once, from the loop, never
 * from inside this call (also for cache hits). 0 or MN_EINVAL (bad name). */
int dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_cb cb, void *arg);
/* dns_lookup_addr - A and AAAA of host (an IP literal is returned as is). */
int dns_lookup_addr(struct dns_resolver *r, const char *host, dns_cb cb, void *arg);

/* dns_stats_queries - queries sent to servers so far (cache misses; tests). */
uint64_t dns_stats_queries(const struct dns_resolver *r);
/* dns_cache_clear - forget every cached answer. */
void dns_cache_clear(struct dns_resolver *r);

/* dns_has_servers - true when [dns] resolvers was given (false: the
 * system's /etc/resolv.conf is used). */
bool dns_has_servers(const struct dns_resolver *r);

/* dns_query_sync - one raw query (class IN, type e.g. ns_t_txt) through the
 * resolver's servers, on the calling thread: for thread-pool jobs of other
 * modules (SPF, DKIM keys, DMARC policy, DNSBL), which parse the answer
 * themselves. Safe from any thread while r lives (the server list is fixed
 * at dns_resolver_new). No cache here: the callers' libraries keep their
 * own. Returns the answer length (> 0) in *len_out and 0; 1 for "name
 * exists, no records of this type" (NODATA); MN_ENOENT for NXDOMAIN;
 * MN_ETEMP for SERVFAIL, timeout or refusal (reason says which).
 * Answers are cached (shared by all threads, behind a lock) for their
 * smallest TTL (at most DNS_TTL_MAX), NXDOMAIN and NODATA for DNS_NEG_TTL;
 * failures are not cached. */
int dns_query_sync(const struct dns_resolver *r, const char *name, int type, unsigned char *ans,
    size_t anslen, int *len_out, char *reason, size_t reasonlen);
/* dns_stats_sync_queries - dns_query_sync queries sent (cache misses). */
uint64_t dns_stats_sync_queries(const struct dns_resolver *r);

#endif
