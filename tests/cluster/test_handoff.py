"""SMTP handoff to the home node (issue 6, docs/cluster.md "Routing and
handoff"): three real nodes on 127.0.0.21..23 with SMTP, IMAP and POP3.

Mail accepted by any node for a user homed on another node is stored on the
home node only, exactly once and byte for byte; one message for users on
three homes is stored once on each; with the home node stopped the sender
still answers 250 and delivers after the home comes back; the home's
refusal (over quota) bounces to the sender; IDLE on the home wakes on mail
handed off to it. (A repeated
handoff with the same id storing one copy is tested at the RPC level in
tests/unit/cluster/handoff/test_handoff.c.)
"""
import imaplib
import select
import smtplib
import socket
import time
import uuid

import pytest

from conftest import IMAP_PORT, SMTP_PORT, add_users, running_cluster, wait_for

DOMAIN = "ho.test"
PASSWORD = "Handoff-Secret1"
USERS = {"u1@ho.test": "node1", "u2@ho.test": "node2", "u3@ho.test": "node3"}


@pytest.fixture(scope="module")
def hc():
    with running_cluster(3, base=20, services=True) as c:
        # every node knows every user (and its home) before mail flows
        add_users(c, DOMAIN, PASSWORD, USERS)
        yield c


def messages(node, user):
    code, body = node.api("GET", "users/%s/messages" % user)
    assert code == 200, body
    return body


def raw(node, user, uid):
    with node.request("GET", "users/%s/messages/%d/raw" % (user, uid)) as r:
        return r.read()


def queue_empty(node):
    code, body = node.api("GET", "queue")
    return code == 200 and body == []


def send(node, rcpts, body):
    with smtplib.SMTP(node.address, SMTP_PORT, timeout=30) as s:
        s.ehlo("client.test")
        code, _ = s.mail("sender@remote.test")
        assert code == 250
        for r in rcpts:
            code, msg = s.rcpt(r)
            assert code == 250, msg
        code, msg = s.data(body)
        assert code == 250, msg


def make_message(tag, size=0):
    filler = "".join("line %06d of the filler that makes the message big enough\r\n" % i
                     for i in range(size // 60)) if size else "short body\r\n"
    return ("From: sender@remote.test\r\nTo: someone@ho.test\r\nSubject: %s\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\n%s" % (tag, tag, filler)).encode()


def with_tag(node, user, tag):
    found = []
    for m in messages(node, user):
        data = raw(node, user, m["uid"])
        if tag.encode() in data:
            found.append(data)
    return found


def wait_delivered(c, sender_node, tag, homes, deadline_s=60):
    """Wait until sender_node's queue is empty and each user in homes holds
    the tagged message; returns {user: [copies]} over every node."""
    wait_for(lambda: queue_empty(sender_node), deadline_s, "%s queue to empty" % sender_node.name,
             0.2)
    for user, home in homes.items():
        wait_for(lambda: with_tag(c.by_name(home), user, tag), 10,
                 "%s on %s" % (user, home), 0.2)
    return {user: {n.name: with_tag(n, user, tag) for n in c.nodes if n.proc is not None}
            for user in homes}


def test_mail_through_node3_is_stored_once_on_node2_byte_exact(hc):
    n2, n3 = hc.by_name("node2"), hc.by_name("node3")
    tag = "t1-" + uuid.uuid4().hex
    msg = make_message(tag, size=600 * 1024)  # three chunks of 256 KiB
    send(n3, ["u2@ho.test"], msg)
    copies = wait_delivered(hc, n3, tag, {"u2@ho.test": "node2"})["u2@ho.test"]
    assert len(copies["node2"]) == 1
    assert copies["node1"] == [] and copies["node3"] == []
    stored = copies["node2"][0]
    # node3's Received: field first, then exactly the bytes sent (smtplib
    # sends them CRLF-terminated and dot-stuffed; the server unstuffs)
    assert stored.startswith(b"Received: ")
    assert b"by node3.cluster.test" in stored.split(b"\r\n\r\n", 1)[0]
    assert stored.endswith(msg) and len(stored) - len(msg) < 1024
    # the same bytes through node2's IMAP
    im = imaplib.IMAP4(n2.address, IMAP_PORT)
    try:
        im.login("u2@ho.test", PASSWORD)
        im.select("INBOX", readonly=True)
        typ, data = im.uid("SEARCH", None, "HEADER", "Subject", tag)
        assert typ == "OK"
        uids = data[0].split()
        assert len(uids) == 1
        typ, data = im.uid("FETCH", uids[0], "(BODY.PEEK[])")
        assert typ == "OK"
        assert data[0][1] == stored
    finally:
        im.logout()
    # exactly once, also a while later (a late retry would add a copy)
    assert len(with_tag(n2, "u2@ho.test", tag)) == 1
    assert "event=deliver" in n2.log() and "stored=1" in n2.log()


def test_one_message_for_three_homes_is_stored_once_on_each(hc):
    n1 = hc.by_name("node1")
    tag = "t2-" + uuid.uuid4().hex
    send(n1, list(USERS), make_message(tag))
    got = wait_delivered(hc, n1, tag, USERS)
    for user, home in USERS.items():
        for node, copies in got[user].items():
            assert len(copies) == (1 if node == home else 0), (user, node, len(copies))
    # one body per home: the same bytes everywhere (node1's Received: field)
    bodies = {got[u][h][0] for u, h in USERS.items()}
    assert len(bodies) == 1


def test_home_down_mail_waits_in_spool_and_arrives_once_after_restart(hc):
    n1, n2 = hc.by_name("node1"), hc.by_name("node2")
    assert n2.stop() == 0
    tag = "t3-" + uuid.uuid4().hex
    send(n1, ["u2@ho.test"], make_message(tag))  # 250 with the home down

    def deferred():
        code, q = n1.api("GET", "queue")
        assert code == 200
        for e in q:
            for r in e.get("rcpts", []):
                if r["address"] == "u2@ho.test" and r["attempts"] >= 1:
                    return r
        return None
    r = wait_for(deferred, 40, "a failed handoff attempt on node1", 0.2)
    assert r["state"] == "pending", r
    assert r["reply"].startswith("451 4.4.1 home node node2"), r
    n2.start()
    n2.wait_http()
    got = wait_delivered(hc, n1, tag, {"u2@ho.test": "node2"}, deadline_s=120)
    assert len(got["u2@ho.test"]["node2"]) == 1
    assert got["u2@ho.test"]["node1"] == [] and got["u2@ho.test"]["node3"] == []


def test_over_quota_on_home_bounces_through_dsn(hc):
    """The home's permanent refusals come back per recipient and bounce like
    local ones: a user homed on node2 with a 1 KiB quota is sent a 4 KiB
    message through node3 without SIZE on MAIL, so node3's RCPT check (which
    asks node2 for the usage, cluster/usage) cannot see it coming; node2's
    store refuses it and the sender, homed on node3, gets the DSN; the other
    recipient gets the message."""
    n1, n2, n3 = hc.by_name("node1"), hc.by_name("node2"), hc.by_name("node3")
    code, body = n1.api("POST", "users", {"address": "full@ho.test", "password": PASSWORD,
                                          "node": "node2", "quota": 1024})
    assert code == 201, body
    wait_for(lambda: n3.api("GET", "users/full@ho.test")[0] == 200, 20, "node3 to know full@")
    tag = "t4b-" + uuid.uuid4().hex
    with smtplib.SMTP(n3.address, SMTP_PORT, timeout=30) as s:
        s.ehlo("client.test")
        assert s.mail("u3@ho.test")[0] == 250
        assert s.rcpt("full@ho.test")[0] == 250
        assert s.rcpt("u2@ho.test")[0] == 250
        assert s.data(make_message(tag, 4096))[0] == 250
    wait_for(lambda: queue_empty(n3), 60, "node3 queue to empty", 0.2)
    assert with_tag(n2, "full@ho.test", tag) == []
    assert len(with_tag(n2, "u2@ho.test", tag)) == 1
    # the DSN (RFC 3464) goes to u3@ho.test, homed on node3 itself
    dsn = wait_for(lambda: [m for m in with_tag(n3, "u3@ho.test", tag)
                            if b"multipart/report" in m], 30, "the DSN to u3", 0.2)
    assert len(dsn) == 1
    assert b"full@ho.test" in dsn[0] and b"5.2.2" in dsn[0]
    assert b"Action: failed" in dsn[0]


def read_line(sock, buf, deadline):
    """The next CRLF line from sock (bytes buffered in buf), or None at the
    deadline."""
    while b"\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return None
        data = sock.recv(65536)
        if not data:
            return None
        buf.extend(data)
    i = buf.index(b"\r\n")
    line = bytes(buf[:i])
    del buf[:i + 2]
    return line.decode()


def test_idle_on_home_wakes_on_mail_handed_off(hc):
    """The home notifies its IMAP sessions after the handoff's store commit,
    as local delivery does: IDLE on node2 sees EXISTS for mail sent through
    node3."""
    n2, n3 = hc.by_name("node2"), hc.by_name("node3")
    sock = socket.create_connection((n2.address, IMAP_PORT), timeout=10)
    buf = bytearray()
    try:
        end = time.monotonic() + 10
        assert read_line(sock, buf, end).startswith("* OK")
        sock.sendall(b"a1 LOGIN u2@ho.test " + PASSWORD.encode() + b"\r\n")
        while True:
            line = read_line(sock, buf, end)
            assert line is not None
            if line.startswith("a1 "):
                assert line.startswith("a1 OK"), line
                break
        sock.sendall(b"a2 SELECT INBOX\r\n")
        exists = None
        while True:
            line = read_line(sock, buf, end)
            assert line is not None
            if line.endswith(" EXISTS"):
                exists = int(line.split()[1])
            if line.startswith("a2 "):
                assert line.startswith("a2 OK"), line
                break
        sock.sendall(b"a3 IDLE\r\n")
        assert read_line(sock, buf, end).startswith("+")
        tag = "t5-" + uuid.uuid4().hex
        send(n3, ["u2@ho.test"], make_message(tag))
        line = read_line(sock, buf, time.monotonic() + 30)
        assert line == "* %d EXISTS" % (exists + 1), line
        sock.sendall(b"DONE\r\n")
        end = time.monotonic() + 10
        while True:  # untagged lines (RECENT) may come before the end of IDLE
            line = read_line(sock, buf, end)
            assert line is not None
            if not line.startswith("* "):
                assert line.startswith("a3 OK"), line
                break
    finally:
        sock.close()
