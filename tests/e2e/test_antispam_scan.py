"""Content scanning (issue 8): inbound MX mail goes through a running spamd
(spamc protocol) or rspamd (HTTP /checkv2) — here the fakes of fakescan.py
on the test's loopback address — and the verdict tags, junks, holds or
refuses it; a scanner that is slow, broken or gone gets the mail delivered
unscanned (logged) or deferred, as scan_failure says.

Nodes (each with its own scanner, all on this run's 127.0.B.x):
  spamd   junk spam, refuse from score 20, 1 s timeout, failure accept, 8 KiB
          largest scanned message
  rspamd  quarantine spam, 1 s timeout, failure defer, outbound mail scanned too
  tagger  spamd, tag only (headers and "[SPAM] " in the Subject), our own spam
          score 3
  down    spamd_address on a port nobody listens on
"""
import smtplib
import socket
import subprocess

import pytest

from antispam_util import antispam_config
from conftest import MAILNODE_BIN, Node, next_address
from dnsserver import DNSServer
from fakescan import FakeRspamd, FakeSpamd
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user, api, ok, wait_until

BOB = "bob@scan.test"
ANN = "ann@scan.test"
_tags = iter(range(1, 1000))


def make(tmp, dns, lines):
    addr = next_address()
    n = Node(tmp, address=addr, ports=SMTP_PORTS,
             extra=SMTP_EXTRA + "mx_override = 127.0.0.1:9\n"
             + antispam_config(dns.resolver, lines))
    n.start()
    add_domain(n, "scan.test")
    add_user(n, BOB)
    add_user(n, ANN)
    return n


@pytest.fixture(scope="module")
def dns():
    with DNSServer(next_address()) as d:
        yield d


@pytest.fixture(scope="module")
def spamd(tmp_path_factory, dns):
    with FakeSpamd(next_address()) as fake:
        n = make(tmp_path_factory.mktemp("spamd"), dns,
                 "spamd_address = %s\nscan_timeout_ms = 1000\nscan_reject_score = 20\n"
                 "scan_max_size = 8K\n" % fake.address_port)
        n.fake = fake
        yield n
        n.stop()


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory, dns):
    with FakeRspamd(next_address()) as fake:
        n = make(tmp_path_factory.mktemp("rspamd"), dns,
                 "rspamd_url = %s\nscan_timeout_ms = 1000\nscan_spam_action = quarantine\n"
                 "scan_failure = defer\nscan_outbound = yes\n" % fake.url)
        n.fake = fake
        yield n
        n.stop()


@pytest.fixture(scope="module")
def tagger(tmp_path_factory, dns):
    with FakeSpamd(next_address()) as fake:
        n = make(tmp_path_factory.mktemp("tagger"), dns,
                 "spamd_address = %s\nscan_spam_action = tag\nscan_spam_score = 3\n"
                 "scan_subject_tag = [SPAM]\n" % fake.address_port)
        n.fake = fake
        yield n
        n.stop()


@pytest.fixture(scope="module")
def down(tmp_path_factory, dns):
    hole = socket.socket()
    hole.bind((next_address(), 0))  # bound, never listening: refused
    n = make(tmp_path_factory.mktemp("down"), dns,
             "spamd_address = %s:%d\n" % hole.getsockname())
    yield n
    n.stop()
    hole.close()


def send(node, headers="", rcpts=(BOB,), sender="a@remote.test"):
    """One message from outside; returns (tag, (code, text) of DATA)."""
    tag = "scan-%d" % next(_tags)
    msg = ("From: <a@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n%s\r\nbody %s\r\n"
           % (rcpts[0], tag, headers, tag)).encode()
    s = smtplib.SMTP(node.address, node.ports["smtp_port"], timeout=60)
    try:
        s.ehlo("client.remote.test")
        assert s.mail(sender)[0] == 250
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        code, text = s.data(msg)
        return tag, (code, text.decode())
    finally:
        s.close()


def folder_raw(node, folder, tag, user=BOB):
    st, lst = api(node, "GET", "/users/%s/messages?folder=%s" % (user, folder))
    if st != 200:
        return None
    for m in lst:
        st, raw = api(node, "GET", "/users/%s/messages/%d/raw?folder=%s"
                      % (user, m["uid"], folder), raw=True)
        if st == 200 and (tag + "\r\n").encode() in raw:
            return raw
    return None


def delivered(node, tag, folder="INBOX", user=BOB):
    return wait_until(lambda: folder_raw(node, folder, tag, user),
                      "message %s in %s" % (tag, folder))


def head(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode()


def test_spamd_ham_is_tagged_no_and_delivered(spamd):
    tag, (code, text) = send(spamd, "X-Test-Score: 1.5\r\n")
    assert code == 250, text
    h = head(delivered(spamd, tag))
    assert "X-Spam-Flag" not in h
    assert "\r\nX-Spam-Score: 1.5\r\n" in h
    assert ("\r\nX-Spam-Status: No, score=1.5 required=5.0 scanner=spamd\r\n"
            "\ttests=TEST_RULE_A,TEST_RULE_B\r\n") in h
    # the request: spamc protocol, the whole message with our Received on top
    first, hdrs, body = spamd.fake.requests[-1]
    assert first == "SYMBOLS SPAMC/1.5"
    assert int(hdrs["content-length"]) == len(body)
    assert hdrs["user"] == BOB
    assert body.startswith(b"Received: from client.remote.test ([127.")
    assert ("Subject: %s\r\n" % tag).encode() in body


def test_spamd_spam_goes_to_junk(spamd):
    tag, (code, text) = send(spamd, "X-Test-Score: 7.5\r\n")
    assert code == 250, text
    raw = delivered(spamd, tag, "Junk")
    h = head(raw)
    assert raw.startswith(b"X-Mailnode-Folder: Junk\r\n")
    assert "\r\nX-Spam-Flag: YES\r\nX-Spam-Score: 7.5\r\n" in h
    assert "X-Spam-Status: Yes, score=7.5 required=5.0 scanner=spamd" in h
    assert folder_raw(spamd, "INBOX", tag) is None


def test_spamd_reject_score_refuses_after_data(spamd):
    tag, (code, text) = send(spamd, "X-Test-Score: 25\r\n")
    assert (code, text) == (550, "5.7.1 Message rejected as spam (content scan score 25.0)")
    assert "event=scan scanner=spamd score=25.0 required=5.0 spam=yes action=reject" \
        in spamd.log()


def test_too_large_is_not_scanned(spamd):
    n = len(spamd.fake.requests)
    tag, (code, text) = send(spamd, "X-Test-Score: 30\r\n" + ("X-Pad: %s\r\n" % ("x" * 900)) * 10)
    assert code == 250, text
    assert "X-Spam" not in head(delivered(spamd, tag)).replace("X-Test-Score", "")
    assert len(spamd.fake.requests) == n
    assert "event=scan result=skipped reason=too_big" in spamd.log()


def test_spamd_timeout_delivers_unscanned(spamd):
    spamd.fake.mode = "hang"
    try:
        tag, (code, text) = send(spamd, "X-Test-Score: 30\r\n")
    finally:
        spamd.fake.mode = "ok"
    assert code == 250, text
    h = head(delivered(spamd, tag))
    assert "X-Spam" not in h.replace("X-Test-Score", "")
    assert ('event=scan result=unavailable scanner=spamd action=deliver_unscanned '
            'reason="no reply within 1000 ms"') in spamd.log()


@pytest.mark.parametrize("mode,reason", [
    ("garbage", "not a spamd reply"),
    ("huge", "reply longer than 64 KiB"),
    ("error", "spamd: SPAMD/1.0 76 Bad header line: (Content-Length mismatch)"),
])
def test_spamd_bad_reply_delivers_unscanned(spamd, mode, reason):
    spamd.fake.mode = mode
    try:
        tag, (code, text) = send(spamd, "X-Test-Score: 30\r\n")
    finally:
        spamd.fake.mode = "ok"
    assert code == 250, text
    assert "X-Spam-Flag" not in head(delivered(spamd, tag))
    assert 'action=deliver_unscanned reason="%s"' % reason in spamd.log()


def test_stop_during_scan(tmp_path, dns):
    """The node stops while a message is being scanned (a scanner that
    never answers, scan_timeout_ms 15 s): the scanner connection is closed
    with all the others, the message is not accepted unscanned (421, the
    client retries elsewhere), and the node exits cleanly (code 0, no
    sanitizer report: nodeproc's stop checks) well before the timeout.
    (A client that merely goes away is noticed when the scan ends: reading
    pauses while its message is handled.)"""
    with FakeSpamd(next_address()) as fake:
        fake.mode = "hang"
        n = make(tmp_path, dns, "spamd_address = %s\n" % fake.address_port)
        s = socket.create_connection((n.address, n.ports["smtp_port"]), timeout=30)
        try:
            f = s.makefile("rb")
            f.readline()
            for line in (b"EHLO client.remote.test", b"MAIL FROM:<a@remote.test>",
                         b"RCPT TO:<%s>" % BOB.encode(), b"DATA"):
                s.sendall(line + b"\r\n")
                while f.readline()[3:4] == b"-":
                    pass
            s.sendall(b"Subject: stopped\r\n\r\nbye\r\n.\r\n")
            wait_until(lambda: len(fake.requests) == 1, "the scan request")
            assert fake.active == 1
            n.stop()  # asserts exit 0 within 10 s and a clean log
            wait_until(lambda: fake.active == 0, "the scanner connection closed",
                       deadline_s=10)
        finally:
            s.close()
    log = n.log()
    assert "event=data result=421 reason=shutdown" in log
    assert "event=queued" not in log


def test_rspamd_ham_and_request_headers(rspamd):
    tag, (code, text) = send(rspamd, "X-Test-Score: 2\r\n", rcpts=(BOB, ANN))
    assert code == 250, text
    h = head(delivered(rspamd, tag))
    assert ('\r\nX-Spam-Score: 2.0\r\nX-Spam-Status: No, score=2.0 required=15.0 '
            'scanner=rspamd action="no action"\r\n\ttests=') in h
    first, hdrs, body = rspamd.fake.requests[-1]
    assert first == "POST /checkv2 HTTP/1.1"
    assert hdrs["ip"].startswith("127.")
    assert hdrs["helo"] == "client.remote.test"
    assert hdrs["from"] == "<a@remote.test>"
    assert hdrs["rcpt"] == ["<%s>" % BOB, "<%s>" % ANN]
    assert "user" not in hdrs  # rspamd's User means "authenticated sender"
    assert int(hdrs["content-length"]) == len(body)
    assert body.startswith(b"Received: from client.remote.test")


def test_rspamd_add_header_action_is_held(rspamd):
    tag, (code, text) = send(rspamd, "X-Test-Score: 8\r\nX-Test-Action: add header\r\n")
    assert code == 250, text
    raw = delivered(rspamd, tag, "Quarantine")
    assert raw.startswith(b"X-Mailnode-Folder: Quarantine\r\n")
    assert 'X-Spam-Status: Yes, score=8.0 required=15.0 scanner=rspamd action="add header"' \
        in head(raw)
    assert folder_raw(rspamd, "INBOX", tag) is None


def test_rspamd_soft_reject_and_greylist_are_not_spam(rspamd):
    tag, (code, text) = send(rspamd, "X-Test-Score: 9\r\nX-Test-Action: greylist\r\n")
    assert code == 250, text
    assert "X-Spam-Status: No, score=9.0" in head(delivered(rspamd, tag))


@pytest.mark.parametrize("mode", ["hang", "error"])
def test_rspamd_failure_defers(rspamd, mode):
    rspamd.fake.mode = mode
    try:
        tag, (code, text) = send(rspamd, "X-Test-Score: 1\r\n")
    finally:
        rspamd.fake.mode = "ok"
    assert (code, text) == (451, "4.7.1 Message deferred: content scanner unavailable; "
                                 "try again later")
    st, q = api(rspamd, "GET", "/queue")
    assert st == 200 and q == []  # nothing was queued


def test_rspamd_outbound_spam_is_refused(rspamd):
    s = smtplib.SMTP(rspamd.address, rspamd.ports["submission_port"], timeout=60)
    try:
        s.ehlo("me")
        s.login(ANN, "Secret-pw1")
        assert s.mail(ANN)[0] == 250
        assert s.rcpt(BOB)[0] == 250
        code, text = s.data(b"From: <ann@scan.test>\r\nSubject: out-spam\r\n"
                            b"X-Test-Score: 8\r\nX-Test-Action: add header\r\n\r\nbuy\r\n")
        assert (code, text.decode()) == (
            550, "5.7.1 Message rejected as spam (content scan score 8.0)")
        first, hdrs, body = rspamd.fake.requests[-1]
        assert hdrs["user"] == ANN  # rspamd: an authenticated sender
        assert hdrs["from"] == "<%s>" % ANN
        s.sendmail(ANN, [BOB], b"From: <ann@scan.test>\r\nSubject: out-ham\r\n"
                               b"X-Test-Score: 1\r\n\r\nhello\r\n")
    finally:
        s.close()
    h = head(delivered(rspamd, "out-ham"))
    assert "X-Spam" not in h.replace("X-Test-Score", "")  # nothing tagged on the way out
    assert "event=scan direction=outbound scanner=rspamd sender=ann@scan.test score=8.0 " \
        "required=15.0 spam=yes action=reject" in rspamd.log()


def test_own_spam_score_tags_only(tagger):
    # spamd says 4.0 is not spam (its threshold is 5); ours is 3
    tag, (code, text) = send(tagger, "X-Test-Score: 4\r\n")
    assert code == 250, text
    h = head(delivered(tagger, tag))
    assert "\r\nX-Spam-Flag: YES\r\nX-Spam-Score: 4.0\r\n" in h
    assert "X-Spam-Status: Yes, score=4.0 required=5.0 scanner=spamd" in h
    assert "\r\nSubject: [SPAM] %s\r\n" % tag in h
    tag, (code, text) = send(tagger, "X-Test-Score: 2.9\r\n")
    assert code == 250
    h = head(delivered(tagger, tag))
    assert "X-Spam-Flag" not in h
    assert "\r\nSubject: %s\r\n" % tag in h


def test_scanner_down_delivers_unscanned(down):
    tag, (code, text) = send(down, "X-Test-Score: 30\r\n")
    assert code == 250, text
    assert "X-Spam" not in head(delivered(down, tag)).replace("X-Test-Score", "")
    assert ('event=scan result=unavailable scanner=spamd action=deliver_unscanned '
            'reason="connection refused"') in down.log()


def test_authenticated_mail_is_not_scanned(spamd):
    before = len(spamd.fake.requests)
    s = smtplib.SMTP(spamd.address, spamd.ports["submission_port"], timeout=60)
    try:
        s.ehlo("me")
        s.login(ANN, "Secret-pw1")
        s.sendmail(ANN, [BOB], b"From: <%s>\r\nSubject: from-ann\r\n\r\nhi\r\n" % ANN.encode())
    finally:
        s.close()
    assert "X-Spam" not in head(delivered(spamd, "from-ann"))
    assert len(spamd.fake.requests) == before


@pytest.mark.parametrize("lines,want", [
    ("spamd_address = 127.0.0.1:783\nrspamd_url = http://127.0.0.1:11333\n",
     "spamd_address and rspamd_url: set only one scanner"),
    ("spamd_address = localhost:783\n", "spamd_address: 'localhost:783' is not IP:PORT"),
    ("rspamd_url = https://127.0.0.1:11333\n", "is not http://IP:PORT[/PATH]"),
    ("scan_spam_action = delete\n", "is not one of tag, junk, quarantine, reject"),
    ("scan_reject_score = lots\n", "is not a decimal number"),
])
def test_config_refusals(tmp_path, dns, lines, want):
    n = Node(tmp_path, address=next_address(), ports=SMTP_PORTS,
             extra=antispam_config(dns.resolver, lines))
    r = subprocess.run([MAILNODE_BIN, "--config", n.config], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert want in r.stderr, r.stderr
