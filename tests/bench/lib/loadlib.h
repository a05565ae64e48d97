/*
 * loadlib.h - the parts the C load generators of tests/bench (smtpload,
 * imapload, raftload) share: clocks, rate-limited error reports, blocking
 * loopback sockets and latency vectors with percentiles. Benchmark only,
 * never built by CMake; benchlib.compile_tool compiles loadlib.c with each
 * generator (cc -O2 -pthread -I tests/bench/lib GEN.c loadlib.c).
 */
#ifndef MN_BENCH_LOADLIB_H
#define MN_BENCH_LOADLIB_H

#include <stddef.h>

/* A growing vector of latencies in seconds. */
struct load_lat {
	double *v;
	size_t n, cap;
};

/* CLOCK_MONOTONIC seconds, for intervals. */
double load_now(void);
/* CLOCK_REALTIME seconds, for timestamps others compare against. */
double load_wall(void);

/* vfprintf to stderr, only the first 10 calls of the process: a failing
 * run says why without flooding the terminal. */
void load_report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* send() all of p (MSG_NOSIGNAL, EINTR retried); 0 or -1. */
int load_write_all(int fd, const char *p, size_t n);

/* A blocking TCP connection to the numeric IPv4 host:port, TCP_NODELAY,
 * send and receive timeouts of timeout_s seconds; the fd or -1. */
int load_connect(const char *host, int port, int timeout_s);

/* 0 when host is a numeric IPv4 address in 127.0.0.0/8; otherwise says so
 * on stderr (prefixed by prog) and returns -1. Benchmarks never send
 * traffic off the machine. */
int load_check_loopback(const char *prog, const char *host);

/* Append one latency (aborts when out of memory). */
void load_lat_add(struct load_lat *l, double secs);
/* Sort n latencies ascending. */
void load_sort(double *v, size_t n);
/* The p-quantile (0 <= p < 1) of n sorted values: v[floor(n * p)], 0 when
 * n is 0. */
double load_pct(const double *v, size_t n, double p);

#endif
