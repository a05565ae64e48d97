/*
 * dir_internal.h - what the directory's own files share: the struct
 * directory, the schema entry point and small SQLite helpers that prepare,
 * bind and step one statement. Not for use outside storage/directory/.
 *
 * Every statement binds its parameters (never formats input into SQL).
 * Parameter types are given as a string, one letter per parameter:
 *   't' const char * (NULL binds SQL NULL)
 *   'i' int64_t (callers cast: varargs do not convert)
 */
#ifndef MN_STORAGE_DIRECTORY_INTERNAL_H
#define MN_STORAGE_DIRECTORY_INTERNAL_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "storage/directory/directory.h"

struct directory {
	sqlite3 *db;
};

/* The schema version directory_open migrates to. */
#define DIR_SCHEMA_VERSION 4

/* dir_schema_migrate - bring the database from its version to
 * DIR_SCHEMA_VERSION in one transaction (schema.c). */
int dir_schema_migrate(sqlite3 *db, struct mn_err *err);

/* dir_stmt - prepared and bound statement; NULL on failure (err set). */
sqlite3_stmt *dir_stmt(
    struct directory *d, struct mn_err *err, const char *sql, const char *types, ...);
sqlite3_stmt *dir_vstmt(
    struct directory *d, struct mn_err *err, const char *sql, const char *types, va_list ap);
/* dir_exec - run a statement returning no rows; 0 or MN_EDB. */
int dir_exec(struct directory *d, struct mn_err *err, const char *sql, const char *types, ...);
/* dir_int - first column of the first row as int64; 0, MN_ENOENT (no row)
 * or MN_EDB. */
int dir_int(struct directory *d, int64_t *out, const char *sql, const char *types, ...);
/* dir_one_row - step st (NULL: a failed prepare) once and finalize it;
 * on a row fill(st, out) copies what it needs first. 0, MN_ENOENT (no row)
 * or MN_EDB. */
int dir_one_row(sqlite3_stmt *st, void (*fill)(sqlite3_stmt *st, void *out), void *out);
/* dir_text - first column of the first row, newly allocated; NULL when no
 * row, NULL value or error. */
char *dir_text(struct directory *d, const char *sql, const char *types, ...);
/* dir_col_dup - column as newly allocated string ("" for NULL). */
char *dir_col_dup(sqlite3_stmt *st, int col);

/* dir_check_text - free text (names, setting values): valid UTF-8, no
 * control characters, at most max bytes; 0 or MN_EINVAL naming `what`. */
int dir_check_text(const char *s, size_t max, const char *what, struct mn_err *err);
bool dir_utf8_valid(const char *s);

/* Preferences and contacts (prefs.c), called by apply inside its
 * transaction; dir_prefs_forget drops what belongs to a deleted user or
 * domain. */
int dir_pref_set(struct directory *d, const Mailnode__PrefSet *m, struct mn_err *err);
int dir_contact_set(
    struct directory *d, const Mailnode__ContactSet *m, int64_t now, struct mn_err *err);
int dir_contact_del(struct directory *d, const Mailnode__ContactDel *m, struct mn_err *err);
int dir_prefs_forget(struct directory *d, const char *scope, const char *name, struct mn_err *err);

/* dir_lower_dup - lower-cased (ASCII) copy. */
char *dir_lower_dup(const char *s);
/* dir_canonical_domain_of - for a checked, lower-cased domain: the primary
 * domain it names (itself or the target of a domain alias), or NULL. */
char *dir_canonical_domain_of(struct directory *d, const char *domain);

/* Open-addressing set of strings: expansion and cycle checks visit every
 * address once, so membership tests must not be linear. Zero-initialise;
 * dir_strset_add copies s and returns true when it was not there yet. */
struct dir_strset {
	char **slot;
	size_t cap, n;
};
bool dir_strset_add(struct dir_strset *set, const char *s);
void dir_strset_fini(struct dir_strset *set);

/* dir_canonical_address - lower-cased copy of address with a domain alias
 * replaced by its domain; NULL when the syntax is bad. *local_out (may be
 * NULL) tells whether the domain is one of ours. */
char *dir_canonical_address(struct directory *d, const char *address, bool *local_out);
/* dir_kind - what a canonical address is (no domain-alias rewriting). */
enum dir_addr_kind dir_kind(struct directory *d, const char *canonical);
/* dir_is_everyone - address is everyone@<a local primary domain>. */
bool dir_is_everyone(struct directory *d, const char *canonical);

#endif
