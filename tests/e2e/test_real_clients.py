"""Real Debian mail clients against the real `mailnode` daemon: fetchmail
retrieving over IMAP with STARTTLS and over POP3S (implicit TLS), and s-nail
sending through submission with STARTTLS + AUTH.

Each test starts its own node on its own 127.2.x.y address with the dev
ports, makes the users through the admin API and stops the node with
SIGTERM (exit 0, no error or sanitizer lines). The clients verify the node's
self-signed certificate against data_dir/tls/cert.pem where they can.
Messages reach INBOX the real way: SMTP to smtp_port, then delivery.

The clients run with HOME set to the test's temp dir so that no user rc
file (~/.fetchmailrc, ~/.mailrc) changes what is tested. A client that is
not installed makes its tests skip (deploy/install-deps.sh installs both).
"""
import base64
import imaplib
import json
import os
import poplib
import random
import re
import shutil
import smtplib
import ssl
import subprocess
import urllib.parse
import urllib.request

import pytest

from nodeproc import Mailnode, config_text, poll

DEADLINE_S = 30.0
ADMIN_PW = "Admin-Clients-1"
DOMAIN = "rc.test"
PORTS = {"smtp_port": 2525, "submission_port": 2587, "smtps_port": 0, "imap_port": 2143,
         "imaps_port": 0, "pop3_port": 0, "pop3s_port": 2995, "http_port": 6080,
         "https_port": 0}


class Node(Mailnode):
    """A node with the ports of PORTS, started at once (nodeproc.Mailnode:
    start polls the ports, stop checks exit 0 and a clean log)."""

    stop_deadline_s = 30.0

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        addr = "127.2.%d.%d" % (1 + os.getpid() % 250, 1 + random.randrange(250))
        super().__init__(os.path.join(self.tmp, "node.ini"),
                         os.path.join(self.tmp, "node.log"), addr)
        self.addr = addr
        self.data_dir = os.path.join(self.tmp, "data")
        with open(self.config, "w") as f:
            f.write(config_text("cnode", self.data_dir, addr, PORTS, ADMIN_PW,
                                hostname="c.e2e.test",
                                limits="max_conn_per_ip = 0\nconn_per_minute_per_ip = 0\n"))
        self.start(ports=PORTS.values())

    @property
    def cert(self):
        return os.path.join(self.data_dir, "tls", "cert.pem")

    def api(self, method, path, body):
        req = urllib.request.Request(
            "http://%s:%d/api/v1%s" % (self.addr, PORTS["http_port"], path),
            data=json.dumps(body).encode(), method=method, headers={
                "Content-Type": "application/json",
                "Authorization": "Basic " + base64.b64encode(
                    ("admin:" + ADMIN_PW).encode()).decode()})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def user(self, local):
        addr, pw = "%s@%s" % (local, DOMAIN), "Pw-%s 1" % local
        assert self.api("POST", "/users", {"address": addr, "password": pw}) == 201
        return addr, pw

    def imap(self, user):
        m = imaplib.IMAP4(self.addr, PORTS["imap_port"], timeout=DEADLINE_S)
        m.starttls(ssl_context=tls_context())
        m.login(*user)
        return m

    def inbox_count(self, user):
        m = self.imap(user)
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK", data
        m.logout()
        return int(data[0])

    def deliver(self, user, *msgs):
        before = self.inbox_count(user)
        with smtplib.SMTP(self.addr, PORTS["smtp_port"], timeout=DEADLINE_S) as s:
            for m in msgs:
                s.sendmail("alice@else.test", [user[0]], m)
        poll(lambda: self.inbox_count(user) == before + len(msgs), "delivery into INBOX")


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path)
    assert n.api("POST", "/domains", {"name": DOMAIN}) == 201
    yield n
    n.stop()


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip("%s is not installed (deploy/install-deps.sh installs it)" % tool)


def message(n):
    return ("From: Alice <alice@else.test>\r\nTo: someone@%s\r\nSubject: fetch test %d\r\n"
            "Message-ID: <fetch-%d@else.test>\r\n\r\nbody line one of %d\r\n"
            ".leading dot line\r\nlast line %d\r\n" % (DOMAIN, n, n, n, n))


# --- fetchmail ------------------------------------------------------------------------


def fetchmail(node, rc_body):
    """Run fetchmail once with an rc file; return (exit code, output, messages).
    The MDA writes each message to its own file in a fresh directory."""
    out_dir = os.path.join(node.tmp, "fetched-%d" % random.randrange(1 << 30))
    os.mkdir(out_dir)
    mda = os.path.join(node.tmp, "mda.sh")
    with open(mda, "w") as f:
        f.write('#!/bin/sh\nf=$(mktemp "$1/msg.XXXXXX") || exit 75\ncat > "$f"\n')
    os.chmod(mda, 0o755)
    rc = os.path.join(node.tmp, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no bouncemail\nset no syslog\n" + rc_body +
                '    mda "%s %s"\n' % (mda, out_dir))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=node.tmp, FETCHMAILHOME=node.tmp)
    p = subprocess.run(["fetchmail", "-v", "-f", rc, "--nodetach"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode(errors="replace")
    msgs = []
    for name in sorted(os.listdir(out_dir)):
        with open(os.path.join(out_dir, name), "rb") as f:
            msgs.append(f.read())
    return p.returncode, out, msgs


def strip_added(raw):
    """The message as sent: drop the Received: lines the node and fetchmail put
    on top (with their continuation lines) and normalise to CRLF."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    while lines and (lines[0].startswith(b"Received:") or
                     (lines[0][:1] in (b" ", b"\t") and lines[0].strip())):
        lines.pop(0)
    return b"\r\n".join(lines)


def server_block(node, proto, port, user, extra):
    return ('poll %s service %d protocol %s auth password timeout 20\n'
            '    user "%s" there with password "%s" is "%s" here\n'
            '    sslcertck sslcertfile "%s" sslcommonname "c.e2e.test"\n'
            '    no rewrite fetchall %s\n'
            % (node.addr, port, proto, user[0], user[1], "root", node.cert, extra))


def test_fetchmail_imap_starttls_keep(node):
    need("fetchmail")
    user = node.user("fimap")
    msgs = [message(1).encode(), message(2).encode()]
    node.deliver(user, *msgs)
    # sslproto without "ssl" makes fetchmail insist on STARTTLS.
    rc, out, got = fetchmail(node, server_block(
        node, "IMAP", PORTS["imap_port"], user, "keep sslproto TLS1.2+"))
    assert rc == 0, out + node.log()
    assert "STARTTLS" in out, out
    assert re.search(r"imap sid=\S+ event=login user=%s result=ok tls=1" % re.escape(user[0]),
                     node.log()), node.log()
    assert sorted(strip_added(m) for m in got) == sorted(msgs), (got, out)
    # --keep: both still in INBOX, now \Seen.
    m = node.imap(user)
    assert m.select("INBOX")[1] == [b"2"]
    typ, data = m.search(None, "SEEN")
    assert data == [b"1 2"], data
    m.logout()


def test_fetchmail_pop3s_no_keep_empties_maildrop(node):
    need("fetchmail")
    user = node.user("fpop")
    msgs = [message(n).encode() for n in (3, 4, 5)]
    node.deliver(user, *msgs)
    rc, out, got = fetchmail(node, server_block(
        node, "POP3", PORTS["pop3s_port"], user, "no keep ssl sslproto TLS1.2+"))
    assert rc == 0, out + node.log()
    assert sorted(strip_added(m) for m in got) == sorted(msgs), (got, out)
    # DELE at QUIT: the maildrop is empty afterwards, over POP3S and IMAP.
    p = poplib.POP3_SSL(node.addr, PORTS["pop3s_port"], timeout=DEADLINE_S,
                        context=tls_context())
    p.user(user[0])
    p.pass_(user[1])
    assert p.stat() == (0, 0)
    p.quit()
    assert node.inbox_count(user) == 0
    # A second run finds nothing: fetchmail exit code 1 is "no mail".
    rc, out, got = fetchmail(node, server_block(
        node, "POP3", PORTS["pop3s_port"], user, "no keep ssl sslproto TLS1.2+"))
    assert rc == 1 and got == [], out


# --- s-nail ---------------------------------------------------------------------------


def test_snail_submission_starttls_auth_reaches_inbox(node):
    need("s-nail")
    sender = node.user("snd")
    rcpt = node.user("rcv")
    url = "smtp://%s:%s@%s:%d" % (sender[0].replace("@", "%40"),
                                  urllib.parse.quote(sender[1], safe=""),
                                  node.addr, PORTS["submission_port"])
    # s-nail matches the certificate against the URL's host, here an IP
    # address the self-signed certificate does not name: no verification
    # (fetchmail above does verify, with sslcommonname).
    env = dict(os.environ, HOME=node.tmp, MAILRC="/dev/null", LC_ALL="C")
    body = "Hello from s-nail.\nSecond line.\n"
    p = subprocess.run(
        ["s-nail", "-:/", "-#",
         "-S", "v15-compat", "-S", "mta=" + url, "-S", "smtp-use-starttls",
         "-S", "smtp-auth=plain", "-S", "tls-verify=ignore", "-S", "nosave",
         "-S", "sendwait", "-S", "hostname=client.e2e.test",
         "-r", sender[0], "-s", "s-nail subject", rcpt[0]],
        input=body.encode(), env=env, capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 0, out + node.log()
    poll(lambda: node.inbox_count(rcpt) == 1, "s-nail message in INBOX")
    m = node.imap(rcpt)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    m.logout()
    raw = data[0][1]
    # the submission session went TLS first, then authenticated the sender
    log = node.log()
    sid = re.search(r"smtp sid=(\S+) event=auth result=ok user=" + re.escape(sender[0]),
                    log)
    assert sid, log
    tls = log.index("smtp sid=%s event=tls " % sid.group(1))
    assert tls < sid.start(), log
    head, _, text = raw.partition(b"\r\n\r\n")
    assert text == body.replace("\n", "\r\n").encode(), raw
    assert re.search(rb"^Subject: s-nail subject\r$", head, re.M), raw
    assert re.search(rb"^From: " + re.escape(sender[0].encode()) + rb"\r$", head, re.M), raw
    assert re.search(rb"^To: " + re.escape(rcpt[0].encode()) + rb"\r$", head, re.M), raw
    # the node's Received: line records the authenticated TLS submission
    assert re.search(rb"^Received: from client\.e2e\.test", head, re.M), raw
