/*
 * fuzz_admin_route.c - the admin API router's input handling on arbitrary
 * bytes: the first line is a request path (split and %-decoded, then
 * matched against route patterns), the rest an Authorization header value
 * (HTTP Basic parser). Checks the invariants the router relies on: decoded
 * segments hold no NUL and no '/'-split surprises beyond API_MAX_SEGMENT.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "node/admin/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
    "status",
    "users",
    "users/*",
    "users/*/move",
    "groups/*/members/*",
    "domains/*/aliases/*",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t plen = nl ? (size_t)(nl - p) : size;
	char *segs[API_MAX_SEGMENTS], *user, *pass;
	size_t n;

	if (api_split_path(p, plen, segs, API_MAX_SEGMENTS, &n) == 0) {
		if (n > API_MAX_SEGMENTS)
			abort();
		for (size_t i = 0; i < n; i++)
			if (strlen(segs[i]) > API_MAX_SEGMENT || strlen(segs[i]) == 0)
				abort();
		for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
			(void)api_pattern_match(patterns[i], segs, n);
		api_segments_free(segs, n);
	}
	if (nl != NULL && api_parse_basic(nl + 1, size - plen - 1, &user, &pass) == 0) {
		if (strchr(user, ':') != NULL)
			abort(); /* the user part ends at the first colon */
		free(user);
		free(pass);
	}
	return 0;
}
