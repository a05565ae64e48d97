"""Web admin users list at scale (tests/bench/admin, make bench): how long
the admin API takes to answer the pages the web admin asks for when a
domain has BENCH_ADMIN_USERS users (10,000).

Usage: bench_admin_users.py BUILD_DIR   (run.sh passes make's build-run dir)

One mailnode on 127.0.252.1. The users are added through the API with an
imported password hash (no yescrypt per user), 8 connections at a time.
Then each request below is sent BENCH_REPEAT (20) times on one keep-alive
connection, and the median and the worst answer time are printed: the
first page, a page in the middle and the last page (offset/limit in the
directory's SQL), a search by address and one by name, the same first page
with usage=1 (the mail store's figures of each listed user), the domains
and GET /status (the dashboard). Figures are printed, never asserted.

Environment: BENCH_ADMIN_USERS (10000), BENCH_REPEAT (20), BENCH_KEEP=1
keeps the temp dir. Exit status 0 unless a request failed.
"""
import base64
import concurrent.futures
import http.client
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import benchlib as bl  # noqa: E402

USERS = bl.env_int("BENCH_ADMIN_USERS", 10000)
REPEAT = bl.env_int("BENCH_REPEAT", 20)
PAGE = 51  # what the web admin asks: a page of 50 and one more
HEADERS = {"Authorization": "Basic " + base64.b64encode(
    ("admin:%s" % bl.ADMIN_PASSWORD).encode()).decode(), "Content-Type": "application/json"}


def call(conn, method, path, body=None):
    conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                 headers=HEADERS)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise bl.BenchError("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return data


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    load_before = bl.machine_line()
    bench = bl.Bench("admin")
    rows = []
    try:
        node = bl.Mailnode(bench, sys.argv[1]).start()
        conn = http.client.HTTPConnection(node.address, bl.PORT_HTTP, timeout=120)
        call(conn, "POST", "/domains", {"name": bl.BENCH_DOMAIN})
        pw_hash = bl.yescrypt_hash(bl.USER_PASSWORD)

        def add(ks):
            c = http.client.HTTPConnection(node.address, bl.PORT_HTTP, timeout=120)
            for k in ks:
                call(c, "POST", "/users", {"address": "user%05d@%s" % (k, bl.BENCH_DOMAIN),
                                           "name": "Person %05d" % k, "password_hash": pw_hash})
        bl.log("adding %d users" % USERS)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(add, [range(i, USERS, 8) for i in range(8)]))
        add_s = time.monotonic() - t0
        d = bl.BENCH_DOMAIN
        mid = USERS // 2
        for label, path in [
                ("first page", "/users?domain=%s&limit=%d" % (d, PAGE)),
                ("middle page", "/users?domain=%s&offset=%d&limit=%d" % (d, mid, PAGE)),
                ("last page", "/users?domain=%s&offset=%d&limit=%d" % (d, USERS - 50, PAGE)),
                ("search address", "/users?domain=%s&search=user0012&limit=%d" % (d, PAGE)),
                ("search name", "/users?search=Person%%200004&limit=%d" % PAGE),
                ("first page, usage=1", "/users?domain=%s&limit=%d&usage=1" % (d, PAGE)),
                ("domains", "/domains"),
                ("status (dashboard)", "/status")]:
            call(conn, "GET", path)  # warm: the first /status counts the mailboxes
            times = []
            for _ in range(REPEAT):
                t = time.perf_counter()
                size = len(call(conn, "GET", path))
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            rows.append((label, size, times[len(times) // 2], times[-1]))
    except bl.BenchError as e:
        print()
        print(bl.end_line(load_before))
        print("admin users: FAILED: %s" % e)
        return 1
    finally:
        bench.close()
    print()
    print(bl.end_line(load_before))
    print("admin users: %d users in one domain (added in %.1f s, %.0f/s through the API)"
          % (USERS, add_s, USERS / add_s))
    print("  %-22s %8s %10s %10s" % ("request", "bytes", "median ms", "worst ms"))
    for label, size, med, worst in rows:
        print("  %-22s %8d %10.1f %10.1f" % (label, size, med, worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
