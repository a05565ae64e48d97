"""Account migration and node drain (issue 6, docs/cluster.md "Migration and
drain"): three real nodes on 127.0.0.31..33 with SMTP, IMAP and POP3.

A user homed on node2 with a few hundred messages (two folders, flags) is
moved to node1 with `mailctl user move` run against node3, while a sender
keeps delivering to the user through node3's SMTP. Afterwards every message
(old and new) is on node1 exactly once, UIDVALIDITY and the old UIDs and
flags are unchanged, node2 has no mailbox left, IMAP through any node reads
it, and mailctl printed the same counts and checksum for both sides. A move
to a stopped node rolls back (home unchanged, mail flows again). Then
node3 is drained (its users move away, readable afterwards) and removed.
"""
import imaplib
import os
import re
import smtplib
import threading
import time

import pytest

from conftest import IMAP_PORT, SMTP_PORT, Cluster, healthy, wait_for
from migrate_util import mailctl, queues_empty, snapshot_folder

DOMAIN = "mv.test"
PASSWORD = "Migrate-Secret1"
MOVER = "mover@mv.test"
DRAINED = {"d1@mv.test": "node3", "d2@mv.test": "node3", "d3@mv.test": "node3"}
N_OLD = 300       # messages in the mailbox before the move
N_ARCHIVE = 20    # of which in the Archive folder
N_SENT = 40       # delivered through node3 during the move
STATE = {}        # what test_move_while_delivering saw, for the later tests


@pytest.fixture(scope="module")
def mc():
    c = Cluster(3, base=30, services=True)
    try:
        c.start()
        n1 = c.nodes[0]
        code, body = n1.api("POST", "domains", {"name": DOMAIN})
        assert code == 201, body
        users = dict(DRAINED)
        users[MOVER] = "node2"
        for addr, node in users.items():
            code, body = n1.api("POST", "users",
                                {"address": addr, "password": PASSWORD, "node": node})
            assert code == 201, body
        for n in c.nodes:
            for addr in users:
                wait_for(lambda: n.api("GET", "users/%s" % addr)[0] == 200, 20,
                         "%s to know %s" % (n.name, addr))
        yield c
    finally:
        bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


def imap(node, user):
    m = imaplib.IMAP4(node.address, IMAP_PORT, timeout=30)
    m.login(user, PASSWORD)
    return m


def fill(node):
    m = imap(node, MOVER)
    typ, _ = m.create("Archive")
    assert typ == "OK"
    m.subscribe("Archive")
    for i in range(N_OLD):
        folder = "Archive" if i < N_ARCHIVE else "INBOX"
        flags = "(\\Seen)" if i % 3 == 0 else ("(\\Flagged $Work)" if i % 7 == 0 else "()")
        msg = ("From: a@remote.test\r\nTo: %s\r\nSubject: old %d\r\n"
               "Message-ID: <old-%d@mv.test>\r\n\r\nbody of old message %d\r\n%s"
               % (MOVER, i, i, i, "x" * (i * 13 % 2000))).encode()
        typ, _ = m.append(folder, flags, imaplib.Time2Internaldate(1700000000 + i), msg)
        assert typ == "OK"
    m.logout()


def sender(node, accepted, stop_at):
    for i in range(N_SENT):
        mid = "new-%d@mv.test" % i
        msg = ("From: s@remote.test\r\nTo: %s\r\nSubject: new %d\r\nMessage-ID: <%s>\r\n\r\n"
               "sent during the move\r\n" % (MOVER, i, mid))
        with smtplib.SMTP(node.address, SMTP_PORT, timeout=30) as s:
            s.sendmail("s@remote.test", [MOVER], msg)
        accepted.append(mid)
        if time.monotonic() > stop_at:
            break


def test_move_while_delivering(mc):
    n1, n2, n3 = mc.nodes
    fill(n2)
    m = imap(n2, MOVER)
    before = {f: snapshot_folder(m, f) for f in ("INBOX", "Archive")}
    m.logout()
    assert len(before["INBOX"][1]) + len(before["Archive"][1]) == N_OLD

    accepted = []
    t = threading.Thread(target=sender, args=(n3, accepted, time.monotonic() + 30))
    t.start()
    wait_for(lambda: len(accepted) >= 5, 20, "the first messages through node3")
    r = mailctl(n3, "user", "move", MOVER, "node1")
    t.join()
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith("moving %s to node1 ...\n" % MOVER), out
    assert "  copy: " in out
    assert out.endswith("%s is on node1\n" % MOVER), out
    src = re.search(r"source: (\d+) messages in (\d+) folders, \d+ bytes, sha256 ([0-9a-f]{64})",
                    out)
    dst = re.search(r"target: (\d+) messages in (\d+) folders, sha256 ([0-9a-f]{64})", out)
    assert src and dst, out
    assert src.groups() == dst.groups()
    assert int(src.group(1)) >= N_OLD and int(src.group(2)) >= 2  # with the special-use ones

    # the held mail reaches the new home
    wait_for(lambda: queues_empty(mc), 60, "every queue to empty")
    for n in mc.nodes:
        wait_for(lambda: n.api("GET", "users/%s" % MOVER)[1].get("home_node") == "node1", 10,
                 "%s to see the new home" % n.name)
    code, u = n1.api("GET", "users/%s" % MOVER)
    assert code == 200 and u["home_node"] == "node1" and u.get("move_state", "") == ""
    assert u["used_messages"] == N_OLD + len(accepted)

    # IMAP through every node: same UIDVALIDITY, old UIDs and flags, every
    # new message exactly once
    for n in (n3, n2, n1):
        m = imap(n, MOVER)
        for f in ("INBOX", "Archive"):
            uv, msgs = snapshot_folder(m, f)
            assert uv == before[f][0]
            for mid, (uid, flags) in before[f][1].items():
                assert msgs[mid] == (uid, flags), (f, mid)
            new = set(msgs) - set(before[f][1])
            if f == "INBOX":
                assert new == set(accepted), (len(new), len(accepted))
                assert min(msgs[x][0] for x in new) > max(v[0] for v in before[f][1].values())
            else:
                assert new == set()
        typ, data = m.lsub('""', "*")
        assert typ == "OK" and any(b"Archive" in d for d in data)
        m.logout()

    STATE["before"] = before
    STATE["accepted"] = list(accepted)

    # the old home holds nothing for the user any more
    assert not os.path.exists(os.path.join(n2.data_dir, "mail", "users", DOMAIN, "mover"))
    assert os.path.isdir(os.path.join(n1.data_dir, "mail", "users", DOMAIN, "mover"))
    assert "event=cleanup user=%s result=ok" % MOVER in n2.log()

    # moving to where it is is a no-op; to an unknown node a 404
    r = mailctl(n2, "user", "move", MOVER, "node1")
    assert r.returncode == 0 and r.stdout.endswith("is on node1\n"), r.stdout + r.stderr
    r = mailctl(n2, "user", "move", MOVER, "nosuchnode")
    assert r.returncode == 1


def test_source_killed_during_move_resumes(mc):
    """kill -9 of the source (node1, the bootstrap node, often the leader)
    once the move is under way (normally while it copies): after its
    restart the move starts again with a fresh copy and finishes, with
    every message once and the UIDs unchanged."""
    n1, n2, n3 = mc.nodes
    before, accepted = STATE["before"], STATE["accepted"]
    served = n2.log().count("event=serve user=%s" % MOVER)
    code, body = n3.api("POST", "users/%s/move" % MOVER, {"node": "node2", "wait": False})
    assert code == 202, body
    # the first copy reaches the target: the copy phase (or later, on a
    # slow day)
    wait_for(lambda: n2.log().count("event=serve user=%s" % MOVER) > served or
             n3.api("GET", "users/%s" % MOVER)[1].get("move_state") in ("hold", "cleanup", ""),
             20, "the move to start")
    n1.kill9()
    n1.start()
    n1.wait_http()

    def ended():
        code, u = n3.api("GET", "users/%s" % MOVER)
        return code == 200 and u.get("move_state") == "" and u
    u = wait_for(ended, 60, "the move to end after the restart", 0.2)
    assert u["home_node"] == "node2", u
    assert not u["move_result"].startswith("failed"), u
    m = imap(n3, MOVER)
    uv, msgs = snapshot_folder(m, "INBOX")
    m.logout()
    assert uv == before["INBOX"][0]
    for mid, (uid, flags) in before["INBOX"][1].items():
        assert msgs[mid] == (uid, flags)
    assert set(msgs) == set(before["INBOX"][1]) | set(accepted)
    wait_for(lambda: not os.path.exists(os.path.join(n1.data_dir, "mail", "users", DOMAIN,
                                                     "mover")), 20, "node1 to drop its copy")


def test_move_to_stopped_node_rolls_back(mc):
    n1, n2, n3 = mc.nodes
    addr = "d3@mv.test"
    m = imap(n3, addr)
    assert m.append("INBOX", "()", None, b"Subject: r\r\nMessage-ID: <rb@mv.test>\r\n\r\nx\r\n")[0] == "OK"
    m.logout()
    wait_for(lambda: healthy(mc.nodes, 3), 30, "three voters and a leader")
    n2.stop()
    try:
        wait_for(lambda: mc.leader(among=[n1, n3]) in (n1, n3), 30,
                 "a leader among node1 and node3", 0.2)

        def tried():
            r = mailctl(n1, "user", "move", addr, "node2")
            return None if "no leader" in r.stderr else r  # the election still settling
        r = wait_for(tried, 30, "the move to be tried", 0.5)
        assert r.returncode == 1, r.stdout + r.stderr
        assert re.search(r"mailctl: move of d3@mv.test to node2 failed: target node2: ", r.stderr), \
            r.stderr
        code, u = n1.api("GET", "users/%s" % addr)
        assert u["home_node"] == "node3" and u.get("move_state", "") == ""
        assert u["move_result"].startswith("failed: ")
        # deliveries are no longer held: mail through node1 reaches node3
        with smtplib.SMTP(n1.address, SMTP_PORT, timeout=30) as s:
            s.sendmail("s@remote.test", [addr], "Subject: after\r\nMessage-ID: <rb2@mv.test>\r\n\r\ny\r\n")
        wait_for(lambda: n3.api("GET", "users/%s" % addr)[1]["used_messages"] == 2, 20,
                 "the message after the rollback")
    finally:
        n2.start()
        n2.wait_http()
        wait_for(lambda: healthy(mc.nodes, 3), 30, "three voters and a leader")
    wait_for(lambda: n2.api("GET", "users/%s" % addr)[1].get("move_result", "").startswith(
        "failed"), 20, "node2 to catch up")


def test_drain_then_remove(mc):
    n1, n2, n3 = mc.nodes
    for i, addr in enumerate(sorted(DRAINED)):
        m = imap(n3, addr)
        msg = ("From: a@remote.test\r\nSubject: d\r\nMessage-ID: <drain-%d@mv.test>\r\n\r\n"
               "kept across the drain\r\n" % i).encode()
        assert m.append("INBOX", "(\\Seen)", None, msg)[0] == "OK"
        m.logout()
    r = mailctl(n1, "node", "drain", "node3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "draining node3 ...\nnode node3 drained\n"
    code, nodes = n1.api("GET", "nodes")
    assert code == 200
    assert {n["name"]: n["users"] for n in nodes}["node3"] == 0
    for i, addr in enumerate(sorted(DRAINED)):
        code, u = n1.api("GET", "users/%s" % addr)
        assert u["home_node"] in ("node1", "node2"), u
        m = imap(n1, addr)
        uv, msgs = snapshot_folder(m, "INBOX")
        assert "drain-%d@mv.test" % i in msgs and msgs["drain-%d@mv.test" % i][1] == (
            "\\Seen",)
        m.logout()
    assert not os.path.exists(os.path.join(n3.data_dir, "mail", "users", DOMAIN, "d1"))

    def removed():
        r = mailctl(n1, "node", "remove", "node3")
        return r.returncode == 0 or None
    wait_for(removed, 30, "node remove node3", 0.5)
    code, nodes = n1.api("GET", "nodes")
    assert [n["state"] for n in nodes if n["name"] == "node3"] in ([], ["removed"])
