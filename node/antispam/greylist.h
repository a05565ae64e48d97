/*
 * greylist.h - greylisting (RFC 6647): the first delivery attempt of a
 * (client network, sender, recipient) triplet is deferred; a retry after
 * the delay and within the retry window passes, and the triplet is then
 * remembered for the pass lifetime, so a real MTA's later mail flows.
 *
 * The client is reduced to its network (IPv4 /24, IPv6 /64: RFC 6647
 * §5.1, large senders retry from another host of the same pool).
 * In memory, per node, on the loop thread (no locking); times are passed
 * in (milliseconds, any monotonic origin) so tests drive the clock.
 * XXX: not shared between the nodes of a cluster: a retry that lands on
 * another MX node is deferred again there (docs/anti-spam.md says why).
 * greylist_save / greylist_load carry the table over a restart (times
 * must then be wall-clock epoch milliseconds).
 */
#ifndef MN_NODE_ANTISPAM_GREYLIST_H
#define MN_NODE_ANTISPAM_GREYLIST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define GREYLIST_KEY_MAX 600 /* network + sender + recipient */

struct greylist;

/* greylist_new - max_entries bounds memory: when the table is full and
 * nothing has expired, new triplets pass (fail open, logged). */
struct greylist *greylist_new(
    uint64_t delay_ms, uint64_t retry_window_ms, uint64_t pass_ms, size_t max_entries);
void greylist_free(struct greylist **g);

/* greylist_check - 0: pass; 1: defer, *wait_ms_out says how long until a
 * retry passes. */
int greylist_check(struct greylist *g, const char *ip, const char *sender, const char *rcpt,
    uint64_t now_ms, uint64_t *wait_ms_out);

/* greylist_save - write the triplets still alive at now_ms to path (a
 * temporary file, fsync, rename: the old file stays whole until then).
 * 0 or MN_EIO with err. */
int greylist_save(const struct greylist *g, const char *path, uint64_t now_ms, struct mn_err *err);

/* greylist_load - add the triplets of a file greylist_save wrote, except
 * those expired at now_ms, malformed lines and any beyond the table's
 * size. A missing file is an empty table (0); else 0 or MN_EIO. */
int greylist_load(struct greylist *g, const char *path, uint64_t now_ms, struct mn_err *err);

/* greylist_count - triplets held (tests). */
size_t greylist_count(const struct greylist *g);

#endif
