/*
 * frame.c - RPC frames: length prefix + packed RpcEnvelope (see frame.h).
 */
#include "cluster/rpc/frame.h"

#include <string.h>

#include "lib/xalloc.h"

int
rpc_frame_decode(
    const uint8_t *data, size_t len, const uint8_t **body, size_t *body_len, size_t *used)
{
	uint32_t n;

	if (len < RPC_FRAME_HEAD)
		return MN_EAGAIN;
	n = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
	if (n > RPC_FRAME_MAX)
		return MN_ETOOBIG;
	if (len - RPC_FRAME_HEAD < n)
		return MN_EAGAIN;
	*body = data + RPC_FRAME_HEAD;
	*body_len = n;
	*used = RPC_FRAME_HEAD + (size_t)n;
	return 0;
}

int
rpc_envelope_unpack(const uint8_t *body, size_t len, Mailnode__RpcEnvelope **out)
{
	Mailnode__RpcEnvelope *env = mailnode__rpc_envelope__unpack(NULL, len, body);

	*out = NULL;
	if (env == NULL)
		return MN_EPARSE;
	/* known = named in rpc.proto (protobuf-c does not check enum values) */
	if (!env->reply && (!env->has_method || env->method == MAILNODE__RPC_METHOD__RPC_NONE ||
	                       (unsigned)env->method >= RPC_METHOD_LIMIT ||
	                       protobuf_c_enum_descriptor_get_value(
	                           &mailnode__rpc_method__descriptor, (int)env->method) == NULL)) {
		mailnode__rpc_envelope__free_unpacked(env, NULL);
		return MN_EINVAL;
	}
	*out = env;
	return 0;
}

int
rpc_frame_append(struct buf *out, const Mailnode__RpcEnvelope *env)
{
	size_t n = mailnode__rpc_envelope__get_packed_size(env);
	uint8_t head[RPC_FRAME_HEAD];
	int rc;

	if (n > RPC_FRAME_MAX)
		return MN_ETOOBIG;
	head[0] = (uint8_t)(n >> 24);
	head[1] = (uint8_t)(n >> 16);
	head[2] = (uint8_t)(n >> 8);
	head[3] = (uint8_t)n;
	if ((rc = buf_append(out, head, sizeof(head))) != 0 || (rc = buf_reserve(out, n)) != 0)
		return rc;
	mailnode__rpc_envelope__pack(env, out->data + out->len);
	out->len += n;
	return 0;
}
