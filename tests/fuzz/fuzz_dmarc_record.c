/*
 * fuzz_dmarc_record.c - the DMARC record parser (node/antispam/dmarc.c,
 * RFC 7489 §6.3) on arbitrary TXT data, and the organizational-domain
 * lookup on the same bytes taken as a domain: a parsed record must hold
 * values in range, the lookup must stay inside its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/antispam/dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a small public suffix list with a wildcard and an exception rule,
 * loaded once from a file psl_load reads like the real one */
static struct psl *
fuzz_psl(void)
{
	static struct psl *psl;
	char path[] = "/tmp/fuzz_psl_XXXXXX";
	static const char rules[] = "// test rules\ncom\nuk\nco.uk\n*.ck\n!www.ck\n";
	int fd;

	if (psl != NULL)
		return psl;
	fd = mkstemp(path);
	if (fd < 0 || write(fd, rules, sizeof(rules) - 1) != (ssize_t)(sizeof(rules) - 1))
		abort();
	close(fd);
	psl = psl_load(path);
	unlink(path);
	return psl;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record rec;
	char domain[256], org[256];

	memset(&rec, 0xa5, sizeof(rec)); /* a parse must set what it reports */
	if (dmarc_record_parse((const char *)data, size, &rec) == 0 && rec.pct > 100)
		abort();
	if (size < sizeof(domain)) {
		memcpy(domain, data, size);
		domain[size] = '\0';
		psl_org_domain(fuzz_psl(), domain, org, sizeof(org));
		if (strlen(org) >= sizeof(org))
			abort();
	}
	return 0;
}
