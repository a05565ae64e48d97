/*
 * quarsweep.h - quarantine retention (issue 8; FEATURES §11.1 "quarantined
 * mail kept at most 30 days"): every interval, the Quarantine folder of
 * each user whose mailbox is on this node loses the messages that arrived
 * more than retention ago. The sweep runs on the thread pool (directory
 * listing, mail store reads and expunges), at most one at a time; the
 * mail store is used through its public API only.
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

/* quarsweep_start - retention_s 0: never sweep (NULL result). */
struct quarsweep *quarsweep_start(uv_loop_t *loop, struct directory *dir, struct mailstore *ms,
    uint64_t interval_ms, uint64_t retention_s);
/* quarsweep_stop - no further sweeps (the timer is closed). */
void quarsweep_stop(struct quarsweep *q);
/* quarsweep_free - after the loop drained; NULL is fine. */
void quarsweep_free(struct quarsweep **q);

#endif
