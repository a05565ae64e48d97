/*
 * local.h - delivery of one spooled message into local mailboxes (the mail
 * store), with the idempotency check that makes a retry after a crash safe
 * (see queue.h). Runs on the thread pool.
 */
#ifndef MN_NODE_DELIVERY_LOCAL_H
#define MN_NODE_DELIVERY_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/mailstore/mailstore.h"

struct local_target {
	const char *user;             /* in: mailbox address */
	struct mailstore_quota quota; /* in */
	int rc;                       /* out: 0 delivered (or found), MN_ENOQUOTA, other */
	bool found;                   /* out: an earlier attempt had stored it */
};

/* local_deliver - one mailstore_deliver_id call for every target, keyed by
 * spool_id, the entry's delivery id (handoff_id: the same key a handoff of
 * the entry uses, so a retry after the user moved finds it; single-instance storage, and a retry
 * never stores a second copy); returns 0 when every target has its rc, or an error for the whole
 * call (every rc set to it). */
int local_deliver(struct mailstore *ms, const char *spool_id, const void *msg, size_t len,
    int64_t internal_date, struct local_target *t, size_t n, struct mn_err *err);

#endif
