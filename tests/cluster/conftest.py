"""Multi-node helpers for tests/cluster (SPEC §4 `make cluster` layout).

Real mailnode processes on 127.0.0.B+1 .. 127.0.0.B+N (B = the cluster's
`base`, 0 unless a test file picks its own range so suites can run side by
side), every one with the dev ports (HTTP, Raft and RPC on; SMTP, IMAP and
POP3 too with services=True), sharing a cluster secret. Node B+1
bootstraps, the others join it on port 7101. Everything is polled with
deadlines; no fixed sleeps.
"""
import base64
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

# Starting, stopping and the log checks are tests/e2e/nodeproc.py's, shared
# with the e2e suites (appended to the path so that "conftest" stays ours).
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
import nodeproc  # noqa: E402

SOURCE_DIR = nodeproc.SOURCE_DIR
MAILNODE_BIN = nodeproc.MAILNODE_BIN

ADMIN_PASSWORD = "cluster-admin-Secret1"
SECRET = "cluster-test-secret-0123456789"
HTTP_PORT, RAFT_PORT, RPC_PORT = 6080, 7100, 7101
SMTP_PORT, IMAP_PORT, POP3_PORT = 2525, 2143, 2110
# Nodes are killed and partitioned on purpose, so "error" lines are
# expected; a sanitizer report never is.
BAD_LOG_LINE = nodeproc.SANITIZER_LINE


def wait_for(pred, deadline_s, what, interval=0.05):
    end = time.monotonic() + deadline_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs waiting for %s" % (deadline_s, what))
        time.sleep(interval)  # poll interval, bounded by the deadline above


class Node(nodeproc.Mailnode):
    """One cluster member: a nodeproc.Mailnode whose stop() returns the exit
    code and leaves the log check to Cluster.stop (sanitizer reports only)."""

    def __init__(self, root, i, secret=SECRET, join=True, snapshot_threshold=256, name=None,
                 base=0, services=False):
        self.i = i
        self.name = name or "node%d" % i
        self.dir = os.path.join(root, self.name)
        self.data_dir = os.path.join(self.dir, "data")
        super().__init__(os.path.join(self.dir, "node.ini"),
                         os.path.join(self.dir, "stderr.log"), "127.0.0.%d" % (base + i))
        os.makedirs(self.dir, exist_ok=True)
        ports = {"http_port": HTTP_PORT, "raft_port": RAFT_PORT, "rpc_port": RPC_PORT}
        if services:
            ports.update(smtp_port=SMTP_PORT, imap_port=IMAP_PORT, pop3_port=POP3_PORT)
        extra = "\n".join([
            "[cluster]",
            "join = %s" % ("127.0.0.%d:%d" % (base + 1, RPC_PORT) if join and i != 1 else ""),
            "secret = %s" % secret,
            "snapshot_threshold = %d" % snapshot_threshold,
            "[log]", "level = info"]) + "\n"
        text = nodeproc.config_text(self.name, self.data_dir, self.address, ports,
                                    admin_password=ADMIN_PASSWORD,
                                    hostname="%s.cluster.test" % self.name,
                                    # the tests make thousands of API
                                    # connections from loopback
                                    limits={"exempt": "127.0.0.0/8"}, extra=extra)
        with open(self.config, "w") as f:
            f.write(text)

    def start(self):
        """Run it without waiting (Cluster.start starts followers in
        parallel); wait_http() waits."""
        return super().start(ports=())

    def wait_http(self, deadline_s=30):
        def up():
            assert self.running(), "%s exited:\n%s" % (self.name, self.log())
            return nodeproc.accepts(self.address, HTTP_PORT)
        wait_for(up, deadline_s, "%s HTTP" % self.name)

    def stop(self, sig=signal.SIGTERM, deadline_s=20):
        """Send sig (after SIGCONT for a paused node); the exit code, killed
        after deadline_s. None when it was not running."""
        if self.proc is None:
            return None
        if sig == signal.SIGTERM:
            self.proc.send_signal(signal.SIGCONT)
        rc, _ = self.signal_wait(sig, deadline_s)
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    # --- API ---------------------------------------------------------------
    def request(self, method, path, data=None, timeout=15):
        """An admin API request as admin; the open response (the caller
        closes it). HTTP error statuses raise urllib.error.HTTPError."""
        url = "http://%s:%d/api/v1/%s" % (self.address, HTTP_PORT, path)
        req = urllib.request.Request(url, data=data, method=method)
        tok = base64.b64encode(("admin:%s" % ADMIN_PASSWORD).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        return urllib.request.urlopen(req, timeout=timeout)

    def api(self, method, path, body=None, timeout=15):
        data = json.dumps(body).encode() if body is not None else None
        try:
            with self.request(method, path, data, timeout) as r:
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

    def home_of(self, address):
        """The home node this node's replica names for address; None when
        it does not know the user."""
        code, body = self.api("GET", "users/" + address)
        return body.get("home_node") if code == 200 else None


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
            log = n.log()
            if BAD_LOG_LINE.search(log):
                bad.append("%s:\n%s" % (n.name, log[-4000:]))
        if not bad:
            shutil.rmtree(self.root, ignore_errors=True)
        return bad


@contextlib.contextmanager
def running_cluster(n, **kw):
    """A started Cluster(n, **kw), stopped at the end; fails when a node's
    log holds a sanitizer report."""
    c = Cluster(n, **kw)
    try:
        c.start()
        yield c
    finally:
        bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


def add_users(c, domain, password, homes, deadline_s=20):
    """Through the first node: add domain, then each user of homes
    ({address: home node name}) with password; wait until every running
    node knows every user with that home."""
    n1 = c.nodes[0]
    code, body = n1.api("POST", "domains", {"name": domain})
    assert code == 201, body
    for addr, home in homes.items():
        code, body = n1.api("POST", "users", {"address": addr, "password": password,
                                              "node": home})
        assert code == 201, body
        assert body["home_node"] == home, body
    for n in c.nodes:
        if n.proc is None:
            continue
        for addr, home in homes.items():
            wait_for(lambda: n.home_of(addr) == home, deadline_s,
                     "%s sees %s homed on %s" % (n.name, addr, home))


@pytest.fixture(scope="module")
def cluster3():
    with running_cluster(3) as c:
        yield c


# a skipped test fails `make test` (nodeproc.fail_on_skips)
pytest_sessionfinish = nodeproc.fail_on_skips
