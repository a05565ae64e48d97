"""The webmail page in headless Chromium (tests/browser/webmail.mjs, driven
by playwright-core from npm; the browser is Debian's chromium): log in, read
a plain and an HTML message delivered over SMTP, no script of the HTML mail
runs and its remote image is never fetched; compose (rich text, Chinese-named
attachment) to another user, reply, create a Chinese-named folder and move a
message there, delete to Trash, search, settings, Simplified Chinese, log
out. Here: what was sent arrived in the other user's INBOX (IMAP), the folder
shows over IMAP in modified UTF-7, the language is stored per user.
Screenshots of each page: build/screenshots/.

Skipped (with the reason) when chromium or node_modules are missing:
deploy/install-deps.sh installs both.

Addresses 127.0.210.x-127.0.219.x (.202, .203).
"""
import email
import email.policy
import imaplib
import os
import shutil
import socket
import subprocess

import pytest

from conftest import Node
from nodeproc import SOURCE_DIR
from smtp_util import SMTP_EXTRA, add_domain, add_user, count_messages, ok, wait_until
from test_webmail_api import OCTET3, PORTS, smtp_send

BROWSER_DIR = os.path.join(SOURCE_DIR, "tests", "browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.path.join(os.path.dirname(os.environ.get("MAILNODE_BIN", os.path.join(
    SOURCE_DIR, "build", "mailnode"))), "screenshots")


def imap_messages(n, who, password, folder="INBOX"):
    m = imaplib.IMAP4(n.address, n.ports["imap_port"], timeout=30)
    try:
        m.login(who, password)
        typ, _ = m.select('"%s"' % folder)
        if typ != "OK":
            return []
        typ, data = m.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, d = m.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(email.message_from_bytes(d[0][1], policy=email.policy.default))
        return out
    finally:
        m.logout()


def test_webmail_in_chromium(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (deploy/install-deps.sh)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        pytest.skip("tests/browser/node_modules is missing (deploy/install-deps.sh: npm ci)")
    n = Node(tmp_path_factory.mktemp("webmail-browser"), address="127.0.%d.202" % OCTET3,
             ports=PORTS, extra=SMTP_EXTRA)
    # the "remote" server of the web bug: it must never see a connection
    bug = socket.socket()
    bug.bind(("127.0.%d.203" % OCTET3, 0))
    bug.listen(8)
    bug.setblocking(False)
    remote = "http://127.0.%d.203:%d/web-bug.png" % (OCTET3, bug.getsockname()[1])
    n.start()
    try:
        add_domain(n, "wm.test")
        add_user(n, "dora@wm.test", "Browser-pw1")
        add_user(n, "fred@wm.test", "Browser-pw2", name="Fred")
        smtp_send(n, "dora@wm.test",
                  "From: Fred <fred@wm.test>\r\nTo: dora@wm.test\r\nSubject: plain one\r\n"
                  "Message-ID: <plain-one@wm.test>\r\n"
                  "\r\nplain body for the browser\r\n")
        smtp_send(n, "dora@wm.test",
                  "From: Eve <eve@remote.test>\r\nTo: dora@wm.test\r\nSubject: html one\r\n"
                  "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                  "<p id=\"greeting\" style=\"color: green\">Hello from HTML</p>"
                  "<script>document.body.setAttribute('data-pwned', '1');"
                  "window.pwned = 1; try { window.top.pwned = 1 } catch (e) {}</script>"
                  "<img src=\"%s\" alt=\"bug\">\r\n" % remote)
        count_messages(n, "dora@wm.test", 2)
        env = dict(os.environ, WEBMAIL_URL=n.url + "/", WEBMAIL_USER="dora@wm.test",
                   WEBMAIL_PASSWORD="Browser-pw1", PLAIN_SUBJECT="plain one",
                   HTML_SUBJECT="html one", REMOTE_URL=remote, SCREENSHOTS=SCREENSHOTS,
                   SEND_TO="Fred <fred@wm.test>", CHROMIUM=CHROMIUM)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "webmail.mjs")], env=env,
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, "browser test failed:\n%s\n%s" % (p.stdout, p.stderr)
        for name in ("01-login", "02-inbox", "03-plain", "04-html", "06-compose", "07-reply",
                     "08-folder", "09-trash", "10-search", "11-settings", "12-zh-CN"):
            assert os.path.exists(os.path.join(SCREENSHOTS, name + ".png")), name
        # what the browser sent arrived in fred's INBOX (IMAP)
        got = wait_until(lambda: (lambda ms: ms if len(ms) >= 2 else None)(
            imap_messages(n, "fred@wm.test", "Browser-pw2")), "fred's mail")
        sent = next(m for m in got if str(m["Subject"]) == "browser 你好")
        assert "<b>Chromium</b>" in sent.get_body(("html",)).get_content()
        assert "Hello from Chromium" in sent.get_body(("plain",)).get_content()
        att = next(sent.iter_attachments())
        assert att.get_filename() == "报告.txt"
        assert att.get_payload(decode=True) == "attachment body 附件\n".encode()
        reply = next(m for m in got if str(m["Subject"]) == "Re: plain one")
        assert reply["In-Reply-To"] == "<plain-one@wm.test>"
        assert reply.get_content().startswith("Thanks, got it.")
        assert "> plain body for the browser" in reply.get_content()
        # the Chinese folder over IMAP holds the moved message; Trash the deleted one
        moved = imap_messages(n, "dora@wm.test", "Browser-pw1", "&mHl27g-")
        assert [str(m["Subject"]) for m in moved] == ["plain one"]
        trash = imap_messages(n, "dora@wm.test", "Browser-pw1", "Trash")
        assert [str(m["Subject"]) for m in trash] == ["html one"]
        prefs = ok(n, "GET", "/users/dora@wm.test/prefs")
        # zh-CN was stored when switched, then "en" chosen on the login form
        assert prefs["language"] == "en" and prefs["timezone"] == "Asia/Shanghai", prefs
        assert prefs["signature"] == "Dora\nwm.test"
        with pytest.raises(BlockingIOError):
            bug.accept()  # nobody connected
    finally:
        bug.close()
        n.stop()
