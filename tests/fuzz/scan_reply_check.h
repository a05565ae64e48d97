/*
 * scan_reply_check.h - the body shared by fuzz_spamd_reply and
 * fuzz_rspamd_reply: the including target defines SCAN_PARSE (a
 * scan_*_parse of node/antispam/scan.h). Each input is parsed as a partial
 * reply and as one the scanner closed after: the answer is complete,
 * "more" (never at the close) or MN_EPARSE with a reason; the fields stay
 * within their bounds and the score within SCAN_SCORE_MAX.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/antispam/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const uint8_t *data, size_t size, bool eof)
{
	struct scan_result r;
	int rc = SCAN_PARSE(data, size, eof, &r);

	if (rc == 1) {
		if (r.status != 0 || strlen(r.symbols) >= sizeof(r.symbols) ||
		    strlen(r.action) >= sizeof(r.action) || !(r.score <= SCAN_SCORE_MAX) ||
		    !(r.score >= -SCAN_SCORE_MAX))
			abort();
	} else if (rc == 0) {
		if (eof)
			abort();
	} else if (rc != MN_EPARSE || r.status != MN_EPARSE || r.reason[0] == '\0' ||
	           strlen(r.reason) >= sizeof(r.reason)) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	check(copy, size, false);
	check(copy, size, true);
	free(copy);
	return 0;
}
