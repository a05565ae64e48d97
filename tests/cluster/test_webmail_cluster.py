"""Webmail across the cluster (issue 7; docs/webmail.md "Cluster"). Two real
nodes on 127.0.0.81..82 with SMTP and IMAP; bob is homed on node2. Logging
in at node1's webmail, bob lists and reads a message delivered at node2 (the
mailbox calls are carried to node2 over the authenticated node-to-node RPC
channel, RPC_WEBMAIL), flags it, and sends one (through node2's submission
path: the copy lands in node2's Sent, the mail in carol's INBOX on node1).
A session is still the front node's: CSRF is checked there (403 without the
token). Everything waits with deadlines, never fixed sleeps."""
import http.client
import imaplib
import json
import smtplib

import pytest

from conftest import IMAP_PORT, SMTP_PORT, HTTP_PORT, add_users, running_cluster, wait_for

DOMAIN = "wmcl.test"
BOB = "bob@" + DOMAIN      # homed on node2
CAROL = "carol@" + DOMAIN  # homed on node1
PASSWORD = "Webmail-cl-pw1"
DEADLINE_S = 30


@pytest.fixture(scope="module")
def cl():
    with running_cluster(2, base=80, services=True) as c:
        add_users(c, DOMAIN, PASSWORD, {BOB: "node2", CAROL: "node1"}, DEADLINE_S)
        yield c


class Web:
    def __init__(self, node):
        self.node = node
        self.cookie = self.csrf = None

    def call(self, method, path, body=None, csrf=True):
        h = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        c = http.client.HTTPConnection(self.node.address, HTTP_PORT, timeout=DEADLINE_S)
        try:
            c.request(method, "/api/v1/mail" + path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            if r.getheader("Set-Cookie"):
                self.cookie = r.getheader("Set-Cookie").split(";")[0]
            ct = r.getheader("Content-Type", "")
            return r.status, (json.loads(raw) if ct.startswith("application/json") else raw), r
        finally:
            c.close()

    def login(self, user):
        st, obj, _ = self.call("POST", "/login", {"address": user, "password": PASSWORD})
        assert st == 200, obj
        self.csrf = obj["csrf_token"]
        return obj


def imap_subjects(node, user, folder="INBOX"):
    m = imaplib.IMAP4(node.address, IMAP_PORT, timeout=DEADLINE_S)
    try:
        m.login(user, PASSWORD)
        typ, data = m.select(folder, readonly=True)
        assert typ == "OK", data
        if int(data[0]) == 0:
            return []
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [d[1].decode().split(":", 1)[1].strip() for d in data if isinstance(d, tuple)]
    finally:
        m.logout()


def test_user_homed_elsewhere_reads_and_sends(cl):
    n1, n2 = cl.nodes[0], cl.nodes[1]
    with smtplib.SMTP(n2.address, SMTP_PORT, timeout=DEADLINE_S) as s:
        s.sendmail("alice@example.org", [BOB],
                   "From: Alice <alice@example.org>\r\nTo: %s\r\nSubject: across nodes\r\n"
                   "\r\nread me from node1\r\n" % BOB)
    wait_for(lambda: imap_subjects(n2, BOB) == ["across nodes"], DEADLINE_S, "delivery at node2")

    w = Web(n1)
    me = w.login(BOB)
    assert me["home_node"] == "node2"
    st, obj, _ = w.call("GET", "/folders")
    assert st == 200, obj
    inbox = next(f for f in obj["folders"] if f["name"] == "INBOX")
    assert inbox["messages"] == 1 and inbox["unseen"] == 1
    st, lst, _ = w.call("GET", "/folders/INBOX/messages")
    assert st == 200 and [m["subject"] for m in lst["messages"]] == ["across nodes"], lst
    uid = lst["messages"][0]["uid"]
    st, msg, _ = w.call("GET", "/folders/INBOX/messages/%d" % uid)
    assert st == 200 and msg["text"].strip() == "read me from node1", msg
    # a change: CSRF is checked at node1, the change made at node2
    st, obj, _ = w.call("PATCH", "/folders/INBOX/messages/%d" % uid, {"seen": True}, csrf=False)
    assert st == 403
    st, obj, _ = w.call("PATCH", "/folders/INBOX/messages/%d" % uid, {"seen": True})
    assert st == 200 and obj["flags"]["seen"] is True, obj
    # bad input and someone else's message answer as on the home node
    st, obj, _ = w.call("GET", "/folders/INBOX/messages/999")
    assert st == 404
    st, obj, _ = w.call("GET", "/folders/INBOX/messages?sort=nope")
    assert st == 400 and "sort" in obj["error"]

    st, obj, _ = w.call("POST", "/send", {"to": [CAROL], "subject": "sent via node1",
                                         "text": "from bob, homed on node2"})
    assert st == 200, obj
    assert obj["sent"]["folder"] == "Sent"
    wait_for(lambda: "sent via node1" in imap_subjects(n1, CAROL), DEADLINE_S,
             "bob's mail in carol's INBOX on node1")
    assert imap_subjects(n2, BOB, "Sent") == ["sent via node1"]

    # carol, homed on node1, is served by node1 itself; her session at node2 is carried
    w2 = Web(n2)
    w2.login(CAROL)
    st, lst, _ = w2.call("GET", "/folders/INBOX/messages")
    assert st == 200 and [m["subject"] for m in lst["messages"]] == ["sent via node1"], lst
