/*
 * frame.h - the RPC wire format: a 4-byte big-endian length, then that many
 * bytes of a packed RpcEnvelope (cluster/proto/rpc.proto). Frames above
 * RPC_FRAME_MAX are refused (the connection is closed), so a peer cannot
 * make us buffer more than that for one message.
 */
#ifndef MN_CLUSTER_RPC_FRAME_H
#define MN_CLUSTER_RPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/proto/rpc.pb-c.h"
#include "lib/buf.h"
#include "lib/err.h"

#define RPC_FRAME_MAX (16u * 1024 * 1024)
#define RPC_FRAME_HEAD 4
/* Method numbers are below this (handler tables are indexed by them). */
#define RPC_METHOD_LIMIT 32

/* rpc_frame_decode - look at the front of data: 0 and the envelope bytes
 * (*body, *body_len) when a whole frame is there, *used = bytes to consume;
 * MN_EAGAIN when more bytes are needed; MN_ETOOBIG when the announced
 * length exceeds RPC_FRAME_MAX. */
int rpc_frame_decode(
    const uint8_t *data, size_t len, const uint8_t **body, size_t *body_len, size_t *used);

/* rpc_envelope_unpack - unpack and check an envelope: MN_EPARSE when not a
 * valid RpcEnvelope, MN_EINVAL when a request has no method named in
 * rpc.proto (or one >= RPC_METHOD_LIMIT). Free
 * with mailnode__rpc_envelope__free_unpacked(env, NULL). */
int rpc_envelope_unpack(const uint8_t *body, size_t len, Mailnode__RpcEnvelope **out);

/* rpc_frame_append - append the frame for env to out (MN_ETOOBIG). */
int rpc_frame_append(struct buf *out, const Mailnode__RpcEnvelope *env);

#endif
