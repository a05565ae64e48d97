/*
 * api_queue.c - the delivery queue and read-only mailbox access in the admin
 * API (docs/api.md):
 *   GET    /api/v1/queue                      entries and recipient states
 *   POST   /api/v1/queue/{id}/retry           make every pending recipient due now
 *   DELETE /api/v1/queue/{id}                 drop the entry (no bounce)
 *   GET    /api/v1/users/{address}/messages   INBOX (or ?folder=) [{uid, size,
 *                                             flags, internal_date}]
 *   GET    /api/v1/users/{address}/messages/{uid}/raw   the stored bytes
 * The mailbox reads run on the thread pool (the mail store fsyncs and locks).
 * Queue endpoints are for system administrators; mailbox reads follow the
 * address scope of the other user endpoints.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"
#include "node/delivery/queue.h"
#include "storage/mailstore/mailstore.h"

#define API_RAW_MAX (64u << 20) /* biggest message the raw endpoint returns */

void
api_queue_list(struct api_req *r)
{
	if (r->api->queue == NULL) {
		api_reply_error(r, 503, "the delivery queue is not running");
		return;
	}
	api_reply_json(r, 200, queue_list_json(r->api->queue));
}

void
api_queue_retry(struct api_req *r)
{
	if (r->api->queue == NULL || queue_retry(r->api->queue, r->seg[1]) != 0) {
		api_reply_error(r, 404, "no queue entry %s", r->seg[1]);
		return;
	}
	api_reply_empty(r, 204);
}

void
api_queue_del(struct api_req *r)
{
	if (r->api->queue == NULL || queue_delete(r->api->queue, r->seg[1]) != 0) {
		api_reply_error(r, 404, "no queue entry %s", r->seg[1]);
		return;
	}
	api_reply_empty(r, 204);
}

struct msg_work {
	uv_work_t w;
	struct api_req *r;
	struct mailstore *ms;
	char *user;
	char *folder;
	uint32_t uid; /* 0: list */
	int rc;
	struct mn_err err;
	struct mailstore_msg *list;
	size_t n;
	struct buf raw;
};

static void
msg_work(uv_work_t *w)
{
	struct msg_work *m = w->data;

	if (m->uid == 0) {
		m->rc = mailstore_msg_list(m->ms, m->user, m->folder, 0, &m->list, &m->n, &m->err);
		if (m->rc == MN_ENOENT && !mailstore_user_exists(m->ms, m->user)) {
			m->rc = 0; /* no mailbox yet: nothing delivered */
			m->n = 0;
		}
	} else {
		buf_init(&m->raw, API_RAW_MAX);
		m->rc = mailstore_body_read(
		    m->ms, m->user, m->folder, m->uid, 0, API_RAW_MAX, &m->raw, &m->err);
	}
}

static void
msg_done(uv_work_t *w, int status)
{
	struct msg_work *m = w->data;
	struct api_req *r = m->r;

	if (m->rc != 0) {
		api_reply_code(r, m->rc, &m->err);
	} else if (m->uid == 0) {
		json_t *arr = json_array();

		for (size_t i = 0; i < m->n; i++)
			json_array_append_new(arr,
			    json_pack("{s:I, s:I, s:I, s:I}", "uid", (json_int_t)m->list[i].uid,
			        "size", (json_int_t)m->list[i].size, "flags",
			        (json_int_t)m->list[i].flags, "internal_date",
			        (json_int_t)m->list[i].internal_date));
		api_reply_json(r, 200, arr);
	} else {
		api_reply_bytes(r, 200, "message/rfc822", m->raw.data, m->raw.len);
	}
	if (m->list != NULL)
		mailstore_msg_list_free(&m->list, m->n);
	buf_fini(&m->raw);
	free(m->user);
	free(m->folder);
	free(m);
}

static void
messages_start(struct api_req *r, uint32_t uid)
{
	struct msg_work *m;
	const char *folder = api_query(r, "folder");
	char *addr;

	if (r->api->ms == NULL) {
		api_reply_error(r, 503, "the mail store is not open");
		return;
	}
	if ((addr = api_address_arg(r, r->seg[1])) == NULL || !api_scope_address(r, addr))
		return;
	m = xcalloc(1, sizeof(*m));
	m->r = r;
	m->ms = r->api->ms;
	m->user = xstrdup(addr);
	m->folder = xstrdup(folder && *folder ? folder : "INBOX");
	m->uid = uid;
	m->w.data = m;
	uv_queue_work(r->api->loop, &m->w, msg_work, msg_done);
}

void
api_messages_list(struct api_req *r)
{
	messages_start(r, 0);
}

void
api_messages_raw(struct api_req *r)
{
	uint64_t uid;

	if (parse_u64(r->seg[3], 1, UINT32_MAX, &uid) != 0) {
		api_reply_error(r, 400, "bad uid %s", r->seg[3]);
		return;
	}
	messages_start(r, (uint32_t)uid);
}
