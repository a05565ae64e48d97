/*
 * handoff_internal.h - the struct shared by the handoff's common part
 * (handoff.c), its sender (handoff_client.c) and its home side
 * (handoff_server.c). Not for other modules.
 */
#ifndef MN_CLUSTER_HANDOFF_INTERNAL_H
#define MN_CLUSTER_HANDOFF_INTERNAL_H

#include "cluster/handoff/handoff.h"
#include "cluster/peer_auth.h"
#include "cluster/rpc/rpc.h"
#include "lib/tls.h"

struct handoff_send;
struct handoff_transfer;

struct handoff {
	uv_loop_t *loop;
	struct handoff_config cfg; /* strings borrowed */
	char *tmp_dir;             /* DATA_DIR/handoff */
	struct tls_ctx *client_tls;
	struct peer_auth_config auth;
	struct rpc_client *rpc;
	uv_timer_t sweep;
	bool stopped;
	int pending; /* pool work and sends in flight (handoff_free checks) */
	struct handoff_send *sends;
	struct handoff_transfer *transfers;
	size_t ntransfers;
};

/* home side (handoff_server.c) */
void handoff_server_handle(struct rpc_call *call, const uint8_t *payload, size_t len, void *arg);
void handoff_server_sweep(struct handoff *h, bool all);

/* sender (handoff_client.c) */
void handoff_client_stop(struct handoff *h);

/* handoff_name_ok - a node name or spool id fit for a file name:
 * [A-Za-z0-9._-]{1,63}, not starting with '.'. */
bool handoff_name_ok(const char *s);

/* handoff_now_ms - monotonic milliseconds (the loop's clock). */
uint64_t handoff_now_ms(struct handoff *h);

#endif
