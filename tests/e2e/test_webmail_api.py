"""The webmail JSON API (/api/v1/mail, docs/api.md) and the static web UI,
against the real daemon: login and cookie attributes, CSRF (403), folders
with unread counts, message lists (pagination, sort), one message through
the MIME parser, the sandboxed HTML endpoint, flags, move, delete to Trash,
400 with a reason for bad input, 404 for anything outside the session's
own mailbox, login throttling shared with IMAP. Mail arrives over SMTP.

Addresses 127.0.210.x-127.0.219.x only: the third octet from the pid, the fourth
from 200 up (above the conftest counter, which starts at 10).
"""
import http.client
import imaplib
import json
import os
import smtplib
import socket
import ssl

import pytest

from conftest import DEV_PORTS, Node
from smtp_util import SMTP_EXTRA, add_domain, add_user, count_messages

OCTET3 = 210 + os.getpid() % 10
PASSWORD = "Webmail-pw1"
PORTS = {k: DEV_PORTS[k] for k in ("smtp_port", "http_port", "https_port", "raft_port",
                                   "rpc_port", "imap_port")}
PORTS.update({k: 0 for k in DEV_PORTS if k not in PORTS})

HTML_MAIL = (
    "From: =?utf-8?B?5byg5LiJ?= <zhang@remote.test>\r\n"
    "To: Alice <alice@wm.test>\r\n"
    "Subject: =?utf-8?B?5L2g5aW977yM5LiW55WM?=\r\n"
    "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    "Message-ID: <html-1@remote.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Plain caf=C3=A9 text\r\n"
    "--alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Hello <b>HTML</b></p><script>alert(1)</script>"
    "<img src=\"http://remote.test/bug.png\">\r\n"
    "--alt--\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5%E5%91%8A.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--outer--\r\n")


def plain_mail(subject, sender="bob@remote.test", date="Sun, 01 Mar 2026 09:00:00 +0000"):
    return ("From: %s\r\nTo: alice@wm.test\r\nSubject: %s\r\nDate: %s\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\nbody of %s\r\n"
            % (sender, subject, date, subject.replace(" ", "-"), subject))


def smtp_send(node, rcpt, data):
    with smtplib.SMTP(node.address, node.ports["smtp_port"], timeout=30) as s:
        s.sendmail("sender@remote.test", [rcpt], data.encode())


class Client:
    """One browser: a cookie jar of one cookie, the CSRF token."""

    def __init__(self, node, tls=False):
        self.node = node
        self.tls = tls
        self.cookie = None
        self.csrf = None

    def conn(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.node.address, self.node.https_port,
                                               timeout=30, context=ctx)
        return http.client.HTTPConnection(self.node.address, self.node.http_port, timeout=30)

    def raw(self, method, path, body=None, headers=None, csrf=True, cookie=True):
        h = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        if cookie and self.cookie:
            h["Cookie"] = "mn_session=" + self.cookie
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()

    def call(self, method, path, body=None, **kw):
        r, data = self.raw(method, "/api/v1/mail" + path, body, **kw)
        obj = json.loads(data) if data and r.getheader("Content-Type", "").startswith(
            "application/json") else data
        return r.status, obj, r

    def login(self, address, password=PASSWORD):
        st, obj, r = self.call("POST", "/login", {"address": address, "password": password})
        if st == 200:
            set_cookie = r.getheader("Set-Cookie")
            self.cookie = set_cookie.split(";")[0].split("=", 1)[1]
            self.csrf = obj["csrf_token"]
        return st, obj, r


@pytest.fixture(scope="module")
def wm(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("webmail"), address="127.0.%d.200" % OCTET3, ports=PORTS,
             extra=SMTP_EXTRA)
    n.start()
    add_domain(n, "wm.test")
    add_user(n, "alice@wm.test", PASSWORD, name="Alice")
    add_user(n, "bob@wm.test", PASSWORD)
    smtp_send(n, "alice@wm.test", plain_mail("apple first", "Zed <zed@remote.test>"))
    smtp_send(n, "alice@wm.test", plain_mail("banana second", "Amy <amy@remote.test>",
                                             "Tue, 03 Mar 2026 09:00:00 +0000"))
    smtp_send(n, "alice@wm.test", HTML_MAIL)
    count_messages(n, "alice@wm.test", 3)
    yield n
    n.stop()


@pytest.fixture
def alice(wm):
    c = Client(wm)
    st, obj, _ = c.login("alice@wm.test")
    assert st == 200, obj
    return c


def inbox(c, **q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    st, obj, _ = c.call("GET", "/folders/INBOX/messages" + ("?" + qs if qs else ""))
    assert st == 200, obj
    return obj


def uid_of(c, subject_start, folder="INBOX"):
    st, obj, _ = c.call("GET", "/folders/%s/messages?limit=200" % folder)
    assert st == 200, obj
    for m in obj["messages"]:
        if (m["subject"] or "").startswith(subject_start):
            return m["uid"]
    raise AssertionError("no message %r in %s: %s" % (subject_start, folder, obj))


# --- static files ----------------------------------------------------------


def get_static(node, path, headers=None, method="GET"):
    c = http.client.HTTPConnection(node.address, node.http_port, timeout=30)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r, r.read()
    finally:
        c.close()


def raw_http(node, request_bytes):
    s = socket.create_connection((node.address, node.http_port), timeout=30)
    try:
        s.sendall(request_bytes)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1])
    finally:
        s.close()


def test_static_index_with_csp_and_etag(wm):
    r, data = get_static(wm, "/")
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b'<script type="module" src="/app.js">' in data
    csp = r.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.getheader("X-Frame-Options") == "DENY"
    etag = r.getheader("ETag")
    assert etag and etag.startswith('"')
    r2, data2 = get_static(wm, "/", {"If-None-Match": etag})
    assert r2.status == 304 and data2 == b"" and r2.getheader("ETag") == etag
    assert r2.getheader("Content-Security-Policy") == csp
    r3, _ = get_static(wm, "/", {"If-None-Match": '"other"'})
    assert r3.status == 200
    r4, data4 = get_static(wm, "/", method="HEAD")
    assert r4.status == 200 and data4 == b"" and int(r4.getheader("Content-Length")) == len(data)


@pytest.mark.parametrize("path,ctype", [
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/i18n.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/admin/", "text/html; charset=utf-8"),
    ("/admin/index.html", "text/html; charset=utf-8"),
])
def test_static_types(wm, path, ctype):
    r, data = get_static(wm, path)
    assert r.status == 200, path
    assert r.getheader("Content-Type") == ctype
    assert r.getheader("Content-Security-Policy")
    assert len(data) > 0


def test_static_directory_redirect_and_errors(wm):
    r, _ = get_static(wm, "/admin")
    assert r.status == 301 and r.getheader("Location") == "/admin/"
    assert get_static(wm, "/nothing-here.js")[0].status == 404
    assert get_static(wm, "/.git/config")[0].status == 404
    r, _ = get_static(wm, "/", method="POST")
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"


@pytest.mark.parametrize("path", [
    b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/etc/passwd", b"/admin/..%2f..%2fetc/passwd",
    b"/%2E%2E%5C..%5Cetc%5Cpasswd", b"/..", b"/%00index.html",
])
def test_static_no_traversal(wm, path):
    status = raw_http(wm, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status in (400, 404), (path, status)


# --- login, session, cookie -------------------------------------------------


def test_login_cookie_attributes(wm):
    c = Client(wm)
    st, obj, r = c.login("Alice@WM.test")
    assert st == 200, obj
    assert obj["address"] == "alice@wm.test" and obj["name"] == "Alice"
    assert len(obj["csrf_token"]) == 43
    cookie = r.getheader("Set-Cookie")
    attrs = [a.strip() for a in cookie.split(";")]
    assert attrs[0].startswith("mn_session=") and len(attrs[0]) == len("mn_session=") + 43
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs
    assert "Path=/api/v1/mail" in attrs and "Secure" not in attrs
    st, obj, _ = c.call("GET", "/session")
    assert st == 200 and obj["address"] == "alice@wm.test" and obj["csrf_token"] == c.csrf


def test_login_over_https_sets_secure(wm):
    c = Client(wm, tls=True)
    st, obj, r = c.login("alice@wm.test")
    assert st == 200, obj
    assert "Secure" in [a.strip() for a in r.getheader("Set-Cookie").split(";")]
    st, obj, _ = c.call("GET", "/folders")
    assert st == 200


@pytest.mark.parametrize("body,status,reason", [
    ({"address": "alice@wm.test"}, 400, "password"),
    ({"password": "x"}, 400, "address"),
    ({"address": "alice", "password": "x"}, 400, "full address"),
    ({"address": 5, "password": "x"}, 400, "address"),
    ({"address": "alice@wm.test", "password": "wrong"}, 401, "bad address or password"),
    ({"address": "nobody@wm.test", "password": "wrong"}, 401, "bad address or password"),
])
def test_login_refusals(wm, body, status, reason):
    st, obj, r = Client(wm).call("POST", "/login", body)
    assert st == status and reason in obj["error"], obj
    assert r.getheader("Set-Cookie") is None


def test_login_needs_json(wm):
    c = Client(wm)
    st, obj, _ = c.call("POST", "/login", "address=alice@wm.test&password=" + PASSWORD,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 415, obj
    st, obj, _ = c.call("POST", "/login", "{bad json", headers={"Content-Type": "application/json"})
    assert st == 400 and "bad JSON" in obj["error"]


def test_no_session_is_401(wm):
    c = Client(wm)
    for method, path in [("GET", "/folders"), ("GET", "/session"),
                         ("GET", "/folders/INBOX/messages"), ("GET", "/folders/INBOX/messages/1")]:
        st, obj, _ = c.call(method, path)
        assert st == 401 and obj["error"] == "not logged in", (path, obj)
    c.cookie = "A" * 43
    assert c.call("GET", "/folders")[0] == 401


def test_unknown_endpoint_and_method(alice):
    assert alice.call("GET", "/users/bob@wm.test/messages")[0] == 404
    assert alice.call("GET", "/nothing")[0] == 404
    st, _, r = alice.call("PUT", "/folders")
    assert st == 405 and r.getheader("Allow") == "GET, POST"


# --- reading ----------------------------------------------------------------


def test_folders_with_unread_counts(alice):
    st, obj, _ = alice.call("GET", "/folders")
    assert st == 200
    by = {f["name"]: f for f in obj["folders"]}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk"} <= set(by)
    assert by["INBOX"]["messages"] >= 3 and by["INBOX"]["unseen"] >= 1
    assert by["Trash"]["special_use"] == "\\Trash"


def test_list_sort_and_pages(alice):
    all_ = inbox(alice, sort="date", order="asc")
    assert all_["total"] >= 3 and all_["offset"] == 0 and all_["limit"] == 50
    # date is the arrival time (internal date), ties in uid order
    keys = [(m["internal_date"], m["uid"]) for m in all_["messages"]]
    assert keys == sorted(keys), keys
    desc = [(m["internal_date"], m["uid"]) for m in inbox(alice)["messages"]]
    assert desc == sorted(keys, reverse=True)
    m0 = [m for m in all_["messages"] if m["subject"] == "apple first"][0]
    assert m0["from"] == {"name": "Zed", "address": "zed@remote.test"}
    assert m0["date"] == 1772355600 and m0["size"] > 0 and "seen" in m0["flags"]
    by_from = inbox(alice, sort="from", order="asc")["messages"]
    assert [m["from"]["name"] for m in by_from[:2]] == ["Amy", "Zed"]
    by_subject = inbox(alice, sort="subject", order="desc")["messages"]
    assert by_subject[0]["subject"] == "你好，世界"
    by_size = inbox(alice, sort="size", order="desc")["messages"]
    assert by_size[0]["subject"] == "你好，世界"  # the multipart one is the biggest
    page = inbox(alice, sort="date", order="asc", offset=1, limit=1)
    assert page["total"] == all_["total"] and len(page["messages"]) == 1
    assert page["messages"][0]["uid"] == all_["messages"][1]["uid"]
    assert inbox(alice, offset=1000)["messages"] == []


@pytest.mark.parametrize("query,reason", [
    ("sort=colour", "sort must be"), ("order=up", "order must be"),
    ("limit=0", "limit"), ("limit=201", "limit"), ("offset=-1", "offset"),
    ("limit=abc", "limit"),
])
def test_list_bad_input(alice, query, reason):
    st, obj, _ = alice.call("GET", "/folders/INBOX/messages?" + query)
    assert st == 400 and reason in obj["error"], obj


def test_one_message_through_mime(alice):
    uid = uid_of(alice, "你好")
    st, m, _ = alice.call("GET", "/folders/INBOX/messages/%d" % uid)
    assert st == 200, m
    h = m["headers"]
    assert h["subject"] == "你好，世界"
    assert h["from"] == [{"name": "张三", "address": "zhang@remote.test"}]
    assert h["to"] == [{"name": "Alice", "address": "alice@wm.test"}]
    assert h["message_id"] == "<html-1@remote.test>" and h["date"] == 1772445600
    assert m["text"].startswith("Plain café text")
    assert m["has_html"] is True and m["truncated"] is False
    assert m["attachments"] == [{"part": "2", "filename": "报告.pdf",
                                 "content_type": "application/pdf", "size": 12}]
    assert m["uid"] == uid and m["folder"] == "INBOX"


def test_html_part_sandboxed(alice):
    uid = uid_of(alice, "你好")
    r, data = alice.raw("GET", "/api/v1/mail/folders/INBOX/messages/%d/html" % uid)
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    csp = r.getheader("Content-Security-Policy")
    assert "sandbox" in csp and "default-src 'none'" in csp and "img-src data:" in csp
    assert "script-src" not in csp  # default-src 'none' covers scripts
    assert r.getheader("Cache-Control") == "no-store"
    assert b"<b>HTML</b>" in data
    plain = uid_of(alice, "apple")
    st, obj, _ = alice.call("GET", "/folders/INBOX/messages/%d/html" % plain)
    assert st == 404 and "no HTML part" in obj["error"]


@pytest.mark.parametrize("path,status", [
    ("/folders/INBOX/messages/abc", 400), ("/folders/INBOX/messages/0", 400),
    ("/folders/INBOX/messages/99999", 404), ("/folders/Nope/messages", 404),
    ("/folders/Nope/messages/1", 404), ("/folders/INBOX/messages/99999/html", 404),
    ("/folders/bad%01name/messages", 400),
])
def test_message_bad_or_missing(alice, path, status):
    st, obj, _ = alice.call("GET", path)
    assert st == status and obj["error"], (path, obj)


def test_only_own_mailbox(wm, alice):
    uid = uid_of(alice, "apple")
    bob = Client(wm)
    assert bob.login("bob@wm.test")[0] == 200
    st, obj, _ = bob.call("GET", "/folders/INBOX/messages/%d" % uid)
    assert st == 404, obj
    assert bob.call("GET", "/folders/INBOX/messages")[1]["total"] == 0
    st, obj, _ = bob.call("PATCH", "/folders/INBOX/messages/%d" % uid, {"seen": True})
    assert st == 404
    assert bob.call("DELETE", "/folders/INBOX/messages/%d" % uid)[0] == 404
    # alice's message is untouched
    st, m, _ = alice.call("GET", "/folders/INBOX/messages/%d" % uid)
    assert st == 200 and m["headers"]["subject"] == "apple first"


# --- changes ----------------------------------------------------------------


def test_csrf_required(alice):
    uid = uid_of(alice, "apple")
    p = "/folders/INBOX/messages/%d" % uid
    for method, path, body in [("PATCH", p, {"seen": True}), ("POST", p + "/move", {"to": "Junk"}),
                               ("DELETE", p, None), ("POST", "/logout", None)]:
        st, obj, _ = alice.call(method, path, body, csrf=False)
        assert st == 403 and "X-CSRF-Token" in obj["error"], (method, path, obj)
        st, obj, _ = alice.call(method, path, body, csrf=False,
                                headers={"X-CSRF-Token": "x" * 43})
        assert st == 403, (method, path, obj)
    # nothing changed, still logged in
    st, m, _ = alice.call("GET", p)
    assert st == 200 and m["folder"] == "INBOX"


def test_flags(alice):
    uid = uid_of(alice, "banana")
    p = "/folders/INBOX/messages/%d" % uid
    unseen = {f["name"]: f for f in alice.call("GET", "/folders")[1]["folders"]}["INBOX"]["unseen"]
    st, obj, _ = alice.call("PATCH", p, {"seen": True, "flagged": True})
    assert st == 200, obj
    assert obj["flags"]["seen"] and obj["flags"]["flagged"]
    after = {f["name"]: f for f in alice.call("GET", "/folders")[1]["folders"]}["INBOX"]["unseen"]
    assert after == unseen - 1
    st, obj, _ = alice.call("PATCH", p, {"flagged": False})
    assert st == 200 and obj["flags"]["seen"] and not obj["flags"]["flagged"]
    st, obj, _ = alice.call("PATCH", p, {"seen": False})
    assert st == 200 and not obj["flags"]["seen"]


@pytest.mark.parametrize("body,reason", [
    ({}, "nothing to change"), ({"seen": "yes"}, "true or false"),
    ({"flagged": 1}, "true or false"), ([1], "JSON object"),
])
def test_flags_bad_input(alice, body, reason):
    uid = uid_of(alice, "banana")
    st, obj, _ = alice.call("PATCH", "/folders/INBOX/messages/%d" % uid, body)
    assert st == 400 and reason in obj["error"], obj


def test_move_and_delete_to_trash(wm, alice):
    smtp_send(wm, "alice@wm.test", plain_mail("cherry to move"))
    count_messages(wm, "alice@wm.test", 4)
    uid = uid_of(alice, "cherry")
    p = "/folders/INBOX/messages/%d" % uid
    st, obj, _ = alice.call("POST", p + "/move", {})
    assert st == 400 and "\"to\"" in obj["error"]
    st, obj, _ = alice.call("POST", p + "/move", {"to": "Nowhere"})
    assert st == 400 and "Nowhere" in obj["error"]
    st, obj, _ = alice.call("POST", p + "/move", {"to": "Junk"})
    assert st == 200 and obj["folder"] == "Junk" and obj["uid"] > 0, obj
    assert alice.call("GET", p)[0] == 404
    junk_uid = obj["uid"]
    st, m, _ = alice.call("GET", "/folders/Junk/messages/%d" % junk_uid)
    assert st == 200 and m["headers"]["subject"] == "cherry to move"
    # delete: to Trash
    st, obj, _ = alice.call("DELETE", "/folders/Junk/messages/%d" % junk_uid)
    assert st == 200 and obj["folder"] == "Trash", obj
    trash_uid = obj["uid"]
    assert alice.call("GET", "/folders/Junk/messages/%d" % junk_uid)[0] == 404
    assert uid_of(alice, "cherry", "Trash") == trash_uid
    # delete in Trash: gone for good
    st, obj, _ = alice.call("DELETE", "/folders/Trash/messages/%d" % trash_uid)
    assert st == 204, obj
    assert alice.call("GET", "/folders/Trash/messages/%d" % trash_uid)[0] == 404
    assert alice.call("DELETE", "/folders/Trash/messages/%d" % trash_uid)[0] == 404


def test_logout(wm):
    c = Client(wm)
    assert c.login("alice@wm.test")[0] == 200
    st, obj, r = c.call("POST", "/logout")
    assert st == 204, obj
    attrs = [a.strip() for a in r.getheader("Set-Cookie").split(";")]
    assert attrs[0] == "mn_session=" and "Max-Age=0" in attrs and "HttpOnly" in attrs
    assert c.call("GET", "/folders")[0] == 401


# --- throttling shared with IMAP ---------------------------------------------


def test_login_failures_throttle_imap_too(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("webmail-limits"), address="127.0.%d.201" % OCTET3,
             ports=PORTS, extra=SMTP_EXTRA.replace(
                 "[limits]\n", "[limits]\nauth_fail_user = 3\nauth_fail_ip = 0\n"))
    n.start()
    try:
        add_domain(n, "wm.test")
        add_user(n, "carol@wm.test", PASSWORD)
        c = Client(n)
        assert c.login("carol@wm.test")[0] == 200
        for _ in range(3):
            assert Client(n).login("carol@wm.test", "wrong")[0] == 401
        # blocked now: the right password is refused, on webmail and IMAP
        st, obj, _ = Client(n).login("carol@wm.test")
        assert st == 401, obj
        imap = imaplib.IMAP4(n.address, n.ports["imap_port"], timeout=30)
        try:
            with pytest.raises(imaplib.IMAP4.error):
                imap.login("carol@wm.test", PASSWORD)
        finally:
            imap.shutdown()
    finally:
        n.stop()
