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

int
local_deliver(struct mailstore *ms, const char *spool_id, const void *msg, size_t len,
    int64_t internal_date, struct local_target *t, size_t n, struct mn_err *err)
{
	const char **users = xcalloc(n ? n : 1, sizeof(*users));
	struct mailstore_quota *limits = xcalloc(n ? n : 1, sizeof(*limits));
	struct mailstore_deliver_result *res = xcalloc(n ? n : 1, sizeof(*res));
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		users[i] = t[i].user;
		limits[i] = t[i].quota;
		t[i].found = false;
		t[i].rc = 0;
	}
	/* The spool id is the idempotency key: a mailbox that got this entry
	 * in an earlier attempt (a crash before the spool recorded it) is not
	 * given a second copy, whether or not check_dup was asked for. */
	if (n > 0) {
		/* DMARC quarantine (node/antispam): our own first header line
		 * sends the message to Junk */
		const char *folder =
		    len >= strlen(ANTISPAM_JUNK_HEADER) &&
		            memcmp(msg, ANTISPAM_JUNK_HEADER, strlen(ANTISPAM_JUNK_HEADER)) == 0
		        ? "Junk"
		        : NULL;

		rc = mailstore_deliver_id(
		    ms, spool_id, users, n, msg, len, internal_date, folder, limits, res, err);
		for (size_t i = 0; i < n; i++) {
			t[i].rc = rc != 0 ? rc : res[i].rc;
			t[i].found = rc == 0 && res[i].duplicate;
			if (t[i].found)
				log_info("delivery", "id=%s event=local_dup_check user=%s result=found",
				    spool_id, t[i].user);
		}
	}
	free(users);
	free(limits);
	free(res);
	return rc;
}
