"""IMAP service of the real `mailnode` daemon (node/imap): RFC 3501 plus IDLE,
UIDPLUS, MOVE, LITERAL+, NAMESPACE, ID, ENABLE, SPECIAL-USE, QUOTA, CONDSTORE,
SASL-IR, STARTTLS and implicit TLS. Clients are imaplib, raw sockets (for exact
reply lines), curl imap:// and mbsync. One daemon per module on its own
127.2.x.y address; users are made through the admin API.
"""
import base64
import imaplib
import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from nodeproc import Mailnode, config_text, wait_port

DEADLINE_S = 30.0
IMAP_PORT, IMAPS_PORT, HTTP_PORT = 2143, 2993, 6080
ADMIN_PW = "Admin-Pw-1"
CAPS = ("IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN "
        "SPECIAL-USE LIST-EXTENDED QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE CONDSTORE")


def mutf7(s):
    """RFC 3501 §5.1.3 modified UTF-7, for test names."""
    out, pending = [], ""

    def flush():
        nonlocal pending
        if pending:
            b = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            pending = ""
    for ch in s:
        if 0x20 <= ord(ch) < 0x7f:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    flush()
    return "".join(out)


class Node(Mailnode):
    """A node with IMAP, IMAPS and the admin API (nodeproc.Mailnode: start
    polls the ports, stop checks exit 0 and a clean log)."""

    stop_deadline_s = 30.0

    def __init__(self, tmp, limits="max_conn_per_ip = 0\nconn_per_minute_per_ip = 0\n"):
        addr = "127.2.%d.%d" % (1 + os.getpid() % 250, 1 + random.randrange(250))
        super().__init__(os.path.join(tmp, "node.ini"), os.path.join(tmp, "log"), addr)
        self.addr = addr
        self.data = os.path.join(tmp, "data")
        with open(self.config, "w") as f:
            f.write(config_text("inode", self.data, addr,
                                {"imap_port": IMAP_PORT, "imaps_port": IMAPS_PORT,
                                 "http_port": HTTP_PORT}, ADMIN_PW, hostname="i.e2e.test",
                                limits=limits, extra="[dev]\ncreate_domain = e2e.test\n"))

    def start(self):
        return super().start(ports=(HTTP_PORT, IMAP_PORT, IMAPS_PORT))

    def wait_port(self, port):
        if not wait_port(self.addr, port, proc=self.proc):
            raise AssertionError("no listener on %s:%d\n%s" % (self.addr, port, self.log()))

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            "http://%s:%d%s" % (self.addr, HTTP_PORT, path), method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": "Basic " +
                     base64.b64encode(("admin:" + ADMIN_PW).encode()).decode()})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")

    def user(self, local, **kw):
        addr = "%s@e2e.test" % local
        body = {"address": addr, "password": "pw-" + local}
        body.update(kw)
        assert self.api("POST", "/api/v1/users", body)[0] == 201
        return addr, "pw-" + local

    def imap(self, user=None):
        m = imaplib.IMAP4(self.addr, IMAP_PORT, timeout=DEADLINE_S)
        if user:
            m.login(*user)
        return m

    def raw(self, user=None):
        r = Raw(self.addr, IMAP_PORT)
        if user:
            r.cmd("LOGIN %s %s" % user)
        return r


class Raw:
    """A line-level client: exact reply lines, any bytes."""

    def __init__(self, addr, port, tls=False):
        self.s = socket.create_connection((addr, port), timeout=DEADLINE_S)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.s = ctx.wrap_socket(self.s)
        self.buf = bytearray()
        self.n = 0
        self.greeting = self.line()

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError(bytes(self.buf))
        self.buf += chunk

    def line(self):
        start = 0
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                break
            start = max(0, len(self.buf) - 1)
            self._fill()
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line.decode("utf-8", "replace")

    def read_bytes(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def until_tag(self, tag):
        lines = []
        while True:
            line = self.line()
            while True:
                m = re.search(r"\{(\d+)\}$", line)
                if not m:
                    break
                line += "\r\n" + self.read_bytes(int(m.group(1))).decode("utf-8", "replace")
                line += self.line()
            lines.append(line)
            if line.startswith(tag + " "):
                return lines

    def cmd(self, text):
        self.n += 1
        tag = "t%d" % self.n
        self.send("%s %s\r\n" % (tag, text))
        lines = self.until_tag(tag)
        return [l.replace(tag + " ", "TAG ", 1) if l.startswith(tag + " ") else l
                for l in lines]

    def closed(self):
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("imap")))
    n.start()
    yield n
    n.stop()


MSG = (b"From: Bob Example <bob@example.org>\r\n"
       b"To: Alice <alice@e2e.test>, undisclosed-recipients:;\r\n"
       b"Subject: =?utf-8?b?5L2g5aW9?= hello\r\n"
       b"Date: Mon, 13 Nov 2023 10:00:00 +0100\r\n"
       b"Message-ID: <m1@example.org>\r\n"
       b"\r\n"
       b"Hello body text\r\n")

MULTI = (b"From: carol@example.org\r\nSubject: parts\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
         b"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part\r\n"
         b"--XX\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
         b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
         b"filename=\"a.bin\"\r\n\r\nAAEC\r\n--XX--\r\n")


# --- connection, capabilities, authentication ---------------------------------

def test_greeting_capability_and_logout_exact(node):
    r = Raw(node.addr, IMAP_PORT)
    assert r.greeting == "* OK [CAPABILITY %s STARTTLS AUTH=PLAIN] mailnode ready" % CAPS
    assert r.cmd("CAPABILITY") == ["* CAPABILITY %s STARTTLS AUTH=PLAIN" % CAPS,
                                   "TAG OK CAPABILITY completed"]
    assert r.cmd("NOOP") == ["TAG OK NOOP completed"]
    assert r.cmd("SELECT INBOX") == ["TAG BAD Log in first"]
    assert r.cmd("LOGOUT") == ["* BYE Logging out", "TAG OK LOGOUT completed"]
    assert r.closed()


def test_login_wrong_password_then_right_one(node):
    u = node.user("login1")
    r = node.raw()
    assert r.cmd("LOGIN %s wrong" % u[0]) == [
        "TAG NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert r.cmd('LOGIN "%s" "%s"' % u) == ["TAG OK [CAPABILITY %s] Logged in" % CAPS]
    assert r.cmd("LOGIN %s %s" % u) == ["TAG BAD Already logged in"]


def test_authenticate_plain_with_continuation_and_sasl_ir(node):
    u = node.user("sasl")
    token = base64.b64encode(("\0%s\0%s" % u).encode()).decode()
    r = node.raw()
    r.send("a1 AUTHENTICATE PLAIN\r\n")
    assert r.line() == "+ "
    r.send(token + "\r\n")
    assert r.until_tag("a1") == ["a1 OK [CAPABILITY %s] Logged in" % CAPS]
    r = node.raw()
    assert r.cmd("AUTHENTICATE PLAIN " + token) == ["TAG OK [CAPABILITY %s] Logged in" % CAPS]
    r = node.raw()
    bad = base64.b64encode(("\0%s\0nope" % u[0]).encode()).decode()
    assert r.cmd("AUTHENTICATE PLAIN " + bad) == [
        "TAG NO [AUTHENTICATIONFAILED] Authentication failed."]
    r.send("a2 AUTHENTICATE PLAIN\r\n")
    assert r.line() == "+ "
    r.send("*\r\n")
    assert r.until_tag("a2") == ["a2 BAD Authentication cancelled"]
    # imaplib's own AUTHENTICATE
    m = node.imap()
    assert m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % u).encode())[0] == "OK"
    m.logout()


def test_starttls_then_login_and_no_second_starttls(node):
    u = node.user("tls1")
    m = node.imap()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    assert m.starttls(ssl_context=ctx)[0] == "OK"
    typ, caps = m.capability()
    assert caps == [(CAPS + " AUTH=PLAIN").encode()]
    assert m.login(*u)[0] == "OK"
    m.logout()


def test_imaps_implicit_tls(node):
    u = node.user("tls2")
    r = Raw(node.addr, IMAPS_PORT, tls=True)
    assert r.greeting == "* OK [CAPABILITY %s AUTH=PLAIN] mailnode ready" % CAPS
    assert r.cmd("STARTTLS") == ["TAG BAD STARTTLS not available"]
    assert r.cmd("LOGIN %s %s" % u)[-1].startswith("TAG OK")


def test_id_enable_namespace(node):
    r = node.raw(node.user("misc"))
    assert r.cmd('ID ("name" "pytest")') == [
        '* ID ("name" "mailnode" "version" "0.1.0")', "TAG OK ID completed"]
    assert r.cmd("ENABLE CONDSTORE UTF8=ACCEPT X-UNKNOWN") == [
        "* ENABLED CONDSTORE", "TAG OK ENABLE completed"]
    assert r.cmd("ENABLE CONDSTORE") == ["* ENABLED", "TAG OK ENABLE completed"]
    assert r.cmd("NAMESPACE") == ['* NAMESPACE (("" "/")) NIL NIL', "TAG OK NAMESPACE completed"]


# --- mailboxes ------------------------------------------------------------------

def test_list_special_use_children_and_chinese_names_round_trip(node):
    r = node.raw(node.user("folders"))
    assert r.cmd('LIST "" "*"') == [
        '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        '* LIST (\\HasNoChildren) "/" "INBOX"',
        '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
        "TAG OK LIST completed"]
    assert r.cmd('LIST "" ""') == ['* LIST (\\Noselect) "/" ""', "TAG OK LIST completed"]
    name = mutf7("工作/项目")
    assert name == "&XeVPXA-/&mHl27g-"
    assert r.cmd('CREATE "%s"' % name) == ["TAG OK CREATE completed"]
    assert r.cmd('CREATE "%s"' % name) == ["TAG NO [ALREADYEXISTS] Mailbox already exists"]
    assert r.cmd('LIST "" "&XeVPXA-*"') == [
        '* LIST (\\HasChildren) "/" "&XeVPXA-"',
        '* LIST (\\HasNoChildren) "/" "&XeVPXA-/&mHl27g-"', "TAG OK LIST completed"]
    assert r.cmd('LIST "" "%"')[:2] == [
        '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        '* LIST (\\HasNoChildren) "/" "INBOX"']
    assert r.cmd('LIST (SPECIAL-USE) "" "*"') == [
        '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        '* LIST (\\HasNoChildren \\Trash) "/" "Trash"', "TAG OK LIST completed"]
    assert r.cmd('LIST "" "Sent" RETURN (SUBSCRIBED CHILDREN)') == [
        '* LIST (\\HasNoChildren \\Subscribed \\Sent) "/" "Sent"', "TAG OK LIST completed"]
    assert r.cmd('STATUS "%s" (MESSAGES UIDNEXT UNSEEN RECENT)' % name) == [
        '* STATUS "%s" (MESSAGES 0 UIDNEXT 1 UNSEEN 0 RECENT 0)' % name,
        "TAG OK STATUS completed"]
    assert r.cmd('CREATE "bad&name"') == ["TAG BAD Invalid mailbox name"]
    # wildcards cannot make LIST backtrack exponentially
    r.cmd("CREATE " + "a" * 200)
    t0 = time.monotonic()
    assert r.cmd('LIST "" "' + "*a" * 300 + '*b"') == ["TAG OK LIST completed"]
    assert r.cmd('LIST "" "a%a"') == ['* LIST (\\HasNoChildren) "/" "%s"' % ("a" * 200),
                                      "TAG OK LIST completed"]
    assert time.monotonic() - t0 < 5
    # imaplib with the encoded name: SELECT and APPEND work on it
    m = node.imap(("folders@e2e.test", "pw-folders"))
    assert m.append(name, None, None, MSG)[0] == "OK"
    assert m.select(name) == ("OK", [b"1"])
    m.logout()


def test_create_rename_delete_subscribe_lsub(node):
    r = node.raw(node.user("folders2"))
    assert r.cmd("CREATE a/b/c") == ["TAG OK CREATE completed"]
    assert r.cmd("DELETE a") == ["TAG NO [INUSE] Mailbox has children, delete them first"]
    assert r.cmd("RENAME a x") == ["TAG OK RENAME completed"]
    assert r.cmd('LIST "" "x*"') == [
        '* LIST (\\HasChildren) "/" "x"', '* LIST (\\HasChildren) "/" "x/b"',
        '* LIST (\\HasNoChildren) "/" "x/b/c"', "TAG OK LIST completed"]
    assert r.cmd("SUBSCRIBE x/b") == ["TAG OK SUBSCRIBE completed"]
    assert r.cmd('LSUB "" "x*"') == ['* LSUB () "/" "x/b"', "TAG OK LSUB completed"]
    assert r.cmd("UNSUBSCRIBE x/b") == ["TAG OK UNSUBSCRIBE completed"]
    assert r.cmd('LSUB "" "x*"') == ["TAG OK LSUB completed"]
    assert r.cmd("DELETE x/b/c") == ["TAG OK DELETE completed"]
    assert r.cmd("DELETE nothere") == ["TAG NO [NONEXISTENT] Mailbox doesn't exist"]
    assert r.cmd("DELETE INBOX") == ["TAG NO [CANNOT] INBOX cannot be deleted"]
    assert r.cmd("CREATE inbox") == ["TAG NO [ALREADYEXISTS] INBOX always exists"]
    assert r.cmd("SELECT nothere") == ["TAG NO [NONEXISTENT] Mailbox doesn't exist"]


# --- messages -----------------------------------------------------------------

def test_append_select_fetch_exact(node):
    u = node.user("fetch")
    r = node.raw(u)
    r.send('a1 APPEND INBOX (\\Flagged $Work) "13-Nov-2023 10:00:00 +0100" {%d}\r\n' % len(MSG))
    assert r.line() == "+ OK"
    r.send(MSG + b"\r\n")
    lines = r.until_tag("a1")
    m = re.fullmatch(r"a1 OK \[APPENDUID (\d+) 1\] APPEND completed", lines[0])
    assert m, lines
    uidvalidity = int(m.group(1))
    # LITERAL+ : no continuation
    r.send(b"a2 APPEND INBOX {%d+}\r\n%s\r\n" % (len(MULTI), MULTI))
    assert r.until_tag("a2") == ["a2 OK [APPENDUID %d 2] APPEND completed" % uidvalidity]
    hm = int(re.search(r"HIGHESTMODSEQ (\d+)",
                       r.cmd("STATUS INBOX (HIGHESTMODSEQ)")[0]).group(1))
    assert r.cmd("SELECT INBOX") == [
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
        "Flags permitted",
        # uid 1 is dated before the node started: not \Recent (node/imap/recent.h)
        "* 2 EXISTS", "* 1 RECENT", "* OK [UNSEEN 1] First unseen",
        "* OK [UIDVALIDITY %d] UIDs valid" % uidvalidity,
        "* OK [UIDNEXT 3] Predicted next UID", "* OK [HIGHESTMODSEQ %d] Highest" % hm,
        "TAG OK [READ-WRITE] SELECT completed"]
    assert r.cmd("FETCH 1 (FLAGS UID INTERNALDATE RFC822.SIZE)") == [
        '* 1 FETCH (FLAGS (\\Flagged $Work) UID 1 INTERNALDATE "13-Nov-2023 09:00:00 +0000" '
        'RFC822.SIZE %d)' % len(MSG), "TAG OK FETCH completed"]
    assert r.cmd("FETCH 1 ENVELOPE") == [
        '* 1 FETCH (ENVELOPE ("Mon, 13 Nov 2023 10:00:00 +0100" "=?utf-8?b?5L2g5aW9?= hello" '
        '(("Bob Example" NIL "bob" "example.org")) (("Bob Example" NIL "bob" "example.org")) '
        '(("Bob Example" NIL "bob" "example.org")) '
        '(("Alice" NIL "alice" "e2e.test")(NIL NIL "undisclosed-recipients" NIL)'
        '(NIL NIL NIL NIL)) NIL NIL NIL "<m1@example.org>"))', "TAG OK FETCH completed"]
    assert r.cmd("FETCH 1 BODYSTRUCTURE") == [
        '* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 1 '
        'NIL NIL NIL NIL))', "TAG OK FETCH completed"]
    assert r.cmd("FETCH 2 (BODY BODYSTRUCTURE)") == [
        '* 2 FETCH (BODY (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 0)'
        '("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 4) "mixed") '
        'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)'
        '("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 4 NIL '
        '("attachment" ("filename" "a.bin")) NIL NIL) "mixed" ("boundary" "XX") NIL NIL NIL))',
        "TAG OK FETCH completed"]
    assert r.cmd("FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<0.8>)") == [
        '* 2 FETCH (BODY[1] {10}\r\nfirst part BODY[2.MIME] {142}\r\n'
        'Content-Type: application/octet-stream; name="a.bin"\r\n'
        'Content-Transfer-Encoding: base64\r\n'
        'Content-Disposition: attachment; filename="a.bin"\r\n\r\n'
        ' BODY[TEXT]<0> {8}\r\npreamble)', "TAG OK FETCH completed"]
    assert r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject To)])") == [
        '* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT TO)] {93}\r\n'
        'To: Alice <alice@e2e.test>, undisclosed-recipients:;\r\n'
        'Subject: =?utf-8?b?5L2g5aW9?= hello\r\n\r\n)', "TAG OK FETCH completed"]
    # a part that does not exist is "" (as Dovecot); the section is echoed
    # in canonical upper case; <origin.count> past the end is empty
    assert r.cmd("FETCH 2 (BODY.PEEK[3] BODY.PEEK[1.1.TEXT] body.peek[header.fields (from)]"
                 " BODY.PEEK[1]<100.5>)") == [
        '* 2 FETCH (BODY[3] "" BODY[1.1.TEXT] "" BODY[HEADER.FIELDS (FROM)] {27}\r\n'
        'From: carol@example.org\r\n\r\n BODY[1]<100> {0}\r\n)', "TAG OK FETCH completed"]
    assert r.cmd("FETCH 2 BODY.PEEK[1.HEADER.X]") == ["TAG BAD Invalid FETCH item"]
    # a non-PEEK body fetch sets \Seen and reports it
    assert r.cmd("FETCH 1 BODY[TEXT]") == [
        '* 1 FETCH (BODY[TEXT] {17}\r\nHello body text\r\n FLAGS (\\Seen \\Flagged $Work))',
        "TAG OK FETCH completed"]
    assert r.cmd("FETCH 1 (RFC822.TEXT MODSEQ)") == [
        "* 1 FETCH (RFC822.TEXT {17}\r\nHello body text\r\n MODSEQ (%d))" % (hm + 1),
        "TAG OK FETCH completed"]
    assert r.cmd("CHECK") == ["TAG OK CHECK completed"]
    assert r.cmd("UID FETCH 2 (RFC822.HEADER)")[0].startswith(
        "* 2 FETCH (RFC822.HEADER {%d}\r\nFrom: carol@example.org" % (MULTI.index(b"\r\n\r\n") + 4))
    m = node.imap(u)
    m.select("INBOX")
    typ, data = m.fetch("1", "(RFC822)")
    assert data[0][1] == MSG
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert [d[1] for d in data if isinstance(d, tuple)] == [MSG, MULTI]
    assert r.cmd("FETCH 3 FLAGS") == ["TAG BAD Invalid sequence number"]
    assert r.cmd("FETCH 1 (FLAGS BOGUS)") == ["TAG BAD Invalid FETCH item"]
    assert r.cmd("EXAMINE INBOX")[-1] == "TAG OK [READ-ONLY] EXAMINE completed"
    assert r.cmd("STORE 1 +FLAGS (\\Deleted)") == ["TAG NO [READ-ONLY] Mailbox is read-only"]


def test_search_body_and_text_match_decoded_parts(node):
    """SEARCH BODY/TEXT look at what a reader sees: base64 and
    quoted-printable undone, charsets converted to UTF-8 (node/imap/search_text.h)."""
    u = node.user("searchdec")
    m = node.imap(u)
    b64 = (b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from the team\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode("Herzliche Grüße aus Köln".encode()) + b"\r\n")
    qp = (b"Subject: plain subject\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
          b"--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
          b"Sch=F6ne Gr=FC=DFe, bis mor=\r\ngen\r\n"
          b"--B\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\n"
          + base64.b64encode(b"hidden attachment bytes") + b"\r\n--B--\r\n")
    for msg in (b64, qp):
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    r = node.raw(u)
    r.cmd("SELECT INBOX")

    def search(key, text):
        data = text.encode()
        return r.cmd("SEARCH CHARSET UTF-8 %s {%d+}\r\n%s" % (key, len(data), text))

    ok = "TAG OK SEARCH completed"
    assert search("BODY", "grüße") == ["* SEARCH 1 2", ok]  # ASCII case only
    assert search("BODY", "Grüße aus Köln") == ["* SEARCH 1", ok]
    assert search("BODY", "bis morgen") == ["* SEARCH 2", ok]  # soft line break
    assert search("BODY", "Sch=F6ne") == ["* SEARCH", ok]  # not the raw QP
    assert search("BODY", "hidden") == ["* SEARCH", ok]  # binary part left out
    assert search("BODY", "from the team") == ["* SEARCH", ok]  # header is not body
    assert search("TEXT", "Grüße from") == ["* SEARCH 1", ok]  # RFC 2047 subject
    assert search("TEXT", "Köln") == ["* SEARCH 1", ok]
    assert search("TEXT", "plain subject") == ["* SEARCH 2", ok]
    assert search("TEXT", "Schöne") == ["* SEARCH 2", ok]
    assert r.cmd("UID SEARCH NOT BODY morgen") == ["* SEARCH 1", ok]
    r.close()
    m.logout()


def test_search_keys(node):
    u = node.user("search")
    m = node.imap(u)
    m.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1699866000), MSG)
    m.append("INBOX", "(\\Answered $Foo)", imaplib.Time2Internaldate(1700000000), MULTI)
    m.append("INBOX", None, imaplib.Time2Internaldate(1700100000),
             b"From: x@y.test\r\nSubject: big\r\nX-Tag: alpha\r\n\r\n" + b"z" * 5000 + b"\r\n")
    m.select("INBOX")

    def s(*crit):
        return m.search(None, *crit)[1][0].decode()
    assert s("ALL") == "1 2 3"
    assert s("SEEN") == "1"
    assert s("UNSEEN") == "2 3"
    assert s("ANSWERED") == "2"
    assert s("KEYWORD", "$Foo") == "2"
    assert s("UNKEYWORD", "$Foo") == "1 3"
    assert s("FROM", "bob") == "1"
    assert s("TO", "alice") == "1"
    assert s("SUBJECT", "HELLO") == "1"
    assert s("HEADER", "X-Tag", "alp") == "3"
    assert s("BODY", '"first part"') == "2"
    assert s("TEXT", "carol") == "2"
    assert s("LARGER", "4000") == "3"
    assert s("SMALLER", "300") == "1"
    assert s("SENTON", "13-Nov-2023") == "1"
    assert s("SINCE", "14-Nov-2023") == "2 3"
    assert s("BEFORE", "14-Nov-2023") == "1"
    assert s("OR", "SEEN", "ANSWERED") == "1 2"
    assert s("NOT", "SEEN", "2:*") == "2 3"
    assert s("UID", "2,3", "NOT", "LARGER", "4000") == "2"
    assert s("NEW") == ""
    # RFC 2047 decoded, UTF-8 literal
    m.literal = "你好".encode()
    assert m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")[1][0] == b"1"
    typ, data = m._simple_command("SEARCH", "CHARSET", "KOI8-R", "ALL")
    assert typ == "NO"
    r = node.raw(u)
    r.cmd("SELECT INBOX")
    assert r.cmd("SEARCH MODSEQ 1") == ["* SEARCH 1 2 3 (MODSEQ 4)", "TAG OK SEARCH completed"]
    assert r.cmd("SEARCH OR FROM")[0].startswith("TAG BAD Invalid search: ")


def test_store_silent_unchangedsince_and_condstore(node):
    u = node.user("store")
    m = node.imap(u)
    for _ in range(3):
        m.append("INBOX", None, None, MSG)
    m.select("INBOX")  # takes their \\Recent, so r's FLAGS below are only stored flags
    r = node.raw(u)
    sel = r.cmd("SELECT INBOX (CONDSTORE)")
    h = int(re.search(r"HIGHESTMODSEQ (\d+)", " ".join(sel)).group(1))
    assert h >= 3
    assert r.cmd("STORE 1 +FLAGS (\\Seen $A)") == [
        "* 1 FETCH (FLAGS (\\Seen $A) MODSEQ (%d))" % (h + 1), "TAG OK STORE completed"]
    assert r.cmd("STORE 1 -FLAGS.SILENT ($A)") == [
        "* 1 FETCH (MODSEQ (%d))" % (h + 2), "TAG OK STORE completed"]
    assert r.cmd("UID STORE 2 FLAGS (\\Flagged)") == [
        "* 2 FETCH (FLAGS (\\Flagged) MODSEQ (%d) UID 2)" % (h + 3), "TAG OK STORE completed"]
    assert r.cmd("STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\\Answered)" % (h + 2)) == [
        "* 1 FETCH (FLAGS (\\Seen \\Answered) MODSEQ (%d))" % (h + 4),
        "* 3 FETCH (FLAGS (\\Answered) MODSEQ (%d))" % (h + 4),
        "TAG OK [MODIFIED 2] Conditional STORE failed"]
    assert r.cmd("FETCH 1:3 (FLAGS) (CHANGEDSINCE %d)" % (h + 3)) == [
        "* 1 FETCH (FLAGS (\\Seen \\Answered) MODSEQ (%d))" % (h + 4),
        "* 3 FETCH (FLAGS (\\Answered) MODSEQ (%d))" % (h + 4), "TAG OK FETCH completed"]
    assert r.cmd("STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)") == [
        "TAG OK [MODIFIED 1] Conditional STORE failed"]
    assert r.cmd("STORE 1 +FLAGS (\\Recent)") == ["TAG BAD Invalid flags"]
    assert r.cmd("STATUS INBOX (HIGHESTMODSEQ MESSAGES UNSEEN)") == [
        '* STATUS "INBOX" (HIGHESTMODSEQ %d MESSAGES 3 UNSEEN 2)' % (h + 4),
        "TAG OK STATUS completed"]


def test_copy_move_expunge_with_uidplus(node):
    u = node.user("move")
    m = node.imap(u)
    for _ in range(5):
        m.append("INBOX", None, None, MSG)
    m.create("Archive")
    r = node.raw(u)
    r.cmd("SELECT INBOX")
    ar = r.cmd("STATUS Archive (UIDVALIDITY)")[0]
    av = int(re.search(r"UIDVALIDITY (\d+)", ar).group(1))
    assert r.cmd("COPY 1:2 Archive") == ["TAG OK [COPYUID %d 1:2 1:2] COPY completed" % av]
    assert r.cmd("COPY 1 Nowhere") == ["TAG NO [TRYCREATE] Mailbox doesn't exist"]
    assert r.cmd("UID MOVE 2,4 Archive") == [
        "* OK [COPYUID %d 2,4 3:4] Moved" % av, "* 2 EXPUNGE", "* 3 EXPUNGE",
        "TAG OK MOVE completed"]
    assert r.cmd("MOVE 1 Archive") == [
        "* OK [COPYUID %d 1 5] Moved" % av, "* 1 EXPUNGE", "TAG OK MOVE completed"]
    # left: uids 3 and 5 as sequence 1 and 2
    assert r.cmd("UID SEARCH ALL") == ["* SEARCH 3 5", "TAG OK SEARCH completed"]
    assert r.cmd("STORE 1:2 +FLAGS.SILENT (\\Deleted)") == ["TAG OK STORE completed"]
    assert r.cmd("UID EXPUNGE 5") == ["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    assert r.cmd("EXPUNGE") == ["* 1 EXPUNGE", "TAG OK EXPUNGE completed"]
    assert r.cmd("STATUS Archive (MESSAGES)") == [
        '* STATUS "Archive" (MESSAGES 5)', "TAG OK STATUS completed"]
    r.cmd("SELECT Archive")
    assert r.cmd("STORE 5 +FLAGS (\\Deleted)")[-1] == "TAG OK STORE completed"
    assert r.cmd("CLOSE") == ["TAG OK CLOSE completed"]
    assert r.cmd("STATUS Archive (MESSAGES)")[0] == '* STATUS "Archive" (MESSAGES 4)'
    r.cmd("SELECT Archive")
    assert r.cmd("UNSELECT") == ["TAG OK UNSELECT completed"]
    assert r.cmd("FETCH 1 FLAGS") == ["TAG BAD Select a mailbox first"]


def test_readonly_account_refuses_delete_expunge_move(node):
    u = node.user("ro", flags=["readonly"])
    m = node.imap(u)
    m.append("INBOX", None, None, MSG)
    r = node.raw(u)
    r.cmd("SELECT INBOX")
    assert r.cmd("STORE 1 +FLAGS (\\Deleted)") == [
        "TAG NO [NOPERM] Account is read-only: cannot delete"]
    assert r.cmd("STORE 1 +FLAGS (\\Seen)")[-1] == "TAG OK STORE completed"
    assert r.cmd("EXPUNGE") == ["TAG NO [NOPERM] Account is read-only"]
    assert r.cmd("MOVE 1 Trash") == ["TAG NO [NOPERM] Account is read-only"]
    assert r.cmd("COPY 1 Trash")[-1].startswith("TAG OK [COPYUID")


def test_quota_storage_kib_and_message(node):
    u = node.user("quota", quota="1M", quota_messages=3)
    m = node.imap(u)
    m.append("INBOX", None, None, MSG)
    r = node.raw(u)
    assert r.cmd("GETQUOTAROOT INBOX") == [
        '* QUOTAROOT "INBOX" ""', '* QUOTA "" (STORAGE 1 1024 MESSAGE 1 3)',
        "TAG OK GETQUOTAROOT completed"]
    assert r.cmd('GETQUOTA ""') == ['* QUOTA "" (STORAGE 1 1024 MESSAGE 1 3)',
                                     "TAG OK GETQUOTA completed"]
    assert r.cmd('GETQUOTA "other"') == ["TAG NO [NONEXISTENT] No such quota root"]
    m.append("INBOX", None, None, MSG)
    m.append("INBOX", None, None, MSG)
    typ, data = m.append("INBOX", None, None, MSG)
    assert (typ, data) == ("NO", [b"[OVERQUOTA] Quota exceeded"])
    # a quota raised by the administrator applies to the open session
    assert node.api("PATCH", "/api/v1/users/" + u[0], {"quota_messages": 4})[0] == 200
    assert m.append("INBOX", None, None, MSG)[0] == "OK"
    assert r.cmd('GETQUOTA ""')[0] == '* QUOTA "" (STORAGE 1 1024 MESSAGE 4 4)'
    r.cmd("SELECT INBOX")
    assert r.cmd("COPY 1 INBOX") == ["TAG NO [OVERQUOTA] Quota exceeded"]


# --- several sessions ---------------------------------------------------------

def test_recent_belongs_to_the_first_read_write_session(node):
    """RFC 3501 §2.3.2: a new message is \\Recent in exactly one session, the
    first to SELECT (not EXAMINE) the mailbox or to learn of it by a sync."""
    u = node.user("recent")
    m = node.imap(u)  # nothing selected: its APPENDs take nothing
    for _ in range(2):
        assert m.append("INBOX", None, None, MSG)[0] == "OK"
    e = node.raw(u)
    lines = e.cmd("EXAMINE INBOX")
    assert lines[2:4] == ["* 2 EXISTS", "* 2 RECENT"], lines
    assert e.cmd("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Recent))", "TAG OK FETCH completed"]
    assert e.cmd("STATUS INBOX (MESSAGES RECENT)") == [
        '* STATUS "INBOX" (MESSAGES 2 RECENT 2)', "TAG OK STATUS completed"]
    a = node.raw(u)
    lines = a.cmd("SELECT INBOX")
    assert lines[2:4] == ["* 2 EXISTS", "* 2 RECENT"], lines
    assert a.cmd("FETCH 1:2 FLAGS") == [
        "* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))",
        "TAG OK FETCH completed"]
    assert a.cmd("STORE 1 +FLAGS (\\Seen)") == [
        "* 1 FETCH (FLAGS (\\Recent \\Seen))", "TAG OK STORE completed"]
    assert a.cmd("SEARCH RECENT") == ["* SEARCH 1 2", "TAG OK SEARCH completed"]
    assert a.cmd("SEARCH NEW") == ["* SEARCH 2", "TAG OK SEARCH completed"]
    assert a.cmd("SEARCH OLD") == ["* SEARCH", "TAG OK SEARCH completed"]
    assert a.cmd("SEARCH NOT RECENT") == ["* SEARCH", "TAG OK SEARCH completed"]
    # the second SELECT gets none of them
    b = node.raw(u)
    lines = b.cmd("SELECT INBOX")
    assert lines[2:4] == ["* 2 EXISTS", "* 0 RECENT"], lines
    assert b.cmd("FETCH 1:2 FLAGS") == [
        "* 1 FETCH (FLAGS (\\Seen))", "* 2 FETCH (FLAGS ())", "TAG OK FETCH completed"]
    assert b.cmd("SEARCH RECENT") == ["* SEARCH", "TAG OK SEARCH completed"]
    assert b.cmd("SEARCH NEW") == ["* SEARCH", "TAG OK SEARCH completed"]
    assert b.cmd("SEARCH OLD") == ["* SEARCH 1 2", "TAG OK SEARCH completed"]
    # nobody else's any more; the EXAMINE session's STATUS says so too
    assert m.status("INBOX", "(RECENT)") == ("OK", [b'"INBOX" (RECENT 0)'])
    # (e keeps showing the two as \\Recent: it learnt of them first)
    assert e.cmd("STATUS INBOX (RECENT)") == [
        '* STATUS "INBOX" (RECENT 0)', "* 1 FETCH (FLAGS (\\Recent \\Seen) UID 1)",
        "TAG OK STATUS completed"]
    # a delivery while a and b have INBOX selected: the first to sync takes it
    assert m.append("INBOX", None, None, MSG)[0] == "OK"
    assert a.cmd("NOOP") == ["* 3 EXISTS", "* 3 RECENT", "TAG OK NOOP completed"]
    assert b.cmd("NOOP") == ["* 3 EXISTS", "* 0 RECENT", "TAG OK NOOP completed"]
    assert a.cmd("FETCH 3 FLAGS") == ["* 3 FETCH (FLAGS (\\Recent))", "TAG OK FETCH completed"]
    assert b.cmd("FETCH 3 FLAGS") == ["* 3 FETCH (FLAGS ())", "TAG OK FETCH completed"]
    # STATUS of a's own selected mailbox counts a's \Recent messages
    assert a.cmd("STATUS INBOX (RECENT)") == [
        '* STATUS "INBOX" (RECENT 3)', "TAG OK STATUS completed"]
    # a SELECT again: the messages were a's already, now for nobody
    lines = a.cmd("SELECT INBOX")
    assert lines[2:4] == ["* 3 EXISTS", "* 0 RECENT"], lines
    for c in (a, b, e):
        c.close()
    m.logout()


def test_idle_wakes_on_append_from_other_session(node):
    u = node.user("idle")
    r = node.raw(u)
    r.cmd("SELECT INBOX")
    r.send("i1 IDLE\r\n")
    assert r.line() == "+ idling"
    m = node.imap(u)
    t0 = time.monotonic()
    m.append("INBOX", None, None, MSG)
    assert r.line() == "* 1 EXISTS"
    assert time.monotonic() - t0 < 1.0
    assert r.line() == "* 1 RECENT"  # r is the first to learn of it
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Flagged)")
    assert r.line() == "* 1 FETCH (FLAGS (\\Recent \\Flagged) UID 1)"
    m.store("1", "+FLAGS", "(\\Deleted)")
    assert r.line() == "* 1 FETCH (FLAGS (\\Recent \\Flagged \\Deleted) UID 1)"
    m.expunge()
    assert r.line() == "* 1 EXPUNGE"
    r.send("DONE\r\n")
    assert r.line() == "i1 OK IDLE terminated"
    # and at command boundaries without IDLE; m has INBOX selected and
    # learns of its own APPEND first, so it is not \Recent for r
    m.append("INBOX", None, None, MSG)
    assert r.cmd("NOOP") == ["* 1 EXISTS", "* 0 RECENT", "TAG OK NOOP completed"]


def test_selected_mailbox_deleted_by_another_session_ends_with_bye(node):
    u = node.user("gone")
    a = node.raw(u)
    a.cmd("CREATE Doomed")
    a.cmd("CREATE Renamed")
    assert a.cmd("SELECT Renamed")[-1] == "TAG OK [READ-WRITE] SELECT completed"
    assert a.cmd("RENAME Renamed Kept") == ["TAG OK RENAME completed"]
    assert a.cmd("NOOP") == ["TAG OK NOOP completed"]
    a.cmd("SELECT Doomed")
    b = node.raw(u)
    assert b.cmd("DELETE Doomed") == ["TAG OK DELETE completed"]
    a.send("n1 NOOP\r\n")
    assert a.line() == "n1 OK NOOP completed"
    assert a.line() == "* BYE Selected mailbox was deleted or renamed"
    assert a.closed()


def test_imaps_big_fetch(node):
    u = node.user("tlsbig")
    body = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 2000
    m = node.imap(u)
    m.append("INBOX", None, None, body)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = imaplib.IMAP4_SSL(node.addr, IMAPS_PORT, ssl_context=ctx, timeout=DEADLINE_S)
    t.login(*u)
    t.select("INBOX")
    assert t.fetch("1", "(BODY.PEEK[])")[1][0][1] == body
    t.logout()


def test_per_ip_connection_cap_and_login_blocking(tmp_path):
    n = Node(str(tmp_path), limits="max_conn_per_ip = 2\nauth_fail_user = 2\n")
    n.start()
    try:
        u = n.user("limited")
        a, b = Raw(n.addr, IMAP_PORT), Raw(n.addr, IMAP_PORT)
        c = socket.create_connection((n.addr, IMAP_PORT), timeout=DEADLINE_S)
        assert c.makefile("rb").readline() == (
            b"* BYE [UNAVAILABLE] too many connections from your address\r\n")
        c.close()
        b.close()
        assert a.cmd("LOGIN %s wrong1" % u[0]) == [
            "TAG NO [AUTHENTICATIONFAILED] Authentication failed."]
        assert a.cmd("LOGIN %s wrong2" % u[0]) == [
            "TAG NO [AUTHENTICATIONFAILED] Authentication failed."]
        a.close()
        deadline = time.monotonic() + DEADLINE_S
        while True:  # b's close is seen by the server asynchronously
            r = Raw(n.addr, IMAP_PORT)
            if not r.greeting.startswith("* BYE"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)  # poll interval within the deadline
        # the user is blocked: even the right password is refused
        assert r.cmd("LOGIN %s %s" % u) == [
            "TAG NO [AUTHENTICATIONFAILED] Authentication failed."]
        assert "event=auth_blocked" in n.log()
    finally:
        n.stop()


def test_uidvalidity_and_uids_stable_across_restart(tmp_path):
    n = Node(str(tmp_path))
    n.start()
    try:
        u = n.user("restart")
        m = n.imap(u)
        for _ in range(3):
            m.append("INBOX", None, None, MSG)
        m.create(mutf7("归档"))
        m.select("INBOX")
        m.store("2", "+FLAGS", "(\\Deleted)")
        m.expunge()
        before = m.uid("SEARCH", "ALL")[1], m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1]
        lst = m.list()[1]
        m.logout()
    finally:
        n.stop()
    n.start()
    try:
        m = n.imap(u)
        m.select("INBOX")
        assert (m.uid("SEARCH", "ALL")[1],
                m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1]) == before
        assert before[0] == [b"1 3"]
        assert m.list()[1] == lst
        m.logout()
    finally:
        n.stop()


def test_fifty_concurrent_sessions_end_consistent(node):
    u = node.user("busy")
    seed = random.randrange(1 << 30)
    print("seed", seed)
    m = node.imap(u)
    for _ in range(20):
        m.append("INBOX", None, None, MSG)
    errors = []

    def worker(i):
        rnd = random.Random(seed + i)
        try:
            c = node.imap(u)
            c.select("INBOX")
            for _ in range(6):
                op = rnd.choice(("store", "expunge", "append", "fetch"))
                if op == "append":
                    assert c.append("INBOX", None, None, MSG)[0] == "OK"
                elif op == "store":
                    c.uid("STORE", "%d" % rnd.randint(1, 40), "+FLAGS", "(\\Deleted \\Seen)")
                elif op == "expunge":
                    assert c.expunge()[0] == "OK"
                else:
                    assert c.uid("FETCH", "1:*", "(FLAGS)")[0] == "OK"
            c.logout()
        except Exception as e:  # reported below with the seed
            errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S * 4)
    assert errors == [], (seed, errors)
    f = node.imap(u)
    typ, data = f.select("INBOX")
    exists = int(data[0])
    uids = [int(x) for x in f.uid("SEARCH", "ALL")[1][0].split()]
    assert len(uids) == exists == len(set(uids)) and uids == sorted(uids)
    status = f.status("INBOX", "(MESSAGES UIDNEXT)")[1][0].decode()
    assert "MESSAGES %d" % exists in status
    assert int(re.search(r"UIDNEXT (\d+)", status).group(1)) > max(uids)
    typ, data = f.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])") if exists else ("OK", [])
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert bodies == [MSG] * exists
    q = f._simple_command("GETQUOTAROOT", "INBOX")
    assert q[0] == "OK"
    assert f.untagged_responses["QUOTA"][-1] == b'"" ()'


# --- bad input --------------------------------------------------------------------

def check_serving(node):
    r = Raw(node.addr, IMAP_PORT)
    assert r.cmd("NOOP") == ["TAG OK NOOP completed"]


def test_unterminated_literal_then_disconnect_keeps_serving(node):
    r = node.raw(node.user("bad1"))
    r.send("a1 APPEND INBOX {100}\r\n")
    assert r.line() == "+ OK"
    r.send("only a part")
    r.close()
    check_serving(node)


def test_literal_over_the_limit_gets_bad(node):
    r = node.raw()
    assert r.cmd("LOGIN {5000}") == ["TAG BAD Literal too big"]
    r.send("a2 LOGIN {100000+}\r\n")
    assert r.line().startswith("* BYE ")
    assert r.closed()
    r = node.raw(node.user("bad2", max_message_size=1000))
    assert r.cmd("APPEND INBOX {1001}") == ["TAG BAD Literal too big"]
    check_serving(node)


def test_line_of_100k_gets_bad_and_server_keeps_serving(node):
    r = node.raw()
    r.send("a1 NOOP " + "x" * 100000 + "\r\n")
    assert r.until_tag("a1") == ["a1 BAD Command line too long"]
    assert r.cmd("NOOP") == ["TAG OK NOOP completed"]
    check_serving(node)


def test_random_garbage_and_deep_nesting(node):
    rnd = random.Random(7)
    r = node.raw()
    garbage = bytes(rnd.randrange(1, 256) for _ in range(3000)).replace(b"{", b"(")
    r.send(garbage + b"\r\n")
    r.send(b"z1 NOOP\r\n")
    lines = r.until_tag("z1")
    assert lines[-1] == "z1 OK NOOP completed"
    assert all(" BAD " in l for l in lines[:-1]), lines
    u = node.user("bad3")
    r = node.raw(u)
    assert r.cmd("ID " + "(" * 100 + ")" * 100) == ["TAG BAD Too deeply nested lists"]
    r.cmd("SELECT INBOX")
    assert r.cmd("SEARCH " + "(" * 100 + "ALL" + ")" * 100) == [
        "TAG BAD Too deeply nested lists"]
    assert r.cmd("SEARCH " + "NOT " * 1000 + "ALL")[0].startswith("TAG BAD Invalid search: ")
    assert r.cmd("SEARCH ALL") == ["* SEARCH", "TAG OK SEARCH completed"]
    check_serving(node)


# --- other clients ---------------------------------------------------------------

def test_curl_lists_and_fetches(node):
    u = node.user("curl")
    m = node.imap(u)
    m.append("INBOX", None, None, MSG)
    url = "imap://%s:%d/" % (node.addr, IMAP_PORT)
    out = subprocess.run(["curl", "-s", "--max-time", "20", "-u", "%s:%s" % u, url],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out
    assert b'* LIST (\\HasNoChildren) "/" "INBOX"' in out.stdout
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in out.stdout
    out = subprocess.run(["curl", "-s", "--max-time", "20", "-u", "%s:%s" % u,
                          url + "INBOX/;UID=1"], capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout == MSG, out


def test_big_fetch_is_streamed_in_steps(node):
    u = node.user("big")
    m = node.imap(u)
    body = b"Subject: big\r\n\r\n" + (b"0123456789" * 100 + b"\r\n") * 3000  # ~3 MB
    for _ in range(3):
        m.append("INBOX", None, None, body)
    m.select("INBOX")
    typ, data = m.fetch("1:3", "(BODY.PEEK[])")
    assert [d[1] for d in data if isinstance(d, tuple)] == [body] * 3


def test_client_not_reading_a_big_fetch_does_not_stall_others(node):
    u = node.user("slow")
    m = node.imap(u)
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 4000  # ~4 MB
    for _ in range(5):
        m.append("INBOX", None, None, body)
    slow = Raw(node.addr, IMAP_PORT)
    slow.cmd("LOGIN %s %s" % u)
    slow.cmd("SELECT INBOX")
    slow.send("f1 FETCH 1:5 BODY.PEEK[]\r\n")  # ~20 MB we do not read yet
    for _ in range(20):  # others are served meanwhile
        other = node.raw(u)
        other.cmd("SELECT INBOX")
        assert other.cmd("FETCH 5 RFC822.SIZE") == [
            "* 5 FETCH (RFC822.SIZE %d)" % len(body), "TAG OK FETCH completed"]
        other.close()
    lines = slow.until_tag("f1")
    assert lines[-1] == "f1 OK FETCH completed"
    assert [l.endswith(body.decode() + ")") for l in lines[:-1]] == [True] * 5


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) not installed")
def test_mbsync_200_messages_then_nothing_then_flag_change(node, tmp_path):
    u = node.user("sync")
    m = node.imap(u)
    for i in range(200):
        m.append("INBOX", None, None, b"Subject: n%d\r\nMessage-ID: <%d@s>\r\n\r\nbody %d\r\n"
                 % (i, i, i))
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        "IMAPAccount a\nHost %s\nPort %d\nUser %s\nPass %s\nSSLType None\n"
        "AuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount a\n\n"
        "MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n"
        "Channel c\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
        "SyncState *\nSync All\n"
        % (node.addr, IMAP_PORT, u[0], u[1], maildir, maildir))

    def sync():
        # -Dn: the IMAP conversation, to see what was transferred
        out = subprocess.run(["mbsync", "-c", str(rc), "-Dn", "c"], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout + out.stderr

    def files():
        return sorted(p.name.split(":")[0] for d in ("cur", "new")
                      for p in (maildir / "INBOX" / d).iterdir())
    out = sync()
    assert out.count("BODY.PEEK[]") == 200, out[-3000:]
    first = files()
    assert len(first) == 200
    out = sync()
    assert not re.search(r">>> \d+ (UID FETCH \S+ .*BODY|APPEND|UID STORE)", out), out
    assert files() == first
    m.select("INBOX")
    m.store("5", "+FLAGS", "(\\Flagged)")
    sync()
    flagged = [p.name for p in (maildir / "INBOX" / "cur").iterdir()
               if re.search(r":2,[A-Z]*F", p.name)]
    assert len(flagged) == 1, flagged
