"""SPF at MAIL FROM (RFC 7208, docs/anti-spam.md) end to end: the real
daemon, its [dns] resolvers on the suite's own DNS responder
(dnsserver.py), SMTP clients bound to 127.0.202.x source addresses.
Exact reply lines and Authentication-Results headers are asserted."""
import smtplib
import uuid

import pytest

from antispam_util import (CLIENT_NET, NoTestResolver, antispam_config, antispam_node,
                           next_dns_address, setup_local, smtp_from)
from dnsserver import DNSServer
from smtp_util import all_raw, count_messages, messages

GOOD_IP = CLIENT_NET + "1"
BAD_IP = CLIENT_NET + "2"
HOST = "node1.e2e.test"


@pytest.fixture(scope="module")
def dns():
    with DNSServer(next_dns_address()) as d:
        d.txt("pass.test", "v=spf1 ip4:%s -all" % GOOD_IP)
        d.txt("soft.test", "v=spf1 ip4:%s ~all" % GOOD_IP)
        d.txt("neutral.test", "v=spf1 ?all")
        d.txt("broken.test", "v=spf1 ip4:%s foo -all" % GOOD_IP)
        d.txt("inc.test", "v=spf1 include:_spf.inc.test -all")
        d.txt("_spf.inc.test", "v=spf1 a:relay.inc.test mx:inc.test -all")
        d.add("relay.inc.test. 60 IN A %s" % GOOD_IP)
        d.add("inc.test. 60 IN MX 10 mx.inc.test.")
        d.add("mx.inc.test. 60 IN A 127.0.202.3")
        d.txt("redir.test", "v=spf1 redirect=pass.test")
        d.txt("nospf.test", "some other text record")
        d.servfail("down.test")
        d.txt("helo.e2e.test", "v=spf1 ip4:%s -all" % GOOD_IP)
        d.txt("eleven.test", "v=spf1 " + " ".join(["a:x.inc.test"] * 11) + " -all")
        d.add("x.inc.test. 60 IN A 10.0.0.1")
        yield d


@pytest.fixture(scope="module")
def node(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("spf"), dns, "spf = yes\n")
    n.start()
    setup_local(n)
    yield n
    n.stop()


def mail_from(node, ip, sender, helo="client.e2e.test"):
    s = smtp_from(node, ip, helo)
    try:
        return s.mail(sender)
    finally:
        s.close()


def reply(code_msg):
    return "%d %s" % (code_msg[0], code_msg[1].decode())


def deliver(node, ip, sender, helo="client.e2e.test"):
    """Send one message to bob@local.test; returns its headers as received."""
    tag = uuid.uuid4().hex
    before = len(messages(node, "bob@local.test"))
    s = smtp_from(node, ip, helo)
    s.sendmail(sender, ["bob@local.test"],
               ("From: <%s>\r\nTo: bob@local.test\r\nSubject: %s\r\n\r\nhi\r\n"
                % (sender or "nobody@x.test", tag)).encode())
    s.quit()
    count_messages(node, "bob@local.test", before + 1)
    raw = [m for m in all_raw(node, "bob@local.test") if tag.encode() in m]
    assert len(raw) == 1
    return raw[0].split(b"\r\n\r\n", 1)[0].decode()


def ar_header(headers):
    """The Authentication-Results header, unfolded."""
    lines = headers.split("\r\n")
    for i, ln in enumerate(lines):
        if ln.startswith("Authentication-Results:"):
            out = ln
            for cont in lines[i + 1:]:
                if not cont.startswith(("\t", " ")):
                    break
                out += " " + cont.strip()
            return out
    return None


def test_checks_refuse_to_start_without_a_test_resolver():
    with pytest.raises(NoTestResolver):
        antispam_config(None, "spf = yes\n")
    with pytest.raises(NoTestResolver):
        antispam_config("192.0.2.53", "spf = yes\n")
    assert antispam_config("127.0.201.9:5353", "spf = yes\n") == (
        "[dns]\nresolvers = 127.0.201.9:5353\n[antispam]\nspf = yes\n")


def test_spf_pass_is_accepted_and_recorded(node, dns):
    assert mail_from(node, GOOD_IP, "a@pass.test") == (250, b"2.1.0 Ok")
    h = deliver(node, GOOD_IP, "a@pass.test")
    assert ar_header(h) == ("Authentication-Results: %s; spf=pass (%s is allowed by pass.test) "
                            "smtp.mailfrom=a@pass.test" % (HOST, GOOD_IP))
    # the header comes before our Received
    assert h.index("Authentication-Results:") < h.index("Received: from")
    assert dns.queried("pass.test", "TXT")


def test_spf_fail_is_rejected_at_mail_from(node):
    r = mail_from(node, BAD_IP, "a@pass.test")
    assert reply(r) == ("550 5.7.23 <a@pass.test>: Sender address rejected: SPF fail: "
                        "%s is not allowed to send mail for pass.test" % BAD_IP)


def test_spf_fail_through_redirect_and_include(node):
    assert reply(mail_from(node, BAD_IP, "a@redir.test")).startswith("550 5.7.23 ")
    assert mail_from(node, GOOD_IP, "a@redir.test")[0] == 250
    assert mail_from(node, GOOD_IP, "a@inc.test")[0] == 250            # include -> a
    assert mail_from(node, CLIENT_NET + "3", "a@inc.test")[0] == 250   # include -> mx
    assert reply(mail_from(node, BAD_IP, "a@inc.test")) == (
        "550 5.7.23 <a@inc.test>: Sender address rejected: SPF fail: "
        "%s is not allowed to send mail for inc.test" % BAD_IP)


def test_spf_softfail_is_tagged(node):
    h = deliver(node, BAD_IP, "a@soft.test")
    assert ar_header(h) == ("Authentication-Results: %s; spf=softfail (%s is not allowed to "
                            "send mail for soft.test) smtp.mailfrom=a@soft.test"
                            % (HOST, BAD_IP))


def test_spf_neutral_and_none_are_tagged(node):
    assert "spf=neutral " in ar_header(deliver(node, BAD_IP, "a@neutral.test"))
    assert ar_header(deliver(node, BAD_IP, "a@nospf.test")) == (
        "Authentication-Results: %s; spf=none (no SPF record for nospf.test) "
        "smtp.mailfrom=a@nospf.test" % HOST)
    assert "spf=none " in ar_header(deliver(node, BAD_IP, "a@nxdomain.test"))


def test_spf_permerror_is_tagged_by_default(node):
    assert ar_header(deliver(node, BAD_IP, "a@broken.test")) == (
        "Authentication-Results: %s; spf=permerror (bad SPF record for broken.test: "
        "unknown mechanism 'foo') smtp.mailfrom=a@broken.test" % HOST)
    assert "spf=permerror (more than 10 DNS lookups) " in ar_header(
        deliver(node, GOOD_IP, "a@eleven.test"))


def test_spf_temperror_is_deferred(node):
    assert reply(mail_from(node, GOOD_IP, "a@down.test")) == (
        "451 4.7.24 <a@down.test>: Sender address deferred: SPF temperror: "
        "DNS failure looking up down.test")


def test_null_sender_checks_the_helo_name(node):
    assert reply(mail_from(node, BAD_IP, "", helo="helo.e2e.test")) == (
        "550 5.7.23 <>: Sender address rejected: SPF fail: "
        "%s is not allowed to send mail for helo.e2e.test" % BAD_IP)
    h = deliver(node, GOOD_IP, "", helo="helo.e2e.test")
    assert ar_header(h) == ("Authentication-Results: %s; spf=pass (%s is allowed by "
                            "helo.e2e.test) smtp.helo=helo.e2e.test" % (HOST, GOOD_IP))


def test_pipelined_rcpt_waits_for_the_spf_answer(node):
    s = smtp_from(node, BAD_IP)
    s.send(b"MAIL FROM:<a@pass.test>\r\nRCPT TO:<bob@local.test>\r\nNOOP\r\n")
    assert s.getreply()[0] == 550
    assert reply(s.getreply()) == "503 5.5.1 Error: need MAIL command"
    assert s.getreply()[0] == 250
    s.close()


def test_authenticated_submission_is_not_checked(node, dns):
    before = len(dns.queried("pass.test"))
    s = smtplib.SMTP(node.address, node.ports["submission_port"], timeout=60,
                     source_address=(BAD_IP, 0))
    s.ehlo("client.e2e.test")
    s.login("bob@local.test", "Secret-pw1")
    assert s.mail("bob@local.test") == (250, b"2.1.0 Ok")
    s.close()
    assert len(dns.queried("pass.test")) == before


def test_spf_fail_tag_setting(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("spftag"), dns,
                      "spf = yes\nspf_fail = tag\nspf_temperror = tag\n")
    n.start()
    try:
        setup_local(n)
        h = deliver(n, BAD_IP, "a@pass.test")
        assert "spf=fail (%s is not allowed to send mail for pass.test)" % BAD_IP in ar_header(h)
        assert "spf=temperror " in ar_header(deliver(n, BAD_IP, "a@down.test"))
    finally:
        n.stop()


def test_spf_off_makes_no_dns_query_and_no_header(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("spfoff"), dns, "spf = no\n")
    n.start()
    try:
        setup_local(n)
        before = len(dns.queried("soft.test"))
        h = deliver(n, BAD_IP, "a@soft.test")
        assert ar_header(h) is None
        assert len(dns.queried("soft.test")) == before
    finally:
        n.stop()


def test_forged_results_claiming_our_name_are_removed(node):
    tag = uuid.uuid4().hex
    before = len(messages(node, "bob@local.test"))
    s = smtp_from(node, GOOD_IP)
    s.sendmail("a@pass.test", ["bob@local.test"],
               ("Authentication-Results: %s; spf=pass smtp.mailfrom=forged@bank.test\r\n"
                "Authentication-Results: elsewhere.test; spf=none\r\n"
                "From: <a@pass.test>\r\nSubject: %s\r\n\r\nhi\r\n" % (HOST, tag)).encode())
    s.quit()
    count_messages(node, "bob@local.test", before + 1)
    raw = [m for m in all_raw(node, "bob@local.test") if tag.encode() in m][0]
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "forged@bank.test" not in head
    assert "Authentication-Results: elsewhere.test; spf=none\r\n" in head
    assert [ln for ln in head.split("\r\n") if ln.startswith("Authentication-Results: %s" % HOST)
            ] == ["Authentication-Results: %s;" % HOST]
