/*
 * raft_service.h - the node's Raft instance: canonical/raft 0.15 with its
 * libuv I/O in data_dir/raft, the TLS transport (transport.h) on
 * raft_port, the directory state machine (fsm.h), and the RPC server and
 * client on rpc_port (cluster/rpc) for joins, forwarded writes and status.
 *
 * Start:
 *  - data_dir/raft-id present: restart with that id.
 *  - absent, [cluster] join empty: bootstrap a one-member configuration
 *    with id 1 (raft_service_fresh() is then true: main.c creates the
 *    first node, admin and domain).
 *  - absent, join = HOST:RPC_PORT: ask that member (RPC JOIN, retried until
 *    it works); the leader adds us (raft_add, NodeAdd state "joining",
 *    then raft_assign voter once caught up and NodeSetState "active") and
 *    answers our id; we start with an empty configuration and receive the
 *    log or a snapshot.
 * The directory is a cache of the log: main.c deletes directory.db before
 * opening it and raft rebuilds it (snapshot restore + log replay), which
 * is the restart rule of fsm.h. Pre-vote is on; after winning an election
 * the leader appends a barrier (raft 0.15 appends no no-op entry).
 *
 * Writes (raft_service_submit): the leader proposes; a follower forwards
 * the packed command to the leader (RPC PROPOSE) and calls back only once
 * its own applied index reached the entry's index (read-your-writes). No
 * leader: MN_ENOLEADER at once.
 *
 * Ownership: loop, directory and cfg's strings and TLS context are
 * borrowed and must outlive the service. All calls on the loop thread.
 */
#ifndef MN_CLUSTER_RAFT_RAFT_SERVICE_H
#define MN_CLUSTER_RAFT_RAFT_SERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"
#include "lib/tls.h"
#include "storage/directory/directory.h"

#define RAFT_SERVICE_FORWARD_TIMEOUT_MS 5000
#define RAFT_SERVICE_APPLY_WAIT_MS 10000
#define RAFT_SERVICE_HEARTBEAT_MS 30
#define RAFT_SERVICE_REMOVE_TIMEOUT_MS 15000
#define RAFT_SERVICE_ELECTION_MS 1000
/* how long cluster status waits for each member's own answer */
#define RAFT_SERVICE_STATUS_TIMEOUT_MS 500

struct raft_service;

struct raft_service_config {
	const char *data_dir;
	const char *node_name;
	const char *address; /* listen address, numeric IP */
	uint16_t raft_port;
	uint16_t rpc_port; /* 0: no RPC server (single node only) */
	const char *join;  /* NULL/"": bootstrap or restart */
	const char *secret;
	struct tls_ctx *server_tls;
	uint32_t snapshot_threshold; /* entries between snapshots */
};

/* rc 0 or an MN_E code; err->msg for administrators (valid in the call). */
typedef void (*raft_service_done_cb)(int rc, const struct mn_err *err, void *arg);

int raft_service_start(uv_loop_t *loop, struct directory *dir,
    const struct raft_service_config *cfg, struct raft_service **out, struct mn_err *err);
/* This start bootstrapped a new cluster (first start, no join). */
bool raft_service_fresh(const struct raft_service *rs);
/* Running and caught up: leader whose barrier applied, or follower that
 * knows a leader and applied its known commit index. */
bool raft_service_ready(const struct raft_service *rs);
bool raft_service_is_leader(const struct raft_service *rs);
uint64_t raft_service_id(const struct raft_service *rs);
uint64_t raft_service_applied_index(const struct raft_service *rs);

/* raft_service_submit - replicate one packed DirectoryCommand. 0: cb runs
 * exactly once later; else (MN_ENOLEADER, MN_ECLOSED, MN_ETOOBIG) cb is
 * never called. */
int raft_service_submit(
    struct raft_service *rs, const uint8_t *packed, size_t len, raft_service_done_cb cb, void *arg);

/* raft_service_remove - take node `name` out of the Raft configuration,
 * then mark it removed in the directory. A follower forwards the request
 * to the leader (RPC REMOVE). When `name` is the leader, leadership is
 * transferred away first and cb gets MN_ENOLEADER "retry" (ask again: the
 * new leader removes it). Returns MN_ENOLEADER (no leader known),
 * MN_EAGAIN (another membership change runs), MN_ENOENT (unknown node),
 * or 0 and cb runs later with the outcome. */
int raft_service_remove(
    struct raft_service *rs, const char *name, raft_service_done_cb cb, void *arg);

/* raft_service_status_json - SPEC §6 cluster status shape, this node's
 * view only: other members' applied index and last contact are null. */
json_t *raft_service_status_json(struct raft_service *rs);

/* raft_service_status - the same, with every member's own view: each
 * other member of the node table that is not removed is asked over RPC
 * (STATUS, all at once, RAFT_SERVICE_STATUS_TIMEOUT_MS each) for its raft
 * state, commit and applied index, term, last log index and the ms since
 * it last heard from a leader. A member that does not answer in time, or
 * whose RPC connection is failing and in its backoff, is marked
 * "reachable": false with an "error" and null figures. cb gets the status
 * (a new reference it owns) exactly once: inside the call when nobody has
 * to be asked, else later from the loop (at the latest when the service
 * closes). */
typedef void (*raft_service_status_cb)(json_t *status, void *arg);
void raft_service_status(struct raft_service *rs, raft_service_status_cb cb, void *arg);

/* raft_service_close - stop raft, RPC and transport; pending writes fail
 * with MN_ECLOSED. The loop must run until raft_service_closed(). */
void raft_service_close(struct raft_service *rs);
bool raft_service_closed(const struct raft_service *rs);
void raft_service_free(struct raft_service **rs);

#endif
