/*
 * recover.c - the start-up pass that makes the store exact again after a
 * crash (SPEC §10: kill -9 at any instant).
 *
 * Because of the ordering rules (mailstore.h) a crash can leave only:
 * temp files and half-done imports or user deletions in ROOT/tmp, body
 * files no index refers to, and reference counts that are too high. This
 * pass removes ROOT/tmp's entries, counts the references of every user index
 * under ROOT/users into a temporary table, makes bodies.db equal to that
 * count, and unlinks every body file nobody refers to. Index rows whose body
 * file is missing cannot result from a crash; they are reported (dangling),
 * logged, and kept so that nothing is silently lost.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

static bool
is_hash_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == MS_HASH_HEX;
}

static int
clear_tmp(struct mailstore *ms, struct mailstore_recover_stats *stats, struct mn_err *err)
{
	char *tmp = xasprintf("%s/tmp", ms->root);
	DIR *d = opendir(tmp);
	struct dirent *de;
	int rc = 0;

	if (d == NULL) {
		rc = mn_err_set(err, MN_EIO, "recover: open %s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", tmp, de->d_name);

		if (ms_rmtree(p) == 0)
			stats->temps_removed++;
		else
			rc = mn_err_set(err, MN_EIO, "recover: cannot remove %s", p);
		free(p);
	}
	closedir(d);
	free(tmp);
	return rc;
}

/* Add the references of one user index to temp.counted. */
static int
count_index(struct mailstore *ms, const char *path, struct mailstore_recover_stats *stats,
    sqlite3_stmt *add, struct mn_err *err)
{
	sqlite3 *db = NULL;
	char **hashes = NULL;
	size_t n = 0;
	int rc;

	rc = ms_open_db(path, &db, err);
	if (rc != 0)
		return rc;
	/* an index created by a crashed first use may have no schema yet:
	 * it holds nothing, and the next use completes it */
	if (ms_meta_get(db, "schema_version") == 0) {
		ms_close_db(db);
		return 0;
	}
	rc = ms_index_hashes(db, &hashes, &n, err);
	ms_close_db(db);
	if (rc != 0)
		return mn_err_wrap(err, "recover: %s", path);
	stats->users++;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(add);
		sqlite3_bind_text(add, 1, hashes[i], -1, SQLITE_TRANSIENT);
		if (sqlite3_step(add) != SQLITE_DONE && rc == 0)
			rc = ms_db_err(ms->bodies, err, "recover: count");
		free(hashes[i]);
	}
	free(hashes);
	return rc;
}

static int
count_all(struct mailstore *ms, struct mailstore_recover_stats *stats, struct mn_err *err)
{
	char *users = xasprintf("%s/users", ms->root);
	sqlite3_stmt *add = NULL;
	DIR *dd = opendir(users);
	struct dirent *de;
	int rc = 0;

	if (dd == NULL) {
		free(users);
		return mn_err_set(err, MN_EIO, "recover: open users: %s", strerror(errno));
	}
	if (ms_prepare(ms->bodies,
	        "INSERT INTO temp.counted(hash, n) VALUES(?, 1)"
	        " ON CONFLICT(hash) DO UPDATE SET n = n + 1",
	        &add) != SQLITE_OK) {
		rc = ms_db_err(ms->bodies, err, "recover: prepare");
		goto out;
	}
	while (rc == 0 && (de = readdir(dd)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* escaped names never start with '.' */
		char *domain = xasprintf("%s/%s", users, de->d_name);
		DIR *ud = opendir(domain);
		struct dirent *ue;

		while (ud != NULL && rc == 0 && (ue = readdir(ud)) != NULL) {
			if (ue->d_name[0] == '.')
				continue;
			char *path = xasprintf("%s/%s/index.db", domain, ue->d_name);
			struct stat sb;

			if (stat(path, &sb) == 0)
				rc = count_index(ms, path, stats, add, err);
			free(path);
		}
		if (ud != NULL)
			closedir(ud);
		free(domain);
	}
out:
	ms_finalize(add);
	closedir(dd);
	free(users);
	return rc;
}

/* Make bodies equal to counted: fix counts, drop unreferenced rows, add
 * rows for referenced files that lack one; note dangling references. */
static int
reconcile(struct mailstore *ms, struct mailstore_recover_stats *stats, struct mn_err *err)
{
	sqlite3_stmt *st = NULL, *put = NULL;
	int rc;

	if (ms_prepare(ms->bodies,
	        "SELECT c.hash, c.n, b.refs FROM temp.counted c"
	        " LEFT JOIN bodies b ON b.hash = c.hash",
	        &st) != SQLITE_OK ||
	    ms_prepare(ms->bodies,
	        "INSERT INTO bodies(hash, size, refs) VALUES(?1, ?2, ?3)"
	        " ON CONFLICT(hash) DO UPDATE SET refs = ?3",
	        &put) != SQLITE_OK) {
		rc = ms_db_err(ms->bodies, err, "recover: prepare");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);
		char *path = body_store_path(ms, hash);
		struct stat sb;

		if (stat(path, &sb) != 0) {
			stats->dangling += (uint64_t)n;
			log_error("mailstore", "event=dangling_body hash=%s refs=%lld", hash,
			    (long long)n);
			free(path);
			continue;
		}
		free(path);
		stats->bodies++;
		if (sqlite3_column_type(st, 2) != SQLITE_NULL && sqlite3_column_int64(st, 2) == n)
			continue;
		stats->refs_fixed++;
		sqlite3_reset(put);
		sqlite3_bind_text(put, 1, hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(put, 2, (int64_t)sb.st_size);
		sqlite3_bind_int64(put, 3, n);
		if (sqlite3_step(put) != SQLITE_DONE) {
			rc = ms_db_err(ms->bodies, err, "recover: fix refs");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = ms_db_err(ms->bodies, err, "recover: scan");
		goto out;
	}
	rc = ms_exec(ms->bodies,
	    "DELETE FROM bodies WHERE hash NOT IN (SELECT hash FROM temp.counted)", err);
	if (rc == 0)
		stats->refs_fixed += (uint64_t)sqlite3_changes(ms->bodies);
out:
	ms_finalize(st);
	ms_finalize(put);
	return rc;
}

/* Unlink every body file bodies.db does not list. */
static int
remove_orphans(struct mailstore *ms, struct mailstore_recover_stats *stats, struct mn_err *err)
{
	char *top = xasprintf("%s/bodies", ms->root);
	sqlite3_stmt *has = NULL;
	DIR *td = opendir(top);
	struct dirent *de;
	int rc = 0;

	if (td == NULL) {
		free(top);
		return mn_err_set(err, MN_EIO, "recover: open bodies: %s", strerror(errno));
	}
	if (ms_prepare(ms->bodies, "SELECT 1 FROM bodies WHERE hash = ?", &has) != SQLITE_OK) {
		rc = ms_db_err(ms->bodies, err, "recover: prepare");
		goto out;
	}
	while ((de = readdir(td)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *sub = xasprintf("%s/%s", top, de->d_name);
		DIR *sd = opendir(sub);
		struct dirent *fe;

		while (sd != NULL && (fe = readdir(sd)) != NULL) {
			if (strncmp(fe->d_name, BODY_TMP_PREFIX ".", strlen(BODY_TMP_PREFIX ".")) ==
			    0) {
				/* a body_store_put cut short: never referenced */
				char *t = xasprintf("%s/%s", sub, fe->d_name);

				if (unlink(t) == 0)
					stats->temps_removed++;
				free(t);
				continue;
			}
			if (!is_hash_name(fe->d_name))
				continue; /* not ours: left alone */
			sqlite3_reset(has);
			sqlite3_bind_text(has, 1, fe->d_name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(has) == SQLITE_ROW)
				continue;
			char *p = xasprintf("%s/%s", sub, fe->d_name);

			if (unlink(p) == 0)
				stats->orphans_removed++;
			else
				rc = mn_err_set(
				    err, MN_EIO, "recover: unlink %s: %s", p, strerror(errno));
			free(p);
		}
		if (sd != NULL)
			closedir(sd);
		free(sub);
	}
out:
	ms_finalize(has);
	closedir(td);
	free(top);
	return rc;
}

int
mailstore_recover(struct mailstore *ms, struct mailstore_recover_stats *stats, struct mn_err *err)
{
	struct mailstore_recover_stats local;
	int rc;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	/* start-up only: nobody else is in the store */
	pthread_mutex_lock(&ms->lock);
	pthread_mutex_lock(&ms->bodies_lock);
	ms_user_close_all(ms);
	rc = clear_tmp(ms, stats, err);
	if (rc == 0)
		rc = ms_exec(ms->bodies,
		    "DROP TABLE IF EXISTS temp.counted;"
		    "CREATE TEMP TABLE counted(hash TEXT PRIMARY KEY, n INTEGER)",
		    err);
	if (rc == 0)
		rc = ms_begin(ms->bodies, err);
	if (rc == 0)
		rc = count_all(ms, stats, err);
	if (rc == 0)
		rc = reconcile(ms, stats, err);
	if (rc == 0)
		rc = ms_commit(ms->bodies, err);
	else
		ms_rollback(ms->bodies);
	/* only after the rows are settled may files go */
	if (rc == 0)
		rc = remove_orphans(ms, stats, err);
	ms_exec(ms->bodies, "DROP TABLE IF EXISTS temp.counted", NULL);
	pthread_mutex_unlock(&ms->bodies_lock);
	pthread_mutex_unlock(&ms->lock);
	if (rc == 0)
		log_info("mailstore",
		    "event=recovered users=%llu bodies=%llu refs_fixed=%llu"
		    " orphans=%llu temps=%llu dangling=%llu",
		    (unsigned long long)stats->users, (unsigned long long)stats->bodies,
		    (unsigned long long)stats->refs_fixed,
		    (unsigned long long)stats->orphans_removed,
		    (unsigned long long)stats->temps_removed, (unsigned long long)stats->dangling);
	return rc;
}
