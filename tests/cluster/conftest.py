"""Multi-node helpers for tests/cluster (SPEC §4 `make cluster` layout).

Real mailnode processes on 127.0.0.B+1 .. 127.0.0.B+N (B = the cluster's
`base`, 0 unless a test file picks its own range so suites can run side by
side), every one with the dev ports (HTTP, Raft and RPC on; SMTP, IMAP and
POP3 too with services=True), sharing a cluster secret. Node B+1
bootstraps, the others join it on port 7101. Everything is polled with
deadlines; no fixed sleeps.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

SOURCE_DIR = os.environ.get(
    "MN_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MAILNODE_BIN = os.environ.get("MAILNODE_BIN", os.path.join(SOURCE_DIR, "build", "mailnode"))

ADMIN_PASSWORD = "cluster-admin-Secret1"
SECRET = "cluster-test-secret-0123456789"
HTTP_PORT, RAFT_PORT, RPC_PORT = 6080, 7100, 7101
SMTP_PORT, IMAP_PORT, POP3_PORT = 2525, 2143, 2110
BAD_LOG_LINE = re.compile(r"(ERROR: AddressSanitizer)|(runtime error:)|(LeakSanitizer)", re.M)


def wait_for(pred, deadline_s, what, interval=0.05):
    end = time.monotonic() + deadline_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs waiting for %s" % (deadline_s, what))
        time.sleep(interval)  # poll interval, bounded by the deadline above


class Node:
    def __init__(self, root, i, secret=SECRET, join=True, snapshot_threshold=256, name=None,
                 base=0, services=False):
        self.i = i
        self.name = name or "node%d" % i
        self.address = "127.0.0.%d" % (base + i)
        self.dir = os.path.join(root, self.name)
        self.data_dir = os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "node.ini")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.logs = []
        os.makedirs(self.dir, exist_ok=True)
        lines = [
            "[node]", "name = %s" % self.name, "data_dir = %s" % self.data_dir,
            "hostname = %s.cluster.test" % self.name,
            "[listen]", "address = %s" % self.address,
        ]
        off = ("submission_port", "smtps_port", "imaps_port", "pop3s_port", "https_port")
        if not services:
            off += ("smtp_port", "imap_port", "pop3_port")
        for k in off:
            lines.append("%s = 0" % k)
        if services:
            lines += ["smtp_port = %d" % SMTP_PORT, "imap_port = %d" % IMAP_PORT,
                      "pop3_port = %d" % POP3_PORT]
        lines += ["http_port = %d" % HTTP_PORT, "raft_port = %d" % RAFT_PORT,
                  "rpc_port = %d" % RPC_PORT,
                  "[cluster]",
                  "join = %s" % ("127.0.0.%d:%d" % (base + 1, RPC_PORT)
                                 if join and i != 1 else ""),
                  "secret = %s" % secret,
                  "snapshot_threshold = %d" % snapshot_threshold,
                  # the tests make thousands of API connections from loopback
                  "[limits]", "exempt = 127.0.0.0/8",
                  "[admin]", "initial_password = %s" % ADMIN_PASSWORD,
                  "[log]", "level = info"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        assert self.proc is None
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([MAILNODE_BIN, "--config", self.config],
                                     stdout=self.logf, stderr=self.logf)

    def wait_http(self, deadline_s=30):
        def up():
            assert self.proc.poll() is None, "%s exited:\n%s" % (self.name, self.log())
            try:
                with socket.create_connection((self.address, HTTP_PORT), timeout=1):
                    return True
            except OSError:
                return False
        wait_for(up, deadline_s, "%s HTTP" % self.name)

    def stop(self, sig=signal.SIGTERM, deadline_s=20):
        if self.proc is None:
            return None
        if sig == signal.SIGTERM:
            self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(deadline_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.logf.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    # --- API ---------------------------------------------------------------
    def api(self, method, path, body=None, timeout=15):
        url = "http://%s:%d/api/v1/%s" % (self.address, HTTP_PORT, path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        tok = base64.b64encode(("admin:%s" % ADMIN_PASSWORD).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def status(self):
        try:
            code, st = self.api("GET", "cluster", timeout=5)
        except OSError:
            return None
        return st if code == 200 else None

    def domains(self):
        code, d = self.api("GET", "domains")
        assert code == 200, d
        return [x["name"] for x in d]


def healthy(nodes, voters):
    """Status of nodes[0] when every node sees the same leader and `voters`
    active voters; else None."""
    leaders = set()
    st0 = None
    for n in nodes:
        st = n.status()
        if st is None or st.get("leader") is None:
            return None
        leaders.add(st["leader"])
        st0 = st0 or st
    if len(leaders) != 1:
        return None
    members = [m for m in st0["members"] if m.get("voter") and m["state"] == "active"]
    return st0 if len(members) == voters else None


class Cluster:
    def __init__(self, n, snapshot_threshold=256, base=0, services=False):
        self.root = tempfile.mkdtemp(prefix="mn-cluster-")
        self.nodes = [Node(self.root, i, snapshot_threshold=snapshot_threshold, base=base,
                           services=services)
                      for i in range(1, n + 1)]

    def start(self):
        first = self.nodes[0]
        first.start()
        first.wait_http()
        for n in self.nodes[1:]:
            n.start()
        for n in self.nodes[1:]:
            n.wait_http()
        return wait_for(lambda: healthy(self.nodes, len(self.nodes)), 60,
                        "%d voters and one leader" % len(self.nodes), 0.1)

    def by_name(self, name):
        return [n for n in self.nodes if n.name == name][0]

    def leader(self, among=None):
        among = among or [n for n in self.nodes if n.proc is not None]
        for n in among:
            st = n.status()
            if st and st.get("leader"):
                return self.by_name(st["leader"])
        return None

    def stop(self):
        bad = []
        for n in self.nodes:
            if n.proc is not None:
                n.stop()
            log = n.log() if os.path.exists(n.log_path) else ""
            if BAD_LOG_LINE.search(log):
                bad.append("%s:\n%s" % (n.name, log[-4000:]))
        if not bad:
            shutil.rmtree(self.root, ignore_errors=True)
        return bad


@pytest.fixture(scope="module")
def cluster3():
    c = Cluster(3)
    try:
        c.start()
        yield c
    finally:
        bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)
