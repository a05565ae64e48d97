"""Usage of users homed on another node (issue 6; docs/cluster.md "Usage of
users homed elsewhere", cluster/usage). Three real nodes on 127.0.0.51..53
with SMTP; users homed on node2. Answers are cached a few seconds
(USAGE_CACHE_MS), and asking about a user starts at its creation, so the
checks poll until the figures are node2's current ones. node1's RCPT check asks node2 for the
usage of an over-quota user and answers what node2 itself answers (552);
the user list (usage=1) and a user's object on node1 and node3 carry node2's
used_bytes / used_messages; with node2 stopped (SIGSTOP: its connection
hangs) node1 still accepts at RCPT (the spool retries, the home checks
again) and shows null with "usage": "unavailable" for node2's users it has
nothing cached of; once node2 runs again the figures are back.
Everything waits with deadlines, never fixed sleeps."""
import smtplib
import time

import pytest

from conftest import SMTP_PORT, running_cluster, wait_for

DOMAIN = "rq.test"
PASSWORD = "Rq-Secret-pw1"
FULL = "full@" + DOMAIN      # node2, room for one message, holds one
FULL2 = "full2@" + DOMAIN    # the same, asked of node1 only while node2 is stopped
ROOM = "room@" + DOMAIN      # node2, plenty of room
SMALL = "small@" + DOMAIN    # node2, 2 KiB quota, empty
LOCAL = "local@" + DOMAIN    # node1, room for one message, holds one
DEADLINE_S = 30


def message(tag):
    return ("From: sender@remote.test\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\nbody of %s\r\n" % (FULL, tag, tag, tag)).encode()


def user(n, address):
    code, body = n.api("GET", "users/" + address)
    assert code == 200, body
    return body


def listed(n):
    code, body = n.api("GET", "users?usage=1&limit=200&domain=" + DOMAIN)
    assert code == 200, body
    return {u["address"]: u for u in body}


@pytest.fixture(scope="module")
def cl():
    with running_cluster(3, base=50, services=True) as c:
        n1, n2, n3 = c.nodes
        code, body = n1.api("POST", "domains", {"name": DOMAIN})
        assert code == 201, body
        homes = {FULL: ("node2", {"quota_messages": 1}),
                 FULL2: ("node2", {"quota_messages": 1}),
                 ROOM: ("node2", {"quota": 10 * 1024 * 1024}),
                 SMALL: ("node2", {"quota": 2048}),
                 LOCAL: ("node1", {"quota_messages": 1})}
        for addr, (home, limits) in homes.items():
            req = {"address": addr, "password": PASSWORD, "node": home}
            req.update(limits)
            code, body = n1.api("POST", "users", req)
            assert code == 201, body
        for n in c.nodes:
            for addr, (home, _) in homes.items():
                wait_for(lambda: n.home_of(addr) == home, DEADLINE_S,
                         "%s sees %s homed on %s" % (n.name, addr, home))
        # one message each for the full ones, through their home's SMTP
        for addr, n in ((FULL, n2), (FULL2, n2), (LOCAL, n1)):
            with smtplib.SMTP(n.address, SMTP_PORT, timeout=DEADLINE_S) as s:
                s.sendmail("sender@remote.test", [addr], message("fill-" + addr))
            wait_for(lambda: user(n, addr)["used_messages"] == 1, DEADLINE_S,
                     "%s to hold one message on %s" % (addr, n.name), 0.1)
        yield c


def rcpt(n, address, size=None):
    """(code, text) of RCPT TO:<address> at n after MAIL FROM (with SIZE=)."""
    with smtplib.SMTP(n.address, SMTP_PORT, timeout=DEADLINE_S) as s:
        s.ehlo("client.test")
        code, text = s.mail("sender@remote.test", ["SIZE=%d" % size] if size else [])
        assert code == 250, text
        return s.rcpt(address)


def test_rcpt_over_quota_answered_like_the_home(cl):
    n1, n2, n3 = cl.nodes
    at_home = rcpt(n2, FULL)
    assert at_home[0] == 552 and at_home[1].startswith(b"5.2.2"), at_home
    for n in (n1, n3):
        wait_for(lambda: rcpt(n, FULL) == at_home, DEADLINE_S,
                 "%s to answer RCPT like node2" % n.name, 0.5)
    # the declared size counts as on the home (RFC 1870)
    assert rcpt(n2, SMALL, size=4096)[0] == 552
    assert rcpt(n1, SMALL, size=4096)[0] == 552
    assert rcpt(n1, SMALL, size=100)[0] == 250
    assert rcpt(n1, ROOM)[0] == 250
    # a user homed on node1, through node3: node1 is asked the same way
    assert rcpt(n3, LOCAL)[0] == 552


def test_user_list_and_object_carry_the_homes_usage(cl):
    n1, n2, n3 = cl.nodes
    home = user(n2, FULL)
    assert home["used_messages"] == 1 and home["used_bytes"] > 0
    for n in (n1, n3):
        u = wait_for(lambda: (lambda u: u if u["used_messages"] == 1 else None)(user(n, FULL)),
                     DEADLINE_S, "%s to show FULL's usage" % n.name, 0.5)
        assert (u["used_bytes"], u["used_messages"]) == (home["used_bytes"], 1), n.name
        assert "usage" not in u
    lst = wait_for(lambda: (lambda l: l if l[FULL2]["used_messages"] == 1 else None)(listed(n1)),
                   DEADLINE_S, "node1's list to show FULL2's usage", 0.5)
    assert set(lst) == {FULL, FULL2, ROOM, SMALL, LOCAL}
    assert (lst[FULL]["used_bytes"], lst[FULL]["used_messages"]) == (home["used_bytes"], 1)
    assert lst[FULL2]["used_messages"] == 1
    assert (lst[ROOM]["used_bytes"], lst[ROOM]["used_messages"]) == (0, 0)
    assert lst[LOCAL]["used_messages"] == 1 and lst[LOCAL]["used_bytes"] > 0
    assert all("usage" not in u for u in lst.values())
    # the same figures as node2's own list
    assert {a: (u["used_bytes"], u["used_messages"]) for a, u in listed(n2).items()} == \
        {a: (u["used_bytes"], u["used_messages"]) for a, u in lst.items()}


def test_home_stopped_accepts_and_shows_unavailable(cl):
    n1, n2, n3 = cl.nodes
    n2.pause()
    try:
        # what node3 has cached of node2's users expires; failures are not
        # cached
        lst = wait_for(lambda: (lambda l: l if l[FULL2]["used_bytes"] is None else None)(
            listed(n3)), DEADLINE_S, "node3's list to show FULL2 unavailable", 0.2)
        assert lst[FULL2]["used_messages"] is None and lst[FULL2]["usage"] == "unavailable"
        t0 = time.monotonic()
        code, text = rcpt(n3, FULL2)
        assert code == 250, text  # never refused for want of an answer
        assert time.monotonic() - t0 < 10
        # node1's user is unaffected
        assert lst[LOCAL]["used_messages"] == 1 and "usage" not in lst[LOCAL]
    finally:
        n2.resume()
    # a failure is not cached: the figures come back with node2
    wait_for(lambda: listed(n3)[FULL2].get("used_messages") == 1, DEADLINE_S,
             "node3 to show FULL2's usage again", 0.2)
    assert rcpt(n3, FULL2)[0] == 552
