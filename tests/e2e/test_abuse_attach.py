"""Attachment filters on inbound mail (issue 8): a message with a blocked
extension is refused after DATA with 554 naming the attachment; more
attachments than allowed likewise; a clean one is delivered.

Addresses: node 127.0.208.10, DNS responder 127.0.208.2 (no records: the
filters send no query, but no check may use the system's resolver),
client 127.0.208.20.
"""
import smtplib
from email.message import EmailMessage

import pytest

from antispam_util import antispam_config
from conftest import Node
from dnsserver import DNSServer
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user, count_messages

NODE = "127.0.208.10"
DNS = "127.0.208.2"
CLIENT = "127.0.208.20"
BOB = "bob@at.test"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with DNSServer(DNS) as d:
        n = Node(tmp_path_factory.mktemp("attach"), address=NODE, ports=SMTP_PORTS,
                 extra=SMTP_EXTRA + "mx_override = 127.0.0.1:9\n"
                 + antispam_config(d.resolver, "attachment_block_extensions = exe, .js\n"
                                   "attachment_max_count = 2\n"))
        n.start()
        add_domain(n, "at.test")
        add_user(n, BOB)
        yield n
        n.stop()


def message(*names):
    m = EmailMessage()
    m["From"] = "a@remote.test"
    m["To"] = BOB
    m["Subject"] = "files"
    m.set_content("see attached")
    for name in names:
        m.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                         filename=name)
    return m.as_bytes().replace(b"\n", b"\r\n")


def send(data):
    s = smtplib.SMTP(NODE, SMTP_PORTS["smtp_port"], timeout=60, source_address=(CLIENT, 0))
    s.ehlo("client.remote.test")
    try:
        s.sendmail("a@remote.test", [BOB], data)
        return None
    except smtplib.SMTPDataError as e:
        return "%d %s" % (e.smtp_code, e.smtp_error.decode())
    finally:
        s.close()


def test_blocked_extension_refused(node):
    assert send(message("report.pdf", "Invoice.EXE")) == (
        '554 5.7.1 Message rejected: attachment "Invoice.EXE" has a blocked extension (.EXE)')
    assert send(message("x.js")) == (
        '554 5.7.1 Message rejected: attachment "x.js" has a blocked extension (.js)')
    assert 'event=attachment action=reject' in node.log()


def test_count_and_clean(node):
    assert send(message("a.pdf", "b.pdf", "c.pdf")) == (
        "554 5.7.1 Message rejected: more than 2 attachments")
    assert send(message("a.pdf", "notes.txt")) is None
    count_messages(node, BOB, 1)
