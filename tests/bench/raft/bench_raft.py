"""Raft directory benchmark (tests/bench/raft): directory writes on a 3-node
loopback cluster against the fsync latency of the same disk.

Usage: bench_raft.py [BUILD_DIR]   (run.sh passes make's build-run dir)

Starts node1..node3 of BUILD_DIR/mailnode on 127.0.251.1..3 (dev ports, a
random cluster secret, data dirs under one mkdtemp dir, fsync on: mailnode's
default, raft_uv syncs every log append), node1 bootstraps and the others
join it. Then, for each client count (1, 8, 32) and each target (the
leader; a follower, which forwards every write to the leader over RPC and
answers once the entry is applied locally), raftload.c runs for
BENCH_SECONDS: C threads, one keep-alive HTTP connection each, alternately
POST /api/v1/domains and DELETE /api/v1/domains/NAME (one Raft entry each).
Measured: writes per second and p50/p99 of one request (the commit latency
an API client sees).

The physical floor: the same disk's fsync latency, measured in the bench
temp dir (where the Raft logs live) single-threaded: write 4 KB at the next
offset of a preallocated file + fdatasync, BENCH_FSYNC_SECONDS long. A Raft
commit needs at least one such sync on the leader and one on a follower in
parallel (plus a round trip), so latency / fsync p50 says how far the
commit path is from the disk.

Environment: BENCH_SECONDS (8 per phase), BENCH_CLIENTS ("1,8,32"),
BENCH_FSYNC_SECONDS (4), BENCH_KEEP=1 keeps the temp dir (logs, data).
The default run takes about 1.5 minutes. Exit status 0 only when every
phase ran and no write failed. Figures are printed, never asserted.
"""
import base64
import os
import secrets
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
CLIENTS = [int(x) for x in os.environ.get("BENCH_CLIENTS", "1,8,32").split(",") if x.strip()]
FSYNC_SECONDS = float(os.environ.get("BENCH_FSYNC_SECONDS", "4"))
ADDRS = ["127.0.251.1", "127.0.251.2", "127.0.251.3"]
RPC_PORT = 7101


def pct(sorted_v, p):
    if not sorted_v:
        return 0.0
    return sorted_v[int(p * (len(sorted_v) - 1) + 0.5)]


def fsync_floor(directory, seconds):
    """4 KB pwrite at the next offset + fdatasync, single thread, for
    `seconds` (at most 100,000 rounds) in a 64 MiB preallocated file, so
    no sync has to write a new file size: what raft_uv's preallocated open
    segments cost per append. Returns p50/p99 ms and syncs/s."""
    path = os.path.join(directory, "fsync-floor")
    size = 64 << 20
    block = os.urandom(4096)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    lat = []
    try:
        os.posix_fallocate(fd, 0, size)
        os.fsync(fd)
        off = 0
        t_end = time.monotonic() + seconds
        t0 = time.monotonic()
        while time.monotonic() < t_end and len(lat) < 100000:
            t = time.monotonic()
            os.pwrite(fd, block, off)
            os.fdatasync(fd)
            lat.append(time.monotonic() - t)
            off = (off + 4096) % size
        elapsed = time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    return {"n": len(lat), "p50_ms": pct(lat, 0.5) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3,
            "rate": len(lat) / elapsed if elapsed > 0 else 0.0}


def cluster_status(node):
    try:
        return node.api_get("/api/v1/cluster")
    except (OSError, bl.BenchError, ValueError):
        return None


def wait_healthy(nodes, deadline_s=60):
    """Every node names the same leader and sees 3 active voters."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        for n in nodes:
            if n.proc is None or n.proc.poll() is not None:
                raise bl.BenchError("mailnode %s exited:\n%s" % (n.name, n.log_tail()))
        sts = [cluster_status(n) for n in nodes]
        last = sts
        if all(s and s.get("leader") for s in sts) and len({s["leader"] for s in sts}) == 1:
            voters = [m for m in sts[0]["members"] if m.get("voter") and m.get("state") == "active"]
            if len(voters) == len(nodes):
                return sts[0]["leader"]
        time.sleep(0.1)
    raise bl.BenchError("cluster not healthy after %ds: %s" % (deadline_s, last))


def run_load(tool, node, clients, auth, prefix):
    cmd = [tool, "-h", node.address, "-p", str(bl.PORT_HTTP), "-c", str(clients),
           "-t", str(SECONDS), "-a", auth, "-x", prefix]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 120)
    if r.stderr:
        bl.log("raftload: %s" % r.stderr.strip())
    if r.returncode != 0 or "writes=" not in r.stdout:
        raise bl.BenchError("raftload exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
    res = dict(kv.split("=", 1) for kv in r.stdout.split())
    return {k: float(v) for k, v in res.items()}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build-run"
    if not os.path.exists(os.path.join(build, "mailnode")):
        print("bench: no %s/mailnode (make build-run)" % build, file=sys.stderr)
        return 2
    bench = bl.Bench("raft")
    failed = 0
    try:
        print(bl.machine_line(), flush=True)
        tool = bl.compile_tool(os.path.join(HERE, "raftload.c"), bench.path("raftload"))
        secret = secrets.token_hex(24)
        nodes = []
        for i, addr in enumerate(ADDRS, 1):
            join = "" if i == 1 else "%s:%d" % (ADDRS[0], RPC_PORT)
            nodes.append(bl.Mailnode(bench, build, name="node%d" % i, address=addr,
                                     cluster={"join": join, "secret": secret}))
        nodes[0].start()
        for n in nodes[1:]:
            n.start()
        t0 = time.monotonic()
        leader_name = wait_healthy(nodes)
        bl.log("3 voters, leader %s, after %.1fs" % (leader_name, time.monotonic() - t0))
        leader = [n for n in nodes if n.name == leader_name][0]
        follower = [n for n in nodes if n.name != leader_name][0]
        auth = base64.b64encode(("admin:%s" % bl.ADMIN_PASSWORD).encode()).decode()

        floor = fsync_floor(bench.dir, FSYNC_SECONDS)
        bl.log("fsync floor: %d syncs, p50 %.3f ms" % (floor["n"], floor["p50_ms"]))

        rows = []
        for clients in CLIENTS:
            for target, node in (("leader", leader), ("follower", follower)):
                prefix = "%s%d" % (target[0], clients)
                bl.log("%d clients -> %s (%s), %.0fs" % (clients, target, node.name, SECONDS))
                res = run_load(tool, node, clients, auth, prefix)
                failed += int(res["failed"])
                rows.append((clients, target, node.name, res))
        # the disk again after the load: it moves with the machine's load
        floor2 = fsync_floor(bench.dir, FSYNC_SECONDS)
        st = cluster_status(leader) or {}

        print("Raft directory writes: 3 nodes on %s, fsync on, %.0fs per phase, "
              "POST+DELETE /api/v1/domains over keep-alive HTTP"
              % (",".join(ADDRS), SECONDS))
        print("fsync floor (4 KB pwrite + fdatasync, 1 thread, bench temp dir): "
              "p50 %.3f ms, p99 %.3f ms, %.0f syncs/s (after the load: p50 %.3f, p99 %.3f, "
              "%.0f/s)" % (floor["p50_ms"], floor["p99_ms"], floor["rate"],
                           floor2["p50_ms"], floor2["p99_ms"], floor2["rate"]))
        print("%7s %-9s %-6s %8s %9s %9s %9s %10s %10s %6s"
              % ("clients", "via", "node", "writes", "writes/s", "p50 ms", "p99 ms",
                 "p50/fsync", "p99/fsync", "failed"))
        for clients, target, name, r in rows:
            print("%7d %-9s %-6s %8d %9.0f %9.2f %9.2f %9.1fx %9.1fx %6d"
                  % (clients, target, name, r["writes"], r["rate"], r["p50_ms"], r["p99_ms"],
                     r["p50_ms"] / floor["p50_ms"] if floor["p50_ms"] else 0,
                     r["p99_ms"] / floor["p99_ms"] if floor["p99_ms"] else 0, r["failed"]))
        print("writes/s per fsync/s: %s" % ", ".join(
            "%d %s %.2f" % (c, t[0], r["rate"] / floor["rate"]) for c, t, _, r in rows
            if floor["rate"]))
        print("commit index at the end: %s; %s" % (st.get("commit_index"), bl.machine_line()))
        if failed:
            print("FAILED: %d writes failed (see raftload lines above)" % failed)
    except bl.BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        bench.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
