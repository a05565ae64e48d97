"""Handoff benchmark (tests/bench/cluster, make bench): messages/s of SMTP
handoff between two nodes, next to the same load delivered locally.

Usage: bench_handoff.py BUILD_DIR   (run.sh passes make's build-run dir)

Two mailnode nodes on 127.0.253.1 and .2 form a cluster (node2 joins
node1). BENCH_USERS users are homed on node2 ("remote") and as many on
node1 ("local"). smtpload (tests/bench/smtp/smtpload.c) sends
BENCH_MESSAGES messages of BENCH_SIZE bytes through node1's SMTP, first to
the local users (stored on node1: the baseline), then to the remote ones
(node1 spools them, then hands each to node2, which stores it and answers
after its fsync). Rates, from the first connect until node1's spool is empty
and every message is counted in the home's mailboxes:
  accepted  = messages that got 250 / time to the last 250
  delivered = messages stored on their home / time until the last is there
Figures are printed, never asserted (a shared machine gives noisy numbers).

Environment: BENCH_MESSAGES (2000), BENCH_CLIENTS (10), BENCH_SIZE (4096),
BENCH_USERS (20), BENCH_DELIVERY_TIMEOUT (300 s), BENCH_KEEP=1 keeps the
temp dir. Exit status 0 only when every message was delivered.
"""
import base64
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
N = bl.env_int("BENCH_MESSAGES", 2000)
CLIENTS = bl.env_int("BENCH_CLIENTS", 10)
SIZE = bl.env_int("BENCH_SIZE", 4096)
USERS = bl.env_int("BENCH_USERS", 20)
DELIVERY_TIMEOUT = bl.env_float("BENCH_DELIVERY_TIMEOUT", 300)
SECRET = "bench-cluster-secret-0123456789"
ADDRS = {"node1": "127.0.253.1", "node2": "127.0.253.2"}


class Node:
    """One cluster node from BUILD/mailnode, config and data under the bench dir."""

    def __init__(self, bench, build_dir, name, join):
        self.bench, self.name, self.address = bench, name, ADDRS[name]
        self.bin = os.path.join(os.path.abspath(build_dir), "mailnode")
        self.root = bench.path(name)
        self.data_dir = os.path.join(self.root, "data")
        self.proc = None
        os.makedirs(self.root)
        lines = ["; written by tests/bench/cluster/bench_handoff.py", "[node]",
                 "name = %s" % name, "data_dir = %s" % self.data_dir,
                 "hostname = %s.bench.test" % name, "[listen]", "address = %s" % self.address,
                 "smtp_port = %d" % bl.PORT_SMTP, "http_port = %d" % bl.PORT_HTTP,
                 "raft_port = 7100", "rpc_port = 7101", "max_connections = 1000"]
        for k in ("submission_port", "smtps_port", "imap_port", "imaps_port", "pop3_port",
                  "pop3s_port", "https_port"):
            lines.append("%s = 0" % k)
        lines += ["[cluster]", "join = %s" % ("%s:7101" % ADDRS["node1"] if join else ""),
                  "secret = %s" % SECRET, "[limits]", "exempt = 127.0.0.0/8",
                  "[admin]", "initial_password = %s" % bl.ADMIN_PASSWORD, "[log]", "level = warn"]
        self.config = os.path.join(self.root, "node.ini")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        if not os.path.exists(self.bin):
            raise bl.MailnodeUnavailable("no %s (build it: make build-run)" % self.bin)
        self.log_path = os.path.join(self.root, "stderr.log")
        err = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.bin, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=self.root, start_new_session=True)
        err.close()
        self.bench.on_close(self.stop)
        if not bl.wait_port(self.address, bl.PORT_HTTP, 30, self.proc):
            raise bl.BenchError("%s did not start (exit %s)" % (self.name, self.proc.poll()))
        return self

    def stop(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            bl._stop_proc(proc, self.name)

    def api(self, method, path, body=None, conn=None):
        c = conn or http.client.HTTPConnection(self.address, bl.PORT_HTTP, timeout=30)
        auth = base64.b64encode(("admin:%s" % bl.ADMIN_PASSWORD).encode()).decode()
        headers = {"Authorization": "Basic " + auth}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        c.request(method, "/api/v1/" + path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)

    def spool_entries(self):
        try:
            return sum(1 for _ in os.scandir(os.path.join(self.data_dir, "spool", "queue")))
        except FileNotFoundError:
            return None

    def count(self, users, conn):
        n = 0
        for u in users:
            code, msgs = self.api("GET", "users/%s/messages" % u, conn=conn)
            if code != 200:
                raise bl.BenchError("GET messages of %s on %s: %d" % (u, self.name, code))
            n += len(msgs)
        return n


def wait_for(pred, deadline_s, what):
    end = time.monotonic() + deadline_s
    while not pred():
        if time.monotonic() > end:
            raise bl.BenchError("timed out waiting for %s" % what)
        time.sleep(0.1)


def healthy(n1, n2):
    for n in (n1, n2):
        try:
            code, st = n.api("GET", "cluster")
        except OSError:
            return False
        if code != 200 or not st.get("leader"):
            return False
        if len([m for m in st["members"] if m.get("voter") and m["state"] == "active"]) != 2:
            return False
    return True


def run_load(tool, host, prefix):
    return bl.run_smtpload(tool, host, bl.PORT_SMTP, N, CLIENTS, SIZE, USERS, bl.BENCH_DOMAIN,
                           prefix)


def measure(tool, n1, home, prefix):
    users = ["%s%d@%s" % (prefix, i, bl.BENCH_DOMAIN) for i in range(USERS)]
    conn = http.client.HTTPConnection(home.address, bl.PORT_HTTP, timeout=30)
    bl.log("%s users on %s: sending %d messages through node1" % (prefix, home.name, N))
    res = run_load(tool, n1.address, prefix)
    want = int(res["accepted"])
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    n = 0
    while time.monotonic() < deadline:
        # cheap first: node1's spool is empty once every message is stored
        # (locally, or on the home after its reply)
        if n1.spool_entries() == 0:
            n = home.count(users, conn)
            if n >= want:
                break
        time.sleep(0.02)
    res["delivered"] = n
    res["delivered_secs"] = time.time() - res["start"]
    conn.close()
    return res


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = sys.argv[1]
    load_before = bl.machine_line()
    bench = bl.Bench("handoff")
    results = {}
    try:
        tool = bl.compile_tool(os.path.join(HERE, "..", "smtp", "smtpload.c"),
                               bench.path("smtpload"))
        n1 = Node(bench, build_dir, "node1", join=False).start()
        n2 = Node(bench, build_dir, "node2", join=True).start()
        wait_for(lambda: healthy(n1, n2), 60, "two voters and a leader")
        code, body = n1.api("POST", "domains", {"name": bl.BENCH_DOMAIN})
        if code != 201:
            raise bl.BenchError("domain add: %d %s" % (code, body))
        for prefix, node in (("local", "node1"), ("remote", "node2")):
            for i in range(USERS):
                code, body = n1.api("POST", "users", {
                    "address": "%s%d@%s" % (prefix, i, bl.BENCH_DOMAIN),
                    "password": bl.USER_PASSWORD, "node": node, "quota": "10G"})
                if code != 201:
                    raise bl.BenchError("user add: %d %s" % (code, body))
        last = "remote%d@%s" % (USERS - 1, bl.BENCH_DOMAIN)
        wait_for(lambda: n2.api("GET", "users/%s" % last)[0] == 200, 30, "node2 to see the users")
        results["local"] = measure(tool, n1, n1, "local")
        results["handoff"] = measure(tool, n1, n2, "remote")
    except bl.BenchError as e:
        results["error"] = str(e)
    finally:
        bench.close()

    print()
    print(bl.end_line(load_before))
    print("handoff: %d messages of %d bytes through node1's SMTP, %d clients, %d users"
          % (N, SIZE, CLIENTS, USERS))
    if "error" in results:
        print("FAILED: %s" % results["error"])
        return 1
    print(bl.delivery_header("delivery", 36))
    ok = True
    for key, label in (("local", "local (stored on node1)"),
                       ("handoff", "handoff node1 -> node2 (stored on 2)")):
        r = results[key]
        print(bl.delivery_row(label, r, 36))
        ok = ok and r["accepted"] == N and r["delivered"] == r["accepted"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
