"""SMTP server end to end (SPEC §8, issue 3 "Must show"): the real daemon on
loopback, driven with smtplib, raw sockets and swaks; mailboxes read back
through the read-only admin endpoints /api/v1/users/{address}/messages.
"""
import shutil
import smtplib
import subprocess
import time
import uuid

import pytest

from smtp_util import (RawSMTP, add_domain, add_user, all_raw, api, body_files,
                       count_messages, make_smtp_node, messages, ok, raw_message,
                       strip_received, tls_context, wait_queue_empty, wait_until)

RELAY_REPLY = ("553 5.7.1 sorry, you don't authenticate or the domain isn't in my list "
               "of allowed rcpthosts(#5.7.1)")
PW = "Secret-pw1"


@pytest.fixture(scope="module")
def snode(tmp_path_factory):
    n = make_smtp_node(tmp_path_factory.mktemp("smtp"))
    n.start()
    add_domain(n, "a.test")
    for u in ("bob", "carol", "dave", "erin", "sub"):
        add_user(n, "%s@a.test" % u, PW)
    add_user(n, "full@a.test", PW, quota="1K")
    add_user(n, "off@a.test", PW, flags=["disabled"])
    add_user(n, "inner@a.test", PW, flags=["no_external_receive"])
    ok(n, "POST", "/aliases", {"address": "team@a.test", "targets": ["carol@a.test",
                                                                     "dave@a.test"]})
    ok(n, "POST", "/aliases", {"address": "me@a.test", "targets": ["sub@a.test"]})
    ok(n, "POST", "/groups", {"address": "inner-group@a.test"})
    ok(n, "POST", "/groups/inner-group@a.test/members", {"member": "bob@a.test"})
    ok(n, "POST", "/groups/inner-group@a.test/members", {"member": "carol@a.test"})
    ok(n, "POST", "/groups", {"address": "outer@a.test"})
    for m in ("inner-group@a.test", "team@a.test", "bob@a.test", "erin@a.test"):
        ok(n, "POST", "/groups/outer@a.test/members", {"member": m})
    yield n
    n.stop()


def smtp(node, port_key="smtp_port"):
    s = smtplib.SMTP(node.address, node.ports[port_key], timeout=60)
    s.ehlo("client.e2e.test")
    return s


def uniq():
    return uuid.uuid4().hex


def test_greeting_and_ehlo(snode):
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    code, lines = c.reply()
    assert (code, lines) == (220, ["220 node1.e2e.test ESMTP mailnode"])
    code, lines = c.cmd("EHLO client.e2e.test")
    assert code == 250
    caps = [ln[4:] for ln in lines[1:]]
    assert caps == ["PIPELINING", "SIZE 52428800", "8BITMIME", "STARTTLS", "AUTH PLAIN LOGIN",
                    "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"]
    assert c.cmd("VRFY bob")[0] == 252
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("HELP")[0] == 214
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("QUIT") == (221, ["221 2.0.0 Bye"])
    c.close()


def test_local_delivery_byte_exact(snode):
    before = len(messages(snode, "bob@a.test"))
    tag = uniq()
    msg = ("From: x@remote.test\r\nTo: bob@a.test\r\nSubject: exact %s\r\n"
           "Message-ID: <%s@remote.test>\r\n\r\nline one\r\n.leading dot\r\n"
           "..two dots\r\n\r\n  spaces  \r\n" % (tag, tag)).encode()
    s = smtp(snode)
    s.sendmail("x@remote.test", ["bob@a.test"], msg)
    s.quit()
    msgs = count_messages(snode, "bob@a.test", before + 1)
    data = raw_message(snode, "bob@a.test", msgs[-1]["uid"])
    assert strip_received(data) == msg
    # RFC 5321 §4.4 form: from, by, with, id, for
    head = data[:data.index(b";")].decode()
    assert head.startswith("Received: from client.e2e.test ([127.0.0.1])\r\n\tby "
                           "node1.e2e.test (mailnode) with ESMTP id ")
    assert "for <bob@a.test>" in head
    wait_queue_empty(snode)


def test_aliases_and_nested_groups_each_once(snode):
    users = ["bob", "carol", "dave", "erin"]
    before = {u: len(messages(snode, u + "@a.test")) for u in users}
    tag = uniq()
    s = smtp(snode)
    # outer -> inner-group (bob, carol), team (carol, dave), bob, erin; plus
    # team and bob again as direct recipients
    s.sendmail("x@remote.test", ["outer@a.test", "team@a.test", "bob@a.test"],
               ("Subject: fanout %s\r\n\r\nbody\r\n" % tag).encode())
    s.quit()
    wait_queue_empty(snode)
    for u in users:
        raws = [r for r in all_raw(snode, u + "@a.test") if tag.encode() in r]
        assert len(raws) == 1, (u, len(raws))
        assert len(messages(snode, u + "@a.test")) == before[u] + 1


def test_single_instance_100_recipients(snode):
    rcpts = ["si%02d@a.test" % i for i in range(100)]
    for r in rcpts:
        add_user(snode, r, PW)
    wait_queue_empty(snode)
    files = body_files(snode)
    s = smtp(snode)
    s.sendmail("x@remote.test", rcpts, b"Subject: one body\r\n\r\n" + b"x" * 5000 + b"\r\n")
    s.quit()
    wait_queue_empty(snode)
    for r in (rcpts[0], rcpts[57], rcpts[99]):
        assert len(messages(snode, r)) == 1
    assert body_files(snode) == files + 1


def test_relay_refused_exact_text(snode):
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    c.reply()
    c.cmd("EHLO client.e2e.test")
    assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<someone@elsewhere.test>") == (553, [RELAY_REPLY])
    assert c.cmd("RCPT TO:<nobody@a.test>")[0] == 550
    assert c.cmd("RCPT TO:<off@a.test>")[1][0].startswith("550 5.2.1 ")
    assert "does not receive mail from outside" in c.cmd("RCPT TO:<inner@a.test>")[1][0]
    c.cmd("QUIT")
    c.close()


def test_submission_starttls_auth(snode):
    tag = uniq()
    before = len(messages(snode, "carol@a.test"))
    s = smtplib.SMTP(snode.address, snode.ports["submission_port"], timeout=60)
    s.ehlo("client.e2e.test")
    # AUTH is required before MAIL on submission
    assert s.mail("sub@a.test")[0] == 530
    s.rset()
    s.starttls(context=tls_context())
    s.ehlo("client.e2e.test")
    assert "starttls" not in s.esmtp_features
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login("sub@a.test", "wrong password")
    assert e.value.smtp_code == 535
    s.login("sub@a.test", PW)
    # only its own address or an alias of it
    code, text = s.mail("carol@a.test")
    assert code == 553 and text.startswith(b"5.7.1")
    s.rset()
    s.sendmail("me@a.test", ["carol@a.test"], ("Subject: sub %s\r\n\r\nx\r\n" % tag).encode())
    s.sendmail("sub@a.test", ["carol@a.test"], ("Subject: sub2 %s\r\n\r\nx\r\n" % tag).encode())
    s.quit()
    count_messages(snode, "carol@a.test", before + 2)
    data = [r for r in all_raw(snode, "carol@a.test") if tag.encode() in r][0]
    head = data[:data.index(b";")].decode()
    assert "with ESMTPSA" in head and "(authenticated as sub@a.test)" in head
    assert "TLSv1." in head


def test_smtps_and_wrong_password(snode):
    tag = uniq()
    before = len(messages(snode, "dave@a.test"))
    s = smtplib.SMTP_SSL(snode.address, snode.ports["smtps_port"], context=tls_context(),
                         timeout=60)
    s.ehlo("client.e2e.test")
    assert "auth" in s.esmtp_features and "starttls" not in s.esmtp_features
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login("dave@a.test", "nope")
    assert e.value.smtp_code == 535
    s.login("dave@a.test", PW)
    s.sendmail("dave@a.test", ["dave@a.test"], ("Subject: smtps %s\r\n\r\nx\r\n" % tag).encode())
    s.quit()
    count_messages(snode, "dave@a.test", before + 1)


def test_auth_plain_raw_and_unknown_user(snode):
    import base64
    c = RawSMTP(snode.address, snode.ports["smtps_port"], tls=True)
    assert c.reply()[0] == 220
    c.cmd("EHLO client.e2e.test")
    bad = base64.b64encode(b"\0ghost@a.test\0whatever").decode()
    t0 = time.monotonic()
    assert c.cmd("AUTH PLAIN " + bad) == (535, ["535 5.7.8 Error: authentication failed"])
    assert time.monotonic() - t0 >= 0.9  # failures are answered after a second
    assert c.cmd("AUTH PLAIN") == (334, ["334 "])
    assert c.cmd(base64.b64encode(b"\0erin@a.test\0" + PW.encode()).decode())[0] == 235
    assert c.cmd("AUTH PLAIN")[0] == 503  # already authenticated
    c.cmd("QUIT")
    c.close()


def test_over_quota_552(snode):
    s = smtp(snode)
    s.mail("x@remote.test", ["size=2048"])
    code, text = s.rcpt("full@a.test")
    assert code == 552 and text.startswith(b"5.2.2") and b"mailbox full" in text
    s.quit()


def test_8bitmime_and_smtputf8(snode):
    tag = uniq()
    before = len(messages(snode, "erin@a.test"))
    body = ("Subject: =?utf-8?q?caf=C3=A9?= %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, 日本語\r\n" % tag).encode()
    s = smtp(snode)
    assert s.mail("x@remote.test", ["BODY=8BITMIME"])[0] == 250
    assert s.rcpt("erin@a.test")[0] == 250
    assert s.data(body)[0] == 250
    # an UTF-8 sender address needs SMTPUTF8 on MAIL
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    c.reply()
    c.cmd("EHLO client.e2e.test")
    code, lines = c.cmd("MAIL FROM:<jörg@bücher.test>")
    assert code == 553
    assert c.cmd("MAIL FROM:<jörg@bücher.test> SMTPUTF8 BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<erin@a.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(("From: jörg@bücher.test\r\nSubject: utf8 %s\r\n\r\nhej\r\n.\r\n" % tag).encode())
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    c.close()
    s.quit()
    count_messages(snode, "erin@a.test", before + 2)
    raws = [r for r in all_raw(snode, "erin@a.test") if tag.encode() in r]
    assert any(strip_received(r) == body for r in raws)
    assert any(b"with UTF8SMTP" in r and "jörg@bücher.test".encode() in r for r in raws)


def test_pipelining_one_packet(snode):
    tag = uniq()
    before = len(messages(snode, "bob@a.test"))
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    c.reply()
    c.send(("EHLO client.e2e.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<bob@a.test>\r\n"
            "RCPT TO:<nobody@a.test>\r\nRCPT TO:<carol@a.test>\r\nDATA\r\n"
            "Subject: piped %s\r\n\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n" % tag).encode())
    codes = [c.reply()[0] for _ in range(9)]
    assert codes == [250, 250, 250, 550, 250, 354, 250, 250, 221]
    c.close()
    count_messages(snode, "bob@a.test", before + 1)


def test_20mb_message(snode):
    before = len(messages(snode, "dave@a.test"))
    line = b"0123456789" * 10 + b"\r\n"  # 102 bytes
    body = b"Subject: big\r\n\r\n" + line * (20 * 1024 * 1024 // len(line))
    s = smtp(snode)
    s.sendmail("x@remote.test", ["dave@a.test"], body)
    s.quit()
    msgs = count_messages(snode, "dave@a.test", before + 1)
    data = raw_message(snode, "dave@a.test", msgs[-1]["uid"])
    assert strip_received(data) == body


def test_message_too_big_552(snode):
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    c.reply()
    c.cmd("EHLO client.e2e.test")
    assert c.cmd("MAIL FROM:<x@remote.test> SIZE=99999999999")[0] == 552
    c.cmd("QUIT")
    c.close()


def test_long_line_then_keeps_serving(snode):
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    c.reply()
    c.cmd("EHLO client.e2e.test")
    c.send(b"NOOP " + b"x" * (100 * 1024) + b"\r\n")
    code, lines = c.reply()
    assert code == 500 and lines[0].startswith("500 5.5.2")
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("MAIL FROM:<x@remote.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@a.test>")[0] == 250
    c.cmd("QUIT")
    c.close()
    # and other sessions are served as well
    s = smtp(snode)
    assert s.noop()[0] == 250
    s.quit()


def test_too_many_errors_421(snode):
    c = RawSMTP(snode.address, snode.ports["smtp_port"])
    c.reply()
    codes = [c.cmd("BOGUS")[0] for _ in range(10)]
    assert codes == [500] * 10  # max_errors = 10: the 10th reply is followed by 421
    assert c.reply()[0] == 421
    with pytest.raises((EOFError, OSError)):
        c.cmd("NOOP")
    c.close()


def test_too_many_recipients_452(snode):
    s = smtp(snode)
    s.mail("x@remote.test")
    for i in range(100):
        assert s.rcpt("si%02d@a.test" % i)[0] == 250
    code, text = s.rcpt("bob@a.test")
    assert code == 452 and text.startswith(b"4.5.3")
    s.rset()
    s.quit()


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
def test_swaks_submission(snode):
    tag = uniq()
    before = len(messages(snode, "bob@a.test"))
    r = subprocess.run(["swaks", "--server", snode.address, "--port",
                        str(snode.ports["submission_port"]), "--tls", "--auth", "LOGIN",
                        "--auth-user", "erin@a.test", "--auth-password", PW,
                        "--from", "erin@a.test", "--to", "bob@a.test",
                        "--header", "Subject: swaks %s" % tag, "--pipeline"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    count_messages(snode, "bob@a.test", before + 1)


def test_queue_api(snode):
    # a remote recipient stays queued: its MX refuses connections
    s = smtplib.SMTP(snode.address, snode.ports["submission_port"], timeout=60)
    s.starttls(context=tls_context())
    s.login("bob@a.test", PW)
    s.sendmail("bob@a.test", ["someone@remote.test"], b"Subject: out\r\n\r\nx\r\n")
    s.quit()

    def attempted():
        for e in ok(snode, "GET", "/queue"):
            if e.get("sender") == "bob@a.test" and e.get("rcpts") and \
                    e["rcpts"][0]["attempts"] >= 1:
                return e
        return None
    e = wait_until(attempted, "a failed first attempt")
    r = e["rcpts"][0]
    assert (r["address"], r["state"]) == ("someone@remote.test", "pending")
    assert r["reply"]
    out = snode.mailctl("queue", "list")
    assert out.returncode == 0, out.stderr
    assert e["id"] in out.stdout and "someone@remote.test" in out.stdout
    assert snode.mailctl("queue", "retry", e["id"]).returncode == 0
    assert api(snode, "POST", "/queue/NOSUCHID/retry")[0] == 404
    assert snode.mailctl("queue", "delete", "NOSUCHID").returncode == 1
    assert api(snode, "DELETE", "/queue/%s" % e["id"])[0] == 204
    wait_queue_empty(snode)


def test_submission_commands_before_auth_limited(snode):
    c = RawSMTP(snode.address, snode.ports["submission_port"])
    c.reply()
    codes = [c.cmd("NOOP")[0] for _ in range(20)]
    assert codes == [250] * 20
    code, lines = c.cmd("NOOP")
    assert code == 421 and "before authentication" in lines[0]
    c.close()


def test_over_quota_at_delivery_bounces(snode):
    import base64
    before = len(messages(snode, "erin@a.test"))
    c = RawSMTP(snode.address, snode.ports["smtps_port"], tls=True)
    c.reply()
    c.cmd("EHLO client.e2e.test")
    assert c.cmd("AUTH PLAIN " + base64.b64encode(b"\0erin@a.test\0" + PW.encode()).decode())[0] \
        == 235
    # no SIZE= on MAIL: the RCPT check cannot see it coming, delivery refuses it
    assert c.cmd("MAIL FROM:<erin@a.test>")[0] == 250
    assert c.cmd("RCPT TO:<full@a.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: too big for full\r\n\r\n" + b"y" * 4000 + b"\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    c.close()
    wait_queue_empty(snode)
    assert messages(snode, "full@a.test") == []
    dsn = count_messages(snode, "erin@a.test", before + 1)[-1]
    data = raw_message(snode, "erin@a.test", dsn["uid"])
    assert b"full@a.test" in data and b"552 5.2.2 mailbox full" in data


def test_per_ip_connection_cap(snode):
    conns, refused_at = [], None
    try:
        for i in range(60):
            c = RawSMTP(snode.address, snode.ports["smtp_port"])
            code, lines = c.reply()
            if code == 421:
                assert "too many connections from your address" in lines[0]
                refused_at = i
                c.close()
                break
            assert code == 220
            conns.append(c)
        # [limits] max_conn_per_ip = 50 (sessions of earlier tests may still
        # be closing on the server side)
        assert refused_at is not None and 40 <= refused_at <= 50, refused_at
    finally:
        for c in conns:
            c.cmd("QUIT")
            c.close()

    def admitted():
        c = RawSMTP(snode.address, snode.ports["smtp_port"])
        code = c.reply()[0]
        c.close()
        return code == 220
    wait_until(admitted, "a connection admitted again")


def test_auth_failures_block_the_user(tmp_path_factory):
    import base64
    n = make_smtp_node(tmp_path_factory.mktemp("authblock"))
    # [limits] must precede [delivery] in the file: rewrite the config
    with open(n.config) as f:
        text = f.read()
    with open(n.config, "w") as f:
        f.write(text.replace("conn_per_minute_per_ip = 0\n",
                             "conn_per_minute_per_ip = 0\nauth_fail_user = 3\n"))
    n.start()
    try:
        add_domain(n, "a.test")
        add_user(n, "bob@a.test", PW)
        c = RawSMTP(n.address, n.ports["smtp_port"])
        c.reply()
        c.cmd("EHLO client.e2e.test")
        bad = base64.b64encode(b"\0bob@a.test\0wrong").decode()
        good = base64.b64encode(b"\0bob@a.test\0" + PW.encode()).decode()
        for _ in range(3):
            assert c.cmd("AUTH PLAIN " + bad)[0] == 535
        # blocked now: even the right password gets the wrong-password answer
        assert c.cmd("AUTH PLAIN " + good) == (535, ["535 5.7.8 Error: authentication failed"])
        c.cmd("QUIT")
        c.close()
        assert "event=auth_blocked" in n.stderr_text()
        assert api(n, "DELETE", "/security/blocked/bob@a.test")[0] == 204
        c = RawSMTP(n.address, n.ports["smtp_port"])
        c.reply()
        c.cmd("EHLO client.e2e.test")
        assert c.cmd("AUTH PLAIN " + good)[0] == 235
        c.cmd("QUIT")
        c.close()
    finally:
        n.stop()
