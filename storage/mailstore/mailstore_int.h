/*
 * mailstore_int.h - internals shared by the mail store's files (not an API:
 * only the storage/mailstore sources include it). Every function here expects the
 * store mutex to be held by its caller.
 */
#ifndef MN_STORAGE_MAILSTORE_INT_H
#define MN_STORAGE_MAILSTORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "lib/err.h"
#include "storage/mailstore/mailstore.h"

#define MS_HASH_HEX 64        /* SHA-256 in hex */
#define BODY_TMP_PREFIX "tmp" /* body_store_put's temp files in ROOT/bodies/xx: "tmp.*" */
#define MS_SCHEMA_VERSION 2

/* An open user index, kept in the store's LRU list. refs counts the
 * threads between ms_enter and ms_leave (guarded by ms->lock): only an
 * entry with none is closed. gone: the mailbox was deleted or replaced
 * while the entry was in use; it is off the list and freed by the last
 * ms_leave, and a thread that was waiting for its mutex starts over. */
struct ms_user {
	pthread_mutex_t lock;
	char *address;
	char *dir; /* ROOT/users/<domain>/<local> */
	sqlite3 *db;
	bool sync_full; /* the db's current PRAGMA synchronous */
	bool gone;
	unsigned refs;
	struct ms_user *prev, *next;
};

struct mailstore {
	pthread_mutex_t lock;
	pthread_mutex_t bodies_lock;      /* statements on the bodies.db handle */
	pthread_mutex_t body_stripe[256]; /* a body's row+file, by first hash byte */
	char *root;
	sqlite3 *bodies;     /* ROOT/bodies.db */
	struct ms_user *lru; /* most recently used first */
	size_t nopen;
	uint64_t tmp_seq; /* makes temp names unique in this process (atomic) */
	int lock_fd;      /* ROOT/lock, flock'ed: one opener per ROOT */
};

/* A folder row. */
struct ms_folder {
	int64_t id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
};

/* Streaming body writer: bytes go to a temp file while being hashed. */
struct body_writer {
	int fd;
	char *tmp_path;
	EVP_MD_CTX *md;
	uint64_t size;
};

/* --- crash points (user_index.c) --- */
/* Test hook (SQLite test6.c style): when ms_crash_countdown is set > 0, each
 * durable step (commit, fsync, rename, unlink) counts it down, and the
 * process kills itself with SIGKILL when it reaches zero. Tests enumerate
 * every step of a workload this way. Zero (the default) disables it. */
extern long ms_crash_countdown;
void ms_crash_point(void);

/* --- prepared statements (stmt_cache.c) --- */
/* ms_prepare - like sqlite3_prepare_v2 for a string literal sql, but the
 * statement is kept for the connection and handed out again; give it back
 * with ms_finalize (reset, bindings cleared). ms_close_db finalizes a
 * connection's statements and closes it (sqlite3_close's result). */
int ms_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out);
void ms_finalize(sqlite3_stmt *st);
int ms_close_db(sqlite3 *db);

/* --- util (user_index.c) --- */
int ms_exec(sqlite3 *db, const char *sql, struct mn_err *err);
int ms_db_err(sqlite3 *db, struct mn_err *err, const char *what);
#ifdef __clang_analyzer__
/* Always MN_EDB; said here so the analyzer does not follow a 0 (see lib/err.h). */
#define ms_db_err(db, err, what) (ms_db_err((db), (err), (what)), MN_EDB)
#endif
int ms_begin(sqlite3 *db, struct mn_err *err);
int ms_commit(sqlite3 *db, struct mn_err *err);
/* ms_durable - whether the next commits on u's index reach the disk before
 * they return (synchronous=FULL: messages, folders, anything mail depends
 * on) or may wait for the next checkpoint (NORMAL: flag changes, which a
 * power loss may undo, as Dovecot's mail_fsync=optimized; a kill -9 loses
 * neither). The user's mutex must be held. */
void ms_durable(struct ms_user *u, bool full);
void ms_rollback(sqlite3 *db);
int ms_fsync_dir(const char *path, struct mn_err *err);
/* ms_mkdirs - create path and missing parents, fsync'ing each parent that
 * got a new entry. */
int ms_mkdirs(const char *path, struct mn_err *err);
/* ms_rmtree - remove a directory tree (best effort); 0 or MN_EIO. */
int ms_rmtree(const char *path);
/* ms_tmp_name - a fresh path under ROOT/tmp with the given prefix. */
char *ms_tmp_name(struct mailstore *ms, const char *prefix);
/* ms_tmp_name_in - the same in another directory of the store. */
char *ms_tmp_name_in(struct mailstore *ms, const char *dir, const char *prefix);
/* ms_open_db - WAL, synchronous=FULL, exclusive locking (this process is
 * the only user of ROOT); ms_open_db_shared - the same with normal locking,
 * for bodies.db, which tools and tests may read while the store runs. */
int ms_open_db(const char *path, sqlite3 **out, struct mn_err *err);
int ms_open_db_shared(const char *path, sqlite3 **out, struct mn_err *err);

/* --- user indexes (user_index.c) --- */
/* ms_enter - get the user's index (created on first use when create) and
 * hold its mutex; on error nothing is held. ms_leave lets it go. */
int ms_enter(struct mailstore *ms, const char *address, struct ms_user **out, struct mn_err *err);
int ms_enter2(struct mailstore *ms, const char *address, bool create, struct ms_user **out,
    struct mn_err *err);
void ms_leave(struct mailstore *ms, struct ms_user *u);
/* ms_user_move_out - take the held entry u off the table, close its index and rename
 * its directory to `to`, all under ms->lock so that no one opens the
 * directory in between (user deletion). */
int ms_user_move_out(struct mailstore *ms, struct ms_user *u, const char *to, struct mn_err *err);
/* ms_user_dir - ROOT/users/<domain>/<local>, escaped; MN_EINVAL if the
 * address cannot be a user. */
int ms_user_dir(struct mailstore *ms, const char *address, char **dir_out, struct mn_err *err);
/* ms_user_get - the open index of a user; create: make it (with the default
 * folders) if it does not exist, else MN_ENOENT. */
int ms_user_get(struct mailstore *ms, const char *address, bool create, struct ms_user **out,
    struct mn_err *err);
void ms_user_close_all(struct mailstore *ms);
/* ms_index_init - create the schema in an empty database, with the default
 * folders if defaults; one transaction. */
int ms_index_init(sqlite3 *db, bool defaults, struct mn_err *err);
int64_t ms_meta_get(sqlite3 *db, const char *key);
int ms_meta_set(sqlite3 *db, const char *key, int64_t value, struct mn_err *err);
int ms_meta_add(sqlite3 *db, const char *key, int64_t delta, struct mn_err *err);

/* ms_index_hashes - every body hash the index refers to, one per message
 * row (mailstore.c); free each and the array. */
int ms_index_hashes(sqlite3 *db, char ***out, size_t *n_out, struct mn_err *err);
/* ms_index_add - add one message with the folder's next UID, quota checked
 * (q may be NULL), in one transaction (message.c). The body must already be
 * durable and referenced. */
int ms_index_add(sqlite3 *db, const char *folder, const char *hash, uint64_t size, int64_t date,
    uint32_t flags, const char *keywords, const struct mailstore_quota *q, uint32_t *uid_out,
    uint32_t *uv_out, struct mn_err *err);
/* ms_index_add_once - ms_index_add that also records delivery_id (NULL:
 * none) in the same transaction; an id recorded before stores nothing and
 * sets *dup with the earlier uid/uidvalidity (message.c). */
int ms_index_add_once(sqlite3 *db, const char *delivery_id, const char *folder, const char *hash,
    uint64_t size, int64_t date, const struct mailstore_quota *q, uint32_t *uid_out,
    uint32_t *uv_out, bool *dup, struct mn_err *err);

/* --- folders (folder.c) --- */
/* ms_folder_name - validate and normalize an IMAP folder name (INBOX). */
int ms_folder_name(const char *in, char **out, struct mn_err *err);
bool ms_special_use_valid(const char *s);
/* ms_folder_find - look a normalized name up; MN_ENOENT if absent. */
int ms_folder_find(sqlite3 *db, const char *name, struct ms_folder *f, struct mn_err *err);
/* ms_folder_bump - store new uidnext/highestmodseq of f. */
int ms_folder_update(sqlite3 *db, const struct ms_folder *f, struct mn_err *err);
/* ms_folder_insert - add a folder row with a fresh UIDVALIDITY. */
int ms_folder_insert(
    sqlite3 *db, const char *name, const char *special_use, bool subscribed, struct mn_err *err);

/* --- bodies (body_store.c) --- */
int body_store_open(struct mailstore *ms, struct mn_err *err);
char *body_store_path(struct mailstore *ms, const char *hash);
void body_store_hash(const void *data, size_t len, char hex[MS_HASH_HEX + 1]);
/* body_store_put - make the body durable (written once for identical
 * content) and add refs references; hex gets its hash. */
int body_store_put(struct mailstore *ms, const void *data, size_t len, uint32_t refs,
    char hex[MS_HASH_HEX + 1], struct mn_err *err);
int body_writer_begin(struct mailstore *ms, struct body_writer *w, struct mn_err *err);
int body_writer_write(struct body_writer *w, const void *data, size_t len, struct mn_err *err);
/* body_writer_commit - fsync, move into place (unless the same content is
 * there), add refs references; ends the writer either way. */
int body_writer_commit(struct mailstore *ms, struct body_writer *w, uint32_t refs,
    char hex[MS_HASH_HEX + 1], struct mn_err *err);
void body_writer_abort(struct body_writer *w);
/* body_store_ref - add one reference to each of hashes[0..n) (which must be
 * stored). */
int body_store_ref(struct mailstore *ms, char *const *hashes, size_t n, struct mn_err *err);
/* body_store_unref - drop one reference for each of hashes[0..n) (repeats
 * allowed); a body reaching zero loses its row, then its file. Failures are
 * logged, not returned: at worst a body is left for mailstore_recover(). */
void body_store_unref(struct mailstore *ms, char *const *hashes, size_t n);

#endif
