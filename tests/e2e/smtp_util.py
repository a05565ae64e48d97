"""Helpers for the SMTP end-to-end tests: a node with the SMTP listeners on,
admin API calls (users, mailbox reads through the read-only
/api/v1/users/{address}/messages endpoints, the queue), raw SMTP dialogues.
"""
import base64
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request

import pytest

try:  # the shared fixtures come with the mailctl suite (tests/e2e/conftest.py)
    from conftest import ADMIN_PASSWORD, API_PORTS, DEV_PORTS, Node, next_address
except ImportError:  # pragma: no cover - only before that suite is merged
    pytest.skip("tests/e2e/conftest.py is not there yet", allow_module_level=True)

SMTP_PORTS = dict(API_PORTS)
for _k in ("smtp_port", "submission_port", "smtps_port"):
    SMTP_PORTS[_k] = DEV_PORTS[_k]

# Fast retries for the queue; no per-minute connection rate (every test
# client comes from one loopback address); everything else at its default.
# [delivery] comes last: callers append more of its keys.
SMTP_EXTRA = ("[limits]\nconn_per_minute_per_ip = 0\n"
              "[delivery]\nretry_min = 1\nretry_max = 2\n")

DEADLINE_S = 60.0


def make_smtp_node(tmpdir, extra="", mx=None):
    """A node with the SMTP listeners. Remote mail goes to mx (HOST, PORT);
    by default to a loopback port that is bound but not listening, so it
    is refused and stays queued: no test sends traffic off the machine."""
    blackhole = None
    address = next_address()
    if mx is None:
        blackhole = socket.socket()
        blackhole.bind((address, 0))  # reserved, never listens: refused
        mx = blackhole.getsockname()
    n = Node(tmpdir, address=address, ports=SMTP_PORTS,
             extra=SMTP_EXTRA + "mx_override = %s:%d\n" % mx + extra)
    n.blackhole = blackhole
    return n


def api(node, method, path, body=None, raw=False):
    """Admin API call; returns (status, parsed JSON or bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(node.url + "/api/v1" + path, data=data, method=method)
    cred = base64.b64encode(("admin:%s" % ADMIN_PASSWORD).encode()).decode()
    req.add_header("Authorization", "Basic " + cred)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        payload = e.read()
        status = e.code
    if raw:
        return status, payload
    return status, (json.loads(payload) if payload else None)


def ok(node, method, path, body=None):
    status, out = api(node, method, path, body)
    assert 200 <= status < 300, "%s %s -> %s %s" % (method, path, status, out)
    return out


def add_domain(node, name):
    ok(node, "POST", "/domains", {"name": name})


def add_user(node, address, password="Secret-pw1", **kw):
    body = {"address": address, "password": password}
    body.update(kw)
    ok(node, "POST", "/users", body)


def messages(node, address):
    return ok(node, "GET", "/users/%s/messages" % address)


def raw_message(node, address, uid):
    status, data = api(node, "GET", "/users/%s/messages/%d/raw" % (address, uid), raw=True)
    assert status == 200, (status, data)
    return data


def all_raw(node, address):
    return [raw_message(node, address, m["uid"]) for m in messages(node, address)]


def wait_until(pred, what, deadline_s=DEADLINE_S):
    """Poll pred() until true or the deadline (no fixed sleeps)."""
    end = time.monotonic() + deadline_s
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < end, "timed out waiting for " + what
        time.sleep(0.05)  # poll interval, bounded by the deadline


def queue_empty(node):
    return ok(node, "GET", "/queue") == []


def wait_queue_empty(node, deadline_s=DEADLINE_S):
    wait_until(lambda: queue_empty(node), "the delivery queue to drain", deadline_s)


def count_messages(node, address, n):
    """Wait until address holds n messages in INBOX; returns the list."""
    return wait_until(lambda: (lambda m: m if len(m) == n else None)(messages(node, address)),
                      "%d messages for %s" % (n, address))


def strip_received(data):
    """Remove the first header field (our Received:, with its folded lines)."""
    assert data.startswith(b"Received: "), data[:200]
    i = data.index(b"\r\n")
    while data[i + 2:i + 3] in (b"\t", b" "):
        i = data.index(b"\r\n", i + 2)
    return data[i + 2:]


class RawSMTP:
    """A line-level SMTP client for dialogues smtplib cannot express."""

    def __init__(self, host, port, tls=False, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed; got %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def body_files(node):
    root = os.path.join(node.data_dir, "mail", "bodies")
    n = 0
    for _dirpath, _dirs, files in os.walk(root):
        n += len(files)
    return n
