/*
 * api_status.c - GET /api/v1/status: which node answers, its version,
 * uptime and hostname. Any administrator may ask.
 */
#include "node/admin/api.h"

void
api_status(struct api_req *r)
{
	uint64_t up = (uv_now(r->api->loop) - r->api->started_ms) / 1000;

	api_reply_json(r, 200,
	    json_pack("{s:s, s:s, s:I, s:s}", "node", r->api->node_name, "version", MN_VERSION,
	        "uptime_s", (json_int_t)up, "hostname", r->api->hostname));
}
