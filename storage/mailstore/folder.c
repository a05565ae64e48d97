/*
 * folder.c - folders of a user's mailbox: names, UIDVALIDITY, list with
 * counts, create, rename (with children), delete, subscribe (RFC 3501 §6.3,
 * RFC 6154 special-use roles).
 *
 * Names are UTF-8 with '/' as the hierarchy separator; the IMAP layer does
 * the modified UTF-7 conversion. A name is refused if it is empty, longer
 * than MAILSTORE_MAX_FOLDER_NAME, not valid UTF-8, holds a control
 * character or a LIST wildcard ('*', '%'), or has an empty component.
 * UIDVALIDITY is max(now, last given to this user + 1), so a folder deleted
 * and created again under the same name never reuses one (RFC 3501 §2.3.1.1).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

int
ms_folder_name(const char *in, char **out, struct mn_err *err)
{
	size_t len = in ? strlen(in) : 0;
	char *name;

	if (len == 0 || len > MAILSTORE_MAX_FOLDER_NAME)
		return mn_err_set(err, MN_EINVAL, "folder name: bad length");
	if (!utf8_valid(in, len))
		return mn_err_set(err, MN_EINVAL, "folder name: not UTF-8");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return mn_err_set(err, MN_EINVAL, "folder name: forbidden character");
		if (c == '/' && (i == 0 || i == len - 1 || in[i + 1] == '/'))
			return mn_err_set(err, MN_EINVAL, "folder name: empty component");
	}
	name = xstrdup(in);
	/* INBOX is case-insensitive (RFC 3501 §5.1), also as a parent */
	if (ascii_ncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	*out = name;
	return 0;
}

int
ms_folder_find(sqlite3 *db, const char *name, struct ms_folder *f, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ms_prepare(db,
	        "SELECT id, uidvalidity, uidnext, highestmodseq FROM folders"
	        " WHERE name = ?",
	        &st) != SQLITE_OK)
		return ms_db_err(db, err, "folder: prepare");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		f->id = sqlite3_column_int64(st, 0);
		f->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		f->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		f->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mn_err_set(err, MN_ENOENT, "no such folder");
	} else {
		rc = ms_db_err(db, err, "folder: find");
	}
	ms_finalize(st);
	return rc;
}

int
ms_folder_update(sqlite3 *db, const struct ms_folder *f, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ms_prepare(db, "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?", &st) !=
	    SQLITE_OK)
		return ms_db_err(db, err, "folder: prepare");
	sqlite3_bind_int64(st, 1, f->uidnext);
	sqlite3_bind_int64(st, 2, (int64_t)f->highestmodseq);
	sqlite3_bind_int64(st, 3, f->id);
	rc = sqlite3_step(st);
	ms_finalize(st);
	return rc == SQLITE_DONE ? 0 : ms_db_err(db, err, "folder: update");
}

static int64_t
folder_count(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (ms_prepare(db, "SELECT COUNT(*) FROM folders", &st) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	ms_finalize(st);
	return n;
}

int
ms_folder_insert(
    sqlite3 *db, const char *name, const char *special_use, bool subscribed, struct mn_err *err)
{
	int64_t last = ms_meta_get(db, "last_uidvalidity");
	int64_t now = (int64_t)time(NULL);
	int64_t uv = now > last ? now : last + 1;
	sqlite3_stmt *st = NULL;
	int rc;

	if (uv > (int64_t)UINT32_MAX)
		return mn_err_set(err, MN_ELIMIT, "folder: UIDVALIDITY exhausted");
	if (folder_count(db) >= MAILSTORE_MAX_FOLDERS)
		return mn_err_set(err, MN_ELIMIT, "folder: too many folders");
	if (ms_prepare(db,
	        "INSERT INTO folders(name, uidvalidity, uidnext, highestmodseq,"
	        " subscribed, special_use) VALUES(?, ?, 1, 1, ?, ?)",
	        &st) != SQLITE_OK)
		return ms_db_err(db, err, "folder: prepare");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uv);
	sqlite3_bind_int(st, 3, subscribed);
	if (special_use)
		sqlite3_bind_text(st, 4, special_use, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	rc = sqlite3_step(st);
	ms_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return mn_err_set(err, MN_EEXIST, "folder exists");
	if (rc != SQLITE_DONE)
		return ms_db_err(db, err, "folder: insert");
	return ms_meta_set(db, "last_uidvalidity", uv, err);
}

/* Create the missing parents of name ("a/b/c": "a", "a/b"). */
static int
create_parents(sqlite3 *db, const char *name, struct mn_err *err)
{
	char *p = xstrdup(name);
	int rc = 0;

	for (char *s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/')) {
		struct ms_folder f;

		*s = '\0';
		rc = ms_folder_find(db, p, &f, err);
		if (rc == MN_ENOENT)
			rc = ms_folder_insert(db, p, NULL, false, err);
		*s = '/';
		if (rc != 0)
			break;
	}
	free(p);
	return rc;
}

bool
ms_special_use_valid(const char *s)
{
	static const char *const roles[] = {
	    "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(s, roles[i]) == 0)
			return true;
	return false;
}

static void
info_from_row(sqlite3_stmt *st, struct mailstore_folder_info *fi)
{
	const char *su = (const char *)sqlite3_column_text(st, 1);

	fi->name = xstrdup((const char *)sqlite3_column_text(st, 0));
	fi->special_use = su ? xstrdup(su) : NULL;
	fi->subscribed = sqlite3_column_int(st, 2) != 0;
	fi->uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
	fi->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
	fi->highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
	fi->messages = (uint32_t)sqlite3_column_int64(st, 6);
	fi->unseen = (uint32_t)sqlite3_column_int64(st, 7);
	fi->bytes = (uint64_t)sqlite3_column_int64(st, 8);
}

#define FOLDER_INFO_SQL                                                                            \
	"SELECT f.name, f.special_use, f.subscribed, f.uidvalidity,"                               \
	" f.uidnext, f.highestmodseq, COUNT(m.uid),"                                               \
	" COALESCE(SUM(m.uid IS NOT NULL AND (m.flags & 1) = 0), 0),"                              \
	" COALESCE(SUM(m.size), 0)"                                                                \
	" FROM folders f LEFT JOIN messages m ON m.folder_id = f.id"

int
mailstore_folder_list(struct mailstore *ms, const char *user, struct mailstore_folder_info **out,
    size_t *n_out, struct mn_err *err)
{
	struct mailstore_folder_info *list = NULL;
	size_t n = 0, cap = 0;
	struct ms_user *u;
	sqlite3_stmt *st = NULL;
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0)
		return rc;
	if (ms_prepare(u->db, FOLDER_INFO_SQL " GROUP BY f.id ORDER BY f.name", &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "folder list");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			list = xrealloc(list, cap * sizeof(*list));
		}
		info_from_row(st, &list[n++]);
	}
	if (rc != SQLITE_DONE) {
		rc = ms_db_err(u->db, err, "folder list");
		mailstore_folder_list_free(&list, n);
		n = 0;
		goto out;
	}
	rc = 0;
	*out = list;
	*n_out = n;
out:
	ms_finalize(st);
	ms_leave(ms, u);
	return rc;
}

void
mailstore_folder_info_fini(struct mailstore_folder_info *info)
{
	free(info->name);
	free(info->special_use);
	info->name = info->special_use = NULL;
}

void
mailstore_folder_list_free(struct mailstore_folder_info **list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		mailstore_folder_info_fini(&(*list)[i]);
	free(*list);
	*list = NULL;
}

int
mailstore_folder_status(struct mailstore *ms, const char *user, const char *folder,
    struct mailstore_folder_info *out, struct mn_err *err)
{
	struct ms_user *u;
	sqlite3_stmt *st = NULL;
	char *name = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ms_folder_name(folder, &name, err);
	if (rc != 0)
		return rc;
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0) {
		free(name);
		return rc;
	}
	if (ms_prepare(u->db,
	        FOLDER_INFO_SQL " WHERE f.name = ?"
	                        " GROUP BY f.id",
	        &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "folder status");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		info_from_row(st, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mn_err_set(err, MN_ENOENT, "no such folder");
	} else {
		rc = ms_db_err(u->db, err, "folder status");
	}
out:
	ms_finalize(st);
	ms_leave(ms, u);
	free(name);
	return rc;
}

int
mailstore_folder_create(struct mailstore *ms, const char *user, const char *folder,
    const char *special_use, struct mn_err *err)
{
	struct ms_user *u;
	char *name = NULL;
	int rc;

	if (special_use != NULL && !ms_special_use_valid(special_use))
		return mn_err_set(err, MN_EINVAL, "folder: bad special-use");
	rc = ms_folder_name(folder, &name, err);
	if (rc != 0)
		return rc;
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0) {
		free(name);
		return rc;
	}
	rc = ms_begin(u->db, err);
	if (rc == 0)
		rc = create_parents(u->db, name, err);
	if (rc == 0)
		rc = ms_folder_insert(u->db, name, special_use, false, err);
	if (rc == 0)
		rc = ms_commit(u->db, err);
	else
		ms_rollback(u->db);
	ms_leave(ms, u);
	free(name);
	return rc;
}

/* Is name equal to parent or below it? */
static bool
is_within(const char *name, const char *parent)
{
	size_t n = strlen(parent);

	return strncmp(name, parent, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

/* RENAME INBOX (RFC 3501 §6.3.5): its messages move to a new folder, INBOX
 * stays, empty, and its children stay where they are. The messages keep
 * their UIDs and MODSEQs under the new folder's own UIDVALIDITY; INBOX
 * keeps its UIDNEXT so that no UID is given twice. */
static int
rename_inbox(sqlite3 *db, const char *dst, struct mn_err *err)
{
	struct ms_folder in, nf;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = ms_folder_find(db, "INBOX", &in, err)) != 0 ||
	    (rc = create_parents(db, dst, err)) != 0 ||
	    (rc = ms_folder_insert(db, dst, NULL, false, err)) != 0 ||
	    (rc = ms_folder_find(db, dst, &nf, err)) != 0)
		return rc;
	nf.uidnext = in.uidnext;
	nf.highestmodseq = in.highestmodseq;
	in.highestmodseq++; /* the messages left it: an expunge */
	if ((rc = ms_folder_update(db, &nf, err)) != 0 ||
	    (rc = ms_folder_update(db, &in, err)) != 0)
		return rc;
	if (ms_prepare(db, "UPDATE messages SET folder_id = ? WHERE folder_id = ?", &st) !=
	    SQLITE_OK)
		return ms_db_err(db, err, "rename INBOX");
	sqlite3_bind_int64(st, 1, nf.id);
	sqlite3_bind_int64(st, 2, in.id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ms_db_err(db, err, "rename INBOX");
	ms_finalize(st);
	return rc;
}

int
mailstore_folder_rename(
    struct mailstore *ms, const char *user, const char *from, const char *to, struct mn_err *err)
{
	char *src = NULL, *dst = NULL, **names = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	struct ms_user *u;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = ms_folder_name(from, &src, err)) != 0 ||
	    (rc = ms_folder_name(to, &dst, err)) != 0)
		goto out_free;
	if (strcmp(src, "INBOX") == 0) {
		rc = ms_enter(ms, user, &u, err);
		if (rc != 0)
			goto out_free;
		rc = ms_begin(u->db, err);
		if (rc == 0)
			rc = rename_inbox(u->db, dst, err);
		if (rc == 0)
			rc = ms_commit(u->db, err);
		else
			ms_rollback(u->db);
		ms_leave(ms, u);
		goto out_free;
	}
	if (is_within(dst, src)) {
		rc = mn_err_set(err, MN_EINVAL, "folder: rename into itself");
		goto out_free;
	}
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0)
		goto out_free;
	rc = ms_begin(u->db, err);
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db, "SELECT id, name FROM folders", &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "folder rename");
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *nm = (const char *)sqlite3_column_text(st, 1);

		if (!is_within(nm, src))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			ids = xrealloc(ids, cap * sizeof(*ids));
			names = xrealloc(names, cap * sizeof(*names));
		}
		ids[n] = sqlite3_column_int64(st, 0);
		names[n++] = xasprintf("%s%s", dst, nm + strlen(src));
	}
	ms_finalize(st);
	st = NULL;
	if (n == 0) {
		rc = mn_err_set(err, MN_ENOENT, "no such folder");
		goto out;
	}
	rc = create_parents(u->db, dst, err);
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db, "UPDATE folders SET name = ? WHERE id = ?", &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "folder rename");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) > MAILSTORE_MAX_FOLDER_NAME) {
			rc = mn_err_set(err, MN_EINVAL, "folder name: too long");
			goto out;
		}
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, ids[i]);
		rc = sqlite3_step(st);
		if (rc == SQLITE_CONSTRAINT) {
			rc = mn_err_set(err, MN_EEXIST, "folder exists");
			goto out;
		}
		if (rc != SQLITE_DONE) {
			rc = ms_db_err(u->db, err, "folder rename");
			goto out;
		}
	}
	rc = 0;
out:
	ms_finalize(st);
	if (rc == 0)
		rc = ms_commit(u->db, err);
	else
		ms_rollback(u->db);
	ms_leave(ms, u);
out_free:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(ids);
	free(src);
	free(dst);
	return rc;
}

/* Collect the body hashes of a folder's messages. */
static int
folder_hashes(sqlite3 *db, int64_t folder_id, char ***out, size_t *n_out, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (ms_prepare(db, "SELECT body_hash FROM messages WHERE folder_id = ?", &st) != SQLITE_OK)
		return ms_db_err(db, err, "folder hashes");
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	ms_finalize(st);
	*out = v;
	*n_out = n;
	return rc == SQLITE_DONE ? 0 : ms_db_err(db, err, "folder hashes");
}

int
mailstore_folder_delete(
    struct mailstore *ms, const char *user, const char *folder, struct mn_err *err)
{
	struct ms_user *u;
	struct ms_folder f;
	char *name = NULL, *child = NULL, **hashes = NULL;
	size_t nh = 0;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ms_folder_name(folder, &name, err);
	if (rc != 0)
		return rc;
	if (strcmp(name, "INBOX") == 0) {
		free(name);
		return mn_err_set(err, MN_EPERM, "folder: cannot delete INBOX");
	}
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0) {
		free(name);
		return rc;
	}
	rc = ms_begin(u->db, err);
	if (rc == 0)
		rc = ms_folder_find(u->db, name, &f, err);
	if (rc != 0)
		goto out;
	/* children: names starting with "name/" (compared as bytes) */
	child = xasprintf("%s/", name);
	if (ms_prepare(u->db,
	        "SELECT 1 FROM folders WHERE substr(CAST(name AS BLOB), 1, ?) ="
	        " CAST(? AS BLOB) LIMIT 1",
	        &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "folder delete");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (int64_t)strlen(child));
	sqlite3_bind_text(st, 2, child, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = mn_err_set(err, MN_ECONFLICT, "folder has children");
		goto out;
	}
	ms_finalize(st);
	st = NULL;
	rc = folder_hashes(u->db, f.id, &hashes, &nh, err);
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db, "SELECT COALESCE(SUM(size), 0) FROM messages WHERE folder_id = ?",
	        &st) != SQLITE_OK ||
	    (sqlite3_bind_int64(st, 1, f.id), sqlite3_step(st)) != SQLITE_ROW) {
		rc = ms_db_err(u->db, err, "folder delete");
		goto out;
	}
	rc = ms_meta_add(u->db, "used_bytes", -sqlite3_column_int64(st, 0), err);
	if (rc == 0)
		rc = ms_meta_add(u->db, "used_messages", -(int64_t)nh, err);
	ms_finalize(st);
	st = NULL;
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db, "DELETE FROM messages WHERE folder_id = ?1;", &st) != SQLITE_OK ||
	    (sqlite3_bind_int64(st, 1, f.id), sqlite3_step(st)) != SQLITE_DONE) {
		rc = ms_db_err(u->db, err, "folder delete");
		goto out;
	}
	ms_finalize(st);
	if (ms_prepare(u->db, "DELETE FROM folders WHERE id = ?1", &st) != SQLITE_OK ||
	    (sqlite3_bind_int64(st, 1, f.id), sqlite3_step(st)) != SQLITE_DONE) {
		rc = ms_db_err(u->db, err, "folder delete");
		goto out;
	}
out:
	ms_finalize(st);
	if (rc == 0)
		rc = ms_commit(u->db, err);
	else
		ms_rollback(u->db);
	/* index rows are gone (committed): now the references may go */
	if (rc == 0)
		body_store_unref(ms, hashes, nh);
	ms_leave(ms, u);
	for (size_t i = 0; i < nh; i++)
		free(hashes[i]);
	free(hashes);
	free(child);
	free(name);
	return rc;
}

int
mailstore_folder_subscribe(
    struct mailstore *ms, const char *user, const char *folder, bool subscribed, struct mn_err *err)
{
	struct ms_user *u;
	sqlite3_stmt *st = NULL;
	char *name = NULL;
	int rc;

	rc = ms_folder_name(folder, &name, err);
	if (rc != 0)
		return rc;
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0) {
		free(name);
		return rc;
	}
	if (ms_prepare(u->db, "UPDATE folders SET subscribed = ? WHERE name = ?", &st) !=
	    SQLITE_OK) {
		rc = ms_db_err(u->db, err, "subscribe");
	} else {
		sqlite3_bind_int(st, 1, subscribed);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = ms_db_err(u->db, err, "subscribe");
		else if (sqlite3_changes(u->db) == 0)
			rc = mn_err_set(err, MN_ENOENT, "no such folder");
	}
	ms_finalize(st);
	ms_leave(ms, u);
	free(name);
	return rc;
}
