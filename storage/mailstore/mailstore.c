/*
 * mailstore.c - opening and closing the store, quota usage, and the
 * whole-user operations (exists, delete). See mailstore.h for the layout,
 * the ordering rules and the threading contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

int
mailstore_open(const char *root, struct mailstore **out, struct mn_err *err)
{
	static const char *const subdirs[] = {"bodies", "tmp", "users"};
	struct mailstore *ms;
	int rc;

	*out = NULL;
	if (root == NULL || root[0] == '\0')
		return mn_err_set(err, MN_EINVAL, "mailstore: no root");
	ms = xcalloc(1, sizeof(*ms));
	ms->root = xstrdup(root);
	ms->lock_fd = -1;
	pthread_mutex_init(&ms->lock, NULL);
	pthread_mutex_init(&ms->bodies_lock, NULL);
	for (int i = 0; i < 256; i++)
		pthread_mutex_init(&ms->body_stripe[i], NULL);
	rc = ms_mkdirs(root, err);
	if (rc == 0) {
		/* Recovery deletes ROOT/tmp and the mutex guards one process
		 * only: a second opener would break both. */
		char *p = xasprintf("%s/lock", root);

		ms->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (ms->lock_fd < 0)
			rc = mn_err_set(err, MN_EIO, "open %s: %s", p, strerror(errno));
		else if (flock(ms->lock_fd, LOCK_EX | LOCK_NB) != 0)
			rc = mn_err_set(err, errno == EWOULDBLOCK ? MN_EAGAIN : MN_EIO,
			    "%s: store in use (%s)", p, strerror(errno));
		free(p);
	}
	for (size_t i = 0; rc == 0 && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *p = xasprintf("%s/%s", root, subdirs[i]);

		rc = ms_mkdirs(p, err);
		free(p);
	}
	if (rc == 0)
		rc = body_store_open(ms, err);
	if (rc == 0)
		rc = ms_fsync_dir(root, err); /* bodies.db's entry */
	if (rc != 0) {
		mailstore_close(&ms);
		return mn_err_wrap(err, "mailstore %s", root);
	}
	*out = ms;
	return 0;
}

void
mailstore_close(struct mailstore **msp)
{
	struct mailstore *ms = *msp;

	if (ms == NULL)
		return;
	ms_user_close_all(ms);
	ms_close_db(ms->bodies);
	if (ms->lock_fd >= 0)
		close(ms->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&ms->lock);
	pthread_mutex_destroy(&ms->bodies_lock);
	for (int i = 0; i < 256; i++)
		pthread_mutex_destroy(&ms->body_stripe[i]);
	free(ms->root);
	free(ms);
	*msp = NULL;
}

int
mailstore_quota_usage(struct mailstore *ms, const char *user, uint64_t *bytes_out,
    uint64_t *messages_out, struct mn_err *err)
{
	struct ms_user *u;
	int rc;

	if (bytes_out)
		*bytes_out = 0;
	if (messages_out)
		*messages_out = 0;
	rc = ms_enter2(ms, user, false, &u, err);
	if (rc == MN_ENOENT)
		return 0; /* no mailbox yet: nothing used (and none made) */
	if (rc != 0)
		return rc;
	if (bytes_out)
		*bytes_out = (uint64_t)ms_meta_get(u->db, "used_bytes");
	if (messages_out)
		*messages_out = (uint64_t)ms_meta_get(u->db, "used_messages");
	ms_leave(ms, u);
	return 0;
}

bool
mailstore_user_exists(struct mailstore *ms, const char *user)
{
	struct ms_user *u;
	bool exists;

	pthread_mutex_lock(&ms->lock);
	exists = ms_user_get(ms, user, false, &u, NULL) == 0; /* u: not held, not used */
	pthread_mutex_unlock(&ms->lock);
	return exists;
}

int
ms_index_hashes(sqlite3 *db, char ***out, size_t *n_out, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (ms_prepare(db, "SELECT body_hash FROM messages", &st) != SQLITE_OK)
		return ms_db_err(db, err, "index hashes");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	ms_finalize(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return ms_db_err(db, err, "index hashes");
	}
	*out = v;
	*n_out = n;
	return 0;
}

int
mailstore_user_delete(struct mailstore *ms, const char *user, struct mn_err *err)
{
	char *parent = NULL, *tmp = NULL, *path = NULL, **hashes = NULL;
	size_t nh = 0;
	sqlite3 *db = NULL;
	struct ms_user *u;
	int rc;

	rc = ms_enter2(ms, user, false, &u, err);
	if (rc != 0)
		return rc;
	/* Out of users/ first (durably): from then on no index refers to
	 * the bodies, and recovery would drop the half-deleted rest. */
	tmp = ms_tmp_name(ms, "deluser");
	rc = ms_user_move_out(ms, u, tmp, err);
	if (rc != 0)
		goto out;
	ms_crash_point();
	parent = xstrdup(u->dir);
	*strrchr(parent, '/') = '\0';
	rc = ms_fsync_dir(parent, err);
	if (rc != 0)
		goto out;
	path = xasprintf("%s/index.db", tmp);
	if (ms_open_db(path, &db, err) == 0 && ms_index_hashes(db, &hashes, &nh, err) == 0)
		body_store_unref(ms, hashes, nh);
	else
		log_warn("mailstore", "event=user_delete_unref_failed error=\"%s\"",
		    err ? err->msg : "");
	rc = 0; /* the mailbox is gone; leftovers are recovery's */
	ms_close_db(db);
	ms_rmtree(tmp);
out:
	ms_leave(ms, u);
	for (size_t i = 0; i < nh; i++)
		free(hashes[i]);
	free(hashes);
	free(path);
	free(tmp);
	free(parent);
	return rc;
}
