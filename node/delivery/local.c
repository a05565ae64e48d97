/*
 * local.c - local delivery into the mail store (see local.h, queue.h).
 */
#include "node/delivery/local.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "node/antispam/antispam.h"

static bool
has_prefix(const void *msg, size_t len, const char *p)
{
	return len >= strlen(p) && memcmp(msg, p, strlen(p)) == 0;
}

/* The Quarantine folder is made on a user's first held message (it is no
 * default folder): create it for those refused with MN_ENOENT and deliver
 * to them again (same idempotency key). */
static void
held_retry(struct mailstore *ms, const char *spool_id, const char **users, size_t n,
    const void *msg, size_t len, int64_t internal_date, const struct mailstore_quota *limits,
    struct mailstore_deliver_result *res)
{
	for (size_t i = 0; i < n; i++) {
		struct mn_err e;
		int rc;

		if (res[i].rc != MN_ENOENT)
			continue;
		mn_err_clear(&e);
		rc = mailstore_folder_create(ms, users[i], ANTISPAM_QUARANTINE_FOLDER, NULL, &e);
		if (rc != 0 && rc != MN_EEXIST) {
			log_warn("delivery", "id=%s event=quarantine_folder user=%s reason=\"%s\"",
			    spool_id, users[i], e.msg);
			continue;
		}
		mn_err_clear(&e);
		rc = mailstore_deliver_id(ms, spool_id, &users[i], 1, msg, len, internal_date,
		    ANTISPAM_QUARANTINE_FOLDER, &limits[i], &res[i], &e);
		if (rc != 0)
			res[i].rc = rc;
	}
}

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
	/* The entry's delivery id is the idempotency key: a mailbox that got this entry
	 * in an earlier attempt (a crash before the spool recorded it) is not
	 * given a second copy. */
	if (n > 0) {
		/* node/antispam: our own first header line sends the message
		 * to Junk (DMARC quarantine) or holds it in Quarantine */
		bool held = has_prefix(msg, len, ANTISPAM_QUARANTINE_HEADER);
		const char *folder = held ? ANTISPAM_QUARANTINE_FOLDER
		                     : has_prefix(msg, len, ANTISPAM_JUNK_HEADER) ? "Junk"
		                                                                  : NULL;

		rc = mailstore_deliver_id(
		    ms, spool_id, users, n, msg, len, internal_date, folder, limits, res, err);
		if (rc == 0 && held)
			held_retry(ms, spool_id, users, n, msg, len, internal_date, limits, res);
		for (size_t i = 0; i < n; i++) {
			t[i].rc = rc != 0 ? rc : res[i].rc;
			t[i].found = rc == 0 && res[i].duplicate;
			if (t[i].found)
				log_info("delivery",
				    "id=%s event=local_dup_check user=%s result=found", spool_id,
				    t[i].user);
		}
	}
	free(users);
	free(limits);
	free(res);
	return rc;
}
