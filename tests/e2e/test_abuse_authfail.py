"""Login-failure blocking with the product's defaults (issue 8, FEATURES
§16.1): 55 failures per IP and 20 per user within 10 minutes block the IP or
the user for 2,880 minutes. The counters are shared by SMTP AUTH, IMAP,
POP3 and the admin API, so the failures here are spread over all of them.
A block outlives a restart of the node.
No limit is lowered: [limits] carries no auth keys (the failure delays of
1 s are paid in parallel connections).

Addresses: node 127.0.203.10, attacking client 127.0.203.20, other
clients 127.0.203.21-22 and 127.0.204.1-21 (one per failure for the user).
"""
import base64
import http.client
import json
import re
import smtplib
import socket
import threading
import time

import pytest

from conftest import ADMIN_PASSWORD, DEV_PORTS, Node
from smtp_util import add_domain, add_user

NODE = "127.0.203.10"
ATTACKER = "127.0.203.20"
OTHER = "127.0.203.21"
BOB, BOB_PW = "bob@af.test", "Bob-secret-1"
CAROL, CAROL_PW = "carol@af.test", "Carol-secret-1"
ALICE, ALICE_PW = "alice@af.test", "Alice-secret-1"
PORTS = {k: (v if k in ("submission_port", "imap_port", "pop3_port", "http_port", "raft_port",
                        "rpc_port") else 0) for k, v in DEV_PORTS.items()}
BLOCK_S = 2880 * 60
DEADLINE_S = 60.0


@pytest.fixture
def node(tmp_path):
    # only the connection rate is lifted (85 connections from one address
    # in a minute here); every auth threshold is the default
    n = Node(tmp_path, address=NODE, ports=PORTS,
             extra="[limits]\nconn_per_minute_per_ip = 0\n")
    n.start()
    add_domain(n, "af.test")
    for a, p in ((BOB, BOB_PW), (CAROL, CAROL_PW), (ALICE, ALICE_PW)):
        add_user(n, a, p)
    yield n
    n.stop()


def smtp_auth(source, user, password):
    """AUTH PLAIN on submission from source: the reply code."""
    s = smtplib.SMTP(NODE, PORTS["submission_port"], timeout=DEADLINE_S,
                     source_address=(source, 0))
    try:
        s.ehlo("c.af.test")
        cred = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        code, _ = s.docmd("AUTH", "PLAIN " + cred)
        return code
    finally:
        s.close()


def _lines(source, port):
    sock = socket.create_connection((NODE, port), timeout=DEADLINE_S,
                                    source_address=(source, 0))
    return sock, sock.makefile("rb")


def imap_login(source, user, password):
    """IMAP LOGIN from source: the tagged reply line."""
    sock, f = _lines(source, PORTS["imap_port"])
    try:
        assert f.readline().startswith(b"* OK")
        sock.sendall(b'a1 LOGIN "%s" "%s"\r\n' % (user.encode(), password.encode()))
        while True:
            line = f.readline().decode()
            assert line, "connection closed"
            if line.startswith("a1 "):
                return line
    finally:
        f.close()
        sock.close()


def pop3_login(source, user, password):
    """POP3 USER/PASS from source: the PASS reply line."""
    sock, f = _lines(source, PORTS["pop3_port"])
    try:
        assert f.readline().startswith(b"+OK")
        sock.sendall(b"USER %s\r\n" % user.encode())
        assert f.readline() == b"+OK send PASS\r\n"
        sock.sendall(b"PASS %s\r\n" % password.encode())
        return f.readline().decode()
    finally:
        f.close()
        sock.close()


def api_status(source, user, password, method="GET", path="/api/v1/domains"):
    c = http.client.HTTPConnection(NODE, PORTS["http_port"], timeout=DEADLINE_S,
                                   source_address=(source, 0))
    try:
        cred = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        c.request(method, path, headers={"Authorization": "Basic " + cred})
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        c.close()


def parallel(fns):
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


IMAP_FAIL = "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
POP3_FAIL = "-ERR [AUTH] invalid credentials\r\n"


def blocked(node):
    status, body = api_status("127.0.0.1", "admin", ADMIN_PASSWORD, path="/api/v1/security/blocked")
    assert status == 200
    return body


def until_epoch(entry):
    return time.mktime(time.strptime(entry["until"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def test_56th_failure_from_one_ip_refused_other_ip_logs_in(node):
    # 55 failures from one address, each for another unknown name (no user
    # reaches its 20), over SMTP AUTH, IMAP, POP3 and the admin API
    fns = []
    for i in range(55):
        name = "guess%d@af.test" % i
        if i < 20:
            fns.append(lambda n=name: smtp_auth(ATTACKER, n, "wrong"))
        elif i < 35:
            fns.append(lambda n=name: imap_login(ATTACKER, n, "wrong"))
        elif i < 50:
            fns.append(lambda n=name: pop3_login(ATTACKER, n, "wrong"))
        else:
            fns.append(lambda n=name: api_status(ATTACKER, n, "wrong")[0])
    res = parallel(fns)
    assert res == [535] * 20 + [IMAP_FAIL] * 15 + [POP3_FAIL] * 15 + [401] * 5
    # the 55th failure started the block
    b = blocked(node)
    assert [(e["kind"], e["key"], e["failures"]) for e in b] == [("ip", ATTACKER, 55)]
    assert abs(until_epoch(b[0]) - (time.time() + BLOCK_S)) < 120
    assert 'event=blocked kind=ip key="%s" failures=55' % ATTACKER in node.log()

    # the 56th login from there is refused on every service, even with
    # bob's right password (the same answer as a wrong one)
    assert smtp_auth(ATTACKER, BOB, BOB_PW) == 535
    assert imap_login(ATTACKER, BOB, BOB_PW) == IMAP_FAIL
    assert pop3_login(ATTACKER, BOB, BOB_PW) == POP3_FAIL
    assert api_status(ATTACKER, "admin", ADMIN_PASSWORD)[0] == 401
    # while another address logs in
    assert smtp_auth(OTHER, BOB, BOB_PW) == 235
    assert imap_login(OTHER, BOB, BOB_PW).startswith("a1 OK ")
    assert pop3_login(OTHER, BOB, BOB_PW).startswith("+OK maildrop has 0 messages")
    assert api_status(OTHER, "admin", ADMIN_PASSWORD)[0] == 200

    # mailctl lists and releases the block; then the address logs in again
    r = node.mailctl("security", "blocked", "list")
    assert r.returncode == 0, r.stderr
    assert ATTACKER in r.stdout and "55" in r.stdout
    r = node.mailctl("security", "blocked", "release", ATTACKER)
    assert (r.returncode, r.stdout) == (0, ATTACKER + " released\n"), r.stderr
    assert blocked(node) == []
    assert smtp_auth(ATTACKER, BOB, BOB_PW) == 235


def test_21st_login_for_one_user_refused_from_any_ip(node):
    # 20 failures for carol, each from another address (no IP near its 55)
    res = parallel([lambda i=i: smtp_auth("127.0.204.%d" % (1 + i), CAROL, "wrong")
                    for i in range(20)])
    assert res == [535] * 20
    b = blocked(node)
    assert [(e["kind"], e["key"], e["failures"]) for e in b] == [("user", CAROL, 20)]
    assert abs(until_epoch(b[0]) - (time.time() + BLOCK_S)) < 120
    # the right password from a fresh address: refused on every service
    assert smtp_auth("127.0.204.21", CAROL, CAROL_PW) == 535
    assert imap_login("127.0.204.21", CAROL, CAROL_PW) == IMAP_FAIL
    assert pop3_login("127.0.204.21", CAROL, CAROL_PW) == POP3_FAIL
    # alice from the same address is not affected
    assert smtp_auth("127.0.204.21", ALICE, ALICE_PW) == 235
    # a restart keeps the block (DATA_DIR/blocks), with the same end
    node.restart()
    assert blocked(node) == b
    assert "event=blocks_saved blocks=1" in node.log()
    assert smtp_auth("127.0.204.22", CAROL, CAROL_PW) == 535
    r = node.mailctl("security", "blocked", "release", CAROL)
    assert (r.returncode, r.stdout) == (0, CAROL + " released\n"), r.stderr
    assert smtp_auth("127.0.204.21", CAROL, CAROL_PW) == 235
