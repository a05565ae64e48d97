/*
 * recent.c - the per-folder \Recent marks of recent.h: a fixed bucket array
 * of (user, folder) entries with chaining, most recently used first in each
 * bucket, bounded per bucket, under one mutex. Every call holds the mutex
 * for a hash lookup and a walk over at most one folder listing the caller
 * already has in memory: no I/O under the lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "node/imap/recent.h"

struct recent_entry {
	struct recent_entry *next;
	uint32_t uidvalidity;
	uint32_t mark;
	size_t keylen;
	char key[]; /* user '\0' folder */
};

static pthread_mutex_t recent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct recent_entry *buckets[RECENT_BUCKETS];
static int64_t epoch;

void
imap_recent_set_epoch(int64_t t)
{
	pthread_mutex_lock(&recent_lock);
	if (epoch == 0)
		epoch = t;
	pthread_mutex_unlock(&recent_lock);
}

static size_t
hash_key(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h % RECENT_BUCKETS);
}

/* the mark a folder starts with: the highest UID delivered before this
 * process started (recent.h) */
static uint32_t
initial_mark(const struct mailstore_msg *list, size_t n)
{
	uint32_t mark = 0;

	for (size_t i = 0; i < n; i++)
		if (list[i].internal_date < epoch && list[i].uid > mark)
			mark = list[i].uid;
	return mark;
}

/* the entry of (user, folder), created or started over as recent.h says,
 * moved to the front of its bucket; under recent_lock */
static struct recent_entry *
entry_get(const char *user, const char *folder, uint32_t uidvalidity,
    const struct mailstore_msg *list, size_t n)
{
	size_t ul = strlen(user), fl = strlen(folder), kl = ul + 1 + fl;
	char *key = xmalloc(kl);
	size_t b, depth = 0;
	struct recent_entry **pp, *e;

	memcpy(key, user, ul + 1);
	memcpy(key + ul + 1, folder, fl);
	b = hash_key(key, kl);
	for (pp = &buckets[b]; (e = *pp) != NULL; pp = &e->next)
		if (e->keylen == kl && memcmp(e->key, key, kl) == 0)
			break;
	if (e != NULL) {
		*pp = e->next;
		if (e->uidvalidity != uidvalidity) {
			/* deleted and made again: its messages are all new */
			e->uidvalidity = uidvalidity;
			e->mark = 0;
		}
	} else {
		e = xmalloc(sizeof(*e) + kl);
		memcpy(e->key, key, kl);
		e->keylen = kl;
		e->uidvalidity = uidvalidity;
		e->mark = initial_mark(list, n);
	}
	free(key);
	e->next = buckets[b];
	buckets[b] = e;
	/* bound the bucket: drop the least recently used beyond the limit */
	for (pp = &e->next; *pp != NULL; pp = &(*pp)->next) {
		if (++depth >= RECENT_BUCKET_MAX) {
			struct recent_entry *x = *pp;

			*pp = NULL;
			while (x != NULL) {
				struct recent_entry *nx = x->next;

				free(x);
				x = nx;
			}
			break;
		}
	}
	return e;
}

uint32_t
imap_recent_take(const char *user, const char *folder, uint32_t uidvalidity,
    const struct mailstore_msg *list, size_t n, bool take)
{
	struct recent_entry *e;
	uint32_t old;

	pthread_mutex_lock(&recent_lock);
	e = entry_get(user, folder, uidvalidity, list, n);
	old = e->mark;
	if (take && n > 0 && list[n - 1].uid > e->mark)
		e->mark = list[n - 1].uid;
	pthread_mutex_unlock(&recent_lock);
	return old;
}

bool
imap_recent_known(const char *user, const char *folder, uint32_t uidvalidity, uint32_t *mark_out)
{
	size_t ul = strlen(user), fl = strlen(folder), kl = ul + 1 + fl;
	char *key = xmalloc(kl);
	struct recent_entry *e;
	bool known = false;

	memcpy(key, user, ul + 1);
	memcpy(key + ul + 1, folder, fl);
	pthread_mutex_lock(&recent_lock);
	for (e = buckets[hash_key(key, kl)]; e != NULL; e = e->next) {
		if (e->keylen == kl && memcmp(e->key, key, kl) == 0) {
			known = e->uidvalidity == uidvalidity;
			*mark_out = e->mark;
			break;
		}
	}
	pthread_mutex_unlock(&recent_lock);
	free(key);
	return known;
}

uint32_t
imap_recent_count(const char *user, const char *folder, uint32_t uidvalidity,
    const struct mailstore_msg *list, size_t n)
{
	uint32_t mark = imap_recent_take(user, folder, uidvalidity, list, n, false);
	uint32_t count = 0;

	for (size_t i = 0; i < n; i++)
		if (list[i].uid > mark)
			count++;
	return count;
}

void
imap_recent_reset(void)
{
	pthread_mutex_lock(&recent_lock);
	for (size_t b = 0; b < RECENT_BUCKETS; b++) {
		while (buckets[b] != NULL) {
			struct recent_entry *x = buckets[b];

			buckets[b] = x->next;
			free(x);
		}
	}
	epoch = 0;
	pthread_mutex_unlock(&recent_lock);
}
