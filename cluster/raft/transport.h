/*
 * transport.h - canonical/raft's struct raft_uv_transport on lib/conn TLS
 * with the cluster secret (SPEC §7), as dqlite and go-dqlite do it.
 *
 * raft reads and writes the uv_stream_t it is handed directly, so for each
 * raft connection the transport makes a socketpair, hands raft one end (a
 * raft_malloc'd uv_pipe_t: raft closes and raft_frees it) and relays the
 * other end through the authenticated TLS connection, with back-pressure
 * both ways (reading stops on one side while the other has more than
 * TRANSPORT_HIGH_WATER queued). Either side ending ends the other.
 *
 * Wire: TLS, the peer_auth frames, then from the connector a header
 *   "MNRT" | version 1 | raft id (8 bytes BE) | address length (2 BE, 1..255) | address
 * (raft's accept callback needs the connecting server's id and address, as
 * raft's own TCP transport sends them), then raft's bytes both ways.
 * Addresses are "IP:raft_port".
 *
 * Ownership: the struct raft_uv_transport is the caller's; transport_init
 * fills it, raft drives it (init, listen, connect, close), transport_fini
 * frees what init allocated, after raft's close finished (raft_close's
 * callback). cfg strings and contexts must outlive the transport.
 */
#ifndef MN_CLUSTER_RAFT_TRANSPORT_H
#define MN_CLUSTER_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/peer_auth.h"
#include "lib/err.h"
#include "lib/tls.h"

#define TRANSPORT_HIGH_WATER (1024 * 1024)
#define TRANSPORT_MAGIC "MNRT"
#define TRANSPORT_ADDRESS_MAX 255

struct transport_config {
	const char *bind_address; /* numeric IP the listener binds */
	uint16_t port;            /* raft_port; 0: any (tests, see transport_port) */
	bool no_listener;         /* raft_port 0 in the config: single node, no listener */
	struct tls_ctx *server_tls;
	const struct peer_auth_config *auth; /* kept by pointer */
};

int transport_init(
    struct raft_uv_transport *t, uv_loop_t *loop, const struct transport_config *cfg);
/* transport_port - the bound port once raft called listen (0 before). */
uint16_t transport_port(const struct raft_uv_transport *t);
void transport_fini(struct raft_uv_transport *t);

#endif
