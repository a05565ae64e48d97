"""IDLE (RFC 2177) wakes on an SMTP delivery (issue 4): a session IDLEs on
INBOX, a message arrives over SMTP (smtplib, port 25 role), and the queue's
local delivery notifies the mailbox event hub, so the IDLE session sees
"* 1 EXISTS" within 2 s. Uses test_imap's daemon helpers with SMTP on."""
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
    r.send("DONE\r\n")
    assert r.line() == "i1 OK IDLE terminated"
    r.close()
