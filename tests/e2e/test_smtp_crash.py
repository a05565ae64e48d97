"""Crash safety of accept + delivery (SPEC §10): 4 parallel clients send up
to 300 messages, the node is killed with SIGKILL in the middle of the
burst, restarted, and every message that got a 250 must be in each of its
mailboxes exactly once (a message without a 250 may be there at most once).
"""
import collections
import re
import signal
import smtplib
import threading

from smtp_util import (add_domain, add_user, all_raw, make_smtp_node, ok, wait_queue_empty,
                       wait_until)

CLIENTS = 4
PER_CLIENT = 75
KILL_AFTER = 120  # acknowledged messages before the kill
# recipient lists and the mailboxes they end in
RCPT_SETS = [
    (["r1@c.test"], ["r1@c.test"]),
    (["both@c.test"], ["r1@c.test", "r2@c.test"]),
    (["r1@c.test", "r3@c.test"], ["r1@c.test", "r3@c.test"]),
    (["grp@c.test", "r2@c.test"], ["r1@c.test", "r2@c.test", "r3@c.test"]),  # grp: r3 + both
]
MAILBOXES = ["r1@c.test", "r2@c.test", "r3@c.test"]
MARK = re.compile(rb"^Subject: crash (\d+-\d+)\r$", re.M)


def client(node, cid, acked, stop):
    s = None
    try:
        for i in range(PER_CLIENT):
            if stop.is_set():
                return
            if s is None or i % 10 == 0:  # new sessions now and then
                if s is not None:
                    s.quit()
                s = smtplib.SMTP(node.address, node.ports["smtp_port"], timeout=30)
            marker = "%d-%d" % (cid, i)
            rcpts, boxes = RCPT_SETS[i % len(RCPT_SETS)]
            body = ("Subject: crash %s\r\nMessage-ID: <%s@crash.test>\r\n\r\n%s\r\n"
                    % (marker, marker, "payload " * (50 + i))).encode()
            s.sendmail("sender@remote.test", rcpts, body)
            acked.append((marker, boxes))  # only after the 250
    except (smtplib.SMTPException, OSError):
        return  # the node died under us


def test_kill9_mid_burst_every_acked_message_once(tmp_path_factory):
    node = make_smtp_node(tmp_path_factory.mktemp("crash"))
    node.start()
    try:
        add_domain(node, "c.test")
        for box in MAILBOXES:
            add_user(node, box)
        ok(node, "POST", "/aliases", {"address": "both@c.test",
                                      "targets": ["r1@c.test", "r2@c.test"]})
        ok(node, "POST", "/groups", {"address": "grp@c.test"})
        ok(node, "POST", "/groups/grp@c.test/members", {"member": "r3@c.test"})
        ok(node, "POST", "/groups/grp@c.test/members", {"member": "both@c.test"})

        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=client, args=(node, c, acked, stop))
                   for c in range(CLIENTS)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= KILL_AFTER or not any(t.is_alive() for t in threads),
                   "%d acknowledged messages" % KILL_AFTER)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait()
        node.proc = None
        stop.set()
        for t in threads:
            t.join(60)
        n_acked = len(acked)
        assert KILL_AFTER <= n_acked < CLIENTS * PER_CLIENT, n_acked

        node.start()
        wait_queue_empty(node, deadline_s=120)
        seen = {}
        for box in MAILBOXES:
            seen[box] = collections.Counter(
                m.group(1).decode() for raw in all_raw(node, box) for m in [MARK.search(raw)]
                if m)
        for box, counter in seen.items():
            dups = [k for k, v in counter.items() if v > 1]
            assert not dups, "delivered twice to %s: %s" % (box, dups[:10])
        missing = [(marker, box) for marker, boxes in acked for box in boxes
                   if seen[box][marker] != 1]
        assert not missing, "acknowledged but not delivered: %s" % missing[:10]
        # nothing delivered to a mailbox it was not addressed to
        want = {}
        for i in range(PER_CLIENT):
            for c in range(CLIENTS):
                want["%d-%d" % (c, i)] = set(RCPT_SETS[i % len(RCPT_SETS)][1])
        for box, counter in seen.items():
            for marker in counter:
                assert box in want[marker], (box, marker)
    finally:
        if node.proc is not None:
            node.stop()
