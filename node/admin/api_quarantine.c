/*
 * api_quarantine.c - a user's held mail (issue 8 quarantine; docs/api.md,
 * docs/anti-spam.md): the messages that an SPF/DNSBL/DMARC action
 * "quarantine" put in the user's Quarantine folder (node/delivery/local.c).
 *   GET    /api/v1/users/{address}/quarantine              [{uid, size,
 *          internal_date, from, subject}]
 *   POST   /api/v1/users/{address}/quarantine/{uid}/release  move to INBOX:
 *          {"uid": the new INBOX uid}
 *   DELETE /api/v1/users/{address}/quarantine/{uid}        discard it
 * Backs `mailctl quarantine list|release|delete`. Scope: as the other user
 * endpoints (a domain admin for the domain's users). The mail store calls
 * run on the thread pool. Only the mail store's public API is used.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/admin/api.h"
#include "node/antispam/antispam.h"
#include "storage/mailstore/mailstore.h"

#define QUAR_HEADER_MAX (64u << 10) /* header bytes read for From/Subject */
#define QUAR_FIELD_MAX 300          /* bytes of From/Subject shown */

enum quar_op { QUAR_LIST, QUAR_RELEASE, QUAR_DELETE };

struct quar_item {
	uint32_t uid;
	uint64_t size;
	int64_t date;
	char from[QUAR_FIELD_MAX + 1];
	char subject[QUAR_FIELD_MAX + 1];
};

struct quar_work {
	uv_work_t w;
	struct api_req *r;
	struct mailstore *ms;
	enum quar_op op;
	char *user;
	uint32_t uid;
	int rc;
	struct mn_err err;
	struct quar_item *items;
	size_t n;
	uint32_t new_uid;
};

/* the unfolded value of header field name (case-insensitive), cut at
 * QUAR_FIELD_MAX bytes, control characters as spaces; "" if absent */
static void
header_value(const char *h, size_t len, const char *name, char *out)
{
	size_t nl = strlen(name), o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len;) {
		size_t eol = i;

		while (eol < len && h[eol] != '\n')
			eol++;
		if (eol - i > nl && strncasecmp(h + i, name, nl) == 0 && h[i + nl] == ':') {
			size_t j = i + nl + 1;

			for (;;) {
				for (; j < len && h[j] != '\n' && o < QUAR_FIELD_MAX; j++) {
					unsigned char c = (unsigned char)h[j];

					if (c == '\r')
						continue;
					if (o == 0 && (c == ' ' || c == '\t'))
						continue;
					out[o++] = c < ' ' || c == 127 ? ' ' : (char)c;
				}
				/* folded continuation (RFC 5322 §2.2.3) */
				if (j + 1 < len && h[j] == '\n' &&
				    (h[j + 1] == ' ' || h[j + 1] == '\t')) {
					j++;
					continue;
				}
				break;
			}
			out[o] = '\0';
			return;
		}
		i = eol + 1;
	}
}

static void
quar_work(uv_work_t *w)
{
	struct quar_work *q = w->data;
	struct mailstore_msg *list = NULL;
	struct mailstore_copyuid cu;

	switch (q->op) {
	case QUAR_LIST:
		q->rc = mailstore_msg_list(
		    q->ms, q->user, ANTISPAM_QUARANTINE_FOLDER, 0, &list, &q->n, &q->err);
		if (q->rc == MN_ENOENT) {
			q->rc = 0; /* never held anything: no folder yet */
			q->n = 0;
			return;
		}
		if (q->rc != 0)
			return;
		q->items = xcalloc(q->n ? q->n : 1, sizeof(*q->items));
		for (size_t i = 0; i < q->n; i++) {
			struct buf hb;
			struct mn_err e;

			q->items[i].uid = list[i].uid;
			q->items[i].size = list[i].size;
			q->items[i].date = list[i].internal_date;
			buf_init(&hb, QUAR_HEADER_MAX);
			mn_err_clear(&e);
			/* a header too long to read whole shows empty fields */
			if (mailstore_header_read(q->ms, q->user, ANTISPAM_QUARANTINE_FOLDER,
			        list[i].uid, QUAR_HEADER_MAX, &hb, &e) == 0) {
				header_value(
				    (const char *)hb.data, hb.len, "From", q->items[i].from);
				header_value(
				    (const char *)hb.data, hb.len, "Subject", q->items[i].subject);
			}
			buf_fini(&hb);
		}
		mailstore_msg_list_free(&list, q->n);
		break;
	case QUAR_RELEASE:
		memset(&cu, 0, sizeof(cu));
		q->rc = mailstore_move(
		    q->ms, q->user, ANTISPAM_QUARANTINE_FOLDER, &q->uid, 1, "INBOX", &cu, &q->err);
		if (q->rc == 0 && cu.n == 1)
			q->new_uid = cu.dst_uids[0];
		else if (q->rc == 0)
			q->rc = MN_ENOENT; /* no such uid: nothing moved */
		mailstore_copyuid_fini(&cu);
		break;
	case QUAR_DELETE: {
		uint32_t *gone = NULL;
		size_t ngone = 0;

		q->rc = mailstore_expunge(q->ms, q->user, ANTISPAM_QUARANTINE_FOLDER, &q->uid, 1,
		    false, &gone, &ngone, &q->err);
		if (q->rc == 0 && ngone == 0)
			q->rc = MN_ENOENT;
		free(gone);
		break;
	}
	}
}

static void
quar_done(uv_work_t *w, int status)
{
	struct quar_work *q = w->data;
	struct api_req *r = q->r;

	(void)status;
	if (q->rc == MN_ENOENT && q->op != QUAR_LIST) {
		api_reply_error(r, 404, "no message %u in the quarantine of %s", q->uid, q->user);
	} else if (q->rc != 0) {
		api_reply_code(r, q->rc, &q->err);
	} else if (q->op == QUAR_LIST) {
		json_t *arr = json_array();

		for (size_t i = 0; i < q->n; i++)
			json_array_append_new(arr,
			    json_pack("{s:I, s:I, s:I, s:s, s:s}", "uid",
			        (json_int_t)q->items[i].uid, "size", (json_int_t)q->items[i].size,
			        "internal_date", (json_int_t)q->items[i].date, "from",
			        q->items[i].from, "subject", q->items[i].subject));
		api_reply_json(r, 200, arr);
	} else if (q->op == QUAR_RELEASE) {
		log_info("admin", "event=quarantine_release user=%s uid=%u inbox_uid=%u", q->user,
		    q->uid, q->new_uid);
		api_reply_json(r, 200, json_pack("{s:I}", "uid", (json_int_t)q->new_uid));
	} else {
		log_info("admin", "event=quarantine_delete user=%s uid=%u", q->user, q->uid);
		api_reply_empty(r, 204);
	}
	free(q->items);
	free(q->user);
	free(q);
}

static void
quar_start(struct api_req *r, enum quar_op op)
{
	struct quar_work *q;
	uint64_t uid = 0;
	char *addr;

	if (r->api->ms == NULL) {
		api_reply_error(r, 503, "the mail store is not open");
		return;
	}
	if ((addr = api_address_arg(r, r->seg[1])) == NULL || !api_scope_address(r, addr))
		return;
	if (op != QUAR_LIST && parse_u64(r->seg[3], 1, UINT32_MAX, &uid) != 0) {
		api_reply_error(r, 400, "bad uid %s", r->seg[3]);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->ms = r->api->ms;
	q->op = op;
	q->user = xstrdup(addr);
	q->uid = (uint32_t)uid;
	q->w.data = q;
	uv_queue_work(r->api->loop, &q->w, quar_work, quar_done);
}

void
api_quarantine_list(struct api_req *r)
{
	quar_start(r, QUAR_LIST);
}

void
api_quarantine_release(struct api_req *r)
{
	quar_start(r, QUAR_RELEASE);
}

void
api_quarantine_del(struct api_req *r)
{
	quar_start(r, QUAR_DELETE);
}
