/*
 * quarsweep.c - quarantine retention sweeps and digests (quarsweep.h).
 */
#include "node/antispam/quarsweep.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/antispam/antispam.h"
#include "node/smtp/parser.h"
#include "storage/directory/directory.h"
#include "storage/mailstore/mailstore.h"
#include "storage/message/mime.h"
#include "storage/spool/spool.h"

#define DIGEST_HEADER_MAX (64u << 10) /* header bytes read per held message */
#define DIGEST_MAX_LINES 500          /* messages listed in one digest */

#define SEEN_BUCKETS 4096

/* the highest Quarantine UID a user's digest has listed; by UID, not by
 * arrival time, because a message arrives (its internal date) before it
 * is delivered into the folder */
struct seen {
	struct seen *next;
	uint32_t uid;
	char user[];
};

struct quarsweep {
	uv_loop_t *loop;
	struct quarsweep_config cfg;
	char *hostname;
	uv_timer_t timer;
	uv_work_t work;
	bool busy;
	int64_t start_since;             /* epoch s: a user's first digest lists mail after this */
	struct seen *seen[SEEN_BUCKETS]; /* touched by the sweep work only */
	int64_t next_digest;             /* epoch s */
	/* results of the sweep in flight, for the loop */
	char **ids;
	size_t nids;
};

static struct seen *
seen_get(struct quarsweep *q, const char *user)
{
	uint32_t h = 2166136261u;
	struct seen *e;
	size_t len = strlen(user);

	for (const char *p = user; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h %= SEEN_BUCKETS;
	for (e = q->seen[h]; e != NULL; e = e->next)
		if (strcmp(e->user, user) == 0)
			return e;
	e = xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->user, user, len + 1);
	e->next = q->seen[h];
	q->seen[h] = e;
	return e;
}

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/* a header field of a held message for the digest: unfolded, printable,
 * at most 120 bytes ("" if absent) */
static void
field(const struct buf *hb, const char *name, char *out, size_t outsz)
{
	struct slice v;
	size_t o = 0;

	out[0] = '\0';
	if (!mime_header_get((const char *)hb->data, hb->len, name, &v))
		return;
	for (size_t i = 0; i < v.len && o + 1 < outsz && o < 120; i++) {
		unsigned char c = (unsigned char)v.ptr[i];

		if (c == '\r' || c == '\n' || (o == 0 && (c == ' ' || c == '\t')))
			continue;
		out[o++] = c < ' ' || c == 127 ? ' ' : (char)c;
	}
	out[o] = '\0';
}

static void
digest_user(
    struct quarsweep *q, const char *user, const struct mailstore_msg *list, size_t n, int64_t now)
{
	struct seen *seen = seen_get(q, user);
	uint32_t max_uid = seen->uid;
	struct buf body, hdr;
	struct spool_env env;
	struct mn_err err;
	char date[64];
	size_t listed = 0;
	struct tm tm;
	time_t t = (time_t)now;

	buf_init(&body, 0);
	for (size_t i = 0; i < n && listed < DIGEST_MAX_LINES; i++) {
		char from[160], subject[160], when[32];
		time_t at = (time_t)list[i].internal_date;
		struct buf hb;

		if (list[i].uid <= seen->uid ||
		    (seen->uid == 0 && list[i].internal_date <= q->start_since))
			continue;
		if (list[i].uid > max_uid)
			max_uid = list[i].uid;
		buf_init(&hb, DIGEST_HEADER_MAX);
		mn_err_clear(&err);
		(void)mailstore_header_read(q->cfg.ms, user, ANTISPAM_QUARANTINE_FOLDER,
		    list[i].uid, DIGEST_HEADER_MAX, &hb, &err);
		field(&hb, "From", from, sizeof(from));
		field(&hb, "Subject", subject, sizeof(subject));
		buf_fini(&hb);
		gmtime_r(&at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		buf_printf(&body, "  %u  %s  From: %s\r\n      Subject: %s\r\n", list[i].uid, when,
		    from, subject);
		listed++;
	}
	seen->uid = max_uid;
	if (listed == 0) {
		buf_fini(&body);
		return;
	}
	memset(&env, 0, sizeof(env));
	spool_new_id(q->cfg.spool, env.id);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_init(&hdr, 0);
	buf_printf(&hdr,
	    "From: Mail System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Quarantine: %zu new held message%s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.quarantine@%s>\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "These messages to %s were held as suspected spam and are in your\r\n"
	    "Quarantine folder (UID, arrival, sender, subject):\r\n\r\n",
	    q->hostname, user, listed, listed == 1 ? "" : "s", date, env.id, q->hostname, user);
	buf_append(&hdr, body.data, body.len);
	buf_printf(&hdr, "\r\nTo have one delivered to your INBOX, move it there in your mail\r\n"
	                 "program or ask your administrator (mailctl quarantine release).\r\n");
	env.sender = xstrdup("");
	env.arrival = now;
	spool_env_add_rcpt(&env, user, NULL, SMTP_NOTIFY_NEVER);
	mn_err_clear(&err);
	if (spool_write(q->cfg.spool, &env, NULL, 0, hdr.data, hdr.len, &err) == 0) {
		q->ids = xrealloc(q->ids, (q->nids + 1) * sizeof(*q->ids));
		q->ids[q->nids++] = xstrdup(env.id);
		log_info("antispam", "event=quarantine_digest user=%s messages=%zu id=%s", user,
		    listed, env.id);
	} else {
		log_warn(
		    "antispam", "event=quarantine_digest user=%s reason=\"%s\"", user, err.msg);
	}
	spool_env_fini(&env);
	buf_fini(&hdr);
	buf_fini(&body);
}

/* one user's Quarantine: digest what arrived since the last one, expunge
 * what arrived before cutoff */
static void
sweep_user(struct quarsweep *q, const char *user, bool digest, int64_t now)
{
	int64_t cutoff = now - (int64_t)q->cfg.retention_s;
	struct mailstore_msg *list = NULL;
	struct mn_err err;
	uint32_t *uids;
	size_t n = 0, k = 0;

	mn_err_clear(&err);
	if (mailstore_msg_list(q->cfg.ms, user, ANTISPAM_QUARANTINE_FOLDER, 0, &list, &n, &err) !=
	    0)
		return; /* no folder: never held anything */
	if (digest && q->cfg.spool != NULL)
		digest_user(q, user, list, n, now);
	uids = xcalloc(n ? n : 1, sizeof(*uids));
	for (size_t i = 0; q->cfg.retention_s != 0 && i < n; i++)
		if (list[i].internal_date < cutoff)
			uids[k++] = list[i].uid;
	mailstore_msg_list_free(&list, n);
	if (k > 0) {
		mn_err_clear(&err);
		if (mailstore_expunge(q->cfg.ms, user, ANTISPAM_QUARANTINE_FOLDER, uids, k, false,
		        NULL, NULL, &err) == 0)
			log_info(
			    "antispam", "event=quarantine_expired user=%s messages=%zu", user, k);
		else
			log_warn("antispam", "event=quarantine_expired user=%s reason=\"%s\"", user,
			    err.msg);
	}
	free(uids);
}

static void
sweep_work(uv_work_t *w)
{
	struct quarsweep *q = w->data;
	int64_t now = now_s();
	bool digest = q->cfg.digest_interval_ms != 0 && now >= q->next_digest;
	json_t *users = directory_users_json(q->cfg.dir, NULL, NULL, 0, 0);
	size_t i;
	json_t *u;

	json_array_foreach(users, i, u)
	{
		const char *addr = json_string_value(json_object_get(u, "address"));

		if (addr != NULL && mailstore_user_exists(q->cfg.ms, addr))
			sweep_user(q, addr, digest, now);
	}
	json_decref(users);
	if (digest)
		q->next_digest = now + (int64_t)(q->cfg.digest_interval_ms / 1000);
}

static void
sweep_done(uv_work_t *w, int status)
{
	struct quarsweep *q = w->data;

	(void)status;
	for (size_t i = 0; i < q->nids; i++) {
		if (q->cfg.submit != NULL && !uv_is_closing((uv_handle_t *)&q->timer))
			q->cfg.submit(q->cfg.arg, q->ids[i]);
		free(q->ids[i]); /* not submitted: the queue finds it in the spool at start */
	}
	free(q->ids);
	q->ids = NULL;
	q->nids = 0;
	q->busy = false;
}

static void
tick(uv_timer_t *t)
{
	struct quarsweep *q = t->data;

	if (q->busy)
		return;
	q->busy = true;
	q->work.data = q;
	uv_queue_work(q->loop, &q->work, sweep_work, sweep_done);
}

struct quarsweep *
quarsweep_start(uv_loop_t *loop, const struct quarsweep_config *cfg)
{
	struct quarsweep *q;

	if ((cfg->retention_s == 0 && cfg->digest_interval_ms == 0) || cfg->dir == NULL ||
	    cfg->ms == NULL)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->cfg = *cfg;
	q->hostname = xstrdup(cfg->hostname != NULL ? cfg->hostname : "localhost");
	q->cfg.hostname = q->hostname;
	if (q->cfg.interval_ms == 0)
		q->cfg.interval_ms = 3600 * 1000;
	/* the first digest covers one interval back */
	q->start_since = now_s() - (int64_t)(cfg->digest_interval_ms / 1000);
	q->next_digest = now_s() + (int64_t)(cfg->digest_interval_ms / 1000);
	uv_timer_init(loop, &q->timer);
	q->timer.data = q;
	uv_timer_start(&q->timer, tick, q->cfg.interval_ms, q->cfg.interval_ms);
	uv_unref((uv_handle_t *)&q->timer); /* never keeps the loop alive */
	return q;
}

void
quarsweep_stop(struct quarsweep *q)
{
	if (q == NULL || uv_is_closing((uv_handle_t *)&q->timer))
		return;
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, NULL);
}

void
quarsweep_free(struct quarsweep **qp)
{
	if (*qp != NULL) {
		for (size_t i = 0; i < SEEN_BUCKETS; i++) {
			struct seen *e = (*qp)->seen[i], *next;

			for (; e != NULL; e = next) {
				next = e->next;
				free(e);
			}
		}
		free((*qp)->hostname);
	}
	free(*qp);
	*qp = NULL;
}
