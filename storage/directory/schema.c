/*
 * schema.c - the directory's SQLite schema and its migrations, and
 * directory_open/close.
 *
 * The schema is kept as SQL text, one step per version: migrations[i]
 * moves a database from version i to i+1. The current version lives in the
 * one-row table schema_version. directory_open runs every missing step in
 * one transaction, so a database is always at a version the code knows.
 * Never edit a released step: add a new one.
 *
 * Pragmas: WAL (readers do not block the applier), foreign keys on,
 * synchronous=NORMAL: the Raft log is what makes a change durable; after a
 * crash the last applied entries are applied again from the log.
 *
 * "everyone@DOMAIN" is not stored: it is a virtual group resolved in
 * lookup.c (all users of the domain), so it can never go out of sync.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"

/* Addresses are stored lower-cased (apply.c); "domain" columns say which
 * primary domain a row belongs to, so a domain in use cannot be deleted
 * (foreign keys, and apply.c checks first to give a clear reason). */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE domains ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE domain_aliases ("
    "  alias TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX domain_aliases_domain ON domain_aliases(domain);"
    "CREATE TABLE nodes ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  address TEXT NOT NULL,"
    "  raft_port INTEGER NOT NULL DEFAULT 0,"
    "  rpc_port INTEGER NOT NULL DEFAULT 0,"
    "  raft_id INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE users ("
    "  address TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  password_hash TEXT NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  home_node TEXT NOT NULL DEFAULT '',"
    "  quota_bytes INTEGER NOT NULL DEFAULT 0,"
    "  quota_messages INTEGER NOT NULL DEFAULT 0,"
    "  max_message_size INTEGER NOT NULL DEFAULT 0,"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX users_domain ON users(domain);"
    "CREATE INDEX users_home_node ON users(home_node);"
    "CREATE TABLE aliases ("
    "  address TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX aliases_domain ON aliases(domain);"
    "CREATE TABLE alias_targets ("
    "  alias TEXT NOT NULL REFERENCES aliases(address) ON DELETE CASCADE,"
    "  target TEXT NOT NULL,"
    "  PRIMARY KEY (alias, target)"
    ") WITHOUT ROWID;"
    "CREATE TABLE groups ("
    "  address TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX groups_domain ON groups(domain);"
    "CREATE TABLE group_members ("
    "  grp TEXT NOT NULL REFERENCES groups(address) ON DELETE CASCADE,"
    "  member TEXT NOT NULL,"
    "  PRIMARY KEY (grp, member)"
    ") WITHOUT ROWID;"
    "CREATE INDEX group_members_member ON group_members(member);"
    "CREATE TABLE admins ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  domain TEXT REFERENCES domains(name),"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;",
    /* 1 -> 2: DKIM signing keys (DomainDkimSet), one per domain */
    "CREATE TABLE domain_dkim ("
    "  domain TEXT PRIMARY KEY NOT NULL REFERENCES domains(name),"
    "  selector TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  private_key TEXT NOT NULL,"
    "  public_key TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 2 -> 3: account migration state (cluster/migrate), one move per user */
    "ALTER TABLE users ADD COLUMN move_to TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE users ADD COLUMN move_from TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE users ADD COLUMN move_state TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE users ADD COLUMN move_result TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX users_move_from ON users(move_from);",
    /* 3 -> 4: per-user and per-domain preferences, users' contacts (prefs.c) */
    "CREATE TABLE prefs ("
    "  scope TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (scope, name, key)"
    ") WITHOUT ROWID;"
    "CREATE TABLE contacts ("
    "  owner TEXT NOT NULL,"
    "  email TEXT NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (owner, email)"
    ") WITHOUT ROWID;",
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(NMIGRATIONS == DIR_SCHEMA_VERSION, "one migration per version");

int
dir_schema_migrate(sqlite3 *db, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t version = 0;
	char *msg = NULL;
	int rc;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(db,
	        "CREATE TABLE IF NOT EXISTS schema_version ("
	        "version INTEGER NOT NULL)",
	        NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL) !=
	    SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_DONE && sqlite3_exec(db, "INSERT INTO schema_version VALUES (0)", NULL,
	                             NULL, &msg) != SQLITE_OK)
		goto fail;
	if (version < 0 || version > (int64_t)NMIGRATIONS) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return mn_err_set(err, MN_EDB,
		    "directory schema version %lld is newer than this program (%d)",
		    (long long)version, DIR_SCHEMA_VERSION);
	}
	for (size_t v = (size_t)version; v < NMIGRATIONS; v++) {
		if (sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
			goto fail;
	}
	if (sqlite3_prepare_v2(db, "UPDATE schema_version SET version = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, (int64_t)NMIGRATIONS);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	mn_err_set(err, MN_EDB, "directory schema migration: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return MN_EDB;
}

int
directory_open(const char *path, struct directory **out, struct mn_err *err)
{
	static const char *const pragmas = "PRAGMA journal_mode=WAL;"
	                                   "PRAGMA foreign_keys=ON;"
	                                   "PRAGMA synchronous=NORMAL;";
	struct directory *d;
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(
	    path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		mn_err_set(err, MN_EDB, "directory %s: %s", path,
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return MN_EDB;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		mn_err_set(err, MN_EDB, "directory %s: %s", path, msg);
		sqlite3_free(msg);
		sqlite3_close(db);
		return MN_EDB;
	}
	if ((rc = dir_schema_migrate(db, err)) != 0) {
		mn_err_wrap(err, "directory %s", path);
		sqlite3_close(db);
		return rc;
	}
	d = xcalloc(1, sizeof(*d));
	d->db = db;
	*out = d;
	return 0;
}

void
directory_close(struct directory **d)
{
	if (d == NULL || *d == NULL)
		return;
	sqlite3_close((*d)->db);
	free(*d);
	*d = NULL;
}

sqlite3 *
directory_db(struct directory *d)
{
	return d->db;
}
