/*
 * snapshot.c - the whole directory as one byte string, for Raft snapshots
 * (cluster/raft takes one to bound its log and sends it to lagging or new
 * members, which restore it).
 *
 * The snapshot is the SQLite database image (sqlite3_serialize). Restore
 * loads the image into a private in-memory database, checks it (integrity,
 * schema version not newer than ours), then copies it over the live
 * database with the backup API in one step, and migrates it if it came
 * from an older schema. A bad image leaves the directory as it was.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "storage/directory/dir_internal.h"
#include "storage/directory/directory.h"

/* unwal - mark an image as rollback-journal: a deserialized database in WAL
 * mode cannot be opened (file format bytes 18 and 19, "2" = WAL). */
static void
unwal(uint8_t *img, size_t len)
{
	if (len >= 100 && img[18] == 2 && img[19] == 2)
		img[18] = img[19] = 1;
}

int
directory_snapshot(struct directory *d, uint8_t **data_out, size_t *len_out, struct mn_err *err)
{
	sqlite3_int64 size = 0;
	unsigned char *img;

	*data_out = NULL;
	*len_out = 0;
	img = sqlite3_serialize(d->db, "main", &size, 0);
	if (img == NULL)
		return mn_err_set(err, MN_EDB, "directory snapshot: %s", sqlite3_errmsg(d->db));
	*data_out = xmemdup(img, (size_t)size);
	unwal(*data_out, (size_t)size);
	*len_out = (size_t)size;
	sqlite3_free(img);
	return 0;
}

/* check_image - the image in db is a sound directory we can migrate. */
static int
check_image(sqlite3 *db, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = MN_EDB;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		mn_err_set(err, MN_EPARSE, "directory snapshot is damaged: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		mn_err_set(err, MN_EPARSE, "directory snapshot has no schema version");
		goto out;
	}
	if (sqlite3_column_int64(st, 0) > DIR_SCHEMA_VERSION) {
		mn_err_set(err, MN_EPARSE,
		    "directory snapshot schema version %lld is newer than this program (%d)",
		    (long long)sqlite3_column_int64(st, 0), DIR_SCHEMA_VERSION);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc == 0 ? 0 : MN_EPARSE;
}

int
directory_restore(struct directory *d, const uint8_t *data, size_t len, struct mn_err *err)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *bk;
	unsigned char *copy;
	int rc;

	mn_err_clear(err);
	if (len == 0 || len > (size_t)INT32_MAX)
		return mn_err_set(err, MN_EPARSE, "directory snapshot of %zu bytes", len);
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = mn_err_set(err, MN_EDB, "directory restore: %s", sqlite3_errmsg(mem));
		goto out;
	}
	/* SQLite takes ownership of a sqlite3_malloc'd copy (and may grow it) */
	copy = sqlite3_malloc64(len);
	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	unwal(copy, len);
	if (sqlite3_deserialize(mem, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
	        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK) {
		rc = mn_err_set(
		    err, MN_EPARSE, "directory snapshot does not load: %s", sqlite3_errmsg(mem));
		goto out;
	}
	if ((rc = check_image(mem, err)) != 0)
		goto out;
	bk = sqlite3_backup_init(d->db, "main", mem, "main");
	if (bk == NULL) {
		rc = mn_err_set(err, MN_EDB, "directory restore: %s", sqlite3_errmsg(d->db));
		goto out;
	}
	rc = sqlite3_backup_step(bk, -1);
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		rc = mn_err_set(err, MN_EDB, "directory restore: %s", sqlite3_errstr(rc));
		goto out;
	}
	/* journal mode travels with the file, not the image: keep WAL */
	sqlite3_exec(d->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	rc = dir_schema_migrate(d->db, err);
out:
	sqlite3_close(mem);
	return rc;
}
