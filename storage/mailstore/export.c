/*
 * export.c - a whole mailbox as one stream, and back (account migration,
 * SPEC §7: UIDVALIDITY, UIDs, flags and folders survive the move).
 *
 * The stream ("MNMBX 1", documented in docs/mailstore.md) is text records,
 * each a line of space-separated fields ending in LF, some followed by raw
 * bytes whose length the line gives:
 *
 *   MNMBX 1 <last_uidvalidity>
 *   F <uidvalidity> <uidnext> <highestmodseq> <subscribed 0|1>
 *     <special-use|-> <name length>            then the name bytes, LF
 *   M <uid> <flags> <internal date> <modseq> <sha256 hex> <keywords length>
 *     <body length>                            then keywords, body, LF
 *   E <folders> <messages>
 *
 * flags is "-" or a comma list of Seen,Answered,Flagged,Deleted,Draft. An M
 * record belongs to the F record before it; UIDs ascend within a folder. The
 * E record's counts let an importer tell a whole stream from a cut one.
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
#define EXPORT_VERSION 1
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

int
mailstore_export(struct mailstore *ms, const char *user,
    int (*write_cb)(void *arg, const void *data, size_t len), void *arg, struct mn_err *err)
{
	struct exporter ex = {write_cb, arg, err};
	sqlite3_stmt *fst = NULL, *mst = NULL;
	uint64_t nfolders = 0, nmsgs = 0;
	struct ms_user *u = NULL;
	int rc;

	rc = ms_enter2(ms, user, false, &u, err);
	if (rc != 0)
		return rc;
	/* one read transaction: a consistent snapshot of the index */
	if ((rc = ms_exec(u->db, "BEGIN", err)) != 0)
		goto out;
	rc = ex_printf(&ex, "%s %d %lld\n", EXPORT_MAGIC, EXPORT_VERSION,
	    (long long)ms_meta_get(u->db, "last_uidvalidity"));
	if (rc != 0)
		goto out;
	if (ms_prepare(u->db, "SELECT id, name, uidvalidity, uidnext, highestmodseq, subscribed,"
	        " special_use FROM folders ORDER BY name", &fst) != SQLITE_OK ||
	    ms_prepare(u->db, "SELECT uid, flags, internal_date, modseq, body_hash, keywords, size"
	        " FROM messages WHERE folder_id = ? ORDER BY uid", &mst) != SQLITE_OK) {
		rc = ms_db_err(u->db, err, "export");
		goto out;
	}
	while (rc == 0 && sqlite3_step(fst) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(fst, 1);
		const char *su = (const char *)sqlite3_column_text(fst, 6);

		nfolders++;
		rc = ex_printf(&ex, "F %lld %lld %lld %d %s %zu\n",
		    (long long)sqlite3_column_int64(fst, 2),
		    (long long)sqlite3_column_int64(fst, 3),
		    (long long)sqlite3_column_int64(fst, 4), sqlite3_column_int(fst, 5),
		    su ? su : "-", strlen(name));
		if (rc == 0)
			rc = ex_write(&ex, name, strlen(name));
		if (rc == 0)
			rc = ex_write(&ex, "\n", 1);
		sqlite3_reset(mst);
		sqlite3_bind_int64(mst, 1, sqlite3_column_int64(fst, 0));
		while (rc == 0 && sqlite3_step(mst) == SQLITE_ROW) {
			const char *hash = (const char *)sqlite3_column_text(mst, 4);
			const char *kw = (const char *)sqlite3_column_text(mst, 5);
			uint64_t size = (uint64_t)sqlite3_column_int64(mst, 6);
			char fl[64];

			nmsgs++;
			flags_format((uint32_t)sqlite3_column_int64(mst, 1), fl, sizeof(fl));
			rc = ex_printf(&ex, "M %lld %s %lld %lld %s %zu %" PRIu64 "\n",
			    (long long)sqlite3_column_int64(mst, 0), fl,
			    (long long)sqlite3_column_int64(mst, 2),
			    (long long)sqlite3_column_int64(mst, 3), hash, strlen(kw), size);
			if (rc == 0)
				rc = ex_write(&ex, kw, strlen(kw));
			if (rc == 0)
				rc = ex_body(ms, &ex, hash, size);
			if (rc == 0)
				rc = ex_write(&ex, "\n", 1);
		}
	}
	if (rc == 0)
		rc = ex_printf(&ex, "E %" PRIu64 " %" PRIu64 "\n", nfolders, nmsgs);
out:
	ms_finalize(fst);
	ms_finalize(mst);
	ms_rollback(u->db);
	ms_leave(ms, u);
	return rc;
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
	char **refs; /* bodies referenced so far (released on failure) */
	size_t nrefs, caprefs;
	int64_t folder_id;
	uint64_t uidnext, highestmodseq, last_uid;
	uint64_t nfolders, nmsgs, bytes;
};

static int
im_folder(struct importer *im, struct import_state *st, char **f, size_t nf)
{
	uint64_t uv, un, hm, sub, nlen;
	char *name = NULL, *norm = NULL;
	sqlite3_stmt *ins = NULL;
	int rc;

	if (nf != 7 || num(f[1], 1, UINT32_MAX, &uv) || num(f[2], 1, UINT32_MAX, &un) ||
	    num(f[3], 1, INT64_MAX, &hm) || num(f[4], 0, 1, &sub) ||
	    num(f[6], 1, MAILSTORE_MAX_FOLDER_NAME, &nlen))
		return mn_err_set(im->err, MN_EPARSE, "import: bad folder record");
	if (st->nfolders >= MAILSTORE_MAX_FOLDERS)
		return mn_err_set(im->err, MN_EPARSE, "import: too many folders");
	name = xmalloc(nlen + 1);
	if ((rc = im_read(im, name, nlen, NULL)) != 0 || (rc = im_lf(im)) != 0)
		goto out;
	name[nlen] = '\0';
	if (strlen(name) != nlen || ms_folder_name(name, &norm, im->err) != 0 ||
	    strcmp(norm, name) != 0) {
		rc = mn_err_set(im->err, MN_EPARSE, "import: bad folder name");
		goto out;
	}
	if (ms_prepare(st->db, "INSERT INTO folders(name, uidvalidity, uidnext, highestmodseq,"
	        " subscribed, special_use) VALUES(?, ?, ?, ?, ?, ?)", &ins) != SQLITE_OK) {
		rc = ms_db_err(st->db, im->err, "import");
		goto out;
	}
	sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 2, (int64_t)uv);
	sqlite3_bind_int64(ins, 3, (int64_t)un);
	sqlite3_bind_int64(ins, 4, (int64_t)hm);
	sqlite3_bind_int(ins, 5, (int)sub);
	if (strcmp(f[5], "-") != 0 && !ms_special_use_valid(f[5])) {
		rc = mn_err_set(im->err, MN_EPARSE, "import: bad special-use");
		goto out;
	}
	if (strcmp(f[5], "-") == 0)
		sqlite3_bind_null(ins, 6);
	else
		sqlite3_bind_text(ins, 6, f[5], -1, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		rc = mn_err_set(
		    im->err, MN_EPARSE, "import: folder %s: %s", name, sqlite3_errmsg(st->db));
		goto out;
	}
	st->folder_id = sqlite3_last_insert_rowid(st->db);
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
	kw = xmalloc(kwlen + 1);
	if ((rc = im_read(im, kw, kwlen, NULL)) != 0)
		goto out;
	kw[kwlen] = '\0';
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
	if (st->nrefs == st->caprefs) {
		st->caprefs = st->caprefs ? st->caprefs * 2 : 64;
		st->refs = xrealloc(st->refs, st->caprefs * sizeof(*st->refs));
	}
	st->refs[st->nrefs++] = xstrdup(hex);
	if (strcmp(hex, f[5]) != 0) {
		rc = mn_err_set(im->err, MN_EPARSE,
		    "import: message %" PRIu64 ": body does not match its hash", uid);
		goto out;
	}
	if ((rc = im_lf(im)) != 0)
		goto out;
	if (ms_prepare(st->db, "INSERT INTO messages(folder_id, uid, body_hash, size, internal_date,"
	        " flags, keywords, modseq) VALUES(?, ?, ?, ?, ?, ?, ?, ?)", &ins) != SQLITE_OK) {
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

int
mailstore_import(struct mailstore *ms, const char *user,
    ssize_t (*read_cb)(void *arg, void *data, size_t len), void *arg, struct mn_err *err)
{
	struct importer *im = xcalloc(1, sizeof(*im));
	struct import_state st = {0};
	char line[EXPORT_MAX_LINE], *f[10], *dir = NULL, *tmp = NULL, *path = NULL;
	char ver[16];
	uint64_t v;
	size_t nf;
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
	if ((rc = im_line(im, line)) != 0)
		goto out;
	snprintf(ver, sizeof(ver), "%d", EXPORT_VERSION);
	nf = fields(line, f, 10);
	if (nf != 3 || strcmp(f[0], EXPORT_MAGIC) != 0 || strcmp(f[1], ver) != 0 ||
	    num(f[2], 0, UINT32_MAX, &v)) {
		rc = mn_err_set(err, MN_EPARSE, "import: not an MNMBX 1 stream");
		goto out;
	}
	if ((rc = ms_meta_set(st.db, "last_uidvalidity", (int64_t)v, err)) != 0)
		goto out;
	for (;;) {
		if ((rc = im_line(im, line)) != 0)
			goto out;
		nf = fields(line, f, 10);
		if (nf == 0) {
			rc = mn_err_set(err, MN_EPARSE, "import: empty record");
			goto out;
		}
		if (strcmp(f[0], "F") == 0) {
			rc = im_folder(im, &st, f, nf);
		} else if (strcmp(f[0], "M") == 0) {
			rc = im_message(ms, im, &st, f, nf);
		} else if (strcmp(f[0], "E") == 0) {
			uint64_t a, b;

			if (nf != 3 || num(f[1], 0, UINT64_MAX, &a) ||
			    num(f[2], 0, UINT64_MAX, &b) || a != st.nfolders || b != st.nmsgs)
				rc =
				    mn_err_set(err, MN_EPARSE, "import: end record does not match");
			break;
		} else {
			rc = mn_err_set(err, MN_EPARSE, "import: unknown record");
		}
		if (rc != 0)
			goto out;
	}
	if (rc != 0)
		goto out;
	/* nothing may follow the end record */
	if ((rc = im_fill(im)) != 0)
		goto out;
	if (!im->eof) {
		rc = mn_err_set(err, MN_EPARSE, "import: data after end record");
		goto out;
	}
	if (ms_folder_find(st.db, "INBOX", &(struct ms_folder){0}, NULL) != 0) {
		rc = mn_err_set(err, MN_EPARSE, "import: no INBOX");
		goto out;
	}
	{
		/* keywords were stored as read; check them all at once */
		sqlite3_stmt *k = NULL;

		if (ms_prepare(st.db, "SELECT keywords FROM messages", &k) !=
		    SQLITE_OK) {
			rc = ms_db_err(st.db, err, "import");
			goto out;
		}
		while (rc == 0 && sqlite3_step(k) == SQLITE_ROW)
			if (!keywords_text_valid((const char *)sqlite3_column_text(k, 0)))
				rc = mn_err_set(err, MN_EPARSE, "import: bad keywords");
		ms_finalize(k);
		if (rc != 0)
			goto out;
	}
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
	for (size_t i = 0; i < st.nrefs; i++)
		free(st.refs[i]);
	free(st.refs);
	free(path);
	free(tmp);
	free(dir);
	free(im);
	if (rc == 0)
		log_info("mailstore", "event=imported folders=%" PRIu64 " messages=%" PRIu64,
		    st.nfolders, st.nmsgs);
	return rc;
}
