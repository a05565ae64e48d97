/*
 * mailbox_events.h - an in-process hub that tells open sessions that a
 * user's mailbox changed (a delivery, another IMAP session's APPEND, STORE,
 * EXPUNGE ...), so that IMAP can send EXISTS / EXPUNGE / FETCH updates at
 * command boundaries and wake IDLE (RFC 2177) at once.
 *
 * It carries no data: a watcher re-reads its folder from the mail store.
 * Users are keyed by their canonical address (lower-case, as the directory
 * stores it). Loop thread only: notify from the loop (after a store call
 * finished on the thread pool), callbacks run synchronously inside
 * mailbox_events_notify and must not (un)watch other watchers.
 *
 * Ownership: a struct mailbox_watch belongs to whoever called
 * mailbox_events_watch and is released by mailbox_events_unwatch.
 */
#ifndef MN_NODE_MAILBOX_EVENTS_H
#define MN_NODE_MAILBOX_EVENTS_H

typedef void (*mailbox_events_cb)(void *arg);

struct mailbox_watch;

/* mailbox_events_watch - call cb(arg) on each change of user's mailbox. */
struct mailbox_watch *mailbox_events_watch(const char *user, mailbox_events_cb cb, void *arg);
/* mailbox_events_unwatch - stop and free; sets *w to NULL; NULL is fine. */
void mailbox_events_unwatch(struct mailbox_watch **w);
/* mailbox_events_notify - user's mailbox changed; every watcher of user is
 * called except `origin` (the watcher whose own change it is; may be NULL). */
void mailbox_events_notify(const char *user, const struct mailbox_watch *origin);

/* mailbox_events_set_kick - kick(arg) is called by mailbox_events_kick:
 * the session must end (its mailbox is moving to another node). */
void mailbox_events_set_kick(struct mailbox_watch *w, mailbox_events_cb kick);
/* mailbox_events_kick - end every session of user that set a kick
 * callback (account migration, cluster/migrate). Kick callbacks may
 * unwatch themselves. */
void mailbox_events_kick(const char *user);

#endif
