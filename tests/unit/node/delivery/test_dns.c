/*
 * test_dns.c - node/delivery/dns against a tiny DNS responder written here
 * (uv_udp on 127.0.0.1, port 0, hand-built answer packets): MX ordering and
 * shuffling of equal preferences, implicit MX + A/AAAA fallback, NXDOMAIN
 * and null MX permanent, SERVFAIL and silence temporary, TTL cache hits
 * and TTL 0 not cached, resolver list parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "node/delivery/dns.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 20000

struct rr {
	const char *owner;
	int type; /* 1 A, 15 MX, 28 AAAA */
	uint32_t ttl;
	uint16_t pref;
	const char *data; /* MX host ("" = root), or IP text */
};

/* The zone: owner names not listed at all are NXDOMAIN unless special. */
static const struct rr zone[] = {
    {"multi.test", 15, 300, 10, "mx-b.multi.test"},
    {"multi.test", 15, 300, 20, "mx-last.multi.test"},
    {"multi.test", 15, 300, 10, "mx-a.multi.test"},
    {"multi.test", 15, 300, 5, "mx-first.multi.test"},
    {"nomx.test", 1, 300, 0, "127.0.0.9"},
    {"nomx.test", 28, 300, 0, "::1"},
    {"null.test", 15, 300, 0, ""},
    {"ttl0.test", 15, 0, 10, "mx.ttl0.test"},
    {"v4.test", 1, 300, 0, "127.0.0.7"},
    {"v4.test", 1, 300, 0, "127.0.0.8"},
};
/* names that exist but hold no record of the asked type (NOERROR/NODATA) */
static const char *const exists[] = {"nomx.test", "v4.test", "noaddr.test"};

static struct {
	uv_loop_t loop;
	uv_udp_t udp;
	uint16_t port;
	int queries;
	int seen_type[64];
	struct dns_resolver *r;
	int done;
	struct dns_result res;
} T;

static size_t
put_name(uint8_t *p, const char *name)
{
	size_t n = 0;

	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		p[n++] = (uint8_t)len;
		memcpy(p + n, name, len);
		n += len;
		name += len;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char space[2048];

	b->base = space;
	b->len = sizeof(space);
}

static void
recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from, unsigned flags)
{
	uint8_t out[1500];
	const uint8_t *q = (const uint8_t *)b->base;
	char qname[256];
	size_t off = 12, qn = 0, n, qend;
	uint16_t qtype, ancount = 0;
	int rcode = 0;
	bool found_name = false;

	if (nread < 12 || from == NULL)
		return;
	while (off < (size_t)nread && q[off] != 0) { /* labels to text */
		size_t len = q[off];

		if (qn > 0)
			qname[qn++] = '.';
		memcpy(qname + qn, q + off + 1, len);
		qn += len;
		off += len + 1;
	}
	qname[qn] = '\0';
	off++;
	qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	qend = off + 4;
	T.queries++;
	if (qtype < 64)
		T.seen_type[qtype]++;
	if (strcmp(qname, "silent.test") == 0)
		return;
	memcpy(out, q, qend); /* id + question */
	n = qend;
	if (strcmp(qname, "fail.test") == 0) {
		rcode = 2; /* SERVFAIL */
	} else {
		for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
			const struct rr *z = &zone[i];

			if (strcasecmp(z->owner, qname) != 0)
				continue;
			found_name = true;
			if (z->type != qtype)
				continue;
			put16(out + n, 0xc00c); /* pointer to the question name */
			put16(out + n + 2, (uint16_t)z->type);
			put16(out + n + 4, 1);
			out[n + 6] = (uint8_t)(z->ttl >> 24);
			out[n + 7] = (uint8_t)(z->ttl >> 16);
			out[n + 8] = (uint8_t)(z->ttl >> 8);
			out[n + 9] = (uint8_t)z->ttl;
			n += 12;
			if (qtype == 15) {
				size_t l;

				put16(out + n, z->pref);
				l = put_name(out + n + 2, z->data);
				put16(out + n - 2, (uint16_t)(l + 2));
				n += 2 + l;
			} else if (qtype == 1) {
				put16(out + n - 2, 4);
				inet_pton(AF_INET, z->data, out + n);
				n += 4;
			} else {
				put16(out + n - 2, 16);
				inet_pton(AF_INET6, z->data, out + n);
				n += 16;
			}
			ancount++;
		}
		for (size_t i = 0; i < sizeof(exists) / sizeof(exists[0]); i++)
			if (strcmp(exists[i], qname) == 0)
				found_name = true;
		if (!found_name)
			rcode = 3; /* NXDOMAIN */
	}
	out[2] = 0x81;                    /* QR, RD */
	out[3] = (uint8_t)(0x80 | rcode); /* RA */
	put16(out + 4, 1);
	put16(out + 6, ancount);
	put16(out + 8, 0);
	put16(out + 10, 0);
	uv_buf_t sb = uv_buf_init((char *)out, (unsigned)n);
	assert_true(uv_udp_try_send(u, &sb, 1, from) >= 0);
}

static void
udp_close_cb(uv_handle_t *h)
{
}

static int
setup(void **state)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char servers[64];
	struct mn_err err;

	memset(&T, 0, sizeof(T));
	log_set_level(LOG_ERROR);
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(uv_udp_init(&T.loop, &T.udp), 0);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_udp_bind(&T.udp, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_udp_getsockname(&T.udp, (struct sockaddr *)&ss, &len), 0);
	T.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	assert_int_equal(uv_udp_recv_start(&T.udp, alloc_cb, recv_cb), 0);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", T.port);
	assert_int_equal(dns_resolver_new(&T.loop, servers, &T.r, &err), 0);
	dns_set_timeout(T.r, 1, 1);
	return 0;
}

static int
teardown(void **state)
{
	dns_resolver_free(&T.r);
	uv_close((uv_handle_t *)&T.udp, udp_close_cb);
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	return 0;
}

static void
done_cb(const struct dns_result *res, void *arg)
{
	T.res = *res;
	T.done++;
}

static bool
is_done(void *arg)
{
	return T.done > 0;
}

static void
lookup(bool mx, const char *name)
{
	T.done = 0;
	memset(&T.res, 0xAA, sizeof(T.res));
	if (mx)
		assert_int_equal(dns_lookup_mx(T.r, name, done_cb, NULL), 0);
	else
		assert_int_equal(dns_lookup_addr(T.r, name, done_cb, NULL), 0);
	assert_int_equal(T.done, 0); /* never from inside the call */
	assert_true(uv_wait_until(&T.loop, is_done, NULL, WAIT_MS));
	assert_int_equal(T.done, 1);
}

static void
test_mx_sorted_and_shuffled(void **state)
{
	bool a_first = false, b_first = false;

	lookup(true, "multi.test");
	assert_int_equal(T.res.status, 0);
	assert_false(T.res.implicit_mx);
	assert_int_equal(T.res.nmx, 4);
	assert_string_equal(T.res.mx[0].host, "mx-first.multi.test");
	assert_int_equal(T.res.mx[0].pref, 5);
	assert_int_equal(T.res.mx[1].pref, 10);
	assert_int_equal(T.res.mx[2].pref, 10);
	assert_string_equal(T.res.mx[3].host, "mx-last.multi.test");
	assert_int_equal(T.res.mx[3].pref, 20);
	assert_int_equal(T.queries, 1);
	assert_int_equal(T.seen_type[15], 1);
	/* cache hits are reshuffled among equal preferences: both orders of
	 * mx-a/mx-b show up (chance of failing: 2^-63) */
	for (int i = 0; i < 64; i++) {
		lookup(true, "multi.test");
		assert_int_equal(T.res.nmx, 4);
		assert_string_equal(T.res.mx[0].host, "mx-first.multi.test");
		assert_string_equal(T.res.mx[3].host, "mx-last.multi.test");
		if (strcmp(T.res.mx[1].host, "mx-a.multi.test") == 0) {
			assert_string_equal(T.res.mx[2].host, "mx-b.multi.test");
			a_first = true;
		} else {
			assert_string_equal(T.res.mx[1].host, "mx-b.multi.test");
			assert_string_equal(T.res.mx[2].host, "mx-a.multi.test");
			b_first = true;
		}
	}
	assert_true(a_first && b_first);
	/* all from the cache (TTL 300) */
	assert_int_equal(T.queries, 1);
	assert_int_equal(dns_stats_queries(T.r), 1);
	/* a trailing dot and other case are the same name */
	lookup(true, "MULTI.test.");
	assert_int_equal(T.res.nmx, 4);
	assert_int_equal(T.queries, 1);
	dns_cache_clear(T.r);
	lookup(true, "multi.test");
	assert_int_equal(T.queries, 2);
}

static void
test_no_mx_falls_back_to_address(void **state)
{
	lookup(true, "nomx.test");
	assert_int_equal(T.res.status, 0);
	assert_true(T.res.implicit_mx);
	assert_int_equal(T.res.nmx, 1);
	assert_string_equal(T.res.mx[0].host, "nomx.test");
	lookup(false, "nomx.test");
	assert_int_equal(T.res.status, 0);
	assert_int_equal(T.res.naddr, 2);
	assert_string_equal(T.res.addr[0], "127.0.0.9");
	assert_string_equal(T.res.addr[1], "::1");
	assert_int_equal(T.seen_type[1], 1);
	assert_int_equal(T.seen_type[28], 1);

	lookup(false, "v4.test");
	assert_int_equal(T.res.status, 0);
	assert_int_equal(T.res.naddr, 2);
	assert_string_equal(T.res.addr[0], "127.0.0.7");
	assert_string_equal(T.res.addr[1], "127.0.0.8");

	/* a name with neither A nor AAAA: permanent */
	lookup(false, "noaddr.test");
	assert_int_equal(T.res.status, MN_ENOENT);
	assert_non_null(strstr(T.res.reason, "no A or AAAA"));
}

static void
test_nxdomain_permanent(void **state)
{
	lookup(true, "gone.test");
	assert_int_equal(T.res.status, MN_ENOENT);
	assert_string_equal(T.res.reason, "gone.test: no such domain (NXDOMAIN)");
	lookup(false, "gone.test");
	assert_int_equal(T.res.status, MN_ENOENT);
	/* NXDOMAIN on A: AAAA is not asked */
	assert_int_equal(T.seen_type[28], 0);
	/* negative answers are cached too */
	int before = T.queries;
	lookup(true, "gone.test");
	assert_int_equal(T.res.status, MN_ENOENT);
	assert_int_equal(T.queries, before);
}

static void
test_null_mx_permanent(void **state)
{
	lookup(true, "null.test");
	assert_int_equal(T.res.status, MN_ENOENT);
	assert_int_equal(T.res.nmx, 0);
	assert_string_equal(
	    T.res.reason, "null.test: domain does not accept mail (null MX, RFC 7505)");
}

static void
test_servfail_and_timeout_temporary(void **state)
{
	int before;

	lookup(true, "fail.test");
	assert_int_equal(T.res.status, MN_ETEMP);
	assert_non_null(strstr(T.res.reason, "fail.test"));
	before = T.queries;
	assert_true(before >= 1);
	lookup(true, "fail.test"); /* temporary failures are not cached */
	assert_int_equal(T.res.status, MN_ETEMP);
	assert_true(T.queries > before);

	lookup(true, "silent.test");
	assert_int_equal(T.res.status, MN_ETEMP);
	assert_string_equal(T.res.reason, "silent.test: DNS server failure or timeout");
}

static void
test_ttl_zero_not_cached(void **state)
{
	lookup(true, "ttl0.test");
	assert_int_equal(T.res.status, 0);
	assert_int_equal(T.res.nmx, 1);
	assert_string_equal(T.res.mx[0].host, "mx.ttl0.test");
	lookup(true, "ttl0.test");
	assert_int_equal(T.queries, 2);
}

static void
test_ip_literal_and_bad_names(void **state)
{
	lookup(false, "127.0.0.5");
	assert_int_equal(T.res.status, 0);
	assert_int_equal(T.res.naddr, 1);
	assert_string_equal(T.res.addr[0], "127.0.0.5");
	assert_int_equal(T.queries, 0);
	assert_int_equal(dns_lookup_mx(T.r, "", done_cb, NULL), MN_EINVAL);
	assert_int_equal(dns_lookup_mx(T.r, "a b.test", done_cb, NULL), MN_EINVAL);
}

static void
test_resolver_list(void **state)
{
	static const struct {
		const char *list;
		int rc;
	} cases[] = {
	    {"127.0.0.1", 0},
	    {"127.0.0.1:5353, 127.0.0.2 127.0.0.3", 0},
	    {"", 0},
	    {"[::1]:53", MN_EINVAL},
	    {"::1", MN_EINVAL},
	    {"localhost", MN_EINVAL},
	    {"127.0.0.1:0", MN_EINVAL},
	    {"127.0.0.1:70000", MN_EINVAL},
	};
	struct mn_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dns_resolver *r = NULL;

		assert_int_equal(dns_resolver_new(&T.loop, cases[i].list, &r, &err), cases[i].rc);
		if (cases[i].rc == 0)
			assert_non_null(r);
		dns_resolver_free(&r);
		assert_null(r);
	}
}

static void
test_free_with_lookup_in_flight(void **state)
{
	/* the callback must not run after free; the job's memory is released
	 * when the pool returns (ASan checks the rest) */
	T.done = 0;
	assert_int_equal(dns_lookup_mx(T.r, "silent.test", done_cb, NULL), 0);
	dns_resolver_free(&T.r);
	assert_int_equal(uv_wait_drain(&T.loop, 1), UV_EBUSY);
	uv_close((uv_handle_t *)&T.udp, udp_close_cb);
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	assert_int_equal(T.done, 0);
	/* teardown runs on a fresh loop */
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(uv_udp_init(&T.loop, &T.udp), 0);
}

/* --- dns_query_sync (thread-pool callers) and its cache ------------------- */

struct sync_job {
	uv_work_t w;
	const char *name;
	int type, rc, len;
	bool done;
};

static void
sync_work(uv_work_t *w)
{
	struct sync_job *j = w->data;
	unsigned char ans[4096];
	char reason[320];

	j->rc = dns_query_sync(
	    T.r, j->name, j->type, ans, sizeof(ans), &j->len, reason, sizeof(reason));
}

static void
sync_after(uv_work_t *w, int status)
{
	struct sync_job *j = w->data;

	j->done = true;
}

static bool
sync_done(void *arg)
{
	return ((struct sync_job *)arg)->done;
}

/* one blocking query on the pool while the loop serves the fake server */
static int
sync_query(const char *name, int type, int *len_out)
{
	struct sync_job j;

	memset(&j, 0, sizeof(j));
	j.name = name;
	j.type = type;
	j.w.data = &j;
	assert_int_equal(uv_queue_work(&T.loop, &j.w, sync_work, sync_after), 0);
	assert_true(uv_wait_until(&T.loop, sync_done, &j, WAIT_MS));
	if (len_out != NULL)
		*len_out = j.len;
	return j.rc;
}

static void
test_sync_query_cached_for_ttl(void **state)
{
	int len = 0;

	assert_int_equal(sync_query("v4.test", 1, &len), 0);
	assert_true(len > 12);
	assert_int_equal(sync_query("V4.test", 1, &len), 0); /* case-insensitive key */
	assert_true(len > 12);
	assert_int_equal(T.queries, 1);
	assert_int_equal(dns_stats_sync_queries(T.r), 1);
	/* NXDOMAIN and NODATA are cached too */
	assert_int_equal(sync_query("nope.test", 1, NULL), MN_ENOENT);
	assert_int_equal(sync_query("nope.test", 1, NULL), MN_ENOENT);
	assert_int_equal(sync_query("v4.test", 15, NULL), 1);
	assert_int_equal(sync_query("v4.test", 15, NULL), 1);
	assert_int_equal(dns_stats_sync_queries(T.r), 3);
	/* failures and TTL 0 are not */
	assert_int_equal(sync_query("fail.test", 1, NULL), MN_ETEMP);
	assert_int_equal(sync_query("fail.test", 1, NULL), MN_ETEMP);
	assert_int_equal(sync_query("ttl0.test", 15, NULL), 0);
	assert_int_equal(sync_query("ttl0.test", 15, NULL), 0);
	assert_int_equal(dns_stats_sync_queries(T.r), 7);
	/* cleared: asked again */
	dns_cache_clear(T.r);
	assert_int_equal(sync_query("v4.test", 1, NULL), 0);
	assert_int_equal(dns_stats_sync_queries(T.r), 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mx_sorted_and_shuffled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_mx_falls_back_to_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nxdomain_permanent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_mx_permanent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_servfail_and_timeout_temporary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ttl_zero_not_cached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ip_literal_and_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolver_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_lookup_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_query_cached_for_ttl, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
