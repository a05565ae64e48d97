/*
 * user_index.c - per-user SQLite indexes and the helpers the store shares.
 *
 * Each user has ROOT/users/<domain>/<local>/index.db (journal_mode=WAL,
 * synchronous=FULL: a committed transaction is on disk; NORMAL only around
 * flag changes, see ms_durable). Address parts are
 * escaped into path components: [a-z0-9-_+=] and '.' (not first) stay, every
 * other byte becomes %XX, so "..", "/" or upper case can never name another
 * directory. Schema (version 2; version 1 lacked deliveries):
 *
 *   meta(key PRIMARY KEY, value)   schema_version, used_bytes,
 *                                  used_messages, last_uidvalidity
 *   folders(id, name UNIQUE, uidvalidity, uidnext, highestmodseq,
 *           subscribed, special_use)
 *   messages(folder_id, uid, body_hash, size, internal_date, flags,
 *            keywords, modseq, PRIMARY KEY(folder_id, uid))
 *   deliveries(id PRIMARY KEY, hash, uid, uidvalidity, at)  idempotency keys
 *
 * Quota usage lives in meta and changes in the same transaction as the
 * messages, so it is never out of step with them. A small LRU of open
 * handles (MAILSTORE_HANDLE_CACHE) avoids reopening hot mailboxes; an entry
 * in use (refs > 0) is never closed, so the cache may briefly hold more.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

#undef ms_db_err /* the analyzer-only macro in mailstore_int.h; defined below */

long ms_crash_countdown;

void
ms_crash_point(void)
{
	if (ms_crash_countdown > 0 && --ms_crash_countdown == 0)
		raise(SIGKILL);
}

int
ms_db_err(sqlite3 *db, struct mn_err *err, const char *what)
{
	return mn_err_set(err, MN_EDB, "%s: %s", what, sqlite3_errmsg(db));
}

int
ms_exec(sqlite3 *db, const char *sql, struct mn_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		mn_err_set(err, MN_EDB, "sqlite: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return MN_EDB;
	}
	return 0;
}

/* One statement without results, from the connection's cache. */
static int
run_cached(sqlite3 *db, const char *sql, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ms_prepare(db, sql, &st) != SQLITE_OK)
		return ms_db_err(db, err, sql);
	rc = sqlite3_step(st);
	ms_finalize(st);
	return rc == SQLITE_DONE ? 0 : ms_db_err(db, err, sql);
}

int
ms_begin(sqlite3 *db, struct mn_err *err)
{
	return run_cached(db, "BEGIN IMMEDIATE", err);
}

int
ms_commit(sqlite3 *db, struct mn_err *err)
{
	int rc = run_cached(db, "COMMIT", err);

	if (rc != 0)
		ms_rollback(db);
	else
		ms_crash_point();
	return rc;
}

void
ms_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int
ms_fsync_dir(const char *path, struct mn_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return mn_err_set(err, MN_EIO, "open dir %s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		rc = mn_err_set(err, MN_EIO, "fsync dir %s: %s", path, strerror(errno));
	close(fd);
	ms_crash_point();
	return rc;
}

int
ms_mkdirs(const char *path, struct mn_err *err)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char save = *s;

		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			/* make the new entry durable in its parent */
			char *slash = strrchr(p, '/');

			if (slash != NULL && slash != p) {
				*slash = '\0';
				rc = ms_fsync_dir(p, err);
				*slash = '/';
			}
		} else if (errno != EEXIST) {
			rc = mn_err_set(err, MN_EIO, "mkdir %s: %s", p, strerror(errno));
		}
		*s = save;
		if (rc != 0 || save == '\0')
			break;
	}
	free(p);
	return rc;
}

int
ms_rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return unlink(path) == 0 || errno == ENOENT ? 0 : MN_EIO;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *sub = xasprintf("%s/%s", path, de->d_name);
		struct stat sb;

		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if (ms_rmtree(sub) != 0)
				rc = MN_EIO;
		} else if (unlink(sub) != 0 && errno != ENOENT) {
			rc = MN_EIO;
		}
		free(sub);
	}
	closedir(d);
	if (rmdir(path) != 0 && errno != ENOENT)
		rc = MN_EIO;
	return rc;
}

char *
ms_tmp_name_in(struct mailstore *ms, const char *dir, const char *prefix)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%s/%s.%ld.%lld.%09ld.%llu", dir, prefix, (long)getpid(),
	    (long long)ts.tv_sec, ts.tv_nsec,
	    (unsigned long long)__atomic_add_fetch(&ms->tmp_seq, 1, __ATOMIC_RELAXED));
}

char *
ms_tmp_name(struct mailstore *ms, const char *prefix)
{
	char *dir = xasprintf("%s/tmp", ms->root), *name = ms_tmp_name_in(ms, dir, prefix);

	free(dir);
	return name;
}

static int
open_db(const char *path, bool exclusive, sqlite3 **out, struct mn_err *err)
{
	sqlite3 *db = NULL;
	int rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = mn_err_set(
		    err, MN_EDB, "open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		ms_close_db(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	/* One process owns ROOT (flock in mailstore_open) and one connection
	 * each file: exclusive locking spares every transaction its fcntl
	 * locks and hot-journal checks, and set before WAL it keeps the
	 * wal-index in heap memory (no -shm file). The page cache is kept
	 * small: many indexes stay open (MAILSTORE_HANDLE_CACHE). */
	rc = ms_exec(
	    db, exclusive ? "PRAGMA locking_mode=EXCLUSIVE" : "PRAGMA locking_mode=NORMAL", err);
	if (rc == 0)
		rc = ms_exec(db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-256;",
		    err);
	if (rc != 0) {
		ms_close_db(db);
		return mn_err_wrap(err, "open %s", path);
	}
	*out = db;
	return 0;
}

int
ms_open_db(const char *path, sqlite3 **out, struct mn_err *err)
{
	return open_db(path, true, out, err);
}

int
ms_open_db_shared(const char *path, sqlite3 **out, struct mn_err *err)
{
	return open_db(path, false, out, err);
}

void
ms_durable(struct ms_user *u, bool full)
{
	if (u->sync_full == full)
		return;
	if (run_cached(
	        u->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL) == 0)
		u->sync_full = full;
}

/* --- users ---------------------------------------------------------------- */

static void
escape_part(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '+' || c == '=' || (c == '.' && i > 0))
			buf_append(b, &s[i], 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

int
ms_user_dir(struct mailstore *ms, const char *address, char **dir_out, struct mn_err *err)
{
	const char *at = address ? strrchr(address, '@') : NULL;
	struct buf local, domain;
	int rc = 0;

	if (at == NULL || at == address || at[1] == '\0')
		return mn_err_set(err, MN_EINVAL, "user: not an address");
	buf_init(&local, 255);
	buf_init(&domain, 255);
	escape_part(&local, address, (size_t)(at - address));
	escape_part(&domain, at + 1, strlen(at + 1));
	/* a part cut at its max (255, NAME_MAX) would alias another user */
	if (local.len >= 253 || domain.len >= 253)
		rc = mn_err_set(err, MN_EINVAL, "user: address too long");
	else
		*dir_out =
		    xasprintf("%s/users/%s/%s", ms->root, buf_cstr(&domain), buf_cstr(&local));
	buf_fini(&local);
	buf_fini(&domain);
	return rc;
}

static void
lru_unlink(struct mailstore *ms, struct ms_user *u)
{
	if (u->prev)
		u->prev->next = u->next;
	else
		ms->lru = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
}

static void
user_free(struct ms_user *u)
{
	ms_close_db(u->db);
	pthread_mutex_destroy(&u->lock);
	free(u->address);
	free(u->dir);
	free(u);
}

void
ms_user_close_all(struct mailstore *ms)
{
	while (ms->lru != NULL) {
		struct ms_user *u = ms->lru;

		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): lru_unlink moved ms->lru on */
		lru_unlink(ms, u);
		user_free(u);
	}
	ms->nopen = 0;
}

int64_t
ms_meta_get(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (ms_prepare(db, "SELECT value FROM meta WHERE key = ?", &st) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	ms_finalize(st);
	return v;
}

static int
meta_write(sqlite3 *db, const char *sql, const char *key, int64_t value, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ms_prepare(db, sql, &st) != SQLITE_OK)
		return ms_db_err(db, err, "meta: prepare");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	rc = sqlite3_step(st);
	ms_finalize(st);
	return rc == SQLITE_DONE ? 0 : ms_db_err(db, err, "meta: write");
}

int
ms_meta_set(sqlite3 *db, const char *key, int64_t value, struct mn_err *err)
{
	return meta_write(db,
	    "INSERT INTO meta(key, value) VALUES(?1, ?2)"
	    " ON CONFLICT(key) DO UPDATE SET value = ?2",
	    key, value, err);
}

int
ms_meta_add(sqlite3 *db, const char *key, int64_t delta, struct mn_err *err)
{
	return meta_write(db,
	    "INSERT INTO meta(key, value) VALUES(?1, ?2)"
	    " ON CONFLICT(key) DO UPDATE SET value = value + ?2",
	    key, delta, err);
}

/* Idempotency keys of deliveries (mailstore_deliver_id), added in schema
 * version 2; "at" (unix seconds) lets old ones be pruned. */
#define DELIVERIES_TABLE                                                                           \
	"CREATE TABLE IF NOT EXISTS deliveries(id TEXT PRIMARY KEY,"                               \
	" hash TEXT NOT NULL, uid INTEGER NOT NULL, uidvalidity INTEGER NOT NULL,"                 \
	" at INTEGER NOT NULL) WITHOUT ROWID;"

int
ms_index_init(sqlite3 *db, bool defaults, struct mn_err *err)
{
	static const struct {
		const char *name, *special_use;
	} folders[] = {
	    {"INBOX", NULL},
	    {"Sent", "\\Sent"},
	    {"Drafts", "\\Drafts"},
	    {"Trash", "\\Trash"},
	    {"Junk", "\\Junk"},
	};
	int rc;

	rc = ms_begin(db, err);
	if (rc != 0)
		return rc;
	rc = ms_exec(db,
	    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
	    " WITHOUT ROWID;"
	    "CREATE TABLE folders(id INTEGER PRIMARY KEY,"
	    " name TEXT NOT NULL UNIQUE, uidvalidity INTEGER NOT NULL,"
	    " uidnext INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,"
	    " subscribed INTEGER NOT NULL DEFAULT 0, special_use TEXT);"
	    "CREATE TABLE messages(folder_id INTEGER NOT NULL,"
	    " uid INTEGER NOT NULL, body_hash TEXT NOT NULL,"
	    " size INTEGER NOT NULL, internal_date INTEGER NOT NULL,"
	    " flags INTEGER NOT NULL, keywords TEXT NOT NULL DEFAULT '',"
	    " modseq INTEGER NOT NULL, PRIMARY KEY(folder_id, uid))"
	    " WITHOUT ROWID;"
	    "CREATE INDEX messages_modseq ON messages(folder_id, modseq);" DELIVERIES_TABLE
	    "INSERT INTO meta VALUES('used_bytes', 0), ('used_messages', 0),"
	    " ('last_uidvalidity', 0);",
	    err);
	for (size_t i = 0; rc == 0 && defaults && i < sizeof(folders) / sizeof(folders[0]); i++)
		rc = ms_folder_insert(db, folders[i].name, folders[i].special_use, true, err);
	/* last: a database with a schema_version is a complete one */
	if (rc == 0)
		rc = ms_meta_set(db, "schema_version", MS_SCHEMA_VERSION, err);
	if (rc != 0) {
		ms_rollback(db);
		return rc;
	}
	return ms_commit(db, err);
}

static bool
index_ready(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool ready = false;

	if (ms_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
	        &st) != SQLITE_OK)
		return false;
	ready = sqlite3_step(st) == SQLITE_ROW;
	ms_finalize(st);
	return ready;
}

/* Bring an index of an older schema up to date (one transaction). */
static int
index_upgrade(sqlite3 *db, const char *path, struct mn_err *err)
{
	int64_t v = ms_meta_get(db, "schema_version");
	int rc;

	if (v == MS_SCHEMA_VERSION)
		return 0;
	if (v != 1)
		return mn_err_set(
		    err, MN_EDB, "index %s: unknown schema version %lld", path, (long long)v);
	if ((rc = ms_begin(db, err)) != 0)
		return rc;
	if ((rc = ms_exec(db, DELIVERIES_TABLE, err)) != 0 ||
	    (rc = ms_meta_set(db, "schema_version", MS_SCHEMA_VERSION, err)) != 0) {
		ms_rollback(db);
		return rc;
	}
	return ms_commit(db, err);
}

/* Close least recently used entries nobody holds while over the cache size. */
static void
lru_trim(struct mailstore *ms)
{
	struct ms_user *last = ms->lru;

	if (ms->nopen <= MAILSTORE_HANDLE_CACHE)
		return;

	while (last != NULL && last->next != NULL)
		last = last->next;
	while (ms->nopen > MAILSTORE_HANDLE_CACHE && last != NULL) {
		struct ms_user *prev = last->prev;

		if (last->refs == 0) {
			lru_unlink(ms, last);
			user_free(last);
			ms->nopen--;
		}
		last = prev;
	}
}

int
ms_user_get(struct mailstore *ms, const char *address, bool create, struct ms_user **out,
    struct mn_err *err)
{
	struct ms_user *u;
	char *dir = NULL, *path = NULL;
	sqlite3 *db = NULL;
	struct stat sb;
	int rc;

	for (u = ms->lru; u != NULL; u = u->next) {
		if (strcmp(u->address, address) == 0) {
			lru_unlink(ms, u);
			goto found;
		}
	}
	rc = ms_user_dir(ms, address, &dir, err);
	if (rc != 0)
		return rc;
	path = xasprintf("%s/index.db", dir);
	if (stat(path, &sb) != 0) {
		if (!create) {
			rc = mn_err_set(err, MN_ENOENT, "user has no mailbox");
			goto fail;
		}
		rc = ms_mkdirs(dir, err);
		if (rc != 0)
			goto fail;
	}
	rc = ms_open_db(path, &db, err);
	if (rc != 0)
		goto fail;
	/* The schema and default folders are made in one transaction: a crash
	 * leaves an empty database, completed here on the next use. */
	if (!index_ready(db)) {
		rc = ms_index_init(db, true, err);
		if (rc != 0)
			goto fail;
		rc = ms_fsync_dir(dir, err);
		if (rc != 0)
			goto fail;
	} else if ((rc = index_upgrade(db, path, err)) != 0) {
		goto fail;
	}
	u = xcalloc(1, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->address = xstrdup(address);
	u->dir = dir;
	u->db = db;
	u->sync_full = true;
	free(path);
	ms->nopen++;
found:
	u->next = ms->lru;
	if (ms->lru)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): evicted entries left the list */
		ms->lru->prev = u;
	ms->lru = u;
	u->refs++; /* keeps lru_trim off it */
	lru_trim(ms);
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): lru_trim frees only refs == 0 */
	u->refs--;
	*out = u;
	return 0;
fail:
	ms_close_db(db);
	free(dir);
	free(path);
	return rc;
}

int
ms_enter2(struct mailstore *ms, const char *address, bool create, struct ms_user **out,
    struct mn_err *err)
{
	struct ms_user *u;
	int rc;

	for (;;) {
		pthread_mutex_lock(&ms->lock);
		rc = ms_user_get(ms, address, create, &u, err);
		if (rc == 0)
			u->refs++;
		pthread_mutex_unlock(&ms->lock);
		if (rc != 0)
			return rc;
		pthread_mutex_lock(&u->lock);
		if (!u->gone)
			break;
		/* moved out (deleted) while we waited: its mailbox is not that one any more */
		ms_leave(ms, u);
	}
	*out = u;
	return 0;
}

int
ms_enter(struct mailstore *ms, const char *address, struct ms_user **out, struct mn_err *err)
{
	return ms_enter2(ms, address, true, out, err);
}

int
ms_user_move_out(struct mailstore *ms, struct ms_user *u, const char *to, struct mn_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&ms->lock);
	if (!u->gone) {
		u->gone = true;
		lru_unlink(ms, u);
		ms->nopen--;
	}
	/* its exclusive lock would keep the next opener out */
	ms_close_db(u->db);
	u->db = NULL;
	if (rename(u->dir, to) != 0)
		rc = mn_err_set(err, MN_EIO, "user: rename %s: %s", u->dir, strerror(errno));
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

void
ms_leave(struct mailstore *ms, struct ms_user *u)
{
	bool free_it;

	if (u->db != NULL)
		ms_durable(u, true);
	pthread_mutex_unlock(&u->lock);
	pthread_mutex_lock(&ms->lock);
	free_it = --u->refs == 0 && u->gone;
	if (!free_it)
		lru_trim(ms);
	pthread_mutex_unlock(&ms->lock);
	if (free_it)
		user_free(u);
}
