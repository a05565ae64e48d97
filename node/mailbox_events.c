/*
 * mailbox_events.c - the change hub of mailbox_events.h: a small hash table
 * of users, each with a list of watchers. A few thousand sessions at most,
 * so a fixed bucket array with chaining is plenty.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/mailbox_events.h"

#define EVENTS_BUCKETS 1024

struct mailbox_watch {
	char *user;
	mailbox_events_cb cb;
	mailbox_events_cb kick; /* mailbox_events_kick; may be NULL */
	void *arg;
	struct mailbox_watch *next; /* same bucket */
	/* set while a notify walks the bucket; unwatch then only marks it */
	bool dead;
};

static struct mailbox_watch *buckets[EVENTS_BUCKETS];
static int notifying;
static bool need_sweep;

static size_t
bucket_of(const char *user)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = user; *p; p++) {
		h ^= (uint8_t)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		h *= 1099511628211ULL;
	}
	return (size_t)(h % EVENTS_BUCKETS);
}

struct mailbox_watch *
mailbox_events_watch(const char *user, mailbox_events_cb cb, void *arg)
{
	struct mailbox_watch *w = xcalloc(1, sizeof(*w));
	size_t b = bucket_of(user);

	w->user = xstrdup(user);
	w->cb = cb;
	w->arg = arg;
	w->next = buckets[b];
	buckets[b] = w;
	return w;
}

static void
sweep(void)
{
	for (size_t b = 0; b < EVENTS_BUCKETS; b++) {
		struct mailbox_watch **pp = &buckets[b];

		while (*pp != NULL) {
			struct mailbox_watch *w = *pp;

			if (w->dead) {
				*pp = w->next;
				free(w->user);
				free(w);
			} else {
				pp = &w->next;
			}
		}
	}
	need_sweep = false;
}

void
mailbox_events_unwatch(struct mailbox_watch **wp)
{
	struct mailbox_watch *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	w->dead = true;
	if (notifying > 0) {
		/* a callback closed its session: free after the walk */
		need_sweep = true;
		return;
	}
	for (struct mailbox_watch **pp = &buckets[bucket_of(w->user)]; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	free(w->user);
	free(w);
}

void
mailbox_events_notify(const char *user, const struct mailbox_watch *origin)
{
	notifying++;
	for (struct mailbox_watch *w = buckets[bucket_of(user)]; w; w = w->next) {
		if (w != origin && !w->dead && ascii_casecmp(w->user, user) == 0)
			w->cb(w->arg);
	}
	notifying--;
	if (notifying == 0 && need_sweep)
		sweep();
}

void
mailbox_events_set_kick(struct mailbox_watch *w, mailbox_events_cb kick)
{
	if (w != NULL)
		w->kick = kick;
}

void
mailbox_events_kick(const char *user)
{
	notifying++;
	for (struct mailbox_watch *w = buckets[bucket_of(user)]; w; w = w->next) {
		if (!w->dead && w->kick != NULL && ascii_casecmp(w->user, user) == 0)
			w->kick(w->arg);
	}
	notifying--;
	if (notifying == 0 && need_sweep)
		sweep();
}
