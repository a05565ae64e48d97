/*
 * fuzz_spf_record.c - the SPF record parser and macro expander
 * (node/antispam/spf.c) on arbitrary records, then check_host() with a
 * fake DNS that answers the same record for every TXT query (so include
 * and redirect recurse into it) and fixed A/MX/PTR data: every input must
 * end in a result within the lookup limits, nothing leaked.
 */
#include <arpa/nameser.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/antispam/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dns {
	const uint8_t *rec;
	size_t len;
	unsigned queries;
};

static void
fuzz_query(void *arg, const char *name, int type, struct spf_dns_answer *ans)
{
	struct fuzz_dns *d = arg;
	static const uint8_t a4[4] = {192, 0, 2, 1};

	memset(ans, 0, sizeof(*ans));
	d->queries++;
	switch (type) {
	case ns_t_txt:
		spf_dns_answer_add(ans, d->rec, d->len);
		break;
	case ns_t_a:
		spf_dns_answer_add(ans, a4, 4);
		break;
	case ns_t_mx:
		spf_dns_answer_add(ans, "mx.fuzz.test", 12);
		break;
	case ns_t_ptr:
		spf_dns_answer_add(ans, "ptr.fuzz.test", 13);
		break;
	default:
		ans->status = 1;
		return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_record *rec = malloc(sizeof(*rec));
	struct fuzz_dns d = {data, size, 0};
	struct spf_outcome out;
	struct mn_err err;
	char exp[300];

	if (spf_record_parse((const char *)data, size, rec, &err) == 0) {
		for (size_t i = 0; i < rec->nterms; i++)
			if (rec->terms[i].spec != NULL)
				(void)spf_macro_expand(rec->terms[i].spec, rec->terms[i].spec_len,
				    "user@fuzz.test", "fuzz.test", "192.0.2.1", "helo.fuzz.test",
				    exp, sizeof(exp));
	}
	free(rec);
	spf_check(fuzz_query, &d, "192.0.2.1", "helo.fuzz.test", "user@fuzz.test", &out);
	/* 10 terms plus MX/PTR names (10 each) with one query per name, plus
	 * the TXT fetches: anything far above means the limits do not hold */
	if (out.lookups > SPF_LOOKUP_LIMIT + 1 || d.queries > 400)
		abort();
	spf_check(fuzz_query, &d, "2001:db8::1", "helo.fuzz.test", "", &out);
	return 0;
}
