/* fuzz_placeholder_size.c - parse_size on arbitrary input (keeps the fuzz
 * build non-empty until the real parser targets land). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	uint64_t v;

	(void)parse_size(s, &v);
	free(s);
	return 0;
}
