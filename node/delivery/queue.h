/*
 * queue.h - the delivery queue: schedules the spool's entries, expands
 * local recipients (aliases, nested groups: each final mailbox once),
 * delivers to the mail store (one mailstore_deliver call per message:
 * single-instance storage) and hands remote recipients, grouped per domain,
 * to remote_deliver(). Temporary failures are retried with exponential
 * backoff ([delivery] retry_min doubling up to retry_max); permanent ones
 * and queue-lifetime expiry produce a DSN (dsn_build) to the sender, queued
 * as a new message (never to the null sender, never for a DSN); a delay
 * warning goes out once after delay_warning. An entry is removed when every
 * recipient is final.
 *
 * Exactly once into a mailbox (SPEC §10): an attempt's outcome is written
 * to the spool sidecar once, at its end (or the entry is removed). If the
 * node dies after a mailbox got the message but before that write, the
 * entry is recovered at the next start with the recipient still pending;
 * for every entry recovered at start (or whose attempt failed midway) the
 * queue first looks in each local recipient's INBOX for a message of the
 * same size whose header carries this spool ID (the Received: field we
 * prepend holds "id SPOOLID"), and records the recipient as delivered
 * instead of storing it again. A DSN may in the same window be queued
 * twice (only bounces, never the original).
 *
 * Routing (cluster, SPEC §7): a final local recipient whose home node in
 * the directory is another node (not [node] name; an empty home is this
 * node) is handed to that node (cluster/handoff) instead of being stored
 * here: one handoff per home node and message, after the local delivery of
 * the attempt. The recipient is DELIVERED only once the home node replied
 * that its store committed; an unreachable home node, or one that says the
 * user lives elsewhere, leaves it pending with a short backoff
 * (QUEUE_HANDOFF_RETRY_MIN_MS doubling up to QUEUE_HANDOFF_RETRY_MAX_MS,
 * within [delivery] retry_min/retry_max) and the home is looked up again at
 * the next attempt; it is never bounced for that (queue lifetime aside).
 * The home's permanent refusals (unknown user, disabled, over quota) bounce
 * through the DSN path like local ones. Retrying is safe: the home stores
 * under a per-handoff id, so a lost reply never makes a second copy.
 *
 * All calls on the loop thread; spool and mail store I/O on the thread pool.
 */
#ifndef MN_NODE_DELIVERY_QUEUE_H
#define MN_NODE_DELIVERY_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"

struct directory;
struct mailstore;
struct spool;
struct remote_ctx;
struct handoff;

/* a recipient whose mailbox is being moved (held) is looked at again after */
#define QUEUE_HOLD_RETRY_MS 500
#define QUEUE_HANDOFF_RETRY_MIN_MS 2000
#define QUEUE_HANDOFF_RETRY_MAX_MS 60000

struct queue_config {
	const struct mn_config *cfg; /* [delivery] keys, hostname */
	struct directory *dir;
	struct mailstore *ms;
	struct spool *spool;
	struct remote_ctx *remote;
	struct handoff *handoff; /* NULL: every local recipient is stored here */
};

struct queue;

/* queue_start - recover the spool (tmp files removed) and schedule every
 * queued entry at once. */
int queue_start(
    uv_loop_t *loop, const struct queue_config *cfg, struct queue **out, struct mn_err *err);
/* queue_submit - a new spool entry (after its fsync): deliver soon. */
void queue_submit(struct queue *q, const char *id);
/* queue_stop - no new attempts; attempts in flight finish (run the loop),
 * then the queue frees itself. */
void queue_stop(struct queue **q);

/* queue_list_json - [{id, sender, arrival, size, busy, rcpts: [{address,
 * state, attempts, next_attempt, reply}]}] (new reference). Entries not read
 * yet since the start show only "loading": true; entries in the middle of an
 * attempt ("busy": true) have no "rcpts". */
json_t *queue_list_json(struct queue *q);
/* queue_retry - make ID due now (every pending recipient): 0 or MN_ENOENT. */
int queue_retry(struct queue *q, const char *id);
/* queue_delete - drop ID without delivering the rest or bouncing: 0 or
 * MN_ENOENT. Done in the background (after an attempt in flight). */
int queue_delete(struct queue *q, const char *id);
/* queue_idle - true when nothing is queued or in flight (tests). */
bool queue_idle(struct queue *q);

#endif
