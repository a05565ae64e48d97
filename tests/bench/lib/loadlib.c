/*
 * loadlib.c - shared helpers of the C load generators in tests/bench (see
 * loadlib.h). Benchmark only, never built by CMake, never run in CI.
 */
#define _GNU_SOURCE
#include "loadlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

double
load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
load_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
load_report_error(const char *fmt, ...)
{
	static atomic_int printed;
	va_list ap;

	if (atomic_fetch_add(&printed, 1) >= 10)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

int
load_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
load_connect(const char *host, int port, int timeout_s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = timeout_s};
	int one = 1;
	int fd;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
load_check_loopback(const char *prog, const char *host)
{
	struct in_addr a;

	if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
		fprintf(stderr, "%s: host must be a 127.0.0.0/8 address, not %s\n", prog, host);
		return -1;
	}
	return 0;
}

void
load_lat_add(struct load_lat *l, double secs)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(double));
		if (l->v == NULL)
			abort();
	}
	l->v[l->n++] = secs;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void
load_sort(double *v, size_t n)
{
	if (n > 0)
		qsort(v, n, sizeof(double), cmp_double);
}

double
load_pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0.0;
	k = (size_t)((double)n * p);
	return v[k < n ? k : n - 1];
}
