/*
 * ms_test_util.h - helpers shared by the mail store's unit tests: a temp
 * root per test, removed at the end, and direct looks at the files and
 * bodies.db that the store's API does not expose (so that tests check the
 * on-disk truth, not the store's own view of it).
 */
#ifndef MN_TESTS_MS_TEST_UTIL_H
#define MN_TESTS_MS_TEST_UTIL_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "storage/mailstore/mailstore.h"

static int
ms_test_rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static inline char *
ms_test_mkroot(void)
{
	char tmpl[] = "/tmp/mn-mailstore-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		abort();
	return xasprintf("%s/store", tmpl);
}

static inline void
ms_test_rmroot(char *root)
{
	char *top = xstrdup(root);

	*strrchr(top, '/') = '\0';
	nftw(top, ms_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(top);
	free(root);
}

static size_t ms_test_nfiles;

static int
ms_test_count_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)path;
	(void)sb;
	(void)ftw;
	if (type == FTW_F)
		ms_test_nfiles++;
	return 0;
}

/* Regular files under root/sub. */
static inline size_t
ms_test_count_files(const char *root, const char *sub)
{
	char *p = xasprintf("%s/%s", root, sub);

	ms_test_nfiles = 0;
	nftw(p, ms_test_count_cb, 16, FTW_PHYS);
	free(p);
	return ms_test_nfiles;
}

/* One integer from bodies.db, -1 on error. */
static inline long long
ms_test_bodies_q(const char *root, const char *sql)
{
	char *p = xasprintf("%s/bodies.db", root);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(p);
	return v;
}

static inline struct mailstore *
ms_test_open(const char *root)
{
	struct mailstore *ms = NULL;
	struct mn_err err;

	mn_err_clear(&err);
	if (mailstore_open(root, &ms, &err) != 0) {
		fprintf(stderr, "mailstore_open: %s\n", err.msg);
		abort();
	}
	return ms;
}

#endif
