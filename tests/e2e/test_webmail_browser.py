"""The webmail page in headless Chromium (tests/browser/webmail.mjs, driven
by playwright-core from npm; the browser is Debian's chromium): log in, read
a plain and an HTML message delivered over SMTP, no script of the HTML mail
runs and its remote image is never fetched, Simplified Chinese, log out.
Screenshots: build/browser-artifacts/.

Skipped (with the reason) when chromium or node_modules are missing:
deploy/install-deps.sh installs both.

Addresses 127.0.210.x-127.0.219.x (.202, .203).
"""
import os
import shutil
import socket
import subprocess

import pytest

from conftest import Node
from nodeproc import SOURCE_DIR
from smtp_util import SMTP_EXTRA, add_domain, add_user, count_messages
from test_webmail_api import OCTET3, PORTS, smtp_send

BROWSER_DIR = os.path.join(SOURCE_DIR, "tests", "browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = os.path.join(os.path.dirname(os.environ.get("MAILNODE_BIN", os.path.join(
    SOURCE_DIR, "build", "mailnode"))), "browser-artifacts")


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
        smtp_send(n, "dora@wm.test",
                  "From: Eve <eve@remote.test>\r\nTo: dora@wm.test\r\nSubject: plain one\r\n"
                  "\r\nplain body for the browser\r\n")
        smtp_send(n, "dora@wm.test",
                  "From: Eve <eve@remote.test>\r\nTo: dora@wm.test\r\nSubject: html one\r\n"
                  "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                  "<p id=\"greeting\" style=\"color: green\">Hello from HTML</p>"
                  "<script>document.body.setAttribute('data-pwned', '1')</script>"
                  "<img src=\"%s\" alt=\"bug\">\r\n" % remote)
        count_messages(n, "dora@wm.test", 2)
        env = dict(os.environ, WEBMAIL_URL=n.url + "/", WEBMAIL_USER="dora@wm.test",
                   WEBMAIL_PASSWORD="Browser-pw1", PLAIN_SUBJECT="plain one",
                   HTML_SUBJECT="html one", REMOTE_URL=remote, ARTIFACTS=ARTIFACTS,
                   CHROMIUM=CHROMIUM)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "webmail.mjs")], env=env,
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, "browser test failed:\n%s\n%s" % (p.stdout, p.stderr)
        assert os.path.exists(os.path.join(ARTIFACTS, "04-html.png"))
        with pytest.raises(BlockingIOError):
            bug.accept()  # nobody connected
    finally:
        bug.close()
        n.stop()
