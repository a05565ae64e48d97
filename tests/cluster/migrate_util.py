"""Helpers shared by the account-migration suites (test_migrate.py,
test_migrate_big.py): mailctl against a node, the mailbox snapshot the
moves are judged by (UIDVALIDITY, UIDs, flags per Message-ID), and the
"every queue empty" condition to wait for."""
import os
import re
import subprocess

from conftest import ADMIN_PASSWORD, HTTP_PORT, SOURCE_DIR

MAILCTL_BIN = os.environ.get("MAILCTL_BIN", os.path.join(SOURCE_DIR, "build", "mailctl"))


def mailctl(node, *args, timeout=120):
    env = dict(os.environ, MAILCTL_SERVER="http://%s:%d" % (node.address, HTTP_PORT),
               MAILCTL_USER="admin", MAILCTL_PASSWORD=ADMIN_PASSWORD)
    return subprocess.run([MAILCTL_BIN] + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)


def snapshot_folder(m, folder):
    """UIDVALIDITY and {message-id: (uid, flags)} of folder on the logged-in
    imaplib connection m; a Message-ID seen twice fails."""
    typ, _ = m.select(folder, readonly=True)
    assert typ == "OK"
    uidvalidity = int(m.response("UIDVALIDITY")[1][0])
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK"
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta = item[0].decode()
        uid = int(re.search(r"UID (\d+)", meta).group(1))
        # \Recent belongs to a session (RFC 3501 §2.3.2), not to the mailbox
        flags = tuple(sorted(f for f in re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
                             if f != "\\Recent"))
        mid = re.search(rb"Message-ID: <([^>]+)>", item[1], re.I).group(1).decode()
        assert mid not in out, "message %s twice in %s" % (mid, folder)
        out[mid] = (uid, flags)
    return uidvalidity, out


def queues_empty(c):
    """True when every running node's outbound queue is empty."""
    for n in c.nodes:
        if n.proc is None:
            continue
        code, body = n.api("GET", "queue")
        if code != 200 or body != []:
            return False
    return True
