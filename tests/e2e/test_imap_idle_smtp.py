"""IDLE (RFC 2177) wakes on an SMTP delivery (issue 4): a session IDLEs on
INBOX, a message arrives over SMTP (smtplib, port 25 role), and the queue's
local delivery notifies the mailbox event hub, so the IDLE session sees
"* 1 EXISTS" within 2 s. Also \\Recent (RFC 3501 §2.3.2) of SMTP deliveries
seen through imaplib: only the first SELECT after a delivery gets it.
Uses test_imap's daemon helpers with SMTP on."""
import select
import smtplib
import time

import pytest

from test_imap import MSG, Node

SMTP_PORT = 2525
WAKE_S = 2.0


class SmtpNode(Node):
    def __init__(self, tmp):
        super().__init__(tmp)
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("smtp_port = 0\n", "smtp_port = %d\n" % SMTP_PORT, 1))

    def start(self):
        super().start()
        self.wait_port(SMTP_PORT)


@pytest.fixture(scope="module")
def snode(tmp_path_factory):
    n = SmtpNode(str(tmp_path_factory.mktemp("imap_idle_smtp")))
    n.start()
    yield n
    n.stop()


def line_before(r, deadline):
    """The next line from Raw r, or None when the deadline passes first."""
    while b"\r\n" not in r.buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r.s], [], [], left)[0]:
            return None
        r._fill()
    return r.line()


def test_idle_wakes_on_smtp_delivery(snode):
    u = snode.user("idlesmtp")
    r = snode.raw(u)
    assert r.cmd("SELECT INBOX")[-1].startswith("TAG OK")
    r.send("i1 IDLE\r\n")
    assert r.line() == "+ idling"
    with smtplib.SMTP(snode.addr, SMTP_PORT, timeout=10) as s:
        s.sendmail("bob@example.org", [u[0]], MSG)
    t0 = time.monotonic()
    assert line_before(r, t0 + WAKE_S) == "* 1 EXISTS", snode.log()
    assert r.line() == "* 1 RECENT"
    r.send("DONE\r\n")
    assert r.line() == "i1 OK IDLE terminated"
    r.close()


def deliver_and_wait(node, user, watcher, count):
    """SMTP-deliver MSG to user, then poll STATUS on the imaplib session
    `watcher` (which has nothing selected) until the folder holds count."""
    with smtplib.SMTP(node.addr, SMTP_PORT, timeout=10) as s:
        s.sendmail("bob@example.org", [user], MSG)
    deadline = time.monotonic() + 10
    while True:
        typ, data = watcher.status("INBOX", "(MESSAGES)")
        assert typ == "OK"
        if data[0] == b'"INBOX" (MESSAGES %d)' % count:
            return
        assert time.monotonic() < deadline, node.log()
        select.select([], [], [], 0.02)  # poll interval within the deadline


def flags_of(m, seq):
    typ, data = m.fetch(seq, "(FLAGS)")
    assert typ == "OK"
    return data[0]


def recent_of(m):
    return m.response("RECENT")[1]


def test_recent_of_smtp_delivery_only_for_first_select(snode):
    u = snode.user("recentsmtp")
    w = snode.imap(u)
    deliver_and_wait(snode, u[0], w, 1)
    assert w.status("INBOX", "(RECENT)") == ("OK", [b'"INBOX" (RECENT 1)'])
    # EXAMINE sees it \Recent but leaves it to the first SELECT
    e = snode.imap(u)
    assert e.select("INBOX", readonly=True) == ("OK", [b"1"])
    assert recent_of(e) == [b"1"]
    assert flags_of(e, "1") == b"1 (FLAGS (\\Recent))"
    a = snode.imap(u)
    assert a.select("INBOX") == ("OK", [b"1"])
    assert recent_of(a) == [b"1"]
    assert flags_of(a, "1") == b"1 (FLAGS (\\Recent))"
    assert a.search(None, "RECENT") == ("OK", [b"1"])
    assert a.search(None, "NEW") == ("OK", [b"1"])
    assert a.search(None, "OLD") == ("OK", [b""])
    b = snode.imap(u)
    assert b.select("INBOX") == ("OK", [b"1"])
    assert recent_of(b) == [b"0"]
    assert flags_of(b, "1") == b"1 (FLAGS ())"
    assert b.search(None, "RECENT") == ("OK", [b""])
    assert b.search(None, "OLD") == ("OK", [b"1"])
    assert w.status("INBOX", "(RECENT)") == ("OK", [b'"INBOX" (RECENT 0)'])
    # a second delivery while a and b have INBOX open: whoever syncs first
    # (a's NOOP) has it; b, and a later SELECT, do not
    deliver_and_wait(snode, u[0], w, 2)
    a.untagged_responses.clear()
    b.untagged_responses.clear()
    assert a.noop()[0] == "OK"
    assert a.response("EXISTS")[1] == [b"2"] and recent_of(a) == [b"2"]
    assert b.noop()[0] == "OK"
    assert b.response("EXISTS")[1] == [b"2"] and recent_of(b) == [b"0"]
    assert flags_of(a, "2") == b"2 (FLAGS (\\Recent))"
    assert flags_of(b, "2") == b"2 (FLAGS ())"
    c = snode.imap(u)
    assert c.select("INBOX") == ("OK", [b"2"])
    assert recent_of(c) == [b"0"]
    for m in (w, e, a, b, c):
        m.logout()
