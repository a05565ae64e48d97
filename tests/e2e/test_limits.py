"""Abuse limits (node/limits) against the real daemon: login-failure blocking
per IP and per user over POP3 and its release through the API and mailctl,
and the per-IP connection cap (POP3 line, HTTP 503).

Clients bind their sockets to different 127.0.0.x source addresses before
connecting, so one test machine plays several client IPs. Thresholds are
configured small ([limits] in the node's config) to keep the tests fast;
the POP3 failed-login delay (1 s) is paid in parallel connections.
"""
import base64
import json
import os
import re
import socket
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from nodeproc import MAILCTL_BIN, Mailnode, config_text, poll

DEADLINE_S = 30.0
ADMIN_PW = "e2e-Limits-Admin1"
BOB, BOB_PW = "bob@lim.test", "Bob pw 1"
ALICE, ALICE_PW = "alice@lim.test", "Alice pw 1"
PORTS = {"smtp_port": 0, "submission_port": 0, "smtps_port": 0, "imap_port": 0,
         "imaps_port": 0, "pop3_port": 2110, "pop3s_port": 0, "http_port": 6080,
         "https_port": 0}
REFUSED_POP3 = "-ERR [SYS/TEMP] too many connections from your address\r\n"
BAD_CREDS = "-ERR [AUTH] invalid credentials\r\n"
_next = [10]


class Node(Mailnode):
    """A node with POP3 and the admin API and the given [limits], started at
    once (nodeproc.Mailnode: stop checks exit 0 and a clean log)."""

    def __init__(self, tmp_path, limits):
        _next[0] += 1
        addr = "127.3.%d.%d" % (1 + os.getpid() % 250, _next[0])
        super().__init__(str(tmp_path / "node.ini"), str(tmp_path / "node.log"), addr)
        self.addr = addr
        self.data_dir = str(tmp_path / "data")
        with open(self.config, "w") as f:
            f.write(config_text("lnode", self.data_dir, addr, PORTS, ADMIN_PW,
                                hostname="l.e2e.test", limits=limits))
        self.start(ports=(PORTS["pop3_port"], PORTS["http_port"]))

    def api(self, method, path, body=None, source="127.0.0.1"):
        """(status, parsed JSON or None); source picks the client IP."""
        handler = urllib.request.HTTPHandler()
        conn_cls = _bound_http_connection(source)
        handler.http_open = lambda req: handler.do_open(conn_cls, req)
        opener = urllib.request.build_opener(handler)
        req = urllib.request.Request(
            "http://%s:%d/api/v1%s" % (self.addr, PORTS["http_port"], path),
            data=json.dumps(body).encode() if body is not None else None, method=method,
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(
                         ("admin:" + ADMIN_PW).encode()).decode()})
        try:
            with opener.open(req, timeout=10) as r:
                data = r.read()
                return r.status, json.loads(data) if data else None
        except urllib.error.HTTPError as e:
            data = e.read()
            return e.code, json.loads(data) if data else None

    def mailctl(self, *args):
        env = dict(os.environ, MAILCTL_SERVER="http://%s:%d" % (self.addr, PORTS["http_port"]),
                   MAILCTL_USER="admin", MAILCTL_PASSWORD=ADMIN_PW)
        return subprocess.run([MAILCTL_BIN] + list(args), env=env, capture_output=True,
                              text=True, timeout=DEADLINE_S)


def _bound_http_connection(source):
    import http.client

    class Bound(http.client.HTTPConnection):
        def __init__(self, *a, **kw):
            kw["source_address"] = (source, 0)
            super().__init__(*a, **kw)
    return Bound


class Pop:
    """A line-level POP3 client from a chosen source address."""

    def __init__(self, node, source):
        self.s = socket.create_connection((node.addr, PORTS["pop3_port"]), timeout=DEADLINE_S,
                                          source_address=(source, 0))
        self.f = self.s.makefile("rb")

    def line(self):
        return self.f.readline().decode("latin-1")

    def cmd(self, text):
        self.s.sendall(text.encode("latin-1") + b"\r\n")
        return self.line()

    def login(self, user, password):
        assert self.cmd("USER " + user) == "+OK send PASS\r\n"
        return self.cmd("PASS " + password)

    def close(self):
        self.f.close()
        self.s.close()


def parallel(fns):
    """Run the callables at once (each POP3 failure costs a 1 s delay)."""
    out = [None] * len(fns)
    errors = []

    def run(i):
        try:
            out[i] = fns[i]()
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    assert not errors, errors
    return out


def failed_login(node, source, user, password="wrong"):
    def fn():
        p = Pop(node, source)
        assert p.line() == "+OK mailnode POP3 ready\r\n"
        r = p.login(user, password)
        p.close()
        return r
    return fn


@pytest.fixture
def auth_node(tmp_path):
    n = Node(tmp_path, {"auth_fail_ip": 4, "auth_fail_user": 3, "auth_window": 600,
                        "block_time": 3600})
    assert n.api("POST", "/domains", {"name": "lim.test"})[0] == 201
    assert n.api("POST", "/users", {"address": BOB, "password": BOB_PW})[0] == 201
    assert n.api("POST", "/users", {"address": ALICE, "password": ALICE_PW})[0] == 201
    yield n
    n.stop()


def test_pop3_ip_blocked_other_ip_logs_in_then_released(auth_node):
    n = auth_node
    # 4 failures from 127.0.0.5, each for another (unknown) name: the IP is blocked
    res = parallel([failed_login(n, "127.0.0.5", "nobody%d@lim.test" % i) for i in range(4)])
    assert res == [BAD_CREDS] * 4
    # now even bob's right password is refused from there, unverified, same answer
    assert failed_login(n, "127.0.0.5", BOB, BOB_PW)() == BAD_CREDS
    assert "event=auth_blocked ip=127.0.0.5" in n.log()
    assert "event=blocked kind=ip key=\"127.0.0.5\" failures=4" in n.log()
    # another source address logs in
    p = Pop(n, "127.0.0.6")
    p.line()
    assert p.login(BOB, BOB_PW).startswith("+OK maildrop has 0 messages")
    assert p.cmd("QUIT").startswith("+OK")
    p.close()

    status, body = n.api("GET", "/security/blocked")
    assert status == 200
    assert len(body) == 1
    assert body[0]["kind"] == "ip" and body[0]["key"] == "127.0.0.5"
    assert body[0]["failures"] == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body[0]["until"])
    r = n.mailctl("security", "blocked", "list")
    assert r.returncode == 0, r.stderr
    assert "KIND" in r.stdout and "127.0.0.5" in r.stdout
    assert n.api("DELETE", "/security/blocked/127.0.0.5")[0] == 204
    assert n.api("DELETE", "/security/blocked/127.0.0.5")[0] == 404
    assert n.api("GET", "/security/blocked") == (200, [])
    p = Pop(n, "127.0.0.5")
    p.line()
    assert p.login(BOB, BOB_PW).startswith("+OK maildrop has 0 messages")
    assert p.cmd("QUIT").startswith("+OK")
    p.close()


def test_pop3_user_blocked_from_every_ip_and_mailctl_release(auth_node):
    n = auth_node
    # 3 failures for bob from three addresses (no IP reaches its 4)
    res = parallel([failed_login(n, "127.0.0.%d" % (20 + i), BOB) for i in range(3)])
    assert res == [BAD_CREDS] * 3
    assert failed_login(n, "127.0.0.30", BOB, BOB_PW)() == BAD_CREDS
    # alice is not affected, from the same address
    p = Pop(n, "127.0.0.30")
    p.line()
    assert p.login(ALICE, ALICE_PW).startswith("+OK")
    assert p.cmd("QUIT").startswith("+OK")
    p.close()
    assert n.api("GET", "/security/blocked")[1][0]["kind"] == "user"
    r = n.mailctl("security", "blocked", "release", BOB)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BOB + " released\n"
    r = n.mailctl("security", "blocked", "release", BOB)
    assert r.returncode == 1
    p = Pop(n, "127.0.0.30")
    p.line()
    assert p.login(BOB, BOB_PW).startswith("+OK")
    assert p.cmd("QUIT").startswith("+OK")
    p.close()


def test_connection_cap_per_ip(tmp_path):
    n = Node(tmp_path, {"max_conn_per_ip": 3})
    try:
        held = [Pop(n, "127.0.0.7") for _ in range(3)]
        for p in held:
            assert p.line() == "+OK mailnode POP3 ready\r\n"
        p4 = Pop(n, "127.0.0.7")
        assert p4.line() == REFUSED_POP3
        assert p4.line() == ""  # closed
        p4.close()
        other = Pop(n, "127.0.0.8")  # another IP has its own count
        assert other.line() == "+OK mailnode POP3 ready\r\n"
        other.close()
        # HTTP is counted on its own: 3 idle connections, the 4th gets 503
        hs = [socket.create_connection((n.addr, PORTS["http_port"]), timeout=DEADLINE_S,
                                       source_address=("127.0.0.7", 0)) for _ in range(3)]
        h4 = socket.create_connection((n.addr, PORTS["http_port"]), timeout=DEADLINE_S,
                                      source_address=("127.0.0.7", 0))
        data = b""
        while True:
            chunk = h4.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), data
        assert data.endswith(b"\r\n\r\ntoo many connections from your address\n"), data
        h4.close()
        for h in hs:
            h.close()
        # closing one POP3 connection makes room again (the close is asynchronous)
        held.pop().close()

        def admitted():
            p = Pop(n, "127.0.0.7")
            ok = p.line() == "+OK mailnode POP3 ready\r\n"
            if ok:
                held.append(p)
            else:
                p.close()
            return ok
        poll(admitted, "a connection slot")
        for p in held:
            p.close()
        assert "event=refused ip=127.0.0.7 reason=too_many_connections" in n.log()
    finally:
        n.stop()
