/*
 * recent.h - the \Recent flag of IMAP (RFC 3501 §2.3.2): a message is
 * \Recent for the first session that learns about it (SELECT, or the EXISTS
 * of a later sync) with the mailbox open read-write; every later session
 * sees it without \Recent. A read-only session (EXAMINE) sees the messages
 * no session took yet as \Recent but does not take them (RFC 3501 §6.3.2:
 * EXAMINE must not make messages lose \Recent).
 *
 * The state is one "mark" per user and folder, shared by all IMAP sessions
 * of this process (both listeners): the highest UID that some read-write
 * session has taken. Messages above the mark are not yet taken. Taking
 * moves the mark up under a mutex, so the ranges two sessions take never
 * overlap and each new message is \Recent in exactly one read-write
 * session. Sessions remember which of their messages are theirs
 * (struct imap_view_msg.recent).
 *
 * XXX: kept in memory by node/imap, not in the mail store (storage/mailstore
 * is being reworked; RFC 3501 allows \Recent to be session state). After a
 * restart a folder's mark starts at the highest UID whose INTERNALDATE is
 * before the process started (imap_recent_set_epoch), so mail delivered
 * while the node ran is \Recent once more, older mail is not. Renaming a
 * folder starts its mark over the same way. Entries are bounded: each of
 * RECENT_BUCKETS buckets keeps its RECENT_BUCKET_MAX most recently used
 * folders; an evicted folder starts over on its next use.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef MN_NODE_IMAP_RECENT_H
#define MN_NODE_IMAP_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/mailstore/mailstore.h"

#define RECENT_BUCKETS 4096
#define RECENT_BUCKET_MAX 16

/* imap_recent_set_epoch - the process start (seconds since the epoch),
 * used to start a folder's mark; the first non-zero call wins. */
void imap_recent_set_epoch(int64_t t);

/* imap_recent_take - the mark of (user, folder) before this call: the
 * messages of list (the whole folder, ascending UIDs, as
 * mailstore_msg_list returns it) with a UID above it are \Recent for the
 * caller. take (a read-write session): move the mark to the highest UID of
 * list, so no later caller gets them. A changed uidvalidity (the folder was
 * deleted and made again) starts the mark over at 0. */
uint32_t imap_recent_take(const char *user, const char *folder, uint32_t uidvalidity,
    const struct mailstore_msg *list, size_t n, bool take);

/* imap_recent_count - how many messages of list no session took yet (STATUS
 * RECENT); takes nothing. */
uint32_t imap_recent_count(const char *user, const char *folder, uint32_t uidvalidity,
    const struct mailstore_msg *list, size_t n);

/* imap_recent_known - the mark of (user, folder) if it has one for this
 * uidvalidity (true), without creating it: STATUS skips listing a folder
 * when nothing above the mark can exist (mark >= UIDNEXT - 1). */
bool imap_recent_known(
    const char *user, const char *folder, uint32_t uidvalidity, uint32_t *mark_out);

/* imap_recent_reset - forget every mark (unit tests). */
void imap_recent_reset(void);

#endif
