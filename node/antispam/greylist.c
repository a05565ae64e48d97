/*
 * greylist.c - RFC 6647 triplets in a chained hash table (greylist.h),
 * and the file that carries them over a restart: a first line
 * "mailnode-greylist 1", then one line per triplet "FIRST PASSED KEY"
 * (milliseconds; KEY is "network|sender|recipient", lower case, to the
 * line end).
 */
#include "node/antispam/greylist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/statefile.h"
#include "lib/xalloc.h"

#define GREYLIST_BUCKETS 4096

struct gl_entry {
	struct gl_entry *next;
	uint64_t first_ms;  /* first attempt */
	uint64_t passed_ms; /* 0: still waiting; else when it passed (last use) */
	char key[];
};

struct greylist {
	uint64_t delay, window, pass;
	size_t max, n;
	struct gl_entry *b[GREYLIST_BUCKETS];
};

struct greylist *
greylist_new(uint64_t delay_ms, uint64_t retry_window_ms, uint64_t pass_ms, size_t max_entries)
{
	struct greylist *g = xcalloc(1, sizeof(*g));

	g->delay = delay_ms;
	g->window = retry_window_ms > delay_ms ? retry_window_ms : delay_ms;
	g->pass = pass_ms;
	g->max = max_entries;
	return g;
}

void
greylist_free(struct greylist **gp)
{
	struct greylist *g = *gp;

	if (g == NULL)
		return;
	for (size_t i = 0; i < GREYLIST_BUCKETS; i++)
		while (g->b[i] != NULL) {
			struct gl_entry *e = g->b[i];

			g->b[i] = e->next;
			free(e);
		}
	free(g);
	*gp = NULL;
}

size_t
greylist_count(const struct greylist *g)
{
	return g->n;
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* network of ip: IPv4 /24, IPv6 /64 (the address itself when unparsable) */
static void
network(const char *ip, char *out, size_t outsz)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, outsz, "%u.%u.%u.0/24", a[0], a[1], a[2]);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		char tmp[INET6_ADDRSTRLEN];

		memset(a + 8, 0, 8);
		inet_ntop(AF_INET6, a, tmp, sizeof(tmp));
		snprintf(out, outsz, "%s/64", tmp);
	} else {
		snprintf(out, outsz, "%.60s", ip);
	}
}

static bool
expired(const struct greylist *g, const struct gl_entry *e, uint64_t now)
{
	if (e->passed_ms != 0)
		return now - e->passed_ms > g->pass;
	return now - e->first_ms > g->window;
}

static void
sweep(struct greylist *g, uint64_t now)
{
	for (size_t i = 0; i < GREYLIST_BUCKETS; i++) {
		struct gl_entry **pp = &g->b[i];

		while (*pp != NULL) {
			if (expired(g, *pp, now)) {
				struct gl_entry *e = *pp;

				*pp = e->next;
				free(e);
				g->n--;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

int
greylist_check(struct greylist *g, const char *ip, const char *sender, const char *rcpt,
    uint64_t now_ms, uint64_t *wait_ms_out)
{
	char net[80], key[GREYLIST_KEY_MAX];
	struct gl_entry *e, **pp;
	uint32_t h;

	*wait_ms_out = 0;
	network(ip, net, sizeof(net));
	snprintf(key, sizeof(key), "%s|%.256s|%.256s", net, sender, rcpt);
	ascii_lower(key);
	h = hash(key) % GREYLIST_BUCKETS;
	for (pp = &g->b[h]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->key, key) == 0)
			break;
	if (e != NULL && expired(g, e, now_ms)) {
		/* a retry after the window (or a pass forgotten): start over */
		*pp = e->next;
		free(e);
		g->n--;
		e = NULL;
	}
	if (e == NULL) {
		if (g->n >= g->max)
			sweep(g, now_ms);
		if (g->n >= g->max) {
			log_warn("antispam", "event=greylist_full entries=%zu action=pass", g->n);
			return 0;
		}
		e = xmalloc(sizeof(*e) + strlen(key) + 1);
		memcpy(e->key, key, strlen(key) + 1);
		e->first_ms = now_ms;
		e->passed_ms = 0;
		e->next = g->b[h];
		g->b[h] = e;
		g->n++;
		*wait_ms_out = g->delay;
		return g->delay == 0 ? 0 : 1;
	}
	if (e->passed_ms != 0 || now_ms - e->first_ms >= g->delay) {
		e->passed_ms = now_ms; /* each use extends the pass lifetime */
		return 0;
	}
	*wait_ms_out = g->delay - (now_ms - e->first_ms);
	return 1;
}

#define GREYLIST_FILE_MAGIC "mailnode-greylist 1"

struct gl_save {
	const struct greylist *g;
	uint64_t now_ms;
	size_t n;
};

static void
save_entries(FILE *f, void *arg)
{
	struct gl_save *sv = arg;

	for (size_t i = 0; i < GREYLIST_BUCKETS; i++)
		for (const struct gl_entry *e = sv->g->b[i]; e != NULL; e = e->next) {
			if (expired(sv->g, e, sv->now_ms) || strchr(e->key, '\n') != NULL)
				continue;
			fprintf(
			    f, "%" PRIu64 " %" PRIu64 " %s\n", e->first_ms, e->passed_ms, e->key);
			sv->n++;
		}
}

int
greylist_save(const struct greylist *g, const char *path, uint64_t now_ms, struct mn_err *err)
{
	struct gl_save sv = {g, now_ms, 0};
	int rc = statefile_save(path, GREYLIST_FILE_MAGIC, save_entries, &sv, err);

	if (rc == 0)
		log_info("antispam", "event=greylist_saved entries=%zu", sv.n);
	return rc;
}

/* one "FIRST PASSED KEY" line (no line end) into the table */
static void
load_line(struct greylist *g, char *line, uint64_t now_ms)
{
	char *p = line, *end;
	unsigned long long first, passed;
	struct gl_entry *e;
	size_t kl;
	uint32_t h;

	errno = 0;
	first = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0)
		return;
	p = end + 1;
	passed = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0)
		return;
	p = end + 1;
	kl = strlen(p);
	if (kl == 0 || kl >= GREYLIST_KEY_MAX || g->n >= g->max)
		return;
	h = hash(p) % GREYLIST_BUCKETS;
	for (e = g->b[h]; e != NULL; e = e->next)
		if (strcmp(e->key, p) == 0)
			return; /* a duplicate line: the first wins */
	e = xmalloc(sizeof(*e) + kl + 1);
	memcpy(e->key, p, kl + 1);
	e->first_ms = first;
	e->passed_ms = passed;
	/* a clock set back: times ahead of now would never expire */
	if (e->first_ms > now_ms || e->passed_ms > now_ms || expired(g, e, now_ms)) {
		free(e);
		return;
	}
	e->next = g->b[h];
	g->b[h] = e;
	g->n++;
}

struct gl_load {
	struct greylist *g;
	uint64_t now_ms;
};

static void
load_entry(char *line, void *arg)
{
	struct gl_load *ld = arg;

	load_line(ld->g, line, ld->now_ms);
}

int
greylist_load(struct greylist *g, const char *path, uint64_t now_ms, struct mn_err *err)
{
	struct gl_load ld = {g, now_ms};
	int rc =
	    statefile_load(path, GREYLIST_FILE_MAGIC, GREYLIST_KEY_MAX + 63, load_entry, &ld, err);

	if (rc == MN_EPARSE) {
		log_warn(
		    "antispam", "event=greylist_load path=%s reason=\"not a greylist file\"", path);
		rc = 0;
	}
	if (rc == 0)
		log_info("antispam", "event=greylist_loaded entries=%zu", g->n);
	return rc;
}
