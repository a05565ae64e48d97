/*
 * fuzz_rspamd_reply.c - the rspamd reply parser (node/antispam/scan.c,
 * scan_rspamd_parse) on arbitrary bytes; the checks are in scan_reply_check.h.
 */
#define SCAN_PARSE scan_rspamd_parse
#include "scan_reply_check.h"
