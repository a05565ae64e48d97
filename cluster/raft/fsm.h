/*
 * fsm.h - the directory as canonical/raft's state machine (libraft 0.15,
 * struct raft_fsm version 1). Each RAFT_COMMAND log entry is one packed
 * DirectoryCommand (cluster/proto/directory.proto); apply runs
 * directory_apply_packed() on the local directory, on every node, in log
 * order. Snapshots are the directory's SQLite image (directory_snapshot);
 * restore replaces the whole directory with one (directory_restore).
 *
 * Ownership, as libraft 0.15 does it (src/replication.c, src/snapshot.c):
 *  - apply's *result is handed to the raft_apply callback only on the node
 *    whose raft_apply() request is still pending for that index (the
 *    proposing leader), synchronously, right after apply returns. Everywhere
 *    else (followers, a restarted node replaying its log, a leader whose
 *    request was already failed) raft drops the pointer without freeing it.
 *    So the result is never heap memory: it points at fsm->last, owned by
 *    the dir_fsm, valid until the next apply on the same fsm. The raft_apply
 *    callback must copy what it needs (dir_fsm_result_take does) and must
 *    not keep the pointer.
 *  - snapshot: the buffer array and its one buffer are raft_malloc'd here
 *    and owned by raft from then on (version 1: raft raft_frees both when
 *    the snapshot has been stored or has failed).
 *  - restore: on success the fsm owns buf->base and raft_frees it; on
 *    failure raft keeps it (raft frees it itself), so restore leaves it.
 *  - the directory is the caller's; it must outlive the raft instance.
 *
 * Results: a command the directory refuses (MN_EINVAL, MN_ENOENT,
 * MN_EEXIST, MN_ECONFLICT, MN_EPARSE, MN_ETOOBIG, MN_ELIMIT) is still an
 * applied entry: the refusal is deterministic, every node refuses it the
 * same way and nothing changes. Any other failure (MN_EDB: disk full, I/O
 * error) is not deterministic, so apply returns RAFT_IOERR instead: raft
 * does not advance last_applied and takes this server out of service
 * (RAFT_UNAVAILABLE) rather than let its directory silently diverge.
 * XXX: an SQLite failure that is deterministic after all (a constraint
 * apply.c does not check first) would stop every node at that entry;
 * apply.c is meant to check every rule itself and answer a refusal.
 *
 * Restarts: raft rebuilds the state machine from its own snapshot and log:
 * restore at raft_start (replacing whatever the directory holds), then,
 * once commitment is known again, re-apply every entry after the snapshot.
 * With no snapshot yet the log is re-applied from entry 1 onto what the
 * directory holds, which must then be empty: a persistent directory file
 * is a cache, not the truth. XXX: the raft service (cluster issue) must
 * open a fresh directory (or wipe it) when raft has no snapshot; this
 * module cannot tell.
 *
 * One thread: everything runs on the raft (event-loop) thread.
 */
#ifndef MN_CLUSTER_RAFT_FSM_H
#define MN_CLUSTER_RAFT_FSM_H

#include <raft.h>
#include <stdint.h>

#include "cluster/proto/directory.pb-c.h"
#include "lib/err.h"
#include "storage/directory/directory.h"

/* What apply hands to the proposer's raft_apply callback (see above: it
 * points into the dir_fsm, copy it). rc is 0 or the directory's refusal. */
struct dir_fsm_result {
	int rc;
	char msg[MN_ERR_MSG_MAX]; /* reason fit for an administrator; "" when rc == 0 */
};

struct dir_fsm {
	struct raft_fsm raft;       /* pass &fsm->raft to raft_init / raft_fixture_grow */
	struct directory *dir;      /* not owned */
	struct dir_fsm_result last; /* result of the latest apply */
	/* Counters since dir_fsm_init (for the service's status and tests).
	 * applied counts applied entries, refused included; entries covered
	 * by a restored snapshot are not counted. The raft log index of the
	 * last applied entry is raft_last_applied(). */
	uint64_t applied;
	uint64_t refused;
	uint64_t snapshots; /* snapshots handed to raft */
	uint64_t restores;  /* snapshots restored */
	int fatal;          /* the MN_E* that stopped apply last, 0 if none */
	/* Called after every applied entry (refused ones too), from inside
	 * raft's apply: it must not call into raft (schedule work instead).
	 * NULL: none. Set by the owner after dir_fsm_init. */
	void (*on_applied)(void *arg);
	void *on_applied_arg;
};

/* dir_fsm_init - set up fsm->raft (version 1) over dir. */
void dir_fsm_init(struct dir_fsm *fsm, struct directory *dir);
/* dir_fsm_fini - forget the directory (does not close it). Only after the
 * raft instance using the fsm has been closed. */
void dir_fsm_fini(struct dir_fsm *fsm);

/* dir_fsm_propose - pack cmd into a raft_malloc'd buffer and raft_apply it
 * with req and cb (req->data is left to the caller; req must stay valid
 * until cb). 0: raft owns the buffer and will call cb exactly once: when
 * the entry is applied here, or when this server stops being leader first
 * (status RAFT_LEADERSHIPLOST, also what raft_close gives pending requests
 * in 0.15). After raft_apply, req->index is the entry's log index (the
 * directory's version once applied). Otherwise nothing was proposed and
 * cb will not be called: MN_ETOOBIG (over DIR_MAX_COMMAND), MN_ENOLEADER
 * (this server is not the leader, or is losing leadership), MN_ETEMP
 * (other raft errors); err->msg says which. */
int dir_fsm_propose(struct raft *r, struct raft_apply *req, const Mailnode__DirectoryCommand *cmd,
    raft_apply_cb cb, struct mn_err *err);

/* dir_fsm_pad - write at `at` (room for 10 bytes) the padding that makes a
 * packed command of len bytes a multiple of 8 long, as raft_uv's segment
 * format needs (see fsm.c); returns its size (0..10). The padding is an
 * unknown protobuf field (2047, bytes), skipped when unpacking. */
size_t dir_fsm_pad(uint8_t *at, size_t len);

/* dir_fsm_result_take - for the raft_apply callback: the outcome of a
 * proposal from the callback's (status, result). status 0: result's rc,
 * with its msg copied into err. Otherwise the entry's fate is unknown to
 * this node (it may still commit under a new leader): MN_ENOLEADER for
 * RAFT_NOTLEADER / RAFT_LEADERSHIPLOST, MN_ECLOSED for RAFT_SHUTDOWN,
 * MN_ETEMP for anything else. err may be NULL. */
int dir_fsm_result_take(int status, const void *result, struct mn_err *err);

#endif
