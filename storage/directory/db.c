/*
 * db.c - small helpers around one prepared statement (prepare, bind by a
 * type string, step) shared by apply.c, lookup.c, json.c and dump.c.
 * Input is always bound, never formatted into SQL text.
 */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"

sqlite3_stmt *
dir_vstmt(struct directory *d, struct mn_err *err, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int i = 1;

	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		mn_err_set(err, MN_EDB, "directory: %s", sqlite3_errmsg(d->db));
		return NULL;
	}
	for (const char *t = types; t && *t; t++, i++) {
		int rc;

		if (*t == 't') {
			const char *s = va_arg(ap, const char *);

			rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i);
		} else {
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
		}
		if (rc != SQLITE_OK) {
			mn_err_set(err, MN_EDB, "directory: bind: %s", sqlite3_errmsg(d->db));
			sqlite3_finalize(st);
			return NULL;
		}
	}
	return st;
}

sqlite3_stmt *
dir_stmt(struct directory *d, struct mn_err *err, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, types);
	st = dir_vstmt(d, err, sql, types, ap);
	va_end(ap);
	return st;
}

int
dir_exec(struct directory *d, struct mn_err *err, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, types);
	st = dir_vstmt(d, err, sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return MN_EDB;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		mn_err_set(err, MN_EDB, "directory: %s", sqlite3_errmsg(d->db));
		sqlite3_finalize(st);
		return MN_EDB;
	}
	sqlite3_finalize(st);
	return 0;
}

int
dir_one_row(sqlite3_stmt *st, void (*fill)(sqlite3_stmt *st, void *out), void *out)
{
	int rc;

	if (st == NULL)
		return MN_EDB;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		fill(st, out);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? MN_ENOENT : MN_EDB;
	}
	sqlite3_finalize(st);
	return rc;
}

static void
int_from_row(sqlite3_stmt *st, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(st, 0);
}

int
dir_int(struct directory *d, int64_t *out, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, types);
	st = dir_vstmt(d, NULL, sql, types, ap);
	va_end(ap);
	return dir_one_row(st, int_from_row, out);
}

char *
dir_text(struct directory *d, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	char *s = NULL;
	va_list ap;

	va_start(ap, types);
	st = dir_vstmt(d, NULL, sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		s = dir_col_dup(st, 0);
	sqlite3_finalize(st);
	return s;
}

char *
dir_col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return xstrdup(s ? (const char *)s : "");
}

char *
dir_lower_dup(const char *s)
{
	char *c = xstrdup(s);

	ascii_lower(c);
	return c;
}

char *
dir_canonical_domain_of(struct directory *d, const char *domain)
{
	int64_t one;

	if (dir_int(d, &one, "SELECT 1 FROM domains WHERE name = ?", "t", domain) == 0)
		return xstrdup(domain);
	return dir_text(d, "SELECT domain FROM domain_aliases WHERE alias = ?", "t", domain);
}

/* Open-addressing set of strings: expansion of a big group visits every
 * user once, so membership tests must not be linear. */
static uint64_t
str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

bool
dir_strset_add(struct dir_strset *set, const char *s)
{
	size_t i;

	if ((set->n + 1) * 2 > set->cap) {
		struct dir_strset bigger = {NULL, set->cap ? set->cap * 2 : 64, 0};

		bigger.slot = xcalloc(bigger.cap, sizeof(char *));
		for (size_t j = 0; j < set->cap; j++) {
			if (set->slot[j] == NULL)
				continue;
			i = str_hash(set->slot[j]) & (bigger.cap - 1);
			while (bigger.slot[i])
				i = (i + 1) & (bigger.cap - 1);
			bigger.slot[i] = set->slot[j];
			bigger.n++;
		}
		free(set->slot);
		*set = bigger;
	}
	i = str_hash(s) & (set->cap - 1);
	while (set->slot[i]) {
		if (strcmp(set->slot[i], s) == 0)
			return false;
		i = (i + 1) & (set->cap - 1);
	}
	set->slot[i] = xstrdup(s);
	set->n++;
	return true;
}

void
dir_strset_fini(struct dir_strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}
