/*
 * test_data.c - SMTP DATA reader: unstuffing, end of data, line-end
 * policies (including the 2023 "SMTP smuggling" sequences), Received:
 * counting, size limit at max-1/max/max+1, flags, output errors.
 *
 * Every table case runs fed whole, one byte at a time, and split in two at
 * every position; all must give the same result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/smtp/data.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct run {
	int rc;
	size_t consumed;
	struct smtp_data_reader r;
	struct buf out;
};

/* run_split - feed in[0..len) as chunks: split 0 = whole, SIZE_MAX = one
 * byte at a time, else two chunks [0..split) [split..len). Each chunk is an
 * exact heap copy so ASan sees reads past its end. */
static void
run_split(
    const char *in, size_t len, const struct smtp_data_limits *lim, size_t split, struct run *res)
{
	size_t pos = 0;

	buf_init(&res->out, 0);
	smtp_data_init_buf(&res->r, lim, &res->out);
	res->rc = SMTP_DATA_MORE;
	res->consumed = 0;
	while (pos < len) {
		size_t n, used = 0;
		char *chunk;

		if (split == 0)
			n = len;
		else if (split == SIZE_MAX)
			n = 1;
		else
			n = pos < split ? split - pos : len - pos;
		chunk = xmemdup(in + pos, n);
		res->rc = smtp_data_feed(&res->r, chunk, n, &used);
		free(chunk);
		res->consumed += used;
		if (res->rc != SMTP_DATA_MORE) {
			assert_int_equal(res->rc, SMTP_DATA_DONE);
			break;
		}
		assert_int_equal(used, n);
		pos += n;
	}
}

struct dcase {
	const char *in;
	const char *out; /* expected output (NULL: not checked) */
	int rc;          /* SMTP_DATA_DONE or _MORE */
	size_t consumed; /* 0: strlen(in) */
	unsigned flags;  /* exact flags */
	unsigned received;
	enum smtp_data_bare_policy bare;
};

#define BARE SMTP_DATA_F_BARE
#define BIT8 SMTP_DATA_F_8BIT
#define DONE SMTP_DATA_DONE
#define MORE SMTP_DATA_MORE
#define REJ SMTP_DATA_BARE_REJECT

static const struct dcase cases[] = {
    {"Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n", DONE, 0, 0, 0,
        SMTP_DATA_BARE_NORMALIZE},
    {".\r\n", "", DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"..\r\n.\r\n", ".\r\n", DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"..foo\r\n.bar\r\n...\r\n.\r\n", ".foo\r\nbar\r\n..\r\n", DONE, 0, 0, 0,
        SMTP_DATA_BARE_NORMALIZE},
    {"a\r\n.\r\nQUIT\r\n", "a\r\n", DONE, 6, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\r\n.\r\n.\r\n", "a\r\n", DONE, 6, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"\r\n.\r\n", "\r\n", DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a.\r\n.\r\n", "a.\r\n", DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {" .\r\n.\r\n", " .\r\n", DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    /* incomplete */
    {"abc\r\n.", "abc\r\n", MORE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"abc\r\n.\r", "abc\r\n", MORE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"abc\r", "abc", MORE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"abc\r\n", "abc\r\n", MORE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"", "", MORE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    /* bare LF / CR normalised; only CRLF.CRLF ends the data */
    {"a\nb\r\n.\r\n", "a\r\nb\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\n.\nb\r\n.\r\n", "a\r\n\r\nb\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\r\n.\nMAIL FROM:<x@y.z>\r\n.\r\n", "a\r\n\r\nMAIL FROM:<x@y.z>\r\n", DONE, 0, BARE, 0,
        SMTP_DATA_BARE_NORMALIZE},
    {"a\n.\r\nRCPT TO:<x@y.z>\r\n.\r\n", "a\r\n\r\nRCPT TO:<x@y.z>\r\n", DONE, 0, BARE, 0,
        SMTP_DATA_BARE_NORMALIZE},
    {"a\r\n.\r.\r\n", "a\r\n\r\n\r\n", MORE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\r.\r\n.\r\n", "a\r\n\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\rb\r\n.\r\n", "a\r\nb\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {".\rx\r\n.\r\n", "\r\nx\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\r\r\n.\r\n", "a\r\n\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"\n..x\r\n.\r\n", "\r\n.x\r\n", DONE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    {"a\n.\n", "a\r\n\r\n", MORE, 0, BARE, 0, SMTP_DATA_BARE_NORMALIZE},
    /* REJECT: output stops at the first bare CR/LF, data still ends */
    {"a\nb\r\n.\r\nQUIT\r\n", "a", DONE, 8, BARE, 0, REJ},
    {"ab\rc\r\n.\r\n", "ab", DONE, 0, BARE, 0, REJ},
    {"ok\r\n.\r\n", "ok\r\n", DONE, 0, 0, 0, REJ},
    /* Received: counting in the header section only */
    {"Received: a\r\nreceived : b\r\nX-Received: c\r\nReceived-SPF: d\r\n"
     " Received: e\r\nRECEIVED:f\r\nReceivedX: g\r\nReceive: h\r\n\r\n"
     "Received: body\r\n.\r\n",
        NULL, DONE, 0, 0, 3, SMTP_DATA_BARE_NORMALIZE},
    {"Received:\r\n\tfrom x\r\nReceived:\r\n.\r\n", NULL, DONE, 0, 0, 2, SMTP_DATA_BARE_NORMALIZE},
    {"\r\nReceived: x\r\n.\r\n", NULL, DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {"..Received: x\r\n.\r\n", ".Received: x\r\n", DONE, 0, 0, 0, SMTP_DATA_BARE_NORMALIZE},
    {".Received: x\r\n.\r\n", "Received: x\r\n", DONE, 0, 0, 1, SMTP_DATA_BARE_NORMALIZE},
    {"Received: x\nReceived: y\n\nReceived: z\n.\r\n", NULL, MORE, 0, BARE, 2,
        SMTP_DATA_BARE_NORMALIZE},
    /* content flags */
    {"Subject: \xc3\xa9\r\n.\r\n", "Subject: \xc3\xa9\r\n", DONE, 0, BIT8, 0,
        SMTP_DATA_BARE_NORMALIZE},
};

static void
check_case(size_t idx, const struct dcase *k, size_t split)
{
	struct smtp_data_limits lim = {0, 0, k->bare};
	size_t len = strlen(k->in);
	struct run res;

	run_split(k->in, len, &lim, split, &res);
	if (res.rc != k->rc || res.consumed != (k->consumed ? k->consumed : len) ||
	    res.r.flags != k->flags || res.r.received != k->received ||
	    (k->out != NULL &&
	        (res.out.len != strlen(k->out) ||
	            (res.out.len && memcmp(res.out.data, k->out, res.out.len) != 0))))
		fail_msg("case %zu split %zu: rc %d consumed %zu flags %#x received %u out '%.*s'",
		    idx, split, res.rc, res.consumed, res.r.flags, res.r.received, (int)res.out.len,
		    res.out.data ? (char *)res.out.data : "");
	if (k->out != NULL && k->bare != REJ)
		assert_int_equal(res.r.size, strlen(k->out));
	buf_fini(&res.out);
}

static void
test_table_whole_bytewise_and_split(void **state)
{
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = strlen(cases[i].in);

		check_case(i, &cases[i], 0);
		check_case(i, &cases[i], SIZE_MAX);
		for (size_t s = 1; s < len; s++)
			check_case(i, &cases[i], s);
	}
}

static void
test_random_chunks_match_whole(void **state)
{
	/* a larger message with every feature, in pseudo-random chunks
	 * (fixed seed, printed on failure) */
	const char *msg = "Received: from a\r\nReceived: from b\r\nSubject: t\r\n\r\n"
	                  "..dot\r\n.\r\r\nbare\nline\rend\r\n\xe4\xb8\xad\r\n....\r\n";
	struct run whole;
	unsigned seed = 12345;

	run_split(msg, strlen(msg), NULL, 0, &whole);
	assert_int_equal(whole.rc, MORE);
	for (int iter = 0; iter < 200; iter++) {
		struct smtp_data_reader r;
		struct buf out;
		size_t pos = 0, len = strlen(msg);

		buf_init(&out, 0);
		smtp_data_init_buf(&r, NULL, &out);
		while (pos < len) {
			size_t n, used;

			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 7;
			if (n > len - pos)
				n = len - pos;
			assert_int_equal(smtp_data_feed(&r, msg + pos, n, &used), MORE);
			pos += n;
		}
		assert_int_equal(smtp_data_feed(&r, "\r\n.\r\n", 5, NULL), DONE);
		if (out.len != whole.out.len + 2 ||
		    memcmp(out.data, whole.out.data, whole.out.len) != 0)
			fail_msg("iteration %d (seed state %u) differs", iter, seed);
		assert_int_equal(r.received, 2);
		assert_int_equal(r.flags, BARE | BIT8);
		buf_fini(&out);
	}
	assert_memory_equal(whole.out.data,
	    "Received: from a\r\nReceived: from b\r\nSubject: t\r\n\r\n"
	    ".dot\r\n\r\n\r\nbare\r\nline\r\nend\r\n\xe4\xb8\xad\r\n...\r\n",
	    whole.out.len);
	buf_fini(&whole.out);
}

static void
test_size_limit(void **state)
{
	/* "..x\r\n" produces ".x\r\n": 4 octets counted after unstuffing */
	const char *in = "..x\r\nabcd\r\n.\r\n";
	const size_t produced = 10;
	size_t splits[] = {0, SIZE_MAX, 3, 7};

	for (size_t s = 0; s < N(splits); s++) {
		for (uint64_t max = produced - 1; max <= produced + 1; max++) {
			struct smtp_data_limits lim = {max, 0, SMTP_DATA_BARE_NORMALIZE};
			struct smtp_status st;
			struct run res;

			run_split(in, strlen(in), &lim, splits[s], &res);
			assert_int_equal(res.rc, DONE);
			assert_int_equal(res.consumed, strlen(in));
			assert_int_equal(res.r.size, produced);
			if (max < produced) {
				assert_int_equal(res.r.flags, SMTP_DATA_F_TOOBIG);
				assert_true(res.out.len <= max);
				assert_true(smtp_data_status(&res.r, &st));
				assert_int_equal(st.code, 552);
				assert_string_equal(st.enhanced, "5.3.4");
			} else {
				assert_int_equal(res.r.flags, 0);
				assert_int_equal(res.out.len, produced);
				assert_false(smtp_data_status(&res.r, &st));
			}
			buf_fini(&res.out);
		}
	}
}

static void
test_loop_limit(void **state)
{
	const char *three = "Received: 1\r\nReceived: 2\r\nReceived: 3\r\n\r\nx\r\n.\r\n";
	const char *four = "Received: 1\r\nReceived: 2\r\nReceived: 3\r\nReceived: 4\r\n\r\n.\r\n";
	struct smtp_data_limits lim = {0, 3, SMTP_DATA_BARE_NORMALIZE};
	struct smtp_status st;
	struct run res;
	struct buf many;

	/* 2 of 3, 3 of 3: fine; 4 of 3: loop */
	run_split("Received: 1\r\nReceived: 2\r\n\r\n.\r\n", 31, &lim, SIZE_MAX, &res);
	assert_int_equal(res.r.received, 2);
	assert_false(smtp_data_status(&res.r, &st));
	buf_fini(&res.out);
	run_split(three, strlen(three), &lim, SIZE_MAX, &res);
	assert_int_equal(res.r.received, 3);
	assert_int_equal(res.r.flags, 0);
	buf_fini(&res.out);
	run_split(four, strlen(four), &lim, 0, &res);
	assert_int_equal(res.rc, DONE);
	assert_int_equal(res.r.received, 4);
	assert_int_equal(res.r.flags, SMTP_DATA_F_LOOP);
	assert_true(smtp_data_status(&res.r, &st));
	assert_int_equal(st.code, 554);
	assert_string_equal(st.enhanced, "5.4.6");
	buf_fini(&res.out);

	/* default threshold: 100 (RFC 5321 §6.3) */
	buf_init(&many, 0);
	for (int i = 0; i < 100; i++)
		buf_printf(&many, "Received: from hop%d\r\n", i);
	run_split((const char *)many.data, many.len, NULL, 0, &res);
	assert_int_equal(res.r.received, 100);
	assert_int_equal(res.r.flags & SMTP_DATA_F_LOOP, 0);
	assert_int_equal(smtp_data_feed(&res.r, "Received: x\r\n", 13, NULL), MORE);
	assert_int_equal(res.r.flags & SMTP_DATA_F_LOOP, SMTP_DATA_F_LOOP);
	buf_fini(&res.out);
	buf_fini(&many);
}

static void
test_long_line_and_nul(void **state)
{
	for (size_t n = 997; n <= 999; n++) {
		char *in = xmalloc(n + 5);
		struct run res;

		memset(in, 'x', n);
		memcpy(in + n, "\r\n.\r\n", 5);
		run_split(in, n + 5, NULL, 0, &res);
		assert_int_equal(res.rc, DONE);
		assert_int_equal(res.r.max_line, n);
		/* 998 + CRLF = 1000 is the maximum (RFC 5321 §4.5.3.1.6) */
		assert_int_equal(res.r.flags, n > 998 ? SMTP_DATA_F_LONGLINE : 0);
		buf_fini(&res.out);
		free(in);
	}
	{
		struct run res;

		run_split("a\0b\r\n.\r\n", 8, NULL, SIZE_MAX, &res);
		assert_int_equal(res.r.flags, SMTP_DATA_F_NUL);
		assert_int_equal(res.out.len, 5);
		assert_memory_equal(res.out.data, "a\0b\r\n", 5);
		buf_fini(&res.out);
	}
}

static void
test_reject_policy_status(void **state)
{
	struct smtp_data_limits lim = {0, 0, SMTP_DATA_BARE_REJECT};
	struct smtp_status st;
	struct run res;

	run_split("x\ny\r\n.\r\n", 8, &lim, 0, &res);
	assert_true(smtp_data_status(&res.r, &st));
	assert_int_equal(st.code, 550);
	assert_string_equal(st.enhanced, "5.6.0");
	buf_fini(&res.out);
	/* the same input is acceptable when normalising */
	lim.bare = SMTP_DATA_BARE_NORMALIZE;
	run_split("x\ny\r\n.\r\n", 8, &lim, 0, &res);
	assert_false(smtp_data_status(&res.r, &st));
	assert_int_equal(res.r.flags, BARE);
	buf_fini(&res.out);
}

struct sink {
	int calls;
	int fail_at;
	struct buf got;
};

static int
sink_cb(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	if (++s->calls == s->fail_at)
		return MN_EIO;
	return buf_append(&s->got, data, len);
}

static void
test_callback_output_and_error(void **state)
{
	const char *in = "a\r\n..b\r\nc\r\n.\r\n";
	struct smtp_data_reader r;
	struct smtp_status st;
	struct sink s = {0, 0, {0}};
	size_t used;

	buf_init(&s.got, 0);
	smtp_data_init(&r, NULL, sink_cb, &s);
	assert_int_equal(smtp_data_feed(&r, in, strlen(in), &used), DONE);
	assert_int_equal(used, strlen(in));
	assert_int_equal(s.got.len, 10);
	assert_memory_equal(s.got.data, "a\r\n.b\r\nc\r\n", 10);
	/* after DONE the reader refuses more input */
	assert_int_equal(smtp_data_feed(&r, "x", 1, &used), MN_EINVAL);
	assert_int_equal(used, 0);

	/* the first output call fails: no more output, read on to the end */
	buf_reset(&s.got);
	s.calls = 0;
	s.fail_at = 1;
	smtp_data_init(&r, NULL, sink_cb, &s);
	assert_int_equal(smtp_data_feed(&r, in, 5, &used), MORE);
	assert_int_equal(smtp_data_feed(&r, in + 5, strlen(in) - 5, &used), DONE);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.got.len, 0);
	assert_int_equal(r.out_err, MN_EIO);
	assert_int_equal(r.flags, SMTP_DATA_F_OUTERR);
	assert_true(smtp_data_status(&r, &st));
	assert_int_equal(st.code, 451);
	assert_string_equal(st.enhanced, "4.3.0");
	buf_fini(&s.got);
}

static void
test_buf_output_max(void **state)
{
	struct smtp_data_reader r;
	struct buf out;

	buf_init(&out, 4);
	smtp_data_init_buf(&r, NULL, &out);
	assert_int_equal(smtp_data_feed(&r, "abcdef\r\n.\r\n", 11, NULL), DONE);
	assert_int_equal(r.flags, SMTP_DATA_F_OUTERR);
	assert_int_equal(r.out_err, MN_ETOOBIG);
	assert_int_equal(r.size, 8);
	buf_fini(&out);
}

static void
test_null_callback_counts_only(void **state)
{
	struct smtp_data_reader r;
	size_t used;

	smtp_data_init(&r, NULL, NULL, NULL);
	assert_int_equal(smtp_data_feed(&r, "abc\r\n..x\r\n.\r\nNOOP\r\n", 20, &used), DONE);
	assert_int_equal(used, 13);
	assert_int_equal(r.size, 9);
	assert_int_equal(r.flags, 0);
}

static void
test_status_precedence(void **state)
{
	struct smtp_data_reader r;
	struct smtp_status st;

	smtp_data_init(&r, NULL, NULL, NULL);
	r.flags = SMTP_DATA_F_TOOBIG | SMTP_DATA_F_LOOP | SMTP_DATA_F_OUTERR;
	assert_true(smtp_data_status(&r, &st));
	assert_int_equal(st.code, 552);
	r.flags = SMTP_DATA_F_LOOP | SMTP_DATA_F_OUTERR;
	assert_true(smtp_data_status(&r, &st));
	assert_int_equal(st.code, 554);
	r.flags = SMTP_DATA_F_8BIT | SMTP_DATA_F_NUL | SMTP_DATA_F_LONGLINE | SMTP_DATA_F_BARE;
	assert_false(smtp_data_status(&r, &st));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_whole_bytewise_and_split),
	    cmocka_unit_test(test_random_chunks_match_whole),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_loop_limit),
	    cmocka_unit_test(test_long_line_and_nul),
	    cmocka_unit_test(test_reject_policy_status),
	    cmocka_unit_test(test_callback_output_and_error),
	    cmocka_unit_test(test_buf_output_max),
	    cmocka_unit_test(test_null_callback_counts_only),
	    cmocka_unit_test(test_status_precedence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
