/*
 * migrate.c - account migration: the source node's job per move (driven by
 * the directory's move state, see migrate.h) and the target's side of the
 * RPC_MIGRATE_PUT stream.
 *
 * Wire: MigrateOpen (rpc.proto) as the stream's opening frame, then exactly
 * `size` raw bytes of an "MNMBX 2 sync" stream (docs/mailstore.md) from the
 * source, then one line from the target ("OK <folders> <messages>
 * <digest>" or "ERR <code> <text>"). The stream goes through a file on
 * each side (DATA_DIR/migrate/): the store's export and import are
 * blocking calls on the thread pool, and a file between them and the
 * socket keeps the loop free without a thread handshake per chunk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/dirsvc.h"
#include "cluster/migrate/migrate.h"
#include "cluster/proto/rpc.pb-c.h"
#include "cluster/rpc/rpc.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"
#include "storage/mailstore/mailstore.h"

#define SEND_CHUNK (256u * 1024)
#define SEND_HIGH (1024u * 1024)
#define REPLY_MAX 512

struct migrate {
	uv_loop_t *loop;
	struct migrate_config cfg;
	char *dir; /* DATA_DIR/migrate */
	uv_timer_t scan;
	bool stopping;
	struct job *jobs; /* source side */
	struct put *puts; /* target side */
	uint64_t seq;     /* file names */
};

/* --- export and hashing (pool) ---------------------------------------------- */

struct xstream {
	int fd; /* -1: hash only */
	EVP_MD_CTX *md;
	uint64_t size;
};

static int
xstream_write(void *arg, const void *data, size_t len)
{
	struct xstream *x = arg;
	const char *p = data;
	size_t off = 0;

	EVP_DigestUpdate(x->md, data, len);
	x->size += len;
	while (x->fd >= 0 && off < len) {
		ssize_t w = write(x->fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return MN_EIO;
		off += (size_t)w;
	}
	return 0;
}

static void
hex(const unsigned char *md, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[2 * n] = '\0';
}

/* parse_counts - "<folders> <messages>" and, when sha is not NULL, " <64
 * hex digits>" at s (then the end or a newline): 0 or MN_EPARSE */
static int
parse_counts(const char *s, unsigned long long *f, unsigned long long *m, char *sha)
{
	char *end;

	for (int i = 0; i < 2; i++) {
		if (*s < '0' || *s > '9')
			return MN_EPARSE;
		errno = 0;
		*(i == 0 ? f : m) = strtoull(s, &end, 10);
		if (errno != 0)
			return MN_EPARSE;
		s = end;
		if (i == 0 && *s++ != ' ')
			return MN_EPARSE;
	}
	if (sha != NULL) {
		if (*s++ != ' ' || strspn(s, "0123456789abcdef") != 64)
			return MN_EPARSE;
		memcpy(sha, s, 64);
		sha[64] = '\0';
		s += 64;
	}
	return *s == '\0' || *s == '\n' ? 0 : MN_EPARSE;
}

struct xresult {
	int rc;
	struct mn_err err;
	uint64_t size; /* stream bytes */
	char sha[65];  /* of the stream (transport check) */
	struct mailstore_sync_stats st;
	struct mailstore_sync_base next;
};

/* the sync stream against base (NULL: everything) into fd */
static void
export_sync(struct mailstore *ms, const char *user, const struct mailstore_sync_base *base, int fd,
    struct xresult *r)
{
	struct xstream x = {.fd = fd};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	x.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(x.md, EVP_sha256(), NULL);
	r->rc = mailstore_export_sync(ms, user, base, xstream_write, &x, &r->next, &r->st, &r->err);
	EVP_DigestFinal_ex(x.md, md, &mdlen);
	EVP_MD_CTX_free(x.md);
	hex(md, mdlen, r->sha);
	r->size = x.size;
}

/* --- source: one job per move this node drives ------------------------------ */

struct job {
	struct job *next;
	struct migrate *m;
	char *user, *target;
	uv_work_t work;
	uv_timer_t timer;
	enum { JW_EXPORT, JW_DELETE } wkind;
	struct xresult ex; /* the last export */
	char *path;
	int fd;
	struct rpc_stream_open *op;
	struct conn *c;
	uint64_t sent;
	bool abort; /* the open stream is an abort */
	char reply[REPLY_MAX];
	size_t rlen;
	/* what the target confirmed holding (have_base false: nothing yet,
	 * the next copy is fresh) */
	bool have_base;
	struct mailstore_sync_base base;
	char confirmed[65]; /* its digest */
	unsigned long long tfolders, tmessages;
	unsigned copies; /* fresh copies made */
	unsigned rounds; /* streams sent */
	unsigned held;   /* exports made during the hold */
	bool copied;     /* the target holds what the held source holds */
	uint64_t bytes;  /* stream bytes sent, every round */
	char *result;    /* for the flip */
	char *fail;      /* rollback reason once the abort is done */
	bool busy;       /* an async step is out */
	unsigned opens;  /* attempts refused as "not yet" by the target */
	uint64_t t_start, t_hold;
};

static void job_step(struct job *j);
static void job_fail(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
job_timer_closed(uv_handle_t *h)
{
	struct job *j = h->data;

	mailstore_sync_base_fini(&j->base);
	mailstore_sync_base_fini(&j->ex.next);
	free(j->user);
	free(j->target);
	free(j->path);
	free(j->result);
	free(j->fail);
	free(j);
}

static void
job_free(struct job *j)
{
	struct job **pp;

	for (pp = &j->m->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (j->fd >= 0)
		close(j->fd);
	if (j->path != NULL)
		unlink(j->path);
	uv_close((uv_handle_t *)&j->timer, job_timer_closed);
}

static void
job_later_cb(uv_timer_t *t)
{
	struct job *j = t->data;

	j->busy = false;
	job_step(j);
}

static void
job_later(struct job *j, uint64_t ms)
{
	j->busy = true;
	uv_timer_start(&j->timer, job_later_cb, ms, 0);
}

/* propose UserMove(state) for the job's user */
static void
propose_done(int rc, const struct mn_err *err, void *arg)
{
	struct job *j = arg;

	j->busy = false;
	if (j->m->stopping) {
		job_free(j);
		return;
	}
	if (rc != 0) {
		log_warn("migrate", "event=propose user=%s to=%s result=fail reason=\"%s\"",
		    j->user, j->target, err && err->msg[0] ? err->msg : mn_strerror(rc));
		/* the directory's state says what to do next; give a leader
		 * election or a lost reply time */
		job_later(j, MIGRATE_RETRY_MS);
		return;
	}
	job_step(j);
}

static void
propose(struct job *j, const char *state, const char *result)
{
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserMove um = MAILNODE__USER_MOVE__INIT;
	int rc;

	um.address = j->user;
	um.state = (char *)state;
	um.target = j->target;
	um.result = (char *)result;
	c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_MOVE;
	c.user_move = &um;
	j->busy = true;
	rc = dirsvc_submit(j->m->cfg.svc, &c, propose_done, j);
	if (rc != 0) {
		log_warn("migrate", "event=propose user=%s state=%s result=fail reason=\"%s\"",
		    j->user, state, mn_strerror(rc));
		j->busy = false;
		job_later(j, MIGRATE_RETRY_MS);
	}
}

static void
job_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct mailstore *ms = j->m->cfg.ms;

	switch (j->wkind) {
	case JW_EXPORT:
		mailstore_sync_base_fini(&j->ex.next);
		memset(&j->ex, 0, sizeof(j->ex));
		if (j->fd >= 0)
			close(j->fd);
		j->fd = open(j->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (j->fd < 0) {
			j->ex.rc =
			    mn_err_set(&j->ex.err, MN_EIO, "%s: %s", j->path, strerror(errno));
			return;
		}
		export_sync(ms, j->user, j->have_base ? &j->base : NULL, j->fd, &j->ex);
		break;
	case JW_DELETE:
		j->ex.rc = mailstore_user_delete(ms, j->user, &j->ex.err);
		if (j->ex.rc == MN_ENOENT)
			j->ex.rc = 0;
		break;
	}
}

static void send_more(struct job *j);
static void open_stream(struct job *j, bool abort);

/* a sync export is done: send it, or (small enough in the copy phase,
 * nothing new in the hold) go on without */
static void
exported(struct job *j)
{
	struct mailstore_sync_stats *st = &j->ex.st;
	uint64_t changes = st->new_messages + st->changed + st->new_folders;
	struct dir_user u;
	bool hold;

	memset(&u, 0, sizeof(u));
	hold = directory_user_get(j->m->cfg.dir, j->user, &u) == 0 &&
	       strcmp(u.move_state, "hold") == 0;
	dir_user_fini(&u);
	log_info("migrate",
	    "event=export user=%s to=%s phase=%s fresh=%d bytes=%llu folders=%llu "
	    "messages=%llu new=%llu changed=%llu folder_changes=%llu digest=%s",
	    j->user, j->target, hold ? "hold" : "copy", !j->have_base,
	    (unsigned long long)j->ex.size, (unsigned long long)st->folders,
	    (unsigned long long)st->messages, (unsigned long long)st->new_messages,
	    (unsigned long long)st->changed, (unsigned long long)st->new_folders, st->digest);
	if (hold && j->have_base && strcmp(st->digest, j->confirmed) == 0) {
		/* the target holds exactly what the held mailbox holds */
		free(j->result);
		j->result = xasprintf("folders=%llu messages=%llu bytes=%llu sha256=%s "
		                      "target_folders=%llu target_messages=%llu target_sha256=%s "
		                      "rounds=%u copy_ms=%llu hold_ms=%llu",
		    (unsigned long long)st->folders, (unsigned long long)st->messages,
		    (unsigned long long)j->bytes, st->digest, j->tfolders, j->tmessages,
		    j->confirmed, j->rounds, (unsigned long long)(j->t_hold - j->t_start),
		    (unsigned long long)(uv_now(j->m->loop) - j->t_hold));
		j->copied = true;
		job_step(j);
		return;
	}
	if (hold && ++j->held > MIGRATE_MAX_HOLD_ROUNDS) {
		job_fail(j, "the mailbox kept changing during the hold");
		return;
	}
	if (!hold && j->have_base &&
	    (changes <= MIGRATE_SMALL_DELTA || j->rounds >= MIGRATE_MAX_ROUNDS)) {
		/* what is left fits in the hold */
		log_info("migrate", "event=start_hold user=%s to=%s rounds=%u left=%llu", j->user,
		    j->target, j->rounds, (unsigned long long)changes);
		propose(j, "hold", NULL);
		return;
	}
	open_stream(j, false);
}

static void
job_work_done(uv_work_t *w, int status)
{
	struct job *j = w->data;

	(void)status;
	j->busy = false;
	if (j->m->stopping) {
		job_free(j);
		return;
	}
	switch (j->wkind) {
	case JW_EXPORT:
		if (j->ex.rc != 0) {
			job_fail(j, "export: %s", j->ex.err.msg);
			return;
		}
		exported(j);
		break;
	case JW_DELETE:
		if (j->ex.rc != 0) {
			log_warn("migrate", "event=cleanup user=%s result=fail reason=\"%s\"",
			    j->user, j->ex.err.msg);
			job_later(j, MIGRATE_RETRY_MS * 5);
			return;
		}
		log_info("migrate", "event=cleanup user=%s result=ok", j->user);
		propose(j, "end", NULL);
		break;
	}
}

static void
job_queue(struct job *j, int kind)
{
	j->wkind = kind;
	j->busy = true;
	j->work.data = j;
	uv_queue_work(j->m->loop, &j->work, job_work, job_work_done);
}

/* roll back: tell the target to drop its copy, then end the move with the
 * reason (the abort's own failure does not stop the rollback: a later
 * move to that node replaces what is left there) */
static void
job_fail(struct job *j, const char *fmt, ...)
{
	char why[REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("migrate", "event=fail user=%s to=%s reason=\"%s\"", j->user, j->target, why);
	j->copied = false;
	j->have_base = false;
	if (j->fail == NULL) {
		j->fail = xasprintf("failed: %s", why);
		open_stream(j, true);
		return;
	}
	propose(j, "end", j->fail);
}

/* --- source: the stream ------------------------------------------------------ */

static void
stream_read(struct conn *c, void *arg)
{
	struct job *j = arg;
	struct buf *in = conn_input(c);
	size_t n = in->len;
	const char *p = (const char *)in->data;
	char *nl;

	if (j->rlen + n >= sizeof(j->reply))
		n = sizeof(j->reply) - 1 - j->rlen;
	memcpy(j->reply + j->rlen, p, n);
	j->rlen += n;
	j->reply[j->rlen] = '\0';
	buf_consume(in, in->len);
	if ((nl = strchr(j->reply, '\n')) != NULL || j->rlen + 1 >= sizeof(j->reply)) {
		if (nl != NULL)
			*nl = '\0';
		conn_close(c);
	}
}

static void
stream_drain(struct conn *c, void *arg)
{
	(void)c;
	send_more(arg);
}

/* The MN_E* code of an "ERR -<n> ..." reply from the target, 0 for any other
 * reply (strtol, not atoi: a malformed number must not be undefined). */
static int
reply_error_code(const char *reply)
{
	char *end;
	long v;

	if (strncmp(reply, "ERR -", 5) != 0)
		return 0;
	errno = 0;
	v = strtol(reply + 4, &end, 10);
	if (errno != 0 || end == reply + 4 || v < INT_MIN)
		return 0;
	return (int)v;
}

static void
stream_closed(struct conn *c, void *arg, int reason)
{
	struct job *j = arg;
	char sha[65] = "";
	unsigned long long f = 0, msgs = 0;
	bool ok;

	(void)c;
	j->c = NULL;
	j->busy = false;
	if (j->m->stopping) {
		job_free(j);
		return;
	}
	ok = strncmp(j->reply, "OK ", 3) == 0;
	if (j->abort) {
		log_info("migrate", "event=abort user=%s to=%s result=%s reply=\"%s\"", j->user,
		    j->target, ok ? "ok" : "fail", j->reply);
		propose(j, "end", j->fail);
		return;
	}
	if (!ok && j->have_base && j->copies < MIGRATE_MAX_COPIES &&
	    (reply_error_code(j->reply) == MN_ECONFLICT ||
	        reply_error_code(j->reply) == MN_ENOENT)) {
		/* the target's copy is not what we think: start it again */
		log_warn("migrate", "event=recopy user=%s to=%s reply=\"%s\"", j->user, j->target,
		    j->reply);
		j->have_base = false;
		job_step(j);
		return;
	}
	if (!ok) {
		job_fail(j, "target %s: %s", j->target,
		    j->reply[0] ? j->reply : mn_strerror(reason ? reason : MN_ECLOSED));
		return;
	}
	if (parse_counts(j->reply + 3, &f, &msgs, sha) != 0 || strcmp(sha, j->ex.st.digest) != 0 ||
	    f != j->ex.st.folders || msgs != j->ex.st.messages) {
		job_fail(j, "target %s holds something else: %s", j->target, j->reply);
		return;
	}
	j->rounds++;
	j->bytes += j->ex.size;
	if (!j->have_base)
		j->copies++;
	j->have_base = true;
	mailstore_sync_base_fini(&j->base);
	j->base = j->ex.next;
	memset(&j->ex.next, 0, sizeof(j->ex.next));
	snprintf(j->confirmed, sizeof(j->confirmed), "%s", sha);
	j->tfolders = f;
	j->tmessages = msgs;
	log_info("migrate",
	    "event=copied user=%s to=%s round=%u bytes=%llu messages=%llu digest=%s ms=%llu",
	    j->user, j->target, j->rounds, (unsigned long long)j->ex.size, msgs, sha,
	    (unsigned long long)(uv_now(j->m->loop) - j->t_start));
	/* again: what changed meanwhile (in the hold: nothing, normally) */
	job_step(j);
}

static const struct conn_handler stream_handler = {
    .on_read = stream_read,
    .on_close = stream_closed,
    .on_drain = stream_drain,
};

static void
send_more(struct job *j)
{
	char *chunk;

	if (j->c == NULL || j->abort)
		return;
	chunk = xmalloc(SEND_CHUNK);
	while (j->sent < j->ex.size && conn_pending_output(j->c) < SEND_HIGH) {
		uint64_t left = j->ex.size - j->sent;
		size_t want = left < SEND_CHUNK ? (size_t)left : SEND_CHUNK;
		ssize_t n = pread(j->fd, chunk, want, (off_t)j->sent);

		if (n <= 0) {
			log_warn("migrate", "event=send user=%s reason=\"read %s: %s\"", j->user,
			    j->path, n < 0 ? strerror(errno) : "short file");
			conn_abort(j->c);
			break;
		}
		if (conn_write(j->c, chunk, (size_t)n) != 0)
			break;
		j->sent += (uint64_t)n;
	}
	free(chunk);
}

static void
reopen_cb(uv_timer_t *t)
{
	struct job *j = t->data;

	j->busy = false;
	if (j->m->stopping) {
		job_free(j);
		return;
	}
	open_stream(j, false);
}

static void
stream_opened(
    struct conn *c, int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct job *j = arg;

	(void)payload;
	(void)len;
	j->op = NULL;
	if (status != 0) {
		j->busy = false;
		if (j->m->stopping) {
			job_free(j);
			return;
		}
		if (!j->abort && (status == MN_ETEMP || status == MN_EAGAIN) && ++j->opens < 20) {
			/* the target has not applied the move yet, or still
			 * finishes an earlier attempt */
			j->busy = true;
			uv_timer_start(&j->timer, reopen_cb, 250, 0);
			return;
		}
		if (j->abort) {
			log_warn("migrate", "event=abort user=%s to=%s result=fail reason=\"%s\"",
			    j->user, j->target, error ? error : mn_strerror(status));
			propose(j, "end", j->fail);
		} else {
			job_fail(
			    j, "target %s: %s", j->target, error ? error : mn_strerror(status));
		}
		return;
	}
	j->opens = 0;
	j->c = c;
	j->sent = 0;
	conn_set_handler(c, &stream_handler, j);
	conn_set_idle_timeout(c, MIGRATE_IDLE_MS);
	send_more(j);
}

static void
open_stream(struct job *j, bool abort)
{
	Mailnode__MigrateOpen mo = MAILNODE__MIGRATE_OPEN__INIT;
	struct dir_node node;
	uint8_t *buf;
	size_t n;
	int rc;

	j->abort = abort;
	j->rlen = 0;
	j->reply[0] = '\0';
	memset(&node, 0, sizeof(node));
	if ((rc = directory_node_get(j->m->cfg.dir, j->target, &node)) != 0 || node.rpc_port == 0) {
		dir_node_fini(&node);
		if (abort)
			propose(j, "end", j->fail);
		else
			job_fail(j, "node %s has no RPC address", j->target);
		return;
	}
	mo.user = j->user;
	mo.source = (char *)j->m->cfg.node_name;
	mo.has_abort = abort;
	mo.abort = abort;
	if (!abort) {
		mo.has_size = true;
		mo.size = j->ex.size;
		mo.sha256 = j->ex.sha;
		mo.has_fresh = true;
		mo.fresh = !j->have_base;
	}
	n = mailnode__migrate_open__get_packed_size(&mo);
	buf = xmalloc(n ? n : 1);
	mailnode__migrate_open__pack(&mo, buf);
	j->busy = true;
	rc = rpc_stream_open(j->m->loop, j->m->cfg.auth, node.address, node.rpc_port,
	    MAILNODE__RPC_METHOD__RPC_MIGRATE_PUT, buf, n, MIGRATE_OPEN_TIMEOUT_MS, stream_opened,
	    j, &j->op);
	free(buf);
	dir_node_fini(&node);
	if (rc != 0) {
		j->busy = false;
		if (abort)
			propose(j, "end", j->fail);
		else
			job_fail(j, "target %s: %s", j->target, mn_strerror(rc));
	}
}

/* --- source: the state machine ---------------------------------------------- */

static void
job_step(struct job *j)
{
	struct migrate *m = j->m;
	struct dir_user u;
	int rc;

	if (m->stopping) {
		job_free(j);
		return;
	}
	memset(&u, 0, sizeof(u));
	rc = directory_user_get(m->cfg.dir, j->user, &u);
	if (rc != 0 || u.move_state[0] == '\0' || strcmp(u.move_from, m->cfg.node_name) != 0 ||
	    strcmp(u.move_to, j->target) != 0) {
		/* deleted, ended, or not ours: nothing left to drive */
		if (rc == 0 && u.move_result[0] != '\0')
			log_info("migrate", "event=end user=%s to=%s home=%s result=\"%s\"",
			    j->user, j->target, u.home_node, u.move_result);
		dir_user_fini(&u);
		job_free(j);
		return;
	}
	if (strcmp(u.move_state, "cancel") == 0 && j->fail == NULL) {
		/* mailctl user move --cancel: the same road as a failure */
		dir_user_fini(&u);
		job_fail(j, "cancelled");
		return;
	}
	if (j->fail != NULL) {
		if (strcmp(u.move_state, "cleanup") != 0) {
			/* rolling back: the abort went out, end the move */
			dir_user_fini(&u);
			propose(j, "end", j->fail);
			return;
		}
		/* flipped after all (a flip whose reply was lost): finish */
		free(j->fail);
		j->fail = NULL;
	}
	if (strcmp(u.move_state, "copy") == 0) {
		/* the user reads and gets mail here meanwhile: copy, then
		 * catch up until what is left is small */
		if (j->t_start == 0) {
			j->t_start = uv_now(m->loop);
			log_info("migrate", "event=start user=%s from=%s to=%s", j->user,
			    u.move_from, j->target);
		}
		job_queue(j, JW_EXPORT);
	} else if (strcmp(u.move_state, "hold") == 0) {
		if (j->copied) {
			log_info("migrate", "event=flip user=%s to=%s %s", j->user, j->target,
			    j->result);
			propose(j, "flip", j->result);
		} else if (!j->have_base && j->t_hold == 0) {
			/* restarted during the hold: the target's copy is of
			 * unknown age; let mail flow while copying again */
			log_info("migrate", "event=resume user=%s to=%s", j->user, j->target);
			propose(j, "resume", NULL);
		} else {
			if (j->t_hold == 0) {
				/* no new deliveries from here; sessions must not
				 * change the mailbox under the last copy */
				if (m->cfg.close_sessions != NULL)
					m->cfg.close_sessions(j->user, m->cfg.arg);
				j->t_hold = uv_now(m->loop);
				log_info("migrate", "event=hold user=%s to=%s", j->user, j->target);
			}
			job_queue(j, JW_EXPORT);
		}
	} else if (strcmp(u.move_state, "cleanup") == 0) {
		if (j->t_hold != 0) {
			/* the flip committed: held mail goes to the new home */
			log_info("migrate",
			    "event=flipped user=%s to=%s hold_ms=%llu total_ms=%llu", j->user,
			    j->target, (unsigned long long)(uv_now(m->loop) - j->t_hold),
			    (unsigned long long)(uv_now(m->loop) - j->t_start));
			j->t_hold = 0;
		}
		if (m->cfg.close_sessions != NULL)
			m->cfg.close_sessions(j->user, m->cfg.arg);
		job_queue(j, JW_DELETE);
	} else {
		log_warn("migrate", "event=step user=%s reason=\"unknown move state %s\"", j->user,
		    u.move_state);
		job_free(j);
	}
	dir_user_fini(&u);
}

static void
scan_cb(uv_timer_t *t)
{
	struct migrate *m = t->data;
	char **v = NULL;
	size_t n = 0;

	if (m->stopping || directory_moves_from(m->cfg.dir, m->cfg.node_name, &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct job *j;
		struct dir_user u;

		for (j = m->jobs; j != NULL; j = j->next)
			if (strcmp(j->user, v[i]) == 0)
				break;
		if (j != NULL || directory_user_get(m->cfg.dir, v[i], &u) != 0)
			continue;
		j = xcalloc(1, sizeof(*j));
		j->m = m;
		j->fd = -1;
		j->user = xstrdup(v[i]);
		j->target = xstrdup(u.move_to);
		j->path = xasprintf("%s/%llu.out", m->dir, (unsigned long long)++m->seq);
		uv_timer_init(m->loop, &j->timer);
		j->timer.data = j;
		j->next = m->jobs;
		m->jobs = j;
		dir_user_fini(&u);
		job_step(j);
	}
	directory_strv_free(v, n);
}

/* --- target: RPC_MIGRATE_PUT ------------------------------------------------ */

struct put {
	struct put *next;
	struct migrate *m;
	struct conn *c;
	char *user, *source, *path;
	bool abort, fresh;
	int fd;
	uint64_t size, got;
	char sha[65];
	EVP_MD_CTX *md;
	uv_work_t work;
	bool working;
	struct xresult r;
};

static void
put_free(struct put *p)
{
	struct put **pp;

	for (pp = &p->m->puts; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (p->fd >= 0)
		close(p->fd);
	if (p->path != NULL)
		unlink(p->path);
	if (p->md != NULL)
		EVP_MD_CTX_free(p->md);
	free(p->user);
	free(p->source);
	free(p->path);
	free(p);
}

static ssize_t
file_read(void *arg, void *data, size_t len)
{
	struct put *p = arg;
	ssize_t n;

	do
		n = read(p->fd, data, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? MN_EIO : n;
}

static void
put_work(uv_work_t *w)
{
	struct put *p = w->data;
	struct mailstore *ms = p->m->cfg.ms;

	memset(&p->r, 0, sizeof(p->r));
	if (p->abort) {
		/* whatever is here for this user is what the move left: the
		 * user is not homed here (checked at the opening) */
		if (mailstore_user_exists(ms, p->user) &&
		    (p->r.rc = mailstore_user_delete(ms, p->user, &p->r.err)) == MN_ENOENT)
			p->r.rc = 0;
		return;
	}
	if (lseek(p->fd, 0, SEEK_SET) != 0) {
		p->r.rc = mn_err_set(&p->r.err, MN_EIO, "seek: %s", strerror(errno));
		return;
	}
	/* fresh: replaces what an earlier attempt left */
	if ((p->r.rc = mailstore_import_sync(ms, p->user, p->fresh, file_read, p, &p->r.err)) != 0)
		return;
	/* what the store holds now, as the source computes it */
	p->r.rc = mailstore_digest(ms, p->user, &p->r.st, &p->r.err);
}

static void put_reply(struct put *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
put_reply(struct put *p, int rc, const char *fmt, ...)
{
	char text[REPLY_MAX - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *s = text; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
	if (p->c != NULL) {
		if (rc == 0)
			conn_printf(p->c, "OK %s\n", text);
		else
			conn_printf(p->c, "ERR %d %s\n", rc, text);
		conn_close(p->c);
	}
}

static void
put_work_done(uv_work_t *w, int status)
{
	struct put *p = w->data;

	(void)status;
	p->working = false;
	if (p->r.rc != 0) {
		log_warn("migrate", "event=%s user=%s from=%s result=fail reason=\"%s\"",
		    p->abort ? "drop" : "import", p->user, p->source, p->r.err.msg);
		put_reply(p, p->r.rc, "%s", p->r.err.msg);
	} else if (p->abort) {
		log_info("migrate", "event=drop user=%s from=%s result=ok", p->user, p->source);
		put_reply(p, 0, "0 0 -");
	} else {
		log_info("migrate",
		    "event=import user=%s from=%s fresh=%d bytes=%llu folders=%llu messages=%llu "
		    "digest=%s",
		    p->user, p->source, p->fresh, (unsigned long long)p->size,
		    (unsigned long long)p->r.st.folders, (unsigned long long)p->r.st.messages,
		    p->r.st.digest);
		put_reply(p, 0, "%llu %llu %s", (unsigned long long)p->r.st.folders,
		    (unsigned long long)p->r.st.messages, p->r.st.digest);
	}
	if (p->c == NULL)
		put_free(p);
}

static void
put_start_work(struct put *p)
{
	p->working = true;
	p->work.data = p;
	uv_queue_work(p->m->loop, &p->work, put_work, put_work_done);
}

static void
put_read(struct conn *c, void *arg)
{
	struct put *p = arg;
	struct buf *in = conn_input(c);
	size_t n = in->len;
	const char *d = (const char *)in->data;

	if (p->working || p->abort || p->got >= p->size) {
		buf_consume(in, n); /* nothing more is expected */
		return;
	}
	if (n > p->size - p->got)
		n = (size_t)(p->size - p->got);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(p->fd, d + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("migrate", "event=receive user=%s reason=\"%s: %s\"", p->user,
			    p->path, strerror(errno));
			buf_consume(in, in->len);
			put_reply(p, MN_EIO, "cannot write %s", p->path);
			return;
		}
		off += (size_t)w;
	}
	EVP_DigestUpdate(p->md, d, n);
	p->got += n;
	buf_consume(in, in->len);
	if (p->got == p->size) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		char sha[65];

		EVP_DigestFinal_ex(p->md, md, &mdlen);
		hex(md, mdlen, sha);
		if (strcmp(sha, p->sha) != 0) {
			put_reply(p, MN_EPARSE, "stream checksum %s, expected %s", sha, p->sha);
			return;
		}
		put_start_work(p);
	}
}

static void
put_closed(struct conn *c, void *arg, int reason)
{
	struct put *p = arg;

	(void)c;
	(void)reason;
	p->c = NULL;
	if (!p->working)
		put_free(p);
}

static const struct conn_handler put_handler = {
    .on_read = put_read,
    .on_close = put_closed,
};

static void
serve_put(struct rpc_stream *st, const uint8_t *payload, size_t len, void *arg)
{
	struct migrate *m = arg;
	Mailnode__MigrateOpen *mo = mailnode__migrate_open__unpack(NULL, len, payload);
	const char *peer = rpc_stream_peer_name(st);
	struct dir_user u;
	const char *why = NULL;
	struct put *p;
	int code = MN_ECONFLICT;

	memset(&u, 0, sizeof(u));
	if (mo == NULL || strlen(mo->user) > DIR_MAX_ADDRESS ||
	    (!mo->abort && (mo->sha256 == NULL || strlen(mo->sha256) != 64 || !mo->has_size))) {
		rpc_stream_refuse(st, MN_EPARSE, "bad MigrateOpen");
		goto out;
	}
	if (m->stopping || m->cfg.ms == NULL)
		why = "shutting down", code = MN_ETEMP;
	else if (peer == NULL || strcmp(peer, mo->source) != 0)
		why = "the source is not the peer", code = MN_EPERM;
	else if (directory_user_get(m->cfg.dir, mo->user, &u) != 0)
		why = "no such user", code = MN_ENOENT;
	else if (strcmp(u.home_node, m->cfg.node_name) == 0)
		why = "the user is homed here";
	else if (!mo->abort &&
	         ((strcmp(u.move_state, "copy") != 0 && strcmp(u.move_state, "hold") != 0) ||
	             strcmp(u.move_to, m->cfg.node_name) != 0 ||
	             strcmp(u.move_from, mo->source) != 0))
		why = "no move of this user to this node is copying (directory behind?)",
		code = MN_ETEMP;
	for (p = m->puts; why == NULL && p != NULL; p = p->next)
		if (strcmp(p->user, mo->user) == 0)
			why = "a transfer of this user is running", code = MN_EAGAIN;
	if (why != NULL) {
		log_warn("migrate", "event=serve user=%s peer=%s result=refused reason=\"%s\"",
		    mo->user, peer ? peer : "-", why);
		rpc_stream_refuse(st, code, why);
		goto out;
	}
	p = xcalloc(1, sizeof(*p));
	p->m = m;
	p->fd = -1;
	p->user = xstrdup(u.address);
	p->source = xstrdup(mo->source);
	p->abort = mo->abort;
	p->fresh = mo->has_fresh && mo->fresh;
	if (!p->abort) {
		p->size = mo->size;
		snprintf(p->sha, sizeof(p->sha), "%s", mo->sha256);
		p->path = xasprintf("%s/%llu.in", m->dir, (unsigned long long)++m->seq);
		p->fd = open(p->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (p->fd < 0) {
			rpc_stream_refuse(st, MN_EIO, "cannot create the stream file");
			put_free(p);
			goto out;
		}
		p->md = EVP_MD_CTX_new();
		EVP_DigestInit_ex(p->md, EVP_sha256(), NULL);
	}
	p->next = m->puts;
	m->puts = p;
	p->c = rpc_stream_accept(st, NULL, 0);
	conn_set_handler(p->c, &put_handler, p);
	conn_set_idle_timeout(p->c, MIGRATE_IDLE_MS);
	log_info("migrate", "event=serve user=%s from=%s %s bytes=%llu", p->user, p->source,
	    p->abort ? "abort" : "put", (unsigned long long)p->size);
	if (p->abort || p->size == 0)
		put_start_work(p);
out:
	dir_user_fini(&u);
	if (mo != NULL)
		mailnode__migrate_open__free_unpacked(mo, NULL);
}

/* --- lifecycle ----------------------------------------------------------------- */

static void
empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		unlink(p);
		free(p);
	}
	closedir(d);
}

int
migrate_new(
    uv_loop_t *loop, const struct migrate_config *cfg, struct migrate **out, struct mn_err *err)
{
	struct migrate *m;

	m = xcalloc(1, sizeof(*m));
	m->loop = loop;
	m->cfg = *cfg;
	m->dir = xasprintf("%s/migrate", cfg->data_dir);
	if (mkdir(m->dir, 0700) != 0 && errno != EEXIST) {
		mn_err_set(err, MN_EIO, "%s: %s", m->dir, strerror(errno));
		free(m->dir);
		free(m);
		return MN_EIO;
	}
	/* streams of an earlier run: their moves start the copy again */
	empty_dir(m->dir);
	uv_timer_init(loop, &m->scan);
	m->scan.data = m;
	uv_timer_start(&m->scan, scan_cb, MIGRATE_SCAN_MS, MIGRATE_SCAN_MS);
	rpc_server_handle_stream(NULL, MAILNODE__RPC_METHOD__RPC_MIGRATE_PUT, serve_put, m);
	*out = m;
	return 0;
}

void
migrate_stop(struct migrate *m)
{
	if (m == NULL || m->stopping)
		return;
	m->stopping = true;
	rpc_server_handle_stream(NULL, MAILNODE__RPC_METHOD__RPC_MIGRATE_PUT, NULL, NULL);
	uv_timer_stop(&m->scan);
	uv_close((uv_handle_t *)&m->scan, NULL);
	for (struct job *j = m->jobs, *next; j != NULL; j = next) {
		next = j->next;
		if (j->op != NULL) {
			rpc_stream_cancel(j->op);
			j->op = NULL;
			job_free(j);
		} else if (j->c != NULL) {
			conn_abort(j->c); /* stream_closed frees it */
		} else if (!j->busy) {
			job_free(j);
		} else if (uv_is_active((uv_handle_t *)&j->timer)) {
			uv_timer_stop(&j->timer);
			job_free(j);
		}
		/* else: pool work or a proposal; its callback frees it */
	}
	for (struct put *p = m->puts; p != NULL; p = p->next)
		if (p->c != NULL)
			conn_abort(p->c);
}

void
migrate_free(struct migrate **mp)
{
	struct migrate *m = mp ? *mp : NULL;

	if (m == NULL)
		return;
	free(m->dir);
	free(m);
	*mp = NULL;
}
