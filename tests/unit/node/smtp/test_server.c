/*
 * test_server.c - SMTP sessions against the real server on loopback, with an
 * in-memory directory and a temp spool (no mail store: no quota check). A
 * client thread plays a scripted dialogue with a blocking socket while the
 * test thread runs the loop. Checks the replies and what lands in the spool:
 * envelope with the DSN parameters, Received: header, unstuffed message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/smtp/server.h"
#include "storage/spool/spool.h"
#include "tests/support/uv_wait.h"
#include "tests/unit/storage/directory/dir_test_util.h"

struct fixture {
	char tmpdir[64];
	uv_loop_t loop;
	struct mn_config cfg;
	struct directory *dir;
	struct spool *spool;
	struct smtp_server *srv;
	char queued[4][SPOOL_ID_LEN + 1];
	int nqueued;
};

struct client {
	uint16_t port;
	const char *script; /* sent in one write */
	char got[65536];    /* everything read until the server closed */
	size_t len;
	volatile int done;
};

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
on_queued(void *arg, const char *id)
{
	struct fixture *f = arg;

	if (f->nqueued < 4)
		snprintf(f->queued[f->nqueued++], SPOOL_ID_LEN + 1, "%s", id);
}

static uint16_t
free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
apply(struct directory *d, const char *line)
{
	struct mn_err err;
	size_t len;
	uint8_t *p = dt_pack(line, 1700000000, &len);

	assert_int_equal(directory_apply_packed(d, p, len, &err), 0);
	free(p);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct smtp_server_config sc;
	struct mn_err err;

	strcpy(f->tmpdir, "/tmp/mn_smtpd_XXXXXX");
	assert_non_null(mkdtemp(f->tmpdir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	config_defaults(&f->cfg);
	f->cfg.hostname = xstrdup("mx.test");
	f->cfg.listen_address = xstrdup("127.0.0.1");
	f->cfg.smtp_port = free_port();
	f->cfg.submission_port = f->cfg.smtps_port = 0;
	f->cfg.smtp_max_errors = 5;
	assert_int_equal(directory_open(":memory:", &f->dir, &err), 0);
	apply(f->dir, "domain_add a.test");
	apply(f->dir, "user_add bob@a.test");
	apply(f->dir, "alias_add team@a.test bob@a.test");
	assert_int_equal(spool_open(f->tmpdir, &f->spool, &err), 0);
	memset(&sc, 0, sizeof(sc));
	sc.cfg = &f->cfg;
	sc.dir = f->dir;
	sc.spool = f->spool;
	sc.on_queued = on_queued;
	sc.arg = f;
	assert_int_equal(smtp_server_start(&f->loop, &sc, &f->srv, &err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	smtp_server_stop(&f->srv);
	assert_int_equal(uv_wait_drain(&f->loop, 10000), 0);
	spool_close(&f->spool);
	directory_close(&f->dir);
	config_free(&f->cfg);
	nftw(f->tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(c->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		size_t n = strlen(c->script);

		if (write(fd, c->script, n) == (ssize_t)n) {
			ssize_t r;

			while (c->len < sizeof(c->got) - 1 &&
			       (r = read(fd, c->got + c->len, sizeof(c->got) - 1 - c->len)) > 0)
				c->len += (size_t)r;
		}
	}
	c->got[c->len] = '\0';
	close(fd);
	__atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static bool
client_done(void *arg)
{
	struct client *c = arg;

	return __atomic_load_n(&c->done, __ATOMIC_SEQ_CST) != 0;
}

/* run the script (one write; the server must close at the end) */
static void
run_client(struct fixture *f, struct client *c, const char *script)
{
	pthread_t t;

	memset(c, 0, sizeof(*c));
	c->port = f->cfg.smtp_port;
	c->script = script;
	assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
	assert_true(uv_wait_until(&f->loop, client_done, c, 20000));
	pthread_join(t, NULL);
}

/* the reply codes of every final reply line, space separated */
static void
codes(const char *got, char *out, size_t outlen)
{
	const char *p = got;

	out[0] = '\0';
	while (*p != '\0') {
		const char *nl = strstr(p, "\r\n");

		if (nl == NULL)
			break;
		if (nl - p >= 4 && p[3] == ' ') {
			strncat(out, p, 3);
			strncat(out, " ", outlen - strlen(out) - 1);
		}
		p = nl + 2;
	}
}

static void
test_pipelined_transaction_into_spool(void **state)
{
	struct fixture *f = *state;
	struct client c;
	char cs[256];
	struct spool_env env;
	struct mn_err err;
	struct buf msg;
	const char *body;
	const char *received =
	    "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (mailnode) with ESMTP id ";

	run_client(f, &c,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<s@r.test> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=abc+2Bdef\r\n"
	    "RCPT TO:<Bob@A.TEST> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+40a.test\r\n"
	    "RCPT TO:<x@remote.test>\r\n"
	    "RCPT TO:<none@a.test>\r\n"
	    "RCPT TO:<team@a.test>\r\n"
	    "RCPT TO:<bob@a.test>\r\n"
	    "DATA\r\n"
	    "Subject: t\r\n\r\n..dot\r\nline\r\n.\r\n"
	    "QUIT\r\n");
	codes(c.got, cs, sizeof(cs));
	assert_string_equal(cs, "220 250 250 250 553 550 250 250 354 250 221 ");
	assert_non_null(strstr(c.got, "\r\n553 5.7.1 sorry, you don't authenticate or the domain "
	                              "isn't in my list of allowed rcpthosts(#5.7.1)\r\n"));
	assert_non_null(strstr(c.got, "250-AUTH PLAIN LOGIN\r\n")); /* loopback */
	assert_null(strstr(c.got, "STARTTLS"));                     /* no TLS context */
	assert_int_equal(f->nqueued, 1);
	assert_non_null(strstr(c.got, f->queued[0]));

	assert_int_equal(spool_read_env(f->spool, f->queued[0], &env, &err), 0);
	assert_string_equal(env.sender, "s@r.test");
	assert_string_equal(env.envid, "abc+def");
	assert_int_equal(env.ret, SPOOL_RET_HDRS);
	assert_true(env.eightbit);
	assert_string_equal(env.client_ip, "127.0.0.1");
	assert_null(env.auth_user);
	assert_int_equal(env.nrcpts, 2); /* bob once, the alias as given */
	assert_string_equal(env.rcpts[0].address, "bob@a.test");
	assert_int_equal(env.rcpts[0].notify, 0x2u | 0x4u);
	assert_string_equal(env.rcpts[0].orcpt, "rfc822;Bob+40a.test");
	assert_string_equal(env.rcpts[1].address, "team@a.test");

	buf_init(&msg, 1 << 20);
	assert_int_equal(spool_read_message(f->spool, &env, &msg, &err), 0);
	buf_cstr(&msg);
	assert_true(strncmp((char *)msg.data, received, strlen(received)) == 0);
	assert_non_null(strstr((char *)msg.data, f->queued[0]));
	body = strstr((char *)msg.data, "\r\nSubject: t\r\n");
	assert_non_null(body);
	assert_string_equal(body + 2, "Subject: t\r\n\r\n.dot\r\nline\r\n");
	buf_fini(&msg);
	spool_env_fini(&env);
}

static void
test_sequence_errors_and_limits(void **state)
{
	struct fixture *f = *state;
	struct client c;
	char cs[256];

	/* MAIL before HELO, RCPT before MAIL, DATA before MAIL, a bad command,
	 * the 5th error closes (max_errors = 5 here) */
	run_client(f, &c,
	    "MAIL FROM:<a@r.test>\r\nEHLO c.test\r\nRCPT TO:<bob@a.test>\r\nDATA\r\n"
	    "NOOP\r\nVRFY bob\r\nMAIL FROM:<a@r.test>\r\nMAIL FROM:<a@r.test>\r\nXYZZY\r\n"
	    "NOOP\r\n");
	codes(c.got, cs, sizeof(cs));
	assert_string_equal(cs, "220 503 250 503 503 250 252 250 503 500 421 ");
	assert_int_equal(f->nqueued, 0);
}

static void
test_long_line_and_auth(void **state)
{
	struct fixture *f = *state;
	struct client c;
	char cs[256];
	char *script;
	char *longline = xmalloc(100 * 1024 + 1);

	memset(longline, 'x', 100 * 1024);
	longline[100 * 1024] = '\0';
	/* "secret" is DT_HASH's password; AGJvYkBhLnRlc3QAc2VjcmV0 = \0bob@a.test\0secret */
	script =
	    xasprintf("EHLO c.test\r\nNOOP %s\r\nNOOP\r\n"
	              "AUTH PLAIN AGJvYkBhLnRlc3QAd3Jvbmc=\r\n"
	              "AUTH PLAIN AGJvYkBhLnRlc3QAc2VjcmV0\r\n"
	              "MAIL FROM:<bob@a.test>\r\nRCPT TO:<far@remote.test>\r\nRSET\r\n"
	              "MAIL FROM:<team@a.test>\r\nRSET\r\nMAIL FROM:<other@a.test>\r\nQUIT\r\n",
	        longline);
	run_client(f, &c, script);
	codes(c.got, cs, sizeof(cs));
	/* line too long, then served; wrong password; right one; relay allowed
	 * when authenticated; an alias of the user may be the sender, another
	 * address may not */
	assert_string_equal(cs, "220 250 500 250 535 235 250 250 250 250 250 553 221 ");
	assert_non_null(strstr(c.got, "\r\n500 5.5.2 "));
	assert_non_null(strstr(c.got, "\r\n535 5.7.8 "));
	free(script);
	free(longline);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pipelined_transaction_into_spool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sequence_errors_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_line_and_auth, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
