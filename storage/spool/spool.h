/*
 * spool.h - the durable queue of accepted messages (SPEC §10: no message
 * that got a 250 is ever lost, none is delivered twice).
 *
 * Layout under DATA_DIR/spool:
 *   tmp/ID           being written; removed by spool_recover()
 *   tmp/spare.N      a removed entry's file kept for reuse (its inode, not
 *                    its bytes: the next write truncates it); see spool.c
 *   queue/ID         one file per message: a text envelope ("MNSPOOL 1"
 *                    lines, see spool.c) ended by a "data" line, then the
 *                    message bytes (CRLF, Received: header first). Never
 *                    changed after it is renamed into queue/.
 *   queue/ID.state   sidecar with the mutable part: the recipient list with
 *                    per-recipient state, attempts, next attempt and last
 *                    reply. Replaced atomically (tmp + fsync + rename + fsync
 *                    of the directory); when absent the envelope's list holds.
 *
 * Commit order: message file written to tmp/, fsync'd, renamed into queue/,
 * queue/ fsync'd; only then may the SMTP server answer 250. Removal: the
 * message file first, then the sidecar (a lone sidecar is dropped at
 * recovery; a lone message file would be delivered again to everyone),
 * without an fsync of queue/: see spool_remove for why that is safe.
 *
 * Threads: everything here does blocking I/O with fsync and must run on the
 * libuv thread pool (uv_queue_work), never on the loop; except spool_open,
 * spool_recover and spool_new_id, meant for start-up and the loop
 * respectively. Functions on different IDs may run concurrently; one ID is
 * handled by one caller at a time (the queue guarantees it).
 */
#ifndef MN_STORAGE_SPOOL_H
#define MN_STORAGE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define SPOOL_ID_LEN 20                /* 16 hex digits of microseconds + 4 of counter */
#define SPOOL_MAX_RCPTS 100000         /* after expansion */
#define SPOOL_MAX_ENVELOPE (16u << 20) /* bytes of envelope or state text */
#define SPOOL_MAX_FIELD 4096           /* bytes of one decoded field */

enum spool_rcpt_state {
	SPOOL_RCPT_PENDING = 0,
	SPOOL_RCPT_INFLIGHT, /* a local delivery was started (idempotency check at recovery) */
	SPOOL_RCPT_DELIVERED,
	SPOOL_RCPT_FAILED,   /* permanent: bounced (or bounce not wanted) */
	SPOOL_RCPT_EXPANDED, /* replaced by its expansion (rcpts with parent = this one) */
};

/* DSN RET (RFC 3461 §4.3) */
enum spool_ret { SPOOL_RET_NONE = 0, SPOOL_RET_FULL, SPOOL_RET_HDRS };

struct spool_rcpt {
	char *address;   /* canonical, lower-cased domain */
	char *orcpt;     /* DSN ORCPT "addr-type;xtext" as received, or NULL */
	unsigned notify; /* SMTP_NOTIFY_* bits, 0 when not given */
	enum spool_rcpt_state state;
	bool local;   /* a final local mailbox (after expansion) */
	bool final;   /* result of expansion (local mailbox or external) */
	bool bounced; /* FAILED: the DSN was queued (or none is owed) */
	uint32_t attempts;
	int64_t next_attempt; /* unix milliseconds; 0: now */
	char *reply;          /* last reply / reason or NULL */
	char *remote_mta;     /* or NULL */
};

struct spool_env {
	char id[SPOOL_ID_LEN + 1];
	char *sender; /* "" for the null sender */
	char *envid;  /* decoded ENVID or NULL */
	enum spool_ret ret;
	int64_t arrival; /* unix seconds */
	bool smtputf8;
	bool eightbit;
	bool is_dsn;     /* a bounce we made: never bounced itself */
	char *auth_user; /* or NULL */
	char *client_ip; /* or NULL */
	struct spool_rcpt *rcpts;
	size_t nrcpts;
	/* state sidecar */
	bool delay_warned;
	/* filled by spool_read_env */
	uint64_t msg_offset; /* where the message starts in the file */
	uint64_t msg_size;
};

struct spool;

/* spool_open - create DATA_DIR/spool/{tmp,queue} as needed. */
int spool_open(const char *data_dir, struct spool **out, struct mn_err *err);
void spool_close(struct spool **sp);

/* spool_new_id - a fresh ID, unique across restarts (time-based), into
 * out[SPOOL_ID_LEN + 1]. Thread-safe. */
void spool_new_id(struct spool *sp, char *out);

/* spool_recover - remove everything in tmp/ and lone sidecars; *ids_out
 * (free each and the array) gets the IDs in queue/, oldest first. */
int spool_recover(struct spool *sp, char ***ids_out, size_t *n_out, struct mn_err *err);

/* spool_write - store a new message durably (see commit order); env->id is
 * set by the caller (spool_new_id). The message bytes are data[0..len);
 * prefix (may be NULL) is written before them (the Received: header). */
int spool_write(struct spool *sp, const struct spool_env *env, const void *prefix,
    size_t prefix_len, const void *data, size_t len, struct mn_err *err);

/* spool_read_env - envelope (and sidecar state when present) of ID. Free
 * with spool_env_fini. MN_ENOENT when not queued. */
int spool_read_env(struct spool *sp, const char *id, struct spool_env *out, struct mn_err *err);

/* spool_read_message - append the message bytes to out (max applies). */
int spool_read_message(
    struct spool *sp, const struct spool_env *env, struct buf *out, struct mn_err *err);

/* spool_save_state - replace the sidecar with env's recipients and flags,
 * atomically and durably. */
int spool_save_state(struct spool *sp, const struct spool_env *env, struct mn_err *err);

/* spool_remove - remove ID (sidecar first), fsync the directory. */
int spool_remove(struct spool *sp, const char *id, struct mn_err *err);

/* spool_path - queue/ID (caller frees); for remote_job.message_path. */
char *spool_path(struct spool *sp, const char *id);

/* Helpers for env structs built in memory. */
void spool_env_fini(struct spool_env *env);
/* spool_env_add_rcpt - append a copy (strings duplicated); returns it. */
struct spool_rcpt *spool_env_add_rcpt(
    struct spool_env *env, const char *address, const char *orcpt, unsigned notify);
const char *spool_rcpt_state_name(enum spool_rcpt_state st);

#endif
