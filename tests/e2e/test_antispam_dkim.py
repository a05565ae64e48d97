"""DKIM end to end (RFC 6376, docs/anti-spam.md): `mailctl domain dkim`
makes a key in the replicated directory and prints the DNS record; mail
an authenticated user sends from the domain is signed, and an independent
verifier (python3-dkim) accepts it and refuses a tampered copy. Inbound
signatures (made here by python3-dkim) are verified through the suite's own
DNS responder and reported in Authentication-Results."""
import re
import smtplib
import subprocess
import uuid

import dkim
import pytest

from antispam_util import CLIENT_NET, antispam_node, next_dns_address, setup_local, smtp_from
from dnsserver import DNSServer
from smtp_util import all_raw, api, count_messages, messages

PW = "Secret-pw1"
HOST = "node1.e2e.test"
CLIENT_IP = CLIENT_NET + "5"


@pytest.fixture(scope="module")
def dns():
    with DNSServer(next_dns_address()) as d:
        yield d


@pytest.fixture(scope="module")
def node(tmp_path_factory, dns):
    n = antispam_node(tmp_path_factory.mktemp("dkim"), dns, "dkim_verify = yes\n")
    n.start()
    setup_local(n, users=("bob", "alice"))
    yield n
    n.stop()


def raw_with(node, user, tag):
    """The newest message of user that contains tag."""
    raw = [m for m in all_raw(node, user) if tag.encode() in m]
    assert raw
    return raw[-1]


def headers_of(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode()


def unfolded(headers, name):
    out, cur = [], None
    for ln in headers.split("\r\n"):
        if ln.startswith((" ", "\t")) and cur is not None:
            cur += " " + ln.strip()
            continue
        if cur is not None:
            out.append(cur)
        cur = ln if ln.lower().startswith(name.lower() + ":") else None
    if cur is not None:
        out.append(cur)
    return out


def submit(node, sender, rcpt, body_text, extra_headers=""):
    tag = uuid.uuid4().hex
    before = len(messages(node, rcpt))
    msg = ("From: Alice <%s>\r\nTo: <%s>\r\nSubject: signed %s\r\n"
           "Date: Sat, 28 Nov 2026 05:00:00 +0000\r\nMessage-ID: <%s@local.test>\r\n%s"
           "\r\n%s" % (sender, rcpt, tag, tag, extra_headers, body_text)).encode()
    s = smtplib.SMTP(node.address, node.ports["submission_port"], timeout=60)
    s.ehlo("client.e2e.test")
    s.login(sender, PW)
    s.sendmail(sender, [rcpt], msg)
    s.quit()
    count_messages(node, rcpt, before + 1)
    return raw_with(node, rcpt, tag)


def dns_for(dns):
    """dkimpy DNS function answering from the suite's responder records."""
    def txt(name, timeout=5):
        n = name.decode().rstrip(".").lower()
        recs = dns._records.get((n, 16), [])
        if not recs:
            return None
        return b"".join(b"".join(rr.rdata.data) for rr in recs[:1])
    return txt


def publish(node, dns, domain):
    st, key = api(node, "GET", "/domains/%s/dkim" % domain)
    assert st == 200
    dns.remove(key["dns_name"])
    dns.txt(key["dns_name"], key["dns_txt"])
    return key


def test_mailctl_makes_a_key_and_prints_the_record(node, dns):
    r = node.mailctl("domain", "dkim", "local.test")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("DKIM key of local.test made (rsa-sha256, selector mail). "
                        "Publish this DNS record:")
    m = re.fullmatch(r'mail\._domainkey\.local\.test\. IN TXT \( ((?:"[^"]*" ?)+)\)', lines[1])
    assert m, lines[1]
    parts = re.findall(r'"([^"]*)"', m.group(1))
    assert all(len(p) <= 255 for p in parts)
    txt = "".join(parts)
    assert txt.startswith("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    st, key = api(node, "GET", "/domains/local.test/dkim")
    assert st == 200
    assert key["dns_txt"] == txt
    assert key["dns_name"] == "mail._domainkey.local.test"
    assert key["algorithm"] == "rsa-sha256"
    assert "private_key" not in key
    # refused for a domain that does not exist
    r = node.mailctl("domain", "dkim", "nope.test")
    assert r.returncode != 0


def test_outbound_mail_is_signed_and_verifies_independently(node, dns):
    publish(node, dns, "local.test")
    raw = submit(node, "alice@local.test", "bob@local.test", "Hello Bob,\r\n\r\nsigned body\r\n")
    sigs = unfolded(headers_of(raw), "DKIM-Signature")
    assert len(sigs) == 1
    tags = dict(t.strip().split("=", 1) for t in sigs[0].split(":", 1)[1].split(";") if "=" in t)
    assert tags["v"] == "1"
    assert tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == "local.test"
    assert tags["s"] == "mail"
    signed = [h.strip().lower() for h in tags["h"].split(":")]
    for h in ("from", "to", "subject", "date", "message-id"):
        assert h in signed
    # the independent verifier (python3-dkim) accepts it ...
    assert dkim.verify(raw, dnsfunc=dns_for(dns))
    # ... and refuses tampered copies: body, and a signed header
    assert not dkim.verify(raw.replace(b"signed body", b"changed body"), dnsfunc=dns_for(dns))
    assert not dkim.verify(raw.replace(b"Subject: signed", b"Subject: forged"),
                           dnsfunc=dns_for(dns))


def test_inbound_ed25519_signature_is_verified(node, dns):
    import base64
    import nacl.signing
    sk = nacl.signing.SigningKey.generate()
    dns.txt("ed._domainkey.remote.test",
            "v=DKIM1; k=ed25519; p=" + base64.b64encode(sk.verify_key.encode()).decode())
    msg = remote_message(b"ed inbound\r\n")
    sig = dkim.sign(msg, b"ed", b"remote.test", base64.b64encode(sk.encode()),
                    signature_algorithm=b"ed25519-sha256",
                    include_headers=[b"from", b"to", b"subject", b"date"])
    ar = unfolded(send_inbound(node, sig + msg), "Authentication-Results")
    assert len(ar) == 1
    assert ar[0].startswith("Authentication-Results: %s; dkim=pass header.d=remote.test "
                            "header.s=ed header.a=ed25519-sha256 header.b=" % HOST)


def test_ed25519_signing_keys_are_refused_with_the_reason(node, dns):
    # libopendkim 2.11 leaks memory on every Ed25519 signature (see
    # docs/anti-spam.md); inbound Ed25519 signatures are verified (above)
    r = node.mailctl("domain", "dkim", "local.test", "--algorithm", "ed25519",
                     "--selector", "ed1")
    assert r.returncode != 0
    assert "ed25519 signing keys are not offered" in r.stderr
    st, key = api(node, "GET", "/domains/local.test/dkim")
    assert st == 200 and key["selector"] == "mail"  # the RSA key stays


def test_mail_from_a_domain_without_key_is_not_signed(node, dns):
    st, _ = api(node, "POST", "/domains", {"name": "nokey.test"})
    assert st == 201
    st, _ = api(node, "POST", "/users", {"address": "carol@nokey.test", "password": PW})
    assert st == 201
    raw = submit(node, "carol@nokey.test", "bob@local.test", "plain\r\n")
    assert unfolded(headers_of(raw), "DKIM-Signature") == []


def make_remote_key(tmp_path):
    key = tmp_path / "remote.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    import base64
    return key.read_bytes(), base64.b64encode(pub).decode()


def send_inbound(node, raw):
    tag = re.search(rb"Subject: (\S+)", raw).group(1).decode()
    before = len(messages(node, "bob@local.test"))
    s = smtp_from(node, CLIENT_IP)
    s.sendmail("sender@remote.test", ["bob@local.test"], raw)
    s.quit()
    count_messages(node, "bob@local.test", before + 1)
    return headers_of(raw_with(node, "bob@local.test", tag))


def remote_message(body=b"remote body\r\n"):
    tag = uuid.uuid4().hex
    return (b"From: Sender <sender@remote.test>\r\nTo: bob@local.test\r\nSubject: " +
            tag.encode() + b"\r\nDate: Sat, 28 Nov 2026 05:00:00 +0000\r\n\r\n" + body)


def test_inbound_signatures_are_verified(node, dns, tmp_path):
    priv, pub = make_remote_key(tmp_path)
    dns.txt("s1._domainkey.remote.test", "v=DKIM1; k=rsa; p=" + pub)
    msg = remote_message()
    sig = dkim.sign(msg, b"s1", b"remote.test", priv,
                    include_headers=[b"from", b"to", b"subject", b"date"])
    b = re.search(rb"b=([A-Za-z0-9+/]{8})", sig.split(b"bh=")[1]).group(1).decode()
    ar = unfolded(send_inbound(node, sig + msg), "Authentication-Results")
    assert ar == ["Authentication-Results: %s; dkim=pass header.d=remote.test header.s=s1 "
                  "header.a=rsa-sha256 header.b=\"%s\"" % (HOST, b)]
    # the same signature over a changed body fails
    ar = unfolded(send_inbound(node, sig + msg.replace(b"remote body", b"evil body")),
                  "Authentication-Results")
    assert len(ar) == 1
    assert ar[0].startswith("Authentication-Results: %s; dkim=fail (" % HOST)
    assert "header.d=remote.test header.s=s1" in ar[0]
    # a selector with no key published
    sig2 = dkim.sign(msg, b"nokey", b"remote.test", priv, include_headers=[b"from"])
    ar = unfolded(send_inbound(node, sig2 + msg), "Authentication-Results")
    assert ar[0].startswith("Authentication-Results: %s; dkim=permerror (" % HOST)
    assert "header.s=nokey" in ar[0]
    # no signature at all
    ar = unfolded(send_inbound(node, remote_message()), "Authentication-Results")
    assert ar == ["Authentication-Results: %s; dkim=none" % HOST]


def test_dkim_key_removed_with_api(node, dns):
    st, _ = api(node, "POST", "/domains", {"name": "gone.test"})
    assert st == 201
    st, key = api(node, "POST", "/domains/gone.test/dkim", {"selector": "s2024"})
    assert st == 201 and key["algorithm"] == "rsa-sha256"
    assert key["dns_name"] == "s2024._domainkey.gone.test"
    st, _ = api(node, "DELETE", "/domains/gone.test/dkim")
    assert st == 204
    st, _ = api(node, "GET", "/domains/gone.test/dkim")
    assert st == 404
    st, _ = api(node, "POST", "/domains/gone.test/dkim", {"algorithm": "dsa"})
    assert st == 400
    # deleting a domain takes its key with it
    st, _ = api(node, "POST", "/domains/gone.test/dkim", {})
    assert st == 201
    st, _ = api(node, "DELETE", "/domains/gone.test")
    assert st == 204
