/*
 * handoff_client.c - the sending side of the handoff (see handoff.h): one
 * struct handoff_send per job streams the spool file's message to the home
 * node, one chunk at a time: read (thread pool) -> RPC_HANDOFF_CHUNK ->
 * the reply's `have` says where to go on. The chunk that reaches the end
 * carries `last` and the recipients, and its reply their results.
 *
 * One request at a time per job keeps the home's temp file append-only
 * without reordering; a 20 MB message is 80 round trips on a LAN, far
 * below the store's fsync. A job never outlives its callback: every path
 * ends in send_finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/handoff/handoff_internal.h"
#include "cluster/proto/handoff.pb-c.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "storage/directory/directory.h"

struct handoff_send {
	struct handoff *h;
	struct handoff_job *job;
	handoff_done_cb cb;
	void *arg;
	char ip[64];
	uint16_t port;
	bool resolved;
	uint64_t off;   /* the next chunk starts here */
	uint8_t *chunk; /* read by the pool */
	size_t chunk_len;
	bool in_pool;
	bool rpc_pending;
	uint64_t rpc_id;
	unsigned rounds; /* requests sent; bounded against a looping home */
	int rc;
	char why[320];
	uv_work_t work;
	struct handoff_send *prev, *next;
};

/* printable ASCII only: the text ends up in the spool and in DSNs */
static void
copy_reply(char *out, const char *in)
{
	size_t i = 0;

	for (; in != NULL && in[i] != '\0' && i < HANDOFF_REPLY_MAX; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = '\0';
}

static void
send_unlink(struct handoff_send *s)
{
	struct handoff *h = s->h;

	if (s->prev)
		s->prev->next = s->next;
	else
		h->sends = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* every rcpt still pending gets outcome and reply; then the callback */
static void
send_finish(struct handoff_send *s, enum handoff_outcome outcome, const char *reply)
{
	struct handoff_job *job = s->job;
	const char *why = NULL;
	char esc[HANDOFF_REPLY_MAX * 4 + 1];
	size_t ok = 0, other = 0;

	for (size_t i = 0; i < job->nrcpts; i++) {
		struct handoff_rcpt *r = &job->rcpts[i];

		if (r->outcome == HANDOFF_RCPT_PENDING) {
			r->outcome = outcome;
			copy_reply(r->reply, reply);
		}
		if (r->outcome == HANDOFF_RCPT_DELIVERED) {
			ok++;
		} else {
			other++;
			why = why ? why : r->reply;
		}
	}
	log_escape(esc, sizeof(esc), why ? why : "", why ? strlen(why) : 0);
	log_info("handoff",
	    "id=%s event=send home=%s size=%llu rounds=%u delivered=%zu other=%zu reason=\"%s\"",
	    job->spool_id, job->home, (unsigned long long)job->size, s->rounds, ok, other, esc);
	send_unlink(s);
	s->h->pending--;
	free(s->chunk);
	s->cb(job, s->arg);
	free(s);
}

static __attribute__((format(printf, 2, 3))) void
tempfail_all(struct handoff_send *s, const char *fmt, ...)
{
	char reply[HANDOFF_REPLY_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reply, sizeof(reply), fmt, ap);
	va_end(ap);
	send_finish(s, HANDOFF_RCPT_TEMPFAIL, reply);
}

static void read_next(struct handoff_send *s);

static void
reply_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	struct handoff_send *s = arg;
	struct handoff_job *job = s->job;
	Mailnode__HandoffReply *rep;
	char reply[HANDOFF_REPLY_MAX + 1];

	s->rpc_pending = false;
	if (status != 0) {
		if (status == MN_ECONFLICT) {
			snprintf(
			    reply, sizeof(reply), "451 4.4.0 %s is not the home node", job->home);
			send_finish(s, HANDOFF_RCPT_NOT_HOME, reply);
		} else if (status == MN_ETOOBIG) {
			snprintf(reply, sizeof(reply),
			    "552 5.3.4 message too big for the home node %s", job->home);
			send_finish(s, HANDOFF_RCPT_PERMFAIL, reply);
		} else {
			tempfail_all(s, "451 4.4.1 home node %s: %s", s->job->home, error);
		}
		return;
	}
	if (s->h->stopped) {
		tempfail_all(
		    s, "451 4.3.2 handoff to %s interrupted: %s", s->job->home, "shutting down");
		return;
	}
	rep = mailnode__handoff_reply__unpack(NULL, len, payload);
	if (rep == NULL) {
		tempfail_all(s, "451 4.4.1 home node %s: %s", s->job->home, "bad reply");
		return;
	}
	if (rep->n_results > 0) {
		/* the delivery happened: one result per recipient */
		for (size_t i = 0; i < rep->n_results; i++) {
			Mailnode__HandoffResult *res = rep->results[i];

			for (size_t j = 0; j < job->nrcpts; j++) {
				struct handoff_rcpt *r = &job->rcpts[j];

				if (r->outcome != HANDOFF_RCPT_PENDING ||
				    strcmp(r->address, res->address) != 0)
					continue;
				switch (res->outcome) {
				case MAILNODE__HANDOFF_OUTCOME__HANDOFF_DELIVERED:
					r->outcome = HANDOFF_RCPT_DELIVERED;
					break;
				case MAILNODE__HANDOFF_OUTCOME__HANDOFF_PERMFAIL:
					r->outcome = HANDOFF_RCPT_PERMFAIL;
					break;
				case MAILNODE__HANDOFF_OUTCOME__HANDOFF_NOT_HOME:
					r->outcome = HANDOFF_RCPT_NOT_HOME;
					break;
				default:
					r->outcome = HANDOFF_RCPT_TEMPFAIL;
					break;
				}
				copy_reply(r->reply, res->reply ? res->reply : "");
				if (r->reply[0] == '\0')
					snprintf(r->reply, sizeof(r->reply),
					    r->outcome == HANDOFF_RCPT_DELIVERED
					        ? "250 2.0.0 delivered on %s"
					        : "451 4.3.0 no reason given by %s",
					    job->home);
				break;
			}
		}
		mailnode__handoff_reply__free_unpacked(rep, NULL);
		tempfail_all(
		    s, "451 4.4.1 home node %s: %s", s->job->home, "no result for the recipient");
		return;
	}
	/* go on from what the home holds (0: it has nothing, start again) */
	s->off = rep->have <= job->size ? rep->have : 0;
	mailnode__handoff_reply__free_unpacked(rep, NULL);
	if (s->rounds > 3 * (job->size / HANDOFF_CHUNK_MAX) + 8) {
		tempfail_all(
		    s, "451 4.4.1 home node %s: %s", s->job->home, "transfer does not progress");
		return;
	}
	read_next(s);
}

static void
send_chunk(struct handoff_send *s)
{
	struct handoff *h = s->h;
	struct handoff_job *job = s->job;
	Mailnode__HandoffChunk m = MAILNODE__HANDOFF_CHUNK__INIT;
	/* The last chunk waits for the home's fsync: a long deadline. Unless
	 * the connection is up (or this transfer got a reply already), the
	 * data goes first without `last` under the short deadline, so that a
	 * home that is down is noticed in HANDOFF_CONNECT_TIMEOUT_MS. */
	bool last = s->off + s->chunk_len == job->size &&
	            (s->rounds > 0 || rpc_client_connected(h->rpc, s->ip, s->port));
	uint32_t timeout = last             ? HANDOFF_DELIVER_TIMEOUT_MS
	                   : s->rounds == 0 ? HANDOFF_CONNECT_TIMEOUT_MS
	                                    : HANDOFF_CHUNK_TIMEOUT_MS;
	char **rcpts = NULL;
	uint8_t *packed;
	size_t n;
	int rc;

	m.origin = (char *)h->cfg.node_name;
	m.spool_id = (char *)job->spool_id;
	m.home = (char *)job->home;
	m.offset = s->off;
	m.total = job->size;
	if (s->chunk_len > 0) {
		m.has_data = 1;
		m.data.data = s->chunk;
		m.data.len = s->chunk_len;
	}
	if (last) {
		m.has_last = m.last = 1;
		m.has_internal_date = 1;
		m.internal_date = job->internal_date;
		rcpts = xcalloc(job->nrcpts, sizeof(*rcpts));
		for (size_t i = 0; i < job->nrcpts; i++)
			rcpts[i] = (char *)job->rcpts[i].address;
		m.n_rcpts = job->nrcpts;
		m.rcpts = rcpts;
	}
	n = mailnode__handoff_chunk__get_packed_size(&m);
	packed = xmalloc(n ? n : 1);
	mailnode__handoff_chunk__pack(&m, packed);
	free(rcpts);
	free(s->chunk);
	s->chunk = NULL;
	s->rounds++;
	rc = rpc_client_call(h->rpc, s->ip, s->port, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK,
	    packed, n, timeout, reply_cb, s, &s->rpc_id);
	free(packed);
	if (rc != 0) {
		tempfail_all(s, "451 4.4.1 home node %s: %s", s->job->home, mn_strerror(rc));
		return;
	}
	s->rpc_pending = true;
}

static void
read_work(uv_work_t *w)
{
	struct handoff_send *s = w->data;
	struct handoff_job *job = s->job;
	size_t want = job->size - s->off > HANDOFF_CHUNK_MAX ? HANDOFF_CHUNK_MAX
	                                                     : (size_t)(job->size - s->off);
	size_t got = 0;
	int fd;

	s->rc = 0;
	s->chunk = xmalloc(want ? want : 1);
	s->chunk_len = want;
	if ((fd = open(job->message_path, O_RDONLY | O_CLOEXEC)) < 0) {
		s->rc = MN_EIO;
		snprintf(s->why, sizeof(s->why), "open: %s", strerror(errno));
		return;
	}
	while (got < want) {
		ssize_t r = pread(
		    fd, s->chunk + got, want - got, (off_t)(job->message_offset + s->off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			s->rc = MN_EIO;
			snprintf(s->why, sizeof(s->why), "read: %s",
			    r < 0 ? strerror(errno) : "spool file shorter than its message");
			break;
		}
		got += (size_t)r;
	}
	close(fd);
}

static void
read_done(uv_work_t *w, int status)
{
	struct handoff_send *s = w->data;
	struct handoff *h = s->h;

	s->in_pool = false;
	if (h->stopped) {
		tempfail_all(
		    s, "451 4.3.2 handoff to %s interrupted: %s", s->job->home, "shutting down");
		return;
	}
	if (s->rc != 0) {
		log_error("handoff", "id=%s event=read path=%s reason=\"%s\"", s->job->spool_id,
		    s->job->message_path, s->why);
		tempfail_all(s, "451 4.3.0 handoff to %s: spool %s", s->job->home, s->why);
		return;
	}
	if (!s->resolved) {
		/* looked up for every attempt: the node list is replicated and may
		 * have changed (a node re-addressed, removed) since the last one */
		struct dir_node n;
		int rc = directory_node_get(h->cfg.dir, s->job->home, &n);

		if (rc != 0 || n.rpc_port == 0 || strlen(n.address) >= sizeof(s->ip)) {
			dir_node_fini(&n);
			tempfail_all(s, "451 4.4.0 home node %s: %s", s->job->home,
			    rc == MN_ENOENT ? "not in the node list" : "no RPC address");
			return;
		}
		snprintf(s->ip, sizeof(s->ip), "%s", n.address);
		s->port = n.rpc_port;
		s->resolved = true;
		dir_node_fini(&n);
	}
	if (s->rounds == 0 && rpc_client_peer_backing_off(h->rpc, s->ip, s->port)) {
		/* the last try to reach it failed a moment ago: do not hold a
		 * queue worker for the connect deadline just to learn it again */
		tempfail_all(s, "451 4.4.1 home node %s: %s", s->job->home, "unreachable");
		return;
	}
	send_chunk(s);
}

static void
read_next(struct handoff_send *s)
{
	s->in_pool = true;
	s->work.data = s;
	uv_queue_work(s->h->loop, &s->work, read_work, read_done);
}

int
handoff_send(struct handoff *h, struct handoff_job *job, handoff_done_cb cb, void *arg)
{
	struct handoff_send *s;

	if (h == NULL || h->stopped || h->rpc == NULL)
		return MN_ECLOSED;
	s = xcalloc(1, sizeof(*s));
	s->h = h;
	s->job = job;
	s->cb = cb;
	s->arg = arg;
	for (size_t i = 0; i < job->nrcpts; i++) {
		job->rcpts[i].outcome = HANDOFF_RCPT_PENDING;
		job->rcpts[i].reply[0] = '\0';
	}
	s->next = h->sends;
	if (h->sends)
		h->sends->prev = s;
	h->sends = s;
	h->pending++;
	/* the first step is on the pool, so cb never runs inside this call */
	read_next(s);
	return 0;
}

void
handoff_client_stop(struct handoff *h)
{
	/* pending calls fail with MN_ECLOSED now (reply_cb finishes them);
	 * reads on the pool finish in read_done */
	rpc_client_close(&h->rpc);
}
