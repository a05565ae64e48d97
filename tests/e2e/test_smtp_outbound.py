"""Outbound delivery through the queue (issue 3): a sink SMTP server on
loopback plays the remote MX ([delivery] mx_override points there; the
production path does real MX lookups). Checks delivery, a 4xx answer then
success on the retry, and a 5xx that bounces into the sender's INBOX.
"""
import socket
import smtplib
import threading

import pytest

from smtp_util import (add_domain, add_user, all_raw, make_smtp_node, messages, ok,
                       tls_context, wait_queue_empty, wait_until)
from conftest import next_address

PW = "Secret-pw1"


class Sink:
    """A minimal SMTP server: answers RCPT by a per-address script, stores
    each accepted message as (mail_from, [rcpts], bytes)."""

    def __init__(self, address):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.address, self.port = self.sock.getsockname()
        self.script = {}  # rcpt -> list of replies, consumed one per RCPT
        self.got = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def rcpt_reply(self, rcpt):
        with self.lock:
            replies = self.script.get(rcpt)
            if replies:
                return replies.pop(0) if len(replies) > 1 else replies[0]
        return "250 2.1.5 ok"

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        f = c.makefile("rb")
        c.sendall(b"220 sink ESMTP\r\n")
        mail, rcpts = None, []
        try:
            for line in f:
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    c.sendall(b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
                elif verb == "MAIL":
                    mail, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
                    c.sendall(b"250 2.1.0 ok\r\n")
                elif verb == "RCPT":
                    rcpt = cmd[8:].split(">")[0].lstrip("<")
                    r = self.rcpt_reply(rcpt)
                    if r.startswith("2"):
                        rcpts.append(rcpt)
                    c.sendall(r.encode() + b"\r\n")
                elif verb == "DATA":
                    if not rcpts:
                        c.sendall(b"554 5.5.1 no valid recipients\r\n")
                        continue
                    c.sendall(b"354 go\r\n")
                    data = b""
                    for dl in f:
                        if dl == b".\r\n":
                            break
                        data += dl[1:] if dl.startswith(b"..") else dl
                    with self.lock:
                        self.got.append((mail, rcpts, data))
                    c.sendall(b"250 2.0.0 queued\r\n")
                elif verb == "QUIT":
                    c.sendall(b"221 bye\r\n")
                    break
                else:
                    c.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def onode(tmp_path_factory):
    sink = Sink(next_address())
    n = make_smtp_node(tmp_path_factory.mktemp("outbound"), mx=(sink.address, sink.port))
    n.sink = sink
    n.start()
    add_domain(n, "a.test")
    add_user(n, "bob@a.test", PW)
    yield n
    n.stop()
    sink.close()


def submit(node, rcpts, body):
    s = smtplib.SMTP(node.address, node.ports["submission_port"], timeout=60)
    s.starttls(context=tls_context())
    s.login("bob@a.test", PW)
    s.sendmail("bob@a.test", rcpts, body)
    s.quit()


def sink_got(node, tag):
    with node.sink.lock:
        return [g for g in node.sink.got if tag in g[2]]


def test_remote_delivery(onode):
    submit(onode, ["alice@remote.test"], b"Subject: out-1\r\n\r\nhello\r\n")
    got = wait_until(lambda: sink_got(onode, b"out-1"), "the sink to get the message")
    mail, rcpts, data = got[0]
    assert (mail, rcpts) == ("bob@a.test", ["alice@remote.test"])
    assert data.startswith(b"Received: ") and data.endswith(b"Subject: out-1\r\n\r\nhello\r\n")
    wait_queue_empty(onode)


def test_4xx_then_success(onode):
    onode.sink.script["slow@remote.test"] = ["451 4.3.0 try again later", "250 2.1.5 ok"]
    submit(onode, ["slow@remote.test"], b"Subject: out-2\r\n\r\nretry me\r\n")
    wait_until(lambda: sink_got(onode, b"out-2"), "delivery on the retry")
    wait_queue_empty(onode)
    assert len(sink_got(onode, b"out-2")) == 1


def test_5xx_bounces_to_sender(onode):
    onode.sink.script["gone@remote.test"] = ["550 5.1.1 no such user here"]
    before = len(messages(onode, "bob@a.test"))
    submit(onode, ["gone@remote.test"], b"Subject: out-3\r\n\r\nbounce me\r\n")
    wait_queue_empty(onode)
    wait_until(lambda: len(messages(onode, "bob@a.test")) == before + 1, "the bounce")
    dsn = [r for r in all_raw(onode, "bob@a.test") if b"gone@remote.test" in r][0]
    assert b"multipart/report" in dsn and b"report-type=delivery-status" in dsn
    assert b"550 5.1.1 no such user here" in dsn
    assert b"Subject: out-3" in dsn  # the original (headers) comes back
    assert sink_got(onode, b"out-3") == []


def test_alias_to_remote_and_no_bounce_to_null_sender(onode):
    ok(onode, "POST", "/aliases", {"address": "fwd@a.test",
                                   "targets": ["bob@a.test", "gone2@remote.test",
                                               "kept@remote.test"]})
    onode.sink.script["gone2@remote.test"] = ["550 5.1.1 no such user here"]
    before = len(messages(onode, "bob@a.test"))
    s = smtplib.SMTP(onode.address, onode.ports["smtp_port"], timeout=60)
    s.sendmail("", ["fwd@a.test"], b"Subject: out-4\r\n\r\nnull sender\r\n")
    s.quit()
    got = wait_until(lambda: sink_got(onode, b"out-4"), "the external alias target")
    assert [g[:2] for g in got] == [("", ["kept@remote.test"])]
    wait_queue_empty(onode)
    # bob got the message itself, and no bounce for gone2 (null sender)
    assert len(messages(onode, "bob@a.test")) == before + 1
    assert not [r for r in all_raw(onode, "bob@a.test") if b"gone2@remote.test" in r]


def test_delay_warning_then_expiry_bounce(tmp_path_factory):
    # the default MX of make_smtp_node refuses: every attempt fails temporarily
    n = make_smtp_node(tmp_path_factory.mktemp("expiry"),
                       extra="delay_warning = 1\nqueue_lifetime = 3\n")
    n.start()
    try:
        add_domain(n, "a.test")
        add_user(n, "bob@a.test", PW)
        submit(n, ["late@remote.test"], b"Subject: out-5\r\n\r\nnever arrives\r\n")
        wait_until(lambda: len(messages(n, "bob@a.test")) == 2, "a delay notice and a bounce")
        wait_queue_empty(n)
        raws = all_raw(n, "bob@a.test")
        delayed = [r for r in raws if b"Action: delayed" in r]
        failed = [r for r in raws if b"Action: failed" in r]
        assert len(delayed) == 1 and len(failed) == 1, raws
        assert b"late@remote.test" in failed[0] and b"4.4.7" in failed[0]
    finally:
        n.stop()
