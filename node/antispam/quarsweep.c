/*
 * quarsweep.c - quarantine retention sweeps (quarsweep.h).
 */
#include "node/antispam/quarsweep.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/antispam/antispam.h"
#include "storage/directory/directory.h"
#include "storage/mailstore/mailstore.h"

struct quarsweep {
	uv_loop_t *loop;
	struct directory *dir;
	struct mailstore *ms;
	uint64_t interval_ms, retention_s;
	uv_timer_t timer;
	uv_work_t work;
	bool busy;
	uint64_t removed; /* by the sweep in flight */
};

/* one user's Quarantine: expunge what arrived before cutoff */
static void
sweep_user(struct quarsweep *q, const char *user, int64_t cutoff)
{
	struct mailstore_msg *list = NULL;
	struct mn_err err;
	uint32_t *uids;
	size_t n = 0, k = 0;

	mn_err_clear(&err);
	if (mailstore_msg_list(q->ms, user, ANTISPAM_QUARANTINE_FOLDER, 0, &list, &n, &err) != 0)
		return; /* no folder: never held anything */
	uids = xcalloc(n ? n : 1, sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		if (list[i].internal_date < cutoff)
			uids[k++] = list[i].uid;
	mailstore_msg_list_free(&list, n);
	if (k > 0) {
		mn_err_clear(&err);
		if (mailstore_expunge(q->ms, user, ANTISPAM_QUARANTINE_FOLDER, uids, k, false, NULL,
		        NULL, &err) == 0) {
			q->removed += k;
			log_info(
			    "antispam", "event=quarantine_expired user=%s messages=%zu", user, k);
		} else {
			log_warn("antispam", "event=quarantine_expired user=%s reason=\"%s\"", user,
			    err.msg);
		}
	}
	free(uids);
}

static void
sweep_work(uv_work_t *w)
{
	struct quarsweep *q = w->data;
	int64_t cutoff = (int64_t)time(NULL) - (int64_t)q->retention_s;
	json_t *users = directory_users_json(q->dir, NULL, NULL, 0, 0);
	size_t i;
	json_t *u;

	q->removed = 0;
	json_array_foreach(users, i, u)
	{
		const char *addr = json_string_value(json_object_get(u, "address"));

		if (addr != NULL && mailstore_user_exists(q->ms, addr))
			sweep_user(q, addr, cutoff);
	}
	json_decref(users);
}

static void
sweep_done(uv_work_t *w, int status)
{
	struct quarsweep *q = w->data;

	(void)status;
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
quarsweep_start(uv_loop_t *loop, struct directory *dir, struct mailstore *ms, uint64_t interval_ms,
    uint64_t retention_s)
{
	struct quarsweep *q;

	if (retention_s == 0 || dir == NULL || ms == NULL)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->dir = dir;
	q->ms = ms;
	q->interval_ms = interval_ms ? interval_ms : 3600 * 1000;
	q->retention_s = retention_s;
	uv_timer_init(loop, &q->timer);
	q->timer.data = q;
	uv_timer_start(&q->timer, tick, q->interval_ms, q->interval_ms);
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
	free(*qp);
	*qp = NULL;
}
