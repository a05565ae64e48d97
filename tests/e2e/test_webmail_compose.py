"""Webmail compose, drafts, attachments, folders, search and address
completion (/api/v1/mail, docs/api.md) against the real daemon: mail sent
from the webmail goes through the SMTP submission path (DKIM-signed, queued,
delivered) and arrives in other users' INBOX (read over IMAP); a copy is in
Sent; reply sets In-Reply-To/References and \\Answered; drafts replace each
other; non-ASCII attachment names survive both ways; Chinese folder names
show as modified UTF-7 over IMAP. Every endpoint answers bad input with 400
and a reason, another user's objects with 404, a missing CSRF token with 403.

Addresses 127.0.210.x-127.0.219.x, fourth octet 204.
"""
import base64
import email
import email.header
import email.policy
import imaplib
import os
import socket

import pytest

from conftest import DEV_PORTS, Node
from smtp_util import SMTP_EXTRA, add_domain, add_user, api, count_messages, ok, wait_until
from test_webmail_api import PASSWORD, Client, plain_mail, smtp_send

OCTET3 = 210 + os.getpid() % 10
PORTS = {k: DEV_PORTS[k] for k in ("smtp_port", "http_port", "raft_port", "rpc_port",
                                   "imap_port")}
PORTS.update({k: 0 for k in DEV_PORTS if k not in PORTS})


@pytest.fixture(scope="module")
def wm(tmp_path_factory):
    address = "127.0.%d.204" % OCTET3
    hole = socket.socket()
    hole.bind((address, 0))  # never listens: remote mail stays queued
    n = Node(tmp_path_factory.mktemp("wmcompose"), address=address, ports=PORTS,
             extra=SMTP_EXTRA + "mx_override = %s:%d\n" % hole.getsockname())
    n.start()
    add_domain(n, "wm.test")
    add_user(n, "alice@wm.test", PASSWORD, name="Alice Example")
    add_user(n, "bob@wm.test", PASSWORD, name="Bob Builder")
    add_user(n, "carol@wm.test", PASSWORD)
    add_user(n, "dave@wm.test", PASSWORD)
    ok(n, "POST", "/domains/wm.test/dkim", {"selector": "mail"})
    smtp_send(n, "alice@wm.test", plain_mail("apple first", "Zed <zed@remote.test>"))
    count_messages(n, "alice@wm.test", 1)
    yield n
    n.stop()
    hole.close()


def login(node, who="alice@wm.test"):
    c = Client(node)
    st, obj, _ = c.login(who)
    assert st == 200, obj
    return c


def imap_fetch_all(node, who, folder="INBOX"):
    """Every message of folder over IMAP, parsed."""
    m = imaplib.IMAP4(node.address, node.ports["imap_port"], timeout=30)
    try:
        m.login(who, PASSWORD)
        typ, _ = m.select('"%s"' % folder)
        assert typ == "OK"
        typ, data = m.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, d = m.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(email.message_from_bytes(d[0][1], policy=email.policy.default))
        return out
    finally:
        m.logout()


def imap_list(node, who):
    m = imaplib.IMAP4(node.address, node.ports["imap_port"], timeout=30)
    try:
        m.login(who, PASSWORD)
        typ, data = m.list()
        return [line.decode() for line in data]
    finally:
        m.logout()


def wait_inbox(node, who, pred, what):
    return wait_until(lambda: next((m for m in imap_fetch_all(node, who) if pred(m)), None),
                      what)


def list_msgs(c, folder, query=""):
    st, obj, _ = c.call("GET", "/folders/%s/messages%s" % (folder, query))
    assert st == 200, obj
    return obj


def test_send_to_cc_bcc_arrives_with_dkim_and_sent_copy(wm):
    c = login(wm)
    st, obj, _ = c.call("POST", "/send", {
        "to": ["Bob Builder <bob@wm.test>"], "cc": ["carol@wm.test"],
        "bcc": ["dave@wm.test"], "subject": "你好 lunch", "text": "see you at noon\n",
        "html": "<p>see you at <b>noon</b></p>"})
    assert st == 200, obj
    assert obj["queue_id"] and obj["message_id"].startswith("<")
    assert obj["sent"]["folder"] == "Sent"
    for who in ("bob@wm.test", "carol@wm.test", "dave@wm.test"):
        m = wait_inbox(wm, who, lambda m: "lunch" in str(m["Subject"]), "mail for " + who)
        assert str(m["Subject"]) == "你好 lunch"
        assert m["Bcc"] is None  # never shown to anyone
        assert "Alice Example" in str(m["From"]) and "alice@wm.test" in str(m["From"])
        assert m["DKIM-Signature"] is not None and "d=wm.test" in str(m["DKIM-Signature"])
        assert m.get_content_type() == "multipart/alternative"
        assert m.get_body(("plain",)).get_content().strip() == "see you at noon"
        assert "<b>noon</b>" in m.get_body(("html",)).get_content()
        assert m["Message-ID"] == obj["message_id"]
    sent = list_msgs(c, "Sent")
    assert sent["total"] == 1 and sent["messages"][0]["flags"]["seen"] is True
    st, msg, _ = c.call("GET", "/folders/Sent/messages/%d" % obj["sent"]["uid"])
    assert st == 200 and msg["headers"]["subject"] == "你好 lunch"
    assert [a["address"] for a in msg["headers"]["bcc"]] == []


def test_reply_sets_references_and_answered(wm):
    bob = login(wm, "bob@wm.test")
    inbox = list_msgs(bob, "INBOX")
    orig = next(m for m in inbox["messages"] if "lunch" in m["subject"])
    st, full, _ = bob.call("GET", "/folders/INBOX/messages/%d" % orig["uid"])
    st, obj, _ = bob.call("POST", "/send", {
        "to": ["alice@wm.test"], "subject": "Re: " + full["headers"]["subject"],
        "text": "ok\n\n> see you at noon\n",
        "in_reply_to": {"folder": "INBOX", "uid": orig["uid"]}})
    assert st == 200, obj
    m = wait_inbox(wm, "alice@wm.test", lambda m: str(m["Subject"]).startswith("Re: "),
                   "reply for alice")
    assert m["In-Reply-To"] == full["headers"]["message_id"]
    assert full["headers"]["message_id"] in str(m["References"])
    st, after, _ = bob.call("GET", "/folders/INBOX/messages/%d" % orig["uid"])
    assert after["flags"]["answered"] is True
    # reply-all / forward of something that is not ours: 404, nothing sent
    alice = login(wm)
    st, obj, _ = alice.call("POST", "/send", {
        "to": ["bob@wm.test"], "subject": "x", "text": "x",
        "in_reply_to": {"folder": "INBOX", "uid": 999999}})
    assert st == 404, obj


def test_attachment_non_ascii_name_both_ways(wm):
    alice = login(wm)
    payload = bytes(range(256)) * 40
    st, obj, _ = alice.call("POST", "/send", {
        "to": ["bob@wm.test"], "subject": "report", "text": "attached",
        "attachments": [{"filename": "季度报告 2026.pdf", "content_type": "application/pdf",
                         "data": base64.b64encode(payload).decode()}]})
    assert st == 200, obj
    m = wait_inbox(wm, "bob@wm.test", lambda m: str(m["Subject"]) == "report", "report")
    att = next(m.iter_attachments())
    assert att.get_filename() == "季度报告 2026.pdf"
    assert att.get_content() == payload
    bob = login(wm, "bob@wm.test")
    msg = next(x for x in list_msgs(bob, "INBOX")["messages"] if x["subject"] == "report")
    st, full, _ = bob.call("GET", "/folders/INBOX/messages/%d" % msg["uid"])
    a = full["attachments"][0]
    assert a["filename"] == "季度报告 2026.pdf"
    r, data = bob.raw("GET", "/api/v1/mail/folders/INBOX/messages/%d/parts/%s"
                      % (msg["uid"], a["part"]))
    assert r.status == 200 and data == payload
    assert r.getheader("Content-Type") == "application/pdf"
    cd = r.getheader("Content-Disposition")
    assert cd.startswith("attachment; filename=\"")
    assert ("filename*=UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A%202026.pdf") in cd
    assert "sandbox" in r.getheader("Content-Security-Policy")
    # bad part numbers, a multipart, another user's message
    for part, want in (("0", 400), ("1.x", 400), ("9", 404), ("1", 200)):
        r, _ = bob.raw("GET", "/api/v1/mail/folders/INBOX/messages/%d/parts/%s"
                       % (msg["uid"], part))
        assert r.status == want, (part, r.status)
    r, _ = alice.raw("GET", "/api/v1/mail/folders/INBOX/messages/%d/parts/2" % msg["uid"])
    assert r.status == 404 or alice_has_uid(alice, msg["uid"])
    # forward: the attachment goes along, the text quotes the original
    st, obj, _ = bob.call("POST", "/send", {
        "to": ["carol@wm.test"], "subject": "Fwd: report",
        "text": "fyi\n\n---------- Forwarded message ----------\nattached\n",
        "forward_of": {"folder": "INBOX", "uid": msg["uid"]}})
    assert st == 200, obj
    m = wait_inbox(wm, "carol@wm.test", lambda m: str(m["Subject"]) == "Fwd: report", "fwd")
    att = next(m.iter_attachments())
    assert att.get_filename() == "季度报告 2026.pdf" and att.get_content() == payload
    st, obj, _ = alice.call("POST", "/send", {
        "to": ["carol@wm.test"], "text": "x", "forward_of": {"folder": "INBOX", "uid": 99999}})
    assert st == 404, obj


def alice_has_uid(c, uid):
    return any(m["uid"] == uid for m in list_msgs(c, "INBOX", "?limit=200")["messages"])


def test_drafts_replace_and_send_removes(wm):
    alice = login(wm)
    st, d1, _ = alice.call("POST", "/drafts", {"to": ["bob@wm.test"], "bcc": ["dave@wm.test"],
                                              "subject": "draft one", "text": "v1"})
    assert st == 200 and d1["folder"] == "Drafts", d1
    st, d2, _ = alice.call("POST", "/drafts", {"to": ["bob@wm.test"], "bcc": ["dave@wm.test"],
                                              "subject": "draft two", "text": "v2",
                                              "draft_uid": d1["uid"]})
    assert st == 200, d2
    drafts = list_msgs(alice, "Drafts")
    assert [m["subject"] for m in drafts["messages"]] == ["draft two"]
    assert drafts["messages"][0]["flags"]["draft"] is True
    st, full, _ = alice.call("GET", "/folders/Drafts/messages/%d" % d2["uid"])
    assert [a["address"] for a in full["headers"]["bcc"]] == ["dave@wm.test"]
    assert full["text"].strip() == "v2"
    st, obj, _ = alice.call("POST", "/send", {"to": ["bob@wm.test"], "subject": "draft two",
                                             "text": "v2", "draft_uid": d2["uid"]})
    assert st == 200, obj
    assert list_msgs(alice, "Drafts")["total"] == 0
    # a draft needs no recipient; a send does
    st, d3, _ = alice.call("POST", "/drafts", {"subject": "no one yet"})
    assert st == 200, d3
    st, obj, _ = alice.call("POST", "/send", {"subject": "no one", "text": "x"})
    assert st == 400 and "recipients" in obj["error"]


@pytest.mark.parametrize("body,want,reason", [
    ({"to": "bob@wm.test", "text": "x"}, 400, "array"),
    ({"to": ["not an address"], "text": "x"}, 400, "bad address"),
    ({"to": ["a@b@c"], "text": "x"}, 400, "bad address"),
    ({"to": ["bob@wm.test"], "subject": "a\r\nBcc: x@y.test", "text": "x"}, 400, "subject"),
    ({"to": ["bob@wm.test"], "text": 5}, 400, "text"),
    ({"to": ["nobody@wm.test"], "text": "x"}, 400, "user unknown"),
    ({"to": ["bob@wm.test"], "text": "x", "attachments": [{"filename": "a", "data": "@@@"}]},
     400, "base64"),
    ({"to": ["bob@wm.test"], "text": "x", "attachments": [{"data": "AAAA"}]}, 400, "filename"),
    ({"to": ["bob@wm.test"], "text": "x",
      "attachments": [{"filename": "a", "content_type": "text/html; x", "data": "AAAA"}]},
     400, "content_type"),
    ({"to": ["bob@wm.test"], "text": "x", "in_reply_to": {"folder": "INBOX"}}, 400,
     "in_reply_to"),
    ({"to": ["bob@wm.test"] * 101, "text": "x"}, 400, "at most"),
    ({"to": ["bob@wm.test"], "text": "x", "draft_uid": "1"}, 400, "draft_uid"),
])
def test_send_bad_input(wm, body, want, reason):
    alice = login(wm)
    st, obj, _ = alice.call("POST", "/send", body)
    assert st == want and reason in obj["error"], (st, obj)


def test_send_too_large_and_csrf(wm):
    alice = login(wm)
    big = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 3)).decode()
    st, obj, _ = alice.call("POST", "/send", {"to": ["bob@wm.test"], "text": "x",
                                             "attachments": [{"filename": "big.bin",
                                                              "data": big}]})
    assert st == 413 and "attachments" in obj["error"], obj
    for path in ("/send", "/drafts", "/folders", "/folders/INBOX/empty"):
        st, obj, _ = alice.call("POST", path, {"to": ["bob@wm.test"], "name": "x"}, csrf=False)
        assert st == 403, (path, st)
    st, obj, _ = alice.call("POST", "/send", {"to": ["bob@wm.test"], "text": "x"},
                            cookie=False)
    assert st == 401


def test_large_bodies_only_where_compose_needs_them(wm):
    """2 MiB is fine for send and drafts (attachments ride in the body), but
    every other path, logged in or not, keeps the 1 MiB limit (413 before the
    body is read), so a connection cannot pin 18 MiB anywhere else."""
    alice = login(wm)
    pad = base64.b64encode(b"\1" * (1536 * 1024)).decode()  # 2 MiB of base64
    st, obj, _ = alice.call("POST", "/drafts", {"to": ["bob@wm.test"], "text": "x",
                                               "attachments": [{"filename": "p.bin",
                                                                "data": pad}]})
    assert st == 200, (st, obj)
    for path in ("/login", "/folders", "/contacts", "/settings"):
        method = "PATCH" if path == "/settings" else "POST"
        st, _, _ = alice.call(method, path, {"pad": pad})
        assert st == 413, (path, st)
    st, _, _ = alice.call("POST", "/send?x=1", {"to": ["bob@wm.test"], "text": pad[:100]})
    assert st == 200


def test_remote_recipient_is_queued(wm):
    alice = login(wm)
    st, obj, _ = alice.call("POST", "/send", {"to": ["someone@remote.test"], "text": "hi",
                                             "subject": "out"})
    assert st == 200, obj
    q = ok(wm, "GET", "/queue")
    assert any(e.get("id") == obj["queue_id"] for e in q), q


def mutf7(name):
    """IMAP modified UTF-7 (RFC 3501 §5.1.3) of a folder name."""
    out, run = [], ""

    def flush():
        if run:
            b = base64.b64encode(run.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            run = ""
            out.append("&-" if ch == "&" else ch)
        else:
            run += ch
    flush()
    return "".join(out)


def test_chinese_folders_create_rename_delete(wm):
    alice = login(wm)
    st, obj, _ = alice.call("POST", "/folders", {"name": "项目"})
    assert st == 201 and obj["name"] == "项目", obj
    st, obj, _ = alice.call("POST", "/folders", {"name": "项目"})
    assert st == 409, obj
    st, obj, _ = alice.call("GET", "/folders")
    f = next(x for x in obj["folders"] if x["name"] == "项目")
    assert f["messages"] == 0 and f["unseen"] == 0
    assert mutf7("项目") == "&mHl27g-"
    assert any(mutf7("项目") in line for line in imap_list(wm, "alice@wm.test"))
    st, obj, _ = alice.call("PATCH", "/folders/%E9%A1%B9%E7%9B%AE", {"name": "旧项目/二〇二六"})
    assert st == 200 and obj["name"] == "旧项目/二〇二六", obj
    lines = imap_list(wm, "alice@wm.test")
    assert any(mutf7("旧项目/二〇二六") in line for line in lines), lines
    assert not any('"%s"' % mutf7("项目") in line for line in lines)
    # a message moved there counts as unread there
    msg = list_msgs(alice, "INBOX")["messages"][0]
    alice.call("PATCH", "/folders/INBOX/messages/%d" % msg["uid"], {"seen": False})
    st, moved, _ = alice.call("POST", "/folders/INBOX/messages/%d/move" % msg["uid"],
                              {"to": "旧项目/二〇二六"})
    assert st == 200, moved
    st, obj, _ = alice.call("GET", "/folders")
    f = next(x for x in obj["folders"] if x["name"] == "旧项目/二〇二六")
    assert f["messages"] == 1 and f["unseen"] == 1
    sub = "/folders/" + "".join("%%%02X" % b for b in "旧项目/二〇二六".encode())
    st, obj, _ = alice.call("POST", sub + "/messages/%d/move" % moved["uid"], {"to": "INBOX"})
    assert st == 200, obj
    st, obj, _ = alice.call("DELETE", "/folders/%E6%97%A7%E9%A1%B9%E7%9B%AE")
    assert st == 409, obj  # it has a subfolder
    st, obj, _ = alice.call("DELETE", sub)
    assert st == 204, obj
    st, obj, _ = alice.call("DELETE", "/folders/%E6%97%A7%E9%A1%B9%E7%9B%AE")
    assert st == 204, obj
    st, obj, _ = alice.call("GET", "/folders")
    assert not any(x["name"].startswith("旧项目") for x in obj["folders"])


@pytest.mark.parametrize("method,path,body,want", [
    ("POST", "/folders", {}, 400),
    ("POST", "/folders", {"name": ""}, 400),
    ("POST", "/folders", {"name": "a*b"}, 400),
    ("POST", "/folders", {"name": "a//b"}, 400),
    ("POST", "/folders", {"name": "/a"}, 400),
    ("POST", "/folders", {"name": "INBOX"}, 400),
    ("POST", "/folders", {"name": "a\x01"}, 400),
    ("PATCH", "/folders/INBOX", {"name": "X"}, 400),
    ("PATCH", "/folders/Trash", {"name": "X"}, 400),
    ("DELETE", "/folders/Sent", None, 400),
    ("DELETE", "/folders/INBOX", None, 400),
    ("DELETE", "/folders/nosuch", None, 404),
    ("PATCH", "/folders/nosuch", {"name": "other"}, 404),
    ("POST", "/folders/INBOX/empty", None, 400),
    ("POST", "/folders/nosuch/empty", None, 404),
])
def test_folder_bad_input(wm, method, path, body, want):
    alice = login(wm)
    st, obj, _ = alice.call(method, path, body)
    assert st == want, (method, path, st, obj)
    if want == 400:
        assert obj["error"]


def test_empty_trash(wm):
    alice = login(wm)
    smtp_send(wm, "alice@wm.test", plain_mail("to be trashed"))
    msg = wait_until(lambda: next((m for m in list_msgs(alice, "INBOX")["messages"]
                                   if m["subject"] == "to be trashed"), None), "trash mail")
    st, obj, _ = alice.call("DELETE", "/folders/INBOX/messages/%d" % msg["uid"])
    assert st == 200 and obj["folder"] == "Trash", obj
    assert list_msgs(alice, "Trash")["total"] >= 1
    st, obj, _ = alice.call("POST", "/folders/Trash/empty")
    assert st == 200 and obj["removed"] >= 1, obj
    assert list_msgs(alice, "Trash")["total"] == 0


def test_search_and_filters(wm):
    carol = login(wm, "carol@wm.test")
    before = list_msgs(carol, "INBOX")["total"]
    for subj, frm in (("alpha plan", "Ann <ann@remote.test>"), ("beta 计划", "Ben <ben@remote.test>"),
                      ("gamma", "Cat <cat@remote.test>")):
        smtp_send(wm, "carol@wm.test", plain_mail(subj, frm))
    wait_until(lambda: list_msgs(carol, "INBOX")["total"] == before + 3, "carol's mail")
    assert [m["subject"] for m in list_msgs(carol, "INBOX", "?subject=ALPHA")["messages"]] == \
        ["alpha plan"]
    assert [m["subject"] for m in list_msgs(carol, "INBOX", "?from=ben")["messages"]] == \
        ["beta 计划"]
    assert [m["subject"] for m in list_msgs(carol, "INBOX", "?q=%E8%AE%A1%E5%88%92")
            ["messages"]] == ["beta 计划"]
    assert list_msgs(carol, "INBOX", "?body=body%20of%20gamma")["total"] == 1
    # plain_mail() writes "To: alice@wm.test"; the webmail's mail to carol has her in Cc
    assert list_msgs(carol, "INBOX", "?to=alice")["total"] == 3
    assert list_msgs(carol, "INBOX", "?to=carol")["total"] == before
    g = list_msgs(carol, "INBOX", "?subject=gamma")["messages"][0]
    carol.call("PATCH", "/folders/INBOX/messages/%d" % g["uid"], {"flagged": True, "seen": True})
    assert [m["uid"] for m in list_msgs(carol, "INBOX", "?flagged=1")["messages"]] == [g["uid"]]
    unread = list_msgs(carol, "INBOX", "?unread=true")
    assert g["uid"] not in [m["uid"] for m in unread["messages"]]
    assert unread["total"] == list_msgs(carol, "INBOX")["total"] - 1
    # sorted and paged within the filter
    page = list_msgs(carol, "INBOX", "?to=alice&sort=subject&order=asc&limit=1&offset=1")
    assert page["total"] == 3 and [m["subject"] for m in page["messages"]] == ["beta 计划"]
    for q in ("?unread=maybe", "?flagged=2", "?q=" + "x" * 201):
        st, obj, _ = carol.call("GET", "/folders/INBOX/messages" + q)
        assert st == 400 and obj["error"], q


def test_address_completion(wm):
    alice = login(wm)
    st, obj, _ = alice.call("GET", "/addresses?q=bo")
    assert st == 200
    assert {"address": "bob@wm.test", "name": "Bob Builder", "source": "directory"} in \
        obj["addresses"]
    st, obj, _ = alice.call("GET", "/addresses?q=builder")
    assert [a["address"] for a in obj["addresses"]] == ["bob@wm.test"]
    st, obj, _ = alice.call("GET", "/addresses")
    assert st == 400 and "q" in obj["error"]
    st, obj, _ = alice.call("GET", "/addresses?q=bo", cookie=False)
    assert st == 401


# --- settings, password, contacts ---------------------------------------------


def test_settings_stored_in_directory(wm):
    dave = login(wm, "dave@wm.test")
    st, s, _ = dave.call("GET", "/settings")
    assert st == 200 and s == {"address": "dave@wm.test", "name": "", "signature": "",
                               "language": "en", "timezone": ""}, s
    st, s, _ = dave.call("PATCH", "/settings", {
        "name": "戴夫 Dave", "language": "zh-CN", "timezone": "Asia/Shanghai",
        "signature": "-- \r\n戴夫\r\nwm.test"})
    assert st == 200, s
    assert s["name"] == "戴夫 Dave" and s["language"] == "zh-CN"
    assert s["timezone"] == "Asia/Shanghai" and s["signature"] == "-- \n戴夫\nwm.test"
    # in the directory: the admin API sees the same, a new session too
    assert ok(wm, "GET", "/users/dave@wm.test")["name"] == "戴夫 Dave"
    prefs = ok(wm, "GET", "/users/dave@wm.test/prefs")
    assert prefs["language"] == "zh-CN" and prefs["timezone"] == "Asia/Shanghai", prefs
    st, s2, _ = login(wm, "dave@wm.test").call("GET", "/settings")
    assert s2 == s
    # the display name goes into From of mail sent from now on
    st, obj, _ = dave.call("POST", "/send", {"to": ["bob@wm.test"], "subject": "from dave",
                                            "text": "hi"})
    assert st == 200, obj
    m = wait_inbox(wm, "bob@wm.test", lambda m: str(m["Subject"]) == "from dave", "dave's")
    assert m["From"].addresses[0].display_name == "戴夫 Dave"
    # "" removes a preference
    st, s, _ = dave.call("PATCH", "/settings", {"timezone": "", "language": "en"})
    assert st == 200 and s["timezone"] == "" and s["language"] == "en", s


@pytest.mark.parametrize("body,reason", [
    ({}, "nothing to change"),
    ({"language": "fr"}, "language"),
    ({"timezone": "../etc/passwd"}, "timezone"),
    ({"timezone": 5}, "timezone"),
    ({"name": "a\nb"}, "name"),
    ({"signature": "x" * 5000}, "signature"),
    ({"signature": "a\x01b"}, "signature"),
])
def test_settings_bad_input(wm, body, reason):
    dave = login(wm, "dave@wm.test")
    st, obj, _ = dave.call("PATCH", "/settings", body)
    assert st == 400 and reason in obj["error"], obj
    st, obj, _ = dave.call("PATCH", "/settings", {"language": "en"}, csrf=False)
    assert st == 403


def test_password_change_under_policy(wm):
    add_user(wm, "erin@wm.test", PASSWORD)
    erin = login(wm, "erin@wm.test")
    for new, reason in (("short1", "8 to"), ("alllowercase", "two kinds"),
                        ("Erin@wm-Pass9", "address"), ("12345678", "two kinds")):
        st, obj, _ = erin.call("POST", "/password", {"current": PASSWORD, "password": new})
        assert st == 400 and reason in obj["error"], (new, obj)
    st, obj, _ = erin.call("POST", "/password", {"password": "New-pass-42"})
    assert st == 400 and "current" in obj["error"]
    st, obj, _ = erin.call("POST", "/password", {"current": "wrong-Pass1",
                                                 "password": "New-pass-42"})
    assert st == 403 and "current password" in obj["error"]
    st, obj, _ = erin.call("POST", "/password", {"current": PASSWORD,
                                                 "password": "New-pass-42"}, csrf=False)
    assert st == 403
    st, obj, _ = erin.call("POST", "/password", {"current": PASSWORD, "password": "New-pass-42"})
    assert st == 204, obj
    c = Client(wm)
    assert c.login("erin@wm.test", PASSWORD)[0] == 401
    assert c.login("erin@wm.test", "New-pass-42")[0] == 200
    m = imaplib.IMAP4(wm.address, wm.ports["imap_port"], timeout=30)
    try:
        m.login("erin@wm.test", "New-pass-42")
    finally:
        m.logout()


def test_contacts_and_completion(wm):
    alice = login(wm)
    st, obj, _ = alice.call("POST", "/contacts", {"email": "Zhang@Remote.test", "name": "张三"})
    assert st == 201 and obj["email"] == "Zhang@remote.test", obj
    st, obj, _ = alice.call("GET", "/contacts")
    assert any(c["name"] == "张三" for c in obj["contacts"]), obj
    st, obj, _ = alice.call("GET", "/addresses?q=%E5%BC%A0")  # 张
    assert obj["addresses"][0]["name"] == "张三" and obj["addresses"][0]["source"] == "contact"
    for body in ({"email": "no-at"}, {"email": "Name <a@b.test>"}, {"name": "x"},
                 {"email": "a@b.test", "name": "a\nb"}):
        st, obj, _ = alice.call("POST", "/contacts", body)
        assert st == 400, (body, obj)
    bob = login(wm, "bob@wm.test")
    st, obj, _ = bob.call("DELETE", "/contacts/Zhang%40remote.test")
    assert st == 404  # not bob's contact
    st, obj, _ = alice.call("DELETE", "/contacts/Zhang%40remote.test")
    assert st == 204
    st, obj, _ = alice.call("GET", "/contacts")
    assert not any(c["name"] == "张三" for c in obj["contacts"])


def test_remote_images_only_on_request(wm):
    alice = login(wm)
    sent = list_msgs(alice, "Sent", "?subject=lunch")["messages"]
    assert sent, "the HTML mail of the first test"
    path = "/api/v1/mail/folders/Sent/messages/%d/html" % sent[0]["uid"]
    r, body = alice.raw("GET", path)
    csp = r.getheader("Content-Security-Policy")
    assert r.status == 200 and "img-src data:;" in csp and "sandbox" in csp
    assert b"<b>noon</b>" in body
    r, _ = alice.raw("GET", path + "?remote_images=1")
    csp = r.getheader("Content-Security-Policy")
    assert r.status == 200 and "img-src data: http: https:;" in csp
    assert "script-src" not in csp and "sandbox" in csp and "default-src 'none'" in csp
    r, body = alice.raw("GET", path + "?remote_images=yes")
    assert r.status == 400 and b"remote_images" in body


def test_send_limits_shared_with_smtp(tmp_path_factory):
    """The webmail sends through the submission path: the same send limits
    (here 2 messages an hour per user), the same postmaster alert."""
    n = Node(tmp_path_factory.mktemp("wmlimit"), address="127.0.%d.205" % OCTET3, ports=PORTS,
             extra=SMTP_EXTRA.replace("[limits]\n", "[limits]\nsend_user_messages_per_hour = 2\n"))
    n.start()
    try:
        add_domain(n, "wl.test")
        add_user(n, "amy@wl.test", PASSWORD)
        add_user(n, "ben@wl.test", PASSWORD)
        add_user(n, "postmaster@wl.test", PASSWORD)
        amy = login(n, "amy@wl.test")
        for i in range(2):
            st, obj, _ = amy.call("POST", "/send", {"to": ["ben@wl.test"], "text": "n%d" % i})
            assert st == 200, obj
        st, obj, _ = amy.call("POST", "/send", {"to": ["ben@wl.test"], "text": "third"})
        assert st == 429 and "limit" in obj["error"], obj
        wait_until(lambda: "event=send_limit_alert id=" in n.log(), "the postmaster alert")
        assert list_msgs(amy, "Sent")["total"] == 2
    finally:
        n.stop()
