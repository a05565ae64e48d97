"""Webmail list benchmark (make bench; printed, never asserted).

One mailnode node on 127.0.251.1 (BUILD_DIR/mailnode). One user's INBOX is
filled with WEBMAIL_MSGS (default 10,000) small messages by IMAP APPEND over
4 sessions; then the user logs in to the webmail and the first page (50
messages, newest first) of GET /api/v1/mail/folders/INBOX/messages is timed
WEBMAIL_RUNS times (default 21) on loopback: the median, min and max wall
time per request, and the server's CPU time per request (utime + stime of
the node from /proc, which the other load on the machine disturbs less than
wall time). Then the same for sort=subject (reads every header of the
folder: the slow path, WEBMAIL_SLOW_RUNS times, default 3) and for a
search (q=, also reading every header).

Usage: tests/bench/webmail/bench_webmail.py BUILD_DIR
"""
import http.client
import imaplib
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchlib as bl  # noqa: E402

ADDRESS = "127.0.251.1"
USER = "wm1@" + bl.BENCH_DOMAIN
MSGS = bl.env_int("WEBMAIL_MSGS", 10000)
RUNS = bl.env_int("WEBMAIL_RUNS", 21)
SLOW_RUNS = bl.env_int("WEBMAIL_SLOW_RUNS", 3)
SESSIONS = 4


def message(i):
    return ("From: Sender %d <sender%d@remote.test>\r\nTo: %s\r\n"
            "Subject: bench message %05d about topic %d\r\n"
            "Date: Mon, 02 Mar 2026 10:%02d:%02d +0000\r\n"
            "Message-ID: <bench-%d@remote.test>\r\n\r\n"
            "Body line of message %d.\r\n" % (i % 97, i % 97, USER, i, i % 13, (i // 60) % 60,
                                               i % 60, i, i)).encode()


def fill(address):
    def worker(k):
        m = imaplib.IMAP4(address, bl.PORT_IMAP, timeout=60)
        m.login(USER, bl.USER_PASSWORD)
        for i in range(k, MSGS, SESSIONS):
            typ, _ = m.append("INBOX", None, None, message(i))
            if typ != "OK":
                raise bl.BenchError("APPEND %d: %s" % (i, typ))
        m.logout()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(SESSIONS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Session:
    def __init__(self, address):
        self.c = http.client.HTTPConnection(address, bl.PORT_HTTP, timeout=120)
        self.c.request("POST", "/api/v1/mail/login",
                       body=json.dumps({"address": USER, "password": bl.USER_PASSWORD}),
                       headers={"Content-Type": "application/json"})
        r = self.c.getresponse()
        body = r.read()
        if r.status != 200:
            raise bl.BenchError("webmail login: %d %s" % (r.status, body[:200]))
        self.cookie = r.getheader("Set-Cookie").split(";")[0]

    def get(self, path):
        self.c.request("GET", path, headers={"Cookie": self.cookie})
        r = self.c.getresponse()
        body = r.read()
        if r.status != 200:
            raise bl.BenchError("GET %s: %d %s" % (path, r.status, body[:200]))
        return json.loads(body)


def timed(sess, pid, path, runs):
    walls = []
    cpu0 = cpu_s(pid)
    for _ in range(runs):
        t0 = time.perf_counter()
        out = sess.get(path)
        walls.append((time.perf_counter() - t0) * 1000)
    cpu = (cpu_s(pid) - cpu0) * 1000 / runs
    return out, walls, cpu


def line(what, walls, cpu):
    return ("  %-34s median %8.1f ms  min %8.1f  max %8.1f  server CPU %7.1f ms/request (n=%d)"
            % (what, statistics.median(walls), min(walls), max(walls), cpu, len(walls)))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    bench = bl.Bench("webmail")
    try:
        load_before = bl.machine_line()
        mn = bl.Mailnode(bench, sys.argv[1], imap=True, address=ADDRESS).start()
        mn.require("IMAP", bl.PORT_IMAP)
        mn.add_users([USER])
        bl.log("filling INBOX with %d messages over IMAP" % MSGS)
        fill_s = fill(ADDRESS)
        sess = Session(ADDRESS)
        base = "/api/v1/mail/folders/INBOX/messages?limit=50"
        out, walls, cpu = timed(sess, mn.proc.pid, base, RUNS)
        if out["total"] != MSGS or len(out["messages"]) != 50:
            raise bl.BenchError("unexpected list: total %s, %d messages"
                                % (out["total"], len(out["messages"])))
        lines = ["webmail list benchmark",
                 "  folder of %d messages (filled in %.1f s by %d IMAP sessions)"
                 % (MSGS, fill_s, SESSIONS),
                 line("first page, sort=date (50)", walls, cpu)]
        _, walls, cpu = timed(sess, mn.proc.pid, base + "&offset=5000", RUNS)
        lines.append(line("page at offset 5000, sort=date", walls, cpu))
        _, walls, cpu = timed(sess, mn.proc.pid, base + "&sort=subject&order=asc", SLOW_RUNS)
        lines.append(line("first page, sort=subject", walls, cpu))
        _, walls, cpu = timed(sess, mn.proc.pid, base + "&q=topic%207", SLOW_RUNS)
        lines.append(line("search q= (headers of all)", walls, cpu))
        lines.append(bl.end_line(load_before))
        print("\n".join(lines), flush=True)
        mn.stop()
    except bl.MailnodeUnavailable as e:
        print("webmail benchmark skipped: %s" % e)
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
