"""PTR and HELO checks at MAIL FROM (issue 8): with ptr_check = reject a
client without forward-confirmed reverse DNS is refused with 550 5.7.25;
with helo_check = tag a HELO name that does not resolve to the client gets
an X-Mailnode-Host-Check header and is delivered. A MAIL FROM domain in a
domain blocklist (dbl_zones) is refused naming the zone.

Addresses: node 127.0.207.10, DNS responder 127.0.207.2, clients
127.0.207.20 (PTR good.remote.test, which resolves back), .21 (no PTR),
.22 (PTR liar.remote.test, which does not resolve back).
"""
import smtplib

import pytest

from antispam_util import antispam_config
from conftest import Node
from dnsserver import DNSServer
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user, count_messages, \
    messages, raw_message

NODE = "127.0.207.10"
DNS = "127.0.207.2"
GOOD, NOPTR, LIAR = "127.0.207.20", "127.0.207.21", "127.0.207.22"
BOB = "bob@h.test"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with DNSServer(DNS) as d:
        d.add("20.207.0.127.in-addr.arpa. 60 IN PTR good.remote.test.")
        d.add("good.remote.test. 60 IN A %s" % GOOD)
        d.add("22.207.0.127.in-addr.arpa. 60 IN PTR liar.remote.test.")
        d.add("liar.remote.test. 60 IN A 127.0.0.99")
        d.add("wrong.remote.test. 60 IN A 127.0.0.99")
        d.add("spam.example.dbl.test. 60 IN A 127.0.1.2")
        d.txt("spam.example.dbl.test", "spam domain")
        n = Node(tmp_path_factory.mktemp("host"), address=NODE, ports=SMTP_PORTS,
                 extra=SMTP_EXTRA + "mx_override = 127.0.0.1:9\n"
                 + antispam_config(d.resolver, "ptr_check = reject\nhelo_check = tag\n"
                                   "dbl_zones = dbl.test\n"))
        n.start()
        add_domain(n, "h.test")
        add_user(n, BOB)
        yield n
        n.stop()


def client(source, helo):
    s = smtplib.SMTP(NODE, SMTP_PORTS["smtp_port"], timeout=60, source_address=(source, 0))
    s.ehlo(helo)
    return s


def reply(r):
    return "%d %s" % (r[0], r[1].decode())


def test_ptr_reject(node):
    s = client(NOPTR, "good.remote.test")
    assert reply(s.mail("a@remote.test")) == (
        "550 5.7.25 Client host [127.0.207.21] rejected: 127.0.207.21 has no PTR record")
    s.quit()
    s = client(LIAR, "liar.remote.test")
    assert reply(s.mail("a@remote.test")) == (
        "550 5.7.25 Client host [127.0.207.22] rejected: PTR name liar.remote.test of "
        "127.0.207.22 does not resolve to it")
    s.quit()
    assert 'event=ptr_check ip=127.0.207.20' not in node.log()


@pytest.mark.parametrize("helo,tag", [
    ("good.remote.test", None),
    ("[127.0.207.20]", None),
    ("wrong.remote.test", b"X-Mailnode-Host-Check: helo=fail (HELO wrong.remote.test does not "
                          b"resolve to 127.0.207.20)\r\n"),
    ("localhost", b"X-Mailnode-Host-Check: helo=fail (HELO localhost is not a domain name)\r\n"),
    ("[127.0.0.5]", b"X-Mailnode-Host-Check: helo=fail (HELO [127.0.0.5] is not "
                    b"127.0.207.20)\r\n"),
])
def test_helo_tag(node, helo, tag):
    before = len(messages(node, BOB))
    s = client(GOOD, helo)
    subject = "helo %s" % helo
    assert s.sendmail("a@remote.test", [BOB], ("From: <a@remote.test>\r\nSubject: %s\r\n\r\nx\r\n"
                                               % subject).encode()) == {}
    s.quit()
    m = count_messages(node, BOB, before + 1)
    raw = [raw_message(node, BOB, x["uid"]) for x in m]
    raw = [r for r in raw if ("Subject: %s\r\n" % subject).encode() in r]
    assert len(raw) == 1
    if tag is None:
        assert b"X-Mailnode-Host-Check" not in raw[0]
    else:
        assert tag in raw[0]


def test_dbl_sender_domain_refused(node):
    s = client(GOOD, "good.remote.test")
    assert reply(s.mail("x@spam.example")) == (
        "554 5.7.1 <x@spam.example>: Sender address rejected: domain spam.example is listed "
        "in dbl.test; spam domain")
    # per transaction: another sender in the same session passes
    assert s.mail("a@remote.test")[0] == 250
    s.quit()
    assert "event=dbl domain=spam.example zone=dbl.test" in node.log()
