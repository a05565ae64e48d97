/*
 * fuzz_rpc_frame.c - the RPC stream decoder (cluster/rpc/frame.c) on
 * arbitrary bytes: frames are cut off the front as the server does, each
 * body unpacked as an envelope; the inner payloads of the known methods are
 * unpacked too (the stream openings' ProxyOpen, the handoff's HandoffChunk
 * included). Invariants: a
 * decoded frame never reaches past the input or RPC_FRAME_MAX; a request
 * that unpacks has a method named in rpc.proto; an envelope
 * that unpacks re-packs into a frame that decodes to the same length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/proto/directory.pb-c.h"
#include "cluster/proto/handoff.pb-c.h"
#include "cluster/rpc/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inner(const Mailnode__RpcEnvelope *env)
{
	const uint8_t *p = env->has_payload ? env->payload.data : NULL;
	size_t n = env->has_payload ? env->payload.len : 0;

	if (env->reply || p == NULL)
		return;
	switch (env->method) {
	case MAILNODE__RPC_METHOD__RPC_JOIN: {
		Mailnode__JoinRequest *m = mailnode__join_request__unpack(NULL, n, p);

		if (m)
			mailnode__join_request__free_unpacked(m, NULL);
		break;
	}
	case MAILNODE__RPC_METHOD__RPC_PROPOSE: {
		Mailnode__ProposeRequest *m = mailnode__propose_request__unpack(NULL, n, p);

		if (m) {
			Mailnode__DirectoryCommand *c = mailnode__directory_command__unpack(
			    NULL, m->command.len, m->command.data);

			if (c)
				mailnode__directory_command__free_unpacked(c, NULL);
			mailnode__propose_request__free_unpacked(m, NULL);
		}
		break;
	}
	case MAILNODE__RPC_METHOD__RPC_PROXY_IMAP:
	case MAILNODE__RPC_METHOD__RPC_PROXY_POP3: {
		Mailnode__ProxyOpen *m = mailnode__proxy_open__unpack(NULL, n, p);

		if (m)
			mailnode__proxy_open__free_unpacked(m, NULL);
		break;
	}
	case MAILNODE__RPC_METHOD__RPC_MIGRATE_PUT: {
		Mailnode__MigrateOpen *m = mailnode__migrate_open__unpack(NULL, n, p);

		if (m)
			mailnode__migrate_open__free_unpacked(m, NULL);
		break;
	}
	case MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK: {
		Mailnode__HandoffChunk *m = mailnode__handoff_chunk__unpack(NULL, n, p);

		if (m)
			mailnode__handoff_chunk__free_unpacked(m, NULL);
		break;
	}
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		const uint8_t *body;
		size_t blen, used;
		Mailnode__RpcEnvelope *env;
		int rc = rpc_frame_decode(data + off, size - off, &body, &blen, &used);

		if (rc != 0)
			break;
		if (used > size - off || blen > RPC_FRAME_MAX || body + blen != data + off + used)
			abort();
		off += used;
		if (rpc_envelope_unpack(body, blen, &env) != 0)
			continue;
		if (!env->reply &&
		    (env->method == MAILNODE__RPC_METHOD__RPC_NONE ||
		        (unsigned)env->method >= RPC_METHOD_LIMIT ||
		        protobuf_c_enum_descriptor_get_value(
		            &mailnode__rpc_method__descriptor, (int)env->method) == NULL))
			abort();
		inner(env);
		{
			struct buf b;
			const uint8_t *b2;
			size_t l2, u2;

			buf_init(&b, 0);
			if (rpc_frame_append(&b, env) != 0 ||
			    rpc_frame_decode(b.data, b.len, &b2, &l2, &u2) != 0 || u2 != b.len)
				abort();
			buf_fini(&b);
		}
		mailnode__rpc_envelope__free_unpacked(env, NULL);
	}
	return 0;
}
