"""The web admin on a two-node cluster (127.0.0.71-72), in headless Chromium
(tests/browser/admin.mjs with MODE=cluster): the dashboard and the cluster
page list both members with their disk free (asked over the node links) and
the leader; a user with mail is moved from node1 to node2 from its panel,
the page follows the move to its end, and the API then says node2 and the
message is there. Screenshots: build/screenshots/admin/c*.png.
Skipped without chromium or tests/browser/node_modules.
"""
import os
import shutil
import smtplib
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, HTTP_PORT, SMTP_PORT, SOURCE_DIR, running_cluster, wait_for

BROWSER_DIR = os.path.join(SOURCE_DIR, "tests", "browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.path.join(os.path.dirname(os.environ.get("MAILNODE_BIN", os.path.join(
    SOURCE_DIR, "build", "mailnode"))), "screenshots", "admin")
USER = "mia@wa.test"


def test_cluster_pages_and_move_in_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (deploy/install-deps.sh)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        pytest.skip("tests/browser/node_modules is missing (deploy/install-deps.sh: npm ci)")
    with running_cluster(2, base=70, services=True) as c:
        n1, n2 = c.nodes
        assert n1.api("POST", "domains", {"name": "wa.test"})[0] == 201
        code, body = n1.api("POST", "users", {"address": USER, "password": "Mia-pw12",
                                               "node": "node1"})
        assert code == 201, body
        wait_for(lambda: n2.api("GET", "users/" + USER)[0] == 200, 20, "node2 to know the user")
        with smtplib.SMTP(n1.address, SMTP_PORT, timeout=30) as s:
            s.sendmail("x@remote.test", [USER],
                       "From: x@remote.test\r\nTo: %s\r\nSubject: before the move\r\n\r\n"
                       "hello\r\n" % USER)
        wait_for(lambda: len(n1.api("GET", "users/%s/messages" % USER)[1] or []) == 1, 20,
                 "the message in node1's store")
        env = dict(os.environ, MODE="cluster",
                   ADMIN_URL="http://%s:%d/admin/" % (n1.address, HTTP_PORT),
                   ADMIN_PASSWORD=ADMIN_PASSWORD, NODES="node1,node2", MOVE_USER=USER,
                   MOVE_TO="node2", ARTIFACTS=SCREENSHOTS, CHROMIUM=CHROMIUM)
        stale = os.path.join(SCREENSHOTS, "failed.png")  # from an earlier failed run
        if os.path.exists(stale):
            os.remove(stale)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "admin.mjs")], env=env,
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, "browser test failed:\n%s\n%s" % (p.stdout, p.stderr)
        code, user = n1.api("GET", "users/" + USER)
        assert (code, user["home_node"], user["move_state"]) == (200, "node2", "")
        assert len(n2.api("GET", "users/%s/messages" % USER)[1]) == 1
        # the list's usage comes from the node holding the mailbox, on
        # every node (node1 asks node2: cluster/usage, cached a few seconds)
        code, listed = n2.api("GET", "users?usage=1&limit=10")
        assert (code, listed[0]["used_messages"]) == (200, 1)
        wait_for(lambda: n1.api("GET", "users?usage=1&limit=10")[1][0]["used_bytes"] ==
                 listed[0]["used_bytes"], 20, "node1 to show node2's figures")
        for shot in ("c1-dashboard", "c2-cluster", "c3-user-moved"):
            assert os.path.exists(os.path.join(SCREENSHOTS, shot + ".png")), shot
