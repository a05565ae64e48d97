/*
 * handoff_server.c - the home node's side of the handoff (see handoff.h):
 * the RPC_HANDOFF_CHUNK handler. Chunks of one transfer (origin, spool id)
 * are appended to DATA_DIR/handoff/SPOOLID.ORIGIN on the thread pool; the
 * chunk with `last` then delivers the file to its recipients with one
 * mailstore_deliver_id call keyed by the handoff id, and only after that
 * call returned (the store fsync'd) is the reply sent.
 *
 * Robustness: a request is checked before anything is written (the proven
 * peer must be the origin it names, we must be the home it names, sizes
 * within limits); offset 0 (re)starts a transfer; any other offset that is
 * not where the file ends gets `have` back so the sender continues from
 * there (so duplicated, lost or reordered chunks cost a resend, never a
 * wrong byte). The temp file needs no fsync: after a crash the sender
 * starts again, and the store writes its own durable copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/handoff/handoff_internal.h"
#include "cluster/proto/handoff.pb-c.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"
#include "storage/mailstore/mailstore.h"

struct handoff_transfer {
	char origin[64];
	char spool_id[64];
	char *path;
	uint64_t have;  /* bytes in the file */
	uint64_t total; /* announced message size */
	uint64_t last_ms;
	bool busy; /* a write or the delivery runs on the pool */
	struct handoff_transfer *next;
};

/* One request while it is on the thread pool. */
struct hreq {
	struct handoff *h;
	struct handoff_transfer *t;
	struct rpc_call *call;
	Mailnode__HandoffChunk *m;
	uv_work_t work;
	int rc;
	char why[320];
	/* with last: */
	char id[HANDOFF_ID_MAX + 1];
	size_t n; /* recipients (m->n_rcpts) */
	Mailnode__HandoffResult *res;
	Mailnode__HandoffResult **resp;
	char (*reply)[HANDOFF_REPLY_MAX + 1];
	size_t *dup_of; /* rcpt i names the same user as rcpt dup_of[i] */
	char **users;   /* canonical addresses to store for */
	struct mailstore_quota *limits;
	struct mailstore_deliver_result *dres;
	size_t *map; /* users[k] is rcpts[map[k]] */
	size_t nusers;
};

static void
transfer_free(struct handoff *h, struct handoff_transfer *t, bool remove_file)
{
	struct handoff_transfer **pp = &h->transfers;

	while (*pp != NULL && *pp != t)
		pp = &(*pp)->next;
	if (*pp == t) {
		*pp = t->next;
		h->ntransfers--;
	}
	/* a metadata-only syscall on a file of our own: fine on the loop */
	if (remove_file && unlink(t->path) != 0 && errno != ENOENT)
		log_warn("handoff", "event=unlink path=%s reason=\"%s\"", t->path, strerror(errno));
	free(t->path);
	free(t);
}

void
handoff_server_sweep(struct handoff *h, bool all)
{
	uint64_t now = handoff_now_ms(h);
	struct handoff_transfer *t, *next;

	for (t = h->transfers; t != NULL; t = next) {
		next = t->next;
		if (t->busy)
			continue; /* its work ends it or refreshes it */
		if (all || now - t->last_ms >= h->cfg.idle_timeout_ms) {
			if (!all)
				log_info("handoff",
				    "event=expire origin=%s spool_id=%s have=%llu total=%llu",
				    t->origin, t->spool_id, (unsigned long long)t->have,
				    (unsigned long long)t->total);
			transfer_free(h, t, true);
		}
	}
}

static void
reply_have(struct rpc_call *call, uint64_t have)
{
	Mailnode__HandoffReply rep = MAILNODE__HANDOFF_REPLY__INIT;
	uint8_t buf[16];
	size_t n;

	rep.have = have;
	n = mailnode__handoff_reply__pack(&rep, buf);
	rpc_reply(call, 0, NULL, buf, n);
}

static void
hreq_free(struct hreq *r)
{
	if (r->m != NULL)
		mailnode__handoff_chunk__free_unpacked(r->m, NULL);
	free(r->res);
	free(r->resp);
	free(r->reply);
	for (size_t k = 0; k < r->nusers; k++)
		free(r->users[k]);
	free(r->users);
	free(r->dup_of);
	free(r->limits);
	free(r->dres);
	free(r->map);
	free(r);
}

static __attribute__((format(printf, 4, 5))) void
set_result(struct hreq *r, size_t i, Mailnode__HandoffOutcome o, const char *fmt, ...)
{
	va_list ap;

	r->res[i].outcome = o;
	va_start(ap, fmt);
	vsnprintf(r->reply[i], sizeof(r->reply[i]), fmt, ap);
	va_end(ap);
}

/* --- pool ------------------------------------------------------------------ */

static int
write_chunk(struct hreq *r)
{
	Mailnode__HandoffChunk *m = r->m;
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (m->offset == 0 ? O_TRUNC : 0);
	int fd = open(r->t->path, flags, 0600);
	size_t done = 0;

	if (fd < 0) {
		snprintf(r->why, sizeof(r->why), "open %s: %s", r->t->path, strerror(errno));
		return MN_EIO;
	}
	while (m->has_data && done < m->data.len) {
		ssize_t w =
		    pwrite(fd, m->data.data + done, m->data.len - done, (off_t)(m->offset + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(r->why, sizeof(r->why), "write %s: %s", r->t->path,
			    w < 0 ? strerror(errno) : "no progress");
			close(fd);
			return MN_EIO;
		}
		done += (size_t)w;
	}
	if (close(fd) != 0) {
		snprintf(r->why, sizeof(r->why), "close %s: %s", r->t->path, strerror(errno));
		return MN_EIO;
	}
	return 0;
}

/* the whole file, mapped, to the store in one call: one body for every
 * recipient on this node */
static int
deliver_file(struct hreq *r)
{
	struct handoff *h = r->h;
	struct mn_err err;
	struct stat st;
	void *data = NULL;
	int fd, rc;

	mn_err_clear(&err);
	if ((fd = open(r->t->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(r->why, sizeof(r->why), "open %s: %s", r->t->path, strerror(errno));
		return MN_EIO;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != r->m->total) {
		snprintf(r->why, sizeof(r->why), "%s: size %lld, expected %llu", r->t->path,
		    (long long)st.st_size, (unsigned long long)r->m->total);
		close(fd);
		return MN_EIO;
	}
	if (st.st_size > 0) {
		data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (data == MAP_FAILED) {
			snprintf(
			    r->why, sizeof(r->why), "mmap %s: %s", r->t->path, strerror(errno));
			close(fd);
			return MN_EIO;
		}
	}
	close(fd);
	rc = mailstore_deliver_id(h->cfg.ms, r->id, (const char *const *)r->users, r->nusers,
	    data ? data : "", (size_t)st.st_size, r->m->has_internal_date ? r->m->internal_date : 0,
	    NULL, r->limits, r->dres, &err);
	if (data != NULL)
		munmap(data, (size_t)st.st_size);
	if (rc != 0)
		snprintf(r->why, sizeof(r->why), "mail store: %s", err.msg);
	return rc;
}

static void
chunk_work(uv_work_t *w)
{
	struct hreq *r = w->data;

	r->rc = write_chunk(r);
	if (!r->m->last)
		return;
	if (r->rc == 0 && r->nusers > 0)
		r->rc = deliver_file(r);
	/* delivered or not, the file is done: a retry starts from offset 0 */
	if (unlink(r->t->path) != 0 && errno != ENOENT && r->rc == 0)
		log_warn(
		    "handoff", "event=unlink path=%s reason=\"%s\"", r->t->path, strerror(errno));
}

/* --- loop ------------------------------------------------------------------ */

static void
reply_results(struct hreq *r)
{
	Mailnode__HandoffReply rep = MAILNODE__HANDOFF_REPLY__INIT;
	size_t stored = 0, dups = 0, other = 0;
	uint8_t *buf;
	size_t n;

	for (size_t k = 0; k < r->nusers; k++) {
		size_t i = r->map[k];
		const struct mailstore_deliver_result *d = &r->dres[k];

		if (r->rc != 0) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_TEMPFAIL,
			    "451 4.3.0 mail store on the home node: %s", mn_strerror(r->rc));
		} else if (d->rc == 0) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_DELIVERED,
			    "250 2.0.0 delivered to INBOX on %s", r->h->cfg.node_name);
			if (d->duplicate) {
				dups++;
			} else {
				stored++;
				if (r->h->cfg.on_delivered != NULL)
					r->h->cfg.on_delivered(r->users[k], r->h->cfg.arg);
			}
		} else if (d->rc == MN_ENOQUOTA) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_PERMFAIL, "%s",
			    "552 5.2.2 mailbox full");
		} else {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_TEMPFAIL,
			    "451 4.3.0 mail store on the home node: %s", mn_strerror(d->rc));
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->dup_of[i] != SIZE_MAX) {
			r->res[i].outcome = r->res[r->dup_of[i]].outcome;
			memcpy(r->reply[i], r->reply[r->dup_of[i]], sizeof(r->reply[i]));
		}
		r->res[i].reply = r->reply[i];
		r->resp[i] = &r->res[i];
		if (r->res[i].outcome != MAILNODE__HANDOFF_OUTCOME__HANDOFF_DELIVERED)
			other++;
	}
	rep.have = r->m->total;
	rep.n_results = r->n;
	rep.results = r->resp;
	n = mailnode__handoff_reply__get_packed_size(&rep);
	buf = xmalloc(n ? n : 1);
	mailnode__handoff_reply__pack(&rep, buf);
	rpc_reply(r->call, 0, NULL, buf, n);
	free(buf);
	log_info("handoff",
	    "id=%s event=deliver origin=%s size=%llu rcpts=%zu stored=%zu duplicate=%zu "
	    "other=%zu%s%s%s",
	    r->m->spool_id, r->m->origin, (unsigned long long)r->m->total, r->n, stored, dups,
	    other, r->rc ? " reason=\"" : "", r->rc ? r->why : "", r->rc ? "\"" : "");
}

static void
chunk_done(uv_work_t *w, int status)
{
	struct hreq *r = w->data;
	struct handoff *h = r->h;
	struct handoff_transfer *t = r->t;

	h->pending--;
	t->busy = false;
	t->last_ms = handoff_now_ms(h);
	if (r->m->last) {
		/* a store failure makes every storable recipient TEMPFAIL */
		if (r->rc != 0)
			log_error("handoff",
			    "id=%s event=deliver origin=%s result=fail reason=\"%s\"",
			    r->m->spool_id, r->m->origin, r->why);
		reply_results(r);
		transfer_free(h, t, false); /* the pool unlinked it */
	} else if (r->rc != 0) {
		/* the temp file could not be written: drop the transfer; the
		 * sender retries from the start later */
		log_error("handoff", "id=%s event=chunk origin=%s result=fail reason=\"%s\"",
		    r->m->spool_id, r->m->origin, r->why);
		rpc_reply(r->call, MN_ETEMP, "home node could not store the chunk", NULL, 0);
		transfer_free(h, t, true);
	} else {
		t->have = r->m->offset + (r->m->has_data ? r->m->data.len : 0);
		reply_have(r->call, t->have);
		if (h->stopped)
			transfer_free(h, t, true);
	}
	hreq_free(r);
}

/* Recipients are checked against this node's directory, which has the
 * last word: the sender's view may lag or lead ours. */
static void
plan_rcpts(struct hreq *r)
{
	struct handoff *h = r->h;
	Mailnode__HandoffChunk *m = r->m;

	r->n = m->n_rcpts;
	r->res = xcalloc(r->n, sizeof(*r->res));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers for protobuf-c */
	r->resp = xcalloc(r->n, sizeof(*r->resp));
	r->reply = xcalloc(r->n, sizeof(*r->reply));
	r->dup_of = xcalloc(r->n, sizeof(*r->dup_of));
	r->users = xcalloc(r->n, sizeof(*r->users));
	r->limits = xcalloc(r->n, sizeof(*r->limits));
	r->dres = xcalloc(r->n, sizeof(*r->dres));
	r->map = xcalloc(r->n, sizeof(*r->map));
	for (size_t i = 0; i < r->n; i++) {
		struct dir_user u;
		int rc;

		mailnode__handoff_result__init(&r->res[i]);
		r->res[i].address = m->rcpts[i]; /* as the sender wrote it: it matches by it */
		r->dup_of[i] = SIZE_MAX;
		rc = directory_user_get(h->cfg.dir, m->rcpts[i], &u);
		if (rc == MN_ENOENT || rc == MN_EINVAL) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_PERMFAIL, "%s",
			    "550 5.1.1 user unknown");
		} else if (rc != 0) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_TEMPFAIL,
			    "451 4.3.0 directory lookup failed on %s", h->cfg.node_name);
		} else if (u.home_node != NULL && u.home_node[0] != '\0' &&
		           strcmp(u.home_node, h->cfg.node_name) != 0) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_NOT_HOME,
			    "451 4.4.0 user is homed on %s", u.home_node);
		} else if (u.flags & DIR_USER_DISABLED) {
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_PERMFAIL, "%s",
			    "550 5.2.1 mailbox disabled");
		} else if (directory_user_held(&u)) {
			/* being moved (cluster/migrate): it waits in the sender's spool */
			set_result(r, i, MAILNODE__HANDOFF_OUTCOME__HANDOFF_TEMPFAIL, "%s",
			    "451 4.2.1 mailbox being moved to another node, held");
		} else {
			/* the store names users by the directory's canonical
			 * address; one user named twice is stored once and both
			 * names get its result */
			for (size_t k = 0; k < r->nusers && r->dup_of[i] == SIZE_MAX; k++)
				if (strcmp(r->users[k], u.address) == 0)
					r->dup_of[i] = r->map[k];
			if (r->dup_of[i] == SIZE_MAX) {
				r->users[r->nusers] = xstrdup(u.address);
				r->limits[r->nusers].max_bytes = u.quota_bytes;
				r->limits[r->nusers].max_messages = u.quota_messages;
				r->map[r->nusers++] = i;
			}
		}
		if (rc == 0)
			dir_user_fini(&u);
	}
}

static struct handoff_transfer *
find_transfer(struct handoff *h, const char *origin, const char *spool_id)
{
	for (struct handoff_transfer *t = h->transfers; t != NULL; t = t->next)
		if (strcmp(t->origin, origin) == 0 && strcmp(t->spool_id, spool_id) == 0)
			return t;
	return NULL;
}

void
handoff_server_handle(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg)
{
	struct handoff *h = arg;
	Mailnode__HandoffChunk *m = mailnode__handoff_chunk__unpack(NULL, len, payload);
	const char *peer = rpc_call_peer_name(call);
	struct handoff_transfer *t;
	struct hreq *r;
	size_t dlen;

	if (m == NULL) {
		rpc_reply(call, MN_EPARSE, "bad HandoffChunk", NULL, 0);
		return;
	}
	dlen = m->has_data ? m->data.len : 0;
	/* refusals that a retry cannot fix come first, then the busy ones */
	if (!handoff_name_ok(m->origin) || !handoff_name_ok(m->spool_id) ||
	    strcmp(m->origin, peer) != 0) {
		rpc_reply(call, MN_EPERM, "origin is not the calling node", NULL, 0);
	} else if (strcmp(m->home, h->cfg.node_name) != 0) {
		rpc_reply(call, MN_ECONFLICT, "not the home node", NULL, 0);
	} else if (m->total > h->cfg.max_message_size) {
		rpc_reply(call, MN_ETOOBIG, "message too big", NULL, 0);
	} else if (dlen > HANDOFF_CHUNK_MAX || m->offset > m->total ||
	           dlen > m->total - m->offset ||
	           (m->last && (m->offset + dlen != m->total || m->n_rcpts == 0)) ||
	           m->n_rcpts > HANDOFF_MAX_RCPTS) {
		rpc_reply(call, MN_EINVAL, "bad chunk", NULL, 0);
	} else if (h->stopped || h->cfg.ms == NULL) {
		rpc_reply(call, MN_EAGAIN, "home node is shutting down", NULL, 0);
	} else {
		goto accept;
	}
	mailnode__handoff_chunk__free_unpacked(m, NULL);
	return;

accept:
	t = find_transfer(h, m->origin, m->spool_id);
	if (t != NULL && t->busy) {
		/* a duplicate of a chunk still being written, or a retry while
		 * the delivery runs: the sender comes back later */
		rpc_reply(call, MN_EAGAIN, "transfer busy", NULL, 0);
		mailnode__handoff_chunk__free_unpacked(m, NULL);
		return;
	}
	if (m->offset != 0 && (t == NULL || t->total != m->total || m->offset != t->have)) {
		/* not where the file ends: say where it does */
		reply_have(call, t != NULL && t->total == m->total ? t->have : 0);
		mailnode__handoff_chunk__free_unpacked(m, NULL);
		return;
	}
	if (t == NULL) {
		if (h->ntransfers >= HANDOFF_MAX_TRANSFERS) {
			rpc_reply(call, MN_EAGAIN, "too many transfers", NULL, 0);
			mailnode__handoff_chunk__free_unpacked(m, NULL);
			return;
		}
		t = xcalloc(1, sizeof(*t));
		snprintf(t->origin, sizeof(t->origin), "%s", m->origin);
		snprintf(t->spool_id, sizeof(t->spool_id), "%s", m->spool_id);
		/* spool id first: it has no '.', so the name splits one way */
		t->path = xasprintf("%s/%s.%s", h->tmp_dir, m->spool_id, m->origin);
		t->next = h->transfers;
		h->transfers = t;
		h->ntransfers++;
	}
	if (m->offset == 0)
		t->have = 0;
	t->total = m->total;
	t->busy = true;
	t->last_ms = handoff_now_ms(h);
	r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->t = t;
	r->call = call;
	r->m = m;
	if (m->last) {
		handoff_id(m->origin, m->spool_id, h->cfg.node_name, r->id);
		plan_rcpts(r);
	}
	h->pending++;
	r->work.data = r;
	uv_queue_work(h->loop, &r->work, chunk_work, chunk_done);
}
