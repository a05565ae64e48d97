/*
 * spool.c - durable queue files (see spool.h for layout and commit order).
 *
 * Envelope text, one record per line, fields separated by one space, each
 * field escaped: bytes <= 0x20, 0x7f, '%' and a leading '-' become %XX, a
 * NULL string is "-" and an empty one "%". The file starts with
 * "MNSPOOL 1" and the envelope ends with the line "data"; the message
 * follows. The sidecar starts with "MNSTATE 1" and ends with "end" (a file
 * without it is refused: it cannot come from our rename, but a damaged disk
 * should not make us guess).
 *
 *   rcpt STATE LOCAL FINAL BOUNCED ATTEMPTS NEXT NOTIFY ADDRESS ORCPT REPLY MTA
 */
#include "storage/spool/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/* Spare files: a removed entry's file is renamed to tmp/spare.N instead of
 * unlinked, and the next write truncates and reuses it. Freeing and
 * allocating an inode per message is what costs most on a busy spool
 * (ext4 scans past recently freed inodes on every create); reusing them
 * keeps the inode count steady. At most SPOOL_SPARES are kept. */
#define SPOOL_SPARES 1024
#define SPARE_PREFIX "spare."

struct spool {
	char *root;  /* DATA_DIR/spool */
	char *tmp;   /* root/tmp */
	char *queue; /* root/queue */
	pthread_mutex_t lock;
	uint64_t last_us;
	uint32_t counter;
	uint64_t spare[SPOOL_SPARES]; /* N of tmp/spare.N ready for reuse (a stack) */
	size_t nspare;
	uint64_t spare_seq;
	/* group commit of queue/ fsyncs (queue_sync) */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_done;
	uint64_t sync_asked, sync_covered;
	bool syncing;
	int sync_rc;
};

static const char *state_names[] = {"pending", "inflight", "delivered", "failed", "expanded"};

const char *
spool_rcpt_state_name(enum spool_rcpt_state st)
{
	if ((unsigned)st < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[st];
	return "?";
}

static int
mkdir_one(const char *path, struct mn_err *err)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return mn_err_set(err, MN_EIO, "mkdir %s: %s", path, strerror(errno));
	return 0;
}

static int
fsync_dir(const char *path, struct mn_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return mn_err_set(err, MN_EIO, "open %s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		rc = mn_err_set(err, MN_EIO, "fsync %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

int
spool_open(const char *data_dir, struct spool **out, struct mn_err *err)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	int rc;

	sp->root = xasprintf("%s/spool", data_dir);
	sp->tmp = xasprintf("%s/tmp", sp->root);
	sp->queue = xasprintf("%s/queue", sp->root);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_mutex_init(&sp->sync_lock, NULL);
	pthread_cond_init(&sp->sync_done, NULL);
	if ((rc = mkdir_one(data_dir, err)) != 0 || (rc = mkdir_one(sp->root, err)) != 0 ||
	    (rc = mkdir_one(sp->tmp, err)) != 0 || (rc = mkdir_one(sp->queue, err)) != 0 ||
	    (rc = fsync_dir(sp->root, err)) != 0) {
		spool_close(&sp);
		return rc;
	}
	*out = sp;
	return 0;
}

void
spool_close(struct spool **spp)
{
	struct spool *sp = *spp;

	if (sp == NULL)
		return;
	pthread_mutex_destroy(&sp->lock);
	pthread_mutex_destroy(&sp->sync_lock);
	pthread_cond_destroy(&sp->sync_done);
	free(sp->root);
	free(sp->tmp);
	free(sp->queue);
	free(sp);
	*spp = NULL;
}

void
spool_new_id(struct spool *sp, char *out)
{
	struct timeval tv;
	uint64_t us;

	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	pthread_mutex_lock(&sp->lock);
	/* never go back in time within a run: IDs sort by arrival */
	if (us <= sp->last_us) {
		if (++sp->counter > 0xffff) {
			sp->counter = 0;
			sp->last_us++;
		}
		us = sp->last_us;
	} else {
		sp->last_us = us;
		sp->counter = 0;
	}
	snprintf(out, SPOOL_ID_LEN + 1, "%016" PRIX64 "%04X", us, sp->counter);
	pthread_mutex_unlock(&sp->lock);
}

static bool
valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n != SPOOL_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

char *
spool_path(struct spool *sp, const char *id)
{
	return xasprintf("%s/%s", sp->queue, id);
}

/* --- encoding ------------------------------------------------------------ */

static void
put_field(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	buf_append(b, " ", 1);
	if (s == NULL) {
		buf_append(b, "-", 1);
		return;
	}
	if (*s == '\0') {
		buf_append(b, "%", 1);
		return;
	}
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '%' || (i == 0 && c == '-')) {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_append(b, e, 3);
		} else {
			buf_append(b, &s[i], 1);
		}
	}
}

static void
put_rcpt(struct buf *b, const struct spool_rcpt *r)
{
	buf_printf(b, "rcpt %d %d %d %d %" PRIu32 " %" PRId64 " %u", (int)r->state,
	    r->local ? 1 : 0, r->final ? 1 : 0, r->bounced ? 1 : 0, r->attempts, r->next_attempt,
	    r->notify);
	put_field(b, r->address);
	put_field(b, r->orcpt);
	put_field(b, r->reply);
	put_field(b, r->remote_mta);
	buf_append(b, "\n", 1);
}

static void
encode_envelope(struct buf *b, const struct spool_env *env)
{
	buf_printf(b,
	    "MNSPOOL 1\nid %s\narrival %" PRId64 "\nret %d\nsmtputf8 %d\neightbit %d\n"
	    "dsn %d\nsender",
	    env->id, env->arrival, (int)env->ret, env->smtputf8, env->eightbit, env->is_dsn);
	put_field(b, env->sender);
	buf_append_str(b, "\nenvid");
	put_field(b, env->envid);
	buf_append_str(b, "\nauth");
	put_field(b, env->auth_user);
	buf_append_str(b, "\nip");
	put_field(b, env->client_ip);
	buf_append(b, "\n", 1);
	for (size_t i = 0; i < env->nrcpts; i++)
		put_rcpt(b, &env->rcpts[i]);
	buf_append_str(b, "data\n");
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode one field; *out NULL for "-" */
static int
get_field(const char *s, size_t len, char **out)
{
	char *d;
	size_t o = 0;

	*out = NULL;
	if (len == 1 && s[0] == '-')
		return 0;
	if (len == 1 && s[0] == '%') {
		*out = xstrdup("");
		return 0;
	}
	if (len == 0 || len > 3 * SPOOL_MAX_FIELD)
		return MN_EPARSE;
	d = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= len) {
				free(d);
				return MN_EPARSE;
			}
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				free(d);
				return MN_EPARSE;
			}
			d[o++] = (char)(h << 4 | l);
			i += 2;
		} else {
			d[o++] = s[i];
		}
	}
	d[o] = '\0';
	*out = d;
	return 0;
}

/* split line into at most max space-separated words */
static size_t
split(char *line, char **words, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p != '\0' && n < max) {
		words[n++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ')
			*p++ = '\0';
	}
	return *p == '\0' ? n : max + 1;
}

static int
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return MN_EPARSE;
	*out = v;
	return 0;
}

static int
parse_rcpt(char **w, size_t n, struct spool_env *env)
{
	int64_t st, loc, fin, bounced, att, next, notify;
	struct spool_rcpt r;

	memset(&r, 0, sizeof(r));
	if (n != 12 || parse_i64(w[1], 0, SPOOL_RCPT_EXPANDED, &st) != 0 ||
	    parse_i64(w[2], 0, 1, &loc) != 0 || parse_i64(w[3], 0, 1, &fin) != 0 ||
	    parse_i64(w[4], 0, 1, &bounced) != 0 || parse_i64(w[5], 0, UINT32_MAX, &att) != 0 ||
	    parse_i64(w[6], 0, INT64_MAX, &next) != 0 || parse_i64(w[7], 0, 15, &notify) != 0)
		return MN_EPARSE;
	w++; /* the string fields below follow one column later */
	if (env->nrcpts >= SPOOL_MAX_RCPTS)
		return MN_EPARSE;
	if (get_field(w[7], strlen(w[7]), &r.address) != 0 || r.address == NULL ||
	    get_field(w[8], strlen(w[8]), &r.orcpt) != 0 ||
	    get_field(w[9], strlen(w[9]), &r.reply) != 0 ||
	    get_field(w[10], strlen(w[10]), &r.remote_mta) != 0) {
		free(r.address);
		free(r.orcpt);
		free(r.reply);
		free(r.remote_mta);
		return MN_EPARSE;
	}
	r.state = (enum spool_rcpt_state)st;
	r.local = loc != 0;
	r.final = fin != 0;
	r.bounced = bounced != 0;
	r.attempts = (uint32_t)att;
	r.next_attempt = next;
	r.notify = (unsigned)notify;
	env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	env->rcpts[env->nrcpts++] = r;
	return 0;
}

static void
free_rcpts(struct spool_env *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].reply);
		free(env->rcpts[i].remote_mta);
	}
	free(env->rcpts);
	env->rcpts = NULL;
	env->nrcpts = 0;
}

void
spool_env_fini(struct spool_env *env)
{
	if (env == NULL)
		return;
	free(env->sender);
	free(env->envid);
	free(env->auth_user);
	free(env->client_ip);
	free_rcpts(env);
	memset(env, 0, sizeof(*env));
}

struct spool_rcpt *
spool_env_add_rcpt(struct spool_env *env, const char *address, const char *orcpt, unsigned notify)
{
	struct spool_rcpt *r;

	env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->address = xstrdup(address);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	return r;
}

/* parse envelope text (NUL-terminated, modified in place) */
static int
decode_envelope(char *text, struct spool_env *env)
{
	char *line = text, *nl;
	bool magic = false, data = false;

	while (!data && (nl = strchr(line, '\n')) != NULL) {
		char *w[13];
		size_t n;
		int64_t v;

		*nl = '\0';
		n = split(line, w, 12);
		line = nl + 1;
		if (!magic) {
			if (n != 2 || strcmp(w[0], "MNSPOOL") != 0 || strcmp(w[1], "1") != 0)
				return MN_EPARSE;
			magic = true;
			continue;
		}
		if (n == 0 || n > 12)
			return MN_EPARSE;
		if (strcmp(w[0], "data") == 0 && n == 1) {
			data = true;
			continue;
		}
		if (strcmp(w[0], "rcpt") == 0) {
			if (parse_rcpt(w, n, env) != 0)
				return MN_EPARSE;
			continue;
		}
		/* every other record is "KEY VALUE" */
		if (n != 2)
			return MN_EPARSE;
		if (strcmp(w[0], "id") == 0) {
			if (!valid_id(w[1]))
				return MN_EPARSE;
			memcpy(env->id, w[1], SPOOL_ID_LEN + 1);
		} else if (strcmp(w[0], "arrival") == 0) {
			if (parse_i64(w[1], 0, INT64_MAX, &env->arrival) != 0)
				return MN_EPARSE;
		} else if (strcmp(w[0], "ret") == 0) {
			if (parse_i64(w[1], 0, SPOOL_RET_HDRS, &v) != 0)
				return MN_EPARSE;
			env->ret = (enum spool_ret)v;
		} else if (strcmp(w[0], "smtputf8") == 0 || strcmp(w[0], "eightbit") == 0 ||
		           strcmp(w[0], "dsn") == 0) {
			if (parse_i64(w[1], 0, 1, &v) != 0)
				return MN_EPARSE;
			if (w[0][0] == 's')
				env->smtputf8 = v;
			else if (w[0][0] == 'e')
				env->eightbit = v;
			else
				env->is_dsn = v;
		} else if (strcmp(w[0], "sender") == 0) {
			if (env->sender != NULL || get_field(w[1], strlen(w[1]), &env->sender) != 0)
				return MN_EPARSE;
		} else if (strcmp(w[0], "envid") == 0) {
			if (env->envid != NULL || get_field(w[1], strlen(w[1]), &env->envid) != 0)
				return MN_EPARSE;
		} else if (strcmp(w[0], "auth") == 0) {
			if (env->auth_user != NULL ||
			    get_field(w[1], strlen(w[1]), &env->auth_user) != 0)
				return MN_EPARSE;
		} else if (strcmp(w[0], "ip") == 0) {
			if (env->client_ip != NULL ||
			    get_field(w[1], strlen(w[1]), &env->client_ip) != 0)
				return MN_EPARSE;
		} else {
			return MN_EPARSE;
		}
	}
	if (!data || env->sender == NULL || env->id[0] == '\0')
		return MN_EPARSE;
	env->msg_offset = (uint64_t)(line - text);
	return 0;
}

/* --- files --------------------------------------------------------------- */

static int
write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len > 0) {
		ssize_t w = write(fd, c, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A spare file's path (taken off the stack), or NULL if there is none. */
static char *
spare_take(struct spool *sp)
{
	uint64_t n;

	pthread_mutex_lock(&sp->lock);
	if (sp->nspare == 0) {
		pthread_mutex_unlock(&sp->lock);
		return NULL;
	}
	n = sp->spare[--sp->nspare];
	pthread_mutex_unlock(&sp->lock);
	return xasprintf("%s/" SPARE_PREFIX "%" PRIu64, sp->tmp, n);
}

/* Retire the file at path: kept as a spare while there is room, else
 * unlinked. 0 or -1 with errno (of the unlink or rename). */
static int
spare_put(struct spool *sp, const char *path)
{
	char *to = NULL;
	uint64_t n = 0;
	int rc;

	pthread_mutex_lock(&sp->lock);
	if (sp->nspare < SPOOL_SPARES) {
		n = ++sp->spare_seq;
		to = xasprintf("%s/" SPARE_PREFIX "%" PRIu64, sp->tmp, n);
	}
	pthread_mutex_unlock(&sp->lock);
	if (to == NULL)
		return unlink(path);
	rc = rename(path, to);
	free(to);
	if (rc == 0) {
		pthread_mutex_lock(&sp->lock);
		if (sp->nspare < SPOOL_SPARES)
			sp->spare[sp->nspare++] = n;
		pthread_mutex_unlock(&sp->lock);
		/* one lost to a full stack stays in tmp/ until recovery */
	}
	return rc;
}

/* queue_sync - make every rename into queue/ done before this call durable.
 * Group commit: one fsync of the directory covers every caller that asked
 * before it started, so concurrent writers share fsyncs instead of queueing
 * one each behind the directory's lock. */
static int
queue_sync(struct spool *sp, struct mn_err *err)
{
	uint64_t ticket;
	int rc = 0;

	pthread_mutex_lock(&sp->sync_lock);
	ticket = ++sp->sync_asked;
	while (sp->sync_covered < ticket) {
		if (sp->syncing) {
			pthread_cond_wait(&sp->sync_done, &sp->sync_lock);
			continue;
		}
		/* an fsync starting now covers every ticket asked so far */
		uint64_t upto = sp->sync_asked;
		struct mn_err ferr;

		sp->syncing = true;
		pthread_mutex_unlock(&sp->sync_lock);
		mn_err_clear(&ferr);
		rc = fsync_dir(sp->queue, &ferr);
		pthread_mutex_lock(&sp->sync_lock);
		sp->syncing = false;
		sp->sync_covered = upto;
		sp->sync_rc = rc;
		pthread_cond_broadcast(&sp->sync_done);
	}
	/* the fsync that covered us may have been another thread's */
	rc = sp->sync_rc;
	pthread_mutex_unlock(&sp->sync_lock);
	if (rc != 0)
		return mn_err_set(err, rc, "spool: fsync %s failed", sp->queue);
	return 0;
}

/* write tmp/NAME (or a spare file) with the pieces, fsync, rename to
 * queue/NAME, fsync queue/ (queue_sync) */
static int
commit_file(struct spool *sp, const char *name, const void *a, size_t alen, const void *b,
    size_t blen, const void *c, size_t clen, struct mn_err *err)
{
	char *tmp = spare_take(sp);
	char *dst = xasprintf("%s/%s", sp->queue, name);
	int fd = -1, rc = 0;

	if (tmp != NULL) {
		fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0) {
			free(tmp);
			tmp = NULL;
		}
	}
	if (tmp == NULL) {
		tmp = xasprintf("%s/%s", sp->tmp, name);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		rc = mn_err_set(err, MN_EIO, "spool: open %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, a, alen) != 0 || (blen > 0 && write_all(fd, b, blen) != 0) ||
	    (clen > 0 && write_all(fd, c, clen) != 0) || fsync(fd) != 0) {
		rc = mn_err_set(err, MN_EIO, "spool: write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) != 0) {
		rc = mn_err_set(err, MN_EIO, "spool: close %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, dst) != 0) {
		rc = mn_err_set(err, MN_EIO, "spool: rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = queue_sync(sp, err);
out:
	free(tmp);
	free(dst);
	return rc;
}

int
spool_write(struct spool *sp, const struct spool_env *env, const void *prefix, size_t prefix_len,
    const void *data, size_t len, struct mn_err *err)
{
	struct buf b;
	int rc;

	if (!valid_id(env->id) || env->sender == NULL)
		return mn_err_set(err, MN_EINVAL, "spool: bad envelope");
	buf_init(&b, SPOOL_MAX_ENVELOPE);
	encode_envelope(&b, env);
	if (b.len >= SPOOL_MAX_ENVELOPE - 1) {
		buf_fini(&b);
		return mn_err_set(err, MN_ETOOBIG, "spool: envelope too big");
	}
	rc = commit_file(sp, env->id, b.data, b.len, prefix, prefix_len, data, len, err);
	buf_fini(&b);
	return rc;
}

static int
read_file_prefix(const char *path, struct buf *out, const char *until, struct mn_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[65536];

	if (fd < 0) {
		if (errno == ENOENT)
			return mn_err_set(err, MN_ENOENT, "spool: %s: no such entry", path);
		return mn_err_set(err, MN_EIO, "spool: open %s: %s", path, strerror(errno));
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return mn_err_set(err, MN_EIO, "spool: read %s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		if (buf_append(out, chunk, (size_t)r) != 0) {
			/* the envelope must end within the limit */
			if (until == NULL)
				break;
			close(fd);
			return mn_err_set(err, MN_EPARSE, "spool: %s: envelope too long", path);
		}
		if (until != NULL && memmem(out->data, out->len, until, strlen(until)) != NULL)
			break;
	}
	close(fd);
	buf_cstr(out);
	return 0;
}

static int
decode_state(char *text, struct spool_env *env)
{
	char *line = text, *nl;
	bool magic = false, end = false;

	free_rcpts(env);
	while (!end && (nl = strchr(line, '\n')) != NULL) {
		char *w[13];
		size_t n;
		int64_t v;

		*nl = '\0';
		n = split(line, w, 12);
		line = nl + 1;
		if (!magic) {
			if (n != 2 || strcmp(w[0], "MNSTATE") != 0 || strcmp(w[1], "1") != 0)
				return MN_EPARSE;
			magic = true;
		} else if (n == 1 && strcmp(w[0], "end") == 0) {
			end = true;
		} else if (n >= 1 && strcmp(w[0], "rcpt") == 0) {
			if (parse_rcpt(w, n, env) != 0)
				return MN_EPARSE;
		} else if (n == 2 && strcmp(w[0], "warned") == 0) {
			if (parse_i64(w[1], 0, 1, &v) != 0)
				return MN_EPARSE;
			env->delay_warned = v;
		} else {
			return MN_EPARSE;
		}
	}
	return end ? 0 : MN_EPARSE;
}

int
spool_read_env(struct spool *sp, const char *id, struct spool_env *out, struct mn_err *err)
{
	char *path, *spath;
	struct buf b;
	struct stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!valid_id(id))
		return mn_err_set(err, MN_EINVAL, "spool: bad id");
	path = spool_path(sp, id);
	spath = xasprintf("%s.state", path);
	buf_init(&b, SPOOL_MAX_ENVELOPE);
	if ((rc = read_file_prefix(path, &b, "\ndata\n", err)) != 0)
		goto out;
	if (decode_envelope((char *)b.data, out) != 0 || strcmp(out->id, id) != 0) {
		rc = mn_err_set(err, MN_EPARSE, "spool: %s: bad envelope", path);
		goto out;
	}
	if (stat(path, &st) != 0 || (uint64_t)st.st_size < out->msg_offset) {
		rc = mn_err_set(err, MN_EIO, "spool: stat %s: %s", path, strerror(errno));
		goto out;
	}
	out->msg_size = (uint64_t)st.st_size - out->msg_offset;
	buf_reset(&b);
	rc = read_file_prefix(spath, &b, NULL, err);
	if (rc == MN_ENOENT) {
		rc = 0;
		mn_err_clear(err);
	} else if (rc == 0 && decode_state((char *)b.data, out) != 0) {
		rc = mn_err_set(err, MN_EPARSE, "spool: %s: bad state file", spath);
	}
out:
	if (rc != 0)
		spool_env_fini(out);
	buf_fini(&b);
	free(path);
	free(spath);
	return rc;
}

int
spool_read_message(
    struct spool *sp, const struct spool_env *env, struct buf *out, struct mn_err *err)
{
	char *path = spool_path(sp, env->id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t off = env->msg_offset, left = env->msg_size;
	int rc = 0;

	if (fd < 0) {
		rc = mn_err_set(err, MN_EIO, "spool: open %s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	if ((rc = buf_reserve(out, (size_t)left)) != 0) {
		mn_err_set(err, rc, "spool: %s: message too big for the buffer", path);
		goto out;
	}
	while (left > 0) {
		ssize_t r = pread(fd, out->data + out->len, (size_t)left, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = mn_err_set(err, MN_EIO, "spool: read %s: %s", path,
			    r == 0 ? "short file" : strerror(errno));
			goto out;
		}
		out->len += (size_t)r;
		off += (uint64_t)r;
		left -= (uint64_t)r;
	}
out:
	close(fd);
	free(path);
	return rc;
}

int
spool_save_state(struct spool *sp, const struct spool_env *env, struct mn_err *err)
{
	struct buf b;
	char *name;
	int rc;

	if (!valid_id(env->id))
		return mn_err_set(err, MN_EINVAL, "spool: bad id");
	buf_init(&b, SPOOL_MAX_ENVELOPE);
	buf_printf(&b, "MNSTATE 1\nwarned %d\n", env->delay_warned ? 1 : 0);
	for (size_t i = 0; i < env->nrcpts; i++)
		put_rcpt(&b, &env->rcpts[i]);
	if (buf_append_str(&b, "end\n") != 0) {
		buf_fini(&b);
		return mn_err_set(err, MN_ETOOBIG, "spool: state too big");
	}
	name = xasprintf("%s.state", env->id);
	rc = commit_file(sp, name, b.data, b.len, NULL, 0, NULL, 0, err);
	free(name);
	buf_fini(&b);
	return rc;
}

int
spool_remove(struct spool *sp, const char *id, struct mn_err *err)
{
	char *path, *spath;
	int rc = 0;

	if (!valid_id(id))
		return mn_err_set(err, MN_EINVAL, "spool: bad id");
	path = spool_path(sp, id);
	spath = xasprintf("%s.state", path);
	/* message file first: a lone sidecar is garbage that recovery drops,
	 * while a lone message file would be a whole entry again with the
	 * envelope's recipients, all pending (delivered twice) */
	if (spare_put(sp, path) != 0 && errno != ENOENT)
		rc = mn_err_set(err, MN_EIO, "spool: remove %s: %s", path, strerror(errno));
	else if (spare_put(sp, spath) != 0 && errno != ENOENT)
		rc = mn_err_set(err, MN_EIO, "spool: remove %s: %s", spath, strerror(errno));
	/* No fsync of queue/: an entry whose removal a power loss undoes is
	 * attempted again, and local mailboxes refuse a second copy by the
	 * spool id (mailstore_deliver_id); only a remote recipient might see
	 * it twice, which SMTP's at-least-once contract allows. A kill -9
	 * cannot undo an unlink. */
	free(path);
	free(spath);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
spool_recover(struct spool *sp, char ***ids_out, size_t *n_out, struct mn_err *err)
{
	DIR *d;
	struct dirent *de;
	char **ids = NULL;
	size_t n = 0;

	*ids_out = NULL;
	*n_out = 0;
	if ((d = opendir(sp->tmp)) == NULL)
		return mn_err_set(err, MN_EIO, "spool: opendir %s: %s", sp->tmp, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", sp->tmp, de->d_name), *end = NULL;
		uint64_t sn = 0;

		if (strncmp(de->d_name, SPARE_PREFIX, strlen(SPARE_PREFIX)) == 0) {
			errno = 0;
			sn = strtoull(de->d_name + strlen(SPARE_PREFIX), &end, 10);
			if (errno != 0 || end == NULL || *end != '\0' || sn == 0)
				sn = 0;
		}
		pthread_mutex_lock(&sp->lock);
		if (sn != 0 && sp->nspare < SPOOL_SPARES) {
			/* a spare (its bytes are garbage): keep it for reuse */
			sp->spare[sp->nspare++] = sn;
			if (sn > sp->spare_seq)
				sp->spare_seq = sn;
			sn = UINT64_MAX;
		}
		pthread_mutex_unlock(&sp->lock);
		if (sn != UINT64_MAX && unlink(p) == 0)
			log_info("spool", "event=recover removed=tmp/%s", de->d_name);
		free(p);
	}
	closedir(d);
	if ((d = opendir(sp->queue)) == NULL)
		return mn_err_set(err, MN_EIO, "spool: opendir %s: %s", sp->queue, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		size_t len = strlen(name);

		if (name[0] == '.')
			continue;
		if (valid_id(name)) {
			ids = xrealloc(ids, (n + 1) * sizeof(*ids));
			ids[n++] = xstrdup(name);
		} else if (len == SPOOL_ID_LEN + 6 && strcmp(name + SPOOL_ID_LEN, ".state") == 0) {
			char *base = xstrndup(name, SPOOL_ID_LEN), *mp = spool_path(sp, base);
			struct stat st;

			if (stat(mp, &st) != 0 && errno == ENOENT) {
				char *p = xasprintf("%s/%s", sp->queue, name);

				unlink(p);
				log_info("spool", "event=recover removed=queue/%s", name);
				free(p);
			}
			free(mp);
			free(base);
		} else {
			log_warn("spool", "event=recover unknown=queue/%s", name);
		}
	}
	closedir(d);
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*ids_out = ids;
	*n_out = n;
	return fsync_dir(sp->queue, err);
}
