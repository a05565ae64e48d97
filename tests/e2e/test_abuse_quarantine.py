"""Quarantine (issue 8): with dnsbl_action = quarantine a listed client's
mail is accepted, tagged and held in the recipient's Quarantine folder
(not INBOX); `mailctl quarantine list` shows it, `release` moves it into
INBOX, `delete` discards it; the same through /api/v1. A clean client's
mail goes to INBOX as before. The system sender lists: a blocked sender is
refused at MAIL FROM, an allowed one skips the checks (so its mail from a
listed client is not held).

Addresses: node 127.0.206.10, DNS responder 127.0.206.2, clients
127.0.206.20 (listed) and 127.0.206.21 (clean).
"""
import smtplib

import pytest

from antispam_util import antispam_config
from conftest import Node
from dnsserver import DNSServer
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user, api, count_messages, \
    messages, raw_message, wait_until

NODE = "127.0.206.10"
DNS = "127.0.206.2"
LISTED = "127.0.206.20"
CLEAN = "127.0.206.21"
BOB = "bob@q.test"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with DNSServer(DNS) as d:
        d.add("20.206.0.127.bl.test. 60 IN A 127.0.0.2")
        d.txt("remote.test", "v=spf1 ip4:127.0.206.0/24 -all")
        d.txt("forged.test", "v=spf1 -all")
        n = Node(tmp_path_factory.mktemp("quar"), address=NODE, ports=SMTP_PORTS,
                 extra=SMTP_EXTRA + "mx_override = 127.0.0.1:9\n"
                 + antispam_config(d.resolver, "dnsbl_zones = bl.test\n"
                                   "dnsbl_action = quarantine\n"
                                   "spf = yes\nspf_fail = quarantine\n"
                                   "sender_block = spammer@remote.test, @bad.test\n"
                                   "sender_allow = friend@remote.test, @bad.test\n"))
        n.start()
        add_domain(n, "q.test")
        add_user(n, BOB)
        yield n
        n.stop()


def send(source, subject, sender="a@remote.test"):
    s = smtplib.SMTP(NODE, SMTP_PORTS["smtp_port"], timeout=60, source_address=(source, 0))
    s.ehlo("client.remote.test")
    s.sendmail(sender, [BOB], ("From: Ann <a@remote.test>\r\nTo: <%s>\r\n"
                                        "Subject: %s\r\n\r\nbody\r\n" % (BOB, subject)).encode())
    s.quit()


def quarantine(node):
    status, body = api(node, "GET", "/users/%s/quarantine" % BOB)
    assert status == 200, body
    return body


def test_held_listed_then_released_into_inbox(node):
    send(CLEAN, "clean one")
    count_messages(node, BOB, 1)
    send(LISTED, "held one")
    send(LISTED, "held two")
    held = wait_until(lambda: (lambda q: q if len(q) == 2 else None)(quarantine(node)),
                      "2 held messages")
    # the queue may deliver the two in either order
    held.sort(key=lambda m: m["subject"])
    assert [(m["from"], m["subject"]) for m in held] == [
        ("Ann <a@remote.test>", "held one"), ("Ann <a@remote.test>", "held two")]
    assert len(messages(node, BOB)) == 1  # INBOX has only the clean one
    status, raw = api(node, "GET", "/users/%s/messages/%d/raw?folder=Quarantine"
                      % (BOB, held[0]["uid"]), raw=True)
    assert status == 200
    assert raw.startswith(b"X-Mailnode-Folder: Quarantine\r\n")
    assert b"X-Mailnode-DNSBL: listed in bl.test\r\n" in raw
    assert "event=quarantine" in node.log()

    r = node.mailctl("quarantine", "list", BOB)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["UID", "SIZE", "FROM", "SUBJECT"]
    assert len(lines) == 3
    assert sorted(line.split()[-2:][1] for line in lines[1:]) == ["one", "two"]

    # release the first: it moves into INBOX with a new uid, byte for byte
    r = node.mailctl("quarantine", "release", BOB, str(held[0]["uid"]))
    assert (r.returncode, r.stdout) == (0, "%s: message %d released to INBOX\n"
                                        % (BOB, held[0]["uid"])), r.stderr
    inbox = messages(node, BOB)
    assert len(inbox) == 2
    assert raw_message(node, BOB, inbox[1]["uid"]) == raw
    assert [m["subject"] for m in quarantine(node)] == ["held two"]
    # releasing it again: 404, exit 1
    r = node.mailctl("quarantine", "release", BOB, str(held[0]["uid"]))
    assert r.returncode == 1
    assert "no message %d in the quarantine of %s" % (held[0]["uid"], BOB) in r.stderr

    # delete the second through the API
    assert api(node, "DELETE", "/users/%s/quarantine/%d" % (BOB, held[1]["uid"]))[0] == 204
    assert api(node, "DELETE", "/users/%s/quarantine/%d" % (BOB, held[1]["uid"]))[0] == 404
    assert quarantine(node) == []
    assert len(messages(node, BOB)) == 2


def test_release_through_api_returns_inbox_uid(node):
    send(LISTED, "held three")
    held = wait_until(lambda: (lambda q: q if len(q) == 1 else None)(quarantine(node)),
                      "1 held message")
    status, body = api(node, "POST", "/users/%s/quarantine/%d/release" % (BOB, held[0]["uid"]))
    assert status == 200
    assert body["uid"] == messages(node, BOB)[-1]["uid"]
    assert quarantine(node) == []
    assert api(node, "POST", "/users/%s/quarantine/x/release" % BOB)[0] == 400
    assert api(node, "GET", "/users/nobody@q.test/quarantine") == (200, [])


def test_spf_fail_quarantined(node):
    before = len(messages(node, BOB))
    send(CLEAN, "spf fails", sender="x@forged.test")
    held = wait_until(lambda: (lambda q: q if len(q) == 1 else None)(quarantine(node)),
                      "1 held message")
    assert held[0]["subject"] == "spf fails"
    status, raw = api(node, "GET", "/users/%s/messages/%d/raw?folder=Quarantine"
                      % (BOB, held[0]["uid"]), raw=True)
    assert raw.startswith(b"X-Mailnode-Folder: Quarantine\r\nAuthentication-Results: ")
    assert b"spf=fail" in raw
    assert len(messages(node, BOB)) == before
    assert api(node, "DELETE", "/users/%s/quarantine/%d" % (BOB, held[0]["uid"]))[0] == 204


def test_sender_lists(node):
    s = smtplib.SMTP(NODE, SMTP_PORTS["smtp_port"], timeout=60, source_address=(CLEAN, 0))
    s.ehlo("client.remote.test")
    r = s.mail("Spammer@remote.test")  # entries compare case-insensitively
    assert (r[0], r[1].decode()) == (554, "5.7.1 <Spammer@remote.test>: Sender address "
                                          "rejected: on this server's block list")
    # block beats allow for the same @domain
    assert s.mail("x@bad.test")[0] == 554
    assert s.mail("other@remote.test")[0] == 250
    s.quit()
    # an allowed sender from a DNSBL-listed client: no checks, INBOX
    before = len(messages(node, BOB))
    send(LISTED, "from a friend", sender="friend@remote.test")
    count_messages(node, BOB, before + 1)
    raw = raw_message(node, BOB, messages(node, BOB)[-1]["uid"])
    assert b"Subject: from a friend\r\n" in raw
    assert b"X-Mailnode-" not in raw and b"Authentication-Results" not in raw
    assert quarantine(node) == []


@pytest.fixture(scope="module")
def short_node(tmp_path_factory):
    """quarantine_retention = 3 s, digests every second, swept every second
    (127.0.209.x)."""
    with DNSServer("127.0.209.2") as d:
        d.add("20.209.0.127.bl.test. 60 IN A 127.0.0.2")
        n = Node(tmp_path_factory.mktemp("quar2"), address="127.0.209.10", ports=SMTP_PORTS,
                 extra=SMTP_EXTRA + "mx_override = 127.0.0.1:9\n"
                 + antispam_config(d.resolver, "dnsbl_zones = bl.test\n"
                                   "dnsbl_action = quarantine\nquarantine_retention = 3\n"
                                   "quarantine_sweep_interval = 1\n"
                                   "quarantine_digest_interval = 1\n"))
        n.start()
        add_domain(n, "q.test")
        add_user(n, BOB)
        yield n
        n.stop()


def test_digest_then_retention_deletes_held_mail(short_node):
    n = short_node
    for source, subject in (("127.0.209.21", "kept"), ("127.0.209.20", "expires")):
        s = smtplib.SMTP("127.0.209.10", SMTP_PORTS["smtp_port"], timeout=60,
                         source_address=(source, 0))
        s.ehlo("client.remote.test")
        s.sendmail("a@remote.test", [BOB], ("From: Ann <a@remote.test>\r\nSubject: %s\r\n\r\nx\r\n"
                                            % subject).encode())
        s.quit()
    # the digest arrives in INBOX next to the clean message
    inbox = count_messages(n, BOB, 2)
    raws = [raw_message(n, BOB, m["uid"]) for m in inbox]
    digest = [r for r in raws if b"Subject: Quarantine: 1 new held message\r\n" in r]
    assert len(digest) == 1
    assert b"From: Mail System <MAILER-DAEMON@" in digest[0]
    assert b"Auto-Submitted: auto-generated\r\n" in digest[0]
    assert b"From: Ann <a@remote.test>\r\n      Subject: expires\r\n" in digest[0]
    # then the held message expires (3 s after arrival)
    wait_until(lambda: "event=quarantine_expired user=%s messages=1" % BOB in n.log(),
               "the held message to expire")
    assert quarantine(n) == []
    assert len(messages(n, BOB)) == 2  # INBOX is not swept; one digest only
    assert n.log().count("event=quarantine_digest user=") == 1
