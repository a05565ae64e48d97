/*
 * local.c - local delivery into the mail store (see local.h, queue.h).
 */
#include "node/delivery/local.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/antispam/antispam.h"

#define LOCAL_HEADER_MAX (256 * 1024)

bool
local_already_delivered(struct mailstore *ms, const char *user, const char *spool_id, uint64_t len)
{
	struct mailstore_msg *list = NULL;
	struct mn_err err;
	size_t n = 0;
	bool found = false;

	if (mailstore_msg_list(ms, user, "INBOX", 0, &list, &n, &err) != 0)
		return false;
	/* newest first: a crash leaves it near the end */
	for (size_t i = n; i-- > 0 && !found;) {
		struct buf h;

		if (list[i].size != len)
			continue;
		buf_init(&h, LOCAL_HEADER_MAX);
		if (mailstore_header_read(
		        ms, user, "INBOX", list[i].uid, LOCAL_HEADER_MAX, &h, &err) == 0 &&
		    memmem(h.data, h.len, spool_id, strlen(spool_id)) != NULL)
			found = true;
		buf_fini(&h);
	}
	mailstore_msg_list_free(&list, n);
	return found;
}

int
local_deliver(struct mailstore *ms, const char *spool_id, const void *msg, size_t len,
    int64_t internal_date, struct local_target *t, size_t n, struct mn_err *err)
{
	const char **users = xcalloc(n ? n : 1, sizeof(*users));
	struct mailstore_quota *limits = xcalloc(n ? n : 1, sizeof(*limits));
	struct mailstore_deliver_result *res = xcalloc(n ? n : 1, sizeof(*res));
	size_t *map = xcalloc(n ? n : 1, sizeof(*map));
	size_t m = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		t[i].found = false;
		t[i].rc = 0;
		if (t[i].check_dup && local_already_delivered(ms, t[i].user, spool_id, len)) {
			t[i].found = true;
			log_info("delivery", "id=%s event=local_dup_check user=%s result=found",
			    spool_id, t[i].user);
			continue;
		}
		users[m] = t[i].user;
		limits[m] = t[i].quota;
		map[m++] = i;
	}
	if (m > 0) {
		/* DMARC quarantine (node/antispam): our own first header line
		 * sends the message to Junk. XXX: local_already_delivered looks
		 * in INBOX only, so a retry after a crash may store it twice */
		const char *folder =
		    len >= strlen(ANTISPAM_JUNK_HEADER) &&
		            memcmp(msg, ANTISPAM_JUNK_HEADER, strlen(ANTISPAM_JUNK_HEADER)) == 0
		        ? "Junk"
		        : NULL;

		rc = mailstore_deliver(
		    ms, users, m, msg, len, internal_date, folder, limits, res, err);
		for (size_t j = 0; j < m; j++)
			t[map[j]].rc = rc != 0 ? rc : res[j].rc;
	}
	free(users);
	free(limits);
	free(res);
	free(map);
	return rc;
}
