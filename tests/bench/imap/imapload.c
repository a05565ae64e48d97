/*
 * imapload.c - IMAP4rev1 (RFC 3501) load generator for tests/bench/imap
 * (benchmark only, never built by CMake, never run in CI).
 *
 * Three modes, all over plain TCP to a 127.0.0.0/8 address, with LOGIN:
 *
 *   load  fill the mailboxes: USERS users, MSGS messages each, APPENDed to
 *         INBOX by CLIENTS parallel sessions (every third message \Seen).
 *         The content is a function of (user, index) only, so every server
 *         gets the same messages.
 *   mix   CLIENTS parallel sessions, each a loop of: LOGIN (user = session
 *         number mod USERS), SELECT INBOX, OPS commands drawn from a fixed
 *         mix (FETCH of headers/flags of 10 messages, FETCH BODY.PEEK[] of
 *         one, STORE +/-FLAGS, SEARCH, APPEND), LOGOUT; until SECONDS or
 *         TOTAL commands. The random sequence is seeded per session, so
 *         each server sees the same command sequence.
 *   idle  CLIENTS connections, each LOGIN + SELECT INBOX + IDLE (RFC 2177);
 *         prints "ready N" when all idle, then holds them until stdin is
 *         closed or SECONDS pass; then DONE + LOGOUT.
 *
 * Every command's latency (send to tagged reply) is recorded by command
 * type. Output (stdout): "total ops=N errors=E elapsed=S rate=R p50_ms=X
 * p99_ms=Y" and one "cmd NAME n=N p50_ms=X p99_ms=Y" line per type. A
 * tagged NO/BAD or a broken connection counts as an error (the first few
 * go to stderr); the session then reconnects.
 *
 * Responses are read literal-aware: a line ending in {n} is followed by n
 * raw bytes before the line goes on, so message bodies never look like a
 * tagged reply.
 *
 * Build: cc -O2 -pthread -I ../lib -o imapload imapload.c ../lib/loadlib.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadlib.h"

#define BUF_SIZE (64 * 1024)
#define MAX_LINE (64 * 1024)

enum cmd_kind {
	CMD_LOGIN,
	CMD_SELECT,
	CMD_FETCH_HDR,
	CMD_FETCH_BODY,
	CMD_STORE,
	CMD_SEARCH,
	CMD_APPEND,
	CMD_LOGOUT,
	CMD_IDLE,
	CMD_COUNT
};

static const char *cmd_names[CMD_COUNT] = {
    "LOGIN", "SELECT", "FETCH_HDR", "FETCH_BODY", "STORE", "SEARCH", "APPEND", "LOGOUT", "IDLE"};

static const char *opt_host = "127.0.0.1";
static int opt_port = 143;
static const char *opt_mode = "mix";
static int opt_clients = 20;
static int opt_users = 20;
static int opt_msgs = 500;
static long opt_size = 4096;
static int opt_ops = 25;
static double opt_seconds = 20;
static long opt_total = 10000000;
static const char *opt_domain = "bench.test";
static const char *opt_password = "bench-Secret-1";

static double deadline;
static atomic_long ops_done;
static atomic_long n_errors;
static atomic_int next_user;
static atomic_int n_idle_ready;

struct session {
	int fd;
	int id;
	char buf[BUF_SIZE];
	size_t off, len;
	unsigned tag;
	long exists;
	uint64_t rng;
	struct load_lat lat[CMD_COUNT];
	char *msg;
};

static struct session **sessions;

static uint64_t
rnd(struct session *s)
{
	/* xorshift64*: a fixed sequence per session seed */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static int
fill(struct session *s)
{
	ssize_t r;

	if (s->off > 0) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (s->len == sizeof(s->buf))
		return -1;
	do
		r = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	s->len += (size_t)r;
	return 0;
}

/* One physical line (without CRLF) into line; -1 on EOF/timeout/too long. */
static int
read_line(struct session *s, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(s->buf + s->off, '\n', s->len - s->off);

		if (nl != NULL) {
			size_t n = (size_t)(nl - (s->buf + s->off));
			size_t l = n;

			if (l > 0 && s->buf[s->off + l - 1] == '\r')
				l--;
			if (l >= max)
				return -1;
			memcpy(line, s->buf + s->off, l);
			line[l] = '\0';
			s->off += n + 1;
			return (int)l;
		}
		if (fill(s) < 0)
			return -1;
	}
}

static int
skip_bytes(struct session *s, long n)
{
	while (n > 0) {
		size_t have = s->len - s->off;

		if (have == 0) {
			if (fill(s) < 0)
				return -1;
			continue;
		}
		if ((long)have > n)
			have = (size_t)n;
		s->off += have;
		n -= (long)have;
	}
	return 0;
}

/* Literal announced at the end of a line: "{123}" or "{123+}". */
static long
trailing_literal(const char *line, int len)
{
	int i;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	for (i = len - 2; i >= 0 && line[i] != '{'; i--)
		;
	if (i < 0)
		return -1;
	return atol(line + i + 1);
}

/*
 * Read responses until the tagged one for tag (or, with want_cont, a "+"
 * continuation). Untagged EXISTS updates s->exists. Returns 0 for OK (or
 * the continuation), 1 for NO/BAD, -1 for a broken connection.
 */
static int
read_until(struct session *s, const char *tag, int want_cont, char *status_out, size_t smax)
{
	static __thread char line[MAX_LINE];
	size_t tl = strlen(tag);

	for (;;) {
		int len = read_line(s, line, sizeof(line));
		long lit;
		int first = 1;

		if (len < 0)
			return -1;
		if (want_cont && line[0] == '+')
			return 0;
		if (strncmp(line, tag, tl) == 0 && line[tl] == ' ') {
			if (status_out != NULL)
				snprintf(status_out, smax, "%.400s", line);
			return strncmp(line + tl + 1, "OK", 2) == 0 ? 0 : 1;
		}
		if (line[0] == '*' && first) {
			char *e = strstr(line, " EXISTS");

			if (e != NULL && e[7] == '\0')
				s->exists = atol(line + 2);
		}
		/* a response line with literals continues after each one */
		while ((lit = trailing_literal(line, len)) >= 0) {
			first = 0;
			if (skip_bytes(s, lit) < 0)
				return -1;
			len = read_line(s, line, sizeof(line));
			if (len < 0)
				return -1;
		}
	}
}

/* Send one command (text without tag and CRLF), wait for its tagged reply,
 * record the latency. Returns 0 OK, 1 NO/BAD, -1 connection broken. */
static int
command(struct session *s, enum cmd_kind kind, const char *fmt, ...)
{
	char cmd[2048], tag[16], status[512];
	int n, rc;
	double t0 = load_now();
	va_list ap;

	snprintf(tag, sizeof(tag), "a%u", ++s->tag);
	n = snprintf(cmd, sizeof(cmd), "%s ", tag);
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof(cmd) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	memcpy(cmd + n, "\r\n", 2);
	if (load_write_all(s->fd, cmd, (size_t)n + 2) < 0)
		return -1;
	rc = read_until(s, tag, 0, status, sizeof(status));
	if (rc == 0)
		load_lat_add(&s->lat[kind], load_now() - t0);
	else if (rc > 0)
		load_report_error("session %d: %s -> %s\n", s->id, cmd_names[kind], status);
	return rc;
}

/* The message (user, index): a function of those two only. */
static size_t
build_message(char *out, size_t cap, int user, long idx)
{
	size_t n = 0;
	long line_no = 0;

	n += (size_t)snprintf(out + n, cap - n,
	    "From: Sender %ld <sender%ld@client.test>\r\n"
	    "To: <user%d@%s>\r\n"
	    "Subject: msg %ld topic %ld\r\n"
	    "Message-ID: <bench-%d-%ld@client.test>\r\n"
	    "Date: Sat, 28 Nov 2026 03:%02ld:00 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n",
	    idx % 10, idx % 10, user, opt_domain, idx, idx % 7, user, idx, idx % 60);
	while (n + 80 < (size_t)opt_size && n + 80 < cap) {
		int k;

		n += (size_t)snprintf(out + n, cap - n, "%06ld ", line_no++);
		for (k = 0; k < 67; k++)
			out[n++] = (char)('a' + (user + idx + line_no + k) % 26);
		out[n++] = '\r';
		out[n++] = '\n';
	}
	return n;
}

static int
do_append(struct session *s, int user, long idx, int seen)
{
	char cmd[256], tag[16], status[512];
	size_t len = build_message(s->msg, (size_t)opt_size + 1024, user, idx);
	double t0 = load_now();
	int rc;

	snprintf(tag, sizeof(tag), "a%u", ++s->tag);
	snprintf(
	    cmd, sizeof(cmd), "%s APPEND INBOX (%s) {%zu}\r\n", tag, seen ? "\\Seen" : "", len);
	if (load_write_all(s->fd, cmd, strlen(cmd)) < 0)
		return -1;
	rc = read_until(s, tag, 1, status, sizeof(status));
	if (rc != 0) {
		if (rc > 0)
			load_report_error("session %d: APPEND refused: %s\n", s->id, status);
		return rc;
	}
	if (load_write_all(s->fd, s->msg, len) < 0 || load_write_all(s->fd, "\r\n", 2) < 0)
		return -1;
	rc = read_until(s, tag, 0, status, sizeof(status));
	if (rc == 0)
		load_lat_add(&s->lat[CMD_APPEND], load_now() - t0);
	else if (rc > 0)
		load_report_error("session %d: APPEND -> %s\n", s->id, status);
	return rc;
}

static int
open_session(struct session *s, int user)
{
	char greeting[1024];

	s->fd = load_connect(opt_host, opt_port, 60);
	s->off = s->len = 0;
	if (s->fd < 0)
		return -1;
	if (read_line(s, greeting, sizeof(greeting)) < 0 || strncmp(greeting, "* OK", 4) != 0)
		return -1;
	return command(s, CMD_LOGIN, "LOGIN user%d@%s %s", user, opt_domain, opt_password);
}

static void
close_session(struct session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int
count_op(struct session *s, int rc)
{
	atomic_fetch_add(&ops_done, 1);
	if (rc != 0)
		atomic_fetch_add(&n_errors, 1);
	(void)s;
	return rc;
}

static void *
load_main(void *arg)
{
	struct session *s = arg;
	int user;

	while ((user = atomic_fetch_add(&next_user, 1)) < opt_users) {
		long i;

		if (count_op(s, open_session(s, user)) != 0) {
			load_report_error("load: LOGIN user%d failed\n", user);
			close_session(s);
			continue;
		}
		for (i = 0; i < opt_msgs && load_now() < deadline; i++)
			if (count_op(s, do_append(s, user, i, i % 3 == 0)) < 0)
				break;
		count_op(s, command(s, CMD_LOGOUT, "LOGOUT"));
		close_session(s);
	}
	return NULL;
}

static int
mix_op(struct session *s, int user)
{
	uint64_t r = rnd(s) % 100;
	long n = s->exists > 0 ? s->exists : 1;
	long a = (long)(rnd(s) % (uint64_t)n) + 1;
	static const char *searches[] = {"UNSEEN", "SUBJECT \"topic 3\"", "FROM \"sender7\"",
	    "LARGER 4000 FLAGGED", "TEXT \"msg 42\""};

	if (r < 30) {
		long b = a + 9 > n ? n : a + 9;

		return command(s, CMD_FETCH_HDR,
		    "FETCH %ld:%ld (FLAGS INTERNALDATE RFC822.SIZE "
		    "ENVELOPE)",
		    a, b);
	}
	if (r < 50)
		return command(s, CMD_FETCH_BODY, "FETCH %ld (BODY.PEEK[])", a);
	if (r < 75)
		return command(
		    s, CMD_STORE, "STORE %ld %cFLAGS (\\Flagged)", a, rnd(s) % 2 ? '+' : '-');
	if (r < 90)
		return command(s, CMD_SEARCH, "SEARCH %s", searches[rnd(s) % 5]);
	return do_append(s, user, 100000 + (long)(rnd(s) % 100000), 0);
}

static void *
mix_main(void *arg)
{
	struct session *s = arg;
	int user = s->id % opt_users;

	while (load_now() < deadline && atomic_load(&ops_done) < opt_total) {
		int i, rc;

		if (count_op(s, open_session(s, user)) != 0)
			goto broken;
		if (count_op(s, command(s, CMD_SELECT, "SELECT INBOX")) != 0)
			goto broken;
		for (i = 0; i < opt_ops && load_now() < deadline; i++) {
			rc = count_op(s, mix_op(s, user));
			if (rc < 0)
				goto broken;
		}
		count_op(s, command(s, CMD_LOGOUT, "LOGOUT"));
		close_session(s);
		continue;
	broken:
		load_report_error("session %d: connection or login failed\n", s->id);
		close_session(s);
	}
	return NULL;
}

static void *
idle_main(void *arg)
{
	struct session *s = arg;
	int user = s->id % opt_users;
	char tag[16];

	if (open_session(s, user) != 0 || command(s, CMD_SELECT, "SELECT INBOX") != 0) {
		atomic_fetch_add(&n_errors, 1);
		load_report_error("idle %d: login/select failed\n", s->id);
		close_session(s);
		return NULL;
	}
	snprintf(tag, sizeof(tag), "a%u", ++s->tag);
	{
		char cmd[32];
		double t0 = load_now();

		snprintf(cmd, sizeof(cmd), "%s IDLE\r\n", tag);
		if (load_write_all(s->fd, cmd, strlen(cmd)) < 0 ||
		    read_until(s, tag, 1, NULL, 0) != 0) {
			atomic_fetch_add(&n_errors, 1);
			load_report_error("idle %d: IDLE refused\n", s->id);
			close_session(s);
			return NULL;
		}
		load_lat_add(&s->lat[CMD_IDLE], load_now() - t0);
	}
	atomic_fetch_add(&ops_done, 3);
	atomic_fetch_add(&n_idle_ready, 1);
	return NULL;
}

static void
print_stats(const char *label, struct load_lat *l)
{
	if (l->n == 0)
		return;
	load_sort(l->v, l->n);
	printf("%s n=%zu p50_ms=%.3f p99_ms=%.3f\n", label, l->n, load_pct(l->v, l->n, 0.50) * 1000,
	    load_pct(l->v, l->n, 0.99) * 1000);
}

/* idle: connect in waves of 64 threads, then hold until stdin EOF. */
static void
run_idle(void)
{
	int i, base;
	char c;

	for (base = 0; base < opt_clients; base += 64) {
		pthread_t th[64];
		int k = 0;

		for (i = base; i < opt_clients && i < base + 64; i++)
			pthread_create(&th[k++], NULL, idle_main, sessions[i]);
		for (i = 0; i < k; i++)
			pthread_join(th[i], NULL);
		if (load_now() > deadline)
			break;
	}
	printf("ready %d\n", atomic_load(&n_idle_ready));
	fflush(stdout);
	/* hold: stdin EOF (the orchestrator closes it) or the time limit */
	for (;;) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		double left = deadline - load_now();

		if (left <= 0)
			break;
		if (poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000)) > 0) {
			if (read(0, &c, 1) <= 0)
				break;
		}
	}
	for (i = 0; i < opt_clients; i++) {
		struct session *s = sessions[i];

		if (s->fd >= 0) {
			(void)load_write_all(s->fd, "DONE\r\nz LOGOUT\r\n", 16);
			close_session(s);
		}
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: imapload -h 127.0.0.X -p PORT -m load|mix|idle [-c CLIENTS] [-u USERS]\n"
	    "       [-M MSGS] [-s SIZE] [-o OPS_PER_SESSION] [-T SECONDS] [-n TOTAL]\n"
	    "       [-d DOMAIN] [-w PASSWORD]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t *th;
	struct load_lat all = {0};
	double t0, t1;
	int i, k, opt;

	while ((opt = getopt(argc, argv, "h:p:m:c:u:M:s:o:T:n:d:w:")) != -1) {
		switch (opt) {
		case 'h':
			opt_host = optarg;
			break;
		case 'p':
			opt_port = atoi(optarg);
			break;
		case 'm':
			opt_mode = optarg;
			break;
		case 'c':
			opt_clients = atoi(optarg);
			break;
		case 'u':
			opt_users = atoi(optarg);
			break;
		case 'M':
			opt_msgs = atoi(optarg);
			break;
		case 's':
			opt_size = atol(optarg);
			break;
		case 'o':
			opt_ops = atoi(optarg);
			break;
		case 'T':
			opt_seconds = atof(optarg);
			break;
		case 'n':
			opt_total = atol(optarg);
			break;
		case 'd':
			opt_domain = optarg;
			break;
		case 'w':
			opt_password = optarg;
			break;
		default:
			usage();
		}
	}
	if (load_check_loopback("imapload", opt_host) < 0)
		return 2;
	if (opt_clients < 1 || opt_clients > 100000 || opt_users < 1 || opt_msgs < 0 ||
	    opt_size < 512 || opt_size > 16 * 1024 * 1024 || opt_ops < 1 || opt_seconds <= 0)
		usage();

	sessions = calloc((size_t)opt_clients, sizeof(*sessions));
	for (i = 0; i < opt_clients; i++) {
		sessions[i] = calloc(1, sizeof(struct session));
		sessions[i]->fd = -1;
		sessions[i]->id = i;
		sessions[i]->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		sessions[i]->msg = malloc((size_t)opt_size + 1024);
	}
	t0 = load_now();
	deadline = t0 + opt_seconds;
	if (strcmp(opt_mode, "idle") == 0) {
		run_idle();
	} else {
		void *(*fn)(void *) = strcmp(opt_mode, "load") == 0 ? load_main : mix_main;

		if (fn == mix_main && strcmp(opt_mode, "mix") != 0)
			usage();
		th = calloc((size_t)opt_clients, sizeof(*th));
		for (i = 0; i < opt_clients; i++)
			pthread_create(&th[i], NULL, fn, sessions[i]);
		for (i = 0; i < opt_clients; i++)
			pthread_join(th[i], NULL);
		free(th);
	}
	t1 = load_now();

	for (k = 0; k < CMD_COUNT; k++) {
		struct load_lat merged = {0};

		for (i = 0; i < opt_clients; i++) {
			struct load_lat *l = &sessions[i]->lat[k];
			size_t j;

			for (j = 0; j < l->n; j++) {
				load_lat_add(&merged, l->v[j]);
				load_lat_add(&all, l->v[j]);
			}
		}
		if (merged.n > 0) {
			char label[64];

			snprintf(label, sizeof(label), "cmd %s", cmd_names[k]);
			print_stats(label, &merged);
		}
		free(merged.v);
	}
	printf("total ops=%ld errors=%ld elapsed=%.3f rate=%.1f ", (long)atomic_load(&ops_done),
	    (long)atomic_load(&n_errors), t1 - t0, atomic_load(&ops_done) / (t1 - t0));
	if (all.n > 0) {
		load_sort(all.v, all.n);
		printf("p50_ms=%.3f p99_ms=%.3f\n", load_pct(all.v, all.n, 0.50) * 1000,
		    load_pct(all.v, all.n, 0.99) * 1000);
	} else {
		printf("p50_ms=0 p99_ms=0\n");
	}
	return atomic_load(&n_errors) == 0 ? 0 : 1;
}
