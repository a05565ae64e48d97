"""SMTP benchmark: mailnode against Postfix + Dovecot LMTP (tests/bench/smtp).

Usage: bench_smtp.py BUILD_DIR   (run.sh passes make's build-run dir)

For each system: start it under a temp dir on 127.0.252.x, create the same
users, send BENCH_MESSAGES messages of BENCH_SIZE bytes from BENCH_CLIENTS
parallel SMTP sessions (smtpload.c), then poll the mail store until every
accepted message is in a mailbox. Rates:
  accepted  = messages that got 250 / time from first connect to last 250
  delivered = messages in mailboxes / time from first connect until the
              last one is in its mailbox
Both systems fsync before they answer 250 (mailnode: spool; Postfix: queue
file) and before the mailbox delivery counts (mailnode: mail store; Dovecot
LMTP: mail_fsync=optimized).

Environment: BENCH_MESSAGES (5000), BENCH_CLIENTS (20), BENCH_SIZE (4096),
BENCH_USERS (100), BENCH_ONLY (mailnode|postfix: run one side),
BENCH_DELIVERY_TIMEOUT (300 s), BENCH_KEEP=1 keeps the temp dir.
Exit status 0 only when every side ran and delivered every message.
"""
import http.client
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
N = bl.env_int("BENCH_MESSAGES", 5000)
CLIENTS = bl.env_int("BENCH_CLIENTS", 20)
SIZE = bl.env_int("BENCH_SIZE", 4096)
USERS = bl.env_int("BENCH_USERS", 100)
ONLY = os.environ.get("BENCH_ONLY", "")
DELIVERY_TIMEOUT = bl.env_float("BENCH_DELIVERY_TIMEOUT", 300)


def users():
    return ["user%d@%s" % (i, bl.BENCH_DOMAIN) for i in range(USERS)]


def wait_delivered(count_fn, want, start_wall):
    """Poll count_fn() until it reaches want; returns (count, seconds from
    the load's start to the poll that saw the last message)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    n = 0
    while True:
        n = count_fn()
        t = time.time()
        if n >= want or time.monotonic() > deadline:
            return n, t - start_wall
        time.sleep(0.02)


def bench_postfix(bench, tool):
    u = users()
    dc = bl.Dovecot(bench, u, lmtp=True, imap=False).start()
    pf = bl.Postfix(bench, u).start()
    versions = "Postfix %s + Dovecot %s" % (pf.version(), dc.version())
    bl.log("postfix+dovecot: sending %d messages" % N)
    res = run_load(tool, bl.ADDR_POSTFIX)
    n, secs = wait_delivered(dc.count_messages, int(res["accepted"]), res["start"])
    res["delivered"] = n
    res["delivered_secs"] = secs
    res["name"] = versions
    pf.stop()
    dc.stop()
    return res


def bench_mailnode(bench, tool, build_dir):
    u = users()
    mn = bl.Mailnode(bench, build_dir, smtp=True).start()
    mn.require("SMTP", bl.PORT_SMTP)
    mn.add_users(u)
    conn = http.client.HTTPConnection(bl.ADDR_MAILNODE, bl.PORT_HTTP, timeout=30)
    bl.log("mailnode: sending %d messages" % N)
    res = run_load(tool, bl.ADDR_MAILNODE)
    want = int(res["accepted"])

    def count():
        # Cheap poll first: the spool is empty once every message is in its
        # mailbox; only then ask the API for the mailbox counts (one request
        # per user), which must confirm it.
        left = mn.spool_entries()
        if left:
            return 0
        if left is None:
            time.sleep(0.5)  # no spool dir to watch: API polls, less often
        return mn.count_messages(u, conn)

    n, secs = wait_delivered(count, want, res["start"])
    conn.close()
    res["delivered"] = n
    res["delivered_secs"] = secs
    res["name"] = "mailnode"
    mn.stop()
    return res


def run_load(tool, host):
    return bl.run_smtpload(tool, host, bl.PORT_SMTP, N, CLIENTS, SIZE, USERS, bl.BENCH_DOMAIN)


def row(name, r):
    if isinstance(r, str):
        return "%-34s %s" % (name, r)
    return bl.delivery_row(name, r, 34)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = sys.argv[1]
    load_before = bl.machine_line()
    bench = bl.Bench("smtp")
    results = {}
    ok = True
    try:
        tool = bl.compile_tool(os.path.join(HERE, "smtpload.c"), bench.path("smtpload"))
        if ONLY in ("", "postfix"):
            bl.run_side(results, "postfix", bench_postfix, bench, tool, packages=True)
        if ONLY in ("", "mailnode"):
            bl.run_side(results, "mailnode", bench_mailnode, bench, tool, build_dir)
    finally:
        bench.close()

    print()
    print(bl.end_line(load_before))
    print("SMTP: %d messages of %d bytes, %d parallel clients, %d recipients (one per message)"
          % (N, SIZE, CLIENTS, USERS))
    print(bl.delivery_header("system", 34))
    for key, label in (("mailnode", "mailnode"), ("postfix", None)):
        if key not in results:
            continue
        r = results[key]
        name = label or (r["name"] if isinstance(r, dict) else "Postfix + Dovecot LMTP")
        print(row(name, r))
        if isinstance(r, str) or r["accepted"] != N or r["delivered"] != r["accepted"]:
            ok = False
    m, p = results.get("mailnode"), results.get("postfix")
    if isinstance(m, dict) and isinstance(p, dict) and p["acc_rate"] and p["dlv_rate"]:
        print("%-34s %18.2fx %18.2fx   (target >= 2x)" % (
            "ratio mailnode/postfix", m["acc_rate"] / p["acc_rate"],
            m["dlv_rate"] / p["dlv_rate"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
