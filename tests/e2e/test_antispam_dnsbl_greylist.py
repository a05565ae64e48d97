"""DNSBL (RFC 5782) and greylisting (RFC 6647) end to end: a listed client
address is refused at MAIL FROM with the zone named, greylisting answers
451 to a new triplet and accepts the retry after the window
(greylist_delay = 1 s here; polled, never slept for)."""
import os
import re
import smtplib
import time
import uuid

import pytest

from antispam_util import CLIENT_NET, antispam_node, next_dns_address, setup_local, smtp_from
from dnsserver import DNSServer
from smtp_util import all_raw, count_messages, messages

LISTED = CLIENT_NET + "20"
LISTED2 = CLIENT_NET + "21"
ERRCODE = CLIENT_NET + "22"
CLEAN = CLIENT_NET + "23"
GREY_RE = re.compile(r"451 4\.7\.1 <(\S+)>: Recipient address rejected: greylisted, "
                     r"try again in (\d+) s")


def rev(ip):
    return ".".join(reversed(ip.split(".")))


@pytest.fixture(scope="module")
def dns():
    with DNSServer(next_dns_address()) as d:
        d.add("%s.bl.test. 60 IN A 127.0.0.2" % rev(LISTED))
        d.txt("%s.bl.test" % rev(LISTED), "listed for testing")
        d.add("%s.other.test. 60 IN A 127.0.0.4" % rev(LISTED2))
        d.add("%s.bl.test. 60 IN A 127.255.255.254" % rev(ERRCODE))
        yield d


@pytest.fixture(scope="module")
def node(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("dnsbl"), dns,
                      "dnsbl_zones = bl.test, other.test\ngreylist = yes\n"
                      "greylist_delay = 1\n")
    n.start()
    setup_local(n, users=("bob", "carol"))
    yield n
    n.stop()


def reply(r):
    return "%d %s" % (r[0], r[1].decode())


def test_listed_client_is_refused_naming_the_zone(node, dns):
    s = smtp_from(node, LISTED)
    assert reply(s.mail("a@remote.test")) == (
        "554 5.7.1 Service unavailable; Client host [%s] blocked using bl.test; "
        "listed for testing" % LISTED)
    # every MAIL of the session; the lists are asked once per session
    assert s.mail("b@remote.test")[0] == 554
    s.close()
    assert len(dns.queried("%s.bl.test" % rev(LISTED), "A")) == 1
    s = smtp_from(node, LISTED2)
    assert reply(s.mail("a@remote.test")) == (
        "554 5.7.1 Service unavailable; Client host [%s] blocked using other.test" % LISTED2)
    s.close()


def test_unlisted_and_list_error_codes_pass(node):
    for ip in (CLEAN, ERRCODE):
        s = smtp_from(node, ip)
        assert s.mail("a@remote.test") == (250, b"2.1.0 Ok")
        s.close()


def rcpt_once(node, ip, sender, rcpt):
    s = smtp_from(node, ip)
    try:
        assert s.mail(sender)[0] == 250
        return reply(s.rcpt(rcpt))
    finally:
        s.close()


def test_greylisting_451_then_accepted_after_the_window(node):
    sender = "g-%s@remote.test" % uuid.uuid4().hex[:8]
    first = time.monotonic()
    r = rcpt_once(node, CLEAN, sender, "bob@local.test")
    m = GREY_RE.fullmatch(r)
    assert m, r
    assert m.group(1) == "bob@local.test" and m.group(2) == "1"
    # retries before the window are deferred; poll until one passes
    deadline = first + 20
    while True:
        r = rcpt_once(node, CLEAN, sender, "bob@local.test")
        if r.startswith("250"):
            break
        assert GREY_RE.fullmatch(r), r
        assert time.monotonic() < deadline, "greylisting never let the retry through"
        time.sleep(0.05)
    assert time.monotonic() - first >= 1.0
    assert r == "250 2.1.5 Ok"
    # the triplet is remembered: a whole message goes through at once
    before = len(messages(node, "bob@local.test"))
    s = smtp_from(node, CLEAN)
    s.sendmail(sender, ["bob@local.test"], b"Subject: grey\r\n\r\nafter greylisting\r\n")
    s.quit()
    count_messages(node, "bob@local.test", before + 1)
    # another recipient is a new triplet
    assert GREY_RE.fullmatch(rcpt_once(node, CLEAN, sender, "carol@local.test"))


def test_greylist_survives_a_restart(node):
    """Triplets are saved at shutdown (DATA_DIR/greylist) and loaded at
    start: a sender that already passed is not deferred again (waiting
    triplets keep their first attempt: tests/unit/node/antispam)."""
    sender = "r-%s@remote.test" % uuid.uuid4().hex[:8]
    first = time.monotonic()
    assert GREY_RE.fullmatch(rcpt_once(node, CLEAN, sender, "bob@local.test"))
    deadline = first + 20
    while not rcpt_once(node, CLEAN, sender, "bob@local.test").startswith("250"):
        assert time.monotonic() < deadline, "greylisting never let the retry through"
        time.sleep(0.05)
    node.restart()
    assert os.path.exists(os.path.join(node.data_dir, "greylist"))
    log = node.log()
    assert re.search(r"event=greylist_saved entries=[1-9]", log), log[-2000:]
    assert re.search(r"event=greylist_loaded entries=[1-9]", log), log[-2000:]
    assert rcpt_once(node, CLEAN, sender, "bob@local.test") == "250 2.1.5 Ok"


def test_unknown_users_and_authenticated_mail_are_not_greylisted(node):
    sender = "u-%s@remote.test" % uuid.uuid4().hex[:8]
    assert rcpt_once(node, CLEAN, sender, "nobody@local.test").startswith("550 5.1.1 ")
    s = smtplib.SMTP(node.address, node.ports["submission_port"], timeout=60,
                     source_address=(CLEAN, 0))
    s.ehlo("client.e2e.test")
    s.login("carol@local.test", "Secret-pw1")
    assert s.mail("carol@local.test")[0] == 250
    assert s.rcpt("bob@local.test") == (250, b"2.1.5 Ok")
    s.close()


def test_dnsbl_tag_delivers_with_a_header(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("dnsbltag"), dns,
                      "dnsbl_zones = bl.test\ndnsbl_action = tag\n")
    n.start()
    try:
        setup_local(n)
        tag = uuid.uuid4().hex
        s = smtp_from(n, LISTED)
        s.sendmail("a@remote.test", ["bob@local.test"],
                   ("Subject: %s\r\n\r\nbody\r\n" % tag).encode())
        s.quit()
        count_messages(n, "bob@local.test", 1)
        raw = [m for m in all_raw(n, "bob@local.test") if tag.encode() in m][0]
        assert b"\r\nX-Mailnode-DNSBL: listed in bl.test\r\n" in raw.split(b"\r\n\r\n")[0]
    finally:
        n.stop()
