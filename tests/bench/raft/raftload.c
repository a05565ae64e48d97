/*
 * raftload.c - directory write load generator for tests/bench/raft
 * (benchmark only, never built by CMake, never run in CI).
 *
 * C parallel clients (threads, blocking sockets), each with one HTTP/1.1
 * keep-alive connection to one node's admin API, write the directory in a
 * loop until the time is up: POST /api/v1/domains {"name": D} (201), then
 * DELETE /api/v1/domains/D (204), D unique per client and iteration. Each
 * request is one Raft log entry; it is answered once it is committed and
 * applied on the node asked (a follower forwards it to the leader), so its
 * latency is the commit latency seen by an API client. Adding and deleting
 * keeps the directory the same size for the whole run (the domain add reply
 * reads the domain list).
 *
 * Bounded: the clients stop starting requests after -t seconds; a socket
 * timeout (30 s) bounds a request in flight. Timing starts once every
 * client is connected. Loopback only: the host must be a numeric IPv4
 * address in 127.0.0.0/8.
 *
 * Output (stdout, one line of key=value, parsed by bench_raft.py):
 *   writes=N failed=N elapsed=S rate=R p50_ms=X p99_ms=Y mean_ms=Z max_ms=W
 * The first few failures go to stderr.
 *
 * Build: cc -O2 -pthread -I ../lib -o raftload raftload.c ../lib/loadlib.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadlib.h"

#define MAX_RESPONSE 65536
#define MAX_CLIENTS 256

static const char *opt_host = "127.0.0.1";
static int opt_port = 6080;
static int opt_clients = 1;
static double opt_seconds = 5.0;
static const char *opt_auth = "";    /* base64 of user:password */
static const char *opt_prefix = "w"; /* domain label prefix, unique per run */

static atomic_long n_ok;
static atomic_long n_failed;
static atomic_int n_connected;
static atomic_int go;
static double t_start, t_stop; /* written before go is set */

struct client {
	int id;
	int fd;
	char buf[MAX_RESPONSE];
	size_t len;
	struct load_lat lat; /* seconds, per successful request */
	int broken;          /* the connection failed: stop this client */
	int server_closed;   /* answered with "Connection: close": reconnect */
};

/* Read one response: status line, headers, Content-Length body. Returns the
 * status code, -1 on EOF/timeout/garbage. *close_after is set when the
 * server said "Connection: close". The body (NUL-terminated, possibly cut)
 * is copied to body. */
static int
read_response(struct client *c, int *close_after, char *body, size_t body_max)
{
	char *end = NULL;
	size_t head_len, content_len = 0, total;
	int status;

	*close_after = 0;
	for (;;) {
		end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
		if (end != NULL)
			break;
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
	head_len = (size_t)(end - c->buf) + 4;
	if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0)
		return -1;
	status = atoi(c->buf + 9);
	for (char *p = memchr(c->buf, '\n', head_len); p != NULL && p < c->buf + head_len;
	     p = memchr(p, '\n', (size_t)(c->buf + head_len - p))) {
		p++;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			content_len = strtoul(p + 15, NULL, 10);
		else if (strncasecmp(p, "Connection:", 11) == 0 && strstr(p, "close") != NULL &&
		         strstr(p, "close") <
		             (char *)memchr(p, '\n', (size_t)(c->buf + head_len - p)))
			*close_after = 1;
	}
	if (head_len + content_len > sizeof(c->buf))
		return -1;
	total = head_len + content_len;
	while (c->len < total) {
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
	if (body_max > 0) {
		size_t n = content_len < body_max - 1 ? content_len : body_max - 1;

		memcpy(body, c->buf + head_len, n);
		body[n] = '\0';
	}
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;
	return status;
}

/* One request; 0 when answered with `want`, -1 otherwise (the client's
 * connection is then broken when the failure was on the wire). */
static int
request(struct client *c, const char *method, const char *path, const char *json, int want)
{
	char req[1024], body[256];
	int n, status, close_after;
	double t0;

	n = snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Basic %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, opt_host, opt_port, opt_auth, json ? strlen(json) : 0, json ? json : "");
	t0 = load_now();
	if (load_write_all(c->fd, req, (size_t)n) < 0) {
		load_report_error(
		    "client %d: %s %s: write: %s\n", c->id, method, path, strerror(errno));
		c->broken = 1;
		return -1;
	}
	status = read_response(c, &close_after, body, sizeof(body));
	if (status < 0) {
		load_report_error("client %d: %s %s: no response (%s)\n", c->id, method, path,
		    errno ? strerror(errno) : "eof");
		c->broken = 1;
		return -1;
	}
	if (close_after)
		c->server_closed = 1;
	if (status != want) {
		load_report_error("client %d: %s %s: %d %s\n", c->id, method, path, status, body);
		return -1;
	}
	load_lat_add(&c->lat, load_now() - t0);
	return 0;
}

/* after a "Connection: close" answer: a new connection, or broken */
static void
reconnect(struct client *c)
{
	if (!c->server_closed)
		return;
	c->server_closed = 0;
	close(c->fd);
	c->len = 0;
	if ((c->fd = load_connect(opt_host, opt_port, 30)) < 0) {
		load_report_error("client %d: reconnect: %s\n", c->id, strerror(errno));
		c->broken = 1;
	}
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	long i;

	c->fd = load_connect(opt_host, opt_port, 30);
	atomic_fetch_add(&n_connected, 1);
	if (c->fd < 0) {
		load_report_error(
		    "client %d: connect %s:%d: %s\n", c->id, opt_host, opt_port, strerror(errno));
		atomic_fetch_add(&n_failed, 1);
		return NULL;
	}
	/* start together: every client connected, then the clock runs */
	while (!atomic_load(&go))
		usleep(1000);
	for (i = 0; load_now() < t_stop; i++) {
		char name[128], json[192], path[192];

		snprintf(name, sizeof(name), "%s-c%d-%ld.bench.test", opt_prefix, c->id, i);
		snprintf(json, sizeof(json), "{\"name\": \"%s\"}", name);
		snprintf(path, sizeof(path), "/api/v1/domains/%s", name);
		if (request(c, "POST", "/api/v1/domains", json, 201) == 0)
			atomic_fetch_add(&n_ok, 1);
		else
			atomic_fetch_add(&n_failed, 1);
		reconnect(c);
		if (c->broken)
			break;
		if (request(c, "DELETE", path, NULL, 204) == 0)
			atomic_fetch_add(&n_ok, 1);
		else
			atomic_fetch_add(&n_failed, 1);
		reconnect(c);
		if (c->broken)
			break;
	}
	if (c->fd >= 0)
		close(c->fd);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: raftload -h 127.0.0.X -p PORT -a BASE64_USER_PASS [-c CLIENTS]\n"
	                "                [-t SECONDS] [-x PREFIX]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct client *cl;
	pthread_t th[MAX_CLIENTS];
	double elapsed, sum = 0, *all;
	size_t n_all = 0, k;
	int opt, i;

	while ((opt = getopt(argc, argv, "h:p:c:t:a:x:")) != -1) {
		switch (opt) {
		case 'h':
			opt_host = optarg;
			break;
		case 'p':
			opt_port = atoi(optarg);
			break;
		case 'c':
			opt_clients = atoi(optarg);
			break;
		case 't':
			opt_seconds = atof(optarg);
			break;
		case 'a':
			opt_auth = optarg;
			break;
		case 'x':
			opt_prefix = optarg;
			break;
		default:
			usage();
		}
	}
	if (load_check_loopback("raftload", opt_host) < 0)
		return 2;
	if (opt_clients < 1 || opt_clients > MAX_CLIENTS || opt_seconds <= 0 || opt_seconds > 600 ||
	    opt_port < 1 || opt_port > 65535)
		usage();
	cl = calloc((size_t)opt_clients, sizeof(*cl));
	if (cl == NULL)
		return 1;
	for (i = 0; i < opt_clients; i++) {
		cl[i].id = i;
		if (pthread_create(&th[i], NULL, client_main, &cl[i]) != 0)
			return 1;
	}
	while (atomic_load(&n_connected) < opt_clients)
		usleep(1000);
	t_stop = load_now() + opt_seconds;
	t_start = load_now();
	atomic_store(&go, 1);
	for (i = 0; i < opt_clients; i++)
		pthread_join(th[i], NULL);
	elapsed = load_now() - t_start;
	for (i = 0; i < opt_clients; i++)
		n_all += cl[i].lat.n;
	all = malloc((n_all + 1) * sizeof(double));
	if (all == NULL)
		return 1;
	for (i = 0, k = 0; i < opt_clients; i++) {
		memcpy(all + k, cl[i].lat.v, cl[i].lat.n * sizeof(double));
		k += cl[i].lat.n;
		free(cl[i].lat.v);
	}
	load_sort(all, n_all);
	for (k = 0; k < n_all; k++)
		sum += all[k];
	printf("writes=%ld failed=%ld elapsed=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f "
	       "mean_ms=%.3f max_ms=%.3f\n",
	    atomic_load(&n_ok), atomic_load(&n_failed), elapsed,
	    elapsed > 0 ? (double)atomic_load(&n_ok) / elapsed : 0.0,
	    load_pct(all, n_all, 0.50) * 1e3, load_pct(all, n_all, 0.99) * 1e3,
	    n_all ? sum / (double)n_all * 1e3 : 0.0, n_all ? all[n_all - 1] * 1e3 : 0.0);
	free(all);
	free(cl);
	return 0;
}
