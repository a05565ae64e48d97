/*
 * message.c - messages of a folder: add (deliver/append), list, body and
 * header reads, STORE of flags and keywords with MODSEQ (RFC 3501 §6.4.6,
 * RFC 7162 CONDSTORE), EXPUNGE and UID EXPUNGE (RFC 4315), COPY and MOVE
 * (RFC 4315 COPYUID, RFC 6851).
 *
 * Every change of a folder takes a new MODSEQ = HIGHESTMODSEQ + 1, given to
 * each message it changes (one value per call), and HIGHESTMODSEQ follows;
 * expunges raise it too. Keywords are IMAP atoms (RFC 3501 §9 flag-keyword)
 * kept space-separated in the spelling first given; they compare
 * case-insensitively.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

/* --- keywords ------------------------------------------------------------- */

static bool
keyword_valid(const char *k)
{
	size_t len = strlen(k);

	if (len == 0 || len > MAILSTORE_MAX_KEYWORD || k[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)k[i];

		/* atom-specials and resp-specials, RFC 3501 §9 */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

struct kwset {
	char **v;
	size_t n;
};

static ssize_t
kwset_find(const struct kwset *s, const char *k)
{
	for (size_t i = 0; i < s->n; i++)
		if (ascii_casecmp(s->v[i], k) == 0)
			return (ssize_t)i;
	return -1;
}

static void
kwset_add(struct kwset *s, const char *k)
{
	if (kwset_find(s, k) >= 0)
		return;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(k);
}

static void
kwset_del(struct kwset *s, const char *k)
{
	ssize_t i = kwset_find(s, k);

	if (i < 0)
		return;
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): i >= 0 means s->n > 0 */
	free(s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->v));
	s->n--;
}

static void
kwset_parse(struct kwset *s, const char *text)
{
	const char *p = text;

	s->v = NULL;
	s->n = 0;
	while (p && *p) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		char *k = xstrndup(p, len);

		if (len > 0)
			kwset_add(s, k);
		free(k);
		p = sp ? sp + 1 : NULL;
	}
}

static char *
kwset_join(const struct kwset *s)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < s->n; i++) {
		if (i > 0)
			buf_append(&b, " ", 1);
		buf_append_str(&b, s->v[i]);
	}
	buf_cstr(&b);
	return buf_steal(&b, NULL);
}

static void
kwset_fini(struct kwset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int
keywords_check(const char *const *kw, size_t nkw, struct mn_err *err)
{
	if (nkw > MAILSTORE_MAX_KEYWORDS)
		return mn_err_set(err, MN_ELIMIT, "too many keywords");
	for (size_t i = 0; i < nkw; i++)
		if (kw[i] == NULL || !keyword_valid(kw[i]))
			return mn_err_set(err, MN_EINVAL, "bad keyword");
	return 0;
}

/* --- uid sets --------------------------------------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted copy of uids without repeats. */
static uint32_t *
uids_sorted(const uint32_t *uids, size_t n, size_t *n_out)
{
	uint32_t *v = xmalloc((n ? n : 1) * sizeof(*v));
	size_t k = 0;

	if (n > 0)
		memcpy(v, uids, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	*n_out = k;
	return v;
}

static bool
uids_has(const uint32_t *sorted, size_t n, uint32_t uid)
{
	return bsearch(&uid, sorted, n, sizeof(uid), cmp_u32) != NULL;
}

/* --- adding ---------------------------------------------------------------- */

/* The insert of ms_index_add, inside the caller's transaction. */
static int
index_add_tx(sqlite3 *db, const char *folder, const char *hash, uint64_t size, int64_t date,
    uint32_t flags, const char *keywords, const struct mailstore_quota *q, uint32_t *uid_out,
    uint32_t *uv_out, struct mn_err *err)
{
	struct ms_folder f;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ms_folder_find(db, folder, &f, err);
	if (rc != 0)
		return rc;
	if (q != NULL) {
		uint64_t bytes = (uint64_t)ms_meta_get(db, "used_bytes");
		uint64_t msgs = (uint64_t)ms_meta_get(db, "used_messages");

		if ((q->max_bytes && bytes + size > q->max_bytes) ||
		    (q->max_messages && msgs + 1 > q->max_messages))
			return mn_err_set(err, MN_ENOQUOTA, "quota exceeded");
	}
	if (f.uidnext == UINT32_MAX) {
		/* XXX: a new UIDVALIDITY with renumbering would lift this */
		return mn_err_set(err, MN_ELIMIT, "folder: UIDs exhausted");
	}
	if (ms_prepare(db,
	        "INSERT INTO messages(folder_id, uid, body_hash, size, internal_date,"
	        " flags, keywords, modseq) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	        &st) != SQLITE_OK)
		return ms_db_err(db, err, "message add");
	f.highestmodseq++;
	sqlite3_bind_int64(st, 1, f.id);
	sqlite3_bind_int64(st, 2, f.uidnext);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)size);
	sqlite3_bind_int64(st, 5, date);
	sqlite3_bind_int64(st, 6, flags);
	sqlite3_bind_text(st, 7, keywords, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (int64_t)f.highestmodseq);
	rc = sqlite3_step(st);
	ms_finalize(st);
	if (rc != SQLITE_DONE)
		return ms_db_err(db, err, "message add");
	*uid_out = f.uidnext++;
	*uv_out = f.uidvalidity;
	if ((rc = ms_folder_update(db, &f, err)) != 0 ||
	    (rc = ms_meta_add(db, "used_bytes", (int64_t)size, err)) != 0 ||
	    (rc = ms_meta_add(db, "used_messages", 1, err)) != 0)
		return rc;
	return 0;
}

int
ms_index_add(sqlite3 *db, const char *folder, const char *hash, uint64_t size, int64_t date,
    uint32_t flags, const char *keywords, const struct mailstore_quota *q, uint32_t *uid_out,
    uint32_t *uv_out, struct mn_err *err)
{
	int rc;

	rc = ms_begin(db, err);
	if (rc != 0)
		return rc;
	rc = index_add_tx(db, folder, hash, size, date, flags, keywords, q, uid_out, uv_out, err);
	if (rc != 0) {
		ms_rollback(db);
		return rc;
	}
	return ms_commit(db, err);
}

/* Look delivery id up for a body with this hash: 1 (found, uid/uv set), 0
 * (not there, or there for other bytes) or an error. The hash makes an id
 * that comes back for another message (a spool id reissued after the clock
 * went back) store the message instead of taking it for a repeat. */
static int
delivery_find(
    sqlite3 *db, const char *id, const char *hash, uint32_t *uid, uint32_t *uv, struct mn_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ms_prepare(db, "SELECT uid, uidvalidity FROM deliveries WHERE id = ? AND hash = ?",
	        &st) != SQLITE_OK)
		return ms_db_err(db, err, "delivery id");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*uid = (uint32_t)sqlite3_column_int64(st, 0);
		*uv = (uint32_t)sqlite3_column_int64(st, 1);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : ms_db_err(db, err, "delivery id");
	}
	ms_finalize(st);
	return rc;
}

static int
delivery_record(
    sqlite3 *db, const char *id, const char *hash, uint32_t uid, uint32_t uv, struct mn_err *err)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st = NULL;
	int rc;

	if (ms_prepare(db,
	        "INSERT OR REPLACE INTO deliveries(id, hash, uid, uidvalidity, at)"
	        " VALUES(?, ?, ?, ?, ?)",
	        &st) != SQLITE_OK)
		return ms_db_err(db, err, "delivery id");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, uid);
	sqlite3_bind_int64(st, 4, uv);
	sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	ms_finalize(st);
	if (rc != SQLITE_DONE)
		return ms_db_err(db, err, "delivery id");
	/* prune now and then (a full scan of a small table) */
	if (uid % 64 == 0) {
		if (ms_prepare(db, "DELETE FROM deliveries WHERE at < ?", &st) != SQLITE_OK)
			return ms_db_err(db, err, "delivery id");
		sqlite3_bind_int64(st, 1, now - (int64_t)MAILSTORE_DELIVERY_ID_DAYS * 86400);
		rc = sqlite3_step(st);
		ms_finalize(st);
		if (rc != SQLITE_DONE)
			return ms_db_err(db, err, "delivery id");
	}
	return 0;
}

int
ms_index_add_once(sqlite3 *db, const char *delivery_id, const char *folder, const char *hash,
    uint64_t size, int64_t date, const struct mailstore_quota *q, uint32_t *uid_out,
    uint32_t *uv_out, bool *dup, struct mn_err *err)
{
	int rc;

	*dup = false;
	rc = ms_begin(db, err);
	if (rc != 0)
		return rc;
	if (delivery_id != NULL) {
		rc = delivery_find(db, delivery_id, hash, uid_out, uv_out, err);
		if (rc == 1) {
			*dup = true;
			ms_rollback(db);
			return 0;
		}
	}
	if (rc == 0)
		rc = index_add_tx(db, folder, hash, size, date, 0, "", q, uid_out, uv_out, err);
	if (rc == 0 && delivery_id != NULL)
		rc = delivery_record(db, delivery_id, hash, *uid_out, *uv_out, err);
	if (rc != 0) {
		ms_rollback(db);
		return rc;
	}
	return ms_commit(db, err);
}

int
mailstore_deliver_id(struct mailstore *ms, const char *delivery_id, const char *const *users,
    size_t n, const void *data, size_t len, int64_t internal_date, const char *folder,
    const struct mailstore_quota *limits, struct mailstore_deliver_result *results,
    struct mn_err *err)
{
	char hex[MS_HASH_HEX + 1], *name = NULL, **unref;
	size_t ok = 0, nunref = 0;
	int rc;

	if (n == 0 || n > UINT32_MAX)
		return mn_err_set(err, MN_EINVAL, "deliver: no recipients");
	if (delivery_id != NULL &&
	    (delivery_id[0] == '\0' || strlen(delivery_id) > MAILSTORE_MAX_DELIVERY_ID))
		return mn_err_set(err, MN_EINVAL, "deliver: bad delivery id");
	rc = ms_folder_name(folder ? folder : "INBOX", &name, err);
	if (rc != 0)
		return rc;
	/* One body for everybody, referenced n times before any index row
	 * exists; references not used are given back below. Each user's
	 * index is then written under that user's lock only. */
	rc = body_store_put(ms, data, len, (uint32_t)n, hex, err);
	if (rc != 0) {
		free(name);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct mailstore_deliver_result *r = &results[i];
		struct mn_err uerr;
		struct ms_user *u;

		memset(r, 0, sizeof(*r));
		mn_err_clear(&uerr);
		r->rc = ms_enter(ms, users[i], &u, &uerr);
		if (r->rc == 0) {
			r->rc = ms_index_add_once(u->db, delivery_id, name, hex, len, internal_date,
			    limits ? &limits[i] : NULL, &r->uid, &r->uidvalidity, &r->duplicate,
			    &uerr);
			ms_leave(ms, u);
		}
		if (r->rc == 0 && !r->duplicate)
			ok++;
	}
	unref = xcalloc(n - ok + 1, sizeof(*unref));
	for (size_t i = 0; i < n - ok; i++)
		unref[nunref++] = hex;
	body_store_unref(ms, unref, nunref);
	free(unref);
	free(name);
	return 0;
}

int
mailstore_deliver(struct mailstore *ms, const char *const *users, size_t n, const void *data,
    size_t len, int64_t internal_date, const char *folder, const struct mailstore_quota *limits,
    struct mailstore_deliver_result *results, struct mn_err *err)
{
	return mailstore_deliver_id(
	    ms, NULL, users, n, data, len, internal_date, folder, limits, results, err);
}

int
mailstore_append(struct mailstore *ms, const char *user, const char *folder, const void *data,
    size_t len, uint32_t flags, const char *const *keywords, size_t nkw, int64_t internal_date,
    const struct mailstore_quota *limits, uint32_t *uid_out, uint32_t *uidvalidity_out,
    struct mn_err *err)
{
	char hex[MS_HASH_HEX + 1], *name = NULL, *kw = NULL, *h = hex;
	struct kwset ks = {0};
	uint32_t uid, uv;
	struct ms_user *u;
	int rc;

	if (flags & ~MAILSTORE_ALL_FLAGS)
		return mn_err_set(err, MN_EINVAL, "append: bad flags");
	if ((rc = keywords_check(keywords, nkw, err)) != 0 ||
	    (rc = ms_folder_name(folder, &name, err)) != 0)
		return rc;
	for (size_t i = 0; i < nkw; i++)
		kwset_add(&ks, keywords[i]);
	kw = kwset_join(&ks);
	kwset_fini(&ks);
	rc = ms_enter(ms, user, &u, err);
	if (rc != 0)
		goto out;
	rc = body_store_put(ms, data, len, 1, hex, err);
	if (rc == 0) {
		rc = ms_index_add(
		    u->db, name, hex, len, internal_date, flags, kw, limits, &uid, &uv, err);
		if (rc != 0)
			body_store_unref(ms, &h, 1);
	}
	ms_leave(ms, u);
	if (rc == 0) {
		if (uid_out)
			*uid_out = uid;
		if (uidvalidity_out)
			*uidvalidity_out = uv;
	}
out:
	free(kw);
	free(name);
	return rc;
}

/* --- reading --------------------------------------------------------------- */

/* Enter the store and find the folder; on error the store is unlocked. */
static int
enter_folder(struct mailstore *ms, const char *user, const char *folder, struct ms_user **u,
    struct ms_folder *f, struct mn_err *err)
{
	char *name = NULL;
	int rc;

	rc = ms_folder_name(folder, &name, err);
	if (rc != 0)
		return rc;
	rc = ms_enter(ms, user, u, err);
	if (rc == 0) {
		rc = ms_folder_find((*u)->db, name, f, err);
		if (rc != 0)
			ms_leave(ms, *u);
	}
	free(name);
	return rc;
}

/* a message from a row of MSG_COLUMNS (keywords newly allocated) */
#define MSG_COLUMNS "SELECT uid, flags, keywords, modseq, size, internal_date FROM messages"

static void
msg_from_row(sqlite3_stmt *st, struct mailstore_msg *m)
{
	m->uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->flags = (uint32_t)sqlite3_column_int64(st, 1);
	m->keywords = xstrdup((const char *)sqlite3_column_text(st, 2));
	m->modseq = (uint64_t)sqlite3_column_int64(st, 3);
	m->size = (uint64_t)sqlite3_column_int64(st, 4);
	m->internal_date = sqlite3_column_int64(st, 5);
}

int
mailstore_msg_get(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    struct mailstore_msg *out, struct mn_err *err)
{
	struct ms_user *u;
	struct ms_folder f;
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = enter_folder(ms, user, folder, &u, &f, err);
	if (rc != 0)
		return rc;
	if (ms_prepare(u->db, MSG_COLUMNS " WHERE folder_id = ? AND uid = ?", &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "message get");
		goto out;
	}
	sqlite3_bind_int64(st, 1, f.id);
	sqlite3_bind_int64(st, 2, uid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		msg_from_row(st, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mn_err_set(err, MN_ENOENT, "no message %u in %s", uid, folder);
	} else {
		rc = ms_db_err(u->db, err, "message get");
	}
out:
	ms_finalize(st);
	ms_leave(ms, u);
	return rc;
}

int
mailstore_msg_list(struct mailstore *ms, const char *user, const char *folder,
    uint64_t changedsince, struct mailstore_msg **out, size_t *n_out, struct mn_err *err)
{
	struct mailstore_msg *v = NULL;
	size_t n = 0, cap = 0;
	struct ms_user *u;
	struct ms_folder f;
	sqlite3_stmt *st = NULL;
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = enter_folder(ms, user, folder, &u, &f, err);
	if (rc != 0)
		return rc;
	if (ms_prepare(u->db, MSG_COLUMNS " WHERE folder_id = ? AND modseq > ? ORDER BY uid",
	        &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "message list");
		goto out;
	}
	sqlite3_bind_int64(st, 1, f.id);
	sqlite3_bind_int64(st, 2, (int64_t)changedsince);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mailstore_msg *m;

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		m = &v[n++];
		msg_from_row(st, m);
	}
	if (rc != SQLITE_DONE) {
		rc = ms_db_err(u->db, err, "message list");
		mailstore_msg_list_free(&v, n);
		goto out;
	}
	rc = 0;
	*out = v;
	*n_out = n;
out:
	ms_finalize(st);
	ms_leave(ms, u);
	return rc;
}

void
mailstore_msg_list_free(struct mailstore_msg **list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*list)[i].keywords);
	free(*list);
	*list = NULL;
}

int
mailstore_body_open(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    int *fd_out, uint64_t *size_out, struct mn_err *err)
{
	struct ms_user *u;
	struct ms_folder f;
	sqlite3_stmt *st = NULL;
	char *path = NULL;
	int rc, fd;

	rc = enter_folder(ms, user, folder, &u, &f, err);
	if (rc != 0)
		return rc;
	if (ms_prepare(u->db,
	        "SELECT body_hash, size FROM messages WHERE folder_id = ? AND uid = ?",
	        &st) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "body");
		goto out;
	}
	sqlite3_bind_int64(st, 1, f.id);
	sqlite3_bind_int64(st, 2, uid);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? mn_err_set(err, MN_ENOENT, "no such message")
		                       : ms_db_err(u->db, err, "body");
		goto out;
	}
	path = body_store_path(ms, (const char *)sqlite3_column_text(st, 0));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = mn_err_set(err, MN_EIO, "body %s: %s", path, strerror(errno));
		goto out;
	}
	*fd_out = fd;
	if (size_out)
		*size_out = (uint64_t)sqlite3_column_int64(st, 1);
	rc = 0;
out:
	ms_finalize(st);
	ms_leave(ms, u);
	free(path);
	return rc;
}

int
mailstore_body_read(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    uint64_t offset, size_t len, struct buf *out, struct mn_err *err)
{
	uint64_t size;
	int fd, rc;

	rc = mailstore_body_open(ms, user, folder, uid, &fd, &size, err);
	if (rc != 0)
		return rc;
	if (offset >= size)
		len = 0;
	else if (len > size - offset)
		len = (size_t)(size - offset);
	rc = buf_reserve(out, len);
	if (rc != 0) {
		close(fd);
		return mn_err_set(err, rc, "body read: %zu bytes", len);
	}
	while (len > 0) {
		ssize_t r = pread(fd, out->data + out->len, len, (off_t)offset);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = mn_err_set(
			    err, MN_EIO, "body read: %s", r < 0 ? strerror(errno) : "short file");
			break;
		}
		out->len += (size_t)r;
		offset += (uint64_t)r;
		len -= (size_t)r;
	}
	close(fd);
	return rc;
}

int
mailstore_header_read(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    size_t max, struct buf *out, struct mn_err *err)
{
	size_t start = out->len, scan = start;
	uint64_t size;
	int fd, rc;

	rc = mailstore_body_open(ms, user, folder, uid, &fd, &size, err);
	if (rc != 0)
		return rc;
	for (;;) {
		char chunk[8192];
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mn_err_set(err, MN_EIO, "header read: %s", strerror(errno));
			break;
		}
		if (r == 0)
			break; /* no empty line: all of it is header */
		if (out->len - start + (size_t)r > max) {
			/* the end may still be within max bytes */
			r = (ssize_t)(max - (out->len - start));
		}
		if ((rc = buf_append(out, chunk, (size_t)r)) != 0) {
			rc = mn_err_set(err, rc, "header read: buffer full");
			break;
		}
		/* an empty line first: the header section is empty */
		if (out->len - start >= 1 && out->data[start] == '\n') {
			out->len = start + 1;
			close(fd);
			return 0;
		}
		if (out->len - start >= 2 && out->data[start] == '\r' &&
		    out->data[start + 1] == '\n') {
			out->len = start + 2;
			close(fd);
			return 0;
		}
		for (size_t i = scan; i < out->len; i++) {
			if (out->data[i] != '\n')
				continue;
			/* "\n\n" or "\n\r\n" ends the header section */
			if ((i + 1 < out->len && out->data[i + 1] == '\n') ||
			    (i + 2 < out->len && out->data[i + 1] == '\r' &&
			        out->data[i + 2] == '\n')) {
				out->len = out->data[i + 1] == '\n' ? i + 2 : i + 3;
				close(fd);
				return 0;
			}
		}
		scan = out->len > start + 2 ? out->len - 2 : start;
		if (out->len - start >= max) {
			rc = mn_err_set(err, MN_ETOOBIG, "header longer than %zu", max);
			break;
		}
	}
	if (rc != 0)
		out->len = start;
	close(fd);
	return rc;
}

/* --- flags ---------------------------------------------------------------- */

int
mailstore_flags_store(struct mailstore *ms, const char *user, const char *folder,
    const uint32_t *uids, size_t n, enum mailstore_flag_op op, uint32_t flags,
    const char *const *keywords, size_t nkw, uint64_t unchangedsince, uint32_t **failed_out,
    size_t *nfailed_out, uint64_t *modseq_out, struct mn_err *err)
{
	sqlite3_stmt *get = NULL, *put = NULL;
	uint32_t *set = NULL, *failed = NULL;
	size_t nset = 0, nfailed = 0;
	bool changed = false;
	struct ms_user *u;
	struct ms_folder f;
	uint64_t modseq;
	int rc;

	if (failed_out)
		*failed_out = NULL;
	if (nfailed_out)
		*nfailed_out = 0;
	if (modseq_out)
		*modseq_out = 0;
	if (flags & ~MAILSTORE_ALL_FLAGS)
		return mn_err_set(err, MN_EINVAL, "store: bad flags");
	if ((rc = keywords_check(keywords, nkw, err)) != 0)
		return rc;
	rc = enter_folder(ms, user, folder, &u, &f, err);
	if (rc != 0)
		return rc;
	set = uids_sorted(uids, n, &nset);
	failed = xmalloc((nset ? nset : 1) * sizeof(*failed));
	modseq = f.highestmodseq + 1;
	/* flags only: no fsync per STORE (ms_durable; ms_leave restores FULL) */
	ms_durable(u, false);
	rc = ms_begin(u->db, err);
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db,
	        "SELECT flags, keywords, modseq FROM messages"
	        " WHERE folder_id = ? AND uid = ?",
	        &get) != SQLITE_OK ||
	    ms_prepare(u->db,
	        "UPDATE messages SET flags = ?, keywords = ?, modseq = ?"
	        " WHERE folder_id = ? AND uid = ?",
	        &put) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "store");
		goto out;
	}
	for (size_t i = 0; i < nset; i++) {
		uint32_t old, nf;
		struct kwset ks;
		char *oldkw, *newkw;

		sqlite3_reset(get);
		sqlite3_bind_int64(get, 1, f.id);
		sqlite3_bind_int64(get, 2, set[i]);
		if (sqlite3_step(get) != SQLITE_ROW)
			continue; /* not in the folder: ignored */
		if (unchangedsince != 0 &&
		    (uint64_t)sqlite3_column_int64(get, 2) > unchangedsince) {
			failed[nfailed++] = set[i];
			continue;
		}
		old = (uint32_t)sqlite3_column_int64(get, 0);
		oldkw = xstrdup((const char *)sqlite3_column_text(get, 1));
		kwset_parse(&ks, oldkw);
		switch (op) {
		case MAILSTORE_FLAGS_SET:
			nf = flags;
			kwset_fini(&ks);
			for (size_t k = 0; k < nkw; k++)
				kwset_add(&ks, keywords[k]);
			break;
		case MAILSTORE_FLAGS_ADD:
			nf = old | flags;
			for (size_t k = 0; k < nkw; k++)
				kwset_add(&ks, keywords[k]);
			break;
		default:
			nf = old & ~flags;
			for (size_t k = 0; k < nkw; k++)
				kwset_del(&ks, keywords[k]);
			break;
		}
		if (ks.n > MAILSTORE_MAX_KEYWORDS) {
			kwset_fini(&ks);
			free(oldkw);
			rc = mn_err_set(err, MN_ELIMIT, "too many keywords");
			goto out;
		}
		newkw = kwset_join(&ks);
		kwset_fini(&ks);
		if (nf != old || strcmp(newkw, oldkw) != 0) {
			sqlite3_reset(put);
			sqlite3_bind_int64(put, 1, nf);
			sqlite3_bind_text(put, 2, newkw, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(put, 3, (int64_t)modseq);
			sqlite3_bind_int64(put, 4, f.id);
			sqlite3_bind_int64(put, 5, set[i]);
			if (sqlite3_step(put) != SQLITE_DONE)
				rc = ms_db_err(u->db, err, "store");
			changed = true;
		}
		free(newkw);
		free(oldkw);
		if (rc != 0)
			goto out;
	}
	if (changed) {
		f.highestmodseq = modseq;
		rc = ms_folder_update(u->db, &f, err);
	}
out:
	ms_finalize(get);
	ms_finalize(put);
	if (rc == 0)
		rc = ms_commit(u->db, err);
	else
		ms_rollback(u->db);
	ms_leave(ms, u);
	if (rc == 0 && changed && modseq_out)
		*modseq_out = modseq;
	if (rc == 0 && failed_out && nfailed > 0) {
		*failed_out = failed;
		failed = NULL;
	}
	if (rc == 0 && nfailed_out)
		*nfailed_out = nfailed;
	free(failed);
	free(set);
	return rc;
}

/* --- expunge ----------------------------------------------------------------- */

int
mailstore_expunge(struct mailstore *ms, const char *user, const char *folder, const uint32_t *uids,
    size_t n, bool only_deleted, uint32_t **expunged_out, size_t *n_out, struct mn_err *err)
{
	sqlite3_stmt *sel = NULL, *del = NULL;
	uint32_t *set = NULL, *gone = NULL;
	char **hashes = NULL;
	size_t nset = 0, ngone = 0, cap = 0;
	int64_t bytes = 0;
	struct ms_user *u;
	struct ms_folder f;
	int rc;

	if (expunged_out)
		*expunged_out = NULL;
	if (n_out)
		*n_out = 0;
	rc = enter_folder(ms, user, folder, &u, &f, err);
	if (rc != 0)
		return rc;
	if (uids != NULL)
		set = uids_sorted(uids, n, &nset);
	rc = ms_begin(u->db, err);
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db,
	        "SELECT uid, body_hash, size, flags FROM messages WHERE folder_id = ?"
	        " ORDER BY uid",
	        &sel) != SQLITE_OK ||
	    ms_prepare(u->db, "DELETE FROM messages WHERE folder_id = ? AND uid = ?", &del) !=
	        SQLITE_OK) {
		rc = ms_db_err(u->db, err, "expunge");
		goto out;
	}
	sqlite3_bind_int64(sel, 1, f.id);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(sel, 0);
		uint32_t fl = (uint32_t)sqlite3_column_int64(sel, 3);

		if (set != NULL && !uids_has(set, nset, uid))
			continue;
		if (only_deleted && !(fl & MAILSTORE_DELETED))
			continue;
		if (ngone == cap) {
			cap = cap ? cap * 2 : 16;
			gone = xrealloc(gone, cap * sizeof(*gone));
			hashes = xrealloc(hashes, cap * sizeof(*hashes));
		}
		gone[ngone] = uid;
		hashes[ngone++] = xstrdup((const char *)sqlite3_column_text(sel, 1));
		bytes += sqlite3_column_int64(sel, 2);
	}
	if (rc != SQLITE_DONE) {
		rc = ms_db_err(u->db, err, "expunge");
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < ngone; i++) {
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, f.id);
		sqlite3_bind_int64(del, 2, gone[i]);
		if (sqlite3_step(del) != SQLITE_DONE) {
			rc = ms_db_err(u->db, err, "expunge");
			goto out;
		}
	}
	if (ngone > 0) {
		f.highestmodseq++;
		if ((rc = ms_folder_update(u->db, &f, err)) != 0 ||
		    (rc = ms_meta_add(u->db, "used_bytes", -bytes, err)) != 0 ||
		    (rc = ms_meta_add(u->db, "used_messages", -(int64_t)ngone, err)) != 0)
			goto out;
	}
out:
	ms_finalize(sel);
	ms_finalize(del);
	if (rc == 0)
		rc = ms_commit(u->db, err);
	else
		ms_rollback(u->db);
	/* rows committed away: only now may the bodies lose references */
	if (rc == 0)
		body_store_unref(ms, hashes, ngone);
	ms_leave(ms, u);
	for (size_t i = 0; i < ngone; i++)
		free(hashes[i]);
	free(hashes);
	if (rc == 0 && expunged_out && ngone > 0) {
		*expunged_out = gone;
		gone = NULL;
	}
	if (rc == 0 && n_out)
		*n_out = ngone;
	free(gone);
	free(set);
	return rc;
}

/* --- copy / move ------------------------------------------------------------- */

struct msg_row {
	uint32_t uid;
	char *hash;
	int64_t size, date;
	uint32_t flags;
	char *keywords;
};

static int
copy_or_move(struct mailstore *ms, const char *user, const char *from, const uint32_t *uids,
    size_t n, const char *to, bool move, const struct mailstore_quota *limits,
    struct mailstore_copyuid *cu, struct mn_err *err)
{
	sqlite3_stmt *get = NULL, *ins = NULL, *del = NULL;
	struct msg_row *rows = NULL;
	char *dname = NULL, **hashes = NULL;
	uint32_t *set = NULL;
	size_t nset = 0, nrows = 0;
	bool refs_taken = false;
	int64_t bytes = 0;
	struct ms_folder src, dst;
	struct ms_user *u;
	int rc;

	if (cu)
		memset(cu, 0, sizeof(*cu));
	if ((rc = ms_folder_name(to, &dname, err)) != 0)
		return rc;
	rc = enter_folder(ms, user, from, &u, &src, err);
	if (rc != 0) {
		free(dname);
		return rc;
	}
	set = uids_sorted(uids, n, &nset);
	rc = ms_begin(u->db, err);
	if (rc == 0)
		rc = ms_folder_find(u->db, dname, &dst, err);
	if (rc != 0)
		goto out;
	if (move && src.id == dst.id) {
		rc = mn_err_set(err, MN_EINVAL, "move: same folder");
		goto out;
	}
	if (ms_prepare(u->db,
	        "SELECT body_hash, size, internal_date, flags, keywords FROM messages"
	        " WHERE folder_id = ? AND uid = ?",
	        &get) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "copy");
		goto out;
	}
	rows = xcalloc(nset ? nset : 1, sizeof(*rows));
	for (size_t i = 0; i < nset; i++) {
		struct msg_row *r = &rows[nrows];

		sqlite3_reset(get);
		sqlite3_bind_int64(get, 1, src.id);
		sqlite3_bind_int64(get, 2, set[i]);
		if (sqlite3_step(get) != SQLITE_ROW)
			continue; /* not there: skipped, as IMAP wants */
		r->uid = set[i];
		r->hash = xstrdup((const char *)sqlite3_column_text(get, 0));
		r->size = sqlite3_column_int64(get, 1);
		r->date = sqlite3_column_int64(get, 2);
		r->flags = (uint32_t)sqlite3_column_int64(get, 3);
		r->keywords = xstrdup((const char *)sqlite3_column_text(get, 4));
		bytes += r->size;
		nrows++;
	}
	if (nrows == 0)
		goto out;
	if (!move && limits != NULL) {
		uint64_t ub = (uint64_t)ms_meta_get(u->db, "used_bytes");
		uint64_t um = (uint64_t)ms_meta_get(u->db, "used_messages");

		if ((limits->max_bytes && ub + (uint64_t)bytes > limits->max_bytes) ||
		    (limits->max_messages && um + nrows > limits->max_messages)) {
			rc = mn_err_set(err, MN_ENOQUOTA, "quota exceeded");
			goto out;
		}
	}
	if ((uint64_t)dst.uidnext + nrows >= UINT32_MAX) {
		rc = mn_err_set(err, MN_ELIMIT, "folder: UIDs exhausted");
		goto out;
	}
	if (!move) {
		/* the copies' references exist before the copies do */
		hashes = xcalloc(nrows, sizeof(*hashes));
		for (size_t i = 0; i < nrows; i++)
			hashes[i] = rows[i].hash;
		rc = body_store_ref(ms, hashes, nrows, err);
		if (rc != 0)
			goto out;
		refs_taken = true;
	}
	if (ms_prepare(u->db,
	        "INSERT INTO messages(folder_id, uid, body_hash, size, internal_date,"
	        " flags, keywords, modseq) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	        &ins) != SQLITE_OK ||
	    ms_prepare(u->db, "DELETE FROM messages WHERE folder_id = ? AND uid = ?", &del) !=
	        SQLITE_OK) {
		rc = ms_db_err(u->db, err, "copy");
		goto out;
	}
	if (cu) {
		cu->src_uids = xcalloc(nrows, sizeof(uint32_t));
		cu->dst_uids = xcalloc(nrows, sizeof(uint32_t));
		cu->n = nrows;
		cu->uidvalidity = dst.uidvalidity;
	}
	dst.highestmodseq++;
	for (size_t i = 0; i < nrows; i++) {
		struct msg_row *r = &rows[i];

		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, dst.id);
		sqlite3_bind_int64(ins, 2, dst.uidnext);
		sqlite3_bind_text(ins, 3, r->hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, r->size);
		sqlite3_bind_int64(ins, 5, r->date);
		sqlite3_bind_int64(ins, 6, r->flags);
		sqlite3_bind_text(ins, 7, r->keywords, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 8, (int64_t)dst.highestmodseq);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			rc = ms_db_err(u->db, err, "copy");
			goto out;
		}
		if (cu) {
			cu->src_uids[i] = r->uid;
			cu->dst_uids[i] = dst.uidnext;
		}
		dst.uidnext++;
		if (!move)
			continue;
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, src.id);
		sqlite3_bind_int64(del, 2, r->uid);
		if (sqlite3_step(del) != SQLITE_DONE) {
			rc = ms_db_err(u->db, err, "move");
			goto out;
		}
	}
	if (src.id == dst.id)
		src = dst; /* copy within one folder: one row to update */
	rc = ms_folder_update(u->db, &dst, err);
	if (rc == 0 && move) {
		src.highestmodseq++;
		rc = ms_folder_update(u->db, &src, err);
	}
	if (rc == 0 && !move &&
	    ((rc = ms_meta_add(u->db, "used_bytes", bytes, err)) != 0 ||
	        (rc = ms_meta_add(u->db, "used_messages", (int64_t)nrows, err)) != 0))
		goto out;
out:
	ms_finalize(get);
	ms_finalize(ins);
	ms_finalize(del);
	if (rc == 0)
		rc = ms_commit(u->db, err);
	else
		ms_rollback(u->db);
	if (rc != 0 && refs_taken)
		body_store_unref(ms, hashes, nrows);
	ms_leave(ms, u);
	if (rc != 0 && cu)
		mailstore_copyuid_fini(cu);
	for (size_t i = 0; i < nrows; i++) {
		free(rows[i].hash);
		free(rows[i].keywords);
	}
	free(rows);
	free(hashes);
	free(set);
	free(dname);
	return rc;
}

int
mailstore_copy(struct mailstore *ms, const char *user, const char *from, const uint32_t *uids,
    size_t n, const char *to, const struct mailstore_quota *limits, struct mailstore_copyuid *cu,
    struct mn_err *err)
{
	return copy_or_move(ms, user, from, uids, n, to, false, limits, cu, err);
}

int
mailstore_move(struct mailstore *ms, const char *user, const char *from, const uint32_t *uids,
    size_t n, const char *to, struct mailstore_copyuid *cu, struct mn_err *err)
{
	return copy_or_move(ms, user, from, uids, n, to, true, NULL, cu, err);
}

void
mailstore_copyuid_fini(struct mailstore_copyuid *cu)
{
	free(cu->src_uids);
	free(cu->dst_uids);
	memset(cu, 0, sizeof(*cu));
}
