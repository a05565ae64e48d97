/*
 * smtpload.c - SMTP load generator for tests/bench/smtp (benchmark only, never
 * built by CMake, never run in CI).
 *
 * C parallel clients (threads, blocking sockets) each keep one SMTP session
 * open and send messages until the shared message counter reaches the total:
 * MAIL FROM, one RCPT TO (user<k>@DOMAIN, k = message index mod users), DATA,
 * a message of about SIZE bytes, ".". With PIPELINING advertised (RFC 2920)
 * MAIL, RCPT and DATA go out in one write, as an MTA would send them.
 * A message counts as accepted only when the reply to its final "." is 250.
 *
 * It is bounded: a total message count, a wall-clock limit (-t) and a socket
 * timeout; it never retries, it stops. Loopback only: the host is given as a
 * numeric IPv4 address and refused unless it is in 127.0.0.0/8.
 *
 * Output (stdout, one line of key=value, parsed by bench_smtp.py):
 *   sent=N accepted=N failed=N elapsed=S rate=R p50_ms=X p99_ms=Y
 *   start=EPOCH end=EPOCH
 * The first few non-250 replies go to stderr.
 *
 * Build: cc -O2 -pthread -I ../lib -o smtpload smtpload.c ../lib/loadlib.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadlib.h"

#define MAX_REPLY 8192

static const char *opt_host = "127.0.0.1";
static int opt_port = 25;
static long opt_total = 5000;
static int opt_clients = 20;
static long opt_size = 4096;
static int opt_users = 100;
static const char *opt_domain = "bench.test";
static const char *opt_prefix = "user";
static double opt_time_limit = 600.0;
static int opt_pipelining = 1;

static atomic_long next_msg;
static atomic_long n_accepted;
static atomic_long n_failed;
static double deadline;
static double *latencies; /* per message, seconds; -1 = not accepted */

struct conn {
	int fd;
	char buf[MAX_REPLY];
	size_t len;
};

/* Read one line (CRLF) into line; returns its length without CRLF, -1 on
 * EOF, timeout or an over-long line. */
static int
read_line(struct conn *c, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf) + 1;
			size_t l = n;

			while (l > 0 && (c->buf[l - 1] == '\n' || c->buf[l - 1] == '\r'))
				l--;
			if (l >= max)
				return -1;
			memcpy(line, c->buf, l);
			line[l] = '\0';
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return (int)l;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

/* Read a (possibly multi-line) reply; returns the code, -1 on error. With
 * text != NULL the lines are appended (for EHLO keywords). */
static int
read_reply(struct conn *c, char *text, size_t text_max)
{
	char line[1024];
	size_t used = 0;

	if (text != NULL && text_max > 0)
		text[0] = '\0';
	for (;;) {
		int l = read_line(c, line, sizeof(line));

		if (l < 4)
			return -1;
		if (text != NULL && used + (size_t)l + 2 < text_max) {
			memcpy(text + used, line, (size_t)l);
			used += (size_t)l;
			text[used++] = '\n';
			text[used] = '\0';
		}
		if (line[3] == ' ')
			return atoi(line);
		if (line[3] != '-')
			return -1;
	}
}

/* The message: headers, then 76-character body lines up to opt_size, then
 * the terminating "." line. No body line starts with "." (no stuffing). */
static size_t
build_message(char *out, size_t cap, long idx, int thread, const char *rcpt)
{
	size_t n = 0;
	long line_no = 0;

	n += (size_t)snprintf(out + n, cap - n,
	    "From: Bench Sender <sender%d@client.test>\r\n"
	    "To: <%s>\r\n"
	    "Subject: bench message %ld\r\n"
	    "Message-ID: <bench-%ld-%d@client.test>\r\n"
	    "Date: Sat, 28 Nov 2026 03:00:00 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n",
	    thread, rcpt, idx, idx, thread);
	while (n + 80 < (size_t)opt_size && n + 80 < cap - 8) {
		int k;

		n += (size_t)snprintf(out + n, cap - n, "%06ld ", line_no++);
		for (k = 0; k < 67; k++)
			out[n++] = (char)('a' + (idx + line_no + k) % 26);
		out[n++] = '\r';
		out[n++] = '\n';
	}
	memcpy(out + n, ".\r\n", 3);
	return n + 3;
}

static void *
client_main(void *arg)
{
	int thread = (int)(long)arg;
	struct conn *c = calloc(1, sizeof(*c));
	char ehlo[4096];
	char *msg = malloc((size_t)opt_size + 1024);
	char cmd[1024];
	int pipelining = 0;

	c->fd = load_connect(opt_host, opt_port, 30);
	if (c->fd < 0) {
		load_report_error(
		    "client %d: connect %s:%d: %s\n", thread, opt_host, opt_port, strerror(errno));
		goto out;
	}
	if (read_reply(c, NULL, 0) != 220) {
		load_report_error("client %d: no 220 greeting\n", thread);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "EHLO client%d.client.test\r\n", thread);
	if (load_write_all(c->fd, cmd, strlen(cmd)) < 0 ||
	    read_reply(c, ehlo, sizeof(ehlo)) != 250) {
		load_report_error("client %d: EHLO refused\n", thread);
		goto out;
	}
	pipelining = opt_pipelining && strstr(ehlo, "PIPELINING") != NULL;

	for (;;) {
		long idx = atomic_fetch_add(&next_msg, 1);
		char rcpt[256];
		double t0;
		int code;
		size_t len;

		if (idx >= opt_total)
			break;
		if (load_now() > deadline) {
			atomic_fetch_add(&n_failed, 1);
			break;
		}
		snprintf(rcpt, sizeof(rcpt), "%s%ld@%s", opt_prefix, idx % opt_users, opt_domain);
		len = build_message(msg, (size_t)opt_size + 1024, idx, thread, rcpt);
		t0 = load_now();
		if (pipelining) {
			snprintf(cmd, sizeof(cmd),
			    "MAIL FROM:<sender%d@client.test> SIZE=%zu\r\nRCPT TO:<%s>\r\nDATA\r\n",
			    thread, len, rcpt);
			if (load_write_all(c->fd, cmd, strlen(cmd)) < 0)
				goto io_error;
			if ((code = read_reply(c, NULL, 0)) != 250)
				goto refused_mail;
			if ((code = read_reply(c, NULL, 0)) != 250 && code != 251)
				goto refused_rcpt;
			if ((code = read_reply(c, NULL, 0)) != 354)
				goto refused_data;
		} else {
			snprintf(cmd, sizeof(cmd), "MAIL FROM:<sender%d@client.test>\r\n", thread);
			if (load_write_all(c->fd, cmd, strlen(cmd)) < 0)
				goto io_error;
			if ((code = read_reply(c, NULL, 0)) != 250)
				goto refused_mail;
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", rcpt);
			if (load_write_all(c->fd, cmd, strlen(cmd)) < 0)
				goto io_error;
			if ((code = read_reply(c, NULL, 0)) != 250 && code != 251)
				goto refused_rcpt;
			if (load_write_all(c->fd, "DATA\r\n", 6) < 0)
				goto io_error;
			if ((code = read_reply(c, NULL, 0)) != 354)
				goto refused_data;
		}
		if (load_write_all(c->fd, msg, len) < 0)
			goto io_error;
		code = read_reply(c, NULL, 0);
		if (code != 250) {
			load_report_error(
			    "client %d: message %ld: reply %d after DATA\n", thread, idx, code);
			atomic_fetch_add(&n_failed, 1);
			if (code < 0)
				goto out;
			continue;
		}
		latencies[idx] = load_now() - t0;
		atomic_fetch_add(&n_accepted, 1);
		continue;
	refused_mail:
		load_report_error("client %d: message %ld: MAIL reply %d\n", thread, idx, code);
		goto refused;
	refused_rcpt:
		load_report_error("client %d: message %ld: RCPT reply %d\n", thread, idx, code);
		goto refused;
	refused_data:
		load_report_error("client %d: message %ld: DATA reply %d\n", thread, idx, code);
	refused:
		atomic_fetch_add(&n_failed, 1);
		/* Pipelined replies still pending are read by RSET's turn only if
		 * the session is in a known state: simplest honest choice is to
		 * end this client. */
		goto out;
	io_error:
		load_report_error(
		    "client %d: message %ld: write failed: %s\n", thread, idx, strerror(errno));
		atomic_fetch_add(&n_failed, 1);
		goto out;
	}
	if (load_write_all(c->fd, "QUIT\r\n", 6) == 0)
		(void)read_reply(c, NULL, 0);
out:
	if (c->fd >= 0)
		close(c->fd);
	free(msg);
	free(c);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: smtpload -h 127.0.0.X -p PORT [-n TOTAL] [-c CLIENTS] [-s SIZE]\n"
	    "                [-u USERS] [-d DOMAIN] [-x PREFIX] [-t SECONDS] [-P 0|1]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t *th;
	double t0, t1, w0, w1, *ok;
	long i, n_ok = 0;
	int opt;

	while ((opt = getopt(argc, argv, "h:p:n:c:s:u:d:x:t:P:")) != -1) {
		switch (opt) {
		case 'h':
			opt_host = optarg;
			break;
		case 'p':
			opt_port = atoi(optarg);
			break;
		case 'n':
			opt_total = atol(optarg);
			break;
		case 'c':
			opt_clients = atoi(optarg);
			break;
		case 's':
			opt_size = atol(optarg);
			break;
		case 'u':
			opt_users = atoi(optarg);
			break;
		case 'd':
			opt_domain = optarg;
			break;
		case 'x':
			opt_prefix = optarg;
			break;
		case 't':
			opt_time_limit = atof(optarg);
			break;
		case 'P':
			opt_pipelining = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (load_check_loopback("smtpload", opt_host) < 0)
		return 2;
	if (opt_total < 1 || opt_total > 10000000 || opt_clients < 1 || opt_clients > 1000 ||
	    opt_size < 256 || opt_size > 64 * 1024 * 1024 || opt_users < 1)
		usage();

	latencies = calloc((size_t)opt_total, sizeof(double));
	th = calloc((size_t)opt_clients, sizeof(*th));
	t0 = load_now();
	w0 = load_wall();
	deadline = t0 + opt_time_limit;
	for (i = 0; i < opt_clients; i++)
		pthread_create(&th[i], NULL, client_main, (void *)i);
	for (i = 0; i < opt_clients; i++)
		pthread_join(th[i], NULL);
	t1 = load_now();
	w1 = load_wall();

	ok = calloc((size_t)opt_total, sizeof(double));
	for (i = 0; i < opt_total; i++)
		if (latencies[i] > 0)
			ok[n_ok++] = latencies[i];
	load_sort(ok, (size_t)n_ok);
	printf("sent=%ld accepted=%ld failed=%ld elapsed=%.3f rate=%.1f p50_ms=%.2f "
	       "p99_ms=%.2f start=%.6f end=%.6f\n",
	    (long)atomic_load(&next_msg) < opt_total ? (long)atomic_load(&next_msg) : opt_total,
	    (long)atomic_load(&n_accepted), (long)atomic_load(&n_failed), t1 - t0,
	    atomic_load(&n_accepted) / (t1 - t0), load_pct(ok, (size_t)n_ok, 0.50) * 1000,
	    load_pct(ok, (size_t)n_ok, 0.99) * 1000, w0, w1);
	free(ok);
	free(latencies);
	free(th);
	return atomic_load(&n_accepted) == opt_total ? 0 : 1;
}
