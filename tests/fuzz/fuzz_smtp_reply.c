/*
 * fuzz_smtp_reply.c - the outbound client's reply parser (smtp_client.h)
 * on arbitrary server output, differentially: parsed whole and then one
 * byte more at a time (as conn delivers it) must give the same replies,
 * codes, texts and positions. Checks that the kept text stays
 * NUL-terminated within its array and that consumption never overruns.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/delivery/smtp_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLIES 64

struct trace {
	int n;
	int rc[MAX_REPLIES];
	int code[MAX_REPLIES];
	size_t nlines[MAX_REPLIES];
	size_t end[MAX_REPLIES];
	char text[MAX_REPLIES][SMTP_REPLY_TEXT_MAX];
};

static struct smtp_reply r;
static struct trace whole, bytewise;

static void
record(struct trace *t, int rc, size_t pos)
{
	if (memchr(r.text, '\0', sizeof(r.text)) == NULL)
		abort();
	t->rc[t->n] = rc;
	t->code[t->n] = r.code;
	t->nlines[t->n] = r.nlines;
	t->end[t->n] = pos;
	memcpy(t->text[t->n], r.text, sizeof(r.text));
	t->n++;
}

/* run - step is 0 for whole input, else the window grows by one byte */
static void
run(const uint8_t *data, size_t size, int step, struct trace *t)
{
	size_t pos = 0, have = step ? 1 : size;

	t->n = 0;
	smtp_reply_reset(&r);
	while (pos < size && t->n < MAX_REPLIES) {
		size_t used;
		int rc;

		if (have > size)
			have = size;
		rc = smtp_reply_feed(&r, data + pos, have - pos, &used);
		if (used > have - pos)
			abort();
		pos += used;
		if (rc == SMTP_REPLY_BAD) {
			record(t, rc, pos);
			return;
		}
		if (rc == SMTP_REPLY_DONE) {
			if (r.code < 200 || r.code > 599 || r.nlines == 0)
				abort();
			record(t, rc, pos);
			smtp_reply_reset(&r);
			continue;
		}
		if (have == size)
			return;
		have = step ? have + 1 : size;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	run(data, size, 0, &whole);
	run(data, size, 1, &bytewise);
	/* A line over the limit is only detected early when bytewise; up to
	 * the first BAD both must agree. */
	for (int i = 0; i < whole.n && i < bytewise.n; i++) {
		if (whole.rc[i] != bytewise.rc[i])
			abort();
		if (whole.rc[i] == SMTP_REPLY_BAD)
			break;
		if (whole.code[i] != bytewise.code[i] || whole.end[i] != bytewise.end[i] ||
		    whole.nlines[i] != bytewise.nlines[i] ||
		    strcmp(whole.text[i], bytewise.text[i]) != 0)
			abort();
	}
	return 0;
}
