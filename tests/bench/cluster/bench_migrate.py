"""Account migration benchmark (tests/bench/cluster, make bench): how fast
`POST /users/{address}/move` moves a mailbox between two nodes.

Usage: bench_migrate.py BUILD_DIR   (run.sh passes make's build-run dir)

Two nodes on 127.0.253.1 and .2 (the handoff bench's cluster, started
afresh). One user homed on node1 gets BENCH_MIGRATE_MESSAGES messages of
BENCH_SIZE bytes through node1's SMTP (smtpload, one recipient); then the
user is moved to node2 with "wait": true. Reported: messages and MB moved
per second of the move call (copy and catch-up, hold, flip and cleanup,
see docs/cluster.md), the copy and hold times the move reports
(copy_ms, hold_ms: the user is unavailable only during the hold), and
whether both sides' counts and checksums agree. Printed, never asserted.

Environment: BENCH_MIGRATE_MESSAGES (10000), BENCH_SIZE (4096),
BENCH_CLIENTS (10), BENCH_KEEP=1 keeps the temp dir. Exit status 0 only when
the move succeeded with every message on node2.
"""
import http.client
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402
import bench_handoff as bh  # noqa: E402

N = bl.env_int("BENCH_MIGRATE_MESSAGES", 10000)
SIZE = bl.env_int("BENCH_SIZE", 4096)
CLIENTS = bl.env_int("BENCH_CLIENTS", 10)
USER = "mover0@%s" % bl.BENCH_DOMAIN


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = sys.argv[1]
    load_before = bl.machine_line()
    bench = bl.Bench("migrate")
    res = {}
    try:
        tool = bl.compile_tool(os.path.join(HERE, "..", "smtp", "smtpload.c"),
                               bench.path("smtpload"))
        n1 = bh.Node(bench, build_dir, "node1", join=False).start()
        n2 = bh.Node(bench, build_dir, "node2", join=True).start()
        bh.wait_for(lambda: bh.healthy(n1, n2), 60, "two voters and a leader")
        code, body = n1.api("POST", "domains", {"name": bl.BENCH_DOMAIN})
        if code != 201:
            raise bl.BenchError("domain add: %d %s" % (code, body))
        code, body = n1.api("POST", "users", {"address": USER, "password": bl.USER_PASSWORD,
                                              "node": "node1", "quota": "100G"})
        if code != 201:
            raise bl.BenchError("user add: %d %s" % (code, body))
        bl.log("filling %s with %d messages through node1's SMTP" % (USER, N))
        load = bl.run_smtpload(tool, n1.address, bl.PORT_SMTP, N, CLIENTS, SIZE, 1,
                               bl.BENCH_DOMAIN, "mover")
        conn = http.client.HTTPConnection(n1.address, bl.PORT_HTTP, timeout=600)
        bh.wait_for(lambda: n1.spool_entries() == 0 and
                    n1.count([USER], conn) >= int(load["accepted"]), 600, "the fill")
        res["messages"] = n1.count([USER], conn)
        bl.log("moving %s (%d messages) to node2" % (USER, res["messages"]))
        t0 = time.monotonic()
        code, body = n1.api("POST", "users/%s/move" % USER, {"node": "node2", "wait": True},
                            conn=conn)
        res["secs"] = time.monotonic() - t0
        if code != 200:
            raise bl.BenchError("move: %d %s" % (code, body))
        res["result"] = body.get("move_result", "")
        m = re.search(r"\bmessages=(\d+) bytes=(\d+) sha256=(\w+) .*target_messages=(\d+)"
                      r" target_sha256=(\w+)", res["result"])
        if not m:
            raise bl.BenchError("move result not understood: %r" % res["result"])
        res["bytes"] = int(m.group(2))
        res["same"] = m.group(1) == m.group(4) and m.group(3) == m.group(5)
        for k in ("copy_ms", "hold_ms", "rounds"):
            f = re.search(r"\b%s=(\d+)" % k, res["result"])
            res[k] = int(f.group(1)) if f else -1
        conn2 = http.client.HTTPConnection(n2.address, bl.PORT_HTTP, timeout=600)
        res["on_node2"] = n2.count([USER], conn2)
    except bl.BenchError as e:
        res["error"] = str(e)
    finally:
        bench.close()

    print()
    print(bl.end_line(load_before))
    if "error" in res:
        print("migrate: FAILED: %s" % res["error"])
        return 1
    print("migrate: one mailbox of %d messages (%d bytes of store), node1 -> node2"
          % (res["messages"], res["bytes"]))
    print("  move took %.2f s: %.0f messages/s, %.1f MB/s; checksums and counts %s; "
          "%d messages on node2" % (res["secs"], res["messages"] / res["secs"],
                                     res["bytes"] / res["secs"] / 1e6,
                                     "match" if res["same"] else "DIFFER", res["on_node2"]))
    print("  copy and catch-up %d ms in %d rounds, hold %d ms (to the decision to flip)"
          % (res["copy_ms"], res["rounds"], res["hold_ms"]))
    ok = res["same"] and res["on_node2"] == res["messages"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
