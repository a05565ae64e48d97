/*
 * test_session.c - POP3 sessions end to end in one process: the real
 * server on 127.0.0.1 (port 0) over an in-memory directory and a mail store
 * in a temp dir, driven by a blocking client in a second thread while the
 * loop runs in this one. Messages are put in INBOX with mailstore_deliver.
 * Also the pure helpers: plaintext policy (USER refused from a non-loopback
 * peer without TLS), CAPA text, SASL PLAIN decoding, message numbers and the
 * RETR/TOP stuffer (fed whole and one byte at a time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/err.h"
#include "node/limits.h"
#include "node/pop3/pop3.h"
#include "storage/directory/directory.h"
#include "storage/directory/password.h"
#include "storage/mailstore/mailstore.h"

#define USER "bob@a.test"
#define RO_USER "ro@a.test"
#define PASSWORD "s3cret pw"
#define DEADLINE_MS 20000

/* --- pure helpers ---------------------------------------------------------- */

static void
test_plaintext_policy(void **state)
{
	(void)state;
	assert_false(pop3_plaintext_allowed(false, false)); /* remote, plain */
	assert_true(pop3_plaintext_allowed(true, false));   /* remote, TLS */
	assert_true(pop3_plaintext_allowed(false, true));   /* loopback */
	assert_true(pop3_plaintext_allowed(true, true));
}

static void
test_capa_text(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	pop3_capa_render(&b, true, true);
	assert_string_equal(buf_cstr(&b), "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	                                  "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	                                  "USER\r\nSASL PLAIN\r\nSTLS\r\n"
	                                  "IMPLEMENTATION mailnode\r\n.\r\n");
	buf_reset(&b);
	pop3_capa_render(&b, false, false);
	assert_string_equal(buf_cstr(&b), "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	                                  "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	                                  "IMPLEMENTATION mailnode\r\n.\r\n");
	buf_fini(&b);
}

static void
test_sasl_plain_decode(void **state)
{
	static const struct {
		const char *b64;
		int rc;
		const char *user, *pass;
	} cases[] = {
	    {"AGJvYgBzZWNyZXQ=", 0, "bob", "secret"},       /* \0bob\0secret */
	    {"Ym9iAGJvYgBzZWNyZXQ=", 0, "bob", "secret"},   /* bob\0bob\0secret */
	    {"Qk9CAGJvYgBzZWNyZXQ=", 0, "bob", "secret"},   /* BOB\0bob\0secret */
	    {"YWxpY2UAYm9iAHNlY3JldA==", MN_EPERM, "", ""}, /* alice\0bob\0secret */
	    {"AGJvYgA=", MN_EPARSE, "", ""},                /* empty password */
	    {"AABzZWNyZXQ=", MN_EPARSE, "", ""},            /* empty authcid */
	    {"Ym9ic2VjcmV0", MN_EPARSE, "", ""},            /* no NULs */
	    {"AGJvYgBzZWNyZXQAeA==", MN_EPARSE, "", ""},    /* three NULs */
	    {"AGJvYgBzZWNyZXQ", MN_EPARSE, "", ""},         /* no padding */
	    {"AGJvYgBz*WNyZXQ=", MN_EPARSE, "", ""},        /* bad char */
	    {"AGJv=gBzZWNyZXQ=", MN_EPARSE, "", ""},        /* pad inside */
	    {"", MN_EPARSE, "", ""},
	};
	char user[POP3_MAX_AUTHCID + 1], pass[POP3_MAX_PASSWORD + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = pop3_sasl_plain_decode(cases[i].b64, strlen(cases[i].b64), user, pass);

		if (rc != cases[i].rc)
			fail_msg("case %zu %s: rc %d want %d", i, cases[i].b64, rc, cases[i].rc);
		assert_string_equal(user, cases[i].user);
		assert_string_equal(pass, cases[i].pass);
	}
}

static void
test_msgnum(void **state)
{
	size_t idx = 99;

	(void)state;
	assert_int_equal(pop3_msgnum(slice_from_cstr("1"), 3, &idx), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(pop3_msgnum(slice_from_cstr("3"), 3, &idx), 0);
	assert_int_equal(idx, 2);
	assert_int_equal(pop3_msgnum(slice_from_cstr("4"), 3, &idx), -1);
	assert_int_equal(pop3_msgnum(slice_from_cstr("0"), 3, &idx), -1);
	assert_int_equal(pop3_msgnum(slice_from_cstr("-1"), 3, &idx), -1);
	assert_int_equal(pop3_msgnum(slice_from_cstr("+1"), 3, &idx), -1);
	assert_int_equal(pop3_msgnum(slice_from_cstr("1x"), 3, &idx), -1);
	assert_int_equal(pop3_msgnum(slice_from_cstr(""), 3, &idx), -1);
	assert_int_equal(pop3_msgnum(slice_from_cstr("99999999999999999999"), 3, &idx), -1);
}

static char *
stuff(const char *in, bool top, uint64_t lines, size_t chunk)
{
	struct pop3_stuffer st;
	size_t len = strlen(in), off = 0, o = 0;
	uint8_t *out = malloc(2 * len + 16);

	pop3_stuffer_init(&st, top, lines);
	while (off < len && !st.done) {
		size_t n = chunk == 0 || len - off < chunk ? len - off : chunk, ol = 0;

		off += pop3_stuffer_feed(&st, (const uint8_t *)in + off, n, out + o, &ol);
		o += ol;
	}
	o += pop3_stuffer_finish(&st, out + o);
	out[o] = '\0';
	return (char *)out;
}

static void
test_stuffer(void **state)
{
	static const struct {
		const char *in;
		bool top;
		uint64_t lines;
		const char *want;
	} cases[] = {
	    {"A: b\r\n\r\nbody\r\n", false, 0, "A: b\r\n\r\nbody\r\n.\r\n"},
	    {"A: b\r\n\r\n.dot\r\n..two\r\n.\r\n", false, 0,
	        "A: b\r\n\r\n..dot\r\n...two\r\n..\r\n.\r\n"},
	    {"A: b\n\nbare\nlf\n", false, 0, "A: b\r\n\r\nbare\r\nlf\r\n.\r\n"},
	    {"A: b\r\n\r\nno end", false, 0, "A: b\r\n\r\nno end\r\n.\r\n"},
	    {"A: b\r\n\r\nends in cr\r", false, 0, "A: b\r\n\r\nends in cr\r\n.\r\n"},
	    {"", false, 0, ".\r\n"},
	    {"A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n", true, 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
	    {"A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n", true, 2, "A: b\r\nC: d\r\n\r\n1\r\n2\r\n.\r\n"},
	    {"A: b\r\n\r\n1\r\n.2\r\n3\r\n", true, 2, "A: b\r\n\r\n1\r\n..2\r\n.\r\n"},
	    {"A: b\r\n\r\n1\r\n", true, 10, "A: b\r\n\r\n1\r\n.\r\n"},
	    {"A: b\r\nno blank line", true, 0, "A: b\r\nno blank line\r\n.\r\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t chunk = 0; chunk <= 1; chunk++) {
			char *got = stuff(cases[i].in, cases[i].top, cases[i].lines, chunk);

			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu chunk %zu: got <%s> want <%s>", i, chunk, got,
				    cases[i].want);
			free(got);
		}
	}
}

/* --- server fixture -------------------------------------------------------- */

struct fx {
	char root[64];
	struct directory *dir;
	struct mailstore *ms;
	uv_loop_t loop;
	struct tls_ctx *tls;
	struct pop3_server *srv;
	uint16_t port;
	uv_async_t done;
	pthread_t th;
	void (*client)(struct fx *);
	char failure[512]; /* set by the client thread on a failed check */
	uint32_t max_errors;
	struct limits *limits; /* NULL: none */
};

static struct fx *g_fx;

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
dir_cmd_user(struct directory *d, const char *address, const char *hash, uint32_t flags)
{
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__UserAdd u = MAILNODE__USER_ADD__INIT;
	struct mn_err err;

	u.address = (char *)address;
	u.password_hash = (char *)hash;
	u.has_flags = 1;
	u.flags = flags;
	c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD;
	c.user_add = &u;
	if (directory_apply(d, &c, &err) != 0)
		fail_msg("user add: %s", err.msg);
}

static uint32_t
deliver(struct fx *f, const char *user, const char *msg, size_t len)
{
	struct mailstore_deliver_result r;
	struct mn_err err;
	const char *users[1] = {user};

	if (mailstore_deliver(f->ms, users, 1, msg, len, 1700000000, NULL, NULL, &r, &err) != 0 ||
	    r.rc != 0)
		fail_msg("deliver: %s", err.msg);
	return r.uid;
}

#define MSG1 "From: a@b.test\r\nSubject: one\r\n\r\nhello\r\n.leading dot\r\nline 3\r\n"
#define MSG2 "From: a@b.test\r\nSubject: two\r\n\r\nsecond\r\n"

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	Mailnode__DirectoryCommand c = MAILNODE__DIRECTORY_COMMAND__INIT;
	Mailnode__DomainAdd d = MAILNODE__DOMAIN_ADD__INIT;
	struct mn_err err;
	char *hash = password_hash(PASSWORD), *tlsdir, *cert = NULL, *key = NULL;

	strcpy(f->root, "/tmp/mn-pop3-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(directory_open(":memory:", &f->dir, &err), 0);
	d.name = "a.test";
	c.cmd_case = MAILNODE__DIRECTORY_COMMAND__CMD_DOMAIN_ADD;
	c.domain_add = &d;
	assert_int_equal(directory_apply(f->dir, &c, &err), 0);
	dir_cmd_user(f->dir, USER, hash, 0);
	dir_cmd_user(f->dir, RO_USER, hash, DIR_USER_READONLY);
	free(hash);
	{
		char *ms = malloc(strlen(f->root) + 8);

		sprintf(ms, "%s/mail", f->root);
		assert_int_equal(mailstore_open(ms, &f->ms, &err), 0);
		free(ms);
	}
	deliver(f, USER, MSG1, strlen(MSG1));
	deliver(f, USER, MSG2, strlen(MSG2));
	deliver(f, RO_USER, MSG2, strlen(MSG2));
	tlsdir = malloc(strlen(f->root) + 8);
	sprintf(tlsdir, "%s/tls", f->root);
	assert_int_equal(tls_ensure_self_signed(tlsdir, "localhost", &cert, &key, &err), 0);
	assert_int_equal(tls_server_ctx_new(cert, key, &f->tls, &err), 0);
	free(tlsdir);
	free(cert);
	free(key);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static void
close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	uv_walk(&f->loop, close_walk_cb, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	tls_ctx_free(&f->tls);
	mailstore_close(&f->ms);
	directory_close(&f->dir);
	nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void *
client_thread(void *arg)
{
	struct fx *f = arg;

	f->client(f);
	uv_async_send(&f->done);
	return NULL;
}

static void
done_cb(uv_async_t *a)
{
	struct fx *f = a->data;

	pthread_join(f->th, NULL);
	pop3_server_stop(f->srv);
	conn_close_all();
	uv_close((uv_handle_t *)&f->done, NULL);
}

/* Start the server, run client() in a thread, stop when it returns. */
static void
run_client(struct fx *f, void (*client)(struct fx *))
{
	struct pop3_server_config pc = {
	    .address = "127.0.0.1",
	    .plain_on = true,
	    .port = 0,
	    .tls = f->tls,
	    .auth_fail_delay_ms = 20,
	    .max_errors = f->max_errors ? f->max_errors : 20,
	    .limits = f->limits,
	};
	struct mn_err err;

	assert_int_equal(pop3_server_start(&f->loop, f->dir, f->ms, &pc, &f->srv, &err), 0);
	f->port = pop3_server_port(f->srv, false);
	assert_true(f->port != 0);
	f->client = client;
	f->done.data = f;
	uv_async_init(&f->loop, &f->done, done_cb);
	g_fx = f;
	assert_int_equal(pthread_create(&f->th, NULL, client_thread, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	pop3_server_free(&f->srv);
	if (f->failure[0] != '\0')
		fail_msg("%s", f->failure);
}

/* --- client side (runs in the thread; records the first failure) ----------- */

struct cl {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static void record(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* the first failure wins; the text is cut to the buffer */
static void
record(struct fx *f, const char *fmt, ...)
{
	va_list ap;

	if (f->failure[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
	va_end(ap);
}

#define CHECK(f, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			record((f), __VA_ARGS__);                                                  \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static int
cl_connect(struct fx *f, struct cl *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	return connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
}

/* Read until the buffer holds `want` bytes or ends with `suffix`; 0 / -1
 * (EOF or deadline). The buffer is reset by the caller. */
static int
cl_read_until(struct cl *c, const char *suffix)
{
	size_t sl = strlen(suffix);
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	for (;;) {
		ssize_t n;

		if (c->len >= sl && memcmp(c->buf + c->len - sl, suffix, sl) == 0)
			return 0;
		if (poll(&p, 1, DEADLINE_MS) != 1)
			return -1;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
}

/* Send a command and read one reply: a line, or up to "\r\n.\r\n" when multi. */
static const char *
cl_cmd(struct cl *c, const char *cmd, bool multi)
{
	c->len = 0;
	c->buf[0] = '\0';
	if (cmd != NULL && write(c->fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return "";
	if (cl_read_until(c, multi ? "\r\n.\r\n" : "\r\n") != 0)
		return c->buf;
	if (multi && strncmp(c->buf, "-ERR", 4) == 0)
		return c->buf;
	return c->buf;
}

/* Send a command and read until the buffer ends with suffix. */
static const char *
cl_cmd_until(struct cl *c, const char *cmd, const char *suffix)
{
	c->len = 0;
	c->buf[0] = '\0';
	if (write(c->fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return "";
	(void)cl_read_until(c, suffix);
	return c->buf;
}

#define LIMIT_REPLY "-ERR unknown command\r\n-ERR too many errors, closing connection\r\n"

static bool
cl_eof(struct cl *c)
{
	char b[256];
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	while (poll(&p, 1, DEADLINE_MS) == 1) {
		ssize_t n = read(c->fd, b, sizeof(b));

		if (n <= 0)
			return true;
	}
	return false;
}

static void
cl_login(struct fx *f, struct cl *c, const char *user)
{
	char line[256];

	CHECK(f, cl_connect(f, c) == 0, "connect");
	CHECK(f, strcmp(cl_cmd(c, NULL, false), "+OK mailnode POP3 ready\r\n") == 0, "greet %s",
	    c->buf);
	snprintf(line, sizeof(line), "USER %s\r\n", user);
	CHECK(f, strcmp(cl_cmd(c, line, false), "+OK send PASS\r\n") == 0, "USER: %s", c->buf);
	CHECK(f, strncmp(cl_cmd(c, "PASS " PASSWORD "\r\n", false), "+OK maildrop has ", 17) == 0,
	    "PASS: %s", c->buf);
}

/* --- session scenarios ------------------------------------------------------ */

static void
client_transaction(struct fx *f)
{
	struct cl c;
	char want[1024];

	cl_login(f, &c, USER);
	if (f->failure[0])
		return;
	snprintf(want, sizeof(want), "+OK %zu %zu\r\n", (size_t)2, strlen(MSG1) + strlen(MSG2));
	CHECK(f, strcmp(cl_cmd(&c, "STAT\r\n", false), want) == 0, "STAT: %s", c.buf);
	snprintf(want, sizeof(want), "+OK 2 messages (%zu octets)\r\n1 %zu\r\n2 %zu\r\n.\r\n",
	    strlen(MSG1) + strlen(MSG2), strlen(MSG1), strlen(MSG2));
	CHECK(f, strcmp(cl_cmd(&c, "LIST\r\n", true), want) == 0, "LIST: %s", c.buf);
	snprintf(want, sizeof(want), "+OK 2 %zu\r\n", strlen(MSG2));
	CHECK(f, strcmp(cl_cmd(&c, "LIST 2\r\n", false), want) == 0, "LIST 2: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "LIST 3\r\n", false), "-ERR no such message\r\n") == 0,
	    "LIST 3: %s", c.buf);
	CHECK(f,
	    strncmp(cl_cmd(&c, "UIDL\r\n", true), "+OK unique-id listing follows\r\n1 ", 33) == 0 &&
	        strstr(c.buf, ".1\r\n2 ") != NULL && strstr(c.buf, ".2\r\n.\r\n") != NULL,
	    "UIDL: %s", c.buf);
	snprintf(want, sizeof(want), "+OK %zu octets\r\n%s.\r\n", strlen(MSG1),
	    "From: a@b.test\r\nSubject: one\r\n\r\nhello\r\n..leading dot\r\nline 3\r\n");
	CHECK(f, strcmp(cl_cmd(&c, "RETR 1\r\n", true), want) == 0, "RETR 1: %s", c.buf);
	CHECK(f,
	    strcmp(cl_cmd(&c, "TOP 1 1\r\n", true),
	        "+OK top of message follows\r\nFrom: a@b.test\r\nSubject: "
	        "one\r\n\r\nhello\r\n.\r\n") == 0,
	    "TOP: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "TOP 1 x\r\n", false), "-ERR invalid number of lines\r\n") == 0,
	    "TOP x: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "DELE 1\r\n", false), "+OK message 1 deleted\r\n") == 0,
	    "DELE: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "DELE 1\r\n", false), "-ERR message already deleted\r\n") == 0,
	    "DELE again: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "RETR 1\r\n", false), "-ERR message already deleted\r\n") == 0,
	    "RETR deleted: %s", c.buf);
	snprintf(want, sizeof(want), "+OK 1 %zu\r\n", strlen(MSG2));
	CHECK(f, strcmp(cl_cmd(&c, "STAT\r\n", false), want) == 0, "STAT after DELE: %s", c.buf);
	snprintf(want, sizeof(want), "+OK maildrop has 2 messages (%zu octets)\r\n",
	    strlen(MSG1) + strlen(MSG2));
	CHECK(f, strcmp(cl_cmd(&c, "RSET\r\n", false), want) == 0, "RSET: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "DELE 2\r\n", false), "+OK message 2 deleted\r\n") == 0,
	    "DELE 2: %s", c.buf);
	CHECK(f,
	    strcmp(cl_cmd(&c, "USER x\r\n", false), "-ERR command not valid in this state\r\n") ==
	        0,
	    "USER in TRANSACTION: %s", c.buf);
	/* pipelined: both answered in order */
	CHECK(f,
	    strcmp(cl_cmd_until(&c, "NOOP\r\nQUIT\r\n", "left)\r\n"),
	        "+OK\r\n+OK mailnode POP3 server signing off (1 messages left)\r\n") == 0,
	    "NOOP+QUIT: %s", c.buf);
	CHECK(f, cl_eof(&c), "no close after QUIT");
	close(c.fd);

	/* a new session: message 2 is gone, the UIDL of MSG1 is the same */
	cl_login(f, &c, USER);
	if (f->failure[0])
		return;
	snprintf(want, sizeof(want), "+OK 1 %zu\r\n", strlen(MSG1));
	CHECK(f, strcmp(cl_cmd(&c, "STAT\r\n", false), want) == 0, "STAT next session: %s", c.buf);
	/* disconnect without QUIT: DELE has no effect */
	CHECK(f, strcmp(cl_cmd(&c, "DELE 1\r\n", false), "+OK message 1 deleted\r\n") == 0,
	    "DELE: %s", c.buf);
	close(c.fd);
	/* the lock is gone once the server saw the close: poll until login works */
	for (int i = 0; i < 1000; i++) {
		cl_connect(f, &c);
		cl_cmd(&c, NULL, false);
		cl_cmd(&c, "USER " USER "\r\n", false);
		if (strncmp(cl_cmd(&c, "PASS " PASSWORD "\r\n", false), "+OK", 3) == 0)
			break;
		close(c.fd);
		c.fd = -1;
		usleep(10000); /* poll interval while the server notices the close */
	}
	CHECK(f, c.fd >= 0, "login after disconnect never succeeded");
	CHECK(f, strcmp(cl_cmd(&c, "STAT\r\n", false), want) == 0, "STAT after disconnect: %s",
	    c.buf);
	CHECK(f, strncmp(cl_cmd(&c, "QUIT\r\n", false), "+OK", 3) == 0, "QUIT: %s", c.buf);
	close(c.fd);
}

static void
test_transaction(void **state)
{
	run_client(*state, client_transaction);
}

static void
client_auth(struct fx *f)
{
	struct cl c, d;

	CHECK(f, cl_connect(f, &c) == 0, "connect");
	cl_cmd(&c, NULL, false);
	CHECK(f,
	    strcmp(cl_cmd(&c, "CAPA\r\n", true),
	        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	        "AUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\n"
	        "IMPLEMENTATION mailnode\r\n.\r\n") == 0,
	    "CAPA: %s", c.buf);
	CHECK(f,
	    strcmp(cl_cmd(&c, "STAT\r\n", false), "-ERR command not valid in this state\r\n") == 0,
	    "STAT before auth: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "PASS x\r\n", false), "-ERR send USER first\r\n") == 0,
	    "PASS first: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "APOP a b\r\n", false), "-ERR APOP not supported\r\n") == 0,
	    "APOP: %s", c.buf);
	/* wrong password, then unknown user: the same answer */
	cl_cmd(&c, "USER " USER "\r\n", false);
	CHECK(f,
	    strcmp(cl_cmd(&c, "PASS wrong\r\n", false), "-ERR [AUTH] invalid credentials\r\n") == 0,
	    "bad PASS: %s", c.buf);
	/* a failed PASS forgets the USER */
	CHECK(f,
	    strcmp(cl_cmd(&c, "PASS " PASSWORD "\r\n", false), "-ERR send USER first\r\n") == 0,
	    "PASS after failure: %s", c.buf);
	cl_cmd(&c, "USER nobody@a.test\r\n", false);
	CHECK(f,
	    strcmp(cl_cmd(&c, "PASS " PASSWORD "\r\n", false),
	        "-ERR [AUTH] invalid credentials\r\n") == 0,
	    "unknown: %s", c.buf);
	/* AUTH PLAIN with the continuation; "*" cancels */
	CHECK(f, strcmp(cl_cmd(&c, "AUTH\r\n", true), "+OK\r\nPLAIN\r\n.\r\n") == 0, "AUTH: %s",
	    c.buf);
	CHECK(f,
	    strcmp(cl_cmd(&c, "AUTH LOGIN\r\n", false),
	        "-ERR unsupported authentication mechanism\r\n") == 0,
	    "AUTH LOGIN: %s", c.buf);
	close(c.fd);

	CHECK(f, cl_connect(f, &c) == 0, "connect");
	cl_cmd(&c, NULL, false);
	CHECK(
	    f, strcmp(cl_cmd(&c, "AUTH PLAIN\r\n", false), "+ \r\n") == 0, "AUTH PLAIN: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "*\r\n", false), "-ERR authentication cancelled\r\n") == 0,
	    "cancel: %s", c.buf);
	CHECK(
	    f, strcmp(cl_cmd(&c, "AUTH PLAIN\r\n", false), "+ \r\n") == 0, "AUTH PLAIN: %s", c.buf);
	/* \0bob@a.test\0s3cret pw */
	CHECK(f,
	    strncmp(cl_cmd(&c, "AGJvYkBhLnRlc3QAczNjcmV0IHB3\r\n", false), "+OK maildrop has 2 ",
	        19) == 0,
	    "AUTH continuation: %s", c.buf);
	/* the maildrop lock: a second session for the same user */
	CHECK(f, cl_connect(f, &d) == 0, "connect");
	cl_cmd(&d, NULL, false);
	CHECK(f,
	    strcmp(cl_cmd(&d, "AUTH PLAIN AGJvYkBhLnRlc3QAczNjcmV0IHB3\r\n", false),
	        "-ERR [IN-USE] maildrop already locked\r\n") == 0,
	    "lock: %s", d.buf);
	CHECK(f,
	    strcmp(cl_cmd(&c, "QUIT\r\n", false),
	        "+OK mailnode POP3 server signing off (2 messages left)\r\n") == 0,
	    "QUIT: %s", c.buf);
	close(c.fd);
	/* released at QUIT: the waiting client may retry (poll until the close is seen) */
	for (int i = 0; i < 1000; i++) {
		if (strncmp(cl_cmd(&d, "AUTH PLAIN AGJvYkBhLnRlc3QAczNjcmV0IHB3\r\n", false), "+OK",
		        3) == 0)
			break;
		usleep(10000);
	}
	CHECK(f, strncmp(d.buf, "+OK maildrop has 2 ", 19) == 0, "after unlock: %s", d.buf);
	close(d.fd);

	/* read-only user: DELE refused */
	cl_login(f, &c, RO_USER);
	if (f->failure[0])
		return;
	CHECK(f,
	    strcmp(cl_cmd(&c, "DELE 1\r\n", false), "-ERR [SYS/PERM] mailbox is read-only\r\n") ==
	        0,
	    "read-only DELE: %s", c.buf);
	close(c.fd);
}

static void
test_auth_and_lock(void **state)
{
	run_client(*state, client_auth);
}

static void
client_bad_input(struct fx *f)
{
	struct cl c;
	static char big[100001];

	CHECK(f, cl_connect(f, &c) == 0, "connect");
	cl_cmd(&c, NULL, false);
	memset(big, 'A', 99998);
	memcpy(big + 99998, "\r\n", 3);
	CHECK(f, strcmp(cl_cmd(&c, big, false), "-ERR line too long\r\n") == 0, "100k: %s", c.buf);
	CHECK(f,
	    strcmp(cl_cmd(&c, "\x01\x02garbage\r\n", false),
	        "-ERR invalid characters in command\r\n") == 0,
	    "garbage: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "FROB\r\n", false), "-ERR unknown command\r\n") == 0, "FROB: %s",
	    c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "NOOP\r\n", false), "+OK\r\n") == 0, "NOOP: %s", c.buf);
	CHECK(f, strcmp(cl_cmd(&c, "FROB\r\n", false), "-ERR unknown command\r\n") == 0, "FROB: %s",
	    c.buf);
	/* fifth error (max_errors 5): answered, then closed */
	CHECK(f, strcmp(cl_cmd_until(&c, "FROB\r\n", "closing connection\r\n"), LIMIT_REPLY) == 0,
	    "5th: %s", c.buf);
	CHECK(f, cl_eof(&c), "not closed at the error limit");
	close(c.fd);
	/* the server still serves */
	cl_login(f, &c, USER);
	close(c.fd);
}

static void
client_bad_input_limit(struct fx *f)
{
	struct cl c;

	client_bad_input(f);
	if (f->failure[0])
		return;
	CHECK(f, cl_connect(f, &c) == 0, "connect");
	cl_cmd(&c, NULL, false);
	for (int i = 0; i < 4; i++)
		CHECK(f, strcmp(cl_cmd(&c, "FROB\r\n", false), "-ERR unknown command\r\n") == 0,
		    "FROB %d: %s", i, c.buf);
	CHECK(f, strcmp(cl_cmd_until(&c, "FROB\r\n", "closing connection\r\n"), LIMIT_REPLY) == 0,
	    "5th: %s", c.buf);
	CHECK(f, cl_eof(&c), "not closed at the error limit");
	close(c.fd);
}

static void
test_bad_input(void **state)
{
	struct fx *f = *state;

	f->max_errors = 5;
	run_client(f, client_bad_input_limit);
}

/* node/limits wired in: the 3rd connection from one IP (cap 2) gets the
 * refusal line and is closed; after 2 failed logins the IP is blocked and
 * even the right password gets the wrong-password answer. */
static void
client_limits(struct fx *f)
{
	struct cl a, b, c;

	CHECK(f, cl_connect(f, &a) == 0, "connect a");
	CHECK(f, strcmp(cl_cmd(&a, NULL, false), "+OK mailnode POP3 ready\r\n") == 0, "greet a");
	CHECK(f, cl_connect(f, &b) == 0, "connect b");
	CHECK(f, strcmp(cl_cmd(&b, NULL, false), "+OK mailnode POP3 ready\r\n") == 0, "greet b");
	CHECK(f, cl_connect(f, &c) == 0, "connect c");
	CHECK(f,
	    strcmp(cl_cmd(&c, NULL, false),
	        "-ERR [SYS/TEMP] too many connections from your address\r\n") == 0,
	    "3rd connection: %s", c.buf);
	CHECK(f, cl_eof(&c), "refused connection not closed");
	close(c.fd);
	close(b.fd);
	for (int i = 0; i < 2; i++) {
		CHECK(f, strcmp(cl_cmd(&a, "USER " USER "\r\n", false), "+OK send PASS\r\n") == 0,
		    "USER: %s", a.buf);
		CHECK(f,
		    strcmp(cl_cmd(&a, "PASS wrong\r\n", false),
		        "-ERR [AUTH] invalid credentials\r\n") == 0,
		    "PASS wrong %d: %s", i, a.buf);
	}
	CHECK(f,
	    strcmp(cl_cmd(&a, "AUTH PLAIN AGJvYkBhLnRlc3QAczNjcmV0IHB3\r\n", false),
	        "-ERR [AUTH] invalid credentials\r\n") == 0,
	    "blocked, right password: %s", a.buf);
	/* a blocked login starts the failure delay at once; hang up inside
	 * it: the session's close drops the timer's reference and the conn's
	 * (ASan sees a use after free or a leak if the counting is wrong) */
	CHECK(f,
	    write(a.fd, "USER " USER "\r\nPASS wrong\r\n",
	        sizeof("USER " USER "\r\nPASS wrong\r\n") - 1) > 0,
	    "write");
	close(a.fd);
	CHECK(f, cl_connect(f, &b) == 0, "connect after hang-up");
	CHECK(f, strcmp(cl_cmd(&b, NULL, false), "+OK mailnode POP3 ready\r\n") == 0,
	    "greet after hang-up: %s", b.buf);
	close(b.fd);
}

static void
test_limits_wired(void **state)
{
	struct fx *f = *state;
	struct limits_config lc;
	struct limits_blocked *bl;
	struct mn_err err;
	size_t n;

	limits_config_defaults(&lc);
	lc.max_conn_per_ip = 2;
	lc.auth_fail_ip = 2;
	assert_int_equal(limits_new(&lc, &f->limits, &err), 0);
	run_client(f, client_limits);
	/* every admitted connection was released when it closed */
	assert_int_equal(limits_conn_count(f->limits, LIMITS_POP3, "127.0.0.1"), 0);
	limits_blocked_list(f->limits, &bl, &n);
	assert_int_equal(n, 1);
	assert_string_equal(bl[0].key, "127.0.0.1");
	assert_int_equal(bl[0].failures, 2);
	free(bl);
	limits_free(&f->limits);
}

/* A message far above the output high-water mark, read slowly. */
#define BIG_LINES 200000
static size_t g_big_len;

static void
client_big(struct fx *f)
{
	struct cl c;
	char want[64], b[65536], tail[9] = "";
	size_t got = 0, total;

	cl_login(f, &c, USER);
	if (f->failure[0])
		return;
	snprintf(want, sizeof(want), "+OK %zu octets\r\n", g_big_len);
	c.len = 0;
	CHECK(f, write(c.fd, "RETR 3\r\nNOOP\r\n", 14) == 14, "write");
	/* the reply: header line, body with dot-stuffing, ".\r\n", then +OK */
	total = strlen(want) + g_big_len + BIG_LINES /* stuffed dots */ + 3 + 5;
	while (got < total) {
		struct pollfd p = {.fd = c.fd, .events = POLLIN};
		ssize_t n;

		CHECK(f, poll(&p, 1, DEADLINE_MS) == 1, "stalled at %zu of %zu", got, total);
		n = read(c.fd, b, sizeof(b));
		CHECK(f, n > 0, "eof at %zu", got);
		if (got == 0)
			CHECK(f, strncmp(b, want, strlen(want)) == 0, "RETR big: %.40s", b);
		got += (size_t)n;
		/* keep the last 8 bytes seen */
		if (n >= 8) {
			memcpy(tail, b + n - 8, 8);
		} else {
			memmove(tail, tail + n, 8 - (size_t)n);
			memcpy(tail + 8 - n, b, (size_t)n);
		}
	}
	CHECK(f, memcmp(tail, ".\r\n+OK\r\n", 8) == 0, "tail <%s>", tail);
	CHECK(f, got == total, "got %zu want %zu", got, total);
	close(c.fd);
}

static void
test_big_message_streams(void **state)
{
	struct fx *f = *state;
	struct buf m;

	buf_init(&m, 0);
	buf_append_str(&m, "Subject: big\r\n\r\n");
	for (int i = 0; i < BIG_LINES; i++)
		buf_append_str(&m, ".a line that starts with a dot\r\n");
	g_big_len = m.len;
	deliver(f, USER, (const char *)m.data, m.len);
	buf_fini(&m);
	run_client(f, client_big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plaintext_policy),
	    cmocka_unit_test(test_capa_text),
	    cmocka_unit_test(test_sasl_plain_decode),
	    cmocka_unit_test(test_msgnum),
	    cmocka_unit_test(test_stuffer),
	    cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_and_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits_wired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_message_streams, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
