/*
 * deliver_id_stub.c - XXX: temporary weak stand-in for
 * mailstore_deliver_id until the store's own lands on main (then this file
 * is deleted). Not idempotent: it only lets the handoff link and run.
 */
#include "storage/mailstore/mailstore.h"

__attribute__((weak)) int
mailstore_deliver_id(struct mailstore *ms, const char *delivery_id, const char *const *users,
    size_t n, const void *data, size_t len, int64_t internal_date, const char *folder,
    const struct mailstore_quota *limits, struct mailstore_deliver_result *results,
    struct mn_err *err)
{
	(void)delivery_id;
	return mailstore_deliver(
	    ms, users, n, data, len, internal_date, folder, limits, results, err);
}
