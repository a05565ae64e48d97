/*
 * handoff.h - SMTP handoff between nodes (SPEC §7, issue 6): the node that
 * accepted a message for users homed on another node hands it to that home
 * node over the pooled RPC client; the home node stores it and answers only
 * once its mail store committed (fsync'd). docs/cluster.md "Routing and
 * handoff" describes it for administrators.
 *
 * Wire (cluster/proto/handoff.proto, RPC_HANDOFF_CHUNK): the message goes
 * in chunks of at most HANDOFF_CHUNK_MAX bytes, one request at a time; each
 * reply says how many bytes the home holds (`have`) and the sender goes on
 * from there (0: from the start). The chunk with `last` carries the
 * recipients; the home delivers to all of them with ONE
 * mailstore_deliver_id call (single-instance: one body per home node) keyed
 * by the handoff id "origin/spool_id/home", so a retry after a lost reply
 * never stores a second copy, and replies with one result per recipient.
 *
 * Home side: partial messages are files DATA_DIR/handoff/SPOOLID.ORIGIN,
 * at most HANDOFF_MAX_TRANSFERS at once, removed after
 * HANDOFF_IDLE_TIMEOUT_MS (idle_timeout_ms) without a chunk and all of them
 * at start. A
 * chunk for a transfer whose previous chunk or delivery is still running is
 * refused with MN_EAGAIN (the sender retries later). Each recipient is
 * checked against the home's own directory: unknown -> PERMFAIL 550 5.1.1,
 * disabled -> PERMFAIL 550 5.2.1, homed elsewhere -> NOT_HOME (the sender
 * re-plans), over quota -> PERMFAIL 552 5.2.2, store trouble -> TEMPFAIL.
 *
 * Sender side (handoff_send): resolves the home's RPC address from the
 * directory, reads the chunks from the spool file on the thread pool and
 * streams them. Every recipient of the job gets an outcome; an unreachable
 * or slow home, a lost connection or a refusal gives TEMPFAIL for all
 * (the queue retries from the spool; the home's id makes that safe).
 *
 * Ownership and threads: the handoff borrows the directory, the mail store
 * and the config strings (they outlive it). All calls on the loop thread;
 * file I/O and the store run on the libuv thread pool.
 */
#ifndef MN_CLUSTER_HANDOFF_HANDOFF_H
#define MN_CLUSTER_HANDOFF_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

#define HANDOFF_CHUNK_MAX (256u * 1024)           /* data bytes per request */
#define HANDOFF_MAX_TRANSFERS 256                 /* partial messages held by a home */
#define HANDOFF_MAX_RCPTS 10000                   /* recipients per request */
#define HANDOFF_IDLE_TIMEOUT_MS (10u * 60 * 1000) /* a partial message is dropped after */
#define HANDOFF_CONNECT_TIMEOUT_MS 10000          /* first chunk: includes connecting */
#define HANDOFF_CHUNK_TIMEOUT_MS 30000            /* later chunks */
#define HANDOFF_DELIVER_TIMEOUT_MS 120000         /* the last chunk: the store's fsync */
#define HANDOFF_REPLY_MAX 200                     /* bytes of a recipient's reply text */

struct directory;
struct mailstore;
struct handoff;

struct handoff_config {
	const char *data_dir;  /* temp files in DATA_DIR/handoff (used by handoff_new only) */
	const char *node_name; /* this node ([node] name) */
	const char *secret;    /* [cluster] secret: the RPC client proves it */
	struct directory *dir;
	struct mailstore *ms;      /* NULL: this node stores nothing (refuses) */
	uint64_t max_message_size; /* refused above (0: the store's limit) */
	bool serve;                /* register the RPC handler (one instance per process) */
	uint32_t idle_timeout_ms; /* partial transfers dropped after (0: HANDOFF_IDLE_TIMEOUT_MS) */
	/* after the store committed a new message for user (not for a
	 * duplicate): wake its IMAP sessions. Loop thread; may be NULL. */
	void (*on_delivered)(const char *user, void *arg);
	void *arg;
};

/* handoff_new - create DATA_DIR/handoff (removing what an earlier run left
 * there), the RPC client and, with serve, the RPC_HANDOFF_CHUNK handler on
 * the process's RPC server (rpc_server_handle with no server). */
int handoff_new(
    uv_loop_t *loop, const struct handoff_config *cfg, struct handoff **out, struct mn_err *err);
/* handoff_stop - unregister the handler, fail sends in flight (TEMPFAIL,
 * their callbacks run now or when their pool work ends), drop partial
 * transfers; deliveries already started still commit and reply. Then run
 * the loop until it has no work left and call handoff_free (the RPC
 * client's connections borrow the object until they have closed). */
void handoff_stop(struct handoff *h);
void handoff_free(struct handoff **h);

/* --- sender ---------------------------------------------------------------- */

enum handoff_outcome {
	HANDOFF_RCPT_PENDING = 0, /* not answered */
	HANDOFF_RCPT_DELIVERED,   /* stored on the home (now or earlier, same id) */
	HANDOFF_RCPT_TEMPFAIL,    /* retry later */
	HANDOFF_RCPT_PERMFAIL,    /* bounce: reply says why */
	HANDOFF_RCPT_NOT_HOME,    /* the home says the user lives elsewhere: re-plan */
};

struct handoff_rcpt {
	const char *address;               /* in */
	enum handoff_outcome outcome;      /* out */
	char reply[HANDOFF_REPLY_MAX + 1]; /* out: SMTP-style reply text */
};

/* One message to one home node. Strings and rcpts are the caller's and
 * must stay valid until the callback. */
struct handoff_job {
	const char *home;         /* node name of the home */
	const char *spool_id;     /* with our node name and home: the handoff id */
	const char *message_path; /* the spool file */
	uint64_t message_offset;  /* where the message starts in it */
	uint64_t size;            /* message bytes */
	int64_t internal_date;    /* unix seconds (the spool's arrival) */
	struct handoff_rcpt *rcpts;
	size_t nrcpts;
};

typedef void (*handoff_done_cb)(struct handoff_job *job, void *arg);

/* handoff_send - hand job to its home; cb runs exactly once, later (never
 * inside this call), with every rcpt's outcome set. Returns 0, or
 * MN_ECLOSED after handoff_stop (cb is then never called). */
int handoff_send(struct handoff *h, struct handoff_job *job, handoff_done_cb cb, void *arg);

/* handoff_id - the idempotency key of a spool entry into out (>=
 * HANDOFF_ID_MAX + 1 bytes): "h1/ORIGIN/SPOOLID", or, when that is longer
 * than the store allows, "h1s/" and its SHA-256 in hex. Local delivery
 * uses the same key (node/delivery/queue.c), and home is not part of it:
 * the key travels with the mailbox when its user moves (the store's export
 * carries the delivery records), so an entry retried after a move, on
 * whichever node, finds the copy it stored before. home is ignored (kept
 * for the callers). */
#define HANDOFF_ID_MAX 128
void handoff_id(const char *origin, const char *spool_id, const char *home, char *out);

#endif
