"""DMARC end to end (RFC 7489, docs/anti-spam.md): policy discovery at the
From domain and its organizational domain, SPF and DKIM alignment
(relaxed and strict), p=reject refused with 550 5.7.1 at the end of DATA,
p=quarantine delivered into Junk, and the one Authentication-Results
header with spf, dkim and dmarc."""
import base64
import subprocess
import uuid

import dkim
import pytest

from antispam_util import CLIENT_NET, antispam_node, next_dns_address, setup_local, smtp_from
from dnsserver import DNSServer
from smtp_util import api, count_messages, messages, ok, wait_until

GOOD_IP = CLIENT_NET + "11"
BAD_IP = CLIENT_NET + "12"
HOST = "node1.e2e.test"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("dmarckey") / "k.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True,
                   capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return path.read_bytes(), base64.b64encode(pub).decode()


@pytest.fixture(scope="module")
def dns(key):
    with DNSServer(next_dns_address()) as d:
        for dom in ("reject.test", "quar.test", "none.test", "nopolicy.test", "strict.test",
                    "mail.reject.test", "org.test", "sub.org.test"):
            d.txt(dom, "v=spf1 ip4:%s -all" % GOOD_IP)
        d.txt("_dmarc.reject.test", "v=DMARC1; p=reject; rua=mailto:dmarc@reject.test")
        d.txt("_dmarc.quar.test", "v=DMARC1; p=quarantine")
        d.txt("_dmarc.none.test", "v=DMARC1; p=none")
        d.txt("_dmarc.strict.test", "v=DMARC1; p=reject; aspf=s; adkim=s")
        d.txt("_dmarc.org.test", "v=DMARC1; p=none; sp=reject")
        d.txt("mail.strict.test", "v=spf1 ip4:%s -all" % GOOD_IP)
        d.txt("k1._domainkey.reject.test", "v=DKIM1; k=rsa; p=" + key[1])
        d.txt("k1._domainkey.mail.strict.test", "v=DKIM1; k=rsa; p=" + key[1])
        yield d


@pytest.fixture(scope="module")
def node(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("dmarc"), dns,
                      "spf = yes\nspf_fail = tag\ndkim_verify = yes\ndmarc = yes\n")
    n.start()
    setup_local(n)
    yield n
    n.stop()


def message(from_domain, body="dmarc body\r\n"):
    tag = uuid.uuid4().hex
    return tag, ("From: <x@%s>\r\nTo: bob@local.test\r\nSubject: %s\r\n"
                 "Date: Sat, 28 Nov 2026 05:00:00 +0000\r\n\r\n%s"
                 % (from_domain, tag, body)).encode()


def sign(msg, domain, key, selector=b"k1"):
    return dkim.sign(msg, selector, domain.encode(), key[0],
                     include_headers=[b"from", b"to", b"subject", b"date"]) + msg


def send(node, ip, mail_from, msg):
    """(code, text) of the reply to the end of DATA."""
    s = smtp_from(node, ip)
    try:
        assert s.mail(mail_from)[0] == 250
        assert s.rcpt("bob@local.test")[0] == 250
        code, text = s.data(msg)
        return code, text.decode()
    finally:
        s.close()


def folder_raw(node, folder, tag):
    path = "/users/bob@local.test/messages?folder=%s" % folder
    for m in ok(node, "GET", path):
        st, raw = api(node, "GET", "/users/bob@local.test/messages/%d/raw?folder=%s"
                      % (m["uid"], folder), raw=True)
        if st == 200 and tag.encode() in raw:
            return raw
    return None


def ar_of(raw):
    lines = raw.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    out = []
    for i, ln in enumerate(lines):
        if ln.startswith("Authentication-Results:"):
            cur = ln
            for c in lines[i + 1:]:
                if not c.startswith(("\t", " ")):
                    break
                cur += " " + c.strip()
            out.append(cur)
    return out


def delivered(node, tag, folder="INBOX"):
    return wait_until(lambda: folder_raw(node, folder, tag), "message %s in %s" % (tag, folder))


def test_aligned_spf_pass_is_delivered_with_one_header(node):
    tag, msg = message("reject.test")
    assert send(node, GOOD_IP, "a@reject.test", msg)[0] == 250
    assert ar_of(delivered(node, tag)) == [
        "Authentication-Results: %s; spf=pass (%s is allowed by reject.test) "
        "smtp.mailfrom=a@reject.test; dkim=none; dmarc=pass (p=reject dis=none) "
        "header.from=reject.test" % (HOST, GOOD_IP)]


def test_p_reject_is_refused_at_end_of_data(node):
    before = len(messages(node, "bob@local.test"))
    tag, msg = message("reject.test")
    assert send(node, BAD_IP, "a@reject.test", msg) == (
        550, "5.7.1 Message rejected: DMARC policy of reject.test says reject "
             "(no aligned SPF or DKIM pass)")
    # SPF passes for another domain: not aligned with From, still refused
    tag, msg = message("reject.test")
    assert send(node, GOOD_IP, "bounce@none.test", msg)[0] == 550
    assert len(messages(node, "bob@local.test")) == before


def test_aligned_dkim_pass_saves_an_spf_failure(node, key):
    tag, msg = message("reject.test")
    assert send(node, BAD_IP, "a@reject.test", sign(msg, "reject.test", key))[0] == 250
    ar = ar_of(delivered(node, tag))
    assert len(ar) == 1
    assert "spf=fail (" in ar[0]
    assert "dkim=pass header.d=reject.test header.s=k1 header.a=rsa-sha256" in ar[0]
    assert ar[0].endswith("dmarc=pass (p=reject dis=none) header.from=reject.test")


def test_p_quarantine_goes_to_junk(node):
    inbox = len(messages(node, "bob@local.test"))
    tag, msg = message("quar.test")
    assert send(node, BAD_IP, "a@quar.test", msg)[0] == 250
    raw = delivered(node, tag, "Junk")
    assert raw.startswith(b"X-Mailnode-Folder: Junk\r\nAuthentication-Results: ")
    assert ar_of(raw)[0].endswith("dmarc=fail (p=quarantine dis=quarantine) "
                                  "header.from=quar.test")
    assert len(messages(node, "bob@local.test")) == inbox


def test_p_none_and_no_policy_are_delivered(node):
    tag, msg = message("none.test")
    assert send(node, BAD_IP, "a@none.test", msg)[0] == 250
    assert ar_of(delivered(node, tag))[0].endswith(
        "dmarc=fail (p=none dis=none) header.from=none.test")
    tag, msg = message("nopolicy.test")
    assert send(node, BAD_IP, "a@nopolicy.test", msg)[0] == 250
    assert ar_of(delivered(node, tag))[0].endswith(
        "dmarc=none (no DMARC policy for nopolicy.test) header.from=nopolicy.test")


def test_relaxed_alignment_takes_a_subdomain_strict_does_not(node, key):
    tag, msg = message("reject.test")
    assert send(node, GOOD_IP, "bounce@mail.reject.test", msg)[0] == 250
    assert "dmarc=pass" in ar_of(delivered(node, tag))[0]
    # aspf=s adkim=s: SPF of mail.strict.test and a DKIM d=mail.strict.test
    # do not align with strict.test
    tag, msg = message("strict.test")
    code, _ = send(node, GOOD_IP, "bounce@mail.strict.test",
                   sign(msg, "mail.strict.test", key))
    assert code == 550
    tag, msg = message("strict.test")
    assert send(node, GOOD_IP, "a@strict.test", msg)[0] == 250


def test_subdomain_policy_comes_from_the_organizational_domain(node):
    tag, msg = message("sub.org.test")
    code, text = send(node, BAD_IP, "a@sub.org.test", msg)
    assert (code, text) == (550, "5.7.1 Message rejected: DMARC policy of sub.org.test says "
                                 "reject (no aligned SPF or DKIM pass)")
    # the organizational domain itself uses p=none
    tag, msg = message("org.test")
    assert send(node, BAD_IP, "a@org.test", msg)[0] == 250
