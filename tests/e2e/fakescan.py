"""Fake content scanners for the scanning suites (issue 8): a SpamAssassin
spamd (spamc protocol, SPAMC/1.5) and an rspamd (HTTP, POST /checkv2 with
a JSON reply), each on a loopback address the test gives, port 0.

What they answer is decided by the scanned message itself, so a test says
what it wants in the mail it sends:

    X-Test-Score: 15.2          the score (default 0.0)
    X-Test-Action: add header   rspamd's action (default from the score:
                                 >= 15 reject, >= 6 add header, else no action)

and by `mode` (set between messages):

    "ok"       a normal reply
    "hang"     read the request, never answer (the node's timeout fires)
    "garbage"  answer something that is not the protocol, then close
    "error"    spamd: "SPAMD/1.0 76 Bad header line"; rspamd: HTTP 500
    "huge"     a reply that never ends its header, 70 KB long (over the node's
               64 KiB limit)

spamd's threshold is 5.0 (spam when score >= 5.0), rspamd's required_score
15.0. Every request is kept in `requests` as (first line, {header: value}
with lower-case names, repeated headers as lists, body bytes).
"""
import json
import re
import socket
import threading

LOOPBACK_PREFIX = "127."
SPAMD_REQUIRED = 5.0
RSPAMD_REQUIRED = 15.0
SYMBOLS = ["TEST_RULE_A", "TEST_RULE_B"]


def _score(body):
    m = re.search(rb"^X-Test-Score: (-?[0-9.]+)\r?$", body, re.M)
    return float(m.group(1)) if m else 0.0


def _action(body, score):
    m = re.search(rb"^X-Test-Action: ([a-z ]+)\r?$", body, re.M)
    if m:
        return m.group(1).decode()
    if score >= RSPAMD_REQUIRED:
        return "reject"
    if score >= 6.0:
        return "add header"
    return "no action"


class _Server:
    def __init__(self, address, port=0):
        assert address.startswith(LOOPBACK_PREFIX), "tests use loopback only"
        self.address = address
        self.mode = "ok"
        self.requests = []
        self.active = 0  # connections open now
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, port))
        self.port = self._sock.getsockname()[1]
        self._sock.listen(16)
        self._stop = threading.Event()
        self._conns = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn):
        with self._lock:
            self.active += 1
        try:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode("utf-8", "replace").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip()
                if name in headers:
                    old = headers[name]
                    headers[name] = (old if isinstance(old, list) else [old]) + [value]
                else:
                    headers[name] = value
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self._lock:
                self.requests.append((lines[0], headers, body))
            mode = self.mode
            if mode == "huge":
                conn.sendall(b"SPAMD/1.1 0 EX_OK\r\nX-Pad: " + b"a" * 70000)
                while conn.recv(65536):
                    pass  # until the node gives up
                return
            if mode == "hang":
                while conn.recv(65536):
                    pass  # until the node gives up and closes
                return
            conn.sendall(self.reply(mode, lines[0], body))
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.active -= 1

    @property
    def address_port(self):
        return "%s:%d" % (self.address, self.port)

    def close(self):
        self._stop.set()
        self._sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeSpamd(_Server):
    """spamd: [antispam] spamd_address = fake.address_port"""

    def reply(self, mode, first, body):
        if mode == "garbage":
            return b"HTTP/1.0 200 OK\r\n\r\nhello\r\n"
        if mode == "error":
            return b"SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n"
        score = _score(body)
        spam = "True" if score >= SPAMD_REQUIRED else "False"
        head = "SPAMD/1.1 0 EX_OK\r\nSpam: %s ; %.1f / %.1f\r\n" % (spam, score, SPAMD_REQUIRED)
        if first.startswith("SYMBOLS"):
            syms = (",".join(SYMBOLS) + "\r\n").encode()
            return (head + "Content-length: %d\r\n\r\n" % len(syms)).encode() + syms
        return (head + "\r\n").encode()


class FakeRspamd(_Server):
    """rspamd: [antispam] rspamd_url = fake.url"""

    @property
    def url(self):
        return "http://%s:%d" % (self.address, self.port)

    def reply(self, mode, first, body):
        if mode == "garbage":
            return b"SPAMD/1.1 0 EX_OK\r\n\r\n"
        if mode == "error":
            return (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n")
        score = _score(body)
        doc = {"is_skipped": False, "score": score, "required_score": RSPAMD_REQUIRED,
               "action": _action(body, score),
               "symbols": {s: {"name": s, "score": 1.0} for s in SYMBOLS},
               "messages": {}}
        payload = json.dumps(doc).encode()
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload)) + payload
