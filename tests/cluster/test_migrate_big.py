"""Issue 6 Must-show: moving a 2,000-message mailbox while mail keeps
arriving (docs/cluster.md "Migration and drain"), on three real nodes
127.0.0.41..43 with SMTP, IMAP and POP3.

1. A user homed on node2 gets 2,000 messages of about 2 KB (pipelined
   IMAP APPENDs, LITERAL+); mbsync copies the mailbox through node1. The
   user is then moved to node3 with `mailctl user move` while a thread
   sends 200 more messages through node1's SMTP. Afterwards all 2,200 are
   there exactly once (Message-ID), UIDVALIDITY and every old UID and flag
   are unchanged, and a second mbsync through node1 fetches exactly the 200
   new messages and changes nothing else. A POP3 session open on the source
   (with a DELE pending) is ended at the hold and deletes nothing.
2. kill -9 of the Raft leader (neither source nor target) in the middle of
   a move, while mail arrives: the move resumes under the new leader (or
   rolls back) and every message is there exactly once.
3. `mailctl user move --cancel` before the flip (the target paused to keep
   the move in its copy phase) rolls it back; without a move it is refused.

Figures (move time, hold length, rounds) are printed, never asserted.
"""
import imaplib
import os
import poplib
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

import migrate_util
from conftest import IMAP_PORT, POP3_PORT, SMTP_PORT, Cluster, healthy, wait_for
from migrate_util import queues_empty, snapshot_folder

DOMAIN = "big.test"
PASSWORD = "Migrate-Big-Secret1"
USER = "big@big.test"
N_OLD = 2000
N_NEW = 200


@pytest.fixture(scope="module")
def bc():
    c = Cluster(3, base=40, services=True)
    try:
        c.start()
        code, body = c.nodes[0].api("POST", "domains", {"name": DOMAIN})
        assert code == 201, body
        yield c
    finally:
        bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


def add_user(c, addr, home):
    code, body = c.nodes[0].api("POST", "users", {"address": addr, "password": PASSWORD,
                                                  "node": home})
    assert code == 201, body
    for n in c.nodes:
        if n.proc is not None:
            wait_for(lambda: n.home_of(addr) == home, 20, "%s to know %s" % (n.name, addr))


def mailctl(node, *args):
    return migrate_util.mailctl(node, *args, timeout=170)


def message(user, tag, i):
    """About 2 KB, a unique Message-ID."""
    filler = ("line %d of message %s-%d, some text to make it about two kilobytes\r\n"
              % (i, tag, i)) * 26
    return ("From: a@remote.test\r\nTo: %s\r\nSubject: %s %d\r\n"
            "Message-ID: <%s-%d@big.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n\r\n%s"
            % (user, tag, i, tag, i, filler)).encode()


def append_many(node, user, tag, n, batch=200):
    """n APPENDs on one connection, pipelined with LITERAL+ (RFC 7888) in
    batches; every third message \\Seen, every seventh \\Flagged $Work."""
    s = socket.create_connection((node.address, IMAP_PORT), timeout=60)
    f = s.makefile("rb")

    def until(tag_):
        while True:
            line = f.readline()
            assert line, "connection closed"
            if line.startswith(tag_.encode() + b" "):
                assert line.startswith(tag_.encode() + b" OK"), line
                return
    f.readline()
    s.sendall(b"l LOGIN %s %s\r\n" % (user.encode(), PASSWORD.encode()))
    until("l")
    for start in range(0, n, batch):
        out = []
        for i in range(start, min(n, start + batch)):
            flags = "(\\Seen)" if i % 3 == 0 else ("(\\Flagged $Work)" if i % 7 == 0 else "()")
            msg = message(user, tag, i)
            out.append(b"a%d APPEND INBOX %s {%d+}\r\n%s\r\n" % (i, flags.encode(), len(msg), msg))
        s.sendall(b"".join(out))
        until("a%d" % (min(n, start + batch) - 1))
    s.sendall(b"z LOGOUT\r\n")
    s.close()


def imap(node, user):
    m = imaplib.IMAP4(node.address, IMAP_PORT, timeout=60)
    m.login(user, PASSWORD)
    return m


def snapshot(node, user):
    """UIDVALIDITY and {message-id: (uid, flags)} of INBOX; a Message-ID
    seen twice fails."""
    m = imap(node, user)
    try:
        return snapshot_folder(m, "INBOX")
    finally:
        m.logout()


def sender(node, user, tag, n, accepted, errors):
    try:
        with smtplib.SMTP(node.address, SMTP_PORT, timeout=60) as s:
            for i in range(n):
                s.sendmail("s@remote.test", [user], message(user, tag, i))
                accepted.append("%s-%d@big.test" % (tag, i))
    except Exception as e:  # reported by the test, not lost in the thread
        errors.append(repr(e))


class Mbsync:
    def __init__(self, tmp_path, node, user):
        self.maildir = tmp_path / "Mail"
        self.maildir.mkdir()
        self.rc = tmp_path / "mbsyncrc"
        self.rc.write_text(
            "IMAPAccount a\nHost %s\nPort %d\nUser %s\nPass %s\nSSLType None\n"
            "AuthMechs LOGIN\nPipelineDepth 50\n\n"
            "IMAPStore remote\nAccount a\n\n"
            "MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n"
            "Channel c\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
            "SyncState *\nSync All\n"
            % (node.address, IMAP_PORT, user, PASSWORD, self.maildir, self.maildir))

    def run(self):
        # -Dn: the IMAP conversation, to see what was transferred
        out = subprocess.run(["mbsync", "-c", str(self.rc), "-Dn", "c"], capture_output=True,
                             text=True, timeout=170)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        return out.stdout + out.stderr

    def files(self):
        return sorted(p.name.split(",U=")[0] for d in ("cur", "new")
                      for p in (self.maildir / "INBOX" / d).iterdir())


def move_result(node, user):
    code, u = node.api("GET", "users/%s" % user)
    assert code == 200
    return u


def figure(result, key):
    m = re.search(r"\b%s=(\d+)" % key, result or "")
    return int(m.group(1)) if m else None


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) not installed")
def test_move_2000_messages_while_200_arrive(bc, tmp_path):
    n1, n2, n3 = bc.nodes
    add_user(bc, USER, "node2")
    t0 = time.monotonic()
    append_many(n2, USER, "old", N_OLD)
    print("\nfill: %d messages in %.1f s" % (N_OLD, time.monotonic() - t0))
    uv_before, before = snapshot(n1, USER)
    assert len(before) == N_OLD

    sync = Mbsync(tmp_path, n1, USER)
    out = sync.run()
    assert out.count("BODY.PEEK[]") == N_OLD, out[-3000:]
    first = sync.files()
    assert len(first) == N_OLD

    # a POP3 session on the source: ended at the hold, nothing deleted
    pop = poplib.POP3(n2.address, POP3_PORT, timeout=60)
    pop.user(USER)
    pop.pass_(PASSWORD)
    assert pop.stat()[0] == N_OLD
    pop.dele(1)

    accepted, errors = [], []
    t = threading.Thread(target=sender, args=(n1, USER, "new", N_NEW, accepted, errors))
    t.start()
    wait_for(lambda: len(accepted) >= 10 or errors, 30, "the first messages through node1")
    t_move = time.monotonic()
    at_start = len(accepted)
    r = mailctl(n3, "user", "move", USER, "node3")
    move_s = time.monotonic() - t_move
    at_end = len(accepted)
    t.join()
    assert not errors, errors
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.endswith("%s is on node3\n" % USER), out
    src = re.search(r"source: (\d+) messages in (\d+) folders, \d+ bytes, sha256 ([0-9a-f]{64})",
                    out)
    dst = re.search(r"target: (\d+) messages in (\d+) folders, sha256 ([0-9a-f]{64})", out)
    assert src and dst and src.groups() == dst.groups(), out
    result = move_result(n1, USER)["move_result"]
    flipped = re.search(r"event=flipped user=%s to=node3 hold_ms=(\d+) total_ms=(\d+)"
                        % re.escape(USER), n2.log())
    print("move: %.1f s (mailctl, with the cleanup), copy %s ms in %s rounds, hold %s ms to "
          "the flip's commit; %d of %d messages accepted during it"
          % (move_s, figure(result, "copy_ms"), figure(result, "rounds"),
             flipped.group(1) if flipped else "?", at_end - at_start, N_NEW))

    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        pop.noop()
    assert "event=kick user=%s" % USER in n2.log()

    wait_for(lambda: queues_empty(bc), 90, "every queue to empty")
    for n in bc.nodes:
        wait_for(lambda: n.home_of(USER) == "node3", 10, "%s to see the new home" % n.name)
    u = move_result(n3, USER)  # the home's store counts
    assert u["used_messages"] == N_OLD + N_NEW, u

    # through node1 (proxied to node3): every message once, old UIDs kept
    uv_after, after = snapshot(n1, USER)
    assert uv_after == uv_before
    for mid, (uid, flags) in before.items():
        assert after[mid] == (uid, flags), mid
    new = set(after) - set(before)
    assert new == set(accepted) and len(new) == N_NEW
    assert min(after[x][0] for x in new) > max(v[0] for v in before.values())
    assert not os.path.exists(os.path.join(n2.data_dir, "mail", "users", DOMAIN, "big"))

    # mbsync again: the 200 new ones and nothing else
    out = sync.run()
    assert out.count("BODY.PEEK[]") == N_NEW, out[-3000:]
    assert not re.search(r">>> \d+ (UID STORE|APPEND|EXPUNGE)", out), out[-3000:]
    files = sync.files()
    assert len(files) == N_OLD + N_NEW
    assert set(first) <= set(files)


def test_leader_killed_during_move(bc):
    """kill -9 of the leader while a move between the two other nodes
    copies: the move resumes once a new leader is elected (or rolls back),
    no message is lost or doubled."""
    wait_for(lambda: healthy(bc.nodes, 3), 30, "three voters and a leader")
    leader = bc.leader()
    src, dst = [n for n in bc.nodes if n is not leader]
    addr = "lead@big.test"
    add_user(bc, addr, src.name)
    append_many(src, addr, "lk", 1000)
    uv_before, before = snapshot(src, addr)

    accepted, errors = [], []
    code, body = dst.api("POST", "users/%s/move" % addr, {"node": dst.name, "wait": False})
    assert code == 202, body
    t = threading.Thread(target=sender, args=(dst, addr, "lnew", 40, accepted, errors))
    t.start()
    # the target receives the first copy: the middle of the move
    wait_for(lambda: "event=serve user=%s" % addr in dst.log() or
             move_result(src, addr).get("move_state", "") == "", 60, "the copy to start")
    state = move_result(src, addr).get("move_state", "")
    t_kill = time.monotonic()
    leader.kill9()
    try:
        def ended():
            try:
                u = move_result(src, addr)
            except OSError:
                return None
            return u if u.get("move_state", "") == "" else None
        u = wait_for(ended, 120, "the move to end without the old leader", 0.2)
        print("\nleader %s killed in state %r; the move ended %.1f s later: home %s, %s"
              % (leader.name, state, time.monotonic() - t_kill, u["home_node"],
                 u["move_result"]))
        t.join()
        assert not errors, errors
        assert u["home_node"] in (src.name, dst.name)
        if u["home_node"] == src.name:
            assert u["move_result"].startswith("failed"), u
        wait_for(lambda: all(n.api("GET", "queue")[1] == [] for n in (src, dst)), 90,
                 "the queues to empty")
        for n in (src, dst):
            uv, msgs = snapshot(n, addr)
            assert uv == uv_before
            for mid, (uid, flags) in before.items():
                assert msgs[mid] == (uid, flags), mid
            assert set(msgs) == set(before) | set(accepted)
        gone = src if u["home_node"] == dst.name else dst
        wait_for(lambda: not os.path.exists(os.path.join(gone.data_dir, "mail", "users",
                                                         DOMAIN, "lead")), 30,
                 "the other copy to go")
    finally:
        t.join()
        leader.start()
        leader.wait_http()
    wait_for(lambda: healthy(bc.nodes, 3), 60, "three voters and a leader again")


def test_cancel_before_and_after(bc):
    """mailctl user move --cancel: before the flip the move rolls back (the
    user stays, mail flows, the target keeps nothing); with no move running
    a clear error."""
    wait_for(lambda: healthy(bc.nodes, 3), 60, "three voters and a leader")
    leader = bc.leader()
    src = leader  # the source may be the leader; the paused target may not
    dst = [n for n in bc.nodes if n is not leader][0]
    addr = "cancel@big.test"
    add_user(bc, addr, src.name)
    append_many(src, addr, "cx", 50)
    uv_before, before = snapshot(src, addr)
    # a paused target holds the move in its copy phase
    dst.pause()
    try:
        code, body = src.api("POST", "users/%s/move" % addr, {"node": dst.name, "wait": False})
        assert code == 202, body
        wait_for(lambda: move_result(src, addr).get("move_state") == "copy", 20,
                 "the move to start")
        r = mailctl(src, "user", "move", "--cancel", addr)
    finally:
        dst.resume()
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("move of %s cancelled (failed: " % addr), r.stdout
    assert r.stdout.endswith("it stays on %s\n" % src.name), r.stdout
    u = move_result(src, addr)
    assert u["home_node"] == src.name and u.get("move_state", "") == "", u
    uv, msgs = snapshot(src, addr)
    assert uv == uv_before and msgs == before
    with smtplib.SMTP(dst.address, SMTP_PORT, timeout=30) as s:
        s.sendmail("s@remote.test", [addr], message(addr, "after", 0))
    wait_for(lambda: move_result(src, addr)["used_messages"] == 51, 30,
             "mail to flow after the cancel")
    wait_for(lambda: not os.path.exists(os.path.join(dst.data_dir, "mail", "users", DOMAIN,
                                                     "cancel")), 30, "the target to drop its copy")
    # nothing to cancel
    r = mailctl(src, "user", "move", "--cancel", addr)
    assert r.returncode == 1 and "is not moving" in r.stderr, r.stdout + r.stderr
