/*
 * stmt_cache.c - prepared statements kept per SQLite connection.
 *
 * Parsing SQL was a fifth of the CPU time of a delivery (a dozen short
 * statements, each prepared and finalized per call). ms_prepare hands out
 * a statement prepared once per connection and SQL text, and ms_finalize
 * gives it back reset instead of destroying it. The text is identified by
 * its pointer: the callers pass string literals, so one call site always
 * finds its own statement (two sites with equal text just get two).
 *
 * A connection is used by one thread at a time (its user's mutex, or
 * bodies_lock), so a cache needs no lock of its own; only the table that
 * finds a connection's cache does. A statement still in use when the same
 * text is asked for again (nested loops) is prepared afresh and finalized
 * for real. ms_close_db drops the cache before closing the connection.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

#define CACHE_SLOTS 32 /* statements per connection */
#define TABLE_SIZE 256 /* buckets of the connection table */

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
	bool busy;
};

struct stmt_cache {
	sqlite3 *db;
	struct stmt_cache *next;
	struct stmt_slot slot[CACHE_SLOTS];
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stmt_cache *table[TABLE_SIZE];

static size_t
bucket(const sqlite3 *db)
{
	uintptr_t p = (uintptr_t)db;

	return (size_t)((p >> 4) ^ (p >> 12)) % TABLE_SIZE;
}

/* The cache of db, made on first use when make. */
static struct stmt_cache *
cache_of(sqlite3 *db, bool make)
{
	struct stmt_cache *c;
	size_t b = bucket(db);

	pthread_mutex_lock(&table_lock);
	for (c = table[b]; c != NULL && c->db != db; c = c->next)
		;
	if (c == NULL && make) {
		c = xcalloc(1, sizeof(*c));
		c->db = db;
		c->next = table[b];
		table[b] = c;
	}
	pthread_mutex_unlock(&table_lock);
	return c;
}

int
ms_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	struct stmt_cache *c = cache_of(db, true);
	struct stmt_slot *free_slot = NULL;
	int rc;

	*out = NULL;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct stmt_slot *s = &c->slot[i];

		if (s->sql == sql && !s->busy) {
			s->busy = true;
			*out = s->st;
			return SQLITE_OK;
		}
		if (s->sql == NULL && free_slot == NULL)
			free_slot = s;
	}
	rc = sqlite3_prepare_v3(db, sql, -1, free_slot ? SQLITE_PREPARE_PERSISTENT : 0, out, NULL);
	if (rc == SQLITE_OK && free_slot != NULL) {
		free_slot->sql = sql;
		free_slot->st = *out;
		free_slot->busy = true;
	}
	return rc;
}

void
ms_finalize(sqlite3_stmt *st)
{
	struct stmt_cache *c;

	if (st == NULL)
		return;
	c = cache_of(sqlite3_db_handle(st), false);
	for (int i = 0; c != NULL && i < CACHE_SLOTS; i++) {
		if (c->slot[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			c->slot[i].busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

int
ms_close_db(sqlite3 *db)
{
	struct stmt_cache **pp, *c = NULL;

	if (db == NULL)
		return SQLITE_OK;
	pthread_mutex_lock(&table_lock);
	for (pp = &table[bucket(db)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->db == db) {
			c = *pp;
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
	if (c != NULL) {
		for (int i = 0; i < CACHE_SLOTS; i++)
			sqlite3_finalize(c->slot[i].st);
		free(c);
	}
	return sqlite3_close(db);
}
