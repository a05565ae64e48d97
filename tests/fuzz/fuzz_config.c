/*
 * fuzz_config.c - config_load_string (lib/config.c) on arbitrary input:
 * libinih plus our line reader, value checks and port-conflict pass. Every
 * input must end in success or a "FILE:LINE: reason" refusal, with nothing
 * leaked either way (config_free after both).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	struct mn_config cfg;
	struct mn_err err;
	int rc;

	rc = config_load_string("fuzz.ini", text, &cfg, &err);
	if (rc != 0) {
		/* A refusal always names the file and a line. */
		if (strncmp(err.msg, "fuzz.ini:", 9) != 0)
			abort();
		/* ... and leaves nothing allocated. */
		if (cfg.node_name != NULL || cfg.data_dir != NULL || cfg.hostname != NULL)
			abort();
	} else if (cfg.node_name == NULL || cfg.data_dir == NULL || cfg.hostname == NULL ||
	           cfg.listen_address == NULL) {
		abort(); /* required keys and string defaults are present */
	}
	config_free(&cfg);
	free(text);
	return 0;
}
