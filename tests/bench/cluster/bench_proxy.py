"""IMAP through the proxy vs direct to the home node (tests/bench/cluster).

Usage: bench_proxy.py BUILD_DIR   (run.sh passes make's build-run dir)

Two real nodes (tests/cluster/conftest.py) on 127.0.0.16 and 127.0.0.17
with IMAP on; two domains of BENCH_USERS users homed on node2, each user
filled with BENCH_MSGS messages APPENDed to node2 (imapload -m load): one
domain for each path, since the mix APPENDs and a run over mailboxes an
earlier run grew would cost more. Then the same mix
(tests/bench/imap/imapload.c -m mix: LOGIN, SELECT, BENCH_OPS commands of
FETCH/STORE/SEARCH/APPEND, LOGOUT, again) for BENCH_SECONDS with
BENCH_SESSIONS sessions, first direct to node2, then through node1, which
authenticates and relays every session to node2. Prints ops/s, p50/p99
and the proxied rate as a percentage of direct (target: >= 90 %), and the
CPU time (user + system, from /proc) each node process spent per command
in each run, all threads and the event loop's thread alone (the relay's
own work, without the password hashing in the thread pool): throughput moves with whatever else runs on the
machine, CPU per command much less, so that is the figure to compare when
working on the relay's cost. Figures
are printed, never asserted: both nodes share this machine's CPUs with the
load generator and whatever else runs, so the machine line says how busy
it was. Exit status 0 when both runs completed without command errors.

Environment: BENCH_USERS (10), BENCH_MSGS (200), BENCH_SESSIONS (10),
BENCH_SECONDS (15), BENCH_OPS (50), BENCH_TOTAL (0: run for BENCH_SECONDS;
N: stop each run after N commands, the same work for both paths),
BENCH_BASE (15: nodes on 127.0.0.16 and .17), BENCH_PERF=PREFIX records
`perf record -g` of both nodes during each run into PREFIX.PATH.NODE
(PATH direct or proxied, NODE relay or home), BENCH_STAT=EVENTS prints
`perf stat -e EVENTS` counts per command for both nodes in each run (e.g.
raw_syscalls:sys_enter,context-switches), BENCH_KEEP=1 keeps the cluster's dir.
"""
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import benchlib as bl  # noqa: E402

USERS = bl.env_int("BENCH_USERS", 10)
MSGS = bl.env_int("BENCH_MSGS", 200)
SESSIONS = bl.env_int("BENCH_SESSIONS", 10)
SECONDS = bl.env_float("BENCH_SECONDS", 15)
OPS = bl.env_int("BENCH_OPS", 50)
TOTAL = bl.env_int("BENCH_TOTAL", 0)
BASE = bl.env_int("BENCH_BASE", 15)
DOMAINS = {"direct": "bench.test", "proxied": "bench2.test"}
PASSWORD = "bench-Secret-1"


def log(msg):
    print("bench-proxy: %s" % msg, file=sys.stderr, flush=True)


def imapload(tool, host, port, domain, *args):
    return bl.run_imapload(tool, host, port, USERS, domain, PASSWORD, *args, timeout=1800)


def cpu_seconds(node, loop_only=False):
    """User + system CPU time of node's process (all threads) so far, or of
    its main thread only (the event loop: the relay's work, without the
    password hashing and storage jobs of the thread pool)."""
    pid = node.proc.pid
    path = "/proc/%d/task/%d/stat" % (pid, pid) if loop_only else "/proc/%d/stat" % pid
    with open(path) as f:
        # the fields after the ")" that closes the command name
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def cpu_sample(nodes):
    return [cpu_seconds(n, lo) for lo in (False, True) for n in nodes]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ["MAILNODE_BIN"] = os.path.join(os.path.abspath(sys.argv[1]), "mailnode")
    try:
        import pytest  # noqa: F401  (conftest uses it for its fixtures only)
    except ImportError:
        import types
        stub = types.ModuleType("pytest")
        stub.fixture = lambda *a, **k: a[0] if a and callable(a[0]) else (lambda f: f)
        sys.modules["pytest"] = stub
    import conftest as cf

    tmp = tempfile.mkdtemp(prefix="mn-bench-proxy-")
    tool = bl.compile_tool(os.path.join(ROOT, "tests", "bench", "imap", "imapload.c"),
                           os.path.join(tmp, "imapload"))
    print(bl.machine_line(), flush=True)
    c = cf.Cluster(2, base=BASE, services=True)
    try:
        c.start()
        n1, n2 = c.nodes
        # One domain per path, loaded alike: the mix APPENDs, so a second
        # run over the first run's mailboxes would SEARCH bigger ones.
        for dom in DOMAINS.values():
            code, body = n1.api("POST", "domains", {"name": dom})
            assert code in (200, 201), body
            for i in range(USERS):
                code, body = n1.api("POST", "users", {"address": "user%d@%s" % (i, dom),
                                                      "password": PASSWORD, "node": n2.name})
                assert code in (200, 201), body
            last = "user%d@%s" % (USERS - 1, dom)
            for n in c.nodes:
                cf.wait_for(lambda: n.api("GET", "users/" + last)[0] == 200, 30,
                            "%s knows the users" % n.name)
        load = {"ops": 0, "rate": 0, "errors": 0}
        for dom in DOMAINS.values():
            log("loading %d users x %d messages of %s on %s" % (USERS, MSGS, dom, n2.name))
            r = imapload(tool, n2.address, cf.IMAP_PORT, dom, "-m", "load", "-c",
                         min(10, USERS), "-M", MSGS, "-T", 900)
            load = {k: load[k] + r[k] for k in load}
        load["rate"] /= len(DOMAINS)
        res = {}
        cpu = {}
        for name, host in (("direct", n2.address), ("proxied", n1.address)):
            log("%s: mix, %d sessions for %gs" % (name, SESSIONS, SECONDS))
            perf = []
            if os.environ.get("BENCH_PERF"):
                for n, out in ((n1, "%s.%s.relay" % (os.environ["BENCH_PERF"], name)),
                               (n2, "%s.%s.home" % (os.environ["BENCH_PERF"], name))):
                    perf.append(subprocess.Popen(
                        ["perf", "record", "-q", "-g", "-o", out, "-p", str(n.proc.pid)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            stat = {}
            if os.environ.get("BENCH_STAT"):
                for role, n in (("relay", n1), ("home", n2)):
                    out = os.path.join(tmp, "stat.%s.%s" % (name, role))
                    stat[role] = (out, subprocess.Popen(
                        ["perf", "stat", "-x", ",", "-o", out, "-e", os.environ["BENCH_STAT"],
                         "-p", str(n.proc.pid)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            before = cpu_sample((n1, n2))
            limit = ("-T", SECONDS) if TOTAL == 0 else ("-T", 3600, "-n", TOTAL)
            res[name] = imapload(tool, host, cf.IMAP_PORT, DOMAINS[name], "-m", "mix",
                                 "-c", SESSIONS, "-o", OPS, *limit)
            after = cpu_sample((n1, n2))
            for pr in perf:
                pr.send_signal(signal.SIGINT)
                pr.wait(timeout=60)
            ops = max(res[name]["ops"], 1)
            for role, (out, pr) in sorted(stat.items()):
                pr.send_signal(signal.SIGINT)
                pr.wait(timeout=60)
                with open(out) as f:
                    for line in f:
                        v = line.strip().split(",")
                        if len(v) > 2 and v[0].replace(".", "").isdigit():
                            print("stat %-8s %-6s %-28s %10.2f /op" % (name, role, v[2],
                                                                     float(v[0]) / ops))
            cpu[name] = [1e6 * (a - b) / ops for a, b in zip(after, before)]
        print("load: %d APPENDs, %.0f/s, errors=%d" % (load["ops"], load["rate"],
                                                       load["errors"]))
        print("%-8s %10s %8s %8s %8s %7s" % ("path", "ops/s", "p50_ms", "p99_ms", "ops",
                                             "errors"))
        for name in ("direct", "proxied"):
            r = res[name]
            print("%-8s %10.0f %8.2f %8.2f %8d %7d" % (name, r["rate"], r["p50_ms"],
                                                       r["p99_ms"], r["ops"], r["errors"]))
        for cmd in sorted(res["direct"]["cmd"]):
            d, p = res["direct"]["cmd"][cmd], res["proxied"]["cmd"].get(cmd, {})
            print("  cmd %-10s p50_ms direct=%.2f proxied=%.2f" % (cmd, d.get("p50_ms", 0),
                                                                 p.get("p50_ms", 0)))
        print("cpu_us/op %-8s %10s %10s %10s %10s %10s" % ("path", "relay", "home", "both",
                                                          "relay_loop", "home_loop"))
        for name in ("direct", "proxied"):
            r, h, rl, hl = cpu[name]
            print("cpu_us/op %-8s %10.1f %10.1f %10.1f %10.1f %10.1f" % (name, r, h, r + h,
                                                                        rl, hl))
        if res["direct"]["rate"] > 0:
            print("proxied/direct: %.1f %% (target >= 90 %%)"
                  % (100.0 * res["proxied"]["rate"] / res["direct"]["rate"]))
        errors = load["errors"] + res["direct"]["errors"] + res["proxied"]["errors"]
        return 0 if errors == 0 else 1
    finally:
        bad = c.stop()
        if bad:
            log("sanitizer reports:\n" + "\n".join(bad))
        if os.environ.get("BENCH_KEEP") != "1":
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
