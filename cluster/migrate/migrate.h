/*
 * migrate.h - account migration between nodes (SPEC §7, issue 6;
 * docs/cluster.md "Migration and drain").
 *
 * The state of a move lives in the replicated directory (the user's move_*
 * columns, set only by UserMove commands through Raft), so it survives
 * restarts and leader changes. Whoever wants a user moved (the admin API)
 * proposes UserMove "copy"; the SOURCE node (the user's home, move_from)
 * notices it at its next scan and drives the rest:
 *
 *   copy    -> the user stays online here. Export the whole mailbox as an
 *              "MNMBX 2 sync" stream (mailstore_export_sync) into
 *              DATA_DIR/migrate/, send it to the target over an RPC stream
 *              (RPC_MIGRATE_PUT, fresh: it replaces what an earlier attempt
 *              left); the target applies it (mailstore_import_sync) and
 *              answers the counts and mailstore_digest of its copy, which
 *              must equal the snapshot's. Then catch-up rounds: a sync
 *              export against what the target confirmed (only new messages
 *              carry bodies) is sent while it holds more than
 *              MIGRATE_SMALL_DELTA changes (at most MIGRATE_MAX_ROUNDS);
 *              then propose "hold"
 *   hold    -> nobody stores the user's mail (local delivery and handoff
 *              leave it in the spools); close the user's IMAP/POP3 sessions
 *              here, export again: equal to what the target confirmed ->
 *              propose "flip" (home_node = target) with both sides' counts
 *              and digests as the move's result; else send that delta and
 *              export again (late commits), at most MIGRATE_MAX_HOLD_ROUNDS
 *   cleanup -> delete the old copy (mailstore_user_delete), propose "end"
 *   cancel  -> (mailctl user move --cancel) roll back as after a failure
 *
 * A failure before the flip rolls back: the target is told to delete its
 * copy (RPC_MIGRATE_PUT with abort) and "end" is proposed with the reason
 * ("failed: ..."); the home never changed. A target whose copy is not what
 * the source thinks (MN_ECONFLICT, MN_ENOENT) gets a fresh copy instead. A
 * source that restarts finds its moves in the directory and resumes them
 * with a fresh copy; one it finds in the hold proposes "resume" (back to
 * copy: mail flows while it copies again) first.
 * Proposals that fail (no leader, lost reply) are retried: the next step is
 * chosen from the directory's state each time.
 *
 * Ownership: borrows the directory, the dirsvc, the store and the auth
 * config (they outlive it). Loop thread; store calls and file I/O of the
 * export and import run on the libuv thread pool.
 */
#ifndef MN_CLUSTER_MIGRATE_MIGRATE_H
#define MN_CLUSTER_MIGRATE_MIGRATE_H

#include <stdint.h>
#include <uv.h>

#include "cluster/peer_auth.h"
#include "lib/err.h"

#define MIGRATE_SCAN_MS 200           /* how often a node looks for moves it drives */
#define MIGRATE_OPEN_TIMEOUT_MS 10000 /* stream: connect, TLS, proof, reply */
#define MIGRATE_IDLE_MS 600000        /* a stream without a byte either way */
#define MIGRATE_RETRY_MS 1000         /* a failed proposal is tried again after */
#define MIGRATE_MAX_COPIES 3          /* fresh copies (the target lost track) */
#define MIGRATE_SMALL_DELTA 50        /* changes left that the hold may copy */
#define MIGRATE_MAX_ROUNDS 8          /* catch-up rounds before holding anyway */
#define MIGRATE_MAX_HOLD_ROUNDS 4     /* exports in the hold (late commits) */

struct directory;
struct dirsvc;
struct mailstore;
struct migrate;

struct migrate_config {
	const char *data_dir;  /* DATA_DIR/migrate holds the streams' files */
	const char *node_name; /* this node */
	const struct peer_auth_config *auth;
	struct directory *dir;
	struct dirsvc *svc;
	struct mailstore *ms;
	/* close the user's IMAP/POP3 sessions on this node (hold); may be NULL */
	void (*close_sessions)(const char *user, void *arg);
	void *arg;
};

/* migrate_new - empty DATA_DIR/migrate, serve RPC_MIGRATE_PUT on the
 * process's RPC server and start scanning for moves this node drives. */
int migrate_new(
    uv_loop_t *loop, const struct migrate_config *cfg, struct migrate **out, struct mn_err *err);
/* migrate_stop - stop scanning, unregister, abort streams; jobs end when
 * their pool work has. Run the loop, then migrate_free. */
void migrate_stop(struct migrate *m);
void migrate_free(struct migrate **m);

#endif
