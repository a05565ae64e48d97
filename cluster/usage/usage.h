/*
 * usage.h - what users hold in their home node's mail store (bytes,
 * messages), asked from any node: the RCPT quota check of node/smtp for a
 * user homed elsewhere, and used_bytes / used_messages in the admin API's
 * user list (issue 6; docs/cluster.md "Usage of users homed elsewhere").
 *
 * A node's store only holds the users homed on it. usage_get groups the
 * work by home: this node's users are read from its store in the thread
 * pool; another node is asked with one RPC_USAGE call (cluster/rpc, TLS
 * with the cluster secret's proof) per USAGE_BATCH_MAX users, which its
 * usage_serve answers the same way from its own store. Other nodes'
 * answers are cached for cache_ms (a few seconds: a quota verdict may lag
 * that much behind deliveries, which the home's own check at delivery
 * covers); this node's own users are always read fresh. A home that
 * is down, refuses or misses the deadline gives status != 0 for its users:
 * the caller decides (SMTP accepts, the spool retries; the API shows null).
 *
 * Ownership: the usage object borrows the directory and the store (both
 * must outlive it). usage_stop before the loop drains (fails the calls in
 * flight, so every callback runs), usage_free after it has. All on the loop
 * thread.
 */
#ifndef MN_CLUSTER_USAGE_USAGE_H
#define MN_CLUSTER_USAGE_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

struct directory;
struct mailstore;

/* users per RPC_USAGE request (the home checks it) */
#define USAGE_BATCH_MAX 1000
#define USAGE_CACHE_MS 5000
/* what an RCPT waits for the home at most */
#define USAGE_RCPT_TIMEOUT_MS 1500
/* what the user list waits for the homes at most */
#define USAGE_LIST_TIMEOUT_MS 3000

struct usage_config {
	const char *node_name; /* this node */
	struct directory *dir; /* users (home_node) and nodes (rpc address) */
	struct mailstore *ms;  /* this node's store */
	const char *secret;    /* cluster secret; NULL or "": local users only */
	uint32_t cache_ms;     /* 0: USAGE_CACHE_MS */
};

struct usage_result {
	const char *user; /* as asked */
	/* 0: used_* are the home's figures (0 for a mailbox not made yet);
	 * else unavailable: MN_ETIMEDOUT, MN_ECLOSED, MN_ENOENT (the home does
	 * not know the user or its node is not in the node table), ... */
	int status;
	uint64_t used_bytes, used_messages;
};

/* res[i] answers users[i]; valid during the call only. */
typedef void (*usage_cb)(const struct usage_result *res, size_t n, void *arg);

struct usage;

int usage_new(
    uv_loop_t *loop, const struct usage_config *cfg, struct usage **out, struct mn_err *err);
/* usage_stop - stop serving; calls in flight end with MN_ECLOSED now. */
void usage_stop(struct usage *u);
void usage_free(struct usage **u);

/* usage_home_elsewhere - home_node names a node other than this one (NULL
 * or "": this one). */
bool usage_home_elsewhere(const struct usage *u, const char *home_node);

/* usage_get - the usage of users[0..n-1], all homed on home_node (NULL or
 * "": this node, read fresh), a remote home's answers at most cache_ms
 * old; a remote home has timeout_ms. 0: cb runs exactly once, from the loop (never inside this
 * call, even when everything was cached). MN_EINVAL (n == 0): no call. */
int usage_get(struct usage *u, const char *home_node, const char *const *users, size_t n,
    uint32_t timeout_ms, usage_cb cb, void *arg);

/* usage_serve - answer RPC_USAGE on every rpc_server of the process. */
void usage_serve(struct usage *u);

#endif
