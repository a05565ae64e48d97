/*
 * body_store.c - content-addressed, reference-counted message bodies.
 *
 * A body lives at ROOT/bodies/xx/<sha256 hex> (xx = first two hex digits, so
 * no directory grows past 1/256 of the bodies). Identical bytes hash to the
 * same name and are stored once, however many users or folders hold them.
 * The node-wide ROOT/bodies.db table bodies(hash, size, refs) counts the
 * index rows referring to each body.
 *
 * Durability order (see mailstore.h): write to ROOT/tmp, fsync the file,
 * rename into place, fsync the directory, then raise refs; only after that
 * may an index row refer to the body. Dropping references happens after the
 * index rows are gone: refs is lowered, the row deleted at zero, and only
 * then is the file unlinked. The count can thus be too high after a crash
 * (fixed by mailstore_recover) but never too low while running.
 *
 * bodies.db runs at synchronous=NORMAL: it is a cache of counts that
 * mailstore_recover rebuilds from the user indexes at every start, so a
 * commit need not wait for the disk (a kill -9 loses nothing in WAL mode;
 * a power loss at most some counts, recounted before serving).
 *
 * Threads: a body's name, row and file change only under the stripe lock
 * of its first hash byte (the same 1/256 split as the directories), so
 * puts and unrefs of different bodies, and their fsyncs, run in parallel;
 * ms->bodies_lock serialises the statements on the one bodies.db handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

int
body_store_open(struct mailstore *ms, struct mn_err *err)
{
	char *path = xasprintf("%s/bodies.db", ms->root);
	int rc;

	rc = ms_open_db_shared(path, &ms->bodies, err);
	free(path);
	if (rc == 0)
		rc = ms_exec(ms->bodies,
		    "PRAGMA synchronous=NORMAL;"
		    "CREATE TABLE IF NOT EXISTS bodies(hash TEXT PRIMARY KEY,"
		    " size INTEGER NOT NULL, refs INTEGER NOT NULL) WITHOUT ROWID",
		    err);
	/* all 256 directories up front: no mkdir on the delivery path; one
	 * fsync of bodies/ makes the new entries durable */
	bool made = false;

	for (int i = 0; rc == 0 && i < 256; i++) {
		char *dir = xasprintf("%s/bodies/%02x", ms->root, i);

		if (mkdir(dir, 0700) == 0)
			made = true;
		else if (errno != EEXIST)
			rc = mn_err_set(err, MN_EIO, "mkdir %s: %s", dir, strerror(errno));
		free(dir);
	}
	if (rc == 0 && made) {
		char *top = xasprintf("%s/bodies", ms->root);

		rc = ms_fsync_dir(top, err);
		free(top);
	}
	return rc;
}

static pthread_mutex_t *
stripe(struct mailstore *ms, const char *hash)
{
	static const char digits[] = "0123456789abcdef";
	const char *a = strchr(digits, hash[0]), *b = strchr(digits, hash[1]);

	return &ms->body_stripe[((a - digits) << 4 | (b - digits)) & 0xff];
}

char *
body_store_path(struct mailstore *ms, const char *hash)
{
	return xasprintf("%s/bodies/%.2s/%s", ms->root, hash, hash);
}

static void
hex_of(const unsigned char *md, char hex[MS_HASH_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[MS_HASH_HEX] = '\0';
}

void
body_store_hash(const void *data, size_t len, char hex[MS_HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hex_of(md, hex);
}

/* Is the body stored (a row with references, and its file)? The file test
 * lets a new copy heal a body lost to something other than a crash. */
static bool
is_stored(struct mailstore *ms, const char *hash)
{
	sqlite3_stmt *st = NULL;
	int64_t refs = 0;
	char *path;
	struct stat sb;
	bool there;

	pthread_mutex_lock(&ms->bodies_lock);
	if (ms_prepare(ms->bodies, "SELECT refs FROM bodies WHERE hash = ?", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			refs = sqlite3_column_int64(st, 0);
	}
	ms_finalize(st);
	pthread_mutex_unlock(&ms->bodies_lock);
	if (refs <= 0)
		return false;
	path = body_store_path(ms, hash);
	there = stat(path, &sb) == 0;
	free(path);
	return there;
}

static int
add_refs(struct mailstore *ms, const char *hash, uint64_t size, uint32_t refs, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&ms->bodies_lock);
	if (ms_prepare(ms->bodies,
	        "INSERT INTO bodies(hash, size, refs) VALUES(?1, ?2, ?3)"
	        " ON CONFLICT(hash) DO UPDATE SET refs = refs + ?3",
	        &st) != SQLITE_OK) {
		rc = ms_db_err(ms->bodies, err, "bodies: prepare");
	} else {
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)size);
		sqlite3_bind_int64(st, 3, refs);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ms_db_err(ms->bodies, err, "bodies: add refs");
	}
	ms_finalize(st);
	pthread_mutex_unlock(&ms->bodies_lock);
	if (rc == 0)
		ms_crash_point();
	return rc;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A writer whose temp file is tmp_path (taken over). */
static int
writer_begin(struct body_writer *w, char *tmp_path, struct mn_err *err)
{
	w->tmp_path = tmp_path;
	w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int e = errno;

		free(w->tmp_path);
		w->tmp_path = NULL;
		return mn_err_set(err, MN_EIO, "body: create temp: %s", strerror(e));
	}
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		body_writer_abort(w);
		return mn_err_set(err, MN_EIO, "body: sha256 init failed");
	}
	w->size = 0;
	return 0;
}

int
body_writer_begin(struct mailstore *ms, struct body_writer *w, struct mn_err *err)
{
	return writer_begin(w, ms_tmp_name(ms, "body"), err);
}

int
body_writer_write(struct body_writer *w, const void *data, size_t len, struct mn_err *err)
{
	if (len > MAILSTORE_MAX_BODY - w->size)
		return mn_err_set(err, MN_ETOOBIG, "body: larger than %llu bytes",
		    (unsigned long long)MAILSTORE_MAX_BODY);
	if (write_all(w->fd, data, len) != 0)
		return mn_err_set(err, MN_EIO, "body: write %s: %s", w->tmp_path, strerror(errno));
	EVP_DigestUpdate(w->md, data, len);
	w->size += len;
	return 0;
}

void
body_writer_abort(struct body_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	free(w->tmp_path);
	w->tmp_path = NULL;
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
}

int
body_writer_commit(struct mailstore *ms, struct body_writer *w, uint32_t refs,
    char hex[MS_HASH_HEX + 1], struct mn_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	pthread_mutex_t *lock;
	char *path = NULL, *dir = NULL;
	int rc = 0;

	EVP_DigestFinal_ex(w->md, md, &mdlen);
	hex_of(md, hex);
	/* fsync outside any lock: threads' fsyncs overlap */
	if (fsync(w->fd) != 0) {
		rc = mn_err_set(err, MN_EIO, "body: fsync %s: %s", w->tmp_path, strerror(errno));
		body_writer_abort(w);
		return rc;
	}
	lock = stripe(ms, hex);
	pthread_mutex_lock(lock);
	if (is_stored(ms, hex)) {
		/* Stored already: single-instance storage. */
		body_writer_abort(w);
		rc = add_refs(ms, hex, w->size, refs, err);
		pthread_mutex_unlock(lock);
		return rc;
	}
	dir = xasprintf("%s/bodies/%.2s", ms->root, hex);
	/* An unreferenced file of that name (a crash's leftover) has the same
	 * bytes; replacing it is harmless and keeps one code path. */
	path = body_store_path(ms, hex);
	if (rename(w->tmp_path, path) != 0) {
		rc = mn_err_set(err, MN_EIO, "body: rename to %s: %s", path, strerror(errno));
		goto out;
	}
	free(w->tmp_path);
	w->tmp_path = NULL;
	ms_crash_point();
	rc = ms_fsync_dir(dir, err);
	if (rc == 0)
		rc = add_refs(ms, hex, w->size, refs, err);
	/* On failure after the rename the file stays unreferenced: recovery
	 * removes it, and no index row was written. */
out:
	pthread_mutex_unlock(lock);
	body_writer_abort(w);
	free(path);
	free(dir);
	return rc;
}

int
body_store_put(struct mailstore *ms, const void *data, size_t len, uint32_t refs,
    char hex[MS_HASH_HEX + 1], struct mn_err *err)
{
	struct body_writer w;
	pthread_mutex_t *lock;
	int rc = 1;

	if (len > MAILSTORE_MAX_BODY)
		return mn_err_set(err, MN_ETOOBIG, "body: %zu bytes", len);
	/* Known content: skip writing it again. */
	body_store_hash(data, len, hex);
	lock = stripe(ms, hex);
	pthread_mutex_lock(lock);
	if (is_stored(ms, hex))
		rc = add_refs(ms, hex, len, refs, err);
	pthread_mutex_unlock(lock);
	if (rc <= 0)
		return rc;
	/* The temp file goes next to its final name: spreading the inode
	 * allocations over the 256 directories (and their ext4 block groups)
	 * instead of one busy ROOT/tmp; recovery removes BODY_TMP_PREFIX
	 * leftovers there. */
	{
		char *dir = xasprintf("%s/bodies/%.2s", ms->root, hex);

		rc = writer_begin(&w, ms_tmp_name_in(ms, dir, BODY_TMP_PREFIX), err);
		free(dir);
	}
	if (rc != 0)
		return rc;
	rc = body_writer_write(&w, data, len, err);
	if (rc != 0) {
		body_writer_abort(&w);
		return rc;
	}
	return body_writer_commit(ms, &w, refs, hex, err);
}

int
body_store_ref(struct mailstore *ms, char *const *hashes, size_t n, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* No stripe locks: the caller's own index rows hold a reference to
	 * each of these, so none can reach zero meanwhile. */
	if (n == 0)
		return 0;
	pthread_mutex_lock(&ms->bodies_lock);
	rc = ms_begin(ms->bodies, err);
	if (rc != 0)
		goto out;
	if (ms_prepare(ms->bodies, "UPDATE bodies SET refs = refs + 1 WHERE hash = ? AND refs > 0",
	        &st) != SQLITE_OK) {
		rc = ms_db_err(ms->bodies, err, "bodies: prepare");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, hashes[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = ms_db_err(ms->bodies, err, "bodies: ref");
			goto fail;
		}
		if (sqlite3_changes(ms->bodies) != 1) {
			rc = mn_err_set(err, MN_EIO, "bodies: %s is not stored", hashes[i]);
			goto fail;
		}
	}
	ms_finalize(st);
	rc = ms_commit(ms->bodies, err);
	goto out;
fail:
	ms_finalize(st);
	ms_rollback(ms->bodies);
out:
	pthread_mutex_unlock(&ms->bodies_lock);
	return rc;
}

/* Drop one reference to hash; at zero the row goes, then the file. The
 * stripe lock keeps a put of the same content from re-creating the file
 * between the two. 0 or MN_EDB (nothing changed). */
static int
unref_one(struct mailstore *ms, const char *hash, struct mn_err *err)
{
	pthread_mutex_t *lock = stripe(ms, hash);
	sqlite3_stmt *dec = NULL, *del = NULL;
	bool gone = false;
	int rc = 0;

	pthread_mutex_lock(lock);
	pthread_mutex_lock(&ms->bodies_lock);
	if (ms_prepare(ms->bodies,
	        "UPDATE bodies SET refs = refs - 1 WHERE hash = ? RETURNING refs",
	        &dec) != SQLITE_OK ||
	    ms_prepare(ms->bodies, "DELETE FROM bodies WHERE hash = ? AND refs <= 0", &del) !=
	        SQLITE_OK) {
		rc = ms_db_err(ms->bodies, err, "bodies: prepare");
	} else {
		int step;

		sqlite3_bind_text(dec, 1, hash, -1, SQLITE_STATIC);
		step = sqlite3_step(dec);
		if (step == SQLITE_ROW && sqlite3_column_int64(dec, 0) <= 0) {
			sqlite3_reset(dec); /* ends the UPDATE before the DELETE */
			sqlite3_bind_text(del, 1, hash, -1, SQLITE_STATIC);
			if (sqlite3_step(del) != SQLITE_DONE)
				rc = ms_db_err(ms->bodies, err, "bodies: delete");
			else
				gone = true;
		} else if (step != SQLITE_ROW && step != SQLITE_DONE) {
			rc = ms_db_err(ms->bodies, err, "bodies: unref");
		}
	}
	ms_finalize(dec);
	ms_finalize(del);
	pthread_mutex_unlock(&ms->bodies_lock);
	if (gone) {
		/* The row is gone for good: now the file may go. An unlink lost
		 * in a crash leaves an orphan for recovery, nothing worse. */
		char *path = body_store_path(ms, hash);

		ms_crash_point();
		if (unlink(path) != 0 && errno != ENOENT)
			log_warn("mailstore", "event=unlink_body path=%s error=%s", path,
			    strerror(errno));
		free(path);
		ms_crash_point();
	}
	pthread_mutex_unlock(lock);
	return rc;
}

void
body_store_unref(struct mailstore *ms, char *const *hashes, size_t n)
{
	struct mn_err err;

	mn_err_clear(&err);
	for (size_t i = 0; i < n; i++)
		if (unref_one(ms, hashes[i], &err) != 0)
			log_warn("mailstore", "event=unref_failed hash=%s error=\"%s\"", hashes[i],
			    err.msg);
}
