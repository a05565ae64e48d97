/*
 * test_tls.c - lib/tls and the TLS paths of lib/conn on a real loop
 * (127.0.0.1, port 0): self-signed generation, implicit TLS echo with a
 * verifying client, STARTTLS mid-session discarding injected plain text
 * (RFC 3207 §4.2), certificate name mismatch, and plain bytes sent to a TLS
 * listener.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/err.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 20000
#define MAXPEERS 4

enum srv_mode {
	SRV_ECHO,         /* greeting "hi\r\n" at accept, then echo */
	SRV_STARTTLS,     /* greeting "READY\r\n"; line protocol with STARTTLS */
	SRV_BIG_GREETING, /* 2 MB + "END\r\n" queued before the handshake */
	SRV_SLOW,         /* input max 16, takes 5 bytes per on_read into got */
};

struct side {
	struct conn *c;
	struct buf got;
	int closes, reason;
	int tls_calls, tls_status;
	char lines[8][32];
	int nlines;
	bool sent_starttls, started_tls;
};

static struct {
	char tmpdir[64];
	char *cert, *key;
	struct tls_ctx *srv_ctx, *cli_ctx;
	uv_loop_t loop;
	struct listener *l;
	uint16_t port;
	enum srv_mode mode;
	struct side srv[MAXPEERS], cli[MAXPEERS];
	int nsrv, ncli;
	const char *servername;
	bool client_tls;
	const char *first_write;
	size_t first_write_len;
	uint8_t *big;
	size_t big_len;
	const char *after_tls_write;
	size_t after_tls_len;
} T;

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static bool
got_contains(struct side *s, const char *needle)
{
	return s->got.len >= strlen(needle) &&
	       memmem(s->got.data, s->got.len, needle, strlen(needle)) != NULL;
}

/* --- server -------------------------------------------------------------- */

static void
srv_on_read(struct conn *c, void *arg)
{
	struct side *s = arg;
	struct buf *in = conn_input(c);
	size_t n, ll;

	if (T.mode == SRV_SLOW) {
		n = in->len < 5 ? in->len : 5;
		assert_true(in->len <= 16);
		assert_int_equal(buf_append(&s->got, in->data, n), 0);
		buf_consume(in, n);
		return;
	}
	if (T.mode == SRV_ECHO) {
		assert_int_equal(conn_write(c, in->data, in->len), 0);
		buf_consume(in, in->len);
		return;
	}
	while ((n = find_line(in->data, in->len, &ll)) > 0) {
		assert_true(s->nlines < 8);
		snprintf(s->lines[s->nlines++], sizeof(s->lines[0]), "%.*s", (int)ll,
		    (const char *)in->data);
		if (ll == 8 && memcmp(in->data, "STARTTLS", 8) == 0) {
			buf_consume(in, n);
			assert_int_equal(conn_write(c, "OK\r\n", 4), 0);
			assert_int_equal(conn_starttls(c, T.srv_ctx), 0);
			/* unconsumed input is gone */
			assert_int_equal(conn_input(c)->len, 0);
			assert_int_equal(conn_starttls(c, T.srv_ctx), MN_EINVAL);
			continue;
		}
		conn_write(c, in->data, n);
		buf_consume(in, n);
	}
}

static void
srv_on_close(struct conn *c, void *arg, int reason)
{
	struct side *s = arg;

	s->closes++;
	s->reason = reason;
	s->c = NULL;
}

static void
srv_on_tls(struct conn *c, void *arg, int status)
{
	struct side *s = arg;

	s->tls_calls++;
	s->tls_status = status;
}

static const struct conn_handler srv_handler = {
    .on_read = srv_on_read,
    .on_close = srv_on_close,
    .on_tls = srv_on_tls,
};

static void
accept_cb(struct conn *c, void *arg)
{
	struct side *s = &T.srv[T.nsrv++];

	s->c = c;
	conn_set_handler(c, &srv_handler, s);
	/* with implicit TLS this waits for the handshake */
	if (T.mode == SRV_ECHO)
		assert_int_equal(conn_write(c, "hi\r\n", 4), 0);
	else if (T.mode == SRV_SLOW)
		conn_set_input_max(c, 16);
	else if (T.mode == SRV_BIG_GREETING) {
		assert_int_equal(conn_write(c, T.big, T.big_len), 0);
		assert_int_equal(conn_write(c, "END\r\n", 5), 0);
		assert_true(conn_pending_output(c) > CONN_OUT_HIGH_WATER);
	} else
		assert_int_equal(conn_write(c, "READY\r\n", 7), 0);
}

/* --- client -------------------------------------------------------------- */

static void
cli_on_read(struct conn *c, void *arg)
{
	struct side *s = arg;
	struct buf *in = conn_input(c);

	assert_int_equal(buf_append(&s->got, in->data, in->len), 0);
	buf_consume(in, in->len);
	if (T.mode != SRV_STARTTLS || !T.client_tls)
		return;
	if (!s->sent_starttls && got_contains(s, "READY\r\n")) {
		s->sent_starttls = true;
		/* One write, one packet: the injected line arrives together
		 * with the command and must be dropped by the server. */
		assert_int_equal(conn_write(c, "STARTTLS\r\nINJECT\r\n", 18), 0);
	} else if (s->sent_starttls && !s->started_tls && got_contains(s, "OK\r\n")) {
		s->started_tls = true;
		assert_int_equal(conn_client_starttls(c, T.cli_ctx, T.servername), 0);
	}
}

static void
cli_on_close(struct conn *c, void *arg, int reason)
{
	struct side *s = arg;

	s->closes++;
	s->reason = reason;
	s->c = NULL;
}

static void
cli_on_tls(struct conn *c, void *arg, int status)
{
	struct side *s = arg;

	s->tls_calls++;
	s->tls_status = status;
	if (status == 0 && T.after_tls_write)
		assert_int_equal(conn_write(c, T.after_tls_write, T.after_tls_len), 0);
}

static const struct conn_handler cli_handler = {
    .on_read = cli_on_read,
    .on_close = cli_on_close,
    .on_tls = cli_on_tls,
};

static void
connect_cb(struct conn *c, int status, void *arg)
{
	struct side *s = &T.cli[T.ncli++];

	assert_int_equal(status, 0);
	s->c = c;
	conn_set_handler(c, &cli_handler, s);
	if (T.first_write)
		assert_int_equal(conn_write(c, T.first_write, T.first_write_len), 0);
	if (T.client_tls && T.mode != SRV_STARTTLS)
		assert_int_equal(conn_client_starttls(c, T.cli_ctx, T.servername), 0);
}

/* --- fixtures ------------------------------------------------------------ */

static int
group_setup(void **state)
{
	struct mn_err err = {0};
	char *dir;

	memset(&T, 0, sizeof(T));
	snprintf(T.tmpdir, sizeof(T.tmpdir), "/tmp/mn_test_tls.XXXXXX");
	assert_non_null(mkdtemp(T.tmpdir));
	dir = xasprintf("%s/shared", T.tmpdir);
	assert_int_equal(tls_ensure_self_signed(dir, "localhost", &T.cert, &T.key, &err), 0);
	free(dir);
	assert_int_equal(tls_server_ctx_new(T.cert, T.key, &T.srv_ctx, &err), 0);
	assert_int_equal(tls_client_ctx_new(T.cert, true, &T.cli_ctx, &err), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	tls_ctx_free(&T.srv_ctx);
	tls_ctx_free(&T.cli_ctx);
	free(T.cert);
	free(T.key);
	nftw(T.tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
start_listener(bool tls)
{
	struct listener_config cfg = {
	    .service = "test", .address = "127.0.0.1", .port = 0, .tls = tls ? T.srv_ctx : NULL};
	struct mn_err err = {0};

	assert_int_equal(listener_start(&T.loop, &cfg, accept_cb, NULL, &T.l, &err), 0);
	T.port = listener_port(T.l);
}

static int
setup(void **state)
{
	T.l = NULL;
	T.mode = SRV_ECHO;
	memset(T.srv, 0, sizeof(T.srv));
	memset(T.cli, 0, sizeof(T.cli));
	for (int i = 0; i < MAXPEERS; i++) {
		buf_init(&T.srv[i].got, 0);
		buf_init(&T.cli[i].got, 0);
	}
	T.nsrv = T.ncli = 0;
	T.servername = "localhost";
	T.client_tls = true;
	T.first_write = T.after_tls_write = NULL;
	T.first_write_len = T.after_tls_len = 0;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	return 0;
}

static int
teardown(void **state)
{
	listener_stop(&T.l);
	conn_close_all();
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	for (int i = 0; i < MAXPEERS; i++) {
		if (i < T.nsrv)
			assert_int_equal(T.srv[i].closes, 1);
		if (i < T.ncli)
			assert_int_equal(T.cli[i].closes, 1);
		buf_fini(&T.srv[i].got);
		buf_fini(&T.cli[i].got);
	}
	return 0;
}

static void
connect_one(void)
{
	assert_int_equal(conn_connect(&T.loop, "127.0.0.1", T.port, 5000, connect_cb, NULL), 0);
}

static bool
cli0_has(void *arg)
{
	return T.ncli > 0 && got_contains(&T.cli[0], arg);
}

static bool
all_closed(void *arg)
{
	for (int i = 0; i < T.nsrv; i++)
		if (T.srv[i].closes == 0)
			return false;
	for (int i = 0; i < T.ncli; i++)
		if (T.cli[i].closes == 0)
			return false;
	return T.nsrv + T.ncli > 0;
}

/* --- tests --------------------------------------------------------------- */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = xcalloc(1, 16384);

	assert_non_null(f);
	assert_true(fread(data, 1, 16383, f) > 0);
	fclose(f);
	return data;
}

static void
test_self_signed_generation(void **state)
{
	struct mn_err err = {0};
	char *dir = xasprintf("%s/a/b/tls", T.tmpdir);
	char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;
	char *pem1, *pem2, *pem3;
	struct tls_ctx *ctx = NULL;
	struct stat st;
	X509 *x;
	FILE *f;
	int days = 0, secs = 0;

	assert_int_equal(tls_ensure_self_signed(dir, "mail1.example.test", &cert, &key, &err), 0);
	assert_true(strncmp(cert, dir, strlen(dir)) == 0);
	assert_string_equal(cert + strlen(dir), "/cert.pem");
	assert_string_equal(key + strlen(dir), "/key.pem");
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cert, &st), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(tls_server_ctx_new(cert, key, &ctx, &err), 0);
	assert_true(tls_ctx_is_server(ctx));
	assert_non_null(tls_ctx_ssl(ctx));
	tls_ctx_free(&ctx);
	assert_null(ctx);

	/* SAN and validity */
	assert_non_null(f = fopen(cert, "r"));
	assert_non_null(x = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	assert_int_equal(X509_check_host(x, "mail1.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other.example.test", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
	assert_true(days >= 3649);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	X509_free(x);

	/* a second start keeps the pair */
	pem1 = slurp(cert);
	assert_int_equal(tls_ensure_self_signed(dir, "mail1.example.test", &cert2, &key2, &err), 0);
	assert_string_equal(cert, cert2);
	assert_string_equal(key, key2);
	pem2 = slurp(cert2);
	assert_string_equal(pem1, pem2);
	free(cert2);
	free(key2);

	/* a lost key means a new pair */
	assert_int_equal(unlink(key), 0);
	assert_int_equal(tls_ensure_self_signed(dir, "mail1.example.test", &cert2, &key2, &err), 0);
	pem3 = slurp(cert2);
	assert_string_not_equal(pem1, pem3);
	assert_int_equal(tls_server_ctx_new(cert2, key2, &ctx, &err), 0);
	tls_ctx_free(&ctx);
	free(cert2);
	free(key2);

	/* names that would inject into the SAN string are refused */
	cert2 = key2 = NULL;
	assert_int_equal(
	    tls_ensure_self_signed(dir, "a,IP:1.2.3.4", &cert2, &key2, &err), MN_EINVAL);
	assert_null(cert2);
	assert_int_equal(tls_ensure_self_signed(dir, "", &cert2, &key2, &err), MN_EINVAL);

	/* mismatched key and certificate */
	assert_int_equal(tls_server_ctx_new(cert, T.key, &ctx, &err), MN_ETLS);
	assert_null(ctx);
	assert_int_equal(tls_server_ctx_new("/nonexistent/cert.pem", key, &ctx, &err), MN_ETLS);
	assert_non_null(strstr(err.msg, "/nonexistent/cert.pem"));

	free(pem1);
	free(pem2);
	free(pem3);
	free(cert);
	free(key);
	free(dir);
}

static void
test_implicit_tls_echo(void **state)
{
	static const char hello[] = "hello over tls\r\n";
	struct conn *sc, *cc;

	start_listener(true);
	T.after_tls_write = hello;
	T.after_tls_len = sizeof(hello) - 1;
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_has, "hi\r\nhello over tls\r\n", WAIT_MS));
	assert_int_equal(T.cli[0].got.len, 4 + sizeof(hello) - 1);
	sc = T.srv[0].c;
	cc = T.cli[0].c;
	assert_true(conn_is_tls(sc));
	assert_true(conn_is_tls(cc));
	assert_int_equal(T.srv[0].tls_calls, 1);
	assert_int_equal(T.srv[0].tls_status, 0);
	assert_int_equal(T.cli[0].tls_calls, 1);
	assert_int_equal(T.cli[0].tls_status, 0);
	assert_true(strncmp(conn_tls_info(sc), "TLSv1.3 TLS_", 12) == 0);
	assert_string_equal(conn_tls_info(sc), conn_tls_info(cc));
	assert_int_equal(conn_client_starttls(cc, T.cli_ctx, "localhost"), MN_EINVAL);

	/* 2 MB through the record layer both ways */
	{
		size_t len = 2 * 1024 * 1024, want;
		uint8_t *big = malloc(len);
		char *tail = "END\r\n";

		for (size_t i = 0; i < len; i++)
			big[i] = (uint8_t)('a' + i % 23);
		assert_int_equal(conn_write(cc, big, len), 0);
		assert_int_equal(conn_write(cc, tail, 5), 0);
		want = T.cli[0].got.len + len + 5;
		assert_true(uv_wait_until(&T.loop, cli0_has, "END\r\n", WAIT_MS));
		assert_int_equal(T.cli[0].got.len, want);
		assert_memory_equal(T.cli[0].got.data + 4 + sizeof(hello) - 1, big, len);
		free(big);
	}

	conn_close(cc);
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].reason, 0);
	assert_int_equal(T.cli[0].reason, 0);
}

static void
test_output_above_high_water_before_handshake(void **state)
{
	T.big_len = 2 * 1024 * 1024;
	T.big = malloc(T.big_len);
	for (size_t i = 0; i < T.big_len; i++)
		T.big[i] = (uint8_t)(i % 251);
	T.mode = SRV_BIG_GREETING;
	start_listener(true);
	connect_one();
	/* the handshake still reads although the queue is past the mark */
	assert_true(uv_wait_until(&T.loop, cli0_has, "END\r\n", WAIT_MS));
	assert_int_equal(T.cli[0].got.len, T.big_len + 5);
	assert_memory_equal(T.cli[0].got.data, T.big, T.big_len);
	assert_int_equal(conn_pending_output(T.srv[0].c), 0);
	free(T.big);
	T.big = NULL;
}

static bool
srv0_got(void *arg)
{
	return T.nsrv == 1 && T.srv[0].got.len >= *(size_t *)arg;
}

static void
test_slow_consumer_small_input_max_over_tls(void **state)
{
	static char data[3000];
	size_t want = sizeof(data);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('0' + i % 10);
	T.mode = SRV_SLOW;
	T.after_tls_write = data;
	T.after_tls_len = sizeof(data);
	start_listener(true);
	connect_one();
	assert_true(uv_wait_until(&T.loop, srv0_got, &want, WAIT_MS));
	assert_int_equal(T.srv[0].got.len, sizeof(data));
	assert_memory_equal(T.srv[0].got.data, data, sizeof(data));
}

static void
test_certificate_name_mismatch_fails_client(void **state)
{
	start_listener(true);
	T.servername = "wrong.example.test";
	T.after_tls_write = "x\r\n";
	T.after_tls_len = 3;
	connect_one();
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.cli[0].tls_calls, 1);
	assert_int_equal(T.cli[0].tls_status, MN_ETLS);
	assert_int_equal(T.cli[0].reason, MN_ETLS);
	assert_int_equal(T.cli[0].got.len, 0);
	assert_int_not_equal(T.srv[0].reason, 0);
	assert_false(got_contains(&T.srv[0], "x"));
}

static void
test_starttls_mid_session_discards_injected_input(void **state)
{
	T.mode = SRV_STARTTLS;
	start_listener(false);
	T.after_tls_write = "AFTER\r\n";
	T.after_tls_len = 7;
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_has, "AFTER\r\n", WAIT_MS));
	assert_int_equal(T.cli[0].got.len, 7 + 4 + 7);
	assert_memory_equal(T.cli[0].got.data, "READY\r\nOK\r\nAFTER\r\n", 18);
	assert_int_equal(T.srv[0].nlines, 2);
	assert_string_equal(T.srv[0].lines[0], "STARTTLS");
	assert_string_equal(T.srv[0].lines[1], "AFTER");
	assert_true(conn_is_tls(T.srv[0].c));
	assert_true(conn_is_tls(T.cli[0].c));
	assert_int_equal(T.srv[0].tls_status, 0);
	conn_close(T.srv[0].c);
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].reason, 0);
	assert_int_equal(T.cli[0].reason, 0);
}

static void
test_plain_bytes_to_tls_listener_close_cleanly(void **state)
{
	start_listener(true);
	T.client_tls = false;
	T.first_write = "EHLO client.example.test\r\n";
	T.first_write_len = strlen(T.first_write);
	connect_one();
	assert_true(uv_wait_until(&T.loop, all_closed, NULL, WAIT_MS));
	assert_int_equal(T.srv[0].tls_calls, 1);
	assert_int_equal(T.srv[0].tls_status, MN_ETLS);
	assert_int_equal(T.srv[0].reason, MN_ETLS);
	/* the greeting queued at accept never went out in clear */
	assert_false(got_contains(&T.cli[0], "hi"));
	assert_int_equal(T.cli[0].tls_calls, 0);
}

static void
test_starttls_argument_checks(void **state)
{
	start_listener(false);
	T.client_tls = false;
	T.first_write = "x\r\n";
	T.first_write_len = 3;
	connect_one();
	assert_true(uv_wait_until(&T.loop, cli0_has, "x\r\n", WAIT_MS));
	/* server ctx on the client side and the reverse are refused */
	assert_int_equal(conn_client_starttls(T.cli[0].c, T.srv_ctx, NULL), MN_EINVAL);
	assert_int_equal(conn_starttls(T.srv[0].c, T.cli_ctx), MN_EINVAL);
	assert_false(conn_is_tls(T.cli[0].c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self_signed_generation),
	    cmocka_unit_test_setup_teardown(test_implicit_tls_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_output_above_high_water_before_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_slow_consumer_small_input_max_over_tls, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_certificate_name_mismatch_fails_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_starttls_mid_session_discards_injected_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_plain_bytes_to_tls_listener_close_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_argument_checks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
