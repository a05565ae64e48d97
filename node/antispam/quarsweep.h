/*
 * quarsweep.h - quarantine retention (issue 8; FEATURES §11.1 "quarantined
 * mail kept at most 30 days"): every interval, the Quarantine folder of
 * each user whose mailbox is on this node loses the messages that arrived
 * more than retention ago. The sweep runs on the thread pool (directory
 * listing, mail store reads and expunges), at most one at a time; the
 * mail store is used through its public API only.
 *
 * Digest: every digest interval, each such user with messages held since
 * the last digest (by UID in the folder) gets one message listing them
 * (From, Subject, arrival, uid), from MAILER-DAEMON with a null envelope
 * sender, written to the spool and handed to the queue like any mail. The
 * last listed UID is in memory (per user): after a restart the first
 * digest lists what arrived within one interval back.
 *
 * Threads: start/stop on the loop. Ownership: node/main.c stops it with
 * the other services and frees it after the loop drained (a sweep in
 * flight finishes first).
 */
#ifndef MN_NODE_ANTISPAM_QUARSWEEP_H
#define MN_NODE_ANTISPAM_QUARSWEEP_H

#include <stdint.h>
#include <uv.h>

struct directory;
struct mailstore;
struct quarsweep;
struct spool;

struct quarsweep_config {
	struct directory *dir;
	struct mailstore *ms;
	struct spool *spool;
	const char *hostname;        /* From: MAILER-DAEMON@hostname (copied) */
	uint64_t interval_ms;        /* sweep period; 0: an hour */
	uint64_t retention_s;        /* 0: keep held mail */
	uint64_t digest_interval_ms; /* 0: no digests */
	/* a digest was spooled (on the loop): hand it to the queue */
	void (*submit)(void *arg, const char *id);
	void *arg;
};

/* quarsweep_start - NULL when there is nothing to do (no retention, no
 * digest). */
struct quarsweep *quarsweep_start(uv_loop_t *loop, const struct quarsweep_config *cfg);
/* quarsweep_stop - no further sweeps (the timer is closed). */
void quarsweep_stop(struct quarsweep *q);
/* quarsweep_free - after the loop drained; NULL is fine. */
void quarsweep_free(struct quarsweep **q);

#endif
