/*
 * recover.h - `mailnode --recover`: rewrite the Raft configuration of a
 * stopped node after the cluster lost its majority for good
 * (docs/cluster.md "Recovering from the loss of a majority").
 *
 * canonical/raft's raft_recover appends a configuration entry holding only
 * the given members (all voters) to the node's log in data_dir/raft; at the
 * next start the node uses it, so a lone survivor is a one-member cluster
 * and elects itself. Nothing else in the log changes: every committed
 * directory write stays. It must run on a stopped node (the caller holds
 * the data_dir lock), exactly once, on the survivor with the longest log;
 * the other survivors get a copy of its data_dir or join it afresh.
 *
 * Members are named as `NAME` (looked up in the node table of
 * data_dir/directory.db, which a stopped node leaves behind: its raft id,
 * address and raft_port) or `ID=IP:PORT` (the raft id and raft address,
 * for when the table is gone).
 */
#ifndef MN_CLUSTER_RAFT_RECOVER_H
#define MN_CLUSTER_RAFT_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define RECOVER_MAX_MEMBERS 64
#define RECOVER_ADDR_MAX 80 /* "IP:PORT", IPv6 in brackets */
#define RECOVER_NAME_MAX 64

struct recover_member {
	uint64_t id;
	char address[RECOVER_ADDR_MAX]; /* raft address IP:PORT */
	char name[RECOVER_NAME_MAX];    /* "" when given as ID=IP:PORT */
};

/* recover_parse - "m1,m2,..." into out (at most max), resolving names
 * through the node table of data_dir/directory.db. 0, or MN_EINVAL (bad
 * syntax, unknown or duplicate member, too many) with the reason. */
int recover_parse(const char *data_dir, const char *spec, struct recover_member *out, size_t max,
    size_t *n_out, struct mn_err *err);

/* recover_run - raft_recover on data_dir/raft with exactly these members
 * as voters. This node (data_dir/raft-id) must be one of them. Blocks
 * (its own event loop); 0 or an MN_E code with the reason. */
int recover_run(const char *data_dir, const struct recover_member *m, size_t n, struct mn_err *err);

#endif
