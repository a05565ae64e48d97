/*
 * limits.c - per-IP connection admission and login-failure blocking shared
 * by every service (see limits.h; SPEC §10, issue 8).
 *
 * Two tables (IPs, user names), each a hash table with chaining plus an
 * LRU list, capped at max_tracked entries. Counters are sliding windows of
 * WIN_BUCKETS fixed time buckets: the sum covers the last window to within
 * one bucket, and an entry's size never depends on the traffic.
 *
 * The blocks (not the counters) are carried over a restart in a file:
 * "mailnode-blocks 1", then one line per block "ip|user UNTIL_MS FAILURES
 * KEY" (KEY to the line end).
 */
#include "node/limits.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/statefile.h"
#include "lib/xalloc.h"

#define LIMITS_SVC "limits"
#define WIN_BUCKETS 10
#define RATE_WINDOW_MS 60000ULL
/* Eviction looks at most this many LRU entries for one that holds no
 * connection and no block before it evicts the oldest anyway. */
#define EVICT_SCAN 64

struct window {
	uint64_t last; /* absolute index of the newest bucket */
	uint32_t b[WIN_BUCKETS];
};

struct lim_entry {
	char *key;
	uint64_t hash;
	struct lim_entry *hnext;
	struct lim_entry *prev, *next; /* LRU: head is the most recent */
	uint32_t conns[LIMITS_NCLASS];
	struct window rate;
	struct window fails;
	uint64_t blocked_until; /* 0: not blocked */
	uint32_t block_failures;
};

struct lim_table {
	struct lim_entry **slots;
	size_t nslots; /* power of two */
	size_t count, max;
	struct lim_entry *head, *tail;
};

struct cidr {
	int family;
	uint8_t addr[16];
	unsigned prefix;
};

struct limits {
	struct limits_config cfg;
	struct lim_table ips, users;
	struct cidr exempt[LIMITS_MAX_EXEMPT];
	size_t nexempt;
	uint64_t seed;
};

static uint64_t
real_clock(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
now_ms(const struct limits *l)
{
	return l->cfg.now_ms(l->cfg.clock_arg);
}

/* --- sliding windows --------------------------------------------------------- */

static void
window_advance(struct window *w, uint64_t now, uint64_t width)
{
	uint64_t idx = now / width;

	if (idx <= w->last)
		return; /* same bucket (or the clock stepped back) */
	if (idx - w->last >= WIN_BUCKETS)
		memset(w->b, 0, sizeof(w->b));
	else
		for (uint64_t k = w->last + 1; k <= idx; k++)
			w->b[k % WIN_BUCKETS] = 0;
	w->last = idx;
}

static uint32_t
window_add(struct window *w, uint64_t now, uint64_t width)
{
	uint32_t sum = 0;

	window_advance(w, now, width);
	if (w->b[w->last % WIN_BUCKETS] < UINT32_MAX)
		w->b[w->last % WIN_BUCKETS]++;
	for (size_t i = 0; i < WIN_BUCKETS; i++)
		sum += w->b[i];
	return sum;
}

static void
window_reset(struct window *w, uint64_t now, uint64_t width)
{
	memset(w->b, 0, sizeof(w->b));
	w->last = now / width;
}

static uint64_t
rate_width(void)
{
	return RATE_WINDOW_MS / WIN_BUCKETS;
}

static uint64_t
fail_width(const struct limits *l)
{
	uint64_t w = l->cfg.auth_window_ms / WIN_BUCKETS;

	return w ? w : 1;
}

/* --- tables ------------------------------------------------------------------ */

static uint64_t
key_hash(const struct limits *l, const char *key)
{
	uint64_t h = 14695981039346656037ULL ^ l->seed;

	/* FNV-1a, seeded per process so that chosen keys cannot be aimed at
	 * one chain */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static void
table_init(struct lim_table *t, size_t max)
{
	t->max = max;
	t->nslots = 16;
	while (t->nslots < max)
		t->nslots <<= 1;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of chain heads (pointers) */
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
}

static void
lru_unlink(struct lim_table *t, struct lim_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push_head(struct lim_table *t, struct lim_entry *e)
{
	e->prev = NULL;
	e->next = t->head;
	if (t->head)
		t->head->prev = e;
	t->head = e;
	if (t->tail == NULL)
		t->tail = e;
}

static void
table_remove(struct lim_table *t, struct lim_entry *e)
{
	struct lim_entry **pp = &t->slots[e->hash & (t->nslots - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	t->count--;
	free(e->key);
	free(e);
}

/*
 * Every entry is on the LRU list (lru_push_head at insert), so freeing
 * along it frees them all; the hash chains go with slots. (table_remove per
 * entry would also walk each chain; clang-analyzer read that loop as a use
 * after free, assuming a head with a prev pointer, which lru_push_head
 * never makes.)
 */
static void
table_fini(struct lim_table *t)
{
	struct lim_entry *e = t->head;

	while (e != NULL) {
		struct lim_entry *next = e->next;

		free(e->key);
		free(e);
		e = next;
	}
	t->head = t->tail = NULL;
	t->count = 0;
	free(t->slots);
	t->slots = NULL;
}

static bool
entry_pinned(const struct lim_entry *e, uint64_t now)
{
	for (size_t i = 0; i < LIMITS_NCLASS; i++)
		if (e->conns[i] > 0)
			return true;
	return e->blocked_until > now;
}

static void
table_evict(struct lim_table *t, uint64_t now)
{
	/* Entries with open connections or an active block are worth more
	 * than the counters of a quiet address: skip (and rotate) them. */
	for (size_t i = 0; i < EVICT_SCAN && t->tail != NULL; i++) {
		struct lim_entry *e = t->tail;

		if (!entry_pinned(e, now)) {
			table_remove(t, e);
			return;
		}
		lru_unlink(t, e);
		lru_push_head(t, e);
	}
	if (t->tail != NULL) {
		log_warn(LIMITS_SVC, "event=evict_pinned entries=%zu", t->count);
		table_remove(t, t->tail);
	}
}

static struct lim_entry *
table_get(struct limits *l, struct lim_table *t, const char *key, bool create)
{
	uint64_t h = key_hash(l, key), now;
	struct lim_entry *e;

	for (e = t->slots[h & (t->nslots - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0) {
			lru_unlink(t, e);
			lru_push_head(t, e);
			return e;
		}
	if (!create)
		return NULL;
	now = now_ms(l);
	if (t->count >= t->max)
		table_evict(t, now);
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->hash = h;
	window_reset(&e->rate, now, rate_width());
	window_reset(&e->fails, now, fail_width(l));
	e->hnext = t->slots[h & (t->nslots - 1)];
	t->slots[h & (t->nslots - 1)] = e;
	lru_push_head(t, e);
	t->count++;
	return e;
}

/* user names compare case-insensitively (addresses are stored lower-case) */
static void
user_key(const char *user, char out[LIMITS_MAX_KEY + 1])
{
	size_t i;

	for (i = 0; i < LIMITS_MAX_KEY && user[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)user[i]);
	out[i] = '\0';
}

/* --- exempt CIDRs --------------------------------------------------------------- */

static int
ip_parse(const char *s, int *family, uint8_t addr[16])
{
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		/* ::ffff:a.b.c.d is the IPv4 address (dual-stack sockets) */
		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			*family = AF_INET;
		} else {
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

static int
cidr_parse(const char *s, struct cidr *out)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned maxp;
	char *end;

	if (len == 0 || len >= sizeof(ip))
		return -1;
	memcpy(ip, s, len);
	ip[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (ip_parse(ip, &out->family, out->addr) != 0)
		return -1;
	maxp = out->family == AF_INET ? 32 : 128;
	out->prefix = maxp;
	if (slash != NULL) {
		unsigned long p;

		if (!isdigit((unsigned char)slash[1]))
			return -1;
		p = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || p > maxp)
			return -1;
		out->prefix = (unsigned)p;
	}
	return 0;
}

static bool
cidr_match(const struct cidr *c, int family, const uint8_t addr[16])
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family || memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static int
exempt_load(struct limits *l, const char *list, struct mn_err *err)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t n;
		char item[80];

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (n >= sizeof(item))
			return mn_err_set(err, MN_EINVAL, "exempt: entry too long");
		memcpy(item, p, n);
		item[n] = '\0';
		if (l->nexempt >= LIMITS_MAX_EXEMPT)
			return mn_err_set(
			    err, MN_EINVAL, "exempt: more than %d entries", LIMITS_MAX_EXEMPT);
		if (cidr_parse(item, &l->exempt[l->nexempt]) != 0)
			return mn_err_set(
			    err, MN_EINVAL, "exempt: '%s' is not an IP or CIDR", item);
		l->nexempt++;
		p += n;
	}
	return 0;
}

bool
limits_ip_exempt(const struct limits *l, const char *ip)
{
	uint8_t addr[16];
	int family;

	if (l->nexempt == 0 || ip == NULL || ip_parse(ip, &family, addr) != 0)
		return false;
	for (size_t i = 0; i < l->nexempt; i++)
		if (cidr_match(&l->exempt[i], family, addr))
			return true;
	return false;
}

/* --- lifetime ------------------------------------------------------------------- */

void
limits_config_defaults(struct limits_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conn_per_ip = LIMITS_DEFAULT_MAX_CONN_PER_IP;
	cfg->conn_per_minute = LIMITS_DEFAULT_CONN_PER_MINUTE;
	cfg->auth_fail_ip = LIMITS_DEFAULT_AUTH_FAIL_IP;
	cfg->auth_fail_user = LIMITS_DEFAULT_AUTH_FAIL_USER;
	cfg->auth_window_ms = LIMITS_DEFAULT_AUTH_WINDOW_MS;
	cfg->block_ms = LIMITS_DEFAULT_BLOCK_MS;
	cfg->max_tracked = LIMITS_DEFAULT_MAX_TRACKED;
}

int
limits_new(const struct limits_config *cfg, struct limits **out, struct mn_err *err)
{
	struct limits *l = xcalloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	l->cfg = *cfg;
	l->cfg.exempt = NULL; /* parsed, not kept */
	if (l->cfg.auth_window_ms == 0)
		l->cfg.auth_window_ms = LIMITS_DEFAULT_AUTH_WINDOW_MS;
	if (l->cfg.block_ms == 0)
		l->cfg.block_ms = LIMITS_DEFAULT_BLOCK_MS;
	if (l->cfg.max_tracked == 0)
		l->cfg.max_tracked = LIMITS_DEFAULT_MAX_TRACKED;
	if (l->cfg.now_ms == NULL)
		l->cfg.now_ms = real_clock;
	if (getrandom(&l->seed, sizeof(l->seed), 0) != sizeof(l->seed))
		l->seed = real_clock(NULL);
	if ((rc = exempt_load(l, cfg->exempt, err)) != 0) {
		free(l);
		return rc;
	}
	table_init(&l->ips, l->cfg.max_tracked);
	table_init(&l->users, l->cfg.max_tracked);
	*out = l;
	return 0;
}

void
limits_free(struct limits **lp)
{
	struct limits *l = *lp;

	if (l == NULL)
		return;
	table_fini(&l->ips);
	table_fini(&l->users);
	free(l);
	*lp = NULL;
}

size_t
limits_tracked(const struct limits *l)
{
	return l->ips.count + l->users.count;
}

/* --- connections -------------------------------------------------------------- */

static const char *const class_names[LIMITS_NCLASS] = {"smtp", "imap", "pop3", "http"};

enum limits_verdict
limits_conn_open(struct limits *l, enum limits_class cls, const char *ip)
{
	struct lim_entry *e;
	uint32_t rate;

	if (ip == NULL || *ip == '\0' || limits_ip_exempt(l, ip))
		return LIMITS_OK;
	e = table_get(l, &l->ips, ip, true);
	rate = window_add(&e->rate, now_ms(l), rate_width());
	if (l->cfg.max_conn_per_ip != 0 && e->conns[cls] >= l->cfg.max_conn_per_ip) {
		log_warn(LIMITS_SVC,
		    "event=conn_refused service=%s ip=%s reason=concurrent count=%u",
		    class_names[cls], ip, e->conns[cls]);
		return LIMITS_TOO_MANY;
	}
	if (l->cfg.conn_per_minute != 0 && rate > l->cfg.conn_per_minute) {
		log_warn(LIMITS_SVC,
		    "event=conn_refused service=%s ip=%s reason=rate per_minute=%u",
		    class_names[cls], ip, rate);
		return LIMITS_TOO_FAST;
	}
	e->conns[cls]++;
	return LIMITS_OK;
}

void
limits_conn_closed(struct limits *l, enum limits_class cls, const char *ip)
{
	struct lim_entry *e;

	if (ip == NULL || *ip == '\0' || limits_ip_exempt(l, ip))
		return;
	/* missing only if it was evicted while pinned (logged then) */
	e = table_get(l, &l->ips, ip, false);
	if (e != NULL && e->conns[cls] > 0)
		e->conns[cls]--;
}

uint32_t
limits_conn_count(struct limits *l, enum limits_class cls, const char *ip)
{
	struct lim_entry *e = table_get(l, &l->ips, ip, false);

	return e ? e->conns[cls] : 0;
}

/* --- authentication ------------------------------------------------------------ */

/* true while e is blocked; an expired block is lifted (with its counts) */
static bool
entry_blocked(struct limits *l, struct lim_entry *e, uint64_t now)
{
	if (e == NULL || e->blocked_until == 0)
		return false;
	if (e->blocked_until > now)
		return true;
	e->blocked_until = 0;
	e->block_failures = 0;
	window_reset(&e->fails, now, fail_width(l));
	return false;
}

bool
limits_auth_allowed(struct limits *l, const char *ip, const char *user)
{
	uint64_t now = now_ms(l);
	char ukey[LIMITS_MAX_KEY + 1];

	if (ip != NULL && *ip != '\0' && !limits_ip_exempt(l, ip) &&
	    entry_blocked(l, table_get(l, &l->ips, ip, false), now))
		return false;
	if (user != NULL && *user != '\0') {
		user_key(user, ukey);
		if (entry_blocked(l, table_get(l, &l->users, ukey, false), now))
			return false;
	}
	return true;
}

static void
count_failure(
    struct limits *l, struct lim_entry *e, uint32_t threshold, const char *kind, uint64_t now)
{
	uint32_t sum;
	char esc[128];

	if (entry_blocked(l, e, now) || threshold == 0)
		return; /* a verdict that was in flight when the block began */
	sum = window_add(&e->fails, now, fail_width(l));
	if (sum < threshold)
		return;
	e->blocked_until = now + l->cfg.block_ms;
	e->block_failures = sum;
	log_warn(LIMITS_SVC, "event=blocked kind=%s key=\"%s\" failures=%u block_s=%llu", kind,
	    log_escape(esc, sizeof(esc), e->key, strlen(e->key)), sum,
	    (unsigned long long)(l->cfg.block_ms / 1000));
}

void
limits_auth_failed(struct limits *l, const char *ip, const char *user)
{
	uint64_t now = now_ms(l);
	char ukey[LIMITS_MAX_KEY + 1];

	if (ip != NULL && *ip != '\0' && !limits_ip_exempt(l, ip))
		count_failure(l, table_get(l, &l->ips, ip, true), l->cfg.auth_fail_ip, "ip", now);
	if (user != NULL && *user != '\0') {
		user_key(user, ukey);
		count_failure(
		    l, table_get(l, &l->users, ukey, true), l->cfg.auth_fail_user, "user", now);
	}
}

void
limits_auth_ok(struct limits *l, const char *ip, const char *user)
{
	char ukey[LIMITS_MAX_KEY + 1];
	struct lim_entry *e;

	(void)ip;
	if (user == NULL || *user == '\0')
		return;
	user_key(user, ukey);
	e = table_get(l, &l->users, ukey, false);
	if (e != NULL && e->blocked_until == 0)
		window_reset(&e->fails, now_ms(l), fail_width(l));
}

static void
list_table(struct limits *l, struct lim_table *t, enum limits_kind kind, uint64_t now,
    struct limits_blocked **out, size_t *n, size_t *cap)
{
	for (struct lim_entry *e = t->head; e != NULL; e = e->next) {
		struct limits_blocked *b;

		if (!entry_blocked(l, e, now))
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			*out = xrealloc(*out, *cap * sizeof(**out));
		}
		b = &(*out)[(*n)++];
		memset(b, 0, sizeof(*b));
		b->kind = kind;
		snprintf(b->key, sizeof(b->key), "%s", e->key);
		b->until_ms = e->blocked_until;
		b->failures = e->block_failures;
	}
}

void
limits_blocked_list(struct limits *l, struct limits_blocked **out, size_t *n)
{
	uint64_t now = now_ms(l);
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	list_table(l, &l->ips, LIMITS_KIND_IP, now, out, n, &cap);
	list_table(l, &l->users, LIMITS_KIND_USER, now, out, n, &cap);
}

static bool
release_one(struct limits *l, struct lim_table *t, const char *key, uint64_t now)
{
	struct lim_entry *e = table_get(l, t, key, false);

	if (e == NULL || !entry_blocked(l, e, now))
		return false;
	e->blocked_until = 0;
	e->block_failures = 0;
	window_reset(&e->fails, now, fail_width(l));
	return true;
}

int
limits_release(struct limits *l, const char *key)
{
	uint64_t now = now_ms(l);
	char ukey[LIMITS_MAX_KEY + 1], esc[128];
	bool any;

	user_key(key, ukey);
	any = release_one(l, &l->ips, key, now);
	any = release_one(l, &l->users, ukey, now) || any;
	if (!any)
		return MN_ENOENT;
	log_info(LIMITS_SVC, "event=released key=\"%s\"",
	    log_escape(esc, sizeof(esc), key, strlen(key)));
	return 0;
}

#define LIMITS_FILE_MAGIC "mailnode-blocks 1"

struct blocks_save {
	struct limits_blocked *b;
	size_t n, kept;
};

static void
save_blocks(FILE *f, void *arg)
{
	struct blocks_save *sv = arg;

	for (size_t i = 0; i < sv->n; i++) {
		if (strpbrk(sv->b[i].key, "\r\n") != NULL)
			continue; /* a login name no line can hold */
		fprintf(f, "%s %" PRIu64 " %" PRIu32 " %s\n",
		    sv->b[i].kind == LIMITS_KIND_IP ? "ip" : "user", sv->b[i].until_ms,
		    sv->b[i].failures, sv->b[i].key);
		sv->kept++;
	}
}

int
limits_save(struct limits *l, const char *path, struct mn_err *err)
{
	struct blocks_save sv = {NULL, 0, 0};
	int rc;

	limits_blocked_list(l, &sv.b, &sv.n);
	rc = statefile_save(path, LIMITS_FILE_MAGIC, save_blocks, &sv, err);
	free(sv.b);
	if (rc == 0)
		log_info(LIMITS_SVC, "event=blocks_saved blocks=%zu", sv.kept);
	return rc;
}

/* one "KIND UNTIL FAILURES KEY" line (no line end) */
static bool
load_line(struct limits *l, char *line, uint64_t now)
{
	char *p = line, *end;
	struct lim_table *t;
	struct lim_entry *e;
	unsigned long long until, failures;

	if (strncmp(p, "ip ", 3) == 0) {
		t = &l->ips;
		p += 3;
	} else if (strncmp(p, "user ", 5) == 0) {
		t = &l->users;
		p += 5;
	} else {
		return false;
	}
	errno = 0;
	until = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0)
		return false;
	p = end + 1;
	failures = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0 || failures > UINT32_MAX)
		return false;
	p = end + 1;
	if (*p == '\0' || strlen(p) > LIMITS_MAX_KEY || until <= now)
		return false;
	/* never more than a block lasts from now (a clock set back) */
	if (until > now + l->cfg.block_ms)
		until = now + l->cfg.block_ms;
	if ((e = table_get(l, t, p, true)) == NULL)
		return false;
	e->blocked_until = until;
	e->block_failures = (uint32_t)failures;
	return true;
}

struct blocks_load {
	struct limits *l;
	uint64_t now;
	size_t n;
};

static void
load_block(char *line, void *arg)
{
	struct blocks_load *ld = arg;

	ld->n += load_line(ld->l, line, ld->now);
}

int
limits_load(struct limits *l, const char *path, struct mn_err *err)
{
	struct blocks_load ld = {l, now_ms(l), 0};
	int rc = statefile_load(path, LIMITS_FILE_MAGIC, LIMITS_MAX_KEY + 63, load_block, &ld, err);

	if (rc == MN_EPARSE) /* not our file: nothing restored */
		rc = 0;
	if (rc == 0)
		log_info(LIMITS_SVC, "event=blocks_loaded blocks=%zu", ld.n);
	return rc;
}
