/*
 * fuzz_spamd_reply.c - the spamd reply parser (node/antispam/scan.c,
 * scan_spamd_parse) on arbitrary bytes; the checks are in scan_reply_check.h.
 */
#define SCAN_PARSE scan_spamd_parse
#include "scan_reply_check.h"
