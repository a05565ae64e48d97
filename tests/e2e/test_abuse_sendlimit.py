"""Send limits of authenticated submission (issue 8): reaching a per-user
cap answers 451 at MAIL (messages) or 452 at RCPT (recipients) with a text
naming the cap, and the postmaster of the user's domain gets one alert per
account and window, delivered through the queue into its INBOX.

The caps are lowered in [limits] (send_user_messages_per_hour = 2,
send_user_recipients_per_hour = 5) to keep the test short; the defaults
(200/1000 per hour, 1000/5000 per day per user) are in docs/config.md.

Addresses: node 127.0.205.10, clients 127.0.205.20.
"""
import smtplib

import pytest

from conftest import Node
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user, all_raw, count_messages

NODE = "127.0.205.10"
CLIENT = "127.0.205.20"
PW = "Secret-pw1"
D = "sl.test"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("sendlimit"), address=NODE, ports=SMTP_PORTS,
             extra=SMTP_EXTRA.replace("[limits]\n", "[limits]\nsend_user_messages_per_hour = 2\n"
                                      "send_user_recipients_per_hour = 5\n")
             + "mx_override = 127.0.0.1:9\n")
    n.start()
    add_domain(n, D)
    for u in ("bob", "alice", "carol", "postmaster", "r1", "r2", "r3", "r4", "r5"):
        add_user(n, "%s@%s" % (u, D), PW)
    yield n
    n.stop()


def submit(user):
    s = smtplib.SMTP(NODE, SMTP_PORTS["submission_port"], timeout=60,
                     source_address=(CLIENT, 0))
    s.ehlo("client.sl.test")
    s.login(user, PW)
    return s


def msg(frm, subject):
    return ("From: <%s>\r\nTo: <carol@%s>\r\nSubject: %s\r\n\r\nhello\r\n"
            % (frm, D, subject)).encode()


def reply(r):
    return "%d %s" % (r[0], r[1].decode())


def test_messages_per_hour_reached_then_postmaster_alerted_once(node):
    bob = "bob@" + D
    s = submit(bob)
    for i in range(2):
        assert s.sendmail(bob, ["carol@" + D], msg(bob, "m%d" % i)) == {}
    assert reply(s.mail(bob)) == (
        "451 4.7.1 Sending limit reached: user bob@sl.test may send 2 messages per hour; "
        "try again later")
    # a second refusal in the same window: no second alert
    assert s.mail(bob)[0] == 451
    s.quit()
    s = submit(bob)
    assert s.mail(bob)[0] == 451
    s.quit()
    count_messages(node, "carol@" + D, 2)
    alerts = count_messages(node, "postmaster@" + D, 1)
    raw = all_raw(node, "postmaster@" + D)[0]
    assert b"Subject: Send limit reached by bob@sl.test\r\n" in raw
    assert b"Auto-Submitted: auto-generated\r\n" in raw
    assert b"user bob@sl.test may send 2 messages per hour.\r\n" in raw
    assert ("Last client address: %s\r\n" % CLIENT).encode() in raw
    assert len(alerts) == 1
    assert node.log().count("event=send_limit_alert id=") == 1


def test_recipients_per_hour_reached_at_rcpt(node):
    alice = "alice@" + D
    rcpts = ["r%d@%s" % (i, D) for i in range(1, 6)]
    s = submit(alice)
    assert s.sendmail(alice, rcpts, msg(alice, "five")) == {}
    assert s.mail(alice)[0] == 250
    assert reply(s.rcpt("carol@" + D)) == (
        "452 4.7.1 Sending limit reached: user alice@sl.test may send 5 recipients per hour; "
        "try again later")
    s.rset()
    s.quit()
    for r in rcpts:
        count_messages(node, r, 1)
    # alice's alert next to bob's: one per account
    count_messages(node, "postmaster@" + D, 2)
    raws = [r for r in all_raw(node, "postmaster@" + D) if b"by alice@sl.test" in r]
    assert len(raws) == 1
    assert b"user alice@sl.test may send 5 recipients per hour.\r\n" in raws[0]
