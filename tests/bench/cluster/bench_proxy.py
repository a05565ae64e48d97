"""IMAP through the proxy vs direct to the home node (tests/bench/cluster).

Usage: bench_proxy.py BUILD_DIR   (run.sh passes make's build-run dir)

Two real nodes (tests/cluster/conftest.py) on 127.0.0.16 and 127.0.0.17
with IMAP on; BENCH_USERS users homed on node2, each filled with BENCH_MSGS
messages APPENDed to node2 (imapload -m load). Then the same mix
(tests/bench/imap/imapload.c -m mix: LOGIN, SELECT, BENCH_OPS commands of
FETCH/STORE/SEARCH/APPEND, LOGOUT, again) for BENCH_SECONDS with
BENCH_SESSIONS sessions, first direct to node2, then through node1, which
authenticates and relays every session to node2. Prints ops/s, p50/p99
and the proxied rate as a percentage of direct (target: >= 90 %). Figures
are printed, never asserted: both nodes share this machine's CPUs with the
load generator and whatever else runs, so the machine line says how busy
it was. Exit status 0 when both runs completed without command errors.

Environment: BENCH_USERS (10), BENCH_MSGS (200), BENCH_SESSIONS (10),
BENCH_SECONDS (15), BENCH_OPS (50), BENCH_KEEP=1 keeps the cluster's dir.
"""
import os
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
DOMAIN = "bench.test"
PASSWORD = "bench-Secret-1"


def log(msg):
    print("bench-proxy: %s" % msg, file=sys.stderr, flush=True)


def imapload(tool, host, port, *args):
    return bl.run_imapload(tool, host, port, USERS, DOMAIN, PASSWORD, *args, timeout=1800)


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
    c = cf.Cluster(2, base=15, services=True)
    try:
        c.start()
        n1, n2 = c.nodes
        code, body = n1.api("POST", "domains", {"name": DOMAIN})
        assert code in (200, 201), body
        for i in range(USERS):
            code, body = n1.api("POST", "users", {"address": "user%d@%s" % (i, DOMAIN),
                                                  "password": PASSWORD, "node": n2.name})
            assert code in (200, 201), body
        last = "user%d@%s" % (USERS - 1, DOMAIN)
        for n in c.nodes:
            cf.wait_for(lambda: n.api("GET", "users/" + last)[0] == 200, 30,
                        "%s knows the users" % n.name)
        log("loading %d users x %d messages on %s" % (USERS, MSGS, n2.name))
        load = imapload(tool, n2.address, cf.IMAP_PORT, "-m", "load", "-c", min(10, USERS),
                        "-M", MSGS, "-T", 900)
        res = {}
        for name, host in (("direct", n2.address), ("proxied", n1.address)):
            log("%s: mix, %d sessions for %gs" % (name, SESSIONS, SECONDS))
            res[name] = imapload(tool, host, cf.IMAP_PORT, "-m", "mix", "-c", SESSIONS,
                                 "-T", SECONDS, "-o", OPS)
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
