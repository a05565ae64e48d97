/*
 * test_remote.c - node/delivery/remote + smtp_client on a real libuv loop
 * against a scripted fake SMTP server (lib/conn listener on 127.0.0.1,
 * port 0), jobs sent there through [delivery] mx_override, relay_host, or
 * MX records from a tiny DNS responder: DATA byte-exact with dot-stuffing
 * (small and 3 MB through back-pressure), ESMTP parameters, per-recipient
 * 4xx/5xx, DATA refused, STARTTLS used, handshake failure retried in
 * plaintext, connection dropped mid-DATA, connect refused, smarthost AUTH
 * PLAIN only under TLS, SMTPUTF8 refusal, the reply parser whole and byte
 * by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/conn.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "node/delivery/remote.h"
#include "node/delivery/smtp_client.h"
#include "tests/support/uv_wait.h"

#define WAIT_MS 30000

/* --- the fake server ------------------------------------------------------ */

struct script {
	const char *banner; /* default "220 fake.test ESMTP" */
	bool starttls;      /* offer STARTTLS */
	bool break_tls;     /* answer 220 to STARTTLS, then talk garbage */
	bool auth;          /* offer AUTH PLAIN LOGIN */
	bool dsn, smtputf8, eightbit;
	uint64_t size;           /* SIZE advertised (0: SIZE without limit) */
	bool ehlo_fails;         /* 502 to EHLO */
	const char *data_reply;  /* reply to DATA (default 354) */
	const char *final_reply; /* after the dot (default 250 2.0.0 ok queued) */
	size_t drop_after_data;  /* abort after this many data bytes (0: never) */
	const char *mute;        /* never answer a command starting with this */
	bool no_pipelining;      /* do not advertise PIPELINING */
	bool dumb_data;          /* 354 to DATA even without an accepted RCPT */
	const char *mail_reply;  /* reply to MAIL (default 250 2.1.0 ok) */
};

struct fsess {
	struct conn *c;
	int rcpts_ok;
	bool in_data;
	bool tls;
};

static struct {
	uv_loop_t loop;
	struct listener *l;
	uint16_t port;
	struct tls_ctx *srv_tls;
	char tmpdir[64];
	char *msg_path;
	struct script sc;
	struct buf transcript; /* every command line received, "\n"-joined */
	struct buf data;       /* raw DATA bytes as received (stuffed) */
	int conns;
	int tls_conns;
	bool mail_under_tls;
	char auth_line[256];
	bool auth_under_tls;
	struct fsess sess[8];
	/* client */
	struct remote_ctx *ctx;
	struct mn_config cfg;
	int done;
	struct remote_job *done_job;
	uint32_t keep_ms;
	uint32_t cmd_timeout_ms;
} T;

static void
srv_reply(struct conn *c, const char *s)
{
	conn_printf(c, "%s\r\n", s);
}

static void
srv_on_read(struct conn *c, void *arg)
{
	struct fsess *fs = arg;
	struct buf *in = conn_input(c);
	size_t ll, n;

	while (!conn_is_closing(c) && (n = find_line(in->data, in->len, &ll)) > 0) {
		char line[1024];

		if (fs->in_data) {
			if (n == 3 && memcmp(in->data, ".\r\n", 3) == 0) {
				fs->in_data = false;
				buf_consume(in, n);
				srv_reply(
				    c, T.sc.final_reply ? T.sc.final_reply : "250 2.0.0 ok queued");
				continue;
			}
			assert_int_equal(buf_append(&T.data, in->data, n), 0);
			buf_consume(in, n);
			if (T.sc.drop_after_data && T.data.len >= T.sc.drop_after_data) {
				conn_abort(c);
				return;
			}
			continue;
		}
		snprintf(line, sizeof(line), "%.*s", (int)ll, (const char *)in->data);
		buf_consume(in, n);
		buf_printf(&T.transcript, "%s\n", line);
		if (T.sc.mute && strncasecmp(line, T.sc.mute, strlen(T.sc.mute)) == 0)
			continue;
		if (strncasecmp(line, "EHLO ", 5) == 0) {
			if (T.sc.ehlo_fails) {
				srv_reply(c, "502 5.5.1 no EHLO here");
				continue;
			}
			conn_printf(c, "250-fake.test hello\r\n");
			if (T.sc.starttls && !fs->tls)
				conn_printf(c, "250-STARTTLS\r\n");
			if (T.sc.auth)
				conn_printf(c, "250-AUTH LOGIN PLAIN\r\n");
			if (T.sc.dsn)
				conn_printf(c, "250-DSN\r\n");
			if (T.sc.smtputf8)
				conn_printf(c, "250-SMTPUTF8\r\n");
			if (T.sc.eightbit)
				conn_printf(c, "250-8BITMIME\r\n");
			if (T.sc.size)
				conn_printf(c, "250-SIZE %llu\r\n", (unsigned long long)T.sc.size);
			conn_printf(c, T.sc.no_pipelining ? "250 HELP\r\n" : "250 PIPELINING\r\n");
		} else if (strncasecmp(line, "HELO ", 5) == 0) {
			srv_reply(c, "250 fake.test");
		} else if (strcasecmp(line, "STARTTLS") == 0) {
			srv_reply(c, "220 2.0.0 go ahead");
			if (T.sc.break_tls) {
				conn_printf(c, "this is not a TLS record at all\r\n");
				conn_close(c);
				return;
			}
			assert_int_equal(conn_starttls(c, T.srv_tls), 0);
			fs->tls = true;
			T.tls_conns++;
			return;
		} else if (strncasecmp(line, "AUTH ", 5) == 0) {
			snprintf(T.auth_line, sizeof(T.auth_line), "%.200s", line);
			T.auth_under_tls = conn_is_tls(c);
			srv_reply(c, "235 2.7.0 ok");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			T.mail_under_tls = conn_is_tls(c);
			fs->rcpts_ok = 0;
			srv_reply(c, T.sc.mail_reply ? T.sc.mail_reply : "250 2.1.0 ok");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (strstr(line, "temp"))
				srv_reply(c, "450-4.2.1 mailbox busy\r\n450 4.2.1 try again later");
			else if (strstr(line, "perm"))
				srv_reply(c, "550 5.1.1 <perm@remote.test>: no such user");
			else {
				srv_reply(c, "250 2.1.5 ok");
				fs->rcpts_ok++;
			}
		} else if (strcasecmp(line, "DATA") == 0) {
			const char *r = T.sc.data_reply ? T.sc.data_reply : "354 go ahead";

			if (fs->rcpts_ok == 0 && !T.sc.dumb_data)
				r = "554 5.5.1 no valid recipients";

			srv_reply(c, r);
			fs->in_data = r[0] == '3';
		} else if (strcasecmp(line, "QUIT") == 0) {
			srv_reply(c, "221 2.0.0 bye");
			conn_close(c);
			return;
		} else if (strcasecmp(line, "RSET") == 0) {
			srv_reply(c, "250 ok");
		} else {
			srv_reply(c, "500 5.5.1 what?");
		}
	}
}

static void
srv_on_close(struct conn *c, void *arg, int reason)
{
	struct fsess *fs = arg;

	fs->c = NULL;
}

static const struct conn_handler srv_handler = {
    .on_read = srv_on_read,
    .on_close = srv_on_close,
};

static void
srv_accept(struct conn *c, void *arg)
{
	struct fsess *fs = &T.sess[T.conns % 8];

	T.conns++;
	memset(fs, 0, sizeof(*fs));
	fs->c = c;
	conn_set_handler(c, &srv_handler, fs);
	conn_set_input_max(c, 1 << 20);
	if (T.sc.drop_after_data)
		assert_int_equal(conn_set_sockbuf(c, 0, 16384), 0);
	srv_reply(c, T.sc.banner ? T.sc.banner : "220 fake.test ESMTP");
}

/* --- fixtures ------------------------------------------------------------- */

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
write_message(const char *prefix, const void *msg, size_t len)
{
	int fd = open(T.msg_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, prefix, strlen(prefix)), (ssize_t)strlen(prefix));
	assert_int_equal(write(fd, msg, len), (ssize_t)len);
	close(fd);
}

static int
setup(void **state)
{
	struct listener_config lc = {.service = "fake-mx", .address = "127.0.0.1", .port = 0};
	struct mn_err err;
	char *cert, *key;

	memset(&T, 0, sizeof(T));
	log_set_level(getenv("MN_TEST_DEBUG") ? LOG_DEBUG : LOG_ERROR);
	assert_int_equal(uv_loop_init(&T.loop), 0);
	snprintf(T.tmpdir, sizeof(T.tmpdir), "/tmp/mn-remote-XXXXXX");
	assert_non_null(mkdtemp(T.tmpdir));
	T.msg_path = xasprintf("%s/msg", T.tmpdir);
	{
		char *tlsdir = xasprintf("%s/tls", T.tmpdir);

		assert_int_equal(tls_ensure_self_signed(tlsdir, "fake.test", &cert, &key, &err), 0);
		assert_int_equal(tls_server_ctx_new(cert, key, &T.srv_tls, &err), 0);
		free(tlsdir);
		free(cert);
		free(key);
	}
	assert_int_equal(listener_start(&T.loop, &lc, srv_accept, NULL, &T.l, &err), 0);
	T.port = listener_port(T.l);
	buf_init(&T.transcript, 0);
	buf_init(&T.data, 0);
	config_defaults(&T.cfg);
	T.cfg.hostname = xstrdup("client.example.test");
	T.cfg.delivery_mx_override = xasprintf("127.0.0.1:%u", T.port);
	return 0;
}

static int
teardown(void **state)
{
	remote_ctx_free(&T.ctx);
	listener_stop(&T.l);
	conn_close_all();
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	tls_ctx_free(&T.srv_tls);
	config_free(&T.cfg);
	buf_fini(&T.transcript);
	buf_fini(&T.data);
	nftw(T.tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(T.msg_path);
	return 0;
}

static void
make_ctx(void)
{
	struct mn_err err;

	assert_int_equal(remote_ctx_new(&T.loop, &T.cfg, &T.ctx, &err), 0);
	remote_ctx_set_timeouts(T.ctx, 5000, T.cmd_timeout_ms ? T.cmd_timeout_ms : 10000, 10000);
	remote_ctx_set_keep(T.ctx, T.keep_ms); /* 0 unless a test sets it */
}

static void
done_cb(struct remote_job *job, void *arg)
{
	T.done++;
	T.done_job = job;
}

static bool
is_done(void *arg)
{
	return T.done > 0;
}

static bool
server_idle(void *arg)
{
	for (int i = 0; i < 8; i++)
		if (T.sess[i].c != NULL)
			return false;
	return true;
}

/* run - deliver job and wait for the callback and the server to finish */
static void
run(struct remote_job *job)
{
	T.done = 0;
	if (T.ctx == NULL)
		make_ctx();
	assert_int_equal(remote_deliver(T.ctx, job, done_cb, NULL), 0);
	assert_int_equal(T.done, 0); /* never from inside the call */
	assert_true(uv_wait_until(&T.loop, is_done, NULL, WAIT_MS));
	assert_int_equal(T.done, 1);
	assert_ptr_equal(T.done_job, job);
	assert_int_equal(remote_ctx_pending(T.ctx), 0);
	if (T.keep_ms == 0)
		assert_true(uv_wait_until(&T.loop, server_idle, NULL, WAIT_MS));
}

static struct remote_job
job_for(struct remote_rcpt *rcpts, size_t n, size_t size)
{
	struct remote_job j = {
	    .sender = "alice@example.test",
	    .domain = "remote.test",
	    .rcpts = rcpts,
	    .nrcpts = n,
	    .message_path = T.msg_path,
	    .message_offset = 7, /* after "PREFIX\n" */
	    .size = size,
	};

	return j;
}

/* stuff - what the wire must carry for msg (RFC 5321 §4.5.2) */
static void
stuff(struct buf *out, const char *msg, size_t len)
{
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (bol && msg[i] == '.')
			buf_append(out, ".", 1);
		buf_append(out, msg + i, 1);
		bol = msg[i] == '\n';
	}
	if (len > 0 && msg[len - 1] != '\n')
		buf_append(out, "\r\n", 2);
}

/* --- tests ---------------------------------------------------------------- */

static const char small_msg[] = "From: alice@example.test\r\n"
                                "To: bob@remote.test\r\n"
                                "Subject: dots\r\n"
                                "\r\n"
                                ".leading dot\r\n"
                                "..two dots\r\n"
                                "middle . dot\r\n"
                                ".\r\n"
                                "last line\r\n";

static void
test_success_dot_stuffing_and_params(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test",
	                              .notify = "FAILURE,DELAY",
	                              .orcpt = "rfc822;bob@remote.test"},
	    {.address = "carol@remote.test"}};
	struct remote_job j = job_for(r, 2, sizeof(small_msg) - 1);
	struct buf want;
	char expect[2048];

	T.sc.dsn = T.sc.eightbit = true;
	T.sc.size = 1000000;
	j.eightbit = true;
	j.envid = "ENV1";
	j.ret = "HDRS";
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].outcome, REMOTE_DELIVERED);
		assert_string_equal(r[i].reply, "250 2.0.0 ok queued");
		assert_string_equal(r[i].remote_mta, "127.0.0.1");
	}
	buf_init(&want, 0);
	stuff(&want, small_msg, sizeof(small_msg) - 1);
	assert_int_equal(T.data.len, want.len);
	assert_memory_equal(T.data.data, want.data, want.len);
	buf_fini(&want);
	snprintf(expect, sizeof(expect),
	    "EHLO client.example.test\n"
	    "MAIL FROM:<alice@example.test> SIZE=%zu BODY=8BITMIME RET=HDRS ENVID=ENV1\n"
	    "RCPT TO:<bob@remote.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@remote.test\n"
	    "RCPT TO:<carol@remote.test>\n"
	    "DATA\n"
	    "QUIT\n",
	    sizeof(small_msg) - 1);
	assert_string_equal(buf_cstr(&T.transcript), expect);
	assert_int_equal(T.conns, 1);
}

static void
test_params_only_when_advertised(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test", .notify = "NEVER"}};
	/* no final CRLF in the spool: one is added before the dot */
	static const char msg[] = "Subject: x\r\n\r\nno newline at end";
	struct remote_job j = job_for(r, 1, sizeof(msg) - 1);

	j.eightbit = true;
	j.envid = "E";
	j.ret = "FULL";
	j.sender = "";             /* null reverse path (a bounce) */
	T.sc.no_pipelining = true; /* and one command at a time */
	write_message("PREFIX\n", msg, sizeof(msg) - 1);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "MAIL FROM:<>\n"
	                                             "RCPT TO:<bob@remote.test>\n"
	                                             "DATA\n"
	                                             "QUIT\n");
	assert_string_equal(buf_cstr(&T.data), "Subject: x\r\n\r\nno newline at end\r\n");
}

static void
big_message(bool tls)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	size_t len = 3 * 1024 * 1024 + 17;
	char *msg = xmalloc(len);
	struct remote_job j;
	struct buf want;

	/* lines of varying length, every seventh starting with a dot */
	for (size_t i = 0, line = 0; i < len;) {
		size_t ll = 20 + (line * 37) % 200;

		for (size_t k = 0; k < ll && i < len; k++, i++)
			msg[i] = k == 0 && line % 7 == 0 ? '.' : (char)('a' + (i + line) % 26);
		if (i < len)
			msg[i++] = '\r';
		if (i < len)
			msg[i++] = '\n';
		line++;
	}
	j = job_for(r, 1, len);
	write_message("PREFIX\n", msg, len);
	T.sc.starttls = tls;
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.mail_under_tls, tls);
	buf_init(&want, 0);
	stuff(&want, msg, len);
	assert_true(want.len > len);
	assert_int_equal(T.data.len, want.len);
	assert_memory_equal(T.data.data, want.data, want.len);
	buf_fini(&want);
	free(msg);
}

static void
test_big_message_through_backpressure(void **state)
{
	big_message(false);
}

static void
test_big_message_over_tls(void **state)
{
	big_message(true);
}

static void
test_rcpt_4xx_and_5xx(void **state)
{
	struct remote_rcpt r[] = {{.address = "temp@remote.test"}, {.address = "perm@remote.test"},
	    {.address = "ok@remote.test"}};
	struct remote_job j = job_for(r, 3, sizeof(small_msg) - 1);

	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r[0].reply, "450 4.2.1 mailbox busy 4.2.1 try again later");
	assert_string_equal(r[0].remote_mta, "127.0.0.1");
	assert_int_equal(r[1].outcome, REMOTE_PERMFAIL);
	assert_string_equal(r[1].reply, "550 5.1.1 <perm@remote.test>: no such user");
	assert_int_equal(r[2].outcome, REMOTE_DELIVERED);
	assert_non_null(strstr(buf_cstr(&T.transcript), "\nDATA\n"));

	/* nobody accepted, pipelined: DATA went with the group, the server
	 * refuses it and nothing is sent */
	struct remote_rcpt r2[] = {
	    {.address = "perm@remote.test"}, {.address = "temp@remote.test"}};
	j = job_for(r2, 2, sizeof(small_msg) - 1);
	buf_reset(&T.transcript);
	buf_reset(&T.data);
	run(&j);
	assert_int_equal(r2[0].outcome, REMOTE_PERMFAIL);
	assert_int_equal(r2[1].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r2[1].reply, "450 4.2.1 mailbox busy 4.2.1 try again later");
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<perm@remote.test>\n"
	                                             "RCPT TO:<temp@remote.test>\n"
	                                             "DATA\n"
	                                             "QUIT\n");
	/* a server that says 354 anyway gets an empty message (RFC 2920
	 * §3.1) and the outcomes stand */
	T.sc.dumb_data = true;
	buf_reset(&T.transcript);
	run(&j);
	assert_int_equal(r2[0].outcome, REMOTE_PERMFAIL);
	assert_int_equal(r2[1].outcome, REMOTE_TEMPFAIL);
	assert_int_equal(T.data.len, 0);
	assert_non_null(strstr(buf_cstr(&T.transcript), "DATA\nQUIT\n"));
	/* without PIPELINING: one command at a time, and no DATA */
	T.sc.no_pipelining = true;
	buf_reset(&T.transcript);
	run(&j);
	assert_int_equal(r2[0].outcome, REMOTE_PERMFAIL);
	assert_int_equal(r2[1].outcome, REMOTE_TEMPFAIL);
	assert_null(strstr(buf_cstr(&T.transcript), "DATA"));
}

static void
test_mail_refused(void **state)
{
	struct remote_rcpt r[] = {{.address = "a@remote.test"}, {.address = "b@remote.test"}};
	struct remote_job j = job_for(r, 2, sizeof(small_msg) - 1);

	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	for (int pipe = 0; pipe < 2; pipe++) {
		T.sc.no_pipelining = pipe == 0;
		T.sc.mail_reply = "553 5.7.1 sender rejected";
		run(&j);
		assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
		assert_int_equal(r[1].outcome, REMOTE_PERMFAIL);
		assert_string_equal(r[1].reply, "553 5.7.1 sender rejected");
		T.sc.mail_reply = "451 4.7.1 greylisted";
		run(&j);
		assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
		assert_string_equal(r[0].reply, "451 4.7.1 greylisted");
		assert_int_equal(T.data.len, 0);
	}
}

static void
test_data_refused(void **state)
{
	struct remote_rcpt r[] = {{.address = "a@remote.test"}, {.address = "perm@remote.test"}};
	struct remote_job j = job_for(r, 2, sizeof(small_msg) - 1);

	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	T.sc.final_reply = "554 5.7.1 message rejected as spam";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
	assert_string_equal(r[0].reply, "554 5.7.1 message rejected as spam");
	assert_string_equal(r[1].reply, "550 5.1.1 <perm@remote.test>: no such user");

	T.sc.final_reply = NULL;
	T.sc.data_reply = "451 4.3.0 local trouble";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r[0].reply, "451 4.3.0 local trouble");
	assert_int_equal(r[1].outcome, REMOTE_PERMFAIL);
}

static void
test_starttls_used(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	T.sc.starttls = true;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.tls_conns, 1);
	assert_true(T.mail_under_tls);
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "STARTTLS\n"
	                                             "EHLO client.example.test\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<bob@remote.test>\n"
	                                             "DATA\n"
	                                             "QUIT\n");
	assert_memory_equal(T.data.data, "From: alice", 11);
}

static void
test_tls_failure_retried_in_plaintext(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	T.sc.starttls = true;
	T.sc.break_tls = true;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.conns, 2);
	assert_false(T.mail_under_tls);
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "STARTTLS\n"
	                                             "EHLO client.example.test\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<bob@remote.test>\n"
	                                             "DATA\n"
	                                             "QUIT\n");
}

static void
test_drop_mid_data(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}, {.address = "perm@remote.test"}};
	size_t len = 8 * 1024 * 1024; /* more than the socket buffers hold */
	char *msg = xmalloc(len);
	struct remote_job j = job_for(r, 2, len);

	for (size_t i = 0; i < len; i++)
		msg[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'x';
	write_message("PREFIX\n", msg, len);
	T.sc.drop_after_data = 1000;
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r[0].reply, "127.0.0.1: connection lost during message body");
	assert_int_equal(r[1].outcome, REMOTE_PERMFAIL);
	free(msg);
}

static void
test_connect_refused(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, 10);
	char want[128];
	uint16_t port = T.port;

	listener_stop(&T.l); /* nobody listens on that port any more */
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	snprintf(want, sizeof(want),
	    "connect to 127.0.0.1[127.0.0.1]:%u: failed (refused or unreachable)", port);
	assert_string_equal(r[0].reply, want);
	assert_string_equal(r[0].remote_mta, "");
}

static void
test_smarthost_auth_plain(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	free(T.cfg.delivery_mx_override);
	T.cfg.delivery_mx_override = NULL;
	T.cfg.delivery_relay_host = xstrdup("127.0.0.1");
	T.cfg.delivery_relay_port = T.port;
	T.cfg.delivery_relay_user = xstrdup("user");
	T.cfg.delivery_relay_password = xstrdup("pass");
	T.sc.starttls = T.sc.auth = true;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	/* base64("\0user\0pass") */
	assert_string_equal(T.auth_line, "AUTH PLAIN AHVzZXIAcGFzcw==");
	assert_true(T.auth_under_tls);
	assert_true(T.mail_under_tls);

	/* no STARTTLS on offer: the password is not sent, the mail waits */
	T.sc.starttls = false;
	T.auth_line[0] = '\0';
	buf_reset(&T.transcript);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(
	    r[0].reply, "127.0.0.1 offers no usable TLS; not sending AUTH in plaintext");
	assert_string_equal(T.auth_line, "");
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\nQUIT\n");
}

static void
test_smtputf8_required(void **state)
{
	struct remote_rcpt r[] = {{.address = "jörg@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	j.smtputf8 = true;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
	assert_string_equal(r[0].reply,
	    "remote server does not support SMTPUTF8, needed for this message (RFC 6531)");
	assert_null(strstr(buf_cstr(&T.transcript), "MAIL"));

	T.sc.smtputf8 = true;
	buf_reset(&T.transcript);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_non_null(
	    strstr(buf_cstr(&T.transcript), "MAIL FROM:<alice@example.test> SMTPUTF8\n"));
}

static void
test_size_limit_and_helo_fallback(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	T.sc.size = 10;
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
	assert_non_null(strstr(r[0].reply, "552 5.3.4 message size"));

	T.sc.size = 0;
	T.sc.ehlo_fails = true;
	buf_reset(&T.transcript);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "HELO client.example.test\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<bob@remote.test>\n"
	                                             "DATA\n"
	                                             "QUIT\n");
}

static void
test_silent_server_times_out(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, 10);

	T.sc.mute = "MAIL";
	T.sc.no_pipelining = true; /* a muted MAIL would desync a pipelined group */
	T.cmd_timeout_ms = 200;
	write_message("PREFIX\n", small_msg, 10);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r[0].reply, "127.0.0.1: timed out during MAIL FROM");
	assert_null(strstr(buf_cstr(&T.transcript), "QUIT"));

	/* pipelined: the group waits for DATA's reply */
	T.sc.mute = "DATA";
	T.sc.no_pipelining = false;
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r[0].reply, "127.0.0.1: timed out during MAIL/RCPT/DATA");
}

static void
test_banner_refusal(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, 10);

	T.sc.banner = "554 5.7.1 go away";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
	assert_string_equal(r[0].reply, "554 5.7.1 go away");
	T.sc.banner = "421 4.3.2 busy";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(r[0].reply, "421 4.3.2 busy");
}

static void
test_missing_spool_file(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, 10);

	j.message_path = "/nonexistent/mailnode/spool";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(
	    r[0].reply, "cannot read the queued message: No such file or directory");
	assert_null(strstr(buf_cstr(&T.transcript), "DATA"));
	/* a file shorter than recorded: the transaction is dropped, no dot */
	write_message("PREFIX\n", "short\r\n", 7);
	j = job_for(r, 1, 1000);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_TEMPFAIL);
	assert_string_equal(
	    r[0].reply, "cannot read the queued message: file shorter than recorded");
}

static void
test_free_with_attempt_in_flight(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	make_ctx();
	T.done = 0;
	assert_int_equal(remote_deliver(T.ctx, &j, done_cb, NULL), 0);
	assert_int_equal(remote_ctx_pending(T.ctx), 1);
	remote_ctx_free(&T.ctx);
	assert_null(T.ctx);
	assert_true(uv_wait_until(&T.loop, server_idle, NULL, WAIT_MS));
	assert_int_equal(T.done, 0);
}

/* --- connection reuse ---------------------------------------------------- */

static bool
server_has_quit(void *arg)
{
	return server_idle(arg) && strstr(buf_cstr(&T.transcript), "QUIT\n") != NULL;
}

static void
test_connection_reused_for_same_domain(void **state)
{
	struct remote_rcpt r1[] = {{.address = "bob@remote.test"}};
	struct remote_rcpt r2[] = {
	    {.address = "perm@remote.test"}, {.address = "carol@remote.test"}};
	struct remote_rcpt r3[] = {{.address = "dave@other.test"}};
	struct remote_job j1 = job_for(r1, 1, sizeof(small_msg) - 1);
	struct remote_job j2 = job_for(r2, 2, sizeof(small_msg) - 1);
	struct remote_job j3 = job_for(r3, 1, sizeof(small_msg) - 1);

	j3.domain = "other.test";
	T.keep_ms = 10000;
	T.sc.starttls = true;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j1);
	run(&j2);
	assert_int_equal(r1[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(r2[0].outcome, REMOTE_PERMFAIL);
	assert_int_equal(r2[1].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.conns, 1);
	assert_int_equal(T.tls_conns, 1);
	assert_true(T.mail_under_tls);
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "STARTTLS\n"
	                                             "EHLO client.example.test\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<bob@remote.test>\n"
	                                             "DATA\n"
	                                             "RSET\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<perm@remote.test>\n"
	                                             "RCPT TO:<carol@remote.test>\n"
	                                             "DATA\n");
	/* another domain gets its own connection */
	run(&j3);
	assert_int_equal(r3[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.conns, 2);
	/* freeing the context says QUIT on the parked ones */
	buf_reset(&T.transcript);
	remote_ctx_free(&T.ctx);
	assert_true(uv_wait_until(&T.loop, server_idle, NULL, WAIT_MS));
	assert_string_equal(buf_cstr(&T.transcript), "QUIT\nQUIT\n");
}

static void
test_parked_connection_expires(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	T.keep_ms = 100;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_true(uv_wait_until(&T.loop, server_has_quit, NULL, WAIT_MS));
	assert_string_equal(buf_cstr(&T.transcript), "EHLO client.example.test\n"
	                                             "MAIL FROM:<alice@example.test>\n"
	                                             "RCPT TO:<bob@remote.test>\n"
	                                             "DATA\n"
	                                             "QUIT\n");
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.conns, 2);
}

static void
test_parked_connection_closed_by_server(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);

	T.keep_ms = 10000;
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	run(&j);
	assert_non_null(T.sess[0].c);
	conn_printf(T.sess[0].c, "421 4.4.2 idle too long\r\n");
	conn_close(T.sess[0].c);
	assert_true(uv_wait_until(&T.loop, server_idle, NULL, WAIT_MS));
	/* whether or not the client saw the close yet, the job is delivered
	 * on a new connection */
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.conns, 2);

	/* the kept connection dies right at RSET: the job takes the normal
	 * route at once */
	assert_non_null(T.sess[1].c);
	conn_abort(T.sess[1].c);
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_int_equal(T.conns, 3);
}

/* --- MX path through a DNS responder ------------------------------------ */

static uv_udp_t dns_udp;

static void
dns_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	static char space[1500];

	b->base = space;
	b->len = sizeof(space);
}

static char dns_log[1024]; /* "TYPE name," per query */

static size_t
dns_rr(uint8_t *p, uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	static const uint8_t head[] = {0xc0, 0x0c, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0};

	memcpy(p, head, sizeof(head));
	p[3] = (uint8_t)type;
	p[11] = (uint8_t)rdlen;
	memcpy(p + sizeof(head), rdata, rdlen);
	return sizeof(head) + rdlen;
}

/* dns_mx - MX rdata for "label.<qname>" ("" = the root: null MX) */
static size_t
dns_mx(uint8_t *p, uint16_t pref, const char *label)
{
	uint8_t rd[64];
	size_t n = 2, l = strlen(label);

	rd[0] = (uint8_t)(pref >> 8);
	rd[1] = (uint8_t)pref;
	if (l == 0) {
		rd[n++] = 0;
	} else {
		rd[n++] = (uint8_t)l;
		memcpy(rd + n, label, l);
		n += l;
		rd[n++] = 0xc0; /* then the query name */
		rd[n++] = 0x0c;
	}
	return dns_rr(p, 15, rd, n);
}

static void
dns_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from, unsigned fl)
{
	/* remote.test MX 10 mx-down (127.0.0.2: nobody listens), 15 mx-none
	 * (NXDOMAIN), 20 mx-up (127.0.0.1); nullmx.test MX 0 "."; implicit.test
	 * has no MX but an A record. Every other name is NXDOMAIN. */
	static const uint8_t lo1[] = {127, 0, 0, 1}, lo2[] = {127, 0, 0, 2};
	static const char *const exists[] = {"remote.test", "mx-down.remote.test",
	    "mx-up.remote.test", "nullmx.test", "implicit.test"};
	uint8_t out[512];
	const uint8_t *q = (const uint8_t *)b->base;
	size_t off = 12, n;
	char name[256];
	size_t nl = 0;
	uint16_t qtype, an = 0;
	bool known = false;

	if (nread < 12 || from == NULL)
		return;
	while (q[off] != 0) {
		if (nl)
			name[nl++] = '.';
		memcpy(name + nl, q + off + 1, q[off]);
		nl += q[off];
		off += q[off] + 1;
	}
	name[nl] = '\0';
	off++;
	qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	off += 4;
	snprintf(dns_log + strlen(dns_log), sizeof(dns_log) - strlen(dns_log), "%s %s,",
	    qtype == 15  ? "MX"
	    : qtype == 1 ? "A"
	                 : "AAAA",
	    name);
	memcpy(out, q, off);
	n = off;
	out[2] = 0x81;
	out[3] = 0x80;
	if (strcmp(name, "remote.test") == 0 && qtype == 15) {
		n += dns_mx(out + n, 20, "mx-up");
		n += dns_mx(out + n, 10, "mx-down");
		n += dns_mx(out + n, 15, "mx-none");
		an = 3;
	} else if (strcmp(name, "nullmx.test") == 0 && qtype == 15) {
		n += dns_mx(out + n, 0, "");
		an = 1;
	} else if ((strcmp(name, "mx-up.remote.test") == 0 || strcmp(name, "implicit.test") == 0) &&
	           qtype == 1) {
		n += dns_rr(out + n, 1, lo1, 4);
		an = 1;
	} else if (strcmp(name, "mx-down.remote.test") == 0 && qtype == 1) {
		n += dns_rr(out + n, 1, lo2, 4);
		an = 1;
	}
	for (size_t i = 0; i < sizeof(exists) / sizeof(exists[0]); i++)
		known |= strcmp(exists[i], name) == 0;
	if (!known)
		out[3] |= 3; /* NXDOMAIN */
	out[6] = 0;
	out[7] = (uint8_t)an;
	memset(out + 8, 0, 4);
	uv_buf_t sb = uv_buf_init((char *)out, (unsigned)n);
	uv_udp_try_send(u, &sb, 1, from);
}

static void
dns_close_cb(uv_handle_t *h)
{
}

static void
test_mx_order_via_dns(void **state)
{
	struct remote_rcpt r[] = {{.address = "bob@remote.test"}};
	struct remote_job j = job_for(r, 1, sizeof(small_msg) - 1);
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	struct mn_err err;

	uv_udp_init(&T.loop, &dns_udp);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_udp_bind(&dns_udp, (struct sockaddr *)&sa, 0), 0);
	uv_udp_getsockname(&dns_udp, (struct sockaddr *)&ss, &sl);
	uv_udp_recv_start(&dns_udp, dns_alloc, dns_recv);
	free(T.cfg.delivery_mx_override);
	T.cfg.delivery_mx_override = NULL;
	T.cfg.dns_resolvers =
	    xasprintf("127.0.0.1:%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	assert_int_equal(remote_ctx_new(&T.loop, &T.cfg, &T.ctx, &err), 0);
	remote_ctx_set_keep(T.ctx, 0);
	remote_ctx_set_mx_port(T.ctx, T.port);
	write_message("PREFIX\n", small_msg, sizeof(small_msg) - 1);
	dns_log[0] = '\0';
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_string_equal(r[0].remote_mta, "mx-up.remote.test");
	/* preference order; a refused host and one without address skipped */
	assert_string_equal(dns_log, "MX remote.test,"
	                             "A mx-down.remote.test,AAAA mx-down.remote.test,"
	                             "A mx-none.remote.test,"
	                             "A mx-up.remote.test,AAAA mx-up.remote.test,");
	assert_int_equal(T.conns, 1);

	/* no MX: the domain itself (RFC 5321 §5.1) */
	j.domain = "implicit.test";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_DELIVERED);
	assert_string_equal(r[0].remote_mta, "implicit.test");

	/* null MX (RFC 7505): permanent without any connection */
	j.domain = "nullmx.test";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
	assert_string_equal(
	    r[0].reply, "nullmx.test: domain does not accept mail (null MX, RFC 7505)");
	assert_int_equal(T.conns, 2);

	/* unknown domain: permanent, the reply says why */
	j.domain = "gone.test";
	run(&j);
	assert_int_equal(r[0].outcome, REMOTE_PERMFAIL);
	assert_string_equal(r[0].reply, "gone.test: no such domain (NXDOMAIN)");
	uv_close((uv_handle_t *)&dns_udp, dns_close_cb);
}

/* --- reply parser ------------------------------------------------------- */

static void
test_reply_parser(void **state)
{
	static const struct {
		const char *in;
		int rc;
		int code;
		size_t nlines;
		const char *text;
		size_t consumed; /* of the whole input */
	} cases[] = {
	    {"220 hello\r\n", SMTP_REPLY_DONE, 220, 1, "220 hello", 11},
	    {"250-a\r\n250-SIZE 10\r\n250 PIPELINING\r\nEXTRA", SMTP_REPLY_DONE, 250, 3,
	        "250 a SIZE 10 PIPELINING", 36},
	    {"250\r\n", SMTP_REPLY_DONE, 250, 1, "250", 5},
	    {"550 bare lf\n", SMTP_REPLY_DONE, 550, 1, "550 bare lf", 12},
	    {"250-a\r\n", SMTP_REPLY_MORE, 250, 1, "250 a", 7},
	    {"250-a\r\n251 b\r\n", SMTP_REPLY_BAD, 0, 0, NULL, 0},
	    {"25x ok\r\n", SMTP_REPLY_BAD, 0, 0, NULL, 0},
	    {"150 no\r\n", SMTP_REPLY_BAD, 0, 0, NULL, 0},
	    {"250_x\r\n", SMTP_REPLY_BAD, 0, 0, NULL, 0},
	    {"hi\r\n", SMTP_REPLY_BAD, 0, 0, NULL, 0},
	    {"550 ctl\x01x\r\n", SMTP_REPLY_DONE, 550, 1, "550 ctl?x", 11},
	};
	struct smtp_reply *r = xmalloc(sizeof(*r));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *in = (const uint8_t *)cases[i].in;
		size_t len = strlen(cases[i].in), used, total;
		int rc = SMTP_REPLY_MORE;

		/* whole */
		smtp_reply_reset(r);
		rc = smtp_reply_feed(r, in, len, &used);
		assert_int_equal(rc, cases[i].rc);
		if (rc == SMTP_REPLY_BAD)
			goto bytewise;
		assert_int_equal(r->code, cases[i].code);
		assert_int_equal(r->nlines, cases[i].nlines);
		assert_string_equal(r->text, cases[i].text);
		assert_int_equal(used, cases[i].consumed);
	bytewise:
		/* one byte more at a time, consuming as conn does */
		smtp_reply_reset(r);
		total = 0;
		rc = SMTP_REPLY_MORE;
		for (size_t have = 1; have <= len && rc == SMTP_REPLY_MORE; have++) {
			rc = smtp_reply_feed(r, in + total, have - total, &used);
			total += used;
		}
		assert_int_equal(rc, cases[i].rc);
		if (rc != SMTP_REPLY_BAD) {
			assert_int_equal(r->code, cases[i].code);
			assert_string_equal(r->text, cases[i].text);
			assert_int_equal(total, cases[i].consumed);
		}
	}

	/* limits: a line over SMTP_REPLY_LINE_MAX, even before its end */
	{
		size_t n = SMTP_REPLY_LINE_MAX + 10, used;
		uint8_t *big = xmalloc(n);

		memset(big, 'a', n);
		memcpy(big, "250 ", 4);
		smtp_reply_reset(r);
		assert_int_equal(smtp_reply_feed(r, big, n, &used), SMTP_REPLY_BAD);
		free(big);
	}
	/* too many lines */
	{
		struct buf b;
		size_t used;

		buf_init(&b, 0);
		for (int i = 0; i <= SMTP_REPLY_LINES_MAX; i++)
			buf_append_str(&b, "250-x\r\n");
		buf_append_str(&b, "250 end\r\n");
		smtp_reply_reset(r);
		assert_int_equal(smtp_reply_feed(r, b.data, b.len, &used), SMTP_REPLY_BAD);
		buf_fini(&b);
	}
	/* text is cut, not overflowed */
	{
		struct buf b;
		size_t used;

		buf_init(&b, 0);
		for (int i = 0; i < 20; i++)
			buf_printf(&b, "550-%0100d\r\n", i);
		buf_append_str(&b, "550 end\r\n");
		smtp_reply_reset(r);
		assert_int_equal(smtp_reply_feed(r, b.data, b.len, &used), SMTP_REPLY_DONE);
		assert_int_equal(strlen(r->text), SMTP_REPLY_TEXT_MAX - 1);
		assert_int_equal(r->nlines, 21);
		buf_fini(&b);
	}
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_parser),
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T_(test_success_dot_stuffing_and_params),
	    T_(test_params_only_when_advertised),
	    T_(test_big_message_through_backpressure),
	    T_(test_big_message_over_tls),
	    T_(test_rcpt_4xx_and_5xx),
	    T_(test_data_refused),
	    T_(test_mail_refused),
	    T_(test_starttls_used),
	    T_(test_tls_failure_retried_in_plaintext),
	    T_(test_drop_mid_data),
	    T_(test_connect_refused),
	    T_(test_smarthost_auth_plain),
	    T_(test_smtputf8_required),
	    T_(test_size_limit_and_helo_fallback),
	    T_(test_banner_refusal),
	    T_(test_silent_server_times_out),
	    T_(test_missing_spool_file),
	    T_(test_free_with_attempt_in_flight),
	    T_(test_connection_reused_for_same_domain),
	    T_(test_parked_connection_expires),
	    T_(test_parked_connection_closed_by_server),
	    T_(test_mx_order_via_dns),
	};

	/* as node/main.c: a peer's RST during a write must not kill us */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("MN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
