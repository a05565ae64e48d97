/*
 * export.c - a whole mailbox as one stream, and back (account migration,
 * SPEC §7: UIDVALIDITY, UIDs, flags and folders survive the move), and the
 * incremental form of it a migration catches up with.
 *
 * The stream ("MNMBX 2", documented in docs/mailstore.md) is text records,
 * each a line of space-separated fields ending in LF, some followed by raw
 * bytes whose length the line gives:
 *
 *   MNMBX 2 <last_uidvalidity> [sync]
 *   F <uidvalidity> <uidnext> <highestmodseq> <subscribed 0|1>
 *     <special-use|-> <name length>            then the name bytes, LF
 *   M <uid> <flags> <internal date> <modseq> <sha256 hex> <keywords length>
 *     <body length>                            then keywords, body, LF
 *   S <uid> <flags> <modseq> <keywords length> then keywords, LF (sync only)
 *   D <uid> <uidvalidity> <at> <sha256 hex> <id length>  then the delivery
 *                                              id, LF (sorted by id)
 *   E <folders> <messages>
 *
 * flags is "-" or a comma list of Seen,Answered,Flagged,Deleted,Draft. An M
 * or S record belongs to the F record before it; UIDs ascend within a
 * folder; D records (mailstore_deliver_id's idempotency keys: a delivery
 * retried after the move must find them) follow the last folder. The E
 * record's counts (S records count as messages) let an importer tell a
 * whole stream from a cut one. Version 1 streams (no D records) are still
 * read. Folders go by name and messages by UID, so equal mailboxes give
 * equal bytes: mailstore_digest hashes the stream without the bodies.
 *
 * A sync stream lists every folder and message, the ones the receiver
 * already has (its base) as S records without bodies; the receiver applies
 * it in one transaction onto its copy: folders matched by UIDVALIDITY
 * (renames), messages not listed deleted (expunges), states replaced.
 *
 * Import builds the mailbox in ROOT/tmp and renames it into ROOT/users at
 * the end, so a user has either no mailbox or all of it. Bodies are
 * referenced as they arrive (before the index rows: the ordering rules) and
 * released if the import fails; the SHA-256 of each body is checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/mailstore/mailstore_int.h"

#define EXPORT_MAGIC "MNMBX"
#define EXPORT_VERSION 2    /* 1 had no D records */
#define EXPORT_MAX_LINE 512 /* longest record line (fields only) */
#define EXPORT_CHUNK 65536

static const char *const flag_names[] = {"Seen", "Answered", "Flagged", "Deleted", "Draft"};
#define NFLAGS (sizeof(flag_names) / sizeof(flag_names[0]))

static void
flags_format(uint32_t flags, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NFLAGS; i++)
		if (flags & (1u << i))
			o += (size_t)snprintf(
			    out + o, outlen - o, "%s%s", o ? "," : "", flag_names[i]);
	if (o == 0)
		snprintf(out, outlen, "-");
}

static int
flags_parse(const char *s, uint32_t *out)
{
	uint32_t flags = 0;
	char *copy, *save = NULL;

	if (strcmp(s, "-") == 0) {
		*out = 0;
		return 0;
	}
	copy = xstrdup(s);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < NFLAGS; i++)
			if (strcmp(t, flag_names[i]) == 0)
				break;
		if (i == NFLAGS) {
			free(copy);
			return MN_EPARSE;
		}
		flags |= 1u << i;
	}
	free(copy);
	*out = flags;
	return 0;
}

/* --- export ------------------------------------------------------------------ */

struct exporter {
	int (*write_cb)(void *arg, const void *data, size_t len);
	void *arg;
	struct mn_err *err;
};

static int
ex_write(struct exporter *ex, const void *data, size_t len)
{
	int rc = ex->write_cb(ex->arg, data, len);

	return rc == 0 ? 0 : mn_err_set(ex->err, rc < 0 ? rc : MN_EIO, "export: write failed");
}

static int ex_printf(struct exporter *ex, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
ex_printf(struct exporter *ex, const char *fmt, ...)
{
	char line[EXPORT_MAX_LINE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return mn_err_set(ex->err, MN_EINVAL, "export: record too long");
	return ex_write(ex, line, (size_t)n);
}

static int
ex_body(struct mailstore *ms, struct exporter *ex, const char *hash, uint64_t size)
{
	char *path = body_store_path(ms, hash);
	char *chunk = NULL;
	struct stat sb;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != size) {
		rc = mn_err_set(ex->err, MN_EIO, "export: body %s missing or bad", hash);
		goto out;
	}
	chunk = xmalloc(EXPORT_CHUNK);
	while (size > 0) {
		ssize_t r = read(fd, chunk, size < EXPORT_CHUNK ? size : EXPORT_CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = mn_err_set(ex->err, MN_EIO, "export: read %s", hash);
			break;
		}
		if ((rc = ex_write(ex, chunk, (size_t)r)) != 0)
			break;
		size -= (uint64_t)r;
	}
out:
	if (fd >= 0)
		close(fd);
	free(chunk);
	free(path);
	return rc;
}

/* What an export writes: the whole mailbox (FULL), the changes since a base
 * (SYNC: M records only for messages the base lacks, S for the others) or
 * everything but the bodies (META: the input of mailstore_digest). */
enum ex_mode { EX_FULL, EX_SYNC, EX_META };

static const struct mailstore_sync_folder *
base_find(const struct mailstore_sync_base *b, uint32_t uidvalidity)
{
	for (size_t i = 0; b != NULL && i < b->n; i++)
		if (b->folders[i].uidvalidity == uidvalidity)
			return &b->folders[i];
	return NULL;
}

/* The delivery ids, sorted: "D <uid> <uidvalidity> <at> <hash> <id length>"
 * then the id, LF. */
static int
ex_deliveries(sqlite3 *db, struct exporter *ex, uint64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (ms_prepare(db, "SELECT id, hash, uid, uidvalidity, at FROM deliveries ORDER BY id",
	        &st) != SQLITE_OK)
		return ms_db_err(db, ex->err, "export");
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *hash = (const char *)sqlite3_column_text(st, 1);

		rc = ex_printf(ex, "D %lld %lld %lld %s %zu\n",
		    (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3),
		    (long long)sqlite3_column_int64(st, 4), hash, strlen(id));
		if (rc == 0)
			rc = ex_write(ex, id, strlen(id));
		if (rc == 0)
			rc = ex_write(ex, "\n", 1);
		(*n)++;
	}
	ms_finalize(st);
	return rc;
}

/* One export of the open read transaction on db. base (SYNC only) is what
 * the receiver holds; next (may be NULL) gets what it holds afterwards. */
static int
export_tx(struct mailstore *ms, sqlite3 *db, enum ex_mode mode,
    const struct mailstore_sync_base *base, struct exporter *ex, struct mailstore_sync_base *next,
    struct mailstore_sync_stats *stats)
{
	static const char *const tag[] = {"", " sync", " meta"};
	sqlite3_stmt *fst = NULL, *mst = NULL;
	uint64_t nfolders = 0, nmsgs = 0, ndel = 0;
	int rc;

	rc = ex_printf(ex, "%s %d %lld%s\n", EXPORT_MAGIC, EXPORT_VERSION,
	    (long long)ms_meta_get(db, "last_uidvalidity"), tag[mode]);
	if (rc != 0)
		return rc;
	if (ms_prepare(db,
	        "SELECT id, name, uidvalidity, uidnext, highestmodseq, subscribed,"
	        " special_use FROM folders ORDER BY name",
	        &fst) != SQLITE_OK ||
	    ms_prepare(db,
	        "SELECT uid, flags, internal_date, modseq, body_hash, keywords, size"
	        " FROM messages WHERE folder_id = ? ORDER BY uid",
	        &mst) != SQLITE_OK) {
		rc = ms_db_err(db, ex->err, "export");
		goto out;
	}
	while (rc == 0 && sqlite3_step(fst) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(fst, 1);
		const char *su = (const char *)sqlite3_column_text(fst, 6);
		uint32_t uv = (uint32_t)sqlite3_column_int64(fst, 2);
		const struct mailstore_sync_folder *bf =
		    mode == EX_SYNC ? base_find(base, uv) : NULL;

		nfolders++;
		if (next != NULL) {
			next->folders =
			    xrealloc(next->folders, (next->n + 1) * sizeof(*next->folders));
			next->folders[next->n++] = (struct mailstore_sync_folder){uv,
			    (uint32_t)sqlite3_column_int64(fst, 3),
			    (uint64_t)sqlite3_column_int64(fst, 4)};
		}
		if (stats != NULL && mode == EX_SYNC && bf == NULL)
			stats->new_folders++;
		rc = ex_printf(ex, "F %lld %lld %lld %d %s %zu\n", (long long)uv,
		    (long long)sqlite3_column_int64(fst, 3),
		    (long long)sqlite3_column_int64(fst, 4), sqlite3_column_int(fst, 5),
		    su ? su : "-", strlen(name));
		if (rc == 0)
			rc = ex_write(ex, name, strlen(name));
		if (rc == 0)
			rc = ex_write(ex, "\n", 1);
		sqlite3_reset(mst);
		sqlite3_bind_int64(mst, 1, sqlite3_column_int64(fst, 0));
		while (rc == 0 && sqlite3_step(mst) == SQLITE_ROW) {
			uint32_t uid = (uint32_t)sqlite3_column_int64(mst, 0);
			uint64_t modseq = (uint64_t)sqlite3_column_int64(mst, 3);
			const char *hash = (const char *)sqlite3_column_text(mst, 4);
			const char *kw = (const char *)sqlite3_column_text(mst, 5);
			uint64_t size = (uint64_t)sqlite3_column_int64(mst, 6);
			char fl[64];

			nmsgs++;
			flags_format((uint32_t)sqlite3_column_int64(mst, 1), fl, sizeof(fl));
			if (bf != NULL && uid < bf->uidnext) {
				/* the receiver has it: its state only */
				if (stats != NULL && modseq > bf->highestmodseq)
					stats->changed++;
				rc = ex_printf(ex, "S %lu %s %llu %zu\n", (unsigned long)uid, fl,
				    (unsigned long long)modseq, strlen(kw));
				if (rc == 0)
					rc = ex_write(ex, kw, strlen(kw));
				if (rc == 0)
					rc = ex_write(ex, "\n", 1);
				continue;
			}
			if (stats != NULL && mode == EX_SYNC) {
				stats->new_messages++;
				stats->new_bytes += size;
			}
			rc = ex_printf(ex, "M %lld %s %lld %lld %s %zu %" PRIu64 "\n",
			    (long long)uid, fl, (long long)sqlite3_column_int64(mst, 2),
			    (long long)modseq, hash, strlen(kw), size);
			if (rc == 0)
				rc = ex_write(ex, kw, strlen(kw));
			if (rc == 0 && mode != EX_META)
				rc = ex_body(ms, ex, hash, size);
			if (rc == 0)
				rc = ex_write(ex, "\n", 1);
		}
	}
	if (rc == 0)
		rc = ex_deliveries(db, ex, &ndel);
	if (rc == 0)
		rc = ex_printf(ex, "E %" PRIu64 " %" PRIu64 "\n", nfolders, nmsgs);
	if (stats != NULL && mode != EX_META) {
		stats->folders = nfolders;
		stats->messages = nmsgs;
		stats->deliveries = ndel;
	}
	/* folders of the base that are gone */
	for (size_t i = 0; stats != NULL && mode == EX_SYNC && base != NULL && i < base->n; i++) {
		size_t k;

		for (k = 0; next != NULL && k < next->n; k++)
			if (next->folders[k].uidvalidity == base->folders[i].uidvalidity)
				break;
		if (next != NULL && k == next->n)
			stats->new_folders++;
	}
out:
	ms_finalize(fst);
	ms_finalize(mst);
	return rc;
}

static int64_t
count_q(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (ms_prepare(db, sql, &st) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	ms_finalize(st);
	return v;
}

static int
sha_write(void *arg, const void *data, size_t len)
{
	return EVP_DigestUpdate(arg, data, len) == 1 ? 0 : MN_EIO;
}

/* the META export of the open transaction, hashed into hex */
static int
digest_tx(struct mailstore *ms, sqlite3 *db, char hex[65], struct mn_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct exporter ex = {sha_write, md, err};
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	int rc;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	rc = export_tx(ms, db, EX_META, NULL, &ex, NULL, NULL);
	EVP_DigestFinal_ex(md, d, &dlen);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return rc;
}

static int
export_user(struct mailstore *ms, const char *user, enum ex_mode mode,
    const struct mailstore_sync_base *base, struct exporter *ex, struct mailstore_sync_base *next,
    struct mailstore_sync_stats *stats)
{
	struct ms_user *u = NULL;
	int rc;

	rc = ms_enter2(ms, user, false, &u, ex->err);
	if (rc != 0)
		return rc;
	/* one read transaction: a consistent snapshot of the index */
	if ((rc = ms_exec(u->db, "BEGIN", ex->err)) == 0) {
		if (ex->write_cb != NULL)
			rc = export_tx(ms, u->db, mode, base, ex, next, stats);
		if (rc == 0 && stats != NULL) {
			if (ex->write_cb == NULL) {
				/* counts only */
				stats->folders =
				    (uint64_t)count_q(u->db, "SELECT count(*) FROM folders");
				stats->messages =
				    (uint64_t)count_q(u->db, "SELECT count(*) FROM messages");
				stats->deliveries =
				    (uint64_t)count_q(u->db, "SELECT count(*) FROM deliveries");
			}
			rc = digest_tx(ms, u->db, stats->digest, ex->err);
		}
		ms_rollback(u->db);
	}
	ms_leave(ms, u);
	return rc;
}

int
mailstore_export(struct mailstore *ms, const char *user,
    int (*write_cb)(void *arg, const void *data, size_t len), void *arg, struct mn_err *err)
{
	struct exporter ex = {write_cb, arg, err};

	return export_user(ms, user, EX_FULL, NULL, &ex, NULL, NULL);
}

int
mailstore_export_sync(struct mailstore *ms, const char *user,
    const struct mailstore_sync_base *base,
    int (*write_cb)(void *arg, const void *data, size_t len), void *arg,
    struct mailstore_sync_base *next, struct mailstore_sync_stats *stats, struct mn_err *err)
{
	struct exporter ex = {write_cb, arg, err};
	int rc;

	memset(stats, 0, sizeof(*stats));
	memset(next, 0, sizeof(*next));
	rc = export_user(ms, user, EX_SYNC, base, &ex, next, stats);
	if (rc != 0)
		mailstore_sync_base_fini(next);
	return rc;
}

int
mailstore_digest(
    struct mailstore *ms, const char *user, struct mailstore_sync_stats *stats, struct mn_err *err)
{
	struct exporter ex = {NULL, NULL, err};

	memset(stats, 0, sizeof(*stats));
	return export_user(ms, user, EX_META, NULL, &ex, NULL, stats);
}

void
mailstore_sync_base_fini(struct mailstore_sync_base *b)
{
	free(b->folders);
	b->folders = NULL;
	b->n = 0;
}

/* --- import ------------------------------------------------------------------ */

struct importer {
	ssize_t (*read_cb)(void *arg, void *data, size_t len);
	void *arg;
	uint8_t buf[EXPORT_CHUNK];
	size_t pos, len;
	bool eof;
	struct mn_err *err;
};

static int
im_fill(struct importer *im)
{
	ssize_t r;

	if (im->pos < im->len || im->eof)
		return 0;
	r = im->read_cb(im->arg, im->buf, sizeof(im->buf));
	if (r < 0)
		return mn_err_set(im->err, (int)r, "import: read failed");
	im->pos = 0;
	im->len = (size_t)r;
	if (r == 0)
		im->eof = true;
	return 0;
}

/* Read n bytes into out (or into a body writer if w is set). */
static int
im_read(struct importer *im, void *out, uint64_t n, struct body_writer *w)
{
	uint8_t *p = out;

	while (n > 0) {
		size_t k;
		int rc = im_fill(im);

		if (rc != 0)
			return rc;
		if (im->eof)
			return mn_err_set(im->err, MN_EPARSE, "import: stream cut");
		k = im->len - im->pos;
		if (k > n)
			k = (size_t)n;
		if (w != NULL) {
			rc = body_writer_write(w, im->buf + im->pos, k, im->err);
			if (rc != 0)
				return rc;
		} else {
			memcpy(p, im->buf + im->pos, k);
			p += k;
		}
		im->pos += k;
		n -= k;
	}
	return 0;
}

/* Read a line of at most EXPORT_MAX_LINE bytes, without its LF. */
static int
im_line(struct importer *im, char *line)
{
	size_t n = 0;

	for (;;) {
		int rc = im_fill(im);

		if (rc != 0)
			return rc;
		if (im->eof)
			return mn_err_set(im->err, MN_EPARSE, "import: stream cut");
		char c = (char)im->buf[im->pos++];

		if (c == '\n')
			break;
		if (n + 1 >= EXPORT_MAX_LINE)
			return mn_err_set(im->err, MN_EPARSE, "import: line too long");
		line[n++] = c;
	}
	line[n] = '\0';
	return 0;
}

static int
im_lf(struct importer *im)
{
	char c;
	int rc = im_read(im, &c, 1, NULL);

	if (rc == 0 && c != '\n')
		rc = mn_err_set(im->err, MN_EPARSE, "import: LF expected");
	return rc;
}

/* Split line into at most max fields; returns the count. */
static size_t
fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	return n;
}

static int
num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return parse_u64(s, min, max, out) == 0 ? 0 : MN_EPARSE;
}

/* A signed decimal (internal dates may precede 1970). */
static int
num_i64(const char *s, int64_t *out)
{
	uint64_t v;

	if (s[0] == '-') {
		if (num(s + 1, 1, (uint64_t)INT64_MAX, &v) != 0)
			return MN_EPARSE;
		*out = -(int64_t)v;
		return 0;
	}
	if (num(s, 0, (uint64_t)INT64_MAX, &v) != 0)
		return MN_EPARSE;
	*out = (int64_t)v;
	return 0;
}

struct import_state {
	sqlite3 *db;
	bool sync;   /* a sync stream onto an existing index (S records, updates) */
	char **refs; /* bodies referenced so far (released on failure) */
	size_t nrefs, caprefs;
	char **drop; /* bodies of rows deleted (released after the commit) */
	size_t ndrop, capdrop;
	int64_t folder_id;
	bool folder_new; /* sync: the folder was not there before this stream */
	uint64_t uidnext, highestmodseq, last_uid;
	uint64_t nfolders, nmsgs, bytes;
};

static void
strv_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = xstrdup(s);
}

/* sync: delete the current folder's messages with lo < uid < hi (hi 0: no
 * upper end), keeping their hashes to release after the commit */
static int
sync_drop(struct importer *im, struct import_state *st, uint64_t lo, uint64_t hi)
{
	sqlite3_stmt *sel = NULL, *del = NULL;
	int64_t top = hi ? (int64_t)hi : INT64_MAX;
	int rc = 0;

	if (!st->sync || st->folder_new || st->folder_id == 0 || (hi && hi <= lo + 1))
		return 0;
	if (ms_prepare(st->db,
	        "SELECT body_hash FROM messages WHERE folder_id = ? AND uid > ?"
	        " AND uid < ?",
	        &sel) != SQLITE_OK ||
	    ms_prepare(st->db, "DELETE FROM messages WHERE folder_id = ? AND uid > ? AND uid < ?",
	        &del) != SQLITE_OK) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	sqlite3_bind_int64(sel, 1, st->folder_id);
	sqlite3_bind_int64(sel, 2, (int64_t)lo);
	sqlite3_bind_int64(sel, 3, top);
	while (sqlite3_step(sel) == SQLITE_ROW)
		strv_push(
		    &st->drop, &st->ndrop, &st->capdrop, (const char *)sqlite3_column_text(sel, 0));
	sqlite3_bind_int64(del, 1, st->folder_id);
	sqlite3_bind_int64(del, 2, (int64_t)lo);
	sqlite3_bind_int64(del, 3, top);
	if (sqlite3_step(del) != SQLITE_DONE)
		rc = ms_db_err(st->db, im->err, "import");
out:
	ms_finalize(sel);
	ms_finalize(del);
	return rc;
}

/* sync: the folder with this UIDVALIDITY the stream has not named yet
 * (their names are "//<id>" until it does); 0 if none */
static int64_t
sync_folder_find(sqlite3 *db, uint64_t uv)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	if (ms_prepare(db,
	        "SELECT id FROM folders WHERE uidvalidity = ? AND name GLOB '//*'"
	        " ORDER BY id LIMIT 1",
	        &st) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)uv);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
	}
	ms_finalize(st);
	return id;
}

static int
im_folder(struct importer *im, struct import_state *st, char **f, size_t nf)
{
	uint64_t uv, un, hm, sub, nlen;
	char *name = NULL, *norm = NULL;
	sqlite3_stmt *ins = NULL;
	int64_t id = 0;
	int rc;

	if (nf != 7 || num(f[1], 1, UINT32_MAX, &uv) || num(f[2], 1, UINT32_MAX, &un) ||
	    num(f[3], 1, INT64_MAX, &hm) || num(f[4], 0, 1, &sub) ||
	    num(f[6], 1, MAILSTORE_MAX_FOLDER_NAME, &nlen))
		return mn_err_set(im->err, MN_EPARSE, "import: bad folder record");
	if (st->nfolders >= MAILSTORE_MAX_FOLDERS)
		return mn_err_set(im->err, MN_EPARSE, "import: too many folders");
	/* the folder before: what the stream did not list is gone */
	if ((rc = sync_drop(im, st, st->last_uid, 0)) != 0)
		return rc;
	name = xmalloc(nlen + 1);
	if ((rc = im_read(im, name, nlen, NULL)) != 0 || (rc = im_lf(im)) != 0)
		goto out;
	name[nlen] = '\0';
	if (strlen(name) != nlen || ms_folder_name(name, &norm, im->err) != 0 ||
	    strcmp(norm, name) != 0) {
		rc = mn_err_set(im->err, MN_EPARSE, "import: bad folder name");
		goto out;
	}
	if (strcmp(f[5], "-") != 0 && !ms_special_use_valid(f[5])) {
		rc = mn_err_set(im->err, MN_EPARSE, "import: bad special-use");
		goto out;
	}
	if (st->sync)
		id = sync_folder_find(st->db, uv);
	if (id != 0) {
		/* there already (perhaps renamed since): its new state */
		if (ms_prepare(st->db,
		        "UPDATE folders SET name = ?, uidvalidity = ?, uidnext = ?,"
		        " highestmodseq = ?, subscribed = ?, special_use = ? WHERE id = ?",
		        &ins) != SQLITE_OK) {
			rc = ms_db_err(st->db, im->err, "import");
			goto out;
		}
		sqlite3_bind_int64(ins, 7, id);
	} else if (ms_prepare(st->db,
	               "INSERT INTO folders(name, uidvalidity, uidnext,"
	               " highestmodseq, subscribed, special_use) VALUES(?, ?, ?, ?, ?, ?)",
	               &ins) != SQLITE_OK) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 2, (int64_t)uv);
	sqlite3_bind_int64(ins, 3, (int64_t)un);
	sqlite3_bind_int64(ins, 4, (int64_t)hm);
	sqlite3_bind_int(ins, 5, (int)sub);
	if (strcmp(f[5], "-") == 0)
		sqlite3_bind_null(ins, 6);
	else
		sqlite3_bind_text(ins, 6, f[5], -1, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		rc = mn_err_set(
		    im->err, MN_EPARSE, "import: folder %s: %s", name, sqlite3_errmsg(st->db));
		goto out;
	}
	st->folder_id = id != 0 ? id : sqlite3_last_insert_rowid(st->db);
	st->folder_new = id == 0;
	st->uidnext = un;
	st->highestmodseq = hm;
	st->last_uid = 0;
	st->nfolders++;
out:
	ms_finalize(ins);
	free(name);
	free(norm);
	return rc;
}

/* Check a keyword list read from a stream: atoms separated by one space. */
static bool
keywords_text_valid(const char *kw)
{
	size_t n = 0;

	if (kw[0] == '\0')
		return true;
	for (const char *p = kw;; p++) {
		if (*p == ' ' || *p == '\0') {
			if (n == 0 || n > MAILSTORE_MAX_KEYWORD)
				return false;
			n = 0;
			if (*p == '\0')
				return true;
			continue;
		}
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e ||
		    strchr("(){%*\"\\]", *p) != NULL)
			return false;
		n++;
	}
}

/* keywords of kwlen bytes, checked */
static int
im_keywords(struct importer *im, uint64_t kwlen, char **out)
{
	char *kw = xmalloc(kwlen + 1);
	int rc = im_read(im, kw, kwlen, NULL);

	kw[kwlen] = '\0';
	if (rc == 0 && (strlen(kw) != kwlen || !keywords_text_valid(kw)))
		rc = mn_err_set(im->err, MN_EPARSE, "import: bad keywords");
	if (rc != 0) {
		free(kw);
		return rc;
	}
	*out = kw;
	return 0;
}

static int
im_message(struct mailstore *ms, struct importer *im, struct import_state *st, char **f, size_t nf)
{
	uint64_t uid, modseq, kwlen, size;
	int64_t date;
	uint32_t flags;
	char *kw = NULL, hex[MS_HASH_HEX + 1];
	struct body_writer w;
	sqlite3_stmt *ins = NULL;
	int rc;

	if (nf != 8 || st->folder_id == 0 || num(f[1], 1, UINT32_MAX, &uid) ||
	    flags_parse(f[2], &flags) || num_i64(f[3], &date) || num(f[4], 1, INT64_MAX, &modseq) ||
	    strlen(f[5]) != MS_HASH_HEX ||
	    num(f[6], 0, MAILSTORE_MAX_KEYWORDS * (MAILSTORE_MAX_KEYWORD + 1), &kwlen) ||
	    num(f[7], 0, MAILSTORE_MAX_BODY, &size))
		return mn_err_set(im->err, MN_EPARSE, "import: bad message record");
	/* UIDs ascend and stay below UIDNEXT; MODSEQ within HIGHESTMODSEQ */
	if (uid <= st->last_uid || uid >= st->uidnext || modseq > st->highestmodseq)
		return mn_err_set(
		    im->err, MN_EPARSE, "import: message %" PRIu64 " out of order or range", uid);
	if ((rc = sync_drop(im, st, st->last_uid, uid)) != 0)
		return rc;
	if ((rc = im_keywords(im, kwlen, &kw)) != 0)
		return rc;
	rc = body_writer_begin(ms, &w, im->err);
	if (rc != 0)
		goto out;
	rc = im_read(im, NULL, size, &w);
	if (rc != 0) {
		body_writer_abort(&w);
		goto out;
	}
	rc = body_writer_commit(ms, &w, 1, hex, im->err);
	if (rc != 0)
		goto out;
	strv_push(&st->refs, &st->nrefs, &st->caprefs, hex);
	if (strcmp(hex, f[5]) != 0) {
		rc = mn_err_set(im->err, MN_EPARSE,
		    "import: message %" PRIu64 ": body does not match its hash", uid);
		goto out;
	}
	if ((rc = im_lf(im)) != 0)
		goto out;
	if (ms_prepare(st->db,
	        "INSERT INTO messages(folder_id, uid, body_hash, size, internal_date,"
	        " flags, keywords, modseq) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	        &ins) != SQLITE_OK) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	sqlite3_bind_int64(ins, 1, st->folder_id);
	sqlite3_bind_int64(ins, 2, (int64_t)uid);
	sqlite3_bind_text(ins, 3, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 4, (int64_t)size);
	sqlite3_bind_int64(ins, 5, date);
	sqlite3_bind_int64(ins, 6, flags);
	sqlite3_bind_text(ins, 7, kw, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 8, (int64_t)modseq);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	st->last_uid = uid;
	st->nmsgs++;
	st->bytes += size;
out:
	ms_finalize(ins);
	free(kw);
	return rc;
}

/* S <uid> <flags> <modseq> <keywords length>, keywords, LF: the new state
 * of a message the receiver has (sync streams only) */
static int
im_state(struct importer *im, struct import_state *st, char **f, size_t nf)
{
	uint64_t uid, modseq, kwlen;
	uint32_t flags;
	sqlite3_stmt *up = NULL;
	char *kw = NULL;
	int rc;

	if (!st->sync || nf != 5 || st->folder_id == 0 || num(f[1], 1, UINT32_MAX, &uid) ||
	    flags_parse(f[2], &flags) || num(f[3], 1, INT64_MAX, &modseq) ||
	    num(f[4], 0, MAILSTORE_MAX_KEYWORDS * (MAILSTORE_MAX_KEYWORD + 1), &kwlen))
		return mn_err_set(im->err, MN_EPARSE, "import: bad state record");
	if (uid <= st->last_uid || uid >= st->uidnext || modseq > st->highestmodseq)
		return mn_err_set(
		    im->err, MN_EPARSE, "import: state %" PRIu64 " out of order or range", uid);
	if ((rc = sync_drop(im, st, st->last_uid, uid)) != 0)
		return rc;
	if ((rc = im_keywords(im, kwlen, &kw)) != 0 || (rc = im_lf(im)) != 0)
		goto out;
	if (ms_prepare(st->db,
	        "UPDATE messages SET flags = ?, keywords = ?, modseq = ?"
	        " WHERE folder_id = ? AND uid = ?",
	        &up) != SQLITE_OK) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	sqlite3_bind_int64(up, 1, flags);
	sqlite3_bind_text(up, 2, kw, -1, SQLITE_STATIC);
	sqlite3_bind_int64(up, 3, (int64_t)modseq);
	sqlite3_bind_int64(up, 4, st->folder_id);
	sqlite3_bind_int64(up, 5, (int64_t)uid);
	if (sqlite3_step(up) != SQLITE_DONE) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	if (sqlite3_changes(st->db) != 1) {
		/* the receiver is not where the sender thinks: a full copy */
		rc = mn_err_set(im->err, MN_ECONFLICT,
		    "import: message %" PRIu64 " is not here to update", uid);
		goto out;
	}
	st->last_uid = uid;
	st->nmsgs++;
out:
	ms_finalize(up);
	free(kw);
	return rc;
}

/* D <uid> <uidvalidity> <at> <hash> <id length>, the id, LF */
static int
im_delivery(struct importer *im, struct import_state *st, char **f, size_t nf)
{
	uint64_t uid, uv, idlen;
	int64_t at;
	char id[MAILSTORE_MAX_DELIVERY_ID + 1];
	sqlite3_stmt *ins = NULL;
	int rc;

	if (nf != 6 || num(f[1], 1, UINT32_MAX, &uid) || num(f[2], 1, UINT32_MAX, &uv) ||
	    num_i64(f[3], &at) || strlen(f[4]) != MS_HASH_HEX ||
	    strspn(f[4], "0123456789abcdef") != MS_HASH_HEX ||
	    num(f[5], 1, MAILSTORE_MAX_DELIVERY_ID, &idlen))
		return mn_err_set(im->err, MN_EPARSE, "import: bad delivery record");
	if ((rc = im_read(im, id, idlen, NULL)) != 0 || (rc = im_lf(im)) != 0)
		return rc;
	id[idlen] = '\0';
	if (strlen(id) != idlen)
		return mn_err_set(im->err, MN_EPARSE, "import: bad delivery id");
	if (ms_prepare(st->db,
	        "INSERT INTO deliveries(id, hash, uid, uidvalidity, at)"
	        " VALUES(?, ?, ?, ?, ?)",
	        &ins) != SQLITE_OK)
		return ms_db_err(st->db, im->err, "import");
	sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, f[4], -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, (int64_t)uid);
	sqlite3_bind_int64(ins, 4, (int64_t)uv);
	sqlite3_bind_int64(ins, 5, at);
	rc = sqlite3_step(ins) == SQLITE_DONE
	         ? 0
	         : mn_err_set(
	               im->err, MN_EPARSE, "import: delivery %s: %s", id, sqlite3_errmsg(st->db));
	ms_finalize(ins);
	return rc;
}

/* The header line and every record up to E, into st->db (in a
 * transaction the caller owns). sync: "MNMBX 2 <luv> sync" with S records
 * allowed; otherwise "MNMBX 1|2 <luv>". */
static int
import_records(struct mailstore *ms, struct importer *im, struct import_state *st)
{
	char line[EXPORT_MAX_LINE], *f[10];
	uint64_t v, ver;
	bool deliveries = false;
	size_t nf;
	int rc;

	if ((rc = im_line(im, line)) != 0)
		return rc;
	nf = fields(line, f, 10);
	if (nf < 3 || strcmp(f[0], EXPORT_MAGIC) != 0 || num(f[1], 1, EXPORT_VERSION, &ver) ||
	    num(f[2], 0, UINT32_MAX, &v) || nf != (st->sync ? 4u : 3u) ||
	    (st->sync && (ver < 2 || strcmp(f[3], "sync") != 0)))
		return mn_err_set(im->err, MN_EPARSE, "import: not an MNMBX %s stream",
		    st->sync ? "2 sync" : "1 or 2");
	if ((rc = ms_meta_set(st->db, "last_uidvalidity", (int64_t)v, im->err)) != 0)
		return rc;
	for (;;) {
		if ((rc = im_line(im, line)) != 0)
			return rc;
		nf = fields(line, f, 10);
		if (nf == 0)
			return mn_err_set(im->err, MN_EPARSE, "import: empty record");
		if (strcmp(f[0], "D") == 0 && ver >= 2) {
			/* after the folders, before E */
			if (!deliveries) {
				/* the last folder is complete */
				if ((rc = sync_drop(im, st, st->last_uid, 0)) != 0)
					return rc;
				st->folder_id = 0;
				deliveries = true;
			}
			rc = im_delivery(im, st, f, nf);
		} else if (deliveries && strcmp(f[0], "E") != 0) {
			return mn_err_set(im->err, MN_EPARSE, "import: record after D");
		} else if (strcmp(f[0], "F") == 0) {
			rc = im_folder(im, st, f, nf);
		} else if (strcmp(f[0], "M") == 0) {
			rc = im_message(ms, im, st, f, nf);
		} else if (strcmp(f[0], "S") == 0) {
			rc = im_state(im, st, f, nf);
		} else if (strcmp(f[0], "E") == 0) {
			uint64_t a, b;

			if (nf != 3 || num(f[1], 0, UINT64_MAX, &a) ||
			    num(f[2], 0, UINT64_MAX, &b) || a != st->nfolders || b != st->nmsgs)
				return mn_err_set(
				    im->err, MN_EPARSE, "import: end record does not match");
			break;
		} else {
			return mn_err_set(im->err, MN_EPARSE, "import: unknown record");
		}
		if (rc != 0)
			return rc;
	}
	if (!deliveries && (rc = sync_drop(im, st, st->last_uid, 0)) != 0)
		return rc;
	/* nothing may follow the end record */
	if ((rc = im_fill(im)) != 0)
		return rc;
	if (!im->eof)
		return mn_err_set(im->err, MN_EPARSE, "import: data after end record");
	if (ms_folder_find(st->db, "INBOX", &(struct ms_folder){0}, NULL) != 0)
		return mn_err_set(im->err, MN_EPARSE, "import: no INBOX");
	return 0;
}

static void
import_state_fini(struct import_state *st)
{
	for (size_t i = 0; i < st->nrefs; i++)
		free(st->refs[i]);
	free(st->refs);
	for (size_t i = 0; i < st->ndrop; i++)
		free(st->drop[i]);
	free(st->drop);
}

int
mailstore_import(struct mailstore *ms, const char *user,
    ssize_t (*read_cb)(void *arg, void *data, size_t len), void *arg, struct mn_err *err)
{
	struct importer *im = xcalloc(1, sizeof(*im));
	struct import_state st = {0};
	char *dir = NULL, *tmp = NULL, *path = NULL;
	struct stat sb;
	int rc;

	im->read_cb = read_cb;
	im->arg = arg;
	im->err = err;
	rc = ms_user_dir(ms, user, &dir, err);
	if (rc != 0)
		goto out;
	if (stat(dir, &sb) == 0) {
		rc = mn_err_set(err, MN_EEXIST, "import: user has a mailbox");
		goto out;
	}
	tmp = ms_tmp_name(ms, "import");
	if (mkdir(tmp, 0700) != 0) {
		rc = mn_err_set(err, MN_EIO, "import: mkdir: %s", strerror(errno));
		goto out;
	}
	path = xasprintf("%s/index.db", tmp);
	if ((rc = ms_open_db(path, &st.db, err)) != 0 ||
	    (rc = ms_index_init(st.db, false, err)) != 0 || (rc = ms_begin(st.db, err)) != 0)
		goto out;
	if ((rc = import_records(ms, im, &st)) != 0)
		goto out;
	if ((rc = ms_meta_set(st.db, "used_bytes", (int64_t)st.bytes, err)) != 0 ||
	    (rc = ms_meta_set(st.db, "used_messages", (int64_t)st.nmsgs, err)) != 0 ||
	    (rc = ms_commit(st.db, err)) != 0)
		goto out;
	/* closing checkpoints the WAL into index.db (synchronous=FULL) */
	if (ms_close_db(st.db) != SQLITE_OK) {
		rc = mn_err_set(err, MN_EDB, "import: close failed");
		goto out;
	}
	st.db = NULL;
	if ((rc = ms_fsync_dir(tmp, err)) != 0)
		goto out;
	{
		char *parent = xstrdup(dir);

		*strrchr(parent, '/') = '\0';
		/* under the table lock: a user's index is opened or created
		 * only under it, so nobody sees the directory half there */
		pthread_mutex_lock(&ms->lock);
		rc = ms_mkdirs(parent, err);
		if (rc == 0 && rename(tmp, dir) != 0)
			rc = mn_err_set(err,
			    errno == EEXIST || errno == ENOTEMPTY ? MN_EEXIST : MN_EIO,
			    "import: rename: %s", strerror(errno));
		pthread_mutex_unlock(&ms->lock);
		if (rc == 0) {
			/* in place: from here on it is the user's mailbox and
			 * must not be cleaned up, whatever happens next */
			free(tmp);
			tmp = NULL;
			ms_crash_point();
			rc = ms_fsync_dir(parent, err);
		}
		free(parent);
	}
out:
	if (st.db != NULL) {
		ms_rollback(st.db);
		ms_close_db(st.db);
	}
	if (rc != 0 && tmp != NULL) {
		/* the index goes first, then the references it held */
		ms_rmtree(tmp);
		body_store_unref(ms, st.refs, st.nrefs);
	}
	import_state_fini(&st);
	free(path);
	free(tmp);
	free(dir);
	free(im);
	if (rc == 0)
		log_info("mailstore", "event=imported folders=%" PRIu64 " messages=%" PRIu64,
		    st.nfolders, st.nmsgs);
	return rc;
}

int
mailstore_import_sync(struct mailstore *ms, const char *user, bool fresh,
    ssize_t (*read_cb)(void *arg, void *data, size_t len), void *arg, struct mn_err *err)
{
	struct importer *im = xcalloc(1, sizeof(*im));
	struct import_state st = {.sync = true};
	struct ms_user *u = NULL;
	sqlite3_stmt *sel = NULL;
	int rc;

	im->read_cb = read_cb;
	im->arg = arg;
	im->err = err;
	/* a fresh copy makes the mailbox (its default folders go below) */
	if ((rc = ms_enter2(ms, user, fresh, &u, err)) != 0)
		goto done;
	st.db = u->db;
	ms_durable(u, true);
	if ((rc = ms_begin(st.db, err)) != 0)
		goto leave;
	/* fresh: everything there goes; otherwise the folders keep their rows
	 * (and messages) under names no stream can give ("//<id>") until the
	 * stream names them, and those it does not name are deleted */
	if (fresh) {
		if (ms_prepare(st.db, "SELECT body_hash FROM messages", &sel) != SQLITE_OK) {
			rc = ms_db_err(st.db, err, "import");
			goto fail;
		}
		while (sqlite3_step(sel) == SQLITE_ROW)
			strv_push(&st.drop, &st.ndrop, &st.capdrop,
			    (const char *)sqlite3_column_text(sel, 0));
		ms_finalize(sel);
		sel = NULL;
	}
	rc = ms_exec(st.db,
	    fresh ? "DELETE FROM messages; DELETE FROM folders; DELETE FROM deliveries;"
	          : "UPDATE folders SET name = '//' || id; DELETE FROM deliveries;",
	    err);
	if (rc != 0 || (rc = import_records(ms, im, &st)) != 0)
		goto fail;
	if (ms_prepare(st.db,
	        "SELECT m.body_hash FROM messages m JOIN folders f"
	        " ON m.folder_id = f.id WHERE f.name GLOB '//*'",
	        &sel) != SQLITE_OK) {
		rc = ms_db_err(st.db, err, "import");
		goto fail;
	}
	while (sqlite3_step(sel) == SQLITE_ROW)
		strv_push(
		    &st.drop, &st.ndrop, &st.capdrop, (const char *)sqlite3_column_text(sel, 0));
	ms_finalize(sel);
	sel = NULL;
	rc = ms_exec(st.db,
	    "DELETE FROM messages WHERE folder_id IN (SELECT id FROM folders WHERE name GLOB "
	    "'//*');"
	    "DELETE FROM folders WHERE name GLOB '//*';"
	    "UPDATE meta SET value = (SELECT coalesce(sum(size), 0) FROM messages)"
	    " WHERE key = 'used_bytes';"
	    "UPDATE meta SET value = (SELECT count(*) FROM messages) WHERE key = 'used_messages';",
	    err);
	if (rc != 0 || (rc = ms_commit(st.db, err)) != 0)
		goto fail;
	/* committed: the rows are gone, their references may follow */
	body_store_unref(ms, st.drop, st.ndrop);
	log_info("mailstore",
	    "event=imported_sync fresh=%d folders=%" PRIu64 " messages=%" PRIu64
	    " new=%zu dropped=%zu",
	    fresh, st.nfolders, st.nmsgs, st.nrefs, st.ndrop);
	goto leave;
fail:
	ms_finalize(sel);
	ms_rollback(st.db);
	body_store_unref(ms, st.refs, st.nrefs);
leave:
	ms_leave(ms, u);
done:
	import_state_fini(&st);
	free(im);
	return rc;
}
