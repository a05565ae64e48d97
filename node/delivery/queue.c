/*
 * queue.c - the delivery scheduler (see queue.h for what it guarantees).
 *
 * One attempt on an entry runs through these steps, one at a time per entry
 * (e->busy), at most [delivery] workers entries at once:
 *   load    (pool) read the envelope and sidecar state from the spool
 *   plan    (loop) expand non-final recipients through the directory
 *           (aliases, groups -> final mailboxes, each once; unknown -> fail),
 *           look up quotas and home nodes, mark due local recipients
 *           INFLIGHT (those homed elsewhere go to the handoff step)
 *   local   (pool) read the message, dup check (entries recovered at
 *           start or after a failed attempt), one mailstore_deliver for all
 *   handoff (loop) one handoff_send per home node of due recipients homed
 *           on other nodes (cluster/handoff), all at once
 *   remote  (loop) one remote_deliver per domain of due remote recipients
 *   finish  (pool) expiry, delay warning, DSN for new failures (queued as a
 *           new spool entry), then remove the entry or save its state
 *   resched (loop) next due time = the earliest next_attempt
 */
#include "node/delivery/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "cluster/handoff/handoff.h"
#include "node/delivery/dsn.h"
#include "node/delivery/local.h"
#include "node/delivery/remote.h"
#include "node/mailbox_events.h"
#include "node/smtp/parser.h"
#include "storage/directory/directory.h"
#include "storage/spool/spool.h"

#define QUEUE_TICK_MAX_MS 1000 /* wake at least this often to look for due entries */
#define QUEUE_MSG_MAX (1ULL << 31)

struct rjob {
	struct qentry *e;
	struct remote_job job;
	struct remote_rcpt *rr;
	char (*notify)[32]; /* NOTIFY= values, per rcpt */
	size_t *idx;        /* rr[i] is e->env.rcpts[idx[i]] */
	char *domain;
};

/* the recipients of one entry homed on one other node */
struct hjob {
	struct qentry *e;
	struct handoff_job job;
	struct handoff_rcpt *hr;
	size_t *idx; /* hr[i] is e->env.rcpts[idx[i]] */
	char *home;
};

struct qentry {
	struct queue *q;
	char id[SPOOL_ID_LEN + 1];
	struct spool_env env;
	struct spool_env fresh; /* load_work's result, moved into env on the loop */
	bool loaded;
	bool busy;
	bool deleted;
	bool removed;
	bool force;  /* queue_retry: every pending recipient is due now */
	int64_t due; /* unix ms */
	struct qentry *next;

	/* attempt */
	uv_work_t work;
	int rc;
	struct mn_err err;
	struct buf msg;
	bool have_msg;
	bool dirty;
	struct local_target *lt;
	size_t *lt_idx;
	size_t nlt;
	struct rjob *jobs;
	size_t njobs, jobs_left;
	struct hjob *hjobs;
	size_t nhjobs, hjobs_left;
	char *dsn_id[2]; /* queued DSNs (failure, delay) to submit */
	char *spool_path;
	char *envid_x; /* ENVID in xtext, for relaying */
};

struct queue {
	uv_loop_t *loop;
	struct queue_config cfg;
	uv_timer_t timer;
	struct qentry *head;
	size_t running;
	bool stopping;
	bool timer_closed;
};

static void schedule(struct queue *q);
static void step_plan(struct qentry *e);

static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static struct qentry *
find(struct queue *q, const char *id)
{
	for (struct qentry *e = q->head; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void
add_entry(struct queue *q, const char *id)
{
	struct qentry *e;

	if (find(q, id) != NULL)
		return;
	e = xcalloc(1, sizeof(*e));
	e->q = q;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->due = 0;
	/* append: older entries first */
	struct qentry **pp = &q->head;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = e;
}

static void
free_entry(struct qentry *e)
{
	struct qentry **pp = &e->q->head;

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == e)
		*pp = e->next;
	spool_env_fini(&e->env);
	spool_env_fini(&e->fresh);
	buf_fini(&e->msg);
	free(e->spool_path);
	free(e->envid_x);
	free(e);
}

static uint32_t
backoff_ms(struct queue *q, uint32_t attempts)
{
	uint64_t d = q->cfg.cfg->delivery_retry_min_ms;

	for (uint32_t i = 1; i < attempts && d < q->cfg.cfg->delivery_retry_max_ms; i++)
		d *= 2;
	if (d > q->cfg.cfg->delivery_retry_max_ms)
		d = q->cfg.cfg->delivery_retry_max_ms;
	return (uint32_t)d;
}

static void
set_reply(struct spool_rcpt *r, const char *reply, const char *mta)
{
	free(r->reply);
	r->reply = reply ? xstrdup(reply) : NULL;
	if (mta != NULL) {
		free(r->remote_mta);
		r->remote_mta = *mta ? xstrdup(mta) : NULL;
	}
}

static void
tempfail(struct queue *q, struct spool_rcpt *r, const char *reply, const char *mta)
{
	r->state = SPOOL_RCPT_PENDING;
	r->attempts++;
	r->next_attempt = now_ms() + backoff_ms(q, r->attempts);
	set_reply(r, reply, mta);
}

/* a home node that is down or busy is retried sooner than a remote MX:
 * it is ours, and it comes back (QUEUE_HANDOFF_RETRY_*, within the
 * configured retry bounds) */
static void
handoff_tempfail(struct queue *q, struct spool_rcpt *r, const char *reply)
{
	uint64_t d = q->cfg.cfg->delivery_retry_min_ms, cap = q->cfg.cfg->delivery_retry_max_ms;

	if (d > QUEUE_HANDOFF_RETRY_MIN_MS)
		d = QUEUE_HANDOFF_RETRY_MIN_MS;
	if (cap > QUEUE_HANDOFF_RETRY_MAX_MS)
		cap = QUEUE_HANDOFF_RETRY_MAX_MS;
	if (d == 0)
		d = 1;
	r->state = SPOOL_RCPT_PENDING;
	r->attempts++;
	for (uint32_t i = 1; i < r->attempts && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	r->next_attempt = now_ms() + (int64_t)d;
	set_reply(r, reply, NULL);
}

static void
permfail(struct spool_rcpt *r, const char *reply, const char *mta)
{
	r->state = SPOOL_RCPT_FAILED;
	r->bounced = false;
	r->attempts++;
	set_reply(r, reply, mta);
}

static void queue_free(struct queue *q);

static void
attempt_end(struct qentry *e)
{
	struct queue *q = e->q;

	e->busy = false;
	q->running--;
	if (q->stopping) {
		/* what is not final is in the spool for the next start */
		for (int i = 0; i < 2; i++) {
			free(e->dsn_id[i]);
			e->dsn_id[i] = NULL;
		}
		if (q->running == 0 && q->timer_closed)
			queue_free(q);
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (e->dsn_id[i] != NULL) {
			add_entry(q, e->dsn_id[i]);
			free(e->dsn_id[i]);
			e->dsn_id[i] = NULL;
		}
	}
	buf_fini(&e->msg);
	e->have_msg = false;
	if (e->removed) {
		free_entry(e);
	} else {
		int64_t due = INT64_MAX;

		for (size_t i = 0; i < e->env.nrcpts; i++) {
			struct spool_rcpt *r = &e->env.rcpts[i];

			if (r->state == SPOOL_RCPT_PENDING || r->state == SPOOL_RCPT_INFLIGHT)
				due = r->next_attempt < due ? r->next_attempt : due;
		}
		if (e->rc != 0) {
			due = now_ms() + q->cfg.cfg->delivery_retry_min_ms;
		}
		if (e->force || e->deleted)
			due = 0; /* queue_retry / queue_delete during the attempt */
		e->due = due;
	}
	schedule(q);
}

/* --- finish (pool) ------------------------------------------------------- */

static bool
wants_dsn(const struct spool_env *env, const struct spool_rcpt *r, unsigned what)
{
	if (env->is_dsn || env->sender[0] == '\0')
		return false;
	if (r->notify == 0)
		return what != SMTP_NOTIFY_SUCCESS; /* RFC 3461 §4.1 default: FAILURE,DELAY */
	return (r->notify & what) != 0;
}

static int
ensure_msg(struct qentry *e)
{
	if (e->have_msg)
		return 0;
	buf_init(&e->msg, QUEUE_MSG_MAX);
	if (spool_read_message(e->q->cfg.spool, &e->env, &e->msg, &e->err) != 0)
		return MN_EIO;
	e->have_msg = true;
	return 0;
}

static int
queue_dsn(struct qentry *e, enum dsn_action action, unsigned what, char **id_out)
{
	struct queue *q = e->q;
	struct dsn_rcpt *dr = xcalloc(e->env.nrcpts, sizeof(*dr));
	struct dsn_info info;
	struct spool_env denv;
	struct buf out;
	char *postmaster, *msgid;
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct spool_rcpt *r = &e->env.rcpts[i];
		bool take = action == DSN_FAILED
		                ? r->state == SPOOL_RCPT_FAILED && !r->bounced
		                : r->state == SPOOL_RCPT_PENDING && r->final && !r->local;

		if (!take || !wants_dsn(&e->env, r, what))
			continue;
		dr[n].address = r->address;
		dr[n].orcpt = r->orcpt;
		dr[n].action = action;
		dr[n].status = action == DSN_FAILED ? "5.0.0" : "4.0.0";
		if (r->reply != NULL && strlen(r->reply) >= 9 && r->reply[3] == ' ' &&
		    (r->reply[4] == '4' || r->reply[4] == '5') && r->reply[5] == '.') {
			static __thread char st[16];
			size_t k = 4;

			while (k < 14 && r->reply[k] != ' ' && r->reply[k] != '\0')
				k++;
			memcpy(st, r->reply + 4, k - 4);
			st[k - 4] = '\0';
			if (action == DSN_FAILED)
				st[0] = '5';
			dr[n].status = xstrdup(st);
		}
		dr[n].diagnostic = r->reply;
		dr[n].remote_mta = r->remote_mta;
		n++;
	}
	if (n == 0) {
		free(dr);
		*id_out = NULL;
		return 0;
	}
	if ((rc = ensure_msg(e)) != 0) {
		free(dr);
		return rc;
	}
	memset(&denv, 0, sizeof(denv));
	spool_new_id(q->cfg.spool, denv.id);
	postmaster = xasprintf("MAILER-DAEMON@%s", q->cfg.cfg->hostname);
	msgid = xasprintf("%s.dsn@%s", denv.id, q->cfg.cfg->hostname);
	memset(&info, 0, sizeof(info));
	info.reporting_mta = q->cfg.cfg->hostname;
	info.postmaster = postmaster;
	info.to = e->env.sender;
	info.envid = e->env.envid;
	info.arrival_date = e->env.arrival;
	info.now = now_ms() / 1000;
	info.message_id = msgid;
	info.rcpts = dr;
	info.nrcpts = n;
	info.original = (const char *)e->msg.data;
	info.original_len = e->msg.len;
	info.headers_only = e->env.ret == SPOOL_RET_HDRS || e->msg.len > (10u << 20);
	buf_init(&out, 0);
	rc = dsn_build(&out, &info);
	if (rc == 0) {
		denv.sender = xstrdup("");
		denv.arrival = now_ms() / 1000;
		denv.is_dsn = true;
		spool_env_add_rcpt(&denv, e->env.sender, NULL, SMTP_NOTIFY_NEVER);
		rc = spool_write(q->cfg.spool, &denv, NULL, 0, out.data, out.len, &e->err);
		if (rc == 0) {
			*id_out = xstrdup(denv.id);
			char to[128];

			log_escape(to, sizeof(to), e->env.sender, strlen(e->env.sender));
			log_info("delivery",
			    "id=%s event=dsn action=%s dsn_id=%s to=<%s> rcpts=%zu", e->id,
			    action == DSN_FAILED ? "failed" : "delayed", denv.id, to, n);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (dr[i].status != NULL && strcmp(dr[i].status, "5.0.0") != 0 &&
		    strcmp(dr[i].status, "4.0.0") != 0)
			free((char *)dr[i].status);
	free(dr);
	buf_fini(&out);
	spool_env_fini(&denv);
	free(postmaster);
	free(msgid);
	return rc;
}

static void
finish_work(uv_work_t *w)
{
	struct qentry *e = w->data;
	struct queue *q = e->q;
	const struct mn_config *cfg = q->cfg.cfg;
	int64_t now = now_ms(), age = now - e->env.arrival * 1000;
	bool all_final = true, warn = false;

	if (e->deleted) {
		e->rc = spool_remove(q->cfg.spool, e->id, &e->err);
		e->removed = e->rc == 0;
		return;
	}
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct spool_rcpt *r = &e->env.rcpts[i];

		if (r->state != SPOOL_RCPT_PENDING && r->state != SPOOL_RCPT_INFLIGHT)
			continue;
		if (age >= (int64_t)cfg->delivery_queue_lifetime_ms) {
			char *why = xasprintf("554 4.4.7 delivery time expired (last reply: %s)",
			    r->reply ? r->reply : "none");

			permfail(r, why, NULL);
			free(why);
			e->dirty = true;
		} else if (!r->local && r->final) {
			warn = true;
		}
	}
	if (warn && !e->env.delay_warned && cfg->delivery_delay_warning_ms > 0 &&
	    age >= (int64_t)cfg->delivery_delay_warning_ms) {
		if ((e->rc = queue_dsn(e, DSN_DELAYED, SMTP_NOTIFY_DELAY, &e->dsn_id[1])) != 0)
			return;
		e->env.delay_warned = true;
		e->dirty = true;
	}
	if ((e->rc = queue_dsn(e, DSN_FAILED, SMTP_NOTIFY_FAILURE, &e->dsn_id[0])) != 0)
		return;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct spool_rcpt *r = &e->env.rcpts[i];

		if (r->state == SPOOL_RCPT_FAILED && !r->bounced) {
			r->bounced = true;
			e->dirty = true;
		}
		if (r->state == SPOOL_RCPT_PENDING || r->state == SPOOL_RCPT_INFLIGHT)
			all_final = false;
	}
	if (all_final) {
		e->rc = spool_remove(q->cfg.spool, e->id, &e->err);
		e->removed = e->rc == 0;
		if (e->removed)
			log_info("delivery", "id=%s event=done", e->id);
	} else if (e->dirty) {
		e->rc = spool_save_state(q->cfg.spool, &e->env, &e->err);
	}
}

static void
finish_done(uv_work_t *w, int status)
{
	struct qentry *e = w->data;

	if (e->rc != 0)
		log_error(
		    "delivery", "id=%s event=finish result=fail reason=\"%s\"", e->id, e->err.msg);
	attempt_end(e);
}

static void
step_finish(struct qentry *e)
{
	e->work.data = e;
	uv_queue_work(e->q->loop, &e->work, finish_work, finish_done);
}

/* --- remote (loop) ------------------------------------------------------- */

static void
jobs_free(struct qentry *e)
{
	for (size_t j = 0; j < e->njobs; j++) {
		free(e->jobs[j].rr);
		free(e->jobs[j].notify);
		free(e->jobs[j].idx);
		free(e->jobs[j].domain);
	}
	free(e->jobs);
	e->jobs = NULL;
	e->njobs = 0;
}

static void
remote_done(struct remote_job *job, void *arg)
{
	struct rjob *rj = arg;
	struct qentry *e = rj->e;

	for (size_t i = 0; i < job->nrcpts; i++) {
		struct remote_rcpt *rr = &job->rcpts[i];
		struct spool_rcpt *r = &e->env.rcpts[rj->idx[i]];

		switch (rr->outcome) {
		case REMOTE_DELIVERED:
			r->state = SPOOL_RCPT_DELIVERED;
			set_reply(r, rr->reply, rr->remote_mta);
			break;
		case REMOTE_PERMFAIL:
			permfail(r, rr->reply, rr->remote_mta);
			break;
		case REMOTE_TEMPFAIL:
		case REMOTE_PENDING:
			tempfail(e->q, r, rr->reply[0] ? rr->reply : "451 4.4.0 no answer",
			    rr->remote_mta);
			break;
		}
		char why[128];

		/* the reply is the remote server's text */
		log_escape(
		    why, sizeof(why), r->reply ? r->reply : "", r->reply ? strlen(r->reply) : 0);
		log_info("delivery", "id=%s event=remote to=<%s> result=%s reply=\"%s\"", e->id,
		    r->address, spool_rcpt_state_name(r->state), why);
	}
	e->dirty = true;
	if (--e->jobs_left == 0) {
		jobs_free(e);
		step_finish(e);
	}
}

/* NOTIFY= value to relay (RFC 3461 §4.1), NULL when none was given */
static const char *
notify_value(unsigned bits, char *out)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{SMTP_NOTIFY_SUCCESS, "SUCCESS"}, {SMTP_NOTIFY_FAILURE, "FAILURE"},
	    {SMTP_NOTIFY_DELAY, "DELAY"}};

	if (bits == 0)
		return NULL;
	if (bits & SMTP_NOTIFY_NEVER)
		return strcpy(out, "NEVER");
	out[0] = '\0';
	for (size_t i = 0; i < 3; i++)
		if (bits & names[i].bit) {
			if (out[0] != '\0')
				strcat(out, ",");
			strcat(out, names[i].name);
		}
	return out;
}

static void
step_remote(struct qentry *e)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct spool_rcpt *r = &e->env.rcpts[i];
		const char *dom;
		struct rjob *rj = NULL;

		if (r->state != SPOOL_RCPT_PENDING || !r->final || r->local ||
		    r->next_attempt > now)
			continue;
		dom = strrchr(r->address, '@');
		dom = dom ? dom + 1 : "";
		for (size_t j = 0; j < e->njobs; j++)
			if (strcmp(e->jobs[j].domain, dom) == 0)
				rj = &e->jobs[j];
		if (rj == NULL) {
			e->jobs = xrealloc(e->jobs, (e->njobs + 1) * sizeof(*e->jobs));
			rj = &e->jobs[e->njobs++];
			memset(rj, 0, sizeof(*rj));
			rj->domain = xstrdup(dom);
		}
		rj->rr = xrealloc(rj->rr, (rj->job.nrcpts + 1) * sizeof(*rj->rr));
		rj->notify = xrealloc(rj->notify, (rj->job.nrcpts + 1) * sizeof(*rj->notify));
		rj->idx = xrealloc(rj->idx, (rj->job.nrcpts + 1) * sizeof(*rj->idx));
		memset(&rj->rr[rj->job.nrcpts], 0, sizeof(*rj->rr));
		rj->idx[rj->job.nrcpts++] = i;
	}
	if (e->njobs == 0) {
		step_finish(e);
		return;
	}
	free(e->spool_path);
	e->spool_path = spool_path(e->q->cfg.spool, e->id);
	free(e->envid_x);
	e->envid_x = NULL;
	if (e->env.envid != NULL) {
		struct buf b;

		buf_init(&b, 0);
		smtp_xtext_encode(&b, slice_from_cstr(e->env.envid));
		e->envid_x = buf_steal(&b, NULL);
	}
	e->jobs_left = e->njobs;
	for (size_t j = 0; j < e->njobs; j++) {
		struct rjob *rj = &e->jobs[j];
		static const char *rets[] = {NULL, "FULL", "HDRS"};

		rj->e = e;
		for (size_t i = 0; i < rj->job.nrcpts; i++) {
			struct spool_rcpt *r = &e->env.rcpts[rj->idx[i]];

			rj->rr[i].address = r->address;
			rj->rr[i].orcpt = r->orcpt;
			rj->rr[i].notify = notify_value(r->notify, rj->notify[i]);
		}
		rj->job.sender = e->env.sender;
		rj->job.domain = rj->domain;
		rj->job.rcpts = rj->rr;
		rj->job.message_path = e->spool_path;
		rj->job.message_offset = e->env.msg_offset;
		rj->job.size = e->env.msg_size;
		rj->job.smtputf8 = e->env.smtputf8;
		rj->job.eightbit = e->env.eightbit;
		rj->job.envid = e->envid_x;
		rj->job.ret = rets[e->env.ret];
		if (remote_deliver(e->q->cfg.remote, &rj->job, remote_done, rj) != 0) {
			for (size_t i = 0; i < rj->job.nrcpts; i++) {
				rj->rr[i].outcome = REMOTE_TEMPFAIL;
				snprintf(rj->rr[i].reply, sizeof(rj->rr[i].reply),
				    "451 4.3.0 could not start delivery");
			}
			remote_done(&rj->job, rj);
		}
	}
}

/* --- handoff (loop) ------------------------------------------------------ */

static void
hjobs_free(struct qentry *e)
{
	for (size_t j = 0; j < e->nhjobs; j++) {
		free(e->hjobs[j].hr);
		free(e->hjobs[j].idx);
		free(e->hjobs[j].home);
	}
	free(e->hjobs);
	e->hjobs = NULL;
	e->nhjobs = 0;
}

/* the user's mailbox is being moved, or its home is no longer `home`: a
 * refused handoff is then no sign of a node in trouble, and the next
 * attempt (planned again from the directory) should come soon */
static bool
moving_or_moved(struct queue *q, const char *address, const char *home)
{
	struct dir_user u;
	bool yes;

	if (directory_user_get(q->cfg.dir, address, &u) != 0)
		return false;
	yes = directory_user_held(&u) || strcmp(u.home_node, home) != 0;
	dir_user_fini(&u);
	return yes;
}

static void
hjob_apply(struct hjob *hj)
{
	struct qentry *e = hj->e;

	for (size_t i = 0; i < hj->job.nrcpts; i++) {
		struct handoff_rcpt *hr = &hj->hr[i];
		struct spool_rcpt *r = &e->env.rcpts[hj->idx[i]];
		char why[HANDOFF_REPLY_MAX * 4 + 1];

		switch (hr->outcome) {
		case HANDOFF_RCPT_DELIVERED:
			r->state = SPOOL_RCPT_DELIVERED;
			set_reply(r, hr->reply, NULL);
			break;
		case HANDOFF_RCPT_PERMFAIL:
			permfail(r, hr->reply, NULL);
			break;
		default: /* TEMPFAIL, NOT_HOME (looked up again next time), PENDING */
			handoff_tempfail(e->q, r, hr->reply[0] ? hr->reply : "451 4.4.1 no answer");
			if (moving_or_moved(e->q, r->address, hj->home))
				r->next_attempt = now_ms() + QUEUE_HOLD_RETRY_MS;
			break;
		}
		log_escape(
		    why, sizeof(why), r->reply ? r->reply : "", r->reply ? strlen(r->reply) : 0);
		log_info("delivery", "id=%s event=handoff to=<%s> home=%s result=%s reply=\"%s\"",
		    e->id, r->address, hj->home, spool_rcpt_state_name(r->state), why);
	}
	e->dirty = true;
}

static void
handoff_done(struct handoff_job *job, void *arg)
{
	struct hjob *hj = arg;
	struct qentry *e = hj->e;

	hjob_apply(hj);
	if (--e->hjobs_left == 0) {
		hjobs_free(e);
		step_remote(e);
	}
}

/* every home node at once: they are independent, and one down node must not
 * hold up the others */
static void
step_handoff(struct qentry *e)
{
	if (e->nhjobs == 0) {
		step_remote(e);
		return;
	}
	free(e->spool_path);
	e->spool_path = spool_path(e->q->cfg.spool, e->id);
	e->hjobs_left = e->nhjobs;
	for (size_t j = 0; j < e->nhjobs; j++) {
		struct hjob *hj = &e->hjobs[j];

		hj->e = e;
		for (size_t i = 0; i < hj->job.nrcpts; i++)
			hj->hr[i].address = e->env.rcpts[hj->idx[i]].address;
		hj->job.home = hj->home;
		hj->job.spool_id = e->id;
		hj->job.message_path = e->spool_path;
		hj->job.message_offset = e->env.msg_offset;
		hj->job.size = e->env.msg_size;
		hj->job.internal_date = e->env.arrival;
		hj->job.rcpts = hj->hr;
		if (handoff_send(e->q->cfg.handoff, &hj->job, handoff_done, hj) != 0) {
			for (size_t i = 0; i < hj->job.nrcpts; i++) {
				hj->hr[i].outcome = HANDOFF_RCPT_TEMPFAIL;
				snprintf(hj->hr[i].reply, sizeof(hj->hr[i].reply),
				    "451 4.3.2 handoff to %s not started: shutting down", hj->home);
			}
			hjob_apply(hj);
			e->hjobs_left--;
		}
	}
	if (e->hjobs_left == 0) {
		hjobs_free(e);
		step_remote(e);
	}
}

/* recipient i (due, local, enabled) is homed on another node: add it to
 * that node's job. A job is full at HANDOFF_MAX_RCPTS (what a home takes
 * in one request): false, and the recipient waits for the next attempt,
 * which follows at once (its next_attempt is due). One job per home and
 * entry keeps one transfer per handoff id. */
static bool
plan_handoff(struct qentry *e, size_t i, const char *home)
{
	struct hjob *hj = NULL;

	for (size_t j = 0; j < e->nhjobs && hj == NULL; j++)
		if (strcmp(e->hjobs[j].home, home) == 0)
			hj = &e->hjobs[j];
	if (hj != NULL && hj->job.nrcpts >= HANDOFF_MAX_RCPTS)
		return false;
	if (hj == NULL) {
		e->hjobs = xrealloc(e->hjobs, (e->nhjobs + 1) * sizeof(*e->hjobs));
		hj = &e->hjobs[e->nhjobs++];
		memset(hj, 0, sizeof(*hj));
		hj->home = xstrdup(home);
	}
	hj->hr = xrealloc(hj->hr, (hj->job.nrcpts + 1) * sizeof(*hj->hr));
	hj->idx = xrealloc(hj->idx, (hj->job.nrcpts + 1) * sizeof(*hj->idx));
	memset(&hj->hr[hj->job.nrcpts], 0, sizeof(*hj->hr));
	hj->idx[hj->job.nrcpts++] = i;
	return true;
}

/* --- local (pool) -------------------------------------------------------- */

static void
local_work(uv_work_t *w)
{
	struct qentry *e = w->data;
	struct queue *q = e->q;
	char key[HANDOFF_ID_MAX + 1];

	/* No state write before or after: the outcome is recorded once, by
	 * finish_work (or the entry is removed). A crash in between leaves the
	 * recipients pending on disk, and the next attempt finds the copies
	 * already stored by their delivery id (local_deliver). */
	e->dirty = true;
	if ((e->rc = ensure_msg(e)) != 0)
		return;
	/* the handoff's key: a mailbox moved here or away finds it (handoff.h) */
	handoff_id(q->cfg.cfg->node_name, e->id, NULL, key);
	e->rc = local_deliver(
	    q->cfg.ms, key, e->msg.data, e->msg.len, e->env.arrival, e->lt, e->nlt, &e->err);
	for (size_t i = 0; i < e->nlt; i++) {
		struct spool_rcpt *r = &e->env.rcpts[e->lt_idx[i]];
		struct local_target *t = &e->lt[i];

		if (t->found || t->rc == 0) {
			r->state = SPOOL_RCPT_DELIVERED;
			set_reply(r, "250 2.0.0 delivered to INBOX", NULL);
		} else if (t->rc == MN_ENOQUOTA) {
			permfail(r, "552 5.2.2 mailbox full", NULL);
		} else {
			char *why = xasprintf("451 4.3.0 mail store: %s", mn_strerror(t->rc));

			tempfail(q, r, why, NULL);
			free(why);
		}
	}
}

static void
local_done(uv_work_t *w, int status)
{
	struct qentry *e = w->data;

	for (size_t i = 0; i < e->nlt; i++) {
		struct spool_rcpt *r = &e->env.rcpts[e->lt_idx[i]];

		log_info("delivery", "id=%s event=local to=<%s> result=%s%s", e->id, r->address,
		    spool_rcpt_state_name(r->state), e->lt[i].found ? " dup_check=found" : "");
		/* the store call returned: the message is durable in INBOX;
		 * wake that user's IMAP sessions (IDLE, issue 4). Loop thread,
		 * as the hub requires. */
		if (e->rc == 0 && e->lt[i].rc == 0)
			mailbox_events_notify(e->lt[i].user, NULL);
	}
	free(e->lt);
	free(e->lt_idx);
	e->lt = NULL;
	e->lt_idx = NULL;
	e->nlt = 0;
	if (e->rc != 0) {
		log_error(
		    "delivery", "id=%s event=local result=fail reason=\"%s\"", e->id, e->err.msg);
		hjobs_free(e); /* not sent: the entry is retried as a whole */
		attempt_end(e);
		return;
	}
	step_handoff(e);
}

/* --- plan (loop) --------------------------------------------------------- */

static bool
has_final(struct spool_env *env, const char *addr)
{
	for (size_t i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].final && strcmp(env->rcpts[i].address, addr) == 0)
			return true;
	return false;
}

static void
add_final(struct spool_env *env, size_t parent, const char *addr, bool local)
{
	struct spool_rcpt *p = &env->rcpts[parent], *r;
	char *orcpt;

	if (p->orcpt != NULL) {
		orcpt = xstrdup(p->orcpt);
	} else {
		struct buf b;

		buf_init(&b, 0);
		buf_append_str(&b, "rfc822;");
		smtp_xtext_encode(&b, slice_from_cstr(p->address));
		orcpt = buf_steal(&b, NULL);
	}
	unsigned notify = p->notify;

	if (has_final(env, addr)) {
		free(orcpt);
		return;
	}
	r = spool_env_add_rcpt(env, addr, orcpt, notify); /* may move env->rcpts */
	r->final = true;
	r->local = local;
	free(orcpt);
}

static void
expand(struct qentry *e)
{
	struct directory *dir = e->q->cfg.dir;
	size_t n = e->env.nrcpts; /* new ones are final already */

	for (size_t i = 0; i < n; i++) {
		struct spool_rcpt *r = &e->env.rcpts[i];
		char *canon = NULL;
		enum dir_addr_kind k;
		struct dir_expansion x;
		int rc;

		if (r->final || r->state != SPOOL_RCPT_PENDING)
			continue;
		e->dirty = true;
		k = directory_classify(dir, r->address, &canon);
		switch (k) {
		case DIR_ADDR_REMOTE:
			r->final = true;
			break;
		case DIR_ADDR_USER:
			if (has_final(&e->env, canon)) {
				r->state = SPOOL_RCPT_EXPANDED; /* same mailbox as another */
			} else {
				free(r->address);
				r->address = xstrdup(canon);
				r->final = r->local = true;
			}
			break;
		case DIR_ADDR_ALIAS:
		case DIR_ADDR_GROUP:
			rc = directory_expand(dir, canon, &x);
			if (rc == 0 && x.nlocal + x.nexternal > 0) {
				for (size_t j = 0; j < x.nlocal; j++)
					add_final(&e->env, i, x.local[j], true);
				for (size_t j = 0; j < x.nexternal; j++)
					add_final(&e->env, i, x.external[j], false);
				r = &e->env.rcpts[i];
				r->state = SPOOL_RCPT_EXPANDED;
			} else {
				r = &e->env.rcpts[i];
				permfail(r,
				    rc == MN_ELIMIT ? "554 5.4.6 alias or group nested too deep"
				                    : "550 5.1.1 alias or group has no members",
				    NULL);
			}
			dir_expansion_fini(&x);
			break;
		case DIR_ADDR_NONE:
			permfail(r, "550 5.1.1 user unknown", NULL);
			break;
		}
		free(canon);
	}
}

static void
step_plan(struct qentry *e)
{
	int64_t now = now_ms();

	expand(e);
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct spool_rcpt *r = &e->env.rcpts[i];
		struct dir_user u;

		if (!r->final || !r->local ||
		    (r->state != SPOOL_RCPT_PENDING && r->state != SPOOL_RCPT_INFLIGHT) ||
		    (r->next_attempt > now && r->state != SPOOL_RCPT_INFLIGHT))
			continue;
		if (directory_user_get(e->q->cfg.dir, r->address, &u) != 0) {
			/* deleted since it was accepted */
			permfail(r, "550 5.1.1 user unknown", NULL);
			e->dirty = true;
			continue;
		}
		if (u.flags & DIR_USER_DISABLED) {
			permfail(r, "550 5.2.1 mailbox disabled", NULL);
			e->dirty = true;
		} else if (directory_user_held(&u)) {
			/* the mailbox is being moved (cluster/migrate): nobody
			 * stores it now; look again soon, the home may change */
			r->state = SPOOL_RCPT_PENDING;
			r->next_attempt = now + QUEUE_HOLD_RETRY_MS;
			set_reply(r, "451 4.2.1 mailbox being moved to another node, held", NULL);
		} else if (e->q->cfg.handoff != NULL && u.home_node != NULL &&
		           u.home_node[0] != '\0' &&
		           strcmp(u.home_node, e->q->cfg.cfg->node_name) != 0) {
			if (plan_handoff(e, i, u.home_node))
				r->state = SPOOL_RCPT_INFLIGHT;
		} else {
			e->lt = xrealloc(e->lt, (e->nlt + 1) * sizeof(*e->lt));
			e->lt_idx = xrealloc(e->lt_idx, (e->nlt + 1) * sizeof(*e->lt_idx));
			memset(&e->lt[e->nlt], 0, sizeof(*e->lt));
			e->lt[e->nlt].quota.max_bytes = u.quota_bytes;
			e->lt[e->nlt].quota.max_messages = u.quota_messages;
			e->lt_idx[e->nlt++] = i;
			r->state = SPOOL_RCPT_INFLIGHT;
		}
		dir_user_fini(&u);
	}
	/* the users' strings point into env.rcpts, stable until the next
	 * expansion (which happens on the loop, never during local_work) */
	for (size_t i = 0; i < e->nlt; i++)
		e->lt[i].user = e->env.rcpts[e->lt_idx[i]].address;
	if (e->nlt > 0 && e->q->cfg.ms != NULL) {
		e->work.data = e;
		uv_queue_work(e->q->loop, &e->work, local_work, local_done);
		return;
	}
	free(e->lt);
	free(e->lt_idx);
	e->lt = NULL;
	e->lt_idx = NULL;
	e->nlt = 0;
	step_handoff(e);
}

/* --- load ---------------------------------------------------------------- */

static void
load_work(uv_work_t *w)
{
	struct qentry *e = w->data;

	/* into a fresh struct: the loop may be listing e->env meanwhile */
	e->rc = spool_read_env(e->q->cfg.spool, e->id, &e->fresh, &e->err);
}

static void
load_done(uv_work_t *w, int status)
{
	struct qentry *e = w->data;

	if (e->rc != 0) {
		log_error(
		    "delivery", "id=%s event=load result=fail reason=\"%s\"", e->id, e->err.msg);
		if (e->rc == MN_ENOENT)
			e->removed = true;
		attempt_end(e);
		return;
	}
	spool_env_fini(&e->env);
	e->env = e->fresh;
	memset(&e->fresh, 0, sizeof(e->fresh));
	e->loaded = true;
	e->dirty = false;
	if (e->force) {
		for (size_t i = 0; i < e->env.nrcpts; i++)
			e->env.rcpts[i].next_attempt = 0;
		e->force = false;
	}
	if (e->deleted) {
		step_finish(e);
		return;
	}
	step_plan(e);
}

static void
start_attempt(struct qentry *e)
{
	e->busy = true;
	e->rc = 0;
	mn_err_clear(&e->err);
	e->q->running++;
	e->work.data = e;
	uv_queue_work(e->q->loop, &e->work, load_work, load_done);
}

/* --- scheduling ---------------------------------------------------------- */

static void
tick(uv_timer_t *t)
{
	struct queue *q = t->data;
	int64_t now = now_ms(), next = INT64_MAX;
	uint32_t workers = q->cfg.cfg->delivery_workers ? q->cfg.cfg->delivery_workers : 8;

	if (q->stopping)
		return;
	for (struct qentry *e = q->head, *nx; e != NULL; e = nx) {
		nx = e->next;
		if (e->busy)
			continue;
		if (e->due <= now || e->deleted) {
			if (q->running >= workers) {
				next = now;
				break;
			}
			start_attempt(e);
		} else if (e->due < next) {
			next = e->due;
		}
	}
	if (next != INT64_MAX && q->running < workers) {
		int64_t d = next - now;

		if (d < 0)
			d = 0;
		if (d > QUEUE_TICK_MAX_MS)
			d = QUEUE_TICK_MAX_MS;
		uv_timer_start(&q->timer, tick, (uint64_t)d, 0);
	}
}

static void
schedule(struct queue *q)
{
	if (!q->stopping)
		uv_timer_start(&q->timer, tick, 0, 0);
}

int
queue_start(uv_loop_t *loop, const struct queue_config *cfg, struct queue **out, struct mn_err *err)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	char **ids;
	size_t n;
	int rc;

	if ((rc = spool_recover(cfg->spool, &ids, &n, err)) != 0) {
		free(q);
		return rc;
	}
	q->loop = loop;
	q->cfg = *cfg;
	uv_timer_init(loop, &q->timer);
	q->timer.data = q;
	for (size_t i = 0; i < n; i++) {
		add_entry(q, ids[i]);
		free(ids[i]);
	}
	free(ids);
	log_info("delivery", "event=start queued=%zu", n);
	*out = q;
	schedule(q);
	return 0;
}

void
queue_submit(struct queue *q, const char *id)
{
	if (q == NULL || q->stopping)
		return; /* recovered at the next start */
	add_entry(q, id);
	schedule(q);
}

static void
queue_free(struct queue *q)
{
	struct qentry *e;

	/* unlink before freeing: free_entry's own unlink then finds nothing,
	 * and the analyzer need not know that e->q == q */
	while ((e = q->head) != NULL) {
		q->head = e->next;
		free_entry(e);
	}
	free(q);
}

static void
timer_closed(uv_handle_t *h)
{
	struct queue *q = h->data;

	q->timer_closed = true;
	/* attempts still running hold q: the last one to end frees it (main
	 * runs the loop to the end before it closes the stores) */
	if (q->running == 0)
		queue_free(q);
}

void
queue_stop(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	q->stopping = true;
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, timer_closed);
	*qp = NULL;
}

bool
queue_idle(struct queue *q)
{
	return q->head == NULL && q->running == 0;
}

json_t *
queue_list_json(struct queue *q)
{
	json_t *arr = json_array();

	for (struct qentry *e = q->head; e != NULL; e = e->next) {
		json_t *o = json_object(), *rs = json_array();

		json_object_set_new(o, "id", json_string(e->id));
		if (!e->loaded) {
			json_object_set_new(o, "loading", json_true());
			json_array_append_new(arr, o);
			json_decref(rs);
			continue;
		}
		json_object_set_new(o, "sender", json_string(e->env.sender));
		json_object_set_new(o, "arrival", json_integer(e->env.arrival));
		json_object_set_new(o, "size", json_integer((json_int_t)e->env.msg_size));
		json_object_set_new(o, "busy", json_boolean(e->busy));
		if (e->busy) {
			/* the recipients are being updated on a worker thread */
			json_array_append_new(arr, o);
			json_decref(rs);
			continue;
		}
		for (size_t i = 0; i < e->env.nrcpts; i++) {
			struct spool_rcpt *r = &e->env.rcpts[i];
			json_t *ro = json_object();

			json_object_set_new(ro, "address", json_string(r->address));
			json_object_set_new(
			    ro, "state", json_string(spool_rcpt_state_name(r->state)));
			json_object_set_new(ro, "attempts", json_integer(r->attempts));
			json_object_set_new(
			    ro, "next_attempt", json_integer(r->next_attempt / 1000));
			json_object_set_new(
			    ro, "reply", r->reply ? json_string(r->reply) : json_null());
			json_array_append_new(rs, ro);
		}
		json_object_set_new(o, "rcpts", rs);
		json_array_append_new(arr, o);
	}
	return arr;
}

int
queue_retry(struct queue *q, const char *id)
{
	struct qentry *e = find(q, id);

	if (e == NULL || e->deleted)
		return MN_ENOENT;
	/* applied after the next load (the spool's values are read again) */
	e->force = true;
	e->due = 0;
	schedule(q);
	return 0;
}

int
queue_delete(struct queue *q, const char *id)
{
	struct qentry *e = find(q, id);

	if (e == NULL || e->deleted)
		return MN_ENOENT;
	e->deleted = true;
	e->due = 0;
	log_info("delivery", "id=%s event=delete", id);
	schedule(q);
	return 0;
}
