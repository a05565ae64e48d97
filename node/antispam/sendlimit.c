/*
 * sendlimit.c - per-user, per-domain and node-wide send counters in fixed
 * hour/day windows, in a chained hash table (sendlimit.h).
 */
#include "node/antispam/sendlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define SENDLIMIT_BUCKETS 4096

static const uint64_t window_ms[SENDLIMIT_NWINDOW] = {3600ULL * 1000, 86400ULL * 1000};

struct sl_entry {
	struct sl_entry *next;
	uint64_t start[SENDLIMIT_NWINDOW]; /* 0: no window open */
	uint32_t msgs[SENDLIMIT_NWINDOW];
	uint32_t rcpts[SENDLIMIT_NWINDOW];
	bool alerted[SENDLIMIT_NWINDOW]; /* users only: alert sent in this window */
	char key[];                      /* "u:ADDRESS", "d:DOMAIN" or "s:" */
};

struct sendlimit {
	struct sendlimit_config cfg;
	size_t n;
	bool full_logged;
	struct sl_entry *b[SENDLIMIT_BUCKETS];
};

static uint64_t
real_clock(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct sendlimit *
sendlimit_new(const struct sendlimit_config *cfg)
{
	struct sendlimit *sl = xcalloc(1, sizeof(*sl));

	sl->cfg = *cfg;
	if (sl->cfg.max_tracked == 0)
		sl->cfg.max_tracked = SENDLIMIT_DEFAULT_MAX_TRACKED;
	if (sl->cfg.now_ms == NULL)
		sl->cfg.now_ms = real_clock;
	return sl;
}

void
sendlimit_free(struct sendlimit **slp)
{
	struct sendlimit *sl = *slp;

	if (sl == NULL)
		return;
	for (size_t i = 0; i < SENDLIMIT_BUCKETS; i++) {
		struct sl_entry *e = sl->b[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(sl);
	*slp = NULL;
}

bool
sendlimit_enabled(const struct sendlimit *sl)
{
	if (sl == NULL)
		return false;
	if (sl->cfg.override != NULL)
		return true; /* an account may have caps of its own */
	for (int s = 0; s < SENDLIMIT_NSCOPE; s++)
		for (int w = 0; w < SENDLIMIT_NWINDOW; w++)
			if (sl->cfg.caps[s].msgs[w] != 0 || sl->cfg.caps[s].rcpts[w] != 0)
				return true;
	return false;
}

size_t
sendlimit_tracked(const struct sendlimit *sl)
{
	return sl->n;
}

static uint32_t
hash(const char *k)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *k != '\0'; k++)
		h = (h ^ (unsigned char)*k) * 16777619u;
	return h;
}

/* a window that ended is closed: counts back to zero, alert re-armed */
static void
expire(struct sl_entry *e, uint64_t now)
{
	for (int w = 0; w < SENDLIMIT_NWINDOW; w++) {
		if (e->start[w] != 0 && now >= e->start[w] + window_ms[w]) {
			e->start[w] = 0;
			e->msgs[w] = e->rcpts[w] = 0;
			e->alerted[w] = false;
		}
	}
}

static bool
idle(const struct sl_entry *e)
{
	return e->start[SENDLIMIT_HOUR] == 0 && e->start[SENDLIMIT_DAY] == 0;
}

/* drop every entry whose windows all ended */
static void
sweep(struct sendlimit *sl, uint64_t now)
{
	for (size_t i = 0; i < SENDLIMIT_BUCKETS; i++) {
		struct sl_entry **pp = &sl->b[i];

		while (*pp != NULL) {
			struct sl_entry *e = *pp;

			expire(e, now);
			if (idle(e)) {
				*pp = e->next;
				free(e);
				sl->n--;
			} else {
				pp = &e->next;
			}
		}
	}
}

static struct sl_entry *
lookup(struct sendlimit *sl, const char *key, bool create, uint64_t now)
{
	uint32_t h = hash(key) % SENDLIMIT_BUCKETS;
	struct sl_entry *e;
	size_t len;

	for (e = sl->b[h]; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			expire(e, now);
			return e;
		}
	}
	if (!create)
		return NULL;
	if (sl->n >= sl->cfg.max_tracked)
		sweep(sl, now);
	if (sl->n >= sl->cfg.max_tracked) {
		if (!sl->full_logged)
			log_warn("sendlimit", "event=table_full max=%zu", sl->cfg.max_tracked);
		sl->full_logged = true;
		return NULL;
	}
	len = strlen(key);
	e = xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->key, key, len + 1);
	e->next = sl->b[h];
	sl->b[h] = e;
	sl->n++;
	return e;
}

static void
make_key(char *out, size_t outsz, enum sendlimit_scope scope, const char *user)
{
	const char *at = strrchr(user, '@');

	switch (scope) {
	case SENDLIMIT_USER:
		snprintf(out, outsz, "u:%.*s", SENDLIMIT_MAX_KEY, user);
		break;
	case SENDLIMIT_DOMAIN:
		snprintf(out, outsz, "d:%.*s", SENDLIMIT_MAX_KEY, at != NULL ? at + 1 : "");
		break;
	default:
		snprintf(out, outsz, "s:");
		break;
	}
}

/* the caps of scope s for user: the defaults, or what the override says */
static void
caps_of(
    const struct sendlimit *sl, enum sendlimit_scope s, const char *user, struct sendlimit_caps *c)
{
	const char *at = strrchr(user, '@');

	*c = sl->cfg.caps[s];
	if (sl->cfg.override == NULL || s == SENDLIMIT_SYSTEM)
		return;
	if (s == SENDLIMIT_DOMAIN && (at == NULL || at[1] == '\0'))
		return;
	sl->cfg.override(sl->cfg.override_arg, s, s == SENDLIMIT_USER ? user : at + 1, c);
}

static bool
caps_on(const struct sendlimit_caps *c)
{
	return c->msgs[0] || c->msgs[1] || c->rcpts[0] || c->rcpts[1];
}

bool
sendlimit_check(struct sendlimit *sl, const char *user, uint32_t msgs, uint32_t rcpts,
    struct sendlimit_hit *hit)
{
	uint64_t now;
	char key[SENDLIMIT_MAX_KEY + 3];

	if (!sendlimit_enabled(sl))
		return true;
	now = sl->cfg.now_ms(sl->cfg.clock_arg);
	for (int s = 0; s < SENDLIMIT_NSCOPE; s++) {
		struct sendlimit_caps caps, *c = &caps;
		struct sl_entry *e;

		caps_of(sl, (enum sendlimit_scope)s, user, &caps);
		if (!caps_on(c))
			continue;
		make_key(key, sizeof(key), (enum sendlimit_scope)s, user);
		if ((e = lookup(sl, key, false, now)) == NULL)
			continue; /* nothing counted: the first message always fits */
		for (int w = 0; w < SENDLIMIT_NWINDOW; w++) {
			bool over_m = c->msgs[w] != 0 && msgs > 0 && e->msgs[w] + msgs > c->msgs[w];
			bool over_r =
			    c->rcpts[w] != 0 && rcpts > 0 && e->rcpts[w] + rcpts > c->rcpts[w];
			struct sl_entry *u;

			if (!over_m && !over_r)
				continue;
			memset(hit, 0, sizeof(*hit));
			hit->scope = (enum sendlimit_scope)s;
			hit->window = (enum sendlimit_window)w;
			hit->rcpts = !over_m;
			hit->limit = over_m ? c->msgs[w] : c->rcpts[w];
			hit->used = over_m ? e->msgs[w] : e->rcpts[w];
			snprintf(hit->key, sizeof(hit->key), "%s", key + 2);
			/* the alert is the account's, whichever scope it hit;
			 * its window is the user entry's (opened now if the
			 * user has none, so a node-wide cap alerts once per
			 * account per window too) */
			make_key(key, sizeof(key), SENDLIMIT_USER, user);
			u = lookup(sl, key, true, now);
			if (u != NULL) {
				if (u->start[w] == 0)
					u->start[w] = now;
				hit->alert = !u->alerted[w];
				u->alerted[w] = true;
			}
			return false;
		}
	}
	return true;
}

void
sendlimit_count(struct sendlimit *sl, const char *user, uint32_t rcpts)
{
	uint64_t now;
	char key[SENDLIMIT_MAX_KEY + 3];

	if (!sendlimit_enabled(sl))
		return;
	now = sl->cfg.now_ms(sl->cfg.clock_arg);
	for (int s = 0; s < SENDLIMIT_NSCOPE; s++) {
		struct sendlimit_caps caps;
		struct sl_entry *e;

		caps_of(sl, (enum sendlimit_scope)s, user, &caps);
		if (!caps_on(&caps))
			continue;
		make_key(key, sizeof(key), (enum sendlimit_scope)s, user);
		if ((e = lookup(sl, key, true, now)) == NULL)
			continue;
		for (int w = 0; w < SENDLIMIT_NWINDOW; w++) {
			if (e->start[w] == 0)
				e->start[w] = now;
			e->msgs[w]++;
			e->rcpts[w] += rcpts;
		}
	}
}

void
sendlimit_describe(const struct sendlimit_hit *h, char *out, size_t outsz)
{
	const char *what = h->rcpts ? "recipients" : "messages";
	const char *per = h->window == SENDLIMIT_HOUR ? "hour" : "day";

	switch (h->scope) {
	case SENDLIMIT_USER:
		snprintf(out, outsz, "user %s may send %u %s per %s", h->key, h->limit, what, per);
		break;
	case SENDLIMIT_DOMAIN:
		snprintf(
		    out, outsz, "domain %s may send %u %s per %s", h->key, h->limit, what, per);
		break;
	default:
		snprintf(out, outsz, "this server sends at most %u %s per %s", h->limit, what, per);
		break;
	}
}

char *
sendlimit_alert_build(const struct sendlimit_hit *h, const char *hostname, const char *user,
    const char *ip, const char *msgid, int64_t now, char **rcpt_out)
{
	const char *at = strrchr(user, '@');
	char date[64], what[SENDLIMIT_MAX_KEY + 96];
	time_t t = (time_t)now;
	struct tm tm;
	char *msg;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	sendlimit_describe(h, what, sizeof(what));
	*rcpt_out = xasprintf("postmaster@%s", at != NULL ? at + 1 : hostname);
	msg = xasprintf("From: Mail System <MAILER-DAEMON@%s>\r\n"
	                "To: <%s>\r\n"
	                "Subject: Send limit reached by %s\r\n"
	                "Date: %s\r\n"
	                "Message-ID: <%s>\r\n"
	                "Auto-Submitted: auto-generated\r\n"
	                "MIME-Version: 1.0\r\n"
	                "Content-Type: text/plain; charset=utf-8\r\n"
	                "\r\n"
	                "The account %s reached a send limit on %s:\r\n"
	                "%s.\r\n"
	                "\r\n"
	                "Further messages are refused until the %s window ends.\r\n"
	                "Last client address: %s\r\n"
	                "\r\n"
	                "If the account's owner did not send this much mail, its password\r\n"
	                "may be stolen: change it (mailctl user passwd) and check the\r\n"
	                "queue (mailctl queue list).\r\n",
	    hostname, *rcpt_out, user, date, msgid, user, hostname, what,
	    h->window == SENDLIMIT_HOUR ? "hour" : "day", ip);
	return msg;
}
