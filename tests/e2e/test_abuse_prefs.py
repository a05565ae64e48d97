"""Per-user and per-domain anti-abuse preferences (issue 8), set with
`mailctl user pref` / `mailctl domain pref` (the directory's PrefSet):

- a sender on a recipient's sender_block is refused at RCPT for that
  recipient only (550 5.7.1), other recipients of the transaction get it;
- a sender on a recipient's sender_allow (or in the user's contacts, added
  through the webmail API) is not greylisted for that recipient, and that recipient's copy
  is not held for a DNSBL listing nor junked or refused by the content
  scan, nor tagged with them; the other recipients' copy is;
- send_messages_per_hour for one user (lower than the node's default) is
  reached at exactly that count, another user keeps the default; a domain's
  send_recipients_per_hour likewise.

Nodes on this run's 127.0.B.x: "greylist" (greylisting on), "split"
(DNSBL quarantine, a fake spamd junking spam and refusing from score 20).
"""
import smtplib

import pytest

from antispam_util import antispam_config
from conftest import Node, next_address
from dnsserver import DNSServer
from fakescan import FakeSpamd
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user, api, ok, wait_until

D = "p.test"
BOB, ANN, CAROL = "bob@p.test", "ann@p.test", "carol@p.test"
PW = "Secret-pw1"
_n = iter(range(1, 1000))


def start(tmp, dns, lines, limits=""):
    n = Node(tmp, address=next_address(), ports=SMTP_PORTS,
             extra=SMTP_EXTRA.replace("[limits]\n", "[limits]\n" + limits)
             + "mx_override = 127.0.0.1:9\n" + antispam_config(dns.resolver, lines))
    n.start()
    add_domain(n, D)
    for u in (BOB, ANN, CAROL):
        add_user(n, u, PW)
    return n


def pref(node, *args, scope="user"):
    r = node.mailctl(scope, "pref", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def dns():
    with DNSServer(next_address()) as d:
        yield d


@pytest.fixture(scope="module")
def grey(tmp_path_factory, dns):
    n = start(tmp_path_factory.mktemp("grey"), dns, "greylist = yes\n")
    yield n
    n.stop()


@pytest.fixture(scope="module")
def split(tmp_path_factory, dns):
    client = next_address()
    dns.add("%s.bl.test. 60 IN A 127.0.0.2" % ".".join(reversed(client.split("."))))
    with FakeSpamd(next_address()) as fake:
        n = start(tmp_path_factory.mktemp("split"), dns,
                  "dnsbl_zones = bl.test\ndnsbl_action = quarantine\n"
                  "spamd_address = %s\nscan_reject_score = 20\n" % fake.address_port,
                  limits="send_user_messages_per_hour = 5\n")
        n.listed = client
        n.fake = fake
        yield n
        n.stop()


def dialogue(node, sender, rcpts, headers="", source=None):
    """MAIL, one RCPT each, DATA if any was taken: ({rcpt: reply}, data reply, subject)."""
    subject = "pref-%d" % next(_n)
    s = smtplib.SMTP(node.address, node.ports["smtp_port"], timeout=60,
                     source_address=(source, 0) if source else None)
    try:
        s.ehlo("client.remote.test")
        assert s.mail(sender)[0] == 250
        got = {}
        for r in rcpts:
            code, text = s.rcpt(r)
            got[r] = "%d %s" % (code, text.decode())
        data = None
        if any(v.startswith("250") for v in got.values()):
            code, text = s.data(("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n%s\r\nhi\r\n"
                                 % (sender, rcpts[0], subject, headers)).encode())
            data = "%d %s" % (code, text.decode())
        return got, data, subject
    finally:
        s.close()


def find(node, user, folder, subject):
    st, lst = api(node, "GET", "/users/%s/messages?folder=%s" % (user, folder))
    if st != 200:
        return None
    for m in lst:
        st, raw = api(node, "GET", "/users/%s/messages/%d/raw?folder=%s"
                      % (user, m["uid"], folder), raw=True)
        if st == 200 and ("\r\nSubject: %s\r\n" % subject).encode() in raw:
            return raw
    return None


def where(node, user, subject):
    return wait_until(lambda: next(((f, r) for f in ("INBOX", "Junk", "Quarantine")
                                    for r in [find(node, user, f, subject)] if r), None),
                      "%s for %s" % (subject, user))


def test_mailctl_pref_set_show_unset(split):
    out = pref(split, CAROL, "sender_block", "Spam@Remote.test, @junk.test")
    assert out == "sender_block: spam@remote.test\n              @junk.test\n"
    assert pref(split, CAROL, "sender_block") == out
    assert pref(split, CAROL) == out
    assert pref(split, "del", CAROL, "sender_block") == "sender_block: unset\n"
    r = split.mailctl("user", "pref", CAROL, "sender_block")
    assert r.returncode != 0 and "carol@p.test: sender_block is not set" in r.stderr
    r = split.mailctl("user", "pref", CAROL, "colour", "red")
    assert r.returncode != 0 and "colour is not a user preference" in r.stderr
    assert pref(split, D, "send_recipients_per_day", "500", scope="domain") == \
        "send_recipients_per_day: 500\n"
    assert pref(split, "del", D, "send_recipients_per_day", scope="domain") == \
        "send_recipients_per_day: unset\n"


def test_blocked_sender_refused_only_for_that_recipient(split):
    pref(split, BOB, "sender_block", "pest@remote.test")
    try:
        got, data, subject = dialogue(split, "pest@remote.test", [BOB, ANN])
        assert got == {
            BOB: "550 5.7.1 <bob@p.test>: Recipient address rejected: the recipient does "
                 "not accept mail from <pest@remote.test>",
            ANN: "250 2.1.5 Ok"}
        assert data.startswith("250 2.0.0 Ok: queued as ")
        assert where(split, ANN, subject)[0] == "INBOX"
        # another sender still reaches bob
        got, data, subject = dialogue(split, "fine@remote.test", [BOB])
        assert got == {BOB: "250 2.1.5 Ok"}
        assert where(split, BOB, subject)[0] == "INBOX"
    finally:
        pref(split, "del", BOB, "sender_block")


def test_alias_of_one_user_has_its_lists(split):
    ok(split, "POST", "/aliases", {"address": "info@p.test", "targets": [BOB]})
    ok(split, "POST", "/aliases", {"address": "team@p.test", "targets": [BOB, ANN]})
    pref(split, BOB, "sender_block", "pest@remote.test")
    try:
        got, data, subject = dialogue(split, "pest@remote.test",
                                      ["info@p.test", "team@p.test"])
        assert got == {
            "info@p.test": "550 5.7.1 <info@p.test>: Recipient address rejected: the "
                           "recipient does not accept mail from <pest@remote.test>",
            # several people behind it: no one's list decides for all
            "team@p.test": "250 2.1.5 Ok"}
        assert data.startswith("250 ")
        assert where(split, ANN, subject)[0] == "INBOX"
        assert where(split, BOB, subject)[0] == "INBOX"  # through the team alias
    finally:
        pref(split, "del", BOB, "sender_block")


def test_domain_block_and_user_allow_over_it(split):
    pref(split, D, "sender_block", "@bulk.test", scope="domain")
    pref(split, CAROL, "sender_allow", "news@bulk.test")
    try:
        got, _, _ = dialogue(split, "news@bulk.test", [BOB, CAROL])
        assert got[BOB].startswith("550 5.7.1 <bob@p.test>: Recipient address rejected")
        assert got[CAROL] == "250 2.1.5 Ok"
    finally:
        pref(split, "del", D, "sender_block", scope="domain")
        pref(split, "del", CAROL, "sender_allow")


def test_allowed_sender_not_greylisted(grey):
    pref(grey, BOB, "sender_allow", "@friend.test")
    got, data, subject = dialogue(grey, "pal@friend.test", [BOB, ANN])
    assert got[BOB] == "250 2.1.5 Ok"
    assert got[ANN].startswith("451 4.7.1 <ann@p.test>: Recipient address rejected: "
                               "greylisted, try again in ")
    assert data.startswith("250 ")
    assert where(grey, BOB, subject)[0] == "INBOX"
    # a stranger is greylisted for bob as before
    got, _, _ = dialogue(grey, "x@stranger.test", [BOB])
    assert got[BOB].startswith("451 4.7.1 <bob@p.test>: Recipient address rejected: greylisted")


def test_contact_not_greylisted(grey):
    """A sender in the recipient's address book (webmail contacts, the
    directory's ContactSet) passes greylisting for that recipient."""
    from test_webmail_api import Client

    c = Client(grey)
    st, obj, _ = c.login(CAROL, PW)
    assert st == 200, obj
    st, obj, _ = c.call("POST", "/contacts", {"email": "Buddy@Pals.test", "name": "Buddy"})
    assert st in (200, 201), obj
    got, data, subject = dialogue(grey, "buddy@pals.test", [CAROL, ANN])
    assert got[CAROL] == "250 2.1.5 Ok"
    assert got[ANN].startswith("451 4.7.1 <ann@p.test>: Recipient address rejected: greylisted")
    assert where(grey, CAROL, subject)[0] == "INBOX"
    assert "event=rcpt_list rcpt=carol@p.test result=allow by=contact" in grey.log()


def test_listed_client_held_except_for_the_allowing_recipient(split):
    pref(split, BOB, "sender_allow", "pal@friend.test")
    try:
        got, data, subject = dialogue(split, "pal@friend.test", [BOB, ANN],
                                      source=split.listed)
        assert set(got.values()) == {"250 2.1.5 Ok"}
        assert data.startswith("250 2.0.0 Ok: queued as ")
        folder, raw = where(split, BOB, subject)
        assert folder == "INBOX"
        assert b"X-Mailnode-DNSBL" not in raw and b"X-Spam" not in raw
        assert raw.startswith(b"Authentication-Results: ")
        folder, raw = where(split, ANN, subject)
        assert folder == "Quarantine"
        assert b"X-Mailnode-DNSBL: listed in bl.test\r\n" in raw
        assert "reason=rcpt_sender_allow" in split.log()
    finally:
        pref(split, "del", BOB, "sender_allow")


def test_content_scan_junk_and_reject_spare_the_allowing_recipient(split):
    pref(split, BOB, "sender_allow", "pal@friend.test")
    try:
        _, data, subject = dialogue(split, "pal@friend.test", [BOB, ANN],
                                    headers="X-Test-Score: 9\r\n")
        assert data.startswith("250 ")
        folder, raw = where(split, BOB, subject)
        assert folder == "INBOX" and b"X-Spam" not in raw
        folder, raw = where(split, ANN, subject)
        assert folder == "Junk" and b"X-Spam-Flag: YES\r\n" in raw
        # above scan_reject_score: refused for a lone non-allowing recipient,
        # held for ann when bob allows the sender (one reply for both)
        got, data, _ = dialogue(split, "pal@friend.test", [ANN], headers="X-Test-Score: 30\r\n")
        assert data == "550 5.7.1 Message rejected as spam (content scan score 30.0)"
        _, data, subject = dialogue(split, "pal@friend.test", [BOB, ANN],
                                    headers="X-Test-Score: 30\r\n")
        assert data.startswith("250 ")
        assert where(split, BOB, subject)[0] == "INBOX"
        assert where(split, ANN, subject)[0] == "Quarantine"
        # only bob: not scanned at all
        n = len(split.fake.requests)
        _, data, subject = dialogue(split, "pal@friend.test", [BOB],
                                    headers="X-Test-Score: 30\r\n")
        assert data.startswith("250 ")
        assert where(split, BOB, subject)[0] == "INBOX"
        assert len(split.fake.requests) == n
    finally:
        pref(split, "del", BOB, "sender_allow")


def submit(node, user):
    s = smtplib.SMTP(node.address, node.ports["submission_port"], timeout=60)
    s.ehlo("me")
    s.login(user, PW)
    return s


def test_user_send_limit_lower_than_default(split):
    # node default: 5 messages per hour; carol: 2; ann keeps 5
    pref(split, CAROL, "send_messages_per_hour", "2")
    s = submit(split, CAROL)
    try:
        for i in range(2):
            assert s.sendmail(CAROL, [BOB], b"Subject: lim\r\n\r\nx\r\n") == {}
        code, text = s.mail(CAROL)
        assert "%d %s" % (code, text.decode()) == (
            "451 4.7.1 Sending limit reached: user carol@p.test may send 2 messages per hour; "
            "try again later")
    finally:
        s.close()
    s = submit(split, ANN)
    try:
        for i in range(5):
            assert s.sendmail(ANN, [BOB], b"Subject: lim\r\n\r\nx\r\n") == {}
        code, text = s.mail(ANN)
        assert code == 451 and b"may send 5 messages per hour" in text
    finally:
        s.close()
    # unlimited for carol: "0"
    pref(split, CAROL, "send_messages_per_hour", "0")
    s = submit(split, CAROL)
    try:
        for i in range(6):
            assert s.sendmail(CAROL, [BOB], b"Subject: lim\r\n\r\nx\r\n") == {}
    finally:
        s.close()


def test_domain_recipient_limit(split):
    pref(split, D, "send_recipients_per_hour", "3", scope="domain")
    try:
        s = submit(split, BOB)
        try:
            assert s.mail(BOB)[0] == 250
            assert [s.rcpt(r)[0] for r in (ANN, CAROL, BOB)] == [250, 250, 250]
            assert s.data(b"Subject: r\r\n\r\nx\r\n")[0] == 250
            assert s.mail(BOB)[0] == 250
            code, text = s.rcpt(ANN)
            assert "%d %s" % (code, text.decode()) == (
                "452 4.7.1 Sending limit reached: domain p.test may send 3 recipients per "
                "hour; try again later")
        finally:
            s.close()
    finally:
        pref(split, "del", D, "send_recipients_per_hour", scope="domain")
