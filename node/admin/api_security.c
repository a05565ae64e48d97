/*
 * api_security.c - /api/v1/security/blocked: the IPs and users blocked by
 * login-failure throttling (node/limits.h), listed and released; backs
 * `mailctl security blocked list|release`. System administrators only.
 * Blocks are per node (in memory), like the counters behind them.
 */
#include <stdlib.h>
#include <time.h>

#include "lib/log.h"
#include "node/admin/api.h"

void
api_security_blocked_list(struct api_req *r)
{
	struct limits_blocked *b;
	json_t *out = json_array();
	size_t n;

	limits_blocked_list(r->api->limits, &b, &n);
	for (size_t i = 0; i < n; i++) {
		time_t t = (time_t)(b[i].until_ms / 1000);
		struct tm tm;
		char until[32];

		gmtime_r(&t, &tm);
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(
		    out, json_pack("{s:s, s:s, s:s, s:I}", "kind",
		             b[i].kind == LIMITS_KIND_IP ? "ip" : "user", "key", b[i].key, "until",
		             until, "failures", (json_int_t)b[i].failures));
	}
	free(b);
	api_reply_json(r, 200, out);
}

void
api_security_blocked_del(struct api_req *r)
{
	if (limits_release(r->api->limits, r->seg[2]) != 0) {
		api_reply_error(r, 404, "not blocked");
		return;
	}
	log_info("admin", "event=unblock admin=%s", r->who.name);
	api_reply_empty(r, 204);
}
