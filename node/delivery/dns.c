/*
 * dns.c - MX and A/AAAA lookups for outbound delivery (RFC 5321 §5.1,
 * RFC 7505 null MX) with libresolv's reentrant API (res_ninit, res_nquery,
 * ns_initparse/ns_parserr) run on the libuv thread pool, and a small TTL
 * cache kept on the loop thread.
 *
 * Each thread-pool job gets its own struct __res_state (res_ninit reads
 * /etc/resolv.conf; configured servers then replace nsaddr_list), so jobs
 * share nothing. The job copies everything it needs; the loop side owns the
 * cache and the callbacks. Error classes: NXDOMAIN and a null MX are
 * permanent, SERVFAIL/timeout/refused temporary (never cached).
 */
#include "node/delivery/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define DNS_ANSWER_MAX 16384 /* TCP answers may exceed 512 bytes */

enum dns_kind { DNS_KIND_MX, DNS_KIND_ADDR };

struct dns_cache_entry {
	enum dns_kind kind;
	char name[DNS_NAME_MAX];
	uint64_t expires_ms; /* uv_now() */
	struct dns_result res;
};

struct dns_resolver {
	uv_loop_t *loop;
	struct sockaddr_in servers[MAXNS];
	int nservers; /* 0: resolv.conf */
	int retrans, retry;
	bool freed;
	unsigned pending;
	uint64_t queries;
	unsigned seed;
	struct dns_cache_entry *cache[DNS_CACHE_MAX];
	size_t ncache;
	/* dns_query_sync's answers (raw bytes), shared by the thread-pool
	 * jobs of the anti-spam checks: guarded by raw_lock */
	pthread_mutex_t raw_lock;
	struct dns_raw_entry *raw[DNS_CACHE_MAX];
	size_t nraw;
	uint64_t raw_queries;
};

struct dns_raw_entry {
	char name[DNS_NAME_MAX];
	int type;
	int rc;              /* what dns_query_sync returned */
	uint64_t expires_ns; /* uv_hrtime() */
	size_t len;
	unsigned char data[]; /* the answer when rc == 0 */
};

struct dns_req {
	uv_work_t work;
	struct dns_resolver *r;
	enum dns_kind kind;
	char name[DNS_NAME_MAX];
	dns_cb cb;
	void *arg;
	bool cached; /* answer already in res: the job does nothing */
	bool literal;
	/* copies for the worker thread */
	struct sockaddr_in servers[MAXNS];
	int nservers, retrans, retry;
	unsigned seed;
	uint32_t ttl;
	unsigned nqueries;
	struct dns_result res;
};

/* --- worker thread ------------------------------------------------------ */

/* query_one - one res_nquery; returns 0 with the answer length in *len,
 * 1 for "name exists, no records of this type", or a negative MN_E code. */
static int
query_one(res_state st, const char *name, int type, unsigned char *ans, int *len, char *reason,
    size_t reasonlen)
{
	int n = res_nquery(st, name, ns_c_in, type, ans, DNS_ANSWER_MAX);

	if (n >= 0) {
		*len = n;
		return 0;
	}
	switch (st->res_h_errno) {
	case HOST_NOT_FOUND:
		snprintf(reason, reasonlen, "%s: no such domain (NXDOMAIN)", name);
		return MN_ENOENT;
	case NO_DATA:
		return 1;
	case TRY_AGAIN:
		snprintf(reason, reasonlen, "%s: DNS server failure or timeout", name);
		return MN_ETEMP;
	default:
		snprintf(reason, reasonlen, "%s: DNS query refused or malformed", name);
		return MN_ETEMP;
	}
}

static void
ttl_min(struct dns_req *q, uint32_t ttl)
{
	if (ttl < q->ttl)
		q->ttl = ttl;
}

static void
mx_sort(struct dns_req *q)
{
	struct dns_result *res = &q->res;
	struct dns_mx tmp;

	/* Shuffle, then a stable insertion sort by preference: hosts of equal
	 * preference end up in random order (RFC 5321 §5.1). */
	for (size_t i = res->nmx; i > 1; i--) {
		size_t j = (size_t)rand_r(&q->seed) % i;

		tmp = res->mx[i - 1];
		res->mx[i - 1] = res->mx[j];
		res->mx[j] = tmp;
	}
	for (size_t i = 1; i < res->nmx; i++) {
		size_t j = i;

		tmp = res->mx[i];
		while (j > 0 && res->mx[j - 1].pref > tmp.pref) {
			res->mx[j] = res->mx[j - 1];
			j--;
		}
		res->mx[j] = tmp;
	}
}

static void
work_mx(struct dns_req *q, res_state st, unsigned char *ans)
{
	struct dns_result *res = &q->res;
	ns_msg msg;
	ns_rr rr;
	int len = 0, rc, count; /* set by query_one; 0 quiets gcc -O2 maybe-uninitialized */
	bool null_mx = false;

	rc = query_one(st, q->name, ns_t_mx, ans, &len, res->reason, sizeof(res->reason));
	q->nqueries++;
	if (rc < 0) {
		res->status = rc;
		q->ttl = rc == MN_ENOENT ? DNS_NEG_TTL : 0;
		return;
	}
	if (rc == 0) {
		if (ns_initparse(ans, len, &msg) < 0) {
			res->status = MN_ETEMP;
			snprintf(
			    res->reason, sizeof(res->reason), "%s: malformed DNS answer", q->name);
			q->ttl = 0;
			return;
		}
		count = ns_msg_count(msg, ns_s_an);
		for (int i = 0; i < count; i++) {
			char host[NS_MAXDNAME];

			if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
				break;
			if (ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
				continue;
			if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host,
			        sizeof(host)) < 0)
				continue;
			ttl_min(q, ns_rr_ttl(rr));
			if (host[0] == '\0' || strcmp(host, ".") == 0) {
				null_mx = true; /* RFC 7505: "0 ." */
				continue;
			}
			if (res->nmx == DNS_MAX_RECORDS || strlen(host) >= DNS_NAME_MAX)
				continue;
			res->mx[res->nmx].pref = ns_get16(ns_rr_rdata(rr));
			memcpy(res->mx[res->nmx].host, host, strlen(host) + 1);
			res->nmx++;
		}
	}
	if (res->nmx > 0) {
		/* A null MX mixed with real ones violates RFC 7505 §3; the real
		 * hosts are used. */
		mx_sort(q);
		res->status = 0;
		return;
	}
	if (null_mx) {
		res->status = MN_ENOENT;
		snprintf(res->reason, sizeof(res->reason),
		    "%s: domain does not accept mail (null MX, RFC 7505)", q->name);
		return;
	}
	/* No MX at all: the domain itself is the implicit MX (RFC 5321 §5.1). */
	if (q->ttl == UINT32_MAX || rc == 1)
		q->ttl = DNS_NEG_TTL;
	res->status = 0;
	res->implicit_mx = true;
	res->nmx = 1;
	res->mx[0].pref = 0;
	snprintf(res->mx[0].host, DNS_NAME_MAX, "%s", q->name);
}

/* addr_query - one A or AAAA query appended to res->addr; returns like
 * query_one (1: no records). */
static int
addr_query(
    struct dns_req *q, res_state st, unsigned char *ans, int type, char *reason, size_t reasonlen)
{
	struct dns_result *res = &q->res;
	ns_msg msg;
	ns_rr rr;
	int len = 0, rc, count, found = 0;

	rc = query_one(st, q->name, type, ans, &len, reason, reasonlen);
	q->nqueries++;
	if (rc != 0)
		return rc;
	if (ns_initparse(ans, len, &msg) < 0) {
		snprintf(reason, reasonlen, "%s: malformed DNS answer", q->name);
		return MN_ETEMP;
	}
	count = ns_msg_count(msg, ns_s_an);
	for (int i = 0; i < count && res->naddr < DNS_MAX_RECORDS; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if ((int)ns_rr_type(rr) != type)
			continue;
		if (type == ns_t_a && ns_rr_rdlen(rr) == 4)
			inet_ntop(AF_INET, ns_rr_rdata(rr), res->addr[res->naddr], DNS_IP_MAX);
		else if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16)
			inet_ntop(AF_INET6, ns_rr_rdata(rr), res->addr[res->naddr], DNS_IP_MAX);
		else
			continue;
		ttl_min(q, ns_rr_ttl(rr));
		res->naddr++;
		found++;
	}
	return found > 0 ? 0 : 1;
}

static void
work_addr(struct dns_req *q, res_state st, unsigned char *ans)
{
	struct dns_result *res = &q->res;
	char reason6[sizeof(res->reason)];
	int rc4, rc6;

	rc4 = addr_query(q, st, ans, ns_t_a, res->reason, sizeof(res->reason));
	if (rc4 == MN_ENOENT) {
		res->status = MN_ENOENT;
		q->ttl = DNS_NEG_TTL;
		return;
	}
	reason6[0] = '\0';
	rc6 = addr_query(q, st, ans, ns_t_aaaa, reason6, sizeof(reason6));
	if (res->naddr > 0) {
		res->status = 0;
		res->reason[0] = '\0';
		return;
	}
	if (rc4 == MN_ETEMP || rc6 == MN_ETEMP) {
		res->status = MN_ETEMP;
		if (rc4 != MN_ETEMP)
			snprintf(res->reason, sizeof(res->reason), "%s", reason6);
		q->ttl = 0;
		return;
	}
	res->status = MN_ENOENT;
	snprintf(res->reason, sizeof(res->reason), "%s: no A or AAAA record", q->name);
	q->ttl = DNS_NEG_TTL;
}

static void
dns_work_cb(uv_work_t *w)
{
	struct dns_req *q = w->data;
	struct __res_state st;
	unsigned char *ans;

	if (q->cached || q->literal)
		return;
	memset(&st, 0, sizeof(st));
	q->ttl = UINT32_MAX;
	if (res_ninit(&st) < 0 && q->nservers == 0) {
		q->res.status = MN_ETEMP;
		snprintf(q->res.reason, sizeof(q->res.reason), "resolver setup failed");
		q->ttl = 0;
		res_nclose(&st);
		return;
	}
	if (q->nservers > 0) {
		st.nscount = q->nservers;
		for (int i = 0; i < q->nservers; i++)
			st.nsaddr_list[i] = q->servers[i];
	}
	st.retrans = q->retrans;
	st.retry = q->retry;
	ans = xmalloc(DNS_ANSWER_MAX);
	if (q->kind == DNS_KIND_MX)
		work_mx(q, &st, ans);
	else
		work_addr(q, &st, ans);
	free(ans);
	res_nclose(&st);
	if (q->ttl == UINT32_MAX)
		q->ttl = DNS_NEG_TTL;
}

/* --- loop thread -------------------------------------------------------- */

static void
resolver_destroy(struct dns_resolver *r)
{
	dns_cache_clear(r);
	for (size_t i = 0; i < r->nraw; i++)
		free(r->raw[i]);
	pthread_mutex_destroy(&r->raw_lock);
	free(r);
}

static struct dns_cache_entry *
cache_find(struct dns_resolver *r, enum dns_kind kind, const char *name)
{
	uint64_t now = uv_now(r->loop);

	for (size_t i = 0; i < r->ncache; i++) {
		struct dns_cache_entry *e = r->cache[i];

		if (e->kind != kind || ascii_casecmp(e->name, name) != 0)
			continue;
		if (e->expires_ms <= now) {
			free(e);
			r->cache[i] = r->cache[--r->ncache];
			return NULL;
		}
		return e;
	}
	return NULL;
}

static void
cache_put(struct dns_resolver *r, const struct dns_req *q)
{
	uint64_t now = uv_now(r->loop);
	struct dns_cache_entry *e;
	uint32_t ttl = q->ttl > DNS_TTL_MAX ? DNS_TTL_MAX : q->ttl;
	size_t victim = 0;

	if (ttl == 0 || q->res.status == MN_ETEMP)
		return;
	if ((e = cache_find(r, q->kind, q->name)) == NULL) {
		if (r->ncache == DNS_CACHE_MAX) {
			/* full: replace the entry that expires first */
			for (size_t i = 1; i < r->ncache; i++)
				if (r->cache[i]->expires_ms < r->cache[victim]->expires_ms)
					victim = i;
			e = r->cache[victim];
		} else {
			e = xmalloc(sizeof(*e));
			r->cache[r->ncache++] = e;
		}
	}
	e->kind = q->kind;
	snprintf(e->name, sizeof(e->name), "%s", q->name);
	e->expires_ms = now + (uint64_t)ttl * 1000;
	e->res = q->res;
}

static void
dns_after_cb(uv_work_t *w, int status)
{
	struct dns_req *q = w->data;
	struct dns_resolver *r = q->r;

	r->pending--;
	if (r->freed) {
		if (r->pending == 0)
			resolver_destroy(r);
		free(q);
		return;
	}
	if (!q->cached && !q->literal) {
		r->queries += q->nqueries;
		if (status == 0)
			cache_put(r, q);
	}
	if (status < 0) { /* UV_ECANCELED: never for a started job, but be exact */
		q->res.status = MN_ETEMP;
		snprintf(q->res.reason, sizeof(q->res.reason), "DNS lookup cancelled");
	}
	log_debug("dns", "event=lookup kind=%s name=%s status=%d cached=%d n=%zu",
	    q->kind == DNS_KIND_MX ? "mx" : "addr", q->name, q->res.status, q->cached,
	    q->kind == DNS_KIND_MX ? q->res.nmx : q->res.naddr);
	q->cb(&q->res, q->arg);
	free(q);
}

static bool
name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= DNS_NAME_MAX - 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
			return false;
	return true;
}

static int
lookup_start(struct dns_resolver *r, enum dns_kind kind, const char *name, dns_cb cb, void *arg)
{
	struct dns_cache_entry *e;
	struct dns_req *q;
	unsigned char bin[sizeof(struct in6_addr)];
	int rc;

	if (r->freed || !name_ok(name))
		return MN_EINVAL;
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->kind = kind;
	snprintf(q->name, sizeof(q->name), "%s", name);
	/* a trailing dot is the same name; the cache key should not differ */
	if (q->name[strlen(q->name) - 1] == '.' && strlen(q->name) > 1)
		q->name[strlen(q->name) - 1] = '\0';
	q->cb = cb;
	q->arg = arg;
	if (kind == DNS_KIND_ADDR &&
	    (inet_pton(AF_INET, q->name, bin) == 1 || inet_pton(AF_INET6, q->name, bin) == 1)) {
		q->literal = true;
		q->res.naddr = 1;
		snprintf(q->res.addr[0], DNS_IP_MAX, "%.45s", q->name);
	} else if ((e = cache_find(r, kind, q->name)) != NULL) {
		q->cached = true;
		q->res = e->res;
		if (kind == DNS_KIND_MX && !e->res.implicit_mx) {
			q->seed = r->seed = r->seed * 1103515245u + 12345u;
			mx_sort(q); /* reshuffle equal preferences on every use */
		}
	} else {
		memcpy(q->servers, r->servers, sizeof(q->servers));
		q->nservers = r->nservers;
		q->retrans = r->retrans;
		q->retry = r->retry;
		q->seed = r->seed = r->seed * 1103515245u + 12345u;
	}
	q->work.data = q;
	/* Cache hits go through the pool too: the callback must never run
	 * inside this call, and this keeps one path for every answer. */
	if ((rc = uv_queue_work(r->loop, &q->work, dns_work_cb, dns_after_cb)) < 0) {
		free(q);
		return MN_EIO;
	}
	r->pending++;
	return 0;
}

int
dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_cb cb, void *arg)
{
	return lookup_start(r, DNS_KIND_MX, domain, cb, arg);
}

int
dns_lookup_addr(struct dns_resolver *r, const char *host, dns_cb cb, void *arg)
{
	return lookup_start(r, DNS_KIND_ADDR, host, cb, arg);
}

/* parse_server - "IP", "IP:PORT"; "[v6]:PORT" and bare IPv6 are refused. */
static int
parse_server(const char *s, size_t n, struct sockaddr_in *out, struct mn_err *err)
{
	char tmp[64];
	char *colon;
	uint64_t port = 53;

	if (n >= sizeof(tmp))
		return mn_err_set(err, MN_EINVAL, "resolver %.*s: too long", (int)n, s);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (tmp[0] == '[' || strchr(tmp, ':') != strrchr(tmp, ':'))
		return mn_err_set(err, MN_EINVAL,
		    "resolver %s: IPv6 resolvers are not supported by libresolv's "
		    "nsaddr_list; use an IPv4 address",
		    tmp);
	if ((colon = strchr(tmp, ':')) != NULL) {
		*colon = '\0';
		if (parse_u64(colon + 1, 1, 65535, &port) < 0)
			return mn_err_set(err, MN_EINVAL, "resolver %s: bad port", s);
	}
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, tmp, &out->sin_addr) != 1)
		return mn_err_set(err, MN_EINVAL, "resolver %s: not an IPv4 address", tmp);
	return 0;
}

int
dns_resolver_new(
    uv_loop_t *loop, const char *servers, struct dns_resolver **out, struct mn_err *err)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	const char *p = servers ? servers : "";
	int rc;

	r->loop = loop;
	r->retrans = 3;
	r->retry = 2;
	pthread_mutex_init(&r->raw_lock, NULL);
	r->seed = (unsigned)uv_hrtime() ^ (unsigned)(uintptr_t)r;
	while (*p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (r->nservers == MAXNS) {
			log_warn("dns", "event=resolvers_ignored reason=more_than_%d", MAXNS);
			break;
		}
		if ((rc = parse_server(p, n, &r->servers[r->nservers], err)) < 0) {
			pthread_mutex_destroy(&r->raw_lock);
			free(r);
			return rc;
		}
		r->nservers++;
		p += n;
	}
	*out = r;
	return 0;
}

void
dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	r->freed = true;
	if (r->pending == 0)
		resolver_destroy(r);
}

void
dns_set_timeout(struct dns_resolver *r, int seconds, int tries)
{
	r->retrans = seconds > 0 ? seconds : 1;
	r->retry = tries > 0 ? tries : 1;
}

uint64_t
dns_stats_queries(const struct dns_resolver *r)
{
	return r->queries;
}

bool
dns_has_servers(const struct dns_resolver *r)
{
	return r->nservers > 0;
}

/* smallest TTL of the answer section (capped), DNS_NEG_TTL without records */
static uint32_t
answer_ttl(const unsigned char *ans, int len)
{
	ns_msg msg;
	ns_rr rr;
	uint32_t ttl = UINT32_MAX;

	if (ns_initparse(ans, len, &msg) < 0)
		return 0;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++)
		if (ns_parserr(&msg, ns_s_an, i, &rr) == 0 && ns_rr_ttl(rr) < ttl)
			ttl = ns_rr_ttl(rr);
	if (ttl == UINT32_MAX)
		return DNS_NEG_TTL;
	return ttl > DNS_TTL_MAX ? DNS_TTL_MAX : ttl;
}

/* under raw_lock: the live entry for (name, type) or NULL */
static struct dns_raw_entry *
raw_find(struct dns_resolver *r, const char *name, int type, uint64_t now)
{
	for (size_t i = 0; i < r->nraw; i++) {
		struct dns_raw_entry *e = r->raw[i];

		if (e->type != type || ascii_casecmp(e->name, name) != 0)
			continue;
		if (e->expires_ns <= now) {
			free(e);
			r->raw[i] = r->raw[--r->nraw];
			return NULL;
		}
		return e;
	}
	return NULL;
}

static void
raw_put(struct dns_resolver *r, const char *name, int type, int rc, const unsigned char *ans,
    int len, uint32_t ttl)
{
	uint64_t now = uv_hrtime();
	struct dns_raw_entry *e;
	size_t n = rc == 0 && len > 0 ? (size_t)len : 0, victim = 0;

	if (ttl == 0)
		return;
	e = xmalloc(sizeof(*e) + n);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = type;
	e->rc = rc;
	e->len = n;
	e->expires_ns = now + (uint64_t)ttl * 1000000000ull;
	if (n > 0)
		memcpy(e->data, ans, n);
	pthread_mutex_lock(&r->raw_lock);
	for (size_t i = 0; i < r->nraw; i++)
		if (r->raw[i]->type == type && ascii_casecmp(r->raw[i]->name, name) == 0) {
			free(r->raw[i]); /* another job fetched it meanwhile */
			r->raw[i] = e;
			e = NULL;
			break;
		}
	if (e != NULL && r->nraw == DNS_CACHE_MAX) {
		/* full: replace the entry that expires first */
		for (size_t i = 1; i < r->nraw; i++)
			if (r->raw[i]->expires_ns < r->raw[victim]->expires_ns)
				victim = i;
		free(r->raw[victim]);
		r->raw[victim] = e;
	} else if (e != NULL) {
		r->raw[r->nraw++] = e;
	}
	pthread_mutex_unlock(&r->raw_lock);
}

int
dns_query_sync(const struct dns_resolver *cr, const char *name, int type, unsigned char *ans,
    size_t anslen, int *len_out, char *reason, size_t reasonlen)
{
	/* the cache is the resolver's own mutable state behind a lock; the
	 * const says callers cannot change what the resolver queries */
	struct dns_resolver *r = (struct dns_resolver *)(uintptr_t)cr;
	struct __res_state st;
	struct dns_raw_entry *e;
	int rc, n;

	*len_out = 0;
	if (!name_ok(name)) {
		snprintf(reason, reasonlen, "bad DNS name");
		return MN_ENOENT;
	}
	pthread_mutex_lock(&r->raw_lock);
	if ((e = raw_find(r, name, type, uv_hrtime())) != NULL && e->len <= anslen) {
		rc = e->rc;
		if (rc == 0) {
			memcpy(ans, e->data, e->len);
			*len_out = (int)e->len;
		} else if (rc == MN_ENOENT) {
			snprintf(reason, reasonlen, "%s: no such domain (NXDOMAIN)", name);
		}
		pthread_mutex_unlock(&r->raw_lock);
		return rc;
	}
	r->raw_queries++;
	pthread_mutex_unlock(&r->raw_lock);
	memset(&st, 0, sizeof(st));
	if (res_ninit(&st) < 0 && r->nservers == 0) {
		snprintf(reason, reasonlen, "resolver setup failed");
		res_nclose(&st);
		return MN_ETEMP;
	}
	if (r->nservers > 0) {
		st.nscount = r->nservers;
		for (int i = 0; i < r->nservers; i++)
			st.nsaddr_list[i] = r->servers[i];
	}
	st.retrans = r->retrans;
	st.retry = r->retry;
	/* answers larger than 512 bytes come by TCP after a truncated UDP
	 * answer (libresolv retries on TC by itself) */
	n = res_nquery(
	    &st, name, ns_c_in, type, ans, (int)(anslen > INT32_MAX ? INT32_MAX : anslen));
	if (n >= 0) {
		*len_out = n;
		rc = 0;
		raw_put(r, name, type, 0, ans, n, answer_ttl(ans, n));
	} else {
		switch (st.res_h_errno) {
		case HOST_NOT_FOUND:
			snprintf(reason, reasonlen, "%s: no such domain (NXDOMAIN)", name);
			rc = MN_ENOENT;
			break;
		case NO_DATA:
			rc = 1;
			break;
		case TRY_AGAIN:
			snprintf(reason, reasonlen, "%s: DNS server failure or timeout", name);
			rc = MN_ETEMP;
			break;
		default:
			snprintf(reason, reasonlen, "%s: DNS query refused or malformed", name);
			rc = MN_ETEMP;
			break;
		}
		/* negative answers for a minute; failures never */
		if (rc != MN_ETEMP)
			raw_put(r, name, type, rc, NULL, 0, DNS_NEG_TTL);
	}
	res_nclose(&st);
	return rc;
}

uint64_t
dns_stats_sync_queries(const struct dns_resolver *cr)
{
	struct dns_resolver *r = (struct dns_resolver *)(uintptr_t)cr;
	uint64_t n;

	pthread_mutex_lock(&r->raw_lock);
	n = r->raw_queries;
	pthread_mutex_unlock(&r->raw_lock);
	return n;
}

void
dns_cache_clear(struct dns_resolver *r)
{
	for (size_t i = 0; i < r->ncache; i++)
		free(r->cache[i]);
	r->ncache = 0;
	pthread_mutex_lock(&r->raw_lock);
	for (size_t i = 0; i < r->nraw; i++)
		free(r->raw[i]);
	r->nraw = 0;
	pthread_mutex_unlock(&r->raw_lock);
}
