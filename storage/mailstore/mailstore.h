/*
 * mailstore.h - the mail store of one node: every local user's folders and
 * messages, shaped for IMAP4rev1 (RFC 3501) with UIDPLUS (RFC 4315), MOVE
 * (RFC 6851), SPECIAL-USE (RFC 6154), QUOTA (RFC 9208) and CONDSTORE
 * (RFC 7162), and for POP3 (RFC 1939).
 *
 * Layout under ROOT (see docs/mailstore.md):
 *   ROOT/bodies.db                     node-wide table bodies(hash, size, refs)
 *   ROOT/bodies/xx/<sha256 hex>        message bodies, content addressed:
 *                                      identical bytes are stored once
 *                                      (single-instance storage); xx is the
 *                                      first two hex digits of the hash
 *   ROOT/users/<domain>/<local>/index.db  per-user SQLite index (WAL,
 *                                      synchronous=FULL): folders, messages,
 *                                      quota usage; path parts are escaped
 *   ROOT/tmp/                          temp bodies and imports in progress
 *   ROOT/lock                          flock'ed by the one opener
 *
 * Ordering rules (crash safety, SPEC §10). A body is written to ROOT/tmp,
 * fsync'd, renamed into place and the directory fsync'd, and its reference
 * count raised, BEFORE any index row refers to it; an index row is deleted
 * (committed) BEFORE the reference count is lowered and the file unlinked at
 * zero. A kill -9 at any instant therefore leaves at worst a body with too
 * high a count or none at all, never an index row without its body.
 * mailstore_recover() (run once at start, before serving) recounts the
 * references from every user index, deletes unreferenced bodies and every
 * temp file. A call that returns 0 has made its change durable.
 *
 * Threads: one struct mailstore is shared by all threads. Every call takes
 * the store's single mutex for its whole duration, so calls are serialized
 * (they run on worker threads, never on the event loop: they fsync).
 * XXX: export/import hold the mutex while they stream; per-user locking
 * would let other users proceed meanwhile.
 *
 * Users are named by their full address "local@domain" as the directory
 * stores it (lower-cased); the store only escapes it into a path. A user's
 * index is created on first use with the folders INBOX, Sent (\Sent),
 * Drafts (\Drafts), Trash (\Trash) and Junk (\Junk), all subscribed.
 *
 * Ownership: arrays and strings handed out (folder lists, message lists,
 * COPYUID data, failed/expunged uid arrays) belong to the caller and are
 * freed with the matching _free/_fini function or free() as stated. Bodies
 * are read either as an fd (mailstore_body_open: the caller closes it; best
 * for large FETCH and POP3 RETR, it can be mmap'ed or sendfile'd) or copied
 * into a caller's bounded struct buf (mailstore_body_read for byte ranges,
 * mailstore_header_read for the header section). A POP3 UIDL can be
 * "<uidvalidity>.<uid>" of the INBOX message.
 *
 * Folder names are UTF-8 (the IMAP layer converts modified UTF-7), '/' is
 * the hierarchy separator; "INBOX" is matched case-insensitively as the first
 * component and stored as "INBOX". Errors: 0 or a negative MN_E* code with
 * detail in err (never shown to clients):
 *   MN_EINVAL bad argument (bad name, bad keyword)   MN_ENOENT no such folder
 *   MN_EEXIST folder/user exists   MN_ECONFLICT folder has children
 *   MN_EPERM  deleting INBOX                         MN_ENOQUOTA over quota
 *   MN_ELIMIT a store limit below was reached        MN_EIO / MN_EDB failures
 *   MN_EPARSE bad import stream
 */
#ifndef MN_STORAGE_MAILSTORE_H
#define MN_STORAGE_MAILSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Limits. */
#define MAILSTORE_MAX_FOLDER_NAME 1024  /* bytes of UTF-8 */
#define MAILSTORE_MAX_FOLDERS 10000     /* per user */
#define MAILSTORE_MAX_KEYWORD 64        /* bytes per keyword */
#define MAILSTORE_MAX_KEYWORDS 64       /* keywords per message */
#define MAILSTORE_MAX_BODY (1ULL << 31) /* bytes per message */
#define MAILSTORE_HANDLE_CACHE 128      /* open user indexes kept (LRU) */
#define MAILSTORE_MAX_DELIVERY_ID 128   /* bytes of an idempotency key */
#define MAILSTORE_DELIVERY_ID_DAYS 30   /* how long delivery ids are kept */

/* System flags (RFC 3501 §2.3.2); \Recent is session state, not stored. */
enum mailstore_flag {
	MAILSTORE_SEEN = 1u << 0,
	MAILSTORE_ANSWERED = 1u << 1,
	MAILSTORE_FLAGGED = 1u << 2,
	MAILSTORE_DELETED = 1u << 3,
	MAILSTORE_DRAFT = 1u << 4,
};
#define MAILSTORE_ALL_FLAGS 0x1fu

enum mailstore_flag_op {
	MAILSTORE_FLAGS_SET,    /* STORE FLAGS */
	MAILSTORE_FLAGS_ADD,    /* STORE +FLAGS */
	MAILSTORE_FLAGS_REMOVE, /* STORE -FLAGS */
};

struct mailstore;

/* Per-user limits, from the directory; 0 means unlimited. */
struct mailstore_quota {
	uint64_t max_bytes;
	uint64_t max_messages;
};

struct mailstore_deliver_result {
	int rc; /* 0, MN_ENOQUOTA, MN_ENOENT (no such folder), MN_EINVAL ... */
	uint32_t uid;
	uint32_t uidvalidity;
	bool duplicate; /* mailstore_deliver_id: stored earlier under this id */
};

struct mailstore_folder_info {
	char *name;        /* UTF-8, '/' separated */
	char *special_use; /* "\\Sent" ... or NULL */
	bool subscribed;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;
	uint64_t bytes;
};

struct mailstore_msg {
	uint32_t uid;
	uint32_t flags; /* enum mailstore_flag bits */
	char *keywords; /* space separated, "" if none */
	uint64_t modseq;
	uint64_t size;
	int64_t internal_date; /* seconds since the epoch (UTC) */
};

/* COPYUID data (RFC 4315 §3): src_uids[i] became dst_uids[i]. */
struct mailstore_copyuid {
	uint32_t uidvalidity;
	uint32_t *src_uids;
	uint32_t *dst_uids;
	size_t n;
};

struct mailstore_recover_stats {
	uint64_t users;           /* user indexes scanned */
	uint64_t bodies;          /* referenced bodies after recovery */
	uint64_t refs_fixed;      /* bodies rows whose count was corrected */
	uint64_t orphans_removed; /* body files no index refers to */
	uint64_t temps_removed;   /* entries removed from ROOT/tmp */
	uint64_t dangling;        /* index rows whose body is missing (kept) */
};

/* --- store ---------------------------------------------------------------- */

/* mailstore_open - open (creating if needed) the store under root. Does not
 * run recovery: call mailstore_recover() once before serving. Only one
 * struct mailstore may have a ROOT open at a time (in any process): it
 * holds an flock on ROOT/lock; a second open gets MN_EAGAIN. */
int mailstore_open(const char *root, struct mailstore **out, struct mn_err *err);
void mailstore_close(struct mailstore **ms);

/* mailstore_recover - recount references from all user indexes, fix
 * bodies.db, unlink unreferenced bodies and everything in ROOT/tmp. Index
 * rows whose body is missing cannot come from a crash (ordering rules); they
 * are counted in stats->dangling and logged, never silently dropped. */
int mailstore_recover(
    struct mailstore *ms, struct mailstore_recover_stats *stats, struct mn_err *err);

/* --- delivery ------------------------------------------------------------- */

/* mailstore_deliver - store one message for n users with one body write.
 * folder NULL means INBOX. limits is NULL (unlimited) or an array of n.
 * results (array of n, caller-owned) gets each user's outcome; the function
 * returns 0 if the body was stored (even if some users were refused: look at
 * results), or an error for the whole call (nothing stored for anyone). A user
 * refused for quota has nothing left behind. */
int mailstore_deliver(struct mailstore *ms, const char *const *users, size_t n, const void *data,
    size_t len, int64_t internal_date, const char *folder, const struct mailstore_quota *limits,
    struct mailstore_deliver_result *results, struct mn_err *err);

/* mailstore_deliver_id - mailstore_deliver with an idempotency key: each
 * user records delivery_id (1..MAILSTORE_MAX_DELIVERY_ID bytes) in the same
 * transaction as the message. Delivering an id a user already recorded
 * with the same bytes stores nothing for that user: results[i] gets rc 0,
 * duplicate = true and the earlier uid/uidvalidity (the same id with other
 * bytes is a new message: it is stored and the record replaced). A retry after a lost reply
 * (cluster handoff) or a crash between the store's commit and the spool's removal therefore never
 * makes a second copy. Records older than MAILSTORE_DELIVERY_ID_DAYS are pruned. delivery_id NULL
 * is mailstore_deliver. */
int mailstore_deliver_id(struct mailstore *ms, const char *delivery_id, const char *const *users,
    size_t n, const void *data, size_t len, int64_t internal_date, const char *folder,
    const struct mailstore_quota *limits, struct mailstore_deliver_result *results,
    struct mn_err *err);

/* mailstore_append - IMAP APPEND: store one message with flags and keywords
 * (nkw entries) in an existing folder; uid_out/uidvalidity_out may be NULL
 * (APPENDUID, RFC 4315). limits may be NULL. */
int mailstore_append(struct mailstore *ms, const char *user, const char *folder, const void *data,
    size_t len, uint32_t flags, const char *const *keywords, size_t nkw, int64_t internal_date,
    const struct mailstore_quota *limits, uint32_t *uid_out, uint32_t *uidvalidity_out,
    struct mn_err *err);

/* --- folders -------------------------------------------------------------- */

/* mailstore_folder_list - all folders sorted by name; *out is an array of
 * *n_out, freed with mailstore_folder_list_free. */
int mailstore_folder_list(struct mailstore *ms, const char *user,
    struct mailstore_folder_info **out, size_t *n_out, struct mn_err *err);
void mailstore_folder_list_free(struct mailstore_folder_info **list, size_t n);
/* mailstore_folder_status - one folder (SELECT/STATUS); free the strings
 * with mailstore_folder_info_fini. */
int mailstore_folder_status(struct mailstore *ms, const char *user, const char *folder,
    struct mailstore_folder_info *out, struct mn_err *err);
void mailstore_folder_info_fini(struct mailstore_folder_info *info);

/* mailstore_folder_create - create folder (and missing parents, RFC 3501
 * §6.3.3) with a fresh UIDVALIDITY: max(now, last one given to this user + 1).
 * special_use is NULL or one of \All \Archive \Drafts \Flagged \Junk \Sent
 * \Trash (RFC 6154). The new folders are not subscribed (CREATE does not
 * subscribe; SUBSCRIBE does). MN_EEXIST if it exists. */
int mailstore_folder_create(struct mailstore *ms, const char *user, const char *folder,
    const char *special_use, struct mn_err *err);
/* mailstore_folder_rename - rename folder and all its children, keeping
 * UIDVALIDITY and UIDs; missing parents of the new name are created.
 * MN_EEXIST if the new name (or a renamed child) exists. Renaming INBOX
 * follows RFC 3501 §6.3.5: its messages move to the new folder (a new
 * UIDVALIDITY, same UIDs), INBOX stays, empty, with its children. */
int mailstore_folder_rename(
    struct mailstore *ms, const char *user, const char *from, const char *to, struct mn_err *err);
/* mailstore_folder_delete - delete a folder and release its messages.
 * MN_EPERM for INBOX, MN_ECONFLICT if it has children (as Dovecot). */
int mailstore_folder_delete(
    struct mailstore *ms, const char *user, const char *folder, struct mn_err *err);
/* mailstore_folder_subscribe - set the subscription (LSUB). The folder must
 * exist (XXX: RFC 3501 allows subscribing to absent names). */
int mailstore_folder_subscribe(struct mailstore *ms, const char *user, const char *folder,
    bool subscribed, struct mn_err *err);

/* --- messages ------------------------------------------------------------- */

/* mailstore_msg_get - the message uid of folder into *out (free
 * out->keywords); MN_ENOENT when the folder or the message is not there. */
int mailstore_msg_get(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    struct mailstore_msg *out, struct mn_err *err);

/* mailstore_msg_list - messages of a folder in UID order, those with
 * modseq > changedsince (0: all, CONDSTORE CHANGEDSINCE otherwise). Free with
 * mailstore_msg_list_free. */
int mailstore_msg_list(struct mailstore *ms, const char *user, const char *folder,
    uint64_t changedsince, struct mailstore_msg **out, size_t *n_out, struct mn_err *err);
void mailstore_msg_list_free(struct mailstore_msg **list, size_t n);

/* mailstore_body_open - a read-only fd on the body (caller closes it) and
 * its size. The fd stays valid if the message is expunged meanwhile. */
int mailstore_body_open(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    int *fd_out, uint64_t *size_out, struct mn_err *err);
/* mailstore_body_read - append up to len bytes from offset to out (fewer at
 * the end of the body; none past it). MN_ETOOBIG if out's max is hit. */
int mailstore_body_read(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    uint64_t offset, size_t len, struct buf *out, struct mn_err *err);
/* mailstore_header_read - append the header section (RFC 5322 §2.1) including
 * the empty line that ends it (the whole message if there is none), at most
 * max bytes: MN_ETOOBIG if longer. */
int mailstore_header_read(struct mailstore *ms, const char *user, const char *folder, uint32_t uid,
    size_t max, struct buf *out, struct mn_err *err);

/* mailstore_flags_store - STORE on uids[0..n): change system flags and
 * keywords (nkw entries; keywords compare case-insensitively, RFC 3501
 * §2.3.2). Changed messages get a new MODSEQ (one per call, RFC 7162); a
 * message whose modseq > unchangedsince (when unchangedsince != 0) is not
 * changed and its uid is put in *failed_out (RFC 7162 §3.1.3 MODIFIED; may be
 * NULL; free()). UIDs not in the folder are ignored. *modseq_out (may be
 * NULL) gets the new MODSEQ, or 0 if nothing changed. A STORE that sets
 * what is already set changes nothing and takes no MODSEQ. UNCHANGEDSINCE 0
 * (every message fails) is for the IMAP layer to answer: here 0 means no
 * condition. */
int mailstore_flags_store(struct mailstore *ms, const char *user, const char *folder,
    const uint32_t *uids, size_t n, enum mailstore_flag_op op, uint32_t flags,
    const char *const *keywords, size_t nkw, uint64_t unchangedsince, uint32_t **failed_out,
    size_t *nfailed_out, uint64_t *modseq_out, struct mn_err *err);

/* mailstore_expunge - remove messages: uids NULL means every message of the
 * folder, else uids[0..n); with only_deleted, only those flagged \Deleted
 * (EXPUNGE, UID EXPUNGE); without it, all of them (POP3 QUIT). The expunged
 * uids, ascending, go to *expunged_out (may be NULL; free()). */
int mailstore_expunge(struct mailstore *ms, const char *user, const char *folder,
    const uint32_t *uids, size_t n, bool only_deleted, uint32_t **expunged_out, size_t *n_out,
    struct mn_err *err);

/* mailstore_copy / mailstore_move - copy (move) the existing uids among
 * uids[0..n) from one folder to another, in ascending UID order, with new
 * UIDs in the target. Flags, keywords and internal date go with them. A copy
 * counts against the quota (limits may be NULL); a move does not. cu (may
 * be NULL) gets the COPYUID data; free with mailstore_copyuid_fini. A move
 * is one transaction: the messages are in exactly one of the folders. */
int mailstore_copy(struct mailstore *ms, const char *user, const char *from, const uint32_t *uids,
    size_t n, const char *to, const struct mailstore_quota *limits, struct mailstore_copyuid *cu,
    struct mn_err *err);
int mailstore_move(struct mailstore *ms, const char *user, const char *from, const uint32_t *uids,
    size_t n, const char *to, struct mailstore_copyuid *cu, struct mn_err *err);
void mailstore_copyuid_fini(struct mailstore_copyuid *cu);

/* mailstore_quota_usage - bytes and messages the user holds (all folders). */
int mailstore_quota_usage(struct mailstore *ms, const char *user, uint64_t *bytes_out,
    uint64_t *messages_out, struct mn_err *err);

/* --- whole mailboxes (account migration, SPEC §7) --------------------------- */

/* mailstore_export - write the user's whole mailbox as the stream described
 * in docs/mailstore.md ("MNMBX 2": with the delivery ids) through write_cb, which returns 0 or a
 * negative code (that ends the export). MN_ENOENT if the user has no
 * mailbox. */
int mailstore_export(struct mailstore *ms, const char *user,
    int (*write_cb)(void *arg, const void *data, size_t len), void *arg, struct mn_err *err);
/* mailstore_import - recreate a mailbox from an export stream read through
 * read_cb (returns bytes read > 0, 0 at end of stream, or a negative code),
 * with the same
 * folders, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, UIDs, flags, keywords, dates
 * and MODSEQs. Atomic: built in ROOT/tmp and renamed into place at the end;
 * on any error nothing is left. MN_EEXIST if the user already has one. */
int mailstore_import(struct mailstore *ms, const char *user,
    ssize_t (*read_cb)(void *arg, void *data, size_t len), void *arg, struct mn_err *err);
/* Incremental copies (account migration, cluster/migrate): a sync export
 * sends only what the receiver lacks. The base is what the receiver holds,
 * folder by folder (UIDVALIDITY, and UIDNEXT and HIGHESTMODSEQ when it was
 * copied): messages below that UIDNEXT go as their state (flags, keywords,
 * MODSEQ; "S" records), the others with their bodies ("M"); the receiver
 * deletes the messages and folders the stream does not list and renames
 * folders whose UIDVALIDITY it knows. Every sync stream carries the whole
 * metadata, so applying it makes the receiver equal to the snapshot. */
struct mailstore_sync_folder {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
};

struct mailstore_sync_base {
	struct mailstore_sync_folder *folders;
	size_t n;
};

struct mailstore_sync_stats {
	uint64_t folders, messages, deliveries; /* in the snapshot */
	uint64_t new_messages, new_bytes;       /* sent with bodies */
	uint64_t changed;                       /* state records above the base's HIGHESTMODSEQ */
	uint64_t new_folders;                   /* folders not in the base, or in it and gone */
	char digest[65];                        /* mailstore_digest of the same snapshot */
};

/* mailstore_export_sync - one snapshot of the user's mailbox: the sync
 * stream against base (NULL or no folders: every message with its body)
 * through write_cb, what the receiver holds after applying it into *next
 * (free with mailstore_sync_base_fini) and the counts and digest into
 * *stats. MN_ENOENT if the user has no mailbox. */
int mailstore_export_sync(struct mailstore *ms, const char *user,
    const struct mailstore_sync_base *base,
    int (*write_cb)(void *arg, const void *data, size_t len), void *arg,
    struct mailstore_sync_base *next, struct mailstore_sync_stats *stats, struct mn_err *err);
void mailstore_sync_base_fini(struct mailstore_sync_base *b);
/* mailstore_import_sync - apply a sync stream in one transaction: fresh
 * replaces whatever the user has here (creating the mailbox), otherwise
 * the stream is applied onto the mailbox (MN_ENOENT if none; MN_ECONFLICT
 * if a state record names a message that is not here: copy fresh). On any
 * error nothing changed. */
int mailstore_import_sync(struct mailstore *ms, const char *user, bool fresh,
    ssize_t (*read_cb)(void *arg, void *data, size_t len), void *arg, struct mn_err *err);
/* mailstore_digest - SHA-256 (hex) over the mailbox's metadata as an
 * export writes it without the bodies (their SHA-256 are in it), and the
 * counts (folders, messages, deliveries of *stats): two stores with the
 * same digest hold the same mailbox. */
int mailstore_digest(
    struct mailstore *ms, const char *user, struct mailstore_sync_stats *stats, struct mn_err *err);
/* mailstore_user_delete - remove a user's mailbox and release its bodies
 * (after a migration, or when the account is deleted). MN_ENOENT if none. */
int mailstore_user_delete(struct mailstore *ms, const char *user, struct mn_err *err);
/* mailstore_user_exists - true if the user has a mailbox on this node. */
bool mailstore_user_exists(struct mailstore *ms, const char *user);

#endif
