"""The web admin (/admin/) in headless Chromium (tests/browser/admin.mjs,
driven by playwright-core from npm; the browser is Debian's chromium): a
system admin logs in, sees the dashboard, creates a domain and a user,
changes the user's quota and sees it in the list, adds an alias, a group
and a domain admin, sees the queue and the cluster page, switches to
Simplified Chinese; a domain admin sees only its own domain and is refused
another (on the page, and by the API: checked here too).

Screenshots of every page: build/screenshots/admin/ (next to the mailnode
binary under test).

Skipped (with the reason) when chromium or node_modules are missing:
deploy/install-deps.sh installs both.
"""
import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import ADMIN_PASSWORD, Node
from nodeproc import SOURCE_DIR

BROWSER_DIR = os.path.join(SOURCE_DIR, "tests", "browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.path.join(os.path.dirname(os.environ.get("MAILNODE_BIN", os.path.join(
    SOURCE_DIR, "build", "mailnode"))), "screenshots", "admin")
DADM = ("ownadm", "Own-adm1", "own.test")
DADM_NEW_PASSWORD = "Own-adm2"  # the browser test changes it midway


def api(node, method, path, body=None, user="admin", password=ADMIN_PASSWORD):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(node.url + "/api/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload = resp.read()
            return resp.status, (json.loads(payload) if payload else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_webadmin_in_chromium(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (deploy/install-deps.sh)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        pytest.skip("tests/browser/node_modules is missing (deploy/install-deps.sh: npm ci)")
    n = Node(tmp_path_factory.mktemp("webadmin-browser"),
             extra="[limits]\nconn_per_minute_per_ip = 0\n")
    n.start()
    try:
        for d in (DADM[2], "other.test"):
            assert api(n, "POST", "/domains", {"name": d})[0] == 201
        assert api(n, "POST", "/users", {"address": "bob@other.test",
                                         "password": "Bob-pw1"})[0] == 201
        assert api(n, "POST", "/admins", {"name": DADM[0], "password": DADM[1],
                                          "domain": DADM[2]})[0] == 201
        for _ in range(20):  # [limits] auth_fail_user: the name is blocked
            assert api(n, "GET", "/status", user="intruder", password="guess")[0] == 401
        assert [b["key"] for b in api(n, "GET", "/security/blocked")[1]] == ["intruder"]
        env = dict(os.environ, ADMIN_URL=n.url + "/admin/", ADMIN_PASSWORD=ADMIN_PASSWORD,
                   DADM_NAME=DADM[0], DADM_PASSWORD=DADM[1], DADM_DOMAIN=DADM[2],
                   DADM_NEW_PASSWORD=DADM_NEW_PASSWORD,
                   OTHER_DOMAIN="other.test", NODE_NAME=n.name, ARTIFACTS=SCREENSHOTS,
                   CHROMIUM=CHROMIUM)
        stale = os.path.join(SCREENSHOTS, "failed.png")  # from an earlier failed run
        if os.path.exists(stale):
            os.remove(stale)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "admin.mjs")], env=env,
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, "browser test failed:\n%s\n%s" % (p.stdout, p.stderr)
        for shot in ("02-dashboard", "04-users", "09-cluster", "12-domain-admin-refused"):
            assert os.path.exists(os.path.join(SCREENSHOTS, shot + ".png")), shot
        # what the browser did, seen through the API
        assert api(n, "GET", "/security/blocked") == (200, [])
        assert api(n, "GET", "/domains/gone.test")[0] == 404
        assert [a["address"] for a in api(n, "GET", "/aliases?domain=shop.test")[1]] == [
            "info@shop.test"]
        status, carol = api(n, "GET", "/users/carol%40shop.test")
        assert (status, carol["quota_bytes"], carol["flags"]) == (
            200, 250 << 20, ["no_external_send"])
        assert carol["name"] == "Carol 测试"
        assert api(n, "GET", "/users/carol%40shop.test/prefs") == (200, {
            "sender_allow": "friend@remote.test"})
        status, key = api(n, "GET", "/domains/shop.test/dkim")
        assert (status, key["selector"]) == (200, "mail")
        assert api(n, "GET", "/domains/shop.test/prefs") == (200, {
            "send_messages_per_hour": "120", "sender_block": "spam@junk.test\n@bad.test"})
        # the domain admin the browser made is refused another domain by the API
        assert api(n, "GET", "/users/bob%40other.test", user="shopadm",
                   password="Shop-adm1")[0] == 403
        assert api(n, "GET", "/users?domain=shop.test", user=DADM[0],
                   password=DADM_NEW_PASSWORD)[0] == 403
    finally:
        n.stop()
