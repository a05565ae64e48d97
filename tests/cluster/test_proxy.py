"""IMAP/POP3 proxy to the user's home node (issue 6, SPEC §7; docs/cluster.md
"Proxy"). Three real nodes on 127.0.0.11..13 with SMTP, IMAP and POP3; a user
homed on node2. Mail delivered through node2's own SMTP is read through
node1's IMAP and POP3 byte-identical to what node2 serves directly; the
capabilities after login are node2's; IDLE through node1 wakes on a delivery
at node2; APPEND through node1 lands on node2; POP3's maildrop lock is the
home node's; with node2 paused or stopped, logins via node1 get
NO [UNAVAILABLE] / -ERR [SYS/TEMP] and the session stays usable.
Everything waits with deadlines, never fixed sleeps."""
import imaplib
import poplib
import re
import select
import signal
import smtplib
import socket
import ssl
import time

import pytest

from conftest import IMAP_PORT, POP3_PORT, SMTP_PORT, add_users, running_cluster, wait_for

DOMAIN = "proxy.test"
USER = "bob@" + DOMAIN
PASSWORD = "Bob-Secret-pw1"
LOCAL_USER = "carol@" + DOMAIN  # homed on node1: served by node1 itself
DEADLINE_S = 20


@pytest.fixture(scope="module")
def cl():
    with running_cluster(3, base=10, services=True) as c:
        add_users(c, DOMAIN, PASSWORD, {USER: "node2", LOCAL_USER: "node1"}, DEADLINE_S)
        yield c


def node(cl, i):
    return cl.nodes[i - 1]


def imap(n):
    m = imaplib.IMAP4(n.address, IMAP_PORT, timeout=DEADLINE_S)
    return m


def login(n):
    m = imap(n)
    typ, data = m.login(USER, PASSWORD)
    assert typ == "OK", data
    return m, data


def deliver(cl, subject, body="hello"):
    """Mail to USER through node2's own SMTP; returns the message text."""
    msg = ("From: alice@example.org\r\nTo: %s\r\nSubject: %s\r\n"
           "Message-ID: <%s@example.org>\r\n\r\n%s\r\n.dot line\r\n" % (USER, subject, subject,
                                                                       body))
    with smtplib.SMTP(node(cl, 2).address, SMTP_PORT, timeout=DEADLINE_S) as s:
        s.sendmail("alice@example.org", [USER], msg)
    return msg


def inbox_count(n):
    m, _ = login(n)
    try:
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK", data
        return int(data[0])
    finally:
        m.logout()


def fetch_all(n):
    m, _ = login(n)
    try:
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = m.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK", data
        return data
    finally:
        m.logout()


class Raw:
    """A line-level IMAP client (for IDLE, which imaplib lacks)."""

    def __init__(self, addr, port):
        self.s = socket.create_connection((addr, port), timeout=DEADLINE_S)
        self.buf = b""

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self, deadline_s=DEADLINE_S):
        end = time.monotonic() + deadline_s
        while b"\r\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                return None
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def send(self, text):
        self.s.sendall(text.encode())

    def until_tagged(self, tag):
        lines = []
        while True:
            ln = self.line()
            assert ln is not None, lines
            lines.append(ln)
            if ln.startswith(tag + " "):
                return lines

    def close(self):
        self.s.close()


@pytest.fixture(scope="module")
def two_messages(cl):
    before = inbox_count(node(cl, 2))
    deliver(cl, "first")
    deliver(cl, "second", body=("x" * 100 + "\r\n") * 50 + "..two dots")
    wait_for(lambda: inbox_count(node(cl, 2)) >= before + 2, DEADLINE_S,
             "two deliveries on node2")
    return before + 2


def test_imap_via_node1_is_byte_identical_to_node2(cl, two_messages):
    direct = fetch_all(node(cl, 2))
    proxied = fetch_all(node(cl, 1))
    assert len(direct) >= 2 * two_messages  # (envelope, body) pairs and ")"
    assert proxied == direct
    # node3 proxies the same way
    assert fetch_all(node(cl, 3)) == direct
    log = node(cl, 1).log()
    assert re.search(r"proxy event=open proto=imap user=%s home=node2" % re.escape(USER), log)
    wait_for(lambda: re.search(r"proxy event=close proto=imap user=%s home=node2 .*bytes_in=\d+ "
                               r"bytes_out=\d+" % re.escape(USER), node(cl, 1).log()),
             DEADLINE_S, "proxy close logged with bytes")
    # the home logged where the session came from
    assert re.search(r"imap .*event=login user=%s result=ok proxied_from=node1 client=127\.0\.0\."
                     % re.escape(USER), node(cl, 2).log())


def test_capabilities_after_login_are_the_home_nodes(cl):
    m2, d2 = login(node(cl, 2))
    m1, d1 = login(node(cl, 1))
    try:
        assert d1 == d2
        assert d1[0].startswith(b"[CAPABILITY IMAP4rev1 ")
        assert m1.capability() == m2.capability()
        # before login the greeting is the reached node's, same software
        assert m1.welcome.split(b"]")[0] == m2.welcome.split(b"]")[0]
    finally:
        m1.logout()
        m2.logout()


def test_authenticate_plain_via_node1(cl):
    m = imap(node(cl, 1))
    typ, data = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORD)).encode())
    assert typ == "OK", data
    assert data[0].startswith(b"[CAPABILITY IMAP4rev1 ")
    assert m.select("INBOX", readonly=True)[0] == "OK"
    assert m.logout()[0] == "BYE"


def test_starttls_at_node1_then_proxied(cl, two_messages):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the nodes' self-signed certificates
    m = imap(node(cl, 1))
    assert m.starttls(ssl_context=ctx)[0] == "OK"
    m.login(USER, PASSWORD)
    assert m.select("INBOX", readonly=True)[0] == "OK"
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK" and b"Subject: first" in data[0][1]
    m.logout()
    p = poplib.POP3(node(cl, 1).address, POP3_PORT, timeout=DEADLINE_S)
    p.stls(context=ctx)
    p.user(USER)
    assert p.pass_(PASSWORD).startswith(b"+OK maildrop has ")
    assert b"Subject: first" in b"\r\n".join(p.retr(1)[1])
    p.quit()


def test_user_homed_on_the_reached_node_is_served_locally(cl):
    m = imap(node(cl, 1))
    typ, _ = m.login(LOCAL_USER, PASSWORD)
    assert typ == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    assert not re.search(r"proxy event=open proto=imap user=%s" % re.escape(LOCAL_USER),
                         node(cl, 1).log())


def test_wrong_password_via_node1_is_refused_there(cl):
    m = imap(node(cl, 1))
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login(USER, "wrong-password")
    m.logout()


def test_pop3_via_node1_is_byte_identical_to_node2(cl, two_messages):
    def dump(n):
        p = poplib.POP3(n.address, POP3_PORT, timeout=DEADLINE_S)
        try:
            p.user(USER)
            welcome = p.pass_(PASSWORD)
            stat = p.stat()
            uidl = p.uidl()[1]
            lst = p.list()[1]
            msgs = [p.retr(i)[1] for i in range(1, stat[0] + 1)]
            top = p.top(1, 0)[1]
            capa = p.capa()
            return welcome, stat, uidl, lst, msgs, top, capa
        finally:
            p.quit()

    direct = dump(node(cl, 2))
    proxied = dump(node(cl, 1))
    assert direct[1][0] >= 2
    assert proxied == direct
    assert direct[0].startswith(b"+OK maildrop has ")


def test_pop3_maildrop_lock_is_the_home_nodes(cl):
    held = poplib.POP3(node(cl, 2).address, POP3_PORT, timeout=DEADLINE_S)
    held.user(USER)
    held.pass_(PASSWORD)
    try:
        p = poplib.POP3(node(cl, 1).address, POP3_PORT, timeout=DEADLINE_S)
        p.user(USER)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            p.pass_(PASSWORD)
        assert p.quit().startswith(b"+OK")
    finally:
        held.quit()


def test_idle_via_node1_wakes_on_delivery_at_node2(cl, two_messages):
    r = Raw(node(cl, 1).address, IMAP_PORT)
    try:
        assert r.line().startswith("* OK")
        r.send('a LOGIN "%s" "%s"\r\n' % (USER, PASSWORD))
        assert r.until_tagged("a")[-1].startswith("a OK [CAPABILITY")
        r.send("b SELECT INBOX\r\n")
        sel = r.until_tagged("b")
        assert sel[-1].startswith("b OK")
        exists = [int(x.split()[1]) for x in sel if x.endswith(" EXISTS")][0]
        r.send("c IDLE\r\n")
        assert r.line() == "+ idling"
        deliver(cl, "idle-wake")
        ln = r.line(DEADLINE_S)
        assert ln is not None and ln == "* %d EXISTS" % (exists + 1), ln
        r.send("DONE\r\n")
        assert r.until_tagged("c")[-1] == "c OK IDLE terminated"
        r.send("d LOGOUT\r\n")
        assert r.until_tagged("d")[-1].startswith("d OK")
    finally:
        r.close()


def test_append_via_node1_lands_on_node2(cl):
    msg = (b"From: bob@proxy.test\r\nTo: x@example.org\r\nSubject: sent via proxy\r\n"
           b"Message-ID: <append-proxy@proxy.test>\r\n\r\n" + b"line\r\n" * 2000)
    m, _ = login(node(cl, 1))
    try:
        m.create("Sent")
        typ, data = m.append("Sent", "(\\Seen)", None, msg)
        assert typ == "OK", data
        uid = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1)
    finally:
        m.logout()
    m2, _ = login(node(cl, 2))
    try:
        assert m2.select("Sent", readonly=True)[0] == "OK"
        typ, data = m2.uid("FETCH", uid.decode(), "(FLAGS BODY.PEEK[])")
        assert typ == "OK"
        assert data[0][1] == msg
        assert b"\\Seen" in data[0][0]
    finally:
        m2.logout()


def proxied_logins(n, proto):
    return len(re.findall(r"%s .*event=login user=%s result=ok home=node2"
                          % (proto, re.escape(USER)), n.log()))


def test_home_paused_login_gets_unavailable_after_the_deadline(cl):
    n1, n2 = node(cl, 1), node(cl, 2)
    n2.pause()
    try:
        # clients that leave while their home session is being opened
        before = proxied_logins(n1, "imap")
        r = Raw(n1.address, IMAP_PORT)
        assert r.line().startswith("* OK")
        r.send('g LOGIN "%s" "%s"\r\n' % (USER, PASSWORD))
        wait_for(lambda: proxied_logins(n1, "imap") > before, DEADLINE_S, "imap login seen")
        r.close()
        before = proxied_logins(n1, "pop3")
        r = Raw(n1.address, POP3_PORT)
        assert r.line().startswith("+OK")
        r.send("USER %s\r\nPASS %s\r\n" % (USER, PASSWORD))
        wait_for(lambda: proxied_logins(n1, "pop3") > before, DEADLINE_S, "pop3 login seen")
        r.close()

        m = imap(n1)
        t0 = time.monotonic()
        with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\]"):
            m.login(USER, PASSWORD)
        took = time.monotonic() - t0
        assert 3.0 < took < 15.0, took  # the ~5 s open deadline, not a hang
        assert m.noop()[0] == "OK"  # still usable
        assert m.logout()[0] == "BYE"
    finally:
        n2.resume()


def test_home_down_imap_no_unavailable_pop3_sys_temp(cl):
    n1, n2 = node(cl, 1), node(cl, 2)
    n2.stop()
    try:
        m = imap(n1)
        with pytest.raises(imaplib.IMAP4.error) as e:
            m.login(USER, PASSWORD)
        assert "[UNAVAILABLE]" in str(e.value)
        assert "unavailable" in str(e.value)
        # the session is usable: a local user can still log in on it
        typ, _ = m.login(LOCAL_USER, PASSWORD)
        assert typ == "OK"
        assert m.logout()[0] == "BYE"

        p = poplib.POP3(n1.address, POP3_PORT, timeout=DEADLINE_S)
        p.user(USER)
        with pytest.raises(poplib.error_proto, match=r"^b?'?-ERR \[SYS/TEMP\]"):
            p.pass_(PASSWORD)
        assert p.quit().startswith(b"+OK")
    finally:
        n2.start()
        n2.wait_http()
    # back: proxied again
    wait_for(lambda: try_login(n1), DEADLINE_S, "login via node1 after node2 restarted")


def try_login(n):
    try:
        m, _ = login(n)
    except (imaplib.IMAP4.error, OSError):
        return False
    m.logout()
    return True
